//! Times the pure write path natively on 100,000 points (10 devices, 2
//! properties): input checks, then planning the write.
#![allow(clippy::unwrap_used, missing_docs)]

// pollster is a native dev-dependency only.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use std::time::Instant;
    use twinkit_store::engine::{self, Config, MemoryKv};
    use twinkit_store::point::{check, RawRecord, RawValue, Skipped};

    let t = Instant::now();
    let mut skipped = Skipped::default();
    let batch: Vec<_> = (0..100_000u64)
        .filter_map(|k| {
            check(
                RawRecord {
                    device_id: format!("dev-{}", k % 10),
                    timestamp: (1_767_225_600_000 + (k / 10) * 1000) as f64,
                    values: vec![
                        (
                            "temperature".into(),
                            RawValue::Number(20.0 + (k % 100) as f64 / 10.0),
                        ),
                        (
                            "humidity".into(),
                            RawValue::Number(40.0 + (k % 50) as f64 / 5.0),
                        ),
                    ],
                },
                &mut skipped,
            )
        })
        .collect();
    println!("check: {:?}", t.elapsed());
    let kv = MemoryKv::default();
    let t = Instant::now();
    let (ws, _) = pollster::block_on(engine::plan_write(&kv, &Config::default(), &batch)).unwrap();
    let bytes: usize = ws.chunk_puts.iter().map(|c| c.1.len()).sum();
    println!(
        "plan_write: {:?}, {} chunks, {} bytes ({:.1} per point)",
        t.elapsed(),
        ws.chunk_puts.len(),
        bytes,
        bytes as f64 / 100_000.0
    );
}
