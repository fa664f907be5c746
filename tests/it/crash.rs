//! Output that survives a crash of ours: `salvage --out OUT` (and
//! `--rebuild`) killed with SIGKILL at many points leaves, under each final
//! name (`records.jsonl`, `unverified.jsonl`, `report.json`, `db/`, the
//! `--report FILE`), either nothing or the complete file: byte for byte what
//! an uninterrupted run writes (the report: the same JSON, less the output
//! path). Only temporary names (`.NAME.tmp-PID`, `.db.tmp-PID`) may hold
//! partial data. A report on disk means every export beside it is complete.
//!
//! The kills come at seeded random delays over the length of a full run, and
//! at the moments the interesting windows open: as soon as `db/`,
//! `records.jsonl` or `unverified.jsonl` appears (the process is then between
//! two commits).
//!
//! The protocol behind it is checked too, under strace on a small store:
//! every output is written under its temporary name, fsynced, renamed, and
//! its directory fsynced; the rebuilt store's files and directory are fsynced
//! before the directory is renamed; `OUT` itself is made durable in its
//! parent; `report.json` is renamed into place after everything else.
//!
//! The store is a ~100 MB log written with the project's own writers
//! (`LogWriter`, `BatchBuilder`), with one garbled record so that the
//! unverified export is not empty.

use crate::common;

use common::*;
use ldbsalvage::format::batch::BatchBuilder;
use ldbsalvage::salvage::log_writer::LogWriter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Log size: ~100 MB in release; small in debug builds.
const TARGET_BYTES: usize = if cfg!(debug_assertions) {
    8 << 20
} else {
    100 << 20
};
const VALUE_LEN: usize = 1000;
const PUTS_PER_BATCH: usize = 10;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The large store, built once per test binary (in a temp dir kept for the
/// process's life).
fn big_store() -> &'static Path {
    static STORE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let t0 = Instant::now();
            let tmp = tempfile::tempdir().unwrap();
            let db = tmp.path().join("db");
            fs::create_dir(&db).unwrap();
            let mut rng = Rng(0x5eed);
            let mut w = LogWriter::new();
            let mut seq = 1u64;
            let keys = (TARGET_BYTES / (VALUE_LEN + 16)) * 3 / 5;
            let mut i = 0usize;
            let mut value = vec![0u8; VALUE_LEN];
            while w.as_bytes().len() < TARGET_BYTES {
                let mut b = BatchBuilder::new(seq);
                for _ in 0..PUTS_PER_BATCH {
                    let key = format!("key:{:08}", i % keys);
                    let x = rng.next();
                    for (j, v) in value.iter_mut().enumerate() {
                        *v = b"0123456789abcdef"[((x >> ((j % 16) * 4)) & 15) as usize];
                    }
                    b.put(key.as_bytes(), &value);
                    i += 1;
                }
                if i % 997 == 0 {
                    b.delete(format!("key:{:08}", (i * 7) % keys).as_bytes());
                    seq += 1;
                }
                seq += PUTS_PER_BATCH as u64;
                w.add_record(&b.build());
            }
            let mut log = w.into_bytes();
            // One garbled record in the middle: a payload byte flipped.
            let mid = log.len() / 2 + 100;
            log[mid] ^= 0x20;
            fs::write(db.join("000003.log"), &log).unwrap();
            eprintln!(
                "crash: built a {} MB log ({seq} sequence numbers) in {:.2?}",
                log.len() >> 20,
                t0.elapsed()
            );
            (tmp, db)
        })
        .1
}

fn salvage_args(db: &Path, out: &Path, rebuild: bool, report: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "salvage".into(),
        db.into(),
        "--out".into(),
        out.into(),
        "--quiet".into(),
        "--report".into(),
        report.into(),
    ];
    if rebuild {
        a.push("--rebuild".into());
    }
    a
}

/// Every file under a directory, by relative path, with contents.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(snap) = std::panic::catch_unwind(|| snapshot(dir)) {
        for (p, n) in snap {
            if let Node::File(b) = n {
                out.insert(p, b);
            }
        }
    }
    out
}

