//! The blocks of a RocksDB block-based table, from
//! `table/block_based/{block_builder,block,data_block_footer,
//! data_block_hash_index,index_builder}.cc`, `table/format.cc` (IndexValue)
//! and `table/meta_blocks.cc` / `table/table_properties.cc`.
//!
//! ```text
//! data block:  entries | restarts: fixed32* | [hash index] | packed: fixed32
//!   packed = num_restarts | bit31 hash index | bit29 uniform keys |
//!            bit28 separated key/value storage
//!   hash index (bit31): buckets: u8 * num_buckets | num_buckets: fixed16
//!   entry: shared varint32 | non_shared varint32 | value_len varint32 |
//!          key delta | value          (LevelDB's layout)
//! index block: the same, but from format_version 4 values are
//!   delta-encoded ("rocksdb.index.value.is.delta.encoded"): no value_len;
//!   an entry with shared == 0 holds a full handle (varint64 offset, size),
//!   one with shared > 0 only zigzag-varint64(size - previous size), its
//!   offset following the previous block and its trailer. With the
//!   "first key" index type a length-prefixed first internal key follows.
//!   Keys are user keys when "rocksdb.index.key.is.user.key" is set.
//! two-level index: the top-level index's values are partition handles;
//!   each partition is an index block as above.
//! metaindex: name -> BlockHandle ("rocksdb.properties", "rocksdb.index"
//!   (format_version 6), "rocksdb.range_del", filters, ...)
//! properties: name -> value; numbers are varint64, strings raw.
//! range_del: internal key (begin, seq, 0xF) -> end user key.
//! ```

use super::super::block::{Block, BlockError};
use super::super::coding::{Cursor, DecodeError};
use super::BlockHandle;
use super::TRAILER_SIZE;
use std::fmt;

const HASH_INDEX_BIT: u32 = 1 << 31;
const UNIFORM_KEYS_BIT: u32 = 1 << 29;
const SEPARATED_KV_BIT: u32 = 1 << 28;
/// `kMaxNumRestarts`: the bits below the flags.
const MAX_NUM_RESTARTS: u32 = (1 << 28) - 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockDecodeError {
    TooShort,
    /// Key and value stored apart (a block layout newer than this reader).
    SeparatedKv,
    /// Flag bits set that RocksDB does not define.
    ReservedBits(u32),
    BadHashIndex,
    Block(BlockError),
    /// An index entry at `offset` whose value is malformed.
    BadIndexValue {
        offset: usize,
        cause: DecodeError,
    },
    /// A metaindex or properties entry whose value is malformed.
    BadValue {
        key: Vec<u8>,
    },
}

impl fmt::Display for BlockDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockDecodeError::TooShort => f.write_str("block too short for its footer"),
            BlockDecodeError::SeparatedKv => {
                f.write_str("block stores keys and values apart (unsupported layout)")
            }
            BlockDecodeError::ReservedBits(p) => {
                write!(f, "block footer {p:#010x} has undefined flag bits")
            }
            BlockDecodeError::BadHashIndex => f.write_str("data block hash index out of range"),
            BlockDecodeError::Block(e) => e.fmt(f),
            BlockDecodeError::BadIndexValue { offset, cause } => {
                write!(
                    f,
                    "index entry at block offset {offset}: bad value ({cause})"
                )
            }
            BlockDecodeError::BadValue { key } => write!(
                f,
                "entry {:?} has a malformed value",
                String::from_utf8_lossy(key)
            ),
        }
    }
}

impl std::error::Error for BlockDecodeError {}

impl From<BlockError> for BlockDecodeError {
    fn from(e: BlockError) -> Self {
        BlockDecodeError::Block(e)
    }
}

/// The packed footer of a block: entries and restarts, and the flags.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    /// Entries followed by the restart array.
    pub body: &'a [u8],
    pub num_restarts: u32,
    pub hash_index: bool,
    pub uniform_keys: bool,
}

