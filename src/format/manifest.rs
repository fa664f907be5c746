//! The VersionEdit: the payload of each record in a MANIFEST log.
//!
//! A sequence of tagged fields, each tag a varint32, until the payload ends:
//! ```text
//! 1 comparator        name: varint32-prefixed bytes
//! 2 log number        varint64
//! 3 next file number  varint64
//! 4 last sequence     varint64
//! 5 compact pointer   level: varint32, key: varint32-prefixed internal key
//! 6 deleted file      level: varint32, number: varint64
//! 7 new file          level: varint32, number: varint64, size: varint64,
//!                     smallest, largest: varint32-prefixed internal keys
//! 9 prev log number   varint64
//! 11 new file 2       Basho's eleveldb (kNewFile2, written when an expiry
//!                     module is active): tag 7's fields, then
//!                     exp_write_low, exp_write_high, exp_explicit_high:
//!                     varint64 each (db/version_edit.cc of basho/leveldb)
//! ```
//! Levels are below 7 and internal keys non-empty, as LevelDB requires when it
//! reads them. Tag 8 (large value references) predates LevelDB 1.0 and is
//! rejected like any unknown tag.

use super::coding::{put_length_prefixed, put_varint32, put_varint64, Cursor, DecodeError};
use std::collections::BTreeMap;
use std::fmt;

/// LevelDB's `config::kNumLevels`.
pub const NUM_LEVELS: u32 = 7;

const TAG_COMPARATOR: u32 = 1;
const TAG_LOG_NUMBER: u32 = 2;
const TAG_NEXT_FILE_NUMBER: u32 = 3;
const TAG_LAST_SEQUENCE: u32 = 4;
const TAG_COMPACT_POINTER: u32 = 5;
const TAG_DELETED_FILE: u32 = 6;
const TAG_NEW_FILE: u32 = 7;
const TAG_PREV_LOG_NUMBER: u32 = 9;
/// Basho's kNewFile2. Its tag 10 (kFileCacheObject) is defined but neither
/// written nor read by it, so it stays an unknown tag here too.
pub const TAG_NEW_FILE2: u32 = 11;

/// A table added to a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub level: u32,
    pub number: u64,
    pub file_size: u64,
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
}

/// One decoded MANIFEST record. Scalar fields a record does not carry are
/// `None`; a field repeated within a record keeps its last value, as in
/// LevelDB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    pub comparator: Option<Vec<u8>>,
    pub log_number: Option<u64>,
    pub prev_log_number: Option<u64>,
    pub next_file_number: Option<u64>,
    pub last_sequence: Option<u64>,
    /// (level, internal key)
    pub compact_pointers: Vec<(u32, Vec<u8>)>,
    /// (level, file number)
    pub deleted_files: Vec<(u32, u64)>,
    pub new_files: Vec<NewFile>,
    /// The new files that came as Basho's tag 11: file number and its
    /// three expiry fields (exp_write_low, exp_write_high,
    /// exp_explicit_high). The file itself is in `new_files`.
    pub new_files2: Vec<(u64, [u64; 3])>,
}

/// Why a VersionEdit could not be decoded. `offset` is where in the payload
/// the offending tag or field starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestError {
    /// The tag varint itself is malformed.
    BadTag {
        offset: usize,
        cause: DecodeError,
    },
    UnknownTag {
        offset: usize,
        tag: u32,
    },
    /// A field of a known tag is truncated or malformed.
    BadField {
        offset: usize,
        tag: u32,
        field: &'static str,
        cause: DecodeError,
    },
    /// A level of 7 or more.
    BadLevel {
        offset: usize,
        tag: u32,
        level: u32,
    },
    /// An internal key of length zero, which LevelDB refuses.
    EmptyKey {
        offset: usize,
        tag: u32,
        field: &'static str,
    },
}

