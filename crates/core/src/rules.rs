//! Rules that act on twins, safely: a condition on readings, derived traits
//! or predictions; actions (set a desired value, send a command, raise an
//! alert); cooldown and hysteresis so a rule does not flap; a dry run of
//! each device action against a model before it may apply; and an approval
//! policy deciding which actions wait for a person.
//!
//! ```text
//! reading ─▶ condition ─(fires)─▶ proposal ─▶ dry run ─(goal met?)─▶ policy
//!                                                │ no                 │
//!                                             blocked     needs approval? ── no ─▶ sent
//!                                                                     │ yes
//!                                                            pendingApproval
//!                                                          approve │   │ reject
//!                                                 (dry run again)  ▼   ▼
//!                                                               sent  rejected
//! ```
//!
//! The engine is sans-io like the twin: [`RuleEngine::evaluate`] runs the
//! rules on one twin at `now` (call it after a reading arrives);
//! [`RuleEngine::evaluate_fleet`] on every twin of a fleet. Everything a
//! rule or a script sends goes through the twin as the actor
//! `rule:<id>` / `script:<name>`, so it is audited, version-checked and
//! refused by the device's lifecycle like any other edit.
//!
//! # Firing
//!
//! A rule is *armed* at first. It fires when its condition holds, it is
//! armed, and its `cooldown` has passed since it last fired on that twin;
//! firing disarms it. It re-arms only once the condition is clearly off: a
//! reading that was `above` its threshold must fall to `threshold −
//! hysteresis` (and `below` rise to `threshold + hysteresis`). `any`
//! conditions are off when all their parts are off, `all` when one is. A
//! signal without data (no reading yet, a trait or forecast without an
//! answer) is neither on nor off, so missing data never re-arms a rule. An
//! alert a rule raised clears when the rule re-arms.
//!
//! # Dry runs
//!
//! A rule (or a script's proposal) may carry a [`Goal`] ("temperature below
//! 78 within 10 minutes"). Each of its device actions is then run against
//! the engine's [`ActionModel`] first, which only reads the twin: it
//! predicts the goal property at `now + within` if the action were applied.
//! The action may proceed only if the prediction meets the goal; otherwise,
//! or when no model is set or it cannot answer, it is `blocked`. Approval
//! runs the dry run again, on the twin as it is then. [`RuleEngine::dry_run`]
//! runs it alone: it takes `&DigitalTwin`, so it cannot reach the device.
//!
//! A model answers with a [`Simulated`] outcome: the predicted value at
//! the goal's horizon, and, when it simulates a trajectory, a summary of it
//! and when it first meets the goal; the proposal keeps it as its
//! [`DryRun`]. A blocked device action is also recorded in the twin's audit
//! trail (outcome `blocked`, with the reason), so refusals by simulation are
//! as visible as actions taken.
//!
//! The what-if scenarios of `twinkit-analytics` plug in as the model
//! (`twinkit_analytics::action_model::WhatIfModel`): a `setDesired` of an
//! actuator becomes a `Scenario` (`property`, `actuator`, `value`, `level`,
//! `horizonMs`) answered by `twin_scenario` from the twin's own history
//! (`crates/core/tests/rules_whatif.rs` shows the mapping).

use std::collections::{BTreeMap, HashMap};

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alerts::Severity;
use crate::audit::Actor;
use crate::error::TwinError;
use crate::fleet::FleetManager;
use crate::twin::DigitalTwin;
use crate::{limits, Millis};

/// Deepest nesting of `any` / `all` conditions.
pub const MAX_CONDITION_DEPTH: usize = 8;
/// Points of a property's history the built-in linear forecast fits.
pub const FORECAST_POINTS: usize = 30;
/// Fewest points the built-in linear forecast needs.
pub const FORECAST_MIN_POINTS: usize = 5;

/// Which side of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Comparison {
    /// Strictly greater.
    Above,
    /// Strictly less.
    Below,
}

impl Comparison {
    /// Whether `value` is on this side of `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::Below => value < threshold,
        }
    }

    /// Whether `value` is back on the other side by `hysteresis`.
    fn released(self, value: f64, threshold: f64, hysteresis: f64) -> bool {
        match self {
            Self::Above => value <= threshold - hysteresis,
            Self::Below => value >= threshold + hysteresis,
        }
    }
}

