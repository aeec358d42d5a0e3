//! The hooks in headless Chromium (wasm-bindgen-test): components are
//! mounted into a test div, telemetry is fed through the in-process
//! ingestion path, and the DOM is checked; unmounting ends every
//! subscription and disposes the twins the hooks created.
#![cfg(target_arch = "wasm32")]
// wasm_bindgen_test functions are not `#[test]`s to clippy's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use leptos::prelude::*;
use serde_json::json;
use twinkit_core::{DeviceConfig, TwinOptions};
use twinkit_leptos::*;
use wasm_bindgen_test::*;

mod common;
use common::*;

wasm_bindgen_test_configure!(run_in_browser);

fn config(id: &str) -> DeviceConfig {
    DeviceConfig::from_value(json!({
        "id": id, "name": format!("Thermostat {id}"), "type": "thermostat",
        "properties": [
            { "name": "temperature", "type": "number", "min": 0, "max": 50, "telemetry": true },
            { "name": "setpoint", "type": "number", "min": 10, "max": 30, "writable": true }
        ]
    }))
    .unwrap()
}

fn report(twin: &Twin, temperature: f64) {
    twin.update(|core, now| {
        core.apply_reported([("temperature".into(), json!(temperature))].into(), now)
    })
    .unwrap();
}

#[wasm_bindgen_test]
async fn digital_twin_state_follows_reports_and_the_twin_is_disposed_on_unmount() {
    let root = test_div();
    let created: Rc<RefCell<Option<Twin>>> = Rc::default();
    let slot = Rc::clone(&created);
    let handle = mount_to(root.clone(), move || {
        let UseDigitalTwinReturn {
            twin,
            state,
            is_connected,
            set_desired,
            send_command,
            commands,
            ..
        } = use_digital_twin(config("hook-1")).unwrap();
        *slot.borrow_mut() = Some(twin);
        let _ = set_desired("setpoint", json!(22));
        let _ = send_command("reboot", json!({}));
        view! {
            <p id="temp">{move || state.with(|s| s.reported().get("temperature").map(|v| v.to_string()).unwrap_or_default())}</p>
            <p id="pending">{move || state.with(|s| s.delta().keys().cloned().collect::<Vec<_>>().join(","))}</p>
            <p id="connected">{move || is_connected.get().to_string()}</p>
            <p id="commands">{move || commands.with(|c| c.iter().map(|c| format!("{}:{}", c.name, c.status.as_str())).collect::<Vec<_>>().join(","))}</p>
        }
    });
    let twin = created.borrow().clone().unwrap();
    settle().await;
    assert_eq!(text(&root, "#connected"), "true");
    assert_eq!(text(&root, "#pending"), "setpoint");
    assert_eq!(text(&root, "#commands"), "reboot:pending");

    report(&twin, 21.5);
    settle().await;
    assert_eq!(text(&root, "#temp"), "21.5");

    // The device takes the desired value and the command, then reports.
    let outbound: Vec<_> =
        std::iter::from_fn(|| twin.update(|core, now| core.poll_outbound(now)).unwrap()).collect();
    assert_eq!(outbound.len(), 2);
    twin.update(|core, now| core.apply_reported([("setpoint".into(), json!(22))].into(), now))
        .unwrap();
    settle().await;
    assert_eq!(text(&root, "#pending"), "");
    assert_eq!(text(&root, "#commands"), "reboot:sent");

    assert!(twin.listener_count() > 0);
    drop(handle);
    assert!(
        twin.is_disposed(),
        "a twin the hook created is disposed on unmount"
    );
    assert_eq!(twin.listener_count(), 0);
    assert!(!twin.core().is_connected());
    assert!(root.inner_html().is_empty());
}

#[wasm_bindgen_test]
async fn a_given_twin_is_only_listened_to_and_handlers_stop_after_unmount() {
    let root = test_div();
    let twin = Twin::new(config("hook-2"), TwinOptions::default()).unwrap();
    twin.connect().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&runs);
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let UseTelemetryReturn { latest_value, data } = use_telemetry(&given, "temperature", 3);
        let UseDigitalTwinReturn { is_connected, .. } = use_digital_twin(&given).unwrap();
        Effect::new(move |_| {
            latest_value.track();
            counter.fetch_add(1, Ordering::SeqCst);
        });
        view! {
            <p id="latest">{move || latest_value.get().map(|v| v.to_string()).unwrap_or_default()}</p>
            <p id="points">{move || data.with(|d| d.iter().map(|p| p.value.to_string()).collect::<Vec<_>>().join(","))}</p>
            <p id="connected">{move || is_connected.get().to_string()}</p>
        }
    });
    settle().await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the effect ran once on mount"
    );

    for value in [20.0, 21.0, 22.0, 23.0] {
        report(&twin, value);
        settle().await;
    }
    assert_eq!(text(&root, "#latest"), "23");
    assert_eq!(text(&root, "#points"), "21,22,23", "bounded by the limit");
    let after_changes = runs.load(Ordering::SeqCst);
    assert_eq!(after_changes, 5);

    // The same value again: the series grows, the latest value does not
    // change, so nothing that reads only it runs again.
    for _ in 0..5 {
        report(&twin, 23.0);
        settle().await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), after_changes);
    twin.connect().unwrap(); // already connected: no change
    settle().await;
    assert_eq!(text(&root, "#connected"), "true");

    drop(handle);
    assert_eq!(twin.listener_count(), 0, "every subscription ended");
    assert!(!twin.is_disposed(), "a twin passed in is left alive");
    report(&twin, 40.0);
    settle().await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        after_changes,
        "no handler ran after unmount"
    );
    twin.dispose();
}

