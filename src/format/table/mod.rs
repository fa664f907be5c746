//! A LevelDB table file (`.ldb`, `.sst`).
//!
//! ```text
//! block*:    contents (handle.size bytes) ++ trailer
//! trailer:   compression type: u8 ++ masked CRC-32C of (contents ++ type): fixed32
//! ...        data blocks, then the filter block (raw, uncompressed), the
//!            metaindex block ("filter.<policy>" → handle), the index block
//!            (separator internal key → data block handle)
//! footer:    metaindex handle ++ index handle, zero-padded to 40 bytes,
//!            then magic 0xdb4775248b80fb57: fixed64 (48 bytes in all)
//! handle:    offset: varint64 ++ size: varint64 (size excludes the trailer)
//! ```
//!
//! Besides decoding the footer and reading blocks through their handles
//! (here), checking data blocks ([`data`]) and meta blocks ([`meta`]), this
//! module can find blocks without any handle ([`find_blocks`], in [`discover`]): because blocks
//! are written back to back from offset 0, each followed by a checksummed
//! trailer, a block boundary can be recognised from the bytes alone. That is
//! how a table with a lost footer or index is still read in full.

mod crc_algebra;
mod data;
mod discover;
mod meta;
#[cfg(test)]
mod tests;

pub use data::{check_data_block, check_data_block_with, DataBlockError, DataBlockSummary};
pub use discover::{
    find_blocks, find_blocks_capped, find_blocks_ordered, find_blocks_with, Found, FoundKind,
};
pub use meta::{is_filter_block, parse_metaindex};

use super::coding::{decode_varint64, put_varint64, read_fixed32, Cursor, DecodeError};
use super::compress::{self, Codecs, CompressError};
use super::crc;
use std::borrow::Cow;
use std::fmt;

pub const FOOTER_SIZE: usize = 48;
pub const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
pub const TRAILER_SIZE: usize = 5;
/// Two varint64s.
pub const MAX_HANDLE_SIZE: usize = 20;
/// The footer's handles and their zero padding, before the magic.
const HANDLES_SIZE: usize = 40;
/// The sequence number LevelDB gives the separators it shortens.
pub const MAX_SEQUENCE: u64 = (1 << 56) - 1;
/// The largest block [`find_blocks`] looks for by default. LevelDB cuts
/// blocks at ~4 KiB (the `block_size` option), so only a block holding one
/// huge value is bigger; 4 MiB covers those while bounding the work a damaged
/// start costs.
pub const DEFAULT_WINDOW: usize = 4 << 20;
/// The largest block the resynchronising search after damage looks for
/// directly; its memory grows with this (one hash entry per byte, ~1 MiB at
/// 64 KiB, small enough to stay in cache). Larger blocks right after damage
/// are still found by walking back from the next block boundary, up to the
/// full window.
pub const RESYNC_WINDOW: usize = 64 << 10;

/// Where a block lives: its contents, not counting the trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    pub fn decode(c: &mut Cursor<'_>) -> Result<BlockHandle, DecodeError> {
        let offset = c.varint64()?;
        let size = c.varint64()?;
        Ok(BlockHandle { offset, size })
    }

    /// A handle that fills `bytes` exactly (how index and metaindex values are
    /// stored), or `None`.
    pub fn decode_exact(bytes: &[u8]) -> Option<BlockHandle> {
        let (offset, n) = decode_varint64(bytes).ok()?;
        let (size, m) = decode_varint64(bytes.get(n..)?).ok()?;
        (n.checked_add(m) == Some(bytes.len())).then_some(BlockHandle { offset, size })
    }

    pub fn encode_to(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.offset);
        put_varint64(out, self.size);
    }

    /// End of the block's trailer, if it fits in a u64.
    pub fn end(&self) -> Option<u64> {
        self.offset
            .checked_add(self.size)?
            .checked_add(TRAILER_SIZE as u64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub metaindex: BlockHandle,
    pub index: BlockHandle,
    /// LevelDB zero-fills the gap before the magic; anything else there means
    /// the footer's bytes were altered even if the handles still decode.
    pub padding_clean: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// Shorter than a footer.
    TooShort {
        len: usize,
    },
    BadMagic {
        found: u64,
    },
    BadHandle {
        which: &'static str,
        cause: DecodeError,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::TooShort { len } => {
                write!(f, "{len} bytes is shorter than a {FOOTER_SIZE}-byte footer")
            }
            TableError::BadMagic { found } => {
                write!(f, "footer magic is {found:#018x}, not {MAGIC:#018x}")
            }
            TableError::BadHandle { which, cause } => {
                write!(f, "footer's {which} handle is malformed ({cause})")
            }
        }
    }
}

