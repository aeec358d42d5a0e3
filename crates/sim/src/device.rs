//! One simulated device: physics, reported and desired state, commands,
//! faults and the messages it sends. Sans-io: time is passed in, output is
//! polled.

use std::collections::{BTreeMap, VecDeque};

use indexmap::IndexMap;
use serde_json::{json, Value};
use thiserror::Error;
use twinkit_core::limits;
use twinkit_core::wire::http::{StateBody, TelemetryPage, MAX_TELEMETRY_PAGE};
use twinkit_core::wire::{CommandReply, Desired, Message, State, Status};
use twinkit_core::{
    CommandResponse, CommandStatus, ConfigError, DeviceConfig, Inbound, Millis, Outbound,
    PropertyDefinition, PropertyType, TelemetryData, TelemetryValue,
};

use crate::fault::Fault;
use crate::models::{DeviceKind, Model};

/// How long `reboot` takes (telemetry pauses meanwhile), ms.
pub const REBOOT_MS: Millis = 2_000;
/// How long `calibrate` takes, ms.
pub const CALIBRATE_MS: Millis = 1_000;
/// How long `resetWear` takes, ms.
pub const RESET_WEAR_MS: Millis = 500;
/// Commands kept for status queries (finished ones are forgotten oldest
/// first beyond this).
pub const MAX_COMMANDS: usize = 256;
/// The commands every device knows.
pub const COMMANDS: [&str; 4] = ["reboot", "calibrate", "resetWear", "fault"];

/// Settings shared by the devices of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seed of every random draw (initial state and noise).
    pub seed: u64,
    /// Interval between telemetry records, ms (an environment sensor's
    /// writable `samplingRate` starts here).
    pub telemetry_interval_ms: Millis,
    /// Simulated seconds per wall-clock second for the physics (1 is real
    /// time; 60 makes a minute pass each second).
    pub time_scale: f64,
    /// Adds a `seq` telemetry property counting records from 1, so a test
    /// can check that each arrives exactly once.
    pub sequence: bool,
    /// Telemetry records kept for `GET …/telemetry?since=`.
    pub history_capacity: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            telemetry_interval_ms: 1_000,
            time_scale: 1.0,
            sequence: false,
            history_capacity: 3_600,
        }
    }
}

/// Something the device sends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// A message: `telemetry`, `state` or `commandResponse`.
    Send(Message),
    /// A deliberately broken payload (a `malformed` fault), to send where
    /// telemetry goes.
    Malformed {
        /// The bytes to send.
        text: String,
    },
    /// A `dropConnection` fault: close the device's connections at once
    /// (no goodbye) and stay offline until `until`.
    Disconnect {
        /// When the device comes back.
        until: Millis,
    },
}

/// A request the device refused.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SimError {
    /// A desired value was refused; none of the values were applied.
    #[error("desired `{property}` refused: {reason}")]
    Refused {
        /// The property.
        property: String,
        /// Stable code: `UNKNOWN_PROPERTY`, `NOT_WRITABLE`, `TYPE_MISMATCH`,
        /// `OUT_OF_RANGE` or `INVALID_VALUE`.
        code: &'static str,
        /// Why.
        reason: String,
    },
    /// The device is offline (a `dropConnection` fault).
    #[error("device `{device_id}` is offline until {until}")]
    Offline {
        /// The device.
        device_id: String,
        /// When it comes back (ms since the Unix epoch).
        until: Millis,
    },
    /// The message is not one a device takes.
    #[error("a device does not take `{message_type}` messages")]
    Unexpected {
        /// The message type.
        message_type: &'static str,
    },
    /// The message names another device.
    #[error("message for device `{device_id}` sent to another device")]
    WrongDevice {
        /// The device named.
        device_id: String,
    },
    /// A fleet already holds a device with this id.
    #[error("duplicate device id `{device_id}`")]
    Duplicate {
        /// The id.
        device_id: String,
    },
}

impl SimError {
    /// A stable code for `error` messages and HTTP bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused { code, .. } => code,
            Self::Offline { .. } => "DEVICE_OFFLINE",
            Self::Unexpected { .. } => "UNEXPECTED_MESSAGE",
            Self::WrongDevice { .. } => "WRONG_DEVICE",
            Self::Duplicate { .. } => "DUPLICATE_DEVICE",
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Refused { .. } => 422,
            Self::Offline { .. } => 503,
            Self::Unexpected { .. } | Self::WrongDevice { .. } => 400,
            Self::Duplicate { .. } => 409,
        }
    }
}

