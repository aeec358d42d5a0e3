//! [`use_rules`]: the rules engine of `twinkit-core` over a twin or a
//! fleet, as signals: rules run after every change of a twin's state, their
//! proposals and those waiting for approval are signals, and closures add
//! and remove rules and approve or reject proposals.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use twinkit_core::rules::ApprovalPolicy;
use twinkit_core::{EventData, Proposal, Rule, RuleEngine, TwinError};
use twinkit_web::{Fleet, Twin, WeakFleet, WeakTwin, WebError};

use crate::util::{local, on_cleanup_local, set_if_changed};

/// Whose twins [`use_rules`] acts on.
#[derive(Debug, Clone)]
pub enum RuleSource {
    /// One twin.
    Twin(Twin),
    /// Every twin of a fleet (each rule's `scope` narrows it).
    Fleet(Fleet),
}

impl From<Twin> for RuleSource {
    fn from(twin: Twin) -> Self {
        RuleSource::Twin(twin)
    }
}

impl From<&Twin> for RuleSource {
    fn from(twin: &Twin) -> Self {
        RuleSource::Twin(twin.clone())
    }
}

impl From<Fleet> for RuleSource {
    fn from(fleet: Fleet) -> Self {
        RuleSource::Fleet(fleet)
    }
}

impl From<&Fleet> for RuleSource {
    fn from(fleet: &Fleet) -> Self {
        RuleSource::Fleet(fleet.clone())
    }
}

/// A source held weakly, so the hook's listeners do not keep it alive.
#[derive(Clone)]
enum WeakSource {
    Twin(WeakTwin),
    Fleet(WeakFleet),
}

impl WeakSource {
    fn twins(&self) -> Vec<Twin> {
        match self {
            WeakSource::Twin(twin) => twin.upgrade().into_iter().collect(),
            WeakSource::Fleet(fleet) => fleet.upgrade().map(|f| f.twins()).unwrap_or_default(),
        }
    }

    fn twin(&self, device_id: &str) -> Option<Twin> {
        match self {
            WeakSource::Twin(twin) => twin.upgrade().filter(|t| t.core().id() == device_id),
            WeakSource::Fleet(fleet) => fleet.upgrade().and_then(|f| f.get(device_id)),
        }
    }
}

/// Options of [`use_rules_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseRulesOptions {
    /// Rules added when the hook runs, in order. Default: none.
    pub rules: Vec<Rule>,
    /// Which actions wait for `approve`. Default:
    /// `ApprovalPolicy::DeviceActions` (desired values and commands; rules
    /// may raise alerts on their own, never act on a device unasked).
    pub policy: ApprovalPolicy,
    /// How many recent proposals [`UseRulesReturn::proposals`] lists.
    /// Default: `100`.
    pub proposals_limit: usize,
}

impl Default for UseRulesOptions {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            policy: ApprovalPolicy::DeviceActions,
            proposals_limit: 100,
        }
    }
}

