//! The twin: state, telemetry, alerts, commands, events, connection.

mod common;

use common::{of_type, record, thermostat, twin_with, values};
use serde_json::json;
use twinkit_core::events::EventData;
use twinkit_core::twin::ReportOutcome;
use twinkit_core::{
    AlertCondition, AlertStatus, CommandResponse, CommandStatus, ConnectionState, EventType,
    Inbound, Outbound, Severity, TelemetryData, TelemetryValue, TwinError, TwinOptions,
    UpdateSource,
};

// ----- state ---------------------------------------------------------------

#[test]
fn reported_values_update_state_and_metadata() {
    let mut twin = thermostat();
    let out = twin.apply_reported(
        values(&[("temperature", json!(70.5)), ("isRunning", json!(true))]),
        1_000,
    );
    assert_eq!(out.applied, ["isRunning", "temperature"]);
    assert_eq!(twin.property("temperature"), Some(&json!(70.5)));
    let state = twin.state();
    assert_eq!(state.device_id(), "device-001");
    assert_eq!(state.timestamp(), 1_000);
    assert_eq!(state.version(), 2);
    let meta = state.metadata()["temperature"];
    assert_eq!(
        (meta.last_updated, meta.version, meta.source),
        (1_000, 1, UpdateSource::Device)
    );
    twin.apply_reported(values(&[("temperature", json!(71))]), 2_000);
    assert_eq!(twin.state().metadata()["temperature"].version, 2);
    assert_eq!(twin.state().version(), 3);
}

#[test]
fn set_desired_records_the_user_and_computes_the_delta() {
    let mut twin = thermostat();
    twin.set_desired("setpoint", json!(72), 10).unwrap();
    twin.set_desired("mode", json!("cooling"), 11).unwrap();
    let state = twin.state();
    assert_eq!(state.desired()["setpoint"], json!(72));
    assert_eq!(state.delta().len(), 2);
    assert_eq!(state.metadata()["mode"].source, UpdateSource::User);
    // Reported catches up (as a float): that key leaves the delta.
    twin.apply_reported(values(&[("setpoint", json!(72.0))]), 20);
    assert_eq!(twin.state().delta().keys().collect::<Vec<_>>(), ["mode"]);
    // The device drifts away again: the key returns.
    twin.apply_reported(values(&[("setpoint", json!(68))]), 30);
    assert_eq!(twin.state().delta()["setpoint"], json!(72));
    twin.set_desired_from("mode", json!("heating"), UpdateSource::Cloud, 40)
        .unwrap();
    assert_eq!(twin.state().metadata()["mode"].source, UpdateSource::Cloud);
}

#[test]
fn set_desired_null_clears_the_key() {
    let mut twin = thermostat();
    twin.set_desired("setpoint", json!(72), 10).unwrap();
    let v = twin.state().version();
    twin.set_desired("setpoint", json!(null), 11).unwrap();
    assert!(twin.state().desired().is_empty());
    assert!(twin.state().delta().is_empty());
    assert_eq!(twin.state().version(), v + 1);
    // Clearing what is not set changes nothing.
    twin.set_desired("setpoint", json!(null), 12).unwrap();
    assert_eq!(twin.state().version(), v + 1);
}

