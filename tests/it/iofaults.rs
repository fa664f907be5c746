//! I/O faults: files that cannot be read, or not fully.
//!
//! - A store file that cannot be opened is reported (`files[].error`), the
//!   rest of the store is still salvaged, and the exit status is 1, not 2;
//!   exit 2 only when nothing at all could be read. A live table that could
//!   not be read has its key range (from the MANIFEST) in `lost.key_ranges`
//!   and `requeue`.
//!
//!   How the read error is made real: `chmod 000`. Root ignores permission
//!   bits, so when the tests run as root the binary runs as the unprivileged
//!   `nobody` (uid 65534), for whom the open really fails with EACCES (the
//!   test checks that it does). A FIFO, a directory or a dangling symlink
//!   named like a store file are faults of another kind: they are not
//!   regular files and are reported as such without being opened (a FIFO
//!   would block an open; links are not followed).
//! - A file that shrinks while it is read: the library path with a
//!   `scan::logfile::Source` that delivers fewer bytes than the size it was
//!   listed with (or fails at an offset), at cut points in the first window,
//!   at a block boundary and past the first 4 MiB window; and real files
//!   truncated between listing and reading, through `scan_file` and
//!   `salvage`. The error is reported and every record before the cut is
//!   recovered intact.

use crate::common;

use common::*;
use ldbsalvage::format::batch::BatchBuilder;
use ldbsalvage::format::log::BLOCK_SIZE;
use ldbsalvage::progress::Silent;
use ldbsalvage::report::Class;
use ldbsalvage::salvage::export::{self, OutDest, SalvageOptions, View};
use ldbsalvage::salvage::log_writer::LogWriter;
use ldbsalvage::scan::logfile::{MappedFile, Mem, Source};
use ldbsalvage::scan::mapped::Mapped;
use ldbsalvage::scan::store::{list_inputs, scan_file};
use ldbsalvage::scan::{log as logscan, Collect, Discard};
use serde_json::Value;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs the binary so that `chmod 000` binds: as ourselves, or as nobody
/// when we are root (with a copy of the binary nobody can reach).
struct Unprivileged {
    bin: PathBuf,
    uid: Option<u32>,
}

impl Unprivileged {
    fn new(tmp: &Path) -> Self {
        if !is_root() {
            return Unprivileged {
                bin: PathBuf::from(bin()),
                uid: None,
            };
        }
        set_mode(tmp, 0o755);
        let b = tmp.join("ldbsalvage");
        fs::copy(bin(), &b).unwrap();
        set_mode(&b, 0o755);
        Unprivileged {
            bin: b,
            uid: Some(NOBODY),
        }
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        if let Some(u) = self.uid {
            c.uid(u).gid(u);
        }
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[OsString]) -> Output {
        self.command(&self.bin).args(args).output().unwrap()
    }

    /// Whether this user really cannot read `p` (else the test proves
    /// nothing).
    fn cannot_read(&self, p: &Path) -> bool {
        !self
            .command(Path::new("cat"))
            .arg(p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }
}

fn os(s: impl AsRef<std::ffi::OsStr>) -> OsString {
    s.as_ref().to_os_string()
}

fn file_report<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in the report's files[]"))
}

/// A fixture copied into a dir the unprivileged user can traverse, with an
/// output dir it can write.
fn setup(fixture: &str) -> (tempfile::TempDir, PathBuf, PathBuf, Unprivileged) {
    let (tmp, db) = copy_fixture_db(fixture);
    let u = Unprivileged::new(tmp.path());
    let outs = tmp.path().join("outs");
    fs::create_dir(&outs).unwrap();
    set_mode(&outs, 0o777);
    (tmp, db, outs, u)
}

