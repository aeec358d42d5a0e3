//! [`Fleet`]: many twins by id, their events merged.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use indexmap::IndexMap;
use twinkit_core::audit::Actor;
use twinkit_core::lifecycle::{LifecycleEvent, LifecycleLog, LifecycleState};
use twinkit_core::{DeviceEvent, FleetStatus};

use crate::error::WebError;
use crate::twin::{HandlerFailed, Subscription, Twin};

type Listener = Rc<dyn Fn(&DeviceEvent) -> Result<(), HandlerFailed>>;
type LifecycleObserver = Rc<dyn Fn(&LifecycleEvent)>;

struct Member {
    twin: Twin,
    _events: Subscription,
}

#[derive(Default)]
struct FleetInner {
    /// Append-only log of lifecycle changes, from which states can be
    /// rebuilt (`twinkit_core::lifecycle::rebuild`).
    lifecycle: RefCell<LifecycleLog>,
    members: RefCell<IndexMap<String, Member>>,
    listeners: RefCell<Vec<(u32, Listener)>>,
    next_id: Cell<u32>,
    /// Called with each new lifecycle event (see [`Fleet::on_lifecycle`]).
    lifecycle_observers: RefCell<Vec<LifecycleObserver>>,
}

impl FleetInner {
    /// Tells the lifecycle observers about the event just logged.
    fn logged(&self) {
        let Some(event) = self.lifecycle.borrow().events().last().cloned() else {
            return;
        };
        let observers: Vec<LifecycleObserver> = self.lifecycle_observers.borrow().clone();
        for observer in observers {
            observer(&event);
        }
    }

    fn deliver(&self, event: &DeviceEvent) -> Result<(), HandlerFailed> {
        let listeners: Vec<Listener> = self
            .listeners
            .borrow()
            .iter()
            .map(|(_, l)| Rc::clone(l))
            .collect();
        let count: usize = listeners
            .iter()
            .map(|l| l(event).err().map_or(0, |f| f.count))
            .sum();
        if count == 0 {
            Ok(())
        } else {
            Err(HandlerFailed { count })
        }
    }
}

/// Many twins managed together: a cheap, cloneable handle.
#[derive(Clone, Default)]
pub struct Fleet(Rc<FleetInner>);

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("devices", &self.len())
            .finish()
    }
}

impl PartialEq for Fleet {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Fleet {
        Fleet::default()
    }

    /// Adds a twin; a taken id is [`WebError::DuplicateDevice`] and nothing
    /// changes.
    pub fn add(&self, twin: Twin) -> Result<(), WebError> {
        let id = twin.id();
        if self.0.members.borrow().contains_key(&id) {
            return Err(WebError::DuplicateDevice { device_id: id });
        }
        self.0
            .lifecycle
            .borrow_mut()
            .record_added(&id, twin.core().lifecycle(), crate::now());
        let fleet: Weak<FleetInner> = Rc::downgrade(&self.0);
        let events = twin.subscribe(None, move |event| match fleet.upgrade() {
            Some(fleet) => fleet.deliver(event),
            None => Ok(()),
        });
        self.0.members.borrow_mut().insert(
            id,
            Member {
                twin,
                _events: events,
            },
        );
        // Observers see the twin in the fleet.
        self.0.logged();
        Ok(())
    }

    /// The twin of a device.
    pub fn get(&self, device_id: &str) -> Option<Twin> {
        self.0
            .members
            .borrow()
            .get(device_id)
            .map(|m| m.twin.clone())
    }

    /// Every twin, in the order added.
    pub fn twins(&self) -> Vec<Twin> {
        self.0
            .members
            .borrow()
            .values()
            .map(|m| m.twin.clone())
            .collect()
    }

    /// How many twins the fleet holds.
    pub fn len(&self) -> usize {
        self.0.members.borrow().len()
    }

    /// Whether the fleet is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes a device and disposes its twin (fleet listeners see its last
    /// events). Returns whether it was in the fleet.
    pub fn remove(&self, device_id: &str) -> bool {
        let member = self.0.members.borrow_mut().shift_remove(device_id);
        match member {
            Some(member) => {
                member.twin.dispose();
                self.0
                    .lifecycle
                    .borrow_mut()
                    .record_removed(device_id, crate::now());
                self.0.logged();
                true
            }
            None => false,
        }
    }

