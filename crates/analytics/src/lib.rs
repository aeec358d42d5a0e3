//! # twinkit-analytics
//!
//! What makes a twin more than a mirror: it understands its telemetry
//! ([`detect`]: spikes, stuck sensors, rapid changes, drift; [`health`]:
//! stability, drift per minute, freshness and a score), predicts with honest
//! uncertainty ([`trend`]: least squares and Theil–Sen, prediction intervals,
//! times to thresholds with bounds) and answers "what if" ([`whatif`]: the
//! core's thermal and wear models fitted from telemetry, scenarios with
//! trajectories and crossing times with bounds; [`action_model`]: those
//! scenarios as the rules engine's dry run). [`alerts`] turns detections
//! into the twin's alerts, the same way for every binding.
//!
//! Pure Rust, no I/O and no clock: every call that depends on time takes it as
//! an argument (milliseconds since the Unix epoch), as in `twinkit-core`.
#![deny(missing_docs)]

pub mod action_model;
pub mod alerts;
pub mod detect;
pub mod error;
pub mod health;
pub mod maintenance;
pub mod trend;
pub mod whatif;
pub mod window;

pub use alerts::{alert_condition, AlertChanges, DetectionAlerts};
pub use detect::{
    AnomalyDetector, AnomalyKind, Detection, DetectorConfig, ExpectedRange, PropertyDetector,
};
pub use error::AnalyticsError;
pub use health::{Freshness, HealthConfig, HealthStatus, PropertyHealth};
pub use maintenance::{
    analyze_detailed, analyze_twin, DetailedPrediction, PredictionOptions, TrendSummary,
};
pub use trend::{Crossing, Interval, Trend, TrendMethod};
pub use whatif::{
    thermal_scenario, twin_scenario, wear_scenario, ModelKind, Scenario, ScenarioOutcome,
    ThermalFit, WearFit,
};
