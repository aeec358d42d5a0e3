//! Errors returned by the session's calls.

/// Why a call on [`crate::MqttSession`] was refused. Nothing is queued or
/// sent when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// The outgoing queue holds `limit` messages already.
    #[error("outgoing queue full: {limit} messages are waiting to be sent")]
    QueueFull {
        /// The configured bound ([`crate::MqttOptions::max_queued`]).
        limit: usize,
    },
    /// A topic name or filter is not valid MQTT.
    #[error("invalid topic {topic:?}: {reason}")]
    InvalidTopic {
        /// The topic as given.
        topic: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The options cannot form a valid CONNECT.
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// A message or property cannot be encoded (too long, bad value).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The codec's reason.
        reason: String,
    },
    /// `connect` while a connection is already open or opening.
    #[error("already connected or connecting")]
    AlreadyConnected,
}
