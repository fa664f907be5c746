//! Every fixture under `testdata/fixtures/` against its ground truth
//! (`expected.json`): the export (all and latest views), the report, the
//! exit code, the input left untouched, determinism across thread counts,
//! and `scan` agreeing with `salvage`.
//!
//! One test per fixture (listed in `fixtures!`); `fixture_list_matches_directory`
//! fails when a fixture directory is added without being listed here.

use crate::common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

macro_rules! fixtures {
    ($($test:ident => $name:literal,)*) => {
        const LISTED: &[&str] = &[$($name),*];
        $(
            #[test]
            fn $test() {
                check_fixture($name);
            }
        )*
    };
}

fixtures! {
    binary_keys => "binary-keys",
    junk_file => "junk-file",
    log_bad_crc => "log-bad-crc",
    log_bad_length => "log-bad-length",
    log_healthy => "log-healthy",
    log_middle_fragment => "log-middle-fragment",
    log_torn_tail => "log-torn-tail",
    log_zero_run => "log-zero-run",
    log_zero_tail => "log-zero-tail",
    manifest_damaged => "manifest-damaged",
    no_manifest => "no-manifest",
    stale_resurrect => "stale-resurrect",
    table_bad_footer => "table-bad-footer",
    table_bad_index => "table-bad-index",
    table_bitflip => "table-bitflip",
    table_empty => "table-empty",
    table_healthy_none => "table-healthy-none",
    table_healthy_snappy => "table-healthy-snappy",
    table_noise => "table-noise",
    table_truncated => "table-truncated",
    table_zero_run => "table-zero-run",
}

#[test]
fn fixture_list_matches_directory() {
    let on_disk = fixture_names();
    let mut listed: Vec<String> = LISTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    let unlisted: Vec<&String> = on_disk.iter().filter(|n| !listed.contains(n)).collect();
    let gone: Vec<&String> = listed.iter().filter(|n| !on_disk.contains(n)).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "tests/it/fixtures.rs is out of date: fixtures without a test: {unlisted:?}; \
         tests without a fixture: {gone:?} (edit the fixtures! list)"
    );
    assert!(
        on_disk.len() >= 21,
        "expected at least 21 fixtures, found {on_disk:?}"
    );
}

/// Problems found in one fixture, by category, reported all at once.
struct Problems {
    fixture: String,
    by_cat: Vec<(String, Vec<String>)>,
}

impl Problems {
    fn new(fixture: &str) -> Self {
        Problems {
            fixture: fixture.to_string(),
            by_cat: Vec::new(),
        }
    }

    fn add(&mut self, cat: impl Into<String>, msg: impl Into<String>) {
        let cat = cat.into();
        match self.by_cat.iter_mut().find(|(c, _)| *c == cat) {
            Some((_, v)) => v.push(msg.into()),
            None => self.by_cat.push((cat, vec![msg.into()])),
        }
    }

    fn finish(self, note: &str) {
        if self.by_cat.is_empty() {
            return;
        }
        const SHOWN: usize = 6;
        let mut s = format!("fixture {}: ", self.fixture);
        let n: usize = self.by_cat.iter().map(|(_, v)| v.len()).sum();
        s += &format!("{n} problem(s)\n(fixture note: {note})\n");
        for (cat, msgs) in &self.by_cat {
            s += &format!("* {cat}: {} problem(s)\n", msgs.len());
            for m in msgs.iter().take(SHOWN) {
                s += &format!("    - {m}\n");
            }
            if msgs.len() > SHOWN {
                s += &format!("    - ... and {} more\n", msgs.len() - SHOWN);
            }
        }
        panic!("{s}");
    }
}

/// The outputs of one `salvage --out DIR` run.
struct Salvaged {
    code: i32,
    records: Vec<u8>,
    unverified: Vec<u8>,
    report: Value,
}

