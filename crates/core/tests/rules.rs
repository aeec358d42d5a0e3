//! Rules: conditions, cooldown and hysteresis, dry runs, approval.
#![allow(clippy::unwrap_used)]

mod common;

use common::values;
use serde_json::{json, Value};
use twinkit_core::physics::ThermalModel;
use twinkit_core::{
    Action, Actor, AlertCondition, AlertStatus, ApprovalPolicy, AuditOutcome, Comparison,
    DeviceConfig, DigitalTwin, FleetManager, Goal, LifecycleState, Outbound, ProposalStatus, Rule,
    RuleEngine, Scope, Severity, TwinOptions,
};

fn room_config(id: &str, kind: &str) -> DeviceConfig {
    DeviceConfig::from_value(json!({
        "id": id, "name": "Room", "type": kind,
        "properties": [
            {"name": "humidity", "type": "number", "telemetry": true},
            {"name": "temperature", "type": "number", "telemetry": true},
            {"name": "fan", "type": "boolean", "writable": true},
            {"name": "cooling", "type": "boolean", "writable": true},
            {"name": "setpoint", "type": "number", "min": 55, "max": 85, "writable": true}
        ]
    }))
    .unwrap()
}

fn room() -> DigitalTwin {
    let mut twin = DigitalTwin::new(room_config("room-1", "room")).unwrap();
    twin.connect(0);
    twin
}

fn humid_rule(id: &str, actions: Value) -> Rule {
    Rule::from_value(json!({
        "id": id,
        "when": {"reading": {"property": "humidity", "op": "above", "threshold": 70}},
        "actions": actions,
    }))
    .unwrap()
}

fn read(twin: &mut DigitalTwin, property: &str, value: f64, now: u64) {
    twin.apply_reported(values(&[(property, json!(value))]), now);
}

fn statuses(proposals: &[twinkit_core::Proposal]) -> Vec<ProposalStatus> {
    proposals.iter().map(|p| p.status).collect()
}

// ----- firing: hysteresis, cooldown, conditions ------------------------------

#[test]
fn a_reading_rule_fires_once_and_rearms_only_past_the_hysteresis() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    let mut rule = humid_rule(
        "humid",
        json!([{"type": "raiseAlert", "severity": "warning", "message": "too humid"}]),
    );
    rule.hysteresis = 5.0;
    engine.add_rule(rule).unwrap();
    let mut fired = Vec::new();
    for (t, h) in [60.0, 71.0, 75.0, 69.0, 71.0, 66.0, 72.0, 64.0, 71.0]
        .into_iter()
        .enumerate()
    {
        read(&mut twin, "humidity", h, t as u64);
        if !engine.evaluate(&mut twin, t as u64).is_empty() {
            fired.push(h);
        }
        if t == 7 {
            // 64 is 70 − 5 or lower: re-armed, and the rule's alert cleared.
            assert_eq!(twin.active_alerts().count(), 0);
        }
    }
    // 71 fires; 75, 69, 71, 66, 72 stay within the band; 64 re-arms; 71 fires.
    assert_eq!(fired, [71.0, 71.0]);
    let alert = twin.active_alerts().next().unwrap();
    assert_eq!(alert.condition, AlertCondition::Rule);
    assert_eq!(alert.severity, Severity::Warning);
    assert_eq!(
        (alert.property.as_str(), alert.value, alert.threshold),
        ("humidity", 71.0, 70.0)
    );
    assert!(
        alert.message.contains("too humid (rule:humid)"),
        "{}",
        alert.message
    );
    let cleared: Vec<_> = twin.alerts().recent_cleared().collect();
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].status, AlertStatus::Cleared);
}

#[test]
fn cooldown_spaces_firings_even_when_rearmed() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    engine.set_policy(ApprovalPolicy::None);
    let mut rule = humid_rule(
        "fan",
        json!([{"type": "setDesired", "property": "fan", "value": true}]),
    );
    rule.cooldown = 60_000;
    engine.add_rule(rule).unwrap();
    read(&mut twin, "humidity", 71.0, 0);
    assert_eq!(
        statuses(&engine.evaluate(&mut twin, 0)),
        [ProposalStatus::Sent]
    );
    read(&mut twin, "humidity", 69.0, 1_000);
    assert!(engine.evaluate(&mut twin, 1_000).is_empty());
    read(&mut twin, "humidity", 71.0, 2_000);
    assert!(engine.evaluate(&mut twin, 2_000).is_empty(), "cooling down");
    assert!(engine.evaluate(&mut twin, 59_999).is_empty());
    // Still humid once the cooldown is over: it fires.
    assert_eq!(engine.evaluate(&mut twin, 60_000).len(), 1);
}

