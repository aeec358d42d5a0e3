//! Forward models of simple device physics, for simulators and what-if
//! analysis: a first-order thermal response, bearing wear that raises
//! vibration, and a sensor with seeded noise and injectable faults (drift,
//! stuck value, spikes).
//!
//! Everything here is pure and deterministic: no clock (the caller passes
//! the step `dt` in seconds) and no ambient randomness (noise comes from a
//! seeded [`Rng`]), so the same seed and the same steps give the same
//! numbers natively and in the browser.
//!
//! ```
//! use twinkit_core::physics::{Rng, Sensor, ThermalModel};
//!
//! // A room at 15 °C, heater adding up to 0.05 °C/s, time constant 10 min.
//! let mut room = ThermalModel::new(15.0, 15.0, 600.0, 0.05);
//! let mut thermometer = Sensor::new(0.1, Rng::new(7));
//! for _ in 0..60 {
//!     room.step(1.0, 60.0); // heater full on, one minute a step
//! }
//! let reading = thermometer.measure(room.temperature(), 60.0);
//! assert!((reading - room.temperature()).abs() < 1.0);
//! assert!(room.temperature() > 40.0); // steady state is 15 + 0.05·600 = 45
//! ```

use serde::{Deserialize, Serialize};

/// A small seeded pseudo-random generator (SplitMix64), with uniform and
/// Gaussian draws.
///
/// SplitMix64 is a few lines, passes BigCrush, and any 64-bit seed
/// (including 0) gives a good stream; statistical quality beyond sensor
/// noise is not needed, so a crate would be weight without benefit.
#[derive(Debug, Clone, PartialEq)]
pub struct Rng {
    state: u64,
    /// Second value of the last Box–Muller pair, not yet used.
    spare: Option<f64>,
}

impl Rng {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p.clamp(0.0, 1.0)
    }

    /// A standard normal draw (mean 0, standard deviation 1), by the
    /// Box–Muller transform; the second value of each pair is kept for the
    /// next call.
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 − u is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// A normal draw with the given mean and standard deviation.
    pub fn gaussian(&mut self, mean: f64, std_dev: f64) -> f64 {
        mean + std_dev * self.standard_normal()
    }
}

/// First-order thermal response: `dT/dt = (T_ambient − T)/τ + k·u`.
///
/// `u` is the drive (a heater's duty in `[0, 1]`, a motor's load fraction, or
/// negative for cooling); `k` is the heating rate at `u = 1` in degrees per
/// second. Steady state under constant `u` is `T_ambient + k·τ·u`, reached to
/// 63 % after τ seconds.
///
/// Stepping uses the exact solution for `u` held constant over the step,
/// `T ← T_ss + (T − T_ss)·e^(−dt/τ)`, so any `dt` is stable and a step of
/// `2·dt` equals two steps of `dt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThermalModel {
    temperature: f64,
    /// Temperature of the surroundings.
    pub ambient: f64,
    /// Time constant τ in seconds (at least one millisecond).
    tau_secs: f64,
    /// Heating rate at full drive, in degrees per second.
    pub gain: f64,
}

impl ThermalModel {
    /// A model starting at `temperature`; `tau_secs` is clamped to at least
    /// 0.001 s so the model stays defined.
    pub fn new(temperature: f64, ambient: f64, tau_secs: f64, gain: f64) -> Self {
        Self {
            temperature,
            ambient,
            tau_secs: clamp_tau(tau_secs),
            gain,
        }
    }

    /// The current temperature.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Sets the temperature (e.g. a door opened).
    pub fn set_temperature(&mut self, temperature: f64) {
        self.temperature = temperature;
    }

    /// The time constant τ in seconds.
    pub fn tau_secs(&self) -> f64 {
        self.tau_secs
    }

    /// Changes τ (clamped to at least 0.001 s).
    pub fn set_tau_secs(&mut self, tau_secs: f64) {
        self.tau_secs = clamp_tau(tau_secs);
    }

    /// The temperature the model settles at under constant drive `u`.
    pub fn steady_state(&self, drive: f64) -> f64 {
        self.ambient + self.gain * self.tau_secs * drive
    }

