//! Device configuration (the reference's `DeviceConfig`, `PropertyDefinition`
//! and `ConnectionConfig`), its validation, and twin options the reference
//! lacks.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ConfigError;
use crate::limits::{self, MAX_PROPERTIES};
use crate::sync::ConflictStrategy;
use crate::Millis;

/// Telemetry interval assumed when a configuration gives none: one second.
pub const DEFAULT_TELEMETRY_INTERVAL_MS: Millis = 1_000;
/// Smallest default telemetry history, in points per property.
pub const MIN_DEFAULT_HISTORY: usize = 1_000;
/// Largest default telemetry history, in points per property (24 h at 864 ms).
pub const MAX_DEFAULT_HISTORY: usize = 100_000;
/// How long a command may take before it fails, unless configured: 30 s.
pub const DEFAULT_COMMAND_TIMEOUT_MS: Millis = 30_000;
const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// What a twin mirrors: a device, its properties and how to reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceConfig {
    /// Unique device identifier.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Device type or category.
    #[serde(rename = "type")]
    pub device_type: String,
    /// The device's properties.
    pub properties: Vec<PropertyDefinition>,
    /// Expected interval between telemetry messages, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry_interval: Option<Millis>,
    /// Connection protocol; none for a twin fed in-process only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<ConnectionType>,
    /// Connection settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_config: Option<ConnectionConfig>,
}

/// A property of a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    /// Property name.
    pub name: String,
    /// Data type.
    #[serde(rename = "type")]
    pub kind: PropertyType,
    /// Unit of measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Minimum value: desired values below it are refused, reported values
    /// below it raise alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Maximum value, as `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Whether it can be set through desired state.
    #[serde(default)]
    pub writable: bool,
    /// Whether its values are kept in the telemetry history.
    #[serde(default)]
    pub telemetry: bool,
}

/// The data type of a property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PropertyType {
    /// A finite number.
    Number,
    /// Text.
    String,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
    /// A type name twinkit does not know; refused by validation, kept so the
    /// error can name it.
    #[serde(untagged)]
    Unknown(String),
}

impl PropertyType {
    /// The type's name as written in configurations.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Number => "number",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Unknown(other) => other,
        }
    }

    /// Whether a JSON value has this type (null never does).
    pub fn accepts(&self, value: &Value) -> bool {
        matches!(
            (self, value),
            (Self::Number, Value::Number(_))
                | (Self::String, Value::String(_))
                | (Self::Boolean, Value::Bool(_))
                | (Self::Object, Value::Object(_))
                | (Self::Array, Value::Array(_))
        )
    }

    /// The type's name for error messages.
    pub(crate) fn static_name(&self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Unknown(_) => "unknown type",
        }
    }
}

/// How a twin reaches its device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ConnectionType {
    /// MQTT over WebSocket.
    Mqtt,
    /// twinkit's JSON protocol over WebSocket.
    Websocket,
    /// REST over HTTP, polled.
    Http,
    /// A connection type twinkit does not know; refused by validation.
    #[serde(untagged)]
    Unknown(String),
}

/// Connection settings.
///
/// `password` is never serialized and never shown by `Debug`, so it cannot
/// leak into logs, events or errors.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionConfig {
    /// Broker or server URL (`ws://`, `wss://`, `http://` or `https://`).
    pub url: String,
    /// Authentication user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Authentication password (write-only).
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// MQTT topic prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Whether to reconnect automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<bool>,
    /// Delay before reconnecting, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_interval: Option<Millis>,
    /// MQTT protocol level, as MQTT.js names it: 4 (MQTT 3.1.1, the
    /// default) or 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<u8>,
    /// MQTT keepalive in seconds, as MQTT.js names it (default 120; 0 turns
    /// PINGREQ off). The twin pings after half of it without sending, so a
    /// timer of a hidden tab up to a minute late still pings in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<u16>,
    /// MQTT topics and payloads: `twinkit` (the default: `{topic}/{id}/...`
    /// with twinkit's JSON messages) or `aws-shadow` (the AWS IoT Device
    /// Shadow's `$aws/things/{thing}/shadow/...` topics and documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_scheme: Option<MqttTopicScheme>,
    /// The AWS IoT thing whose shadow the twin follows in `aws-shadow`
    /// mode (default: the device id). 1 to 128 of `[a-zA-Z0-9:_-]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
}

