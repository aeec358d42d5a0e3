//! Persists the fleet's telemetry into the time-series store
//! (`twinkit-store` over IndexedDB), for the device pages' history.
//!
//! Telemetry events are checked like any store input (NaN, bad names are
//! skipped) and buffered; once a second the buffer is written in one
//! IndexedDB transaction (points, rollups and meta commit together). A
//! write that fails puts its points back for the next attempt (up to
//! [`MAX_BUFFERED`] points; past that the oldest are dropped and counted).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use twinkit_core::{EventData, TelemetryValue};
use twinkit_store::engine::Config;
use twinkit_store::idb::Database;
use twinkit_store::point::{check, Name, Point, RawRecord, RawValue, Skipped};
use twinkit_web::{Fleet, FleetSubscription};

use crate::source::IntervalTimer;

/// The IndexedDB database of the dashboard.
pub const DATABASE: &str = "twinkit-dashboard";
/// Points kept in memory while the store is not writable.
pub const MAX_BUFFERED: usize = 200_000;
/// Stored history is kept for a week.
const MAX_AGE_MS: u64 = 7 * 24 * 3_600_000;

/// What the recorder has done, for the history panel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecorderStatus {
    /// Whether the database is open.
    pub ready: bool,
    /// Points written since the page loaded.
    pub stored: u64,
    /// Points dropped (refused by the checks, or the buffer overflowed).
    pub dropped: u64,
    /// The last failure (opening or writing), if any.
    pub error: Option<String>,
}

struct Inner {
    db: RefCell<Option<Rc<Database>>>,
    buffer: RefCell<VecDeque<(Name, Point)>>,
    writing: Cell<bool>,
    config: Config,
    status: RwSignal<RecorderStatus>,
}

/// Records every telemetry event of a fleet into the store.
#[derive(Clone)]
pub struct Recorder {
    inner: Rc<Inner>,
    _subscription: Rc<FleetSubscription>,
    _timer: Option<Rc<IntervalTimer>>,
}

impl Recorder {
    /// Opens the database and starts recording `fleet`'s telemetry.
    pub fn start(fleet: &Fleet) -> Recorder {
        let inner = Rc::new(Inner {
            db: RefCell::default(),
            buffer: RefCell::default(),
            writing: Cell::new(false),
            config: Config {
                max_age: Some(MAX_AGE_MS),
                ..Config::default()
            },
            status: RwSignal::new(RecorderStatus::default()),
        });
        let listener = {
            let inner = Rc::clone(&inner);
            move |event: &twinkit_core::DeviceEvent| {
                if let EventData::Telemetry(t) = &event.data {
                    inner.push(RawRecord {
                        device_id: t.device_id.clone(),
                        timestamp: t.timestamp as f64,
                        values: t
                            .values
                            .iter()
                            .map(|(name, value)| (name.clone(), raw(value)))
                            .collect(),
                    });
                }
                Ok(())
            }
        };
        let subscription = Rc::new(fleet.subscribe(listener));
        {
            let inner = Rc::clone(&inner);
            let devices: Vec<String> = fleet.twins().iter().map(|t| t.id()).collect();
            spawn_local(async move {
                match Database::open(DATABASE).await {
                    Ok(db) => {
                        let db = Rc::new(db);
                        // Old history goes first; a failure here only
                        // means more is kept.
                        let _ = db.retain(&inner.config, &devices, twinkit_web::now()).await;
                        *inner.db.borrow_mut() = Some(db);
                        inner.status.update(|s| s.ready = true);
                    }
                    Err(e) => inner.status.update(|s| {
                        s.error = Some(format!("IndexedDB `{DATABASE}` did not open: {e}"));
                    }),
                }
            });
        }
        let timer = {
            let inner = Rc::clone(&inner);
            set_interval_with_handle(move || Inner::flush(&inner), Duration::from_secs(1))
                .ok()
                .map(|h| Rc::new(IntervalTimer(h)))
        };
        Recorder {
            inner,
            _subscription: subscription,
            _timer: timer,
        }
    }

    /// The database, once open.
    pub fn database(&self) -> Option<Rc<Database>> {
        self.inner.db.borrow().clone()
    }

    /// What the recorder has done.
    pub fn status(&self) -> Signal<RecorderStatus> {
        self.inner.status.into()
    }
}

fn raw(value: &TelemetryValue) -> RawValue {
    match value {
        TelemetryValue::Number(n) => RawValue::Number(*n),
        TelemetryValue::Bool(b) => RawValue::Bool(*b),
        TelemetryValue::String(s) => RawValue::Text(s.clone()),
    }
}

impl Inner {
    fn push(&self, record: RawRecord) {
        let mut skipped = Skipped::default();
        let Some(point) = check(record, &mut skipped) else {
            self.status.update(|s| s.dropped += skipped.total().max(1));
            return;
        };
        let mut buffer = self.buffer.borrow_mut();
        if buffer.len() >= MAX_BUFFERED {
            buffer.pop_front();
            self.status.update(|s| s.dropped += 1);
        }
        buffer.push_back(point);
    }

    /// Writes the buffer in one transaction, unless a write is running.
    fn flush(inner: &Rc<Inner>) {
        let Some(db) = inner.db.borrow().clone() else {
            return;
        };
        if inner.writing.get() || inner.buffer.borrow().is_empty() {
            return;
        }
        let batch = Vec::from(std::mem::take(&mut *inner.buffer.borrow_mut()));
        inner.writing.set(true);
        let inner = Rc::clone(inner);
        spawn_local(async move {
            let result = db.write(&inner.config, &batch).await;
            inner.writing.set(false);
            match result {
                Ok(report) => inner.status.update(|s| {
                    s.stored += report.stored;
                    s.dropped += report.skipped.total();
                    s.error = None;
                }),
                Err(e) => {
                    // Keep the points for the next attempt, oldest first.
                    let mut buffer = inner.buffer.borrow_mut();
                    let newer = std::mem::take(&mut *buffer);
                    *buffer = VecDeque::from(batch);
                    buffer.extend(newer);
                    let over = buffer.len().saturating_sub(MAX_BUFFERED);
                    buffer.drain(..over);
                    inner.status.update(|s| {
                        s.dropped += over as u64;
                        s.error = Some(format!("writing history failed: {e}"));
                    });
                }
            }
        });
    }
}
