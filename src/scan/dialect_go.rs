//! Telling a store goleveldb (github.com/syndtr/goleveldb) wrote from one
//! C++ LevelDB wrote. The data formats are the same (log, batch, table,
//! VersionEdit tags); what differs is how goleveldb uses them, and that is
//! the evidence looked for here (docs/FORMAT.md, "goleveldb"):
//!
//! - its info log `LOG` opens with a day header
//!   `=============== Jan 2, 2006 (MST) ===============` and its lines are
//!   `15:04:05.000000 db@open opening` (`storage/file_storage.go`,
//!   `session_util.go`); C++ LevelDB writes `2006/01/02-15:04:05.000000
//!   <thread id> ...` lines;
//! - its MANIFEST: every new MANIFEST opens with one record that holds the
//!   whole session state, comparator, journal (log) number, next file
//!   number, last sequence *and* every table (`session_util.go`
//!   `newManifest`: `fillRecord(rec, true)` then `v.fillRecord(rec)`), where
//!   C++ LevelDB's snapshot record holds the comparator, compaction
//!   pointers and tables and puts the log number in the next record; the
//!   tables that record's own edit added (a journal flushed at open) are
//!   named twice in it; and goleveldb never writes tag 9 (prev log number),
//!   which C++ LevelDB's `VersionSet::LogAndApply` puts into every edit it
//!   appends (`session_record.go` `encode`);
//! - its tables' bloom filter is named `filter.leveldb.BuiltinBloomFilter`
//!   (`filter/bloom.go`), C++ LevelDB's `filter.leveldb.BuiltinBloomFilter2`;
//! - `CURRENT.bak`, the copy of `CURRENT` goleveldb keeps when it replaces
//!   it (`storage/file_storage.go` `setMeta`).
//!
//! Everything here only reads: `CURRENT`'s MANIFEST (its first
//! [`MANIFEST_BYTES`]), the first [`LOG_BYTES`] of `LOG`/`LOG.old` and the
//! footer and metaindex of a few tables, opened
//! like every store file (read-only, never blocking, never through a link).

use super::store::{read_small, InputFile};
use crate::format::filename::FileKind;
use crate::format::log::{parse_block, Piece, RecordType, BLOCK_SIZE};
use crate::format::manifest::VersionEdit;

/// How much of a MANIFEST is read for the evidence: its first records.
const MANIFEST_BYTES: u64 = 256 << 10;
/// How much of an info log is read.
const LOG_BYTES: u64 = 4096;
/// Tables whose metaindex is looked at (the filter's name).
const TABLES_SAMPLED: usize = 8;
/// A metaindex larger than this is not read for evidence.
const METAINDEX_CAP: u64 = 64 << 10;
/// goleveldb's bloom filter's metaindex name (`leveldb/filter/bloom.go`);
/// C++ LevelDB's is `filter.leveldb.BuiltinBloomFilter2`.
pub(super) const GO_BLOOM: &[u8] = b"filter.leveldb.BuiltinBloomFilter";

/// The evidence that goleveldb wrote the store: `decisive` names what only
/// goleveldb writes; `supporting` what agrees with it. Empty when nothing
/// points to goleveldb.
#[derive(Debug, Default)]
pub struct GoEvidence {
    pub decisive: Vec<String>,
    pub supporting: Vec<String>,
    /// What speaks for C++ LevelDB instead (said when goleveldb is not
    /// chosen).
    pub cpp: Vec<String>,
}

/// Look for goleveldb's marks among a store's files. `current` is the
/// MANIFEST `CURRENT` names, when it was readable.
pub fn goleveldb_evidence(
    inputs: &[InputFile],
    members: &[usize],
    current: Option<&str>,
) -> GoEvidence {
    let mut ev = GoEvidence::default();
    let files = || members.iter().filter_map(|&i| inputs.get(i));
    for f in files().filter(|f| f.kind == FileKind::InfoLog && f.not_regular.is_none()) {
        if let Ok(head) = read_small(&f.path, LOG_BYTES) {
            if let Some(why) = go_info_log(&head) {
                ev.decisive.push(format!("{}: {why}", f.name));
            } else if cpp_info_log(&head) {
                ev.cpp.push(format!(
                    "{}: C++ LevelDB's info log (`YYYY/MM/DD-HH:MM:SS.micro <thread>` lines)",
                    f.name
                ));
            }
        }
    }
    if files().any(|f| f.name == "CURRENT.bak" && f.not_regular.is_none()) {
        ev.supporting.push(
            "CURRENT.bak: the copy of CURRENT goleveldb keeps when it replaces it".to_string(),
        );
    }
    let go_filters: Vec<&str> = files()
        .filter(|f| f.kind == FileKind::Table && f.not_regular.is_none())
        .take(TABLES_SAMPLED)
        .filter(|f| metaindex_names(f).iter().any(|n| n.as_slice() == GO_BLOOM))
        .map(|f| f.name.as_str())
        .collect();
    if !go_filters.is_empty() {
        ev.decisive.push(format!(
            "{}: a bloom filter named `filter.leveldb.BuiltinBloomFilter`, goleveldb's \
             (C++ LevelDB's is `...BuiltinBloomFilter2`)",
            go_filters.join(", ")
        ));
    }
    // The MANIFEST CURRENT names, else the newest one.
    let manifest = files()
        .filter(|f| f.kind == FileKind::Manifest && f.not_regular.is_none())
        .filter(|f| current.is_none_or(|c| f.name == c))
        .max_by_key(|f| f.number);
    if let Some(m) = manifest {
        if let Ok(bytes) = read_small(&m.path, MANIFEST_BYTES) {
            let recs = records(&bytes);
            ev.decisive.extend(
                go_manifest(&recs, m.number)
                    .into_iter()
                    .map(|why| format!("{}: {why}", m.name)),
            );
            let with_prev = recs
                .iter()
                .filter_map(|r| VersionEdit::decode(r).ok())
                .filter(|e| e.prev_log_number.is_some())
                .count();
            if with_prev > 0 {
                ev.cpp.push(format!(
                    "{}: {with_prev} edit(s) carry a prev log number (tag 9), as C++ LevelDB's \
                     LogAndApply writes and goleveldb never does",
                    m.name
                ));
            }
        }
    }
    ev
}

