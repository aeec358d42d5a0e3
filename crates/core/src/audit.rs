//! The audit trail: every twin-to-device action (desired values, commands),
//! who asked for it ([`Actor`]: a user, a rule, a script), when, what, and
//! its outcome as far as the twin knows. Bounded, queryable, exportable as
//! CSV (RFC 4180) and JSON, and read-only through the public API.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TwinError;
use crate::limits;
use crate::state::UpdateSource;
use crate::Millis;

/// Who asked for a twin-to-device action.
///
/// Serialized as `{"kind": "user"}`, `{"kind": "cloud"}`,
/// `{"kind": "rule", "id": "..."}` or `{"kind": "script", "name": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Actor {
    /// A user of this page.
    User,
    /// A backend or another service.
    Cloud,
    /// A rule of a [`crate::rules::RuleEngine`].
    Rule {
        /// The rule's id.
        id: String,
    },
    /// A script (application code acting on its own).
    Script {
        /// The script's name.
        name: String,
    },
}

impl Actor {
    /// The source recorded in the state's metadata: users are `user`,
    /// automation (rules, scripts) and services are `cloud`.
    pub fn update_source(&self) -> UpdateSource {
        match self {
            Self::User => UpdateSource::User,
            Self::Cloud | Self::Rule { .. } | Self::Script { .. } => UpdateSource::Cloud,
        }
    }

    /// Refuses rule ids and script names that are not acceptable names
    /// (empty, too long, control characters, reserved keys).
    pub fn check(&self) -> Result<(), TwinError> {
        match self {
            Self::User | Self::Cloud => Ok(()),
            Self::Rule { id } => limits::check_name(id),
            Self::Script { name } => limits::check_name(name),
        }
    }

    /// A rule actor.
    pub fn rule(id: impl Into<String>) -> Self {
        Self::Rule { id: id.into() }
    }

    /// A script actor.
    pub fn script(name: impl Into<String>) -> Self {
        Self::Script { name: name.into() }
    }
}

impl fmt::Display for Actor {
    /// `user`, `cloud`, `rule:<id>` or `script:<name>` (the CSV form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User => f.write_str("user"),
            Self::Cloud => f.write_str("cloud"),
            Self::Rule { id } => write!(f, "rule:{id}"),
            Self::Script { name } => write!(f, "script:{name}"),
        }
    }
}

/// What a twin asked of its device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum AuditAction {
    /// A desired value (`null`: cleared).
    #[serde(rename_all = "camelCase")]
    Desired {
        /// The property.
        property: String,
        /// The value.
        value: Value,
        /// The state version of the edit.
        version: u64,
    },
    /// A command.
    #[serde(rename_all = "camelCase")]
    Command {
        /// The command id.
        command_id: String,
        /// Its name.
        name: String,
        /// Its payload.
        payload: Value,
    },
}

impl AuditAction {
    /// The property or command name.
    pub fn target(&self) -> &str {
        match self {
            Self::Desired { property, .. } => property,
            Self::Command { name, .. } => name,
        }
    }
}

/// What became of an action, as far as the twin knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// Accepted by the twin, waiting for a connected transport.
    Queued,
    /// Handed to the transport.
    Sent,
    /// The device acknowledged the command.
    Acknowledged,
    /// The device reported the desired value.
    Reached,
    /// The device completed the command.
    Completed,
    /// A later desired value of the property replaced it before the device
    /// reported it.
    Superseded,
    /// The command failed (device failure, timeout, twin disposed).
    Failed,
    /// A rule's or a script's action that its dry run refused (the
    /// predicted outcome missed its goal, or no model could tell): it never
    /// reached the device. The detail says why.
    Blocked,
}

impl AuditOutcome {
    /// The name in CSV and JSON, e.g. `"sent"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Acknowledged => "acknowledged",
            Self::Reached => "reached",
            Self::Completed => "completed",
            Self::Superseded => "superseded",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
        }
    }

    /// Whether nothing more will happen to the action.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Reached | Self::Completed | Self::Superseded | Self::Failed | Self::Blocked
        )
    }

    fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Acknowledged => 2,
            _ => 3,
        }
    }
}

