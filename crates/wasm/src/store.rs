//! `TimeSeriesStore` for JavaScript: telemetry persisted in IndexedDB by
//! `twinkit-store` (columnar chunks, rollups, retention), and the journal:
//! twins' sync history and audit trail and fleets' lifecycle events,
//! appended as they happen (`persistJournal`, `persistFleetJournal`, the
//! twin `store` option), queried and exported (`queryJournal`,
//! `exportJournal`) and replayed after a reload (`restore`,
//! `restoreJournal`, `restoreLifecycle`). Nothing in this API writes,
//! edits or deletes a single journal record: only retention drops old ones.
//!
//! Writes go through a write-behind buffer: `store()` and `storeBatch()`
//! check their input at once, queue the points and return a promise that
//! resolves when the transaction holding them has committed. The buffer is
//! written in one transaction when it reaches `flushPoints`, after
//! `flushDelay` ms, on `flush()`, and when the page is hidden (`pagehide`,
//! `visibilitychange` to hidden). Flushes run one after another, and every
//! read waits for the flush of what was stored before it.
//!
//! Records cross the boundary as columns: a small JavaScript function
//! (`columnize`) walks the records once and hands over typed arrays, and
//! query results are built back into `TelemetryData` objects from typed
//! arrays (`materialize`), so a call costs a few boundary crossings, not a
//! few per point.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::{Rc, Weak};

use js_sys::{
    Array, Float64Array, Function, Int32Array, Promise, Reflect, Uint32Array, Uint8Array,
};
use serde_json::Value;
use twinkit_core::audit::{AuditEntry, AuditOutcome};
use twinkit_core::lifecycle::LifecycleEvent;
use twinkit_core::sync::SyncRecord;
use twinkit_core::{EventType, Millis, TelemetryValue};
use twinkit_store::chunk::Chunk;
use twinkit_store::engine::Config;
use twinkit_store::idb::Database;
use twinkit_store::journal::{JournalKind, JournalRecord, NewRecord, Retention};
use twinkit_store::point::{self, valid_name, Interned, Name, Point, RawRecord, RawValue, Skipped};
use twinkit_store::rollup::{Aggregate, Resolution};
use twinkit_store::{StoreError, MAX_SAFE_INTEGER};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::convert::{from_js, js_error, now};
use crate::fleet::FleetManager;
use crate::twin::{make_unsubscribe, DigitalTwin};
use twinkit_core::events::EventData;
use twinkit_web::{Fleet, Twin, WeakFleet, WeakTwin};

const DEFAULT_NAME: &str = "twinkit";
const DEFAULT_FLUSH_DELAY_MS: f64 = 20.0;
const DEFAULT_FLUSH_POINTS: usize = 50_000;
/// Most records one `storeBatch` call takes.
const MAX_BATCH_RECORDS: u32 = 1_000_000;

#[wasm_bindgen(inline_js = r#"
export function columnize(records, maxRecords) {
  if (!Array.isArray(records)) throw new TypeError("expected an array of TelemetryData");
  const n = records.length;
  if (n > maxRecords) throw new RangeError(`more than ${maxRecords} records in one call`);
  const devices = [], devIndex = new Map(), names = [], nameIndex = new Map(), texts = [];
  const dev = new Int32Array(n), times = new Float64Array(n), starts = new Uint32Array(n + 1);
  let cap = 2 * n + 8, m = 0;
  let nameOf = new Uint32Array(cap), num = new Float64Array(cap), kind = new Uint8Array(cap);
  for (let i = 0; i < n; i++) {
    starts[i] = m;
    dev[i] = -1;
    times[i] = NaN;
    const r = records[i];
    if (r === null || typeof r !== "object") continue;
    const id = r.deviceId;
    if (typeof id === "string" && id.length <= 128) {
      let d = devIndex.get(id);
      if (d === undefined) { d = devices.length; devices.push(id); devIndex.set(id, d); }
      dev[i] = d;
    }
    if (typeof r.timestamp === "number") times[i] = r.timestamp;
    const values = r.values;
    if (values === null || typeof values !== "object" || Array.isArray(values)) continue;
    for (const key of Object.keys(values)) {
      const v = values[key];
      // As in JSON, a key whose value is undefined is absent.
      if (v === undefined) continue;
      if (m === cap) {
        if (cap > 16777216) throw new RangeError("too many values in one call");
        cap *= 2;
        const a = new Uint32Array(cap); a.set(nameOf); nameOf = a;
        const b = new Float64Array(cap); b.set(num); num = b;
        const c = new Uint8Array(cap); c.set(kind); kind = c;
      }
      let k = nameIndex.get(key);
      if (k === undefined) { k = names.length; names.push(key); nameIndex.set(key, k); }
      nameOf[m] = k;
      switch (typeof v) {
        case "number": kind[m] = 0; num[m] = v; break;
        case "boolean": kind[m] = v ? 2 : 1; break;
        case "string":
          if (v.length > 65536) { kind[m] = 4; } else { kind[m] = 3; num[m] = texts.length; texts.push(v); }
          break;
        default: kind[m] = 4;
      }
      m++;
    }
  }
  starts[n] = m;
  return [devices, dev, times, starts, names, nameOf.subarray(0, m), num.subarray(0, m), kind.subarray(0, m), texts];
}

export function materialize(deviceId, times, names, columns, otherRows, otherCols, otherValues) {
  const n = times.length, out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = { deviceId, timestamp: times[i], values: {} };
  for (let c = 0; c < names.length; c++) {
    const col = columns[c], name = names[c];
    for (let i = 0; i < n; i++) { const x = col[i]; if (x === x) out[i].values[name] = x; }
  }
  for (let k = 0; k < otherRows.length; k++) out[otherRows[k]].values[names[otherCols[k]]] = otherValues[k];
  return out;
}

export function buckets(ts, count, sum, min, max, skipped) {
  const out = new Array(ts.length);
  for (let i = 0; i < ts.length; i++) {
    const c = count[i];
    out[i] = { timestamp: ts[i], avg: c > 0 ? sum[i] / c : NaN, min: c > 0 ? min[i] : NaN, max: c > 0 ? max[i] : NaN, count: c, sum: sum[i], skipped: skipped[i] };
  }
  return out;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn columnize(records: &JsValue, max_records: u32) -> Result<Array, JsValue>;
    fn materialize(
        device_id: &str,
        times: Float64Array,
        names: Array,
        columns: Array,
        other_rows: Uint32Array,
        other_cols: Uint32Array,
        other_values: Array,
    ) -> Array;
    fn buckets(
        ts: Float64Array,
        count: Float64Array,
        sum: Float64Array,
        min: Float64Array,
        max: Float64Array,
        skipped: Float64Array,
    ) -> Array;
}

thread_local! {
    /// Live stores by id, so a twin's `store` option can find its store.
    static STORES: RefCell<HashMap<u32, Weak<StoreCell>>> = RefCell::default();
    static NEXT_ID: Cell<u32> = const { Cell::new(1) };
}

fn store_error(e: &StoreError) -> JsValue {
    js_error(e.code(), &e.to_string())
}

fn invalid(message: &str) -> JsValue {
    js_error("INVALID_INPUT", message)
}

/// A promise for an operation's result, rejected (never thrown) on error.
fn promise(f: impl std::future::Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    future_to_promise(f)
}

