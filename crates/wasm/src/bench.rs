//! Bench-only classes for the in-browser MQTT benchmark
//! (`tests/npm/bench-mqtt.mjs`), over `twinkit_web::bench`. Internal:
//! hidden from the typings and the docs, not part of the API.

use js_sys::Uint8Array;
use twinkit_web::bench::{MqttApply, MqttDecode};
use wasm_bindgen::prelude::*;

use crate::convert::js_error;
use crate::DigitalTwin;

fn bench_error(message: String) -> JsValue {
    js_error("MQTT_ERROR", &message)
}

/// Broker bytes through the MQTT link into twins, as a page's connection
/// feeds them.
#[doc(hidden)]
#[wasm_bindgen(js_name = "__MqttApplyBench", skip_typescript)]
#[derive(Debug)]
pub struct MqttApplyBench(MqttApply);

#[wasm_bindgen(js_class = "__MqttApplyBench")]
impl MqttApplyBench {
    /// An MQTT link that is up, for protocol version 4 (3.1.1) or 5.
    #[wasm_bindgen(constructor)]
    pub fn new(version: u8) -> Result<MqttApplyBench, JsValue> {
        MqttApply::new(version)
            .map(MqttApplyBench)
            .map_err(bench_error)
    }

    /// Subscribes a twin's topics.
    pub fn join(&mut self, twin: &DigitalTwin) -> Result<(), JsValue> {
        self.0.join(twin.0.clone()).map_err(bench_error)
    }

    /// Feeds one WebSocket frame; returns the messages applied to twins.
    pub fn feed(&mut self, frame: &Uint8Array) -> Result<u32, JsValue> {
        self.0.feed(frame.to_vec()).map_err(bench_error)
    }
}

/// Broker bytes to MQTT messages only.
#[doc(hidden)]
#[wasm_bindgen(js_name = "__MqttDecodeBench", skip_typescript)]
#[derive(Debug)]
pub struct MqttDecodeBench(MqttDecode);

#[wasm_bindgen(js_class = "__MqttDecodeBench")]
impl MqttDecodeBench {
    /// An MQTT session that is up, for protocol version 4 (3.1.1) or 5.
    #[wasm_bindgen(constructor)]
    pub fn new(version: u8) -> Result<MqttDecodeBench, JsValue> {
        MqttDecode::new(version)
            .map(MqttDecodeBench)
            .map_err(bench_error)
    }

    /// Feeds one WebSocket frame; returns the messages decoded.
    pub fn feed(&mut self, frame: &Uint8Array) -> Result<u32, JsValue> {
        self.0.feed(&frame.to_vec()).map_err(bench_error)
    }
}
