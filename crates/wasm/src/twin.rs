//! `DigitalTwin` for JavaScript.
//!
//! The core twin lives in a `RefCell`; its events are queued by core
//! forwarders and delivered to JavaScript handlers only after the borrow
//! ends, so a handler may call back into the twin (read state, set desired
//! values) without re-entering it.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise, Reflect};
use serde_json::{json, Value};
use twinkit_core::events::{ErrorInfo, EventData, Subscription};
use twinkit_core::{CommandResponse, DeviceConfig, DeviceEvent, EventType, Inbound, TwinOptions};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{
    config_error, count, entries_from_js, from_js, js_error, millis, now, object_from_js, to_js,
    twin_error, Entries,
};
use crate::fleet::FleetCell;

/// Who receives a twin's events.
#[derive(Clone)]
enum Listener {
    Js(Function),
    Fleet(Weak<FleetCell>),
}

struct Handler {
    id: u32,
    filter: Option<EventType>,
    listener: Listener,
}

/// The shared state behind every JavaScript handle of one twin.
pub(crate) struct TwinCell {
    pub(crate) core: RefCell<twinkit_core::DigitalTwin>,
    queue: Rc<RefCell<VecDeque<DeviceEvent>>>,
    handlers: RefCell<Vec<Handler>>,
    forwarders: RefCell<HashMap<EventType, Subscription>>,
    next_id: Cell<u32>,
    delivering: Cell<bool>,
    disposed: Cell<bool>,
    /// One closure per twin for every unsubscribe function it hands out, so
    /// subscriptions allocate nothing in Rust that JavaScript must free.
    off: OnceCell<Closure<dyn Fn(u32)>>,
    /// One closure per twin for its command-timeout timer, re-armed as
    /// deadlines change and cancelled on dispose.
    timer: OnceCell<Closure<dyn FnMut()>>,
    timer_at: Cell<Option<u64>>,
    timer_id: Cell<Option<JsValue>>,
}

impl TwinCell {
    pub(crate) fn create(
        config: JsValue,
        options: Option<js_sys::Object>,
    ) -> Result<Rc<Self>, JsValue> {
        let config =
            DeviceConfig::from_value(from_js(&config, "config")?).map_err(|e| config_error(&e))?;
        // TimeSeriesStore: the `store` option is not a core option.
        let (options, store) = crate::store::take_store_option(options)?;
        let options = match options {
            None => TwinOptions::default(),
            Some(options) => TwinOptions::from_value(from_js(&options, "options")?)
                .map_err(|e| config_error(&e))?,
        };
        let core = twinkit_core::DigitalTwin::with_options(config, options)
            .map_err(|e| config_error(&e))?;
        let cell = Rc::new(Self {
            core: RefCell::new(core),
            queue: Rc::default(),
            handlers: RefCell::default(),
            forwarders: RefCell::default(),
            next_id: Cell::new(1),
            delivering: Cell::new(false),
            disposed: Cell::new(false),
            off: OnceCell::new(),
            timer: OnceCell::new(),
            timer_at: Cell::new(None),
            timer_id: Cell::new(None),
        });
        // TimeSeriesStore: persist this twin's telemetry.
        if let Some(store) = store {
            crate::store::persist(&store, &cell);
        }
        Ok(cell)
    }

    /// Adds a JavaScript listener for one event type (TimeSeriesStore's
    /// `store` option); returns its id.
    pub(crate) fn subscribe(&self, event: EventType, listener: Function) -> u32 {
        self.add_listener(Some(event), Listener::Js(listener))
    }

    pub(crate) fn id(&self) -> String {
        self.core.borrow().id().to_string()
    }

    fn live(&self) -> Result<(), JsValue> {
        if self.disposed.get() {
            Err(js_error(
                "DISPOSED",
                &format!("twin `{}` is disposed", self.id()),
            ))
        } else {
            Ok(())
        }
    }

    /// Runs a mutation on the core twin, then delivers the events it caused.
    pub(crate) fn mutate<T>(
        self: &Rc<Self>,
        f: impl FnOnce(&mut twinkit_core::DigitalTwin, u64) -> T,
    ) -> Result<T, JsValue> {
        self.live()?;
        let result = f(&mut self.core.borrow_mut(), now());
        self.deliver();
        Ok(result)
    }

