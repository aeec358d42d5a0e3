//! A fleet of twins, with their events merged into one stream, their
//! lifecycle kept as an append-only log (see [`crate::lifecycle`]) and their
//! audit trails merged.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditEntry, AuditQuery};
use crate::config::{DeviceConfig, TwinOptions};
use crate::error::TwinError;
use crate::events::{DeviceEvent, EventBus, Subscription};
use crate::lifecycle::{
    LifecycleChange, LifecycleCounts, LifecycleEvent, LifecycleLog, LifecycleState,
};
use crate::twin::{ConnectionState, DigitalTwin};
use crate::Millis;

/// Counts over a fleet (the reference's `getFleetStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStatus {
    /// Twins in the fleet.
    pub total: usize,
    /// Twins connected.
    pub connected: usize,
    /// Twins not connected (including those still connecting).
    pub disconnected: usize,
    /// Twins still connecting (also counted in `disconnected`).
    pub connecting: usize,
    /// Active alerts over all twins.
    pub alerts: usize,
    /// Twins per lifecycle state.
    pub lifecycle: LifecycleCounts,
}

impl FleetStatus {
    /// Counts over any set of twins (bindings that hold twins their own way
    /// count through here too).
    pub fn tally<'a>(twins: impl IntoIterator<Item = &'a DigitalTwin>) -> Self {
        let mut status = Self::default();
        for twin in twins {
            status.total += 1;
            match twin.connection_state() {
                ConnectionState::Connected => status.connected += 1,
                ConnectionState::Connecting => status.connecting += 1,
                ConnectionState::Disconnected => {}
            }
            status.alerts += twin.alerts().active_count();
            status.lifecycle.add(twin.lifecycle());
        }
        status.disconnected = status.total - status.connected;
        status
    }
}

/// Many twins by device id, in the order they were added.
#[derive(Debug, Default)]
pub struct FleetManager {
    twins: IndexMap<String, DigitalTwin>,
    bus: EventBus,
    lifecycle: LifecycleLog,
}

impl FleetManager {
    /// An empty fleet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a twin and adds it (the reference's `addDevice`). Refused if
    /// the configuration is invalid or the id is taken.
    pub fn add_device(&mut self, config: DeviceConfig) -> Result<&mut DigitalTwin, TwinError> {
        self.add_device_with_options(config, TwinOptions::default())
    }

    /// Creates a twin with options and adds it.
    pub fn add_device_with_options(
        &mut self,
        config: DeviceConfig,
        options: TwinOptions,
    ) -> Result<&mut DigitalTwin, TwinError> {
        if self.twins.contains_key(&config.id) {
            return Err(TwinError::DuplicateDevice {
                device_id: config.id,
            });
        }
        let twin = DigitalTwin::with_options(config, options)?;
        self.add_twin(twin)
    }

    /// Adds an existing twin; its events are forwarded to fleet handlers.
    /// It joins in its lifecycle state (`active` for a new twin), logged
    /// without a time.
    pub fn add_twin(&mut self, twin: DigitalTwin) -> Result<&mut DigitalTwin, TwinError> {
        self.join(twin, None)
    }

    /// Creates a twin in state `provisioned` (no commands, no rules until it
    /// is made `active`) and adds it, logged at `now`.
    pub fn provision_device(
        &mut self,
        config: DeviceConfig,
        options: TwinOptions,
        now: Millis,
    ) -> Result<&mut DigitalTwin, TwinError> {
        if self.twins.contains_key(&config.id) {
            return Err(TwinError::DuplicateDevice {
                device_id: config.id,
            });
        }
        let mut twin = DigitalTwin::with_options(config, options)?;
        twin.set_lifecycle(LifecycleState::Provisioned, now);
        self.join(twin, Some(now))
    }

    fn join(
        &mut self,
        twin: DigitalTwin,
        now: Option<Millis>,
    ) -> Result<&mut DigitalTwin, TwinError> {
        let id = twin.id().to_string();
        if self.twins.contains_key(&id) {
            return Err(TwinError::DuplicateDevice { device_id: id });
        }
        self.lifecycle.append(
            &id,
            now,
            LifecycleChange::Added {
                state: twin.lifecycle(),
            },
        );
        let bus = self.bus.clone();
        // The twin's own bus owns this forwarder; disposing the twin ends it.
        twin.on_any(move |event| bus.emit(event));
        Ok(self.twins.entry(id).or_insert(twin))
    }

    /// The twin of a device (the reference's `getDevice`).
    pub fn device(&self, device_id: &str) -> Option<&DigitalTwin> {
        self.twins.get(device_id)
    }

    /// The twin of a device, to act on it.
    pub fn device_mut(&mut self, device_id: &str) -> Option<&mut DigitalTwin> {
        self.twins.get_mut(device_id)
    }