impl std::error::Error for TableError {}

impl Footer {
    /// Decode the footer from the last 48 bytes of `file` (the whole file or
    /// just its tail).
    pub fn decode(file: &[u8]) -> Result<Footer, TableError> {
        let start = file
            .len()
            .checked_sub(FOOTER_SIZE)
            .ok_or(TableError::TooShort { len: file.len() })?;
        let too_short = TableError::TooShort { len: file.len() };
        let (handles, magic) = file
            .get(start..)
            .and_then(|tail| Some((tail.get(..HANDLES_SIZE)?, tail.get(HANDLES_SIZE..)?)))
            .ok_or(too_short)?;
        let found = u64::from_le_bytes(<[u8; 8]>::try_from(magic).map_err(|_| too_short)?);
        if found != MAGIC {
            return Err(TableError::BadMagic { found });
        }
        let mut c = Cursor::new(handles);
        let metaindex = BlockHandle::decode(&mut c).map_err(|cause| TableError::BadHandle {
            which: "metaindex",
            cause,
        })?;
        let index = BlockHandle::decode(&mut c).map_err(|cause| TableError::BadHandle {
            which: "index",
            cause,
        })?;
        let padding_clean = c.rest().iter().all(|&b| b == 0);
        Ok(Footer {
            metaindex,
            index,
            padding_clean,
        })
    }

    pub fn encode(&self) -> [u8; FOOTER_SIZE] {
        let mut v = Vec::with_capacity(FOOTER_SIZE);
        self.metaindex.encode_to(&mut v);
        self.index.encode_to(&mut v);
        // Two handles take at most 2 × MAX_HANDLE_SIZE = HANDLES_SIZE bytes.
        v.resize(HANDLES_SIZE, 0);
        v.extend_from_slice(&MAGIC.to_le_bytes());
        let mut out = [0u8; FOOTER_SIZE];
        for (o, b) in out.iter_mut().zip(&v) {
            *o = *b;
        }
        out
    }
}

/// Whether the file ends in something that was a footer: at least 5 of the
/// magic's 8 bytes in place. A damaged footer (garbled) then differs from a
/// footer that was never written (torn).
pub fn footer_like(file: &[u8]) -> bool {
    let Some(start) = file.len().checked_sub(8) else {
        return false;
    };
    let same = file
        .get(start..)
        .unwrap_or_default()
        .iter()
        .zip(MAGIC.to_le_bytes())
        .filter(|(a, b)| **a == *b)
        .count();
    file.len() >= FOOTER_SIZE && same >= 5
}

/// A verified, decompressed block.
#[derive(Debug, Clone)]
pub struct BlockContents<'a> {
    /// Borrowed from the file when stored uncompressed.
    pub data: Cow<'a, [u8]>,
    pub compression: u8,
}

/// Why a block could not be read.
#[derive(Debug, Clone)]
pub enum BlockFault<'a> {
    /// The block or its trailer runs past the end of the file.
    Torn { end: Option<u64>, file_len: u64 },
    /// The trailer's checksum does not match. `salvage` holds the contents
    /// decompressed anyway, if they would decompress: unverified bytes.
    ChecksumMismatch {
        stored: u32,
        computed: u32,
        salvage: Option<Cow<'a, [u8]>>,
    },
    /// The checksum matched but the contents do not decompress.
    Decompress(CompressError),
}

impl BlockFault<'_> {
    /// Whether the block's bytes stop at the end of the file: it was cut
    /// short, as opposed to present and wrong.
    pub fn runs_past_end(&self) -> bool {
        matches!(self, BlockFault::Torn { .. })
    }
}

