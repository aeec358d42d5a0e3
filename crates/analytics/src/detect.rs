//! Streaming anomaly detectors, constant memory per property, time passed in.
//!
//! A [`PropertyDetector`] watches one numeric property. Each reading goes
//! through four detectors that share one rolling window of the last
//! [`DetectorConfig::window`] readings:
//!
//! | Type | Fires when | Expected range reported |
//! |------|------------|-------------------------|
//! | `SPIKE` | the robust z-score `(x − median) / σ̂` of the reading against the window *before* it exceeds `spikeThreshold` (default 3σ-equivalent). `σ̂ = 1.4826·MAD`, or `1.2533·mean absolute deviation` when the MAD is 0, and never less than half the property's typical `σ̂` (its running mean, with the drift half-life), so a quiet spell does not turn ordinary wiggles into spikes. | `median ± threshold·σ̂` |
//! | `STUCK` | `stuckReadings` (default 10) consecutive readings lie within `stuckTolerance` (default 0: identical) of the first, i.e. zero variance over the run. The run needed grows to twice the longest run the property showed by itself recently (a memory halving every 20 windows of readings; runs that raised `STUCK` are not learned), so a coarsely quantised sensor that often repeats is not flagged. | the spike band |
//! | `RAPID_CHANGE` | the level moves too fast: the rate between the medians of the last `rapidWindow` readings and of the `rapidWindow` before them, per minute, exceeds `rapidRatePerMinute` when set; otherwise its robust z-score against the last `4·window` such rates (once it holds `2·window`) exceeds `rapidThreshold` (default 5). Medians make a single outlier a spike, not a rapid change. | allowed rates, per minute |
//! | `DRIFT` | the window median departs from a long baseline (an exponentially weighted mean with a half-life of `driftHalfLife` readings) by more than `driftThreshold` (default 4) times the usual departure, learned only from readings that were not drifting. | `baseline ± threshold·usual departure` |
//!
//! One outlier does not poison the baseline: medians and MADs ignore it, and
//! the drift scale only learns from in-control readings.
//!
//! **De-duplication**, like the core's threshold alerts: each type of each
//! property has one latch. A detection is raised when its condition starts;
//! while the latch is active nothing more is raised for that type; it releases
//! when the score falls back under `clearRatio` × threshold (hysteresis), and a
//! new detection of the same type needs at least `cooldown` readings (256)
//! since the previous one. One event, one detection: for `group` readings
//! (64) after a detection, other types are not raised (their latches still
//! engage), and of several types at one reading only the first is raised.
//! `STUCK`, a sensor fault rather than a value event, is never grouped. **Severity**: `critical` when the score is at least twice its
//! threshold, `warning` otherwise (`STUCK` is a warning).
//!
//! Nothing fires during the first `warmup` readings; the drift detector also
//! waits for its baseline (`max(warmup, 2·window)` readings).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use twinkit_core::{DeviceConfig, Millis, PropertyType, Severity, TelemetryData, TelemetryValue};

use crate::error::{check_property, invalid, AnalyticsError};
use crate::health::{self, HealthConfig, PropertyHealth};
use crate::window::RollingWindow;

const MS_PER_MINUTE: f64 = 60_000.0;
/// The remembered longest run halves over this many windows of readings.
const RUN_MEMORY_WINDOWS: f64 = 20.0;
/// The spike scale never falls below this share of the property's typical
/// scale, so a quiet spell does not turn ordinary wiggles into spikes.
const QUIET_SCALE_FLOOR: f64 = 0.5;
/// The rate baseline holds this many windows of rates.
const RATE_WINDOWS: usize = 4;
/// The most properties one [`AnomalyDetector`] tracks by default.
pub const DEFAULT_MAX_PROPERTIES: usize = 256;

/// Thresholds of one property's detectors (camelCase in JSON; missing fields
/// take their defaults, `null` disables a detector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Readings in the rolling baseline (and the health window). Default 64,
    /// between 8 and 4096.
    pub window: usize,
    /// Readings seen before anything fires. Default 32.
    pub warmup: usize,
    /// Robust z-score above which a reading is a spike (σ-equivalents).
    /// Default 3.
    pub spike_threshold: Option<f64>,
    /// Consecutive equal readings that make a sensor stuck. Default 10.
    pub stuck_readings: Option<usize>,
    /// Readings within this of the run's first count as equal. Default 0.
    pub stuck_tolerance: f64,
    /// Readings per half of the rapid-change comparison. Default 5.
    pub rapid_window: usize,
    /// Absolute rate limit, value units per minute. Default none: adaptive.
    pub rapid_rate_per_minute: Option<f64>,
    /// Robust z-score of the rate above which the change is rapid, when no
    /// absolute limit is set. Default 5.
    pub rapid_threshold: Option<f64>,
    /// Half-life of the drift baseline, in readings. Default 720.
    pub drift_half_life: usize,
    /// Departure from the baseline, in usual departures, that is a drift.
    /// Default 4.
    pub drift_threshold: Option<f64>,
    /// Fewest readings between two detections of one type. Default 256
    /// (four windows: the baseline has been renewed since the last one).
    pub cooldown: usize,
    /// Readings after a detection during which a detection of another type
    /// is taken as the same event and not raised (its latch still engages).
    /// Default 64 (one window); 0 raises every type.
    pub group: usize,
    /// A latch releases when the score falls under this × threshold.
    /// Default 0.75, in (0, 1].
    pub clear_ratio: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            window: 64,
            warmup: 32,
            spike_threshold: Some(3.0),
            stuck_readings: Some(10),
            stuck_tolerance: 0.0,
            rapid_window: 5,
            rapid_rate_per_minute: None,
            rapid_threshold: Some(5.0),
            drift_half_life: 720,
            drift_threshold: Some(4.0),
            cooldown: 256,
            group: 64,
            clear_ratio: 0.75,
        }
    }
}

