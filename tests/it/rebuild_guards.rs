//! `salvage --rebuild`: refused (exit 2, export still complete, no `db/`)
//! for a store whose MANIFEST names a comparator this crate has no order
//! for (Chrome IndexedDB's `idb_cmp1` is rebuilt in its order); and, when it succeeds, a `db/` that is
//! whole: exactly `CURRENT`, one MANIFEST and the tables that MANIFEST
//! names, nothing temporary left in OUT. A rebuild that fails part-way
//! (writes refused by a file-size limit) leaves no `db/` at all.

use crate::common;
use crate::support;

use common::{parse_ndjson, EXIT_OK, EXIT_USAGE};
use ldbsalvage::format::batch::Kind;
use ldbsalvage::format::ikey;
use ldbsalvage::format::manifest::VersionEdit;
use ldbsalvage::format::table_writer::BuildOptions;
use ldbsalvage::scan::table::scan_table;
use ldbsalvage::scan::Collect;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use support::*;

const MANIFEST: &str = "MANIFEST-000002";
const IDB: &str = "idb_cmp1";
/// A comparator this crate has no order for: a rebuild must be refused.
const OTHER: &str = "acme.ReverseComparator";

/// Names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// An IndexedDB-like key: a fixed key prefix, then the string with a length
/// byte in front. `idb_cmp1` orders such keys by the string, so "aa" < "b",
/// while bytewise the length byte puts "b" (01 62) before "aa" (02 61 61).
fn idb_key(s: &str) -> Vec<u8> {
    let mut k = vec![0x00, 0x01, 0x01, 0x01, 0x01];
    k.push(s.len() as u8);
    k.extend_from_slice(s.as_bytes());
    k
}

/// The latest view of `writes`: per key its highest-sequence write, deletes
/// left out, in bytewise key order.
fn latest(writes: &[Ent]) -> BTreeMap<Vec<u8>, Ent> {
    let mut m: BTreeMap<Vec<u8>, Ent> = BTreeMap::new();
    for e in writes {
        if m.get(&e.key).is_none_or(|o| e.seq > o.seq) {
            m.insert(e.key.clone(), e.clone());
        }
    }
    m.retain(|_, e| e.kind == Kind::Put);
    m
}

// ---------------------------------------------------------------------------
// A custom comparator
// ---------------------------------------------------------------------------

/// A store under `idb_cmp1`: a level-1 table whose keys (same-length
/// strings) sort the same under both orders, and a log with overwrites,
/// deletions and keys whose two orders differ.
fn idb_store() -> (Files, Vec<Ent>) {
    idb_store_named(IDB)
}

/// [`idb_store`] with the MANIFEST naming `comparator`.
fn idb_store_named(comparator: &str) -> (Files, Vec<Ent>) {
    let table_ents: Vec<Ent> = ["aa", "bb", "cc", "dd", "ee"]
        .iter()
        .enumerate()
        .map(|(i, s)| Ent::put(&idb_key(s), i as u64 + 1, format!("t{i}").as_bytes()))
        .collect();
    let t = table(&table_order(table_ents.clone()), BuildOptions::default());
    let log_ents = vec![
        Ent::put(&idb_key("b"), 6, b"log-b"),
        Ent::put(&idb_key("aa"), 7, b"log-aa"),
        Ent::del(&idb_key("cc"), 8),
        Ent::put(&idb_key("ccc"), 9, &[0xff, 0x00, 0x80]),
        Ent::put(&idb_key("zz"), 10, b""),
    ];
    let log = Log::new().each(&log_ents);
    let edits = vec![
        base_edit(comparator, 3, 4, 0),
        VersionEdit {
            log_number: Some(4),
            next_file_number: Some(6),
            last_sequence: Some(5),
            new_files: vec![t.new_file(1, 5)],
            ..VersionEdit::default()
        },
    ];
    let mut f = Files::new();
    f.put("000004.log", log.bytes())
        .put("000005.ldb", t.bytes)
        .put(MANIFEST, manifest(&edits))
        .current(MANIFEST);
    let mut all = table_ents;
    all.extend(log_ents);
    (f, all)
}

