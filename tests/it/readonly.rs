//! The input is evidence: no command may change it in any way.
//!
//! - Every fixture's directory is fingerprinted (each entry's name, type,
//!   mode bits, owner, size, inode, link count, mtime, ctime and full
//!   contents, the directory itself included) before and after every command
//!   (`scan`, `scan --report`, `salvage` latest / all / `--rebuild`,
//!   `--out -` streaming, single-file inputs): nothing may differ, nothing be
//!   created (no `LOCK` file, no temp file).
//! - The same with the input made read-only (`chmod a-w` on the directory
//!   and its files): every command still works and writes the same output.
//!   Root ignores those permission bits, so when the tests run as root the
//!   read-only pass runs a second time as the unprivileged `nobody` (uid
//!   65534), for whom they hold.
//! - Under `strace -f`, no system call of any command opens a file inside
//!   the input for writing (`O_WRONLY`, `O_RDWR`, `O_CREAT`, `O_TRUNC`,
//!   `O_APPEND`), creates, renames, removes, links, truncates, chmods or
//!   touches anything there, or takes a lock anywhere. strace is installed
//!   with apt-get when missing under CI; elsewhere the part is skipped with a
//!   message when strace is not there.
//! - `--out` (or `--report`) inside the input, directly, through a symlink
//!   or through `..`, is refused with exit 2 before anything at all is
//!   written (strace: no write-open, mkdir or rename anywhere).

use crate::common;

use common::*;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const NOBODY: u32 = 65534;

// ---------------------------------------------------------------------------
// Fingerprints.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    ino: u64,
    nlink: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// File contents, or a symlink's target.
    content: Vec<u8>,
}

fn entry(p: &Path) -> Entry {
    let md = fs::symlink_metadata(p).unwrap();
    let ft = md.file_type();
    let (kind, content) = if ft.is_symlink() {
        (
            "symlink",
            fs::read_link(p)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes(),
        )
    } else if ft.is_dir() {
        ("dir", Vec::new())
    } else if ft.is_file() {
        // Root reads a file whatever its mode; others may not: we only
        // fingerprint inputs we can read.
        ("file", fs::read(p).unwrap_or_default())
    } else {
        ("other", Vec::new())
    };
    Entry {
        kind,
        mode: md.mode(),
        uid: md.uid(),
        gid: md.gid(),
        size: md.len(),
        ino: md.ino(),
        nlink: md.nlink(),
        mtime: (md.mtime(), md.mtime_nsec()),
        ctime: (md.ctime(), md.ctime_nsec()),
        content,
    }
}

/// Every entry under `dir` and `dir` itself, by relative path.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    out.insert(PathBuf::from("."), entry(dir));
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(dir.join(&rel)).unwrap() {
            let e = e.unwrap();
            let r = rel.join(e.file_name());
            let en = entry(&e.path());
            if en.kind == "dir" {
                stack.push(r.clone());
            }
            out.insert(r, en);
        }
    }
    out
}

fn fingerprint_diff(a: &BTreeMap<PathBuf, Entry>, b: &BTreeMap<PathBuf, Entry>) -> Vec<String> {
    let mut d = Vec::new();
    for (p, x) in a {
        match b.get(p) {
            None => d.push(format!("{} removed", p.display())),
            Some(y) if x != y => {
                let mut what = Vec::new();
                if x.content != y.content {
                    what.push("contents".to_string());
                }
                for (n, u, v) in [
                    ("mode", u64::from(x.mode), u64::from(y.mode)),
                    ("size", x.size, y.size),
                    ("inode", x.ino, y.ino),
                    ("nlink", x.nlink, y.nlink),
                ] {
                    if u != v {
                        what.push(format!("{n} {u:o} -> {v:o}"));
                    }
                }
                if x.mtime != y.mtime {
                    what.push(format!("mtime {:?} -> {:?}", x.mtime, y.mtime));
                }
                if x.ctime != y.ctime {
                    what.push(format!("ctime {:?} -> {:?}", x.ctime, y.ctime));
                }
                if (x.uid, x.gid) != (y.uid, y.gid) {
                    what.push("owner".into());
                }
                d.push(format!("{} changed: {}", p.display(), what.join(", ")));
            }
            _ => {}
        }
    }
    for p in b.keys().filter(|p| !a.contains_key(*p)) {
        d.push(format!("{} created", p.display()));
    }
    d
}

