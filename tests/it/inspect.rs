//! `ldbsalvage inspect`: per-unit listings of logs, tables and MANIFESTs.
//! Its verdicts must be `scan`'s, unit for unit, and its offsets those of the
//! fixtures' ground truth.

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

/// `inspect FILE --json [extra]`: the exit code and the parsed lines.
fn inspect_json(file: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut a: Vec<&OsStr> = vec!["inspect".as_ref(), file.as_os_str(), "--json".as_ref()];
    a.extend(extra.iter().map(|s| OsStr::new(*s)));
    let o = run(&a);
    let lines = String::from_utf8(o.stdout.clone())
        .unwrap_or_else(|e| panic!("stdout is not UTF-8: {e}\n{}", describe(&a, &o)))
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| {
                panic!("line {} is not JSON: {e}\n{l}\n{}", i + 1, describe(&a, &o))
            })
        })
        .collect::<Vec<_>>();
    assert!(o.stderr.is_empty(), "{}", describe(&a, &o));
    (code(&o), lines)
}

fn inspect_text(file: &Path) -> (i32, String) {
    let a = ["inspect".as_ref(), file.as_os_str()];
    let o = run(a);
    (code(&o), String::from_utf8(o.stdout).unwrap())
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

fn class(v: &Value) -> &str {
    v["class"].as_str().unwrap_or("-")
}

/// Every fixture file that inspect reads, with the scan report's account of it.
fn scanned_files() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for name in fixture_names() {
        let db = fixtures_dir().join(&name).join("db");
        let o = run([
            "scan".as_ref(),
            db.as_os_str(),
            "--report".as_ref(),
            "-".as_ref(),
        ]);
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        for f in r["files"].as_array().unwrap() {
            if matches!(f["kind"].as_str(), Some("log" | "table" | "manifest")) {
                out.push((name.clone(), f.clone()));
            }
        }
    }
    out
}

#[test]
fn every_line_is_a_unit_with_offset_and_class() {
    for (fx, f) in scanned_files() {
        let path = Path::new(f["path"].as_str().unwrap());
        let (_, lines) = inspect_json(path, &[]);
        assert!(
            !lines.is_empty() || f["size"] == 0,
            "{fx} {}: no lines",
            f["name"]
        );
        let mut prev = 0;
        for l in &lines {
            assert_eq!(l["file"], f["name"], "{fx}: {l}");
            let unit = l["unit"].as_str().unwrap();
            let want: &[&str] = match f["kind"].as_str().unwrap() {
                "log" => &["record"],
                "manifest" => &["edit"],
                _ => &["block", "footer", "damage", "gap"],
            };
            assert!(want.contains(&unit), "{fx}: unit {unit} in a {}", f["kind"]);
            let off = u(l, "offset");
            assert!(off >= prev, "{fx} {}: lines out of offset order", f["name"]);
            prev = off;
            assert!(off + u(l, "length") <= u(&f, "size"), "{fx}: {l}");
            if unit != "gap" {
                assert!(
                    matches!(class(l), "intact" | "torn" | "garbled"),
                    "{fx}: {l}"
                );
            }
        }
    }
}

