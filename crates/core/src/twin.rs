//! The digital twin: a sans-io state machine over one device.
//!
//! Inputs arrive through `handle_*` and `ingest*` methods (a transport and
//! in-process sources use the same path); outputs leave through
//! [`DigitalTwin::poll_outbound`] and events. Every call takes `now`; the
//! twin never reads a clock. Deadlines (command timeouts) are exposed by
//! [`DigitalTwin::poll_timeout`] and acted on by
//! [`DigitalTwin::handle_timeout`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alerts::{Alert, AlertCondition, Severity, ThresholdAlerts};
use crate::audit::{Actor, AuditAction, AuditEntry, AuditLog, AuditOutcome, AuditQuery};
use crate::commands::{CommandResponse, CommandStatus, CommandTracker, DeviceCommand};
use crate::config::{DeviceConfig, PropertyDefinition, TwinOptions};
use crate::error::{ConfigError, TwinError};
use crate::events::{
    ConnectionInfo, DeviceEvent, ErrorInfo, EventBus, EventData, EventType, Subscription,
};
use crate::history::TelemetryHistory;
use crate::lifecycle::LifecycleState;
use crate::limits::{self, MAX_UNKNOWN_PROPERTIES};
use crate::state::{same_value, DeviceState, UpdateSource};
use crate::sync::{
    Conflict, ConflictSide, ConflictStrategy, DesiredWrite, Divergence, MergeDecision, MergeFn,
    MergeInput, SyncDirection, SyncRecord, SyncTracker,
};
use crate::value::{json_type_name, TelemetryData, TelemetryValue};
use crate::Millis;

/// Where the twin's connection to its device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    /// Not connected.
    Disconnected,
    /// A transport is connecting.
    Connecting,
    /// Connected: outbound messages flow.
    Connected,
}

/// Something that arrived from the device (or an in-process source).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Inbound {
    /// Reported property values, measured at `timestamp` (or `now`).
    Reported {
        /// Property name to value; `null` removes the reported value.
        values: BTreeMap<String, Value>,
        /// When the values were measured.
        timestamp: Option<Millis>,
        /// The device's own state version, when it sends one: a report
        /// whose version the twin already saw is a duplicate, an older one
        /// arrived out of order (see [`DigitalTwin::device_version`]).
        version: Option<u64>,
    },
    /// Desired values a client wrote to the device, as the transport saw
    /// them go by (MQTT `/desired`, a server relaying accepted edits), in
    /// the order the device receives them.
    Desired {
        /// Property name to desired value; `null` clears it.
        values: BTreeMap<String, Value>,
        /// The version the message carried (the writer's or the device's).
        version: u64,
        /// The device version the writer had last seen, if it said.
        device_version: Option<u64>,
        /// Whether this twin's own connection wrote it (its echo).
        own: bool,
    },
    /// A telemetry record; its values also update reported state.
    Telemetry(TelemetryData),
    /// An answer to a command.
    CommandResponse(CommandResponse),
    /// Desired values written by another client of the server (an AWS
    /// device shadow's other writers): taken as the cloud's and not sent
    /// back; `null` clears one. Values the twin refuses are `error` events.
    /// The server settles conflicts itself ([`Inbound::DesiredConflict`]).
    CloudDesired {
        /// Property name to value.
        values: BTreeMap<String, Value>,
    },
    /// The server refused a desired value the twin sent because another
    /// writer changed it first (AWS shadow: `update/rejected` 409). The
    /// twin's desired value has been brought up to date already (an
    /// `Inbound::CloudDesired`); it emits a `CONFLICT` error for `property`
    /// naming the winner and the value that lost.
    DesiredConflict {
        /// The property.
        property: String,
        /// The value the twin sent, which lost.
        attempted: Value,
        /// The twin's state version the value was sent at.
        base_version: u64,
    },
}

/// Something the twin wants sent to the device.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Outbound {
    /// A desired value (`null` when the desired value was cleared).
    Desired {
        /// The property.
        property: String,
        /// The desired value at the time it is sent.
        value: Value,
        /// The state version it belongs to.
        version: u64,
        /// The device's own version this twin had last seen (see
        /// [`DigitalTwin::device_version`]), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_version: Option<u64>,
    },
    /// A command, now in status `sent`.
    Command(DeviceCommand),
}

/// What happened to each value of a report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportOutcome {
    /// Properties whose reported value was written.
    pub applied: Vec<String>,
    /// Properties older than the reported value already held: kept in the
    /// telemetry history when they are telemetry, but reported state keeps
    /// the newer value.
    pub stale: Vec<String>,
    /// Values refused, each with its reason (also emitted as `error` events).
    pub rejected: Vec<(String, TwinError)>,
    /// The record repeats one of the last [`RECENT_RECORDS`] telemetry
    /// records (same time, same values): a redelivery (MQTT QoS 1 is at
    /// least once), ignored.
    pub duplicate: bool,
}

/// How many recent telemetry records a twin remembers to recognise
/// redeliveries.
pub const RECENT_RECORDS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Queued {
    Desired(String),
    Command(String),
}

/// A live digital twin of one device.
#[derive(Debug)]
pub struct DigitalTwin {
    config: DeviceConfig,
    options: TwinOptions,
    property_index: HashMap<String, usize>,
    /// Shared with `stateChange` events until the next change copies it.
    state: Arc<DeviceState>,
    /// Measurement time of each reported value, to refuse stale overwrites.
    reported_at: HashMap<String, Millis>,
    history: TelemetryHistory,
    alerts: ThresholdAlerts,
    commands: CommandTracker,
    connection: ConnectionState,
    outbox: VecDeque<Queued>,
    queued_desired: HashSet<String>,
    bus: EventBus,
    sync: SyncTracker,
    merge: MergeSlot,
    audit: AuditLog,
    /// The audit entry of each property's latest desired value, until the
    /// device reports it (or it is superseded).
    desired_audit: HashMap<String, u64>,
    /// The audit entry of each unfinished command.
    command_audit: HashMap<String, u64>,
    lifecycle: LifecycleState,
    /// Fingerprints of the last telemetry records, oldest first.
    recent_records: VecDeque<u64>,
    /// The device version and measurement time of the last versioned report.
    device_report: Option<(u64, Millis)>,
}

/// The custom merge callback, owned by the twin.
#[derive(Default)]
struct MergeSlot(Option<MergeFn>);

impl std::fmt::Debug for MergeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(<merge fn>)"
        } else {
            "None"
        })
    }
}

impl DigitalTwin {
    /// Creates a twin with default [`TwinOptions`]; the configuration is
    /// validated first and nothing is created if it is refused.
    pub fn new(config: DeviceConfig) -> Result<Self, ConfigError> {
        Self::with_options(config, TwinOptions::default())
    }

