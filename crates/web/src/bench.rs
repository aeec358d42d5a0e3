//! Bench-only entry points for the in-browser MQTT benchmark
//! (`tests/npm/bench-mqtt.mjs`): broker bytes through the same path a
//! page's shared MQTT connection takes (the hub's [`MqttLink`], then
//! [`crate::hub::ingest`] into each twin), without a socket. Hidden, not
//! part of the API.

use std::collections::HashMap;

use twinkit_core::link::{Frame, Link, LinkEvent};
use twinkit_mqtt::link::MqttLink;
use twinkit_mqtt::topics::TopicScheme;
use twinkit_mqtt::{MqttEvent, MqttOptions, MqttSession, ProtocolVersion};

use crate::twin::Twin;

/// The broker's CONNACK accepting a new session, per protocol version.
fn connack(version: ProtocolVersion) -> Vec<u8> {
    match version {
        // CONNACK, remaining length 2, no session present, accepted.
        ProtocolVersion::V3_1_1 => vec![0x20, 0x02, 0x00, 0x00],
        // The same, plus an empty property length.
        _ => vec![0x20, 0x03, 0x00, 0x00, 0x00],
    }
}

/// A connected session for `version` (4 = 3.1.1, 5 = 5), fed a CONNACK.
fn connected_session(version: u8) -> Result<(MqttSession, Vec<u8>), String> {
    let version = match version {
        4 => ProtocolVersion::V3_1_1,
        5 => ProtocolVersion::V5,
        other => return Err(format!("unknown MQTT protocol version {other}")),
    };
    let session = MqttSession::new(MqttOptions::new("twinkit-bench").version(version))
        .map_err(|e| e.to_string())?;
    Ok((session, connack(version)))
}

/// Broker bytes to twins, the way the hub does it for a socket's frames.
#[derive(Debug)]
pub struct MqttApply {
    link: MqttLink,
    twins: HashMap<String, Twin>,
}

impl MqttApply {
    /// A link that is up (CONNECT sent, CONNACK received) with the
    /// default topic prefix `twinkit`.
    pub fn new(version: u8) -> Result<Self, String> {
        let (session, connack) = connected_session(version)?;
        let mut link = MqttLink::new(session, TopicScheme::default());
        let now = crate::now();
        link.handle_open(now);
        link.handle_frame(Frame::Binary(connack), now);
        let mut apply = MqttApply {
            link,
            twins: HashMap::new(),
        };
        apply.drain()?;
        Ok(apply)
    }

    /// Subscribes a twin's topics, as `connect()` does.
    pub fn join(&mut self, twin: Twin) -> Result<(), String> {
        let id = twin.id();
        self.link.join(&id, crate::now());
        self.twins.insert(id, twin);
        self.drain().map(|_| ())
    }

    /// Feeds one frame of broker bytes; returns how many messages reached
    /// a twin. A refused message or a closed session is an error.
    pub fn feed(&mut self, bytes: Vec<u8>) -> Result<u32, String> {
        self.link.handle_frame(Frame::Binary(bytes), crate::now());
        self.drain()
    }

    /// What the hub's `drive` does with link events; acknowledgements the
    /// socket would send are dropped.
    fn drain(&mut self) -> Result<u32, String> {
        let mut applied = 0;
        while let Some(event) = self.link.poll_event() {
            match event {
                LinkEvent::Inbound { device_id, inbound } => {
                    if let Some(twin) = self.twins.get(&device_id) {
                        crate::hub::ingest(twin, inbound);
                        applied += 1;
                    }
                }
                LinkEvent::Rejected { code, message, .. } => {
                    return Err(format!("{code}: {message}"))
                }
                LinkEvent::Down { reason } => return Err(format!("link down: {reason}")),
                _ => {}
            }
        }
        Ok(applied)
    }
}

/// Broker bytes to MQTT messages only: the session's decode (framing,
/// checks, acknowledgements) without topic parsing, JSON or twins.
#[derive(Debug)]
pub struct MqttDecode {
    session: MqttSession,
}

impl MqttDecode {
    /// A session that is up.
    pub fn new(version: u8) -> Result<Self, String> {
        let (mut session, connack) = connected_session(version)?;
        let now = crate::now();
        session.connect(now).map_err(|e| e.to_string())?;
        session.handle_bytes(&connack, now);
        let mut decode = MqttDecode { session };
        decode.feed(&[])?;
        Ok(decode)
    }

    /// Feeds one frame of broker bytes; returns how many messages it
    /// completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<u32, String> {
        self.session.handle_bytes(bytes, crate::now());
        while self.session.poll_transmit().is_some() {}
        let mut messages = 0;
        while let Some(event) = self.session.poll_event() {
            match event {
                MqttEvent::Message(message) => {
                    std::hint::black_box(message);
                    messages += 1;
                }
                MqttEvent::Disconnected { reason } => return Err(reason.to_string()),
                _ => {}
            }
        }
        Ok(messages)
    }
}
