//! RocksDB MANIFESTs written by RocksDB itself (testdata/rocksdb/manifest/,
//! from testdata/gen/make_rocksdb_manifest.py) decode record by record and
//! replay to what RocksDB reported about the store.

use ldbsalvage::format::log::{parse_block, Piece, RecordType, BLOCK_SIZE};
use ldbsalvage::format::rocks_manifest::{RocksAnomaly, RocksEdit, RocksVersionState, WalAddition};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/rocksdb/manifest")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The records of a log-format file: every block parsed, fragments
/// stitched; anything but a clean sequence of verified fragments fails.
fn records(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut partial: Option<Vec<u8>> = None;
    let blocks: Vec<&[u8]> = data.chunks(BLOCK_SIZE).collect();
    for (i, block) in blocks.iter().enumerate() {
        let mut pieces = Vec::new();
        parse_block(block, i + 1 == blocks.len(), &mut pieces);
        for p in pieces {
            match p {
                Piece::Fragment { rtype, payload, .. } => {
                    let bytes = &block[payload.0..payload.1];
                    match rtype {
                        RecordType::Full => {
                            assert!(partial.is_none(), "FULL inside a record");
                            out.push(bytes.to_vec());
                        }
                        RecordType::First => {
                            assert!(partial.is_none(), "FIRST inside a record");
                            partial = Some(bytes.to_vec());
                        }
                        RecordType::Middle => partial
                            .as_mut()
                            .expect("MIDDLE outside a record")
                            .extend_from_slice(bytes),
                        RecordType::Last => {
                            let mut r = partial.take().expect("LAST outside a record");
                            r.extend_from_slice(bytes);
                            out.push(r);
                        }
                    }
                }
                // The writer's block-end padding.
                Piece::Zeros { .. } => {}
                Piece::Bad { .. } => panic!("damaged fragment in a pristine MANIFEST: {p:?}"),
                // Only a RocksDB-flavoured parse yields these.
                Piece::Special { .. } | Piece::Recycled { .. } => {
                    panic!("a LevelDB-framed parse yielded {p:?}")
                }
            }
        }
    }
    assert!(partial.is_none(), "file ends inside a record");
    out
}

