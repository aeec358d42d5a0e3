//! [`use_anomalies`]: streaming anomaly detection (spike, stuck, rapid
//! change, drift) and per-property health over a twin's telemetry, as
//! signals; each latched detection is also a twin alert.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use twinkit_analytics::{
    AnalyticsError, AnomalyDetector, Detection, DetectionAlerts, DetectorConfig, PropertyHealth,
};
use twinkit_core::{EventData, EventType};
use twinkit_web::{Twin, WeakTwin};

use crate::use_fleet::ActionFn;
use crate::util::{local, on_cleanup_local, set_if_changed};

/// Options of [`use_anomalies_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseAnomaliesOptions {
    /// Thresholds of every property without its own. Default:
    /// `DetectorConfig::default()` (3σ spikes, 10 identical readings stuck,
    /// ...; see `twinkit_analytics::detect`).
    pub config: DetectorConfig,
    /// Thresholds per property, overriding [`UseAnomaliesOptions::config`].
    /// Default: none.
    pub properties: Vec<(String, DetectorConfig)>,
    /// How many recent detections [`UseAnomaliesReturn::detections`] keeps.
    /// Default: `100`.
    pub max_detections: usize,
    /// Whether each detection becomes a twin alert (condition `SPIKE`,
    /// `STUCK`, `RAPID_CHANGE` or `DRIFT`), one per property and anomaly
    /// while the detector holds it latched, resolved when it lets go or the
    /// hook is cleaned up. Default: `true`.
    pub raise_alerts: bool,
    /// Re-assesses health on a page timer at this period, so freshness ages
    /// (`FRESH` → `STALE` → `OFFLINE`) while no telemetry arrives. Default:
    /// `Some(5 s)`; `None` assesses only when telemetry arrives.
    pub health_interval: Option<Duration>,
}

impl Default for UseAnomaliesOptions {
    fn default() -> Self {
        Self {
            config: DetectorConfig::default(),
            properties: Vec::new(),
            max_detections: 100,
            raise_alerts: true,
            health_interval: Some(Duration::from_secs(5)),
        }
    }
}