/// One twin-to-device action: who, when, what, and its outcome so far.
///
/// Entries are read-only outside the crate: the fields are private and the
/// log hands out shared references only; the twin alone records actions
/// and advances their outcome (forward only).
///
/// ```compile_fail
/// # use twinkit_core::{AuditOutcome, DeviceConfig, DigitalTwin};
/// # let config = DeviceConfig::from_json(r#"{"id":"d","name":"D","type":"t","properties":[]}"#).unwrap();
/// # let twin = DigitalTwin::new(config).unwrap();
/// let mut entry = twin.audit().entries().next().unwrap().clone();
/// entry.outcome = AuditOutcome::Completed; // private: does not compile
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    id: u64,
    device_id: String,
    timestamp: Millis,
    actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approved_by: Option<String>,
    action: AuditAction,
    outcome: AuditOutcome,
    outcome_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl AuditEntry {
    /// Sequence number, rising by one per entry of a twin.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The device acted on.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }
    /// When the action was taken.
    pub fn timestamp(&self) -> Millis {
        self.timestamp
    }
    /// Who took it.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    /// Who approved it, for actions that needed approval.
    pub fn approved_by(&self) -> Option<&str> {
        self.approved_by.as_deref()
    }
    /// What was asked.
    pub fn action(&self) -> &AuditAction {
        &self.action
    }
    /// What became of it so far.
    pub fn outcome(&self) -> AuditOutcome {
        self.outcome
    }
    /// When the outcome was last updated.
    pub fn outcome_at(&self) -> Millis {
        self.outcome_at
    }
    /// A failure reason or result, when known.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

/// Which entries to return; every field is optional (camelCase in JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuditQuery {
    /// Actions taken at or after this time.
    pub since: Option<Millis>,
    /// Actions taken before this time.
    pub until: Option<Millis>,
    /// Actions of this actor.
    pub actor: Option<Actor>,
    /// Actions on this property or command name.
    pub target: Option<String>,
    /// Actions with this outcome.
    pub outcome: Option<AuditOutcome>,
    /// The newest this many matching entries.
    pub limit: Option<usize>,
}

impl AuditQuery {
    /// Whether an entry matches (ignoring `limit`).
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.since.is_none_or(|t| entry.timestamp >= t)
            && self.until.is_none_or(|t| entry.timestamp < t)
            && self.actor.as_ref().is_none_or(|a| *a == entry.actor)
            && self
                .target
                .as_deref()
                .is_none_or(|t| entry.action.target() == t)
            && self.outcome.is_none_or(|o| o == entry.outcome)
    }
}

/// A twin's bounded audit log, oldest first (`TwinOptions::audit_capacity`
/// entries; the oldest are dropped beyond it).
#[derive(Debug, Clone)]
pub struct AuditLog {
    device_id: String,
    entries: VecDeque<AuditEntry>,
    capacity: usize,
    next_id: u64,
}

impl AuditLog {
    pub(crate) fn new(device_id: &str, capacity: usize) -> Self {
        Self {
            device_id: device_id.to_string(),
            entries: VecDeque::new(),
            capacity,
            next_id: 1,
        }
    }

    /// Records an action; returns its id.
    pub(crate) fn record(
        &mut self,
        actor: &Actor,
        approved_by: Option<&str>,
        action: AuditAction,
        now: Millis,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.capacity == 0 {
            return id;
        }
        self.entries.push_back(AuditEntry {
            id,
            device_id: self.device_id.clone(),
            timestamp: now,
            actor: actor.clone(),
            approved_by: approved_by.map(str::to_string),
            action,
            outcome: AuditOutcome::Queued,
            outcome_at: now,
            detail: None,
        });
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
        id
    }

    /// Moves an entry's outcome forward (never back, never past a final
    /// one); unknown or dropped ids are ignored.
    pub(crate) fn advance(
        &mut self,
        id: u64,
        outcome: AuditOutcome,
        detail: Option<String>,
        now: Millis,
    ) {
        let Some(entry) = self.get_mut(id) else {
            return;
        };
        if entry.outcome.is_final() || outcome.rank() < entry.outcome.rank() {
            return;
        }
        entry.outcome = outcome;
        entry.outcome_at = now;
        if detail.is_some() {
            entry.detail = detail;
        }
    }

