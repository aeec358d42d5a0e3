//! The analytics, rules, lifecycle and sync hooks in headless Chromium
//! (wasm-bindgen-test): components are mounted into a test div, telemetry
//! is fed through the in-process ingestion path with explicit times, and
//! the DOM, the signals and the twins are checked.
#![cfg(target_arch = "wasm32")]
// wasm_bindgen_test functions are not `#[test]`s to clippy's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use serde_json::{json, Value};
use twinkit_analytics::{AnomalyKind, PredictionOptions, Scenario};
use twinkit_core::{
    AlertCondition, DeviceConfig, LifecycleState, Millis, ProposalStatus, Rule, SyncDirection,
    TwinError, TwinOptions,
};
use twinkit_leptos::*;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

const MIN: Millis = 60_000;

fn twin(value: Value) -> Twin {
    let twin = Twin::new(
        DeviceConfig::from_value(value).unwrap(),
        TwinOptions::default(),
    )
    .unwrap();
    twin.connect().unwrap();
    twin
}

fn room(id: &str) -> Twin {
    twin(json!({
        "id": id, "name": "Room", "type": "room",
        "properties": [
            { "name": "temperature", "type": "number", "min": -20, "max": 80, "telemetry": true },
            { "name": "heater", "type": "number", "min": 0, "max": 1, "telemetry": true, "writable": true }
        ]
    }))
}

/// Reports `values`, measured at `at`.
fn report_at(twin: &Twin, at: Millis, values: Value) {
    let Value::Object(map) = values else {
        panic!("an object")
    };
    twin.update_at(at, |core, now| {
        core.apply_reported(map.into_iter().collect(), now)
    })
    .unwrap();
}

/// Steady readings that never repeat for long: 20, 20.3, ... 21.8, 20, ...
fn wobble(k: u64, period: u64) -> f64 {
    20.0 + (k % period) as f64 * 0.3
}

fn active_conditions(twin: &Twin) -> Vec<AlertCondition> {
    twin.core().active_alerts().map(|a| a.condition).collect()
}

#[wasm_bindgen_test]
async fn a_spike_is_a_detection_and_an_active_alert_a_steady_series_is_neither() {
    let root = test_div();
    let spiky = room("anomaly-spiky");
    let steady = room("anomaly-steady");
    type Returns = (UseAnomaliesReturn, UseAnomaliesReturn);
    let slot: Rc<RefCell<Option<Returns>>> = Rc::default();
    let keep = Rc::clone(&slot);
    let (s, f) = (spiky.clone(), steady.clone());
    let handle = mount_to(root.clone(), move || {
        let options = UseAnomaliesOptions::default().health_interval(None);
        let spiky = use_anomalies_with_options(&s, options.clone()).unwrap();
        let steady = use_anomalies_with_options(&f, options).unwrap();
        let UseAlertsReturn { active, .. } = use_alerts(&s);
        let (detections, latest, quiet) = (spiky.detections, spiky.latest, steady.detections);
        *keep.borrow_mut() = Some((spiky, steady));
        view! {
            <p id="detections">{move || detections.with(|d| d.iter().map(|d| format!("{}:{}", d.kind.as_str(), d.property)).collect::<Vec<_>>().join(","))}</p>
            <p id="latest">{move || latest.with(|d| d.as_ref().map(|d| d.value.to_string()).unwrap_or_default())}</p>
            <p id="alerts">{move || active.with(|a| a.iter().map(|a| format!("{:?}", a.condition)).collect::<Vec<_>>().join(","))}</p>
            <p id="quiet">{move || quiet.with(Vec::len).to_string()}</p>
        }
    });
    let t0 = twinkit_web::now() - 400 * MIN;
    for i in 0..60 {
        report_at(&spiky, t0 + i * MIN, json!({ "temperature": wobble(i, 5) }));
    }
    settle().await;
    assert_eq!(
        text(&root, "#detections"),
        "",
        "nothing during warm-up and steady readings"
    );
    report_at(&spiky, t0 + 60 * MIN, json!({ "temperature": 45.0 }));
    settle().await;
    assert_eq!(text(&root, "#detections"), "SPIKE:temperature");
    assert_eq!(text(&root, "#latest"), "45");
    assert_eq!(
        text(&root, "#alerts"),
        "Spike",
        "the detection is a twin alert"
    );
    assert_eq!(active_conditions(&spiky), [AlertCondition::Spike]);

    for i in 0..300 {
        report_at(
            &steady,
            t0 + i * MIN,
            json!({ "temperature": wobble(i, 7) }),
        );
    }
    settle().await;
    assert_eq!(text(&root, "#quiet"), "0");
    assert!(active_conditions(&steady).is_empty());

    // A reset forgets the detectors and resolves the alert they held.
    let (spiky_hook, _) = slot.borrow().clone().unwrap();
    (spiky_hook.reset)();
    settle().await;
    assert_eq!(text(&root, "#detections"), "");
    assert_eq!(text(&root, "#alerts"), "");
    assert!(active_conditions(&spiky).is_empty());

    // Invalid thresholds are refused by name and change nothing.
    let bad = twinkit_analytics::DetectorConfig {
        window: 2,
        ..Default::default()
    };
    let error = (spiky_hook.set_config)("temperature", bad).unwrap_err();
    assert!(error.to_string().contains("window"), "{error}");

    // Another spike after the reset, then unmount: the alert the hook held
    // is resolved and every subscription ends.
    for i in 61..130 {
        report_at(&spiky, t0 + i * MIN, json!({ "temperature": wobble(i, 5) }));
    }
    report_at(&spiky, t0 + 130 * MIN, json!({ "temperature": -15.0 }));
    settle().await;
    assert_eq!(active_conditions(&spiky), [AlertCondition::Spike]);
    drop(slot.borrow_mut().take());
    drop(spiky_hook);
    drop(handle);
    assert!(active_conditions(&spiky).is_empty());
    assert_eq!(spiky.listener_count(), 0);
    assert_eq!(steady.listener_count(), 0);
}

