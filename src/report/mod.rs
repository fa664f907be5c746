//! The report model: what was found in each file and what was lost. Its JSON
//! form is the contract documented in `docs/REPORT.md`.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

pub mod bytes;
pub mod summary;

pub const SCHEMA_VERSION: u32 = 1;

/// How a damaged unit was damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// An interrupted write: the damage runs to the end of the file.
    Torn,
    /// Bytes present but wrong, with readable data after them.
    Garbled,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Torn => "torn",
            Class::Garbled => "garbled",
        }
    }
}

/// Units (log records, table blocks) by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub intact: u64,
    pub torn: u64,
    pub garbled: u64,
}

impl Counts {
    pub fn add(&mut self, class: Option<Class>) {
        match class {
            None => self.intact += 1,
            Some(Class::Torn) => self.torn += 1,
            Some(Class::Garbled) => self.garbled += 1,
        }
    }

    pub fn merge(&mut self, o: &Counts) {
        self.intact += o.intact;
        self.torn += o.torn;
        self.garbled += o.garbled;
    }

    pub fn damaged(&self) -> u64 {
        self.torn + self.garbled
    }
}

/// A key range a replay job can requeue by. `first` is exclusive when
/// `first_exclusive` is set (a previous block's separator); `None` at either
/// end means unbounded on that side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRange {
    pub first: Option<Vec<u8>>,
    pub first_exclusive: bool,
    pub last: Option<Vec<u8>>,
}

impl Serialize for KeyRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        bytes::serialize_opt_field(&mut m, "first", self.first.as_deref())?;
        m.serialize_entry("first_exclusive", &self.first_exclusive)?;
        bytes::serialize_opt_field(&mut m, "last", self.last.as_deref())?;
        m.end()
    }
}

/// One damaged byte range of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    pub offset: u64,
    pub length: u64,
    pub class: Class,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_entries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_range: Option<KeyRange>,
}

impl Damage {
    pub fn new(offset: u64, length: u64, class: Class, reason: impl Into<String>) -> Self {
        Damage {
            offset,
            length,
            class,
            reason: reason.into(),
            lost_entries: None,
            key_range: None,
        }
    }

    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.length)
    }
}

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// File name (relative to the store directory).
    pub name: String,
    pub path: String,
    pub kind: &'static str,
    /// Inventory state (`live`, `orphan`, `obsolete`, `unknown`) when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
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
        reason: String,
    },
    KeyRange {
        #[serde(flatten)]
        range: KeyRange,
        file: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostSeqRange {
    pub first: u64,
    pub last: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<u64>,
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub input: Vec<String>,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<crate::scan::inventory::StoreInfo>,
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
    /// Where the outputs are (`-` for stdout).
    pub out: String,
    /// Lines in `records.jsonl`.
    pub records: u64,
    /// Lines in `unverified.jsonl`.
    pub unverified: u64,
    /// Keys in the latest view whose newer write may have been lost.
    pub suspect_newer_keys: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt: Option<crate::salvage::rebuild::Rebuilt>,
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
            salvage: None,
            files,
            lost,
            requeue: None,
        }
    }

    pub fn has_damage(&self) -> bool {
        self.files
            .iter()
            .any(|f| !f.damage.is_empty() || f.error.is_some())
    }
}
