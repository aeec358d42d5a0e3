//! What-if: physics models fitted from a twin's telemetry, and scenarios
//! ("if actuator X is set to Y from now, when does property P cross Z?")
//! answered with a predicted trajectory and a crossing time with bounds. A
//! scenario only reads the twin: it never commands the device.
//!
//! The forward models are the core's [`twinkit_core::physics`] models (the
//! same ones that drive the simulator); this module fits their parameters.
//!
//! # Thermal model
//!
//! `dT/dt = (T_amb − T)/τ + k·u`, `u` an actuator (heater or fan on/off as
//! 1/0, a duty, or a setpoint), held between its readings. Fitted by least
//! squares on the integral form (robust to measurement noise, which the
//! derivative form would amplify):
//!
//! ```text
//! T(tᵢ) = c₀ + c₁·(tᵢ − t₀) + c₂·∫T dt + c₃·∫u dt      (integrals from t₀, trapezoid / hold)
//! τ = −1/c₂    T_amb = −c₁/c₂    k = c₃
//! ```
//!
//! It needs the temperature to move (not only sit at a steady state) and
//! the actuator to change during the fitted span; otherwise the fit is
//! refused with [`AnalyticsError::NotEnoughData`].
//!
//! # Wear model (vibration)
//!
//! The core's `WearModel`: vibration `= base + a·s + wear·(0.5 + 0.5·s)`
//! with wear growing as `r·∫s dt` (`s` the speed or load fraction, wear in
//! vibration units, so `wearCoefficient = 1`). Fitted by least squares on
//! `[1, s, S·(0.5 + 0.5·s)]` with `S = ∫s dt` since the first point; when the
//! speed never changed, `a` cannot be told from `base` and is taken as 0.
//!
//! # Uncertainty
//!
//! Crossing bounds come from 400 Monte Carlo draws (seeded, so answers are
//! reproducible) of the fitted coefficients from their estimated covariance
//! `s²(XᵀX)⁻¹`, plus the start value's measurement noise: the bounds are the
//! draws' `(1 ± level)/2` quantiles; when more than `(1 − level)/2` of the
//! draws never cross, the upper bound is open (`None`).

use serde::{Deserialize, Serialize};
use twinkit_core::physics::{Rng, ThermalModel, WearModel};
use twinkit_core::{DigitalTwin, Millis, TelemetryValue};

use crate::error::{invalid, AnalyticsError};
use crate::trend::Crossing;

const MS_PER_SEC: f64 = 1_000.0;
const DRAWS: usize = 400;
const SEED: u64 = 0x7769_6e6b_6974; // fixed: same data, same answer

/// Least squares with the coefficient covariance.
#[derive(Debug, Clone, PartialEq)]
struct Ols {
    coef: Vec<f64>,
    /// `s²(XᵀX)⁻¹`, row-major p×p.
    cov: Vec<f64>,
    residual_std: f64,
    n: usize,
}

/// Solves least squares for rows `x` (each of length `p`) and targets `y`.
/// Columns are scaled to unit norm first; `None` when the design is rank
/// deficient (a pivot below 1e-10 of the largest) or there are too few rows.
fn ols(x: &[Vec<f64>], y: &[f64]) -> Option<Ols> {
    let n = y.len();
    let p = x.first()?.len();
    if n <= p + 1 {
        return None;
    }
    let scale: Vec<f64> = (0..p)
        .map(|j| x.iter().map(|r| r[j] * r[j]).sum::<f64>().sqrt())
        .collect();
    if scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return None;
    }
    // Normal equations on scaled columns, inverted by Gauss–Jordan.
    let mut a = vec![0.0; p * 2 * p];
    let w = 2 * p;
    for r in x {
        for i in 0..p {
            for j in 0..p {
                a[i * w + j] += r[i] / scale[i] * r[j] / scale[j];
            }
        }
    }
    for i in 0..p {
        a[i * w + p + i] = 1.0;
    }
    for col in 0..p {
        let pivot =
            (col..p).max_by(|&i, &j| a[i * w + col].abs().total_cmp(&a[j * w + col].abs()))?;
        if a[pivot * w + col].abs() < 1e-10 {
            return None;
        }
        for k in 0..w {
            a.swap(col * w + k, pivot * w + k);
        }
        let d = a[col * w + col];
        for k in 0..w {
            a[col * w + k] /= d;
        }
        for i in 0..p {
            if i != col {
                let f = a[i * w + col];
                for k in 0..w {
                    a[i * w + k] -= f * a[col * w + k];
                }
            }
        }
    }
    let inv = |i: usize, j: usize| a[i * w + p + j] / (scale[i] * scale[j]);
    let xty: Vec<f64> = (0..p)
        .map(|j| x.iter().zip(y).map(|(r, yv)| r[j] * yv).sum())
        .collect();
    let coef: Vec<f64> = (0..p)
        .map(|i| (0..p).map(|j| inv(i, j) * xty[j]).sum())
        .collect();
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(r, yv)| (yv - r.iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>()).powi(2))
        .sum();
    let s2 = sse / (n - p) as f64;
    let cov = (0..p * p)
        .map(|k| s2 * inv(k / p, k % p))
        .collect::<Vec<_>>();
    coef.iter()
        .chain(&cov)
        .all(|v| v.is_finite())
        .then_some(Ols {
            coef,
            cov,
            residual_std: s2.sqrt(),
            n,
        })
}