impl DetectorConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        if !(8..=4096).contains(&self.window) {
            return Err(invalid("window", "must be between 8 and 4096 readings"));
        }
        if self.warmup < 3 {
            return Err(invalid("warmup", "must be at least 3 readings"));
        }
        let positive = |field: &str, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => {
                Err(invalid(field, "must be a positive finite number or null"))
            }
            _ => Ok(()),
        };
        positive("spikeThreshold", self.spike_threshold)?;
        positive("rapidRatePerMinute", self.rapid_rate_per_minute)?;
        positive("rapidThreshold", self.rapid_threshold)?;
        positive("driftThreshold", self.drift_threshold)?;
        if self.stuck_readings.is_some_and(|n| n < 2) {
            return Err(invalid("stuckReadings", "must be at least 2 or null"));
        }
        if !(self.stuck_tolerance.is_finite() && self.stuck_tolerance >= 0.0) {
            return Err(invalid("stuckTolerance", "must be a finite number ≥ 0"));
        }
        if self.rapid_window == 0 || 2 * self.rapid_window > self.window {
            return Err(invalid(
                "rapidWindow",
                "must be at least 1 and at most half the window",
            ));
        }
        if self.drift_half_life < 2 {
            return Err(invalid("driftHalfLife", "must be at least 2 readings"));
        }
        if !(self.clear_ratio > 0.0 && self.clear_ratio <= 1.0) {
            return Err(invalid("clearRatio", "must be in (0, 1]"));
        }
        Ok(())
    }
}

/// What a detection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AnomalyKind {
    /// One reading far from the rolling median.
    Spike,
    /// The same reading over and over.
    Stuck,
    /// The level moving unusually fast.
    RapidChange,
    /// The level departing from its long-run baseline.
    Drift,
}

impl AnomalyKind {
    /// `SPIKE`, `STUCK`, `RAPID_CHANGE` or `DRIFT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spike => "SPIKE",
            Self::Stuck => "STUCK",
            Self::RapidChange => "RAPID_CHANGE",
            Self::Drift => "DRIFT",
        }
    }

    /// Every kind, in a fixed order.
    pub const ALL: [AnomalyKind; 4] = [Self::Spike, Self::Stuck, Self::RapidChange, Self::Drift];
}

/// The range a detector expected (for `RAPID_CHANGE`, a range of rates per
/// minute).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExpectedRange {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
}

/// One detection: an alert-like record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// The property.
    pub property: String,
    /// `SPIKE`, `STUCK`, `RAPID_CHANGE` or `DRIFT`.
    #[serde(rename = "type")]
    pub kind: AnomalyKind,
    /// `warning`, or `critical` at twice the threshold.
    pub severity: Severity,
    /// The reading that raised it.
    pub value: f64,
    /// What the detector expected, when it has a range.
    pub expected_range: Option<ExpectedRange>,
    /// The detector's score (z-score, run length, rate or departure).
    pub score: f64,
    /// When the reading was measured.
    pub timestamp: Millis,
    /// Human-readable description.
    pub message: String,
}

/// One type's de-duplication latch.
#[derive(Debug, Clone, Copy, Default)]
struct Latch {
    active: bool,
    raised: bool,
    since_raise: u64,
}

impl Latch {
    /// Advances one reading; true when a new detection should be raised.
    fn step(&mut self, firing: bool, released: bool, cooldown: usize) -> bool {
        self.since_raise = self.since_raise.saturating_add(1);
        if self.active {
            if released {
                self.active = false;
            }
            return false;
        }
        if firing && (!self.raised || self.since_raise >= cooldown as u64) {
            self.active = true;
            self.raised = true;
            self.since_raise = 0;
            return true;
        }
        false
    }
}

/// Which detectors are active now (latched), for health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveDetections {
    /// A spike is latched.
    pub spike: bool,
    /// The sensor is stuck.
    pub stuck: bool,
    /// A rapid change is latched.
    pub rapid_change: bool,
    /// A drift is latched.
    pub drift: bool,
}

/// The four detectors of one property.
#[derive(Debug, Clone)]
pub struct PropertyDetector {
    config: DetectorConfig,
    window: RollingWindow,
    rates: RollingWindow,
    halves: Vec<f64>,
    count: u64,
    /// Exponential weight per reading for the drift half-life.
    alpha: f64,
    typical_scale: f64,
    typical_scale_n: u64,
    since_detection: u64,
    last_kind: Option<AnomalyKind>,
    last: Option<(Millis, f64)>,
    spike_band: Option<(f64, f64)>,
    spike: Latch,
    run_value: f64,
    run_len: usize,
    run_flagged: bool,
    longest_run: f64,
    run_decay: f64,
    stuck: Latch,
    rapid: Latch,
    long_mean: f64,
    drift_scale: f64,
    drift_learned: u64,
    drift: Latch,
}

