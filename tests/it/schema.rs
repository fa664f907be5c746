//! `docs/report.schema.json` against what the tool really writes: the scan
//! and salvage reports of every fixture (damaged ones, binary keys, a
//! rebuild, `--view all`, `--out -`), and every line of `records.jsonl` and
//! `unverified.jsonl`. Then a few hand-made violations, to prove the schema
//! constrains what it claims to.

use crate::common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

fn schema() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    serde_json::from_slice(&fs::read(&p).unwrap()).expect("docs/report.schema.json is not JSON")
}

/// A validator for the whole report, or for one of its `$defs`.
fn validator(def: Option<&str>) -> jsonschema::Validator {
    let root = schema();
    let s = match def {
        None => root,
        Some(d) => json!({
            "$schema": root["$schema"],
            "$defs": root["$defs"],
            "$ref": format!("#/$defs/{d}"),
        }),
    };
    jsonschema::draft202012::new(&s).expect("the schema does not compile")
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match docs/report.schema.json:\n{}\n{}",
        errors.join("\n"),
        &instance.to_string()[..instance.to_string().len().min(3000)]
    );
}

#[track_caller]
fn assert_invalid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    assert!(
        !v.is_valid(instance),
        "the schema accepts {what}: {instance}"
    );
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let s = schema();
    assert_eq!(
        s["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "the schema must declare draft 2020-12"
    );
    if let Err(e) = jsonschema::meta::validate(&s) {
        panic!("docs/report.schema.json is not a valid JSON Schema: {e}");
    }
    for d in ["record", "unverified_record"] {
        assert!(s["$defs"][d].is_object(), "$defs/{d} is missing");
    }
}

