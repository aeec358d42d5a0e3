//! The simulated devices' behaviour, natively and without I/O.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use twinkit_core::wire::{self, Message};
use twinkit_core::{CommandStatus, TelemetryValue};
use twinkit_sim::{DeviceKind, Fault, Model, Output, SimDevice, SimFleet, SimOptions};

const T0: u64 = 1_700_000_000_000;

fn device(kind: DeviceKind, options: &SimOptions) -> SimDevice {
    SimDevice::new(kind, format!("{}-001", kind.id_prefix()), options).expect("valid id")
}

fn drain(device: &mut SimDevice) -> Vec<Output> {
    std::iter::from_fn(|| device.poll_output()).collect()
}

fn messages(outputs: &[Output]) -> Vec<&Message> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn telemetry(outputs: &[Output]) -> Vec<BTreeMap<String, TelemetryValue>> {
    messages(outputs)
        .into_iter()
        .filter_map(|m| match m {
            Message::Telemetry(t) => Some(t.values.clone()),
            _ => None,
        })
        .collect()
}

fn number(values: &BTreeMap<String, TelemetryValue>, name: &str) -> f64 {
    values[name].as_f64().expect("a number")
}

fn responses(outputs: &[Output]) -> Vec<(CommandStatus, Option<Value>, Option<String>)> {
    messages(outputs)
        .into_iter()
        .filter_map(|m| match m {
            Message::CommandResponse(r) => Some((r.status, r.result.clone(), r.error.clone())),
            _ => None,
        })
        .collect()
}

