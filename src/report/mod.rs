//! The report model: what was found in each file and what was lost. Its JSON
//! form is the contract documented in `docs/REPORT.md`.

use serde::Serialize;

pub mod summary;

// The shared vocabulary, re-exported where the report model uses it.
pub use crate::vocab::{bytes, Class, Counts, Damage, FileKind, FileState, KeyRange};

pub const SCHEMA_VERSION: u32 = 1;

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// File name (relative to the store directory). Bytes that are not
    /// UTF-8 are replaced with U+FFFD here; `name_base64` then has them all.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_base64: Option<String>,
    /// The store (its directory), when the run covered several stores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_base64: Option<String>,
    pub kind: FileKind,
    /// Inventory state when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<FileState>,
    /// Why the file is not live (deleted, obsolete, orphan, unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// The file's own writer, only where its evidence disagrees with the
    /// store's dialect (`store.dialect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialect: Option<FileDialect>,
    pub size: u64,
    /// Logical records for logs and MANIFESTs, data blocks for tables.
    pub records: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Counts>,
    /// Intact entries.
    pub entries: u64,
    pub unverified_entries: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequences: Option<SeqSpan>,
    pub damage: Vec<Damage>,
    /// Why the file could not be (fully) read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the file's content was examined (false for kinds not scanned).
    pub scanned: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct SeqSpan {
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
    pub records: Counts,
    pub entries: u64,
    pub unverified_entries: u64,
    pub damaged_files: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Lost {
    pub sequence_ranges: Vec<LostSeqRange>,
    /// Key ranges whose entries may be lost (damaged table blocks, tables
    /// the MANIFEST names that are gone). Filled by `salvage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ranges: Option<Vec<LostKeyRange>>,
    /// Entries read from damaged units, written to `unverified.jsonl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified_entries: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LostKeyRange {
    #[serde(flatten)]
    pub range: KeyRange,
    pub file: String,
    /// The store (its directory) the file belongs to, when the run covered
    /// several stores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// A RocksDB table's column family (its name, or its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cf: Option<String>,
    pub reason: String,
}

/// One item a replay job can act on: writes to requeue by sequence number or
/// by key range, with the file and the reason behind it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Requeue {
    SequenceRange {
        first: u64,
        last: Option<u64>,
        file: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        store: Option<String>,
        reason: String,
        /// The wall-clock window that must hold the lost writes.
        time: TimeWindow,
    },
    KeyRange {
        #[serde(flatten)]
        range: KeyRange,
        file: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        store: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cf: Option<String>,
        reason: String,
    },
    /// One key to re-fetch: a write of it was read from damaged bytes, so
    /// its latest value may be stale or missing.
    Key {
        #[serde(flatten)]
        key: UserKey,
        file: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        store: Option<String>,
        reason: String,
    },
}

/// A user key in JSON: `key` (UTF-8) or `key_base64`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserKey(pub Vec<u8>);

impl Serialize for UserKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        bytes::serialize_field(&mut m, "key", &self.0)?;
        m.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostSeqRange {
    pub first: u64,
    pub last: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<u64>,
    pub file: String,
    /// The store (its directory) the file belongs to, when the run covered
    /// several stores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub reason: String,
    /// The wall-clock window that must hold the lost writes.
    pub time: TimeWindow,
}

/// When lost writes happened, as narrowly as the store's files tell:
/// RFC 3339 times in UTC (`null`: nothing bounds that side), each with
/// where it came from (docs/REPORT.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TimeWindow {
    pub from: Option<String>,
    pub to: Option<String>,
    pub from_evidence: String,
    pub to_evidence: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub input: Vec<String>,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreInfo>,
    /// One per store when the run covered files of several directories
    /// (`store` is then absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stores: Option<Vec<StoreInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salvage: Option<SalvageCounts>,
    pub files: Vec<FileReport>,
    pub lost: Lost,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeue: Option<Vec<Requeue>>,
}

