//! Predictive maintenance: least-squares trends toward thresholds.
//!
//! # Model
//!
//! For every property with a [`Threshold`], [`PredictiveMaintenance::analyze_from`]
//! takes the property's telemetry points `(time, value)`, oldest first, and
//! fits an ordinary least-squares line
//!
//! ```text
//! value(t) = a + b·t        t in HOURS relative to the last point
//! ```
//!
//! Non-finite values (NaN, ±∞) are ignored; a property with fewer than
//! [`MIN_POINTS`] finite points, or whose points all share one timestamp, gets
//! no prediction (and loses any previous one). The fit is computed in two
//! passes over the points (means, then centered sums), with times taken as
//! exact integer millisecond differences before conversion to hours, so
//! epoch-millisecond timestamps (~1.7e12) lose no precision.
//!
//! # Units
//!
//! All durations in a [`MaintenancePrediction`] are **hours** measured from the
//! analysis time `now`; slopes are value units per hour.
//!
//! * `current_value`: the last finite observed value.
//! * `predicted_value`: the line at `now + 24 h`.
//! * `time_to_warning` / `time_to_critical`: hours from `now` until the line
//!   reaches the level in the threshold's [`Direction`]. `Some(0.0)` when the
//!   current value is already at or past it (or the line already crossed it
//!   before `now`); `None` when the slope is zero or points away from it (or
//!   the crossing is too far away to represent).
//!
//! # Confidence
//!
//! ```text
//! confidence = r² · n / (n + 20)
//! ```
//!
//! where `n` is the number of finite points used and `r²` the coefficient of
//! determination of the fit, `r² = Sxy² / (Sxx · Syy)` (centered sums),
//! clamped to `[0, 1]`. It falls with scatter (lower `r²`) and with few points
//! (`n = 10` gives at most `1/3`; it approaches 1 as `n` grows). A perfectly
//! flat series (`Syy = 0`) is fitted exactly by a line of slope 0, so its
//! `r²` is defined as 1: the prediction "stays at this value, never crosses
//! a threshold it is not already past" is as certain as the point count
//! allows. The confidence is never NaN.
//!
//! # Recommendation
//!
//! From `time_to_critical`:
//!
//! | Time to critical     | Recommendation                            |
//! |----------------------|-------------------------------------------|
//! | < 24 hours           | `"Immediate maintenance required"`        |
//! | < 168 hours (1 week) | `"Schedule maintenance within this week"` |
//! | ≥ 168 hours or never | `"Monitor closely, plan maintenance"`     |
//!
//! # Example
//!
//! ```
//! use twinkit_core::prediction::PredictiveMaintenance;
//!
//! let mut pm = PredictiveMaintenance::new();
//! pm.set_threshold("vibration", 5.0, 10.0).unwrap();
//! // One point per hour, rising 0.25 mm/s per hour, last value 3.25.
//! let history: Vec<(u64, f64)> = (0..14u64).map(|h| (h * 3_600_000, h as f64 * 0.25)).collect();
//! let now = 13 * 3_600_000;
//! let predictions = pm.analyze_from(|_property| history.iter().copied(), now);
//! let p = &predictions[0];
//! assert!((p.time_to_warning.unwrap() - 7.0).abs() < 1e-9);
//! assert!((p.time_to_critical.unwrap() - 27.0).abs() < 1e-9);
//! assert_eq!(p.recommendation, "Schedule maintenance within this week");
//! ```

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::TwinError;
use crate::limits::check_name;
use crate::twin::DigitalTwin;
use crate::Millis;

/// Fewest finite points a property needs before it is analyzed.
pub const MIN_POINTS: usize = 10;

/// Recommendation when the critical level is less than 24 hours away.
pub const RECOMMEND_IMMEDIATE: &str = "Immediate maintenance required";
/// Recommendation when the critical level is less than 168 hours away.
pub const RECOMMEND_THIS_WEEK: &str = "Schedule maintenance within this week";
/// Recommendation when the critical level is 168 hours or more away, or never.
pub const RECOMMEND_MONITOR: &str = "Monitor closely, plan maintenance";