    /// Connects every twin; the first error, after trying them all.
    pub fn connect_all(&self) -> Result<(), WebError> {
        let mut first = None;
        for twin in self.twins() {
            if let Err(e) = twin.connect() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Disconnects every twin that is not disposed.
    pub fn disconnect_all(&self) {
        for twin in self.twins() {
            let _ = twin.disconnect();
        }
    }

    /// Listens to every twin's events (each carries its `deviceId`).
    pub fn subscribe(
        &self,
        listener: impl Fn(&DeviceEvent) -> Result<(), HandlerFailed> + 'static,
    ) -> FleetSubscription {
        let id = self.0.next_id.get();
        self.0.next_id.set(id.wrapping_add(1));
        self.0.listeners.borrow_mut().push((id, Rc::new(listener)));
        FleetSubscription {
            fleet: Rc::downgrade(&self.0),
            id: Cell::new(Some(id)),
        }
    }

    /// Ends the fleet listener with this id (see
    /// [`FleetSubscription::forget`]).
    pub fn unsubscribe(&self, listener_id: u32) {
        self.0
            .listeners
            .borrow_mut()
            .retain(|(l, _)| *l != listener_id);
    }

    /// A weak handle, which does not keep the fleet alive.
    pub fn downgrade(&self) -> WeakFleet {
        WeakFleet(Rc::downgrade(&self.0))
    }

    /// Moves a device to another lifecycle state (a suspended device takes
    /// no commands; a decommissioned one is read-only) and logs it.
    pub fn set_lifecycle(
        &self,
        device_id: &str,
        to: LifecycleState,
        actor: Actor,
        reason: Option<&str>,
    ) -> Result<LifecycleEvent, WebError> {
        let twin = self.get(device_id).ok_or_else(|| {
            WebError::Twin(twinkit_core::TwinError::UnknownDevice {
                device_id: twinkit_core::limits::printable(device_id),
            })
        })?;
        let now = crate::now();
        let from = twin.update_at(now, |core, now| core.transition(to, now))??;
        let event = self
            .0
            .lifecycle
            .borrow_mut()
            .record_transition(device_id, from, to, actor, reason, now)
            .clone();
        self.0.logged();
        Ok(event)
    }

    /// Puts a device back into a state replayed from a persisted lifecycle
    /// log (`twinkit_core::lifecycle::replay`), logged as `restored`;
    /// `None` (nothing logged) when it is in that state already. A
    /// decommissioned device stays so (`INVALID_TRANSITION`).
    pub fn restore_lifecycle(
        &self,
        device_id: &str,
        state: LifecycleState,
    ) -> Result<Option<LifecycleEvent>, WebError> {
        let twin = self.get(device_id).ok_or_else(|| {
            WebError::Twin(twinkit_core::TwinError::UnknownDevice {
                device_id: twinkit_core::limits::printable(device_id),
            })
        })?;
        if twin.core().lifecycle() == state {
            return Ok(None);
        }
        let now = crate::now();
        twin.update_at(now, |core, now| core.restore_lifecycle(state, now))??;
        let event = self
            .0
            .lifecycle
            .borrow_mut()
            .record_restored(device_id, state, now)
            .clone();
        self.0.logged();
        Ok(Some(event))
    }

    /// Calls `observer` with every lifecycle event logged from now on (a
    /// host persisting the log); kept as long as the fleet.
    pub fn on_lifecycle(&self, observer: impl Fn(&LifecycleEvent) + 'static) {
        self.0
            .lifecycle_observers
            .borrow_mut()
            .push(Rc::new(observer));
    }

    /// The lifecycle log as JSON (append-only, oldest first).
    pub fn lifecycle_log_json(&self) -> String {
        self.0.lifecycle.borrow().to_json()
    }

    /// Counts: total, connected, disconnected, connecting, active alerts.
    pub fn status(&self) -> FleetStatus {
        let twins = self.twins();
        let cores: Vec<_> = twins.iter().map(|t| t.core()).collect();
        FleetStatus::tally(cores.iter().map(|c| &**c))
    }

    /// Removes and disposes every twin and ends every fleet subscription.
    pub fn dispose(&self) {
        let ids: Vec<String> = self.0.members.borrow().keys().cloned().collect();
        for id in ids {
            self.remove(&id);
        }
        self.0.listeners.borrow_mut().clear();
    }
}

/// A fleet listener's registration; dropping it ends it.
#[derive(Debug)]
#[must_use = "dropping a FleetSubscription unsubscribes at once; keep it or call forget()"]
pub struct FleetSubscription {
    fleet: Weak<FleetInner>,
    id: Cell<Option<u32>>,
}

impl FleetSubscription {
    /// Ends the subscription (once).
    pub fn unsubscribe(&self) {
        if let (Some(id), Some(fleet)) = (self.id.take(), self.fleet.upgrade()) {
            Fleet(fleet).unsubscribe(id);
        }
    }

    /// Keeps the listener until [`Fleet::unsubscribe`] is called with the
    /// returned id, or the fleet is disposed.
    pub fn forget(self) -> u32 {
        self.id.take().unwrap_or(0)
    }
}

/// A weak [`Fleet`] handle.
#[derive(Debug, Clone)]
pub struct WeakFleet(Weak<FleetInner>);

impl WeakFleet {
    /// The fleet, if it is still alive.
    pub fn upgrade(&self) -> Option<Fleet> {
        self.0.upgrade().map(Fleet)
    }
}

impl Drop for FleetSubscription {
    fn drop(&mut self) {
        self.unsubscribe();
    }
}
