//! Finding the blocks of a RocksDB table whose footer or index is lost, by
//! their trailers alone (the layout of `table/format.cc`: contents |
//! compression id | checksum of both).
//!
//! ```text
//! block [s, e) with trailer at e is recognised when
//!   file[e] is a compression id and
//!   fixed32(file[e+1..e+5]) - context(s) == checksum(file[s..e] ++ file[e])
//! ```
//!
//! Blocks follow one another from offset 0 with nothing between them, so
//! from a known block start every later position whose byte is a compression
//! id is a candidate end; the checksum is fed the bytes between candidates
//! and read out only at candidates, so one start costs one pass over at most
//! a window of bytes. Once a search fails, no start is known: every later
//! offset is tried in turn. RocksDB's checksums other than CRC-32C have no
//! algebra that would let one pass test every start at once (as LevelDB's
//! discovery does), so that resync is bounded instead:
//! - a start whose next two bytes are zero is skipped: every block RocksDB
//!   writes that holds keys opens with an entry whose shared length is 0 and
//!   whose key length is not, or with the non-zero decompressed length of a
//!   compressed block;
//! - inside damage each start searches a window of four times the largest
//!   block verified so far (at least 64 KiB, at most the caller's window);
//! - failed searches may cost 8× the file plus two windows plus 256 MiB
//!   in all (a few tenths of a second of hashing), and
//!   decoding checksum-valid candidates 4× the file plus four windows.
//!   Past that the search stops; the rest of the file is one gap and
//!   [`Discovered::stopped_at`] says where.
//!
//! From format_version 6 every checksum also carries a random per-file base
//! (`block_based_table_builder.cc`) kept only in the footer; with the footer
//! lost it is solved from the first block, at offset 0, where the base is
//! the whole modifier ([`solve_base_context`]).
//!
//! Tables without checksums cannot be searched this way.

use super::blocks;
use super::codec;
use super::walk::{data_entries, read_block, DataBlock, Reading};
use super::{context_modifier, BlockHandle, ChecksumType, TRAILER_SIZE};

/// The smallest window a start inside damage searches.
const MIN_GAP_WINDOW: usize = 64 << 10;
/// Search work every table may spend whatever its size: a small table's
/// torn last block costs its length squared over two, more than 8x a
/// table of a few blocks.
const SEARCH_ALLOWANCE: usize = 256 << 20;

