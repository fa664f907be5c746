//! `salvage --view all --order seq`: an export a replay can apply in order.
//! Applied top to bottom, last line wins (puts set, deletes remove; history
//! skipped; orphan lines only where no line of the store's state touched
//! the key), it must leave exactly the latest view; it is the file-order
//! export stably sorted by sequence number; it is the same bytes for any
//! `--jobs` and any memory budget; and it stays within a memory bound on a
//! store whose export is larger than that bound (peak RSS measured from
//! outside the process).

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A line's key or value as bytes (`name` or `name_base64`).
fn field(v: &Value, name: &str) -> Option<Vec<u8>> {
    if let Some(s) = v.get(name).and_then(Value::as_str) {
        return Some(s.as_bytes().to_vec());
    }
    let b = v.get(format!("{name}_base64"))?.as_str()?;
    Some(ldbsalvage::report::bytes::decode_base64(b).expect("base64"))
}

fn lines(b: &[u8]) -> Vec<Value> {
    b.split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .collect()
}

/// The replay a consumer runs on the seq-ordered export: one pass, top to
/// bottom, last line wins. Lines of history (`state` deleted or obsolete)
/// are skipped; lines of an orphan table (`state` orphan) go to a fill-in
/// map that only supplies keys no other applied line touched (as the
/// latest view's `from_orphan` lines); every other line (no `state`, or
/// `unknown`: no MANIFEST says what is live) is the store's state.
fn replay(export: &[Value]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut state = BTreeMap::new();
    let mut fill = BTreeMap::new();
    let mut touched = BTreeSet::new();
    for l in export {
        let st = l.get("state").and_then(Value::as_str);
        if matches!(st, Some("deleted" | "obsolete")) {
            continue;
        }
        let key = field(l, "key").expect("a key");
        let target = if st == Some("orphan") {
            &mut fill
        } else {
            touched.insert(key.clone());
            &mut state
        };
        match l["kind"].as_str() {
            Some("put") => {
                target.insert(key, field(l, "value").expect("a put's value"));
            }
            Some("delete") => {
                target.remove(&key);
            }
            k => panic!("kind {k:?}"),
        }
    }
    for (k, v) in fill {
        if !touched.contains(&k) {
            state.insert(k, v);
        }
    }
    state
}

fn latest_map(export: &[Value]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for l in export {
        let k = field(l, "key").unwrap();
        assert!(
            m.insert(k, field(l, "value").unwrap()).is_none(),
            "a key twice"
        );
    }
    m
}

fn salvage(db: &Path, out: &Path, extra: &[&str]) -> (i32, Vec<u8>, Vec<u8>, Value) {
    salvage_env(db, out, extra, &[])
}