fn salvage(db: &Path, out: &Path, view: &str, jobs: &str, quiet: bool) -> Salvaged {
    let mut args: Vec<&OsStr> = vec![
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--view".as_ref(),
        view.as_ref(),
        "--jobs".as_ref(),
        jobs.as_ref(),
    ];
    if quiet {
        args.push("--quiet".as_ref());
    }
    let o = run(&args);
    let code = code(&o);
    let read = |name: &str| {
        fs::read(out.join(name))
            .unwrap_or_else(|e| panic!("{name} not written ({e})\n{}", describe(&args, &o)))
    };
    let (records, unverified) = (read("records.jsonl"), read("unverified.jsonl"));
    let report = serde_json::from_slice(&read("report.json"))
        .unwrap_or_else(|e| panic!("report.json is not JSON: {e}\n{}", describe(&args, &o)));
    Salvaged {
        code,
        records,
        unverified,
        report,
    }
}

type EntryKey = (u64, String, Vec<u8>, Option<Vec<u8>>);

fn rec_key(r: &Rec) -> EntryKey {
    (r.seq, r.kind.clone(), r.key.clone(), r.value.clone())
}

fn rec_desc(r: &Rec) -> String {
    format!(
        "seq {} {} key {} in {} @{}",
        r.seq,
        r.kind,
        show(&r.key),
        r.file,
        r.offset
    )
}

fn check_fixture(name: &str) {
    let exp = load_expected(name);
    assert_eq!(exp.name, name, "expected.json names another fixture");
    let (tmp, db) = copy_fixture_db(name);
    let before = snapshot(&db);
    let mut p = Problems::new(name);

    let all = salvage(&db, &tmp.path().join("all-j1"), "all", "1", false);
    let all4 = salvage(&db, &tmp.path().join("all-j4"), "all", "4", true);
    let latest = salvage(&db, &tmp.path().join("latest-j1"), "latest", "1", false);
    let latest4 = salvage(&db, &tmp.path().join("latest-j4"), "latest", "4", true);
    let scan_report = tmp.path().join("scan.json");
    let scan_args: Vec<&OsStr> = vec![
        "scan".as_ref(),
        db.as_os_str(),
        "--report".as_ref(),
        scan_report.as_os_str(),
        "--jobs".as_ref(),
        "2".as_ref(),
    ];
    let scan_out = run(&scan_args);

    // The input: byte for byte as it was, nothing added.
    for d in snapshot_diff(&before, &snapshot(&db)) {
        p.add("input db/ modified", d);
    }

    // Exit codes.
    let want = if exp.damage.is_empty() {
        EXIT_OK
    } else {
        EXIT_DAMAGE
    };
    for (what, c) in [
        ("salvage --view all --jobs 1", all.code),
        ("salvage --view all --jobs 4", all4.code),
        ("salvage --view latest --jobs 1", latest.code),
        ("salvage --view latest --jobs 4", latest4.code),
        ("scan", code(&scan_out)),
    ] {
        if c != want {
            p.add(
                "exit code",
                format!(
                    "{what} exited {c}, expected {want} (expected damage: {})",
                    exp.damage.len()
                ),
            );
        }
    }

    check_all_view(&exp, &all, &mut p);
    check_latest_view(&exp, &latest, &mut p);
    check_report(&exp, &all.report, "salvage --view all", &mut p);
    check_report(&exp, &latest.report, "salvage --view latest", &mut p);

    // Determinism across thread counts.
    for (view, a, b) in [("all", &all, &all4), ("latest", &latest, &latest4)] {
        if a.records != b.records {
            p.add(
                "--jobs 1 vs --jobs 4",
                format!("records.jsonl ({view} view) differs"),
            );
        }
        if a.unverified != b.unverified {
            p.add(
                "--jobs 1 vs --jobs 4",
                format!("unverified.jsonl ({view} view) differs"),
            );
        }
        let (ra, rb) = (without_out(&a.report), without_out(&b.report));
        for d in json_diff("", &ra, &rb) {
            p.add(
                "--jobs 1 vs --jobs 4",
                format!("report.json ({view} view) differs at {d}"),
            );
        }
    }

    // scan agrees with salvage.
    match fs::read(&scan_report)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        None => p.add(
            "scan",
            format!(
                "no JSON report written\n{}",
                describe(&scan_args, &scan_out)
            ),
        ),
        Some(sr) => {
            check_report(&exp, &sr, "scan", &mut p);
            let (sd, ad) = (damage_by_file(&sr), damage_by_file(&all.report));
            if sd != ad {
                p.add(
                    "scan vs salvage",
                    format!("damage differs: scan {sd:?}\n      salvage {ad:?}"),
                );
            }
            let (sl, al) = (
                &sr["lost"]["sequence_ranges"],
                &all.report["lost"]["sequence_ranges"],
            );
            if sl != al {
                p.add(
                    "scan vs salvage",
                    format!("lost.sequence_ranges differ: scan {sl} salvage {al}"),
                );
            }
        }
    }

    drop(tmp);
    p.finish(&exp.note);
}