#[test]
fn set_desired_errors_are_distinct_and_change_nothing() {
    let mut twin = thermostat();
    twin.set_desired("setpoint", json!(70), 1).unwrap();
    let before = twin.state().clone();
    let cases = [
        ("nope", json!(1), "UNKNOWN_PROPERTY"),
        ("temperature", json!(50), "NOT_WRITABLE"),
        ("isRunning", json!(true), "NOT_WRITABLE"),
        ("setpoint", json!("72"), "TYPE_MISMATCH"),
        ("mode", json!(3), "TYPE_MISMATCH"),
        ("schedule", json!([1]), "TYPE_MISMATCH"),
        ("zones", json!({"a": 1}), "TYPE_MISMATCH"),
        ("setpoint", json!(54.9), "OUT_OF_RANGE"),
        ("setpoint", json!(85.1), "OUT_OF_RANGE"),
        ("__proto__", json!(1), "INVALID_NAME"),
        (
            "schedule",
            json!({"__proto__": {"x": 1}}),
            "VALUE_TOO_LARGE",
        ),
        ("mode", json!("x".repeat(70_000)), "VALUE_TOO_LARGE"),
    ];
    for (property, value, code) in cases {
        let err = twin.set_desired(property, value.clone(), 2).unwrap_err();
        assert_eq!(err.code(), code, "{property} = {value}: {err}");
        assert_eq!(twin.state(), &before, "{property} changed state");
    }
    let err = twin.set_desired("setpoint", json!(90), 2).unwrap_err();
    assert_eq!(
        err,
        TwinError::OutOfRange {
            property: "setpoint".into(),
            value: 90.0,
            min: 55.0,
            max: 85.0
        }
    );
    assert_eq!(
        err.to_string(),
        "property `setpoint`: 90 is outside [55, 85]"
    );
    assert_eq!(twin.outbound_len(), 1, "only the accepted value is queued");
}

#[test]
fn boundary_values_are_accepted() {
    let mut twin = thermostat();
    twin.set_desired("setpoint", json!(55), 1).unwrap();
    twin.set_desired("setpoint", json!(85), 2).unwrap();
    twin.set_desired("schedule", json!({"mon": [6, 22]}), 3)
        .unwrap();
    twin.set_desired("zones", json!(["hall", "kitchen"]), 4)
        .unwrap();
}

#[test]
fn a_wrongly_typed_report_is_refused_per_value_and_reported() {
    let mut twin = thermostat();
    twin.apply_reported(values(&[("temperature", json!(70))]), 1);
    let log = record(&twin);
    let out = twin.apply_reported(
        values(&[("temperature", json!("hot")), ("humidity", json!(40))]),
        2,
    );
    assert_eq!(out.applied, ["humidity"]);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].0, "temperature");
    assert_eq!(out.rejected[0].1.code(), "TYPE_MISMATCH");
    assert_eq!(
        twin.property("temperature"),
        Some(&json!(70)),
        "kept the valid value"
    );
    let errors = of_type(&log, EventType::Error);
    assert_eq!(errors.len(), 1);
    let EventData::Error(info) = &errors[0].data else {
        panic!()
    };
    assert_eq!(info.code, "TYPE_MISMATCH");
    assert_eq!(info.property.as_deref(), Some("temperature"));
    assert!(
        info.message.contains("expects a number, got string"),
        "{}",
        info.message
    );
}

#[test]
fn unknown_reported_properties_are_kept_and_flagged_once() {
    let mut twin = thermostat();
    let log = record(&twin);
    twin.apply_reported(values(&[("firmware", json!("1.2.3"))]), 1);
    twin.apply_reported(values(&[("firmware", json!("1.2.4"))]), 2);
    assert_eq!(twin.property("firmware"), Some(&json!("1.2.4")));
    assert!(twin.state().unknown_properties().contains("firmware"));
    let errors = of_type(&log, EventType::Error);
    assert_eq!(errors.len(), 1, "flagged once, not on every report");
    let EventData::Error(info) = &errors[0].data else {
        panic!()
    };
    assert_eq!(info.code, "UNKNOWN_PROPERTY");
    assert_eq!(of_type(&log, EventType::StateChange).len(), 2);
}

#[test]
fn undeclared_properties_are_bounded() {
    let mut twin = thermostat();
    let many: Vec<(String, serde_json::Value)> = (0..70)
        .map(|i| (format!("extra{i:02}"), json!(i)))
        .collect();
    let out = twin.apply_reported(many.into_iter().collect(), 1);
    assert_eq!(
        out.applied.len(),
        twinkit_core::limits::MAX_UNKNOWN_PROPERTIES
    );
    assert_eq!(
        out.rejected.len(),
        70 - twinkit_core::limits::MAX_UNKNOWN_PROPERTIES
    );
    assert!(out
        .rejected
        .iter()
        .all(|(_, e)| e.code() == "TOO_MANY_UNKNOWN_PROPERTIES"));
    // Known undeclared properties still update.
    let out = twin.apply_reported(values(&[("extra00", json!(-1))]), 2);
    assert_eq!(out.applied, ["extra00"]);
}