/// What `salvage` wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SalvageCounts {
    pub view: &'static str,
    /// The order of `records.jsonl` with view `all`: `file` or `seq`.
    /// Left out for the latest view (key order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'static str>,
    /// Where the outputs are (`-` for stdout).
    pub out: String,
    /// Lines in `records.jsonl`.
    pub records: u64,
    /// Lines in `unverified.jsonl`.
    pub unverified: u64,
    /// Keys in the latest view whose newer write may have been lost.
    pub suspect_newer_keys: u64,
    /// RocksDB BlobDB: blob-index values written unresolved (distinct
    /// references), their lines' `blob.unresolved` saying why. Left out
    /// when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub unresolved_blob_values: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt: Option<Rebuilt>,
    /// `--out -` whose reader closed the pipe before the end: `records`
    /// lines were produced, fewer were read. Left out when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stopped_early: bool,
    /// `--deobfuscate`: lines carry `value_deobfuscated` (Bitcoin Core's
    /// values XORed back). Left out when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deobfuscated: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Report {
    pub fn new(input: Vec<String>, files: Vec<FileReport>, lost: Lost) -> Self {
        let mut s = Summary::default();
        for f in &files {
            s.files += 1;
            s.bytes += f.size;
            s.records.merge(&f.records);
            s.entries += f.entries;
            s.unverified_entries += f.unverified_entries;
            if !f.damage.is_empty() || f.error.is_some() {
                s.damaged_files += 1;
            }
        }
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            input,
            summary: s,
            store: None,
            stores: None,
            salvage: None,
            files,
            lost,
            requeue: None,
        }
    }

    /// Damage in a file, or a live file the store's MANIFEST names gone
    /// from its directory (a table, a RocksDB blob file): data is lost
    /// either way, and the exit status says so.
    pub fn has_damage(&self) -> bool {
        self.files
            .iter()
            .any(|f| !f.damage.is_empty() || f.error.is_some())
            || self.missing_live_files() > 0
    }

    /// Live tables and blob files the MANIFESTs name that are missing.
    pub fn missing_live_files(&self) -> usize {
        self.store
            .iter()
            .chain(self.stores.iter().flatten())
            .map(|s| s.missing_tables.len() + s.missing_blob_files.len())
            .sum()
    }
}

/// What the report says about the store as a whole.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreInfo {
    /// The MANIFEST named by `CURRENT`, if `CURRENT` was readable.
    pub current: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_error: Option<String>,
    /// The MANIFEST whose edits were used.
    pub manifest: Option<String>,
    /// Whether a MANIFEST said which files are live. When false every
    /// table and log was used for the latest view (newest sequence number
    /// wins) and `note` says so.
    pub states_known: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Which writer family the store comes from, and the evidence.
    pub dialect: Dialect,
    /// The store's directory, when the run covered several stores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub comparator: Option<String>,
    /// True when the comparator is not LevelDB's bytewise one: keys are then
    /// exported in bytewise order, which is not the store's own order.
    pub custom_comparator: bool,
    pub log_number: Option<u64>,
    pub prev_log_number: Option<u64>,
    pub next_file_number: Option<u64>,
    pub last_sequence: Option<u64>,
    pub live_tables: usize,
    /// Live tables the MANIFEST names that are not in the directory.
    pub missing_tables: Vec<MissingTable>,
    /// RocksDB: blob files the MANIFEST holds live that are not in the
    /// directory (the values they held cannot be read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_blob_files: Vec<MissingBlobFile>,
    /// Bitcoin Core's obfuscation key, when the store holds one intact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obfuscation: Option<Obfuscation>,
}

/// Bitcoin Core's value obfuscation: every value but the key's own entry
/// is XORed with this key repeated. Values are exported as stored; with
/// `salvage --deobfuscate` lines also carry `value_deobfuscated`.
#[derive(Debug, Clone, Serialize)]
pub struct Obfuscation {
    /// The 8-byte key, in hex.
    pub key_hex: String,
    /// The file its intact entry was read from.
    pub file: String,
    /// That entry's sequence number.
    pub sequence: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MissingTable {
    pub number: u64,
    pub level: u32,
    pub size: u64,
    pub key_range: KeyRange,
}

#[derive(Debug, Clone, Serialize)]
pub struct MissingBlobFile {
    pub number: u64,
    /// Its column family's name (or id).
    pub cf: String,
    /// Blobs the MANIFEST counts in it, and those already garbage.
    pub blobs: u64,
    pub garbage: u64,
}

/// What the rebuilt store holds and where it is.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    pub path: String,
    /// Puts in the rebuilt store's latest view (kept or written anew);
    /// absent when a repair with `--view none` did not read its kept
    /// tables again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// Tables its MANIFEST names: `kept_tables` + `new_tables`.
    pub tables: u64,
    pub last_sequence: u64,
    /// `repair` (intact live tables kept as they are, the rest written
    /// anew) or `latest` (the latest view written anew; `reason` says why).
    pub mode: &'static str,
    /// Why the rebuild is not a repair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Live tables copied byte for byte, at their MANIFEST levels.
    pub kept_tables: u64,
    /// Tables written anew.
    pub new_tables: u64,
    /// Puts written anew (the rest are in kept tables).
    pub written_keys: u64,
    /// Deletes written anew: each shadows an older put a kept table holds.
    pub tombstones: u64,
}

/// A file's own writer family, where it is not its store's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDialect {
    /// A [`Dialect`] name.
    pub name: &'static str,
    /// What in the file decided it, in words.
    pub evidence: Vec<String>,
}

/// The writer family a store comes from, decided from what is on disk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dialect {
    /// `leveldb`, `goleveldb`, or `rocksdb` (recognised, not read by this
    /// version).
    pub name: &'static str,
    /// What decided it, in words.
    pub evidence: Vec<String>,
    /// Whether this version reads the store's files.
    pub supported: bool,
}
