//! RocksDB block-based tables (`.sst`): footer, block trailers and their
//! checksums, as RocksDB's `table/format.{h,cc}` and
//! `table/block_based/reader_common.cc` write and check them.
//!
//! ```text
//! file:    data block* | meta blocks (filter, range_del, properties, ...) |
//!          metaindex block | [index block(s)] | footer
//! block:   contents | type: u8 (compression id) | checksum: fixed32
//!
//! footer, format_version 0 (legacy, LevelDB's layout; 48 bytes):
//!   metaindex: BlockHandle | index: BlockHandle | zero pad to 40 | magic: fixed64
//!   (legacy magic 0xdb4775248b80fb57; checksum type implied CRC-32C)
//! footer, format_version 1..=5 (53 bytes):
//!   checksum_type: u8 | metaindex: BlockHandle | index: BlockHandle |
//!   zero pad to 41 | format_version: fixed32 | magic: fixed64 (0x88e241b785f4cff7)
//! footer, format_version >= 6 (53 bytes):
//!   checksum_type: u8 | extended magic 3e 00 7a 00 | footer checksum: fixed32 |
//!   base_context_checksum: fixed32 | metaindex_size: fixed32 |
//!   16 unchecked reserved bytes | 8 zero bytes | format_version: fixed32 | magic
//!   The metaindex block ends where the footer starts (less its trailer);
//!   the index handle is the metaindex entry "rocksdb.index".
//! ```
//! A BlockHandle is varint64 offset, varint64 size (size excludes the 5-byte
//! trailer). The trailer checksum covers contents and the type byte:
//! CRC-32C masked as LevelDB masks it, XXH32 (seed 0), the low 32 bits of
//! XXH64 (seed 0), or XXH3-64 of all but the last byte, whose low 32 bits
//! are XORed with `last_byte * 0x6b9083d9` (`ComputeBuiltinChecksum`).
//! From format_version 6 each stored checksum (blocks and footer) has
//! `base_context_checksum ^ (lo32(offset) + hi32(offset))` added, the offset
//! being where the block (or footer) starts (`ChecksumModifierForContext`).
//!
//! Blocks, indexes, properties and the top-level walk are in [`blocks`] and
//! [`walk`]; compression ids in [`codec`]; internal keys in [`ikey`].

pub mod blocks;
pub mod codec;
pub mod discover;
pub mod ikey;
pub mod walk;

#[cfg(test)]
mod tests;

use super::coding::Cursor;
pub use super::table::BlockHandle;
use std::fmt;

/// `kBlockBasedTableMagicNumber`.
pub const MAGIC: u64 = 0x88e2_41b7_85f4_cff7;
/// The block-based magic before format_version existed (LevelDB's own).
pub const LEGACY_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
pub const LEGACY_FOOTER_SIZE: usize = 48;
/// `Footer::kNewVersionsEncodedLength`.
pub const FOOTER_SIZE: usize = 53;
pub const TRAILER_SIZE: usize = 5;
/// The newest format_version RocksDB writes (`kLatestBbtFormatVersion`).
pub const LATEST_FORMAT_VERSION: u32 = 7;
const EXTENDED_MAGIC: [u8; 4] = [0x3e, 0x00, 0x7a, 0x00];
/// Bytes of the two handles' room in the footer (`2 * kMaxEncodedLength`).
const HANDLES_ROOM: usize = 40;
const XXH3_LAST_BYTE_PRIME: u32 = 0x6b90_83d9;

/// `ChecksumType` of `include/rocksdb/table.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumType {
    None,
    Crc32c,
    XxHash32,
    XxHash64,
    Xxh3,
}

