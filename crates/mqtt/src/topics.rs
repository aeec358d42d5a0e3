//! twinkit's MQTT topic scheme.
//!
//! Per device, under a prefix (default `twinkit`):
//! `{prefix}/{deviceId}/telemetry`, `/reported`, `/desired`, `/commands`,
//! `/commands/response` and `/status` (retained; also the device's last
//! will). Payloads are the JSON messages of `twinkit_core::wire` of the
//! matching type (`telemetry`, `state`, `desired`, `command`,
//! `commandResponse`, `status`); [`crate::link`] puts the two together.
//!
//! Device ids and prefixes that would break the scheme (empty, or holding
//! `/` in an id, `+`, `#` or NUL anywhere) are refused.

use twinkit_core::wire::{Message as WireMessage, Status};

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

    /// What a twin subscribes to: the device-to-twin channels of one device,
    /// and its `desired` channel, so the twin sees other clients' edits in
    /// the order the device receives them (and its own coming back).
    pub fn twin_subscriptions(&self, device_id: &str) -> Result<Vec<String>, TopicError> {
        [
            Channel::Telemetry,
            Channel::Reported,
            Channel::Desired,
            Channel::CommandResponse,
            Channel::Status,
        ]
        .into_iter()
        .map(|channel| self.topic(device_id, channel))
        .collect()
    }

    /// The device's last will: a retained wire `status` message with
    /// `online: false` on `/status`.
    pub fn device_will(&self, device_id: &str) -> Result<LastWill, TopicError> {
        let offline = WireMessage::Status(Status {
            device_id: device_id.to_owned(),
            online: false,
            timestamp: None,
        });
        Ok(LastWill {
            topic: self.topic(device_id, Channel::Status)?,
            payload: offline.encode().into_bytes(),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
    fn the_will_is_a_retained_offline_status() {
        let will = TopicScheme::default().device_will("d1").unwrap();
        assert_eq!(will.topic, "twinkit/d1/status");
        assert!(will.retain);
        let message = twinkit_core::wire::decode_bytes(&will.payload).unwrap();
        assert!(
            matches!(message, WireMessage::Status(Status { online: false, ref device_id, .. }) if device_id == "d1")
        );
    }
}