#[test]
fn scan_reports_match() {
    let v = validator(None);
    for name in fixture_names() {
        let db = fixtures_dir().join(&name).join("db");
        let a = [
            "scan".as_ref(),
            db.as_os_str(),
            "--report".as_ref(),
            "-".as_ref(),
        ];
        let o = run(a);
        assert!(code(&o) <= 1, "{}", describe(&a, &o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(r.get("salvage").is_none());
        assert_valid(&v, &r, &format!("the scan report of {name}"));
    }
}

/// The reports that are not of one LevelDB store: several stores in one
/// run (`stores[]`), the stores holding history (`state`, `state_reason`),
/// and a RocksDB store (`dialect`, nothing read).
#[test]
fn several_stores_history_and_rocksdb_reports_match() {
    let v = validator(None);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut runs: Vec<Vec<std::path::PathBuf>> = vec![vec![
        fixtures_dir().join("log-bad-crc/db"),
        fixtures_dir().join("table-bitflip/db"),
    ]];
    for h in ["deleted", "obsolete", "orphan", "goleveldb-deleted"] {
        runs.push(vec![root.join("history").join(h).join("db")]);
    }
    for r in [
        "healthy",
        "cf-ops-crc32c-snappy",
        "table-bitflip",
        "table-cut70",
        "wal-garbled",
    ] {
        runs.push(vec![root.join("rocksdb").join(r).join("db")]);
    }
    for dbs in runs {
        let mut a: Vec<&std::ffi::OsStr> = vec!["scan".as_ref()];
        a.extend(dbs.iter().map(|d| d.as_os_str()));
        a.extend([std::ffi::OsStr::new("--report"), std::ffi::OsStr::new("-")]);
        let o = run(&a);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_valid(&v, &r, &format!("the scan report of {dbs:?}"));
        if dbs.len() > 1 {
            assert_eq!(r["stores"].as_array().unwrap().len(), dbs.len());
        }
    }
}

/// Salvage `name` with `extra` arguments; validate the report and every line.
fn salvage_and_validate(name: &str, extra: &[&str]) -> (Value, usize, usize) {
    let report_v = validator(None);
    let record_v = validator(Some("record"));
    let unverified_v = validator(Some("unverified_record"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let db = match name.strip_prefix("rocksdb/") {
        Some(r) => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/rocksdb")
            .join(r)
            .join("db"),
        None => fixtures_dir().join(name).join("db"),
    };
    let mut a: Vec<std::ffi::OsString> = vec![
        "salvage".into(),
        db.clone().into_os_string(),
        "--out".into(),
        out.clone().into_os_string(),
        "--quiet".into(),
    ];
    a.extend(extra.iter().map(|s| s.into()));
    let o = run(&a);
    assert!(code(&o) <= 1, "{}", describe(&a, &o));
    let r = read_json(&out.join("report.json"));
    let what = format!("the salvage report of {name} {extra:?}");
    assert_valid(&report_v, &r, &what);
    let mut n = [0usize; 2];
    for (i, (file, v)) in [
        ("records.jsonl", &record_v),
        ("unverified.jsonl", &unverified_v),
    ]
    .into_iter()
    .enumerate()
    {
        if file == "records.jsonl" && extra.windows(2).any(|w| w == ["--view", "none"]) {
            assert!(!out.join(file).exists(), "{what}: {file} written");
            continue;
        }
        let data = fs::read(out.join(file)).unwrap();
        for (ln, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let j: Value = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("{name} {file}:{}: not JSON: {e}", ln + 1));
            assert_valid(v, &j, &format!("{name} {file}:{}", ln + 1));
            n[i] += 1;
        }
    }
    (r, n[0], n[1])
}

#[test]
fn salvage_reports_and_records_match() {
    let names = fixture_names();
    for must in [
        "binary-keys",
        "stale-resurrect",
        "table-truncated",
        "log-torn-tail",
    ] {
        assert!(names.iter().any(|n| n == must), "fixture {must} is missing");
    }
    let mut unverified_lines = 0;
    for name in names {
        let (r, records, unverified) = salvage_and_validate(&name, &[]);
        assert_eq!(r["salvage"]["records"], records, "{name}");
        assert_eq!(r["salvage"]["unverified"], unverified, "{name}");
        unverified_lines += unverified;
    }
    assert!(
        unverified_lines > 0,
        "no fixture gave unverified lines: the unverified_record schema went untested"
    );
}

/// RocksDB stores' lines: every kind (merge, single and range deletes with
/// their end keys, blob indexes resolved and not), the column family on
/// every line and lost key range.
#[test]
fn rocksdb_salvage_reports_and_records_match() {
    for name in [
        "cf-ops-crc32c-snappy",
        "wal-garbled",
        "table-bitflip",
        "table-cut70",
        "blob-zstd",
        "blob-zstd-value-bitflip",
    ] {
        for extra in [&[][..], &["--view", "all"][..]] {
            let name = format!("rocksdb/{name}");
            let (r, records, _) = salvage_and_validate(&name, extra);
            assert!(records > 0, "{name}");
            assert_eq!(r["store"]["dialect"]["name"], "rocksdb");
            for k in r["lost"]["key_ranges"].as_array().unwrap() {
                assert!(k["cf"].is_string(), "{name}: {k}");
            }
        }
    }
}

#[test]
fn salvage_variants_match() {
    // A rebuild (the `rebuilt` object), every entry (deletes, values in
    // base64), and binary keys in both views.
    for (name, extra) in [
        ("stale-resurrect", &["--rebuild"][..]),
        ("table-truncated", &["--rebuild", "--view", "all"][..]),
        ("binary-keys", &["--view", "all"][..]),
        ("binary-keys", &["--rebuild"][..]),
        // A repair without records: `keys` absent.
        ("table-healthy-snappy", &["--rebuild", "--view", "none"][..]),
        ("manifest-damaged", &["--view", "all"][..]),
        ("no-manifest", &["--view", "all", "--order", "seq"][..]),
    ] {
        let (r, _, _) = salvage_and_validate(name, extra);
        if extra.contains(&"--rebuild") {
            assert!(r["salvage"]["rebuilt"].is_object(), "{name} {extra:?}");
        }
        if extra.contains(&"none") {
            let rb = &r["salvage"]["rebuilt"];
            assert_eq!(rb["mode"], "repair", "{name}: {rb}");
            assert!(rb.get("keys").is_none(), "{name}: {rb}");
        }
    }
    // The salvage form needs its parts.
    let v = validator(None);
    let (r, _, _) = salvage_and_validate("table-truncated", &[]);
    for part in ["store", "requeue"] {
        let mut broken = r.clone();
        broken.as_object_mut().unwrap().remove(part);
        assert_invalid(&v, &broken, &format!("a salvage report without {part}"));
    }
    let mut both = r.clone();
    both["requeue"][0]["first_base64"] = json!("AA==");
    assert_invalid(&v, &both, "a key range end given as text and as base64");
    let mut extra = r.clone();
    extra["requeue"][0]["priority"] = json!(1);
    assert_invalid(&v, &extra, "an undocumented field in a requeue item");
}

#[test]
fn binary_keys_use_base64_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let db = fixtures_dir().join("binary-keys/db");
    let a = [
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--view".as_ref(),
        "all".as_ref(),
        "--quiet".as_ref(),
    ];
    let o = run(a);
    assert_eq!(code(&o), EXIT_OK, "{}", describe(&a, &o));
    let v = validator(Some("record"));
    let data = fs::read_to_string(out.join("records.jsonl")).unwrap();
    let lines: Vec<Value> = data
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for field in ["key_base64", "value_base64", "key", "value"] {
        assert!(
            lines.iter().any(|l| l.get(field).is_some()),
            "binary-keys has no line with {field}: the schema's alternative went untested"
        );
    }
    assert!(lines.iter().any(|l| l["kind"] == "delete"));
    for l in &lines {
        assert_valid(&v, l, "a binary-keys record");
    }
}

#[test]
fn out_stdout_report_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let rp = tmp.path().join("report.json");
    let db = fixtures_dir().join("log-bad-crc/db");
    let a = [
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        "-".as_ref(),
        "--report".as_ref(),
        rp.as_os_str(),
    ];
    let o = run(a);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&a, &o));
    let r = read_json(&rp);
    assert_eq!(r["salvage"]["out"], "-");
    assert_valid(&validator(None), &r, "the --out - report");
    let v = validator(Some("record"));
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        assert_valid(&v, &serde_json::from_str(l).unwrap(), "a streamed record");
    }
}