    /// Every twin, in the order added (the reference's `getAllDevices`).
    pub fn devices(&self) -> impl Iterator<Item = &DigitalTwin> {
        self.twins.values()
    }

    /// Every twin, to act on them.
    pub fn devices_mut(&mut self) -> impl Iterator<Item = &mut DigitalTwin> {
        self.twins.values_mut()
    }

    /// Number of twins.
    pub fn len(&self) -> usize {
        self.twins.len()
    }

    /// Whether the fleet is empty.
    pub fn is_empty(&self) -> bool {
        self.twins.is_empty()
    }

    /// Removes a device (the reference's `removeDevice`): its twin is
    /// disconnected (fleet handlers see that), disposed and dropped.
    pub fn remove_device(&mut self, device_id: &str, now: Millis) -> Result<(), TwinError> {
        let mut twin =
            self.twins
                .shift_remove(device_id)
                .ok_or_else(|| TwinError::UnknownDevice {
                    device_id: crate::limits::printable(device_id),
                })?;
        // Fleet handlers still see the twin's last events (commands failed,
        // disconnected); disposing also ends the forwarding subscription.
        twin.dispose(now);
        self.lifecycle
            .append(device_id, Some(now), LifecycleChange::Removed);
        Ok(())
    }

    // ----- lifecycle -------------------------------------------------------

    /// Moves a device to another lifecycle state, by `actor`, and logs it.
    /// Refused, changing nothing, when the transition is not allowed.
    pub fn set_lifecycle(
        &mut self,
        device_id: &str,
        to: LifecycleState,
        actor: Actor,
        reason: Option<&str>,
        now: Millis,
    ) -> Result<&LifecycleEvent, TwinError> {
        actor.check()?;
        let twin = self
            .twins
            .get_mut(device_id)
            .ok_or_else(|| TwinError::UnknownDevice {
                device_id: crate::limits::printable(device_id),
            })?;
        let from = twin.lifecycle();
        if !from.can_become(to) {
            return Err(TwinError::InvalidTransition {
                device_id: device_id.to_string(),
                from,
                to,
            });
        }
        twin.set_lifecycle(to, now);
        self.lifecycle.append(
            device_id,
            Some(now),
            LifecycleChange::Transition {
                from,
                to,
                actor,
                reason: reason.map(crate::limits::printable),
            },
        );
        Ok(self
            .lifecycle
            .events()
            .last()
            .unwrap_or_else(|| unreachable!("just appended")))
    }

    /// The append-only lifecycle log.
    pub fn lifecycle_log(&self) -> &LifecycleLog {
        &self.lifecycle
    }

    /// Each device's lifecycle state, in the order added.
    pub fn lifecycle_states(&self) -> IndexMap<String, LifecycleState> {
        self.twins
            .iter()
            .map(|(id, t)| (id.clone(), t.lifecycle()))
            .collect()
    }

    // ----- audit -----------------------------------------------------------

    /// Every twin's audit entries matching `query`, merged in time order
    /// (ties in the order twins were added); `limit` applies to the merge.
    pub fn audit(&self, query: &AuditQuery) -> Vec<&AuditEntry> {
        let unlimited = AuditQuery {
            limit: None,
            ..query.clone()
        };
        let mut all: Vec<&AuditEntry> = self
            .devices()
            .flat_map(|t| t.audit_entries(&unlimited))
            .collect();
        // Stable: entries of one twin keep their order.
        all.sort_by_key(|e| e.timestamp());
        if let Some(limit) = query.limit {
            all.drain(..all.len().saturating_sub(limit));
        }
        all
    }

    /// Connects every twin (the reference's `connectAll`).
    pub fn connect_all(&mut self, now: Millis) {
        for twin in self.devices_mut() {
            twin.connect(now);
        }
    }

    /// Disconnects every twin (the reference's `disconnectAll`).
    pub fn disconnect_all(&mut self, now: Millis) {
        for twin in self.devices_mut() {
            twin.disconnect(now);
        }
    }

    /// Calls `handler` for every event of every twin, with its device id
    /// (the reference's `onEvent`).
    pub fn on_event(&self, handler: impl FnMut(&DeviceEvent) + 'static) -> Subscription {
        self.bus.subscribe(None, handler)
    }

    /// Counts over the fleet (the reference's `getFleetStatus`).
    pub fn status(&self) -> FleetStatus {
        FleetStatus::tally(self.devices())
    }

    /// The earliest deadline over all twins.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.devices().filter_map(DigitalTwin::poll_timeout).min()
    }

    /// Acts on every twin's passed deadlines.
    pub fn handle_timeout(&mut self, now: Millis) {
        for twin in self.devices_mut() {
            twin.handle_timeout(now);
        }
    }
}
