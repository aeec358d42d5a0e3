//! Commands to a device and their status lifecycle.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Millis;

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
