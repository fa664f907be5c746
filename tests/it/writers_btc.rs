//! Stores from three more writers (testdata/writers/, generators in
//! testdata/gen/: make_writers_rusty_123.py, make_bitcoin.py): rusty-leveldb 4.0.2,
//! Debian's LevelDB 1.23, and a Bitcoin Core chainstate-like store with
//! obfuscated values. For every variant (healthy, torn log, garbled log
//! record, bit flip in a table block, torn table footer): the dialect and
//! its evidence, the damage located with its class and none elsewhere, the
//! latest view equal to what the writer's own library read from the
//! undamaged store (only keys written in a damaged unit may be missing or
//! older), the rebuilt store read back by the writer's own library in its
//! strictest mode, and the input unchanged. Bitcoin: `--deobfuscate`.
//! Any store: `--dialect`.

use crate::common;

use common::{code, describe, hex, read_json, run, snapshot, snapshot_diff, to_hex, tools};
use ldbsalvage::report::bytes::decode_base64;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const VARIANTS: [&str; 5] = [
    "healthy",
    "torn-log",
    "garbled-log",
    "bitflip-table",
    "torn-footer",
];

const OBFUSCATE_KEY: &[u8] = b"\x0e\x00obfuscate_key";

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

fn set_dir(writer: &str) -> PathBuf {
    tools::root().join("testdata/writers").join(writer)
}

fn hex_map(v: &Value) -> Map {
    v.as_object()
        .expect("a map of hex strings")
        .iter()
        .map(|(k, v)| (hex(k), hex(v.as_str().expect("hex value"))))
        .collect()
}

/// `name` (text) or `name_base64`.
fn field(o: &Value, name: &str) -> Option<Vec<u8>> {
    if let Some(s) = o.get(name).and_then(Value::as_str) {
        return Some(s.as_bytes().to_vec());
    }
    o.get(format!("{name}_base64"))
        .and_then(Value::as_str)
        .map(|s| decode_base64(s).expect("base64"))
}

/// What one salvage run gave.
struct Salvaged {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    scan: Value,
    report: Value,
    lines: Vec<Value>,
    code: i32,
}

impl Salvaged {
    fn latest(&self) -> Map {
        self.lines
            .iter()
            .map(|l| {
                assert_eq!(l["kind"], "put", "latest view line {l}");
                (
                    field(l, "key").expect("key"),
                    field(l, "value").expect("value"),
                )
            })
            .collect()
    }
}

