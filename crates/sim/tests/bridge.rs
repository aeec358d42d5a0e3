//! A fleet of twins fed in-process by simulated devices, as the dashboard
//! embeds it.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;
use twinkit_core::{CommandStatus, EventData, EventType, FleetManager};
use twinkit_sim::{Bridge, Model, SimFleet, SimOptions};

const T0: u64 = 1_700_000_000_000;

fn setup(options: &SimOptions) -> (SimFleet, FleetManager) {
    let sim = SimFleet::mixed(5, options).expect("valid fleet");
    let mut fleet = FleetManager::new();
    for device in sim.devices() {
        fleet
            .add_device(device.config().clone())
            .expect("unique ids");
    }
    fleet.connect_all(T0);
    (sim, fleet)
}

#[test]
fn five_twins_follow_their_devices() {
    let (mut sim, mut fleet) = setup(&SimOptions::default());
    let mut bridge = Bridge::new();
    for i in 0..30 {
        let report = bridge.exchange(&mut sim, &mut fleet, T0 + i * 1_000);
        assert_eq!(report, Default::default());
    }
    for twin in fleet.devices() {
        let points = twin.telemetry_history(Some("temperature"), None);
        assert_eq!(points.len(), 30, "{}", twin.id());
    }

    let now = T0 + 30_000;
    let thermostat = fleet.device_mut("thermostat-001").expect("present");
    thermostat
        .set_desired("setpoint", json!(22.5), now)
        .expect("valid");
    assert!(!thermostat.state().delta().is_empty());
    let command = thermostat
        .send_command("calibrate", json!({}), now)
        .expect("sent")
        .command_id;
    bridge.exchange(&mut sim, &mut fleet, now);
    bridge.exchange(&mut sim, &mut fleet, now + 1_000);
    let thermostat = fleet.device("thermostat-001").expect("present");
    assert!(thermostat.state().delta().is_empty(), "setpoint synced");
    assert_eq!(thermostat.property("setpoint"), Some(&json!(22.5)));
    assert_eq!(
        thermostat.command(&command).expect("known").status,
        CommandStatus::Completed
    );
}

#[test]
fn faults_reach_the_twins() {
    let (mut sim, mut fleet) = setup(&SimOptions::default());
    let mut bridge = Bridge::new();
    let events = Rc::new(RefCell::new(Vec::new()));
    let log = events.clone();
    let _sub = fleet.on_event(move |e| {
        if matches!(
            e.event_type(),
            EventType::Connected | EventType::Disconnected | EventType::Alert
        ) {
            log.borrow_mut().push((e.device_id.clone(), e.data.clone()));
        }
    });
    bridge.exchange(&mut sim, &mut fleet, T0);

    // A worn bearing: vibration over its 7.1 mm/s limit raises an alert.
    if let Some(Model::Motor(motor)) = sim.device_mut("motor-002").map(|d| d.model_mut()) {
        motor.bearing.set_wear(1.0);
    }
    let motor = fleet.device_mut("motor-002").expect("present");
    motor.set_desired("speed", json!(100), T0).expect("valid");
    for i in 1..=5 {
        bridge.exchange(&mut sim, &mut fleet, T0 + i * 1_000);
    }
    assert!(fleet
        .device("motor-002")
        .expect("present")
        .active_alerts()
        .any(|a| a.property == "vibration"));

    // Dropped connection: disconnected with a reason, then connected again.
    let sensor = fleet.device_mut("sensor-003").expect("present");
    sensor
        .send_command(
            "fault",
            json!({"kind": "dropConnection", "durationMs": 2500}),
            T0 + 5_000,
        )
        .expect("sent");
    bridge.exchange(&mut sim, &mut fleet, T0 + 5_000);
    assert!(!fleet.device("sensor-003").expect("present").is_connected());
    bridge.exchange(&mut sim, &mut fleet, T0 + 6_000);
    bridge.exchange(&mut sim, &mut fleet, T0 + 8_000);
    assert!(fleet.device("sensor-003").expect("present").is_connected());
    let sensor_events: Vec<EventData> = events
        .borrow()
        .iter()
        .filter(|(id, _)| id == "sensor-003")
        .map(|(_, d)| d.clone())
        .collect();
    assert!(
        matches!(&sensor_events[..], [EventData::Disconnected(info), EventData::Connected(_)]
        if info.reason.as_deref() == Some("the device dropped the connection"))
    );

    // Malformed payloads are reported and leave the twin's state alone.
    let before = fleet
        .device("thermostat-001")
        .expect("present")
        .telemetry_history(None, None)
        .len();
    sim.device_mut("thermostat-001")
        .expect("present")
        .inject(&twinkit_sim::Fault::Malformed { count: 1 }, T0 + 8_000)
        .expect("valid");
    let report = bridge.exchange(&mut sim, &mut fleet, T0 + 9_000);
    assert_eq!(report.malformed.len(), 1);
    assert_eq!(report.malformed[0].1.code(), "MALFORMED_JSON");
    let after = fleet
        .device("thermostat-001")
        .expect("present")
        .telemetry_history(None, None)
        .len();
    assert_eq!(after, before + 1, "the real record still arrives");

    // A value the twin allows but the device refuses is reported.
    let thermostat = fleet.device_mut("thermostat-001").expect("present");
    thermostat
        .set_desired("mode", json!("cool"), T0 + 9_000)
        .expect("a string");
    let report = bridge.exchange(&mut sim, &mut fleet, T0 + 10_000);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].1.code(), "INVALID_VALUE");
}