/// Unit for unit the verdicts of `scan`: intact counts, entries, the damaged
/// ranges themselves, unverified entries and the exit code.
#[test]
fn verdicts_are_those_of_scan() {
    for (fx, f) in scanned_files() {
        let name = f["name"].as_str().unwrap();
        let path = Path::new(f["path"].as_str().unwrap());
        let (code, lines) = inspect_json(path, &[]);
        let kind = f["kind"].as_str().unwrap();
        let data_blocks = |l: &&Value| l["unit"] == "block" && l["block"] == "data";
        let (intact, entries) = if kind == "table" {
            (
                lines.iter().filter(data_blocks).count() as u64,
                lines
                    .iter()
                    .filter(data_blocks)
                    .map(|l| u(l, "count"))
                    .sum(),
            )
        } else {
            (
                lines.iter().filter(|l| class(l) == "intact").count() as u64,
                lines
                    .iter()
                    .filter_map(|l| l["entries"].as_array())
                    .map(|e| e.len() as u64)
                    .sum::<u64>(),
            )
        };
        assert_eq!(
            intact,
            u(&f["records"], "intact"),
            "{fx} {name}: intact units"
        );
        if kind != "manifest" {
            assert_eq!(entries, u(&f, "entries"), "{fx} {name}: intact entries");
            let unverified: u64 = lines
                .iter()
                .filter_map(|l| l["unverified_entries"].as_array())
                .map(|e| e.len() as u64)
                .sum();
            assert_eq!(
                unverified,
                u(&f, "unverified_entries"),
                "{fx} {name}: unverified entries"
            );
        }
        let damaged: Vec<(u64, u64, String)> = lines
            .iter()
            .filter(|l| matches!(class(l), "torn" | "garbled"))
            .map(|l| (u(l, "offset"), u(l, "length"), class(l).to_string()))
            .collect();
        let scanned: Vec<(u64, u64, String)> = f["damage"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    u(d, "offset"),
                    u(d, "length"),
                    d["class"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(damaged, scanned, "{fx} {name}: damaged ranges");
        let want = if scanned.is_empty() && f.get("error").is_none() {
            EXIT_OK
        } else {
            EXIT_DAMAGE
        };
        assert_eq!(code, want, "{fx} {name}: exit code");
        assert!(
            !lines.iter().any(|l| l["unit"] == "gap"),
            "{fx} {name}: bytes listed as a gap"
        );
    }
}

/// The ground truth: every recoverable unit of a log or table is an intact
/// line at its offset holding exactly its entries (by sequence number).
#[test]
fn intact_units_are_the_recoverable_units_of_the_ground_truth() {
    for name in fixture_names() {
        let exp = load_expected(&name);
        let mut truth: BTreeMap<(String, u64), BTreeSet<u64>> = BTreeMap::new();
        for e in exp.universe.iter().filter(|e| e.recoverable) {
            truth
                .entry((e.file.clone(), e.unit_offset))
                .or_default()
                .insert(e.seq);
        }
        let files: BTreeSet<String> = truth.keys().map(|(f, _)| f.clone()).collect();
        for file in files {
            let path = fixtures_dir().join(&name).join("db").join(&file);
            let (_, lines) = inspect_json(&path, &[]);
            let mut got: BTreeMap<(String, u64), BTreeSet<u64>> = BTreeMap::new();
            for l in lines.iter().filter(|l| class(l) == "intact") {
                let seqs: BTreeSet<u64> = l["entries"]
                    .as_array()
                    .map(|a| a.iter().map(|e| u(e, "seq")).collect())
                    .unwrap_or_default();
                if !seqs.is_empty() {
                    got.insert((file.clone(), u(l, "offset")), seqs);
                }
            }
            let want: BTreeMap<_, _> = truth
                .iter()
                .filter(|((f, _), _)| *f == file)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want, "{name} {file}: intact units and their entries");
        }
    }
}

#[test]
fn damaged_log_shows_garbled_record_at_the_damage() {
    let name = "log-bad-crc";
    let exp = load_expected(name);
    let path = fixtures_dir().join(name).join("db/000003.log");
    let (code, lines) = inspect_json(&path, &[]);
    assert_eq!(code, EXIT_DAMAGE);
    assert!(!exp.damage.is_empty());
    for d in &exp.damage {
        let hit = lines.iter().find(|l| {
            class(l) == "garbled" && overlaps(d.offset, d.length, u(l, "offset"), u(l, "length"))
        });
        let hit = hit.unwrap_or_else(|| panic!("no garbled line over {d:?}"));
        assert!(
            hit["reason"].as_str().unwrap().contains("checksum"),
            "{hit}"
        );
        // The garbled line in the table for people, at its offset.
        let (_, text) = inspect_text(&path);
        let off = u(hit, "offset").to_string();
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{off} ")) && l.contains("garbled")),
            "no text line `{off} ... garbled`:\n{text}"
        );
    }
    // Records are intact on both sides of it.
    let first_bad = lines.iter().position(|l| class(l) == "garbled").unwrap();
    assert_eq!(class(&lines[first_bad - 1]), "intact");
    assert_eq!(class(&lines[first_bad + 1]), "intact");
}