/// The all view: exactly the recoverable universe, with provenance.
fn check_all_view(exp: &Expected, s: &Salvaged, p: &mut Problems) {
    let recs = match parse_ndjson(&s.records) {
        Ok(r) => r,
        Err(e) => return p.add("all view: records.jsonl malformed", e),
    };
    let universe: HashMap<EntryKey, &UEntry> = exp
        .universe
        .iter()
        .map(|u| ((u.seq, u.kind.clone(), u.key.clone(), u.value.clone()), u))
        .collect();
    let mut seen: HashMap<EntryKey, usize> = HashMap::new();
    for r in &recs {
        let k = rec_key(r);
        *seen.entry(k.clone()).or_default() += 1;
        if seen[&k] == 2 {
            p.add("all view: exported more than once", rec_desc(r));
        }
        if r.suspect_newer || r.reason.is_some() {
            p.add(
                "all view: suspect_newer/reason on an intact entry",
                rec_desc(r),
            );
        }
        match universe.get(&k) {
            None => p.add("all view: invented (not in the universe)", rec_desc(r)),
            Some(u) => {
                if u.file != r.file {
                    p.add(
                        "all view: wrong file",
                        format!("{} (truth: {})", rec_desc(r), u.file),
                    );
                }
                if u.unit_offset != r.offset {
                    p.add(
                        "all view: wrong offset",
                        format!("{} (truth: unit at {})", rec_desc(r), u.unit_offset),
                    );
                }
                if !u.recoverable {
                    p.add(
                        "all view: entry of a damaged unit exported as intact",
                        rec_desc(r),
                    );
                }
            }
        }
    }
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for u in exp.universe.iter().filter(|u| u.recoverable) {
        let k = (u.seq, u.kind.clone(), u.key.clone(), u.value.clone());
        if !seen.contains_key(&k) {
            missing.entry(&u.file).or_default().push(format!(
                "seq {} key {} @{}",
                u.seq,
                show(&u.key),
                u.unit_offset
            ));
        }
    }
    for (file, m) in missing {
        let total = exp
            .universe
            .iter()
            .filter(|u| u.recoverable && u.file == file)
            .count();
        p.add(
            "all view: recoverable entries not exported",
            format!(
                "{file}: {} of {total} missing, e.g. {}",
                m.len(),
                m[..m.len().min(3)].join(", ")
            ),
        );
    }
    // File then offset order.
    for w in recs.windows(2) {
        if (&w[0].file, w[0].offset) > (&w[1].file, w[1].offset) {
            p.add(
                "all view: not in file/offset order",
                format!("{} before {}", rec_desc(&w[0]), rec_desc(&w[1])),
            );
            break;
        }
    }
    check_counts(s, recs.len(), "all", p);
}

