//! The protocol side of a connection, sans-io: what goes over one
//! WebSocket (or similar byte stream) for the twins that share it.
//!
//! A [`Link`] turns socket happenings (open, a frame, close) and the twins'
//! [`Outbound`] messages into frames to transmit and [`Inbound`] messages
//! for each twin, with time passed in, in the style of quinn-proto:
//! `handle_*` feeds it, `poll_*` drains it. The browser runtime owns the
//! socket, the timers and the reconnect schedule
//! ([`crate::reconnect::Reconnector`]); each protocol (WebSocket JSON in
//! [`crate::wire`], MQTT in `twinkit-mqtt`) implements this trait, so it is
//! tested natively, frame by frame.

use crate::twin::{Inbound, Outbound};
use crate::Millis;

/// One WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Something a link has for its host.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LinkEvent {
    /// The session is up: the twins may be told they are connected.
    Up,
    /// The session is down (the socket should be closed if still open);
    /// `reason` never carries credentials.
    Down {
        /// Why, for the twins' `disconnected` event.
        reason: String,
    },
    /// A frame to send.
    Transmit(Frame),
    /// A message for one twin.
    Inbound {
        /// The twin's device id.
        device_id: String,
        /// The message.
        inbound: Inbound,
    },
    /// Input that was refused (malformed, oversized, unknown device): the
    /// host reports it as an `error` event; nothing else changes.
    Rejected {
        /// The device concerned, when known.
        device_id: Option<String>,
        /// A stable code, e.g. `MALFORMED_MESSAGE`.
        code: String,
        /// Why; never carries credentials.
        message: String,
    },
}

/// A protocol carrying the messages of the twins that share one
/// connection.
pub trait Link {
    /// The WebSocket subprotocol to ask for (`"mqtt"` for MQTT), if any.
    fn subprotocol(&self) -> Option<&'static str>;

    /// The socket opened.
    fn handle_open(&mut self, now: Millis);

    /// A frame arrived (frames may split or join protocol packets).
    fn handle_frame(&mut self, frame: Frame, now: Millis);

    /// The socket closed or failed; `reason` carries no credentials.
    fn handle_close(&mut self, reason: &str, now: Millis);

    /// A twin starts using the link (also while the socket is down: it is
    /// announced when the session comes up).
    fn join(&mut self, device_id: &str, now: Millis);

    /// A twin stops using the link.
    fn leave(&mut self, device_id: &str, now: Millis);

    /// Sends a twin's message; while the session is down the link may queue
    /// it (bounded) or refuse it with a reason.
    fn send(&mut self, device_id: &str, outbound: Outbound, now: Millis) -> Result<(), String>;

    /// The next thing for the host, if any.
    fn poll_event(&mut self) -> Option<LinkEvent>;

    /// When [`Link::handle_timeout`] has work (keepalive, retransmission).
    fn poll_timeout(&self) -> Option<Millis>;

    /// Time has reached [`Link::poll_timeout`].
    fn handle_timeout(&mut self, now: Millis);

    /// The page woke up (a hidden tab became visible): its timers may have
    /// run late, so a link may check its connection now (MQTT pings a
    /// connection that has been quiet). The host has already run the
    /// deadlines that passed. By default nothing more.
    fn handle_wake(&mut self, now: Millis) {
        let _ = now;
    }
}

/// A URL fit for messages: scheme, host, port and path, without user
/// information, query or fragment (where credentials hide).
pub fn display_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let shown = match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
    };
    crate::limits::printable(&shown)
}

#[cfg(test)]
mod tests {
    use super::display_url;

    #[test]
    fn display_url_drops_credentials_query_and_fragment() {
        assert_eq!(
            display_url("wss://user:s3cret@broker.example:8884/mqtt?token=abc#x"),
            "wss://broker.example:8884/mqtt"
        );
        assert_eq!(display_url("ws://127.0.0.1:9001"), "ws://127.0.0.1:9001");
        assert_eq!(display_url("http://a@b@host/p"), "http://host/p");
    }
}