    /// Advances by `dt_secs` seconds with drive `u` held constant, and
    /// returns the new temperature. A negative or non-finite `dt` leaves the
    /// state unchanged.
    pub fn step(&mut self, drive: f64, dt_secs: f64) -> f64 {
        if dt_secs.is_finite() && dt_secs > 0.0 && drive.is_finite() {
            let target = self.steady_state(drive);
            let decay = (-dt_secs / self.tau_secs).exp();
            self.temperature = target + (self.temperature - target) * decay;
        }
        self.temperature
    }

    /// The drive that holds `temperature` at steady state (may lie outside
    /// `[0, 1]` if the heater cannot reach it); 0 when the gain is 0.
    pub fn drive_for(&self, temperature: f64) -> f64 {
        if self.gain == 0.0 {
            0.0
        } else {
            (temperature - self.ambient) / (self.gain * self.tau_secs)
        }
    }
}

fn clamp_tau(tau_secs: f64) -> f64 {
    if tau_secs.is_finite() {
        tau_secs.max(0.001)
    } else {
        0.001
    }
}

/// Bearing wear that accumulates with running speed and raises vibration.
///
/// Wear grows by `wear_rate · speed · dt` (speed as a fraction of rated
/// speed, `dt` in seconds; wear is dimensionless, 1.0 being a worn-out
/// bearing by convention). Vibration (RMS velocity, mm/s) is
/// `base + speed_coefficient · speed + wear_coefficient · wear · (0.5 + 0.5 · speed)`:
/// a worn bearing vibrates more, and more so at speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WearModel {
    wear: f64,
    /// Wear per second at full speed.
    pub wear_rate: f64,
    /// Vibration of a new bearing at standstill.
    pub base_vibration: f64,
    /// Vibration added at full speed by a new bearing.
    pub speed_coefficient: f64,
    /// Vibration added per unit of wear (at full speed).
    pub wear_coefficient: f64,
}

impl WearModel {
    /// A new bearing with the given coefficients.
    pub fn new(
        wear_rate: f64,
        base_vibration: f64,
        speed_coefficient: f64,
        wear_coefficient: f64,
    ) -> Self {
        Self {
            wear: 0.0,
            wear_rate,
            base_vibration,
            speed_coefficient,
            wear_coefficient,
        }
    }

    /// Accumulated wear.
    pub fn wear(&self) -> f64 {
        self.wear
    }

    /// Sets the accumulated wear (clamped at 0), e.g. to start a simulation
    /// from an aged bearing.
    pub fn set_wear(&mut self, wear: f64) {
        self.wear = if wear.is_finite() { wear.max(0.0) } else { 0.0 };
    }

    /// A new bearing: wear back to 0.
    pub fn reset(&mut self) {
        self.wear = 0.0;
    }

    /// Runs for `dt_secs` at `speed` (fraction of rated speed, negative
    /// treated as 0) and returns the new wear. Non-finite or negative input
    /// leaves the state unchanged.
    pub fn step(&mut self, speed: f64, dt_secs: f64) -> f64 {
        if dt_secs.is_finite() && dt_secs > 0.0 && speed.is_finite() {
            self.wear += self.wear_rate * speed.max(0.0) * dt_secs;
        }
        self.wear
    }

    /// Vibration at `speed` with the current wear (noise-free).
    pub fn vibration(&self, speed: f64) -> f64 {
        let speed = if speed.is_finite() {
            speed.max(0.0)
        } else {
            0.0
        };
        self.base_vibration
            + self.speed_coefficient * speed
            + self.wear_coefficient * self.wear * (0.5 + 0.5 * speed)
    }
}

/// A fault injected into a [`Sensor`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum SensorFault {
    /// The reading's offset grows by `rate` units per second.
    #[serde(rename_all = "camelCase")]
    Drift {
        /// Offset added per second (may be negative).
        rate: f64,
    },
    /// The reading stays at the value it had when the fault began (or at
    /// `value` when given).
    Stuck {
        /// The value to stick at; the last reading when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
    },
    /// Each reading jumps by ±`magnitude` with probability `probability`.
    Spikes {
        /// Chance per reading, in `[0, 1]`.
        probability: f64,
        /// Size of a spike.
        magnitude: f64,
    },
}

