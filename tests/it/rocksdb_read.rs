//! The RocksDB reader on stores RocksDB wrote (testdata/rocksdb, made by
//! testdata/gen/make_rocksdb_stores.py with librocksdb-dev 7.8.3 and
//! rocksdict / RocksDB 9.8.4; ground truth is RocksDB's own iterator over
//! the undamaged store, per column family: testdata/README.md).
//!
//! Healthy stores: exit 0, no damage, no loss, and a latest view equal to
//! RocksDB's per column family. Merge operands come out unresolved, oldest
//! first over the value they apply to: the test applies the store's own
//! operator (stringappend with ',') to them, as a replay job would.
//! Damaged stores: the damaged unit is located with its class, exactly the
//! writes or keys truth.json lists are lost (and reported so), everything
//! else is recovered, nothing invented; the input is unchanged.

use crate::common;

use common::tools;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub(crate) fn store(name: &str) -> (PathBuf, Value) {
    let dir = tools::root().join("testdata/rocksdb").join(name);
    (dir.join("db"), read_json(&dir.join("truth.json")))
}

const HEALTHY: [&str; 7] = [
    "cf-ops-crc32c-snappy",
    "cf-ops-xxh3-lz4",
    "recycle-xxh3-zstd",
    "rd-fv6-xxh3-lz4",
    "rd-fv6-recycle-crc32c-zstd",
    "walz-zstd-bzip2",
    "blob-zstd",
];

/// cf → key → value, from truth.json (hex).
pub(crate) type View = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

pub(crate) fn truth_view(t: &Value) -> View {
    let mut v = View::new();
    for (cf, kvs) in t["entries"].as_object().unwrap() {
        let m = v.entry(cf.clone()).or_default();
        for kv in kvs.as_array().unwrap() {
            m.insert(hex(kv[0].as_str().unwrap()), hex(kv[1].as_str().unwrap()));
        }
    }
    v
}

pub(crate) fn field(l: &Value, name: &str) -> Option<Vec<u8>> {
    if let Some(s) = l.get(name).and_then(Value::as_str) {
        return Some(s.as_bytes().to_vec());
    }
    use base64::Engine;
    l.get(format!("{name}_base64"))
        .and_then(Value::as_str)
        .map(|s| base64::engine::general_purpose::STANDARD.decode(s).unwrap())
}

/// `salvage --view latest --out -` of `db`: the view (merge operands
/// applied with stringappend), the lines, and the report.
pub(crate) fn latest(db: &Path) -> (View, Vec<Value>, Value, i32) {
    let tmp = tempfile::tempdir().unwrap();
    let rep = tmp.path().join("report.json");
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--view".as_ref(),
        "latest".as_ref(),
        "--out".as_ref(),
        "-".as_ref(),
        "--report".as_ref(),
        rep.as_os_str(),
        "-q".as_ref(),
    ]);
    let lines: Vec<Value> = o
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let mut view = View::new();
    for l in &lines {
        let cf = match &l["cf"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let key = field(l, "key").unwrap();
        let value = field(l, "value").unwrap_or_default();
        let m = view.entry(cf).or_default();
        match l["kind"].as_str().unwrap() {
            "merge" => {
                let merged = match m.remove(&key) {
                    Some(mut base) => {
                        base.push(b',');
                        base.extend(value);
                        base
                    }
                    None => value,
                };
                m.insert(key, merged);
            }
            // A blob index resolved to its value (unresolved, its raw
            // index: never the truth).
            "put" | "blob_index" => {
                m.insert(key, value);
            }
            k => panic!("the latest view holds a {k} line: {l}"),
        }
    }
    (view, lines, read_json(&rep), code(&o))
}

pub(crate) fn scan(db: &Path) -> (Value, i32) {
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
        "-q".as_ref(),
    ]);
    (serde_json::from_slice(&o.stdout).unwrap(), code(&o))
}

