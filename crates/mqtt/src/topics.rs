//! twinkit's MQTT topic scheme and its JSON payloads.
//!
//! Per device, under a prefix (default `twinkit`):
//!
//! | topic | direction | payload (JSON) |
//! | --- | --- | --- |
//! | `{prefix}/{deviceId}/telemetry` | device → twin | [`TelemetryData`]: `{"deviceId","timestamp","values"}` |
//! | `{prefix}/{deviceId}/reported` | device → twin | [`ReportedPayload`]: `{"values":{...},"timestamp"?}` |
//! | `{prefix}/{deviceId}/desired` | twin → device | [`DesiredPayload`]: `{"property","value","version"}` |
//! | `{prefix}/{deviceId}/commands` | twin → device | [`DeviceCommand`] (`commandId`, `name`, `payload`, ...) |
//! | `{prefix}/{deviceId}/commands/response` | device → twin | [`CommandResponse`]: `{"commandId","status","result"?,"error"?}` |
//! | `{prefix}/{deviceId}/status` | device → twin, retained | [`StatusPayload`]: `{"status":"online"\|"offline"}`; also the device's last will |
//!
//! Device ids and prefixes that would break the scheme (empty, or holding
//! `/` in an id, `+`, `#` or NUL anywhere) are refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinkit_core::{CommandResponse, DeviceCommand, Inbound, Millis, Outbound, TelemetryData};

use crate::{LastWill, QoS};

/// The default topic prefix.
pub const DEFAULT_PREFIX: &str = "twinkit";

/// One of a device's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Telemetry records from the device.
    Telemetry,
    /// Reported state from the device.
    Reported,
    /// Desired values for the device.
    Desired,
    /// Commands for the device.
    Commands,
    /// The device's answers to commands.
    CommandResponse,
    /// Online / offline (retained, and the device's will).
    Status,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 6] = [
        Self::Telemetry,
        Self::Reported,
        Self::Desired,
        Self::Commands,
        Self::CommandResponse,
        Self::Status,
    ];

    /// The topic levels after the device id.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Telemetry => "telemetry",
            Self::Reported => "reported",
            Self::Desired => "desired",
            Self::Commands => "commands",
            Self::CommandResponse => "commands/response",
            Self::Status => "status",
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.suffix() == suffix)
    }
}