impl PropertyDetector {
    /// Detectors with `config` (checked first).
    pub fn new(config: DetectorConfig) -> Result<Self, AnalyticsError> {
        config.validate()?;
        Ok(Self {
            window: RollingWindow::new(config.window),
            // Rates of overlapping halves are correlated: a longer baseline
            // keeps their MAD from dipping by chance.
            rates: RollingWindow::new(RATE_WINDOWS * config.window),
            halves: Vec::with_capacity(config.rapid_window),
            count: 0,
            alpha: 1.0 - 0.5f64.powf(1.0 / config.drift_half_life as f64),
            typical_scale: 0.0,
            typical_scale_n: 0,
            since_detection: u64::MAX,
            last_kind: None,
            last: None,
            spike_band: None,
            spike: Latch::default(),
            run_value: 0.0,
            run_len: 0,
            run_flagged: false,
            longest_run: 0.0,
            run_decay: 0.5f64.powf(1.0 / (RUN_MEMORY_WINDOWS * config.window as f64)),
            stuck: Latch::default(),
            rapid: Latch::default(),
            long_mean: 0.0,
            drift_scale: 0.0,
            drift_learned: 0,
            drift: Latch::default(),
            config,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Readings observed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last reading observed.
    pub fn last(&self) -> Option<(Millis, f64)> {
        self.last
    }

    /// The rolling window (oldest first), e.g. for health.
    pub fn window(&self) -> &RollingWindow {
        &self.window
    }

    /// Which detectors are latched now.
    pub fn active(&self) -> ActiveDetections {
        ActiveDetections {
            spike: self.spike.active,
            stuck: self.stuck.active,
            rapid_change: self.rapid.active,
            drift: self.drift.active,
        }
    }

    /// The current spike band `median ± threshold·σ̂`, once warmed up.
    pub fn expected_range(&self) -> Option<ExpectedRange> {
        self.spike_band.map(|(min, max)| ExpectedRange { min, max })
    }

    /// Observes one reading of `property` measured at `time`, pushing any
    /// detection to `out`. A non-finite value or a reading older than the
    /// last one is refused and changes nothing; equal times are accepted.
    pub fn observe(
        &mut self,
        property: &str,
        time: Millis,
        value: f64,
        out: &mut Vec<Detection>,
    ) -> Result<(), AnalyticsError> {
        if !value.is_finite() {
            return Err(AnalyticsError::NonFinite {
                property: property.to_owned(),
                time,
            });
        }
        if let Some((last, _)) = self.last {
            if time < last {
                return Err(AnalyticsError::OutOfOrder {
                    property: property.to_owned(),
                    time,
                    last,
                });
            }
        }
        self.count += 1;
        let start = out.len();
        let warm = self.count > self.config.warmup as u64;
        let cfg = self.config.clone();
        let detection = |kind, severity, score, range: Option<(f64, f64)>, message| Detection {
            property: property.to_owned(),
            kind,
            severity,
            value,
            expected_range: range.map(|(min, max)| ExpectedRange { min, max }),
            score,
            timestamp: time,
            message,
        };

        let alpha = self.alpha;

        // SPIKE: against the window before this reading.
        let baseline = if warm {
            self.window.median_and_scale()
        } else {
            None
        };
        if let (Some(k), Some((median, scale))) = (cfg.spike_threshold, baseline) {
            // Typical scale: mean of the window scales, then exponentially
            // weighted with the drift baseline's half-life.
            self.typical_scale_n += 1;
            let learn = (1.0 / self.typical_scale_n as f64).max(alpha);
            self.typical_scale += learn * (scale - self.typical_scale);
            let scale = scale
                .max(QUIET_SCALE_FLOOR * self.typical_scale)
                .max(scale_floor(median));
            let z = (value - median) / scale;
            let band = (median - k * scale, median + k * scale);
            self.spike_band = Some(band);
            if self
                .spike
                .step(z.abs() > k, z.abs() <= k * cfg.clear_ratio, cfg.cooldown)
            {
                let message = format!(
                    "{property} = {}: {:.1}σ {} its rolling median {} (expected {} to {})",
                    num(value),
                    z.abs(),
                    if z > 0.0 { "above" } else { "below" },
                    num(median),
                    num(band.0),
                    num(band.1)
                );
                out.push(detection(
                    AnomalyKind::Spike,
                    severity(z.abs(), k),
                    z,
                    Some(band),
                    message,
                ));
            }
        }

        // STUCK: the current run of (near-)equal readings.
        self.longest_run *= self.run_decay;
        if self.run_len > 0 && (value - self.run_value).abs() <= cfg.stuck_tolerance {
            self.run_len += 1;
        } else {
            if self.run_len > 0 && !self.run_flagged {
                self.longest_run = self.longest_run.max(self.run_len as f64);
            }
            self.run_value = value;
            self.run_len = 1;
            self.run_flagged = false;
        }
        if let Some(n) = cfg.stuck_readings {
            let needed = (n as f64).max((2.0 * self.longest_run).ceil()) as usize;
            let stuck = warm && self.run_len >= needed;
            if self.stuck.step(stuck, self.run_len == 1, cfg.cooldown) {
                self.run_flagged = true;
                let message = format!(
                    "{property} stuck at {} for {} readings",
                    num(self.run_value),
                    self.run_len
                );
                out.push(detection(
                    AnomalyKind::Stuck,
                    Severity::Warning,
                    self.run_len as f64,
                    self.spike_band,
                    message,
                ));
            }
        }

        self.window.push(time, value);

        // RAPID_CHANGE: rate between the medians of the two newest halves.
        if let Some(rate) = self.half_rate() {
            let verdict = match (cfg.rapid_rate_per_minute, cfg.rapid_threshold) {
                (Some(limit), _) => Some((rate / limit, 1.0, (-limit, limit))),
                (None, Some(k)) if warm && self.rates.len() >= 2 * cfg.window => {
                    self.rates.median_and_scale().map(|(m, s)| {
                        let s = s.max(scale_floor(m));
                        ((rate - m) / s, k, (m - k * s, m + k * s))
                    })
                }
                _ => None,
            };
            if let Some((score, k, band)) = verdict {
                if self.rapid.step(
                    warm && score.abs() > k,
                    score.abs() <= k * cfg.clear_ratio,
                    cfg.cooldown,
                ) {
                    let message = format!(
                        "{property} changing at {}/min (expected {} to {}/min)",
                        num(rate),
                        num(band.0),
                        num(band.1)
                    );
                    out.push(detection(
                        AnomalyKind::RapidChange,
                        severity(score.abs(), k),
                        rate,
                        Some(band),
                        message,
                    ));
                }
            }
            self.rates.push(time, rate);
        }

        // DRIFT: window median against a slow exponentially weighted mean.
        // Running mean until 1/n falls below alpha, so the start is unbiased.
        let step = alpha.max(1.0 / self.count as f64);
        self.long_mean += step * (value - self.long_mean);
        // The window's noise scale from before this reading is close enough
        // for the floor, and saves a second pass over the window.
        let noise = baseline.map_or(0.0, |(_, s)| s);
        if let (Some(k), Some(short)) = (cfg.drift_threshold, self.window.median()) {
            let departure = short - self.long_mean;
            let floor = (noise / (cfg.window as f64).sqrt()).max(scale_floor(short));
            let scale = self.drift_scale.max(floor);
            let score = departure / scale;
            let ready = self.count >= (cfg.warmup as u64).max(2 * cfg.window as u64);
            let drifting = ready && score.abs() > k;
            if !drifting {
                // Learn the usual departure only from in-control readings.
                self.drift_learned += 1;
                let learn = alpha.max(1.0 / self.drift_learned as f64);
                self.drift_scale += learn * (departure.abs() - self.drift_scale);
            }
            if self
                .drift
                .step(drifting, score.abs() <= k * cfg.clear_ratio, cfg.cooldown)
            {
                let band = (self.long_mean - k * scale, self.long_mean + k * scale);
                let message = format!(
                    "{property} level {} has drifted {} from its long-run baseline {} ({:.1}× the usual departure)",
                    num(short),
                    signed(departure),
                    num(self.long_mean),
                    score.abs()
                );
                out.push(detection(
                    AnomalyKind::Drift,
                    severity(score.abs(), k),
                    score,
                    Some(band),
                    message,
                ));
            }
        }

        // One event, one detection: within `group` readings of a raised
        // detection, other types are not raised; of several at one reading
        // the first (in SPIKE, STUCK, RAPID_CHANGE, DRIFT order) is kept.
        // STUCK is a sensor fault, not a value event: never grouped.
        let stuck_at = out[start..]
            .iter()
            .position(|d| d.kind == AnomalyKind::Stuck)
            .map(|i| start + i);
        let stuck = stuck_at.map(|i| out.remove(i));
        if out.len() > start {
            let grouped = self.since_detection < cfg.group as u64;
            if grouped && self.last_kind != Some(out[start].kind) {
                out.truncate(start);
            } else {
                out.truncate(start + 1);
                self.last_kind = Some(out[start].kind);
                self.since_detection = 0;
            }
        }
        out.extend(stuck);
        self.since_detection = self.since_detection.saturating_add(1);
        self.last = Some((time, value));
        Ok(())
    }

    /// Rate per minute between the median of the newest `rapid_window`
    /// readings and the median of the `rapid_window` before them.
    fn half_rate(&mut self) -> Option<f64> {
        let h = self.config.rapid_window;
        if self.window.len() < 2 * h {
            return None;
        }
        let mut half = |from: usize| {
            self.halves.clear();
            let mut time_sum = 0.0;
            for back in from..from + h {
                let (t, v) = self.window.nth_newest(back)?;
                self.halves.push(v);
                time_sum += t as f64;
            }
            self.halves.sort_by(f64::total_cmp);
            let m = crate::window::median_of_sorted(&self.halves)?;
            Some((time_sum / h as f64, m))
        };
        let (t_new, m_new) = half(0)?;
        let (t_old, m_old) = half(h)?;
        let minutes = (t_new - t_old) / MS_PER_MINUTE;
        (minutes > 0.0).then(|| (m_new - m_old) / minutes)
    }
}

/// Smallest scale used, so a perfectly flat baseline still gives finite
/// scores (any change from it is then far outside).
fn scale_floor(level: f64) -> f64 {
    1e-9 * level.abs().max(1.0)
}

fn severity(score: f64, threshold: f64) -> Severity {
    if score >= 2.0 * threshold {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

/// A number with at most 4 decimals, trailing zeros trimmed.
pub(crate) fn num(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn signed(x: f64) -> String {
    if x >= 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

/// Detectors for every numeric property of a twin (or any source), each with
/// the default configuration unless one was set for it.
#[derive(Debug, Clone)]
pub struct AnomalyDetector {
    default: DetectorConfig,
    configs: IndexMap<String, DetectorConfig>,
    properties: IndexMap<String, PropertyDetector>,
    health: IndexMap<String, HealthConfig>,
    max_properties: usize,
}

impl Default for AnomalyDetector {
    fn default() -> Self {
        Self {
            default: DetectorConfig::default(),
            configs: IndexMap::new(),
            properties: IndexMap::new(),
            health: IndexMap::new(),
            max_properties: DEFAULT_MAX_PROPERTIES,
        }
    }
}

impl AnomalyDetector {
    /// Default thresholds for every property, up to 256 properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// `default` for properties without their own configuration.
    pub fn with_default(default: DetectorConfig) -> Result<Self, AnalyticsError> {
        default.validate()?;
        Ok(Self {
            default,
            ..Self::default()
        })
    }

    /// Sets the most properties tracked (readings of further ones are
    /// refused with [`AnalyticsError::TooManyProperties`]).
    pub fn set_max_properties(&mut self, max: usize) {
        self.max_properties = max;
    }

    /// Sets `property`'s thresholds; its detectors restart from nothing.
    pub fn set_config(
        &mut self,
        property: &str,
        config: DetectorConfig,
    ) -> Result<(), AnalyticsError> {
        check_property(property)?;
        config.validate()?;
        self.properties.shift_remove(property);
        self.configs.insert(property.to_owned(), config);
        Ok(())
    }

    /// `property`'s thresholds (its own or the default).
    pub fn config(&self, property: &str) -> &DetectorConfig {
        self.configs.get(property).unwrap_or(&self.default)
    }

    /// The detectors of `property`, once it has had a reading.
    pub fn property(&self, property: &str) -> Option<&PropertyDetector> {
        self.properties.get(property)
    }

    /// Tracked properties with their detectors, in first-seen order.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &PropertyDetector)> {
        self.properties.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Observes one reading, pushing detections to `out`.
    pub fn observe(
        &mut self,
        property: &str,
        time: Millis,
        value: f64,
        out: &mut Vec<Detection>,
    ) -> Result<(), AnalyticsError> {
        if let Some(d) = self.properties.get_mut(property) {
            return d.observe(property, time, value, out);
        }
        check_property(property)?;
        if self.properties.len() >= self.max_properties {
            return Err(AnalyticsError::TooManyProperties {
                property: twinkit_core::limits::printable(property),
                limit: self.max_properties,
            });
        }
        let config = self.config(property).clone();
        let mut d = PropertyDetector::new(config)?;
        d.observe(property, time, value, out)?;
        self.properties.insert(property.to_owned(), d);
        Ok(())
    }

    /// Observes every numeric value of a telemetry record (booleans count as
    /// 0/1; strings are skipped). Each refused value is returned with its
    /// error while the others are observed.
    pub fn observe_record(
        &mut self,
        record: &TelemetryData,
        out: &mut Vec<Detection>,
    ) -> Vec<AnalyticsError> {
        let mut errors = Vec::new();
        for (property, value) in &record.values {
            let v = match value {
                TelemetryValue::Number(v) => *v,
                TelemetryValue::Bool(b) => f64::from(u8::from(*b)),
                TelemetryValue::String(_) => continue,
            };
            if let Err(e) = self.observe(property, record.timestamp, v, out) {
                errors.push(e);
            }
        }
        errors
    }

    /// Sets how `property`'s health is judged (see [`crate::health`]).
    pub fn set_health_config(
        &mut self,
        property: &str,
        config: HealthConfig,
    ) -> Result<(), AnalyticsError> {
        check_property(property)?;
        config.validate()?;
        self.health.insert(property.to_owned(), config);
        Ok(())
    }

    /// Health settings from a twin's configuration: the span of every number
    /// property with min and max, and the twin's telemetry interval.
    pub fn configure_for_device(&mut self, device: &DeviceConfig) {
        for definition in &device.properties {
            if definition.kind != PropertyType::Number {
                continue;
            }
            let config = HealthConfig {
                expected_interval_ms: device.telemetry_interval,
                ..HealthConfig::for_definition(definition)
            };
            if config.validate().is_ok() && check_property(&definition.name).is_ok() {
                self.health.insert(definition.name.clone(), config);
            }
        }
    }

    /// `property`'s health at `now`; `None` before its first reading.
    pub fn health(&self, property: &str, now: Millis) -> Option<PropertyHealth> {
        let detector = self.properties.get(property)?;
        let default = HealthConfig::default();
        let config = self.health.get(property).unwrap_or(&default);
        Some(health::assess(property, detector, config, now))
    }

    /// Every tracked property's health at `now`, in first-seen order.
    pub fn health_all(&self, now: Millis) -> Vec<PropertyHealth> {
        self.properties
            .keys()
            .filter_map(|p| self.health(p, now))
            .collect()
    }

    /// Forgets every property's state (configurations stay).
    pub fn reset(&mut self) {
        self.properties.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinkit_core::physics::Rng;

    const MIN: Millis = 60_000;

    fn run(config: DetectorConfig, values: &[f64]) -> Vec<Detection> {
        let mut d = PropertyDetector::new(config).unwrap();
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            d.observe("p", i as u64 * MIN, *v, &mut out).unwrap();
        }
        out
    }

    fn kinds(out: &[Detection], kind: AnomalyKind) -> Vec<&Detection> {
        out.iter().filter(|d| d.kind == kind).collect()
    }

    fn noise(n: usize, seed: u64, sigma: f64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| 20.0 + sigma * rng.standard_normal())
            .collect()
    }

    fn only(kind: AnomalyKind) -> DetectorConfig {
        let mut c = DetectorConfig::default();
        if kind != AnomalyKind::Spike {
            c.spike_threshold = None;
        }
        if kind != AnomalyKind::Stuck {
            c.stuck_readings = None;
        }
        if kind != AnomalyKind::RapidChange {
            c.rapid_threshold = None;
        }
        if kind != AnomalyKind::Drift {
            c.drift_threshold = None;
        }
        c
    }

    #[test]
    fn spike_fires_on_an_outlier_with_its_range() {
        let mut v = noise(300, 1, 0.5);
        v[200] = 30.0;
        let out = run(only(AnomalyKind::Spike), &v);
        let spikes = kinds(&out, AnomalyKind::Spike);
        assert!(
            spikes.iter().any(|d| d.timestamp == 200 * MIN),
            "{spikes:?}"
        );
        let d = spikes.iter().find(|d| d.timestamp == 200 * MIN).unwrap();
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!(d.value, 30.0);
        let r = d.expected_range.unwrap();
        assert!(r.min < 20.0 && r.max > 20.0 && r.max < 22.5, "{r:?}");
        assert!(
            d.message.contains("above its rolling median"),
            "{}",
            d.message
        );
        assert!(d.score > 6.0);
    }

    #[test]
    fn one_outlier_does_not_poison_the_baseline() {
        // A huge outlier, then another one a few readings later: the second
        // still stands out, and the normal readings between do not fire.
        let mut c = only(AnomalyKind::Spike);
        c.cooldown = 1;
        let mut v = noise(200, 2, 0.5);
        v[100] = 1e6;
        v[105] = 30.0;
        let out = run(c, &v);
        let at: Vec<u64> = out.iter().map(|d| d.timestamp / MIN).collect();
        assert!(at.contains(&100) && at.contains(&105), "{at:?}");
        assert!(!(101..105).any(|i| at.contains(&i)), "{at:?}");
    }

    #[test]
    fn spike_quiet_on_gaussian_noise_beyond_the_three_sigma_rate() {
        // 3σ two-sided: 0.27% of readings. With cooldown, far fewer alerts
        // than readings, and never on a smooth sine.
        let out = run(only(AnomalyKind::Spike), &noise(5_000, 3, 1.0));
        assert!(out.len() < 5_000 / 200, "{}", out.len());
        // A slow cycle (period ~20 windows) with a little noise.
        let mut rng = Rng::new(3);
        let sine: Vec<f64> = (0..5_000)
            .map(|i| (i as f64 / 200.0).sin() * 5.0 + 0.1 * rng.standard_normal())
            .collect();
        let out = run(only(AnomalyKind::Spike), &sine);
        assert!(out.len() < 5_000 / 200, "{}", out.len());
    }

    #[test]
    fn spike_latch_and_cooldown_deduplicate() {
        // A level shift: one alert while the window absorbs it, not one per
        // reading.
        let mut v = noise(300, 4, 0.5);
        for x in &mut v[150..] {
            *x += 10.0;
        }
        let out = run(only(AnomalyKind::Spike), &v);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].timestamp, 150 * MIN);
    }

    #[test]
    fn one_event_one_detection() {
        // A step: SPIKE at once; the rapid-change and drift latches engage
        // within the group and are not raised. With group 0, they are.
        let mut v = noise(2_000, 14, 0.2);
        for x in &mut v[1_500..] {
            *x += 5.0;
        }
        let near = |out: Vec<Detection>| -> Vec<AnomalyKind> {
            out.iter()
                .filter(|d| (1_500..1_600).contains(&(d.timestamp / MIN)))
                .map(|d| d.kind)
                .collect()
        };
        let out = near(run(DetectorConfig::default(), &v));
        assert_eq!(out, [AnomalyKind::Spike]);
        let all = near(run(
            DetectorConfig {
                group: 0,
                ..Default::default()
            },
            &v,
        ));
        assert!(all.contains(&AnomalyKind::RapidChange), "{all:?}");
    }

    #[test]
    fn nothing_fires_during_warmup() {
        let mut v = noise(40, 5, 0.5);
        v[10] = 100.0;
        assert!(run(DetectorConfig::default(), &v).is_empty());
    }

    #[test]
    fn stuck_fires_after_n_identical_readings_and_clears() {
        let mut v = noise(200, 6, 0.5);
        for x in &mut v[100..115] {
            *x = 21.25;
        }
        let out = run(only(AnomalyKind::Stuck), &v);
        assert_eq!(out.len(), 1, "{out:?}");
        let d = &out[0];
        assert_eq!(d.timestamp, 109 * MIN); // the 10th identical reading
        assert_eq!((d.value, d.score), (21.25, 10.0));
        assert_eq!(d.message, "p stuck at 21.25 for 10 readings");
        // Nine identical readings are not enough.
        let mut v = noise(200, 6, 0.5);
        for x in &mut v[100..109] {
            *x = 21.25;
        }
        assert!(run(only(AnomalyKind::Stuck), &v).is_empty());
    }

    #[test]
    fn stuck_adapts_to_a_quantised_sensor_but_still_catches_a_dead_one() {
        // A sensor reporting whole degrees of a steady 20 ± 0.4 °C repeats
        // 20 in runs of up to ~30; that is its normal behaviour.
        let mut rng = Rng::new(13);
        let v: Vec<f64> = (0..3_000)
            .map(|_| (20.0 + 0.4 * rng.standard_normal()).round())
            .collect();
        let quantised = run(only(AnomalyKind::Stuck), &v);
        assert!(quantised.len() <= 2, "{quantised:?}"); // only while it learns
        let late: Vec<_> = quantised
            .iter()
            .filter(|d| d.timestamp > 1_000 * MIN)
            .collect();
        assert!(late.is_empty(), "{late:?}");
        // Then it dies at one value for 200 readings.
        let mut dead = v.clone();
        for x in &mut dead[2_000..2_200] {
            *x = 21.0;
        }
        let out = run(only(AnomalyKind::Stuck), &dead);
        assert!(
            out.iter()
                .any(|d| (2_000..2_200).contains(&(d.timestamp / MIN))),
            "{out:?}"
        );
    }

    #[test]
    fn stuck_tolerance_counts_near_equal_readings() {
        let mut c = only(AnomalyKind::Stuck);
        c.stuck_tolerance = 0.01;
        let mut v = noise(100, 7, 0.5);
        for (i, x) in v[60..80].iter_mut().enumerate() {
            *x = 5.0 + if i % 2 == 0 { 0.004 } else { -0.004 };
        }
        assert_eq!(run(c, &v).len(), 1);
        assert!(run(only(AnomalyKind::Stuck), &v).is_empty());
    }

    #[test]
    fn rapid_change_fires_on_a_fast_ramp_not_on_noise_or_a_spike() {
        let mut v = noise(400, 8, 0.2);
        // +0.5 per minute for 20 minutes, then holds.
        for (i, x) in v[300..].iter_mut().enumerate() {
            *x += 0.5 * (i.min(20) as f64);
        }
        let out = run(only(AnomalyKind::RapidChange), &v);
        assert_eq!(out.len(), 1, "{out:?}");
        let d = &out[0];
        assert!((300..315).contains(&(d.timestamp / MIN)), "{d:?}");
        assert!(d.value > 0.1, "{d:?}");
        // Noise alone, and a single outlier, do not fire.
        let mut v = noise(2_000, 9, 0.2);
        v[1_000] = 50.0;
        assert!(run(only(AnomalyKind::RapidChange), &v).is_empty());
    }

    #[test]
    fn rapid_change_absolute_limit() {
        let mut c = only(AnomalyKind::RapidChange);
        c.rapid_rate_per_minute = Some(1.0);
        // 0.5/min never fires; 2/min does.
        let slow: Vec<f64> = (0..200).map(|i| i as f64 * 0.5).collect();
        assert!(run(c.clone(), &slow).is_empty());
        let fast: Vec<f64> = (0..200)
            .map(|i| if i < 100 { 0.0 } else { (i - 100) as f64 * 2.0 })
            .collect();
        let out = run(c, &fast);
        assert_eq!(out.len(), 1, "{out:?}");
        let r = out[0].expected_range.unwrap();
        assert_eq!((r.min, r.max), (-1.0, 1.0));
    }

    #[test]
    fn drift_fires_on_a_slow_trend_not_on_stationary_noise() {
        // Stationary for 1,500 readings, then drifting 0.02σ per reading: too
        // slow for spikes or rapid change.
        let mut v = noise(3_000, 10, 1.0);
        for (i, x) in v[1_500..].iter_mut().enumerate() {
            *x += 0.02 * i as f64;
        }
        let out = run(DetectorConfig::default(), &v);
        let drift = kinds(&out, AnomalyKind::Drift);
        assert!(!drift.is_empty(), "{out:?}");
        let first = drift[0].timestamp / MIN;
        assert!((1_500..1_900).contains(&first), "{first}");
        assert!(
            drift[0].message.contains("drifted +"),
            "{}",
            drift[0].message
        );
        assert!(kinds(&out, AnomalyKind::RapidChange).is_empty());
        // Pure noise, same seed, no drift.
        let out = run(only(AnomalyKind::Drift), &noise(3_000, 10, 1.0));
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn drift_quiet_on_a_daily_cycle() {
        // Hourly readings of a daily cycle for 200 days with noise.
        let mut rng = Rng::new(11);
        let v: Vec<f64> = (0..4_800)
            .map(|i| {
                20.0 + 4.0 * (i as f64 * std::f64::consts::TAU / 24.0).sin()
                    + 0.3 * rng.standard_normal()
            })
            .collect();
        assert!(run(only(AnomalyKind::Drift), &v).is_empty());
    }

    #[test]
    fn refused_readings_change_nothing() {
        let mut d = PropertyDetector::new(DetectorConfig::default()).unwrap();
        let mut out = Vec::new();
        d.observe("p", 1_000, 1.0, &mut out).unwrap();
        let err = d.observe("p", 2_000, f64::NAN, &mut out).unwrap_err();
        assert_eq!(err.code(), "NON_FINITE");
        let err = d.observe("p", 500, 1.0, &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`p`: reading at 500 is older than the last one (1000)"
        );
        assert_eq!(d.count(), 1);
        assert_eq!(d.last(), Some((1_000, 1.0)));
        d.observe("p", 1_000, 2.0, &mut out).unwrap();
        assert_eq!(d.count(), 2);
    }

    #[test]
    fn config_validation_names_the_field() {
        let bad = [
            (
                DetectorConfig {
                    window: 4,
                    ..Default::default()
                },
                "window",
            ),
            (
                DetectorConfig {
                    spike_threshold: Some(-1.0),
                    ..Default::default()
                },
                "spikeThreshold",
            ),
            (
                DetectorConfig {
                    spike_threshold: Some(f64::NAN),
                    ..Default::default()
                },
                "spikeThreshold",
            ),
            (
                DetectorConfig {
                    stuck_readings: Some(1),
                    ..Default::default()
                },
                "stuckReadings",
            ),
            (
                DetectorConfig {
                    rapid_window: 40,
                    ..Default::default()
                },
                "rapidWindow",
            ),
            (
                DetectorConfig {
                    clear_ratio: 1.5,
                    ..Default::default()
                },
                "clearRatio",
            ),
        ];
        for (c, field) in bad {
            let err = PropertyDetector::new(c).unwrap_err();
            assert!(
                matches!(&err, AnalyticsError::InvalidConfig { field: f, .. } if f == field),
                "{err:?}"
            );
        }
        // JSON: camelCase, defaults for missing fields, null disables, unknown refused.
        let c: DetectorConfig =
            serde_json::from_str(r#"{"spikeThreshold": 4, "stuckReadings": null}"#).unwrap();
        assert_eq!(c.spike_threshold, Some(4.0));
        assert_eq!(c.stuck_readings, None);
        assert_eq!(c.window, 64);
        assert!(serde_json::from_str::<DetectorConfig>(r#"{"spike": 1}"#).is_err());
    }

    #[test]
    fn multi_property_detector_configs_and_limits() {
        let mut det = AnomalyDetector::new();
        let c = DetectorConfig {
            stuck_readings: Some(3),
            ..Default::default()
        };
        det.set_config("a", c).unwrap();
        assert_eq!(det.config("a").stuck_readings, Some(3));
        assert_eq!(det.config("b").stuck_readings, Some(10));
        assert!(det
            .set_config("__proto__", DetectorConfig::default())
            .is_err());
        let mut out = Vec::new();
        let err = det.observe("__proto__", 0, 1.0, &mut out).unwrap_err();
        assert_eq!(err.code(), "INVALID_NAME");
        det.set_max_properties(2);
        det.observe("a", 0, 1.0, &mut out).unwrap();
        det.observe("b", 0, 1.0, &mut out).unwrap();
        let err = det.observe("c", 0, 1.0, &mut out).unwrap_err();
        assert_eq!(err.code(), "TOO_MANY_PROPERTIES");
        assert_eq!(det.properties().count(), 2);
        // Records: numbers and booleans observed, strings skipped, bad ones reported.
        let mut det = AnomalyDetector::new();
        let record = TelemetryData {
            device_id: "d".into(),
            timestamp: 5,
            values: [
                ("x".to_string(), TelemetryValue::Number(1.0)),
                ("on".to_string(), TelemetryValue::Bool(true)),
                ("s".to_string(), TelemetryValue::String("hi".into())),
            ]
            .into_iter()
            .collect(),
        };
        assert!(det.observe_record(&record, &mut out).is_empty());
        assert_eq!(det.property("on").unwrap().last(), Some((5, 1.0)));
        assert!(det.property("s").is_none());
        let older = TelemetryData {
            timestamp: 1,
            ..record
        };
        assert_eq!(det.observe_record(&older, &mut out).len(), 2);
    }

    #[test]
    fn health_through_the_multi_property_detector() {
        let device = DeviceConfig::from_json(
            r#"{"id": "d", "name": "D", "type": "t", "telemetryInterval": 1000,
                "properties": [{"name": "t", "type": "number", "min": 0, "max": 50, "telemetry": true},
                               {"name": "s", "type": "string"}]}"#,
        )
        .unwrap();
        let mut det = AnomalyDetector::new();
        det.configure_for_device(&device);
        let mut out = Vec::new();
        for i in 0..20u64 {
            det.observe("t", i * 1_000, 20.0 + (i % 2) as f64 * 0.1, &mut out)
                .unwrap();
        }
        let h = det.health("t", 19_000).unwrap();
        assert_eq!(h.expected_interval_ms, Some(1_000));
        assert_eq!(h.score, 100, "{h:?}");
        // 5 s ago with a 1 s interval: stale.
        assert_eq!(
            det.health("t", 24_000).unwrap().freshness,
            health::Freshness::Stale
        );
        assert!(det.health("s", 0).is_none());
        assert_eq!(det.health_all(19_000).len(), 1);
        assert!(det
            .set_health_config(
                "t",
                HealthConfig {
                    span: Some(-1.0),
                    ..Default::default()
                }
            )
            .is_err());
    }

    #[test]
    fn detection_serializes_like_an_alert() {
        let mut v = noise(100, 12, 0.5);
        v[80] = 40.0;
        let d = run(only(AnomalyKind::Spike), &v).remove(0);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["type"], "SPIKE");
        assert_eq!(json["severity"], "critical");
        assert_eq!(json["property"], "p");
        assert!(json["expectedRange"]["min"].is_number());
        assert_eq!(json["timestamp"], 80 * MIN);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(21.25), "21.25");
        assert_eq!(num(1.0 / 3.0), "0.3333");
        assert_eq!(num(-0.00001), "0");
        assert_eq!(signed(0.5), "+0.5");
    }
}
