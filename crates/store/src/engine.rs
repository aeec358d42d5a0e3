//! The store's logic, over any transactional key-value backend.
//!
//! Every operation reads what it needs through [`Kv`] (inside one
//! transaction of the backend), computes in memory, and returns the writes
//! as a [`WriteSet`] that the caller applies in that same transaction. So a
//! write, its rollups and its meta update commit together or not at all (an
//! aborted transaction, such as a `QuotaExceededError`, leaves no partial
//! bucket), and nothing is cached between transactions: two tabs writing
//! the same database each read the other's committed head chunk and
//! buckets, and lose nothing.
//!
//! The same code runs natively over [`MemoryKv`] (the tests) and in the
//! browser over IndexedDB (`crate::idb`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use twinkit_core::{Millis, TelemetryValue};

use crate::bytes::MAX_SAFE_INTEGER;
use crate::chunk::{merge, Chunk};
use crate::error::StoreError;
use crate::journal::{JournalKey, JournalKind};
use crate::keys::{ChunkKey, ChunkRef, DeviceMeta, PageKey, MAX_DEVICE_PROPERTIES};
use crate::point::{same_name, Name, Point, Skipped};
use crate::rollup::{Aggregate, Bucket, Page, Resolution};

/// Reads of one backend transaction.
// The store is single-threaded (WebAssembly in a page): its futures need
// not be `Send`, which is what this lint is about.
#[allow(async_fn_in_trait)]
pub trait Kv {
    /// Encoded meta records of devices, in order (`None`: unknown device).
    async fn metas(&self, devices: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Every device with a meta record, sorted.
    async fn device_ids(&self) -> Result<Vec<String>, StoreError>;
    /// A device's chunk keys with `start <= max_start`, in key order, at
    /// most `limit` of them.
    async fn chunk_keys(
        &self,
        device: &str,
        max_start: Millis,
        limit: Option<u32>,
    ) -> Result<Vec<ChunkKey>, StoreError>;
    /// Encoded chunks by key, in order (`None`: no such chunk).
    async fn chunks(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Encoded chunks with keys in `first..=last`, in key order, in one read.
    async fn chunk_values(
        &self,
        first: &ChunkKey,
        last: &ChunkKey,
    ) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Encoded rollup pages by key, in order.
    async fn pages(&self, keys: &[PageKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Rollup pages with keys in `first..=last` (same device, property and
    /// resolution), in key order.
    async fn page_range(
        &self,
        first: &PageKey,
        last: &PageKey,
    ) -> Result<Vec<(PageKey, Vec<u8>)>, StoreError>;
    /// Encoded journal metas of devices, in order (`None`: no journal).
    async fn journal_metas(&self, devices: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Every device with a journal meta record, sorted.
    async fn journal_devices(&self) -> Result<Vec<String>, StoreError>;
    /// A device's journal records of one kind with `start <= timestamp <=
    /// end`, in key order; with `newest`, only the last that many.
    async fn journal_range(
        &self,
        device: &str,
        kind: JournalKind,
        start: Millis,
        end: Millis,
        newest: Option<u32>,
    ) -> Result<Vec<(JournalKey, Vec<u8>)>, StoreError>;
    /// A device's journal keys of one kind with `timestamp <= end`, in key
    /// order, at most `limit` of them.
    async fn journal_keys(
        &self,
        device: &str,
        kind: JournalKind,
        end: Millis,
        limit: Option<u32>,
    ) -> Result<Vec<JournalKey>, StoreError>;
}

/// Writes to apply in the transaction that read their inputs: deletes
/// first, then puts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriteSet {
    /// Chunks to delete.
    pub chunk_deletes: Vec<ChunkKey>,
    /// Chunks to write.
    pub chunk_puts: Vec<(ChunkKey, Vec<u8>)>,
    /// Rollup pages to delete, as inclusive key ranges of one device,
    /// property and resolution.
    pub page_deletes: Vec<(PageKey, PageKey)>,
    /// Rollup pages to write.
    pub page_puts: Vec<(PageKey, Vec<u8>)>,
    /// Device metas to write.
    pub meta_puts: Vec<(String, Vec<u8>)>,
    /// Journal records to delete, as inclusive key ranges of one device
    /// and kind (retention only).
    pub journal_deletes: Vec<(JournalKey, JournalKey)>,
    /// Journal records to add.
    pub journal_puts: Vec<(JournalKey, Vec<u8>)>,
    /// Journal metas to write.
    pub journal_meta_puts: Vec<(String, Vec<u8>)>,
}

impl WriteSet {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.chunk_deletes.is_empty()
            && self.chunk_puts.is_empty()
            && self.page_deletes.is_empty()
            && self.page_puts.is_empty()
            && self.meta_puts.is_empty()
            && self.journal_deletes.is_empty()
            && self.journal_puts.is_empty()
            && self.journal_meta_puts.is_empty()
    }

    /// Adds another set's writes after this one's.
    pub fn extend(&mut self, other: WriteSet) {
        self.chunk_deletes.extend(other.chunk_deletes);
        self.chunk_puts.extend(other.chunk_puts);
        self.page_deletes.extend(other.page_deletes);
        self.page_puts.extend(other.page_puts);
        self.meta_puts.extend(other.meta_puts);
        self.journal_deletes.extend(other.journal_deletes);
        self.journal_puts.extend(other.journal_puts);
        self.journal_meta_puts.extend(other.journal_meta_puts);
    }
}

/// How the store cuts chunks and what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// A chunk seals at this many points (default 1,000).
    pub chunk_points: usize,
    /// A chunk seals when it would span more than this (default 6 h).
    pub chunk_span: Millis,
    /// Points older than this (ms before now) are deleted.
    pub max_age: Option<Millis>,
    /// At most this many points per device are kept, the oldest go first.
    pub max_points: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            chunk_points: 1_000,
            chunk_span: 6 * 3_600_000,
            max_age: None,
            max_points: None,
        }
    }
}

/// What a write stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteReport {
    /// Points stored.
    pub stored: u64,
    /// Values and records refused (beyond [`MAX_DEVICE_PROPERTIES`]).
    pub skipped: Skipped,
    /// Points per device after the write.
    pub points: BTreeMap<String, u64>,
}

