//! # twinkit-bench
//!
//! What every native benchmark of the workspace does last: merge its
//! figures (`{"name": {"value", "unit", "baseline", "ratio", ...}}`) into
//! `target/bench/results.json`, keeping the other benchmarks' entries.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Merges `entries` into `target/bench/results.json` under the workspace
/// root (`manifest_dir` is the calling crate's `CARGO_MANIFEST_DIR`, two
/// levels below the root) and prints the file's path.
///
/// # Panics
///
/// When the file cannot be written: a benchmark has nothing else to do.
pub fn write_results(manifest_dir: &str, entries: BTreeMap<String, Value>) {
    let root = Path::new(manifest_dir)
        .ancestors()
        .nth(2)
        .expect("crate lives in crates/<name>");
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let path = dir.join("results.json");
    // Keep other benchmarks' entries.
    let mut all: BTreeMap<String, Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    all.extend(entries);
    std::fs::write(&path, serde_json::to_vec_pretty(&all).expect("json")).expect("write results");
    println!("wrote {}", path.display());
}