#[wasm_bindgen_test]
async fn without_alerts_a_stuck_sensor_is_detected_only() {
    let root = test_div();
    let twin = room("anomaly-stuck");
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let UseAnomaliesReturn { detections, .. } = use_anomalies_with_options(
            &given,
            UseAnomaliesOptions::default()
                .raise_alerts(false)
                .max_detections(1),
        )
        .unwrap();
        view! { <p id="kinds">{move || detections.with(|d| d.iter().map(|d| d.kind.as_str()).collect::<Vec<_>>().join(","))}</p> }
    });
    let t0 = twinkit_web::now() - 400 * MIN;
    for i in 0..40 {
        report_at(&twin, t0 + i * MIN, json!({ "temperature": wobble(i, 5) }));
    }
    for i in 40..70 {
        report_at(&twin, t0 + i * MIN, json!({ "temperature": 22.5 }));
    }
    settle().await;
    assert_eq!(text(&root, "#kinds"), AnomalyKind::Stuck.as_str());
    assert!(active_conditions(&twin).is_empty(), "raise_alerts(false)");
    drop(handle);
    twin.dispose();
}

#[wasm_bindgen_test]
async fn health_ages_from_healthy_to_degraded_to_failed_while_no_telemetry_arrives() {
    let root = test_div();
    // One reading expected every 200 ms: stale after 3 intervals (600 ms),
    // offline after 10 (2 s). A wide span keeps the wobble stable.
    let twin = twin(json!({
        "id": "health-1", "name": "Probe", "type": "probe", "telemetryInterval": 200,
        "properties": [{ "name": "level", "type": "number", "min": -1000, "max": 1000, "telemetry": true }]
    }));
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let UseAnomaliesReturn { health, .. } = use_anomalies_with_options(
            &given,
            UseAnomaliesOptions::default().health_interval(Some(Duration::from_millis(50))),
        )
        .unwrap();
        view! {
            <p id="status">{move || health.with(|h| h.iter().map(|h| format!("{}:{}", h.property, h.status.as_str())).collect::<Vec<_>>().join(","))}</p>
        }
    });
    assert_eq!(text(&root, "#status"), "", "no property seen yet");
    let now = twinkit_web::now();
    for i in 0..20u64 {
        let value = if i % 2 == 0 { 20.0 } else { 20.1 };
        report_at(&twin, now - (19 - i) * 200, json!({ "level": value }));
    }
    settle().await;
    assert_eq!(text(&root, "#status"), "level:HEALTHY");
    sleep(1_100).await;
    assert_eq!(text(&root, "#status"), "level:DEGRADED", "stale");
    sleep(1_500).await;
    assert_eq!(text(&root, "#status"), "level:FAILED", "offline");
    // A new reading makes it fresh again.
    report_at(&twin, twinkit_web::now(), json!({ "level": 20.0 }));
    settle().await;
    assert_eq!(text(&root, "#status"), "level:HEALTHY");
    drop(handle);
    assert_eq!(twin.listener_count(), 0);
    twin.dispose();
}

