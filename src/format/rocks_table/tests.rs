use super::blocks::{self, IndexFormat};
use super::walk::{walk, FaultKind};
use super::*;

const CAP: usize = 1 << 20;
const FIXTURES: &[&str] = &[
    "fv2-crc32c-none",
    "fv3-xxhash-snappy",
    "fv4-xxhash64-zlib",
    "fv5-xxh3-lz4-hashidx",
    "fv6-crc32c-zstd-partitioned",
    "fv6-xxh3-lz4hc-entity",
    "fv6-nochecksum-none",
    "fv6-crc32c-bz2",
];

fn fixture(name: &str) -> (Vec<u8>, serde_json::Value) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/rocksdb/tables/");
    let sst = std::fs::read(format!("{dir}{name}.sst")).unwrap();
    let json = std::fs::read_to_string(format!("{dir}{name}.json")).unwrap();
    (sst, serde_json::from_str(&json).unwrap())
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn fixtures_walk_to_their_expected_entries() {
    for name in FIXTURES {
        let (sst, exp) = fixture(name);
        let w = walk(&sst, CAP);
        let footer = w.footer.clone().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            u64::from(footer.format_version),
            exp["format_version"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            footer.checksum.name(),
            exp["checksum"]
                .as_str()
                .unwrap()
                .replace("no_checksum", "none"),
            "{name}"
        );
        assert_eq!(footer.index.is_none(), footer.format_version >= 6, "{name}");
        let props = w.properties.clone().unwrap().unwrap();
        assert_eq!(
            props.comparator.as_deref(),
            Some("leveldb.BytewiseComparator")
        );
        assert_eq!(props.column_family_name.as_deref(), Some("default"));
        assert!(w.index_faults.is_empty(), "{name}: {:?}", w.index_faults);
        assert!(w.blocks.len() > 1, "{name}: several data blocks");
        assert_eq!(props.num_data_blocks, Some(w.blocks.len() as u64), "{name}");
        let expected = exp["entries"].as_array().unwrap();
        // RocksDB counts range deletions among the entries.
        let exp_rd = exp["range_deletions"].as_array().unwrap();
        assert_eq!(
            props.num_entries,
            Some((expected.len() + exp_rd.len()) as u64),
            "{name}"
        );
        assert_eq!(
            props.num_range_deletions,
            Some(exp_rd.len() as u64),
            "{name}"
        );
        let got: Vec<_> = w
            .blocks
            .iter()
            .flat_map(|b| {
                assert!(b.fault.is_none(), "{name}: {:?}", b.fault);
                b.entries.iter()
            })
            .collect();
        assert_eq!(got.len(), expected.len(), "{name}");
        for (g, e) in got.iter().zip(expected) {
            assert_eq!(g.user_key, unhex(e["key"].as_str().unwrap()), "{name}");
            assert_eq!(g.seq, e["seq"].as_u64().unwrap(), "{name}");
            assert_eq!(u64::from(g.kind), e["type"].as_u64().unwrap(), "{name}");
            if let Some(v) = e["value"].as_str() {
                assert_eq!(g.value, unhex(v), "{name}");
            }
        }
        let got_rd = w
            .range_deletions
            .clone()
            .map(|r| r.unwrap())
            .unwrap_or_default();
        assert_eq!(got_rd.len(), exp_rd.len(), "{name}");
        for (g, e) in got_rd.iter().zip(exp_rd) {
            assert_eq!(g.begin, unhex(e["begin"].as_str().unwrap()));
            assert_eq!(g.end, unhex(e["end"].as_str().unwrap()));
            assert_eq!(g.seq, e["seq"].as_u64().unwrap());
        }
    }
}

