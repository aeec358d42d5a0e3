//! [`Twin`]: a live handle over one core twin.

use std::any::Any;
use std::cell::{Cell, OnceCell, Ref, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};

use twinkit_core::events::{ErrorInfo, EventData};
use twinkit_core::{ConnectionType, DeviceConfig, DeviceEvent, EventType, Millis, TwinOptions};

use crate::error::WebError;
use crate::http_host::HttpHost;
use crate::hub::{hub_for, HubInner};
use crate::now;
use crate::timer::Timer;

/// A listener reports how many of the handlers it stands for failed (a
/// JavaScript handler that threw, say); the twin then raises one
/// `HANDLER_FAILED` error event and carries on with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerFailed {
    /// How many handlers failed.
    pub count: usize,
}

type Listener = Rc<dyn Fn(&DeviceEvent) -> Result<(), HandlerFailed>>;

struct Entry {
    id: u32,
    filter: Option<EventType>,
    listener: Listener,
}

pub(crate) struct TwinInner {
    core: RefCell<twinkit_core::DigitalTwin>,
    /// Events the core raised, waiting for the borrow to end.
    queue: Rc<RefCell<VecDeque<DeviceEvent>>>,
    listeners: RefCell<Vec<Entry>>,
    /// Core subscriptions, one per event type some listener wants, so the
    /// core skips building payloads (state snapshots) nobody reads.
    forwarders: RefCell<HashMap<EventType, twinkit_core::Subscription>>,
    next_id: Cell<u32>,
    delivering: Cell<bool>,
    disposed: Cell<bool>,
    /// Fires at the core's next deadline (command timeouts).
    timer: OnceCell<Timer>,
    /// State a binding layer keeps per twin (see [`Twin::binding`]).
    binding: OnceCell<Rc<dyn Any>>,
    /// The network connection, while connected or connecting.
    connection: RefCell<Option<Connection>>,
    /// Callers of [`Twin::when_connected`] waiting for the connection.
    waiters: RefCell<Vec<Waiter>>,
    /// Called after every change (see [`Twin::on_update`]).
    observers: RefCell<Vec<Rc<dyn Fn()>>>,
}

type Waiter = Box<dyn FnOnce(Result<(), WebError>)>;

/// How a networked twin reaches its device.
#[derive(Clone)]
enum Connection {
    /// A socket shared with the page's other twins of the same server.
    Shared(Rc<HubInner>),
    /// HTTP polling of its own.
    Http(Rc<HttpHost>),
}

impl Connection {
    fn is_up(&self) -> bool {
        match self {
            Connection::Shared(hub) => hub.is_up(),
            Connection::Http(host) => host.is_up(),
        }
    }

    fn send(&self, twin: &Twin, outbound: twinkit_core::Outbound) -> Result<(), String> {
        match self {
            Connection::Shared(hub) => hub.send(twin, outbound),
            Connection::Http(host) => host.send(outbound),
        }
    }
}

/// A live digital twin in the page: a cheap, cloneable handle over a
/// `twinkit_core::DigitalTwin`. Every change goes through [`Twin::update`],
/// which passes the page's clock to the core, then delivers the events the
/// change raised and re-arms the timer for the core's next deadline.
#[derive(Clone)]
pub struct Twin(pub(crate) Rc<TwinInner>);

impl std::fmt::Debug for Twin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Twin").field(&self.id()).finish()
    }
}

impl PartialEq for Twin {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Twin {
    /// Creates a twin; an invalid configuration is an error naming the
    /// field, and nothing is created.
    pub fn new(config: DeviceConfig, options: TwinOptions) -> Result<Twin, WebError> {
        let core = twinkit_core::DigitalTwin::with_options(config, options)?;
        Ok(Twin(Rc::new(TwinInner {
            core: RefCell::new(core),
            queue: Rc::default(),
            listeners: RefCell::default(),
            forwarders: RefCell::default(),
            next_id: Cell::new(1),
            delivering: Cell::new(false),
            disposed: Cell::new(false),
            timer: OnceCell::new(),
            binding: OnceCell::new(),
            connection: RefCell::default(),
            waiters: RefCell::default(),
            observers: RefCell::default(),
        })))
    }

    /// The device id.
    pub fn id(&self) -> String {
        self.0.core.borrow().id().to_string()
    }

