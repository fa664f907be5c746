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
//!
//! RocksDB's write-ahead log (`db/log_format.h`, `db/log_writer.cc`,
//! `db/log_reader.cc` of facebook/rocksdb) is the same block format with
//! more record types, read by [`parse_block_with`] and [`LogFlavor::RocksDb`]:
//!
//! ```text
//! type 1..4    FULL/FIRST/MIDDLE/LAST, the 7-byte header above
//! type 5..8    recyclable FULL/FIRST/MIDDLE/LAST: an 11-byte header
//!              crc: fixed32  masked CRC-32C of (type ++ log number ++ payload)
//!              length: u16 LE, type: u8, log number: fixed32 (low 32 bits
//!              of the log file's number)
//! type 9       SetCompressionType, 7-byte header: payload fixed32, the
//!              CompressionType of every later data record's payload;
//!              written first in the log, itself never compressed
//! type 10, 11  user-defined timestamp sizes (11: recyclable header):
//!              payload (cf id: fixed32, timestamp size: fixed16)*
//! type 130,131 predecessor WAL info (131: recyclable header): payload
//!              log number, size in bytes, last sequence: fixed64 each
//! other types with bit 7 set: safe to ignore, 7-byte header (read after a
//!              verified record; never resynchronised onto)
//! ```
//! With WAL compression (`DBOptions::wal_compression`; only ZSTD, id 7, is
//! accepted: `StreamingCompressionTypeSupported` in `util/compression.h`),
//! every later data record's payload, joined over its fragments, is one
//! whole zstd frame: the writer resets its stream per record and ends the
//! frame (`ZSTD_e_end`, `ZSTDStreamingCompress` in `util/compression.cc`),
//! then cuts the compressed bytes into fragments as usual. There is no
//! size prefix, and with zstd's content checksum (`ZSTD_c_checksumFlag`);
//! the special records (types 9 and up) stay uncompressed.
//! So a damaged record never spoils the next one's decompression:
//! [`decompress_record`] takes one record on its own.
//!
//! A recyclable record whose log number is not the file's own was left by the
//! file's previous use: RocksDB's reader treats it as the end of the log, and
//! so does [`Piece::Recycled`]. A block of a recycling writer ends in up to
//! 10 bytes of zero padding, since an 11-byte header no longer fits there.

use super::coding::{Cursor, Span};
use super::compress::{self, CompressError};
use super::crc;
use std::fmt;

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

/// Which writer's record types a log may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFlavor {
    /// Types 1 to 4 only: LevelDB and its forks, and every MANIFEST.
    #[default]
    LevelDb,
    /// RocksDB's WAL. `log_number` is the low 32 bits of the file's own
    /// number, when known: a recyclable record naming another number marks
    /// the end of the log. Without it, recyclable fragments are passed on
    /// with their number and the caller decides.
    RocksDb { log_number: Option<u32> },
}

impl LogFlavor {
    /// RocksDB, for the log file numbered `file_number`. The writer stores
    /// only the number's low 32 bits.
    pub fn rocksdb(file_number: u64) -> LogFlavor {
        let [a, b, c, d, ..] = file_number.to_le_bytes();
        LogFlavor::RocksDb {
            log_number: Some(u32::from_le_bytes([a, b, c, d])),
        }
    }

    fn is_rocksdb(self) -> bool {
        matches!(self, LogFlavor::RocksDb { .. })
    }
}

/// RocksDB's record types that carry no user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// kSetCompressionType (9): see [`decode_compression_type`].
    SetCompression,
    /// kUserDefinedTimestampSizeType (10, recyclable 11): see
    /// [`decode_timestamp_sizes`].
    TimestampSize,
    /// kPredecessorWALInfoType (130, recyclable 131): see
    /// [`decode_predecessor_info`].
    PredecessorWal,
    /// Another type with bit 7 (kRecordTypeSafeIgnoreMask) set, which a
    /// reader may skip: the type byte.
    Ignorable(u8),
}

