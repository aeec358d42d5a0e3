//! # twinkit-core
//!
//! The pure core of twinkit: a digital twin's configuration, state (reported,
//! desired, delta, metadata), telemetry history, threshold alerts, commands,
//! events, fleets and predictive maintenance.
//!
//! The crate does no I/O and has no clock: every operation that depends on
//! time takes `now` (milliseconds since the Unix epoch) as an argument, so the
//! same code runs natively in tests and in the browser behind thin bindings.
//! The only ambient input is randomness for identifiers (UUID v4, from
//! `getrandom`).
//!
#![deny(missing_docs)]

pub mod alerts;
pub mod commands;
pub mod config;
pub mod error;
pub mod history;
pub mod ids;
pub mod limits;
pub mod prediction;
pub mod value;

pub use alerts::{Alert, AlertCondition, AlertStatus, Severity};
pub use commands::{CommandResponse, CommandStatus, DeviceCommand};
pub use config::{
    ConnectionConfig, ConnectionType, DeviceConfig, PropertyDefinition, PropertyType, TwinOptions,
};
pub use error::{ConfigError, TwinError};
pub use prediction::MaintenancePrediction;
pub use value::{TelemetryData, TelemetryValue};

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()` gives them.
pub type Millis = u64;
