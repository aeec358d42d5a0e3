//! The digital twin: a sans-io state machine over one device.
//!
//! Inputs arrive through `handle_*` and `ingest*` methods (a transport and
//! in-process sources use the same path); outputs leave through
//! [`DigitalTwin::poll_outbound`] and events. Every call takes `now`; the
//! twin never reads a clock. Deadlines (command timeouts) are exposed by
//! [`DigitalTwin::poll_timeout`] and acted on by
//! [`DigitalTwin::handle_timeout`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alerts::{Alert, ThresholdAlerts};
use crate::commands::{CommandResponse, CommandTracker, DeviceCommand};
use crate::config::{DeviceConfig, PropertyDefinition, TwinOptions};
use crate::error::{ConfigError, TwinError};
use crate::events::{
    ConnectionInfo, DeviceEvent, ErrorInfo, EventBus, EventData, EventType, Subscription,
};
use crate::history::TelemetryHistory;
use crate::limits::{self, MAX_UNKNOWN_PROPERTIES};
use crate::state::{DeviceState, UpdateSource};
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
    },
    /// A telemetry record; its values also update reported state.
    Telemetry(TelemetryData),
    /// An answer to a command.
    CommandResponse(CommandResponse),
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
}

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
    state: DeviceState,
    /// Measurement time of each reported value, to refuse stale overwrites.
    reported_at: HashMap<String, Millis>,
    history: TelemetryHistory,
    alerts: ThresholdAlerts,
    commands: CommandTracker,
    connection: ConnectionState,
    outbox: VecDeque<Queued>,
    queued_desired: HashSet<String>,
    bus: EventBus,
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
            state: DeviceState::new(&config.id),
            reported_at: HashMap::new(),
            history: TelemetryHistory::new(options.history_capacity_for(&config)),
            alerts: ThresholdAlerts::new(&config.id, &config, &options),
            commands: CommandTracker::new(&config.id, &options),
            connection: ConnectionState::Disconnected,
            outbox: VecDeque::new(),
            queued_desired: HashSet::new(),
            bus: EventBus::new(),
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

    fn emit_state(&self, now: Millis) {
        if self.bus.wants(EventType::StateChange) {
            self.emit(now, EventData::StateChange(Box::new(self.state.clone())));
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
        self.check_desired(property, &value)?;
        let value = (!value.is_null()).then_some(value);
        if value.is_none() && !self.state.desired().contains_key(property) {
            return Ok(());
        }
        self.state.write_desired(property, value, source, now);
        if self.queued_desired.insert(property.to_string()) {
            self.outbox.push_back(Queued::Desired(property.to_string()));
        }
        self.emit_state(now);
        Ok(())
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
        let command = self.commands.create(name, payload, now)?;
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
                    return Some(Outbound::Desired {
                        property,
                        value,
                        version: self.state.version(),
                    });
                }
                Queued::Command(id) => {
                    // A command that failed (timed out) while queued is dropped.
                    if let Ok(command) = self.commands.mark_sent(&id, now) {
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
        self.commands.poll_timeout()
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

    /// Fails commands whose timeout has passed.
    pub fn handle_timeout(&mut self, now: Millis) {
        let mut failed = Vec::new();
        self.commands.handle_timeout(now, &mut failed);
        for command in failed {
            self.emit(now, EventData::Command(command));
        }
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
            self.emit(now, EventData::Command(command));
        }
        self.disconnect(now);
        self.outbox.clear();
        self.queued_desired.clear();
        self.bus.clear();
    }

    // ----- ingestion -----------------------------------------------------

    /// Feeds something from the device: the one path both transports and
    /// in-process sources (backfill, tests, simulators) use.
    pub fn ingest(&mut self, inbound: Inbound, now: Millis) -> Result<ReportOutcome, TwinError> {
        match inbound {
            Inbound::Reported { values, timestamp } => {
                Ok(self.apply_values(values, timestamp.unwrap_or(now), now))
            }
            Inbound::Telemetry(data) => self.ingest_telemetry(data, now),
            Inbound::CommandResponse(response) => {
                self.handle_command_response(&response, now)?;
                Ok(ReportOutcome::default())
            }
        }
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
        self.write_reported(key, value, timestamp);
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
        let first = self.state.mark_unknown(key);
        self.write_reported(key, value, timestamp);
        Ok(Applied::WrittenUnknown { first })
    }

    /// Whether the reported value held was measured after `timestamp`.
    fn is_stale(&self, key: &str, timestamp: Millis) -> bool {
        self.reported_at.get(key).is_some_and(|&t| timestamp < t)
    }

    fn write_reported(&mut self, key: &str, value: Value, timestamp: Millis) {
        self.reported_at.insert(key.to_string(), timestamp);
        let value = (!value.is_null()).then_some(value);
        self.state
            .write_reported(key, value, UpdateSource::Device, timestamp);
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
