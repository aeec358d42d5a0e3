//! Errors. Every message names the property or field it is about.

use thiserror::Error;
use twinkit_core::Millis;

/// Something the analytics refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum AnalyticsError {
    /// A configuration field is out of range.
    #[error("`{field}` {reason}")]
    InvalidConfig {
        /// The field, e.g. `spikeThreshold`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A property name is empty, too long, has control characters or is a
    /// hostile key such as `__proto__`.
    #[error("invalid property name {name:?}: {reason}")]
    InvalidName {
        /// The name, made printable.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A reading was NaN or infinite.
    #[error("`{property}`: reading at {time} is not a finite number")]
    NonFinite {
        /// The property.
        property: String,
        /// The reading's time.
        time: Millis,
    },
    /// A reading is older than the last one the detector saw.
    #[error("`{property}`: reading at {time} is older than the last one ({last})")]
    OutOfOrder {
        /// The property.
        property: String,
        /// The reading's time.
        time: Millis,
        /// The last reading's time.
        last: Millis,
    },
    /// The detector already tracks its maximum number of properties.
    #[error("`{property}`: already tracking the maximum of {limit} properties")]
    TooManyProperties {
        /// The refused property.
        property: String,
        /// The limit.
        limit: usize,
    },
    /// Too little data to fit a model or trend.
    #[error("`{property}`: {reason}")]
    NotEnoughData {
        /// The property.
        property: String,
        /// What is missing.
        reason: String,
    },
}

impl AnalyticsError {
    /// A stable, machine-readable code (`INVALID_CONFIG`, `NON_FINITE`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "INVALID_CONFIG",
            Self::InvalidName { .. } => "INVALID_NAME",
            Self::NonFinite { .. } => "NON_FINITE",
            Self::OutOfOrder { .. } => "OUT_OF_ORDER",
            Self::TooManyProperties { .. } => "TOO_MANY_PROPERTIES",
            Self::NotEnoughData { .. } => "NOT_ENOUGH_DATA",
        }
    }
}

/// Refuses names the core refuses (see `twinkit_core::limits`).
pub(crate) fn check_property(name: &str) -> Result<(), AnalyticsError> {
    match twinkit_core::limits::name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(AnalyticsError::InvalidName {
            name: twinkit_core::limits::printable(name),
            reason,
        }),
    }
}

pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> AnalyticsError {
    AnalyticsError::InvalidConfig {
        field: field.to_owned(),
        reason: reason.into(),
    }
}
