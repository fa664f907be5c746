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
//! Besides decoding the footer and reading blocks through their handles, this
//! module can find blocks without any handle ([`find_blocks`]): because blocks
//! are written back to back from offset 0, each followed by a checksummed
//! trailer, a block boundary can be recognised from the bytes alone. That is
//! how a table with a lost footer or index is still read in full.

use super::block::{Block, BlockError};
use super::coding::{decode_varint64, put_varint64, read_fixed32, Cursor, DecodeError};
use super::compress::{self, CompressError};
use super::{crc, ikey};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

pub const FOOTER_SIZE: usize = 48;
pub const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
pub const TRAILER_SIZE: usize = 5;
/// Two varint64s.
pub const MAX_HANDLE_SIZE: usize = 20;
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
        (n + m == bytes.len()).then_some(BlockHandle { offset, size })
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
        let tail = &file[start..];
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&tail[40..]);
        let found = u64::from_le_bytes(magic);
        if found != MAGIC {
            return Err(TableError::BadMagic { found });
        }
        let mut c = Cursor::new(&tail[..40]);
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
        v.resize(40, 0);
        v.extend_from_slice(&MAGIC.to_le_bytes());
        let mut out = [0u8; FOOTER_SIZE];
        out.copy_from_slice(&v);
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
    let same = file[start..]
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

/// Read, verify and decompress the block at `h`, producing at most `cap`
/// bytes.
pub fn read_block(
    file: &[u8],
    h: BlockHandle,
    cap: usize,
) -> Result<BlockContents<'_>, BlockFault<'_>> {
    let file_len = file.len() as u64;
    let torn = BlockFault::Torn {
        end: h.end(),
        file_len,
    };
    match h.end() {
        Some(end) if end <= file_len => {}
        _ => return Err(torn),
    }
    // In range of a slice, so these fit in usize.
    let start = h.offset as usize;
    let end = start + h.size as usize;
    let raw = &file[start..end];
    let kind = file[end];
    let stored = read_fixed32(file, end + 1).ok_or(torn)?;
    let computed = crc::extend(crc::value(raw), &[kind]);
    if crc::mask(computed) != stored {
        return Err(BlockFault::ChecksumMismatch {
            stored: crc::unmask(stored),
            computed,
            salvage: compress::decompress(kind, raw, cap).ok(),
        });
    }
    compress::decompress(kind, raw, cap)
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
    // `end()` includes the trailer.
    if h.end().is_some_and(|e| e <= file.len() as u64) {
        // In range of a slice, so these fit in usize.
        let (start, end) = (h.offset as usize, (h.offset + h.size) as usize);
        let raw = &file[start..end];
        let kind = file[end];
        let stored = read_fixed32(file, end + 1);
        if stored == Some(crc::mask(crc::extend(crc::value(raw), &[kind]))) {
            return compress::decompress_into(kind, raw, cap, scratch)
                .map_err(BlockFault::Decompress);
        }
    }
    match read_block(file, h, cap) {
        Err(fault) => Err(fault),
        // Not reached (the checks above are read_block's), but stay correct.
        Ok(b) => {
            *scratch = b.data.into_owned();
            Ok(scratch)
        }
    }
}

/// What a data block holds, gathered while checking it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataBlockSummary {
    pub entries: u64,
    pub min_seq: u64,
    pub max_seq: u64,
    /// First and last internal keys (empty for an entry-less block).
    pub first_key: Vec<u8>,
    pub last_key: Vec<u8>,
    /// Every value is exactly a block handle (index blocks look like this).
    pub values_are_handles: bool,
    /// Every key carries [`MAX_SEQUENCE`], as LevelDB's index separators do.
    pub all_max_seq: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataBlockError {
    Block(BlockError),
    /// Entry `index` has a key that is not an internal key.
    NotInternalKey {
        index: u64,
    },
    /// Entry `index` does not sort strictly after the one before it.
    OutOfOrder {
        index: u64,
    },
}

impl fmt::Display for DataBlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataBlockError::Block(e) => write!(f, "{e}"),
            DataBlockError::NotInternalKey { index } => {
                write!(f, "entry {index} has a key that is not an internal key")
            }
            DataBlockError::OutOfOrder { index } => {
                write!(f, "entry {index} is out of key order")
            }
        }
    }
}

impl std::error::Error for DataBlockError {}

/// Check a decompressed block as a data (or index) block: well-formed, every
/// key an internal key, keys strictly ascending in internal-key order.
pub fn check_data_block(contents: &[u8]) -> Result<DataBlockSummary, DataBlockError> {
    check_data_block_with(contents, true)
}

