//! Predictive maintenance of a device: a trend line fitted to each watched
//! property, hours until its warning and critical levels, the confidence of
//! the fit and the recommendation that follows.

use std::time::Duration;

use leptos::prelude::*;
use twinkit_leptos::{
    use_predictive_maintenance_with_options, Twin, UsePredictiveMaintenanceOptions,
    UsePredictiveMaintenanceReturn,
};

use crate::format;

/// Warning and critical levels watched per device type: `critical >
/// warning` means higher is worse.
pub fn thresholds(device_type: &str) -> UsePredictiveMaintenanceOptions {
    let options = UsePredictiveMaintenanceOptions::default().interval(Duration::from_secs(2));
    match device_type {
        // ISO 10816 class I: 4.5 mm/s unsatisfactory, 7.1 unacceptable.
        "motor" => options
            .threshold("vibration", 4.5, 7.1)
            .threshold("temperature", 70.0, 80.0)
            .threshold("wear", 70.0, 90.0),
        "thermostat" => options.threshold("temperature", 30.0, 35.0),
        "environment-sensor" => options
            .threshold("battery", 20.0, 10.0)
            .threshold("humidity", 80.0, 95.0),
        _ => options,
    }
}

/// Confidence below which a recommendation is shown muted: a trend fitted
/// to a few noisy readings (the first seconds of a page) would otherwise
/// read "Immediate maintenance required" in red.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// Whether a prediction is too uncertain to alarm anyone: low confidence,
/// unless the value is already past the critical level (a fact, not a
/// forecast).
pub fn is_tentative(confidence: f64, time_to_critical: Option<f64>) -> bool {
    confidence < MIN_CONFIDENCE && time_to_critical != Some(0.0)
}

/// The maintenance panel of a device page.
#[component]
pub fn Maintenance(twin: Twin, device_type: String) -> impl IntoView {
    let UsePredictiveMaintenanceReturn {
        predictions,
        thresholds,
        analyze,
        ..
    } = use_predictive_maintenance_with_options(&twin, thresholds(&device_type));
    analyze();
    let rows = move || {
        predictions.with(|predictions| {
            predictions
                .iter()
                .map(|p| {
                    let tentative = is_tentative(p.confidence, p.time_to_critical);
                    let urgency = match p.time_to_critical {
                        _ if tentative => "tentative",
                        Some(h) if h < 24.0 => "urgent",
                        Some(h) if h < 168.0 => "soon",
                        _ => "ok",
                    };
                    let recommendation = if tentative {
                        format!("{} (low confidence)", p.recommendation)
                    } else {
                        p.recommendation.clone()
                    };
                    let confidence = (p.confidence.clamp(0.0, 1.0) * 100.0).round();
                    view! {
                        <tr data-property=p.property.clone()>
                            <td>{p.property.clone()}</td>
                            <td class="num">{format::number(p.current_value)}</td>
                            <td class="num">{format::number(p.predicted_value)}</td>
                            <td class="num">{format::hours(p.time_to_warning)}</td>
                            <td class="num">{format::hours(p.time_to_critical)}</td>
                            <td>
                                <div class="meter" title=format!("{confidence}%")>
                                    <div class="meter-fill" style=format!("width: {confidence}%")></div>
                                </div>
                                <span class="small muted">{format!("{confidence}%")}</span>
                            </td>
                            <td><span class=format!("recommendation {urgency}")>{recommendation}</span></td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let watched = move || {
        thresholds.with(|t| {
            t.iter()
                .map(|(p, t)| {
                    format!(
                        "{p} {} / {}",
                        format::number(t.warning),
                        format::number(t.critical)
                    )
                })
                .collect::<Vec<_>>()
                .join(" · ")
        })
    };
    view! {
        <section class="panel maintenance">
            <h2>"Predictive maintenance"</h2>
            <p class="muted small">"Watched (warning / critical): " {watched} ". Re-analyzed every 2 s from the twin's history."</p>
            <Show
                when=move || !predictions.with(Vec::is_empty)
                fallback=|| view! { <p class="muted empty">"Collecting data: a trend needs at least 10 readings."</p> }
            >
                <table class="table">
                    <thead>
                        <tr>
                            <th>"Property"</th>
                            <th class="num">"Now"</th>
                            <th class="num">"In 24 h"</th>
                            <th class="num">"To warning"</th>
                            <th class="num">"To critical"</th>
                            <th>"Confidence"</th>
                            <th>"Recommendation"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </Show>
        </section>
    }
}
