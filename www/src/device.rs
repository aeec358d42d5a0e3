//! The device page: live charts, reported vs desired with controls, the
//! command console, alerts, predictive maintenance and history from the
//! time-series store.

use leptos::prelude::*;
use serde_json::{json, Value};
use twinkit_core::{DeviceState, Millis, PropertyDefinition, PropertyType};
use twinkit_leptos::{
    use_alerts, use_digital_twin, AlertSource, SetDesiredFn, Twin, UseAlertsReturn,
    UseDigitalTwinReturn,
};

use crate::chart::Chart;
use crate::commands::CommandConsole;
use crate::format;
use crate::history::History;
use crate::maintenance::Maintenance;
use crate::panels::AlertsPanel;
use crate::recorder::Recorder;

/// One device.
#[component]
pub fn DevicePage(
    twin: Twin,
    now: Signal<Millis>,
    /// Where the fleet's telemetry is stored, for the history panel.
    recorder: Option<Recorder>,
) -> impl IntoView {
    let UseDigitalTwinReturn {
        state,
        is_connected,
        commands,
        last_error,
        set_desired,
        send_command,
        ..
    } = use_digital_twin(&twin).expect("a twin passed in is always accepted");
    let UseAlertsReturn { active, .. } = use_alerts(&twin);
    let config = twin.core().config().clone();
    let charts: Vec<_> = config
        .properties
        .iter()
        .filter(|p| p.telemetry && p.kind == PropertyType::Number)
        .map(|p| view! { <Chart twin=twin.clone() property=p.clone() alerts=active/> })
        .collect();
    let numeric: Vec<String> = config
        .properties
        .iter()
        .filter(|p| p.telemetry && p.kind == PropertyType::Number)
        .map(|p| p.name.clone())
        .collect();
    let last_update = move || state.with(|s| (s.version() > 0).then(|| s.timestamp()));
    let rows: Vec<_> = config
        .properties
        .iter()
        .map(|p| view! { <PropertyRow property=p.clone() state=state set_desired=set_desired.clone()/> })
        .collect();

    view! {
        <div class="device-page" data-device-id=config.id.clone()>
            <a class="back" href="#/">"← Fleet"</a>
            <header class="device-header">
                <div>
                    <h1>{config.name.clone()}</h1>
                    <p class="muted">
                        <code>{config.id.clone()}</code>
                        " · " {config.device_type.clone()}
                        " · updated " <span data-last-update>{move || format::ago(now.get(), last_update())}</span>
                    </p>
                </div>
                <span class="status" class:online=is_connected class:offline=move || !is_connected.get()>
                    {move || if is_connected.get() { "connected" } else { "disconnected" }}
                </span>
            </header>
            <section class="charts">{charts}</section>
            <div class="columns">
                <section class="panel properties">
                    <h2>"State"</h2>
                    <p class="muted small">"Reported by the device, desired by you; pending until the device reports the desired value."</p>
                    <table class="table">
                        <thead>
                            <tr>
                                <th>"Property"</th>
                                <th class="num">"Reported"</th>
                                <th class="num">"Desired"</th>
                                <th>"Sync"</th>
                                <th>"Set"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                    {move || last_error.get().map(|e| view! {
                        <p class="error small">{format!("last error from the device: {} ({})", e.message, e.code)}</p>
                    })}
                </section>
                <CommandConsole commands=commands send_command=send_command now=now/>
            </div>
            <Maintenance twin=twin.clone() device_type=config.device_type.clone()/>
            <div class="columns">
                <AlertsPanel source=AlertSource::Twin(twin.clone())/>
                <History device_id=config.id.clone() properties=numeric recorder=recorder/>
            </div>
        </div>
    }
}

/// A property: reported, desired, pending/synced, and a control when it is
/// writable.
#[component]
fn PropertyRow(
    property: PropertyDefinition,
    state: Signal<DeviceState>,
    set_desired: SetDesiredFn,
) -> impl IntoView {
    let name = property.name.clone();
    let unit = property.unit.clone();
    let (n1, n2, n3) = (name.clone(), name.clone(), name.clone());
    let (u1, u2) = (unit.clone(), unit.clone());
    let reported = move || state.with(|s| format::value(s.reported().get(&n1), u1.as_deref()));
    let desired = move || state.with(|s| format::value(s.desired().get(&n2), u2.as_deref()));
    let sync = Signal::derive(move || {
        state.with(|s| {
            if s.delta().contains_key(&n3) {
                "pending"
            } else if s.desired().contains_key(&n3) {
                "synced"
            } else {
                ""
            }
        })
    });
    let control = property.writable.then(
        || view! { <Control property=property.clone() state=state set_desired=set_desired/> },
    );
    view! {
        <tr data-property=name.clone()>
            <td>
                {name.clone()}
                {(!property.writable).then(|| view! { <span class="muted small">" read-only"</span> })}
            </td>
            <td class="num" data-reported>{reported}</td>
            <td class="num" data-desired>{desired}</td>
            <td>
                <span class=move || format!("sync {}", sync.get()) data-sync=sync>{sync}</span>
            </td>
            <td>{control}</td>
        </tr>
    }
}

/// An input for a writable property, honouring its type and min/max.
#[component]
fn Control(
    property: PropertyDefinition,
    state: Signal<DeviceState>,
    set_desired: SetDesiredFn,
) -> impl IntoView {
    let name = property.name.clone();
    let current = state.with_untracked(|s| {
        s.desired()
            .get(&name)
            .or_else(|| s.reported().get(&name))
            .cloned()
    });
    let error = RwSignal::new(None::<String>);
    let apply = {
        let name = name.clone();
        move |value: Value| match set_desired(&name, value) {
            Ok(()) => error.set(None),
            Err(e) => error.set(Some(e.to_string())),
        }
    };
    let input = match property.kind {
        PropertyType::Boolean => {
            let checked = current.as_ref().and_then(Value::as_bool).unwrap_or(false);
            view! {
                <input type="checkbox" name=name.clone() checked=checked
                    on:change=move |ev| apply(json!(event_target_checked(&ev)))/>
            }
            .into_any()
        }
        PropertyType::Number => {
            let text = RwSignal::new(
                current
                    .as_ref()
                    .and_then(Value::as_f64)
                    .map(format::number)
                    .unwrap_or_default(),
            );
            let (min, max) = (property.min, property.max);
            let step = match (min, max) {
                (Some(a), Some(b)) if b - a > 1000.0 => "1",
                (Some(a), Some(b)) if b - a <= 100.0 => "0.5",
                _ => "any",
            };
            let submit = move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                let raw = text.get_untracked();
                match raw.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() => apply(json!(v)),
                    _ => error.set(Some(format!("`{raw}` is not a number"))),
                }
            };
            view! {
                <form class="control" on:submit=submit>
                    <input type="number" name=name.clone() min=min max=max step=step required=true
                        prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))/>
                    <button type="submit">"Set"</button>
                </form>
            }
            .into_any()
        }
        _ => {
            let text = RwSignal::new(
                current
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            );
            let submit = move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                apply(json!(text.get_untracked()));
            };
            view! {
                <form class="control" on:submit=submit>
                    <input type="text" name=name.clone() prop:value=move || text.get()
                        on:input=move |ev| text.set(event_target_value(&ev))/>
                    <button type="submit">"Set"</button>
                </form>
            }
            .into_any()
        }
    };
    view! {
        {input}
        {move || error.get().map(|e| view! { <div class="error small">{e}</div> })}
    }
}