/// [`check_data_block`], with the key order check only when `ordered`: a
/// store with its own comparator (Chrome's `idb_cmp1`, say) orders keys in a
/// way this reader cannot reproduce, and its blocks are still intact.
pub fn check_data_block_with(
    contents: &[u8],
    ordered: bool,
) -> Result<DataBlockSummary, DataBlockError> {
    let block = Block::new(contents).map_err(DataBlockError::Block)?;
    let mut it = block.iter();
    let mut s = DataBlockSummary {
        min_seq: u64::MAX,
        values_are_handles: true,
        all_max_seq: true,
        ..Default::default()
    };
    // The previous key, kept because the iterator reuses its buffer; after
    // the loop it is the last key. It is updated like the iterator's own key
    // (cut to the shared prefix, then the new bytes), so neither keeping it
    // nor comparing against it costs more than the bytes that changed.
    let mut prev: Vec<u8> = Vec::new();
    while let Some(r) = it.next_shared() {
        let (shared, k, v) = r.map_err(DataBlockError::Block)?;
        let index = s.entries;
        let p = ikey::parse(k).ok_or(DataBlockError::NotInternalKey { index })?;
        if index == 0 {
            s.first_key.extend_from_slice(k);
        } else if ordered && ikey::compare_after(&prev, k, shared) != std::cmp::Ordering::Less {
            return Err(DataBlockError::OutOfOrder { index });
        }
        s.min_seq = s.min_seq.min(p.seq);
        s.max_seq = s.max_seq.max(p.seq);
        s.all_max_seq &= p.seq == MAX_SEQUENCE;
        s.values_are_handles = s.values_are_handles && BlockHandle::decode_exact(v).is_some();
        prev.truncate(shared);
        prev.extend_from_slice(&k[shared..]);
        s.entries += 1;
    }
    if s.entries == 0 {
        s.min_seq = 0;
        s.values_are_handles = false;
        s.all_max_seq = false;
    }
    s.last_key = prev;
    Ok(s)
}

/// A metaindex block: names in strictly ascending bytewise order, each
/// mapping to a block handle. Returns the entries.
pub fn parse_metaindex(contents: &[u8]) -> Result<Vec<(Vec<u8>, BlockHandle)>, String> {
    let block = Block::new(contents).map_err(|e| e.to_string())?;
    let mut it = block.iter();
    let mut out: Vec<(Vec<u8>, BlockHandle)> = Vec::new();
    while let Some(r) = it.next() {
        let (k, v) = r.map_err(|e| e.to_string())?;
        if out.last().is_some_and(|(p, _)| p.as_slice() >= k) {
            return Err(format!("metaindex entry {} is out of order", out.len()));
        }
        let h = BlockHandle::decode_exact(v)
            .ok_or_else(|| format!("metaindex entry {} is not a block handle", out.len()))?;
        out.push((k.to_vec(), h));
    }
    Ok(out)
}

/// Whether `contents` has the layout of LevelDB's filter block:
/// `filter* ++ offsets: fixed32* ++ array_offset: fixed32 ++ base_lg: u8`.
pub fn is_filter_block(contents: &[u8]) -> bool {
    let Some(at) = contents.len().checked_sub(5) else {
        return false;
    };
    let base_lg = contents[at + 4];
    let Some(array) = read_fixed32(contents, at).map(|a| a as usize) else {
        return false;
    };
    if base_lg == 0 || base_lg > 30 || array > at || (at - array) % 4 != 0 {
        return false;
    }
    let mut prev = 0u32;
    contents[array..at].chunks_exact(4).all(|b| {
        let o = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let ok = o >= prev && o as usize <= array;
        prev = o;
        ok
    })
}

// ---------------------------------------------------------------------------
// Footerless discovery.
//
// A block [a, e) with trailer at e is recognised by
//   mask(crc32c(file[a..e] ++ file[e])) == fixed32(file[e+1..e+5]).
// Three searches use that test, each linear in the bytes it covers:
//   forward:  from a known start a, run the CRC byte by byte and test every
//             position whose byte is a known compression type (≤ window).
//   backward: from a known trailer at e, run the CRC *backwards* from the
//             stored value (CRC steps are invertible) and test for the initial
//             register at every earlier position (≤ window).
//   resync:   after damage no start is known. A CRC register update is
//             linear over GF(2)[x]/P, so whether [a, e) checks out splits into
//             a key that depends only on a and a key that depends only on e
//             (see `resync`): one pass with a hash map of the starts seen in
//             the last RESYNC_WINDOW bytes finds the first checksum-valid
//             block after the damage, in time linear in the bytes passed.
// Every checksum match must also decode as a plausible block before it is
// believed. A damaged stretch costs one failed forward search (≤ window), one
// resync (linear in the damage plus the next block) and one failed backward
// walk (≤ window): a garbled stretch of G bytes costs O(G + window), not
// O(G × window). Failed forward/backward searches are budgeted at 8× the file
// size plus 2 windows; past that only the linear resync runs, so even many
// small damaged stretches cannot make the search quadratic. Blocks larger than
// the window are not found.
// ---------------------------------------------------------------------------

const POLY: u32 = 0x82f6_3b78; // CRC-32C, bit-reflected
const ONE: u32 = 0x8000_0000; // x^0 in the reflected representation

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// Byte-at-a-time CRC-32C steps. The byte-by-byte test needs the CRC after
/// every byte, where a table step is cheaper than a library call per byte.
const CRC_TABLE: [u32; 256] = crc_table();

/// `CRC_TABLE`'s top bytes are all distinct, which makes a step invertible.
const fn crc_inverse() -> [u8; 256] {
    let mut inv = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        inv[(CRC_TABLE[i] >> 24) as usize] = i as u8;
        i += 1;
    }
    inv
}
const CRC_INVERSE: [u8; 256] = crc_inverse();

/// Advance a raw (pre-inverted) CRC register by one byte.
#[inline(always)]
fn step(r: u32, b: u8) -> u32 {
    CRC_TABLE[((r ^ u32::from(b)) & 0xff) as usize] ^ (r >> 8)
}

/// Undo [`step`]: the register before `b` was processed.
#[inline(always)]
fn unstep(r: u32, b: u8) -> u32 {
    let idx = CRC_INVERSE[(r >> 24) as usize];
    ((r ^ CRC_TABLE[idx as usize]) << 8) | u32::from(idx ^ b)
}

