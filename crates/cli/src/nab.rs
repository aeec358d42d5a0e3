//! Scoring detections the way the Numenta Anomaly Benchmark does (standard
//! profile), and evaluating the default detectors on NAB files.
//!
//! # Scoring (NAB's sweeper, binary detections)
//!
//! * The first `min(⌊0.15·n⌋, 750)` rows of a file are probationary:
//!   detections there are ignored.
//! * A detection at row `i` inside window `[l, r]` scores
//!   `A_TP · σ(−(r − i + 1)/(r − l + 1)) / σ(−1)` with the scaled sigmoid
//!   `σ(x) = 2/(1 + e^{5x}) − 1` (−1 beyond `x > 3`): 1 at the window's
//!   start, falling to about 0 at its end. Only the best (earliest) detection
//!   of a window counts.
//! * A window without a detection costs `A_FN`.
//! * A detection outside every window costs `A_FP · σ(d)` with `d` the
//!   distance past the previous window's end in units of its width minus one
//!   (−1 when no window precedes it): nearly free just after a window, a full
//!   `−A_FP` far from one.
//! * Standard profile: `A_TP = 1`, `A_FN = 1`, `A_FP = 0.11`.
//! * Normalised score `100 · (raw − null)/(perfect − null)` where the null
//!   detector (never fires) scores `−A_FN` per window and the perfect one
//!   `A_TP` per window; over several files the raw, null and perfect scores
//!   are summed first.
//!
//! NAB also sweeps each detector's anomaly-score threshold for its best
//! corpus score; the detectors here are binary, evaluated at their defaults.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use twinkit_analytics::{AnomalyDetector, AnomalyKind, Detection, DetectorConfig};
use twinkit_core::Millis;

use crate::input::{parse_timestamp, read_path, Selection};

/// Weights of a NAB application profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Reward of a true positive at a window's start.
    pub tp: f64,
    /// Cost of a false positive far from any window.
    pub fp: f64,
    /// Cost of a missed window.
    pub fn_: f64,
}

/// The standard profile.
pub const STANDARD: Profile = Profile {
    tp: 1.0,
    fp: 0.11,
    fn_: 1.0,
};

/// NAB's scaled sigmoid.
pub fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// Rows ignored at the start of a file of `rows` rows.
pub fn probation(rows: usize) -> usize {
    ((0.15 * rows as f64).floor() as usize).min(750)
}

/// The score of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileScore {
    /// Sum of the weighted scores.
    pub raw: f64,
    /// The never-firing detector's raw score.
    pub null: f64,
    /// The perfect detector's raw score.
    pub perfect: f64,
    /// Per window, the row of the counted (earliest) detection.
    pub first_detection: Vec<Option<usize>>,
    /// Distinct rows with detections outside every window (after probation).
    pub false_positives: usize,
    /// Their summed (negative) contribution.
    pub false_positive_score: f64,
}

impl FileScore {
    /// `100 · (raw − null)/(perfect − null)`.
    pub fn normalized(&self) -> f64 {
        normalize(self.raw, self.null, self.perfect)
    }
}

/// `100 · (raw − null)/(perfect − null)`, 0 when perfect equals null.
pub fn normalize(raw: f64, null: f64, perfect: f64) -> f64 {
    if perfect > null {
        100.0 * (raw - null) / (perfect - null)
    } else {
        0.0
    }
}

