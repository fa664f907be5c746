//! Stores whose tables come from two writers, put together from committed
//! fixtures of real writers (`testdata/forks/`, `testdata/basho/`): Mojang's
//! zlib or raw deflate tables beside upstream LevelDB ≥ 1.23's zstd tables,
//! a Basho LZ4 table in an upstream store. Each file whose own evidence
//! names another writer than the store's carries its own dialect (and no
//! other file does); every table's entries come out exactly as they do
//! from its own store alone (which tests/it/forks_mz.rs checks against the
//! writer's dump), so no block was decoded by another writer's codec; and a
//! block whose codec cannot be told is damage that says so.

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn fixture(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(set)
}

/// `base`'s store, with `extra` tables copied in under new numbers (no
/// MANIFEST names them: they are orphans, read as such).
fn mixed(base: &str, extra: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let (keep, db) = common::tools::copy_tree(&fixture(base));
    for (from, to) in extra {
        fs::copy(fixture(from), db.join(to)).expect("copy a table");
    }
    (keep, db)
}

/// The report must match docs/report.schema.json, `files[].dialect` included.
fn check_schema(report: &Value) {
    let schema = read_json(
        &common::tools::root()
            .join("docs")
            .join("report.schema.json"),
    );
    let v = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errs: Vec<String> = v.iter_errors(report).map(|e| e.to_string()).collect();
    assert!(errs.is_empty(), "report: {errs:?}");
}

fn scan(db: &Path) -> (Value, String) {
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("report.json");
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
    ]);
    assert!(
        matches!(code(&o), EXIT_OK | EXIT_DAMAGE),
        "{}",
        describe(&["scan"], &o)
    );
    let r = read_json(&report);
    check_schema(&r);
    (r, String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Every intact record of `salvage --view all`, per file: (seq, kind, key,
/// value, offset).
type Recs = BTreeMap<String, Vec<(u64, String, Vec<u8>, Option<Vec<u8>>, u64)>>;

fn records(db: &Path) -> Recs {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("out");
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        dir.as_os_str(),
        "--view".as_ref(),
        "all".as_ref(),
        "-q".as_ref(),
    ]);
    assert!(
        matches!(code(&o), EXIT_OK | EXIT_DAMAGE),
        "{}",
        describe(&["salvage"], &o)
    );
    let mut by_file = Recs::new();
    for r in parse_ndjson(&fs::read(dir.join("records.jsonl")).unwrap()).unwrap() {
        by_file
            .entry(r.file.clone())
            .or_default()
            .push((r.seq, r.kind, r.key, r.value, r.offset));
    }
    by_file
}

fn file<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the report"))
}

/// The per-file dialects a report gives: file name → dialect name.
fn file_dialects(report: &Value) -> BTreeMap<String, String> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| {
            let d = f.get("dialect")?;
            Some((
                f["name"].as_str().unwrap().to_string(),
                d["name"].as_str().unwrap().to_string(),
            ))
        })
        .collect()
}

/// The mixed store's tables read as their own stores read them: same
/// entries, same offsets, no damage anywhere.
fn same_entries_as_alone(mixed: &Recs, alone: &Recs, files: &[(&str, &str)]) {
    for (there, here) in files {
        let a = alone
            .get(*there)
            .unwrap_or_else(|| panic!("{there}: no records"));
        assert!(!a.is_empty(), "{there}: no records");
        assert_eq!(
            mixed.get(*here),
            Some(a),
            "{here} in the mixed store does not read as {there} does in its own store"
        );
    }
}