#[test]
fn torn_log_tail_is_the_last_line() {
    for name in ["log-torn-tail", "log-zero-tail"] {
        let path = fixtures_dir().join(name).join("db/000003.log");
        let (code, lines) = inspect_json(&path, &[]);
        assert_eq!(code, EXIT_DAMAGE, "{name}");
        let last = lines.last().unwrap();
        assert_eq!(class(last), "torn", "{name}: {last}");
        assert_eq!(
            u(last, "offset") + u(last, "length"),
            fs::metadata(&path).unwrap().len(),
            "{name}: the torn range runs to the end of the file"
        );
    }
}

#[test]
fn log_records_show_fragments_sequences_and_keys() {
    let path = fixtures_dir().join("log-healthy/db/000003.log");
    let (code, lines) = inspect_json(&path, &[]);
    assert_eq!(code, EXIT_OK);
    // A record split FIRST/LAST across blocks, and one whose FIRST is empty.
    let split = lines
        .iter()
        .find(|l| {
            let t: Vec<&str> = l["fragments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["type"].as_str().unwrap())
                .collect();
            t.first() == Some(&"FIRST") && t.last() == Some(&"LAST")
        })
        .expect("no FIRST..LAST record in log-healthy");
    let frags = split["fragments"].as_array().unwrap();
    assert_eq!(u(&frags[0], "offset"), u(split, "offset"));
    let payload: u64 = frags.iter().map(|f| u(f, "length")).sum();
    assert_eq!(payload, u(split, "payload_length"));
    assert!(lines
        .iter()
        .any(|l| l["fragments"][0]["type"] == "FIRST" && l["fragments"][0]["length"] == 0));
    // The count-0 batch.
    assert!(
        lines
            .iter()
            .any(|l| l["count"] == 0 && l["entries"] == Value::Array(vec![])),
        "no count-0 batch listed"
    );
    // Sequences follow on from record to record; entries carry keys.
    let mut next = None;
    for l in &lines {
        let (seq, count) = (u(l, "sequence"), u(l, "count"));
        if let Some(n) = next {
            assert_eq!(seq, n, "{l}");
        }
        next = Some(seq + count);
        for (i, e) in l["entries"].as_array().unwrap().iter().enumerate() {
            assert_eq!(u(e, "seq"), seq + i as u64);
            assert!(e.get("key").is_some() || e.get("key_base64").is_some());
        }
    }
    let (_, text) = inspect_text(&path);
    assert!(text.contains("FIRST,LAST"), "{text}");
    assert!(text.contains("No damage found"), "{text}");
}

#[test]
fn table_lists_blocks_and_footer() {
    let path = fixtures_dir().join("table-healthy-none/db/000005.ldb");
    let (code, lines) = inspect_json(&path, &[]);
    assert_eq!(code, EXIT_OK);
    let roles: Vec<&str> = lines
        .iter()
        .map(|l| l["block"].as_str().unwrap_or(l["unit"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            "data",
            "data",
            "data",
            "data",
            "data",
            "data",
            "data",
            "data",
            "filter",
            "metaindex",
            "index",
            "footer"
        ],
        "{lines:?}"
    );
    // Back to back from offset 0 to the end of the file.
    let mut at = 0;
    for l in &lines {
        assert_eq!(u(l, "offset"), at, "{l}");
        at += u(l, "length");
    }
    assert_eq!(at, fs::metadata(&path).unwrap().len());
    let footer = lines.last().unwrap();
    assert_eq!(u(&footer["index"], "offset"), u(&lines[10], "offset"));
    assert_eq!(u(&footer["metaindex"], "offset"), u(&lines[9], "offset"));
    assert_eq!(lines[9]["names"][0], "filter.leveldb.BuiltinBloomFilter2");
    for l in &lines[..8] {
        assert_eq!(l["compression"], "none");
        assert_eq!(u(l, "count"), l["entries"].as_array().unwrap().len() as u64);
    }
    // Snappy and uncompressed blocks in one table.
    let path = fixtures_dir().join("table-healthy-snappy/db/000005.ldb");
    let (_, lines) = inspect_json(&path, &[]);
    let comps: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["block"] == "data")
        .map(|l| l["compression"].as_str().unwrap())
        .collect();
    assert_eq!(comps, BTreeSet::from(["none", "snappy"]));
}

#[test]
fn damaged_tables() {
    let path = fixtures_dir().join("table-bitflip/db/000005.ldb");
    let (code, lines) = inspect_json(&path, &[]);
    assert_eq!(code, EXIT_DAMAGE);
    let exp = load_expected("table-bitflip");
    let d = &exp.damage[0];
    let hit = lines
        .iter()
        .find(|l| class(l) == "garbled")
        .expect("no garbled line");
    assert!(overlaps(
        d.offset,
        d.length,
        u(hit, "offset"),
        u(hit, "length")
    ));
    assert!(hit["key_range"].is_object(), "{hit}");

    let path = fixtures_dir().join("table-truncated/db/000005.ldb");
    let (code, lines) = inspect_json(&path, &[]);
    assert_eq!(code, EXIT_DAMAGE);
    let last = lines.last().unwrap();
    assert_eq!(class(last), "torn");
    assert!(lines.iter().all(|l| l["unit"] != "footer"));
}

#[test]
fn manifest_edits_are_decoded() {
    let path = fixtures_dir().join("table-healthy-snappy/db");
    let manifest = fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .unwrap();
    let (code, lines) = inspect_json(&manifest, &[]);
    assert_eq!(code, EXIT_OK);
    assert!(lines
        .iter()
        .all(|l| l["unit"] == "edit" && class(l) == "intact"));
    assert_eq!(lines[0]["comparator"], "leveldb.BytewiseComparator");
    let added: Vec<&Value> = lines
        .iter()
        .flat_map(|l| l["new_files"].as_array().unwrap())
        .collect();
    assert!(!added.is_empty(), "{lines:?}");
    for f in &added {
        assert!(u(f, "level") < 7);
        assert!(u(f, "size") > 0);
        assert!(
            f["smallest"]["key"].is_string() && f["largest"]["seq"].is_u64(),
            "{f}"
        );
    }
    // The tables the edits leave live are the store's tables.
    let mut live: BTreeSet<u64> = BTreeSet::new();
    for l in &lines {
        for f in l["new_files"].as_array().unwrap() {
            live.insert(u(f, "number"));
        }
        for f in l["deleted_files"].as_array().unwrap() {
            live.remove(&u(f, "number"));
        }
    }
    let on_disk: BTreeSet<u64> = fs::read_dir(&path)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.strip_suffix(".ldb").and_then(|d| d.parse().ok())
        })
        .collect();
    assert_eq!(live, on_disk);
    assert!(lines.iter().any(|l| l["last_sequence"].is_u64()));
    assert!(lines.iter().any(|l| l["next_file_number"].is_u64()));
    assert!(lines.iter().any(|l| l["log_number"].is_u64()));

    let (code, text) = inspect_text(&manifest);
    assert_eq!(code, EXIT_OK);
    assert!(
        text.contains("comparator leveldb.BytewiseComparator"),
        "{text}"
    );
    assert!(text.contains("+ level "), "{text}");

    // A damaged MANIFEST: the last record garbled.
    let dir = fixtures_dir().join("manifest-damaged/db");
    let manifest = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .unwrap();
    let (code, lines) = inspect_json(&manifest, &[]);
    assert_eq!(code, EXIT_DAMAGE);
    assert_eq!(class(lines.last().unwrap()), "garbled");
    assert_eq!(lines.iter().filter(|l| class(l) == "intact").count(), 3);
}

