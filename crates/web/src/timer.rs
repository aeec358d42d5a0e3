//! A re-armable page timer that owns its callback and is cancelled on drop.

use std::cell::Cell;

use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// One callback, run by `setTimeout` whenever the timer is armed. The
/// callback is created once and kept for the timer's life, so the timer can
/// be re-armed (even from inside its own callback) without allocating, and
/// dropping the timer cancels it.
pub struct Timer {
    callback: Closure<dyn FnMut()>,
    pending: Cell<Option<(u64, JsValue)>>,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let deadline = self.deadline();
        f.debug_struct("Timer")
            .field("deadline", &deadline)
            .finish()
    }
}

impl Timer {
    /// A disarmed timer that runs `callback` each time it fires.
    pub fn new(callback: impl FnMut() + 'static) -> Timer {
        Timer {
            callback: Closure::new(callback),
            pending: Cell::new(None),
        }
    }

    /// When the timer fires next (page-clock milliseconds), if armed.
    pub fn deadline(&self) -> Option<u64> {
        let pending = self.pending.take();
        let deadline = pending.as_ref().map(|(at, _)| *at);
        self.pending.set(pending);
        deadline
    }

    /// Fires at `deadline` (page-clock milliseconds; `now` is the current
    /// time). An earlier pending deadline is kept; a later one is replaced.
    /// Returns false if the page has no timer API.
    pub fn arm(&self, deadline: u64, now: u64) -> bool {
        if self.deadline().is_some_and(|at| at <= deadline) {
            return true;
        }
        self.cancel();
        let delay = deadline.saturating_sub(now) as f64;
        match global_call("setTimeout", self.callback.as_ref(), &delay.into()) {
            Ok(id) => {
                self.pending.set(Some((deadline, id)));
                true
            }
            Err(_) => false,
        }
    }

    /// Marks the timer as fired; call first thing in the callback so that
    /// re-arming from it schedules a new run.
    pub fn fired(&self) {
        self.pending.set(None);
    }

    /// Cancels a pending run.
    pub fn cancel(&self) {
        if let Some((_, id)) = self.pending.take() {
            let _ = global_call("clearTimeout", &id, &JsValue::UNDEFINED);
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.cancel();
    }
}

fn global_call(name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    let global = js_sys::global();
    let f: Function = Reflect::get(&global, &name.into())?.dyn_into()?;
    f.call2(&global, a, b)
}