fn decode_meta(bytes: Option<Vec<u8>>) -> Result<Option<DeviceMeta>, StoreError> {
    bytes
        .map(|b| DeviceMeta::decode(&b).map_err(StoreError::corrupt("device meta")))
        .transpose()
}

async fn meta<K: Kv>(kv: &K, device: &str) -> Result<Option<DeviceMeta>, StoreError> {
    let mut metas = kv.metas(&[device.to_string()]).await?;
    decode_meta(metas.pop().flatten())
}

fn decode_chunk(bytes: &[u8]) -> Result<Chunk, StoreError> {
    Chunk::decode(bytes).map_err(StoreError::corrupt("chunk"))
}

fn decode_page(bytes: &[u8], r: Resolution) -> Result<Page, StoreError> {
    Page::decode(bytes, r).map_err(StoreError::corrupt("rollup page"))
}

/// An open chunk being written: where it was stored, and its points.
struct Open {
    stored_as: Option<ChunkKey>,
    id: u64,
    chunk: Chunk,
}

impl Open {
    fn new(meta: &mut DeviceMeta, point: &Point) -> Self {
        let id = meta.next_id;
        meta.next_id += 1;
        let mut chunk = Chunk::default();
        chunk.insert(point);
        Self {
            stored_as: None,
            id,
            chunk,
        }
    }

    fn fits(&self, cfg: &Config, t: Millis) -> bool {
        let (Some(s), Some(e)) = (self.chunk.start(), self.chunk.end()) else {
            return true;
        };
        self.chunk.len() < cfg.chunk_points && e.max(t) - s.min(t) <= cfg.chunk_span
    }

    fn key(&self, device: &str) -> Option<ChunkKey> {
        Some(ChunkKey {
            device: device.to_string(),
            start: self.chunk.start()?,
            end: self.chunk.end()?,
            id: self.id,
        })
    }

    fn write(self, device: &str, ws: &mut WriteSet) -> Option<ChunkRef> {
        let key = self.key(device);
        if let Some(old) = self.stored_as {
            if Some(&old) != key.as_ref() {
                ws.chunk_deletes.push(old);
            }
        }
        let key = key?;
        let r = ChunkRef::from(&key);
        ws.chunk_puts.push((key, self.chunk.encode()));
        Some(r)
    }
}

/// Bucket deltas of a write, per property index, resolution and bucket
/// start. Points mostly arrive in time order, so each (property,
/// resolution) keeps its current bucket and files it on change.
#[derive(Default)]
struct Deltas {
    filed: BTreeMap<(usize, Resolution, Millis), Bucket>,
    /// The current bucket of each (property, resolution), at
    /// `property * 3 + resolution index`.
    current: Vec<Option<(Millis, Bucket)>>,
}

impl Deltas {
    fn add(&mut self, property: usize, t: Millis, value: &TelemetryValue) {
        for (i, r) in Resolution::ALL.into_iter().enumerate() {
            let start = r.bucket_start(t);
            let at = property * 3 + i;
            if self.current.len() <= at {
                self.current.resize(at + 1, None);
            }
            let slot = self.current[at].get_or_insert((start, Bucket::default()));
            if slot.0 != start {
                let (old_start, old) = std::mem::replace(slot, (start, Bucket::default()));
                self.filed
                    .entry((property, r, old_start))
                    .or_default()
                    .merge(&old);
            }
            match value {
                TelemetryValue::Number(x) => slot.1.add(*x),
                _ => slot.1.other += 1,
            }
        }
    }