#[test]
fn rebuild_refused_for_a_custom_comparator_but_the_export_is_complete() {
    // A comparator with no known order (idb_cmp1 is rebuilt: tests/it/chrome_idb.rs).
    let (files, writes) = idb_store_named(OTHER);
    let (tmp, db) = files.write();

    // Plain salvage: nothing is damaged, exit 0.
    let plain = salvage(&db, "plain", &[]);
    assert_eq!(plain.code, EXIT_OK, "{}", plain.what);
    let want: Vec<Tuple> = latest(&writes).values().map(tuple_of_ent).collect();
    let got: Vec<Tuple> = plain.records.iter().map(tuple_of_rec).collect();
    assert_eq!(got, want, "the latest view, in bytewise key order");

    for view in ["latest", "all"] {
        let out = tmp.path().join(format!("refused-{view}"));
        let a = [
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--rebuild".as_ref(),
            "--quiet".as_ref(),
            "--view".as_ref(),
            view.as_ref(),
        ];
        let o = common::run(a);
        let what = common::describe(&a, &o);
        assert_eq!(common::code(&o), EXIT_USAGE, "{what}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(OTHER),
            "stderr must name the comparator: {what}"
        );
        assert!(stderr.contains("--rebuild"), "{what}");

        // The export and the report are there, whole; no store, nothing
        // temporary.
        assert_eq!(
            names(&out),
            ["records.jsonl", "report.json", "unverified.jsonl"],
            "{what}"
        );
        let records = fs::read(out.join("records.jsonl")).unwrap();
        let recs = parse_ndjson(&records).unwrap();
        if view == "latest" {
            assert_eq!(
                records,
                fs::read(plain.out.join("records.jsonl")).unwrap(),
                "the refused run exports what a plain run exports"
            );
        } else {
            let mut got: Vec<Tuple> = recs.iter().map(tuple_of_rec).collect();
            got.sort();
            let mut want: Vec<Tuple> = writes.iter().map(tuple_of_ent).collect();
            want.sort();
            assert_eq!(got, want, "view all: every write");
        }
        let report = common::read_json(&out.join("report.json"));
        let st = &report["store"];
        assert_eq!(st["comparator"], OTHER, "{st}");
        assert_eq!(st["custom_comparator"], true, "{st}");
        assert_eq!(st["manifest"], MANIFEST, "{st}");
        let sv = &report["salvage"];
        assert_eq!(sv["records"], recs.len(), "{sv}");
        assert!(
            sv.get("rebuilt").is_none_or(Value::is_null),
            "nothing was rebuilt: {sv}"
        );
        assert_eq!(report["summary"]["damaged_files"], 0, "{report:#}");
    }
}

/// The bytewise comparator, named explicitly, is not custom: rebuild runs.
#[test]
fn bytewise_comparator_is_not_refused() {
    let (mut files, _) = idb_store();
    let edits = vec![base_edit(BYTEWISE, 4, 6, 10)];
    files.put(MANIFEST, manifest(&edits));
    files.remove("000005.ldb");
    let (_tmp, db) = files.write();
    let s = salvage(&db, "out", &["--rebuild"]);
    assert_eq!(s.code, EXIT_OK, "{}", s.what);
    assert_eq!(s.report["store"]["custom_comparator"], false);
    assert!(s.out.join("db").is_dir());
}

/// A table of a custom-comparator store holds its keys in the comparator's
/// order, which is not bytewise. Its blocks verify (checksums, structure)
/// and must count as intact; only their order is foreign.
///
/// Today the table reader checks every block (and the index) for bytewise
/// internal-key order before the store's comparator is known, so each such
/// block is reported `garbled` ("out of key order") and its entries go to
/// `unverified.jsonl`: on a real Chrome IndexedDB store, intact data is
/// reported as damage.
#[test]
fn custom_comparator_tables_are_intact() {
    // Two blocks in idb order ("a" < "aa" < "b" < "ba" < "ccc" < "d"), which
    // bytewise is not: the length byte puts "b" (01 62) before "aa" (02 ..).
    let order = ["a", "aa", "b", "ba", "ccc", "d"];
    let ents: Vec<Ent> = order
        .iter()
        .enumerate()
        .map(|(i, s)| Ent::put(&idb_key(s), i as u64 + 1, s.as_bytes()))
        .collect();
    let kv = |e: &Ent| (e.ikey(), e.value.clone());
    let blocks = vec![
        ents[..3].iter().map(kv).collect::<Vec<_>>(),
        ents[3..].iter().map(kv).collect::<Vec<_>>(),
    ];
    let bytes = raw_table(&blocks);
    let mut f = Files::new();
    let mut t_edit = VersionEdit {
        log_number: Some(4),
        next_file_number: Some(6),
        last_sequence: Some(6),
        ..VersionEdit::default()
    };
    t_edit
        .new_files
        .push(ldbsalvage::format::manifest::NewFile {
            level: 1,
            number: 5,
            file_size: bytes.len() as u64,
            smallest: ents[0].ikey(),
            largest: ents[5].ikey(),
        });
    f.put("000005.ldb", bytes)
        .put("000004.log", Vec::new())
        .put(MANIFEST, manifest(&[base_edit(IDB, 3, 4, 0), t_edit]))
        .current(MANIFEST);
    let (_tmp, db) = f.write();
    let s = salvage(&db, "out", &["--view", "all"]);
    assert_eq!(
        s.damage("000005.ldb"),
        Vec::<Value>::new(),
        "{}",
        s.report["files"]
    );
    assert_eq!(s.code, EXIT_OK, "{}", s.what);
    assert_eq!(s.records.len(), 6);
    assert!(s.unverified.is_empty());
}

