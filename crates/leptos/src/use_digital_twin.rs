//! [`use_digital_twin`]: one twin's state, connection and commands as
//! signals, with closures to change it.

use std::sync::Arc;

use leptos::prelude::*;
use serde_json::Value;
use twinkit_core::events::ErrorInfo;
use twinkit_core::{DeviceCommand, DeviceConfig, DeviceState, EventData, EventType, TwinOptions};
use twinkit_web::{Twin, WebError};

use crate::util::{local, on_cleanup_local, set_if_changed};

/// Where [`use_digital_twin`] gets its twin.
#[derive(Debug, Clone)]
pub enum TwinSource {
    /// Create a twin from this configuration. The hook owns it: it connects
    /// it on mount (see [`UseDigitalTwinOptions::connect`]) and disposes it
    /// when the owner is cleaned up.
    Config(Box<DeviceConfig>),
    /// Use a twin that lives elsewhere (a fleet's, say). The hook only
    /// listens to it; cleanup ends the hook's subscriptions and leaves the
    /// twin as it is.
    Twin(Twin),
}

impl From<DeviceConfig> for TwinSource {
    fn from(config: DeviceConfig) -> Self {
        TwinSource::Config(Box::new(config))
    }
}

impl From<Twin> for TwinSource {
    fn from(twin: Twin) -> Self {
        TwinSource::Twin(twin)
    }
}

impl From<&Twin> for TwinSource {
    fn from(twin: &Twin) -> Self {
        TwinSource::Twin(twin.clone())
    }
}

/// Options of [`use_digital_twin_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseDigitalTwinOptions {
    /// Options of a twin the hook creates (ignored for a given twin).
    /// Default: `TwinOptions::default()`.
    pub twin_options: TwinOptions,
    /// Whether to connect a twin the hook creates when the hook runs.
    /// Default: `true`.
    pub connect: bool,
    /// How many commands [`UseDigitalTwinReturn::commands`] lists, newest
    /// first. Default: `20`.
    pub commands_limit: usize,
}

impl Default for UseDigitalTwinOptions {
    fn default() -> Self {
        Self {
            twin_options: TwinOptions::default(),
            connect: true,
            commands_limit: 20,
        }
    }
}

impl std::fmt::Debug for UseDigitalTwinReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseDigitalTwinReturn")
            .field("twin", &self.twin)
            .finish_non_exhaustive()
    }
}

impl UseDigitalTwinOptions {
    /// Sets [`UseDigitalTwinOptions::twin_options`].
    pub fn twin_options(mut self, options: TwinOptions) -> Self {
        self.twin_options = options;
        self
    }

    /// Sets [`UseDigitalTwinOptions::connect`].
    pub fn connect(mut self, connect: bool) -> Self {
        self.connect = connect;
        self
    }

    /// Sets [`UseDigitalTwinOptions::commands_limit`].
    pub fn commands_limit(mut self, limit: usize) -> Self {
        self.commands_limit = limit;
        self
    }
}

/// `set_desired(property, value)` of [`UseDigitalTwinReturn`].
pub type SetDesiredFn = Arc<dyn Fn(&str, Value) -> Result<(), WebError> + Send + Sync>;
/// `send_command(name, payload)` of [`UseDigitalTwinReturn`].
pub type SendCommandFn = Arc<dyn Fn(&str, Value) -> Result<DeviceCommand, WebError> + Send + Sync>;

/// What [`use_digital_twin`] returns.
#[derive(Clone)]
pub struct UseDigitalTwinReturn {
    /// The twin handle.
    pub twin: Twin,
    /// The twin's state (reported, desired, delta, metadata); changes with
    /// every state change of the twin.
    pub state: Signal<DeviceState>,
    /// Whether the twin is connected.
    pub is_connected: Signal<bool>,
    /// The twin's recent commands, in flight and finished, newest first,
    /// each with its current status.
    pub commands: Signal<Vec<DeviceCommand>>,
    /// The last `error` event of the twin (a refused report value, an
    /// unknown command response, ...).
    pub last_error: Signal<Option<ErrorInfo>>,
    /// `set_desired(property, value)`: asks the device for a value; refused
    /// values (unknown, read-only, wrong type, out of range) are errors and
    /// change nothing.
    pub set_desired: SetDesiredFn,
    /// `send_command(name, payload)`: queues a command and returns it
    /// (status `pending`); follow it in `commands`.
    pub send_command: SendCommandFn,
}

