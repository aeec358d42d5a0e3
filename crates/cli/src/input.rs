//! Reading a series from CSV: `timestamp,value` with a header, or the
//! store's export `timestamp,deviceId,<properties...>`.
//!
//! Timestamps are ISO-8601 (`2013-12-02 21:15:00`, `2013-12-02T21:15:00.5`,
//! with an optional `Z` or `±hh:mm` offset; without one they are UTC), or
//! epoch numbers: values of at least 10¹¹ are milliseconds, smaller ones
//! seconds (10¹¹ s is the year 5138, 10¹¹ ms is 1973). Empty cells are
//! missing readings and skipped; anything else that is not a finite number is
//! an error naming its line. A timestamp earlier than the previous one (a
//! clock set back) keeps its reading, analysed at the previous time, with a
//! warning naming the line; output still shows the timestamp as written.

use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use thiserror::Error;
use twinkit_core::Millis;

/// What went wrong reading the input.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV is malformed.
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A header is missing or does not say which column to read.
    #[error("{0}")]
    Header(String),
    /// A row is wrong.
    #[error("line {line}: {reason}")]
    Row {
        /// 1-based line number (the header is line 1).
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// One reading with its timestamp exactly as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The timestamp as in the input.
    pub raw_time: String,
    /// Milliseconds since the Unix epoch.
    pub time: Millis,
    /// The value.
    pub value: f64,
}

/// A series read from CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The column read.
    pub property: String,
    /// Readings in file order (times never decrease).
    pub readings: Vec<Reading>,
    /// Problems that did not stop the reading, by line.
    pub warnings: Vec<String>,
}

/// Which column (and device) to read.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The value column; default `value`, or the only property column.
    pub property: Option<String>,
    /// Keep only rows of this `deviceId` (store export).
    pub device: Option<String>,
}

/// Parses a timestamp (see the module docs).
pub fn parse_timestamp(text: &str) -> Result<Millis, String> {
    let s = text.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let n: f64 = s
            .parse()
            .map_err(|_| format!("timestamp {s:?} is not a number"))?;
        let ms = if n >= 1e11 { n } else { n * 1000.0 };
        if !(ms.is_finite() && ms < 9.0e15) {
            return Err(format!("timestamp {s:?} is out of range"));
        }
        return Ok(ms.round() as Millis);
    }
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .or_else(|_| {
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z").map(|d| d.timestamp_millis())
        })
        .or_else(|_| {
            [
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .or_else(|| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
            .map(|d| d.and_utc().timestamp_millis())
            .ok_or(())
        })
        .map_err(|_| {
            format!(
                "timestamp {s:?} is neither ISO-8601 (2013-12-02 21:15:00) nor epoch seconds/ms"
            )
        })?;
    Millis::try_from(parsed).map_err(|_| format!("timestamp {s:?} is before 1970"))
}

/// Reads a series from a CSV file (`-` is standard input).
pub fn read_path(path: &str, selection: &Selection) -> Result<Series, InputError> {
    let io = |source| InputError::Io {
        path: path.to_owned(),
        source,
    };
    if path == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(io)?;
        read_csv(text.as_bytes(), selection)
    } else {
        let file = std::fs::File::open(path).map_err(io)?;
        read_csv(std::io::BufReader::new(file), selection)
    }
}

