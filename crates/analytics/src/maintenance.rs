//! Predictive maintenance with intervals: the core's
//! [`PredictiveMaintenance`] analysis (unchanged, and still stored in it),
//! plus for each property a least-squares and a Theil–Sen [`TrendSummary`]:
//! the value expected 24 h after `now` with a prediction interval, and the
//! times to warning and critical with lower and upper bounds (see
//! [`crate::trend`] for the model and its calibration).

use serde::{Deserialize, Serialize};
use twinkit_core::prediction::{Direction, MaintenancePrediction, PredictiveMaintenance};
use twinkit_core::{DigitalTwin, Millis};

use crate::error::{invalid, AnalyticsError};
use crate::trend::{Crossing, Interval, Trend, TrendMethod};

const HOURS_AHEAD: u64 = 24;
const MS_PER_HOUR: u64 = 3_600_000;

/// Options of [`analyze_detailed`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PredictionOptions {
    /// Confidence of every interval, in (0, 1). Default 0.9.
    pub confidence_level: f64,
    /// Also fit a Theil–Sen trend. Default true.
    pub robust: bool,
}

impl Default for PredictionOptions {
    fn default() -> Self {
        Self {
            confidence_level: 0.9,
            robust: true,
        }
    }
}

impl PredictionOptions {
    /// Checks the confidence level.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        if !(self.confidence_level > 0.0 && self.confidence_level < 1.0) {
            return Err(invalid(
                "confidenceLevel",
                "must be between 0 and 1 (exclusive)",
            ));
        }
        Ok(())
    }
}

/// One trend's view of a property's future.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendSummary {
    /// `leastSquares` or `theilSen`.
    pub method: TrendMethod,
    /// Slope, value units per hour.
    pub slope_per_hour: f64,
    /// Residual scale of the fit.
    pub residual_std: f64,
    /// Value expected 24 h after `now`, with its prediction interval.
    pub predicted_value: Interval,
    /// Hours until the warning level, with bounds.
    pub time_to_warning: Crossing,
    /// Hours until the critical level, with bounds.
    pub time_to_critical: Crossing,
}

/// The core's prediction with both trends and their intervals.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailedPrediction {
    /// The core's `MaintenancePrediction`, as `analyze()` returns it.
    #[serde(flatten)]
    pub prediction: MaintenancePrediction,
    /// Confidence of every interval.
    pub confidence_level: f64,
    /// Least-squares trend (same line as the core's).
    pub least_squares: TrendSummary,
    /// Theil–Sen trend, when requested.
    pub theil_sen: Option<TrendSummary>,
}

/// One trend's summary against warning and critical levels.
pub fn summarize(
    trend: &Trend,
    warning: f64,
    critical: f64,
    now: Millis,
    confidence_level: f64,
) -> TrendSummary {
    let direction = if critical < warning {
        Direction::Falling
    } else {
        Direction::Rising
    };
    TrendSummary {
        method: trend.method,
        slope_per_hour: trend.slope_per_hour,
        residual_std: trend.residual_std,
        predicted_value: trend.prediction_interval(
            now.saturating_add(HOURS_AHEAD * MS_PER_HOUR),
            confidence_level,
        ),
        time_to_warning: trend.crossing(warning, direction, now, confidence_level),
        time_to_critical: trend.crossing(critical, direction, now, confidence_level),
    }
}

/// Runs `pm.analyze_from(series, now)` (so the core's stored predictions and
/// behaviour are unchanged) and adds trends with intervals to each result.
pub fn analyze_detailed<F, I>(
    pm: &mut PredictiveMaintenance,
    mut series: F,
    now: Millis,
    options: PredictionOptions,
) -> Result<Vec<DetailedPrediction>, AnalyticsError>
where
    F: FnMut(&str) -> I,
    I: Iterator<Item = (Millis, f64)> + Clone,
{
    options.validate()?;
    let base = pm.analyze_from(&mut series, now);
    let mut out = Vec::with_capacity(base.len());
    for prediction in base {
        let Some(threshold) = pm.threshold(&prediction.property).copied() else {
            continue;
        };
        let points: Vec<(Millis, f64)> = series(&prediction.property).collect();
        let level = options.confidence_level;
        let summary = |method| {
            Trend::fit(method, &points)
                .map(|t| summarize(&t, threshold.warning, threshold.critical, now, level))
        };
        let Some(least_squares) = summary(TrendMethod::LeastSquares) else {
            continue;
        };
        let theil_sen = if options.robust {
            summary(TrendMethod::TheilSen)
        } else {
            None
        };
        out.push(DetailedPrediction {
            prediction,
            confidence_level: level,
            least_squares,
            theil_sen,
        });
    }
    Ok(out)
}

