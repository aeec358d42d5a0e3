//! The twinkit demo dashboard: a Leptos CSR app over `twinkit-leptos`.
//!
//! By default the page runs its own simulated fleet (`twinkit-sim` devices
//! with `twinkit-core` physics, wired in-process to the twins), so nothing
//! but a static server is needed. URL parameters (see [`params`]) size it,
//! or switch to live mode: twins of the same devices served by the
//! `twinkit-sim` binary, over MQTT, WebSocket JSON or HTTP.
#![deny(missing_docs)]

mod app;
mod chart;
mod commands;
mod device;
mod embedded;
mod format;
mod history;
mod live;
mod maintenance;
mod overview;
mod panels;
mod params;
mod recorder;
mod source;

fn main() {
    // Panics go to the console as errors (the tests fail on any).
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("twinkit-dashboard panicked: {info}").into());
    }));
    leptos::mount::mount_to_body(app::App);
}
