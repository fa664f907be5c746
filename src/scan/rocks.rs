//! What a RocksDB store's MANIFEST says, in the form the scan needs: its
//! column families (names, which log each has flushed, which were
//! dropped), the WALs it tracks with their synced sizes, and a LevelDB-style
//! view of its live and deleted tables, so that the inventory gives every
//! file its state the way it does for LevelDB.

use super::logfile::RecordSink;
use crate::format::manifest::{NewFile, VersionState};
use crate::format::rocks_manifest::{RocksEdit, RocksVersionState};
use crate::report::{Class, Damage};
use crate::vocab::cf::{intern, Cf};
use std::collections::BTreeMap;

/// Replays RocksDB VersionEdits as a MANIFEST is read.
#[derive(Default)]
pub struct RocksEditSink {
    pub state: RocksVersionState,
}

impl RecordSink for RocksEditSink {
    fn record(&mut self, _offset: u64, payload: &[u8]) -> Result<(), String> {
        let edit = RocksEdit::decode(payload).map_err(|e| e.to_string())?;
        self.state.feed(edit);
        Ok(())
    }
}

/// One column family as the scan of logs and tables needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub id: u32,
    pub name: &'static str,
    /// Logs numbered below this are in the family's tables.
    pub log_number: Option<u64>,
    pub dropped: bool,
}

/// A RocksDB store's account, shared by the scans of its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RocksCtx {
    pub families: Vec<Family>,
    /// WAL number → the size the MANIFEST records as synced.
    pub synced: BTreeMap<u64, u64>,
    /// Table number → the column family the MANIFEST files it under, and
    /// the user keys it spans.
    pub tables: BTreeMap<u64, (u32, Vec<u8>, Vec<u8>)>,
    /// Blob file number → what the MANIFEST says of it.
    pub blobs: BTreeMap<u64, BlobFileInfo>,
}

/// A blob file the MANIFEST names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobFileInfo {
    pub cf: u32,
    /// Its column family was dropped.
    pub dropped: bool,
    pub blobs: u64,
    /// Blobs the MANIFEST records as garbage (overwritten or deleted and
    /// compacted away); when they are all of them, RocksDB drops the file.
    pub garbage: u64,
}

impl RocksCtx {
    pub fn from_state(v: &RocksVersionState) -> Self {
        RocksCtx {
            families: v
                .column_families
                .iter()
                .map(|(&id, c)| Family {
                    id,
                    name: intern(&String::from_utf8_lossy(&c.name)),
                    log_number: c.log_number,
                    dropped: c.dropped,
                })
                .collect(),
            synced: v
                .wals
                .iter()
                .filter_map(|(&n, s)| s.map(|s| (n, s)))
                .filter(|&(_, s)| s != crate::format::rocks_manifest::UNKNOWN_WAL_SIZE)
                .collect(),
            tables: v
                .column_families
                .iter()
                .flat_map(|(&id, c)| {
                    c.files.iter().map(move |(&n, f)| {
                        let user = |k: &[u8]| {
                            crate::format::rocks_table::ikey::parse(k)
                                .map_or(k, |p| p.user_key)
                                .to_vec()
                        };
                        (n, (id, user(&f.smallest), user(&f.largest)))
                    })
                })
                .collect(),
            blobs: v
                .column_families
                .iter()
                .flat_map(|(&id, c)| {
                    c.blob_files.iter().map(move |(&n, b)| {
                        (
                            n,
                            BlobFileInfo {
                                cf: id,
                                dropped: c.dropped,
                                blobs: b.addition.total_blob_count,
                                garbage: b.garbage_blob_count,
                            },
                        )
                    })
                })
                .collect(),
        }
    }

    /// The family `id` of an entry read from log `wal` (`None`: a table).
    pub fn cf(&self, id: u32, wal: Option<u64>) -> Cf {
        let f = self.families.iter().find(|f| f.id == id);
        let history = match (f, wal) {
            (Some(f), _) if f.dropped => true,
            (Some(f), Some(w)) => f.log_number.is_some_and(|l| w < l),
            _ => false,
        };
        Cf {
            id,
            name: f.map(|f| f.name),
            history,
        }
    }
}

