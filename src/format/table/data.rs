//! A decompressed data (or index) block checked as table entries:
//!
//! ```text
//! entry:  internal key (user key ++ tag: fixed64) → value, block layout as
//!         in `format::block`; keys strictly ascending in internal-key order
//!         (unless the store has its own comparator)
//! ```
//! An index block has the same shape, with block handles for values and
//! LevelDB's separator sequence number on shortened keys.

use super::{BlockHandle, MAX_SEQUENCE};
use crate::format::block::{Block, BlockError};
use crate::format::ikey;
use std::fmt;

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
        match k.get(shared..) {
            Some(delta) => {
                prev.truncate(shared);
                prev.extend_from_slice(delta);
            }
            None => {
                prev.clear();
                prev.extend_from_slice(k);
            }
        }
        s.entries = s.entries.saturating_add(1);
    }
    if s.entries == 0 {
        s.min_seq = 0;
        s.values_are_handles = false;
        s.all_max_seq = false;
    }
    s.last_key = prev;
    Ok(s)
}