/// Calls a global function such as `setTimeout(callback, delay)`.
fn global_call(name: &str, a: &JsValue, b: &JsValue) -> Result<JsValue, JsValue> {
    let global = js_sys::global();
    let f: Function = Reflect::get(&global, &name.into())?.dyn_into()?;
    f.call2(&global, a, b)
}

/// A time bound from JavaScript: a number, clamped to 0..=2^53−1.
fn bound(value: f64, what: &str) -> Result<Millis, JsValue> {
    if value.is_nan() {
        return Err(invalid(&format!("{what} must be a number of milliseconds")));
    }
    Ok(value.clamp(0.0, MAX_SAFE_INTEGER as f64).floor() as Millis)
}

fn device_id(value: &JsValue) -> Result<String, JsValue> {
    match value.as_string() {
        Some(id) if valid_name(&id) => Ok(id),
        _ => Err(invalid(
            "deviceId must be a non-empty string of at most 128 bytes without control characters",
        )),
    }
}

struct Waiter {
    resolve: Function,
    reject: Function,
    stored: usize,
    skipped: u64,
}

/// The settings a store is created with.
struct Settings {
    name: String,
    cfg: Config,
    journal: Retention,
    flush_delay: f64,
    flush_points: usize,
}

fn settings(options: Option<js_sys::Object>) -> Result<Settings, JsValue> {
    let mut s = Settings {
        name: DEFAULT_NAME.into(),
        cfg: Config::default(),
        journal: Retention::default(),
        flush_delay: DEFAULT_FLUSH_DELAY_MS,
        flush_points: DEFAULT_FLUSH_POINTS,
    };
    let Some(options) = options else {
        return Ok(s);
    };
    let bad = |field: &str, reason: &str| js_error("INVALID_CONFIG", &format!("{field}: {reason}"));
    let Value::Object(map) = from_js(&options, "options")? else {
        return Err(bad("options", "expected an object"));
    };
    let positive = |v: &Value, field: &str, max: f64| match v.as_f64() {
        Some(n) if n > 0.0 && n <= max => Ok(n),
        _ => Err(bad(field, &format!("must be a number in (0, {max}]"))),
    };
    for (key, value) in &map {
        match key.as_str() {
            "databaseName" => match value.as_str() {
                Some(name) if valid_name(name) => s.name = name.to_string(),
                _ => return Err(bad(key, "must be a non-empty string of at most 128 bytes")),
            },
            "flushDelay" => {
                s.flush_delay = match value.as_f64() {
                    Some(n) if (0.0..=60_000.0).contains(&n) => n,
                    _ => return Err(bad(key, "must be a number of ms in [0, 60000]")),
                }
            }
            "flushPoints" => s.flush_points = positive(value, key, 1e6)? as usize,
            "chunkPoints" => s.cfg.chunk_points = positive(value, key, 65_536.0)? as usize,
            "retention" => {
                let Value::Object(r) = value else {
                    return Err(bad(key, "expected an object"));
                };
                for (k, v) in r {
                    match k.as_str() {
                        "maxAge" => {
                            s.cfg.max_age =
                                Some(positive(v, "retention.maxAge", MAX_SAFE_INTEGER as f64)? as Millis)
                        }
                        "maxPointsPerDevice" => {
                            s.cfg.max_points = Some(positive(
                                v,
                                "retention.maxPointsPerDevice",
                                MAX_SAFE_INTEGER as f64,
                            )? as u64)
                        }
                        _ => {
                            return Err(bad(
                                &format!("retention.{}", twinkit_core::limits::printable(k)),
                                "unknown option (expected maxAge, maxPointsPerDevice)",
                            ))
                        }
                    }
                }
            }
            "journal" => {
                let Value::Object(r) = value else {
                    return Err(bad(key, "expected an object"));
                };
                for (k, v) in r {
                    match k.as_str() {
                        "maxRecords" => {
                            s.journal.max_records = match v.as_f64() {
                                Some(n) if (1.0..=1e9).contains(&n) && n.fract() == 0.0 => n as u64,
                                _ => {
                                    return Err(bad(
                                        "journal.maxRecords",
                                        "must be a whole number in [1, 1e9]",
                                    ))
                                }
                            }
                        }
                        "maxAge" => {
                            s.journal.max_age = Some(
                                positive(v, "journal.maxAge", MAX_SAFE_INTEGER as f64)? as Millis,
                            )
                        }
                        _ => {
                            return Err(bad(
                                &format!("journal.{}", twinkit_core::limits::printable(k)),
                                "unknown option (expected maxRecords, maxAge)",
                            ))
                        }
                    }
                }
            }
            _ => {
                return Err(bad(
                    &twinkit_core::limits::printable(key),
                    "unknown option (expected databaseName, retention, journal, flushDelay, flushPoints, chunkPoints)",
                ))
            }
        }
    }
    Ok(s)
}

