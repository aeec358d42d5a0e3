//! The journal: a twin's sync history, audit trail and a fleet's lifecycle
//! events, kept append-only beside the telemetry.
//!
//! Each record is keyed `[deviceId, kind, timestamp, seq]` (`kind`:
//! `"audit"`, `"lifecycle"` or `"sync"`; `seq`: a per-device counter the
//! store assigns, so records with one timestamp keep the order they were
//! appended in) and holds a JSON object, the body. Records are only ever
//! appended; nothing updates or deletes one, but retention, which drops the
//! oldest records of a device and kind beyond [`Retention::max_records`],
//! and (sync and audit only) those older than [`Retention::max_age`]. An
//! audit entry whose outcome moves on is appended again: its records are
//! the entry as it was at each step.
//!
//! The per-device [`JournalMeta`] (the next `seq` and the records kept per
//! kind) is kept in the `meta` store under `["journal", deviceId]`, so
//! retention by count reads keys only when something is due.
//!
//! The planning runs over [`crate::engine::Kv`] like the telemetry's, and
//! is tested natively over [`crate::engine::MemoryKv`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use twinkit_core::Millis;

use crate::bytes::{Reader, Writer, MAX_SAFE_INTEGER};
use crate::engine::{Kv, WriteSet};
use crate::error::{DecodeError, StoreError};
use crate::point::valid_name;

/// What a journal record is.
///
/// Ordered as the names sort (`audit` < `lifecycle` < `sync`), which is
/// the order of the keys in IndexedDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JournalKind {
    /// An audit entry (a twin-to-device action) as it was at one step.
    Audit,
    /// A fleet lifecycle event.
    Lifecycle,
    /// A sync record (a desired value sent, a report that came back).
    Sync,
}

impl JournalKind {
    /// Every kind, in key order.
    pub const ALL: [JournalKind; 3] = [Self::Audit, Self::Lifecycle, Self::Sync];

    /// The name in keys and in JavaScript.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Lifecycle => "lifecycle",
            Self::Sync => "sync",
        }
    }

    /// Parses `"audit"`, `"lifecycle"` or `"sync"`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Key of a journal record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JournalKey {
    /// The device.
    pub device: String,
    /// What the record is.
    pub kind: JournalKind,
    /// When it happened (ms since the epoch).
    pub timestamp: Millis,
    /// Per device, rising by one per record appended.
    pub seq: u64,
}

impl JournalKey {
    /// The lowest key of a device and kind.
    pub fn first(device: &str, kind: JournalKind) -> Self {
        Self {
            device: device.to_string(),
            kind,
            timestamp: 0,
            seq: 0,
        }
    }
}

/// Largest body, in bytes of JSON text: room for anything a twin records
/// (values are at most 256 KiB), not for a device's runaway error text.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Most records one append takes.
pub const MAX_APPEND_RECORDS: usize = 10_000;

/// A record to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// The device.
    pub device: String,
    /// What it is.
    pub kind: JournalKind,
    /// When it happened.
    pub timestamp: Millis,
    /// A JSON object, as text.
    pub body: String,
}

impl NewRecord {
    /// Refuses, saying why, a device id that is not a valid name, a
    /// timestamp beyond 2^53−1, and a body that is not a JSON object of at
    /// most [`MAX_BODY_BYTES`].
    pub fn check(&self) -> Result<(), StoreError> {
        let bad = |m: String| Err(StoreError::InvalidInput(m));
        if !valid_name(&self.device) {
            return bad(format!(
                "journal: device id `{}` is not a non-empty string of at most 128 bytes without control characters or a reserved name",
                twinkit_core::limits::printable(&self.device)
            ));
        }
        if self.timestamp > MAX_SAFE_INTEGER {
            return bad(format!(
                "journal: timestamp {} beyond 2^53−1",
                self.timestamp
            ));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return bad(format!(
                "journal: a {} record body of {} bytes is over the {MAX_BODY_BYTES}-byte limit",
                self.kind.as_str(),
                self.body.len()
            ));
        }
        match serde_json::from_str::<Value>(&self.body) {
            Ok(Value::Object(_)) => Ok(()),
            _ => bad("journal: a record body must be a JSON object".into()),
        }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRecord {
    /// Its key.
    pub key: JournalKey,
    /// Its body.
    pub body: Value,
}

impl JournalRecord {
    /// `{deviceId, kind, timestamp, seq, body}`, as queries return it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "deviceId": self.key.device,
            "kind": self.key.kind.as_str(),
            "timestamp": self.key.timestamp,
            "seq": self.key.seq,
            "body": self.body,
        })
    }
}