#[derive(Debug, Clone)]
struct CommandRecord {
    name: String,
    response: CommandResponse,
    /// When it completes; `None` once finished.
    due: Option<Millis>,
}

/// A simulated device.
#[derive(Debug, Clone)]
pub struct SimDevice {
    config: DeviceConfig,
    model: Model,
    options: SimOptions,
    reported: BTreeMap<String, Value>,
    /// Desired values received and not yet reached.
    desired: BTreeMap<String, Value>,
    /// Desired values received, applied at the next tick.
    inbox: Vec<(String, Value)>,
    version: u64,
    changed_at: Millis,
    last_tick: Option<Millis>,
    last_measure: Option<Millis>,
    next_telemetry: Millis,
    last_telemetry: Option<Millis>,
    seq: u64,
    commands: IndexMap<String, CommandRecord>,
    outbox: VecDeque<Output>,
    history: VecDeque<TelemetryData>,
    offline_until: Option<Millis>,
    rebooting_until: Option<Millis>,
    malformed_pending: u32,
}

impl SimDevice {
    /// A device of `kind` with id `id`; its initial state and noise come
    /// from `options.seed` and the id, so devices differ and runs repeat.
    pub fn new(
        kind: DeviceKind,
        id: impl Into<String>,
        options: &SimOptions,
    ) -> Result<Self, ConfigError> {
        let id = id.into();
        let mut properties = Model::properties(kind);
        if options.sequence {
            properties.push(PropertyDefinition {
                name: "seq".into(),
                kind: PropertyType::Number,
                unit: None,
                min: None,
                max: None,
                writable: false,
                telemetry: true,
            });
        }
        let config = DeviceConfig {
            name: format!("{} {}", kind.display_name(), id),
            device_type: kind.type_name().into(),
            properties,
            telemetry_interval: Some(options.telemetry_interval_ms.max(1)),
            connection_type: None,
            connection_config: None,
            id,
        };
        config.validate()?;
        let seed = options.seed ^ fnv1a(config.id.as_bytes());
        Ok(Self {
            model: Model::new(kind, seed, options.telemetry_interval_ms.max(1)),
            config,
            options: options.clone(),
            reported: BTreeMap::new(),
            desired: BTreeMap::new(),
            inbox: Vec::new(),
            version: 0,
            changed_at: 0,
            last_tick: None,
            last_measure: None,
            next_telemetry: 0,
            last_telemetry: None,
            seq: 0,
            commands: IndexMap::new(),
            outbox: VecDeque::new(),
            history: VecDeque::new(),
            offline_until: None,
            rebooting_until: None,
            malformed_pending: 0,
        })
    }

    /// The device's configuration (what a twin of it needs).
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The device id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The kind of device.
    pub fn kind(&self) -> DeviceKind {
        self.model.kind()
    }

    /// The physics (read-only; for what-if and tests).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The physics, to set up a scenario (e.g. an aged bearing).
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// The last reported values.
    pub fn reported(&self) -> &BTreeMap<String, Value> {
        &self.reported
    }

    /// Desired values received and not yet reached.
    pub fn pending_desired(&self) -> &BTreeMap<String, Value> {
        &self.desired
    }

    /// The state version, rising with every change of reported or desired
    /// values.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the device is connected (not in a `dropConnection` fault).
    pub fn is_online(&self, now: Millis) -> bool {
        self.offline_until.is_none_or(|until| now >= until)
    }

    /// The next time [`SimDevice::tick`] has something to do.
    pub fn next_deadline(&self) -> Millis {
        let due = self.commands.values().filter_map(|c| c.due).min();
        let mut next = self.next_telemetry;
        if let Some(due) = due {
            next = next.min(due);
        }
        if !self.inbox.is_empty() {
            next = next.min(self.last_tick.unwrap_or(0));
        }
        next
    }