#[test]
fn missing_data_neither_fires_nor_rearms() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    engine
        .add_rule(humid_rule(
            "r",
            json!([{"type": "raiseAlert", "severity": "info", "message": "m"}]),
        ))
        .unwrap();
    assert!(engine.evaluate(&mut twin, 0).is_empty());
    read(&mut twin, "humidity", 80.0, 1);
    assert_eq!(engine.evaluate(&mut twin, 1).len(), 1);
    twin.apply_reported(values(&[("humidity", Value::Null)]), 2);
    assert!(engine.evaluate(&mut twin, 2).is_empty());
    read(&mut twin, "humidity", 80.0, 3);
    assert!(
        engine.evaluate(&mut twin, 3).is_empty(),
        "not re-armed by a gap"
    );
}

#[test]
fn predicted_to_cross_within_five_minutes() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    let rule = Rule::from_value(json!({
        "id": "soon-humid",
        "when": {"any": [
            {"reading": {"property": "humidity", "op": "above", "threshold": 70}},
            {"predicted": {"property": "humidity", "op": "above", "threshold": 70, "within": 300000}}
        ]},
        "actions": [{"type": "raiseAlert", "severity": "info", "message": "humidity rising"}],
    }))
    .unwrap();
    engine.add_rule(rule).unwrap();
    // Rising 0.5 per minute from 60: at 66 it is 8 minutes from 70; at
    // 67.5 the five-minute forecast (70) is not yet above; past it, it is.
    let mut fired_at = None;
    for minute in 0..30u64 {
        let now = minute * 60_000;
        read(&mut twin, "humidity", 60.0 + 0.5 * minute as f64, now);
        let made = engine.evaluate(&mut twin, now);
        if let Some(p) = made.first() {
            fired_at = Some(minute);
            let trigger = p.trigger.as_ref().unwrap();
            assert!(trigger.predicted);
            assert_eq!(trigger.signal, "humidity");
            assert!(trigger.value > 70.0 && trigger.value < 71.0, "{trigger:?}");
            break;
        }
    }
    // At minute 15 the forecast is exactly 70 (not above); at minute 16 the
    // reading is 68 and the forecast for minute 21 is 70.5: it fires, four
    // minutes before the reading itself crosses 70.
    assert_eq!(fired_at, Some(16));
}

#[test]
fn a_custom_forecast_and_derived_traits_plug_in() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    let undefined = Rule::from_value(json!({
        "id": "dew",
        "when": {"derived": {"name": "dewPoint", "op": "above", "threshold": 18}},
        "actions": [{"type": "raiseAlert", "severity": "info", "message": "condensation"}],
    }))
    .unwrap();
    let err = engine.add_rule(undefined.clone()).unwrap_err();
    assert_eq!(err.code(), "INVALID_RULE");
    assert!(err.to_string().contains("dewPoint"), "{err}");
    // Magnus approximation of the dew point.
    engine
        .define_trait("dewPoint", |twin, _now| {
            let t = twin.property("temperature")?.as_f64()?;
            let rh = twin.property("humidity")?.as_f64()?;
            let g = (rh / 100.0).ln() + 17.62 * t / (243.12 + t);
            Some(243.12 * g / (17.62 - g))
        })
        .unwrap();
    engine.add_rule(undefined).unwrap();
    engine.set_forecast(|_, property, at, now| {
        (property == "temperature").then(|| 20.0 + (at - now) as f64 / 60_000.0)
    });
    engine
        .add_rule(
            Rule::from_value(json!({
                "id": "warming",
                "when": {"predicted": {"property": "temperature", "op": "above", "threshold": 29, "within": 600000}},
                "actions": [{"type": "raiseAlert", "severity": "info", "message": "warming"}],
            }))
            .unwrap(),
        )
        .unwrap();
    read(&mut twin, "temperature", 20.0, 0);
    read(&mut twin, "humidity", 50.0, 0);
    // Dew point ≈ 9.3 °C; the custom forecast says 30 in ten minutes.
    let made = engine.evaluate(&mut twin, 0);
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].actor, Actor::rule("warming"));
    read(&mut twin, "temperature", 25.0, 1);
    read(&mut twin, "humidity", 80.0, 1);
    let made = engine.evaluate(&mut twin, 1);
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].actor, Actor::rule("dew"));
    let trigger = made[0].trigger.as_ref().unwrap();
    assert_eq!(trigger.signal, "dewPoint");
    assert!((trigger.value - 21.3).abs() < 0.1, "{trigger:?}");
}