impl Special {
    pub fn as_str(self) -> &'static str {
        match self {
            Special::SetCompression => "set compression type",
            Special::TimestampSize => "user-defined timestamp sizes",
            Special::PredecessorWal => "predecessor WAL info",
            Special::Ignorable(_) => "ignorable record",
        }
    }
}

/// Bit of a RocksDB record type saying a reader that does not know the type
/// may skip the record (kRecordTypeSafeIgnoreMask).
pub const SAFE_IGNORE_MASK: u8 = 1 << 7;
/// RocksDB's recyclable header: the 7 bytes and a fixed32 log number.
pub const RECYCLABLE_HEADER_SIZE: usize = HEADER_SIZE + 4;

/// What a record type byte announces, for one flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data(RecordType),
    Special(Special),
}

/// (kind, whether the header is the 11-byte recyclable one).
fn classify(t: u8, flavor: LogFlavor) -> Option<(Kind, bool)> {
    if let Some(r) = RecordType::from_u8(t) {
        return Some((Kind::Data(r), false));
    }
    if !flavor.is_rocksdb() {
        return None;
    }
    let kind = match t {
        5..=8 => (Kind::Data(RecordType::from_u8(t.checked_sub(4)?)?), true),
        9 => (Kind::Special(Special::SetCompression), false),
        10 => (Kind::Special(Special::TimestampSize), false),
        11 => (Kind::Special(Special::TimestampSize), true),
        130 => (Kind::Special(Special::PredecessorWal), false),
        131 => (Kind::Special(Special::PredecessorWal), true),
        _ if t & SAFE_IGNORE_MASK != 0 => (Kind::Special(Special::Ignorable(t)), false),
        _ => return None,
    };
    Some(kind)
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
        /// A RocksDB recyclable fragment's log number (types 5 to 8).
        log_number: Option<u32>,
    },
    /// A verified RocksDB record that carries no user data (types 9 and
    /// up), which is neither part of a record nor damage.
    Special {
        start: usize,
        kind: Special,
        payload: (usize, usize),
        log_number: Option<u32>,
    },
    /// A verified recyclable record at `old` whose log number is not the
    /// file's (see [`LogFlavor::RocksDb`]): left by the file's previous use,
    /// so the log ends at `start`. `start` is before `old` when unverified
    /// bytes (with no plausible header) lead up to it: the rest of an old
    /// record that the new records overwrote in part. Nothing after it in
    /// the block is parsed. The remnant may also fill the end of the block
    /// before, as a [`Piece::Bad`] the caller can join to the tail.
    Recycled {
        start: usize,
        old: usize,
        log_number: u32,
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

/// Parse one block of a LevelDB log. `at_eof` says the file ends with this
/// block (so a short block, or a record running past the data, was cut by
/// the end of file).
pub fn parse_block(block: &[u8], at_eof: bool, out: &mut Vec<Piece>) {
    parse_block_with(block, at_eof, LogFlavor::LevelDb, out);
}

/// Parse one block of a log written by `flavor`'s writer. With
/// [`LogFlavor::LevelDb`] this is [`parse_block`].
pub fn parse_block_with(block: &[u8], at_eof: bool, flavor: LogFlavor, out: &mut Vec<Piece>) {
    let len = block.len();
    let full = len == BLOCK_SIZE;
    let mut p = 0;
    // Each round moves `p` forward to an offset inside the block (`resync`
    // returns one past `p`), or returns; offsets plus a header and a u16
    // length stay far below usize::MAX, so no saturating add saturates.
    while let Some(rest) = block.get(p..).filter(|r| !r.is_empty()) {
        if flavor.is_rocksdb()
            && (full || !at_eof)
            && rest.len() < RECYCLABLE_HEADER_SIZE
            && rest.iter().all(|&b| b == 0)
        {
            // A recycling writer pads when fewer than 11 bytes are left.
            return;
        }
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
            let next = resync_with(block, p.saturating_add(skip), flavor);
            push_bad(block, out, p, next, BadReason::ZeroRun, None);
            p = next;
            continue;
        }
        match check_header(block, p, flavor) {
            Ok(h) => {
                if let (
                    Some(n),
                    LogFlavor::RocksDb {
                        log_number: Some(own),
                    },
                ) = (h.log_number, flavor)
                {
                    if n != own {
                        // The new records seldom end where an old one did:
                        // the unverified run just before is the rest of the
                        // old record they overwrote in part, unless it holds
                        // a plausible header of its own.
                        let start = match out.last() {
                            Some(&Piece::Bad {
                                start,
                                end,
                                suspect: None,
                                ..
                            }) if end == p => {
                                out.pop();
                                start
                            }
                            _ => p,
                        };
                        out.push(Piece::Recycled {
                            start,
                            old: p,
                            log_number: n,
                        });
                        return;
                    }
                }
                out.push(match h.kind {
                    Kind::Data(rtype) => Piece::Fragment {
                        start: p,
                        rtype,
                        payload: h.payload,
                        log_number: h.log_number,
                    },
                    Kind::Special(kind) => Piece::Special {
                        start: p,
                        kind,
                        payload: h.payload,
                        log_number: h.log_number,
                    },
                });
                p = h.payload.1;
            }
            Err(reason) => {
                let mut reason = reason;
                let suspect = if reason == BadReason::ChecksumMismatch {
                    header_fields(block, p, flavor).map(|(t, (s, e))| (t, s, e))
                } else {
                    None
                };
                let next = if reason == BadReason::CutByEof {
                    len
                } else {
                    resync_with(block, p.saturating_add(1), flavor)
                };
                let mut suspect = suspect;
                if reason == BadReason::LengthPastBlock && at_eof && !full && next == len {
                    // Past the data but inside a block's span, with no
                    // verified fragment after it: the write was cut by the
                    // end of the file. (With one after it, the length is
                    // simply wrong.) What was written of it may still be read,
                    // as unverified data.
                    if let Some((_, n, t)) = raw_header(block, p) {
                        let (data, hs) = match classify(t, flavor) {
                            Some((Kind::Data(r), recyclable)) => (Some(r), header_size(recyclable)),
                            Some((Kind::Special(_), recyclable)) => (None, header_size(recyclable)),
                            None => (None, HEADER_SIZE),
                        };
                        if BLOCK_SIZE
                            .checked_sub(hs)
                            .and_then(|last| last.checked_sub(p))
                            .is_some_and(|room| n <= room)
                        {
                            reason = BadReason::CutByEof;
                            let start = p.saturating_add(hs).min(len);
                            suspect = data.map(|t| (t, start, len));
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

fn header_size(recyclable: bool) -> usize {
    if recyclable {
        RECYCLABLE_HEADER_SIZE
    } else {
        HEADER_SIZE
    }
}

/// The payload of `n` bytes declared by the header of `hs` bytes at `p`,
/// when it fits in the block.
fn payload_at(block: &[u8], p: usize, hs: usize, n: usize) -> Option<Span> {
    Span::new(p.checked_add(hs)?, n, block.len()).ok()
}

/// A header of a known data type whose payload fits in the block: (type,
/// payload range).
fn header_fields(
    block: &[u8],
    p: usize,
    flavor: LogFlavor,
) -> Option<(RecordType, (usize, usize))> {
    let (_, n, t) = raw_header(block, p)?;
    let (Kind::Data(rtype), recyclable) = classify(t, flavor)? else {
        return None;
    };
    let payload = payload_at(block, p, header_size(recyclable), n)?;
    Some((rtype, (payload.start(), payload.end())))
}

/// A header whose checksum verified.
struct Header {
    kind: Kind,
    payload: (usize, usize),
    log_number: Option<u32>,
}

fn check_header(block: &[u8], p: usize, flavor: LogFlavor) -> Result<Header, BadReason> {
    let (stored, n, t) = raw_header(block, p).ok_or(BadReason::CutByEof)?;
    let (kind, recyclable) = classify(t, flavor).ok_or(BadReason::UnknownType(t))?;
    let hs = header_size(recyclable);
    let payload = payload_at(block, p, hs, n).ok_or(BadReason::LengthPastBlock)?;
    // The checksum covers the type byte, the header's last (or, in a
    // recyclable header, the type and the log number after it), and the
    // payload.
    let covered = block
        .get(p..payload.end())
        .and_then(|f| f.get(HEADER_SIZE - 1..))
        .ok_or(BadReason::LengthPastBlock)?;
    if crc::unmask(stored) != crc::value(covered) {
        return Err(BadReason::ChecksumMismatch);
    }
    let log_number = if recyclable {
        let at = p.saturating_add(HEADER_SIZE);
        let [a, b, c, d] = *block
            .get(at..)
            .and_then(|r| r.first_chunk::<4>())
            .ok_or(BadReason::LengthPastBlock)?;
        Some(u32::from_le_bytes([a, b, c, d]))
    } else {
        None
    };
    Ok(Header {
        kind,
        payload: (payload.start(), payload.end()),
        log_number,
    })
}

/// The first offset at or after `from` holding a fragment whose checksum
/// verifies, or the block's length. The type and length checks reject all
/// but a few percent of positions before any CRC is computed, and a
/// candidate's payload is at most `block.len()` bytes, so the cost of a
/// fully damaged block stays bounded (a few MiB of CRC at worst).
pub fn resync(block: &[u8], from: usize) -> usize {
    resync_with(block, from, LogFlavor::LevelDb)
}

/// [`resync`] for a log written by `flavor`'s writer.
pub fn resync_with(block: &[u8], from: usize, flavor: LogFlavor) -> usize {
    let len = block.len();
    let Some(rest) = block.get(from..) else {
        return len;
    };
    for (q, head) in (from..len).zip(rest.windows(HEADER_SIZE)) {
        // Resynchronising only onto the types RocksDB writes keeps the CRCs
        // tried in a garbled block to a few percent of positions; half of
        // all bytes have the safe-to-ignore bit. Such records are still
        // read when they follow a verified one.
        let plausible = match head.get(HEADER_SIZE - 1) {
            Some(1..=4) => true,
            Some(5..=11 | 130 | 131) => flavor.is_rocksdb(),
            _ => false,
        };
        if plausible && check_header(block, q, flavor).is_ok() {
            return q;
        }
    }
    len
}

/// The CompressionType id of a kSetCompressionType record's payload (its
/// first four bytes, as RocksDB's reader reads them; 0 is none, 1 Snappy, 2
/// zlib, 4 LZ4, 7 ZSTD, ...).
pub fn decode_compression_type(payload: &[u8]) -> Option<u32> {
    Cursor::new(payload).fixed32().ok()
}

/// The one CompressionType RocksDB's WAL writer can use (kZSTD).
pub const WAL_ZSTD: u32 = 7;

/// Why the payload of a record in a compressed WAL yields no record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCompressionError {
    /// The log's SetCompressionType record named a codec RocksDB never
    /// streams a WAL with (its reader calls that corruption too).
    Unsupported(u32),
    /// The payload is not one whole zstd frame of at most the cap.
    Corrupt(CompressError),
}

impl fmt::Display for RecordCompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordCompressionError::Unsupported(id) => write!(
                f,
                "the log says its records are compressed with codec id {id}, which RocksDB \
                 never uses for a WAL (only zstd, id 7)"
            ),
            RecordCompressionError::Corrupt(e) => e.fmt(f),
        }
    }
}

/// The payload of a data record of a log whose SetCompressionType record
/// named `compression`, decompressed to at most `cap` bytes. An empty
/// payload stays empty (the writer compresses nothing then).
pub fn decompress_record(
    compression: u32,
    payload: &[u8],
    cap: usize,
) -> Result<Vec<u8>, RecordCompressionError> {
    if compression != WAL_ZSTD {
        return Err(RecordCompressionError::Unsupported(compression));
    }
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    compress::zstd_frame(payload, cap).map_err(RecordCompressionError::Corrupt)
}

/// Whether a data record's payload starts like a zstd frame: how the
/// records of a compressed log whose SetCompressionType record was lost
/// can still be told. A write batch starts with its sequence number, whose
/// low 32 bits would have to be 0xfd2fb528, and [`decompress_record`] must
/// then succeed, content checksum included, before the guess is believed.
pub fn looks_compressed(payload: &[u8]) -> bool {
    payload.starts_with(&compress::ZSTD_MAGIC)
}

/// What decompresses of a compressed record that did not verify (cut short
/// or damaged), at most `cap` bytes: the start of its uncompressed payload,
/// or nothing.
pub fn decompress_record_prefix(compression: u32, payload: &[u8], cap: usize) -> Vec<u8> {
    if compression != WAL_ZSTD {
        return Vec::new();
    }
    compress::zstd_prefix(payload, cap)
}

/// The (column family id, timestamp size) pairs of a user-defined timestamp
/// size record, or `None` when its length is not a multiple of six (which
/// RocksDB's reader calls corruption).
pub fn decode_timestamp_sizes(payload: &[u8]) -> Option<Vec<(u32, u16)>> {
    let chunks = payload.chunks_exact(6);
    if !chunks.remainder().is_empty() {
        return None;
    }
    chunks
        .map(|c| {
            let (cf, sz) = c.split_first_chunk::<4>()?;
            let sz = sz.first_chunk::<2>()?;
            Some((u32::from_le_bytes(*cf), u16::from_le_bytes(*sz)))
        })
        .collect()
}

/// A predecessor WAL info record: the previous log's number, its size in
/// bytes and the last sequence number it recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredecessorInfo {
    pub log_number: u64,
    pub size_bytes: u64,
    pub last_sequence: u64,
}

pub fn decode_predecessor_info(payload: &[u8]) -> Option<PredecessorInfo> {
    let mut c = Cursor::new(payload);
    Some(PredecessorInfo {
        log_number: c.fixed64().ok()?,
        size_bytes: c.fixed64().ok()?,
        last_sequence: c.fixed64().ok()?,
    })
}

/// Encode one RocksDB record of any type byte `t` — for tests. With
/// `log_number`, the 11-byte recyclable header.
///
/// # Panics
///
/// If `payload` is longer than a u16 length can say.
pub fn encode_rocks_record(out: &mut Vec<u8>, t: u8, log_number: Option<u32>, payload: &[u8]) {
    let n = u16::try_from(payload.len()).expect("a fragment's payload fits in a block");
    let mut c = crc::value(&[t]);
    if let Some(l) = log_number {
        c = crc::extend(c, &l.to_le_bytes());
    }
    let c = crc::mask(crc::extend(c, payload));
    out.extend_from_slice(&c.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.push(t);
    if let Some(l) = log_number {
        out.extend_from_slice(&l.to_le_bytes());
    }
    out.extend_from_slice(payload);
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

    fn rocks(t: u8, log: Option<u32>, p: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_rocks_record(&mut v, t, log, p);
        v
    }

    const ROCKS7: LogFlavor = LogFlavor::RocksDb {
        log_number: Some(7),
    };

    fn parse(b: &[u8], at_eof: bool, flavor: LogFlavor) -> Vec<Piece> {
        let mut out = Vec::new();
        parse_block_with(b, at_eof, flavor, &mut out);
        out
    }

    #[test]
    fn recyclable_fragments_carry_their_log_number() {
        let mut b = rocks(6, Some(7), b"fir");
        b.extend(rocks(7, Some(7), b"mid"));
        b.extend(rocks(8, Some(7), b"last"));
        b.extend(frag(RecordType::Full, b"legacy"));
        let out = parse(&b, true, ROCKS7);
        let got: Vec<_> = out
            .iter()
            .map(|p| match *p {
                Piece::Fragment {
                    rtype,
                    payload: (s, e),
                    log_number,
                    ..
                } => (rtype, b[s..e].to_vec(), log_number),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (RecordType::First, b"fir".to_vec(), Some(7)),
                (RecordType::Middle, b"mid".to_vec(), Some(7)),
                (RecordType::Last, b"last".to_vec(), Some(7)),
                (RecordType::Full, b"legacy".to_vec(), None),
            ]
        );
        // LevelDB knows no type 6: the same bytes are damage there.
        let level = parse(&b, true, LogFlavor::LevelDb);
        assert!(matches!(
            level[0],
            Piece::Bad {
                reason: BadReason::UnknownType(6),
                ..
            }
        ));
        // Without the file's number, every number is passed on.
        let unknown = parse(&b, true, LogFlavor::RocksDb { log_number: None });
        assert_eq!(unknown, out);
    }

    #[test]
    fn the_checksum_covers_the_log_number() {
        let mut b = rocks(5, Some(7), b"payload");
        b.extend(frag(RecordType::Full, b"after"));
        // A stored checksum over (type, payload) alone does not verify.
        let mut wrong = b.clone();
        let c = crc::mask(crc::extend(crc::value(&[5]), b"payload"));
        wrong[..4].copy_from_slice(&c.to_le_bytes());
        let out = parse(&wrong, true, ROCKS7);
        assert!(matches!(
            out[0],
            Piece::Bad {
                reason: BadReason::ChecksumMismatch,
                ..
            }
        ));
        assert!(matches!(out[1], Piece::Fragment { payload: (s, e), .. } if &b[s..e] == b"after"));
        // Nor does a changed log number.
        let mut moved = b.clone();
        moved[7] ^= 1;
        assert!(matches!(
            parse(&moved, true, ROCKS7)[0],
            Piece::Bad {
                reason: BadReason::ChecksumMismatch,
                ..
            }
        ));
    }

    #[test]
    fn another_log_number_is_a_recycled_tail() {
        let mut b = rocks(5, Some(7), b"new");
        let old = b.len();
        b.extend(rocks(5, Some(3), b"old record"));
        b.extend(rocks(5, Some(7), b"looks new"));
        let out = parse(&b, true, ROCKS7);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1],
            Piece::Recycled {
                start: old,
                old,
                log_number: 3
            }
        );
        // The rest of an overwritten old record before it joins the tail.
        let mut torn = rocks(5, Some(7), b"new");
        torn.extend_from_slice(b"d payload");
        let at = torn.len();
        torn.extend(rocks(5, Some(3), b"old record"));
        assert_eq!(
            parse(&torn, true, ROCKS7)[1],
            Piece::Recycled {
                start: old,
                old: at,
                log_number: 3
            }
        );
        assert_eq!(LogFlavor::rocksdb(7), ROCKS7);
        assert_eq!(
            LogFlavor::rocksdb((5 << 32) | 7),
            ROCKS7,
            "the writer keeps the low 32 bits"
        );
    }

    #[test]
    fn special_records_are_surfaced() {
        let mut b = rocks(9, None, &7u32.to_le_bytes());
        let mut ts = Vec::new();
        ts.extend_from_slice(&0u32.to_le_bytes());
        ts.extend_from_slice(&8u16.to_le_bytes());
        ts.extend_from_slice(&300u32.to_le_bytes());
        ts.extend_from_slice(&16u16.to_le_bytes());
        b.extend(rocks(10, None, &ts));
        b.extend(rocks(11, Some(7), &ts[..6]));
        let mut pred = Vec::new();
        for v in [6u64, 4096, 99] {
            pred.extend_from_slice(&v.to_le_bytes());
        }
        b.extend(rocks(130, None, &pred));
        b.extend(rocks(131, Some(7), &pred));
        b.extend(rocks(200, None, b"skip me"));
        b.extend(rocks(12, None, b"unknown"));
        let out = parse(&b, true, ROCKS7);
        let kinds: Vec<_> = out
            .iter()
            .map(|p| match *p {
                Piece::Special {
                    kind,
                    payload: (s, e),
                    log_number,
                    ..
                } => Some((kind, s, e, log_number)),
                _ => None,
            })
            .collect();
        let (k, s, e, l) = kinds[0].unwrap();
        assert_eq!((k, l), (Special::SetCompression, None));
        assert_eq!(decode_compression_type(&b[s..e]), Some(7));
        let (k, s, e, _) = kinds[1].unwrap();
        assert_eq!(k, Special::TimestampSize);
        assert_eq!(
            decode_timestamp_sizes(&b[s..e]),
            Some(vec![(0, 8), (300, 16)])
        );
        let (k, s, e, l) = kinds[2].unwrap();
        assert_eq!((k, l), (Special::TimestampSize, Some(7)));
        assert_eq!(decode_timestamp_sizes(&b[s..e]), Some(vec![(0, 8)]));
        for (i, l) in [(3, None), (4, Some(7))] {
            let (k, s, e, got) = kinds[i].unwrap();
            assert_eq!((k, got), (Special::PredecessorWal, l));
            assert_eq!(
                decode_predecessor_info(&b[s..e]),
                Some(PredecessorInfo {
                    log_number: 6,
                    size_bytes: 4096,
                    last_sequence: 99
                })
            );
        }
        assert_eq!(kinds[5].unwrap().0, Special::Ignorable(200));
        assert!(matches!(
            out[6],
            Piece::Bad {
                reason: BadReason::UnknownType(12),
                ..
            }
        ));
        assert_eq!(decode_timestamp_sizes(&ts[..7]), None);
        assert_eq!(decode_timestamp_sizes(&[]), Some(vec![]));
        assert_eq!(decode_compression_type(&[1, 2]), None);
        assert_eq!(decode_predecessor_info(&pred[..23]), None);
    }

    #[test]
    fn a_recycling_writer_pads_up_to_ten_bytes() {
        let body = BLOCK_SIZE - 10 - RECYCLABLE_HEADER_SIZE;
        let mut b = rocks(5, Some(7), &vec![1u8; body]);
        b.resize(BLOCK_SIZE, 0);
        let out = parse(&b, false, ROCKS7);
        assert_eq!(out.len(), 1, "{out:?}");
        // LevelDB's writer leaves at most 6 bytes: 10 zeros are a run.
        let mut l = frag(RecordType::Full, &vec![1u8; BLOCK_SIZE - 10 - HEADER_SIZE]);
        l.resize(BLOCK_SIZE, 0);
        assert_eq!(
            parse(&l, false, LogFlavor::LevelDb)[1],
            Piece::Zeros {
                start: BLOCK_SIZE - 10
            }
        );
    }

    #[test]
    fn resync_finds_recyclable_headers() {
        let mut b = vec![0xEEu8; 40];
        let at = b.len();
        b.extend(rocks(5, Some(7), b"found"));
        let out = parse(&b, true, ROCKS7);
        assert!(matches!(out[0], Piece::Bad { end, .. } if end == at));
        assert!(
            matches!(out[1], Piece::Fragment { start, log_number: Some(7), .. } if start == at)
        );
        // An ignorable type is not resynchronised onto.
        let mut g = vec![0xEEu8; 40];
        g.extend(rocks(200, None, b"ignorable"));
        let real = g.len();
        g.extend(rocks(5, Some(7), b"real"));
        let out = parse(&g, true, ROCKS7);
        assert!(matches!(out[0], Piece::Bad { start: 0, end, .. } if end == real));
        assert!(matches!(out[1], Piece::Fragment { start, .. } if start == real));
        // A recyclable record cut by the end of the file.
        let mut cut = rocks(5, Some(7), b"whole");
        cut.extend(rocks(5, Some(7), b"torn record"));
        cut.truncate(cut.len() - 4);
        let out = parse(&cut, true, ROCKS7);
        assert!(matches!(
            out[1],
            Piece::Bad {
                reason: BadReason::CutByEof,
                suspect: Some((RecordType::Full, _, _)),
                ..
            }
        ));
    }

    #[test]
    fn rocks_flavor_never_panics_on_noise_or_truncation() {
        let mut b = rocks(9, None, &7u32.to_le_bytes());
        b.extend(rocks(6, Some(7), b"first"));
        b.extend(rocks(8, Some(7), b"last"));
        b.extend(rocks(131, Some(7), &[0; 24]));
        b.extend(rocks(5, Some(9), b"old"));
        for cut in 0..=b.len() {
            for flavor in [ROCKS7, LogFlavor::RocksDb { log_number: None }] {
                parse(&b[..cut], true, flavor);
                parse(&b[..cut], false, flavor);
            }
        }
        let mut x: u32 = 99;
        let mut n = vec![0u8; BLOCK_SIZE];
        for round in 0..4 {
            for v in n.iter_mut() {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                // Bias towards RocksDB's type bytes so headers get checked.
                *v = match (x >> 8) % 4 {
                    0 => [5, 6, 9, 11, 131, 200][(x >> 20) as usize % 6],
                    _ => (x >> 16) as u8,
                };
            }
            for cut in [0, 6, 7, 10, 11, 12, 5000, BLOCK_SIZE] {
                let out = parse(&n[..cut], round % 2 == 0, ROCKS7);
                for p in out {
                    if let Piece::Bad { start, end, .. } = p {
                        assert!(start < end && end <= cut);
                    }
                }
            }
        }
    }

    /// A batch-like payload: compressible, with some noise.
    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                if i % 7 == 0 {
                    (i * 31 % 251) as u8
                } else {
                    b'a' + (i % 5) as u8
                }
            })
            .collect()
    }

    #[test]
    fn compressed_records_are_one_zstd_frame_each() {
        let raw = sample(3000);
        // With the size in the frame header (the writer's single ZSTD_e_end
        // call declares it) and without (a streamed frame).
        let declared = zstd::bulk::compress(&raw, 3).unwrap();
        let streamed = zstd::stream::encode_all(&raw[..], 3).unwrap();
        for z in [&declared, &streamed] {
            assert_eq!(decompress_record(WAL_ZSTD, z, 1 << 20).unwrap(), raw);
            // Over the cap: refused, whatever the frame declares.
            assert!(matches!(
                decompress_record(WAL_ZSTD, z, 2999),
                Err(RecordCompressionError::Corrupt(
                    CompressError::TooLarge { .. }
                ))
            ));
        }
        assert_eq!(
            decompress_record(WAL_ZSTD, &[], 10).unwrap(),
            Vec::<u8>::new()
        );
        // Another codec named by the compression record: never written.
        let e = decompress_record(1, &declared, 1 << 20).unwrap_err();
        assert_eq!(e, RecordCompressionError::Unsupported(1));
        assert!(e.to_string().contains("only zstd"), "{e}");
        // A garbled frame header, bytes after the frame, a frame cut short.
        let mut bad = declared.clone();
        bad[0] ^= 0xff;
        assert!(decompress_record(WAL_ZSTD, &bad, 1 << 20).is_err());
        let mut trailing = declared.clone();
        trailing.extend_from_slice(b"junk after the frame");
        assert!(decompress_record(WAL_ZSTD, &trailing, 1 << 20).is_err());
        let cut = &streamed[..streamed.len() - 4];
        assert!(decompress_record(WAL_ZSTD, cut, 1 << 20).is_err());
        assert!(decompress_record(WAL_ZSTD, b"not zstd at all", 1 << 20).is_err());
        // As RocksDB writes them: with a content checksum, which catches a
        // change the frame's structure does not (a byte of a raw block).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .unwrap();
        let framed = c.compress(&noise).unwrap();
        assert_eq!(
            decompress_record(WAL_ZSTD, &framed, 1 << 20).unwrap(),
            noise
        );
        let mut changed = framed.clone();
        changed[framed.len() / 2] ^= 1;
        assert!(decompress_record(WAL_ZSTD, &changed, 1 << 20).is_err());
    }

    #[test]
    fn a_cut_frame_yields_the_start_of_its_payload() {
        // Big enough for several zstd blocks (128 KiB each), little
        // redundancy so they stay big.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let raw: Vec<u8> = (0..400_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        let z = zstd::stream::encode_all(&raw[..], 1).unwrap();
        let part = decompress_record_prefix(WAL_ZSTD, &z[..z.len() * 2 / 3], 1 << 20);
        assert!(!part.is_empty() && part.len() < raw.len(), "{}", part.len());
        assert_eq!(part[..], raw[..part.len()]);
        // Bounded by the cap, and nothing from another codec or from noise.
        assert_eq!(decompress_record_prefix(WAL_ZSTD, &z, 1000).len(), 1000);
        assert!(decompress_record_prefix(1, &z, 1 << 20).is_empty());
        assert!(decompress_record_prefix(WAL_ZSTD, b"noise", 1 << 20).is_empty());
    }
}
