//! Property tests for the twin's state invariants.

mod common;

use proptest::prelude::*;
use serde_json::{json, Value};
use twinkit_core::state::same_value;
use twinkit_core::TwinOptions;

#[derive(Debug, Clone)]
enum Op {
    Report(String, Value, u64),
    Desire(String, Value),
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("temperature"),
        Just("setpoint"),
        Just("mode"),
        Just("humidity"),
        Just("isRunning"),
        Just("firmware"),
        Just("__proto__"),
    ]
    .prop_map(str::to_string)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        (40i64..=110).prop_map(|n| json!(n)),
        (40.0f64..110.0).prop_map(|n| json!(n)),
        Just(json!(null)),
        Just(json!("eco")),
        Just(json!(true)),
        Just(json!({"a": 1})),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), value(), 0u64..50).prop_map(|(k, v, dt)| Op::Report(k, v, dt)),
        (key(), value()).prop_map(|(k, v)| Op::Desire(k, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn state_invariants_hold(ops in prop::collection::vec(op(), 1..80), capacity in 1usize..8) {
        let mut options = TwinOptions::default();
        options.history_capacity = Some(capacity);
        let mut twin = common::twin_with(options);
        let mut now = 1_000u64;
        let mut last_version = 0;
        for op in ops {
            now += 10;
            let before = twin.state().clone();
            let changed = match op {
                Op::Report(k, v, back) => {
                    // Some reports arrive late, measured before `now`.
                    let at = now - back;
                    let out = twin.ingest(
                        twinkit_core::Inbound::Reported { values: [(k, v)].into(), timestamp: Some(at), version: None },
                        now,
                    ).unwrap();
                    !out.applied.is_empty()
                }
                Op::Desire(k, v) => {
                    let present = twin.state().desired().contains_key(&k);
                    match twin.set_desired(&k, v.clone(), now) {
                        Ok(()) => !v.is_null() || present,
                        Err(_) => {
                            prop_assert_eq!(twin.state(), &before, "a refused update changed state");
                            false
                        }
                    }
                }
            };
            let state = twin.state();
            // The version rises with every change and never falls.
            if changed {
                prop_assert!(state.version() > last_version);
            } else {
                prop_assert_eq!(state.version(), last_version);
            }
            last_version = state.version();
            // Delta is exactly desired minus matching reported.
            let expected: Vec<(&String, &Value)> = state
                .desired()
                .iter()
                .filter(|(k, v)| !state.reported().get(*k).is_some_and(|r| same_value(r, v)))
                .collect();
            let actual: Vec<(&String, &Value)> = state.delta().iter().collect();
            prop_assert_eq!(actual, expected);
            // Nothing hostile gets in.
            prop_assert!(!state.reported().contains_key("__proto__"));
            prop_assert!(!state.desired().contains_key("__proto__"));
            // Every value present has metadata.
            for k in state.reported().keys().chain(state.desired().keys()) {
                prop_assert!(state.metadata()[k].version >= 1);
            }
            // History stays bounded and in time order.
            for p in ["temperature", "humidity"] {
                let h = twin.telemetry_history(Some(p), None);
                prop_assert!(h.len() <= capacity);
                prop_assert!(h.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
            }
            prop_assert!(twin.telemetry_history(None, None).len() <= 2 * capacity);
        }
    }
}
