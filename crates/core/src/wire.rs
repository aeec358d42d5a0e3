//! The wire protocols between a twin and a device (or a server that speaks
//! for it): JSON messages over a WebSocket (and as MQTT payloads), and the
//! HTTP REST shape in [`http`].
//!
//! Pure types and checks, no I/O: the browser transports, the simulator and
//! tests share them.
//!
//! # WebSocket JSON
//!
//! One JSON object per text frame, tagged by `type`, fields in camelCase.
//! Every message but `ping`/`pong` names its `deviceId`, so one connection
//! can carry many devices (a client sends one `hello` per device).
//!
//! | `type` | direction | fields |
//! |---|---|---|
//! | `hello` | client → server | `deviceId`, optional `token` (never echoed, never logged) |
//! | `state` | server → client | `deviceId`, `reported` (map), optional `version`, `timestamp` |
//! | `telemetry` | server → client | `deviceId`, `timestamp`, `values` (map of number, string or boolean) |
//! | `desired` | client → server | `deviceId`, `desired` (map; `null` clears), `version` |
//! | `command` | client → server | a `DeviceCommand`: `commandId`, `deviceId`, `name`, `payload`, `timestamp`, `status`, `updatedAt`, `timeoutAt` |
//! | `commandResponse` | server → client | `deviceId`, `commandId`, `status` (`acknowledged`, `completed`, `failed`), optional `result`, `error` |
//! | `status` | server → client | `deviceId`, `online`, optional `timestamp` |
//! | `ping` / `pong` | either | optional `timestamp` (a `pong` echoes the `ping`'s) |
//! | `error` | either | `code`, `message`, optional `deviceId` |
//!
//! A server answers `hello` with the device's `state`, then streams
//! `telemetry`, `state` and `commandResponse` for it. Unknown fields are
//! ignored (forward compatibility); unknown types are errors.
//!
//! ```json
//! {"type":"hello","deviceId":"thermostat-001","token":"s3cret"}
//! {"type":"state","deviceId":"thermostat-001","reported":{"setpoint":21,"temperature":19.4},"version":7}
//! {"type":"telemetry","deviceId":"thermostat-001","timestamp":1700000000000,"values":{"temperature":19.5}}
//! {"type":"desired","deviceId":"thermostat-001","desired":{"setpoint":22},"version":8}
//! {"type":"commandResponse","deviceId":"thermostat-001","commandId":"…","status":"completed","result":{"ok":true}}
//! ```
//!
//! # MQTT payloads
//!
//! On the MQTT topics `{prefix}/{deviceId}/telemetry`, `/reported`,
//! `/desired`, `/commands`, `/commands/response` and `/status` the payload is
//! the message of the matching type above (`telemetry`, `state`, `desired`,
//! `command`, `commandResponse`, `status`), so [`decode_bytes`] reads both.
//!
//! # Checks
//!
//! [`decode`] refuses, with a [`WireError`] naming the field: input over
//! [`MAX_MESSAGE_BYTES`], malformed JSON, a non-object, a missing or unknown
//! `type`, fields of the wrong shape, device ids that are empty, too long or
//! contain `/`, `+`, `#` or control characters, property and command names
//! refused by [`limits::check_name`], values refused by
//! [`limits::check_value`], and the keys `__proto__`, `constructor` and
//! `prototype` anywhere. Errors never contain the `token`.

pub mod http;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::commands::{CommandResponse, CommandStatus, DeviceCommand};
use crate::limits::{self, RESERVED_KEYS};
use crate::value::{json_type_name, TelemetryData};
use crate::Millis;

/// Largest message accepted by [`decode`], in bytes (a few full-size
/// values, see [`limits::MAX_VALUE_BYTES`]).
pub const MAX_MESSAGE_BYTES: usize = 4 * limits::MAX_VALUE_BYTES;

/// Every message `type`, as written on the wire.
pub const MESSAGE_TYPES: [&str; 10] = [
    "hello",
    "state",
    "telemetry",
    "desired",
    "command",
    "commandResponse",
    "status",
    "ping",
    "pong",
    "error",
];