#[wasm_bindgen_test]
async fn what_if_gives_a_crossing_time_and_queues_nothing_for_the_device() {
    let root = test_div();
    let twin = room("what-if-1");
    // dT/dt = (10 − T)/τ + k·u, τ = 1800 s, k = 0.01 K/s: the heater on
    // settles at 28 °C. One reading a minute, the heater switched every 2 h.
    let (tau, k, ambient) = (1800.0_f64, 0.01, 10.0);
    let minutes = 12 * 60;
    let t0 = twinkit_web::now() - minutes * MIN;
    let mut temperature = 12.0_f64;
    let mut last = temperature;
    for i in 0..=minutes {
        let heater = if (i / 120) % 2 == 0 { 1.0 } else { 0.0 };
        report_at(
            &twin,
            t0 + i * MIN,
            json!({ "temperature": temperature, "heater": heater }),
        );
        last = temperature;
        let target = ambient + k * tau * heater;
        temperature = target + (temperature - target) * (-60.0 / tau).exp();
    }
    let run_slot: Rc<RefCell<Option<RunScenarioFn>>> = Rc::default();
    let keep = Rc::clone(&run_slot);
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let UseWhatIfReturn {
            outcome,
            error,
            run,
            ..
        } = use_what_if(&given);
        *keep.borrow_mut() = Some(run);
        view! {
            <p id="crossing">{move || outcome.with(|o| o.as_ref().and_then(|o| o.crossing.estimate).map(|h| format!("{h:.3}")).unwrap_or_default())}</p>
            <p id="error">{move || error.with(|e| e.as_ref().map(ToString::to_string).unwrap_or_default())}</p>
        }
    });
    let run = run_slot.borrow().clone().unwrap();
    let scenario: Scenario = serde_json::from_value(json!({
        "property": "temperature", "actuator": "heater", "value": 1, "level": 25
    }))
    .unwrap();
    let outcome = run(scenario).unwrap();
    settle().await;
    assert!(
        (outcome.settles_at - 28.0).abs() < 0.5,
        "{}",
        outcome.settles_at
    );
    let expected = tau * ((28.0 - last) / 3.0).ln() / 3600.0;
    let estimate = outcome.crossing.estimate.unwrap();
    assert!(
        (estimate - expected).abs() < 0.1 + 0.1 * expected,
        "crossing {estimate} h vs {expected} h"
    );
    assert_eq!(text(&root, "#crossing"), format!("{estimate:.3}"));
    assert_eq!(text(&root, "#error"), "");

    // Nothing reached the device: no desired value, no command, nothing
    // queued to send.
    {
        let core = twin.core();
        assert!(core.state().desired().is_empty());
        assert_eq!(core.commands().in_flight().count(), 0);
        assert_eq!(core.outbound_len(), 0);
    }
    assert!(
        twin.update(|core, now| core.poll_outbound(now))
            .unwrap()
            .is_none(),
        "no outbound message"
    );

    // An actuator without history: an error, and the outcome is cleared.
    let scenario: Scenario = serde_json::from_value(json!({
        "property": "temperature", "actuator": "fan", "value": 1, "level": 25
    }))
    .unwrap();
    assert!(run(scenario).is_err());
    settle().await;
    assert_eq!(text(&root, "#crossing"), "");
    assert!(
        text(&root, "#error").contains("fan"),
        "{}",
        text(&root, "#error")
    );
    drop(handle);
    twin.dispose();
}

