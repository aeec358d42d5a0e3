//! CSV export (RFC 4180): a header row `timestamp,<properties…>`, one row per
//! point, CRLF line ends; fields holding a comma, a quote, CR or LF are
//! quoted, with quotes doubled. Timestamps are ms since the epoch; empty
//! fields are values the point does not have.

use std::fmt::Write as _;

use twinkit_core::TelemetryValue;

use crate::chunk::Chunk;

/// Writes `series` as CSV with the given columns (all of the series'
/// properties, sorted, when `properties` is `None`).
pub fn export(series: &Chunk, properties: Option<&[String]>) -> String {
    let names: Vec<&str> = match properties {
        Some(p) => p.iter().map(String::as_str).collect(),
        None => series.columns.iter().map(|c| &*c.name).collect(),
    };
    let columns: Vec<Option<&crate::chunk::Column>> = names
        .iter()
        .map(|n| series.columns.iter().find(|c| &*c.name == *n))
        .collect();
    let mut out = String::with_capacity(16 + series.len() * (14 + 12 * names.len()));
    out.push_str("timestamp");
    for n in &names {
        out.push(',');
        field(&mut out, n);
    }
    out.push_str("\r\n");
    for (row, t) in series.times.iter().enumerate() {
        let _ = write!(out, "{t}");
        for c in &columns {
            out.push(',');
            match c.and_then(|c| c.value(row)) {
                None => {}
                Some(TelemetryValue::Number(x)) => {
                    let _ = write!(out, "{x}");
                }
                Some(TelemetryValue::Bool(b)) => out.push_str(if b { "true" } else { "false" }),
                Some(TelemetryValue::String(s)) => field(&mut out, &s),
            }
        }
        out.push_str("\r\n");
    }
    out
}

pub(crate) fn field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

// Native only: proptest does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::point::Point;

    #[test]
    fn quotes_what_needs_quoting() {
        let mut c = Chunk::default();
        c.insert(&Point {
            time: 5,
            values: vec![
                ("a,b".into(), TelemetryValue::Number(1.5)),
                (
                    "note".into(),
                    TelemetryValue::String("say \"hi\"\nbye".into()),
                ),
            ],
        });
        c.insert(&Point {
            time: 7,
            values: vec![("on".into(), TelemetryValue::Bool(true))],
        });
        assert_eq!(
            export(&c, None),
            "timestamp,\"a,b\",note,on\r\n5,1.5,\"say \"\"hi\"\"\nbye\",\r\n7,,,true\r\n"
        );
        assert_eq!(
            export(&c, Some(&["on".into(), "missing".into()])),
            "timestamp,on,missing\r\n5,,\r\n7,true,\r\n"
        );
    }
}
