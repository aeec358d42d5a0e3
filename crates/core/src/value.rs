//! Values a device reports as telemetry, and telemetry records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Millis;

/// One telemetry value: the reference's `number | string | boolean`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TelemetryValue {
    /// A boolean reading.
    Bool(bool),
    /// A numeric reading (always finite: JSON has no NaN or infinity).
    Number(f64),
    /// A textual reading.
    String(String),
}

impl TelemetryValue {
    /// Converts a JSON value; `None` for null, objects and arrays, which
    /// telemetry cannot carry.
    pub fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(Self::Bool(*b)),
            Value::Number(n) => n.as_f64().map(Self::Number),
            Value::String(s) => Some(Self::String(s.clone())),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// The numeric value, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Self::String(s) => Value::String(s.clone()),
        }
    }
}

/// Read by a visitor rather than `#[serde(untagged)]`, which buffers each
/// value and builds an error for every variant it tries first: that was
/// most of the cost of decoding a telemetry message.
impl<'de> Deserialize<'de> for TelemetryValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = TelemetryValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, a string or a boolean")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(TelemetryValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TelemetryValue::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TelemetryValue::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(TelemetryValue::Number(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TelemetryValue::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(TelemetryValue::String(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A telemetry record: the values a device sent at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryData {
    /// The device that sent the values.
    pub device_id: String,
    /// When the values were measured (ms since the Unix epoch).
    pub timestamp: Millis,
    /// Property name to value.
    pub values: BTreeMap<String, TelemetryValue>,
}

/// Short name of a JSON value's type, for error messages.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_scalars_and_refuses_structures() {
        assert_eq!(
            TelemetryValue::from_json(&json!(1.5)),
            Some(TelemetryValue::Number(1.5))
        );
        assert_eq!(
            TelemetryValue::from_json(&json!(true)),
            Some(TelemetryValue::Bool(true))
        );
        assert_eq!(
            TelemetryValue::from_json(&json!("on")),
            Some(TelemetryValue::String("on".into()))
        );
        assert_eq!(TelemetryValue::from_json(&json!(null)), None);
        assert_eq!(TelemetryValue::from_json(&json!([1])), None);
        assert_eq!(TelemetryValue::from_json(&json!({"a": 1})), None);
    }

    #[test]
    fn reads_scalars_and_names_what_it_expected_otherwise() {
        let read = |text: &str| serde_json::from_str::<TelemetryValue>(text);
        assert_eq!(read("true").unwrap(), TelemetryValue::Bool(true));
        assert_eq!(read("-3").unwrap(), TelemetryValue::Number(-3.0));
        assert_eq!(
            read("18446744073709551615").unwrap(),
            TelemetryValue::Number(u64::MAX as f64)
        );
        assert_eq!(read("2.5").unwrap(), TelemetryValue::Number(2.5));
        assert_eq!(
            read(r#""on""#).unwrap(),
            TelemetryValue::String("on".into())
        );
        for bad in ["null", "[1]", r#"{"a": 1}"#] {
            let error = read(bad).unwrap_err().to_string();
            assert!(
                error.contains("expected a number, a string or a boolean"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn serializes_like_the_reference() {
        let data = TelemetryData {
            device_id: "d".into(),
            timestamp: 5,
            values: [("t".to_string(), TelemetryValue::Number(2.0))].into(),
        };
        assert_eq!(
            serde_json::to_value(&data).unwrap(),
            json!({"deviceId": "d", "timestamp": 5, "values": {"t": 2.0}})
        );
    }
}