/// A topic or payload that does not fit the scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The device id cannot be used in a topic.
    #[error("invalid device id {id:?}: {reason}")]
    InvalidDeviceId {
        /// The id as given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The prefix cannot be used in a topic.
    #[error("invalid topic prefix {prefix:?}: {reason}")]
    InvalidPrefix {
        /// The prefix as given.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The topic is not under this scheme's prefix, or names no channel.
    #[error("topic {topic:?} is not a {prefix}/{{deviceId}}/{{channel}} topic")]
    NotInScheme {
        /// The topic received.
        topic: String,
        /// The scheme's prefix.
        prefix: String,
    },
    /// The payload is not the JSON the channel expects.
    #[error("invalid {channel} payload: {reason}")]
    InvalidPayload {
        /// The channel's suffix.
        channel: &'static str,
        /// The JSON error, with the path to the offending field.
        reason: String,
    },
    /// The channel carries nothing the twin ingests.
    #[error("the {0} channel carries no device input")]
    NotInbound(&'static str),
}

/// Checks a device id for use in topics: not empty, and no `/`, `+`, `#`
/// or NUL.
pub fn validate_device_id(id: &str) -> Result<(), TopicError> {
    let reason = if id.is_empty() {
        Some("empty")
    } else if id.contains('/') {
        Some("contains '/'")
    } else if id.contains(['+', '#']) {
        Some("contains an MQTT wildcard ('+' or '#')")
    } else if id.contains('\0') {
        Some("contains NUL")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TopicError::InvalidDeviceId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The topic scheme under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicScheme {
    prefix: String,
}

impl Default for TopicScheme {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl TopicScheme {
    /// A scheme under `prefix` (one or more levels, e.g. `acme/plant-1`).
    pub fn new(prefix: impl Into<String>) -> Result<Self, TopicError> {
        let prefix = prefix.into();
        let reason = if prefix.is_empty() {
            Some("empty")
        } else if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
            Some("empty topic level")
        } else if prefix.contains(['+', '#']) {
            Some("contains an MQTT wildcard ('+' or '#')")
        } else if prefix.contains('\0') {
            Some("contains NUL")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(TopicError::InvalidPrefix { prefix, reason }),
            None => Ok(Self { prefix }),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topic of one device's channel.
    pub fn topic(&self, device_id: &str, channel: Channel) -> Result<String, TopicError> {
        validate_device_id(device_id)?;
        Ok(format!("{}/{device_id}/{}", self.prefix, channel.suffix()))
    }

    /// Filter for one channel of every device (`{prefix}/+/telemetry`).
    pub fn all_devices(&self, channel: Channel) -> String {
        format!("{}/+/{}", self.prefix, channel.suffix())
    }

    /// What a twin subscribes to: the device-to-twin channels of one device.
    pub fn twin_subscriptions(&self, device_id: &str) -> Result<Vec<String>, TopicError> {
        [
            Channel::Telemetry,
            Channel::Reported,
            Channel::CommandResponse,
            Channel::Status,
        ]
        .into_iter()
        .map(|channel| self.topic(device_id, channel))
        .collect()
    }

    /// The device's last will: retained `{"status":"offline"}` on `/status`.
    pub fn device_will(&self, device_id: &str) -> Result<LastWill, TopicError> {
        Ok(LastWill {
            topic: self.topic(device_id, Channel::Status)?,
            payload: StatusPayload::offline().to_json(),
            qos: QoS::AtLeastOnce,
            retain: true,
        })
    }

    /// Splits a received topic into device id and channel.
    pub fn parse<'a>(&self, topic: &'a str) -> Result<(&'a str, Channel), TopicError> {
        let not_ours = || TopicError::NotInScheme {
            topic: topic.to_owned(),
            prefix: self.prefix.clone(),
        };
        let rest = topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(not_ours)?;
        let (device_id, suffix) = rest.split_once('/').ok_or_else(not_ours)?;
        validate_device_id(device_id).map_err(|_| not_ours())?;
        let channel = Channel::from_suffix(suffix).ok_or_else(not_ours)?;
        Ok((device_id, channel))
    }
}

/// Payload of `/reported`: values measured at `timestamp` (or on arrival).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportedPayload {
    /// Property name to value; `null` removes the reported value.
    pub values: BTreeMap<String, Value>,
    /// When the values were measured (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Millis>,
}

/// Payload of `/desired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredPayload {
    /// The property.
    pub property: String,
    /// The desired value (`null`: cleared).
    pub value: Value,
    /// The twin's state version it belongs to.
    pub version: u64,
}

/// Online or offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// Connected.
    Online,
    /// Gone (also what the will says).
    Offline,
}

/// Payload of `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusPayload {
    /// Online or offline.
    pub status: DeviceStatus,
    /// When it changed, if the device knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Millis>,
}

impl StatusPayload {
    /// `{"status":"offline"}`.
    pub fn offline() -> Self {
        Self {
            status: DeviceStatus::Offline,
            timestamp: None,
        }
    }

    /// `{"status":"online","timestamp":now}`.
    pub fn online(now: Millis) -> Self {
        Self {
            status: DeviceStatus::Online,
            timestamp: Some(now),
        }
    }

    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// What arrived on a device-to-twin channel.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceMessage {
    /// Input for the twin (`DigitalTwin::ingest`).
    Inbound(Inbound),
    /// The device went online or offline.
    Status(StatusPayload),
}

fn parse_json<T: serde::de::DeserializeOwned>(
    channel: Channel,
    payload: &[u8],
) -> Result<T, TopicError> {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| TopicError::InvalidPayload {
        channel: channel.suffix(),
        reason: e.to_string(),
    })
}

/// Decodes a payload received on a device-to-twin channel. A telemetry
/// record naming another device than its topic is refused.
pub fn decode_device_message(
    device_id: &str,
    channel: Channel,
    payload: &[u8],
) -> Result<DeviceMessage, TopicError> {
    match channel {
        Channel::Telemetry => {
            let data: TelemetryData = parse_json(channel, payload)?;
            if data.device_id != device_id {
                return Err(TopicError::InvalidPayload {
                    channel: channel.suffix(),
                    reason: format!(
                        "deviceId {:?} does not match the topic's {device_id:?}",
                        data.device_id
                    ),
                });
            }
            Ok(DeviceMessage::Inbound(Inbound::Telemetry(data)))
        }
        Channel::Reported => {
            let reported: ReportedPayload = parse_json(channel, payload)?;
            Ok(DeviceMessage::Inbound(Inbound::Reported {
                values: reported.values,
                timestamp: reported.timestamp,
            }))
        }
        Channel::CommandResponse => {
            let response: CommandResponse = parse_json(channel, payload)?;
            Ok(DeviceMessage::Inbound(Inbound::CommandResponse(response)))
        }
        Channel::Status => Ok(DeviceMessage::Status(parse_json(channel, payload)?)),
        Channel::Desired | Channel::Commands => Err(TopicError::NotInbound(channel.suffix())),
    }
}

/// What the twin sends, as (topic, JSON payload). Desired values and
/// commands go at QoS 1 (not retained).
pub fn encode_outbound(
    scheme: &TopicScheme,
    device_id: &str,
    outbound: &Outbound,
) -> Result<(String, Vec<u8>), TopicError> {
    match outbound {
        Outbound::Desired {
            property,
            value,
            version,
        } => {
            let payload = DesiredPayload {
                property: property.clone(),
                value: value.clone(),
                version: *version,
            };
            Ok((
                scheme.topic(device_id, Channel::Desired)?,
                serde_json::to_vec(&payload).unwrap_or_default(),
            ))
        }
        Outbound::Command(command) => Ok((
            scheme.topic(device_id, Channel::Commands)?,
            serde_json::to_vec(command).unwrap_or_default(),
        )),
        _ => Err(TopicError::NotInbound("unknown outbound")),
    }
}