/// A sensor reading a true value: Gaussian noise, an offset (which drift
/// grows and calibration clears) and at most one active fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    /// Standard deviation of the noise added to each reading.
    pub noise_std_dev: f64,
    offset: f64,
    fault: Option<SensorFault>,
    stuck_at: Option<f64>,
    last: Option<f64>,
    rng: Rng,
}

impl Sensor {
    /// A healthy sensor with the given noise and random stream.
    pub fn new(noise_std_dev: f64, rng: Rng) -> Self {
        Self {
            noise_std_dev,
            offset: 0.0,
            fault: None,
            stuck_at: None,
            last: None,
            rng,
        }
    }

    /// Reads `truth`, `dt_secs` after the previous reading (drift grows over
    /// that time). Non-finite `dt` counts as 0.
    pub fn measure(&mut self, truth: f64, dt_secs: f64) -> f64 {
        let dt = if dt_secs.is_finite() {
            dt_secs.max(0.0)
        } else {
            0.0
        };
        let mut reading = truth + self.offset + self.rng.gaussian(0.0, self.noise_std_dev);
        match self.fault {
            None => {}
            Some(SensorFault::Drift { rate }) => {
                self.offset += rate * dt;
                reading += rate * dt;
            }
            Some(SensorFault::Stuck { value }) => {
                let held = *self
                    .stuck_at
                    .get_or_insert(value.or(self.last).unwrap_or(reading));
                reading = held;
            }
            Some(SensorFault::Spikes {
                probability,
                magnitude,
            }) if self.rng.chance(probability) => {
                let sign = if self.rng.chance(0.5) { 1.0 } else { -1.0 };
                reading += sign * magnitude;
            }
            Some(SensorFault::Spikes { .. }) => {}
        }
        self.last = Some(reading);
        reading
    }

    /// Starts a fault, replacing any active one. Drift keeps the offset it
    /// already accumulated.
    pub fn inject(&mut self, fault: SensorFault) {
        self.fault = Some(fault);
        self.stuck_at = None;
    }

    /// Ends the active fault (the drifted offset stays until
    /// [`Sensor::calibrate`]).
    pub fn clear_fault(&mut self) {
        self.fault = None;
        self.stuck_at = None;
    }

    /// The active fault.
    pub fn fault(&self) -> Option<SensorFault> {
        self.fault
    }

