//! `salvage --rebuild` as a repair: intact live tables copied byte for byte
//! at their MANIFEST levels with their recorded sizes and key ranges, the
//! rest written anew. Every rebuilt store is judged by C++ LevelDB
//! (plyvel, paranoid checks): every key of the latest view answers its
//! value, every key the all view holds and the latest view does not
//! (deleted) answers nothing, and both still hold after `compact_range()`.
//! The stores: every fixture, stores LevelDB itself wrote over several
//! levels (then damaged: a flipped table block, a lost MANIFEST), one
//! goleveldb spread over levels 1 to 5 (judged by goleveldb too), and the
//! same rebuild under `--jobs 1` and `--jobs 3`, which must be identical.
//!
//! Needs Python with plyvel (`tests/it/common/tools.rs`): skipped outside CI
//! without it, failed in CI.

use crate::common;

use common::tools::{self, root};
use ldbsalvage::format::manifest::{NewFile, VersionState};
use ldbsalvage::progress::Silent;
use ldbsalvage::scan::store::{list_inputs, scan_file};
use ldbsalvage::scan::Discard;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> Option<PathBuf> {
    tools::require("python3 with plyvel (C++ LevelDB)", tools::plyvel_python())
}

/// `ldbsalvage salvage DB --out OUT --quiet EXTRA...`; exit 0 or 1 wanted.
fn salvage(db: &Path, out: &Path, extra: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_ldbsalvage"))
        .arg("salvage")
        .arg(db)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{} {extra:?}: {:?} {}",
        db.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    common::read_json(&out.join("report.json"))
}

/// The version a MANIFEST describes, read by the crate's own scanner.
fn version(manifest: &Path) -> VersionState {
    let inputs = list_inputs(&[manifest.to_path_buf()]).unwrap();
    let s = scan_file(&inputs[0], &mut Discard, &Silent);
    s.manifest.expect("a MANIFEST with edits")
}

fn current_manifest(db: &Path) -> PathBuf {
    let c = fs::read_to_string(db.join("CURRENT")).unwrap();
    db.join(c.trim_end())
}

/// What one rebuild did, checked.
struct Rebuilt {
    report: Value,
    /// The original's live tables copied, by number, with their MANIFEST
    /// entries (the original's and the rebuilt store's).
    kept: BTreeMap<u64, (NewFile, NewFile)>,
}