    /// Whether nothing was ever recorded.
    pub(crate) fn is_pristine(&self) -> bool {
        self.next_id == 1
    }

    /// Puts persisted entries back into a log that never recorded anything:
    /// entries of other devices are skipped, and of the rest the newest run
    /// of consecutive ids (up to the capacity) is kept, so ids stay
    /// consecutive; recording continues after the last. Returns how many.
    pub(crate) fn restore(&mut self, mut entries: Vec<AuditEntry>) -> usize {
        entries.retain(|e| e.device_id == self.device_id);
        entries.sort_by_key(|e| e.id);
        entries.dedup_by_key(|e| e.id);
        let mut first = entries.len();
        while first > 0
            && entries.len() - first < self.capacity
            && (first == entries.len() || entries[first - 1].id + 1 == entries[first].id)
        {
            first -= 1;
        }
        if let Some(last) = entries.last() {
            self.next_id = last.id + 1;
        }
        self.entries.extend(entries.drain(first..));
        self.entries.len()
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut AuditEntry> {
        // Ids are consecutive, so the position follows from the first id.
        let first = self.entries.front()?.id;
        let index = usize::try_from(id.checked_sub(first)?).ok()?;
        self.entries.get_mut(index)
    }

    /// An entry by id, while it is kept.
    pub fn get(&self, id: u64) -> Option<&AuditEntry> {
        let first = self.entries.front()?.id;
        let index = usize::try_from(id.checked_sub(first)?).ok()?;
        self.entries.get(index)
    }

    /// Every entry kept, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &AuditEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// Number of entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries matching `query`, oldest first (the newest `limit`).
    pub fn query(&self, query: &AuditQuery) -> Vec<&AuditEntry> {
        let mut out: Vec<&AuditEntry> = self
            .entries
            .iter()
            .rev()
            .filter(|e| query.matches(e))
            .take(query.limit.unwrap_or(usize::MAX))
            .collect();
        out.reverse();
        out
    }
}

/// Column names of [`to_csv`].
pub const CSV_HEADER: [&str; 13] = [
    "id",
    "deviceId",
    "timestamp",
    "actor",
    "approvedBy",
    "kind",
    "target",
    "value",
    "commandId",
    "version",
    "outcome",
    "outcomeAt",
    "detail",
];

/// Entries as CSV (RFC 4180): a header row, CRLF line ends, fields quoted
/// when they hold a comma, quote, CR or LF, quotes doubled. Values and
/// payloads are written as JSON text; the actor as `user`, `cloud`,
/// `rule:<id>` or `script:<name>`.
///
/// Written by hand rather than with the `csv` crate: it is a few lines, and
/// it keeps a dependency out of the WebAssembly package (the tests read the
/// output back with the `csv` crate).
pub fn to_csv<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> String {
    let mut out = String::new();
    write_row(&mut out, CSV_HEADER.iter().map(|h| h.to_string()));
    for e in entries {
        let (kind, value, command_id, version) = match &e.action {
            AuditAction::Desired { value, version, .. } => (
                "desired",
                value.to_string(),
                String::new(),
                version.to_string(),
            ),
            AuditAction::Command {
                command_id,
                payload,
                ..
            } => (
                "command",
                payload.to_string(),
                command_id.clone(),
                String::new(),
            ),
        };
        write_row(
            &mut out,
            [
                e.id.to_string(),
                e.device_id.clone(),
                e.timestamp.to_string(),
                e.actor.to_string(),
                e.approved_by.clone().unwrap_or_default(),
                kind.to_string(),
                e.action.target().to_string(),
                value,
                command_id,
                version,
                e.outcome.as_str().to_string(),
                e.outcome_at.to_string(),
                e.detail.clone().unwrap_or_default(),
            ],
        );
    }
    out
}

fn write_row(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&field);
        }
    }
    out.push_str("\r\n");
}

/// Entries as a JSON array (camelCase fields, as serialized).
pub fn to_json<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> String {
    let entries: Vec<&AuditEntry> = entries.into_iter().collect();
    serde_json::to_string(&entries).unwrap_or_else(|_| "[]".to_string())
}
