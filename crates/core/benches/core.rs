//! Native benchmarks of the core, each measured side by side with a
//! baseline in the same run, reported as ratios and written to
//! `target/bench/results.json` as `{"name": {"value", "unit", "baseline", "ratio"}}`.
//!
//! Run with `npm run bench` (or `cargo bench -p twinkit-core --bench core`).
//! Timings are medians over several rounds; they are measurements, never
//! assertions.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};
use twinkit_core::prediction::fit_line;
use twinkit_core::{
    ApprovalPolicy, DeviceConfig, DigitalTwin, FleetManager, PredictiveMaintenance, Rule,
    RuleEngine, TwinOptions,
};

const ROUNDS: usize = 7;

/// Median seconds per call of `f`, run `iters` times per round.
fn median_secs(iters: u64, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[ROUNDS / 2]
}

fn config(properties: usize, telemetry: bool) -> DeviceConfig {
    let props: Vec<Value> = (0..properties)
        .map(|i| json!({"name": format!("p{i}"), "type": "number", "min": 0, "max": 100, "telemetry": telemetry}))
        .collect();
    serde_json::from_value(
        json!({"id": "bench", "name": "Bench", "type": "bench", "properties": props}),
    )
    .expect("valid")
}

fn report(i: u64) -> BTreeMap<String, Value> {
    (0..10)
        .map(|p| (format!("p{p}"), json!(50.0 + ((i + p) % 7) as f64)))
        .collect()
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
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let mut results = Results(BTreeMap::new());

    // 1. Applying a reported update with 10 properties: the twin (type
    //    checks, alerts, history, metadata, delta) against the bare cost of
    //    storing the same values in a map.
    let mut twin =
        DigitalTwin::with_options(config(10, true), TwinOptions::default()).expect("valid");
    let mut i = 0u64;
    let twin_secs = median_secs(20_000, || {
        i += 1;
        black_box(twin.apply_reported(report(i), i));
    });
    let mut bare: BTreeMap<String, Value> = BTreeMap::new();
    let mut j = 0u64;
    let bare_secs = median_secs(20_000, || {
        j += 1;
        for (k, v) in report(j) {
            bare.insert(k, v);
        }
        black_box(&bare);
    });
    results.add(
        "reported_update_10_props",
        1.0 / twin_secs,
        "updates/s",
        1.0 / bare_secs,
        "baseline: inserting the same 10 values into a BTreeMap",
    );

    // 2. analyze() over 10,000 points: streaming least squares over the
    //    history column against collecting telemetry records first (what a
    //    record-oriented implementation does).
    let mut series =
        DigitalTwin::with_options(config(1, true), TwinOptions::default()).expect("valid");
    for k in 0..10_000u64 {
        let v = 10.0 + k as f64 * 0.001 + ((k * 7919) % 13) as f64 * 0.01;
        series.apply_reported(
            [("p0".to_string(), json!(v))].into(),
            1_700_000_000_000 + k * 1_000,
        );
    }
    let now = 1_700_000_000_000 + 10_000 * 1_000;
    let mut pm = PredictiveMaintenance::new();
    pm.set_threshold("p0", 40.0, 60.0).expect("valid");
    let analyze_secs = median_secs(200, || {
        black_box(pm.analyze(&series, now));
    });
    let records_secs = median_secs(200, || {
        let records = series.telemetry_history(Some("p0"), None);
        let points: Vec<(u64, f64)> = records
            .iter()
            .filter_map(|r| r.values["p0"].as_f64().map(|v| (r.timestamp, v)))
            .collect();
        black_box(fit_line(points.iter().copied()));
    });
    results.add(
        "analyze_10k_points",
        analyze_secs * 1e6,
        "µs",
        records_secs * 1e6,
        "baseline: telemetry_history records collected, then the same fit",
    );

    // 3. telemetry_history(property, 100) is O(limit): a 100,000-point
    //    history against a 1,000-point one.
    let query = |points: u64| {
        let mut options = TwinOptions::default();
        options.history_capacity = Some(points as usize);
        let mut t = DigitalTwin::with_options(config(2, true), options).expect("valid");
        for k in 0..points {
            t.apply_reported(
                [("p0".to_string(), json!(k)), ("p1".to_string(), json!(k))].into(),
                k,
            );
        }
        let filtered = median_secs(2_000, || {
            black_box(t.telemetry_history(Some("p0"), Some(100)));
        });
        let all = median_secs(2_000, || {
            black_box(t.telemetry_history(None, Some(100)));
        });
        (filtered, all)
    };
    let (big_filtered, big_all) = query(100_000);
    let (small_filtered, small_all) = query(1_000);
    results.add(
        "history_query_limit_100_of_100k",
        big_filtered * 1e6,
        "µs",
        small_filtered * 1e6,
        "baseline: the same query on a 1,000-point history; ratio ≈ 1 means O(limit)",
    );
    results.add(
        "history_all_props_limit_100_of_100k",
        big_all * 1e6,
        "µs",
        small_all * 1e6,
        "baseline: the same query on a 1,000-point history; ratio ≈ 1 means O(limit)",
    );

    // 4. Rule evaluation: readings per second on a fleet of 1,000 twins with
    //    100 rules (90 on readings, 10 `any` with a five-minute linear
    //    forecast), each reading applied to its twin and the rules evaluated
    //    on that twin; against applying the same readings without rules.
    let (with_rules, without_rules, proposals_per_reading) = rules_fleet_bench();
    results.add(
        "rules_100_fleet_1000_readings",
        with_rules,
        "readings/s",
        without_rules,
        &format!(
            "baseline: the same readings applied without rules; {proposals_per_reading:.2} rule firings per reading"
        ),
    );

    twinkit_bench::write_results(env!("CARGO_MANIFEST_DIR"), results.0);
}