#[test]
fn rules_asking_the_same_forecast_share_one_per_evaluation() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let counted = std::rc::Rc::clone(&calls);
    engine.set_forecast(move |_, _, _, _| {
        counted.set(counted.get() + 1);
        Some(80.0)
    });
    for (id, within) in [("a", 300_000), ("b", 300_000), ("c", 600_000)] {
        engine
            .add_rule(
                Rule::from_value(json!({
                    "id": id,
                    "when": {"predicted": {"property": "humidity", "op": "above", "threshold": 70, "within": within}},
                    "actions": [{"type": "raiseAlert", "severity": "info", "message": id}],
                }))
                .unwrap(),
            )
            .unwrap();
    }
    read(&mut twin, "humidity", 50.0, 0);
    assert_eq!(engine.evaluate(&mut twin, 0).len(), 3);
    assert_eq!(calls.get(), 2, "one forecast per horizon");
    read(&mut twin, "humidity", 51.0, 1);
    engine.evaluate(&mut twin, 1);
    assert_eq!(calls.get(), 4, "a new evaluation asks again");
}

#[test]
fn rules_are_checked_when_added() {
    let mut engine = RuleEngine::new();
    let base = json!({
        "id": "r",
        "when": {"reading": {"property": "humidity", "op": "above", "threshold": 70}},
        "actions": [{"type": "sendCommand", "name": "purge"}],
    });
    engine
        .add_rule(Rule::from_value(base.clone()).unwrap())
        .unwrap();
    let refused = |patch: Value| {
        let mut rule = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            rule[k] = v.clone();
        }
        match Rule::from_value(rule) {
            Ok(rule) => RuleEngine::new().add_rule(rule).unwrap_err(),
            Err(e) => e,
        }
    };
    assert_eq!(
        engine
            .add_rule(Rule::from_value(base.clone()).unwrap())
            .unwrap_err()
            .code(),
        "INVALID_RULE"
    );
    for (patch, words) in [
        (json!({"id": "__proto__"}), "reserved"),
        (json!({"actions": []}), "no action"),
        (json!({"when": {"any": []}}), "at least one"),
        (
            json!({"when": {"predicted": {"property": "humidity", "op": "above", "threshold": 1, "within": 0}}}),
            "within",
        ),
        (json!({"hysteresis": -1}), "hysteresis"),
        (json!({"whenn": {}}), "whenn"),
        (
            json!({"when": {"reading": {"property": "humidity", "op": "over", "threshold": 1}}}),
            "when",
        ),
        (
            json!({"actions": [{"type": "setDesired", "property": "fan", "value": {"__proto__": 1}}]}),
            "reserved",
        ),
    ] {
        let err = refused(patch.clone());
        assert_eq!(err.code(), "INVALID_RULE", "{patch}");
        assert!(err.to_string().contains(words), "{patch}: {err}");
    }
    let deep = (0..12).fold(
        json!({"reading": {"property": "h", "op": "above", "threshold": 1}}),
        |inner, _| json!({"all": [inner]}),
    );
    assert!(refused(json!({"when": deep})).to_string().contains("nest"));
    assert_eq!(engine.remove_rule("r").unwrap().id, "r");
    assert!(engine.rules().is_empty());
}

// ----- approval -------------------------------------------------------------------

