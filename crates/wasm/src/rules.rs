//! `RuleEngine` for JavaScript: rules that act on one twin's readings, with
//! cooldown, hysteresis and an approval policy (device actions wait for
//! `approve()` by default). Rules run after every change of the twin's
//! reported state; every action they take is in the twin's audit trail.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use twinkit_core::rules::{ApprovalPolicy, Proposal, Rule, RuleEngine as Engine};
use twinkit_core::EventType;
use twinkit_web::{HandlerFailed, Subscription, Twin};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{from_js, js_error, to_js, twin_error, OrThrow};
use crate::twin::{make_unsubscribe, DigitalTwin};

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
    /// Rules over `twin`; `policy` says which actions wait for approval:
    /// `"deviceActions"` (default: desired values and commands), `"all"` or
    /// `"none"`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        twin: &DigitalTwin,
        #[wasm_bindgen(unchecked_param_type = "ApprovalPolicy?")] policy: Option<String>,
    ) -> Result<RuleEngine, JsValue> {
        let mut engine = Engine::new();
        if let Some(policy) = policy {
            let policy: ApprovalPolicy = serde_json::from_value(serde_json::Value::String(policy))
                .map_err(|e| js_error("INVALID_INPUT", &format!("policy: {e}")))?;
            engine.set_policy(policy);
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
