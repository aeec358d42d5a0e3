//! History from the time-series store: hour and day aggregates (min, avg,
//! max) of a telemetry property, and a CSV download of a range.
//!
//! The page's telemetry is written to IndexedDB by [`crate::recorder`];
//! this panel reads the rollups the store keeps as it writes
//! (`aggregate`), so it costs the same for a week of data as for a minute.
//! The charts above keep showing the live window held in memory.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;
use twinkit_core::Millis;
use twinkit_store::rollup::Resolution;
use wasm_bindgen::JsValue;

use crate::format;
use crate::recorder::Recorder;
use crate::source::IntervalTimer;

const HOUR_MS: Millis = 3_600_000;
/// How often the aggregates are read again.
const REFRESH: Duration = Duration::from_secs(2);

/// One aggregate bucket as shown.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    start: Millis,
    count: u64,
    min: f64,
    avg: f64,
    max: f64,
}

/// CSV ranges offered, in minutes.
const RANGES: [(u64, &str); 4] = [
    (15, "last 15 minutes"),
    (60, "last hour"),
    (24 * 60, "last 24 hours"),
    (7 * 24 * 60, "last 7 days"),
];

/// The history panel of a device page.
#[component]
pub fn History(
    device_id: String,
    /// Numeric telemetry properties of the device.
    properties: Vec<String>,
    /// The fleet's recorder; `None` when history is off.
    recorder: Option<Recorder>,
) -> impl IntoView {
    let Some(recorder) = recorder else {
        return view! {
            <section class="panel history" data-device-id=device_id>
                <h2>"History"</h2>
                <p class="muted">"History is not recorded on this page."</p>
            </section>
        }
        .into_any();
    };
    let status = recorder.status();
    let recorder = SendWrapper::new(recorder);
    let property = RwSignal::new(properties.first().cloned().unwrap_or_default());
    let resolution = RwSignal::new(Resolution::Hour);
    let rows = RwSignal::new(None::<Result<Vec<Row>, String>>);

    let refresh = {
        let recorder = recorder.clone();
        let device_id = device_id.clone();
        move || {
            let Some(db) = recorder.database() else {
                return;
            };
            let (device_id, property, resolution) = (
                device_id.clone(),
                property.get_untracked(),
                resolution.get_untracked(),
            );
            let now = twinkit_web::now();
            let span = match resolution {
                Resolution::Day => 30 * 24 * HOUR_MS,
                _ => 48 * HOUR_MS,
            };
            spawn_local(async move {
                let result = db
                    .aggregate(
                        &device_id,
                        &property,
                        now.saturating_sub(span),
                        now,
                        resolution,
                        false,
                    )
                    .await
                    .map(|buckets| {
                        buckets
                            .iter()
                            .rev()
                            .filter(|a| a.bucket.count > 0)
                            .map(|a| Row {
                                start: a.timestamp,
                                count: a.bucket.count,
                                min: a.bucket.min,
                                avg: a.bucket.sum / a.bucket.count as f64,
                                max: a.bucket.max,
                            })
                            .collect()
                    })
                    .map_err(|e| e.to_string());
                // The panel may be gone by now: then nobody reads it.
                rows.try_set(Some(result));
            });
        }
    };
    let refresh = SendWrapper::new(refresh);
    Effect::new({
        let refresh = refresh.clone();
        move |_| {
            // Again whenever the choice changes or the store opens.
            property.track();
            resolution.track();
            status.with(|s| s.ready);
            refresh();
        }
    });
    if let Ok(handle) = set_interval_with_handle(refresh.take(), REFRESH) {
        let timer = SendWrapper::new(IntervalTimer(handle));
        on_cleanup(move || drop(timer));
    }

    let unit_label = move || match resolution.get() {
        Resolution::Day => "day",
        _ => "hour",
    };
    let table = move || match rows.get() {
        None => view! { <p class="muted">"Opening the store…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
        Some(Ok(rows)) if rows.is_empty() => {
            view! { <p class="muted empty">"Nothing stored yet for this property."</p> }.into_any()
        }
        Some(Ok(rows)) => {
            let day = resolution.get_untracked() == Resolution::Day;
            view! {
                <table class="table history-table">
                    <thead>
                        <tr>
                            <th>{if day { "Day (UTC)" } else { "Hour (UTC)" }}</th>
                            <th class="num">"Points"</th>
                            <th class="num">"Min"</th>
                            <th class="num">"Avg"</th>
                            <th class="num">"Max"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|r| view! {
                                <tr data-bucket=r.start data-count=r.count>
                                    <td>{bucket_label(r.start, day)}</td>
                                    <td class="num">{r.count}</td>
                                    <td class="num" data-min>{format::number(r.min)}</td>
                                    <td class="num" data-avg>{format::number(r.avg)}</td>
                                    <td class="num" data-max>{format::number(r.max)}</td>
                                </tr>
                            })
                            .collect::<Vec<_>>()}
                    </tbody>
                </table>
            }
            .into_any()
        }
    };

    let section_id = device_id.clone();
    view! {
        <section class="panel history" data-device-id=section_id>
            <h2>"History"</h2>
            <div class="history-controls">
                <select name="history-property" prop:value=move || property.get()
                    on:change=move |ev| property.set(event_target_value(&ev))>
                    {properties.iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect::<Vec<_>>()}
                </select>
                <select name="history-resolution"
                    prop:value=move || if resolution.get() == Resolution::Day { "day" } else { "hour" }
                    on:change=move |ev| resolution.set(if event_target_value(&ev) == "day" { Resolution::Day } else { Resolution::Hour })>
                    <option value="hour">"by hour"</option>
                    <option value="day">"by day"</option>
                </select>
                <span class="muted small">{move || format!("min / avg / max per {}", unit_label())}</span>
            </div>
            {table}
            <CsvDownload device_id=device_id recorder=recorder.take()/>
            <p class="muted small" data-recorder-stored=move || status.with(|s| s.stored)>
                {move || status.with(|s| match &s.error {
                    Some(e) => e.clone(),
                    None if s.ready => format!(
                        "IndexedDB `{}`: {} points stored from this page{}",
                        crate::recorder::DATABASE,
                        s.stored,
                        if s.dropped > 0 { format!(", {} dropped", s.dropped) } else { String::new() }
                    ),
                    None => "opening IndexedDB…".into(),
                })}
            </p>
        </section>
    }
    .into_any()
}

