//! The table writer (`TableBuilder`) read back by the project's own table
//! reader (`scan_table`): every block intact, the footer and index used,
//! no damage, and exactly the entries written, in order, with their
//! sequence numbers and kinds (deletions included), each attributed to the
//! data block that holds it. An independent parser of the layout
//! (`support::layout`) says how many data blocks there are and where.
//!
//! Covered: binary keys (0x00, 0xff, invalid UTF-8), empty values, the empty
//! user key, keys longer than a block, 100 KiB values, many entries across
//! many blocks, `Compression::None` and `Compression::Snappy`, restart
//! intervals 1 and 16, and random key sets from a seeded generator.

use crate::common;
use crate::support;

use ldbsalvage::format::batch::Kind;
use ldbsalvage::format::ikey;
use ldbsalvage::format::table_writer::{BuildOptions, Compression, TableBuilder};
use ldbsalvage::report::Counts;
use ldbsalvage::scan::table::scan_table;
use ldbsalvage::scan::Collect;
use std::collections::BTreeSet;
use support::*;

const COMPRESSIONS: [Compression; 2] = [Compression::None, Compression::Snappy];
const RESTARTS: [usize; 2] = [1, 16];

/// Every combination of compression and restart interval over `block_size`.
fn option_grid(block_size: usize) -> Vec<BuildOptions> {
    let mut v = Vec::new();
    for compression in COMPRESSIONS {
        for restart_interval in RESTARTS {
            v.push(BuildOptions {
                block_size,
                restart_interval,
                compression,
            });
        }
    }
    v
}

/// What one round trip saw, for case-specific checks.
struct Trip {
    layout: Layout,
}

/// Write `ents` (sorted here into table order) and read them back.
#[track_caller]
fn roundtrip(ents: &[Ent], opts: BuildOptions, what: &str) -> Trip {
    let ents = table_order(ents.to_vec());
    let t = table(&ents, opts);
    let layout = layout(&t.bytes);
    let ctx = format!("{what} ({opts:?}, {} entries)", ents.len());

    // The independent parse holds exactly what was written.
    let parsed: Vec<(Vec<u8>, Vec<u8>)> =
        layout.data.iter().flat_map(|b| b.entries.clone()).collect();
    let written: Vec<(Vec<u8>, Vec<u8>)> =
        ents.iter().map(|e| (e.ikey(), e.value.clone())).collect();
    assert!(parsed == written, "{ctx}: the layout parser disagrees");

    let mut sink = Collect::default();
    let scan = scan_table(&t.bytes, &mut sink);
    assert!(scan.footer, "{ctx}: footer/index not used");
    assert!(scan.damage.is_empty(), "{ctx}: damage {:?}", scan.damage);
    assert_eq!(
        scan.blocks,
        Counts {
            intact: layout.data.len() as u64,
            torn: 0,
            garbled: 0
        },
        "{ctx}"
    );
    assert_eq!(scan.entries, ents.len() as u64, "{ctx}");
    assert!(sink.unverified.is_empty(), "{ctx}");
    assert_eq!(sink.intact.len(), ents.len(), "{ctx}");

    // Block of each entry, in order.
    let offsets: Vec<u64> = layout
        .data
        .iter()
        .flat_map(|b| std::iter::repeat_n(b.offset, b.entries.len()))
        .collect();
    for (i, ((got, want), off)) in sink.intact.iter().zip(&ents).zip(&offsets).enumerate() {
        assert!(
            got.key == want.key,
            "{ctx}: entry {i}: key {} != {}",
            common::show(&got.key),
            common::show(&want.key)
        );
        assert_eq!(got.seq, want.seq, "{ctx}: entry {i} seq");
        assert_eq!(got.kind, want.kind, "{ctx}: entry {i} kind");
        assert!(got.value == want.value, "{ctx}: entry {i} value");
        assert_eq!(got.offset, *off, "{ctx}: entry {i} block offset");
    }

    if !ents.is_empty() {
        let seqs = ents.iter().map(|e| e.seq);
        assert_eq!(scan.min_seq, seqs.clone().min(), "{ctx}");
        assert_eq!(scan.max_seq, seqs.max(), "{ctx}");
        assert_eq!(
            scan.smallest_user_key.as_deref(),
            Some(ents[0].key.as_slice()),
            "{ctx}"
        );
        let largest = ents.iter().map(|e| &e.key).max().unwrap();
        assert_eq!(
            scan.largest_user_key.as_deref(),
            Some(largest.as_slice()),
            "{ctx}"
        );
    }
    if opts.compression == Compression::None {
        assert!(layout.data.iter().all(|b| !b.compressed), "{ctx}");
    }
    Trip { layout }
}

