//! RocksDB's VersionEdit (the payload of each MANIFEST record) and its replay
//! into per-column-family state.
//!
//! Read from facebook/rocksdb: `db/version_edit.{h,cc}` (tags, `EncodeTo`,
//! `DecodeFrom`, `DecodeNewFile4From`), `db/wal_edit.{h,cc}` (WAL addition
//! and deletion), `db/blob/blob_file_addition.cc`, `blob_file_garbage.cc`,
//! `db/version_edit_handler.cc` and `db/version_set.cc` (how edits are
//! applied, how atomic groups are buffered), `db/version_builder.cc` (what a
//! deletion or addition of an unknown or live file means).
//!
//! The record framing is LevelDB's log format ([`super::log`]). A payload is
//! a sequence of fields, each a varint32 tag then the tag's data:
//! ```text
//! 1 comparator            varint32-prefixed name
//! 2 log number            varint64          (per column family)
//! 3 next file number      varint64
//! 4 last sequence         varint64
//! 5 compact cursor        level: varint32, internal key: varint32-prefixed
//! 6 deleted file          level: varint32, number: varint64
//! 7 new file              level, number, size, smallest, largest (LevelDB's)
//! 9 prev log number       varint64
//! 10 min log number to keep varint64
//! 100 new file 2          tag 7's fields, smallest seqno, largest seqno
//! 102 new file 3          level, number, path id: varint32, size, keys, seqnos
//! 103 new file 4          tag 100's fields, then custom fields:
//!                         (tag: varint32, varint32-prefixed value)* then tag 1
//! 200 column family       id: varint32 (absent = 0, the default family)
//! 201 column family add   varint32-prefixed name
//! 202 column family drop  no data
//! 203 max column family   varint32
//! 300 in atomic group     remaining edits after this one: varint32
//! 400 blob file addition  number, count, bytes: varint64; checksum method,
//!                         value: varint32-prefixed; custom fields; tag 0
//! 401 blob file garbage   number, count, bytes: varint64; custom fields; 0
//! 8192 | n                "safe to ignore" tags (bit 13 set):
//! 8193 db id              varint32-prefixed
//! 8194, 8195              blob addition, garbage (old tags, same data)
//! 8196 WAL addition       number: varint64, then (2: synced size varint64)*
//!                         then 1
//! 8197 WAL deletion       number: varint64 (deletes every WAL below it)
//! 8198 full_history_ts_low varint32-prefixed, non-empty
//! 8199 WAL addition 2     tag 8196's data inside a varint32-prefixed slice
//! 8200 WAL deletion 2     tag 8197's data inside a varint32-prefixed slice
//! 8201 persist user-defined timestamps  varint32-prefixed, one byte
//! 8202 subcompaction progress  varint32-prefixed (kept undecoded)
//! 8203 last compacted manifest file size  varint32-prefixed varint64
//! other tags with bit 13  varint32-prefixed, skipped; without it: an error
//! ```
//! NewFile4's custom field tags: 2 need compaction (1 byte), 3 min log
//! number to keep (fixed64, a "hack" duplicate of tag 10), 4 oldest blob
//! file, 5 oldest ancester time, 6 file creation time, 13 epoch number,
//! 14 compensated range deletion size, 15 tail size (varint64 each), 7 file
//! checksum, 8 its function name, 10/11 min/max timestamp, 17 file open
//! metadata (bytes), 9 temperature (1 byte), 12 unique id (16 bytes), 16
//! user-defined timestamps persisted (1 byte), 65 path id (1 byte, at most
//! 3). An unknown custom tag with bit 6 (64) set must be understood and is
//! an error; without it, it is skipped.
//!
//! Internal keys must be at least 8 bytes, as RocksDB's `InternalKey::Valid`
//! requires. RocksDB also checks the type byte against its current list of
//! value types; that list grows between versions, so it is not checked here.

use super::coding::{
    put_fixed64, put_length_prefixed, put_varint32, put_varint64, Cursor, DecodeError,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub const TAG_COMPARATOR: u32 = 1;
pub const TAG_LOG_NUMBER: u32 = 2;
pub const TAG_NEXT_FILE_NUMBER: u32 = 3;
pub const TAG_LAST_SEQUENCE: u32 = 4;
pub const TAG_COMPACT_CURSOR: u32 = 5;
pub const TAG_DELETED_FILE: u32 = 6;
pub const TAG_NEW_FILE: u32 = 7;
pub const TAG_PREV_LOG_NUMBER: u32 = 9;
pub const TAG_MIN_LOG_NUMBER_TO_KEEP: u32 = 10;
pub const TAG_NEW_FILE2: u32 = 100;
pub const TAG_NEW_FILE3: u32 = 102;
pub const TAG_NEW_FILE4: u32 = 103;
pub const TAG_COLUMN_FAMILY: u32 = 200;
pub const TAG_COLUMN_FAMILY_ADD: u32 = 201;
pub const TAG_COLUMN_FAMILY_DROP: u32 = 202;
pub const TAG_MAX_COLUMN_FAMILY: u32 = 203;
pub const TAG_IN_ATOMIC_GROUP: u32 = 300;
pub const TAG_BLOB_FILE_ADDITION: u32 = 400;
pub const TAG_BLOB_FILE_GARBAGE: u32 = 401;
/// A tag with this bit set that a reader does not know carries a
/// varint32-prefixed value and may be skipped.
pub const TAG_SAFE_IGNORE_MASK: u32 = 1 << 13;
pub const TAG_DB_ID: u32 = TAG_SAFE_IGNORE_MASK + 1;
pub const TAG_BLOB_FILE_ADDITION_OLD: u32 = TAG_SAFE_IGNORE_MASK + 2;
pub const TAG_BLOB_FILE_GARBAGE_OLD: u32 = TAG_SAFE_IGNORE_MASK + 3;
pub const TAG_WAL_ADDITION: u32 = TAG_SAFE_IGNORE_MASK + 4;
pub const TAG_WAL_DELETION: u32 = TAG_SAFE_IGNORE_MASK + 5;
pub const TAG_FULL_HISTORY_TS_LOW: u32 = TAG_SAFE_IGNORE_MASK + 6;
pub const TAG_WAL_ADDITION2: u32 = TAG_SAFE_IGNORE_MASK + 7;
pub const TAG_WAL_DELETION2: u32 = TAG_SAFE_IGNORE_MASK + 8;
pub const TAG_PERSIST_USER_DEFINED_TIMESTAMPS: u32 = TAG_SAFE_IGNORE_MASK + 9;
pub const TAG_SUBCOMPACTION_PROGRESS: u32 = TAG_SAFE_IGNORE_MASK + 10;
pub const TAG_LAST_COMPACTED_MANIFEST_FILE_SIZE: u32 = TAG_SAFE_IGNORE_MASK + 11;

// NewFile4 custom field tags.
const NF_TERMINATE: u32 = 1;
const NF_NEED_COMPACTION: u32 = 2;
const NF_MIN_LOG_NUMBER_TO_KEEP: u32 = 3;
const NF_OLDEST_BLOB_FILE: u32 = 4;
const NF_OLDEST_ANCESTER_TIME: u32 = 5;
const NF_FILE_CREATION_TIME: u32 = 6;
const NF_FILE_CHECKSUM: u32 = 7;
const NF_FILE_CHECKSUM_FUNC_NAME: u32 = 8;
const NF_TEMPERATURE: u32 = 9;
const NF_MIN_TIMESTAMP: u32 = 10;
const NF_MAX_TIMESTAMP: u32 = 11;
const NF_UNIQUE_ID: u32 = 12;
const NF_EPOCH_NUMBER: u32 = 13;
const NF_COMPENSATED_RANGE_DELETION_SIZE: u32 = 14;
const NF_TAIL_SIZE: u32 = 15;
const NF_USER_DEFINED_TIMESTAMPS_PERSISTED: u32 = 16;
const NF_FILE_OPEN_METADATA: u32 = 17;
/// A custom field tag with this bit must be understood by the reader.
const NF_NON_SAFE_IGNORE_MASK: u32 = 1 << 6;
const NF_PATH_ID: u32 = NF_NON_SAFE_IGNORE_MASK + 1;

/// Blob addition/garbage custom fields: 0 ends them; bit 6 must be known.
const BLOB_END: u32 = 0;
const BLOB_FORWARD_INCOMPATIBLE: u32 = 1 << 6;

// WAL addition metadata tags.
const WAL_TERMINATE: u32 = 1;
const WAL_SYNCED_SIZE: u32 = 2;

/// RocksDB's `WalMetadata::kUnknownWalSize`: a synced size of this value
/// means "not known".
pub const UNKNOWN_WAL_SIZE: u64 = u64::MAX;

/// The smallest internal key RocksDB accepts: the 8-byte sequence/type tag.
const MIN_INTERNAL_KEY: usize = 8;

/// NewFile4's optional custom fields (only that form carries them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewFileFields {
    pub need_compaction: Option<bool>,
    /// The kMinLogNumberToKeepHack copy of the edit's min log number.
    pub min_log_number_to_keep: Option<u64>,
    pub oldest_blob_file_number: Option<u64>,
    pub oldest_ancester_time: Option<u64>,
    pub file_creation_time: Option<u64>,
    pub file_checksum: Option<Vec<u8>>,
    pub file_checksum_func_name: Option<Vec<u8>>,
    pub temperature: Option<u8>,
    pub min_timestamp: Option<Vec<u8>>,
    pub max_timestamp: Option<Vec<u8>>,
    pub unique_id: Option<[u64; 2]>,
    pub epoch_number: Option<u64>,
    pub compensated_range_deletion_size: Option<u64>,
    pub tail_size: Option<u64>,
    pub user_defined_timestamps_persisted: Option<bool>,
    pub file_open_metadata: Option<Vec<u8>>,
    /// Custom fields of unknown tags without bit 6, skipped as RocksDB
    /// skips them: (tag, value).
    pub ignored: Vec<(u32, Vec<u8>)>,
}

