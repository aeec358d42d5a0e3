//! [`JsonLink`]: the WebSocket JSON protocol of [`crate::wire`] as a
//! [`Link`], for any number of devices over one socket.
//!
//! On open it sends one `hello` per device (with the token, if any), and
//! the session is up at once; a device that joins later says `hello` when it
//! joins. Messages sent while the socket is down wait in a bounded queue
//! ([`MAX_QUEUED_MESSAGES`]) and go out, in order, when it is up again. A
//! `ping` is sent after [`KEEPALIVE_INTERVAL`] without traffic, and the
//! session is declared down when nothing at all arrives for twice that.
//!
//! `state` messages keep the device's `version`, so the twin ignores a
//! redelivered or out-of-order report ([`crate::Inbound::Reported`]).
//! Desired messages this link sends name it as their `origin` (a random id
//! per link); `desired` messages the server relays — what the device
//! accepted, from any client following it — reach the twin as
//! [`crate::Inbound::Desired`], marked `own` when this link wrote them, so
//! two clients editing one property learn who won (see [`crate::sync`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::link::{Frame, Link, LinkEvent};
use crate::twin::{Inbound, Outbound};
use crate::wire::{self, Desired, ErrorMessage, Heartbeat, Hello, Message, State, Token};
use crate::Millis;

/// Messages kept while the socket is down; more are refused.
pub const MAX_QUEUED_MESSAGES: usize = 1_024;
/// Quiet time after which a `ping` is sent.
pub const KEEPALIVE_INTERVAL: Millis = 30_000;

/// The WebSocket JSON protocol for the twins sharing one socket.
#[derive(Debug)]
pub struct JsonLink {
    token: Option<Token>,
    /// Names this link's desired messages, to tell their echo from others'.
    origin: String,
    devices: BTreeSet<String>,
    open: bool,
    queue: VecDeque<(String, Outbound)>,
    events: VecDeque<LinkEvent>,
    last_rx: Millis,
    last_tx: Millis,
    ping_sent: Option<Millis>,
}

impl JsonLink {
    /// A link that authenticates each device's `hello` with `token`.
    pub fn new(token: Option<Token>) -> Self {
        JsonLink {
            token,
            origin: crate::ids::uuid_v4(),
            devices: BTreeSet::new(),
            open: false,
            queue: VecDeque::new(),
            events: VecDeque::new(),
            last_rx: 0,
            last_tx: 0,
            ping_sent: None,
        }
    }

    fn transmit(&mut self, message: &Message, now: Millis) {
        self.last_tx = now;
        self.events
            .push_back(LinkEvent::Transmit(Frame::Text(message.encode())));
    }

    fn hello(&mut self, device_id: &str, now: Millis) {
        let hello = Message::Hello(Hello {
            device_id: device_id.to_string(),
            token: self.token.clone(),
        });
        self.transmit(&hello, now);
    }

    /// The id this link writes as the `origin` of its desired messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn message_for(&self, device_id: &str, outbound: Outbound) -> Option<Message> {
        match outbound {
            Outbound::Desired {
                property,
                value,
                version,
                device_version,
            } => Some(Message::Desired(Desired {
                device_id: device_id.to_string(),
                desired: BTreeMap::from([(property, value)]),
                version,
                origin: Some(self.origin.clone()),
                device_version,
            })),
            Outbound::Command(command) => Some(Message::Command(command)),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    fn reject(&mut self, device_id: Option<String>, code: &str, message: String) {
        self.events.push_back(LinkEvent::Rejected {
            device_id,
            code: code.to_string(),
            message,
        });
    }

    fn receive(&mut self, message: Message, now: Millis) {
        let device = message.device_id().map(str::to_string);
        if let Some(id) = &device {
            if !self.devices.contains(id) && !matches!(message, Message::Error(_)) {
                return self.reject(
                    None,
                    "UNKNOWN_DEVICE",
                    format!(
                        "`{}` message for device `{id}`, which no twin on this connection follows",
                        message.type_name()
                    ),
                );
            }
        }
        let inbound = match message {
            Message::State(State {
                device_id,
                reported,
                timestamp,
                version,
            }) => Some((
                device_id,
                Inbound::Reported {
                    values: reported,
                    timestamp,
                    version,
                },
            )),
            Message::Desired(Desired {
                device_id,
                desired,
                version,
                origin,
                device_version,
            }) => {
                let own = origin.as_deref() == Some(self.origin.as_str());
                Some((
                    device_id,
                    Inbound::Desired {
                        values: desired,
                        version,
                        device_version,
                        own,
                    },
                ))
            }
            Message::Telemetry(data) => Some((data.device_id.clone(), Inbound::Telemetry(data))),
            Message::CommandResponse(reply) => Some((
                reply.device_id.clone(),
                Inbound::CommandResponse(reply.into_response()),
            )),
            Message::Ping(heartbeat) => {
                self.transmit(&Message::Pong(heartbeat), now);
                None
            }
            Message::Pong(_) | Message::Status(_) => None,
            Message::Error(ErrorMessage {
                device_id,
                code,
                message,
            }) => {
                self.reject(device_id, &code, format!("the server says: {message}"));
                None
            }
            other => {
                let kind = other.type_name();
                self.reject(
                    device,
                    "UNEXPECTED_MESSAGE",
                    format!("a server does not send `{kind}` messages"),
                );
                None
            }
        };
        if let Some((device_id, inbound)) = inbound {
            self.events
                .push_back(LinkEvent::Inbound { device_id, inbound });
        }
    }
}

impl Link for JsonLink {
    fn subprotocol(&self) -> Option<&'static str> {
        None
    }