// ---------------------------------------------------------------------------
// Running the binary, as ourselves or as nobody, under strace or not.

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// `chmod a-w` (or back to u+w) on a directory and everything in it.
fn make_readonly(dir: &Path, ro: bool) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let md = fs::symlink_metadata(&p).unwrap();
        if md.file_type().is_symlink() {
            continue;
        }
        let m = md.mode() & 0o7777;
        set_mode(&p, if ro { m & !0o222 } else { m | 0o200 });
    }
    let m = fs::metadata(dir).unwrap().mode() & 0o7777;
    set_mode(dir, if ro { m & !0o222 } else { m | 0o200 });
}

/// A temp dir for outputs: on tmpfs when there is one (salvage fsyncs its
/// output, which we do not measure here), world-writable so that `nobody`
/// can write into it too.
fn out_tempdir() -> tempfile::TempDir {
    let t = Path::new("/dev/shm")
        .is_dir()
        .then(|| tempfile::tempdir_in("/dev/shm").ok())
        .flatten()
        .unwrap_or_else(|| tempfile::tempdir().unwrap());
    set_mode(t.path(), 0o777);
    t
}

#[derive(Clone)]
struct Runner {
    bin: PathBuf,
    /// Run as this uid/gid (root only).
    as_user: Option<u32>,
    /// Run under strace, writing the trace here.
    trace: Option<PathBuf>,
}

impl Runner {
    fn me() -> Self {
        Runner {
            bin: PathBuf::from(bin()),
            as_user: None,
            trace: None,
        }
    }

    fn run(&self, args: &[OsString]) -> Output {
        let mut cmd = match (&self.trace, strace()) {
            (Some(t), Some(st)) => {
                let mut c = Command::new(st);
                c.args([
                    "-f",
                    "-qq",
                    "-y",
                    "-s",
                    "4096",
                    "-e",
                    "trace=%file,flock,fcntl",
                    "-o",
                ])
                .arg(t)
                .arg(&self.bin);
                c
            }
            _ => Command::new(&self.bin),
        };
        cmd.args(args).stdin(Stdio::null());
        if let Some(u) = self.as_user {
            // std drops root's supplementary groups when it sets the uid.
            cmd.uid(u).gid(u);
        }
        cmd.output().expect("cannot start ldbsalvage")
    }
}

/// A copy of the binary that `nobody` can run (the build tree may not be
/// reachable for it).
fn nobody_runner(tmp: &Path) -> Runner {
    set_mode(tmp, 0o755);
    let b = tmp.join("ldbsalvage");
    fs::copy(bin(), &b).unwrap();
    set_mode(&b, 0o755);
    Runner {
        bin: b,
        as_user: Some(NOBODY),
        trace: None,
    }
}

/// A working strace, or None. Under CI (CI set) a missing strace is
/// installed with apt-get, and its absence is then a failure.
fn strace() -> Option<&'static Path> {
    static S: OnceLock<Option<PathBuf>> = OnceLock::new();
    S.get_or_init(|| {
        let works = || {
            Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if works() {
            return Some(PathBuf::from("strace"));
        }
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        if ci && is_root() {
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
            if works() {
                return Some(PathBuf::from("strace"));
            }
            panic!("CI: strace is missing and could not be installed with apt-get");
        }
        eprintln!("readonly: strace is not available here: the system-call checks are skipped");
        None
    })
    .as_deref()
}

// ---------------------------------------------------------------------------
// The commands.

struct Cmd {
    what: String,
    args: Vec<OsString>,
    /// Output files to compare between runs (relative to the out root).
    outputs: Vec<PathBuf>,
    /// stdout is an output to compare (streamed records, report to stdout).
    stdout_is_output: bool,
}