/// Split a block's packed footer (`DataBlockFooter::DecodeFrom`) and strip
/// its hash index, if any.
pub fn layout(contents: &[u8]) -> Result<Layout<'_>, BlockDecodeError> {
    let (body, packed) = contents
        .split_last_chunk::<4>()
        .ok_or(BlockDecodeError::TooShort)?;
    let packed = u32::from_le_bytes(*packed);
    if packed & SEPARATED_KV_BIT != 0 {
        return Err(BlockDecodeError::SeparatedKv);
    }
    let hash_index = packed & HASH_INDEX_BIT != 0;
    let uniform_keys = packed & UNIFORM_KEYS_BIT != 0;
    let num_restarts = packed & !(HASH_INDEX_BIT | UNIFORM_KEYS_BIT);
    if num_restarts > MAX_NUM_RESTARTS {
        return Err(BlockDecodeError::ReservedBits(packed));
    }
    let body = if hash_index {
        let (before, nb) = body
            .split_last_chunk::<2>()
            .ok_or(BlockDecodeError::BadHashIndex)?;
        let nb = usize::from(u16::from_le_bytes(*nb));
        let end = before
            .len()
            .checked_sub(nb)
            .ok_or(BlockDecodeError::BadHashIndex)?;
        before.get(..end).ok_or(BlockDecodeError::BadHashIndex)?
    } else {
        body
    };
    Ok(Layout {
        body,
        num_restarts,
        hash_index,
        uniform_keys,
    })
}

/// A data (or meta) block, its hash index stripped, as a [`Block`].
pub fn block(contents: &[u8]) -> Result<Block<'_>, BlockDecodeError> {
    let l = layout(contents)?;
    Ok(Block::with_restart_count(l.body, l.num_restarts)?)
}

/// How an index block's entries are encoded (from the table properties).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexFormat {
    /// "rocksdb.index.value.is.delta.encoded".
    pub value_delta: bool,
    /// Index type 3 (`kBinarySearchWithFirstKey`).
    pub first_key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// A separator: an internal key, or a user key when the table says so.
    pub key: Vec<u8>,
    pub handle: BlockHandle,
    pub first_key: Option<Vec<u8>>,
}

/// Every entry of one index block (or partition, or top-level index).
/// Returns the entries decoded before any error, and the error.
pub fn index_entries(
    contents: &[u8],
    fmt: IndexFormat,
) -> (Vec<IndexEntry>, Option<BlockDecodeError>) {
    let mut out = Vec::new();
    let l = match layout(contents) {
        Ok(l) => l,
        Err(e) => return (out, Some(e)),
    };
    // Validates the restart array; entries are walked below.
    let blk = match Block::with_restart_count(l.body, l.num_restarts) {
        Ok(b) => b,
        Err(e) => return (out, Some(e.into())),
    };
    if !fmt.value_delta {
        let mut it = blk.iter();
        loop {
            let offset = it.position();
            let Some(r) = it.next() else { break };
            match r {
                Ok((k, v)) => {
                    let mut c = Cursor::new(v);
                    match decode_value(&mut c, fmt.first_key, None) {
                        Ok((handle, first_key)) => out.push(IndexEntry {
                            key: k.to_vec(),
                            handle,
                            first_key,
                        }),
                        Err(cause) => {
                            return (out, Some(BlockDecodeError::BadIndexValue { offset, cause }))
                        }
                    }
                }
                Err(e) => return (out, Some(e.into())),
            }
        }
        return (out, None);
    }
    // Delta-encoded values have no length field, so the generic iterator
    // cannot walk them; entries end where the restart array starts.
    let restarts_len = usize::try_from(l.num_restarts)
        .ok()
        .and_then(|n| n.checked_mul(4));
    let entries_len = restarts_len.and_then(|n| l.body.len().checked_sub(n));
    let Some(entries) = entries_len.and_then(|n| l.body.get(..n)) else {
        return (out, Some(BlockDecodeError::TooShort));
    };
    let mut c = Cursor::new(entries);
    let mut key: Vec<u8> = Vec::new();
    let mut prev: Option<BlockHandle> = None;
    while !c.is_empty() {
        let offset = c.position();
        let bad = |cause| BlockDecodeError::BadIndexValue { offset, cause };
        let step = (|| {
            let shared = c.varint32()?;
            let non_shared = c.varint32()?;
            let delta =
                c.bytes(usize::try_from(non_shared).map_err(|_| DecodeError::LengthOutOfRange)?)?;
            let shared = usize::try_from(shared).map_err(|_| DecodeError::LengthOutOfRange)?;
            if shared > key.len() {
                return Err(DecodeError::LengthOutOfRange);
            }
            key.truncate(shared);
            key.extend_from_slice(delta);
            let base = if shared > 0 { prev } else { None };
            if shared > 0 && base.is_none() {
                return Err(DecodeError::LengthOutOfRange);
            }
            decode_value(&mut c, fmt.first_key, base)
        })();
        match step {
            Ok((handle, first_key)) => {
                prev = Some(handle);
                out.push(IndexEntry {
                    key: key.clone(),
                    handle,
                    first_key,
                });
            }
            Err(cause) => return (out, Some(bad(cause))),
        }
    }
    (out, None)
}

