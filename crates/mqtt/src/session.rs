//! The sans-io client session: bytes in, bytes out, events, time passed in.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use mqtt::connection::{Event, TimerKind};
use mqtt::packet::{v3_1_1, v5_0};
use mqtt::packet::{
    ContentType, CorrelationData, GenericPacket, GenericPacketTrait, MessageExpiryInterval,
    Properties, Property, Qos, ResponseTopic, SessionExpiryInterval, SubEntry, SubOpts,
    UserProperty,
};
use mqtt::result_code::MqttError as CoreError;
use mqtt_protocol_core::mqtt;

use crate::event::{DisconnectReason, Message, MessageProperties, MqttEvent, PublishId};
use crate::frame::{FrameError, Framer};
use crate::reason::{connack_v3_reason, v5_reason};
use crate::{Millis, MqttError, MqttOptions, ProtocolVersion, QoS};

type Client = mqtt::Connection<mqtt::role::Client>;

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// No connection: `connect` may be called.
    Disconnected,
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
}

/// A message waiting to be sent, or sent and not yet acknowledged.
#[derive(Debug, Clone)]
struct Outgoing {
    id: PublishId,
    message: Message,
    /// When `publish` accepted it (message expiry counts from here).
    accepted_at: Millis,
}

/// The order deadlines run in when several are due (a late timer): the
/// PINGRESP wait first, so that its fresh PINGREQ (see
/// [`LATE_TIMER_SLACK`]) also serves as the keepalive's.
const TIMER_KINDS: [TimerKind; 3] = [
    TimerKind::PingrespRecv,
    TimerKind::PingreqRecv,
    TimerKind::PingreqSend,
];

fn timer_index(kind: TimerKind) -> usize {
    match kind {
        TimerKind::PingreqSend => 0,
        TimerKind::PingreqRecv => 1,
        TimerKind::PingrespRecv => 2,
    }
}

/// A PINGRESP deadline handled more than this after it passed means the
/// page itself did not run (a frozen or throttled tab): the PINGRESP may be
/// waiting in the event queue behind the timer, so the broker gets one
/// fresh PINGREQ before the connection is declared dead.
pub const LATE_TIMER_SLACK: Millis = 1_000;

/// On [`MqttSession::handle_wake`], a connection that heard nothing from
/// the broker for this long is checked with a PINGREQ at once.
pub const WAKE_PING_AFTER: Millis = 5_000;

/// How long the session may stay silent before it pings: half the
/// keepalive, so a timer up to that late still pings inside the broker's
/// 1.5 × keepalive. 0 when keepalive is off.
fn ping_interval(keep_alive_secs: u16) -> Millis {
    u64::from(keep_alive_secs) * 500
}

/// What the protocol engine asked for while it handled one input.
#[derive(Default)]
struct Outcome {
    errors: Vec<CoreError>,
    close: bool,
}

/// A sans-io MQTT 3.1.1 / 5 client session (quinn-proto style).
///
/// The session never touches a socket or a clock. Its driver (a browser
/// WebSocket, a `TcpStream` in tests) calls:
///
/// - [`connect`](Self::connect) once the socket is open, then sends every
///   buffer [`poll_transmit`](Self::poll_transmit) returns, in order;
/// - [`handle_bytes`](Self::handle_bytes) with whatever arrived, split or
///   coalesced anyhow (partial packets are kept until the rest arrives);
/// - [`handle_timeout`](Self::handle_timeout) once `now` reaches
///   [`poll_timeout`](Self::poll_timeout) (keepalive, PINGRESP and CONNACK
///   deadlines);
/// - [`handle_disconnected`](Self::handle_disconnected) when the socket
///   closes;
///
/// and reads [`poll_event`](Self::poll_event) after each call. When an
/// [`MqttEvent::Disconnected`] comes out, the driver flushes
/// `poll_transmit` and closes the socket.
///
/// The session outlives connections: subscriptions, unacknowledged QoS 1/2
/// messages and the offline queue carry over to the next `connect`.
/// Unacknowledged messages are retransmitted with DUP when the broker
/// resumes the session, and sent again as new messages when it does not,
/// so nothing accepted by [`publish`](Self::publish) is silently lost.
pub struct MqttSession {
    options: MqttOptions,
    engine: Client,
    /// Whole packets from the byte stream, checked before the engine.
    framer: Framer,
    state: ConnectionState,
    /// A CONNACK was accepted once: MQTT 5 reconnects ask to resume.
    ever_connected: bool,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<MqttEvent>,
    timers: [Option<Millis>; 3],
    connect_deadline: Option<Millis>,
    /// When a packet last came from the broker.
    last_received: Millis,
    /// An overdue PINGRESP deadline already got its fresh PINGREQ.
    ping_grace_used: bool,
    next_publish_id: u64,
    /// Waiting to be sent: offline, or the in-flight window is full.
    queue: VecDeque<Outgoing>,
    /// Sent at QoS 1/2, by packet id, until PUBACK / PUBCOMP.
    in_flight: BTreeMap<u16, Outgoing>,
    /// Subscriptions the application wants, filter to QoS.
    subscriptions: BTreeMap<String, QoS>,
    /// Subscribed or unsubscribed while offline: sent after CONNACK when
    /// the broker resumes the session.
    pending_subscribe: BTreeSet<String>,
    pending_unsubscribe: BTreeSet<String>,
    /// SUBSCRIBE / UNSUBSCRIBE packet id to its filters.
    awaiting_suback: HashMap<u16, Vec<String>>,
    awaiting_unsuback: HashMap<u16, Vec<String>>,
}

