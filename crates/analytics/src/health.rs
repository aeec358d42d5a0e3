//! Health of one property: stability, drift per minute, freshness, a score
//! and a status, with the issues that lowered the score.
//!
//! Computed on demand from a [`PropertyDetector`]'s rolling window (the last
//! `window` readings, 64 by default) and its latched detections, at the time
//! `now` passed in.
//!
//! # Traits
//!
//! * **Drift per minute**: the least-squares slope of value over time across
//!   the window, in value units per minute.
//! * **Noise**: the residual standard deviation around that line (so a
//!   steady trend is drift, not instability).
//! * **Stability %**: `100 × clamp(1 − noise / tolerance, 0, 1)`, where the
//!   *tolerance* is [`HealthConfig::noise_tolerance`] when set, else 10 % of
//!   the property's span (max − min, [`HealthConfig::span`], e.g. from the
//!   twin's property definition), else 10 % of the window's median magnitude
//!   (1 when that is 0). Set the tolerance or span for figures that mean
//!   something in the property's units; the last fallback is only a guess.
//! * **Freshness**: the age of the last reading at `now` against the expected
//!   interval ([`HealthConfig::expected_interval_ms`], else the median
//!   interval between the window's readings): `FRESH` up to `staleAfter`
//!   intervals (3), `STALE` up to `offlineAfter` intervals (10), then
//!   `OFFLINE`.
//!
//! # Score
//!
//! Start at 100 and subtract, listing each reason in `issues`:
//!
//! | Condition | Points |
//! |-----------|--------|
//! | stability below 70 % (below 40 %) | 20 (40) |
//! | \|drift per minute\| above the drift limit (default: tolerance per hour) | 20 |
//! | `STALE` (`OFFLINE`) | 30 (60) |
//! | a `STUCK` detection active | 50 |
//! | each `SPIKE`, `RAPID_CHANGE` or `DRIFT` detection active | 10 |
//! | fewer than 3 readings (nothing to judge) | 20 |
//!
//! The score is clamped to 0..=100. Status: above 80 `HEALTHY`, above 50
//! `DEGRADED`, otherwise `FAILED`: a stuck or offline sensor alone is failed,
//! a stale or unstable one degraded. (The weights follow the spirit of the
//! reference's scoring: instability and drift cost 20, staleness 30.)

use serde::{Deserialize, Serialize};
use twinkit_core::prediction::fit_line;
use twinkit_core::{Millis, PropertyDefinition};

use crate::detect::{num, ActiveDetections, PropertyDetector};
use crate::error::{invalid, AnalyticsError};
use crate::window::median;

/// Settings of a property's health assessment (camelCase JSON, all optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Expected time between readings, ms. Default: the window's median.
    pub expected_interval_ms: Option<Millis>,
    /// Noise level that counts as 0 % stable, in value units.
    pub noise_tolerance: Option<f64>,
    /// The property's span (max − min), used when no tolerance is set.
    pub span: Option<f64>,
    /// Drift beyond this many value units per minute is an issue. Default:
    /// the tolerance per hour.
    pub drift_limit_per_minute: Option<f64>,
    /// Intervals without a reading before the property is stale. Default 3.
    pub stale_after: f64,
    /// Intervals without a reading before it is offline. Default 10.
    pub offline_after: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            expected_interval_ms: None,
            noise_tolerance: None,
            span: None,
            drift_limit_per_minute: None,
            stale_after: 3.0,
            offline_after: 10.0,
        }
    }
}

impl HealthConfig {
    /// Defaults with the span of a number property's min/max, when both are
    /// set and differ.
    pub fn for_definition(definition: &PropertyDefinition) -> Self {
        let span = match (definition.min, definition.max) {
            (Some(lo), Some(hi)) if hi > lo => Some(hi - lo),
            _ => None,
        };
        Self {
            span,
            ..Self::default()
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        let positive = |field: &str, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => {
                Err(invalid(field, "must be a positive finite number or null"))
            }
            _ => Ok(()),
        };
        positive("noiseTolerance", self.noise_tolerance)?;
        positive("span", self.span)?;
        positive("driftLimitPerMinute", self.drift_limit_per_minute)?;
        if self.expected_interval_ms == Some(0) {
            return Err(invalid("expectedIntervalMs", "must be positive"));
        }
        if !(self.stale_after.is_finite() && self.stale_after >= 1.0) {
            return Err(invalid("staleAfter", "must be at least 1 interval"));
        }
        if !(self.offline_after.is_finite() && self.offline_after >= self.stale_after) {
            return Err(invalid("offlineAfter", "must be at least staleAfter"));
        }
        Ok(())
    }
}

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// Score above 80.
    Healthy,
    /// Score above 50.
    Degraded,
    /// Score 50 or less.
    Failed,
}

