//! Finding table blocks without a footer or index, by their trailers.
//!
//! ```text
//! block [a, e) with trailer at e is recognised when
//!   mask(crc32c(file[a..e] ++ file[e])) == fixed32(file[e+1..e+5])
//! and its contents decode as a plausible data, index, meta or filter block
//! ```

use super::crc_algebra::{mul_byte, mul_x_inv8, mulmod, step, unstep, ONE, X24};
use super::data::check_data_block_with;
use super::meta::{is_filter_block, parse_metaindex};
use super::{BlockHandle, RESYNC_WINDOW, TRAILER_SIZE};
use crate::format::block::Block;
use crate::format::coding::read_fixed32;
use crate::format::{compress, crc};
use std::collections::{HashMap, HashSet};

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
    /// Discovery finds blocks inside a slice, so their offsets fit a
    /// usize; a handle made up elsewhere saturates, past any slice.
    pub fn start(&self) -> usize {
        usize::try_from(self.handle.offset).unwrap_or(usize::MAX)
    }

    /// Offset just past the trailer (saturating like [`Found::start`]).
    pub fn end(&self) -> usize {
        self.handle
            .end()
            .and_then(|e| usize::try_from(e).ok())
            .unwrap_or(usize::MAX)
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
    find_blocks_with(
        file,
        from,
        window,
        cap,
        ordered,
        compress::Codecs::default(),
    )
}

/// [`find_blocks_ordered`] under the store's codecs (Basho's type 2 is LZ4).
pub fn find_blocks_with(
    file: &[u8],
    from: usize,
    window: usize,
    cap: usize,
    ordered: bool,
    codecs: compress::Codecs,
) -> Vec<Found> {
    // Failed forward/backward searches may cost this much before only the
    // linear resync is left.
    let budget = file
        .len()
        .saturating_mul(8)
        .saturating_add(window.saturating_mul(2));
    discover(file, from, window, cap, budget, ordered, codecs)
}

pub(super) fn discover(
    file: &[u8],
    from: usize,
    window: usize,
    cap: usize,
    budget: usize,
    ordered: bool,
    codecs: compress::Codecs,
) -> Vec<Found> {
    let mut d = Discovery {
        file,
        ordered,
        codecs,
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
        let origin = if d.budget > 0 {
            pos.saturating_add(1)
        } else {
            pos
        };
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
    classify_indexes(file, &mut found, &d.handle_valued, cap, ordered, codecs);
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
    codecs: compress::Codecs,
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
        let kind = *self.file.get(e)?;
        let len = e.checked_sub(a)?;
        if self.decode_budget < len {
            return None;
        }
        self.decode_budget = self.decode_budget.saturating_sub(len);
        let data =
            compress::decompress_with(kind, self.file.get(a..e)?, self.cap, self.codecs).ok()?;
        self.decode_budget = self.decode_budget.saturating_sub(data.len());
        let shape = shape(&data, kind, self.ordered)?;
        if let Shape::Keyed { handles: true } = shape {
            self.handle_valued.insert(a as u64);
        }
        Some(Found {
            handle: BlockHandle {
                offset: a as u64,
                size: len as u64,
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
        read_fixed32(self.file, e.saturating_add(1)) == Some(crc::mask(!register))
    }

    /// The block starting at `a`, by a forward CRC run.
    fn forward(&mut self, a: usize) -> Option<Found> {
        let last = self.file.len().checked_sub(TRAILER_SIZE)?;
        let last = last.min(a.saturating_add(self.window));
        let mut r = !0u32;
        let bytes = self.file.iter().enumerate();
        for (e, &b) in bytes.take(last.saturating_add(1)).skip(a) {
            r = step(r, b);
            if compress::is_known(b) && self.trailer_matches(e, r) {
                if let Some(f) = self.accept(a, e) {
                    return Some(f);
                }
            }
        }
        self.spend(last.saturating_add(1).saturating_sub(a));
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
        let stored = read_fixed32(self.file, e.checked_add(1)?)?;
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
            a = a.saturating_sub(1);
            // `a` is below `e`, inside the file.
            r = unstep(r, *self.file.get(a)?);
        }
        self.spend(e.saturating_sub(floor).saturating_add(1));
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
        let bytes = self.file.iter().enumerate();
        for (p, &b) in bytes.take(last.saturating_add(1)).skip(origin) {
            if p.saturating_sub(gen_start) >= w {
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
                .get(p..p.saturating_add(16))
                .is_some_and(|w| w.iter().all(|&x| x == 0) || w.iter().all(|&x| x == 0xff));
            if !fill {
                cur.insert(norm ^ init, p);
            }
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
            let Some(stored) =
                read_fixed32(self.file, p.saturating_add(1)).filter(|&c| c != 0 && c != u32::MAX)
            else {
                continue;
            };
            let key = norm ^ mulmod(!crc::unmask(stored), pw);
            let hit = [cur.get(&key), prev.get(&key)]
                .into_iter()
                .flatten()
                .copied()
                .find(|&a| p.saturating_sub(a) <= w);
            if let Some(f) = hit.and_then(|a| self.accept(a, p)) {
                return Some(f);
            }
        }
        None
    }
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
    codecs: compress::Codecs,
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
        let Some(raw) = f
            .end()
            .checked_sub(TRAILER_SIZE)
            .and_then(|e| file.get(f.start()..e))
        else {
            continue;
        };
        let Ok(data) = compress::decompress_with(f.compression, raw, cap, codecs) else {
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
            matches = matches.saturating_add(usize::from(known.contains(&h)));
        }
        let abuts = end_prev == f.handle.offset || starts.contains(&end_prev);
        if ordered && (matches > 0 || abuts || s.all_max_seq || chain) {
            f.kind = FoundKind::Index;
        }
    }
}
