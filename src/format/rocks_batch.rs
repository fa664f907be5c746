//! RocksDB's WriteBatch: the payload of every logical record of its
//! write-ahead log (`db/write_batch.cc`, `db/dbformat.h`,
//! `include/rocksdb/write_batch.h` of facebook/rocksdb).
//!
//! ```text
//! sequence: fixed64   sequence number of the first key operation
//! count:    fixed32   number of key operations (not of records)
//! records until the payload ends, each tag: u8 then
//!   key operations, each also as a ColumnFamily* tag whose fields follow a
//!   column family id: varint32 (no tag means the default family, id 0):
//!     0x01 Value / 0x05 CF          key, value        (length-prefixed)
//!     0x00 Deletion / 0x04 CF       key
//!     0x07 SingleDeletion / 0x08 CF key
//!     0x0F RangeDeletion / 0x0E CF  begin key, end key
//!     0x02 Merge / 0x06 CF          key, operand
//!     0x11 BlobIndex / 0x10 CF      key, blob index
//!     0x16 WideColumnEntity / 0x17 CF   key, serialized columns
//!     0x18 ValuePreferredSeqno / 0x19 CF (TimedPut)
//!                                   key, value ++ write time: fixed64
//!   other records, which are not counted:
//!     0x03 LogData                  blob          (length-prefixed)
//!     0x0D Noop
//!     0x09 BeginPrepareXID, 0x12 BeginPersistedPrepareXID,
//!     0x13 BeginUnprepareXID        nothing
//!     0x0A EndPrepareXID, 0x0B CommitXID, 0x0C RollbackXID   xid
//!     0x15 CommitXIDAndTimestamp    commit timestamp, xid
//! ```
//! RocksDB's reader (`WriteBatchInternal::Iterate`) reads records until the
//! payload ends and then requires the key operations to number `count`.
//!
//! Sequence numbers: in the default mode each key operation takes the next
//! one, in order, from `sequence`, and no other record takes any
//! (`MemTableInserter::MaybeAdvanceSeq`). That is what [`for_each`]
//! reports. A store written with `seq_per_batch` (WritePrepared and
//! WriteUnprepared transactions) instead gives every key operation of a
//! sub-batch the same number, advancing it at sub-batch boundaries (EndPrepare,
//! Commit, Rollback, a Noop after a key operation) and at a repeated key; the
//! numbers reported then are not the ones the store used.
//!
//! A store with user-defined timestamps keeps each key's timestamp as the
//! key's last bytes (their size per column family is in the log's timestamp
//! size records, [`super::log::decode_timestamp_sizes`]); keys are given as
//! written.

use super::coding::DecodeError;
use super::coding::{put_fixed32, put_fixed64, put_length_prefixed, put_varint32, Cursor};
use std::fmt;

pub const HEADER_SIZE: usize = 12;

const TYPE_DELETION: u8 = 0x00;
const TYPE_VALUE: u8 = 0x01;
const TYPE_MERGE: u8 = 0x02;
const TYPE_LOG_DATA: u8 = 0x03;
const TYPE_CF_DELETION: u8 = 0x04;
const TYPE_CF_VALUE: u8 = 0x05;
const TYPE_CF_MERGE: u8 = 0x06;
const TYPE_SINGLE_DELETION: u8 = 0x07;
const TYPE_CF_SINGLE_DELETION: u8 = 0x08;
const TYPE_BEGIN_PREPARE_XID: u8 = 0x09;
const TYPE_END_PREPARE_XID: u8 = 0x0A;
const TYPE_COMMIT_XID: u8 = 0x0B;
const TYPE_ROLLBACK_XID: u8 = 0x0C;
const TYPE_NOOP: u8 = 0x0D;
const TYPE_CF_RANGE_DELETION: u8 = 0x0E;
const TYPE_RANGE_DELETION: u8 = 0x0F;
const TYPE_CF_BLOB_INDEX: u8 = 0x10;
const TYPE_BLOB_INDEX: u8 = 0x11;
const TYPE_BEGIN_PERSISTED_PREPARE_XID: u8 = 0x12;
const TYPE_BEGIN_UNPREPARE_XID: u8 = 0x13;
const TYPE_COMMIT_XID_AND_TIMESTAMP: u8 = 0x15;
const TYPE_WIDE_COLUMN_ENTITY: u8 = 0x16;
const TYPE_CF_WIDE_COLUMN_ENTITY: u8 = 0x17;
const TYPE_VALUE_PREFERRED_SEQNO: u8 = 0x18;
const TYPE_CF_VALUE_PREFERRED_SEQNO: u8 = 0x19;

