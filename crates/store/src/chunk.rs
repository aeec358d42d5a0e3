//! The columnar chunk: the unit the store writes to IndexedDB.
//!
//! IndexedDB charges per record and per structured clone, so points travel
//! in chunks of up to [`MAX_CHUNK_POINTS`]: one timestamp column and one
//! column per property, encoded into a single byte array.
//!
//! Format, version 1 (all integers LEB128 varints, at most 2^53 − 1):
//!
//! ```text
//! "TKc" 0x01            magic and version
//! n                     points
//! t0, d1 .. d(n-1)      first timestamp, then deltas (timestamps are sorted)
//! p                     properties, sorted by name, each:
//!   name                length and UTF-8
//!   flags               bit 0: numeric column, bit 1: other values
//!   [numeric]           presence bitmap (ceil(n/8) bytes, LSB first),
//!                       then one f64 (little endian) per present point
//!   [other]             m, then m × (row delta, tag, payload):
//!                       tag 0 false, 1 true, 2 string (length, UTF-8)
//! ```
//!
//! Numbers stay raw `f64` so a decoded column is a `Float64Array` without
//! arithmetic; Gorilla-style XOR compression would shrink slowly varying
//! sensor values further and can come as version 2 of the format.

use twinkit_core::{Millis, TelemetryValue};

use crate::bytes::{Reader, Writer, MAX_SAFE_INTEGER};
use crate::error::DecodeError;
use crate::point::{same_name, Name, Point, MAX_NAME_BYTES, MAX_TEXT_BYTES};

const MAGIC: &[u8; 3] = b"TKc";
/// The chunk format version this build writes.
pub const CHUNK_FORMAT: u8 = 1;
/// Most points a chunk holds (the decoder refuses more).
pub const MAX_CHUNK_POINTS: usize = 65_536;
/// Most properties a chunk holds (the decoder refuses more).
pub const MAX_CHUNK_PROPERTIES: usize = 4_096;

const NUMERIC: u8 = 1;
const OTHER: u8 = 2;

/// One property's values over the rows of a chunk.
#[derive(Debug, Clone)]
pub struct Column {
    /// The property name.
    pub name: Name,
    /// One slot per row: the number, or NaN where the row has no number
    /// (NaN is never stored as a value, so it can mark absence).
    pub numbers: Vec<f64>,
    /// Non-numeric values (booleans, strings) by row, rows ascending.
    pub others: Vec<(u32, TelemetryValue)>,
}

impl PartialEq for Column {
    /// Equal names and values; absent (NaN) slots are equal.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.others == other.others
            && self.numbers.len() == other.numbers.len()
            && self
                .numbers
                .iter()
                .zip(&other.numbers)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
    }
}

impl Column {
    fn new(name: Name, rows: usize) -> Self {
        Self {
            name,
            numbers: vec![f64::NAN; rows],
            others: Vec::new(),
        }
    }

    /// The value at `row`, if the row has one.
    pub fn value(&self, row: usize) -> Option<TelemetryValue> {
        let n = self.numbers[row];
        if !n.is_nan() {
            return Some(TelemetryValue::Number(n));
        }
        self.others
            .binary_search_by_key(&(row as u32), |o| o.0)
            .ok()
            .map(|i| self.others[i].1.clone())
    }

    fn is_empty(&self) -> bool {
        self.others.is_empty() && self.numbers.iter().all(|n| n.is_nan())
    }
}

/// Points of one device, sorted by time (points at the same instant keep
/// their insertion order), stored column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    /// Timestamps, ascending.
    pub times: Vec<Millis>,
    /// Columns, sorted by property name.
    pub columns: Vec<Column>,
}

impl Chunk {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether the chunk holds no point.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The earliest timestamp.
    pub fn start(&self) -> Option<Millis> {
        self.times.first().copied()
    }

    /// The latest timestamp.
    pub fn end(&self) -> Option<Millis> {
        self.times.last().copied()
    }

