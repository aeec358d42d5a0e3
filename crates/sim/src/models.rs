//! The physics of each simulated device kind, on top of
//! `twinkit_core::physics`: what is measured, what desired values control,
//! and which commands each kind knows beyond the common ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use twinkit_core::physics::{Rng, Sensor, ThermalModel, WearModel};
use twinkit_core::{Millis, PropertyDefinition, PropertyType, TelemetryValue};

/// The kinds of simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceKind {
    /// A room thermostat: a heater switched on and off around a setpoint,
    /// the room following a first-order thermal response.
    Thermostat,
    /// A motor: temperature rising with load, vibration rising with wear
    /// and speed; speed is writable and ramps to its target.
    Motor,
    /// A temperature and humidity sensor on battery, following the time of
    /// day; its sampling rate is writable.
    EnvironmentSensor,
}

impl DeviceKind {
    /// All kinds, in the order a mixed fleet cycles through them.
    pub const ALL: [DeviceKind; 3] = [Self::Thermostat, Self::Motor, Self::EnvironmentSensor];

    /// The device `type` in its configuration.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Thermostat => "thermostat",
            Self::Motor => "motor",
            Self::EnvironmentSensor => "environment-sensor",
        }
    }

    /// Short prefix for generated ids (`thermostat-001`).
    pub fn id_prefix(self) -> &'static str {
        match self {
            Self::Thermostat => "thermostat",
            Self::Motor => "motor",
            Self::EnvironmentSensor => "sensor",
        }
    }

    /// Human-readable name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Thermostat => "Thermostat",
            Self::Motor => "Motor",
            Self::EnvironmentSensor => "Environment sensor",
        }
    }
}

fn number(
    name: &str,
    unit: &str,
    min: f64,
    max: f64,
    writable: bool,
    telemetry: bool,
) -> PropertyDefinition {
    PropertyDefinition {
        name: name.into(),
        kind: PropertyType::Number,
        unit: Some(unit.into()),
        min: Some(min),
        max: Some(max),
        writable,
        telemetry,
    }
}

fn other(name: &str, kind: PropertyType, writable: bool, telemetry: bool) -> PropertyDefinition {
    PropertyDefinition {
        name: name.into(),
        kind,
        unit: None,
        min: None,
        max: None,
        writable,
        telemetry,
    }
}

/// Thermostat: heater power, hysteresis and the room's thermal response.
#[derive(Debug, Clone)]
pub struct Thermostat {
    /// The room.
    pub room: ThermalModel,
    /// The room thermometer.
    pub thermometer: Sensor,
    /// Target temperature.
    pub setpoint: f64,
    /// `"heat"` or `"off"`.
    pub mode: String,
    /// Whether the heater is on.
    pub heating: bool,
}

/// Half-width of the thermostat's switching band, °C.
pub const THERMOSTAT_HYSTERESIS: f64 = 0.25;

/// Motor: thermal response to load, bearing wear, speed ramp.
#[derive(Debug, Clone)]
pub struct Motor {
    /// Winding temperature.
    pub thermal: ThermalModel,
    /// Bearing.
    pub bearing: WearModel,
    /// Temperature sensor.
    pub thermometer: Sensor,
    /// Vibration sensor.
    pub accelerometer: Sensor,
    /// Actual speed, % of rated.
    pub speed: f64,
    /// Speed it ramps to, %.
    pub target_speed: f64,
}

/// How fast a motor's speed ramps, % per second.
pub const MOTOR_RAMP_PER_SEC: f64 = 20.0;

/// Environment sensor: temperature and humidity following the time of day.
#[derive(Debug, Clone)]
pub struct EnvironmentSensor {
    /// The air around the sensor (its ambient follows the time of day).
    pub air: ThermalModel,
    /// Temperature channel.
    pub thermometer: Sensor,
    /// Humidity channel.
    pub hygrometer: Sensor,
    /// Battery charge, %.
    pub battery: f64,
    /// Sampling interval, ms.
    pub sampling_rate: f64,
}

/// Battery drain of the environment sensor, % per hour of simulated time.
pub const BATTERY_DRAIN_PER_HOUR: f64 = 0.5;

/// The physics of one device.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Model {
    /// See [`Thermostat`].
    Thermostat(Thermostat),
    /// See [`Motor`].
    Motor(Motor),
    /// See [`EnvironmentSensor`].
    EnvironmentSensor(EnvironmentSensor),
}