#[wasm_bindgen_test]
async fn detailed_predictions_give_both_trends_and_crossing_bounds() {
    let root = test_div();
    let twin = twin(json!({
        "id": "pm-detailed", "name": "Motor", "type": "motor",
        "properties": [{ "name": "vibration", "type": "number", "telemetry": true }]
    }));
    const H: Millis = 3_600_000;
    let mut rng = twinkit_core::Rng::new(1);
    let t0 = twinkit_web::now() - 47 * H;
    for i in 0..48u64 {
        let value = 2.0 + 0.1 * i as f64 + 0.2 * rng.standard_normal();
        report_at(&twin, t0 + i * H, json!({ "vibration": value }));
    }
    let slot: Rc<RefCell<Option<UsePredictiveMaintenanceReturn>>> = Rc::default();
    let keep = Rc::clone(&slot);
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let pm = use_predictive_maintenance_with_options(
            &given,
            UsePredictiveMaintenanceOptions::default()
                .threshold("vibration", 10.0, 15.0)
                .detailed(PredictionOptions::default()),
        );
        let detailed = pm.detailed;
        *keep.borrow_mut() = Some(pm);
        view! {
            <p id="methods">{move || detailed.with(|d| d.iter().map(|d| format!("{}:{}", d.prediction.property, d.theil_sen.is_some())).collect::<Vec<_>>().join(","))}</p>
        }
    });
    let pm = slot.borrow().clone().unwrap();
    let plain = (pm.analyze)();
    settle().await;
    assert_eq!(plain.len(), 1);
    assert_eq!(text(&root, "#methods"), "vibration:true");
    let detailed = pm.detailed.get_untracked();
    let d = &detailed[0];
    assert_eq!(d.prediction, plain[0], "the core's prediction is kept");
    assert_eq!(pm.predictions.get_untracked(), plain);
    let warning = d.least_squares.time_to_warning;
    let (lower, estimate, upper) = (
        warning.lower.unwrap(),
        warning.estimate.unwrap(),
        warning.upper.unwrap(),
    );
    assert!(lower < estimate && estimate < upper, "{warning:?}");
    let theil_sen = d.theil_sen.as_ref().unwrap();
    assert!(
        (theil_sen.slope_per_hour - 0.1).abs() < 0.03,
        "{theil_sen:?}"
    );
    let interval = d.least_squares.predicted_value;
    assert!(interval.lower < interval.estimate && interval.estimate < interval.upper);

    // A bad confidence level is refused and changes nothing.
    let bad = PredictionOptions {
        confidence_level: 1.5,
        ..Default::default()
    };
    assert!((pm.analyze_detailed)(bad).is_err());
    assert_eq!(pm.detailed.get_untracked(), detailed);
    drop(pm);
    drop(slot.borrow_mut().take());
    drop(handle);
    twin.dispose();
}

fn vent_rule(id: &str) -> Rule {
    Rule::from_value(json!({
        "id": id,
        "when": { "reading": { "property": "humidity", "op": "above", "threshold": 70 } },
        "actions": [{ "type": "setDesired", "property": "fan", "value": true }],
        "hysteresis": 5
    }))
    .unwrap()
}

fn bathroom(id: &str) -> DeviceConfig {
    DeviceConfig::from_value(json!({
        "id": id, "name": format!("Bathroom {id}"), "type": "bathroom",
        "properties": [
            { "name": "humidity", "type": "number", "min": 0, "max": 100, "telemetry": true },
            { "name": "fan", "type": "boolean", "writable": true }
        ]
    }))
    .unwrap()
}

