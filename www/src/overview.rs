//! The fleet overview: totals, every device with its status, last update,
//! a key reading and its alerts; fleet alerts and recent events.

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use twinkit_core::{ConnectionState, Millis, Severity};
use twinkit_leptos::{
    use_fleet_with_options, AlertSource, DeviceSummary, UseFleetOptions, UseFleetReturn,
};

use crate::format;
use crate::panels::{AlertsPanel, EventsPanel};
use crate::source::FleetSource;

/// The reading shown in the overview for each device type.
fn key_property(device_type: &str) -> &'static str {
    match device_type {
        "motor" => "vibration",
        _ => "temperature",
    }
}

/// The overview page.
#[component]
pub fn Overview(source: FleetSource, now: Signal<Millis>) -> impl IntoView {
    let UseFleetReturn {
        fleet,
        devices,
        status,
        events,
        ..
    } = use_fleet_with_options(UseFleetOptions::default().fleet(source.fleet.clone()));
    let pending = Memo::new(move |_| devices.with(|d| d.iter().map(|d| d.pending).sum::<usize>()));
    let paused = RwSignal::new(source.is_paused());
    let shared = SendWrapper::new(source.clone());
    let toggle = move |_| {
        if shared.is_paused() {
            shared.connect_all();
        } else {
            shared.disconnect_all();
        }
        paused.set(shared.is_paused());
    };
    let fleet_for_rows = SendWrapper::new(fleet.clone());

    view! {
        <div class="overview">
            <section class="totals">
                <div class="card"><div class="card-value" data-total="devices">{move || status.get().total}</div><div class="card-label">"devices"</div></div>
                <div class="card"><div class="card-value" data-total="connected">{move || status.get().connected}</div><div class="card-label">"connected"</div></div>
                <div class="card" class:alerting={move || status.get().alerts != 0}><div class="card-value" data-total="alerts">{move || status.get().alerts}</div><div class="card-label">"active alerts"</div></div>
                <div class="card"><div class="card-value" data-total="pending">{move || pending.get()}</div><div class="card-label">"pending desired"</div></div>
                <div class="card actions">
                    <button on:click=toggle>{move || if paused.get() { "Connect all" } else { "Disconnect all" }}</button>
                </div>
            </section>
            <section class="panel devices">
                <h2>"Devices"</h2>
                <table class="table device-table">
                    <thead>
                        <tr>
                            <th>"Device"</th>
                            <th>"Type"</th>
                            <th>"Status"</th>
                            <th class="num">"Reading"</th>
                            <th>"Last update"</th>
                            <th>"Alerts"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || devices.with(|d| d.iter().map(|d| d.id.clone()).collect::<Vec<_>>()) key=|id| id.clone() let:id>
                            <DeviceRow
                                summary=Signal::derive({
                                    let id = id.clone();
                                    move || devices.with(|d| d.iter().find(|d| d.id == id).cloned())
                                })
                                reading=Signal::derive({
                                    let fleet = fleet_for_rows.clone();
                                    let id = id.clone();
                                    move || {
                                        // Re-read whenever this device's state version moves.
                                        devices.with(|d| d.iter().find(|d| d.id == id).map(|d| d.version));
                                        fleet.get(&id).map(|twin| {
                                            let core = twin.core();
                                            let property = key_property(&core.config().device_type);
                                            let unit = core.definition(property).and_then(|p| p.unit.clone());
                                            format::value(core.property(property), unit.as_deref())
                                        })
                                    }
                                })
                                now=now
                            />
                        </For>
                    </tbody>
                </table>
            </section>
            <div class="columns">
                <AlertsPanel source=AlertSource::Fleet(fleet.clone()) show_device=true/>
                <EventsPanel events=events now=now/>
            </div>
        </div>
    }
}

#[component]
fn DeviceRow(
    summary: Signal<Option<DeviceSummary>>,
    reading: Signal<Option<String>>,
    now: Signal<Millis>,
) -> impl IntoView {
    move || {
        summary.get().map(|d| {
            let (status, class) = match d.connection {
                ConnectionState::Connected => ("connected", "status online"),
                ConnectionState::Connecting => ("connecting", "status connecting"),
                ConnectionState::Disconnected => ("disconnected", "status offline"),
            };
            let alert_class = match d.worst_severity {
                Some(Severity::Critical) => "badge critical",
                Some(_) => "badge warning",
                None => "badge none",
            };
            let last_update = d.last_update;
            view! {
                <tr data-device-row data-device-id=d.id.clone() data-version=d.version>
                    <td>
                        <a href=format!("#/device/{}", d.id)>{d.name.clone()}</a>
                        <div class="muted small"><code>{d.id.clone()}</code></div>
                    </td>
                    <td>{d.device_type.clone()}</td>
                    <td><span class=class>{status}</span></td>
                    <td class="num">{move || reading.get().unwrap_or_default()}</td>
                    <td data-last-update>{move || format::ago(now.get(), last_update)}</td>
                    <td><span class=alert_class>{d.active_alerts}</span></td>
                </tr>
            }
        })
    }
}
