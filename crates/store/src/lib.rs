//! # twinkit-store
//!
//! The time-series store behind twinkit's `TimeSeriesStore`: telemetry kept
//! in IndexedDB as columnar chunks, with minute, hour and day rollups kept
//! as data is written, retention by age and by points per device, and CSV
//! export.
//!
//! The pure part (every module but `idb`) has no browser dependency and no
//! clock, and is tested natively:
//!
//! - [`chunk`]: the columnar chunk and its versioned byte format;
//! - [`rollup`]: buckets (count, sum, min, max) and their pages;
//! - [`keys`]: record keys and the per-device meta record;
//! - [`point`]: input checks (NaN, Infinity, out-of-range timestamps and
//!   hostile names are skipped and counted);
//! - [`engine`]: writes, deletes, retention, queries and aggregates over any
//!   transactional backend ([`engine::Kv`]), with [`engine::MemoryKv`] in
//!   memory;
//! - [`csv`]: RFC 4180 export;
//! - [`journal`]: the append-only journal of sync records, audit entries
//!   and lifecycle events (keys, bodies, retention, queries, export).
//!
//! With the `idb` feature, `idb` runs the engine over IndexedDB with rexie.
//!
//! ```
//! use twinkit_core::TelemetryValue;
//! use twinkit_store::engine::{self, Config, MemoryKv};
//! use twinkit_store::point::Point;
//! use twinkit_store::rollup::Resolution;
//!
//! let kv = MemoryKv::default();
//! let cfg = Config::default();
//! let points = (0..120u64).map(|i| {
//!     ("pump-1".into(), Point { time: i * 1_000, values: vec![("rpm".into(), TelemetryValue::Number(i as f64))] })
//! });
//! let (writes, report) = pollster::block_on(engine::plan_write(&kv, &cfg, &points.collect::<Vec<_>>())).unwrap();
//! kv.apply(writes);
//! assert_eq!(report.stored, 120);
//! let minutes = pollster::block_on(engine::aggregate(&kv, "pump-1", "rpm", 0, 119_999, Resolution::Minute)).unwrap();
//! assert_eq!(minutes.len(), 2);
//! assert_eq!((minutes[1].bucket.count, minutes[1].bucket.min, minutes[1].bucket.max), (60, 60.0, 119.0));
//! ```
#![deny(missing_docs)]

mod bytes;
pub mod chunk;
pub mod csv;
pub mod engine;
pub mod error;
#[cfg(feature = "idb")]
pub mod idb;
pub mod journal;
pub mod keys;
pub mod point;
pub mod rollup;

pub use bytes::MAX_SAFE_INTEGER;
pub use error::{DecodeError, StoreError};
