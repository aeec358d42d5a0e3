//! Device state: reported, desired, the delta between them, and metadata per
//! property, as in AWS IoT Device Shadow.
//!
//! `DeviceState` is a snapshot type with private fields: the twin is the only
//! writer, so its invariants hold — `version` rises on every change, and
//! `delta` is exactly the desired keys whose value differs from the
//! reported one (numbers compare by value, so `72` equals `72.0`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Millis;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateSource {
    /// The device reported it.
    Device,
    /// A backend or another service set it.
    Cloud,
    /// A user of this page set it.
    User,
}

/// Metadata of one property: its last change, on either side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyMetadata {
    /// When the property last changed (reported or desired).
    pub last_updated: Millis,
    /// How many times the property changed; starts at 1.
    pub version: u64,
    /// Who made the last change.
    pub source: UpdateSource,
}

/// The reference's `DeviceState`, plus the state `version`, the computed
/// `delta` and the undeclared properties a device reported.
///
/// It deserializes too (for events read back from JSON); a twin's own state
/// is only ever written by the twin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceState {
    device_id: String,
    timestamp: Millis,
    version: u64,
    reported: BTreeMap<String, Value>,
    desired: BTreeMap<String, Value>,
    delta: BTreeMap<String, Value>,
    metadata: BTreeMap<String, PropertyMetadata>,
    unknown_properties: BTreeSet<String>,
    /// The device's own state version, from its last report that carried
    /// one (the WebSocket JSON and MQTT `state` messages do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_version: Option<u64>,
}

impl DeviceState {
    pub(crate) fn new(device_id: &str) -> Self {
        Self {
            device_id: device_id.to_string(),
            timestamp: 0,
            version: 0,
            reported: BTreeMap::new(),
            desired: BTreeMap::new(),
            delta: BTreeMap::new(),
            metadata: BTreeMap::new(),
            unknown_properties: BTreeSet::new(),
            device_version: None,
        }
    }

    /// The device's own state version from its last versioned report
    /// (`None` until one arrives). Unlike [`DeviceState::version`], which
    /// counts this twin's changes, it is the same for every twin of the
    /// device.
    pub fn device_version(&self) -> Option<u64> {
        self.device_version
    }

    pub(crate) fn set_device_version(&mut self, version: u64) {
        self.device_version = Some(version);
    }

    /// The device this state belongs to.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// When the state last changed (0 before the first change).
    pub fn timestamp(&self) -> Millis {
        self.timestamp
    }

    /// Rises by one on every change (0 before the first).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// What the device reported, by property.
    pub fn reported(&self) -> &BTreeMap<String, Value> {
        &self.reported
    }

    /// What the twin wants the device to adopt, by property.
    pub fn desired(&self) -> &BTreeMap<String, Value> {
        &self.desired
    }

    /// Desired values the device has not reported yet.
    pub fn delta(&self) -> &BTreeMap<String, Value> {
        &self.delta
    }

    /// Metadata by property.
    pub fn metadata(&self) -> &BTreeMap<String, PropertyMetadata> {
        &self.metadata
    }

    /// Reported properties that the configuration does not declare.
    pub fn unknown_properties(&self) -> &BTreeSet<String> {
        &self.unknown_properties
    }

    /// Sets (or, with `None`, removes) a reported value.
    pub(crate) fn write_reported(
        &mut self,
        key: &str,
        value: Option<Value>,
        source: UpdateSource,
        now: Millis,
    ) {
        set_or_remove(&mut self.reported, key, value);
        self.touch(key, source, now);
    }

    /// Sets (or, with `None`, clears) a desired value.
    pub(crate) fn write_desired(
        &mut self,
        key: &str,
        value: Option<Value>,
        source: UpdateSource,
        now: Millis,
    ) {
        set_or_remove(&mut self.desired, key, value);
        self.touch(key, source, now);
    }

    pub(crate) fn mark_unknown(&mut self, key: &str) -> bool {
        self.unknown_properties.insert(key.to_string())
    }

    fn touch(&mut self, key: &str, source: UpdateSource, now: Millis) {
        let meta = match self.metadata.get_mut(key) {
            Some(meta) => meta,
            None => self
                .metadata
                .entry(key.to_string())
                .or_insert(PropertyMetadata {
                    last_updated: now,
                    version: 0,
                    source,
                }),
        };
        meta.last_updated = meta.last_updated.max(now);
        meta.version += 1;
        meta.source = source;
        self.version += 1;
        self.timestamp = self.timestamp.max(now);
        self.refresh_delta(key);
    }

    fn refresh_delta(&mut self, key: &str) {
        match self.desired.get(key) {
            Some(want)
                if !self
                    .reported
                    .get(key)
                    .is_some_and(|have| same_value(have, want)) =>
            {
                self.delta.insert(key.to_string(), want.clone());
            }
            _ => {
                self.delta.remove(key);
            }
        }
    }
}

fn set_or_remove(map: &mut BTreeMap<String, Value>, key: &str, value: Option<Value>) {
    match value {
        // Most writes replace a value: no new key to allocate.
        Some(v) => match map.get_mut(key) {
            Some(slot) => *slot = v,
            None => {
                map.insert(key.to_string(), v);
            }
        },
        None => {
            map.remove(key);
        }
    }
}

/// JSON equality with numbers compared by value (`72 == 72.0`), as values
/// arriving from JavaScript and from JSON text may be typed differently.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_value(a, b)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        assert!(same_value(&json!(72), &json!(72.0)));
        assert!(same_value(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!same_value(&json!(72), &json!(72.5)));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!same_value(&json!("1"), &json!(1)));
    }

    #[test]
    fn delta_follows_desired_and_reported() {
        let mut s = DeviceState::new("d");
        s.write_desired("sp", Some(json!(70)), UpdateSource::User, 1);
        assert_eq!(s.delta()["sp"], json!(70));
        s.write_reported("sp", Some(json!(70.0)), UpdateSource::Device, 2);
        assert!(s.delta().is_empty());
        s.write_reported("sp", Some(json!(71)), UpdateSource::Device, 3);
        assert_eq!(s.delta()["sp"], json!(70));
        s.write_desired("sp", None, UpdateSource::User, 4);
        assert!(s.delta().is_empty());
        assert_eq!(s.version(), 4);
        assert_eq!(s.metadata()["sp"].version, 4);
        assert_eq!(s.metadata()["sp"].source, UpdateSource::User);
        assert_eq!(s.timestamp(), 4);
    }

    #[test]
    fn serializes_with_reference_field_names() {
        let mut s = DeviceState::new("d");
        s.write_reported("t", Some(json!(1)), UpdateSource::Device, 9);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({
                "deviceId": "d", "timestamp": 9, "version": 1,
                "reported": {"t": 1}, "desired": {}, "delta": {},
                "metadata": {"t": {"lastUpdated": 9, "version": 1, "source": "device"}},
                "unknownProperties": []
            })
        );
    }
}