/// Product of two polynomials modulo P, both reflected (zlib's `multmodp`).
const fn mulmod(a: u32, mut b: u32) -> u32 {
    let mut p = 0u32;
    let mut m = ONE;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        m >>= 1;
    }
    p
}

/// x^-1 mod P: P has a constant term, so x·((P - 1)/x) = 1.
const X_INV: u32 = (POLY << 1) | 1;

const fn pow(base: u32, mut n: u32) -> u32 {
    let mut r = ONE;
    while n > 0 {
        r = mulmod(r, base);
        n -= 1;
    }
    r
}
const X_INV8: u32 = pow(X_INV, 8);

/// Multiplying by the constant x^-8 is linear, so four table lookups do it.
const fn x_inv8_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut j = 0;
    while j < 4 {
        let mut b = 0;
        while b < 256 {
            t[j][b] = mulmod((b as u32) << (8 * j), X_INV8);
            b += 1;
        }
        j += 1;
    }
    t
}
const X_INV8_TABLES: [[u32; 256]; 4] = x_inv8_tables();

#[inline(always)]
fn mul_x_inv8(v: u32) -> u32 {
    let t = &X_INV8_TABLES;
    t[0][(v & 0xff) as usize]
        ^ t[1][((v >> 8) & 0xff) as usize]
        ^ t[2][((v >> 16) & 0xff) as usize]
        ^ t[3][(v >> 24) as usize]
}

/// What a discovered block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundKind {
    /// Internal keys in order: table entries.
    Data,
    /// Internal-key separators whose values are handles of earlier blocks.
    Index,
    /// Metaindex (bytewise names → handles), or an entry-less block.
    Meta,
    /// A raw filter block.
    Filter,
}

/// A block found by its checksum alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub handle: BlockHandle,
    pub compression: u8,
    pub kind: FoundKind,
}

impl Found {
    pub fn start(&self) -> usize {
        self.handle.offset as usize
    }

    /// Offset just past the trailer.
    pub fn end(&self) -> usize {
        (self.handle.offset + self.handle.size) as usize + TRAILER_SIZE
    }
}

/// Every block in `file[from..]` that carries a valid trailer and decodes as
/// a plausible table block, in file order. Blocks larger than `window` bytes
/// are not looked for. See the comment above for the search and its bounds.
pub fn find_blocks(file: &[u8], from: usize, window: usize) -> Vec<Found> {
    find_blocks_capped(file, from, window, compress::DEFAULT_CAP)
}

/// [`find_blocks`] with a cap on each candidate's decompressed size.
pub fn find_blocks_capped(file: &[u8], from: usize, window: usize, cap: usize) -> Vec<Found> {
    find_blocks_ordered(file, from, window, cap, true)
}

/// [`find_blocks_capped`], accepting blocks whose keys are not in bytewise
/// order when `ordered` is false (a store with its own comparator).
pub fn find_blocks_ordered(
    file: &[u8],
    from: usize,
    window: usize,
    cap: usize,
    ordered: bool,
) -> Vec<Found> {
    // Failed forward/backward searches may cost this much before only the
    // linear resync is left.
    let budget = file
        .len()
        .saturating_mul(8)
        .saturating_add(window.saturating_mul(2));
    discover(file, from, window, cap, budget, ordered)
}

fn discover(
    file: &[u8],
    from: usize,
    window: usize,
    cap: usize,
    budget: usize,
    ordered: bool,
) -> Vec<Found> {
    let mut d = Discovery {
        file,
        ordered,
        window: window.max(1),
        resync_window: window.clamp(1, RESYNC_WINDOW),
        cap,
        budget,
        decode_budget: file
            .len()
            .saturating_mul(4)
            .saturating_add(window.saturating_mul(4)),
        handle_valued: HashSet::new(),
    };
    let mut found: Vec<Found> = Vec::new();
    let mut pos = from.min(file.len());
    while pos < file.len() {
        if d.budget > 0 {
            if let Some(f) = d.forward(pos) {
                pos = f.end();
                found.push(f);
                continue;
            }
        }
        // `pos` starts a damaged stretch (or, once the budget is spent, an
        // unknown one: resync then also tries `pos` itself as a start).
        let origin = if d.budget > 0 { pos + 1 } else { pos };
        let next = d.resync(origin);
        let boundary = next.map_or(file.len(), |f| f.start());
        if d.budget > 0 {
            found.extend(d.backward_chain(pos, boundary));
        }
        match next {
            Some(f) => {
                pos = f.end();
                found.push(f);
            }
            None => break,
        }
    }
    classify_indexes(file, &mut found, &d.handle_valued, cap, ordered);
    found
}

/// A checksum-valid candidate's shape, before index detection.
enum Shape {
    Keyed { handles: bool },
    Meta,
    Filter,
}

struct Discovery<'a> {
    file: &'a [u8],
    /// Keys must be in bytewise internal-key order.
    ordered: bool,
    window: usize,
    resync_window: usize,
    cap: usize,
    /// Bytes that failed forward/backward searches may still cost.
    budget: usize,
    /// Bytes that decoding checksum-valid candidates may still cost. Real
    /// blocks cost their own size once; checksums are easy to forge, so
    /// without this, crafted trailers could make every candidate decode a
    /// window's worth of bytes.
    decode_budget: usize,
    /// Offsets of accepted keyed blocks whose values all decode as handles:
    /// index candidates.
    handle_valued: HashSet<u64>,
}

