//! # twinkit-sim
//!
//! Simulated IoT devices for twinkit: a thermostat, a motor and a
//! temperature/humidity sensor driven by the forward models of
//! `twinkit_core::physics` (first-order thermal response, wear-driven
//! vibration, seeded sensor noise).
//!
//! The library is pure and sans-io, like the core: a [`SimDevice`] is ticked
//! with the time (`tick(now)`), takes desired values and commands
//! ([`SimDevice::handle`], [`SimDevice::handle_outbound`]) and yields what it
//! sends ([`SimDevice::poll_output`]): `telemetry`, `state` and
//! `commandResponse` messages of [`twinkit_core::wire`], the `desired`
//! values it accepted through [`SimDevice::handle`] (with their writer's
//! `origin` and the device's version, which the WebSocket server relays to
//! every client following the device), plus the effects of injected faults. It builds for wasm32, so a page can run a fleet next to
//! its twins; natively, the `server` module serves it over MQTT (rumqttc), the
//! WebSocket JSON protocol and HTTP, and the `twinkit-sim` binary runs that.
//!
//! Each device answers commands with `acknowledged`, then `completed` or
//! `failed`: `reboot` (2 s, telemetry pauses), `calibrate` (1 s, clears
//! sensor drift, returns the removed offsets), `resetWear` (motors, 0.5 s),
//! and `fault` whose payload is a [`Fault`]
//! (`{"kind": "drift", "property": "temperature", "rate": 0.05}`,
//! `stuck`, `spikes`, `dropConnection`, `malformed`, `clear`). Any other
//! command fails with the list of known ones.
//!
//! ```
//! use serde_json::json;
//! use twinkit_core::DigitalTwin;
//! use twinkit_sim::{inbound, DeviceKind, Output, SimDevice, SimOptions};
//!
//! let mut device = SimDevice::new(DeviceKind::Thermostat, "thermostat-001", &SimOptions::default()).unwrap();
//! let mut twin = DigitalTwin::new(device.config().clone()).unwrap();
//! let t0 = 1_700_000_000_000;
//! twin.connect(t0);
//! twin.set_desired("setpoint", json!(23), t0).unwrap();
//! for step in 0..5 {
//!     let now = t0 + step * 1_000;
//!     while let Some(out) = twin.poll_outbound(now) {
//!         device.handle_outbound(&out, now).unwrap();
//!     }
//!     device.tick(now);
//!     while let Some(Output::Send(message)) = device.poll_output() {
//!         if let Some(input) = inbound(&message) {
//!             twin.ingest(input, now);
//!         }
//!     }
//! }
//! assert_eq!(twin.property("setpoint"), Some(&json!(23.0)));
//! assert!(twin.state().delta().is_empty());
//! assert_eq!(twin.telemetry_history(Some("temperature"), None).len(), 5);
//! ```
#![deny(missing_docs)]

pub mod bridge;
pub mod device;
pub mod fault;
pub mod fleet;
pub mod models;
#[cfg(not(target_arch = "wasm32"))]
pub mod server;

pub use bridge::{Bridge, BridgeReport};
pub use device::{inbound, Output, SimDevice, SimError, SimOptions};
pub use fault::Fault;
pub use fleet::SimFleet;
pub use models::{DeviceKind, Model};
