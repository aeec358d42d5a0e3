//! Keeping desired and reported state in step: optimistic concurrency on
//! desired values, divergence tracking and a bounded sync history.
//!
//! # Versions and conflicts
//!
//! As with AWS IoT Device Shadow's `version`, an edit may carry the state
//! version it was based on (what the writer read from
//! [`crate::DeviceState::version`], or the [`DesiredWrite::version`] of its
//! own previous edit). The twin remembers, per property, the state version
//! at which its desired value and its reported value last changed. An edit
//! based on version `b` is *stale* when the property's desired value changed
//! after `b` (another writer got there first), or when `b` is newer than the
//! twin's version (a version this twin never had). Only the edited property
//! counts: telemetry moving other properties never makes an edit stale.
//!
//! What happens to a stale edit is the twin's [`ConflictStrategy`]
//! (`TwinOptions::conflict_strategy`):
//!
//! - `reject` (the default): refused with [`crate::TwinError::Conflict`],
//!   which carries the current state, its version and the winning value, so
//!   the loser can show it or retry on top of it;
//! - `lastWriterWins`: applied; [`DesiredWrite::overwritten`] returns the
//!   value it replaced, so the overwrite is never silent;
//! - `deviceWins`: also refused when the device reported the property after
//!   the edit's base version (the winner is the reported value); stale
//!   against another edit, refused as with `reject`;
//! - `custom`: the merge callback set with
//!   [`crate::DigitalTwin::set_merge`] decides (a value to write, or keep
//!   the winner); without a callback, stale edits are refused.
//!
//! Edits without a base version ([`crate::DigitalTwin::set_desired`]) are
//! last-writer-wins, as before versions existed.
//!
//! # Other clients of the same device
//!
//! Twins of one device in other pages (or other processes) keep their own
//! state versions, so a base version cannot order their edits. What orders
//! them is the device's desired channel: over MQTT every twin follows the
//! device's `/desired` topic, which the broker delivers to the device and
//! to every twin in one order; over the WebSocket JSON protocol the server
//! relays each desired message the device accepted to every client
//! following the device. Each message names the connection that wrote it
//! (`origin`), so a twin tells its own edits (their echo) from others'
//! ([`crate::Inbound::Desired`]). The device applies desired values in that
//! order, so the last one wins there, and each twin follows it:
//!
//! - another client's value arriving while this twin's own edit of the
//!   property is still queued or on its way (not echoed yet) is older than
//!   that edit: the device will take ours, the twin keeps it;
//! - otherwise the twin adopts the other client's value as its desired
//!   value (its state version rises, source `cloud`; nothing is sent). If
//!   this twin's own edit was still waiting for the device, that edit lost:
//!   its audit entry becomes `superseded` and the twin emits an `error`
//!   event [`crate::TwinError::Conflict`] (code `CONFLICT`, side
//!   [`ConflictSide::OtherClient`]) with the winner, the value it replaced
//!   and the current state — "conflict: property `setpoint` was set to 26
//!   by another client at version 9". Whatever the strategy: the device
//!   already applied the later value, so the twin reports it rather than
//!   hiding it; with `reject`, an edit still based on a version before the
//!   adopted value is refused as stale like any other. The same conflict is
//!   raised when the device had already taken this twin's edit but the
//!   other client wrote without having seen that: each desired message
//!   carries the device version its writer had last seen
//!   ([`crate::DeviceState::device_version`]), and one older than the
//!   report of our value was written in ignorance of it. A writer that had
//!   seen it made an ordinary later edit: adopted without a conflict.
//!
//! Two twins of one device sharing one connection cannot tell each other's
//! edits from their own; give each its own connection.
//!
//! # Divergence
//!
//! A property *diverges* while it has a desired value the device has not
//! reported (it is in the state's `delta`). The twin keeps since when, and
//! [`Divergence`] says by how much. With `TwinOptions::divergence_timeout`,
//! a property still diverging after that long raises one alert (condition
//! `DESIRED_NOT_REACHED`), cleared when the device reaches the value or the
//! desired value is cleared.
//!
//! # Sync history
//!
//! Every desired value taken by [`crate::DigitalTwin::poll_outbound`] and
//! every reported value of a property that has a desired value is recorded
//! as a [`SyncRecord`], bounded by `TwinOptions::sync_history_capacity`.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::{same_value, DeviceState};
use crate::Millis;