/// Scores detections at `rows` (any order, repeats allowed) in a file of
/// `n` rows with inclusive windows `[left, right]` (sorted, disjoint).
pub fn score(n: usize, windows: &[(usize, usize)], rows: &[usize], profile: Profile) -> FileScore {
    let mut rows: Vec<usize> = rows.iter().copied().filter(|&r| r < n).collect();
    rows.sort_unstable();
    rows.dedup();
    let start = probation(n);
    let max_tp = scaled_sigmoid(-1.0);
    let mut best: Vec<Option<(f64, usize)>> = vec![None; windows.len()];
    let (mut fp_count, mut fp_score) = (0, 0.0);
    for &i in rows.iter().filter(|&&i| i >= start) {
        if let Some(w) = windows.iter().position(|&(l, r)| l <= i && i <= r) {
            let (l, r) = windows[w];
            let pos = -((r - i + 1) as f64) / ((r - l + 1) as f64);
            let s = scaled_sigmoid(pos) * profile.tp / max_tp;
            if best[w].is_none_or(|(b, _)| s > b) {
                best[w] = Some((s, i));
            }
        } else {
            let previous = windows.iter().rev().find(|&&(_, r)| r < i);
            let unweighted = match previous {
                None => -1.0,
                Some(&(l, r)) => {
                    let width = (r - l + 1) as f64;
                    scaled_sigmoid((i - r) as f64 / (width - 1.0).max(1.0))
                }
            };
            fp_count += 1;
            fp_score += unweighted * profile.fp;
        }
    }
    let tp: f64 = best.iter().flatten().map(|(s, _)| s).sum();
    let missed = best.iter().filter(|b| b.is_none()).count() as f64;
    FileScore {
        raw: tp - missed * profile.fn_ + fp_score,
        null: -(windows.len() as f64) * profile.fn_,
        perfect: windows.len() as f64 * profile.tp,
        first_detection: best.iter().map(|b| b.map(|(_, i)| i)).collect(),
        false_positives: fp_count,
        false_positive_score: fp_score,
    }
}

/// One labelled window and how the detectors did on it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// Window start, as labelled.
    pub start: String,
    /// Window end, as labelled.
    pub end: String,
    /// The counted detection's timestamp, if any.
    pub detected_at: Option<String>,
    /// Its type.
    pub detected_type: Option<AnomalyKind>,
    /// Hours after the window's start.
    pub hours_after_start: Option<f64>,
    /// Hours before the window's end (how early).
    pub hours_before_end: Option<f64>,
}

/// The evaluation of one file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    /// File name.
    pub file: String,
    /// Rows.
    pub rows: usize,
    /// Rows ignored at the start.
    pub probation_rows: usize,
    /// Every detection, by type.
    pub detections_by_type: BTreeMap<String, usize>,
    /// Windows with a detection.
    pub windows_hit: usize,
    /// Windows.
    pub windows: Vec<WindowReport>,
    /// Rows with detections outside windows (after probation).
    pub detections_outside_windows: usize,
    /// The score.
    pub score: FileScore,
    /// Normalised standard-profile score of this file alone.
    pub normalized_score: f64,
}

/// The evaluation of a directory.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Per file.
    pub files: Vec<FileReport>,
    /// Windows hit, over all files.
    pub windows_hit: usize,
    /// Windows, over all files.
    pub windows_total: usize,
    /// Detections outside windows, over all files.
    pub detections_outside_windows: usize,
    /// Normalised standard-profile score over all files.
    pub normalized_score: f64,
}

/// Evaluates detectors with `config` (the defaults unless told otherwise)
/// on every file `windows.json` in `dir` names.
pub fn evaluate(dir: &Path, config: &DetectorConfig) -> Result<Report, String> {
    let labels_path = dir.join("windows.json");
    let text = std::fs::read_to_string(&labels_path)
        .map_err(|e| format!("{}: {e}", labels_path.display()))?;
    let labels: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", labels_path.display()))?;
    let mut files = Vec::new();
    for (file, windows) in &labels {
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(format!("windows.json: refusing file name {file:?}"));
        }
        let path = dir.join(file);
        let series = read_path(&path.to_string_lossy(), &Selection::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(evaluate_series(file, &series.readings, windows, config)?);
    }
    let sum = |f: fn(&FileReport) -> f64| files.iter().map(f).sum::<f64>();
    let (raw, null, perfect) = (
        sum(|f| f.score.raw),
        sum(|f| f.score.null),
        sum(|f| f.score.perfect),
    );
    Ok(Report {
        windows_hit: files.iter().map(|f| f.windows_hit).sum(),
        windows_total: files.iter().map(|f| f.windows.len()).sum(),
        detections_outside_windows: files.iter().map(|f| f.detections_outside_windows).sum(),
        normalized_score: normalize(raw, null, perfect),
        files,
    })
}