impl Model {
    /// A device of `kind` in a plausible starting state drawn from `seed`
    /// (so a fleet is not all alike), its noise seeded from it too.
    pub fn new(kind: DeviceKind, seed: u64, telemetry_interval_ms: Millis) -> Self {
        let mut rng = Rng::new(seed);
        let vary = |rng: &mut Rng, spread: f64| rng.uniform(-spread, spread);
        match kind {
            DeviceKind::Thermostat => {
                let start = 17.0 + vary(&mut rng, 2.0);
                Self::Thermostat(Thermostat {
                    // Outside 10 °C, τ 20 min, full heat settles at 10 + 0.02·1200 = 34 °C.
                    room: ThermalModel::new(start, 10.0, 1200.0, 0.02),
                    thermometer: Sensor::new(0.05, Rng::new(rng.next_u64())),
                    setpoint: 21.0,
                    mode: "heat".into(),
                    heating: false,
                })
            }
            DeviceKind::Motor => {
                let speed = 60.0 + vary(&mut rng, 20.0).round();
                // Wear per second at full speed: worn out (1.0) after 100 to 300 h.
                let life_hours = rng.uniform(100.0, 300.0);
                let mut bearing = WearModel::new(1.0 / (life_hours * 3600.0), 0.8, 1.2, 8.0);
                bearing.set_wear(rng.uniform(0.0, 0.3));
                Self::Motor(Motor {
                    // Ambient 25 °C, τ 15 min, full load settles at 25 + 0.05·900 = 70 °C.
                    thermal: ThermalModel::new(30.0 + vary(&mut rng, 5.0), 25.0, 900.0, 0.05),
                    bearing,
                    thermometer: Sensor::new(0.1, Rng::new(rng.next_u64())),
                    accelerometer: Sensor::new(0.05, Rng::new(rng.next_u64())),
                    speed,
                    target_speed: speed,
                })
            }
            DeviceKind::EnvironmentSensor => Self::EnvironmentSensor(EnvironmentSensor {
                air: ThermalModel::new(20.0 + vary(&mut rng, 3.0), 20.0, 600.0, 0.0),
                thermometer: Sensor::new(0.1, Rng::new(rng.next_u64())),
                hygrometer: Sensor::new(0.5, Rng::new(rng.next_u64())),
                battery: 100.0 - rng.uniform(0.0, 40.0).round(),
                sampling_rate: telemetry_interval_ms as f64,
            }),
        }
    }

    /// The kind.
    pub fn kind(&self) -> DeviceKind {
        match self {
            Self::Thermostat(_) => DeviceKind::Thermostat,
            Self::Motor(_) => DeviceKind::Motor,
            Self::EnvironmentSensor(_) => DeviceKind::EnvironmentSensor,
        }
    }

    /// The property definitions of the kind.
    pub fn properties(kind: DeviceKind) -> Vec<PropertyDefinition> {
        match kind {
            DeviceKind::Thermostat => vec![
                number("temperature", "°C", 5.0, 35.0, false, true),
                number("setpoint", "°C", 5.0, 30.0, true, false),
                other("mode", PropertyType::String, true, false),
                other("heating", PropertyType::Boolean, false, true),
            ],
            DeviceKind::Motor => vec![
                number("temperature", "°C", 0.0, 80.0, false, true),
                number("vibration", "mm/s", 0.0, 7.1, false, true),
                number("speed", "%", 0.0, 100.0, true, true),
                number("wear", "%", 0.0, 100.0, false, true),
            ],
            DeviceKind::EnvironmentSensor => vec![
                number("temperature", "°C", -40.0, 85.0, false, true),
                number("humidity", "%", 0.0, 100.0, false, true),
                number("battery", "%", 0.0, 100.0, false, true),
                number("samplingRate", "ms", 100.0, 60_000.0, true, false),
            ],
        }
    }

    /// Advances the true physical state by `dt_secs` of simulated time
    /// (`now` gives the time of day) and `real_dt_secs` of wall time (for
    /// the motor's speed ramp, which a person watches).
    pub fn advance(&mut self, dt_secs: f64, real_dt_secs: f64, now: Millis) {
        match self {
            Self::Thermostat(t) => {
                // The controller decides at the start of the step; short steps
                // keep the switching band honest.
                if t.mode == "heat" {
                    let temperature = t.room.temperature();
                    if temperature < t.setpoint - THERMOSTAT_HYSTERESIS {
                        t.heating = true;
                    } else if temperature > t.setpoint + THERMOSTAT_HYSTERESIS {
                        t.heating = false;
                    }
                } else {
                    t.heating = false;
                }
                t.room.step(if t.heating { 1.0 } else { 0.0 }, dt_secs);
            }
            Self::Motor(m) => {
                let max_change = MOTOR_RAMP_PER_SEC * real_dt_secs.max(0.0);
                let gap = m.target_speed - m.speed;
                m.speed = if gap.abs() <= max_change {
                    m.target_speed
                } else {
                    m.speed + max_change.copysign(gap)
                };
                let load = m.speed / 100.0;
                m.thermal.step(load, dt_secs);
                m.bearing.step(load, dt_secs);
            }
            Self::EnvironmentSensor(e) => {
                // Outdoor-like daily cycle: coolest at 04:00, warmest at 16:00 UTC.
                let day_fraction = (now % 86_400_000) as f64 / 86_400_000.0;
                let phase = (day_fraction - 10.0 / 24.0) * std::f64::consts::TAU;
                e.air.ambient = 18.0 + 6.0 * phase.sin();
                e.air.step(0.0, dt_secs);
                e.battery = (e.battery - BATTERY_DRAIN_PER_HOUR * dt_secs / 3600.0).max(0.0);
            }
        }
    }

