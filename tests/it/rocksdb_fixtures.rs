//! The RocksDB fixture stores (testdata/rocksdb/<name>/, made by
//! testdata/gen/make_rocksdb_stores.py; testdata/README.md): their
//! truth.json is checked against RocksDB itself, and the damaged copies
//! against the healthy store they were made from.
//!
//! Checked: every healthy store read back by RocksDB (librocksdb-dev 7.8.3
//! through `dump.cc` for the format_version 5 stores, rocksdict / RocksDB
//! 9.8.4 for the format_version 6 ones, which 7.8.3 cannot read) gives
//! exactly its truth.json entries; each store's OPTIONS file holds the
//! options truth.json claims; each damaged store is its healthy store with
//! exactly the one change its truth.json describes; a damaged table loses,
//! to RocksDB, the keys truth.json lists. What ldbsalvage makes of these
//! stores is not asserted here (the RocksDB reader's tests will): only that
//! it runs on each of them without crashing or writing to it.

use crate::common;

use common::tools;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Fixture {
    name: String,
    db: PathBuf,
    truth: Option<Value>,
}

fn rocksdb_dir() -> PathBuf {
    tools::root().join("testdata").join("rocksdb")
}

/// Every store under testdata/rocksdb (the older `healthy` one has no
/// truth.json).
fn fixtures() -> Vec<Fixture> {
    let mut v: Vec<Fixture> = std::fs::read_dir(rocksdb_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("db").is_dir())
        .map(|p| {
            let t = p.join("truth.json");
            Fixture {
                name: p.file_name().unwrap().to_string_lossy().into_owned(),
                db: p.join("db"),
                truth: t.is_file().then(|| read_json(&t)),
            }
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(v.len() >= 11, "the RocksDB fixtures are missing");
    v
}

/// The healthy stores with ground truth, with the format_version asked.
fn healthy(format_version: u64) -> Vec<(Fixture, Value)> {
    let v: Vec<(Fixture, Value)> = fixtures()
        .into_iter()
        .filter_map(|f| {
            let t = f.truth.clone()?;
            (t.get("entries").is_some() && t["options"]["format_version"] == format_version)
                .then_some((f, t))
        })
        .collect();
    assert!(v.len() >= 2, "no format_version {format_version} stores");
    v
}

type Entries = BTreeMap<String, Vec<(String, String)>>;

fn truth_entries(t: &Value) -> Entries {
    let mut out = Entries::new();
    for (cf, kvs) in t["entries"].as_object().unwrap() {
        let kvs = kvs
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                (
                    kv[0].as_str().unwrap().to_string(),
                    kv[1].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>();
        if !kvs.is_empty() {
            out.insert(cf.clone(), kvs);
        }
    }
    out
}

/// A judge's JSON lines, by column family in iterator order, and the order
/// the column families came in.
fn judge_entries(stdout: &[u8]) -> (Entries, Vec<String>) {
    let mut out = Entries::new();
    let mut order = Vec::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let cf = v["cf"].as_str().unwrap().to_string();
        if order.last() != Some(&cf) {
            order.push(cf.clone());
        }
        out.entry(cf).or_default().push((
            v["key_hex"].as_str().unwrap().to_string(),
            v["value_hex"].as_str().unwrap().to_string(),
        ));
    }
    (out, order)
}

fn check_judged(name: &str, t: &Value, judge: &str, o: &std::process::Output) {
    assert!(
        o.status.success(),
        "{judge} could not read {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (got, order) = judge_entries(&o.stdout);
    let want = truth_entries(t);
    assert!(!want.is_empty(), "{name}: empty truth");
    for (cf, kvs) in &want {
        assert_eq!(
            got.get(cf),
            Some(kvs),
            "{name}: column family {cf} as read by {judge} differs from truth.json"
        );
    }
    assert_eq!(got.len(), want.len(), "{name}: column families");
    // The judge lists the column families in the MANIFEST's order, which is
    // truth.json's `column_families` (those with entries).
    let listed: Vec<String> = t["column_families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .filter(|c| want.contains_key(c))
        .collect();
    assert_eq!(order, listed, "{name}: column family order");
    for dropped in t["dropped_column_families"].as_array().unwrap() {
        assert!(!got.contains_key(dropped.as_str().unwrap()), "{name}");
    }
}

#[test]
fn the_format_version_5_stores_read_back_by_rocksdb_7_8_3_as_their_truth() {
    let Some((_, dump)) = tools::require_rocksdb_tools() else {
        return;
    };
    let v = Command::new(&dump).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), "7.8.3");
    for (f, t) in healthy(5) {
        assert!(t["library"].as_str().unwrap().starts_with("RocksDB 7.8.3"));
        let (_tmp, db) = tools::copy_tree(&f.db);
        let o = Command::new(&dump).arg(&db).output().unwrap();
        check_judged(&f.name, &t, "dump.cc (RocksDB 7.8.3)", &o);
    }
}

#[test]
fn the_format_version_6_stores_read_back_by_rocksdb_9_8_4_as_their_truth() {
    let Some(py) = tools::require_rocksdict_python() else {
        return;
    };
    let script = tools::root().join("testdata/gen/make_rocksdb_stores.py");
    for (f, t) in healthy(6) {
        assert!(t["library"].as_str().unwrap().starts_with("RocksDB 9.8.4"));
        let (_tmp, db) = tools::copy_tree(&f.db);
        let o = Command::new(&py)
            .arg(&script)
            .arg("--dump")
            .arg(&db)
            .output()
            .unwrap();
        check_judged(&f.name, &t, "rocksdict (RocksDB 9.8.4)", &o);
    }
}

/// truth.json's options, as the newest OPTIONS file must spell them (it
/// holds the options after RocksDB's sanitizing: 7.8.3 turns WAL recycling
/// off under most recovery modes).
#[test]
fn each_store_options_file_holds_the_options_its_truth_claims() {
    let mut stores = healthy(5);
    stores.extend(healthy(6));
    for (f, t) in stores {
        let newest = std::fs::read_dir(&f.db)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("OPTIONS-"))
            .max()
            .unwrap();
        let text = std::fs::read_to_string(f.db.join(&newest)).unwrap();
        let has = |line: String| {
            assert!(
                text.lines().any(|l| l.trim() == line),
                "{}/{newest} has no `{line}`",
                f.name
            )
        };
        let o = &t["options"];
        let s = |k: &str| o[k].as_str().unwrap_or("");
        has(format!("format_version={}", o["format_version"]));
        has(format!(
            "checksum={}",
            match s("checksum") {
                "crc32c" => "kCRC32c",
                "xxh3" => "kXXH3",
                c => panic!("{c}"),
            }
        ));
        has(format!(
            "compression={}",
            match s("compression") {
                "snappy" => "kSnappyCompression",
                "zstd" => "kZSTD",
                "lz4" => "kLZ4Compression",
                "bzip2" => "kBZip2Compression",
                c => panic!("{c}"),
            }
        ));
        has(format!(
            "index_type={}",
            match s("index") {
                "partitioned" => "kTwoLevelIndexSearch",
                _ => "kBinarySearch",
            }
        ));
        has(format!(
            "data_block_index_type={}",
            if o["data_block_hash"] == 1 {
                "kDataBlockBinaryAndHash"
            } else {
                "kDataBlockBinarySearch"
            }
        ));
        has(format!(
            "recycle_log_file_num={}",
            o["recycle_log_file_num"].as_u64().unwrap_or(0)
        ));
        has(format!(
            "track_and_verify_wals_in_manifest={}",
            o["track_wals"] == 1
        ));
        if o["enable_blob_files"] == 1 {
            has("enable_blob_files=true".to_string());
            has(format!("min_blob_size={}", o["min_blob_size"]));
            has(format!(
                "blob_compression_type={}",
                match s("blob_compression_type") {
                    "zstd" => "kZSTD",
                    c => panic!("{c}"),
                }
            ));
        }
        has(format!(
            "wal_compression={}",
            match s("wal_compression") {
                "zstd" => "kZSTD",
                "" => "kNoCompression",
                c => panic!("{c}"),
            }
        ));
    }
}

/// A file of the healthy and the damaged store, by name.
fn file_pair(healthy: &Path, damaged: &Path, file: &str) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(healthy.join(file)).unwrap(),
        std::fs::read(damaged.join(file)).unwrap(),
    )
}

