//! `PredictiveMaintenance` for JavaScript.

use std::cell::RefCell;

use js_sys::Reflect;
use twinkit_core::MaintenancePrediction;
use wasm_bindgen::prelude::*;

use crate::convert::{now, to_js, twin_error};
use crate::twin::DigitalTwin;

/// Trend analysis of a twin's telemetry toward maintenance thresholds (the
/// reference's `PredictiveMaintenance`).
#[wasm_bindgen]
pub struct PredictiveMaintenance {
    twin: twinkit_web::Twin,
    core: RefCell<twinkit_core::PredictiveMaintenance>,
}

impl std::fmt::Debug for PredictiveMaintenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictiveMaintenance")
            .field("twin", &self.twin.id())
            .finish()
    }
}

#[wasm_bindgen]
impl PredictiveMaintenance {
    /// Predictions over `twin`'s telemetry history.
    #[wasm_bindgen(constructor)]
    pub fn new(twin: &DigitalTwin) -> PredictiveMaintenance {
        PredictiveMaintenance {
            twin: twin.0.clone(),
            core: RefCell::default(),
        }
    }

    /// Sets the warning and critical levels of a property (rising when
    /// critical > warning, falling otherwise); throws `INVALID_THRESHOLD`.
    #[wasm_bindgen(js_name = setThreshold)]
    pub fn set_threshold(
        &self,
        property: &str,
        warning: f64,
        critical: f64,
    ) -> Result<(), JsValue> {
        self.core
            .borrow_mut()
            .set_threshold(property, warning, critical)
            .map_err(|e| twin_error(&e))
    }

    /// Removes a property's threshold and prediction; returns whether it had one.
    #[wasm_bindgen(js_name = removeThreshold)]
    pub fn remove_threshold(&self, property: &str) -> bool {
        self.core.borrow_mut().remove_threshold(property).is_some()
    }

    /// Analyzes every property with a threshold and at least 10 points.
    #[wasm_bindgen(unchecked_return_type = "MaintenancePrediction[]")]
    pub fn analyze(&self) -> Result<JsValue, JsValue> {
        let predictions = self.core.borrow_mut().analyze(&self.twin.core(), now());
        let out = js_sys::Array::new();
        for p in &predictions {
            out.push(&prediction_to_js(p)?);
        }
        Ok(out.into())
    }

    /// [`analyze`](Self::analyze) with intervals: both least-squares and
    /// Theil–Sen trends, the value at +24 h with its prediction interval,
    /// and times to warning and critical with lower and upper bounds
    /// (`options`: `{confidenceLevel = 0.9, robust = true}`). Also stores
    /// the plain predictions for `getPrediction`.
    #[wasm_bindgen(js_name = analyzeDetailed, unchecked_return_type = "DetailedPrediction[]")]
    pub fn analyze_detailed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PredictionOptions")] options: Option<js_sys::Object>,
    ) -> Result<JsValue, JsValue> {
        let options: twinkit_analytics::PredictionOptions = match options {
            Some(o) => serde_json::from_value(crate::convert::from_js(&o, "options")?)
                .map_err(|e| crate::convert::js_error("INVALID_INPUT", &format!("options: {e}")))?,
            None => twinkit_analytics::PredictionOptions::default(),
        };
        let detailed = twinkit_analytics::analyze_twin(
            &mut self.core.borrow_mut(),
            &self.twin.core(),
            now(),
            options,
        )
        .map_err(|e| crate::convert::js_error(e.code(), &e.to_string()))?;
        to_js(&detailed)
    }

    /// The last prediction for a property, or `undefined`.
    #[wasm_bindgen(js_name = getPrediction, unchecked_return_type = "MaintenancePrediction | undefined")]
    pub fn get_prediction(&self, property: &str) -> Result<JsValue, JsValue> {
        match self.core.borrow().prediction(property) {
            Some(p) => prediction_to_js(p),
            None => Ok(JsValue::UNDEFINED),
        }
    }
}

/// A prediction as JavaScript: "never" is `Infinity`, as the reference's
/// `number` type and comparisons like `timeToCritical < 24` expect.
fn prediction_to_js(p: &MaintenancePrediction) -> Result<JsValue, JsValue> {
    let js = to_js(p)?;
    for key in ["timeToWarning", "timeToCritical"] {
        let key = JsValue::from_str(key);
        if Reflect::get(&js, &key)?.is_null() {
            Reflect::set(&js, &key, &f64::INFINITY.into())?;
        }
    }
    Ok(js)
}
