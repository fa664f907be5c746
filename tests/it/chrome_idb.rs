//! Chrome IndexedDB stores (comparator `idb_cmp1`) written by headless
//! Chromium (testdata/chrome, testdata/gen/chrome_idb): the dialect, the
//! damage, the latest view against what the page itself read back, the
//! order of keys against Chrome's own tables, the `idb` field, and the
//! rebuilt store opened and read in full by Chromium.

use crate::common;

use common::{code, parse_rec, read_json, run, snapshot, snapshot_diff, tools, Rec};
use ldbsalvage::format::idb;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const VARIANTS: [&str; 5] = [
    "healthy",
    "log-torn",
    "log-garbled",
    "table-bitflip",
    "table-torn-footer",
];

fn chrome_dir() -> PathBuf {
    tools::root().join("testdata").join("chrome")
}

fn db(variant: &str) -> PathBuf {
    chrome_dir().join(variant).join("db")
}

/// One export line: the parsed entry and the whole JSON (for `idb`).
struct Line {
    rec: Rec,
    json: Value,
}

fn lines(path: &Path) -> Vec<Line> {
    let data = std::fs::read(path).unwrap();
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Line {
            rec: parse_rec(l).unwrap(),
            json: serde_json::from_slice(l).unwrap(),
        })
        .collect()
}

struct Salvaged {
    _dir: tempfile::TempDir,
    out: PathBuf,
    report: Value,
    records: Vec<Line>,
    unverified: Vec<Line>,
}

/// `salvage` of a fixture (with `extra` arguments), checking the input is
/// left exactly as it was.
fn salvage(variant: &str, extra: &[&str]) -> Salvaged {
    let input = db(variant);
    let before = snapshot(&input);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "salvage".to_string(),
        input.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run(&args);
    assert!(
        code(&o) == 0 || code(&o) == 1,
        "{variant}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        snapshot_diff(&before, &snapshot(&input)).is_empty(),
        "{variant}: the input changed"
    );
    Salvaged {
        report: read_json(&out.join("report.json")),
        records: lines(&out.join("records.jsonl")),
        unverified: lines(&out.join("unverified.jsonl")),
        out,
        _dir: dir,
    }
}

