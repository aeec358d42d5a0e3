//! [`use_fleet`]: a fleet of twins as signals: one summary per device
//! (with its lifecycle state), fleet totals (with counts per lifecycle
//! state) and a bounded list of recent events.

use std::sync::Arc;

use leptos::prelude::*;
use twinkit_core::{
    Actor, ConnectionState, DeviceConfig, DeviceEvent, EventType, FleetStatus, LifecycleEvent,
    LifecycleState, Millis, Severity, TwinOptions,
};
use twinkit_web::{Fleet, Twin, WebError};

use crate::util::{local, on_cleanup_local};

/// One device of a fleet, as the fleet overview shows it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeviceSummary {
    /// Device id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Device type.
    pub device_type: String,
    /// Connection state.
    pub connection: ConnectionState,
    /// When the state last changed (page-clock ms), if it ever did.
    pub last_update: Option<Millis>,
    /// State version (rises on every change).
    pub version: u64,
    /// Active alerts.
    pub active_alerts: usize,
    /// The most serious active alert, if any.
    pub worst_severity: Option<Severity>,
    /// Desired values the device has not reported yet.
    pub pending: usize,
    /// Where the device is in its life (a suspended device takes no
    /// commands; a decommissioned one is read-only).
    pub lifecycle: LifecycleState,
}

impl DeviceSummary {
    /// The summary of a twin as it is now.
    pub fn of(twin: &Twin) -> DeviceSummary {
        let core = twin.core();
        let config = core.config();
        let state = core.state();
        DeviceSummary {
            id: config.id.clone(),
            name: config.name.clone(),
            device_type: config.device_type.clone(),
            connection: core.connection_state(),
            last_update: (state.version() > 0).then(|| state.timestamp()),
            version: state.version(),
            active_alerts: core.alerts().active_count(),
            worst_severity: core.active_alerts().map(|a| a.severity).max(),
            pending: state.delta().len(),
            lifecycle: core.lifecycle(),
        }
    }
}

/// Options of [`use_fleet_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseFleetOptions {
    /// A fleet that lives elsewhere; the hook then only listens to it and
    /// leaves it as it is on cleanup. Default: `None` (the hook creates a
    /// fleet and disposes it, with every twin in it, on cleanup).
    pub fleet: Option<Fleet>,
    /// How many recent events [`UseFleetReturn::events`] keeps. Default: `100`.
    pub events_limit: usize,
    /// Which event types go into [`UseFleetReturn::events`]. Default:
    /// connected, disconnected, alert, command and error (telemetry and
    /// state changes arrive many times a second and are left out).
    pub event_types: Vec<EventType>,
    /// Options of the twins [`UseFleetReturn::add_device`] creates. Default:
    /// `TwinOptions::default()`.
    pub twin_options: TwinOptions,
    /// Whether `add_device` connects the twin it creates. Default: `true`.
    pub connect: bool,
}

impl Default for UseFleetOptions {
    fn default() -> Self {
        Self {
            fleet: None,
            events_limit: 100,
            event_types: vec![
                EventType::Connected,
                EventType::Disconnected,
                EventType::Alert,
                EventType::Command,
                EventType::Error,
            ],
            twin_options: TwinOptions::default(),
            connect: true,
        }
    }
}

impl UseFleetOptions {
    /// Sets [`UseFleetOptions::fleet`].
    pub fn fleet(mut self, fleet: Fleet) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// Sets [`UseFleetOptions::events_limit`].
    pub fn events_limit(mut self, limit: usize) -> Self {
        self.events_limit = limit;
        self
    }

    /// Sets [`UseFleetOptions::event_types`].
    pub fn event_types(mut self, types: Vec<EventType>) -> Self {
        self.event_types = types;
        self
    }

    /// Sets [`UseFleetOptions::twin_options`].
    pub fn twin_options(mut self, options: TwinOptions) -> Self {
        self.twin_options = options;
        self
    }

    /// Sets [`UseFleetOptions::connect`].
    pub fn connect(mut self, connect: bool) -> Self {
        self.connect = connect;
        self
    }
}

