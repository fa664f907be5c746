use super::index::parse_index;
use super::*;
use crate::format::block::BlockBuilder;
use crate::format::crc;
use crate::format::table_writer::sample::{
    append_block, append_raw, sample, Built, TableWriter, ZLIB,
};
use crate::scan::{Collect, CountOnly, OwnedEntry};

/// Scan with entries collected, and check that a scan that only counts
/// (the scratch-buffer path) finds exactly the same.
fn scan(bytes: &[u8]) -> (TableScan, Collect) {
    let mut c = Collect::default();
    let s = scan_table(bytes, &mut c);
    check_invariants(bytes, &s);
    let mut counted = CountOnly::default();
    let s2 = scan_table(bytes, &mut counted);
    assert_eq!(s, s2, "a counting scan differs from a collecting one");
    assert_eq!(counted.unverified, c.unverified.len() as u64);
    (s, c)
}

/// Damage sorted, non-overlapping, inside the file.
fn check_invariants(bytes: &[u8], s: &TableScan) {
    for d in &s.damage {
        assert!(d.end() <= bytes.len() as u64, "{d:?}");
    }
    for w in s.damage.windows(2) {
        assert!(w[0].end() < w[1].offset, "{:?}", s.damage);
    }
}

/// The entries the writer put in data block `i`, as the scan reports them.
fn block_entries(t: &Built, i: usize) -> Vec<OwnedEntry> {
    t.entries[i]
        .iter()
        .map(|(k, seq, kind, v)| OwnedEntry {
            seq: *seq,
            kind: *kind,
            key: k.clone(),
            value: v.clone(),
            offset: t.data[i].offset,
            expiry: None,
            cf: None,
        })
        .collect()
}

fn all_entries(t: &Built) -> Vec<OwnedEntry> {
    (0..t.data.len())
        .flat_map(|i| block_entries(t, i))
        .collect()
}

fn entries_except(t: &Built, skip: &[usize]) -> Vec<OwnedEntry> {
    (0..t.data.len())
        .filter(|i| !skip.contains(i))
        .flat_map(|i| block_entries(t, i))
        .collect()
}

fn user(k: &[u8]) -> Vec<u8> {
    k[..k.len() - 8].to_vec()
}

/// The key range the index gives data block `i`.
fn index_range(t: &Built, i: usize) -> KeyRange {
    let prev = i.checked_sub(1).map(|p| &t.separators[p]);
    KeyRange {
        first: prev.map(|p| user(p)),
        first_exclusive: prev.is_some_and(|p| {
            let k = ikey::parse(p).unwrap();
            k.seq == MAX_SEQUENCE
        }),
        last: Some(user(&t.separators[i])),
    }
}

/// Replace the index (and footer) with one naming `handles`.
fn with_index(t: &Built, handles: &[BlockHandle]) -> Vec<u8> {
    let mut out = t.bytes[..t.index.offset as usize].to_vec();
    let mut b = BlockBuilder::new(1);
    for (i, h) in handles.iter().enumerate() {
        let mut v = Vec::new();
        h.encode_to(&mut v);
        b.add(
            &ikey::encode(format!("sep{i:04}").as_bytes(), MAX_SEQUENCE, Kind::Put),
            &v,
        );
    }
    let index = append_block(&mut out, &b.finish(), compress::NONE);
    let footer = Footer {
        metaindex: t.metaindex,
        index,
        padding_clean: true,
    };
    out.extend_from_slice(&footer.encode());
    out
}

fn noise(n: usize, x: u64) -> Vec<u8> {
    crate::vocab::noise::bytes(n, x)
}

#[test]
fn intact_tables_in_every_codec() {
    for c in [compress::NONE, compress::SNAPPY, compress::ZSTD_OR_ZLIB] {
        let t = sample(c, 400);
        assert!(t.data.len() > 20);
        if c != compress::NONE {
            // The blocks really are compressed with this codec.
            let h = t.data[2];
            assert_eq!(t.bytes[(h.offset + h.size) as usize], c);
        }
        let (s, got) = scan(&t.bytes);
        assert!(s.footer);
        assert_eq!(s.damage, vec![], "compression {c}");
        assert_eq!(
            s.blocks,
            Counts {
                intact: t.data.len() as u64,
                torn: 0,
                garbled: 0
            }
        );
        assert_eq!(s.entries, 400);
        assert_eq!(got.intact, all_entries(&t));
        assert!(got.unverified.is_empty());
        assert_eq!(s.min_seq, Some(1000));
        assert_eq!(s.max_seq, Some(1399));
        assert_eq!(s.smallest_user_key.as_deref(), Some(&b"key000000"[..]));
        assert_eq!(s.largest_user_key.as_deref(), Some(&b"key001197"[..]));
    }
}

#[test]
fn bedrock_codecs_zlib_and_raw_deflate() {
    for (c, stored) in [
        (ZLIB, compress::ZSTD_OR_ZLIB),
        (compress::RAW_DEFLATE, compress::RAW_DEFLATE),
    ] {
        let t = sample(c, 300);
        let h = t.data[1];
        assert_eq!(t.bytes[(h.offset + h.size) as usize], stored);
        let (s, got) = scan(&t.bytes);
        assert_eq!(s.damage, vec![]);
        assert_eq!(got.intact, all_entries(&t));
        // And without the footer.
        let (s, got) = scan(&t.bytes[..t.bytes.len() - FOOTER_SIZE]);
        assert_eq!(got.intact, all_entries(&t));
        assert_eq!(s.damage.len(), 1);
        assert_eq!(s.damage[0].length, 0);
    }
}

