//! `RuleEngine` for JavaScript: rules that act on one twin's readings, with
//! cooldown, hysteresis and an approval policy (device actions wait for
//! `approve()` by default). Rules run after every change of the twin's
//! reported state; every action they take is in the twin's audit trail.
//!
//! Dry runs: with `{dryRun: "whatif"}` (the what-if scenarios of
//! `twinkit-analytics`, fitted to the twin's history) or a model set with
//! `setModel(callback)`, every device action of a rule with a `goal` (or of
//! `propose(action, {goal})`) is simulated first and applies only if the
//! prediction meets the goal; `simulate(action, goal)` runs one alone and
//! never reaches the device. The logic is the core's; this is the binding.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use serde::Deserialize;
use serde_json::{json, Value};
use twinkit_analytics::action_model::WhatIfModel;
use twinkit_analytics::whatif::ModelKind;
use twinkit_core::rules::{
    Action, ActionModel, ApprovalPolicy, Goal, Proposal, Rule, RuleEngine as Engine, Simulated,
};
use twinkit_core::{Actor, DigitalTwin as CoreTwin, EventType, Millis};
use twinkit_web::{HandlerFailed, Subscription, Twin};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{from_js, js_error, to_js, twin_error, OrThrow};
use crate::twin::{make_unsubscribe, DigitalTwin};

/// The second argument of the constructor, in its object form.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EngineOptions {
    policy: Option<ApprovalPolicy>,
    dry_run: Option<DryRunKind>,
    what_if_model: Option<ModelKind>,
}

/// Which model dry runs use from the start.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
enum DryRunKind {
    /// The what-if scenarios (thermal by default).
    Whatif,
}

/// A JavaScript model: `callback({action, goal, now, state})` returns the
/// predicted number, or `{predicted, crossingAt?}`, or `{trajectory:
/// [[time, value], ...]}`. It runs while the twin is being updated, so it
/// gets a snapshot of the state and must not call the twin.
struct JsModel {
    callback: Function,
}

impl ActionModel for JsModel {
    fn predict(
        &self,
        twin: &CoreTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<f64, String> {
        self.simulate(twin, action, goal, now).map(|s| s.predicted)
    }

    fn simulate(
        &self,
        twin: &CoreTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<Simulated, String> {
        let callback = &self.callback;
        let request = json!({
            "action": action, "goal": goal, "now": now, "state": twin.state(),
        });
        let request = to_js(&request).map_err(|_| "could not pass the request".to_string())?;
        let answer = callback.call1(&JsValue::NULL, &request).map_err(|e| {
            let message = Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "the model threw".into());
            let message: String = message.chars().take(200).collect();
            format!(
                "the model threw: {}",
                twinkit_core::limits::printable(&message)
            )
        })?;
        if let Some(n) = answer.as_f64() {
            return Ok(Simulated::value(n));
        }
        let answer = from_js(&answer, "the model's answer")
            .map_err(|_| "the model must return a number or an object".to_string())?;
        if let Some(points) = answer.get("trajectory") {
            let points: Vec<(Millis, f64)> = serde_json::from_value(points.clone())
                .map_err(|e| format!("the model's trajectory: {e}"))?;
            return Simulated::from_trajectory(&points, goal, now)
                .ok_or_else(|| "the model's trajectory is empty".into());
        }
        serde_json::from_value::<Simulated>(answer).map_err(|e| {
            format!("the model's answer must be a number, {{predicted, crossingAt?}} or {{trajectory}}: {e}")
        })
    }
}

struct ScriptOptions {
    script: String,
    goal: Option<Goal>,
}

fn script_options(options: &JsValue) -> Result<ScriptOptions, JsValue> {
    let bad = |e: String| js_error("INVALID_INPUT", &format!("options: {e}"));
    if options.is_undefined() || options.is_null() {
        return Ok(ScriptOptions {
            script: "script".into(),
            goal: None,
        });
    }
    let value = from_js(options, "options")?;
    let script = match value.get("script") {
        None | Some(Value::Null) => "script".to_string(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(bad("`script` must be a string".into())),
    };
    let goal = match value.get("goal") {
        None | Some(Value::Null) => None,
        Some(goal) => Some(goal_from(goal.clone())?),
    };
    if let Some(key) = value
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "script" && *k != "goal"))
    {
        return Err(bad(format!("unknown option `{key}`")));
    }
    Ok(ScriptOptions { script, goal })
}

fn action_from(value: Value) -> Result<Action, JsValue> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        js_error(
            "INVALID_INPUT",
            &format!("action at `{}`: {}", e.path(), e.inner()),
        )
    })
}

fn goal_from(value: Value) -> Result<Goal, JsValue> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        js_error(
            "INVALID_INPUT",
            &format!("goal at `{}`: {}", e.path(), e.inner()),
        )
    })
}

struct RulesState {
    engine: Engine,
    handlers: Vec<(u32, Function)>,
    next_id: u32,
}