fn salvage_env(
    db: &Path,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, Vec<u8>, Vec<u8>, Value) {
    let mut args: Vec<&str> = vec!["salvage", "--quiet"];
    args.extend_from_slice(extra);
    args.extend([db.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let o = Command::new(bin())
        .args(&args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        code(&o) == EXIT_OK || code(&o) == EXIT_DAMAGE,
        "{}",
        describe(&args, &o)
    );
    let mut names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["records.jsonl", "report.json", "unverified.jsonl"],
        "temporaries left in --out"
    );
    (
        code(&o),
        std::fs::read(out.join("records.jsonl")).unwrap(),
        std::fs::read(out.join("unverified.jsonl")).unwrap(),
        read_json(&out.join("report.json")),
    )
}

fn is_history(l: &Value) -> bool {
    matches!(l["state"].as_str(), Some("deleted" | "obsolete" | "orphan"))
}

/// Every property of the seq-ordered export of one store, against the
/// file-order and latest exports of the same run options.
fn check_store(name: &str, db: &Path, env_budget: Option<&str>) {
    let before = snapshot(db);
    let outs = tempfile::tempdir().unwrap();
    let out = |n: &str| outs.path().join(n);
    let mut seq_runs = Vec::new();
    for jobs in ["1", "3"] {
        let o = out(&format!("seq{jobs}"));
        let args = ["--view", "all", "--order", "seq", "--jobs", jobs];
        // A small budget makes every few lines a run of their own.
        let env: Vec<(&str, &str)> = env_budget
            .map(|b| vec![("LDBSALVAGE_SEQ_BUDGET", b), ("LDBSALVAGE_LINES_BUDGET", b)])
            .unwrap_or_default();
        seq_runs.push(salvage_env(db, &o, &args, &env));
    }
    let (c1, rec1, unv1, rep1) = &seq_runs[0];
    let (c3, rec3, unv3, _) = &seq_runs[1];
    assert_eq!(c1, c3, "{name}: exit status depends on --jobs");
    assert!(rec1 == rec3, "{name}: records.jsonl depends on --jobs");
    assert!(unv1 == unv3, "{name}: unverified.jsonl depends on --jobs");
    assert_eq!(rep1["salvage"]["view"], "all");
    assert_eq!(rep1["salvage"]["order"], "seq");

    let (cf, file_rec, file_unv, file_rep) = salvage(db, &out("file"), &["--view", "all"]);
    let (_, latest_rec, _, _) = salvage(db, &out("latest"), &[]);
    assert_eq!(*c1, cf, "{name}: exit status depends on the order");
    assert_eq!(file_rep["salvage"]["order"], "file");
    assert!(
        *unv1 == file_unv,
        "{name}: unverified.jsonl must stay in file order"
    );
    assert_eq!(
        rep1["salvage"]["records"], file_rep["salvage"]["records"],
        "{name}"
    );

    // The file-order export, stably sorted by sequence number, byte for
    // byte (one store: the store part of the order is constant).
    let seq = lines(rec1);
    let mut by_seq: Vec<&[u8]> = file_rec
        .split_inclusive(|&c| c == b'\n')
        .collect::<Vec<_>>();
    by_seq.sort_by_key(|l| serde_json::from_slice::<Value>(l).unwrap()["seq"].as_u64());
    assert!(
        by_seq.concat() == *rec1,
        "{name}: not the file-order export sorted by sequence"
    );

    // Sequence numbers never go down; among the store's state (history
    // and orphans left out) they strictly increase: one write, one line.
    let seqs: Vec<u64> = seq.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{name}: order");
    let state: Vec<u64> = seq
        .iter()
        .filter(|l| !is_history(l))
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert!(
        state.windows(2).all(|w| w[0] < w[1]),
        "{name}: a sequence number twice in the store's state"
    );

    // The point of it: the replay leaves the latest view.
    let replayed = replay(&seq);
    let latest = latest_map(&lines(&latest_rec));
    assert!(
        replayed == latest,
        "{name}: replaying the seq order gives {} keys, the latest view {}; first difference: {:?}",
        replayed.len(),
        latest.len(),
        replayed
            .iter()
            .zip(&latest)
            .find(|(a, b)| a != b)
            .map(|((k, _), _)| show(k))
    );
    assert_eq!(snapshot_diff(&before, &snapshot(db)), Vec::<String>::new());
}

fn history_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/history");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn copy_history(name: &str) -> (tempfile::TempDir, PathBuf) {
    tools::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/history")
            .join(name)
            .join("db"),
    )
}

/// Every damaged fixture (torn and garbled logs, damaged tables, a
/// damaged MANIFEST, no MANIFEST) and every history store (deleted,
/// obsolete and orphan tables, C++ LevelDB and goleveldb).
#[test]
fn replaying_seq_order_gives_the_latest_view_on_every_fixture() {
    let mut checked = 0;
    for name in fixture_names() {
        let (_t, db) = copy_fixture_db(&name);
        check_store(&name, &db, None);
        checked += 1;
    }
    for name in history_names() {
        let (_t, db) = copy_history(&name);
        check_store(&name, &db, None);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} stores");
}

/// The file-order all view is not enough: applied top to bottom it leaves
/// keys on older values (the 3,849 keys), here on tables newer
/// than the log beside them and compacted tables.
#[test]
fn file_order_replay_would_leave_stale_values() {
    let mut stale = 0;
    for name in ["table-healthy-snappy", "no-manifest", "binary-keys"] {
        let (_t, db) = copy_fixture_db(name);
        let outs = tempfile::tempdir().unwrap();
        let (_, all, _, _) = salvage(&db, &outs.path().join("a"), &["--view", "all"]);
        let (_, latest, _, _) = salvage(&db, &outs.path().join("l"), &[]);
        if replay(&lines(&all)) != latest_map(&lines(&latest)) {
            stale += 1;
        }
    }
    assert_eq!(
        stale, 3,
        "the fixtures no longer show why --order seq exists"
    );
}