    fn handle_open(&mut self, now: Millis) {
        self.open = true;
        self.last_rx = now;
        self.ping_sent = None;
        let devices: Vec<String> = self.devices.iter().cloned().collect();
        for device in devices {
            self.hello(&device, now);
        }
        self.events.push_back(LinkEvent::Up);
        while let Some((device, outbound)) = self.queue.pop_front() {
            if let Some(message) = self.message_for(&device, outbound) {
                self.transmit(&message, now);
            }
        }
    }

    fn handle_frame(&mut self, frame: Frame, now: Millis) {
        self.last_rx = now;
        self.ping_sent = None;
        let decoded = match &frame {
            Frame::Text(text) => wire::decode(text),
            Frame::Binary(bytes) => wire::decode_bytes(bytes),
        };
        match decoded {
            Ok(message) => self.receive(message, now),
            Err(error) => self.reject(None, error.code(), error.to_string()),
        }
    }

    fn handle_close(&mut self, reason: &str, _now: Millis) {
        if std::mem::replace(&mut self.open, false) {
            self.events.push_back(LinkEvent::Down {
                reason: reason.to_string(),
            });
        }
    }

    fn join(&mut self, device_id: &str, now: Millis) {
        if self.devices.insert(device_id.to_string()) && self.open {
            self.hello(device_id, now);
        }
    }

    fn leave(&mut self, device_id: &str, _now: Millis) {
        self.devices.remove(device_id);
        self.queue.retain(|(d, _)| d != device_id);
    }

    fn send(&mut self, device_id: &str, outbound: Outbound, now: Millis) -> Result<(), String> {
        if self.open {
            if let Some(message) = self.message_for(device_id, outbound) {
                self.transmit(&message, now);
            }
            Ok(())
        } else if self.queue.len() >= MAX_QUEUED_MESSAGES {
            Err(format!(
                "offline queue full ({MAX_QUEUED_MESSAGES} messages wait for the connection)"
            ))
        } else {
            self.queue.push_back((device_id.to_string(), outbound));
            Ok(())
        }
    }

    fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Millis> {
        if !self.open {
            return None;
        }
        Some(match self.ping_sent {
            Some(sent) => sent + KEEPALIVE_INTERVAL,
            None => self.last_rx.max(self.last_tx) + KEEPALIVE_INTERVAL,
        })
    }

    fn handle_timeout(&mut self, now: Millis) {
        if !self.open {
            return;
        }
        match self.ping_sent {
            Some(sent) if now >= sent + KEEPALIVE_INTERVAL => {
                self.open = false;
                self.events.push_back(LinkEvent::Down {
                    reason: format!(
                        "no answer from the server for {} s",
                        (now - self.last_rx) / 1_000
                    ),
                });
            }
            None if now >= self.last_rx.max(self.last_tx) + KEEPALIVE_INTERVAL => {
                self.ping_sent = Some(now);
                self.transmit(
                    &Message::Ping(Heartbeat {
                        timestamp: Some(now),
                    }),
                    now,
                );
            }
            _ => {}
        }
    }
}
