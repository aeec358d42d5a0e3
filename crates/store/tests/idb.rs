//! The IndexedDB layer in headless Chromium (wasm-bindgen-test): the same
//! writes as the native model, through rexie; the upgrades from schema
//! versions 1 and 2; a `versionchange` from another connection; two
//! connections writing the same database at once; the journal.
#![cfg(all(target_arch = "wasm32", feature = "idb"))]
#![allow(clippy::unwrap_used)]

use twinkit_core::TelemetryValue;
use twinkit_store::engine::{self, Config, MemoryKv};
use twinkit_store::idb::{create_v1, create_v2, Database};
use twinkit_store::journal::{self, JournalKind, NewRecord, Retention};
use twinkit_store::keys::ChunkKey;
use twinkit_store::point::{Name, Point};
use twinkit_store::rollup::Resolution;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn points(device: &str, n: u64, step: u64, offset: u64) -> Vec<(Name, Point)> {
    (0..n)
        .map(|i| {
            // Every 7th point arrives late, out of order.
            let t = if i % 7 == 3 { i * step / 2 } else { i * step } + offset;
            let mut values = vec![("x".into(), TelemetryValue::Number((i % 17) as f64 - 3.5))];
            if i % 5 == 0 {
                values.push(("y".into(), TelemetryValue::String(format!("s{i}"))));
            }
            (device.into(), Point { time: t, values })
        })
        .collect()
}

async fn fresh(name: &str) -> Database {
    let _ = rexie::Rexie::delete(name).await;
    Database::open(name).await.unwrap()
}

#[wasm_bindgen_test]
async fn writes_queries_and_aggregates_match_the_memory_backend() {
    let db = fresh("twinkit-test-basic").await;
    let cfg = Config {
        chunk_points: 100,
        ..Config::default()
    };
    let mem = MemoryKv::default();
    for batch in [
        points("d", 1_000, 1_000, 0),
        points("d", 500, 3_000, 200_000),
    ] {
        let report = db.write(&cfg, &batch).await.unwrap();
        assert_eq!(report.stored as usize, batch.len());
        let (ws, _) = engine::plan_write(&mem, &cfg, &batch).await.unwrap();
        mem.apply(ws);
    }
    let got = db.query("d", 0, u64::MAX >> 12, None).await.unwrap();
    let want = engine::query(&mem, "d", 0, u64::MAX >> 12, None)
        .await
        .unwrap();
    assert_eq!(got.len(), 1_500);
    assert_eq!(got, want);
    for r in Resolution::ALL {
        let rollup = db
            .aggregate("d", "x", 0, 3_000_000, r, false)
            .await
            .unwrap();
        let raw = db.aggregate("d", "x", 0, 3_000_000, r, true).await.unwrap();
        assert_eq!(rollup.len(), raw.len());
        for (a, b) in rollup.iter().zip(&raw) {
            assert_eq!(
                (a.timestamp, a.bucket.count, a.bucket.min, a.bucket.max),
                (b.timestamp, b.bucket.count, b.bucket.min, b.bucket.max)
            );
            assert!((a.bucket.sum - b.bucket.sum).abs() < 1e-6);
        }
    }
    assert_eq!(
        db.latest("d").await.unwrap().unwrap().time,
        200_000 + 499 * 3_000
    );
    assert_eq!(db.devices().await.unwrap(), vec!["d".to_string()]);
    let removed = db.delete_range("d", 100_000, 400_000).await.unwrap();
    let (ws, n) = engine::plan_delete(&mem, "d", 100_000, 400_000)
        .await
        .unwrap();
    mem.apply(ws);
    assert_eq!(removed, n);
    assert_eq!(
        db.aggregate("d", "x", 0, 3_000_000, Resolution::Minute, false)
            .await
            .unwrap(),
        engine::aggregate(&mem, "d", "x", 0, 3_000_000, Resolution::Minute)
            .await
            .unwrap()
    );
    let retention = Config {
        max_points: Some(300),
        ..cfg
    };
    db.retain(&retention, &["d".to_string()], 0).await.unwrap();
    assert_eq!(
        db.query("d", 0, u64::MAX >> 12, None).await.unwrap().len(),
        300
    );
    db.close();
}

