//! Basho eleveldb (Riak) stores written by the real basho/leveldb fork
//! (`basho_writer`, testdata/gen/make_basho.py): tables in sst_N/
//! directories, LZ4 under compression type 2, puts with an expiry (value
//! types 2 and 3), MANIFEST tag 11, zero-filled tails after a crash.
//!
//! Checked: the dialect and its evidence; damage located with its class and
//! none on the healthy stores; the latest view equal to what Basho's own
//! library returned on the undamaged copy (expected.json), minus what the
//! damage lost, expiries included; `--rebuild` writing Basho's layout,
//! read back by Basho's own library to the same view; the input unchanged. With the writer at hand (built from
//! ../shared/writers), its own library judges the committed ground truth
//! again and a store written now, with tables on several levels.

use crate::common;

use common::tools;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const VARIANTS: &[&str] = &[
    "healthy",
    "plain",
    "crash",
    "torn-log",
    "garbled-log",
    "table-bitflip",
    "torn-footer",
];

fn basho_dir(v: &str) -> PathBuf {
    tools::root().join("testdata").join("basho").join(v)
}

/// A key's latest value and, for types 2 and 3, (type, expiry micros).
type View = BTreeMap<Vec<u8>, (Vec<u8>, Option<(u64, u64)>)>;

struct Expected {
    latest: View,
    lost_keys: BTreeSet<Vec<u8>>,
    damage: Vec<(String, u64, u64, String)>,
}

fn expected(v: &str) -> Expected {
    let e = read_json(&basho_dir(v).join("expected.json"));
    let exp = e["expiry"].as_object().expect("expiry");
    let latest = e["latest"]
        .as_object()
        .expect("latest")
        .iter()
        .map(|(k, val)| {
            let x = exp.get(k).map(|x| {
                (
                    x["type"].as_u64().expect("type"),
                    x["expiry"].as_u64().expect("expiry"),
                )
            });
            (hex(k), (hex(val.as_str().expect("value hex")), x))
        })
        .collect();
    let lost_keys = e["lost_keys"]
        .as_array()
        .expect("lost_keys")
        .iter()
        .map(|k| hex(k.as_str().expect("key hex")))
        .collect();
    let damage = e["damage"]
        .as_array()
        .expect("damage")
        .iter()
        .map(|d| {
            (
                d["file"].as_str().expect("file").to_string(),
                d["offset"].as_u64().expect("offset"),
                d["length"].as_u64().expect("length"),
                d["class"].as_str().expect("class").to_string(),
            )
        })
        .collect();
    Expected {
        latest,
        lost_keys,
        damage,
    }
}

fn bytes_of(o: &Value, name: &str) -> Option<Vec<u8>> {
    if let Some(s) = o.get(name).and_then(Value::as_str) {
        return Some(s.as_bytes().to_vec());
    }
    o.get(format!("{name}_base64"))
        .and_then(Value::as_str)
        .map(|b| ldbsalvage::report::bytes::decode_base64(b).expect("base64"))
}

/// The latest view of a `records.jsonl`.
fn exported_view(records: &Path) -> View {
    let data = std::fs::read(records).expect("records.jsonl");
    let mut out = View::new();
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let o: Value = serde_json::from_slice(line).expect("a JSON line");
        if o["kind"] != "put" {
            continue;
        }
        let key = bytes_of(&o, "key").expect("key");
        let value = bytes_of(&o, "value").expect("value");
        let x = o.get("expiry").map(|x| {
            (
                x["type"].as_u64().expect("expiry type"),
                x["micros"].as_u64().expect("expiry micros"),
            )
        });
        assert!(out.insert(key, (value, x)).is_none(), "a key twice");
    }
    out
}

/// Whether `key` lies in one of the report's lost key ranges.
fn in_lost_range(report: &Value, key: &[u8]) -> bool {
    let ranges = report["lost"]["key_ranges"].as_array().expect("key_ranges");
    ranges.iter().any(|r| {
        let first = bytes_of(r, "first");
        let last = bytes_of(r, "last");
        let excl = r["first_exclusive"].as_bool().unwrap_or(false);
        let lo = first
            .as_deref()
            .is_none_or(|f| if excl { key > f } else { key >= f });
        let hi = last.as_deref().is_none_or(|l| key <= l);
        lo && hi
    })
}

fn scan_report(db: &Path) -> (i32, Value) {
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{}: {e}", describe(&["scan"], &o)));
    (code(&o), r)
}

