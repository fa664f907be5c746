//! The write-ahead log format (LevelDB's `db/log_format.h`), also used by
//! MANIFEST files.
//!
//! ```text
//! file   := block* (the last block may be short)
//! block  := 32768 bytes: fragment* then, when fewer than 7 bytes remain, zero padding
//! fragment := crc: fixed32   masked CRC-32C of (type ++ payload)
//!             length: u16 LE
//!             type: u8       FULL=1 | FIRST=2 | MIDDLE=3 | LAST=4
//!             payload: length bytes, never crossing the block's end
//! record := FULL | FIRST MIDDLE* LAST
//! ```
//! [`parse_block`] reads one block on its own, so blocks can be parsed in
//! parallel; joining fragments into records is left to the caller. Unlike
//! LevelDB's reader, which drops the rest of a block after one bad header,
//! parsing resynchronises on the next header whose checksum verifies.

use super::coding::Span;
use super::crc;

pub const BLOCK_SIZE: usize = 32 * 1024;
pub const HEADER_SIZE: usize = 7;

/// The most payload bytes joined into one record. The format itself sets no
/// bound (a FIRST may be followed by MIDDLE fragments without end, and a
/// batch's keys and values may each be up to 4 GiB), so without one a chain
/// that never ends holds its whole length in memory. Why 64 MiB: see
/// docs/FORMAT.md ("A cap on records").
pub const MAX_RECORD_SIZE: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Full = 1,
    First = 2,
    Middle = 3,
    Last = 4,
}

impl RecordType {
    pub fn from_u8(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Full),
            2 => Some(RecordType::First),
            3 => Some(RecordType::Middle),
            4 => Some(RecordType::Last),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Full => "FULL",
            RecordType::First => "FIRST",
            RecordType::Middle => "MIDDLE",
            RecordType::Last => "LAST",
        }
    }
}

/// Why a run of bytes inside a block is not a verified fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadReason {
    ChecksumMismatch,
    UnknownType(u8),
    /// The length field points past the end of its block.
    LengthPastBlock,
    /// The header or payload is cut short by the end of the file.
    CutByEof,
    /// Bytes in a block's final < 7 bytes, which the writer fills with zeros.
    NonZeroTrailer,
    /// Zeros where a header should be, with more data after them in the block.
    ZeroRun,
}

impl BadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BadReason::ChecksumMismatch => "checksum mismatch",
            BadReason::UnknownType(_) => "unknown record type",
            BadReason::LengthPastBlock => "record length runs past its block",
            BadReason::CutByEof => "record cut short by end of file",
            BadReason::NonZeroTrailer => "non-zero bytes in block trailer",
            BadReason::ZeroRun => "zeroed bytes",
        }
    }
}

/// One item of a parsed block, in block order. Offsets are within the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// A fragment whose checksum verified. `start` is its header's offset.
    Fragment {
        start: usize,
        rtype: RecordType,
        /// Payload range within the block.
        payload: (usize, usize),
    },
    /// Bytes that are not a verified fragment, up to the next one that is (or
    /// the block's end). `header` keeps a plausible header's payload range
    /// when only the checksum failed, so the caller may try to read it as
    /// unverified data.
    Bad {
        start: usize,
        end: usize,
        reason: BadReason,
        suspect: Option<(RecordType, usize, usize)>,
        /// Where a run of zeros reaching `end` begins, when `end` is the
        /// block's end: the mark of an unwritten tail.
        zero_tail: Option<usize>,
    },
    /// Zeros from `start` to the end of the block: either unwritten space
    /// (preallocated or torn) or a zeroed run, depending on what follows.
    /// In a short last block, also a run of fewer than 7 bytes.
    Zeros { start: usize },
}

/// Where a header stops fitting in a block's span: past it the writer pads.
const LAST_HEADER_START: usize = BLOCK_SIZE - HEADER_SIZE;

