//! Device lifecycle: provisioned → active → suspended → decommissioned, and
//! maintenance, kept by a fleet as an append-only event log from which the
//! states can be rebuilt.
//!
//! | state | desired values | commands | reports | rules act |
//! |---|---|---|---|---|
//! | `provisioned` | yes | no | yes | no |
//! | `active` | yes | yes | yes | yes |
//! | `maintenance` | yes | yes | yes | no |
//! | `suspended` | yes (held) | no | yes | no |
//! | `decommissioned` | no | no | no | no |
//!
//! A decommissioned twin is read-only: state, history, alerts and audit can
//! still be read. Entering `suspended` or `decommissioned` fails the
//! commands in flight; entering `decommissioned` also drops queued desired
//! values and disconnects. Allowed transitions:
//!
//! - `provisioned` → `active`, `decommissioned`;
//! - `active` → `maintenance`, `suspended`, `decommissioned`;
//! - `maintenance` → `active`, `suspended`, `decommissioned`;
//! - `suspended` → `active`, `maintenance`, `decommissioned`;
//! - `decommissioned` → none.

use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::error::TwinError;
use crate::Millis;

/// Where a device is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleState {
    /// Registered, not yet in service.
    Provisioned,
    /// In service (a twin not in a fleet is active).
    #[default]
    Active,
    /// Being serviced: users act on it, rules do not.
    Maintenance,
    /// Taken out of service for now: no commands.
    Suspended,
    /// Retired for good: read-only.
    Decommissioned,
}

impl LifecycleState {
    /// Every state.
    pub const ALL: [LifecycleState; 5] = [
        Self::Provisioned,
        Self::Active,
        Self::Maintenance,
        Self::Suspended,
        Self::Decommissioned,
    ];

    /// The name in JSON, e.g. `"decommissioned"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "provisioned",
            Self::Active => "active",
            Self::Maintenance => "maintenance",
            Self::Suspended => "suspended",
            Self::Decommissioned => "decommissioned",
        }
    }

    /// Whether a device may move from this state to `to`.
    pub fn can_become(self, to: LifecycleState) -> bool {
        use LifecycleState::*;
        matches!(
            (self, to),
            (Provisioned, Active | Decommissioned)
                | (Active, Maintenance | Suspended | Decommissioned)
                | (Maintenance, Active | Suspended | Decommissioned)
                | (Suspended, Active | Maintenance | Decommissioned)
        )
    }

    /// Whether commands may be sent.
    pub fn accepts_commands(self) -> bool {
        matches!(self, Self::Active | Self::Maintenance)
    }

    /// Whether desired values may be set.
    pub fn accepts_desired(self) -> bool {
        self != Self::Decommissioned
    }

    /// Whether reports from the device are applied.
    pub fn accepts_reports(self) -> bool {
        self != Self::Decommissioned
    }

    /// Whether rules may act.
    pub fn automation_allowed(self) -> bool {
        self == Self::Active
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Twins per lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleCounts {
    /// Provisioned twins.
    pub provisioned: usize,
    /// Active twins.
    pub active: usize,
    /// Twins in maintenance.
    pub maintenance: usize,
    /// Suspended twins.
    pub suspended: usize,
    /// Decommissioned twins.
    pub decommissioned: usize,
}

impl LifecycleCounts {
    /// Counts one twin in `state`.
    pub fn add(&mut self, state: LifecycleState) {
        *match state {
            LifecycleState::Provisioned => &mut self.provisioned,
            LifecycleState::Active => &mut self.active,
            LifecycleState::Maintenance => &mut self.maintenance,
            LifecycleState::Suspended => &mut self.suspended,
            LifecycleState::Decommissioned => &mut self.decommissioned,
        } += 1;
    }
}

/// What happened to a device, in a fleet's lifecycle log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum LifecycleChange {
    /// The device joined the fleet in `state`.
    Added {
        /// Its state on joining.
        state: LifecycleState,
    },
    /// The device moved between states.
    Transition {
        /// The state it left.
        from: LifecycleState,
        /// The state it entered.
        to: LifecycleState,
        /// Who moved it.
        actor: Actor,
        /// Why, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The device left the fleet.
    Removed,
    /// The device was put back into `state`, replayed from a persisted log
    /// (after a page reload, say; see [`replay`]).
    Restored {
        /// The state it was put back into.
        state: LifecycleState,
    },
}

/// One entry of the lifecycle log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleEvent {
    /// Position in the log, from 1, rising by one.
    pub seq: u64,
    /// The device.
    pub device_id: String,
    /// When, if the fleet was told (devices added without a time have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Millis>,
    /// What happened.
    #[serde(flatten)]
    pub change: LifecycleChange,
}

