//! Panels shared by the overview and the device page: active alerts with
//! acknowledge, and the feed of recent fleet events.

use leptos::prelude::*;
use twinkit_core::{AlertStatus, DeviceEvent, EventData, Millis, Severity};
use twinkit_leptos::{use_alerts, AlertSource, UseAlertsReturn};

use crate::format;

/// Active alerts, newest first, each with an Acknowledge button.
#[component]
pub fn AlertsPanel(
    /// Whose alerts.
    source: AlertSource,
    /// Whether to show which device raised each alert.
    #[prop(optional)]
    show_device: bool,
) -> impl IntoView {
    let UseAlertsReturn {
        active,
        acknowledge,
        ..
    } = use_alerts(source);
    let error = RwSignal::new(None::<String>);
    view! {
        <section class="panel alerts">
            <h2>
                "Active alerts "
                <span class="count" data-alert-count=move || active.with(Vec::len)>{move || active.with(Vec::len)}</span>
            </h2>
            <Show when=move || active.with(Vec::is_empty)>
                <p class="muted empty">"No active alerts."</p>
            </Show>
            <ul class="alert-list">
                <For
                    each=move || active.get()
                    key=|a| (a.id.clone(), a.acknowledged, a.severity)
                    let:alert
                >
                    {
                        let acknowledge = acknowledge.clone();
                        let id = alert.id.clone();
                        let severity = match alert.severity {
                            Severity::Critical => "critical",
                            Severity::Warning => "warning",
                            Severity::Info => "info",
                        };
                        let acknowledged = alert.acknowledged;
                        view! {
                            <li class=format!("alert {severity}") class:acknowledged=acknowledged data-alert-id=alert.id.clone() data-property=alert.property.clone()>
                                <span class=format!("badge {severity}")>{severity}</span>
                                <div class="alert-body">
                                    <div class="alert-message">{alert.message.clone()}</div>
                                    <div class="muted small">
                                        {show_device.then(|| format!("{} · ", alert.device_id))}
                                        {format!("{} · raised {}", alert.property, format::clock(alert.timestamp))}
                                    </div>
                                </div>
                                {if acknowledged {
                                    view! { <span class="acknowledged-label">"acknowledged"</span> }.into_any()
                                } else {
                                    view! {
                                        <button class="small-button" on:click=move |_| {
                                            if let Err(e) = acknowledge(&id) {
                                                error.set(Some(e.to_string()));
                                            }
                                        }>"Acknowledge"</button>
                                    }.into_any()
                                }}
                            </li>
                        }
                    }
                </For>
            </ul>
            {move || error.get().map(|e| view! { <p class="error">{e}</p> })}
        </section>
    }
}

/// Recent fleet events (connections, alerts, commands, errors), newest
/// first.
#[component]
pub fn EventsPanel(events: Signal<Vec<DeviceEvent>>, now: Signal<Millis>) -> impl IntoView {
    let rows = move || {
        events.with(|events| {
            events
                .iter()
                .rev()
                .take(12)
                .map(|e| {
                    let (kind, text) = describe(e);
                    view! {
                        <li class=format!("event {kind}")>
                            <span class="event-kind">{kind}</span>
                            <span class="event-device">{e.device_id.clone()}</span>
                            <span class="event-text">{text}</span>
                            <span class="muted small">{format::ago(now.get(), Some(e.timestamp))}</span>
                        </li>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="panel events">
            <h2>"Recent events"</h2>
            <Show when=move || events.with(Vec::is_empty)>
                <p class="muted empty">"Nothing yet."</p>
            </Show>
            <ul class="event-list">{rows}</ul>
        </section>
    }
}

fn describe(event: &DeviceEvent) -> (&'static str, String) {
    match &event.data {
        EventData::Connected(_) => ("connected", "connected".into()),
        EventData::Disconnected(info) => (
            "disconnected",
            info.reason.clone().unwrap_or_else(|| "disconnected".into()),
        ),
        EventData::Alert(a) => (
            "alert",
            match a.status {
                AlertStatus::Cleared => format!("cleared: {}", a.message),
                _ if a.acknowledged => format!("acknowledged: {}", a.message),
                _ => a.message.clone(),
            },
        ),
        EventData::Command(c) => ("command", format!("{} {}", c.name, c.status.as_str())),
        EventData::Error(e) => ("error", e.message.clone()),
        _ => ("event", event.event_type().to_string()),
    }
}
