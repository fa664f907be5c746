//! Files to verdicts and entries.

pub mod bitcoin;
pub mod budget;
pub mod dialect_basho;
pub mod dialect_files;
pub mod dialect_forks;
pub mod dialect_go;
pub mod dialect_override;
pub mod infolog;
pub mod inventory;
pub mod log;
pub mod logfile;
pub mod mapped;
pub mod open;
pub mod rocks;
pub mod rocks_blob;
pub mod rocks_table;
pub mod store;
pub mod table;

use crate::format::batch::Kind;

/// One recovered write, borrowed from the unit that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub seq: u64,
    pub kind: Kind,
    pub key: &'a [u8],
    /// Empty for deletes.
    pub value: &'a [u8],
    /// Offset of the log record or table block holding the entry.
    pub offset: u64,
    /// Basho's puts with an expiry (value types 2 and 3); `None` otherwise.
    pub expiry: Option<crate::format::ikey::Expiry>,
    /// A RocksDB entry's column family; `None` for LevelDB's.
    pub cf: Option<crate::vocab::cf::Cf>,
}

impl<'a> Entry<'a> {
    /// A LevelDB write batch's entry, found in the log record at `offset`.
    pub fn of_batch(b: &crate::format::batch::BatchEntry<'a>, offset: u64) -> Self {
        Entry {
            seq: b.seq,
            kind: b.kind,
            key: b.key,
            value: b.value,
            offset,
            expiry: b.expiry,
            cf: None,
        }
    }
}

/// Where scanned entries go, in file order. `intact` entries come from units
/// whose checksum verified and whose bytes decoded; `unverified` ones were
/// parsed from damaged units and must never be mixed with them.
pub trait EntrySink {
    /// False for a sink that drops every entry: decoding them can be skipped.
    fn wants_entries(&self) -> bool {
        true
    }
    fn intact(&mut self, e: &Entry<'_>);
    fn unverified(&mut self, e: &Entry<'_>, reason: &str);
}

/// A sink that drops everything: `scan` keeps verdicts, not entries.
pub struct Discard;

impl EntrySink for Discard {
    fn wants_entries(&self) -> bool {
        false
    }
    fn intact(&mut self, _: &Entry<'_>) {}
    fn unverified(&mut self, _: &Entry<'_>, _: &str) {}
}

/// Wants no entries, as `scan` runs, but counts the unverified ones it is
/// still handed (tests compare it with [`Collect`]).
#[derive(Debug, Default)]
pub struct CountOnly {
    pub unverified: u64,
}

impl EntrySink for CountOnly {
    fn wants_entries(&self) -> bool {
        false
    }
    fn intact(&mut self, _: &Entry<'_>) {}
    fn unverified(&mut self, _: &Entry<'_>, _: &str) {
        self.unverified += 1;
    }
}

/// Collects owned copies (tests and small tools).
#[derive(Debug, Default)]
pub struct Collect {
    pub intact: Vec<OwnedEntry>,
    pub unverified: Vec<(OwnedEntry, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedEntry {
    pub seq: u64,
    pub kind: Kind,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub offset: u64,
    pub expiry: Option<crate::format::ikey::Expiry>,
    pub cf: Option<crate::vocab::cf::Cf>,
}

impl From<&Entry<'_>> for OwnedEntry {
    fn from(e: &Entry<'_>) -> Self {
        OwnedEntry {
            seq: e.seq,
            kind: e.kind,
            key: e.key.to_vec(),
            value: e.value.to_vec(),
            offset: e.offset,
            expiry: e.expiry,
            cf: e.cf,
        }
    }
}

impl EntrySink for Collect {
    fn intact(&mut self, e: &Entry<'_>) {
        self.intact.push(e.into());
    }
    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        self.unverified.push((e.into(), reason.to_string()));
    }
}