#[test]
fn fixtures_exercise_the_index_encodings() {
    let (sst, _) = fixture("fv6-crc32c-zstd-partitioned");
    let w = walk(&sst, CAP);
    let p = w.properties.unwrap().unwrap();
    assert_eq!(p.index_type, Some(blocks::INDEX_TWO_LEVEL));
    assert_eq!(p.index_value_is_delta_encoded, Some(1));
    let (sst, _) = fixture("fv4-xxhash64-zlib");
    let p = walk(&sst, CAP).properties.unwrap().unwrap();
    assert_eq!(p.index_value_is_delta_encoded, Some(1));
    let (sst, _) = fixture("fv2-crc32c-none");
    let p = walk(&sst, CAP).properties.unwrap().unwrap();
    assert_eq!(p.index_value_is_delta_encoded, Some(0));
    // The hash data block index is present (and stripped) in fv5.
    let (sst, _) = fixture("fv5-xxh3-lz4-hashidx");
    let w = walk(&sst, CAP);
    let f = w.footer.unwrap();
    let r = walk::Reading::of(&f, CAP);
    let b = walk::read_block(&sst, w.blocks[0].handle, r).unwrap();
    assert!(blocks::layout(&b).unwrap().hash_index);
}

#[test]
fn a_flipped_byte_in_a_data_block_is_a_checksum_fault_of_that_block_only() {
    for name in FIXTURES {
        if *name == "fv6-crc32c-bz2" {
            continue;
        }
        let (mut sst, _) = fixture(name);
        let clean = walk(&sst, CAP);
        assert!(clean.blocks.len() > 1, "{name}: {clean:?}");
        let h = clean.blocks[1].handle;
        sst[h.offset as usize + 2] ^= 0x10;
        let w = walk(&sst, CAP);
        let f = w.blocks[1].fault.clone();
        if clean.footer.as_ref().unwrap().checksum == ChecksumType::None {
            // Without checksums the damage shows only if it breaks decoding.
            continue;
        }
        let f = f.unwrap_or_else(|| panic!("{name}: flip not caught"));
        assert_eq!(f.kind, FaultKind::Checksum, "{name}");
        assert_eq!((f.start, f.end), (h.offset, h.offset + h.size + 5));
        for (i, (a, b)) in clean.blocks.iter().zip(&w.blocks).enumerate() {
            if i != 1 {
                assert_eq!(a, b, "{name}: block {i}");
            }
        }
    }
}

#[test]
fn v6_context_checksum_rejects_a_block_read_at_another_offset() {
    let (sst, _) = fixture("fv6-crc32c-zstd-partitioned");
    let w = walk(&sst, CAP);
    let f = w.footer.unwrap();
    assert_ne!(f.base_context_checksum, 0);
    let h = w.blocks[0].handle;
    assert!(verify_block(&sst, h, f.checksum, f.base_context_checksum).is_ok());
    // Same bytes, but as if they sat one byte later in the file.
    let mut moved = vec![0u8];
    moved.extend_from_slice(&sst);
    let h2 = BlockHandle {
        offset: h.offset + 1,
        size: h.size,
    };
    assert!(matches!(
        verify_block(&moved, h2, f.checksum, f.base_context_checksum),
        Err(TrailerError::Mismatch { .. })
    ));
    // And without context the plain checksum does not match either.
    assert!(verify_block(&sst, h, f.checksum, 0).is_err());
}

#[test]
fn footer_checksum_and_fields_are_checked() {
    let (sst, _) = fixture("fv6-xxh3-lz4hc-entity");
    let n = sst.len();
    for i in n - FOOTER_SIZE..n - 12 {
        let mut bad = sst.clone();
        bad[i] ^= 1;
        assert!(
            Footer::decode(&bad).is_err(),
            "flip at footer byte {}",
            i + FOOTER_SIZE - n
        );
    }
    let mut bad = sst.clone();
    bad[n - 12] = 9;
    assert_eq!(
        Footer::decode(&bad),
        Err(FooterError::UnsupportedFormatVersion(9))
    );
    let mut bad = sst.clone();
    bad[n - 1] ^= 1;
    assert!(matches!(
        Footer::decode(&bad),
        Err(FooterError::BadMagic(_))
    ));
}

