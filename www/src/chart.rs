//! A live SVG line chart of one telemetry property: the normal range as a
//! band (min/max from the configuration), out-of-range readings in red and
//! a marker where each alert was raised.

use leptos::prelude::*;
use twinkit_core::{Alert, PropertyDefinition, Severity};
use twinkit_leptos::{use_telemetry, TelemetryPoint, Twin, UseTelemetryReturn};

use crate::format;

const W: f64 = 640.0;
const H: f64 = 180.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;
/// Points drawn per chart.
pub const POINTS: usize = 150;

/// Maps data to the plot area.
struct Scale {
    t0: f64,
    t1: f64,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn new(data: &[TelemetryPoint], min: Option<f64>, max: Option<f64>) -> Scale {
        let (mut t0, mut t1) = match (data.first(), data.last()) {
            (Some(a), Some(b)) => (a.timestamp as f64, b.timestamp as f64),
            _ => (0.0, 1.0),
        };
        if t1 - t0 < 1000.0 {
            t0 = t1 - 1000.0;
        }
        if t1 <= t0 {
            t1 = t0 + 1.0;
        }
        let values = data.iter().map(|p| p.value);
        let mut lo = values.clone().fold(f64::INFINITY, f64::min);
        let mut hi = values.fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() {
            (lo, hi) = (min.unwrap_or(0.0), max.unwrap_or(1.0));
        }
        // Show the range's edges when the data comes near them, so a band
        // is visible without squashing a flat series into a line.
        let span = (hi - lo).max(1e-9);
        if let Some(max) = max {
            if max - hi < span * 2.0 || max < hi {
                hi = hi.max(max);
            }
        }
        if let Some(min) = min {
            if lo - min < span * 2.0 || min > lo {
                lo = lo.min(min);
            }
        }
        if hi - lo < 1e-6 {
            lo -= 1.0;
            hi += 1.0;
        }
        let pad = (hi - lo) * 0.08;
        Scale {
            t0,
            t1,
            lo: lo - pad,
            hi: hi + pad,
        }
    }

    fn x(&self, t: f64) -> f64 {
        LEFT + (t - self.t0) / (self.t1 - self.t0) * (W - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        let y = TOP + (self.hi - v) / (self.hi - self.lo) * (H - TOP - BOTTOM);
        y.clamp(TOP, H - BOTTOM)
    }
}

/// One property's live chart.
#[component]
pub fn Chart(
    twin: Twin,
    property: PropertyDefinition,
    alerts: Signal<Vec<Alert>>,
) -> impl IntoView {
    let UseTelemetryReturn { data, latest_value } =
        use_telemetry(&twin, property.name.clone(), POINTS);
    let (min, max) = (property.min, property.max);
    let unit = property.unit.clone().unwrap_or_default();
    let name = property.name.clone();
    let latest_unit = unit.clone();
    let latest = move || {
        latest_value
            .get()
            .map(|v| format!("{} {}", format::number(v), latest_unit))
            .unwrap_or_else(|| "—".into())
    };
    let out_of_range = move || {
        latest_value
            .get()
            .is_some_and(|v| min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m))
    };
    let range = match (min, max) {
        (Some(a), Some(b)) => format!(
            "range {} – {} {}",
            format::number(a),
            format::number(b),
            unit
        ),
        (Some(a), None) => format!("min {} {}", format::number(a), unit),
        (None, Some(b)) => format!("max {} {}", format::number(b), unit),
        (None, None) => String::new(),
    };
    let marker_name = name.clone();

    let plot = move || {
        data.with(|data| {
            let s = Scale::new(data, min, max);
            let (x0, x1) = (LEFT, W - RIGHT);
            let (top, bottom) = (TOP, H - BOTTOM);
            let mut bands = Vec::new();
            if min.is_some() || max.is_some() {
                let y_max = max.map_or(top, |m| s.y(m));
                let y_min = min.map_or(bottom, |m| s.y(m));
                bands.push(view! { <rect class="band-normal" x=x0 y=y_max width=x1 - x0 height=(y_min - y_max).max(0.0)/> }.into_any());
                if y_max > top {
                    bands.push(view! { <rect class="band-alert" x=x0 y=top width=x1 - x0 height=y_max - top/> }.into_any());
                }
                if y_min < bottom {
                    bands.push(view! { <rect class="band-alert" x=x0 y=y_min width=x1 - x0 height=bottom - y_min/> }.into_any());
                }
                for (level, label) in [(max, "max"), (min, "min")] {
                    // A limit outside the plotted range has no line.
                    if let Some(level) = level.filter(|l| (s.lo..=s.hi).contains(l)) {
                        let y = s.y(level);
                        bands.push(view! {
                            <line class="limit" x1=x0 x2=x1 y1=y y2=y/>
                            <text class="limit-label" x=x1 - 4.0 y=y - 3.0 text-anchor="end">{format!("{label} {}", format::number(level))}</text>
                        }.into_any());
                    }
                }
            }
            let path: String = data
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, s.x(p.timestamp as f64), s.y(p.value))
                })
                .collect();
            let outside: Vec<_> = data
                .iter()
                .filter(|p| min.is_some_and(|m| p.value < m) || max.is_some_and(|m| p.value > m))
                .map(|p| view! { <circle class="outside" cx=s.x(p.timestamp as f64) cy=s.y(p.value) r="2.5"/> })
                .collect();
            let markers: Vec<_> = alerts.with(|alerts| {
                alerts
                    .iter()
                    .filter(|a| a.property == marker_name && (a.timestamp as f64) >= s.t0)
                    .map(|a| {
                        let x = s.x(a.timestamp as f64);
                        let class = match a.severity {
                            Severity::Critical => "marker critical",
                            _ => "marker warning",
                        };
                        view! {
                            <g class=class>
                                <line x1=x x2=x y1=top y2=bottom/>
                                <path d=format!("M{:.1},{top} l10,0 l-5,8 z", x - 5.0)/>
                                <title>{a.message.clone()}</title>
                            </g>
                        }
                    })
                    .collect()
            });
            let span_secs = ((s.t1 - s.t0) / 1000.0).round();
            let span = if span_secs >= 120.0 {
                format!("−{:.0} min", span_secs / 60.0)
            } else {
                format!("−{span_secs:.0} s")
            };
            let ticks: Vec<_> = (0..=2)
                .map(|i| {
                    let v = s.lo + (s.hi - s.lo) * f64::from(i) / 2.0;
                    let y = s.y(v);
                    view! {
                        <line class="grid" x1=x0 x2=x1 y1=y y2=y/>
                        <text class="tick" x=x0 - 6.0 y=y + 4.0 text-anchor="end">{format::number(v)}</text>
                    }
                })
                .collect();
            view! {
                {ticks}
                {bands}
                <path class="line" d=path/>
                {outside}
                {markers}
                <text class="tick" x=x0 y=H - 6.0>{span}</text>
                <text class="tick" x=x1 y=H - 6.0 text-anchor="end">"now"</text>
            }
        })
    };

    view! {
        <figure class="chart" data-property=name.clone() data-points=move || data.with(Vec::len)>
            <figcaption>
                <span class="chart-name">{name.clone()}</span>
                <span class="chart-value" class:alerting=out_of_range>{latest}</span>
                <span class="chart-range">{range}</span>
            </figcaption>
            <svg viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label=format!("{name} over time")>
                {plot}
            </svg>
        </figure>
    }
}
