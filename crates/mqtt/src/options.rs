//! Connection options: protocol version, identity, credentials, keepalive,
//! session and last will.

use std::fmt;

use crate::Millis;

/// Default keepalive in seconds. PINGREQ goes out after 60 s without
/// sending; a timer of a hidden Chrome tab (intensive throttling: once a
/// minute) may fire up to 60 s late, which still pings by 120 s of silence,
/// a minute inside the broker's limit of 1.5 × 120 = 180 s.
pub const DEFAULT_KEEP_ALIVE_SECS: u16 = 120;

/// The MQTT protocol version spoken on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V3_1_1,
    /// MQTT 5.0 (protocol level 5): properties, reason codes, session expiry.
    #[default]
    V5,
}

/// Quality of service of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum QoS {
    /// At most once: fire and forget.
    #[default]
    AtMostOnce = 0,
    /// At least once: acknowledged with PUBACK, may be duplicated.
    AtLeastOnce = 1,
    /// Exactly once: PUBREC / PUBREL / PUBCOMP handshake.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS from its wire value (0, 1 or 2).
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// A password: kept out of `Debug` output, errors and events.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    /// Wraps the password bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The message the broker publishes for us when the connection is lost
/// without a DISCONNECT (for twinkit: a retained `offline` on `/status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Topic the will is published to.
    pub topic: String,
    /// Payload of the will.
    pub payload: Vec<u8>,
    /// QoS the broker publishes it with.
    pub qos: QoS,
    /// Whether the broker retains it.
    pub retain: bool,
}

/// Everything the session needs to connect, with defaults that suit a
/// browser twin. Built with [`MqttOptions::new`] and the chained setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MqttOptions {
    /// Protocol version (default MQTT 5).
    pub version: ProtocolVersion,
    /// Client identifier; brokers key sessions on it.
    pub client_id: String,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password (never printed).
    pub password: Option<Password>,
    /// Keepalive in seconds (default [`DEFAULT_KEEP_ALIVE_SECS`], 120); 0
    /// disables PINGREQ. The session pings after half of it without
    /// sending anything, so a page timer up to `keep_alive / 2` late (Chrome
    /// fires timers of a tab hidden for 5 minutes once a minute) still pings
    /// before the broker's limit of 1.5 × keepalive.
    pub keep_alive_secs: u16,
    /// How long to wait for PINGRESP before the connection is declared dead
    /// (default 10 s).
    pub ping_timeout: Millis,
    /// How long to wait for CONNACK after CONNECT (default 30 s).
    pub connect_timeout: Millis,
    /// Start with a fresh session on the first connect (default true). With
    /// MQTT 5, reconnects of the same session always ask to resume; with
    /// 3.1.1 every CONNECT carries this flag as `cleanSession`. A session
    /// that must survive a mosquitto 2.0 restart should begin with clean
    /// start off: mosquitto 2.0.11 reloads v5 sessions begun with clean
    /// start as expired (seen in this crate's integration test).
    pub clean_start: bool,
    /// MQTT 5 session expiry in seconds (default 0: the broker forgets the
    /// session when the connection ends). Set it above 0 to resume after a
    /// reconnect or a broker restart.
    pub session_expiry_secs: u32,
    /// Last will.
    pub will: Option<LastWill>,
    /// Largest packet accepted from the broker, in bytes (default 1 MiB).
    /// Larger ones close the connection with a clear reason.
    pub max_packet_size: u32,
    /// Most messages queued while disconnected or while the in-flight
    /// window is full (default 1,000). Publishing more fails with
    /// [`crate::MqttError::QueueFull`].
    pub max_queued: usize,
}

impl MqttOptions {
    /// Options with the given client id and the defaults above.
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            version: ProtocolVersion::V5,
            client_id: client_id.into(),
            username: None,
            password: None,
            keep_alive_secs: DEFAULT_KEEP_ALIVE_SECS,
            ping_timeout: 10_000,
            connect_timeout: 30_000,
            clean_start: true,
            session_expiry_secs: 0,
            will: None,
            max_packet_size: 1024 * 1024,
            max_queued: 1000,
        }
    }

    /// Sets the protocol version.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// Sets user name and password.
    pub fn credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<Vec<u8>>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(Password::new(password));
        self
    }

    /// Sets the keepalive in seconds.
    pub fn keep_alive_secs(mut self, secs: u16) -> Self {
        self.keep_alive_secs = secs;
        self
    }

    /// Sets the PINGRESP timeout.
    pub fn ping_timeout(mut self, timeout: Millis) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Sets the CONNACK timeout.
    pub fn connect_timeout(mut self, timeout: Millis) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets clean start (see the field).
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.clean_start = clean;
        self
    }

    /// Sets the MQTT 5 session expiry interval in seconds.
    pub fn session_expiry_secs(mut self, secs: u32) -> Self {
        self.session_expiry_secs = secs;
        self
    }

    /// Sets the last will.
    pub fn will(mut self, will: LastWill) -> Self {
        self.will = Some(will);
        self
    }

    /// Sets the largest packet accepted from the broker.
    pub fn max_packet_size(mut self, bytes: u32) -> Self {
        self.max_packet_size = bytes;
        self
    }

    /// Sets the bound of the outgoing queue.
    pub fn max_queued(mut self, messages: usize) -> Self {
        self.max_queued = messages;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let options = MqttOptions::new("c").credentials("alice", "hunter2-secret");
        let shown = format!("{options:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("alice"));
    }
}