    fn finish(mut self) -> BTreeMap<(usize, Resolution, Millis), Bucket> {
        for (at, current) in self.current.into_iter().enumerate() {
            if let Some((start, b)) = current {
                let r = Resolution::ALL[at % 3];
                self.filed.entry((at / 3, r, start)).or_default().merge(&b);
            }
        }
        self.filed
    }
}

/// Plans a write of checked points: each joins its device's open head chunk
/// (or, when older than the head's start, the open late chunk), a full or
/// too-wide chunk seals and a new one opens, and every value is added to
/// its minute, hour and day buckets.
pub async fn plan_write<K: Kv>(
    kv: &K,
    cfg: &Config,
    batch: &[(Name, Point)],
) -> Result<(WriteSet, WriteReport), StoreError> {
    // Group by device; a batch's records share a few device names, so the
    // last group and a pointer comparison usually find it.
    let mut groups: Vec<(&Name, Vec<&Point>)> = Vec::new();
    let mut last = 0;
    for (device, point) in batch {
        if !groups.get(last).is_some_and(|g| same_name(g.0, device)) {
            last = match groups.iter().position(|g| same_name(g.0, device)) {
                Some(i) => i,
                None => {
                    groups.push((device, Vec::new()));
                    groups.len() - 1
                }
            };
        }
        groups[last].1.push(point);
    }
    groups.sort_by(|a, b| a.0.cmp(b.0));
    let devices: Vec<String> = groups.iter().map(|g| g.0.to_string()).collect();
    let metas: Vec<DeviceMeta> = kv
        .metas(&devices)
        .await?
        .into_iter()
        .map(|m| decode_meta(m).map(Option::unwrap_or_default))
        .collect::<Result<_, _>>()?;
    let open_keys: Vec<ChunkKey> = devices
        .iter()
        .zip(&metas)
        .flat_map(|(d, m)| [m.head, m.late].into_iter().flatten().map(|r| r.key(d)))
        .collect();
    let mut open_chunks: BTreeMap<ChunkKey, Chunk> = BTreeMap::new();
    for (key, bytes) in open_keys.iter().zip(kv.chunks(&open_keys).await?) {
        // An open chunk deleted meanwhile (deleteRange) is simply gone.
        if let Some(bytes) = bytes {
            open_chunks.insert(key.clone(), decode_chunk(&bytes)?);
        }
    }

    let mut ws = WriteSet::default();
    let mut report = WriteReport::default();
    let mut deltas: Vec<(String, String, Resolution, Millis, Bucket)> = Vec::new();
    for ((device, points), mut meta) in groups.into_iter().zip(metas) {
        let device = device.to_string();
        let mut reopen = |r: Option<ChunkRef>| {
            let key = r?.key(&device);
            let chunk = open_chunks.remove(&key)?;
            Some(Open {
                id: key.id,
                stored_as: Some(key),
                chunk,
            })
        };
        let mut head = reopen(meta.head);
        let mut late = reopen(meta.late);
        let mut sealed: Vec<Open> = Vec::new();
        let mut device_deltas = Deltas::default();
        // Delta property indexes, stable while `meta.properties` grows.
        let mut names: Vec<Name> = Vec::new();
        // The names of the last point that needed no trimming: points of a
        // device mostly carry the same ones, found by pointer.
        let mut known: Vec<Name> = Vec::new();
        for point in points {
            let mut refused = 0;
            let same_as_last = point.values.len() == known.len()
                && point
                    .values
                    .iter()
                    .zip(&known)
                    .all(|(v, k)| Rc::ptr_eq(&v.0, k));
            for (name, _) in point.values.iter().filter(|_| !same_as_last) {
                if meta
                    .properties
                    .binary_search_by(|p| p.as_str().cmp(name))
                    .is_ok()
                {
                    continue;
                }
                if meta.properties.len() >= MAX_DEVICE_PROPERTIES {
                    refused += 1;
                    continue;
                }
                let at = meta.properties.partition_point(|p| p.as_str() < &**name);
                meta.properties.insert(at, name.to_string());
            }
            if refused == 0 && !same_as_last {
                known = point.values.iter().map(|v| v.0.clone()).collect();
            }
            let trimmed;
            let point = if refused == 0 {
                point
            } else {
                report.skipped.bad_names += refused;
                trimmed = Point {
                    time: point.time,
                    values: point
                        .values
                        .iter()
                        .filter(|(n, _)| {
                            meta.properties
                                .binary_search_by(|p| p.as_str().cmp(n))
                                .is_ok()
                        })
                        .cloned()
                        .collect(),
                };
                &trimmed
            };
            if point.values.is_empty() {
                report.skipped.empty_records += 1;
                continue;
            }
            for (hint, (name, value)) in point.values.iter().enumerate() {
                let found = if names.get(hint).is_some_and(|n| same_name(n, name)) {
                    Some(hint)
                } else {
                    names.iter().position(|n| same_name(n, name))
                };
                let index = match found {
                    Some(i) => i,
                    None => {
                        names.push(name.clone());
                        names.len() - 1
                    }
                };
                device_deltas.add(index, point.time, value);
            }
            let is_late = head
                .as_ref()
                .and_then(|h| h.chunk.start())
                .is_some_and(|s| point.time < s);
            let open = if is_late { &mut late } else { &mut head };
            match open {
                Some(o) if o.fits(cfg, point.time) => o.chunk.insert(point),
                _ => {
                    let fresh = Open::new(&mut meta, point);
                    if let Some(full) = open.replace(fresh) {
                        sealed.push(full);
                    }
                }
            }
            meta.points += 1;
            report.stored += 1;
        }
        for o in sealed {
            o.write(&device, &mut ws);
        }
        meta.head = head.and_then(|o| o.write(&device, &mut ws));
        meta.late = late.and_then(|o| o.write(&device, &mut ws));
        for ((p, r, start), b) in device_deltas.finish() {
            deltas.push((device.clone(), names[p].to_string(), r, start, b));
        }
        report.points.insert(device.clone(), meta.points);
        ws.meta_puts.push((device, meta.encode()));
    }

    // Rollups: read the touched pages, add the deltas, write them back.
    let mut pages: BTreeMap<PageKey, Page> = BTreeMap::new();
    for (device, property, r, start, _) in &deltas {
        pages
            .entry(PageKey {
                device: device.clone(),
                property: property.clone(),
                resolution: *r,
                page_start: r.page_start(*start),
            })
            .or_default();
    }
    let keys: Vec<PageKey> = pages.keys().cloned().collect();
    for (key, bytes) in keys.iter().zip(kv.pages(&keys).await?) {
        if let Some(bytes) = bytes {
            pages.insert(key.clone(), decode_page(&bytes, key.resolution)?);
        }
    }
    for (device, property, r, start, b) in deltas {
        let key = PageKey {
            device,
            property,
            resolution: r,
            page_start: r.page_start(start),
        };
        if let Some(page) = pages.get_mut(&key) {
            page.buckets.entry(r.slot(start)).or_default().merge(&b);
        }
    }
    ws.page_puts = pages.into_iter().map(|(k, p)| (k, p.encode())).collect();
    Ok((ws, report))
}