/// A fleet's append-only lifecycle log. Entries are only ever appended, by
/// the fleet; the public API reads them.
#[derive(Debug, Clone, Default)]
pub struct LifecycleLog {
    events: Vec<LifecycleEvent>,
}

impl LifecycleLog {
    pub(crate) fn append(
        &mut self,
        device_id: &str,
        timestamp: Option<Millis>,
        change: LifecycleChange,
    ) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(LifecycleEvent {
            seq,
            device_id: device_id.to_string(),
            timestamp,
            change,
        });
    }

    /// Records a device joining a host's fleet in `state`.
    pub fn record_added(&mut self, device_id: &str, state: LifecycleState, now: Millis) {
        self.append(device_id, Some(now), LifecycleChange::Added { state });
    }

    /// Records a device leaving a host's fleet.
    pub fn record_removed(&mut self, device_id: &str, now: Millis) {
        self.append(device_id, Some(now), LifecycleChange::Removed);
    }

    /// Records a transition made with [`crate::DigitalTwin::transition`]
    /// (for hosts that keep their twins outside a [`crate::FleetManager`]).
    pub fn record_transition(
        &mut self,
        device_id: &str,
        from: LifecycleState,
        to: LifecycleState,
        actor: Actor,
        reason: Option<&str>,
        now: Millis,
    ) -> &LifecycleEvent {
        self.append(
            device_id,
            Some(now),
            LifecycleChange::Transition {
                from,
                to,
                actor,
                reason: reason.map(crate::limits::printable),
            },
        );
        self.events
            .last()
            .unwrap_or_else(|| unreachable!("just appended"))
    }

    /// Records a device put back into `state` from a persisted log.
    pub fn record_restored(
        &mut self,
        device_id: &str,
        state: LifecycleState,
        now: Millis,
    ) -> &LifecycleEvent {
        self.append(device_id, Some(now), LifecycleChange::Restored { state });
        self.events
            .last()
            .unwrap_or_else(|| unreachable!("just appended"))
    }

    /// Every event, oldest first.
    pub fn events(&self) -> &[LifecycleEvent] {
        &self.events
    }

    /// The events of one device, oldest first.
    pub fn of_device<'a>(&'a self, device_id: &'a str) -> impl Iterator<Item = &'a LifecycleEvent> {
        self.events.iter().filter(move |e| e.device_id == device_id)
    }

    /// The log as JSON (an array of events), for a store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.events).unwrap_or_else(|_| "[]".to_string())
    }
}

/// Replays a lifecycle log: each device still in the fleet and its state,
/// in the order they joined. Refused, naming the event, when the log is not
/// one a fleet could have written: sequence numbers not 1, 2, 3…, a device
/// added twice or acting before it was added, a transition from a state it
/// was not in or not allowed.
pub fn rebuild(events: &[LifecycleEvent]) -> Result<IndexMap<String, LifecycleState>, TwinError> {
    let mut states: IndexMap<String, LifecycleState> = IndexMap::new();
    for (i, event) in events.iter().enumerate() {
        let bad = |reason: String| TwinError::InvalidLifecycleLog {
            seq: event.seq,
            reason,
        };
        if event.seq != i as u64 + 1 {
            return Err(bad(format!("expected sequence number {}", i + 1)));
        }
        let id = &event.device_id;
        match &event.change {
            LifecycleChange::Added { state } => {
                if states.contains_key(id) {
                    return Err(bad(format!("device `{id}` added twice")));
                }
                states.insert(id.clone(), *state);
            }
            LifecycleChange::Transition { from, to, .. } => {
                let current = states
                    .get_mut(id)
                    .ok_or_else(|| bad(format!("device `{id}` is not in the fleet")))?;
                if current != from {
                    return Err(bad(format!("device `{id}` is {current}, not {from}")));
                }
                if !from.can_become(*to) {
                    return Err(bad(format!("{from} cannot become {to}")));
                }
                *current = *to;
            }
            LifecycleChange::Removed => {
                states
                    .shift_remove(id)
                    .ok_or_else(|| bad(format!("device `{id}` is not in the fleet")))?;
            }
            LifecycleChange::Restored { state } => {
                let current = states
                    .get_mut(id)
                    .ok_or_else(|| bad(format!("device `{id}` is not in the fleet")))?;
                if *current == LifecycleState::Decommissioned && *state != *current {
                    return Err(bad(format!("device `{id}` is decommissioned")));
                }
                *current = *state;
            }
        }
    }
    Ok(states)
}