#[wasm_bindgen_test]
async fn rules_propose_on_a_reading_and_wait_for_approval_or_rejection() {
    let root = test_div();
    let twin = Twin::new(bathroom("rules-1"), TwinOptions::default()).unwrap();
    twin.connect().unwrap();
    let slot: Rc<RefCell<Option<UseRulesReturn>>> = Rc::default();
    let keep = Rc::clone(&slot);
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let rules =
            use_rules_with_options(&given, UseRulesOptions::default().rule(vent_rule("vent")))
                .unwrap();
        let (proposals, pending) = (rules.proposals, rules.pending_approval);
        *keep.borrow_mut() = Some(rules);
        view! {
            <p id="pending">{move || pending.with(Vec::len).to_string()}</p>
            <p id="proposals">{move || proposals.with(|p| p.iter().map(|p| p.status.as_str()).collect::<Vec<_>>().join(","))}</p>
        }
    });
    let rules = slot.borrow().clone().unwrap();
    let now = twinkit_web::now();
    report_at(&twin, now, json!({ "humidity": 60 }));
    settle().await;
    assert_eq!(text(&root, "#proposals"), "", "below the threshold");

    report_at(&twin, now + 1, json!({ "humidity": 75 }));
    settle().await;
    assert_eq!(text(&root, "#pending"), "1");
    assert_eq!(text(&root, "#proposals"), "pendingApproval");
    assert!(
        twin.core().state().desired().is_empty(),
        "nothing reaches the device before approval"
    );
    assert_eq!(twin.core().outbound_len(), 0);

    let id = rules.pending_approval.get_untracked()[0].id;
    let approved = (rules.approve)(id, "operator").unwrap();
    assert_eq!(approved.status, ProposalStatus::Sent);
    assert_eq!(approved.decided_by.as_deref(), Some("operator"));
    settle().await;
    assert_eq!(text(&root, "#pending"), "0");
    assert_eq!(text(&root, "#proposals"), "sent");
    assert_eq!(twin.core().state().desired().get("fan"), Some(&json!(true)));
    assert_eq!(twin.core().outbound_len(), 1);
    // Approving twice is an error.
    assert!((rules.approve)(id, "operator").is_err());

    // The rule re-arms below 65 (hysteresis 5) and fires again above 70:
    // this time it is rejected and nothing more is queued.
    report_at(&twin, now + 2, json!({ "humidity": 64 }));
    report_at(&twin, now + 3, json!({ "humidity": 80 }));
    settle().await;
    assert_eq!(text(&root, "#pending"), "1");
    let id = rules.pending_approval.get_untracked()[0].id;
    let rejected = (rules.reject)(id, "operator", "window open").unwrap();
    assert_eq!(rejected.status, ProposalStatus::Rejected);
    settle().await;
    assert_eq!(text(&root, "#proposals"), "sent,rejected");
    assert_eq!(twin.core().outbound_len(), 1);

    // Rules are added and removed by id; bad ones are refused.
    assert!(matches!(
        (rules.add_rule)(vent_rule("vent")),
        Err(TwinError::InvalidRule { .. })
    ));
    (rules.add_rule)(vent_rule("vent-2")).unwrap();
    assert_eq!(rules.rules.get_untracked().len(), 2);
    (rules.remove_rule)("vent").unwrap();
    assert_eq!(
        rules
            .rules
            .get_untracked()
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["vent-2"]
    );
    drop(rules);
    drop(slot.borrow_mut().take());
    drop(handle);
    assert_eq!(twin.listener_count(), 0);
    twin.dispose();
}

