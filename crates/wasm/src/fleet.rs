//! `FleetManager` for JavaScript: twins by id, their events merged.

use js_sys::{Array, Function, Promise};
use twinkit_web::Fleet;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::convert::{to_js, OrThrow};
use crate::twin::{call_handler, create, make_unsubscribe, DigitalTwin};

/// Many twins managed together (the reference's `FleetManager`).
#[wasm_bindgen]
pub struct FleetManager {
    fleet: Fleet,
    /// One closure per fleet behind every unsubscribe function of
    /// `onEvent`.
    off: Closure<dyn Fn(u32)>,
}

impl std::fmt::Debug for FleetManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetManager")
            .field("devices", &self.fleet.len())
            .finish()
    }
}

impl Default for FleetManager {
    fn default() -> Self {
        Self::new()
    }
}

impl FleetManager {
    /// The runtime fleet (for `TimeSeriesStore`'s journal).
    pub(crate) fn inner(&self) -> &Fleet {
        &self.fleet
    }
}

#[wasm_bindgen]
impl FleetManager {
    /// An empty fleet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> FleetManager {
        let fleet = Fleet::new();
        let weak = fleet.downgrade();
        FleetManager {
            fleet,
            off: Closure::new(move |id: u32| {
                if let Some(fleet) = weak.upgrade() {
                    fleet.unsubscribe(id);
                }
            }),
        }
    }

    /// Creates a twin and adds it; throws `DUPLICATE_DEVICE` for a taken id
    /// and `INVALID_CONFIG` for an invalid configuration (nothing is added).
    #[wasm_bindgen(js_name = addDevice)]
    pub fn add_device(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DeviceConfig")] config: JsValue,
        #[wasm_bindgen(unchecked_param_type = "TwinOptions?")] options: Option<js_sys::Object>,
    ) -> Result<DigitalTwin, JsValue> {
        let twin = create(config, options)?;
        self.fleet.add(twin.clone()).or_throw()?;
        Ok(DigitalTwin(twin))
    }

    /// The twin of a device, or `undefined`.
    #[wasm_bindgen(js_name = getDevice)]
    pub fn get_device(&self, device_id: &str) -> Option<DigitalTwin> {
        self.fleet.get(device_id).map(DigitalTwin)
    }

    /// Every twin, in the order added.
    #[wasm_bindgen(js_name = getAllDevices)]
    pub fn get_all_devices(&self) -> Vec<DigitalTwin> {
        self.fleet.twins().into_iter().map(DigitalTwin).collect()
    }

    /// Removes a device: its twin is disposed (fleet handlers see it
    /// disconnect). Returns whether the device was in the fleet.
    #[wasm_bindgen(js_name = removeDevice)]
    pub fn remove_device(&self, device_id: &str) -> bool {
        self.fleet.remove(device_id)
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
    pub fn disconnect_all(&self) {
        self.fleet.disconnect_all();
    }

    /// Subscribes to every twin's events (each carries its `deviceId`);
    /// returns the unsubscribe function.
    #[wasm_bindgen(js_name = onEvent, unchecked_return_type = "() => void")]
    pub fn on_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(event: DeviceEvent) => void")] callback: Function,
    ) -> Function {
        let id = self
            .fleet
            .subscribe(move |event| call_handler(&callback, event, "fleet "))
            .forget();
        make_unsubscribe(self.off.as_ref().unchecked_ref(), id)
    }

    /// Moves a device to another lifecycle state (`"provisioned"`,
    /// `"active"`, `"maintenance"`, `"suspended"`, `"decommissioned"`): a
    /// suspended device takes no commands (in-flight ones fail), a
    /// decommissioned twin is read-only. Throws `INVALID_TRANSITION`
    /// (nothing changes) or `UNKNOWN_DEVICE`. Returns the logged event.
    #[wasm_bindgen(js_name = setLifecycle, unchecked_return_type = "LifecycleEvent")]
    pub fn set_lifecycle(
        &self,
        device_id: &str,
        #[wasm_bindgen(unchecked_param_type = "LifecycleState")] state: &str,
        reason: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let to: twinkit_core::lifecycle::LifecycleState =
            serde_json::from_value(serde_json::Value::String(state.to_string())).map_err(|_| {
                crate::convert::js_error(
                    "INVALID_INPUT",
                    &format!(
                        "lifecycle state `{}`: expected provisioned, active, maintenance, suspended or decommissioned",
                        twinkit_core::limits::printable(state)
                    ),
                )
            })?;
        let event = self
            .fleet
            .set_lifecycle(
                device_id,
                to,
                twinkit_core::audit::Actor::User,
                reason.as_deref(),
            )
            .or_throw()?;
        to_js(&event)
    }

    /// The append-only lifecycle log, oldest first.
    #[wasm_bindgen(js_name = getLifecycleLog, unchecked_return_type = "LifecycleEvent[]")]
    pub fn get_lifecycle_log(&self) -> Result<JsValue, JsValue> {
        js_sys::JSON::parse(&self.fleet.lifecycle_log_json())
    }

    /// Counts: total, connected, disconnected, connecting, active alerts.
    #[wasm_bindgen(js_name = getFleetStatus, unchecked_return_type = "FleetStatus")]
    pub fn get_fleet_status(&self) -> Result<JsValue, JsValue> {
        to_js(&self.fleet.status())
    }

    /// Removes and disposes every twin and ends every fleet subscription.
    pub fn dispose(&self) {
        self.fleet.dispose();
    }
}
