//! [`HttpLink`]: the `http` connection type of one twin, sans-io.
//!
//! The twin polls the REST shape of [`crate::wire::http`] every
//! `telemetryInterval`: `GET …/state` with `If-None-Match` (a `304` costs
//! nothing), `GET …/telemetry?since=` for the records since the last one
//! seen, and `GET …/commands/{id}` for each command not finished yet.
//! Desired values and commands are `POST`ed when the twin sends them. The
//! host performs the requests ([`HttpLink::poll_request`]) and hands back
//! the answers ([`HttpLink::handle_response`]); a network failure or a
//! `5xx` takes the link down, and the host's reconnect schedule says when
//! to [`HttpLink::start`] again.
//!
//! One poll round at a time: while any `GET` of the last round is
//! unanswered the next round waits (browsers queue requests to one host, so
//! a slow server would otherwise face a growing pile of identical polls),
//! and a round unanswered for [`HttpLink::answer_timeout`] takes the link
//! down so the reconnect schedule takes over.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::de::DeserializeOwned;

use crate::commands::CommandResponse;
use crate::link::LinkEvent;
use crate::twin::{Inbound, Outbound};
use crate::wire::http::{
    CommandRequest, DesiredRequest, ErrorBody, Route, StateBody, TelemetryPage, MAX_BODY_BYTES,
};
use crate::wire::{from_value, parse_json, reject_reserved_keys};
use crate::Millis;

/// Shortest time a poll round may stay unanswered before the link is
/// declared down; see [`HttpLink::answer_timeout`].
pub const MIN_ANSWER_TIMEOUT_MS: Millis = 15_000;

/// A request for the host to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Matches the answer to the request in [`HttpLink::handle_response`].
    pub id: u64,
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query, to append to the connection URL (without its
    /// trailing `/`).
    pub target: String,
    /// `If-None-Match` header value, if any.
    pub if_none_match: Option<String>,
    /// JSON body of a `POST`.
    pub body: Option<String>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: u16,
    /// `ETag` header, if any.
    pub etag: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    State,
    Telemetry,
    Desired,
    Command(String),
    CommandStatus(String),
}

/// The polling client of one device.
#[derive(Debug)]
pub struct HttpLink {
    device_id: String,
    interval: Millis,
    running: bool,
    up: bool,
    next_poll: Option<Millis>,
    /// When the poll round still (partly) in flight was sent.
    round_sent: Option<Millis>,
    etag: Option<String>,
    since: Option<Millis>,
    /// Commands posted and not finished, by id.
    open_commands: BTreeSet<String>,
    in_flight: HashMap<u64, Purpose>,
    requests: VecDeque<HttpRequest>,
    events: VecDeque<LinkEvent>,
    next_id: u64,
}

impl HttpLink {
    /// A client for `device_id`, polling every `interval` ms.
    pub fn new(device_id: &str, interval: Millis) -> Self {
        HttpLink {
            device_id: device_id.to_string(),
            interval: interval.max(100),
            running: false,
            up: false,
            next_poll: None,
            round_sent: None,
            etag: None,
            since: None,
            open_commands: BTreeSet::new(),
            in_flight: HashMap::new(),
            requests: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
        }
    }

    /// Starts (or resumes) polling at once.
    pub fn start(&mut self, now: Millis) {
        self.running = true;
        self.next_poll = Some(now);
    }

    /// Stops polling; answers still in flight are ignored.
    pub fn stop(&mut self) {
        self.running = false;
        self.up = false;
        self.next_poll = None;
        self.round_sent = None;
        self.in_flight.clear();
        self.requests.clear();
    }

    /// Whether the last exchange succeeded.
    pub fn is_up(&self) -> bool {
        self.up
    }

    fn request(&mut self, purpose: Purpose, route: Route, body: Option<String>) {
        let id = self.next_id;
        self.next_id += 1;
        let if_none_match = match purpose {
            Purpose::State => self.etag.clone(),
            _ => None,
        };
        self.in_flight.insert(id, purpose);
        self.requests.push_back(HttpRequest {
            id,
            method: route.method(),
            target: route.target(),
            if_none_match,
            body,
        });
    }