/// Each device's state after a persisted log, in the order devices first
/// appear: `Some(state)` while in the fleet, `None` once removed. Unlike
/// [`rebuild`], the log may have lost its oldest events (a store's
/// retention) and span several fleet sessions (sequence numbers start
/// again, a device is added again): a device's last event decides. Events
/// must be in the order they were logged.
pub fn replay<'a>(
    events: impl IntoIterator<Item = &'a LifecycleEvent>,
) -> IndexMap<String, Option<LifecycleState>> {
    let mut states: IndexMap<String, Option<LifecycleState>> = IndexMap::new();
    for event in events {
        let state = match &event.change {
            LifecycleChange::Added { state } | LifecycleChange::Restored { state } => Some(*state),
            LifecycleChange::Transition { to, .. } => Some(*to),
            LifecycleChange::Removed => None,
        };
        states.insert(event.device_id.clone(), state);
    }
    states
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_table() {
        use LifecycleState::*;
        let allowed: Vec<(LifecycleState, LifecycleState)> = LifecycleState::ALL
            .into_iter()
            .flat_map(|a| LifecycleState::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            [
                (Provisioned, Active),
                (Provisioned, Decommissioned),
                (Active, Maintenance),
                (Active, Suspended),
                (Active, Decommissioned),
                (Maintenance, Active),
                (Maintenance, Suspended),
                (Maintenance, Decommissioned),
                (Suspended, Active),
                (Suspended, Maintenance),
                (Suspended, Decommissioned),
            ]
        );
    }

    #[test]
    fn replay_takes_each_devices_last_event_across_sessions_and_lost_prefixes() {
        use LifecycleState::*;
        let mut log = LifecycleLog::default();
        // A log whose first events were dropped: `a` starts mid-way.
        log.record_transition("a", Active, Suspended, Actor::User, None, 1);
        log.record_added("b", Provisioned, 2);
        log.record_added("c", Active, 3);
        log.record_removed("c", 4);
        // The next session adds `b` again and restores its state.
        log.record_added("b", Active, 5);
        log.record_restored("b", Provisioned, 6);
        let states = replay(log.events());
        assert_eq!(
            states.into_iter().collect::<Vec<_>>(),
            [
                ("a".to_string(), Some(Suspended)),
                ("b".to_string(), Some(Provisioned)),
                ("c".to_string(), None)
            ]
        );
        // The strict rebuild refuses the same log, naming the event.
        assert!(matches!(
            rebuild(log.events()),
            Err(TwinError::InvalidLifecycleLog { seq: 1, .. })
        ));
        let mut fresh = LifecycleLog::default();
        fresh.record_added("d", Active, 1);
        fresh.record_restored("d", Maintenance, 2);
        assert_eq!(rebuild(fresh.events()).unwrap()["d"], Maintenance);
    }

    #[test]
    fn events_serialize_flat_and_camel_case() {
        let event = LifecycleEvent {
            seq: 2,
            device_id: "d".into(),
            timestamp: Some(5),
            change: LifecycleChange::Transition {
                from: LifecycleState::Active,
                to: LifecycleState::Suspended,
                actor: Actor::User,
                reason: Some("unpaid".into()),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq": 2, "deviceId": "d", "timestamp": 5, "type": "transition",
                "from": "active", "to": "suspended", "actor": {"kind": "user"}, "reason": "unpaid"})
        );
        assert_eq!(
            serde_json::from_value::<LifecycleEvent>(json).unwrap(),
            event
        );
    }
}
