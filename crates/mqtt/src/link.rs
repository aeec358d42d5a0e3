//! [`MqttLink`]: twinkit's MQTT topic scheme over an [`MqttSession`], as a
//! [`Link`] for the browser runtime — any number of twins over one MQTT
//! connection (WebSocket subprotocol `mqtt`).
//!
//! Each twin subscribes (QoS 1) to its device's `telemetry`, `reported`,
//! `desired`, `commands/response` and `status` topics; desired values and
//! commands are published at QoS 1 on `desired` and `commands`. Desired
//! messages name this link as their `origin`, so what comes back on
//! `desired` reaches the twin as its own echo or as another client's edit
//! (`twinkit_core::sync`, "Other clients of the same device"); `state`
//! messages keep the device's `version`. Payloads are the
//! JSON messages of `twinkit_core::wire` (the same vocabulary as the
//! WebSocket JSON protocol), checked before anything reaches a twin.
//!
//! The session is persistent (clean start off, session expiry one hour), so
//! QoS 1 telemetry queued by the broker while the page was away — even
//! across a broker restart with persistence — arrives once the link is up
//! again, exactly once per packet id thanks to the session's bookkeeping.

use std::collections::{BTreeSet, VecDeque};

use twinkit_core::link::{Frame, Link, LinkEvent};
use twinkit_core::wire::{self, Desired, Message as WireMessage};
use twinkit_core::{ConnectionConfig, Inbound, Millis, Outbound};

use crate::topics::{Channel, TopicScheme, DEFAULT_PREFIX};
use crate::{MqttEvent, MqttOptions, MqttSession, ProtocolVersion, QoS};

/// How long the broker keeps the session of a page that went away.
pub const SESSION_EXPIRY_SECS: u32 = 3_600;

/// twinkit's MQTT scheme for the twins sharing one connection.
#[derive(Debug)]
pub struct MqttLink {
    session: MqttSession,
    /// Names this link's desired messages, to tell their echo from others'.
    origin: String,
    scheme: TopicScheme,
    devices: BTreeSet<String>,
    up: bool,
    events: VecDeque<LinkEvent>,
}

impl MqttLink {
    /// A link for a connection configuration: topic prefix from `topic`
    /// (default `twinkit`), protocol from `protocolVersion` (4 = MQTT 3.1.1,
    /// the default, or 5), credentials from `username` / `password`, and a
    /// fresh client id `twinkit-{uuid}`.
    pub fn from_config(config: &ConnectionConfig) -> Result<Self, String> {
        let scheme = TopicScheme::new(config.topic.as_deref().unwrap_or(DEFAULT_PREFIX))
            .map_err(|e| e.to_string())?;
        let version = match config.protocol_version {
            Some(5) => ProtocolVersion::V5,
            _ => ProtocolVersion::V3_1_1,
        };
        let mut options = MqttOptions::new(format!("twinkit-{}", twinkit_core::ids::uuid_v4()))
            .version(version)
            .clean_start(false)
            .session_expiry_secs(SESSION_EXPIRY_SECS);
        if let Some(username) = &config.username {
            options = options.credentials(
                username.clone(),
                config.password.clone().unwrap_or_default().into_bytes(),
            );
        }
        let session = MqttSession::new(options).map_err(|e| e.to_string())?;
        Ok(Self::new(session, scheme))
    }

    /// A link over a session and a topic scheme.
    pub fn new(session: MqttSession, scheme: TopicScheme) -> Self {
        MqttLink {
            session,
            origin: twinkit_core::ids::uuid_v4(),
            scheme,
            devices: BTreeSet::new(),
            up: false,
            events: VecDeque::new(),
        }
    }

    /// The id this link writes as the `origin` of its desired messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The session (for its counters and options).
    pub fn session(&self) -> &MqttSession {
        &self.session
    }

    fn reject(&mut self, device_id: Option<String>, code: &str, message: String) {
        self.events.push_back(LinkEvent::Rejected {
            device_id,
            code: code.to_string(),
            message,
        });
    }

