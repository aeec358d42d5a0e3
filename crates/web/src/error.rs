//! Errors of the browser runtime.

use twinkit_core::{ConfigError, TwinError};

/// Why a twin or fleet operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The configuration is invalid; nothing was created.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The core refused the operation (unknown property, out of range, ...).
    #[error(transparent)]
    Twin(#[from] TwinError),
    /// The twin was disposed; it can be read but not changed.
    #[error("twin `{device_id}` is disposed")]
    Disposed {
        /// The twin's device id.
        device_id: String,
    },
    /// A fleet already holds a twin with this id.
    #[error("device `{device_id}` is already in the fleet")]
    DuplicateDevice {
        /// The id that is taken.
        device_id: String,
    },
    /// The twin is not connected and will not be without a new
    /// `connect()`: disconnected first, or the connection failed and may
    /// not be retried (`reconnect: false`).
    #[error("not connected: {reason}")]
    NotConnected {
        /// Why; never carries credentials.
        reason: String,
    },
    /// The connection settings cannot be used (an MQTT topic prefix with a
    /// wildcard, say).
    #[error("invalid connection: {reason}")]
    InvalidConnection {
        /// Why.
        reason: String,
    },
    /// The twin's `connectionType` has no transport in this build.
    #[error(
        "connectionType `{kind}` has no transport in this build yet; feed the twin in-process"
    )]
    TransportUnavailable {
        /// The connection type asked for.
        kind: String,
    },
}

impl WebError {
    /// A stable machine-readable code, e.g. `"DISPOSED"`.
    pub fn code(&self) -> &'static str {
        match self {
            WebError::Config(_) => "INVALID_CONFIG",
            WebError::Twin(e) => e.code(),
            WebError::Disposed { .. } => "DISPOSED",
            WebError::DuplicateDevice { .. } => "DUPLICATE_DEVICE",
            WebError::TransportUnavailable { .. } => "TRANSPORT_UNAVAILABLE",
            WebError::NotConnected { .. } => "NOT_CONNECTED",
            WebError::InvalidConnection { .. } => "INVALID_CONNECTION",
        }
    }
}