impl fmt::Debug for MqttSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttSession")
            .field("options", &self.options)
            .field("state", &self.state)
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight.len())
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

impl MqttSession {
    /// A disconnected session. Fails when the options cannot form a valid
    /// CONNECT (empty user name with a password, will topic invalid, ...).
    pub fn new(options: MqttOptions) -> Result<Self, MqttError> {
        if let Some(will) = &options.will {
            validate_topic_name(&will.topic)?;
        }
        if options.password.is_some() && options.username.is_none() {
            return Err(MqttError::InvalidOptions(
                "a password needs a user name".to_owned(),
            ));
        }
        if options.max_packet_size < 64 {
            return Err(MqttError::InvalidOptions(format!(
                "max_packet_size {} is below 64 bytes",
                options.max_packet_size
            )));
        }
        let version = match options.version {
            ProtocolVersion::V3_1_1 => mqtt::Version::V3_1_1,
            ProtocolVersion::V5 => mqtt::Version::V5_0,
        };
        let engine_options = mqtt::connection::ConnectionOptions::new()
            .maximum_packet_size_recv(options.max_packet_size);
        let mut engine = Client::with_options(version, engine_options);
        // Answers PUBREC/PUBREL/PUBACK itself, so QoS 2 completes without us.
        engine.set_auto_pub_response(true);
        engine.set_pingresp_recv_timeout(options.ping_timeout);
        // Our interval, not the engine's default of a whole keepalive.
        engine.set_pingreq_send_interval(Some(ping_interval(options.keep_alive_secs)));
        let session = Self {
            options,
            engine,
            framer: Framer::default(),
            state: ConnectionState::Disconnected,
            ever_connected: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            timers: [None; 3],
            connect_deadline: None,
            last_received: 0,
            ping_grace_used: false,
            next_publish_id: 0,
            queue: VecDeque::new(),
            in_flight: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            pending_subscribe: BTreeSet::new(),
            pending_unsubscribe: BTreeSet::new(),
            awaiting_suback: HashMap::new(),
            awaiting_unsuback: HashMap::new(),
        };
        // Build the CONNECT once so bad options fail here, not at connect.
        session.build_connect()?;
        Ok(session)
    }

    /// The options the session was made with.
    pub fn options(&self) -> &MqttOptions {
        &self.options
    }

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// Messages waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// QoS 1/2 messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Starts a connection on a freshly opened socket: queues CONNECT.
    pub fn connect(&mut self, now: Millis) -> Result<(), MqttError> {
        if self.state != ConnectionState::Disconnected {
            return Err(MqttError::AlreadyConnected);
        }
        // Bytes left over from a previous socket must not precede CONNECT,
        // nor a partial packet from it precede the new CONNACK.
        self.transmit.clear();
        self.framer.clear();
        let packet = self.build_connect()?;
        // A previous CONNACK's server keepalive is not this connection's.
        let events = self
            .engine
            .set_pingreq_send_interval(Some(ping_interval(self.options.keep_alive_secs)));
        self.absorb(events, now);
        self.last_received = now;
        self.ping_grace_used = false;
        self.state = ConnectionState::Connecting;
        self.connect_deadline = Some(now.saturating_add(self.options.connect_timeout));
        let events = self.engine.send(packet);
        let outcome = self.absorb(events, now);
        if let Some(error) = outcome.errors.first() {
            self.state = ConnectionState::Disconnected;
            self.connect_deadline = None;
            self.engine.notify_closed();
            return Err(MqttError::Encode {
                what: "CONNECT",
                reason: describe_core_error(*error),
            });
        }
        Ok(())
    }

    /// Sends DISCONNECT and ends the connection. The broker discards the
    /// last will; the session (subscriptions, queue) is kept for the next
    /// `connect`.
    pub fn disconnect(&mut self, now: Millis) {
        if self.state == ConnectionState::Disconnected {
            return;
        }
        if self.state == ConnectionState::Connected {
            let packet: GenericPacket<u16> = match self.options.version {
                ProtocolVersion::V3_1_1 => v3_1_1::Disconnect::builder().build().map(Into::into),
                ProtocolVersion::V5 => v5_0::Disconnect::builder().build().map(Into::into),
            }
            .expect("an empty DISCONNECT always builds");
            let events = self.engine.send(packet);
            self.absorb(events, now);
        }
        self.close(DisconnectReason::ClientDisconnected, now);
    }

