//! When to dial again after a connection drops.
//!
//! Exponential backoff with jitter and a cap, as every serious client does
//! (MQTT.js retries on a fixed timer instead, which makes a fleet of tabs
//! hammer a recovering broker in lockstep). The schedule also listens to
//! the page: while the browser is offline nothing is dialled; when it comes
//! back online, or a hidden tab becomes visible again (browsers throttle
//! timers in hidden tabs), the next attempt is brought forward.
//!
//! Sans-io like the rest of the core: time and randomness are passed in.

use crate::config::ConnectionConfig;
use crate::Millis;

/// Default first delay, when the configuration gives no
/// `reconnectInterval`.
pub const DEFAULT_INITIAL_DELAY: Millis = 1_000;
/// Default longest delay between attempts.
pub const DEFAULT_MAX_DELAY: Millis = 30_000;

/// The shape of the delays between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay before the first retry.
    pub initial: Millis,
    /// Longest delay.
    pub max: Millis,
    /// Growth per failed attempt.
    pub factor: f64,
    /// Fraction of each delay drawn at random (0 = none, 1 = "full
    /// jitter"): spreads the retries of many clients.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: DEFAULT_INITIAL_DELAY,
            max: DEFAULT_MAX_DELAY,
            factor: 2.0,
            jitter: 0.5,
        }
    }
}

impl BackoffPolicy {
    /// The policy of a connection: `reconnectInterval` is the first delay,
    /// and the cap is 30 s (or the interval, if larger).
    pub fn from_config(config: &ConnectionConfig) -> Self {
        let initial = config.reconnect_interval.unwrap_or(DEFAULT_INITIAL_DELAY);
        BackoffPolicy {
            initial,
            max: DEFAULT_MAX_DELAY.max(initial),
            ..BackoffPolicy::default()
        }
    }

    /// The delay before retry number `attempt` (0 for the first retry);
    /// `unit_random` is uniform in [0, 1).
    pub fn delay(&self, attempt: u32, unit_random: f64) -> Millis {
        let exponent = attempt.min(64) as i32;
        let ceiling = (self.initial as f64 * self.factor.max(1.0).powi(exponent))
            .min(self.max as f64)
            .max(1.0);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let random = unit_random.clamp(0.0, 1.0);
        (ceiling * (1.0 - jitter) + ceiling * jitter * random).round() as Millis
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not asked to connect, or stopped by the application.
    Stopped,
    /// A dial is in progress.
    Dialing,
    /// Connected.
    Up,
    /// Waiting to dial at the given time.
    Waiting(Millis),
    /// Down, and the browser is offline: wait for it to come back.
    Parked,
}

/// The reconnect schedule of one connection.
#[derive(Debug, Clone)]
pub struct Reconnector {
    policy: BackoffPolicy,
    enabled: bool,
    online: bool,
    attempt: u32,
    phase: Phase,
}

impl Reconnector {
    /// A schedule; `enabled` is the connection's `reconnect` setting (a
    /// connection that may not reconnect still makes its first dial).
    pub fn new(policy: BackoffPolicy, enabled: bool) -> Self {
        Reconnector {
            policy,
            enabled,
            online: true,
            attempt: 0,
            phase: Phase::Stopped,
        }
    }

    /// The schedule of a connection configuration (`reconnect` defaults to
    /// true).
    pub fn from_config(config: &ConnectionConfig) -> Self {
        Reconnector::new(
            BackoffPolicy::from_config(config),
            config.reconnect.unwrap_or(true),
        )
    }

    /// The application asks to connect: dial now (or as soon as the browser
    /// is online).
    pub fn start(&mut self, now: Millis) {
        if matches!(self.phase, Phase::Stopped) {
            self.attempt = 0;
            self.phase = if self.online {
                Phase::Waiting(now)
            } else {
                Phase::Parked
            };
        }
    }

    /// The application disconnects: no more dials.
    pub fn stop(&mut self) {
        self.phase = Phase::Stopped;
    }