#[test]
fn without_its_footer_a_table_is_torn_but_whole() {
    let t = sample(compress::SNAPPY, 300);
    let n = t.bytes.len() - FOOTER_SIZE;
    let (s, got) = scan(&t.bytes[..n]);
    assert!(!s.footer);
    // Index, metaindex and filter were found but not exported.
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.blocks.intact, t.data.len() as u64);
    assert_eq!(s.damage.len(), 1);
    assert_eq!((s.damage[0].offset, s.damage[0].length), (n as u64, 0));
    assert_eq!(s.damage[0].class, Class::Torn);
    // Part of the footer left: the tear covers it.
    let (s, got) = scan(&t.bytes[..n + 20]);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!((s.damage[0].offset, s.damage[0].length), (n as u64, 20));
    assert_eq!(s.damage[0].class, Class::Torn);
}

#[test]
fn a_key_that_is_not_an_internal_key_garbles_its_block() {
    let t = sample(compress::NONE, 100);
    let mut out = t.bytes[..t.data[1].offset as usize].to_vec();
    let mut b = BlockBuilder::new(16);
    b.add(&ikey::encode(b"ok", 5, Kind::Put), b"1");
    let mut bad_key = ikey::encode(b"bad", 6, Kind::Put);
    let tag_at = bad_key.len() - 8;
    bad_key[tag_at] = 7; // type 7
    b.add(&bad_key, b"2");
    let mut handles = vec![t.data[0]];
    handles.push(append_raw(&mut out, &b.finish(), compress::NONE));
    let mut t2 = t.clone();
    t2.metaindex = append_block(&mut out, &BlockBuilder::new(16).finish(), compress::NONE);
    t2.index = BlockHandle {
        offset: out.len() as u64,
        size: 0,
    };
    t2.bytes = out;
    let bytes = with_index(&t2, &handles);
    let (s, got) = scan(&bytes);
    assert_eq!(s.blocks.garbled, 1);
    assert!(
        s.damage[0].reason.contains("not an internal key"),
        "{}",
        s.damage[0].reason
    );
    assert_eq!(got.intact, block_entries(&t, 0));
    // The parseable entry is offered unverified; the bad key is skipped.
    assert_eq!(got.unverified.len(), 1);
    assert_eq!(got.unverified[0].0.key, b"ok");
}

#[test]
fn a_flipped_byte_garbles_only_its_block() {
    // Keys whose last digits differ one place before their end: LevelDB
    // shortens some separators (`key000004` between `key000003-x` and
    // `key000006-x`) and not others (`key000009-x`, `key000012-x`).
    let mut w = TableWriter::new(compress::NONE);
    for i in 0..300u32 {
        let k = format!("key{:06}-x", i * 3);
        w.add(k.as_bytes(), 1000 + u64::from(i), Kind::Put, &[b'v'; 20]);
    }
    let t = w.finish();
    // Both kinds of lower bound occur in this table.
    let shortened = |i: usize| index_range(&t, i).first_exclusive;
    assert!((1..t.data.len()).any(shortened));
    assert!((1..t.data.len()).any(|i| !shortened(i)));
    let i = 5;
    let h = t.data[i];
    let mut bad = t.bytes.clone();
    // A byte of the last value: the block still parses, unverified.
    let at = (h.offset + h.size) as usize - 4 * 4 - 4 - 2;
    bad[at] ^= 0x01;
    let (s, got) = scan(&bad);
    assert!(s.footer);
    assert_eq!(s.blocks.garbled, 1);
    assert_eq!(s.blocks.intact, t.data.len() as u64 - 1);
    assert_eq!(s.damage.len(), 1);
    let d = &s.damage[0];
    assert_eq!((d.offset, d.length), (h.offset, h.size + 5));
    assert_eq!(d.class, Class::Garbled);
    assert!(d.reason.contains("checksum mismatch"), "{}", d.reason);
    assert_eq!(d.key_range.as_ref(), Some(&index_range(&t, i)));
    assert_eq!(got.intact, entries_except(&t, &[i]));
    assert_eq!(s.entries, got.intact.len() as u64);
    // Its entries are still offered, as unverified.
    assert_eq!(got.unverified.len(), t.entries[i].len());
    assert!(got.unverified[0].1.contains("checksum mismatch"));
}

#[test]
fn first_block_damage_has_an_open_lower_bound() {
    let t = sample(compress::SNAPPY, 300);
    let mut bad = t.bytes.clone();
    bad[3] ^= 0x80;
    let (s, got) = scan(&bad);
    assert_eq!(s.damage.len(), 1);
    let r = s.damage[0].key_range.clone().unwrap();
    assert_eq!(r.first, None);
    assert_eq!(r.last, Some(user(&t.separators[0])));
    assert_eq!(got.intact, entries_except(&t, &[0]));
}

