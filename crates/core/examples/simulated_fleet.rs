//! A terminal demo of the core: five simulated motors fed in-process, with
//! alerts, commands and predictive maintenance. Time is compressed: each
//! tick (one second of wall time) is one simulated minute, so trends toward
//! maintenance thresholds show within a few minutes. A table is printed
//! every five ticks.
//!
//! Run with `cargo run --release -p twinkit-core --example simulated_fleet`
//! (`npm start` does this until the dashboard lands). Stop with Ctrl-C, or
//! pass a number of ticks: `... --example simulated_fleet -- 10`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use twinkit_core::physics::{Rng, Sensor, ThermalModel, WearModel};
use twinkit_core::{
    CommandResponse, CommandStatus, DeviceConfig, EventType, FleetManager, Outbound,
    PredictiveMaintenance,
};

/// One simulated motor: a first-order thermal model driven by its load,
/// bearing wear that raises vibration, and noisy sensors (physics from
/// `twinkit_core::physics`). Each tick is one simulated minute.
struct Motor {
    thermal: ThermalModel,
    bearing: WearModel,
    thermometer: Sensor,
    vibration_sensor: Sensor,
    speed: f64,
}

impl Motor {
    const TICK_SECS: f64 = 60.0;

    fn new(i: usize) -> Self {
        let seed = 0x2545_f491_4f6c_dd1d ^ i as u64;
        // τ = 20 min; full load settles at 22 + 0.04·1200 = 70 °C.
        let mut bearing = WearModel::new(
            // Wear per second at full speed: from ~200 h to ~30 h to critical.
            2.0e-6 * (i as f64 + 1.0),
            0.6,
            0.6,
            6.0,
        );
        bearing.set_wear(0.05 * i as f64);
        Self {
            thermal: ThermalModel::new(25.0 + 3.0 * i as f64, 22.0, 1200.0, 0.04),
            bearing,
            thermometer: Sensor::new(0.2, Rng::new(seed)),
            vibration_sensor: Sensor::new(0.01, Rng::new(seed.rotate_left(17))),
            speed: 50.0 + 10.0 * i as f64,
        }
    }

    /// Advances one tick and returns (temperature, vibration) as measured.
    fn step(&mut self) -> (f64, f64) {
        let load = self.speed / 100.0;
        self.thermal.step(load, Self::TICK_SECS);
        self.bearing.step(load, Self::TICK_SECS);
        (
            self.thermometer
                .measure(self.thermal.temperature(), Self::TICK_SECS),
            self.vibration_sensor
                .measure(self.bearing.vibration(load), Self::TICK_SECS),
        )
    }
}

fn config(i: usize) -> DeviceConfig {
    serde_json::from_value(json!({
        "id": format!("motor-{i:03}"),
        "name": format!("Motor {i}"),
        "type": "motor",
        "telemetryInterval": 1000,
        "properties": [
            { "name": "temperature", "type": "number", "unit": "°C", "min": 0, "max": 80, "telemetry": true },
            { "name": "vibration", "type": "number", "unit": "mm/s", "min": 0, "max": 7.1, "telemetry": true },
            { "name": "speed", "type": "number", "unit": "%", "min": 0, "max": 100, "writable": true }
        ]
    }))
    .expect("demo configuration is valid")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn main() {
    let ticks: Option<u64> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    let mut fleet = FleetManager::new();
    let mut motors = Vec::new();
    let mut maintenance = Vec::new();
    for i in 0..5 {
        fleet.add_device(config(i)).expect("unique ids");
        motors.push(Motor::new(i));
        let mut pm = PredictiveMaintenance::new();
        pm.set_threshold("vibration", 4.5, 7.1)
            .expect("valid threshold");
        pm.set_threshold("temperature", 70.0, 80.0)
            .expect("valid threshold");
        maintenance.push(pm);
    }
    fleet.on_event(|event| {
        if event.event_type() == EventType::Alert || event.event_type() == EventType::Command {
            println!(
                "  event {} {}: {}",
                event.device_id,
                event.event_type(),
                serde_json::to_string(&event.data).unwrap_or_default()
            );
        }
    });
    // The twin has no clock of its own: the demo passes simulated time in.
    const TICK_MS: u64 = 60_000;
    let start = now_ms();
    fleet.connect_all(start);
    fleet
        .device_mut("motor-004")
        .expect("present")
        .set_desired("speed", json!(95), start)
        .expect("in range");
    let mut tick = 0u64;
    loop {
        let now = start + tick * TICK_MS;
        for (i, twin) in fleet.devices_mut().enumerate() {
            let motor = &mut motors[i];
            // The simulated device applies what the twin sends it.
            while let Some(out) = twin.poll_outbound(now) {
                match out {
                    Outbound::Desired {
                        property, value, ..
                    } if property == "speed" => {
                        motor.speed = value.as_f64().unwrap_or(motor.speed);
                    }
                    Outbound::Command(cmd) => {
                        let response = CommandResponse {
                            command_id: cmd.command_id,
                            status: CommandStatus::Completed,
                            result: Some(json!({"ok": true})),
                            error: None,
                        };
                        let _ = twin.handle_command_response(&response, now);
                    }
                    _ => {}
                }
            }
            let (temperature, vibration) = motor.step();
            let values: BTreeMap<String, Value> = [
                ("temperature".to_string(), json!(round2(temperature))),
                ("vibration".to_string(), json!(round2(vibration))),
                ("speed".to_string(), json!(motor.speed)),
            ]
            .into();
            twin.apply_reported(values, now);
        }
        if tick % 5 == 0 {
            print_table(&fleet, &mut maintenance, now);
        }
        if tick == 3 {
            let twin = fleet.device_mut("motor-000").expect("present");
            let _ = twin.send_command("calibrate", json!({"reference": 25.0}), now);
        }
        tick += 1;
        if ticks.is_some_and(|t| tick >= t) {
            break;
        }
        std::thread::sleep(Duration::from_millis(if ticks.is_some() {
            10
        } else {
            1000
        }));
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn print_table(fleet: &FleetManager, maintenance: &mut [PredictiveMaintenance], now: u64) {
    let status = fleet.status();
    println!(
        "\nfleet: {} devices, {} connected, {} active alerts",
        status.total, status.connected, status.alerts
    );
    println!(
        "{:<10} {:>8} {:>10} {:>6} {:>7}  prediction (vibration)",
        "device", "temp °C", "vib mm/s", "speed", "delta"
    );
    for (twin, pm) in fleet.devices().zip(maintenance.iter_mut()) {
        let get = |p: &str| twin.property(p).and_then(Value::as_f64).unwrap_or(f64::NAN);
        pm.analyze(twin, now);
        let prediction = pm.prediction("vibration").map_or_else(
            || "collecting data".to_string(),
            |p| {
                format!(
                    "critical in {}, confidence {:.0}%: {}",
                    p.time_to_critical
                        .map_or("never".into(), |h| format!("{h:.1} h")),
                    p.confidence * 100.0,
                    p.recommendation
                )
            },
        );
        println!(
            "{:<10} {:>8.2} {:>10.2} {:>6.0} {:>7}  {}",
            twin.id(),
            get("temperature"),
            get("vibration"),
            get("speed"),
            if twin.state().delta().is_empty() {
                "synced"
            } else {
                "pending"
            },
            prediction
        );
    }
}