#[wasm_bindgen_test]
async fn a_version_1_database_is_upgraded_and_its_rollups_rebuilt() {
    let name = "twinkit-test-v1";
    let _ = rexie::Rexie::delete(name).await;
    // Version 1 kept chunks only: write some with the memory backend.
    let mem = MemoryKv::default();
    let cfg = Config {
        chunk_points: 64,
        ..Config::default()
    };
    let (ws, _) = engine::plan_write(&mem, &cfg, &points("pump", 700, 10_000, 0))
        .await
        .unwrap();
    mem.apply(ws);
    let keys: Vec<ChunkKey> = mem.chunk_keys_all();
    let bytes = engine::Kv::chunks(&mem, &keys).await.unwrap();
    let chunks: Vec<(ChunkKey, Vec<u8>)> = keys
        .into_iter()
        .zip(bytes.into_iter().map(Option::unwrap))
        .collect();
    create_v1(name, &chunks).await.unwrap();

    let db = Database::open(name).await.unwrap();
    let hours = db
        .aggregate("pump", "x", 0, 10_000_000, Resolution::Hour, false)
        .await
        .unwrap();
    let want = engine::aggregate(&mem, "pump", "x", 0, 10_000_000, Resolution::Hour)
        .await
        .unwrap();
    assert!(!hours.is_empty());
    assert_eq!(hours.len(), want.len());
    for (a, b) in hours.iter().zip(&want) {
        assert_eq!(
            (a.timestamp, a.bucket.count, a.bucket.min, a.bucket.max),
            (b.timestamp, b.bucket.count, b.bucket.min, b.bucket.max)
        );
    }
    // Writes continue where version 1 left off.
    db.write(&cfg, &points("pump", 10, 1_000, 7_000_000))
        .await
        .unwrap();
    assert_eq!(
        db.query("pump", 0, u64::MAX >> 12, None)
            .await
            .unwrap()
            .len(),
        710
    );
    db.close();
    // Opening again does not rebuild twice (the points would double).
    let db = Database::open(name).await.unwrap();
    let total: u64 = db
        .aggregate("pump", "x", 0, 10_000_000, Resolution::Day, false)
        .await
        .unwrap()
        .iter()
        .map(|a| a.bucket.count)
        .sum();
    assert_eq!(total, 710);
    db.close();
}

#[wasm_bindgen_test]
async fn a_versionchange_from_another_connection_closes_and_reopens() {
    let name = "twinkit-test-versionchange";
    let db = fresh(name).await;
    let cfg = Config::default();
    db.write(&cfg, &points("d", 10, 1_000, 0)).await.unwrap();
    // Another tab's newer build upgrades the database: ours is closed...
    let other = rexie::Rexie::builder(name)
        .version(twinkit_store::idb::SCHEMA_VERSION + 1)
        .add_object_store(rexie::ObjectStore::new("chunks"))
        .add_object_store(rexie::ObjectStore::new("rollups"))
        .add_object_store(rexie::ObjectStore::new("journal"))
        .add_object_store(rexie::ObjectStore::new("meta"))
        .add_object_store(rexie::ObjectStore::new("extra"))
        .build()
        .await
        .unwrap();
    other.close();
    // ...and reopens on its next operation, with nothing lost.
    db.write(&cfg, &points("d", 10, 1_000, 50_000))
        .await
        .unwrap();
    assert_eq!(
        db.query("d", 0, u64::MAX >> 12, None).await.unwrap().len(),
        20
    );
    db.close();
}

#[wasm_bindgen_test]
async fn two_connections_writing_at_once_lose_nothing() {
    let name = "twinkit-test-two";
    let a = fresh(name).await;
    let b = Database::open(name).await.unwrap();
    let cfg = Config {
        chunk_points: 50,
        ..Config::default()
    };
    let batches: Vec<(bool, Vec<(Name, Point)>)> = (0..10u64)
        .flat_map(|i| {
            [
                (true, points("d", 30, 1_000, i * 100_000)),
                (false, points("d", 30, 1_000, i * 100_000 + 40_000)),
            ]
        })
        .collect();
    let writes: Vec<_> = batches
        .iter()
        .map(|(first, batch)| {
            if *first {
                a.write(&cfg, batch)
            } else {
                b.write(&cfg, batch)
            }
        })
        .collect();
    for r in futures_util::future::join_all(writes).await {
        r.unwrap();
    }
    assert_eq!(
        a.query("d", 0, u64::MAX >> 12, None).await.unwrap().len(),
        600
    );
    let total: u64 = b
        .aggregate("d", "x", 0, 10_000_000, Resolution::Hour, false)
        .await
        .unwrap()
        .iter()
        .map(|x| x.bucket.count)
        .sum();
    assert_eq!(total, 600);
    a.close();
    b.close();
}

