//! URL parameters of the dashboard.
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `devices` | 6 | devices (1 to 500), cycling thermostat, motor, environment sensor |
//! | `rate` | 1 | telemetry records per second per device (0.1 to 20) |
//! | `speed` | 60 | simulated seconds of physics per second of page time (1 to 3600; embedded only) |
//! | `seed` | 7 | seed of every random draw (initial states, sensor noise; embedded only) |
//! | `live` | — | `mqtt`, `websocket` or `http`: connect to devices served by `twinkit-sim` instead of simulating them in the page |
//! | `broker` / `url` | — | live mode: the broker (`ws://` for MQTT over WebSocket) or server URL (`ws://`, `http://`) |
//! | `prefix` | `twinkit` | live mode over MQTT: the topic prefix |
//! | `history` | `on` | `off`: do not record telemetry into IndexedDB (the device pages' history panel) |
//!
//! In live mode `devices` and `rate` must match the simulator's `--devices`
//! and `--interval` (`rate` = 1000 / interval): the twins are made from the
//! same device configurations as the simulator's.

use twinkit_core::ConnectionType;

/// The dashboard's settings, read once from the page URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Devices.
    pub devices: usize,
    /// Telemetry records per second per device.
    pub rate_hz: f64,
    /// Simulated seconds per page second.
    pub speed: f64,
    /// Random seed.
    pub seed: u64,
    /// Where live devices are, or `None` for the embedded simulation; an
    /// error when the live parameters are unusable (shown on the page).
    pub live: Option<Result<Live, String>>,
    /// Whether telemetry is recorded into the time-series store.
    pub history: bool,
}

/// Where the live devices are served.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// How the twins connect.
    pub connection_type: ConnectionType,
    /// The broker or server URL.
    pub url: String,
    /// The MQTT topic prefix.
    pub prefix: String,
}

impl Live {
    /// The connection type as the `live` parameter names it.
    pub fn kind(&self) -> &'static str {
        match self.connection_type {
            ConnectionType::Mqtt => "mqtt",
            ConnectionType::Websocket => "websocket",
            _ => "http",
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            devices: 6,
            rate_hz: 1.0,
            speed: 60.0,
            seed: 7,
            live: None,
            history: true,
        }
    }
}

impl Params {
    /// Reads the parameters of the page URL; a missing or unreadable
    /// number keeps its default, an out-of-range one is clamped.
    pub fn from_url() -> Params {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        Params::from_query(&search)
    }

    /// The telemetry interval in ms that `rate` stands for.
    pub fn interval_ms(&self) -> u64 {
        (1000.0 / self.rate_hz).round().max(1.0) as u64
    }

    /// Reads the parameters from a query string (`?a=1&b=2`).
    pub fn from_query(search: &str) -> Params {
        let query = web_sys::UrlSearchParams::new_with_str(search).ok();
        let get = |name: &str| query.as_ref().and_then(|q| q.get(name));
        let number = |name: &str| {
            get(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        let default = Params::default();
        let live = get("live").map(|kind| {
            let connection_type = match kind.trim() {
                "mqtt" => ConnectionType::Mqtt,
                "websocket" | "ws" => ConnectionType::Websocket,
                "http" => ConnectionType::Http,
                other => {
                    return Err(format!(
                        "live={other:?} is not a connection type: use mqtt, websocket or http"
                    ))
                }
            };
            let url = get("broker")
                .or_else(|| get("url"))
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    format!(
                        "live={kind} needs the broker or server URL: add &broker=ws://… or &url=…"
                    )
                })?;
            let prefix = get("prefix")
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "twinkit".into());
            Ok(Live {
                connection_type,
                url,
                prefix,
            })
        });
        Params {
            devices: number("devices").map_or(default.devices, |n| n.clamp(1.0, 500.0) as usize),
            rate_hz: number("rate").map_or(default.rate_hz, |n| n.clamp(0.1, 20.0)),
            speed: number("speed").map_or(default.speed, |n| n.clamp(1.0, 3600.0)),
            seed: get("seed")
                .and_then(|v| v.parse().ok())
                .unwrap_or(default.seed),
            live,
            history: get("history")
                .is_none_or(|v| !matches!(v.trim(), "off" | "0" | "false" | "no")),
        }
    }
}