fn session(name: &str) -> (Value, Vec<RocksEdit>, RocksVersionState) {
    let facts = expected()[name].clone();
    let d = dir().join(name);
    let current = std::fs::read_to_string(d.join("CURRENT")).unwrap();
    assert_eq!(current.trim(), facts["manifest"].as_str().unwrap());
    let data = std::fs::read(d.join(current.trim())).unwrap();
    let edits: Vec<RocksEdit> = records(&data)
        .iter()
        .map(|r| RocksEdit::decode(r).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for e in &edits {
        // What RocksDB wrote, our encoder writes back bit for bit in
        // meaning.
        assert_eq!(RocksEdit::decode(&e.encode()).as_ref(), Ok(e));
    }
    let st = RocksVersionState::replay(edits.clone());
    (facts, edits, st)
}

fn user_key(ikey: &[u8]) -> &str {
    std::str::from_utf8(&ikey[..ikey.len() - 8]).unwrap()
}

/// The families, their files (number, level, size, key range) and the
/// sequence are what RocksDB reported on a read-only reopen.
fn check_state(facts: &Value, st: &RocksVersionState) {
    assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    let live: Vec<&str> = facts["live_cfs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut got: Vec<&str> = st
        .live_cfs()
        .map(|(_, c)| std::str::from_utf8(&c.name).unwrap())
        .collect();
    got.sort();
    let mut want = live.clone();
    want.sort();
    assert_eq!(got, want);
    for name in facts["dropped_cfs"].as_array().unwrap() {
        let name = name.as_str().unwrap().as_bytes();
        assert!(st.cf_by_name(name).is_none());
        let dropped: Vec<_> = st
            .column_families
            .values()
            .filter(|c| c.dropped && c.name == name)
            .collect();
        assert_eq!(dropped.len(), 1, "{:?}", st.column_families.keys());
    }
    for cf in &live {
        let (_, c) = st.cf_by_name(cf.as_bytes()).unwrap();
        assert_eq!(
            c.comparator.as_deref(),
            Some(&b"leveldb.BytewiseComparator"[..])
        );
        let want: Vec<(u64, u32, u64, String, String)> = facts["files"][cf]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|f| {
                (
                    f["number"].as_u64().unwrap(),
                    u32::try_from(f["level"].as_u64().unwrap()).unwrap(),
                    f["size"].as_u64().unwrap(),
                    f["smallest_user_key"].as_str().unwrap().to_string(),
                    f["largest_user_key"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let got: Vec<(u64, u32, u64, String, String)> = c
            .files
            .values()
            .map(|f| {
                (
                    f.number,
                    f.level,
                    f.file_size,
                    user_key(&f.smallest).to_string(),
                    user_key(&f.largest).to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "files of {cf}");
        for f in c.files.values() {
            // RocksDB 9 writes every table as NewFile4 with an epoch
            // number and a unique id.
            assert_eq!(f.tag, 103);
            assert!(f.fields.epoch_number.is_some_and(|n| n > 0));
            assert!(f.fields.unique_id.is_some());
            assert!(f.smallest_seqno <= f.largest_seqno);
        }
    }
    let seq = facts["latest_sequence_number"].as_u64().unwrap();
    assert_eq!(st.last_sequence, Some(seq));
    let next = st.next_file.unwrap();
    for c in st.column_families.values() {
        assert!(c.files.keys().all(|&n| n < next));
    }
    assert!(st.db_id.is_some());
}

#[test]
fn session1_families_files_dropped_family_and_wal_additions() {
    let (facts, edits, st) = session("s1");
    check_state(&facts, &st);
    // The dropped family had a table (its flush) before it went.
    let gamma = st
        .column_families
        .values()
        .find(|c| c.name == b"gamma")
        .unwrap();
    assert!(gamma.dropped);
    assert_eq!(gamma.files.len(), 1);
    // The first flush with more than one family synced the closed WAL and,
    // with track_and_verify_wals_in_manifest, recorded its full size.
    let sizes = facts["wal_sizes_before_first_flush"].as_object().unwrap();
    assert_eq!(sizes.len(), 1);
    for (number, size) in sizes {
        let want = WalAddition {
            number: number.parse().unwrap(),
            synced_size: Some(size.as_u64().unwrap()),
        };
        assert!(
            edits.iter().any(|e| e.wal_additions.contains(&want)),
            "no {want:?} in {:?}",
            edits.iter().map(|e| &e.wal_additions).collect::<Vec<_>>()
        );
    }
    assert!(edits.iter().any(|e| e.wal_deletion.is_some()));
    // No atomic group without atomic_flush.
    assert!(edits.iter().all(|e| e.atomic_group_remaining.is_none()));
}

#[test]
fn session2_atomic_group_and_rolled_manifest() {
    let (facts, edits, st) = session("s2");
    check_state(&facts, &st);
    // The WAL limit flushed the three families at once: one atomic group
    // whose counts fall to 0, adding one table to each family.
    let first = edits
        .iter()
        .position(|e| e.atomic_group_remaining.is_some())
        .unwrap();
    let n = edits[first].atomic_group_remaining.unwrap() as usize + 1;
    let group = &edits[first..first + n];
    for (i, e) in group.iter().enumerate() {
        assert_eq!(e.atomic_group_remaining, Some((n - 1 - i) as u32));
    }
    let mut cfs: Vec<u32> = group
        .iter()
        .filter(|e| !e.new_files.is_empty())
        .map(|e| e.cf_id())
        .collect();
    cfs.sort();
    assert_eq!(cfs, vec![0, 1, 2]);
    assert!(edits[first + n..]
        .iter()
        .all(|e| e.atomic_group_remaining.is_none()));
    // The new MANIFEST opens with a snapshot: the dropped family of
    // session 1 is not in it at all.
    assert!(st.column_families.values().all(|c| c.name != b"gamma"));

    // Cut before the group's last edit: RocksDB would apply none of the
    // group, and the replay neither.
    let last = first + n - 1;
    let cut = RocksVersionState::replay(edits[..last].iter().cloned());
    assert_eq!(
        cut.anomalies,
        vec![RocksAnomaly::IncompleteAtomicGroup {
            first_edit: first,
            read: n - 1,
            expected: n as u64
        }]
    );
    let files = |s: &RocksVersionState| -> usize { s.live_cfs().map(|(_, c)| c.files.len()).sum() };
    let before = RocksVersionState::replay(edits[..first].iter().cloned());
    let whole = RocksVersionState::replay(edits[..=last].iter().cloned());
    assert_eq!(files(&cut), files(&before));
    assert_eq!(cut.last_sequence, before.last_sequence);
    assert_eq!(files(&whole), files(&before) + 3);
    // A normal edit inside the group breaks it: the group is dropped, the
    // edit applied.
    let mut broken: Vec<RocksEdit> = edits[..last].to_vec();
    broken.push(edits[last + 1].clone());
    let b = RocksVersionState::replay(broken);
    assert!(matches!(
        b.anomalies[..],
        [RocksAnomaly::BrokenAtomicGroup { first_edit, at_edit, .. }]
            if first_edit == first && at_edit == last
    ));
}