    /// Reads the core twin. Do not hold the borrow across calls that change
    /// the twin.
    pub fn core(&self) -> Ref<'_, twinkit_core::DigitalTwin> {
        self.0.core.borrow()
    }

    /// Whether [`Twin::dispose`] has run.
    pub fn is_disposed(&self) -> bool {
        self.0.disposed.get()
    }

    /// Changes the core twin with the page's clock, then delivers the events
    /// the change raised. Fails with [`WebError::Disposed`] after dispose.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut twinkit_core::DigitalTwin, Millis) -> T,
    ) -> Result<T, WebError> {
        self.update_at(now(), f)
    }

    /// [`Twin::update`] with an explicit time (for replay and tests).
    pub fn update_at<T>(
        &self,
        now: Millis,
        f: impl FnOnce(&mut twinkit_core::DigitalTwin, Millis) -> T,
    ) -> Result<T, WebError> {
        if self.is_disposed() {
            return Err(WebError::Disposed {
                device_id: self.id(),
            });
        }
        let result = f(&mut self.0.core.borrow_mut(), now);
        self.pump(now);
        self.deliver();
        // Whether or not anyone listens to `connected` events.
        if !self.0.waiters.borrow().is_empty() && self.core().is_connected() {
            self.settle_waiters(&Ok(()));
        }
        let observers: Vec<Rc<dyn Fn()>> = self.0.observers.borrow().clone();
        for observer in observers {
            observer();
        }
        Ok(result)
    }

    /// Calls `observer` after every change of the core twin, events
    /// delivered, whether or not the change raised one (a desired value
    /// handed to the transport raises none): for a host that mirrors what
    /// the core records (audit, sync history) into storage. Kept until the
    /// twin is disposed; it may read the twin, not change it.
    pub fn on_update(&self, observer: impl Fn() + 'static) {
        if !self.is_disposed() {
            self.0.observers.borrow_mut().push(Rc::new(observer));
        }
    }

    /// Listens to one event type (`Some`) or to all (`None`). The listener
    /// runs after the change that raised the event has finished, so it may
    /// read and change the twin. Dropping the [`Subscription`] ends it.
    pub fn subscribe(
        &self,
        filter: Option<EventType>,
        listener: impl Fn(&DeviceEvent) -> Result<(), HandlerFailed> + 'static,
    ) -> Subscription {
        let id = self.0.next_id.get();
        self.0.next_id.set(id.wrapping_add(1));
        if !self.is_disposed() {
            self.0.listeners.borrow_mut().push(Entry {
                id,
                filter,
                listener: Rc::new(listener),
            });
            self.sync_forwarders();
        }
        Subscription {
            twin: Rc::downgrade(&self.0),
            id: Cell::new(Some(id)),
        }
    }

    /// Ends the listener with this id (see [`Subscription::forget`]); does
    /// nothing if it has already ended.
    pub fn unsubscribe(&self, listener_id: u32) {
        self.0
            .listeners
            .borrow_mut()
            .retain(|e| e.id != listener_id);
        self.sync_forwarders();
    }

    /// A weak handle, which does not keep the twin alive.
    pub fn downgrade(&self) -> WeakTwin {
        WeakTwin(Rc::downgrade(&self.0))
    }

    /// Per-twin state of a binding layer (the npm package keeps one
    /// JavaScript closure per twin here), made by `init` on first use. Each
    /// twin holds one binding, of the type its first caller chose: `None`
    /// if asked for another type.
    pub fn binding<T: 'static>(&self, init: impl FnOnce() -> T) -> Option<Rc<T>> {
        let any = self.0.binding.get_or_init(|| Rc::new(init()));
        Rc::clone(any).downcast::<T>().ok()
    }

    /// How many listeners are subscribed (for tests and leak checks).
    pub fn listener_count(&self) -> usize {
        self.0.listeners.borrow().len()
    }

    /// Connects. A twin without `connectionType` is fed in-process and
    /// connects at once; a networked twin joins the page's shared
    /// connection for its server (opening it if needed) and is
    /// `connecting` until the session is up. Use [`Twin::when_connected`]
    /// to wait.
    pub fn connect(&self) -> Result<(), WebError> {
        if self.is_disposed() {
            return Err(WebError::Disposed {
                device_id: self.id(),
            });
        }
        let networked = self.core().config().connection_type.is_some();
        if !networked {
            return self.update(|twin, now| twin.connect(now)).map(|_| ());
        }
        let existing = self.0.connection.borrow().clone();
        let connection = match existing {
            Some(connection) => connection,
            None => {
                let kind = self.core().config().connection_type.clone();
                let connection = match kind {
                    Some(ConnectionType::Http) => HttpHost::new(self)
                        .map(Connection::Http)
                        .ok_or_else(|| WebError::TransportUnavailable {
                            kind: "http".into(),
                        })?,
                    _ => Connection::Shared(hub_for(self)?),
                };
                *self.0.connection.borrow_mut() = Some(connection.clone());
                self.update(|twin, now| twin.connect(now))?;
                connection
            }
        };
        // Joining again (re)starts a schedule that stopped.
        match connection {
            Connection::Shared(hub) => hub.join(self),
            Connection::Http(host) => host.start(),
        }
        Ok(())
    }

    /// Calls `callback` once the twin is connected (at once if it is), or
    /// with the reason it will not be: disconnected or disposed first, or
    /// the connection failed and may not be retried.
    pub fn when_connected(&self, callback: impl FnOnce(Result<(), WebError>) + 'static) {
        if self.core().is_connected() {
            callback(Ok(()));
        } else if self.is_disposed() {
            callback(Err(WebError::Disposed {
                device_id: self.id(),
            }));
        } else {
            self.0.waiters.borrow_mut().push(Box::new(callback));
        }
    }

    /// Answers every [`Twin::when_connected`] caller.
    pub(crate) fn settle_waiters(&self, result: &Result<(), WebError>) {
        let waiters: Vec<Waiter> = self.0.waiters.borrow_mut().drain(..).collect();
        for waiter in waiters {
            waiter(result.clone());
        }
    }

    /// Disconnects (and leaves the shared connection).
    pub fn disconnect(&self) -> Result<(), WebError> {
        self.leave_hub();
        let result = self.update(|twin, now| twin.disconnect(now));
        self.settle_waiters(&Err(WebError::NotConnected {
            reason: "disconnected by the application".into(),
        }));
        result
    }

    fn leave_hub(&self) {
        let connection = self.0.connection.borrow_mut().take();
        match connection {
            Some(Connection::Shared(hub)) => hub.leave(self),
            Some(Connection::Http(host)) => host.stop(),
            None => {}
        }
    }

    /// Sends what the core has for the device while the shared connection
    /// is up.
    fn pump(&self, now: Millis) {
        let connection = self.0.connection.borrow().clone();
        let Some(hub) = connection else { return };
        if !hub.is_up() {
            return;
        }
        loop {
            let outbound = self.0.core.borrow_mut().poll_outbound(now);
            let Some(outbound) = outbound else { break };
            let command_id = match &outbound {
                twinkit_core::Outbound::Command(command) => Some(command.command_id.clone()),
                _ => None,
            };
            if let Err(reason) = hub.send(self, outbound) {
                let mut core = self.0.core.borrow_mut();
                core.report_error("SEND_FAILED", &reason, now);
                // A command the connection refused fails now, with the
                // reason, rather than at its timeout.
                if let Some(command_id) = command_id {
                    let failed = twinkit_core::CommandResponse {
                        command_id,
                        status: twinkit_core::CommandStatus::Failed,
                        result: None,
                        error: Some(reason),
                    };
                    let _ = core.handle_command_response(&failed, now);
                }
            }
        }
    }

    /// Releases the twin: in-flight commands fail, it disconnects, listeners
    /// see those last events, then every subscription ends and the timer is
    /// cancelled. Reading stays possible; changes fail with `Disposed`.
    pub fn dispose(&self) {
        if self.is_disposed() {
            return;
        }
        self.leave_hub();
        let _ = self.update(|twin, now| twin.dispose(now));
        self.0.disposed.set(true);
        self.settle_waiters(&Err(WebError::Disposed {
            device_id: self.id(),
        }));
        if let Some(timer) = self.0.timer.get() {
            timer.cancel();
        }
        self.0.listeners.borrow_mut().clear();
        self.0.observers.borrow_mut().clear();
        self.0.forwarders.borrow_mut().clear();
        self.0.queue.borrow_mut().clear();
    }

    fn sync_forwarders(&self) {
        let wanted: Vec<EventType> = EventType::ALL
            .into_iter()
            .filter(|t| {
                self.0
                    .listeners
                    .borrow()
                    .iter()
                    .any(|e| e.filter.is_none_or(|f| f == *t))
            })
            .collect();
        let mut forwarders = self.0.forwarders.borrow_mut();
        forwarders.retain(|t, sub| {
            let keep = wanted.contains(t);
            if !keep {
                sub.unsubscribe();
            }
            keep
        });
        let core = self.0.core.borrow();
        for t in wanted {
            forwarders.entry(t).or_insert_with(|| {
                let queue = Rc::clone(&self.0.queue);
                core.on(t, move |event| queue.borrow_mut().push_back(event.clone()))
            });
        }
    }

    /// Delivers queued events. Events raised while delivering (by a
    /// listener's own calls) join the same loop.
    fn deliver(&self) {
        if self.0.delivering.replace(true) {
            return;
        }
        loop {
            let Some(event) = self.0.queue.borrow_mut().pop_front() else {
                break;
            };
            let event_type = event.event_type();
            let targets: Vec<Listener> = self
                .0
                .listeners
                .borrow()
                .iter()
                .filter(|e| e.filter.is_none_or(|f| f == event_type))
                .map(|e| Rc::clone(&e.listener))
                .collect();
            let failures: usize = targets
                .iter()
                .map(|listener| listener(&event).err().map_or(0, |f| f.count))
                .sum();
            if failures > 0 && event_type != EventType::Error {
                self.0.queue.borrow_mut().push_back(DeviceEvent {
                    device_id: event.device_id.clone(),
                    timestamp: event.timestamp,
                    data: EventData::Error(ErrorInfo {
                        code: "HANDLER_FAILED".into(),
                        message: format!(
                            "{failures} `{event_type}` handler(s) failed; the others ran"
                        ),
                        property: None,
                    }),
                });
            }
        }
        self.0.delivering.set(false);
        self.schedule_timeout();
    }

    /// Arms the page timer for the core's next deadline.
    fn schedule_timeout(&self) {
        if self.is_disposed() {
            return;
        }
        let Some(deadline) = self.0.core.borrow().poll_timeout() else {
            return;
        };
        let weak = Rc::downgrade(&self.0);
        let timer = self.0.timer.get_or_init(|| {
            Timer::new(move || {
                if let Some(inner) = weak.upgrade() {
                    if let Some(timer) = inner.timer.get() {
                        timer.fired();
                    }
                    let _ = Twin(inner).update(|twin, now| twin.handle_timeout(now));
                }
            })
        });
        timer.arm(deadline, now());
    }
}

