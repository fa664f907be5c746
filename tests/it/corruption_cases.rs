//! LevelDB's `db/corruption_test.cc`, case by case, on stores built here in
//! Rust (tables with `TableBuilder`, logs with `LogWriter` + `BatchBuilder`,
//! a MANIFEST of VersionEdits, `CURRENT`), damaged exactly as the C++ test
//! damages them (`Corrupt`: flip the top bit of N bytes at an offset of the
//! newest file of a kind), then salvaged with the binary.
//!
//! LevelDB's `Check(min, max)` accepts a range of surviving keys because its
//! reader drops whole log blocks and whole tables. Our expectations are
//! exact:
//! - every intact unit (log record, table data block) is recovered, and
//!   `records.jsonl` holds exactly the writes that were made outside the
//!   damaged units, with their sequence numbers and provenance;
//! - the damage is located to the byte range of the damaged unit, with the
//!   right class (`garbled` for flipped bytes, `torn` for a cut file);
//! - nothing is invented: what is read from damaged units goes only to
//!   `unverified.jsonl`, and a damaged table block's `key_range` covers
//!   every key it lost;
//! - `scan --report -` agrees with `salvage` on every file's verdict.
//!
//! Not ported: `NewFileErrorDuringWrite` and `CompactionInputErrorParanoid`
//! test LevelDB's own write path (a write failing under a background error);
//! ldbsalvage never writes to a store. `RecoverWriteError` becomes the one
//! write ldbsalvage does make: its output.

use crate::common;
use crate::support;

use common::{snapshot, snapshot_diff, Rec, EXIT_DAMAGE, EXIT_OK, EXIT_USAGE};
use ldbsalvage::format::ikey;
use ldbsalvage::format::manifest::VersionEdit;
use ldbsalvage::format::table_writer::{BuildOptions, Compression};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::*;

// ---------------------------------------------------------------------------
// Stores
// ---------------------------------------------------------------------------

const MANIFEST: &str = "MANIFEST-000002";

/// What LevelDB leaves after `Build(n)` into log 000003: the MANIFEST names
/// log 3 and says nothing of the writes yet.
fn logged_store(ents: &[Ent]) -> (Files, Log) {
    let log = Log::new().each(ents);
    let mut f = Files::new();
    f.put("000003.log", log.bytes())
        .put(MANIFEST, manifest(&[base_edit(BYTEWISE, 3, 4, 0)]))
        .current(MANIFEST);
    (f, log)
}

/// What LevelDB leaves after `Build(n)`, `TEST_CompactMemTable` and trivial
/// moves down to `level`: table 000005 named by the MANIFEST's edits, an
/// empty log 000004.
fn compacted_store(ents: &[Ent], opts: BuildOptions, level: u32) -> (Files, Table) {
    let t = table(&table_order(ents.to_vec()), opts);
    let last = ents.iter().map(|e| e.seq).max().unwrap_or(0);
    let mut edits = vec![
        base_edit(BYTEWISE, 3, 4, 0),
        VersionEdit {
            log_number: Some(4),
            prev_log_number: Some(0),
            next_file_number: Some(6),
            last_sequence: Some(last),
            new_files: vec![t.new_file(0, 5)],
            ..VersionEdit::default()
        },
    ];
    for l in 1..=level {
        edits.push(VersionEdit {
            next_file_number: Some(6),
            last_sequence: Some(last),
            deleted_files: vec![(l - 1, 5)],
            new_files: vec![t.new_file(l, 5)],
            ..VersionEdit::default()
        });
    }
    let mut f = Files::new();
    f.put("000005.ldb", t.bytes.clone())
        .put("000004.log", Vec::new())
        .put(MANIFEST, manifest(&edits))
        .current(MANIFEST);
    (f, t)
}

/// LevelDB's default table options (4 KiB blocks, restart interval 16,
/// snappy; random printable values do not compress, so blocks are stored
/// raw as LevelDB would store them).
fn default_opts() -> BuildOptions {
    BuildOptions::default()
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

fn tuples(recs: &[Rec]) -> Vec<Tuple> {
    recs.iter().map(tuple_of_rec).collect()
}

fn ent_tuples<'a>(ents: impl IntoIterator<Item = &'a Ent>) -> Vec<Tuple> {
    ents.into_iter().map(tuple_of_ent).collect()
}

/// `records.jsonl` (view all) holds exactly `want`, in order.
#[track_caller]
fn assert_records(s: &Salvaged, want: &[Tuple]) {
    let got = tuples(&s.records);
    if got == *want {
        return;
    }
    let gs: BTreeSet<_> = got.iter().collect();
    let ws: BTreeSet<_> = want.iter().collect();
    let missing: Vec<String> = ws
        .difference(&gs)
        .take(5)
        .map(|t| format!("{} seq {}", common::show(&t.0), t.1))
        .collect();
    let extra: Vec<String> = gs
        .difference(&ws)
        .take(5)
        .map(|t| format!("{} seq {}", common::show(&t.0), t.1))
        .collect();
    panic!(
        "records.jsonl: {} records, want {}; missing (first 5) {missing:?}; not written or wrong \
         (first 5) {extra:?}; order differs: {}\n{}",
        got.len(),
        want.len(),
        missing.is_empty() && extra.is_empty(),
        s.what
    );
}

