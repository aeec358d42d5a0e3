//! The embedded simulated fleet: `twinkit-sim` devices running in the page,
//! each wired in-process to a twin of the same id through the sim's
//! [`Bridge`] — the twin's desired values and commands go to its device,
//! the device's telemetry, state and command answers come back through the
//! twin's ordinary ingestion path. Nothing is faked on the twin side: the
//! dashboard sees exactly what a network transport would deliver.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::set_interval_with_handle;
use twinkit_sim::{Bridge, BridgeReport, SimFleet, SimOptions};
use twinkit_web::{Fleet, Twin};

use crate::params::Params;
use crate::source::{twin_options, FleetSource, IntervalTimer};

/// Creates `params.devices` devices and their twins, connects the twins
/// and steps the devices on a page timer.
pub fn start(params: &Params) -> Result<FleetSource, String> {
    let interval_ms = params.interval_ms();
    let options = SimOptions {
        seed: params.seed,
        telemetry_interval_ms: interval_ms,
        time_scale: params.speed,
        ..SimOptions::default()
    };
    let sim = SimFleet::mixed(params.devices, &options).map_err(|e| e.to_string())?;
    let fleet = Fleet::new();
    for device in sim.devices() {
        let twin = Twin::new(device.config().clone(), twin_options(interval_ms))
            .map_err(|e| e.to_string())?;
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
    Ok(FleetSource {
        fleet,
        live: None,
        paused,
        _timer: Some(Rc::new(IntervalTimer(handle))),
    })
}
