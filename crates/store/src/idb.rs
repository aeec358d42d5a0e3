//! The engine over IndexedDB, with rexie.
//!
//! Schema version 3 (this build): object stores `chunks` (keys
//! `[deviceId, start, end, id]`), `rollups` (keys `[deviceId, property,
//! resolution, pageStart]`), `journal` (keys `[deviceId, kind, timestamp,
//! seq]`) and `meta` (`["device", deviceId]` and `["journal", deviceId]`
//! per device, and `"schema"`), every value a `Uint8Array` in the formats
//! of [`crate::chunk`], [`crate::rollup`], [`crate::journal`] and
//! [`crate::keys`].
//!
//! Upgrades keep every record: version 1 had `chunks` and `meta` only, so
//! opening it adds `rollups` and `journal` and rebuilds rollups and device
//! metas from the chunks, once; version 2 lacked `journal`, which opening
//! it adds, empty.
//!
//! Every operation runs in one transaction: the engine reads through
//! [`IdbKv`], then [`apply`] writes its [`WriteSet`] and the transaction
//! commits. A connection closed under us (a `versionchange` from another
//! tab: rexie closes it) is reopened on the next operation.

use std::cell::RefCell;

use futures_util::future::join_all;
use js_sys::{Array, Uint8Array};
use rexie::{KeyRange, ObjectStore, Rexie, Store, Transaction, TransactionMode};
use twinkit_core::Millis;
use wasm_bindgen::{JsCast, JsValue};

use crate::chunk::Chunk;
use crate::engine::{self, Config, Kv, WriteReport, WriteSet};
use crate::error::StoreError;
use crate::journal::{
    self, AppendReport, JournalKey, JournalKind, JournalRecord, NewRecord, Retention,
};
use crate::keys::{ChunkKey, PageKey};
use crate::point::{Name, Point};
use crate::rollup::{Aggregate, Resolution};

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: u32 = 3;
const CHUNKS: &str = "chunks";
const ROLLUPS: &str = "rollups";
const JOURNAL: &str = "journal";
const META: &str = "meta";
const ALL: [&str; 4] = [CHUNKS, ROLLUPS, JOURNAL, META];

fn backend(e: impl std::fmt::Debug) -> StoreError {
    let text = format!("{e:?}");
    if text.contains("QuotaExceededError") {
        StoreError::QuotaExceeded(text)
    } else {
        StoreError::Backend(text)
    }
}

fn num(n: Millis) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn chunk_key_js(k: &ChunkKey) -> JsValue {
    Array::of4(
        &k.device.as_str().into(),
        &num(k.start),
        &num(k.end),
        &num(k.id),
    )
    .into()
}

fn page_key_js(k: &PageKey) -> JsValue {
    Array::of4(
        &k.device.as_str().into(),
        &k.property.as_str().into(),
        &JsValue::from_f64(f64::from(k.resolution.code())),
        &num(k.page_start),
    )
    .into()
}

fn meta_key_js(device: &str) -> JsValue {
    Array::of2(&"device".into(), &device.into()).into()
}

fn journal_meta_key_js(device: &str) -> JsValue {
    Array::of2(&"journal".into(), &device.into()).into()
}

fn journal_key_js(k: &JournalKey) -> JsValue {
    Array::of4(
        &k.device.as_str().into(),
        &k.kind.as_str().into(),
        &num(k.timestamp),
        &num(k.seq),
    )
    .into()
}

fn journal_key_from_js(v: &JsValue) -> Result<JournalKey, StoreError> {
    let a: &Array = v.dyn_ref().ok_or_else(corrupt_key)?;
    if a.length() != 4 {
        return Err(corrupt_key());
    }
    Ok(JournalKey {
        device: a.get(0).as_string().ok_or_else(corrupt_key)?,
        kind: a
            .get(1)
            .as_string()
            .and_then(|k| JournalKind::parse(&k))
            .ok_or_else(corrupt_key)?,
        timestamp: int(&a.get(2))?,
        seq: int(&a.get(3))?,
    })
}