/// A pristine store: exit 0, no damage anywhere, every write exported.
#[track_caller]
fn assert_pristine(db: &Path, want: &[Tuple]) {
    let s = salvage(db, "pristine", &["--view", "all"]);
    assert_eq!(s.code, EXIT_OK, "{}", s.what);
    for f in s.report["files"].as_array().unwrap() {
        assert_eq!(f["damage"], Value::Array(vec![]), "{}: {f:#}", s.what);
    }
    assert_records(&s, want);
    assert!(s.unverified.is_empty(), "{}", s.what);
    let (code, _) = scan(db);
    assert_eq!(code, EXIT_OK);
}

/// `scan --report -` gives the same per-file verdicts as `salvage`.
#[track_caller]
fn assert_scan_agrees(db: &Path, s: &Salvaged) {
    let (code, r) = scan(db);
    assert_eq!(code, s.code, "scan and salvage exit codes differ");
    for f in s.report["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let g = file_of(&r, name);
        for field in ["damage", "records", "entries", "unverified_entries"] {
            assert_eq!(
                g[field], f[field],
                "{name}: scan and salvage disagree on {field}"
            );
        }
    }
}

/// A key range as (first, first_exclusive, last): a damage's `key_range`,
/// or an item of `lost.key_ranges` (which carries the fields itself).
fn key_range(d: &Value) -> (Option<Vec<u8>>, bool, Option<Vec<u8>>) {
    let r = if d.get("key_range").is_some() {
        &d["key_range"]
    } else {
        d
    };
    assert!(r.get("first_exclusive").is_some(), "not a key range: {d}");
    (
        json_bytes(r, "first"),
        r["first_exclusive"].as_bool().expect("first_exclusive"),
        json_bytes(r, "last"),
    )
}

fn in_range(k: &[u8], r: &(Option<Vec<u8>>, bool, Option<Vec<u8>>)) -> bool {
    let lo = match &r.0 {
        None => true,
        Some(f) if r.1 => k > f.as_slice(),
        Some(f) => k >= f.as_slice(),
    };
    let hi = r.2.as_deref().is_none_or(|l| k <= l);
    lo && hi
}

/// The damage of one data block: its exact byte range, `garbled`, a key
/// range covering every key it held and no intact key but its inclusive
/// lower bound (the previous block's last key, unshortened).
#[track_caller]
fn assert_block_damage(d: &Value, b: &BlockInfo, intact_keys: &[Vec<u8>]) {
    assert_eq!(d["offset"], b.offset, "damage offset: {d}");
    assert_eq!(d["length"], b.len, "damage length: {d}");
    assert_eq!(d["class"], "garbled", "{d}");
    assert!(
        d["reason"].as_str().unwrap().contains("checksum"),
        "reason should name the checksum: {d}"
    );
    if let Some(n) = d.get("lost_entries") {
        assert_eq!(n, b.entries.len(), "{d}");
    }
    let r = key_range(d);
    for k in b.user_keys() {
        assert!(
            in_range(&k, &r),
            "lost key {} outside {d}",
            common::show(&k)
        );
    }
    for k in intact_keys {
        if in_range(k, &r) {
            assert!(
                !r.1 && r.0.as_deref() == Some(k.as_slice()),
                "intact key {} inside the lost range {d}",
                common::show(k)
            );
        }
    }
}

/// Every unverified entry is one of `possible` (the writes inside damaged
/// units), identical to it except possibly for the value bytes that were
/// flipped; returns how many.
#[track_caller]
fn assert_unverified_from(s: &Salvaged, possible: &[Ent]) -> usize {
    for u in &s.unverified {
        assert!(u.reason.as_deref().is_some_and(|r| !r.is_empty()), "{u:?}");
        let w = possible
            .iter()
            .find(|e| e.key == u.key && e.seq == u.seq)
            .unwrap_or_else(|| {
                panic!(
                    "unverified entry {} seq {} is not a write from a damaged unit",
                    common::show(&u.key),
                    u.seq
                )
            });
        let v = u.value.as_deref().unwrap_or_default();
        assert_eq!(v.len(), w.value.len(), "{u:?}");
        let diff = v.iter().zip(&w.value).filter(|(a, b)| a != b).count();
        assert!(diff <= 1, "unverified value differs in {diff} bytes");
    }
    s.unverified.len()
}

fn keys_of(s: &Salvaged) -> Vec<Vec<u8>> {
    s.records.iter().map(|r| r.key.clone()).collect()
}

