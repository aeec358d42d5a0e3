//! Little binary reader and writer shared by the chunk, rollup and meta
//! formats: LEB128 varints, little-endian `f64`, length-prefixed UTF-8.
//! The reader never panics: every read checks the remaining input.

use crate::error::DecodeError;

/// Largest integer a JavaScript number holds exactly (2^53 − 1); every
/// timestamp and count in the formats stays within it.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Appends values to a byte vector.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(n),
        }
    }

    pub(crate) fn u8(&mut self, b: u8) {
        self.bytes.push(b);
    }

    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bytes.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.bytes.extend_from_slice(b);
    }
}

/// Reads values from a byte slice, refusing anything out of bounds.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// A varint of at most 10 bytes whose value fits in 53 bits.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return if v > MAX_SAFE_INTEGER {
                    Err(DecodeError::Invalid("integer beyond 2^53 - 1"))
                } else {
                    Ok(v)
                };
            }
        }
        Err(DecodeError::Invalid("varint longer than 10 bytes"))
    }

    /// A varint bounded by `max` (counts and lengths), so a hostile count
    /// cannot make the decoder allocate.
    pub(crate) fn count(&mut self, max: usize) -> Result<usize, DecodeError> {
        let v = self.varint()?;
        if v > max as u64 {
            return Err(DecodeError::Invalid("count out of range"));
        }
        Ok(v as usize)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn f64(&mut self) -> Result<f64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(a))
    }

    pub(crate) fn str(&mut self, max: usize) -> Result<&'a str, DecodeError> {
        let n = self.count(max)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Invalid("string is not UTF-8"))
    }

    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::Invalid("trailing bytes"))
        }
    }
}