impl Discovery<'_> {
    fn spend(&mut self, n: usize) {
        self.budget = self.budget.saturating_sub(n);
    }

    /// The block [a, e) with its trailer at e, if it decodes plausibly.
    fn accept(&mut self, a: usize, e: usize) -> Option<Found> {
        let kind = self.file[e];
        if self.decode_budget < e - a {
            return None;
        }
        self.decode_budget -= e - a;
        let data = compress::decompress(kind, &self.file[a..e], self.cap).ok()?;
        self.decode_budget = self.decode_budget.saturating_sub(data.len());
        let shape = shape(&data, kind, self.ordered)?;
        if let Shape::Keyed { handles: true } = shape {
            self.handle_valued.insert(a as u64);
        }
        Some(Found {
            handle: BlockHandle {
                offset: a as u64,
                size: (e - a) as u64,
            },
            compression: kind,
            kind: match shape {
                // Settled once all blocks are known (classify_indexes).
                Shape::Keyed { .. } => FoundKind::Data,
                Shape::Meta => FoundKind::Meta,
                Shape::Filter => FoundKind::Filter,
            },
        })
    }

    fn trailer_matches(&self, e: usize, register: u32) -> bool {
        read_fixed32(self.file, e + 1) == Some(crc::mask(!register))
    }

    /// The block starting at `a`, by a forward CRC run.
    fn forward(&mut self, a: usize) -> Option<Found> {
        let last = self.file.len().checked_sub(TRAILER_SIZE)?;
        let last = last.min(a.saturating_add(self.window));
        let mut r = !0u32;
        for e in a..=last {
            let b = self.file[e];
            r = step(r, b);
            if compress::is_known(b) && self.trailer_matches(e, r) {
                if let Some(f) = self.accept(a, e) {
                    return Some(f);
                }
            }
        }
        self.spend((last + 1).saturating_sub(a));
        None
    }

    /// The block whose trailer sits at `e`, starting at or after `lo`, by
    /// running the CRC backwards from the stored value until it reaches the
    /// initial register.
    fn backward(&mut self, e: usize, lo: usize) -> Option<Found> {
        let kind = *self.file.get(e)?;
        if !compress::is_known(kind) {
            return None;
        }
        let stored = read_fixed32(self.file, e + 1)?;
        let floor = lo.max(e.saturating_sub(self.window));
        // The raw register after the type byte, then before it.
        let mut r = unstep(!crc::unmask(stored), kind);
        let mut a = e;
        loop {
            if r == !0 {
                if let Some(f) = self.accept(a, e) {
                    return Some(f);
                }
            }
            if a <= floor {
                break;
            }
            a -= 1;
            r = unstep(r, self.file[a]);
        }
        self.spend(e - floor + 1);
        None
    }

    /// Blocks that end, back to back, exactly at `boundary`, walking back
    /// but not before `lo`. Returned in file order.
    fn backward_chain(&mut self, lo: usize, mut boundary: usize) -> Vec<Found> {
        let mut out = Vec::new();
        while let Some(e) = boundary.checked_sub(TRAILER_SIZE).filter(|&e| e >= lo) {
            match self.backward(e, lo) {
                Some(f) => {
                    boundary = f.start();
                    out.push(f);
                }
                None => break,
            }
        }
        out.reverse();
        out
    }

    /// The first plausible block (by end offset) starting at or after
    /// `origin`, in one pass. With R(p) the raw CRC register after
    /// `file[origin..p]` and I the initial register, a block [a, e) with
    /// stored CRC U is valid iff R(e+1) + ~U = (R(a) + I)·x^8(e+1-a), i.e. iff
    ///   start key (R(a) + I)·x^-8(a-origin)  ==  end key (R(e+1) + ~U)·x^-8(e+1-origin).
    /// Start keys of the last `resync_window` bytes sit in a hash map that
    /// every trailer candidate looks its end key up in.
    fn resync(&mut self, origin: usize) -> Option<Found> {
        let last = self.file.len().checked_sub(TRAILER_SIZE)?;
        if origin > last {
            return None;
        }
        let w = self.resync_window;
        let hasher = Seeded::new();
        // Two generations of at most `w` starts each: a lookup at e needs the
        // starts in [e - w, e], which the current and previous always cover.
        let mut cur: HashMap<u32, usize, Seeded> = HashMap::with_hasher(hasher.clone());
        let mut prev: HashMap<u32, usize, Seeded> = HashMap::with_hasher(hasher);
        let mut gen_start = origin;
        // Kept incrementally, all at position p: pw = x^-8(p-origin),
        // norm = R(p)·pw, init = I·pw, hi = pw·x^24 (for the byte product).
        let mut pw = ONE;
        let mut norm = !0u32;
        let mut init = !0u32;
        let mut hi = X24;
        for p in origin..=last {
            if p - gen_start >= w {
                std::mem::swap(&mut prev, &mut cur);
                cur.clear();
                gen_start = p;
            }
            // No block starts with 16 bytes of 0x00 or 0xff (an entry's shared
            // length 0 is followed by a non-empty key length; codecs begin
            // with a length or a header), so zeroed and erased runs, the
            // commonest damage, add no starts.
            let fill = self
                .file
                .get(p..p + 16)
                .is_some_and(|w| w.iter().all(|&x| x == 0) || w.iter().all(|&x| x == 0xff));
            if !fill {
                cur.insert(norm ^ init, p);
            }
            let b = self.file[p];
            // R(p+1) = (R(p) + b)·x^8, so norm advances by b·pw.
            norm ^= mul_byte(b, hi);
            pw = mul_x_inv8(pw);
            init = mul_x_inv8(init);
            hi = mul_x_inv8(hi);
            if !compress::is_known(b) {
                continue;
            }
            // A stored checksum of all zero or all one bits is far likelier a
            // fill than one of 2^32 values; skipping it keeps fills cheap.
            let Some(stored) = read_fixed32(self.file, p + 1).filter(|&c| c != 0 && c != u32::MAX)
            else {
                continue;
            };
            let key = norm ^ mulmod(!crc::unmask(stored), pw);
            let hit = [cur.get(&key), prev.get(&key)]
                .into_iter()
                .flatten()
                .copied()
                .find(|&a| p - a <= w);
            if let Some(f) = hit.and_then(|a| self.accept(a, p)) {
                return Some(f);
            }
        }
        None
    }
}

