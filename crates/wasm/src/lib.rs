//! # twinkit-wasm
//!
//! The npm package `twinkit`: thin wasm-bindgen classes over
//! `twinkit-core` with the JavaScript API of the reference
//! (`DigitalTwin`, `FleetManager`, `PredictiveMaintenance`,
//! `TimeSeriesStore`).
//!
//! Values cross the boundary as plain objects: inputs are checked (finite
//! numbers, plain objects and arrays, bounded size, no `__proto__`,
//! `constructor` or `prototype` keys) and outputs are built by `JSON.parse`,
//! so `state.reported.temperature` and `JSON.stringify(state)` just work.
//! Errors are thrown as `Error`s named `TwinError` with a stable `code`.
//! Time enters here: the bindings pass `Date.now()` to the core.
#![deny(missing_docs)]

mod analytics;
mod bench;
mod convert;
mod fleet;
mod prediction;
mod rules;
mod store;
mod twin;

pub use analytics::AnomalyDetector;
pub use fleet::FleetManager;
pub use prediction::PredictiveMaintenance;
pub use rules::RuleEngine;
pub use store::TimeSeriesStore;
pub use twin::DigitalTwin;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("types.d.ts");

/// Bytes of WebAssembly memory in use by the module (for leak checks and
/// benchmarks).
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length()
        .into()
}
