//! Helpers shared by the integration tests: running the binary, reading the
//! fixtures' ground truth, parsing the NDJSON export and the JSON report,
//! and snapshotting a directory to prove it was not written to.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod tools;

use ldbsalvage::report::bytes::decode_base64;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const EXIT_OK: i32 = 0;
pub const EXIT_DAMAGE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ldbsalvage")
}

/// Run the binary with `args`; never panics on a non-zero exit.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(bin())
        .args(args)
        .output()
        .expect("cannot start the ldbsalvage binary")
}

/// Run the binary with `args` in the working directory `dir`.
pub fn run_in<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("cannot start the ldbsalvage binary")
}

/// The exit code of a finished run (panics if it was killed by a signal).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or_else(|| {
        panic!(
            "ldbsalvage was killed by a signal\nstderr:\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// A printable account of a run, for assertion messages.
pub fn describe<S: AsRef<std::ffi::OsStr>>(args: &[S], o: &Output) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into())
        .collect();
    format!(
        "`ldbsalvage {}` exited {:?}\n--- stdout (first 2000 bytes) ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        o.status.code(),
        String::from_utf8_lossy(&o.stdout[..o.stdout.len().min(2000)]),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fixtures")
}

/// Every fixture directory name, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixtures_dir())
        .expect("testdata/fixtures must exist")
        .map(|e| e.expect("listing testdata/fixtures"))
        .filter(|e| e.path().join("expected.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Copy a fixture's `db/` into a fresh temporary directory (as `<tmp>/db`),
/// so that a tool that wrongly writes to its input cannot damage the
/// repository's test data. Returns the temp dir (keep it alive) and the db path.
pub fn copy_fixture_db(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("db");
    copy_dir(&fixtures_dir().join(name).join("db"), &db);
    (tmp, db)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ty.is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// One node of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File(Vec<u8>),
    Dir,
    Symlink(PathBuf),
    Other,
}

/// Every path under `dir` (relative) with its full content: comparing two
/// snapshots proves that nothing was changed, added, renamed or removed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    walk(dir, Path::new(""), &mut out);
    out
}

fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Node>) {
    for e in fs::read_dir(root.join(rel)).unwrap() {
        let e = e.unwrap();
        let r = rel.join(e.file_name());
        let ty = e.file_type().unwrap();
        if ty.is_symlink() {
            out.insert(r, Node::Symlink(fs::read_link(e.path()).unwrap()));
        } else if ty.is_dir() {
            out.insert(r.clone(), Node::Dir);
            walk(root, &r, out);
        } else if ty.is_file() {
            out.insert(r, Node::File(fs::read(e.path()).unwrap()));
        } else {
            out.insert(r, Node::Other);
        }
    }
}

/// What differs between two snapshots, one line per path.
pub fn snapshot_diff(
    before: &BTreeMap<PathBuf, Node>,
    after: &BTreeMap<PathBuf, Node>,
) -> Vec<String> {
    let mut d = Vec::new();
    for (p, n) in before {
        match after.get(p) {
            None => d.push(format!("{} removed", p.display())),
            Some(m) if m != n => d.push(format!("{} changed", p.display())),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            d.push(format!("{} created", p.display()));
        }
    }
    d
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("bad hex"))
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes for display: text when printable ASCII, else hex.
pub fn show(b: &[u8]) -> String {
    if !b.is_empty() && b.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        format!("{:?}", String::from_utf8_lossy(b))
    } else {
        format!("0x{}", to_hex(b))
    }
}

/// One entry of a fixture's universe.
#[derive(Debug, Clone)]
pub struct UEntry {
    pub seq: u64,
    pub kind: String,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub file: String,
    pub unit_offset: u64,
    pub recoverable: bool,
}

#[derive(Debug, Clone)]
pub struct ExpDamage {
    pub file: String,
    pub offset: u64,
    pub length: u64,
    pub class: String,
}

/// A fixture's `expected.json`.
#[derive(Debug, Clone)]
pub struct Expected {
    pub name: String,
    pub note: String,
    pub damage: Vec<ExpDamage>,
    pub universe: Vec<UEntry>,
    pub latest: BTreeMap<Vec<u8>, Vec<u8>>,
    pub lost_log_seqs: Vec<u64>,
    pub stale_keys: Vec<Vec<u8>>,
}

pub fn load_expected(name: &str) -> Expected {
    let path = fixtures_dir().join(name).join("expected.json");
    let v: Value = serde_json::from_slice(&fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let s = |v: &Value| v.as_str().expect("string").to_string();
    let u = |v: &Value| v.as_u64().expect("unsigned");
    Expected {
        name: s(&v["name"]),
        note: s(&v["note"]),
        damage: v["damage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| ExpDamage {
                file: s(&d["file"]),
                offset: u(&d["offset"]),
                length: u(&d["length"]),
                class: s(&d["class"]),
            })
            .collect(),
        universe: v["universe"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| UEntry {
                seq: u(&e["seq"]),
                kind: s(&e["kind"]),
                key: hex(e["key_hex"].as_str().unwrap()),
                value: e["value_hex"].as_str().map(hex),
                file: s(&e["file"]),
                unit_offset: u(&e["unit_offset"]),
                recoverable: e["recoverable"].as_bool().unwrap(),
            })
            .collect(),
        latest: v["latest"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (hex(k), hex(v.as_str().expect("latest value"))))
            .collect(),
        lost_log_seqs: v["lost_log_seqs"]
            .as_array()
            .unwrap()
            .iter()
            .map(u)
            .collect(),
        stale_keys: v["stale_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| hex(k.as_str().unwrap()))
            .collect(),
    }
}

/// One line of `records.jsonl` / `unverified.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub seq: u64,
    pub kind: String,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub file: String,
    pub offset: u64,
    pub suspect_newer: bool,
    pub reason: Option<String>,
}