/// For the device side: decodes `/desired`.
pub fn decode_desired(payload: &[u8]) -> Result<DesiredPayload, TopicError> {
    parse_json(Channel::Desired, payload)
}

/// For the device side: decodes `/commands`.
pub fn decode_command(payload: &[u8]) -> Result<DeviceCommand, TopicError> {
    parse_json(Channel::Commands, payload)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use twinkit_core::{CommandStatus, TelemetryValue};

    #[test]
    fn builds_and_parses_every_channel() {
        let scheme = TopicScheme::default();
        for channel in Channel::ALL {
            let topic = scheme.topic("motor-7", channel).unwrap();
            assert_eq!(scheme.parse(&topic).unwrap(), ("motor-7", channel));
        }
        assert_eq!(
            scheme.topic("d1", Channel::CommandResponse).unwrap(),
            "twinkit/d1/commands/response"
        );
        let nested = TopicScheme::new("acme/plant-1").unwrap();
        assert_eq!(
            nested.parse("acme/plant-1/d1/status").unwrap(),
            ("d1", Channel::Status)
        );
        assert_eq!(
            scheme.all_devices(Channel::Telemetry),
            "twinkit/+/telemetry"
        );
    }

    #[test]
    fn refuses_bad_ids_prefixes_and_foreign_topics() {
        for id in ["", "a/b", "a+", "#", "x\0y"] {
            assert!(
                matches!(
                    validate_device_id(id),
                    Err(TopicError::InvalidDeviceId { .. })
                ),
                "{id:?}"
            );
            assert!(TopicScheme::default().topic(id, Channel::Status).is_err());
        }
        for prefix in ["", "/a", "a/", "a//b", "a/+", "#", "a\0"] {
            assert!(TopicScheme::new(prefix).is_err(), "{prefix:?}");
        }
        let scheme = TopicScheme::default();
        for topic in [
            "twinkit",
            "twinkit/",
            "twinkit/d1",
            "twinkit/d1/unknown",
            "other/d1/status",
            "twinkitx/d1/status",
            "twinkit//status",
            "twinkit/d1/commands/response/extra",
        ] {
            assert!(scheme.parse(topic).is_err(), "{topic}");
        }
    }

    #[test]
    fn decodes_device_payloads() {
        let telemetry = br#"{"deviceId":"d1","timestamp":5,"values":{"t":21.5,"on":true}}"#;
        let DeviceMessage::Inbound(Inbound::Telemetry(data)) =
            decode_device_message("d1", Channel::Telemetry, telemetry).unwrap()
        else {
            panic!()
        };
        assert_eq!(data.values["t"], TelemetryValue::Number(21.5));
        assert!(decode_device_message("d2", Channel::Telemetry, telemetry).is_err());

        let reported = br#"{"values":{"setpoint":21,"mode":null},"timestamp":9}"#;
        assert_eq!(
            decode_device_message("d1", Channel::Reported, reported).unwrap(),
            DeviceMessage::Inbound(Inbound::Reported {
                values: BTreeMap::from([
                    ("setpoint".into(), json!(21)),
                    ("mode".into(), Value::Null)
                ]),
                timestamp: Some(9),
            })
        );
        let response = br#"{"commandId":"c-1","status":"completed","result":{"ok":true}}"#;
        let DeviceMessage::Inbound(Inbound::CommandResponse(r)) =
            decode_device_message("d1", Channel::CommandResponse, response).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.status, CommandStatus::Completed);
        assert_eq!(
            decode_device_message("d1", Channel::Status, br#"{"status":"offline"}"#).unwrap(),
            DeviceMessage::Status(StatusPayload::offline())
        );
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let error = decode_device_message(
            "d1",
            Channel::Reported,
            br#"{"values":{"a":1},"timestamp":"x"}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("timestamp"), "{error}");
        let error = decode_device_message("d1", Channel::Telemetry, b"not json").unwrap_err();
        assert!(
            error.to_string().starts_with("invalid telemetry payload"),
            "{error}"
        );
        assert!(decode_device_message("d1", Channel::Desired, b"{}").is_err());
        assert!(decode_device_message("d1", Channel::Status, br#"{"status":"maybe"}"#).is_err());
    }

    #[test]
    fn encodes_outbound_and_the_device_decodes_it() {
        let scheme = TopicScheme::default();
        let desired = Outbound::Desired {
            property: "setpoint".into(),
            value: json!(22.5),
            version: 4,
        };
        let (topic, payload) = encode_outbound(&scheme, "d1", &desired).unwrap();
        assert_eq!(topic, "twinkit/d1/desired");
        assert_eq!(
            decode_desired(&payload).unwrap(),
            DesiredPayload {
                property: "setpoint".into(),
                value: json!(22.5),
                version: 4
            }
        );
        let will = scheme.device_will("d1").unwrap();
        assert_eq!(will.topic, "twinkit/d1/status");
        assert!(will.retain);
        assert_eq!(will.payload, br#"{"status":"offline"}"#);
    }
}
