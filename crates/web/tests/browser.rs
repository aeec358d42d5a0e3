//! The runtime in headless Chromium (wasm-bindgen-test): event delivery
//! after the borrow, re-entrant listeners, subscriptions that end on drop,
//! page timers for command timeouts, fleets, dispose.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;
use twinkit_core::{CommandStatus, DeviceConfig, EventType, TwinOptions};
use twinkit_web::{Fleet, HandlerFailed, Twin, WebError};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn config(id: &str) -> DeviceConfig {
    DeviceConfig::from_value(json!({
        "id": id, "name": "Thermostat", "type": "thermostat",
        "properties": [
            { "name": "temperature", "type": "number", "min": 0, "max": 50, "telemetry": true },
            { "name": "setpoint", "type": "number", "min": 10, "max": 30, "writable": true }
        ]
    }))
    .unwrap()
}

fn twin(id: &str) -> Twin {
    Twin::new(config(id), TwinOptions::default()).unwrap()
}

fn reported(twin: &Twin, temperature: f64) {
    twin.update(|core, now| {
        core.apply_reported([("temperature".into(), json!(temperature))].into(), now)
    })
    .unwrap();
}

/// Resolves after `ms` of page time.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let window = web_sys_free_set_timeout();
        let _ = window.call2(&wasm_bindgen::JsValue::NULL, &resolve, &ms.into());
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn web_sys_free_set_timeout() -> js_sys::Function {
    use wasm_bindgen::JsCast;
    js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
        .unwrap()
        .unchecked_into()
}

#[wasm_bindgen_test]
fn listeners_run_after_the_change_and_may_change_the_twin() {
    let twin = twin("t-1");
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (inner, log) = (twin.clone(), Rc::clone(&seen));
    let _sub = twin.subscribe(Some(EventType::Telemetry), move |event| {
        // Re-entrant: reading and writing the twin from a listener.
        let temperature = inner.core().property("temperature").cloned();
        log.borrow_mut()
            .push((event.device_id.clone(), temperature));
        inner
            .update(|core, now| core.set_desired("setpoint", json!(21), now))
            .unwrap()
            .unwrap();
        Ok(())
    });
    reported(&twin, 22.5);
    assert_eq!(*seen.borrow(), vec![("t-1".to_string(), Some(json!(22.5)))]);
    assert_eq!(twin.core().state().delta()["setpoint"], json!(21));
}

#[wasm_bindgen_test]
fn dropping_a_subscription_ends_it() {
    let twin = twin("t-2");
    let count = Rc::new(RefCell::new(0));
    let c = Rc::clone(&count);
    let sub = twin.subscribe(None, move |_| {
        *c.borrow_mut() += 1;
        Ok(())
    });
    reported(&twin, 20.0);
    let after_one = *count.borrow();
    assert!(after_one > 0);
    drop(sub);
    assert_eq!(twin.listener_count(), 0);
    reported(&twin, 21.0);
    assert_eq!(*count.borrow(), after_one);
}

#[wasm_bindgen_test]
fn a_failing_listener_raises_handler_failed_and_the_others_run() {
    let twin = twin("t-3");
    let errors = Rc::new(RefCell::new(Vec::new()));
    let ran = Rc::new(RefCell::new(0));
    let _bad = twin.subscribe(Some(EventType::Telemetry), |_| {
        Err(HandlerFailed { count: 1 })
    });
    let r = Rc::clone(&ran);
    let _good = twin.subscribe(Some(EventType::Telemetry), move |_| {
        *r.borrow_mut() += 1;
        Ok(())
    });
    let e = Rc::clone(&errors);
    let _errors = twin.subscribe(Some(EventType::Error), move |event| {
        e.borrow_mut().push(format!("{:?}", event.data));
        Ok(())
    });
    reported(&twin, 20.0);
    assert_eq!(*ran.borrow(), 1);
    assert_eq!(errors.borrow().len(), 1);
    assert!(errors.borrow()[0].contains("HANDLER_FAILED"));
}

#[wasm_bindgen_test]
async fn a_command_nobody_answers_times_out_on_a_page_timer() {
    let options = TwinOptions::from_value(json!({ "commandTimeout": 50 })).unwrap();
    let twin = Twin::new(config("t-4"), options).unwrap();
    twin.connect().unwrap();
    let command = twin
        .update(|core, now| core.send_command("reboot", json!({}), now))
        .unwrap()
        .unwrap();
    sleep(200).await;
    let status = twin.core().command(&command.command_id).map(|c| c.status);
    assert_eq!(status, Some(CommandStatus::Failed));
}