    /// Readings of the measured and telemetry properties (writable controls
    /// that are telemetry, like the motor's speed, included).
    pub fn measure(&mut self, dt_secs: f64) -> BTreeMap<String, TelemetryValue> {
        let mut values = BTreeMap::new();
        let mut put = |name: &str, value: f64| {
            values.insert(name.to_string(), TelemetryValue::Number(round(value, 2)));
        };
        match self {
            Self::Thermostat(t) => {
                put(
                    "temperature",
                    t.thermometer.measure(t.room.temperature(), dt_secs),
                );
                values.insert("heating".into(), TelemetryValue::Bool(t.heating));
            }
            Self::Motor(m) => {
                let load = m.speed / 100.0;
                put(
                    "temperature",
                    m.thermometer.measure(m.thermal.temperature(), dt_secs),
                );
                let vibration = m.accelerometer.measure(m.bearing.vibration(load), dt_secs);
                put("vibration", vibration.max(0.0));
                put("speed", m.speed);
                put("wear", (m.bearing.wear() * 100.0).min(100.0));
            }
            Self::EnvironmentSensor(e) => {
                let temperature = e.air.temperature();
                put("temperature", e.thermometer.measure(temperature, dt_secs));
                // Relative humidity falls as the air warms (same moisture).
                let humidity = (55.0 - 2.5 * (temperature - 18.0)).clamp(5.0, 95.0);
                put(
                    "humidity",
                    e.hygrometer.measure(humidity, dt_secs).clamp(0.0, 100.0),
                );
                put("battery", e.battery);
            }
        }
        values
    }

    /// The current values of the writable properties that are not
    /// telemetry (reported with `state` messages).
    pub fn controls(&self) -> BTreeMap<String, Value> {
        match self {
            Self::Thermostat(t) => [
                ("setpoint".to_string(), json!(t.setpoint)),
                ("mode".to_string(), json!(t.mode)),
            ]
            .into(),
            Self::Motor(_) => BTreeMap::new(),
            Self::EnvironmentSensor(e) => {
                [("samplingRate".to_string(), json!(e.sampling_rate))].into()
            }
        }
    }

    /// The current value of a writable property, as reported.
    pub fn control(&self, property: &str) -> Option<Value> {
        match (self, property) {
            (Self::Motor(m), "speed") => Some(json!(m.speed)),
            _ => self.controls().remove(property),
        }
    }

    /// Checks a desired value beyond type and range (which the
    /// configuration covers).
    pub fn check_desired(&self, property: &str, value: &Value) -> Result<(), String> {
        match (self, property) {
            (Self::Thermostat(_), "mode") => match value.as_str() {
                Some("heat" | "off") => Ok(()),
                _ => Err("must be \"heat\" or \"off\"".into()),
            },
            _ => Ok(()),
        }
    }

    /// Applies a desired value the device has checked.
    pub fn apply_desired(&mut self, property: &str, value: &Value) {
        match (self, property) {
            (Self::Thermostat(t), "setpoint") => {
                if let Some(v) = value.as_f64() {
                    t.setpoint = v;
                }
            }
            (Self::Thermostat(t), "mode") => {
                if let Some(v) = value.as_str() {
                    t.mode = v.to_owned();
                }
            }
            (Self::Motor(m), "speed") => {
                if let Some(v) = value.as_f64() {
                    m.target_speed = v;
                }
            }
            (Self::EnvironmentSensor(e), "samplingRate") => {
                if let Some(v) = value.as_f64() {
                    e.sampling_rate = v;
                }
            }
            _ => {}
        }
    }

    /// The telemetry interval the device wants, if it sets its own.
    pub fn telemetry_interval_ms(&self) -> Option<Millis> {
        match self {
            Self::EnvironmentSensor(e) => Some(e.sampling_rate.round() as Millis),
            _ => None,
        }
    }

    /// The sensor behind a measured property.
    pub fn sensor_mut(&mut self, property: &str) -> Option<&mut Sensor> {
        match (self, property) {
            (Self::Thermostat(t), "temperature") => Some(&mut t.thermometer),
            (Self::Motor(m), "temperature") => Some(&mut m.thermometer),
            (Self::Motor(m), "vibration") => Some(&mut m.accelerometer),
            (Self::EnvironmentSensor(e), "temperature") => Some(&mut e.thermometer),
            (Self::EnvironmentSensor(e), "humidity") => Some(&mut e.hygrometer),
            _ => None,
        }
    }

    /// The measured properties (those with a sensor, which faults target).
    pub fn measured(&self) -> &'static [&'static str] {
        match self {
            Self::Thermostat(_) => &["temperature"],
            Self::Motor(_) => &["temperature", "vibration"],
            Self::EnvironmentSensor(_) => &["temperature", "humidity"],
        }
    }

    /// Runs a command specific to this kind; `None` when the kind does not
    /// know it.
    pub fn run_command(&mut self, name: &str) -> Option<Result<Value, String>> {
        match (self, name) {
            (Self::Motor(m), "resetWear") => {
                let before = m.bearing.wear();
                m.bearing.reset();
                Some(Ok(json!({ "previousWear": round(before * 100.0, 2) })))
            }
            _ => None,
        }
    }
}

/// Rounds to `decimals` places (readings are sent with sensor precision).
pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
