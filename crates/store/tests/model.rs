//! The store against a plain list of points, on random operations: writes
//! in random order (late and out-of-order points, chunks sealing), deletes
//! of ranges, retention by age and by count, and hostile input (NaN,
//! Infinity, out-of-range timestamps, non-numeric values), which must be
//! skipped and counted. After every step, queries return exactly the
//! model's points, and aggregates from the rollups equal aggregates
//! recomputed from the model (count, min, max and non-numeric counts
//! exactly; sums up to float rounding, since they add in another order).

#![cfg(not(target_arch = "wasm32"))]
// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

use pollster::block_on;
use proptest::prelude::*;
use twinkit_core::TelemetryValue;
use twinkit_store::engine::{self, Config, MemoryKv};
use twinkit_store::point::{check, Name, Point, RawRecord, RawValue, Skipped};
use twinkit_store::rollup::{Bucket, Resolution};

const DEVICES: [&str; 2] = ["d0", "d1"];
const PROPS: [&str; 2] = ["a", "b"];
const SPAN: u64 = 3 * 86_400_000;

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<RawRecord>),
    Delete(usize, u64, u64),
    Retain(Option<u64>, Option<u64>, u64),
}

fn raw_value() -> impl Strategy<Value = RawValue> {
    prop_oneof![
        6 => (-1000i32..1000).prop_map(|x| RawValue::Number(f64::from(x) / 8.0)),
        1 => Just(RawValue::Number(f64::NAN)),
        1 => Just(RawValue::Number(f64::INFINITY)),
        1 => any::<bool>().prop_map(RawValue::Bool),
        1 => "[a-z,\"]{0,3}".prop_map(RawValue::Text),
    ]
}

fn timestamp() -> impl Strategy<Value = f64> {
    prop_oneof![
        12 => (0..SPAN).prop_map(|t| t as f64),
        // Clustered, so buckets hold several points.
        12 => (0u64..400).prop_map(|k| (86_400_000 + k * 7_919) as f64),
        1 => Just(f64::NAN),
        1 => Just(-5.0),
        1 => Just(1e300),
    ]
}