    fn column_mut(&mut self, name: &Name, hint: usize) -> &mut Column {
        // Points of one device mostly carry the same properties, so value i
        // usually lands in column i.
        if self
            .columns
            .get(hint)
            .is_some_and(|c| same_name(&c.name, name))
        {
            return &mut self.columns[hint];
        }
        let i = match self.columns.binary_search_by(|c| c.name.cmp(name)) {
            Ok(i) => i,
            Err(i) => {
                self.columns
                    .insert(i, Column::new(name.clone(), self.times.len()));
                i
            }
        };
        &mut self.columns[i]
    }

    /// Inserts a point after every point at or before its time.
    pub fn insert(&mut self, point: &Point) {
        let row = if self.end().is_none_or(|e| e <= point.time) {
            self.times.len()
        } else {
            self.times.partition_point(|&t| t <= point.time)
        };
        self.times.insert(row, point.time);
        for column in &mut self.columns {
            column.numbers.insert(row, f64::NAN);
            for other in column.others.iter_mut().rev() {
                if (other.0 as usize) < row {
                    break;
                }
                other.0 += 1;
            }
        }
        for (hint, (name, value)) in point.values.iter().enumerate() {
            let column = self.column_mut(name, hint);
            match value {
                TelemetryValue::Number(n) => column.numbers[row] = *n,
                other => {
                    let at = column.others.partition_point(|o| (o.0 as usize) < row);
                    column.others.insert(at, (row as u32, other.clone()));
                }
            }
        }
    }

    /// The point at `row`.
    pub fn point(&self, row: usize) -> Point {
        Point {
            time: self.times[row],
            values: self
                .columns
                .iter()
                .filter_map(|c| c.value(row).map(|v| (c.name.clone(), v)))
                .collect(),
        }
    }

    /// Rows whose time is within `start..=end`.
    pub fn rows_within(&self, start: Millis, end: Millis) -> std::ops::Range<usize> {
        self.times.partition_point(|&t| t < start)..self.times.partition_point(|&t| t <= end)
    }

    /// Keeps the rows `keep` says yes to; returns the removed points.
    pub fn retain_rows(&mut self, mut keep: impl FnMut(Millis) -> bool) -> Vec<Point> {
        let keep: Vec<bool> = self.times.iter().map(|&t| keep(t)).collect();
        if keep.iter().all(|&k| k) {
            return Vec::new();
        }
        let removed = (0..self.len())
            .filter(|&r| !keep[r])
            .map(|r| self.point(r))
            .collect();
        let mut new_row = Vec::with_capacity(keep.len());
        let mut next = 0u32;
        for &k in &keep {
            new_row.push(next);
            next += u32::from(k);
        }
        let mut r = 0;
        self.times.retain(|_| {
            r += 1;
            keep[r - 1]
        });
        for column in &mut self.columns {
            let mut r = 0;
            column.numbers.retain(|_| {
                r += 1;
                keep[r - 1]
            });
            column.others.retain(|o| keep[o.0 as usize]);
            for o in &mut column.others {
                o.0 = new_row[o.0 as usize];
            }
        }
        self.columns.retain(|c| !c.is_empty());
        removed
    }

    /// Encodes the chunk (format above).
    pub fn encode(&self) -> Vec<u8> {
        let n = self.len();
        let mut w = Writer::with_capacity(8 + n * (2 + 8 * self.columns.len()));
        w.raw(MAGIC);
        w.u8(CHUNK_FORMAT);
        w.varint(n as u64);
        let mut prev = 0;
        for (i, &t) in self.times.iter().enumerate() {
            w.varint(if i == 0 { t } else { t - prev });
            prev = t;
        }
        w.varint(self.columns.len() as u64);
        for c in &self.columns {
            w.str(&c.name);
            let has_numbers = c.numbers.iter().any(|x| !x.is_nan());
            w.u8((u8::from(has_numbers) * NUMERIC) | (u8::from(!c.others.is_empty()) * OTHER));
            if has_numbers {
                let mut bitmap = vec![0u8; n.div_ceil(8)];
                for (row, x) in c.numbers.iter().enumerate() {
                    if !x.is_nan() {
                        bitmap[row / 8] |= 1 << (row % 8);
                    }
                }
                w.raw(&bitmap);
                for x in c.numbers.iter().filter(|x| !x.is_nan()) {
                    w.f64(*x);
                }
            }
            if !c.others.is_empty() {
                w.varint(c.others.len() as u64);
                let mut prev = 0;
                for (i, (row, value)) in c.others.iter().enumerate() {
                    w.varint(u64::from(if i == 0 { *row } else { row - prev }));
                    prev = *row;
                    match value {
                        TelemetryValue::Bool(b) => w.u8(u8::from(*b)),
                        TelemetryValue::String(s) => {
                            w.u8(2);
                            w.str(s);
                        }
                        // Numbers live in the numeric column.
                        TelemetryValue::Number(_) => w.u8(0xff),
                    }
                }
            }
        }
        w.bytes
    }