/// How an MQTT connection lays out its topics and payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MqttTopicScheme {
    /// twinkit's scheme: `{topic}/{deviceId}/telemetry`, `/reported`,
    /// `/desired`, `/commands`, `/commands/response`, `/status`.
    #[default]
    Twinkit,
    /// AWS IoT Device Shadow (classic shadow): desired values go to
    /// `$aws/things/{thing}/shadow/update`, reported state comes from its
    /// `update/accepted`, `update/delta` and `get/accepted`.
    AwsShadow,
}

/// Whether `name` is an AWS IoT thing name: 1 to 128 of `[a-zA-Z0-9:_-]`.
pub fn is_thing_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

impl fmt::Debug for ConnectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("topic", &self.topic)
            .field("reconnect", &self.reconnect)
            .field("reconnect_interval", &self.reconnect_interval)
            .field("protocol_version", &self.protocol_version)
            .field("keepalive", &self.keepalive)
            .field("topic_scheme", &self.topic_scheme)
            .field("thing_name", &self.thing_name)
            .finish()
    }
}

impl DeviceConfig {
    /// Reads a configuration from JSON text, naming the path of any field of
    /// the wrong shape, then validates it.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let config: Self = serde_path_to_error::deserialize(de).map_err(malformed)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a configuration from a JSON value (as bindings receive it),
    /// naming the path of any field of the wrong shape, then validates it.
    pub fn from_value(value: Value) -> Result<Self, ConfigError> {
        let config: Self = serde_path_to_error::deserialize(value).map_err(malformed)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule a twin relies on; the first problem found is
    /// returned, naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_text("id", &self.id)?;
        if let Some(c) = self.id.chars().find(|c| matches!(c, '/' | '+' | '#')) {
            return Err(ConfigError::Invalid {
                field: "id".into(),
                reason: format!("must not contain `{c}` (it is special in MQTT topics)"),
            });
        }
        if self.name.trim().is_empty() {
            return Err(ConfigError::Empty {
                field: "name".into(),
            });
        }
        check_text("type", &self.device_type)?;
        if self.properties.len() > MAX_PROPERTIES {
            return Err(ConfigError::Invalid {
                field: "properties".into(),
                reason: format!("declares more than {MAX_PROPERTIES} properties"),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (index, property) in self.properties.iter().enumerate() {
            property.validate(index)?;
            if !seen.insert(property.name.as_str()) {
                return Err(ConfigError::DuplicateProperty {
                    index,
                    name: property.name.clone(),
                });
            }
        }
        if self.telemetry_interval == Some(0) {
            return Err(ConfigError::Invalid {
                field: "telemetryInterval".into(),
                reason: "must be greater than 0".into(),
            });
        }
        if let Some(ConnectionType::Unknown(value)) = &self.connection_type {
            return Err(ConfigError::UnknownConnectionType {
                value: limits::printable(value),
            });
        }
        if let Some(kind) = &self.connection_type {
            let connection = self.connection_config.as_ref().ok_or(ConfigError::Empty {
                field: "connectionConfig".into(),
            })?;
            connection.validate(kind, &self.id)?;
        }
        Ok(())
    }

    /// The declared property with this name.
    pub fn property(&self, name: &str) -> Option<&PropertyDefinition> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The telemetry interval, or [`DEFAULT_TELEMETRY_INTERVAL_MS`].
    pub fn telemetry_interval_ms(&self) -> Millis {
        self.telemetry_interval
            .unwrap_or(DEFAULT_TELEMETRY_INTERVAL_MS)
    }

    /// Default history size: enough points per property for 24 hours at the
    /// telemetry interval, within [`MIN_DEFAULT_HISTORY`] and
    /// [`MAX_DEFAULT_HISTORY`].
    pub fn default_history_capacity(&self) -> usize {
        let points = DAY_MS.div_ceil(self.telemetry_interval_ms().max(1));
        usize::try_from(points)
            .unwrap_or(MAX_DEFAULT_HISTORY)
            .clamp(MIN_DEFAULT_HISTORY, MAX_DEFAULT_HISTORY)
    }
}

impl PropertyDefinition {
    fn validate(&self, index: usize) -> Result<(), ConfigError> {
        let field = |suffix: &str| format!("properties[{index}].{suffix}");
        if let Some(reason) = limits::name_problem(&self.name) {
            return Err(if self.name.is_empty() {
                ConfigError::Empty {
                    field: field("name"),
                }
            } else {
                ConfigError::Invalid {
                    field: field("name"),
                    reason: format!("`{}` {reason}", limits::printable(&self.name)),
                }
            });
        }
        if let PropertyType::Unknown(value) = &self.kind {
            return Err(ConfigError::UnknownPropertyType {
                index,
                value: limits::printable(value),
            });
        }
        if (self.min.is_some() || self.max.is_some()) && self.kind != PropertyType::Number {
            return Err(ConfigError::Invalid {
                field: field("min"),
                reason: format!(
                    "min and max apply only to number properties, not {}",
                    self.kind.as_str()
                ),
            });
        }
        for (name, bound) in [("min", self.min), ("max", self.max)] {
            if bound.is_some_and(|b| !b.is_finite()) {
                return Err(ConfigError::Invalid {
                    field: field(name),
                    reason: "must be a finite number".into(),
                });
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            if min > max {
                return Err(ConfigError::MinGreaterThanMax {
                    index,
                    name: self.name.clone(),
                    min,
                    max,
                });
            }
        }
        if self.telemetry && matches!(self.kind, PropertyType::Object | PropertyType::Array) {
            return Err(ConfigError::Invalid {
                field: field("telemetry"),
                reason: format!(
                    "telemetry carries numbers, strings and booleans, not {}",
                    self.kind.as_str()
                ),
            });
        }
        Ok(())
    }
}

impl ConnectionConfig {
    fn validate(&self, kind: &ConnectionType, device_id: &str) -> Result<(), ConfigError> {
        if self.url.trim().is_empty() {
            return Err(ConfigError::Empty {
                field: "connectionConfig.url".into(),
            });
        }
        let schemes: &[&str] = match kind {
            ConnectionType::Http => &["http://", "https://"],
            _ => &["ws://", "wss://"],
        };
        let lower = self.url.to_ascii_lowercase();
        if !schemes.iter().any(|s| lower.starts_with(s)) {
            return Err(ConfigError::Invalid {
                field: "connectionConfig.url".into(),
                reason: format!("must start with {}", schemes.join(" or ")),
            });
        }
        if self.reconnect_interval == Some(0) {
            return Err(ConfigError::Invalid {
                field: "connectionConfig.reconnectInterval".into(),
                reason: "must be greater than 0".into(),
            });
        }
        if self.protocol_version.is_some_and(|v| v != 4 && v != 5) {
            return Err(ConfigError::Invalid {
                field: "connectionConfig.protocolVersion".into(),
                reason: "must be 4 (MQTT 3.1.1) or 5".into(),
            });
        }
        if self.topic_scheme.is_some() && *kind != ConnectionType::Mqtt {
            return Err(ConfigError::Invalid {
                field: "connectionConfig.topicScheme".into(),
                reason: "applies to mqtt connections only".into(),
            });
        }
        if let Some(thing) = &self.thing_name {
            if self.topic_scheme != Some(MqttTopicScheme::AwsShadow) {
                return Err(ConfigError::Invalid {
                    field: "connectionConfig.thingName".into(),
                    reason: "applies to topicScheme 'aws-shadow' only".into(),
                });
            }
            if !is_thing_name(thing) {
                return Err(ConfigError::Invalid {
                    field: "connectionConfig.thingName".into(),
                    reason: "an AWS thing name is 1 to 128 of letters, digits, ':', '_' and '-'"
                        .into(),
                });
            }
        } else if self.topic_scheme == Some(MqttTopicScheme::AwsShadow) && !is_thing_name(device_id)
        {
            return Err(ConfigError::Invalid {
                field: "connectionConfig.thingName".into(),
                reason: "needed: the device id is not an AWS thing name (1 to 128 of letters, digits, ':', '_' and '-')".into(),
            });
        }
        Ok(())
    }
}

fn malformed<E: fmt::Display>(e: serde_path_to_error::Error<E>) -> ConfigError {
    ConfigError::Malformed {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    }
}

fn check_text(field: &str, value: &str) -> Result<(), ConfigError> {
    match limits::name_problem(value) {
        None => Ok(()),
        Some(_) if value.trim().is_empty() => Err(ConfigError::Empty {
            field: field.into(),
        }),
        Some(reason) => Err(ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }),
    }
}

/// Twin settings the reference's `DeviceConfig` does not carry. Every field
/// has a documented default; `TwinOptions::default()` gives them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct TwinOptions {
    /// Telemetry points kept per property. Default: 24 hours at the
    /// telemetry interval, between 1,000 and 100,000
    /// ([`DeviceConfig::default_history_capacity`]).
    pub history_capacity: Option<usize>,
    /// How long a command may take to complete before it fails, in ms.
    /// Default: 30,000.
    pub command_timeout: Millis,
    /// Most commands awaiting completion at once. Default: 256.
    pub max_pending_commands: usize,
    /// Finished commands and cleared alerts kept for inspection. Default: 100.
    pub max_finished: usize,
    /// A value outside min/max by more than this fraction of the span
    /// (max − min, or |bound| when only one bound exists) is critical.
    /// Default: 0.10.
    pub critical_margin: f64,
    /// An alert clears only once the value is back inside min/max by this
    /// fraction of the span. Default: 0.02.
    pub hysteresis: f64,
    /// Per property, explicit critical limits that replace the margin.
    pub critical_bands: BTreeMap<String, CriticalBand>,
    /// What happens to a desired edit based on a stale version: `reject`,
    /// `lastWriterWins`, `deviceWins` or `custom` (see [`crate::sync`]).
    /// Default: `reject`.
    pub conflict_strategy: ConflictStrategy,
    /// How long a desired value may go unreported before a
    /// `DESIRED_NOT_REACHED` alert, in ms. Default: none (no alert).
    pub divergence_timeout: Option<Millis>,
    /// Sync records kept (desired values sent, reports of properties with a
    /// desired value). Default: 256.
    pub sync_history_capacity: usize,
    /// Audit entries kept (desired values and commands sent to the device);
    /// the oldest are dropped beyond it. Default: 1,000.
    pub audit_capacity: usize,
}

/// Explicit critical limits for one property.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CriticalBand {
    /// Values below this are critical.
    pub below: Option<f64>,
    /// Values above this are critical.
    pub above: Option<f64>,
}

impl Default for TwinOptions {
    fn default() -> Self {
        Self {
            history_capacity: None,
            command_timeout: DEFAULT_COMMAND_TIMEOUT_MS,
            max_pending_commands: 256,
            max_finished: 100,
            critical_margin: 0.10,
            hysteresis: 0.02,
            critical_bands: BTreeMap::new(),
            conflict_strategy: ConflictStrategy::Reject,
            divergence_timeout: None,
            sync_history_capacity: 256,
            audit_capacity: 1_000,
        }
    }
}

impl TwinOptions {
    /// Checks the options against a configuration.
    pub fn validate(&self, config: &DeviceConfig) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        };
        if self.history_capacity == Some(0) {
            return Err(invalid("historyCapacity", "must be greater than 0"));
        }
        if self.command_timeout == 0 {
            return Err(invalid("commandTimeout", "must be greater than 0"));
        }
        if self.max_pending_commands == 0 {
            return Err(invalid("maxPendingCommands", "must be greater than 0"));
        }
        if !(self.critical_margin.is_finite() && self.critical_margin >= 0.0) {
            return Err(invalid("criticalMargin", "must be a finite number ≥ 0"));
        }
        if !(self.hysteresis.is_finite() && (0.0..1.0).contains(&self.hysteresis)) {
            return Err(invalid("hysteresis", "must be a number in [0, 1)"));
        }
        if self.divergence_timeout == Some(0) {
            return Err(invalid("divergenceTimeout", "must be greater than 0"));
        }
        for name in self.critical_bands.keys() {
            match config.property(name) {
                Some(p) if p.kind == PropertyType::Number => {}
                _ => {
                    return Err(ConfigError::Invalid {
                        field: format!("criticalBands.{}", limits::printable(name)),
                        reason: "names no number property".into(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Reads options from a JSON value, naming the path of any field of the
    /// wrong shape; they are validated against a configuration when a twin
    /// is created.
    pub fn from_value(value: Value) -> Result<Self, ConfigError> {
        serde_path_to_error::deserialize(value).map_err(malformed)
    }

    /// History capacity for a configuration: the option, or its default.
    pub fn history_capacity_for(&self, config: &DeviceConfig) -> usize {
        self.history_capacity
            .unwrap_or_else(|| config.default_history_capacity())
    }
}
