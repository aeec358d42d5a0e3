//! [`use_telemetry`]: the newest points of one telemetry property as a
//! signal, for charts and live readouts.

use leptos::prelude::*;
use twinkit_core::{EventData, EventType, Millis};
use twinkit_web::Twin;

use crate::util::{on_cleanup_local, set_if_changed};

/// One numeric telemetry point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelemetryPoint {
    /// When it was measured (ms since the Unix epoch).
    pub timestamp: Millis,
    /// The value.
    pub value: f64,
}

/// Options of [`use_telemetry_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseTelemetryOptions {
    /// Whether `data` starts with the newest points the twin already holds
    /// (its in-memory history). Default: `true`.
    pub backfill: bool,
}

impl Default for UseTelemetryOptions {
    fn default() -> Self {
        Self { backfill: true }
    }
}

impl UseTelemetryOptions {
    /// Sets [`UseTelemetryOptions::backfill`].
    pub fn backfill(mut self, backfill: bool) -> Self {
        self.backfill = backfill;
        self
    }
}

/// What [`use_telemetry`] returns.
#[derive(Debug, Clone, Copy)]
pub struct UseTelemetryReturn {
    /// The newest `limit` numeric points of the property, oldest first.
    pub data: Signal<Vec<TelemetryPoint>>,
    /// The newest numeric value, if any.
    pub latest_value: Signal<Option<f64>>,
}

/// The newest `limit` points of a telemetry property. Non-numeric readings
/// are not charted and are left out. See [`use_telemetry_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use twinkit_leptos::{use_telemetry, Twin, UseTelemetryReturn};
///
/// #[component]
/// fn Temperature(twin: Twin) -> impl IntoView {
///     let UseTelemetryReturn { data, latest_value } = use_telemetry(&twin, "temperature", 60);
///     view! {
///         <p>{move || latest_value.get().map(|v| format!("{v:.1} °C"))}</p>
///         <p>{move || format!("{} points", data.with(Vec::len))}</p>
///     }
/// }
/// ```
pub fn use_telemetry(twin: &Twin, property: impl Into<String>, limit: usize) -> UseTelemetryReturn {
    use_telemetry_with_options(twin, property, limit, UseTelemetryOptions::default())
}

/// The newest `limit` points of a telemetry property, with options. The
/// twin is only listened to; cleanup ends the subscription.
pub fn use_telemetry_with_options(
    twin: &Twin,
    property: impl Into<String>,
    limit: usize,
    options: UseTelemetryOptions,
) -> UseTelemetryReturn {
    let property: String = property.into();
    let initial = if options.backfill {
        tail(twin, &property, limit)
    } else {
        Vec::new()
    };
    let latest = initial.last().map(|p| p.value);
    let data = RwSignal::new(initial);
    let latest_value = RwSignal::new(latest);

    let reader = twin.downgrade();
    let subscription = twin.subscribe(Some(EventType::Telemetry), move |event| {
        let EventData::Telemetry(record) = &event.data else {
            return Ok(());
        };
        let Some(value) = record.values.get(&property).and_then(|v| v.as_f64()) else {
            return Ok(());
        };
        let point = TelemetryPoint {
            timestamp: record.timestamp,
            value,
        };
        let in_order = data
            .try_with_untracked(|d| {
                d.last()
                    .is_none_or(|last| last.timestamp <= point.timestamp)
            })
            .unwrap_or(false);
        if in_order {
            if limit > 0 {
                data.try_update(|d| {
                    if d.len() >= limit {
                        d.drain(..=d.len() - limit);
                    }
                    d.push(point);
                });
            }
        } else if let Some(twin) = reader.upgrade() {
            // A late point lands inside the series: re-read it in time
            // order from the twin's history.
            set_if_changed(data, tail(&twin, &property, limit));
        }
        if let Some(newest) = data.try_with_untracked(|d| d.last().map(|p| p.value)) {
            set_if_changed(latest_value, newest.or(Some(value)));
        }
        Ok(())
    });
    on_cleanup_local(move || drop(subscription));

    UseTelemetryReturn {
        data: data.into(),
        latest_value: latest_value.into(),
    }
}

fn tail(twin: &Twin, property: &str, limit: usize) -> Vec<TelemetryPoint> {
    twin.core()
        .history()
        .numeric_tail(property, limit)
        .map(|(timestamp, value)| TelemetryPoint { timestamp, value })
        .collect()
}