/// Lower-triangular Cholesky factor of a p×p covariance (zero where it is
/// not positive definite).
fn cholesky(cov: &[f64], p: usize) -> Vec<f64> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * p + k] * l[j * p + k]).sum();
            if i == j {
                l[i * p + i] = (cov[i * p + i] - s).max(0.0).sqrt();
            } else if l[j * p + j] > 0.0 {
                l[i * p + j] = (cov[i * p + j] - s) / l[j * p + j];
            }
        }
    }
    l
}

/// Draws of the coefficients from N(coef, cov).
fn draws(fit: &Ols, count: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let p = fit.coef.len();
    let l = cholesky(&fit.cov, p);
    (0..count)
        .map(|_| {
            let z: Vec<f64> = (0..p).map(|_| rng.standard_normal()).collect();
            (0..p)
                .map(|i| fit.coef[i] + (0..=i).map(|k| l[i * p + k] * z[k]).sum::<f64>())
                .collect()
        })
        .collect()
}

/// Bounds from sampled crossing times (`None` = never), per the module docs.
fn bounds(estimate: Option<f64>, mut samples: Vec<Option<f64>>, level: f64) -> Crossing {
    let tail = (1.0 - level) / 2.0;
    let total = samples.len() as f64;
    let never = samples.iter().filter(|s| s.is_none()).count() as f64;
    let mut times: Vec<f64> = samples.drain(..).flatten().collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| -> Option<f64> {
        let rank = (q * total).floor() as usize;
        times.get(rank.min(times.len().saturating_sub(1))).copied()
    };
    let lower = if times.is_empty() { None } else { at(tail) };
    let upper = if never / total > tail {
        None
    } else {
        at(1.0 - tail)
    };
    Crossing {
        estimate,
        lower,
        upper,
    }
}

/// A thermal model fitted from telemetry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThermalFit {
    /// Time constant τ, seconds.
    pub tau_secs: f64,
    /// Ambient temperature.
    pub ambient: f64,
    /// Heating rate per unit of actuator, degrees per second.
    pub gain: f64,
    /// Standard errors of τ, ambient and gain (delta method).
    pub std_errors: [f64; 3],
    /// Residual standard deviation of the fit.
    pub residual_std: f64,
    /// Points fitted.
    pub n: usize,
    /// Last temperature reading and its time.
    pub last: (Millis, f64),
    /// Actuator value at the last reading.
    pub last_actuator: f64,
    #[serde(skip)]
    ols: Ols,
}

/// The actuator's value at `t`: its latest reading at or before `t` (the
/// first reading before that).
fn held(actuator: &[(Millis, f64)], t: Millis) -> f64 {
    let i = actuator.partition_point(|p| p.0 <= t);
    actuator[i.saturating_sub(1)].1
}

fn secs(from: Millis, to: Millis) -> f64 {
    (i128::from(to) - i128::from(from)) as f64 / MS_PER_SEC
}

fn not_enough(property: &str, reason: impl Into<String>) -> AnalyticsError {
    AnalyticsError::NotEnoughData {
        property: property.to_owned(),
        reason: reason.into(),
    }
}