fn record() -> impl Strategy<Value = RawRecord> {
    (
        0..DEVICES.len(),
        timestamp(),
        prop::collection::vec((0..PROPS.len(), raw_value()), 1..3),
    )
        .prop_map(|(d, t, values)| RawRecord {
            device_id: DEVICES[d].into(),
            timestamp: t,
            values: values
                .into_iter()
                .map(|(p, v)| (PROPS[p].into(), v))
                .collect(),
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(record(), 1..40).prop_map(Op::Write),
        1 => (0..DEVICES.len(), 0..SPAN, 0..SPAN / 2).prop_map(|(d, a, len)| Op::Delete(d, a, a + len)),
        1 => (
            prop::option::of(0..SPAN),
            prop::option::of(0u64..60),
            0..SPAN + 86_400_000,
        )
            .prop_map(|(age, points, now)| Op::Retain(age, points, now)),
    ]
}

/// The model: every stored point, per device, in storage order.
#[derive(Default)]
struct Model {
    points: Vec<(Name, Point)>,
}

impl Model {
    fn of(&self, device: &str) -> Vec<&Point> {
        let mut v: Vec<&Point> = self
            .points
            .iter()
            .filter(|(d, _)| &**d == device)
            .map(|(_, p)| p)
            .collect();
        v.sort_by_key(|p| p.time);
        v
    }

    fn delete(&mut self, device: &str, a: u64, b: u64) {
        self.points
            .retain(|(d, p)| &**d != device || p.time < a || p.time >= b);
    }
}

fn same_points(mut got: Vec<Point>, want: &[&Point]) -> Result<(), TestCaseError> {
    let mut want: Vec<Point> = want.iter().map(|p| (*p).clone()).collect();
    // Points at the same instant may come in any order.
    let key = |p: &Point| format!("{:020}{:?}", p.time, p.values);
    got.sort_by_key(key);
    want.sort_by_key(key);
    prop_assert_eq!(got, want);
    Ok(())
}

fn same_buckets(got: &[(u64, Bucket)], want: &[(u64, Bucket)]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{:?}\n{:?}", got, want);
    for ((tg, g), (tw, w)) in got.iter().zip(want) {
        prop_assert_eq!(tg, tw);
        prop_assert_eq!((g.count, g.other), (w.count, w.other));
        if w.count > 0 {
            prop_assert_eq!((g.min, g.max), (w.min, w.max));
            prop_assert!(
                (g.sum - w.sum).abs() <= 1e-9 * (1.0 + w.sum.abs()),
                "{g:?} {w:?}"
            );
        }
    }
    Ok(())
}

fn model_buckets(points: &[&Point], property: &str, r: Resolution) -> Vec<(u64, Bucket)> {
    let values = points.iter().flat_map(|p| {
        p.values
            .iter()
            .filter(|(n, _)| &**n == property)
            .map(|(_, v)| (p.time, v))
    });
    twinkit_store::rollup::bucket_points(values, r)
        .into_iter()
        .collect()
}

fn run(ops: Vec<Op>, chunk_points: usize) -> Result<(), TestCaseError> {
    let kv = MemoryKv::default();
    let mut model = Model::default();
    let mut cfg = Config {
        chunk_points,
        chunk_span: 3_600_000,
        ..Config::default()
    };
    for op in ops {
        match op {
            Op::Write(raw) => {
                let mut skipped = Skipped::default();
                let mut expected_skips = 0;
                let mut batch = Vec::new();
                for r in raw {
                    let bad_time =
                        !(r.timestamp.is_finite() && r.timestamp >= 0.0 && r.timestamp < 9e15);
                    let nonfinite = r
                        .values
                        .iter()
                        .filter(|(_, v)| matches!(v, RawValue::Number(x) if !x.is_finite()))
                        .count();
                    if bad_time {
                        expected_skips += 1;
                    } else {
                        expected_skips += nonfinite;
                        if nonfinite == r.values.len() {
                            expected_skips += 1; // the record, left empty
                        }
                    }
                    if let Some(p) = check(r, &mut skipped) {
                        batch.push(p);
                    }
                }
                prop_assert_eq!(skipped.total(), expected_skips as u64);
                let (ws, report) = block_on(engine::plan_write(&kv, &cfg, &batch)).unwrap();
                prop_assert_eq!(report.stored as usize, batch.len());
                kv.apply(ws);
                model.points.extend(batch);
            }
            Op::Delete(d, a, b) => {
                let (ws, removed) = block_on(engine::plan_delete(&kv, DEVICES[d], a, b)).unwrap();
                let before = model.points.len();
                model.delete(DEVICES[d], a, b);
                prop_assert_eq!(removed as usize, before - model.points.len());
                kv.apply(ws);
            }
            Op::Retain(age, points, now) => {
                cfg.max_age = age;
                cfg.max_points = points;
                for device in DEVICES {
                    if let Some((ws, _)) =
                        block_on(engine::plan_retention(&kv, &cfg, device, now)).unwrap()
                    {
                        kv.apply(ws);
                    }
                    if let Some(age) = age {
                        model.delete(device, 0, now.saturating_sub(age));
                    }
                    if let Some(max) = points {
                        let pts = model.of(device);
                        if pts.len() as u64 > max {
                            let cut = pts[pts.len() - max as usize - 1].time + 1;
                            model.delete(device, 0, cut);
                        }
                    }
                }
                cfg.max_age = None;
                cfg.max_points = None;
            }
        }
        for device in DEVICES {
            let want = model.of(device);
            let got = block_on(engine::query(&kv, device, 0, u64::MAX >> 11, None)).unwrap();
            same_points((0..got.len()).map(|r| got.point(r)).collect(), &want)?;
            let part = block_on(engine::query(
                &kv,
                device,
                86_400_000,
                88_000_000,
                Some("a"),
            ))
            .unwrap();
            let want_part: Vec<Point> = want
                .iter()
                .filter(|p| (86_400_000..=88_000_000).contains(&p.time))
                .filter_map(|p| {
                    let values: Vec<_> = p
                        .values
                        .iter()
                        .filter(|(n, _)| &**n == "a")
                        .cloned()
                        .collect();
                    (!values.is_empty()).then_some(Point {
                        time: p.time,
                        values,
                    })
                })
                .collect();
            same_points(
                (0..part.len()).map(|r| part.point(r)).collect(),
                &want_part.iter().collect::<Vec<_>>(),
            )?;
            for property in PROPS {
                for r in Resolution::ALL {
                    let got: Vec<(u64, Bucket)> =
                        block_on(engine::aggregate(&kv, device, property, 0, SPAN, r))
                            .unwrap()
                            .into_iter()
                            .map(|a| (a.timestamp, a.bucket))
                            .collect();
                    same_buckets(&got, &model_buckets(&want, property, r))?;
                    let raw: Vec<(u64, Bucket)> =
                        block_on(engine::aggregate_raw(&kv, device, property, 0, SPAN, r))
                            .unwrap()
                            .into_iter()
                            .map(|a| (a.timestamp, a.bucket))
                            .collect();
                    same_buckets(&raw, &got)?;
                }
            }
            let latest = block_on(engine::latest(&kv, device)).unwrap();
            prop_assert_eq!(latest.map(|p| p.time), want.last().map(|p| p.time));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn rollups_and_queries_match_the_raw_points(ops in prop::collection::vec(op(), 1..14), chunk_points in 1usize..12) {
        run(ops, chunk_points)?;
    }
}

#[test]
fn a_partial_window_aggregate_covers_whole_buckets() {
    let kv = MemoryKv::default();
    let cfg = Config::default();
    let batch: Vec<(Name, Point)> = (0..180u64)
        .map(|i| {
            (
                "d".into(),
                Point {
                    time: i * 1_000,
                    values: vec![("x".into(), TelemetryValue::Number(1.0))],
                },
            )
        })
        .collect();
    let (ws, _) = block_on(engine::plan_write(&kv, &cfg, &batch)).unwrap();
    kv.apply(ws);
    let got = block_on(engine::aggregate(
        &kv,
        "d",
        "x",
        30_000,
        90_000,
        Resolution::Minute,
    ))
    .unwrap();
    assert_eq!(
        got.iter()
            .map(|a| (a.timestamp, a.bucket.count))
            .collect::<Vec<_>>(),
        vec![(0, 60), (60_000, 60)]
    );
}

#[test]
fn corrupt_chunks_are_errors_not_panics() {
    let kv = MemoryKv::default();
    let cfg = Config::default();
    let (ws, _) = block_on(engine::plan_write(
        &kv,
        &cfg,
        &[(
            "d".into(),
            Point {
                time: 5,
                values: vec![("x".into(), TelemetryValue::Number(1.0))],
            },
        )],
    ))
    .unwrap();
    kv.apply(ws);
    let key = kv.chunk_keys_all().remove(0);
    kv.corrupt_chunk(&key, b"TKc\x01\x05".to_vec());
    let e = block_on(engine::query(&kv, "d", 0, 10, None)).unwrap_err();
    assert_eq!(e.code(), "CORRUPT_DATA");
}

#[test]
fn rebuild_from_chunks_gives_the_same_rollups() {
    let kv = MemoryKv::default();
    let cfg = Config {
        chunk_points: 50,
        ..Config::default()
    };
    let batch: Vec<(Name, Point)> = (0..5_000u64)
        .map(|i| {
            (
                "d".into(),
                Point {
                    time: (i * 7_777) % 20_000_000,
                    values: vec![("x".into(), TelemetryValue::Number((i % 13) as f64))],
                },
            )
        })
        .collect();
    let (ws, _) = block_on(engine::plan_write(&kv, &cfg, &batch)).unwrap();
    kv.apply(ws);
    let before = block_on(engine::aggregate(
        &kv,
        "d",
        "x",
        0,
        30_000_000,
        Resolution::Hour,
    ))
    .unwrap();
    // Rebuild into a store that holds only the chunks.
    let fresh = MemoryKv::default();
    let chunks = kv.chunk_keys_all();
    let bytes = block_on(twinkit_store::engine::Kv::chunks(&kv, &chunks)).unwrap();
    fresh.apply(engine::WriteSet {
        chunk_puts: chunks
            .into_iter()
            .zip(bytes.into_iter().map(Option::unwrap))
            .collect(),
        ..Default::default()
    });
    fresh.apply(block_on(engine::plan_rebuild(&fresh, "d")).unwrap());
    let after = block_on(engine::aggregate(
        &fresh,
        "d",
        "x",
        0,
        30_000_000,
        Resolution::Hour,
    ))
    .unwrap();
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (b.timestamp, b.bucket.count, b.bucket.min, b.bucket.max),
            (a.timestamp, a.bucket.count, a.bucket.min, a.bucket.max)
        );
    }
}