const MS_PER_HOUR: f64 = 3_600_000.0;
const HOURS_AHEAD: f64 = 24.0;
const CONFIDENCE_POINTS: f64 = 20.0;

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

/// Which way a property goes bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Higher is worse: `critical > warning` (e.g. vibration, temperature).
    Rising,
    /// Lower is worse: `critical < warning` (e.g. oil pressure, battery).
    Falling,
}

/// Warning and critical levels of one property.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    /// Level at which the property needs attention.
    pub warning: f64,
    /// Level at which the property needs maintenance now.
    pub critical: f64,
}

impl Threshold {
    /// [`Direction::Rising`] when `critical > warning`, [`Direction::Falling`]
    /// when `critical < warning`. (Equal levels are refused by
    /// [`PredictiveMaintenance::set_threshold`]; they count as rising.)
    pub fn direction(&self) -> Direction {
        if self.critical < self.warning {
            Direction::Falling
        } else {
            Direction::Rising
        }
    }
}

/// An ordinary least-squares line through `(time, value)` points, with time in
/// hours relative to the last point: `value = intercept_at_last + slope_per_hour · h`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFit {
    /// Slope, in value units per hour.
    pub slope_per_hour: f64,
    /// The line's value at the last point's time.
    pub intercept_at_last: f64,
    /// Coefficient of determination, in `[0, 1]`; 1 for a flat series
    /// (see the module docs).
    pub r_squared: f64,
    /// Number of finite points fitted.
    pub n: usize,
    /// Time of the last finite point.
    pub last_time: Millis,
    /// Last finite value.
    pub last_value: f64,
    /// Residual standard deviation `sqrt(SSE / (n − 2))`, 0 when `n ≤ 2`.
    pub residual_std: f64,
}

impl LineFit {
    /// The line's value at `time`.
    pub fn value_at(&self, time: Millis) -> f64 {
        self.intercept_at_last + self.slope_per_hour * hours_between(self.last_time, time)
    }