/// Keys of one device and kind with `start <= timestamp <= end`.
fn journal_range_js(
    device: &str,
    kind: JournalKind,
    start: Millis,
    end: Millis,
) -> Result<KeyRange, StoreError> {
    let lo: JsValue = Array::of3(&device.into(), &kind.as_str().into(), &num(start)).into();
    let hi: JsValue = Array::of4(
        &device.into(),
        &kind.as_str().into(),
        &num(end),
        &after_all(),
    )
    .into();
    range(&lo, &hi)
}

fn corrupt_key() -> StoreError {
    StoreError::Corrupt {
        what: "key",
        source: crate::DecodeError::Invalid("unexpected key shape"),
    }
}

fn int(v: &JsValue) -> Result<Millis, StoreError> {
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= crate::MAX_SAFE_INTEGER as f64 => {
            Ok(n as Millis)
        }
        _ => Err(corrupt_key()),
    }
}

fn chunk_key_from_js(v: &JsValue) -> Result<ChunkKey, StoreError> {
    let a: &Array = v.dyn_ref().ok_or_else(corrupt_key)?;
    if a.length() != 4 {
        return Err(corrupt_key());
    }
    Ok(ChunkKey {
        device: a.get(0).as_string().ok_or_else(corrupt_key)?,
        start: int(&a.get(1))?,
        end: int(&a.get(2))?,
        id: int(&a.get(3))?,
    })
}

fn page_key_from_js(v: &JsValue) -> Result<PageKey, StoreError> {
    let a: &Array = v.dyn_ref().ok_or_else(corrupt_key)?;
    if a.length() != 4 {
        return Err(corrupt_key());
    }
    Ok(PageKey {
        device: a.get(0).as_string().ok_or_else(corrupt_key)?,
        property: a.get(1).as_string().ok_or_else(corrupt_key)?,
        resolution: u8::try_from(int(&a.get(2))?)
            .ok()
            .and_then(Resolution::from_code)
            .ok_or_else(corrupt_key)?,
        page_start: int(&a.get(3))?,
    })
}

fn bytes_from_js(v: JsValue, what: &'static str) -> Result<Vec<u8>, StoreError> {
    v.dyn_into::<Uint8Array>()
        .map(|a| a.to_vec())
        .map_err(|_| StoreError::Corrupt {
            what,
            source: crate::DecodeError::Invalid("not a Uint8Array"),
        })
}

fn bytes_js(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

fn range(lo: &JsValue, hi: &JsValue) -> Result<KeyRange, StoreError> {
    KeyRange::bound(lo, hi, Some(false), Some(false)).map_err(backend)
}

/// An array that sorts after every number, string and date: the upper end
/// of "every key starting with …".
fn after_all() -> JsValue {
    Array::new().into()
}

/// The engine's reads, inside one rexie transaction.
pub struct IdbKv<'a> {
    tx: &'a Transaction,
}

impl std::fmt::Debug for IdbKv<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbKv").finish_non_exhaustive()
    }
}

impl IdbKv<'_> {
    fn store(&self, name: &str) -> Result<Store, StoreError> {
        self.tx.store(name).map_err(backend)
    }

    /// One `meta` record per device, keyed by `key` (chunk index or journal
    /// counters), `None` where a device has none.
    async fn meta_records(
        &self,
        devices: &[String],
        key: fn(&str) -> JsValue,
        what: &'static str,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let store = self.store(META)?;
        let gets = devices.iter().map(|d| store.get(key(d)));
        join_all(gets)
            .await
            .into_iter()
            .map(|r| {
                r.map_err(backend)?
                    .map(|v| bytes_from_js(v, what))
                    .transpose()
            })
            .collect()
    }

    /// The devices with a `meta` record under `tag` (keys `[tag, device]`).
    async fn meta_devices(&self, tag: &str) -> Result<Vec<String>, StoreError> {
        let lo: JsValue = Array::of1(&tag.into()).into();
        let hi: JsValue = Array::of2(&tag.into(), &after_all()).into();
        let keys = self
            .store(META)?
            .get_all_keys(Some(range(&lo, &hi)?), None)
            .await
            .map_err(backend)?;
        keys.iter()
            .map(|k| {
                k.dyn_ref::<Array>()
                    .and_then(|a| a.get(1).as_string())
                    .ok_or_else(corrupt_key)
            })
            .collect()
    }
}