    /// The number of points of an encoded chunk, reading only its header.
    pub fn peek_len(bytes: &[u8]) -> Result<usize, DecodeError> {
        let mut r = header(bytes)?;
        r.count(MAX_CHUNK_POINTS)
    }

    /// Decodes a chunk; any malformed input is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Chunk, DecodeError> {
        let mut r = header(bytes)?;
        let n = r.count(MAX_CHUNK_POINTS)?;
        // Each timestamp takes at least one byte: refuse before allocating.
        if n > r.remaining() {
            return Err(DecodeError::Truncated);
        }
        let mut times = Vec::with_capacity(n);
        let mut t: u64 = 0;
        for i in 0..n {
            let d = r.varint()?;
            t = if i == 0 { d } else { t + d };
            if t > MAX_SAFE_INTEGER {
                return Err(DecodeError::Invalid("timestamp beyond 2^53 - 1"));
            }
            times.push(t);
        }
        let p = r.count(MAX_CHUNK_PROPERTIES)?;
        let mut columns: Vec<Column> = Vec::with_capacity(p.min(r.remaining()));
        for _ in 0..p {
            let name = r.str(MAX_NAME_BYTES)?;
            if columns.last().is_some_and(|c| &*c.name >= name) {
                return Err(DecodeError::Invalid("properties not sorted and unique"));
            }
            let flags = r.u8()?;
            if flags == 0 || flags & !(NUMERIC | OTHER) != 0 {
                return Err(DecodeError::Invalid("bad column flags"));
            }
            let mut column = Column::new(name.into(), n);
            if flags & NUMERIC != 0 {
                let bitmap = r.take(n.div_ceil(8))?;
                for row in 0..n {
                    if bitmap[row / 8] & (1 << (row % 8)) != 0 {
                        let x = r.f64()?;
                        if !x.is_finite() {
                            return Err(DecodeError::Invalid("non-finite number"));
                        }
                        column.numbers[row] = x;
                    }
                }
                if n % 8 != 0 && bitmap[n / 8] >> (n % 8) != 0 {
                    return Err(DecodeError::Invalid("bitmap bits past the last row"));
                }
            }
            if flags & OTHER != 0 {
                let m = r.count(n)?;
                if m == 0 {
                    return Err(DecodeError::Invalid("empty other-values list"));
                }
                let mut row: u64 = 0;
                for i in 0..m {
                    let d = r.varint()?;
                    if i > 0 && d == 0 {
                        return Err(DecodeError::Invalid("other-value rows not ascending"));
                    }
                    row = if i == 0 { d } else { row + d };
                    if row >= n as u64 {
                        return Err(DecodeError::Invalid("row out of range"));
                    }
                    if !column.numbers[row as usize].is_nan() {
                        return Err(DecodeError::Invalid("row has two values"));
                    }
                    let value = match r.u8()? {
                        0 => TelemetryValue::Bool(false),
                        1 => TelemetryValue::Bool(true),
                        2 => TelemetryValue::String(r.str(MAX_TEXT_BYTES)?.to_string()),
                        _ => return Err(DecodeError::Invalid("unknown value tag")),
                    };
                    column.others.push((row as u32, value));
                }
            }
            if column.is_empty() {
                return Err(DecodeError::Invalid("empty column"));
            }
            columns.push(column);
        }
        r.finish()?;
        Ok(Chunk { times, columns })
    }
}

fn header(bytes: &[u8]) -> Result<Reader<'_>, DecodeError> {
    let mut r = Reader::new(bytes);
    if r.take(3).map_err(|_| DecodeError::BadMagic)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    match r.u8()? {
        CHUNK_FORMAT => Ok(r),
        v => Err(DecodeError::UnsupportedVersion(v)),
    }
}

