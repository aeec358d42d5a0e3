//! The AWS IoT Device Shadow mode of [`crate::link::MqttLink`]: what the
//! twins sharing a connection publish to and make of their things' classic
//! shadows, sans-io (actions out, no session here).
//!
//! Per thing the link keeps the shadow's last seen `version` and `desired`
//! state, and the update requests it sent, by `clientToken`, until
//! `update/accepted` or `update/rejected` names them. Each request carries
//! the last seen version, so the shadow refuses it (409) when someone
//! changed the shadow in between. The shadow's version counts every
//! change of the whole document (a device reporting telemetry moves it),
//! while a twin's conflict is about one property: after a 409 the link
//! fetches the shadow (`get`) and sends the value again on the new version
//! when nobody changed that desired property, or reports a conflict when
//! someone did.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use twinkit_core::{Inbound, Outbound};

use crate::shadow::{self, ShadowMessage, ShadowRequest, ShadowTopic, StateMap};

/// Version conflicts answered by sending again before the link gives up
/// and reports a conflict (each needs another writer's change to the
/// shadow within one round trip).
pub const MAX_VERSION_RETRIES: u8 = 3;

/// What the link should do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Publish (QoS 1) a shadow request.
    Publish { topic: String, payload: Vec<u8> },
    /// Hand a twin something from its shadow.
    Inbound { device_id: String, inbound: Inbound },
    /// Report a refused message as an `error` event.
    Reject {
        device_id: Option<String>,
        code: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    property: String,
    value: Value,
    /// The twin's state version the value was sent at.
    twin_version: u64,
    /// The shadow's desired value of the property when it was sent.
    base: Option<Value>,
    retries: u8,
}

#[derive(Debug)]
struct Thing {
    device_id: String,
    /// The shadow's latest version seen.
    version: Option<u64>,
    /// The shadow's desired state as last seen.
    desired: StateMap,
    /// Requests sent and not yet answered, by client token.
    pending: BTreeMap<String, Pending>,
    /// Refused for a version conflict, settled by the next `get/accepted`.
    conflicted: Vec<Pending>,
}

impl Thing {
    fn pending_properties(&self) -> BTreeSet<&str> {
        self.pending
            .values()
            .chain(&self.conflicted)
            .map(|p| p.property.as_str())
            .collect()
    }
}

/// The shadows of the things whose twins share one connection.
#[derive(Debug)]
pub(crate) struct ShadowLink {
    /// The configured thing name; without one, each twin's device id.
    thing_name: Option<String>,
    /// Makes this link's client tokens its own (other pages write too).
    token_prefix: String,
    next_token: u64,
    things: BTreeMap<String, Thing>,
}

fn state_map(values: BTreeMap<String, Value>) -> Inbound {
    Inbound::CloudDesired { values }
}

impl ShadowLink {
    /// A shadow link; `token_prefix` (at most 40 bytes) starts every client
    /// token it sends.
    pub(crate) fn new(thing_name: Option<String>, token_prefix: &str) -> Self {
        ShadowLink {
            thing_name,
            token_prefix: token_prefix.chars().take(40).collect(),
            next_token: 0,
            things: BTreeMap::new(),
        }
    }

    fn thing_of(&self, device_id: &str) -> String {
        self.thing_name
            .clone()
            .unwrap_or_else(|| device_id.to_string())
    }

    /// A twin starts following its thing: the filters to subscribe to.
    pub(crate) fn join(&mut self, device_id: &str) -> Result<Vec<String>, String> {
        let thing = self.thing_of(device_id);
        let filters = shadow::twin_subscriptions(&thing).map_err(|e| e.to_string())?;
        self.things.insert(
            thing,
            Thing {
                device_id: device_id.to_string(),
                version: None,
                desired: StateMap::new(),
                pending: BTreeMap::new(),
                conflicted: Vec::new(),
            },
        );
        Ok(filters)
    }

    /// A twin stops: the filters to unsubscribe from.
    pub(crate) fn leave(&mut self, device_id: &str) -> Vec<String> {
        let thing = self.thing_of(device_id);
        self.things.remove(&thing);
        shadow::twin_subscriptions(&thing).unwrap_or_default()
    }

    /// `get` for one twin's thing: loads the whole shadow.
    pub(crate) fn get(&self, device_id: &str) -> Option<Action> {
        let thing = self.thing_of(device_id);
        let topic = shadow::shadow_topic(&thing, ShadowTopic::Get).ok()?;
        Some(Action::Publish {
            topic,
            payload: Vec::new(),
        })
    }

    /// The connection is up: every thing's shadow is loaded again (deltas
    /// may have been missed while down).
    pub(crate) fn on_up(&self) -> Vec<Action> {
        let devices: Vec<&str> = self.things.values().map(|t| t.device_id.as_str()).collect();
        devices.into_iter().filter_map(|d| self.get(d)).collect()
    }

    /// A twin's outbound message as a shadow update request.
    pub(crate) fn send(&mut self, device_id: &str, outbound: &Outbound) -> Result<Action, String> {
        let thing_name = self.thing_of(device_id);
        let Some(thing) = self.things.get(&thing_name) else {
            return Err(format!("twin `{device_id}` has not joined the link"));
        };
        let (property, value, twin_version) = match outbound {
            Outbound::Desired {
                property,
                value,
                version,
                ..
            } => (property.clone(), value.clone(), *version),
            Outbound::Command(_) => {
                return Err(
                    "the AWS IoT Device Shadow carries no commands (topicScheme 'aws-shadow')"
                        .into(),
                )
            }
            _ => return Err("the AWS IoT Device Shadow cannot carry this message".into()),
        };
        let pending = Pending {
            base: thing.desired.get(&property).cloned(),
            property,
            value,
            twin_version,
            retries: 0,
        };
        Ok(self.request(&thing_name, pending))
    }