/// Plans deleting a device's points with `start <= time < end`, and fixing
/// its rollups: buckets wholly inside go, a minute bucket cut in part is
/// recomputed from the points left in it, an hour bucket from its minutes,
/// a day bucket from its hours. Returns the writes and the points removed.
pub async fn plan_delete<K: Kv>(
    kv: &K,
    device: &str,
    start: Millis,
    end: Millis,
) -> Result<(WriteSet, u64), StoreError> {
    let mut ws = WriteSet::default();
    if start >= end {
        return Ok((ws, 0));
    }
    let Some(mut meta) = meta(kv, device).await? else {
        return Ok((ws, 0));
    };
    let (a, b) = (start, end);
    let minute = Resolution::Minute;
    // Every chunk with points in the minutes cut at either edge.
    let lo = minute.bucket_start(a);
    let hi = minute.bucket_start(b - 1) + minute.bucket_ms() - 1;
    let keys: Vec<ChunkKey> = kv
        .chunk_keys(device, hi, None)
        .await?
        .into_iter()
        .filter(|k| k.overlaps(lo, hi))
        .collect();
    let mut chunks: Vec<Chunk> = Vec::with_capacity(keys.len());
    for bytes in kv.chunks(&keys).await?.into_iter().flatten() {
        chunks.push(decode_chunk(&bytes)?);
    }
    let mut removed = 0u64;
    for (key, chunk) in keys.iter().zip(&mut chunks) {
        if !key.overlaps(a, b - 1) {
            continue;
        }
        let gone = chunk.retain_rows(|t| t < a || t >= b);
        if gone.is_empty() {
            continue;
        }
        removed += gone.len() as u64;
        ws.chunk_deletes.push(key.clone());
        let new = chunk.start().zip(chunk.end()).map(|(s, e)| ChunkRef {
            start: s,
            end: e,
            id: key.id,
        });
        if let Some(r) = new {
            ws.chunk_puts.push((r.key(device), chunk.encode()));
        }
        for open in [&mut meta.head, &mut meta.late] {
            if open.is_some_and(|o| o.id == key.id) {
                *open = new;
            }
        }
    }
    meta.points = meta.points.saturating_sub(removed);

    // Rollup pages: the ones holding `a` and `b - 1` are edited; the ones
    // wholly inside the range are deleted unread.
    let mut edit: BTreeMap<PageKey, Page> = BTreeMap::new();
    for property in &meta.properties {
        for r in Resolution::ALL {
            let pm = r.page_ms();
            for t in [a, b - 1] {
                let ps = r.page_start(t);
                if !(ps >= a && ps + pm <= b) {
                    edit.entry(PageKey {
                        device: device.into(),
                        property: property.clone(),
                        resolution: r,
                        page_start: ps,
                    })
                    .or_default();
                }
            }
            let first = if r.page_start(a) == a {
                a
            } else {
                r.page_start(a) + pm
            };
            if let Some(last) = r.page_start(b).checked_sub(pm) {
                if first <= last {
                    let key = |page_start| PageKey {
                        device: device.into(),
                        property: property.clone(),
                        resolution: r,
                        page_start,
                    };
                    ws.page_deletes.push((key(first), key(last)));
                }
            }
        }
    }
    let keys: Vec<PageKey> = edit.keys().cloned().collect();
    for (key, bytes) in keys.iter().zip(kv.pages(&keys).await?) {
        if let Some(bytes) = bytes {
            edit.insert(key.clone(), decode_page(&bytes, key.resolution)?);
        }
    }
    for r in Resolution::ALL {
        let w = r.bucket_ms();
        let full_start = if r.bucket_start(a) == a {
            a
        } else {
            r.bucket_start(a) + w
        };
        let full_end = r.bucket_start(b);
        let partial: BTreeSet<Millis> = [r.bucket_start(a), r.bucket_start(b - 1)]
            .into_iter()
            .filter(|&s| !(s >= full_start && s < full_end))
            .collect();
        for property in &meta.properties {
            let pages_of_r: Vec<PageKey> = edit
                .keys()
                .filter(|k| k.resolution == r && &k.property == property)
                .cloned()
                .collect();
            for key in pages_of_r {
                let mut page = edit.remove(&key).unwrap_or_default();
                page.buckets.retain(|&slot, _| {
                    let s = key.page_start + u64::from(slot) * w;
                    !(s >= full_start && s < full_end)
                });
                for &s in &partial {
                    if r.page_start(s) != key.page_start {
                        continue;
                    }
                    let bucket = match r.finer() {
                        None => raw_bucket(&chunks, property, s, s + w - 1),
                        Some(finer) => finer_bucket(&edit, device, property, finer, s, s + w),
                    };
                    if bucket.is_empty() {
                        page.buckets.remove(&r.slot(s));
                    } else {
                        page.buckets.insert(r.slot(s), bucket);
                    }
                }
                edit.insert(key, page);
            }
        }
    }
    for (key, page) in edit {
        if page.buckets.is_empty() {
            ws.page_deletes.push((key.clone(), key));
        } else {
            ws.page_puts.push((key, page.encode()));
        }
    }
    ws.meta_puts.push((device.to_string(), meta.encode()));
    Ok((ws, removed))
}

