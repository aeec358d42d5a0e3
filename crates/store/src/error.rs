//! Errors of the store: stored bytes that do not decode, and failures of
//! the storage behind it.

/// Why stored bytes could not be decoded. Decoders return this for any
/// input (truncated, corrupt, hostile); they never panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("truncated")]
    Truncated,
    /// The input does not start with the format's magic bytes.
    #[error("not a twinkit record (bad magic)")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// A value breaks the format's rules.
    #[error("{0}")]
    Invalid(&'static str),
}

/// What a store operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A stored record does not decode (corruption, or a newer format).
    #[error("stored {what} is corrupt: {source}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// Why it does not decode.
        source: DecodeError,
    },
    /// The browser refused to store more data.
    #[error("storage quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The storage failed (IndexedDB error), with its message.
    #[error("storage failed: {0}")]
    Backend(String),
    /// An argument is out of range (a time range, a retention setting).
    #[error("{0}")]
    InvalidInput(String),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// A stable code for JavaScript (`TwinError.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Corrupt { .. } => "CORRUPT_DATA",
            Self::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            Self::Backend(_) => "STORAGE_ERROR",
            Self::InvalidInput(_) => "INVALID_INPUT",
            Self::Closed => "CLOSED",
        }
    }

    pub(crate) fn corrupt(what: &'static str) -> impl FnOnce(DecodeError) -> Self {
        move |source| Self::Corrupt { what, source }
    }
}
