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
    assert!(twin.audit().is_empty());
}