/// The names in a table's metaindex block, read through its footer; empty
/// when any of it does not verify.
pub(super) fn metaindex_names(f: &InputFile) -> Vec<Vec<u8>> {
    use crate::format::table::{parse_metaindex, read_block, BlockHandle, Footer, FOOTER_SIZE};
    use std::os::unix::fs::FileExt;
    let read = || -> Option<Vec<Vec<u8>>> {
        let (file, md) = super::open::open_store_file(&f.path).ok()?;
        let mut tail = [0u8; FOOTER_SIZE];
        file.read_exact_at(&mut tail, md.len().checked_sub(FOOTER_SIZE as u64)?)
            .ok()?;
        let h = Footer::decode(&tail).ok()?.metaindex;
        let len = h.size.checked_add(5).filter(|&l| l <= METAINDEX_CAP)?;
        let mut buf = vec![0u8; usize::try_from(len).ok()?];
        file.read_exact_at(&mut buf, h.offset).ok()?;
        let at0 = BlockHandle {
            offset: 0,
            size: h.size,
        };
        let contents = read_block(&buf, at0, 1 << 20).ok()?;
        let names = parse_metaindex(&contents.data).ok()?;
        Some(names.into_iter().map(|(n, _)| n).collect())
    };
    read().unwrap_or_default()
}

/// goleveldb's info log: a day header line, then `HH:MM:SS.micro
/// subsystem@event` lines.
fn go_info_log(head: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let first = lines.next()?;
    if first.starts_with("=============== ") && first.ends_with(" ===============") {
        return Some(
            "goleveldb's info log (a `=============== <day> ===============` header; \
             C++ LevelDB writes `YYYY/MM/DD-HH:MM:SS.micro <thread>` lines)",
        );
    }
    let go_line = |l: &str| {
        let b = l.as_bytes();
        // "15:04:05.000000 db@open ..."
        b.len() > 16
            && b.get(2) == Some(&b':')
            && b.get(5) == Some(&b':')
            && b.get(8) == Some(&b'.')
            && b.get(15) == Some(&b' ')
            && l.get(16..)
                .and_then(|rest| rest.split(' ').next())
                .is_some_and(|w| w.contains('@'))
    };
    (go_line(first) && lines.next().is_none_or(go_line)).then_some(
        "goleveldb's info log (`HH:MM:SS.micro subsystem@event` lines; C++ LevelDB writes \
         `YYYY/MM/DD-HH:MM:SS.micro <thread>` lines)",
    )
}

/// C++ LevelDB's info log: `2006/01/02-15:04:05.000000 <thread> ...`.
fn cpp_info_log(head: &[u8]) -> bool {
    let b = head;
    b.len() > 27
        && b.get(4) == Some(&b'/')
        && b.get(7) == Some(&b'/')
        && b.get(10) == Some(&b'-')
        && b.get(13) == Some(&b':')
        && b.get(19) == Some(&b'.')
        && b.get(26) == Some(&b' ')
}

/// The records of the first blocks of a MANIFEST whose fragments verify,
/// up to the first damage (evidence needs no more).
fn records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    let mut pieces = Vec::new();
    for (i, block) in bytes.chunks(BLOCK_SIZE).enumerate() {
        pieces.clear();
        let at_eof = (i + 1) * BLOCK_SIZE >= bytes.len();
        parse_block(block, at_eof, &mut pieces);
        for p in &pieces {
            match *p {
                Piece::Fragment { rtype, payload, .. } => {
                    let Some(data) = block.get(payload.0..payload.1) else {
                        return out;
                    };
                    match (rtype, open.as_mut()) {
                        (RecordType::Full, None) => out.push(data.to_vec()),
                        (RecordType::First, None) => open = Some(data.to_vec()),
                        (RecordType::Middle, Some(r)) => r.extend_from_slice(data),
                        (RecordType::Last, Some(r)) => {
                            r.extend_from_slice(data);
                            out.extend(open.take());
                        }
                        _ => return out,
                    }
                }
                Piece::Zeros { .. } => {}
                Piece::Bad { .. } | Piece::Special { .. } | Piece::Recycled { .. } => return out,
            }
        }
    }
    out
}