impl Kv for IdbKv<'_> {
    async fn metas(&self, devices: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.meta_records(devices, meta_key_js, "device meta").await
    }

    async fn device_ids(&self) -> Result<Vec<String>, StoreError> {
        self.meta_devices("device").await
    }

    async fn chunk_keys(
        &self,
        device: &str,
        max_start: Millis,
        limit: Option<u32>,
    ) -> Result<Vec<ChunkKey>, StoreError> {
        let lo: JsValue = Array::of1(&device.into()).into();
        let hi: JsValue = Array::of3(&device.into(), &num(max_start), &after_all()).into();
        let keys = self
            .store(CHUNKS)?
            .get_all_keys(Some(range(&lo, &hi)?), limit)
            .await
            .map_err(backend)?;
        keys.iter().map(chunk_key_from_js).collect()
    }

    async fn chunks(&self, keys: &[ChunkKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let store = self.store(CHUNKS)?;
        let gets = keys.iter().map(|k| store.get(chunk_key_js(k)));
        join_all(gets)
            .await
            .into_iter()
            .map(|r| {
                r.map_err(backend)?
                    .map(|v| bytes_from_js(v, "chunk"))
                    .transpose()
            })
            .collect()
    }

    async fn chunk_values(
        &self,
        first: &ChunkKey,
        last: &ChunkKey,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let values = self
            .store(CHUNKS)?
            .get_all(
                Some(range(&chunk_key_js(first), &chunk_key_js(last))?),
                None,
            )
            .await
            .map_err(backend)?;
        values
            .into_iter()
            .map(|v| bytes_from_js(v, "chunk"))
            .collect()
    }

    async fn pages(&self, keys: &[PageKey]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let store = self.store(ROLLUPS)?;
        let gets = keys.iter().map(|k| store.get(page_key_js(k)));
        join_all(gets)
            .await
            .into_iter()
            .map(|r| {
                r.map_err(backend)?
                    .map(|v| bytes_from_js(v, "rollup page"))
                    .transpose()
            })
            .collect()
    }

    async fn page_range(
        &self,
        first: &PageKey,
        last: &PageKey,
    ) -> Result<Vec<(PageKey, Vec<u8>)>, StoreError> {
        let store = self.store(ROLLUPS)?;
        let r = || range(&page_key_js(first), &page_key_js(last));
        let (keys, values) = futures_util::future::join(
            store.get_all_keys(Some(r()?), None),
            store.get_all(Some(r()?), None),
        )
        .await;
        let (keys, values) = (keys.map_err(backend)?, values.map_err(backend)?);
        if keys.len() != values.len() {
            return Err(StoreError::Backend("page keys and values differ".into()));
        }
        keys.iter()
            .zip(values)
            .map(|(k, v)| Ok((page_key_from_js(k)?, bytes_from_js(v, "rollup page")?)))
            .collect()
    }
    async fn journal_metas(&self, devices: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.meta_records(devices, journal_meta_key_js, "journal meta")
            .await
    }

    async fn journal_devices(&self) -> Result<Vec<String>, StoreError> {
        self.meta_devices("journal").await
    }

    async fn journal_range(
        &self,
        device: &str,
        kind: JournalKind,
        start: Millis,
        end: Millis,
        newest: Option<u32>,
    ) -> Result<Vec<(JournalKey, Vec<u8>)>, StoreError> {
        self.journal_range_impl(device, kind, start, end, newest)
            .await
    }

    async fn journal_keys(
        &self,
        device: &str,
        kind: JournalKind,
        end: Millis,
        limit: Option<u32>,
    ) -> Result<Vec<JournalKey>, StoreError> {
        let keys = self
            .store(JOURNAL)?
            .get_all_keys(Some(journal_range_js(device, kind, 0, end)?), limit)
            .await
            .map_err(backend)?;
        keys.iter().map(journal_key_from_js).collect()
    }
}