#[test]
fn a_zeroed_run_across_two_blocks_is_one_merged_range() {
    let t = sample(compress::SNAPPY, 300);
    let (a, b) = (t.data[3], t.data[4]);
    let mut bad = t.bytes.clone();
    bad[(a.offset + 10) as usize..(b.offset + 10) as usize].fill(0);
    let (s, got) = scan(&bad);
    assert_eq!(s.blocks.garbled, 2);
    assert_eq!(s.damage.len(), 1);
    let d = &s.damage[0];
    assert_eq!((d.offset, d.end()), (a.offset, b.end().unwrap()));
    let r = d.key_range.clone().unwrap();
    assert_eq!(r.first, index_range(&t, 3).first);
    assert_eq!(r.last, index_range(&t, 4).last);
    assert_eq!(got.intact, entries_except(&t, &[3, 4]));
}

#[test]
fn truncated_at_70_percent_is_torn_after_the_last_intact_block() {
    let t = sample(compress::SNAPPY, 400);
    let cut = t.bytes.len() * 7 / 10;
    let (s, got) = scan(&t.bytes[..cut]);
    assert!(!s.footer);
    let whole: Vec<usize> = (0..t.data.len())
        .filter(|&i| t.data[i].end().unwrap() as usize <= cut)
        .collect();
    assert!(whole.len() > 5 && whole.len() < t.data.len());
    let last_end = t.data[*whole.last().unwrap()].end().unwrap();
    let want: Vec<OwnedEntry> = whole.iter().flat_map(|&i| block_entries(&t, i)).collect();
    assert_eq!(got.intact, want);
    assert_eq!(s.blocks.intact, whole.len() as u64);
    assert_eq!(s.blocks.torn, 1);
    assert_eq!(s.blocks.garbled, 0);
    assert_eq!(s.damage.len(), 1);
    let d = &s.damage[0];
    assert_eq!(d.class, Class::Torn);
    assert_eq!((d.offset, d.end()), (last_end, cut as u64));
    // Lost keys start at the last intact key.
    let last_key = &t.entries[*whole.last().unwrap()].last().unwrap().0;
    assert_eq!(d.key_range.clone().unwrap().first.as_ref(), Some(last_key));
}

#[test]
fn cut_exactly_between_blocks_is_a_zero_length_tear() {
    let t = sample(compress::NONE, 200);
    let cut = t.data[4].end().unwrap() as usize;
    let (s, got) = scan(&t.bytes[..cut]);
    assert_eq!(
        s.damage,
        vec![Damage::new(
            cut as u64,
            0,
            Class::Torn,
            "file ends after a complete block: the rest of the table was never written"
        )]
    );
    assert_eq!(
        got.intact.len(),
        (0..5).map(|i| t.entries[i].len()).sum::<usize>()
    );
    assert_eq!(s.blocks.torn, 0);
}

#[test]
fn whether_the_index_bounds_every_intact_block() {
    for c in [compress::NONE, compress::SNAPPY] {
        let t = sample(c, 300);
        assert!(scan(&t.bytes).0.index_bounds_blocks);
        // Separators "sep0000"... sort below every "key…": the index
        // still names every block, but cannot say which keys each holds.
        let (s, got) = scan(&with_index(&t, &t.data));
        assert_eq!(got.intact, all_entries(&t));
        assert!(!s.index_bounds_blocks);
        // One block damaged: the others still bound by the index.
        let mut bad = t.bytes.clone();
        bad[t.data[1].offset as usize + 3] ^= 0x20;
        let (s, _) = scan(&bad);
        assert_eq!(s.blocks.damaged(), 1);
        assert!(s.index_bounds_blocks);
        // A block named twice, the second time with bounds that do not
        // hold its keys (the same user key as the first separator, an
        // older sequence): no reader may choose blocks by these bounds.
        let mut b = BlockBuilder::new(1);
        let mut named = vec![(t.separators[0].clone(), t.data[0])];
        let p = ikey::parse(&t.separators[0]).unwrap();
        named.push((ikey::encode(p.user_key, p.seq - 1, p.kind), t.data[0]));
        named.extend(
            t.separators
                .iter()
                .cloned()
                .zip(t.data.iter().copied())
                .skip(1),
        );
        for (sep, h) in &named {
            let mut v = Vec::new();
            h.encode_to(&mut v);
            b.add(sep, &v);
        }
        let mut twice = t.bytes[..t.index.offset as usize].to_vec();
        let index = append_block(&mut twice, &b.finish(), compress::NONE);
        twice.extend_from_slice(
            &Footer {
                metaindex: t.metaindex,
                index,
                padding_clean: true,
            }
            .encode(),
        );
        let (s, got) = scan(&twice);
        assert!(s.footer);
        assert_eq!(got.intact, all_entries(&t));
        assert!(!s.index_bounds_blocks);
        // Cut before its index: blocks found without one.
        let (s, got) = scan(&t.bytes[..t.index.offset as usize]);
        assert_eq!(got.intact, all_entries(&t));
        assert!(!s.index_bounds_blocks);
    }
}

