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
//! With `topicScheme: 'aws-shadow'` the twins follow AWS IoT Device
//! Shadows instead (see [`crate::shadow`]): desired values are shadow
//! update requests, reported state and other writers' desired values come
//! from `update/accepted`, `update/delta` and `get/accepted`, and a version
//! conflict is a `CONFLICT` error on the twin.
//!
//! The session is persistent (clean start off, session expiry one hour), so
//! QoS 1 telemetry queued by the broker while the page was away — even
//! across a broker restart with persistence — arrives once the link is up
//! again, exactly once per packet id thanks to the session's bookkeeping.

use std::collections::{BTreeSet, VecDeque};

use twinkit_core::link::{Frame, Link, LinkEvent};
use twinkit_core::wire::{self, Desired, Message as WireMessage};
use twinkit_core::{ConnectionConfig, Inbound, Millis, MqttTopicScheme, Outbound};

use crate::shadow_link::{Action, ShadowLink};
use crate::topics::{Channel, TopicScheme, DEFAULT_PREFIX};
use crate::{MqttEvent, MqttOptions, MqttSession, ProtocolVersion, QoS};

/// How long the broker keeps the session of a page that went away.
pub const SESSION_EXPIRY_SECS: u32 = 3_600;

/// Which topics and payloads the link speaks.
#[derive(Debug)]
enum Mode {
    Twinkit(TopicScheme),
    Shadow(ShadowLink),
}

/// twinkit's MQTT scheme (or the AWS shadow mode) for the twins sharing
/// one connection.
#[derive(Debug)]
pub struct MqttLink {
    session: MqttSession,
    mode: Mode,
    /// Names this link's desired messages, to tell their echo from others'.
    origin: String,
    devices: BTreeSet<String>,
    up: bool,
    events: VecDeque<LinkEvent>,
}

impl MqttLink {
    /// A link for a connection configuration: topic prefix from `topic`
    /// (default `twinkit`), protocol from `protocolVersion` (4 = MQTT 3.1.1,
    /// the default, or 5), keepalive from `keepalive` (default 120 s),
    /// credentials from `username` / `password`, and a fresh client id
    /// `twinkit-{uuid}`.
    ///
    /// `topicScheme: 'aws-shadow'` follows AWS IoT Device Shadows instead,
    /// of `thingName` or else each twin's device id.
    pub fn from_config(config: &ConnectionConfig) -> Result<Self, String> {
        let client_id = format!("twinkit-{}", twinkit_core::ids::uuid_v4());
        let mode = match config.topic_scheme.unwrap_or_default() {
            MqttTopicScheme::AwsShadow => {
                if let Some(thing) = &config.thing_name {
                    crate::shadow::validate_thing_name(thing).map_err(|e| e.to_string())?;
                }
                Mode::Shadow(ShadowLink::new(config.thing_name.clone(), &client_id))
            }
            _ => Mode::Twinkit(
                TopicScheme::new(config.topic.as_deref().unwrap_or(DEFAULT_PREFIX))
                    .map_err(|e| e.to_string())?,
            ),
        };
        let version = match config.protocol_version {
            Some(5) => ProtocolVersion::V5,
            _ => ProtocolVersion::V3_1_1,
        };
        let mut options = MqttOptions::new(client_id)
            .version(version)
            .keep_alive_secs(config.keepalive.unwrap_or(crate::DEFAULT_KEEP_ALIVE_SECS))
            .clean_start(false)
            .session_expiry_secs(SESSION_EXPIRY_SECS);
        if let Some(username) = &config.username {
            options = options.credentials(
                username.clone(),
                config.password.clone().unwrap_or_default().into_bytes(),
            );
        }
        let session = MqttSession::new(options).map_err(|e| e.to_string())?;
        Ok(Self::with_mode(session, mode))
    }

    /// A link over a session and a topic scheme.
    pub fn new(session: MqttSession, scheme: TopicScheme) -> Self {
        Self::with_mode(session, Mode::Twinkit(scheme))
    }

    /// A link following AWS IoT Device Shadows: of `thing_name`, or else of
    /// each twin's device id.
    pub fn aws_shadow(session: MqttSession, thing_name: Option<String>) -> Result<Self, String> {
        if let Some(thing) = &thing_name {
            crate::shadow::validate_thing_name(thing).map_err(|e| e.to_string())?;
        }
        let prefix = session.options().client_id.clone();
        Ok(Self::with_mode(
            session,
            Mode::Shadow(ShadowLink::new(thing_name, &prefix)),
        ))
    }

