//! RocksDB internal keys, as `db/dbformat.h` lays them out:
//!
//! ```text
//! user_key | tag: fixed64 = (sequence << 8) | value_type
//! ```
//! Value types stored in tables (WAL-only types never reach one):
//! 0x0 deletion, 0x1 value, 0x2 merge, 0x7 single deletion,
//! 0xF range deletion (range_del block only), 0x11 blob index,
//! 0x14 deletion with timestamp, 0x16 wide-column entity,
//! 0x18 value with preferred sequence number.
//! With user-defined timestamps the comparator name carries a suffix
//! (`.u64ts` for the built-in 8-byte one) and the timestamp is the last
//! bytes of the user key, unless the table's
//! `rocksdb.user.defined.timestamps.persisted` is `0`.

pub const TAG_SIZE: usize = 8;
pub const DELETION: u8 = 0x0;
pub const VALUE: u8 = 0x1;
pub const MERGE: u8 = 0x2;
pub const SINGLE_DELETION: u8 = 0x7;
pub const RANGE_DELETION: u8 = 0xF;
pub const BLOB_INDEX: u8 = 0x11;
pub const DELETION_WITH_TIMESTAMP: u8 = 0x14;
pub const WIDE_COLUMN_ENTITY: u8 = 0x16;
pub const VALUE_PREFERRED_SEQNO: u8 = 0x18;

/// The name of a value type a table can hold, or `None`.
pub fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        DELETION => "deletion",
        VALUE => "value",
        MERGE => "merge",
        SINGLE_DELETION => "single-deletion",
        RANGE_DELETION => "range-deletion",
        BLOB_INDEX => "blob-index",
        DELETION_WITH_TIMESTAMP => "deletion-with-timestamp",
        WIDE_COLUMN_ENTITY => "wide-column-entity",
        VALUE_PREFERRED_SEQNO => "value-preferred-seqno",
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InternalKey<'a> {
    pub user_key: &'a [u8],
    pub seq: u64,
    pub kind: u8,
}

/// Split an internal key; `None` if shorter than its tag.
pub fn parse(ikey: &[u8]) -> Option<InternalKey<'_>> {
    let (user_key, tag) = ikey.split_last_chunk::<TAG_SIZE>()?;
    let tag = u64::from_le_bytes(*tag);
    Some(InternalKey {
        user_key,
        seq: tag >> 8,
        kind: (tag & 0xff) as u8,
    })
}

/// The user-defined timestamp size a comparator name announces
/// (`util/comparator.cc` names the built-in one with `.u64ts`), or 0.
pub fn timestamp_size(comparator: &[u8]) -> usize {
    if comparator.ends_with(b".u64ts") {
        8
    } else {
        0
    }
}
