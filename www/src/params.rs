//! URL parameters of the dashboard.
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `devices` | 6 | simulated devices (1 to 500), cycling thermostat, motor, environment sensor |
//! | `rate` | 1 | telemetry records per second per device (0.1 to 20) |
//! | `speed` | 60 | simulated seconds of physics per second of page time (1 to 3600) |
//! | `seed` | 7 | seed of every random draw (initial states, sensor noise) |

/// The dashboard's settings, read once from the page URL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Simulated devices.
    pub devices: usize,
    /// Telemetry records per second per device.
    pub rate_hz: f64,
    /// Simulated seconds per page second.
    pub speed: f64,
    /// Random seed.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            devices: 6,
            rate_hz: 1.0,
            speed: 60.0,
            seed: 7,
        }
    }
}

impl Params {
    /// Reads `?devices=&rate=&speed=&seed=`; a missing or unreadable value
    /// keeps its default, an out-of-range one is clamped.
    pub fn from_url() -> Params {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        Params::from_query(&search)
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
        Params {
            devices: number("devices").map_or(default.devices, |n| n.clamp(1.0, 500.0) as usize),
            rate_hz: number("rate").map_or(default.rate_hz, |n| n.clamp(0.1, 20.0)),
            speed: number("speed").map_or(default.speed, |n| n.clamp(1.0, 3600.0)),
            seed: get("seed")
                .and_then(|v| v.parse().ok())
                .unwrap_or(default.seed),
        }
    }
}
