//! Device lifecycle in the fleet: states, rules per state, the event log.
#![allow(clippy::unwrap_used)]

mod common;

use common::{local_twin, of_type, record, thermostat_json, values};
use serde_json::json;
use twinkit_core::lifecycle::rebuild;
use twinkit_core::{
    Actor, CommandStatus, ConnectionState, DeviceConfig, EventType, FleetManager, LifecycleChange,
    LifecycleEvent, LifecycleState, TwinOptions,
};

fn config(id: &str) -> DeviceConfig {
    let mut json = thermostat_json();
    json["id"] = json!(id);
    let obj = json.as_object_mut().unwrap();
    obj.remove("connectionType");
    obj.remove("connectionConfig");
    serde_json::from_value(json).unwrap()
}

fn fleet_of(ids: &[&str]) -> FleetManager {
    let mut fleet = FleetManager::new();
    for id in ids {
        fleet.add_twin(local_twin(id)).unwrap();
    }
    fleet
}

fn go(fleet: &mut FleetManager, id: &str, to: LifecycleState, now: u64) {
    fleet.set_lifecycle(id, to, Actor::User, None, now).unwrap();
}

#[test]
fn a_provisioned_device_takes_desired_values_but_no_commands() {
    let mut fleet = FleetManager::new();
    let twin = fleet
        .provision_device(config("p"), TwinOptions::default(), 10)
        .unwrap();
    assert_eq!(twin.lifecycle(), LifecycleState::Provisioned);
    twin.set_desired("setpoint", json!(70), 11).unwrap();
    let err = twin.send_command("calibrate", json!(null), 11).unwrap_err();
    assert_eq!(err.code(), "LIFECYCLE");
    assert_eq!(
        err.to_string(),
        "device `p` is provisioned: commands refused"
    );
    assert!(twin
        .audit()
        .entries()
        .all(|e| e.action().target() != "calibrate"));
    go(&mut fleet, "p", LifecycleState::Active, 12);
    fleet
        .device_mut("p")
        .unwrap()
        .send_command("calibrate", json!(null), 13)
        .unwrap();
}

#[test]
fn a_suspended_device_accepts_no_commands_and_fails_those_in_flight() {
    let mut fleet = fleet_of(&["s"]);
    let twin = fleet.device_mut("s").unwrap();
    let log = record(twin);
    let pending = twin.send_command("calibrate", json!(null), 1).unwrap();
    go(&mut fleet, "s", LifecycleState::Suspended, 2);
    let twin = fleet.device_mut("s").unwrap();
    let failed = twin.command(&pending.command_id).unwrap();
    assert_eq!(failed.status, CommandStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("device suspended"));
    assert_eq!(of_type(&log, EventType::Command).len(), 2);
    assert_eq!(
        twin.send_command("x", json!(null), 3).unwrap_err().code(),
        "LIFECYCLE"
    );
    let err = twin
        .send_command_as("x", json!(null), Actor::rule("r"), 3)
        .unwrap_err();
    assert_eq!(err.code(), "LIFECYCLE");
    // Desired values are held for when it is back; reports still apply.
    twin.set_desired("setpoint", json!(70), 4).unwrap();
    twin.apply_reported(values(&[("temperature", json!(70))]), 5);
    assert_eq!(twin.property("temperature"), Some(&json!(70)));
    go(&mut fleet, "s", LifecycleState::Active, 6);
    fleet
        .device_mut("s")
        .unwrap()
        .send_command("x", json!(null), 7)
        .unwrap();
}

#[test]
fn maintenance_allows_commands() {
    let mut fleet = fleet_of(&["m"]);
    go(&mut fleet, "m", LifecycleState::Maintenance, 1);
    let twin = fleet.device_mut("m").unwrap();
    twin.send_command("diagnose", json!(null), 2).unwrap();
    twin.set_desired("setpoint", json!(70), 2).unwrap();
}

#[test]
fn a_decommissioned_twin_is_read_only() {
    let mut fleet = fleet_of(&["d"]);
    fleet.connect_all(0);
    let twin = fleet.device_mut("d").unwrap();
    twin.apply_reported(values(&[("temperature", json!(70))]), 1);
    twin.set_desired("setpoint", json!(70), 1).unwrap();
    let log = record(twin);
    go(&mut fleet, "d", LifecycleState::Decommissioned, 2);
    let twin = fleet.device_mut("d").unwrap();
    assert_eq!(twin.connection_state(), ConnectionState::Disconnected);
    assert_eq!(of_type(&log, EventType::Disconnected).len(), 1);
    let before = twin.state().clone();
    let audited = twin.audit().len();
    for err in [
        twin.set_desired("setpoint", json!(71), 3).unwrap_err(),
        twin.set_desired_if("setpoint", json!(71), before.version(), 3)
            .unwrap_err(),
        twin.send_command("x", json!(null), 3).unwrap_err(),
    ] {
        assert_eq!(err.code(), "LIFECYCLE");
        assert!(err.to_string().contains("decommissioned"), "{err}");
    }
    let outcome = twin.apply_reported(values(&[("temperature", json!(99))]), 4);
    assert!(outcome.applied.is_empty());
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(outcome.rejected[0].1.code(), "LIFECYCLE");
    assert_eq!(twin.connect(5), ConnectionState::Disconnected);
    assert!(twin.poll_outbound(5).is_none());
    // Still readable, and unchanged.
    assert_eq!(twin.state(), &before);
    assert_eq!(twin.audit().len(), audited);
    assert_eq!(twin.telemetry_history(Some("temperature"), None).len(), 1);
    // Terminal.
    for to in LifecycleState::ALL {
        let err = fleet
            .set_lifecycle("d", to, Actor::User, None, 6)
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_TRANSITION");
    }
}

