//! What the session tells its driver: events and the messages they carry.

use std::fmt;

use crate::QoS;

/// Local handle of a message given to [`crate::MqttSession::publish`]: the
/// MQTT packet id is only assigned when the message is actually sent (and
/// can change if the broker lost the session), so completion is reported
/// against this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublishId(pub u64);

impl fmt::Display for PublishId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "publish #{}", self.0)
    }
}

/// MQTT 5 message properties that matter to twinkit. Ignored (not sent)
/// on MQTT 3.1.1, except `message_expiry_secs`, which also bounds how long
/// a message may wait in the session's own queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    /// Message expiry interval in seconds.
    pub message_expiry_secs: Option<u32>,
    /// Content type, e.g. `application/json`.
    pub content_type: Option<String>,
    /// Response topic (request/response pattern).
    pub response_topic: Option<String>,
    /// Correlation data (request/response pattern).
    pub correlation_data: Option<Vec<u8>>,
    /// User properties, in order, duplicates allowed.
    pub user_properties: Vec<(String, String)>,
}

/// A message, outgoing (given to `publish_message`) or received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload bytes (JSON for twinkit's topics).
    pub payload: Vec<u8>,
    /// Quality of service.
    pub qos: QoS,
    /// Retain flag: on receive, set when the broker delivers a retained
    /// message on subscription.
    pub retain: bool,
    /// MQTT 5 properties.
    pub properties: MessageProperties,
}

impl Message {
    /// A message without properties.
    pub fn new(
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            properties: MessageProperties::default(),
        }
    }
}

/// Why the connection ended. After the event carrying it, the transport
/// sends what `poll_transmit` still returns and closes the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The broker refused the CONNECT (CONNACK with a failure code).
    Refused {
        /// The CONNACK return code (3.1.1) or reason code (5).
        code: u8,
        /// Its meaning, e.g. "bad user name or password".
        reason: &'static str,
    },
    /// The broker sent DISCONNECT (MQTT 5).
    ServerDisconnected {
        /// The DISCONNECT reason code.
        code: u8,
        /// Its meaning.
        reason: &'static str,
    },
    /// No PINGRESP came back in time.
    KeepaliveTimeout,
    /// No CONNACK came back in time.
    ConnectTimeout,
    /// The broker sent a packet larger than we accept.
    PacketTooLarge {
        /// Our limit in bytes.
        limit: u32,
    },
    /// The broker sent a malformed packet or broke the protocol.
    ProtocolError {
        /// What was wrong.
        detail: String,
    },
    /// The transport reported the socket closed.
    TransportClosed,
    /// We called `disconnect`.
    ClientDisconnected,
}

impl DisconnectReason {
    /// Whether reconnecting as is will fail the same way (refused for
    /// credentials, authorization, identifier or protocol version): the
    /// transport should back off longer or stop.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { code, reason } => {
                write!(
                    f,
                    "connection refused by the broker: {reason} (code {code:#04x})"
                )
            }
            Self::ServerDisconnected { code, reason } => {
                write!(f, "disconnected by the broker: {reason} (code {code:#04x})")
            }
            Self::KeepaliveTimeout => f.write_str("no PINGRESP from the broker: connection lost"),
            Self::ConnectTimeout => f.write_str("no CONNACK from the broker in time"),
            Self::PacketTooLarge { limit } => {
                write!(f, "the broker sent a packet larger than {limit} bytes")
            }
            Self::ProtocolError { detail } => write!(f, "protocol error: {detail}"),
            Self::TransportClosed => f.write_str("connection closed"),
            Self::ClientDisconnected => f.write_str("disconnected by the client"),
        }
    }
}

/// Something that happened on the session, taken with `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MqttEvent {
    /// CONNACK accepted the connection.
    Connected {
        /// Whether the broker resumed a stored session.
        session_present: bool,
    },
    /// The connection ended (see [`DisconnectReason`]).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// A message arrived on a subscription (delivered once, also at QoS 2).
    Message(Message),
    /// A message left (QoS 0) or was acknowledged (PUBACK, PUBCOMP).
    PublishCompleted {
        /// The handle `publish` returned.
        id: PublishId,
        /// The packet id it travelled with (none at QoS 0).
        packet_id: Option<u16>,
    },
    /// A message will not be delivered.
    PublishFailed {
        /// The handle `publish` returned.
        id: PublishId,
        /// Why (a broker reason code's meaning, expiry, size).
        reason: String,
    },
    /// SUBACK for one filter.
    Subscribed {
        /// The topic filter.
        filter: String,
        /// The QoS granted, or the refusal's reason.
        result: Result<QoS, String>,
    },
    /// UNSUBACK for one filter.
    Unsubscribed {
        /// The topic filter.
        filter: String,
    },
    /// Something went wrong without ending the connection.
    Error {
        /// What.
        detail: String,
    },
}