const BODY_MAGIC: &[u8; 3] = b"TKj";
const META_MAGIC: &[u8; 3] = b"TKJ";
const FORMAT: u8 = 1;

/// Encodes a body: `"TKj" 0x01`, then the JSON text.
pub fn encode_body(json: &str) -> Vec<u8> {
    let mut w = Writer::with_capacity(json.len() + 4);
    w.raw(BODY_MAGIC);
    w.u8(FORMAT);
    w.raw(json.as_bytes());
    w.bytes
}

/// Decodes a body (a JSON object).
pub fn decode_body(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(bytes);
    if r.take(3).map_err(|_| DecodeError::BadMagic)? != BODY_MAGIC {
        return Err(DecodeError::BadMagic);
    }
    match r.u8()? {
        FORMAT => {}
        v => return Err(DecodeError::UnsupportedVersion(v)),
    }
    let text = r.take(r.remaining())?;
    match serde_json::from_slice(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(DecodeError::Invalid("journal body is not a JSON object")),
    }
}

/// What the store keeps per device about its journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalMeta {
    /// The `seq` of the next record.
    pub next_seq: u64,
    /// Records kept, per kind (in [`JournalKind::ALL`] order).
    pub counts: [u64; 3],
}

impl JournalMeta {
    /// Records of `kind` kept.
    pub fn count(&self, kind: JournalKind) -> u64 {
        self.counts[kind.index()]
    }

    /// Encodes: `"TKJ" 0x01`, next seq, the three counts (varints).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(META_MAGIC);
        w.u8(FORMAT);
        w.varint(self.next_seq);
        for c in self.counts {
            w.varint(c);
        }
        w.bytes
    }

    /// Decodes a meta record.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.take(3).map_err(|_| DecodeError::BadMagic)? != META_MAGIC {
            return Err(DecodeError::BadMagic);
        }
        match r.u8()? {
            FORMAT => {}
            v => return Err(DecodeError::UnsupportedVersion(v)),
        }
        let next_seq = r.varint()?;
        let mut counts = [0; 3];
        for c in &mut counts {
            *c = r.varint()?;
        }
        r.finish()?;
        Ok(Self { next_seq, counts })
    }
}

/// What the journal keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// At most this many records per device and kind; the oldest go first
    /// (default 10,000). At least the newest record stays, so a device's
    /// lifecycle state can always be replayed.
    pub max_records: u64,
    /// Sync and audit records older than this (ms before now) are dropped
    /// (default: none). Lifecycle records are kept whatever their age.
    pub max_age: Option<Millis>,
}

/// Default of [`Retention::max_records`].
pub const DEFAULT_MAX_RECORDS: u64 = 10_000;

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_records: DEFAULT_MAX_RECORDS,
            max_age: None,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Records appended.
    pub appended: u64,
    /// Records (old ones, or new ones already too old) dropped by retention.
    pub dropped: u64,
}

/// A record ready to put: key and encoded body.
type Encoded = (JournalKey, Vec<u8>);