/// A table added to a level of the edit's column family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksNewFile {
    /// The form it came as: 7, 100, 102 or 103 (and is re-encoded as).
    pub tag: u32,
    pub level: u32,
    pub number: u64,
    /// From NewFile3's field or NewFile4's custom field; 0 otherwise.
    pub path_id: u32,
    pub file_size: u64,
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    /// Absent in tag 7.
    pub smallest_seqno: Option<u64>,
    pub largest_seqno: Option<u64>,
    pub fields: NewFileFields,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFileAddition {
    pub number: u64,
    pub total_blob_count: u64,
    pub total_blob_bytes: u64,
    pub checksum_method: Vec<u8>,
    pub checksum_value: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobFileGarbage {
    pub number: u64,
    pub garbage_blob_count: u64,
    pub garbage_blob_bytes: u64,
}

/// A WAL recorded in the MANIFEST: created (no synced size) or synced up
/// to `synced_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalAddition {
    pub number: u64,
    pub synced_size: Option<u64>,
}

/// One decoded RocksDB MANIFEST record. Scalars a record does not carry are
/// `None`; a scalar repeated within a record keeps its last value, as in
/// RocksDB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RocksEdit {
    pub db_id: Option<Vec<u8>>,
    pub comparator: Option<Vec<u8>>,
    pub log_number: Option<u64>,
    pub prev_log_number: Option<u64>,
    pub next_file_number: Option<u64>,
    pub last_sequence: Option<u64>,
    /// From tag 10 only; NewFile4 entries may carry a copy (see
    /// [`RocksEdit::min_log_number_to_keep_any`]).
    pub min_log_number_to_keep: Option<u64>,
    pub max_column_family: Option<u32>,
    /// (level, internal key)
    pub compact_cursors: Vec<(u32, Vec<u8>)>,
    /// (level, file number)
    pub deleted_files: Vec<(u32, u64)>,
    pub new_files: Vec<RocksNewFile>,
    pub blob_file_additions: Vec<BlobFileAddition>,
    pub blob_file_garbages: Vec<BlobFileGarbage>,
    pub wal_additions: Vec<WalAddition>,
    /// Deletes the WALs numbered below this; 0 means none (RocksDB's empty
    /// deletion).
    pub wal_deletion: Option<u64>,
    /// The column family the edit applies to; `None` is the default (0).
    pub column_family: Option<u32>,
    /// The name of a column family this edit creates.
    pub column_family_add: Option<Vec<u8>>,
    pub column_family_drop: bool,
    /// In an atomic group, with this many edits of it still to come.
    pub atomic_group_remaining: Option<u32>,
    pub full_history_ts_low: Option<Vec<u8>>,
    pub persist_user_defined_timestamps: Option<bool>,
    pub subcompaction_progress: Option<Vec<u8>>,
    pub last_compacted_manifest_file_size: Option<u64>,
    /// Unknown tags with the safe-to-ignore bit, skipped: (tag, value).
    pub ignored: Vec<(u32, Vec<u8>)>,
}

/// Why a RocksDB VersionEdit could not be decoded. `offset` is where in the
/// payload the offending tag or field starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RocksEditError {
    /// The tag varint itself is malformed.
    BadTag { offset: usize, cause: DecodeError },
    /// A tag without the safe-to-ignore bit that RocksDB does not define.
    UnknownTag { offset: usize, tag: u32 },
    /// A field of a known tag is truncated or malformed.
    BadField {
        offset: usize,
        tag: u32,
        field: &'static str,
        cause: DecodeError,
    },
    /// A field that decodes but breaks a rule RocksDB's reader enforces.
    Invalid {
        offset: usize,
        tag: u32,
        field: &'static str,
        why: &'static str,
    },
}

pub fn tag_name(tag: u32) -> &'static str {
    match tag {
        TAG_COMPARATOR => "comparator",
        TAG_LOG_NUMBER => "log number",
        TAG_NEXT_FILE_NUMBER => "next file number",
        TAG_LAST_SEQUENCE => "last sequence",
        TAG_COMPACT_CURSOR => "compact cursor",
        TAG_DELETED_FILE => "deleted file",
        TAG_NEW_FILE => "new file",
        TAG_PREV_LOG_NUMBER => "prev log number",
        TAG_MIN_LOG_NUMBER_TO_KEEP => "min log number to keep",
        TAG_NEW_FILE2 => "new file 2",
        TAG_NEW_FILE3 => "new file 3",
        TAG_NEW_FILE4 => "new file 4",
        TAG_COLUMN_FAMILY => "column family",
        TAG_COLUMN_FAMILY_ADD => "column family add",
        TAG_COLUMN_FAMILY_DROP => "column family drop",
        TAG_MAX_COLUMN_FAMILY => "max column family",
        TAG_IN_ATOMIC_GROUP => "in atomic group",
        TAG_BLOB_FILE_ADDITION | TAG_BLOB_FILE_ADDITION_OLD => "blob file addition",
        TAG_BLOB_FILE_GARBAGE | TAG_BLOB_FILE_GARBAGE_OLD => "blob file garbage",
        TAG_DB_ID => "db id",
        TAG_WAL_ADDITION | TAG_WAL_ADDITION2 => "WAL addition",
        TAG_WAL_DELETION | TAG_WAL_DELETION2 => "WAL deletion",
        TAG_FULL_HISTORY_TS_LOW => "full_history_ts_low",
        TAG_PERSIST_USER_DEFINED_TIMESTAMPS => "persist user-defined timestamps",
        TAG_SUBCOMPACTION_PROGRESS => "subcompaction progress",
        TAG_LAST_COMPACTED_MANIFEST_FILE_SIZE => "last compacted manifest file size",
        t if t & TAG_SAFE_IGNORE_MASK != 0 => "ignorable",
        _ => "unknown",
    }
}

impl fmt::Display for RocksEditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RocksEditError::BadTag { offset, cause } => {
                write!(f, "RocksDB VersionEdit tag at byte {offset} is malformed ({cause})")
            }
            RocksEditError::UnknownTag { offset, tag } => write!(
                f,
                "unknown RocksDB VersionEdit tag {tag} at byte {offset} (not marked safe to ignore)"
            ),
            RocksEditError::BadField {
                offset,
                tag,
                field,
                cause,
            } => write!(
                f,
                "RocksDB VersionEdit {} (tag {tag}) {field} at byte {offset} is malformed ({cause})",
                tag_name(tag)
            ),
            RocksEditError::Invalid {
                offset,
                tag,
                field,
                why,
            } => write!(
                f,
                "RocksDB VersionEdit {} (tag {tag}) {field} at byte {offset}: {why}",
                tag_name(tag)
            ),
        }
    }
}

impl std::error::Error for RocksEditError {}

/// Reads the fields of one tag, attributing failures to it.
struct Fields<'c, 'a> {
    c: &'c mut Cursor<'a>,
    tag: u32,
}

