//! Native benchmarks of the analytics, each beside a baseline in the same
//! run, merged into `target/bench/results.json` as
//! `{"name": {"value", "unit", "baseline", "ratio", "note"}}`.
//!
//! Run with `npm run bench` (or `cargo bench -p twinkit-analytics --bench
//! detectors`). Medians over several rounds; measurements, not assertions.

use std::collections::{BTreeMap, VecDeque};
use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};
use twinkit_analytics::{AnomalyDetector, Trend};
use twinkit_core::physics::Rng;

const ROUNDS: usize = 5;

/// Median seconds of one run of `f`.
fn median_secs(mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[ROUNDS / 2]
}

/// A noisy daily cycle, one reading a minute, with a spike every ~5,000
/// readings.
fn series(n: usize) -> Vec<(u64, f64)> {
    let mut rng = Rng::new(1);
    (0..n)
        .map(|i| {
            let base = 20.0 + 3.0 * (i as f64 * std::f64::consts::TAU / 1_440.0).sin();
            let spike = if i % 4_999 == 4_998 { 15.0 } else { 0.0 };
            (
                1_700_000_000_000 + i as u64 * 60_000,
                base + 0.3 * rng.standard_normal() + spike,
            )
        })
        .collect()
}

/// The non-robust baseline: a rolling mean and standard deviation over the
/// same 64 readings (running sums), flagging |z| > 3.
fn rolling_mean_z(points: &[(u64, f64)]) -> usize {
    let mut window: VecDeque<f64> = VecDeque::with_capacity(64);
    let (mut sum, mut sum_sq, mut flagged) = (0.0f64, 0.0f64, 0usize);
    for &(_, v) in points {
        if window.len() == 64 {
            let mean = sum / 64.0;
            let sd = (sum_sq / 64.0 - mean * mean).max(0.0).sqrt();
            if sd > 0.0 && ((v - mean) / sd).abs() > 3.0 {
                flagged += 1;
            }
            let old = window.pop_front().unwrap_or_default();
            sum -= old;
            sum_sq -= old * old;
        }
        window.push_back(v);
        sum += v;
        sum_sq += v * v;
    }
    flagged
}

struct Results(BTreeMap<String, Value>);

impl Results {
    fn add(&mut self, name: &str, value: f64, unit: &str, baseline: f64, note: &str) {
        let ratio = value / baseline;
        println!("{name:<34} {value:>14.1} {unit:<10} baseline {baseline:>14.1}  ratio {ratio:>7.3}  ({note})");
        self.0.insert(
            name.to_string(),
            json!({"value": value, "unit": unit, "baseline": baseline, "ratio": ratio, "note": note}),
        );
    }
}

fn main() {
    let mut results = Results(BTreeMap::new());
    let points = series(1_000_000);

    // 1. All four detectors with default settings, through the
    //    multi-property detector (name lookup included).
    let detect_secs = median_secs(|| {
        let mut det = AnomalyDetector::new();
        let mut out = Vec::new();
        for &(t, v) in &points {
            det.observe("temperature", t, v, &mut out)
                .expect("valid reading");
        }
        black_box(out.len());
    });
    let naive_secs = median_secs(|| {
        black_box(rolling_mean_z(&points));
    });
    results.add(
        "detectors_points_per_sec",
        points.len() as f64 / detect_secs,
        "points/s",
        points.len() as f64 / naive_secs,
        "spike+stuck+rapid+drift (window 64) vs a rolling mean/sd z-score over the same window",
    );

    // 2. Theil–Sen against least squares over 10,000 points.
    let ten_k = &points[..10_000];
    let ts = median_secs(|| {
        for _ in 0..10 {
            black_box(Trend::theil_sen(ten_k));
        }
    }) / 10.0;
    let ls = median_secs(|| {
        for _ in 0..10 {
            black_box(Trend::least_squares(ten_k));
        }
    }) / 10.0;
    results.add(
        "theil_sen_10k_points",
        ts * 1e6,
        "µs",
        ls * 1e6,
        "baseline: least squares on the same points (Theil–Sen thins to 400 points)",
    );

    twinkit_bench::write_results(env!("CARGO_MANIFEST_DIR"), results.0);
}