    fn add_listener(&self, filter: Option<EventType>, listener: Listener) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        self.handlers.borrow_mut().push(Handler {
            id,
            filter,
            listener,
        });
        self.sync_forwarders();
        id
    }

    pub(crate) fn add_fleet(&self, fleet: Weak<FleetCell>) -> u32 {
        self.add_listener(None, Listener::Fleet(fleet))
    }

    pub(crate) fn remove_listener(&self, id: u32) {
        self.handlers.borrow_mut().retain(|h| h.id != id);
        self.sync_forwarders();
    }

    /// Subscribes core forwarders exactly for the event types some listener
    /// wants, so the core skips building payloads (state snapshots) nobody
    /// reads.
    fn sync_forwarders(&self) {
        let wanted: Vec<EventType> = EventType::ALL
            .into_iter()
            .filter(|t| {
                self.handlers
                    .borrow()
                    .iter()
                    .any(|h| h.filter.is_none_or(|f| f == *t))
            })
            .collect();
        let mut forwarders = self.forwarders.borrow_mut();
        forwarders.retain(|t, sub| {
            let keep = wanted.contains(t);
            if !keep {
                sub.unsubscribe();
            }
            keep
        });
        let core = self.core.borrow();
        for t in wanted {
            forwarders.entry(t).or_insert_with(|| {
                let queue = Rc::clone(&self.queue);
                core.on(t, move |event| queue.borrow_mut().push_back(event.clone()))
            });
        }
    }

    /// Delivers queued events to their listeners. Events raised while
    /// delivering (by a handler's own calls) join the same loop.
    pub(crate) fn deliver(self: &Rc<Self>) {
        if self.delivering.replace(true) {
            return;
        }
        loop {
            let Some(event) = self.queue.borrow_mut().pop_front() else {
                break;
            };
            let event_type = event.event_type();
            let targets: Vec<Listener> = self
                .handlers
                .borrow()
                .iter()
                .filter(|h| h.filter.is_none_or(|f| f == event_type))
                .map(|h| h.listener.clone())
                .collect();
            if targets.is_empty() {
                continue;
            }
            let Ok(js_event) = to_js(&event) else {
                continue;
            };
            let mut failures = 0;
            for listener in targets {
                match listener {
                    Listener::Js(f) => {
                        if let Err(error) = f.call1(&JsValue::NULL, &js_event) {
                            failures += 1;
                            web_sys::console::error_2(
                                &format!("twinkit: a `{event_type}` handler threw").into(),
                                &error,
                            );
                        }
                    }
                    Listener::Fleet(fleet) => {
                        if let Some(fleet) = fleet.upgrade() {
                            failures += fleet.deliver(&js_event, event_type);
                        }
                    }
                }
            }
            if failures > 0 && event_type != EventType::Error {
                self.queue.borrow_mut().push_back(DeviceEvent {
                    device_id: event.device_id.clone(),
                    timestamp: event.timestamp,
                    data: EventData::Error(ErrorInfo {
                        code: "HANDLER_FAILED".into(),
                        message: format!(
                            "{failures} `{event_type}` handler(s) threw; the others ran"
                        ),
                        property: None,
                    }),
                });
            }
        }
        self.delivering.set(false);
        self.schedule_timeout();
    }

    /// Arms a page timer for the core's next deadline (command timeouts).
    fn schedule_timeout(self: &Rc<Self>) {
        let Some(deadline) = self.core.borrow().poll_timeout() else {
            return;
        };
        if self.disposed.get() || self.timer_at.get().is_some_and(|t| t <= deadline) {
            return;
        }
        self.cancel_timer();
        let weak = Rc::downgrade(self);
        let fire = self.timer.get_or_init(|| {
            Closure::new(move || {
                if let Some(cell) = weak.upgrade() {
                    cell.timer_at.set(None);
                    cell.timer_id.set(None);
                    let _ = cell.mutate(|twin, now| twin.handle_timeout(now));
                }
            })
        });
        let delay = deadline.saturating_sub(now()) as f64;
        if let Ok(id) = global_call("setTimeout", fire.as_ref(), &delay.into()) {
            self.timer_at.set(Some(deadline));
            self.timer_id.set(Some(id));
        }
    }

    fn cancel_timer(&self) {
        if let Some(id) = self.timer_id.take() {
            let _ = global_call("clearTimeout", &id, &JsValue::UNDEFINED);
        }
        self.timer_at.set(None);
    }

    /// The function `on()` returns: removes one listener, once; harmless
    /// after the twin is gone.
    fn unsubscriber(self: &Rc<Self>, id: u32) -> Function {
        let weak = Rc::downgrade(self);
        let off = self.off.get_or_init(|| {
            Closure::new(move |id: u32| {
                if let Some(cell) = weak.upgrade() {
                    cell.remove_listener(id);
                }
            })
        });
        make_unsubscribe(off.as_ref().unchecked_ref(), id)
    }

    pub(crate) fn dispose(self: &Rc<Self>) {
        if self.disposed.get() {
            return;
        }
        self.core.borrow_mut().dispose(now());
        self.deliver();
        self.disposed.set(true);
        self.cancel_timer();
        self.handlers.borrow_mut().clear();
        self.forwarders.borrow_mut().clear();
        self.queue.borrow_mut().clear();
    }
}