/// Finite points, oldest first, times not decreasing.
fn clean(points: &[(Millis, f64)]) -> Vec<(Millis, f64)> {
    let mut v: Vec<(Millis, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    v.sort_by_key(|p| p.0);
    v
}

impl ThermalFit {
    /// Fits `temperature` readings with the `actuator` readings (both
    /// `(time, value)`; the actuator held between readings).
    pub fn fit(
        temperature: &[(Millis, f64)],
        actuator: &[(Millis, f64)],
    ) -> Result<Self, AnalyticsError> {
        let temps = clean(temperature);
        let act = clean(actuator);
        if temps.len() < 10 {
            return Err(not_enough("temperature", "need at least 10 readings"));
        }
        if act.is_empty() {
            return Err(not_enough("actuator", "no readings"));
        }
        let (t0, _) = temps[0];
        let (mut int_t, mut int_u) = (0.0, 0.0);
        let mut rows = Vec::with_capacity(temps.len());
        let mut y = Vec::with_capacity(temps.len());
        for (i, &(t, v)) in temps.iter().enumerate() {
            if i > 0 {
                let (tp, vp) = temps[i - 1];
                let dt = secs(tp, t);
                int_t += 0.5 * (v + vp) * dt;
                // Exact integral of the held actuator over [tp, t].
                let mut from = tp;
                let mut u = held(&act, tp);
                let start = act.partition_point(|p| p.0 <= tp);
                for &(ta, ua) in act[start..].iter().take_while(|p| p.0 < t) {
                    int_u += u * secs(from, ta);
                    from = ta;
                    u = ua;
                }
                int_u += u * secs(from, t);
            }
            rows.push(vec![1.0, secs(t0, t), int_t, int_u]);
            y.push(v);
        }
        let fit = ols(&rows, &y).ok_or_else(|| {
            not_enough(
                "temperature",
                "the data cannot separate τ, ambient and actuator gain (the actuator must change and the temperature respond)",
            )
        })?;
        let (c1, c2, c3) = (fit.coef[1], fit.coef[2], fit.coef[3]);
        if c2.is_nan() || c2 >= 0.0 {
            return Err(not_enough(
                "temperature",
                "no relaxation toward an ambient temperature in the data (fitted 1/τ ≤ 0)",
            ));
        }
        let tau = -1.0 / c2;
        let ambient = -c1 / c2;
        // Delta method: τ = −1/c₂, T_amb = −c₁/c₂, k = c₃.
        let v = |i: usize, j: usize| fit.cov[i * 4 + j];
        let se_tau = (v(2, 2) / c2.powi(4)).sqrt();
        let (g1, g2) = (-1.0 / c2, c1 / (c2 * c2));
        let se_amb = (g1 * g1 * v(1, 1) + 2.0 * g1 * g2 * v(1, 2) + g2 * g2 * v(2, 2))
            .max(0.0)
            .sqrt();
        let se_gain = v(3, 3).max(0.0).sqrt();
        let last = *temps.last().unwrap_or(&temps[0]);
        Ok(Self {
            tau_secs: tau,
            ambient,
            gain: c3,
            std_errors: [se_tau, se_amb, se_gain],
            residual_std: fit.residual_std,
            n: fit.n,
            last,
            last_actuator: held(&act, last.0),
            ols: fit,
        })
    }

    /// The core's forward model with the fitted parameters, at `temperature`.
    pub fn model(&self, temperature: f64) -> ThermalModel {
        ThermalModel::new(temperature, self.ambient, self.tau_secs, self.gain)
    }
}

/// Time (seconds) for a first-order response from `start` toward `steady`
/// with time constant `tau` to reach `level`; `None` if it never does.
fn thermal_crossing(start: f64, steady: f64, tau: f64, level: f64) -> Option<f64> {
    if !(tau.is_finite() && tau > 0.0) {
        return None;
    }
    if (start - level) * (steady - level) > 0.0 || steady == level {
        return if start == level { Some(0.0) } else { None };
    }
    let t = tau * ((start - steady) / (level - steady)).ln();
    (t.is_finite() && t >= 0.0).then_some(t)
}

/// A scenario's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioOutcome {
    /// Predicted `(time, value)` from `now` to the horizon.
    pub trajectory: Vec<(Millis, f64)>,
    /// Hours from `now` until the property reaches the level, with bounds.
    pub crossing: Crossing,
    /// The value the property tends to under the scenario (thermal), or the
    /// value at the horizon (wear).
    pub settles_at: f64,
    /// Confidence of the crossing bounds.
    pub confidence_level: f64,
}