    /// Whether the application wants the connection up.
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Stopped)
    }

    /// Failed attempts since the connection was last up.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When [`Reconnector::poll_dial`] has something to do.
    pub fn poll_timeout(&self) -> Option<Millis> {
        match self.phase {
            Phase::Waiting(at) => Some(at),
            _ => None,
        }
    }

    /// Whether to dial now; if so the schedule moves to "dialing".
    pub fn poll_dial(&mut self, now: Millis) -> bool {
        match self.phase {
            Phase::Waiting(at) if at <= now && self.online => {
                self.phase = Phase::Dialing;
                true
            }
            _ => false,
        }
    }

    /// The connection is up: the next outage starts from the first delay.
    pub fn handle_up(&mut self) {
        if self.is_active() {
            self.attempt = 0;
            self.phase = Phase::Up;
        }
    }

    /// The connection went down or a dial failed; returns when the next
    /// dial is due, if any. `unit_random` is uniform in [0, 1).
    pub fn handle_down(&mut self, now: Millis, unit_random: f64) -> Option<Millis> {
        if !self.is_active() {
            return None;
        }
        if !self.enabled {
            self.phase = Phase::Stopped;
            return None;
        }
        if !self.online {
            self.phase = Phase::Parked;
            return None;
        }
        let at = now.saturating_add(self.policy.delay(self.attempt, unit_random));
        self.attempt = self.attempt.saturating_add(1);
        self.phase = Phase::Waiting(at);
        Some(at)
    }

    /// The browser went offline (`offline` event): dials wait for it to
    /// come back.
    pub fn handle_offline(&mut self) {
        self.online = false;
        if let Phase::Waiting(_) = self.phase {
            self.phase = Phase::Parked;
        }
    }

    /// The browser is online again (`online` event): a waiting or parked
    /// connection dials at once, and the backoff starts over (the failures
    /// were the network's, not the server's).
    pub fn handle_online(&mut self, now: Millis) {
        self.online = true;
        if matches!(self.phase, Phase::Parked | Phase::Waiting(_)) {
            self.attempt = 0;
            self.phase = Phase::Waiting(now);
        }
    }

    /// The tab became visible again: a connection waiting to redial dials
    /// now (its timer may have been throttled while hidden, and the user is
    /// looking). The backoff keeps growing if the server is still down.
    pub fn handle_visible(&mut self, now: Millis) {
        if let Phase::Waiting(at) = self.phase {
            self.phase = Phase::Waiting(at.min(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            initial: 1_000,
            max: 30_000,
            factor: 2.0,
            jitter: 0.5,
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_within_their_jitter() {
        let p = policy();
        let ceilings = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
        for (attempt, ceiling) in ceilings.into_iter().enumerate() {
            let low = p.delay(attempt as u32, 0.0);
            let high = p.delay(attempt as u32, 0.999_999);
            assert_eq!(low, ceiling / 2, "attempt {attempt}");
            assert!(
                high <= ceiling && high >= ceiling - 1,
                "attempt {attempt}: {high}"
            );
        }
        assert_eq!(p.delay(u32::MAX, 0.5), 22_500);
    }

    #[test]
    fn without_jitter_the_delay_is_exact_and_config_sets_the_first_delay() {
        let config = ConnectionConfig {
            url: "ws://127.0.0.1:1/".into(),
            reconnect_interval: Some(250),
            ..ConnectionConfig::default()
        };
        let p = BackoffPolicy {
            jitter: 0.0,
            ..BackoffPolicy::from_config(&config)
        };
        assert_eq!(p.delay(0, 0.9), 250);
        assert_eq!(p.delay(3, 0.1), 2_000);
    }

    #[test]
    fn a_dropped_connection_is_redialled_after_a_growing_delay_and_reset_when_up() {
        let mut r = Reconnector::new(policy(), true);
        assert!(!r.poll_dial(0), "nothing before start");
        r.start(0);
        assert!(r.poll_dial(0));
        assert_eq!(r.handle_down(10, 0.0), Some(510));
        assert!(!r.poll_dial(509));
        assert!(r.poll_dial(510));
        assert_eq!(r.handle_down(600, 0.0), Some(1_600));
        assert_eq!(r.attempt(), 2);
        assert!(r.poll_dial(1_600));
        r.handle_up();
        assert_eq!(r.attempt(), 0);
        assert_eq!(r.handle_down(5_000, 0.0), Some(5_500));
    }

    #[test]
    fn stop_and_disabled_reconnect_end_the_schedule() {
        let mut r = Reconnector::new(policy(), true);
        r.start(0);
        assert!(r.poll_dial(0));
        r.stop();
        assert_eq!(r.handle_down(1, 0.5), None);
        assert_eq!(r.poll_timeout(), None);

        let mut once = Reconnector::new(policy(), false);
        once.start(0);
        assert!(once.poll_dial(0), "the first dial happens");
        assert_eq!(once.handle_down(1, 0.5), None);
        assert!(!once.is_active());
    }

    #[test]
    fn offline_parks_and_online_dials_at_once() {
        let mut r = Reconnector::new(policy(), true);
        r.start(0);
        assert!(r.poll_dial(0));
        r.handle_offline();
        assert_eq!(r.handle_down(100, 0.5), None, "no dial while offline");
        assert_eq!(r.poll_timeout(), None);
        r.handle_online(5_000);
        assert_eq!(r.poll_timeout(), Some(5_000));
        assert!(r.poll_dial(5_000));
    }

    #[test]
    fn online_redials_a_waiting_connection_now_with_the_backoff_reset() {
        let mut r = Reconnector::new(policy(), true);
        r.start(0);
        for _ in 0..5 {
            assert!(r.poll_dial(r.poll_timeout().unwrap()));
            r.handle_down(0, 0.5);
        }
        assert_eq!(r.attempt(), 5);
        r.handle_online(700);
        assert_eq!(r.poll_timeout(), Some(700));
        assert!(r.poll_dial(700));
        assert_eq!(r.attempt(), 0);
        assert_eq!(r.handle_down(800, 0.0), Some(1_300), "first delay again");
    }

    #[test]
    fn a_visible_tab_redials_at_once_and_keeps_the_backoff() {
        let mut r = Reconnector::new(policy(), true);
        r.start(0);
        for _ in 0..6 {
            assert!(r.poll_dial(r.poll_timeout().unwrap()));
            r.handle_down(0, 0.5);
        }
        assert_eq!(r.poll_timeout(), Some(22_500));
        r.handle_visible(100);
        assert_eq!(r.poll_timeout(), Some(100));
        assert!(r.poll_dial(100));
        assert_eq!(r.attempt(), 6, "a server still down is not hammered");
        // Connected: visibility changes nothing.
        r.handle_up();
        r.handle_visible(200);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn jitter_spreads_a_thousand_clients() {
        // SplitMix64 as the random source: a fleet's retries land at many
        // different times, not in lockstep.
        let mut seed = 42u64;
        let mut unit = || {
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as f64 / u64::MAX as f64
        };
        let p = policy();
        let mut delays: Vec<Millis> = (0..1_000).map(|_| p.delay(4, unit())).collect();
        delays.sort_unstable();
        delays.dedup();
        assert!(delays.len() > 900, "only {} distinct delays", delays.len());
    }
}