/// `add_device(config)` of [`UseFleetReturn`].
pub type AddDeviceFn = Arc<dyn Fn(DeviceConfig) -> Result<Twin, WebError> + Send + Sync>;
/// `remove_device(id)` of [`UseFleetReturn`].
pub type RemoveDeviceFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;
/// `connect_all()` of [`UseFleetReturn`].
pub type ConnectAllFn = Arc<dyn Fn() -> Result<(), WebError> + Send + Sync>;
/// A closure without arguments or result (`disconnect_all`, `refresh`).
pub type ActionFn = Arc<dyn Fn() + Send + Sync>;
/// `set_lifecycle(device_id, state, reason)` of [`UseFleetReturn`].
pub type SetLifecycleFn = Arc<
    dyn Fn(&str, LifecycleState, Option<&str>) -> Result<LifecycleEvent, WebError> + Send + Sync,
>;

/// What [`use_fleet`] returns.
#[derive(Clone)]
pub struct UseFleetReturn {
    /// The fleet handle (`fleet.get(id)` gives a device's twin).
    pub fleet: Fleet,
    /// One summary per device, in the order added; a device's entry changes
    /// only when its summary does.
    pub devices: Signal<Vec<DeviceSummary>>,
    /// Fleet totals: devices, connected, disconnected, connecting, alerts,
    /// and devices per lifecycle state (`status.lifecycle`).
    pub status: Signal<FleetStatus>,
    /// Recent events of every device (oldest first), bounded by
    /// [`UseFleetOptions::events_limit`].
    pub events: Signal<Vec<DeviceEvent>>,
    /// `add_device(config)`: creates a twin, connects it (see
    /// [`UseFleetOptions::connect`]) and adds it; a taken id or an invalid
    /// configuration is an error and nothing changes.
    pub add_device: AddDeviceFn,
    /// `remove_device(id)`: removes and disposes a device's twin; whether it
    /// was there.
    pub remove_device: RemoveDeviceFn,
    /// Connects every twin; the first error after trying them all.
    pub connect_all: ConnectAllFn,
    /// Disconnects every twin.
    pub disconnect_all: ActionFn,
    /// `set_lifecycle(device_id, state, reason)`: moves a device to another
    /// lifecycle state as the user, and logs it in the fleet's lifecycle
    /// log. Entering `suspended` or `decommissioned` fails its commands in
    /// flight. An unknown device or a transition not allowed (see
    /// `twinkit_core::lifecycle`) is an error and changes nothing.
    pub set_lifecycle: SetLifecycleFn,
    /// Re-reads the device list from the fleet, for twins added with
    /// `fleet.add` directly rather than through `add_device`, or moved with
    /// `fleet.set_lifecycle` rather than through `set_lifecycle`.
    pub refresh: ActionFn,
}

/// A new fleet as signals. See [`use_fleet_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use serde_json::json;
/// use twinkit_core::DeviceConfig;
/// use twinkit_leptos::{use_fleet, UseFleetReturn};
///
/// #[component]
/// fn Overview() -> impl IntoView {
///     let UseFleetReturn { devices, status, add_device, .. } = use_fleet();
///     let config = DeviceConfig::from_value(json!({
///         "id": "motor-1", "name": "Pump motor", "type": "motor",
///         "properties": [{ "name": "rpm", "type": "number", "telemetry": true }]
///     }))
///     .expect("a valid configuration");
///     add_device(config).expect("a new id");
///     view! {
///         <p>{move || format!("{} devices, {} alerts", status.get().total, status.get().alerts)}</p>
///         <ul>
///             <For each=move || devices.get() key=|d| d.id.clone() let:device>
///                 <li>{device.name}</li>
///             </For>
///         </ul>
///     }
/// }
/// ```
pub fn use_fleet() -> UseFleetReturn {
    use_fleet_with_options(UseFleetOptions::default())
}

