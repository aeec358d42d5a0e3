//! Keys of the stored records and the per-device meta record.
//!
//! In IndexedDB, chunks are keyed `[deviceId, start, end, id]` (start and
//! end: the chunk's first and last timestamps; id: a per-device counter that
//! keeps keys unique when chunks overlap), so a range read by device and
//! start time, and the list of a device's chunks with their time spans, need
//! no record to be decoded. Rollup pages are keyed `[deviceId, property,
//! resolution, pageStart]`, device metas `["device", deviceId]`.

use twinkit_core::Millis;

use crate::bytes::{Reader, Writer};
use crate::error::DecodeError;
use crate::point::MAX_NAME_BYTES;
use crate::rollup::Resolution;

/// Key of a chunk record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkKey {
    /// The device.
    pub device: String,
    /// First timestamp in the chunk.
    pub start: Millis,
    /// Last timestamp in the chunk.
    pub end: Millis,
    /// Unique per device.
    pub id: u64,
}

impl ChunkKey {
    /// Whether the chunk may hold points within `start..=end`.
    pub fn overlaps(&self, start: Millis, end: Millis) -> bool {
        self.start <= end && self.end >= start
    }

    fn as_ref(&self) -> ChunkRef {
        ChunkRef {
            start: self.start,
            end: self.end,
            id: self.id,
        }
    }
}

/// Key of a rollup page.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageKey {
    /// The device.
    pub device: String,
    /// The property.
    pub property: String,
    /// The resolution of its buckets.
    pub resolution: Resolution,
    /// The start of the page's span.
    pub page_start: Millis,
}

/// A chunk of a known device: start, end, id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    /// First timestamp.
    pub start: Millis,
    /// Last timestamp.
    pub end: Millis,
    /// Unique per device.
    pub id: u64,
}

impl ChunkRef {
    /// The full key for `device`.
    pub fn key(&self, device: &str) -> ChunkKey {
        ChunkKey {
            device: device.to_string(),
            start: self.start,
            end: self.end,
            id: self.id,
        }
    }
}

impl From<&ChunkKey> for ChunkRef {
    fn from(k: &ChunkKey) -> Self {
        k.as_ref()
    }
}

/// Most properties a device may have (values of further new properties are
/// skipped and counted).
pub const MAX_DEVICE_PROPERTIES: usize = 1_024;

const MAGIC: &[u8; 3] = b"TKm";
const META_FORMAT: u8 = 1;

/// What the store keeps per device beside its chunks and rollups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceMeta {
    /// Points stored.
    pub points: u64,
    /// The open chunk new points join.
    pub head: Option<ChunkRef>,
    /// The open chunk points older than the head's start join.
    pub late: Option<ChunkRef>,
    /// The next chunk id.
    pub next_id: u64,
    /// Every property ever stored, sorted (rollups exist per property).
    pub properties: Vec<String>,
}

impl DeviceMeta {
    /// Encodes the meta record: `"TKm" 0x01`, points, next id, head and late
    /// (flag, then start, end, id), property count and names.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(MAGIC);
        w.u8(META_FORMAT);
        w.varint(self.points);
        w.varint(self.next_id);
        for r in [self.head, self.late] {
            match r {
                None => w.u8(0),
                Some(r) => {
                    w.u8(1);
                    w.varint(r.start);
                    w.varint(r.end);
                    w.varint(r.id);
                }
            }
        }
        w.varint(self.properties.len() as u64);
        for p in &self.properties {
            w.str(p);
        }
        w.bytes
    }

    /// Decodes a meta record.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.take(3).map_err(|_| DecodeError::BadMagic)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        match r.u8()? {
            META_FORMAT => {}
            v => return Err(DecodeError::UnsupportedVersion(v)),
        }
        let points = r.varint()?;
        let next_id = r.varint()?;
        let mut refs = [None, None];
        for slot in &mut refs {
            *slot = match r.u8()? {
                0 => None,
                1 => Some(ChunkRef {
                    start: r.varint()?,
                    end: r.varint()?,
                    id: r.varint()?,
                }),
                _ => return Err(DecodeError::Invalid("bad chunk flag")),
            };
        }
        let n = r.count(MAX_DEVICE_PROPERTIES)?;
        let mut properties: Vec<String> = Vec::with_capacity(n.min(r.remaining()));
        for _ in 0..n {
            let p = r.str(MAX_NAME_BYTES)?;
            if properties.last().is_some_and(|l| l.as_str() >= p) {
                return Err(DecodeError::Invalid("properties not sorted and unique"));
            }
            properties.push(p.to_string());
        }
        r.finish()?;
        Ok(Self {
            points,
            head: refs[0],
            late: refs[1],
            next_id,
            properties,
        })
    }
}

// Native only: proptest does not build for wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn meta_round_trip() {
        let m = DeviceMeta {
            points: 5,
            head: Some(ChunkRef {
                start: 1,
                end: 9,
                id: 3,
            }),
            late: None,
            next_id: 4,
            properties: vec!["a".into(), "b".into()],
        };
        assert_eq!(DeviceMeta::decode(&m.encode()).unwrap(), m);
    }

    proptest! {
        #[test]
        fn meta_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let mut framed = b"TKm\x01".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = DeviceMeta::decode(&framed);
            let _ = DeviceMeta::decode(&bytes);
        }
    }
}