/// Parse one block. `at_eof` says the file ends with this block (so a short
/// block, or a record running past the data, was cut by the end of file).
pub fn parse_block(block: &[u8], at_eof: bool, out: &mut Vec<Piece>) {
    let len = block.len();
    let full = len == BLOCK_SIZE;
    let mut p = 0;
    // Each round moves `p` forward to an offset inside the block (`resync`
    // returns one past `p`), or returns; offsets plus a header and a u16
    // length stay far below usize::MAX, so no saturating add saturates.
    while let Some(rest) = block.get(p..).filter(|r| !r.is_empty()) {
        let Some(head) = rest.first_chunk::<HEADER_SIZE>() else {
            if rest.iter().any(|&b| b != 0) {
                // A header may start here only if it fits in the block's
                // span; past that the writer leaves zero padding.
                let reason = if full || !at_eof || p > LAST_HEADER_START {
                    BadReason::NonZeroTrailer
                } else {
                    BadReason::CutByEof
                };
                push_bad(block, out, p, len, reason, None);
            } else if at_eof && !full {
                // The file ends in zeros: as unwritten as a longer zero tail.
                out.push(Piece::Zeros { start: p });
            }
            return;
        };
        if *head == [0; HEADER_SIZE] {
            let Some(zeros) = rest.iter().position(|&b| b != 0) else {
                out.push(Piece::Zeros { start: p });
                return;
            };
            // The first non-zero byte may belong to a header whose leading
            // bytes are zero, so look up to six bytes before it (past `p`).
            let skip = zeros.saturating_sub(HEADER_SIZE - 1).max(1);
            let next = resync(block, p.saturating_add(skip));
            push_bad(block, out, p, next, BadReason::ZeroRun, None);
            p = next;
            continue;
        }
        match check_header(block, p) {
            Ok((rtype, payload)) => {
                out.push(Piece::Fragment {
                    start: p,
                    rtype,
                    payload,
                });
                p = payload.1;
            }
            Err(reason) => {
                let mut reason = reason;
                let suspect = if reason == BadReason::ChecksumMismatch {
                    header_fields(block, p).map(|(t, (s, e))| (t, s, e))
                } else {
                    None
                };
                let next = if reason == BadReason::CutByEof {
                    len
                } else {
                    resync(block, p.saturating_add(1))
                };
                let mut suspect = suspect;
                if reason == BadReason::LengthPastBlock && at_eof && !full && next == len {
                    // Past the data but inside a block's span, with no
                    // verified fragment after it: the write was cut by the
                    // end of the file. (With one after it, the length is
                    // simply wrong.) What was written of it may still be read,
                    // as unverified data.
                    if let Some((_, n, t)) = raw_header(block, p) {
                        if LAST_HEADER_START
                            .checked_sub(p)
                            .is_some_and(|room| n <= room)
                        {
                            reason = BadReason::CutByEof;
                            let start = p.saturating_add(HEADER_SIZE);
                            suspect = RecordType::from_u8(t).map(|t| (t, start, len));
                        }
                    }
                }
                push_bad(block, out, p, next, reason, suspect);
                p = next;
            }
        }
    }
}

fn push_bad(
    block: &[u8],
    out: &mut Vec<Piece>,
    start: usize,
    end: usize,
    reason: BadReason,
    suspect: Option<(RecordType, usize, usize)>,
) {
    // Only a run reaching the block's end can be an unwritten tail.
    let zero_tail = block
        .get(start..)
        .filter(|_| end == block.len())
        .map(|run| run.iter().rev().take_while(|&&b| b == 0).count())
        .filter(|&zeros| zeros > 0)
        .and_then(|zeros| end.checked_sub(zeros));
    out.push(Piece::Bad {
        start,
        end,
        reason,
        suspect,
        zero_tail,
    });
}

/// (stored checksum, length, type byte) of the header at `p`, when 7 bytes
/// are there.
fn raw_header(block: &[u8], p: usize) -> Option<(u32, usize, u8)> {
    let [c0, c1, c2, c3, l0, l1, t] = *block.get(p..)?.first_chunk::<HEADER_SIZE>()?;
    let n = usize::from(u16::from_le_bytes([l0, l1]));
    Some((u32::from_le_bytes([c0, c1, c2, c3]), n, t))
}

/// The payload of `n` bytes declared by the header at `p`, when it fits in
/// the block.
fn payload_at(block: &[u8], p: usize, n: usize) -> Option<Span> {
    Span::new(p.checked_add(HEADER_SIZE)?, n, block.len()).ok()
}

/// A header of a known type whose payload fits in the block: (type,
/// payload range).
fn header_fields(block: &[u8], p: usize) -> Option<(RecordType, (usize, usize))> {
    let (_, n, t) = raw_header(block, p)?;
    let rtype = RecordType::from_u8(t)?;
    let payload = payload_at(block, p, n)?;
    Some((rtype, (payload.start(), payload.end())))
}

fn check_header(block: &[u8], p: usize) -> Result<(RecordType, (usize, usize)), BadReason> {
    let (stored, n, t) = raw_header(block, p).ok_or(BadReason::CutByEof)?;
    let rtype = RecordType::from_u8(t).ok_or(BadReason::UnknownType(t))?;
    let payload = payload_at(block, p, n).ok_or(BadReason::LengthPastBlock)?;
    // The checksum covers the type byte, the header's last, and the payload.
    let covered = block
        .get(p..payload.end())
        .and_then(|f| f.get(HEADER_SIZE - 1..))
        .ok_or(BadReason::LengthPastBlock)?;
    if crc::unmask(stored) != crc::value(covered) {
        return Err(BadReason::ChecksumMismatch);
    }
    Ok((rtype, (payload.start(), payload.end())))
}

/// The first offset at or after `from` holding a fragment whose checksum
/// verifies, or the block's length. The type and length checks reject all
/// but a few percent of positions before any CRC is computed, and a
/// candidate's payload is at most `block.len()` bytes, so the cost of a
/// fully damaged block stays bounded (a few MiB of CRC at worst).
pub fn resync(block: &[u8], from: usize) -> usize {
    let len = block.len();
    let Some(rest) = block.get(from..) else {
        return len;
    };
    for (q, head) in (from..len).zip(rest.windows(HEADER_SIZE)) {
        if let [_, _, _, _, _, _, 1..=4] = *head {
            if check_header(block, q).is_ok() {
                return q;
            }
        }
    }
    len
}