#[test]
fn hostile_reported_keys_are_refused_without_losing_the_rest() {
    let mut twin = thermostat();
    let out = twin.apply_reported(
        values(&[
            ("__proto__", json!({"polluted": true})),
            ("constructor", json!(1)),
            ("temperature", json!(71)),
            ("blob", json!({"prototype": 1})),
        ]),
        1,
    );
    assert_eq!(out.applied, ["temperature"]);
    let codes: Vec<_> = out
        .rejected
        .iter()
        .map(|(k, e)| (k.as_str(), e.code()))
        .collect();
    assert_eq!(
        codes,
        [
            ("__proto__", "INVALID_NAME"),
            ("blob", "VALUE_TOO_LARGE"),
            ("constructor", "INVALID_NAME")
        ]
    );
    assert!(!twin.state().reported().contains_key("__proto__"));
}

#[test]
fn reported_null_removes_the_value() {
    let mut twin = thermostat();
    twin.apply_reported(values(&[("mode", json!("eco"))]), 1);
    twin.apply_reported(values(&[("mode", json!(null))]), 2);
    assert_eq!(twin.property("mode"), None);
    assert_eq!(twin.state().metadata()["mode"].version, 2);
}

#[test]
fn an_older_report_does_not_overwrite_a_newer_one() {
    let mut twin = thermostat();
    twin.apply_reported(values(&[("temperature", json!(75))]), 5_000);
    let out = twin
        .ingest(
            Inbound::Reported {
                values: values(&[("temperature", json!(60))]),
                timestamp: Some(1_000),
                version: None,
            },
            6_000,
        )
        .unwrap();
    assert_eq!(
        out,
        ReportOutcome {
            stale: vec!["temperature".into()],
            ..Default::default()
        }
    );
    assert_eq!(twin.property("temperature"), Some(&json!(75)));
    // Backfilled telemetry still lands in the history, in time order.
    let history = twin.telemetry_history(Some("temperature"), None);
    let times: Vec<_> = history.iter().map(|r| r.timestamp).collect();
    assert_eq!(times, [1_000, 5_000]);
}

// ----- telemetry -----------------------------------------------------------

#[test]
fn telemetry_properties_go_into_a_bounded_history() {
    let mut options = TwinOptions::default();
    options.history_capacity = Some(5);
    let mut twin = twin_with(options);
    for i in 0..8u64 {
        twin.apply_reported(
            values(&[
                ("temperature", json!(60 + i)),
                ("setpoint", json!(70)),
                ("humidity", json!(i)),
            ]),
            i * 1_000,
        );
    }
    let temps = twin.telemetry_history(Some("temperature"), None);
    assert_eq!(temps.len(), 5);
    assert_eq!(temps[0].values["temperature"], TelemetryValue::Number(63.0));
    assert_eq!(temps[4].values["temperature"], TelemetryValue::Number(67.0));
    assert!(temps
        .iter()
        .all(|r| r.values.len() == 1 && r.device_id == "device-001"));
    let last2 = twin.telemetry_history(Some("humidity"), Some(2));
    assert_eq!(
        last2.iter().map(|r| r.timestamp).collect::<Vec<_>>(),
        [6_000, 7_000]
    );
    // Unfiltered records carry every telemetry property measured together,
    // never the non-telemetry setpoint.
    let all = twin.telemetry_history(None, Some(3));
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].timestamp, 7_000);
    assert_eq!(
        all[2].values.keys().collect::<Vec<_>>(),
        ["humidity", "temperature"]
    );
    assert!(twin.telemetry_history(Some("setpoint"), None).is_empty());
    assert!(twin.telemetry_history(None, Some(0)).is_empty());
}