#[test]
fn binary_keys_empty_values_and_the_empty_key() {
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        seq
    };
    let keys: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        vec![0x00],
        vec![0x00, 0x00],
        vec![0x00, 0xff],
        vec![0x7f],
        vec![0x80],
        vec![0xc3, 0x28],       // invalid UTF-8
        vec![0xed, 0xa0, 0x80], // an encoded surrogate: invalid UTF-8
        b"a\x00b".to_vec(),
        b"plain".to_vec(),
        "snowman \u{2603}".as_bytes().to_vec(),
        vec![0xfe, 0xff],
        vec![0xff],
        vec![0xff, 0x00],
        vec![0xff, 0xff],
        vec![0xff; 40],
    ];
    let mut ents = Vec::new();
    for k in &keys {
        // Several versions of each key, newest first in table order: a put
        // with an empty value, a deletion, a put with binary bytes.
        ents.push(Ent::put(k, next(), b""));
        ents.push(Ent::del(k, next()));
        ents.push(Ent::put(k, next(), &[0x00, 0xff, 0x80, 0x0a]));
    }
    // Sequence extremes.
    ents.push(Ent::put(b"seq-zero", 0, b"v"));
    ents.push(Ent::put(b"seq-max", ikey::MAX_SEQUENCE - 1, b"v"));
    ents.push(Ent::del(b"seq-max-del", ikey::MAX_SEQUENCE - 1));
    for block_size in [16, 128, 4096] {
        for opts in option_grid(block_size) {
            let t = roundtrip(&ents, opts, "binary keys");
            if block_size == 16 {
                assert!(t.layout.data.len() >= ents.len() / 2);
            }
        }
    }
}

#[test]
fn only_the_empty_key_and_only_deletions() {
    for opts in option_grid(4096) {
        roundtrip(&[Ent::put(b"", 1, b"")], opts, "one empty put");
        roundtrip(&[Ent::del(b"", 7)], opts, "one empty delete");
        let dels: Vec<Ent> = (0..500u64)
            .map(|i| Ent::del(format!("gone{i:05}").as_bytes(), i + 1))
            .collect();
        roundtrip(&dels, opts, "deletions only");
    }
}

#[test]
fn keys_longer_than_a_block() {
    // 10 KiB keys, a 4 KiB block: one entry per block. They share a long
    // prefix, so prefix compression within a restart run is exercised too.
    let mut r = Rng(7);
    let prefix = r.bytes(6000);
    let ents: Vec<Ent> = (0..24u64)
        .map(|i| {
            let mut k = prefix.clone();
            k.extend_from_slice(format!("{i:04}").as_bytes());
            k.extend(r.bytes(10 * 1024 - k.len()));
            let v = if i % 3 == 0 { Vec::new() } else { r.bytes(100) };
            if i % 5 == 4 {
                Ent::del(&k, 100 + i)
            } else {
                Ent::put(&k, 100 + i, &v)
            }
        })
        .collect();
    for opts in option_grid(4096) {
        let t = roundtrip(&ents, opts, "10 KiB keys");
        assert_eq!(t.layout.data.len(), ents.len(), "one entry per block");
    }
}

#[test]
fn values_of_100_kib() {
    let mut r = Rng(11);
    let mut ents = Vec::new();
    for i in 0..8u64 {
        let v = if i % 2 == 0 {
            r.bytes(100 * 1024) // incompressible
        } else {
            let pat = r.bytes(64);
            pat.iter().cycle().take(100 * 1024).copied().collect()
        };
        ents.push(Ent::put(format!("big{i}").as_bytes(), i + 1, &v));
        ents.push(Ent::put(format!("big{i}-small").as_bytes(), 100 + i, b"x"));
    }
    for opts in option_grid(4096) {
        let t = roundtrip(&ents, opts, "100 KiB values");
        if opts.compression == Compression::Snappy {
            assert!(
                t.layout.data.iter().any(|b| b.compressed),
                "the repetitive values compress"
            );
            assert!(
                t.layout.data.iter().any(|b| !b.compressed),
                "random values stay raw"
            );
        }
    }
}