#[test]
fn device_actions_wait_for_approval_then_are_sent_as_the_rule() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    assert_eq!(engine.policy(), ApprovalPolicy::DeviceActions);
    engine
        .add_rule(humid_rule(
            "dry-out",
            json!([{"type": "setDesired", "property": "fan", "value": true},
                   {"type": "sendCommand", "name": "purge", "payload": {"seconds": 30}}]),
        ))
        .unwrap();
    read(&mut twin, "humidity", 75.0, 10);
    let made = engine.evaluate(&mut twin, 10);
    assert_eq!(
        statuses(&made),
        [
            ProposalStatus::PendingApproval,
            ProposalStatus::PendingApproval
        ]
    );
    // Nothing reached the device or the twin's desired state.
    assert!(twin.state().desired().is_empty());
    assert_eq!(twin.outbound_len(), 0);
    assert!(twin.audit().is_empty());
    assert_eq!(engine.pending_approval().count(), 2);
    // Approved: sent, audited as the rule, approved by alice.
    let approved = engine.approve(&mut twin, made[0].id, "alice", 20).unwrap();
    assert_eq!(approved.status, ProposalStatus::Sent);
    assert_eq!(approved.decided_by.as_deref(), Some("alice"));
    assert_eq!(twin.state().desired()["fan"], json!(true));
    let entry = twin.audit().entries().next().unwrap();
    assert_eq!(entry.actor(), &Actor::rule("dry-out"));
    assert_eq!(entry.approved_by(), Some("alice"));
    assert_eq!(approved.result, Some(entry.id().to_string()));
    assert!(matches!(
        twin.poll_outbound(21),
        Some(Outbound::Desired { ref property, .. }) if property == "fan"
    ));
    // Rejected: never sent.
    let rejected = engine
        .reject(made[1].id, "bob", "not during the meeting", 30)
        .unwrap();
    assert_eq!(rejected.status, ProposalStatus::Rejected);
    assert_eq!(rejected.reason.as_deref(), Some("not during the meeting"));
    assert_eq!(twin.commands().in_flight_count(), 0);
    assert_eq!(twin.outbound_len(), 0);
    // Decisions are final; unknown ids are errors.
    let err = engine
        .approve(&mut twin, made[1].id, "alice", 31)
        .unwrap_err();
    assert_eq!(err.code(), "PROPOSAL_NOT_PENDING");
    assert!(err.to_string().contains("rejected"));
    assert_eq!(
        engine
            .reject(made[0].id, "bob", "late", 32)
            .unwrap_err()
            .code(),
        "PROPOSAL_NOT_PENDING"
    );
    assert_eq!(
        engine
            .approve(&mut twin, 999, "alice", 33)
            .unwrap_err()
            .code(),
        "UNKNOWN_PROPOSAL"
    );
    assert_eq!(engine.pending_approval().count(), 0);
    assert_eq!(engine.proposals().count(), 2);
}

#[test]
fn policy_all_none_and_a_custom_approval_rule() {
    let actions = json!([
        {"type": "setDesired", "property": "fan", "value": true},
        {"type": "sendCommand", "name": "purge"},
        {"type": "raiseAlert", "severity": "info", "message": "m"}
    ]);
    let run = |engine: &mut RuleEngine| {
        let mut twin = room();
        engine.add_rule(humid_rule("r", actions.clone())).unwrap();
        read(&mut twin, "humidity", 75.0, 1);
        statuses(&engine.evaluate(&mut twin, 1))
    };
    use ProposalStatus::{PendingApproval as P, Sent as S};
    let mut e = RuleEngine::new();
    assert_eq!(run(&mut e), [P, P, S]);
    let mut e = RuleEngine::new();
    e.set_policy(ApprovalPolicy::All);
    assert_eq!(run(&mut e), [P, P, P]);
    let mut e = RuleEngine::new();
    e.set_policy(ApprovalPolicy::None);
    assert_eq!(run(&mut e), [S, S, S]);
    let mut e = RuleEngine::new();
    e.set_approval_rule(|p| matches!(p.action, Action::SendCommand { .. }));
    assert_eq!(run(&mut e), [S, P, S]);
    assert_eq!(
        serde_json::to_value(ApprovalPolicy::DeviceActions).unwrap(),
        "deviceActions"
    );
}

#[test]
fn a_script_proposes_through_the_same_gate() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    let action = Action::SendCommand {
        name: "calibrate".into(),
        payload: json!({}),
    };
    let p = engine
        .propose(&mut twin, Actor::script("nightly"), action.clone(), None, 5)
        .unwrap();
    assert_eq!(p.status, ProposalStatus::PendingApproval);
    assert_eq!(twin.commands().in_flight_count(), 0);
    engine.set_policy(ApprovalPolicy::None);
    let p = engine
        .propose(&mut twin, Actor::script("nightly"), action, None, 6)
        .unwrap();
    assert_eq!(p.status, ProposalStatus::Sent);
    let command = twin.commands().in_flight().next().unwrap();
    assert_eq!(p.result.as_deref(), Some(command.command_id.as_str()));
    assert_eq!(
        twin.audit().entries().next().unwrap().actor(),
        &Actor::script("nightly")
    );
    let err = engine
        .propose(
            &mut twin,
            Actor::script("\u{0}"),
            Action::SendCommand {
                name: "x".into(),
                payload: json!(null),
            },
            None,
            7,
        )
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_NAME");
}