#[test]
fn telemetry_messages_update_state_and_emit_events() {
    let mut twin = thermostat();
    let log = record(&twin);
    let data = TelemetryData {
        device_id: "device-001".into(),
        timestamp: 42,
        values: [
            ("temperature".to_string(), TelemetryValue::Number(68.0)),
            ("isRunning".to_string(), TelemetryValue::Bool(true)),
        ]
        .into(),
    };
    twin.ingest(Inbound::Telemetry(data), 50).unwrap();
    assert_eq!(twin.property("isRunning"), Some(&json!(true)));
    let events = of_type(&log, EventType::Telemetry);
    assert_eq!(events.len(), 1);
    let EventData::Telemetry(t) = &events[0].data else {
        panic!()
    };
    assert_eq!(t.timestamp, 42);
    assert_eq!(t.values.keys().collect::<Vec<_>>(), ["temperature"]);
    assert_eq!(events[0].timestamp, 50);
    assert_eq!(events[0].device_id, "device-001");
}

#[test]
fn telemetry_for_another_device_is_refused() {
    let mut twin = thermostat();
    let log = record(&twin);
    let data = TelemetryData {
        device_id: "device-999".into(),
        timestamp: 1,
        values: [("temperature".to_string(), TelemetryValue::Number(1.0))].into(),
    };
    let err = twin.ingest_telemetry(data, 1).unwrap_err();
    assert_eq!(err.code(), "INVALID_REPORT");
    assert_eq!(twin.property("temperature"), None);
    assert_eq!(of_type(&log, EventType::Error).len(), 1);
}

// ----- alerts --------------------------------------------------------------

fn alert_events(
    log: &std::rc::Rc<std::cell::RefCell<Vec<twinkit_core::DeviceEvent>>>,
) -> Vec<twinkit_core::Alert> {
    of_type(log, EventType::Alert)
        .into_iter()
        .map(|e| match e.data {
            EventData::Alert(a) => a,
            _ => unreachable!(),
        })
        .collect()
}

#[test]
fn out_of_range_readings_raise_warning_then_critical_alerts() {
    let mut twin = thermostat();
    let log = record(&twin);
    twin.apply_reported(values(&[("temperature", json!(101))]), 1); // above max 100
    twin.apply_reported(values(&[("temperature", json!(102))]), 2); // still the same alert
    twin.apply_reported(values(&[("temperature", json!(108))]), 3); // > 100 + 10% of 68 → critical
    let alerts = alert_events(&log);
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].severity, Severity::Warning);
    assert_eq!(alerts[0].condition, AlertCondition::AboveMax);
    assert_eq!(alerts[0].device_id, "device-001");
    assert_eq!(alerts[1].id, alerts[0].id, "escalated in place");
    assert_eq!(alerts[1].severity, Severity::Critical);
    assert_eq!(twin.active_alerts().count(), 1);
    assert!(alerts[0].message.contains("temperature"));
}

#[test]
fn jitter_on_the_edge_raises_one_alert_and_clearing_emits_an_event() {
    let mut twin = thermostat();
    let log = record(&twin);
    for (i, t) in [100.5, 99.5, 100.5, 99.9, 100.2, 99.0]
        .into_iter()
        .enumerate()
    {
        twin.apply_reported(values(&[("temperature", json!(t))]), i as u64);
    }
    assert_eq!(alert_events(&log).len(), 1);
    assert_eq!(twin.active_alerts().count(), 1);
    // Back inside by more than the hysteresis (2% of 68 = 1.36): cleared.
    twin.apply_reported(values(&[("temperature", json!(98.0))]), 10);
    let alerts = alert_events(&log);
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1].status, AlertStatus::Cleared);
    assert_eq!(alerts[1].cleared_at, Some(10));
    assert_eq!(twin.active_alerts().count(), 0);
}

