//! [`use_predictive_maintenance`]: trend predictions of a twin's telemetry
//! (time to warning and critical levels, confidence, recommendation) as a
//! signal, and on request the detailed ones of `twinkit-analytics`
//! (least squares and Theil–Sen, prediction intervals, crossing bounds).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use twinkit_analytics::{AnalyticsError, DetailedPrediction, PredictionOptions};
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
    /// Makes every analysis (`analyze` and the timer) a detailed one with
    /// these options (confidence level, Theil–Sen), filling
    /// [`UsePredictiveMaintenanceReturn::detailed`] as well. Default: `None`
    /// (plain predictions; `analyze_detailed` still gives detailed ones on
    /// request).
    pub detailed: Option<PredictionOptions>,
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

    /// Sets [`UsePredictiveMaintenanceOptions::detailed`].
    pub fn detailed(mut self, options: PredictionOptions) -> Self {
        self.detailed = Some(options);
        self
    }
}

/// `analyze()` of [`UsePredictiveMaintenanceReturn`].
pub type AnalyzeFn = Arc<dyn Fn() -> Vec<MaintenancePrediction> + Send + Sync>;
/// `set_threshold(property, warning, critical)` of
/// [`UsePredictiveMaintenanceReturn`].
pub type SetThresholdFn = Arc<dyn Fn(&str, f64, f64) -> Result<(), TwinError> + Send + Sync>;
/// `analyze_detailed(options)` of [`UsePredictiveMaintenanceReturn`].
pub type AnalyzeDetailedFn =
    Arc<dyn Fn(PredictionOptions) -> Result<Vec<DetailedPrediction>, AnalyticsError> + Send + Sync>;

/// What [`use_predictive_maintenance`] returns.
#[derive(Clone)]
pub struct UsePredictiveMaintenanceReturn {
    /// The predictions of the last analysis, in threshold order.
    pub predictions: Signal<Vec<MaintenancePrediction>>,
    /// The detailed predictions of the last detailed analysis (each
    /// prediction with its least-squares and Theil–Sen trends, the value at
    /// +24 h with its prediction interval, and times to warning and critical
    /// with lower and upper bounds), in threshold order.
    pub detailed: Signal<Vec<DetailedPrediction>>,
    /// The thresholds set, in the order first set.
    pub thresholds: Signal<Vec<(String, Threshold)>>,
    /// Analyzes the twin's telemetry history now (page clock) and returns
    /// the predictions (a property needs at least 10 points); a detailed
    /// analysis when [`UsePredictiveMaintenanceOptions::detailed`] is set.
    pub analyze: AnalyzeFn,
    /// `analyze_detailed(options)`: a detailed analysis now, filling both
    /// `predictions` and `detailed`; a confidence level outside (0, 1) is
    /// an error and changes nothing.
    pub analyze_detailed: AnalyzeDetailedFn,
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
///
/// Detailed predictions, analyzed every minute:
///
/// ```no_run
/// use std::time::Duration;
/// use leptos::prelude::*;
/// use twinkit_analytics::PredictionOptions;
/// use twinkit_leptos::{
///     use_predictive_maintenance_with_options, Twin, UsePredictiveMaintenanceOptions,
/// };
///
/// #[component]
/// fn Bounds(twin: Twin) -> impl IntoView {
///     let pm = use_predictive_maintenance_with_options(
///         &twin,
///         UsePredictiveMaintenanceOptions::default()
///             .threshold("vibration", 4.0, 7.0)
///             .interval(Duration::from_secs(60))
///             .detailed(PredictionOptions { confidence_level: 0.9, robust: true }),
///     );
///     let detailed = pm.detailed;
///     view! {
///         <For each=move || detailed.get() key=|d| d.prediction.property.clone() let:d>
///             <p>{format!("{}: critical in {:?} h (between {:?} and {:?})",
///                 d.prediction.property,
///                 d.least_squares.time_to_critical.estimate,
///                 d.least_squares.time_to_critical.lower,
///                 d.least_squares.time_to_critical.upper)}</p>
///         </For>
///     }
/// }
/// ```
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

    let detailed = RwSignal::new(Vec::<DetailedPrediction>::new());

    let detailed_engine = local((Rc::clone(&engine), twin.downgrade()));
    let analyze_detailed: AnalyzeDetailedFn = Arc::new(move |prediction_options| {
        let (engine, twin) = &*detailed_engine;
        let Some(twin) = twin.upgrade() else {
            return Ok(Vec::new());
        };
        let result = twinkit_analytics::analyze_twin(
            &mut engine.borrow_mut(),
            &twin.core(),
            twinkit_web::now(),
            prediction_options,
        )?;
        // The core's plain predictions were stored by the same analysis.
        let plain: Vec<MaintenancePrediction> = engine.borrow().predictions().cloned().collect();
        set_if_changed(predictions, plain);
        set_if_changed(detailed, result.clone());
        Ok(result)
    });

    let analyze_engine = local(Rc::clone(&engine));
    let analyze_twin = local(twin.downgrade());
    let analyze_detailed_too = Arc::clone(&analyze_detailed);
    let detailed_options = options.detailed;
    let analyze: AnalyzeFn = Arc::new(move || {
        if let Some(prediction_options) = detailed_options {
            // Invalid options analyze nothing; `analyze_detailed` says why.
            if analyze_detailed_too(prediction_options).is_err() {
                return Vec::new();
            }
            return analyze_engine.borrow().predictions().cloned().collect();
        }
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
            if let Some(kept) = detailed.try_with_untracked(|d| {
                d.iter()
                    .filter(|d| d.prediction.property != property)
                    .cloned()
                    .collect::<Vec<_>>()
            }) {
                set_if_changed(detailed, kept);
            }
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
        detailed: detailed.into(),
        thresholds: thresholds.into(),
        analyze,
        analyze_detailed,
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