/// x^24, reflected.
const X24: u32 = 1 << 7;

/// `b·pw` for a byte `b` (bit k standing for x^(31-k)), given `hi` =
/// pw·x^24: eight shift-and-add steps instead of thirty-two.
#[inline(always)]
fn mul_byte(b: u8, hi: u32) -> u32 {
    let mut t = hi;
    let mut acc = 0u32;
    for j in 0..8 {
        acc ^= t & 0u32.wrapping_sub(u32::from((b >> (7 - j)) & 1));
        t = (t >> 1) ^ (POLY & 0u32.wrapping_sub(t & 1));
    }
    acc
}

/// Hashes the resync keys with a per-search random multiplier: the keys are
/// CRC-derived, so input can steer them, but not into a seed it cannot see.
#[derive(Clone)]
struct Seeded(u64, u64);

impl Seeded {
    fn new() -> Self {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new();
        Seeded(s.hash_one(0x5eed_u64), s.hash_one(0xcafe_u64) | 1)
    }
}

struct SeededHasher(u64, u64, u64);

impl std::hash::BuildHasher for Seeded {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0, self.1, 0)
    }
}

impl std::hash::Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Multiply-shift: the high half of the product mixes every key bit.
        let h = (u64::from(n) ^ self.0 ^ self.2).wrapping_mul(self.1);
        self.2 = h.rotate_left(32);
    }
    fn finish(&self) -> u64 {
        self.2
    }
}

fn shape(contents: &[u8], compression: u8, ordered: bool) -> Option<Shape> {
    if let Ok(s) = check_data_block_with(contents, ordered) {
        if s.entries > 0 {
            return Some(Shape::Keyed {
                handles: s.values_are_handles,
            });
        }
        return Some(Shape::Meta);
    }
    if parse_metaindex(contents).is_ok() {
        return Some(Shape::Meta);
    }
    // LevelDB never compresses a filter block.
    (compression == compress::NONE && is_filter_block(contents)).then_some(Shape::Filter)
}