/// What to do with an edit based on a stale version (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ConflictStrategy {
    /// Refuse it with a conflict error (the default).
    #[default]
    Reject,
    /// Apply it, returning the value it overwrote.
    LastWriterWins,
    /// The device's later report wins; stale against another edit, refuse.
    DeviceWins,
    /// A merge callback decides; refuse while none is set.
    Custom,
}

/// Which side holds the value that won a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConflictSide {
    /// Another edit of the desired value.
    Desired,
    /// A value the device reported.
    Reported,
    /// Another client's edit, seen on the device's desired channel after
    /// this twin's own edit (so the device took it last).
    OtherClient,
}

/// Why an edit was refused as stale, with what won.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The property edited.
    pub property: String,
    /// The version the edit was based on.
    pub base_version: u64,
    /// The twin's state version now.
    pub current_version: u64,
    /// The state version at which the winning value was written.
    pub winner_version: u64,
    /// Which side won.
    pub winner_side: ConflictSide,
    /// The winning value (`null` when the desired value was cleared).
    pub winner: Value,
    /// The value the edit tried to write.
    pub attempted: Value,
    /// The current state, to show the winner or retry on top of it.
    pub state: DeviceState,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.winner_side {
            ConflictSide::Desired => "its desired value was changed",
            ConflictSide::Reported => "the device reported it",
            ConflictSide::OtherClient => {
                return write!(
                    f,
                    "conflict: property `{}` was set to {} by another client at version {}, replacing this twin's pending edit ({}, version {}); current version {}",
                    self.property,
                    self.winner,
                    self.winner_version,
                    self.attempted,
                    self.base_version,
                    self.current_version
                )
            }
        };
        write!(
            f,
            "conflict on `{}`: the edit was based on version {}, but {side} at version {} (now {}); current version {}",
            self.property, self.base_version, self.winner_version, self.winner, self.current_version
        )
    }
}

/// What a merge callback is given.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MergeInput<'a> {
    /// The property edited.
    pub property: &'a str,
    /// The version the edit was based on.
    pub base_version: u64,
    /// The value the edit wants to write.
    pub ours: &'a Value,
    /// The current desired value (`None` when there is none).
    pub theirs: Option<&'a Value>,
    /// The current reported value.
    pub reported: Option<&'a Value>,
    /// The state version at which `theirs` was written.
    pub theirs_version: u64,
}

/// A merge callback's decision.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MergeDecision {
    /// Write this value (checked like any desired value; `null` clears).
    Write(Value),
    /// Keep the current value: the edit is refused with a conflict error.
    KeepTheirs,
}

/// A merge callback (see [`crate::DigitalTwin::set_merge`]).
pub type MergeFn = Box<dyn FnMut(&MergeInput<'_>) -> MergeDecision>;

/// An accepted desired edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredWrite {
    /// The property.
    pub property: String,
    /// The value now desired (`null` when cleared).
    pub value: Value,
    /// The state version after the edit: the base for the writer's next
    /// edit of this property.
    pub version: u64,
    /// With last-writer-wins or a merge, the concurrent value this edit
    /// replaced (`null` when that was a clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwritten: Option<Value>,
    /// Whether a merge callback chose the value.
    #[serde(default)]
    pub merged: bool,
    /// The audit entry recording the edit (none when nothing changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<u64>,
}

/// How far a desired value is from what the device reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Divergence {
    /// The property.
    pub property: String,
    /// The desired value.
    pub desired: Value,
    /// The reported value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Value>,
    /// Since when the property diverges.
    pub since: Millis,
    /// For how long, at the time asked.
    pub duration: Millis,
    /// `desired − reported` for numbers (signed); none otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    /// The divergence alert, once raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
}

