//! The what-if scenarios as the rules engine's dry-run model
//! ([`twinkit_core::ActionModel`]): before a rule's or a script's
//! `setDesired` of an actuator may apply, [`WhatIfModel`] fits the thermal
//! or wear model to the twin's own history and simulates the goal property
//! with the actuator at the proposed value, up to the goal's horizon.
//!
//! ```
//! use twinkit_analytics::action_model::WhatIfModel;
//! use twinkit_analytics::whatif::ModelKind;
//! use twinkit_core::RuleEngine;
//!
//! let mut engine = RuleEngine::new();
//! engine.set_model(WhatIfModel::new(ModelKind::Thermal));
//! ```
//!
//! Like every scenario, it only reads the twin: a dry run never reaches the
//! device.

use serde_json::Value;
use twinkit_core::{Action, ActionModel, DigitalTwin, Goal, Millis, Simulated};

use crate::whatif::{twin_scenario, ModelKind, Scenario};

/// Trajectory points a dry run computes (the crossing time is as precise as
/// the goal's horizon divided by this).
pub const DRY_RUN_STEPS: usize = 120;

/// A what-if scenario per proposed action (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhatIfModel {
    kind: ModelKind,
}

impl WhatIfModel {
    /// A model using the `kind` physics (thermal for temperatures, wear for
    /// vibration).
    pub fn new(kind: ModelKind) -> Self {
        Self { kind }
    }

    /// The scenario an action asks: the goal property with the action's
    /// actuator held at its value (booleans as 1/0) until the horizon.
    pub fn scenario(action: &Action, goal: &Goal) -> Result<Scenario, String> {
        let Action::SetDesired { property, value } = action else {
            return Err("only desired values of an actuator can be simulated".into());
        };
        let value = match value {
            Value::Bool(b) => f64::from(u8::from(*b)),
            v => v.as_f64().ok_or_else(|| {
                format!("`{property}` must be set to a number or a boolean to be simulated")
            })?,
        };
        Ok(Scenario {
            property: goal.property.clone(),
            actuator: property.clone(),
            value,
            level: goal.threshold,
            horizon_ms: goal.within,
            steps: DRY_RUN_STEPS,
            confidence_level: 0.9,
        })
    }
}

impl ActionModel for WhatIfModel {
    fn predict(
        &self,
        twin: &DigitalTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<f64, String> {
        self.simulate(twin, action, goal, now).map(|s| s.predicted)
    }

    fn simulate(
        &self,
        twin: &DigitalTwin,
        action: &Action,
        goal: &Goal,
        now: Millis,
    ) -> Result<Simulated, String> {
        let scenario = Self::scenario(action, goal)?;
        let outcome = twin_scenario(twin, self.kind, &scenario, now).map_err(|e| e.to_string())?;
        let mut simulated = Simulated::from_trajectory(&outcome.trajectory, goal, now)
            .ok_or("the scenario gave an empty trajectory")?;
        simulated.model = Some(
            match self.kind {
                ModelKind::Thermal => "thermal",
                ModelKind::Wear => "wear",
            }
            .to_string(),
        );
        Ok(simulated)
    }
}
