//! The shared vocabulary at the bottom of the crate: what a unit's verdict
//! is, what damage and key ranges look like, what kind a file is. `format`,
//! `scan`, `salvage` and `report` all import it; it imports nothing of
//! theirs, so the layers above can only depend downward.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

pub mod bytes;
pub mod cf;
#[cfg(test)]
pub mod noise;
pub mod text;

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

/// What kind of file a directory entry is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Log,
    Table,
    Manifest,
    Current,
    InfoLog,
    Lock,
    Temp,
    /// RocksDB BlobDB's `NNNNNN.blob`: values kept apart from the tables.
    Blob,
    Unknown,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Log => "log",
            FileKind::Table => "table",
            FileKind::Manifest => "manifest",
            FileKind::Current => "current",
            FileKind::InfoLog => "info_log",
            FileKind::Lock => "lock",
            FileKind::Temp => "temp",
            FileKind::Blob => "blob",
            FileKind::Unknown => "unknown",
        }
    }
}

/// Where a file stands in the store's own account of itself (the MANIFEST
/// that `CURRENT` names). Only `Live` files are state; `Orphan` tables may
/// fill in keys no live file holds; everything else is history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Part of the current version: a live table, a log not yet flushed,
    /// the MANIFEST in use, `CURRENT`.
    Live,
    /// A table no edit of the MANIFEST ever named, numbered after the
    /// MANIFEST was started: an interrupted flush's or compaction's output.
    Orphan,
    /// A table an edit of the MANIFEST deleted (its file not yet removed).
    Deleted,
    /// Superseded: a log already flushed, an older MANIFEST, a temporary
    /// file, a table older than the MANIFEST that does not name it.
    Obsolete,
    /// No MANIFEST could be read: whether the file is state is not known.
    Unknown,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Live => "live",
            FileState::Orphan => "orphan",
            FileState::Deleted => "deleted",
            FileState::Obsolete => "obsolete",
            FileState::Unknown => "unknown",
        }
    }

    /// Whether entries of a file in this state are history: never part of
    /// the latest view or a rebuilt store.
    pub fn is_history(self) -> bool {
        matches!(self, FileState::Deleted | FileState::Obsolete)
    }
}