/// A report without what depends on where the output went.
fn normalized_report(b: &[u8]) -> Result<Value, String> {
    let mut v: Value = serde_json::from_slice(b).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(s) = v.get_mut("salvage").and_then(Value::as_object_mut) {
        s.remove("out");
        if let Some(r) = s.get_mut("rebuilt").and_then(Value::as_object_mut) {
            r.remove("path");
        }
    }
    Ok(v)
}

/// What an uninterrupted run writes.
struct Reference {
    records: Vec<u8>,
    unverified: Vec<u8>,
    report: Value,
    db: BTreeMap<PathBuf, Vec<u8>>,
    duration: Duration,
}

fn reference(rebuild: bool) -> &'static Reference {
    static REFS: OnceLock<[Reference; 2]> = OnceLock::new();
    &REFS.get_or_init(|| {
        [false, true].map(|rb| {
            let db = big_store();
            let tmp = tempfile::tempdir().unwrap();
            let out = tmp.path().join("out");
            let rep = tmp.path().join("report-copy.json");
            let args = salvage_args(db, &out, rb, &rep);
            // A first run warms the page cache; the kill delays are spread
            // over the second, warm run's length.
            let warm = tmp.path().join("warm");
            run(salvage_args(db, &warm, rb, &tmp.path().join("warm.json")));
            let t0 = Instant::now();
            let o = run(&args);
            let duration = t0.elapsed();
            assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
            let report = normalized_report(&fs::read(out.join("report.json")).unwrap()).unwrap();
            assert_eq!(
                normalized_report(&fs::read(&rep).unwrap()).unwrap(),
                report,
                "--report FILE and OUT/report.json differ"
            );
            let r = Reference {
                records: fs::read(out.join("records.jsonl")).unwrap(),
                unverified: fs::read(out.join("unverified.jsonl")).unwrap(),
                report,
                db: if rb {
                    tree(&out.join("db"))
                } else {
                    BTreeMap::new()
                },
                duration,
            };
            assert!(!r.unverified.is_empty(), "the garbled record gave nothing");
            assert!(!rb || !r.db.is_empty());
            eprintln!(
                "crash: reference run (rebuild: {rb}) took {duration:.2?}: {} MB of records",
                r.records.len() >> 20
            );
            r
        })
    })[usize::from(rebuild)]
}