#[test]
fn a_garbled_index_loses_nothing() {
    for c in [compress::NONE, compress::SNAPPY] {
        let t = sample(c, 300);
        let mut bad = t.bytes.clone();
        bad[t.index.offset as usize + 7] ^= 0x20;
        let (s, got) = scan(&bad);
        assert!(!s.footer);
        assert_eq!(got.intact, all_entries(&t));
        assert_eq!(s.blocks.intact, t.data.len() as u64);
        assert_eq!(s.blocks.damaged(), 0);
        assert_eq!(s.damage.len(), 1, "{:?}", s.damage);
        let d = &s.damage[0];
        assert_eq!(
            (d.offset, d.end()),
            (t.index.offset, t.index.end().unwrap())
        );
        assert_eq!(d.class, Class::Garbled);
        assert_eq!(d.lost_entries, Some(0));
        assert!(
            d.reason.starts_with("index block: checksum mismatch"),
            "{}",
            d.reason
        );
    }
}

#[test]
fn a_garbled_footer_still_yields_everything() {
    let t = sample(compress::SNAPPY, 300);
    let n = t.bytes.len();
    // Handles destroyed, magic intact.
    let mut bad = t.bytes.clone();
    bad[n - 48..n - 38].fill(0xff);
    // Magic damaged in two bytes.
    let mut bad2 = t.bytes.clone();
    bad2[n - 3] ^= 0x11;
    bad2[n - 6] ^= 0x11;
    for b in [bad, bad2] {
        let (s, got) = scan(&b);
        assert!(!s.footer);
        // The intact index is found but not exported as data.
        assert_eq!(got.intact, all_entries(&t));
        assert_eq!(s.damage.len(), 1, "{:?}", s.damage);
        let d = &s.damage[0];
        assert_eq!(
            (d.offset, d.length, d.class),
            ((n - 48) as u64, 48, Class::Garbled)
        );
        assert!(d.reason.starts_with("footer"), "{}", d.reason);
    }
}

#[test]
fn a_footer_pointing_outside_is_garbled() {
    let t = sample(compress::NONE, 100);
    let n = t.bytes.len();
    let footer = Footer {
        metaindex: t.metaindex,
        index: BlockHandle {
            offset: n as u64,
            size: 10,
        },
        padding_clean: true,
    };
    let mut bad = t.bytes.clone();
    bad[n - 48..].copy_from_slice(&footer.encode());
    let (s, got) = scan(&bad);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.damage.len(), 1);
    assert_eq!(s.damage[0].offset, (n - 48) as u64);
    assert!(
        s.damage[0].reason.contains("does not end where"),
        "{}",
        s.damage[0].reason
    );
    // Handles that decode to nonsense inside the table: the same.
    let mut bad = t.bytes.clone();
    bad[n - 46] = 0xff;
    bad[n - 45] ^= 0xff;
    let (s, got) = scan(&bad);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.damage.len(), 1, "{:?}", s.damage);
    assert_eq!(
        (s.damage[0].offset, s.damage[0].length),
        ((n - 48) as u64, 48)
    );
    // Only the metaindex handle wrong: reported, index still used.
    let footer = Footer {
        metaindex: BlockHandle {
            offset: t.index.offset + 3,
            size: 5,
        },
        index: t.index,
        padding_clean: true,
    };
    bad[n - 48..].copy_from_slice(&footer.encode());
    let (s, got) = scan(&bad);
    assert!(s.footer);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.damage.len(), 1, "{:?}", s.damage);
    assert!(s.damage[0].reason.contains("metaindex handle"));
    // Even one that claims every data block.
    let footer = Footer {
        metaindex: BlockHandle {
            offset: 0,
            size: t.index.offset + 1,
        },
        ..footer
    };
    bad[n - 48..].copy_from_slice(&footer.encode());
    let (s, got) = scan(&bad);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.damage.len(), 1, "{:?}", s.damage);
}

#[test]
fn empty_and_noise() {
    let (s, got) = scan(&[]);
    assert_eq!(s.damage.len(), 1);
    assert_eq!((s.damage[0].offset, s.damage[0].length), (0, 0));
    assert_eq!(s.damage[0].class, Class::Torn);
    assert!(got.intact.is_empty());

    for n in [1usize, 47, 48, 5000, 100_000] {
        let bytes = noise(n, n as u64 + 1);
        let (s, got) = scan(&bytes);
        assert!(got.intact.is_empty() && got.unverified.is_empty());
        assert_eq!(s.damage.len(), 1);
        let d = &s.damage[0];
        assert_eq!((d.offset, d.length, d.class), (0, n as u64, Class::Garbled));
        assert_eq!(d.reason, "no table block found");
        assert_eq!(s.entries, 0);
        assert_eq!(s.min_seq, None);
    }
}