// ---------------------------------------------------------------------------
// A successful rebuild
// ---------------------------------------------------------------------------

/// A store big enough for a rebuild of several 2 MiB tables: keys 0..3000 in
/// a level-1 table, overwrites of 2000..6000 and deletions of every tenth key
/// in the live log.
fn big_store() -> (Files, Vec<Ent>) {
    let old = build(0..3000, 1);
    let t = table(&old, BuildOptions::default());
    let mut newer = build(2000..6000, 3001);
    for (seq, i) in (7001..).zip((0..6000).step_by(10)) {
        newer.push(Ent::del(&key(i), seq));
    }
    let log = Log::new().each(&newer);
    let edits = vec![
        base_edit(BYTEWISE, 3, 4, 0),
        VersionEdit {
            log_number: Some(6),
            next_file_number: Some(7),
            last_sequence: Some(3000),
            new_files: vec![t.new_file(1, 5)],
            ..VersionEdit::default()
        },
    ];
    let mut f = Files::new();
    f.put("000005.ldb", t.bytes)
        .put("000006.log", log.bytes())
        .put(MANIFEST, manifest(&edits))
        .current(MANIFEST);
    let mut all = old;
    all.extend(newer);
    (f, all)
}

/// The records of a log-format file, CRCs checked, fragments joined
/// (an independent reader, for the rebuilt MANIFEST).
fn log_records(b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut pos = 0usize;
    while pos < b.len() {
        let left = LOG_BLOCK as usize - pos % LOG_BLOCK as usize;
        if left < LOG_HEADER as usize {
            assert!(b[pos..pos + left].iter().all(|&x| x == 0), "block padding");
            pos += left;
            continue;
        }
        let crc = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap());
        let len = u16::from_le_bytes([b[pos + 4], b[pos + 5]]) as usize;
        let ty = b[pos + 6];
        let data = &b[pos + 7..pos + 7 + len];
        let mut typed = vec![ty];
        typed.extend_from_slice(data);
        let want = crc32c::crc32c(&typed)
            .rotate_right(15)
            .wrapping_add(0xa282_ead8);
        assert_eq!(crc, want, "fragment CRC at {pos}");
        match ty {
            1 => {
                assert!(cur.is_none());
                out.push(data.to_vec());
            }
            2 => {
                assert!(cur.is_none());
                cur = Some(data.to_vec());
            }
            3 => cur
                .as_mut()
                .expect("MIDDLE after FIRST")
                .extend_from_slice(data),
            4 => {
                let mut r = cur.take().expect("LAST after FIRST");
                r.extend_from_slice(data);
                out.push(r);
            }
            t => panic!("fragment type {t} at {pos}"),
        }
        pos += 7 + len;
    }
    assert!(cur.is_none(), "an unfinished record");
    out
}