fn desired(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn every_kind_has_a_valid_config_and_sends_telemetry() {
    for kind in DeviceKind::ALL {
        let mut d = device(kind, &SimOptions::default());
        d.config().validate().unwrap();
        d.tick(T0);
        let out = drain(&mut d);
        let records = telemetry(&out);
        assert_eq!(records.len(), 1, "{kind:?}");
        for property in d.config().properties.iter().filter(|p| p.telemetry) {
            assert!(
                records[0].contains_key(&property.name),
                "{kind:?} {}",
                property.name
            );
        }
        // Every message a device sends passes the wire checks.
        for m in messages(&out) {
            assert_eq!(&wire::decode(&m.encode()).unwrap(), m);
        }
        // No second record before the interval has passed.
        d.tick(T0 + 500);
        assert!(telemetry(&drain(&mut d)).is_empty());
        d.tick(T0 + 1_000);
        assert_eq!(telemetry(&drain(&mut d)).len(), 1);
    }
}

#[test]
fn desired_setpoint_is_reported_and_the_room_follows() {
    let options = SimOptions {
        time_scale: 60.0,
        ..SimOptions::default()
    };
    let mut d = device(DeviceKind::Thermostat, &options);
    d.tick(T0);
    drain(&mut d);
    let version = d
        .apply_desired(&desired(&[("setpoint", json!(26))]), T0 + 10)
        .unwrap();
    assert!(version > 0);
    assert_eq!(d.pending_desired()["setpoint"], json!(26));
    // Reported catches up at the next tick, with a `state` message.
    d.tick(T0 + 1_000);
    let out = drain(&mut d);
    let state = messages(&out)
        .into_iter()
        .find_map(|m| match m {
            Message::State(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a state message");
    assert_eq!(state.reported["setpoint"], json!(26.0));
    assert!(d.pending_desired().is_empty());
    // Two simulated hours later the room sits in the switching band.
    let mut last = 0.0;
    for i in 2..=120 {
        d.tick(T0 + i * 1_000);
        if let Some(r) = telemetry(&drain(&mut d)).pop() {
            last = number(&r, "temperature");
        }
    }
    assert!((last - 26.0).abs() < 0.6, "temperature {last}");
    // Heating off: it cools toward the outside temperature.
    d.apply_desired(&desired(&[("mode", json!("off"))]), T0 + 121_000)
        .unwrap();
    for i in 122..=240 {
        d.tick(T0 + i * 1_000);
    }
    let r = telemetry(&drain(&mut d)).pop().unwrap();
    assert!(number(&r, "temperature") < 20.0, "{r:?}");
    assert_eq!(r["heating"], TelemetryValue::Bool(false));
}

#[test]
fn refused_desired_values_change_nothing() {
    let mut d = device(DeviceKind::Thermostat, &SimOptions::default());
    d.tick(T0);
    let cases = [
        (desired(&[("color", json!("red"))]), "UNKNOWN_PROPERTY"),
        (desired(&[("temperature", json!(20))]), "NOT_WRITABLE"),
        (desired(&[("setpoint", json!("warm"))]), "TYPE_MISMATCH"),
        (desired(&[("setpoint", json!(99))]), "OUT_OF_RANGE"),
        (desired(&[("mode", json!("cool"))]), "INVALID_VALUE"),
        // One bad value refuses the whole update.
        (
            desired(&[("mode", json!("off")), ("setpoint", json!(-5))]),
            "OUT_OF_RANGE",
        ),
    ];
    let version = d.version();
    for (values, code) in cases {
        let err = d.apply_desired(&values, T0 + 1).unwrap_err();
        assert_eq!(err.code(), code, "{values:?}: {err}");
        assert_eq!(err.http_status(), 422);
    }
    assert_eq!(d.version(), version);
    assert!(d.pending_desired().is_empty());
    d.tick(T0 + 1_000);
    assert_eq!(d.reported()["mode"], json!("heat"));
}

#[test]
fn motor_speed_ramps_to_its_target() {
    let mut d = device(DeviceKind::Motor, &SimOptions::default());
    d.tick(T0);
    let start = number(&telemetry(&drain(&mut d))[0], "speed");
    d.apply_desired(&desired(&[("speed", json!(100))]), T0)
        .unwrap();
    let mut speeds = vec![start];
    for i in 1..=6 {
        d.tick(T0 + i * 1_000);
        speeds.push(number(&telemetry(&drain(&mut d))[0], "speed"));
    }
    for pair in speeds.windows(2) {
        assert!(
            pair[1] >= pair[0] && pair[1] - pair[0] <= 20.0 + 1e-9,
            "{speeds:?}"
        );
    }
    assert_eq!(*speeds.last().unwrap(), 100.0);
    assert!(d.pending_desired().is_empty());
}

#[test]
fn vibration_rises_as_the_bearing_wears() {
    let options = SimOptions {
        time_scale: 3_600.0, // an hour a second
        ..SimOptions::default()
    };
    let mut d = device(DeviceKind::Motor, &options);
    d.apply_desired(&desired(&[("speed", json!(80))]), T0)
        .unwrap();
    let mut readings = Vec::new();
    for i in 0..=200 {
        d.tick(T0 + i * 1_000);
        readings.extend(telemetry(&drain(&mut d)));
    }
    let early = number(&readings[10], "vibration");
    let late = number(readings.last().unwrap(), "vibration");
    let wear = number(readings.last().unwrap(), "wear");
    assert!(late > early + 1.0, "vibration {early} → {late}");
    assert!(wear > number(&readings[10], "wear"));
    // resetWear brings the bearing back.
    let response = d
        .handle_command("c-1", "resetWear", &json!(null), T0 + 201_000)
        .unwrap();
    assert_eq!(response.status, CommandStatus::Acknowledged);
    d.tick(T0 + 202_000);
    let out = drain(&mut d);
    let r = responses(&out);
    assert_eq!(r.last().unwrap().0, CommandStatus::Completed, "{r:?}");
    let Model::Motor(motor) = d.model() else {
        panic!()
    };
    assert!(motor.bearing.wear() < 0.01);
}

#[test]
fn commands_are_acknowledged_then_completed_or_failed() {
    let mut d = device(DeviceKind::EnvironmentSensor, &SimOptions::default());
    d.tick(T0);
    drain(&mut d);

    d.handle_command("c-cal", "calibrate", &json!({}), T0 + 1)
        .unwrap();
    assert_eq!(
        responses(&drain(&mut d)),
        vec![(CommandStatus::Acknowledged, None, None)]
    );
    d.tick(T0 + 500);
    assert!(responses(&drain(&mut d)).is_empty(), "not done before 1 s");
    d.tick(T0 + 1_001);
    let r = responses(&drain(&mut d));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, CommandStatus::Completed);
    assert!(r[0].1.as_ref().unwrap()["removedOffsets"].is_object());
    assert_eq!(d.command("c-cal").unwrap().status, CommandStatus::Completed);

    d.handle_command("c-x", "dance", &json!(null), T0 + 2_000)
        .unwrap();
    let r = responses(&drain(&mut d));
    assert_eq!(r[0].0, CommandStatus::Acknowledged);
    assert_eq!(r[1].0, CommandStatus::Failed);
    let reason = r[1].2.as_ref().unwrap();
    assert!(
        reason.contains("`dance`") && reason.contains("reboot"),
        "{reason}"
    );

    // Not supported by this kind.
    d.handle_command("c-w", "resetWear", &json!(null), T0 + 2_000)
        .unwrap();
    let r = responses(&drain(&mut d));
    assert_eq!(r[1].0, CommandStatus::Failed);

    // A repeated id is answered with its status, not run again.
    let again = d
        .handle_command("c-cal", "calibrate", &json!({}), T0 + 3_000)
        .unwrap();
    assert_eq!(again.status, CommandStatus::Completed);
    d.tick(T0 + 5_000);
    let r = responses(&drain(&mut d));
    assert_eq!(r.len(), 1, "only the repeated answer: {r:?}");
}

#[test]
fn reboot_pauses_telemetry() {
    let mut d = device(DeviceKind::Thermostat, &SimOptions::default());
    d.tick(T0);
    drain(&mut d);
    d.handle_command("r", "reboot", &json!(null), T0 + 10)
        .unwrap();
    d.tick(T0 + 1_000);
    let out = drain(&mut d);
    assert!(telemetry(&out).is_empty());
    d.tick(T0 + 2_010);
    let out = drain(&mut d);
    assert_eq!(responses(&out).pop().unwrap().0, CommandStatus::Completed);
    assert_eq!(telemetry(&out).len(), 1);
}

#[test]
fn drift_grows_until_calibrated() {
    let mut d = device(DeviceKind::Thermostat, &SimOptions::default());
    d.tick(T0);
    drain(&mut d);
    let fault = json!({"kind": "drift", "property": "temperature", "rate": 0.1});
    d.handle_command("f", "fault", &fault, T0).unwrap();
    let r = responses(&drain(&mut d));
    assert_eq!(r[1].0, CommandStatus::Completed, "{r:?}");
    for i in 1..=100 {
        d.tick(T0 + i * 1_000);
    }
    drain(&mut d);
    let Model::Thermostat(t) = d.model() else {
        panic!()
    };
    assert!((t.thermometer.offset() - 10.0).abs() < 1e-6);
    d.handle_command("cal", "calibrate", &json!(null), T0 + 100_000)
        .unwrap();
    d.tick(T0 + 101_000);
    let r = responses(&drain(&mut d));
    let removed = r.last().unwrap().1.as_ref().unwrap()["removedOffsets"]["temperature"].clone();
    assert!((removed.as_f64().unwrap() - 10.0).abs() < 0.2, "{removed}");
    // The offset is gone; the drift itself goes on (one more second of it).
    let Model::Thermostat(t) = d.model() else {
        panic!()
    };
    assert!(
        t.thermometer.offset() <= 0.1 + 1e-9,
        "{}",
        t.thermometer.offset()
    );
}

#[test]
fn stuck_and_spikes_and_clear() {
    let mut d = device(DeviceKind::Motor, &SimOptions::default());
    d.tick(T0);
    drain(&mut d);
    d.inject(
        &Fault::Stuck {
            property: "temperature".into(),
            value: Some(55.5),
        },
        T0,
    )
    .unwrap();
    d.inject(
        &Fault::Spikes {
            property: "vibration".into(),
            probability: 1.0,
            magnitude: 30.0,
        },
        T0,
    )
    .unwrap();
    for i in 1..=5 {
        d.tick(T0 + i * 1_000);
    }
    let records = telemetry(&drain(&mut d));
    for r in &records {
        assert_eq!(number(r, "temperature"), 55.5);
        // Every reading spikes: up by 30, or down and clamped at 0.
        let v = number(r, "vibration");
        assert!(v > 25.0 || v == 0.0, "{r:?}");
    }
    assert!(records.iter().any(|r| number(r, "vibration") > 25.0));
    d.inject(&Fault::Clear { property: None }, T0 + 5_000)
        .unwrap();
    d.tick(T0 + 6_000);
    let r = &telemetry(&drain(&mut d))[0];
    assert_ne!(number(r, "temperature"), 55.5);
    assert!(number(r, "vibration") < 25.0);
    // Faults name measured properties only.
    let err = d
        .inject(
            &Fault::Drift {
                property: "speed".into(),
                rate: 1.0,
            },
            T0,
        )
        .unwrap_err();
    assert!(err.contains("temperature, vibration"), "{err}");
    d.handle_command("bad", "fault", &json!({"kind": "melt"}), T0 + 7_000)
        .unwrap();
    let r = responses(&drain(&mut d));
    assert_eq!(r[1].0, CommandStatus::Failed);
    assert!(r[1].2.as_ref().unwrap().contains("invalid fault payload"));
}

#[test]
fn drop_connection_disconnects_after_answering_and_pauses() {
    let options = SimOptions {
        sequence: true,
        ..SimOptions::default()
    };
    let mut d = device(DeviceKind::EnvironmentSensor, &options);
    d.tick(T0);
    drain(&mut d);
    d.handle_command(
        "drop",
        "fault",
        &json!({"kind": "dropConnection", "durationMs": 3000}),
        T0 + 100,
    )
    .unwrap();
    let out = drain(&mut d);
    assert!(matches!(out.last(), Some(Output::Disconnect { until }) if *until == T0 + 3_100));
    assert_eq!(responses(&out).last().unwrap().0, CommandStatus::Completed);
    assert!(!d.is_online(T0 + 1_000));
    let err = d
        .apply_desired(&desired(&[("samplingRate", json!(500))]), T0 + 1_000)
        .unwrap_err();
    assert_eq!(err.code(), "DEVICE_OFFLINE");
    assert_eq!(err.http_status(), 503);
    for i in 1..=3 {
        d.tick(T0 + i * 1_000);
    }
    assert!(telemetry(&drain(&mut d)).is_empty());
    d.tick(T0 + 4_000);
    let r = telemetry(&drain(&mut d));
    // Sequence numbers continue: nothing was sent, so nothing is missing.
    assert_eq!(number(&r[0], "seq"), 2.0);
    assert!(d.is_online(T0 + 4_000));
}

#[test]
fn malformed_payloads_precede_real_records() {
    let mut d = device(DeviceKind::Thermostat, &SimOptions::default());
    d.inject(&Fault::Malformed { count: 2 }, T0).unwrap();
    for i in 0..3 {
        d.tick(T0 + i * 1_000);
    }
    let out = drain(&mut d);
    let malformed: Vec<&String> = out
        .iter()
        .filter_map(|o| match o {
            Output::Malformed { text } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(malformed.len(), 2);
    for text in malformed {
        assert_eq!(wire::decode(text).unwrap_err().code(), "MALFORMED_JSON");
    }
    assert_eq!(telemetry(&out).len(), 3);
}

#[test]
fn sequence_numbers_count_every_record() {
    let options = SimOptions {
        sequence: true,
        ..SimOptions::default()
    };
    let mut d = device(DeviceKind::Motor, &options);
    assert!(d.config().property("seq").is_some_and(|p| p.telemetry));
    for i in 0..50 {
        d.tick(T0 + i * 1_000);
    }
    let seqs: Vec<f64> = telemetry(&drain(&mut d))
        .iter()
        .map(|r| number(r, "seq"))
        .collect();
    assert_eq!(seqs, (1..=50).map(f64::from).collect::<Vec<_>>());
}

#[test]
fn same_seed_same_readings() {
    let run = |seed| {
        let mut fleet = SimFleet::mixed(
            3,
            &SimOptions {
                seed,
                ..SimOptions::default()
            },
        )
        .unwrap();
        for i in 0..20 {
            fleet.tick(T0 + i * 1_000);
        }
        fleet.drain_outputs()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn telemetry_pages_follow_since_and_limit() {
    let mut d = device(DeviceKind::Thermostat, &SimOptions::default());
    for i in 0..10 {
        d.tick(T0 + i * 1_000);
    }
    let all = d.telemetry_page(None, None);
    assert_eq!(all.records.len(), 10);
    assert!(!all.more);
    let page = d.telemetry_page(Some(T0 + 2_000), Some(3));
    let stamps: Vec<u64> = page.records.iter().map(|r| r.timestamp).collect();
    assert_eq!(stamps, vec![T0 + 3_000, T0 + 4_000, T0 + 5_000]);
    assert!(page.more);
    assert_eq!(page.next, Some(T0 + 5_000));
    let rest = d.telemetry_page(page.next, None);
    assert_eq!(rest.records.len(), 4);
    assert!(!rest.more);
    let none = d.telemetry_page(Some(T0 + 9_000), None);
    assert!(none.records.is_empty());
    assert_eq!(none.next, Some(T0 + 9_000));
}

#[test]
fn messages_for_other_devices_or_of_the_wrong_type_are_refused() {
    let mut d = device(DeviceKind::Thermostat, &SimOptions::default());
    let other = wire::decode(
        r#"{"type":"desired","deviceId":"someone-else","desired":{"setpoint":20},"version":1}"#,
    )
    .unwrap();
    assert_eq!(d.handle(&other, T0).unwrap_err().code(), "WRONG_DEVICE");
    let ping = wire::decode(r#"{"type":"ping"}"#).unwrap();
    assert_eq!(
        d.handle(&ping, T0).unwrap_err().code(),
        "UNEXPECTED_MESSAGE"
    );
    let ok = wire::decode(
        r#"{"type":"desired","deviceId":"thermostat-001","desired":{"setpoint":20},"version":1}"#,
    )
    .unwrap();
    d.handle(&ok, T0).unwrap();
    assert_eq!(d.pending_desired()["setpoint"], json!(20));
}

#[test]
fn fleet_ids_cycle_kinds_and_refuse_duplicates() {
    let mut fleet = SimFleet::mixed(5, &SimOptions::default()).unwrap();
    let ids: Vec<&str> = fleet.devices().map(SimDevice::id).collect();
    assert_eq!(
        ids,
        [
            "thermostat-001",
            "motor-002",
            "sensor-003",
            "thermostat-004",
            "motor-005"
        ]
    );
    let dup = SimDevice::new(DeviceKind::Motor, "motor-002", &SimOptions::default()).unwrap();
    assert_eq!(fleet.add(dup).unwrap_err().code(), "DUPLICATE_DEVICE");
    assert!(SimDevice::new(DeviceKind::Motor, "a/b", &SimOptions::default()).is_err());
}