#[test]
fn keys_out_of_order_garble_a_checksummed_block() {
    // A block whose checksum is right but whose keys go backwards.
    let mut w = TableWriter::new(compress::NONE);
    w.filter = false;
    for i in 0..40u32 {
        w.add(format!("k{i:03}").as_bytes(), 10, Kind::Put, b"v");
    }
    let t = w.finish();
    let mut out = Vec::new();
    let mut handles = Vec::new();
    for (i, h) in t.data.iter().enumerate() {
        let raw = &t.bytes[h.offset as usize..(h.offset + h.size) as usize];
        if i == 1 {
            let mut b = BlockBuilder::new(16);
            b.add(&ikey::encode(b"zzz", 1, Kind::Put), b"1");
            b.add(&ikey::encode(b"aaa", 1, Kind::Put), b"2");
            handles.push(append_raw(&mut out, &b.finish(), compress::NONE));
        } else {
            handles.push(append_raw(&mut out, raw, compress::NONE));
        }
    }
    let mut t2 = t.clone();
    t2.metaindex = append_block(&mut out, &BlockBuilder::new(16).finish(), compress::NONE);
    t2.index = BlockHandle {
        offset: out.len() as u64,
        size: 0,
    };
    t2.bytes = out;
    let bytes = with_index(&t2, &handles);
    let (s, got) = scan(&bytes);
    assert_eq!(s.blocks.garbled, 1);
    assert_eq!(s.damage.len(), 1);
    assert_eq!(s.damage[0].offset, handles[1].offset);
    assert!(
        s.damage[0].reason.contains("out of key order"),
        "{}",
        s.damage[0].reason
    );
    // Parsed but never passed off as intact.
    assert_eq!(got.unverified.len(), 2);
    assert!(got
        .intact
        .iter()
        .all(|e| e.key != b"zzz" && e.key != b"aaa"));
    assert_eq!(s.blocks.intact, t.data.len() as u64 - 1);
    assert!(s.footer);
}

/// Whether the intact entries, in the order the sink got them, ascend in
/// internal-key order (user key up, then sequence down).
fn entries_sorted(got: &Collect) -> bool {
    got.intact.windows(2).all(|w| {
        (w[0].key.as_slice(), std::cmp::Reverse(w[0].seq))
            < (w[1].key.as_slice(), std::cmp::Reverse(w[1].seq))
    })
}

#[test]
fn whether_the_intact_blocks_are_in_order_is_told_without_entries() {
    let t = sample(compress::SNAPPY, 300);
    let (s, got) = scan(&t.bytes);
    assert!(s.blocks_in_order && entries_sorted(&got));
    // Two valid blocks the wrong way round, no index: each is intact and
    // sorted inside, the table is not.
    let raw = |i: usize| {
        let h = t.data[i];
        t.bytes[h.offset as usize..(h.offset + h.size) as usize + 5].to_vec()
    };
    let swapped = [raw(2), raw(1)].concat();
    let (s, got) = scan(&swapped);
    assert_eq!(s.blocks.intact, 2);
    assert!(!entries_sorted(&got));
    assert!(!s.blocks_in_order);
    // The same blocks in their own order are.
    let (s, got) = scan(&[raw(1), raw(2)].concat());
    assert!(s.blocks_in_order && entries_sorted(&got));
    // A block between them that fails its checksum does not break the
    // order of the intact ones around it.
    let mut bad = raw(2);
    bad[3] ^= 0x40;
    let (s, _) = scan(&[raw(1), bad, raw(3)].concat());
    assert_eq!((s.blocks.intact, s.blocks.damaged()), (2, 1));
    assert!(s.blocks_in_order);
    // Without the order check inside blocks, nothing is claimed.
    let unordered = TableOptions {
        ordered: false,
        ..TableOptions::default()
    };
    assert!(!scan_table_with(&t.bytes, &mut CountOnly::default(), &unordered).blocks_in_order);
}

#[test]
fn unknown_codec_with_a_valid_checksum() {
    let t = sample(compress::NONE, 100);
    let h = t.data[2];
    let mut bad = t.bytes.clone();
    let end = (h.offset + h.size) as usize;
    bad[end] = 9;
    let c = crc::extend(crc::value(&bad[h.offset as usize..end]), &[9]);
    bad[end + 1..end + 5].copy_from_slice(&crc::mask(c).to_le_bytes());
    let (s, got) = scan(&bad);
    assert_eq!(s.damage.len(), 1);
    assert!(s.damage[0].reason.ends_with("unknown compression type 9"));
    assert_eq!(got.intact, entries_except(&t, &[2]));
}

#[test]
fn index_pointing_outside_the_file() {
    let t = sample(compress::NONE, 100);
    let mut handles = t.data.clone();
    handles.push(BlockHandle {
        offset: 1 << 40,
        size: 100,
    });
    let bytes = with_index(&t, &handles);
    let (s, got) = scan(&bytes);
    assert!(s.footer);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.blocks.torn, 1);
    assert_eq!(s.damage.len(), 1);
    let d = &s.damage[0];
    assert_eq!(
        (d.offset, d.length, d.class),
        (bytes.len() as u64, 0, Class::Torn)
    );
}

