//! The command line: refusals that protect the input and existing output,
//! `--out -` and `--report -`, usage errors, single files, `--help`.

use crate::common;

use common::*;
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::Path;
use std::process::Output;

/// A damaged log-only store: salvage and scan exit 1 on it.
const DAMAGED: &str = "log-bad-crc";
/// A healthy log-only store: exit 0.
const HEALTHY: &str = "log-healthy";

fn args<I, S>(a: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    a.into_iter().map(|s| s.as_ref().to_os_string()).collect()
}

/// Run and assert the exit code; returns the output.
#[track_caller]
fn expect_code(a: &[OsString], want: i32) -> Output {
    let o = run(a);
    assert_eq!(code(&o), want, "{}", describe(a, &o));
    o
}

#[track_caller]
fn expect_code_in(dir: &Path, a: &[OsString], want: i32) -> Output {
    let o = run_in(dir, a);
    assert_eq!(code(&o), want, "in {}: {}", dir.display(), describe(a, &o));
    o
}

#[track_caller]
fn assert_unchanged(dir: &Path, before: &std::collections::BTreeMap<std::path::PathBuf, Node>) {
    let d = snapshot_diff(before, &snapshot(dir));
    assert!(d.is_empty(), "{} was modified: {d:?}", dir.display());
}

#[test]
fn out_inside_input_is_refused() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let before = snapshot(&db);
    for out in [
        db.join("out"),
        db.join("a/b/c"),
        db.clone(),
        db.join("."),
        db.join("../db/out"),
    ] {
        let a = args([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        let o = expect_code(&a, EXIT_USAGE);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("inside"),
            "the refusal should say why: {}",
            describe(&a, &o)
        );
        assert!(o.stdout.is_empty(), "{}", describe(&a, &o));
        assert_unchanged(&db, &before);
    }
    // Relative paths, from the store's parent and from inside the store.
    let a = args(["salvage", "db", "--out", "db/out"]);
    expect_code_in(tmp.path(), &a, EXIT_USAGE);
    assert_unchanged(&db, &before);
    let a = args(["salvage", ".", "--out", "out"]);
    expect_code_in(&db, &a, EXIT_USAGE);
    assert_unchanged(&db, &before);
}

#[test]
fn out_inside_input_through_symlink_is_refused() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    let before = snapshot(&db);
    // The output named through a link to the input.
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        link.join("out").as_os_str(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert_unchanged(&db, &before);
    // The input named through the link, the output directly.
    let a = args([
        "salvage".as_ref(),
        link.as_os_str(),
        "--out".as_ref(),
        db.join("out").as_os_str(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert_unchanged(&db, &before);
    // A dangling link whose target would be inside the input.
    let dangling = tmp.path().join("dangling");
    std::os::unix::fs::symlink(db.join("new"), &dangling).unwrap();
    for out in [dangling.clone(), dangling.join("x")] {
        let a = args([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        expect_code(&a, EXIT_USAGE);
        assert_unchanged(&db, &before);
    }
    // A link to the input's parent, then down into the input.
    let up = tmp.path().join("up");
    std::os::unix::fs::symlink(tmp.path(), &up).unwrap();
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        up.join("db/new/out").as_os_str(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert_unchanged(&db, &before);
}

#[test]
fn out_inside_input_through_dotdot_after_missing_dir_is_refused() {
    // `missing/..` is the current directory, so `missing/../db/out` is inside
    // the input even though `missing` does not exist (create_dir_all makes it).
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let before = snapshot(&db);
    let a = args(["salvage", "db", "--out", "missing/../db/out", "--quiet"]);
    expect_code_in(tmp.path(), &a, EXIT_USAGE);
    assert_unchanged(&db, &before);
    let out = tmp.path().join("missing/../db/out2");
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--quiet".as_ref(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert_unchanged(&db, &before);
}

#[test]
fn report_inside_input_through_dotdot_of_new_out_is_refused() {
    // `out` does not exist when the report path is checked; it is created
    // before the report is written, and `out/../db` is the input.
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let before = snapshot(&db);
    let a = args([
        "salvage",
        "db",
        "--out",
        "out",
        "--report",
        "out/../db/r.json",
        "--quiet",
    ]);
    expect_code_in(tmp.path(), &a, EXIT_USAGE);
    assert_unchanged(&db, &before);
}

#[test]
fn report_inside_input_is_refused() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let before = snapshot(&db);
    let out = tmp.path().join("out");
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--report".as_ref(),
        db.join("report.json").as_os_str(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert_unchanged(&db, &before);
    assert!(
        !out.exists(),
        "--out was created although the run was refused"
    );
}

#[test]
fn out_existing_and_not_empty_is_refused() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), b"precious").unwrap();
    let before = snapshot(&out);
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let o = expect_code(&a, EXIT_USAGE);
    assert!(o.stdout.is_empty(), "{}", describe(&a, &o));
    assert_unchanged(&out, &before);

    // A hidden file counts too.
    let out2 = tmp.path().join("out2");
    fs::create_dir(&out2).unwrap();
    fs::write(out2.join(".hidden"), b"x").unwrap();
    let before = snapshot(&out2);
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out2.as_os_str(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert_unchanged(&out2, &before);
}

#[test]
fn out_existing_and_empty_is_used() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--quiet".as_ref(),
    ]);
    let o = expect_code(&a, EXIT_DAMAGE);
    assert!(o.stdout.is_empty(), "--quiet printed: {}", describe(&a, &o));
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["records.jsonl", "report.json", "unverified.jsonl"],
        "exactly the three outputs, no temporary files left"
    );
}