/// A property's bucket over `start..=end` recomputed from points.
fn raw_bucket(chunks: &[Chunk], property: &str, start: Millis, end: Millis) -> Bucket {
    let mut b = Bucket::default();
    for chunk in chunks {
        let Some(column) = chunk.columns.iter().find(|c| &*c.name == property) else {
            continue;
        };
        let rows = chunk.rows_within(start, end);
        for &x in &column.numbers[rows.clone()] {
            if !x.is_nan() {
                b.add(x);
            }
        }
        b.other += column
            .others
            .iter()
            .filter(|o| rows.contains(&(o.0 as usize)))
            .count() as u64;
    }
    b
}

/// A bucket over `start..end` combined from the finer buckets of `pages`.
fn finer_bucket(
    pages: &BTreeMap<PageKey, Page>,
    device: &str,
    property: &str,
    finer: Resolution,
    start: Millis,
    end: Millis,
) -> Bucket {
    let mut b = Bucket::default();
    let key = PageKey {
        device: device.into(),
        property: property.into(),
        resolution: finer,
        page_start: finer.page_start(start),
    };
    if let Some(page) = pages.get(&key) {
        let first = finer.slot(start);
        let last = first + ((end - start) / finer.bucket_ms()) as u32;
        for (_, fb) in page.buckets.range(first..last) {
            b.merge(fb);
        }
    }
    b
}