#[test]
fn legacy_footer_of_a_leveldb_table_decodes() {
    let mut t = Vec::new();
    let meta = BlockHandle {
        offset: 10,
        size: 20,
    };
    let index = BlockHandle {
        offset: 35,
        size: 7,
    };
    meta.encode_to(&mut t);
    index.encode_to(&mut t);
    t.resize(40, 0);
    t.extend_from_slice(&LEGACY_MAGIC.to_le_bytes());
    let f = Footer::decode(&t).unwrap();
    assert!(f.legacy);
    assert_eq!((f.metaindex, f.index), (meta, Some(index)));
    assert_eq!(f.checksum, ChecksumType::Crc32c);
}

#[test]
fn checksum_types_follow_rocksdb() {
    // Known answers from the reference hashes, computed independently of
    // RocksDB's wrapping: CRC-32C of "123456789" is 0xe3069283.
    assert_eq!(
        crc::unmask(ChecksumType::Crc32c.compute(b"123456789")),
        0xe306_9283
    );
    // XXH32("", 0) = 0x02cc5d05; XXH64("", 0) = 0xef46db3751d8e999.
    assert_eq!(ChecksumType::XxHash32.compute(b""), 0x02cc_5d05);
    assert_eq!(ChecksumType::XxHash64.compute(b""), 0x51d8_e999);
    // XXH3 of one byte: hash of nothing (0x2d06800538d394c2) XOR byte*prime.
    assert_eq!(
        ChecksumType::Xxh3.compute(&[2]),
        0x38d3_94c2 ^ 2u32.wrapping_mul(0x6b90_83d9)
    );
    assert_eq!(ChecksumType::Xxh3.compute(&[]), 0);
    assert_eq!(context_modifier(0, 12345), 0);
    assert_eq!(context_modifier(7, (3 << 32) | 5), 7 ^ 8);
}

use super::super::crc;

/// A bzip2 stream as RocksDB writes it (block size 1, i.e. 100 KB).
fn bz2(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(1));
    e.write_all(raw).unwrap();
    e.finish().unwrap()
}

#[test]
fn bzip2_blocks_decode_to_their_declared_size() {
    let raw: Vec<u8> = (0..5000u32)
        .map(|i| (i % 251) as u8 ^ (i / 97) as u8)
        .collect();
    let stream = bz2(&raw);
    // Format version 2: varint32 size, then the stream.
    let mut v2 = Vec::new();
    coding::put_varint32(&mut v2, raw.len() as u32);
    v2.extend_from_slice(&stream);
    assert_eq!(
        &*codec::decompress(codec::BZIP2, &v2, 5, CAP).unwrap(),
        &raw[..]
    );
    // Format version 1: the bare stream, bounded by the cap only.
    assert_eq!(
        &*codec::decompress(codec::BZIP2, &stream, 1, CAP).unwrap(),
        &raw[..]
    );
    assert!(matches!(
        codec::decompress(codec::BZIP2, &stream, 1, 4999),
        Err(codec::CodecError::Codec(CompressError::TooLarge { .. }))
    ));
    // A declared size over the cap is refused before decoding.
    assert!(matches!(
        codec::decompress(codec::BZIP2, &v2, 5, 4999),
        Err(codec::CodecError::TooLarge { declared: 5000, .. })
    ));
    // Declared sizes the stream does not give: fewer and more.
    for n in [4999u32, 5001] {
        let mut z = Vec::new();
        coding::put_varint32(&mut z, n);
        z.extend_from_slice(&stream);
        let e = codec::decompress(codec::BZIP2, &z, 5, CAP).unwrap_err();
        assert!(e.is_damage(), "{n}: {e}");
    }
    // Cut short, or with a byte changed (bzip2 checks a CRC per block and
    // one over the stream): damage, never a shorter block.
    let mut cut = v2.clone();
    cut.truncate(v2.len() - 5);
    let e = codec::decompress(codec::BZIP2, &cut, 5, CAP).unwrap_err();
    assert!(e.is_damage(), "{e}");
    for at in [1, v2.len() / 2, v2.len() - 3] {
        let mut bad = v2.clone();
        bad[at] ^= 0x20;
        let e = codec::decompress(codec::BZIP2, &bad, 5, CAP).unwrap_err();
        assert!(e.is_damage(), "{at}: {e}");
    }
    // Not a bzip2 stream at all, and nothing after the size prefix.
    assert!(codec::decompress(codec::BZIP2, &[5, b'x', b'y'], 5, CAP).is_err());
    assert!(codec::decompress(codec::BZIP2, &[5], 5, CAP).is_err());
    assert!(codec::decompress(codec::BZIP2, &[], 5, CAP).is_err());
}