/// Evaluates detectors with `config` on one series.
pub fn evaluate_series(
    file: &str,
    readings: &[crate::input::Reading],
    windows: &[(String, String)],
    config: &DetectorConfig,
) -> Result<FileReport, String> {
    let mut detector = AnomalyDetector::with_default(config.clone()).map_err(|e| e.to_string())?;
    let mut detections: Vec<(usize, Detection)> = Vec::new();
    let mut out = Vec::new();
    for (i, r) in readings.iter().enumerate() {
        out.clear();
        detector
            .observe("value", r.time, r.value, &mut out)
            .map_err(|e| format!("{file}: {e}"))?;
        detections.extend(out.drain(..).map(|d| (i, d)));
    }
    let times: Vec<Millis> = readings.iter().map(|r| r.time).collect();
    let mut bounds = Vec::new();
    for (start, end) in windows {
        let s = parse_timestamp(start).map_err(|e| format!("{file}: window {e}"))?;
        let e = parse_timestamp(end).map_err(|e| format!("{file}: window {e}"))?;
        let l = times.partition_point(|t| *t < s);
        let r = times.partition_point(|t| *t <= e);
        if r == 0 || l >= r {
            return Err(format!("{file}: window {start} .. {end} holds no rows"));
        }
        bounds.push((l, r - 1));
    }
    let rows: Vec<usize> = detections.iter().map(|(i, _)| *i).collect();
    let score = score(readings.len(), &bounds, &rows, STANDARD);
    let mut by_type = BTreeMap::new();
    for (_, d) in &detections {
        *by_type.entry(d.kind.as_str().to_owned()).or_insert(0) += 1;
    }
    let hours = |a: Millis, b: Millis| (b as f64 - a as f64) / 3_600_000.0;
    let window_reports = windows
        .iter()
        .zip(&bounds)
        .zip(&score.first_detection)
        .map(|(((start, end), &(l, r)), first)| {
            let kind = first.and_then(|i| {
                detections
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map(|(_, d)| d.kind)
            });
            WindowReport {
                start: start.clone(),
                end: end.clone(),
                detected_at: first.map(|i| readings[i].raw_time.clone()),
                detected_type: kind,
                hours_after_start: first.map(|i| hours(times[l], times[i])),
                hours_before_end: first.map(|i| hours(times[i], times[r])),
            }
        })
        .collect();
    Ok(FileReport {
        file: file.to_owned(),
        rows: readings.len(),
        probation_rows: probation(readings.len()),
        detections_by_type: by_type,
        windows_hit: score.first_detection.iter().flatten().count(),
        windows: window_reports,
        detections_outside_windows: score.false_positives,
        normalized_score: score.normalized(),
        score,
    })
}

