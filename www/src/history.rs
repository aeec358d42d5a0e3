//! The place for history from the TimeSeriesStore.
//!
//! Hour and day aggregates and CSV download come from `twinkit-store`
//! (IndexedDB), which another branch is building. When it lands, this panel
//! reads the device's stored series (`TimeSeriesStore::aggregate` by hour
//! and by day for the device's telemetry properties) and offers the CSV
//! export; the charts above keep showing the live in-memory window.

use leptos::prelude::*;

/// The history panel of a device page (a placeholder until the store lands).
#[component]
pub fn History(device_id: String) -> impl IntoView {
    view! {
        <section class="panel history" data-slot="history" data-device-id=device_id>
            <h2>"History"</h2>
            <p class="muted">
                "Hour and day aggregates with CSV download arrive with the IndexedDB "
                "time-series store. The charts above show the live window kept in memory."
            </p>
        </section>
    }
}