/// Which way a sync record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncDirection {
    /// A desired value handed to the transport.
    Sent,
    /// A reported value that came back.
    Received,
}

/// One step of keeping a property in sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRecord {
    /// When.
    pub timestamp: Millis,
    /// The property.
    pub property: String,
    /// Sent or received.
    pub direction: SyncDirection,
    /// The value sent or reported (`null` for a clear or a removal).
    pub value: Value,
    /// The state version the value belongs to.
    pub version: u64,
    /// Whether reported and desired agreed after this step.
    pub in_sync: bool,
}

/// Per-property bookkeeping of one twin.
#[derive(Debug, Default)]
pub(crate) struct SyncTracker {
    /// State version at which each property's desired value last changed.
    desired_version: HashMap<String, u64>,
    /// State version at which each property's reported value last changed.
    reported_version: HashMap<String, u64>,
    /// Since when each property of the delta diverges, and its alert.
    diverging: HashMap<String, (Millis, Option<String>)>,
    /// Per property, desired messages sent and not yet seen coming back on
    /// the device's desired channel.
    in_flight: HashMap<String, u32>,
    /// Per property, the device version at which the device reported this
    /// twin's latest edit (until another client's edit replaces it).
    reached: HashMap<String, u64>,
    history: VecDeque<SyncRecord>,
    history_capacity: usize,
    /// Records ever added to the history (a host persisting it reads the
    /// ones added since it last looked).
    recorded: u64,
}

impl SyncTracker {
    pub(crate) fn new(history_capacity: usize) -> Self {
        Self {
            history_capacity,
            ..Self::default()
        }
    }

    pub(crate) fn desired_version(&self, property: &str) -> u64 {
        self.desired_version.get(property).copied().unwrap_or(0)
    }

    pub(crate) fn reported_version(&self, property: &str) -> u64 {
        self.reported_version.get(property).copied().unwrap_or(0)
    }

    pub(crate) fn desired_written(&mut self, property: &str, version: u64) {
        self.desired_version.insert(property.to_string(), version);
    }

    pub(crate) fn reported_written(&mut self, property: &str, version: u64) {
        self.reported_version.insert(property.to_string(), version);
    }

    /// A desired message for `property` went to the transport.
    pub(crate) fn sent(&mut self, property: &str) {
        let count = self.in_flight.entry(property.to_string()).or_default();
        *count = count.saturating_add(1);
    }

    /// This twin's own desired message for `property` came back.
    pub(crate) fn echoed(&mut self, property: &str) {
        if let Some(count) = self.in_flight.get_mut(property) {
            *count -= 1;
            if *count == 0 {
                self.in_flight.remove(property);
            }
        }
    }

    /// The device reported this twin's edit of `property` at its version
    /// `device_version`.
    pub(crate) fn reached(&mut self, property: &str, device_version: u64) {
        self.reached.insert(property.to_string(), device_version);
    }

    /// Forgets (and returns) the device version at which this twin's edit
    /// of `property` was reached: another client's value replaces it.
    pub(crate) fn take_reached(&mut self, property: &str) -> Option<u64> {
        self.reached.remove(property)
    }

    /// Whether an own desired message for `property` has not come back yet.
    pub(crate) fn in_flight(&self, property: &str) -> bool {
        self.in_flight.contains_key(property)
    }

    /// Forgets messages in flight (the connection was lost: what is still
    /// in the delta is sent again).
    pub(crate) fn forget_in_flight(&mut self) {
        self.in_flight.clear();
    }

    /// Updates a property's divergence after a change; returns the alert to
    /// clear when the property stopped diverging.
    pub(crate) fn refresh(
        &mut self,
        property: &str,
        state: &DeviceState,
        now: Millis,
    ) -> Option<String> {
        if state.delta().contains_key(property) {
            self.diverging
                .entry(property.to_string())
                .or_insert((now, None));
            None
        } else {
            self.diverging.remove(property).and_then(|(_, alert)| alert)
        }
    }

