//! The embedded simulated fleet: `twinkit-sim` devices running in the page,
//! each wired in-process to a twin of the same id through the sim's
//! [`Bridge`] — the twin's desired values and commands go to its device,
//! the device's telemetry, state and command answers come back through the
//! twin's ordinary ingestion path. Nothing is faked on the twin side: the
//! dashboard sees exactly what a network transport would deliver.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::{set_interval_with_handle, IntervalHandle};
use twinkit_core::TwinOptions;
use twinkit_sim::{Bridge, BridgeReport, SimFleet, SimOptions};
use twinkit_web::{Fleet, Twin};

use crate::params::Params;

/// A running simulated fleet and its twins.
#[derive(Clone)]
pub struct Embedded {
    /// The twins, one per simulated device.
    pub fleet: Fleet,
    /// While set, devices keep running but nothing reaches the twins (the
    /// user pressed "Disconnect all").
    paused: Rc<Cell<bool>>,
    _timer: Rc<IntervalTimer>,
}

struct IntervalTimer(IntervalHandle);

impl Drop for IntervalTimer {
    fn drop(&mut self) {
        self.0.clear();
    }
}

impl Embedded {
    /// Creates `params.devices` devices and their twins, connects the twins
    /// and steps the devices on a page timer.
    pub fn start(params: &Params) -> Result<Embedded, String> {
        let interval_ms = (1000.0 / params.rate_hz).round().max(1.0) as u64;
        let options = SimOptions {
            seed: params.seed,
            telemetry_interval_ms: interval_ms,
            time_scale: params.speed,
            ..SimOptions::default()
        };
        let sim = SimFleet::mixed(params.devices, &options).map_err(|e| e.to_string())?;
        let fleet = Fleet::new();
        for device in sim.devices() {
            // An hour of points per property is plenty for the charts and
            // the trend fits, and keeps 100 devices light.
            let history = (3_600_000 / interval_ms).clamp(1_000, 100_000) as usize;
            let mut twin_options = TwinOptions::default();
            twin_options.history_capacity = Some(history);
            let twin =
                Twin::new(device.config().clone(), twin_options).map_err(|e| e.to_string())?;
            twin.connect().map_err(|e| e.to_string())?;
            fleet.add(twin).map_err(|e| e.to_string())?;
        }

        let sim = Rc::new(RefCell::new(sim));
        let bridge = Rc::new(RefCell::new(Bridge::new()));
        let paused = Rc::new(Cell::new(false));
        // Step often enough for the telemetry rate and for command
        // lifecycles to be seen, at most four times a second otherwise.
        let step_ms = interval_ms.clamp(20, 250);
        let step = {
            let (fleet, paused) = (fleet.clone(), Rc::clone(&paused));
            move || {
                let now = twinkit_web::now();
                let mut sim = sim.borrow_mut();
                let mut bridge = bridge.borrow_mut();
                let mut report = BridgeReport::default();
                for device in sim.devices_mut() {
                    let twin = fleet.get(device.id());
                    let live = !paused.get() && twin.as_ref().is_some_and(|t| !t.is_disposed());
                    match twin {
                        Some(twin) if live => {
                            let _ = twin.update_at(now, |core, now| {
                                bridge.exchange_one(device, core, now, &mut report);
                            });
                        }
                        _ => {
                            device.tick(now);
                            while device.poll_output().is_some() {}
                        }
                    }
                }
                // Refused desired values and malformed payloads (injected
                // faults) reach the twin as `error` events or not at all, as
                // with a network transport; the report is not needed here.
                drop(report);
            }
        };
        let handle = set_interval_with_handle(step, Duration::from_millis(step_ms))
            .map_err(|e| format!("no page timer: {e:?}"))?;
        Ok(Embedded {
            fleet,
            paused,
            _timer: Rc::new(IntervalTimer(handle)),
        })
    }

    /// Connects every twin and lets device output reach them again.
    pub fn connect_all(&self) {
        self.paused.set(false);
        let _ = self.fleet.connect_all();
    }

    /// Disconnects every twin; devices keep running, their output is
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
