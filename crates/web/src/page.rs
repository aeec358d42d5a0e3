//! The page events a connection reacts to: the browser going offline or
//! online, and the tab becoming visible again. Listeners are removed on
//! drop.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventTarget, VisibilityState};

/// A change of the page a connection cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageEvent {
    Online,
    Offline,
    Visible,
}

struct Registration {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut()>,
}

/// Listens to `online`, `offline` (window) and `visibilitychange`
/// (document) while alive.
pub(crate) struct PageWatch {
    registrations: Vec<Registration>,
}

impl std::fmt::Debug for PageWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageWatch")
            .field("listeners", &self.registrations.len())
            .finish()
    }
}

impl PageWatch {
    /// Starts listening; outside a window (a worker) it listens to nothing.
    pub(crate) fn new(handler: Rc<dyn Fn(PageEvent)>) -> PageWatch {
        let mut registrations = Vec::new();
        let global = js_sys::global();
        let document = js_sys::Reflect::get(&global, &"document".into())
            .ok()
            .and_then(|d| d.dyn_into::<web_sys::Document>().ok());
        let mut add = |target: EventTarget, kind: &'static str, event: PageEvent| {
            let h = Rc::clone(&handler);
            let doc = document.clone();
            let callback = Closure::<dyn FnMut()>::new(move || {
                let visible = doc
                    .as_ref()
                    .is_none_or(|d| d.visibility_state() == VisibilityState::Visible);
                if event != PageEvent::Visible || visible {
                    h(event);
                }
            });
            if target
                .add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())
                .is_ok()
            {
                registrations.push(Registration {
                    target,
                    kind,
                    callback,
                });
            }
        };
        if let Ok(target) = global.clone().dyn_into::<EventTarget>() {
            add(target.clone(), "online", PageEvent::Online);
            add(target, "offline", PageEvent::Offline);
        }
        if let Some(document) = &document {
            add(
                document.clone().into(),
                "visibilitychange",
                PageEvent::Visible,
            );
        }
        PageWatch { registrations }
    }
}

impl Drop for PageWatch {
    fn drop(&mut self) {
        for r in &self.registrations {
            let _ = r
                .target
                .remove_event_listener_with_callback(r.kind, r.callback.as_ref().unchecked_ref());
        }
    }
}

/// Whether the browser says it is online (`navigator.onLine`; true when
/// unknown).
pub(crate) fn is_online() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| js_sys::Reflect::get(&n, &"onLine".into()))
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}
