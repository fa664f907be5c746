//! Little-endian fixed-width integers and LEB128-style varints, as LevelDB's
//! `util/coding.h` writes them, read through a bounds-checked [`Cursor`].
//!
//! A varint32 is at most 5 bytes and a varint64 at most 10; a longer run of
//! continuation bits, or a value that overflows its width, is damage.

use std::fmt;

/// Why bytes could not be decoded. Parsers return this instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the value did.
    Truncated,
    /// A varint with too many bytes or too large for its width.
    BadVarint,
    /// A length read from the input exceeds what the input holds.
    LengthOutOfRange,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "truncated",
            DecodeError::BadVarint => "malformed varint",
            DecodeError::LengthOutOfRange => "length beyond the available bytes",
        })
    }
}

impl std::error::Error for DecodeError {}

pub type Result<T> = std::result::Result<T, DecodeError>;

/// A read position over a byte slice; every read is checked against the
/// bytes that remain, so a length taken from the input can never index out
/// of bounds or drive an allocation.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub fn u8(&mut self) -> Result<u8> {
        let b = *self.data.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn fixed32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn fixed64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn varint32(&mut self) -> Result<u32> {
        let (v, n) = decode_varint32(self.rest())?;
        self.pos += n;
        Ok(v)
    }

    pub fn varint64(&mut self) -> Result<u64> {
        let (v, n) = decode_varint64(self.rest())?;
        self.pos += n;
        Ok(v)
    }

    /// A varint32 length followed by that many bytes.
    pub fn length_prefixed(&mut self) -> Result<&'a [u8]> {
        let n = self.varint32()? as usize;
        if n > self.remaining() {
            return Err(DecodeError::LengthOutOfRange);
        }
        self.bytes(n)
    }
}

/// Decode a varint32 from the front of `data`: (value, bytes used).
pub fn decode_varint32(data: &[u8]) -> Result<(u32, usize)> {
    let (v, n) = decode_varint(data, 5)?;
    // The fifth byte may only carry the top 4 bits of a 32-bit value.
    u32::try_from(v)
        .map(|v| (v, n))
        .map_err(|_| DecodeError::BadVarint)
}

/// Decode a varint64 from the front of `data`: (value, bytes used).
pub fn decode_varint64(data: &[u8]) -> Result<(u64, usize)> {
    decode_varint(data, 10)
}

fn decode_varint(data: &[u8], max_len: usize) -> Result<(u64, usize)> {
    let mut result: u64 = 0;
    for i in 0..max_len {
        let b = *data.get(i).ok_or(DecodeError::Truncated)?;
        let bits = u64::from(b & 0x7f);
        let shift = 7 * i as u32;
        if shift == 63 && bits > 1 {
            return Err(DecodeError::BadVarint);
        }
        result |= bits << shift;
        if b & 0x80 == 0 {
            return Ok((result, i + 1));
        }
    }
    Err(DecodeError::BadVarint)
}

pub fn put_varint32(out: &mut Vec<u8>, v: u32) {
    put_varint64(out, u64::from(v));
}

pub fn put_varint64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_fixed32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_fixed64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_length_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    put_varint32(out, data.len() as u32);
    out.extend_from_slice(data);
}

pub fn read_fixed32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip() {
        let vals = [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ];
        for &v in &vals {
            let mut b = Vec::new();
            put_varint64(&mut b, v);
            assert_eq!(decode_varint64(&b), Ok((v, b.len())));
            if v <= u32::MAX as u64 {
                assert_eq!(decode_varint32(&b), Ok((v as u32, b.len())));
            } else {
                assert!(decode_varint32(&b).is_err());
            }
        }
    }

    #[test]
    fn varint_damage() {
        assert_eq!(decode_varint32(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode_varint32(&[0x80]), Err(DecodeError::Truncated));
        assert_eq!(decode_varint32(&[0xff; 6]), Err(DecodeError::BadVarint));
        assert_eq!(decode_varint64(&[0xff; 11]), Err(DecodeError::BadVarint));
        // 10th byte may only be 0 or 1 for u64.
        let mut b = vec![0xff; 9];
        b.push(0x02);
        assert_eq!(decode_varint64(&b), Err(DecodeError::BadVarint));
        // 5-byte varint overflowing 32 bits.
        assert_eq!(
            decode_varint32(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(DecodeError::BadVarint)
        );
    }

    #[test]
    fn cursor_bounds() {
        let mut c = Cursor::new(&[3, b'a', b'b']);
        assert_eq!(c.length_prefixed(), Err(DecodeError::LengthOutOfRange));
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.fixed32(), Err(DecodeError::Truncated));
        assert_eq!(c.position(), 0);
        assert_eq!(c.bytes(3), Ok(&[1u8, 2, 3][..]));
        assert!(c.is_empty());
        assert_eq!(c.u8(), Err(DecodeError::Truncated));
    }
}