/// `scan` then `salvage --rebuild` (with `extra`), the input snapshotted
/// around both; scan and salvage must tell the same story.
fn salvage(db: &Path, extra: &[&str]) -> Salvaged {
    let before = snapshot(db);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let mut args: Vec<String> = vec!["scan".into(), "--report".into(), "-".into()];
    args.extend(
        extra
            .iter()
            .filter(|a| **a != "--deobfuscate")
            .map(|s| s.to_string()),
    );
    args.push(db.display().to_string());
    let o = run(&args);
    let scan_code = code(&o);
    assert!(matches!(scan_code, 0 | 1), "{}", describe(&args, &o));
    let scan: Value = serde_json::from_slice(&o.stdout).expect("scan report");
    let mut args: Vec<String> = vec![
        "salvage".into(),
        "--quiet".into(),
        "--rebuild".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(db.display().to_string());
    let o = run(&args);
    let c = code(&o);
    assert!(matches!(c, 0 | 1), "{}", describe(&args, &o));
    assert_eq!(
        c,
        scan_code,
        "scan and salvage exit alike: {}",
        db.display()
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(
        scan["store"]["dialect"],
        report["store"]["dialect"],
        "one story: {}",
        db.display()
    );
    assert_eq!(
        common::report_damage(&scan).len(),
        common::report_damage(&report).len()
    );
    let lines = std::fs::read_to_string(out.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    let d = snapshot_diff(&before, &snapshot(db));
    assert!(d.is_empty(), "{}: input changed: {d:?}", db.display());
    Salvaged {
        _tmp: tmp,
        out,
        scan,
        report,
        lines,
        code: c,
    }
}

/// The checks every variant of every writer gets; the salvage run is
/// returned for the writer's own judge of the rebuilt store.
fn check_variant(writer: &str, variant: &str, dialect: &str, extra: &[&str]) -> Salvaged {
    let top = read_json(&set_dir(writer).join("latest.json"));
    let want = hex_map(&top["latest"]);
    let vdir = set_dir(writer).join(variant);
    let truth = read_json(&vdir.join("expected.json"));
    let s = salvage(&vdir.join("db"), extra);
    let what = format!("{writer}/{variant}");
    // The dialect, with evidence.
    let d = &s.report["store"]["dialect"];
    assert_eq!(d["name"], dialect, "{what}: {d}");
    assert!(
        !d["evidence"].as_array().unwrap().is_empty(),
        "{what}: no evidence"
    );
    // The damage: each expected unit found with its class, nothing else.
    let got = common::report_damage(&s.report);
    let expected = truth["damage"].as_array().unwrap();
    for e in expected {
        let (file, class, at) = (
            e["file"].as_str().unwrap(),
            e["class"].as_str().unwrap(),
            e["offset"].as_u64().unwrap(),
        );
        assert!(
            got.iter().any(|g| g.file == file
                && g.class == class
                && g.offset <= at
                && at <= g.offset + g.length),
            "{what}: no {class} damage at {file}:{at} in {got:?}"
        );
    }
    let files: BTreeSet<&str> = expected
        .iter()
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    for g in &got {
        assert!(
            files.contains(g.file.as_str()),
            "{what}: damage where there is none: {g:?}"
        );
    }
    assert_eq!(
        s.code,
        if expected.is_empty() { 0 } else { 1 },
        "{what}: exit"
    );
    // The latest view: what the writer's library read, but for keys with
    // a write in the damaged unit, which may be missing or hold one of
    // their older values (never anything else).
    let affected: BTreeSet<Vec<u8>> = truth["affected_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| hex(k.as_str().unwrap()))
        .collect();
    let history: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = truth["history"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                hex(k),
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| hex(x.as_str().unwrap()))
                    .collect(),
            )
        })
        .collect();
    let latest = s.latest();
    for (k, v) in &want {
        if !affected.contains(k) {
            assert_eq!(latest.get(k), Some(v), "{what}: key 0x{}", to_hex(k));
        }
    }
    for (k, v) in &latest {
        if want.get(k) == Some(v) {
            continue;
        }
        assert!(
            affected.contains(k) && history.get(k).is_some_and(|h| h.contains(v)),
            "{what}: key 0x{} has a value the store never gave it",
            to_hex(k)
        );
    }
    if expected.is_empty() {
        assert_eq!(latest, want, "{what}: healthy store, exact view");
    }
    s
}

// ---------------------------------------------------------------- rusty

/// Every key and value of a store as rusty-leveldb reads it with paranoid
/// checks (on a copy: opening may write).
fn rusty_read(db: &Path) -> Map {
    use rusty_leveldb::{LdbIterator, Options, DB};
    let (_t, copy) = tools::copy_tree(db);
    let opts = Options {
        paranoid_checks: true,
        create_if_missing: false,
        ..Options::default()
    };
    let mut db = DB::open(&copy, opts).expect("rusty-leveldb opens the store");
    let mut it = db.new_iter().expect("iterator");
    let mut out = Map::new();
    while it.advance() {
        let (k, v) = it.current().expect("current");
        out.insert(k.to_vec(), v.to_vec());
    }
    out
}

#[test]
fn rusty_leveldb_fixtures() {
    // The fixtures' ground truth is what rusty-leveldb reads.
    let top = read_json(&set_dir("rusty").join("latest.json"));
    assert_eq!(
        rusty_read(&set_dir("rusty").join("healthy/db")),
        hex_map(&top["latest"])
    );
    for v in VARIANTS {
        let s = check_variant("rusty", v, "leveldb", &[]);
        // The judge: rusty-leveldb itself opens the rebuilt store.
        assert_eq!(
            rusty_read(&s.out.join("db")),
            s.latest(),
            "rusty/{v}: rebuilt"
        );
    }
}

// ------------------------------------------------------- LevelDB 1.23

/// The fixture's own writer program in dump mode (paranoid_checks,
/// verify_checksums), compiled once into target/ against Debian's
/// libleveldb-dev 1.23.
fn leveldb123() -> Option<PathBuf> {
    if !tools::apt(&["libleveldb-dev", "g++"]) {
        return None;
    }
    let dir = tools::root().join("target").join("leveldb123");
    let exe = dir.join("writer");
    let _l = tools::lock("leveldb123");
    if !exe.is_file() {
        let _ = std::fs::create_dir_all(&dir);
        let ok = Command::new("g++")
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(tools::root().join("testdata/gen/leveldb123/writer.cc"))
            .arg("-lleveldb")
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    Some(exe)
}

fn leveldb123_read(exe: &Path, db: &Path) -> Map {
    let (_t, copy) = tools::copy_tree(db);
    let o = Command::new(exe).arg("dump").arg(&copy).output().unwrap();
    assert!(
        o.status.success(),
        "LevelDB 1.23 refused {}: {}",
        db.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    hex_map(&serde_json::from_slice(&o.stdout).expect("dump JSON"))
}

#[test]
fn leveldb_123_fixtures() {
    let judge = tools::require("Debian libleveldb-dev 1.23 and g++", leveldb123());
    if let Some(exe) = &judge {
        let top = read_json(&set_dir("leveldb-1.23").join("latest.json"));
        assert_eq!(
            leveldb123_read(exe, &set_dir("leveldb-1.23").join("healthy/db")),
            hex_map(&top["latest"])
        );
    }
    for v in VARIANTS {
        let s = check_variant("leveldb-1.23", v, "leveldb", &[]);
        if let Some(exe) = &judge {
            assert_eq!(
                leveldb123_read(exe, &s.out.join("db")),
                s.latest(),
                "leveldb-1.23/{v}: rebuilt"
            );
        }
    }
}

// ----------------------------------------------------------- Bitcoin

fn xor(v: &[u8], key: &[u8]) -> Vec<u8> {
    v.iter()
        .zip(key.iter().cycle())
        .map(|(a, b)| a ^ b)
        .collect()
}

/// The rebuilt store read by C++ LevelDB (plyvel, paranoid checks) holds
/// exactly the export's raw values.
fn plyvel_judge(py: &Path, s: &Salvaged, what: &str) {
    let res = Command::new(py)
        .arg(tools::root().join("tests/interop/check_rebuild.py"))
        .arg(s.out.join("db"))
        .arg(s.out.join("records.jsonl"))
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// `value_deobfuscated` on every put but the key's own, equal to the raw
/// value XORed with the key.
fn check_deobfuscated(s: &Salvaged, key: &[u8], what: &str) {
    assert_eq!(s.report["salvage"]["deobfuscated"], true, "{what}");
    for l in &s.lines {
        let k = field(l, "key").unwrap();
        let v = field(l, "value").unwrap();
        let d = field(l, "value_deobfuscated");
        if k == OBFUSCATE_KEY {
            assert_eq!(d, None, "{what}: the key's own entry is stored as is");
        } else {
            assert_eq!(d, Some(xor(&v, key)), "{what}: key 0x{}", to_hex(&k));
        }
    }
}

#[test]
fn bitcoin_core_fixtures() {
    let py = tools::require("python3 with plyvel", tools::plyvel_python());
    let top = read_json(&set_dir("bitcoin").join("latest.json"));
    let key = hex(top["obfuscate_key_hex"].as_str().unwrap());
    let plain = hex_map(&top["deobfuscated"]);
    for v in VARIANTS {
        let what = format!("bitcoin/{v}");
        let s = check_variant("bitcoin", v, "bitcoin-core", &["--deobfuscate"]);
        let ev = s.report["store"]["dialect"]["evidence"].to_string();
        assert!(ev.contains("obfuscate_key"), "{what}: {ev}");
        assert_eq!(
            s.report["store"]["obfuscation"]["key_hex"], top["obfuscate_key_hex"],
            "{what}"
        );
        assert_eq!(
            s.scan["store"]["obfuscation"],
            s.report["store"]["obfuscation"]
        );
        check_deobfuscated(&s, &key, &what);
        // The de-XORed values are Bitcoin Core's plain values.
        let truth = read_json(&set_dir("bitcoin").join(v).join("expected.json"));
        let affected: BTreeSet<Vec<u8>> = truth["affected_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| hex(k.as_str().unwrap()))
            .collect();
        for l in &s.lines {
            let k = field(l, "key").unwrap();
            if let (Some(p), false) = (plain.get(&k), affected.contains(&k)) {
                assert_eq!(field(l, "value_deobfuscated").as_ref(), Some(p), "{what}");
            }
        }
        if let Some(py) = &py {
            plyvel_judge(py, &s, &what);
        }
    }
}

#[test]
fn bitcoin_without_deobfuscate_exports_raw_values_and_says_so() {
    let db = set_dir("bitcoin").join("healthy/db");
    let s = salvage(&db, &[]);
    assert!(s.report["salvage"].get("deobfuscated").is_none());
    assert!(s
        .lines
        .iter()
        .all(|l| l.get("value_deobfuscated").is_none()
            && l.get("value_deobfuscated_base64").is_none()));
    let top = read_json(&set_dir("bitcoin").join("latest.json"));
    assert_eq!(s.latest(), hex_map(&top["latest"]), "raw values, unchanged");
    let o = run([Path::new("scan"), &db]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("--deobfuscate") && text.contains("obfuscated"),
        "{text}"
    );
}

#[test]
fn bitcoin_key_still_in_the_log_is_found() {
    let dir = set_dir("bitcoin").join("young");
    let truth = read_json(&dir.join("expected.json"));
    let s = salvage(&dir.join("db"), &["--deobfuscate"]);
    assert_eq!(s.report["store"]["dialect"]["name"], "bitcoin-core");
    assert_eq!(
        s.report["store"]["obfuscation"]["file"], "000003.log",
        "{}",
        s.report["store"]
    );
    let key = hex(truth["obfuscate_key_hex"].as_str().unwrap());
    check_deobfuscated(&s, &key, "young");
    assert_eq!(s.latest(), hex_map(&truth["latest"]));
    let plain = hex_map(&truth["deobfuscated"]);
    for l in &s.lines {
        let k = field(l, "key").unwrap();
        if k != OBFUSCATE_KEY {
            assert_eq!(field(l, "value_deobfuscated").as_ref(), plain.get(&k));
        }
    }
}

// ---------------------------------------------------------- --dialect

#[test]
fn dialect_override_is_reported_as_such() {
    // A LevelDB store said to be Bitcoin Core's: set by hand, and no key.
    let s = salvage(
        &set_dir("rusty").join("healthy/db"),
        &["--dialect", "bitcoin-core", "--deobfuscate"],
    );
    let d = &s.report["store"]["dialect"];
    assert_eq!(d["name"], "bitcoin-core");
    assert_eq!(d["evidence"][0], "set by --dialect");
    assert!(d["evidence"]
        .to_string()
        .contains("detected without it: leveldb"));
    assert!(s.report["salvage"].get("deobfuscated").is_none());
    assert!(s
        .lines
        .iter()
        .all(|l| l.get("value_deobfuscated").is_none()
            && l.get("value_deobfuscated_base64").is_none()));
    // A Bitcoin store read as plain LevelDB: nothing de-XORed, and the
    // override is still said.
    let s = salvage(
        &set_dir("bitcoin").join("healthy/db"),
        &["--dialect", "leveldb"],
    );
    let d = &s.report["store"]["dialect"];
    assert_eq!(d["name"], "leveldb");
    assert_eq!(d["evidence"][0], "set by --dialect");
    // The key's entry is still there to find: the store with the key in
    // its log, told to be Bitcoin Core's, is de-obfuscated.
    let s = salvage(
        &set_dir("bitcoin").join("young/db"),
        &["--dialect", "bitcoin-core", "--deobfuscate"],
    );
    assert_eq!(s.report["salvage"]["deobfuscated"], true);
    // Every accepted name; an unknown one is a usage error.
    for name in [
        "leveldb",
        "goleveldb",
        "mojang",
        "basho",
        "chrome-indexeddb",
        "bitcoin-core",
        "rocksdb",
    ] {
        let o = run([
            "scan",
            "--report",
            "-",
            "--dialect",
            name,
            set_dir("leveldb-1.23").join("healthy/db").to_str().unwrap(),
        ]);
        assert!(matches!(code(&o), 0 | 2), "{name}");
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["store"]["dialect"]["name"], name);
        assert_eq!(r["store"]["dialect"]["evidence"][0], "set by --dialect");
    }
    let o = run(["scan", "--dialect", "sqlite", "/nonexistent"]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("one of: leveldb"));
}

// ------------------------------------------------------------ schema

fn validator(def: Option<&str>) -> jsonschema::Validator {
    let root = read_json(&tools::root().join("docs/report.schema.json"));
    let s = match def {
        None => root,
        Some(d) => serde_json::json!({
            "$schema": root["$schema"],
            "$defs": root["$defs"],
            "$ref": format!("#/$defs/{d}"),
        }),
    };
    jsonschema::draft202012::new(&s).expect("the schema compiles")
}

#[test]
fn bitcoin_reports_and_lines_match_the_schema() {
    let s = salvage(
        &set_dir("bitcoin").join("garbled-log/db"),
        &["--deobfuscate", "--dialect", "bitcoin-core"],
    );
    let report = validator(None);
    for (what, r) in [("salvage report", &s.report), ("scan report", &s.scan)] {
        let errors: Vec<String> = report.iter_errors(r).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {errors:?}");
    }
    let record = validator(Some("record"));
    assert!(s
        .lines
        .iter()
        .any(|l| l.get("value_deobfuscated").is_some()
            || l.get("value_deobfuscated_base64").is_some()));
    for l in &s.lines {
        let errors: Vec<String> = record.iter_errors(l).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{l}: {errors:?}");
    }
    let unverified = validator(Some("unverified_record"));
    let text = std::fs::read_to_string(s.out.join("unverified.jsonl")).unwrap();
    assert!(!text.is_empty(), "the garbled record's entries");
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let errors: Vec<String> = unverified.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{l}: {errors:?}");
    }
}