    /// `r² · n / (n + 20)`, in `[0, 1]`, never NaN (see the module docs).
    pub fn confidence(&self) -> f64 {
        let n = self.n as f64;
        let c = self.r_squared * n / (n + CONFIDENCE_POINTS);
        if c.is_finite() {
            c.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Hours from `now` until the line reaches `level` going in `direction`:
    /// `Some(0.0)` when the last value is already at or past it, or the line
    /// crossed it before `now`; `None` when the slope is zero, points away, or
    /// the crossing is too far to represent.
    pub fn hours_until(&self, level: f64, direction: Direction, now: Millis) -> Option<f64> {
        let (reached, toward) = match direction {
            Direction::Rising => (self.last_value >= level, self.slope_per_hour > 0.0),
            Direction::Falling => (self.last_value <= level, self.slope_per_hour < 0.0),
        };
        if reached {
            return Some(0.0);
        }
        if !toward {
            return None;
        }
        let from_last = (level - self.intercept_at_last) / self.slope_per_hour;
        let hours = from_last - hours_between(self.last_time, now);
        hours.is_finite().then_some(hours.max(0.0))
    }
}

/// Fits a least-squares line through `points` (oldest first; non-finite values
/// ignored), in two passes and without allocating.
///
/// `None` when fewer than two finite points remain, when they all share one
/// timestamp, or when the sums overflow `f64`.
pub fn fit_line<I>(points: I) -> Option<LineFit>
where
    I: Iterator<Item = (Millis, f64)> + Clone,
{
    // Pass 1: count, origin (first time), last point, running means.
    let mut n = 0usize;
    let mut origin: Millis = 0;
    let mut last_time: Millis = 0;
    let mut last_value = 0.0;
    let mut mean_x = 0.0;
    let mut mean_y = 0.0;
    for (t, v) in points.clone().filter(|(_, v)| v.is_finite()) {
        if n == 0 {
            origin = t;
        }
        n += 1;
        let k = n as f64;
        mean_x += (hours_between(origin, t) - mean_x) / k;
        mean_y += (v - mean_y) / k;
        last_time = t;
        last_value = v;
    }
    if n < 2 {
        return None;
    }

    // Pass 2: centered sums.
    let (mut sxx, mut sxy, mut syy) = (0.0f64, 0.0f64, 0.0f64);
    for (t, v) in points.filter(|(_, v)| v.is_finite()) {
        let dx = hours_between(origin, t) - mean_x;
        let dy = v - mean_y;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx.is_nan() || sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y + slope * (hours_between(origin, last_time) - mean_x);
    let r_squared = if syy > 0.0 {
        (slope * (sxy / syy)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let sse = (syy * (1.0 - r_squared)).max(0.0);
    let residual_std = if n > 2 {
        (sse / (n - 2) as f64).sqrt()
    } else {
        0.0
    };
    let all_finite = [slope, intercept, r_squared, residual_std]
        .iter()
        .all(|x| x.is_finite());
    all_finite.then_some(LineFit {
        slope_per_hour: slope,
        intercept_at_last: intercept,
        r_squared,
        n,
        last_time,
        last_value,
        residual_std,
    })
}

/// The recommendation for a time to critical, per the module docs' table.
pub fn recommendation_for(time_to_critical: Option<f64>) -> &'static str {
    match time_to_critical {
        Some(h) if h < 24.0 => RECOMMEND_IMMEDIATE,
        Some(h) if h < 168.0 => RECOMMEND_THIS_WEEK,
        _ => RECOMMEND_MONITOR,
    }
}

/// Hours from `from` to `to` (negative when `to` is earlier), from the exact
/// integer millisecond difference.
fn hours_between(from: Millis, to: Millis) -> f64 {
    (i128::from(to) - i128::from(from)) as f64 / MS_PER_HOUR
}

/// The reference's `PredictiveMaintenance`: thresholds per property (in
/// insertion order) and the predictions of the last analysis.
#[derive(Debug, Clone, Default)]
pub struct PredictiveMaintenance {
    thresholds: IndexMap<String, Threshold>,
    predictions: IndexMap<String, MaintenancePrediction>,
}

impl PredictiveMaintenance {
    /// No thresholds, no predictions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces, keeping its place) the warning and critical levels of
    /// `property`; `critical > warning` means higher is worse, `critical <
    /// warning` lower is worse. A changed threshold drops the property's
    /// previous prediction.
    ///
    /// Errors: [`TwinError::InvalidName`] for a bad name,
    /// [`TwinError::InvalidThreshold`] when a level is not finite or both
    /// levels are equal.
    pub fn set_threshold(
        &mut self,
        property: &str,
        warning: f64,
        critical: f64,
    ) -> Result<(), TwinError> {
        check_name(property)?;
        let invalid = |reason| TwinError::InvalidThreshold {
            property: property.to_owned(),
            reason,
        };
        if !warning.is_finite() || !critical.is_finite() {
            return Err(invalid(
                "warning and critical levels must be finite numbers",
            ));
        }
        if warning == critical {
            return Err(invalid(
                "warning and critical levels must differ (their order gives the direction)",
            ));
        }
        let threshold = Threshold { warning, critical };
        if self.thresholds.insert(property.to_owned(), threshold) != Some(threshold) {
            self.predictions.shift_remove(property);
        }
        Ok(())
    }

    /// Removes `property`'s threshold and prediction; returns the threshold.
    pub fn remove_threshold(&mut self, property: &str) -> Option<Threshold> {
        self.predictions.shift_remove(property);
        self.thresholds.shift_remove(property)
    }

    /// `property`'s threshold, if set.
    pub fn threshold(&self, property: &str) -> Option<&Threshold> {
        self.thresholds.get(property)
    }

    /// All thresholds, in the order they were first set.
    pub fn thresholds(&self) -> impl Iterator<Item = (&str, &Threshold)> + '_ {
        self.thresholds.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Analyzes a twin's telemetry history (the reference's `analyze()`):
    /// every numeric point the twin keeps for each property with a
    /// threshold, with times to thresholds counted from `now`.
    pub fn analyze(&mut self, twin: &DigitalTwin, now: Millis) -> Vec<MaintenancePrediction> {
        self.analyze_from(|property| twin.history().numeric_series(property), now)
    }

    /// Analyzes every property with a threshold at time `now`. `series` gives
    /// a property's points `(time, value)`, oldest first (the twin's history).
    /// Properties with fewer than [`MIN_POINTS`] finite points, all at one
    /// timestamp, or whose trend overflows `f64` get no prediction. Replaces
    /// the stored predictions and returns them in threshold order.
    pub fn analyze_from<F, I>(&mut self, mut series: F, now: Millis) -> Vec<MaintenancePrediction>
    where
        F: FnMut(&str) -> I,
        I: Iterator<Item = (Millis, f64)> + Clone,
    {
        let mut predictions = IndexMap::with_capacity(self.thresholds.len());
        for (property, threshold) in &self.thresholds {
            let Some(fit) = fit_line(series(property)) else {
                continue;
            };
            if fit.n < MIN_POINTS {
                continue;
            }
            if let Some(p) = predict(property, threshold, &fit, now) {
                predictions.insert(property.clone(), p);
            }
        }
        self.predictions = predictions;
        self.predictions.values().cloned().collect()
    }

    /// The last prediction for `property` (the reference's `getPrediction`).
    pub fn prediction(&self, property: &str) -> Option<&MaintenancePrediction> {
        self.predictions.get(property)
    }

    /// The predictions of the last analysis, in threshold order.
    pub fn predictions(&self) -> impl Iterator<Item = &MaintenancePrediction> + '_ {
        self.predictions.values()
    }
}

fn predict(
    property: &str,
    threshold: &Threshold,
    fit: &LineFit,
    now: Millis,
) -> Option<MaintenancePrediction> {
    let predicted_value = fit.intercept_at_last
        + fit.slope_per_hour * (hours_between(fit.last_time, now) + HOURS_AHEAD);
    if !predicted_value.is_finite() {
        return None;
    }
    let direction = threshold.direction();
    let time_to_warning = fit.hours_until(threshold.warning, direction, now);
    let time_to_critical = fit.hours_until(threshold.critical, direction, now);
    Some(MaintenancePrediction {
        property: property.to_owned(),
        current_value: fit.last_value,
        predicted_value,
        time_to_warning,
        time_to_critical,
        confidence: fit.confidence(),
        recommendation: recommendation_for(time_to_critical).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: Millis = 3_600_000;
    const EPOCH: Millis = 1_700_000_000_000;

    /// `n` hourly points from `start`, value `f(hour index)`.
    fn hourly(start: Millis, n: u64, f: impl Fn(f64) -> f64) -> Vec<(Millis, f64)> {
        (0..n).map(|i| (start + i * H, f(i as f64))).collect()
    }

    fn analyze(
        pm: &mut PredictiveMaintenance,
        pts: &[(Millis, f64)],
        now: Millis,
    ) -> Vec<MaintenancePrediction> {
        pm.analyze_from(|_| pts.iter().copied(), now)
    }

    fn with(warning: f64, critical: f64) -> PredictiveMaintenance {
        let mut pm = PredictiveMaintenance::new();
        pm.set_threshold("p", warning, critical).unwrap();
        pm
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1.0)
    }

    #[test]
    fn fewer_than_min_points_gives_no_prediction_and_drops_stale_one() {
        let mut pm = with(20.0, 30.0);
        let pts = hourly(EPOCH, 10, |h| h);
        assert_eq!(analyze(&mut pm, &pts, EPOCH + 9 * H).len(), 1);
        assert!(pm.prediction("p").is_some());
        let out = analyze(&mut pm, &pts[..9], EPOCH + 9 * H);
        assert!(out.is_empty());
        assert!(pm.prediction("p").is_none());
        assert_eq!(pm.predictions().count(), 0);
    }

    #[test]
    fn exact_rising_line() {
        let mut pm = with(20.0, 30.0);
        let pts = hourly(EPOCH, 10, |h| 1.0 + 0.5 * h); // last value 5.5
        let p = analyze(&mut pm, &pts, EPOCH + 9 * H).remove(0);
        assert_eq!(p.property, "p");
        assert_eq!(p.current_value, 5.5);
        assert!(close(p.predicted_value, 17.5, 1e-9), "{p:?}");
        assert!(close(p.time_to_warning.unwrap(), 29.0, 1e-9), "{p:?}");
        assert!(close(p.time_to_critical.unwrap(), 49.0, 1e-9), "{p:?}");
        assert!(close(p.confidence, 10.0 / 30.0, 1e-9), "{p:?}");
        assert_eq!(p.recommendation, RECOMMEND_THIS_WEEK);
        assert_eq!(pm.prediction("p"), Some(&p));

        // Analyzing 2 hours after the last point shifts everything by 2 h.
        let later = analyze(&mut pm, &pts, EPOCH + 11 * H).remove(0);
        assert!(close(later.time_to_warning.unwrap(), 27.0, 1e-9));
        assert!(close(later.predicted_value, 18.5, 1e-9));

        // Confidence grows with n.
        let mut last = p.confidence;
        for n in [11, 20, 50, 200] {
            let c =
                analyze(&mut pm, &hourly(EPOCH, n, |h| 1.0 + 0.5 * h), EPOCH + n * H)[0].confidence;
            assert!(c > last, "n={n}: {c} <= {last}");
            assert!(close(c, n as f64 / (n as f64 + 20.0), 1e-9));
            last = c;
        }
    }

    #[test]
    fn falling_thresholds() {
        let mut pm = with(20.0, 10.0);
        assert_eq!(pm.threshold("p").unwrap().direction(), Direction::Falling);
        let pts = hourly(EPOCH, 12, |h| 50.0 - h); // last value 39
        let p = analyze(&mut pm, &pts, EPOCH + 11 * H).remove(0);
        assert!(close(p.time_to_warning.unwrap(), 19.0, 1e-9), "{p:?}");
        assert!(close(p.time_to_critical.unwrap(), 29.0, 1e-9), "{p:?}");
        assert!(close(p.predicted_value, 15.0, 1e-9));
        assert_eq!(p.recommendation, RECOMMEND_THIS_WEEK);
    }

    #[test]
    fn trend_moving_away_never_reaches() {
        let pts = hourly(EPOCH, 10, |h| 10.0 - h);
        let p = analyze(&mut with(20.0, 30.0), &pts, EPOCH + 9 * H).remove(0);
        assert_eq!((p.time_to_warning, p.time_to_critical), (None, None));
        assert_eq!(p.recommendation, RECOMMEND_MONITOR);
        // Falling thresholds with a rising trend.
        let pts = hourly(EPOCH, 10, |h| 30.0 + h);
        let p = analyze(&mut with(20.0, 10.0), &pts, EPOCH + 9 * H).remove(0);
        assert_eq!((p.time_to_warning, p.time_to_critical), (None, None));
        assert_eq!(p.recommendation, RECOMMEND_MONITOR);
    }

    #[test]
    fn already_over_is_zero_hours() {
        let pts = hourly(EPOCH, 10, |h| 25.0 + h); // last 34, still rising
        let p = analyze(&mut with(20.0, 30.0), &pts, EPOCH + 9 * H).remove(0);
        assert_eq!(p.time_to_warning, Some(0.0));
        assert_eq!(p.time_to_critical, Some(0.0));
        assert_eq!(p.recommendation, RECOMMEND_IMMEDIATE);
        // Over the critical level even though the trend now points away.
        let pts = hourly(EPOCH, 10, |h| 50.0 - h); // last 41
        let p = analyze(&mut with(20.0, 30.0), &pts, EPOCH + 9 * H).remove(0);
        assert_eq!(p.time_to_critical, Some(0.0));
        assert_eq!(p.recommendation, RECOMMEND_IMMEDIATE);
        // Exactly at the level counts as reached; falling direction too.
        let pts = hourly(EPOCH, 10, |h| 19.0 - h); // last 10
        let p = analyze(&mut with(20.0, 10.0), &pts, EPOCH + 9 * H).remove(0);
        assert_eq!(p.time_to_critical, Some(0.0));
    }

    #[test]
    fn line_crossed_between_last_point_and_now_is_zero() {
        let pts = hourly(EPOCH, 10, |h| h); // last 9, +1/h; reaches 20 at +11 h
        let p = analyze(&mut with(20.0, 30.0), &pts, EPOCH + 9 * H + 15 * H).remove(0);
        assert_eq!(p.time_to_warning, Some(0.0));
        assert!(close(p.time_to_critical.unwrap(), 6.0, 1e-9));
    }

    #[test]
    fn recommendation_boundaries() {
        assert_eq!(recommendation_for(Some(0.0)), RECOMMEND_IMMEDIATE);
        assert_eq!(recommendation_for(Some(23.999)), RECOMMEND_IMMEDIATE);
        assert_eq!(recommendation_for(Some(24.0)), RECOMMEND_THIS_WEEK);
        assert_eq!(recommendation_for(Some(167.999)), RECOMMEND_THIS_WEEK);
        assert_eq!(recommendation_for(Some(168.0)), RECOMMEND_MONITOR);
        assert_eq!(recommendation_for(None), RECOMMEND_MONITOR);
        // End to end: value = hour, last value 9, slope 1/h.
        let pts = hourly(EPOCH, 10, |h| h);
        for (critical, expect) in [
            (32.5, RECOMMEND_IMMEDIATE),
            (33.0, RECOMMEND_THIS_WEEK),
            (176.5, RECOMMEND_THIS_WEEK),
            (177.0, RECOMMEND_MONITOR),
        ] {
            let p = analyze(&mut with(15.0, critical), &pts, EPOCH + 9 * H).remove(0);
            assert_eq!(p.recommendation, expect, "{p:?}");
        }
    }

    #[test]
    fn noise_lowers_confidence() {
        let clean = hourly(EPOCH, 30, |h| 10.0 + 0.5 * h);
        let noisy = hourly(EPOCH, 30, |h| {
            10.0 + 0.5 * h + if (h as u64) % 2 == 0 { 3.0 } else { -3.0 }
        });
        let now = EPOCH + 29 * H;
        let c = analyze(&mut with(50.0, 60.0), &clean, now)[0].confidence;
        let d = analyze(&mut with(50.0, 60.0), &noisy, now)[0].confidence;
        assert!(d < c, "noisy {d} >= clean {c}");
        assert!(d > 0.0);
        let fit = fit_line(noisy.iter().copied()).unwrap();
        assert!(close(fit.slope_per_hour, 0.5, 0.05));
        assert!(fit.residual_std > 2.0 && fit.residual_std < 4.0, "{fit:?}");
        assert_eq!(fit_line(clean.iter().copied()).unwrap().residual_std, 0.0);
    }

    #[test]
    fn flat_series_is_certain_and_never_crosses() {
        let pts = hourly(EPOCH, 10, |_| 7.0);
        let p = analyze(&mut with(20.0, 30.0), &pts, EPOCH + 9 * H).remove(0);
        assert_eq!(p.predicted_value, 7.0);
        assert_eq!((p.time_to_warning, p.time_to_critical), (None, None));
        assert!(close(p.confidence, 10.0 / 30.0, 1e-12));
        assert_eq!(p.recommendation, RECOMMEND_MONITOR);
        let p = analyze(&mut with(5.0, 6.0), &pts, EPOCH + 9 * H).remove(0);
        assert_eq!(p.time_to_critical, Some(0.0));
    }

    #[test]
    fn same_timestamp_gives_no_fit() {
        let pts: Vec<_> = (0..12).map(|i| (EPOCH, f64::from(i))).collect();
        assert!(fit_line(pts.iter().copied()).is_none());
        assert!(analyze(&mut with(20.0, 30.0), &pts, EPOCH).is_empty());
        assert!(fit_line(std::iter::once((EPOCH, 1.0))).is_none());
    }

    #[test]
    fn invalid_thresholds_refused() {
        let mut pm = PredictiveMaintenance::new();
        for (w, c) in [
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
            (f64::NEG_INFINITY, 0.0),
            (5.0, 5.0),
        ] {
            let err = pm.set_threshold("p", w, c).unwrap_err();
            assert!(
                matches!(err, TwinError::InvalidThreshold { ref property, .. } if property == "p"),
                "{err:?}"
            );
            assert_eq!(err.code(), "INVALID_THRESHOLD");
        }
        for bad in ["", "__proto__", "a\nb"] {
            assert!(matches!(
                pm.set_threshold(bad, 1.0, 2.0),
                Err(TwinError::InvalidName { .. })
            ));
        }
        assert_eq!(pm.thresholds().count(), 0);
    }

    #[test]
    fn thresholds_keep_order_and_remove() {
        let mut pm = PredictiveMaintenance::new();
        pm.set_threshold("b", 1.0, 2.0).unwrap();
        pm.set_threshold("a", 5.0, 3.0).unwrap();
        pm.set_threshold("c", 0.0, 1.0).unwrap();
        pm.set_threshold("b", 10.0, 20.0).unwrap();
        let names: Vec<_> = pm.thresholds().map(|(k, _)| k).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(
            pm.threshold("b"),
            Some(&Threshold {
                warning: 10.0,
                critical: 20.0
            })
        );
        let pts = hourly(EPOCH, 10, |h| h);
        let out = analyze(&mut pm, &pts, EPOCH + 9 * H);
        let props: Vec<_> = out.iter().map(|p| p.property.as_str()).collect();
        assert_eq!(props, ["b", "a", "c"]);
        assert_eq!(
            pm.remove_threshold("a").map(|t| t.direction()),
            Some(Direction::Falling)
        );
        assert!(pm.prediction("a").is_none());
        assert_eq!(pm.remove_threshold("a"), None);
        // A changed threshold drops the stale prediction; an identical one keeps it.
        pm.set_threshold("b", 10.0, 20.0).unwrap();
        assert!(pm.prediction("b").is_some());
        pm.set_threshold("b", 10.0, 25.0).unwrap();
        assert!(pm.prediction("b").is_none());
        let props: Vec<_> = pm.predictions().map(|p| p.property.as_str()).collect();
        assert_eq!(props, ["c"]);
    }

    #[test]
    fn threshold_serde_shape() {
        let t = Threshold {
            warning: 5.0,
            critical: 10.0,
        };
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(json, serde_json::json!({"warning": 5.0, "critical": 10.0}));
        assert_eq!(serde_json::to_value(Direction::Falling).unwrap(), "falling");
    }

    #[test]
    fn epoch_timestamps_keep_precision() {
        // One point a minute, slope 0.001 per hour, large offset.
        let pts: Vec<_> = (0..600u64)
            .map(|i| (EPOCH + i * 60_000, 1000.0 + 0.001 * (i as f64 / 60.0)))
            .collect();
        let fit = fit_line(pts.iter().copied()).unwrap();
        assert!(
            close(fit.slope_per_hour, 0.001, 1e-6) && (fit.slope_per_hour - 0.001).abs() < 1e-9,
            "{fit:?}"
        );
        assert!(close(fit.intercept_at_last, pts[599].1, 1e-12));
        assert!(fit.r_squared > 0.999_999);
        assert_eq!(fit.last_time, EPOCH + 599 * 60_000);
        assert!(close(
            fit.value_at(fit.last_time + H),
            pts[599].1 + 0.001,
            1e-12
        ));
    }

    #[test]
    fn non_finite_values_ignored() {
        let clean = hourly(EPOCH, 10, |h| 1.0 + 0.5 * h);
        let mut dirty = clean.clone();
        dirty.insert(3, (EPOCH + 3 * H + 1, f64::NAN));
        dirty.insert(6, (EPOCH + 5 * H + 7, f64::INFINITY));
        dirty.push((EPOCH + 10 * H, f64::NEG_INFINITY));
        let now = EPOCH + 10 * H;
        let a = analyze(&mut with(20.0, 30.0), &clean, now);
        let b = analyze(&mut with(20.0, 30.0), &dirty, now);
        assert_eq!(a, b);
        assert_eq!(b[0].current_value, 5.5);
        // Nine finite points among NaNs: too few.
        let mut few: Vec<_> = clean[..9].to_vec();
        few.extend((0..5).map(|i| (EPOCH + 20 * H + i, f64::NAN)));
        assert!(analyze(&mut with(20.0, 30.0), &few, now).is_empty());
    }

    fn series_strategy() -> impl Strategy<Value = (Vec<(Millis, f64)>, Millis)> {
        let value = prop_oneof![
            6 => -1e6..1e6f64,
            1 => Just(42.0),
            1 => any::<f64>(),
        ];
        let constant = prop::bool::ANY;
        (
            0..2_000_000_000_000u64,
            prop::collection::vec((0..10_000_000u64, value), 10..40),
            constant,
            0..1_000_000_000u64,
        )
            .prop_map(|(start, steps, constant, ahead)| {
                let mut t = start;
                let pts: Vec<_> = steps
                    .into_iter()
                    .map(|(dt, v)| {
                        t += dt;
                        (t, if constant { 3.5 } else { v })
                    })
                    .collect();
                (pts, t + ahead)
            })
    }

    proptest! {
        #[test]
        fn confidence_bounded_and_nothing_nan((pts, now) in series_strategy(), w in -1e6..1e6f64, d in prop_oneof![1e-3..1e6f64, -1e6..-1e-3f64]) {
            let mut pm = with(w, w + d);
            for p in analyze(&mut pm, &pts, now) {
                prop_assert!((0.0..=1.0).contains(&p.confidence), "{:?}", p);
                prop_assert!(p.current_value.is_finite() && p.predicted_value.is_finite(), "{:?}", p);
                for t in [p.time_to_warning, p.time_to_critical].into_iter().flatten() {
                    prop_assert!(t.is_finite() && t >= 0.0, "{:?}", p);
                }
                prop_assert!(serde_json::to_string(&p).is_ok());
            }
            if let Some(fit) = fit_line(pts.iter().copied()) {
                prop_assert!((0.0..=1.0).contains(&fit.r_squared));
                prop_assert!(fit.residual_std.is_finite() && fit.residual_std >= 0.0);
                prop_assert!(fit.confidence() <= fit.n as f64 / (fit.n as f64 + 20.0) + 1e-12);
            }
        }

        #[test]
        fn ten_epoch_points_exact_line(slope in -100.0..100.0f64, base in -1e3..1e3f64, step in 60_000..3_600_000u64) {
            prop_assume!(slope.abs() > 0.01);
            let pts: Vec<_> = (0..10u64)
                .map(|i| (EPOCH + i * step, base + slope * (i * step) as f64 / H as f64))
                .collect();
            let fit = fit_line(pts.iter().copied()).unwrap();
            prop_assert!((fit.slope_per_hour - slope).abs() <= 1e-6 * slope.abs(), "{:?}", fit);
            let c = fit.confidence();
            prop_assert!(!c.is_nan() && (c - 10.0 / 30.0).abs() < 1e-6, "{}", c);
        }
    }
}