impl<'a> Fields<'_, 'a> {
    fn bad(&self, field: &'static str, offset: usize, cause: DecodeError) -> RocksEditError {
        RocksEditError::BadField {
            offset,
            tag: self.tag,
            field,
            cause,
        }
    }

    fn invalid(&self, field: &'static str, offset: usize, why: &'static str) -> RocksEditError {
        RocksEditError::Invalid {
            offset,
            tag: self.tag,
            field,
            why,
        }
    }

    fn varint64(&mut self, field: &'static str) -> Result<u64, RocksEditError> {
        let at = self.c.position();
        self.c.varint64().map_err(|e| self.bad(field, at, e))
    }

    fn varint32(&mut self, field: &'static str) -> Result<u32, RocksEditError> {
        let at = self.c.position();
        self.c.varint32().map_err(|e| self.bad(field, at, e))
    }

    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], RocksEditError> {
        let at = self.c.position();
        self.c.length_prefixed().map_err(|e| self.bad(field, at, e))
    }

    fn internal_key(&mut self, field: &'static str) -> Result<Vec<u8>, RocksEditError> {
        let at = self.c.position();
        let key = self.bytes(field)?;
        if key.len() < MIN_INTERNAL_KEY {
            return Err(self.invalid(field, at, "internal key shorter than its 8-byte tag"));
        }
        Ok(key.to_vec())
    }

    /// A varint64 that must open a length-prefixed value (trailing bytes
    /// in it are ignored, as RocksDB's `GetVarint64` on the slice does).
    fn varint64_in(
        &self,
        field: &'static str,
        at: usize,
        value: &[u8],
    ) -> Result<u64, RocksEditError> {
        Cursor::new(value)
            .varint64()
            .map_err(|e| self.bad(field, at, e))
    }

    /// A one-byte value.
    fn one_byte(&self, field: &'static str, at: usize, value: &[u8]) -> Result<u8, RocksEditError> {
        match value {
            [b] => Ok(*b),
            _ => Err(self.invalid(field, at, "value is not exactly one byte")),
        }
    }

    /// The WAL addition body: number, then metadata tags up to terminate.
    fn wal_addition(&mut self) -> Result<WalAddition, RocksEditError> {
        let number = self.varint64("WAL number")?;
        let mut synced_size = None;
        loop {
            let at = self.c.position();
            match self.varint32("WAL metadata tag")? {
                WAL_TERMINATE => {
                    return Ok(WalAddition {
                        number,
                        synced_size,
                    })
                }
                WAL_SYNCED_SIZE => synced_size = Some(self.varint64("synced size")?),
                _ => return Err(self.invalid("WAL metadata tag", at, "unknown WAL metadata tag")),
            }
        }
    }

    /// Blob custom fields up to the end marker; known ones do not exist yet.
    fn blob_custom_fields(&mut self) -> Result<(), RocksEditError> {
        loop {
            let at = self.c.position();
            let t = self.varint32("custom field tag")?;
            if t == BLOB_END {
                return Ok(());
            }
            if t & BLOB_FORWARD_INCOMPATIBLE != 0 {
                return Err(self.invalid(
                    "custom field tag",
                    at,
                    "forward incompatible custom field",
                ));
            }
            self.bytes("custom field value")?;
        }
    }

    fn new_file(&mut self) -> Result<RocksNewFile, RocksEditError> {
        let tag = self.tag;
        let level = self.varint32("level")?;
        let number = self.varint64("file number")?;
        let path_id = if tag == TAG_NEW_FILE3 {
            self.varint32("path id")?
        } else {
            0
        };
        let file_size = self.varint64("file size")?;
        let smallest = self.internal_key("smallest key")?;
        let largest = self.internal_key("largest key")?;
        let (smallest_seqno, largest_seqno) = if tag == TAG_NEW_FILE {
            (None, None)
        } else {
            (
                Some(self.varint64("smallest seqno")?),
                Some(self.varint64("largest seqno")?),
            )
        };
        let mut f = RocksNewFile {
            tag,
            level,
            number,
            path_id,
            file_size,
            smallest,
            largest,
            smallest_seqno,
            largest_seqno,
            fields: NewFileFields::default(),
        };
        if tag == TAG_NEW_FILE4 {
            self.new_file4_fields(&mut f)?;
        }
        Ok(f)
    }

    fn new_file4_fields(&mut self, f: &mut RocksNewFile) -> Result<(), RocksEditError> {
        loop {
            let custom = self.varint32("custom field tag")?;
            if custom == NF_TERMINATE {
                return Ok(());
            }
            let at = self.c.position();
            let v = self.bytes("custom field value")?;
            let m = &mut f.fields;
            match custom {
                NF_PATH_ID => {
                    let p = self.one_byte("path id", at, v)?;
                    if p > 3 {
                        return Err(self.invalid("path id", at, "path id above 3"));
                    }
                    f.path_id = u32::from(p);
                }
                NF_OLDEST_ANCESTER_TIME => {
                    m.oldest_ancester_time =
                        Some(self.varint64_in("oldest ancester time", at, v)?)
                }
                NF_FILE_CREATION_TIME => {
                    m.file_creation_time = Some(self.varint64_in("file creation time", at, v)?)
                }
                NF_EPOCH_NUMBER => {
                    m.epoch_number = Some(self.varint64_in("epoch number", at, v)?)
                }
                NF_FILE_CHECKSUM => m.file_checksum = Some(v.to_vec()),
                NF_FILE_CHECKSUM_FUNC_NAME => m.file_checksum_func_name = Some(v.to_vec()),
                NF_NEED_COMPACTION => {
                    m.need_compaction = Some(self.one_byte("need compaction", at, v)? == 1)
                }
                NF_MIN_LOG_NUMBER_TO_KEEP => {
                    let n = Cursor::new(v)
                        .fixed64()
                        .map_err(|e| self.bad("min log number to keep", at, e))?;
                    m.min_log_number_to_keep = Some(n);
                }
                NF_OLDEST_BLOB_FILE => {
                    m.oldest_blob_file_number = Some(self.varint64_in("oldest blob file", at, v)?)
                }
                NF_TEMPERATURE => m.temperature = Some(self.one_byte("temperature", at, v)?),
                NF_UNIQUE_ID => {
                    let mut c = Cursor::new(v);
                    match (v.len(), c.fixed64(), c.fixed64()) {
                        (16, Ok(a), Ok(b)) => m.unique_id = Some([a, b]),
                        _ => {
                            return Err(self.invalid("unique id", at, "unique id is not 16 bytes"))
                        }
                    }
                }
                NF_COMPENSATED_RANGE_DELETION_SIZE => {
                    m.compensated_range_deletion_size =
                        Some(self.varint64_in("compensated range deletion size", at, v)?)
                }
                NF_TAIL_SIZE => m.tail_size = Some(self.varint64_in("tail size", at, v)?),
                NF_USER_DEFINED_TIMESTAMPS_PERSISTED => {
                    m.user_defined_timestamps_persisted =
                        Some(self.one_byte("user-defined timestamps persisted", at, v)? == 1)
                }
                NF_MIN_TIMESTAMP => m.min_timestamp = Some(v.to_vec()),
                NF_MAX_TIMESTAMP => m.max_timestamp = Some(v.to_vec()),
                NF_FILE_OPEN_METADATA => m.file_open_metadata = Some(v.to_vec()),
                t if t & NF_NON_SAFE_IGNORE_MASK != 0 => {
                    return Err(self.invalid(
                        "custom field tag",
                        at,
                        "unknown custom field that must be understood",
                    ))
                }
                t => m.ignored.push((t, v.to_vec())),
            }
        }
    }
}

fn f_min_log(f: &RocksNewFile) -> Option<u64> {
    f.fields.min_log_number_to_keep
}

/// Decode a length-prefixed slice with `inner` applied to a cursor over it.
fn nested<'a, T>(
    r: &mut Fields<'_, 'a>,
    field: &'static str,
    inner: impl FnOnce(&mut Fields<'_, 'a>) -> Result<T, RocksEditError>,
) -> Result<T, RocksEditError> {
    let v = r.bytes(field)?;
    let mut c = Cursor::new(v);
    let mut f = Fields {
        c: &mut c,
        tag: r.tag,
    };
    inner(&mut f)
}

impl RocksEdit {
    /// The column family this edit applies to.
    pub fn cf_id(&self) -> u32 {
        self.column_family.unwrap_or(0)
    }

    /// Tag 10's value or, failing it, the largest NewFile4 copy of it.
    pub fn min_log_number_to_keep_any(&self) -> Option<u64> {
        let copies = self.new_files.iter().filter_map(f_min_log);
        self.min_log_number_to_keep.into_iter().chain(copies).max()
    }

    /// Decode a whole record. Any damage fails the record, as it fails
    /// RocksDB's `VersionEdit::DecodeFrom`.
    pub fn decode(payload: &[u8]) -> Result<RocksEdit, RocksEditError> {
        let mut e = RocksEdit::default();
        let mut c = Cursor::new(payload);
        while !c.is_empty() {
            let offset = c.position();
            let tag = c
                .varint32()
                .map_err(|cause| RocksEditError::BadTag { offset, cause })?;
            let mut r = Fields { c: &mut c, tag };
            match tag {
                TAG_DB_ID => e.db_id = Some(r.bytes("id")?.to_vec()),
                TAG_COMPARATOR => e.comparator = Some(r.bytes("name")?.to_vec()),
                TAG_LOG_NUMBER => e.log_number = Some(r.varint64("number")?),
                TAG_PREV_LOG_NUMBER => e.prev_log_number = Some(r.varint64("number")?),
                TAG_NEXT_FILE_NUMBER => e.next_file_number = Some(r.varint64("number")?),
                TAG_MAX_COLUMN_FAMILY => e.max_column_family = Some(r.varint32("id")?),
                TAG_MIN_LOG_NUMBER_TO_KEEP => {
                    e.min_log_number_to_keep = Some(r.varint64("number")?)
                }
                TAG_LAST_SEQUENCE => e.last_sequence = Some(r.varint64("sequence")?),
                TAG_COMPACT_CURSOR => {
                    let level = r.varint32("level")?;
                    let key = r.internal_key("key")?;
                    e.compact_cursors.push((level, key));
                }
                TAG_DELETED_FILE => {
                    let level = r.varint32("level")?;
                    let number = r.varint64("file number")?;
                    e.deleted_files.push((level, number));
                }
                TAG_NEW_FILE | TAG_NEW_FILE2 | TAG_NEW_FILE3 | TAG_NEW_FILE4 => {
                    e.new_files.push(r.new_file()?);
                }
                TAG_BLOB_FILE_ADDITION | TAG_BLOB_FILE_ADDITION_OLD => {
                    let number = r.varint64("blob file number")?;
                    let total_blob_count = r.varint64("total blob count")?;
                    let total_blob_bytes = r.varint64("total blob bytes")?;
                    let checksum_method = r.bytes("checksum method")?.to_vec();
                    let checksum_value = r.bytes("checksum value")?.to_vec();
                    r.blob_custom_fields()?;
                    e.blob_file_additions.push(BlobFileAddition {
                        number,
                        total_blob_count,
                        total_blob_bytes,
                        checksum_method,
                        checksum_value,
                    });
                }
                TAG_BLOB_FILE_GARBAGE | TAG_BLOB_FILE_GARBAGE_OLD => {
                    let number = r.varint64("blob file number")?;
                    let garbage_blob_count = r.varint64("garbage blob count")?;
                    let garbage_blob_bytes = r.varint64("garbage blob bytes")?;
                    r.blob_custom_fields()?;
                    e.blob_file_garbages.push(BlobFileGarbage {
                        number,
                        garbage_blob_count,
                        garbage_blob_bytes,
                    });
                }
                TAG_WAL_ADDITION => e.wal_additions.push(r.wal_addition()?),
                TAG_WAL_ADDITION2 => {
                    let w = nested(&mut r, "WAL addition", |f| f.wal_addition())?;
                    e.wal_additions.push(w);
                }
                TAG_WAL_DELETION => e.wal_deletion = Some(r.varint64("WAL number")?),
                TAG_WAL_DELETION2 => {
                    e.wal_deletion = Some(nested(&mut r, "WAL deletion", |f| {
                        f.varint64("WAL number")
                    })?)
                }
                TAG_COLUMN_FAMILY => e.column_family = Some(r.varint32("id")?),
                TAG_COLUMN_FAMILY_ADD => e.column_family_add = Some(r.bytes("name")?.to_vec()),
                TAG_COLUMN_FAMILY_DROP => e.column_family_drop = true,
                TAG_IN_ATOMIC_GROUP => {
                    e.atomic_group_remaining = Some(r.varint32("remaining entries")?)
                }
                TAG_FULL_HISTORY_TS_LOW => {
                    let at = r.c.position();
                    let v = r.bytes("timestamp")?;
                    if v.is_empty() {
                        return Err(r.invalid("timestamp", at, "empty"));
                    }
                    e.full_history_ts_low = Some(v.to_vec());
                }
                TAG_PERSIST_USER_DEFINED_TIMESTAMPS => {
                    let at = r.c.position();
                    let v = r.bytes("flag")?;
                    e.persist_user_defined_timestamps = Some(r.one_byte("flag", at, v)? == 1);
                }
                TAG_SUBCOMPACTION_PROGRESS => {
                    e.subcompaction_progress = Some(r.bytes("progress")?.to_vec())
                }
                TAG_LAST_COMPACTED_MANIFEST_FILE_SIZE => {
                    let at = r.c.position();
                    let v = r.bytes("size")?;
                    e.last_compacted_manifest_file_size = Some(r.varint64_in("size", at, v)?);
                }
                t if t & TAG_SAFE_IGNORE_MASK != 0 => {
                    let v = r.bytes("ignorable value")?;
                    e.ignored.push((t, v.to_vec()));
                }
                _ => return Err(RocksEditError::UnknownTag { offset, tag }),
            }
        }
        Ok(e)
    }