#[test]
fn each_damaged_store_is_its_healthy_store_with_the_one_change_described() {
    let all = fixtures();
    let mut seen = 0;
    for f in &all {
        let Some(t) = &f.truth else { continue };
        let Some(d) = t.get("damage") else { continue };
        seen += 1;
        let from = t["damaged_from"].as_str().unwrap();
        let h = all.iter().find(|x| x.name == from).unwrap();
        let file = d["file"].as_str().unwrap();
        let (a, b) = (snapshot(&h.db), snapshot(&f.db));
        let other: Vec<String> = snapshot_diff(&a, &b)
            .into_iter()
            .filter(|l| l != &format!("{file} changed"))
            .collect();
        assert!(other.is_empty(), "{}: {other:?}", f.name);
        let (good, bad) = file_pair(&h.db, &f.db, file);
        let off = d["offset"].as_u64().unwrap() as usize;
        let class = d["expected_class"].as_str().unwrap();
        match d["kind"].as_str().unwrap() {
            "truncate" => {
                assert_eq!(class, "torn", "{}", f.name);
                assert!(off < good.len() && off > 0);
                assert_eq!(bad, good[..off], "{}", f.name);
            }
            "overwrite" => {
                assert_eq!(class, "garbled", "{}", f.name);
                let len = d["length"].as_u64().unwrap() as usize;
                let byte = d["byte"].as_u64().unwrap() as u8;
                assert_eq!(bad.len(), good.len());
                assert!(off + len < good.len(), "damage running to the end");
                assert!(bad[off..off + len].iter().all(|&x| x == byte));
                assert_ne!(bad[off..off + len], good[off..off + len]);
                if d["crc_resealed"] == true {
                    // The record's CRC, the 4 bytes its header starts with,
                    // recomputed over the overwritten payload.
                    let r = d["record_range"][0].as_u64().unwrap() as usize;
                    let end = d["record_range"][1].as_u64().unwrap() as usize;
                    assert!(r + 7 <= off && off + len <= end, "{}", f.name);
                    assert_eq!(bad[..r], good[..r]);
                    assert_ne!(bad[r..r + 4], good[r..r + 4]);
                    let crc =
                        crc32c::crc32c_append(crc32c::crc32c(&bad[r + 6..r + 7]), &bad[r + 7..end]);
                    let masked = (crc.rotate_right(15)).wrapping_add(0xa282_ead8);
                    assert_eq!(bad[r..r + 4], masked.to_le_bytes(), "{}", f.name);
                    assert_eq!(bad[r + 4..off], good[r + 4..off]);
                } else {
                    assert_eq!(bad[..off], good[..off]);
                }
                assert_eq!(bad[off + len..], good[off + len..]);
            }
            "bitflip" => {
                assert_eq!(class, "garbled", "{}", f.name);
                let mask = d["mask"].as_u64().unwrap() as u8;
                assert_eq!(bad.len(), good.len());
                let diff: Vec<usize> = (0..good.len()).filter(|&i| good[i] != bad[i]).collect();
                assert_eq!(diff, vec![off], "{}", f.name);
                assert_eq!(good[off] ^ bad[off], mask);
            }
            k => panic!("{}: unknown damage {k}", f.name),
        }
        let lost = d
            .get("expected_lost_writes")
            .or_else(|| d.get("expected_lost_keys"))
            .or_else(|| d.get("expected_unresolved_keys"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        assert!(lost > 0, "{}: nothing said lost", f.name);
    }
    assert_eq!(seen, 12, "damaged RocksDB fixtures");
}

/// RocksDB's own reading of each damaged table loses exactly the keys
/// truth.json says (dump --probe: every key of the healthy table sought in
/// the damaged one; for format_version 6, the same through rocksdict).
#[test]
fn a_damaged_table_loses_to_rocksdb_the_keys_its_truth_lists() {
    let Some((_, dump)) = tools::require_rocksdb_tools() else {
        return;
    };
    let Some(py) = tools::require_rocksdict_python() else {
        return;
    };
    let script = tools::root().join("testdata/gen/make_rocksdb_stores.py");
    let all = fixtures();
    let mut seen = 0;
    for f in &all {
        let Some(d) = f.truth.as_ref().and_then(|t| t.get("damage")) else {
            continue;
        };
        if d.get("expected_lost_keys").is_none() {
            continue;
        }
        seen += 1;
        let h = all.iter().find(|x| x.name == d["healthy"]).unwrap();
        let file = d["file"].as_str().unwrap();
        // format_version 6 tables, which 7.8.3 cannot open, are probed
        // through rocksdict (RocksDB 9.8.4) by the generator's --probe.
        let fv = h.truth.as_ref().unwrap()["options"]["format_version"].clone();
        let mut cmd = if fv == 6 {
            let mut c = Command::new(&py);
            c.arg(&script);
            c
        } else {
            assert_eq!(fv, 5, "{}", f.name);
            Command::new(&dump)
        };
        let o = cmd
            .arg("--probe")
            .arg(h.db.join(file))
            .arg(f.db.join(file))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let lost: Vec<Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|v| v.get("lost_key_hex").cloned())
            .collect();
        assert_eq!(
            Value::Array(lost),
            d["expected_lost_keys"],
            "{}: the keys RocksDB loses",
            f.name
        );
    }
    assert_eq!(seen, 6, "damaged-table fixtures");
}

/// ldbsalvage on every RocksDB store: what it reports is not asserted here,
/// only that it finishes (no panic, no signal), writes a JSON report and
/// leaves the store as it was.
#[test]
fn ldbsalvage_runs_on_every_rocksdb_store_without_crashing_or_writing() {
    for f in fixtures() {
        let before = snapshot(&f.db);
        let args = [
            "scan".as_ref(),
            f.db.as_os_str(),
            "--report".as_ref(),
            "-".as_ref(),
        ];
        let o = run(args);
        let c = code(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            [EXIT_OK, EXIT_DAMAGE, EXIT_USAGE].contains(&c) && !err.contains("panicked"),
            "{}: {}",
            f.name,
            describe(&args, &o)
        );
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap_or_else(|e| panic!("{}: report is not JSON: {e}", f.name));
        assert_eq!(
            snapshot_diff(&before, &snapshot(&f.db)),
            Vec::<String>::new(),
            "{}",
            f.name
        );
    }
}
