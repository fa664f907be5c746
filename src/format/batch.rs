//! The WriteBatch: the payload of every logical log record.
//!
//! ```text
//! sequence: fixed64   first sequence number of the batch
//! count:    fixed32   number of entries
//! entries:  count × ( tag: u8
//!                     tag 1 (put):    key: varint32-prefixed, value: varint32-prefixed
//!                     tag 0 (delete): key: varint32-prefixed
//!                     tag 2, 3 (Basho's puts with an expiry, WriteTime and
//!                     ExplicitExpiry): key: varint32-prefixed,
//!                     expiry: varint64, value: varint32-prefixed )
//! ```
//! Tags 2 and 3 are Basho eleveldb's (`db/write_batch.cc` of basho/leveldb);
//! no other writer this tool reads uses them (see `ikey`), so they are read
//! wherever they occur, as puts with their expiry.
//! Entry `i` carries sequence `sequence + i`. A batch is well-formed only when
//! exactly `count` entries fill the payload with no bytes left over.

use super::coding::{put_fixed32, put_fixed64, put_length_prefixed, Cursor, DecodeError};
use std::fmt;

pub const HEADER_SIZE: usize = 12;

/// The type of a write: the low byte of an internal key's tag, and a batch tag.
///
/// LevelDB writes only `Delete` and `Put` ([`Kind::from_u8`] reads no
/// other). The rest are RocksDB's (`db/dbformat.h` ValueType, whose bytes
/// the discriminants are), read only from a RocksDB store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Delete = 0,
    Put = 1,
    /// A merge operand: the application's merge operator, not the store,
    /// gives it meaning.
    Merge = 2,
    SingleDelete = 7,
    /// Deletes every key from `key` (inclusive) to the entry's value, the
    /// end key (exclusive), older than it.
    RangeDelete = 0xF,
    /// The value is a reference into a `.blob` file.
    BlobIndex = 0x11,
    /// A wide-column entity: the value is its serialized columns.
    Entity = 0x16,
}

impl Kind {
    /// A LevelDB type byte.
    pub fn from_u8(b: u8) -> Option<Kind> {
        match b {
            0 => Some(Kind::Delete),
            1 => Some(Kind::Put),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Put => "put",
            Kind::Delete => "delete",
            Kind::Merge => "merge",
            Kind::SingleDelete => "single_delete",
            Kind::RangeDelete => "range_delete",
            Kind::BlobIndex => "blob_index",
            Kind::Entity => "put_entity",
        }
    }

    /// The entry removes its key (a newest entry of this kind leaves the
    /// key out of the latest view).
    pub fn deletes(self) -> bool {
        matches!(self, Kind::Delete | Kind::SingleDelete)
    }

    /// The entry carries a value (a range delete's is its end key).
    pub fn has_value(self) -> bool {
        !self.deletes()
    }
}

/// One decoded write, borrowing from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    pub seq: u64,
    pub kind: Kind,
    pub key: &'a [u8],
    /// Empty for deletes.
    pub value: &'a [u8],
    /// Basho's puts with an expiry (tags 2 and 3).
    pub expiry: Option<super::ikey::Expiry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// Shorter than the 12-byte header.
    TooShort,
    /// An entry's tag is neither put nor delete.
    BadTag { index: u32, tag: u8 },
    /// An entry runs past the payload or has a malformed varint.
    BadEntry { index: u32, cause: DecodeError },
    /// Fewer entries than the header's count.
    CountMismatch { declared: u32, found: u32 },
    /// Bytes remain after `count` entries.
    TrailingBytes { count: u32, extra: usize },
    /// `sequence + count` overflows.
    SequenceOverflow,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::TooShort => write!(f, "write batch shorter than its 12-byte header"),
            BatchError::BadTag { index, tag } => {
                write!(f, "write batch entry {index} has unknown tag {tag}")
            }
            BatchError::BadEntry { index, cause } => {
                write!(f, "write batch entry {index} is malformed ({cause})")
            }
            BatchError::CountMismatch { declared, found } => write!(
                f,
                "write batch declares {declared} entries but holds {found}"
            ),
            BatchError::TrailingBytes { count, extra } => {
                write!(f, "write batch has {extra} bytes after its {count} entries")
            }
            BatchError::SequenceOverflow => write!(f, "write batch sequence overflows"),
        }
    }
}

/// The batch header, readable even when the entries are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub sequence: u64,
    pub count: u32,
}

pub fn header(payload: &[u8]) -> Result<BatchHeader, BatchError> {
    read_header(&mut Cursor::new(payload))
}

pub(super) fn read_header(c: &mut Cursor<'_>) -> Result<BatchHeader, BatchError> {
    let sequence = c.fixed64().map_err(|_| BatchError::TooShort)?;
    let count = c.fixed32().map_err(|_| BatchError::TooShort)?;
    Ok(BatchHeader { sequence, count })
}

/// Validate a whole batch without collecting it; returns its header.
pub fn validate(payload: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = header(payload)?;
    for_each(payload, |_| {})?;
    Ok(h)
}