    /// Encode in the field order of RocksDB's `VersionEdit::EncodeTo`, each
    /// new file in the form it names, WAL edits in their "2" forms. Skipped
    /// ignorable tags and custom fields are written back at the end of
    /// their edit or entry, so decoding what this writes gives back `self`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let o = &mut out;
        if let Some(id) = &self.db_id {
            put_varint32(o, TAG_DB_ID);
            put_length_prefixed(o, id);
        }
        if let Some(name) = &self.comparator {
            put_varint32(o, TAG_COMPARATOR);
            put_length_prefixed(o, name);
        }
        let scalars = [
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_PREV_LOG_NUMBER, self.prev_log_number),
            (TAG_NEXT_FILE_NUMBER, self.next_file_number),
            (TAG_MAX_COLUMN_FAMILY, self.max_column_family.map(u64::from)),
            (TAG_MIN_LOG_NUMBER_TO_KEEP, self.min_log_number_to_keep),
            (TAG_LAST_SEQUENCE, self.last_sequence),
        ];
        for (tag, v) in scalars {
            if let Some(v) = v {
                put_varint32(o, tag);
                put_varint64(o, v);
            }
        }
        for (level, key) in &self.compact_cursors {
            put_varint32(o, TAG_COMPACT_CURSOR);
            put_varint32(o, *level);
            put_length_prefixed(o, key);
        }
        for &(level, number) in &self.deleted_files {
            put_varint32(o, TAG_DELETED_FILE);
            put_varint32(o, level);
            put_varint64(o, number);
        }
        for f in &self.new_files {
            encode_new_file(o, f);
        }
        for b in &self.blob_file_additions {
            put_varint32(o, TAG_BLOB_FILE_ADDITION);
            put_varint64(o, b.number);
            put_varint64(o, b.total_blob_count);
            put_varint64(o, b.total_blob_bytes);
            put_length_prefixed(o, &b.checksum_method);
            put_length_prefixed(o, &b.checksum_value);
            put_varint32(o, BLOB_END);
        }
        for g in &self.blob_file_garbages {
            put_varint32(o, TAG_BLOB_FILE_GARBAGE);
            put_varint64(o, g.number);
            put_varint64(o, g.garbage_blob_count);
            put_varint64(o, g.garbage_blob_bytes);
            put_varint32(o, BLOB_END);
        }
        for w in &self.wal_additions {
            let mut inner = Vec::new();
            put_varint64(&mut inner, w.number);
            if let Some(s) = w.synced_size {
                put_varint32(&mut inner, WAL_SYNCED_SIZE);
                put_varint64(&mut inner, s);
            }
            put_varint32(&mut inner, WAL_TERMINATE);
            put_varint32(o, TAG_WAL_ADDITION2);
            put_length_prefixed(o, &inner);
        }
        if let Some(n) = self.wal_deletion {
            let mut inner = Vec::new();
            put_varint64(&mut inner, n);
            put_varint32(o, TAG_WAL_DELETION2);
            put_length_prefixed(o, &inner);
        }
        if let Some(cf) = self.column_family {
            put_varint32(o, TAG_COLUMN_FAMILY);
            put_varint32(o, cf);
        }
        if let Some(name) = &self.column_family_add {
            put_varint32(o, TAG_COLUMN_FAMILY_ADD);
            put_length_prefixed(o, name);
        }
        if self.column_family_drop {
            put_varint32(o, TAG_COLUMN_FAMILY_DROP);
        }
        if let Some(n) = self.atomic_group_remaining {
            put_varint32(o, TAG_IN_ATOMIC_GROUP);
            put_varint32(o, n);
        }
        if let Some(ts) = &self.full_history_ts_low {
            put_varint32(o, TAG_FULL_HISTORY_TS_LOW);
            put_length_prefixed(o, ts);
        }
        if let Some(p) = self.persist_user_defined_timestamps {
            put_varint32(o, TAG_PERSIST_USER_DEFINED_TIMESTAMPS);
            put_length_prefixed(o, &[u8::from(p)]);
        }
        if let Some(p) = &self.subcompaction_progress {
            put_varint32(o, TAG_SUBCOMPACTION_PROGRESS);
            put_length_prefixed(o, p);
        }
        if let Some(s) = self.last_compacted_manifest_file_size {
            let mut inner = Vec::new();
            put_varint64(&mut inner, s);
            put_varint32(o, TAG_LAST_COMPACTED_MANIFEST_FILE_SIZE);
            put_length_prefixed(o, &inner);
        }
        for (tag, v) in &self.ignored {
            put_varint32(o, *tag);
            put_length_prefixed(o, v);
        }
        out
    }
}

fn put_custom(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    put_varint32(out, tag);
    put_length_prefixed(out, value);
}

fn put_custom_varint(out: &mut Vec<u8>, tag: u32, v: Option<u64>) {
    if let Some(v) = v {
        let mut b = Vec::new();
        put_varint64(&mut b, v);
        put_custom(out, tag, &b);
    }
}

fn encode_new_file(out: &mut Vec<u8>, f: &RocksNewFile) {
    let tag = match f.tag {
        TAG_NEW_FILE | TAG_NEW_FILE2 | TAG_NEW_FILE3 => f.tag,
        _ => TAG_NEW_FILE4,
    };
    put_varint32(out, tag);
    put_varint32(out, f.level);
    put_varint64(out, f.number);
    if tag == TAG_NEW_FILE3 {
        put_varint32(out, f.path_id);
    }
    put_varint64(out, f.file_size);
    put_length_prefixed(out, &f.smallest);
    put_length_prefixed(out, &f.largest);
    if tag == TAG_NEW_FILE {
        return;
    }
    // RocksDB's defaults for a file whose seqnos are unknown.
    put_varint64(out, f.smallest_seqno.unwrap_or(0));
    put_varint64(out, f.largest_seqno.unwrap_or(super::ikey::MAX_SEQUENCE));
    if tag != TAG_NEW_FILE4 {
        return;
    }
    let m = &f.fields;
    put_custom_varint(out, NF_OLDEST_ANCESTER_TIME, m.oldest_ancester_time);
    put_custom_varint(out, NF_FILE_CREATION_TIME, m.file_creation_time);
    put_custom_varint(out, NF_EPOCH_NUMBER, m.epoch_number);
    if let Some(c) = &m.file_checksum {
        put_custom(out, NF_FILE_CHECKSUM, c);
    }
    if let Some(n) = &m.file_checksum_func_name {
        put_custom(out, NF_FILE_CHECKSUM_FUNC_NAME, n);
    }
    if f.path_id != 0 {
        // NewFile4 paths are 0..=3; a larger one (from a NewFile3 entry
        // re-tagged by a caller) keeps its low byte.
        put_custom(
            out,
            NF_PATH_ID,
            &[u8::try_from(f.path_id).unwrap_or(u8::MAX)],
        );
    }
    if let Some(t) = m.temperature {
        put_custom(out, NF_TEMPERATURE, &[t]);
    }
    if let Some(n) = m.need_compaction {
        put_custom(out, NF_NEED_COMPACTION, &[u8::from(n)]);
    }
    if let Some(n) = m.min_log_number_to_keep {
        let mut b = Vec::new();
        put_fixed64(&mut b, n);
        put_custom(out, NF_MIN_LOG_NUMBER_TO_KEEP, &b);
    }
    put_custom_varint(out, NF_OLDEST_BLOB_FILE, m.oldest_blob_file_number);
    if let Some([a, b]) = m.unique_id {
        let mut v = Vec::new();
        put_fixed64(&mut v, a);
        put_fixed64(&mut v, b);
        put_custom(out, NF_UNIQUE_ID, &v);
    }
    put_custom_varint(
        out,
        NF_COMPENSATED_RANGE_DELETION_SIZE,
        m.compensated_range_deletion_size,
    );
    put_custom_varint(out, NF_TAIL_SIZE, m.tail_size);
    if let Some(p) = m.user_defined_timestamps_persisted {
        put_custom(out, NF_USER_DEFINED_TIMESTAMPS_PERSISTED, &[u8::from(p)]);
    }
    if let Some(t) = &m.min_timestamp {
        put_custom(out, NF_MIN_TIMESTAMP, t);
    }
    if let Some(t) = &m.max_timestamp {
        put_custom(out, NF_MAX_TIMESTAMP, t);
    }
    if let Some(t) = &m.file_open_metadata {
        put_custom(out, NF_FILE_OPEN_METADATA, t);
    }
    for (t, v) in &m.ignored {
        put_custom(out, *t, v);
    }
    put_varint32(out, NF_TERMINATE);
}

