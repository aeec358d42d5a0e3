//! Commands to a device and their status lifecycle.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::TwinOptions;
use crate::error::TwinError;
use crate::{ids, limits, Millis};

/// Where a command is in its lifecycle: pending → sent → acknowledged →
/// completed | failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    /// Created, not yet handed to a transport.
    Pending,
    /// Handed to a transport.
    Sent,
    /// The device confirmed receipt.
    Acknowledged,
    /// The device finished it.
    Completed,
    /// The device reported failure, or it timed out.
    Failed,
}

/// A command (the reference's `DeviceCommand`, plus its outcome).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceCommand {
    /// Unique command id (UUID v4).
    pub command_id: String,
    /// Target device.
    pub device_id: String,
    /// Command name.
    pub name: String,
    /// Command payload.
    pub payload: Value,
    /// When it was created.
    pub timestamp: Millis,
    /// Lifecycle status.
    pub status: CommandStatus,
    /// When its status last changed.
    pub updated_at: Millis,
    /// When it fails unless completed.
    pub timeout_at: Millis,
    /// What the device returned on completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A device's answer to a command, matched by `commandId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandResponse {
    /// The command answered.
    pub command_id: String,
    /// The new status: acknowledged, completed or failed.
    pub status: CommandStatus,
    /// Result on completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CommandStatus {
    /// Whether the command is finished (completed or failed).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The status as written on the wire, e.g. `"acknowledged"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Acknowledged => "acknowledged",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Sent => 1,
            Self::Acknowledged => 2,
            Self::Completed | Self::Failed => 3,
        }
    }
}

/// Longest error text kept from a device, in bytes.
pub const MAX_ERROR_BYTES: usize = 1024;

/// The commands of one twin: in flight (bounded by
/// `TwinOptions::max_pending_commands`) and recently finished (bounded by
/// `TwinOptions::max_finished`; older ones are forgotten, after which a
/// response for them is an unknown command).
///
/// Status only moves forward: pending → sent → acknowledged → completed |
/// failed, and a device may skip steps (complete a sent command at once).
#[derive(Debug, Clone)]
pub struct CommandTracker {
    device_id: String,
    timeout: Millis,
    max_in_flight: usize,
    max_finished: usize,
    // In creation order. Bounded by `max_in_flight`, so the linear scan in
    // `poll_timeout` and `handle_timeout` stays small.
    in_flight: IndexMap<String, DeviceCommand>,
    finished: IndexMap<String, DeviceCommand>,
}

impl CommandTracker {
    /// A tracker for one device.
    pub fn new(device_id: &str, options: &TwinOptions) -> Self {
        Self {
            device_id: device_id.to_string(),
            timeout: options.command_timeout,
            max_in_flight: options.max_pending_commands.max(1),
            max_finished: options.max_finished,
            in_flight: IndexMap::new(),
            finished: IndexMap::new(),
        }
    }

    /// Creates a pending command with a fresh UUID v4 id.
    pub fn create(
        &mut self,
        name: &str,
        payload: Value,
        now: Millis,
    ) -> Result<DeviceCommand, TwinError> {
        limits::check_name(name)?;
        limits::check_value(format_args!("payload of command `{name}`"), &payload)?;
        if self.in_flight.len() >= self.max_in_flight {
            return Err(TwinError::TooManyCommands {
                limit: self.max_in_flight,
            });
        }
        let command = DeviceCommand {
            command_id: ids::uuid_v4(),
            device_id: self.device_id.clone(),
            name: name.to_string(),
            payload,
            timestamp: now,
            status: CommandStatus::Pending,
            updated_at: now,
            timeout_at: now.saturating_add(self.timeout),
            result: None,
            error: None,
        };
        self.in_flight
            .insert(command.command_id.clone(), command.clone());
        Ok(command)
    }