fn os(s: impl AsRef<std::ffi::OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

/// Every command that reads `db`, with outputs under `out` (which must not
/// exist yet). `single` is a file of the store to pass on its own.
fn commands(db: &Path, out: &Path, single: Option<&Path>) -> Vec<Cmd> {
    let o = |n: &str| out.join(n);
    let mut v = vec![
        Cmd {
            what: "scan".into(),
            args: vec![os("scan"), os(db), os("--quiet")],
            outputs: vec![],
            stdout_is_output: false,
        },
        Cmd {
            what: "scan --report FILE".into(),
            args: vec![os("scan"), os(db), os("--report"), os(o("scan.json"))],
            outputs: vec!["scan.json".into()],
            stdout_is_output: true,
        },
        Cmd {
            what: "scan --report -".into(),
            args: vec![
                os("scan"),
                os(db),
                os("--report"),
                os("-"),
                os("--jobs"),
                os("2"),
            ],
            outputs: vec![],
            stdout_is_output: true,
        },
        Cmd {
            what: "salvage (latest)".into(),
            args: vec![os("salvage"), os(db), os("--out"), os(o("latest"))],
            outputs: vec![
                "latest/records.jsonl".into(),
                "latest/unverified.jsonl".into(),
            ],
            stdout_is_output: false,
        },
        Cmd {
            what: "salvage --view all".into(),
            args: vec![
                os("salvage"),
                os(db),
                os("--out"),
                os(o("all")),
                os("--view"),
                os("all"),
                os("--quiet"),
            ],
            outputs: vec!["all/records.jsonl".into(), "all/unverified.jsonl".into()],
            stdout_is_output: false,
        },
        Cmd {
            what: "salvage --rebuild".into(),
            args: vec![
                os("salvage"),
                os(db),
                os("--out"),
                os(o("rebuild")),
                os("--rebuild"),
                os("--quiet"),
            ],
            outputs: vec![
                "rebuild/records.jsonl".into(),
                "rebuild/db/CURRENT".into(),
                "rebuild/db/MANIFEST-000001".into(),
            ],
            stdout_is_output: false,
        },
        Cmd {
            what: "salvage --out - --report FILE".into(),
            args: vec![
                os("salvage"),
                os(db),
                os("--out"),
                os("-"),
                os("--report"),
                os(o("stream-report.json")),
            ],
            outputs: vec![],
            stdout_is_output: true,
        },
        Cmd {
            what: "salvage --out - --view all".into(),
            args: vec![
                os("salvage"),
                os(db),
                os("--out"),
                os("-"),
                os("--view"),
                os("all"),
                os("--quiet"),
            ],
            outputs: vec![],
            stdout_is_output: true,
        },
    ];
    if let Some(f) = single {
        v.push(Cmd {
            what: format!("scan {}", f.display()),
            args: vec![os("scan"), os(f), os("--report"), os("-")],
            outputs: vec![],
            stdout_is_output: true,
        });
        v.push(Cmd {
            what: format!("salvage {}", f.display()),
            args: vec![
                os("salvage"),
                os(f),
                os("--out"),
                os(o("single")),
                os("--view"),
                os("all"),
                os("--quiet"),
            ],
            outputs: vec!["single/records.jsonl".into()],
            stdout_is_output: false,
        });
    }
    v
}

/// What a command produced that another run must reproduce.
#[derive(Debug, PartialEq, Eq)]
struct Produced {
    code: Option<i32>,
    stdout: Option<Vec<u8>>,
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

/// The store file to pass on its own: a log if there is one, else a table.
fn single_file(db: &Path) -> Option<PathBuf> {
    let mut names: Vec<PathBuf> = fs::read_dir(db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .iter()
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .or_else(|| {
            names
                .iter()
                .find(|p| p.extension().is_some_and(|x| x == "ldb"))
        })
        .cloned()
}

/// Run every command on `db` with `runner`; check the input after each one.
/// Returns what each produced (paths in the output are made relative).
fn run_all(fixture: &str, db: &Path, runner: &Runner, label: &str) -> Vec<Produced> {
    let outs = out_tempdir();
    let out = outs.path().join("o");
    fs::create_dir(&out).unwrap();
    set_mode(&out, 0o777);
    let before = fingerprint(db);
    let single = single_file(db);
    let mut produced = Vec::new();
    for c in commands(db, &out, single.as_deref()) {
        let o = runner.run(&c.args);
        let diff = fingerprint_diff(&before, &fingerprint(db));
        assert!(
            diff.is_empty(),
            "{fixture} ({label}): `{}` modified its input: {diff:?}",
            c.what
        );
        assert!(
            !db.join("LOCK").exists(),
            "{fixture} ({label}): `{}` left a LOCK file",
            c.what
        );
        let code = o.status.code();
        assert!(
            matches!(code, Some(0) | Some(1)),
            "{fixture} ({label}): `{}` failed: {}",
            c.what,
            describe(&c.args, &o)
        );
        let strip = |b: &[u8]| -> Vec<u8> {
            // Reports name their output directory; make that comparable.
            String::from_utf8_lossy(b)
                .replace(out.to_str().unwrap(), "<out>")
                .into_bytes()
        };
        produced.push(Produced {
            code,
            stdout: c.stdout_is_output.then(|| strip(&o.stdout)),
            files: c
                .outputs
                .iter()
                .map(|p| (p.clone(), fs::read(out.join(p)).ok().map(|b| strip(&b))))
                .collect(),
        });
    }
    produced
}

fn check_fixture(fixture: &str, nobody_bin: Option<&Runner>) {
    let (_tmp, db) = copy_fixture_db(fixture);
    // Writable input first, as the current user.
    let me = Runner::me();
    let writable = run_all(fixture, &db, &me, "writable input");
    // Then read-only.
    make_readonly(&db, true);
    let ro = run_all(fixture, &db, &me, "read-only input");
    assert_eq!(
        writable, ro,
        "{fixture}: a read-only input gives different results"
    );
    if let Some(nb) = nobody_bin {
        // nobody must be able to reach the copy, and not write to it: the
        // permission bits hold for this user, so the pass proves something.
        set_mode(db.parent().unwrap(), 0o755);
        let probe = db.join("probe-write");
        let touched = Command::new("touch")
            .arg(&probe)
            .uid(NOBODY)
            .gid(NOBODY)
            .stderr(Stdio::null())
            .status()
            .expect("touch");
        assert!(
            !touched.success() && !probe.exists(),
            "{fixture}: nobody can write into the read-only input; the pass would prove nothing"
        );
        let as_nobody = run_all(fixture, &db, nb, "read-only input, as nobody");
        assert_eq!(
            writable, as_nobody,
            "{fixture}: a read-only input read by an unprivileged user gives different results"
        );
    }
    make_readonly(&db, false);
}

#[test]
fn no_command_changes_its_input_writable_or_readonly() {
    let nb_dir = tempfile::tempdir().unwrap();
    let nobody = is_root().then(|| nobody_runner(nb_dir.path()));
    let names = fixture_names();
    assert!(names.len() >= 21);
    for f in &names {
        check_fixture(f, nobody.as_ref());
    }
}

// ---------------------------------------------------------------------------
// System calls.

/// Lines of a trace that write to, create in, or lock something under `dir`
/// (anywhere when `dir` is None), or lock anything at all.
fn writes_in(trace: &str, dir: Option<&Path>) -> Vec<String> {
    let inside = |l: &str| match dir {
        None => true,
        Some(dir) => {
            let d = dir.to_str().unwrap();
            // Paths as arguments ("DIR", DIR/...) and descriptors as strace
            // -y shows them (<DIR>).
            l.contains(&format!("\"{d}\""))
                || l.contains(&format!("{d}/"))
                || l.contains(&format!("<{d}>"))
        }
    };
    let mut bad = Vec::new();
    for l in trace.lines() {
        // "PID syscall(args) = ret"; skip the pid.
        let call = l.split_once(' ').map_or(l, |(_, rest)| rest).trim_start();
        let name = call.split('(').next().unwrap_or("");
        let opens_for_write = matches!(name, "open" | "openat" | "openat2" | "creat")
            && (name == "creat"
                || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"]
                    .iter()
                    .any(|f| call.contains(f)));
        let mutating = matches!(
            name,
            "mkdir"
                | "mkdirat"
                | "rename"
                | "renameat"
                | "renameat2"
                | "unlink"
                | "unlinkat"
                | "rmdir"
                | "link"
                | "linkat"
                | "symlink"
                | "symlinkat"
                | "truncate"
                | "chmod"
                | "fchmodat"
                | "fchmodat2"
                | "chown"
                | "fchownat"
                | "lchown"
                | "utime"
                | "utimes"
                | "utimensat"
                | "futimesat"
                | "mknod"
                | "mknodat"
                | "setxattr"
                | "lsetxattr"
                | "removexattr"
                | "lremovexattr"
        );
        let locks = name == "flock"
            || (name == "fcntl"
                && ["F_SETLK", "F_SETLKW", "F_OFD_SETLK", "F_OFD_SETLKW"]
                    .iter()
                    .any(|f| call.contains(f)));
        // A lock is only wrong on the input: salvage claims its own --out
        // with flock so that two runs cannot mix their files there.
        if (locks || opens_for_write || mutating) && inside(l) {
            bad.push(l.to_string());
        }
    }
    bad
}

fn writes_under(trace: &str, dir: &Path) -> Vec<String> {
    writes_in(trace, Some(dir))
}

/// Lines of a trace that write or create anything anywhere.
fn any_writes(trace: &str) -> Vec<String> {
    writes_in(trace, None)
        .into_iter()
        // /dev/null and the terminal are not outputs.
        .filter(|l| {
            !["\"/dev/null\"", "\"/dev/tty\"", "\"/dev/pts/"]
                .iter()
                .any(|d| l.contains(d))
        })
        .collect()
}

fn traced(args: &[OsString], trace: &Path) -> (Output, String) {
    let r = Runner {
        trace: Some(trace.to_path_buf()),
        ..Runner::me()
    };
    let o = r.run(args);
    let t = fs::read_to_string(trace).unwrap_or_default();
    (o, t)
}

#[test]
fn no_system_call_writes_or_locks_the_input() {
    if strace().is_none() {
        return;
    }
    for fixture in [
        "log-bad-crc",
        "table-truncated",
        "junk-file",
        "manifest-damaged",
        "binary-keys",
    ] {
        let (tmp, db) = copy_fixture_db(fixture);
        let outs = out_tempdir();
        let out = outs.path().join("o");
        fs::create_dir(&out).unwrap();
        let single = single_file(&db);
        for (i, c) in commands(&db, &out, single.as_deref()).iter().enumerate() {
            let trace = tmp.path().join(format!("trace-{i}"));
            let (o, t) = traced(&c.args, &trace);
            assert!(
                matches!(o.status.code(), Some(0) | Some(1)),
                "{fixture}: `{}` under strace: {}",
                c.what,
                describe(&c.args, &o)
            );
            let bad = writes_under(&t, &db);
            assert!(
                bad.is_empty(),
                "{fixture}: `{}` wrote to, created in or locked its input:\n{}",
                c.what,
                bad.join("\n")
            );
            // The trace is real: it shows the input being read...
            let d = db.to_str().unwrap();
            assert!(
                t.lines()
                    .any(|l| l.contains("O_RDONLY") && l.contains(&format!("{d}/"))),
                "{fixture}: `{}`: the trace shows no read of the input:\n{t}",
                c.what
            );
            // ...and, for salvage into a directory, the output being written.
            if c.args[0] == "salvage" && c.args[3] != "-" {
                assert!(
                    !any_writes(&t).is_empty(),
                    "{fixture}: `{}`: the trace shows no write at all, so the check proves nothing",
                    c.what
                );
            }
        }
    }
}

/// `--out` / `--report` inside the input: exit 2, and not a byte written
/// anywhere (checked by fingerprint, and by strace when there is one).
#[test]
fn out_inside_the_input_is_refused_before_anything_is_written() {
    let (tmp, db) = copy_fixture_db("log-bad-crc");
    let link = tmp.path().join("link-to-db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    let cases: Vec<(&str, Vec<OsString>)> = vec![
        (
            "--out inside",
            vec![os("salvage"), os(&db), os("--out"), os(db.join("out"))],
        ),
        (
            "--out is the input",
            vec![os("salvage"), os(&db), os("--out"), os(&db)],
        ),
        (
            "--out through a symlink",
            vec![os("salvage"), os(&db), os("--out"), os(link.join("out"))],
        ),
        (
            "--out through ..",
            vec![
                os("salvage"),
                os(&db),
                os("--out"),
                os(tmp.path().join("missing/../db/out")),
            ],
        ),
        (
            "--out inside, --rebuild",
            vec![
                os("salvage"),
                os(&db),
                os("--out"),
                os(db.join("o")),
                os("--rebuild"),
            ],
        ),
        (
            "--out - with --report inside",
            vec![
                os("salvage"),
                os(&db),
                os("--out"),
                os("-"),
                os("--report"),
                os(db.join("r.json")),
            ],
        ),
        (
            "--report inside through a symlink",
            vec![
                os("salvage"),
                os(&db),
                os("--out"),
                os(&elsewhere),
                os("--report"),
                os(link.join("r.json")),
            ],
        ),
        (
            "single file input, --out beside it",
            vec![
                os("salvage"),
                os(db.join("000003.log")),
                os("--out"),
                os(db.join("out")),
            ],
        ),
        (
            "scan --report inside",
            vec![os("scan"), os(&db), os("--report"), os(db.join("r.json"))],
        ),
    ];
    for ro in [false, true] {
        make_readonly(&db, ro);
        let before = fingerprint(&db);
        for (i, (what, args)) in cases.iter().enumerate() {
            let trace = tmp.path().join(format!("refuse-{ro}-{i}"));
            let (o, t) = if strace().is_some() {
                traced(args, &trace)
            } else {
                (Runner::me().run(args), String::new())
            };
            assert_eq!(
                o.status.code(),
                Some(EXIT_USAGE),
                "{what} (read-only: {ro}): {}",
                describe(args, &o)
            );
            let diff = fingerprint_diff(&before, &fingerprint(&db));
            assert!(diff.is_empty(), "{what}: input changed: {diff:?}");
            assert!(
                !elsewhere.exists(),
                "{what}: an output directory was created before the refusal"
            );
            let w = any_writes(&t);
            assert!(
                w.is_empty(),
                "{what}: wrote before refusing:\n{}",
                w.join("\n")
            );
        }
        make_readonly(&db, false);
    }
}

/// The tracer catches writes: a control on the check itself.
#[test]
fn the_write_detector_detects_writes() {
    let t = "\
123 openat(AT_FDCWD</x>, \"/in/db/000003.log\", O_RDONLY|O_CLOEXEC) = 3</in/db/000003.log>
123 openat(AT_FDCWD</x>, \"/in/db/LOCK\", O_RDWR|O_CREAT|O_CLOEXEC, 0644) = 4
124 renameat2(AT_FDCWD, \"/in/db/a\", AT_FDCWD, \"/in/db/b\", 0) = 0
124 flock(4</in/db/LOCK>, LOCK_EX|LOCK_NB) = 0
125 openat(AT_FDCWD, \"/out/.records.jsonl.tmp-9\", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 5
125 flock(6</out>, LOCK_EX|LOCK_NB) = 0
";
    let bad = writes_under(t, Path::new("/in/db"));
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!(any_writes(t).len(), 5);
    assert!(
        writes_under(t, Path::new("/in/d")).is_empty(),
        "a name that only starts like the input's is not the input"
    );
    assert_eq!(
        writes_under(t, Path::new("/out")).len(),
        2,
        "the output's file and its claim"
    );
}