/// A twin as signals, with default options. See
/// [`use_digital_twin_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use serde_json::json;
/// use twinkit_core::DeviceConfig;
/// use twinkit_leptos::{use_digital_twin, UseDigitalTwinReturn};
///
/// #[component]
/// fn Thermostat() -> impl IntoView {
///     let config = DeviceConfig::from_value(json!({
///         "id": "thermostat-1", "name": "Hall", "type": "thermostat",
///         "properties": [
///             { "name": "temperature", "type": "number", "telemetry": true },
///             { "name": "setpoint", "type": "number", "min": 10, "max": 30, "writable": true }
///         ]
///     }))
///     .expect("a valid configuration");
///     let UseDigitalTwinReturn { state, is_connected, set_desired, .. } =
///         use_digital_twin(config).expect("the twin is created");
///     view! {
///         <p>{move || if is_connected.get() { "online" } else { "offline" }}</p>
///         <p>{move || state.with(|s| format!("{:?}", s.reported().get("temperature")))}</p>
///         <button on:click=move |_| { let _ = set_desired("setpoint", json!(21)); }>"21 °C"</button>
///     }
/// }
/// ```
pub fn use_digital_twin(source: impl Into<TwinSource>) -> Result<UseDigitalTwinReturn, WebError> {
    use_digital_twin_with_options(source, UseDigitalTwinOptions::default())
}

/// A twin as signals. Creating a twin from a configuration can fail (an
/// invalid configuration, a `connectionType` this build cannot connect);
/// the error names the problem and nothing is left behind.
pub fn use_digital_twin_with_options(
    source: impl Into<TwinSource>,
    options: UseDigitalTwinOptions,
) -> Result<UseDigitalTwinReturn, WebError> {
    let UseDigitalTwinOptions {
        twin_options,
        connect,
        commands_limit,
    } = options;
    let (twin, owned) = match source.into() {
        TwinSource::Config(config) => {
            let twin = Twin::new(*config, twin_options)?;
            if connect {
                if let Err(error) = twin.connect() {
                    twin.dispose();
                    return Err(error);
                }
            }
            (twin, true)
        }
        TwinSource::Twin(twin) => (twin, false),
    };

    let state = RwSignal::new(twin.core().state().clone());
    let is_connected = RwSignal::new(twin.core().is_connected());
    let commands = RwSignal::new(recent_commands(&twin, commands_limit));
    let last_error = RwSignal::new(None::<ErrorInfo>);

    // One listener per event type the hook reads, so the core does not
    // build telemetry payloads for this hook (a charting hook asks for them).
    let reader = twin.downgrade();
    let listener = move |event: &twinkit_core::DeviceEvent| {
        match &event.data {
            // The state version rises on every change: comparing it is
            // enough, and cheaper than comparing the maps.
            EventData::StateChange(new)
                if state.try_with_untracked(|s| s.version() != new.version()) == Some(true) =>
            {
                state.try_set((**new).clone());
            }
            EventData::Connected(_) => {
                set_if_changed(is_connected, true);
            }
            EventData::Disconnected(_) => {
                set_if_changed(is_connected, false);
            }
            EventData::Command(_) => {
                if let Some(twin) = reader.upgrade() {
                    set_if_changed(commands, recent_commands(&twin, commands_limit));
                }
            }
            EventData::Error(info) => {
                set_if_changed(last_error, Some(info.clone()));
            }
            _ => {}
        }
        Ok(())
    };
    let subscriptions: Vec<_> = [
        EventType::StateChange,
        EventType::Connected,
        EventType::Disconnected,
        EventType::Command,
        EventType::Error,
    ]
    .into_iter()
    .map(|t| twin.subscribe(Some(t), listener.clone()))
    .collect();

    let cleanup_twin = twin.clone();
    on_cleanup_local(move || {
        drop(subscriptions);
        if owned {
            cleanup_twin.dispose();
        }
    });

    let desired_twin = local(twin.clone());
    let set_desired: SetDesiredFn = Arc::new(move |property: &str, value: Value| {
        desired_twin.update(|core, now| core.set_desired(property, value, now))??;
        Ok(())
    });
    let command_twin = local(twin.clone());
    let send_command: SendCommandFn = Arc::new(move |name: &str, payload: Value| {
        Ok(command_twin.update(|core, now| core.send_command(name, payload, now))??)
    });

    Ok(UseDigitalTwinReturn {
        twin,
        state: state.into(),
        is_connected: is_connected.into(),
        commands: commands.into(),
        last_error: last_error.into(),
        set_desired,
        send_command,
    })
}

/// The newest `limit` commands of a twin, in flight and finished, newest
/// first.
fn recent_commands(twin: &Twin, limit: usize) -> Vec<DeviceCommand> {
    let core = twin.core();
    let commands = core.commands();
    let mut all: Vec<DeviceCommand> = commands
        .in_flight()
        .chain(commands.recent())
        .cloned()
        .collect();
    all.sort_by_key(|c| std::cmp::Reverse(c.timestamp));
    all.truncate(limit);
    all
}
