//! Stores written by goleveldb and by classic-level (npm, C++ LevelDB 1.20),
//! healthy and damaged (testdata/writers, made by
//! testdata/gen/make_writers.py with each library's own dump of the
//! undamaged store as ground truth). For every fixture: the dialect and its
//! evidence, the damage located with its class and none where there is
//! none, no lost sequence range beyond the writes really lost (goleveldb
//! skips a sequence number at each reopen; that number is never a lost
//! write), the latest view equal to the library's own minus what the damage
//! took, the rebuilt store read back by the writer's own library (goleveldb
//! in its strict mode) to the same answers, and the input unchanged.

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

const VARIANTS: [&str; 6] = [
    "healthy",
    "log-torn",
    "log-garbled-mid",
    "log-garbled-first",
    "table-bitflip",
    "table-torn-footer",
];

fn writers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/writers")
}

fn expected(writer: &str, variant: &str) -> Value {
    read_json(
        &writers_dir()
            .join(writer)
            .join(variant)
            .join("expected.json"),
    )
}

type View = BTreeMap<Vec<u8>, Vec<u8>>;

fn view_of(map: &Value) -> View {
    map.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (hex(k), hex(v.as_str().unwrap())))
        .collect()
}

/// The latest view of what the damage left: the library's view of the
/// undamaged store with the differences the generator computed.
fn recoverable(e: &Value) -> View {
    let mut v = view_of(&e["latest"]);
    for (k, d) in e["recoverable_differs"].as_object().unwrap() {
        match d.as_str() {
            Some(val) => v.insert(hex(k), hex(val)),
            None => v.remove(&hex(k)),
        };
    }
    v
}

fn show_diff(a: &View, b: &View) -> String {
    let mut out = Vec::new();
    for k in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if a.get(k) != b.get(k) {
            out.push(format!(
                "{}: {:?} vs {:?}",
                show(k),
                a.get(k).map(|v| show(v)),
                b.get(k).map(|v| show(v))
            ));
        }
    }
    out.truncate(10);
    out.join("\n")
}

struct Run {
    code: i32,
    view: View,
    report: Value,
    out: tempfile::TempDir,
}

fn salvage(db: &Path, extra: &[&str]) -> Run {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("o");
    let mut args: Vec<&OsStr> = vec!["salvage".as_ref(), "--quiet".as_ref(), "--out".as_ref()];
    args.push(o.as_os_str());
    args.extend(extra.iter().map(|a| OsStr::new(*a)));
    args.push(db.as_os_str());
    let r = run(&args);
    let code = code(&r);
    assert!(code <= 1, "{}", describe(&args, &r));
    let recs = parse_ndjson(&std::fs::read(o.join("records.jsonl")).unwrap()).unwrap();
    let mut view = View::new();
    for r in recs {
        assert_eq!(r.kind, "put", "the latest view holds puts only");
        assert!(
            view.insert(r.key, r.value.unwrap()).is_none(),
            "a key twice"
        );
    }
    Run {
        code,
        view,
        report: read_json(&o.join("report.json")),
        out,
    }
}

/// The writer's own library reading a copy of `db` (it may write to what
/// it opens): `KEYHEX VALUEHEX` lines.
fn judge(writer: &str, db: &Path) -> Option<View> {
    let (_t, copy) = tools::copy_tree(db);
    let out = match writer {
        "goleveldb" => {
            let bin = tools::require_goleveldb_writer()?;
            Command::new(bin).arg("dump").arg(&copy).output().unwrap()
        }
        _ => {
            let modules = tools::require_classic_level()?;
            Command::new("node")
                .arg(tools::root().join("testdata/gen/classic_level/writer.js"))
                .arg("dump")
                .arg(&copy)
                .env("NODE_PATH", modules)
                .output()
                .unwrap()
        }
    };
    assert!(
        out.status.success(),
        "{writer} could not read {}: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v = View::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (k, val) = line.split_once(' ').unwrap();
        v.insert(hex(k), hex(val));
    }
    Some(v)
}

/// Every sequence number the report's lost ranges cover, `None` standing
/// for "and everything after" (an open range).
fn lost_seqs(report: &Value) -> (Vec<u64>, Option<u64>) {
    let mut closed = Vec::new();
    let mut open = None;
    for r in report["lost"]["sequence_ranges"].as_array().unwrap() {
        let first = r["first"].as_u64().unwrap();
        match r["last"].as_u64() {
            Some(last) => closed.extend(first..=last),
            None => open = Some(open.map_or(first, |o: u64| o.min(first))),
        }
    }
    closed.sort_unstable();
    (closed, open)
}