/// Rebuild `db` into `work/o` and judge it: plyvel answers every key as
/// the latest view does (deletes included) before and after
/// compact_range; in a repair every intact live table is in `db/`
/// byte for byte, under the same number, at the same level with the same
/// recorded size and key range.
fn rebuild_and_check(py: &Path, db: &Path, work: &Path) -> Rebuilt {
    let o = work.join("o");
    let all = work.join("all");
    let report = salvage(db, &o, &["--rebuild"]);
    salvage(db, &all, &["--view", "all"]);
    let rb = report["salvage"]["rebuilt"].clone();
    let what = format!("{}: {rb}", db.display());
    // Without a records export a repair reads only the kept tables' blocks
    // that new entries may meet, and must build the very same store.
    let built = tree(&o.join("db"));
    let bare = work.join("bare");
    let r2 = salvage(db, &bare, &["--rebuild", "--view", "none"]);
    assert!(!bare.join("records.jsonl").exists(), "{what}");
    assert_eq!(r2["salvage"]["view"], "none", "{what}");
    assert!(
        tree(&bare.join("db")) == built,
        "{what}: --view none built another store"
    );
    // It tells the same story of the store: the files' verdicts, damage
    // and sequences, and the same unverified entries.
    assert_eq!(r2["files"], report["files"], "{what}");
    assert_eq!(
        fs::read(bare.join("unverified.jsonl")).unwrap(),
        fs::read(o.join("unverified.jsonl")).unwrap(),
        "{what}"
    );
    let mut rb2 = r2["salvage"]["rebuilt"].clone();
    if rb["mode"] == "repair" && rb["kept_tables"].as_u64() > Some(0) {
        // Its kept tables were not all read again: no count of keys.
        assert!(rb2.get("keys").is_none(), "{what}: {rb2}");
    }
    let mut rb1 = rb.clone();
    for r in [&mut rb1, &mut rb2] {
        r.as_object_mut()
            .unwrap()
            .retain(|k, _| k != "keys" && k != "path");
    }
    assert_eq!(rb1, rb2, "{what}");
    let res = Command::new(py)
        .arg(root().join("tests/interop/check_repair.py"))
        .arg(o.join("db"))
        .arg(o.join("records.jsonl"))
        .arg(all.join("records.jsonl"))
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let said = String::from_utf8_lossy(&res.stdout);
    let puts: u64 = said.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(rb["keys"], puts, "{what}");

    let mut kept = BTreeMap::new();
    match rb["mode"].as_str() {
        Some("repair") => {
            assert!(rb.get("reason").is_none(), "{what}");
            let before = version(&current_manifest(db));
            // The rebuilt store was compacted by the check: its MANIFEST
            // is read from a second, untouched rebuild.
            let o2 = work.join("o2");
            salvage(db, &o2, &["--rebuild"]);
            let after = version(&current_manifest(&o2.join("db")));
            for f in report["files"].as_array().unwrap() {
                let intact = f["kind"] == "table"
                    && f["state"] == "live"
                    && f["damage"].as_array().is_none_or(|d| d.is_empty())
                    && f["error"].is_null()
                    && f["unverified_entries"] == 0;
                if !intact {
                    continue;
                }
                let name = f["name"].as_str().unwrap();
                let number: u64 = name.split('.').next().unwrap().parse().unwrap();
                assert_eq!(
                    fs::read(o2.join("db").join(name)).ok(),
                    Some(fs::read(db.join(name)).unwrap()),
                    "{what}: intact live table {name} copied byte for byte"
                );
                let (was, is) = (&before.files[&number], &after.files[&number]);
                assert_eq!(was, is, "{what}: {name}'s MANIFEST entry kept");
                kept.insert(number, (was.1.clone(), is.1.clone()));
            }
            assert_eq!(rb["kept_tables"], kept.len() as u64, "{what}");
        }
        Some("latest") => {
            assert!(
                rb["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{what}: a rebuild that is not a repair says why"
            );
            assert_eq!(rb["kept_tables"], 0, "{what}");
        }
        m => panic!("{what}: mode {m:?}"),
    }
    Rebuilt { report, kept }
}

#[test]
fn every_fixture_rebuilds_and_answers_as_the_latest_view() {
    let Some(py) = python() else { return };
    let mut repairs = 0;
    let mut kept = 0;
    let names = common::fixture_names();
    for name in &names {
        let (tmp, db) = common::copy_fixture_db(name);
        let r = rebuild_and_check(&py, &db, tmp.path());
        if r.report["salvage"]["rebuilt"]["mode"] == "repair" {
            repairs += 1;
            kept += r.kept.len();
        }
    }
    assert!(names.len() >= 20, "{} fixtures", names.len());
    // The healthy table fixtures (and the damaged ones with a good MANIFEST)
    // are repairs keeping tables; no-manifest and manifest-damaged are not.
    assert!(repairs >= 10 && kept >= 5, "{repairs} repairs, {kept} kept");
    for (name, why) in [("no-manifest", "MANIFEST"), ("manifest-damaged", "damaged")] {
        let (tmp, db) = common::copy_fixture_db(name);
        let r = rebuild_and_check(&py, &db, tmp.path());
        let rb = &r.report["salvage"]["rebuilt"];
        assert_eq!(rb["mode"], "latest", "{name}: {rb}");
        assert!(rb["reason"].as_str().unwrap().contains(why), "{name}: {rb}");
    }
}

/// A store LevelDB wrote over several levels. A flush (compact_range of an
/// empty range) puts a table at level 2 when it meets no table (LevelDB's
/// `PickLevelForMemTableOutput`, at most level 2), at level 1 when it meets
/// one at level 2, at level 0 when it meets one at level 1: two runs at
/// level 2, overwrites of part of the first at level 1, of part of those at
/// level 0. Then deletes of keys all of them hold, and puts back, left in
/// the log. (Level 3 would need 100 MB at level 2: more than a test writes.)
fn leveled_store(py: &Path, dir: &Path) -> PathBuf {
    let src = dir.join("src");
    let gen = format!(
        "import plyvel, hashlib\n\
         db = plyvel.DB({:?}, create_if_missing=True, write_buffer_size=4<<20)\n\
         def run(lo, hi, tag):\n\
         \x20   for i in range(lo, hi):\n\
         \x20       db.put(b'key%08d' % i, hashlib.sha256(b'%s-%d' % (tag, i)).digest() * 2)\n\
         \x20   db.compact_range(start=b'~0', stop=b'~1')\n\
         run(0, 8000, b'a'); run(20000, 26000, b'b'); run(1000, 3000, b'c'); run(2000, 2500, b'd')\n\
         for i in range(0, 26000, 11):\n\
         \x20   db.delete(b'key%08d' % i)\n\
         for i in range(0, 26000, 97):\n\
         \x20   db.put(b'key%08d' % i, b'back')\n\
         db.close()\n",
        src.display().to_string()
    );
    let st = Command::new(py).args(["-c", &gen]).status().unwrap();
    assert!(st.success());
    src
}

/// The levels the live tables of a store's MANIFEST are at.
fn levels(db: &Path) -> BTreeMap<u64, u32> {
    version(&current_manifest(db))
        .files
        .iter()
        .map(|(&n, (l, _))| (n, *l))
        .collect()
}

#[test]
fn tables_at_levels_0_to_2_stay_there() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = leveled_store(&py, tmp.path());
    let was = levels(&src);
    let used: std::collections::BTreeSet<u32> = was.values().copied().collect();
    assert_eq!(
        used,
        [0, 1, 2].into(),
        "the writer placed tables at levels {was:?}"
    );
    let r = rebuild_and_check(&py, &src, tmp.path());
    let rb = &r.report["salvage"]["rebuilt"];
    assert_eq!(rb["mode"], "repair", "{rb}");
    assert_eq!(r.kept.len(), was.len(), "every live table kept: {rb}");
    for (n, (old, new)) in &r.kept {
        assert_eq!(old.level, was[n]);
        assert_eq!(new.level, was[n], "table {n}");
    }
    // The log's deletes of keys the kept tables hold are written anew.
    assert!(rb["tombstones"].as_u64().unwrap() > 0, "{rb}");
}

