//! [`use_predictive_maintenance`]: trend predictions of a twin's telemetry
//! (time to warning and critical levels, confidence, recommendation) as a
//! signal.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use twinkit_core::{MaintenancePrediction, PredictiveMaintenance, Threshold, TwinError};
use twinkit_web::Twin;

use crate::util::{local, on_cleanup_local, set_if_changed};

/// Options of [`use_predictive_maintenance_with_options`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UsePredictiveMaintenanceOptions {
    /// Thresholds set when the hook runs: `(property, warning, critical)`;
    /// `critical > warning` means higher is worse. An invalid one is skipped
    /// (set it with `set_threshold` to see the error). Default: none.
    pub thresholds: Vec<(String, f64, f64)>,
    /// Analyzes on a page timer at this period, until cleanup. Default:
    /// `None` (only when `analyze` is called).
    pub interval: Option<Duration>,
}

impl UsePredictiveMaintenanceOptions {
    /// Adds a threshold to [`UsePredictiveMaintenanceOptions::thresholds`].
    pub fn threshold(mut self, property: impl Into<String>, warning: f64, critical: f64) -> Self {
        self.thresholds.push((property.into(), warning, critical));
        self
    }

    /// Sets [`UsePredictiveMaintenanceOptions::interval`].
    pub fn interval(mut self, period: Duration) -> Self {
        self.interval = Some(period);
        self
    }
}

/// `analyze()` of [`UsePredictiveMaintenanceReturn`].
pub type AnalyzeFn = Arc<dyn Fn() -> Vec<MaintenancePrediction> + Send + Sync>;
/// `set_threshold(property, warning, critical)` of
/// [`UsePredictiveMaintenanceReturn`].
pub type SetThresholdFn = Arc<dyn Fn(&str, f64, f64) -> Result<(), TwinError> + Send + Sync>;

/// What [`use_predictive_maintenance`] returns.
#[derive(Clone)]
pub struct UsePredictiveMaintenanceReturn {
    /// The predictions of the last analysis, in threshold order.
    pub predictions: Signal<Vec<MaintenancePrediction>>,
    /// The thresholds set, in the order first set.
    pub thresholds: Signal<Vec<(String, Threshold)>>,
    /// Analyzes the twin's telemetry history now (page clock) and returns
    /// the predictions (a property needs at least 10 points).
    pub analyze: AnalyzeFn,
    /// `set_threshold(property, warning, critical)`; non-finite or equal
    /// levels are an error and change nothing.
    pub set_threshold: SetThresholdFn,
}

/// Predictive maintenance of a twin. See
/// [`use_predictive_maintenance_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use twinkit_leptos::{use_predictive_maintenance, Twin, UsePredictiveMaintenanceReturn};
///
/// #[component]
/// fn Maintenance(twin: Twin) -> impl IntoView {
///     let UsePredictiveMaintenanceReturn { predictions, analyze, set_threshold, .. } =
///         use_predictive_maintenance(&twin);
///     set_threshold("vibration", 4.0, 7.0).expect("valid levels");
///     view! {
///         <button on:click=move |_| { analyze(); }>"Analyze"</button>
///         <For each=move || predictions.get() key=|p| p.property.clone() let:p>
///             <p>{format!("{}: {}", p.property, p.recommendation)}</p>
///         </For>
///     }
/// }
/// ```
pub fn use_predictive_maintenance(twin: &Twin) -> UsePredictiveMaintenanceReturn {
    use_predictive_maintenance_with_options(twin, UsePredictiveMaintenanceOptions::default())
}

/// Predictive maintenance of a twin, with options. The twin is only read.
pub fn use_predictive_maintenance_with_options(
    twin: &Twin,
    options: UsePredictiveMaintenanceOptions,
) -> UsePredictiveMaintenanceReturn {
    let engine = Rc::new(RefCell::new(PredictiveMaintenance::new()));
    for (property, warning, critical) in &options.thresholds {
        let _ = engine
            .borrow_mut()
            .set_threshold(property, *warning, *critical);
    }
    let predictions = RwSignal::new(Vec::<MaintenancePrediction>::new());
    let thresholds = RwSignal::new(listed(&engine.borrow()));

    let analyze_engine = local(Rc::clone(&engine));
    let analyze_twin = local(twin.downgrade());
    let analyze: AnalyzeFn = Arc::new(move || {
        let Some(twin) = analyze_twin.upgrade() else {
            return Vec::new();
        };
        let result = analyze_engine
            .borrow_mut()
            .analyze(&twin.core(), twinkit_web::now());
        set_if_changed(predictions, result.clone());
        result
    });

    let threshold_engine = local(Rc::clone(&engine));
    let set_threshold: SetThresholdFn =
        Arc::new(move |property: &str, warning: f64, critical: f64| {
            threshold_engine
                .borrow_mut()
                .set_threshold(property, warning, critical)?;
            set_if_changed(thresholds, listed(&threshold_engine.borrow()));
            // A changed threshold drops that property's prediction.
            let kept: Vec<MaintenancePrediction> =
                threshold_engine.borrow().predictions().cloned().collect();
            set_if_changed(predictions, kept);
            Ok(())
        });

    if let Some(period) = options.interval {
        let tick = Arc::clone(&analyze);
        if let Ok(handle) = set_interval_with_handle(move || drop(tick()), period) {
            on_cleanup_local(move || handle.clear());
        }
    }

    UsePredictiveMaintenanceReturn {
        predictions: predictions.into(),
        thresholds: thresholds.into(),
        analyze,
        set_threshold,
    }
}

impl std::fmt::Debug for UsePredictiveMaintenanceReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsePredictiveMaintenanceReturn")
            .field("predictions", &self.predictions)
            .finish_non_exhaustive()
    }
}

fn listed(engine: &PredictiveMaintenance) -> Vec<(String, Threshold)> {
    engine
        .thresholds()
        .map(|(p, t)| (p.to_string(), *t))
        .collect()
}
