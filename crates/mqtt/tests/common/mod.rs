//! The broker side for in-memory session tests: mqtt-protocol-core's own
//! server role, so what the session sends is parsed by an independent
//! state machine and what it receives is real broker output.
#![allow(dead_code, clippy::unwrap_used)]

use mqtt::connection::Event;
use mqtt::packet::{GenericPacket, GenericPacketTrait};
use mqtt_protocol_core::mqtt;
use twinkit_mqtt::{MqttEvent, MqttSession, ProtocolVersion};

pub type Packet = GenericPacket<u16>;

/// A broker-side protocol engine.
pub struct Peer {
    pub engine: mqtt::Connection<mqtt::role::Server>,
    /// Bytes the peer wants delivered to the session.
    pub out: Vec<u8>,
    /// Packets the peer received, in order.
    pub received: Vec<Packet>,
    /// The broker engine's own keepalive limit (1.5 × keepalive), re-armed
    /// by the last packet it received: taken by the keepalive tests.
    pub keepalive_window: Option<u64>,
}

impl Peer {
    pub fn new(version: ProtocolVersion, auto_ack: bool) -> Self {
        let version = match version {
            ProtocolVersion::V3_1_1 => mqtt::Version::V3_1_1,
            _ => mqtt::Version::V5_0,
        };
        let mut engine = mqtt::Connection::<mqtt::role::Server>::new(version);
        engine.set_auto_pub_response(auto_ack);
        engine.set_auto_ping_response(true);
        Self {
            engine,
            out: Vec::new(),
            received: Vec::new(),
            keepalive_window: None,
        }
    }

    fn absorb(&mut self, events: Vec<Event>) {
        for event in events {
            match event {
                Event::RequestSendPacket { packet, .. } => {
                    self.out.extend(packet.to_continuous_buffer())
                }
                Event::NotifyPacketReceived(packet) => self.received.push(packet),
                Event::RequestTimerReset {
                    kind: mqtt::connection::TimerKind::PingreqRecv,
                    duration_ms,
                } => self.keepalive_window = Some(duration_ms),
                _ => {}
            }
        }
    }

    /// Feeds bytes written by the session.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut cursor = mqtt::common::Cursor::new(bytes);
        while (cursor.position() as usize) < bytes.len() {
            let before = cursor.position();
            let events = self.engine.recv(&mut cursor);
            self.absorb(events);
            if cursor.position() == before {
                break;
            }
        }
    }

    /// Sends a packet to the session.
    pub fn send(&mut self, packet: impl Into<Packet>) {
        let events = self.engine.send(packet.into());
        self.absorb(events);
    }

    pub fn take_out(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn take_received(&mut self) -> Vec<Packet> {
        std::mem::take(&mut self.received)
    }

    /// Accepts the CONNECT it received.
    pub fn connack(&mut self, version: ProtocolVersion, session_present: bool) {
        match version {
            ProtocolVersion::V3_1_1 => self.send(
                mqtt::packet::v3_1_1::Connack::builder()
                    .session_present(session_present)
                    .return_code(mqtt::result_code::ConnectReturnCode::Accepted)
                    .build()
                    .unwrap(),
            ),
            _ => self.send(
                mqtt::packet::v5_0::Connack::builder()
                    .session_present(session_present)
                    .reason_code(mqtt::result_code::ConnectReasonCode::Success)
                    .build()
                    .unwrap(),
            ),
        }
    }

    /// Forgets the connection (socket closed), keeping nothing.
    pub fn reset(&mut self, version: ProtocolVersion, auto_ack: bool) {
        *self = Self::new(version, auto_ack);
    }
}

/// Everything the session wants sent, concatenated.
pub fn drain(session: &mut MqttSession) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(buffer) = session.poll_transmit() {
        bytes.extend(buffer);
    }
    bytes
}

pub fn events(session: &mut MqttSession) -> Vec<MqttEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

/// Moves bytes both ways until neither side has anything to say.
pub fn pump(session: &mut MqttSession, peer: &mut Peer, now: u64) {
    for _ in 0..100 {
        let to_peer = drain(session);
        if !to_peer.is_empty() {
            peer.feed(&to_peer);
        }
        let to_session = peer.take_out();
        if !to_session.is_empty() {
            session.handle_bytes(&to_session, now);
        }
        if to_peer.is_empty() && to_session.is_empty() {
            return;
        }
    }
    panic!("pump did not settle");
}

/// A connected session and its peer.
pub fn connected(options: twinkit_mqtt::MqttOptions, auto_ack: bool) -> (MqttSession, Peer) {
    let version = options.version;
    let mut session = MqttSession::new(options).unwrap();
    let mut peer = Peer::new(version, auto_ack);
    session.connect(0).unwrap();
    peer.feed(&drain(&mut session));
    peer.connack(version, false);
    pump(&mut session, &mut peer, 0);
    let evs = events(&mut session);
    assert_eq!(
        evs,
        vec![MqttEvent::Connected {
            session_present: false
        }]
    );
    peer.take_received();
    (session, peer)
}