#[test]
fn an_index_of_huge_shared_keys_keeps_only_a_bounded_copy() {
    // Every entry shares all but its tag with a 256 KiB key: ~14 bytes
    // an entry in the block, 256 KiB each if copied out.
    let t = sample(compress::NONE, 100);
    let user_key = vec![b'k'; 256 << 10];
    let n = 8_000u64;
    // Each entry: its tail (the tag) then, as its value, a handle.
    let mut handle = Vec::new();
    t.data[0].encode_to(&mut handle);
    let tails: Vec<[u8; 8]> = (1..n).map(|i| ((n - i) << 8 | 1).to_le_bytes()).collect();
    let tails: Vec<&[u8]> = tails.iter().map(|t| &t[..]).collect();
    let contents = crate::format::block::shared_prefix_block(
        &ikey::encode(&user_key, n, Kind::Put),
        user_key.len(),
        &tails,
        &handle,
    );
    assert!(contents.len() < 1 << 20);
    let index = parse_index(&contents, true).unwrap();
    assert_eq!(index.handles.len(), n as usize);
    let kept: usize = index.separators.iter().flatten().map(|r| r.len()).sum();
    assert!(kept <= 1 << 20, "{kept} bytes of separators copied");
    assert_eq!(index.bytes.len(), kept);
    assert!(index.separator(0).is_some(), "the first ones are kept");
    assert!(index.separator(n as usize - 1).is_none());

    // The same index in a whole table. Every entry names block 0; the
    // other blocks are found in the bytes the index leaves out, and the
    // index is reported for leaving them out.
    let mut out = t.bytes[..t.index.offset as usize].to_vec();
    let index = append_block(&mut out, &contents, compress::NONE);
    let footer = Footer {
        metaindex: t.metaindex,
        index,
        padding_clean: true,
    };
    out.extend_from_slice(&footer.encode());
    let (s, got) = scan(&out);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.blocks.intact, t.data.len() as u64);
    assert_eq!(s.damage.len(), 1, "{:?}", s.damage);
    let d = &s.damage[0];
    assert_eq!(
        (d.offset, d.class, d.lost_entries),
        (index.offset, Class::Garbled, Some(0))
    );
    let n = t.data.len() - 1;
    assert!(
        d.reason.contains(&format!("does not name {n} data block")),
        "{}",
        d.reason
    );
}

#[test]
fn blocks_an_index_leaves_out_are_still_found() {
    let t = sample(compress::SNAPPY, 100);
    // Blocks 1 and 5 not named; the rest with the index's key ranges.
    let named: Vec<BlockHandle> = (0..t.data.len())
        .filter(|i| ![1, 5].contains(i))
        .map(|i| t.data[i])
        .collect();
    let bytes = with_index(&t, &named);
    let (s, got) = scan(&bytes);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.blocks.intact, t.data.len() as u64);
    assert_eq!(s.damage.len(), 1, "{:?}", s.damage);
    assert!(s.damage[0].reason.contains("does not name 2 data block"));
    // A healthy table (whose filter block is the only bytes its index
    // does not name) reports nothing.
    let (s, got) = scan(&t.bytes);
    assert!(s.damage.is_empty(), "{:?}", s.damage);
    assert_eq!(got.intact, all_entries(&t));
}

#[test]
fn overlapping_repeated_and_looping_handles() {
    let t = sample(compress::NONE, 100);
    let d1 = t.data[1];
    let mut handles = vec![t.data[0], t.data[0], d1];
    // Overlaps block 1, and one the same size shifted by 3.
    handles.push(BlockHandle {
        offset: d1.offset + 3,
        size: d1.size,
    });
    handles.extend_from_slice(&t.data[2..]);
    // Loops back onto the index block itself, and covers the whole file.
    let idx_at = t.index.offset; // with_index writes the new index here
    handles.push(BlockHandle {
        offset: idx_at,
        size: 10,
    });
    handles.extend(std::iter::repeat_n(
        BlockHandle {
            offset: 0,
            size: idx_at - 5,
        },
        1000,
    ));
    let bytes = with_index(&t, &handles);
    let (s, got) = scan(&bytes);
    assert!(s.footer);
    // Every real block once, in file order, nothing from the index.
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.blocks.intact, t.data.len() as u64);
    // The overlapping one, the whole-file one (once) and the loop.
    assert_eq!(s.blocks.garbled, 3);
    assert!(s
        .damage
        .iter()
        .any(|d| d.reason.contains("into the index block")));
}

#[test]
fn metaindex_and_filter_damage_lose_nothing() {
    let t = sample(compress::NONE, 100);
    let f = t.filter.unwrap();
    let mut bad = t.bytes.clone();
    bad[f.offset as usize] ^= 1;
    let (s, got) = scan(&bad);
    assert!(s.footer);
    assert_eq!(got.intact, all_entries(&t));
    assert_eq!(s.damage.len(), 1);
    assert_eq!(s.damage[0].lost_entries, Some(0));
    assert!(s.damage[0].reason.starts_with("filter block"));
    let mut bad = t.bytes.clone();
    bad[t.metaindex.offset as usize + 2] ^= 1;
    let (s, _) = scan(&bad);
    assert!(s.damage[0].reason.starts_with("metaindex block"));
}