/// When a rule fires. In JSON, externally tagged:
/// `{"reading": {"property": "humidity", "op": "above", "threshold": 70}}`,
/// `{"predicted": {"property": "humidity", "op": "above", "threshold": 70, "within": 300000}}`,
/// `{"derived": {"name": "dewPoint", "op": "above", "threshold": 18}}`,
/// `{"any": [...]}`, `{"all": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Condition {
    /// The property's reported value (numbers; booleans as 1/0).
    Reading {
        /// The property.
        property: String,
        /// Above or below.
        op: Comparison,
        /// The threshold.
        threshold: f64,
    },
    /// A derived trait defined with [`RuleEngine::define_trait`].
    Derived {
        /// The trait's name.
        name: String,
        /// Above or below.
        op: Comparison,
        /// The threshold.
        threshold: f64,
    },
    /// The property's forecast `within` ms from now (the engine's
    /// forecaster; by default a line fitted to the recent history), i.e.
    /// "predicted to cross the threshold within".
    Predicted {
        /// The property.
        property: String,
        /// Above or below.
        op: Comparison,
        /// The threshold.
        threshold: f64,
        /// How far ahead, in ms.
        within: Millis,
    },
    /// Any of these holds.
    Any(Vec<Condition>),
    /// All of these hold.
    All(Vec<Condition>),
}

/// A condition's state on one twin: whether it holds, whether it is clearly
/// off, and the first part that holds (for messages and alerts).
#[derive(Debug, Clone, PartialEq)]
struct Verdict {
    on: bool,
    off: bool,
    trigger: Option<Trigger>,
}

/// What made a rule fire: the signal, its value and the threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// The property or derived trait.
    pub signal: String,
    /// Its value (the forecast, for a prediction).
    pub value: f64,
    /// The threshold crossed.
    pub threshold: f64,
    /// Whether the value is a forecast.
    pub predicted: bool,
}

/// What a rule does when it fires. In JSON, tagged by `type`:
/// `{"type": "setDesired", "property": "fan", "value": true}`,
/// `{"type": "sendCommand", "name": "purge", "payload": {...}}`,
/// `{"type": "raiseAlert", "severity": "warning", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Action {
    /// Set a desired value.
    SetDesired {
        /// The property.
        property: String,
        /// The value.
        value: Value,
    },
    /// Send a command.
    SendCommand {
        /// The command name.
        name: String,
        /// Its payload.
        #[serde(default)]
        payload: Value,
    },
    /// Raise an alert on the twin (condition `RULE`); it clears when the
    /// rule re-arms.
    RaiseAlert {
        /// How serious.
        severity: Severity,
        /// The alert's message.
        message: String,
    },
}

impl Action {
    /// Whether the action reaches the device (set desired, send command).
    pub fn reaches_device(&self) -> bool {
        !matches!(self, Self::RaiseAlert { .. })
    }

    fn check(&self) -> Result<(), String> {
        let describe = |e: TwinError| e.to_string();
        match self {
            Self::SetDesired { property, value } => {
                limits::check_name(property).map_err(describe)?;
                limits::check_value(format_args!("value of `{property}`"), value).map_err(describe)
            }
            Self::SendCommand { name, payload } => {
                limits::check_name(name).map_err(describe)?;
                limits::check_value(format_args!("payload of `{name}`"), payload).map_err(describe)
            }
            Self::RaiseAlert { message, .. } => {
                if message.len() > limits::MAX_STRING_BYTES {
                    Err("alert message is too long".into())
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// What an action must achieve, checked by a dry run before it applies:
/// the goal's property must be `op` `threshold` at `now + within`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Goal {
    /// The property predicted.
    pub property: String,
    /// Above or below.
    pub op: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// By when, in ms from now.
    pub within: Millis,
}

/// Which twins a rule applies to (all when both are empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Scope {
    /// Only these devices.
    pub devices: Vec<String>,
    /// Only devices of this type.
    pub device_type: Option<String>,
}

impl Scope {
    /// Whether the rule applies to `twin`.
    pub fn includes(&self, twin: &DigitalTwin) -> bool {
        (self.devices.is_empty() || self.devices.iter().any(|d| d == twin.id()))
            && self
                .device_type
                .as_ref()
                .is_none_or(|t| *t == twin.config().device_type)
    }
}

/// A rule (camelCase in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Unique id; the actor of its actions is `rule:<id>`.
    pub id: String,
    /// When it fires.
    pub when: Condition,
    /// What it does, in order.
    pub actions: Vec<Action>,
    /// What its device actions must achieve (checked by a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// Least time between two firings on one twin, in ms. Default 0.
    #[serde(default)]
    pub cooldown: Millis,
    /// How far back past its threshold a signal must go to re-arm the rule,
    /// in the signal's units. Default 0.
    #[serde(default)]
    pub hysteresis: f64,
    /// Which twins (all by default).
    #[serde(default)]
    pub scope: Scope,
    /// Whether it is evaluated. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Rule {
    /// Reads a rule from JSON, naming the path of a field of the wrong shape.
    pub fn from_value(value: Value) -> Result<Self, TwinError> {
        serde_path_to_error::deserialize(value).map_err(|e| TwinError::InvalidRule {
            rule_id: String::new(),
            reason: format!("at `{}`: {}", e.path(), e.inner()),
        })
    }
}

/// Which actions wait for explicit approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ApprovalPolicy {
    /// Every action that reaches the device (the default): rules may raise
    /// alerts on their own, never act on a device.
    #[default]
    DeviceActions,
    /// Every action, alerts included.
    All,
    /// None: actions whose dry run passes apply at once.
    None,
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ProposalStatus {
    /// Waiting for [`RuleEngine::approve`] or [`RuleEngine::reject`].
    PendingApproval,
    /// Applied: handed to the twin (desired value or command queued for the
    /// device; alert raised).
    Sent,
    /// Refused by a person.
    Rejected,
    /// Its dry run did not meet the goal, or could not run.
    Blocked,
    /// The twin refused it (a conflict, a lifecycle state, a bad value).
    Failed,
}

impl ProposalStatus {
    /// The name in JSON, e.g. `"pendingApproval"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pendingApproval",
            Self::Sent => "sent",
            Self::Rejected => "rejected",
            Self::Blocked => "blocked",
            Self::Failed => "failed",
        }
    }
}

