//! Native benchmark of the simulated fleet wired to twins, beside a
//! baseline in the same run; merged into `target/bench/results.json`.
//!
//! Run with `npm run bench` (or `cargo bench -p twinkit-sim --bench sim`).
//! Medians over several rounds; measurements, never assertions.

use std::time::Instant;

use serde_json::json;
use twinkit_core::FleetManager;
use twinkit_sim::{Bridge, SimFleet, SimOptions};

const ROUNDS: usize = 7;
const DEVICES: usize = 100;
const STEP_MS: u64 = 100;
const STEPS: u64 = 200;
const T0: u64 = 1_700_000_000_000;

fn options() -> SimOptions {
    SimOptions {
        telemetry_interval_ms: STEP_MS,
        ..SimOptions::default()
    }
}

/// Median microseconds per step of `step`, over fresh state each round.
fn median_us<S>(mut setup: impl FnMut() -> S, mut step: impl FnMut(&mut S, u64)) -> f64 {
    let mut samples: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let mut state = setup();
            let start = Instant::now();
            for i in 0..STEPS {
                step(&mut state, T0 + i * STEP_MS);
            }
            start.elapsed().as_secs_f64() * 1e6 / STEPS as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[ROUNDS / 2]
}

fn main() {
    // 100 devices, each sending telemetry every step (10 records a second
    // at 100 ms): the load of the dashboard's frame-time figure.
    let with_twins = median_us(
        || {
            let sim = SimFleet::mixed(DEVICES, &options()).expect("valid fleet");
            let mut fleet = FleetManager::new();
            for device in sim.devices() {
                fleet.add_device(device.config().clone()).expect("unique");
            }
            fleet.connect_all(T0);
            (sim, fleet, Bridge::new())
        },
        |(sim, fleet, bridge), now| {
            std::hint::black_box(bridge.exchange(sim, fleet, now));
        },
    );
    let devices_only = median_us(
        || SimFleet::mixed(DEVICES, &options()).expect("valid fleet"),
        |sim, now| {
            sim.tick(now);
            std::hint::black_box(sim.drain_outputs());
        },
    );
    let name = "sim_bridge_step_100_devices";
    let ratio = with_twins / devices_only;
    let note = "µs per step: 100 simulated devices each sending a record into its twin (Bridge::exchange); baseline: the devices alone";
    println!("{name:<34} {with_twins:>10.1} µs  baseline {devices_only:>10.1} µs  ratio {ratio:>7.3}  ({note})");

    let entry = json!({"value": with_twins, "unit": "µs", "baseline": devices_only, "ratio": ratio, "note": note});
    twinkit_bench::write_results(
        env!("CARGO_MANIFEST_DIR"),
        [(name.to_string(), entry)].into(),
    );
}