#[test]
fn unreadable_table_is_reported_and_the_rest_salvaged() {
    let fixture = "table-healthy-snappy";
    let exp = load_expected(fixture);
    let (_tmp, db, outs, u) = setup(fixture);
    let victim = db.join("000005.ldb");
    set_mode(&victim, 0o000);
    assert!(
        u.cannot_read(&victim),
        "chmod 000 does not stop this user from reading: the test would prove nothing"
    );
    let out = outs.join("out");
    let args = vec![
        os("salvage"),
        os(&db),
        os("--out"),
        os(&out),
        os("--view"),
        os("all"),
        os("--quiet"),
    ];
    let o = u.run(&args);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    let r = read_json(&out.join("report.json"));
    let f = file_report(&r, "000005.ldb");
    let err = f["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("ermission denied"),
        "000005.ldb: error {:?}, expected permission denied",
        f["error"]
    );
    assert_eq!(f["scanned"], false);
    // Everything else is there, nothing of the unreadable table.
    let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap()).unwrap();
    let got: HashSet<(u64, Vec<u8>)> = recs.iter().map(|r| (r.seq, r.key.clone())).collect();
    for e in &exp.universe {
        let here = got.contains(&(e.seq, e.key.clone()));
        assert_eq!(
            here,
            e.file != "000005.ldb",
            "seq {} key {} of {}: exported {here}",
            e.seq,
            show(&e.key),
            e.file
        );
    }
    assert!(recs.iter().all(|r| r.file != "000005.ldb"));
    // The live table's key range is a loss a replay job must know about.
    let ranges = r["lost"]["key_ranges"].as_array().unwrap();
    assert!(
        ranges.iter().any(|k| k["file"] == "000005.ldb"),
        "lost.key_ranges does not name the unreadable live table: {ranges:?}"
    );
    let requeue = r["requeue"].as_array().unwrap();
    assert!(
        requeue
            .iter()
            .any(|k| k["type"] == "key_range" && k["file"] == "000005.ldb"),
        "requeue does not name the unreadable live table: {requeue:?}"
    );
    // scan says the same.
    let sargs = vec![os("scan"), os(&db), os("--report"), os("-")];
    let o = u.run(&sargs);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&sargs, &o));
    let sr: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(file_report(&sr, "000005.ldb")["error"].is_string());
    set_mode(&victim, 0o644);
}

#[test]
fn unreadable_log_is_reported_and_the_tables_salvaged() {
    let fixture = "table-healthy-none";
    let exp = load_expected(fixture);
    let (_tmp, db, outs, u) = setup(fixture);
    let victim = db.join("000008.log");
    set_mode(&victim, 0o000);
    assert!(u.cannot_read(&victim));
    let out = outs.join("out");
    let args = vec![
        os("salvage"),
        os(&db),
        os("--out"),
        os(&out),
        os("--view"),
        os("all"),
    ];
    let o = u.run(&args);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    let r = read_json(&out.join("report.json"));
    assert!(file_report(&r, "000008.log")["error"].is_string());
    let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap()).unwrap();
    let want = exp
        .universe
        .iter()
        .filter(|e| e.file != "000008.log")
        .count();
    assert_eq!(recs.len(), want);
    // Its writes are lost, and the report says which: from just after the
    // newest sequence the tables hold, open-ended (no newer log).
    let in_log: Vec<u64> = exp
        .universe
        .iter()
        .filter(|e| e.file == "000008.log")
        .map(|e| e.seq)
        .collect();
    assert!(!in_log.is_empty(), "the fixture's log holds writes");
    let table_newest = exp
        .universe
        .iter()
        .filter(|e| e.file != "000008.log")
        .map(|e| e.seq)
        .max()
        .unwrap();
    let ranges = r["lost"]["sequence_ranges"].as_array().unwrap();
    let mine: Vec<&Value> = ranges
        .iter()
        .filter(|x| x["file"] == "000008.log")
        .collect();
    assert_eq!(mine.len(), 1, "{ranges:?}");
    assert_eq!(mine[0]["first"].as_u64(), Some(table_newest + 1));
    assert!(mine[0]["last"].is_null());
    assert!(in_log.iter().all(|&q| q > table_newest));
    let requeue = r["requeue"].as_array().unwrap();
    assert!(
        requeue.iter().any(|q| q["file"] == "000008.log"),
        "{requeue:?}"
    );
    set_mode(&victim, 0o644);
}

#[test]
fn nothing_readable_exits_2() {
    let (_tmp, db, outs, u) = setup("manifest-damaged");
    let files: Vec<PathBuf> = fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for f in &files {
        set_mode(f, 0o000);
        assert!(u.cannot_read(f));
    }
    for args in [
        vec![os("scan"), os(&db), os("--report"), os("-")],
        vec![os("salvage"), os(&db), os("--out"), os(outs.join("o"))],
    ] {
        let o = u.run(&args);
        assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&args, &o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("nothing readable"),
            "{}",
            describe(&args, &o)
        );
    }
    // One readable file is enough for 1.
    set_mode(&db.join("000006.log"), 0o644);
    let args = vec![os("scan"), os(&db), os("--quiet")];
    let o = u.run(&args);
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    for f in &files {
        set_mode(f, 0o644);
    }
}

