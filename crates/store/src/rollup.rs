//! Rollups: count, sum, min and max of a property per minute, hour and day
//! (UTC, aligned to the epoch), kept as the store writes so an aggregate
//! over a month reads a few records instead of millions of points.
//!
//! Buckets live in pages, one record per device, property, resolution and
//! page span (a day of minutes, 30 days of hours, 360 days of days), sparse:
//! only buckets that hold values are encoded.
//!
//! Page format, version 1: `"TKr" 0x01`, bucket count, then per bucket
//! (slots ascending) slot delta, count, non-numeric count (varints) and sum,
//! min, max (f64 LE).

use std::collections::BTreeMap;

use twinkit_core::Millis;

use crate::bytes::{Reader, Writer};
use crate::error::DecodeError;

const MAGIC: &[u8; 3] = b"TKr";
const PAGE_FORMAT: u8 = 1;
const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;

/// A rollup resolution: the `interval` of `aggregate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// One-minute buckets.
    Minute,
    /// One-hour buckets.
    Hour,
    /// One-day buckets (UTC days).
    Day,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 3] = [Self::Minute, Self::Hour, Self::Day];

    /// Parses `"minute"`, `"hour"` or `"day"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minute" => Some(Self::Minute),
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    /// The width of a bucket in milliseconds.
    pub fn bucket_ms(self) -> Millis {
        match self {
            Self::Minute => MINUTE,
            Self::Hour => HOUR,
            Self::Day => DAY,
        }
    }

    /// The span of a page in milliseconds.
    pub fn page_ms(self) -> Millis {
        match self {
            Self::Minute => DAY,
            Self::Hour => 30 * DAY,
            Self::Day => 360 * DAY,
        }
    }

    /// The number stored in keys.
    pub fn code(self) -> u8 {
        match self {
            Self::Minute => 1,
            Self::Hour => 2,
            Self::Day => 3,
        }
    }

    /// The resolution of a key number.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The start of the bucket holding `t`.
    pub fn bucket_start(self, t: Millis) -> Millis {
        t - t % self.bucket_ms()
    }

    /// The start of the page holding `t`.
    pub fn page_start(self, t: Millis) -> Millis {
        t - t % self.page_ms()
    }

    /// The slot of `t` within its page.
    pub fn slot(self, t: Millis) -> u32 {
        ((t % self.page_ms()) / self.bucket_ms()) as u32
    }

    /// Buckets per page.
    pub fn slots(self) -> u32 {
        (self.page_ms() / self.bucket_ms()) as u32
    }

    /// The next finer resolution (what a bucket of this one is built from).
    pub fn finer(self) -> Option<Self> {
        match self {
            Self::Minute => None,
            Self::Hour => Some(Self::Minute),
            Self::Day => Some(Self::Hour),
        }
    }
}

/// Count, sum, min and max of the numeric values in a bucket, and how many
/// non-numeric values it held (skipped by aggregates, counted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Numeric values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Their minimum (+Infinity when none).
    pub min: f64,
    /// Their maximum (−Infinity when none).
    pub max: f64,
    /// Non-numeric values (booleans, strings).
    pub other: u64,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            other: 0,
        }
    }
}

impl Bucket {
    /// Adds a numeric value.
    pub fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Adds another bucket's values.
    pub fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.other += other.other;
    }

    /// Whether the bucket holds no value at all.
    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.other == 0
    }
}

/// The buckets of one page, by slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Slot within the page to bucket; never holds empty buckets.
    pub buckets: BTreeMap<u32, Bucket>,
}

