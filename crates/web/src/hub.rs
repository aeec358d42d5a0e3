//! One connection shared by every twin of a page that names the same
//! server, protocol and credentials: a fleet of a thousand twins on one URL
//! opens one socket and keeps one reconnect schedule, so an outage never
//! turns into a storm of dials.
//!
//! The hub owns the socket, the page listeners (online, offline,
//! visibility), one timer and the [`Reconnector`]; the protocol is a
//! sans-io [`Link`] from the core (or `twinkit-mqtt`). Socket callbacks and
//! the timer feed the link, then [`HubInner::drive`] carries out what it
//! asks for.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use twinkit_core::json_link::JsonLink;
use twinkit_core::link::{display_url, Link, LinkEvent};
use twinkit_core::reconnect::Reconnector;
use twinkit_core::wire::Token;
use twinkit_core::{ConnectionConfig, ConnectionType, Millis, Outbound};
use twinkit_mqtt::link::MqttLink;

use crate::error::WebError;
use crate::members::Members;
use crate::now;
use crate::page::{is_online, PageEvent, PageWatch};
use crate::socket::{Socket, SocketEvent};
use crate::timer::Timer;
use crate::twin::Twin;

/// What makes two twins share a connection. Holds the password to tell
/// credentials apart; never printed.
#[derive(Clone, PartialEq, Eq, Hash)]
struct HubKey {
    kind: &'static str,
    url: String,
    username: Option<String>,
    password: Option<String>,
    topic: Option<String>,
    keepalive: Option<u16>,
    topic_scheme: Option<twinkit_core::MqttTopicScheme>,
    thing_name: Option<String>,
}

thread_local! {
    static HUBS: RefCell<HashMap<HubKey, Weak<HubInner>>> = RefCell::default();
}

pub(crate) struct HubInner {
    key: HubKey,
    safe_url: String,
    link: RefCell<Box<dyn Link>>,
    socket: RefCell<Option<Socket>>,
    /// Sockets closed from inside their own callbacks, dropped later.
    retired: RefCell<Vec<Socket>>,
    up: std::cell::Cell<bool>,
    reconnect: RefCell<Reconnector>,
    members: RefCell<Members>,
    timer: OnceCell<Timer>,
    page: OnceCell<PageWatch>,
}

impl std::fmt::Debug for HubInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("url", &self.safe_url)
            .field("members", &self.members.borrow().all().len())
            .field("up", &self.up.get())
            .finish()
    }
}

/// The link for a connection type, or why there is none.
fn link_for(kind: &ConnectionType, config: &ConnectionConfig) -> Result<Box<dyn Link>, WebError> {
    match kind {
        ConnectionType::Mqtt => MqttLink::from_config(config)
            .map(|link| Box::new(link) as Box<dyn Link>)
            .map_err(|reason| WebError::InvalidConnection { reason }),
        ConnectionType::Websocket => Ok(Box::new(JsonLink::new(
            config.password.clone().map(Token::new),
        ))),
        other => Err(WebError::TransportUnavailable {
            kind: serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        }),
    }
}

/// The hub for a twin's connection, shared with every twin that names the
/// same one.
pub(crate) fn hub_for(twin: &Twin) -> Result<Rc<HubInner>, WebError> {
    let (kind, config) = {
        let core = twin.core();
        let config = core.config();
        match (&config.connection_type, &config.connection_config) {
            (Some(kind), Some(connection)) => (kind.clone(), connection.clone()),
            _ => {
                return Err(WebError::TransportUnavailable {
                    kind: "none".into(),
                })
            }
        }
    };
    let key = HubKey {
        kind: match kind {
            ConnectionType::Mqtt => "mqtt",
            ConnectionType::Websocket => "websocket",
            ConnectionType::Http => "http",
            _ => "other",
        },
        url: config.url.clone(),
        username: config.username.clone(),
        password: config.password.clone(),
        topic: config.topic.clone(),
        keepalive: config.keepalive,
        topic_scheme: config.topic_scheme,
        thing_name: config.thing_name.clone(),
    };
    if let Some(hub) = HUBS.with(|h| h.borrow().get(&key).and_then(Weak::upgrade)) {
        return Ok(hub);
    }
    let link = link_for(&kind, &config)?;
    let hub = Rc::new(HubInner {
        key: key.clone(),
        safe_url: display_url(&config.url),
        link: RefCell::new(link),
        socket: RefCell::default(),
        retired: RefCell::default(),
        up: std::cell::Cell::new(false),
        reconnect: RefCell::new(Reconnector::from_config(&config)),
        members: RefCell::default(),
        timer: OnceCell::new(),
        page: OnceCell::new(),
    });
    HUBS.with(|h| h.borrow_mut().insert(key, Rc::downgrade(&hub)));
    Ok(hub)
}