    /// Sends a twin's message (`POST`); refused while the link is down.
    pub fn send(&mut self, outbound: Outbound, _now: Millis) -> Result<(), String> {
        if !self.up {
            return Err("the device's HTTP server is not reachable".into());
        }
        let device_id = self.device_id.clone();
        match outbound {
            Outbound::Desired {
                property,
                value,
                version,
                ..
            } => {
                let body = DesiredRequest {
                    desired: BTreeMap::from([(property, value)]),
                    version: Some(version),
                };
                let body = serde_json::to_string(&body).ok();
                self.request(Purpose::Desired, Route::Desired { device_id }, body);
            }
            Outbound::Command(command) => {
                let body = CommandRequest {
                    command_id: command.command_id.clone(),
                    name: command.name.clone(),
                    payload: command.payload.clone(),
                };
                let body = serde_json::to_string(&body).ok();
                self.request(
                    Purpose::Command(command.command_id),
                    Route::Commands { device_id },
                    body,
                );
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
        Ok(())
    }

    /// The next request to perform, if any is due.
    pub fn poll_request(&mut self, now: Millis) -> Option<HttpRequest> {
        if !self.running {
            return None;
        }
        if let Some(sent) = self.round_sent {
            if self.round_in_flight() {
                if now >= sent + self.answer_timeout() {
                    let seconds = self.answer_timeout() / 1_000;
                    self.down(format!("the server did not answer within {seconds} s"));
                    return None;
                }
                // Not before the round is answered.
                return self.requests.pop_front();
            }
            self.round_sent = None;
        }
        if self.next_poll.is_some_and(|at| at <= now) {
            self.next_poll = Some(now + self.interval);
            self.round_sent = Some(now);
            let device_id = self.device_id.clone();
            self.request(
                Purpose::State,
                Route::State {
                    device_id: device_id.clone(),
                },
                None,
            );
            self.request(
                Purpose::Telemetry,
                Route::Telemetry {
                    device_id: device_id.clone(),
                    since: self.since,
                    limit: None,
                },
                None,
            );
            let open: Vec<String> = self.open_commands.iter().cloned().collect();
            for command_id in open {
                self.request(
                    Purpose::CommandStatus(command_id.clone()),
                    Route::Command {
                        device_id: device_id.clone(),
                        command_id,
                    },
                    None,
                );
            }
        }
        self.requests.pop_front()
    }

    /// When the next poll is due, or, while a round is unanswered, when it
    /// times out.
    pub fn poll_timeout(&self) -> Option<Millis> {
        if !self.running {
            return None;
        }
        match self.round_sent {
            Some(sent) if self.round_in_flight() => Some(sent + self.answer_timeout()),
            _ => self.next_poll,
        }
    }

    /// How long a poll round may stay unanswered before the link goes
    /// down: [`MIN_ANSWER_TIMEOUT_MS`] or three intervals, the longer.
    pub fn answer_timeout(&self) -> Millis {
        MIN_ANSWER_TIMEOUT_MS.max(self.interval.saturating_mul(3))
    }

    fn round_in_flight(&self) -> bool {
        self.in_flight.values().any(|p| {
            matches!(
                p,
                Purpose::State | Purpose::Telemetry | Purpose::CommandStatus(_)
            )
        })
    }

    /// The next thing for the host.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn reject(&mut self, code: &str, message: String) {
        self.events.push_back(LinkEvent::Rejected {
            device_id: Some(self.device_id.clone()),
            code: code.to_string(),
            message,
        });
    }

    fn inbound(&mut self, inbound: Inbound) {
        self.events.push_back(LinkEvent::Inbound {
            device_id: self.device_id.clone(),
            inbound,
        });
    }

    fn decode<T: DeserializeOwned>(&mut self, what: &str, body: &[u8]) -> Option<T> {
        let parsed = parse_json(body, MAX_BODY_BYTES)
            .and_then(|v| reject_reserved_keys(&v, what).map(|()| v))
            .and_then(|v| from_value(v, what));
        match parsed {
            Ok(value) => Some(value),
            Err(e) => {
                self.reject(e.code(), format!("{what} from the server: {e}"));
                None
            }
        }
    }

    /// The answer to request `id`: a response, or the network error that
    /// stopped it (`Err`, without credentials).
    pub fn handle_response(
        &mut self,
        id: u64,
        response: Result<HttpResponse, String>,
        now: Millis,
    ) {
        let Some(purpose) = self.in_flight.remove(&id) else {
            return;
        };
        let response = match response {
            Ok(r) if r.status < 500 => r,
            Ok(r) => return self.down(format!("the server answered {}", r.status)),
            Err(reason) => return self.down(reason),
        };
        if !self.up {
            self.up = true;
            self.events.push_back(LinkEvent::Up);
        }
        let _ = now;
        let status = response.status;
        if status == 304 {
            return;
        }
        if !(200..300).contains(&status) {
            let detail = serde_json::from_slice::<ErrorBody>(&response.body)
                .map(|b| format!("{}: {}", b.error.code, b.error.message))
                .unwrap_or_else(|_| format!("status {status}"));
            return match purpose {
                Purpose::Command(command_id) | Purpose::CommandStatus(command_id) => {
                    self.open_commands.remove(&command_id);
                    self.inbound(Inbound::CommandResponse(CommandResponse {
                        command_id,
                        status: crate::commands::CommandStatus::Failed,
                        result: None,
                        error: Some(format!("the server refused the command ({detail})")),
                    }));
                }
                _ => self.reject(
                    "HTTP_ERROR",
                    format!("the server refused a request: {detail}"),
                ),
            };
        }
        match purpose {
            Purpose::State => {
                if let Some(state) = self.decode::<StateBody>("state", &response.body) {
                    self.etag = response.etag;
                    self.inbound(Inbound::Reported {
                        values: state.reported,
                        timestamp: Some(state.timestamp),
                        // Conditional GETs already skip unchanged states.
                        version: None,
                    });
                }
            }
            Purpose::Telemetry => {
                if let Some(page) = self.decode::<TelemetryPage>("telemetry", &response.body) {
                    if page.more {
                        // Fetch the rest at once rather than one page a tick.
                        self.next_poll = Some(now);
                    }
                    if let Some(next) = page.next {
                        self.since = Some(next);
                    }
                    for record in page.records {
                        self.inbound(Inbound::Telemetry(record));
                    }
                }
            }
            Purpose::Desired => {}
            Purpose::Command(command_id) | Purpose::CommandStatus(command_id) => {
                if let Some(answer) = self.decode::<CommandResponse>("command", &response.body) {
                    if answer.command_id != command_id {
                        return self.reject(
                            "INVALID_MESSAGE",
                            "the server answered for another command".into(),
                        );
                    }
                    if answer.status.is_terminal() {
                        self.open_commands.remove(&command_id);
                    } else {
                        self.open_commands.insert(command_id);
                    }
                    self.inbound(Inbound::CommandResponse(answer));
                }
            }
        }
    }

    fn down(&mut self, reason: String) {
        let was_up = self.up;
        self.stop();
        if was_up {
            self.events.push_back(LinkEvent::Down { reason });
        } else {
            self.events.push_back(LinkEvent::Down {
                reason: format!("not reachable: {reason}"),
            });
        }
    }
}