// ---------------------------------------------------------------------------
// Recovery
// ---------------------------------------------------------------------------

/// `Recovery`: `Build(100)` into the log, then one byte flipped at 19 (the
/// first record's WriteBatch tag) and one somewhere in the second block.
/// LevelDB drops both blocks (64 records, `Check(36, 36)`); we lose exactly
/// the two records that hold a flipped byte.
#[test]
fn recovery() {
    let ents = build(0..100, 1);
    let (mut files, log) = logged_store(&ents);
    let (_tmp, db) = files.write();
    assert_pristine(&db, &ent_tuples(&ents));

    let a = corrupt(files.get_mut("000003.log"), 19, 1);
    let b = corrupt(files.get_mut("000003.log"), (LOG_BLOCK + 1000) as i64, 1);
    let hit = [log.rec_at(a.start as u64), log.rec_at(b.start as u64)];
    assert_eq!(hit[0].seq, 1, "offset 19 lies in the first record");
    assert!(
        hit[1].start >= LOG_BLOCK,
        "the second flip lies in a record of the second block"
    );
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);

    let lost: BTreeSet<u64> = hit.iter().map(|r| r.seq).collect();
    let kept: Vec<&Ent> = ents.iter().filter(|e| !lost.contains(&e.seq)).collect();
    assert_eq!(kept.len(), 98);
    assert_records(&s, &ent_tuples(kept.iter().copied()));
    // Provenance: every record names its log record.
    for r in &s.records {
        let rec = log.recs.iter().find(|x| x.seq == r.seq).unwrap();
        assert_eq!(r.file, "000003.log");
        assert_eq!(r.offset, rec.start, "offset of seq {}", r.seq);
    }

    let dmg = s.damage("000003.log");
    assert_eq!(dmg.len(), 2, "{dmg:#?}");
    for (d, r) in dmg.iter().zip(&hit) {
        assert_eq!(d["offset"], r.start, "{d}");
        assert_eq!(d["length"], r.end - r.start, "{d}");
        assert_eq!(d["class"], "garbled", "{d}");
    }
    let f = s.file("000003.log");
    assert_eq!(f["records"]["intact"], 98);
    assert_eq!(f["records"]["garbled"], 2);
    assert_eq!(f["records"]["torn"], 0);

    let seqs = s.report["lost"]["sequence_ranges"].as_array().unwrap();
    let got: Vec<(u64, Option<u64>)> = seqs
        .iter()
        .map(|r| (r["first"].as_u64().unwrap(), r["last"].as_u64()))
        .collect();
    assert_eq!(got, vec![(1, Some(1)), (hit[1].seq, Some(hit[1].seq))]);

    // Record 0's tag byte is wrong: nothing of it decodes. The other lost
    // record decodes to its write with one value byte flipped.
    let possible: Vec<Ent> = hit.iter().flat_map(|r| r.ents.clone()).collect();
    assert_eq!(assert_unverified_from(&s, &possible), 1);
    assert_eq!(s.unverified[0].seq, hit[1].seq);
    assert_scan_agrees(&db, &s);
}

/// `Recovery`'s interrupted-write twin: the log cut inside its last record
/// is torn from that record's first byte to the end, every earlier record
/// is intact, and the lost sequences are open-ended.
#[test]
fn recovery_torn_tail() {
    let ents = build(0..100, 1);
    let (mut files, log) = logged_store(&ents);
    let last = log.recs.last().unwrap().clone();
    let cut = last.start + 500;
    files.get_mut("000003.log").truncate(cut as usize);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    assert_records(&s, &ent_tuples(&ents[..99]));
    let dmg = s.damage("000003.log");
    assert_eq!(dmg.len(), 1, "{dmg:#?}");
    assert_eq!(dmg[0]["offset"], last.start);
    assert_eq!(dmg[0]["length"], cut - last.start);
    assert_eq!(dmg[0]["class"], "torn");
    let seqs = s.report["lost"]["sequence_ranges"].as_array().unwrap();
    assert_eq!(seqs.len(), 1, "{seqs:?}");
    assert_eq!(seqs[0]["first"], 100);
    assert_eq!(seqs[0]["last"], Value::Null);
    assert_scan_agrees(&db, &s);
}

// ---------------------------------------------------------------------------
// RecoverWriteError
// ---------------------------------------------------------------------------