/// The MANIFEST's tables as LevelDB's replay would give them: live tables
/// of live families, deleted ones (a dropped family's tables too: the
/// application deleted that data), and the log number below which every
/// live family has flushed its writes (older logs are obsolete).
pub fn leveldb_view(v: &RocksVersionState) -> VersionState {
    let mut out = VersionState {
        comparator: v.column_families.get(&0).and_then(|c| c.comparator.clone()),
        prev_log_number: v.prev_log_number,
        next_file: v.next_file,
        last_sequence: v.last_sequence,
        edits: v.applied,
        ..VersionState::default()
    };
    let mut min_log: Option<u64> = None;
    for c in v.column_families.values() {
        out.deleted.extend(c.deleted.iter().copied());
        if c.dropped {
            out.deleted.extend(c.files.keys().copied());
            continue;
        }
        if let Some(l) = c.log_number {
            min_log = Some(min_log.map_or(l, |m| m.min(l)));
        }
        for (&n, f) in &c.files {
            out.deleted.remove(&n);
            out.files.insert(
                n,
                (
                    f.level,
                    NewFile {
                        level: f.level,
                        number: n,
                        file_size: f.file_size,
                        smallest: f.smallest.clone(),
                        largest: f.largest.clone(),
                    },
                ),
            );
        }
    }
    // 2PC keeps logs with prepared transactions past every flush.
    out.log_number = match (min_log, v.min_log_number_to_keep) {
        (Some(a), Some(b)) => Some(a.min(b.max(1))),
        (a, _) => a,
    };
    out
}

/// Damage in a WAL the MANIFEST records a synced size for: past that size
/// it is an unsynced tail, however it looks (torn); inside it, bytes the
/// application was told were durable are wrong (garbled, said so).
pub fn classify_synced(damage: &mut [Damage], synced: u64, size: u64, name: &str) {
    let short = if size < synced {
        format!(" (the file is {size} bytes: synced bytes are missing)")
    } else {
        String::new()
    };
    for d in damage.iter_mut() {
        if d.offset >= synced {
            if d.class != Class::Torn {
                d.class = Class::Torn;
                d.reason = format!(
                    "{}; past the {synced} bytes the MANIFEST records as synced: an unsynced \
                     tail, lost in the crash",
                    d.reason
                );
            }
        } else {
            d.class = Class::Garbled;
            d.reason = format!(
                "{}; inside the {synced} bytes the MANIFEST records as synced for {name}{short}: \
                 data the application was told was durable is corrupt",
                d.reason
            );
        }
    }
}

/// Pebble's table magic (cockroachdb/pebble `sstable/table.go`,
/// pebbleDBMagic: the bytes f0 9f aa b3 twice), read as RocksDB's is.
pub const PEBBLE_TABLE_MAGIC: u64 = 0xb3aa_9ff0_b3aa_9ff0;

/// A dialect's name as people write it.
pub fn display_name(name: &str) -> &str {
    match name {
        "rocksdb" => "RocksDB",
        "pebble" => "Pebble",
        n => n,
    }
}

/// An `OPTIONS-*` file Pebble wrote (its `[Version]` section names
/// `pebble_version`), as dialect evidence.
pub fn pebble_evidence(name: &str, text: &str) -> Option<String> {
    let v = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("pebble_version="))?;
    Some(format!("{name}: written by Pebble (pebble_version={v})"))
}

/// The RocksDB version and table format an `OPTIONS-*` file names (its
/// `[Version]` section and `format_version`), as dialect evidence.
pub fn options_evidence(name: &str, text: &str) -> Option<String> {
    let mut version = None;
    let mut format = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("rocksdb_version=") {
            version.get_or_insert(v.to_string());
        }
        if let Some(v) = line.strip_prefix("format_version=") {
            format.get_or_insert(v.to_string());
        }
    }
    let version = version?;
    let mut s = format!("{name}: written by RocksDB {version}");
    if let Some(f) = format {
        s.push_str(&format!(" (tables of format_version {f})"));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_the_version() {
        let text = "[Version]\n  rocksdb_version=7.8.3\n  options_file_version=1.1\n\
                    [TableOptions/BlockBasedTable \"default\"]\n  format_version=5\n";
        assert_eq!(
            options_evidence("OPTIONS-000007", text).as_deref(),
            Some("OPTIONS-000007: written by RocksDB 7.8.3 (tables of format_version 5)")
        );
        assert_eq!(options_evidence("OPTIONS-1", "nothing"), None);
    }

    #[test]
    fn pebble_options_are_told_apart() {
        let text = "[Version]\n  pebble_version=0.1\n\n[Options]\n  bytes_per_sync=524288\n";
        assert_eq!(
            pebble_evidence("OPTIONS-000003", text).as_deref(),
            Some("OPTIONS-000003: written by Pebble (pebble_version=0.1)")
        );
        assert_eq!(options_evidence("OPTIONS-000003", text), None);
        assert_eq!(
            PEBBLE_TABLE_MAGIC.to_le_bytes(),
            [0xf0, 0x9f, 0xaa, 0xb3, 0xf0, 0x9f, 0xaa, 0xb3]
        );
    }

    #[test]
    fn synced_size_decides_the_class() {
        let d = |start, class| Damage::new(start, 10, class, "checksum mismatch");
        let mut v = vec![d(100, Class::Torn), d(5000, Class::Garbled)];
        classify_synced(&mut v, 4048, 6000, "000021.log");
        assert_eq!(v[0].class, Class::Garbled);
        assert!(v[0].reason.contains("told was durable"));
        assert_eq!(v[1].class, Class::Torn);
        assert!(v[1].reason.contains("unsynced tail"));
    }
}