/// Decode every entry in order, calling `f` for each; fails on the first
/// malformed one (entries before it have already been passed to `f`).
pub fn for_each<'a>(
    payload: &'a [u8],
    mut f: impl FnMut(BatchEntry<'a>),
) -> Result<BatchHeader, BatchError> {
    let mut c = Cursor::new(payload);
    let h = read_header(&mut c)?;
    let end = h
        .sequence
        .checked_add(u64::from(h.count))
        .ok_or(BatchError::SequenceOverflow)?;
    // Entry `index` carries sequence `seq`; both ranges have `count` items.
    for (index, seq) in (0..h.count).zip(h.sequence..end) {
        if c.is_empty() {
            return Err(BatchError::CountMismatch {
                declared: h.count,
                found: index,
            });
        }
        let bad = |cause| BatchError::BadEntry { index, cause };
        let tag = c.u8().map_err(bad)?;
        let basho = matches!(
            tag,
            super::ikey::TYPE_WRITE_TIME | super::ikey::TYPE_EXPLICIT_EXPIRY
        );
        let kind = if basho {
            Kind::Put
        } else {
            Kind::from_u8(tag).ok_or(BatchError::BadTag { index, tag })?
        };
        let key = c.length_prefixed().map_err(bad)?;
        let expiry = if basho {
            let micros = c.varint64().map_err(bad)?;
            Some(super::ikey::Expiry { kind: tag, micros })
        } else {
            None
        };
        let value = match kind {
            Kind::Delete => &[][..],
            // from_u8 yields only puts and deletes.
            _ => c.length_prefixed().map_err(bad)?,
        };
        f(BatchEntry {
            seq,
            kind,
            key,
            value,
            expiry,
        });
    }
    if !c.is_empty() {
        return Err(BatchError::TrailingBytes {
            count: h.count,
            extra: c.remaining(),
        });
    }
    Ok(h)
}

/// Build a batch payload (used by tests and fixtures, and by anything that
/// needs to write a log).
#[derive(Debug, Clone, Default)]
pub struct BatchBuilder {
    sequence: u64,
    count: u32,
    body: Vec<u8>,
}

impl BatchBuilder {
    pub fn new(sequence: u64) -> Self {
        BatchBuilder {
            sequence,
            count: 0,
            body: Vec::new(),
        }
    }

    /// # Panics
    ///
    /// Past 2^32 - 1 entries, more than the header's count can say, or with
    /// a key or value of 4 GiB or more (see [`put_length_prefixed`]).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.body.push(Kind::Put as u8);
        put_length_prefixed(&mut self.body, key);
        put_length_prefixed(&mut self.body, value);
        self.counted()
    }

    /// # Panics
    ///
    /// As [`put`](Self::put).
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.body.push(Kind::Delete as u8);
        put_length_prefixed(&mut self.body, key);
        self.counted()
    }

    fn counted(&mut self) -> &mut Self {
        self.count = self
            .count
            .checked_add(1)
            .expect("a write batch holds fewer than 2^32 entries");
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

    type Row = (u64, Kind, Vec<u8>, Vec<u8>);

    fn collect(p: &[u8]) -> Result<Vec<Row>, BatchError> {
        let mut v = Vec::new();
        for_each(p, |e| {
            v.push((e.seq, e.kind, e.key.to_vec(), e.value.to_vec()))
        })?;
        Ok(v)
    }

    #[test]
    fn roundtrip() {
        let p = BatchBuilder::new(100)
            .put(b"foo", b"bar")
            .delete(b"box")
            .put(b"baz", b"")
            .build();
        let got = collect(&p).unwrap();
        assert_eq!(
            got,
            vec![
                (100, Kind::Put, b"foo".to_vec(), b"bar".to_vec()),
                (101, Kind::Delete, b"box".to_vec(), vec![]),
                (102, Kind::Put, b"baz".to_vec(), vec![]),
            ]
        );
        assert_eq!(
            validate(&p),
            Ok(BatchHeader {
                sequence: 100,
                count: 3
            })
        );
    }

    #[test]
    fn basho_expiry_entries() {
        // Header, then type 2: key "k", varint64 expiry 300, value "v";
        // type 3: key "x", expiry 5, empty value.
        let mut p = 9u64.to_le_bytes().to_vec();
        p.extend_from_slice(&2u32.to_le_bytes());
        p.extend_from_slice(&[2, 1, b'k', 0xac, 0x02, 1, b'v', 3, 1, b'x', 5, 0]);
        let mut got = Vec::new();
        for_each(&p, |e| {
            got.push((e.seq, e.kind, e.key.to_vec(), e.value.to_vec(), e.expiry))
        })
        .unwrap();
        let ex = |kind, micros| Some(crate::format::ikey::Expiry { kind, micros });
        assert_eq!(
            got,
            vec![
                (9, Kind::Put, b"k".to_vec(), b"v".to_vec(), ex(2, 300)),
                (10, Kind::Put, b"x".to_vec(), vec![], ex(3, 5)),
            ]
        );
        // The expiry cut short is a malformed entry.
        assert!(matches!(
            validate(&p[..16]),
            Err(BatchError::BadEntry { index: 0, .. })
        ));
    }

    #[test]
    fn damage_is_an_error() {
        let p = BatchBuilder::new(1).put(b"k", b"v").build();
        assert_eq!(validate(&p[..5]), Err(BatchError::TooShort));
        let mut more = p.clone();
        more[8] = 2; // count says 2, holds 1
        assert!(matches!(
            validate(&more),
            Err(BatchError::CountMismatch { .. })
        ));
        let mut less = p.clone();
        less[8] = 0;
        assert!(matches!(
            validate(&less),
            Err(BatchError::TrailingBytes { .. })
        ));
        let mut tag = p.clone();
        tag[12] = 7;
        assert!(matches!(validate(&tag), Err(BatchError::BadTag { .. })));
        let mut len = p.clone();
        len[13] = 200;
        assert!(matches!(validate(&len), Err(BatchError::BadEntry { .. })));
        let mut seq = p;
        seq[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(validate(&seq), Err(BatchError::SequenceOverflow));
        // The last sequence that still fits is accepted.
        seq[..8].copy_from_slice(&(u64::MAX - 1).to_le_bytes());
        assert_eq!(collect(&seq).unwrap()[0].0, u64::MAX - 1);
    }
}
