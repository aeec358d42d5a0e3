//! Where the page's fleet comes from: the embedded simulation
//! ([`crate::embedded`]) or live devices over the network
//! ([`crate::live`]). Either way the pages see one [`Fleet`] of twins.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::IntervalHandle;
use twinkit_core::TwinOptions;
use twinkit_web::Fleet;

use crate::params::Live;

/// The page's fleet and what keeps it running.
#[derive(Clone)]
pub struct FleetSource {
    /// The twins.
    pub fleet: Fleet,
    /// Where live devices are; `None` for the embedded simulation.
    pub live: Option<Live>,
    /// While set, the user pressed "Disconnect all".
    pub(crate) paused: Rc<Cell<bool>>,
    /// The simulation's step timer (embedded only), cleared on drop.
    pub(crate) _timer: Option<Rc<IntervalTimer>>,
}

/// A page interval, cleared when dropped.
pub(crate) struct IntervalTimer(pub(crate) IntervalHandle);

impl Drop for IntervalTimer {
    fn drop(&mut self) {
        self.0.clear();
    }
}

impl FleetSource {
    /// Connects every twin (and, embedded, lets device output reach them
    /// again).
    pub fn connect_all(&self) {
        self.paused.set(false);
        let _ = self.fleet.connect_all();
    }

    /// Disconnects every twin. Embedded devices keep running, their output
    /// dropped as a broker would for a client that is gone.
    pub fn disconnect_all(&self) {
        self.paused.set(true);
        self.fleet.disconnect_all();
    }

    /// Whether "Disconnect all" is in force.
    pub fn is_paused(&self) -> bool {
        self.paused.get()
    }
}

/// Twin options for a device sending telemetry every `interval_ms`: an
/// hour of points per property is plenty for the charts and the trend
/// fits (the store keeps the rest), and keeps 100 devices light.
pub fn twin_options(interval_ms: u64) -> TwinOptions {
    let mut options = TwinOptions::default();
    options.history_capacity =
        Some((3_600_000 / interval_ms.max(1)).clamp(1_000, 100_000) as usize);
    options
}