fn check(writer: &str, variant: &str) {
    let what = format!("{writer}/{variant}");
    let e = expected(writer, variant);
    let src = writers_dir().join(writer).join(variant).join("db");
    let (_tmp, db) = tools::copy_tree(&src);
    let before = snapshot(&db);

    let s = salvage(&db, &["--view", "latest"]);
    let store = &s.report["store"];

    // The dialect, with what decided it.
    let want = if writer == "goleveldb" {
        "goleveldb"
    } else {
        "leveldb"
    };
    assert_eq!(
        store["dialect"]["name"], want,
        "{what}: {}",
        store["dialect"]
    );
    let evidence: Vec<&str> = store["dialect"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    if writer == "goleveldb" {
        assert!(
            evidence.iter().any(|e| e.starts_with("MANIFEST-")),
            "{what}: the MANIFEST's evidence: {evidence:?}"
        );
        assert!(evidence.iter().any(|e| e.starts_with("LOG:")), "{what}");
    } else {
        assert!(
            evidence.iter().any(|e| e.contains("prev log number")),
            "{what}: the MANIFEST speaks for C++ LevelDB: {evidence:?}"
        );
    }

    // The damage, located, with its class; none elsewhere.
    let exp_damage = e["damage"].as_array().unwrap();
    let got = report_damage(&s.report);
    if exp_damage.is_empty() {
        assert!(
            got.is_empty(),
            "{what}: damage where there is none: {got:?}"
        );
        assert_eq!(s.code, EXIT_OK, "{what}");
    } else {
        assert_eq!(s.code, EXIT_DAMAGE, "{what}");
        for d in exp_damage {
            let (file, off, len) = (
                d["file"].as_str().unwrap(),
                d["offset"].as_u64().unwrap(),
                d["length"].as_u64().unwrap(),
            );
            assert!(
                got.iter().any(|g| g.file == file
                    && g.class == d["class"].as_str().unwrap()
                    && g.offset < off + len
                    && off < g.offset + g.length.max(1)),
                "{what}: {d} not reported: {got:?}"
            );
        }
        assert!(
            got.iter()
                .all(|g| exp_damage.iter().any(|d| d["file"] == g.file.as_str())),
            "{what}: damage in a file that was not damaged: {got:?}"
        );
    }

    // Lost sequence numbers: exactly the damaged log records', never the
    // number goleveldb skipped at a reopen, nothing for table damage.
    let lost: Vec<u64> = e["lost_log_seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let (closed, open) = lost_seqs(&s.report);
    if variant == "log-torn" {
        assert!(closed.is_empty(), "{what}: {closed:?}");
        assert_eq!(open, lost.first().copied(), "{what}: the open range");
    } else {
        assert_eq!(open, None, "{what}");
        assert_eq!(closed, lost, "{what}: lost sequence numbers");
    }
    let last_seq = store["last_sequence"].as_u64().unwrap();
    if writer == "goleveldb" {
        // goleveldb's MANIFEST records one past the last replayed write
        // at open: a number no write has.
        assert!(
            !closed.contains(&last_seq),
            "{what}: skipped {last_seq} reported lost"
        );
    }

    // The latest view: the library's own, minus what the damage took.
    let want = recoverable(&e);
    assert!(
        s.view == want,
        "{what}: latest view differs from the writer's:\n{}",
        show_diff(&s.view, &want)
    );
    if exp_damage.is_empty() {
        assert_eq!(s.view, view_of(&e["latest"]), "{what}");
    }

    // The rebuilt store, read by the writer's own library.
    let rb = salvage(&db, &["--view", "latest", "--rebuild"]);
    assert_eq!(rb.view, want, "{what}: the rebuild run's latest view");
    let rebuilt = rb.out.path().join("o").join("db");
    if let Some(theirs) = judge(writer, &rebuilt) {
        assert!(
            theirs == want,
            "{what}: {writer} reads the rebuilt store differently:\n{}",
            show_diff(&theirs, &want)
        );
    }
    drop(s);

    // The input is unchanged.
    let d = snapshot_diff(&before, &snapshot(&db));
    assert!(d.is_empty(), "{what}: input changed: {d:?}");
}

#[test]
fn goleveldb_stores() {
    for v in VARIANTS {
        check("goleveldb", v);
    }
}

#[test]
fn classic_level_stores() {
    for v in VARIANTS {
        check("classic-level", v);
    }
}

/// The undamaged stores read by their own library give the committed
/// ground truth (so the fixtures and the judges agree).
#[test]
fn judges_agree_with_the_ground_truth() {
    for writer in ["goleveldb", "classic-level"] {
        let e = expected(writer, "healthy");
        let db = writers_dir().join(writer).join("healthy").join("db");
        if let Some(v) = judge(writer, &db) {
            assert_eq!(v, view_of(&e["latest"]), "{writer}");
        }
    }
}

/// goleveldb is told from its MANIFEST alone, without its info log or
/// CURRENT.bak, and the skipped number stays out of the lost ranges; and
/// from its tables alone.
#[test]
fn goleveldb_without_its_info_log() {
    let src = writers_dir().join("goleveldb/log-garbled-first/db");
    let (_tmp, db) = tools::copy_tree(&src);
    for f in ["LOG", "LOG.old", "CURRENT.bak"] {
        let _ = std::fs::remove_file(db.join(f));
    }
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["store"]["dialect"]["name"], "goleveldb", "{}", r["store"]);
    let e = expected("goleveldb", "log-garbled-first");
    let lost: Vec<u64> = e["lost_log_seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(lost_seqs(&r).0, lost);

    // Without the MANIFEST too, its tables' bloom filter still says so.
    for f in ["CURRENT", "MANIFEST-000010"] {
        std::fs::remove_file(db.join(f)).unwrap();
    }
    let o = run([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &r["store"]["dialect"];
    assert_eq!(d["name"], "goleveldb", "{d}");
    assert!(d["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e.as_str().unwrap().contains("BuiltinBloomFilter`")));
}