/// Entries that are not regular files but carry a store file's name: a
/// directory, a dangling symlink, a symlink to a real table, a FIFO. Each
/// is reported with an error, none is opened or followed, the run does not
/// hang, the rest is salvaged. A non-store name (a plain subdirectory) is
/// not a fault and is left out.
#[test]
fn non_regular_entries_named_like_store_files_are_reported() {
    let fixture = "table-healthy-snappy";
    let exp = load_expected(fixture);
    let (tmp, db) = copy_fixture_db(fixture);
    fs::create_dir(db.join("000010.ldb")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/000011.log", db.join("000011.log")).unwrap();
    let elsewhere = tmp.path().join("elsewhere.ldb");
    fs::copy(db.join("000007.ldb"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, db.join("000012.ldb")).unwrap();
    let fifo = db.join("000013.log");
    let made_fifo = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    fs::create_dir(db.join("backup")).unwrap();
    let out = tmp.path().join("out");
    let args = vec![
        os("salvage"),
        os(&db),
        os("--out"),
        os(&out),
        os("--view"),
        os("all"),
    ];
    // A hang (an opened FIFO) must fail the test, not stall it.
    let mut child = Command::new(bin())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("salvage hangs on a store with a FIFO in it");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
    let r = read_json(&out.join("report.json"));
    let mut faulty = vec!["000010.ldb", "000011.log", "000012.ldb"];
    if made_fifo {
        faulty.push("000013.log");
    }
    for n in faulty {
        let f = file_report(&r, n);
        let e = f["error"].as_str().unwrap_or_default();
        assert!(
            e.contains("not a regular file"),
            "{n}: error {:?}",
            f["error"]
        );
        assert_eq!(f["scanned"], false, "{n} was read");
    }
    assert!(
        r["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["name"] != "backup"),
        "a plain subdirectory is not a store file"
    );
    // The linked table was not followed: 000007.ldb's entries once, from itself.
    let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap()).unwrap();
    assert_eq!(recs.len(), exp.universe.len());
    assert!(recs.iter().all(|r| r.file != "000012.ldb"));
}

// ---------------------------------------------------------------------------
// Files that shrink or fail while being read.

/// A source that claims `size` bytes but delivers only the first `avail`
/// (a file truncated under us), or fails with EIO from `fail_at` on.
struct Faulty<'a> {
    data: &'a [u8],
    avail: usize,
    fail_at: Option<u64>,
}

impl Source for Faulty<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if let Some(f) = self.fail_at {
            if offset + buf.len() as u64 > f {
                return Err(io::Error::other("injected EIO"));
            }
        }
        Mem(&self.data[..self.avail]).read_at(buf, offset)
    }
}

/// A log of `n` single-put batches, and each record's (start, end).
fn build_log(n: usize, value_len: usize) -> (Vec<u8>, Vec<(u64, u64)>) {
    let mut w = LogWriter::new();
    let mut spans = Vec::new();
    let value = vec![b'v'; value_len];
    for i in 0..n {
        let start = w.as_bytes().len();
        // A record never starts in a block's last 6 bytes: the writer pads.
        let start = if BLOCK_SIZE - start % BLOCK_SIZE < 7 {
            start + (BLOCK_SIZE - start % BLOCK_SIZE)
        } else {
            start
        };
        w.add_record(
            &BatchBuilder::new(i as u64 + 1)
                .put(format!("k{i:06}").as_bytes(), &value)
                .build(),
        );
        spans.push((start as u64, w.as_bytes().len() as u64));
    }
    (w.into_bytes(), spans)
}

