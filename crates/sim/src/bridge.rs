//! Simulated devices wired to twins in the same process (the dashboard's
//! embedded fleet, tests): desired values and commands flow from each twin
//! to its device, telemetry, state and command answers flow back through
//! the twin's ordinary ingestion path.

use std::collections::HashSet;

use twinkit_core::wire::{self, WireError};
use twinkit_core::{DigitalTwin, FleetManager, Millis};

use crate::device::{inbound, Output, SimDevice, SimError};
use crate::fleet::SimFleet;

/// What a [`Bridge::exchange`] could not deliver.
#[derive(Debug, Default, PartialEq)]
pub struct BridgeReport {
    /// Desired values or commands a device refused, by device id (a twin
    /// checks the same configuration first, so these are the device's own
    /// rules, e.g. a thermostat `mode` other than `heat` or `off`).
    pub refused: Vec<(String, SimError)>,
    /// Malformed payloads (the `malformed` fault), by device id, with the
    /// error a transport would report; the twin's state is untouched.
    pub malformed: Vec<(String, WireError)>,
}

/// Connects simulated devices to twins with the same ids.
///
/// A `dropConnection` fault disconnects the twin (`disconnected` event with
/// the reason) and the bridge reconnects it when the device is back; a
/// twin the application disconnected stays disconnected.
#[derive(Debug, Default)]
pub struct Bridge {
    dropped: HashSet<String>,
}

impl Bridge {
    /// A bridge with no device dropped.
    pub fn new() -> Self {
        Self::default()
    }

    /// One step at `now`: every device takes what its twin sends, ticks,
    /// and its output is ingested by the twin. Devices without a twin tick
    /// and their output is discarded.
    pub fn exchange(
        &mut self,
        sim: &mut SimFleet,
        fleet: &mut FleetManager,
        now: Millis,
    ) -> BridgeReport {
        let mut report = BridgeReport::default();
        for device in sim.devices_mut() {
            match fleet.device_mut(device.id()) {
                Some(twin) => self.exchange_one(device, twin, now, &mut report),
                None => {
                    device.tick(now);
                    while device.poll_output().is_some() {}
                }
            }
        }
        report
    }

    /// The same for one device and its twin.
    pub fn exchange_one(
        &mut self,
        device: &mut SimDevice,
        twin: &mut DigitalTwin,
        now: Millis,
        report: &mut BridgeReport,
    ) {
        let id = device.id().to_owned();
        if device.is_online(now) && self.dropped.remove(&id) {
            twin.handle_connected(now);
        }
        while twin.is_connected() {
            let Some(outbound) = twin.poll_outbound(now) else {
                break;
            };
            if let Err(error) = device.handle_outbound(&outbound, now) {
                report.refused.push((id.clone(), error));
            }
        }
        device.tick(now);
        while let Some(output) = device.poll_output() {
            match output {
                Output::Send(message) => {
                    if let Some(input) = inbound(&message) {
                        // Refused values become the twin's `error` events.
                        let _ = twin.ingest(input, now);
                    }
                }
                Output::Malformed { text } => {
                    if let Err(error) = wire::decode(&text) {
                        report.malformed.push((id.clone(), error));
                    }
                }
                Output::Disconnect { .. } => {
                    twin.handle_disconnected(Some("the device dropped the connection"), now);
                    self.dropped.insert(id.clone());
                }
            }
        }
    }
}