    /// Sends `pending` on the thing's latest version.
    fn request(&mut self, thing_name: &str, pending: Pending) -> Action {
        let token = format!("{}-{}", self.token_prefix, self.next_token);
        self.next_token += 1;
        let thing = self
            .things
            .get_mut(thing_name)
            .expect("requests are made for joined things");
        let mut request = ShadowRequest::desired(
            BTreeMap::from([(pending.property.clone(), pending.value.clone())]),
            Some(token.clone()),
        );
        request.version = thing.version;
        thing.pending.insert(token, pending);
        Action::Publish {
            topic: shadow::shadow_topic(thing_name, ShadowTopic::Update)
                .expect("joined things have valid names"),
            payload: request.to_json(),
        }
    }

    /// A message on one of the shadow topics.
    pub(crate) fn receive(&mut self, topic: &str, payload: &[u8]) -> Vec<Action> {
        let Ok((thing_name, which)) = shadow::parse_shadow_topic(topic) else {
            return vec![Action::Reject {
                device_id: None,
                code: "UNEXPECTED_TOPIC",
                message: format!(
                    "a message on `{}`, not a shadow topic of this link",
                    twinkit_core::limits::printable(topic)
                ),
            }];
        };
        let thing_name = thing_name.to_string();
        let Some(thing) = self.things.get_mut(&thing_name) else {
            return Vec::new();
        };
        let device_id = thing.device_id.clone();
        let message = match shadow::decode(which, payload) {
            Ok(message) => message,
            Err(e) => {
                return vec![Action::Reject {
                    device_id: Some(device_id),
                    code: "INVALID_SHADOW_DOCUMENT",
                    message: e.to_string(),
                }]
            }
        };
        let mut actions = Vec::new();
        let inbound = |inbound| Action::Inbound {
            device_id: device_id.clone(),
            inbound,
        };
        match message {
            ShadowMessage::Document(document) => {
                if let Some(version) = document.version {
                    thing.version = Some(thing.version.map_or(version, |v| v.max(version)));
                }
                let ours = document
                    .client_token
                    .as_ref()
                    .and_then(|token| thing.pending.remove(token))
                    .is_some();
                let whole = which == ShadowTopic::GetAccepted;
                let desired = match document.state.desired.clone() {
                    Some(Some(values)) => Some(values),
                    // `"desired": null` cleared it all.
                    Some(None) => Some(
                        thing
                            .desired
                            .keys()
                            .map(|k| (k.clone(), Value::Null))
                            .collect(),
                    ),
                    None if whole => Some(StateMap::new()),
                    None => None,
                };
                if let Some(values) = &desired {
                    if whole {
                        thing.desired.clear();
                    }
                    for (key, value) in values {
                        if value.is_null() {
                            thing.desired.remove(key);
                        } else {
                            thing.desired.insert(key.clone(), value.clone());
                        }
                    }
                }
                if let Some(reported) = document.to_inbound() {
                    actions.push(inbound(reported));
                }
                // Our own accepted write is already the twin's; anything
                // else another writer did, except where a request of ours
                // is still on its way.
                if let (Some(values), false) = (desired, ours) {
                    let busy = thing.pending_properties();
                    let values: StateMap = values
                        .into_iter()
                        .filter(|(k, _)| !busy.contains(k.as_str()))
                        .collect();
                    if !values.is_empty() {
                        actions.push(inbound(state_map(values)));
                    }
                }
                if whole {
                    let conflicted = std::mem::take(&mut thing.conflicted);
                    let mut retry = Vec::new();
                    for pending in conflicted {
                        let now = thing.desired.get(&pending.property).cloned();
                        if now.as_ref() == Some(&pending.value) {
                            continue;
                        }
                        if now == pending.base && pending.retries < MAX_VERSION_RETRIES {
                            retry.push(pending);
                            continue;
                        }
                        // Someone else wrote it: the twin takes the winner,
                        // then hears that its value lost.
                        let winner = now.unwrap_or(Value::Null);
                        actions.push(inbound(state_map(BTreeMap::from([(
                            pending.property.clone(),
                            winner,
                        )]))));
                        actions.push(inbound(Inbound::DesiredConflict {
                            property: pending.property,
                            attempted: pending.value,
                            base_version: pending.twin_version,
                        }));
                    }
                    for mut pending in retry {
                        pending.retries += 1;
                        actions.push(self.request(&thing_name, pending));
                    }
                }
            }
            ShadowMessage::Delta(delta) => {
                if let Some(version) = delta.version {
                    thing.version = Some(thing.version.map_or(version, |v| v.max(version)));
                }
                let busy = thing.pending_properties();
                let values: StateMap = delta
                    .state
                    .into_iter()
                    .filter(|(k, _)| !busy.contains(k.as_str()))
                    .collect();
                for (key, value) in &values {
                    thing.desired.insert(key.clone(), value.clone());
                }
                if !values.is_empty() {
                    actions.push(inbound(state_map(values)));
                }
            }
            ShadowMessage::Rejected(error) => {
                let Some(pending) = error
                    .client_token
                    .as_ref()
                    .and_then(|token| thing.pending.remove(token))
                else {
                    // Another client's request.
                    return actions;
                };
                if error.code == 409 {
                    thing.conflicted.push(pending);
                    actions.extend(self.get(&device_id));
                } else {
                    actions.push(Action::Reject {
                        device_id: Some(device_id.clone()),
                        code: "SHADOW_REJECTED",
                        message: format!(
                            "the device shadow refused `{}` = {}: {} (code {})",
                            pending.property,
                            pending.value,
                            twinkit_core::limits::printable(&error.message),
                            error.code
                        ),
                    });
                }
            }
            _ => {}
        }
        actions
    }
}