#[test]
fn out_stdout_streams_records_with_report_file() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    for view in ["all", "latest"] {
        // The reference: the same salvage into a directory.
        let dir = tmp.path().join(format!("dir-{view}"));
        let a = args([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            dir.as_os_str(),
            "--view".as_ref(),
            view.as_ref(),
        ]);
        expect_code(&a, EXIT_DAMAGE);
        let want = fs::read(dir.join("records.jsonl")).unwrap();

        // Streamed, run from an empty working directory that must stay empty
        // apart from the report.
        let cwd = tmp.path().join(format!("cwd-{view}"));
        fs::create_dir(&cwd).unwrap();
        let a = args([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            "-".as_ref(),
            "--view".as_ref(),
            view.as_ref(),
            "--report".as_ref(),
            "r.json".as_ref(),
        ]);
        let o = expect_code_in(&cwd, &a, EXIT_DAMAGE);
        let recs = parse_ndjson(&o.stdout)
            .unwrap_or_else(|e| panic!("stdout is not NDJSON: {e}\n{}", describe(&a, &o)));
        assert!(!recs.is_empty());
        assert!(
            o.stdout == want,
            "stdout differs from records.jsonl of the --out DIR run ({view} view): {} vs {} lines",
            recs.len(),
            parse_ndjson(&want).map_or(0, |r| r.len())
        );
        let report = read_json(&cwd.join("r.json"));
        assert_eq!(report["salvage"]["out"], "-");
        assert_eq!(report["salvage"]["view"], view);
        assert_eq!(report["salvage"]["records"], recs.len() as u64);
        let left: Vec<String> = fs::read_dir(&cwd)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["r.json"], "--out - wrote files besides the report");
    }
}