/// Spilling runs after every few lines (budgets of a few KiB) changes
/// nothing: the same bytes as in memory, and no temporary left.
#[test]
fn tiny_budgets_give_the_same_export() {
    for name in ["table-bitflip", "no-manifest", "log-torn-tail"] {
        let (_t, db) = copy_fixture_db(name);
        check_store(name, &db, Some("4096"));
    }
    let (_t, db) = copy_history("orphan");
    check_store("orphan", &db, Some("4096"));
}

#[test]
fn order_seq_with_the_latest_view_is_a_usage_error() {
    let (_t, db) = copy_fixture_db("log-healthy");
    let out = db.parent().unwrap().join("out");
    let args = [
        "salvage",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--order",
        "seq",
    ];
    let o = run(args);
    assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&args, &o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--order seq applies to --view all"), "{err}");
    assert!(!out.exists(), "--out was created");
}

/// `--out -` sorts in TMPDIR (never the input) and leaves nothing there;
/// stdout gets the same bytes as records.jsonl.
#[test]
fn stdout_export_sorts_in_tmpdir_and_cleans_up() {
    let (_t, db) = copy_fixture_db("table-bitflip");
    let before = snapshot(&db);
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "salvage",
        "--view",
        "all",
        "--order",
        "seq",
        db.to_str().unwrap(),
        "--out",
        "-",
    ];
    let o = Command::new(bin())
        .args(args)
        .env("TMPDIR", tmp.path())
        .env("LDBSALVAGE_SEQ_BUDGET", "2048")
        .output()
        .unwrap();
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    let outs = tempfile::tempdir().unwrap();
    let (_, rec, _, _) = salvage(
        &db,
        &outs.path().join("o"),
        &["--view", "all", "--order", "seq"],
    );
    assert!(o.stdout == rec, "stdout differs from records.jsonl");
    assert_eq!(snapshot_diff(&before, &snapshot(&db)), Vec::<String>::new());

    // A TMPDIR inside the input is refused before anything is written.
    let inside = db.join("sub");
    let o = Command::new(bin())
        .args(args)
        .env("TMPDIR", &inside)
        .output()
        .unwrap();
    assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&args, &o));
    assert!(o.stdout.is_empty());
    assert_eq!(snapshot_diff(&before, &snapshot(&db)), Vec::<String>::new());
}