/// Merges chunks of one device into one time-sorted series of the points
/// within `start..=end` (chunks may overlap: late points live in chunks of
/// their own).
pub fn merge(chunks: &[Chunk], start: Millis, end: Millis) -> Chunk {
    let mut ranges: Vec<(usize, std::ops::Range<usize>)> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.rows_within(start, end)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    ranges.sort_by_key(|(i, r)| (chunks[*i].times[r.start], *i));
    let disjoint = ranges
        .windows(2)
        .all(|w| chunks[w[0].0].times[w[0].1.end - 1] <= chunks[w[1].0].times[w[1].1.start]);
    // Common case: chunks follow each other, so rows are copied in order.
    // Otherwise, a stable sort of (time, chunk, row) interleaves them.
    let order: Vec<(usize, usize)> = if disjoint {
        ranges
            .iter()
            .flat_map(|(i, r)| r.clone().map(move |row| (*i, row)))
            .collect()
    } else {
        let mut all: Vec<(Millis, usize, usize)> = ranges
            .iter()
            .flat_map(|(i, r)| r.clone().map(move |row| (chunks[*i].times[row], *i, row)))
            .collect();
        all.sort_by_key(|&(t, i, row)| (t, i, row));
        all.into_iter().map(|(_, i, row)| (i, row)).collect()
    };
    let mut names: Vec<&str> = chunks
        .iter()
        .flat_map(|c| c.columns.iter().map(|col| &*col.name))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Chunk {
        times: order.iter().map(|&(i, row)| chunks[i].times[row]).collect(),
        columns: names
            .iter()
            .map(|n| Column::new((*n).into(), order.len()))
            .collect(),
    };
    // Where each row of each chunk lands in the output (u32::MAX: outside).
    let mut out_row: Vec<Vec<u32>> = chunks.iter().map(|c| vec![u32::MAX; c.len()]).collect();
    for (row_out, &(i, row)) in order.iter().enumerate() {
        out_row[i][row] = row_out as u32;
    }
    for (ci, chunk) in chunks.iter().enumerate() {
        for column in &chunk.columns {
            let Ok(k) = names.binary_search(&&*column.name) else {
                continue;
            };
            let target = &mut out.columns[k];
            for (row, &x) in column.numbers.iter().enumerate() {
                let row_out = out_row[ci][row];
                if row_out != u32::MAX {
                    target.numbers[row_out as usize] = x;
                }
            }
            for (row, value) in &column.others {
                let row_out = out_row[ci][*row as usize];
                if row_out != u32::MAX {
                    target.others.push((row_out, value.clone()));
                }
            }
        }
    }
    for c in &mut out.columns {
        c.others.sort_by_key(|o| o.0);
    }
    out.columns.retain(|c| !c.is_empty());
    out
}