impl HealthStatus {
    /// From a score, per the module docs.
    pub fn from_score(score: u32) -> Self {
        if score > 80 {
            Self::Healthy
        } else if score > 50 {
            Self::Degraded
        } else {
            Self::Failed
        }
    }

    /// `HEALTHY`, `DEGRADED` or `FAILED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "HEALTHY",
            Self::Degraded => "DEGRADED",
            Self::Failed => "FAILED",
        }
    }
}

/// How recent the last reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Freshness {
    /// Within `staleAfter` intervals (or no interval known yet).
    Fresh,
    /// Within `offlineAfter` intervals.
    Stale,
    /// Older.
    Offline,
}

/// The health of one property at one time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyHealth {
    /// The property.
    pub property: String,
    /// `HEALTHY`, `DEGRADED` or `FAILED`.
    pub status: HealthStatus,
    /// 0..=100.
    pub score: u32,
    /// Stability, 0..=100 %, `None` with fewer than 3 readings.
    pub stability_percent: Option<f64>,
    /// Residual standard deviation around the window's trend line.
    pub noise_std: Option<f64>,
    /// Trend over the window, value units per minute.
    pub drift_per_minute: Option<f64>,
    /// How recent the last reading is.
    pub freshness: Freshness,
    /// `now` minus the last reading's time, ms (0 if the reading is newer).
    pub age_ms: Millis,
    /// The interval freshness was judged against.
    pub expected_interval_ms: Option<Millis>,
    /// The last reading.
    pub current_value: Option<f64>,
    /// Readings in the window.
    pub readings: usize,
    /// Detections latched now.
    pub active: ActiveDetections,
    /// Why the score is below 100.
    pub issues: Vec<String>,
}

/// Assesses `detector`'s property at `now` (see the module docs).
pub fn assess(
    property: &str,
    detector: &PropertyDetector,
    config: &HealthConfig,
    now: Millis,
) -> PropertyHealth {
    let window = detector.window();
    let n = window.len();
    let values: Vec<f64> = window.iter().map(|(_, v)| v).collect();
    let level = median(&values).unwrap_or(0.0);
    let tolerance = config
        .noise_tolerance
        .or(config.span.map(|s| 0.1 * s))
        .unwrap_or(if level.abs() > 1e-9 {
            0.1 * level.abs()
        } else {
            1.0
        });
    let drift_limit = config.drift_limit_per_minute.unwrap_or(tolerance / 60.0);
    let mut score: i64 = 100;
    let mut issues = Vec::new();

    let (stability, noise, drift) = if n >= 3 {
        let (noise, drift) = match fit_line(window.iter()) {
            Some(fit) => (fit.residual_std, fit.slope_per_hour / 60.0),
            None => (std_dev(&values), 0.0),
        };
        let stability = 100.0 * (1.0 - noise / tolerance).clamp(0.0, 1.0);
        if stability < 70.0 {
            score -= if stability < 40.0 { 40 } else { 20 };
            issues.push(format!(
                "Unstable: noise σ {} against a tolerance of {} (stability {:.0}%)",
                num(noise),
                num(tolerance),
                stability
            ));
        }
        if drift.abs() > drift_limit {
            score -= 20;
            issues.push(format!(
                "Drifting: {}{}/min (limit {}/min)",
                if drift > 0.0 { "+" } else { "" },
                num(drift),
                num(drift_limit)
            ));
        }
        (Some(stability), Some(noise), Some(drift))
    } else {
        score -= 20;
        issues.push(format!("Only {n} reading(s): too few to judge stability"));
        (None, None, None)
    };

    let last = detector.last();
    let age_ms = last.map_or(0, |(t, _)| now.saturating_sub(t));
    let interval = config
        .expected_interval_ms
        .or_else(|| median_interval(detector));
    let freshness = match interval {
        Some(i) if age_ms as f64 > config.offline_after * i as f64 => Freshness::Offline,
        Some(i) if age_ms as f64 > config.stale_after * i as f64 => Freshness::Stale,
        _ => Freshness::Fresh,
    };
    let seconds = |ms: Millis| num(ms as f64 / 1000.0);
    match (freshness, interval) {
        (Freshness::Stale, Some(i)) => {
            score -= 30;
            issues.push(format!(
                "Stale: last reading {}s ago, expected every {}s",
                seconds(age_ms),
                seconds(i)
            ));
        }
        (Freshness::Offline, Some(i)) => {
            score -= 60;
            issues.push(format!(
                "Offline: last reading {}s ago, expected every {}s",
                seconds(age_ms),
                seconds(i)
            ));
        }
        _ => {}
    }

    let active = detector.active();
    if active.stuck {
        score -= 50;
        let at = last.map_or_else(String::new, |(_, v)| format!(" at {}", num(v)));
        issues.push(format!("Stuck{at}"));
    }
    for (on, what) in [
        (active.spike, "Spike in progress"),
        (active.rapid_change, "Rapid change in progress"),
        (active.drift, "Drift from the long-run baseline"),
    ] {
        if on {
            score -= 10;
            issues.push(what.to_owned());
        }
    }
    let score = score.clamp(0, 100) as u32;
    PropertyHealth {
        property: property.to_owned(),
        status: HealthStatus::from_score(score),
        score,
        stability_percent: stability,
        noise_std: noise,
        drift_per_minute: drift,
        freshness,
        age_ms,
        expected_interval_ms: interval,
        current_value: last.map(|(_, v)| v),
        readings: n,
        active,
        issues,
    }
}