/// What in a MANIFEST's records only goleveldb writes.
fn go_manifest(records: &[Vec<u8>], number: Option<u64>) -> Vec<String> {
    let edits: Vec<VersionEdit> = records
        .iter()
        .map_while(|r| VersionEdit::decode(r).ok())
        .collect();
    let mut why = Vec::new();
    if let Some(first) = edits.first() {
        // C++ LevelDB's first record of a MANIFEST is its snapshot (no log
        // number), except in MANIFEST-000001 of a new store, whose one
        // record holds no tables.
        if first.comparator.is_some()
            && first.log_number.is_some()
            && first.last_sequence.is_some()
            && (!first.new_files.is_empty() || number.is_some_and(|n| n > 1))
        {
            why.push(
                "its first record holds the comparator, log number, last sequence and tables \
                 together (goleveldb's session snapshot; C++ LevelDB's snapshot has no log \
                 number)"
                    .to_string(),
            );
        }
    }
    for (i, e) in edits.iter().enumerate() {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = e.new_files.iter().find(|f| !seen.insert(f.number)) {
            why.push(format!(
                "record {i} names table {} twice (goleveldb's new MANIFEST lists the tables its \
                 own edit added again with the version's)",
                dup.number
            ));
            break;
        }
    }
    if edits.len() >= 2 && edits.iter().all(|e| e.prev_log_number.is_none()) {
        why.push(format!(
            "none of its {} records has a prev log number (tag 9), which C++ LevelDB writes \
             into every edit it appends",
            edits.len()
        ));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::manifest::NewFile;

    fn table(n: u64) -> NewFile {
        NewFile {
            level: 0,
            number: n,
            file_size: 100,
            smallest: b"a\x01\0\0\0\0\0\0\0".to_vec(),
            largest: b"b\x01\0\0\0\0\0\0\0".to_vec(),
        }
    }

    #[test]
    fn info_logs() {
        let go = b"=============== Dec 2, 2026 (UTC) ===============\n\
                   07:02:17.861511 log@legend F\xc2\xb7NumFile\n07:02:17.864109 db@open opening\n";
        assert!(go_info_log(go).is_some());
        assert!(go_info_log(b"07:02:17.864109 db@open opening\n").is_some());
        let cpp = b"2026/12/02-07:06:10.332563 7f2d93fff6c0 Recovering log #8\n";
        assert!(go_info_log(cpp).is_none());
        assert!(cpp_info_log(cpp));
        assert!(!cpp_info_log(&go[..]));
        assert!(go_info_log(b"").is_none());
    }

    #[test]
    fn manifests() {
        // C++ LevelDB: a snapshot, then edits with a prev log number.
        let snapshot = VersionEdit {
            comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
            new_files: vec![table(5)],
            ..Default::default()
        };
        let edit = VersionEdit {
            log_number: Some(6),
            prev_log_number: Some(0),
            next_file_number: Some(7),
            last_sequence: Some(10),
            ..Default::default()
        };
        let cpp = [snapshot.encode(), edit.encode()];
        assert!(go_manifest(&cpp, Some(4)).is_empty());
        // C++ LevelDB's MANIFEST-000001 of a new store.
        let new_db = VersionEdit {
            comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
            log_number: Some(0),
            next_file_number: Some(2),
            last_sequence: Some(0),
            ..Default::default()
        };
        assert!(go_manifest(&[new_db.encode()], Some(1)).is_empty());
        // goleveldb: everything in the first record, a table twice.
        let go_snap = VersionEdit {
            comparator: Some(b"leveldb.BytewiseComparator".to_vec()),
            log_number: Some(9),
            next_file_number: Some(11),
            last_sequence: Some(154),
            new_files: vec![table(8), table(4), table(8)],
            ..Default::default()
        };
        let why = go_manifest(&[go_snap.encode()], Some(10));
        assert_eq!(why.len(), 2, "{why:?}");
    }

    #[test]
    fn records_are_joined_and_stop_at_damage() {
        let mut log = Vec::new();
        crate::format::log::encode_fragment(&mut log, RecordType::Full, b"one");
        crate::format::log::encode_fragment(&mut log, RecordType::First, b"tw");
        crate::format::log::encode_fragment(&mut log, RecordType::Last, b"o");
        let mut bad = log.clone();
        crate::format::log::encode_fragment(&mut log, RecordType::Full, b"three");
        assert_eq!(
            records(&log),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        bad.extend_from_slice(&[1, 2, 3, 4, 5, 0, 1, b'x']);
        assert_eq!(records(&bad), vec![b"one".to_vec(), b"two".to_vec()]);
    }
}