/// `IndexValue::DecodeFrom`: a full handle, or a size delta after `prev`.
fn decode_value(
    c: &mut Cursor<'_>,
    first_key: bool,
    prev: Option<BlockHandle>,
) -> Result<(BlockHandle, Option<Vec<u8>>), DecodeError> {
    let handle = match prev {
        None => BlockHandle::decode(c)?,
        Some(p) => {
            let z = c.varint64()?;
            // Zigzag (`EncodeSignedInt64`).
            let delta = ((z >> 1) as i64) ^ 0i64.wrapping_sub((z & 1) as i64);
            let offset = p
                .offset
                .checked_add(p.size)
                .and_then(|o| o.checked_add(TRAILER_SIZE as u64))
                .ok_or(DecodeError::LengthOutOfRange)?;
            let size = p
                .size
                .checked_add_signed(delta)
                .ok_or(DecodeError::LengthOutOfRange)?;
            BlockHandle { offset, size }
        }
    };
    let first = if first_key {
        Some(c.length_prefixed()?.to_vec())
    } else {
        None
    };
    Ok((handle, first))
}

/// Name -> bytes entries, in stored order.
pub type Named = Vec<(Vec<u8>, Vec<u8>)>;
/// Metaindex entries: block name -> handle, in stored order.
pub type MetaIndex = Vec<(Vec<u8>, BlockHandle)>;

