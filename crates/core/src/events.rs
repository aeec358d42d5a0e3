//! Twin events and the subscriber list that delivers them.
//!
//! Handlers are called synchronously, in subscription order, after the
//! twin's state has been updated. A handler that panics does not stop the
//! others: the panic is caught (natively; on `wasm32-unknown-unknown`
//! panics abort, so bindings catch JavaScript exceptions themselves) and
//! reported as an `error` event with code `HANDLER_PANICKED`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alerts::Alert;
use crate::commands::DeviceCommand;
use crate::error::TwinError;
use crate::state::DeviceState;
use crate::value::TelemetryData;
use crate::Millis;

/// The kinds of event a twin emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum EventType {
    /// The twin is connected to its device.
    Connected,
    /// The twin lost or closed its connection.
    Disconnected,
    /// Reported or desired state changed.
    StateChange,
    /// Telemetry values arrived.
    Telemetry,
    /// An alert was raised, escalated, acknowledged or cleared.
    Alert,
    /// A command changed status.
    Command,
    /// Something was refused or went wrong; the twin carries on.
    Error,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 7] = [
        Self::Connected,
        Self::Disconnected,
        Self::StateChange,
        Self::Telemetry,
        Self::Alert,
        Self::Command,
        Self::Error,
    ];

    /// The name used on the wire and in JavaScript, e.g. `"stateChange"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::StateChange => "stateChange",
            Self::Telemetry => "telemetry",
            Self::Alert => "alert",
            Self::Command => "command",
            Self::Error => "error",
        }
    }

    /// Parses a wire name such as `"stateChange"`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an event carries; its variant is the event's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "camelCase")]
#[non_exhaustive]
pub enum EventData {
    /// The twin connected.
    Connected(ConnectionInfo),
    /// The twin disconnected.
    Disconnected(ConnectionInfo),
    /// The state after the change: a snapshot shared with the twin until
    /// the twin next changes (copy on write), so raising the event copies
    /// nothing.
    StateChange(Arc<DeviceState>),
    /// The telemetry values that arrived.
    Telemetry(TelemetryData),
    /// The alert as it now is.
    Alert(Alert),
    /// The command as it now is.
    Command(DeviceCommand),
    /// What went wrong.
    Error(ErrorInfo),
}

impl EventData {
    /// The event type of this data.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::Connected(_) => EventType::Connected,
            Self::Disconnected(_) => EventType::Disconnected,
            Self::StateChange(_) => EventType::StateChange,
            Self::Telemetry(_) => EventType::Telemetry,
            Self::Alert(_) => EventType::Alert,
            Self::Command(_) => EventType::Command,
            Self::Error(_) => EventType::Error,
        }
    }
}

/// Details of a connection change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// Why the connection changed, when known (never contains credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Details of an `error` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    /// Stable machine-readable code, e.g. `"TYPE_MISMATCH"`.
    pub code: String,
    /// Human-readable message naming what was refused.
    pub message: String,
    /// The property concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

impl ErrorInfo {
    /// The event details for a refused operation.
    pub fn from_error(error: &TwinError, property: Option<&str>) -> Self {
        Self {
            code: error.code().to_string(),
            message: error.to_string(),
            property: property.map(crate::limits::printable),
        }
    }
}

/// An event (the reference's `DeviceEvent`): serialized as
/// `{ type, deviceId, data, timestamp }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceEvent {
    /// Source device.
    pub device_id: String,
    /// When it happened (the `now` of the operation that caused it).
    pub timestamp: Millis,
    /// Type and payload.
    #[serde(flatten)]
    pub data: EventData,
}

impl DeviceEvent {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }
}

type Handler = Rc<RefCell<dyn FnMut(&DeviceEvent)>>;

struct Slot {
    filter: Option<EventType>,
    active: Rc<Cell<bool>>,
    handler: Handler,
}

/// An ordered list of event handlers. Cloning gives another handle to the
/// same list.
#[derive(Clone, Default)]
pub struct EventBus {
    slots: Rc<RefCell<Vec<Slot>>>,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.slots.borrow().len())
            .finish()
    }
}

/// A handle to one subscription. [`Subscription::unsubscribe`] ends it;
/// dropping the handle does not (as with JavaScript listeners), so a
/// subscription may be kept for the twin's lifetime without holding on to
/// the handle.
#[derive(Clone)]
pub struct Subscription {
    slots: Weak<RefCell<Vec<Slot>>>,
    active: Rc<Cell<bool>>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Subscription {
    /// Ends the subscription; the handler is not called again, even by an
    /// event being delivered right now. Calling it twice is harmless.
    pub fn unsubscribe(&self) {
        self.active.set(false);
        if let Some(slots) = self.slots.upgrade() {
            // A handler may unsubscribe during delivery, when the list is
            // borrowed; the `active` flag already stops it, and the slot is
            // pruned by the next subscribe or delivery.
            if let Ok(mut slots) = slots.try_borrow_mut() {
                slots.retain(|s| s.active.get());
            }
        }
    }

    /// Whether the handler will still be called.
    pub fn is_active(&self) -> bool {
        self.active.get() && self.slots.strong_count() > 0
    }
}

impl EventBus {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a handler for one event type, or for all when `filter` is `None`.
    pub fn subscribe(
        &self,
        filter: Option<EventType>,
        handler: impl FnMut(&DeviceEvent) + 'static,
    ) -> Subscription {
        let active = Rc::new(Cell::new(true));
        let mut slots = self.slots.borrow_mut();
        slots.retain(|s| s.active.get());
        slots.push(Slot {
            filter,
            active: Rc::clone(&active),
            handler: Rc::new(RefCell::new(handler)),
        });
        Subscription {
            slots: Rc::downgrade(&self.slots),
            active,
        }
    }