#[test]
fn refused_transitions_change_nothing_and_log_nothing() {
    let mut fleet = FleetManager::new();
    fleet
        .provision_device(config("p"), TwinOptions::default(), 1)
        .unwrap();
    let err = fleet
        .set_lifecycle("p", LifecycleState::Suspended, Actor::User, None, 2)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "device `p` cannot go from provisioned to suspended"
    );
    assert_eq!(fleet.lifecycle_log().events().len(), 1);
    assert_eq!(
        fleet.device("p").unwrap().lifecycle(),
        LifecycleState::Provisioned
    );
    assert_eq!(
        fleet
            .set_lifecycle("zz", LifecycleState::Active, Actor::User, None, 2)
            .unwrap_err()
            .code(),
        "UNKNOWN_DEVICE"
    );
}

#[test]
fn the_log_rebuilds_the_fleet_and_status_counts_states() {
    let mut fleet = fleet_of(&["a", "b"]);
    fleet
        .provision_device(config("c"), TwinOptions::default(), 1)
        .unwrap();
    fleet
        .provision_device(config("d"), TwinOptions::default(), 2)
        .unwrap();
    go(&mut fleet, "a", LifecycleState::Suspended, 3);
    let event = fleet
        .set_lifecycle(
            "c",
            LifecycleState::Active,
            Actor::script("commissioning"),
            Some("passed checks"),
            4,
        )
        .unwrap()
        .clone();
    assert_eq!(event.seq, 6);
    assert_eq!(
        event.change,
        LifecycleChange::Transition {
            from: LifecycleState::Provisioned,
            to: LifecycleState::Active,
            actor: Actor::script("commissioning"),
            reason: Some("passed checks".into())
        }
    );
    go(&mut fleet, "c", LifecycleState::Maintenance, 5);
    go(&mut fleet, "b", LifecycleState::Decommissioned, 6);
    fleet.remove_device("d", 7).unwrap();
    let status = fleet.status();
    assert_eq!(status.total, 3);
    let counts = status.lifecycle;
    assert_eq!(
        (
            counts.provisioned,
            counts.active,
            counts.maintenance,
            counts.suspended,
            counts.decommissioned
        ),
        (0, 0, 1, 1, 1)
    );
    // Replaying the log, also after a JSON round trip, gives the fleet's states.
    let log = fleet.lifecycle_log();
    assert_eq!(rebuild(log.events()).unwrap(), fleet.lifecycle_states());
    let back: Vec<LifecycleEvent> = serde_json::from_str(&log.to_json()).unwrap();
    assert_eq!(rebuild(&back).unwrap(), fleet.lifecycle_states());
    assert_eq!(log.of_device("c").count(), 3);
    assert_eq!(log.events()[0].timestamp, None);
    assert_eq!(
        log.events().last().unwrap().change,
        LifecycleChange::Removed
    );
}

#[test]
fn a_log_no_fleet_could_write_is_refused() {
    let mut fleet = fleet_of(&["a"]);
    go(&mut fleet, "a", LifecycleState::Suspended, 1);
    let good = fleet.lifecycle_log().events().to_vec();
    let mut skipped = good.clone();
    skipped[1].seq = 3;
    let mut illegal = good.clone();
    illegal[1].change = LifecycleChange::Transition {
        from: LifecycleState::Active,
        to: LifecycleState::Provisioned,
        actor: Actor::User,
        reason: None,
    };
    let mut wrong_from = good.clone();
    wrong_from[1].change = LifecycleChange::Transition {
        from: LifecycleState::Maintenance,
        to: LifecycleState::Suspended,
        actor: Actor::User,
        reason: None,
    };
    let mut unknown = good.clone();
    unknown[1].device_id = "ghost".into();
    let mut twice = good.clone();
    twice[1] = LifecycleEvent {
        seq: 2,
        ..good[0].clone()
    };
    for (log, words) in [
        // Named by the sequence number it carries.
        (skipped, "event 3: expected sequence number 2"),
        (illegal, "active cannot become provisioned"),
        (wrong_from, "is active, not maintenance"),
        (unknown, "`ghost` is not in the fleet"),
        (twice, "added twice"),
    ] {
        let err = rebuild(&log).unwrap_err();
        assert_eq!(err.code(), "INVALID_LIFECYCLE_LOG");
        assert!(err.to_string().contains(words), "{err}");
        assert!(err.to_string().contains("event "), "{err}");
    }
}
