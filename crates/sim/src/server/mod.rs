//! The native simulator server: a [`SimFleet`] ticked in real time and
//! served over MQTT (one rumqttc connection per device, to a broker such as
//! mosquitto), the WebSocket JSON protocol and the HTTP REST shape of
//! [`twinkit_core::wire`].
//!
//! Every transport sees the same devices: a desired value posted over HTTP
//! shows in the MQTT `reported` topic and in WebSocket `state` messages.
//! Faults are requested with the `fault` command over any transport.

mod http;
mod mqtt;
mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use twinkit_core::{ConfigError, Millis};

use crate::device::{Output, SimDevice, SimOptions};
use crate::fleet::SimFleet;

/// How a simulator server runs.
#[derive(Clone)]
pub struct ServerOptions {
    /// MQTT broker `host:port` to publish to; none for no MQTT.
    pub mqtt: Option<String>,
    /// MQTT user name.
    pub mqtt_username: Option<String>,
    /// MQTT password (never logged).
    pub mqtt_password: Option<String>,
    /// Address for the WebSocket server (port 0 picks a free one).
    pub ws: Option<SocketAddr>,
    /// Address for the HTTP server (port 0 picks a free one).
    pub http: Option<SocketAddr>,
    /// How many devices (cycling thermostat, motor, environment sensor).
    pub devices: usize,
    /// MQTT topic prefix.
    pub prefix: String,
    /// Token WebSocket `hello` and HTTP `Authorization: Bearer` must carry;
    /// none for open access.
    pub token: Option<String>,
    /// Device settings.
    pub sim: SimOptions,
    /// How often the fleet is ticked, ms.
    pub tick_ms: Millis,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("mqtt", &self.mqtt)
            .field("mqtt_username", &self.mqtt_username)
            .field(
                "mqtt_password",
                &self.mqtt_password.as_ref().map(|_| "<redacted>"),
            )
            .field("ws", &self.ws)
            .field("http", &self.http)
            .field("devices", &self.devices)
            .field("prefix", &self.prefix)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("sim", &self.sim)
            .field("tick_ms", &self.tick_ms)
            .finish()
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            mqtt: None,
            mqtt_username: None,
            mqtt_password: None,
            ws: None,
            http: None,
            devices: 5,
            prefix: "twinkit".into(),
            token: None,
            sim: SimOptions::default(),
            tick_ms: 100,
        }
    }
}

/// A server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The MQTT address is not `host:port`.
    #[error("MQTT broker address `{0}` is not host:port")]
    MqttAddress(String),
    /// The MQTT prefix is empty or holds `+`, `#` or NUL.
    #[error("MQTT prefix `{0}` must be non-empty without `+`, `#` or NUL")]
    Prefix(String),
    /// The devices could not be created.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// One device's output, fanned out to every transport.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub device_id: Arc<str>,
    pub output: Output,
}

/// State shared by the transports.
pub(crate) struct Shared {
    fleet: Mutex<SimFleet>,
    pub events: broadcast::Sender<Event>,
    pub prefix: String,
    token: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimFleet> {
        // A panic while holding the lock leaves the fleet usable: its
        // methods keep it consistent between calls.
        self.fleet.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a device and publishes what it sent; `None` when there
    /// is no such device.
    pub fn with_device<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut SimDevice, Millis) -> R,
    ) -> Option<R> {
        let now = now_ms();
        let mut fleet = self.lock();
        let device = fleet.device_mut(id)?;
        let result = f(device, now);
        let id: Arc<str> = Arc::from(id);
        while let Some(output) = device.poll_output() {
            let _ = self.events.send(Event {
                device_id: id.clone(),
                output,
            });
        }
        Some(result)
    }

    /// Reads a device.
    pub fn read_device<R>(&self, id: &str, f: impl FnOnce(&SimDevice, Millis) -> R) -> Option<R> {
        let now = now_ms();
        let fleet = self.lock();
        fleet.device(id).map(|d| f(d, now))
    }

    fn tick(&self) {
        let now = now_ms();
        let mut fleet = self.lock();
        fleet.tick(now);
        for (id, output) in fleet.drain_outputs() {
            let _ = self.events.send(Event {
                device_id: Arc::from(id.as_str()),
                output,
            });
        }
    }

    /// Whether a presented credential is accepted.
    pub fn authorized(&self, presented: Option<&str>) -> bool {
        match (&self.token, presented) {
            (None, _) => true,
            (Some(expected), Some(given)) => {
                constant_time_eq(expected.as_bytes(), given.as_bytes())
            }
            (Some(_), None) => false,
        }
    }

    /// The device ids.
    pub fn device_ids(&self) -> Vec<String> {
        self.lock().devices().map(|d| d.id().to_owned()).collect()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
    })
}

/// A running server; [`RunningServer::shutdown`] stops it (devices go
/// offline on MQTT with a retained status first).
#[derive(Debug)]
pub struct RunningServer {
    /// Where the WebSocket server listens.
    pub ws_addr: Option<SocketAddr>,
    /// Where the HTTP server listens.
    pub http_addr: Option<SocketAddr>,
    /// The simulated devices' ids.
    pub device_ids: Vec<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    http: Option<http::HttpServer>,
}

impl RunningServer {
    /// Stops every transport and waits for them to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(http) = self.http.take() {
            http.stop();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
        if let Some(http) = self.http.take() {
            http.stop();
        }
    }
}

/// Starts the simulator: binds the listeners, connects each device to the
/// broker (retrying in the background) and ticks the fleet. Call inside a
/// tokio runtime.
pub async fn start(options: ServerOptions) -> Result<RunningServer, ServerError> {
    if options.prefix.is_empty() || options.prefix.contains(['+', '#', '\0']) {
        return Err(ServerError::Prefix(options.prefix.clone()));
    }
    let fleet = SimFleet::mixed(options.devices, &options.sim)?;
    let (events, _) = broadcast::channel(4096);
    let shared = Arc::new(Shared {
        fleet: Mutex::new(fleet),
        events,
        prefix: options.prefix.clone(),
        token: options.token.clone(),
    });
    let device_ids = shared.device_ids();
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    // MQTT first, so each device's connection subscribes to the events
    // before the first tick publishes.
    if let Some(addr) = &options.mqtt {
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| ServerError::MqttAddress(addr.clone()))?;
        for id in &device_ids {
            let connection = mqtt::DeviceConnection {
                shared: shared.clone(),
                device_id: id.clone(),
                host: host.clone(),
                port,
                username: options.mqtt_username.clone(),
                password: options.mqtt_password.clone(),
                events: shared.events.subscribe(),
            };
            tasks.push(tokio::spawn(connection.run(stopped.clone())));
        }
    }
    let mut ws_addr = None;
    if let Some(addr) = options.ws {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        ws_addr = listener.local_addr().ok();
        tasks.push(tokio::spawn(ws::serve(
            listener,
            shared.clone(),
            stopped.clone(),
        )));
    }
    let mut http_server = None;
    let mut http_addr = None;
    if let Some(addr) = options.http {
        let server = http::HttpServer::start(addr, shared.clone())
            .map_err(|source| ServerError::Bind { addr, source })?;
        http_addr = Some(server.addr());
        http_server = Some(server);
    }
    let ticker_shared = shared.clone();
    let mut ticker_stop = stopped.clone();
    let tick = Duration::from_millis(options.tick_ms.max(1));
    tasks.push(tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => ticker_shared.tick(),
                _ = ticker_stop.changed() => break,
            }
        }
    }));
    Ok(RunningServer {
        ws_addr,
        http_addr,
        device_ids,
        stop,
        tasks,
        http: http_server,
    })
}