#[test]
fn footerless_damage_in_the_middle_and_a_tear() {
    let t = sample(compress::SNAPPY, 400);
    let cut = t.data[20].offset as usize + 30;
    let mut bad = t.bytes[..cut].to_vec();
    let h = t.data[6];
    bad[(h.offset + 5) as usize] ^= 0x04;
    let (s, got) = scan(&bad);
    assert!(!s.footer);
    let skip: Vec<usize> = std::iter::once(6).chain(20..t.data.len()).collect();
    assert_eq!(got.intact, entries_except(&t, &skip));
    assert_eq!(s.blocks.garbled, 1);
    assert_eq!(s.blocks.torn, 1);
    assert_eq!(s.damage.len(), 2);
    let (g, tr) = (&s.damage[0], &s.damage[1]);
    assert_eq!(
        (g.offset, g.end(), g.class),
        (h.offset, h.end().unwrap(), Class::Garbled)
    );
    // Bounded by the neighbours' keys, inclusively.
    let r = g.key_range.clone().unwrap();
    assert_eq!(r.first.as_ref(), Some(&t.entries[5].last().unwrap().0));
    assert!(!r.first_exclusive);
    assert_eq!(r.last.as_ref(), Some(&t.entries[7][0].0));
    assert_eq!(
        (tr.offset, tr.end(), tr.class),
        (t.data[20].offset, cut as u64, Class::Torn)
    );
}

#[test]
fn a_lone_surviving_index_is_never_exported() {
    // Every data block and the footer gone; filter, metaindex and index
    // intact. Unshortened separators carry real sequence numbers, so only
    // the layout tells the index from data.
    let mut w = TableWriter::new(compress::NONE);
    for i in 0..200u32 {
        w.add(b"samekey", 1000 - u64::from(i), Kind::Put, &[b'v'; 20]);
    }
    let t = w.finish();
    assert!(t.separators[..t.separators.len() - 1]
        .iter()
        .all(|s| ikey::parse(s).unwrap().seq != MAX_SEQUENCE));
    let mut bad = t.bytes.clone();
    let data_end = t.data.last().unwrap().end().unwrap() as usize;
    bad[..data_end].fill(0);
    let n = bad.len();
    bad[n - 8..].fill(0);
    let (s, got) = scan(&bad);
    assert!(got.intact.is_empty(), "{:?}", &got.intact[..1]);
    assert_eq!(s.blocks.intact, 0);
    // Zeroed data, then (after the intact metadata) the zeroed footer.
    assert_eq!(s.damage.len(), 2, "{:?}", s.damage);
    assert_eq!(
        (s.damage[0].offset, s.damage[0].end()),
        (0, data_end as u64)
    );
    assert_eq!(s.damage[1].class, Class::Torn);
}

#[test]
fn many_small_gaps_stay_linear() {
    // 20000 one-entry blocks, each followed by a junk byte, no footer.
    let mut bytes = Vec::new();
    for i in 0..20_000u32 {
        let mut b = BlockBuilder::new(16);
        b.add(&ikey::encode(&i.to_be_bytes(), 1, Kind::Put), b"v");
        append_raw(&mut bytes, &b.finish(), compress::NONE);
        bytes.push(0xee);
    }
    let t0 = std::time::Instant::now();
    let (s, got) = scan(&bytes);
    assert!(t0.elapsed().as_secs() < 30, "{:?}", t0.elapsed());
    assert_eq!(got.intact.len(), 20_000);
    assert_eq!(s.blocks.intact, 20_000);
    assert_eq!(s.damage.len(), 20_000);
    assert_eq!(s.damage.last().unwrap().class, Class::Torn);
    assert_eq!(s.damage[0].class, Class::Garbled);
    let r = s.damage[0].key_range.clone().unwrap();
    assert_eq!(r.first, Some(0u32.to_be_bytes().to_vec()));
    assert_eq!(r.last, Some(1u32.to_be_bytes().to_vec()));
}

#[test]
fn every_prefix_and_mutation_is_safe_and_never_lies() {
    let t = sample(compress::SNAPPY, 60);
    let truth = all_entries(&t);
    let honest = |got: &Collect| {
        for e in &got.intact {
            assert!(
                truth.contains(e),
                "exported an entry that was never written: {e:?}"
            );
        }
    };
    for cut in 0..=t.bytes.len() {
        let (s, got) = scan(&t.bytes[..cut]);
        honest(&got);
        if cut < t.bytes.len() {
            assert!(!s.damage.is_empty(), "cut at {cut} reported no damage");
        }
    }
    for i in (0..t.bytes.len()).step_by(3) {
        let mut b = t.bytes.clone();
        b[i] ^= 0x5a;
        let (_, got) = scan(&b);
        honest(&got);
    }
    for seed in 1..20u64 {
        let bytes = noise(3000 + seed as usize * 100, seed);
        let (s, got) = scan(&bytes);
        assert!(got.intact.is_empty());
        assert_eq!(s.damage.len(), 1);
    }
}

/// The layout's units, as (offset, length, role, damaged).
fn shape(l: &[TableUnit]) -> Vec<(u64, u64, UnitRole, bool)> {
    l.iter()
        .map(|u| (u.offset, u.length, u.role, u.damage.is_some()))
        .collect()
}

fn layout(bytes: &[u8]) -> Vec<TableUnit> {
    let mut c = Collect::default();
    let (s, l) = scan_table_layout(bytes, &mut c, &TableOptions::default());
    // Asking for the layout changes nothing the scan finds.
    assert_eq!(s, scan(bytes).0);
    l
}