fn expected_damage(variant: &str) -> Vec<Value> {
    read_json(&chrome_dir().join(variant).join("expected.json"))["damage"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn dialect_is_chrome_indexeddb_with_its_evidence() {
    let s = salvage("healthy", &[]);
    let store = &s.report["store"];
    assert_eq!(store["comparator"], "idb_cmp1");
    assert_eq!(store["dialect"]["name"], "chrome-indexeddb");
    let evidence = store["dialect"]["evidence"].to_string();
    assert!(evidence.contains("idb_cmp1"), "{evidence}");
}

#[test]
fn damage_is_located_and_classed_and_none_on_healthy() {
    for v in VARIANTS {
        let input = db(v);
        let before = snapshot(&input);
        let o = run([
            "scan".to_string(),
            input.display().to_string(),
            "--report".into(),
            "-".into(),
        ]);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        let found = common::report_damage(&r);
        let want = expected_damage(v);
        if want.is_empty() {
            assert!(
                found.is_empty(),
                "{v}: damage on a healthy store: {found:?}"
            );
            assert_eq!(code(&o), 0);
        }
        for w in &want {
            let (file, off, len, class) = (
                w["file"].as_str().unwrap(),
                w["offset"].as_u64().unwrap(),
                w["length"].as_u64().unwrap(),
                w["class"].as_str().unwrap(),
            );
            assert!(
                found.iter().any(|d| d.file == file
                    && d.class == class
                    && common::overlaps(d.offset, d.length, off, len)),
                "{v}: {class} damage at {file}:{off}+{len} not reported: {found:?}"
            );
            assert_eq!(code(&o), 1, "{v}");
        }
        assert!(snapshot_diff(&before, &snapshot(&input)).is_empty());
    }
}

/// Key → value of a latest view.
fn view(records: &[Line]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    records
        .iter()
        .map(|l| (l.rec.key.clone(), l.rec.value.clone().unwrap_or_default()))
        .collect()
}

fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        v |= u64::from(c & 0x7f) << (7 * i);
        if c & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

fn utf16be(b: &[u8]) -> String {
    let u: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&u)
}

/// (database name, object store name) → (database id, object store id),
/// read from the metadata records of the export (DatabaseNameKey and
/// ObjectStoreMetaDataKey NAME, indexed_db_leveldb_coding.cc).
fn names(records: &[Line]) -> BTreeMap<(String, String), (i64, i64)> {
    let mut dbs = BTreeMap::new();
    let mut stores = Vec::new();
    for l in records {
        let i = &l.json["idb"];
        if i["kind"] != "metadata" {
            continue;
        }
        let k = &l.rec.key;
        let v = l.rec.value.clone().unwrap_or_default();
        if i["scope"] == "global" && i["meta_type"] == 201 {
            // prefix (4 bytes), 201, origin, name; the value is the id.
            let (n, rest) = varint(&k[5..]).unwrap();
            let rest = &rest[2 * n as usize..];
            let (m, rest) = varint(rest).unwrap();
            let name = utf16be(&rest[..2 * m as usize]);
            dbs.insert(varint(&v).unwrap().0 as i64, name);
        } else if i["scope"] == "database" && i["meta_type"] == 50 && k.last() == Some(&0) {
            let db_id = i["database_id"].as_i64().unwrap();
            let plen = 1
                + (k[0] >> 5 & 7) as usize
                + 1
                + (k[0] >> 2 & 7) as usize
                + 1
                + (k[0] & 3) as usize
                + 1;
            let (os, _) = varint(&k[plen + 1..]).unwrap();
            stores.push((db_id, os as i64, utf16be(&v)));
        }
    }
    stores
        .into_iter()
        .filter_map(|(db, os, name)| Some(((dbs.get(&db)?.clone(), name), (db, os))))
        .collect()
}

/// A key as the page dumps it compared with the `idb` field's: numbers by
/// value (JSON has no infinities: the page's null is one of them).
fn same_key(page: &Value, ours: &Value) -> bool {
    if page["type"] != ours["type"] {
        return false;
    }
    match page["type"].as_str().unwrap() {
        "number" => match (page["value"].as_f64(), &ours["value"]) {
            (Some(a), Value::Number(b)) => a == b.as_f64().unwrap(),
            (None, Value::String(s)) => s == "Infinity" || s == "-Infinity",
            _ => false,
        },
        "array" => {
            let (a, b) = (
                page["value"].as_array().unwrap(),
                ours["value"].as_array().unwrap(),
            );
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_key(x, y))
        }
        _ => page["value"] == ours["value"],
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn latest_view_is_what_the_page_read_in_chromes_order() {
    let s = salvage("healthy", &[]);
    let dump = read_json(&chrome_dir().join("dump.json"));
    let ids = names(&s.records);
    let mut checked = 0;
    for (db_name, stores) in dump.as_object().unwrap() {
        for (store_name, st) in stores.as_object().unwrap() {
            let (db_id, os_id) = ids[&(db_name.clone(), store_name.clone())];
            let of_store = |kind: &str| -> Vec<&Line> {
                s.records
                    .iter()
                    .filter(|l| {
                        let i = &l.json["idb"];
                        i["kind"] == kind
                            && i["database_id"] == db_id
                            && i["object_store_id"] == os_id
                    })
                    .collect()
            };
            // Records: the same keys in the same order (the page's cursor
            // walks the store in IndexedDB key order), each value holding
            // the page's marker.
            let ours = of_store("object_store_data");
            let page = st["records"].as_array().unwrap();
            assert_eq!(ours.len(), page.len(), "{db_name}/{store_name}");
            for (o, p) in ours.iter().zip(page) {
                assert!(
                    same_key(&p["key"], &o.json["idb"]["key"]),
                    "{db_name}/{store_name}: page {} vs ours {}",
                    p["key"],
                    o.json["idb"]["key"]
                );
                let marker = p["value"]["marker"].as_str().unwrap();
                assert!(
                    contains(o.rec.value.as_deref().unwrap(), marker.as_bytes()),
                    "{marker} not in the value of {}",
                    p["key"]
                );
                checked += 1;
            }
            // Every record has its exists entry.
            assert_eq!(of_store("exists").len(), page.len());
            // Index entries: the page's, in order, among ours (Chrome may
            // keep stale index entries it skips when reading).
            for (_, entries) in st["indexes"].as_object().unwrap() {
                let ours = of_store("index_data");
                let mut it = ours.iter();
                for e in entries.as_array().unwrap() {
                    assert!(
                        it.any(|o| same_key(&e["key"], &o.json["idb"]["key"])
                            && same_key(&e["primary_key"], &o.json["idb"]["primary_key"])),
                        "index entry {e} missing or out of order"
                    );
                }
            }
        }
    }
    assert!(checked > 200, "{checked}");
    // The whole view is in idb_cmp1 order, keys strictly ascending.
    for w in s.records.windows(2) {
        assert_eq!(
            idb::compare(&w[0].rec.key, &w[1].rec.key),
            Ordering::Less,
            "{:?} then {:?}",
            w[0].json["idb"],
            w[1].json["idb"]
        );
    }
}

#[test]
fn chromes_tables_are_in_our_idb_cmp1_order() {
    let s = salvage("healthy", &["--view", "all"]);
    let table: Vec<&Line> = s
        .records
        .iter()
        .filter(|l| l.rec.file.ends_with(".ldb"))
        .collect();
    assert!(table.len() > 1000, "{}", table.len());
    let mut bytewise_disagrees = 0;
    for w in table.windows(2) {
        let (a, b) = (&w[0].rec, &w[1].rec);
        match idb::compare(&a.key, &b.key) {
            Ordering::Less => {}
            Ordering::Equal => assert!(a.seq > b.seq),
            Ordering::Greater => panic!(
                "Chrome wrote {:?} before {:?}",
                w[0].json["idb"], w[1].json["idb"]
            ),
        }
        bytewise_disagrees += usize::from(a.key > b.key);
    }
    // The comparator matters: bytewise order would call Chrome's table
    // unsorted.
    assert!(bytewise_disagrees > 0);
}

#[test]
fn idb_field_decodes_known_records() {
    let s = salvage("healthy", &[]);
    let ids = names(&s.records);
    let (db, os) = ids[&("alpha".to_string(), "items".to_string())];
    let find = |key: Value| {
        s.records
            .iter()
            .find(|l| {
                let i = &l.json["idb"];
                i["kind"] == "object_store_data"
                    && i["database_id"] == db
                    && i["object_store_id"] == os
                    && i["key"] == key
            })
            .map(|l| l.rec.clone())
    };
    let n = find(serde_json::json!({"type": "number", "value": -20.0})).unwrap();
    assert!(contains(n.value.as_deref().unwrap(), b"v0;"));
    let st = find(serde_json::json!({"type": "string", "value": "s4"})).unwrap();
    assert!(contains(st.value.as_deref().unwrap(), b"v999;"));
    assert!(find(serde_json::json!({"type": "string", "value": "s3"})).is_none());
    let d = s
        .records
        .iter()
        .find(|l| l.json["idb"]["key"]["value"] == "2020-01-01T03:04:05.000Z")
        .unwrap();
    assert_eq!(d.json["idb"]["key"]["type"], "date");
    let b = s
        .records
        .iter()
        .find(|l| l.json["idb"]["key"]["value"] == "01fe0003")
        .unwrap();
    assert_eq!(b.json["idb"]["key"]["type"], "binary");
    let a = s
        .records
        .iter()
        .find(|l| {
            l.json["idb"]["key"]["type"] == "array" && l.json["idb"]["kind"] == "object_store_data"
        })
        .unwrap();
    assert!(a.json["idb"]["key"]["value"].is_array());
    // The raw key is kept as it was.
    assert!(s.records.iter().all(|l| !l.rec.key.is_empty()));
    let ix = s
        .records
        .iter()
        .find(|l| l.json["idb"]["kind"] == "index_data")
        .unwrap();
    assert!(ix.json["idb"]["index_id"].as_i64().unwrap() >= 30);
    assert!(ix.json["idb"]["primary_key"].is_object());
}

#[test]
fn damaged_latest_views_are_the_healthy_one_minus_losses() {
    let h = salvage("healthy", &[]);
    let healthy = view(&h.records);
    let healthy_seq: BTreeMap<Vec<u8>, u64> = h
        .records
        .iter()
        .map(|l| (l.rec.key.clone(), l.rec.seq))
        .collect();
    for v in &VARIANTS[1..] {
        let s = salvage(v, &[]);
        let unverified: BTreeSet<Vec<u8>> =
            s.unverified.iter().map(|l| l.rec.key.clone()).collect();
        let got = view(&s.records);
        // Sequence numbers from which writes were lost (a torn log's tail).
        let lost_from: Vec<u64> = s.report["lost"]["sequence_ranges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["first"].as_u64().unwrap())
            .collect();
        // Nothing that is not in the healthy store, no other value unless a
        // newer write of the key was in the damaged bytes (read from them,
        // or in a reported range of lost writes newer than this one).
        for l in &s.records {
            let (k, val) = (&l.rec.key, l.rec.value.clone().unwrap_or_default());
            match healthy.get(k) {
                Some(h) if *h == val => {}
                _ => assert!(
                    unverified.contains(k) || lost_from.iter().any(|&f| f > l.rec.seq),
                    "{v}: {:?} differs from the healthy store",
                    idb::decode(k)
                ),
            }
        }
        // What is missing was in the damage: unverified, or in a lost key
        // range of a table (in idb_cmp1 order).
        let ranges = s.report["lost"]["key_ranges"].as_array().unwrap().clone();
        let key_of = |r: &Value, name: &str| -> Option<Vec<u8>> {
            if let Some(t) = r[name].as_str() {
                return Some(t.as_bytes().to_vec());
            }
            r[format!("{name}_base64")]
                .as_str()
                .map(|b| ldbsalvage::report::bytes::decode_base64(b).unwrap())
        };
        let mut missing = 0;
        for k in healthy.keys().filter(|k| !got.contains_key(*k)) {
            missing += 1;
            let in_range = ranges.iter().any(|r| {
                let above =
                    key_of(r, "first").is_none_or(|f| idb::compare(k, &f) != Ordering::Less);
                let below =
                    key_of(r, "last").is_none_or(|l| idb::compare(k, &l) != Ordering::Greater);
                above && below
            });
            assert!(
                unverified.contains(k)
                    || in_range
                    || lost_from.iter().any(|&f| healthy_seq[k] >= f),
                "{v}: {:?} lost without a word",
                idb::decode(k)
            );
        }
        if v.starts_with("table-bitflip") {
            assert!(missing > 0, "{v}: the damaged block's keys are gone");
        }
        // In idb_cmp1 order.
        for w in s.records.windows(2) {
            assert_eq!(idb::compare(&w[0].rec.key, &w[1].rec.key), Ordering::Less);
        }
    }
}

/// The rebuilt store: MANIFEST names idb_cmp1, tables in its order, the
/// same latest view, no damage.
fn check_rebuilt(variant: &str) -> (Salvaged, PathBuf) {
    let s = salvage(variant, &["--rebuild"]);
    let rebuilt = s.out.join("db");
    assert!(
        rebuilt.join("CURRENT").is_file(),
        "{variant}: no rebuilt store"
    );
    let r = salvage_path(&rebuilt, &["--view", "all"]);
    assert_eq!(r.report["store"]["comparator"], "idb_cmp1");
    assert_eq!(r.report["store"]["dialect"]["name"], "chrome-indexeddb");
    assert!(common::report_damage(&r.report).is_empty());
    // Each table in idb_cmp1 order (a repair keeps intact tables as they
    // are, older versions of a key included: newest first within a key).
    for w in r.records.windows(2) {
        if w[0].rec.file != w[1].rec.file {
            continue;
        }
        let o = idb::compare(&w[0].rec.key, &w[1].rec.key);
        assert!(
            o == Ordering::Less || (o == Ordering::Equal && w[0].rec.seq > w[1].rec.seq),
            "{variant}: rebuilt table {} out of idb_cmp1 order",
            w[0].rec.file
        );
    }
    let latest = salvage_path(&rebuilt, &[]);
    assert_eq!(view(&latest.records), view(&s.records), "{variant}");
    (s, rebuilt)
}

fn salvage_path(input: &Path, extra: &[&str]) -> Salvaged {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "salvage".to_string(),
        input.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    Salvaged {
        report: read_json(&out.join("report.json")),
        records: lines(&out.join("records.jsonl")),
        unverified: lines(&out.join("unverified.jsonl")),
        out,
        _dir: dir,
    }
}

#[test]
fn rebuilt_stores_are_in_idb_cmp1_order() {
    for v in VARIANTS {
        check_rebuilt(v);
    }
}

/// Chromium itself opens the rebuilt store and reads every record: the
/// page's dump equals the one it wrote when it made the fixture.
#[test]
fn chromium_reads_the_rebuilt_store() {
    let have = tools::apt(&["chromium"]) && Path::new("/usr/bin/chromium").is_file();
    if tools::require("chromium (Debian package)", have.then_some(())).is_none() {
        return;
    }
    let (_s, rebuilt) = check_rebuilt("healthy");
    let (_t, copy) = tools::copy_tree(&rebuilt);
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump.json");
    // One Chromium at a time: the page is served on a fixed port.
    let _l = tools::lock("chromium");
    let o = std::process::Command::new("python3")
        .arg(tools::root().join("testdata/gen/chrome_idb/run.py"))
        .arg("read")
        .arg(&copy)
        .arg(&dump)
        .output()
        .expect("python3");
    assert!(
        o.status.success(),
        "run.py read: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = read_json(&dump);
    let want = read_json(&chrome_dir().join("dump.json"));
    assert!(got.as_object().is_some_and(|m| !m.is_empty()));
    assert_eq!(got, want, "Chromium read the rebuilt store differently");
}

fn schema_validator(def: Option<&str>) -> jsonschema::Validator {
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

/// Reports and lines of these stores (the `idb` field, the dialect) are
/// what docs/report.schema.json describes.
#[test]
fn reports_and_lines_match_the_schema() {
    let report = schema_validator(None);
    let record = schema_validator(Some("record"));
    let unverified = schema_validator(Some("unverified_record"));
    for v in VARIANTS {
        for extra in [&[][..], &["--view", "all"][..]] {
            let s = salvage(v, extra);
            if let Err(e) = report.validate(&s.report) {
                panic!("{v}: report: {e}");
            }
            for l in &s.records {
                assert!(l.json.get("idb").is_some(), "{v}: no idb field");
                if let Err(e) = record.validate(&l.json) {
                    panic!("{v}: {}: {e}", l.json);
                }
            }
            for l in &s.unverified {
                if let Err(e) = unverified.validate(&l.json) {
                    panic!("{v}: {}: {e}", l.json);
                }
            }
        }
    }
}

/// A Chrome store whose MANIFEST and CURRENT are gone has no comparator
/// name left: `--dialect chrome-indexeddb` says whose it is, and the latest
/// view then comes out in idb_cmp1 order with the `idb` field, exactly as
/// it does for the whole store. Without the flag, the order of the tables'
/// verified blocks says the same.
#[test]
fn dialect_override_restores_idb_order_without_a_manifest() {
    let (_t, copy) = tools::copy_tree(&db("healthy"));
    for e in std::fs::read_dir(&copy).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "CURRENT" || name.starts_with("MANIFEST-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let run_on = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut args = vec![
            "salvage".to_string(),
            copy.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = run(&args);
        assert!(
            code(&o) == 0 || code(&o) == 1,
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (
            read_json(&out.join("report.json")),
            lines(&out.join("records.jsonl")),
        )
    };
    let (report, recs) = run_on(&["--dialect", "chrome-indexeddb"]);
    assert_eq!(report["store"]["dialect"]["name"], "chrome-indexeddb");
    assert_eq!(
        report["store"]["dialect"]["evidence"][0],
        "set by --dialect"
    );
    assert!(recs.len() > 10, "{} lines", recs.len());
    for w in recs.windows(2) {
        assert_eq!(
            idb::compare(&w[0].rec.key, &w[1].rec.key),
            Ordering::Less,
            "not in idb_cmp1 order"
        );
    }
    assert!(recs.iter().all(|l| l.json.get("idb").is_some()));
    // The same latest view, in the same order, as the whole store gives.
    let whole = salvage("healthy", &[]);
    let keys = |v: &[Line]| v.iter().map(|l| l.rec.key.clone()).collect::<Vec<_>>();
    assert!(
        keys(&recs) == keys(&whole.records),
        "{} keys against {} with the MANIFEST",
        recs.len(),
        whole.records.len()
    );
    // Without --dialect the tables' own verified blocks tell the order: no
    // "out of key order" damage, the same view.
    let (report, found) = run_on(&[]);
    assert_eq!(report["store"]["dialect"]["name"], "chrome-indexeddb");
    let ev = report["store"]["dialect"]["evidence"].to_string();
    assert!(ev.contains("idb_cmp1 order"), "{ev}");
    for f in report["files"].as_array().unwrap() {
        assert_eq!(f["damage"], serde_json::json!([]), "{f}");
    }
    assert!(keys(&found) == keys(&whole.records), "{} keys", found.len());
}