/// A dry run's answer (a proposal's `dryRun` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// The goal property's predicted value at `at`.
    pub predicted: f64,
    /// When (`now + goal.within`).
    pub at: Millis,
    /// Whether the prediction meets the goal.
    pub meets_goal: bool,
    /// When the predicted trajectory first meets the goal (`None`: not
    /// before the horizon, or the model does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossing_at: Option<Millis>,
    /// The predicted trajectory in brief, when the model simulates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<TrajectorySummary>,
    /// Which model answered, when it says (e.g. `"thermal"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// A predicted trajectory in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrajectorySummary {
    /// The value at `now`.
    pub start: f64,
    /// The value at the horizon.
    pub end: f64,
    /// The lowest value on the way.
    pub min: f64,
    /// The highest value on the way.
    pub max: f64,
    /// How many points the model computed.
    pub points: usize,
}

impl TrajectorySummary {
    /// Summarises `(time, value)` points (`None` when there are none or
    /// one is not finite).
    pub fn of(points: &[(Millis, f64)]) -> Option<Self> {
        let (first, last) = (points.first()?, points.last()?);
        if points.iter().any(|(_, v)| !v.is_finite()) {
            return None;
        }
        let min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        Some(Self {
            start: first.1,
            end: last.1,
            min,
            max,
            points: points.len(),
        })
    }
}

/// What a model predicts for an action (see [`ActionModel::simulate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulated {
    /// The goal property's value at `now + goal.within`.
    pub predicted: f64,
    /// When the goal is first met, if the model tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossing_at: Option<Millis>,
    /// The trajectory in brief, if the model simulates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<TrajectorySummary>,
    /// The model's name, if it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Simulated {
    /// A bare prediction.
    pub fn value(predicted: f64) -> Self {
        Self {
            predicted,
            crossing_at: None,
            trajectory: None,
            model: None,
        }
    }

    /// From a trajectory of `(time, value)` from `now` (the goal's horizon
    /// is read by holding the last point at or before it): the value at the
    /// horizon, the first time the goal holds and the summary. `None` when
    /// the trajectory is empty.
    pub fn from_trajectory(points: &[(Millis, f64)], goal: &Goal, now: Millis) -> Option<Self> {
        let horizon = now.saturating_add(goal.within);
        let within: Vec<(Millis, f64)> = points
            .iter()
            .copied()
            .filter(|(t, _)| *t <= horizon)
            .collect();
        let predicted = within.last().or(points.first())?.1;
        let crossing_at = within
            .iter()
            .find(|(_, v)| goal.op.holds(*v, goal.threshold))
            .map(|(t, _)| *t);
        Some(Self {
            predicted,
            crossing_at,
            trajectory: TrajectorySummary::of(&within),
            model: None,
        })
    }
}

/// An action a rule or a script proposed, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    /// Sequence number in this engine.
    pub id: u64,
    /// The twin acted on.
    pub device_id: String,
    /// Who proposed it (`rule:<id>` or `script:<name>`).
    pub actor: Actor,
    /// What.
    pub action: Action,
    /// What it must achieve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// What made the rule fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// When it was proposed.
    pub created_at: Millis,
    /// Where it stands.
    pub status: ProposalStatus,
    /// The latest dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRun>,
    /// Who approved or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When its status last changed.
    pub updated_at: Millis,
    /// Why it was blocked, rejected or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The state version the proposal was made on: a desired value it sets
    /// is refused (conflict) if someone changed it since.
    pub base_version: u64,
    /// The audit entry (desired value, command) or alert id it produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

impl Proposal {
    /// The rule id or script name behind it.
    pub fn actor_name(&self) -> &str {
        match &self.actor {
            Actor::Rule { id } => id,
            Actor::Script { name } => name,
            Actor::User => "user",
            Actor::Cloud => "cloud",
        }
    }
}