/// A bytes field: `name` (UTF-8 text) or `name_base64`, never both.
fn bytes_field(o: &serde_json::Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, String> {
    let b64 = format!("{name}_base64");
    match (o.get(name), o.get(&b64)) {
        (Some(_), Some(_)) => Err(format!("both {name} and {b64}")),
        (Some(Value::String(s)), None) => Ok(Some(s.as_bytes().to_vec())),
        (None, Some(Value::String(s))) => decode_base64(s)
            .map(Some)
            .ok_or_else(|| format!("{b64} is not base64: {s:?}")),
        (None, None) => Ok(None),
        _ => Err(format!("{name} is not a string")),
    }
}

pub fn parse_rec(line: &[u8]) -> Result<Rec, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    let seq = o
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("no numeric seq")?;
    let kind = o
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("no kind")?
        .to_string();
    if kind != "put" && kind != "delete" {
        return Err(format!("kind {kind:?}"));
    }
    let key = bytes_field(o, "key")?.ok_or("no key")?;
    let value = bytes_field(o, "value")?;
    if kind == "put" && value.is_none() {
        return Err("put without a value".into());
    }
    if kind == "delete" && value.is_some() {
        return Err("delete with a value".into());
    }
    let file = o
        .get("file")
        .and_then(Value::as_str)
        .ok_or("no file")?
        .to_string();
    let offset = o
        .get("offset")
        .and_then(Value::as_u64)
        .ok_or("no numeric offset")?;
    let suspect_newer = match o.get("suspect_newer") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("suspect_newer is {other}")),
    };
    let reason = match o.get("reason") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("reason is {other}")),
    };
    Ok(Rec {
        seq,
        kind,
        key,
        value,
        file,
        offset,
        suspect_newer,
        reason,
    })
}

/// Parse NDJSON: every line must be a record; the text must end in a newline
/// (or be empty).
pub fn parse_ndjson(data: &[u8]) -> Result<Vec<Rec>, String> {
    if !data.is_empty() && !data.ends_with(b"\n") {
        return Err("does not end with a newline".into());
    }
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            parse_rec(l).map_err(|e| format!("line {}: {e}: {}", i + 1, String::from_utf8_lossy(l)))
        })
        .collect()
}

pub fn read_json(path: &Path) -> Value {
    let b = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// A damage range as reported.
#[derive(Debug, Clone)]
pub struct RepDamage {
    pub file: String,
    pub offset: u64,
    pub length: u64,
    pub class: String,
    pub reason: String,
}

/// All damage ranges of a report, with their file names.
pub fn report_damage(r: &Value) -> Vec<RepDamage> {
    let mut out = Vec::new();
    for f in r["files"].as_array().expect("report.files") {
        let name = f["name"].as_str().expect("file name");
        for d in f["damage"].as_array().expect("file damage") {
            out.push(RepDamage {
                file: name.to_string(),
                offset: d["offset"].as_u64().expect("damage offset"),
                length: d["length"].as_u64().expect("damage length"),
                class: d["class"].as_str().expect("damage class").to_string(),
                reason: d["reason"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    out
}

/// Files whose report carries an `error`.
pub fn report_errors(r: &Value) -> Vec<(String, String)> {
    r["files"]
        .as_array()
        .expect("report.files")
        .iter()
        .filter_map(|f| {
            f.get("error").and_then(Value::as_str).map(|e| {
                (
                    f["name"].as_str().unwrap_or_default().to_string(),
                    e.to_string(),
                )
            })
        })
        .collect()
}

/// Whether two byte ranges overlap; a zero-length range is a point that
/// overlaps a range containing it or a range starting at it.
pub fn overlaps(a_off: u64, a_len: u64, b_off: u64, b_len: u64) -> bool {
    let (a_end, b_end) = (a_off + a_len, b_off + b_len);
    match (a_len, b_len) {
        (0, 0) => a_off == b_off,
        (0, _) => a_off == b_off || (b_off <= a_off && a_off < b_end),
        (_, 0) => a_off == b_off || (a_off <= b_off && b_off < a_end),
        _ => a_off < b_end && b_off < a_end,
    }
}

/// Run the binary and measure its peak RSS (KiB) from outside, with GNU
/// time (`%M`: `wait4`'s resource usage of the child it forked). Not
/// `wait4` from here: a child spawned by this process (vfork and exec)
/// starts its peak at this process's own, which holds the test's store.
pub fn run_measured(time: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, u64, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let rss = dir.path().join("rss");
    let o = Command::new(time)
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(bin())
        .args(args)
        .envs(env.iter().copied())
        .env("MALLOC_ARENA_MAX", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&rss).unwrap();
    // GNU time writes "Command exited with non-zero status N" first then.
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time wrote {text:?}"));
    (code(&o), kib, o.stderr)
}

/// Wait for `child`, killing it once `limit` has passed: its exit status,
/// and whether it had to be killed.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> (std::process::ExitStatus, bool) {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return (s, false);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return (child.wait().unwrap(), true);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
