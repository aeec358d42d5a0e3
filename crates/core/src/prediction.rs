//! Predictive maintenance: least-squares trends toward thresholds.

use serde::{Deserialize, Serialize};

/// The reference's `MaintenancePrediction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenancePrediction {
    /// Property analyzed.
    pub property: String,
    /// Latest observed value.
    pub current_value: f64,
    /// Trend value 24 hours after the analysis time.
    pub predicted_value: f64,
    /// Hours from the analysis time until the trend reaches the warning
    /// threshold: 0 if already there, `None` when the trend moves away.
    pub time_to_warning: Option<f64>,
    /// Hours until the critical threshold, as `time_to_warning`.
    pub time_to_critical: Option<f64>,
    /// Confidence in the trend, 0..=1 (see the module docs).
    pub confidence: f64,
    /// Maintenance recommendation from `time_to_critical`.
    pub recommendation: String,
}
