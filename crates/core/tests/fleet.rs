//! Fleets and predictive maintenance over twins.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{local_twin, thermostat_config, values};
use serde_json::json;
use twinkit_core::{EventType, FleetManager, FleetStatus, LifecycleCounts, PredictiveMaintenance};

fn config(id: &str) -> twinkit_core::DeviceConfig {
    let mut c = thermostat_config();
    c.id = id.into();
    c
}

#[test]
fn devices_are_added_found_listed_and_removed() {
    let mut fleet = FleetManager::new();
    fleet.add_device(config("a")).unwrap();
    fleet.add_device(config("b")).unwrap();
    fleet.add_twin(local_twin("c")).unwrap();
    assert_eq!(
        fleet.devices().map(|t| t.id()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(fleet.device("b").unwrap().id(), "b");
    let err = fleet.add_device(config("a")).unwrap_err();
    assert_eq!(err.code(), "DUPLICATE_DEVICE");
    assert_eq!(
        fleet.add_twin(local_twin("c")).unwrap_err().code(),
        "DUPLICATE_DEVICE"
    );
    fleet.remove_device("b", 1).unwrap();
    assert!(fleet.device("b").is_none());
    assert_eq!(fleet.len(), 2);
    assert_eq!(
        fleet.remove_device("b", 2).unwrap_err().code(),
        "UNKNOWN_DEVICE"
    );
}

#[test]
fn fleet_events_carry_the_device_id_and_stop_after_removal() {
    let mut fleet = FleetManager::new();
    fleet.add_twin(local_twin("a")).unwrap();
    fleet.add_twin(local_twin("b")).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&log);
    let sub = fleet.on_event(move |e| {
        sink.borrow_mut()
            .push((e.device_id.clone(), e.event_type()))
    });
    fleet.connect_all(0);
    fleet
        .device_mut("b")
        .unwrap()
        .apply_reported(values(&[("temperature", json!(70))]), 1);
    fleet.remove_device("a", 2).unwrap();
    assert_eq!(
        *log.borrow(),
        [
            ("a".to_string(), EventType::Connected),
            ("b".to_string(), EventType::Connected),
            ("b".to_string(), EventType::StateChange),
            ("b".to_string(), EventType::Telemetry),
            ("a".to_string(), EventType::Disconnected),
        ]
    );
    sub.unsubscribe();
    fleet.disconnect_all(3);
    assert_eq!(log.borrow().len(), 5);
}

#[test]
fn status_counts_connections_and_active_alerts() {
    let mut fleet = FleetManager::new();
    fleet.add_twin(local_twin("a")).unwrap();
    fleet.add_twin(local_twin("b")).unwrap();
    fleet.add_device(config("mqtt-like")).unwrap();
    assert_eq!(
        fleet.status(),
        FleetStatus {
            total: 3,
            connected: 0,
            disconnected: 3,
            connecting: 0,
            alerts: 0,
            lifecycle: LifecycleCounts {
                active: 3,
                ..LifecycleCounts::default()
            }
        }
    );
    fleet.connect_all(0);
    let a = fleet.device_mut("a").unwrap();
    a.apply_reported(
        values(&[("temperature", json!(120)), ("humidity", json!(-1))]),
        1,
    );
    let status = fleet.status();
    assert_eq!(
        status,
        FleetStatus {
            total: 3,
            connected: 2,
            disconnected: 1,
            connecting: 1,
            alerts: 2,
            lifecycle: LifecycleCounts {
                active: 3,
                ..LifecycleCounts::default()
            }
        }
    );
    assert_eq!(
        serde_json::to_value(status).unwrap(),
        json!({"total": 3, "connected": 2, "disconnected": 1, "connecting": 1, "alerts": 2,
            "lifecycle": {"provisioned": 0, "active": 3, "maintenance": 0, "suspended": 0, "decommissioned": 0}})
    );
    fleet.disconnect_all(2);
    assert_eq!(fleet.status().connected, 0);
}

#[test]
fn fleet_timeouts_reach_every_twin() {
    let mut fleet = FleetManager::new();
    fleet.add_twin(local_twin("a")).unwrap();
    fleet.add_twin(local_twin("b")).unwrap();
    let c1 = fleet
        .device_mut("a")
        .unwrap()
        .send_command("x", json!(1), 0)
        .unwrap();
    let c2 = fleet
        .device_mut("b")
        .unwrap()
        .send_command("y", json!(1), 500)
        .unwrap();
    assert_eq!(fleet.poll_timeout(), Some(30_000));
    fleet.handle_timeout(30_500);
    for (id, c) in [("a", c1), ("b", c2)] {
        let status = fleet
            .device(id)
            .unwrap()
            .command(&c.command_id)
            .unwrap()
            .status;
        assert_eq!(status, twinkit_core::CommandStatus::Failed);
    }
}

#[test]
fn predictive_maintenance_reads_the_twin_history() {
    let mut twin = local_twin("motor");
    let mut pm = PredictiveMaintenance::new();
    pm.set_threshold("temperature", 80.0, 95.0).unwrap();
    let hour = 3_600_000u64;
    // Nine points: not enough yet.
    for i in 0..9u64 {
        twin.apply_reported(values(&[("temperature", json!(60.0 + i as f64))]), i * hour);
    }
    assert!(pm.analyze(&twin, 8 * hour).is_empty());
    // Rising 1 °F per hour from 60: at 70 after 10 points (t = 9 h).
    for i in 9..=10u64 {
        twin.apply_reported(values(&[("temperature", json!(60.0 + i as f64))]), i * hour);
    }
    let now = 10 * hour;
    let predictions = pm.analyze(&twin, now);
    assert_eq!(predictions.len(), 1);
    let p = &predictions[0];
    assert_eq!(p.property, "temperature");
    assert_eq!(p.current_value, 70.0);
    assert!((p.predicted_value - 94.0).abs() < 1e-9, "{p:?}");
    assert!((p.time_to_warning.unwrap() - 10.0).abs() < 1e-9, "{p:?}");
    assert!((p.time_to_critical.unwrap() - 25.0).abs() < 1e-9, "{p:?}");
    assert_eq!(p.recommendation, "Schedule maintenance within this week");
    assert!(p.confidence > 0.0 && p.confidence <= 1.0);
    assert_eq!(pm.prediction("temperature"), Some(p));
    assert_eq!(pm.prediction("humidity"), None);
}