impl ChecksumType {
    pub fn from_byte(b: u8) -> Option<ChecksumType> {
        Some(match b {
            0 => ChecksumType::None,
            1 => ChecksumType::Crc32c,
            2 => ChecksumType::XxHash32,
            3 => ChecksumType::XxHash64,
            4 => ChecksumType::Xxh3,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::None => "none",
            ChecksumType::Crc32c => "crc32c",
            ChecksumType::XxHash32 => "xxhash",
            ChecksumType::XxHash64 => "xxhash64",
            ChecksumType::Xxh3 => "xxh3",
        }
    }

    /// `ComputeBuiltinChecksum` over `data` (block contents and type byte).
    pub fn compute(self, data: &[u8]) -> u32 {
        match self {
            ChecksumType::None => 0,
            ChecksumType::Crc32c => super::crc::mask(super::crc::value(data)),
            ChecksumType::XxHash32 => xxhash_rust::xxh32::xxh32(data, 0),
            ChecksumType::XxHash64 => lower32(xxhash_rust::xxh64::xxh64(data, 0)),
            ChecksumType::Xxh3 => match data.split_last() {
                // RocksDB's own value for empty input.
                None => 0,
                Some((&last, head)) => {
                    lower32(xxhash_rust::xxh3::xxh3_64(head))
                        ^ u32::from(last).wrapping_mul(XXH3_LAST_BYTE_PRIME)
                }
            },
        }
    }
}

fn lower32(v: u64) -> u32 {
    (v & 0xffff_ffff) as u32
}

/// `ChecksumModifierForContext`: zero when `base` is zero (before v6).
pub fn context_modifier(base: u32, offset: u64) -> u32 {
    if base == 0 {
        return 0;
    }
    base ^ lower32(offset).wrapping_add(lower32(offset >> 32))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub format_version: u32,
    pub checksum: ChecksumType,
    pub metaindex: BlockHandle,
    /// From the footer before format_version 6; from the metaindex after.
    pub index: Option<BlockHandle>,
    /// Non-zero from format_version 6 when blocks carry checksums.
    pub base_context_checksum: u32,
    /// Where the footer starts in the file.
    pub offset: usize,
    /// Legacy (48-byte, LevelDB-magic) footer.
    pub legacy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FooterError {
    TooShort {
        len: usize,
    },
    BadMagic(u64),
    UnsupportedFormatVersion(u32),
    UnknownChecksumType(u8),
    BadHandle,
    BadExtendedMagic([u8; 4]),
    /// A v6 footer whose base context checksum is zero although blocks
    /// carry checksums (RocksDB refuses it).
    BadBaseContext,
    ChecksumMismatch {
        stored: u32,
        computed: u32,
    },
    /// The 8 checked reserved bytes of a v6 footer are not zero: a feature
    /// newer than this reader.
    FutureFeature,
    /// The v6 metaindex size puts its start before the file's.
    MetaindexOutOfRange,
}

impl fmt::Display for FooterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FooterError::TooShort { len } => write!(f, "{len} bytes is too short for a footer"),
            FooterError::BadMagic(m) => write!(f, "not a block-based table magic: {m:#018x}"),
            FooterError::UnsupportedFormatVersion(v) => {
                write!(f, "unknown format_version {v}")
            }
            FooterError::UnknownChecksumType(t) => write!(f, "unknown checksum type {t}"),
            FooterError::BadHandle => f.write_str("malformed block handle in footer"),
            FooterError::BadExtendedMagic(m) => write!(f, "bad extended magic {m:02x?}"),
            FooterError::BadBaseContext => f.write_str("zero base context checksum"),
            FooterError::ChecksumMismatch { stored, computed } => write!(
                f,
                "footer checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            FooterError::FutureFeature => f.write_str("footer uses a future feature"),
            FooterError::MetaindexOutOfRange => f.write_str("metaindex size exceeds the file"),
        }
    }
}

impl std::error::Error for FooterError {}

impl Footer {
    /// Decode the footer at the end of `file` (the whole table).
    pub fn decode(file: &[u8]) -> Result<Footer, FooterError> {
        let len = file.len();
        let (_, magic) = file
            .split_last_chunk::<8>()
            .filter(|_| len >= LEGACY_FOOTER_SIZE)
            .ok_or(FooterError::TooShort { len })?;
        match u64::from_le_bytes(*magic) {
            LEGACY_MAGIC => Footer::decode_legacy(file),
            MAGIC => Footer::decode_new(file),
            m => Err(FooterError::BadMagic(m)),
        }
    }

    fn decode_legacy(file: &[u8]) -> Result<Footer, FooterError> {
        let offset = file.len().saturating_sub(LEGACY_FOOTER_SIZE);
        let bytes = file
            .get(offset..)
            .ok_or(FooterError::TooShort { len: file.len() })?;
        let mut c = Cursor::new(bytes);
        let metaindex = BlockHandle::decode(&mut c).map_err(|_| FooterError::BadHandle)?;
        let index = BlockHandle::decode(&mut c).map_err(|_| FooterError::BadHandle)?;
        if c.position() > HANDLES_ROOM {
            return Err(FooterError::BadHandle);
        }
        Ok(Footer {
            format_version: 0,
            checksum: ChecksumType::Crc32c,
            metaindex,
            index: Some(index),
            base_context_checksum: 0,
            offset,
            legacy: true,
        })
    }