#[test]
fn an_approval_that_would_overwrite_a_newer_edit_fails_with_a_conflict() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    engine
        .add_rule(humid_rule(
            "eco",
            json!([{"type": "setDesired", "property": "setpoint", "value": 60}]),
        ))
        .unwrap();
    read(&mut twin, "humidity", 75.0, 1);
    let p = engine.evaluate(&mut twin, 1).remove(0);
    // A user sets the setpoint while the proposal waits.
    twin.set_desired("setpoint", json!(72), 2).unwrap();
    let p = engine.approve(&mut twin, p.id, "alice", 3).unwrap();
    assert_eq!(p.status, ProposalStatus::Failed);
    assert!(p.reason.as_deref().unwrap().contains("conflict"), "{p:?}");
    assert_eq!(twin.state().desired()["setpoint"], json!(72));
}

#[test]
fn pending_proposals_are_bounded() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    let action = Action::SendCommand {
        name: "x".into(),
        payload: json!(null),
    };
    let mut last = None;
    for i in 0..=twinkit_core::rules::DEFAULT_MAX_PENDING as u64 {
        last = Some(
            engine
                .propose(&mut twin, Actor::script("s"), action.clone(), None, i)
                .unwrap(),
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status, ProposalStatus::Rejected);
    assert!(last.reason.unwrap().contains("await approval"));
}

// ----- dry runs -------------------------------------------------------------------

/// A first-order thermal model of the room (core's physics): ambient 85,
/// τ = 600 s; cooling on drives it at `gain` degrees per second.
fn thermal_model(gain: f64) -> impl Fn(&DigitalTwin, &Action, &Goal, u64) -> Result<f64, String> {
    move |twin, action, goal, _now| {
        let start = twin
            .property(&goal.property)
            .and_then(Value::as_f64)
            .ok_or("no reading yet")?;
        let drive = match action {
            Action::SetDesired { property, value } if property == "cooling" => {
                if value == &json!(true) {
                    -1.0
                } else {
                    0.0
                }
            }
            _ => return Err("the model knows only `cooling`".into()),
        };
        let mut model = ThermalModel::new(start, 85.0, 600.0, gain);
        Ok(model.step(drive, goal.within as f64 / 1_000.0))
    }
}

fn cooling_rule() -> Rule {
    Rule::from_value(json!({
        "id": "cool",
        "when": {"reading": {"property": "temperature", "op": "above", "threshold": 80}},
        "actions": [{"type": "setDesired", "property": "cooling", "value": true}],
        "goal": {"property": "temperature", "op": "below", "threshold": 78, "within": 600000}
    }))
    .unwrap()
}

