//! The contents of one (decompressed) table block.
//!
//! ```text
//! entry*:    shared: varint32      bytes shared with the previous key
//!            non_shared: varint32  bytes of key that follow
//!            value_len: varint32
//!            key_delta: non_shared bytes   key = prev_key[..shared] ++ key_delta
//!            value: value_len bytes
//! restarts:  fixed32 × num_restarts  offsets of entries that share nothing
//! num_restarts: fixed32
//! ```
//! Restart offsets start at 0, strictly ascend, and each lands on an entry
//! boundary whose `shared` is 0. An entry-less block (LevelDB writes one for an
//! empty metaindex) has `num_restarts` 1 with offset 0. Anything else is
//! damage, reported as a [`BlockError`]: LevelDB itself never writes it, so a
//! block that breaks these rules is not the block that was written.

use super::coding::{read_fixed32, suffix_offset, varint32_split, DecodeError};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// Too short to hold `num_restarts`.
    TooShort { len: usize },
    /// `num_restarts` claims more restart slots than the block has room for.
    TooManyRestarts { num_restarts: u32, max: usize },
    /// Entries but not a single restart point.
    NoRestarts,
    /// A restart offset at or past the start of the restart array.
    RestartOutOfBounds {
        index: usize,
        offset: u32,
        limit: usize,
    },
    /// Restart offsets not strictly ascending from 0.
    RestartsUnordered { index: usize },
    /// A restart offset that does not land on an entry boundary.
    RestartMidEntry { offset: u32 },
    /// The entry at a restart point claims a shared prefix.
    RestartShared { offset: usize },
    /// An entry header with a malformed or cut varint.
    BadEntry { offset: usize, cause: DecodeError },
    /// `shared` exceeds the previous key's length.
    SharedTooLong {
        offset: usize,
        shared: u32,
        prev_len: usize,
    },
    /// Key delta plus value run into the restart array.
    EntryPastRestarts {
        offset: usize,
        needed: u64,
        available: usize,
    },
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BlockError::TooShort { len } => {
                write!(f, "block of {len} bytes is too short for its restart count")
            }
            BlockError::TooManyRestarts { num_restarts, max } => write!(
                f,
                "block claims {num_restarts} restart points but has room for {max}"
            ),
            BlockError::NoRestarts => write!(f, "block has entries but no restart points"),
            BlockError::RestartOutOfBounds {
                index,
                offset,
                limit,
            } => write!(
                f,
                "restart point {index} at offset {offset} is outside the entries (which end at {limit})"
            ),
            BlockError::RestartsUnordered { index } => {
                write!(f, "restart point {index} is out of order")
            }
            BlockError::RestartMidEntry { offset } => {
                write!(f, "restart point {offset} is not at an entry boundary")
            }
            BlockError::RestartShared { offset } => {
                write!(f, "entry at restart point {offset} shares a key prefix")
            }
            BlockError::BadEntry { offset, cause } => {
                write!(f, "entry at block offset {offset} is malformed ({cause})")
            }
            BlockError::SharedTooLong {
                offset,
                shared,
                prev_len,
            } => write!(
                f,
                "entry at block offset {offset} shares {shared} bytes of a {prev_len}-byte previous key"
            ),
            BlockError::EntryPastRestarts {
                offset,
                needed,
                available,
            } => write!(
                f,
                "entry at block offset {offset} needs {needed} bytes but only {available} remain before the restart array"
            ),
        }
    }
}

impl std::error::Error for BlockError {}

/// A block whose restart array has been validated.
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    entries: &'a [u8],
    restarts: &'a [u8],
}