/// Check what a killed run left. `finished`: it exited on its own.
fn check_leftovers(
    out: &Path,
    ext_report: &Path,
    pid: u32,
    rebuild: bool,
    finished: bool,
) -> Result<String, String> {
    let r = reference(rebuild);
    let mut seen = Vec::new();
    let entries: Vec<String> = match fs::read_dir(out) {
        Ok(it) => it
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    let temp_ok = |n: &str| {
        [".records.jsonl", ".unverified.jsonl", ".report.json", ".db"]
            .iter()
            .any(|b| n == format!("{b}.tmp-{pid}"))
    };
    for n in &entries {
        match n.as_str() {
            "records.jsonl" => {
                if fs::read(out.join(n)).ok().as_deref() != Some(&r.records[..]) {
                    return Err("records.jsonl is there but not complete".into());
                }
            }
            "unverified.jsonl" => {
                if fs::read(out.join(n)).ok().as_deref() != Some(&r.unverified[..]) {
                    return Err("unverified.jsonl is there but not complete".into());
                }
            }
            "report.json" => {
                let got = normalized_report(&fs::read(out.join(n)).unwrap_or_default())
                    .map_err(|e| format!("report.json: {e}"))?;
                if got != r.report {
                    return Err("report.json differs from an uninterrupted run's".into());
                }
            }
            "db" => {
                if !rebuild {
                    return Err("db/ without --rebuild".into());
                }
                if tree(&out.join("db")) != r.db {
                    return Err("db/ is there but differs from an uninterrupted run's".into());
                }
            }
            other if temp_ok(other) => {}
            other => return Err(format!("unexpected file in OUT: {other}")),
        }
        seen.push(n.as_str());
    }
    let has = |n: &str| seen.contains(&n);
    if has("report.json") {
        let mut need = vec!["records.jsonl", "unverified.jsonl"];
        if rebuild {
            need.push("db");
        }
        for n in need {
            if !has(n) {
                return Err(format!("report.json is on disk but {n} is not"));
            }
        }
    }
    if ext_report.exists() {
        let got = normalized_report(&fs::read(ext_report).unwrap_or_default())
            .map_err(|e| format!("--report FILE: {e}"))?;
        if got != r.report {
            return Err("--report FILE differs from an uninterrupted run's".into());
        }
        if !has("report.json") {
            return Err("--report FILE written before OUT/report.json".into());
        }
    }
    if finished {
        for n in ["records.jsonl", "unverified.jsonl", "report.json"] {
            if !has(n) {
                return Err(format!("the run finished but {n} is missing"));
            }
        }
    }
    let mut finals: Vec<&str> = seen.iter().copied().filter(|n| !temp_ok(n)).collect();
    finals.sort_unstable();
    Ok(if finals.is_empty() {
        "nothing final".into()
    } else {
        finals.join(",")
    })
}

enum KillAt {
    Delay(Duration),
    /// As soon as this name appears in OUT.
    Appears(&'static str),
}

fn kill_run(rebuild: bool, when: &KillAt, label: &str) -> String {
    let db = big_store();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let rep = tmp.path().join("report-copy.json");
    let args = salvage_args(db, &out, rebuild, &rep);
    let mut child: Child = Command::new(bin())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let t0 = Instant::now();
    let limit = reference(rebuild).duration * 10 + Duration::from_secs(30);
    let mut finished = None;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            finished = Some(st);
            break;
        }
        let fire = match when {
            KillAt::Delay(d) => t0.elapsed() >= *d,
            KillAt::Appears(n) => out.join(n).exists(),
        };
        if fire {
            break;
        }
        assert!(
            t0.elapsed() < limit,
            "{label}: salvage neither finished nor reached the kill point in {limit:?}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = t0.elapsed();
    let finished = match finished {
        Some(st) => {
            assert!(
                matches!(st.code(), Some(0) | Some(1)),
                "{label}: salvage exited {st:?}"
            );
            true
        }
        None => {
            child.kill().unwrap(); // SIGKILL
            let st = child.wait().unwrap();
            // It may have exited on its own in the meantime.
            st.code().is_some()
        }
    };
    match check_leftovers(&out, &rep, pid, rebuild, finished) {
        Ok(state) => format!(
            "{label}: killed at {elapsed:.2?}{}: {state}",
            if finished { " (had finished)" } else { "" }
        ),
        Err(e) => panic!("{label} (rebuild: {rebuild}), killed at {elapsed:.2?}: {e}"),
    }
}

fn kills(rebuild: bool) {
    let r = reference(rebuild);
    let mut rng = Rng(if rebuild { 0xdb } else { 0x0a });
    let mut log = Vec::new();
    // Random moments over a whole run (and a little past its end).
    for i in 0..5 {
        let d = r.duration.mul_f64(0.02 + 0.9 * rng.unit());
        log.push(kill_run(
            rebuild,
            &KillAt::Delay(d),
            &format!("random #{i}"),
        ));
    }
    // Between commits.
    let mut points = vec!["records.jsonl", "unverified.jsonl"];
    if rebuild {
        points.insert(0, "db");
    }
    for p in points {
        log.push(kill_run(
            rebuild,
            &KillAt::Appears(p),
            &format!("when {p} appears"),
        ));
    }
    eprintln!("crash (rebuild: {rebuild}):\n  {}", log.join("\n  "));
}

#[test]
fn sigkill_during_salvage_leaves_only_complete_outputs() {
    kills(false);
}

#[test]
fn sigkill_during_salvage_rebuild_leaves_only_complete_outputs() {
    kills(true);
}

// ---------------------------------------------------------------------------
// The protocol, under strace.

/// A working strace. Under CI a missing one is installed with apt-get
/// (as tests/it/readonly.rs does; this file may run first).
fn strace_works() -> bool {
    let works = || {
        Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works() {
        return true;
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    if ci {
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !apt(&["install", "-y", "-qq", "strace"]) {
            apt(&["update", "-qq"]);
            apt(&["install", "-y", "-qq", "strace"]);
        }
    }
    works()
}

/// One system call of a trace: name, the paths it names (quoted strings and
/// `-y` fd annotations), in order.
struct Call {
    line: usize,
    name: String,
    text: String,
}

fn calls(trace: &str) -> Vec<Call> {
    trace
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let rest = l.split_once(' ')?.1.trim_start();
            let name = rest.split('(').next()?.to_string();
            Some(Call {
                line: i,
                name,
                text: rest.to_string(),
            })
        })
        .collect()
}

#[test]
fn durability_protocol_under_strace() {
    if !strace_works() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "CI: strace is missing and could not be installed with apt-get"
        );
        eprintln!("crash: strace not available: protocol check skipped");
        return;
    }
    let (tmp, db) = copy_fixture_db("stale-resurrect");
    let parent = tmp.path().join("parent");
    fs::create_dir(&parent).unwrap();
    let out = parent.join("out");
    let trace = tmp.path().join("trace");
    let rep = tmp.path().join("ext-report.json");
    let mut args: Vec<OsString> = vec![
        "-f".into(),
        "-qq".into(),
        "-y".into(),
        "-s".into(),
        "4096".into(),
        "-e".into(),
        "trace=openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,fsync,fdatasync,syncfs"
            .into(),
        "-o".into(),
        trace.clone().into(),
        bin().into(),
    ];
    args.extend(salvage_args(&db, &out, true, &rep));
    let o = Command::new("strace").args(&args).output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(EXIT_DAMAGE),
        "{}",
        describe(&args, &o)
    );
    let t = fs::read_to_string(&trace).unwrap();
    let cs = calls(&t);
    let o_s = out.to_str().unwrap();
    let find = |pred: &dyn Fn(&Call) -> bool, what: &str| -> usize {
        cs.iter()
            .find(|c| pred(c))
            .map(|c| c.line)
            .unwrap_or_else(|| {
                let here = tmp.path().to_str().unwrap();
                let relevant: Vec<&str> = t.lines().filter(|l| l.contains(here)).collect();
                panic!(
                    "no {what} in the trace; its lines under {here}:\n{}",
                    relevant.join("\n")
                )
            })
    };
    let fsync_of = |path: &str| {
        let p = format!("<{path}>");
        move |c: &Call| (c.name == "fsync" || c.name == "fdatasync") && c.text.contains(&p)
    };
    // OUT is created, and the directory holding it fsynced.
    let mk = find(
        &|c| c.name.starts_with("mkdir") && c.text.contains(&format!("\"{o_s}\"")),
        "mkdir OUT",
    );
    let pfs = find(
        &fsync_of(parent.to_str().unwrap()),
        "fsync of OUT's parent directory",
    );
    assert!(mk < pfs);
    // Each file: created under its temp name, fsynced, renamed, dir fsynced.
    let mut renamed = BTreeMap::new();
    for name in ["records.jsonl", "unverified.jsonl", "report.json"] {
        let tmpname = format!("{o_s}/.{name}.tmp-");
        let open = find(
            &|c| {
                c.name.starts_with("open")
                    && c.text.contains(&tmpname)
                    && c.text.contains("O_CREAT")
            },
            &format!("create of {tmpname}*"),
        );
        let sync = find(
            &|c| c.line > open && c.name == "fsync" && c.text.contains(&format!("<{tmpname}")),
            &format!("fsync of {tmpname}*"),
        );
        let ren = find(
            &|c| {
                c.name.starts_with("rename")
                    && c.text.contains(&tmpname)
                    && c.text.contains(&format!("\"{o_s}/{name}\""))
            },
            &format!("rename to {name}"),
        );
        let dsync = find(
            &|c| c.line > ren && fsync_of(o_s)(c),
            &format!("fsync of OUT after renaming {name}"),
        );
        assert!(
            open < sync && sync < ren && ren < dsync,
            "{name}: wrong order"
        );
        renamed.insert(name, ren);
    }
    // The rebuilt store: every file fsynced, then its directory, then renamed.
    let dbtmp = format!("{o_s}/.db.tmp-");
    let db_ren = find(
        &|c| {
            c.name.starts_with("rename")
                && c.text.contains(&dbtmp)
                && c.text.contains(&format!("\"{o_s}/db\""))
        },
        "rename of the rebuilt store",
    );
    let created: Vec<&Call> = cs
        .iter()
        .filter(|c| {
            c.name.starts_with("open") && c.text.contains("O_CREAT") && c.text.contains(&dbtmp)
        })
        .collect();
    assert!(
        created.len() >= 3,
        "tables, MANIFEST, CURRENT: {}",
        created.len()
    );
    for c in &created {
        // The path the fd annotation will show. Copied tables are made
        // durable together, by one syncfs of the store's directory's
        // filesystem; files written anew by an fsync each.
        let path = c.text.split('"').nth(1).unwrap();
        let dir = Path::new(path)
            .parent()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let s = find(
            &|x| {
                x.line > c.line
                    && (fsync_of(path)(x)
                        || (x.name == "syncfs" && x.text.contains(&format!("<{dir}>"))))
            },
            &format!("fsync of {path}"),
        );
        assert!(s < db_ren, "{path} fsynced after the rename");
    }
    // rename("OUT/.db.tmp-PID", "OUT/db"): the directory itself, fsynced.
    let db_tmp_dir = cs
        .iter()
        .find(|c| c.line == db_ren)
        .and_then(|c| c.text.split('"').nth(1))
        .unwrap()
        .to_string();
    let dirsync = find(
        &fsync_of(&db_tmp_dir),
        "fsync of the rebuilt store's directory",
    );
    assert!(dirsync < db_ren);
    find(
        &|x| x.line > db_ren && fsync_of(o_s)(x),
        "fsync of OUT after db/",
    );
    // The report last: after every export is in place; the --report copy after it.
    let rep_ren = renamed["report.json"];
    for (n, r) in &renamed {
        assert!(*r <= rep_ren, "{n} renamed after report.json");
    }
    assert!(db_ren < rep_ren, "db/ renamed after report.json");
    let ext = find(
        &|c| c.name.starts_with("rename") && c.text.contains(&format!("\"{}\"", rep.display())),
        "rename of --report FILE",
    );
    assert!(
        ext > rep_ren,
        "--report FILE written before OUT/report.json"
    );
}