fn decode_meta(bytes: Option<Vec<u8>>) -> Result<JournalMeta, StoreError> {
    bytes
        .map(|b| JournalMeta::decode(&b).map_err(StoreError::corrupt("journal meta")))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Plans appending records (checked first: one bad record refuses the
/// whole batch, naming it, and nothing is written), then the retention of
/// every device and kind they touch, at `now`.
pub async fn plan_append<K: Kv>(
    kv: &K,
    retention: &Retention,
    records: &[NewRecord],
    now: Millis,
) -> Result<(WriteSet, AppendReport), StoreError> {
    if records.len() > MAX_APPEND_RECORDS {
        return Err(StoreError::InvalidInput(format!(
            "journal: more than {MAX_APPEND_RECORDS} records in one append"
        )));
    }
    for r in records {
        r.check()?;
    }
    if retention.max_records == 0 {
        return Err(StoreError::InvalidInput(
            "journal retention: maxRecords must be at least 1".into(),
        ));
    }
    let devices: Vec<String> = records
        .iter()
        .map(|r| r.device.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut metas: BTreeMap<String, JournalMeta> = BTreeMap::new();
    for (device, bytes) in devices.iter().zip(kv.journal_metas(&devices).await?) {
        metas.insert(device.clone(), decode_meta(bytes)?);
    }
    // New records per (device, kind), in key order once sorted.
    let mut fresh: BTreeMap<(String, JournalKind), Vec<Encoded>> = BTreeMap::new();
    for r in records {
        let meta = metas.entry(r.device.clone()).or_default();
        let key = JournalKey {
            device: r.device.clone(),
            kind: r.kind,
            timestamp: r.timestamp,
            seq: meta.next_seq,
        };
        meta.next_seq += 1;
        meta.counts[r.kind.index()] += 1;
        fresh
            .entry((r.device.clone(), r.kind))
            .or_default()
            .push((key, encode_body(&r.body)));
    }
    let mut ws = WriteSet::default();
    let mut report = AppendReport::default();
    for ((device, kind), mut new) in fresh {
        new.sort_by(|a, b| a.0.cmp(&b.0));
        let meta = metas.entry(device.clone()).or_default();
        let dropped =
            plan_retention(kv, retention, &device, kind, meta, &mut new, now, &mut ws).await?;
        report.dropped += dropped;
        report.appended += new.len() as u64;
        ws.journal_puts.extend(new);
    }
    for (device, meta) in metas {
        ws.journal_meta_puts.push((device, meta.encode()));
    }
    Ok((ws, report))
}

/// Plans the retention of one device and kind, with `new` records about to
/// be put (dropped from `new` when retention takes them) and `meta`
/// counting them already; updates `meta`, returns the records dropped.
#[allow(clippy::too_many_arguments)]
async fn plan_retention<K: Kv>(
    kv: &K,
    retention: &Retention,
    device: &str,
    kind: JournalKind,
    meta: &mut JournalMeta,
    new: &mut Vec<Encoded>,
    now: Millis,
    ws: &mut WriteSet,
) -> Result<u64, StoreError> {
    let count = &mut meta.counts[kind.index()];
    let mut dropped = 0;
    // Existing records deleted so far: a prefix of the device's keys of
    // this kind, up to this key.
    let mut deleted_upto: Option<JournalKey> = None;
    let mut deleted_existing: u32 = 0;
    if let (Some(age), false) = (retention.max_age, kind == JournalKind::Lifecycle) {
        let cut = now.saturating_sub(age);
        if cut > 0 {
            let old = kv.journal_keys(device, kind, cut - 1, None).await?;
            let before = new.len();
            new.retain(|(k, _)| k.timestamp >= cut);
            let n = old.len() as u64 + (before - new.len()) as u64;
            deleted_existing = old.len() as u32;
            deleted_upto = old.last().cloned();
            *count -= n;
            dropped += n;
        }
    }
    if *count > retention.max_records {
        let excess = *count - retention.max_records;
        let take = u32::try_from(excess).unwrap_or(u32::MAX);
        let existing = kv
            .journal_keys(
                device,
                kind,
                MAX_SAFE_INTEGER,
                Some(deleted_existing.saturating_add(take)),
            )
            .await?;
        let existing = &existing[(deleted_existing as usize).min(existing.len())..];
        // The oldest `excess` of the existing and the new records, merged.
        let (mut i, mut j, mut from_new) = (0, 0, 0);
        for _ in 0..excess {
            let older_existing = match (existing.get(i), new.get(j)) {
                (Some(e), Some((n, _))) => e < n,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if older_existing {
                deleted_upto = Some(existing[i].clone());
                i += 1;
            } else {
                j += 1;
                from_new += 1;
            }
        }
        new.drain(..from_new);
        let n = (i + from_new) as u64;
        *count -= n;
        dropped += n;
    }
    if let Some(last) = deleted_upto {
        ws.journal_deletes
            .push((JournalKey::first(device, kind), last));
    }
    Ok(dropped)
}

/// A device's records of one kind (or all) with `start <= timestamp <=
/// end`, oldest first (by timestamp, then append order); with `limit`,
/// the newest `limit` of them.
pub async fn query<K: Kv>(
    kv: &K,
    device: &str,
    kind: Option<JournalKind>,
    start: Millis,
    end: Millis,
    limit: Option<u32>,
) -> Result<Vec<JournalRecord>, StoreError> {
    if start > end || limit == Some(0) {
        return Ok(Vec::new());
    }
    let kinds: Vec<JournalKind> = kind.map_or(JournalKind::ALL.to_vec(), |k| vec![k]);
    let mut out = Vec::new();
    for kind in kinds {
        for (key, bytes) in kv.journal_range(device, kind, start, end, limit).await? {
            let body = decode_body(&bytes).map_err(StoreError::corrupt("journal record"))?;
            out.push(JournalRecord { key, body });
        }
    }
    out.sort_by_key(|r| (r.key.timestamp, r.key.seq));
    if let Some(limit) = limit {
        out.drain(..out.len().saturating_sub(limit as usize));
    }
    Ok(out)
}

/// Every device with journal records, sorted.
pub async fn devices<K: Kv>(kv: &K) -> Result<Vec<String>, StoreError> {
    kv.journal_devices().await
}

/// Records as CSV (RFC 4180): header `deviceId,kind,timestamp,seq,body`,
/// the body as JSON text, CRLF line ends.
pub fn to_csv(records: &[JournalRecord]) -> String {
    let mut out = String::from("deviceId,kind,timestamp,seq,body\r\n");
    for r in records {
        crate::csv::field(&mut out, &r.key.device);
        out.push(',');
        out.push_str(r.key.kind.as_str());
        out.push_str(&format!(",{},{},", r.key.timestamp, r.key.seq));
        crate::csv::field(&mut out, &r.body.to_string());
        out.push_str("\r\n");
    }
    out
}

/// Records as a JSON array of `{deviceId, kind, timestamp, seq, body}`.
pub fn to_json(records: &[JournalRecord]) -> String {
    Value::Array(records.iter().map(JournalRecord::to_json).collect()).to_string()
}

// Native only: proptest does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::MemoryKv;
    use pollster::block_on;
    use proptest::prelude::*;

    fn rec(device: &str, kind: JournalKind, timestamp: Millis, n: u64) -> NewRecord {
        NewRecord {
            device: device.into(),
            kind,
            timestamp,
            body: format!(r#"{{"n":{n}}}"#),
        }
    }

    fn append(
        kv: &MemoryKv,
        retention: &Retention,
        records: &[NewRecord],
        now: Millis,
    ) -> AppendReport {
        let (ws, report) = block_on(plan_append(kv, retention, records, now)).unwrap();
        kv.apply(ws);
        report
    }

    fn numbers(records: &[JournalRecord]) -> Vec<u64> {
        records
            .iter()
            .map(|r| r.body["n"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn appends_query_by_device_kind_time_and_limit() {
        let kv = MemoryKv::default();
        let r = Retention::default();
        let report = append(
            &kv,
            &r,
            &[
                rec("a", JournalKind::Sync, 10, 1),
                rec("a", JournalKind::Audit, 10, 2),
                rec("b", JournalKind::Sync, 5, 3),
                rec("a", JournalKind::Sync, 20, 4),
                // Same timestamp: append order decides.
                rec("a", JournalKind::Sync, 20, 5),
            ],
            100,
        );
        assert_eq!(
            report,
            AppendReport {
                appended: 5,
                dropped: 0
            }
        );
        let all = block_on(query(&kv, "a", None, 0, 1_000, None)).unwrap();
        assert_eq!(numbers(&all), [1, 2, 4, 5]);
        assert_eq!(
            all.iter().map(|r| r.key.seq).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let sync = block_on(query(&kv, "a", Some(JournalKind::Sync), 15, 20, None)).unwrap();
        assert_eq!(numbers(&sync), [4, 5]);
        let newest = block_on(query(&kv, "a", None, 0, 1_000, Some(2))).unwrap();
        assert_eq!(numbers(&newest), [4, 5]);
        assert!(block_on(query(&kv, "a", None, 30, 10, None))
            .unwrap()
            .is_empty());
        assert_eq!(block_on(devices(&kv)).unwrap(), ["a", "b"]);
        // Seqs go on across appends.
        append(&kv, &r, &[rec("a", JournalKind::Lifecycle, 1, 6)], 100);
        let life = block_on(query(&kv, "a", Some(JournalKind::Lifecycle), 0, 9, None)).unwrap();
        assert_eq!(life[0].key.seq, 4);
    }

    #[test]
    fn retention_by_count_keeps_the_newest_of_each_device_and_kind() {
        let kv = MemoryKv::default();
        let r = Retention {
            max_records: 3,
            max_age: None,
        };
        for i in 0..5 {
            append(&kv, &r, &[rec("a", JournalKind::Audit, 100 + i, i)], 1_000);
        }
        // A batch over the limit, with one record older than those kept.
        let report = append(
            &kv,
            &r,
            &[
                rec("a", JournalKind::Audit, 50, 10),
                rec("a", JournalKind::Audit, 200, 11),
                rec("a", JournalKind::Sync, 1, 12),
            ],
            1_000,
        );
        assert_eq!(
            report,
            AppendReport {
                appended: 2,
                dropped: 2
            }
        );
        let audit = block_on(query(&kv, "a", Some(JournalKind::Audit), 0, 1_000, None)).unwrap();
        assert_eq!(numbers(&audit), [3, 4, 11]);
        let meta = JournalMeta::decode(
            &block_on(kv.journal_metas(&["a".into()])).unwrap()[0]
                .clone()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(meta.count(JournalKind::Audit), 3);
        assert_eq!(meta.count(JournalKind::Sync), 1);
    }

    #[test]
    fn retention_by_age_spares_lifecycle_records() {
        let kv = MemoryKv::default();
        let r = Retention {
            max_records: 100,
            max_age: Some(1_000),
        };
        append(
            &kv,
            &r,
            &[
                rec("a", JournalKind::Sync, 100, 1),
                rec("a", JournalKind::Lifecycle, 100, 2),
                rec("a", JournalKind::Sync, 1_500, 3),
            ],
            1_600,
        );
        // Now 2_600: the cut is 1_600; a new record already too old is dropped too.
        let report = append(
            &kv,
            &r,
            &[
                rec("a", JournalKind::Sync, 2_000, 4),
                rec("a", JournalKind::Sync, 10, 5),
            ],
            2_600,
        );
        assert_eq!(
            report,
            AppendReport {
                appended: 1,
                dropped: 2
            }
        );
        let all = block_on(query(&kv, "a", None, 0, 10_000, None)).unwrap();
        assert_eq!(numbers(&all), [2, 4]);
    }

    #[test]
    fn bad_records_are_refused_with_a_reason_and_nothing_is_written() {
        let kv = MemoryKv::default();
        let r = Retention::default();
        let huge = NewRecord {
            body: format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_BODY_BYTES)),
            ..rec("a", JournalKind::Audit, 1, 0)
        };
        for (bad, needle) in [
            (rec("__proto__", JournalKind::Sync, 1, 0), "device id"),
            (rec("", JournalKind::Sync, 1, 0), "device id"),
            (huge, "byte limit"),
            (
                NewRecord {
                    body: "[1]".into(),
                    ..rec("a", JournalKind::Sync, 1, 0)
                },
                "JSON object",
            ),
            (rec("a", JournalKind::Sync, MAX_SAFE_INTEGER + 1, 0), "2^53"),
        ] {
            let batch = [rec("ok", JournalKind::Sync, 1, 0), bad];
            match block_on(plan_append(&kv, &r, &batch, 0)) {
                Err(StoreError::InvalidInput(m)) => assert!(m.contains(needle), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        assert!(block_on(devices(&kv)).unwrap().is_empty());
    }

    #[test]
    fn exports_csv_and_json() {
        let kv = MemoryKv::default();
        append(
            &kv,
            &Retention::default(),
            &[NewRecord {
                body: r#"{"detail":"a, \"b\""}"#.into(),
                ..rec("d,1", JournalKind::Audit, 7, 0)
            }],
            0,
        );
        let records = block_on(query(&kv, "d,1", None, 0, 10, None)).unwrap();
        assert_eq!(
            to_csv(&records),
            "deviceId,kind,timestamp,seq,body\r\n\"d,1\",audit,7,0,\"{\"\"detail\"\":\"\"a, \\\"\"b\\\"\"\"\"}\"\r\n"
        );
        let json: Value = serde_json::from_str(&to_json(&records)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"deviceId": "d,1", "kind": "audit", "timestamp": 7, "seq": 0, "body": {"detail": "a, \"b\""}}])
        );
    }

    #[test]
    fn meta_round_trip() {
        let m = JournalMeta {
            next_seq: 9,
            counts: [1, 2, 3],
        };
        assert_eq!(JournalMeta::decode(&m.encode()).unwrap(), m);
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            for magic in [&b"TKj\x01"[..], &b"TKJ\x01"[..], &[][..]] {
                let mut framed = magic.to_vec();
                framed.extend_from_slice(&bytes);
                let _ = decode_body(&framed);
                let _ = JournalMeta::decode(&framed);
            }
        }

        /// Whatever the batches, each device and kind keeps exactly its
        /// newest `max_records` records (by key), and the meta counts them.
        #[test]
        fn count_retention_keeps_the_newest(
            batches in prop::collection::vec(
                prop::collection::vec((0..2usize, 0..3usize, 0..50u64), 1..12), 1..8),
            max in 1..6u64,
        ) {
            let kv = MemoryKv::default();
            let r = Retention { max_records: max, max_age: None };
            let mut model: Vec<JournalKey> = Vec::new();
            let mut seqs = [0u64; 2];
            let mut n = 0;
            for batch in batches {
                let records: Vec<NewRecord> = batch.iter().map(|&(d, k, t)| {
                    n += 1;
                    rec(["a", "b"][d], JournalKind::ALL[k], t, n)
                }).collect();
                for &(d, k, t) in &batch {
                    model.push(JournalKey { device: ["a", "b"][d].into(), kind: JournalKind::ALL[k], timestamp: t, seq: seqs[d] });
                    seqs[d] += 1;
                }
                append(&kv, &r, &records, 0);
            }
            for device in ["a", "b"] {
                for kind in JournalKind::ALL {
                    let mut want: Vec<JournalKey> = model.iter().filter(|k| k.device == device && k.kind == kind).cloned().collect();
                    want.sort();
                    let want = want[want.len().saturating_sub(max as usize)..].to_vec();
                    let got: Vec<JournalKey> = block_on(query(&kv, device, Some(kind), 0, 100, None)).unwrap().into_iter().map(|r| r.key).collect();
                    prop_assert_eq!(&got, &want);
                    if let Some(meta) = block_on(kv.journal_metas(&[device.into()])).unwrap()[0].clone() {
                        prop_assert_eq!(JournalMeta::decode(&meta).unwrap().count(kind), want.len() as u64);
                    }
                }
            }
        }
    }
}