/// The latest view: exactly `expected.latest`, key ordered, stale keys flagged.
fn check_latest_view(exp: &Expected, s: &Salvaged, p: &mut Problems) {
    let recs = match parse_ndjson(&s.records) {
        Ok(r) => r,
        Err(e) => return p.add("latest view: records.jsonl malformed", e),
    };
    for r in recs.iter().filter(|r| r.kind != "put") {
        p.add("latest view: delete exported", rec_desc(r));
    }
    for w in recs.windows(2) {
        if w[0].key >= w[1].key {
            p.add(
                "latest view: keys not strictly ascending",
                format!("{} then {}", show(&w[0].key), show(&w[1].key)),
            );
        }
    }
    let got: BTreeMap<&[u8], &Rec> = recs.iter().map(|r| (r.key.as_slice(), r)).collect();
    for (k, v) in &exp.latest {
        match got.get(k.as_slice()) {
            None => p.add("latest view: key missing", show(k)),
            Some(r) if r.value.as_deref() != Some(v.as_slice()) => p.add(
                "latest view: wrong value",
                format!(
                    "key {}: got seq {} value {}, expected {}",
                    show(k),
                    r.seq,
                    r.value.as_deref().map_or("-".into(), show),
                    show(v)
                ),
            ),
            Some(_) => {}
        }
    }
    for r in &recs {
        if !exp.latest.contains_key(&r.key) {
            p.add("latest view: unexpected key", rec_desc(r));
        }
    }
    // Provenance: the line names the entry it came from.
    let universe: HashMap<EntryKey, &UEntry> = exp
        .universe
        .iter()
        .map(|u| ((u.seq, u.kind.clone(), u.key.clone(), u.value.clone()), u))
        .collect();
    for r in &recs {
        match universe.get(&rec_key(r)) {
            None => p.add("latest view: entry not in the universe", rec_desc(r)),
            Some(u) if u.file != r.file || u.unit_offset != r.offset => p.add(
                "latest view: wrong file/offset",
                format!("{} (truth: {} @{})", rec_desc(r), u.file, u.unit_offset),
            ),
            Some(_) => {}
        }
    }
    // Stale keys: an older value survived a lost newer write. The rule: a
    // line is flagged exactly when unverified.jsonl holds a newer entry of
    // its key. A stale key whose newer write left nothing readable cannot be
    // known, so only those with an unverified trace must be flagged.
    let mut newest_unverified: HashMap<Vec<u8>, u64> = HashMap::new();
    if let Ok(u) = parse_ndjson(&s.unverified) {
        for r in u {
            let e = newest_unverified.entry(r.key.clone()).or_insert(r.seq);
            *e = (*e).max(r.seq);
        }
    }
    for r in &recs {
        let should = newest_unverified.get(&r.key).is_some_and(|&u| u > r.seq);
        if should != r.suspect_newer {
            p.add(
                "latest view: suspect_newer does not follow unverified.jsonl",
                format!("{} (flagged {})", rec_desc(r), r.suspect_newer),
            );
        }
    }
    // stale-resurrect is built for this: most of its stale keys' newer
    // writes still decode (a flipped bit in the first key of each damaged
    // batch hides that one key), so flags must appear there.
    let flagged_stale = exp
        .stale_keys
        .iter()
        .filter(|k| got.get(k.as_slice()).is_some_and(|r| r.suspect_newer))
        .count();
    if exp.name == "stale-resurrect" && flagged_stale * 2 < exp.stale_keys.len() {
        p.add(
            "latest view: stale keys not flagged",
            format!("{flagged_stale} of {} flagged", exp.stale_keys.len()),
        );
    }
    let flagged = recs.iter().filter(|r| r.suspect_newer).count() as u64;
    match s.report["salvage"]["suspect_newer_keys"].as_u64() {
        None => p.add(
            "latest view: report",
            "salvage.suspect_newer_keys missing".to_string(),
        ),
        Some(n) if n != flagged => p.add(
            "latest view: report",
            format!("salvage.suspect_newer_keys = {n} but {flagged} lines have suspect_newer"),
        ),
        Some(_) => {}
    }
    check_counts(s, recs.len(), "latest", p);
}

