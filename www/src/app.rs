//! The app: the fleet (embedded simulation or live devices), a page clock,
//! and hash routing between the overview (`#/`) and a device page
//! (`#/device/<id>`).

use std::time::Duration;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use twinkit_core::Millis;

use twinkit_leptos::{use_fleet_with_options, UseFleetOptions, UseFleetReturn};
use twinkit_web::Fleet;

use crate::device::DevicePage;
use crate::overview::Overview;
use crate::params::{Live, Params};
use crate::recorder::Recorder;

#[derive(Debug, Clone, PartialEq)]
enum Route {
    Overview,
    Device(String),
}

fn current_route() -> Route {
    let hash = window().location().hash().unwrap_or_default();
    let path = hash.trim_start_matches('#');
    match path.strip_prefix("/device/") {
        Some(id) if !id.is_empty() => Route::Device(
            js_sys::decode_uri_component(id)
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_else(|| id.to_string()),
        ),
        _ => Route::Overview,
    }
}

/// The whole dashboard.
#[component]
pub fn App() -> impl IntoView {
    let params = Params::from_url();
    let started = match &params.live {
        None => crate::embedded::start(&params)
            .map_err(|e| format!("The simulated fleet did not start: {e}")),
        Some(Ok(live)) => crate::live::start(&params, live)
            .map_err(|e| format!("The live fleet did not start: {e}")),
        Some(Err(e)) => Err(format!("Live mode: {e}")),
    };
    let source = match started {
        Ok(source) => source,
        Err(error) => {
            return view! { <main class="page"><p class="error" data-start-error>{error}</p></main> }
                .into_any();
        }
    };
    let route = RwSignal::new(current_route());
    let listener = window_event_listener(leptos::ev::hashchange, move |_| {
        route.set(current_route());
        window().scroll_to_with_x_and_y(0.0, 0.0);
    });
    on_cleanup(move || listener.remove());

    // One clock for every "… ago": a second is fine-grained enough.
    let now = RwSignal::new(twinkit_web::now());
    if let Ok(handle) =
        set_interval_with_handle(move || now.set(twinkit_web::now()), Duration::from_secs(1))
    {
        on_cleanup(move || handle.clear());
    }
    let now: Signal<Millis> = now.into();

    // History: every twin's telemetry goes to IndexedDB (off with
    // `?history=off`).
    let recorder = params.history.then(|| Recorder::start(&source.fleet));
    let shared = SendWrapper::new((source.clone(), recorder.clone()));
    let page = move || {
        match route.get() {
        Route::Overview => view! { <Overview source=shared.0.clone() now=now/> }.into_any(),
        Route::Device(id) => match shared.0.fleet.get(&id) {
            Some(twin) => view! { <DevicePage twin=twin now=now recorder=shared.1.clone()/> }.into_any(),
            None => view! {
                <div class="panel"><p>{format!("No device `{id}` in this fleet. ")}<a href="#/">"Back to the fleet"</a></p></div>
            }
            .into_any(),
        },
    }
    };
    let subtitle = match &source.live {
        None => format!(
            "embedded simulation · {} devices · {} Hz · physics ×{}",
            params.devices,
            crate::format::number(params.rate_hz),
            crate::format::number(params.speed)
        ),
        Some(live) => format!(
            "live · {} {} · {} devices · {} Hz",
            live.kind(),
            live.url,
            params.devices,
            crate::format::number(params.rate_hz)
        ),
    };
    let live_status = source
        .live
        .clone()
        .map(|live| view! { <LiveStatus fleet=source.fleet.clone() live=live/> });
    // The fleet lives as long as the page.
    let keep = SendWrapper::new((source, recorder));
    on_cleanup(move || drop(keep));

    view! {
        <header class="topbar">
            <a class="brand" href="#/"><span class="logo">"◆"</span>" twinkit"</a>
            <span class="subtitle">{subtitle}</span>
            {live_status}
        </header>
        <main class="page">{page}</main>
    }
    .into_any()
}

/// The connection status of a live fleet: how many twins are connected to
/// the broker or server, and the last connection error.
#[component]
fn LiveStatus(fleet: Fleet, live: Live) -> impl IntoView {
    let UseFleetReturn { status, events, .. } = use_fleet_with_options(
        UseFleetOptions::default()
            .fleet(fleet)
            .event_types(vec![twinkit_core::EventType::Error])
            .events_limit(1),
    );
    let state = move || {
        let s = status.get();
        if s.total > 0 && s.connected == s.total {
            "connected"
        } else if s.connected > 0 {
            "partial"
        } else {
            "disconnected"
        }
    };
    let class = move || match state() {
        "connected" => "status online",
        "partial" => "status connecting",
        _ => "status offline",
    };
    let last_error = move || {
        events.with(|e| {
            e.last().and_then(|e| match &e.data {
                twinkit_core::EventData::Error(info) => {
                    Some(format!("{}: {}", e.device_id, info.message))
                }
                _ => None,
            })
        })
    };
    let kind = live.kind();
    view! {
        <span class="live-status" data-live-status=state data-live-kind=kind title=last_error>
            <span class=class>{move || {
                let s = status.get();
                format!("{kind} {}/{} connected", s.connected, s.total)
            }}</span>
        </span>
    }
}