impl<'a> Block<'a> {
    /// Check the restart array; entries are checked as they are iterated.
    pub fn new(contents: &'a [u8]) -> Result<Block<'a>, BlockError> {
        let len = contents.len();
        let (body, count) = contents
            .split_last_chunk::<4>()
            .ok_or(BlockError::TooShort { len })?;
        Block::with_restart_count(body, u32::from_le_bytes(*count))
    }

    /// A block whose restart count was stored apart from its restart array
    /// (RocksDB packs flag bits beside the count and may put a hash index
    /// between the two): `body` is the entries followed by the restart
    /// array, without the count.
    pub fn with_restart_count(body: &'a [u8], num_restarts: u32) -> Result<Block<'a>, BlockError> {
        let too_many = BlockError::TooManyRestarts {
            num_restarts,
            max: body.len() / 4,
        };
        let restarts_at = usize::try_from(num_restarts)
            .ok()
            .and_then(|n| n.checked_mul(4))
            .and_then(|bytes| body.len().checked_sub(bytes))
            .ok_or(too_many)?;
        let (entries, restarts) = body.split_at_checked(restarts_at).ok_or(too_many)?;
        let block = Block { entries, restarts };
        block.check_restarts()?;
        Ok(block)
    }

    fn check_restarts(&self) -> Result<(), BlockError> {
        let limit = self.entries.len();
        if limit == 0 {
            // LevelDB's empty block still records restart 0; any other
            // restart points past the (empty) entries.
            let mut r = self.restarts();
            return match (r.next(), r.next()) {
                (None | Some(0), None) => Ok(()),
                (_, Some(offset)) => Err(BlockError::RestartOutOfBounds {
                    index: 1,
                    offset,
                    limit,
                }),
                (Some(offset), None) => Err(BlockError::RestartOutOfBounds {
                    index: 0,
                    offset,
                    limit,
                }),
            };
        }
        if self.num_restarts() == 0 {
            return Err(BlockError::NoRestarts);
        }
        let mut prev: Option<u32> = None;
        for (index, offset) in self.restarts().enumerate() {
            if offset as usize >= limit {
                return Err(BlockError::RestartOutOfBounds {
                    index,
                    offset,
                    limit,
                });
            }
            let ordered = match prev {
                None => offset == 0,
                Some(p) => offset > p,
            };
            if !ordered {
                return Err(BlockError::RestartsUnordered { index });
            }
            prev = Some(offset);
        }
        Ok(())
    }

    pub fn num_restarts(&self) -> usize {
        self.restarts.len() / 4
    }

    pub fn restart(&self, i: usize) -> Option<u32> {
        read_fixed32(self.restarts, i.checked_mul(4)?)
    }

    /// The restart offsets, in stored order.
    pub fn restarts(&self) -> impl ExactSizeIterator<Item = u32> + Clone + 'a {
        Restarts {
            rest: self.restarts,
        }
    }

    /// Whether the block holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> BlockIter<'a> {
        let mut it = BlockIter {
            entries: self.entries,
            restarts: self.restarts,
            pos: 0,
            restart_at: None,
            key: Vec::with_capacity(64),
            shared: 0,
            done: false,
        };
        it.load_restart();
        it
    }
}

/// The restart array read four bytes at a time.
#[derive(Debug, Clone)]
struct Restarts<'a> {
    rest: &'a [u8],
}

impl Iterator for Restarts<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (r, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(u32::from_le_bytes(*r))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / 4;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Restarts<'_> {}

/// One entry: the key (borrowing the iterator) and the value (borrowing the
/// block).
pub type EntryResult<'k, 'v> = Result<(&'k [u8], &'v [u8]), BlockError>;

/// An entry with the length of the prefix its key shares with the previous.
pub type SharedEntryResult<'k, 'v> = Result<(usize, &'k [u8], &'v [u8]), BlockError>;

/// Walks a block's entries, rebuilding each key into one reused buffer, so
/// iterating allocates only while the longest key grows. After the first
/// error it yields nothing more.
#[derive(Debug, Clone)]
pub struct BlockIter<'a> {
    entries: &'a [u8],
    /// The restart offsets not yet loaded into `restart_at`.
    restarts: &'a [u8],
    pos: usize,
    /// The first restart offset not yet passed (`None` past the last).
    restart_at: Option<u32>,
    key: Vec<u8>,
    /// How many leading bytes the current key shares with the previous one.
    shared: usize,
    done: bool,
}

impl<'a> BlockIter<'a> {
    /// Byte offset (within the block) of the next entry.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next `(key, value)`; the key borrows the iterator's buffer and is
    /// valid until the next call.
    #[allow(clippy::should_implement_trait)] // a lending iterator, unlike Iterator
    pub fn next(&mut self) -> Option<EntryResult<'_, 'a>> {
        self.next_shared().map(|r| r.map(|(_, k, v)| (k, v)))
    }