/// Tell index blocks from data blocks among the keyed ones whose values all
/// decode as handles (`candidates`, by offset). Both have internal keys in
/// order; an index block's values are handles, in ascending non-overlapping
/// order, of blocks before it, and it either points at blocks that were
/// found, or its last handle ends where a found block (the filter or
/// metaindex LevelDB writes next) or the index itself begins, or (when all
/// else is lost) it carries LevelDB's separator sequence number on every key.
/// A data block of values that happen to decode as handles would have to meet
/// all of that to be mistaken.
fn classify_indexes(
    file: &[u8],
    found: &mut [Found],
    candidates: &HashSet<u64>,
    cap: usize,
    ordered: bool,
) {
    if candidates.is_empty() {
        return;
    }
    let known: HashSet<BlockHandle> = found.iter().map(|f| f.handle).collect();
    let starts: HashSet<u64> = found.iter().map(|f| f.handle.offset).collect();
    for f in found.iter_mut() {
        if f.kind != FoundKind::Data || !candidates.contains(&f.handle.offset) {
            continue;
        }
        let raw = &file[f.start()..f.start() + f.handle.size as usize];
        let Ok(data) = compress::decompress(f.compression, raw, cap) else {
            continue;
        };
        let Ok(s) = check_data_block_with(&data, ordered) else {
            continue;
        };
        let Ok(block) = Block::new(&data) else {
            continue;
        };
        let mut it = block.iter();
        let mut end_prev = 0u64;
        let mut matches = 0usize;
        let mut ordered = true;
        // Handles that tile the file from offset 0, each block right after
        // the previous one's trailer: the layout a table's index describes,
        // and still recognisable when bytes inserted or lost before the
        // index moved every block away from where its handle says.
        let mut chain = true;
        while let Some(Ok((_, v))) = it.next() {
            let Some(h) = BlockHandle::decode_exact(v) else {
                ordered = false;
                break;
            };
            chain &= h.offset == end_prev;
            match h.end() {
                Some(end) if h.offset >= end_prev && end <= f.handle.offset => end_prev = end,
                _ => {
                    ordered = false;
                    break;
                }
            }
            matches += usize::from(known.contains(&h));
        }
        let abuts = end_prev == f.handle.offset || starts.contains(&end_prev);
        if ordered && (matches > 0 || abuts || s.all_max_seq || chain) {
            f.kind = FoundKind::Index;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::table_writer::sample::*;

    #[test]
    fn a_block_of_huge_shared_keys_is_checked() {
        // 40,000 entries each sharing all but its tag with a 512 KiB key: a
        // check that copied or compared whole keys would touch ~20 GB (about
        // 8x this test's time here; time itself is the benchmark's business,
        // this checks that the shared-prefix path gets order and keys right).
        let user_key = vec![b'k'; 512 << 10];
        let n = 40_000u64;
        let tag = |seq: u64| ((seq << 8) | 1).to_le_bytes();
        let tails: Vec<[u8; 8]> = (1..n).map(|i| tag(n - i)).collect();
        let tails: Vec<&[u8]> = tails.iter().map(|t| &t[..]).collect();
        let contents = crate::format::block::shared_prefix_block(
            &ikey::encode(&user_key, n, crate::format::batch::Kind::Put),
            user_key.len(),
            &tails,
            b"",
        );
        let s = check_data_block_with(&contents, true).unwrap();
        assert_eq!(s.entries, n);
        assert_eq!(
            s.last_key,
            ikey::encode(&user_key, 1, crate::format::batch::Kind::Put)
        );
        // And order is still enforced when the change lies past the prefix.
        let mut b = crate::format::block::BlockBuilder::new(1 << 30);
        b.add(
            &ikey::encode(&user_key, 5, crate::format::batch::Kind::Put),
            b"",
        );
        b.add(
            &ikey::encode(&user_key, 9, crate::format::batch::Kind::Put),
            b"",
        );
        assert!(matches!(
            check_data_block_with(&b.finish(), true),
            Err(DataBlockError::OutOfOrder { index: 1 })
        ));
    }

    #[test]
    fn crc_helpers_agree_with_the_library() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut r = !0u32;
        for (i, &b) in data.iter().enumerate() {
            r = step(r, b);
            assert_eq!(!r, crc::value(&data[..=i]));
        }
        // Unstepping walks back to the initial register.
        for &b in data.iter().rev() {
            r = unstep(r, b);
        }
        assert_eq!(r, !0);
        assert_eq!(mulmod(X_INV, 1 << 30), ONE);
        assert_eq!(mulmod(X_INV8, pow(1 << 30, 8)), ONE);
        for v in [0u32, 1, 0xdead_beef, ONE, u32::MAX] {
            assert_eq!(mul_x_inv8(v), mulmod(v, X_INV8));
        }
        for b in [0u8, 1, 0x80, 0xa7, 0xff] {
            for pw in [ONE, X_INV8, 0x1234_5678] {
                assert_eq!(mul_byte(b, mulmod(pw, X24)), mulmod(u32::from(b), pw));
            }
            // A CRC step is (r + b)·x^8.
            assert_eq!(
                step(0xdead_beef, b),
                mulmod(0xdead_beef ^ u32::from(b), pow(1 << 30, 8))
            );
        }
        assert_eq!(X24, pow(1 << 30, 24));
        // The combine identity the resync search relies on.
        let (a, b) = data.split_at(100);
        let x8n = pow(pow(1 << 30, 8), b.len() as u32);
        assert_eq!(
            mulmod(x8n, crc::value(a)) ^ crc::value(b),
            crc::value(&data)
        );
    }

    #[test]
    fn handle_and_footer_roundtrip() {
        let h = BlockHandle {
            offset: 1 << 40,
            size: 300,
        };
        let mut v = Vec::new();
        h.encode_to(&mut v);
        assert_eq!(BlockHandle::decode_exact(&v), Some(h));
        v.push(0);
        assert_eq!(BlockHandle::decode_exact(&v), None);
        assert_eq!(BlockHandle::decode_exact(&[0x80]), None);
        let f = Footer {
            metaindex: BlockHandle { offset: 5, size: 6 },
            index: h,
            padding_clean: true,
        };
        let mut file = vec![9u8; 10];
        file.extend_from_slice(&f.encode());
        assert_eq!(Footer::decode(&file), Ok(f));
        assert!(footer_like(&file));
    }

    #[test]
    fn footer_damage() {
        let f = Footer {
            metaindex: BlockHandle { offset: 5, size: 6 },
            index: BlockHandle { offset: 7, size: 8 },
            padding_clean: true,
        }
        .encode();
        assert_eq!(
            Footer::decode(&f[1..]),
            Err(TableError::TooShort { len: 47 })
        );
        let mut m = f;
        m[47] ^= 1;
        assert!(matches!(
            Footer::decode(&m),
            Err(TableError::BadMagic { .. })
        ));
        assert!(footer_like(&m));
        let mut gone = f;
        gone[40..].fill(0);
        assert!(!footer_like(&gone));
        let mut h = f;
        h[..11].fill(0xff);
        assert!(matches!(
            Footer::decode(&h),
            Err(TableError::BadHandle {
                which: "metaindex",
                ..
            })
        ));
        let mut p = f;
        p[30] = 1;
        assert!(!Footer::decode(&p).unwrap().padding_clean);
    }

    #[test]
    fn read_block_verdicts() {
        let t = sample(compress::SNAPPY, 200);
        let h = t.data[1];
        let b = read_block(&t.bytes, h, compress::DEFAULT_CAP).unwrap();
        assert_eq!(b.compression, compress::SNAPPY);
        assert_eq!(
            check_data_block(&b.data).unwrap().entries,
            t.entries[1].len() as u64
        );

        // Cut inside the trailer: runs past the end.
        let end = (h.offset + h.size) as usize;
        let e = read_block(&t.bytes[..end + 3], h, compress::DEFAULT_CAP).unwrap_err();
        assert!(e.runs_past_end(), "{e}");
        let huge = BlockHandle {
            offset: u64::MAX - 2,
            size: 10,
        };
        assert!(read_block(&t.bytes, huge, 1).unwrap_err().runs_past_end());

        // A flipped byte: all there, checksum mismatch.
        let mut bad = t.bytes.clone();
        bad[h.offset as usize + 3] ^= 0x40;
        let e = read_block(&bad, h, compress::DEFAULT_CAP).unwrap_err();
        assert!(!e.runs_past_end(), "{e}");
        assert!(e.to_string().starts_with("checksum mismatch"), "{e}");

        // A valid checksum over an unknown codec: all there, and says so.
        let mut odd = t.bytes.clone();
        odd[end] = 9;
        let c = crc::extend(crc::value(&odd[h.offset as usize..end]), &[9]);
        odd[end + 1..end + 5].copy_from_slice(&crc::mask(c).to_le_bytes());
        let e = read_block(&odd, h, compress::DEFAULT_CAP).unwrap_err();
        assert!(!e.runs_past_end(), "{e}");
        assert_eq!(e.to_string(), "unknown compression type 9");
    }

    #[test]
    fn data_block_checks() {
        let t = sample(compress::NONE, 60);
        let h = t.data[0];
        let raw = &t.bytes[h.offset as usize..(h.offset + h.size) as usize];
        let s = check_data_block(raw).unwrap();
        let want = &t.entries[0];
        assert_eq!(s.entries, want.len() as u64);
        assert_eq!(s.min_seq, want[0].1);
        assert_eq!(s.max_seq, want.last().unwrap().1);
        assert_eq!(ikey::parse(&s.first_key).unwrap().user_key, &want[0].0[..]);
        assert!(!s.values_are_handles);

        // The index block: separators with handle values.
        let i = t.index;
        let raw = &t.bytes[i.offset as usize..(i.offset + i.size) as usize];
        let s = check_data_block(raw).unwrap();
        assert!(s.values_are_handles);

        // Keys out of order.
        let mut b = crate::format::block::BlockBuilder::new(16);
        b.add(
            &ikey::encode(b"b", 1, crate::format::batch::Kind::Put),
            b"x",
        );
        b.add(
            &ikey::encode(b"a", 1, crate::format::batch::Kind::Put),
            b"y",
        );
        assert_eq!(
            check_data_block(&b.finish()),
            Err(DataBlockError::OutOfOrder { index: 1 })
        );
        // Same internal key twice is not strictly ascending either.
        let mut b = crate::format::block::BlockBuilder::new(16);
        b.add(
            &ikey::encode(b"a", 1, crate::format::batch::Kind::Put),
            b"x",
        );
        b.add(
            &ikey::encode(b"a", 1, crate::format::batch::Kind::Put),
            b"y",
        );
        assert!(check_data_block(&b.finish()).is_err());
        // Not internal keys.
        let mut b = crate::format::block::BlockBuilder::new(16);
        b.add(b"filter.leveldb.BuiltinBloomFilter2", b"\x00\x05");
        let meta = b.finish();
        assert_eq!(
            check_data_block(&meta),
            Err(DataBlockError::NotInternalKey { index: 0 })
        );
        assert_eq!(parse_metaindex(&meta).unwrap().len(), 1);
    }

    #[test]
    fn filter_layout() {
        let t = sample(compress::NONE, 10);
        let f = t.filter.unwrap();
        let raw = &t.bytes[f.offset as usize..(f.offset + f.size) as usize];
        assert!(is_filter_block(raw));
        // An empty LevelDB filter block: array offset 0, base_lg 11.
        assert!(is_filter_block(&[0, 0, 0, 0, 11]));
        assert!(!is_filter_block(&[0, 0, 0, 0]));
        assert!(!is_filter_block(&[9, 0, 0, 0, 11]));
        assert!(!is_filter_block(&[0, 0, 0, 0, 0]));
    }

    fn kinds(found: &[Found]) -> Vec<FoundKind> {
        found.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn discovery_finds_every_block_of_an_intact_table() {
        for c in [compress::NONE, compress::SNAPPY, compress::ZSTD_OR_ZLIB] {
            let t = sample(c, 300);
            let end = t.bytes.len() - FOOTER_SIZE;
            let found = find_blocks(&t.bytes[..end], 0, DEFAULT_WINDOW);
            let data: Vec<BlockHandle> = found
                .iter()
                .filter(|f| f.kind == FoundKind::Data)
                .map(|f| f.handle)
                .collect();
            assert_eq!(data, t.data, "compression {c}");
            let n = found.len();
            assert_eq!(
                kinds(&found[n - 3..]),
                [FoundKind::Filter, FoundKind::Meta, FoundKind::Index]
            );
            assert_eq!(found[n - 1].handle, t.index);
        }
    }

    #[test]
    fn discovery_resyncs_after_damage() {
        let t = sample(compress::SNAPPY, 300);
        let end = t.bytes.len() - FOOTER_SIZE;
        // Garble block 3 in the middle and zero a run across blocks 7..8.
        let mut bad = t.bytes[..end].to_vec();
        let b3 = t.data[3];
        bad[(b3.offset + b3.size / 2) as usize] ^= 0xff;
        let z0 = (t.data[7].offset + 10) as usize;
        let z1 = (t.data[8].offset + 20) as usize;
        bad[z0..z1].fill(0);
        let found = find_blocks(&bad, 0, DEFAULT_WINDOW);
        let data: Vec<BlockHandle> = found
            .iter()
            .filter(|f| f.kind == FoundKind::Data)
            .map(|f| f.handle)
            .collect();
        let want: Vec<BlockHandle> = t
            .data
            .iter()
            .enumerate()
            .filter(|(i, _)| ![3, 7, 8].contains(i))
            .map(|(_, h)| *h)
            .collect();
        assert_eq!(data, want);
    }

    #[test]
    fn discovery_through_random_garbage_and_large_blocks() {
        // Blocks of ~600 KiB (bigger than the resync window) around a run of
        // noise: the one after the noise is found by walking back from the
        // next boundary.
        let mut w = TableWriter::new(compress::NONE);
        w.block_size = 600 << 10;
        w.filter = false;
        for i in 0..9u32 {
            let v = vec![(i % 250) as u8; 200 << 10];
            w.add(
                format!("k{i}").as_bytes(),
                u64::from(i) + 1,
                crate::format::batch::Kind::Put,
                &v,
            );
        }
        let t = w.finish();
        let mut bytes = t.bytes[..t.bytes.len() - FOOTER_SIZE].to_vec();
        let mut x = 0x1234_5678_9abc_def0u64;
        let noise_at = (t.data[1].offset + 1000) as usize;
        for b in &mut bytes[noise_at..noise_at + 5000] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let found = find_blocks(&bytes, 0, DEFAULT_WINDOW);
        let data: Vec<BlockHandle> = found
            .iter()
            .filter(|f| f.kind == FoundKind::Data)
            .map(|f| f.handle)
            .collect();
        assert_eq!(data, vec![t.data[0], t.data[2]]);
        assert_eq!(found.last().unwrap().kind, FoundKind::Index);
    }

    #[test]
    fn discovery_on_noise_and_prefixes_is_bounded() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(find_blocks(&noise, 0, DEFAULT_WINDOW).is_empty());
        assert!(find_blocks(&vec![0u8; 100_000], 0, DEFAULT_WINDOW).is_empty());
        let t = sample(compress::SNAPPY, 40);
        for cut in 0..t.bytes.len() {
            let found = find_blocks(&t.bytes[..cut], 0, 1 << 16);
            assert!(found.iter().all(|f| f.end() <= cut));
        }
    }

    #[test]
    fn forged_trailers_cannot_make_discovery_quadratic() {
        // A zstd frame expanding to 8 MiB, then a checksum-valid trailer every
        // 16 bytes for 2 MiB: every candidate from offset 0 decodes the whole
        // frame before failing on the bytes after it.
        let mut bytes = zstd::bulk::compress(&vec![0u8; 8 << 20], 1).unwrap();
        let mut running = crc::value(&bytes);
        while bytes.len() < 2 << 20 {
            running = crc::extend(running, &[0x41; 11]);
            bytes.resize(bytes.len() + 11, 0x41);
            let c = crc::extend(running, &[compress::ZSTD_OR_ZLIB]);
            let trailer = crc::mask(c).to_le_bytes();
            bytes.push(compress::ZSTD_OR_ZLIB);
            bytes.extend_from_slice(&trailer);
            running = crc::extend(c, &trailer);
        }
        let t0 = std::time::Instant::now();
        let found = find_blocks(&bytes, 0, DEFAULT_WINDOW);
        assert!(found.is_empty());
        // Unbounded, that is 131072 candidates × 8 MiB; the decode budget
        // stops after a few times the file size.
        assert!(t0.elapsed().as_secs() < 10, "{:?}", t0.elapsed());
    }

    #[test]
    fn discovery_survives_a_spent_budget() {
        // Tiny blocks each followed by a junk byte: every forward search
        // fails, the budget runs out, and the linear resync still finds all.
        let mut bytes = Vec::new();
        let mut handles = Vec::new();
        for i in 0..400u32 {
            let mut b = crate::format::block::BlockBuilder::new(16);
            b.add(
                &ikey::encode(&i.to_be_bytes(), 1, crate::format::batch::Kind::Put),
                b"v",
            );
            let raw = b.finish();
            handles.push(BlockHandle {
                offset: bytes.len() as u64,
                size: raw.len() as u64,
            });
            bytes.extend_from_slice(&raw);
            bytes.push(0);
            let c = crc::extend(crc::value(&raw), &[0]);
            bytes.extend_from_slice(&crc::mask(c).to_le_bytes());
            bytes.push(0xee);
        }
        let got = |found: Vec<Found>| found.iter().map(|f| f.handle).collect::<Vec<_>>();
        assert_eq!(got(find_blocks(&bytes, 0, DEFAULT_WINDOW)), handles);
        // With no budget at all only the resync search runs.
        let found = discover(&bytes, 0, DEFAULT_WINDOW, compress::DEFAULT_CAP, 0, true);
        assert_eq!(got(found), handles);
        // And it is linear: a megabyte of noise ahead of the blocks.
        let mut x = 7u64;
        let mut noisy: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let shift = noisy.len() as u64;
        noisy.extend_from_slice(&bytes);
        let found = discover(&noisy, 0, DEFAULT_WINDOW, compress::DEFAULT_CAP, 0, true);
        let shifted: Vec<BlockHandle> = handles
            .iter()
            .map(|h| BlockHandle {
                offset: h.offset + shift,
                size: h.size,
            })
            .collect();
        assert_eq!(got(found), shifted);
    }
}
