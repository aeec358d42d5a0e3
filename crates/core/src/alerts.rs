//! Threshold alerts from property min/max, with hysteresis and escalation.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Outside the normal range.
    Warning,
    /// Far outside the normal range.
    Critical,
}

/// What condition raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AlertCondition {
    /// The value rose above the property's max.
    AboveMax,
    /// The value fell below the property's min.
    BelowMin,
}

/// Whether an alert's condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The condition holds.
    Active,
    /// The value returned inside the range, or a user cleared the alert.
    Cleared,
}

/// An alert (the reference's `Alert`, plus what raised it and its status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Unique alert id (UUID v4).
    pub id: String,
    /// Source device.
    pub device_id: String,
    /// The property whose value raised it.
    pub property: String,
    /// What raised it.
    pub condition: AlertCondition,
    /// How serious it is; rises while active, never falls.
    pub severity: Severity,
    /// Human-readable description.
    pub message: String,
    /// The value that raised or last escalated it.
    pub value: f64,
    /// The bound that was crossed.
    pub threshold: f64,
    /// When it was raised.
    pub timestamp: Millis,
    /// Whether a user acknowledged it.
    pub acknowledged: bool,
    /// Whether its condition still holds.
    pub status: AlertStatus,
    /// When it was cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Millis>,
}