#[test]
fn kind_from_the_name_or_from_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures_dir().join("log-bad-crc/db/000003.log");
    let odd = tmp.path().join("evidence.bin");
    fs::copy(&src, &odd).unwrap();
    let a = ["inspect".as_ref(), odd.as_os_str()];
    let o = run(a);
    assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&a, &o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--kind"),
        "{}",
        describe(&a, &o)
    );
    let (c1, mut by_kind) = inspect_json(&odd, &["--kind", "log"]);
    let (c2, mut by_name) = inspect_json(&src, &[]);
    assert_eq!((c1, c2), (EXIT_DAMAGE, EXIT_DAMAGE));
    for l in by_kind.iter_mut().chain(by_name.iter_mut()) {
        l.as_object_mut().unwrap().remove("file");
    }
    assert_eq!(by_kind, by_name);
    // A log read as a table: nothing but damage, still exit 1, no panic.
    let (c, lines) = inspect_json(&odd, &["--kind", "table"]);
    assert_eq!(c, EXIT_DAMAGE);
    assert!(lines.iter().any(|l| class(l) == "garbled"));
}

#[test]
fn unreadable_and_usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    for a in [
        vec![
            "inspect".into(),
            tmp.path().join("000001.log").into_os_string(),
        ],
        vec!["inspect".into(), tmp.path().as_os_str().to_owned()],
        vec!["inspect".into()],
        vec![
            "inspect".into(),
            fixtures_dir()
                .join("log-healthy/db/000003.log")
                .into_os_string(),
            "--kind".into(),
            "current".into(),
        ],
    ] {
        let o = run(&a);
        assert_eq!(code(&o), EXIT_USAGE, "{}", describe(&a, &o));
        assert!(o.stdout.is_empty(), "{}", describe(&a, &o));
    }
}