impl UseAnomaliesOptions {
    /// Sets [`UseAnomaliesOptions::config`].
    pub fn config(mut self, config: DetectorConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a property's thresholds to [`UseAnomaliesOptions::properties`].
    pub fn property(mut self, property: impl Into<String>, config: DetectorConfig) -> Self {
        self.properties.push((property.into(), config));
        self
    }

    /// Sets [`UseAnomaliesOptions::max_detections`].
    pub fn max_detections(mut self, max: usize) -> Self {
        self.max_detections = max;
        self
    }

    /// Sets [`UseAnomaliesOptions::raise_alerts`].
    pub fn raise_alerts(mut self, raise: bool) -> Self {
        self.raise_alerts = raise;
        self
    }

    /// Sets [`UseAnomaliesOptions::health_interval`].
    pub fn health_interval(mut self, period: Option<Duration>) -> Self {
        self.health_interval = period;
        self
    }
}

/// `set_config(property, config)` of [`UseAnomaliesReturn`].
pub type SetDetectorConfigFn =
    Arc<dyn Fn(&str, DetectorConfig) -> Result<(), AnalyticsError> + Send + Sync>;

/// What [`use_anomalies`] returns.
#[derive(Clone)]
pub struct UseAnomaliesReturn {
    /// Recent detections, oldest first, bounded by
    /// [`UseAnomaliesOptions::max_detections`].
    pub detections: Signal<Vec<Detection>>,
    /// The newest detection, if any.
    pub latest: Signal<Option<Detection>>,
    /// Health of every property seen (status, score, stability, drift per
    /// minute, freshness, issues), in first-seen order; re-assessed on each
    /// telemetry record and on [`UseAnomaliesOptions::health_interval`].
    pub health: Signal<Vec<PropertyHealth>>,
    /// Forgets what the detectors learned and the detections (the
    /// configurations stay); the alerts they stood for are resolved.
    pub reset: ActionFn,
    /// `set_config(property, config)`: new thresholds for one property; its
    /// detectors restart from nothing and its alerts are resolved. An
    /// invalid configuration is an error naming the field and changes
    /// nothing.
    pub set_config: SetDetectorConfigFn,
    /// Re-assesses health now (page clock).
    pub refresh_health: ActionFn,
}

impl std::fmt::Debug for UseAnomaliesReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseAnomaliesReturn")
            .field("detections", &self.detections)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// Anomalies and health of a twin's telemetry with the default thresholds.
/// See [`use_anomalies_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use twinkit_leptos::{use_anomalies, Twin, UseAnomaliesReturn};
///
/// #[component]
/// fn Anomalies(twin: Twin) -> impl IntoView {
///     let UseAnomaliesReturn { detections, health, .. } = use_anomalies(&twin);
///     view! {
///         <For each=move || health.get() key=|h| (h.property.clone(), h.score, h.age_ms) let:h>
///             <p>{format!("{}: {} ({})", h.property, h.status.as_str(), h.score)}</p>
///         </For>
///         <For each=move || detections.get() key=|d| (d.property.clone(), d.timestamp, d.kind) let:d>
///             <p>{format!("{} {}: {}", d.kind.as_str(), d.property, d.message)}</p>
///         </For>
///     }
/// }
/// ```
pub fn use_anomalies(twin: &Twin) -> UseAnomaliesReturn {
    mount(twin, AnomalyDetector::new(), UseAnomaliesOptions::default())
}

/// Anomalies and health of a twin's telemetry, with options. Detection
/// starts with the next telemetry record (each property fires nothing
/// during its first `warmup` readings). An invalid configuration is an
/// error naming the field, and nothing is subscribed. Cleanup ends the
/// subscription and the timer and resolves the alerts the hook raised.
pub fn use_anomalies_with_options(
    twin: &Twin,
    options: UseAnomaliesOptions,
) -> Result<UseAnomaliesReturn, AnalyticsError> {
    let mut detectors = AnomalyDetector::with_default(options.config.clone())?;
    for (property, config) in &options.properties {
        detectors.set_config(property, config.clone())?;
    }
    Ok(mount(twin, detectors, options))
}

struct Anomalies {
    detectors: AnomalyDetector,
    alerts: DetectionAlerts,
}

fn mount(
    twin: &Twin,
    mut detectors: AnomalyDetector,
    options: UseAnomaliesOptions,
) -> UseAnomaliesReturn {
    let UseAnomaliesOptions {
        max_detections,
        raise_alerts,
        health_interval,
        ..
    } = options;
    // Spans and the telemetry interval from the twin's configuration, so
    // stability and freshness are judged in the property's own terms.
    detectors.configure_for_device(twin.core().config());
    let state = Rc::new(RefCell::new(Anomalies {
        detectors,
        alerts: DetectionAlerts::new(),
    }));
    let detections = RwSignal::new(Vec::<Detection>::new());
    let latest = RwSignal::new(None::<Detection>);
    let health = RwSignal::new(Vec::<PropertyHealth>::new());
    let weak = twin.downgrade();

    let assess = {
        let state = Rc::clone(&state);
        move || {
            let now = twinkit_web::now();
            set_if_changed(health, state.borrow().detectors.health_all(now));
        }
    };

    let watched = Rc::clone(&state);
    let alerting = weak.clone();
    let on_telemetry = assess.clone();
    let subscription = twin.subscribe(Some(EventType::Telemetry), move |event| {
        let EventData::Telemetry(record) = &event.data else {
            return Ok(());
        };
        let mut found = Vec::new();
        // Values the twin refused never reach here; an older record (a late
        // backfill) is refused by the detectors and changes nothing.
        let _ = watched
            .borrow_mut()
            .detectors
            .observe_record(record, &mut found);
        if raise_alerts {
            sync_alerts(&watched, &alerting, &found);
        }
        if !found.is_empty() {
            if max_detections > 0 {
                detections.try_update(|kept| {
                    kept.extend(found.iter().cloned());
                    let excess = kept.len().saturating_sub(max_detections);
                    kept.drain(..excess);
                });
            }
            set_if_changed(latest, found.last().cloned());
        }
        on_telemetry();
        Ok(())
    });

    let timer = health_interval.and_then(|period| {
        let tick = assess.clone();
        set_interval_with_handle(tick, period).ok()
    });

    let cleanup_state = Rc::clone(&state);
    let cleanup_twin = weak.clone();
    on_cleanup_local(move || {
        drop(subscription);
        if let Some(timer) = timer {
            timer.clear();
        }
        // Nothing will resolve these alerts once the detector is gone.
        if let Some(twin) = cleanup_twin.upgrade() {
            let _ =
                twin.update(|core, now| cleanup_state.borrow_mut().alerts.resolve_all(core, now));
        }
    });

    let reset_state = local((Rc::clone(&state), weak.clone(), assess.clone()));
    let reset: ActionFn = Arc::new(move || {
        let (state, twin, assess) = &*reset_state;
        state.borrow_mut().detectors.reset();
        sync_alerts(state, twin, &[]);
        set_if_changed(detections, Vec::new());
        set_if_changed(latest, None);
        assess();
    });

    let config_state = local((Rc::clone(&state), weak, assess.clone()));
    let set_config: SetDetectorConfigFn =
        Arc::new(move |property: &str, config: DetectorConfig| {
            let (state, twin, assess) = &*config_state;
            state.borrow_mut().detectors.set_config(property, config)?;
            sync_alerts(state, twin, &[]);
            assess();
            Ok(())
        });

    let refresh_state = local(assess);
    let refresh_health: ActionFn = Arc::new(move || (*refresh_state)());

    UseAnomaliesReturn {
        detections: detections.into(),
        latest: latest.into(),
        health: health.into(),
        reset,
        set_config,
        refresh_health,
    }
}

/// Raises and resolves the twin's alerts for `found` (see
/// `twinkit_analytics::alerts`). Skips the twin's update while there is
/// nothing to raise and no alert that could need resolving.
fn sync_alerts(state: &Rc<RefCell<Anomalies>>, twin: &WeakTwin, found: &[Detection]) {
    if found.is_empty() && state.borrow().alerts.is_empty() {
        return;
    }
    let Some(twin) = twin.upgrade() else { return };
    let _ = twin.update(|core, now| {
        let state = &mut *state.borrow_mut();
        state.alerts.sync(&state.detectors, found, core, now)
    });
}