/// Rules over one twin (the rules engine of `twinkit-core`).
#[wasm_bindgen]
pub struct RuleEngine {
    twin: Twin,
    state: Rc<RefCell<RulesState>>,
    _changes: Subscription,
    off: Closure<dyn Fn(u32)>,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine")
            .field("rules", &self.state.borrow().engine.rules().len())
            .finish()
    }
}

/// Evaluates the rules against the twin and tells the handlers.
fn run(state: &Rc<RefCell<RulesState>>, twin: &Twin) -> Result<Vec<Proposal>, HandlerFailed> {
    let made = twin
        .update(|core, now| state.borrow_mut().engine.evaluate(core, now))
        .unwrap_or_default();
    let handlers = state.borrow().handlers.clone();
    let mut failed = 0;
    for proposal in &made {
        let Ok(js) = to_js(proposal) else { continue };
        for (_, handler) in &handlers {
            if let Err(error) = handler.call1(&JsValue::NULL, &js) {
                failed += 1;
                web_sys::console::error_2(&"twinkit: a proposal handler threw".into(), &error);
            }
        }
    }
    if failed == 0 {
        Ok(made)
    } else {
        Err(HandlerFailed { count: failed })
    }
}

#[wasm_bindgen]
impl RuleEngine {
    /// Rules over `twin`. The second argument is the approval policy
    /// (`"deviceActions"`, the default: desired values and commands wait;
    /// `"all"` or `"none"`), or options `{policy?, dryRun?: "whatif",
    /// whatIfModel?: "thermal" | "wear"}`: with `dryRun: "whatif"`, device
    /// actions with a goal are simulated with the what-if model fitted to
    /// the twin's history before they may apply.
    #[wasm_bindgen(constructor)]
    pub fn new(
        twin: &DigitalTwin,
        #[wasm_bindgen(unchecked_param_type = "ApprovalPolicy | RuleEngineOptions")]
        options: JsValue,
    ) -> Result<RuleEngine, JsValue> {
        let mut engine = Engine::new();
        let options: EngineOptions = if options.is_undefined() || options.is_null() {
            EngineOptions::default()
        } else if let Some(policy) = options.as_string() {
            EngineOptions {
                policy: Some(
                    serde_json::from_value(Value::String(policy))
                        .map_err(|e| js_error("INVALID_INPUT", &format!("policy: {e}")))?,
                ),
                ..EngineOptions::default()
            }
        } else {
            serde_path_to_error::deserialize(from_js(&options, "options")?).map_err(|e| {
                js_error(
                    "INVALID_INPUT",
                    &format!("options at `{}`: {}", e.path(), e.inner()),
                )
            })?
        };
        if let Some(policy) = options.policy {
            engine.set_policy(policy);
        }
        match (options.dry_run, options.what_if_model) {
            (Some(DryRunKind::Whatif), kind) => {
                engine.set_model(WhatIfModel::new(kind.unwrap_or(ModelKind::Thermal)));
            }
            (None, Some(_)) => {
                return Err(js_error(
                    "INVALID_INPUT",
                    "options: `whatIfModel` needs `dryRun: \"whatif\"`",
                ))
            }
            (None, None) => {}
        }
        let state = Rc::new(RefCell::new(RulesState {
            engine,
            handlers: Vec::new(),
            next_id: 1,
        }));
        let watched = Rc::clone(&state);
        let weak = twin.0.downgrade();
        let changes = twin.0.subscribe(Some(EventType::StateChange), move |_| {
            match weak.upgrade() {
                Some(twin) => run(&watched, &twin).map(|_| ()),
                None => Ok(()),
            }
        });
        let handlers = Rc::downgrade(&state);
        let off = Closure::new(move |id: u32| {
            if let Some(state) = handlers.upgrade() {
                state.borrow_mut().handlers.retain(|(h, _)| *h != id);
            }
        });
        Ok(RuleEngine {
            twin: twin.0.clone(),
            state,
            _changes: changes,
            off,
        })
    }

    /// Adds a rule: `{id, when, actions, goal?, cooldown?, hysteresis?,
    /// enabled?}`; throws `INVALID_RULE` naming the field.
    #[wasm_bindgen(js_name = addRule)]
    pub fn add_rule(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RuleConfig")] rule: JsValue,
    ) -> Result<(), JsValue> {
        let rule = Rule::from_value(from_js(&rule, "rule")?).map_err(|e| twin_error(&e))?;
        self.state
            .borrow_mut()
            .engine
            .add_rule(rule)
            .map_err(|e| twin_error(&e))
    }

    /// Removes a rule; throws if there is none with this id.
    #[wasm_bindgen(js_name = removeRule)]
    pub fn remove_rule(&self, rule_id: &str) -> Result<(), JsValue> {
        self.state
            .borrow_mut()
            .engine
            .remove_rule(rule_id)
            .map(|_| ())
            .map_err(|e| twin_error(&e))
    }

    /// Evaluates the rules now (they also run on every state change);
    /// returns the proposals made.
    #[wasm_bindgen(unchecked_return_type = "Proposal[]")]
    pub fn evaluate(&self) -> Result<JsValue, JsValue> {
        let made = run(&self.state, &self.twin).unwrap_or_default();
        to_js(&made)
    }