impl UseRulesOptions {
    /// Adds a rule to [`UseRulesOptions::rules`].
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Sets [`UseRulesOptions::policy`].
    pub fn policy(mut self, policy: ApprovalPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets [`UseRulesOptions::proposals_limit`].
    pub fn proposals_limit(mut self, limit: usize) -> Self {
        self.proposals_limit = limit;
        self
    }
}

/// `add_rule(rule)` of [`UseRulesReturn`].
pub type AddRuleFn = Arc<dyn Fn(Rule) -> Result<(), TwinError> + Send + Sync>;
/// `remove_rule(rule_id)` of [`UseRulesReturn`].
pub type RemoveRuleFn = Arc<dyn Fn(&str) -> Result<Rule, TwinError> + Send + Sync>;
/// `approve(proposal_id, approver)` of [`UseRulesReturn`].
pub type ApproveFn = Arc<dyn Fn(u64, &str) -> Result<Proposal, WebError> + Send + Sync>;
/// `reject(proposal_id, by, reason)` of [`UseRulesReturn`].
pub type RejectFn = Arc<dyn Fn(u64, &str, &str) -> Result<Proposal, TwinError> + Send + Sync>;
/// `evaluate()` of [`UseRulesReturn`].
pub type EvaluateFn = Arc<dyn Fn() -> Vec<Proposal> + Send + Sync>;

/// What [`use_rules`] returns.
#[derive(Clone)]
pub struct UseRulesReturn {
    /// The rules, in the order added.
    pub rules: Signal<Vec<Rule>>,
    /// Recent proposals, oldest first, each with its current status
    /// (pending approval, sent, rejected, blocked, failed), bounded by
    /// [`UseRulesOptions::proposals_limit`].
    pub proposals: Signal<Vec<Proposal>>,
    /// Proposals waiting for `approve` or `reject`, oldest first.
    pub pending_approval: Signal<Vec<Proposal>>,
    /// `add_rule(rule)`: an invalid rule (taken id, non-finite threshold,
    /// no action, ...) is an error naming the problem and changes nothing.
    /// The rule first runs at the next state change (or `evaluate`).
    pub add_rule: AddRuleFn,
    /// `remove_rule(rule_id)`: its pending proposals stay until decided.
    pub remove_rule: RemoveRuleFn,
    /// `approve(proposal_id, approver)`: the dry run (if the rule has a
    /// goal) runs again on the twin as it is now, then the action applies
    /// and is audited with the approver. A proposal not pending, or of a
    /// device no longer there, is an error.
    pub approve: ApproveFn,
    /// `reject(proposal_id, by, reason)`: nothing reaches the device.
    pub reject: RejectFn,
    /// Runs the rules on every twin now (page clock); returns the
    /// proposals made. They also run after each state change.
    pub evaluate: EvaluateFn,
}

impl std::fmt::Debug for UseRulesReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseRulesReturn")
            .field("rules", &self.rules)
            .field("pending_approval", &self.pending_approval)
            .finish_non_exhaustive()
    }
}

/// Rules over a twin or a fleet, with the default policy. See
/// [`use_rules_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use serde_json::json;
/// use twinkit_core::Rule;
/// use twinkit_leptos::{use_rules, Fleet, UseRulesReturn};
///
/// #[component]
/// fn Automation(fleet: Fleet) -> impl IntoView {
///     let UseRulesReturn { pending_approval, add_rule, approve, .. } = use_rules(&fleet);
///     let rule = Rule::from_value(json!({
///         "id": "vent",
///         "when": { "reading": { "property": "humidity", "op": "above", "threshold": 70 } },
///         "actions": [{ "type": "setDesired", "property": "fan", "value": true }],
///         "hysteresis": 5
///     }))
///     .expect("a valid rule");
///     add_rule(rule).expect("a new id");
///     view! {
///         <For each=move || pending_approval.get() key=|p| p.id let:p>
///             {
///                 let approve = approve.clone();
///                 view! {
///                     <p>{format!("{}: {:?}", p.device_id, p.action)}
///                        <button on:click=move |_| { let _ = approve(p.id, "operator"); }>"Approve"</button>
///                     </p>
///                 }
///             }
///         </For>
///     }
/// }
/// ```
pub fn use_rules(source: impl Into<RuleSource>) -> UseRulesReturn {
    mount(source.into(), RuleEngine::new(), UseRulesOptions::default())
}

/// Rules over a twin or a fleet, with options. Rules pause on twins that
/// are not `active` in their lifecycle. An invalid rule in
/// [`UseRulesOptions::rules`] is an error naming it, and nothing is
/// subscribed. The source is only listened to; cleanup ends the
/// subscription.
pub fn use_rules_with_options(
    source: impl Into<RuleSource>,
    options: UseRulesOptions,
) -> Result<UseRulesReturn, TwinError> {
    let mut engine = RuleEngine::new();
    engine.set_policy(options.policy);
    for rule in &options.rules {
        engine.add_rule(rule.clone())?;
    }
    Ok(mount(source.into(), engine, options))
}

#[derive(Clone, Copy)]
struct RuleSignals {
    rules: RwSignal<Vec<Rule>>,
    proposals: RwSignal<Vec<Proposal>>,
    pending_approval: RwSignal<Vec<Proposal>>,
    proposals_limit: usize,
}

impl RuleSignals {
    fn refresh(&self, engine: &RuleEngine) {
        set_if_changed(self.rules, engine.rules().to_vec());
        // Kept oldest first; the newest `limit` of them.
        let kept: Vec<&Proposal> = engine.proposals().collect();
        let start = kept.len().saturating_sub(self.proposals_limit);
        set_if_changed(
            self.proposals,
            kept[start..].iter().map(|p| (*p).clone()).collect(),
        );
        set_if_changed(
            self.pending_approval,
            engine.pending_approval().cloned().collect(),
        );
    }
}

