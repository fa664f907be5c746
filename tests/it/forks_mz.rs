//! Stores written by Mojang's leveldb-mcpe (Minecraft Bedrock: raw deflate
//! id 4, zstd id 3, zlib under id 2) and by google/leveldb main with zstd
//! tables (id 2), from `testdata/forks/` (`testdata/gen/make_forks.py`):
//! the dialect is named with its evidence, damage is found where it was
//! made and nowhere else, the latest view is the writer's own minus what
//! the damage took, the input is never touched, and the rebuilt store opens
//! in the writer's own library (paranoid checks, verified reads) to exactly
//! the latest view the salvage exported.

use crate::common;

use common::tools;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Fx {
    name: String,
    db: PathBuf,
    writer: String,
    dialect: String,
    evidence: String,
    latest: BTreeMap<Vec<u8>, Vec<u8>>,
    damage: Vec<ExpDamage>,
    lost: BTreeSet<Vec<u8>>,
    /// Every value a lost key ever had (`None`: a delete).
    history: BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>>,
}

fn forks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/forks")
}

fn fixtures() -> Vec<Fx> {
    let mut out = Vec::new();
    let mut sets: Vec<_> = fs::read_dir(forks_dir())
        .expect("testdata/forks")
        .map(|e| e.unwrap().path())
        .collect();
    sets.sort();
    for set in sets.iter().filter(|p| p.is_dir()) {
        let mut variants: Vec<_> = fs::read_dir(set)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("expected.json").is_file())
            .collect();
        variants.sort();
        for v in variants {
            let e = read_json(&v.join("expected.json"));
            let s = |k: &str| e[k].as_str().expect(k).to_string();
            let keys = |a: &Value| -> BTreeSet<Vec<u8>> {
                a.as_array()
                    .unwrap()
                    .iter()
                    .map(|k| hex(k.as_str().unwrap()))
                    .collect()
            };
            out.push(Fx {
                name: s("name"),
                db: v.join("db"),
                writer: s("writer"),
                dialect: s("dialect"),
                evidence: s("evidence"),
                latest: e["latest"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (hex(k), hex(v.as_str().unwrap())))
                    .collect(),
                damage: e["damage"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| ExpDamage {
                        file: d["file"].as_str().unwrap().to_string(),
                        offset: d["offset"].as_u64().unwrap(),
                        length: d["length"].as_u64().unwrap(),
                        class: d["class"].as_str().unwrap().to_string(),
                    })
                    .collect(),
                lost: keys(&e["lost_keys"]),
                history: e["history"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, vs)| {
                        let vs = vs
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().map(hex))
                            .collect();
                        (hex(k), vs)
                    })
                    .collect(),
            });
        }
    }
    assert!(
        out.len() >= 20,
        "testdata/forks holds {} fixtures; run testdata/gen/make_forks.py",
        out.len()
    );
    out
}

/// Run `args` (the input is `db`, copied aside) and check that the copy was
/// not touched.
fn run_on_copy(
    fx: &Fx,
    args: impl Fn(&Path, &Path) -> Vec<String>,
) -> (std::process::Output, PathBuf, tempfile::TempDir) {
    let (keep, db) = tools::copy_tree(&fx.db);
    let before = snapshot(&db);
    let work = tempfile::tempdir().unwrap();
    let a = args(&db, work.path());
    let o = run(&a);
    let diff = snapshot_diff(&before, &snapshot(&db));
    assert!(diff.is_empty(), "{}: the input changed: {diff:?}", fx.name);
    drop(keep);
    (o, work.path().to_path_buf(), work)
}

