//! Telemetry points as the store keeps them, and the checks that turn raw
//! input (numbers that may be NaN, timestamps that may be out of range,
//! hostile property names) into them. Whatever is refused is counted, never
//! stored and never an error for the rest of the input.

use std::rc::Rc;

use twinkit_core::limits::RESERVED_KEYS;
use twinkit_core::{Millis, TelemetryValue};

use crate::bytes::MAX_SAFE_INTEGER;

/// Longest device id or property name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest string value, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most values kept from one record.
pub const MAX_VALUES_PER_RECORD: usize = 256;

/// A device id or property name. Shared, so the many points of a batch
/// carry the same few names without copying them, and comparisons can
/// start with the pointer.
pub type Name = Rc<str>;

/// Whether two names are equal, trying the pointer first.
pub fn same_name(a: &Name, b: &Name) -> bool {
    Rc::ptr_eq(a, b) || a == b
}

/// The values of one device measured at one instant, sorted by property
/// name, each name once.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub time: Millis,
    /// Property name and value, sorted by name.
    pub values: Vec<(Name, TelemetryValue)>,
}

/// A value as it arrives, before checks.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    /// A number, possibly NaN or infinite.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Text(String),
    /// Anything telemetry cannot carry (null, objects, arrays, functions).
    Unsupported,
}

/// A record as it arrives, before checks.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// The device id.
    pub device_id: String,
    /// Milliseconds since the epoch, possibly fractional, negative or NaN.
    pub timestamp: f64,
    /// Property name and value.
    pub values: Vec<(String, RawValue)>,
}

/// What input checks refused, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Records whose timestamp is not a number in 0..=2^53−1.
    pub bad_timestamps: u64,
    /// Records whose device id is empty, too long or holds control characters.
    pub bad_devices: u64,
    /// Records left with no value to store.
    pub empty_records: u64,
    /// NaN and ±Infinity values.
    pub non_finite: u64,
    /// Values of unsupported types, and strings over [`MAX_TEXT_BYTES`].
    pub bad_values: u64,
    /// Values under an invalid or reserved property name, or beyond
    /// [`MAX_VALUES_PER_RECORD`].
    pub bad_names: u64,
}

impl Skipped {
    /// Everything skipped, records and values together.
    pub fn total(&self) -> u64 {
        self.bad_timestamps
            + self.bad_devices
            + self.empty_records
            + self.non_finite
            + self.bad_values
            + self.bad_names
    }

    /// Adds another tally to this one.
    pub fn add(&mut self, other: &Skipped) {
        self.bad_timestamps += other.bad_timestamps;
        self.bad_devices += other.bad_devices;
        self.empty_records += other.empty_records;
        self.non_finite += other.non_finite;
        self.bad_values += other.bad_values;
        self.bad_names += other.bad_names;
    }
}

/// Whether a device id or property name may be stored: 1 to
/// [`MAX_NAME_BYTES`] bytes, no control characters, and (as a property
/// name) none of `__proto__`, `constructor`, `prototype`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name.chars().any(char::is_control)
        && !RESERVED_KEYS.contains(&name)
}

/// A timestamp from JavaScript as milliseconds: finite, within
/// 0..=2^53−1, rounded down.
pub fn timestamp(t: f64) -> Option<Millis> {
    (t.is_finite() && t >= 0.0 && t <= MAX_SAFE_INTEGER as f64).then(|| t.floor() as Millis)
}

/// Checks a raw record; `None` (and a count in `skipped`) when nothing of it
/// can be stored.
pub fn check(raw: RawRecord, skipped: &mut Skipped) -> Option<(Name, Point)> {
    if !valid_name(&raw.device_id) {
        skipped.bad_devices += 1;
        return None;
    }
    let Some(time) = timestamp(raw.timestamp) else {
        skipped.bad_timestamps += 1;
        return None;
    };
    let mut values: Vec<(Name, TelemetryValue)> = Vec::with_capacity(raw.values.len());
    for (name, value) in raw.values {
        if !valid_name(&name) || values.len() >= MAX_VALUES_PER_RECORD {
            skipped.bad_names += 1;
            continue;
        }
        let value = match value {
            RawValue::Number(n) if n.is_finite() => TelemetryValue::Number(n),
            RawValue::Number(_) => {
                skipped.non_finite += 1;
                continue;
            }
            RawValue::Bool(b) => TelemetryValue::Bool(b),
            RawValue::Text(s) if s.len() <= MAX_TEXT_BYTES => TelemetryValue::String(s),
            RawValue::Text(_) | RawValue::Unsupported => {
                skipped.bad_values += 1;
                continue;
            }
        };
        values.push((name.into(), value));
    }
    if values.is_empty() {
        skipped.empty_records += 1;
        return None;
    }
    // One value per name: the last one given wins.
    values.reverse();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    values.dedup_by(|a, b| a.0 == b.0);
    Some((raw.device_id.into(), Point { time, values }))
}

/// Checks records whose device ids and property names come from tables (as
/// the JavaScript binding hands them over): each distinct id and name is
/// checked once, and values are ordered by a precomputed rank instead of by
/// comparing strings. Gives exactly what [`check`] gives.
#[derive(Debug)]
pub struct Interned {
    devices: Vec<Name>,
    names: Vec<Name>,
    device_ok: Vec<bool>,
    name_ok: Vec<bool>,
    rank: Vec<u32>,
}