    /// A transport took the command: pending → sent. Refused for unknown
    /// commands and for commands no longer pending.
    pub fn mark_sent(&mut self, command_id: &str, now: Millis) -> Result<DeviceCommand, TwinError> {
        let command = self.find_in_flight(command_id)?;
        if command.status != CommandStatus::Pending {
            return Err(TwinError::InvalidReport {
                reason: format!(
                    "command `{command_id}` is already {}",
                    command.status.as_str()
                ),
            });
        }
        command.status = CommandStatus::Sent;
        command.updated_at = now;
        Ok(command.clone())
    }

    /// Applies a device's response. `Ok(None)` for a repeated
    /// acknowledgement (QoS 1 may deliver twice). Unknown ids, responses to
    /// finished commands and responses claiming `pending`/`sent` are refused
    /// and change nothing. A result too large to keep is replaced by an
    /// explanation; the status change is never lost.
    pub fn handle_response(
        &mut self,
        response: &CommandResponse,
        now: Millis,
    ) -> Result<Option<DeviceCommand>, TwinError> {
        let id = response.command_id.as_str();
        if let Some(done) = self.finished.get(id) {
            return Err(TwinError::LateCommandResponse {
                command_id: limits::printable(id),
                status: done.status.as_str(),
            });
        }
        if matches!(
            response.status,
            CommandStatus::Pending | CommandStatus::Sent
        ) {
            return Err(TwinError::InvalidReport {
                reason: format!(
                    "a device cannot report command `{}` as {}",
                    limits::printable(id),
                    response.status.as_str()
                ),
            });
        }
        let command = self.find_in_flight(id)?;
        if response.status.rank() <= command.status.rank() {
            return Ok(None);
        }
        command.status = response.status;
        command.updated_at = now;
        if response.status.is_terminal() {
            command.result = response.result.as_ref().map(|result| {
                match limits::check_value(format_args!("command result"), result) {
                    Ok(()) => result.clone(),
                    Err(e) => Value::String(format!("result dropped: {e}")),
                }
            });
            command.error = response.error.as_deref().map(truncate_error);
            if response.status == CommandStatus::Failed && command.error.is_none() {
                command.error = Some("the device reported failure".into());
            }
            return Ok(Some(self.finish(id)));
        }
        Ok(Some(command.clone()))
    }

    /// Fails every in-flight command whose timeout has passed.
    pub fn handle_timeout(&mut self, now: Millis, out: &mut Vec<DeviceCommand>) {
        let expired: Vec<String> = self
            .in_flight
            .values()
            .filter(|c| c.timeout_at <= now)
            .map(|c| c.command_id.clone())
            .collect();
        let reason = format!("timed out after {} ms", self.timeout);
        for id in expired {
            out.push(self.fail(&id, &reason, now));
        }
    }

    /// The earliest timeout among in-flight commands.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.in_flight.values().map(|c| c.timeout_at).min()
    }

    /// Fails every in-flight command with `reason`.
    pub fn fail_all(&mut self, reason: &str, now: Millis, out: &mut Vec<DeviceCommand>) {
        let ids: Vec<String> = self.in_flight.keys().cloned().collect();
        for id in ids {
            out.push(self.fail(&id, reason, now));
        }
    }

    /// A command, in flight or recently finished.
    pub fn get(&self, command_id: &str) -> Option<&DeviceCommand> {
        self.in_flight
            .get(command_id)
            .or_else(|| self.finished.get(command_id))
    }

    /// In-flight commands, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = &DeviceCommand> {
        self.in_flight.values()
    }

    /// Number of in-flight commands.
    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    /// Recently finished commands, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &DeviceCommand> {
        self.finished.values()
    }

    fn find_in_flight(&mut self, command_id: &str) -> Result<&mut DeviceCommand, TwinError> {
        self.in_flight
            .get_mut(command_id)
            .ok_or_else(|| TwinError::UnknownCommand {
                command_id: limits::printable(command_id),
            })
    }

    fn fail(&mut self, command_id: &str, reason: &str, now: Millis) -> DeviceCommand {
        if let Some(command) = self.in_flight.get_mut(command_id) {
            command.status = CommandStatus::Failed;
            command.updated_at = now;
            command.error = Some(reason.to_string());
        }
        self.finish(command_id)
    }

    /// Moves a command from in flight to finished, forgetting the oldest
    /// finished ones beyond the bound, and returns a snapshot.
    fn finish(&mut self, command_id: &str) -> DeviceCommand {
        let Some(command) = self.in_flight.shift_remove(command_id) else {
            unreachable!("finish is called for in-flight commands only")
        };
        if self.max_finished > 0 {
            self.finished
                .insert(command_id.to_string(), command.clone());
            while self.finished.len() > self.max_finished {
                self.finished.shift_remove_index(0);
            }
        }
        command
    }
}