#[test]
fn rebuilt_db_is_exactly_current_one_manifest_and_its_tables() {
    let (files, writes) = big_store();
    let (_tmp, db) = files.write();
    let before = common::snapshot(&db);
    let s = salvage(&db, "out", &["--rebuild"]);
    assert_eq!(s.code, EXIT_OK, "{}", s.what);
    assert!(common::snapshot_diff(&before, &common::snapshot(&db)).is_empty());

    // OUT: the three outputs and db/, nothing temporary.
    assert_eq!(
        names(&s.out),
        ["db", "records.jsonl", "report.json", "unverified.jsonl"]
    );
    let dbo = s.out.join("db");

    // CURRENT names the one MANIFEST.
    let current = fs::read_to_string(dbo.join("CURRENT")).unwrap();
    let mname = current
        .strip_suffix('\n')
        .expect("CURRENT ends in a newline");
    assert!(mname.starts_with("MANIFEST-"), "{current:?}");

    // The MANIFEST's edits, replayed.
    let edits: Vec<VersionEdit> = log_records(&fs::read(dbo.join(mname)).unwrap())
        .iter()
        .map(|r| VersionEdit::decode(r).expect("a VersionEdit"))
        .collect();
    assert!(!edits.is_empty());
    let mut live: BTreeMap<u64, ldbsalvage::format::manifest::NewFile> = BTreeMap::new();
    let mut comparator = None;
    let mut last_sequence = None;
    let mut next_file = None;
    let mut log_number = None;
    for e in &edits {
        comparator = e.comparator.clone().or(comparator);
        last_sequence = e.last_sequence.or(last_sequence);
        next_file = e.next_file_number.or(next_file);
        log_number = e.log_number.or(log_number);
        for (_, n) in &e.deleted_files {
            live.remove(n);
        }
        for nf in &e.new_files {
            live.insert(nf.number, nf.clone());
        }
    }
    assert_eq!(comparator.as_deref(), Some(BYTEWISE.as_bytes()));
    let mnum: u64 = mname["MANIFEST-".len()..].parse().unwrap();
    let next_file = next_file.expect("next file number");
    assert!(live.len() >= 2, "several tables: {}", live.len());
    for &n in live.keys().chain([&mnum, &log_number.expect("log number")]) {
        assert!(
            n < next_file || Some(n) == log_number,
            "file {n} >= next {next_file}"
        );
    }

    // db/ holds exactly CURRENT, that MANIFEST and the tables it names, each
    // of the size it says.
    let mut want: Vec<String> = vec!["CURRENT".to_string(), mname.to_string()];
    want.extend(live.keys().map(|&n| format!("{n:06}.ldb")));
    want.sort();
    assert_eq!(names(&dbo), want);
    for (n, nf) in &live {
        let md = fs::metadata(dbo.join(format!("{n:06}.ldb"))).unwrap();
        assert_eq!(md.len(), nf.file_size, "table {n} size");
    }

    // A repair: the intact live table is kept as it was, at its level; the
    // log's writes (and the deletes of keys it holds) are in new tables.
    let kept = &live[&5];
    assert_eq!(kept.level, 1);
    assert_eq!(
        fs::read(dbo.join("000005.ldb")).unwrap(),
        fs::read(db.join("000005.ldb")).unwrap(),
        "the intact table is copied byte for byte"
    );

    // The tables' newest entry per key is the latest view; every table's
    // smallest/largest is what the MANIFEST says; within a level above 0
    // ranges do not overlap.
    let mut by_key: Vec<&ldbsalvage::format::manifest::NewFile> = live.values().collect();
    by_key.sort_by(|a, b| {
        a.level
            .cmp(&b.level)
            .then_with(|| ikey::compare(&a.smallest, &b.smallest))
    });
    let mut entries = Vec::new();
    for (i, nf) in by_key.iter().enumerate() {
        let bytes = fs::read(dbo.join(format!("{:06}.ldb", nf.number))).unwrap();
        let mut sink = Collect::default();
        let scan = scan_table(&bytes, &mut sink);
        assert!(scan.footer && scan.damage.is_empty(), "table {}", nf.number);
        assert!(sink.unverified.is_empty());
        let first = &sink.intact[0];
        let last = sink.intact.last().unwrap();
        assert_eq!(nf.smallest, ikey::encode(&first.key, first.seq, first.kind));
        assert_eq!(nf.largest, ikey::encode(&last.key, last.seq, last.kind));
        if i > 0 && nf.level > 0 && by_key[i - 1].level == nf.level {
            assert_eq!(
                ikey::compare(&by_key[i - 1].largest, &nf.smallest),
                std::cmp::Ordering::Less,
                "tables overlap"
            );
        }
        entries.extend(sink.intact);
    }
    let want_latest = latest(&writes);
    let stored: Vec<Ent> = entries
        .iter()
        .map(|e| Ent {
            key: e.key.clone(),
            seq: e.seq,
            kind: e.kind,
            value: e.value.clone(),
        })
        .collect();
    let got: Vec<Tuple> = latest(&stored)
        .values()
        .map(|e| {
            let kind = if e.kind == Kind::Put { "put" } else { "delete" };
            (
                e.key.clone(),
                e.seq,
                kind.to_string(),
                Some(e.value.clone()),
            )
        })
        .collect();
    let want: Vec<Tuple> = want_latest.values().map(tuple_of_ent).collect();
    assert!(got == want, "the rebuilt tables hold the latest view");
    let max_seq = writes.iter().map(|e| e.seq).max().unwrap();
    assert_eq!(last_sequence, Some(max_seq));

    // The report says the same.
    let rb = &s.report["salvage"]["rebuilt"];
    assert_eq!(rb["keys"], want.len(), "{rb}");
    assert_eq!(rb["tables"], live.len(), "{rb}");
    assert_eq!(rb["mode"], "repair", "{rb}");
    assert_eq!(rb["kept_tables"], 1, "{rb}");
    // Every tenth key of the table was deleted in the log: 300 deletes.
    assert_eq!(rb["tombstones"], 300, "{rb}");
    assert_eq!(rb["last_sequence"], max_seq, "{rb}");
    assert_eq!(s.records.len(), want.len());

    // And the rebuilt store, salvaged, is whole: every table live, none
    // missing, nothing damaged.
    let again = salvage(&dbo, "again", &[]);
    assert_eq!(again.code, EXIT_OK, "{}", again.what);
    let st = &again.report["store"];
    assert_eq!(st["manifest"], mname);
    assert_eq!(st["live_tables"], live.len());
    assert_eq!(st["missing_tables"], Value::Array(vec![]));
    for f in again.report["files"].as_array().unwrap() {
        assert_eq!(f["state"], "live", "{f}");
    }
    let a: Vec<Tuple> = again.records.iter().map(tuple_of_rec).collect();
    assert!(a == want);
}