/// Something in the edit sequence that RocksDB's recovery would refuse or
/// silently drop, and that a forensic reader wants to know about. `edit` is
/// the 0-based index of the record among those fed to the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RocksAnomaly {
    /// A deletion of a file not live in its column family (RocksDB:
    /// corruption). Not applied.
    DeletedUnknown {
        edit: usize,
        cf: u32,
        level: u32,
        number: u64,
    },
    /// A deletion naming a live file at another level (RocksDB:
    /// corruption). Not applied.
    DeletedWrongLevel {
        edit: usize,
        cf: u32,
        level: u32,
        number: u64,
        live_level: u32,
    },
    /// An addition of a file already live (RocksDB: corruption); the new
    /// entry replaces the old one here.
    AddedTwice { edit: usize, cf: u32, number: u64 },
    /// A column family added under an id already live (RocksDB:
    /// corruption). The first one is kept.
    CfAddedTwice { edit: usize, cf: u32, name: Vec<u8> },
    /// A drop of a column family that is not live. Ignored.
    DroppedUnknownCf { edit: usize, cf: u32 },
    /// An edit for a column family never added or already dropped (RocksDB:
    /// corruption). Its files and per-family fields are not applied.
    UnknownCf { edit: usize, cf: u32 },
    /// A log number below the family's current one; RocksDB logs a warning
    /// and keeps the current one.
    LogNumberDecreased {
        edit: usize,
        cf: u32,
        from: u64,
        to: u64,
    },
    /// A last sequence below the current one (RocksDB assumes they never
    /// decrease); it is applied.
    LastSequenceDecreased { edit: usize, from: u64, to: u64 },
    /// A WAL addition without a synced size for a WAL already recorded
    /// (RocksDB: "created more than once"). Ignored.
    WalAddedTwice { edit: usize, number: u64 },
    /// A blob file added twice to a family (RocksDB: corruption); the new
    /// entry replaces the old one.
    BlobAddedTwice { edit: usize, cf: u32, number: u64 },
    /// Garbage for a blob file the family does not have. Ignored.
    BlobGarbageUnknown { edit: usize, cf: u32, number: u64 },
    /// An atomic group whose edits do not count down as announced, or a
    /// normal edit in the middle of one (RocksDB: "corrupted atomic
    /// group"). The group's edits read so far are dropped, not applied.
    BrokenAtomicGroup {
        first_edit: usize,
        at_edit: usize,
        read: usize,
        expected: u64,
    },
    /// The MANIFEST ended inside an atomic group: RocksDB does not apply
    /// any of it, and neither does this replay.
    IncompleteAtomicGroup {
        first_edit: usize,
        read: usize,
        expected: u64,
    },
}

/// A blob file of a column family, with the garbage recorded against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobFile {
    pub addition: BlobFileAddition,
    pub garbage_blob_count: u64,
    pub garbage_blob_bytes: u64,
}

/// One column family as the replay left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CfState {
    pub name: Vec<u8>,
    /// Dropped families keep the files they had when dropped, for forensic
    /// use; RocksDB forgets them.
    pub dropped: bool,
    /// The edit that added it (`None` for the implicit default family).
    pub added_by: Option<usize>,
    pub comparator: Option<Vec<u8>>,
    pub persist_user_defined_timestamps: Option<bool>,
    pub log_number: Option<u64>,
    pub full_history_ts_low: Option<Vec<u8>>,
    /// Live tables: file number → entry (its level is `entry.level`).
    pub files: BTreeMap<u64, RocksNewFile>,
    /// Tables an edit deleted and no later edit added back.
    pub deleted: BTreeSet<u64>,
    pub blob_files: BTreeMap<u64, BlobFile>,
    /// Latest compact cursor per level.
    pub compact_cursors: BTreeMap<u32, Vec<u8>>,
}

impl CfState {
    fn named(name: &[u8], added_by: Option<usize>) -> Self {
        CfState {
            name: name.to_vec(),
            added_by,
            ..Default::default()
        }
    }
}

/// The state reached by applying RocksDB VersionEdits in order, as
/// `VersionEditHandler` does: feed each decoded record with
/// [`RocksVersionState::feed`], then call [`RocksVersionState::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksVersionState {
    pub db_id: Option<Vec<u8>>,
    /// By id; the default family (0, "default") exists from the start, as
    /// RocksDB's recovery creates it before reading.
    pub column_families: BTreeMap<u32, CfState>,
    pub next_file: Option<u64>,
    pub last_sequence: Option<u64>,
    pub prev_log_number: Option<u64>,
    /// The largest seen (RocksDB keeps the maximum).
    pub min_log_number_to_keep: Option<u64>,
    pub max_column_family: Option<u32>,
    pub last_compacted_manifest_file_size: Option<u64>,
    /// WALs the MANIFEST says are alive: number → synced size (`None`:
    /// created but no synced size recorded).
    pub wals: BTreeMap<u64, Option<u64>>,
    /// WALs below this were deleted by a WAL deletion.
    pub min_wal_number_to_keep: u64,
    /// Records fed.
    pub edits: usize,
    /// Records applied (atomic groups count once they complete).
    pub applied: usize,
    /// Unknown safe-to-ignore tags skipped across all applied edits.
    pub ignored_tags: Vec<u32>,
    pub anomalies: Vec<RocksAnomaly>,
    /// The atomic group being read: its first edit's index, the edits read
    /// and the count its first edit announced. Kept as read, never sized
    /// from the announced count.
    pending: Option<(usize, Vec<RocksEdit>, u64)>,
}

impl Default for RocksVersionState {
    fn default() -> Self {
        Self::new()
    }
}

impl RocksVersionState {
    pub fn new() -> Self {
        let mut column_families = BTreeMap::new();
        column_families.insert(0, CfState::named(b"default", None));
        RocksVersionState {
            db_id: None,
            column_families,
            next_file: None,
            last_sequence: None,
            prev_log_number: None,
            min_log_number_to_keep: None,
            max_column_family: None,
            last_compacted_manifest_file_size: None,
            wals: BTreeMap::new(),
            min_wal_number_to_keep: 0,
            edits: 0,
            applied: 0,
            ignored_tags: Vec::new(),
            anomalies: Vec::new(),
            pending: None,
        }
    }

    /// Replay a whole sequence of decoded records.
    pub fn replay<I: IntoIterator<Item = RocksEdit>>(edits: I) -> Self {
        let mut st = Self::new();
        for e in edits {
            st.feed(e);
        }
        st.finish();
        st
    }

    /// The live (not dropped) families.
    pub fn live_cfs(&self) -> impl Iterator<Item = (&u32, &CfState)> {
        self.column_families.iter().filter(|(_, c)| !c.dropped)
    }

    /// The family of this name that is live, if any.
    pub fn cf_by_name(&self, name: &[u8]) -> Option<(u32, &CfState)> {
        self.live_cfs()
            .find(|(_, c)| c.name == name)
            .map(|(id, c)| (*id, c))
    }

    /// Take one record in MANIFEST order. Edits of an atomic group are held
    /// until its last one arrives, then applied together.
    pub fn feed(&mut self, edit: RocksEdit) {
        let index = self.edits;
        self.edits = self.edits.saturating_add(1);
        match edit.atomic_group_remaining {
            Some(remaining) => {
                let (first, mut group, expected) = match self.pending.take() {
                    Some(p) => p,
                    None => (index, Vec::new(), u64::from(remaining).saturating_add(1)),
                };
                group.push(edit);
                let read = group.len();
                let counted = u64::try_from(read)
                    .unwrap_or(u64::MAX)
                    .saturating_add(u64::from(remaining));
                if counted != expected {
                    self.anomalies.push(RocksAnomaly::BrokenAtomicGroup {
                        first_edit: first,
                        at_edit: index,
                        read,
                        expected,
                    });
                    // This edit may open the next group; RocksDB would
                    // stop recovery here.
                    if let Some(e) = group.pop() {
                        let expected = u64::from(remaining).saturating_add(1);
                        if expected == 1 {
                            self.apply_group(index, vec![e]);
                        } else {
                            self.pending = Some((index, vec![e], expected));
                        }
                    }
                } else if remaining == 0 {
                    self.apply_group(first, group);
                } else {
                    self.pending = Some((first, group, expected));
                }
            }
            None => {
                if let Some((first, group, expected)) = self.pending.take() {
                    self.anomalies.push(RocksAnomaly::BrokenAtomicGroup {
                        first_edit: first,
                        at_edit: index,
                        read: group.len(),
                        expected,
                    });
                }
                self.apply(index, &edit);
            }
        }
    }

    /// End of the MANIFEST: an atomic group still open is reported and
    /// dropped.
    pub fn finish(&mut self) {
        if let Some((first, group, expected)) = self.pending.take() {
            self.anomalies.push(RocksAnomaly::IncompleteAtomicGroup {
                first_edit: first,
                read: group.len(),
                expected,
            });
        }
    }

    fn apply_group(&mut self, first: usize, group: Vec<RocksEdit>) {
        for (i, e) in group.iter().enumerate() {
            self.apply(first.saturating_add(i), e);
        }
    }