    /// [`next`](Self::next), with how many leading bytes the key shares with
    /// the previous key (0 for the first). Those bytes are equal, so an order
    /// check can start after them: per entry it then costs the bytes that
    /// changed, not the key's length, which a hostile block can make huge.
    pub fn next_shared(&mut self) -> Option<SharedEntryResult<'_, 'a>> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(value)) => Some(Ok((self.shared, &self.key, value))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// Load the next restart offset, or `None` when none are left.
    fn load_restart(&mut self) {
        self.restart_at = match self.restarts.split_first_chunk::<4>() {
            Some((r, rest)) => {
                self.restarts = rest;
                Some(u32::from_le_bytes(*r))
            }
            None => None,
        };
    }

    fn step(&mut self) -> Result<Option<&'a [u8]>, BlockError> {
        let offset = self.pos;
        let rest = match self.entries.get(offset..) {
            Some(rest) if !rest.is_empty() => rest,
            _ => {
                return match self.restart_at {
                    // Restarts were validated to lie inside the entries, so
                    // any left unvisited pointed into the middle of one.
                    Some(r) if offset != 0 => Err(BlockError::RestartMidEntry { offset: r }),
                    _ => Ok(None),
                };
            }
        };
        let at_restart = self.restart_at.is_some_and(|r| r as usize == offset);
        if at_restart {
            self.load_restart();
        } else if let Some(r) = self.restart_at.filter(|&r| (r as usize) < offset) {
            return Err(BlockError::RestartMidEntry { offset: r });
        }
        let (shared, non_shared, value_len, body) = match rest {
            // LevelDB's fast path: three one-byte varints.
            [a, b, c, body @ ..] if (a | b | c) < 0x80 => {
                (u32::from(*a), u32::from(*b), u32::from(*c), body)
            }
            _ => {
                let bad = |cause| BlockError::BadEntry { offset, cause };
                let (s, r) = varint32_split(rest).map_err(bad)?;
                let (n, r) = varint32_split(r).map_err(bad)?;
                let (v, r) = varint32_split(r).map_err(bad)?;
                (s, n, v, r)
            }
        };
        if at_restart && shared != 0 {
            return Err(BlockError::RestartShared { offset });
        }
        let shared_len = shared as usize;
        if shared_len > self.key.len() {
            return Err(BlockError::SharedTooLong {
                offset,
                shared,
                prev_len: self.key.len(),
            });
        }
        let past = || BlockError::EntryPastRestarts {
            offset,
            // Two u32s: the sum cannot saturate a u64.
            needed: u64::from(non_shared).saturating_add(u64::from(value_len)),
            available: body.len(),
        };
        let (delta, after) = body
            .split_at_checked(non_shared as usize)
            .ok_or_else(past)?;
        let (value, next) = after
            .split_at_checked(value_len as usize)
            .ok_or_else(past)?;
        self.key.truncate(shared_len);
        self.key.extend_from_slice(delta);
        self.shared = shared_len;
        self.pos = suffix_offset(self.entries, next);
        Ok(Some(value))
    }
}

/// A block with one restart: `first` whole, then one entry per tail that
/// keeps the previous key's first `keep` bytes and appends the tail. Built by
/// hand because `BlockBuilder` finds shared prefixes by comparing whole keys,
/// too slow for the huge-key blocks that tests feed the readers.
#[cfg(test)]
pub(crate) fn shared_prefix_block(
    first: &[u8],
    keep: usize,
    tails: &[&[u8]],
    value: &[u8],
) -> Vec<u8> {
    use super::coding::put_varint32;
    let mut buf = Vec::new();
    let mut entry = |shared: usize, delta: &[u8]| {
        put_varint32(&mut buf, shared as u32);
        put_varint32(&mut buf, delta.len() as u32);
        put_varint32(&mut buf, value.len() as u32);
        buf.extend_from_slice(delta);
        buf.extend_from_slice(value);
    };
    entry(0, first);
    for t in tails {
        entry(keep, t);
    }
    buf.extend_from_slice(&0u32.to_le_bytes());
    buf.extend_from_slice(&1u32.to_le_bytes());
    buf
}

/// Builds blocks the way LevelDB's `BlockBuilder` does: the table writer's
/// data, index and metaindex blocks, and blocks that tests craft.
#[derive(Debug, Clone)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    interval: usize,
    counter: usize,
    last_key: Vec<u8>,
}

/// An entry the block format cannot describe: a key or value length, or the
/// entry's offset, past what a fixed32/varint32 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTooLarge;

impl fmt::Display for BlockTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a block entry needs a length or offset of 4 GiB or more")
    }
}

impl std::error::Error for BlockTooLarge {}