impl HubInner {
    /// A twin starts using the connection.
    pub(crate) fn join(self: &Rc<Self>, twin: &Twin) {
        let id = twin.id();
        let now = now();
        if self.members.borrow_mut().join(twin) {
            self.link.borrow_mut().join(&id, now);
        }
        if !is_online() {
            self.reconnect.borrow_mut().handle_offline();
        }
        self.reconnect.borrow_mut().start(now);
        self.page.get_or_init(|| {
            let weak = Rc::downgrade(self);
            PageWatch::new(Rc::new(move |event| {
                if let Some(hub) = weak.upgrade() {
                    hub.handle_page(event);
                }
            }))
        });
        if self.up.get() {
            let _ = twin.update(|core, now| core.handle_connected(now));
        }
        self.drive(now);
    }

    /// A twin stops using the connection; the last one closes it.
    pub(crate) fn leave(self: &Rc<Self>, twin: &Twin) {
        let now = now();
        if self.members.borrow_mut().leave(twin) {
            self.link.borrow_mut().leave(&twin.id(), now);
        }
        if self.members.borrow().is_empty() {
            self.reconnect.borrow_mut().stop();
            self.up.set(false);
            if let Some(socket) = self.socket.borrow_mut().take() {
                self.retire(socket);
            }
            if let Some(timer) = self.timer.get() {
                timer.cancel();
            }
            HUBS.with(|h| h.borrow_mut().remove(&self.key));
        }
        self.drive(now);
    }

    /// Detaches a socket now and drops it later: it may be the one whose
    /// callback is running.
    fn retire(&self, socket: Socket) {
        socket.detach();
        self.retired.borrow_mut().push(socket);
    }

    /// Whether the session is up.
    pub(crate) fn is_up(&self) -> bool {
        self.up.get()
    }

    /// Sends a twin's message (or queues it in the link while down).
    pub(crate) fn send(self: &Rc<Self>, twin: &Twin, outbound: Outbound) -> Result<(), String> {
        let now = now();
        self.members.borrow_mut().sent(twin, &outbound);
        let sent = self.link.borrow_mut().send(&twin.id(), outbound, now);
        self.drive(now);
        sent
    }

    fn handle_page(self: &Rc<Self>, event: PageEvent) {
        let now = now();
        {
            let mut reconnect = self.reconnect.borrow_mut();
            match event {
                PageEvent::Online => reconnect.handle_online(now),
                PageEvent::Offline => reconnect.handle_offline(),
                PageEvent::Visible => reconnect.handle_visible(now),
            }
        }
        if event == PageEvent::Visible {
            // Timers of a hidden tab fire late: run what is due now, and
            // let the link check a connection that has been quiet.
            let mut link = self.link.borrow_mut();
            if link.poll_timeout().is_some_and(|deadline| deadline <= now) {
                link.handle_timeout(now);
            }
            link.handle_wake(now);
        }
        self.drive(now);
    }

    fn handle_socket(self: &Rc<Self>, event: SocketEvent) {
        let now = now();
        match event {
            SocketEvent::Open => self.link.borrow_mut().handle_open(now),
            SocketEvent::Frame(frame) => self.link.borrow_mut().handle_frame(frame, now),
            SocketEvent::Closed { reason } => {
                if let Some(socket) = self.socket.borrow_mut().take() {
                    self.retire(socket);
                }
                let was_up = self.up.get();
                self.link.borrow_mut().handle_close(&reason, now);
                if !was_up {
                    self.dial_failed(&reason, now);
                }
            }
        }
        self.drive(now);
    }

    fn dial_failed(self: &Rc<Self>, reason: &str, now: Millis) {
        let next = self
            .reconnect
            .borrow_mut()
            .handle_down(now, js_sys::Math::random());
        connect_failed(&self.twins(), &self.safe_url, reason, next, now);
    }

    fn twins(&self) -> Vec<Twin> {
        self.members.borrow().all()
    }

    /// Carries out what the link and the schedule ask for, then arms the
    /// timer for the next deadline.
    fn drive(self: &Rc<Self>, now: Millis) {
        if self.reconnect.borrow_mut().poll_dial(now) {
            self.dial(now);
        }
        loop {
            let event = self.link.borrow_mut().poll_event();
            let Some(event) = event else { break };
            self.handle_link_event(event, now);
        }
        self.arm(now);
    }