    /// Creates a twin with options.
    pub fn with_options(config: DeviceConfig, options: TwinOptions) -> Result<Self, ConfigError> {
        config.validate()?;
        options.validate(&config)?;
        let property_index = config
            .properties
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        Ok(Self {
            state: Arc::new(DeviceState::new(&config.id)),
            reported_at: HashMap::new(),
            history: TelemetryHistory::new(options.history_capacity_for(&config)),
            alerts: ThresholdAlerts::new(&config.id, &config, &options),
            commands: CommandTracker::new(&config.id, &options),
            connection: ConnectionState::Disconnected,
            outbox: VecDeque::new(),
            queued_desired: HashSet::new(),
            bus: EventBus::new(),
            sync: SyncTracker::new(options.sync_history_capacity),
            merge: MergeSlot::default(),
            audit: AuditLog::new(&config.id, options.audit_capacity),
            desired_audit: HashMap::new(),
            command_audit: HashMap::new(),
            lifecycle: LifecycleState::Active,
            recent_records: VecDeque::new(),
            device_report: None,
            property_index,
            config,
            options,
        })
    }

    // ----- reading -------------------------------------------------------

    /// The device id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The configuration the twin was created with.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The options the twin was created with.
    pub fn options(&self) -> &TwinOptions {
        &self.options
    }

    /// The current state (the reference's `getState`).
    pub fn state(&self) -> &DeviceState {
        &self.state
    }

    /// A reported value (the reference's `getProperty`).
    pub fn property(&self, name: &str) -> Option<&Value> {
        self.state.reported().get(name)
    }

    /// The declared property with this name.
    pub fn definition(&self, name: &str) -> Option<&PropertyDefinition> {
        self.property_index
            .get(name)
            .map(|&i| &self.config.properties[i])
    }

    /// Telemetry records, oldest first: the newest `limit` (all when
    /// `None`), of one property (values holding only it) or of all.
    pub fn telemetry_history(
        &self,
        property: Option<&str>,
        limit: Option<usize>,
    ) -> Vec<TelemetryData> {
        self.history.records(&self.config.id, property, limit)
    }

    /// The telemetry history itself, e.g. for predictive maintenance.
    pub fn history(&self) -> &TelemetryHistory {
        &self.history
    }

    /// Where the connection stands.
    pub fn connection_state(&self) -> ConnectionState {
        self.connection
    }

    /// Whether the twin is connected.
    pub fn is_connected(&self) -> bool {
        self.connection == ConnectionState::Connected
    }