#[test]
fn alerts_can_be_acknowledged_and_cleared() {
    let mut twin = thermostat();
    twin.apply_reported(values(&[("humidity", json!(-5))]), 1);
    let id = twin.active_alerts().next().unwrap().id.clone();
    let acked = twin.acknowledge_alert(&id, 2).unwrap();
    assert!(acked.acknowledged);
    assert_eq!(acked.condition, AlertCondition::BelowMin);
    let cleared = twin.clear_alert(&id, 3).unwrap();
    assert_eq!(cleared.status, AlertStatus::Cleared);
    assert_eq!(twin.active_alerts().count(), 0);
    // Still out of range: no new alert until it has come back.
    twin.apply_reported(values(&[("humidity", json!(-6))]), 4);
    assert_eq!(twin.active_alerts().count(), 0);
    assert_eq!(
        twin.acknowledge_alert("nope", 5).unwrap_err().code(),
        "UNKNOWN_ALERT"
    );
}

#[test]
fn non_numeric_values_never_raise_threshold_alerts() {
    let mut twin = thermostat();
    twin.apply_reported(values(&[("temperature", json!("999"))]), 1);
    twin.apply_reported(
        values(&[("mode", json!("999")), ("isRunning", json!(true))]),
        2,
    );
    assert_eq!(twin.active_alerts().count(), 0);
}

// ----- commands ------------------------------------------------------------

#[test]
fn commands_go_through_their_lifecycle() {
    let mut twin = common::local_twin("dev-a");
    let log = record(&twin);
    let cmd = twin
        .send_command("calibrate", json!({"reference": 25.0}), 100)
        .unwrap();
    assert_eq!(cmd.status, CommandStatus::Pending);
    assert_eq!(cmd.command_id.len(), 36);
    assert_eq!(cmd.device_id, "dev-a");
    assert_eq!(
        twin.poll_outbound(100),
        None,
        "nothing leaves while disconnected"
    );
    assert_eq!(twin.connect(110), ConnectionState::Connected);
    let Some(Outbound::Command(sent)) = twin.poll_outbound(120) else {
        panic!()
    };
    assert_eq!(sent.status, CommandStatus::Sent);
    assert_eq!(sent.command_id, cmd.command_id);
    for (status, at) in [
        (CommandStatus::Acknowledged, 130),
        (CommandStatus::Completed, 140),
    ] {
        let response = CommandResponse {
            command_id: cmd.command_id.clone(),
            status,
            result: Some(json!({"offset": 0.2})),
            error: None,
        };
        twin.ingest(Inbound::CommandResponse(response), at).unwrap();
    }
    let done = twin.command(&cmd.command_id).unwrap();
    assert_eq!(done.status, CommandStatus::Completed);
    assert_eq!(done.result, Some(json!({"offset": 0.2})));
    let statuses: Vec<_> = of_type(&log, EventType::Command)
        .into_iter()
        .map(|e| match e.data {
            EventData::Command(c) => c.status,
            _ => unreachable!(),
        })
        .collect();
    use CommandStatus::*;
    assert_eq!(statuses, [Pending, Sent, Acknowledged, Completed]);
}

#[test]
fn commands_time_out_and_late_responses_are_ignored_and_reported() {
    let mut options = TwinOptions::default();
    options.command_timeout = 1_000;
    let mut twin = twin_with(options);
    let log = record(&twin);
    let cmd = twin
        .send_command("restart", json!({"delay": 5000}), 0)
        .unwrap();
    assert_eq!(twin.poll_timeout(), Some(1_000));
    twin.handle_timeout(999);
    assert_eq!(
        twin.command(&cmd.command_id).unwrap().status,
        CommandStatus::Pending
    );
    twin.handle_timeout(1_000);
    let failed = twin.command(&cmd.command_id).unwrap();
    assert_eq!(failed.status, CommandStatus::Failed);
    assert!(failed.error.as_deref().unwrap().contains("timed out"));
    assert_eq!(twin.poll_timeout(), None);
    let late = CommandResponse {
        command_id: cmd.command_id.clone(),
        status: CommandStatus::Completed,
        result: None,
        error: None,
    };
    let err = twin.handle_command_response(&late, 1_500).unwrap_err();
    assert_eq!(err.code(), "LATE_COMMAND_RESPONSE");
    assert_eq!(
        twin.command(&cmd.command_id).unwrap().status,
        CommandStatus::Failed
    );
    let unknown = CommandResponse {
        command_id: "not-a-command".into(),
        ..late
    };
    assert_eq!(
        twin.handle_command_response(&unknown, 1_600)
            .unwrap_err()
            .code(),
        "UNKNOWN_COMMAND"
    );
    assert_eq!(of_type(&log, EventType::Error).len(), 2);
    // A timed-out command is never sent.
    twin.handle_connected(2_000);
    assert_eq!(twin.poll_outbound(2_000), None);
}