#[wasm_bindgen_test]
async fn fleet_devices_totals_and_alerts_with_acknowledge() {
    let root = test_div();
    let fleet_slot: Rc<RefCell<Option<Fleet>>> = Rc::default();
    let slot = Rc::clone(&fleet_slot);
    let acknowledge_slot: Rc<RefCell<Option<AlertActionFn>>> = Rc::default();
    let ack = Rc::clone(&acknowledge_slot);
    let handle = mount_to(root.clone(), move || {
        let UseFleetReturn {
            fleet,
            devices,
            status,
            events,
            add_device,
            remove_device,
            ..
        } = use_fleet();
        for id in ["f-1", "f-2", "f-3"] {
            add_device(config(id)).unwrap();
        }
        assert!(matches!(
            add_device(config("f-1")),
            Err(WebError::DuplicateDevice { .. })
        ));
        assert!(remove_device("f-3"));
        let UseAlertsReturn {
            active,
            acknowledge,
            ..
        } = use_alerts(&fleet);
        *ack.borrow_mut() = Some(acknowledge);
        *slot.borrow_mut() = Some(fleet);
        view! {
            <p id="devices">{move || devices.with(|d| d.iter().map(|d| format!("{}={}", d.id, d.active_alerts)).collect::<Vec<_>>().join(","))}</p>
            <p id="totals">{move || { let s = status.get(); format!("{}/{}/{}", s.total, s.connected, s.alerts) }}</p>
            <p id="alerts">{move || active.with(|a| a.iter().map(|a| format!("{}:{}:{}", a.device_id, a.property, a.acknowledged)).collect::<Vec<_>>().join(","))}</p>
            <p id="events">{move || events.with(|e| e.iter().filter(|e| e.event_type() == twinkit_core::EventType::Alert).count().to_string())}</p>
        }
    });
    let fleet = fleet_slot.borrow().clone().unwrap();
    settle().await;
    assert_eq!(text(&root, "#devices"), "f-1=0,f-2=0");
    assert_eq!(text(&root, "#totals"), "2/2/0");

    report(&fleet.get("f-2").unwrap(), 60.0);
    settle().await;
    assert_eq!(text(&root, "#devices"), "f-1=0,f-2=1");
    assert_eq!(text(&root, "#totals"), "2/2/1");
    assert_eq!(text(&root, "#alerts"), "f-2:temperature:false");
    assert_eq!(text(&root, "#events"), "1");

    let alert_id = fleet
        .get("f-2")
        .unwrap()
        .core()
        .active_alerts()
        .next()
        .unwrap()
        .id
        .clone();
    let acknowledge = acknowledge_slot.borrow_mut().take().unwrap();
    assert!(acknowledge("no-such-alert").is_err());
    acknowledge(&alert_id).unwrap();
    settle().await;
    assert_eq!(text(&root, "#alerts"), "f-2:temperature:true");

    let twins = fleet.twins();
    drop(handle);
    assert!(
        twins.iter().all(Twin::is_disposed),
        "the fleet the hook created is disposed"
    );
    assert!(fleet.is_empty());
}

#[wasm_bindgen_test]
async fn predictive_maintenance_predicts_a_rising_trend() {
    let root = test_div();
    let twin = Twin::new(config("pm-1"), TwinOptions::default()).unwrap();
    twin.connect().unwrap();
    // One point a minute, rising 0.5 a minute, ending now.
    let start = twinkit_web::now() - 20 * 60_000;
    for i in 0..20u64 {
        twin.update_at(start + i * 60_000, |core, now| {
            core.apply_reported(
                [("temperature".into(), json!(20.0 + 0.5 * i as f64))].into(),
                now,
            )
        })
        .unwrap();
    }
    let analyze_slot: Rc<RefCell<Option<AnalyzeFn>>> = Rc::default();
    let slot = Rc::clone(&analyze_slot);
    let given = twin.clone();
    let handle = mount_to(root.clone(), move || {
        let UsePredictiveMaintenanceReturn {
            predictions,
            analyze,
            set_threshold,
            thresholds,
            ..
        } = use_predictive_maintenance_with_options(
            &given,
            UsePredictiveMaintenanceOptions::default().threshold("temperature", 40.0, 45.0),
        );
        assert!(
            set_threshold("temperature", 1.0, 1.0).is_err(),
            "equal levels are refused"
        );
        *slot.borrow_mut() = Some(analyze);
        view! {
            <p id="thresholds">{move || thresholds.with(Vec::len).to_string()}</p>
            <p id="prediction">{move || predictions.with(|p| p.first().map(|p| format!("{:.0}|{}", p.time_to_warning.unwrap_or(-1.0), p.recommendation)).unwrap_or_default())}</p>
        }
    });
    settle().await;
    assert_eq!(text(&root, "#prediction"), "");
    assert_eq!(text(&root, "#thresholds"), "1");
    assert_eq!((analyze_slot.borrow().as_ref().unwrap())().len(), 1);
    settle().await;
    // 29.5 now, +30 an hour: 40 is about 0.35 h away, 45 about 0.52 h.
    assert_eq!(
        text(&root, "#prediction"),
        "0|Immediate maintenance required"
    );
    drop(handle);
    assert_eq!(twin.listener_count(), 0);
    twin.dispose();
}