fn record(device: &str, kind: JournalKind, timestamp: u64, n: u64) -> NewRecord {
    NewRecord {
        device: device.into(),
        kind,
        timestamp,
        body: format!(r#"{{"n":{n}}}"#),
    }
}

#[wasm_bindgen_test]
async fn a_version_2_database_gains_an_empty_journal_and_keeps_its_telemetry() {
    let name = "twinkit-test-v2";
    let _ = rexie::Rexie::delete(name).await;
    let cfg = Config {
        chunk_points: 64,
        ..Config::default()
    };
    let batch = points("pump", 500, 10_000, 0);
    create_v2(name, &cfg, &batch).await.unwrap();
    let mem = MemoryKv::default();
    let (ws, _) = engine::plan_write(&mem, &cfg, &batch).await.unwrap();
    mem.apply(ws);

    let db = Database::open(name).await.unwrap();
    // Telemetry and rollups as they were (no rebuild: counts not doubled).
    let got = db.query("pump", 0, u64::MAX >> 12, None).await.unwrap();
    assert_eq!(got.len(), 500);
    assert_eq!(
        got,
        engine::query(&mem, "pump", 0, u64::MAX >> 12, None)
            .await
            .unwrap()
    );
    let total: u64 = db
        .aggregate("pump", "x", 0, 10_000_000, Resolution::Day, false)
        .await
        .unwrap()
        .iter()
        .map(|a| a.bucket.count)
        .sum();
    assert_eq!(total, 500);
    // The journal is there, empty, and takes records.
    assert!(db.journal_devices().await.unwrap().is_empty());
    db.append_journal(
        &Retention::default(),
        &[record("pump", JournalKind::Sync, 5, 1)],
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        db.query_journal("pump", None, 0, 100, None)
            .await
            .unwrap()
            .len(),
        1
    );
    db.close();
    // Opened again: nothing migrates twice, nothing is lost.
    let db = Database::open(name).await.unwrap();
    assert_eq!(
        db.query("pump", 0, u64::MAX >> 12, None)
            .await
            .unwrap()
            .len(),
        500
    );
    assert_eq!(
        db.query_journal("pump", None, 0, 100, None)
            .await
            .unwrap()
            .len(),
        1
    );
    db.close();
}

#[wasm_bindgen_test]
async fn the_journal_matches_the_memory_backend_and_survives_reopening() {
    let name = "twinkit-test-journal";
    let db = fresh(name).await;
    let mem = MemoryKv::default();
    let retention = Retention {
        max_records: 50,
        max_age: Some(100_000),
    };
    let mut n = 0;
    for round in 0..6u64 {
        let batch: Vec<NewRecord> = (0..40u64)
            .map(|i| {
                n += 1;
                let kind = JournalKind::ALL[(i % 3) as usize];
                let device = ["a", "b"][(i % 2) as usize];
                // Some out of order, some already too old at the last rounds.
                record(device, kind, round * 30_000 + (i * 7_919) % 40_000, n)
            })
            .collect();
        let now = round * 30_000 + 40_000;
        let got = db.append_journal(&retention, &batch, now).await.unwrap();
        let (ws, want) = journal::plan_append(&mem, &retention, &batch, now)
            .await
            .unwrap();
        mem.apply(ws);
        assert_eq!(got, want);
    }
    for device in ["a", "b"] {
        for kind in [None, Some(JournalKind::Sync), Some(JournalKind::Lifecycle)] {
            for limit in [None, Some(7)] {
                let got = db
                    .query_journal(device, kind, 0, 1_000_000, limit)
                    .await
                    .unwrap();
                let want = journal::query(&mem, device, kind, 0, 1_000_000, limit)
                    .await
                    .unwrap();
                assert!(!got.is_empty());
                assert_eq!(got, want);
            }
        }
        let ranged = db
            .query_journal(device, Some(JournalKind::Audit), 150_000, 170_000, None)
            .await
            .unwrap();
        assert!(ranged
            .iter()
            .all(|r| (150_000..=170_000).contains(&r.key.timestamp)));
    }
    assert_eq!(db.journal_devices().await.unwrap(), ["a", "b"]);
    let lifecycle = db.journal_of_kind(JournalKind::Lifecycle).await.unwrap();
    assert!(lifecycle
        .iter()
        .all(|r| r.key.kind == JournalKind::Lifecycle));
    // Age retention spared lifecycle records; count retention bounded them.
    assert!(lifecycle.iter().any(|r| r.key.timestamp < 50_000));
    assert!(lifecycle.iter().filter(|r| r.key.device == "a").count() <= 50);
    // A bad record refuses the batch and writes nothing.
    let bad = db
        .append_journal(
            &retention,
            &[
                record("a", JournalKind::Sync, 1, 0),
                record("__proto__", JournalKind::Sync, 1, 0),
            ],
            0,
        )
        .await;
    assert!(matches!(
        bad,
        Err(twinkit_store::StoreError::InvalidInput(_))
    ));
    let before = db
        .query_journal("a", None, 0, 1_000_000, None)
        .await
        .unwrap();
    db.close();
    let db = Database::open(name).await.unwrap();
    assert_eq!(
        db.query_journal("a", None, 0, 1_000_000, None)
            .await
            .unwrap(),
        before
    );
    db.close();
}
