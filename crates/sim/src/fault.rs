//! Faults a simulated device injects on request (the `fault` command).

use serde::{Deserialize, Serialize};
use twinkit_core::physics::SensorFault;
use twinkit_core::Millis;

/// Longest connection drop a `dropConnection` fault may ask for: 10 minutes.
pub const MAX_DROP_MS: Millis = 10 * 60 * 1000;
/// Most malformed payloads one `malformed` fault may ask for.
pub const MAX_MALFORMED: u32 = 100;

/// A fault, as the payload of the `fault` command:
/// `{"kind": "drift", "property": "temperature", "rate": 0.05}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum Fault {
    /// The property's sensor drifts by `rate` units per second (of
    /// simulated time) until `calibrate`.
    Drift {
        /// A measured property.
        property: String,
        /// Units per second, may be negative.
        rate: f64,
    },
    /// The property's sensor sticks at its last reading (or `value`).
    Stuck {
        /// A measured property.
        property: String,
        /// The value to stick at.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
    },
    /// Readings of the property jump by ±`magnitude` with `probability`.
    Spikes {
        /// A measured property.
        property: String,
        /// Chance per reading, in [0, 1].
        probability: f64,
        /// Size of a spike.
        magnitude: f64,
    },
    /// The device drops its connections and stays offline for
    /// `durationMs` (at most [`MAX_DROP_MS`]); telemetry pauses meanwhile.
    DropConnection {
        /// How long it stays offline, in ms.
        duration_ms: Millis,
    },
    /// The next `count` telemetry records are each preceded by a malformed
    /// payload (truncated JSON) on the telemetry channel; the real records
    /// still follow, so no reading is lost.
    Malformed {
        /// How many (1 to [`MAX_MALFORMED`]; default 1).
        #[serde(default = "one")]
        count: u32,
    },
    /// Ends the sensor faults of `property`, or of every property.
    Clear {
        /// The property; all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        property: Option<String>,
    },
}

fn one() -> u32 {
    1
}

impl Fault {
    /// The fault's `kind` as written in the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Drift { .. } => "drift",
            Self::Stuck { .. } => "stuck",
            Self::Spikes { .. } => "spikes",
            Self::DropConnection { .. } => "dropConnection",
            Self::Malformed { .. } => "malformed",
            Self::Clear { .. } => "clear",
        }
    }

    /// Checks the numbers; the property is checked by the device.
    pub fn validate(&self) -> Result<(), String> {
        let finite = |name: &str, x: f64| {
            if x.is_finite() {
                Ok(())
            } else {
                Err(format!("`{name}` must be a finite number"))
            }
        };
        match self {
            Self::Drift { rate, .. } => finite("rate", *rate),
            Self::Stuck { value, .. } => value.map_or(Ok(()), |v| finite("value", v)),
            Self::Spikes {
                probability,
                magnitude,
                ..
            } => {
                finite("magnitude", *magnitude)?;
                if (0.0..=1.0).contains(probability) {
                    Ok(())
                } else {
                    Err("`probability` must be between 0 and 1".into())
                }
            }
            Self::DropConnection { duration_ms } => {
                if (1..=MAX_DROP_MS).contains(duration_ms) {
                    Ok(())
                } else {
                    Err(format!("`durationMs` must be between 1 and {MAX_DROP_MS}"))
                }
            }
            Self::Malformed { count } => {
                if (1..=MAX_MALFORMED).contains(count) {
                    Ok(())
                } else {
                    Err(format!("`count` must be between 1 and {MAX_MALFORMED}"))
                }
            }
            Self::Clear { .. } => Ok(()),
        }
    }

    /// The sensor fault and its property, for the sensor faults.
    pub(crate) fn sensor_fault(&self) -> Option<(&str, SensorFault)> {
        match self {
            Self::Drift { property, rate } => Some((property, SensorFault::Drift { rate: *rate })),
            Self::Stuck { property, value } => {
                Some((property, SensorFault::Stuck { value: *value }))
            }
            Self::Spikes {
                property,
                probability,
                magnitude,
            } => Some((
                property,
                SensorFault::Spikes {
                    probability: *probability,
                    magnitude: *magnitude,
                },
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_and_are_checked() {
        let f: Fault =
            serde_json::from_str(r#"{"kind":"dropConnection","durationMs":500}"#).unwrap();
        assert_eq!(f, Fault::DropConnection { duration_ms: 500 });
        assert!(f.validate().is_ok());
        let f: Fault = serde_json::from_str(r#"{"kind":"malformed"}"#).unwrap();
        assert_eq!(f, Fault::Malformed { count: 1 });
        assert!(Fault::DropConnection { duration_ms: 0 }.validate().is_err());
        assert!(Fault::Spikes {
            property: "t".into(),
            probability: 1.5,
            magnitude: 1.0
        }
        .validate()
        .is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"melt"}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"drift","property":"t"}"#).is_err());
        assert!(
            serde_json::from_str::<Fault>(r#"{"kind":"clear","__proto__":{}}"#).is_err(),
            "unknown fields are refused"
        );
    }
}