    fn with_mode(session: MqttSession, mode: Mode) -> Self {
        MqttLink {
            session,
            mode,
            origin: twinkit_core::ids::uuid_v4(),
            devices: BTreeSet::new(),
            up: false,
            events: VecDeque::new(),
        }
    }

    /// Carries out what the shadow mode asks for.
    fn act(&mut self, actions: Vec<Action>, now: Millis) {
        for action in actions {
            match action {
                Action::Publish { topic, payload } => {
                    if let Err(e) =
                        self.session
                            .publish(&topic, payload, QoS::AtLeastOnce, false, now)
                    {
                        self.reject(None, "MQTT_ERROR", e.to_string());
                    }
                }
                Action::Inbound { device_id, inbound } => {
                    if self.devices.contains(&device_id) {
                        self.events
                            .push_back(LinkEvent::Inbound { device_id, inbound });
                    }
                }
                Action::Reject {
                    device_id,
                    code,
                    message,
                } => self.reject(device_id, code, message),
            }
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
    fn pump(&mut self, now: Millis) {
        while let Some(event) = self.session.poll_event() {
            match event {
                MqttEvent::Connected { .. } if !self.up => {
                    self.up = true;
                    self.events.push_back(LinkEvent::Up);
                    if let Mode::Shadow(shadow) = &self.mode {
                        let gets = shadow.on_up();
                        self.act(gets, now);
                    }
                }
                MqttEvent::Disconnected { reason } if self.up || reason.is_refusal() => {
                    self.up = false;
                    self.events.push_back(LinkEvent::Down {
                        reason: reason.to_string(),
                    });
                }
                MqttEvent::Message(message) => self.receive(&message.topic, &message.payload, now),
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

    fn receive(&mut self, topic: &str, payload: &[u8], now: Millis) {
        let scheme = match &mut self.mode {
            Mode::Twinkit(scheme) => scheme,
            Mode::Shadow(shadow) => {
                let actions = shadow.receive(topic, payload);
                return self.act(actions, now);
            }
        };
        let (device_id, channel) = match scheme.parse(topic) {
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
        self.pump(now);
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
        self.pump(now);
    }

    fn handle_close(&mut self, reason: &str, now: Millis) {
        self.session.handle_disconnected(now);
        self.pump(now);
        if std::mem::replace(&mut self.up, false) {
            self.events.push_back(LinkEvent::Down {
                reason: reason.to_string(),
            });
        }
    }

    fn join(&mut self, device_id: &str, now: Millis) {
        let filters = match &mut self.mode {
            Mode::Twinkit(scheme) => scheme
                .twin_subscriptions(device_id)
                .map_err(|e| e.to_string()),
            Mode::Shadow(shadow) => shadow.join(device_id),
        };
        let filters = match filters {
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
        // A shadow joined while up is loaded now (after its SUBSCRIBE, so
        // the answer is heard); otherwise when the connection comes up.
        if let (Mode::Shadow(shadow), true) = (&self.mode, self.up) {
            let get = shadow.get(device_id).into_iter().collect();
            self.act(get, now);
        }
        self.pump(now);
    }

    fn leave(&mut self, device_id: &str, now: Millis) {
        if !self.devices.remove(device_id) {
            return;
        }
        let filters = match &mut self.mode {
            Mode::Twinkit(scheme) => scheme.twin_subscriptions(device_id).unwrap_or_default(),
            Mode::Shadow(shadow) => shadow.leave(device_id),
        };
        for filter in filters {
            let _ = self.session.unsubscribe(&filter, now);
        }
        self.pump(now);
    }

    fn send(&mut self, device_id: &str, outbound: Outbound, now: Millis) -> Result<(), String> {
        let scheme = match &mut self.mode {
            Mode::Twinkit(scheme) => scheme,
            Mode::Shadow(shadow) => {
                let action = shadow.send(device_id, &outbound)?;
                self.act(vec![action], now);
                self.pump(now);
                return Ok(());
            }
        };
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
        let topic = scheme
            .topic(device_id, channel)
            .map_err(|e| e.to_string())?;
        let sent = self
            .session
            .publish(&topic, message.encode(), QoS::AtLeastOnce, false, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.pump(now);
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
        self.pump(now);
    }

    fn handle_wake(&mut self, now: Millis) {
        self.session.handle_wake(now);
        self.pump(now);
    }
}
