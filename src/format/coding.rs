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
    /// Always a suffix of `data`: reads split bytes off its front.
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, rest: data }
    }

    pub fn position(&self) -> usize {
        suffix_offset(self.data, self.rest)
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn u8(&mut self) -> Result<u8> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let (s, rest) = self
            .rest
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (a, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*a)
    }

    pub fn fixed32(&mut self) -> Result<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn fixed64(&mut self) -> Result<u64> {
        self.array().map(u64::from_le_bytes)
    }

    pub fn varint32(&mut self) -> Result<u32> {
        let (v, rest) = varint32_split(self.rest)?;
        self.rest = rest;
        Ok(v)
    }

    pub fn varint64(&mut self) -> Result<u64> {
        let (v, rest) = varint_split(self.rest, 10)?;
        self.rest = rest;
        Ok(v)
    }

    /// A varint32 length followed by that many bytes.
    pub fn length_prefixed(&mut self) -> Result<&'a [u8]> {
        let (n, after) = varint32_split(self.rest)?;
        let (s, rest) = after
            .split_at_checked(n as usize)
            .ok_or(DecodeError::LengthOutOfRange)?;
        self.rest = rest;
        Ok(s)
    }
}

/// A range of some byte slice whose bounds were checked against that slice's
/// length when it was made, so offsets and lengths read from a file are
/// validated in one place. Its parts never overflow: `start <= end <= total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// `len` bytes from `start`, if they lie within `total` bytes.
    pub fn new(start: usize, len: usize, total: usize) -> Result<Span> {
        let end = start
            .checked_add(len)
            .filter(|&end| end <= total)
            .ok_or(DecodeError::LengthOutOfRange)?;
        Ok(Span { start, end })
    }

    /// [`Span::new`] from the 64-bit offsets and sizes files store.
    pub fn from_u64(start: u64, len: u64, total: usize) -> Result<Span> {
        let start = usize::try_from(start).map_err(|_| DecodeError::LengthOutOfRange)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::LengthOutOfRange)?;
        Span::new(start, len, total)
    }

    /// `start..end`, if it lies within `total` bytes.
    pub fn from_range(start: usize, end: usize, total: usize) -> Result<Span> {
        if start <= end && end <= total {
            Ok(Span { start, end })
        } else {
            Err(DecodeError::LengthOutOfRange)
        }
    }

    pub fn start(self) -> usize {
        self.start
    }

    pub fn end(self) -> usize {
        self.end
    }

    pub fn len(self) -> usize {
        // `start <= end` by construction, so this never saturates.
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The spanned bytes of `data`, which should be the slice (or one as
    /// long) that the span was checked against; a shorter one is an error
    /// rather than a panic.
    pub fn of(self, data: &[u8]) -> Result<&[u8]> {
        data.get(self.start..self.end)
            .ok_or(DecodeError::LengthOutOfRange)
    }
}

/// Where `suffix`, a tail of `whole` left by splitting reads off its front,
/// starts within it.
pub fn suffix_offset(whole: &[u8], suffix: &[u8]) -> usize {
    // A tail is never longer than its slice, so this never saturates.
    whole.len().saturating_sub(suffix.len())
}

/// Decode a varint32 from the front of `data`: (value, bytes used).
pub fn decode_varint32(data: &[u8]) -> Result<(u32, usize)> {
    let (v, rest) = varint32_split(data)?;
    Ok((v, suffix_offset(data, rest)))
}

/// Decode a varint64 from the front of `data`: (value, bytes used).
pub fn decode_varint64(data: &[u8]) -> Result<(u64, usize)> {
    let (v, rest) = varint_split(data, 10)?;
    Ok((v, suffix_offset(data, rest)))
}

/// A varint32 and the bytes after it.
pub fn varint32_split(data: &[u8]) -> Result<(u32, &[u8])> {
    let (v, rest) = varint_split(data, 5)?;
    // The fifth byte may only carry the top 4 bits of a 32-bit value.
    let v = u32::try_from(v).map_err(|_| DecodeError::BadVarint)?;
    Ok((v, rest))
}

/// A varint of at most `max_len` bytes and the bytes after it.
fn varint_split(data: &[u8], max_len: usize) -> Result<(u64, &[u8])> {
    let mut result: u64 = 0;
    let mut rest = data;
    // Bit offsets 0, 7, .., 63, one per byte: no shift reaches the width.
    for shift in (0..u64::BITS).step_by(7).take(max_len) {
        let (&b, after) = rest.split_first().ok_or(DecodeError::Truncated)?;
        rest = after;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(DecodeError::BadVarint);
        }
        result |= bits << shift;
        if b & 0x80 == 0 {
            return Ok((result, rest));
        }
    }
    Err(DecodeError::BadVarint)
}