    /// Moves what the session has into link events.
    fn pump(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                MqttEvent::Connected { .. } if !self.up => {
                    self.up = true;
                    self.events.push_back(LinkEvent::Up);
                }
                MqttEvent::Disconnected { reason } if self.up || reason.is_refusal() => {
                    self.up = false;
                    self.events.push_back(LinkEvent::Down {
                        reason: reason.to_string(),
                    });
                }
                MqttEvent::Message(message) => self.receive(&message.topic, &message.payload),
                MqttEvent::PublishFailed { reason, .. } => {
                    self.reject(
                        None,
                        "PUBLISH_FAILED",
                        format!("a message was not delivered: {reason}"),
                    );
                }
                _ => {}
            }
        }
        while let Some(bytes) = self.session.poll_transmit() {
            self.events
                .push_back(LinkEvent::Transmit(Frame::Binary(bytes)));
        }
    }

    fn receive(&mut self, topic: &str, payload: &[u8]) {
        let (device_id, channel) = match self.scheme.parse(topic) {
            Ok((device, channel)) => (device.to_string(), channel),
            Err(e) => return self.reject(None, "UNEXPECTED_TOPIC", e.to_string()),
        };
        if !self.devices.contains(&device_id) {
            return;
        }
        let message = match wire::decode_bytes(payload) {
            Ok(message) => message,
            Err(e) => {
                return self.reject(
                    Some(device_id),
                    e.code(),
                    format!("on `{}`: {e}", channel.suffix()),
                )
            }
        };
        if message.device_id().is_some_and(|id| id != device_id) {
            return self.reject(
                Some(device_id.clone()),
                "INVALID_MESSAGE",
                format!("a message on `{device_id}`'s topic names another device"),
            );
        }
        let inbound = match (channel, message) {
            (Channel::Telemetry, WireMessage::Telemetry(data)) => Inbound::Telemetry(data),
            (Channel::Reported, WireMessage::State(state)) => Inbound::Reported {
                values: state.reported,
                timestamp: state.timestamp,
                version: state.version,
            },
            (Channel::Desired, WireMessage::Desired(desired)) => Inbound::Desired {
                own: desired.origin.as_deref() == Some(self.origin.as_str()),
                values: desired.desired,
                version: desired.version,
                device_version: desired.device_version,
            },
            (Channel::CommandResponse, WireMessage::CommandResponse(reply)) => {
                Inbound::CommandResponse(reply.into_response())
            }
            (Channel::Status, WireMessage::Status(_)) => return,
            (channel, message) => {
                return self.reject(
                    Some(device_id),
                    "UNEXPECTED_MESSAGE",
                    format!(
                        "a `{}` message on the `{}` topic",
                        message.type_name(),
                        channel.suffix()
                    ),
                )
            }
        };
        self.events
            .push_back(LinkEvent::Inbound { device_id, inbound });
    }
}

impl Link for MqttLink {
    fn subprotocol(&self) -> Option<&'static str> {
        Some("mqtt")
    }

    fn handle_open(&mut self, now: Millis) {
        if let Err(e) = self.session.connect(now) {
            self.reject(None, "MQTT_ERROR", e.to_string());
        }
        self.pump();
    }

    fn handle_frame(&mut self, frame: Frame, now: Millis) {
        match frame {
            Frame::Binary(bytes) => self.session.handle_bytes(&bytes, now),
            Frame::Text(_) => self.reject(
                None,
                "MALFORMED_PACKET",
                "a text frame on an MQTT connection".into(),
            ),
        }
        self.pump();
    }

    fn handle_close(&mut self, reason: &str, now: Millis) {
        self.session.handle_disconnected(now);
        self.pump();
        if std::mem::replace(&mut self.up, false) {
            self.events.push_back(LinkEvent::Down {
                reason: reason.to_string(),
            });
        }
    }

    fn join(&mut self, device_id: &str, now: Millis) {
        let filters = match self.scheme.twin_subscriptions(device_id) {
            Ok(filters) => filters,
            Err(e) => {
                return self.reject(
                    Some(device_id.to_string()),
                    "INVALID_DEVICE_ID",
                    e.to_string(),
                )
            }
        };
        self.devices.insert(device_id.to_string());
        for filter in filters {
            if let Err(e) = self.session.subscribe(&filter, QoS::AtLeastOnce, now) {
                self.reject(Some(device_id.to_string()), "MQTT_ERROR", e.to_string());
            }
        }
        self.pump();
    }

    fn leave(&mut self, device_id: &str, now: Millis) {
        if !self.devices.remove(device_id) {
            return;
        }
        if let Ok(filters) = self.scheme.twin_subscriptions(device_id) {
            for filter in filters {
                let _ = self.session.unsubscribe(&filter, now);
            }
        }
        self.pump();
    }

    fn send(&mut self, device_id: &str, outbound: Outbound, now: Millis) -> Result<(), String> {
        let (channel, message) = match outbound {
            Outbound::Desired {
                property,
                value,
                version,
                device_version,
            } => (
                Channel::Desired,
                WireMessage::Desired(Desired {
                    device_id: device_id.to_string(),
                    desired: [(property, value)].into(),
                    version,
                    origin: Some(self.origin.clone()),
                    device_version,
                }),
            ),
            Outbound::Command(command) => (Channel::Commands, WireMessage::Command(command)),
            #[allow(unreachable_patterns)]
            _ => return Ok(()),
        };
        let topic = self
            .scheme
            .topic(device_id, channel)
            .map_err(|e| e.to_string())?;
        let sent = self
            .session
            .publish(&topic, message.encode(), QoS::AtLeastOnce, false, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.pump();
        sent
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        self.session.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Millis) {
        self.session.handle_timeout(now);
        self.pump();
    }
}