impl BlockBuilder {
    pub fn new(interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            interval: interval.max(1),
            counter: 0,
            last_key: Vec::new(),
        }
    }

    /// Append an entry; keys are taken in the order given. A refused entry
    /// leaves the block unchanged.
    pub fn try_add(&mut self, key: &[u8], value: &[u8]) -> Result<(), BlockTooLarge> {
        use super::coding::put_varint32;
        let restart = self.counter >= self.interval;
        let shared = if restart {
            0
        } else {
            key.iter()
                .zip(&self.last_key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        let delta = key.get(shared..).unwrap_or_default();
        let offset = u32::try_from(self.buf.len()).map_err(|_| BlockTooLarge)?;
        let shared32 = u32::try_from(shared).map_err(|_| BlockTooLarge)?;
        let delta32 = u32::try_from(delta.len()).map_err(|_| BlockTooLarge)?;
        let value32 = u32::try_from(value.len()).map_err(|_| BlockTooLarge)?;
        if restart {
            self.restarts.push(offset);
            self.counter = 0;
        }
        put_varint32(&mut self.buf, shared32);
        put_varint32(&mut self.buf, delta32);
        put_varint32(&mut self.buf, value32);
        self.buf.extend_from_slice(delta);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(delta);
        self.counter = self.counter.saturating_add(1);
        Ok(())
    }

    /// [`BlockBuilder::try_add`] for tests, whose entries always fit.
    #[cfg(test)]
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        self.try_add(key, value).expect("a test entry under 4 GiB");
    }

    /// The length [`BlockBuilder::finish`] would return; LevelDB cuts blocks
    /// on this figure.
    pub fn size_estimate(&self) -> usize {
        self.restarts
            .len()
            .saturating_mul(4)
            .saturating_add(self.buf.len())
            .saturating_add(4)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The block's bytes. There are at most one restart per entry and each
    /// entry takes at least 3 bytes below 4 GiB, so the count fits a fixed32.
    pub fn finish(self) -> Vec<u8> {
        let mut out = self.buf;
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        let count = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        out
    }
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn collect(contents: &[u8]) -> Result<Pairs, BlockError> {
        let b = Block::new(contents)?;
        let mut it = b.iter();
        let mut out = Vec::new();
        while let Some(r) = it.next() {
            let (k, v) = r?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn sample(interval: usize) -> (Vec<u8>, Pairs) {
        let mut b = BlockBuilder::new(interval);
        let mut want = Vec::new();
        for i in 0..40u32 {
            let k = format!("key{:05}", i * 7).into_bytes();
            let v = format!("value-{i}").repeat(i as usize % 4).into_bytes();
            b.add(&k, &v);
            want.push((k, v));
        }
        (b.finish(), want)
    }

    #[test]
    fn roundtrip_with_prefix_compression() {
        for interval in [1, 3, 16, 100] {
            let (block, want) = sample(interval);
            assert_eq!(collect(&block).unwrap(), want);
            let b = Block::new(&block).unwrap();
            assert_eq!(b.num_restarts(), 40usize.div_ceil(interval));
            assert_eq!(b.restarts().next(), Some(0));
        }
    }

    #[test]
    fn empty_block() {
        // What LevelDB writes for an empty metaindex: restart [0], count 1.
        let b = BlockBuilder::new(16).finish();
        assert_eq!(b, [0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(collect(&b).unwrap(), vec![]);
        assert!(Block::new(&b).unwrap().is_empty());
        assert_eq!(collect(&[0, 0, 0, 0]).unwrap(), vec![]);
        assert_eq!(collect(&[]).unwrap_err(), BlockError::TooShort { len: 0 });
        assert_eq!(
            collect(&[1, 0, 0]).unwrap_err(),
            BlockError::TooShort { len: 3 }
        );
        // Two restarts in an entry-less block point past the (empty) entries.
        assert_eq!(
            collect(&[0, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0]).unwrap_err(),
            BlockError::RestartOutOfBounds {
                index: 1,
                offset: 4,
                limit: 0
            }
        );
        // So does a lone restart other than 0; it is the one named.
        assert_eq!(
            collect(&[5, 0, 0, 0, 1, 0, 0, 0]).unwrap_err(),
            BlockError::RestartOutOfBounds {
                index: 0,
                offset: 5,
                limit: 0
            }
        );
    }

    #[test]
    fn huge_num_restarts() {
        let (mut block, _) = sample(16);
        let n = block.len();
        block[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            collect(&block).unwrap_err(),
            BlockError::TooManyRestarts {
                num_restarts: u32::MAX,
                ..
            }
        ));
        // Exactly one more than fits.
        let max = (n - 4) / 4;
        block[n - 4..].copy_from_slice(&(max as u32 + 1).to_le_bytes());
        assert!(matches!(
            collect(&block).unwrap_err(),
            BlockError::TooManyRestarts { .. }
        ));
    }

    #[test]
    fn restart_outside_the_entries() {
        let (mut block, _) = sample(16);
        let n = block.len();
        // Last restart (of 3) points at the restart array itself.
        let at = n - 8;
        let restarts_at = n - 4 - 12;
        block[at..at + 4].copy_from_slice(&(restarts_at as u32).to_le_bytes());
        assert!(matches!(
            collect(&block).unwrap_err(),
            BlockError::RestartOutOfBounds { index: 2, .. }
        ));
        block[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            collect(&block).unwrap_err(),
            BlockError::RestartOutOfBounds { .. }
        ));
    }

    #[test]
    fn restart_order_and_placement() {
        let (block, _) = sample(16);
        let n = block.len();
        let first = n - 4 - 12;
        // First restart not 0.
        let mut b = block.clone();
        b[first..first + 4].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            collect(&b).unwrap_err(),
            BlockError::RestartsUnordered { index: 0 }
        );
        // Second restart moved one byte into an entry.
        let mut b = block.clone();
        let r1 = u32::from_le_bytes(b[first + 4..first + 8].try_into().unwrap());
        b[first + 4..first + 8].copy_from_slice(&(r1 + 1).to_le_bytes());
        assert_eq!(
            collect(&b).unwrap_err(),
            BlockError::RestartMidEntry { offset: r1 + 1 }
        );
        // Second restart moved back onto a prefix-compressed entry.
        let mut b = block.clone();
        let mut it = Block::new(&block).unwrap().iter();
        it.next();
        let second_entry = it.position() as u32;
        b[first + 4..first + 8].copy_from_slice(&second_entry.to_le_bytes());
        assert!(matches!(
            collect(&b).unwrap_err(),
            BlockError::RestartShared { .. }
        ));
        // Entries but zero restarts.
        let mut b = block[..first].to_vec();
        b.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(collect(&b).unwrap_err(), BlockError::NoRestarts);
    }

    #[test]
    fn shared_longer_than_previous_key() {
        let mut b = BlockBuilder::new(16);
        b.add(b"abc", b"1");
        b.add(b"abd", b"2");
        let mut block = b.finish();
        // Entry 1 starts at 3 + 3 + 1 = 7; its shared byte is 2, make it 9.
        assert_eq!(block[7], 2);
        block[7] = 9;
        assert_eq!(
            collect(&block).unwrap_err(),
            BlockError::SharedTooLong {
                offset: 7,
                shared: 9,
                prev_len: 3
            }
        );
        // The first entry of a block can share nothing.
        let mut b = BlockBuilder::new(16);
        b.add(b"abc", b"1");
        let mut block = b.finish();
        block[0] = 1;
        assert!(matches!(
            collect(&block).unwrap_err(),
            BlockError::RestartShared { offset: 0 }
        ));
    }

    #[test]
    fn entry_running_past_the_restarts() {
        let mut b = BlockBuilder::new(16);
        b.add(b"abc", b"1");
        b.add(b"abd", b"2");
        let mut block = b.finish();
        // Entry 1's value_len (byte 9) claims 100 bytes.
        block[9] = 100;
        let e = collect(&block).unwrap_err();
        assert!(
            matches!(e, BlockError::EntryPastRestarts { offset: 7, .. }),
            "{e:?}"
        );
        // A varint cut by the restart array.
        let mut block = vec![0x80, 0x80];
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        assert!(matches!(
            collect(&block).unwrap_err(),
            BlockError::BadEntry { offset: 0, .. }
        ));
        // Multi-byte varints decode through the slow path.
        let mut block = vec![0x00, 0x81, 0x00, 0x00];
        block.push(b'k');
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        assert_eq!(collect(&block).unwrap(), vec![(b"k".to_vec(), vec![])]);
    }

    #[test]
    fn iteration_stops_after_an_error() {
        let mut b = BlockBuilder::new(16);
        b.add(b"abc", b"1");
        b.add(b"abd", b"2");
        let mut block = b.finish();
        block[7] = 9;
        let blk = Block::new(&block).unwrap();
        let mut it = blk.iter();
        assert!(matches!(it.next(), Some(Ok((k, v))) if k == b"abc" && v == b"1"));
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
    }

    #[test]
    fn every_mutation_and_prefix_is_safe() {
        let (block, _) = sample(4);
        for cut in 0..=block.len() {
            let _ = collect(&block[..cut]);
        }
        for i in 0..block.len() {
            for v in [0x00, 0x7f, 0x80, 0xff] {
                let mut b = block.clone();
                b[i] = v;
                let _ = collect(&b);
            }
        }
    }
}
