//! Rules dry-run against twinkit-analytics' what-if scenarios: the thermal
//! model is fitted from the twin's own history and decides whether the
//! proposed action meets its goal.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use twinkit_analytics::whatif::{twin_scenario, ModelKind, Scenario};
use twinkit_core::physics::ThermalModel;
use twinkit_core::{
    Action, ApprovalPolicy, DeviceConfig, DigitalTwin, Goal, ProposalStatus, Rule, RuleEngine,
};

const T0: u64 = 1_700_000_000_000;
const MIN: u64 = 60_000;

/// Six hours of a room: heater off for two hours, on for two, off for two, sampled each
/// minute (core's physics, the simulator's model).
fn room() -> (DigitalTwin, u64) {
    let config = DeviceConfig::from_json(
        r#"{"id": "room", "name": "Room", "type": "hvac",
            "properties": [
              {"name": "temperature", "type": "number", "telemetry": true},
              {"name": "heater", "type": "boolean", "writable": true, "telemetry": true}]}"#,
    )
    .unwrap();
    let mut twin = DigitalTwin::new(config).unwrap();
    let mut model = ThermalModel::new(15.0, 15.0, 1_800.0, 0.01);
    let heater = |m: u64| (m / 120) % 2 == 1;
    for m in 0..360u64 {
        let t = T0 + m * MIN;
        let mut values = vec![("temperature".to_string(), json!(model.temperature()))];
        if m == 0 || heater(m) != heater(m - 1) {
            values.push(("heater".to_string(), json!(heater(m))));
        }
        twin.apply_reported(values.into_iter().collect(), t);
        model.step(if heater(m) { 1.0 } else { 0.0 }, 60.0);
    }
    twin.connect(T0);
    (twin, T0 + 359 * MIN)
}

/// The adapter: a `setDesired` of the actuator becomes a what-if scenario;
/// the prediction is the trajectory's value at the goal's horizon.
fn whatif(twin: &DigitalTwin, action: &Action, goal: &Goal, now: u64) -> Result<f64, String> {
    let Action::SetDesired { property, value } = action else {
        return Err("only desired values can be simulated".into());
    };
    let value = match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        v => v.as_f64().ok_or("a numeric or boolean actuator value")?,
    };
    let scenario: Scenario = serde_json::from_value(json!({
        "property": goal.property, "actuator": property, "value": value,
        "level": goal.threshold, "horizonMs": goal.within,
    }))
    .map_err(|e| e.to_string())?;
    let outcome =
        twin_scenario(twin, ModelKind::Thermal, &scenario, now).map_err(|e| e.to_string())?;
    outcome
        .trajectory
        .last()
        .map(|&(_, v)| v)
        .ok_or_else(|| "empty trajectory".into())
}

fn heat_rule(goal_above: f64) -> Rule {
    Rule::from_value(json!({
        "id": "heat",
        "when": {"reading": {"property": "temperature", "op": "below", "threshold": 18}},
        "actions": [{"type": "setDesired", "property": "heater", "value": true}],
        "goal": {"property": "temperature", "op": "above", "threshold": goal_above, "within": 1_800_000}
    }))
    .unwrap()
}

#[test]
fn the_what_if_scenario_lets_a_sufficient_action_through() {
    let (mut twin, now) = room();
    let mut engine = RuleEngine::new();
    engine.set_model(whatif);
    engine.set_policy(ApprovalPolicy::None);
    // About 15.2 now; heating for 30 minutes reaches 33 − 17.8·e⁻¹ ≈ 26.5.
    engine.add_rule(heat_rule(22.0)).unwrap();
    let p = engine.evaluate(&mut twin, now).remove(0);
    assert_eq!(p.status, ProposalStatus::Sent, "{p:?}");
    let predicted = p.dry_run.unwrap().predicted;
    assert!((predicted - 26.5).abs() < 0.5, "{predicted}");
    assert_eq!(twin.state().desired()["heater"], json!(true));
}

#[test]
fn the_what_if_scenario_blocks_an_action_that_falls_short() {
    let (mut twin, now) = room();
    let mut engine = RuleEngine::new();
    engine.set_model(whatif);
    engine.set_policy(ApprovalPolicy::None);
    engine.add_rule(heat_rule(30.0)).unwrap();
    let state = twin.state().clone();
    let p = engine.evaluate(&mut twin, now).remove(0);
    assert_eq!(p.status, ProposalStatus::Blocked, "{p:?}");
    assert!(!p.dry_run.unwrap().meets_goal);
    assert_eq!(twin.state(), &state);
    assert_eq!(twin.outbound_len(), 0);
    let outcomes: Vec<_> = twin.audit().entries().map(|e| e.outcome()).collect();
    assert_eq!(outcomes, [twinkit_core::AuditOutcome::Blocked]);
}

#[test]
fn the_analytics_what_if_model_reports_the_trajectory_and_the_crossing() {
    use twinkit_analytics::action_model::WhatIfModel;
    use twinkit_core::AuditOutcome;
    let (mut twin, now) = room();
    let mut engine = RuleEngine::new();
    engine.set_model(WhatIfModel::new(ModelKind::Thermal));
    engine.set_policy(ApprovalPolicy::None);
    let heat = Action::SetDesired {
        property: "heater".into(),
        value: json!(true),
    };
    let goal = |threshold: f64| -> Goal {
        serde_json::from_value(json!({"property": "temperature", "op": "above",
            "threshold": threshold, "within": 1_800_000}))
        .unwrap()
    };
    // A dry run alone: the same answer as the hand-made adapter, plus the
    // crossing and the trajectory, and nothing changes.
    let state = twin.state().clone();
    let run = engine.dry_run(&twin, &heat, &goal(22.0), now).unwrap();
    assert!(run.meets_goal);
    assert!((run.predicted - whatif(&twin, &heat, &goal(22.0), now).unwrap()).abs() < 1e-9);
    assert_eq!(run.model.as_deref(), Some("thermal"));
    let crossing = run.crossing_at.unwrap();
    // 15.2 → 22 under 33 − 17.8·e^(−t/30 min): about 14 minutes.
    let minutes = (crossing - now) as f64 / 60_000.0;
    assert!((10.0..18.0).contains(&minutes), "{minutes}");
    let trajectory = run.trajectory.unwrap();
    assert!(
        trajectory.start < 16.0 && trajectory.end > 26.0,
        "{trajectory:?}"
    );
    assert_eq!(trajectory.max, trajectory.end);
    assert_eq!(twin.state(), &state);
    assert_eq!(twin.outbound_len(), 0);
    // A goal the heater cannot meet: blocked, and the audit trail says so.
    let p = engine
        .propose(
            &mut twin,
            twinkit_core::Actor::script("ops"),
            heat.clone(),
            Some(goal(30.0)),
            now,
        )
        .unwrap();
    assert_eq!(p.status, ProposalStatus::Blocked, "{p:?}");
    assert!(p.dry_run.as_ref().unwrap().crossing_at.is_none());
    assert_eq!(twin.state(), &state);
    assert_eq!(twin.outbound_len(), 0);
    let entry = twin.audit().entries().last().unwrap();
    assert_eq!(entry.outcome(), AuditOutcome::Blocked);
    assert!(entry.detail().unwrap().contains("dry run"), "{entry:?}");
    assert_eq!(p.result, Some(entry.id().to_string()));
    // A command cannot be simulated: blocked with the reason.
    let purge = Action::SendCommand {
        name: "purge".into(),
        payload: json!({}),
    };
    let err = engine.dry_run(&twin, &purge, &goal(22.0), now).unwrap_err();
    assert!(err.to_string().contains("only desired values"), "{err}");
}