#[test]
fn schema_rejects_what_the_tool_never_writes() {
    let record = validator(Some("record"));
    let unverified = validator(Some("unverified_record"));
    let good = json!({"seq": 76, "kind": "put", "key": "k", "value": "v", "file": "000003.log", "offset": 4129});
    assert_valid(&record, &good, "a plain record");
    let mut both = good.clone();
    both["key_base64"] = json!("aw==");
    assert_invalid(&record, &both, "key and key_base64 together");
    let mut no_key = good.clone();
    no_key.as_object_mut().unwrap().remove("key");
    assert_invalid(&record, &no_key, "a record without a key");
    let del_with_value =
        json!({"seq": 1, "kind": "delete", "key": "k", "value": "v", "file": "1.log", "offset": 0});
    assert_invalid(&record, &del_with_value, "a delete with a value");
    let mut with_reason = good.clone();
    with_reason["reason"] = json!("checksum mismatch");
    assert_invalid(&record, &with_reason, "a reason in records.jsonl");
    assert_valid(&unverified, &with_reason, "an unverified line");
    assert_invalid(&unverified, &good, "an unverified line without a reason");
    let mut bad_b64 = good.clone();
    bad_b64.as_object_mut().unwrap().remove("value");
    bad_b64["value_base64"] = json!("not base64!");
    assert_invalid(&record, &bad_b64, "value_base64 that is not base64");

    // Reports: a real one, then broken copies.
    let report = validator(None);
    let db = fixtures_dir().join("stale-resurrect/db");
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid(&report, &r, "the stale-resurrect scan report");
    let mut extra = r.clone();
    extra["surprise"] = json!(1);
    assert_invalid(&report, &extra, "an undocumented top-level field");
    // scan tells salvage's story: a scan report without requeue or store
    // is one the tool no longer writes.
    let mut scan_without_requeue = r.clone();
    scan_without_requeue
        .as_object_mut()
        .unwrap()
        .remove("requeue");
    assert_invalid(
        &report,
        &scan_without_requeue,
        "a scan report without requeue",
    );
    let mut scan_without_store = r.clone();
    scan_without_store.as_object_mut().unwrap().remove("store");
    assert_invalid(&report, &scan_without_store, "a scan report without store");
    let mut bad_state = r.clone();
    bad_state["files"][0]["state"] = json!("resurrected");
    assert_invalid(&report, &bad_state, "a file state outside the enum");
    let mut bad_class = r.clone();
    bad_class["files"][0]["damage"][0]["class"] = json!("broken");
    assert_invalid(
        &report,
        &bad_class,
        "a damage class other than torn/garbled",
    );
    let mut unknown_in_file = r.clone();
    unknown_in_file["files"][0]["colour"] = json!("red");
    assert_invalid(
        &report,
        &unknown_in_file,
        "an undocumented field in files[]",
    );
    let mut no_summary = r.clone();
    no_summary.as_object_mut().unwrap().remove("summary");
    assert_invalid(&report, &no_summary, "a report without summary");
}

/// Reports with time windows dated by LOG lines (testdata/timed), read in
/// the writer's zone and in a wrong one.
#[test]
fn timed_reports_match() {
    let v = validator(None);
    let w = validator(Some("time_window"));
    for name in ["compacted", "reopened"] {
        let db = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/timed")
            .join(name)
            .join("db");
        for zone in ["Asia/Kolkata", "UTC"] {
            let a = [
                "scan".as_ref(),
                db.as_os_str(),
                "--log-timezone".as_ref(),
                zone.as_ref(),
                "--report".as_ref(),
                "-".as_ref(),
            ];
            let o = run(a);
            assert_eq!(code(&o), 1, "{}", describe(&a, &o));
            let r: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_valid(
                &v,
                &r,
                &format!("the scan report of timed/{name} in {zone}"),
            );
            assert!(!r["lost"]["sequence_ranges"].as_array().unwrap().is_empty());
        }
    }
    assert_invalid(
        &w,
        &json!({"from": "2026-12-02 07:18:48", "to": null, "from_evidence": "x", "to_evidence": "y"}),
        "a time that is not RFC 3339 UTC",
    );
    assert_invalid(
        &w,
        &json!({"from": null, "to": null, "from_evidence": "x"}),
        "a window without to_evidence",
    );
}
