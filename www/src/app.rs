//! The app: the embedded fleet, a page clock, and hash routing between the
//! overview (`#/`) and a device page (`#/device/<id>`).

use std::time::Duration;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use twinkit_core::Millis;

use crate::device::DevicePage;
use crate::embedded::Embedded;
use crate::overview::Overview;
use crate::params::Params;

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
    let embedded = match Embedded::start(&params) {
        Ok(embedded) => embedded,
        Err(error) => {
            return view! { <main class="page"><p class="error">{format!("The simulated fleet did not start: {error}")}</p></main> }
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

    let shared = SendWrapper::new(embedded.clone());
    let page = move || {
        match route.get() {
        Route::Overview => view! { <Overview embedded=(*shared).clone() now=now/> }.into_any(),
        Route::Device(id) => match shared.fleet.get(&id) {
            Some(twin) => view! { <DevicePage twin=twin now=now/> }.into_any(),
            None => view! {
                <div class="panel"><p>{format!("No device `{id}` in this fleet. ")}<a href="#/">"Back to the fleet"</a></p></div>
            }
            .into_any(),
        },
    }
    };
    let subtitle = format!(
        "embedded simulation · {} devices · {} Hz · physics ×{}",
        params.devices,
        crate::format::number(params.rate_hz),
        crate::format::number(params.speed)
    );
    // The embedded fleet lives as long as the page.
    let keep = SendWrapper::new(embedded);
    on_cleanup(move || drop(keep));

    view! {
        <header class="topbar">
            <a class="brand" href="#/"><span class="logo">"◆"</span>" twinkit"</a>
            <span class="subtitle">{subtitle}</span>
        </header>
        <main class="page">{page}</main>
    }
    .into_any()
}