/// Plans applying the retention settings to a device at `now`: points older
/// than `max_age`, then the oldest beyond `max_points`. `None` when nothing
/// is due.
pub async fn plan_retention<K: Kv>(
    kv: &K,
    cfg: &Config,
    device: &str,
    now: Millis,
) -> Result<Option<(WriteSet, u64)>, StoreError> {
    let mut cut: Option<Millis> = None;
    if let Some(age) = cfg.max_age {
        let limit = now.saturating_sub(age);
        let first = kv.chunk_keys(device, MAX_SAFE_INTEGER, Some(1)).await?;
        if first.first().is_some_and(|k| k.start < limit) {
            cut = Some(limit);
        }
    }
    if let Some(max_points) = cfg.max_points {
        let points = meta(kv, device).await?.map_or(0, |m| m.points);
        if points > max_points {
            let excess = (points - max_points) as usize;
            let keys = kv.chunk_keys(device, MAX_SAFE_INTEGER, None).await?;
            let mut times: Vec<Millis> = Vec::new();
            // Chunks start in key order, so once the chunks up to k are read,
            // every point before chunk k+1's start is known.
            for (i, batch) in keys.chunks(32).enumerate() {
                for bytes in kv.chunks(batch).await?.into_iter().flatten() {
                    times.extend(decode_chunk(&bytes)?.times);
                }
                let bound = keys.get((i + 1) * 32).map_or(Millis::MAX, |k| k.start);
                let mut known: Vec<Millis> = times.iter().copied().filter(|&t| t < bound).collect();
                if known.len() >= excess {
                    known.sort_unstable();
                    let t = known[excess - 1] + 1;
                    cut = Some(cut.map_or(t, |c| c.max(t)));
                    break;
                }
            }
        }
    }
    match cut {
        None => Ok(None),
        Some(cut) => Ok(Some(plan_delete(kv, device, 0, cut).await?)),
    }
}

/// A device's points with `start <= time <= end`, merged and time-sorted;
/// with `property`, only the points holding it, with only its value.
pub async fn query<K: Kv>(
    kv: &K,
    device: &str,
    start: Millis,
    end: Millis,
    property: Option<&str>,
) -> Result<Chunk, StoreError> {
    if start > end {
        return Ok(Chunk::default());
    }
    let keys: Vec<ChunkKey> = kv.chunk_keys(device, end, None).await?;
    let Some(first) = keys.iter().position(|k| k.end >= start) else {
        return Ok(Chunk::default());
    };
    let keys = &keys[first..];
    let values = kv.chunk_values(&keys[0], &keys[keys.len() - 1]).await?;
    let mut chunks = Vec::new();
    for (key, bytes) in keys.iter().zip(&values) {
        if key.end >= start {
            chunks.push(decode_chunk(bytes)?);
        }
    }
    if let Some(property) = property {
        for c in &mut chunks {
            c.columns.retain(|col| &*col.name == property);
            let column = c.columns.first().cloned();
            let has = |row: usize| column.as_ref().is_some_and(|col| col.value(row).is_some());
            let keep: Vec<bool> = (0..c.len()).map(has).collect();
            let mut row = 0;
            c.retain_rows(|_| {
                row += 1;
                keep[row - 1]
            });
        }
    }
    Ok(merge(&chunks, start, end))
}

/// The buckets of `property` at `resolution` overlapping `start..=end`
/// (whole buckets), from the rollups.
pub async fn aggregate<K: Kv>(
    kv: &K,
    device: &str,
    property: &str,
    start: Millis,
    end: Millis,
    r: Resolution,
) -> Result<Vec<Aggregate>, StoreError> {
    if start > end {
        return Ok(Vec::new());
    }
    let first_bucket = r.bucket_start(start);
    let key = |page_start| PageKey {
        device: device.into(),
        property: property.into(),
        resolution: r,
        page_start,
    };
    let pages = kv
        .page_range(&key(r.page_start(start)), &key(r.page_start(end)))
        .await?;
    let mut out = Vec::new();
    for (key, bytes) in pages {
        for (slot, bucket) in decode_page(&bytes, r)?.buckets {
            let timestamp = key.page_start + u64::from(slot) * r.bucket_ms();
            if timestamp >= first_bucket && timestamp <= end {
                out.push(Aggregate { timestamp, bucket });
            }
        }
    }
    Ok(out)
}

/// The same buckets as [`aggregate`], recomputed from the raw points (slow:
/// for checking rollups, and as the benchmark's baseline).
pub async fn aggregate_raw<K: Kv>(
    kv: &K,
    device: &str,
    property: &str,
    start: Millis,
    end: Millis,
    r: Resolution,
) -> Result<Vec<Aggregate>, StoreError> {
    if start > end {
        return Ok(Vec::new());
    }
    let from = r.bucket_start(start);
    let to = r.bucket_start(end).saturating_add(r.bucket_ms() - 1);
    let points = query(kv, device, from, to, Some(property)).await?;
    Ok(buckets_of(&points, property, r))
}

