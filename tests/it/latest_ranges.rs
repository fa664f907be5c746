//! The latest view is merged one key range at a time, ranges side by side
//! (`salvage --view latest` without `--rebuild`), where `--rebuild` merges
//! everything in one piece. Both must give the same lines in the same
//! order, and both must be the model's latest view: per key the newest
//! intact write, deletes left out, `suspect_newer` where a damaged log
//! record held a newer write.
//!
//! The stores are several times the range size (2 MiB of tables), with
//! the shapes that make cutting the key space hard: level-0 tables that
//! each span every key, level-1 tables side by side, a table copied whole
//! (the same entries in two files: ties go to the earlier file), deletes
//! newer than puts in other tables, a log with keys before, between and
//! after the tables', a damaged log record, and tables whose index cannot
//! bound their blocks (a torn one, cut before its footer).

use crate::common;
use crate::support;

use common::{Rec, EXIT_DAMAGE};
use ldbsalvage::format::batch::Kind;
use ldbsalvage::format::table_writer::BuildOptions;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use support::*;

fn k(i: u64) -> Vec<u8> {
    format!("user:{i:06}").into_bytes()
}

/// A value of `n` bytes that snappy cannot shrink much, so that tables
/// reach the sizes the test needs without writing too many entries.
fn v(rng: &mut Rng, tag: u64, n: usize) -> Vec<u8> {
    let mut out = format!("{tag}:").into_bytes();
    out.extend((0..n).map(|_| b'a' + (rng.next() % 26) as u8));
    out
}

struct Store {
    files: Files,
    /// Every write the export may hold as intact.
    intact: Vec<Ent>,
    /// Keys with a newer write in the damaged log record.
    newer_lost: BTreeMap<Vec<u8>, u64>,
}

/// `whole_range_torn`: the torn table is a level-0 table spanning every
/// key (its index gone, it would have to be read once per range) rather
/// than one of a few hundred keys.
fn store(whole_range_torn: bool) -> Store {
    const KEYS: u64 = 24_000;
    let mut rng = Rng(7);
    let mut seq = 1u64;
    let mut next = || {
        seq += 1;
        seq
    };
    let mut files = Files::new();
    let mut intact = Vec::new();
    let mut tables: Vec<Vec<Ent>> = Vec::new();
    // Level 1: six tables side by side, every key once.
    for t in 0..6 {
        let lo = t * KEYS / 6;
        let ents: Vec<Ent> = (lo..lo + KEYS / 6)
            .map(|i| Ent::put(&k(i), next(), &v(&mut rng, i, 1000)))
            .collect();
        tables.push(ents);
    }
    // Level 0: three tables spanning every key, newer, one in four keys,
    // some of them deletes.
    for t in 0..3u64 {
        let ents: Vec<Ent> = (t..KEYS)
            .step_by(4)
            .map(|i| {
                if i % 9 == 0 {
                    Ent::del(&k(i), next())
                } else {
                    Ent::put(&k(i), next(), &v(&mut rng, i, 400))
                }
            })
            .collect();
        tables.push(ents);
    }
    // The same entries in a second file.
    tables.push(tables[2].clone());
    for (n, ents) in tables.iter().enumerate() {
        let t = table(&table_order(ents.clone()), BuildOptions::default());
        files.put(format!("{:06}.ldb", 10 + n), t.bytes);
        intact.extend(ents.iter().cloned());
    }
    // A torn table: its blocks are found without an index, so its index
    // cannot say which blocks hold which keys.
    let torn: Vec<Ent> = if whole_range_torn {
        (0..KEYS)
            .step_by(5)
            .map(|i| Ent::put(&k(i), next(), &v(&mut rng, i, 100)))
            .collect()
    } else {
        (9_000..9_300)
            .map(|i| Ent::put(&k(i), next(), &v(&mut rng, i, 100)))
            .collect()
    };
    let t = table(&table_order(torn.clone()), BuildOptions::default());
    let l = layout(&t.bytes);
    let last = l.data.last().expect("data blocks");
    let cut = (last.offset + last.len) as usize;
    files.put("000050.ldb", t.bytes[..cut].to_vec());
    intact.extend(torn);

    // The log: writes before, between and after the tables' keys, inside
    // them, deletes; then a damaged record with newer writes of some keys.
    let mut log = Log::new();
    let mut log_ents = Vec::new();
    for i in (0..KEYS + 500).step_by(37) {
        let e = if i % 3 == 0 {
            Ent::del(&k(i), next())
        } else {
            Ent::put(&k(i), next(), &v(&mut rng, i, 50))
        };
        log_ents.push(e);
    }
    log_ents.push(Ent::put(b"a-before-every-table", next(), b"x"));
    log_ents.push(Ent::put(b"zzz-after-every-table", next(), b"y"));
    for e in &log_ents {
        log.batch(std::slice::from_ref(e));
    }
    intact.extend(log_ents);
    let lost: Vec<Ent> = [101u64, 5_000, 17_777]
        .iter()
        .map(|&i| Ent::put(&k(i), next(), b"lost newer write"))
        .collect();
    let rec = log.batch(&lost).clone();
    let mut bytes = log.bytes();
    // Flip a byte of the last value: the checksum fails, the batch still
    // decodes, so its entries are unverified.
    let at = rec.end as usize - 3;
    bytes[at] ^= 0x01;
    files.put("000060.log", bytes);
    let newer_lost = lost.iter().map(|e| (e.key.clone(), e.seq)).collect();
    Store {
        files,
        intact,
        newer_lost,
    }
}