#[test]
fn a_response_is_never_applied_to_another_twins_command() {
    let mut a = common::local_twin("a");
    let mut b = common::local_twin("b");
    let cmd = a.send_command("ping", json!(null), 0).unwrap();
    let response = CommandResponse {
        command_id: cmd.command_id.clone(),
        status: CommandStatus::Completed,
        result: None,
        error: None,
    };
    assert_eq!(
        b.handle_command_response(&response, 1).unwrap_err().code(),
        "UNKNOWN_COMMAND"
    );
    assert_eq!(
        a.command(&cmd.command_id).unwrap().status,
        CommandStatus::Pending
    );
}

#[test]
fn bad_commands_are_refused() {
    let mut twin = thermostat();
    assert_eq!(
        twin.send_command("", json!(null), 0).unwrap_err().code(),
        "INVALID_NAME"
    );
    assert_eq!(
        twin.send_command("x", json!({"__proto__": 1}), 0)
            .unwrap_err()
            .code(),
        "VALUE_TOO_LARGE"
    );
    assert_eq!(twin.outbound_len(), 0);
}

// ----- connection and outbound --------------------------------------------

#[test]
fn connection_lifecycle_and_desired_resync() {
    let mut twin = thermostat();
    let log = record(&twin);
    assert_eq!(twin.connect(0), ConnectionState::Connecting);
    assert!(!twin.is_connected());
    twin.handle_connected(1);
    twin.set_desired("setpoint", json!(70), 2).unwrap();
    twin.set_desired("setpoint", json!(71), 3).unwrap();
    // Coalesced: only the latest value leaves.
    assert_eq!(
        twin.poll_outbound(4),
        Some(Outbound::Desired {
            property: "setpoint".into(),
            value: json!(71),
            version: 2,
            device_version: None,
        })
    );
    assert_eq!(twin.poll_outbound(4), None);
    twin.handle_disconnected(Some("network down"), 5);
    twin.set_desired("mode", json!("eco"), 6).unwrap();
    assert_eq!(twin.poll_outbound(6), None);
    twin.handle_connected(7);
    // After the outage, every desired value not yet reported is sent.
    let mut sent = Vec::new();
    while let Some(Outbound::Desired { property, .. }) = twin.poll_outbound(8) {
        sent.push(property);
    }
    sent.sort();
    assert_eq!(sent, ["mode", "setpoint"]);
    twin.disconnect(9);
    let types: Vec<_> = log
        .borrow()
        .iter()
        .map(|e| e.event_type())
        .filter(|t| matches!(t, EventType::Connected | EventType::Disconnected))
        .collect();
    assert_eq!(
        types,
        [
            EventType::Connected,
            EventType::Disconnected,
            EventType::Connected,
            EventType::Disconnected
        ]
    );
    let disconnects = of_type(&log, EventType::Disconnected);
    let EventData::Disconnected(info) = &disconnects[0].data else {
        panic!()
    };
    assert_eq!(info.reason.as_deref(), Some("network down"));
}