/// `2026-11-23 14:00` (an hour) or `2026-11-23` (a day), UTC like the
/// store's buckets.
fn bucket_label(start: Millis, day: bool) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(start as f64));
    let iso = date.to_iso_string().as_string().unwrap_or_default();
    let shown = if day { 10 } else { 16 };
    iso.get(..shown).unwrap_or(&iso).replace('T', " ")
}

/// A CSV export of a range of the device's stored telemetry: "Prepare"
/// reads the range from the store and offers the file as a link.
#[component]
fn CsvDownload(device_id: String, recorder: Recorder) -> impl IntoView {
    let minutes = RwSignal::new(RANGES[1].0);
    // (object URL, file name, rows)
    let file = RwSignal::new(None::<(String, String, usize)>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let revoke = move || {
        if let Some((url, _, _)) = file.try_get_untracked().flatten() {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
    };
    on_cleanup(revoke);
    let recorder = SendWrapper::new(recorder);
    let prepare = move |_| {
        let Some(db) = recorder.database() else {
            error.set(Some("the store is not open yet".into()));
            return;
        };
        let device_id = device_id.clone();
        let end = twinkit_web::now();
        let start = end.saturating_sub(minutes.get_untracked() * 60_000);
        busy.set(true);
        spawn_local(async move {
            let result = match db.query(&device_id, start, end, None).await {
                Ok(series) => {
                    let text = twinkit_store::csv::export(&series, None);
                    csv_url(&text).map(|url| {
                        let name = format!("{device_id}-{start}-{end}.csv");
                        (url, name, series.len())
                    })
                }
                Err(e) => Err(e.to_string()),
            };
            if busy.try_set(false).is_some() {
                return; // the panel is gone
            }
            match result {
                Ok(made) => {
                    revoke();
                    file.set(Some(made));
                    error.set(None);
                }
                Err(e) => error.set(Some(format!("CSV export failed: {e}"))),
            }
        });
    };
    view! {
        <div class="csv-export">
            <select name="csv-range" prop:value=move || minutes.get().to_string() on:change=move |ev| {
                if let Ok(m) = event_target_value(&ev).parse() {
                    minutes.set(m);
                }
            }>
                {RANGES.iter().map(|(m, label)| view! {
                    <option value=*m>{*label}</option>
                }).collect::<Vec<_>>()}
            </select>
            <button class="small-button" data-csv-prepare on:click=prepare disabled=move || busy.get()>"Prepare CSV"</button>
            {move || file.get().map(|(url, name, n)| view! {
                <a class="csv-link" href=url download=name data-csv-rows=n>{format!("Download CSV ({n} rows)")}</a>
            })}
            {move || error.get().map(|e| view! { <p class="error small">{e}</p> })}
        </div>
    }
}

/// An object URL for CSV text.
fn csv_url(text: &str) -> Result<String, String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv;charset=utf-8");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|e| format!("{e:?}"))?;
    web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))
}