// Native only: proptest does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn point(time: Millis, values: &[(&str, TelemetryValue)]) -> Point {
        let mut values: Vec<(Name, TelemetryValue)> = values
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        Point { time, values }
    }

    #[test]
    fn golden_bytes() {
        let mut c = Chunk::default();
        c.insert(&point(1000, &[("t", TelemetryValue::Number(1.5))]));
        c.insert(&point(3000, &[("on", TelemetryValue::Bool(true))]));
        c.insert(&point(2000, &[("t", TelemetryValue::Number(-2.0))]));
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            b'T', b'K', b'c', 1,     // magic, format version 1
            3,                       // 3 points
            0xe8, 0x07,              // t0 = 1000 (varint)
            0xe8, 0x07,              // +1000 → 2000 (the late insert sorted in)
            0xe8, 0x07,              // +1000 → 3000
            2,                       // 2 properties, sorted by name
            2, b'o', b'n',           // "on"
            2,                       // flags: other values only
            1,                       // 1 value
            2,                       // at row 2
            1,                       // tag 1: true
            1, b't',                 // "t"
            1,                       // flags: numeric column only
            0b0000_0011,             // present in rows 0 and 1
            0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5 (f64 LE)
            0, 0, 0, 0, 0, 0, 0, 0xc0,    // -2.0
        ];
        assert_eq!(c.encode(), expected);
        assert_eq!(Chunk::decode(&expected).unwrap(), c);
        assert_eq!(Chunk::peek_len(&expected).unwrap(), 3);
    }

    #[test]
    fn refuses_corrupt_input() {
        assert_eq!(Chunk::decode(b""), Err(DecodeError::BadMagic));
        assert_eq!(
            Chunk::decode(b"TKc\x02"),
            Err(DecodeError::UnsupportedVersion(2))
        );
        assert_eq!(Chunk::decode(b"TKc\x01"), Err(DecodeError::Truncated));
        // A point count far beyond the bytes that follow: no allocation.
        assert!(Chunk::decode(b"TKc\x01\xff\xff\x03").is_err());
        // A row in both the numeric column and the other values.
        let bad = [
            b'T', b'K', b'c', 1, 1, 0, 1, 1, b'a', 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1,
        ];
        assert_eq!(
            Chunk::decode(&bad),
            Err(DecodeError::Invalid("row has two values"))
        );
    }

    #[test]
    fn retain_and_merge() {
        let mut a = Chunk::default();
        let mut b = Chunk::default();
        for t in [10, 20, 30] {
            a.insert(&point(t, &[("x", TelemetryValue::Number(t as f64))]));
        }
        b.insert(&point(15, &[("s", TelemetryValue::String("hi".into()))]));
        b.insert(&point(40, &[("x", TelemetryValue::Number(4.0))]));
        let m = merge(&[a.clone(), b.clone()], 0, 100);
        assert_eq!(m.times, vec![10, 15, 20, 30, 40]);
        assert_eq!(
            m.point(1),
            point(15, &[("s", TelemetryValue::String("hi".into()))])
        );
        assert_eq!(merge(&[a.clone(), b], 16, 30).times, vec![20, 30]);
        let removed = a.retain_rows(|t| t != 20);
        assert_eq!(
            removed,
            vec![point(20, &[("x", TelemetryValue::Number(20.0))])]
        );
        assert_eq!(a.times, vec![10, 30]);
        assert_eq!(a.columns[0].numbers, vec![10.0, 30.0]);
    }

    fn value() -> impl Strategy<Value = TelemetryValue> {
        prop_oneof![
            (-1e300f64..1e300).prop_map(TelemetryValue::Number),
            any::<bool>().prop_map(TelemetryValue::Bool),
            "[a-z]{0,5}".prop_map(TelemetryValue::String),
        ]
    }

    fn points() -> impl Strategy<Value = Vec<Point>> {
        prop::collection::vec(
            (
                0u64..1_000_000,
                prop::collection::btree_map("[a-c]", value(), 1..3),
            )
                .prop_map(|(time, m)| Point {
                    time,
                    values: m.into_iter().map(|(k, v)| (k.into(), v)).collect(),
                }),
            0..60,
        )
    }

    proptest! {
        #[test]
        fn round_trip(points in points()) {
            let mut c = Chunk::default();
            for p in &points { c.insert(p); }
            let back = Chunk::decode(&c.encode()).unwrap();
            prop_assert_eq!(&back, &c);
            let mut sorted = points.clone();
            sorted.sort_by_key(|p| p.time);
            let got: Vec<Point> = (0..c.len()).map(|r| c.point(r)).collect();
            prop_assert_eq!(got, sorted);
        }

        /// Fuzz-style: arbitrary bytes, and mutations of valid chunks,
        /// decode to an error or a chunk, never a panic.
        #[test]
        fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = Chunk::decode(&bytes);
            let mut framed = b"TKc\x01".to_vec();
            framed.extend_from_slice(&bytes);
            if let Ok(c) = Chunk::decode(&framed) {
                prop_assert_eq!(Chunk::decode(&c.encode()).unwrap(), c);
            }
        }

        #[test]
        fn mutated_chunks_never_panic(points in points(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut c = Chunk::default();
            for p in &points { c.insert(p); }
            let mut bytes = c.encode();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = Chunk::decode(&bytes);
            bytes.truncate(i);
            let _ = Chunk::decode(&bytes);
        }
    }
}