/// `salvage` counts in the report match the files; unverified.jsonl is well formed.
fn check_counts(s: &Salvaged, records: usize, view: &str, p: &mut Problems) {
    let c = &s.report["salvage"];
    let cat = format!("{view} view: report.salvage");
    if c["view"] != view {
        p.add(&cat, format!("view is {}", c["view"]));
    }
    if c["records"].as_u64() != Some(records as u64) {
        p.add(
            &cat,
            format!(
                "records is {} but records.jsonl has {records} lines",
                c["records"]
            ),
        );
    }
    match parse_ndjson(&s.unverified) {
        Err(e) => p.add(format!("{view} view: unverified.jsonl malformed"), e),
        Ok(u) => {
            if c["unverified"].as_u64() != Some(u.len() as u64) {
                p.add(
                    &cat,
                    format!(
                        "unverified is {} but unverified.jsonl has {} lines",
                        c["unverified"],
                        u.len()
                    ),
                );
            }
            for r in u.iter().filter(|r| r.reason.is_none()) {
                p.add(
                    format!("{view} view: unverified entry without a reason"),
                    rec_desc(r),
                );
            }
        }
    }
}

/// The report against the truth: damage found where it is, nowhere else;
/// lost log sequences accounted for.
fn check_report(exp: &Expected, r: &Value, what: &str, p: &mut Problems) {
    let reported = report_damage(r);
    for d in &exp.damage {
        let hit = reported.iter().any(|x| {
            x.file == d.file
                && x.class == d.class
                && overlaps(d.offset, d.length, x.offset, x.length)
        });
        if !hit {
            let here: Vec<String> = reported
                .iter()
                .filter(|x| x.file == d.file)
                .map(|x| format!("{}+{} {} ({})", x.offset, x.length, x.class, x.reason))
                .collect();
            p.add(
                format!("{what}: expected damage not reported"),
                format!(
                    "{} {}+{} {}; reported for that file: {:?}",
                    d.file, d.offset, d.length, d.class, here
                ),
            );
        }
    }
    let damaged_files: Vec<&str> = exp.damage.iter().map(|d| d.file.as_str()).collect();
    for x in reported
        .iter()
        .filter(|x| !damaged_files.contains(&x.file.as_str()))
    {
        p.add(
            format!("{what}: damage reported in an undamaged file"),
            format!(
                "{} {}+{} {} ({})",
                x.file, x.offset, x.length, x.class, x.reason
            ),
        );
    }
    for (f, e) in report_errors(r) {
        if !damaged_files.contains(&f.as_str()) {
            p.add(
                format!("{what}: error reported for an undamaged file"),
                format!("{f}: {e}"),
            );
        }
    }
    let ranges: Vec<(u64, Option<u64>)> = r["lost"]["sequence_ranges"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| (x["first"].as_u64().unwrap_or(u64::MAX), x["last"].as_u64()))
                .collect()
        })
        .unwrap_or_default();
    let uncovered: Vec<u64> = exp
        .lost_log_seqs
        .iter()
        .copied()
        .filter(|&s| {
            !ranges
                .iter()
                .any(|&(first, last)| first <= s && last.is_none_or(|l| s <= l))
        })
        .collect();
    if !uncovered.is_empty() {
        p.add(
            format!("{what}: lost log sequences not in lost.sequence_ranges"),
            format!("{uncovered:?}; reported ranges {ranges:?}"),
        );
    }
}

fn damage_by_file(r: &Value) -> BTreeMap<String, (Value, Value)> {
    r["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap_or_default().to_string(),
                        (f["damage"].clone(), f["error"].clone()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A report without the fields that depend on where the output went.
fn without_out(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(s) = r.get_mut("salvage").and_then(Value::as_object_mut) {
        s.remove("out");
    }
    r
}

/// JSON pointers where two values differ (at most a few).
fn json_diff(at: &str, a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let path = format!("{at}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => out.extend(json_diff(&path, u, v)),
                    _ => out.push(format!("{path} (present in one only)")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                out.extend(json_diff(&format!("{at}/{i}"), u, v));
            }
        }
        _ if a != b => out.push(format!("{at}: {a} vs {b}")),
        _ => {}
    }
    out.truncate(5);
    out
}