/// A credential: serialized as a plain string (the client must send it),
/// but `Debug` never shows it and no error contains it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// Wraps a credential.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The credential itself, for the one place that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// One message of the WebSocket JSON protocol (and an MQTT payload): the
/// variant gives `type`, its struct the other fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Message {
    /// A client starts following a device.
    Hello(Hello),
    /// The device's reported state (all of it, or the values that changed).
    State(State),
    /// A telemetry record.
    Telemetry(TelemetryData),
    /// Desired values for the device.
    Desired(Desired),
    /// A command for the device.
    Command(DeviceCommand),
    /// The device's answer to a command.
    CommandResponse(CommandReply),
    /// The device went online or offline (MQTT: retained, and the will).
    Status(Status),
    /// Liveness probe.
    Ping(Heartbeat),
    /// Answer to a `ping`, echoing its timestamp.
    Pong(Heartbeat),
    /// Something went wrong; the connection stays open.
    Error(ErrorMessage),
}

/// `hello`: a client starts following a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    /// The device.
    pub device_id: String,
    /// Credential, checked by the server; never echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Token>,
}

/// `state`: reported values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The device.
    pub device_id: String,
    /// Property name to value; `null` removes a value.
    pub reported: BTreeMap<String, Value>,
    /// The device's state version, rising with every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// When the values were measured (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Millis>,
}

/// `desired`: desired values for the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Desired {
    /// The device.
    pub device_id: String,
    /// Property name to desired value; `null` clears it.
    pub desired: BTreeMap<String, Value>,
    /// The writer's state version these values belong to (a twin's own
    /// version when a twin sends it; the device's version when a server
    /// relays what the device accepted).
    pub version: u64,
    /// Who wrote it: an opaque id of the sending connection, so a client
    /// that follows the device's desired values (MQTT `/desired`, or a
    /// server relaying them) can tell its own edits from other clients'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The device's own version the writer had last seen when it wrote
    /// (from the device's reports), so another client can tell whether the
    /// writer knew of an edit the device had already taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_version: Option<u64>,
}

/// `commandResponse`: a [`CommandResponse`] with its device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandReply {
    /// The device.
    pub device_id: String,
    /// The command answered.
    pub command_id: String,
    /// The new status: acknowledged, completed or failed.
    pub status: CommandStatus,
    /// Result on completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CommandReply {
    /// The answer of `device_id`.
    pub fn new(device_id: impl Into<String>, response: CommandResponse) -> Self {
        Self {
            device_id: device_id.into(),
            command_id: response.command_id,
            status: response.status,
            result: response.result,
            error: response.error,
        }
    }

    /// The answer, as a twin takes it.
    pub fn into_response(self) -> CommandResponse {
        CommandResponse {
            command_id: self.command_id,
            status: self.status,
            result: self.result,
            error: self.error,
        }
    }
}

/// `status`: the device went online or offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The device.
    pub device_id: String,
    /// Whether it is online.
    pub online: bool,
    /// When the status changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Millis>,
}

/// `ping` and `pong`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    /// Any value; the `pong` echoes the `ping`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Millis>,
}

/// `error`: something went wrong; the connection stays open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessage {
    /// The device concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Stable code, e.g. `UNKNOWN_MESSAGE_TYPE` (see [`WireError::code`]).
    pub code: String,
    /// Human-readable reason.
    pub message: String,
}