impl fmt::Display for BlockFault<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockFault::Torn {
                end: Some(end),
                file_len,
            } => write!(
                f,
                "block runs to offset {end}, past the end of the file ({file_len} bytes)"
            ),
            BlockFault::Torn { end: None, .. } => {
                write!(f, "block handle runs past any possible file end")
            }
            BlockFault::ChecksumMismatch {
                stored, computed, ..
            } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            BlockFault::Decompress(e) => write!(f, "{e}"),
        }
    }
}

/// The block's stored bytes, its type byte and its stored (masked)
/// checksum, or `None` when the block or its trailer runs past the end of
/// `file`.
fn locate(file: &[u8], h: BlockHandle) -> Option<(&[u8], u8, u32)> {
    let start = usize::try_from(h.offset).ok()?;
    let end = start.checked_add(usize::try_from(h.size).ok()?)?;
    let raw = file.get(start..end)?;
    let trailer = file.get(end..end.checked_add(TRAILER_SIZE)?)?;
    let (&kind, sum) = trailer.split_first()?;
    Some((raw, kind, read_fixed32(sum, 0)?))
}

/// The most bytes reading the block at `h` can hold decompressed (see
/// [`compress::max_output`]); 0 for a block that cannot be located.
pub fn decompressed_bound(file: &[u8], h: BlockHandle, cap: usize) -> u64 {
    decompressed_bound_with(file, h, cap, Codecs::default())
}

/// [`decompressed_bound`] under the store's [`Codecs`].
pub fn decompressed_bound_with(file: &[u8], h: BlockHandle, cap: usize, codecs: Codecs) -> u64 {
    locate(file, h).map_or(0, |(raw, kind, _)| {
        u64::try_from(compress::max_output_with(kind, raw, cap, codecs)).unwrap_or(u64::MAX)
    })
}

/// Read, verify and decompress the block at `h`, producing at most `cap`
/// bytes.
pub fn read_block(
    file: &[u8],
    h: BlockHandle,
    cap: usize,
) -> Result<BlockContents<'_>, BlockFault<'_>> {
    read_block_with(file, h, cap, Codecs::default())
}

/// [`read_block`] under the store's [`Codecs`] (Basho's type 2 is LZ4).
pub fn read_block_with(
    file: &[u8],
    h: BlockHandle,
    cap: usize,
    codecs: Codecs,
) -> Result<BlockContents<'_>, BlockFault<'_>> {
    let file_len = file.len() as u64;
    let torn = BlockFault::Torn {
        end: h.end(),
        file_len,
    };
    let (raw, kind, stored) = locate(file, h).ok_or(torn)?;
    let computed = crc::extend(crc::value(raw), &[kind]);
    if crc::mask(computed) != stored {
        return Err(BlockFault::ChecksumMismatch {
            stored: crc::unmask(stored),
            computed,
            salvage: compress::decompress_with(kind, raw, cap, codecs).ok(),
        });
    }
    compress::decompress_with(kind, raw, cap, codecs)
        .map(|data| BlockContents {
            data,
            compression: kind,
        })
        .map_err(BlockFault::Decompress)
}

/// [`read_block`] decompressing into a reused buffer, for callers that only
/// verify the block and let its contents go. A block that fails its checksum
/// takes [`read_block`]'s path, so its fault (and salvage) is the same.
pub fn read_block_into<'a>(
    file: &'a [u8],
    h: BlockHandle,
    cap: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], BlockFault<'a>> {
    read_block_into_with(file, h, cap, scratch, Codecs::default())
}

/// [`read_block_into`] under the store's [`Codecs`].
pub fn read_block_into_with<'a>(
    file: &'a [u8],
    h: BlockHandle,
    cap: usize,
    scratch: &'a mut Vec<u8>,
    codecs: Codecs,
) -> Result<&'a [u8], BlockFault<'a>> {
    if let Some((raw, kind, stored)) = locate(file, h) {
        if stored == crc::mask(crc::extend(crc::value(raw), &[kind])) {
            return compress::decompress_into_with(kind, raw, cap, scratch, codecs)
                .map_err(BlockFault::Decompress);
        }
    }
    match read_block_with(file, h, cap, codecs) {
        Err(fault) => Err(fault),
        // Not reached (the checks above are read_block's), but stay correct.
        Ok(b) => {
            *scratch = b.data.into_owned();
            Ok(scratch)
        }
    }
}