/// A checksum fed a byte range at a time and read out at candidate ends.
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

    fn feed(&mut self, bytes: &[u8]) {
        match self {
            Running::Crc(c) => *c = super::super::crc::extend(*c, bytes),
            Running::X32(h) => h.update(bytes),
            Running::X64(h) => h.update(bytes),
            Running::X3(h) => h.update(bytes),
        }
    }

    /// The checksum, as `ComputeBuiltinChecksum` gives it, of everything fed
    /// followed by the compression id `last`, which the caller has not fed.
    fn with_last(&mut self, last: u8) -> u32 {
        match self {
            Running::Crc(c) => super::super::crc::mask(super::super::crc::extend(*c, &[last])),
            Running::X32(h) => {
                let mut h = h.clone();
                h.update(&[last]);
                h.digest()
            }
            Running::X64(h) => {
                let mut h = h.clone();
                h.update(&[last]);
                (h.digest() & 0xffff_ffff) as u32
            }
            // XXH3 of all but the last byte, which is mixed in apart.
            Running::X3(h) => {
                (h.digest() & 0xffff_ffff) as u32
                    ^ u32::from(last).wrapping_mul(super::XXH3_LAST_BYTE_PRIME)
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
    let mut fed = 0usize;
    for (i, &b) in rest.iter().enumerate().take(window) {
        if !is_codec(b) {
            continue;
        }
        let Some(stored) = rest
            .get(i.saturating_add(1)..i.saturating_add(TRAILER_SIZE))
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
        else {
            break;
        };
        h.feed(rest.get(fed..i)?);
        fed = i;
        if u32::from_le_bytes(stored).wrapping_sub(modifier) == h.with_last(b) {
            return Some(BlockHandle {
                offset,
                size: u64::try_from(i).ok()?,
            });
        }
    }
    None
}

/// Whether `contents` decode as a data block RocksDB writes: entries of
/// internal keys of a type a data block holds, at least one.
fn decodes_as_data(contents: &[u8], entries: &mut Vec<super::walk::Entry>) -> bool {
    blocks::layout(contents).is_ok()
        && data_entries(contents, entries).is_ok()
        && !entries.is_empty()
        && entries.iter().all(|e| {
            super::ikey::type_name(e.kind).is_some() && e.kind != super::ikey::RANGE_DELETION
        })
}

/// The `base_context_checksum` of a format_version 6+ table whose footer
/// (which held it) is lost, solved from its first block.
///
/// A block's stored checksum is its plain checksum plus
/// `base ^ (lower32(offset) + upper32(offset))` (`table/format.h`
/// ChecksumModifierForContext), and every table's first data block starts at
/// offset 0, where the modifier is `base` itself. So each candidate end of
/// the first block gives one base: stored minus the plain checksum. A
/// candidate is taken only when the first block then decodes as a data block
/// and the block after its trailer verifies under that base (a second,
/// independent 32-bit match at another offset). RocksDB never writes a zero
/// base at format_version 6 (`block_based_table_builder.cc` draws again), and
/// zero means no context: such candidates are skipped. Decoding and the
/// confirming searches are bounded together: 4x the window plus 1 MiB.
pub fn solve_base_context(
    file: &[u8],
    checksum: ChecksumType,
    window: usize,
    cap: usize,
) -> Option<u32> {
    let mut h = Running::new(checksum)?;
    let mut decode_budget = window
        .saturating_mul(4)
        .saturating_add(MIN_GAP_WINDOW.saturating_mul(16));
    let mut fed = 0usize;
    for (i, &b) in file.iter().enumerate().take(window) {
        if !is_codec(b) || i == 0 {
            continue;
        }
        let stored = file
            .get(i.saturating_add(1)..i.saturating_add(TRAILER_SIZE))
            .and_then(|s| <[u8; 4]>::try_from(s).ok())?;
        h.feed(file.get(fed..i)?);
        fed = i;
        let base = u32::from_le_bytes(stored).wrapping_sub(h.with_last(b));
        if base == 0 {
            continue;
        }
        let r = Reading {
            checksum,
            base_context_checksum: base,
            format_version: 6,
            cap,
        };
        let first = BlockHandle {
            offset: 0,
            size: u64::try_from(i).ok()?,
        };
        decode_budget = decode_budget.checked_sub(i)?;
        let Ok(block) = read_block(file, first, r) else {
            continue;
        };
        decode_budget = decode_budget.checked_sub(block.len())?;
        if !decodes_as_data(&block, &mut Vec::new()) {
            continue;
        }
        let next = i.checked_add(TRAILER_SIZE)?;
        // Forged prefixes could all decode: each confirmation is charged.
        decode_budget = decode_budget.checked_sub(window.min(file.len().saturating_sub(next)))?;
        if block_at(file, next, r, window).is_some() {
            return Some(base);
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
    /// Where the search gave up because its work bound was spent: no block
    /// was looked for from here on (the last gap starts here or before).
    pub stopped_at: Option<u64>,
}

/// Walk `file` from offset 0 block by block, trailers only.
pub fn discover(file: &[u8], r: Reading, window: usize) -> Discovered {
    let mut d = Discovered::default();
    if r.checksum == ChecksumType::None {
        return d;
    }
    let window = window.max(1);
    let mut budget = file
        .len()
        .saturating_mul(8)
        .saturating_add(window.saturating_mul(2))
        .saturating_add(SEARCH_ALLOWANCE);
    let mut decode_budget = file
        .len()
        .saturating_mul(4)
        .saturating_add(window.saturating_mul(4));
    let mut largest = 0usize;
    let mut s = 0usize;
    let mut gap_start: Option<usize> = None;
    while s < file.len() {
        let in_gap = gap_start.is_some();
        if in_gap && file.get(s) == Some(&0) && file.get(s.saturating_add(1)) == Some(&0) {
            s = s.saturating_add(1);
            continue;
        }
        if budget == 0 || decode_budget == 0 {
            d.stopped_at = Some(s as u64);
            gap_start.get_or_insert(s);
            break;
        }
        let w = if in_gap {
            largest
                .saturating_mul(4)
                .clamp(MIN_GAP_WINDOW.min(window), window)
        } else {
            window
        };
        let Some(h) = block_at(file, s, r, w) else {
            budget = budget.saturating_sub(w.min(file.len().saturating_sub(s)));
            gap_start.get_or_insert(s);
            s = s.saturating_add(1);
            continue;
        };
        let size = usize::try_from(h.size).unwrap_or(usize::MAX);
        // A forged trailer makes any span a candidate: decoding is bounded
        // apart from the search.
        decode_budget = decode_budget.saturating_sub(size);
        let mut entries = Vec::new();
        let block = read_block(file, h, r).ok();
        decode_budget = decode_budget.saturating_sub(block.as_ref().map_or(0, |b| b.len()));
        let is_data = block.is_some_and(|b| decodes_as_data(&b, &mut entries));
        if let Some(g) = gap_start.take() {
            d.gaps.push((g as u64, s as u64));
        }
        largest = largest.max(size);
        if is_data {
            d.data.push(DataBlock {
                handle: h,
                entries,
                fault: None,
            });
        } else {
            d.other.push(h);
        }
        match size
            .checked_add(TRAILER_SIZE)
            .and_then(|n| s.checked_add(n))
        {
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