pub fn put_varint32(out: &mut Vec<u8>, v: u32) {
    put_varint64(out, u64::from(v));
}

pub fn put_varint64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push((v & 0x7f) as u8);
}

pub fn put_fixed32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_fixed64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// # Panics
///
/// If `data` is 4 GiB or longer, which a varint32 length cannot describe.
/// Nothing this crate reads can be that long (a decompressed block is
/// capped well below it), so this is a caller's bug, never damaged input.
pub fn put_length_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    let n = u32::try_from(data.len()).expect("a length-prefixed field is under 4 GiB");
    put_varint32(out, n);
    out.extend_from_slice(data);
}

pub fn read_fixed32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..)?.first_chunk::<4>()?;
    Some(u32::from_le_bytes(*b))
}

#[cfg(test)]
// Tests index and size the data they build themselves.
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
    fn span_is_checked_once() {
        let data = [1u8, 2, 3, 4, 5];
        let s = Span::new(1, 3, data.len()).unwrap();
        assert_eq!((s.start(), s.end(), s.len()), (1, 4, 3));
        assert_eq!(s.of(&data), Ok(&[2u8, 3, 4][..]));
        assert_eq!(s.of(&data[..3]), Err(DecodeError::LengthOutOfRange));
        assert!(Span::new(5, 0, 5).unwrap().is_empty());
        assert_eq!(Span::new(4, 2, 5), Err(DecodeError::LengthOutOfRange));
        assert_eq!(
            Span::new(usize::MAX, 2, usize::MAX),
            Err(DecodeError::LengthOutOfRange)
        );
        assert_eq!(
            Span::from_u64(u64::MAX, 1, 5),
            Err(DecodeError::LengthOutOfRange)
        );
        assert_eq!(
            Span::from_u64(2, 3, 5).unwrap().of(&data),
            Ok(&[3u8, 4, 5][..])
        );
        assert_eq!(
            Span::from_range(2, 1, 5),
            Err(DecodeError::LengthOutOfRange)
        );
        assert_eq!(
            Span::from_range(2, 6, 5),
            Err(DecodeError::LengthOutOfRange)
        );
        assert_eq!(Span::from_range(2, 2, 5).unwrap().of(&data), Ok(&[][..]));
    }

    #[test]
    fn cursor_reads_and_positions() {
        let mut b = vec![0xaa];
        put_fixed32(&mut b, 0x0102_0304);
        put_fixed64(&mut b, u64::MAX - 1);
        put_varint64(&mut b, 300);
        put_length_prefixed(&mut b, b"xyz");
        b.push(9);
        let mut c = Cursor::new(&b);
        assert_eq!(c.u8(), Ok(0xaa));
        assert_eq!(c.fixed32(), Ok(0x0102_0304));
        assert_eq!(c.position(), 5);
        assert_eq!(c.fixed64(), Ok(u64::MAX - 1));
        assert_eq!(c.varint32(), Ok(300));
        assert_eq!(c.length_prefixed(), Ok(&b"xyz"[..]));
        assert_eq!(c.position(), b.len() - 1);
        assert_eq!((c.remaining(), c.rest()), (1, &[9u8][..]));
        assert_eq!(read_fixed32(&b, 1), Some(0x0102_0304));
        assert_eq!(read_fixed32(&b, b.len() - 3), None);
        assert_eq!(read_fixed32(&b, usize::MAX), None);
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