    /// Feeds bytes received from the broker: any split, several packets at
    /// once or part of one.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Millis) {
        if self.state == ConnectionState::Disconnected {
            return;
        }
        if !bytes.is_empty() {
            self.last_received = now;
        }
        let mut framer = std::mem::take(&mut self.framer);
        let limit = self.options.max_packet_size as usize;
        let framed = framer.feed(bytes, limit, |packet| {
            let mut cursor = mqtt::common::Cursor::new(packet);
            let events = self.engine.recv(&mut cursor);
            let outcome = self.absorb(events, now);
            if self.state == ConnectionState::Disconnected {
                // A refused CONNACK or the broker's DISCONNECT closed it.
                return false;
            }
            // Whatever the engine could not take from the broker (malformed,
            // out of protocol) ends the connection, as MQTT requires.
            if outcome.close || !outcome.errors.is_empty() {
                let reason = self.reason_for(&outcome.errors);
                self.close(reason, now);
                return false;
            }
            true
        });
        self.framer = framer;
        if let Err(error) = framed {
            let reason = match error {
                FrameError::TooLarge => {
                    self.tell_broker_too_large(now);
                    DisconnectReason::PacketTooLarge {
                        limit: self.options.max_packet_size,
                    }
                }
                other => DisconnectReason::ProtocolError {
                    detail: other.detail(),
                },
            };
            self.close(reason, now);
        }
        if self.state == ConnectionState::Disconnected {
            self.framer.clear();
        }
    }

    /// MQTT 5 lets us say why we close: DISCONNECT 0x95 (packet too large).
    fn tell_broker_too_large(&mut self, now: Millis) {
        if self.options.version == ProtocolVersion::V5 && self.state == ConnectionState::Connected {
            if let Ok(packet) = v5_0::Disconnect::builder()
                .reason_code(mqtt::result_code::DisconnectReasonCode::PacketTooLarge)
                .build()
            {
                let events = self.engine.send(packet.into());
                self.absorb(events, now);
            }
        }
    }

    /// The socket closed (or failed). Unacknowledged messages stay for the
    /// next connection.
    pub fn handle_disconnected(&mut self, now: Millis) {
        if self.state == ConnectionState::Disconnected {
            return;
        }
        self.transmit.clear();
        self.framer.clear();
        self.close(DisconnectReason::TransportClosed, now);
    }

    /// The earliest time `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.timers
            .iter()
            .flatten()
            .chain(self.connect_deadline.iter())
            .copied()
            .min()
    }

    /// Runs the deadlines that are due: PINGREQ when idle, PINGRESP and
    /// CONNACK timeouts.
    ///
    /// Page timers fire late in hidden tabs, so everything acts on `now`,
    /// not on the deadline: a late keepalive timer sends PINGREQ now and the
    /// PINGRESP wait counts from now; a PINGRESP deadline found more than
    /// [`LATE_TIMER_SLACK`] overdue sends one fresh PINGREQ instead of
    /// declaring a connection dead that the page simply did not watch.
    pub fn handle_timeout(&mut self, now: Millis) {
        if let Some(deadline) = self.connect_deadline {
            if now >= deadline && self.state == ConnectionState::Connecting {
                self.close(DisconnectReason::ConnectTimeout, now);
                return;
            }
        }
        for kind in TIMER_KINDS {
            let index = timer_index(kind);
            match self.timers[index] {
                Some(deadline) if now >= deadline => {
                    self.timers[index] = None;
                    if kind == TimerKind::PingrespRecv
                        && now - deadline > LATE_TIMER_SLACK
                        && !self.ping_grace_used
                    {
                        self.ping_grace_used = true;
                        self.send_pingreq(now);
                        continue;
                    }
                    let events = self.engine.notify_timer_fired(kind);
                    let outcome = self.absorb(events, now);
                    if outcome.close {
                        let reason = if kind == TimerKind::PingrespRecv {
                            DisconnectReason::KeepaliveTimeout
                        } else {
                            self.reason_for(&outcome.errors)
                        };
                        self.close(reason, now);
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// The page woke up (a hidden tab became visible, the computer resumed):
    /// runs whatever deadline passed while its timer was throttled, and
    /// checks a connection that heard nothing for [`WAKE_PING_AFTER`] with
    /// a PINGREQ now (a half-open socket is found within `ping_timeout`
    /// instead of at the next keepalive).
    pub fn handle_wake(&mut self, now: Millis) {
        if self.poll_timeout().is_some_and(|deadline| deadline <= now) {
            self.handle_timeout(now);
        }
        let ping_outstanding = self.timers[timer_index(TimerKind::PingrespRecv)].is_some();
        if self.state == ConnectionState::Connected
            && !ping_outstanding
            && now.saturating_sub(self.last_received) >= WAKE_PING_AFTER
        {
            self.send_pingreq(now);
        }
    }

    /// Sends PINGREQ now; the engine arms the PINGRESP deadline from now.
    fn send_pingreq(&mut self, now: Millis) {
        if self.state != ConnectionState::Connected {
            return;
        }
        let packet: GenericPacket<u16> = match self.options.version {
            ProtocolVersion::V3_1_1 => v3_1_1::Pingreq::builder().build().map(Into::into),
            ProtocolVersion::V5 => v5_0::Pingreq::builder().build().map(Into::into),
        }
        .expect("an empty PINGREQ always builds");
        let events = self.engine.send(packet);
        self.absorb(events, now);
    }

    /// Next buffer to write to the socket (one or more whole packets).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<MqttEvent> {
        self.events.pop_front()
    }

    /// Publishes a message without properties. See [`Self::publish_message`].
    pub fn publish(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
        now: Millis,
    ) -> Result<PublishId, MqttError> {
        self.publish_message(Message::new(topic, payload, qos, retain), now)
    }

    /// Publishes a message: sent now when connected and the in-flight window
    /// has room, else queued (at most `max_queued`). Completion is reported
    /// as [`MqttEvent::PublishCompleted`] or [`MqttEvent::PublishFailed`]
    /// with the returned id.
    pub fn publish_message(
        &mut self,
        message: Message,
        now: Millis,
    ) -> Result<PublishId, MqttError> {
        validate_topic_name(&message.topic)?;
        validate_properties(&message.properties)?;
        if self.queue.len() >= self.options.max_queued {
            return Err(MqttError::QueueFull {
                limit: self.options.max_queued,
            });
        }
        let id = PublishId(self.next_publish_id);
        self.next_publish_id += 1;
        self.queue.push_back(Outgoing {
            id,
            message,
            accepted_at: now,
        });
        self.flush_queue(now);
        Ok(id)
    }

    /// Subscribes to a topic filter (sent now when connected, else after the
    /// next CONNACK). Kept across reconnects: when the broker lost the
    /// session, every subscription is sent again.
    pub fn subscribe(&mut self, filter: &str, qos: QoS, now: Millis) -> Result<(), MqttError> {
        validate_topic_filter(filter)?;
        self.subscriptions.insert(filter.to_owned(), qos);
        self.pending_unsubscribe.remove(filter);
        if self.state == ConnectionState::Connected {
            self.send_subscribe(vec![(filter.to_owned(), qos)], now);
        } else {
            self.pending_subscribe.insert(filter.to_owned());
        }
        Ok(())
    }

    /// Unsubscribes from a topic filter.
    pub fn unsubscribe(&mut self, filter: &str, now: Millis) -> Result<(), MqttError> {
        validate_topic_filter(filter)?;
        self.subscriptions.remove(filter);
        self.pending_subscribe.remove(filter);
        if self.state == ConnectionState::Connected {
            self.send_unsubscribe(vec![filter.to_owned()], now);
        } else {
            self.pending_unsubscribe.insert(filter.to_owned());
        }
        Ok(())
    }

    fn build_connect(&self) -> Result<GenericPacket<u16>, MqttError> {
        let options = &self.options;
        let encode = |e: CoreError| MqttError::InvalidOptions(describe_core_error(e));
        // MQTT 5 resumes after the first connection; 3.1.1 has no expiry, so
        // its flag says whether the broker keeps the session at all.
        let clean = match options.version {
            ProtocolVersion::V3_1_1 => options.clean_start,
            ProtocolVersion::V5 => options.clean_start && !self.ever_connected,
        };
        match options.version {
            ProtocolVersion::V3_1_1 => {
                let mut builder = v3_1_1::Connect::builder()
                    .client_id(options.client_id.as_str())
                    .map_err(encode)?
                    .keep_alive(options.keep_alive_secs)
                    .clean_session(clean);
                if let Some(user) = &options.username {
                    builder = builder.user_name(user.as_str()).map_err(encode)?;
                }
                if let Some(password) = &options.password {
                    builder = builder
                        .password(password.expose().to_vec())
                        .map_err(encode)?;
                }
                if let Some(will) = &options.will {
                    builder = builder
                        .will_message(
                            will.topic.as_str(),
                            will.payload.clone(),
                            qos_to_core(will.qos),
                            will.retain,
                        )
                        .map_err(encode)?;
                }
                builder.build().map(Into::into).map_err(encode)
            }
            ProtocolVersion::V5 => {
                let mut builder = v5_0::Connect::builder()
                    .client_id(options.client_id.as_str())
                    .map_err(encode)?
                    .keep_alive(options.keep_alive_secs)
                    .clean_start(clean);
                if let Some(user) = &options.username {
                    builder = builder.user_name(user.as_str()).map_err(encode)?;
                }
                if let Some(password) = &options.password {
                    builder = builder
                        .password(password.expose().to_vec())
                        .map_err(encode)?;
                }
                if let Some(will) = &options.will {
                    builder = builder
                        .will_message(
                            will.topic.as_str(),
                            will.payload.clone(),
                            qos_to_core(will.qos),
                            will.retain,
                        )
                        .map_err(encode)?;
                }
                let mut props = Properties::new();
                if options.session_expiry_secs > 0 {
                    props.push(Property::SessionExpiryInterval(
                        SessionExpiryInterval::new(options.session_expiry_secs).map_err(encode)?,
                    ));
                }
                builder.props(props).build().map(Into::into).map_err(encode)
            }
        }
    }

    /// Takes the engine's requests: bytes to send, timers, received packets.
    fn absorb(&mut self, events: Vec<Event>, now: Millis) -> Outcome {
        let mut outcome = Outcome::default();
        for event in events {
            match event {
                Event::RequestSendPacket { packet, .. } => {
                    self.transmit.push_back(packet.to_continuous_buffer());
                }
                Event::NotifyPacketReceived(packet) => self.on_packet(packet, now),
                Event::NotifyPacketIdReleased(_) => {}
                // The engine re-arms the PINGRESP wait on every PINGREQ; a
                // keepalive shorter than ping_timeout would then push it
                // back forever, so the first outstanding ping's wait holds.
                Event::RequestTimerReset {
                    kind: TimerKind::PingrespRecv,
                    duration_ms,
                } => {
                    let index = timer_index(TimerKind::PingrespRecv);
                    self.timers[index].get_or_insert(now.saturating_add(duration_ms));
                }
                Event::RequestTimerReset { kind, duration_ms } => {
                    self.timers[timer_index(kind)] = Some(now.saturating_add(duration_ms));
                }
                Event::RequestTimerCancel(kind) => self.timers[timer_index(kind)] = None,
                Event::NotifyError(error) => outcome.errors.push(error),
                Event::RequestClose => outcome.close = true,
            }
        }
        outcome
    }

    fn reason_for(&self, errors: &[CoreError]) -> DisconnectReason {
        match errors.first() {
            Some(CoreError::PacketTooLarge) => DisconnectReason::PacketTooLarge {
                limit: self.options.max_packet_size,
            },
            Some(error) => DisconnectReason::ProtocolError {
                detail: describe_core_error(*error),
            },
            None => DisconnectReason::ProtocolError {
                detail: "the protocol engine closed the connection".to_owned(),
            },
        }
    }

    /// Ends the connection: the engine keeps what a resumed session needs.
    fn close(&mut self, reason: DisconnectReason, now: Millis) {
        self.state = ConnectionState::Disconnected;
        self.connect_deadline = None;
        let events = self.engine.notify_closed();
        self.absorb(events, now);
        self.timers = [None; 3];
        self.awaiting_suback.clear();
        self.awaiting_unsuback.clear();
        self.events.push_back(MqttEvent::Disconnected { reason });
    }

    fn on_packet(&mut self, packet: GenericPacket<u16>, now: Millis) {
        match packet {
            GenericPacket::V3_1_1Connack(connack) => {
                let code = connack.return_code() as u8;
                if code == 0 {
                    self.on_connected(connack.session_present(), now);
                } else {
                    self.refused(code, connack_v3_reason(code), now);
                }
            }
            GenericPacket::V5_0Connack(connack) => {
                let code = connack.reason_code() as u8;
                if code < 0x80 {
                    // The broker's keepalive overrides ours (MQTT 5
                    // §3.2.2.3.14); ping at half of it all the same.
                    let server_keep_alive = connack.props.iter().find_map(|p| match p {
                        Property::ServerKeepAlive(v) => Some(v.val()),
                        _ => None,
                    });
                    if let Some(secs) = server_keep_alive {
                        let events = self
                            .engine
                            .set_pingreq_send_interval(Some(ping_interval(secs)));
                        self.absorb(events, now);
                    }
                    self.on_connected(connack.session_present(), now);
                } else {
                    self.refused(code, v5_reason(code), now);
                }
            }
            GenericPacket::V3_1_1Publish(publish) => {
                self.events.push_back(MqttEvent::Message(Message {
                    topic: publish.topic_name().to_owned(),
                    payload: publish.payload().as_slice().to_vec(),
                    qos: qos_from_core(publish.qos()),
                    retain: publish.retain(),
                    properties: MessageProperties::default(),
                }));
            }
            GenericPacket::V5_0Publish(publish) => {
                self.events.push_back(MqttEvent::Message(Message {
                    topic: publish.topic_name().to_owned(),
                    payload: publish.payload().as_slice().to_vec(),
                    qos: qos_from_core(publish.qos()),
                    retain: publish.retain(),
                    properties: properties_from_core(publish.props()),
                }));
            }
            GenericPacket::V3_1_1Puback(ack) => self.acknowledged(ack.packet_id(), None, now),
            GenericPacket::V5_0Puback(ack) => {
                self.acknowledged(ack.packet_id(), ack.reason_code().map(|c| c as u8), now)
            }
            GenericPacket::V3_1_1Pubcomp(ack) => self.acknowledged(ack.packet_id(), None, now),
            GenericPacket::V5_0Pubcomp(ack) => {
                self.acknowledged(ack.packet_id(), ack.reason_code().map(|c| c as u8), now)
            }
            GenericPacket::V5_0Pubrec(rec) => {
                // A failure code ends the QoS 2 exchange: no PUBREL follows.
                if let Some(code) = rec.reason_code().map(|c| c as u8).filter(|c| *c >= 0x80) {
                    self.acknowledged(rec.packet_id(), Some(code), now);
                }
            }
            GenericPacket::V3_1_1Suback(ack) => {
                let codes = ack.return_codes().into_iter().map(|c| c as u8).collect();
                self.subscribed(ack.packet_id(), codes);
            }
            GenericPacket::V5_0Suback(ack) => {
                let codes = ack.reason_codes().into_iter().map(|c| c as u8).collect();
                self.subscribed(ack.packet_id(), codes);
            }
            GenericPacket::V3_1_1Unsuback(ack) => self.unsubscribed(ack.packet_id()),
            GenericPacket::V5_0Unsuback(ack) => self.unsubscribed(ack.packet_id()),
            GenericPacket::V5_0Disconnect(disconnect) => {
                let code = disconnect.reason_code().map_or(0, |c| c as u8);
                self.events.push_back(MqttEvent::Disconnected {
                    reason: DisconnectReason::ServerDisconnected {
                        code,
                        reason: v5_reason(code),
                    },
                });
                self.state = ConnectionState::Disconnected;
                self.connect_deadline = None;
                let events = self.engine.notify_closed();
                self.absorb(events, now);
                self.timers = [None; 3];
            }
            GenericPacket::V3_1_1Pingresp(_) | GenericPacket::V5_0Pingresp(_) => {
                self.ping_grace_used = false;
            }
            // PUBREL and PUBREC (success) are handled by the engine.
            _ => {}
        }
    }

    fn refused(&mut self, code: u8, reason: &'static str, now: Millis) {
        self.close(DisconnectReason::Refused { code, reason }, now);
    }

    fn on_connected(&mut self, session_present: bool, now: Millis) {
        self.state = ConnectionState::Connected;
        self.connect_deadline = None;
        self.ever_connected = true;
        self.events
            .push_back(MqttEvent::Connected { session_present });
        // The engine retransmitted what it stored (with DUP) when the broker
        // resumed the session; anything it no longer holds goes out again as
        // a new message, ahead of the queue, in publish order.
        let stored: BTreeSet<u16> = if session_present {
            self.engine
                .get_stored_packets()
                .iter()
                .map(|packet| packet.packet_id())
                .collect()
        } else {
            BTreeSet::new()
        };
        let lost: Vec<u16> = self
            .in_flight
            .keys()
            .copied()
            .filter(|packet_id| !stored.contains(packet_id))
            .collect();
        let mut resend: Vec<Outgoing> = lost
            .into_iter()
            .filter_map(|packet_id| self.in_flight.remove(&packet_id))
            .collect();
        resend.sort_by_key(|outgoing| outgoing.id);
        for outgoing in resend.into_iter().rev() {
            self.queue.push_front(outgoing);
        }
        let subscribe: Vec<(String, QoS)> = if session_present {
            std::mem::take(&mut self.pending_subscribe)
                .into_iter()
                .filter_map(|filter| self.subscriptions.get(&filter).map(|qos| (filter, *qos)))
                .collect()
        } else {
            self.pending_subscribe.clear();
            self.subscriptions
                .iter()
                .map(|(f, q)| (f.clone(), *q))
                .collect()
        };
        let unsubscribe: Vec<String> = std::mem::take(&mut self.pending_unsubscribe)
            .into_iter()
            .collect();
        if !subscribe.is_empty() {
            self.send_subscribe(subscribe, now);
        }
        if session_present && !unsubscribe.is_empty() {
            self.send_unsubscribe(unsubscribe, now);
        }
        self.flush_queue(now);
    }

    fn acknowledged(&mut self, packet_id: u16, code: Option<u8>, now: Millis) {
        let Some(outgoing) = self.in_flight.remove(&packet_id) else {
            return;
        };
        match code {
            Some(code) if code >= 0x80 => self.events.push_back(MqttEvent::PublishFailed {
                id: outgoing.id,
                reason: format!(
                    "the broker refused the message: {} (code {code:#04x})",
                    v5_reason(code)
                ),
            }),
            _ => self.events.push_back(MqttEvent::PublishCompleted {
                id: outgoing.id,
                packet_id: Some(packet_id),
            }),
        }
        self.flush_queue(now);
    }

    fn subscribed(&mut self, packet_id: u16, codes: Vec<u8>) {
        let Some(filters) = self.awaiting_suback.remove(&packet_id) else {
            return;
        };
        for (index, filter) in filters.into_iter().enumerate() {
            let result = match codes.get(index).copied() {
                Some(code) if code <= 2 => QoS::from_u8(code).ok_or_else(String::new),
                Some(code) => Err(match self.options.version {
                    ProtocolVersion::V3_1_1 => "the broker refused the subscription".to_owned(),
                    ProtocolVersion::V5 => format!("{} (code {code:#04x})", v5_reason(code)),
                }),
                None => Err("SUBACK carried no code for this filter".to_owned()),
            };
            if result.is_err() {
                self.subscriptions.remove(&filter);
            }
            self.events
                .push_back(MqttEvent::Subscribed { filter, result });
        }
    }

    fn unsubscribed(&mut self, packet_id: u16) {
        if let Some(filters) = self.awaiting_unsuback.remove(&packet_id) {
            for filter in filters {
                self.events.push_back(MqttEvent::Unsubscribed { filter });
            }
        }
    }

    fn send_subscribe(&mut self, filters: Vec<(String, QoS)>, now: Millis) {
        let Ok(packet_id) = self.engine.acquire_packet_id() else {
            self.events.push_back(MqttEvent::Error {
                detail: "no packet id free for SUBSCRIBE".to_owned(),
            });
            return;
        };
        let entries: Result<Vec<SubEntry>, CoreError> = filters
            .iter()
            .map(|(filter, qos)| {
                SubEntry::new(filter.as_str(), SubOpts::new().set_qos(qos_to_core(*qos)))
            })
            .collect();
        let packet: Result<GenericPacket<u16>, CoreError> =
            entries.and_then(|entries| match self.options.version {
                ProtocolVersion::V3_1_1 => v3_1_1::Subscribe::builder()
                    .entries(entries)
                    .packet_id(packet_id)
                    .build()
                    .map(Into::into),
                ProtocolVersion::V5 => v5_0::Subscribe::builder()
                    .entries(entries)
                    .packet_id(packet_id)
                    .build()
                    .map(Into::into),
            });
        let filters: Vec<String> = filters.into_iter().map(|(filter, _)| filter).collect();
        self.send_tracked(packet, packet_id, "SUBSCRIBE", now, |session| {
            session.awaiting_suback.insert(packet_id, filters);
        });
    }

    fn send_unsubscribe(&mut self, filters: Vec<String>, now: Millis) {
        let Ok(packet_id) = self.engine.acquire_packet_id() else {
            self.events.push_back(MqttEvent::Error {
                detail: "no packet id free for UNSUBSCRIBE".to_owned(),
            });
            return;
        };
        let packet: Result<GenericPacket<u16>, CoreError> = match self.options.version {
            ProtocolVersion::V3_1_1 => v3_1_1::Unsubscribe::builder()
                .entries(filters.iter().map(String::as_str).collect::<Vec<_>>())
                .and_then(|b| b.packet_id(packet_id).build())
                .map(Into::into),
            ProtocolVersion::V5 => v5_0::Unsubscribe::builder()
                .entries(filters.iter().map(String::as_str).collect::<Vec<_>>())
                .and_then(|b| b.packet_id(packet_id).build())
                .map(Into::into),
        };
        self.send_tracked(packet, packet_id, "UNSUBSCRIBE", now, |session| {
            session.awaiting_unsuback.insert(packet_id, filters);
        });
    }

    fn send_tracked(
        &mut self,
        packet: Result<GenericPacket<u16>, CoreError>,
        packet_id: u16,
        what: &str,
        now: Millis,
        on_sent: impl FnOnce(&mut Self),
    ) {
        let error = match packet {
            Ok(packet) => {
                let events = self.engine.send(packet);
                self.absorb(events, now).errors.first().copied()
            }
            Err(error) => Some(error),
        };
        match error {
            None => on_sent(self),
            Some(error) => {
                let _ = self.engine.release_packet_id(packet_id);
                self.events.push_back(MqttEvent::Error {
                    detail: format!("cannot send {what}: {}", describe_core_error(error)),
                });
            }
        }
    }

    /// Sends queued messages while connected and the window has room.
    fn flush_queue(&mut self, now: Millis) {
        while self.state == ConnectionState::Connected {
            let Some(outgoing) = self.queue.pop_front() else {
                return;
            };
            if let Some(expiry) = outgoing.message.properties.message_expiry_secs {
                let waited = now.saturating_sub(outgoing.accepted_at);
                if waited >= u64::from(expiry) * 1000 {
                    self.events.push_back(MqttEvent::PublishFailed {
                        id: outgoing.id,
                        reason: format!("expired after waiting {waited} ms to be sent"),
                    });
                    continue;
                }
            }
            if let Some(outgoing) = self.send_publish(outgoing, now) {
                self.queue.push_front(outgoing);
                return;
            }
        }
    }

    /// Sends one message; gives it back when the window is full.
    fn send_publish(&mut self, outgoing: Outgoing, now: Millis) -> Option<Outgoing> {
        let qos = outgoing.message.qos;
        let packet_id = if qos == QoS::AtMostOnce {
            None
        } else {
            if self.engine.get_receive_maximum_vacancy_for_send() == Some(0) {
                return Some(outgoing);
            }
            match self.engine.acquire_packet_id() {
                Ok(packet_id) => Some(packet_id),
                Err(_) => return Some(outgoing),
            }
        };
        let error = match self.build_publish(&outgoing, packet_id, now) {
            Ok(packet) => {
                let events = self.engine.send(packet);
                self.absorb(events, now).errors.first().copied()
            }
            Err(error) => Some(error),
        };
        match (error, packet_id) {
            (None, Some(packet_id)) => {
                self.in_flight.insert(packet_id, outgoing);
            }
            (None, None) => self.events.push_back(MqttEvent::PublishCompleted {
                id: outgoing.id,
                packet_id: None,
            }),
            (Some(error), _) => {
                if let Some(packet_id) = packet_id {
                    let _ = self.engine.release_packet_id(packet_id);
                }
                self.events.push_back(MqttEvent::PublishFailed {
                    id: outgoing.id,
                    reason: format!("cannot send: {}", describe_core_error(error)),
                });
            }
        }
        None
    }

    fn build_publish(
        &self,
        outgoing: &Outgoing,
        packet_id: Option<u16>,
        now: Millis,
    ) -> Result<GenericPacket<u16>, CoreError> {
        let message = &outgoing.message;
        let qos = qos_to_core(message.qos);
        match self.options.version {
            ProtocolVersion::V3_1_1 => {
                let mut builder = v3_1_1::Publish::builder()
                    .topic_name(message.topic.as_str())?
                    .qos(qos)
                    .retain(message.retain)
                    .payload(message.payload.clone());
                if let Some(packet_id) = packet_id {
                    builder = builder.packet_id(packet_id);
                }
                builder.build().map(Into::into)
            }
            ProtocolVersion::V5 => {
                let props = properties_to_core(
                    &message.properties,
                    now.saturating_sub(outgoing.accepted_at),
                )?;
                let mut builder = v5_0::Publish::builder()
                    .topic_name(message.topic.as_str())?
                    .qos(qos)
                    .retain(message.retain)
                    .payload(message.payload.clone())
                    .props(props);
                if let Some(packet_id) = packet_id {
                    builder = builder.packet_id(packet_id);
                }
                builder.build().map(Into::into)
            }
        }
    }
}

fn qos_to_core(qos: QoS) -> Qos {
    match qos {
        QoS::AtMostOnce => Qos::AtMostOnce,
        QoS::AtLeastOnce => Qos::AtLeastOnce,
        QoS::ExactlyOnce => Qos::ExactlyOnce,
    }
}

fn qos_from_core(qos: Qos) -> QoS {
    match qos {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
        Qos::ExactlyOnce => QoS::ExactlyOnce,
    }
}

fn properties_from_core(props: &Properties) -> MessageProperties {
    let mut out = MessageProperties::default();
    for prop in props {
        match prop {
            Property::MessageExpiryInterval(p) => out.message_expiry_secs = Some(p.val()),
            Property::ContentType(p) => out.content_type = Some(p.val().to_owned()),
            Property::ResponseTopic(p) => out.response_topic = Some(p.val().to_owned()),
            Property::CorrelationData(p) => out.correlation_data = Some(p.val().to_vec()),
            Property::UserProperty(p) => out
                .user_properties
                .push((p.key().to_owned(), p.val().to_owned())),
            _ => {}
        }
    }
    out
}

/// MQTT 5 properties for a message that waited `waited` ms: the expiry
/// sent is what remains of it (MQTT 5 §3.3.2.3.3).
fn properties_to_core(props: &MessageProperties, waited: Millis) -> Result<Properties, CoreError> {
    let mut out = Properties::new();
    if let Some(expiry) = props.message_expiry_secs {
        let remaining = u64::from(expiry).saturating_sub(waited / 1000).max(1);
        let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
        out.push(Property::MessageExpiryInterval(MessageExpiryInterval::new(
            remaining,
        )?));
    }
    if let Some(content_type) = &props.content_type {
        out.push(Property::ContentType(ContentType::new(
            content_type.as_str(),
        )?));
    }
    if let Some(topic) = &props.response_topic {
        out.push(Property::ResponseTopic(ResponseTopic::new(topic.as_str())?));
    }
    if let Some(data) = &props.correlation_data {
        out.push(Property::CorrelationData(CorrelationData::new(
            data.clone(),
        )?));
    }
    for (key, value) in &props.user_properties {
        out.push(Property::UserProperty(UserProperty::new(
            key.as_str(),
            value.as_str(),
        )?));
    }
    Ok(out)
}

fn validate_properties(props: &MessageProperties) -> Result<(), MqttError> {
    properties_to_core(props, 0)
        .map(drop)
        .map_err(|e| MqttError::Encode {
            what: "message properties",
            reason: describe_core_error(e),
        })
}

/// Checks a topic name to publish to (no wildcards).
pub(crate) fn validate_topic_name(topic: &str) -> Result<(), MqttError> {
    let invalid = |reason| {
        Err(MqttError::InvalidTopic {
            topic: topic.to_owned(),
            reason,
        })
    };
    if topic.is_empty() {
        return invalid("empty");
    }
    if topic.len() > usize::from(u16::MAX) {
        return invalid("longer than 65,535 bytes");
    }
    if topic.contains(['+', '#']) {
        return invalid("wildcards are not allowed in a topic name");
    }
    if topic.contains('\0') {
        return invalid("contains NUL");
    }
    Ok(())
}

/// Checks a topic filter to subscribe to.
pub(crate) fn validate_topic_filter(filter: &str) -> Result<(), MqttError> {
    let invalid = |reason| {
        Err(MqttError::InvalidTopic {
            topic: filter.to_owned(),
            reason,
        })
    };
    if filter.is_empty() {
        return invalid("empty");
    }
    if filter.len() > usize::from(u16::MAX) {
        return invalid("longer than 65,535 bytes");
    }
    if filter.contains('\0') {
        return invalid("contains NUL");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (index, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || index + 1 != levels.len()) {
            return invalid("'#' must be a whole level and the last one");
        }
        if level.contains('+') && *level != "+" {
            return invalid("'+' must be a whole level");
        }
    }
    Ok(())
}

fn describe_core_error(error: CoreError) -> String {
    let code = error as u16;
    if code < 0x100 {
        v5_reason(code as u8).to_owned()
    } else {
        match error {
            CoreError::PacketIdentifierFullyUsed => "every packet id is in use".to_owned(),
            CoreError::PacketNotAllowedToSend => "packet not allowed in this state".to_owned(),
            CoreError::InsufficientBytes => "packet truncated".to_owned(),
            CoreError::ValueOutOfRange => "value out of range".to_owned(),
            CoreError::InvalidQos => "invalid QoS".to_owned(),
            other => format!("{other}"),
        }
    }
}