    fn decode_new(file: &[u8]) -> Result<Footer, FooterError> {
        let len = file.len();
        let offset = len
            .checked_sub(FOOTER_SIZE)
            .ok_or(FooterError::TooShort { len })?;
        let bytes = file.get(offset..).ok_or(FooterError::TooShort { len })?;
        let mut c = Cursor::new(bytes);
        let short = |_| FooterError::TooShort { len };
        let type_byte = c.u8().map_err(short)?;
        let part2 = c.bytes(HANDLES_ROOM).map_err(short)?;
        let format_version = c.fixed32().map_err(short)?;
        if format_version == 0 || format_version > LATEST_FORMAT_VERSION {
            return Err(FooterError::UnsupportedFormatVersion(format_version));
        }
        let checksum = ChecksumType::from_byte(type_byte)
            .ok_or(FooterError::UnknownChecksumType(type_byte))?;
        if format_version < 6 {
            let mut p = Cursor::new(part2);
            let metaindex = BlockHandle::decode(&mut p).map_err(|_| FooterError::BadHandle)?;
            let index = BlockHandle::decode(&mut p).map_err(|_| FooterError::BadHandle)?;
            return Ok(Footer {
                format_version,
                checksum,
                metaindex,
                index: Some(index),
                base_context_checksum: 0,
                offset,
                legacy: false,
            });
        }
        let mut p = Cursor::new(part2);
        let ext = p.bytes(4).map_err(short)?;
        if ext != EXTENDED_MAGIC {
            let m = <[u8; 4]>::try_from(ext).map_err(|_| FooterError::TooShort { len })?;
            return Err(FooterError::BadExtendedMagic(m));
        }
        let stored = p.fixed32().map_err(short)?;
        let base = p.fixed32().map_err(short)?;
        let metaindex_size = p.fixed32().map_err(short)?;
        p.bytes(16).map_err(short)?;
        let reserved = p.fixed64().map_err(short)?;
        let footer_offset = u64::try_from(offset).map_err(|_| FooterError::TooShort { len })?;
        if checksum != ChecksumType::None {
            if base == 0 {
                return Err(FooterError::BadBaseContext);
            }
            let mut copy =
                <[u8; FOOTER_SIZE]>::try_from(bytes).map_err(|_| FooterError::TooShort { len })?;
            if let Some(slot) = copy.get_mut(5..9) {
                slot.fill(0);
            }
            let computed = checksum
                .compute(&copy)
                .wrapping_add(context_modifier(base, footer_offset));
            if computed != stored {
                return Err(FooterError::ChecksumMismatch { stored, computed });
            }
        }
        if reserved != 0 {
            return Err(FooterError::FutureFeature);
        }
        // Tables without checksums still carry the 5-byte trailer.
        let trailer = TRAILER_SIZE as u64;
        let metaindex_end = footer_offset
            .checked_sub(trailer)
            .ok_or(FooterError::MetaindexOutOfRange)?;
        let metaindex_offset = metaindex_end
            .checked_sub(u64::from(metaindex_size))
            .ok_or(FooterError::MetaindexOutOfRange)?;
        Ok(Footer {
            format_version,
            checksum,
            metaindex: BlockHandle {
                offset: metaindex_offset,
                size: u64::from(metaindex_size),
            },
            index: None,
            base_context_checksum: base,
            offset,
            legacy: false,
        })
    }

    /// Whether a trailer's type byte is followed by a context-modified
    /// checksum.
    pub fn uses_context(&self) -> bool {
        self.base_context_checksum != 0
    }
}

/// Why a block's trailer did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerError {
    /// Handle plus trailer runs past the bytes given.
    OutOfRange,
    /// Stored (context removed) and computed checksums differ.
    Mismatch { stored: u32, computed: u32 },
}

impl fmt::Display for TrailerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrailerError::OutOfRange => f.write_str("block runs past the end of the file"),
            TrailerError::Mismatch { stored, computed } => write!(
                f,
                "block checksum mismatch: stored {stored:#010x} (context removed), computed {computed:#010x}"
            ),
        }
    }
}

/// The contents and compression id of the block at `h`, after checking its
/// trailer with `checksum` (and, when `base_context` is non-zero, the v6
/// per-offset modifier) as `VerifyBlockChecksum` does.
pub fn verify_block(
    file: &[u8],
    h: BlockHandle,
    checksum: ChecksumType,
    base_context: u32,
) -> Result<(&[u8], u8), TrailerError> {
    let span = super::coding::Span::from_u64(
        h.offset,
        h.size
            .checked_add(TRAILER_SIZE as u64)
            .ok_or(TrailerError::OutOfRange)?,
        file.len(),
    )
    .map_err(|_| TrailerError::OutOfRange)?;
    let whole = span.of(file).map_err(|_| TrailerError::OutOfRange)?;
    verify_trailer(whole, h.offset, checksum, base_context)
}

/// [`verify_block`] of a block read on its own: `whole` is its contents
/// and trailer, `offset` where it lies in its file (the v6 modifier's).
pub fn verify_trailer(
    whole: &[u8],
    offset: u64,
    checksum: ChecksumType,
    base_context: u32,
) -> Result<(&[u8], u8), TrailerError> {
    let (covered, stored): (&[u8], &[u8; 4]) = whole
        .split_last_chunk::<4>()
        .ok_or(TrailerError::OutOfRange)?;
    let (&kind, contents) = covered.split_last().ok_or(TrailerError::OutOfRange)?;
    if checksum != ChecksumType::None {
        let stored =
            u32::from_le_bytes(*stored).wrapping_sub(context_modifier(base_context, offset));
        let computed = checksum.compute(covered);
        if stored != computed {
            return Err(TrailerError::Mismatch { stored, computed });
        }
    }
    Ok((contents, kind))
}