/// (key, seq, kind, value, suspect_newer) per line.
type Line = (Vec<u8>, u64, String, Option<Vec<u8>>, bool);

fn lines(recs: &[Rec]) -> Vec<Line> {
    recs.iter()
        .map(|r| {
            (
                r.key.clone(),
                r.seq,
                r.kind.clone(),
                r.value.clone(),
                r.suspect_newer,
            )
        })
        .collect()
}

fn model(s: &Store) -> Vec<Line> {
    let mut newest: BTreeMap<Vec<u8>, &Ent> = BTreeMap::new();
    for e in &s.intact {
        if newest.get(&e.key).is_none_or(|o| e.seq > o.seq) {
            newest.insert(e.key.clone(), e);
        }
    }
    newest
        .into_values()
        .filter(|e| e.kind == Kind::Put)
        .map(|e| {
            let suspect = s.newer_lost.get(&e.key).is_some_and(|&n| n > e.seq);
            let (key, seq, kind, value) = tuple_of_ent(e);
            (key, seq, kind, value, suspect)
        })
        .collect()
}

fn check(whole_range_torn: bool) {
    let s = store(whole_range_torn);
    let (tmp, db) = s.files.write();
    let table_bytes: u64 = s
        .files
        .0
        .iter()
        .filter(|(n, _)| n.ends_with(".ldb"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    assert!(
        table_bytes > 8 * (2 << 20),
        "{table_bytes} bytes of tables: too few to cut into many ranges"
    );
    let ranged = salvage(&db, "ranged", &[]);
    assert_eq!(ranged.code, EXIT_DAMAGE, "{}", ranged.what);
    let one = salvage(&db, "one", &["--rebuild"]);
    let read = |d: &std::path::Path| fs::read(d.join("records.jsonl")).unwrap();
    assert!(
        read(&ranged.out) == read(&one.out),
        "ranged and one-piece merges differ"
    );
    for jobs in ["1", "3"] {
        let j = salvage(&db, &format!("jobs{jobs}"), &["--jobs", jobs]);
        assert!(read(&j.out) == read(&ranged.out), "--jobs {jobs} differs");
    }
    let want = model(&s);
    let got = lines(&ranged.records);
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "line {i}");
    }
    let flagged = want.iter().filter(|l| l.4).count();
    assert!(flagged > 0);
    assert_eq!(
        ranged.report["salvage"]["suspect_newer_keys"],
        flagged as u64
    );
    // The tie: the entries copied whole come from the earlier file.
    let copied: BTreeSet<&[u8]> = ranged
        .records
        .iter()
        .filter(|r| r.file == "000012.ldb" || r.file == "000019.ldb")
        .map(|r| &r.key[..])
        .collect();
    assert!(!copied.is_empty());
    assert!(ranged.records.iter().all(|r| r.file != "000019.ldb"));
    drop(tmp);
}

#[test]
fn ranged_latest_view_is_the_one_merge() {
    check(false);
}

#[test]
fn a_torn_table_spanning_every_key_still_merges_right() {
    check(true);
}