/// "If the actuator is set to `value` from `now`": the trajectory over
/// `horizon_ms` in `steps` steps, and when the temperature reaches `level`.
/// The start is the last reading (at `now`, the model is run from the last
/// reading's time with the actuator as it was until `now`).
pub fn thermal_scenario(
    fit: &ThermalFit,
    value: f64,
    level: f64,
    now: Millis,
    horizon_ms: Millis,
    steps: usize,
    confidence_level: f64,
) -> Result<ScenarioOutcome, AnalyticsError> {
    check_scenario(value, level, horizon_ms, steps, confidence_level)?;
    // Bring the model from the last reading to now under the old actuator.
    let mut model = fit.model(fit.last.1);
    model.step(fit.last_actuator, secs(fit.last.0, now).max(0.0));
    let start = model.temperature();
    let step_secs = horizon_ms as f64 / MS_PER_SEC / steps as f64;
    let mut trajectory = Vec::with_capacity(steps + 1);
    trajectory.push((now, start));
    for i in 1..=steps {
        model.step(value, step_secs);
        trajectory.push((
            now + (i as u64 * horizon_ms) / steps as u64,
            model.temperature(),
        ));
    }
    let steady = fit.model(start).steady_state(value);
    let estimate = thermal_crossing(start, steady, fit.tau_secs, level).map(|s| s / 3_600.0);
    let mut rng = Rng::new(SEED);
    let gap = secs(fit.last.0, now).max(0.0);
    let samples = draws(&fit.ols, DRAWS, &mut rng)
        .into_iter()
        .map(|c| {
            let (c1, c2, c3) = (c[1], c[2], c[3]);
            if c2 >= 0.0 {
                return None;
            }
            let m = ThermalModel::new(
                fit.last.1 + fit.residual_std * rng.standard_normal(),
                -c1 / c2,
                -1.0 / c2,
                c3,
            );
            let mut m = m;
            m.step(fit.last_actuator, gap);
            thermal_crossing(m.temperature(), m.steady_state(value), m.tau_secs(), level)
                .map(|s| s / 3_600.0)
        })
        .collect();
    Ok(ScenarioOutcome {
        trajectory,
        crossing: bounds(estimate, samples, confidence_level),
        settles_at: steady,
        confidence_level,
    })
}

fn check_scenario(
    value: f64,
    level: f64,
    horizon_ms: Millis,
    steps: usize,
    confidence_level: f64,
) -> Result<(), AnalyticsError> {
    if !value.is_finite() {
        return Err(invalid("value", "must be a finite number"));
    }
    if !level.is_finite() {
        return Err(invalid("level", "must be a finite number"));
    }
    if horizon_ms == 0 {
        return Err(invalid("horizonMs", "must be positive"));
    }
    if !(1..=100_000).contains(&steps) {
        return Err(invalid("steps", "must be between 1 and 100000"));
    }
    if !(confidence_level > 0.0 && confidence_level < 1.0) {
        return Err(invalid(
            "confidenceLevel",
            "must be between 0 and 1 (exclusive)",
        ));
    }
    Ok(())
}

/// A vibration wear model fitted from telemetry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WearFit {
    /// Vibration of a new bearing at standstill (with the fit's wear origin).
    pub base_vibration: f64,
    /// Vibration added per unit of speed (0 when speed never changed).
    pub speed_coefficient: f64,
    /// Wear (vibration units) per second at full speed.
    pub wear_rate: f64,
    /// Wear accumulated since the first reading, at the last.
    pub wear: f64,
    /// Standard errors of base, speed coefficient and wear rate.
    pub std_errors: [f64; 3],
    /// Residual standard deviation.
    pub residual_std: f64,
    /// Points fitted.
    pub n: usize,
    /// Last vibration reading and its time.
    pub last: (Millis, f64),
    /// Speed at the last reading.
    pub last_speed: f64,
    speed_varied: bool,
    #[serde(skip)]
    ols: Ols,
}