/// Address space the binary may reserve while listing the large log below:
/// its threads' stacks and allocator arenas, one window of blocks and the
/// rows of one record, with room to spare; far below what holding every row
/// of that log (millions of entries) would take.
const LARGE_LOG_ADDRESS_SPACE: u64 = 1 << 30;

/// Run `inspect` under an address-space limit, stdout thrown away.
///
/// Killed after two minutes: a process that runs out of address space can
/// hang in Rust's own out-of-memory path (one thread's allocation failure
/// report and another's failed thread start both wait on the runtime's
/// backtrace lock; seen once in CI at 16 MiB). A killed run is not a
/// success, which is all the run that is meant to fail checks; the runs
/// meant to succeed then fail with the signal in their message.
fn inspect_limited(file: &Path, extra: &[&str], limit: u64) -> std::process::Output {
    use std::time::Duration;
    let err = tempfile::tempfile().unwrap();
    let mut child = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -v {}; exec \"$0\" \"$@\"", limit / 1024))
        .arg(bin())
        .arg("inspect")
        .arg(file)
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("cannot start bash");
    let (status, _) = wait_or_kill(&mut child, Duration::from_secs(120));
    let mut stderr = Vec::new();
    let mut err = err;
    std::io::Seek::rewind(&mut err).unwrap();
    std::io::Read::read_to_end(&mut err, &mut stderr).unwrap();
    std::process::Output {
        status,
        stdout: Vec::new(),
        stderr,
    }
}

