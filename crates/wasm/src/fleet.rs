//! `FleetManager` for JavaScript: twins by id, their events merged.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::{Rc, Weak};

use indexmap::IndexMap;
use js_sys::{Array, Function, Promise};
use twinkit_core::{EventType, FleetStatus};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{js_error, to_js};
use crate::twin::{DigitalTwin, TwinCell};

struct Member {
    twin: Rc<TwinCell>,
    listener: u32,
}

/// The shared state behind a `FleetManager` handle.
pub(crate) struct FleetCell {
    members: RefCell<IndexMap<String, Member>>,
    handlers: RefCell<Vec<(u32, Function)>>,
    next_id: Cell<u32>,
    /// One closure per fleet for every unsubscribe function of `onEvent`.
    off: OnceCell<Closure<dyn Fn(u32)>>,
}

impl FleetCell {
    /// Delivers one twin event to the fleet's handlers; returns how many threw.
    pub(crate) fn deliver(&self, event: &JsValue, event_type: EventType) -> usize {
        let handlers: Vec<Function> = self
            .handlers
            .borrow()
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        let mut failures = 0;
        for handler in handlers {
            if let Err(error) = handler.call1(&JsValue::NULL, event) {
                failures += 1;
                web_sys::console::error_2(
                    &format!("twinkit: a fleet `{event_type}` handler threw").into(),
                    &error,
                );
            }
        }
        failures
    }

    fn remove(&self, device_id: &str) -> bool {
        let member = self.members.borrow_mut().shift_remove(device_id);
        match member {
            Some(member) => {
                // Fleet handlers see the twin's last events, then it is released.
                member.twin.dispose();
                member.twin.remove_listener(member.listener);
                true
            }
            None => false,
        }
    }
}

/// Many twins managed together (the reference's `FleetManager`).
#[wasm_bindgen]
#[repr(transparent)]
pub struct FleetManager(Rc<FleetCell>);

impl std::fmt::Debug for FleetManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetManager")
            .field("devices", &self.0.members.borrow().len())
            .finish()
    }
}

impl Default for FleetManager {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl FleetManager {
    /// An empty fleet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> FleetManager {
        FleetManager(Rc::new(FleetCell {
            members: RefCell::default(),
            handlers: RefCell::default(),
            next_id: Cell::new(1),
            off: OnceCell::new(),
        }))
    }

    /// Creates a twin and adds it; throws `DUPLICATE_DEVICE` for a taken id
    /// and `INVALID_CONFIG` for an invalid configuration (nothing is added).
    #[wasm_bindgen(js_name = addDevice)]
    pub fn add_device(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DeviceConfig")] config: JsValue,
        #[wasm_bindgen(unchecked_param_type = "TwinOptions")] options: Option<js_sys::Object>,
    ) -> Result<DigitalTwin, JsValue> {
        let twin = TwinCell::create(config, options)?;
        let id = twin.id();
        if self.0.members.borrow().contains_key(&id) {
            return Err(js_error(
                "DUPLICATE_DEVICE",
                &format!("device `{id}` is already in the fleet"),
            ));
        }
        let listener = twin.add_fleet(Rc::downgrade(&self.0));
        self.0.members.borrow_mut().insert(
            id,
            Member {
                twin: Rc::clone(&twin),
                listener,
            },
        );
        Ok(DigitalTwin(twin))
    }

    /// The twin of a device, or `undefined`.
    #[wasm_bindgen(js_name = getDevice)]
    pub fn get_device(&self, device_id: &str) -> Option<DigitalTwin> {
        self.0
            .members
            .borrow()
            .get(device_id)
            .map(|m| DigitalTwin(Rc::clone(&m.twin)))
    }

    /// Every twin, in the order added.
    #[wasm_bindgen(js_name = getAllDevices)]
    pub fn get_all_devices(&self) -> Vec<DigitalTwin> {
        self.0
            .members
            .borrow()
            .values()
            .map(|m| DigitalTwin(Rc::clone(&m.twin)))
            .collect()
    }

    /// Removes a device: its twin is disposed (fleet handlers see it
    /// disconnect). Returns whether the device was in the fleet.
    #[wasm_bindgen(js_name = removeDevice)]
    pub fn remove_device(&self, device_id: &str) -> bool {
        self.0.remove(device_id)
    }

    /// Connects every twin; rejects if any twin cannot connect.
    #[wasm_bindgen(js_name = connectAll, unchecked_return_type = "Promise<void>")]
    pub fn connect_all(&self) -> Promise {
        let promises: Array = self
            .get_all_devices()
            .iter()
            .map(|twin| JsValue::from(twin.connect()))
            .collect();
        Promise::all(&promises)
    }

    /// Disconnects every twin.
    #[wasm_bindgen(js_name = disconnectAll)]
    pub fn disconnect_all(&self) -> Result<(), JsValue> {
        for twin in self.get_all_devices() {
            twin.disconnect()?;
        }
        Ok(())
    }

    /// Subscribes to every twin's events (each carries its `deviceId`);
    /// returns the unsubscribe function.
    #[wasm_bindgen(js_name = onEvent, unchecked_return_type = "() => void")]
    pub fn on_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: DeviceEvent) => void")] callback: Function,
    ) -> Function {
        let id = self.0.next_id.get();
        self.0.next_id.set(id.wrapping_add(1));
        self.0.handlers.borrow_mut().push((id, callback));
        let weak: Weak<FleetCell> = Rc::downgrade(&self.0);
        let off = self.0.off.get_or_init(|| {
            Closure::new(move |id: u32| {
                if let Some(cell) = weak.upgrade() {
                    cell.handlers.borrow_mut().retain(|(h, _)| *h != id);
                }
            })
        });
        crate::twin::make_unsubscribe(off.as_ref().unchecked_ref(), id)
    }

    /// Counts: total, connected, disconnected, connecting, active alerts.
    #[wasm_bindgen(js_name = getFleetStatus, unchecked_return_type = "FleetStatus")]
    pub fn get_fleet_status(&self) -> Result<JsValue, JsValue> {
        let members = self.0.members.borrow();
        let cores: Vec<_> = members.values().map(|m| m.twin.core.borrow()).collect();
        to_js(&FleetStatus::tally(cores.iter().map(|c| &**c)))
    }

    /// Removes and disposes every twin and ends every fleet subscription.
    pub fn dispose(&self) {
        let ids: Vec<String> = self.0.members.borrow().keys().cloned().collect();
        for id in ids {
            self.0.remove(&id);
        }
        self.0.handlers.borrow_mut().clear();
    }
}