#[wasm_bindgen_test]
fn dispose_ends_subscriptions_and_refuses_changes() {
    let twin = twin("t-5");
    let events = Rc::new(RefCell::new(Vec::new()));
    let e = Rc::clone(&events);
    twin.subscribe(None, move |event| {
        e.borrow_mut().push(event.event_type());
        Ok(())
    })
    .forget();
    twin.connect().unwrap();
    twin.dispose();
    assert_eq!(events.borrow().last(), Some(&EventType::Disconnected));
    assert_eq!(twin.listener_count(), 0);
    let err = twin.update(|core, now| core.disconnect(now)).unwrap_err();
    assert!(matches!(err, WebError::Disposed { .. }), "{err}");
    assert_eq!(err.code(), "DISPOSED");
}

#[wasm_bindgen_test]
fn a_fleet_merges_events_refuses_duplicates_and_disposes_removed_twins() {
    let fleet = Fleet::new();
    let ids = Rc::new(RefCell::new(Vec::new()));
    let i = Rc::clone(&ids);
    let _sub = fleet.subscribe(move |event| {
        if event.event_type() == EventType::Telemetry {
            i.borrow_mut().push(event.device_id.clone());
        }
        Ok(())
    });
    let (a, b) = (twin("a"), twin("b"));
    fleet.add(a.clone()).unwrap();
    fleet.add(b.clone()).unwrap();
    let dup = fleet.add(twin("a")).unwrap_err();
    assert_eq!(dup.code(), "DUPLICATE_DEVICE");
    reported(&a, 20.0);
    reported(&b, 21.0);
    assert_eq!(*ids.borrow(), vec!["a".to_string(), "b".to_string()]);
    fleet.connect_all().unwrap();
    assert_eq!(fleet.status().connected, 2);
    assert!(fleet.remove("a"));
    assert!(a.is_disposed());
    assert!(!fleet.remove("a"));
    assert_eq!(fleet.status().total, 1);
}

#[wasm_bindgen_test]
fn when_connected_answers_without_any_connected_listener() {
    let twin = twin("t-7");
    let answered = Rc::new(RefCell::new(None));
    let a = Rc::clone(&answered);
    twin.when_connected(move |r| *a.borrow_mut() = Some(r.is_ok()));
    assert_eq!(*answered.borrow(), None);
    twin.connect().unwrap();
    assert_eq!(*answered.borrow(), Some(true));
}

#[wasm_bindgen_test]
fn update_observers_run_after_every_change_even_without_an_event() {
    let twin = twin("t-obs");
    let calls = Rc::new(RefCell::new(Vec::new()));
    let (inner, log) = (twin.clone(), Rc::clone(&calls));
    twin.on_update(move || log.borrow_mut().push(inner.core().sync_records_total()));
    twin.update(|core, now| core.connect(now)).unwrap();
    twin.update(|core, now| core.set_desired("setpoint", json!(20), now))
        .unwrap()
        .unwrap();
    // Handing the desired value to the transport raises no event.
    twin.update(|core, now| core.poll_outbound(now)).unwrap();
    assert_eq!(*calls.borrow(), [0, 0, 1]);
    twin.dispose();
    let after = calls.borrow().len();
    let _ = twin.update(|_, _| ());
    assert_eq!(calls.borrow().len(), after, "no observer after dispose");
}

#[wasm_bindgen_test]
fn lifecycle_observers_see_members_and_restored_states() {
    use twinkit_core::lifecycle::{LifecycleChange, LifecycleState};
    let fleet = Fleet::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (inner, log) = (fleet.clone(), Rc::clone(&seen));
    fleet.on_lifecycle(move |event| {
        // The twin is a member by the time its `added` event is seen.
        log.borrow_mut()
            .push((event.change.clone(), inner.get(&event.device_id).is_some()));
    });
    fleet.add(twin("f-1")).unwrap();
    let restored = fleet
        .restore_lifecycle("f-1", LifecycleState::Suspended)
        .unwrap();
    assert!(restored.is_some());
    // Already there: nothing logged.
    assert_eq!(
        fleet
            .restore_lifecycle("f-1", LifecycleState::Suspended)
            .unwrap(),
        None
    );
    assert_eq!(
        fleet.get("f-1").unwrap().core().lifecycle(),
        LifecycleState::Suspended
    );
    fleet.remove("f-1");
    assert_eq!(
        *seen.borrow(),
        [
            (
                LifecycleChange::Added {
                    state: LifecycleState::Active
                },
                true
            ),
            (
                LifecycleChange::Restored {
                    state: LifecycleState::Suspended
                },
                true
            ),
            (LifecycleChange::Removed, false),
        ]
    );
}