    /// The earliest time a divergence alert is due.
    pub(crate) fn poll_timeout(&self, timeout: Option<Millis>) -> Option<Millis> {
        let timeout = timeout?;
        self.diverging
            .values()
            .filter(|(_, alert)| alert.is_none())
            .map(|(since, _)| since.saturating_add(timeout))
            .min()
    }

    /// Properties whose divergence alert is due at `now`, oldest first.
    pub(crate) fn due(&self, timeout: Option<Millis>, now: Millis) -> Vec<(String, Millis)> {
        let Some(timeout) = timeout else {
            return Vec::new();
        };
        let mut due: Vec<(String, Millis)> = self
            .diverging
            .iter()
            .filter(|(_, (since, alert))| alert.is_none() && since.saturating_add(timeout) <= now)
            .map(|(p, (since, _))| (p.clone(), *since))
            .collect();
        due.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        due
    }

    pub(crate) fn set_alert(&mut self, property: &str, alert_id: String) {
        if let Some(entry) = self.diverging.get_mut(property) {
            entry.1 = Some(alert_id);
        }
    }

    pub(crate) fn divergence(
        &self,
        property: &str,
        state: &DeviceState,
        now: Millis,
    ) -> Option<Divergence> {
        let (since, alert) = self.diverging.get(property)?;
        let desired = state.desired().get(property)?.clone();
        let reported = state.reported().get(property).cloned();
        let difference = match (desired.as_f64(), reported.as_ref().and_then(Value::as_f64)) {
            (Some(d), Some(r)) => Some(d - r),
            _ => None,
        };
        Some(Divergence {
            property: property.to_string(),
            desired,
            reported,
            since: *since,
            duration: now.saturating_sub(*since),
            difference,
            alert_id: alert.clone(),
        })
    }

    pub(crate) fn divergences(&self, state: &DeviceState, now: Millis) -> Vec<Divergence> {
        let mut all: Vec<Divergence> = self
            .diverging
            .keys()
            .filter_map(|p| self.divergence(p, state, now))
            .collect();
        all.sort_by(|a, b| {
            a.since
                .cmp(&b.since)
                .then_with(|| a.property.cmp(&b.property))
        });
        all
    }

    pub(crate) fn record(
        &mut self,
        timestamp: Millis,
        property: &str,
        direction: SyncDirection,
        value: Value,
        state: &DeviceState,
    ) {
        if self.history_capacity == 0 {
            return;
        }
        let in_sync = match (
            state.desired().get(property),
            state.reported().get(property),
        ) {
            (Some(want), Some(have)) => same_value(want, have),
            (None, _) => true,
            (Some(_), None) => false,
        };
        self.history.push_back(SyncRecord {
            timestamp,
            property: property.to_string(),
            direction,
            value,
            version: state.version(),
            in_sync,
        });
        self.recorded += 1;
        while self.history.len() > self.history_capacity {
            self.history.pop_front();
        }
    }

    /// The newest `limit` records (all when `None`), of one property or all,
    /// oldest first.
    pub(crate) fn history(&self, property: Option<&str>, limit: Option<usize>) -> Vec<SyncRecord> {
        let mut out: Vec<SyncRecord> = self
            .history
            .iter()
            .rev()
            .filter(|r| property.is_none_or(|p| r.property == p))
            .take(limit.unwrap_or(usize::MAX))
            .cloned()
            .collect();
        out.reverse();
        out
    }

    pub(crate) fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Puts persisted records back into an empty history (the newest
    /// `history_capacity`); returns how many.
    pub(crate) fn restore(&mut self, records: Vec<SyncRecord>) -> usize {
        let keep = records.len().saturating_sub(self.history_capacity);
        self.history.extend(records.into_iter().skip(keep));
        self.history.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.history.is_empty() && self.recorded == 0
    }

    pub(crate) fn clear(&mut self) {
        self.diverging.clear();
        self.in_flight.clear();
    }
}