/// `salvage --quiet EXTRA --out OUT DB` under a file-size limit of `blocks`
/// (SIGXFSZ ignored, so an oversized write fails with EFBIG instead of
/// killing the process; `ulimit -f` counts 512- or 1024-byte blocks
/// depending on the shell). `None` when the shell cannot set the limit.
fn run_limited(blocks: u32, extra: &[&str], out: &Path, db: &Path) -> Option<std::process::Output> {
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks} || exit 99; exec \"$0\" \"$@\""
        ))
        .arg(common::bin())
        .args(["salvage", "--quiet"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg(db)
        .output()
        .unwrap();
    if o.status.code() == Some(99) {
        eprintln!("skipping: the shell cannot set a file-size limit");
        return None;
    }
    Some(o)
}

/// A plain salvage whose export cannot be written (the file-size limit is
/// far below records.jsonl) fails and removes the OUT it created, so that a
/// retry into it is not refused as "not empty".
#[test]
fn failed_export_leaves_nothing() {
    let (files, _) = big_store();
    let (tmp, db) = files.write();
    let out = tmp.path().join("out");
    let Some(o) = run_limited(64, &[], &out, &db) else {
        return;
    };
    let what = format!(
        "exit {:?}, stderr {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(EXIT_USAGE), "{what}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("writing"),
        "{what}"
    );
    // The run made OUT, and took it away again with nothing in it.
    assert!(
        !out.exists(),
        "{what}: {:?}",
        out.exists().then(|| names(&out))
    );
    let s = salvage(&db, "out", &[]);
    assert_eq!(s.code, EXIT_OK, "the retry into the same OUT: {}", s.what);
}

/// A rebuild whose writes start failing part-way (a file-size limit below
/// the size of a rebuilt table) fails the run and leaves nothing in OUT:
/// no `db/`, no temporary directory, no temporary export files.
#[test]
fn failed_rebuild_leaves_no_db() {
    let (files, _) = big_store();
    let (tmp, db) = files.write();
    let out = tmp.path().join("out");
    // 1 MiB at most, under the size of a 2 MiB rebuilt table.
    let Some(o) = run_limited(1024, &["--rebuild"], &out, &db) else {
        return;
    };
    let what = format!(
        "exit {:?}, stderr {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(EXIT_USAGE), "{what}");
    assert!(!o.stderr.is_empty(), "{what}");
    // Nothing at all: no db/, no temporary directory, no temporary export
    // files (hidden names would make a retry refuse OUT as not empty), no
    // report claiming complete exports.
    // The run made OUT: it is gone again, or at least empty.
    let left = if out.exists() {
        names(&out)
    } else {
        Vec::new()
    };
    assert!(
        left.is_empty(),
        "left in OUT after a failed run: {left:?}; {what}"
    );

    // So the same command, without the limit, succeeds into the same OUT.
    let a = [
        "salvage".as_ref(),
        "--quiet".as_ref(),
        "--rebuild".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        db.as_os_str(),
    ];
    let o = common::run(a);
    assert_eq!(common::code(&o), EXIT_OK, "{}", common::describe(&a, &o));
    assert_eq!(
        names(&out),
        ["db", "records.jsonl", "report.json", "unverified.jsonl"]
    );
}