impl IdbKv<'_> {
    async fn journal_range_impl(
        &self,
        device: &str,
        kind: JournalKind,
        start: Millis,
        end: Millis,
        newest: Option<u32>,
    ) -> Result<Vec<(JournalKey, Vec<u8>)>, StoreError> {
        let store = self.store(JOURNAL)?;
        let r = || journal_range_js(device, kind, start, end);
        let pairs: Vec<(JsValue, JsValue)> = match newest {
            // The newest few: a cursor walking back.
            Some(n) => {
                let mut pairs = store
                    .scan(Some(r()?), Some(n), None, Some(rexie::Direction::Prev))
                    .await
                    .map_err(backend)?;
                pairs.reverse();
                pairs
            }
            None => {
                let (keys, values) = futures_util::future::join(
                    store.get_all_keys(Some(r()?), None),
                    store.get_all(Some(r()?), None),
                )
                .await;
                let (keys, values) = (keys.map_err(backend)?, values.map_err(backend)?);
                if keys.len() != values.len() {
                    return Err(StoreError::Backend("journal keys and values differ".into()));
                }
                keys.into_iter().zip(values).collect()
            }
        };
        pairs
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    journal_key_from_js(&k)?,
                    bytes_from_js(v, "journal record")?,
                ))
            })
            .collect()
    }
}

/// Issues a write set's requests in the transaction (deletes first, then
/// puts) and waits for them.
pub async fn apply(tx: &Transaction, ws: WriteSet) -> Result<(), StoreError> {
    let chunks = tx.store(CHUNKS).map_err(backend)?;
    let rollups = tx.store(ROLLUPS).map_err(backend)?;
    let meta = tx.store(META).map_err(backend)?;
    let journal = tx.store(JOURNAL).map_err(backend)?;
    let mut deletes = Vec::new();
    for k in &ws.chunk_deletes {
        deletes.push(chunks.delete(chunk_key_js(k)));
    }
    for (lo, hi) in &ws.page_deletes {
        let r = range(&page_key_js(lo), &page_key_js(hi))?;
        deletes.push(rollups.delete(r.into()));
    }
    for (lo, hi) in &ws.journal_deletes {
        let r = range(&journal_key_js(lo), &journal_key_js(hi))?;
        deletes.push(journal.delete(r.into()));
    }
    for r in join_all(deletes).await {
        r.map_err(backend)?;
    }
    let puts = |ws: Vec<(JsValue, Vec<u8>)>| {
        ws.into_iter()
            .map(|(k, v)| (bytes_js(&v), Some(k)))
            .collect::<Vec<_>>()
    };
    let chunk_puts = puts(
        ws.chunk_puts
            .iter()
            .map(|(k, v)| (chunk_key_js(k), v.clone()))
            .collect(),
    );
    let page_puts = puts(
        ws.page_puts
            .iter()
            .map(|(k, v)| (page_key_js(k), v.clone()))
            .collect(),
    );
    let meta_puts = puts(
        ws.meta_puts
            .iter()
            .map(|(d, v)| (meta_key_js(d), v.clone()))
            .chain(
                ws.journal_meta_puts
                    .iter()
                    .map(|(d, v)| (journal_meta_key_js(d), v.clone())),
            )
            .collect(),
    );
    let journal_puts = puts(
        ws.journal_puts
            .iter()
            .map(|(k, v)| (journal_key_js(k), v.clone()))
            .collect(),
    );
    let (a, b, c, d) = futures_util::future::join4(
        chunks.put_all(chunk_puts.into_iter()),
        rollups.put_all(page_puts.into_iter()),
        meta.put_all(meta_puts.into_iter()),
        journal.put_all(journal_puts.into_iter()),
    )
    .await;
    a.and(b).and(c).and(d).map_err(backend)
}