#[test]
fn an_action_whose_dry_run_misses_its_goal_is_blocked() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    engine.set_policy(ApprovalPolicy::None);
    engine.add_rule(cooling_rule()).unwrap();
    // Without a model, nothing can show the goal is met: blocked.
    read(&mut twin, "temperature", 81.0, 0);
    let p = engine.evaluate(&mut twin, 0).remove(0);
    assert_eq!(p.status, ProposalStatus::Blocked);
    assert!(p.reason.as_deref().unwrap().contains("no model"), "{p:?}");
    // A weak cooler settles at 85 − 0.01·600 = 79: never below 78.
    engine.set_model(thermal_model(0.01));
    read(&mut twin, "temperature", 79.0, 1);
    engine.evaluate(&mut twin, 1);
    read(&mut twin, "temperature", 81.0, 2);
    let p = engine.evaluate(&mut twin, 2).remove(0);
    assert_eq!(p.status, ProposalStatus::Blocked);
    let run = p.dry_run.unwrap();
    assert!(!run.meets_goal);
    assert!(run.predicted > 78.0);
    assert_eq!(run.at, 600_002);
    assert!(p.reason.unwrap().contains("dry run"));
    assert!(twin.state().desired().is_empty());
    assert_eq!(twin.outbound_len(), 0);
    // Both refusals are in the audit trail, as blocked, with the reason.
    let blocked: Vec<_> = twin.audit().entries().collect();
    assert_eq!(blocked.len(), 2);
    for entry in &blocked {
        assert_eq!(entry.outcome(), twinkit_core::AuditOutcome::Blocked);
        assert_eq!(entry.actor(), &twinkit_core::Actor::rule("cool"));
    }
    assert!(blocked[0].detail().unwrap().contains("no model"));
    assert!(blocked[1].detail().unwrap().contains("dry run"));
    // A strong one: 73 + (81 − 73)·e⁻¹ ≈ 75.9 after ten minutes: applied.
    engine.set_model(thermal_model(0.02));
    read(&mut twin, "temperature", 79.0, 3);
    engine.evaluate(&mut twin, 3);
    read(&mut twin, "temperature", 81.0, 4);
    let p = engine.evaluate(&mut twin, 4).remove(0);
    assert_eq!(p.status, ProposalStatus::Sent, "{p:?}");
    let run = p.dry_run.unwrap();
    assert!(
        run.meets_goal && (run.predicted - 75.94).abs() < 0.01,
        "{run:?}"
    );
    assert_eq!(twin.state().desired()["cooling"], json!(true));
}

#[test]
fn a_dry_run_never_reaches_the_device() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    engine.set_model(thermal_model(0.02));
    read(&mut twin, "temperature", 81.0, 0);
    let before = (
        twin.state().clone(),
        twin.outbound_len(),
        twin.audit().len(),
    );
    let action = Action::SetDesired {
        property: "cooling".into(),
        value: json!(true),
    };
    let goal = Goal {
        property: "temperature".into(),
        op: Comparison::Below,
        threshold: 78.0,
        within: 600_000,
    };
    let run = engine.dry_run(&twin, &action, &goal, 0).unwrap();
    assert!(run.meets_goal);
    assert_eq!(
        (
            twin.state().clone(),
            twin.outbound_len(),
            twin.audit().len()
        ),
        before
    );
    assert!(twin.poll_outbound(1).is_none());
    assert_eq!(engine.proposals().count(), 0);
    // The model's refusal is an error, not a guess.
    let other = Action::SendCommand {
        name: "x".into(),
        payload: json!(null),
    };
    let err = engine.dry_run(&twin, &other, &goal, 0).unwrap_err();
    assert_eq!(err.code(), "DRY_RUN_FAILED");
    assert!(err.to_string().contains("only `cooling`"));
}

#[test]
fn approval_runs_the_dry_run_again_on_the_twin_as_it_is_then() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    engine.set_model(thermal_model(0.02));
    engine.add_rule(cooling_rule()).unwrap();
    read(&mut twin, "temperature", 81.0, 0);
    let first = engine.evaluate(&mut twin, 0).remove(0);
    assert_eq!(first.status, ProposalStatus::PendingApproval);
    assert!(first.dry_run.as_ref().unwrap().meets_goal);
    // It got much hotter while waiting: the same action no longer suffices.
    read(&mut twin, "temperature", 95.0, 1);
    let approved = engine.approve(&mut twin, first.id, "alice", 2).unwrap();
    assert_eq!(approved.status, ProposalStatus::Blocked);
    assert!(!approved.dry_run.unwrap().meets_goal);
    assert!(twin.state().desired().is_empty());
}

// ----- fleet rules ----------------------------------------------------------------