/// A listener on the page: target, event name, closure.
type PageHook = (JsValue, &'static str, Closure<dyn FnMut(JsValue)>);

/// The shared state behind a `TimeSeriesStore`.
pub(crate) struct StoreCell {
    id: u32,
    settings: Settings,
    db: RefCell<Option<Rc<Database>>>,
    opening: RefCell<Option<Promise>>,
    buffer: RefCell<Vec<(Name, Point)>>,
    /// Journal records waiting for the next flush (checked already).
    journal: RefCell<Vec<NewRecord>>,
    /// Twins and fleets whose journal this store persists.
    watched_twins: RefCell<Vec<WeakTwin>>,
    watched_fleets: RefCell<Vec<WeakFleet>>,
    waiters: RefCell<Vec<Waiter>>,
    /// The last flush: each flush starts when the one before has ended.
    /// Resolves to `null`, or to the error the flush met.
    tail: RefCell<Promise>,
    /// Flushes started and not yet ended.
    in_flight: Cell<u32>,
    timer: OnceCell<Closure<dyn FnMut()>>,
    timer_id: RefCell<Option<JsValue>>,
    /// `pagehide` and `visibilitychange` listeners, removed on close/drop.
    page_hooks: RefCell<Vec<PageHook>>,
    handlers: RefCell<Vec<(u32, Function)>>,
    next_handler: Cell<u32>,
    off: OnceCell<Closure<dyn Fn(u32)>>,
    skipped: Cell<Skipped>,
    /// Set while `restore()` feeds a twin, so its telemetry is not stored again.
    muted: Cell<bool>,
    closed: Cell<bool>,
}

impl Drop for StoreCell {
    fn drop(&mut self) {
        self.unhook();
        STORES.with(|s| s.borrow_mut().remove(&self.id));
    }
}

impl StoreCell {
    fn live(&self) -> Result<(), JsValue> {
        if self.closed.get() {
            Err(store_error(&StoreError::Closed))
        } else {
            Ok(())
        }
    }

    /// The open database, opening it once (concurrent callers share the
    /// opening).
    async fn database(self: &Rc<Self>) -> Result<Rc<Database>, JsValue> {
        self.live()?;
        if let Some(db) = self.db.borrow().clone() {
            return Ok(db);
        }
        let opening = self.opening.borrow().clone();
        let opening = match opening {
            Some(p) => p,
            None => {
                let cell = Rc::clone(self);
                let p = future_to_promise(async move {
                    let result = Database::open(&cell.settings.name).await;
                    cell.opening.replace(None);
                    let db = result.map_err(|e| store_error(&e))?;
                    if cell.closed.get() {
                        db.close();
                    } else {
                        cell.db.replace(Some(Rc::new(db)));
                        cell.hook_page();
                    }
                    Ok(JsValue::UNDEFINED)
                });
                self.opening.replace(Some(p.clone()));
                p
            }
        };
        JsFuture::from(opening).await?;
        self.live()?;
        self.db
            .borrow()
            .clone()
            .ok_or_else(|| store_error(&StoreError::Closed))
    }

    /// Checks records and queues their points; `Err` for input that is not
    /// an array of objects at all.
    fn enqueue(self: &Rc<Self>, records: &JsValue) -> Result<(usize, u64), JsValue> {
        self.live()?;
        let columns = columnize(records, MAX_BATCH_RECORDS).map_err(|e| {
            let message = Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "could not read the records".into());
            invalid(&format!("telemetry: {message}"))
        })?;
        let (points, skipped) = parse(&columns)?;
        Ok(self.queue(points, skipped))
    }

    /// Queues checked points and starts or arms a flush.
    fn queue(self: &Rc<Self>, points: Vec<(Name, Point)>, skipped: Skipped) -> (usize, u64) {
        let mut total = self.skipped.get();
        total.add(&skipped);
        self.skipped.set(total);
        let stored = points.len();
        let full = {
            let mut buffer = self.buffer.borrow_mut();
            buffer.extend(points);
            buffer.len() >= self.settings.flush_points
        };
        if full {
            let _ = self.schedule_flush();
        } else {
            self.arm_timer();
        }
        (stored, skipped.total())
    }

    /// `store()`/`storeBatch()`: queue, and a promise for the commit.
    fn store(self: &Rc<Self>, records: &JsValue) -> Promise {
        let (stored, skipped) = match self.enqueue(records) {
            Ok(counts) => counts,
            Err(e) => return Promise::reject(&e),
        };
        Promise::new(&mut |resolve, reject| {
            self.waiters.borrow_mut().push(Waiter {
                resolve,
                reject,
                stored,
                skipped,
            });
        })
    }

    fn arm_timer(self: &Rc<Self>) {
        if self.timer_id.borrow().is_some() {
            return;
        }
        let weak = Rc::downgrade(self);
        let fire = self.timer.get_or_init(|| {
            Closure::new(move || {
                if let Some(cell) = weak.upgrade() {
                    cell.timer_id.replace(None);
                    let _ = cell.schedule_flush();
                }
            })
        });
        if let Ok(id) = global_call(
            "setTimeout",
            fire.as_ref(),
            &self.settings.flush_delay.into(),
        ) {
            self.timer_id.replace(Some(id));
        }
    }

    fn cancel_timer(&self) {
        if let Some(id) = self.timer_id.take() {
            let _ = global_call("clearTimeout", &id, &JsValue::UNDEFINED);
        }
    }

    /// Starts a flush after the current one; returns the new tail.
    fn schedule_flush(self: &Rc<Self>) -> Promise {
        let previous = self.tail.borrow().clone();
        let cell = Rc::clone(self);
        self.in_flight.set(self.in_flight.get() + 1);
        let next = future_to_promise(async move {
            let _ = JsFuture::from(previous).await;
            let outcome = match cell.flush_now().await {
                Ok(()) => JsValue::NULL,
                Err(e) => e,
            };
            cell.in_flight.set(cell.in_flight.get() - 1);
            Ok(outcome)
        });
        let _ = self.tail.replace(next.clone());
        next
    }

    /// Writes the buffer in one transaction and settles its promises.
    async fn flush_now(self: &Rc<Self>) -> Result<(), JsValue> {
        self.cancel_timer();
        let batch = std::mem::take(&mut *self.buffer.borrow_mut());
        let journal = std::mem::take(&mut *self.journal.borrow_mut());
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        if batch.is_empty() && journal.is_empty() && waiters.is_empty() {
            return Ok(());
        }
        let mut result = self.write(&batch).await;
        if !journal.is_empty() {
            let appended = self.append_journal(&journal).await;
            result = result.and(appended);
        }
        for w in waiters {
            let _ = match &result {
                Ok(()) => {
                    let out = js_sys::Object::new();
                    let _ = Reflect::set(&out, &"stored".into(), &(w.stored as f64).into());
                    let _ = Reflect::set(&out, &"skipped".into(), &(w.skipped as f64).into());
                    w.resolve.call1(&JsValue::NULL, &out)
                }
                Err(e) => w.reject.call1(&JsValue::NULL, e),
            };
        }
        if let Err(e) = &result {
            self.emit_error(e);
        }
        result
    }

    async fn write(self: &Rc<Self>, batch: &[(Name, Point)]) -> Result<(), JsValue> {
        if batch.is_empty() {
            return Ok(());
        }
        let db = self.database().await?;
        let cfg = &self.settings.cfg;
        let devices: Vec<String> = {
            let mut d: Vec<String> = batch.iter().map(|(d, _)| d.to_string()).collect();
            d.sort();
            d.dedup();
            d
        };
        match db.write(cfg, batch).await {
            Ok(report) => {
                let mut total = self.skipped.get();
                total.add(&report.skipped);
                self.skipped.set(total);
                if let Err(e) = db.retain(cfg, &devices, now()).await {
                    self.emit_error(&store_error(&e));
                }
                Ok(())
            }
            Err(e @ StoreError::QuotaExceeded(_)) => {
                // Nothing of the batch was written (the transaction aborted
                // whole). Report, apply retention everywhere, retry once.
                self.emit_error(&store_error(&e));
                let all = db.devices().await.unwrap_or(devices);
                if let Err(e) = db.retain(cfg, &all, now()).await {
                    self.emit_error(&store_error(&e));
                }
                db.write(cfg, batch)
                    .await
                    .map(|_| ())
                    .map_err(|e| store_error(&e))
            }
            Err(e) => Err(store_error(&e)),
        }
    }

    /// Appends journal records (one transaction per chunk of the batch).
    async fn append_journal(self: &Rc<Self>, records: &[NewRecord]) -> Result<(), JsValue> {
        let db = self.database().await?;
        for part in records.chunks(twinkit_store::journal::MAX_APPEND_RECORDS) {
            db.append_journal(&self.settings.journal, part, now())
                .await
                .map_err(|e| store_error(&e))?;
        }
        Ok(())
    }

    fn pending(&self) -> bool {
        !self.buffer.borrow().is_empty() || !self.journal.borrow().is_empty()
    }

    /// Waits until everything stored so far is committed.
    async fn barrier(self: &Rc<Self>) -> Result<(), JsValue> {
        // Nothing buffered and no flush under way: nothing to wait for.
        if self.in_flight.get() == 0 && !self.pending() {
            return Ok(());
        }
        let outcome = JsFuture::from(self.schedule_flush()).await?;
        if outcome.is_null() {
            Ok(())
        } else {
            Err(outcome)
        }
    }

    fn emit_error(&self, error: &JsValue) {
        let event = js_sys::Object::new();
        let get = |k: &str| Reflect::get(error, &k.into()).unwrap_or(JsValue::UNDEFINED);
        let _ = Reflect::set(&event, &"type".into(), &"error".into());
        let _ = Reflect::set(&event, &"code".into(), &get("code"));
        let _ = Reflect::set(&event, &"message".into(), &get("message"));
        let _ = Reflect::set(&event, &"timestamp".into(), &(now() as f64).into());
        let handlers: Vec<Function> = self
            .handlers
            .borrow()
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        if handlers.is_empty() {
            web_sys::console::warn_2(&"twinkit: TimeSeriesStore error".into(), error);
        }
        for f in handlers {
            if let Err(e) = f.call1(&JsValue::NULL, &event) {
                web_sys::console::error_2(&"twinkit: a store `error` handler threw".into(), &e);
            }
        }
    }

    /// Flushes when the page is hidden or unloaded, where the browser may
    /// end it without notice.
    fn hook_page(self: &Rc<Self>) {
        let global = js_sys::global();
        let document = Reflect::get(&global, &"document".into()).unwrap_or(JsValue::UNDEFINED);
        let mut hooks = self.page_hooks.borrow_mut();
        if !hooks.is_empty() {
            return;
        }
        for (target, event) in [
            (global.into(), "pagehide"),
            (document.clone(), "visibilitychange"),
        ] {
            if !target.is_object() {
                continue;
            }
            let weak = Rc::downgrade(self);
            let document = document.clone();
            let listener = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
                let hidden = event == "pagehide"
                    || Reflect::get(&document, &"visibilityState".into())
                        .ok()
                        .and_then(|v| v.as_string())
                        .is_some_and(|v| v == "hidden");
                if let Some(cell) = weak.upgrade() {
                    if hidden && cell.pending() {
                        let _ = cell.schedule_flush();
                    }
                }
            });
            if call_method(&target, "addEventListener", event, listener.as_ref()).is_ok() {
                hooks.push((target, event, listener));
            }
        }
    }

    fn unhook(&self) {
        self.cancel_timer();
        for (target, event, listener) in self.page_hooks.take() {
            let _ = call_method(&target, "removeEventListener", event, listener.as_ref());
        }
    }

    /// Queues a twin's telemetry (the twin `store` option).
    fn persist_record(self: &Rc<Self>, data: &twinkit_core::TelemetryData) {
        if self.muted.get() || self.closed.get() {
            return;
        }
        let raw = RawRecord {
            device_id: data.device_id.clone(),
            timestamp: data.timestamp as f64,
            values: data
                .values
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        TelemetryValue::Number(x) => RawValue::Number(*x),
                        TelemetryValue::Bool(b) => RawValue::Bool(*b),
                        TelemetryValue::String(s) => RawValue::Text(s.clone()),
                    };
                    (k.clone(), v)
                })
                .collect(),
        };
        let mut skipped = Skipped::default();
        let points = point::check(raw, &mut skipped).into_iter().collect();
        self.queue(points, skipped);
    }

    /// Queues one journal record for the next flush. A record the journal
    /// would refuse (a body over its size limit) is not queued: an `error`
    /// event says which and why, and the others go on.
    fn queue_journal(self: &Rc<Self>, record: NewRecord) {
        if self.closed.get() {
            return;
        }
        if let Err(e) = record.check() {
            self.emit_error(&store_error(&e));
            return;
        }
        let full = {
            let mut journal = self.journal.borrow_mut();
            journal.push(record);
            journal.len() >= twinkit_store::journal::MAX_APPEND_RECORDS
        };
        if full {
            let _ = self.schedule_flush();
        } else {
            self.arm_timer();
        }
    }

    /// Persists a twin's new sync records and audit changes after each of
    /// its changes, from now on (what it recorded before is not).
    fn watch_twin(self: &Rc<Self>, twin: &Twin) {
        let known = self
            .watched_twins
            .borrow()
            .iter()
            .any(|w| w.upgrade().is_some_and(|t| t == *twin));
        if known {
            return;
        }
        self.watched_twins
            .borrow_mut()
            .retain(|w| w.upgrade().is_some());
        self.watched_twins.borrow_mut().push(twin.downgrade());
        let watch = RefCell::new(JournalWatch::default());
        watch.borrow_mut().look(&twin.core());
        let weak_store = Rc::downgrade(self);
        let weak_twin = twin.downgrade();
        twin.on_update(move || {
            let (Some(cell), Some(twin)) = (weak_store.upgrade(), weak_twin.upgrade()) else {
                return;
            };
            let (device, changes) = {
                let core = twin.core();
                (core.id().to_string(), watch.borrow_mut().look(&core))
            };
            // Restoring (muted) moves the watch past what it put back.
            if cell.muted.get() {
                return;
            }
            for (kind, timestamp, body) in changes {
                cell.queue_journal(NewRecord {
                    device: device.clone(),
                    kind,
                    timestamp,
                    body,
                });
            }
        });
    }

    /// Persists a fleet's lifecycle events from now on, and the journal of
    /// each of its twins (those added later too).
    fn watch_fleet(self: &Rc<Self>, fleet: &Fleet) {
        let known = self
            .watched_fleets
            .borrow()
            .iter()
            .any(|w| w.upgrade().is_some_and(|f| f == *fleet));
        if known {
            return;
        }
        self.watched_fleets
            .borrow_mut()
            .retain(|w| w.upgrade().is_some());
        self.watched_fleets.borrow_mut().push(fleet.downgrade());
        for twin in fleet.twins() {
            self.watch_twin(&twin);
        }
        let weak_store = Rc::downgrade(self);
        let weak_fleet = fleet.downgrade();
        fleet.on_lifecycle(move |event: &LifecycleEvent| {
            let Some(cell) = weak_store.upgrade() else {
                return;
            };
            if let Ok(body) = serde_json::to_string(event) {
                cell.queue_journal(NewRecord {
                    device: event.device_id.clone(),
                    kind: JournalKind::Lifecycle,
                    timestamp: event.timestamp.unwrap_or_else(now),
                    body,
                });
            }
            if let Some(twin) = weak_fleet.upgrade().and_then(|f| f.get(&event.device_id)) {
                cell.watch_twin(&twin);
            }
        });
    }
}