/// Predicts a goal property if an action were applied; reads the twin
/// only. Closures `Fn(&DigitalTwin, &Action, &Goal, Millis) -> Result<f64,
/// String>` are models.
pub trait ActionModel {
    /// The goal property's value at `now + goal.within` if `action` were
    /// applied at `now`, or why it cannot tell.
    fn predict(
        &self,
        twin: &DigitalTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<f64, String>;

    /// The full answer: the prediction and, for models that simulate a
    /// trajectory, its summary and when it meets the goal. By default,
    /// [`ActionModel::predict`] alone.
    fn simulate(
        &self,
        twin: &DigitalTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<Simulated, String> {
        self.predict(twin, action, goal, now).map(Simulated::value)
    }
}

impl<F> ActionModel for F
where
    F: Fn(&DigitalTwin, &Action, &Goal, Millis) -> Result<f64, String>,
{
    fn predict(
        &self,
        twin: &DigitalTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<f64, String> {
        self(twin, action, goal, now)
    }
}

type TraitFn = Box<dyn Fn(&DigitalTwin, Millis) -> Option<f64>>;
type ForecastFn = Box<dyn Fn(&DigitalTwin, &str, Millis, Millis) -> Option<f64>>;
type ApprovalFn = Box<dyn Fn(&Proposal) -> bool>;

/// The built-in forecast: a least-squares line through the newest
/// [`FORECAST_POINTS`] points of the property's telemetry history, read at
/// `at`; none with fewer than [`FORECAST_MIN_POINTS`] points.
pub fn linear_forecast(twin: &DigitalTwin, property: &str, at: Millis) -> Option<f64> {
    let tail = twin.history().numeric_tail(property, FORECAST_POINTS);
    if tail.len() < FORECAST_MIN_POINTS {
        return None;
    }
    let fit = crate::prediction::fit_line(tail)?;
    let value = fit.value_at(at);
    value.is_finite().then_some(value)
}

/// Forecasts made during one evaluation, by property and time: rules that
/// ask the same question of the same reading share one fit.
#[derive(Default)]
struct Forecasts(Vec<(String, Millis, Option<f64>)>);

impl Forecasts {
    fn get_or_compute(
        &mut self,
        property: &str,
        at: Millis,
        compute: impl FnOnce() -> Option<f64>,
    ) -> Option<f64> {
        if let Some((_, _, value)) = self.0.iter().find(|(p, t, _)| p == property && *t == at) {
            return *value;
        }
        let value = compute();
        self.0.push((property.to_owned(), at, value));
        value
    }
}

/// Per rule and twin: armed, last firing, the alert it raised.
#[derive(Debug, Clone, Default)]
struct RuleState {
    disarmed: bool,
    last_fired: Option<Millis>,
    alert_id: Option<String>,
}

/// Most proposals kept; the oldest decided ones are forgotten first.
pub const DEFAULT_MAX_PROPOSALS: usize = 1_000;
/// Most proposals awaiting approval at once; more are rejected.
pub const DEFAULT_MAX_PENDING: usize = 256;

/// Rules, their hooks and their proposals, for one twin or a fleet.
pub struct RuleEngine {
    rules: Vec<Rule>,
    /// Per device id, the state of each rule (same order as `rules`).
    states: HashMap<String, Vec<RuleState>>,
    traits: BTreeMap<String, TraitFn>,
    forecast: Option<ForecastFn>,
    model: Option<Box<dyn ActionModel>>,
    policy: ApprovalPolicy,
    approval: Option<ApprovalFn>,
    // By id, so the oldest decided one is found from the front in O(log n).
    proposals: BTreeMap<u64, Proposal>,
    pending_count: usize,
    next_id: u64,
    max_proposals: usize,
    max_pending: usize,
}

impl fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleEngine")
            .field("rules", &self.rules.len())
            .field("traits", &self.traits.keys().collect::<Vec<_>>())
            .field("custom_forecast", &self.forecast.is_some())
            .field("model", &self.model.is_some())
            .field("policy", &self.policy)
            .field("proposals", &self.proposals.len())
            .finish()
    }
}

impl Default for RuleEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl RuleEngine {
    /// An engine without rules, with the default policy (device actions need
    /// approval) and the built-in linear forecast.
    pub fn new() -> Self {
        Self {
            rules: Vec::new(),
            states: HashMap::new(),
            traits: BTreeMap::new(),
            forecast: None,
            model: None,
            policy: ApprovalPolicy::default(),
            approval: None,
            proposals: BTreeMap::new(),
            pending_count: 0,
            next_id: 1,
            max_proposals: DEFAULT_MAX_PROPOSALS,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }

    // ----- rules and hooks ------------------------------------------------

    /// Adds a rule; refused if its id is taken or invalid, a threshold is
    /// not finite, a name is unacceptable, a derived trait is not defined
    /// yet, or it has no action.
    pub fn add_rule(&mut self, rule: Rule) -> Result<(), TwinError> {
        let invalid = |reason: String| TwinError::InvalidRule {
            rule_id: limits::printable(&rule.id),
            reason,
        };
        limits::check_name(&rule.id).map_err(|e| invalid(e.to_string()))?;
        if self.rules.iter().any(|r| r.id == rule.id) {
            return Err(invalid("a rule with this id exists".into()));
        }
        self.check_condition(&rule.when, 0).map_err(invalid)?;
        if rule.actions.is_empty() {
            return Err(invalid("has no action".into()));
        }
        for action in &rule.actions {
            action.check().map_err(invalid)?;
        }
        if let Some(goal) = &rule.goal {
            check_goal(goal).map_err(invalid)?;
        }
        if !(rule.hysteresis.is_finite() && rule.hysteresis >= 0.0) {
            return Err(invalid("hysteresis must be a finite number ≥ 0".into()));
        }
        self.rules.push(rule);
        for states in self.states.values_mut() {
            states.push(RuleState::default());
        }
        Ok(())
    }

    fn check_condition(&self, condition: &Condition, depth: usize) -> Result<(), String> {
        if depth > MAX_CONDITION_DEPTH {
            return Err(format!(
                "conditions nest deeper than {MAX_CONDITION_DEPTH} levels"
            ));
        }
        let finite = |t: f64| {
            if t.is_finite() {
                Ok(())
            } else {
                Err("thresholds must be finite numbers".to_string())
            }
        };
        match condition {
            Condition::Reading {
                property,
                threshold,
                ..
            } => {
                limits::check_name(property).map_err(|e| e.to_string())?;
                finite(*threshold)
            }
            Condition::Predicted {
                property,
                threshold,
                within,
                ..
            } => {
                limits::check_name(property).map_err(|e| e.to_string())?;
                if *within == 0 {
                    return Err("`within` must be greater than 0".into());
                }
                finite(*threshold)
            }
            Condition::Derived {
                name, threshold, ..
            } => {
                if !self.traits.contains_key(name) {
                    return Err(format!(
                        "derived trait `{}` is not defined",
                        limits::printable(name)
                    ));
                }
                finite(*threshold)
            }
            Condition::Any(parts) | Condition::All(parts) => {
                if parts.is_empty() {
                    return Err("`any` and `all` need at least one condition".into());
                }
                parts
                    .iter()
                    .try_for_each(|p| self.check_condition(p, depth + 1))
            }
        }
    }

    /// Removes a rule (its pending proposals stay until decided).
    pub fn remove_rule(&mut self, rule_id: &str) -> Result<Rule, TwinError> {
        let index = self
            .rules
            .iter()
            .position(|r| r.id == rule_id)
            .ok_or_else(|| TwinError::InvalidRule {
                rule_id: limits::printable(rule_id),
                reason: "no such rule".into(),
            })?;
        for states in self.states.values_mut() {
            states.remove(index);
        }
        Ok(self.rules.remove(index))
    }

    /// The rules, in the order added.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Defines a derived trait (e.g. a dew point from temperature and
    /// humidity) for `derived` conditions; `None` means no answer now.
    pub fn define_trait(
        &mut self,
        name: &str,
        compute: impl Fn(&DigitalTwin, Millis) -> Option<f64> + 'static,
    ) -> Result<(), TwinError> {
        limits::check_name(name)?;
        self.traits.insert(name.to_string(), Box::new(compute));
        Ok(())
    }

    /// Replaces the forecast used by `predicted` conditions:
    /// `(twin, property, at, now)` → the property's value at `at`.
    pub fn set_forecast(
        &mut self,
        forecast: impl Fn(&DigitalTwin, &str, Millis, Millis) -> Option<f64> + 'static,
    ) {
        self.forecast = Some(Box::new(forecast));
    }

    /// Sets the model dry runs use.
    pub fn set_model(&mut self, model: impl ActionModel + 'static) {
        self.model = Some(Box::new(model));
    }

    /// Sets which actions need approval.
    pub fn set_policy(&mut self, policy: ApprovalPolicy) {
        self.policy = policy;
    }

    /// The approval policy.
    pub fn policy(&self) -> ApprovalPolicy {
        self.policy
    }

    /// Decides per proposal whether it needs approval, replacing the policy
    /// (e.g. commands always, desired values only outside a range).
    pub fn set_approval_rule(&mut self, needs_approval: impl Fn(&Proposal) -> bool + 'static) {
        self.approval = Some(Box::new(needs_approval));
    }

    // ----- evaluation -------------------------------------------------------

    /// Evaluates every enabled rule in scope on `twin` at `now` (call it
    /// when a reading arrives); returns the proposals made. Twins not
    /// `active` in their lifecycle (suspended, in maintenance…) are skipped:
    /// automation pauses with them.
    pub fn evaluate(&mut self, twin: &mut DigitalTwin, now: Millis) -> Vec<Proposal> {
        let mut made = Vec::new();
        if !twin.lifecycle().automation_allowed() {
            return made;
        }
        let count = self.rules.len();
        let mut states = self.states.remove(twin.id()).unwrap_or_default();
        states.resize_with(count, RuleState::default);
        let mut forecasts = Forecasts::default();
        for (index, state) in states.iter_mut().enumerate() {
            let rule = &self.rules[index];
            if !rule.enabled || !rule.scope.includes(twin) {
                continue;
            }
            let verdict = self.judge(&rule.when, rule.hysteresis, twin, now, &mut forecasts);
            if state.disarmed {
                if verdict.off {
                    state.disarmed = false;
                    if let Some(alert_id) = state.alert_id.take() {
                        twin.resolve_rule_alert(&alert_id, now);
                    }
                }
                continue;
            }
            let cooling = state
                .last_fired
                .is_some_and(|t| now < t.saturating_add(rule.cooldown));
            if !verdict.on || cooling {
                continue;
            }
            state.disarmed = true;
            state.last_fired = Some(now);
            let actor = Actor::rule(rule.id.clone());
            let rule = rule.clone();
            for action in &rule.actions {
                let proposal = self.propose_inner(
                    twin,
                    actor.clone(),
                    action.clone(),
                    rule.goal.clone(),
                    verdict.trigger.clone(),
                    now,
                );
                if let (Action::RaiseAlert { .. }, ProposalStatus::Sent) =
                    (&proposal.action, proposal.status)
                {
                    state.alert_id.clone_from(&proposal.result);
                }
                made.push(proposal);
            }
        }
        self.states.insert(twin.id().to_string(), states);
        made
    }

    /// Evaluates the rules on every twin of a fleet.
    pub fn evaluate_fleet(&mut self, fleet: &mut FleetManager, now: Millis) -> Vec<Proposal> {
        let mut made = Vec::new();
        for twin in fleet.devices_mut() {
            made.extend(self.evaluate(twin, now));
        }
        made
    }

    /// Evaluates the rules on one twin of a fleet (after its reading).
    pub fn evaluate_device(
        &mut self,
        fleet: &mut FleetManager,
        device_id: &str,
        now: Millis,
    ) -> Result<Vec<Proposal>, TwinError> {
        let twin = fleet
            .device_mut(device_id)
            .ok_or_else(|| TwinError::UnknownDevice {
                device_id: limits::printable(device_id),
            })?;
        Ok(self.evaluate(twin, now))
    }

    fn signal(
        &self,
        twin: &DigitalTwin,
        condition: &Condition,
        now: Millis,
        forecasts: &mut Forecasts,
    ) -> Option<f64> {
        match condition {
            Condition::Reading { property, .. } => match twin.property(property)? {
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                v => v.as_f64(),
            },
            Condition::Derived { name, .. } => self.traits.get(name).and_then(|f| f(twin, now)),
            Condition::Predicted {
                property, within, ..
            } => {
                let at = now.saturating_add(*within);
                forecasts.get_or_compute(property, at, || match &self.forecast {
                    Some(f) => f(twin, property, at, now),
                    None => linear_forecast(twin, property, at),
                })
            }
            Condition::Any(_) | Condition::All(_) => None,
        }
        .filter(|v| v.is_finite())
    }

    fn judge(
        &self,
        condition: &Condition,
        hysteresis: f64,
        twin: &DigitalTwin,
        now: Millis,
        forecasts: &mut Forecasts,
    ) -> Verdict {
        match condition {
            Condition::Any(parts) => {
                let mut verdict = Verdict {
                    on: false,
                    off: true,
                    trigger: None,
                };
                for part in parts {
                    let v = self.judge(part, hysteresis, twin, now, forecasts);
                    if v.on && !verdict.on {
                        verdict.on = true;
                        verdict.trigger = v.trigger;
                    }
                    verdict.off &= v.off;
                }
                verdict
            }
            Condition::All(parts) => {
                let mut verdict = Verdict {
                    on: true,
                    off: false,
                    trigger: None,
                };
                for part in parts {
                    let v = self.judge(part, hysteresis, twin, now, forecasts);
                    verdict.on &= v.on;
                    verdict.off |= v.off;
                    if verdict.trigger.is_none() {
                        verdict.trigger = v.trigger;
                    }
                }
                if !verdict.on {
                    verdict.trigger = None;
                }
                verdict
            }
            Condition::Reading {
                property: signal,
                op,
                threshold,
            }
            | Condition::Derived {
                name: signal,
                op,
                threshold,
            }
            | Condition::Predicted {
                property: signal,
                op,
                threshold,
                ..
            } => match self.signal(twin, condition, now, forecasts) {
                None => Verdict {
                    on: false,
                    off: false,
                    trigger: None,
                },
                Some(value) => {
                    let on = op.holds(value, *threshold);
                    Verdict {
                        on,
                        off: op.released(value, *threshold, hysteresis),
                        trigger: on.then(|| Trigger {
                            signal: signal.clone(),
                            value,
                            threshold: *threshold,
                            predicted: matches!(condition, Condition::Predicted { .. }),
                        }),
                    }
                }
            },
        }
    }

    // ----- proposals, dry runs, approval ------------------------------------

    /// Runs `action` against the model alone: nothing is applied, nothing
    /// is recorded, and the twin is only read, so the device is never
    /// reached. Refused without a model, or when the model cannot answer.
    pub fn dry_run(
        &self,
        twin: &DigitalTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<DryRun, TwinError> {
        let refused = |reason: String| TwinError::DryRunFailed { reason };
        check_goal(goal).map_err(refused)?;
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| refused("no model is set to predict the outcome".into()))?;
        let simulated = model
            .simulate(twin, action, goal, now)
            .map_err(|e| refused(format!("the model cannot predict `{}`: {e}", goal.property)))?;
        let predicted = simulated.predicted;
        if !predicted.is_finite() {
            return Err(refused("the model predicted a non-finite value".into()));
        }
        let at = now.saturating_add(goal.within);
        Ok(DryRun {
            predicted,
            at,
            meets_goal: goal.op.holds(predicted, goal.threshold),
            crossing_at: simulated.crossing_at.filter(|t| (now..=at).contains(t)),
            trajectory: simulated.trajectory,
            model: simulated.model.map(|m| limits::printable(&m)),
        })
    }

    /// A script proposes an action on `twin`: dry run (when there is a goal),
    /// then the policy; applied at once or left pending approval.
    pub fn propose(
        &mut self,
        twin: &mut DigitalTwin,
        actor: Actor,
        action: Action,
        goal: Option<Goal>,
        now: Millis,
    ) -> Result<Proposal, TwinError> {
        let invalid = |reason: String| TwinError::InvalidRule {
            rule_id: actor.to_string(),
            reason,
        };
        actor.check()?;
        action.check().map_err(invalid)?;
        if let Some(goal) = &goal {
            check_goal(goal).map_err(invalid)?;
        }
        Ok(self.propose_inner(twin, actor, action, goal, None, now))
    }

    fn propose_inner(
        &mut self,
        twin: &mut DigitalTwin,
        actor: Actor,
        action: Action,
        goal: Option<Goal>,
        trigger: Option<Trigger>,
        now: Millis,
    ) -> Proposal {
        let id = self.next_id;
        self.next_id += 1;
        let mut proposal = Proposal {
            id,
            device_id: twin.id().to_string(),
            actor,
            action,
            goal,
            trigger,
            created_at: now,
            status: ProposalStatus::PendingApproval,
            dry_run: None,
            decided_by: None,
            updated_at: now,
            reason: None,
            base_version: twin.state().version(),
            result: None,
        };
        if !self.check_safety(twin, &mut proposal, now) {
            record_blocked(twin, &mut proposal, now);
        } else if !self.needs_approval(&proposal) {
            apply(twin, &mut proposal, None, now);
        } else if self.pending_count >= self.max_pending {
            proposal.status = ProposalStatus::Rejected;
            proposal.reason = Some(format!(
                "{} proposals already await approval",
                self.max_pending
            ));
        }
        self.keep(proposal.clone());
        proposal
    }

    /// Dry-runs a proposal with a goal; false (and blocked) when it may not
    /// proceed.
    fn check_safety(&self, twin: &DigitalTwin, proposal: &mut Proposal, now: Millis) -> bool {
        let Some(goal) = &proposal.goal else {
            return true;
        };
        if !proposal.action.reaches_device() {
            return true;
        }
        let blocked = match self.dry_run(twin, &proposal.action, goal, now) {
            Ok(run) => {
                let met = run.meets_goal;
                let reason = (!met).then(|| {
                    format!(
                        "dry run: `{}` predicted {} at {}, not {} {}",
                        goal.property,
                        run.predicted,
                        run.at,
                        match goal.op {
                            Comparison::Above => "above",
                            Comparison::Below => "below",
                        },
                        goal.threshold
                    )
                });
                proposal.dry_run = Some(run);
                reason
            }
            Err(e) => Some(e.to_string()),
        };
        match blocked {
            None => true,
            Some(reason) => {
                proposal.status = ProposalStatus::Blocked;
                proposal.reason = Some(reason);
                proposal.updated_at = now;
                false
            }
        }
    }

    fn needs_approval(&self, proposal: &Proposal) -> bool {
        if let Some(decide) = &self.approval {
            return decide(proposal);
        }
        match self.policy {
            ApprovalPolicy::DeviceActions => proposal.action.reaches_device(),
            ApprovalPolicy::All => true,
            ApprovalPolicy::None => false,
        }
    }

    fn keep(&mut self, proposal: Proposal) {
        if proposal.status == ProposalStatus::PendingApproval {
            self.pending_count += 1;
        }
        self.proposals.insert(proposal.id, proposal);
        while self.proposals.len() > self.max_proposals {
            // Forget the oldest decided proposal; pending ones stay.
            let Some(id) = self
                .proposals
                .values()
                .find(|p| p.status != ProposalStatus::PendingApproval)
                .map(|p| p.id)
            else {
                break;
            };
            self.proposals.remove(&id);
        }
    }

    /// Approves a pending proposal on its twin: the dry run runs again on
    /// the twin as it is now, then the action applies (`sent`), or the
    /// proposal is `blocked` or `failed` with the reason.
    pub fn approve(
        &mut self,
        twin: &mut DigitalTwin,
        proposal_id: u64,
        approver: &str,
        now: Millis,
    ) -> Result<Proposal, TwinError> {
        limits::check_name(approver)?;
        let mut proposal = self.pending(proposal_id)?.clone();
        if proposal.device_id != twin.id() {
            return Err(TwinError::UnknownDevice {
                device_id: limits::printable(twin.id()),
            });
        }
        proposal.decided_by = Some(approver.to_string());
        proposal.updated_at = now;
        if self.check_safety(twin, &mut proposal, now) {
            apply(twin, &mut proposal, Some(approver), now);
        } else {
            record_blocked(twin, &mut proposal, now);
        }
        self.pending_count -= 1;
        self.proposals.insert(proposal_id, proposal.clone());
        Ok(proposal)
    }

    /// Approves a pending proposal on its twin in `fleet`.
    pub fn approve_in(
        &mut self,
        fleet: &mut FleetManager,
        proposal_id: u64,
        approver: &str,
        now: Millis,
    ) -> Result<Proposal, TwinError> {
        let device_id = self.pending(proposal_id)?.device_id.clone();
        let twin = fleet
            .device_mut(&device_id)
            .ok_or_else(|| TwinError::UnknownDevice {
                device_id: device_id.clone(),
            })?;
        self.approve(twin, proposal_id, approver, now)
    }

    /// Rejects a pending proposal: it never reaches the device.
    pub fn reject(
        &mut self,
        proposal_id: u64,
        by: &str,
        reason: &str,
        now: Millis,
    ) -> Result<Proposal, TwinError> {
        limits::check_name(by)?;
        self.pending(proposal_id)?;
        let Some(proposal) = self.proposals.get_mut(&proposal_id) else {
            unreachable!("checked just above")
        };
        self.pending_count -= 1;
        proposal.status = ProposalStatus::Rejected;
        proposal.decided_by = Some(by.to_string());
        proposal.reason = Some(limits::printable(reason));
        proposal.updated_at = now;
        Ok(proposal.clone())
    }

    fn pending(&self, proposal_id: u64) -> Result<&Proposal, TwinError> {
        let proposal = self
            .proposals
            .get(&proposal_id)
            .ok_or(TwinError::UnknownProposal { proposal_id })?;
        if proposal.status != ProposalStatus::PendingApproval {
            return Err(TwinError::ProposalNotPending {
                proposal_id,
                status: proposal.status.as_str(),
            });
        }
        Ok(proposal)
    }

    /// A proposal, while kept.
    pub fn proposal(&self, proposal_id: u64) -> Option<&Proposal> {
        self.proposals.get(&proposal_id)
    }

    /// Every proposal kept, oldest first.
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.values()
    }