    /// Advances the device to `now`: applies desired values received,
    /// steps the physics, finishes due commands, reports changed controls
    /// and emits telemetry when its interval has passed.
    pub fn tick(&mut self, now: Millis) {
        let last = self.last_tick.unwrap_or(now);
        let real_dt = now.saturating_sub(last) as f64 / 1000.0;
        self.last_tick = Some(now.max(last));
        for (property, value) in std::mem::take(&mut self.inbox) {
            self.model.apply_desired(&property, &value);
        }
        self.model
            .advance(real_dt * self.options.time_scale, real_dt, now);
        self.finish_due_commands(now);
        self.report_controls(now);
        self.settle_desired(now);
        if self.rebooting_until.is_some_and(|until| now >= until) {
            self.rebooting_until = None;
        }
        let paused = !self.is_online(now) || self.rebooting_until.is_some();
        if now >= self.next_telemetry && !paused {
            self.emit_telemetry(now);
        }
    }

    fn report_controls(&mut self, now: Millis) {
        let changed: BTreeMap<String, Value> = self
            .model
            .controls()
            .into_iter()
            .filter(|(k, v)| !self.reported.get(k).is_some_and(|old| same(old, v)))
            .collect();
        if changed.is_empty() {
            return;
        }
        self.reported.extend(changed.clone());
        self.bump(now);
        self.outbox.push_back(Output::Send(Message::State(State {
            device_id: self.config.id.clone(),
            reported: changed,
            version: Some(self.version),
            timestamp: Some(now),
        })));
    }

    fn settle_desired(&mut self, now: Millis) {
        let before = self.desired.len();
        let model = &self.model;
        self.desired
            .retain(|property, value| !model.control(property).is_some_and(|v| same(&v, value)));
        if self.desired.len() != before {
            self.bump(now);
        }
    }