fn truncate_error(text: &str) -> String {
    if text.len() <= MAX_ERROR_BYTES {
        return text.to_string();
    }
    let mut end = MAX_ERROR_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tracker(timeout: Millis, max: usize, finished: usize) -> CommandTracker {
        let o = TwinOptions {
            command_timeout: timeout,
            max_pending_commands: max,
            max_finished: finished,
            ..TwinOptions::default()
        };
        CommandTracker::new("dev", &o)
    }

    fn respond(id: &str, status: CommandStatus) -> CommandResponse {
        CommandResponse {
            command_id: id.into(),
            status,
            result: None,
            error: None,
        }
    }

    #[test]
    fn full_lifecycle() {
        let mut t = tracker(1_000, 10, 10);
        let c = t.create("calibrate", json!({"ref": 25}), 5).unwrap();
        assert_eq!(
            (c.status, c.timestamp, c.timeout_at),
            (CommandStatus::Pending, 5, 1_005)
        );
        assert_eq!(
            t.mark_sent(&c.command_id, 6).unwrap().status,
            CommandStatus::Sent
        );
        let id = c.command_id.as_str();
        let ack = t
            .handle_response(&respond(id, CommandStatus::Acknowledged), 7)
            .unwrap();
        assert_eq!(ack.unwrap().status, CommandStatus::Acknowledged);
        assert_eq!(
            t.handle_response(&respond(id, CommandStatus::Acknowledged), 8)
                .unwrap(),
            None
        );
        let mut done = respond(id, CommandStatus::Completed);
        done.result = Some(json!({"offset": 1}));
        let done = t.handle_response(&done, 9).unwrap().unwrap();
        assert_eq!(
            (done.status, done.updated_at),
            (CommandStatus::Completed, 9)
        );
        assert_eq!(done.result, Some(json!({"offset": 1})));
        assert_eq!(t.in_flight_count(), 0);
        assert_eq!(t.recent().count(), 1);
        assert_eq!(t.poll_timeout(), None);
        assert!(t.mark_sent(id, 10).is_err());
    }

    #[test]
    fn failure_keeps_the_reason_bounded() {
        let mut t = tracker(1_000, 10, 10);
        let c = t.create("x", json!(null), 0).unwrap();
        let mut r = respond(&c.command_id, CommandStatus::Failed);
        r.error = Some("é".repeat(2_000));
        let failed = t.handle_response(&r, 1).unwrap().unwrap();
        assert!(failed.error.as_ref().unwrap().len() <= MAX_ERROR_BYTES + 3);
        let c = t.create("y", json!(null), 0).unwrap();
        let failed = t
            .handle_response(&respond(&c.command_id, CommandStatus::Failed), 1)
            .unwrap()
            .unwrap();
        assert_eq!(failed.error.as_deref(), Some("the device reported failure"));
    }

    #[test]
    fn oversized_result_is_replaced_but_completion_kept() {
        let mut t = tracker(1_000, 10, 10);
        let c = t.create("x", json!(null), 0).unwrap();
        let mut r = respond(&c.command_id, CommandStatus::Completed);
        r.result = Some(json!({"__proto__": 1}));
        let done = t.handle_response(&r, 1).unwrap().unwrap();
        assert_eq!(done.status, CommandStatus::Completed);
        assert!(done
            .result
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("result dropped"));
    }

    #[test]
    fn timeouts_fail_in_order_and_late_responses_are_refused() {
        let mut t = tracker(100, 10, 10);
        let a = t.create("a", json!(1), 0).unwrap();
        let b = t.create("b", json!(1), 50).unwrap();
        assert_eq!(t.poll_timeout(), Some(100));
        let mut out = Vec::new();
        t.handle_timeout(99, &mut out);
        assert!(out.is_empty());
        t.handle_timeout(100, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].command_id, a.command_id);
        assert_eq!(out[0].error.as_deref(), Some("timed out after 100 ms"));
        assert_eq!(t.poll_timeout(), Some(150));
        let err = t
            .handle_response(&respond(&a.command_id, CommandStatus::Completed), 120)
            .unwrap_err();
        assert!(matches!(
            err,
            TwinError::LateCommandResponse {
                status: "failed",
                ..
            }
        ));
        assert_eq!(t.get(&a.command_id).unwrap().status, CommandStatus::Failed);
        assert_eq!(t.get(&b.command_id).unwrap().status, CommandStatus::Pending);
    }

    #[test]
    fn unknown_and_impossible_responses_are_refused() {
        let mut t = tracker(100, 10, 10);
        let mut other = tracker(100, 10, 10);
        let c = other.create("x", json!(1), 0).unwrap();
        let err = t
            .handle_response(&respond(&c.command_id, CommandStatus::Completed), 1)
            .unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_COMMAND");
        let err = other
            .handle_response(&respond(&c.command_id, CommandStatus::Sent), 1)
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_REPORT");
        assert_eq!(
            other.get(&c.command_id).unwrap().status,
            CommandStatus::Pending
        );
    }

    #[test]
    fn in_flight_commands_are_bounded() {
        let mut t = tracker(100, 2, 10);
        let a = t.create("a", json!(1), 0).unwrap();
        t.create("b", json!(1), 0).unwrap();
        assert_eq!(
            t.create("c", json!(1), 0).unwrap_err(),
            TwinError::TooManyCommands { limit: 2 }
        );
        t.handle_response(&respond(&a.command_id, CommandStatus::Completed), 1)
            .unwrap();
        t.create("c", json!(1), 0).unwrap();
    }

    #[test]
    fn bad_names_and_payloads_are_refused() {
        let mut t = tracker(100, 10, 10);
        assert_eq!(
            t.create("", json!(1), 0).unwrap_err().code(),
            "INVALID_NAME"
        );
        assert_eq!(
            t.create("__proto__", json!(1), 0).unwrap_err().code(),
            "INVALID_NAME"
        );
        let hostile = json!({"a": {"__proto__": {"x": 1}}});
        assert_eq!(
            t.create("x", hostile, 0).unwrap_err().code(),
            "VALUE_TOO_LARGE"
        );
        assert_eq!(t.in_flight_count(), 0);
    }

    #[test]
    fn finished_commands_are_bounded_then_forgotten() {
        let mut t = tracker(100, 10, 2);
        let ids: Vec<String> = (0..3)
            .map(|i| t.create("x", json!(i), 0).unwrap().command_id)
            .collect();
        let mut out = Vec::new();
        t.fail_all("twin disposed", 5, &mut out);
        assert_eq!(out.len(), 3);
        assert!(out
            .iter()
            .all(|c| c.error.as_deref() == Some("twin disposed")));
        assert_eq!(t.recent().count(), 2);
        assert!(t.get(&ids[0]).is_none());
        let err = t
            .handle_response(&respond(&ids[0], CommandStatus::Completed), 6)
            .unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_COMMAND");
    }

    #[test]
    fn ids_are_unique() {
        let mut t = tracker(100, 1_000, 0);
        let ids: std::collections::HashSet<String> = (0..500)
            .map(|_| t.create("x", json!(1), 0).unwrap().command_id)
            .collect();
        assert_eq!(ids.len(), 500);
    }
}