pub(crate) fn damage(r: &Value) -> Vec<(String, u64, u64, String)> {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            f["damage"].as_array().unwrap().iter().map(move |d| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    d["offset"].as_u64().unwrap(),
                    d["length"].as_u64().unwrap(),
                    d["class"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect()
}

#[test]
fn healthy_stores_read_as_rocksdb_reads_them() {
    for name in HEALTHY {
        let (db, t) = store(name);
        let before = snapshot(&db);
        let (r, c) = scan(&db);
        assert_eq!(c, 0, "{name}: {r}");
        assert_eq!(r["store"]["dialect"]["name"], "rocksdb", "{name}");
        let evidence = r["store"]["dialect"]["evidence"].to_string();
        let version = t["library"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap();
        assert!(
            evidence.contains(&format!("written by RocksDB {version}")),
            "{name}: {evidence}"
        );
        assert!(damage(&r).is_empty(), "{name}: {:?}", damage(&r));
        // Every table's entries match its properties' count, and nothing
        // is unreadable.
        for f in r["files"].as_array().unwrap() {
            assert!(f.get("error").is_none(), "{name}: {f}");
        }
        assert_eq!(
            r["lost"]["sequence_ranges"],
            serde_json::json!([]),
            "{name}"
        );
        assert_eq!(r["lost"]["key_ranges"], serde_json::json!([]), "{name}");
        let (view, lines, rep, c) = latest(&db);
        assert_eq!(c, 0, "{name}");
        assert_eq!(
            view,
            truth_view(&t),
            "{name}: the latest view differs from RocksDB's"
        );
        // Every line names its column family by name.
        let names: BTreeSet<&str> = t["column_families"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(lines
            .iter()
            .all(|l| l["cf"].as_str().is_some_and(|c| names.contains(c))));
        assert_eq!(rep["salvage"]["records"], lines.len(), "{name}");
        assert!(
            snapshot_diff(&before, &snapshot(&db)).is_empty(),
            "{name} changed"
        );
    }
}

/// Merge operands are exported as such, oldest first over their base, and
/// the all view holds every kind RocksDB wrote, each with its family.
#[test]
fn merges_single_and_range_deletes_are_their_own_kinds() {
    let (db, _) = store("cf-ops-crc32c-snappy");
    let (_, lines, _, _) = latest(&db);
    let counters: Vec<&Value> = lines.iter().filter(|l| l["cf"] == "counters").collect();
    assert!(counters.iter().any(|l| l["kind"] == "merge"));
    // Within a key, lines come in sequence order.
    for w in lines.windows(2) {
        if w[0]["cf"] == w[1]["cf"] && w[0]["key"] == w[1]["key"] {
            assert!(
                w[0]["seq"].as_u64() < w[1]["seq"].as_u64(),
                "{} {}",
                w[0],
                w[1]
            );
            assert_eq!(w[1]["kind"], "merge");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--view".as_ref(),
        "all".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let all: Vec<Value> = std::fs::read(out.join("records.jsonl"))
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let kinds: BTreeSet<&str> = all.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    for k in ["put", "delete", "merge", "single_delete", "range_delete"] {
        assert!(kinds.contains(k), "no {k} line in the all view: {kinds:?}");
    }
    for l in all.iter().filter(|l| l["kind"] == "range_delete") {
        assert!(
            field(l, "end_key").is_some() && field(l, "value").is_none(),
            "{l}"
        );
    }
    // The dropped family's writes are history: never in the latest view.
    assert!(!lines.iter().any(|l| l["cf"] == "scratch"));
}

#[test]
fn a_rebuild_of_a_rocksdb_store_is_refused_with_the_export_complete() {
    let (db, _) = store("cf-ops-xxh3-lz4");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--rebuild".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("RocksDB store is not supported"), "{err}");
    assert!(out.join("records.jsonl").is_file());
    assert!(!out.join("db").exists());
}

/// The damaged stores: copies of cf-ops-crc32c-snappy (RocksDB 7.8.3,
/// format_version 5), of rd-fv6-xxh3-lz4 (RocksDB 9.8.4, format_version 6,
/// XXH3 with per-file context checksums) and of rd-fv6-recycle-crc32c-zstd
/// (a reused WAL with 11-byte recyclable headers), each with one change.
const DAMAGED: [&str; 11] = [
    "wal-torn",
    "wal-garbled",
    "table-bitflip",
    "table-footer-torn",
    "table-cut70",
    "fv6-table-bitflip",
    "fv6-table-footer-torn",
    "fv6-table-cut70",
    "recycle-wal-torn",
    "recycle-wal-garbled",
    "walz-wal-garbled",
];

/// Each damaged store: the unit located with its class, its writes or keys
/// reported lost, the rest recovered as RocksDB read the undamaged store.
#[test]
fn damaged_stores_lose_exactly_the_damaged_units() {
    for name in DAMAGED {
        let (db, t) = store(name);
        let (_, healthy) = store(t["damaged_from"].as_str().unwrap());
        let whole = truth_view(&healthy);
        let before = snapshot(&db);
        let d = &t["damage"];
        let file = d["file"].as_str().unwrap();
        let at = d["offset"].as_u64().unwrap();
        // The column family whose keys a damaged table loses.
        let table_cf = d["table"]["cf"].as_str().unwrap_or("");
        let (r, c) = scan(&db);
        assert_eq!(c, 1, "{name}: damage found is exit 1");
        let found = damage(&r);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        let (f, off, len, class) = &found[0];
        assert_eq!(f, file, "{name}");
        // The damaged unit holds the changed byte, or, for a cut, ends
        // where the file now ends.
        let size = std::fs::metadata(db.join(file)).unwrap().len();
        assert!(
            (*off <= at && at < off + len) || (at >= size && off + len == size),
            "{name}: damage {off}+{len} does not cover {at}"
        );
        let (view, lines, rep, c) = latest(&db);
        assert_eq!(c, 1, "{name}: salvage of a damaged store is exit 1");
        let truth_lost: BTreeSet<Vec<u8>> = d["expected_lost_keys"]
            .as_array()
            .map(|a| a.iter().map(|k| hex(k.as_str().unwrap())).collect())
            .unwrap_or_default();
        // Lost keys whose value in the store came from the damaged table
        // (not shadowed by newer data): gone from the view, or older.
        let visible_lost: BTreeSet<Vec<u8>> = d["expected_lost_visible_keys"]
            .as_array()
            .map(|a| a.iter().map(|k| hex(k.as_str().unwrap())).collect())
            .unwrap_or_default();
        let lost_keys: BTreeSet<Vec<u8>> = match d["kind"].as_str().unwrap() {
            "bitflip" => {
                assert_eq!(class, d["expected_class"].as_str().unwrap(), "{name}");
                assert_eq!(class, "garbled", "{name}");
                // The table's properties count its entries: the damaged
                // block lost the difference, the keys RocksDB lost.
                let lost = r["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["name"] == file)
                    .unwrap()["damage"][0]["lost_entries"]
                    .clone();
                assert_eq!(lost, truth_lost.len(), "{name}");
                truth_lost
            }
            // The footer is torn and the table otherwise whole: every
            // block is found by its checksum (for format_version 6, under
            // the per-file base solved from the first block), nothing is
            // lost (RocksDB itself cannot open the table).
            "truncate" if file.ends_with(".sst") => {
                assert_eq!(class, d["expected_class"].as_str().unwrap(), "{name}");
                assert_eq!(class, "torn", "{name}");
                let kept = size * 100 / d["original_size"].as_u64().unwrap();
                if kept > 90 {
                    BTreeSet::new()
                } else {
                    // Cut at 70%: the keys of the blocks past the cut, up
                    // to the table's last key (as the MANIFEST has it).
                    let krs = rep["lost"]["key_ranges"].as_array().unwrap();
                    assert_eq!(krs.len(), 1, "{name}: {krs:?}");
                    let kr = &krs[0];
                    assert_eq!(kr["cf"], table_cf, "{name}: {kr}");
                    assert_eq!(kr["first_exclusive"], true, "{name}: {kr}");
                    let last = kr["last"].as_str().unwrap().as_bytes();
                    assert_eq!(
                        last,
                        hex(d["table"]["largest_key_hex"].as_str().unwrap()),
                        "{name}"
                    );
                    let first = kr["first"].as_str().unwrap().as_bytes();
                    assert!(truth_lost.contains(first), "{name}: {kr}");
                    let lost: BTreeSet<Vec<u8>> = truth_lost
                        .iter()
                        .filter(|k| k.as_slice() > first && k.as_slice() <= last)
                        .cloned()
                        .collect();
                    // Some blocks are past the cut, and most are before it.
                    assert!(
                        !lost.is_empty() && lost.len() * 2 < truth_lost.len(),
                        "{name}: {} of {} lost",
                        lost.len(),
                        truth_lost.len()
                    );
                    lost
                }
            }
            _ => {
                // A WAL. Where the MANIFEST records its synced size (4048
                // bytes for cf-ops' 000021.log), damage inside it is
                // corruption of data said to be durable, whatever it looks
                // like; otherwise the class is the damage's own.
                let walno: u64 = file.split('.').next().unwrap().parse().unwrap();
                let synced = healthy["manifest_wal_edits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|w| w["add"] == walno)
                    .and_then(|w| w["synced_size"].as_u64());
                let reason = r["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["name"] == file)
                    .unwrap()["damage"][0]["reason"]
                    .to_string();
                if synced.is_some_and(|s| at < s) {
                    assert_eq!(class, "garbled", "{name}");
                    assert!(reason.contains("told was durable"), "{name}: {reason}");
                } else {
                    assert_eq!(class, d["expected_class"].as_str().unwrap(), "{name}");
                    assert!(!reason.contains("told was durable"), "{name}: {reason}");
                }
                // The lost writes are exactly a sequence range.
                let want: BTreeSet<u64> = d["expected_lost_writes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w["seq"].as_u64().unwrap())
                    .collect();
                assert!(!want.is_empty(), "{name}");
                let ranges = rep["lost"]["sequence_ranges"].as_array().unwrap();
                assert_eq!(ranges.len(), 1, "{name}: {ranges:?}");
                let first = ranges[0]["first"].as_u64().unwrap();
                assert_eq!(Some(&first), want.iter().next(), "{name}");
                match ranges[0]["last"].as_u64() {
                    Some(last) => assert_eq!(Some(&last), want.iter().last(), "{name}"),
                    None => assert!(want.iter().all(|&s| s >= first), "{name}"),
                }
                BTreeSet::new()
            }
        };
        // Everything not lost is recovered as RocksDB had it; a lost key
        // is missing or holds an older value, never an invented one.
        for (cf, m) in &whole {
            for (k, v) in m {
                let got = view.get(cf).and_then(|g| g.get(k));
                if cf == table_cf && lost_keys.contains(k) && visible_lost.contains(k) {
                    assert_ne!(got, Some(v), "{name}: {cf}/{} should be lost", show(k));
                }
            }
        }
        let lines_keys: BTreeSet<(String, Vec<u8>)> = lines
            .iter()
            .map(|l| {
                (
                    l["cf"].as_str().unwrap().to_string(),
                    field(l, "key").unwrap(),
                )
            })
            .collect();
        for (cf, m) in &view {
            for (k, v) in m {
                let w = whole.get(cf).and_then(|g| g.get(k));
                if !(cf == table_cf && lost_keys.contains(k)) {
                    assert!(lines_keys.contains(&(cf.clone(), k.clone())));
                }
                // A WAL loss leaves older values where a newer write was
                // lost: allowed only for the lost writes' keys.
                if w != Some(v) && !d["kind"].as_str().unwrap().eq("bitflip") {
                    let lost: Vec<Vec<u8>> = d["expected_lost_writes"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|w| hex(w["key_hex"].as_str().unwrap()))
                                .collect()
                        })
                        .unwrap_or_default();
                    assert!(lost.contains(k), "{name}: {cf}/{} differs", show(k));
                }
            }
        }
        for (cf, m) in &whole {
            for (k, v) in m {
                let lost_here = (cf == table_cf && lost_keys.contains(k))
                    || d["expected_lost_writes"].as_array().is_some_and(|a| {
                        a.iter()
                            .any(|w| hex(w["key_hex"].as_str().unwrap()) == *k && w["cf"] == *cf)
                    });
                if !lost_here {
                    assert_eq!(
                        view.get(cf).and_then(|g| g.get(k)),
                        Some(v),
                        "{name}: {cf}/{} not recovered",
                        show(k)
                    );
                }
            }
        }
        assert!(
            snapshot_diff(&before, &snapshot(&db)).is_empty(),
            "{name} changed"
        );
    }
}

/// A store whose WALs live in another directory (RocksDB's `wal_dir`):
/// with `--wal-dir` they are read as the store's and the latest view is
/// whole; without it their writes are not there; an output inside the WAL
/// directory is refused like one inside the store.
#[test]
fn wal_dir_reads_logs_kept_apart() {
    let (src, t) = store("cf-ops-crc32c-snappy");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let wal = tmp.path().join("wal");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&wal).unwrap();
    let mut logs = 0;
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap();
        let to = if p.extension().is_some_and(|x| x == "log") {
            logs += 1;
            wal.join(name)
        } else {
            db.join(name)
        };
        std::fs::copy(&p, to).unwrap();
    }
    assert!(logs >= 2);
    let before = snapshot(tmp.path());
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--wal-dir".as_ref(),
        wal.as_os_str(),
        "--out".as_ref(),
        "-".as_ref(),
        "-q".as_ref(),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let mut got: View = View::new();
    let mut merged = 0;
    for l in o.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let l: Value = serde_json::from_slice(l).unwrap();
        let m = got
            .entry(l["cf"].as_str().unwrap().to_string())
            .or_default();
        let (k, v) = (field(&l, "key").unwrap(), field(&l, "value").unwrap());
        if l["kind"] == "merge" {
            merged += 1;
            let mut base = m.remove(&k).map(|mut b| {
                b.push(b',');
                b
            });
            let joined = match base.as_mut() {
                Some(b) => {
                    b.extend(v);
                    b.clone()
                }
                None => v,
            };
            m.insert(k, joined);
        } else {
            m.insert(k, v);
        }
        assert!(
            l["file"].as_str().unwrap().ends_with(".sst")
                || l["file"].as_str().unwrap().starts_with("wal/"),
            "{l}"
        );
    }
    assert!(merged > 0);
    assert_eq!(got, truth_view(&t));
    // Without it, the logs' writes are missing.
    let (without, _, _, _) = latest(&db);
    assert_ne!(without, truth_view(&t));
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--wal-dir".as_ref(),
        wal.as_os_str(),
        "--out".as_ref(),
        wal.join("out").as_os_str(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("never written to"));
    assert!(snapshot_diff(&before, &snapshot(tmp.path())).is_empty());
}

/// A Pebble store (CockroachDB's engine: RocksDB's file names, its own
/// MANIFEST tags and table formats) is recognised from its OPTIONS file's
/// `pebble_version` and not read: exit 2, said so, nothing called damaged.
/// No Pebble writer is at hand here (Go's Pebble is not packaged), so the
/// store is a RocksDB fixture whose OPTIONS files say what Pebble's do
/// (`[Version]` / `pebble_version=0.1`, as Pebble writes them).
#[test]
fn a_pebble_store_is_recognised_not_read() {
    let (src, _) = store("cf-ops-crc32c-snappy");
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let to = db.join(p.file_name().unwrap());
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("OPTIONS-")
        {
            std::fs::write(
                &to,
                "[Version]\n  pebble_version=0.1\n\n[Options]\n  bytes_per_sync=524288\n",
            )
            .unwrap();
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
    let (r, c) = scan(&db);
    assert_eq!(c, 2, "{r}");
    assert_eq!(r["store"]["dialect"]["name"], "pebble");
    assert_eq!(r["store"]["dialect"]["supported"], false);
    assert!(r["store"]["dialect"]["evidence"]
        .to_string()
        .contains("pebble_version=0.1"));
    assert!(damage(&r).is_empty());
    let o = run(["scan".as_ref(), db.as_os_str()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("a Pebble store"));
}

/// The latest view of a RocksDB store reads its tables again a block at a
/// time, as LevelDB's: 64 MiB of incompressible values in 4 MiB tables,
/// written by RocksDB 9.8.4 (rocksdict), a quarter of the keys written
/// twice and a range deletion over a thousand of them, come out within
/// 48 MiB of peak RSS (measured from outside by GNU time) where holding
/// the latest entries would take more than 64 MiB; and the view is the
/// one RocksDB's own iterator gives.
#[test]
fn the_latest_view_of_a_larger_store_is_streamed_from_its_tables() {
    let Some(py) = tools::require_rocksdict_python() else {
        return;
    };
    let time = Path::new("/usr/bin/time");
    if tools::require("GNU time", time.exists().then_some(())).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let truth = tmp.path().join("truth.tsv");
    let gen = format!(
        r#"
import os, random
from rocksdict import Rdict, Options, DBCompressionType
o = Options(raw_mode=True)
o.create_if_missing(True)
o.set_write_buffer_size(4 << 20)
o.set_target_file_size_base(4 << 20)
o.set_compression_type(DBCompressionType.none())
db = Rdict({db:?}, o)
rng = random.Random(7)
n = 65536
for i in range(n):
    db[b'k%08d' % i] = rng.randbytes(1024)
for i in range(0, n, 4):
    db[b'k%08d' % i] = rng.randbytes(1024)
db.delete_range(b'k00001000', b'k00002000')
db.flush()
db.close()
db = Rdict({db:?}, Options(raw_mode=True))
with open({truth:?}, 'w') as f:
    for k, v in db.items():
        f.write(k.hex() + '\t' + v.hex() + '\n')
db.close()
"#,
        db = db.display().to_string(),
        truth = truth.display().to_string()
    );
    let o = std::process::Command::new(&py)
        .args(["-c", &gen])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tables = std::fs::read_dir(&db)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("sst".as_ref()))
        .count();
    assert!(tables >= 8, "{tables} tables");
    let out = tmp.path().join("out");
    let (c, kib, err) = run_measured(
        time,
        &[
            "salvage",
            db.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        &[],
    );
    assert_eq!(c, EXIT_OK, "{}", String::from_utf8_lossy(&err));
    assert!(kib < 48 * 1024, "peak RSS {kib} KiB");
    let want: BTreeMap<String, String> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    assert_eq!(want.len(), 65536 - 1000);
    let hexs = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let lines = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let got: BTreeMap<String, String> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            (
                hexs(field(&l, "key").unwrap()),
                hexs(field(&l, "value").unwrap()),
            )
        })
        .collect();
    assert!(
        got == want,
        "{} keys against RocksDB's {}",
        got.len(),
        want.len()
    );
}

/// A WAL written with `wal_compression=zstd` over tables compressed with
/// bzip2 (walz-zstd-bzip2; the latest view against RocksDB's is in
/// `healthy_stores_read_as_rocksdb_reads_them`): every record of the
/// compressed WAL is read, the one spread over three fragments included,
/// and in the damaged copy the record that verifies but does not
/// decompress is the one damaged unit, said so, with its one write lost
/// and every record after it read (RocksDB's own recovery stops there).
#[test]
fn a_zstd_compressed_wal_is_read_record_by_record() {
    let (db, t) = store("walz-zstd-bzip2");
    let wal = &t["wals"][0];
    let file = wal["file"].as_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--view".as_ref(),
        "all".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let all: Vec<Value> = std::fs::read(out.join("records.jsonl"))
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    // The WAL's writes, each one record: as many as the generator counted
    // (decompressing with the zstd tool).
    let from_wal = all
        .iter()
        .filter(|l| l["file"].as_str() == Some(file))
        .count();
    assert_eq!(from_wal as u64, wal["writes"].as_u64().unwrap(), "{file}");
    let big: Vec<usize> = all
        .iter()
        .filter(|l| field(l, "key").as_deref() == Some(&b"big"[..]))
        .map(|l| field(l, "value").unwrap_or_default().len())
        .collect();
    assert_eq!(big, vec![33000, 28], "the 33 KB value, then its overwrite");
    // Both table files were read (bzip2 blocks): no file-level error.
    let (r, c) = scan(&db);
    assert_eq!(c, 0);
    let tables: Vec<&Value> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"].as_str().unwrap().ends_with(".sst"))
        .collect();
    assert_eq!(tables.len(), 2);
    assert!(
        tables.iter().all(|f| f.get("error").is_none()),
        "{tables:?}"
    );

    let (bad, bt) = store("walz-wal-garbled");
    let d = &bt["damage"];
    let before = snapshot(&bad);
    let (r, c) = scan(&bad);
    assert_eq!(c, 1);
    let f = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == file)
        .unwrap();
    let dmg = f["damage"].as_array().unwrap();
    assert_eq!(dmg.len(), 1, "{dmg:?}");
    let range = (
        d["record_range"][0].as_u64().unwrap(),
        d["record_range"][1].as_u64().unwrap(),
    );
    let got = (
        dmg[0]["offset"].as_u64().unwrap(),
        dmg[0]["offset"].as_u64().unwrap() + dmg[0]["length"].as_u64().unwrap(),
    );
    assert_eq!(got, range, "exactly the garbled record");
    assert_eq!(dmg[0]["class"], "garbled");
    let reason = dmg[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("checksums verify") && reason.contains("does not decompress"),
        "{reason}"
    );
    assert_eq!(dmg[0]["lost_entries"], 1);
    // Every record after it read: the records counted intact are all but it.
    let records = &f["records"];
    assert_eq!(
        records["intact"].as_u64().unwrap(),
        wal["records"].as_u64().unwrap() - 1,
        "{records}"
    );
    assert!(d["intact_records_after"].as_u64().unwrap() > 10);
    assert!(snapshot_diff(&before, &snapshot(&bad)).is_empty());
}
