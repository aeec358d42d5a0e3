//! `AnomalyDetector` for JavaScript, and the analytics extras of
//! `PredictiveMaintenance` and `DigitalTwin` (detailed predictions, what-if).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::Function;
use serde_json::Value;
use twinkit_analytics::{AnomalyDetector as Detectors, Detection, DetectionAlerts, DetectorConfig};
use twinkit_core::events::EventData;
use twinkit_core::EventType;
use twinkit_web::{HandlerFailed, Subscription};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{count, from_js, js_error, now, to_js};
use crate::twin::{make_unsubscribe, DigitalTwin};

/// Detections kept for `getDetections()`.
pub const MAX_KEPT_DETECTIONS: usize = 1_000;

struct DetectorState {
    detectors: Detectors,
    kept: VecDeque<Detection>,
    handlers: Vec<(u32, Function)>,
    next_id: u32,
    /// The twin alert standing for each latched (property, anomaly).
    alerts: DetectionAlerts,
}

/// Streaming anomaly detection (spike, stuck, rapid change, drift) and
/// per-property health over a twin's telemetry, as it arrives.
#[wasm_bindgen]
pub struct AnomalyDetector {
    state: Rc<RefCell<DetectorState>>,
    _telemetry: Subscription,
    off: Closure<dyn Fn(u32)>,
    /// The watched twin, to resolve this detector's alerts when it is
    /// freed: nothing would clear them afterwards.
    twin: twinkit_web::WeakTwin,
}

impl Drop for AnomalyDetector {
    fn drop(&mut self) {
        if let Some(twin) = self.twin.upgrade() {
            let state = Rc::clone(&self.state);
            let _ = twin.update(|core, now| state.borrow_mut().alerts.resolve_all(core, now));
        }
    }
}

impl std::fmt::Debug for AnomalyDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnomalyDetector")
            .field("kept", &self.state.borrow().kept.len())
            .finish()
    }
}

fn analytics_error(e: &twinkit_analytics::AnalyticsError) -> JsValue {
    js_error(e.code(), &e.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, JsValue> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        js_error(
            "INVALID_INPUT",
            &format!("{what}.{}: {}", e.path(), e.inner()),
        )
    })
}

/// Each new detection becomes a twin alert (one per property and anomaly
/// while the detector holds it latched); an alert is resolved when the latch
/// lets go (see `twinkit_analytics::alerts`).
fn sync_alerts(state: &Rc<RefCell<DetectorState>>, twin: &twinkit_web::Twin, found: &[Detection]) {
    // The borrow ends before the twin delivers the alert events, so alert
    // handlers may call back into this detector.
    let _ = twin.update(|core, now| {
        let state = &mut *state.borrow_mut();
        state.alerts.sync(&state.detectors, found, core, now)
    });
}

