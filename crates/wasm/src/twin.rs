//! `DigitalTwin` for JavaScript.
//!
//! The core twin lives in a `RefCell`; its events are queued by core
//! forwarders and delivered to JavaScript handlers only after the borrow
//! ends, so a handler may call back into the twin (read state, set desired
//! values) without re-entering it.

use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use serde_json::{json, Value};
use twinkit_core::{CommandResponse, DeviceConfig, DeviceEvent, EventType, Inbound, TwinOptions};
use twinkit_web::{HandlerFailed, Twin, WebError};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{
    config_error, count, entries_from_js, from_js, js_error, millis, object_from_js, to_js,
    twin_error, web_error, Entries, OrThrow,
};

/// What the npm package keeps per twin: one closure behind every
/// unsubscribe function `on()` hands out, so subscriptions allocate nothing
/// in Rust that JavaScript must free.
struct JsBinding {
    off: Closure<dyn Fn(u32)>,
}

/// The per-twin unsubscribe closure.
fn off_closure(twin: &Twin) -> Option<Rc<JsBinding>> {
    let weak = twin.downgrade();
    twin.binding(move || JsBinding {
        off: Closure::new(move |id: u32| {
            if let Some(twin) = weak.upgrade() {
                twin.unsubscribe(id);
            }
        }),
    })
}

/// Calls a JavaScript handler with an event; a handler that throws is
/// logged and counted, and the others still run.
pub(crate) fn call_handler(
    handler: &Function,
    event: &DeviceEvent,
    scope: &str,
) -> Result<(), HandlerFailed> {
    let Ok(js_event) = to_js(event) else {
        return Ok(());
    };
    handler
        .call1(&JsValue::NULL, &js_event)
        .map(|_| ())
        .map_err(|error| {
            web_sys::console::error_2(
                &format!("twinkit: a {scope}`{}` handler threw", event.event_type()).into(),
                &error,
            );
            HandlerFailed { count: 1 }
        })
}

/// Creates a runtime twin from JavaScript arguments.
pub(crate) fn create(config: JsValue, options: Option<js_sys::Object>) -> Result<Twin, JsValue> {
    let config =
        DeviceConfig::from_value(from_js(&config, "config")?).map_err(|e| config_error(&e))?;
    let options = match options {
        None => TwinOptions::default(),
        Some(options) => {
            TwinOptions::from_value(from_js(&options, "options")?).map_err(|e| config_error(&e))?
        }
    };
    Twin::new(config, options).map_err(|e| web_error(&e))
}