/// A store written by C++ LevelDB (google/leveldb main, the zstd_writer
/// fork writer, no compression): 15,000 keys written twice in random
/// order, so every table's entries are in key order and their sequence
/// numbers all over the place, with a reopen between the rounds (tables
/// and a log). Its export is ~95 MB (values half control characters); the
/// sort's, the held lines' and the tables' budgets are 2 MiB. The seq
/// order must stay within what the file order needs plus 16 MiB, less
/// than half the export's size, and still replay to the latest view.
#[test]
fn seq_order_stays_within_a_memory_bound_on_a_larger_store() {
    let Some(writer) = tools::require_fork_writer("zstd_writer") else {
        return;
    };
    let time = Path::new("/usr/bin/time");
    if tools::require(
        "GNU time",
        (time.is_file() || tools::apt(&["time"])).then_some(()),
    )
    .is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut ops = String::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    const N: u64 = 30_000;
    for round in 0..2 {
        let mut keys: Vec<u64> = (0..N).collect();
        for i in (1..keys.len()).rev() {
            keys.swap(i, rnd(i as u64 + 1) as usize);
        }
        for (i, k) in keys.iter().enumerate() {
            // Letters and control characters: each of the latter is six
            // bytes of JSON, so the export is several times the store.
            let mut v: Vec<u8> = (0..440)
                .flat_map(|_| [b'a' + rnd(26) as u8, 0x0e + rnd(16) as u8])
                .collect();
            v.extend_from_slice(format!("round {round}").as_bytes());
            ops.push_str(&format!(
                "put {} {}\n",
                to_hex(format!("key{k:06}").as_bytes()),
                to_hex(&v)
            ));
            if i % 1000 == 999 {
                ops.push_str("batch\n");
            }
        }
        ops.push_str(if round == 0 {
            "batch\nreopen\n"
        } else {
            "batch\n"
        });
    }
    let mut w = Command::new(&writer)
        .arg(&db)
        .args([
            "--compression=none",
            "--write-buffer=4194304",
            "--max-file-size=2097152",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(w.stdin.as_mut().unwrap(), ops.as_bytes()).unwrap();
    drop(w.stdin.take());
    assert!(w.wait().unwrap().success(), "zstd_writer failed");
    let before = snapshot(&db);

    const MIB: u64 = 1 << 20;
    let budget = (2 * MIB).to_string();
    let env = [
        ("LDBSALVAGE_SEQ_BUDGET", budget.as_str()),
        ("LDBSALVAGE_LINES_BUDGET", budget.as_str()),
        ("LDBSALVAGE_TABLE_BUDGET", budget.as_str()),
    ];
    let d = db.to_str().unwrap();
    let mut peak = BTreeMap::new();
    let mut exports = Vec::new();
    for (order, jobs) in [("file", "2"), ("seq", "2"), ("seq", "1")] {
        let out = dir.path().join(format!("out-{order}-{jobs}"));
        let o = out.to_str().unwrap();
        let args = [
            "salvage", "--quiet", "--view", "all", "--order", order, "--jobs", jobs, d, "--out", o,
        ];
        let (c, rss, err) = run_measured(time, &args, &env);
        assert_eq!(c, EXIT_OK, "{args:?}: {}", String::from_utf8_lossy(&err));
        peak.insert((order, jobs), rss);
        if order == "seq" {
            exports.push(std::fs::read(out.join("records.jsonl")).unwrap());
        }
    }
    assert!(exports[0] == exports[1], "export depends on --jobs");
    let size = exports[0].len() as u64;
    // What the file order needs (the process, its pools and writer
    // buffers, the table and lines budgets), plus the sort's budget and
    // its merge buffers, with room to spare.
    // (Measured when written: file order 17-21 MiB, seq order 26-27 MiB;
    // the difference does not grow with the store. Since exports go out in
    // 2 MiB pieces by a thread of their own, file order takes ~31 MiB: the
    // store has 30,000 keys, not 15,000, to keep its export more than
    // twice the bound.)
    let bound = peak[&("file", "2")] * 1024 + 16 * MIB;
    eprintln!(
        "peak RSS: file order {} KiB, seq order --jobs 2 {} KiB, --jobs 1 {} KiB; export {size} bytes",
        peak[&("file", "2")],
        peak[&("seq", "2")],
        peak[&("seq", "1")]
    );
    assert!(
        size > 2 * bound,
        "the export ({size} bytes) is not larger than the bound ({bound} bytes)"
    );
    for jobs in ["2", "1"] {
        let rss = peak[&("seq", jobs)] * 1024;
        assert!(
            rss <= bound,
            "--order seq --jobs {jobs}: peak RSS {} MiB, bound {} MiB (file order: {} MiB)",
            rss / MIB,
            bound / MIB,
            peak[&("file", "2")] / 1024
        );
    }
    let latest_out = dir.path().join("latest");
    let (_, latest, _, _) = salvage(&db, &latest_out, &[]);
    let seq = lines(&exports[0]);
    assert!(seq.len() >= N as usize);
    let replayed = replay(&seq);
    assert_eq!(replayed.len(), N as usize);
    assert!(replayed == latest_map(&lines(&latest)), "replay differs");
    assert!(replayed.values().all(|v| v.ends_with(b"round 1")));
    assert_eq!(snapshot_diff(&before, &snapshot(&db)), Vec::<String>::new());
}

/// A table of three zlib blocks, each one value of 32 MiB of zeros (the
/// decompression bomb of tests/it/memory.rs, written by our table writer: a
/// memory case, not a format fixture): each line is 192 MiB of JSON. With
/// a 16 MiB sort budget each goes to a run of its own in pieces of 4 MiB,
/// so the run peaks far below one line, and the export is still exact and
/// in sequence order (the keys were given descending sequence numbers, so
/// the seq order reverses the file order).
#[test]
fn a_huge_line_is_sorted_in_pieces() {
    use ldbsalvage::format::batch::Kind;
    use ldbsalvage::format::ikey;
    use ldbsalvage::format::table_writer::{BuildOptions, Compression, TableBuilder};
    let time = Path::new("/usr/bin/time");
    if tools::require(
        "GNU time",
        (time.is_file() || tools::apt(&["time"])).then_some(()),
    )
    .is_none()
    {
        return;
    }
    const MIB: usize = 1 << 20;
    let (blocks, value_len) = (3, 32 * MIB);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let mut t = TableBuilder::new(BuildOptions {
        block_size: 4096,
        restart_interval: 16,
        compression: Compression::Zlib,
    });
    let value = vec![0u8; value_len];
    for i in 0..blocks {
        let key = ikey::encode(format!("key{i:03}").as_bytes(), 100 - i as u64, Kind::Put);
        t.add(&key, &value).unwrap();
    }
    std::fs::write(db.join("000005.ldb"), t.finish()).unwrap();
    let budget = (16 * MIB).to_string();
    let env = [
        ("LDBSALVAGE_SEQ_BUDGET", budget.as_str()),
        ("LDBSALVAGE_LINES_BUDGET", budget.as_str()),
    ];
    let out = dir.path().join("out");
    // One worker: each 32 MiB block is decompressed (and its copy held)
    // once at a time, so what is measured is the sort's share, not how
    // many blocks the machine's cores hold at once (two cores held two
    // blocks and their copies: 127 MiB, still far from a line, but over
    // the half-line bound).
    let args = [
        "salvage",
        "--quiet",
        "--jobs",
        "1",
        "--view",
        "all",
        "--order",
        "seq",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let (c, kib, err) = run_measured(time, &args, &env);
    assert_eq!(c, EXIT_OK, "{}", String::from_utf8_lossy(&err));
    let line = (6 * value_len) as u64;
    eprintln!("peak RSS {} MiB with one 192 MiB line per key", kib / 1024);
    assert!(
        kib * 1024 < line / 2,
        "peak RSS {} MiB: a 192 MiB line was held whole",
        kib / 1024
    );
    let records = std::fs::read(out.join("records.jsonl")).unwrap();
    let got = lines(&records);
    assert_eq!(got.len(), blocks);
    for (n, v) in got.iter().enumerate() {
        let i = blocks - 1 - n;
        assert_eq!(v["key"], format!("key{i:03}"));
        assert_eq!(v["seq"], 100 - i as u64);
        let value = v["value"].as_str().unwrap();
        assert_eq!(value.len(), value_len);
        assert!(value.bytes().all(|b| b == 0));
    }
}

#[test]
fn view_none_writes_no_records_and_refuses_what_would_print_nothing() {
    let (_t, db) = copy_fixture_db("log-healthy");
    let out = db.parent().unwrap().join("out");
    let d = db.to_str().unwrap();
    for (extra, says) in [
        (&["--out", "-"][..], "--view none writes no records"),
        (&["--order", "file"][..], "--order applies to --view all"),
    ] {
        let mut args = vec!["salvage", d, "--view", "none"];
        if extra[0] != "--out" {
            args.extend(["--out", out.to_str().unwrap()]);
        }
        args.extend(extra);
        let o = run(&args);
        assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&args, &o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{err}");
        assert!(!out.exists(), "--out was created");
    }
    let args = [
        "salvage",
        d,
        "--view",
        "none",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = run(args);
    assert_eq!(code(&o), EXIT_OK, "{}", describe(&args, &o));
    assert!(!out.join("records.jsonl").exists());
    assert!(out.join("unverified.jsonl").exists());
    let r = read_json(&out.join("report.json"));
    assert_eq!(r["salvage"]["view"], "none");
    assert_eq!(r["salvage"]["records"], 0);
    // The summary names what was written, and only that.
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("unverified.jsonl"), "{said}");
    assert!(!said.contains("records.jsonl"), "{said}");
}
