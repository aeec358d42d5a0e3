//! AWS IoT Device Shadow compatible mode: the classic (unnamed) shadow's
//! topics, its JSON documents, and conversions to and from twinkit-core.
//!
//! | topic | who publishes | document |
//! | --- | --- | --- |
//! | `$aws/things/{thing}/shadow/update` | twin (desired) or device (reported) | [`ShadowRequest`] |
//! | `.../update/accepted` | shadow service | [`ShadowDocument`] |
//! | `.../update/rejected` | shadow service | [`ShadowError`] |
//! | `.../update/delta` | shadow service | [`DeltaDocument`] |
//! | `.../get` | anyone (empty payload) | — |
//! | `.../get/accepted` | shadow service | [`ShadowDocument`] |
//!
//! AWS timestamps are seconds since the epoch; twinkit's are milliseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use twinkit_core::{Inbound, Millis, Outbound};

/// The shadow topics this mode uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShadowTopic {
    /// `update`: request a change.
    Update,
    /// `update/accepted`: the change was applied.
    UpdateAccepted,
    /// `update/rejected`: the change was refused.
    UpdateRejected,
    /// `update/delta`: desired differs from reported.
    UpdateDelta,
    /// `get`: ask for the whole document.
    Get,
    /// `get/accepted`: the whole document.
    GetAccepted,
}

impl ShadowTopic {
    /// Every topic.
    pub const ALL: [ShadowTopic; 6] = [
        Self::Update,
        Self::UpdateAccepted,
        Self::UpdateRejected,
        Self::UpdateDelta,
        Self::Get,
        Self::GetAccepted,
    ];

    /// The levels after `$aws/things/{thing}/shadow/`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Update => "update",
            Self::UpdateAccepted => "update/accepted",
            Self::UpdateRejected => "update/rejected",
            Self::UpdateDelta => "update/delta",
            Self::Get => "get",
            Self::GetAccepted => "get/accepted",
        }
    }
}

/// Why a shadow topic or document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShadowModeError {
    /// AWS thing names are 1 to 128 of `[a-zA-Z0-9:_-]`.
    #[error("invalid thing name {name:?}: {reason}")]
    InvalidThingName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The topic is not one of this mode's shadow topics.
    #[error("topic {0:?} is not a classic shadow topic")]
    NotShadowTopic(String),
    /// The payload is not the expected document.
    #[error("invalid shadow document on {topic}: {reason}")]
    InvalidDocument {
        /// The topic suffix.
        topic: &'static str,
        /// The JSON error with its path.
        reason: String,
    },
    /// The document cannot become twin input (its reported state is not a
    /// JSON object).
    #[error("shadow state has no reported object")]
    NoReportedState,
    /// The shadow has no topic for this outbound message.
    #[error("the device shadow cannot carry {0}")]
    Unsupported(&'static str),
}