/// One batch of a thousand small entries written again and again (~48 MB,
/// 4.8 million entries): rows go out as they are produced, so memory does
/// not grow with the file.
#[test]
fn a_large_log_is_listed_in_bounded_memory() {
    use ldbsalvage::format::batch::BatchBuilder;
    use ldbsalvage::salvage::log_writer::LogWriter;
    let mut b = BatchBuilder::new(1);
    for i in 0..1000u32 {
        b.put(format!("k{i:05}").as_bytes(), b"v");
    }
    let payload = b.build();
    let mut w = LogWriter::new();
    let records = 48_000_000 / payload.len();
    for _ in 0..records {
        w.add_record(&payload);
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("000007.log");
    fs::write(&path, w.as_bytes()).unwrap();
    drop(w);

    for extra in [&["--json"][..], &[]] {
        let o = inspect_limited(&path, extra, LARGE_LOG_ADDRESS_SPACE);
        assert_eq!(
            o.status.code(),
            Some(EXIT_OK),
            "inspect {extra:?} within {LARGE_LOG_ADDRESS_SPACE} bytes: {:?} {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Damage near the start: the rows after it wait only until an intact
    // record shows the damaged range is final.
    let mut bytes = fs::read(&path).unwrap();
    bytes[100] ^= 1;
    let damaged = tmp.path().join("000008.log");
    fs::write(&damaged, &bytes).unwrap();
    drop(bytes);
    let o = inspect_limited(&damaged, &["--json"], LARGE_LOG_ADDRESS_SPACE);
    assert_eq!(
        o.status.code(),
        Some(EXIT_DAMAGE),
        "damaged log within {LARGE_LOG_ADDRESS_SPACE} bytes: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    // The limit is what bounds it: a listing that kept every row fails.
    let o = inspect_limited(&path, &["--json"], 16 << 20);
    assert!(!o.status.success(), "16 MiB should be too little to start");
}

/// A footer whose handles were zeroed names offset 0 as both index and
/// metaindex. The scan then finds the blocks by their checksums and exports
/// the block at 0 as intact data: inspect lists it as such, with its
/// entries, rather than in the role the damaged footer gives it.
#[test]
fn a_data_block_a_damaged_footer_names_is_listed_as_the_scan_read_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = fs::read(fixtures_dir().join("no-manifest/db/000007.ldb")).unwrap();
    let n = bytes.len();
    bytes[n - 48..n - 8].fill(0);
    let path = tmp.path().join("000007.ldb");
    fs::write(&path, &bytes).unwrap();

    let (code, lines) = inspect_json(&path, &[]);
    assert_eq!(code, EXIT_DAMAGE);
    let first = &lines[0];
    assert_eq!(u(first, "offset"), 0, "{first}");
    assert_eq!(first["block"], "data", "{first}");
    let listed = first["entries"].as_array().unwrap().len() as u64;
    assert!(listed > 0, "{first}");
    assert_eq!(u(first, "count"), listed, "{first}");
    // The data rows hold every entry the scan counts as intact.
    let o = run([
        "scan".as_ref(),
        path.as_os_str(),
        "--report".as_ref(),
        "-".as_ref(),
    ]);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let data_entries: u64 = lines
        .iter()
        .filter(|l| l["block"] == "data")
        .map(|l| u(l, "count"))
        .sum();
    assert_eq!(data_entries, u(&r["files"][0], "entries"), "{r}");
}

/// A "table" far larger than any a LevelDB-family writer makes (a sparse
/// 2 GiB file here) is refused with the reason, not read into memory:
/// `inspect` applies the same cap as `scan`. Run under a 512 MiB address
/// space limit, which reading it whole would break.
#[test]
fn inspect_refuses_a_table_beyond_the_cap_without_reading_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("000005.ldb");
    let f = std::fs::File::create(&t).unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -v {}; exec \"$0\" inspect \"$1\"",
            512 * 1024
        ))
        .arg(bin())
        .arg(&t)
        .output()
        .unwrap();
    assert_eq!(code(&o), EXIT_USAGE);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("more than a LevelDB table can be"), "{err}");
}