impl WearFit {
    /// Fits `vibration` readings with `speed` readings (fractions of rated
    /// speed, held between readings).
    pub fn fit(
        vibration: &[(Millis, f64)],
        speed: &[(Millis, f64)],
    ) -> Result<Self, AnalyticsError> {
        let vib = clean(vibration);
        let sp = clean(speed);
        if vib.len() < 10 {
            return Err(not_enough("vibration", "need at least 10 readings"));
        }
        if sp.is_empty() {
            return Err(not_enough("speed", "no readings"));
        }
        let (t0, _) = vib[0];
        let mut exposure = 0.0; // ∫ max(s, 0) dt, seconds
        let mut rows = Vec::with_capacity(vib.len());
        let mut y = Vec::with_capacity(vib.len());
        let mut prev = t0;
        let speed_at = |t| held(&sp, t).max(0.0);
        for &(t, v) in &vib {
            let start = sp.partition_point(|p| p.0 <= prev);
            let mut from = prev;
            let mut s = speed_at(prev);
            for &(ts, us) in sp[start..].iter().take_while(|p| p.0 < t) {
                exposure += s * secs(from, ts);
                from = ts;
                s = us.max(0.0);
            }
            exposure += s * secs(from, t);
            prev = t;
            let now_s = speed_at(t);
            rows.push((now_s, exposure * (0.5 + 0.5 * now_s)));
            y.push(v);
        }
        let first_speed = rows[0].0;
        let speed_varied = rows.iter().any(|r| (r.0 - first_speed).abs() > 1e-12);
        let design: Vec<Vec<f64>> = rows
            .iter()
            .map(|&(s, w)| {
                if speed_varied {
                    vec![1.0, s, w]
                } else {
                    vec![1.0, w]
                }
            })
            .collect();
        let fit = ols(&design, &y).ok_or_else(|| {
            not_enough(
                "vibration",
                "the data cannot separate base vibration from wear (the machine must run)",
            )
        })?;
        let (base, sc, rate, se) = if speed_varied {
            let se = |i: usize| fit.cov[i * 3 + i].max(0.0).sqrt();
            (fit.coef[0], fit.coef[1], fit.coef[2], [se(0), se(1), se(2)])
        } else {
            let se = |i: usize| fit.cov[i * 2 + i].max(0.0).sqrt();
            (fit.coef[0], 0.0, fit.coef[1], [se(0), 0.0, se(1)])
        };
        let last = *vib.last().unwrap_or(&vib[0]);
        Ok(Self {
            base_vibration: base,
            speed_coefficient: sc,
            wear_rate: rate,
            wear: rate * exposure,
            std_errors: se,
            residual_std: fit.residual_std,
            n: fit.n,
            last,
            last_speed: speed_at(last.0),
            speed_varied,
            ols: fit,
        })
    }

    /// The core's forward model with the fitted parameters and wear.
    pub fn model(&self) -> WearModel {
        let mut m = WearModel::new(
            self.wear_rate,
            self.base_vibration,
            self.speed_coefficient,
            1.0,
        );
        m.set_wear(self.wear);
        m
    }

    /// (base, speed coefficient, rate) from a coefficient vector.
    fn params(&self, c: &[f64]) -> (f64, f64, f64) {
        if self.speed_varied {
            (c[0], c[1], c[2])
        } else {
            (c[0], 0.0, c[1])
        }
    }
}

/// Seconds until the wear model's vibration at `speed` reaches `level`,
/// starting from wear `w0`.
fn wear_crossing(base: f64, sc: f64, rate: f64, w0: f64, speed: f64, level: f64) -> Option<f64> {
    let s = speed.max(0.0);
    let f = 0.5 + 0.5 * s;
    let v0 = base + sc * s + w0 * f;
    if v0 >= level {
        return Some(0.0);
    }
    let per_sec = rate * s * f;
    if per_sec <= 0.0 {
        return None;
    }
    let t = (level - v0) / per_sec;
    t.is_finite().then_some(t)
}

/// "If the speed is set to `value` from `now`": vibration trajectory and
/// when it reaches `level` (rising).
pub fn wear_scenario(
    fit: &WearFit,
    value: f64,
    level: f64,
    now: Millis,
    horizon_ms: Millis,
    steps: usize,
    confidence_level: f64,
) -> Result<ScenarioOutcome, AnalyticsError> {
    check_scenario(value, level, horizon_ms, steps, confidence_level)?;
    let gap = secs(fit.last.0, now).max(0.0);
    let mut model = fit.model();
    model.step(fit.last_speed, gap);
    let w_now = model.wear();
    let step_secs = horizon_ms as f64 / MS_PER_SEC / steps as f64;
    let mut trajectory = Vec::with_capacity(steps + 1);
    trajectory.push((now, model.vibration(value)));
    for i in 1..=steps {
        model.step(value, step_secs);
        trajectory.push((
            now + (i as u64 * horizon_ms) / steps as u64,
            model.vibration(value),
        ));
    }
    let estimate = wear_crossing(
        fit.base_vibration,
        fit.speed_coefficient,
        fit.wear_rate,
        w_now,
        value,
        level,
    )
    .map(|s| s / 3_600.0);
    let mut rng = Rng::new(SEED);
    let exposure = if fit.wear_rate != 0.0 {
        w_now / fit.wear_rate
    } else {
        0.0
    };
    let samples = draws(&fit.ols, DRAWS, &mut rng)
        .into_iter()
        .map(|c| {
            let (base, sc, rate) = fit.params(&c);
            let noise = fit.residual_std * rng.standard_normal();
            wear_crossing(base + noise, sc, rate, rate * exposure, value, level)
                .map(|s| s / 3_600.0)
        })
        .collect();
    let settles_at = trajectory.last().map_or(fit.last.1, |p| p.1);
    Ok(ScenarioOutcome {
        trajectory,
        crossing: bounds(estimate, samples, confidence_level),
        settles_at,
        confidence_level,
    })
}