/// A key operation: what a batch's count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RocksOp {
    Put,
    Delete,
    SingleDelete,
    RangeDelete,
    Merge,
    BlobIndex,
    /// A wide-column entity (PutEntity).
    Entity,
    /// A put with its unix write time (TimedPut).
    TimedPut,
}

impl RocksOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RocksOp::Put => "put",
            RocksOp::Delete => "delete",
            RocksOp::SingleDelete => "single_delete",
            RocksOp::RangeDelete => "range_delete",
            RocksOp::Merge => "merge",
            RocksOp::BlobIndex => "blob_index",
            RocksOp::Entity => "put_entity",
            RocksOp::TimedPut => "timed_put",
        }
    }

    /// The tag of the operation in the default column family, and the tag
    /// with a column family id.
    fn tags(self) -> (u8, u8) {
        match self {
            RocksOp::Put => (TYPE_VALUE, TYPE_CF_VALUE),
            RocksOp::Delete => (TYPE_DELETION, TYPE_CF_DELETION),
            RocksOp::SingleDelete => (TYPE_SINGLE_DELETION, TYPE_CF_SINGLE_DELETION),
            RocksOp::RangeDelete => (TYPE_RANGE_DELETION, TYPE_CF_RANGE_DELETION),
            RocksOp::Merge => (TYPE_MERGE, TYPE_CF_MERGE),
            RocksOp::BlobIndex => (TYPE_BLOB_INDEX, TYPE_CF_BLOB_INDEX),
            RocksOp::Entity => (TYPE_WIDE_COLUMN_ENTITY, TYPE_CF_WIDE_COLUMN_ENTITY),
            RocksOp::TimedPut => (TYPE_VALUE_PREFERRED_SEQNO, TYPE_CF_VALUE_PREFERRED_SEQNO),
        }
    }

    /// (operation, whether a column family id follows the tag, whether a
    /// second length-prefixed field follows the key).
    fn from_tag(tag: u8) -> Option<(RocksOp, bool, bool)> {
        Some(match tag {
            TYPE_VALUE => (RocksOp::Put, false, true),
            TYPE_CF_VALUE => (RocksOp::Put, true, true),
            TYPE_DELETION => (RocksOp::Delete, false, false),
            TYPE_CF_DELETION => (RocksOp::Delete, true, false),
            TYPE_SINGLE_DELETION => (RocksOp::SingleDelete, false, false),
            TYPE_CF_SINGLE_DELETION => (RocksOp::SingleDelete, true, false),
            TYPE_RANGE_DELETION => (RocksOp::RangeDelete, false, true),
            TYPE_CF_RANGE_DELETION => (RocksOp::RangeDelete, true, true),
            TYPE_MERGE => (RocksOp::Merge, false, true),
            TYPE_CF_MERGE => (RocksOp::Merge, true, true),
            TYPE_BLOB_INDEX => (RocksOp::BlobIndex, false, true),
            TYPE_CF_BLOB_INDEX => (RocksOp::BlobIndex, true, true),
            TYPE_WIDE_COLUMN_ENTITY => (RocksOp::Entity, false, true),
            TYPE_CF_WIDE_COLUMN_ENTITY => (RocksOp::Entity, true, true),
            TYPE_VALUE_PREFERRED_SEQNO => (RocksOp::TimedPut, false, true),
            TYPE_CF_VALUE_PREFERRED_SEQNO => (RocksOp::TimedPut, true, true),
            _ => return None,
        })
    }
}

/// One key operation, borrowing from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RocksBatchEntry<'a> {
    /// In the default sequencing mode (see the module's notes).
    pub seq: u64,
    /// Column family id; 0 is the default family.
    pub cf: u32,
    pub op: RocksOp,
    /// A range delete's begin key.
    pub key: &'a [u8],
    /// Empty for deletes; a range delete's end key; a merge's operand; a
    /// blob index; an entity's serialized columns; a timed put's value
    /// without its write time.
    pub value: &'a [u8],
    /// A timed put's unix write time.
    pub write_time: Option<u64>,
}