impl Page {
    /// Encodes the page (format above).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(8 + self.buckets.len() * 30);
        w.raw(MAGIC);
        w.u8(PAGE_FORMAT);
        w.varint(self.buckets.len() as u64);
        let mut prev = 0;
        for (i, (&slot, b)) in self.buckets.iter().enumerate() {
            w.varint(u64::from(if i == 0 { slot } else { slot - prev }));
            prev = slot;
            w.varint(b.count);
            w.varint(b.other);
            w.f64(b.sum);
            w.f64(b.min);
            w.f64(b.max);
        }
        w.bytes
    }

    /// Decodes a page of `resolution`; malformed input is an error.
    pub fn decode(bytes: &[u8], resolution: Resolution) -> Result<Page, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.take(3).map_err(|_| DecodeError::BadMagic)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        match r.u8()? {
            PAGE_FORMAT => {}
            v => return Err(DecodeError::UnsupportedVersion(v)),
        }
        let n = r.count(resolution.slots() as usize)?;
        let mut buckets = BTreeMap::new();
        let mut slot: u64 = 0;
        for i in 0..n {
            let d = r.varint()?;
            if i > 0 && d == 0 {
                return Err(DecodeError::Invalid("slots not ascending"));
            }
            slot = if i == 0 { d } else { slot + d };
            if slot >= u64::from(resolution.slots()) {
                return Err(DecodeError::Invalid("slot out of range"));
            }
            let b = Bucket {
                count: r.varint()?,
                other: r.varint()?,
                sum: r.f64()?,
                min: r.f64()?,
                max: r.f64()?,
            };
            let consistent = if b.count == 0 {
                b.other > 0 && b.sum == 0.0 && b.min == f64::INFINITY && b.max == f64::NEG_INFINITY
            } else {
                b.sum.is_finite() && b.min.is_finite() && b.max.is_finite() && b.min <= b.max
            };
            if !consistent {
                return Err(DecodeError::Invalid("inconsistent bucket"));
            }
            buckets.insert(slot as u32, b);
        }
        r.finish()?;
        Ok(Page { buckets })
    }
}

/// One bucket of an aggregate, as `aggregate` returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    /// The bucket's start (ms since the epoch).
    pub timestamp: Millis,
    /// The bucket's values.
    pub bucket: Bucket,
}

/// Adds a point's values to per-resolution bucket maps (used to build
/// rollups from raw points, and to check them).
pub fn bucket_points<'a>(
    points: impl IntoIterator<Item = (Millis, &'a twinkit_core::TelemetryValue)>,
    resolution: Resolution,
) -> BTreeMap<Millis, Bucket> {
    let mut out: BTreeMap<Millis, Bucket> = BTreeMap::new();
    for (t, v) in points {
        let b = out.entry(resolution.bucket_start(t)).or_default();
        match v {
            twinkit_core::TelemetryValue::Number(x) => b.add(*x),
            _ => b.other += 1,
        }
    }
    out
}

// Native only: proptest does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_bytes() {
        let mut p = Page::default();
        let mut b = Bucket::default();
        b.add(2.0);
        b.add(-1.0);
        b.other = 1;
        p.buckets.insert(3, b);
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            b'T', b'K', b'r', 1,          // magic, format version 1
            1,                            // 1 bucket
            3,                            // slot 3
            2,                            // count 2
            1,                            // 1 non-numeric value
            0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // sum 1.0
            0, 0, 0, 0, 0, 0, 0xf0, 0xbf, // min -1.0
            0, 0, 0, 0, 0, 0, 0, 0x40,    // max 2.0
        ];
        assert_eq!(p.encode(), expected);
        assert_eq!(Page::decode(&expected, Resolution::Minute).unwrap(), p);
        assert!(Page::decode(&expected[..10], Resolution::Minute).is_err());
    }

    #[test]
    fn slots_and_pages() {
        let t = 1_700_000_123_456;
        for r in Resolution::ALL {
            assert!(r.bucket_start(t) <= t && t < r.bucket_start(t) + r.bucket_ms());
            assert_eq!(
                r.page_start(t) + u64::from(r.slot(t)) * r.bucket_ms(),
                r.bucket_start(t)
            );
            assert_eq!(Resolution::from_code(r.code()), Some(r));
        }
        assert_eq!(Resolution::Minute.slots(), 1440);
    }

    proptest! {
        #[test]
        fn page_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
            for r in Resolution::ALL {
                let mut framed = b"TKr\x01".to_vec();
                framed.extend_from_slice(&bytes);
                if let Ok(p) = Page::decode(&framed, r) {
                    prop_assert_eq!(Page::decode(&p.encode(), r).unwrap(), p);
                }
                let _ = Page::decode(&bytes, r);
            }
        }
    }
}