/// A what-if question about a twin's property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// The property to predict (temperature or vibration).
    pub property: String,
    /// The actuator (heater, fan, cooling, setpoint; or speed for wear).
    pub actuator: String,
    /// The actuator's value from now on (booleans as 1/0).
    pub value: f64,
    /// The level whose crossing is wanted.
    pub level: f64,
    /// How far ahead, ms. Default 24 h.
    #[serde(default = "default_horizon")]
    pub horizon_ms: Millis,
    /// Trajectory steps. Default 96.
    #[serde(default = "default_steps")]
    pub steps: usize,
    /// Confidence of the crossing bounds. Default 0.9.
    #[serde(default = "default_level")]
    pub confidence_level: f64,
}

fn default_horizon() -> Millis {
    24 * 3_600_000
}
fn default_steps() -> usize {
    96
}
fn default_level() -> f64 {
    0.9
}

/// Which physics a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ModelKind {
    /// First-order thermal.
    Thermal,
    /// Wear-driven vibration.
    Wear,
}

/// A property's numeric telemetry from a twin's history (booleans as 1/0).
pub fn twin_series(twin: &DigitalTwin, property: &str) -> Vec<(Millis, f64)> {
    twin.history()
        .records(twin.id(), Some(property), None)
        .into_iter()
        .filter_map(|r| {
            let v = match r.values.get(property)? {
                TelemetryValue::Number(v) => *v,
                TelemetryValue::Bool(b) => f64::from(u8::from(*b)),
                TelemetryValue::String(_) => return None,
            };
            Some((r.timestamp, v))
        })
        .collect()
}