    /// Whether any active handler would receive events of this type; lets
    /// the twin skip building payloads nobody reads.
    pub fn wants(&self, event_type: EventType) -> bool {
        self.slots
            .borrow()
            .iter()
            .any(|s| s.active.get() && s.filter.is_none_or(|f| f == event_type))
    }

    /// Number of active subscriptions.
    pub fn len(&self) -> usize {
        self.slots
            .borrow()
            .iter()
            .filter(|s| s.active.get())
            .count()
    }

    /// Whether there are no active subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends every subscription.
    pub fn clear(&self) {
        // Handlers run with the list unborrowed, so this borrow cannot clash
        // with a delivery in progress; the flags stop any handler still queued.
        for slot in std::mem::take(&mut *self.slots.borrow_mut()) {
            slot.active.set(false);
        }
    }

    /// Delivers an event to every matching handler, in subscription order.
    /// A handler that panics is reported to the `error` handlers (unless the
    /// event was itself an error) and the others still run. A handler that
    /// is already running (an event emitted from inside a handler) is
    /// skipped for the nested event rather than re-entered.
    pub fn emit(&self, event: &DeviceEvent) {
        let event_type = event.event_type();
        let targets: Vec<(Rc<Cell<bool>>, Handler)> = {
            let slots = self.slots.borrow();
            slots
                .iter()
                .filter(|s| s.active.get() && s.filter.is_none_or(|f| f == event_type))
                .map(|s| (Rc::clone(&s.active), Rc::clone(&s.handler)))
                .collect()
        };
        let mut panics = 0usize;
        for (active, handler) in targets {
            if !active.get() {
                continue;
            }
            let Ok(mut handler) = handler.try_borrow_mut() else {
                continue;
            };
            if catch_unwind(AssertUnwindSafe(|| (*handler)(event))).is_err() {
                panics += 1;
            }
        }
        if panics > 0 && event_type != EventType::Error {
            self.emit(&DeviceEvent {
                device_id: event.device_id.clone(),
                timestamp: event.timestamp,
                data: EventData::Error(ErrorInfo {
                    code: "HANDLER_PANICKED".into(),
                    message: format!("{panics} `{event_type}` handler(s) panicked; the others ran"),
                    property: None,
                }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(id: &str) -> DeviceEvent {
        DeviceEvent {
            device_id: id.into(),
            timestamp: 7,
            data: EventData::Connected(ConnectionInfo::default()),
        }
    }

    #[test]
    fn serializes_as_the_reference_device_event() {
        let json = serde_json::to_value(connected("d1")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "connected", "deviceId": "d1", "data": {}, "timestamp": 7})
        );
        let back: DeviceEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, connected("d1"));
    }

    #[test]
    fn event_type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(EventType::parse("nope"), None);
    }

    #[test]
    fn filters_orders_and_unsubscribes() {
        let bus = EventBus::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        let l1 = Rc::clone(&log);
        let a = bus.subscribe(Some(EventType::Connected), move |_| {
            l1.borrow_mut().push("a")
        });
        let l2 = Rc::clone(&log);
        let _b = bus.subscribe(None, move |_| l2.borrow_mut().push("b"));
        let l3 = Rc::clone(&log);
        let _c = bus.subscribe(Some(EventType::Alert), move |_| l3.borrow_mut().push("c"));
        bus.emit(&connected("d"));
        assert_eq!(*log.borrow(), ["a", "b"]);
        a.unsubscribe();
        a.unsubscribe();
        assert!(!a.is_active());
        bus.emit(&connected("d"));
        assert_eq!(*log.borrow(), ["a", "b", "b"]);
        assert_eq!(bus.len(), 2);
    }

    #[test]
    fn a_panicking_handler_does_not_stop_the_others() {
        let bus = EventBus::new();
        let log = Rc::new(RefCell::new(Vec::<String>::new()));
        bus.subscribe(None, |e| {
            if e.event_type() == EventType::Connected {
                panic!("handler bug")
            }
        });
        let l = Rc::clone(&log);
        bus.subscribe(None, move |e| {
            l.borrow_mut().push(e.event_type().to_string())
        });
        bus.emit(&connected("d"));
        assert_eq!(*log.borrow(), ["connected", "error"]);
    }

    #[test]
    fn a_handler_may_unsubscribe_another_during_delivery() {
        let bus = EventBus::new();
        let calls = Rc::new(Cell::new(0));
        let victim: Rc<RefCell<Option<Subscription>>> = Rc::new(RefCell::new(None));
        let v = Rc::clone(&victim);
        bus.subscribe(None, move |_| {
            if let Some(s) = v.borrow().as_ref() {
                s.unsubscribe()
            }
        });
        let c = Rc::clone(&calls);
        *victim.borrow_mut() = Some(bus.subscribe(None, move |_| c.set(c.get() + 1)));
        bus.emit(&connected("d"));
        bus.emit(&connected("d"));
        assert_eq!(calls.get(), 0);
        assert_eq!(bus.len(), 1);
    }

    #[test]
    fn clear_ends_every_subscription() {
        let bus = EventBus::new();
        let s = bus.subscribe(None, |_| {});
        assert!(bus.wants(EventType::Telemetry));
        bus.clear();
        assert!(!s.is_active());
        assert!(!bus.wants(EventType::Telemetry));
    }
}