#[test]
fn log_source_shrinking_or_failing_while_read() {
    // ~5 MiB: past the first 4 MiB window.
    let (log, spans) = build_log(5200, 1000);
    assert!(log.len() > (4 << 20) + BLOCK_SIZE);
    let cuts = [
        1000,
        BLOCK_SIZE,
        BLOCK_SIZE + 1,
        3 * BLOCK_SIZE + 517,
        (4 << 20) - 3,
        4 << 20,
        (4 << 20) + 2 * BLOCK_SIZE + 99,
        log.len() - 1,
    ];
    for &cut in &cuts {
        for fail in [false, true] {
            let src = Faulty {
                data: &log,
                avail: if fail { log.len() } else { cut },
                fail_at: fail.then_some(cut as u64),
            };
            let what = format!("{} at {cut}", if fail { "EIO" } else { "shrink" });
            let mut c = Collect::default();
            let s = logscan::scan(&src, log.len() as u64, &mut c, &|_| {});
            let err = s
                .outcome
                .io_error
                .clone()
                .unwrap_or_else(|| panic!("{what}: no I/O error reported"));
            let word = if fail { "read error" } else { "shrank" };
            assert!(err.contains(word), "{what}: error {err:?}");
            // Every record that lies wholly before what was read is intact.
            // With EIO, a whole 32 KiB read fails: records of the failing
            // block's start onwards may be lost, nothing before it.
            let readable_to = if fail {
                (cut / BLOCK_SIZE * BLOCK_SIZE) as u64
            } else {
                cut as u64
            };
            let intact: HashSet<u64> = c.intact.iter().map(|e| e.seq).collect();
            for (i, &(_, end)) in spans.iter().enumerate() {
                if end <= readable_to {
                    assert!(
                        intact.contains(&(i as u64 + 1)),
                        "{what}: record {i} ending at {end} lost"
                    );
                }
            }
            // Nothing invented, nothing from past the cut.
            for e in &c.intact {
                let (_, end) = spans[e.seq as usize - 1];
                assert!(end <= cut as u64, "{what}: record ending at {end} intact");
            }
            for d in &s.outcome.damage {
                assert!(
                    d.offset + d.length <= cut as u64,
                    "{what}: damage {}+{} past what was read",
                    d.offset,
                    d.length
                );
            }
            assert!(s.outcome.bytes_read <= cut as u64, "{what}");
            // A record cut by the shrink is torn at the new end.
            if !fail {
                if let Some(&(start, _)) = spans
                    .iter()
                    .find(|&&(s, e)| s < cut as u64 && e > cut as u64)
                {
                    let d = s.outcome.damage.last().expect("the cut record is damage");
                    assert_eq!((d.offset, d.class), (start, Class::Torn), "{what}");
                }
            }
        }
    }
}

/// A real file read through mappings, cut to `cut` bytes right after its
/// first window is mapped: the pages past the cut then raise SIGBUS when
/// touched, or read as zeros in the page the cut falls in.
struct ShrinkAfterMap {
    file: fs::File,
    cut: u64,
    done: std::sync::atomic::AtomicBool,
}

impl Source for ShrinkAfterMap {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        MappedFile(&self.file).read_at(buf, offset)
    }
    fn map(&self, offset: u64, len: usize) -> Option<Mapped> {
        let m = MappedFile(&self.file).map(offset, len);
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.file.set_len(self.cut).unwrap();
        }
        m
    }
    fn holds(&self, end: u64) -> bool {
        MappedFile(&self.file).holds(end)
    }
}

/// What a scan through mappings makes of a log cut while mapped: the same
/// as a read scan of the cut file, plus the error saying it shrank; the
/// process does not die of SIGBUS.
#[test]
fn a_log_cut_while_mapped_reads_like_the_cut_file() {
    let (bytes, spans) = build_log(4000, 300);
    assert!(bytes.len() > 4 * BLOCK_SIZE);
    // One cut inside a page, one exactly at a page (so that whole mapped
    // pages vanish), one deep in the file.
    for cut in [3 * BLOCK_SIZE + 1234, 8 * BLOCK_SIZE, bytes.len() - 777] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("000001.log");
        fs::write(&path, &bytes).unwrap();
        let src = ShrinkAfterMap {
            file: fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap(),
            cut: cut as u64,
            done: Default::default(),
        };
        let mut c = Collect::default();
        let s = logscan::scan(&src, bytes.len() as u64, &mut c, &|_| {});
        let e = s.outcome.io_error.clone().unwrap_or_default();
        assert!(e.contains("shrank"), "cut {cut}: error {e:?}");
        let mut want = Collect::default();
        let w = logscan::scan(
            &Faulty {
                data: &bytes,
                avail: cut,
                fail_at: None,
            },
            bytes.len() as u64,
            &mut want,
            &|_| {},
        );
        assert_eq!(c.intact, want.intact, "cut {cut}");
        assert_eq!(s.outcome.damage, w.outcome.damage, "cut {cut}");
        let whole = spans.iter().filter(|&&(_, e)| e <= cut as u64).count();
        assert_eq!(c.intact.len(), whole, "cut {cut}");
    }
}