/// A live digital twin of one device (the reference's `DigitalTwin`).
#[wasm_bindgen]
#[repr(transparent)]
pub struct DigitalTwin(pub(crate) Rc<TwinCell>);

impl std::fmt::Debug for DigitalTwin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DigitalTwin").field(&self.0.id()).finish()
    }
}

#[wasm_bindgen]
impl DigitalTwin {
    /// Creates a twin from a `DeviceConfig`; throws a `TwinError` naming the
    /// field when the configuration is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "DeviceConfig")] config: JsValue,
        #[wasm_bindgen(unchecked_param_type = "TwinOptions")] options: Option<js_sys::Object>,
    ) -> Result<DigitalTwin, JsValue> {
        TwinCell::create(config, options).map(DigitalTwin)
    }

    /// The device id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.0.id()
    }

    /// Whether the twin is connected.
    #[wasm_bindgen(getter, js_name = isConnected)]
    pub fn is_connected(&self) -> bool {
        self.0.core.borrow().is_connected()
    }

    /// `"disconnected"`, `"connecting"` or `"connected"`.
    #[wasm_bindgen(getter, js_name = connectionState, unchecked_return_type = "ConnectionState")]
    pub fn connection_state(&self) -> JsValue {
        to_js(&self.0.core.borrow().connection_state()).unwrap_or(JsValue::UNDEFINED)
    }

    /// Connects. A twin without `connectionType` is fed in-process and
    /// connects at once. Network transports (mqtt, websocket, http) are not
    /// part of this build yet: the promise rejects with code
    /// `TRANSPORT_UNAVAILABLE`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        let kind = self.0.core.borrow().config().connection_type.clone();
        if let Some(kind) = kind {
            let name = serde_json::to_value(&kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Promise::reject(&js_error(
                "TRANSPORT_UNAVAILABLE",
                &format!("connectionType `{name}` has no transport in this build yet; feed the twin with ingest() and applyReported()"),
            ));
        }
        match self.0.mutate(|twin, now| twin.connect(now)) {
            Ok(_) => Promise::resolve(&JsValue::UNDEFINED),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Disconnects.
    pub fn disconnect(&self) -> Result<(), JsValue> {
        self.0.mutate(|twin, now| twin.disconnect(now))
    }

    /// The current state: reported, desired, delta, metadata, version.
    #[wasm_bindgen(js_name = getState, unchecked_return_type = "DeviceState")]
    pub fn get_state(&self) -> Result<JsValue, JsValue> {
        to_js(self.0.core.borrow().state())
    }

    /// A reported value, or `undefined`.
    #[wasm_bindgen(js_name = getProperty, unchecked_return_type = "unknown")]
    pub fn get_property(&self, name: &str) -> Result<JsValue, JsValue> {
        match self.0.core.borrow().property(name) {
            Some(value) => to_js(value),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The configuration (without the password).
    #[wasm_bindgen(js_name = getConfig, unchecked_return_type = "DeviceConfig")]
    pub fn get_config(&self) -> Result<JsValue, JsValue> {
        to_js(self.0.core.borrow().config())
    }

    /// Sets a desired value (`null` clears it); throws `UNKNOWN_PROPERTY`,
    /// `NOT_WRITABLE`, `TYPE_MISMATCH`, `OUT_OF_RANGE` or `VALUE_TOO_LARGE`.
    #[wasm_bindgen(js_name = setDesired)]
    pub fn set_desired(
        &self,
        property: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<(), JsValue> {
        let value = from_js(&value, "value")?;
        self.0
            .mutate(|twin, now| twin.set_desired(property, value, now))?
            .map_err(|e| twin_error(&e))
    }

    /// Sends a command; it is `pending` until a transport (or an in-process
    /// device through `takeOutbound()`) takes it, then `sent`.
    #[wasm_bindgen(js_name = sendCommand, unchecked_return_type = "DeviceCommand")]
    pub fn send_command(
        &self,
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] payload: JsValue,
    ) -> Result<JsValue, JsValue> {
        let payload = from_js(&payload, "payload")?;
        let command = self
            .0
            .mutate(|twin, now| twin.send_command(name, payload, now))?
            .map_err(|e| twin_error(&e))?;
        to_js(&command)
    }

    /// A command by id, or `undefined`.
    #[wasm_bindgen(js_name = getCommand, unchecked_return_type = "DeviceCommand | undefined")]
    pub fn get_command(&self, command_id: &str) -> Result<JsValue, JsValue> {
        match self.0.core.borrow().command(command_id) {
            Some(command) => to_js(command),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Telemetry records, oldest first: the newest `limit` of `property`, or
    /// of all telemetry properties.
    #[wasm_bindgen(js_name = getTelemetryHistory, unchecked_return_type = "TelemetryData[]")]
    pub fn get_telemetry_history(
        &self,
        property: Option<String>,
        limit: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let limit = count(limit, "limit")?;
        to_js(
            &self
                .0
                .core
                .borrow()
                .telemetry_history(property.as_deref(), limit),
        )
    }

    /// Subscribes to one event type; returns the unsubscribe function.
    #[wasm_bindgen(js_name = on, skip_typescript)]
    pub fn on(&self, event: &str, callback: Function) -> Result<Function, JsValue> {
        let event_type = EventType::parse(event).ok_or_else(|| {
            let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            js_error(
                "UNKNOWN_EVENT",
                &format!(
                    "unknown event `{}`; expected one of {}",
                    twinkit_core::limits::printable(event),
                    names.join(", ")
                ),
            )
        })?;
        self.0.live()?;
        let id = self
            .0
            .add_listener(Some(event_type), Listener::Js(callback));
        Ok(self.0.unsubscriber(id))
    }

    /// Feeds telemetry (`{deviceId, timestamp, values}`) as a transport
    /// would: for backfill, tests and in-process sources.
    #[wasm_bindgen(unchecked_return_type = "ReportOutcome")]
    pub fn ingest(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TelemetryData")] telemetry: JsValue,
    ) -> Result<JsValue, JsValue> {
        let mut record =
            object_from_js(&pick(&telemetry, &["deviceId", "timestamp"])?, "telemetry")?;
        let device_id = match record.remove("deviceId") {
            Some(Value::String(id)) => id,
            None | Some(Value::Null) => self.0.id(),
            Some(_) => {
                return Err(js_error(
                    "INVALID_INPUT",
                    "telemetry.deviceId must be a string",
                ))
            }
        };
        let timestamp = match record.remove("timestamp") {
            Some(t) => Some(millis(&t, "telemetry.timestamp")?),
            None => None,
        };
        let values = Reflect::get(&telemetry, &"values".into())?;
        let (values, invalid) = split(entries_from_js(&values, "telemetry.values")?);
        let outcome = self
            .0
            .mutate(|twin, now| {
                let mut outcome =
                    twin.ingest_record(&device_id, timestamp.unwrap_or(now), values, now)?;
                reject_all(twin, invalid, &mut outcome, now);
                Ok(outcome)
            })?
            .map_err(|e| twin_error(&e))?;
        outcome_to_js(&outcome)
    }

    /// Applies reported values measured now; returns what was applied,
    /// stale or rejected (rejections are also `error` events).
    #[wasm_bindgen(js_name = applyReported, unchecked_return_type = "ReportOutcome")]
    pub fn apply_reported(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] values: JsValue,
    ) -> Result<JsValue, JsValue> {
        let (values, invalid) = split(entries_from_js(&values, "values")?);
        let outcome = self.0.mutate(|twin, now| {
            let mut outcome = twin.apply_reported(values, now);
            reject_all(twin, invalid, &mut outcome, now);
            outcome
        })?;
        outcome_to_js(&outcome)
    }

    /// Applies a device's answer to a command (`{commandId, status, result?,
    /// error?}`); throws for unknown or late responses.
    #[wasm_bindgen(js_name = handleCommandResponse)]
    pub fn handle_command_response(
        &self,
        #[wasm_bindgen(unchecked_param_type = "CommandResponse")] response: JsValue,
    ) -> Result<(), JsValue> {
        let response: CommandResponse = serde_json::from_value(from_js(&response, "response")?)
            .map_err(|e| js_error("INVALID_INPUT", &format!("response: {e}")))?;
        self.0
            .mutate(|twin, now| twin.ingest(Inbound::CommandResponse(response), now))?
            .map(|_| ())
            .map_err(|e| twin_error(&e))
    }

    /// What the twin wants sent to the device, while connected: for an
    /// in-process device (a simulator) to act on. Commands become `sent`.
    #[wasm_bindgen(js_name = takeOutbound, unchecked_return_type = "Outbound[]")]
    pub fn take_outbound(&self) -> Result<JsValue, JsValue> {
        let out = self.0.mutate(|twin, now| {
            std::iter::from_fn(|| twin.poll_outbound(now)).collect::<Vec<_>>()
        })?;
        to_js(&out)
    }

    /// Active alerts, oldest first.
    #[wasm_bindgen(js_name = getActiveAlerts, unchecked_return_type = "Alert[]")]
    pub fn get_active_alerts(&self) -> Result<JsValue, JsValue> {
        let core = self.0.core.borrow();
        to_js(&core.active_alerts().collect::<Vec<_>>())
    }

    /// Acknowledges an alert; throws `UNKNOWN_ALERT`.
    #[wasm_bindgen(js_name = acknowledgeAlert, unchecked_return_type = "Alert")]
    pub fn acknowledge_alert(&self, alert_id: &str) -> Result<JsValue, JsValue> {
        let alert = self
            .0
            .mutate(|twin, now| twin.acknowledge_alert(alert_id, now))?
            .map_err(|e| twin_error(&e))?;
        to_js(&alert)
    }

    /// Clears an alert by hand; throws `UNKNOWN_ALERT`.
    #[wasm_bindgen(js_name = clearAlert, unchecked_return_type = "Alert")]
    pub fn clear_alert(&self, alert_id: &str) -> Result<JsValue, JsValue> {
        let alert = self
            .0
            .mutate(|twin, now| twin.clear_alert(alert_id, now))?
            .map_err(|e| twin_error(&e))?;
        to_js(&alert)
    }

    /// Releases the twin: in-flight commands fail, it disconnects, and every
    /// subscription ends. Reading stays possible; changing throws
    /// `DISPOSED`. Call `free()` afterwards to release the handle at once.
    pub fn dispose(&self) {
        self.0.dispose();
    }
}

#[wasm_bindgen(
    inline_js = "export function make_unsubscribe(off, id) { let live = true; return () => { if (live) { live = false; off(id); } }; }"
)]
extern "C" {
    /// `() => off(id)`, callable any number of times, acting once.
    pub(crate) fn make_unsubscribe(off: &Function, id: u32) -> Function;
}

/// Calls a global function such as `setTimeout(callback, delay)`; works in
/// windows and workers alike.
fn global_call(name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    let global = js_sys::global();
    let f: Function = Reflect::get(&global, &name.into())?.dyn_into()?;
    f.call2(&global, a, b)
}

/// Readable values, and the keys refused with their reasons.
fn split(entries: Entries) -> (BTreeMap<String, Value>, Vec<(String, String)>) {
    let mut values = BTreeMap::new();
    let mut invalid = Vec::new();
    for (key, value) in entries {
        match value {
            Ok(value) => {
                values.insert(key, value);
            }
            Err(reason) => invalid.push((key, reason)),
        }
    }
    (values, invalid)
}

fn reject_all(
    twin: &twinkit_core::DigitalTwin,
    invalid: Vec<(String, String)>,
    outcome: &mut twinkit_core::ReportOutcome,
    now: u64,
) {
    for (key, reason) in invalid {
        let error = twin.reject_value(&key, &reason, now);
        outcome.rejected.push((key, error));
    }
}

/// A copy of some keys of a JavaScript object (the rest is read apart).
fn pick(object: &JsValue, keys: &[&str]) -> Result<JsValue, JsValue> {
    if !object.is_object() {
        return Err(js_error("INVALID_INPUT", "telemetry: expected an object"));
    }
    let out = js_sys::Object::new();
    for key in keys {
        let value = Reflect::get(object, &(*key).into())?;
        if !value.is_undefined() {
            Reflect::set(&out, &(*key).into(), &value)?;
        }
    }
    Ok(out.into())
}

fn outcome_to_js(outcome: &twinkit_core::ReportOutcome) -> Result<JsValue, JsValue> {
    let rejected: Vec<Value> = outcome
        .rejected
        .iter()
        .map(|(property, error)| json!({"property": property, "code": error.code(), "message": error.to_string()}))
        .collect();
    to_js(&json!({"applied": outcome.applied, "stale": outcome.stale, "rejected": rejected}))
}
