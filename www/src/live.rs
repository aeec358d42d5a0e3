//! Live mode: twins of devices served elsewhere (the `twinkit-sim` binary,
//! over mosquitto or its own WebSocket and HTTP servers), connected by the
//! browser runtime itself.
//!
//! The twins are made from `twinkit-sim`'s own device configurations (same
//! ids, properties, limits and telemetry interval as the simulator's
//! `--devices N --interval MS`), with `connectionType` and
//! `connectionConfig` added: each twin then connects itself on `connect()`.

use std::cell::Cell;
use std::rc::Rc;

use twinkit_core::ConnectionConfig;
use twinkit_sim::{SimFleet, SimOptions};
use twinkit_web::{Fleet, Twin};

use crate::params::{Live, Params};
use crate::source::{twin_options, FleetSource};

/// Creates the twins of `params.devices` simulator devices and connects
/// them to `live`.
pub fn start(params: &Params, live: &Live) -> Result<FleetSource, String> {
    let interval_ms = params.interval_ms();
    let options = SimOptions {
        telemetry_interval_ms: interval_ms,
        ..SimOptions::default()
    };
    // Only the configurations are used: nothing of this fleet runs here.
    let sim = SimFleet::mixed(params.devices, &options).map_err(|e| e.to_string())?;
    let fleet = Fleet::new();
    for device in sim.devices() {
        let mut config = device.config().clone();
        config.connection_type = Some(live.connection_type.clone());
        config.connection_config = Some(ConnectionConfig {
            url: live.url.clone(),
            topic: Some(live.prefix.clone()),
            reconnect: Some(true),
            ..ConnectionConfig::default()
        });
        let twin = Twin::new(config, twin_options(interval_ms))
            .map_err(|e| format!("{}: {e}", device.id()))?;
        fleet.add(twin).map_err(|e| e.to_string())?;
    }
    // Connect once every twin is in the fleet, so they share one socket
    // per server from the start.
    fleet.connect_all().map_err(|e| e.to_string())?;
    Ok(FleetSource {
        fleet,
        live: Some(live.clone()),
        paused: Rc::new(Cell::new(false)),
        _timer: None,
    })
}