#[test]
fn scan_report_to_stdout_is_only_json() {
    let (_tmp, db) = copy_fixture_db(DAMAGED);
    let a = args([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let o = expect_code(&a, EXIT_DAMAGE);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", describe(&a, &o)));
    assert!(v["files"].is_array(), "no files in the report: {v}");
    assert_eq!(report_damage(&v).len(), 1, "{v}");
}

#[test]
fn scan_report_to_file_matches_stdout() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let file = tmp.path().join("scan.json");
    let a = args([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        file.as_os_str(),
        "--quiet".as_ref(),
    ]);
    let o = expect_code(&a, EXIT_DAMAGE);
    assert!(o.stdout.is_empty(), "--quiet printed: {}", describe(&a, &o));
    let a = args([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let o = expect_code(&a, EXIT_DAMAGE);
    let from_stdout: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(read_json(&file), from_stdout);
}

#[test]
fn scan_nonexistent_path_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-store");
    let a = args(["scan".as_ref(), missing.as_os_str()]);
    let o = expect_code(&a, EXIT_USAGE);
    assert!(!o.stderr.is_empty(), "no message: {}", describe(&a, &o));
    // One good path and one missing one: still a usage error.
    let db = fixtures_dir().join(HEALTHY).join("db");
    let a = args(["scan".as_ref(), db.as_os_str(), missing.as_os_str()]);
    expect_code(&a, EXIT_USAGE);
}

#[test]
fn salvage_nonexistent_path_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = args([
        "salvage".as_ref(),
        tmp.path().join("no-such-store").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert!(!out.exists(), "--out created for a missing input");
}

#[test]
fn jobs_zero_exits_2() {
    let (tmp, db) = copy_fixture_db(HEALTHY);
    let a = args([
        "scan".as_ref(),
        db.as_os_str(),
        "--jobs".as_ref(),
        "0".as_ref(),
    ]);
    expect_code(&a, EXIT_USAGE);
    let out = tmp.path().join("out");
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--jobs".as_ref(),
        "0".as_ref(),
    ]);
    expect_code(&a, EXIT_USAGE);
    assert!(!out.exists(), "--out created although --jobs 0 was refused");
}

#[test]
fn scan_single_file() {
    let healthy = fixtures_dir().join(HEALTHY).join("db/000003.log");
    let a = args([
        "scan".as_ref(),
        healthy.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let o = expect_code(&a, EXIT_OK);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{r}");
    assert_eq!(files[0]["name"], "000003.log");
    assert_eq!(files[0]["entries"], 513, "log-healthy has 513 entries");
    assert!(report_damage(&r).is_empty());

    let damaged = fixtures_dir().join(DAMAGED).join("db/000003.log");
    let a = args([
        "scan".as_ref(),
        damaged.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let o = expect_code(&a, EXIT_DAMAGE);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = report_damage(&r);
    assert_eq!(d.len(), 1, "{r}");
    assert!(overlaps(4516, 1, d[0].offset, d[0].length), "{d:?}");
    assert_eq!(d[0].class, "garbled");

    // Two single files at once, human summary on stdout.
    let a = args(["scan".as_ref(), healthy.as_os_str(), damaged.as_os_str()]);
    let o = expect_code(&a, EXIT_DAMAGE);
    assert!(!o.stdout.is_empty());
}

#[test]
fn salvage_single_file() {
    let tmp = tempfile::tempdir().unwrap();
    let f = fixtures_dir().join(HEALTHY).join("db/000003.log");
    let out = tmp.path().join("out");
    let a = args([
        "salvage".as_ref(),
        f.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--view".as_ref(),
        "all".as_ref(),
    ]);
    expect_code(&a, EXIT_OK);
    let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap()).unwrap();
    assert_eq!(recs.len(), 513);
}

#[test]
fn nothing_readable_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let a = args(["scan".as_ref(), empty.as_os_str()]);
    expect_code(&a, EXIT_USAGE);
    let txt = tmp.path().join("notes.txt");
    fs::write(&txt, b"not a LevelDB file\n").unwrap();
    let a = args(["scan".as_ref(), txt.as_os_str()]);
    expect_code(&a, EXIT_USAGE);
}

#[test]
fn usage_errors_exit_2() {
    let db = fixtures_dir().join(HEALTHY).join("db");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for a in [
        args::<[&OsStr; 0], &OsStr>([]),
        args(["scan"]),
        args(["salvage".as_ref(), db.as_os_str()]),
        args([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--view".as_ref(),
            "newest".as_ref(),
        ]),
        args([
            "scan".as_ref(),
            db.as_os_str(),
            "--jobs".as_ref(),
            "x".as_ref(),
        ]),
        args(["frobnicate"]),
    ] {
        expect_code(&a, EXIT_USAGE);
    }
    assert!(!out.exists());
}

#[test]
fn version_and_help() {
    let o = expect_code(&args(["--version"]), EXIT_OK);
    let v = String::from_utf8_lossy(&o.stdout);
    assert!(
        v.contains(env!("CARGO_PKG_VERSION")),
        "--version prints {v:?}"
    );
    for a in [
        args(["--help"]),
        args(["scan", "--help"]),
        args(["salvage", "--help"]),
        args(["help"]),
    ] {
        let o = expect_code(&a, EXIT_OK);
        let h = String::from_utf8_lossy(&o.stdout);
        for needle in [
            "Exit status",
            "0 nothing damaged",
            "1 damage found",
            "2 usage error",
        ] {
            assert!(h.contains(needle), "{a:?}: help lacks {needle:?}:\n{h}");
        }
    }
}

/// Two salvages of different stores into one `--out` at once: exactly one
/// is refused, and the export left there is one store's, whole (its
/// records and its report agree).
#[test]
fn concurrent_salvages_into_one_out_do_not_mix() {
    let (_a, db_a) = copy_fixture_db("log-healthy");
    let (_b, db_b) = copy_fixture_db("table-healthy-snappy");
    for round in 0..6 {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let spawn = |db: &Path| {
            std::process::Command::new(bin())
                .args(["salvage", "--quiet", "--view", "all", "--out"])
                .arg(&out)
                .arg(db)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(&db_a), spawn(&db_b));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let codes = [code(&a), code(&b)];
        let refused = codes.iter().filter(|&&c| c == EXIT_USAGE).count();
        assert_eq!(refused, 1, "round {round}: exit codes {codes:?}");
        let loser = if codes[0] == EXIT_USAGE { &a } else { &b };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(
            err.contains("another ldbsalvage run") || err.contains("not empty"),
            "round {round}: {err}"
        );
        let report: Value =
            serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
        let input = report["input"][0].as_str().unwrap().to_string();
        let files: Vec<String> = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        for line in fs::read_to_string(out.join("records.jsonl"))
            .unwrap()
            .lines()
        {
            let v: Value = serde_json::from_str(line).unwrap();
            let f = v["file"].as_str().unwrap().to_string();
            assert!(
                files.contains(&f),
                "round {round}: {f} not in {input}'s report"
            );
        }
        let winner_db = if codes[0] == EXIT_USAGE { &db_b } else { &db_a };
        assert_eq!(input, winner_db.display().to_string());
    }
}

/// A salvage that finds nothing readable writes nothing: the `--out` it
/// created is gone, one that existed is left empty, and the retry with the
/// right path is not refused.
#[test]
fn a_failed_salvage_leaves_out_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out = tmp.path().join("out");
    let o = run([
        "salvage".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        empty.as_os_str(),
    ]);
    assert_eq!(code(&o), EXIT_USAGE);
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was written"));
    assert!(!out.exists(), "--out was left behind");
    fs::create_dir(&out).unwrap();
    let o = run([
        "salvage".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        empty.as_os_str(),
    ]);
    assert_eq!(code(&o), EXIT_USAGE);
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
    let (_t, db) = copy_fixture_db("log-healthy");
    let o = run([
        "salvage".as_ref(),
        "--quiet".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        db.as_os_str(),
    ]);
    assert_eq!(code(&o), EXIT_OK, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("records.jsonl").is_file());
}

// ---------------------------------------------------------------------------
// Special files: nothing blocks.

/// Run with a deadline: a run that blocks fails the test instead of
/// stalling the suite.
fn run_bounded(a: &[OsString], what: &str) -> Output {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new(bin())
        .args(a)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: blocks ({a:?})");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {} failed", p.display());
}

/// A FIFO under each kind of store name, with and without `CURRENT`: scan,
/// salvage and inspect finish, and the FIFO is named with a clear error.
#[test]
fn fifos_under_store_names_never_block() {
    for name in [
        "CURRENT",
        "MANIFEST-000009",
        "000010.log",
        "000011.ldb",
        "LOG",
    ] {
        for with_current in [true, false] {
            if name == "CURRENT" && !with_current {
                continue;
            }
            let what = format!("a FIFO named {name}, CURRENT kept: {with_current}");
            let (tmp, db) = copy_fixture_db(HEALTHY);
            if !with_current || name == "CURRENT" {
                fs::remove_file(db.join("CURRENT")).unwrap();
            }
            mkfifo(&db.join(name));
            let report = tmp.path().join("scan.json");
            let out = tmp.path().join("out");
            let scan = args([
                "scan".as_ref(),
                db.as_os_str(),
                "--quiet".as_ref(),
                "--report".as_ref(),
                report.as_os_str(),
            ]);
            let salvage = args([
                "salvage".as_ref(),
                db.as_os_str(),
                "--quiet".as_ref(),
                "--out".as_ref(),
                out.as_os_str(),
            ]);
            for (a, rp) in [(scan, report.clone()), (salvage, out.join("report.json"))] {
                let o = run_bounded(&a, &what);
                let c = code(&o);
                assert!(
                    c == EXIT_OK || c == EXIT_DAMAGE,
                    "{what}: {}",
                    describe(&a, &o)
                );
                let r = read_json(&rp);
                let errors = report_errors(&r);
                if name == "LOG" {
                    // Not a store file: left out, as a regular LOG is not read.
                    continue;
                }
                assert!(
                    errors
                        .iter()
                        .any(|(n, e)| n == name && e.contains("a FIFO, not a regular file")),
                    "{what}: errors {errors:?}"
                );
                assert_eq!(c, EXIT_DAMAGE, "{what}: {}", describe(&a, &o));
            }
            if name != "CURRENT" && name != "LOG" {
                let a = args(["inspect".as_ref(), db.join(name).as_os_str()]);
                let o = run_bounded(&a, &what);
                assert_eq!(code(&o), EXIT_USAGE, "{what}: {}", describe(&a, &o));
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(err.contains("a FIFO, not a regular file"), "{what}: {err}");
            }
        }
    }
}

/// A live table the MANIFEST names, gone from the directory: its keys are
/// lost, so both commands exit 1 and the summary says why, though every
/// file present is intact.
#[test]
fn a_missing_live_table_is_damage() {
    let (tmp, db) = copy_fixture_db("table-healthy-snappy");
    fs::remove_file(db.join("000005.ldb")).unwrap();
    let out = tmp.path().join("out");
    for a in [
        args(["scan".as_ref(), db.as_os_str()]),
        args([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]),
    ] {
        let o = run(&a);
        assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&a, &o));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            said.contains("Damage found: 1 live file(s) the MANIFEST names are missing"),
            "{said}"
        );
    }
    let r = read_json(&out.join("report.json"));
    assert_eq!(
        r["store"]["missing_tables"][0]["number"], 5,
        "{}",
        r["store"]
    );
}