fn tag_name(tag: u32) -> &'static str {
    match tag {
        TAG_COMPARATOR => "comparator",
        TAG_LOG_NUMBER => "log number",
        TAG_NEXT_FILE_NUMBER => "next file number",
        TAG_LAST_SEQUENCE => "last sequence",
        TAG_COMPACT_POINTER => "compact pointer",
        TAG_DELETED_FILE => "deleted file",
        TAG_NEW_FILE => "new file",
        TAG_NEW_FILE2 => "new file 2",
        TAG_PREV_LOG_NUMBER => "prev log number",
        _ => "unknown",
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ManifestError::BadTag { offset, cause } => {
                write!(f, "VersionEdit tag at byte {offset} is malformed ({cause})")
            }
            ManifestError::UnknownTag { offset, tag } => {
                write!(f, "unknown VersionEdit tag {tag} at byte {offset}")
            }
            ManifestError::BadField {
                offset,
                tag,
                field,
                cause,
            } => write!(
                f,
                "VersionEdit {} (tag {tag}) {field} at byte {offset} is malformed ({cause})",
                tag_name(tag)
            ),
            ManifestError::BadLevel { offset, tag, level } => write!(
                f,
                "VersionEdit {} (tag {tag}) at byte {offset} names level {level}, \
                 but LevelDB has only {NUM_LEVELS}",
                tag_name(tag)
            ),
            ManifestError::EmptyKey { offset, tag, field } => write!(
                f,
                "VersionEdit {} (tag {tag}) {field} at byte {offset} is an empty internal key",
                tag_name(tag)
            ),
        }
    }
}

impl std::error::Error for ManifestError {}

/// Reads the fields of one tag, attributing failures to it.
struct Fields<'c, 'a> {
    c: &'c mut Cursor<'a>,
    tag: u32,
}

impl<'a> Fields<'_, 'a> {
    fn err(&self, field: &'static str, offset: usize, cause: DecodeError) -> ManifestError {
        ManifestError::BadField {
            offset,
            tag: self.tag,
            field,
            cause,
        }
    }

    fn varint64(&mut self, field: &'static str) -> Result<u64, ManifestError> {
        let at = self.c.position();
        self.c.varint64().map_err(|e| self.err(field, at, e))
    }

    fn level(&mut self) -> Result<u32, ManifestError> {
        let at = self.c.position();
        let level = self.c.varint32().map_err(|e| self.err("level", at, e))?;
        if level >= NUM_LEVELS {
            return Err(ManifestError::BadLevel {
                offset: at,
                tag: self.tag,
                level,
            });
        }
        Ok(level)
    }

    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], ManifestError> {
        let at = self.c.position();
        self.c.length_prefixed().map_err(|e| self.err(field, at, e))
    }

    fn internal_key(&mut self, field: &'static str) -> Result<Vec<u8>, ManifestError> {
        let at = self.c.position();
        let key = self.bytes(field)?;
        if key.is_empty() {
            return Err(ManifestError::EmptyKey {
                offset: at,
                tag: self.tag,
                field,
            });
        }
        Ok(key.to_vec())
    }
}

impl VersionEdit {
    /// Decode a whole record; any damage fails the record, since a partial
    /// edit could silently drop a file deletion or addition.
    pub fn decode(payload: &[u8]) -> Result<VersionEdit, ManifestError> {
        let mut edit = VersionEdit::default();
        let mut c = Cursor::new(payload);
        while !c.is_empty() {
            let offset = c.position();
            let tag = c
                .varint32()
                .map_err(|cause| ManifestError::BadTag { offset, cause })?;
            let mut r = Fields { c: &mut c, tag };
            match tag {
                TAG_COMPARATOR => edit.comparator = Some(r.bytes("name")?.to_vec()),
                TAG_LOG_NUMBER => edit.log_number = Some(r.varint64("number")?),
                TAG_NEXT_FILE_NUMBER => edit.next_file_number = Some(r.varint64("number")?),
                TAG_LAST_SEQUENCE => edit.last_sequence = Some(r.varint64("sequence")?),
                TAG_PREV_LOG_NUMBER => edit.prev_log_number = Some(r.varint64("number")?),
                TAG_COMPACT_POINTER => {
                    let level = r.level()?;
                    let key = r.internal_key("key")?;
                    edit.compact_pointers.push((level, key));
                }
                TAG_DELETED_FILE => {
                    let level = r.level()?;
                    let number = r.varint64("file number")?;
                    edit.deleted_files.push((level, number));
                }
                TAG_NEW_FILE | TAG_NEW_FILE2 => {
                    let level = r.level()?;
                    let number = r.varint64("file number")?;
                    let file_size = r.varint64("file size")?;
                    let smallest = r.internal_key("smallest key")?;
                    let largest = r.internal_key("largest key")?;
                    if tag == TAG_NEW_FILE2 {
                        let low = r.varint64("exp_write_low")?;
                        let high = r.varint64("exp_write_high")?;
                        let explicit = r.varint64("exp_explicit_high")?;
                        edit.new_files2.push((number, [low, high, explicit]));
                    }
                    edit.new_files.push(NewFile {
                        level,
                        number,
                        file_size,
                        smallest,
                        largest,
                    });
                }
                _ => return Err(ManifestError::UnknownTag { offset, tag }),
            }
        }
        Ok(edit)
    }