async fn finish(tx: Transaction) -> Result<(), StoreError> {
    match tx.done().await.map_err(backend)? {
        rexie::TransactionResult::Committed => Ok(()),
        // Every request succeeded (a failed one is an error above) and this
        // code never aborts, so the browser aborted the transaction at
        // commit: IndexedDB does that when the origin's quota would be
        // exceeded. (Rexie does not expose `transaction.error`, and
        // `navigator.storage.estimate()` does not show quota overrides.)
        rexie::TransactionResult::Aborted => Err(StoreError::QuotaExceeded(
            "the browser aborted the transaction at commit".into(),
        )),
    }
}

fn builder(name: &str, version: Option<u32>) -> rexie::RexieBuilder {
    let mut b = Rexie::builder(name);
    if let Some(v) = version {
        b = b.version(v);
    }
    b.add_object_store(ObjectStore::new(CHUNKS))
        .add_object_store(ObjectStore::new(ROLLUPS))
        .add_object_store(ObjectStore::new(JOURNAL))
        .add_object_store(ObjectStore::new(META))
}

/// Creates a database at schema version 1 holding the given encoded chunks:
/// for testing the upgrade path.
#[doc(hidden)]
pub async fn create_v1(name: &str, chunks: &[(ChunkKey, Vec<u8>)]) -> Result<(), StoreError> {
    let db = Rexie::builder(name)
        .version(1)
        .add_object_store(ObjectStore::new(CHUNKS))
        .add_object_store(ObjectStore::new(META))
        .build()
        .await
        .map_err(backend)?;
    let tx = db
        .transaction(&[CHUNKS, META], TransactionMode::ReadWrite)
        .map_err(backend)?;
    let store = tx.store(CHUNKS).map_err(backend)?;
    let puts: Vec<(JsValue, Option<JsValue>)> = chunks
        .iter()
        .map(|(k, v)| (bytes_js(v), Some(chunk_key_js(k))))
        .collect();
    store.put_all(puts.into_iter()).await.map_err(backend)?;
    tx.store(META)
        .map_err(backend)?
        .put(&JsValue::from_f64(1.0), Some(&"schema".into()))
        .await
        .map_err(backend)?;
    finish(tx).await?;
    db.close();
    Ok(())
}

/// Creates a database at schema version 2 (no journal) holding the given
/// points, written by this build's engine: for testing the upgrade path.
#[doc(hidden)]
pub async fn create_v2(
    name: &str,
    cfg: &Config,
    batch: &[(Name, Point)],
) -> Result<(), StoreError> {
    let db = Rexie::builder(name)
        .version(2)
        .add_object_store(ObjectStore::new(CHUNKS))
        .add_object_store(ObjectStore::new(ROLLUPS))
        .add_object_store(ObjectStore::new(META))
        .build()
        .await
        .map_err(backend)?;
    let tx = db
        .transaction(&[CHUNKS, ROLLUPS, META], TransactionMode::ReadWrite)
        .map_err(backend)?;
    // The engine's reads and writes touch no journal for points.
    let (ws, _) = engine::plan_write(&IdbKv { tx: &tx }, cfg, batch).await?;
    let put = |store: &str, rows: Vec<(JsValue, Vec<u8>)>| {
        let store = tx.store(store).map_err(backend);
        async move {
            let rows: Vec<(JsValue, Option<JsValue>)> = rows
                .into_iter()
                .map(|(k, v)| (bytes_js(&v), Some(k)))
                .collect();
            store?.put_all(rows.into_iter()).await.map_err(backend)
        }
    };
    put(
        CHUNKS,
        ws.chunk_puts
            .iter()
            .map(|(k, v)| (chunk_key_js(k), v.clone()))
            .collect(),
    )
    .await?;
    put(
        ROLLUPS,
        ws.page_puts
            .iter()
            .map(|(k, v)| (page_key_js(k), v.clone()))
            .collect(),
    )
    .await?;
    put(
        META,
        ws.meta_puts
            .iter()
            .map(|(d, v)| (meta_key_js(d), v.clone()))
            .collect(),
    )
    .await?;
    tx.store(META)
        .map_err(backend)?
        .put(&JsValue::from_f64(2.0), Some(&"schema".into()))
        .await
        .map_err(backend)?;
    finish(tx).await?;
    db.close();
    Ok(())
}