/// Answers `scenario` from the twin's telemetry history, at `now`, with the
/// thermal or the wear model. Reads the twin only (`&DigitalTwin`): nothing
/// is sent to the device.
pub fn twin_scenario(
    twin: &DigitalTwin,
    kind: ModelKind,
    scenario: &Scenario,
    now: Millis,
) -> Result<ScenarioOutcome, AnalyticsError> {
    crate::error::check_property(&scenario.property)?;
    crate::error::check_property(&scenario.actuator)?;
    let property = twin_series(twin, &scenario.property);
    let actuator = twin_series(twin, &scenario.actuator);
    let named = |e: AnalyticsError, which: &str, name: &str| match e {
        AnalyticsError::NotEnoughData { property, reason } if property == which => {
            AnalyticsError::NotEnoughData {
                property: name.to_owned(),
                reason,
            }
        }
        other => other,
    };
    let s = scenario;
    match kind {
        ModelKind::Thermal => {
            let fit = ThermalFit::fit(&property, &actuator)
                .map_err(|e| named(e, "temperature", &s.property))
                .map_err(|e| named(e, "actuator", &s.actuator))?;
            thermal_scenario(
                &fit,
                s.value,
                s.level,
                now,
                s.horizon_ms,
                s.steps,
                s.confidence_level,
            )
        }
        ModelKind::Wear => {
            let fit = WearFit::fit(&property, &actuator)
                .map_err(|e| named(e, "vibration", &s.property))
                .map_err(|e| named(e, "speed", &s.actuator))?;
            wear_scenario(
                &fit,
                s.value,
                s.level,
                now,
                s.horizon_ms,
                s.steps,
                s.confidence_level,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use twinkit_core::DeviceConfig;

    const T0: Millis = 1_700_000_000_000;
    const MIN: Millis = 60_000;

    /// A room simulated with the core's model: τ = 30 min, ambient 15,
    /// gain 0.01 °/s; heater on for 2 h, off 2 h, on 2 h; one reading a
    /// minute with noise `sigma`.
    /// (property readings, actuator readings).
    type Pair = (Vec<(Millis, f64)>, Vec<(Millis, f64)>);

    fn room(sigma: f64, seed: u64) -> Pair {
        let mut model = ThermalModel::new(15.0, 15.0, 1_800.0, 0.01);
        let mut rng = Rng::new(seed);
        let heater = |m: u64| if (m / 120) % 2 == 0 { 1.0 } else { 0.0 };
        let mut temps = Vec::new();
        let mut act = Vec::new();
        for m in 0..360u64 {
            let t = T0 + m * MIN;
            temps.push((t, model.temperature() + sigma * rng.standard_normal()));
            if m == 0 || heater(m) != heater(m - 1) {
                act.push((t, heater(m)));
            }
            model.step(heater(m), 60.0);
        }
        (temps, act)
    }

    #[test]
    fn thermal_fit_recovers_tau_ambient_and_gain() {
        for sigma in [0.0, 0.2] {
            let (temps, act) = room(sigma, 1);
            let fit = ThermalFit::fit(&temps, &act).unwrap();
            let tol = if sigma == 0.0 { 0.01 } else { 0.05 };
            assert!((fit.tau_secs / 1_800.0 - 1.0).abs() < tol, "{fit:?}");
            assert!((fit.ambient - 15.0).abs() < 15.0 * tol, "{fit:?}");
            assert!((fit.gain / 0.01 - 1.0).abs() < tol, "{fit:?}");
            if sigma > 0.0 {
                // The truth is within 3 standard errors.
                assert!(
                    (fit.tau_secs - 1_800.0).abs() < 3.0 * fit.std_errors[0] + 1.0,
                    "{fit:?}"
                );
                assert!((fit.residual_std - sigma).abs() < 0.05, "{fit:?}");
            }
        }
    }

    #[test]
    fn thermal_fit_refuses_unidentifiable_data() {
        // Heater always on and the room already at steady state: nothing to fit.
        let temps: Vec<_> = (0..100u64).map(|m| (T0 + m * MIN, 33.0)).collect();
        let act = [(T0, 1.0)];
        let err = ThermalFit::fit(&temps, &act).unwrap_err();
        assert_eq!(err.code(), "NOT_ENOUGH_DATA");
        assert!(ThermalFit::fit(&temps[..5], &act).is_err());
        assert!(ThermalFit::fit(&temps, &[]).is_err());
    }

    #[test]
    fn heater_off_scenario_predicts_the_crossing_with_bounds() {
        let (temps, act) = room(0.2, 2);
        let fit = ThermalFit::fit(&temps, &act).unwrap();
        // At the end the heater is on and the room near 15 + 0.01·1800 = 33.
        let now = temps.last().unwrap().0;
        let start = temps.last().unwrap().1;
        // Heater off: cools toward 15; when does it reach 20?
        let out = thermal_scenario(&fit, 0.0, 20.0, now, 6 * 3_600_000, 72, 0.9).unwrap();
        let truth_start = {
            let (clean, _) = room(0.0, 2);
            clean.last().unwrap().1
        };
        let truth = 1_800.0 * ((truth_start - 15.0) / (20.0 - 15.0)).ln() / 3_600.0;
        let c = out.crossing;
        let (e, lo, hi) = (c.estimate.unwrap(), c.lower.unwrap(), c.upper.unwrap());
        assert!((e - truth).abs() < 0.1 * truth, "{c:?} vs {truth}");
        assert!(lo <= truth && truth <= hi, "{c:?} vs {truth}");
        assert!(lo < e && e < hi);
        assert!((out.settles_at - 15.0).abs() < 1.0);
        assert_eq!(out.trajectory.len(), 73);
        assert!((out.trajectory[0].1 - start).abs() < 1e-9);
        assert!(out.trajectory.windows(2).all(|w| w[1].1 < w[0].1)); // cooling
                                                                     // Heater stays on: 20 is never crossed (already above, moving away).
        let on = thermal_scenario(&fit, 1.0, 40.0, now, 3_600_000, 10, 0.9).unwrap();
        assert_eq!(on.crossing.estimate, None);
        assert_eq!(on.crossing.upper, None);
        // Bad questions.
        assert!(thermal_scenario(&fit, f64::NAN, 20.0, now, 1, 1, 0.9).is_err());
        assert!(thermal_scenario(&fit, 0.0, 20.0, now, 0, 1, 0.9).is_err());
        assert!(thermal_scenario(&fit, 0.0, 20.0, now, 1, 0, 0.9).is_err());
    }

    /// A motor run by the core's wear model: speed 0.5 then 1.0, hourly
    /// readings for 10 days.
    fn motor(sigma: f64) -> Pair {
        let mut m = WearModel::new(2e-6, 1.0, 1.5, 1.0);
        let mut rng = Rng::new(3);
        let speed = |h: u64| if (h / 24) % 2 == 0 { 0.5 } else { 1.0 };
        let (mut vib, mut sp) = (Vec::new(), Vec::new());
        for h in 0..240u64 {
            let t = T0 + h * 60 * MIN;
            vib.push((t, m.vibration(speed(h)) + sigma * rng.standard_normal()));
            sp.push((t, speed(h)));
            m.step(speed(h), 3_600.0);
        }
        (vib, sp)
    }

    #[test]
    fn wear_fit_recovers_rate_and_predicts_crossing() {
        let (vib, sp) = motor(0.05);
        let fit = WearFit::fit(&vib, &sp).unwrap();
        assert!((fit.wear_rate / 2e-6 - 1.0).abs() < 0.05, "{fit:?}");
        assert!((fit.speed_coefficient - 1.5).abs() < 0.05, "{fit:?}");
        assert!((fit.base_vibration - 1.0).abs() < 0.05, "{fit:?}");
        // Full speed from now: vibration = 1 + 1.5 + wear(t); when does it hit 5?
        let now = vib.last().unwrap().0;
        let out = wear_scenario(&fit, 1.0, 5.0, now, 30 * 24 * 3_600_000, 30, 0.9).unwrap();
        // Truth from the generating model.
        let mut truth_model = WearModel::new(2e-6, 1.0, 1.5, 1.0);
        for h in 0..240u64 {
            truth_model.step(if (h / 24) % 2 == 0 { 0.5 } else { 1.0 }, 3_600.0);
        }
        let hours = (5.0 - truth_model.vibration(1.0)) / (2e-6 * 3_600.0);
        // Readings stop one hour before `now` of the generator's last step.
        let c = out.crossing;
        assert!(
            c.lower.unwrap() <= hours + 1.0 && hours - 1.0 <= c.upper.unwrap(),
            "{c:?} vs {hours}"
        );
        assert!(
            (c.estimate.unwrap() - hours).abs() < 0.1 * hours,
            "{c:?} vs {hours}"
        );
        assert!(out.trajectory.windows(2).all(|w| w[1].1 >= w[0].1));
        // Stopped: never.
        let stopped = wear_scenario(&fit, 0.0, 5.0, now, 3_600_000, 4, 0.9).unwrap();
        assert_eq!(stopped.crossing.estimate, None);
    }

    #[test]
    fn scenario_on_a_twin_never_touches_the_device() {
        let config = DeviceConfig::from_json(
            r#"{"id": "room", "name": "Room", "type": "hvac",
                "properties": [
                  {"name": "temperature", "type": "number", "telemetry": true},
                  {"name": "heater", "type": "boolean", "writable": true, "telemetry": true}]}"#,
        )
        .unwrap();
        let mut twin = DigitalTwin::new(config).unwrap();
        let (temps, act) = room(0.1, 4);
        for &(t, v) in &temps {
            let mut values = serde_json::Map::new();
            values.insert("temperature".into(), json!(v));
            if let Some(&(_, u)) = act.iter().find(|a| a.0 == t) {
                values.insert("heater".into(), json!(u > 0.5));
            }
            twin.apply_reported(values.into_iter().collect(), t);
        }
        let state_before = serde_json::to_value(twin.state()).unwrap();
        let now = temps.last().unwrap().0;
        let scenario: Scenario = serde_json::from_value(json!({
            "property": "temperature", "actuator": "heater", "value": 0, "level": 20
        }))
        .unwrap();
        let out = twin_scenario(&twin, ModelKind::Thermal, &scenario, now).unwrap();
        assert!(out.crossing.estimate.unwrap() > 0.5, "{out:?}");
        assert_eq!(out.trajectory.len(), 97);
        assert_eq!(serde_json::to_value(twin.state()).unwrap(), state_before);
        assert_eq!(twin.outbound_len(), 0);
        assert!(twin.poll_outbound(now).is_none());
        // Unknown actuator: a clear error naming it.
        let bad = Scenario {
            actuator: "fan".into(),
            ..scenario
        };
        let err = twin_scenario(&twin, ModelKind::Thermal, &bad, now).unwrap_err();
        assert_eq!(err.to_string(), "`fan`: no readings");
        let json = serde_json::to_value(&out).unwrap();
        assert!(json["crossing"]["lower"].is_number());
    }

    #[test]
    fn ols_and_cholesky_basics() {
        // y = 2 + 3x exactly.
        let x: Vec<Vec<f64>> = (0..10).map(|i| vec![1.0, i as f64]).collect();
        let y: Vec<f64> = (0..10).map(|i| 2.0 + 3.0 * i as f64).collect();
        let f = ols(&x, &y).unwrap();
        assert!((f.coef[0] - 2.0).abs() < 1e-9 && (f.coef[1] - 3.0).abs() < 1e-9);
        // Collinear columns are refused.
        let x2: Vec<Vec<f64>> = (0..10)
            .map(|i| vec![1.0, i as f64, 2.0 * i as f64])
            .collect();
        assert!(ols(&x2, &y).is_none());
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2);
        assert_eq!(l, vec![2.0, 0.0, 1.0, 2f64.sqrt()]);
    }
}