use super::super::compress::CompressError;

#[test]
fn codecs_check_size_prefix_and_unsupported() {
    assert_eq!(
        codec::decompress(codec::XPRESS, b"x", 6, CAP),
        Err(codec::CodecError::Unsupported { id: codec::XPRESS })
    );
    assert_eq!(
        codec::decompress(0x33, b"x", 6, CAP),
        Err(codec::CodecError::Unknown(0x33))
    );
    // lz4: varint32 size then a raw block.
    let raw = b"hello hello hello hello hello".to_vec();
    let mut z = Vec::new();
    coding::put_varint32(&mut z, raw.len() as u32);
    z.extend_from_slice(&lz4_flex::block::compress(&raw));
    assert_eq!(
        &*codec::decompress(codec::LZ4, &z, 6, CAP).unwrap(),
        &raw[..]
    );
    assert!(matches!(
        codec::decompress(codec::LZ4, &z, 6, 5),
        Err(codec::CodecError::TooLarge { .. })
    ));
    // A declared size larger than the stream gives is a mismatch.
    let mut z2 = Vec::new();
    coding::put_varint32(&mut z2, raw.len() as u32 + 1);
    z2.extend_from_slice(&lz4_flex::block::compress(&raw));
    assert!(codec::decompress(codec::LZ4, &z2, 6, CAP).is_err());
}

use super::super::coding;

#[test]
fn delta_encoded_index_entries_follow_their_predecessor() {
    // Two entries, restart interval 2: the second shares a prefix and
    // stores only zigzag(size delta).
    let mut b = Vec::new();
    b.extend_from_slice(&[0, 2]); // shared 0, non_shared 2
    b.extend_from_slice(b"ka");
    BlockHandle {
        offset: 0,
        size: 100,
    }
    .encode_to(&mut b);
    b.extend_from_slice(&[1, 1]); // shared 1, non_shared 1
    b.extend_from_slice(b"b");
    b.push(5); // zigzag(-3)
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    let (es, err) = blocks::index_entries(
        &b,
        IndexFormat {
            value_delta: true,
            first_key: false,
        },
    );
    assert_eq!(err, None);
    assert_eq!(es.len(), 2);
    assert_eq!(es[1].key, b"kb");
    assert_eq!(
        es[1].handle,
        BlockHandle {
            offset: 105,
            size: 97
        }
    );
}

#[test]
fn hostile_truncations_and_flips_never_panic() {
    for name in FIXTURES {
        let (sst, _) = fixture(name);
        for cut in 0..sst.len() {
            let w = walk(&sst[..cut], CAP);
            // A cut table has no footer where the magic should be, unless
            // the cut happens to leave one; either way nothing panics.
            let _ = w;
        }
        let clean = walk(&sst, CAP);
        let checked = clean.footer.as_ref().unwrap().checksum != ChecksumType::None;
        let clean_blocks: std::collections::HashMap<_, _> = clean
            .blocks
            .iter()
            .map(|b| (b.handle, &b.entries))
            .collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..600 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bad = sst.clone();
            let i = (state % sst.len() as u64) as usize;
            bad[i] ^= 1 << (state >> 61);
            let w = walk(&bad, CAP);
            if !checked {
                continue;
            }
            // With checksums on, a block that still verifies decodes to the
            // clean table's entries: damage never invents entries.
            for b in w.blocks.iter().filter(|b| b.fault.is_none()) {
                assert_eq!(
                    clean_blocks.get(&b.handle),
                    Some(&&b.entries),
                    "{name}: flip at {i}"
                );
            }
        }
    }
}