/// A store goleveldb spread over levels 1 to 4 by its own size
/// compactions (`write-deep`: levels of a few KiB, tables of 1 KiB; see
/// `testdata/gen/goleveldb_writer`), deletes included and the last writes
/// left in its journal. C++ LevelDB's level sizes are fixed: a table of
/// its reaches level 3 only past 100 MiB at level 2.
fn deep_goleveldb_store(writer: &Path, dir: &Path) -> PathBuf {
    // Values of 128 bytes that snappy cannot shrink, keys drawn from 3,000:
    // ~100 KiB of tables, overwrites of keys at every level.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02x}")).collect::<String>();
    let mut steps = Vec::new();
    for b in 0..200 {
        let mut batch = Vec::new();
        for _ in 0..4 {
            let key = format!("k{:06}", next() % 3000);
            let value: Vec<u8> = (0..16).flat_map(|_| next().to_le_bytes()).collect();
            batch.push(serde_json::json!(["put", hex(key.as_bytes()), hex(&value)]));
        }
        if b % 10 == 0 {
            let key = format!("k{:06}", next() % 3000);
            batch.push(serde_json::json!(["del", hex(key.as_bytes())]));
        }
        steps.push(serde_json::json!({ "batch": batch }));
    }
    steps.push(serde_json::json!({ "settle": true }));
    let ops = dir.join("ops.json");
    fs::write(&ops, serde_json::to_vec(&steps).unwrap()).unwrap();
    let src = dir.join("src");
    let st = Command::new(writer)
        .arg("write-deep")
        .arg(&src)
        .arg(&ops)
        .status()
        .unwrap();
    assert!(st.success());
    src
}

