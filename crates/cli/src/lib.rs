//! # twinkit-cli
//!
//! `twinkit-analyze`: twinkit's analytics over CSV files, with exactly the
//! library code a twin runs (`twinkit-analytics`, `twinkit-core`).
//!
//! ```text
//! twinkit-analyze detect  FILE.csv [--property P] [--device D] [--config detectors.json]
//! twinkit-analyze health  FILE.csv [--now T] [--span S] [--noise-tolerance N] [--interval-ms MS]
//! twinkit-analyze predict FILE.csv --warning W --critical C [--now T] [--confidence 0.9]
//! twinkit-analyze nab     DIR [--config detectors.json]  (NAB: DIR holds windows.json and its CSVs)
//! ```
//!
//! Every command takes `--format text|json` (default `text`: CSV rows for
//! `detect`, `key: value` lines for the others). Input: see [`input`].
#![deny(missing_docs)]

pub mod input;
pub mod nab;

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use twinkit_analytics::{
    analyze_detailed, AnomalyDetector, Crossing, DetectorConfig, HealthConfig, PredictionOptions,
    TrendSummary,
};
use twinkit_core::prediction::PredictiveMaintenance;
use twinkit_core::Millis;

use input::{parse_timestamp, read_path, Selection, Series};

/// Command line of `twinkit-analyze`.
#[derive(Debug, Parser)]
#[command(
    name = "twinkit-analyze",
    version,
    about = "Anomaly detection, health and maintenance predictions over CSV telemetry (twinkit)",
    long_about = "Anomaly detection, health and maintenance predictions over CSV telemetry, with the \
                  same code twinkit's twins run.\n\nInput: CSV with a header, either `timestamp,value` \
                  or the store's export `timestamp,deviceId,<properties...>` (choose a column with \
                  --property, a device with --device). Timestamps: ISO-8601 such as \
                  `2013-12-02 21:15:00` (UTC unless an offset is given) or epoch seconds/milliseconds. \
                  `-` reads standard input."
)]
pub struct Cli {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// CSV rows (detect) or `key: value` lines.
    Text,
    /// JSON.
    Json,
}