fn median_interval(detector: &PropertyDetector) -> Option<Millis> {
    let times: Vec<Millis> = detector.window().iter().map(|(t, _)| t).collect();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64)
        .filter(|g| *g > 0.0)
        .collect();
    median(&gaps).map(|g| g.round() as Millis)
}

fn std_dev(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::DetectorConfig;
    use twinkit_core::physics::Rng;

    const S: Millis = 1_000;
    const T0: Millis = 1_700_000_000_000;

    fn detector(values: impl IntoIterator<Item = f64>) -> PropertyDetector {
        let mut d = PropertyDetector::new(DetectorConfig::default()).unwrap();
        let mut out = Vec::new();
        for (i, v) in values.into_iter().enumerate() {
            d.observe("t", T0 + i as u64 * S, v, &mut out).unwrap();
        }
        d
    }

    fn span(span: f64) -> HealthConfig {
        HealthConfig {
            span: Some(span),
            ..Default::default()
        }
    }

    #[test]
    fn steady_fresh_sensor_is_healthy() {
        let mut rng = Rng::new(1);
        let d = detector((0..100).map(|_| 20.0 + 0.2 * rng.standard_normal()));
        let h = assess("t", &d, &span(100.0), T0 + 100 * S);
        assert_eq!(h.status, HealthStatus::Healthy, "{h:?}");
        assert_eq!(h.score, 100);
        assert!(h.issues.is_empty());
        let s = h.stability_percent.unwrap();
        assert!(s > 95.0 && s <= 100.0, "{s}");
        assert!(h.drift_per_minute.unwrap().abs() < 0.5);
        assert_eq!(h.freshness, Freshness::Fresh);
        assert_eq!(h.expected_interval_ms, Some(S));
        assert_eq!(h.age_ms, S);
        assert_eq!(h.readings, 64);
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["status"], "HEALTHY");
        assert_eq!(json["freshness"], "FRESH");
    }

    #[test]
    fn noisy_sensor_is_unstable() {
        let mut rng = Rng::new(2);
        // σ = 7 against a tolerance of 10 (10 % of a span of 100): 30 % stable.
        let d = detector((0..100).map(|_| 20.0 + 7.0 * rng.standard_normal()));
        let h = assess("t", &d, &span(100.0), T0 + 100 * S);
        let s = h.stability_percent.unwrap();
        assert!(s < 45.0 && s > 15.0, "{s}");
        assert!(h.issues[0].starts_with("Unstable"), "{:?}", h.issues);
        assert!(h.status != HealthStatus::Healthy);
    }

    #[test]
    fn drifting_sensor_reports_drift_per_minute() {
        // +0.5 per minute (readings every second), span 100: limit 10/h.
        let d = detector((0..100).map(|i| 20.0 + 0.5 * i as f64 / 60.0));
        let h = assess("t", &d, &span(100.0), T0 + 100 * S);
        assert!((h.drift_per_minute.unwrap() - 0.5).abs() < 1e-9, "{h:?}");
        assert!(h.stability_percent.unwrap() > 99.99);
        assert_eq!(h.score, 80);
        assert_eq!(h.status, HealthStatus::Degraded);
        assert_eq!(h.issues, ["Drifting: +0.5/min (limit 0.1667/min)"]);
    }

    #[test]
    fn freshness_levels() {
        let d = detector((0..100).map(|i| 20.0 + (i % 3) as f64 * 0.1));
        let cfg = span(100.0);
        assert_eq!(
            assess("t", &d, &cfg, T0 + 102 * S).freshness,
            Freshness::Fresh
        );
        let stale = assess("t", &d, &cfg, T0 + 104 * S);
        assert_eq!(stale.freshness, Freshness::Stale);
        assert_eq!(stale.status, HealthStatus::Degraded);
        assert_eq!(
            stale.issues,
            ["Stale: last reading 5s ago, expected every 1s"]
        );
        let offline = assess("t", &d, &cfg, T0 + 200 * S);
        assert_eq!(offline.freshness, Freshness::Offline);
        assert_eq!(offline.status, HealthStatus::Failed);
        // An explicit interval wins; a clock behind the data is age 0.
        let cfg = HealthConfig {
            expected_interval_ms: Some(60 * S),
            ..span(100.0)
        };
        assert_eq!(
            assess("t", &d, &cfg, T0 + 200 * S).freshness,
            Freshness::Fresh
        );
        assert_eq!(assess("t", &d, &cfg, T0).age_ms, 0);
    }

    #[test]
    fn stuck_sensor_fails() {
        let mut rng = Rng::new(3);
        let mut v: Vec<f64> = (0..100)
            .map(|_| 20.0 + 0.2 * rng.standard_normal())
            .collect();
        v.extend(std::iter::repeat_n(21.5, 12));
        let d = detector(v);
        let h = assess("t", &d, &span(100.0), T0 + 112 * S);
        assert!(h.active.stuck);
        assert_eq!(h.status, HealthStatus::Failed, "{h:?}");
        assert!(
            h.issues.contains(&"Stuck at 21.5".to_string()),
            "{:?}",
            h.issues
        );
    }

    #[test]
    fn too_few_readings_and_fallback_tolerance() {
        let d = detector([5.0]);
        let h = assess("t", &d, &HealthConfig::default(), T0);
        assert_eq!(h.stability_percent, None);
        assert_eq!(h.score, 80);
        assert_eq!(h.expected_interval_ms, None);
        assert_eq!(h.freshness, Freshness::Fresh);
        // No span: tolerance is 10 % of the level (|20| → 2); σ 1 → ~50 %.
        let mut rng = Rng::new(4);
        let d = detector((0..200).map(|_| 20.0 + rng.standard_normal()));
        let s = assess("t", &d, &HealthConfig::default(), T0 + 200 * S)
            .stability_percent
            .unwrap();
        assert!((35.0..65.0).contains(&s), "{s}");
    }

    #[test]
    fn config_from_definition_and_validation() {
        let def: PropertyDefinition = serde_json::from_value(
            serde_json::json!({"name": "t", "type": "number", "min": -40, "max": 85}),
        )
        .unwrap();
        assert_eq!(HealthConfig::for_definition(&def).span, Some(125.0));
        for (cfg, field) in [
            (
                HealthConfig {
                    span: Some(0.0),
                    ..Default::default()
                },
                "span",
            ),
            (
                HealthConfig {
                    expected_interval_ms: Some(0),
                    ..Default::default()
                },
                "expectedIntervalMs",
            ),
            (
                HealthConfig {
                    stale_after: 0.5,
                    ..Default::default()
                },
                "staleAfter",
            ),
            (
                HealthConfig {
                    offline_after: 2.0,
                    ..Default::default()
                },
                "offlineAfter",
            ),
        ] {
            let err = cfg.validate().unwrap_err();
            assert!(
                matches!(&err, AnalyticsError::InvalidConfig { field: f, .. } if f == field),
                "{err:?}"
            );
        }
        assert!(HealthConfig::default().validate().is_ok());
    }
}