#[test]
fn discovery_without_footer_finds_the_walks_data_blocks() {
    for name in FIXTURES {
        let (sst, _) = fixture(name);
        let w = walk(&sst, CAP);
        let f = w.footer.clone().unwrap();
        let r = walk::Reading::of(&f, CAP);
        // The footer is gone: only the checksum type (and v6 base) are known.
        let cut = &sst[..f.offset - 3];
        let d = discover::discover(cut, r, 64 << 10);
        if f.checksum == ChecksumType::None {
            assert!(d.data.is_empty());
            continue;
        }
        let dh: Vec<_> = d.data.iter().map(|b| b.handle).collect();
        let wh: Vec<_> = w.blocks.iter().map(|b| b.handle).collect();
        assert_eq!(dh, wh, "{name}: other {:?}", d.other);
        assert_eq!(d.data, w.blocks, "{name}");
        assert!(!d.other.is_empty(), "{name}: meta blocks found too");
        // Only the block the cut went through (the last before the footer)
        // is left over.
        let last = f.metaindex.offset.max(f.index.map_or(0, |h| h.offset));
        assert_eq!(d.gaps, vec![(last, cut.len() as u64)], "{name}");
    }
}

#[test]
fn partitioned_fixture_has_several_partitions() {
    let (sst, _) = fixture("fv6-crc32c-zstd-partitioned");
    let w = walk(&sst, CAP);
    let f = w.footer.clone().unwrap();
    let meta = w.metaindex.clone().unwrap().unwrap();
    let h = meta.iter().find(|(k, _)| k == b"rocksdb.index").unwrap().1;
    let top = walk::read_block(&sst, h, walk::Reading::of(&f, CAP)).unwrap();
    let (parts, err) = blocks::index_entries(
        &top,
        IndexFormat {
            value_delta: true,
            first_key: false,
        },
    );
    assert_eq!(err, None);
    assert!(parts.len() > 1, "{} partitions", parts.len());
    assert!(parts.len() < w.index.len());
}

/// A footerless copy of `name` with the data block `k` (of the walk's)
/// overwritten by `fill`, and the walk of the clean table.
fn footerless_with_block(
    name: &str,
    k: usize,
    fill: impl Fn(usize) -> u8,
) -> (Vec<u8>, walk::TableWalk) {
    let (sst, _) = fixture(name);
    let w = walk(&sst, CAP);
    let f = w.footer.clone().unwrap();
    let mut cut = sst[..f.offset - 3].to_vec();
    let h = w.blocks[k].handle;
    let (a, b) = (
        h.offset as usize,
        (h.offset + h.size) as usize + TRAILER_SIZE,
    );
    for (i, byte) in cut[a..b].iter_mut().enumerate() {
        *byte = fill(i);
    }
    (cut, w)
}

#[test]
fn discovery_resyncs_after_a_garbled_or_zeroed_block_mid_table() {
    for name in [
        "fv5-xxh3-lz4-hashidx",
        "fv3-xxhash-snappy",
        "fv6-crc32c-zstd-partitioned",
    ] {
        type Fill = Box<dyn Fn(usize) -> u8>;
        let fills: [(&str, Fill); 2] = [
            (
                "random",
                Box::new(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(13) as u8),
            ),
            ("zeros", Box::new(|_| 0)),
        ];
        for (what, fill) in fills {
            let (sst, _) = fixture(name);
            let n = walk(&sst, CAP).blocks.len();
            assert!(n >= 3, "{name}: {n} blocks");
            let k = n / 2;
            let (cut, w) = footerless_with_block(name, k, fill);
            let r = walk::Reading::of(w.footer.as_ref().unwrap(), CAP);
            let d = discover::discover(&cut, r, crate::format::table::DEFAULT_WINDOW);
            let mut want = w.blocks.clone();
            let lost = want.remove(k).handle;
            assert_eq!(d.data, want, "{name}/{what}: every other data block found");
            assert_eq!(d.stopped_at, None, "{name}/{what}");
            assert_eq!(
                d.gaps.first(),
                Some(&(lost.offset, lost.offset + lost.size + TRAILER_SIZE as u64)),
                "{name}/{what}: the gap is the block"
            );
        }
    }
}