    /// Proposals awaiting approval, oldest first.
    pub fn pending_approval(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals
            .values()
            .filter(|p| p.status == ProposalStatus::PendingApproval)
    }
}

fn check_goal(goal: &Goal) -> Result<(), String> {
    limits::check_name(&goal.property).map_err(|e| e.to_string())?;
    if !goal.threshold.is_finite() {
        return Err("the goal's threshold must be finite".into());
    }
    if goal.within == 0 {
        return Err("the goal's `within` must be greater than 0".into());
    }
    Ok(())
}

/// Records a blocked device action in the twin's audit trail; the entry's
/// id becomes the proposal's result.
fn record_blocked(twin: &mut DigitalTwin, proposal: &mut Proposal, now: Millis) {
    let reason = proposal.reason.clone().unwrap_or_default();
    if let Some(id) = twin.audit_blocked(proposal, &reason, now) {
        proposal.result = Some(id.to_string());
    }
}

/// Hands an approved (or approval-free) action to the twin.
fn apply(twin: &mut DigitalTwin, proposal: &mut Proposal, approver: Option<&str>, now: Millis) {
    let actor = proposal.actor.clone();
    let result = match &proposal.action {
        Action::SetDesired { property, value } => twin
            .write_desired_checked(
                property,
                value.clone(),
                Some(proposal.base_version),
                &actor,
                approver,
                now,
            )
            .map(|w| w.audit_id.map(|id| id.to_string())),
        Action::SendCommand { name, payload } => twin
            .send_command_checked(name, payload.clone(), &actor, approver, now)
            .map(|c| Some(c.command_id)),
        Action::RaiseAlert { severity, message } => {
            let alert = twin.raise_rule_alert(proposal, *severity, message, now);
            Ok(Some(alert.id))
        }
    };
    proposal.updated_at = now;
    match result {
        Ok(result) => {
            proposal.status = ProposalStatus::Sent;
            proposal.result = result;
        }
        Err(e) => {
            proposal.status = ProposalStatus::Failed;
            proposal.reason = Some(e.to_string());
        }
    }
}