/// A record that is not a key operation: no sequence number, not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker<'a> {
    /// kTypeLogData: a blob the application attached to the batch.
    LogData(&'a [u8]),
    /// kTypeNoop: a sub-batch boundary, or nothing.
    Noop,
    /// kTypeBeginPrepareXID (WriteCommitted transactions).
    BeginPrepare,
    /// kTypeBeginPersistedPrepareXID (WritePrepared).
    BeginPersistedPrepare,
    /// kTypeBeginUnprepareXID (WriteUnprepared).
    BeginUnprepare,
    EndPrepare {
        xid: &'a [u8],
    },
    Commit {
        xid: &'a [u8],
    },
    CommitWithTimestamp {
        xid: &'a [u8],
        timestamp: &'a [u8],
    },
    Rollback {
        xid: &'a [u8],
    },
}

impl Marker<'_> {
    pub fn as_str(&self) -> &'static str {
        match self {
            Marker::LogData(_) => "log_data",
            Marker::Noop => "noop",
            Marker::BeginPrepare => "begin_prepare",
            Marker::BeginPersistedPrepare => "begin_persisted_prepare",
            Marker::BeginUnprepare => "begin_unprepare",
            Marker::EndPrepare { .. } => "end_prepare",
            Marker::Commit { .. } => "commit",
            Marker::CommitWithTimestamp { .. } => "commit_with_timestamp",
            Marker::Rollback { .. } => "rollback",
        }
    }
}

/// One record of a batch, in payload order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Entry(RocksBatchEntry<'a>),
    Marker(Marker<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RocksBatchError {
    /// Shorter than the 12-byte header.
    TooShort,
    /// Record `index` (counting every record) has a tag RocksDB does not
    /// write.
    BadTag { index: u32, tag: u8 },
    /// Record `index` runs past the payload or has a malformed varint.
    BadRecord { index: u32, cause: DecodeError },
    /// A timed put's value is shorter than its 8-byte write time.
    ShortTimedPut { index: u32 },
    /// The payload's key operations do not number the header's count.
    CountMismatch { declared: u32, found: u64 },
    /// A key operation's sequence number overflows.
    SequenceOverflow,
}

impl RocksBatchError {
    pub fn as_str(self) -> &'static str {
        match self {
            RocksBatchError::TooShort => "write batch shorter than its header",
            RocksBatchError::BadTag { .. } => "unknown write batch tag",
            RocksBatchError::BadRecord { .. } => "malformed write batch record",
            RocksBatchError::ShortTimedPut { .. } => "timed put without its write time",
            RocksBatchError::CountMismatch { .. } => "write batch has wrong count",
            RocksBatchError::SequenceOverflow => "write batch sequence overflows",
        }
    }
}

impl fmt::Display for RocksBatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RocksBatchError::BadTag { index, tag } => {
                write!(f, "write batch record {index} has unknown tag {tag:#04x}")
            }
            RocksBatchError::BadRecord { index, cause } => {
                write!(f, "write batch record {index} is malformed ({cause})")
            }
            RocksBatchError::ShortTimedPut { index } => {
                write!(
                    f,
                    "write batch record {index}: timed put without its write time"
                )
            }
            RocksBatchError::CountMismatch { declared, found } => write!(
                f,
                "write batch declares {declared} key operations but holds {found}"
            ),
            other => f.write_str(other.as_str()),
        }
    }
}

impl std::error::Error for RocksBatchError {}

/// The header is LevelDB's: sequence (fixed64), count (fixed32).
pub use super::batch::BatchHeader as RocksBatchHeader;

/// The header, readable even when the records are not.
pub fn header(payload: &[u8]) -> Result<RocksBatchHeader, RocksBatchError> {
    read_header(&mut Cursor::new(payload))
}

fn read_header(c: &mut Cursor<'_>) -> Result<RocksBatchHeader, RocksBatchError> {
    super::batch::read_header(c).map_err(|_| RocksBatchError::TooShort)
}

/// Validate a whole batch: every record decodes and the key operations
/// number the header's count. Returns the header.
pub fn validate(payload: &[u8]) -> Result<RocksBatchHeader, RocksBatchError> {
    for_each_item(payload, |_| {})
}

/// Decode every key operation in order, calling `f` for each; fails on the
/// first malformed record (operations before it have been passed to `f`).
pub fn for_each<'a>(
    payload: &'a [u8],
    mut f: impl FnMut(RocksBatchEntry<'a>),
) -> Result<RocksBatchHeader, RocksBatchError> {
    for_each_item(payload, |item| {
        if let Item::Entry(e) = item {
            f(e)
        }
    })
}