impl Message {
    /// The message's `type` as written on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::State(_) => "state",
            Self::Telemetry(_) => "telemetry",
            Self::Desired(_) => "desired",
            Self::Command(_) => "command",
            Self::CommandResponse(_) => "commandResponse",
            Self::Status(_) => "status",
            Self::Ping(_) => "ping",
            Self::Pong(_) => "pong",
            Self::Error(_) => "error",
        }
    }

    /// The device the message is about, if it names one.
    pub fn device_id(&self) -> Option<&str> {
        match self {
            Self::Hello(Hello { device_id, .. })
            | Self::State(State { device_id, .. })
            | Self::Desired(Desired { device_id, .. })
            | Self::CommandResponse(CommandReply { device_id, .. })
            | Self::Status(Status { device_id, .. })
            | Self::Telemetry(TelemetryData { device_id, .. })
            | Self::Command(DeviceCommand { device_id, .. }) => Some(device_id),
            Self::Error(error) => error.device_id.as_deref(),
            Self::Ping(_) | Self::Pong(_) => None,
        }
    }

    /// An `error` message for a decoding failure.
    pub fn from_error(error: &WireError, device_id: Option<&str>) -> Self {
        Self::Error(ErrorMessage {
            device_id: device_id.map(str::to_owned),
            code: error.code().to_owned(),
            message: error.to_string(),
        })
    }

    /// The message as JSON text.
    pub fn encode(&self) -> String {
        // Only string-keyed maps and finite numbers: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks names, ids and values (after the shape was accepted).
    fn validate(&self) -> Result<(), WireError> {
        let invalid = |path: &str, reason: String| WireError::Invalid {
            message_type: self.type_name(),
            path: path.to_owned(),
            reason,
        };
        if let Some(id) = self.device_id() {
            if let Some(reason) = device_id_problem(id) {
                return Err(invalid("deviceId", reason.to_owned()));
            }
        }
        let check_map = |field: &str, map: &BTreeMap<String, Value>| {
            for (key, value) in map {
                limits::check_name(key).map_err(|e| invalid(field, e.to_string()))?;
                limits::check_value(format_args!("value of `{key}`"), value)
                    .map_err(|e| invalid(field, e.to_string()))?;
            }
            Ok(())
        };
        match self {
            Self::State(state) => check_map("reported", &state.reported),
            Self::Desired(desired) => {
                if let Some(origin) = &desired.origin {
                    check_id(origin).map_err(|r| invalid("origin", r))?;
                }
                check_map("desired", &desired.desired)
            }
            Self::Telemetry(data) => data.values.keys().try_for_each(|key| {
                limits::check_name(key).map_err(|e| invalid("values", e.to_string()))?;
                Ok(())
            }),
            Self::Command(command) => {
                limits::check_name(&command.name).map_err(|e| invalid("name", e.to_string()))?;
                check_id(&command.command_id).map_err(|r| invalid("commandId", r))?;
                limits::check_value(format_args!("payload"), &command.payload)
                    .map_err(|e| invalid("payload", e.to_string()))
            }
            Self::CommandResponse(reply) => {
                check_id(&reply.command_id).map_err(|r| invalid("commandId", r))?;
                match &reply.result {
                    Some(result) => limits::check_value(format_args!("result"), result)
                        .map_err(|e| invalid("result", e.to_string())),
                    None => Ok(()),
                }
            }
            Self::Hello(_) | Self::Status(_) | Self::Ping(_) | Self::Pong(_) | Self::Error(_) => {
                Ok(())
            }
        }
    }
}

/// Why a device id is refused on the wire (the rules of
/// `DeviceConfig::validate`); `None` when it is acceptable.
pub fn device_id_problem(id: &str) -> Option<&'static str> {
    if let Some(problem) = limits::name_problem(id) {
        return Some(problem);
    }
    if id.contains(['/', '+', '#']) {
        return Some("must not contain `/`, `+` or `#` (special in MQTT topics)");
    }
    None
}

fn check_id(id: &str) -> Result<(), String> {
    match limits::name_problem(id) {
        None => Ok(()),
        Some(reason) => Err(format!("`{}` {reason}", limits::printable(id))),
    }
}

