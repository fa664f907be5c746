//! Lost writes dated as wall-clock windows, on stores C++ LevelDB wrote at
//! known times (testdata/timed, made by testdata/gen/make_timed.py): every
//! lost write's recorded time lies inside its requeue item's window, the
//! window is no wider than the damaged log's lifetime, and a store without
//! its LOG files, read in the wrong zone, or copied without its mtimes still
//! gets a window that holds the truth, with evidence saying why.

use crate::common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const STORES: [&str; 2] = ["compacted", "reopened"];

fn timed_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/timed")
        .join(name)
}

fn times(name: &str) -> Value {
    read_json(&timed_dir(name).join("times.json"))
}

/// A copy of a timed store with the mtimes it had when written (git keeps
/// none: `cp -a` from the crashed host would have).
fn copy_with_mtimes(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let t = times(name);
    for (file, ns) in t["mtimes_ns"].as_object().unwrap() {
        let to = db.join(file);
        std::fs::copy(timed_dir(name).join("db").join(file), &to).unwrap();
        let ns = ns.as_u64().unwrap();
        let when = UNIX_EPOCH + Duration::from_nanos(ns);
        std::fs::File::options()
            .write(true)
            .open(&to)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    (tmp, db)
}

fn set_all_mtimes(db: &Path, when: SystemTime) {
    for e in std::fs::read_dir(db).unwrap() {
        let p = e.unwrap().path();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

fn scan(db: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<String> = vec!["scan".into(), db.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--report".into(), "-".into()]);
    let o = run(&args);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// RFC 3339 UTC with microseconds, as the report writes it, in ns.
fn ns(s: &str) -> i128 {
    // YYYY-MM-DDTHH:MM:SS.ffffffZ
    assert_eq!(s.len(), 27, "{s}");
    assert!(s.ends_with('Z'), "{s}");
    let n = |a: usize, b: usize| -> i64 { s[a..b].parse().unwrap() };
    let (y, mo, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (h, mi, sec, us) = (n(11, 13), n(14, 16), n(17, 19), n(20, 26));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + sec;
    i128::from(secs) * 1_000_000_000 + i128::from(us) * 1000
}

/// The sequence_range items of a report.
fn seq_items(r: &Value) -> Vec<Value> {
    r["requeue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["type"] == "sequence_range")
        .cloned()
        .collect()
}

/// Every lost write of every sequence_range item lies in its window (a
/// null bound is unbounded). Returns how many writes were checked.
fn check_truth_inside(name: &str, r: &Value) -> usize {
    let t = times(name);
    let items = seq_items(r);
    assert_eq!(
        items.len(),
        2,
        "a garbled record and a torn tail: {items:?}"
    );
    let mut checked = 0;
    for q in &items {
        assert_eq!(q["file"], t["newest_log"], "{q}");
        let time = &q["time"];
        for k in ["from_evidence", "to_evidence"] {
            assert!(!time[k].as_str().unwrap().is_empty(), "{q}");
        }
        let first = q["first"].as_u64().unwrap();
        let last = q["last"].as_u64();
        for w in t["writes"].as_array().unwrap() {
            let seq = w["seq"].as_u64().unwrap();
            if seq < first || last.is_some_and(|l| seq > l) {
                continue;
            }
            // The write happened at some instant of its put() call: it
            // reached the file system no earlier than `before`, and no
            // later than the log's mtime, which is what `to` may be.
            let before = i128::from(w["before_ns"].as_u64().unwrap());
            if let Some(from) = time["from"].as_str() {
                assert!(
                    ns(from) <= before,
                    "{name}: write {w} before its window {q}"
                );
            }
            if let Some(to) = time["to"].as_str() {
                assert!(before <= ns(to), "{name}: write {w} after its window {q}");
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_lost_write_lies_in_its_window_no_wider_than_the_log_lived() {
    for name in STORES {
        let (_tmp, db) = copy_with_mtimes(name);
        let t = times(name);
        let r = scan(&db, &["--log-timezone", t["zone"].as_str().unwrap()]);
        let checked = check_truth_inside(name, &r);
        assert!(checked >= 5, "{name}: {checked} lost writes checked");
        let created_after = i128::from(t["created_after_ns"].as_u64().unwrap());
        let mtime = i128::from(
            t["mtimes_ns"][t["newest_log"].as_str().unwrap()]
                .as_u64()
                .unwrap(),
        );
        for q in seq_items(&r) {
            let time = &q["time"];
            let from = ns(time["from"].as_str().expect("the LOG dates the start"));
            let to = ns(time["to"].as_str().expect("the mtime dates the end"));
            // No wider than the log's lifetime: from its creation (after
            // the call that made it began) to its last write (its mtime,
            // which may lag the write by a clock tick: up to 10 ms).
            assert!(from >= created_after, "{name}: {q}");
            assert!(to <= mtime + 10_000_000 + 1000, "{name}: {q}");
            let fe = time["from_evidence"].as_str().unwrap();
            assert!(fe.contains("LOG line"), "{fe}");
            assert!(fe.contains("Asia/Kolkata (--log-timezone)"), "{fe}");
            let te = time["to_evidence"].as_str().unwrap();
            assert!(te.contains("mtime of"), "{te}");
            if q["last"].is_null() {
                assert!(te.contains("cannot be dated"), "{te}");
            }
        }
        // lost.sequence_ranges carries the same windows.
        let lost: Vec<&Value> = r["lost"]["sequence_ranges"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        let items = seq_items(&r);
        assert_eq!(lost.len(), items.len());
        for (l, q) in lost.iter().zip(&items) {
            assert_eq!(l["time"], q["time"]);
        }
    }
}

#[test]
fn salvage_reports_the_same_windows_as_scan() {
    let name = "compacted";
    let (tmp, db) = copy_with_mtimes(name);
    let zone = times(name)["zone"].as_str().unwrap().to_string();
    let r = scan(&db, &["--log-timezone", &zone]);
    let out = tmp.path().join("out");
    let args: Vec<String> = vec![
        "salvage".into(),
        db.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--log-timezone".into(),
        zone,
        "--quiet".into(),
    ];
    let o = run(&args);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    let s = read_json(&out.join("report.json"));
    assert_eq!(s["requeue"], r["requeue"]);
    assert_eq!(s["lost"]["sequence_ranges"], r["lost"]["sequence_ranges"]);
}

#[test]
fn without_log_files_the_mtime_still_bounds_the_truth() {
    for name in STORES {
        let (_tmp, db) = copy_with_mtimes(name);
        std::fs::remove_file(db.join("LOG")).unwrap();
        std::fs::remove_file(db.join("LOG.old")).unwrap();
        let r = scan(&db, &[]);
        check_truth_inside(name, &r);
        for q in seq_items(&r) {
            let time = &q["time"];
            // LevelDB deleted the older logs: nothing dates the start.
            assert!(time["from"].is_null(), "{q}");
            assert!(
                time["from_evidence"]
                    .as_str()
                    .unwrap()
                    .contains("nothing dates the start"),
                "{q}"
            );
            assert!(time["to"].is_string(), "{q}");
            assert!(
                !time["to_evidence"].as_str().unwrap().contains("LOG"),
                "{q}"
            );
        }
    }
}

#[test]
fn a_wrong_zone_is_noticed_and_claims_no_false_start() {
    // Asia/Kolkata is UTC+05:30: read as UTC, the LOG's lines land 5.5 h
    // after the files' mtimes.
    for name in STORES {
        let (_tmp, db) = copy_with_mtimes(name);
        let r = scan(&db, &["--log-timezone", "UTC"]);
        check_truth_inside(name, &r);
        for q in seq_items(&r) {
            let fe = q["time"]["from_evidence"].as_str().unwrap();
            assert!(fe.contains("wrong zone"), "{fe}");
            assert!(fe.contains("quarter hours"), "{fe}");
        }
    }
}

#[test]
fn a_copy_that_lost_its_mtimes_is_said_so() {
    for name in STORES {
        let (_tmp, db) = copy_with_mtimes(name);
        // As `cp -r` or an archive without times would leave it: every
        // file with the copy's time.
        set_all_mtimes(&db, SystemTime::now());
        let t = times(name);
        let r = scan(&db, &["--log-timezone", t["zone"].as_str().unwrap()]);
        check_truth_inside(name, &r);
        for q in seq_items(&r) {
            let time = &q["time"];
            let te = time["to_evidence"].as_str().unwrap();
            assert!(te.contains("same mtime"), "{te}");
            assert!(te.contains("upper bound only"), "{te}");
            // The LOG still dates the start.
            assert!(time["from"].is_string(), "{q}");
        }
    }
}

#[test]
fn the_summary_shows_each_window() {
    let (_tmp, db) = copy_with_mtimes("compacted");
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--log-timezone".as_ref(),
        "Asia/Kolkata".as_ref(),
    ]);
    let out = String::from_utf8(o.stdout).unwrap();
    let r = scan(&db, &["--log-timezone", "Asia/Kolkata"]);
    for q in seq_items(&r) {
        let want = format!(
            "    written between {} and {}\n",
            q["time"]["from"].as_str().unwrap(),
            q["time"]["to"].as_str().unwrap()
        );
        assert!(out.contains(&want), "{want}\n{out}");
    }
}

#[test]
fn an_unknown_zone_is_a_usage_error() {
    let (_tmp, db) = copy_with_mtimes("compacted");
    for cmd in ["scan", "salvage"] {
        let mut args: Vec<String> = vec![cmd.into(), db.display().to_string()];
        if cmd == "salvage" {
            args.extend(["--out".into(), "-".into()]);
        }
        args.extend(["--log-timezone".into(), "Mars/Olympus".into()]);
        let o = run(&args);
        assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&args, &o));
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(err.contains("--log-timezone Mars/Olympus"), "{err}");
    }
}

#[test]
fn rfc3339_helper_agrees_with_the_epoch() {
    assert_eq!(ns("1970-01-01T00:00:00.000001Z"), 1000);
    assert_eq!(ns("2026-12-02T07:18:48.869186Z"), 1_796_195_928_869_186_000);
}

/// A RocksDB store's LOG dates its WALs too, in the zone its own
/// `EVENT_LOG_v1` lines prove: RocksDB 9.8.4 (rocksdict) writes a store
/// on a machine in Asia/Kolkata, flushes (its LOG says it began writing to
/// a new WAL), writes 200 more keys at recorded times and crashes; the WAL
/// is then cut in half. Read here in UTC with no `--log-timezone`, every
/// lost write lies in its window, whose start is that LOG line read at
/// +05:30: read in UTC it would be five and a half hours late.
#[test]
fn a_rocksdb_log_dates_its_wals_in_the_zone_its_event_lines_prove() {
    let Some(py) = common::tools::require_rocksdict_python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let times = tmp.path().join("times.json");
    let gen = format!(
        r#"
import json, os, time
from rocksdict import Rdict, Options
o = Options(raw_mode=True)
o.create_if_missing(True)
db = Rdict({db:?}, o)
for i in range(50):
    db[b'a%04d' % i] = b'x' * 100
flush_before = time.time_ns()
db.flush()
writes = []
for i in range(200):
    writes.append({{"seq": 51 + i, "before_ns": time.time_ns()}})
    db[b'b%04d' % i] = b'y' * 200
    time.sleep(0.001)
with open({times:?}, 'w') as f:
    json.dump({{"flush_before_ns": flush_before, "writes": writes}}, f)
# A crash: a close would flush the memtable and empty the WAL.
os._exit(0)
"#,
        db = db.display().to_string(),
        times = times.display().to_string()
    );
    let o = std::process::Command::new(&py)
        .args(["-c", &gen])
        .env("TZ", "Asia/Kolkata")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = read_json(&times);
    let mut wals: Vec<PathBuf> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some("log".as_ref()))
        .collect();
    wals.sort();
    let wal = wals.last().unwrap().clone();
    let len = std::fs::metadata(&wal).unwrap().len();
    assert!(len > 40_000, "{len}");
    std::fs::File::options()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let args = ["scan", db.to_str().unwrap(), "--report", "-"];
    let o = std::process::Command::new(bin())
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let items = seq_items(&r);
    assert_eq!(items.len(), 1, "{items:?}");
    let q = &items[0];
    let wal_name = wal.file_name().unwrap().to_str().unwrap();
    assert_eq!(q["file"], wal_name, "{q}");
    let time = &q["time"];
    let from = ns(time["from"].as_str().expect("the LOG dates the start"));
    let to = ns(time["to"].as_str().expect("the mtime dates the end"));
    let fe = time["from_evidence"].as_str().unwrap();
    assert!(fe.contains("RocksDB began writing to this log"), "{fe}");
    assert!(
        fe.contains("UTC+05:30 (RocksDB's EVENT_LOG_v1 time_micros)"),
        "{fe}"
    );
    // No earlier than the flush that made the log began.
    let flush_before = i128::from(t["flush_before_ns"].as_u64().unwrap());
    assert!(from + 1000 >= flush_before, "{q}");
    let first = q["first"].as_u64().unwrap();
    let mut checked = 0;
    for w in t["writes"].as_array().unwrap() {
        if w["seq"].as_u64().unwrap() < first {
            continue;
        }
        let before = i128::from(w["before_ns"].as_u64().unwrap());
        assert!(from <= before, "write {w} before its window {q}");
        assert!(before <= to, "write {w} after its window {q}");
        checked += 1;
    }
    assert!(checked >= 50, "{checked} lost writes checked: {q}");
}