/// Decode every record, key operations and markers, in payload order. Key
/// operations past the header's count are not passed to `f` (the batch is
/// then an error, once the payload has been read to its end).
pub fn for_each_item<'a>(
    payload: &'a [u8],
    mut f: impl FnMut(Item<'a>),
) -> Result<RocksBatchHeader, RocksBatchError> {
    let mut c = Cursor::new(payload);
    let h = read_header(&mut c)?;
    // Key operations seen; a u64 since a hostile payload's count is only
    // bounded by its length.
    let mut found: u64 = 0;
    let mut index: u32 = 0;
    while !c.is_empty() {
        let bad = |cause| RocksBatchError::BadRecord { index, cause };
        let tag = c.u8().map_err(bad)?;
        if let Some((op, has_cf, has_value)) = RocksOp::from_tag(tag) {
            let cf = if has_cf {
                c.varint32().map_err(bad)?
            } else {
                0
            };
            let key = c.length_prefixed().map_err(bad)?;
            let mut value = if has_value {
                c.length_prefixed().map_err(bad)?
            } else {
                &[][..]
            };
            let mut write_time = None;
            if op == RocksOp::TimedPut {
                let at = value
                    .len()
                    .checked_sub(8)
                    .ok_or(RocksBatchError::ShortTimedPut { index })?;
                let (v, t) = value
                    .split_at_checked(at)
                    .ok_or(RocksBatchError::ShortTimedPut { index })?;
                let t = t
                    .first_chunk::<8>()
                    .ok_or(RocksBatchError::ShortTimedPut { index })?;
                value = v;
                write_time = Some(u64::from_le_bytes(*t));
            }
            if found < u64::from(h.count) {
                let seq = h
                    .sequence
                    .checked_add(found)
                    .ok_or(RocksBatchError::SequenceOverflow)?;
                f(Item::Entry(RocksBatchEntry {
                    seq,
                    cf,
                    op,
                    key,
                    value,
                    write_time,
                }));
            }
            found = found.saturating_add(1);
        } else {
            let marker = match tag {
                TYPE_LOG_DATA => Marker::LogData(c.length_prefixed().map_err(bad)?),
                TYPE_NOOP => Marker::Noop,
                TYPE_BEGIN_PREPARE_XID => Marker::BeginPrepare,
                TYPE_BEGIN_PERSISTED_PREPARE_XID => Marker::BeginPersistedPrepare,
                TYPE_BEGIN_UNPREPARE_XID => Marker::BeginUnprepare,
                TYPE_END_PREPARE_XID => Marker::EndPrepare {
                    xid: c.length_prefixed().map_err(bad)?,
                },
                TYPE_COMMIT_XID => Marker::Commit {
                    xid: c.length_prefixed().map_err(bad)?,
                },
                TYPE_COMMIT_XID_AND_TIMESTAMP => {
                    let timestamp = c.length_prefixed().map_err(bad)?;
                    let xid = c.length_prefixed().map_err(bad)?;
                    Marker::CommitWithTimestamp { xid, timestamp }
                }
                TYPE_ROLLBACK_XID => Marker::Rollback {
                    xid: c.length_prefixed().map_err(bad)?,
                },
                _ => return Err(RocksBatchError::BadTag { index, tag }),
            };
            f(Item::Marker(marker));
        }
        // Each record takes at least its tag byte, so the index cannot pass
        // the payload's length; saturating keeps the bound without a panic.
        index = index.saturating_add(1);
    }
    if found != u64::from(h.count) {
        return Err(RocksBatchError::CountMismatch {
            declared: h.count,
            found,
        });
    }
    Ok(h)
}

/// The (name, value) columns of a wide-column entity serialized in layout
/// version 1 (`db/wide/wide_column_serialization.h`: version varint32,
/// column count varint32, then per column its length-prefixed name and its
/// value's size as varint32, then the values back to back). `None` for
/// another version (version 2 adds blob-index columns) or a malformed
/// entity.
pub fn entity_columns_v1(entity: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut c = Cursor::new(entity);
    if c.varint32().ok()? != 1 {
        return None;
    }
    let n = usize::try_from(c.varint32().ok()?).ok()?;
    // Each column's index entry takes at least two bytes: no allocation
    // beyond what the bytes can hold.
    if n > c.remaining() / 2 {
        return None;
    }
    let mut index = Vec::with_capacity(n);
    for _ in 0..n {
        let name = c.length_prefixed().ok()?;
        let size = usize::try_from(c.varint32().ok()?).ok()?;
        index.push((name, size));
    }
    let mut columns = Vec::with_capacity(n);
    for (name, size) in index {
        columns.push((name, c.bytes(size).ok()?));
    }
    c.is_empty().then_some(columns)
}