#[test]
fn the_layout_is_every_unit_back_to_back() {
    let t = sample(compress::SNAPPY, 300);
    let l = layout(&t.bytes);
    let mut want: Vec<(u64, u64, UnitRole, bool)> = t
        .data
        .iter()
        .map(|h| (h.offset, h.size + 5, UnitRole::Data, false))
        .collect();
    if let Some(f) = t.filter {
        want.push((f.offset, f.size + 5, UnitRole::Filter, false));
    }
    want.push((
        t.metaindex.offset,
        t.metaindex.size + 5,
        UnitRole::Metaindex,
        false,
    ));
    want.push((t.index.offset, t.index.size + 5, UnitRole::Index, false));
    let footer_at = (t.bytes.len() - FOOTER_SIZE) as u64;
    want.push((footer_at, FOOTER_SIZE as u64, UnitRole::Footer, false));
    assert_eq!(shape(&l), want);
    for (i, u) in l.iter().take(t.data.len()).enumerate() {
        let e = &t.entries[i];
        assert_eq!(u.entries, Some(e.len() as u64));
        assert_eq!(
            u.compression,
            Some(t.bytes[(t.data[i].offset + t.data[i].size) as usize])
        );
        let first = u.first_key.as_deref().and_then(ikey::parse).unwrap();
        assert_eq!((first.user_key, first.seq), (&e[0].0[..], e[0].1));
        let last = u.last_key.as_deref().and_then(ikey::parse).unwrap();
        assert_eq!(last.user_key, &e[e.len() - 1].0[..]);
        assert!(!u.discovered);
    }
    let index = &l[l.len() - 2];
    assert_eq!(index.entries, Some(t.data.len() as u64));
    assert_eq!(index.first_key.as_ref(), t.separators.first());
    assert_eq!(index.last_key.as_ref(), t.separators.last());
    let meta = &l[l.len() - 3];
    assert_eq!(meta.entries, Some(meta.names.len() as u64));
    assert_eq!(meta.names.len(), usize::from(t.filter.is_some()));
    let f = l[l.len() - 1].footer.unwrap();
    assert_eq!((f.index, f.metaindex), (t.index, t.metaindex));
}

#[test]
fn the_layout_shows_each_verdict_and_the_damaged_range() {
    let t = sample(compress::NONE, 300);
    let h = t.data[4];
    let mut bad = t.bytes.clone();
    bad[h.offset as usize + 3] ^= 0x10;
    let l = layout(&bad);
    let at: Vec<&TableUnit> = l.iter().filter(|u| u.offset == h.offset).collect();
    assert_eq!(
        shape(&at.iter().map(|u| (*u).clone()).collect::<Vec<_>>()),
        [
            (h.offset, h.size + 5, UnitRole::Data, true),
            (h.offset, h.size + 5, UnitRole::Damaged, true),
        ]
    );
    let (class, reason) = at[0].damage.clone().unwrap();
    assert_eq!(class, Class::Garbled);
    assert!(reason.contains("checksum mismatch"), "{reason}");
    assert_eq!(at[1].range.as_ref().unwrap().class, Class::Garbled);
    assert_eq!(l.iter().filter(|u| u.damage.is_some()).count(), 2);

    // Without its footer: every block found by its trailer, in its role.
    let n = t.bytes.len() - FOOTER_SIZE;
    let l = layout(&t.bytes[..n]);
    let roles: Vec<UnitRole> = l.iter().map(|u| u.role).collect();
    let mut want = vec![UnitRole::Data; t.data.len()];
    if t.filter.is_some() {
        want.push(UnitRole::Filter);
    }
    want.extend([UnitRole::Metaindex, UnitRole::Index, UnitRole::Damaged]);
    assert_eq!(roles, want);
    assert!(l[..l.len() - 1]
        .iter()
        .all(|u| u.discovered && u.damage.is_none()));
    assert_eq!(l[l.len() - 2].entries, Some(t.data.len() as u64));
}

#[test]
fn the_layout_of_every_prefix_and_mutation_agrees_with_the_scan() {
    let t = sample(compress::SNAPPY, 60);
    let check = |bytes: &[u8]| {
        let mut c = Collect::default();
        let (s, l) = scan_table_layout(bytes, &mut c, &TableOptions::default());
        assert_eq!(s, scan(bytes).0);
        for w in l.windows(2) {
            assert!(w[0].offset <= w[1].offset, "{l:?}");
        }
        for u in &l {
            assert!(u.offset + u.length <= bytes.len() as u64, "{u:?}");
        }
        let ranges: Vec<Damage> = l.iter().filter_map(|u| u.range.clone()).collect();
        assert_eq!(ranges, s.damage);
        // Every intact data block the scan counted, with its entries.
        let intact: Vec<&TableUnit> = l
            .iter()
            .filter(|u| u.role == UnitRole::Data && u.damage.is_none() && u.entries.is_some())
            .collect();
        assert_eq!(intact.len() as u64, s.blocks.intact);
        assert_eq!(
            intact.iter().map(|u| u.entries.unwrap()).sum::<u64>(),
            s.entries
        );
        let damaged = l
            .iter()
            .filter(|u| u.role == UnitRole::Data && u.damage.is_some())
            .count() as u64;
        assert!(damaged <= s.blocks.damaged());
    };
    for cut in (0..=t.bytes.len()).step_by(7) {
        check(&t.bytes[..cut]);
    }
    for i in (0..t.bytes.len()).step_by(5) {
        let mut b = t.bytes.clone();
        b[i] ^= 0x5a;
        check(&b);
    }
}