fn room(id: usize) -> DeviceConfig {
    serde_json::from_value(json!({
        "id": format!("room-{id}"), "name": "Room", "type": "room",
        "properties": [
            {"name": "humidity", "type": "number", "telemetry": true},
            {"name": "temperature", "type": "number", "telemetry": true},
            {"name": "fan", "type": "boolean", "writable": true}
        ]
    }))
    .expect("valid")
}

fn hundred_rules() -> Vec<Rule> {
    (0..100)
        .map(|i| {
            let (property, threshold) = if i % 2 == 0 {
                ("humidity", 55.0 + (i % 30) as f64)
            } else {
                ("temperature", 20.0 + (i % 15) as f64)
            };
            let reading =
                json!({"reading": {"property": property, "op": "above", "threshold": threshold}});
            let when = if i % 10 == 9 {
                json!({"any": [reading, {"predicted": {"property": property, "op": "above",
                    "threshold": threshold, "within": 300_000}}]})
            } else {
                reading
            };
            let action = if i % 3 == 0 {
                json!({"type": "setDesired", "property": "fan", "value": true})
            } else {
                json!({"type": "raiseAlert", "severity": "warning", "message": "rule fired"})
            };
            Rule::from_value(json!({
                "id": format!("rule-{i}"), "when": when, "actions": [action],
                "hysteresis": 2.0, "cooldown": 60_000
            }))
            .expect("valid rule")
        })
        .collect()
}

/// A reading for twin `k` at step `n`: humidity and temperature swinging slowly
/// across the rules' thresholds, so rules fire, re-arm and fire again.
fn reading(n: u64, k: usize) -> BTreeMap<String, Value> {
    // Each twin is read every 1,000 readings; its values move one step every
    // tenth reading of it.
    let phase = ((n / 10_000 + k as u64) % 40) as f64;
    let swing = if phase < 20.0 { phase } else { 40.0 - phase };
    [
        ("humidity".to_string(), json!(50.0 + 2.0 * swing)),
        ("temperature".to_string(), json!(18.0 + swing)),
    ]
    .into()
}

fn rules_fleet_bench() -> (f64, f64, f64) {
    const TWINS: usize = 1_000;
    const READINGS: u64 = 50_000;
    let fleet_of = || {
        let mut fleet = FleetManager::new();
        for k in 0..TWINS {
            let mut options = TwinOptions::default();
            options.history_capacity = Some(1_000);
            fleet
                .add_device_with_options(room(k), options)
                .expect("valid");
        }
        fleet.connect_all(0);
        fleet
    };
    let ids: Vec<String> = (0..TWINS).map(|k| format!("room-{k}")).collect();
    let mut engine = RuleEngine::new();
    // Device actions apply at once (and are audited); nothing waits.
    engine.set_policy(ApprovalPolicy::None);
    for rule in hundred_rules() {
        engine.add_rule(rule).expect("valid rule");
    }
    let mut fleet = fleet_of();
    let mut n = 0u64;
    let mut fired = 0usize;
    let with_rules = median_secs(READINGS, || {
        n += 1;
        let k = (n as usize) % TWINS;
        let now = n * 100;
        let twin = fleet.device_mut(&ids[k]).expect("twin");
        twin.apply_reported(reading(n, k), now);
        fired += black_box(engine.evaluate(twin, now)).len();
        // Keep outbound queues from growing: a transport would drain them.
        while twin.poll_outbound(now).is_some() {}
    });
    let mut bare = fleet_of();
    let mut m = 0u64;
    let without_rules = median_secs(READINGS, || {
        m += 1;
        let k = (m as usize) % TWINS;
        let now = m * 100;
        let twin = bare.device_mut(&ids[k]).expect("twin");
        black_box(twin.apply_reported(reading(m, k), now));
        while twin.poll_outbound(now).is_some() {}
    });
    (
        1.0 / with_rules,
        1.0 / without_rules,
        fired as f64 / n as f64,
    )
}