/// Real files truncated between listing and reading: the sizes the listing
/// saw are larger than what is there when the file is read.
#[test]
fn files_truncated_after_listing() {
    let fixture = "table-healthy-none";
    let exp = load_expected(fixture);
    let (tmp, db) = copy_fixture_db(fixture);
    let inputs = list_inputs(std::slice::from_ref(&db)).unwrap();
    let table = db.join("000005.ldb");
    let log = db.join("000008.log");
    let (tlen, llen) = (
        fs::metadata(&table).unwrap().len(),
        fs::metadata(&log).unwrap().len(),
    );
    fs::OpenOptions::new()
        .write(true)
        .open(&table)
        .unwrap()
        .set_len(tlen * 7 / 10)
        .unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(llen / 2)
        .unwrap();
    // Per file.
    for f in inputs
        .iter()
        .filter(|f| f.name == "000005.ldb" || f.name == "000008.log")
    {
        let s = scan_file(f, &mut Discard, &Silent);
        let e = s.report.error.clone().unwrap_or_default();
        assert!(
            e.contains("shrank"),
            "{}: error {:?}",
            f.name,
            s.report.error
        );
        assert!(s.report.scanned);
    }
    // Whole store, in-process: the rest salvaged, the blocks and records
    // before the cuts too.
    let out = tmp.path().join("out");
    export::prepare_out_dir(&out, &db).unwrap();
    let opts = SalvageOptions {
        path: db.clone(),
        out: OutDest::Dir(out.clone()),
        view: View::All,
        order: Default::default(),
        report: None,
        rebuild: false,
        dialect: None,
        deobfuscate: false,
    };
    let s = export::salvage(&inputs, &opts, &Silent).unwrap();
    let errs: Vec<&str> = s
        .report
        .files
        .iter()
        .filter(|f| f.error.is_some())
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(errs, ["000005.ldb", "000008.log"]);
    assert!(s.report.has_damage());
    let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap()).unwrap();
    let from = |n: &str| recs.iter().filter(|r| r.file == n).count();
    let truth = |n: &str| exp.universe.iter().filter(|e| e.file == n).count();
    assert_eq!(from("000007.ldb"), truth("000007.ldb"));
    assert!(from("000005.ldb") > 0, "blocks before the cut lost");
    assert!(from("000005.ldb") < truth("000005.ldb"));
    assert!(from("000008.log") > 0, "records before the cut lost");
    for r in &recs {
        let u = exp
            .universe
            .iter()
            .find(|e| e.seq == r.seq && e.key == r.key && e.file == r.file)
            .unwrap_or_else(|| panic!("seq {} key {} was never written", r.seq, show(&r.key)));
        assert_eq!(r.value, u.value);
        let cut = if r.file == "000005.ldb" {
            tlen * 7 / 10
        } else {
            llen / 2
        };
        if r.file != "000007.ldb" {
            assert!(r.offset < cut, "{}: entry from past the cut", r.file);
        }
    }
}

/// A "table" far larger than any LevelDB writes (here a sparse 3 GiB file)
/// is reported and left unread instead of being loaded into memory; the
/// rest of the store is still scanned.
#[test]
fn oversized_table_is_reported_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    fs::create_dir(&db).unwrap();
    fs::copy(
        fixtures_dir().join("log-healthy/db/000003.log"),
        db.join("000003.log"),
    )
    .unwrap();
    let big = fs::File::create(db.join("000005.ldb")).unwrap();
    big.set_len(3 << 30).unwrap();
    drop(big);
    let inputs = list_inputs(std::slice::from_ref(&db)).unwrap();
    let t = inputs.iter().find(|f| f.name == "000005.ldb").unwrap();
    let started = Instant::now();
    let s = scan_file(t, &mut Discard, &Silent);
    assert!(started.elapsed() < Duration::from_secs(5));
    let e = s.report.error.expect("an error for the oversized table");
    assert!(e.contains("more than a LevelDB table can be"), "{e}");
    assert!(!s.report.scanned);
    let log = inputs.iter().find(|f| f.name == "000003.log").unwrap();
    assert!(scan_file(log, &mut Discard, &Silent).report.entries > 0);
}