    /// Apply one edit as `VersionEditHandler::ApplyVersionEdit` does: a
    /// family add, a family drop, a WAL addition, a WAL deletion, or else
    /// a change to one family's files; then the scalars.
    fn apply(&mut self, index: usize, edit: &RocksEdit) {
        self.applied = self.applied.saturating_add(1);
        let cf = edit.cf_id();
        // Whether per-family scalars (log number, comparator) apply.
        let mut target = None;
        if let Some(name) = &edit.column_family_add {
            match self.column_families.get(&cf) {
                Some(c) if !c.dropped => self.anomalies.push(RocksAnomaly::CfAddedTwice {
                    edit: index,
                    cf,
                    name: name.clone(),
                }),
                _ => {
                    self.column_families
                        .insert(cf, CfState::named(name, Some(index)));
                    target = Some(cf);
                }
            }
        } else if edit.column_family_drop {
            match self.column_families.get_mut(&cf) {
                Some(c) if !c.dropped => c.dropped = true,
                _ => self
                    .anomalies
                    .push(RocksAnomaly::DroppedUnknownCf { edit: index, cf }),
            }
        } else if !edit.wal_additions.is_empty() {
            for w in &edit.wal_additions {
                self.add_wal(index, *w);
            }
        } else if let Some(n) = edit.wal_deletion.filter(|&n| n != 0) {
            if n > self.min_wal_number_to_keep {
                self.min_wal_number_to_keep = n;
                self.wals = self.wals.split_off(&n);
            }
        } else {
            match self.column_families.get_mut(&cf) {
                Some(c) if !c.dropped => {
                    apply_files(c, cf, index, edit, &mut self.anomalies);
                    target = Some(cf);
                }
                _ => self
                    .anomalies
                    .push(RocksAnomaly::UnknownCf { edit: index, cf }),
            }
        }
        if let Some(c) = target.and_then(|id| self.column_families.get_mut(&id)) {
            if let Some(n) = edit.log_number {
                match c.log_number {
                    Some(cur) if cur > n => self.anomalies.push(RocksAnomaly::LogNumberDecreased {
                        edit: index,
                        cf,
                        from: cur,
                        to: n,
                    }),
                    _ => c.log_number = Some(n),
                }
            }
            if let Some(name) = &edit.comparator {
                c.comparator = Some(name.clone());
                c.persist_user_defined_timestamps = edit.persist_user_defined_timestamps;
            }
            if let Some(ts) = &edit.full_history_ts_low {
                c.full_history_ts_low = Some(ts.clone());
            }
        }
        if edit.db_id.is_some() {
            self.db_id.clone_from(&edit.db_id);
        }
        if edit.prev_log_number.is_some() {
            self.prev_log_number = edit.prev_log_number;
        }
        if edit.next_file_number.is_some() {
            self.next_file = edit.next_file_number;
        }
        if edit.max_column_family.is_some() {
            self.max_column_family = edit.max_column_family;
        }
        if let Some(m) = edit.min_log_number_to_keep_any() {
            self.min_log_number_to_keep = Some(self.min_log_number_to_keep.map_or(m, |c| c.max(m)));
        }
        if let Some(s) = edit.last_sequence {
            if let Some(cur) = self.last_sequence.filter(|&cur| cur > s) {
                self.anomalies.push(RocksAnomaly::LastSequenceDecreased {
                    edit: index,
                    from: cur,
                    to: s,
                });
            }
            self.last_sequence = Some(s);
        }
        if edit.last_compacted_manifest_file_size.is_some() {
            self.last_compacted_manifest_file_size = edit.last_compacted_manifest_file_size;
        }
        self.ignored_tags
            .extend(edit.ignored.iter().map(|(t, _)| *t));
    }

    /// `WalSet::AddWal`: ignore WALs already deleted; record a new one;
    /// raise a known one's synced size, never lower it.
    fn add_wal(&mut self, index: usize, w: WalAddition) {
        if w.number < self.min_wal_number_to_keep {
            return;
        }
        let size = w.synced_size.filter(|&s| s != UNKNOWN_WAL_SIZE);
        match self.wals.get_mut(&w.number) {
            None => {
                self.wals.insert(w.number, size);
            }
            Some(cur) => match size {
                None => self.anomalies.push(RocksAnomaly::WalAddedTwice {
                    edit: index,
                    number: w.number,
                }),
                Some(s) => {
                    if cur.is_none_or(|c| s > c) {
                        *cur = Some(s);
                    }
                }
            },
        }
    }
}