/// Start `salvage ARGS --out OUT DB`, wait until it has a temporary of its
/// own in OUT, and send it `sig`; its exit status.
fn interrupt_salvage(args: &[&str], out: &Path, db: &Path, sig: i32, name: &str) -> ExitStatus {
    let mut child: Child = Command::new(bin())
        .args(["salvage", "--quiet"])
        .args(args)
        .arg("--out")
        .arg(out)
        .arg(db)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let has_temp = || {
        fs::read_dir(out).is_ok_and(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        })
    };
    while !has_temp() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{name}: finished too soon"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{name}: no temporary"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: a signal to the child we started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    child.wait().unwrap()
}

/// SIGINT or SIGTERM in the middle of a salvage: the run removes its own
/// temporaries (`.NAME.tmp-PID`, `.db.tmp-PID`) and the `--out` it created,
/// and exits with 128 + the signal, so the retry into the same `--out`
/// is not refused as "not empty".
#[test]
fn an_interrupted_salvage_leaves_nothing_of_its_own() {
    let db = big_store();
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let st = interrupt_salvage(&["--rebuild"], &out, db, sig, name);
        assert_eq!(st.code(), Some(128 + sig), "{name}: exit {st:?}");
        assert!(
            !out.exists(),
            "{name}: --out left behind: {:?}",
            fs::read_dir(&out).map(|d| d
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect::<Vec<_>>())
        );
        // An --out that existed (empty) before the run is left empty.
        fs::create_dir(&out).unwrap();
        let st = interrupt_salvage(&[], &out, db, sig, name);
        assert_eq!(st.code(), Some(128 + sig), "{name}: exit {st:?}");
        let left: Vec<_> = fs::read_dir(&out).unwrap().collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
}
