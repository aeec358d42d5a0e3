//! A set of simulated devices addressed by id.

use indexmap::IndexMap;
use twinkit_core::{ConfigError, Millis};

use crate::device::{Output, SimDevice, SimError, SimOptions};
use crate::models::DeviceKind;

/// Simulated devices by id, in insertion order.
#[derive(Debug, Clone, Default)]
pub struct SimFleet {
    devices: IndexMap<String, SimDevice>,
}

impl SimFleet {
    /// An empty fleet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `count` devices cycling through thermostat, motor and environment
    /// sensor, with ids `thermostat-001`, `motor-002`, `sensor-003`, ….
    pub fn mixed(count: usize, options: &SimOptions) -> Result<Self, ConfigError> {
        let mut fleet = Self::new();
        for i in 0..count {
            let kind = DeviceKind::ALL[i % DeviceKind::ALL.len()];
            let id = format!("{}-{:03}", kind.id_prefix(), i + 1);
            let device = SimDevice::new(kind, id.clone(), options)?;
            fleet.devices.insert(id, device);
        }
        Ok(fleet)
    }

    /// Adds a device; its id must be new.
    pub fn add(&mut self, device: SimDevice) -> Result<(), SimError> {
        if self.devices.contains_key(device.id()) {
            return Err(SimError::Duplicate {
                device_id: device.id().to_owned(),
            });
        }
        self.devices.insert(device.id().to_owned(), device);
        Ok(())
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&SimDevice> {
        self.devices.get(id)
    }

    /// The device with this id, to drive it.
    pub fn device_mut(&mut self, id: &str) -> Option<&mut SimDevice> {
        self.devices.get_mut(id)
    }

    /// Every device, in insertion order.
    pub fn devices(&self) -> impl Iterator<Item = &SimDevice> {
        self.devices.values()
    }

    /// Every device, mutably.
    pub fn devices_mut(&mut self) -> impl Iterator<Item = &mut SimDevice> {
        self.devices.values_mut()
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether the fleet has no device.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Ticks every device.
    pub fn tick(&mut self, now: Millis) {
        for device in self.devices.values_mut() {
            device.tick(now);
        }
    }

    /// The earliest deadline of any device.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.devices.values().map(SimDevice::next_deadline).min()
    }

    /// Drains every device's output, in device order, with its id.
    pub fn drain_outputs(&mut self) -> Vec<(String, Output)> {
        let mut out = Vec::new();
        for (id, device) in &mut self.devices {
            while let Some(output) = device.poll_output() {
                out.push((id.clone(), output));
            }
        }
        out
    }
}