/// Checks an AWS thing name.
pub fn validate_thing_name(name: &str) -> Result<(), ShadowModeError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > 128 {
        Some("longer than 128 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
    {
        Some("only letters, digits, ':', '_' and '-' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ShadowModeError::InvalidThingName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The topic of a thing's classic shadow.
pub fn shadow_topic(thing: &str, topic: ShadowTopic) -> Result<String, ShadowModeError> {
    validate_thing_name(thing)?;
    Ok(format!("$aws/things/{thing}/shadow/{}", topic.suffix()))
}

/// What a twin subscribes to for a thing: accepted, rejected, delta and
/// get/accepted.
pub fn twin_subscriptions(thing: &str) -> Result<Vec<String>, ShadowModeError> {
    [
        ShadowTopic::UpdateAccepted,
        ShadowTopic::UpdateRejected,
        ShadowTopic::UpdateDelta,
        ShadowTopic::GetAccepted,
    ]
    .into_iter()
    .map(|t| shadow_topic(thing, t))
    .collect()
}

/// Splits a received shadow topic into thing name and topic.
pub fn parse_shadow_topic(topic: &str) -> Result<(&str, ShadowTopic), ShadowModeError> {
    let not_ours = || ShadowModeError::NotShadowTopic(topic.to_owned());
    let rest = topic.strip_prefix("$aws/things/").ok_or_else(not_ours)?;
    let (thing, rest) = rest.split_once('/').ok_or_else(not_ours)?;
    let suffix = rest.strip_prefix("shadow/").ok_or_else(not_ours)?;
    validate_thing_name(thing).map_err(|_| not_ours())?;
    let which = ShadowTopic::ALL
        .into_iter()
        .find(|t| t.suffix() == suffix)
        .ok_or_else(not_ours)?;
    Ok((thing, which))
}

/// Distinguishes an absent field (`None`) from an explicit `null`
/// (`Some(None)`): in a shadow request `"desired": null` clears all
/// desired state.
fn explicit_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Property name to value, as in `state.desired` and `state.reported`.
pub type StateMap = BTreeMap<String, Value>;

/// The `state` of a request or document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowState {
    /// Desired properties; `Some(None)` is an explicit `null` (clear all).
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub desired: Option<Option<StateMap>>,
    /// Reported properties; `Some(None)` is an explicit `null`.
    #[serde(
        default,
        deserialize_with = "explicit_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub reported: Option<Option<StateMap>>,
    /// Desired values that differ from reported (GET responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<StateMap>,
}

/// A message to `update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowRequest {
    /// The change.
    pub state: ShadowState,
    /// Echoed in the response, to match it (at most 64 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// Applied only if it matches the shadow's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// Per-attribute metadata (`{"timestamp": seconds}`, nested like the
/// state), kept as JSON since it mirrors arbitrary state shapes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowMetadata {
    /// Metadata of desired attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<StateMap>,
    /// Metadata of reported attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<StateMap>,
    /// Anything else found there (kept, not interpreted).
    #[serde(flatten)]
    pub other: StateMap,
}

/// A whole or partial shadow document (`update/accepted`, `get/accepted`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowDocument {
    /// The state.
    #[serde(default)]
    pub state: ShadowState,
    /// Timestamps per attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ShadowMetadata>,
    /// Document version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// When AWS generated the message (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// An `update/delta` document: `state` holds the differing desired values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaDocument {
    /// Desired values that differ from reported.
    pub state: StateMap,
    /// Timestamps per attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<StateMap>,
    /// Document version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// When AWS generated the message (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// An `update/rejected` (or `get/rejected`) document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowError {
    /// An HTTP status code (400, 401, 403, 404, 409, 413, 415, 429, 500).
    pub code: u16,
    /// What went wrong.
    pub message: String,
    /// When (seconds); not always present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// A document received on a shadow topic.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ShadowMessage {
    /// `update` (seen by the other side).
    Request(ShadowRequest),
    /// `update/accepted` or `get/accepted`.
    Document(ShadowDocument),
    /// `update/delta`.
    Delta(DeltaDocument),
    /// `update/rejected`.
    Rejected(ShadowError),
    /// `get` (its payload is ignored).
    Get,
}

fn parse<T: serde::de::DeserializeOwned>(
    topic: ShadowTopic,
    payload: &[u8],
) -> Result<T, ShadowModeError> {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        ShadowModeError::InvalidDocument {
            topic: topic.suffix(),
            reason: e.to_string(),
        }
    })
}

/// Decodes the payload of a shadow topic.
pub fn decode(topic: ShadowTopic, payload: &[u8]) -> Result<ShadowMessage, ShadowModeError> {
    Ok(match topic {
        ShadowTopic::Update => ShadowMessage::Request(parse(topic, payload)?),
        ShadowTopic::UpdateAccepted | ShadowTopic::GetAccepted => {
            ShadowMessage::Document(parse(topic, payload)?)
        }
        ShadowTopic::UpdateDelta => ShadowMessage::Delta(parse(topic, payload)?),
        ShadowTopic::UpdateRejected => ShadowMessage::Rejected(parse(topic, payload)?),
        ShadowTopic::Get => ShadowMessage::Get,
    })
}

fn seconds_to_millis(seconds: Option<u64>) -> Option<Millis> {
    seconds.map(|s| s.saturating_mul(1000))
}

impl ShadowDocument {
    /// The reported state as twin input (`DigitalTwin::ingest`), measured
    /// at the document's timestamp. `None` when nothing was reported.
    pub fn to_inbound(&self) -> Option<Inbound> {
        let reported = self.state.reported.clone().flatten()?;
        Some(Inbound::Reported {
            values: reported,
            timestamp: seconds_to_millis(self.timestamp),
            version: None,
        })
    }

    /// The desired state it carries (empty when none).
    pub fn desired(&self) -> StateMap {
        self.state.desired.clone().flatten().unwrap_or_default()
    }
}

impl ShadowRequest {
    /// A device's report: `{"state":{"reported":{...}}}`.
    pub fn reported(values: StateMap) -> Self {
        Self {
            state: ShadowState {
                reported: Some(Some(values)),
                ..ShadowState::default()
            },
            ..Self::default()
        }
    }

    /// The twin's desired change: `{"state":{"desired":{...}},"clientToken"}`.
    pub fn desired(values: StateMap, client_token: Option<String>) -> Self {
        Self {
            state: ShadowState {
                desired: Some(Some(values)),
                ..ShadowState::default()
            },
            client_token,
            version: None,
        }
    }