    /// Encode in the field order LevelDB's `VersionEdit::EncodeTo` uses, so a
    /// decoded LevelDB record re-encodes to the same bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(name) = &self.comparator {
            put_varint32(&mut out, TAG_COMPARATOR);
            put_length_prefixed(&mut out, name);
        }
        let scalars = [
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_PREV_LOG_NUMBER, self.prev_log_number),
            (TAG_NEXT_FILE_NUMBER, self.next_file_number),
            (TAG_LAST_SEQUENCE, self.last_sequence),
        ];
        for (tag, v) in scalars {
            if let Some(v) = v {
                put_varint32(&mut out, tag);
                put_varint64(&mut out, v);
            }
        }
        for (level, key) in &self.compact_pointers {
            put_varint32(&mut out, TAG_COMPACT_POINTER);
            put_varint32(&mut out, *level);
            put_length_prefixed(&mut out, key);
        }
        for &(level, number) in &self.deleted_files {
            put_varint32(&mut out, TAG_DELETED_FILE);
            put_varint32(&mut out, level);
            put_varint64(&mut out, number);
        }
        for f in &self.new_files {
            let expiry = self
                .new_files2
                .iter()
                .find(|(n, _)| *n == f.number)
                .map(|(_, e)| e);
            put_varint32(
                &mut out,
                if expiry.is_some() {
                    TAG_NEW_FILE2
                } else {
                    TAG_NEW_FILE
                },
            );
            put_varint32(&mut out, f.level);
            put_varint64(&mut out, f.number);
            put_varint64(&mut out, f.file_size);
            put_length_prefixed(&mut out, &f.smallest);
            put_length_prefixed(&mut out, &f.largest);
            for v in expiry.into_iter().flatten() {
                put_varint64(&mut out, *v);
            }
        }
        out
    }
}

/// Something in the edit sequence that LevelDB would tolerate silently but
/// that a forensic reader wants to know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayAnomaly {
    /// A deletion of a file that is not live.
    DeletedUnknown {
        edit: usize,
        level: u32,
        number: u64,
    },
    /// A deletion naming a live file at a different level; LevelDB ignores it.
    DeletedWrongLevel {
        edit: usize,
        level: u32,
        number: u64,
        live_level: u32,
    },
    /// An addition of a file number that is already live; the new entry wins.
    AddedTwice {
        edit: usize,
        number: u64,
        old_level: u32,
        new_level: u32,
    },
}

/// The state reached by applying VersionEdits in order, as LevelDB's
/// `VersionSet::Recover` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionState {
    pub comparator: Option<Vec<u8>>,
    pub log_number: Option<u64>,
    pub prev_log_number: Option<u64>,
    pub next_file: Option<u64>,
    pub last_sequence: Option<u64>,
    /// Latest compact pointer per level.
    pub compact_pointers: BTreeMap<u32, Vec<u8>>,
    /// Live tables: file number → (level, the edit entry that added it).
    pub files: BTreeMap<u64, (u32, NewFile)>,
    /// Tables an edit deleted that no later edit added back: history, not
    /// state, even while their files are still on disk.
    pub deleted: std::collections::BTreeSet<u64>,
    /// Number of edits applied.
    pub edits: usize,
    /// New-file entries that came as Basho's tag 11 (kNewFile2): evidence
    /// of an eleveldb store.
    pub new_files2: usize,
    pub anomalies: Vec<ReplayAnomaly>,
}