/// A fleet as signals.
pub fn use_fleet_with_options(options: UseFleetOptions) -> UseFleetReturn {
    let UseFleetOptions {
        fleet,
        events_limit,
        event_types,
        twin_options,
        connect,
    } = options;
    let owned = fleet.is_none();
    let fleet = fleet.unwrap_or_default();

    let devices = RwSignal::new(
        fleet
            .twins()
            .iter()
            .map(DeviceSummary::of)
            .collect::<Vec<_>>(),
    );
    let events = RwSignal::new(Vec::<DeviceEvent>::new());
    let status = Memo::new(move |_| devices.with(|d| tally(d)));

    let reader = fleet.downgrade();
    let subscription = fleet.subscribe(move |event| {
        if let Some(twin) = reader.upgrade().and_then(|f| f.get(&event.device_id)) {
            let summary = DeviceSummary::of(&twin);
            let changed = devices.try_with_untracked(|list| {
                list.iter()
                    .position(|d| d.id == summary.id)
                    .filter(|&i| list[i] != summary)
            });
            if let Some(Some(index)) = changed {
                devices.try_update(|list| list[index] = summary);
            }
        }
        if event_types.contains(&event.event_type()) && events_limit > 0 {
            events.try_update(|list| {
                if list.len() >= events_limit {
                    list.drain(..=list.len() - events_limit);
                }
                list.push(event.clone());
            });
        }
        Ok(())
    });

    let cleanup_fleet = fleet.clone();
    on_cleanup_local(move || {
        drop(subscription);
        if owned {
            cleanup_fleet.dispose();
        }
    });

    let refresh_fleet = local(fleet.clone());
    let refresh = Arc::new(move || {
        let list: Vec<DeviceSummary> = refresh_fleet
            .twins()
            .iter()
            .map(DeviceSummary::of)
            .collect();
        if devices.try_with_untracked(|d| *d != list) == Some(true) {
            devices.try_set(list);
        }
    });

    let add_fleet = local(fleet.clone());
    let add_refresh = Arc::clone(&refresh);
    let add_device: AddDeviceFn = Arc::new(move |config: DeviceConfig| {
        let twin = Twin::new(config, twin_options.clone())?;
        add_fleet.add(twin.clone())?;
        if connect {
            if let Err(error) = twin.connect() {
                add_fleet.remove(&twin.id());
                add_refresh();
                return Err(error);
            }
        }
        add_refresh();
        Ok(twin)
    });

    let remove_fleet = local(fleet.clone());
    let remove_refresh = Arc::clone(&refresh);
    let remove_device: RemoveDeviceFn = Arc::new(move |device_id: &str| {
        let removed = remove_fleet.remove(device_id);
        remove_refresh();
        removed
    });

    let connect_fleet = local(fleet.clone());
    let connect_all: ConnectAllFn = Arc::new(move || connect_fleet.connect_all());
    let disconnect_fleet = local(fleet.clone());
    let disconnect_all: ActionFn = Arc::new(move || disconnect_fleet.disconnect_all());

    // A transition raises no twin event (unless commands fail), so the
    // summaries are re-read here.
    let lifecycle_fleet = local(fleet.clone());
    let lifecycle_refresh = Arc::clone(&refresh);
    let set_lifecycle: SetLifecycleFn = Arc::new(
        move |device_id: &str, state: LifecycleState, reason: Option<&str>| {
            let logged = lifecycle_fleet.set_lifecycle(device_id, state, Actor::User, reason);
            lifecycle_refresh();
            logged
        },
    );

    UseFleetReturn {
        fleet,
        devices: devices.into(),
        status: status.into(),
        events: events.into(),
        add_device,
        remove_device,
        connect_all,
        disconnect_all,
        set_lifecycle,
        refresh,
    }
}

impl std::fmt::Debug for UseFleetReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseFleetReturn")
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

/// Fleet totals from the summaries (the same counts as `Fleet::status`,
/// without borrowing every twin again).
fn tally(devices: &[DeviceSummary]) -> FleetStatus {
    let mut status = FleetStatus::default();
    for device in devices {
        status.total += 1;
        match device.connection {
            ConnectionState::Connected => status.connected += 1,
            ConnectionState::Connecting => status.connecting += 1,
            ConnectionState::Disconnected => {}
        }
        status.alerts += device.active_alerts;
        status.lifecycle.add(device.lifecycle);
    }
    status.disconnected = status.total - status.connected;
    status
}
