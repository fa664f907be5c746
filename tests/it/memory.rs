//! Memory is bounded by the budgets and by decompressed, formatted bytes,
//! never by what a hostile or sparse file makes the process hold. Peaks are
//! measured from outside the process: each run is exec'd under `ulimit -v`
//! (address space, KiB), so an allocation past the bound aborts the run.
//! glibc is held to one arena so that per-thread heap reservations do not
//! count against the limit.

use crate::common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Run the binary with `args` under an address-space limit of `limit_kib`
/// and extra environment, killed if it runs past two minutes.
fn run_limited(limit_kib: u64, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("ulimit -v {limit_kib} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .env("MALLOC_ARENA_MAX", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("cannot start bash");
    // Output is read on threads so a full pipe cannot stall the child.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).map(|_| v)
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).map(|_| v)
    });
    let (status, killed) = wait_or_kill(&mut child, Duration::from_secs(120));
    assert!(!killed, "ldbsalvage {args:?} ran past two minutes");
    Output {
        status,
        stdout: o.join().unwrap().unwrap(),
        stderr: e.join().unwrap().unwrap(),
    }
}

fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// Four sparse 32 MiB tables (no disk used; they scan as all-damage) under
/// a 32 MiB table budget: with `--jobs 4` one whole-file buffer per thread
/// held 128 MiB; the budget lets one table in at a time. Full-size files
/// and the default budget behave the same, 8 times larger and slower.
#[test]
fn tables_held_at_once_stay_within_the_table_budget() {
    const MIB: u64 = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=4 {
        sparse(&dir.path().join(format!("00000{i}.ldb")), 32 * MIB);
    }
    let budget = (32 * MIB).to_string();
    let env = [("LDBSALVAGE_TABLE_BUDGET", budget.as_str())];
    let d = dir.path().to_str().unwrap();
    // 96 MiB of address space: the four buffers alone would need 128.
    let limit = 96 * 1024;
    let mut reports = Vec::new();
    for jobs in ["4", "1"] {
        let args = ["scan", "--jobs", jobs, "--report", "-", d];
        let o = run_limited(limit, &env, &args);
        assert_eq!(code(&o), EXIT_DAMAGE, "{}", describe(&args, &o));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["files"].as_array().unwrap().len(), 4);
        for f in r["files"].as_array().unwrap() {
            assert_eq!(f["scanned"], true, "{f}");
            assert!(f["error"].is_null(), "{f}");
        }
        reports.push(o.stdout);
    }
    assert_eq!(reports[0], reports[1], "output depends on --jobs");
}

/// A store of one table of `blocks` zlib blocks, each one value of
/// `value_len` zero bytes: a few hundred KiB on disk, `6 * value_len`
/// bytes of JSON per value (`\u0000` per byte).
fn zlib_bomb(dir: &Path, blocks: usize, value_len: usize) {
    use ldbsalvage::format::batch::Kind;
    use ldbsalvage::format::ikey;
    use ldbsalvage::format::table_writer::{BuildOptions, Compression, TableBuilder};
    let mut t = TableBuilder::new(BuildOptions {
        block_size: 4096,
        restart_interval: 16,
        compression: Compression::Zlib,
    });
    let value = vec![0u8; value_len];
    for i in 0..blocks {
        let key = ikey::encode(format!("key{i:03}").as_bytes(), 100 + i as u64, Kind::Put);
        t.add(&key, &value).unwrap();
    }
    let table = t.finish();
    assert!(table.len() < blocks * value_len / 500, "not a bomb");
    std::fs::write(dir.join("000005.ldb"), table).unwrap();
}

/// Three zlib blocks of 32 MiB of zeros each (~100 KiB on disk): their
/// values held decompressed together (the verification batch counted
/// stored bytes) and their 576 MiB of JSON held whole until the table's
/// turn took ~700 MiB. Now a batch is bounded by what its blocks can
/// decompress to, held lines by the lines budget (16 MiB here), and a
/// value is escaped into the output in pieces: at most two blocks
/// decompressed at once plus the budgets, far under 400 MiB. The export
/// must still be exact, and the same for any --jobs.
#[test]
fn a_decompression_bomb_is_exported_within_bounded_memory() {
    const MIB: usize = 1 << 20;
    let (blocks, value_len) = (3, 32 * MIB);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    zlib_bomb(&db, blocks, value_len);
    let budget = (16 * MIB).to_string();
    let env = [("LDBSALVAGE_LINES_BUDGET", budget.as_str())];
    let mut exports = Vec::new();
    for jobs in ["3", "1"] {
        let out = dir.path().join(format!("out{jobs}"));
        let args = [
            "salvage",
            "--view",
            "all",
            "--jobs",
            jobs,
            "--quiet",
            db.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        let o = run_limited(400 * 1024, &env, &args);
        assert_eq!(code(&o), EXIT_OK, "{}", describe(&args, &o));
        let records = std::fs::read(out.join("records.jsonl")).unwrap();
        let lines: Vec<&[u8]> = records
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), blocks);
        for (i, line) in lines.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert_eq!(v["key"], format!("key{i:03}"));
            let value = v["value"].as_str().unwrap();
            assert_eq!(value.len(), value_len);
            assert!(value.bytes().all(|b| b == 0));
        }
        exports.push(records);
    }
    assert!(exports[0] == exports[1], "export depends on --jobs");
}

/// A table of many tiny entries (~10 MB on disk, 600,000 entries): `inspect
/// --json` held every entry of the table, as JSON values, before printing
/// the first row (hundreds of MiB). Now each intact data block's entries
/// are read again as its row is written: one block's at a time. The
/// listing must still name every entry.
#[test]
fn inspect_holds_one_blocks_entries_at_a_time() {
    use ldbsalvage::format::batch::Kind;
    use ldbsalvage::format::ikey;
    use ldbsalvage::format::table_writer::{BuildOptions, Compression, TableBuilder};
    const N: u64 = 600_000;
    let dir = tempfile::tempdir().unwrap();
    let mut t = TableBuilder::new(BuildOptions {
        block_size: 4096,
        restart_interval: 16,
        compression: Compression::None,
    });
    for i in 0..N {
        let key = ikey::encode(format!("k{i:07}").as_bytes(), i + 1, Kind::Put);
        t.add(&key, b"v").unwrap();
    }
    let path = dir.path().join("000005.ldb");
    std::fs::write(&path, t.finish()).unwrap();
    let p = path.to_str().unwrap();
    let o = run_limited(160 * 1024, &[], &["inspect", p, "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut entries = 0u64;
    for line in o.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        if v["block"] == "data" {
            entries += v["entries"].as_array().unwrap().len() as u64;
        }
    }
    assert_eq!(entries, N);
}