/// A message or body was refused. Messages name the field and never
/// contain a credential.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input is larger than the limit.
    #[error("message of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The input is not JSON.
    #[error("malformed JSON at line {line}, column {column}: {reason}")]
    Json {
        /// Line of the problem (1-based).
        line: usize,
        /// Column of the problem (1-based).
        column: usize,
        /// What was wrong.
        reason: String,
    },
    /// The JSON is not an object.
    #[error("message must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type found.
        found: &'static str,
    },
    /// The object has no `type` field.
    #[error("message has no `type` field")]
    MissingType,
    /// `type` is not a known message type.
    #[error("unknown message type `{found}` (expected one of hello, state, telemetry, desired, command, commandResponse, status, ping, pong, error)")]
    UnknownType {
        /// The type given, made printable.
        found: String,
    },
    /// A field is missing or has the wrong shape.
    #[error("`{message_type}` message: `{path}` {reason}")]
    Shape {
        /// The message type.
        message_type: String,
        /// Path of the field, e.g. `values.temperature`.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A key `__proto__`, `constructor` or `prototype` appears.
    #[error("`{message_type}` message: reserved key `{key}` at `{path}`")]
    ReservedKey {
        /// The message type.
        message_type: String,
        /// The key.
        key: &'static str,
        /// Where it appears.
        path: String,
    },
    /// An id, name or value is refused.
    #[error("`{message_type}` message: `{path}`: {reason}")]
    Invalid {
        /// The message type.
        message_type: &'static str,
        /// The field.
        path: String,
        /// Why.
        reason: String,
    },
}

impl WireError {
    /// A stable code for `error` messages and HTTP error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "MESSAGE_TOO_LARGE",
            Self::Json { .. } => "MALFORMED_JSON",
            Self::UnknownType { .. } => "UNKNOWN_MESSAGE_TYPE",
            Self::NotAnObject { .. }
            | Self::MissingType
            | Self::Shape { .. }
            | Self::ReservedKey { .. }
            | Self::Invalid { .. } => "INVALID_MESSAGE",
        }
    }
}

/// Reads one message from JSON text, checking everything listed in the
/// module documentation.
pub fn decode(text: &str) -> Result<Message, WireError> {
    decode_bytes(text.as_bytes())
}

/// Reads one message from bytes (a binary frame or an MQTT payload).
pub fn decode_bytes(bytes: &[u8]) -> Result<Message, WireError> {
    let value = parse_json(bytes, MAX_MESSAGE_BYTES)?;
    let object = value.as_object().ok_or(WireError::NotAnObject {
        found: json_type_name(&value),
    })?;
    let message_type = match object.get("type") {
        None => return Err(WireError::MissingType),
        Some(Value::String(t)) if MESSAGE_TYPES.contains(&t.as_str()) => t.clone(),
        Some(Value::String(t)) => {
            return Err(WireError::UnknownType {
                found: limits::printable(t),
            })
        }
        Some(other) => {
            return Err(WireError::Shape {
                message_type: "?".into(),
                path: "type".into(),
                reason: format!("must be a string, got {}", json_type_name(other)),
            })
        }
    };
    reject_reserved_keys(&value, &message_type)?;
    // Each type's struct is read on its own (the `type` key is ignored as
    // an unknown field), so a shape error names its field's path: serde's
    // internally tagged enums buffer their content and lose it.
    let t = message_type.as_str();
    let message = match t {
        "hello" => Message::Hello(from_value(value, t)?),
        "state" => Message::State(from_value(value, t)?),
        "telemetry" => Message::Telemetry(from_value(value, t)?),
        "desired" => Message::Desired(from_value(value, t)?),
        "command" => Message::Command(from_value(value, t)?),
        "commandResponse" => Message::CommandResponse(from_value(value, t)?),
        "status" => Message::Status(from_value(value, t)?),
        "ping" => Message::Ping(from_value(value, t)?),
        "pong" => Message::Pong(from_value(value, t)?),
        _ => Message::Error(from_value(value, t)?),
    };
    message.validate()?;
    Ok(message)
}

/// Parses JSON bytes under a size limit, with the position of any error.
pub(crate) fn parse_json(bytes: &[u8], limit: usize) -> Result<Value, WireError> {
    if bytes.len() > limit {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    // serde_json refuses nesting deeper than 128 levels, so this recursion
    // and the key walk below are bounded.
    serde_json::from_slice(bytes).map_err(|e| WireError::Json {
        line: e.line(),
        column: e.column(),
        reason: short(&strip_position(&e.to_string())),
    })
}

/// Deserializes a checked JSON value into `T`, naming the path of a field of
/// the wrong shape. Reasons are shortened, and a problem under `token`
/// never quotes the input.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    value: Value,
    message_type: &str,
) -> Result<T, WireError> {
    // The plain read first: tracking the path costs on every message, and
    // is only needed to explain a failure.
    if let Ok(message) = T::deserialize(&value) {
        return Ok(message);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let reason = if path.split('.').any(|segment| segment == "token") {
            "must be a string".to_owned()
        } else {
            short(&e.inner().to_string())
        };
        WireError::Shape {
            message_type: message_type.to_owned(),
            path,
            reason,
        }
    })
}

