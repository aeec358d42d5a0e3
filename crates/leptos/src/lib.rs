//! # twinkit-leptos
//!
//! [Leptos](https://leptos.dev) hooks (0.8, client-side rendering) over the
//! browser runtime `twinkit-web`: a twin's state, its fleet and the
//! lifecycle of its devices, its telemetry, its alerts, its anomalies and
//! health, its maintenance predictions, what-if scenarios, rules and sync
//! state as signals, in the style of
//! leptos-use — one file per hook, `use_x` and `use_x_with_options`, options
//! structs with documented defaults, return structs of signals and closures.
//!
//! Every hook subscribes to twin events and writes a signal only when the
//! value it holds actually changed, so a stream of identical reports does not
//! re-render anything. When the reactive owner that called the hook is
//! disposed (the component unmounts), its subscriptions end; a twin or fleet
//! the hook created itself is disposed as well (it disconnects, in-flight
//! commands fail). Twins and fleets passed in are left as they are.
//!
//! | hook | gives |
//! |---|---|
//! | [`use_digital_twin`] | `twin`, `state`, `is_connected`, `commands`, `set_desired`, `send_command` |
//! | [`use_fleet`] | `fleet`, `devices` (with lifecycle state), `status` (with counts per lifecycle state), `events`, `add_device`, `remove_device`, `connect_all`, `disconnect_all`, `set_lifecycle` |
//! | [`use_telemetry`] | `data`, `latest_value` |
//! | [`use_predictive_maintenance`] | `predictions`, `detailed` (intervals, Theil–Sen, crossing bounds), `analyze`, `analyze_detailed`, `set_threshold` |
//! | [`use_alerts`] | `active`, `acknowledge`, `clear` |
//! | [`use_anomalies`] | `detections`, `latest`, `health`, `reset`, `set_config` (detections also become twin alerts) |
//! | [`use_what_if`] | `scenario`, `outcome`, `error`, `run` (reads the twin only) |
//! | [`use_rules`] | `rules`, `proposals`, `pending_approval`, `add_rule`, `remove_rule`, `approve`, `reject`, `evaluate` |
//! | [`use_sync`] | `divergences`, `sync_history`, `refresh` |
#![deny(missing_docs)]

mod use_alerts;
mod use_anomalies;
mod use_digital_twin;
mod use_fleet;
mod use_predictive_maintenance;
mod use_rules;
mod use_sync;
mod use_telemetry;
mod use_what_if;
mod util;

pub use use_alerts::{
    use_alerts, use_alerts_with_options, AlertActionFn, AlertSource, UseAlertsOptions,
    UseAlertsReturn,
};
pub use use_anomalies::{
    use_anomalies, use_anomalies_with_options, SetDetectorConfigFn, UseAnomaliesOptions,
    UseAnomaliesReturn,
};
pub use use_digital_twin::{
    use_digital_twin, use_digital_twin_with_options, SendCommandFn, SetDesiredFn, TwinSource,
    UseDigitalTwinOptions, UseDigitalTwinReturn,
};
pub use use_fleet::{
    use_fleet, use_fleet_with_options, ActionFn, AddDeviceFn, ConnectAllFn, DeviceSummary,
    RemoveDeviceFn, SetLifecycleFn, UseFleetOptions, UseFleetReturn,
};
pub use use_predictive_maintenance::{
    use_predictive_maintenance, use_predictive_maintenance_with_options, AnalyzeDetailedFn,
    AnalyzeFn, SetThresholdFn, UsePredictiveMaintenanceOptions, UsePredictiveMaintenanceReturn,
};
pub use use_rules::{
    use_rules, use_rules_with_options, AddRuleFn, ApproveFn, EvaluateFn, RejectFn, RemoveRuleFn,
    RuleSource, UseRulesOptions, UseRulesReturn,
};
pub use use_sync::{use_sync, use_sync_with_options, UseSyncOptions, UseSyncReturn};
pub use use_telemetry::{
    use_telemetry, use_telemetry_with_options, TelemetryPoint, UseTelemetryOptions,
    UseTelemetryReturn,
};

pub use use_what_if::{
    use_what_if, use_what_if_with_options, RunScenarioFn, UseWhatIfOptions, UseWhatIfReturn,
};

pub use twinkit_web::{Fleet, Twin, WebError};