#[wasm_bindgen]
impl AnomalyDetector {
    /// Watches `twin`'s telemetry. `config` sets every property's detectors
    /// (`{window, spikeThreshold, stuckReadings, ...}`, `null` turns one
    /// off); `properties` overrides them per property.
    #[wasm_bindgen(constructor)]
    pub fn new(
        twin: &DigitalTwin,
        #[wasm_bindgen(unchecked_param_type = "DetectorConfig?")] config: Option<js_sys::Object>,
        #[wasm_bindgen(unchecked_param_type = "DetectorConfigs?")] properties: Option<
            js_sys::Object,
        >,
    ) -> Result<AnomalyDetector, JsValue> {
        let default: DetectorConfig = match config {
            Some(c) => parse(from_js(&c, "config")?, "config")?,
            None => DetectorConfig::default(),
        };
        let mut detectors = Detectors::with_default(default).map_err(|e| analytics_error(&e))?;
        detectors.configure_for_device(twin.0.core().config());
        if let Some(properties) = properties {
            let Value::Object(map) = from_js(&properties, "properties")? else {
                return Err(js_error("INVALID_INPUT", "properties: expected an object"));
            };
            for (property, value) in map {
                let config: DetectorConfig = parse(value, &format!("properties.{property}"))?;
                detectors
                    .set_config(&property, config)
                    .map_err(|e| analytics_error(&e))?;
            }
        }
        let state = Rc::new(RefCell::new(DetectorState {
            detectors,
            kept: VecDeque::new(),
            handlers: Vec::new(),
            next_id: 1,
            alerts: DetectionAlerts::new(),
        }));
        let alerting = twin.0.downgrade();
        let watched = Rc::clone(&state);
        let telemetry = twin.0.subscribe(Some(EventType::Telemetry), move |event| {
            let EventData::Telemetry(record) = &event.data else {
                return Ok(());
            };
            let mut found = Vec::new();
            let handlers = {
                let mut state = watched.borrow_mut();
                // Refused values (NaN, out of order) were already refused by
                // the twin or are older readings: nothing to detect.
                let _ = state.detectors.observe_record(record, &mut found);
                for d in &found {
                    if state.kept.len() == MAX_KEPT_DETECTIONS {
                        state.kept.pop_front();
                    }
                    state.kept.push_back(d.clone());
                }
                state.handlers.clone()
            };
            if let Some(twin) = alerting.upgrade() {
                sync_alerts(&watched, &twin, &found);
            }
            let mut failed = 0;
            for detection in &found {
                let Ok(js) = to_js(detection) else { continue };
                for (_, handler) in &handlers {
                    if let Err(error) = handler.call1(&JsValue::NULL, &js) {
                        failed += 1;
                        web_sys::console::error_2(
                            &"twinkit: an anomaly handler threw".into(),
                            &error,
                        );
                    }
                }
            }
            if failed == 0 {
                Ok(())
            } else {
                Err(HandlerFailed { count: failed })
            }
        });
        let weak = Rc::downgrade(&state);
        let off = Closure::new(move |id: u32| {
            if let Some(state) = weak.upgrade() {
                state.borrow_mut().handlers.retain(|(h, _)| *h != id);
            }
        });
        Ok(AnomalyDetector {
            state,
            _telemetry: telemetry,
            off,
            twin: twin.0.downgrade(),
        })
    }

    /// Calls `callback` with each detection as it happens; returns the
    /// unsubscribe function.
    #[wasm_bindgen(js_name = onDetection, unchecked_return_type = "() => void")]
    pub fn on_detection(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(detection: Detection) => void")] callback: Function,
    ) -> Function {
        let mut state = self.state.borrow_mut();
        let id = state.next_id;
        state.next_id = id.wrapping_add(1);
        state.handlers.push((id, callback));
        make_unsubscribe(self.off.as_ref().unchecked_ref(), id)
    }

    /// Recent detections, oldest first: the newest `limit` of `property`,
    /// or of all properties (at most 1,000 are kept).
    #[wasm_bindgen(js_name = getDetections, unchecked_return_type = "Detection[]")]
    pub fn get_detections(
        &self,
        property: Option<String>,
        limit: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let limit = count(limit, "limit")?.unwrap_or(MAX_KEPT_DETECTIONS);
        let state = self.state.borrow();
        let mut picked: Vec<&Detection> = state
            .kept
            .iter()
            .rev()
            .filter(|d| property.as_deref().is_none_or(|p| d.property == p))
            .take(limit)
            .collect();
        picked.reverse();
        to_js(&picked)
    }

    /// Health of one property, or of every property seen.
    #[wasm_bindgen(js_name = getHealth, unchecked_return_type = "PropertyHealth[]")]
    pub fn get_health(&self, property: Option<String>) -> Result<JsValue, JsValue> {
        let state = self.state.borrow();
        let now = now();
        match property {
            Some(p) => to_js(
                &state
                    .detectors
                    .health(&p, now)
                    .into_iter()
                    .collect::<Vec<_>>(),
            ),
            None => to_js(&state.detectors.health_all(now)),
        }
    }
}