    /// Calls `callback` with each proposal a rule makes; returns the
    /// unsubscribe function.
    #[wasm_bindgen(js_name = onProposal, unchecked_return_type = "() => void")]
    pub fn on_proposal(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(proposal: Proposal) => void")] callback: Function,
    ) -> Function {
        let mut state = self.state.borrow_mut();
        let id = state.next_id;
        state.next_id = id.wrapping_add(1);
        state.handlers.push((id, callback));
        make_unsubscribe(self.off.as_ref().unchecked_ref(), id)
    }

    /// Every proposal, oldest first.
    #[wasm_bindgen(js_name = getProposals, unchecked_return_type = "Proposal[]")]
    pub fn get_proposals(&self) -> Result<JsValue, JsValue> {
        to_js(&self.state.borrow().engine.proposals().collect::<Vec<_>>())
    }

    /// Proposals waiting for approval.
    #[wasm_bindgen(js_name = getPendingApproval, unchecked_return_type = "Proposal[]")]
    pub fn get_pending_approval(&self) -> Result<JsValue, JsValue> {
        to_js(
            &self
                .state
                .borrow()
                .engine
                .pending_approval()
                .collect::<Vec<_>>(),
        )
    }

    /// Approves a pending proposal: its safety check runs again, then it is
    /// applied (and audited with the approver).
    #[wasm_bindgen(unchecked_return_type = "Proposal")]
    pub fn approve(&self, proposal_id: f64, approver: &str) -> Result<JsValue, JsValue> {
        let id = proposal_id as u64;
        let proposal = self
            .twin
            .update(|core, now| {
                self.state
                    .borrow_mut()
                    .engine
                    .approve(core, id, approver, now)
            })
            .or_throw()?
            .map_err(|e| twin_error(&e))?;
        to_js(&proposal)
    }

    /// Sets the model dry runs use: `callback({action, goal, now, state})`
    /// returns the goal property's predicted value at `now + goal.within`,
    /// or `{predicted, crossingAt?}`, or `{trajectory: [[time, value],
    /// ...]}`. It gets a snapshot of the state and must not call the twin.
    /// `"whatif"` sets the what-if model again.
    #[wasm_bindgen(js_name = setModel)]
    pub fn set_model(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DryRunModel | \"whatif\"")] model: JsValue,
    ) -> Result<(), JsValue> {
        let mut state = self.state.borrow_mut();
        if let Some(callback) = model.dyn_ref::<Function>() {
            state.engine.set_model(JsModel {
                callback: callback.clone(),
            });
            Ok(())
        } else if model.as_string().as_deref() == Some("whatif") {
            state.engine.set_model(WhatIfModel::new(ModelKind::Thermal));
            Ok(())
        } else {
            Err(js_error("INVALID_INPUT", "model: a function or \"whatif\""))
        }
    }

    /// Runs `action` against the model alone, as a dry run: the prediction
    /// for `goal`, whether it meets it, the trajectory in brief and when it
    /// crosses. Nothing is applied, queued, sent or recorded.
    #[wasm_bindgen(unchecked_return_type = "DryRun")]
    pub fn simulate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RuleAction")] action: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RuleGoal")] goal: JsValue,
    ) -> Result<JsValue, JsValue> {
        let action = action_from(from_js(&action, "action")?)?;
        let goal = goal_from(from_js(&goal, "goal")?)?;
        let run = {
            let core = self.twin.core();
            let state = self.state.borrow();
            state
                .engine
                .dry_run(&core, &action, &goal, twinkit_web::now())
                .map_err(|e| twin_error(&e))?
        };
        to_js(&run)
    }

    /// A script proposes an action: `{script?, goal?}` name it (actor
    /// `script:<name>`, default `script`) and give the goal its dry run must
    /// meet. Then the policy decides: applied at once, or pending approval.
    #[wasm_bindgen(unchecked_return_type = "Proposal")]
    pub fn propose(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RuleAction")] action: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ProposeOptions")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let action = action_from(from_js(&action, "action")?)?;
        let ScriptOptions { script, goal } = script_options(&options)?;
        let proposal = self
            .twin
            .update(|core, now| {
                self.state.borrow_mut().engine.propose(
                    core,
                    Actor::script(script),
                    action,
                    goal,
                    now,
                )
            })
            .or_throw()?
            .map_err(|e| twin_error(&e))?;
        let js = to_js(&proposal)?;
        let handlers = self.state.borrow().handlers.clone();
        for (_, handler) in &handlers {
            if let Err(error) = handler.call1(&JsValue::NULL, &js) {
                web_sys::console::error_2(&"twinkit: a proposal handler threw".into(), &error);
            }
        }
        Ok(js)
    }

    /// Rejects a pending proposal; nothing reaches the device.
    #[wasm_bindgen(unchecked_return_type = "Proposal")]
    pub fn reject(&self, proposal_id: f64, by: &str, reason: &str) -> Result<JsValue, JsValue> {
        let proposal = self
            .state
            .borrow_mut()
            .engine
            .reject(proposal_id as u64, by, reason, twinkit_web::now())
            .map_err(|e| twin_error(&e))?;
        to_js(&proposal)
    }
}