/// A block of name -> bytes entries (metaindex, properties).
pub fn named_entries(contents: &[u8]) -> Result<Named, BlockDecodeError> {
    let b = block(contents)?;
    let mut out = Vec::new();
    let mut it = b.iter();
    while let Some(r) = it.next() {
        let (k, v) = r?;
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// The metaindex: block name -> handle.
pub fn metaindex(contents: &[u8]) -> Result<MetaIndex, BlockDecodeError> {
    named_entries(contents)?
        .into_iter()
        .map(|(k, v)| match BlockHandle::decode_exact(&v) {
            Some(h) => Ok((k, h)),
            None => Err(BlockDecodeError::BadValue { key: k }),
        })
        .collect()
}

/// `include/rocksdb/table_properties.h`, the fields a salvage reports; every
/// entry is also kept raw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    pub column_family_id: Option<u64>,
    pub column_family_name: Option<String>,
    pub comparator: Option<String>,
    pub merge_operator: Option<String>,
    pub prefix_extractor: Option<String>,
    pub compression: Option<String>,
    pub num_entries: Option<u64>,
    pub num_deletions: Option<u64>,
    pub num_merge_operands: Option<u64>,
    pub num_range_deletions: Option<u64>,
    pub num_data_blocks: Option<u64>,
    pub format_version: Option<u64>,
    pub creation_time: Option<u64>,
    pub file_creation_time: Option<u64>,
    pub db_id: Option<String>,
    pub db_session_id: Option<String>,
    pub original_file_number: Option<u64>,
    /// `BlockBasedTableOptions::IndexType`, stored as fixed32.
    pub index_type: Option<u32>,
    pub index_key_is_user_key: Option<u64>,
    pub index_value_is_delta_encoded: Option<u64>,
    pub user_defined_timestamps_persisted: Option<u64>,
    /// Ingested (external) files store sequence 0 and this instead.
    pub global_seqno: Option<u64>,
    pub raw: Named,
}

pub const INDEX_BINARY_SEARCH: u32 = 0;
pub const INDEX_HASH_SEARCH: u32 = 1;
pub const INDEX_TWO_LEVEL: u32 = 2;
pub const INDEX_BINARY_SEARCH_WITH_FIRST_KEY: u32 = 3;

impl Properties {
    pub fn decode(contents: &[u8]) -> Result<Properties, BlockDecodeError> {
        let raw = named_entries(contents)?;
        let mut p = Properties::default();
        for (k, v) in &raw {
            let num = || Cursor::new(v).varint64().ok();
            let text = || Some(String::from_utf8_lossy(v).into_owned());
            match k.as_slice() {
                b"rocksdb.column.family.id" => p.column_family_id = num(),
                b"rocksdb.column.family.name" => p.column_family_name = text(),
                b"rocksdb.comparator" => p.comparator = text(),
                b"rocksdb.merge.operator" => p.merge_operator = text(),
                b"rocksdb.prefix.extractor.name" => p.prefix_extractor = text(),
                b"rocksdb.compression" => p.compression = text(),
                b"rocksdb.num.entries" => p.num_entries = num(),
                b"rocksdb.deleted.keys" => p.num_deletions = num(),
                b"rocksdb.merge.operands" => p.num_merge_operands = num(),
                b"rocksdb.num.range-deletions" => p.num_range_deletions = num(),
                b"rocksdb.num.data.blocks" => p.num_data_blocks = num(),
                b"rocksdb.format.version" => p.format_version = num(),
                b"rocksdb.creation.time" => p.creation_time = num(),
                b"rocksdb.file.creation.time" => p.file_creation_time = num(),
                b"rocksdb.creating.db.identity" => p.db_id = text(),
                b"rocksdb.creating.session.identity" => p.db_session_id = text(),
                b"rocksdb.original.file.number" => p.original_file_number = num(),
                b"rocksdb.block.based.table.index.type" => {
                    p.index_type = Cursor::new(v).fixed32().ok()
                }
                b"rocksdb.index.key.is.user.key" => p.index_key_is_user_key = num(),
                b"rocksdb.index.value.is.delta.encoded" => p.index_value_is_delta_encoded = num(),
                b"rocksdb.user.defined.timestamps.persisted" => {
                    p.user_defined_timestamps_persisted = num()
                }
                b"rocksdb.external_sst_file.global_seqno" => {
                    p.global_seqno = Cursor::new(v).fixed64().ok()
                }
                _ => {}
            }
        }
        p.raw = raw;
        Ok(p)
    }

    pub fn index_format(&self) -> IndexFormat {
        IndexFormat {
            value_delta: self.index_value_is_delta_encoded.unwrap_or(0) != 0,
            first_key: self.index_type == Some(INDEX_BINARY_SEARCH_WITH_FIRST_KEY),
        }
    }

    /// Bytes of user-defined timestamp at the end of each user key.
    pub fn timestamp_size(&self) -> usize {
        self.comparator
            .as_deref()
            .map_or(0, |c| super::ikey::timestamp_size(c.as_bytes()))
    }
}