/// `VersionBuilder::Apply` for one family: blob additions, blob garbage,
/// deletions, then additions (so a file moved between levels within one
/// edit stays live), then compact cursors.
fn apply_files(
    c: &mut CfState,
    cf: u32,
    index: usize,
    edit: &RocksEdit,
    anomalies: &mut Vec<RocksAnomaly>,
) {
    for b in &edit.blob_file_additions {
        let old = c.blob_files.insert(
            b.number,
            BlobFile {
                addition: b.clone(),
                garbage_blob_count: 0,
                garbage_blob_bytes: 0,
            },
        );
        if old.is_some() {
            anomalies.push(RocksAnomaly::BlobAddedTwice {
                edit: index,
                cf,
                number: b.number,
            });
        }
    }
    for g in &edit.blob_file_garbages {
        match c.blob_files.get_mut(&g.number) {
            Some(b) => {
                b.garbage_blob_count = b.garbage_blob_count.saturating_add(g.garbage_blob_count);
                b.garbage_blob_bytes = b.garbage_blob_bytes.saturating_add(g.garbage_blob_bytes);
            }
            None => anomalies.push(RocksAnomaly::BlobGarbageUnknown {
                edit: index,
                cf,
                number: g.number,
            }),
        }
    }
    // RocksDB holds an edit's deletions in a set: a repeat is one deletion.
    let deletions: BTreeSet<(u32, u64)> = edit.deleted_files.iter().copied().collect();
    for (level, number) in deletions {
        match c.files.get(&number).map(|f| f.level) {
            Some(live) if live == level => {
                c.files.remove(&number);
                c.deleted.insert(number);
            }
            Some(live_level) => anomalies.push(RocksAnomaly::DeletedWrongLevel {
                edit: index,
                cf,
                level,
                number,
                live_level,
            }),
            None => anomalies.push(RocksAnomaly::DeletedUnknown {
                edit: index,
                cf,
                level,
                number,
            }),
        }
    }
    for f in &edit.new_files {
        c.deleted.remove(&f.number);
        if c.files.insert(f.number, f.clone()).is_some() {
            anomalies.push(RocksAnomaly::AddedTwice {
                edit: index,
                cf,
                number: f.number,
            });
        }
    }
    for (level, key) in &edit.compact_cursors {
        c.compact_cursors.insert(*level, key.clone());
    }
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    fn ikey(user: &[u8], seq: u64, kind: u8) -> Vec<u8> {
        let mut k = user.to_vec();
        k.extend_from_slice(&((seq << 8) | u64::from(kind)).to_le_bytes());
        k
    }

    fn nf4(level: u32, number: u64) -> RocksNewFile {
        RocksNewFile {
            tag: TAG_NEW_FILE4,
            level,
            number,
            path_id: 0,
            file_size: number * 100,
            smallest: ikey(b"a", number, 1),
            largest: ikey(b"z", number, 1),
            smallest_seqno: Some(1),
            largest_seqno: Some(number),
            fields: NewFileFields {
                oldest_ancester_time: Some(1_700_000_000),
                file_creation_time: Some(1_700_000_001),
                epoch_number: Some(number),
                ..Default::default()
            },
        }
    }

    /// Every field set, every form of new file, so the encoder and
    /// decoder meet on all of them.
    fn full_edit() -> RocksEdit {
        let mut rich = nf4(3, 77);
        rich.path_id = 2;
        rich.fields = NewFileFields {
            need_compaction: Some(true),
            min_log_number_to_keep: Some(40),
            oldest_blob_file_number: Some(5),
            oldest_ancester_time: Some(1),
            file_creation_time: Some(2),
            file_checksum: Some(vec![1, 2, 3, 4]),
            file_checksum_func_name: Some(b"FileChecksumCrc32c".to_vec()),
            temperature: Some(2),
            min_timestamp: Some(vec![0; 8]),
            max_timestamp: Some(vec![0xff; 8]),
            unique_id: Some([u64::MAX, 7]),
            epoch_number: Some(9),
            compensated_range_deletion_size: Some(300),
            tail_size: Some(1234),
            user_defined_timestamps_persisted: Some(false),
            file_open_metadata: Some(b"meta".to_vec()),
            ignored: vec![(33, b"future".to_vec())],
        };
        RocksEdit {
            db_id: Some(b"ce3930c4-80cf-4564-a83c-9b5032695e72".to_vec()),
            comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
            log_number: Some(12),
            prev_log_number: Some(0),
            next_file_number: Some(1 << 40),
            last_sequence: Some((1 << 56) - 1),
            min_log_number_to_keep: Some(40),
            max_column_family: Some(9),
            compact_cursors: vec![(1, ikey(b"cc", 3, 1))],
            deleted_files: vec![(1, 7), (6, u64::MAX)],
            new_files: vec![
                RocksNewFile {
                    tag: TAG_NEW_FILE,
                    smallest_seqno: None,
                    largest_seqno: None,
                    fields: NewFileFields::default(),
                    ..nf4(0, 8)
                },
                RocksNewFile {
                    tag: TAG_NEW_FILE2,
                    fields: NewFileFields::default(),
                    ..nf4(1, 9)
                },
                RocksNewFile {
                    tag: TAG_NEW_FILE3,
                    path_id: 70_000,
                    fields: NewFileFields::default(),
                    ..nf4(2, 10)
                },
                nf4(0, 11),
                rich,
            ],
            blob_file_additions: vec![BlobFileAddition {
                number: 5,
                total_blob_count: 10,
                total_blob_bytes: 1000,
                checksum_method: b"crc32c".to_vec(),
                checksum_value: vec![9, 9, 9, 9],
            }],
            blob_file_garbages: vec![BlobFileGarbage {
                number: 5,
                garbage_blob_count: 2,
                garbage_blob_bytes: 200,
            }],
            wal_additions: vec![
                WalAddition {
                    number: 4,
                    synced_size: Some(15420),
                },
                WalAddition {
                    number: 6,
                    synced_size: None,
                },
            ],
            wal_deletion: Some(3),
            column_family: Some(2),
            column_family_add: Some(b"alpha".to_vec()),
            column_family_drop: true,
            atomic_group_remaining: Some(4),
            full_history_ts_low: Some(vec![0, 0, 0, 0, 0, 0, 0, 1]),
            persist_user_defined_timestamps: Some(true),
            subcompaction_progress: Some(vec![1]),
            last_compacted_manifest_file_size: Some(4096),
            ignored: vec![(TAG_SAFE_IGNORE_MASK + 100, b"xyz".to_vec())],
        }
    }

    #[test]
    fn roundtrip() {
        let e = full_edit();
        let bytes = e.encode();
        assert_eq!(RocksEdit::decode(&bytes), Ok(e.clone()));
        assert_eq!(RocksEdit::decode(&bytes).unwrap().encode(), bytes);
        assert_eq!(RocksEdit::decode(&[]), Ok(RocksEdit::default()));
        assert!(RocksEdit::default().encode().is_empty());
        assert_eq!(e.min_log_number_to_keep_any(), Some(40));
    }

    fn lp(b: &[u8]) -> Vec<u8> {
        let mut v = vec![b.len() as u8];
        v.extend_from_slice(b);
        v
    }

    /// Hand-assembled bytes per tag, to pin the wire format rather than the
    /// encoder's agreement with itself.
    #[test]
    fn wire_format_by_tag() {
        let k1 = ikey(b"a", 2, 1);
        let k2 = ikey(b"b", 3, 0);
        let keys = [lp(&k1), lp(&k2)].concat();
        let file = |tag: u32| RocksNewFile {
            tag,
            level: 1,
            number: 8,
            path_id: 0,
            file_size: 10000,
            smallest: k1.clone(),
            largest: k2.clone(),
            smallest_seqno: None,
            largest_seqno: None,
            fields: NewFileFields::default(),
        };
        let one = |e: RocksEdit| e;
        let cases: Vec<(Vec<u8>, RocksEdit)> = vec![
            (
                [&[1u8][..], &lp(b"cmp")].concat(),
                one(RocksEdit {
                    comparator: Some(b"cmp".to_vec()),
                    ..Default::default()
                }),
            ),
            (
                vec![2, 0xac, 0x02, 9, 7, 3, 5, 4, 0x80, 0x01, 10, 6],
                RocksEdit {
                    log_number: Some(300),
                    prev_log_number: Some(7),
                    next_file_number: Some(5),
                    last_sequence: Some(128),
                    min_log_number_to_keep: Some(6),
                    ..Default::default()
                },
            ),
            (
                [&[5u8, 2][..], &lp(&k1), &[6, 3, 42]].concat(),
                RocksEdit {
                    compact_cursors: vec![(2, k1.clone())],
                    deleted_files: vec![(3, 42)],
                    ..Default::default()
                },
            ),
            (
                [&[7u8, 1, 8, 0x90, 0x4e][..], &keys].concat(),
                RocksEdit {
                    new_files: vec![file(7)],
                    ..Default::default()
                },
            ),
            (
                // kNewFile2 = 100, then seqnos 2 and 3.
                [&[100u8, 1, 8, 0x90, 0x4e][..], &keys, &[2, 3]].concat(),
                RocksEdit {
                    new_files: vec![RocksNewFile {
                        smallest_seqno: Some(2),
                        largest_seqno: Some(3),
                        ..file(100)
                    }],
                    ..Default::default()
                },
            ),
            (
                // kNewFile3 = 102: path id 1 after the number.
                [&[102u8, 1, 8, 1, 0x90, 0x4e][..], &keys, &[2, 3]].concat(),
                RocksEdit {
                    new_files: vec![RocksNewFile {
                        path_id: 1,
                        smallest_seqno: Some(2),
                        largest_seqno: Some(3),
                        ..file(102)
                    }],
                    ..Default::default()
                },
            ),
            (
                // kNewFile4 = 103 (0x67): custom fields 13 (epoch 5), 65
                // (path 3), 12 (unique id), 3 (fixed64 min log), 1 ends.
                [
                    &[103u8, 1, 8, 0x90, 0x4e][..],
                    &keys,
                    &[2, 3, 13, 1, 5, 65, 1, 3, 12, 16],
                    &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
                    &[3, 8, 9, 0, 0, 0, 0, 0, 0, 0, 1],
                ]
                .concat(),
                RocksEdit {
                    new_files: vec![RocksNewFile {
                        path_id: 3,
                        smallest_seqno: Some(2),
                        largest_seqno: Some(3),
                        fields: NewFileFields {
                            epoch_number: Some(5),
                            unique_id: Some([1, 2]),
                            min_log_number_to_keep: Some(9),
                            ..Default::default()
                        },
                        ..file(103)
                    }],
                    ..Default::default()
                },
            ),
            (
                // 200 column family 3, 201 add "cf", 202 drop, 203 max 3,
                // 300 in atomic group 2.
                [
                    &[0xc8u8, 0x01, 3, 0xc9, 0x01][..],
                    &lp(b"cf"),
                    &[0xca, 0x01, 0xcb, 0x01, 3, 0xac, 0x02, 2],
                ]
                .concat(),
                RocksEdit {
                    column_family: Some(3),
                    column_family_add: Some(b"cf".to_vec()),
                    column_family_drop: true,
                    max_column_family: Some(3),
                    atomic_group_remaining: Some(2),
                    ..Default::default()
                },
            ),
            (
                // 400 blob addition (number 5, 1 blob, 9 bytes, "", "",
                // a skippable custom field 3, end 0); 401 garbage.
                [
                    &[0x90u8, 0x03, 5, 1, 9, 0, 0, 3, 1, 0xee, 0][..],
                    &[0x91, 0x03, 5, 1, 4, 0],
                ]
                .concat(),
                RocksEdit {
                    blob_file_additions: vec![BlobFileAddition {
                        number: 5,
                        total_blob_count: 1,
                        total_blob_bytes: 9,
                        checksum_method: vec![],
                        checksum_value: vec![],
                    }],
                    blob_file_garbages: vec![BlobFileGarbage {
                        number: 5,
                        garbage_blob_count: 1,
                        garbage_blob_bytes: 4,
                    }],
                    ..Default::default()
                },
            ),
            (
                // 8196 WAL addition inline (number 4, synced 0x3c3c, end),
                // 8199 the length-prefixed form without a size, 8197 and
                // 8200 deletions (the last wins).
                [
                    &[0x84u8, 0x40, 4, 2, 0xbc, 0x78, 1][..],
                    &[0x87, 0x40, 2, 6, 1],
                    &[0x85, 0x40, 3, 0x88, 0x40, 1, 5],
                ]
                .concat(),
                RocksEdit {
                    wal_additions: vec![
                        WalAddition {
                            number: 4,
                            synced_size: Some(0x3c3c),
                        },
                        WalAddition {
                            number: 6,
                            synced_size: None,
                        },
                    ],
                    wal_deletion: Some(5),
                    ..Default::default()
                },
            ),
            (
                // 8193 db id, 8198 ts low, 8201 persist flag, 8203 size,
                // and an unknown 8300 skipped by its length.
                [
                    &[0x81u8, 0x40][..],
                    &lp(b"id"),
                    &[0x86, 0x40],
                    &lp(&[7]),
                    &[0x89, 0x40, 1, 0, 0x8b, 0x40, 2, 0x80, 0x20],
                    &[0xec, 0x40],
                    &lp(b"??"),
                ]
                .concat(),
                RocksEdit {
                    db_id: Some(b"id".to_vec()),
                    full_history_ts_low: Some(vec![7]),
                    persist_user_defined_timestamps: Some(false),
                    last_compacted_manifest_file_size: Some(4096),
                    ignored: vec![(8300, b"??".to_vec())],
                    ..Default::default()
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(RocksEdit::decode(&bytes), Ok(want.clone()), "{bytes:?}");
            // Re-encoding writes modern forms; meaning is kept.
            assert_eq!(RocksEdit::decode(&want.encode()), Ok(want));
        }
    }

    #[test]
    fn unknown_tags_and_custom_fields() {
        // No safe-to-ignore bit: an error. Tag 8 (LevelDB's large value
        // refs) is one of them.
        for tag in [0u8, 8, 11, 0x7f] {
            assert!(matches!(
                RocksEdit::decode(&[tag, 0]),
                Err(RocksEditError::UnknownTag { .. })
            ));
        }
        let err = RocksEdit::decode(&[3, 4, 0xe8, 0x07, 0]).unwrap_err();
        assert_eq!(
            err,
            RocksEditError::UnknownTag {
                offset: 2,
                tag: 1000
            }
        );
        assert!(err.to_string().contains("1000"), "{err}");
        // With it but a length past the end: malformed.
        assert!(matches!(
            RocksEdit::decode(&[0xec, 0x40, 5, 1]),
            Err(RocksEditError::BadField { tag: 8300, .. })
        ));
        // A NewFile4 custom field with bit 6 that we do not know fails the
        // record; one without it is kept aside.
        let k = lp(&ikey(b"a", 1, 1));
        let base = [&[103u8, 0, 1, 1][..], &k, &k, &[1, 1]].concat();
        let with = |custom: &[u8]| [&base[..], custom, &[1]].concat();
        assert!(matches!(
            RocksEdit::decode(&with(&[66, 1, 0])),
            Err(RocksEditError::Invalid { tag: 103, .. })
        ));
        let e = RocksEdit::decode(&with(&[63, 2, 1, 2])).unwrap();
        assert_eq!(e.new_files[0].fields.ignored, vec![(63, vec![1, 2])]);
        // Path id above 3, a two-byte need-compaction, a short unique id.
        for bad in [
            &[65u8, 1, 4][..],
            &[2, 2, 1, 1],
            &[12, 8, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let err = RocksEdit::decode(&with(bad)).unwrap_err();
            assert!(matches!(err, RocksEditError::Invalid { .. }), "{err}");
        }
        // A blob custom field with bit 6 is forward incompatible.
        assert!(matches!(
            RocksEdit::decode(&[0x91, 0x03, 5, 1, 4, 64, 0, 0]),
            Err(RocksEditError::Invalid { tag: 401, .. })
        ));
        // An unknown WAL metadata tag.
        assert!(matches!(
            RocksEdit::decode(&[0x87, 0x40, 3, 6, 3, 1]),
            Err(RocksEditError::Invalid { .. })
        ));
        // An empty full_history_ts_low and a short internal key.
        assert!(RocksEdit::decode(&[0x86, 0x40, 0]).is_err());
        assert!(matches!(
            RocksEdit::decode(&[5, 0, 3, b'a', b'b', b'c']),
            Err(RocksEditError::Invalid { field: "key", .. })
        ));
    }

    #[test]
    fn every_truncation_fails_or_is_a_prefix() {
        let bytes = full_edit().encode();
        let mut failures = 0;
        for n in 0..bytes.len() {
            match RocksEdit::decode(&bytes[..n]) {
                Err(_) => failures += 1,
                // A cut on a field boundary is a smaller, valid edit.
                Ok(e) => assert_eq!(RocksEdit::decode(&e.encode()), Ok(e)),
            }
        }
        assert!(
            failures > bytes.len() * 3 / 4,
            "{failures} of {}",
            bytes.len()
        );
        assert_eq!(
            RocksEdit::decode(&[2]),
            Err(RocksEditError::BadField {
                offset: 1,
                tag: 2,
                field: "number",
                cause: DecodeError::Truncated
            })
        );
        assert_eq!(
            RocksEdit::decode(&[0x80]),
            Err(RocksEditError::BadTag {
                offset: 0,
                cause: DecodeError::Truncated
            })
        );
    }

    /// xorshift64*: deterministic noise without a dependency.
    fn noise(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let bytes = full_edit().encode();
        let tags: [u32; 12] = [1, 5, 7, 100, 102, 103, 200, 300, 400, 8196, 8199, 8300];
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut st = RocksVersionState::new();
        for _ in 0..30_000 {
            let len = (noise(&mut s) % 80) as usize;
            let mut buf = Vec::new();
            // Bias toward real tags so decoding gets deep.
            put_varint32(&mut buf, tags[(noise(&mut s) % 12) as usize]);
            buf.extend((0..len).map(|_| noise(&mut s) as u8));
            if let Ok(e) = RocksEdit::decode(&buf) {
                assert_eq!(RocksEdit::decode(&e.encode()), Ok(e.clone()));
                st.feed(e);
            }
        }
        for i in 0..bytes.len() {
            for v in [0u8, 1, 3, 0x40, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                if let Ok(e) = RocksEdit::decode(&b) {
                    assert_eq!(RocksEdit::decode(&e.encode()), Ok(e.clone()));
                    st.feed(e);
                }
            }
        }
        st.finish();
    }

    fn on(cf: u32, e: RocksEdit) -> RocksEdit {
        RocksEdit {
            column_family: Some(cf).filter(|&c| c != 0),
            ..e
        }
    }

    fn add_cf(cf: u32, name: &[u8]) -> RocksEdit {
        RocksEdit {
            column_family: Some(cf),
            column_family_add: Some(name.to_vec()),
            comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
            log_number: Some(4),
            ..Default::default()
        }
    }

    fn files(v: Vec<RocksNewFile>) -> RocksEdit {
        RocksEdit {
            new_files: v,
            ..Default::default()
        }
    }

    #[test]
    fn replay_families_files_wals() {
        let st = RocksVersionState::replay([
            RocksEdit {
                comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
                log_number: Some(0),
                next_file_number: Some(2),
                last_sequence: Some(0),
                ..Default::default()
            },
            add_cf(1, b"alpha"),
            add_cf(2, b"gamma"),
            RocksEdit {
                wal_additions: vec![WalAddition {
                    number: 4,
                    synced_size: Some(100),
                }],
                ..Default::default()
            },
            // A later, smaller synced size does not lower it.
            RocksEdit {
                wal_additions: vec![
                    WalAddition {
                        number: 4,
                        synced_size: Some(50),
                    },
                    WalAddition {
                        number: 9,
                        synced_size: None,
                    },
                ],
                ..Default::default()
            },
            on(
                1,
                RocksEdit {
                    log_number: Some(14),
                    last_sequence: Some(120),
                    ..files(vec![nf4(0, 15)])
                },
            ),
            on(2, files(vec![nf4(0, 16)])),
            RocksEdit {
                column_family: Some(2),
                column_family_drop: true,
                ..Default::default()
            },
            // A trivial move: deleted at 0 and added at 1 in one edit.
            on(
                1,
                RocksEdit {
                    deleted_files: vec![(0, 15)],
                    new_files: vec![nf4(1, 15)],
                    ..Default::default()
                },
            ),
            on(0, files(vec![nf4(0, 17)])),
            RocksEdit {
                wal_deletion: Some(5),
                ..Default::default()
            },
            // Already deleted: ignored.
            RocksEdit {
                wal_additions: vec![WalAddition {
                    number: 3,
                    synced_size: Some(1),
                }],
                ..Default::default()
            },
        ]);
        assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
        assert_eq!(st.edits, 12);
        assert_eq!(st.applied, 12);
        let names: Vec<&[u8]> = st.live_cfs().map(|(_, c)| &c.name[..]).collect();
        assert_eq!(names, vec![&b"default"[..], b"alpha"]);
        let (id, alpha) = st.cf_by_name(b"alpha").unwrap();
        assert_eq!(id, 1);
        assert_eq!(alpha.log_number, Some(14));
        assert_eq!(alpha.files.keys().copied().collect::<Vec<_>>(), vec![15]);
        assert_eq!(alpha.files[&15].level, 1);
        let gamma = &st.column_families[&2];
        assert!(gamma.dropped);
        assert_eq!(gamma.files.len(), 1);
        assert_eq!(st.column_families[&0].files.len(), 1);
        assert_eq!(st.last_sequence, Some(120));
        assert_eq!(st.wals, BTreeMap::from([(9, None)]));
        assert_eq!(st.min_wal_number_to_keep, 5);
    }

    #[test]
    fn replay_anomalies() {
        let st = RocksVersionState::replay([
            add_cf(1, b"alpha"),
            add_cf(1, b"again"),
            on(1, files(vec![nf4(2, 5)])),
            on(
                1,
                RocksEdit {
                    deleted_files: vec![(3, 5), (0, 99)],
                    new_files: vec![nf4(4, 5)],
                    log_number: Some(2),
                    last_sequence: Some(10),
                    ..Default::default()
                },
            ),
            on(7, files(vec![nf4(0, 6)])),
            RocksEdit {
                column_family: Some(7),
                column_family_drop: true,
                ..Default::default()
            },
            RocksEdit {
                wal_additions: vec![WalAddition {
                    number: 3,
                    synced_size: None,
                }],
                ..Default::default()
            },
            RocksEdit {
                wal_additions: vec![WalAddition {
                    number: 3,
                    synced_size: None,
                }],
                last_sequence: Some(9),
                ..Default::default()
            },
            on(
                1,
                RocksEdit {
                    blob_file_garbages: vec![BlobFileGarbage {
                        number: 1,
                        garbage_blob_count: 1,
                        garbage_blob_bytes: 1,
                    }],
                    ..Default::default()
                },
            ),
        ]);
        use RocksAnomaly::*;
        assert_eq!(
            st.anomalies,
            vec![
                CfAddedTwice {
                    edit: 1,
                    cf: 1,
                    name: b"again".to_vec()
                },
                DeletedUnknown {
                    edit: 3,
                    cf: 1,
                    level: 0,
                    number: 99
                },
                DeletedWrongLevel {
                    edit: 3,
                    cf: 1,
                    level: 3,
                    number: 5,
                    live_level: 2
                },
                AddedTwice {
                    edit: 3,
                    cf: 1,
                    number: 5
                },
                LogNumberDecreased {
                    edit: 3,
                    cf: 1,
                    from: 4,
                    to: 2
                },
                UnknownCf { edit: 4, cf: 7 },
                DroppedUnknownCf { edit: 5, cf: 7 },
                WalAddedTwice { edit: 7, number: 3 },
                LastSequenceDecreased {
                    edit: 7,
                    from: 10,
                    to: 9
                },
                BlobGarbageUnknown {
                    edit: 8,
                    cf: 1,
                    number: 1
                },
            ]
        );
        assert_eq!(st.cf_by_name(b"alpha").unwrap().1.files[&5].level, 4);
    }

    fn grouped(remaining: u32, e: RocksEdit) -> RocksEdit {
        RocksEdit {
            atomic_group_remaining: Some(remaining),
            ..e
        }
    }

    #[test]
    fn atomic_groups() {
        let head = [add_cf(1, b"alpha"), add_cf(2, b"beta")];
        let group = [
            grouped(2, on(0, files(vec![nf4(0, 10)]))),
            grouped(1, on(1, files(vec![nf4(0, 11)]))),
            grouped(0, on(2, files(vec![nf4(0, 12)]))),
        ];
        let count = |st: &RocksVersionState| -> usize {
            st.column_families.values().map(|c| c.files.len()).sum()
        };
        let whole = RocksVersionState::replay(head.iter().chain(&group).cloned());
        assert!(whole.anomalies.is_empty(), "{:?}", whole.anomalies);
        assert_eq!((count(&whole), whole.applied), (3, 5));
        // The MANIFEST ends inside the group: none of it applies.
        for cut in 1..3 {
            let st = RocksVersionState::replay(head.iter().chain(&group[..cut]).cloned());
            assert_eq!(count(&st), 0);
            assert_eq!(
                st.anomalies,
                vec![RocksAnomaly::IncompleteAtomicGroup {
                    first_edit: 2,
                    read: cut,
                    expected: 3
                }]
            );
        }
        // A count that does not fall by one breaks the group; the
        // offending edit opens a group of its own.
        let skipped = [group[0].clone(), group[2].clone()];
        let st = RocksVersionState::replay(head.iter().chain(&skipped).cloned());
        assert_eq!(count(&st), 1);
        assert_eq!(
            st.anomalies,
            vec![RocksAnomaly::BrokenAtomicGroup {
                first_edit: 2,
                at_edit: 3,
                read: 2,
                expected: 3
            }]
        );
        // A huge announced count allocates nothing up front.
        let st = RocksVersionState::replay([grouped(u32::MAX, RocksEdit::default())]);
        assert!(matches!(
            st.anomalies[..],
            [RocksAnomaly::IncompleteAtomicGroup { expected, .. }] if expected == 1 << 32
        ));
    }
}