/// Build a batch payload, for tests. Column family 0 uses the tags without
/// a column family id, as RocksDB does.
#[derive(Debug, Clone, Default)]
pub struct RocksBatchBuilder {
    sequence: u64,
    count: u32,
    body: Vec<u8>,
}

impl RocksBatchBuilder {
    pub fn new(sequence: u64) -> Self {
        RocksBatchBuilder {
            sequence,
            count: 0,
            body: Vec::new(),
        }
    }

    /// Any key operation; `value` is ignored by the deletes, and a timed
    /// put's `write_time` is appended to its value.
    ///
    /// # Panics
    ///
    /// Past 2^32 - 1 operations, or with a field of 4 GiB or more.
    pub fn op(
        &mut self,
        op: RocksOp,
        cf: u32,
        key: &[u8],
        value: &[u8],
        write_time: u64,
    ) -> &mut Self {
        let (plain, with_cf) = op.tags();
        if cf == 0 {
            self.body.push(plain);
        } else {
            self.body.push(with_cf);
            put_varint32(&mut self.body, cf);
        }
        put_length_prefixed(&mut self.body, key);
        match op {
            RocksOp::Delete | RocksOp::SingleDelete => {}
            RocksOp::TimedPut => {
                let mut packed = value.to_vec();
                put_fixed64(&mut packed, write_time);
                put_length_prefixed(&mut self.body, &packed);
            }
            _ => put_length_prefixed(&mut self.body, value),
        }
        self.count = self
            .count
            .checked_add(1)
            .expect("a write batch holds fewer than 2^32 operations");
        self
    }

    pub fn put(&mut self, cf: u32, key: &[u8], value: &[u8]) -> &mut Self {
        self.op(RocksOp::Put, cf, key, value, 0)
    }

    pub fn delete(&mut self, cf: u32, key: &[u8]) -> &mut Self {
        self.op(RocksOp::Delete, cf, key, b"", 0)
    }

    /// Any marker.
    pub fn marker(&mut self, m: Marker<'_>) -> &mut Self {
        let b = &mut self.body;
        match m {
            Marker::LogData(blob) => {
                b.push(TYPE_LOG_DATA);
                put_length_prefixed(b, blob);
            }
            Marker::Noop => b.push(TYPE_NOOP),
            Marker::BeginPrepare => b.push(TYPE_BEGIN_PREPARE_XID),
            Marker::BeginPersistedPrepare => b.push(TYPE_BEGIN_PERSISTED_PREPARE_XID),
            Marker::BeginUnprepare => b.push(TYPE_BEGIN_UNPREPARE_XID),
            Marker::EndPrepare { xid } => {
                b.push(TYPE_END_PREPARE_XID);
                put_length_prefixed(b, xid);
            }
            Marker::Commit { xid } => {
                b.push(TYPE_COMMIT_XID);
                put_length_prefixed(b, xid);
            }
            Marker::CommitWithTimestamp { xid, timestamp } => {
                b.push(TYPE_COMMIT_XID_AND_TIMESTAMP);
                put_length_prefixed(b, timestamp);
                put_length_prefixed(b, xid);
            }
            Marker::Rollback { xid } => {
                b.push(TYPE_ROLLBACK_XID);
                put_length_prefixed(b, xid);
            }
        }
        self
    }