/// What of a twin's sync history and audit trail a store has seen.
#[derive(Default)]
struct JournalWatch {
    /// `sync_records_total` when last looked.
    sync_seen: u64,
    /// The last audit id seen.
    audit_seen: u64,
    /// Audit entries seen whose outcome may still move: their outcome and
    /// its time when last looked.
    open: BTreeMap<u64, (AuditOutcome, Millis)>,
}

impl JournalWatch {
    /// What changed since the last look, as journal records (kind, time,
    /// body): new sync records, new audit entries, and audit entries whose
    /// outcome moved on (appended again, as they now are).
    fn look(&mut self, core: &twinkit_core::DigitalTwin) -> Vec<(JournalKind, Millis, String)> {
        let mut out = Vec::new();
        let mut emit = |kind, timestamp, body: serde_json::Result<String>| {
            if let Ok(body) = body {
                out.push((kind, timestamp, body));
            }
        };
        let total = core.sync_records_total();
        if total > self.sync_seen {
            let new = usize::try_from(total - self.sync_seen).unwrap_or(usize::MAX);
            for r in core.sync_history(None, Some(new)) {
                emit(JournalKind::Sync, r.timestamp, serde_json::to_string(&r));
            }
            self.sync_seen = total;
        }
        let audit = core.audit();
        let open = std::mem::take(&mut self.open);
        for (id, (outcome, at)) in open {
            if let Some(e) = audit.get(id) {
                if (e.outcome(), e.outcome_at()) != (outcome, at) {
                    emit(JournalKind::Audit, e.outcome_at(), serde_json::to_string(e));
                }
                if !e.outcome().is_final() {
                    self.open.insert(id, (e.outcome(), e.outcome_at()));
                }
            }
        }
        let new: Vec<&AuditEntry> = audit
            .entries()
            .rev()
            .take_while(|e| e.id() > self.audit_seen)
            .collect();
        for e in new.into_iter().rev() {
            emit(JournalKind::Audit, e.outcome_at(), serde_json::to_string(e));
            if !e.outcome().is_final() {
                self.open.insert(e.id(), (e.outcome(), e.outcome_at()));
            }
            self.audit_seen = e.id();
        }
        out
    }
}