/// Buckets of one property of a time-sorted series.
pub fn buckets_of(series: &Chunk, property: &str, r: Resolution) -> Vec<Aggregate> {
    let mut out: Vec<Aggregate> = Vec::new();
    let Some(column) = series.columns.iter().find(|c| &*c.name == property) else {
        return out;
    };
    for (row, &t) in series.times.iter().enumerate() {
        let timestamp = r.bucket_start(t);
        if out.last().is_none_or(|a| a.timestamp != timestamp) {
            out.push(Aggregate {
                timestamp,
                bucket: Bucket::default(),
            });
        }
        let b = &mut out.last_mut().expect("pushed above").bucket;
        match column.value(row) {
            Some(TelemetryValue::Number(x)) => b.add(x),
            Some(_) => b.other += 1,
            None => {}
        }
    }
    out.retain(|a| !a.bucket.is_empty());
    out
}

/// A device's newest point (the last one stored at the latest time).
pub async fn latest<K: Kv>(kv: &K, device: &str) -> Result<Option<Point>, StoreError> {
    let keys = kv.chunk_keys(device, MAX_SAFE_INTEGER, None).await?;
    let Some(max_end) = keys.iter().map(|k| k.end).max() else {
        return Ok(None);
    };
    let newest: Vec<ChunkKey> = keys.into_iter().filter(|k| k.end == max_end).collect();
    let mut best: Option<(u64, Point)> = None;
    for (key, bytes) in newest.iter().zip(kv.chunks(&newest).await?) {
        let Some(bytes) = bytes else { continue };
        let chunk = decode_chunk(&bytes)?;
        if let Some(row) = chunk.len().checked_sub(1) {
            if best.as_ref().is_none_or(|(id, _)| key.id > *id) {
                best = Some((key.id, chunk.point(row)));
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Plans rebuilding a device's meta and rollups from its chunks alone (the
/// upgrade from schema version 1, which kept neither).
pub async fn plan_rebuild<K: Kv>(kv: &K, device: &str) -> Result<WriteSet, StoreError> {
    let keys = kv.chunk_keys(device, MAX_SAFE_INTEGER, None).await?;
    let mut meta = DeviceMeta::default();
    let mut deltas = Deltas::default();
    let mut properties: Vec<String> = Vec::new();
    for batch in keys.chunks(64) {
        for bytes in kv.chunks(batch).await?.into_iter().flatten() {
            let chunk = decode_chunk(&bytes)?;
            meta.points += chunk.len() as u64;
            for column in &chunk.columns {
                let p = match properties.iter().position(|p| **p == *column.name) {
                    Some(p) => p,
                    None => {
                        properties.push(column.name.to_string());
                        properties.len() - 1
                    }
                };
                for row in 0..chunk.len() {
                    if let Some(v) = column.value(row) {
                        deltas.add(p, chunk.times[row], &v);
                    }
                }
            }
        }
    }
    meta.next_id = keys.iter().map(|k| k.id + 1).max().unwrap_or(0);
    meta.head = keys
        .iter()
        .max_by_key(|k| (k.start, k.id))
        .map(ChunkRef::from);
    let mut pages: BTreeMap<PageKey, Page> = BTreeMap::new();
    for ((p, r, start), b) in deltas.finish() {
        pages
            .entry(PageKey {
                device: device.into(),
                property: properties[p].clone(),
                resolution: r,
                page_start: r.page_start(start),
            })
            .or_default()
            .buckets
            .entry(r.slot(start))
            .or_default()
            .merge(&b);
    }
    properties.sort();
    meta.properties = properties;
    let mut ws = WriteSet {
        page_puts: pages.into_iter().map(|(k, p)| (k, p.encode())).collect(),
        ..WriteSet::default()
    };
    ws.meta_puts.push((device.to_string(), meta.encode()));
    Ok(ws)
}

/// An in-memory backend: the store natively, and the tests' reference.
#[derive(Debug, Default)]
pub struct MemoryKv {
    chunks: RefCell<BTreeMap<ChunkKey, Vec<u8>>>,
    pages: RefCell<BTreeMap<PageKey, Vec<u8>>>,
    metas: RefCell<BTreeMap<String, Vec<u8>>>,
    journal: RefCell<BTreeMap<JournalKey, Vec<u8>>>,
    journal_metas: RefCell<BTreeMap<String, Vec<u8>>>,
}

impl MemoryKv {
    /// Applies writes (deletes first, then puts).
    pub fn apply(&self, ws: WriteSet) {
        let mut chunks = self.chunks.borrow_mut();
        let mut pages = self.pages.borrow_mut();
        for k in ws.chunk_deletes {
            chunks.remove(&k);
        }
        for (first, last) in ws.page_deletes {
            let doomed: Vec<PageKey> = pages.range(first..=last).map(|(k, _)| k.clone()).collect();
            for k in doomed {
                pages.remove(&k);
            }
        }
        chunks.extend(ws.chunk_puts);
        pages.extend(ws.page_puts);
        self.metas.borrow_mut().extend(ws.meta_puts);
        let mut journal = self.journal.borrow_mut();
        for (first, last) in ws.journal_deletes {
            let doomed: Vec<JournalKey> = journal
                .range(first..=last)
                .map(|(k, _)| k.clone())
                .collect();
            for k in doomed {
                journal.remove(&k);
            }
        }
        journal.extend(ws.journal_puts);
        self.journal_metas.borrow_mut().extend(ws.journal_meta_puts);
    }

    /// Number of chunk records.
    pub fn chunk_count(&self) -> usize {
        self.chunks.borrow().len()
    }

    /// Every chunk key.
    pub fn chunk_keys_all(&self) -> Vec<ChunkKey> {
        self.chunks.borrow().keys().cloned().collect()
    }

    /// Replaces a stored chunk's bytes (to test corruption).
    pub fn corrupt_chunk(&self, key: &ChunkKey, bytes: Vec<u8>) {
        self.chunks.borrow_mut().insert(key.clone(), bytes);
    }
}

impl Kv for MemoryKv {
    async fn metas(&self, devices: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let metas = self.metas.borrow();
        Ok(devices.iter().map(|d| metas.get(d).cloned()).collect())
    }

    async fn device_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.metas.borrow().keys().cloned().collect())
    }

    async fn chunk_keys(
        &self,
        device: &str,
        max_start: Millis,
        limit: Option<u32>,
    ) -> Result<Vec<ChunkKey>, StoreError> {
        let chunks = self.chunks.borrow();
        let lo = ChunkKey {
            device: device.into(),
            start: 0,
            end: 0,
            id: 0,
        };
        Ok(chunks
            .range(lo..)
            .map(|(k, _)| k)
            .take_while(|k| k.device == device && k.start <= max_start)
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .cloned()
            .collect())
    }

    async fn chunks(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let chunks = self.chunks.borrow();
        Ok(keys.iter().map(|k| chunks.get(k).cloned()).collect())
    }

    async fn chunk_values(
        &self,
        first: &ChunkKey,
        last: &ChunkKey,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let chunks = self.chunks.borrow();
        Ok(chunks
            .range(first.clone()..=last.clone())
            .map(|(_, v)| v.clone())
            .collect())
    }

    async fn pages(&self, keys: &[PageKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let pages = self.pages.borrow();
        Ok(keys.iter().map(|k| pages.get(k).cloned()).collect())
    }

    async fn page_range(
        &self,
        first: &PageKey,
        last: &PageKey,
    ) -> Result<Vec<(PageKey, Vec<u8>)>, StoreError> {
        let pages = self.pages.borrow();
        Ok(pages
            .range(first.clone()..=last.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn journal_metas(&self, devices: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let metas = self.journal_metas.borrow();
        Ok(devices.iter().map(|d| metas.get(d).cloned()).collect())
    }

    async fn journal_devices(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.journal_metas.borrow().keys().cloned().collect())
    }

    async fn journal_range(
        &self,
        device: &str,
        kind: JournalKind,
        start: Millis,
        end: Millis,
        newest: Option<u32>,
    ) -> Result<Vec<(JournalKey, Vec<u8>)>, StoreError> {
        let journal = self.journal.borrow();
        let lo = JournalKey {
            timestamp: start,
            ..JournalKey::first(device, kind)
        };
        let hi = JournalKey {
            timestamp: end,
            seq: u64::MAX,
            ..JournalKey::first(device, kind)
        };
        let mut out: Vec<(JournalKey, Vec<u8>)> = journal
            .range(lo..=hi)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(n) = newest {
            out.drain(..out.len().saturating_sub(n as usize));
        }
        Ok(out)
    }

    async fn journal_keys(
        &self,
        device: &str,
        kind: JournalKind,
        end: Millis,
        limit: Option<u32>,
    ) -> Result<Vec<JournalKey>, StoreError> {
        let journal = self.journal.borrow();
        let hi = JournalKey {
            timestamp: end,
            seq: u64::MAX,
            ..JournalKey::first(device, kind)
        };
        Ok(journal
            .range(JournalKey::first(device, kind)..=hi)
            .map(|(k, _)| k.clone())
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .collect())
    }
}