/// A connection to one store database that reopens itself when closed.
#[derive(Debug)]
pub struct Database {
    name: String,
    conn: RefCell<Option<Rexie>>,
}

impl Database {
    /// Opens (creating or upgrading) the database `name`.
    pub async fn open(name: &str) -> Result<Database, StoreError> {
        let db = Database {
            name: name.to_string(),
            conn: RefCell::new(None),
        };
        db.connect().await?;
        db.migrate().await?;
        Ok(db)
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn connect(&self) -> Result<(), StoreError> {
        let rexie = match builder(&self.name, Some(SCHEMA_VERSION)).build().await {
            Ok(r) => r,
            // A newer build upgraded the database meanwhile: use it as it is
            // (its stores are a superset of ours).
            Err(e) if format!("{e:?}").contains("VersionError") => {
                builder(&self.name, None).build().await.map_err(backend)?
            }
            Err(e) => return Err(backend(e)),
        };
        if let Some(old) = self.conn.replace(Some(rexie)) {
            old.close();
        }
        Ok(())
    }

    /// Brings the records of an older schema up to this one, once: a
    /// version-1 database gets its rollups and device metas rebuilt; a
    /// version-2 one needs nothing (its new `journal` store starts empty).
    /// A newer schema (another tab's newer build) is left as it is.
    async fn migrate(&self) -> Result<(), StoreError> {
        let tx = self.transaction(TransactionMode::ReadWrite).await?;
        let meta = tx.store(META).map_err(backend)?;
        let schema = meta
            .get("schema".into())
            .await
            .map_err(backend)?
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        if schema >= f64::from(SCHEMA_VERSION) {
            return finish(tx).await;
        }
        if schema < 2.0 {
            let keys = tx
                .store(CHUNKS)
                .map_err(backend)?
                .get_all_keys(None, None)
                .await
                .map_err(backend)?;
            let mut devices: Vec<String> = keys
                .iter()
                .filter_map(|k| chunk_key_from_js(k).ok().map(|k| k.device))
                .collect();
            devices.dedup();
            let kv = IdbKv { tx: &tx };
            for device in devices {
                apply(&tx, engine::plan_rebuild(&kv, &device).await?).await?;
            }
        }
        meta.put(
            &JsValue::from_f64(f64::from(SCHEMA_VERSION)),
            Some(&"schema".into()),
        )
        .await
        .map_err(backend)?;
        finish(tx).await
    }

    /// A transaction over every store; reopens a connection that was
    /// closed (by a `versionchange` from another tab, or `close`).
    async fn transaction(&self, mode: TransactionMode) -> Result<Transaction, StoreError> {
        let attempt = |mode| {
            let conn = self.conn.borrow();
            let db = conn.as_ref().ok_or(StoreError::Closed)?;
            db.transaction(&ALL, mode).map_err(backend)
        };
        match attempt(mode) {
            Ok(tx) => Ok(tx),
            Err(_) => {
                self.connect().await?;
                attempt(mode)
            }
        }
    }

    /// Writes checked points (one transaction), then nothing else.
    pub async fn write(
        &self,
        cfg: &Config,
        batch: &[(Name, Point)],
    ) -> Result<WriteReport, StoreError> {
        let tx = self.transaction(TransactionMode::ReadWrite).await?;
        let (ws, report) = engine::plan_write(&IdbKv { tx: &tx }, cfg, batch).await?;
        apply(&tx, ws).await?;
        finish(tx).await?;
        Ok(report)
    }

    /// Applies retention to `devices` (one transaction); returns the points
    /// deleted.
    pub async fn retain(
        &self,
        cfg: &Config,
        devices: &[String],
        now: Millis,
    ) -> Result<u64, StoreError> {
        if cfg.max_age.is_none() && cfg.max_points.is_none() {
            return Ok(0);
        }
        let tx = self.transaction(TransactionMode::ReadWrite).await?;
        let kv = IdbKv { tx: &tx };
        let mut removed = 0;
        for device in devices {
            if let Some((ws, n)) = engine::plan_retention(&kv, cfg, device, now).await? {
                apply(&tx, ws).await?;
                removed += n;
            }
        }
        finish(tx).await?;
        Ok(removed)
    }

    /// Deletes a device's points with `start <= time < end`.
    pub async fn delete_range(
        &self,
        device: &str,
        start: Millis,
        end: Millis,
    ) -> Result<u64, StoreError> {
        let tx = self.transaction(TransactionMode::ReadWrite).await?;
        let (ws, n) = engine::plan_delete(&IdbKv { tx: &tx }, device, start, end).await?;
        apply(&tx, ws).await?;
        finish(tx).await?;
        Ok(n)
    }

    /// See [`engine::query`].
    pub async fn query(
        &self,
        device: &str,
        start: Millis,
        end: Millis,
        property: Option<&str>,
    ) -> Result<Chunk, StoreError> {
        let tx = self.transaction(TransactionMode::ReadOnly).await?;
        engine::query(&IdbKv { tx: &tx }, device, start, end, property).await
    }

    /// See [`engine::aggregate`] and, with `raw`, [`engine::aggregate_raw`].
    pub async fn aggregate(
        &self,
        device: &str,
        property: &str,
        start: Millis,
        end: Millis,
        r: Resolution,
        raw: bool,
    ) -> Result<Vec<Aggregate>, StoreError> {
        let tx = self.transaction(TransactionMode::ReadOnly).await?;
        let kv = IdbKv { tx: &tx };
        if raw {
            engine::aggregate_raw(&kv, device, property, start, end, r).await
        } else {
            engine::aggregate(&kv, device, property, start, end, r).await
        }
    }

    /// See [`engine::latest`].
    pub async fn latest(&self, device: &str) -> Result<Option<Point>, StoreError> {
        let tx = self.transaction(TransactionMode::ReadOnly).await?;
        engine::latest(&IdbKv { tx: &tx }, device).await
    }

    /// Every device with stored points.
    pub async fn devices(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.transaction(TransactionMode::ReadOnly).await?;
        IdbKv { tx: &tx }.device_ids().await
    }

    /// Appends journal records (one transaction), with retention at `now`.
    pub async fn append_journal(
        &self,
        retention: &Retention,
        records: &[NewRecord],
        now: Millis,
    ) -> Result<AppendReport, StoreError> {
        let tx = self.transaction(TransactionMode::ReadWrite).await?;
        let (ws, report) =
            journal::plan_append(&IdbKv { tx: &tx }, retention, records, now).await?;
        apply(&tx, ws).await?;
        finish(tx).await?;
        Ok(report)
    }

    /// See [`journal::query`].
    pub async fn query_journal(
        &self,
        device: &str,
        kind: Option<JournalKind>,
        start: Millis,
        end: Millis,
        limit: Option<u32>,
    ) -> Result<Vec<JournalRecord>, StoreError> {
        let tx = self.transaction(TransactionMode::ReadOnly).await?;
        journal::query(&IdbKv { tx: &tx }, device, kind, start, end, limit).await
    }

    /// Every device's journal records of one kind, device by device (in
    /// one transaction).
    pub async fn journal_of_kind(
        &self,
        kind: JournalKind,
    ) -> Result<Vec<JournalRecord>, StoreError> {
        let tx = self.transaction(TransactionMode::ReadOnly).await?;
        let kv = IdbKv { tx: &tx };
        let mut out = Vec::new();
        for device in journal::devices(&kv).await? {
            out.extend(
                journal::query(&kv, &device, Some(kind), 0, crate::MAX_SAFE_INTEGER, None).await?,
            );
        }
        Ok(out)
    }

    /// Every device with journal records.
    pub async fn journal_devices(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.transaction(TransactionMode::ReadOnly).await?;
        journal::devices(&IdbKv { tx: &tx }).await
    }

    /// Closes the connection; the next operation reopens it.
    pub fn close(&self) {
        if let Some(db) = self.conn.take() {
            db.close();
        }
    }
}