/// The JSON of a journal query: `{deviceId, kind, timestamp, seq, body}`.
fn records_to_js(records: &[JournalRecord]) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&twinkit_store::journal::to_json(records))
}

/// `{kind?, start?, end?, limit?}` of `queryJournal` and `exportJournal`.
struct JournalQuery {
    kind: Option<JournalKind>,
    start: Millis,
    end: Millis,
    limit: Option<u32>,
}

fn journal_query(options: &JsValue, extra: &[&str]) -> Result<JournalQuery, JsValue> {
    let mut q = JournalQuery {
        kind: None,
        start: 0,
        end: MAX_SAFE_INTEGER,
        limit: None,
    };
    if options.is_undefined() || options.is_null() {
        return Ok(q);
    }
    let Value::Object(map) = from_js(options, "options")? else {
        return Err(invalid("journal query options must be an object"));
    };
    for (key, value) in &map {
        match key.as_str() {
            "kind" => {
                q.kind = match value {
                    Value::Null => None,
                    Value::String(k) => Some(JournalKind::parse(k).ok_or_else(|| {
                        invalid(&format!(
                            "kind `{}`: expected \"sync\", \"audit\" or \"lifecycle\"",
                            twinkit_core::limits::printable(k)
                        ))
                    })?),
                    _ => return Err(invalid("kind must be \"sync\", \"audit\" or \"lifecycle\"")),
                }
            }
            "start" | "end" => {
                let t = bound(value.as_f64().unwrap_or(f64::NAN), key)?;
                if key == "start" {
                    q.start = t;
                } else {
                    q.end = t;
                }
            }
            "limit" => {
                q.limit = match value.as_f64() {
                    Some(n) if (1.0..=1e6).contains(&n) && n.fract() == 0.0 => Some(n as u32),
                    _ => return Err(invalid("limit must be a whole number in [1, 1000000]")),
                }
            }
            k if extra.contains(&k) => {}
            _ => {
                return Err(invalid(&format!(
                    "unknown journal query option `{}` (expected kind, start, end, limit{})",
                    twinkit_core::limits::printable(key),
                    extra.iter().map(|e| format!(", {e}")).collect::<String>()
                )))
            }
        }
    }
    Ok(q)
}

/// Bodies of a device's journal records of one kind, parsed as `T`; a
/// record that does not parse is corrupt.
fn bodies<T: serde::de::DeserializeOwned>(records: &[JournalRecord]) -> Result<Vec<T>, JsValue> {
    records
        .iter()
        .map(|r| {
            serde_json::from_value(r.body.clone()).map_err(|e| {
                js_error(
                    "CORRUPT_DATA",
                    &format!(
                        "journal record {} of `{}` ({}): {e}",
                        r.key.seq,
                        twinkit_core::limits::printable(&r.key.device),
                        r.key.kind.as_str()
                    ),
                )
            })
        })
        .collect()
}

/// A twin's persisted audit trail (each entry as last recorded, by id) and
/// sync history.
async fn journal_of(
    db: &Database,
    device: &str,
) -> Result<(Vec<AuditEntry>, Vec<SyncRecord>), JsValue> {
    let audit = db
        .query_journal(device, Some(JournalKind::Audit), 0, MAX_SAFE_INTEGER, None)
        .await
        .map_err(|e| store_error(&e))?;
    let sync = db
        .query_journal(device, Some(JournalKind::Sync), 0, MAX_SAFE_INTEGER, None)
        .await
        .map_err(|e| store_error(&e))?;
    // In append order (`seq`), whatever the clock did: the last record of
    // an audit id is the entry as last recorded.
    let (mut audit, mut sync) = (audit, sync);
    audit.sort_by_key(|r| r.key.seq);
    sync.sort_by_key(|r| r.key.seq);
    let mut latest: BTreeMap<u64, AuditEntry> = BTreeMap::new();
    for e in bodies::<AuditEntry>(&audit)? {
        latest.insert(e.id(), e);
    }
    Ok((latest.into_values().collect(), bodies::<SyncRecord>(&sync)?))
}

/// Restores a twin's audit and sync history from the store (muted, so
/// nothing is persisted again): the audit entries and sync records kept,
/// or why the twin refused them.
async fn restore_journal_into(
    cell: &Rc<StoreCell>,
    db: &Database,
    twin: &Twin,
) -> Result<Result<(usize, usize), twinkit_core::TwinError>, JsValue> {
    let (audit, sync) = journal_of(db, &twin.id()).await?;
    if audit.is_empty() && sync.is_empty() {
        return Ok(Ok((0, 0)));
    }
    cell.muted.set(true);
    let result = twin.update(|t, _| t.restore_journal(audit, sync));
    cell.muted.set(false);
    result.map_err(|e| crate::convert::web_error(&e))
}

fn call_method(
    target: &JsValue,
    method: &str,
    event: &str,
    f: &JsValue,
) -> Result<JsValue, JsValue> {
    let m: Function = Reflect::get(target, &method.into())?.dyn_into()?;
    m.call2(target, &event.into(), f)
}

/// Points from `columnize`'s output, checked one by one.
fn parse(columns: &Array) -> Result<(Vec<(Name, Point)>, Skipped), JsValue> {
    let get = |i: u32| columns.get(i);
    let strings = |v: JsValue| -> Vec<String> {
        Array::from(&v)
            .iter()
            .map(|s| s.as_string().unwrap_or_default())
            .collect()
    };
    let devices = strings(get(0));
    let dev = Int32Array::from(get(1)).to_vec();
    let times = Float64Array::from(get(2)).to_vec();
    let starts = Uint32Array::from(get(3)).to_vec();
    let names = strings(get(4));
    let name_of = Uint32Array::from(get(5)).to_vec();
    let num = Float64Array::from(get(6)).to_vec();
    let kind = Uint8Array::from(get(7)).to_vec();
    let texts: Array = get(8).into();
    let mut skipped = Skipped::default();
    let mut points = Vec::with_capacity(dev.len());
    let checker = Interned::new(&devices, &names);
    for (i, &d) in dev.iter().enumerate() {
        let range = starts[i] as usize..starts[i + 1] as usize;
        let values = range.map(|k| {
            let value = match kind[k] {
                0 => RawValue::Number(num[k]),
                1 => RawValue::Bool(false),
                2 => RawValue::Bool(true),
                3 => texts
                    .get(num[k] as u32)
                    .as_string()
                    .map_or(RawValue::Unsupported, RawValue::Text),
                _ => RawValue::Unsupported,
            };
            (name_of[k] as usize, value)
        });
        if let Some(p) = checker.record(usize::try_from(d).ok(), times[i], values, &mut skipped) {
            points.push(p);
        }
    }
    Ok((points, skipped))
}

