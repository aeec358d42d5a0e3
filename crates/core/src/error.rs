//! Errors. Every message names the field, property, command or alert it is
//! about, and never contains credentials.

use thiserror::Error;

/// A device configuration was refused; nothing was created.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required text field is empty.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field, e.g. `id` or `properties[2].name`.
        field: String,
    },
    /// A field's value is not acceptable.
    #[error("`{field}` {reason}")]
    Invalid {
        /// The field, e.g. `id`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// Two properties share a name.
    #[error("`properties[{index}].name`: duplicate property `{name}`")]
    DuplicateProperty {
        /// Index of the second definition.
        index: usize,
        /// The repeated name.
        name: String,
    },
    /// A property's `min` is greater than its `max`.
    #[error("`properties[{index}]` (`{name}`): min {min} is greater than max {max}")]
    MinGreaterThanMax {
        /// Index of the property.
        index: usize,
        /// The property name.
        name: String,
        /// Its minimum.
        min: f64,
        /// Its maximum.
        max: f64,
    },
    /// A property's `type` is not one of the known types.
    #[error("`properties[{index}].type`: unknown property type `{value}` (expected number, string, boolean, object or array)")]
    UnknownPropertyType {
        /// Index of the property.
        index: usize,
        /// The type given.
        value: String,
    },
    /// `connectionType` is not one of the known types.
    #[error(
        "`connectionType`: unknown connection type `{value}` (expected mqtt, websocket or http)"
    )]
    UnknownConnectionType {
        /// The type given.
        value: String,
    },
    /// The configuration could not be read at all (wrong JSON shape).
    #[error("invalid device configuration at `{path}`: {message}")]
    Malformed {
        /// Where in the document, e.g. `properties[0].min`.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// An operation on a twin, fleet or predictor failed; state is unchanged.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum TwinError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The property is not declared in the device configuration.
    #[error("unknown property `{property}`")]
    UnknownProperty {
        /// The property name.
        property: String,
    },
    /// The property may not be set through desired state.
    #[error("property `{property}` is not writable")]
    NotWritable {
        /// The property name.
        property: String,
    },
    /// A value has the wrong type for its property.
    #[error("property `{property}` expects a {expected}, got {actual}")]
    TypeMismatch {
        /// The property name.
        property: String,
        /// The declared type.
        expected: &'static str,
        /// The type of the value given.
        actual: &'static str,
    },
    /// A numeric value lies outside the property's min/max.
    #[error("property `{property}`: {value} is outside [{min}, {max}]")]
    OutOfRange {
        /// The property name.
        property: String,
        /// The value given.
        value: f64,
        /// The lower bound (`-inf` when none).
        min: f64,
        /// The upper bound (`inf` when none).
        max: f64,
    },
    /// A name (property, command) is empty, too long or reserved.
    #[error("name `{name}` {reason}")]
    InvalidName {
        /// The name, made printable.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A value is too large, too deep or holds a reserved key.
    #[error("{what} {reason}")]
    ValueTooLarge {
        /// What the value was for.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// The twin already keeps the maximum number of undeclared properties.
    #[error("undeclared property `{property}` refused: the twin already keeps {limit} undeclared properties")]
    TooManyUnknownProperties {
        /// The property refused.
        property: String,
        /// The limit.
        limit: usize,
    },
    /// No command with this id is known.
    #[error("unknown command `{command_id}`")]
    UnknownCommand {
        /// The command id.
        command_id: String,
    },
    /// A response arrived for a command that already finished.
    #[error("command `{command_id}` is already {status}; late response ignored")]
    LateCommandResponse {
        /// The command id.
        command_id: String,
        /// The command's final status.
        status: &'static str,
    },
    /// Too many commands are awaiting completion.
    #[error("{limit} commands are already in flight")]
    TooManyCommands {
        /// The limit.
        limit: usize,
    },
    /// No alert with this id is known.
    #[error("unknown alert `{alert_id}`")]
    UnknownAlert {
        /// The alert id.
        alert_id: String,
    },
    /// A fleet already holds a device with this id.
    #[error("device `{device_id}` is already in the fleet")]
    DuplicateDevice {
        /// The device id.
        device_id: String,
    },
    /// A fleet holds no device with this id.
    #[error("device `{device_id}` is not in the fleet")]
    UnknownDevice {
        /// The device id.
        device_id: String,
    },
    /// A threshold for predictive maintenance is not usable.
    #[error("threshold for `{property}`: {reason}")]
    InvalidThreshold {
        /// The property name.
        property: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A value could not be read at all (NaN, Infinity, a function…).
    #[error("property `{property}`: {reason}")]
    InvalidValue {
        /// The property.
        property: String,
        /// What was wrong.
        reason: String,
    },
    /// A desired edit was based on a stale version and the twin's conflict
    /// strategy refused it; carries the current state and the winner.
    #[error("{0}")]
    Conflict(Box<crate::sync::Conflict>),
    /// The device's lifecycle state does not allow the operation.
    #[error("device `{device_id}` is {state}: {what} refused")]
    Lifecycle {
        /// The device.
        device_id: String,
        /// Its lifecycle state.
        state: crate::lifecycle::LifecycleState,
        /// What was refused, e.g. `commands`.
        what: &'static str,
    },
    /// A lifecycle transition is not allowed.
    #[error("device `{device_id}` cannot go from {from} to {to}")]
    InvalidTransition {
        /// The device.
        device_id: String,
        /// Its state.
        from: crate::lifecycle::LifecycleState,
        /// The state asked for.
        to: crate::lifecycle::LifecycleState,
    },
    /// A lifecycle log could not be replayed.
    #[error("lifecycle log, event {seq}: {reason}")]
    InvalidLifecycleLog {
        /// The sequence number of the offending event.
        seq: u64,
        /// What was wrong.
        reason: String,
    },
    /// Persisted records can only be restored into a twin that has not
    /// recorded any of its own (so no entry is ever replaced).
    #[error("device `{device_id}`: cannot restore {what}: {reason}")]
    NotRestorable {
        /// The device.
        device_id: String,
        /// What was to be restored.
        what: &'static str,
        /// Why not.
        reason: &'static str,
    },
    /// A rule (or a proposed action) was refused.
    #[error("rule `{rule_id}`: {reason}")]
    InvalidRule {
        /// The rule id (or the proposing actor).
        rule_id: String,
        /// Why.
        reason: String,
    },
    /// A dry run could not run (no model, or it could not answer).
    #[error("dry run failed: {reason}")]
    DryRunFailed {
        /// Why.
        reason: String,
    },
    /// No proposal with this id is kept.
    #[error("unknown proposal {proposal_id}")]
    UnknownProposal {
        /// The proposal id.
        proposal_id: u64,
    },
    /// The proposal was already decided.
    #[error("proposal {proposal_id} is {status}, not pending approval")]
    ProposalNotPending {
        /// The proposal id.
        proposal_id: u64,
        /// Its status.
        status: &'static str,
    },
    /// A telemetry or report record was refused as a whole.
    #[error("invalid report: {reason}")]
    InvalidReport {
        /// Why it was refused.
        reason: String,
    },
}

impl TwinError {
    /// A stable machine-readable code for this error, e.g. `"UNKNOWN_PROPERTY"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "INVALID_CONFIG",
            Self::UnknownProperty { .. } => "UNKNOWN_PROPERTY",
            Self::NotWritable { .. } => "NOT_WRITABLE",
            Self::TypeMismatch { .. } => "TYPE_MISMATCH",
            Self::OutOfRange { .. } => "OUT_OF_RANGE",
            Self::InvalidName { .. } => "INVALID_NAME",
            Self::ValueTooLarge { .. } => "VALUE_TOO_LARGE",
            Self::TooManyUnknownProperties { .. } => "TOO_MANY_UNKNOWN_PROPERTIES",
            Self::UnknownCommand { .. } => "UNKNOWN_COMMAND",
            Self::LateCommandResponse { .. } => "LATE_COMMAND_RESPONSE",
            Self::TooManyCommands { .. } => "TOO_MANY_COMMANDS",
            Self::UnknownAlert { .. } => "UNKNOWN_ALERT",
            Self::DuplicateDevice { .. } => "DUPLICATE_DEVICE",
            Self::UnknownDevice { .. } => "UNKNOWN_DEVICE",
            Self::InvalidThreshold { .. } => "INVALID_THRESHOLD",
            Self::InvalidValue { .. } => "INVALID_VALUE",
            Self::InvalidReport { .. } => "INVALID_REPORT",
            Self::Conflict(_) => "CONFLICT",
            Self::Lifecycle { .. } => "LIFECYCLE",
            Self::InvalidTransition { .. } => "INVALID_TRANSITION",
            Self::InvalidLifecycleLog { .. } => "INVALID_LIFECYCLE_LOG",
            Self::NotRestorable { .. } => "NOT_RESTORABLE",
            Self::InvalidRule { .. } => "INVALID_RULE",
            Self::DryRunFailed { .. } => "DRY_RUN_FAILED",
            Self::UnknownProposal { .. } => "UNKNOWN_PROPOSAL",
            Self::ProposalNotPending { .. } => "PROPOSAL_NOT_PENDING",
        }
    }
}