#[test]
fn desired_cleared_before_sending_goes_out_as_null() {
    let mut twin = common::local_twin("d");
    twin.connect(0);
    twin.set_desired("mode", json!("eco"), 1).unwrap();
    twin.set_desired("mode", json!(null), 2).unwrap();
    let Some(Outbound::Desired { value, .. }) = twin.poll_outbound(3) else {
        panic!()
    };
    assert_eq!(value, json!(null));
}

// ----- events --------------------------------------------------------------

#[test]
fn subscriptions_filter_and_unsubscribe() {
    let mut twin = thermostat();
    let seen = std::rc::Rc::new(std::cell::Cell::new(0));
    let s = std::rc::Rc::clone(&seen);
    let sub = twin.on(EventType::StateChange, move |e| {
        let EventData::StateChange(state) = &e.data else {
            panic!()
        };
        assert!(state.version() > 0);
        s.set(s.get() + 1);
    });
    twin.apply_reported(values(&[("temperature", json!(70))]), 1);
    twin.send_command("x", json!(1), 1).unwrap();
    assert_eq!(seen.get(), 1);
    sub.unsubscribe();
    twin.apply_reported(values(&[("temperature", json!(71))]), 2);
    assert_eq!(seen.get(), 1);
}

#[test]
fn a_panicking_handler_does_not_stop_the_others_or_the_twin() {
    let mut twin = thermostat();
    twin.on(EventType::Telemetry, |_| panic!("bad handler"));
    let log = record(&twin);
    twin.apply_reported(values(&[("temperature", json!(70))]), 1);
    twin.apply_reported(values(&[("temperature", json!(71))]), 2);
    assert_eq!(of_type(&log, EventType::Telemetry).len(), 2);
    let errors = of_type(&log, EventType::Error);
    assert_eq!(errors.len(), 2);
    let EventData::Error(info) = &errors[0].data else {
        panic!()
    };
    assert_eq!(info.code, "HANDLER_PANICKED");
    assert_eq!(twin.property("temperature"), Some(&json!(71)));
}

#[test]
fn dispose_fails_commands_and_ends_subscriptions() {
    let mut twin = common::local_twin("d");
    twin.connect(0);
    let log = record(&twin);
    let cmd = twin.send_command("x", json!(1), 1).unwrap();
    twin.dispose(2);
    assert_eq!(
        twin.command(&cmd.command_id).unwrap().status,
        CommandStatus::Failed
    );
    assert!(!twin.is_connected());
    let n = log.borrow().len();
    twin.apply_reported(values(&[("temperature", json!(70))]), 3);
    assert_eq!(log.borrow().len(), n, "no handler runs after dispose");
}

#[test]
fn values_a_binding_cannot_read_are_reported_as_errors() {
    let twin = thermostat();
    let log = record(&twin);
    let err = twin.reject_value("temperature", "NaN is not a finite number", 5);
    assert_eq!(err.code(), "INVALID_VALUE");
    let errors = of_type(&log, EventType::Error);
    let EventData::Error(info) = &errors[0].data else {
        panic!()
    };
    assert_eq!(info.property.as_deref(), Some("temperature"));
    assert!(info.message.contains("NaN"));
    assert_eq!(twin.state().version(), 0);
}

#[test]
fn a_redelivered_telemetry_record_is_recognised_and_ignored() {
    let mut twin = thermostat();
    let record = |t: u64, v: f64| twinkit_core::TelemetryData {
        device_id: "device-001".into(),
        timestamp: t,
        values: [(
            "temperature".to_string(),
            twinkit_core::TelemetryValue::Number(v),
        )]
        .into(),
    };
    let first = twin.ingest_telemetry(record(1_000, 50.0), 1_000).unwrap();
    assert!(!first.duplicate);
    let again = twin.ingest_telemetry(record(1_000, 50.0), 1_500).unwrap();
    assert!(again.duplicate);
    assert!(again.applied.is_empty());
    // Same time, another value: a different record.
    assert!(
        !twin
            .ingest_telemetry(record(1_000, 51.0), 1_600)
            .unwrap()
            .duplicate
    );
    assert_eq!(twin.telemetry_history(Some("temperature"), None).len(), 2);
}