#[test]
fn scan_names_the_dialect_and_finds_the_damage() {
    let mut problems = Vec::new();
    for fx in fixtures() {
        let (o, work, _keep) = run_on_copy(&fx, |db, w| {
            vec![
                "scan".into(),
                db.display().to_string(),
                "--report".into(),
                w.join("r.json").display().to_string(),
            ]
        });
        let want = if fx.damage.is_empty() {
            EXIT_OK
        } else {
            EXIT_DAMAGE
        };
        if code(&o) != want {
            problems.push(format!("{}: {}", fx.name, describe(&["scan"], &o)));
            continue;
        }
        let r = read_json(&work.join("r.json"));
        let d = &r["store"]["dialect"];
        if d["name"] != fx.dialect.as_str() || d["supported"] != true {
            problems.push(format!("{}: dialect {d}, want {}", fx.name, fx.dialect));
        }
        let evidence: Vec<&str> = d["evidence"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !evidence.iter().any(|e| e.contains(&fx.evidence)) {
            problems.push(format!(
                "{}: no evidence says {:?}: {evidence:?}",
                fx.name, fx.evidence
            ));
        }
        let reported = report_damage(&r);
        for want in &fx.damage {
            if !reported.iter().any(|x| {
                x.file == want.file
                    && x.class == want.class
                    && overlaps(want.offset, want.length, x.offset, x.length)
            }) {
                problems.push(format!(
                    "{}: {} {}+{} {} not reported; reported: {:?}",
                    fx.name,
                    want.file,
                    want.offset,
                    want.length,
                    want.class,
                    reported
                        .iter()
                        .map(|x| format!(
                            "{} {}+{} {} ({})",
                            x.file, x.offset, x.length, x.class, x.reason
                        ))
                        .collect::<Vec<_>>()
                ));
            }
        }
        for x in &reported {
            if !fx.damage.iter().any(|d| d.file == x.file) {
                problems.push(format!(
                    "{}: damage where there is none: {} {}+{} {} ({})",
                    fx.name, x.file, x.offset, x.length, x.class, x.reason
                ));
            }
        }
        for (f, e) in report_errors(&r) {
            if !fx.damage.iter().any(|d| d.file == f) {
                problems.push(format!("{}: error on an undamaged file {f}: {e}", fx.name));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The latest view a salvage exported, key to value.
fn exported_latest(fx: &Fx, out: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap())
        .unwrap_or_else(|e| panic!("{}: records.jsonl: {e}", fx.name));
    let mut m = BTreeMap::new();
    for r in recs {
        assert_eq!(r.kind, "put", "{}: the latest view holds a delete", fx.name);
        let v = r.value.expect("put value");
        assert!(
            m.insert(r.key.clone(), v).is_none(),
            "{}: key {} exported twice",
            fx.name,
            show(&r.key)
        );
    }
    m
}

/// The exported view against the writer's: every key no damage touched has
/// exactly the writer's value; a key whose entry was in a damaged unit is
/// absent or has a value it really had once.
fn check_latest(fx: &Fx, got: &BTreeMap<Vec<u8>, Vec<u8>>, problems: &mut Vec<String>) {
    for (k, v) in &fx.latest {
        if fx.lost.contains(k) {
            continue;
        }
        match got.get(k) {
            Some(g) if g == v => {}
            other => problems.push(format!(
                "{}: key {} is {:?}, the writer says {}",
                fx.name,
                show(k),
                other.map(|g| show(g)),
                show(v)
            )),
        }
    }
    for (k, g) in got {
        if fx.lost.contains(k) {
            let had = fx
                .history
                .get(k)
                .is_some_and(|h| h.contains(&Some(g.clone())));
            if !had {
                problems.push(format!(
                    "{}: lost key {} exported with a value it never had: {}",
                    fx.name,
                    show(k),
                    show(g)
                ));
            }
        } else if !fx.latest.contains_key(k) {
            problems.push(format!(
                "{}: key {} exported, but the writer has none (deleted or never written)",
                fx.name,
                show(k)
            ));
        }
    }
    if fx.damage.is_empty() && got != &fx.latest {
        problems.push(format!("{}: healthy store, latest view differs", fx.name));
    }
}

#[test]
fn salvage_latest_is_the_writers_view_minus_the_damage() {
    let mut problems = Vec::new();
    for fx in fixtures() {
        let (o, work, _keep) = run_on_copy(&fx, |db, w| {
            vec![
                "salvage".into(),
                db.display().to_string(),
                "--out".into(),
                w.join("out").display().to_string(),
                "--view".into(),
                "latest".into(),
            ]
        });
        let want = if fx.damage.is_empty() {
            EXIT_OK
        } else {
            EXIT_DAMAGE
        };
        if code(&o) != want {
            problems.push(format!("{}: {}", fx.name, describe(&["salvage"], &o)));
            continue;
        }
        let got = exported_latest(&fx, &work.join("out"));
        check_latest(&fx, &got, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `WRITER DB --dump`: the live view through the fork's own library, opened
/// with paranoid checks and read with verified checksums.
fn dump(writer: &Path, db: &Path) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    // The dump opens (and may recover into) the store: give it a copy.
    let (_keep, copy) = tools::copy_tree(db);
    let o = Command::new(writer)
        .arg(&copy)
        .arg("--dump")
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (hex(k), hex(v))
        })
        .collect())
}

#[test]
fn rebuilt_store_opens_in_the_writers_library() {
    let mut problems = Vec::new();
    let mut writers: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    for fx in fixtures() {
        let writer = writers
            .entry(fx.writer.clone())
            .or_insert_with(|| tools::require_fork_writer(&fx.writer))
            .clone();
        let Some(writer) = writer else { continue };
        // The judge reads the fixture as its writer does: the healthy
        // fixture's dump is the committed latest view.
        if fx.damage.is_empty() {
            match dump(&writer, &fx.db) {
                Ok(d) if d == fx.latest => {}
                Ok(_) => problems.push(format!(
                    "{}: the writer's dump differs from expected.json",
                    fx.name
                )),
                Err(e) => problems.push(format!(
                    "{}: the writer cannot read the fixture: {e}",
                    fx.name
                )),
            }
        }
        let (o, work, _keep) = run_on_copy(&fx, |db, w| {
            vec![
                "salvage".into(),
                db.display().to_string(),
                "--out".into(),
                w.join("out").display().to_string(),
                "--view".into(),
                "latest".into(),
                "--rebuild".into(),
            ]
        });
        let want = if fx.damage.is_empty() {
            EXIT_OK
        } else {
            EXIT_DAMAGE
        };
        if code(&o) != want {
            problems.push(format!(
                "{}: {}",
                fx.name,
                describe(&["salvage", "--rebuild"], &o)
            ));
            continue;
        }
        let out = work.join("out");
        codecs_the_fork_reads(&fx, &out.join("db"), &mut problems);
        let exported = exported_latest(&fx, &out);
        check_latest(&fx, &exported, &mut problems);
        match dump(&writer, &out.join("db")) {
            Ok(d) if d == exported => {}
            Ok(d) => problems.push(format!(
                "{}: the rebuilt store holds {} keys through {}, the export {}",
                fx.name,
                d.len(),
                fx.writer,
                exported.len()
            )),
            Err(e) => problems.push(format!(
                "{}: {} cannot read the rebuilt store: {e}",
                fx.name, fx.writer
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The rebuilt tables' blocks use only codecs the dialect's library reads
/// whatever else it was built with: Bedrock registers raw deflate and zlib
/// (`mcpe_sample_setup.cpp`), so a mojang rebuild is raw deflate; a
/// zstd store stays zstd.
fn codecs_the_fork_reads(fx: &Fx, db: &Path, problems: &mut Vec<String>) {
    let allowed: &[&str] = match (fx.dialect.as_str(), fx.writer.as_str()) {
        ("mojang", _) => &["none", "raw-deflate"],
        (_, "zstd_writer") => &["none", "zstd"],
        _ => &["none", "snappy"],
    };
    let mut tables: Vec<PathBuf> = fs::read_dir(db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ldb"))
        .collect();
    tables.sort();
    assert!(
        !tables.is_empty(),
        "{}: the rebuilt store has no table",
        fx.name
    );
    for t in tables {
        let o = run([
            "inspect".to_string(),
            t.display().to_string(),
            "--json".into(),
        ]);
        assert_eq!(code(&o), EXIT_OK, "{}", describe(&["inspect"], &o));
        let mut compressed = 0;
        for line in o.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let row: Value = serde_json::from_slice(line).unwrap();
            let Some(c) = row["compression"].as_str() else {
                continue;
            };
            if !allowed.contains(&c) {
                problems.push(format!(
                    "{}: rebuilt {} has a {c} block, which {} may not read",
                    fx.name,
                    t.display(),
                    fx.dialect
                ));
            }
            compressed += usize::from(c != "none");
        }
        if compressed == 0 {
            problems.push(format!(
                "{}: rebuilt {} is not compressed",
                fx.name,
                t.display()
            ));
        }
    }
}

/// leveldb-mcpe reads a CURRENT ending in "\r\n" (`VersionSet::Recover`):
/// the MANIFEST it names is the one used, and the line ending is evidence
/// of the fork.
#[test]
fn current_ending_in_crlf_names_its_manifest() {
    let fx = fixtures()
        .into_iter()
        .find(|f| f.name == "mcpe-zlibraw/healthy")
        .expect("mcpe-zlibraw/healthy");
    let (_keep, db) = tools::copy_tree(&fx.db);
    let current = fs::read_to_string(db.join("CURRENT")).unwrap();
    let manifest = current.trim_end().to_string();
    fs::write(db.join("CURRENT"), format!("{manifest}\r\n")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let report = work.path().join("r.json");
    let args = [
        "scan".to_string(),
        db.display().to_string(),
        "--report".into(),
        report.display().to_string(),
    ];
    let o = run(&args);
    assert_eq!(code(&o), EXIT_OK, "{}", describe(&args, &o));
    let r = read_json(&report);
    assert_eq!(r["store"]["current"], manifest.as_str(), "{}", r["store"]);
    assert_eq!(r["store"]["manifest"], manifest.as_str());
    assert!(r["store"]["current_error"].is_null(), "{}", r["store"]);
    let evidence = r["store"]["dialect"]["evidence"].to_string();
    assert!(evidence.contains("CURRENT ends in"), "{evidence}");
}

/// Bedrock writes ~160 KiB blocks. A store written that way (incompressible
/// values, so the blocks are stored whole at 160 KiB) with its first data
/// block garbled and its footer torn: the blocks after the damage are found
/// by their checksums alone and every entry in them comes back with the
/// writer's value.
#[test]
fn bedrock_sized_blocks_survive_damage_and_a_torn_footer() {
    let Some(writer) = tools::require_fork_writer("mcpe_writer") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    // Values from a fixed xorshift stream: incompressible, reproducible.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut ops = String::new();
    for i in 0..8000u32 {
        let v: String = (0..60)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{:02x}", x as u8)
            })
            .collect();
        ops.push_str(&format!(
            "put {} {v}\n",
            to_hex(format!("k{i:06}").as_bytes())
        ));
        if i % 5 == 4 {
            ops.push_str("batch\n");
        }
    }
    ops.push_str("compact\n");
    let mut child = Command::new(&writer)
        .arg(&db)
        .args(["--block-size=163840", "--write-buffer=4194304"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ops.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let truth = dump(&writer, &db).unwrap();
    assert_eq!(truth.len(), 8000);
    let table = fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "ldb"))
        .expect("a table after compact");
    let name = table.file_name().unwrap().to_string_lossy().into_owned();
    let mut bytes = fs::read(&table).unwrap();
    assert!(bytes.len() > 3 * 160_000, "{} bytes", bytes.len());
    bytes[40_000] ^= 0x40;
    bytes.truncate(bytes.len() - 11);
    fs::write(&table, &bytes).unwrap();

    let before = snapshot(&db);
    let out = work.path().join("out");
    let args = [
        "salvage".to_string(),
        db.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    let o = run(&args);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    assert!(snapshot_diff(&before, &snapshot(&db)).is_empty());
    let r = read_json(&out.join("report.json"));
    // (No dialect asserted: the footer that leads to the one compressed
    // block, the index, is gone, and stored blocks (id 0) say nothing.)
    let dmg = report_damage(&r);
    assert!(
        dmg.iter().any(|d| d.file == name
            && d.class == "garbled"
            && overlaps(40_000, 1, d.offset, d.length)),
        "{dmg:?}"
    );
    let end = bytes.len() as u64;
    assert!(
        dmg.iter()
            .any(|d| d.file == name && d.class == "torn" && d.offset + d.length == end),
        "{dmg:?}"
    );
    let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap()).unwrap();
    for r in &recs {
        assert_eq!(
            truth.get(&r.key),
            r.value.as_ref(),
            "key {} has a wrong value",
            show(&r.key)
        );
    }
    // Only the first block's entries (160 KiB of ~75-byte entries) are lost.
    assert!(
        recs.len() < 8000 && recs.len() > 8000 - 2400,
        "{} of 8000 keys recovered",
        recs.len()
    );
}