/// A series as `TelemetryData[]`.
fn series_to_js(device: &str, series: &Chunk) -> JsValue {
    let times: Vec<f64> = series.times.iter().map(|&t| t as f64).collect();
    let names = Array::new();
    let columns = Array::new();
    let (mut rows, mut cols, values) = (Vec::new(), Vec::new(), Array::new());
    for (c, column) in series.columns.iter().enumerate() {
        names.push(&JsValue::from_str(&column.name));
        columns.push(&Float64Array::from(&column.numbers[..]));
        for (row, v) in &column.others {
            rows.push(*row);
            cols.push(c as u32);
            values.push(&match v {
                TelemetryValue::Bool(b) => JsValue::from_bool(*b),
                TelemetryValue::String(s) => s.as_str().into(),
                TelemetryValue::Number(x) => (*x).into(),
            });
        }
    }
    materialize(
        device,
        Float64Array::from(&times[..]),
        names,
        columns,
        Uint32Array::from(&rows[..]),
        Uint32Array::from(&cols[..]),
        values,
    )
    .into()
}

fn point_to_js(device: &str, p: &Point) -> JsValue {
    let mut c = Chunk::default();
    c.insert(p);
    series_to_js(device, &c)
}

fn aggregates_to_js(list: &[Aggregate]) -> JsValue {
    let col = |f: &dyn Fn(&Aggregate) -> f64| {
        Float64Array::from(&list.iter().map(f).collect::<Vec<f64>>()[..])
    };
    buckets(
        col(&|a| a.timestamp as f64),
        col(&|a| a.bucket.count as f64),
        col(&|a| a.bucket.sum),
        col(&|a| a.bucket.min),
        col(&|a| a.bucket.max),
        col(&|a| a.bucket.other as f64),
    )
    .into()
}

/// Telemetry kept in IndexedDB (the reference's `TimeSeriesStore`).
#[wasm_bindgen]
pub struct TimeSeriesStore(Rc<StoreCell>);

