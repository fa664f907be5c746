//! Finding the blocks of a RocksDB table whose footer or index is lost, by
//! their trailers alone (the layout of `table/format.cc`: contents |
//! compression id | checksum of both).
//!
//! Blocks follow one another from offset 0 with nothing between them, so
//! from a known block start every later byte is a candidate end: the one
//! whose next byte is a compression id and whose next four bytes are the
//! checksum of everything since the start (with the v6 context modifier of
//! that start) ends the block, and the next block starts after its trailer.
//! Where no end verifies within `window` bytes, the search moves one byte on.
//! The checksum is hashed incrementally, so a start costs one pass over at
//! most `window` bytes. Tables without checksums cannot be searched this way.

use super::blocks;
use super::codec;
use super::walk::{data_entries, read_block, DataBlock, Reading};
use super::{context_modifier, BlockHandle, ChecksumType, TRAILER_SIZE};

enum Running {
    Crc(u32),
    X32(xxhash_rust::xxh32::Xxh32),
    X64(xxhash_rust::xxh64::Xxh64),
    X3(Box<xxhash_rust::xxh3::Xxh3Default>),
}

impl Running {
    fn new(t: ChecksumType) -> Option<Running> {
        Some(match t {
            ChecksumType::None => return None,
            ChecksumType::Crc32c => Running::Crc(0),
            ChecksumType::XxHash32 => Running::X32(xxhash_rust::xxh32::Xxh32::new(0)),
            ChecksumType::XxHash64 => Running::X64(xxhash_rust::xxh64::Xxh64::new(0)),
            ChecksumType::Xxh3 => Running::X3(Box::default()),
        })
    }

    /// Take in byte `b` and return the checksum of everything taken so far,
    /// as `ComputeBuiltinChecksum` gives it.
    fn push(&mut self, b: u8) -> u32 {
        match self {
            Running::Crc(c) => {
                *c = super::super::crc::extend(*c, &[b]);
                super::super::crc::mask(*c)
            }
            Running::X32(h) => {
                h.update(&[b]);
                h.digest()
            }
            Running::X64(h) => {
                h.update(&[b]);
                (h.digest() & 0xffff_ffff) as u32
            }
            Running::X3(h) => {
                // XXH3 of all but the last byte, which is mixed in apart.
                let v = (h.digest() & 0xffff_ffff) as u32;
                h.update(&[b]);
                v ^ u32::from(b).wrapping_mul(super::XXH3_LAST_BYTE_PRIME)
            }
        }
    }
}

fn is_codec(b: u8) -> bool {
    matches!(b, 0..=7 | codec::ZSTD_NOT_FINAL)
}

/// The first block starting at `start` whose trailer verifies within
/// `window` bytes.
pub fn block_at(file: &[u8], start: usize, r: Reading, window: usize) -> Option<BlockHandle> {
    let mut h = Running::new(r.checksum)?;
    let offset = u64::try_from(start).ok()?;
    let modifier = context_modifier(r.base_context_checksum, offset);
    let rest = file.get(start..)?;
    for (i, &b) in rest.iter().enumerate().take(window) {
        let sum = h.push(b);
        if !is_codec(b) {
            continue;
        }
        let stored = rest
            .get(i.saturating_add(1)..i.saturating_add(TRAILER_SIZE))
            .and_then(|s| <[u8; 4]>::try_from(s).ok())?;
        if u32::from_le_bytes(stored).wrapping_sub(modifier) == sum {
            return Some(BlockHandle {
                offset,
                size: u64::try_from(i).ok()?,
            });
        }
    }
    None
}

/// What [`discover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Verified blocks that decode as data blocks (every key an internal key
    /// of a value type a data block holds).
    pub data: Vec<DataBlock>,
    /// Verified blocks that are something else (index, meta, filter, ...).
    pub other: Vec<BlockHandle>,
    /// Byte ranges where no block was found.
    pub gaps: Vec<(u64, u64)>,
}

/// Walk `file` from offset 0 block by block, trailers only.
pub fn discover(file: &[u8], r: Reading, window: usize) -> Discovered {
    let mut d = Discovered::default();
    if r.checksum == ChecksumType::None {
        return d;
    }
    let mut s = 0usize;
    let mut gap_start: Option<usize> = None;
    while s < file.len() {
        let Some(h) = block_at(file, s, r, window) else {
            gap_start.get_or_insert(s);
            s = s.saturating_add(1);
            continue;
        };
        if let Some(g) = gap_start.take() {
            d.gaps.push((g as u64, s as u64));
        }
        let mut entries = Vec::new();
        let is_data = read_block(file, h, r)
            .ok()
            .filter(|b| blocks::layout(b).is_ok())
            .is_some_and(|b| data_entries(&b, &mut entries).is_ok())
            && !entries.is_empty()
            && entries.iter().all(|e| {
                super::ikey::type_name(e.kind).is_some() && e.kind != super::ikey::RANGE_DELETION
            });
        if is_data {
            d.data.push(DataBlock {
                handle: h,
                entries,
                fault: None,
            });
        } else {
            d.other.push(h);
        }
        let next = usize::try_from(h.size)
            .ok()
            .and_then(|n| n.checked_add(TRAILER_SIZE))
            .and_then(|n| s.checked_add(n));
        match next {
            Some(n) => s = n,
            None => break,
        }
    }
    if let Some(g) = gap_start {
        d.gaps.push((g as u64, file.len() as u64));
    }
    // An index block before format_version 4 is itself a valid data block
    // (internal-key separators, handles for values): it is told by every
    // value being the handle of another block found.
    let found: std::collections::HashSet<BlockHandle> = d
        .data
        .iter()
        .map(|b| b.handle)
        .chain(d.other.iter().copied())
        .collect();
    let (index, data): (Vec<_>, Vec<_>) = std::mem::take(&mut d.data).into_iter().partition(|b| {
        b.entries
            .iter()
            .all(|e| BlockHandle::decode_exact(&e.value).is_some_and(|h| found.contains(&h)))
    });
    d.data = data;
    d.other.extend(index.into_iter().map(|b| b.handle));
    d.other.sort();
    d
}