/// A live digital twin of one device (the reference's `DigitalTwin`).
#[wasm_bindgen]
#[repr(transparent)]
pub struct DigitalTwin(pub(crate) Twin);

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
        create(config, options).map(DigitalTwin)
    }

    /// The device id.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.0.id()
    }

    /// Whether the twin is connected.
    #[wasm_bindgen(getter, js_name = isConnected)]
    pub fn is_connected(&self) -> bool {
        self.0.core().is_connected()
    }

    /// `"disconnected"`, `"connecting"` or `"connected"`.
    #[wasm_bindgen(getter, js_name = connectionState, unchecked_return_type = "ConnectionState")]
    pub fn connection_state(&self) -> JsValue {
        to_js(&self.0.core().connection_state()).unwrap_or(JsValue::UNDEFINED)
    }

    /// Connects. A twin without `connectionType` is fed in-process and
    /// connects at once. A `websocket` twin joins the page's shared
    /// connection for its URL and credentials; the promise resolves once it
    /// is connected and rejects (`NOT_CONNECTED`, `DISPOSED`) if it is
    /// disconnected or disposed first, or if the connection fails with
    /// `reconnect: false`. Failed attempts are also `error` events
    /// (`CONNECT_FAILED`); retries back off exponentially with jitter.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> Promise {
        let twin = self.0.clone();
        Promise::new(&mut |resolve, reject| match twin.connect() {
            Err(e) => {
                let _ = reject.call1(&JsValue::NULL, &web_error(&e));
            }
            Ok(()) => twin.when_connected(move |result| {
                let _ = match result {
                    Ok(()) => resolve.call0(&JsValue::NULL),
                    Err(e) => reject.call1(&JsValue::NULL, &web_error(&e)),
                };
            }),
        })
    }

    /// Disconnects.
    pub fn disconnect(&self) -> Result<(), JsValue> {
        self.0.disconnect().map_err(|e| web_error(&e))
    }

    /// The current state: reported, desired, delta, metadata, version.
    #[wasm_bindgen(js_name = getState, unchecked_return_type = "DeviceState")]
    pub fn get_state(&self) -> Result<JsValue, JsValue> {
        to_js(self.0.core().state())
    }

    /// A reported value, or `undefined`.
    #[wasm_bindgen(js_name = getProperty, unchecked_return_type = "unknown")]
    pub fn get_property(&self, name: &str) -> Result<JsValue, JsValue> {
        match self.0.core().property(name) {
            Some(value) => to_js(value),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// The configuration (without the password).
    #[wasm_bindgen(js_name = getConfig, unchecked_return_type = "DeviceConfig")]
    pub fn get_config(&self) -> Result<JsValue, JsValue> {
        to_js(self.0.core().config())
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
            .update(|twin, now| twin.set_desired(property, value, now))
            .or_throw()?
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
            .update(|twin, now| twin.send_command(name, payload, now))
            .or_throw()?
            .map_err(|e| twin_error(&e))?;
        to_js(&command)
    }

    /// A command by id, or `undefined`.
    #[wasm_bindgen(js_name = getCommand, unchecked_return_type = "DeviceCommand | undefined")]
    pub fn get_command(&self, command_id: &str) -> Result<JsValue, JsValue> {
        match self.0.core().command(command_id) {
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
        to_js(&self.0.core().telemetry_history(property.as_deref(), limit))
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
        if self.0.is_disposed() {
            return Err(web_error(&WebError::Disposed {
                device_id: self.0.id(),
            }));
        }
        let id = self
            .0
            .subscribe(Some(event_type), move |event| {
                call_handler(&callback, event, "")
            })
            .forget();
        let binding = off_closure(&self.0)
            .ok_or_else(|| js_error("INTERNAL", "twin binding of another type"))?;
        Ok(make_unsubscribe(binding.off.as_ref().unchecked_ref(), id))
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
            .update(|twin, now| {
                let mut outcome =
                    twin.ingest_record(&device_id, timestamp.unwrap_or(now), values, now)?;
                reject_all(twin, invalid, &mut outcome, now);
                Ok(outcome)
            })
            .or_throw()?
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
        let outcome = self
            .0
            .update(|twin, now| {
                let mut outcome = twin.apply_reported(values, now);
                reject_all(twin, invalid, &mut outcome, now);
                outcome
            })
            .or_throw()?;
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
            .update(|twin, now| twin.ingest(Inbound::CommandResponse(response), now))
            .or_throw()?
            .map(|_| ())
            .map_err(|e| twin_error(&e))
    }

    /// What the twin wants sent to the device, while connected: for an
    /// in-process device (a simulator) to act on. Commands become `sent`.
    #[wasm_bindgen(js_name = takeOutbound, unchecked_return_type = "Outbound[]")]
    pub fn take_outbound(&self) -> Result<JsValue, JsValue> {
        let out = self
            .0
            .update(|twin, now| std::iter::from_fn(|| twin.poll_outbound(now)).collect::<Vec<_>>())
            .or_throw()?;
        to_js(&out)
    }

    /// Active alerts, oldest first.
    #[wasm_bindgen(js_name = getActiveAlerts, unchecked_return_type = "Alert[]")]
    pub fn get_active_alerts(&self) -> Result<JsValue, JsValue> {
        let core = self.0.core();
        to_js(&core.active_alerts().collect::<Vec<_>>())
    }

    /// Acknowledges an alert; throws `UNKNOWN_ALERT`.
    #[wasm_bindgen(js_name = acknowledgeAlert, unchecked_return_type = "Alert")]
    pub fn acknowledge_alert(&self, alert_id: &str) -> Result<JsValue, JsValue> {
        let alert = self
            .0
            .update(|twin, now| twin.acknowledge_alert(alert_id, now))
            .or_throw()?
            .map_err(|e| twin_error(&e))?;
        to_js(&alert)
    }

    /// Clears an alert by hand; throws `UNKNOWN_ALERT`.
    #[wasm_bindgen(js_name = clearAlert, unchecked_return_type = "Alert")]
    pub fn clear_alert(&self, alert_id: &str) -> Result<JsValue, JsValue> {
        let alert = self
            .0
            .update(|twin, now| twin.clear_alert(alert_id, now))
            .or_throw()?
            .map_err(|e| twin_error(&e))?;
        to_js(&alert)
    }

    /// What if: "if `actuator` is set to `value` from now, when does
    /// `property` cross `level`?" A model (`"thermal"`: first-order response
    /// to a heater/fan/setpoint; `"wear"`: vibration rising with running
    /// time and speed) is fitted to the twin's telemetry history and run
    /// forward; returns the trajectory and the crossing time in hours with
    /// bounds. Never touches the device.
    #[wasm_bindgen(js_name = whatIf, unchecked_return_type = "ScenarioOutcome")]
    pub fn what_if(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Scenario")] scenario: JsValue,
        #[wasm_bindgen(unchecked_param_type = "\"thermal\" | \"wear\"")] model: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let scenario: twinkit_analytics::Scenario =
            serde_json::from_value(from_js(&scenario, "scenario")?)
                .map_err(|e| js_error("INVALID_INPUT", &format!("scenario: {e}")))?;
        let kind = match model.as_deref() {
            None | Some("thermal") => twinkit_analytics::ModelKind::Thermal,
            Some("wear") => twinkit_analytics::ModelKind::Wear,
            Some(other) => {
                return Err(js_error(
                    "INVALID_INPUT",
                    &format!(
                        "model `{}`: expected \"thermal\" or \"wear\"",
                        twinkit_core::limits::printable(other)
                    ),
                ))
            }
        };
        let outcome =
            twinkit_analytics::twin_scenario(&self.0.core(), kind, &scenario, twinkit_web::now())
                .map_err(|e| js_error(e.code(), &e.to_string()))?;
        to_js(&outcome)
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
