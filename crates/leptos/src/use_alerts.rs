//! [`use_alerts`]: the active alerts of a twin or of a whole fleet as a
//! signal, with acknowledge and clear.

use std::sync::Arc;

use leptos::prelude::*;
use twinkit_core::{Alert, EventData, EventType};
use twinkit_web::{Fleet, Twin, WebError};

use crate::util::{local, on_cleanup_local, set_if_changed};

/// Whose alerts [`use_alerts`] follows.
#[derive(Debug, Clone)]
pub enum AlertSource {
    /// One twin's.
    Twin(Twin),
    /// Every twin's in a fleet.
    Fleet(Fleet),
}

impl AlertSource {
    fn twins(&self) -> Vec<Twin> {
        match self {
            AlertSource::Twin(twin) => vec![twin.clone()],
            AlertSource::Fleet(fleet) => fleet.twins(),
        }
    }

    /// The twin that holds an alert.
    fn holder(&self, alert_id: &str) -> Option<Twin> {
        self.twins()
            .into_iter()
            .find(|t| t.core().alert(alert_id).is_some())
    }
}

impl From<Twin> for AlertSource {
    fn from(twin: Twin) -> Self {
        AlertSource::Twin(twin)
    }
}

impl From<&Twin> for AlertSource {
    fn from(twin: &Twin) -> Self {
        AlertSource::Twin(twin.clone())
    }
}

impl From<Fleet> for AlertSource {
    fn from(fleet: Fleet) -> Self {
        AlertSource::Fleet(fleet)
    }
}

impl From<&Fleet> for AlertSource {
    fn from(fleet: &Fleet) -> Self {
        AlertSource::Fleet(fleet.clone())
    }
}

/// Options of [`use_alerts_with_options`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UseAlertsOptions {
    /// Whether acknowledged alerts stay in `active` while their condition
    /// holds. Default: `true` (they are shown, marked acknowledged).
    pub include_acknowledged: bool,
}

impl Default for UseAlertsOptions {
    fn default() -> Self {
        Self {
            include_acknowledged: true,
        }
    }
}

impl UseAlertsOptions {
    /// Sets [`UseAlertsOptions::include_acknowledged`].
    pub fn include_acknowledged(mut self, include: bool) -> Self {
        self.include_acknowledged = include;
        self
    }
}

/// `acknowledge(alert_id)` and `clear(alert_id)` of [`UseAlertsReturn`].
pub type AlertActionFn = Arc<dyn Fn(&str) -> Result<Alert, WebError> + Send + Sync>;

/// What [`use_alerts`] returns.
#[derive(Clone)]
pub struct UseAlertsReturn {
    /// Active alerts, newest first.
    pub active: Signal<Vec<Alert>>,
    /// `acknowledge(alert_id)`: marks an alert seen; it stays active while
    /// its condition holds. An unknown id is an error.
    pub acknowledge: AlertActionFn,
    /// `clear(alert_id)`: clears an alert by hand; it is not raised again
    /// until the value has come back inside its range.
    pub clear: AlertActionFn,
}

/// The active alerts of a twin or a fleet. See [`use_alerts_with_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use twinkit_leptos::{use_alerts, Fleet, UseAlertsReturn};
///
/// #[component]
/// fn Alerts(fleet: Fleet) -> impl IntoView {
///     let UseAlertsReturn { active, acknowledge, .. } = use_alerts(&fleet);
///     view! {
///         <For each=move || active.get() key=|a| (a.id.clone(), a.acknowledged) let:alert>
///             {
///                 let acknowledge = acknowledge.clone();
///                 let id = alert.id.clone();
///                 view! {
///                     <p>{alert.message.clone()}
///                        <button on:click=move |_| { let _ = acknowledge(&id); }>"Acknowledge"</button>
///                     </p>
///                 }
///             }
///         </For>
///     }
/// }
/// ```
pub fn use_alerts(source: impl Into<AlertSource>) -> UseAlertsReturn {
    use_alerts_with_options(source, UseAlertsOptions::default())
}

/// The active alerts of a twin or a fleet, with options. The source is only
/// listened to; cleanup ends the subscription.
pub fn use_alerts_with_options(
    source: impl Into<AlertSource>,
    options: UseAlertsOptions,
) -> UseAlertsReturn {
    let source: AlertSource = source.into();
    let include_acknowledged = options.include_acknowledged;
    let active = RwSignal::new(collect(&source, include_acknowledged));

    let on_alert = {
        let source = source.clone();
        move |event: &twinkit_core::DeviceEvent| {
            if let EventData::Alert(_) = &event.data {
                set_if_changed(active, collect(&source, include_acknowledged));
            }
            Ok(())
        }
    };
    // The fleet's listener holds the source, and with it the fleet: keep a
    // weak handle there so the listener does not keep its own fleet alive.
    match &source {
        AlertSource::Twin(twin) => {
            let subscription = twin.subscribe(Some(EventType::Alert), on_alert);
            on_cleanup_local(move || drop(subscription));
        }
        AlertSource::Fleet(fleet) => {
            drop(on_alert);
            let weak = fleet.downgrade();
            let subscription = fleet.subscribe(move |event| {
                if let (EventData::Alert(_), Some(fleet)) = (&event.data, weak.upgrade()) {
                    set_if_changed(
                        active,
                        collect(&AlertSource::Fleet(fleet), include_acknowledged),
                    );
                }
                Ok(())
            });
            on_cleanup_local(move || drop(subscription));
        }
    }

    let refresh = local((source.clone(), include_acknowledged));
    let change = move |alert_id: &str, clear: bool| -> Result<Alert, WebError> {
        let (source, include_acknowledged) = &*refresh;
        let twin = source.holder(alert_id).ok_or_else(|| {
            WebError::Twin(twinkit_core::TwinError::UnknownAlert {
                alert_id: alert_id.to_string(),
            })
        })?;
        let alert = twin.update(|core, now| {
            if clear {
                core.clear_alert(alert_id, now)
            } else {
                core.acknowledge_alert(alert_id, now)
            }
        })??;
        // The alert event already refreshed `active` for this hook's own
        // source; this covers a source the event does not reach.
        set_if_changed(active, collect(source, *include_acknowledged));
        Ok(alert)
    };
    let change = Arc::new(change);
    let acknowledge_change = Arc::clone(&change);
    let acknowledge: AlertActionFn =
        Arc::new(move |alert_id: &str| acknowledge_change(alert_id, false));
    let clear: AlertActionFn = Arc::new(move |alert_id: &str| change(alert_id, true));

    UseAlertsReturn {
        active: active.into(),
        acknowledge,
        clear,
    }
}

impl std::fmt::Debug for UseAlertsReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseAlertsReturn")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

fn collect(source: &AlertSource, include_acknowledged: bool) -> Vec<Alert> {
    let mut alerts: Vec<Alert> = source
        .twins()
        .iter()
        .flat_map(|t| {
            t.core()
                .active_alerts()
                .filter(|a| include_acknowledged || !a.acknowledged)
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    alerts.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| a.id.cmp(&b.id)));
    alerts
}