impl std::fmt::Debug for TimeSeriesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeSeriesStore")
            .field("name", &self.0.settings.name)
            .finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl TimeSeriesStore {
    /// A store over the IndexedDB database `databaseName` (default
    /// `"twinkit"`); throws `INVALID_CONFIG` for bad options. Nothing is
    /// opened until `initialize()` or the first operation.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "TimeSeriesStoreOptions?")] options: Option<
            js_sys::Object,
        >,
    ) -> Result<TimeSeriesStore, JsValue> {
        let settings = settings(options)?;
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id.wrapping_add(1));
            id
        });
        let cell = Rc::new(StoreCell {
            id,
            settings,
            db: RefCell::new(None),
            opening: RefCell::new(None),
            buffer: RefCell::default(),
            journal: RefCell::default(),
            watched_twins: RefCell::default(),
            watched_fleets: RefCell::default(),
            waiters: RefCell::default(),
            tail: RefCell::new(Promise::resolve(&JsValue::NULL)),
            in_flight: Cell::new(0),
            timer: OnceCell::new(),
            timer_id: RefCell::new(None),
            page_hooks: RefCell::default(),
            handlers: RefCell::default(),
            next_handler: Cell::new(1),
            off: OnceCell::new(),
            skipped: Cell::new(Skipped::default()),
            muted: Cell::new(false),
            closed: Cell::new(false),
        });
        STORES.with(|s| s.borrow_mut().insert(id, Rc::downgrade(&cell)));
        Ok(TimeSeriesStore(cell))
    }

    /// Identifies the store to a twin's `store` option.
    #[wasm_bindgen(getter, js_name = "__twinkitStoreId", skip_typescript)]
    pub fn store_id(&self) -> u32 {
        self.0.id
    }

    /// The database name.
    #[wasm_bindgen(getter, js_name = databaseName)]
    pub fn database_name(&self) -> String {
        self.0.settings.name.clone()
    }

    /// Opens (creating or upgrading) the database. Optional: every
    /// operation calls it first.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn initialize(&self) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            cell.database().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Stores one record. Resolves when it is committed, with how many
    /// points were stored and how many values were skipped (NaN, Infinity,
    /// timestamps outside 0..2^53−1, unsupported types, reserved names).
    #[wasm_bindgen(unchecked_return_type = "Promise<StoreResult>")]
    pub fn store(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TelemetryData")] data: JsValue,
    ) -> Promise {
        self.0.store(&Array::of1(&data).into())
    }

    /// Stores many records in as few transactions as the buffer allows.
    #[wasm_bindgen(js_name = storeBatch, unchecked_return_type = "Promise<StoreResult>")]
    pub fn store_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TelemetryData[]")] data: JsValue,
    ) -> Promise {
        if !Array::is_array(&data) {
            return Promise::reject(&invalid("storeBatch expects an array of TelemetryData"));
        }
        self.0.store(&data)
    }

    /// Writes everything stored so far; resolves when it is committed.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            cell.barrier().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// A device's records with `start <= timestamp <= end`, oldest first;
    /// with `property`, only records holding it, with only its value.
    #[wasm_bindgen(unchecked_return_type = "Promise<TelemetryData[]>")]
    pub fn query(
        &self,
        #[wasm_bindgen(js_name = deviceId, unchecked_param_type = "string")] device: JsValue,
        start: f64,
        end: f64,
        property: Option<String>,
    ) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let device = device_id(&device)?;
            let (start, end) = (bound(start, "start")?, bound(end, "end")?);
            cell.barrier().await?;
            let db = cell.database().await?;
            let series = db
                .query(&device, start, end, property.as_deref())
                .await
                .map_err(|e| store_error(&e))?;
            Ok(series_to_js(&device, &series))
        })
    }

    /// Buckets of `property` at `interval` (`"minute"`, `"hour"`, `"day"`,
    /// UTC) overlapping `start..=end`, whole: `{timestamp, avg, min, max,
    /// count, sum, skipped}`, from the rollups (`skipped`: non-numeric
    /// values). `options.source = "raw"` recomputes them from the points.
    #[wasm_bindgen(unchecked_return_type = "Promise<AggregateBucket[]>")]
    pub fn aggregate(
        &self,
        #[wasm_bindgen(js_name = deviceId, unchecked_param_type = "string")] device: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] property: JsValue,
        start: f64,
        end: f64,
        #[wasm_bindgen(unchecked_param_type = "'minute' | 'hour' | 'day'")] interval: JsValue,
        #[wasm_bindgen(unchecked_param_type = "AggregateOptions?")] options: JsValue,
    ) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let device = device_id(&device)?;
            let property = match property.as_string() {
                Some(p) if valid_name(&p) => p,
                _ => return Err(invalid("property must be a valid property name")),
            };
            let (start, end) = (bound(start, "start")?, bound(end, "end")?);
            let r = interval
                .as_string()
                .and_then(|s| Resolution::parse(&s))
                .ok_or_else(|| invalid("interval must be \"minute\", \"hour\" or \"day\""))?;
            let raw = if options.is_undefined() || options.is_null() {
                false
            } else {
                match Reflect::get(&options, &"source".into())?
                    .as_string()
                    .as_deref()
                {
                    None | Some("rollups") => false,
                    Some("raw") => true,
                    Some(_) => {
                        return Err(invalid("options.source must be \"rollups\" or \"raw\""))
                    }
                }
            };
            cell.barrier().await?;
            let db = cell.database().await?;
            let list = db
                .aggregate(&device, &property, start, end, r, raw)
                .await
                .map_err(|e| store_error(&e))?;
            Ok(aggregates_to_js(&list))
        })
    }

    /// A device's newest record, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TelemetryData | undefined>")]
    pub fn latest(
        &self,
        #[wasm_bindgen(js_name = deviceId, unchecked_param_type = "string")] device: JsValue,
    ) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let device = device_id(&device)?;
            cell.barrier().await?;
            let db = cell.database().await?;
            Ok(
                match db.latest(&device).await.map_err(|e| store_error(&e))? {
                    Some(p) => Array::from(&point_to_js(&device, &p)).get(0),
                    None => JsValue::UNDEFINED,
                },
            )
        })
    }

    /// Deletes a device's records with `start <= timestamp <= end` (rollups
    /// follow); resolves with the number of points deleted.
    #[wasm_bindgen(js_name = deleteRange, unchecked_return_type = "Promise<number>")]
    pub fn delete_range(
        &self,
        #[wasm_bindgen(js_name = deviceId, unchecked_param_type = "string")] device: JsValue,
        start: f64,
        end: f64,
    ) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let device = device_id(&device)?;
            let (start, end) = (bound(start, "start")?, bound(end, "end")?);
            cell.barrier().await?;
            let db = cell.database().await?;
            let n = db
                .delete_range(&device, start, end.saturating_add(1))
                .await
                .map_err(|e| store_error(&e))?;
            Ok((n as f64).into())
        })
    }

    /// A device's records with `start <= timestamp <= end` as CSV (RFC 4180:
    /// header `timestamp,<properties>`, CRLF); `properties` picks and orders
    /// the columns (default: every property, sorted).
    #[wasm_bindgen(js_name = exportCsv, unchecked_return_type = "Promise<string>")]
    pub fn export_csv(
        &self,
        #[wasm_bindgen(js_name = deviceId, unchecked_param_type = "string")] device: JsValue,
        start: f64,
        end: f64,
        #[wasm_bindgen(unchecked_param_type = "string[]?")] properties: JsValue,
    ) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let device = device_id(&device)?;
            let (start, end) = (bound(start, "start")?, bound(end, "end")?);
            let properties: Option<Vec<String>> =
                if properties.is_undefined() || properties.is_null() {
                    None
                } else {
                    let list: Vec<String> = match from_js(&properties, "properties")? {
                        Value::Array(items) => items
                            .into_iter()
                            .map(|v| match v {
                                Value::String(s) if valid_name(&s) => Ok(s),
                                _ => Err(invalid("properties must be an array of property names")),
                            })
                            .collect::<Result<_, _>>()?,
                        _ => return Err(invalid("properties must be an array of property names")),
                    };
                    Some(list)
                };
            cell.barrier().await?;
            let db = cell.database().await?;
            let series = db
                .query(&device, start, end, None)
                .await
                .map_err(|e| store_error(&e))?;
            Ok(twinkit_store::csv::export(&series, properties.as_deref()).into())
        })
    }

    /// Every device with stored records.
    #[wasm_bindgen(unchecked_return_type = "Promise<string[]>")]
    pub fn devices(&self) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            cell.barrier().await?;
            let db = cell.database().await?;
            let list = db.devices().await.map_err(|e| store_error(&e))?;
            Ok(list
                .iter()
                .map(|d| JsValue::from_str(d))
                .collect::<Array>()
                .into())
        })
    }

    /// What input checks skipped since the store was created, by reason.
    #[wasm_bindgen(unchecked_return_type = "StoreStats")]
    pub fn stats(&self) -> JsValue {
        let s = self.0.skipped.get();
        let pending = self.0.buffer.borrow().len();
        crate::convert::to_js(&serde_json::json!({
            "pending": pending,
            "skipped": {
                "badTimestamps": s.bad_timestamps,
                "badDevices": s.bad_devices,
                "emptyRecords": s.empty_records,
                "nonFinite": s.non_finite,
                "badValues": s.bad_values,
                "badNames": s.bad_names,
                "total": s.total(),
            }
        }))
        .unwrap_or(JsValue::UNDEFINED)
    }

    /// Subscribes to the store's `error` events (`{type, code, message,
    /// timestamp}`: failed flushes, `QUOTA_EXCEEDED`); returns the
    /// unsubscribe function.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "'error'")] event: &str,
        #[wasm_bindgen(unchecked_param_type = "(event: StoreErrorEvent) => void")]
        callback: Function,
    ) -> Result<Function, JsValue> {
        if event != "error" {
            return Err(js_error(
                "UNKNOWN_EVENT",
                &format!(
                    "unknown store event `{}`; expected error",
                    twinkit_core::limits::printable(event)
                ),
            ));
        }
        let id = self.0.next_handler.get();
        self.0.next_handler.set(id.wrapping_add(1));
        self.0.handlers.borrow_mut().push((id, callback));
        let weak = Rc::downgrade(&self.0);
        let off = self.0.off.get_or_init(|| {
            Closure::new(move |id: u32| {
                if let Some(cell) = weak.upgrade() {
                    cell.handlers.borrow_mut().retain(|(h, _)| *h != id);
                }
            })
        });
        Ok(make_unsubscribe(off.as_ref().unchecked_ref(), id))
    }

    /// Rebuilds a twin's telemetry history (and so what
    /// `PredictiveMaintenance` sees) from the store: its newest records
    /// within `start..=end` (default: everything), up to the twin's history
    /// capacity, fed through `ingest`; then, when the twin has recorded no
    /// audit entry or sync record of its own yet, its persisted audit trail
    /// and sync history (see `restoreJournal`). Resolves with the telemetry
    /// records fed.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn restore(&self, twin: &DigitalTwin, start: Option<f64>, end: Option<f64>) -> Promise {
        let cell = Rc::clone(&self.0);
        let twin: Twin = twin.0.clone();
        promise(async move {
            let device = twin.id();
            let start = bound(start.unwrap_or(0.0), "start")?;
            let end = bound(end.unwrap_or(MAX_SAFE_INTEGER as f64), "end")?;
            cell.barrier().await?;
            let db = cell.database().await?;
            let series = db
                .query(&device, start, end, None)
                .await
                .map_err(|e| store_error(&e))?;
            let capacity = twin.core().history().capacity();
            let first = series.len().saturating_sub(capacity);
            cell.muted.set(true);
            let mut fed = 0u32;
            let mut result = Ok(());
            for row in first..series.len() {
                let p = series.point(row);
                let values: BTreeMap<String, Value> = p
                    .values
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect();
                match twin.update(|t, now| t.ingest_record(&device, p.time, values, now)) {
                    Ok(_) => fed += 1,
                    Err(e) => {
                        result = Err(crate::convert::web_error(&e));
                        break;
                    }
                }
            }
            cell.muted.set(false);
            result?;
            // The audit and sync history too, unless the twin has recorded
            // some of its own (then `restoreJournal` says so).
            match restore_journal_into(&cell, &db, &twin).await? {
                Ok(_) | Err(twinkit_core::TwinError::NotRestorable { .. }) => {}
                Err(e) => return Err(crate::convert::twin_error(&e)),
            }
            Ok(fed.into())
        })
    }

    /// Persists a twin's journal from now on: each new sync record and
    /// audit entry, and each audit entry again when its outcome moves on,
    /// appended as it happens (written with the next flush). A twin created
    /// with `{ store }` does this already.
    #[wasm_bindgen(js_name = persistJournal)]
    pub fn persist_journal(&self, twin: &DigitalTwin) -> Result<(), JsValue> {
        self.0.live()?;
        self.0.watch_twin(&twin.0);
        Ok(())
    }

    /// Persists a fleet's lifecycle events from now on (`added`,
    /// `transition`, `restored`, `removed`), and the journal of each of its
    /// twins, present and future.
    #[wasm_bindgen(js_name = persistFleetJournal)]
    pub fn persist_fleet_journal(&self, fleet: &FleetManager) -> Result<(), JsValue> {
        self.0.live()?;
        self.0.watch_fleet(fleet.inner());
        Ok(())
    }

    /// A device's journal records (`{deviceId, kind, timestamp, seq,
    /// body}`), oldest first: of one `kind` (`"sync"`, `"audit"`,
    /// `"lifecycle"`; default all) with `start <= timestamp <= end`; with
    /// `limit`, the newest `limit`. An audit entry appears once per step of
    /// its outcome.
    #[wasm_bindgen(js_name = queryJournal, unchecked_return_type = "Promise<JournalRecord[]>")]
    pub fn query_journal(
        &self,
        #[wasm_bindgen(js_name = deviceId, unchecked_param_type = "string")] device: JsValue,
        #[wasm_bindgen(unchecked_param_type = "JournalQuery?")] options: JsValue,
    ) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let device = device_id(&device)?;
            let q = journal_query(&options, &[])?;
            cell.barrier().await?;
            let db = cell.database().await?;
            let records = db
                .query_journal(&device, q.kind, q.start, q.end, q.limit)
                .await
                .map_err(|e| store_error(&e))?;
            records_to_js(&records)
        })
    }

    /// The same records as `queryJournal`, as CSV (RFC 4180, header
    /// `deviceId,kind,timestamp,seq,body`, the body as JSON text) or as
    /// JSON text: `options.format`, `"csv"` (default) or `"json"`.
    #[wasm_bindgen(js_name = exportJournal, unchecked_return_type = "Promise<string>")]
    pub fn export_journal(
        &self,
        #[wasm_bindgen(js_name = deviceId, unchecked_param_type = "string")] device: JsValue,
        #[wasm_bindgen(unchecked_param_type = "JournalExportOptions?")] options: JsValue,
    ) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let device = device_id(&device)?;
            let q = journal_query(&options, &["format"])?;
            let csv = if options.is_object() {
                match Reflect::get(&options, &"format".into())?
                    .as_string()
                    .as_deref()
                {
                    None | Some("csv") => true,
                    Some("json") => false,
                    Some(_) => return Err(invalid("format must be \"csv\" or \"json\"")),
                }
            } else {
                true
            };
            cell.barrier().await?;
            let db = cell.database().await?;
            let records = db
                .query_journal(&device, q.kind, q.start, q.end, q.limit)
                .await
                .map_err(|e| store_error(&e))?;
            Ok(if csv {
                twinkit_store::journal::to_csv(&records)
            } else {
                twinkit_store::journal::to_json(&records)
            }
            .into())
        })
    }

    /// Puts a twin's persisted audit trail and sync history back (after a
    /// reload). Rejects with `NOT_RESTORABLE` when the twin has recorded
    /// some of its own already (restoring never alters an entry). Resolves
    /// with `{audit, sync}`: how many were kept (within the twin's
    /// capacities).
    #[wasm_bindgen(js_name = restoreJournal, unchecked_return_type = "Promise<{ audit: number; sync: number }>")]
    pub fn restore_journal(&self, twin: &DigitalTwin) -> Promise {
        let cell = Rc::clone(&self.0);
        let twin: Twin = twin.0.clone();
        promise(async move {
            cell.barrier().await?;
            let db = cell.database().await?;
            let (audit, sync) = restore_journal_into(&cell, &db, &twin)
                .await?
                .map_err(|e| crate::convert::twin_error(&e))?;
            crate::convert::to_js(&serde_json::json!({ "audit": audit, "sync": sync }))
        })
    }

    /// Rebuilds a fleet's lifecycle states from the persisted lifecycle
    /// log: each device's last logged event decides its state, and each
    /// twin of the fleet in another state is put back into it (logged as
    /// `restored`). Resolves with `{states, restored, missing}`: the state
    /// of every device the log has in a fleet, the devices whose twin was
    /// put back, and those the log has but this fleet does not.
    #[wasm_bindgen(js_name = restoreLifecycle, unchecked_return_type = "Promise<LifecycleRestore>")]
    pub fn restore_lifecycle(&self, fleet: &FleetManager) -> Promise {
        let cell = Rc::clone(&self.0);
        let fleet: Fleet = fleet.inner().clone();
        promise(async move {
            cell.barrier().await?;
            let db = cell.database().await?;
            let mut records = db
                .journal_of_kind(JournalKind::Lifecycle)
                .await
                .map_err(|e| store_error(&e))?;
            // Each device's events in append order (`seq`), whatever the
            // clock did between sessions.
            records.sort_by(|a, b| (&a.key.device, a.key.seq).cmp(&(&b.key.device, b.key.seq)));
            let events: Vec<LifecycleEvent> = bodies(&records)?;
            let replayed = twinkit_core::lifecycle::replay(&events);
            let mut states = serde_json::Map::new();
            let (mut restored, mut missing) = (Vec::new(), Vec::new());
            let mut first_error = None;
            for (device, state) in &replayed {
                let Some(state) = state else { continue };
                states.insert(
                    device.clone(),
                    serde_json::to_value(state).unwrap_or(Value::Null),
                );
                if fleet.get(device).is_none() {
                    missing.push(device.clone());
                    continue;
                }
                match fleet.restore_lifecycle(device, *state) {
                    Ok(Some(_)) => restored.push(device.clone()),
                    Ok(None) => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(crate::convert::web_error(&e));
            }
            crate::convert::to_js(&serde_json::json!({
                "states": states,
                "restored": restored,
                "missing": missing,
            }))
        })
    }

    /// Writes what is buffered, then closes the database; later operations
    /// reject with `CLOSED`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        let cell = Rc::clone(&self.0);
        promise(async move {
            let flushed = cell.barrier().await;
            cell.closed.set(true);
            cell.unhook();
            if let Some(db) = cell.db.take() {
                db.close();
            }
            flushed.map(|_| JsValue::UNDEFINED)
        })
    }
}