    /// The device side's view of a request with reported values, as twin
    /// input (no timestamp: AWS stamps it on arrival).
    pub fn to_inbound(&self) -> Result<Inbound, ShadowModeError> {
        let values = self
            .state
            .reported
            .clone()
            .flatten()
            .ok_or(ShadowModeError::NoReportedState)?;
        Ok(Inbound::Reported {
            values,
            timestamp: None,
            version: None,
        })
    }

    /// The checks the shadow service makes (and answers with 400): a
    /// client token of at most 64 bytes, no `null` inside arrays.
    pub fn validate(&self) -> Result<(), ShadowError> {
        let bad = |message: &str| ShadowError {
            code: 400,
            message: message.to_owned(),
            timestamp: None,
            client_token: self.client_token.clone(),
        };
        if self.client_token.as_ref().is_some_and(|t| t.len() > 64) {
            return Err(bad("Invalid clientToken"));
        }
        fn has_null_in_array(value: &Value, in_array: bool) -> bool {
            match value {
                Value::Null => in_array,
                Value::Array(items) => items.iter().any(|v| has_null_in_array(v, true)),
                Value::Object(map) => map.values().any(|v| has_null_in_array(v, false)),
                _ => false,
            }
        }
        let maps = [&self.state.desired, &self.state.reported];
        for map in maps.into_iter().flatten().flatten() {
            if map.values().any(|v| has_null_in_array(v, false)) {
                return Err(bad("Arrays cannot contain null values"));
            }
        }
        Ok(())
    }

    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The update request for a twin's outbound message: a desired value
/// becomes `{"state":{"desired":{property: value}},"clientToken":"v{version}"}`.
/// Commands have no shadow topic (use the twinkit `/commands` topic).
pub fn outbound_to_request(outbound: &Outbound) -> Result<ShadowRequest, ShadowModeError> {
    match outbound {
        Outbound::Desired {
            property,
            value,
            version,
            ..
        } => Ok(ShadowRequest::desired(
            BTreeMap::from([(property.clone(), value.clone())]),
            Some(format!("twinkit-v{version}")),
        )),
        Outbound::Command(_) => Err(ShadowModeError::Unsupported("commands")),
        _ => Err(ShadowModeError::Unsupported("this message")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn topics_build_and_parse() {
        for topic in ShadowTopic::ALL {
            let name = shadow_topic("thermostat-1", topic).unwrap();
            assert_eq!(parse_shadow_topic(&name).unwrap(), ("thermostat-1", topic));
        }
        assert_eq!(
            shadow_topic("t", ShadowTopic::UpdateDelta).unwrap(),
            "$aws/things/t/shadow/update/delta"
        );
        for bad in ["", "a/b", "a+b", "a#", "sp ace", &"x".repeat(129)] {
            assert!(validate_thing_name(bad).is_err(), "{bad:?}");
        }
        for topic in [
            "$aws/things/t/shadow/delete",
            "$aws/things/t/shadow/name/n/update",
            "$aws/things//shadow/update",
            "aws/things/t/shadow/update",
            "$aws/things/t/update",
        ] {
            assert!(parse_shadow_topic(topic).is_err(), "{topic}");
        }
    }

    #[test]
    fn desired_outbound_becomes_an_update_request() {
        let request = outbound_to_request(&Outbound::Desired {
            property: "setpoint".into(),
            value: json!(21.5),
            version: 3,
            device_version: None,
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"state": {"desired": {"setpoint": 21.5}}, "clientToken": "twinkit-v3"})
        );
    }

    #[test]
    fn null_desired_is_kept_apart_from_absent() {
        let request: ShadowRequest =
            serde_json::from_value(json!({"state": {"reported": {"a": 1}, "desired": null}}))
                .unwrap();
        assert_eq!(request.state.desired, Some(None));
        let request: ShadowRequest =
            serde_json::from_value(json!({"state": {"reported": {"a": 1}}})).unwrap();
        assert_eq!(request.state.desired, None);
        assert_eq!(
            serde_json::to_value(ShadowRequest::reported(BTreeMap::from([(
                "a".into(),
                json!(1)
            )])))
            .unwrap(),
            json!({"state": {"reported": {"a": 1}}})
        );
    }

    #[test]
    fn bad_documents_name_the_field() {
        let error = decode(
            ShadowTopic::UpdateRejected,
            br#"{"code":"x","message":"m"}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("code"), "{error}");
        assert!(decode(ShadowTopic::UpdateDelta, b"[]").is_err());
        assert!(decode(ShadowTopic::GetAccepted, b"{\"state\": 3}").is_err());
    }
}