    /// The current offset from the truth (drift).
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Clears the offset, as calibration against a reference would.
    pub fn calibrate(&mut self) {
        self.offset = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_by_seed() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(43);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Reference value of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn gaussian_has_the_requested_mean_and_spread() {
        let mut rng = Rng::new(1);
        let n = 20_000;
        let draws: Vec<f64> = (0..n).map(|_| rng.gaussian(5.0, 2.0)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 5.0).abs() < 0.05, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.05, "sd {}", var.sqrt());
        let mut u = Rng::new(2);
        assert!((0..1000)
            .map(|_| u.next_f64())
            .all(|x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn thermal_reaches_steady_state() {
        let mut m = ThermalModel::new(20.0, 20.0, 100.0, 0.1);
        assert_eq!(m.steady_state(1.0), 30.0);
        // 40 τ: the residual e^(−40) is far below the tolerance.
        for _ in 0..400 {
            m.step(1.0, 10.0);
        }
        assert!((m.temperature() - 30.0).abs() < 1e-9, "{}", m.temperature());
        // With the heater off it falls back to ambient.
        m.step(0.0, 10_000.0);
        assert!((m.temperature() - 20.0).abs() < 1e-9);
    }

    #[test]
    fn thermal_time_constant_is_63_percent() {
        let mut m = ThermalModel::new(0.0, 0.0, 300.0, 1.0 / 300.0);
        // Steady state at u = 1 is 1.0; after τ the model is at 1 − 1/e.
        m.step(1.0, 300.0);
        let expected = 1.0 - (-1.0f64).exp();
        assert!((m.temperature() - expected).abs() < 1e-12);
        assert!((m.temperature() - 0.632).abs() < 0.001);
    }

    #[test]
    fn thermal_step_is_exact_for_any_dt() {
        let mut big = ThermalModel::new(80.0, 20.0, 5.0, 0.0);
        let mut small = big.clone();
        // dt far above τ: forward Euler would overshoot and oscillate.
        big.step(0.0, 60.0);
        for _ in 0..600 {
            small.step(0.0, 0.1);
        }
        assert!((big.temperature() - small.temperature()).abs() < 1e-9);
        assert!(big.temperature() >= 20.0 && big.temperature() < 20.001);
        // Bad dt changes nothing.
        let before = big.temperature();
        big.step(1.0, f64::NAN);
        big.step(1.0, -5.0);
        assert_eq!(big.temperature(), before);
        assert!((big.drive_for(big.steady_state(0.4)) - 0.0).abs() < 1e-9);
    }

    #[test]
    fn vibration_rises_with_wear_and_speed() {
        let mut w = WearModel::new(1e-4, 0.5, 1.0, 4.0);
        let fresh = w.vibration(1.0);
        assert!(w.vibration(0.5) < fresh);
        w.step(1.0, 5_000.0);
        assert!((w.wear() - 0.5).abs() < 1e-12);
        assert!(w.vibration(1.0) > fresh + 1.9);
        // Stopped: no wear accrues.
        w.step(0.0, 1e6);
        assert!((w.wear() - 0.5).abs() < 1e-12);
        w.reset();
        assert_eq!(w.vibration(1.0), fresh);
    }

    #[test]
    fn sensor_noise_is_seeded() {
        let mut a = Sensor::new(0.5, Rng::new(9));
        let mut b = Sensor::new(0.5, Rng::new(9));
        let ra: Vec<f64> = (0..10).map(|_| a.measure(20.0, 1.0)).collect();
        let rb: Vec<f64> = (0..10).map(|_| b.measure(20.0, 1.0)).collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(|&x| x != 20.0));
        assert!(ra.iter().all(|&x| (x - 20.0).abs() < 3.0));
    }

    #[test]
    fn drift_accumulates_until_calibrated() {
        let mut s = Sensor::new(0.0, Rng::new(1));
        s.inject(SensorFault::Drift { rate: 0.01 });
        for _ in 0..100 {
            s.measure(10.0, 1.0);
        }
        assert!((s.measure(10.0, 0.0) - 11.0).abs() < 1e-9);
        s.clear_fault();
        assert!((s.measure(10.0, 100.0) - 11.0).abs() < 1e-9);
        s.calibrate();
        assert_eq!(s.measure(10.0, 1.0), 10.0);
    }

    #[test]
    fn stuck_holds_the_last_reading() {
        let mut s = Sensor::new(0.0, Rng::new(1));
        assert_eq!(s.measure(5.0, 1.0), 5.0);
        s.inject(SensorFault::Stuck { value: None });
        assert_eq!(s.measure(9.0, 1.0), 5.0);
        assert_eq!(s.measure(12.0, 1.0), 5.0);
        s.inject(SensorFault::Stuck { value: Some(-1.0) });
        assert_eq!(s.measure(12.0, 1.0), -1.0);
        s.clear_fault();
        assert_eq!(s.measure(12.0, 1.0), 12.0);
    }

    #[test]
    fn spikes_appear_at_about_the_requested_rate() {
        let mut s = Sensor::new(0.0, Rng::new(3));
        s.inject(SensorFault::Spikes {
            probability: 0.1,
            magnitude: 50.0,
        });
        let readings: Vec<f64> = (0..2000).map(|_| s.measure(0.0, 1.0)).collect();
        let spikes = readings.iter().filter(|x| x.abs() == 50.0).count();
        assert!((150..250).contains(&spikes), "{spikes} spikes");
        assert!(readings.iter().all(|&x| x == 0.0 || x.abs() == 50.0));
    }

    #[test]
    fn faults_serialize_tagged() {
        let f: SensorFault = serde_json::from_str(r#"{"kind":"drift","rate":0.5}"#).unwrap();
        assert_eq!(f, SensorFault::Drift { rate: 0.5 });
        assert_eq!(
            serde_json::to_string(&SensorFault::Stuck { value: None }).unwrap(),
            r#"{"kind":"stuck"}"#
        );
    }
}
