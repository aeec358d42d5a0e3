//! Who acts on a device: the [`Actor`] behind every desired value and
//! command.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::TwinError;
use crate::limits;
use crate::state::UpdateSource;

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
