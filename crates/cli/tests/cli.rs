//! Runs the `twinkit-analyze` binary on small CSV files.
#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twinkit-analyze"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A temporary file, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("twinkit-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 200 readings, 5 minutes apart, of a slightly wobbling 20 with one spike
/// (row 150) and, from row 170, a sensor stuck at 21.5.
fn series_csv(iso: bool) -> String {
    let mut s = String::from("timestamp,value\n");
    for i in 0..200u64 {
        let t = 1_386_018_900 + i * 300; // 2013-12-02 21:15:00 UTC
        let stamp = if iso {
            let secs = t % 86_400;
            let day = 2 + (t - 1_385_942_400) / 86_400;
            format!(
                "2013-12-{day:02} {:02}:{:02}:{:02}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            )
        } else {
            t.to_string()
        };
        let v = match i {
            150 => 35.0,
            170.. => 21.5,
            _ => 20.0 + [0.0, 0.3, -0.2, 0.4, -0.1, 0.2, -0.3][(i % 7) as usize],
        };
        s += &format!("{stamp},{v}\n");
    }
    s
}

#[test]
fn help_lists_the_commands() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for cmd in ["detect", "health", "predict", "nab", "--format"] {
        assert!(out.contains(cmd), "{cmd} missing from:\n{out}");
    }
    assert!(stdout(&run(&["predict", "--help"])).contains("--critical"));
}

#[test]
fn detect_prints_csv_rows_with_input_timestamps() {
    let f = TempFile::new("detect.csv", &series_csv(true));
    let o = run(&["detect", f.path()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "timestamp,type,severity,value");
    assert!(
        lines.contains(&"2013-12-03 09:45:00,SPIKE,critical,35"),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.contains(",STUCK,warning,21.5")),
        "{out}"
    );
    // Epoch seconds in, epoch seconds out.
    let f = TempFile::new("detect-epoch.csv", &series_csv(false));
    let out = stdout(&run(&["detect", f.path()]));
    assert!(out.contains("1386063900,SPIKE,critical,35"), "{out}");
}

#[test]
fn detect_json_and_stdin() {
    let mut child = bin()
        .args(["detect", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(series_csv(true).as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let spike = v
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"] == "SPIKE")
        .unwrap();
    assert_eq!(spike["timestamp"], "2013-12-03 09:45:00");
    assert_eq!(spike["time"], 1_386_063_900_000u64);
    assert_eq!(spike["value"], 35.0);
    assert!(spike["expectedRange"]["max"].as_f64().unwrap() < 21.5);
    assert!(spike["message"]
        .as_str()
        .unwrap()
        .contains("above its rolling median"));
}

#[test]
fn detect_with_a_config_file() {
    let f = TempFile::new("cfg-series.csv", &series_csv(true));
    let cfg = TempFile::new(
        "cfg.json",
        r#"{"spikeThreshold": null, "stuckReadings": null}"#,
    );
    let out = stdout(&run(&["detect", f.path(), "--config", cfg.path()]));
    assert!(!out.contains("SPIKE") && !out.contains("STUCK"), "{out}");
    let bad = TempFile::new("bad-cfg.json", r#"{"window": 2}"#);
    let o = run(&["detect", f.path(), "--config", bad.path()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("`window` must be between 8 and 4096"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn health_text_and_json() {
    let f = TempFile::new("health.csv", &series_csv(true));
    let o = run(&["health", f.path(), "--span", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("status: FAILED"), "{out}"); // stuck at the end
    assert!(out.contains("  - Stuck at 21.5"), "{out}");
    let o = run(&[
        "health",
        f.path(),
        "--format",
        "json",
        "--now",
        "2013-12-03 15:00:00",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["expectedIntervalMs"], 300_000);
    // Last reading 13:50, every 5 min: 70 min later is 14 intervals.
    assert_eq!(v["freshness"], "OFFLINE");
    assert_eq!(v["ageMs"], 70 * 60_000);
}

#[test]
fn predict_reports_both_trends() {
    // A vibration rising 0.1 per hour with a little wobble, hourly.
    let mut csv = String::from("timestamp,value\n");
    for h in 0..48u64 {
        let wobble = [0.05, -0.05, 0.02][(h % 3) as usize];
        csv += &format!(
            "{},{}\n",
            1_700_000_000_000u64 + h * 3_600_000,
            2.0 + 0.1 * h as f64 + wobble
        );
    }
    let f = TempFile::new("predict.csv", &csv);
    let o = run(&["predict", f.path(), "--warning", "8", "--critical", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("least squares:") && out.contains("Theil-Sen:"),
        "{out}"
    );
    assert!(
        out.contains("recommendation: Schedule maintenance within this week"),
        "{out}"
    );
    let o = run(&[
        "predict",
        f.path(),
        "--warning",
        "8",
        "--critical",
        "10",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ttc = v["timeToCritical"].as_f64().unwrap();
    assert!((ttc - 33.0).abs() < 1.0, "{ttc}");
    let bounds = &v["leastSquares"]["timeToCritical"];
    assert!(bounds["lower"].as_f64().unwrap() < ttc && ttc < bounds["upper"].as_f64().unwrap());
    assert_eq!(v["confidenceLevel"], 0.9);
    // Falling thresholds with negative numbers parse.
    let o = run(&["predict", f.path(), "--warning", "-1", "--critical", "-5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("time to critical: never"));
}

#[test]
fn store_export_and_errors() {
    let export = "timestamp,deviceId,temperature,humidity\n\
                  2024-01-01T00:00:00Z,m1,20.5,40\n2024-01-01T00:01:00Z,m1,20.6,41\n";
    let f = TempFile::new("export.csv", export);
    let o = run(&["detect", f.path(), "--property", "humidity"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "timestamp,type,severity,value\n");
    let o = run(&["detect", f.path()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("choose a column with --property (columns: temperature, humidity)"));
    let bad = TempFile::new("bad.csv", "timestamp,value\n1,2\n2,oops\n");
    let o = run(&["health", bad.path()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).ends_with("line 3: `value` value \"oops\" is not a finite number\n"),
        "{}",
        stderr(&o)
    );
    let o = run(&["detect", "/nonexistent/file.csv"]);
    assert!(stderr(&o).starts_with("twinkit-analyze: /nonexistent/file.csv: "));
    let o = run(&[
        "predict",
        f.path(),
        "--property",
        "temperature",
        "--warning",
        "1",
        "--critical",
        "1",
    ]);
    assert!(stderr(&o).contains("must differ"), "{}", stderr(&o));
    let o = run(&[
        "predict",
        f.path(),
        "--property",
        "temperature",
        "--warning",
        "30",
        "--critical",
        "40",
    ]);
    assert!(
        stderr(&o).contains("need at least 10 readings"),
        "{}",
        stderr(&o)
    );
    let o = run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn clock_set_back_warns_and_keeps_going() {
    let f = TempFile::new("back.csv", "timestamp,value\n10,1\n20,2\n15,3\n30,4\n");
    let o = run(&["detect", f.path()]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("warning:") && stderr(&o).contains("line 4: timestamp 15"),
        "{}",
        stderr(&o)
    );
}