    /// Active alerts, oldest first.
    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.active()
    }

    /// An alert, active or recently cleared.
    pub fn alert(&self, alert_id: &str) -> Option<&Alert> {
        self.alerts.get(alert_id)
    }

    /// The alert engine (active and recently cleared alerts).
    pub fn alerts(&self) -> &ThresholdAlerts {
        &self.alerts
    }

    /// A command, in flight or recently finished.
    pub fn command(&self, command_id: &str) -> Option<&DeviceCommand> {
        self.commands.get(command_id)
    }

    /// The command tracker (in-flight and recently finished commands).
    pub fn commands(&self) -> &CommandTracker {
        &self.commands
    }

    // ----- events --------------------------------------------------------

    /// Calls `handler` for every event of `event_type` (the reference's `on`).
    pub fn on(
        &self,
        event_type: EventType,
        handler: impl FnMut(&DeviceEvent) + 'static,
    ) -> Subscription {
        self.bus.subscribe(Some(event_type), handler)
    }

    /// Calls `handler` for every event.
    pub fn on_any(&self, handler: impl FnMut(&DeviceEvent) + 'static) -> Subscription {
        self.bus.subscribe(None, handler)
    }

    fn emit(&self, now: Millis, data: EventData) {
        self.bus.emit(&DeviceEvent {
            device_id: self.config.id.clone(),
            timestamp: now,
            data,
        });
    }

    fn emit_error(&self, now: Millis, error: &TwinError, property: Option<&str>) {
        if self.bus.wants(EventType::Error) {
            self.emit(
                now,
                EventData::Error(ErrorInfo::from_error(error, property)),
            );
        }
    }

    /// The state, to change: copied first only while a `stateChange`
    /// event still holds the previous snapshot.
    fn state_mut(&mut self) -> &mut DeviceState {
        Arc::make_mut(&mut self.state)
    }

    fn emit_state(&self, now: Millis) {
        if self.bus.wants(EventType::StateChange) {
            self.emit(now, EventData::StateChange(Arc::clone(&self.state)));
        }
    }

    // ----- desired state and commands -----------------------------------

    /// Sets a desired value as the user (the reference's `setDesired`);
    /// `null` clears it. Refused, with state unchanged, for undeclared or
    /// read-only properties, values of the wrong type, numbers outside
    /// min/max, and oversized values.
    pub fn set_desired(
        &mut self,
        property: &str,
        value: Value,
        now: Millis,
    ) -> Result<(), TwinError> {
        self.set_desired_from(property, value, UpdateSource::User, now)
    }

    /// Sets a desired value on behalf of `source`.
    pub fn set_desired_from(
        &mut self,
        property: &str,
        value: Value,
        source: UpdateSource,
        now: Millis,
    ) -> Result<(), TwinError> {
        let actor = match source {
            UpdateSource::User => Actor::User,
            UpdateSource::Cloud | UpdateSource::Device => Actor::Cloud,
        };
        self.check_lifecycle(LifecycleState::accepts_desired, "desired values")?;
        self.check_desired(property, &value)?;
        self.write_desired(property, value, &actor, None, now);
        Ok(())
    }

    /// Sets a desired value as the user, based on the state version
    /// `base_version` (optimistic concurrency, see [`crate::sync`]). A stale
    /// edit is handled by the twin's [`ConflictStrategy`]: with the default,
    /// it is refused with [`TwinError::Conflict`] and nothing changes.
    pub fn set_desired_if(
        &mut self,
        property: &str,
        value: Value,
        base_version: u64,
        now: Millis,
    ) -> Result<DesiredWrite, TwinError> {
        self.set_desired_as(property, value, Some(base_version), Actor::User, now)
    }

    /// Sets a desired value on behalf of `actor`, based on `base_version`
    /// when given (without one, last writer wins). Every accepted edit is
    /// recorded in the audit log.
    pub fn set_desired_as(
        &mut self,
        property: &str,
        value: Value,
        base_version: Option<u64>,
        actor: Actor,
        now: Millis,
    ) -> Result<DesiredWrite, TwinError> {
        self.write_desired_checked(property, value, base_version, &actor, None, now)
    }

    pub(crate) fn write_desired_checked(
        &mut self,
        property: &str,
        value: Value,
        base_version: Option<u64>,
        actor: &Actor,
        approved_by: Option<&str>,
        now: Millis,
    ) -> Result<DesiredWrite, TwinError> {
        actor.check()?;
        self.check_lifecycle(LifecycleState::accepts_desired, "desired values")?;
        self.check_desired(property, &value)?;
        let mut value = value;
        let mut overwritten = None;
        let mut merged = false;
        if let Some(base) = base_version {
            if let Some((side, winner_version)) = self.stale(property, base) {
                let theirs = self.state.desired().get(property).cloned();
                match (self.options.conflict_strategy, side) {
                    (ConflictStrategy::LastWriterWins, ConflictSide::Desired) => {
                        overwritten = Some(theirs.unwrap_or(Value::Null));
                    }
                    (ConflictStrategy::Custom, ConflictSide::Desired) => {
                        let decision = self.merge.0.as_mut().map(|merge| {
                            merge(&MergeInput {
                                property,
                                base_version: base,
                                ours: &value,
                                theirs: theirs.as_ref(),
                                reported: self.state.reported().get(property),
                                theirs_version: winner_version,
                            })
                        });
                        match decision {
                            Some(MergeDecision::Write(merged_value)) => {
                                self.check_desired(property, &merged_value)?;
                                value = merged_value;
                                overwritten = Some(theirs.unwrap_or(Value::Null));
                                merged = true;
                            }
                            _ => {
                                return Err(self.conflict(
                                    property,
                                    base,
                                    side,
                                    winner_version,
                                    value,
                                ))
                            }
                        }
                    }
                    _ => return Err(self.conflict(property, base, side, winner_version, value)),
                }
            }
        }
        let mut write = self.write_desired(property, value, actor, approved_by, now);
        write.overwritten = overwritten;
        write.merged = merged;
        Ok(write)
    }

    /// Whether an edit of `property` based on `base` is stale: which side
    /// won, and at which version.
    fn stale(&self, property: &str, base: u64) -> Option<(ConflictSide, u64)> {
        let current = self.state.version();
        let reported_at = self.sync.reported_version(property);
        if self.options.conflict_strategy == ConflictStrategy::DeviceWins && reported_at > base {
            return Some((ConflictSide::Reported, reported_at));
        }
        let desired_at = self.sync.desired_version(property);
        if desired_at > base {
            Some((ConflictSide::Desired, desired_at))
        } else if base > current {
            // A version this twin never had (e.g. read from another twin).
            Some((ConflictSide::Desired, current))
        } else {
            None
        }
    }

    fn conflict(
        &self,
        property: &str,
        base_version: u64,
        side: ConflictSide,
        winner_version: u64,
        attempted: Value,
    ) -> TwinError {
        let winner = match side {
            ConflictSide::Desired | ConflictSide::OtherClient => self.state.desired().get(property),
            ConflictSide::Reported => self.state.reported().get(property),
        };
        TwinError::Conflict(Box::new(Conflict {
            property: property.to_string(),
            base_version,
            current_version: self.state.version(),
            winner_version,
            winner_side: side,
            winner: winner.cloned().unwrap_or(Value::Null),
            attempted,
            state: (*self.state).clone(),
        }))
    }

    /// Writes a checked desired value, queues it for the device and emits
    /// the change.
    fn write_desired(
        &mut self,
        property: &str,
        value: Value,
        actor: &Actor,
        approved_by: Option<&str>,
        now: Millis,
    ) -> DesiredWrite {
        let unchanged = DesiredWrite {
            property: property.to_string(),
            value: Value::Null,
            version: self.state.version(),
            overwritten: None,
            merged: false,
            audit_id: None,
        };
        let value = (!value.is_null()).then_some(value);
        if value.is_none() && !self.state.desired().contains_key(property) {
            return unchanged;
        }
        self.state_mut()
            .write_desired(property, value.clone(), actor.update_source(), now);
        let version = self.state.version();
        self.sync.desired_written(property, version);
        let audit_id = self.audit_desired(property, value.as_ref(), actor, approved_by, now);
        let mut alerts = Vec::new();
        self.refresh_divergence(property, now, &mut alerts);
        if self.queued_desired.insert(property.to_string()) {
            self.outbox.push_back(Queued::Desired(property.to_string()));
        }
        self.emit_state(now);
        for alert in alerts {
            self.emit(now, EventData::Alert(alert));
        }
        DesiredWrite {
            value: value.unwrap_or(Value::Null),
            version,
            audit_id: Some(audit_id),
            ..unchanged
        }
    }

    fn audit_desired(
        &mut self,
        property: &str,
        value: Option<&Value>,
        actor: &Actor,
        approved_by: Option<&str>,
        now: Millis,
    ) -> u64 {
        if let Some(previous) = self.desired_audit.remove(property) {
            self.audit
                .advance(previous, AuditOutcome::Superseded, None, now);
        }
        let action = AuditAction::Desired {
            property: property.to_string(),
            value: value.cloned().unwrap_or(Value::Null),
            version: self.state.version(),
        };
        let id = self.audit.record(actor, approved_by, action, now);
        if value.is_some() && !self.state.delta().contains_key(property) {
            let detail = Some("the device already reported this value".to_string());
            self.audit.advance(id, AuditOutcome::Reached, detail, now);
        } else {
            self.desired_audit.insert(property.to_string(), id);
        }
        id
    }

    fn audit_command(&mut self, command: &DeviceCommand, now: Millis) {
        let Some(&id) = self.command_audit.get(&command.command_id) else {
            return;
        };
        let (outcome, detail) = match command.status {
            CommandStatus::Pending => (AuditOutcome::Queued, None),
            CommandStatus::Sent => (AuditOutcome::Sent, None),
            CommandStatus::Acknowledged => (AuditOutcome::Acknowledged, None),
            CommandStatus::Completed => (
                AuditOutcome::Completed,
                command.result.as_ref().map(Value::to_string),
            ),
            CommandStatus::Failed => (AuditOutcome::Failed, command.error.clone()),
        };
        if command.status.is_terminal() {
            self.command_audit.remove(&command.command_id);
        }
        self.audit.advance(id, outcome, detail, now);
    }

    // ----- lifecycle -----------------------------------------------------

    /// Where the device is in its lifecycle (`active` unless a fleet moved
    /// it; see [`crate::lifecycle`]).
    pub fn lifecycle(&self) -> LifecycleState {
        self.lifecycle
    }

    fn check_lifecycle(
        &self,
        allows: fn(LifecycleState) -> bool,
        what: &'static str,
    ) -> Result<(), TwinError> {
        if allows(self.lifecycle) {
            Ok(())
        } else {
            Err(TwinError::Lifecycle {
                device_id: self.config.id.clone(),
                state: self.lifecycle,
                what,
            })
        }
    }

    /// Moves the twin to another lifecycle state if the transition is
    /// allowed (see [`LifecycleState::can_become`]); returns the state it
    /// left. Refused with `INVALID_TRANSITION`, changing nothing, otherwise.
    /// Hosts keep the log ([`crate::lifecycle::LifecycleLog::record_transition`]).
    pub fn transition(
        &mut self,
        to: LifecycleState,
        now: Millis,
    ) -> Result<LifecycleState, TwinError> {
        let from = self.lifecycle;
        if !from.can_become(to) {
            return Err(TwinError::InvalidTransition {
                device_id: self.config.id.clone(),
                from,
                to,
            });
        }
        self.set_lifecycle(to, now);
        Ok(from)
    }

    /// Puts the twin back into a lifecycle state replayed from a persisted
    /// log (see [`crate::lifecycle::replay`]), with that state's effects
    /// (in-flight commands fail when it takes none). Not a transition: the
    /// log already holds how the device got there. A decommissioned twin
    /// stays decommissioned (`INVALID_TRANSITION`). Returns the state left.
    pub fn restore_lifecycle(
        &mut self,
        state: LifecycleState,
        now: Millis,
    ) -> Result<LifecycleState, TwinError> {
        let from = self.lifecycle;
        if from == LifecycleState::Decommissioned && state != from {
            return Err(TwinError::InvalidTransition {
                device_id: self.config.id.clone(),
                from,
                to: state,
            });
        }
        if state != from {
            self.set_lifecycle(state, now);
        }
        Ok(from)
    }

    /// Moves the twin to a lifecycle state (the fleet checks the transition
    /// and logs it). Commands in flight fail when commands are no longer
    /// accepted; a decommissioned twin drops its queue and disconnects.
    pub(crate) fn set_lifecycle(&mut self, state: LifecycleState, now: Millis) {
        self.lifecycle = state;
        if !state.accepts_commands() {
            let reason = format!("device {state}");
            let mut failed = Vec::new();
            self.commands.fail_all(&reason, now, &mut failed);
            for command in failed {
                self.audit_command(&command, now);
                self.emit(now, EventData::Command(command));
            }
            self.outbox.retain(|q| matches!(q, Queued::Desired(_)));
        }
        if state == LifecycleState::Decommissioned {
            self.outbox.clear();
            self.queued_desired.clear();
            self.handle_disconnected(Some("device decommissioned"), now);
        }
    }

    // ----- alerts from outside analyses --------------------------------

    /// Raises an alert found by an analysis outside the twin (the anomaly
    /// detectors of `twinkit-analytics`): it is an `alert` event and stays
    /// active until [`DigitalTwin::resolve_alert`] or a manual clear.
    #[allow(clippy::too_many_arguments)]
    pub fn raise_alert(
        &mut self,
        property: &str,
        condition: AlertCondition,
        severity: Severity,
        message: String,
        value: f64,
        threshold: f64,
        now: Millis,
    ) -> Alert {
        let alert = self.alerts.raise(
            property, condition, severity, message, value, threshold, now,
        );
        self.emit(now, EventData::Alert(alert.clone()));
        alert
    }

    /// Clears an alert raised by [`DigitalTwin::raise_alert`] once its
    /// condition no longer holds; `None` if it is no longer active.
    pub fn resolve_alert(&mut self, alert_id: &str, now: Millis) -> Option<Alert> {
        let alert = self.alerts.resolve(alert_id, now)?;
        self.emit(now, EventData::Alert(alert.clone()));
        Some(alert)
    }

    // ----- rule alerts ---------------------------------------------------

    /// Raises the alert of a rule's `raiseAlert` action.
    pub(crate) fn raise_rule_alert(
        &mut self,
        proposal: &crate::rules::Proposal,
        severity: Severity,
        message: &str,
        now: Millis,
    ) -> Alert {
        let (property, value, threshold) = match &proposal.trigger {
            Some(t) => (t.signal.as_str(), t.value, t.threshold),
            None => (proposal.actor_name(), 0.0, 0.0),
        };
        let alert = self.alerts.raise(
            property,
            AlertCondition::Rule,
            severity,
            format!("{message} ({})", proposal.actor),
            value,
            threshold,
            now,
        );
        self.emit(now, EventData::Alert(alert.clone()));
        alert
    }

    /// Records a rule's or a script's device action that its dry run
    /// blocked: an audit entry in outcome `blocked`, with the reason, for an
    /// action that never reached the device. Returns its id.
    pub(crate) fn audit_blocked(
        &mut self,
        proposal: &crate::rules::Proposal,
        reason: &str,
        now: Millis,
    ) -> Option<u64> {
        let action = match &proposal.action {
            crate::rules::Action::SetDesired { property, value } => AuditAction::Desired {
                property: property.clone(),
                value: value.clone(),
                version: self.state.version(),
            },
            crate::rules::Action::SendCommand { name, payload } => AuditAction::Command {
                // No command was created: the proposal names it.
                command_id: format!("proposal-{}", proposal.id),
                name: name.clone(),
                payload: payload.clone(),
            },
            _ => return None,
        };
        let approver = proposal.decided_by.as_deref();
        let id = self.audit.record(&proposal.actor, approver, action, now);
        self.audit
            .advance(id, AuditOutcome::Blocked, Some(reason.to_string()), now);
        Some(id)
    }

    /// Clears a rule's alert once the rule re-armed (unless cleared by hand).
    pub(crate) fn resolve_rule_alert(&mut self, alert_id: &str, now: Millis) {
        if let Some(alert) = self.alerts.resolve(alert_id, now) {
            self.emit(now, EventData::Alert(alert));
        }
    }

    // ----- audit ---------------------------------------------------------

    /// The audit log: every desired value and command sent to the device,
    /// who asked, when, and the outcome so far. Read-only.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Audit entries matching `query`, oldest first.
    pub fn audit_entries(&self, query: &AuditQuery) -> Vec<&AuditEntry> {
        self.audit.query(query)
    }

    /// Audit entries matching `query` as CSV (RFC 4180).
    pub fn audit_csv(&self, query: &AuditQuery) -> String {
        crate::audit::to_csv(self.audit.query(query))
    }

    /// Audit entries matching `query` as a JSON array.
    pub fn audit_json(&self, query: &AuditQuery) -> String {
        crate::audit::to_json(self.audit.query(query))
    }

    /// Sets the merge callback of the `custom` conflict strategy (replacing
    /// any previous one). It is called for stale edits only, and the twin
    /// owns it until replaced or the twin is dropped.
    pub fn set_merge(&mut self, merge: impl FnMut(&MergeInput<'_>) -> MergeDecision + 'static) {
        self.merge.0 = Some(Box::new(merge));
    }

    /// The state version at which a property's desired value last changed
    /// (0 if never).
    pub fn desired_version(&self, property: &str) -> u64 {
        self.sync.desired_version(property)
    }

    /// The state version at which a property's reported value last changed
    /// (0 if never).
    pub fn reported_version(&self, property: &str) -> u64 {
        self.sync.reported_version(property)
    }

    // ----- divergence and sync history ----------------------------------

    /// How far a property's desired value is from its reported one, if it
    /// diverges.
    pub fn divergence(&self, property: &str, now: Millis) -> Option<Divergence> {
        self.sync.divergence(property, &self.state, now)
    }

    /// Every diverging property, longest first.
    pub fn divergences(&self, now: Millis) -> Vec<Divergence> {
        self.sync.divergences(&self.state, now)
    }

    /// Sync records (desired values sent, reports of properties with a
    /// desired value), oldest first: the newest `limit` (all when `None`),
    /// of one property or of all.
    pub fn sync_history(&self, property: Option<&str>, limit: Option<usize>) -> Vec<SyncRecord> {
        self.sync.history(property, limit)
    }

    /// Sync records ever recorded (restored ones not counted): a host
    /// persisting the history reads the ones added since it last looked
    /// with `sync_history(None, Some(new))`.
    pub fn sync_records_total(&self) -> u64 {
        self.sync.recorded()
    }

    /// Puts a persisted audit trail and sync history back (after a page
    /// reload, say), oldest first. Only into a twin that has recorded
    /// neither yet: restoring never replaces or alters an entry. The audit
    /// keeps its newest run of consecutive ids (up to `audit_capacity`) and
    /// numbers new entries after it; the sync history its newest
    /// `sync_history_capacity` records. Returns how many of each were kept.
    pub fn restore_journal(
        &mut self,
        audit: Vec<AuditEntry>,
        sync: Vec<SyncRecord>,
    ) -> Result<(usize, usize), TwinError> {
        let refuse = |what, reason| TwinError::NotRestorable {
            device_id: self.config.id.clone(),
            what,
            reason,
        };
        if !audit.is_empty() && !self.audit.is_pristine() {
            return Err(refuse("the audit", "it has recorded entries already"));
        }
        if !sync.is_empty() && !self.sync.is_empty() {
            return Err(refuse("the sync history", "it has recorded some already"));
        }
        let audit = if audit.is_empty() {
            0
        } else {
            self.audit.restore(audit)
        };
        let sync = if sync.is_empty() {
            0
        } else {
            self.sync.restore(sync)
        };
        Ok((audit, sync))
    }

    fn refresh_divergence(&mut self, property: &str, now: Millis, alerts: &mut Vec<Alert>) {
        if let Some(alert_id) = self.sync.refresh(property, &self.state, now) {
            alerts.extend(self.alerts.resolve(&alert_id, now));
        }
    }

    fn raise_divergence_alerts(&mut self, now: Millis) {
        let timeout = self.options.divergence_timeout;
        for (property, since) in self.sync.due(timeout, now) {
            let desired = self.state.desired().get(&property);
            let reported = self.state.reported().get(&property);
            let shown =
                |v: Option<&Value>| v.map_or_else(|| "nothing".to_string(), Value::to_string);
            let message = format!(
                "{property}: desired {} not reached after {} ms (reported {})",
                shown(desired),
                now.saturating_sub(since),
                shown(reported)
            );
            let number = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
            let alert = self.alerts.raise(
                &property,
                AlertCondition::DesiredNotReached,
                Severity::Warning,
                message,
                number(reported),
                number(desired),
                now,
            );
            self.sync.set_alert(&property, alert.id.clone());
            self.emit(now, EventData::Alert(alert));
        }
    }

    fn check_desired(&self, property: &str, value: &Value) -> Result<(), TwinError> {
        limits::check_name(property)?;
        let def = self
            .definition(property)
            .ok_or_else(|| TwinError::UnknownProperty {
                property: property.to_string(),
            })?;
        if !def.writable {
            return Err(TwinError::NotWritable {
                property: property.to_string(),
            });
        }
        if value.is_null() {
            return Ok(());
        }
        check_type(def, value)?;
        if let Some(n) = value.as_f64() {
            let (min, max) = (
                def.min.unwrap_or(f64::NEG_INFINITY),
                def.max.unwrap_or(f64::INFINITY),
            );
            if n < min || n > max {
                return Err(TwinError::OutOfRange {
                    property: property.to_string(),
                    value: n,
                    min,
                    max,
                });
            }
        }
        limits::check_value(format_args!("desired value of `{property}`"), value)
    }

    /// Creates a command (the reference's `sendCommand`). It is `pending`
    /// until a connected transport takes it through
    /// [`DigitalTwin::poll_outbound`], which makes it `sent`.
    pub fn send_command(
        &mut self,
        name: &str,
        payload: Value,
        now: Millis,
    ) -> Result<DeviceCommand, TwinError> {
        self.send_command_as(name, payload, Actor::User, now)
    }

    /// Creates a command on behalf of `actor` (recorded in the audit log).
    pub fn send_command_as(
        &mut self,
        name: &str,
        payload: Value,
        actor: Actor,
        now: Millis,
    ) -> Result<DeviceCommand, TwinError> {
        self.send_command_checked(name, payload, &actor, None, now)
    }

    pub(crate) fn send_command_checked(
        &mut self,
        name: &str,
        payload: Value,
        actor: &Actor,
        approved_by: Option<&str>,
        now: Millis,
    ) -> Result<DeviceCommand, TwinError> {
        actor.check()?;
        self.check_lifecycle(LifecycleState::accepts_commands, "commands")?;
        let command = self.commands.create(name, payload, now)?;
        let action = AuditAction::Command {
            command_id: command.command_id.clone(),
            name: command.name.clone(),
            payload: command.payload.clone(),
        };
        let id = self.audit.record(actor, approved_by, action, now);
        self.command_audit.insert(command.command_id.clone(), id);
        self.outbox
            .push_back(Queued::Command(command.command_id.clone()));
        if self.bus.wants(EventType::Command) {
            self.emit(now, EventData::Command(command.clone()));
        }
        Ok(command)
    }

    /// The next message for the device, if connected. Commands become
    /// `sent` as they are taken.
    pub fn poll_outbound(&mut self, now: Millis) -> Option<Outbound> {
        if !self.is_connected() {
            return None;
        }
        while let Some(item) = self.outbox.pop_front() {
            match item {
                Queued::Desired(property) => {
                    self.queued_desired.remove(&property);
                    let value = self
                        .state
                        .desired()
                        .get(&property)
                        .cloned()
                        .unwrap_or(Value::Null);
                    self.sync.record(
                        now,
                        &property,
                        SyncDirection::Sent,
                        value.clone(),
                        &self.state,
                    );
                    if let Some(&id) = self.desired_audit.get(&property) {
                        self.audit.advance(id, AuditOutcome::Sent, None, now);
                        if value.is_null() {
                            // A clear is never reported back; sent is final enough.
                            self.desired_audit.remove(&property);
                        }
                    }
                    self.sync.sent(&property);
                    return Some(Outbound::Desired {
                        property,
                        value,
                        version: self.state.version(),
                        device_version: self.state.device_version(),
                    });
                }
                Queued::Command(id) => {
                    // A command that failed (timed out) while queued is dropped.
                    if let Ok(command) = self.commands.mark_sent(&id, now) {
                        self.audit_command(&command, now);
                        if self.bus.wants(EventType::Command) {
                            self.emit(now, EventData::Command(command.clone()));
                        }
                        return Some(Outbound::Command(command));
                    }
                }
            }
        }
        None
    }

    /// Number of messages waiting for [`DigitalTwin::poll_outbound`].
    pub fn outbound_len(&self) -> usize {
        self.outbox.len()
    }

    /// The earliest time at which [`DigitalTwin::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let divergence = self.sync.poll_timeout(self.options.divergence_timeout);
        match (self.commands.poll_timeout(), divergence) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Reports a problem a transport met (a malformed message, a refused
    /// connection) as an `error` event; state is untouched. The message
    /// must not carry credentials.
    pub fn report_error(&self, code: &str, message: &str, now: Millis) {
        self.emit(
            now,
            EventData::Error(ErrorInfo {
                code: code.to_string(),
                message: message.to_string(),
                property: None,
            }),
        );
    }

    /// Fails commands whose timeout has passed and raises divergence
    /// alerts that are due.
    pub fn handle_timeout(&mut self, now: Millis) {
        let mut failed = Vec::new();
        self.commands.handle_timeout(now, &mut failed);
        for command in failed {
            self.audit_command(&command, now);
            self.emit(now, EventData::Command(command));
        }
        self.raise_divergence_alerts(now);
    }

    // ----- alerts --------------------------------------------------------

    /// Marks an alert acknowledged.
    pub fn acknowledge_alert(&mut self, alert_id: &str, now: Millis) -> Result<Alert, TwinError> {
        let alert = self.alerts.acknowledge(alert_id)?;
        self.emit(now, EventData::Alert(alert.clone()));
        Ok(alert)
    }

    /// Clears an active alert by hand; it is raised again only after the
    /// value has returned inside its range and left it anew.
    pub fn clear_alert(&mut self, alert_id: &str, now: Millis) -> Result<Alert, TwinError> {
        let alert = self.alerts.clear(alert_id, now)?;
        self.emit(now, EventData::Alert(alert.clone()));
        Ok(alert)
    }

    // ----- connection ----------------------------------------------------

    /// Starts connecting (the reference's `connect`). A twin without a
    /// connection type is fed in-process and connects at once; otherwise
    /// it is `connecting` until a transport calls
    /// [`DigitalTwin::handle_connected`].
    pub fn connect(&mut self, now: Millis) -> ConnectionState {
        if self.lifecycle == LifecycleState::Decommissioned {
            return self.connection;
        }
        match (self.connection, &self.config.connection_type) {
            (ConnectionState::Connected, _) => {}
            (_, None) => self.handle_connected(now),
            (_, Some(_)) => self.connection = ConnectionState::Connecting,
        }
        self.connection
    }

    /// A transport reports the connection up. Desired values not yet
    /// reported are queued again, so the device catches up after an outage.
    pub fn handle_connected(&mut self, now: Millis) {
        if self.connection == ConnectionState::Connected {
            return;
        }
        self.connection = ConnectionState::Connected;
        // What was in flight may be lost; the delta is sent again below.
        self.sync.forget_in_flight();
        let missing: Vec<String> = self
            .state
            .delta()
            .keys()
            .filter(|k| !self.queued_desired.contains(*k))
            .cloned()
            .collect();
        for property in missing {
            self.queued_desired.insert(property.clone());
            self.outbox.push_back(Queued::Desired(property));
        }
        self.emit(now, EventData::Connected(ConnectionInfo::default()));
    }

    /// A transport reports the connection lost (`reason` must not carry
    /// credentials).
    pub fn handle_disconnected(&mut self, reason: Option<&str>, now: Millis) {
        let was = std::mem::replace(&mut self.connection, ConnectionState::Disconnected);
        if was == ConnectionState::Connected {
            self.emit(
                now,
                EventData::Disconnected(ConnectionInfo {
                    reason: reason.map(str::to_string),
                }),
            );
        }
    }

    /// Disconnects on the application's request (the reference's
    /// `disconnect`).
    pub fn disconnect(&mut self, now: Millis) {
        self.handle_disconnected(Some("disconnected by the application"), now);
    }

    /// Releases the twin: in-flight commands fail, the twin disconnects,
    /// and every subscription ends.
    pub fn dispose(&mut self, now: Millis) {
        let mut failed = Vec::new();
        self.commands.fail_all("twin disposed", now, &mut failed);
        for command in failed {
            self.audit_command(&command, now);
            self.emit(now, EventData::Command(command));
        }
        self.disconnect(now);
        self.outbox.clear();
        self.queued_desired.clear();
        self.sync.clear();
        self.bus.clear();
    }

    // ----- ingestion -----------------------------------------------------

    /// Feeds something from the device: the one path both transports and
    /// in-process sources (backfill, tests, simulators) use.
    pub fn ingest(&mut self, inbound: Inbound, now: Millis) -> Result<ReportOutcome, TwinError> {
        match inbound {
            Inbound::Reported {
                values,
                timestamp,
                version,
            } => {
                let at = timestamp.unwrap_or(now);
                if let Some(version) = version {
                    if let Some(ignored) = self.check_device_version(version, at, &values) {
                        return Ok(ignored);
                    }
                }
                Ok(self.apply_values(values, at, now))
            }
            Inbound::Desired {
                values,
                version,
                device_version,
                own,
            } => Ok(self.apply_desired_seen(values, version, device_version, own, now)),
            Inbound::Telemetry(data) => self.ingest_telemetry(data, now),
            Inbound::CommandResponse(response) => {
                self.handle_command_response(&response, now)?;
                Ok(ReportOutcome::default())
            }
            Inbound::CloudDesired { values } => Ok(self.apply_cloud_desired(values, now)),
            Inbound::DesiredConflict {
                property,
                attempted,
                base_version,
            } => {
                let winner_version = self.sync.desired_version(&property);
                let error = self.conflict(
                    &property,
                    base_version,
                    ConflictSide::Desired,
                    winner_version,
                    attempted,
                );
                self.emit_error(now, &error, Some(&property));
                Ok(ReportOutcome {
                    rejected: vec![(property, error)],
                    ..ReportOutcome::default()
                })
            }
        }
    }

    /// The device's own state version from its last versioned report (see
    /// [`DeviceState::device_version`]).
    pub fn device_version(&self) -> Option<u64> {
        self.state.device_version()
    }

    /// Checks a report's device version against the last one seen: the
    /// same version again (no newer timestamp) is a redelivery, an older
    /// version with an older or equal timestamp arrived out of order; both
    /// are ignored. An older version with a newer timestamp means the
    /// device restarted and counts again, so it is taken.
    fn check_device_version(
        &mut self,
        version: u64,
        at: Millis,
        values: &BTreeMap<String, Value>,
    ) -> Option<ReportOutcome> {
        if let Some((seen, seen_at)) = self.device_report {
            if version == seen && at <= seen_at {
                return Some(ReportOutcome {
                    duplicate: true,
                    ..ReportOutcome::default()
                });
            }
            if version < seen && at <= seen_at {
                return Some(ReportOutcome {
                    stale: values.keys().map(|k| limits::printable(k)).collect(),
                    ..ReportOutcome::default()
                });
            }
        }
        self.device_report = Some((version, at));
        self.state_mut().set_device_version(version);
        None
    }

    /// Writes desired values another client set on the server, without
    /// queueing them for the device (the server already has them).
    fn apply_cloud_desired(
        &mut self,
        values: BTreeMap<String, Value>,
        now: Millis,
    ) -> ReportOutcome {
        let mut outcome = ReportOutcome::default();
        let mut alerts = Vec::new();
        for (property, value) in values {
            let current = self.state.desired().get(&property);
            let unchanged = match (&value, current) {
                (Value::Null, None) => true,
                (value, Some(current)) => same_value(value, current),
                _ => false,
            };
            if unchanged {
                continue;
            }
            if let Err(error) = self.check_desired(&property, &value) {
                self.emit_error(now, &error, Some(&property));
                outcome.rejected.push((property, error));
                continue;
            }
            let value = (!value.is_null()).then_some(value);
            self.state_mut()
                .write_desired(&property, value, UpdateSource::Cloud, now);
            self.sync.desired_written(&property, self.state.version());
            self.refresh_divergence(&property, now, &mut alerts);
            outcome.applied.push(property);
        }
        if !outcome.applied.is_empty() {
            self.emit_state(now);
        }
        for alert in alerts {
            self.emit(now, EventData::Alert(alert));
        }
        outcome
    }

    /// Desired values seen on the device's desired channel (see
    /// [`crate::sync`], "Other clients of the same device").
    fn apply_desired_seen(
        &mut self,
        values: BTreeMap<String, Value>,
        version: u64,
        writer_saw: Option<u64>,
        own: bool,
        now: Millis,
    ) -> ReportOutcome {
        let mut outcome = ReportOutcome::default();
        if own {
            for property in values.keys() {
                self.sync.echoed(property);
            }
            return outcome;
        }
        let mut alerts = Vec::new();
        let mut conflicts = Vec::new();
        for (property, value) in values {
            if let Err(error) = self.check_desired(&property, &value) {
                outcome.rejected.push((limits::printable(&property), error));
                continue;
            }
            if self.queued_desired.contains(&property) || self.sync.in_flight(&property) {
                // Our own edit reaches the device after this one: ours wins.
                outcome.stale.push(property);
                continue;
            }
            let current = self.state.desired().get(&property).cloned();
            let unchanged = match &current {
                Some(current) => same_value(current, &value),
                None => value.is_null(),
            };
            if unchanged {
                continue;
            }
            let base_version = self.sync.desired_version(&property);
            // Our edit the device already took, overwritten by a writer who
            // had not seen the device take it: as lost as a pending one.
            let reached_unseen = self
                .sync
                .take_reached(&property)
                .is_some_and(|reached| writer_saw.is_some_and(|saw| saw < reached));
            let adopted = (!value.is_null()).then(|| value.clone());
            self.state_mut()
                .write_desired(&property, adopted, UpdateSource::Cloud, now);
            let winner_version = self.state.version();
            self.sync.desired_written(&property, winner_version);
            let pending = self.desired_audit.remove(&property);
            if let Some(id) = pending {
                let detail = format!(
                    "another client set it to {value} (its version {version}) before the device reached this value"
                );
                self.audit
                    .advance(id, AuditOutcome::Superseded, Some(detail), now);
            }
            if pending.is_some() || reached_unseen {
                conflicts.push(Conflict {
                    property: property.clone(),
                    base_version,
                    current_version: winner_version,
                    winner_version,
                    winner_side: ConflictSide::OtherClient,
                    winner: value,
                    attempted: current.unwrap_or(Value::Null),
                    state: (*self.state).clone(),
                });
            }
            self.refresh_divergence(&property, now, &mut alerts);
            outcome.applied.push(property);
        }
        for (key, error) in &outcome.rejected {
            self.emit_error(now, error, Some(key));
        }
        if !outcome.applied.is_empty() {
            self.emit_state(now);
        }
        for mut conflict in conflicts {
            conflict.current_version = self.state.version();
            conflict.state = (*self.state).clone();
            let property = conflict.property.clone();
            self.emit_error(
                now,
                &TwinError::Conflict(Box::new(conflict)),
                Some(&property),
            );
        }
        for alert in alerts {
            self.emit(now, EventData::Alert(alert));
        }
        outcome
    }

    /// Applies reported values measured now (see [`DigitalTwin::ingest`]).
    pub fn apply_reported(
        &mut self,
        values: BTreeMap<String, Value>,
        now: Millis,
    ) -> ReportOutcome {
        self.apply_values(values, now, now)
    }

    /// Applies a telemetry record; refused as a whole if it names another
    /// device.
    pub fn ingest_telemetry(
        &mut self,
        data: TelemetryData,
        now: Millis,
    ) -> Result<ReportOutcome, TwinError> {
        let values = data.values.into_iter().map(|(k, v)| (k, v.to_json()));
        self.ingest_record(&data.device_id, data.timestamp, values.collect(), now)
    }

    /// Applies values a device measured at `timestamp`, as a telemetry
    /// record whose values are not type-checked yet (bindings receive them
    /// so; each value is checked against its property here). Refused as a
    /// whole if `device_id` names another device.
    pub fn ingest_record(
        &mut self,
        device_id: &str,
        timestamp: Millis,
        values: BTreeMap<String, Value>,
        now: Millis,
    ) -> Result<ReportOutcome, TwinError> {
        if device_id != self.config.id {
            let error = TwinError::InvalidReport {
                reason: format!(
                    "telemetry for device `{}` sent to twin `{}`",
                    limits::printable(device_id),
                    self.config.id
                ),
            };
            self.emit_error(now, &error, None);
            return Err(error);
        }
        let fingerprint = record_fingerprint(timestamp, &values);
        if self.recent_records.contains(&fingerprint) {
            return Ok(ReportOutcome {
                duplicate: true,
                ..ReportOutcome::default()
            });
        }
        if self.recent_records.len() == RECENT_RECORDS {
            self.recent_records.pop_front();
        }
        self.recent_records.push_back(fingerprint);
        Ok(self.apply_values(values, timestamp, now))
    }

    /// Refuses a reported value a binding could not even read (NaN,
    /// Infinity, a function): nothing is applied and an `error` event names
    /// the property, as for any other refused value.
    pub fn reject_value(&self, property: &str, reason: &str, now: Millis) -> TwinError {
        let error = TwinError::InvalidValue {
            property: limits::printable(property),
            reason: reason.to_string(),
        };
        self.emit_error(now, &error, Some(property));
        error
    }

    /// Applies a device's answer to a command. An unknown or late response
    /// changes nothing and is reported as an `error` event and returned.
    pub fn handle_command_response(
        &mut self,
        response: &CommandResponse,
        now: Millis,
    ) -> Result<(), TwinError> {
        match self.commands.handle_response(response, now) {
            Ok(Some(command)) => {
                self.audit_command(&command, now);
                self.emit(now, EventData::Command(command));
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => {
                self.emit_error(now, &error, None);
                Err(error)
            }
        }
    }

    fn apply_values(
        &mut self,
        values: impl IntoIterator<Item = (String, Value)>,
        timestamp: Millis,
        now: Millis,
    ) -> ReportOutcome {
        let mut outcome = ReportOutcome::default();
        if let Err(error) = self.check_lifecycle(LifecycleState::accepts_reports, "reports") {
            self.emit_error(now, &error, None);
            outcome.rejected = values
                .into_iter()
                .map(|(key, _)| (limits::printable(&key), error.clone()))
                .collect();
            return outcome;
        }
        let mut telemetry = BTreeMap::new();
        let mut alerts = Vec::new();
        let mut flagged = Vec::new();
        for (key, value) in values {
            match self.apply_value(&key, value, timestamp, &mut telemetry, &mut alerts) {
                Ok(Applied::Written) => outcome.applied.push(key),
                Ok(Applied::WrittenUnknown { first }) => {
                    if first {
                        flagged.push(key.clone());
                    }
                    outcome.applied.push(key);
                }
                Ok(Applied::Stale) => outcome.stale.push(key),
                Err(error) => outcome.rejected.push((key, error)),
            }
        }
        for (key, error) in &outcome.rejected {
            self.emit_error(now, error, Some(key));
        }
        for key in &flagged {
            let error = TwinError::UnknownProperty {
                property: key.clone(),
            };
            self.emit_error(now, &error, Some(key));
        }
        if !outcome.applied.is_empty() {
            self.emit_state(now);
        }
        if !telemetry.is_empty() && self.bus.wants(EventType::Telemetry) {
            let data = TelemetryData {
                device_id: self.config.id.clone(),
                timestamp,
                values: telemetry,
            };
            self.emit(now, EventData::Telemetry(data));
        }
        for alert in alerts {
            self.emit(now, EventData::Alert(alert));
        }
        outcome
    }

    fn apply_value(
        &mut self,
        key: &str,
        value: Value,
        timestamp: Millis,
        telemetry: &mut BTreeMap<String, TelemetryValue>,
        alerts: &mut Vec<Alert>,
    ) -> Result<Applied, TwinError> {
        limits::check_name(key)?;
        let Some(&index) = self.property_index.get(key) else {
            return self.apply_unknown(key, value, timestamp);
        };
        let def = &self.config.properties[index];
        if !value.is_null() {
            check_type(def, &value)?;
            limits::check_value(format_args!("reported value of `{key}`"), &value)?;
        }
        if def.telemetry {
            if let Some(reading) = TelemetryValue::from_json(&value) {
                self.history.record(key, timestamp, reading.clone());
                telemetry.insert(key.to_string(), reading);
            }
        }
        if self.is_stale(key, timestamp) {
            return Ok(Applied::Stale);
        }
        self.alerts.evaluate(key, &value, timestamp, alerts);
        self.write_reported(key, value, timestamp, alerts);
        Ok(Applied::Written)
    }

    fn apply_unknown(
        &mut self,
        key: &str,
        value: Value,
        timestamp: Millis,
    ) -> Result<Applied, TwinError> {
        limits::check_value(format_args!("reported value of `{key}`"), &value)?;
        let known = self.state.unknown_properties().contains(key);
        if !known && self.state.unknown_properties().len() >= MAX_UNKNOWN_PROPERTIES {
            return Err(TwinError::TooManyUnknownProperties {
                property: limits::printable(key),
                limit: MAX_UNKNOWN_PROPERTIES,
            });
        }
        if self.is_stale(key, timestamp) {
            return Ok(Applied::Stale);
        }
        let first = self.state_mut().mark_unknown(key);
        self.write_reported(key, value, timestamp, &mut Vec::new());
        Ok(Applied::WrittenUnknown { first })
    }

    /// Whether the reported value held was measured after `timestamp`.
    fn is_stale(&self, key: &str, timestamp: Millis) -> bool {
        self.reported_at.get(key).is_some_and(|&t| timestamp < t)
    }

    fn write_reported(
        &mut self,
        key: &str,
        value: Value,
        timestamp: Millis,
        alerts: &mut Vec<Alert>,
    ) {
        match self.reported_at.get_mut(key) {
            Some(at) => *at = timestamp,
            None => {
                self.reported_at.insert(key.to_string(), timestamp);
            }
        }
        let recorded = self
            .state
            .desired()
            .contains_key(key)
            .then(|| value.clone());
        let value = (!value.is_null()).then_some(value);
        self.state_mut()
            .write_reported(key, value, UpdateSource::Device, timestamp);
        self.sync.reported_written(key, self.state.version());
        if self.state.desired().contains_key(key) && !self.state.delta().contains_key(key) {
            if let Some(id) = self.desired_audit.remove(key) {
                if let Some(device_version) = self.state.device_version() {
                    self.sync.reached(key, device_version);
                }
                self.audit
                    .advance(id, AuditOutcome::Reached, None, timestamp);
            }
        }
        if let Some(value) = recorded {
            self.sync
                .record(timestamp, key, SyncDirection::Received, value, &self.state);
        }
        self.refresh_divergence(key, timestamp, alerts);
    }
}

enum Applied {
    Written,
    WrittenUnknown { first: bool },
    Stale,
}

fn check_type(def: &PropertyDefinition, value: &Value) -> Result<(), TwinError> {
    if def.kind.accepts(value) {
        Ok(())
    } else {
        Err(TwinError::TypeMismatch {
            property: def.name.clone(),
            expected: def.kind.static_name(),
            actual: json_type_name(value),
        })
    }
}

/// A record's identity for redelivery checks: its time and its values
/// (maps serialize in key order, so equal records hash equally).
fn record_fingerprint(timestamp: Millis, values: &BTreeMap<String, Value>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    timestamp.hash(&mut hasher);
    values.hash(&mut hasher);
    hasher.finish()
}