    fn emit_telemetry(&mut self, now: Millis) {
        if self.last_telemetry.is_some_and(|t| now <= t) {
            return;
        }
        let dt = self
            .last_measure
            .map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0)
            * self.options.time_scale;
        self.last_measure = Some(now);
        let mut values = self.model.measure(dt);
        if self.options.sequence {
            self.seq += 1;
            values.insert("seq".into(), TelemetryValue::Number(self.seq as f64));
        }
        for (name, value) in &values {
            self.reported.insert(name.clone(), value.to_json());
        }
        self.bump(now);
        let data = TelemetryData {
            device_id: self.config.id.clone(),
            timestamp: now,
            values,
        };
        let message = Message::Telemetry(data.clone());
        if self.malformed_pending > 0 {
            self.malformed_pending -= 1;
            let text = message.encode();
            // Cut mid-object: not JSON any more.
            let cut = text.len() / 2;
            let cut = (0..=cut)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            self.outbox.push_back(Output::Malformed {
                text: text[..cut].to_owned(),
            });
        }
        self.outbox.push_back(Output::Send(message));
        if self.history.len() >= self.options.history_capacity.max(1) {
            self.history.pop_front();
        }
        self.history.push_back(data);
        self.last_telemetry = Some(now);
        let interval = self
            .model
            .telemetry_interval_ms()
            .unwrap_or(self.options.telemetry_interval_ms)
            .max(1);
        self.next_telemetry = now + interval;
    }

    fn bump(&mut self, now: Millis) {
        self.version += 1;
        self.changed_at = now;
    }

    /// Handles a message from a twin: `desired` or `command`.
    pub fn handle(&mut self, message: &Message, now: Millis) -> Result<(), SimError> {
        if let Some(id) = message.device_id() {
            if id != self.config.id {
                return Err(SimError::WrongDevice {
                    device_id: limits::printable(id),
                });
            }
        }
        match message {
            Message::Desired(desired) => self
                .accept_desired(
                    &desired.desired,
                    desired.origin.clone(),
                    desired.device_version,
                    now,
                )
                .map(drop),
            Message::Command(command) => self
                .handle_command(&command.command_id, &command.name, &command.payload, now)
                .map(drop),
            other => Err(SimError::Unexpected {
                message_type: other.type_name(),
            }),
        }
    }

    /// Handles what a twin's `poll_outbound` gave (in-process use).
    pub fn handle_outbound(&mut self, outbound: &Outbound, now: Millis) -> Result<(), SimError> {
        match outbound {
            Outbound::Desired {
                property, value, ..
            } => self
                .apply_desired(&[(property.clone(), value.clone())].into(), now)
                .map(drop),
            Outbound::Command(command) => self
                .handle_command(&command.command_id, &command.name, &command.payload, now)
                .map(drop),
            _ => Ok(()),
        }
    }

    /// Takes desired values from a client ([`SimDevice::apply_desired`])
    /// and relays what was accepted to every client following the device
    /// (the WebSocket server does; MQTT clients see the `/desired` topic
    /// itself), naming its writer, so a client learns that another one
    /// changed a value after it. Returns the new state version.
    pub fn accept_desired(
        &mut self,
        desired: &BTreeMap<String, Value>,
        origin: Option<String>,
        device_version: Option<u64>,
        now: Millis,
    ) -> Result<u64, SimError> {
        let version = self.apply_desired(desired, now)?;
        let accepted: BTreeMap<String, Value> = desired
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !accepted.is_empty() {
            self.outbox
                .push_back(Output::Send(Message::Desired(Desired {
                    device_id: self.config.id.clone(),
                    desired: accepted,
                    version,
                    origin,
                    device_version,
                })));
        }
        Ok(version)
    }

    /// Takes desired values: all are checked first (declared, writable,
    /// type, range, and the kind's own rules) and none applies if one is
    /// refused. Accepted values take effect at the next tick; `null` is
    /// ignored (the device keeps its value). Returns the new state version.
    pub fn apply_desired(
        &mut self,
        desired: &BTreeMap<String, Value>,
        now: Millis,
    ) -> Result<u64, SimError> {
        self.check_online(now)?;
        for (property, value) in desired {
            self.check_desired(property, value)?;
        }
        let mut changed = false;
        for (property, value) in desired {
            if value.is_null() {
                continue;
            }
            self.inbox.push((property.clone(), value.clone()));
            self.desired.insert(property.clone(), value.clone());
            changed = true;
        }
        if changed {
            self.bump(now);
        }
        Ok(self.version)
    }

    fn check_desired(&self, property: &str, value: &Value) -> Result<(), SimError> {
        let refuse = |code: &'static str, reason: String| SimError::Refused {
            property: limits::printable(property),
            code,
            reason,
        };
        let def = self
            .config
            .property(property)
            .ok_or_else(|| refuse("UNKNOWN_PROPERTY", "the device has no such property".into()))?;
        if !def.writable {
            return Err(refuse("NOT_WRITABLE", "the property is read-only".into()));
        }
        if value.is_null() {
            return Ok(());
        }
        if !def.kind.accepts(value) {
            return Err(refuse(
                "TYPE_MISMATCH",
                format!(
                    "expects a {}, got {}",
                    def.kind.as_str(),
                    twinkit_core::value::json_type_name(value)
                ),
            ));
        }
        if let Some(n) = value.as_f64() {
            let min = def.min.unwrap_or(f64::NEG_INFINITY);
            let max = def.max.unwrap_or(f64::INFINITY);
            if n < min || n > max {
                return Err(refuse(
                    "OUT_OF_RANGE",
                    format!("{n} is outside [{min}, {max}]"),
                ));
            }
        }
        self.model
            .check_desired(property, value)
            .map_err(|reason| refuse("INVALID_VALUE", reason))
    }

    fn check_online(&self, now: Millis) -> Result<(), SimError> {
        match self.offline_until {
            Some(until) if now < until => Err(SimError::Offline {
                device_id: self.config.id.clone(),
                until,
            }),
            _ => Ok(()),
        }
    }

    /// Takes a command: answers `acknowledged` at once, then `completed` or
    /// `failed` (at once, or after the command's duration, at a tick).
    /// A command id seen before is not run again: its current status is
    /// sent again and returned (retries and QoS 1 duplicates are harmless).
    pub fn handle_command(
        &mut self,
        command_id: &str,
        name: &str,
        payload: &Value,
        now: Millis,
    ) -> Result<CommandResponse, SimError> {
        self.check_online(now)?;
        if let Some(record) = self.commands.get(command_id) {
            let response = record.response.clone();
            self.send_response(response.clone());
            return Ok(response);
        }
        let mut record = CommandRecord {
            name: name.to_owned(),
            response: CommandResponse {
                command_id: command_id.to_owned(),
                status: CommandStatus::Acknowledged,
                result: None,
                error: None,
            },
            due: None,
        };
        self.send_response(record.response.clone());
        let known_here = match name {
            "reboot" => {
                record.due = Some(now + REBOOT_MS);
                self.rebooting_until = Some(now + REBOOT_MS);
                true
            }
            "calibrate" => {
                record.due = Some(now + CALIBRATE_MS);
                true
            }
            "resetWear" if self.kind() == DeviceKind::Motor => {
                record.due = Some(now + RESET_WEAR_MS);
                true
            }
            "resetWear" => {
                self.finish(
                    &mut record,
                    Err(format!(
                        "command `resetWear` is not supported by a {}",
                        self.kind().type_name()
                    )),
                );
                true
            }
            "fault" => {
                let fault = serde_json::from_value::<Fault>(payload.clone()).map_err(|e| {
                    format!(
                        "invalid fault payload: {}",
                        limits::printable(&e.to_string())
                    )
                });
                let outcome = fault.clone().and_then(|f| self.inject(&f, now));
                let dropped = matches!(
                    (&fault, &outcome),
                    (Ok(Fault::DropConnection { .. }), Ok(_))
                );
                self.finish(&mut record, outcome);
                // After the answer, so the twin hears `completed` first.
                if let (true, Some(until)) = (dropped, self.offline_until) {
                    self.outbox.push_back(Output::Disconnect { until });
                }
                true
            }
            _ => false,
        };
        if !known_here {
            let reason = format!(
                "unknown command `{}` (known: {})",
                limits::printable(name),
                COMMANDS.join(", ")
            );
            self.finish(&mut record, Err(reason));
        }
        let response = record.response.clone();
        self.remember(command_id, record);
        Ok(response)
    }

    fn remember(&mut self, command_id: &str, record: CommandRecord) {
        if self.commands.len() >= MAX_COMMANDS {
            if let Some(oldest) = self.commands.iter().position(|(_, r)| r.due.is_none()) {
                self.commands.shift_remove_index(oldest);
            }
        }
        self.commands.insert(command_id.to_owned(), record);
    }

    fn finish(&mut self, record: &mut CommandRecord, outcome: Result<Value, String>) {
        record.due = None;
        match outcome {
            Ok(result) => {
                record.response.status = CommandStatus::Completed;
                record.response.result = Some(result);
            }
            Err(reason) => {
                record.response.status = CommandStatus::Failed;
                record.response.error = Some(reason);
            }
        }
        self.send_response(record.response.clone());
    }

    fn send_response(&mut self, response: CommandResponse) {
        self.outbox
            .push_back(Output::Send(Message::CommandResponse(CommandReply::new(
                self.config.id.clone(),
                response,
            ))));
    }

    fn finish_due_commands(&mut self, now: Millis) {
        let due: Vec<String> = self
            .commands
            .iter()
            .filter(|(_, r)| r.due.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(mut record) = self.commands.get(&id).cloned() else {
                continue;
            };
            let outcome = match record.name.as_str() {
                "reboot" => {
                    self.rebooting_until = None;
                    Ok(json!({ "rebooted": true }))
                }
                "calibrate" => Ok(self.calibrate()),
                name => self
                    .model
                    .run_command(name)
                    .unwrap_or_else(|| Err(format!("command `{name}` vanished"))),
            };
            self.finish(&mut record, outcome);
            self.commands.insert(id, record);
        }
    }

    fn calibrate(&mut self) -> Value {
        let mut offsets = serde_json::Map::new();
        for property in self.model.measured() {
            if let Some(sensor) = self.model.sensor_mut(property) {
                offsets.insert(
                    (*property).to_owned(),
                    json!(crate::models::round(sensor.offset(), 3)),
                );
                sensor.calibrate();
            }
        }
        json!({ "removedOffsets": offsets })
    }

    /// The current status of a command, if the device knows it.
    pub fn command(&self, command_id: &str) -> Option<&CommandResponse> {
        self.commands.get(command_id).map(|r| &r.response)
    }

    /// Injects a fault (what the `fault` command does); returns a result
    /// describing it. A `dropConnection` marks the device offline; the
    /// [`Output::Disconnect`] is queued by the `fault` command, or here
    /// when called directly.
    pub fn inject(&mut self, fault: &Fault, now: Millis) -> Result<Value, String> {
        fault.validate()?;
        if let Some((property, sensor_fault)) = fault.sensor_fault() {
            let measured = self.model.measured();
            let sensor = self.model.sensor_mut(property).ok_or_else(|| {
                format!(
                    "`{}` is not a measured property (measured: {})",
                    limits::printable(property),
                    measured.join(", ")
                )
            })?;
            sensor.inject(sensor_fault);
            return Ok(json!({ "fault": fault.kind(), "property": property }));
        }
        match fault {
            Fault::DropConnection { duration_ms } => {
                self.offline_until = Some(now + duration_ms);
                Ok(json!({ "fault": "dropConnection", "until": now + duration_ms }))
            }
            Fault::Malformed { count } => {
                self.malformed_pending = self.malformed_pending.saturating_add(*count);
                Ok(json!({ "fault": "malformed", "count": count }))
            }
            Fault::Clear { property } => {
                let targets: Vec<&'static str> = match property {
                    None => self.model.measured().to_vec(),
                    Some(p) => {
                        let found = self.model.measured().iter().find(|m| *m == p).copied();
                        vec![found.ok_or_else(|| {
                            format!("`{}` is not a measured property", limits::printable(p))
                        })?]
                    }
                };
                for target in &targets {
                    if let Some(sensor) = self.model.sensor_mut(target) {
                        sensor.clear_fault();
                    }
                }
                if property.is_none() {
                    self.malformed_pending = 0;
                }
                Ok(json!({ "fault": "clear", "properties": targets }))
            }
            _ => Err(format!("fault `{}` is not supported", fault.kind())),
        }
    }

    /// Injects a fault directly (not through a command), queueing the
    /// disconnect of a `dropConnection`.
    pub fn inject_now(&mut self, fault: &Fault, now: Millis) -> Result<Value, String> {
        let result = self.inject(fault, now)?;
        if let (Fault::DropConnection { .. }, Some(until)) = (fault, self.offline_until) {
            self.outbox.push_back(Output::Disconnect { until });
        }
        Ok(result)
    }

    /// The next thing to send, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop_front()
    }

    /// The whole reported state as a `state` message (the answer to `hello`).
    pub fn state_message(&self) -> Message {
        Message::State(State {
            device_id: self.config.id.clone(),
            reported: self.reported.clone(),
            version: Some(self.version),
            timestamp: Some(self.changed_at),
        })
    }

    /// A `status` message (MQTT publishes it retained; its `online: false`
    /// form is the will).
    pub fn status_message(&self, online: bool, now: Millis) -> Message {
        Message::Status(Status {
            device_id: self.config.id.clone(),
            online,
            timestamp: Some(now),
        })
    }

    /// The body of `GET /devices/{id}/state`.
    pub fn state_body(&self) -> StateBody {
        StateBody {
            device_id: self.config.id.clone(),
            reported: self.reported.clone(),
            desired: self.desired.clone(),
            version: self.version,
            timestamp: self.changed_at,
        }
    }

    /// The body of `GET /devices/{id}/telemetry?since=&limit=`.
    pub fn telemetry_page(&self, since: Option<Millis>, limit: Option<usize>) -> TelemetryPage {
        let limit = limit
            .unwrap_or(MAX_TELEMETRY_PAGE)
            .clamp(1, MAX_TELEMETRY_PAGE);
        let start = since.map_or(0, |s| self.history.partition_point(|r| r.timestamp <= s));
        let records: Vec<TelemetryData> = self
            .history
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect();
        let more = self.history.len() - start > records.len();
        TelemetryPage {
            device_id: self.config.id.clone(),
            next: records.last().map(|r| r.timestamp).or(since),
            records,
            more,
        }
    }
}

/// What a twin ingests for a message a device sent (`telemetry`, `state`,
/// `commandResponse`); `None` for other messages.
pub fn inbound(message: &Message) -> Option<Inbound> {
    match message {
        Message::Telemetry(data) => Some(Inbound::Telemetry(data.clone())),
        Message::State(state) => Some(Inbound::Reported {
            values: state.reported.clone(),
            timestamp: state.timestamp,
            version: state.version,
        }),
        Message::CommandResponse(reply) => {
            Some(Inbound::CommandResponse(reply.clone().into_response()))
        }
        _ => None,
    }
}

/// JSON equality with numbers compared by value (72 equals 72.0), as the
/// twin compares desired and reported values.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// FNV-1a, to turn an id into a seed offset (stable across platforms).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
