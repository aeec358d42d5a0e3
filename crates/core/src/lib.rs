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
//! ```
//! use twinkit_core::{DeviceConfig, DigitalTwin, EventType};
//! use serde_json::json;
//!
//! let config = DeviceConfig::from_json(r#"{
//!     "id": "sensor-001",
//!     "name": "Temperature Sensor",
//!     "type": "temperature-sensor",
//!     "properties": [
//!         { "name": "temperature", "type": "number", "min": -40, "max": 85, "telemetry": true },
//!         { "name": "samplingRate", "type": "number", "writable": true }
//!     ]
//! }"#).unwrap();
//! let mut twin = DigitalTwin::new(config).unwrap();
//! let alerts = twin.on(EventType::Alert, |event| println!("alert: {:?}", event.data));
//!
//! // Time is passed in: here, milliseconds since the epoch.
//! twin.apply_reported([("temperature".to_string(), json!(21.5))].into(), 1_000);
//! twin.set_desired("samplingRate", json!(1000), 1_000).unwrap();
//!
//! assert_eq!(twin.property("temperature"), Some(&json!(21.5)));
//! assert_eq!(twin.state().delta()["samplingRate"], json!(1000));
//! assert_eq!(twin.telemetry_history(Some("temperature"), Some(10)).len(), 1);
//! assert!(twin.set_desired("samplingRate", json!("fast"), 1_001).is_err());
//! alerts.unsubscribe();
//! ```
#![deny(missing_docs)]

pub mod alerts;
pub mod audit;
pub mod commands;
pub mod config;
pub mod error;
pub mod events;
pub mod fleet;
pub mod history;
pub mod http_link;
pub mod ids;
pub mod json_link;
pub mod lifecycle;
pub mod limits;
pub mod link;
pub mod physics;
pub mod prediction;
pub mod reconnect;
pub mod rules;
pub mod state;
pub mod sync;
pub mod twin;
pub mod value;
pub mod wire;

pub use alerts::{Alert, AlertCondition, AlertStatus, Severity, ThresholdAlerts};
pub use audit::{Actor, AuditAction, AuditEntry, AuditLog, AuditOutcome, AuditQuery};
pub use commands::{CommandResponse, CommandStatus, CommandTracker, DeviceCommand};
pub use config::{
    is_thing_name, ConnectionConfig, ConnectionType, CriticalBand, DeviceConfig, MqttTopicScheme,
    PropertyDefinition, PropertyType, TwinOptions,
};
pub use error::{ConfigError, TwinError};
pub use events::{DeviceEvent, EventData, EventType, Subscription};
pub use fleet::{FleetManager, FleetStatus};
pub use history::TelemetryHistory;
pub use lifecycle::{
    LifecycleChange, LifecycleCounts, LifecycleEvent, LifecycleLog, LifecycleState,
};
pub use physics::{Rng, Sensor, SensorFault, ThermalModel, WearModel};
pub use prediction::{MaintenancePrediction, PredictiveMaintenance, Threshold};
pub use rules::{
    Action, ActionModel, ApprovalPolicy, Comparison, Condition, DryRun, Goal, Proposal,
    ProposalStatus, Rule, RuleEngine, Scope, Simulated, TrajectorySummary, Trigger,
};
pub use state::{DeviceState, PropertyMetadata, UpdateSource};
pub use sync::{
    Conflict, ConflictSide, ConflictStrategy, DesiredWrite, Divergence, MergeDecision, MergeInput,
    SyncDirection, SyncRecord,
};
pub use twin::{ConnectionState, DigitalTwin, Inbound, Outbound, ReportOutcome};
pub use value::{TelemetryData, TelemetryValue};
pub use wire::{Message as WireMessage, WireError};

/// Milliseconds since the Unix epoch, as JavaScript's `Date.now()` gives them.
pub type Millis = u64;