impl Interned {
    /// Tables of device ids and property names.
    pub fn new(devices: &[String], names: &[String]) -> Self {
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let mut rank = vec![0u32; names.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u32;
        }
        Self {
            devices: devices.iter().map(|d| Name::from(d.as_str())).collect(),
            names: names.iter().map(|n| Name::from(n.as_str())).collect(),
            device_ok: devices.iter().map(|d| valid_name(d)).collect(),
            name_ok: names.iter().map(|n| valid_name(n)).collect(),
            rank,
        }
    }

    /// Checks one record: `device` and the names are indexes into the
    /// tables (`None` or out of range: invalid).
    pub fn record(
        &self,
        device: Option<usize>,
        timestamp: f64,
        values: impl IntoIterator<Item = (usize, RawValue)>,
        skipped: &mut Skipped,
    ) -> Option<(Name, Point)> {
        let Some(d) = device.filter(|&d| self.device_ok.get(d) == Some(&true)) else {
            skipped.bad_devices += 1;
            return None;
        };
        let Some(time) = self::timestamp(timestamp) else {
            skipped.bad_timestamps += 1;
            return None;
        };
        let mut kept: Vec<(usize, TelemetryValue)> = Vec::with_capacity(4);
        for (name, value) in values {
            if self.name_ok.get(name) != Some(&true) || kept.len() >= MAX_VALUES_PER_RECORD {
                skipped.bad_names += 1;
                continue;
            }
            let value = match value {
                RawValue::Number(n) if n.is_finite() => TelemetryValue::Number(n),
                RawValue::Number(_) => {
                    skipped.non_finite += 1;
                    continue;
                }
                RawValue::Bool(b) => TelemetryValue::Bool(b),
                RawValue::Text(s) if s.len() <= MAX_TEXT_BYTES => TelemetryValue::String(s),
                RawValue::Text(_) | RawValue::Unsupported => {
                    skipped.bad_values += 1;
                    continue;
                }
            };
            kept.push((name, value));
        }
        if kept.is_empty() {
            skipped.empty_records += 1;
            return None;
        }
        kept.reverse();
        kept.sort_by_key(|(n, _)| self.rank[*n]);
        kept.dedup_by_key(|(n, _)| *n);
        let values = kept
            .into_iter()
            .map(|(n, v)| (self.names[n].clone(), v))
            .collect();
        Some((self.devices[d].clone(), Point { time, values }))
    }
}

// Native only: proptest does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(t: f64, values: Vec<(&str, RawValue)>) -> RawRecord {
        RawRecord {
            device_id: "d".into(),
            timestamp: t,
            values: values.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        }
    }

    #[test]
    fn refuses_and_counts_what_cannot_be_stored() {
        let mut s = Skipped::default();
        for t in [f64::NAN, f64::INFINITY, -1.0, 9_007_199_254_740_992.0] {
            assert!(check(raw(t, vec![("a", RawValue::Number(1.0))]), &mut s).is_none());
        }
        assert_eq!(s.bad_timestamps, 4);
        let (_, p) = check(
            raw(
                1.9,
                vec![
                    ("a", RawValue::Number(f64::NAN)),
                    ("b", RawValue::Number(f64::NEG_INFINITY)),
                    ("__proto__", RawValue::Number(1.0)),
                    ("c", RawValue::Unsupported),
                    ("d", RawValue::Text("x".repeat(MAX_TEXT_BYTES + 1))),
                    ("e", RawValue::Bool(true)),
                    ("e", RawValue::Number(2.0)),
                ],
            ),
            &mut s,
        )
        .unwrap();
        assert_eq!(p.time, 1);
        assert_eq!(p.values, vec![("e".into(), TelemetryValue::Number(2.0))]);
        assert_eq!((s.non_finite, s.bad_names, s.bad_values), (2, 1, 2));
        assert!(check(raw(1.0, vec![("a", RawValue::Number(f64::NAN))]), &mut s).is_none());
        assert_eq!(s.empty_records, 1);
        let mut bad = raw(1.0, vec![("a", RawValue::Number(1.0))]);
        bad.device_id = "a\u{0}".into();
        assert!(check(bad, &mut s).is_none());
        assert_eq!(s.bad_devices, 1);
        assert_eq!(s.total(), 12);
    }

    fn raw_value() -> impl Strategy<Value = RawValue> {
        prop_oneof![
            any::<f64>().prop_map(RawValue::Number),
            any::<bool>().prop_map(RawValue::Bool),
            "[a-z]{0,3}".prop_map(RawValue::Text),
            Just(RawValue::Unsupported),
        ]
    }

    proptest! {
        #[test]
        fn interned_checks_like_check(
            device in 0usize..4,
            timestamp in prop_oneof![any::<f64>(), 0.0..1e13],
            values in prop::collection::vec((0usize..5, raw_value()), 0..6),
        ) {
            let devices = vec!["d".to_string(), String::new(), "x\u{1}".to_string()];
            let names = vec!["b".to_string(), "a".to_string(), "__proto__".to_string(), "c".to_string(), "a\n".to_string()];
            let mut s1 = Skipped::default();
            let mut s2 = Skipped::default();
            let raw = RawRecord {
                device_id: devices.get(device).cloned().unwrap_or_else(|| "\u{0}".into()),
                timestamp,
                values: values.iter().map(|(n, v)| (names[*n].clone(), v.clone())).collect(),
            };
            let want = check(raw, &mut s1);
            let got = Interned::new(&devices, &names).record(
                Some(device).filter(|&d| d < devices.len()),
                timestamp,
                values,
                &mut s2,
            );
            prop_assert_eq!(got, want);
            prop_assert_eq!(s1, s2);
        }
    }
}
