//! # twinkit-web
//!
//! The browser runtime of twinkit, in Rust: [`Twin`] and [`Fleet`] are
//! cheap, cloneable handles over `twinkit-core`'s sans-io twin that do what
//! the core leaves to its host — read the page's clock, deliver events to
//! listeners after the core's borrow ends (so a listener may call back into
//! the twin), and arm page timers for the core's deadlines (command
//! timeouts).
//!
//! The npm package (`twinkit-wasm`) and the Leptos hooks (`twinkit-leptos`)
//! are both thin layers over these handles, so a twin behaves the same
//! whichever way a page uses it.
//!
//! ```no_run
//! use twinkit_core::{DeviceConfig, EventType, TwinOptions};
//! use twinkit_web::Twin;
//!
//! let config = DeviceConfig::from_json(r#"{"id": "s-1", "name": "Sensor", "type": "sensor",
//!     "properties": [{"name": "temperature", "type": "number", "telemetry": true}]}"#).unwrap();
//! let twin = Twin::new(config, TwinOptions::default()).unwrap();
//! let _alerts = twin.subscribe(Some(EventType::Alert), |event| {
//!     println!("{:?}", event.data);
//!     Ok(())
//! });
//! twin.update(|core, now| core.apply_reported([("temperature".into(), 21.5.into())].into(), now))
//!     .unwrap();
//! ```
#![deny(missing_docs)]

#[doc(hidden)]
pub mod bench;
mod error;
mod fleet;
mod http_host;
mod hub;
mod members;
mod page;
mod socket;
mod timer;
mod twin;

pub use error::WebError;
pub use fleet::{Fleet, FleetSubscription, WeakFleet};
pub use timer::Timer;
pub use twin::{HandlerFailed, Subscription, Twin, WeakTwin};

/// Milliseconds since the Unix epoch from the page's clock: the runtime is
/// where time enters twinkit.
pub fn now() -> twinkit_core::Millis {
    js_sys::Date::now() as twinkit_core::Millis
}