/// Which column of which file.
#[derive(Debug, Clone, clap::Args)]
pub struct Source {
    /// CSV file (`-` for standard input).
    pub file: String,
    /// Value column (default `value`, or the only property column).
    #[arg(long)]
    pub property: Option<String>,
    /// Only rows of this deviceId (store export).
    #[arg(long)]
    pub device: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Streams the series through the detectors; prints one row per detection:
    /// timestamp,type,severity,value (timestamps as in the input).
    Detect {
        /// The series.
        #[command(flatten)]
        source: Source,
        /// Detector thresholds as JSON (camelCase DetectorConfig fields).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Health at the end of the series: stability, drift per minute,
    /// freshness, score, status and issues.
    Health {
        /// The series.
        #[command(flatten)]
        source: Source,
        /// Judge freshness at this time (default: the last reading's time).
        #[arg(long)]
        now: Option<String>,
        /// The property's span (max − min), for the stability tolerance.
        #[arg(long)]
        span: Option<f64>,
        /// Noise level that counts as 0 % stable.
        #[arg(long)]
        noise_tolerance: Option<f64>,
        /// Expected interval between readings, ms (default: the median).
        #[arg(long)]
        interval_ms: Option<u64>,
    },
    /// Maintenance prediction: trend, value in 24 h with its interval, times
    /// to warning and critical with bounds (least squares and Theil–Sen).
    Predict {
        /// The series.
        #[command(flatten)]
        source: Source,
        /// Warning level.
        #[arg(long, allow_negative_numbers = true)]
        warning: f64,
        /// Critical level (below warning: lower is worse).
        #[arg(long, allow_negative_numbers = true)]
        critical: f64,
        /// Analysis time (default: the last reading's time).
        #[arg(long)]
        now: Option<String>,
        /// Confidence of the intervals.
        #[arg(long, default_value_t = 0.9)]
        confidence: f64,
    },
    /// Evaluates the default detectors on NAB files: DIR holds windows.json
    /// and the CSV files it names.
    Nab {
        /// The directory.
        dir: PathBuf,
        /// Detector thresholds as JSON (default: the library defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn load(source: &Source, warnings: &mut Vec<String>) -> Result<Series, String> {
    let selection = Selection {
        property: source.property.clone(),
        device: source.device.clone(),
    };
    let name = if source.file == "-" {
        "stdin"
    } else {
        source.file.as_str()
    };
    let series = read_path(&source.file, &selection).map_err(|e| format!("{name}: {e}"))?;
    warnings.extend(series.warnings.iter().map(|w| format!("{name}: {w}")));
    Ok(series)
}

fn time_or_last(now: &Option<String>, series: &Series) -> Result<Millis, String> {
    match now {
        Some(t) => parse_timestamp(t).map_err(|e| format!("--now: {e}")),
        None => series
            .readings
            .last()
            .map(|r| r.time)
            .ok_or_else(|| format!("`{}`: no readings", series.property)),
    }
}

/// What a command printed: its output, and warnings for standard error.
#[derive(Debug, Default)]
pub struct Output {
    /// For standard output.
    pub text: String,
    /// For standard error.
    pub warnings: Vec<String>,
}

/// Runs a parsed command line; the output to print, or an error message.
pub fn run(cli: &Cli) -> Result<Output, String> {
    let mut warnings = Vec::new();
    let text = run_command(cli, &mut warnings)?;
    Ok(Output { text, warnings })
}

fn run_command(cli: &Cli, warnings: &mut Vec<String>) -> Result<String, String> {
    match &cli.command {
        Command::Detect { source, config } => {
            let series = load(source, warnings)?;
            detect(cli.format, &series, config.as_ref())
        }
        Command::Health {
            source,
            now,
            span,
            noise_tolerance,
            interval_ms,
        } => {
            let config = HealthConfig {
                span: *span,
                noise_tolerance: *noise_tolerance,
                expected_interval_ms: *interval_ms,
                ..HealthConfig::default()
            };
            let series = load(source, warnings)?;
            health(cli.format, &series, now, config)
        }
        Command::Predict {
            source,
            warning,
            critical,
            now,
            confidence,
        } => {
            let series = load(source, warnings)?;
            predict(cli.format, &series, *warning, *critical, now, *confidence)
        }
        Command::Nab { dir, config } => {
            let report = nab::evaluate(dir, &detector_config(config.as_ref())?)?;
            Ok(match cli.format {
                Format::Json => pretty(&report),
                Format::Text => nab::render(&report),
            })
        }
    }
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("\"{e}\""));
    s.push('\n');
    s
}

fn detector_config(path: Option<&PathBuf>) -> Result<DetectorConfig, String> {
    let Some(path) = path else {
        return Ok(DetectorConfig::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: DetectorConfig =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    config
        .validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(config)
}

fn detect(format: Format, series: &Series, config: Option<&PathBuf>) -> Result<String, String> {
    let config = detector_config(config)?;
    let mut detector = AnomalyDetector::with_default(config).map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    let mut out = Vec::new();
    for (i, r) in series.readings.iter().enumerate() {
        out.clear();
        detector
            .observe(&series.property, r.time, r.value, &mut out)
            .map_err(|e| e.to_string())?;
        found.extend(out.drain(..).map(|d| (i, d)));
    }
    match format {
        Format::Json => {
            let rows: Vec<_> = found
                .iter()
                .map(|(i, d)| {
                    let mut v = serde_json::to_value(d).unwrap_or_default();
                    v["timestamp"] = json!(series.readings[*i].raw_time);
                    v["time"] = json!(d.timestamp);
                    v
                })
                .collect();
            Ok(pretty(&rows))
        }
        Format::Text => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let csv_err = |e: csv::Error| e.to_string();
            w.write_record(["timestamp", "type", "severity", "value"])
                .map_err(csv_err)?;
            for (i, d) in &found {
                let severity = serde_json::to_value(d.severity).unwrap_or_default();
                w.write_record([
                    series.readings[*i].raw_time.as_str(),
                    d.kind.as_str(),
                    severity.as_str().unwrap_or_default(),
                    &d.value.to_string(),
                ])
                .map_err(csv_err)?;
            }
            let bytes = w.into_inner().map_err(|e| e.to_string())?;
            String::from_utf8(bytes).map_err(|e| e.to_string())
        }
    }
}

fn health(
    format: Format,
    series: &Series,
    now: &Option<String>,
    config: HealthConfig,
) -> Result<String, String> {
    let now = time_or_last(now, series)?;
    let mut detector = AnomalyDetector::new();
    detector
        .set_health_config(&series.property, config)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in &series.readings {
        out.clear();
        detector
            .observe(&series.property, r.time, r.value, &mut out)
            .map_err(|e| e.to_string())?;
    }
    let h = detector
        .health(&series.property, now)
        .ok_or_else(|| format!("`{}`: no readings", series.property))?;
    Ok(match format {
        Format::Json => pretty(&h),
        Format::Text => {
            let opt = |v: Option<f64>, unit: &str| {
                v.map_or("n/a".to_owned(), |x| format!("{}{unit}", round(x, 4)))
            };
            let mut s = String::new();
            let _ = writeln!(s, "property: {}", h.property);
            let _ = writeln!(s, "status: {}", h.status.as_str());
            let _ = writeln!(s, "score: {}", h.score);
            let _ = writeln!(
                s,
                "stability: {}",
                opt(h.stability_percent.map(|x| round(x, 1)), "%")
            );
            let _ = writeln!(s, "drift: {}", opt(h.drift_per_minute, "/min"));
            let _ = writeln!(s, "noise std: {}", opt(h.noise_std, ""));
            let _ = writeln!(
                s,
                "freshness: {:?} (last reading {} s before now, expected every {})",
                h.freshness,
                h.age_ms as f64 / 1000.0,
                h.expected_interval_ms
                    .map_or("n/a".to_owned(), |i| format!("{} s", i as f64 / 1000.0))
            );
            let _ = writeln!(s, "current value: {}", opt(h.current_value, ""));
            let _ = writeln!(s, "readings in window: {}", h.readings);
            if h.issues.is_empty() {
                let _ = writeln!(s, "issues: none");
            } else {
                let _ = writeln!(s, "issues:");
                for i in &h.issues {
                    let _ = writeln!(s, "  - {i}");
                }
            }
            s
        }
    })
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

fn predict(
    format: Format,
    series: &Series,
    warning: f64,
    critical: f64,
    now: &Option<String>,
    confidence: f64,
) -> Result<String, String> {
    let now = time_or_last(now, series)?;
    let mut pm = PredictiveMaintenance::new();
    pm.set_threshold(&series.property, warning, critical)
        .map_err(|e| e.to_string())?;
    let points: Vec<(Millis, f64)> = series.readings.iter().map(|r| (r.time, r.value)).collect();
    let options = PredictionOptions {
        confidence_level: confidence,
        robust: true,
    };
    let detailed = analyze_detailed(&mut pm, |_| points.iter().copied(), now, options)
        .map_err(|e| e.to_string())?;
    let Some(d) = detailed.into_iter().next() else {
        return Err(format!(
            "`{}`: need at least {} readings at two or more distinct times",
            series.property,
            twinkit_core::prediction::MIN_POINTS
        ));
    };
    Ok(match format {
        Format::Json => pretty(&d),
        Format::Text => {
            let p = &d.prediction;
            let hours =
                |h: Option<f64>| h.map_or("never".to_owned(), |h| format!("{} h", round(h, 2)));
            let mut s = String::new();
            let _ = writeln!(s, "property: {}", p.property);
            let _ = writeln!(s, "current value: {}", p.current_value);
            let _ = writeln!(
                s,
                "predicted value in 24 h: {}",
                round(p.predicted_value, 4)
            );
            let _ = writeln!(s, "time to warning: {}", hours(p.time_to_warning));
            let _ = writeln!(s, "time to critical: {}", hours(p.time_to_critical));
            let _ = writeln!(s, "confidence: {}", round(p.confidence, 3));
            let _ = writeln!(s, "recommendation: {}", p.recommendation);
            let pct = round(100.0 * d.confidence_level, 1);
            let mut trend = |t: &TrendSummary, name: &str| {
                let crossing = |c: &Crossing| match c.lower {
                    None => format!("{} (no crossing plausible at {pct}%)", hours(c.estimate)),
                    Some(lower) => format!(
                        "{} ({pct}% interval {} h to {})",
                        hours(c.estimate),
                        round(lower, 2),
                        c.upper
                            .map_or("unbounded".to_owned(), |h| format!("{} h", round(h, 2)))
                    ),
                };
                let _ = writeln!(s, "{name}:");
                let _ = writeln!(s, "  slope: {}/h", round(t.slope_per_hour, 6));
                let _ = writeln!(
                    s,
                    "  value in 24 h: {} ({pct}% interval {} to {})",
                    round(t.predicted_value.estimate, 4),
                    round(t.predicted_value.lower, 4),
                    round(t.predicted_value.upper, 4)
                );
                let _ = writeln!(s, "  time to warning: {}", crossing(&t.time_to_warning));
                let _ = writeln!(s, "  time to critical: {}", crossing(&t.time_to_critical));
            };
            trend(&d.least_squares, "least squares");
            if let Some(ts) = &d.theil_sen {
                trend(ts, "Theil-Sen");
            }
            s
        }
    })
}