/// A plain-text rendering of a report.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    for f in &report.files {
        s += &format!(
            "{}: {} rows ({} probationary), detections {:?}\n",
            f.file, f.rows, f.probation_rows, f.detections_by_type
        );
        for w in &f.windows {
            match (&w.detected_at, w.hours_after_start, w.hours_before_end) {
                (Some(at), Some(after), Some(before)) => {
                    s += &format!(
                        "  window {} .. {}: hit at {at} ({:?}), {after:.1} h after its start, {before:.1} h before its end\n",
                        w.start, w.end, w.detected_type.map(|k| k.as_str()).unwrap_or("?")
                    )
                }
                _ => s += &format!("  window {} .. {}: missed\n", w.start, w.end),
            }
        }
        s += &format!(
            "  windows hit {}/{}, detections outside windows {} (cost {:.3}), raw {:.3}, normalised score {:.1}\n",
            f.windows_hit,
            f.windows.len(),
            f.detections_outside_windows,
            -f.score.false_positive_score,
            f.score.raw,
            f.normalized_score
        );
    }
    s += &format!(
        "total: windows hit {}/{}, detections outside windows {}, NAB standard-profile score {:.1}\n",
        report.windows_hit,
        report.windows_total,
        report.detections_outside_windows,
        report.normalized_score
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn sigmoid_landmarks() {
        assert!(close(scaled_sigmoid(0.0), 0.0));
        assert!(close(
            scaled_sigmoid(-1.0),
            2.0 / (1.0 + (-5.0f64).exp()) - 1.0
        ));
        assert!(scaled_sigmoid(-1.0) > 0.98);
        assert_eq!(scaled_sigmoid(3.5), -1.0);
        assert!(scaled_sigmoid(0.1) < 0.0);
        assert_eq!(probation(100), 15);
        assert_eq!(probation(22_695), 750);
    }

    #[test]
    fn hand_made_file() {
        // 100 rows, probation 15; windows [40, 49] and [80, 89].
        let windows = [(40, 49), (80, 89)];
        // Perfect: each window at its start.
        let perfect = score(100, &windows, &[40, 80], STANDARD);
        assert!(close(perfect.raw, 2.0));
        assert!(close(perfect.normalized(), 100.0));
        // Null: nothing.
        let null = score(100, &windows, &[], STANDARD);
        assert!(close(null.raw, -2.0) && close(null.normalized(), 0.0));
        // Detections in probation are ignored.
        assert!(close(score(100, &windows, &[3, 14], STANDARD).raw, -2.0));
        // One hit at the window's last row scores about 0, the earliest of
        // several counts, the other window is missed.
        let s = score(100, &windows, &[49, 45], STANDARD);
        let at45 = scaled_sigmoid(-5.0 / 10.0) / scaled_sigmoid(-1.0);
        assert!(close(s.raw, at45 - 1.0), "{s:?}");
        assert_eq!(s.first_detection, [Some(45), None]);
        // A false positive before any window costs the full 0.11; one just
        // after a window almost nothing; one 30 rows after costs 0.11.
        let fp = score(100, &windows, &[20], STANDARD);
        assert!(close(fp.raw, -2.0 - 0.11));
        assert_eq!(fp.false_positives, 1);
        let after = score(100, &windows, &[50], STANDARD);
        let expect = scaled_sigmoid(1.0 / 9.0) * 0.11;
        assert!(
            close(after.false_positive_score, expect) && expect > -0.06,
            "{after:?}"
        );
        let far = score(100, &windows, &[79], STANDARD);
        assert!(close(far.false_positive_score, -0.11));
        // Repeated rows count once.
        assert_eq!(
            score(100, &windows, &[20, 20, 20], STANDARD).false_positives,
            1
        );
        // Normalisation: (raw − null)/(perfect − null).
        assert!(close(normalize(0.0, -2.0, 2.0), 50.0));
    }

    #[test]
    fn evaluate_series_maps_windows_to_rows() {
        use crate::input::Reading;
        // A flat noisy signal with a big jump inside the only window.
        let mut rng = twinkit_core::physics::Rng::new(1);
        let readings: Vec<Reading> = (0..400u64)
            .map(|i| Reading {
                raw_time: (i * 60).to_string(),
                time: i * 60_000,
                value: if (300..310).contains(&i) {
                    50.0
                } else {
                    20.0 + 0.1 * rng.standard_normal()
                },
            })
            .collect();
        let windows = [("17400".to_string(), "18600".to_string())]; // rows 290..=310
        let r = evaluate_series("f.csv", &readings, &windows, &DetectorConfig::default()).unwrap();
        assert_eq!(r.windows_hit, 1);
        assert_eq!(r.windows[0].detected_at.as_deref(), Some("18000"));
        assert!(close(r.windows[0].hours_after_start.unwrap(), 10.0 / 60.0));
        assert!(close(r.windows[0].hours_before_end.unwrap(), 10.0 / 60.0));
        let bad = [("1".to_string(), "2".to_string())];
        assert!(
            evaluate_series("f.csv", &readings, &bad, &DetectorConfig::default())
                .unwrap_err()
                .contains("holds no rows")
        );
    }
}