/// goleveldb's strict read of a store's every key (`dump`).
fn goleveldb_dump(writer: &Path, db: &Path) -> String {
    let (_t, copy) = tools::copy_tree(db);
    let o = Command::new(writer)
        .arg("dump")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "goleveldb could not read {}: {}",
        db.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn tables_at_levels_1_to_3_and_below_stay_there() {
    let Some(py) = python() else { return };
    let Some(go) = tools::require_goleveldb_writer() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = deep_goleveldb_store(&go, tmp.path());
    let was = levels(&src);
    let used: std::collections::BTreeSet<u32> = was.values().copied().collect();
    assert!(
        [1, 2, 3].iter().all(|l| used.contains(l)),
        "goleveldb placed tables at levels {was:?}"
    );
    let r = rebuild_and_check(&py, &src, tmp.path());
    let rb = &r.report["salvage"]["rebuilt"];
    assert_eq!(rb["mode"], "repair", "{rb}");
    assert_eq!(r.kept.len(), was.len(), "every live table kept: {rb}");
    for (n, (old, new)) in &r.kept {
        assert_eq!(old.level, was[n]);
        assert_eq!(new.level, was[n], "table {n}");
    }
    // The journal's writes are written anew.
    assert!(rb["new_tables"].as_u64().unwrap() >= 1, "{rb}");
    // goleveldb, strict, reads the rebuilt store (the copy the check did
    // not compact) as it reads its own.
    let theirs = goleveldb_dump(&go, &src);
    assert!(
        theirs.lines().count() > 500,
        "{} keys",
        theirs.lines().count()
    );
    assert_eq!(goleveldb_dump(&go, &tmp.path().join("o2/db")), theirs);
}

/// Flip a byte in the middle of the largest live table: its block fails
/// its checksum, the table is not kept, its intact entries are written anew.
fn damage_a_table(db: &Path) -> String {
    let v = version(&current_manifest(db));
    let (&n, _) = v
        .files
        .iter()
        .max_by_key(|(_, (_, f))| f.file_size)
        .unwrap();
    let name = format!("{n:06}.ldb");
    let p = db.join(&name);
    let mut b = fs::read(&p).unwrap();
    let mid = b.len() / 3;
    b[mid] ^= 0x40;
    fs::write(&p, b).unwrap();
    name
}

#[test]
fn a_damaged_table_is_written_anew_and_the_rest_kept() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = leveled_store(&py, tmp.path());
    let live = levels(&src).len();
    let name = damage_a_table(&src);
    let r = rebuild_and_check(&py, &src, tmp.path());
    let rb = &r.report["salvage"]["rebuilt"];
    assert_eq!(rb["mode"], "repair", "{rb}");
    assert_eq!(r.kept.len(), live - 1, "{rb}");
    let n: u64 = name[..6].parse().unwrap();
    assert!(!r.kept.contains_key(&n), "{name} is damaged: {rb}");
    assert!(rb["new_tables"].as_u64().unwrap() >= 1, "{rb}");
}

#[test]
fn a_lost_manifest_falls_back_to_the_latest_view_and_says_so() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = leveled_store(&py, tmp.path());
    fs::remove_file(current_manifest(&src)).unwrap();
    let r = rebuild_and_check(&py, &src, tmp.path());
    let rb = &r.report["salvage"]["rebuilt"];
    assert_eq!(rb["mode"], "latest", "{rb}");
    assert!(rb["reason"].as_str().unwrap().contains("MANIFEST"), "{rb}");
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    common::snapshot(dir)
        .into_iter()
        .filter_map(|(p, n)| match n {
            common::Node::File(b) => Some((p, b)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_same_store_for_any_jobs() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = leveled_store(&py, tmp.path());
    // A log big enough for several new tables, so that they are built side
    // by side.
    let gen = format!(
        "import plyvel, hashlib\n\
         db = plyvel.DB({:?}, write_buffer_size=64<<20)\n\
         for i in range(40000):\n\
         \x20   db.put(b'log%08d' % i, hashlib.sha256(b'%d' % i).digest() * 6)\n\
         db.close()\n",
        src.display().to_string()
    );
    // plyvel recovers the old log into a table on open; the new writes stay
    // in the new log (write buffer 64 MiB).
    let st = Command::new(&py).args(["-c", &gen]).status().unwrap();
    assert!(st.success());
    damage_a_table(&src);
    let mut outs = Vec::new();
    for jobs in ["1", "3"] {
        let o = tmp.path().join(format!("jobs{jobs}"));
        let r = salvage(&src, &o, &["--rebuild", "--jobs", jobs]);
        let rb = &r["salvage"]["rebuilt"];
        assert_eq!(rb["mode"], "repair", "{rb}");
        assert!(rb["new_tables"].as_u64().unwrap() >= 4, "{rb}");
        outs.push((
            tree(&o.join("db")),
            fs::read(o.join("records.jsonl")).unwrap(),
        ));
    }
    assert!(
        outs[0].0 == outs[1].0,
        "db/ differs between --jobs 1 and --jobs 3"
    );
    assert!(outs[0].1 == outs[1].1, "records.jsonl differs");
    // And it is a good store.
    let check = tmp.path().join("check");
    fs::create_dir(&check).unwrap();
    rebuild_and_check(&py, &src, &check);
}