/// `RecoverWriteError`: LevelDB must fail an open whose writes fail. The
/// only writes ldbsalvage makes are its outputs: an export that cannot be
/// written fails the run (exit 2, saying why) and the input stays as it was.
#[test]
fn recover_write_error() {
    let ents = build(0..100, 1);
    let (files, _) = logged_store(&ents);
    let (tmp, db) = files.write();
    let before = snapshot(&db);

    // Records streamed to a device that is always full.
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let o = std::process::Command::new(common::bin())
            .args(["salvage", "--quiet", "--out", "-"])
            .arg(&db)
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(
            common::code(&o),
            EXIT_USAGE,
            "stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.stderr.is_empty(), "a failed write must say why");
    }

    // An output path that is a regular file.
    let file_out = tmp.path().join("not-a-dir");
    std::fs::write(&file_out, b"keep me").unwrap();
    let a = [
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        file_out.as_os_str(),
        "--quiet".as_ref(),
    ];
    let o = common::run(a);
    assert_eq!(common::code(&o), EXIT_USAGE, "{}", common::describe(&a, &o));
    assert_eq!(std::fs::read(&file_out).unwrap(), b"keep me");

    let d = snapshot_diff(&before, &snapshot(&db));
    assert!(d.is_empty(), "the input was modified: {d:?}");
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// `TableFile`: `Build(100)`, compacted into one table at level 2, one byte
/// flipped at offset 100 (inside the first data block). LevelDB accepts
/// 90..99 survivors; we lose exactly the damaged block's keys, report that
/// block's bytes as garbled with a key range covering them, and give its
/// entries back only as unverified.
#[test]
fn table_file() {
    let ents = build(0..100, 1);
    let (mut files, t) = compacted_store(&ents, default_opts(), 2);
    let lay = layout(&t.bytes);
    assert!(lay.data.len() >= 10, "{} blocks", lay.data.len());
    let (_tmp, db) = files.write();
    assert_pristine(&db, &ent_tuples(&ents));

    let flipped = corrupt(files.get_mut("000005.ldb"), 100, 1);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    check_one_damaged_block(&s, &ents, &lay, flipped.start as u64, "000005.ldb");
    assert_scan_agrees(&db, &s);
}

/// The export and report of a table with exactly one damaged data block,
/// the one holding byte `at`.
#[track_caller]
fn check_one_damaged_block(s: &Salvaged, ents: &[Ent], lay: &Layout, at: u64, name: &str) {
    let hit = lay
        .data
        .iter()
        .find(|b| b.contains(at))
        .expect("a data block");
    let lost: BTreeSet<Vec<u8>> = hit.user_keys().into_iter().collect();
    assert!(!lost.is_empty());
    let kept: Vec<&Ent> = ents.iter().filter(|e| !lost.contains(&e.key)).collect();
    assert_eq!(kept.len(), ents.len() - lost.len());
    assert_records(s, &ent_tuples(kept.iter().copied()));
    for r in &s.records {
        let b = lay
            .data
            .iter()
            .find(|b| b.user_keys().contains(&r.key))
            .unwrap();
        assert_eq!((r.file.as_str(), r.offset), (name, b.offset));
    }

    let dmg = s.damage(name);
    assert_eq!(dmg.len(), 1, "{dmg:#?}");
    let intact: Vec<Vec<u8>> = kept.iter().map(|e| e.key.clone()).collect();
    assert_block_damage(&dmg[0], hit, &intact);
    let f = s.file(name);
    let n = lay.data.len() as u64;
    assert_eq!(f["blocks"]["intact"], n - 1);
    assert_eq!(f["blocks"]["garbled"], 1);
    assert_eq!(f["blocks"]["torn"], 0);
    assert_eq!(f["entries"], kept.len());

    // The report's lost key range and requeue item are that block's.
    let kr = s.report["lost"]["key_ranges"].as_array().unwrap();
    assert_eq!(kr.len(), 1, "{kr:?}");
    assert_eq!(kr[0]["file"], name);
    assert_eq!(key_range(&kr[0]), key_range(&dmg[0]));
    let rq: Vec<&Value> = s.report["requeue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "key_range")
        .collect();
    assert_eq!(rq.len(), 1, "{rq:?}");
    assert_eq!(s.report["lost"]["sequence_ranges"], Value::Array(vec![]));

    // The damaged block's entries, read back only as unverified, exactly the
    // written ones but for the flipped byte.
    let possible: Vec<Ent> = ents
        .iter()
        .filter(|e| lost.contains(&e.key))
        .cloned()
        .collect();
    assert_eq!(assert_unverified_from(s, &possible), lost.len());
    for u in &s.unverified {
        assert!(!intact.contains(&u.key));
        assert_eq!(u.offset, hit.offset);
    }
}

/// The first block of `Build(100)` under default options holds keys 0..=4,
/// and its key range is exactly "up to key 4".
#[test]
fn table_file_key_range_is_exact() {
    let ents = build(0..100, 1);
    let (mut files, t) = compacted_store(&ents, default_opts(), 2);
    let lay = layout(&t.bytes);
    assert_eq!(lay.data[0].user_keys(), (0..5).map(key).collect::<Vec<_>>());
    corrupt(files.get_mut("000005.ldb"), 100, 1);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    let d = &s.damage("000005.ldb")[0];
    assert_eq!(key_range(d), (None, false, Some(key(4))), "{d}");
    // A block in the middle: from the previous block's last key (inclusive:
    // an older version of it could open the damaged block) to its own last.
    let mid = &lay.data[5];
    let mut files2 = files.clone();
    let pristine = t.bytes.clone();
    *files2.get_mut("000005.ldb") = pristine;
    corrupt(files2.get_mut("000005.ldb"), (mid.offset + 40) as i64, 1);
    let (_tmp2, db2) = files2.write();
    let s = salvage(&db2, "out", &["--view", "all"]);
    let d = &s.damage("000005.ldb")[0];
    let prev_last = lay.data[4].user_keys().pop().unwrap();
    let own_last = mid.user_keys().pop().unwrap();
    assert_eq!(
        key_range(d),
        (Some(prev_last), false, Some(own_last)),
        "{d}"
    );
}

/// `TableFileRepair`: 2000-byte blocks (two entries each) limit the damage;
/// LevelDB's repair keeps 95..99. We lose exactly the damaged block's two
/// keys, and `--rebuild` (our repair) makes a store holding exactly the 98
/// intact writes, which itself salvages clean.
#[test]
fn table_file_repair() {
    let opts = BuildOptions {
        block_size: 2 * VALUE_SIZE,
        ..default_opts()
    };
    let ents = build(0..100, 1);
    let (mut files, t) = compacted_store(&ents, opts, 2);
    let lay = layout(&t.bytes);
    assert!(lay.data.iter().all(|b| b.entries.len() <= 2));
    let (_tmp, db) = files.write();
    assert_pristine(&db, &ent_tuples(&ents));

    let flipped = corrupt(files.get_mut("000005.ldb"), 100, 1);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    check_one_damaged_block(&s, &ents, &lay, flipped.start as u64, "000005.ldb");
    assert_eq!(s.records.len(), 98);

    // Repair: the latest view as a fresh store.
    let r = salvage(&db, "repaired", &["--rebuild"]);
    assert_eq!(r.code, EXIT_DAMAGE, "{}", r.what);
    let rb = &r.report["salvage"]["rebuilt"];
    assert_eq!(rb["keys"], 98, "{rb}");
    assert_eq!(rb["last_sequence"], 100, "{rb}");
    // Reopen + Check: the rebuilt store salvages clean to the same 98 writes.
    let again = salvage(&r.out.join("db"), "reopened", &["--view", "all"]);
    assert_eq!(again.code, EXIT_OK, "{}", again.what);
    assert_eq!(tuples(&again.records), tuples(&s.records));
    assert!(again.unverified.is_empty());
}

/// `TableFileIndexData`: `Build(10000)` in several tables, 500 bytes flipped
/// 2000 bytes before the end of the newest (inside its index block). LevelDB
/// loses that whole table (`Check(5000, 9999)`); block discovery finds every
/// data block, so nothing at all is lost: the index block is garbled damage
/// that loses no entry.
#[test]
fn table_file_index_data() {
    let ents = build(0..10000, 1);
    // Three memtable flushes, each a level-0 table, logs in between.
    let parts = [(5u64, 0..4000usize), (7, 4000..8000), (9, 8000..10000)];
    let mut files = Files::new();
    let mut edits = vec![base_edit(BYTEWISE, 3, 4, 0)];
    let mut tables = Vec::new();
    for (number, r) in parts.iter().cloned() {
        let t = table(&ents[r.clone()], default_opts());
        edits.push(VersionEdit {
            log_number: Some(number + 1),
            prev_log_number: Some(0),
            next_file_number: Some(number + 2),
            last_sequence: Some(r.end as u64),
            new_files: vec![t.new_file(0, number)],
            ..VersionEdit::default()
        });
        files.put(format!("{number:06}.ldb"), t.bytes.clone());
        tables.push(t);
    }
    files
        .put("000010.log", Vec::new())
        .put(MANIFEST, manifest(&edits))
        .current(MANIFEST);
    let lay = layout(&tables[2].bytes);
    let (_tmp, db) = files.write();
    assert_pristine(&db, &ent_tuples(&ents));

    let flipped = corrupt(files.get_mut("000009.ldb"), -2000, 500);
    let (io, ilen) = lay.index;
    assert!(
        io <= flipped.start as u64 && flipped.end as u64 <= io + ilen,
        "the flipped bytes {flipped:?} lie in the index block ({io}, {ilen})"
    );
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    assert_records(&s, &ent_tuples(&ents));
    assert!(s.unverified.is_empty(), "{:?}", &s.unverified[..1]);

    let dmg = s.damage("000009.ldb");
    assert_eq!(dmg.len(), 1, "{dmg:#?}");
    let d = &dmg[0];
    assert_eq!(d["class"], "garbled", "{d}");
    assert_eq!(d["offset"], io, "{d}");
    assert_eq!(d["length"], ilen, "{d}");
    assert_eq!(d["lost_entries"], 0, "{d}");
    assert!(d.get("key_range").is_none(), "{d}");
    let f = s.file("000009.ldb");
    assert_eq!(f["blocks"]["intact"], lay.data.len());
    assert_eq!(f["blocks"]["garbled"], 0);
    assert_eq!(f["entries"], 2000);
    for other in ["000005.ldb", "000007.ldb"] {
        assert_eq!(s.damage(other), Vec::<Value>::new());
    }
    assert_eq!(s.report["lost"]["key_ranges"], Value::Array(vec![]));
    assert_eq!(s.report["lost"]["sequence_ranges"], Value::Array(vec![]));
    assert_scan_agrees(&db, &s);
}

/// A table cut inside a data block (an interrupted compaction output): the
/// blocks before the cut are intact, the rest is one torn range to EOF.
#[test]
fn table_file_truncated() {
    let ents = build(0..100, 1);
    let (mut files, t) = compacted_store(&ents, default_opts(), 2);
    let lay = layout(&t.bytes);
    let cut_block = &lay.data[10];
    let cut = cut_block.offset + 300;
    files.get_mut("000005.ldb").truncate(cut as usize);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    let kept: Vec<&Ent> = lay.data[..10]
        .iter()
        .flat_map(|b| b.user_keys())
        .map(|k| ents.iter().find(|e| e.key == k).unwrap())
        .collect();
    assert_records(&s, &ent_tuples(kept.iter().copied()));
    let dmg = s.damage("000005.ldb");
    assert_eq!(dmg.len(), 1, "{dmg:#?}");
    assert_eq!(dmg[0]["offset"], cut_block.offset, "{}", dmg[0]);
    assert_eq!(dmg[0]["length"], cut - cut_block.offset, "{}", dmg[0]);
    assert_eq!(dmg[0]["class"], "torn", "{}", dmg[0]);
    // Without the index, the lost keys are bounded below by the last intact
    // key; above, nothing is known.
    let r = key_range(&dmg[0]);
    for e in &ents {
        if !kept.iter().any(|k| k.key == e.key) {
            assert!(
                in_range(&e.key, &r),
                "{} outside {r:?}",
                common::show(&e.key)
            );
        }
    }
    assert_eq!(r.0, lay.data[9].user_keys().pop());
    assert_scan_agrees(&db, &s);
}

// ---------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------

/// `MissingDescriptor`: `Build(1000)`, then repaired. LevelDB's test keeps
/// the descriptor; ours also deletes `CURRENT` and the MANIFEST: every write
/// is still exported, the store's own account says what is missing, and a
/// rebuilt store holds all 1000 keys.
#[test]
fn missing_descriptor() {
    let ents = build(0..1000, 1);
    let (mut files, _) = logged_store(&ents);
    let (_tmp, db) = files.write();
    assert_pristine(&db, &ent_tuples(&ents));

    files.remove("CURRENT");
    files.remove(MANIFEST);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_OK, "no byte is damaged: {}", s.what);
    assert_records(&s, &ent_tuples(&ents));
    let st = &s.report["store"];
    assert_eq!(st["manifest"], Value::Null, "{st}");
    assert!(
        st["current_error"]
            .as_str()
            .is_some_and(|e| e.contains("CURRENT")),
        "{st}"
    );

    let r = salvage(&db, "repaired", &["--rebuild"]);
    assert_eq!(r.code, EXIT_OK, "{}", r.what);
    assert_eq!(r.report["salvage"]["rebuilt"]["keys"], 1000);
    let again = salvage(&r.out.join("db"), "reopened", &["--view", "all"]);
    assert_eq!(again.code, EXIT_OK, "{}", again.what);
    let mut want = ent_tuples(&ents);
    want.sort();
    let mut got = tuples(&again.records);
    got.sort();
    assert_eq!(got, want);
}

/// `SequenceNumberRecovery`: five writes of "foo" in the log, the MANIFEST
/// still at sequence 0. The repaired store must hold v5 and a last sequence
/// of at least 5, so that a new write (v6) is not hidden by an older one.
#[test]
fn sequence_number_recovery() {
    let ents: Vec<Ent> = (1..=5)
        .map(|i| Ent::put(b"foo", i, format!("v{i}").as_bytes()))
        .collect();
    let (files, _) = logged_store(&ents);
    let (_tmp, db) = files.write();
    let all = salvage(&db, "all", &["--view", "all"]);
    assert_eq!(all.code, EXIT_OK, "{}", all.what);
    assert_records(&all, &ent_tuples(&ents));

    let r = salvage(&db, "repaired", &["--rebuild"]);
    assert_eq!(r.code, EXIT_OK, "{}", r.what);
    assert_eq!(
        tuples(&r.records),
        vec![(b"foo".to_vec(), 5, "put".to_string(), Some(b"v5".to_vec()))]
    );
    assert_eq!(r.report["salvage"]["rebuilt"]["last_sequence"], 5);
    // Reopen: the rebuilt store says so itself.
    let again = salvage(&r.out.join("db"), "reopened", &["--view", "all"]);
    assert_eq!(again.code, EXIT_OK, "{}", again.what);
    assert_eq!(again.report["store"]["last_sequence"], 5);
    assert_eq!(tuples(&again.records), tuples(&r.records));

    // A MANIFEST already ahead of the log: the rebuilt store never goes back.
    let mut files = files.clone();
    files.put(MANIFEST, manifest(&[base_edit(BYTEWISE, 3, 4, 77)]));
    let (_tmp, db) = files.write();
    let r = salvage(&db, "repaired", &["--rebuild"]);
    assert_eq!(r.code, EXIT_OK, "{}", r.what);
    assert_eq!(r.report["salvage"]["rebuilt"]["last_sequence"], 77);
}

/// `CorruptedDescriptor`: "foo" = "hello" compacted into a table, then the
/// first 1000 bytes of the MANIFEST (all of it) flipped. LevelDB cannot open
/// the store until it is repaired; we export foo from the table at once,
/// report the whole MANIFEST as garbled, and rebuild a store holding foo.
#[test]
fn corrupted_descriptor() {
    let ents = vec![Ent::put(b"foo", 1, b"hello")];
    let (mut files, _) = compacted_store(&ents, default_opts(), 1);
    let msize = files.get(MANIFEST).len();
    assert!(msize < 1000);
    let flipped = corrupt(files.get_mut(MANIFEST), 0, 1000);
    assert_eq!(flipped, 0..msize);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    assert_records(&s, &ent_tuples(&ents));
    assert!(s.unverified.is_empty());
    let dmg = s.damage(MANIFEST);
    assert_eq!(dmg.len(), 1, "{dmg:#?}");
    assert_eq!(dmg[0]["offset"], 0);
    assert_eq!(dmg[0]["length"], msize);
    assert_eq!(dmg[0]["class"], "garbled");
    let st = &s.report["store"];
    assert_eq!(st["current"], MANIFEST, "{st}");
    assert_eq!(st["manifest"], Value::Null, "no edit survives: {st}");
    assert_eq!(s.file("000005.ldb")["state"], "unknown");
    assert_eq!(s.damage("000005.ldb"), Vec::<Value>::new());
    assert_scan_agrees(&db, &s);

    let r = salvage(&db, "repaired", &["--rebuild"]);
    assert_eq!(r.code, EXIT_DAMAGE, "{}", r.what);
    let again = salvage(&r.out.join("db"), "reopened", &[]);
    assert_eq!(again.code, EXIT_OK, "{}", again.what);
    assert_eq!(tuples(&again.records), tuples(&s.records));
}

// ---------------------------------------------------------------------------
// Damage next to unrelated data
// ---------------------------------------------------------------------------

/// `CompactionInputError`: `Build(10)` in a level-2 table whose first block
/// is damaged (LevelDB: 5..9 survive; we: exactly the 5 keys of the other
/// block, the first holding keys 0..=4), then `Build(10000)`
/// again (LevelDB: all 10000 once compaction rewrote them). The newer writes
/// are intact, so the latest view holds all 10000 at their newest sequence;
/// the old damaged entries stay unverified and do not flag the newer ones.
#[test]
fn compaction_input_error() {
    let old = build(0..10, 1);
    let (mut files, t) = compacted_store(&old, default_opts(), 2);
    let lay = layout(&t.bytes);
    let flipped = corrupt(files.get_mut("000005.ldb"), 100, 1);
    let (_tmp, db) = files.write();
    let s = salvage(&db, "first", &["--view", "all"]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    check_one_damaged_block(&s, &old, &lay, flipped.start as u64, "000005.ldb");
    assert_eq!(lay.data[0].user_keys(), (0..5).map(key).collect::<Vec<_>>());
    assert_eq!(s.records.len(), 5);

    let new = build(0..10000, 11);
    let log = Log::new().each(&new);
    files.put("000004.log", log.bytes());
    let (_tmp, db) = files.write();
    let s = salvage(&db, "latest", &[]);
    assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
    let mut want = ent_tuples(&new);
    want.sort();
    assert_eq!(tuples(&s.records), want, "latest view");
    for r in &s.records {
        assert!(!r.suspect_newer, "{r:?}");
        assert_eq!(r.file, "000004.log");
    }
    assert_eq!(s.unverified.len(), lay.data[0].entries.len());
}

/// `UnrelatedKeys`: `Build(10)` in a table whose first block is damaged, then
/// a write of key 1000 into the log, then that log compacted into a second
/// table. Key 1000 is intact each time and outside every lost key range.
#[test]
fn unrelated_keys() {
    let old = build(0..10, 1);
    let (mut files, t) = compacted_store(&old, default_opts(), 2);
    let lay = layout(&t.bytes);
    corrupt(files.get_mut("000005.ldb"), 100, 1);
    let k1000 = Ent::put(&key(1000), 11, &value(1000));
    let survivors: Vec<Vec<u8>> = lay.data[1..]
        .iter()
        .flat_map(|b| b.user_keys())
        .chain([key(1000)])
        .collect();

    let check = |files: &Files, where_: &str| {
        let (_tmp, db) = files.write();
        let s = salvage(&db, "out", &[]);
        assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
        assert_eq!(keys_of(&s), survivors, "latest view ({where_})");
        let r = s.records.iter().find(|r| r.key == key(1000)).unwrap();
        assert_eq!(tuple_of_rec(r), tuple_of_ent(&k1000));
        assert_eq!(r.file, where_);
        for kr in s.report["lost"]["key_ranges"].as_array().unwrap() {
            assert!(!in_range(&key(1000), &key_range(kr)), "{kr}");
        }
        assert_scan_agrees(&db, &s);
    };

    // Written to the log.
    let log = Log::new().each(std::slice::from_ref(&k1000));
    files.put("000004.log", log.bytes());
    check(&files, "000004.log");

    // `TEST_CompactMemTable`: into table 7, the log replaced by log 6.
    let t7 = table(std::slice::from_ref(&k1000), default_opts());
    let mut edits = vec![
        base_edit(BYTEWISE, 3, 4, 0),
        VersionEdit {
            log_number: Some(4),
            next_file_number: Some(6),
            last_sequence: Some(10),
            new_files: vec![t.new_file(2, 5)],
            ..VersionEdit::default()
        },
    ];
    edits.push(VersionEdit {
        log_number: Some(6),
        next_file_number: Some(8),
        last_sequence: Some(11),
        new_files: vec![t7.new_file(0, 7)],
        ..VersionEdit::default()
    });
    files.remove("000004.log");
    files
        .put("000006.log", Vec::new())
        .put("000007.ldb", t7.bytes)
        .put(MANIFEST, manifest(&edits));
    check(&files, "000007.ldb");
}

/// Flipping a byte in every data block of a table in turn: each time exactly
/// that block is lost, and its key range covers its keys. Both compressions.
#[test]
fn every_block_in_turn() {
    for compression in [Compression::None, Compression::Snappy] {
        // Compressible values, so that snappy blocks are really compressed.
        let ents: Vec<Ent> = (0..60u64)
            .map(|i| Ent::put(&key(i), i + 1, &vec![b'a' + (i % 26) as u8; 700]))
            .collect();
        let opts = BuildOptions {
            block_size: 2048,
            restart_interval: 4,
            compression,
        };
        let (files, t) = compacted_store(&ents, opts, 2);
        let lay = layout(&t.bytes);
        assert!(lay.data.len() >= 8);
        for b in &lay.data {
            let mut f = files.clone();
            // The middle of the block: its stored bytes, compressed or not.
            let at = b.offset + (b.len - 5) / 2;
            corrupt(f.get_mut("000005.ldb"), at as i64, 1);
            let (_tmp, db) = f.write();
            let s = salvage(&db, "out", &["--view", "all"]);
            assert_eq!(s.code, EXIT_DAMAGE, "{}", s.what);
            let lost: BTreeSet<Vec<u8>> = b.user_keys().into_iter().collect();
            let kept: Vec<&Ent> = ents.iter().filter(|e| !lost.contains(&e.key)).collect();
            assert_records(&s, &ent_tuples(kept.iter().copied()));
            let dmg = s.damage("000005.ldb");
            assert_eq!(
                dmg.len(),
                1,
                "{compression:?} block at {}: {dmg:#?}",
                b.offset
            );
            let intact: Vec<Vec<u8>> = kept.iter().map(|e| e.key.clone()).collect();
            assert_block_damage(&dmg[0], b, &intact);
            // Unverified entries, if any decode, are only that block's.
            for u in &s.unverified {
                assert!(lost.contains(&u.key), "{u:?}");
            }
        }
    }
}

/// The ikey helpers agree with what the table carries (a sanity check on
/// the ground-truth parser used above).
#[test]
fn layout_parser_matches_writes() {
    let ents = build(0..100, 1);
    let t = table(&ents, default_opts());
    let lay = layout(&t.bytes);
    let got: Vec<(Vec<u8>, Vec<u8>)> = lay.data.iter().flat_map(|b| b.entries.clone()).collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = ents.iter().map(|e| (e.ikey(), e.value.clone())).collect();
    assert_eq!(got, want);
    for b in &lay.data {
        let last = &b.entries.last().unwrap().0;
        assert_ne!(
            ikey::compare(last, &b.separator),
            std::cmp::Ordering::Greater
        );
    }
}
