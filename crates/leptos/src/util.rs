//! Small pieces the hooks share.

use leptos::prelude::*;
use send_wrapper::SendWrapper;

/// Writes `value` into `signal` only if it differs from what the signal
/// holds, so subscribers re-run only on real changes. Returns whether it
/// wrote. A disposed signal is left alone.
pub(crate) fn set_if_changed<T>(signal: RwSignal<T>, value: T) -> bool
where
    T: PartialEq + Send + Sync + 'static,
{
    if signal.try_with_untracked(|current| *current != value) == Some(true) {
        signal.try_set(value);
        true
    } else {
        false
    }
}

/// Runs `f` when the current reactive owner is cleaned up. Leptos asks for
/// `Send + Sync` cleanups; twin handles are single-threaded (`Rc`), and a
/// client-side-rendered page has one thread, so the wrapper never moves.
pub(crate) fn on_cleanup_local(f: impl FnOnce() + 'static) {
    let f = SendWrapper::new(f);
    on_cleanup(move || (f.take())());
}

/// Makes a single-threaded value usable in closures Leptos wants `Send +
/// Sync` (reactive closures in views, callbacks). Sound here for the same
/// reason as [`on_cleanup_local`]: the page has one thread.
pub(crate) fn local<T>(value: T) -> SendWrapper<T> {
    SendWrapper::new(value)
}