#[test]
fn dialect_is_basho_with_its_evidence() {
    for v in VARIANTS {
        let (_, r) = scan_report(&basho_dir(v).join("db"));
        let d = &r["store"]["dialect"];
        assert_eq!(d["name"], "basho", "{v}: {d}");
        assert_eq!(d["supported"], true, "{v}");
        let ev: Vec<&str> = d["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(ev.iter().any(|e| e.contains("sst_")), "{v}: {ev:?}");
        // Tag 11 only with the expiry module.
        let tag11 = ev.iter().any(|e| e.contains("tag 11"));
        assert_eq!(tag11, *v != "plain", "{v}: {ev:?}");
        // Tables are named with their level directory, in one store.
        let names: Vec<&str> = r["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"sst_1/000009.sst"), "{v}: {names:?}");
        assert!(names.contains(&"sst_0/000011.sst"), "{v}: {names:?}");
        assert!(r.get("stores").is_none(), "{v}: one store, not several");
        for f in r["files"].as_array().unwrap() {
            if f["kind"] == "table" {
                assert_eq!(f["state"], "live", "{v}: {f}");
                assert!(f.get("state_reason").is_none_or(Value::is_null), "{v}: {f}");
            }
        }
    }
}

#[test]
fn no_damage_on_healthy_stores_and_zero_tails() {
    for v in ["healthy", "plain", "crash"] {
        let (c, r) = scan_report(&basho_dir(v).join("db"));
        let d = report_damage(&r);
        assert!(d.is_empty(), "{v}: {d:?}");
        assert!(report_errors(&r).is_empty(), "{v}");
        assert_eq!(c, EXIT_OK, "{v}");
        assert!(r["store"]["states_known"] == true, "{v}: {}", r["store"]);
    }
    // The crashed store's log and MANIFEST end in preallocated zeros: read
    // to their last record, which is every write.
    let (_, r) = scan_report(&basho_dir("crash").join("db"));
    let log = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "log")
        .unwrap();
    assert_eq!(log["size"], 81920);
    assert!(r["lost"]["sequence_ranges"].as_array().unwrap().is_empty());
}

#[test]
fn damage_is_located_with_its_class() {
    for v in ["torn-log", "garbled-log", "table-bitflip", "torn-footer"] {
        let e = expected(v);
        let (c, r) = scan_report(&basho_dir(v).join("db"));
        assert_eq!(c, EXIT_DAMAGE, "{v}");
        let got = report_damage(&r);
        assert!(!got.is_empty(), "{v}");
        for (file, off, len, class) in &e.damage {
            assert!(
                got.iter().any(|d| &d.file == file
                    && &d.class == class
                    && overlaps(d.offset, d.length, *off, *len)),
                "{v}: no {class} damage in {file} at {off}+{len}: {got:?}"
            );
        }
        // Nothing elsewhere, and no other class.
        for d in &got {
            assert!(
                e.damage
                    .iter()
                    .any(|(f, _, _, c)| f == &d.file && c == &d.class),
                "{v}: unexpected damage {d:?}"
            );
        }
    }
}

#[test]
fn latest_view_is_the_writers_minus_what_was_lost() {
    for v in VARIANTS {
        let e = expected(v);
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("out");
        let db = basho_dir(v).join("db");
        let o = run([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            dest.as_os_str(),
        ]);
        assert!(code(&o) != EXIT_USAGE, "{}", describe(&["salvage", v], &o));
        let report = read_json(&dest.join("report.json"));
        let got = exported_view(&dest.join("records.jsonl"));
        let lost = |k: &[u8]| e.lost_keys.contains(k) || in_lost_range(&report, k);
        let mut compared = 0;
        for (k, want) in &e.latest {
            match got.get(k) {
                Some(g) => {
                    if !lost(k) {
                        assert_eq!(g, want, "{v}: {}", show(k));
                        compared += 1;
                    }
                }
                None => assert!(lost(k), "{v}: {} missing and not reported lost", show(k)),
            }
        }
        for k in got.keys() {
            assert!(
                e.latest.contains_key(k) || lost(k),
                "{v}: {} exported but not in the writer's view",
                show(k)
            );
        }
        assert!(compared > 250, "{v}: only {compared} keys compared");
        // Expiries came through on the keys that carry one.
        let with_expiry = got.values().filter(|(_, x)| x.is_some()).count();
        assert!(with_expiry > 40, "{v}: {with_expiry}");
        if ["healthy", "plain", "crash", "torn-footer"].contains(v) {
            assert_eq!(got, e.latest, "{v}: the whole view");
        }
    }
}

#[test]
fn input_is_unchanged() {
    for v in VARIANTS {
        let db = basho_dir(v).join("db");
        let before = snapshot(&db);
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("out");
        run(["scan".as_ref(), db.as_os_str()]);
        run([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            dest.as_os_str(),
        ]);
        for t in ["sst_1/000009.sst", "sst_0/000011.sst"] {
            run(["inspect".as_ref(), db.join(t).as_os_str()]);
        }
        assert!(snapshot_diff(&before, &snapshot(&db)).is_empty(), "{v}");
    }
}

#[test]
fn inspect_reads_a_level_directory_table_as_basho() {
    let t = basho_dir("healthy")
        .join("db")
        .join("sst_1")
        .join("000009.sst");
    let o = run(["inspect".as_ref(), t.as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), EXIT_OK, "{text}");
    assert!(text.contains("lz4") && text.contains("meta"), "{text}");
    assert!(!text.contains("gap"), "{text}");
}

/// `basho_writer COPY --dump [--expiry]`: Basho's own library's view.
fn dump(writer: &Path, db: &Path, expiry: bool) -> View {
    let (_t, copy) = tools::copy_tree(db);
    // Git keeps no empty directories, so a checked-out fixture lacks the
    // empty `sst_N` ones Basho made at open; its library refuses to open a
    // store without them (it recreates them only with create_if_missing).
    for level in 0..7 {
        std::fs::create_dir_all(copy.join(format!("sst_{level}"))).unwrap();
    }
    let mut c = Command::new(writer);
    c.arg(&copy).arg("--dump");
    if expiry {
        c.arg("--expiry");
    }
    let o = c.output().expect("basho_writer --dump");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut out = View::new();
    for line in String::from_utf8(o.stdout).unwrap().lines() {
        let p: Vec<&str> = line.split(' ').collect();
        let val = |s: &str| if s == "-" { Vec::new() } else { hex(s) };
        let x = (p.len() > 2).then(|| {
            let n = |s: &str| s.split('=').nth(1).unwrap().parse::<u64>().unwrap();
            (n(p[2]), n(p[3]))
        });
        out.insert(val(p[0]), (p.get(1).map_or(Vec::new(), |s| val(s)), x));
    }
    out
}

#[test]
fn the_writers_library_agrees_with_the_committed_ground_truth() {
    let Some(w) = tools::require_fork_writer("basho_writer") else {
        return;
    };
    for (v, expiry) in [("healthy", true), ("plain", false), ("crash", true)] {
        assert_eq!(
            dump(&w, &basho_dir(v).join("db"), expiry),
            expected(v).latest,
            "{v}"
        );
    }
}

#[test]
fn a_store_written_now_on_several_levels_reads_as_the_writer_reads_it() {
    let Some(w) = tools::require_fork_writer("basho_writer") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("db");
    // Enough writes with a small write buffer to spread tables over
    // sst_0..sst_N, with deletes, overwrites and both expiry types; the
    // last batches stay in the log.
    let mut ops = String::new();
    for round in 0..6u32 {
        for i in 0..400u32 {
            let k = format!("{:04}-{}", (i * 7919 + round * 31) % 1500, round % 2);
            let v = format!("round{round}-value{i}-").repeat(3);
            let (kh, vh) = (to_hex(k.as_bytes()), to_hex(v.as_bytes()));
            match i % 13 {
                3 => ops.push_str(&format!(
                    "putw {kh} {vh} {}\n",
                    1_700_000_000_000_000u64 + u64::from(i)
                )),
                7 => ops.push_str(&format!(
                    "putx {kh} {vh} {}\n",
                    4_102_444_800_000_000u64 + u64::from(i)
                )),
                11 => ops.push_str(&format!("del {kh}\n")),
                _ => ops.push_str(&format!("put {kh} {vh}\n")),
            }
            if i % 4 == 3 {
                ops.push_str("batch\n");
            }
        }
        if round == 3 {
            ops.push_str("compact\n");
        }
    }
    let mut c = Command::new(&w)
        .arg(&db)
        .args(["--expiry", "--write-buffer=65536"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(ops.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
    let levels: Vec<String> = (0..7)
        .map(|l| format!("sst_{l}"))
        .filter(|d| std::fs::read_dir(db.join(d)).is_ok_and(|mut r| r.next().is_some()))
        .collect();
    assert!(levels.len() >= 2, "tables on one level only: {levels:?}");

    let before = snapshot(&db);
    let (c, r) = scan_report(&db);
    assert_eq!(c, EXIT_OK, "{:?}", report_damage(&r));
    assert_eq!(r["store"]["dialect"]["name"], "basho");
    for f in r["files"].as_array().unwrap() {
        if f["kind"] == "table" && f["state"] == "live" {
            assert!(f["name"].as_str().unwrap().starts_with("sst_"), "{f}");
            assert!(f.get("state_reason").is_none_or(Value::is_null), "{f}");
        }
    }
    let out = t.path().join("out");
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--rebuild".as_ref(),
    ]);
    assert_eq!(code(&o), EXIT_OK, "{}", describe(&["salvage"], &o));
    let want = dump(&w, &db, true);
    assert!(want.len() > 500);
    assert_eq!(exported_view(&out.join("records.jsonl")), want);
    // The rebuilt store, read by Basho's library, answers the same.
    assert_eq!(dump(&w, &out.join("db"), true), want);
    assert!(snapshot_diff(&before, &snapshot(&db)).is_empty());
}

#[test]
fn reports_and_lines_with_expiries_match_the_schema() {
    let root: Value = read_json(&tools::root().join("docs").join("report.schema.json"));
    let of = |def: Option<&str>| {
        let s = match def {
            None => root.clone(),
            Some(d) => serde_json::json!({
                "$schema": root["$schema"],
                "$defs": root["$defs"],
                "$ref": format!("#/$defs/{d}"),
            }),
        };
        jsonschema::draft202012::new(&s).expect("the schema compiles")
    };
    let (report_v, record_v, unverified_v) =
        (of(None), of(Some("record")), of(Some("unverified_record")));
    for v in ["healthy", "garbled-log", "table-bitflip"] {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("out");
        let db = basho_dir(v).join("db");
        run([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            dest.as_os_str(),
        ]);
        let r = read_json(&dest.join("report.json"));
        let errs: Vec<String> = report_v.iter_errors(&r).map(|e| e.to_string()).collect();
        assert!(errs.is_empty(), "{v} report: {errs:?}");
        let mut expiries = 0;
        for (file, val) in [
            ("records.jsonl", &record_v),
            ("unverified.jsonl", &unverified_v),
        ] {
            let data = std::fs::read(dest.join(file)).unwrap();
            for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let j: Value = serde_json::from_slice(line).unwrap();
                expiries += usize::from(j.get("expiry").is_some());
                let errs: Vec<String> = val.iter_errors(&j).map(|e| e.to_string()).collect();
                assert!(errs.is_empty(), "{v} {file}: {j}: {errs:?}");
            }
        }
        assert!(expiries > 0, "{v}");
    }
}

#[test]
fn rebuilt_store_is_basho_layout_and_basho_reads_it_back() {
    let w = tools::require_fork_writer("basho_writer");
    for v in ["healthy", "plain", "garbled-log", "table-bitflip"] {
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("out");
        let db = basho_dir(v).join("db");
        let o = run([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            dest.as_os_str(),
            "--rebuild".as_ref(),
        ]);
        assert!(code(&o) != EXIT_USAGE, "{}", describe(&["salvage", v], &o));
        let rebuilt = dest.join("db");
        for l in 0..7 {
            assert!(rebuilt.join(format!("sst_{l}")).is_dir(), "{v}: sst_{l}");
        }
        let exported = exported_view(&dest.join("records.jsonl"));
        // Our own reader: a Basho store, undamaged, the same view.
        let (c, r) = scan_report(&rebuilt);
        assert_eq!(c, EXIT_OK, "{v}: {:?}", report_damage(&r));
        assert_eq!(r["store"]["dialect"]["name"], "basho", "{v}");
        let names: Vec<&str> = r["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "table")
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert!(
            !names.is_empty()
                && names
                    .iter()
                    .all(|n| n.starts_with("sst_6/") && n.ends_with(".sst")),
            "{v}: {names:?}"
        );
        let again = out.path().join("again");
        run([
            "salvage".as_ref(),
            rebuilt.as_os_str(),
            "--out".as_ref(),
            again.as_os_str(),
        ]);
        assert_eq!(exported_view(&again.join("records.jsonl")), exported, "{v}");
        // Basho's own library: exactly the exported view, expiries and all.
        if let Some(w) = &w {
            for expiry in [true, false] {
                assert_eq!(dump(w, &rebuilt, expiry), exported, "{v} --expiry {expiry}");
            }
        }
    }
}