#[wasm_bindgen_test]
async fn lifecycle_transitions_update_counts_suspend_commands_and_pause_rules() {
    let root = test_div();
    let slot: Rc<RefCell<Option<(UseFleetReturn, UseRulesReturn)>>> = Rc::default();
    let keep = Rc::clone(&slot);
    let handle = mount_to(root.clone(), move || {
        let fleet = use_fleet();
        (fleet.add_device)(bathroom("life-a")).unwrap();
        (fleet.add_device)(bathroom("life-b")).unwrap();
        let rules = use_rules_with_options(
            &fleet.fleet,
            UseRulesOptions::default().rule(vent_rule("vent")),
        )
        .unwrap();
        let (status, devices, pending) = (fleet.status, fleet.devices, rules.pending_approval);
        *keep.borrow_mut() = Some((fleet, rules));
        view! {
            <p id="counts">{move || status.with(|s| format!("active {} suspended {}", s.lifecycle.active, s.lifecycle.suspended))}</p>
            <p id="states">{move || devices.with(|d| d.iter().map(|d| format!("{}:{}", d.id, d.lifecycle)).collect::<Vec<_>>().join(","))}</p>
            <p id="pending">{move || pending.with(|p| p.iter().map(|p| p.device_id.clone()).collect::<Vec<_>>().join(","))}</p>
        }
    });
    let (fleet, _rules) = slot.borrow().clone().unwrap();
    settle().await;
    assert_eq!(text(&root, "#counts"), "active 2 suspended 0");

    let a = fleet.fleet.get("life-a").unwrap();
    let b = fleet.fleet.get("life-b").unwrap();
    let in_flight = a
        .update(|core, now| core.send_command("purge", json!({}), now))
        .unwrap()
        .unwrap();
    let logged = (fleet.set_lifecycle)("life-a", LifecycleState::Suspended, Some("leak")).unwrap();
    assert_eq!(logged.device_id, "life-a");
    settle().await;
    assert_eq!(text(&root, "#counts"), "active 1 suspended 1");
    assert_eq!(text(&root, "#states"), "life-a:suspended,life-b:active");
    assert_eq!(
        a.core()
            .command(&in_flight.command_id)
            .unwrap()
            .status
            .as_str(),
        "failed",
        "commands in flight fail on suspension"
    );
    let refused = a
        .update(|core, now| core.send_command("purge", json!({}), now))
        .unwrap();
    assert!(
        matches!(refused, Err(TwinError::Lifecycle { .. })),
        "{refused:?}"
    );
    // A transition not allowed changes nothing.
    assert!((fleet.set_lifecycle)("life-a", LifecycleState::Provisioned, None).is_err());
    assert!((fleet.set_lifecycle)("nobody", LifecycleState::Active, None).is_err());
    settle().await;
    assert_eq!(text(&root, "#counts"), "active 1 suspended 1");

    // Rules pause on the suspended device only.
    let now = twinkit_web::now();
    report_at(&a, now, json!({ "humidity": 90 }));
    report_at(&b, now, json!({ "humidity": 90 }));
    settle().await;
    assert_eq!(text(&root, "#pending"), "life-b");

    (fleet.set_lifecycle)("life-a", LifecycleState::Active, None).unwrap();
    settle().await;
    assert_eq!(text(&root, "#counts"), "active 2 suspended 0");
    drop(slot.borrow_mut().take());
    drop(fleet);
    drop(_rules);
    drop(handle);
    assert!(
        a.is_disposed() && b.is_disposed(),
        "the hook's fleet is disposed"
    );
}

#[wasm_bindgen_test]
async fn sync_shows_divergences_and_history_until_the_device_reports() {
    let root = test_div();
    let twin = twin(json!({
        "id": "sync-1", "name": "Thermostat", "type": "thermostat",
        "properties": [{ "name": "setpoint", "type": "number", "min": 10, "max": 30, "writable": true }]
    }));
    let slot: Rc<RefCell<Option<UseSyncReturn>>> = Rc::default();
    let keep = Rc::clone(&slot);
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let sync = use_sync_with_options(&given, UseSyncOptions::default().interval(None));
        let (divergences, history) = (sync.divergences, sync.sync_history);
        *keep.borrow_mut() = Some(sync);
        view! {
            <p id="diverging">{move || divergences.with(|d| d.iter().map(|d| format!("{}={}", d.property, d.desired)).collect::<Vec<_>>().join(","))}</p>
            <p id="history">{move || history.with(|h| h.iter().map(|r| format!("{:?}:{}", r.direction, r.in_sync)).collect::<Vec<_>>().join(","))}</p>
        }
    });
    let sync = slot.borrow().clone().unwrap();
    assert_eq!(text(&root, "#diverging"), "");
    twin.update(|core, now| core.set_desired("setpoint", json!(22), now))
        .unwrap()
        .unwrap();
    settle().await;
    assert_eq!(text(&root, "#diverging"), "setpoint=22");
    // The transport takes the desired value (no event): `refresh` reads it.
    assert!(twin
        .update(|core, now| core.poll_outbound(now))
        .unwrap()
        .is_some());
    (sync.refresh)();
    settle().await;
    assert_eq!(text(&root, "#history"), "Sent:false");
    report_at(&twin, twinkit_web::now(), json!({ "setpoint": 22 }));
    settle().await;
    assert_eq!(text(&root, "#diverging"), "");
    assert_eq!(text(&root, "#history"), "Sent:false,Received:true");
    assert_eq!(
        sync.sync_history.get_untracked()[0].direction,
        SyncDirection::Sent
    );
    drop(sync);
    drop(slot.borrow_mut().take());
    drop(handle);
    assert_eq!(twin.listener_count(), 0);
    twin.dispose();
}