/// A listener's registration; dropping it (or calling
/// [`Subscription::unsubscribe`]) ends it. Harmless after the twin is gone.
#[derive(Debug)]
#[must_use = "dropping a Subscription unsubscribes at once; keep it or call forget()"]
pub struct Subscription {
    twin: Weak<TwinInner>,
    id: Cell<Option<u32>>,
}

impl Subscription {
    /// Ends the subscription (once; later calls do nothing).
    pub fn unsubscribe(&self) {
        if let (Some(id), Some(inner)) = (self.id.take(), self.twin.upgrade()) {
            Twin(inner).unsubscribe(id);
        }
    }

    /// Keeps the listener until [`Twin::unsubscribe`] is called with the
    /// returned id, or the twin is disposed.
    pub fn forget(self) -> u32 {
        self.id.take().unwrap_or(0)
    }
}

/// A weak [`Twin`] handle.
#[derive(Debug, Clone)]
pub struct WeakTwin(Weak<TwinInner>);

impl WeakTwin {
    /// The twin, if it is still alive.
    pub fn upgrade(&self) -> Option<Twin> {
        self.0.upgrade().map(Twin)
    }

    /// Whether this is a handle to `twin` (the same twin, not an equal one).
    pub fn points_to(&self, twin: &Twin) -> bool {
        std::ptr::eq(self.0.as_ptr(), Rc::as_ptr(&twin.0))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.unsubscribe();
    }
}