/// Splits a twin's options into the core's and the `store` option.
pub(crate) fn take_store_option(
    options: Option<js_sys::Object>,
) -> Result<(Option<js_sys::Object>, Option<Rc<StoreCell>>), JsValue> {
    let Some(options) = options else {
        return Ok((None, None));
    };
    let key = JsValue::from_str("store");
    let store = Reflect::get(&options, &key)?;
    if store.is_undefined() || store.is_null() {
        return Ok((Some(options), None));
    }
    let cell = Reflect::get(&store, &"__twinkitStoreId".into())
        .ok()
        .and_then(|id| id.as_f64())
        .and_then(|id| STORES.with(|s| s.borrow().get(&(id as u32)).and_then(Weak::upgrade)))
        .ok_or_else(|| {
            js_error(
                "INVALID_CONFIG",
                "options.store: expected a TimeSeriesStore",
            )
        })?;
    let rest = js_sys::Object::assign(&js_sys::Object::new(), &options);
    Reflect::delete_property(&rest, &key)?;
    Ok((Some(rest), Some(cell)))
}

/// Persists a twin's telemetry events and journal into a store (the twin
/// `store` option). The listener holds the store weakly and lives as long as the
/// twin.
pub(crate) fn persist(store: &Rc<StoreCell>, twin: &Twin) {
    store.watch_twin(twin);
    let weak = Rc::downgrade(store);
    twin.subscribe(Some(EventType::Telemetry), move |event| {
        if let (Some(cell), EventData::Telemetry(data)) = (weak.upgrade(), &event.data) {
            cell.persist_record(data);
        }
        Ok(())
    })
    .forget();
}
