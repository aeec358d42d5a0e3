//! [`use_sync`]: how a twin's desired and reported state keep in step — the
//! properties that diverge (desired not reported yet, for how long, by how
//! much) and the sync history — as signals.

use std::time::Duration;

use leptos::prelude::*;
use twinkit_core::{Divergence, EventType, SyncRecord};
use twinkit_web::Twin;

use crate::use_fleet::ActionFn;
use crate::util::{local, on_cleanup_local, set_if_changed};

/// Options of [`use_sync_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseSyncOptions {
    /// How many sync records [`UseSyncReturn::sync_history`] lists, newest
    /// last. Default: `50`.
    pub history_limit: usize,
    /// Re-reads on a page timer at this period, so `duration` of each
    /// divergence grows while nothing happens, and desired values taken by
    /// the transport show up in the history. Default: `Some(1 s)`; `None`
    /// re-reads only on the twin's state changes and commands.
    pub interval: Option<Duration>,
}

impl Default for UseSyncOptions {
    fn default() -> Self {
        Self {
            history_limit: 50,
            interval: Some(Duration::from_secs(1)),
        }
    }
}

impl UseSyncOptions {
    /// Sets [`UseSyncOptions::history_limit`].
    pub fn history_limit(mut self, limit: usize) -> Self {
        self.history_limit = limit;
        self
    }

    /// Sets [`UseSyncOptions::interval`].
    pub fn interval(mut self, period: Option<Duration>) -> Self {
        self.interval = period;
        self
    }
}

/// What [`use_sync`] returns.
#[derive(Clone)]
pub struct UseSyncReturn {
    /// Every diverging property (a desired value the device has not
    /// reported), longest first, with `since`, `duration` (at the last
    /// read, page clock) and the numeric difference.
    pub divergences: Signal<Vec<Divergence>>,
    /// The newest sync records (desired values sent, reports of properties
    /// that have a desired value), oldest first.
    pub sync_history: Signal<Vec<SyncRecord>>,
    /// Re-reads both now.
    pub refresh: ActionFn,
}

impl std::fmt::Debug for UseSyncReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseSyncReturn")
            .field("divergences", &self.divergences)
            .field("sync_history", &self.sync_history)
            .finish_non_exhaustive()
    }
}

/// A twin's sync view with default options. See [`use_sync_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use twinkit_leptos::{use_sync, Twin, UseSyncReturn};
///
/// #[component]
/// fn Sync(twin: Twin) -> impl IntoView {
///     let UseSyncReturn { divergences, .. } = use_sync(&twin);
///     view! {
///         <For each=move || divergences.get() key=|d| (d.property.clone(), d.duration) let:d>
///             <p>{format!("{}: desired {} for {} s", d.property, d.desired, d.duration / 1000)}</p>
///         </For>
///     }
/// }
/// ```
pub fn use_sync(twin: &Twin) -> UseSyncReturn {
    use_sync_with_options(twin, UseSyncOptions::default())
}

/// A twin's sync view, with options. The twin is only read; cleanup ends
/// the subscriptions and the timer.
pub fn use_sync_with_options(twin: &Twin, options: UseSyncOptions) -> UseSyncReturn {
    let UseSyncOptions {
        history_limit,
        interval,
    } = options;
    let divergences = RwSignal::new(Vec::<Divergence>::new());
    let sync_history = RwSignal::new(Vec::<SyncRecord>::new());

    let weak = twin.downgrade();
    let read = move || {
        let Some(twin) = weak.upgrade() else { return };
        let core = twin.core();
        set_if_changed(divergences, core.divergences(twinkit_web::now()));
        set_if_changed(sync_history, core.sync_history(None, Some(history_limit)));
    };
    read();

    // State changes carry reports and desired values; command events come
    // with the transport's polls, which also take desired values.
    let subscriptions: Vec<_> = [EventType::StateChange, EventType::Command]
        .into_iter()
        .map(|t| {
            let read = read.clone();
            twin.subscribe(Some(t), move |_| {
                read();
                Ok(())
            })
        })
        .collect();
    let timer = interval.and_then(|period| set_interval_with_handle(read.clone(), period).ok());
    on_cleanup_local(move || {
        drop(subscriptions);
        if let Some(timer) = timer {
            timer.clear();
        }
    });

    let refresh_read = local(read);
    let refresh: ActionFn = std::sync::Arc::new(move || (*refresh_read)());

    UseSyncReturn {
        divergences: divergences.into(),
        sync_history: sync_history.into(),
        refresh,
    }
}