    pub fn build(&self) -> Vec<u8> {
        // Only a capacity hint: saturating cannot make the output wrong.
        let mut out = Vec::with_capacity(HEADER_SIZE.saturating_add(self.body.len()));
        put_fixed64(&mut out, self.sequence);
        put_fixed32(&mut out, self.count);
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    type Row = (u64, u32, RocksOp, Vec<u8>, Vec<u8>, Option<u64>);

    fn rows(p: &[u8]) -> Result<Vec<Row>, RocksBatchError> {
        let mut v = Vec::new();
        for_each(p, |e| {
            v.push((
                e.seq,
                e.cf,
                e.op,
                e.key.to_vec(),
                e.value.to_vec(),
                e.write_time,
            ))
        })?;
        Ok(v)
    }

    fn noise(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn tags_are_rocksdbs_bytes() {
        // Written by hand from db/dbformat.h's ValueType, not by the builder:
        // Put "k"="v" in the default family, then a TimedPut in family 3 of
        // "t"="w" at write time 0x0102, then a Noop and a LogData "L".
        let mut p = 40u64.to_le_bytes().to_vec();
        p.extend_from_slice(&2u32.to_le_bytes());
        p.extend_from_slice(&[0x01, 1, b'k', 1, b'v']);
        p.extend_from_slice(&[0x19, 3, 1, b't', 9, b'w', 2, 1, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[0x0D, 0x03, 1, b'L']);
        assert_eq!(
            rows(&p).unwrap(),
            vec![
                (40, 0, RocksOp::Put, b"k".to_vec(), b"v".to_vec(), None),
                (
                    41,
                    3,
                    RocksOp::TimedPut,
                    b"t".to_vec(),
                    b"w".to_vec(),
                    Some(0x0102)
                ),
            ]
        );
        let built = RocksBatchBuilder::new(40)
            .put(0, b"k", b"v")
            .op(RocksOp::TimedPut, 3, b"t", b"w", 0x0102)
            .marker(Marker::Noop)
            .marker(Marker::LogData(b"L"))
            .build();
        assert_eq!(built, p);
    }

    #[test]
    fn every_op_and_marker_roundtrips() {
        let ops = [
            RocksOp::Put,
            RocksOp::Delete,
            RocksOp::SingleDelete,
            RocksOp::RangeDelete,
            RocksOp::Merge,
            RocksOp::BlobIndex,
            RocksOp::Entity,
            RocksOp::TimedPut,
        ];
        let mut b = RocksBatchBuilder::new(1000);
        b.marker(Marker::BeginPrepare);
        let mut want = Vec::new();
        let mut seq = 1000;
        for (i, &op) in ops.iter().enumerate() {
            for cf in [0u32, 200] {
                let key = format!("key{i}-{cf}").into_bytes();
                let value = format!("val{i}").into_bytes();
                b.op(op, cf, &key, &value, 77);
                let value = match op {
                    RocksOp::Delete | RocksOp::SingleDelete => vec![],
                    _ => value,
                };
                let wt = (op == RocksOp::TimedPut).then_some(77);
                want.push((seq, cf, op, key, value, wt));
                seq += 1;
            }
            b.marker(Marker::LogData(b"blob"));
        }
        b.marker(Marker::EndPrepare { xid: b"x1" })
            .marker(Marker::Commit { xid: b"x1" })
            .marker(Marker::CommitWithTimestamp {
                xid: b"x2",
                timestamp: b"ts",
            })
            .marker(Marker::Rollback { xid: b"x3" })
            .marker(Marker::BeginPersistedPrepare)
            .marker(Marker::BeginUnprepare)
            .marker(Marker::Noop);
        let p = b.build();
        assert_eq!(rows(&p).unwrap(), want);
        assert_eq!(
            validate(&p),
            Ok(RocksBatchHeader {
                sequence: 1000,
                count: 16
            })
        );
        let mut markers = Vec::new();
        for_each_item(&p, |it| {
            if let Item::Marker(m) = it {
                markers.push(m.as_str());
            }
        })
        .unwrap();
        let mut want_markers = vec!["begin_prepare"];
        want_markers.extend(["log_data"; 8]);
        want_markers.extend([
            "end_prepare",
            "commit",
            "commit_with_timestamp",
            "rollback",
            "begin_persisted_prepare",
            "begin_unprepare",
            "noop",
        ]);
        assert_eq!(markers, want_markers);
        let mut cwt = None;
        for_each_item(&p, |it| {
            if let Item::Marker(Marker::CommitWithTimestamp { xid, timestamp }) = it {
                cwt = Some((xid.to_vec(), timestamp.to_vec()));
            }
        })
        .unwrap();
        assert_eq!(cwt, Some((b"x2".to_vec(), b"ts".to_vec())));
        let names: Vec<_> = ops.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            names,
            [
                "put",
                "delete",
                "single_delete",
                "range_delete",
                "merge",
                "blob_index",
                "put_entity",
                "timed_put"
            ]
        );
    }

    #[test]
    fn entity_columns_of_layout_one() {
        // As RocksDB 9 wrote one (testdata/rocksdb/wal/plain.log): columns
        // "" = "default col" and "colA" = "a one".
        let e = b"\x01\x02\x00\x0b\x04colA\x05default cola one";
        assert_eq!(
            entity_columns_v1(e),
            Some(vec![
                (&b""[..], &b"default col"[..]),
                (&b"colA"[..], &b"a one"[..])
            ])
        );
        for cut in 0..e.len() {
            assert_eq!(entity_columns_v1(&e[..cut]), None);
        }
        let mut v2 = e.to_vec();
        v2[0] = 2;
        assert_eq!(entity_columns_v1(&v2), None);
        assert_eq!(entity_columns_v1(b"\x01\xff\xff\xff\xff\x0f"), None);
    }

    #[test]
    fn markers_only_batch_and_empty_batch() {
        let p = RocksBatchBuilder::new(5)
            .marker(Marker::Commit { xid: b"t" })
            .build();
        assert_eq!(rows(&p).unwrap(), vec![]);
        assert_eq!(
            validate(&RocksBatchBuilder::new(9).build()).unwrap().count,
            0
        );
    }

    #[test]
    fn count_must_match() {
        let p = RocksBatchBuilder::new(1)
            .put(0, b"a", b"1")
            .put(0, b"b", b"2")
            .build();
        let mut more = p.clone();
        more[8] = 3;
        assert_eq!(
            validate(&more),
            Err(RocksBatchError::CountMismatch {
                declared: 3,
                found: 2
            })
        );
        // Operations past the count are read but not delivered.
        let mut less = p.clone();
        less[8] = 1;
        let mut seen = Vec::new();
        let r = for_each(&less, |e| seen.push(e.key.to_vec()));
        assert_eq!(
            r,
            Err(RocksBatchError::CountMismatch {
                declared: 1,
                found: 2
            })
        );
        assert_eq!(seen, vec![b"a".to_vec()]);
    }

    #[test]
    fn damage_is_an_error() {
        let p = RocksBatchBuilder::new(1)
            .put(0, b"k", b"v")
            .op(RocksOp::TimedPut, 0, b"t", b"", 1)
            .build();
        assert_eq!(validate(&p[..11]), Err(RocksBatchError::TooShort));
        for tag in [0x14u8, 0x1A, 0x7F, 0xFF] {
            let mut bad = p.clone();
            bad[12] = tag;
            assert_eq!(
                validate(&bad),
                Err(RocksBatchError::BadTag { index: 0, tag })
            );
        }
        let mut len = p.clone();
        len[13] = 100;
        assert!(matches!(
            validate(&len),
            Err(RocksBatchError::BadRecord { index: 0, .. })
        ));
        // The timed put's packed value holds 8 bytes; say it holds 7 and
        // give the byte back as a record that then cannot decode.
        let mut short = RocksBatchBuilder::new(1).put(0, b"k", b"v").build();
        short[8] = 2;
        short.extend_from_slice(&[0x18, 1, b't', 7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            validate(&short),
            Err(RocksBatchError::ShortTimedPut { index: 1 })
        );
        let mut seq = p;
        seq[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(validate(&seq), Err(RocksBatchError::SequenceOverflow));
    }

    #[test]
    fn every_truncation_is_an_error_and_noise_never_panics() {
        let mut b = RocksBatchBuilder::new(7);
        b.marker(Marker::LogData(b"ld"))
            .op(RocksOp::RangeDelete, 4, b"a", b"z", 0)
            .marker(Marker::CommitWithTimestamp {
                xid: b"x",
                timestamp: b"t",
            })
            .op(RocksOp::TimedPut, 300, b"key", b"value", 9)
            .op(RocksOp::Entity, 0, b"e", b"\x01\x00", 0);
        let p = b.build();
        assert!(validate(&p).is_ok());
        for cut in 0..p.len() {
            assert!(validate(&p[..cut]).is_err(), "prefix of {cut} bytes");
        }
        for seed in 0..300u32 {
            let mut n = noise(64, seed);
            // A plausible header half the time, so records get decoded.
            if seed % 2 == 0 {
                n[8..12].copy_from_slice(&(seed % 5).to_le_bytes());
            }
            let _ = validate(&n);
            let mut q = p.clone();
            let at = 12 + seed as usize % (p.len() - 12);
            q[at] ^= (seed as u8) | 1;
            let _ = for_each_item(&q, |_| {});
        }
    }
}