/// [`analyze_detailed`] over a twin's telemetry history.
pub fn analyze_twin(
    pm: &mut PredictiveMaintenance,
    twin: &DigitalTwin,
    now: Millis,
    options: PredictionOptions,
) -> Result<Vec<DetailedPrediction>, AnalyticsError> {
    analyze_detailed(pm, |p| twin.history().numeric_series(p), now, options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use twinkit_core::physics::Rng;
    use twinkit_core::DeviceConfig;

    const H: Millis = 3_600_000;
    const T0: Millis = 1_700_000_000_000;

    #[test]
    fn keeps_the_core_prediction_and_adds_intervals() {
        let mut rng = Rng::new(1);
        let pts: Vec<(Millis, f64)> = (0..48u64)
            .map(|i| {
                (
                    T0 + i * H,
                    2.0 + 0.1 * i as f64 + 0.2 * rng.standard_normal(),
                )
            })
            .collect();
        let now = T0 + 47 * H;
        let mut pm = PredictiveMaintenance::new();
        pm.set_threshold("vibration", 10.0, 15.0).unwrap();
        let core = pm.clone().analyze_from(|_| pts.iter().copied(), now);
        let out = analyze_detailed(
            &mut pm,
            |_| pts.iter().copied(),
            now,
            PredictionOptions::default(),
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        let d = &out[0];
        assert_eq!(d.prediction, core[0]);
        assert_eq!(pm.prediction("vibration"), Some(&core[0]));
        let ls = &d.least_squares;
        assert!((ls.predicted_value.estimate - d.prediction.predicted_value).abs() < 1e-9);
        assert!(ls.predicted_value.lower < ls.predicted_value.estimate);
        let w = ls.time_to_warning;
        let core_w = d.prediction.time_to_warning.unwrap();
        assert!(
            (w.estimate.unwrap() - core_w).abs() < 1e-6,
            "{w:?} vs {core_w}"
        );
        assert!(w.lower.unwrap() < core_w && core_w < w.upper.unwrap());
        let ts = d.theil_sen.as_ref().unwrap();
        assert!((ts.slope_per_hour - 0.1).abs() < 0.02);
        let json = serde_json::to_value(d).unwrap();
        assert_eq!(json["property"], "vibration");
        assert!(json["timeToWarning"].is_number());
        assert!(json["leastSquares"]["timeToWarning"]["lower"].is_number());
        assert_eq!(json["theilSen"]["method"], "theilSen");
    }

    #[test]
    fn from_a_twin_and_options_checked() {
        let config = DeviceConfig::from_json(
            r#"{"id": "m", "name": "M", "type": "motor",
                "properties": [{"name": "vibration", "type": "number", "telemetry": true}]}"#,
        )
        .unwrap();
        let mut twin = DigitalTwin::new(config).unwrap();
        for i in 0..30u64 {
            twin.apply_reported(
                [("vibration".to_string(), json!(1.0 + 0.2 * i as f64))].into(),
                T0 + i * H,
            );
        }
        let mut pm = PredictiveMaintenance::new();
        pm.set_threshold("vibration", 8.0, 12.0).unwrap();
        let opts = PredictionOptions {
            robust: false,
            ..Default::default()
        };
        let out = analyze_twin(&mut pm, &twin, T0 + 29 * H, opts).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].theil_sen.is_none());
        // Exact line: 6.8 now, warning at 8 in 6 h.
        let w = out[0].least_squares.time_to_warning;
        assert!((w.estimate.unwrap() - 6.0).abs() < 1e-9, "{w:?}");
        let bad = PredictionOptions {
            confidence_level: 1.0,
            ..Default::default()
        };
        assert_eq!(
            analyze_twin(&mut pm, &twin, T0, bad).unwrap_err().code(),
            "INVALID_CONFIG"
        );
    }
}