impl VersionState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one edit: scalars overwrite, deletions are applied before
    /// additions (so a file both deleted and added by one edit stays live,
    /// matching LevelDB's `VersionSet::Builder`).
    pub fn apply(&mut self, edit: &VersionEdit) {
        let index = self.edits;
        self.edits = self.edits.saturating_add(1);
        if let Some(c) = &edit.comparator {
            self.comparator = Some(c.clone());
        }
        let scalars = [
            (&mut self.log_number, edit.log_number),
            (&mut self.prev_log_number, edit.prev_log_number),
            (&mut self.next_file, edit.next_file_number),
            (&mut self.last_sequence, edit.last_sequence),
        ];
        for (slot, v) in scalars {
            if v.is_some() {
                *slot = v;
            }
        }
        for (level, key) in &edit.compact_pointers {
            self.compact_pointers.insert(*level, key.clone());
        }
        for &(level, number) in &edit.deleted_files {
            match self.files.get(&number) {
                Some(&(live_level, _)) if live_level == level => {
                    self.files.remove(&number);
                    self.deleted.insert(number);
                }
                Some(&(live_level, _)) => self.anomalies.push(ReplayAnomaly::DeletedWrongLevel {
                    edit: index,
                    level,
                    number,
                    live_level,
                }),
                None => self.anomalies.push(ReplayAnomaly::DeletedUnknown {
                    edit: index,
                    level,
                    number,
                }),
            }
        }
        self.new_files2 = self.new_files2.saturating_add(edit.new_files2.len());
        for f in &edit.new_files {
            self.deleted.remove(&f.number);
            if let Some((old_level, _)) = self.files.insert(f.number, (f.level, f.clone())) {
                self.anomalies.push(ReplayAnomaly::AddedTwice {
                    edit: index,
                    number: f.number,
                    old_level,
                    new_level: f.level,
                });
            }
        }
    }
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;
    use crate::format::batch::Kind;
    use crate::format::ikey;

    fn full_edit() -> VersionEdit {
        VersionEdit {
            comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
            log_number: Some(12),
            prev_log_number: Some(0),
            next_file_number: Some(1 << 40),
            last_sequence: Some(ikey::MAX_SEQUENCE),
            compact_pointers: vec![(0, ikey::encode(b"cp", 3, Kind::Put))],
            deleted_files: vec![(1, 7), (6, u64::MAX)],
            new_files: vec![
                NewFile {
                    level: 0,
                    number: 9,
                    file_size: 4096,
                    smallest: ikey::encode(b"a", 5, Kind::Put),
                    largest: ikey::encode(b"z", 1, Kind::Delete),
                },
                NewFile {
                    level: 6,
                    number: 10,
                    file_size: 0,
                    smallest: ikey::encode(&[0u8; 300], 1, Kind::Put),
                    largest: ikey::encode(&[0xffu8; 300], 2, Kind::Put),
                },
            ],
            new_files2: vec![],
        }
    }

    #[test]
    fn basho_new_file2_roundtrip() {
        // Tag 11: tag 7's fields, then three varint64 expiry fields.
        let mut bytes = vec![11u8, 3, 17, 0x80, 0x01, 9];
        bytes.extend_from_slice(&ikey::encode(b"a", 5, Kind::Put));
        bytes.push(9);
        bytes.extend_from_slice(&ikey::encode(b"z", 1, Kind::Put));
        bytes.extend_from_slice(&[0, 0xff, 0x01, 7]);
        let e = VersionEdit::decode(&bytes).unwrap();
        assert_eq!(e.new_files.len(), 1);
        assert_eq!((e.new_files[0].level, e.new_files[0].number), (3, 17));
        assert_eq!(e.new_files[0].file_size, 128);
        assert_eq!(e.new_files2, vec![(17, [0, 255, 7])]);
        assert_eq!(e.encode(), bytes);
        let mut v = VersionState::new();
        v.apply(&e);
        assert_eq!(v.new_files2, 1);
        // Cut inside the expiry fields: the record fails, naming the field.
        let cut = VersionEdit::decode(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(cut.to_string().contains("exp_explicit_high"), "{cut}");
    }

    #[test]
    fn roundtrip() {
        let e = full_edit();
        let bytes = e.encode();
        assert_eq!(VersionEdit::decode(&bytes), Ok(e.clone()));
        assert_eq!(VersionEdit::decode(&bytes).unwrap().encode(), bytes);
        assert_eq!(VersionEdit::decode(&[]), Ok(VersionEdit::default()));
        assert!(VersionEdit::default().encode().is_empty());
    }

    #[test]
    fn every_tag_byte_layout() {
        // Hand-assembled, one tag at a time, to pin the wire format rather
        // than just the encoder's agreement with itself.
        let cases: Vec<(Vec<u8>, VersionEdit)> = vec![
            (
                [&[1u8, 3][..], b"abc"].concat(),
                VersionEdit {
                    comparator: Some(b"abc".to_vec()),
                    ..Default::default()
                },
            ),
            (
                vec![2, 0xac, 0x02],
                VersionEdit {
                    log_number: Some(300),
                    ..Default::default()
                },
            ),
            (
                vec![3, 5],
                VersionEdit {
                    next_file_number: Some(5),
                    ..Default::default()
                },
            ),
            (
                vec![4, 0x80, 0x01],
                VersionEdit {
                    last_sequence: Some(128),
                    ..Default::default()
                },
            ),
            (
                [&[5u8, 2, 9][..], b"k\x01\x01\0\0\0\0\0\0"].concat(),
                VersionEdit {
                    compact_pointers: vec![(2, ikey::encode(b"k", 1, Kind::Put))],
                    ..Default::default()
                },
            ),
            (
                vec![6, 3, 42],
                VersionEdit {
                    deleted_files: vec![(3, 42)],
                    ..Default::default()
                },
            ),
            (
                [
                    &[7u8, 1, 8, 0x90, 0x4e, 9][..],
                    b"a\x01\x02\0\0\0\0\0\0",
                    &[9],
                    b"b\x00\x03\0\0\0\0\0\0",
                ]
                .concat(),
                VersionEdit {
                    new_files: vec![NewFile {
                        level: 1,
                        number: 8,
                        file_size: 10000,
                        smallest: ikey::encode(b"a", 2, Kind::Put),
                        largest: ikey::encode(b"b", 3, Kind::Delete),
                    }],
                    ..Default::default()
                },
            ),
            (
                vec![9, 77],
                VersionEdit {
                    prev_log_number: Some(77),
                    ..Default::default()
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(VersionEdit::decode(&bytes), Ok(want.clone()), "{bytes:?}");
            assert_eq!(want.encode(), bytes);
        }
    }

    #[test]
    fn repeated_scalar_keeps_last() {
        let e = VersionEdit::decode(&[2, 1, 2, 5]).unwrap();
        assert_eq!(e.log_number, Some(5));
    }

    #[test]
    fn truncated_input() {
        let bytes = full_edit().encode();
        // Every proper prefix that ends mid-field must fail; prefixes ending
        // exactly on a field boundary decode to a smaller edit.
        let mut failures = 0;
        for n in 0..bytes.len() {
            if VersionEdit::decode(&bytes[..n]).is_err() {
                failures += 1;
            }
        }
        assert!(failures > bytes.len() / 2);
        assert_eq!(
            VersionEdit::decode(&[2]),
            Err(ManifestError::BadField {
                offset: 1,
                tag: 2,
                field: "number",
                cause: DecodeError::Truncated
            })
        );
        assert_eq!(
            VersionEdit::decode(&[1, 5, b'a']),
            Err(ManifestError::BadField {
                offset: 1,
                tag: 1,
                field: "name",
                cause: DecodeError::LengthOutOfRange
            })
        );
        assert!(matches!(
            VersionEdit::decode(&[7, 0, 1, 2, 9, b'a']),
            Err(ManifestError::BadField {
                tag: 7,
                field: "smallest key",
                ..
            })
        ));
        assert_eq!(
            VersionEdit::decode(&[3, 0x80]),
            Err(ManifestError::BadField {
                offset: 1,
                tag: 3,
                field: "number",
                cause: DecodeError::Truncated
            })
        );
        assert_eq!(
            VersionEdit::decode(&[0x80]),
            Err(ManifestError::BadTag {
                offset: 0,
                cause: DecodeError::Truncated
            })
        );
    }

    #[test]
    fn bad_level() {
        for tag in [5u8, 6, 7] {
            let err = VersionEdit::decode(&[tag, 7, 1, 1, 1]).unwrap_err();
            assert_eq!(
                err,
                ManifestError::BadLevel {
                    offset: 1,
                    tag: u32::from(tag),
                    level: 7
                }
            );
            assert!(err.to_string().contains("level 7"), "{err}");
        }
        // A level too wide even for a varint32 is a malformed field.
        assert!(matches!(
            VersionEdit::decode(&[6, 0xff, 0xff, 0xff, 0xff, 0x7f, 1]),
            Err(ManifestError::BadField { field: "level", .. })
        ));
    }

    #[test]
    fn unknown_tag() {
        let mut bytes = vec![3, 4];
        bytes.extend_from_slice(&[12, 0]);
        let err = VersionEdit::decode(&bytes).unwrap_err();
        assert_eq!(err, ManifestError::UnknownTag { offset: 2, tag: 12 });
        assert_eq!(err.to_string(), "unknown VersionEdit tag 12 at byte 2");
        for tag in [0u8, 8, 10] {
            assert!(matches!(
                VersionEdit::decode(&[tag, 1]),
                Err(ManifestError::UnknownTag { .. })
            ));
        }
    }

    #[test]
    fn empty_internal_key_is_refused() {
        assert_eq!(
            VersionEdit::decode(&[5, 0, 0]),
            Err(ManifestError::EmptyKey {
                offset: 2,
                tag: 5,
                field: "key"
            })
        );
        assert!(matches!(
            VersionEdit::decode(&[7, 0, 1, 2, 1, b'a', 0]),
            Err(ManifestError::EmptyKey {
                field: "largest key",
                ..
            })
        ));
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
        for n in 0..=bytes.len() {
            let _ = VersionEdit::decode(&bytes[..n]);
            let _ = VersionEdit::decode(&bytes[n..]);
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let len = (noise(&mut s) % 64) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| noise(&mut s) as u8).collect();
            // Bias toward valid tags and small lengths so decoding gets deep.
            if let Some(b) = buf.first_mut() {
                *b %= 10;
            }
            if let Ok(e) = VersionEdit::decode(&buf) {
                assert_eq!(VersionEdit::decode(&e.encode()), Ok(e));
            }
        }
        // Single-byte corruptions of a valid edit.
        for i in 0..bytes.len() {
            for v in [0u8, 1, 7, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                if let Ok(e) = VersionEdit::decode(&b) {
                    assert_eq!(VersionEdit::decode(&e.encode()), Ok(e));
                }
            }
        }
    }

    fn nf(level: u32, number: u64) -> NewFile {
        NewFile {
            level,
            number,
            file_size: number * 100,
            smallest: ikey::encode(b"a", number, Kind::Put),
            largest: ikey::encode(b"b", number, Kind::Put),
        }
    }

    #[test]
    fn replay_accumulates() {
        let mut st = VersionState::new();
        st.apply(&VersionEdit {
            comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
            log_number: Some(3),
            next_file_number: Some(4),
            last_sequence: Some(10),
            new_files: vec![nf(0, 1), nf(0, 2)],
            ..Default::default()
        });
        st.apply(&VersionEdit {
            log_number: Some(5),
            next_file_number: Some(7),
            compact_pointers: vec![(0, ikey::encode(b"m", 1, Kind::Put))],
            deleted_files: vec![(0, 1), (0, 2)],
            new_files: vec![nf(1, 6)],
            ..Default::default()
        });
        // Deleting and re-adding in one edit leaves the file live.
        st.apply(&VersionEdit {
            last_sequence: Some(20),
            deleted_files: vec![(1, 6)],
            new_files: vec![nf(1, 6)],
            ..Default::default()
        });
        assert_eq!(st.edits, 3);
        assert_eq!(
            st.comparator.as_deref(),
            Some(&b"leveldb.BytewiseComparator"[..])
        );
        assert_eq!(st.log_number, Some(5));
        assert_eq!(st.prev_log_number, None);
        assert_eq!(st.next_file, Some(7));
        assert_eq!(st.last_sequence, Some(20));
        assert_eq!(st.files.keys().copied().collect::<Vec<_>>(), vec![6]);
        assert_eq!(st.files[&6], (1, nf(1, 6)));
        assert_eq!(st.compact_pointers.len(), 1);
        assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    }

    #[test]
    fn replay_anomalies() {
        let mut st = VersionState::new();
        st.apply(&VersionEdit {
            new_files: vec![nf(2, 5)],
            ..Default::default()
        });
        st.apply(&VersionEdit {
            deleted_files: vec![(3, 5), (0, 99)],
            new_files: vec![nf(4, 5)],
            ..Default::default()
        });
        assert_eq!(
            st.anomalies,
            vec![
                ReplayAnomaly::DeletedWrongLevel {
                    edit: 1,
                    level: 3,
                    number: 5,
                    live_level: 2
                },
                ReplayAnomaly::DeletedUnknown {
                    edit: 1,
                    level: 0,
                    number: 99
                },
                ReplayAnomaly::AddedTwice {
                    edit: 1,
                    number: 5,
                    old_level: 2,
                    new_level: 4
                },
            ]
        );
        assert_eq!(st.files[&5].0, 4);
    }
}
