//! [`use_what_if`]: "what if the heater were off from now?" — scenarios
//! answered from the twin's telemetry with the fitted thermal or wear model,
//! as signals. A scenario only reads the twin: nothing reaches the device.

use std::sync::Arc;

use leptos::prelude::*;
use twinkit_analytics::{AnalyticsError, ModelKind, Scenario, ScenarioOutcome};
use twinkit_core::EventType;
use twinkit_web::Twin;

use crate::util::{local, on_cleanup_local, set_if_changed};

/// Options of [`use_what_if_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseWhatIfOptions {
    /// The physics scenarios use: first-order thermal (temperature against a
    /// heater, fan or setpoint) or wear-driven vibration (against speed).
    /// Default: `ModelKind::Thermal`.
    pub model: ModelKind,
    /// Runs the last scenario again on every telemetry record, so the
    /// answer follows the twin. Default: `false` (only when `run` is
    /// called).
    pub follow_telemetry: bool,
}

impl Default for UseWhatIfOptions {
    fn default() -> Self {
        Self {
            model: ModelKind::Thermal,
            follow_telemetry: false,
        }
    }
}

impl UseWhatIfOptions {
    /// Sets [`UseWhatIfOptions::model`].
    pub fn model(mut self, model: ModelKind) -> Self {
        self.model = model;
        self
    }

    /// Sets [`UseWhatIfOptions::follow_telemetry`].
    pub fn follow_telemetry(mut self, follow: bool) -> Self {
        self.follow_telemetry = follow;
        self
    }
}

/// `run(scenario)` of [`UseWhatIfReturn`].
pub type RunScenarioFn =
    Arc<dyn Fn(Scenario) -> Result<ScenarioOutcome, AnalyticsError> + Send + Sync>;

/// What [`use_what_if`] returns.
#[derive(Clone)]
pub struct UseWhatIfReturn {
    /// The last scenario run.
    pub scenario: Signal<Option<Scenario>>,
    /// Its answer: the trajectory, the time to the level with bounds and
    /// the value it settles at; `None` before the first run or after an
    /// error.
    pub outcome: Signal<Option<ScenarioOutcome>>,
    /// Why the last run had no answer (too little telemetry, an actuator
    /// that never moved, a bad property name), or `None`.
    pub error: Signal<Option<AnalyticsError>>,
    /// `run(scenario)`: answers the scenario now (page clock) from the
    /// twin's telemetry history and returns the answer too. Reads the twin
    /// only: no desired value is set and no command is sent.
    pub run: RunScenarioFn,
}

impl std::fmt::Debug for UseWhatIfReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseWhatIfReturn")
            .field("scenario", &self.scenario)
            .field("outcome", &self.outcome)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// What-if scenarios with the thermal model. See
/// [`use_what_if_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use twinkit_analytics::Scenario;
/// use twinkit_leptos::{use_what_if, Twin, UseWhatIfReturn};
///
/// #[component]
/// fn HeaterOff(twin: Twin) -> impl IntoView {
///     let UseWhatIfReturn { outcome, error, run, .. } = use_what_if(&twin);
///     let ask = move |_| {
///         let scenario: Scenario = serde_json::from_value(serde_json::json!({
///             "property": "temperature", "actuator": "heater", "value": 0, "level": 18
///         }))
///         .expect("a valid scenario");
///         let _ = run(scenario);
///     };
///     view! {
///         <button on:click=ask>"What if the heater is off?"</button>
///         <p>{move || outcome.with(|o| o.as_ref().and_then(|o| o.crossing.estimate)
///             .map(|h| format!("below 18 °C in {h:.1} h")))}</p>
///         <p>{move || error.with(|e| e.as_ref().map(ToString::to_string))}</p>
///     }
/// }
/// ```
pub fn use_what_if(twin: &Twin) -> UseWhatIfReturn {
    use_what_if_with_options(twin, UseWhatIfOptions::default())
}

/// What-if scenarios, with options. The twin is only read; cleanup ends
/// the telemetry subscription of [`UseWhatIfOptions::follow_telemetry`].
pub fn use_what_if_with_options(twin: &Twin, options: UseWhatIfOptions) -> UseWhatIfReturn {
    let UseWhatIfOptions {
        model,
        follow_telemetry,
    } = options;
    let scenario = RwSignal::new(None::<Scenario>);
    let outcome = RwSignal::new(None::<ScenarioOutcome>);
    let error = RwSignal::new(None::<AnalyticsError>);

    let weak = twin.downgrade();
    let answer = move |asked: &Scenario| -> Result<ScenarioOutcome, AnalyticsError> {
        let Some(twin) = weak.upgrade() else {
            return Err(AnalyticsError::NotEnoughData {
                property: asked.property.clone(),
                reason: "the twin is gone".into(),
            });
        };
        // `&DigitalTwin`: the scenario cannot reach the device.
        let result =
            twinkit_analytics::twin_scenario(&twin.core(), model, asked, twinkit_web::now());
        match &result {
            Ok(answer) => {
                set_if_changed(outcome, Some(answer.clone()));
                set_if_changed(error, None);
            }
            Err(e) => {
                set_if_changed(outcome, None);
                set_if_changed(error, Some(e.clone()));
            }
        }
        result
    };

    if follow_telemetry {
        let again = answer.clone();
        let subscription = twin.subscribe(Some(EventType::Telemetry), move |_| {
            if let Some(Some(asked)) = scenario.try_get_untracked() {
                let _ = again(&asked);
            }
            Ok(())
        });
        on_cleanup_local(move || drop(subscription));
    }

    let run_answer = local(answer);
    let run: RunScenarioFn = Arc::new(move |asked: Scenario| {
        let result = run_answer(&asked);
        set_if_changed(scenario, Some(asked));
        result
    });

    UseWhatIfReturn {
        scenario: scenario.into(),
        outcome: outcome.into(),
        error: error.into(),
        run,
    }
}