#[test]
fn discovery_work_is_bounded_in_megabytes_of_garbage() {
    // One real block, then 3 MiB of noise: a search trying every start
    // against a 4 MiB window would hash ~10^13 bytes; the bounded one
    // gives up after 8x the file and says where.
    let (sst, _) = fixture("fv5-xxh3-lz4-hashidx");
    let w = walk(&sst, CAP);
    let first = w.blocks[0].handle;
    let end = (first.offset + first.size) as usize + TRAILER_SIZE;
    let mut file = sst[..end].to_vec();
    let mut x = 0x9e37_79b9_u32;
    file.extend((0..3 << 20).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let r = walk::Reading::of(w.footer.as_ref().unwrap(), CAP);
    let d = discover::discover(&file, r, crate::format::table::DEFAULT_WINDOW);
    assert_eq!(d.data, w.blocks[..1].to_vec());
    let at = d.stopped_at.expect("the search gives up");
    assert!(at > end as u64 && at < file.len() as u64, "{at}");
    assert_eq!(d.gaps, vec![(end as u64, file.len() as u64)]);
}

#[test]
fn a_lost_footers_v6_base_is_solved_from_the_first_block() {
    let mut solved = 0;
    for name in FIXTURES {
        let (sst, _) = fixture(name);
        let w = walk(&sst, CAP);
        let f = w.footer.clone().unwrap();
        let cut = &sst[..f.offset - 3];
        let window = cut.len();
        let got = discover::solve_base_context(cut, f.checksum, window, CAP);
        if f.format_version < 6 || f.checksum == ChecksumType::None || w.blocks.is_empty() {
            // No context (base 0 is never a solution) or nothing to solve
            // from: none claimed.
            assert_eq!(got, None, "{name}");
            continue;
        }
        assert_ne!(f.base_context_checksum, 0, "{name}");
        assert_eq!(got, Some(f.base_context_checksum), "{name}");
        solved += 1;
        // Under another checksum type nothing verifies.
        for other in [
            ChecksumType::Crc32c,
            ChecksumType::Xxh3,
            ChecksumType::XxHash64,
        ] {
            if other != f.checksum {
                assert_eq!(
                    discover::solve_base_context(cut, other, window, CAP),
                    None,
                    "{name}: {other:?}"
                );
            }
        }
        // With the base solved, discovery finds what it finds with the
        // footer's.
        let r = walk::Reading::of(&f, CAP);
        assert_eq!(
            discover::discover(cut, r, 64 << 10),
            discover::discover(
                cut,
                walk::Reading {
                    base_context_checksum: got.unwrap(),
                    ..r
                },
                64 << 10
            ),
            "{name}"
        );
    }
    assert!(solved >= 2, "{solved} format_version 6 fixtures solved");
}

#[test]
fn a_base_needs_the_first_block_and_the_next_to_agree() {
    let (sst, _) = fixture("fv6-crc32c-zstd-partitioned");
    let w = walk(&sst, CAP);
    let f = w.footer.clone().unwrap();
    let first = w.blocks[0].handle;
    let end = (first.offset + first.size) as usize + TRAILER_SIZE;
    // The first block alone: nothing confirms a base.
    assert_eq!(
        discover::solve_base_context(&sst[..end], f.checksum, end, CAP),
        None
    );
    // The next block's trailer corrupted: the base is not confirmed by it.
    let next = w.blocks[1].handle;
    let mut bad = sst[..f.offset - 3].to_vec();
    bad[(next.offset + next.size) as usize + 2] ^= 0x40;
    assert_eq!(
        discover::solve_base_context(&bad, f.checksum, bad.len(), CAP),
        None
    );
    // The first block garbled: no candidate decodes.
    let mut bad = sst[..f.offset - 3].to_vec();
    bad[first.size as usize / 2] ^= 0x01;
    assert_eq!(
        discover::solve_base_context(&bad, f.checksum, bad.len(), CAP),
        None
    );
    // Noise never yields a base (and the search is bounded).
    let mut x = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    for t in [ChecksumType::Crc32c, ChecksumType::Xxh3] {
        assert_eq!(
            discover::solve_base_context(&noise, t, noise.len(), CAP),
            None
        );
    }
}
