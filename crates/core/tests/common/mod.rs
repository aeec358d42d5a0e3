//! Shared fixtures for the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::{json, Value};
use twinkit_core::{DeviceConfig, DeviceEvent, DigitalTwin, EventType, TwinOptions};

/// The thermostat of the API reference.
pub fn thermostat_json() -> Value {
    json!({
        "id": "device-001",
        "name": "Smart Thermostat",
        "type": "thermostat",
        "properties": [
            { "name": "temperature", "type": "number", "unit": "fahrenheit", "min": 32, "max": 100, "writable": false, "telemetry": true },
            { "name": "setpoint", "type": "number", "unit": "fahrenheit", "min": 55, "max": 85, "writable": true },
            { "name": "mode", "type": "string", "writable": true },
            { "name": "isRunning", "type": "boolean", "writable": false },
            { "name": "schedule", "type": "object", "writable": true },
            { "name": "zones", "type": "array", "writable": true },
            { "name": "humidity", "type": "number", "min": 0, "max": 100, "telemetry": true }
        ],
        "telemetryInterval": 30000,
        "connectionType": "websocket",
        "connectionConfig": {
            "url": "wss://iot.example.com/devices",
            "username": "device-001",
            "password": "secret",
            "topic": "devices/device-001",
            "reconnect": true,
            "reconnectInterval": 5000
        }
    })
}

pub fn thermostat_config() -> DeviceConfig {
    serde_json::from_value(thermostat_json()).unwrap()
}

pub fn thermostat() -> DigitalTwin {
    DigitalTwin::new(thermostat_config()).unwrap()
}

/// A twin fed in-process (no connection type).
pub fn local_twin(id: &str) -> DigitalTwin {
    let mut json = thermostat_json();
    json["id"] = json!(id);
    let obj = json.as_object_mut().unwrap();
    obj.remove("connectionType");
    obj.remove("connectionConfig");
    DigitalTwin::new(serde_json::from_value(json).unwrap()).unwrap()
}

pub fn twin_with(options: TwinOptions) -> DigitalTwin {
    DigitalTwin::with_options(thermostat_config(), options).unwrap()
}

pub fn values(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Records every event a twin emits.
pub fn record(twin: &DigitalTwin) -> Rc<RefCell<Vec<DeviceEvent>>> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&log);
    twin.on_any(move |e| sink.borrow_mut().push(e.clone()));
    log
}

pub fn of_type(log: &Rc<RefCell<Vec<DeviceEvent>>>, t: EventType) -> Vec<DeviceEvent> {
    log.borrow()
        .iter()
        .filter(|e| e.event_type() == t)
        .cloned()
        .collect()
}