/// Encode one fragment (header and payload) — for tests and writers.
///
/// # Panics
///
/// If `payload` is longer than a fragment's u16 length can say; a writer
/// splits records at block boundaries, so its fragments never are.
pub fn encode_fragment(out: &mut Vec<u8>, rtype: RecordType, payload: &[u8]) {
    let t = rtype as u8;
    let n = u16::try_from(payload.len()).expect("a fragment's payload fits in a block");
    let c = crc::mask(crc::extend(crc::value(&[t]), payload));
    out.extend_from_slice(&c.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.push(t);
    out.extend_from_slice(payload);
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    fn frag(t: RecordType, p: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_fragment(&mut v, t, p);
        v
    }

    #[test]
    fn parses_fragments_and_padding() {
        let mut b = frag(RecordType::Full, b"hello");
        b.extend(frag(RecordType::First, b"ab"));
        let mut out = Vec::new();
        parse_block(&b, true, &mut out);
        assert_eq!(out.len(), 2);
        assert!(matches!(
            out[1],
            Piece::Fragment {
                rtype: RecordType::First,
                payload: (19, 21),
                ..
            }
        ));
        b.resize(BLOCK_SIZE, 0);
        out.clear();
        parse_block(&b, false, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2], Piece::Zeros { start: 21 });
    }

    #[test]
    fn resyncs_after_bad_length() {
        let mut b = frag(RecordType::Full, b"one");
        let second = b.len();
        b.extend(frag(RecordType::Full, b"two"));
        b.extend(frag(RecordType::Full, b"three"));
        b[second + 4] = 0x30; // length 0x30 still fits in a full block
        b.resize(BLOCK_SIZE, 0);
        let mut out = Vec::new();
        parse_block(&b, false, &mut out);
        assert!(
            matches!(out[1], Piece::Bad { start, reason: BadReason::ChecksumMismatch, .. } if start == second)
        );
        assert!(matches!(out[2], Piece::Fragment { payload: (s, e), .. } if &b[s..e] == b"three"));
    }

    #[test]
    fn length_past_the_data_of_the_last_block() {
        let mut b = frag(RecordType::Full, b"one");
        let second = b.len();
        b.extend(frag(RecordType::Full, b"two"));
        b.extend(frag(RecordType::Full, b"three"));
        b[second + 5] = 0x10; // 4 KiB: past the data, inside the block's span
        let mut out = Vec::new();
        parse_block(&b, true, &mut out);
        // A verified fragment follows: a wrong length, not a cut write.
        assert!(matches!(
            out[1],
            Piece::Bad { start, reason: BadReason::LengthPastBlock, .. } if start == second
        ));
        assert!(matches!(out[2], Piece::Fragment { payload: (s, e), .. } if &b[s..e] == b"three"));
        // The last fragment itself: cut by the end of the file.
        let third = second + HEADER_SIZE + 3;
        b[second + 5] = 0;
        b[third + 5] = 0x10;
        out.clear();
        parse_block(&b, true, &mut out);
        assert!(matches!(
            out[2],
            Piece::Bad { start, reason: BadReason::CutByEof, .. } if start == third
        ));
    }

    #[test]
    fn short_tails_at_the_end_of_the_file() {
        let mut b = frag(RecordType::Full, &[7u8; BLOCK_SIZE - 2 * HEADER_SIZE]);
        // Room for a header's start: a header cut short.
        b.extend([1, 2, 3]);
        let mut out = Vec::new();
        parse_block(&b, true, &mut out);
        assert!(matches!(
            out[1],
            Piece::Bad {
                reason: BadReason::CutByEof,
                ..
            }
        ));
        // Past a header's room: the trailer, which should be zeros.
        let mut c = frag(RecordType::Full, &[7u8; BLOCK_SIZE - HEADER_SIZE - 4]);
        c.extend([5, 0]);
        out.clear();
        parse_block(&c, true, &mut out);
        assert!(matches!(
            out[1],
            Piece::Bad {
                reason: BadReason::NonZeroTrailer,
                ..
            }
        ));
        // Zeros too short for a header end the file as unwritten space.
        c.truncate(c.len() - 2);
        c.extend([0, 0]);
        out.clear();
        parse_block(&c, true, &mut out);
        assert_eq!(
            out[1],
            Piece::Zeros {
                start: BLOCK_SIZE - 4
            }
        );
    }

    #[test]
    fn never_panics_on_noise() {
        let mut x: u32 = 12345;
        let mut b = vec![0u8; BLOCK_SIZE];
        for v in b.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *v = (x >> 16) as u8;
        }
        for cut in [0, 1, 6, 7, 100, 4097, BLOCK_SIZE] {
            let mut out = Vec::new();
            parse_block(&b[..cut], true, &mut out);
            parse_block(&b[..cut], false, &mut out);
        }
        let ones = vec![1u8; BLOCK_SIZE];
        let mut out = Vec::new();
        parse_block(&ones, false, &mut out);
        assert!(matches!(
            out[0],
            Piece::Bad {
                end: BLOCK_SIZE,
                ..
            }
        ));
    }
}