    fn dial(self: &Rc<Self>, now: Millis) {
        self.retired.borrow_mut().clear();
        let weak = Rc::downgrade(self);
        let handler: Rc<dyn Fn(SocketEvent)> = Rc::new(move |event| {
            if let Some(hub) = weak.upgrade() {
                hub.handle_socket(event);
            }
        });
        let subprotocol = self.link.borrow().subprotocol();
        match Socket::open(&self.key.url, &self.safe_url, subprotocol, handler) {
            Ok(socket) => *self.socket.borrow_mut() = Some(socket),
            Err(reason) => self.dial_failed(&reason, now),
        }
    }

    fn handle_link_event(self: &Rc<Self>, event: LinkEvent, now: Millis) {
        match event {
            LinkEvent::Up => {
                self.up.set(true);
                self.reconnect.borrow_mut().handle_up();
                for twin in self.twins() {
                    let _ = twin.update(|core, now| core.handle_connected(now));
                }
            }
            LinkEvent::Down { reason } => {
                let was_up = self.up.replace(false);
                self.members.borrow_mut().forget_sent();
                if let Some(socket) = self.socket.borrow_mut().take() {
                    self.retire(socket);
                }
                if was_up {
                    self.reconnect
                        .borrow_mut()
                        .handle_down(now, js_sys::Math::random());
                    for twin in self.twins() {
                        let _ =
                            twin.update(|core, now| core.handle_disconnected(Some(&reason), now));
                    }
                } else {
                    // Refused before the session came up (bad credentials):
                    // a failed attempt, reported and backed off.
                    self.dial_failed(&reason, now);
                }
            }
            LinkEvent::Transmit(frame) => {
                let sent = self.socket.borrow().as_ref().map(|s| s.send(&frame));
                if let Some(Err(reason)) = sent {
                    self.link.borrow_mut().handle_close(&reason, now);
                }
            }
            LinkEvent::Inbound { device_id, inbound } => {
                let routed = self.members.borrow_mut().route(&device_id, inbound);
                for (twin, inbound) in routed {
                    ingest(&twin, inbound);
                }
            }
            LinkEvent::Rejected {
                device_id,
                code,
                message,
            } => {
                let targets = match device_id.as_deref().map(|id| self.members.borrow().of(id)) {
                    Some(twins) if !twins.is_empty() => twins,
                    _ => self.twins(),
                };
                for twin in targets {
                    let _ = twin.update(|core, now| core.report_error(&code, &message, now));
                }
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn arm(self: &Rc<Self>, now: Millis) {
        let deadline = [
            self.reconnect.borrow().poll_timeout(),
            self.link.borrow().poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(deadline) = deadline else { return };
        let weak = Rc::downgrade(self);
        let timer = self.timer.get_or_init(|| {
            Timer::new(move || {
                if let Some(hub) = weak.upgrade() {
                    if let Some(timer) = hub.timer.get() {
                        timer.fired();
                    }
                    let now = crate::now();
                    hub.link.borrow_mut().handle_timeout(now);
                    hub.drive(now);
                }
            })
        });
        timer.arm(deadline, now);
    }
}

/// Feeds a message from the device to its twin; what the twin refuses is
/// an `error` event.
pub(crate) fn ingest(twin: &Twin, inbound: twinkit_core::Inbound) {
    let _ = twin.update(|core, now| {
        if let Err(error) = core.ingest(inbound, now) {
            core.report_error(error.code(), &error.to_string(), now);
        }
    });
}

/// Tells twins a connection attempt failed: an `error` event
/// (`CONNECT_FAILED`) saying when the next attempt is; without one, the
/// twins are disconnected and `connect()` callers get the reason.
pub(crate) fn connect_failed(
    twins: &[Twin],
    safe_url: &str,
    reason: &str,
    next: Option<Millis>,
    now: Millis,
) {
    let retry = match next {
        Some(at) => format!("; retrying in {:.1} s", at.saturating_sub(now) as f64 / 1e3),
        None => String::new(),
    };
    let message = format!("could not connect to {safe_url}: {reason}{retry}");
    for twin in twins {
        let _ = twin.update(|core, now| {
            core.report_error("CONNECT_FAILED", &message, now);
            if next.is_none() {
                core.handle_disconnected(Some(&message), now);
            }
        });
        if next.is_none() {
            twin.settle_waiters(&Err(WebError::NotConnected {
                reason: message.clone(),
            }));
        }
    }
}

impl Drop for HubInner {
    fn drop(&mut self) {
        HUBS.with(|h| {
            if let Ok(mut hubs) = h.try_borrow_mut() {
                if hubs.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
                    hubs.remove(&self.key);
                }
            }
        });
    }
}