#[test]
fn many_entries_across_many_blocks() {
    let mut r = Rng(3);
    let ents: Vec<Ent> = (0..30_000u64)
        .map(|i| {
            let k = format!("user:{:08}:{}", i * 7919 % 1_000_003, i % 13);
            let v = if i % 4 == 0 {
                let n = r.below(200) as usize;
                r.bytes(n)
            } else {
                format!("value-{i}-").repeat((i % 9) as usize).into_bytes()
            };
            if i % 11 == 0 {
                Ent::del(k.as_bytes(), i + 1)
            } else {
                Ent::put(k.as_bytes(), i + 1, &v)
            }
        })
        .collect();
    for opts in option_grid(4096) {
        let t = roundtrip(&ents, opts, "30000 entries");
        assert!(t.layout.data.len() > 100, "{} blocks", t.layout.data.len());
        if opts.compression == Compression::Snappy {
            assert!(t.layout.data.iter().any(|b| b.compressed));
        }
    }
    // LevelDB's corruption_test data under its own options.
    roundtrip(&build(0..2000, 1), BuildOptions::default(), "Build(2000)");
}

#[test]
fn empty_table() {
    let bytes = TableBuilder::new(BuildOptions::default()).finish();
    let mut sink = Collect::default();
    let scan = scan_table(&bytes, &mut sink);
    assert!(scan.footer);
    assert!(scan.damage.is_empty(), "{:?}", scan.damage);
    assert_eq!(scan.blocks, Counts::default());
    assert_eq!(scan.entries, 0);
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
}

/// Random key sets: short keys over a small alphabet (shared prefixes, the
/// empty key, several versions of a key), random kinds, values from empty to
/// a few KiB (random or repetitive), random block sizes, both compressions,
/// restart intervals 1, 2 and 16.
#[test]
fn random_key_sets() {
    for seed in 0..120u64 {
        let mut r = Rng(0x5eed_0000 + seed);
        let n = r.below(400) as usize;
        let alphabet: &[u8] = if seed % 3 == 0 {
            b"\x00\x01\xfe\xff"
        } else {
            b"ab\x00\xff\x80z"
        };
        let mut used = BTreeSet::new();
        let mut ents = Vec::with_capacity(n);
        while ents.len() < n {
            let klen = r.below(24) as usize;
            let key: Vec<u8> = (0..klen)
                .map(|_| alphabet[r.below(alphabet.len() as u64) as usize])
                .collect();
            let seq = r.below(1 << 20);
            if !used.insert((key.clone(), seq)) {
                continue;
            }
            let e = if r.below(5) == 0 {
                Ent::del(&key, seq)
            } else {
                let vlen = match r.below(10) {
                    0 => 0,
                    1 => r.below(5000) as usize,
                    _ => r.below(300) as usize,
                };
                let v = if r.below(2) == 0 {
                    r.bytes(vlen)
                } else {
                    vec![b'r'; vlen]
                };
                Ent::put(&key, seq, &v)
            };
            ents.push(e);
        }
        let opts = BuildOptions {
            block_size: [64, 256, 1024, 4096][r.below(4) as usize],
            restart_interval: [1, 2, 16][r.below(3) as usize],
            compression: COMPRESSIONS[r.below(2) as usize],
        };
        let ents = table_order(ents);
        // Table order is strict: no two entries share an internal key.
        for w in ents.windows(2) {
            assert_eq!(
                ikey::compare(&w[0].ikey(), &w[1].ikey()),
                std::cmp::Ordering::Less
            );
        }
        if ents.is_empty() {
            continue;
        }
        roundtrip(&ents, opts, &format!("seed {seed}"));
    }
}

/// The builder refuses what a reader could not read back: out-of-order and
/// duplicate keys, malformed internal keys. A refused add leaves the table
/// as it was, and it still reads back exactly.
#[test]
fn refused_entries_leave_the_table_intact() {
    let mut b = TableBuilder::new(BuildOptions::default());
    b.add(&ikey::encode(b"b", 5, Kind::Put), b"1").unwrap();
    assert!(b.add(&ikey::encode(b"a", 9, Kind::Put), b"x").is_err());
    assert!(b.add(&ikey::encode(b"b", 5, Kind::Put), b"x").is_err());
    assert!(b.add(b"short", b"x").is_err());
    b.add(&ikey::encode(b"b", 4, Kind::Delete), b"").unwrap();
    let bytes = b.finish();
    let mut sink = Collect::default();
    let scan = scan_table(&bytes, &mut sink);
    assert!(scan.footer && scan.damage.is_empty());
    let got: Vec<(Vec<u8>, u64, Kind)> = sink
        .intact
        .iter()
        .map(|e| (e.key.clone(), e.seq, e.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            (b"b".to_vec(), 5, Kind::Put),
            (b"b".to_vec(), 4, Kind::Delete)
        ]
    );
}