/// A FIFO in the place of a table the MANIFEST names as live: a rebuild
/// (which copies the live tables it may keep before scanning them) neither
/// waits on it nor keeps it, and names it.
#[test]
fn a_fifo_in_place_of_a_live_table_does_not_block_a_rebuild() {
    let (tmp, db) = copy_fixture_db("table-healthy-snappy");
    fs::remove_file(db.join("000005.ldb")).unwrap();
    mkfifo(&db.join("000005.ldb"));
    let out = tmp.path().join("out");
    let a = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--quiet".as_ref(),
        "--rebuild".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let o = run_bounded(&a, "a FIFO as a live table, --rebuild");
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&a, &o));
    let errors = report_errors(&read_json(&out.join("report.json")));
    assert!(
        errors
            .iter()
            .any(|(n, e)| n == "000005.ldb" && e.contains("a FIFO, not a regular file")),
        "errors {errors:?}"
    );
    let rebuilt = out.join("db").join("000005.ldb");
    assert!(
        fs::symlink_metadata(&rebuilt).map_or(true, |m| m.is_file()),
        "a FIFO was carried into the rebuilt store"
    );
}

/// `--jobs` above 1024 is refused at once (100000 threads took minutes to
/// start on a tiny store); 1024 itself runs and reports as `--jobs 1` does.
#[test]
fn jobs_above_the_maximum_are_refused() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let out = tmp.path().join("out");
    for cmd in ["scan", "salvage"] {
        let mut a = args([
            cmd.as_ref(),
            db.as_os_str(),
            "--jobs".as_ref(),
            "100000".as_ref(),
        ]);
        if cmd == "salvage" {
            a.extend(args(["--out".as_ref(), out.as_os_str()]));
        }
        let o = run_bounded(&a, "--jobs 100000");
        assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&a, &o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--jobs 100000 is more than 1024"), "{err}");
        assert!(o.stdout.is_empty());
        assert!(!out.exists(), "--out created although --jobs was refused");
    }
    let reports: Vec<Value> = ["1", "1024"]
        .iter()
        .map(|j| {
            let a = args(["scan", db.to_str().unwrap(), "--jobs", j, "--report", "-"]);
            let o = run_bounded(&a, "--jobs");
            assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&a, &o));
            serde_json::from_slice(&o.stdout).unwrap()
        })
        .collect();
    assert_eq!(reports[0]["files"], reports[1]["files"]);
}