/// Runs the rules on one twin and refreshes the signals.
fn evaluate(engine: &Rc<RefCell<RuleEngine>>, twin: &Twin, signals: RuleSignals) -> Vec<Proposal> {
    // The engine's borrow ends before the twin delivers the events its
    // actions raised (which run the rules again).
    let made = twin
        .update(|core, now| engine.borrow_mut().evaluate(core, now))
        .unwrap_or_default();
    signals.refresh(&engine.borrow());
    made
}

fn mount(source: RuleSource, engine: RuleEngine, options: UseRulesOptions) -> UseRulesReturn {
    let signals = RuleSignals {
        rules: RwSignal::new(Vec::new()),
        proposals: RwSignal::new(Vec::new()),
        pending_approval: RwSignal::new(Vec::new()),
        proposals_limit: options.proposals_limit,
    };
    signals.refresh(&engine);
    let engine = Rc::new(RefCell::new(engine));
    let weak = match &source {
        RuleSource::Twin(twin) => WeakSource::Twin(twin.downgrade()),
        RuleSource::Fleet(fleet) => WeakSource::Fleet(fleet.downgrade()),
    };

    // Rules run after every change of a twin's state (a report, telemetry,
    // a desired value), as the npm `RuleEngine` does.
    let watched = Rc::clone(&engine);
    let on_change = {
        let weak = weak.clone();
        move |event: &twinkit_core::DeviceEvent| {
            if let EventData::StateChange(_) = &event.data {
                if let Some(twin) = weak.twin(&event.device_id) {
                    evaluate(&watched, &twin, signals);
                }
            }
            Ok(())
        }
    };
    match &source {
        RuleSource::Twin(twin) => {
            let subscription =
                twin.subscribe(Some(twinkit_core::EventType::StateChange), on_change);
            on_cleanup_local(move || drop(subscription));
        }
        RuleSource::Fleet(fleet) => {
            let subscription = fleet.subscribe(on_change);
            on_cleanup_local(move || drop(subscription));
        }
    }

    let add_engine = local(Rc::clone(&engine));
    let add_rule: AddRuleFn = Arc::new(move |rule: Rule| {
        add_engine.borrow_mut().add_rule(rule)?;
        signals.refresh(&add_engine.borrow());
        Ok(())
    });

    let remove_engine = local(Rc::clone(&engine));
    let remove_rule: RemoveRuleFn = Arc::new(move |rule_id: &str| {
        let removed = remove_engine.borrow_mut().remove_rule(rule_id)?;
        signals.refresh(&remove_engine.borrow());
        Ok(removed)
    });

    let approve_state = local((Rc::clone(&engine), weak.clone()));
    let approve: ApproveFn = Arc::new(move |proposal_id: u64, approver: &str| {
        let (engine, source) = &*approve_state;
        let device_id = engine
            .borrow()
            .proposal(proposal_id)
            .map(|p| p.device_id.clone())
            .ok_or(TwinError::UnknownProposal { proposal_id })?;
        let twin = source
            .twin(&device_id)
            .ok_or_else(|| TwinError::UnknownDevice {
                device_id: twinkit_core::limits::printable(&device_id),
            })?;
        let decided = twin.update(|core, now| {
            engine
                .borrow_mut()
                .approve(core, proposal_id, approver, now)
        });
        signals.refresh(&engine.borrow());
        Ok(decided??)
    });

    let reject_engine = local(Rc::clone(&engine));
    let reject: RejectFn = Arc::new(move |proposal_id: u64, by: &str, reason: &str| {
        let decided =
            reject_engine
                .borrow_mut()
                .reject(proposal_id, by, reason, twinkit_web::now());
        signals.refresh(&reject_engine.borrow());
        decided
    });

    let evaluate_state = local((engine, weak));
    let evaluate_all: EvaluateFn = Arc::new(move || {
        let (engine, source) = &*evaluate_state;
        let mut made = Vec::new();
        for twin in source.twins() {
            made.extend(evaluate(engine, &twin, signals));
        }
        made
    });

    UseRulesReturn {
        rules: signals.rules.into(),
        proposals: signals.proposals.into(),
        pending_approval: signals.pending_approval.into(),
        add_rule,
        remove_rule,
        approve,
        reject,
        evaluate: evaluate_all,
    }
}