#[test]
fn fleet_rules_follow_their_scope_and_keep_state_per_twin() {
    let mut fleet = FleetManager::new();
    for (id, kind) in [("a", "room"), ("b", "room"), ("c", "freezer")] {
        fleet
            .add_twin(DigitalTwin::new(room_config(id, kind)).unwrap())
            .unwrap();
    }
    fleet.connect_all(0);
    let mut engine = RuleEngine::new();
    let mut rule = humid_rule(
        "fan",
        json!([{"type": "setDesired", "property": "fan", "value": true}]),
    );
    rule.scope = Scope {
        devices: vec![],
        device_type: Some("room".into()),
    };
    engine.add_rule(rule).unwrap();
    for id in ["a", "b", "c"] {
        read(fleet.device_mut(id).unwrap(), "humidity", 80.0, 1);
    }
    let made = engine.evaluate_fleet(&mut fleet, 1);
    let devices: Vec<&str> = made.iter().map(|p| p.device_id.as_str()).collect();
    assert_eq!(devices, ["a", "b"]);
    // Per twin: a stays disarmed; b re-arms and fires again on its own.
    read(fleet.device_mut("b").unwrap(), "humidity", 60.0, 2);
    engine.evaluate_fleet(&mut fleet, 2);
    read(fleet.device_mut("b").unwrap(), "humidity", 80.0, 3);
    let made = engine.evaluate_device(&mut fleet, "b", 3).unwrap();
    assert_eq!(made.len(), 1);
    assert!(engine
        .evaluate_device(&mut fleet, "a", 3)
        .unwrap()
        .is_empty());
    // Approved through the fleet.
    let p = engine.approve_in(&mut fleet, made[0].id, "ops", 4).unwrap();
    assert_eq!(p.status, ProposalStatus::Sent);
    assert_eq!(
        fleet.device("b").unwrap().state().desired()["fan"],
        json!(true)
    );
    assert!(fleet.device("a").unwrap().state().desired().is_empty());
    let audit = fleet.audit(&Default::default());
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].device_id(), "b");
    assert_eq!(
        engine
            .evaluate_device(&mut fleet, "zz", 5)
            .unwrap_err()
            .code(),
        "UNKNOWN_DEVICE"
    );
}

#[test]
fn rules_pause_unless_the_device_is_active() {
    let mut fleet = FleetManager::new();
    fleet
        .add_twin(DigitalTwin::new(room_config("a", "room")).unwrap())
        .unwrap();
    let mut engine = RuleEngine::new();
    engine
        .add_rule(humid_rule(
            "r",
            json!([{"type": "raiseAlert", "severity": "info", "message": "m"}]),
        ))
        .unwrap();
    read(fleet.device_mut("a").unwrap(), "humidity", 80.0, 1);
    for state in [LifecycleState::Maintenance, LifecycleState::Suspended] {
        fleet
            .set_lifecycle("a", state, Actor::User, None, 2)
            .unwrap();
        assert!(engine.evaluate_fleet(&mut fleet, 3).is_empty(), "{state}");
    }
    fleet
        .set_lifecycle("a", LifecycleState::Active, Actor::User, None, 4)
        .unwrap();
    assert_eq!(engine.evaluate_fleet(&mut fleet, 5).len(), 1);
}

#[test]
fn rule_alerts_and_audit_outcomes_follow_the_device() {
    let mut twin = room();
    let mut engine = RuleEngine::new();
    engine.set_policy(ApprovalPolicy::None);
    engine
        .add_rule(humid_rule(
            "fan",
            json!([{"type": "setDesired", "property": "fan", "value": true}]),
        ))
        .unwrap();
    read(&mut twin, "humidity", 80.0, 1);
    engine.evaluate(&mut twin, 1);
    twin.poll_outbound(2);
    twin.apply_reported(values(&[("fan", json!(true))]), 3);
    let entry = twin.audit().entries().next().unwrap();
    assert_eq!(entry.outcome(), AuditOutcome::Reached);
    assert_eq!(entry.actor(), &Actor::rule("fan"));
    let options = TwinOptions::default();
    assert_eq!(options.audit_capacity, 1_000);
}

#[test]
fn a_simulated_trajectory_gives_the_horizon_value_and_the_first_crossing() {
    use twinkit_core::{Goal, Simulated};
    let goal: Goal = serde_json::from_value(
        serde_json::json!({"property": "t", "op": "below", "threshold": 20, "within": 30}),
    )
    .unwrap();
    let points = [
        (100, 25.0),
        (110, 21.0),
        (120, 19.5),
        (130, 18.0),
        (140, 17.0),
    ];
    let s = Simulated::from_trajectory(&points, &goal, 100).unwrap();
    assert_eq!(s.predicted, 18.0, "the value at now + within");
    assert_eq!(s.crossing_at, Some(120));
    let t = s.trajectory.unwrap();
    assert_eq!(
        (t.start, t.end, t.min, t.max, t.points),
        (25.0, 18.0, 18.0, 25.0, 4)
    );
    assert!(Simulated::from_trajectory(&[], &goal, 100).is_none());
}