/// A single file named through a link into the evidence: the directory that
/// counts is the one the link leads to, and the refusal names it. The file
/// itself is still read through the link.
#[test]
fn input_named_through_a_symlink_protects_its_real_directory() {
    let (tmp, evidence) = copy_fixture_db("table-healthy-snappy");
    let links = tmp.path().join("links");
    fs::create_dir(&links).unwrap();
    let link = links.join("000005.ldb");
    std::os::unix::fs::symlink(evidence.join("000005.ldb"), &link).unwrap();
    let before = snapshot(&evidence);
    let real = evidence.canonicalize().unwrap();
    let salvaged = evidence.join("salvaged");
    let report = evidence.join("scan.json");
    let runs = [
        (
            "--out",
            args([
                "salvage".as_ref(),
                link.as_os_str(),
                "--out".as_ref(),
                salvaged.as_os_str(),
            ]),
        ),
        (
            "--report",
            args([
                "scan".as_ref(),
                link.as_os_str(),
                "--report".as_ref(),
                report.as_os_str(),
            ]),
        ),
        (
            "--report",
            args([
                "salvage".as_ref(),
                link.as_os_str(),
                "--out".as_ref(),
                tmp.path().join("elsewhere").as_os_str(),
                "--report".as_ref(),
                report.as_os_str(),
            ]),
        ),
    ];
    for (flag, a) in &runs {
        let o = expect_code(a, EXIT_USAGE);
        let err = String::from_utf8_lossy(&o.stderr);
        let want = format!("lies inside the input's directory {}", real.display());
        assert!(
            err.contains(flag) && err.contains(&want),
            "{}",
            describe(a, &o)
        );
        assert_unchanged(&evidence, &before);
    }
    // Read through the link, written elsewhere: that is fine.
    let out = tmp.path().join("out");
    let a = args([
        "salvage".as_ref(),
        link.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let o = run(&a);
    assert!(
        code(&o) == EXIT_OK || code(&o) == EXIT_DAMAGE,
        "{}",
        describe(&a, &o)
    );
    let r = read_json(&out.join("report.json"));
    assert!(r["files"][0]["entries"].as_u64().unwrap() > 0, "{r}");
    assert_unchanged(&evidence, &before);
}

/// `--report` never takes the place of the run's own outputs, and an
/// existing file is replaced only with `--force`; `/dev/null` is written
/// through as before.
#[test]
fn report_paths_that_would_replace_something_are_refused() {
    let (tmp, db) = copy_fixture_db(DAMAGED);
    let out = tmp.path().join("out");
    // Inside --out: refused before --out is made.
    for inner in ["records.jsonl", "report.json", "sub/r.json", "."] {
        let rp = out.join(inner);
        let a = args([
            "salvage".as_ref(),
            db.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--report".as_ref(),
            rp.as_os_str(),
        ]);
        let o = expect_code(&a, EXIT_USAGE);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("lies inside --out"), "{}", describe(&a, &o));
        assert!(!out.exists(), "--out made although the report was refused");
    }
    // An existing file, for scan and salvage.
    let rp = tmp.path().join("earlier.json");
    let out2 = tmp.path().join("out2");
    let scan = args([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        rp.as_os_str(),
    ]);
    let salvage = args([
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out2.as_os_str(),
        "--report".as_ref(),
        rp.as_os_str(),
    ]);
    for a in [scan, salvage] {
        fs::write(&rp, b"earlier evidence").unwrap();
        let o = expect_code(&a, EXIT_USAGE);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("already exists; give --force"),
            "{}",
            describe(&a, &o)
        );
        assert_eq!(fs::read(&rp).unwrap(), b"earlier evidence");
        assert!(!out2.exists());
        let mut forced = a.clone();
        forced.push("--force".into());
        expect_code(&forced, EXIT_DAMAGE);
        let r = read_json(&rp);
        assert!(r["files"].is_array(), "{r}");
    }
    // Not a regular file: written through, no --force needed.
    let a = args([
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        "/dev/null".as_ref(),
    ]);
    expect_code(&a, EXIT_DAMAGE);
}