#[test]
fn zstd_tables_in_a_mojang_zlib_store_are_named_and_read_by_their_own_codec() {
    let (_keep, db) = mixed(
        "forks/mcpe-zlib/healthy/db",
        &[
            ("forks/main-zstd/healthy/db/000005.ldb", "000020.ldb"),
            ("forks/main-zstd/healthy/db/000008.ldb", "000021.ldb"),
        ],
    );
    let (report, summary) = scan(&db);
    let d = &report["store"]["dialect"];
    assert_eq!(d["name"], "mojang", "{d}");
    let evidence = d["evidence"].to_string();
    assert!(
        evidence.contains("another writer") && evidence.contains("000020.ldb"),
        "the store's evidence does not mention the disagreement: {evidence}"
    );
    let want: BTreeMap<String, String> = [("000020.ldb", "leveldb"), ("000021.ldb", "leveldb")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(file_dialects(&report), want);
    let ev = file(&report, "000020.ldb")["dialect"]["evidence"].to_string();
    assert!(ev.contains("zstd frame"), "{ev}");
    for f in report["files"].as_array().unwrap() {
        assert_eq!(f["damage"], Value::Array(vec![]), "{f}");
    }
    assert!(
        summary.contains("written by another writer than the store's")
            && summary.contains("000020.ldb: leveldb"),
        "the summary's Writer section does not say so:\n{summary}"
    );

    let got = records(&db);
    same_entries_as_alone(
        &got,
        &records(&fixture("forks/main-zstd/healthy/db")),
        &[("000005.ldb", "000020.ldb"), ("000008.ldb", "000021.ldb")],
    );
    same_entries_as_alone(
        &got,
        &records(&fixture("forks/mcpe-zlib/healthy/db")),
        &[("000005.ldb", "000005.ldb"), ("000008.ldb", "000008.ldb")],
    );
}

#[test]
fn raw_deflate_tables_in_an_upstream_zstd_store_are_named() {
    // Mojang's codec id 4 makes the store Mojang's (the rebuild then writes
    // what Bedrock reads); upstream's zstd tables are the ones named.
    let (_keep, db) = mixed(
        "forks/main-zstd/healthy/db",
        &[
            ("forks/mcpe-zlibraw/healthy/db/000005.ldb", "000020.ldb"),
            ("forks/mcpe-zlibraw/healthy/db/000008.ldb", "000021.ldb"),
        ],
    );
    let (report, _) = scan(&db);
    assert_eq!(report["store"]["dialect"]["name"], "mojang");
    let want: BTreeMap<String, String> = [("000005.ldb", "leveldb"), ("000008.ldb", "leveldb")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(file_dialects(&report), want);
    for f in report["files"].as_array().unwrap() {
        assert_eq!(f["damage"], Value::Array(vec![]), "{f}");
    }
    let got = records(&db);
    same_entries_as_alone(
        &got,
        &records(&fixture("forks/mcpe-zlibraw/healthy/db")),
        &[("000005.ldb", "000020.ldb"), ("000008.ldb", "000021.ldb")],
    );
    same_entries_as_alone(
        &got,
        &records(&fixture("forks/main-zstd/healthy/db")),
        &[("000005.ldb", "000005.ldb"), ("000008.ldb", "000008.ldb")],
    );
}

#[test]
fn stores_of_one_writer_carry_no_file_dialect() {
    for set in [
        "forks/mcpe-zlib/healthy/db",
        "forks/mcpe-zlibraw/healthy/db",
        "forks/main-zstd/healthy/db",
        "basho/healthy/db",
    ] {
        let (report, summary) = scan(&fixture(set));
        assert!(file_dialects(&report).is_empty(), "{set}: {report}");
        assert!(!summary.contains("another writer"), "{set}:\n{summary}");
    }
}

#[test]
fn a_basho_lz4_table_in_an_upstream_store_is_damage_not_data() {
    let (_keep, db) = mixed(
        "forks/main-zstd/healthy/db",
        &[("basho/plain/db/sst_1/000009.sst", "000030.ldb")],
    );
    let (report, _) = scan(&db);
    assert_eq!(report["store"]["dialect"]["name"], "leveldb");
    let f = file(&report, "000030.ldb");
    let damage = f["damage"].as_array().unwrap();
    assert!(!damage.is_empty(), "{f}");
    for d in damage {
        assert!(
            d["reason"].as_str().unwrap().contains("codec undecided"),
            "{d}"
        );
    }
    assert_eq!(f["entries"], 0, "{f}");
    let got = records(&db);
    assert!(!got.contains_key("000030.ldb"), "entries from 000030.ldb");
}

#[test]
fn a_rocksdb_table_in_a_leveldb_store_is_named_and_not_read_as_leveldb() {
    let (_keep, db) = mixed(
        "forks/main-zstd/healthy/db",
        &[("rocksdb/healthy/db/000009.sst", "000030.ldb")],
    );
    let (report, _) = scan(&db);
    let d = &report["store"]["dialect"];
    assert_eq!(d["name"], "leveldb", "{d}");
    assert_eq!(d["supported"], true, "{d}");
    let want: BTreeMap<String, String> = [("000030.ldb", "rocksdb")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(file_dialects(&report), want);
    assert_eq!(file(&report, "000030.ldb")["entries"], 0);
    for name in ["000005.ldb", "000008.ldb"] {
        assert_eq!(file(&report, name)["damage"], Value::Array(vec![]));
    }
    assert!(!records(&db).contains_key("000030.ldb"));
}