/// Truncates one table when the scan reaches `CURRENT`: after every table
/// was read once, before the latest view reads them again.
struct TruncateBeforeMerge {
    table: PathBuf,
}

impl ldbsalvage::progress::Progress for TruncateBeforeMerge {
    fn file(&self, name: &str) {
        if name == "CURRENT" {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&self.table)
                .unwrap();
            f.set_len(100).unwrap();
        }
    }
}

/// A table that shrinks between the scan and the latest-view merge (a live
/// store still being written, a dying disk) is that file's problem: its
/// error is reported, the rest of the store is exported, and the keys it
/// may have held are a lost key range. Before, the whole salvage failed.
#[test]
fn a_table_shrinking_before_the_merge_is_its_own_problem() {
    for ranged in [true, false] {
        let (tmp, db) = copy_fixture_db("table-healthy-snappy");
        let inputs = list_inputs(std::slice::from_ref(&db)).unwrap();
        let out = tmp.path().join("out");
        let _claim = export::prepare_out_dir(&out, &db).unwrap();
        let opts = SalvageOptions {
            path: db.clone(),
            out: OutDest::Dir(out.clone()),
            view: View::Latest,
            order: Default::default(),
            report: None,
            // --rebuild merges in one piece; without it, by key range.
            rebuild: !ranged,
            dialect: None,
            deobfuscate: false,
        };
        let hook = TruncateBeforeMerge {
            table: db.join("000005.ldb"),
        };
        let s = export::salvage(&inputs, &opts, &hook).unwrap();
        let f = s
            .report
            .files
            .iter()
            .find(|f| f.name == "000005.ldb")
            .unwrap();
        let e = f.error.clone().unwrap_or_default();
        assert!(e.contains("changed while being salvaged"), "{e}");
        assert!(s.report.has_damage());
        let lost = s.report.lost.key_ranges.clone().unwrap();
        assert!(lost.iter().any(|k| k.file == "000005.ldb"), "{lost:?}");
        let requeue = serde_json::to_value(&s.report.requeue).unwrap();
        assert!(
            requeue
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["file"] == "000005.ldb"),
            "{requeue}"
        );
        let recs = parse_ndjson(&fs::read(out.join("records.jsonl")).unwrap()).unwrap();
        assert!(
            recs.iter().any(|r| r.file == "000007.ldb"),
            "the other table is exported"
        );
    }
}

/// A store file swapped for a FIFO (or a symlink) between the listing and
/// the open: the open itself refuses it (O_NONBLOCK, O_NOFOLLOW, then
/// fstat), so the scan reports an error instead of blocking forever on the
/// FIFO or following the link. Run on a thread with a deadline.
#[test]
fn a_file_swapped_for_a_fifo_after_listing_never_blocks() {
    for swap in ["fifo", "symlink"] {
        let (_tmp, db) = copy_fixture_db("table-healthy-snappy");
        let inputs = list_inputs(std::slice::from_ref(&db)).unwrap();
        for name in ["000005.ldb", "000008.log", "MANIFEST-000006"] {
            let p = db.join(name);
            fs::remove_file(&p).unwrap();
            if swap == "fifo" {
                let st = Command::new("mkfifo").arg(&p).status().unwrap();
                assert!(st.success());
            } else {
                std::os::unix::fs::symlink(db.join("CURRENT"), &p).unwrap();
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let listed = inputs.clone();
        std::thread::spawn(move || {
            let errors: Vec<(String, Option<String>)> = listed
                .iter()
                .filter(|f| f.name != "CURRENT")
                .map(|f| {
                    let s = scan_file(f, &mut Discard, &Silent);
                    (f.name.clone(), s.report.error)
                })
                .collect();
            let _ = tx.send(errors);
        });
        let errors = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{swap}: a scan blocked on a swapped file"));
        let swapped = ["000005.ldb", "000008.log", "MANIFEST-000006"];
        assert_eq!(
            errors
                .iter()
                .filter(|(n, _)| swapped.contains(&n.as_str()))
                .count(),
            3
        );
        for (name, e) in errors {
            if !swapped.contains(&name.as_str()) {
                assert!(e.is_none(), "{swap}: {name}: {e:?}");
                continue;
            }
            let e = e.unwrap_or_else(|| panic!("{swap}: {name} read without an error"));
            assert!(
                e.contains("not a regular file") || e.contains("cannot open"),
                "{swap}: {name}: {e}"
            );
        }
    }
}