/// Refuses `__proto__`, `constructor` and `prototype` as keys anywhere.
pub(crate) fn reject_reserved_keys(value: &Value, message_type: &str) -> Result<(), WireError> {
    /// One step of the path to a value; the path is only spelled out for
    /// an error, so clean messages allocate nothing here.
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }
    fn walk<'a>(value: &'a Value, path: &mut Vec<Step<'a>>) -> Result<(), &'static str> {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    if let Some(reserved) = RESERVED_KEYS.iter().find(|r| **r == key) {
                        return Err(reserved);
                    }
                    path.push(Step::Key(key));
                    walk(item, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    walk(item, path)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    let mut path = Vec::new();
    walk(value, &mut path).map_err(|key| {
        let mut spelled = String::new();
        for step in &path {
            match step {
                Step::Key(key) => {
                    if !spelled.is_empty() {
                        spelled.push('.');
                    }
                    spelled.push_str(&limits::printable(key));
                }
                Step::Index(i) => spelled.push_str(&format!("[{i}]")),
            }
        }
        WireError::ReservedKey {
            message_type: message_type.to_owned(),
            key,
            path: if spelled.is_empty() {
                ".".into()
            } else {
                spelled
            },
        }
    })
}

/// serde_json appends " at line L column C"; the position has its own fields.
fn strip_position(reason: &str) -> String {
    match reason.rfind(" at line ") {
        Some(i) => reason[..i].to_owned(),
        None => reason.to_owned(),
    }
}

/// Keeps an error reason short and printable (serde quotes the input it
/// refused, which may be large).
fn short(reason: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = reason
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if reason.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::TelemetryValue;
    use serde_json::json;

    fn round_trip(message: &Message, expected: Value) {
        let text = message.encode();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
        assert_eq!(&decode(&text).unwrap(), message);
    }

    #[test]
    fn every_type_round_trips_in_its_documented_shape() {
        round_trip(
            &Message::Hello(Hello {
                device_id: "t-1".into(),
                token: Some(Token::new("s3cret")),
            }),
            json!({"type": "hello", "deviceId": "t-1", "token": "s3cret"}),
        );
        round_trip(
            &Message::State(State {
                device_id: "t-1".into(),
                reported: [("setpoint".to_string(), json!(21))].into(),
                version: Some(7),
                timestamp: None,
            }),
            json!({"type": "state", "deviceId": "t-1", "reported": {"setpoint": 21}, "version": 7}),
        );
        round_trip(
            &Message::Telemetry(TelemetryData {
                device_id: "t-1".into(),
                timestamp: 1_700_000_000_000,
                values: [
                    ("temperature".to_string(), TelemetryValue::Number(19.5)),
                    ("heating".to_string(), TelemetryValue::Bool(true)),
                ]
                .into(),
            }),
            json!({"type": "telemetry", "deviceId": "t-1", "timestamp": 1_700_000_000_000u64,
                   "values": {"temperature": 19.5, "heating": true}}),
        );
        round_trip(
            &Message::Desired(Desired {
                device_id: "t-1".into(),
                desired: [
                    ("setpoint".to_string(), json!(22)),
                    ("mode".to_string(), Value::Null),
                ]
                .into(),
                version: 8,
                origin: None,
                device_version: None,
            }),
            json!({"type": "desired", "deviceId": "t-1", "desired": {"setpoint": 22, "mode": null}, "version": 8}),
        );
        let command = DeviceCommand {
            command_id: "c-1".into(),
            device_id: "t-1".into(),
            name: "reboot".into(),
            payload: json!({"delay": 5}),
            timestamp: 10,
            status: CommandStatus::Sent,
            updated_at: 11,
            timeout_at: 30_010,
            result: None,
            error: None,
        };
        round_trip(
            &Message::Command(command),
            json!({"type": "command", "commandId": "c-1", "deviceId": "t-1", "name": "reboot",
                   "payload": {"delay": 5}, "timestamp": 10, "status": "sent", "updatedAt": 11,
                   "timeoutAt": 30_010}),
        );
        round_trip(
            &Message::CommandResponse(CommandReply::new(
                "t-1",
                CommandResponse {
                    command_id: "c-1".into(),
                    status: CommandStatus::Failed,
                    result: None,
                    error: Some("unknown command `dance`".into()),
                },
            )),
            json!({"type": "commandResponse", "deviceId": "t-1", "commandId": "c-1",
                   "status": "failed", "error": "unknown command `dance`"}),
        );
        round_trip(
            &Message::Status(Status {
                device_id: "t-1".into(),
                online: false,
                timestamp: Some(3),
            }),
            json!({"type": "status", "deviceId": "t-1", "online": false, "timestamp": 3}),
        );
        round_trip(
            &Message::Ping(Heartbeat { timestamp: Some(1) }),
            json!({"type": "ping", "timestamp": 1}),
        );
        round_trip(
            &Message::Pong(Heartbeat::default()),
            json!({"type": "pong"}),
        );
        round_trip(
            &Message::Error(ErrorMessage {
                device_id: None,
                code: "MALFORMED_JSON".into(),
                message: "bad".into(),
            }),
            json!({"type": "error", "code": "MALFORMED_JSON", "message": "bad"}),
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let m = decode(r#"{"type":"ping","timestamp":4,"extra":{"x":1}}"#).unwrap();
        assert_eq!(m, Message::Ping(Heartbeat { timestamp: Some(4) }));
    }

    #[test]
    fn refuses_unknown_types_with_the_list() {
        let err = decode(r#"{"type":"subscribe","deviceId":"a"}"#).unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_MESSAGE_TYPE");
        let text = err.to_string();
        assert!(
            text.contains("`subscribe`") && text.contains("commandResponse"),
            "{text}"
        );
        assert_eq!(
            decode(r#"{"deviceId":"a"}"#).unwrap_err(),
            WireError::MissingType
        );
        assert!(matches!(
            decode(r#"{"type":3}"#).unwrap_err(),
            WireError::Shape { ref path, .. } if path == "type"
        ));
        assert_eq!(
            decode("[1]").unwrap_err(),
            WireError::NotAnObject { found: "array" }
        );
    }

    #[test]
    fn refuses_wrong_shapes_naming_the_field() {
        let err = decode(r#"{"type":"desired","deviceId":"a","desired":{"x":1},"version":"7"}"#)
            .unwrap_err();
        match &err {
            WireError::Shape {
                message_type, path, ..
            } => {
                assert_eq!(message_type, "desired");
                assert_eq!(path, "version");
            }
            other => panic!("{other:?}"),
        }
        let err = decode(r#"{"type":"telemetry","deviceId":"a","timestamp":1,"values":{"t":[1]}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("values"), "{err}");
        let err = decode(r#"{"type":"state","deviceId":"a"}"#).unwrap_err();
        assert!(err.to_string().contains("reported"), "{err}");
        let err =
            decode(r#"{"type":"commandResponse","deviceId":"a","commandId":"c","status":"done"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("status"), "{err}");
    }

    #[test]
    fn refuses_malformed_and_oversized_input() {
        let err = decode("{\"type\":\"ping\",").unwrap_err();
        assert!(matches!(err, WireError::Json { line: 1, .. }), "{err:?}");
        assert_eq!(err.code(), "MALFORMED_JSON");
        let big = format!(
            r#"{{"type":"state","deviceId":"a","reported":{{"x":"{}"}}}}"#,
            "y".repeat(MAX_MESSAGE_BYTES)
        );
        assert!(matches!(
            decode(&big).unwrap_err(),
            WireError::TooLarge {
                limit: MAX_MESSAGE_BYTES,
                ..
            }
        ));
        assert!(decode_bytes(&[0xff, 0xfe]).is_err());
        let mut deep = String::from(r#"{"type":"ping","x":"#);
        deep.push_str(&"[".repeat(200));
        deep.push_str(&"]".repeat(200));
        deep.push('}');
        assert_eq!(decode(&deep).unwrap_err().code(), "MALFORMED_JSON");
    }

    #[test]
    fn refuses_hostile_keys_and_names_anywhere() {
        for (text, at) in [
            (
                r#"{"type":"desired","deviceId":"a","desired":{"__proto__":{"x":1}},"version":1}"#,
                "desired",
            ),
            (
                r#"{"type":"state","deviceId":"a","reported":{"x":{"constructor":1}}}"#,
                "reported.x",
            ),
            (r#"{"type":"ping","prototype":1}"#, "."),
            (r#"{"type":"ping","x":[5,{"__proto__":1}]}"#, "x[1]"),
        ] {
            let err = decode(text).unwrap_err();
            assert!(
                matches!(&err, WireError::ReservedKey { path, .. } if path == at),
                "{text}: {err:?}"
            );
        }
        for id in ["", "a/b", "a+", "#", "a\u{1}b"] {
            let text = json!({"type": "hello", "deviceId": id}).to_string();
            let err = decode(&text).unwrap_err();
            assert!(err.to_string().contains("deviceId"), "{id:?}: {err}");
        }
        let long_key = json!({"type": "state", "deviceId": "a", "reported": {"k".repeat(200): 1}});
        assert!(decode(&long_key.to_string()).is_err());
        let empty_name = json!({"type": "command", "commandId": "c", "deviceId": "a", "name": "",
            "payload": null, "timestamp": 1, "status": "sent", "updatedAt": 1, "timeoutAt": 2});
        assert!(decode(&empty_name.to_string())
            .unwrap_err()
            .to_string()
            .contains("name"));
    }

    #[test]
    fn the_token_is_never_shown() {
        let m = decode(r#"{"type":"hello","deviceId":"a","token":"hunter2"}"#).unwrap();
        assert!(!format!("{m:?}").contains("hunter2"));
        let err =
            decode(r#"{"type":"hello","deviceId":"a","token":{"pw":"hunter2"}}"#).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("token"), "{err}");
        let err = decode(r#"{"type":"hello","deviceId":"a/b","token":"hunter2"}"#).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn error_message_for_a_decoding_failure() {
        let err = decode("nope").unwrap_err();
        let m = Message::from_error(&err, Some("a"));
        let Message::Error(ErrorMessage { code, message, .. }) = &m else {
            panic!("{m:?}")
        };
        assert_eq!(code, "MALFORMED_JSON");
        assert!(message.contains("line 1"), "{message}");
        assert_eq!(decode(&m.encode()).unwrap(), m);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-zA-Z][a-zA-Z0-9_-]{0,20}"
        }

        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                // Readings with few decimals: serde_json (without its
                // `float_roundtrip` feature) may move a 17-digit float by
                // one ulp, which readings never carry.
                (-1_000_000_000_000i64..1_000_000_000_000)
                    .prop_map(|n| Value::from(n as f64 / 100.0)),
                "[^\\u{0}]{0,16}".prop_map(Value::from),
            ]
        }

        proptest! {
            #[test]
            fn desired_round_trips(
                device_id in name(),
                desired in proptest::collection::btree_map(name(), scalar(), 0..8),
                version in any::<u64>(),
            ) {
                let message = Message::Desired(Desired { device_id, desired, version, origin: None, device_version: None });
                prop_assert_eq!(decode(&message.encode()).unwrap(), message);
            }

            #[test]
            fn telemetry_round_trips(
                device_id in name(),
                timestamp in any::<u64>(),
                values in proptest::collection::btree_map(name(), -100_000_000_000i64..100_000_000_000, 0..8),
            ) {
                let values = values
                    .into_iter()
                    .map(|(k, v)| (k, crate::value::TelemetryValue::Number(v as f64 / 1000.0)))
                    .collect();
                let message = Message::Telemetry(TelemetryData { device_id, timestamp, values });
                prop_assert_eq!(decode(&message.encode()).unwrap(), message);
            }

            #[test]
            fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
                let _ = decode(&text);
            }
        }
    }
}