/// Reads a series from CSV text.
pub fn read_csv<R: Read>(input: R, selection: &Selection) -> Result<Series, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers = reader.headers()?.clone();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let time_col = find("timestamp").ok_or_else(|| {
        InputError::Header("the header must have a `timestamp` column".to_owned())
    })?;
    let device_col = find("deviceId");
    let candidates: Vec<&str> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != time_col && Some(*i) != device_col)
        .map(|(_, h)| h)
        .collect();
    let property = match &selection.property {
        Some(p) => p.clone(),
        None if find("value").is_some() => "value".to_owned(),
        None if candidates.len() == 1 => candidates[0].to_owned(),
        None => {
            return Err(InputError::Header(format!(
                "choose a column with --property (columns: {})",
                candidates.join(", ")
            )))
        }
    };
    let value_col = find(&property).ok_or_else(|| {
        InputError::Header(format!(
            "no column `{property}` (columns: {})",
            candidates.join(", ")
        ))
    })?;
    if selection.device.is_some() && device_col.is_none() {
        return Err(InputError::Header(
            "--device needs a `deviceId` column".to_owned(),
        ));
    }
    let mut readings: Vec<Reading> = Vec::new();
    let mut first_device: Option<String> = None;
    let mut warnings = Vec::new();
    for record in reader.records() {
        let record = record?;
        let line = record.position().map_or(0, |p| p.line());
        let row = |reason: String| InputError::Row { line, reason };
        if let Some(dc) = device_col {
            let device = record.get(dc).unwrap_or_default();
            match &selection.device {
                Some(want) if want != device => continue,
                Some(_) => {}
                None => match &first_device {
                    None => first_device = Some(device.to_owned()),
                    Some(d) if d != device => {
                        return Err(row(format!(
                            "several devices ({d}, {device}): choose one with --device"
                        )))
                    }
                    Some(_) => {}
                },
            }
        }
        let raw_value = record.get(value_col).unwrap_or_default();
        if raw_value.is_empty() {
            continue;
        }
        let value: f64 = raw_value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| {
                row(format!(
                    "`{property}` value {raw_value:?} is not a finite number"
                ))
            })?;
        let raw_time = record.get(time_col).unwrap_or_default();
        let time = parse_timestamp(raw_time).map_err(row)?;
        let mut time = time;
        if let Some(prev) = readings.last() {
            if time < prev.time {
                // Real logs do this (a clock set back): keep the reading,
                // on the latest time seen, and say so.
                warnings.push(format!(
                    "line {line}: timestamp {raw_time} is earlier than the previous one ({}); analysed at that time",
                    prev.raw_time
                ));
                time = prev.time;
            }
        }
        readings.push(Reading {
            raw_time: raw_time.to_owned(),
            time,
            value,
        });
    }
    Ok(Series {
        property,
        readings,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(property: Option<&str>, device: Option<&str>) -> Selection {
        Selection {
            property: property.map(str::to_owned),
            device: device.map(str::to_owned),
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Ok(1_000));
        assert_eq!(
            parse_timestamp("2013-12-02 21:15:00"),
            Ok(1_386_018_900_000)
        );
        assert_eq!(
            parse_timestamp("2013-12-02T21:15:00Z"),
            Ok(1_386_018_900_000)
        );
        assert_eq!(
            parse_timestamp("2013-12-02T22:15:00+01:00"),
            Ok(1_386_018_900_000)
        );
        assert_eq!(
            parse_timestamp("2013-12-15 07:00:00.000000"),
            Ok(1_387_090_800_000)
        );
        assert_eq!(
            parse_timestamp("2013-12-02 21:15:00.250"),
            Ok(1_386_018_900_250)
        );
        assert_eq!(parse_timestamp("1386018900"), Ok(1_386_018_900_000));
        assert_eq!(parse_timestamp("1386018900000"), Ok(1_386_018_900_000));
        assert_eq!(parse_timestamp("1386018900.5"), Ok(1_386_018_900_500));
        assert!(parse_timestamp("yesterday")
            .unwrap_err()
            .contains("ISO-8601"));
        assert!(parse_timestamp("1969-12-31 23:59:59")
            .unwrap_err()
            .contains("1970"));
        assert!(parse_timestamp("").is_err());
    }

    #[test]
    fn simple_file() {
        let csv = "timestamp,value\n2013-12-02 21:15:00,1.5\n2013-12-02 21:20:00,\n2013-12-02 21:25:00,2\n";
        let s = read_csv(csv.as_bytes(), &Selection::default()).unwrap();
        assert_eq!(s.property, "value");
        assert_eq!(s.readings.len(), 2);
        assert_eq!(s.readings[1].raw_time, "2013-12-02 21:25:00");
        assert_eq!(s.readings[1].value, 2.0);
    }

    #[test]
    fn store_export_with_property_and_device() {
        let csv = "timestamp,deviceId,temperature,humidity\n\
                   1000,a,20,40\n1000,b,30,50\n2000,a,21,\n";
        let s = read_csv(csv.as_bytes(), &sel(Some("humidity"), Some("a"))).unwrap();
        assert_eq!(s.readings.len(), 1);
        let s = read_csv(csv.as_bytes(), &sel(Some("temperature"), Some("b"))).unwrap();
        assert_eq!(s.readings[0].value, 30.0);
        let err = read_csv(csv.as_bytes(), &sel(Some("temperature"), None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: several devices (a, b): choose one with --device"
        );
        let err = read_csv(csv.as_bytes(), &sel(None, Some("a"))).unwrap_err();
        assert!(err.to_string().contains("temperature, humidity"), "{err}");
        let err = read_csv(csv.as_bytes(), &sel(Some("pressure"), Some("a"))).unwrap_err();
        assert!(err.to_string().starts_with("no column `pressure`"), "{err}");
        // One property column: chosen without --property.
        let one = "timestamp,deviceId,t\n1,a,5\n";
        assert_eq!(
            read_csv(one.as_bytes(), &Selection::default())
                .unwrap()
                .property,
            "t"
        );
    }

    #[test]
    fn clock_set_back_is_kept_with_a_warning() {
        let s = read_csv(
            "timestamp,value\n5,1\n4,2\n6,3\n".as_bytes(),
            &Selection::default(),
        )
        .unwrap();
        let times: Vec<_> = s
            .readings
            .iter()
            .map(|r| (r.raw_time.as_str(), r.time))
            .collect();
        assert_eq!(times, [("5", 5_000), ("4", 5_000), ("6", 6_000)]);
        assert_eq!(
            s.warnings,
            ["line 3: timestamp 4 is earlier than the previous one (5); analysed at that time"]
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        let cases = [
            ("timestamp,value\n1,1\n2,abc\n", "line 3: `value` value \"abc\" is not a finite number"),
            ("timestamp,value\n1,NaN\n", "line 2: `value` value \"NaN\" is not a finite number"),
            ("timestamp,value\nnoon,1\n", "line 2: timestamp \"noon\" is neither ISO-8601 (2013-12-02 21:15:00) nor epoch seconds/ms"),
            ("time,value\n1,1\n", "the header must have a `timestamp` column"),
        ];
        for (csv, want) in cases {
            let err = read_csv(csv.as_bytes(), &Selection::default()).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
        let ragged = read_csv("timestamp,value\n1,2,3\n".as_bytes(), &Selection::default());
        assert!(matches!(ragged, Err(InputError::Csv(_))));
    }
}
