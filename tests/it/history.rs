//! History never becomes state: stores written by C++ LevelDB that hold a
//! table the store itself had deleted, or made obsolete, or never named
//! (testdata/history, made by testdata/gen/make_history.py, with what
//! LevelDB itself returns in truth.json). And one story: `scan` and
//! `salvage` report the same files, states, damage, lost ranges, requeue
//! list and exit code on every fixture.

use crate::common;

use common::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

fn history_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/history")
}

fn truth(name: &str) -> Value {
    read_json(&history_dir().join(name).join("truth.json"))
}

/// A history fixture's store, copied so that nothing can write to the
/// repository's copy.
fn copy_history(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).unwrap();
    for e in std::fs::read_dir(history_dir().join(name).join("db")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), db.join(e.file_name())).unwrap();
    }
    (tmp, db)
}

struct Salvage {
    code: i32,
    lines: Vec<Value>,
    report: Value,
    _out: tempfile::TempDir,
}

fn salvage(db: &Path, extra: &[&str]) -> Salvage {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("o");
    let mut args: Vec<&OsStr> = vec!["salvage".as_ref(), "--quiet".as_ref(), "--out".as_ref()];
    args.push(o.as_os_str());
    args.extend(extra.iter().map(|a| OsStr::new(*a)));
    args.push(db.as_os_str());
    let r = run(&args);
    let code = code(&r);
    assert!(code <= 1, "{}", describe(&args, &r));
    let lines = std::fs::read_to_string(o.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Salvage {
        code,
        lines,
        report: read_json(&o.join("report.json")),
        _out: out,
    }
}

fn scan_report(db: &Path) -> (i32, Value) {
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    (code(&o), serde_json::from_slice(&o.stdout).unwrap())
}

fn pairs(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["key"].as_str().unwrap().to_string(),
                l["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn truth_pairs(t: &Value) -> Vec<(String, String)> {
    t["latest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn file_state(report: &Value, name: &str) -> String {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the report"))["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Deleted and obsolete tables are history: the latest view is exactly
/// what LevelDB returns, the rebuilt store holds no deleted key, and the
/// all view still has the history's entries, marked with its state.
#[test]
fn history_tables_stay_out_of_the_latest_view_and_the_rebuild() {
    for name in ["deleted", "obsolete", "goleveldb-deleted"] {
        let t = truth(name);
        let state = t["state"].as_str().unwrap();
        let (_tmp, db) = copy_history(name);
        let before = snapshot(&db);
        let files: Vec<&str> = t["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(!files.is_empty());
        let s = salvage(&db, &[]);
        assert_eq!(s.code, EXIT_OK, "{name}: a healthy store");
        for f in &files {
            assert_eq!(file_state(&s.report, f), state, "{name}: {f}");
        }
        assert_eq!(pairs(&s.lines), truth_pairs(&t), "{name}: latest view");
        assert!(s.lines.iter().all(|l| l.get("from_orphan").is_none()));

        // The all view keeps history, marked; nothing else is marked.
        let all = salvage(&db, &["--view", "all"]);
        let is_history = |l: &&Value| files.iter().any(|f| l["file"] == *f);
        let marked: Vec<&Value> = all.lines.iter().filter(is_history).collect();
        let held: u64 = all.report["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| files.iter().any(|n| f["name"] == *n))
            .map(|f| f["entries"].as_u64().unwrap())
            .sum();
        assert!(held > 0);
        assert_eq!(marked.len() as u64, held, "{name}");
        assert!(marked.iter().all(|l| l["state"] == state), "{name}");
        assert!(all
            .lines
            .iter()
            .filter(|l| !is_history(l))
            .all(|l| l.get("state").is_none()));

        let rb = salvage(&db, &["--rebuild"]);
        let again = salvage(&rb._out.path().join("o/db"), &[]);
        assert_eq!(
            pairs(&again.lines),
            truth_pairs(&t),
            "{name}: rebuilt store"
        );
        let deleted: Vec<&str> = t["deleted_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert!(again
            .lines
            .iter()
            .all(|l| !deleted.contains(&l["key"].as_str().unwrap())));
        assert!(snapshot_diff(&before, &snapshot(&db)).is_empty());
    }
}

/// A table no edit named fills in only keys no live file holds, each
/// flagged; keys the live table holds keep its value.
#[test]
fn an_orphan_only_fills_in_and_is_flagged() {
    let t = truth("orphan");
    let (_tmp, db) = copy_history("orphan");
    let s = salvage(&db, &[]);
    assert_eq!(s.code, EXIT_OK);
    assert_eq!(file_state(&s.report, "000050.ldb"), "orphan");
    let live = truth_pairs(&t);
    let (from_orphan, rest): (Vec<&Value>, Vec<&Value>) = s
        .lines
        .iter()
        .partition(|l| l.get("from_orphan") == Some(&Value::Bool(true)));
    assert_eq!(
        pairs(&rest.into_iter().cloned().collect::<Vec<_>>()),
        live,
        "every key a live file holds keeps its live value"
    );
    let filled: Vec<String> = from_orphan
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_string())
        .collect();
    let deleted: Vec<String> = t["deleted_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        filled, deleted,
        "only keys no live file holds are filled in"
    );
    assert!(from_orphan.iter().all(|l| l["file"] == "000050.ldb"));
}

/// Damage in the live table: its keys are lost and reported, and a deleted
/// table never stands in for them.
#[test]
fn history_does_not_fill_in_for_a_damaged_live_table() {
    let t = truth("deleted");
    let (_tmp, db) = copy_history("deleted");
    let live = db.join("000009.ldb");
    let mut b = std::fs::read(&live).unwrap();
    b[20] ^= 0x40;
    std::fs::write(&live, &b).unwrap();
    let s = salvage(&db, &[]);
    assert_eq!(s.code, EXIT_DAMAGE);
    let file = t["files"][0].as_str().unwrap();
    assert!(s.lines.iter().all(|l| l["file"] != file), "{:?}", s.lines);
    let requeue = s.report["requeue"].as_array().unwrap();
    assert!(
        requeue
            .iter()
            .any(|q| q["type"] == "key_range" && q["file"] == "000009.ldb"),
        "{requeue:?}"
    );
    assert!(requeue.iter().all(|q| q["file"] != file));
    let (code, scan) = scan_report(&db);
    assert_eq!(code, s.code);
    assert_eq!(scan["requeue"], s.report["requeue"]);
}

/// The parts of a report both commands must agree on.
fn story(r: &Value) -> Value {
    let mut files = r["files"].clone();
    for f in files.as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("path");
    }
    serde_json::json!({
        "files": files,
        "store": r["store"],
        "lost": r["lost"],
        "requeue": r["requeue"],
        "summary": r["summary"],
    })
}

fn assert_one_story(db: &Path, what: &str) {
    let (scan_code, scan) = scan_report(db);
    for view in ["latest", "all"] {
        let s = salvage(db, &["--view", view]);
        assert_eq!(scan_code, s.code, "{what}: exit codes differ");
        assert_eq!(
            story(&scan),
            story(&s.report),
            "{what}: scan and salvage --view {view} tell different stories"
        );
    }
}

#[test]
fn scan_and_salvage_tell_one_story_on_every_fixture() {
    let mut n = 0;
    for name in fixture_names() {
        let (_tmp, db) = copy_fixture_db(&name);
        assert_one_story(&db, &name);
        n += 1;
    }
    for name in ["deleted", "obsolete", "orphan", "goleveldb-deleted"] {
        let (_tmp, db) = copy_history(name);
        assert_one_story(&db, name);
        n += 1;
    }
    assert!(n >= 20, "only {n} stores");
}

/// The case that once split the story: a store whose log was replaced by a
/// FIFO under another log's name.
#[test]
fn scan_and_salvage_agree_on_a_fifo_log() {
    let (_tmp, db) = copy_fixture_db("stale-resurrect");
    std::fs::remove_file(db.join("000004.log")).unwrap();
    let fifo = db.join("000001.log");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    assert_one_story(&db, "FIFO log");
    let (_, scan) = scan_report(&db);
    // LevelDB's log number is 4: a log numbered 1 was flushed long ago.
    let f = scan["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "000001.log")
        .unwrap()
        .clone();
    assert_eq!(f["state"], "obsolete", "{f}");
    assert!(scan["lost"]["sequence_ranges"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// A RocksDB store (written by RocksDB itself: testdata/rocksdb, made by
/// testdata/gen/make_rocksdb.py) is read as RocksDB: the dialect with its
/// evidence, no damage, loss or requeue item, and its latest view is what
/// the writer wrote (tests/it/rocksdb_read.rs checks the stores with ground
/// truth from RocksDB's own iterator).
#[test]
fn a_rocksdb_store_is_read_as_rocksdb_not_called_damaged() {
    let db = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rocksdb/healthy/db");
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    assert_eq!(code(&o), 0);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &r["store"]["dialect"];
    assert_eq!(d["name"], "rocksdb", "{d}");
    assert_eq!(d["supported"], true);
    let evidence = d["evidence"].to_string();
    assert!(
        evidence.contains("OPTIONS-") && evidence.contains("0x88e241b785f4cff7"),
        "{evidence}"
    );
    assert_eq!(r["summary"]["damaged_files"], 0);
    assert!(r["files"].as_array().unwrap().iter().all(|f| f["damage"]
        .as_array()
        .unwrap()
        .is_empty()
        && f.get("error").is_none()));
    assert_eq!(r["lost"]["sequence_ranges"], serde_json::json!([]));
    assert_eq!(r["lost"]["key_ranges"], serde_json::json!([]));
    assert_eq!(r["requeue"], serde_json::json!([]));
    // make_rocksdb.py: key0000..key0199 = "value N", then key0150..key0259
    // = "newer value N", then key0007 deleted; rocksdict (not in raw mode)
    // stores bytes with a leading type byte 0x01.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run([
        "salvage".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        db.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let got: Vec<(String, String)> = std::fs::read_to_string(out.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            assert_eq!(l["cf"], "default", "{l}");
            (
                l["key"].as_str().unwrap().to_string(),
                l["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = (0..260)
        .filter(|&i| i != 7)
        .map(|i| {
            let v = if i >= 150 {
                format!("newer value {i}")
            } else {
                format!("value {i}")
            };
            (format!("\u{1}key{i:04}"), format!("\u{1}{v}"))
        })
        .collect();
    assert_eq!(got, want);
    // Every LevelDB store says which dialect it is, and why: this one was
    // written by goleveldb, and its MANIFEST says so.
    let (_tmp, db) = copy_history("goleveldb-deleted");
    let (_, r) = scan_report(&db);
    assert_eq!(r["store"]["dialect"]["name"], "goleveldb");
    assert_eq!(r["store"]["dialect"]["supported"], true);
}

/// The requeue list is the whole answer: every key whose exported value
/// may be stale (`suspect_newer`) and every key of an unverified entry is
/// a `key` item, once per file, and nothing else is.
#[test]
fn the_requeue_list_names_every_key_that_may_be_stale() {
    let (_tmp, db) = copy_fixture_db("stale-resurrect");
    let s = salvage(&db, &[]);
    let requeue = s.report["requeue"].as_array().unwrap();
    let keys: Vec<&str> = requeue
        .iter()
        .filter(|q| q["type"] == "key")
        .map(|q| q["key"].as_str().unwrap())
        .collect();
    let suspect: Vec<&str> = s
        .lines
        .iter()
        .filter(|l| l.get("suspect_newer").is_some())
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert!(!suspect.is_empty());
    for k in &suspect {
        assert!(keys.contains(k), "suspect_newer {k} is not in requeue");
    }
    let out = s._out.path().join("o/unverified.jsonl");
    let mut unverified: Vec<String> = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["key"].as_str().unwrap().to_string()
        })
        .collect();
    unverified.sort();
    unverified.dedup();
    let mut named: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    named.sort();
    assert_eq!(
        named, unverified,
        "key items are exactly the unverified keys"
    );
    // A history file's damaged entries were superseded: no key items.
    let (_tmp, db) = copy_history("deleted");
    let t = db.join("000005.ldb");
    let mut b = std::fs::read(&t).unwrap();
    b[30] ^= 0x10;
    std::fs::write(&t, &b).unwrap();
    let s = salvage(&db, &[]);
    let t1 = s.report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "000005.ldb")
        .unwrap();
    assert!(!t1["damage"].as_array().unwrap().is_empty(), "{t1}");
    assert!(t1["unverified_entries"].as_u64().unwrap() > 0, "{t1}");
    assert_eq!(s.report["requeue"], serde_json::json!([]));
}

/// Several stores in one run (a fleet's shards copied to one host): every
/// reference to a file names its store, the summary shows which store each
/// damaged file is in, and the exit status is the worst of them.
#[test]
fn several_stores_in_one_run_are_told_apart() {
    let (_a, a) = copy_fixture_db("log-bad-crc");
    let (_b, b) = copy_fixture_db("log-healthy");
    let o = run([
        "scan".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    assert_eq!(
        code(&o),
        EXIT_DAMAGE,
        "the worst of a damaged and a healthy store"
    );
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(r.get("store").is_none());
    let stores: Vec<&str> = r["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(stores, [a.to_str().unwrap(), b.to_str().unwrap()]);
    for f in r["files"].as_array().unwrap() {
        let st = f["store"].as_str().unwrap();
        assert!(f["path"].as_str().unwrap().starts_with(st), "{f}");
    }
    let refs = r["lost"]["sequence_ranges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(r["requeue"].as_array().unwrap());
    let mut n = 0;
    for x in refs {
        assert_eq!(
            x["store"],
            a.to_str().unwrap(),
            "only the damaged store lost: {x}"
        );
        n += 1;
    }
    assert!(n > 0);
    // The summary says which store each damaged file is in.
    let o = run([a.as_os_str(), b.as_os_str()].iter().fold(
        vec![std::ffi::OsStr::new("scan")],
        |mut v, p| {
            v.push(p);
            v
        },
    ));
    let text = String::from_utf8_lossy(&o.stdout);
    let damaged = format!("{}/000003.log", a.display());
    assert!(text.contains(&format!("  {damaged}  garbled")), "{text}");
}
