use super::crc_algebra::*;
use super::discover::*;
use super::*;
use crate::format::table_writer::sample::*;
use crate::format::{compress, ikey};

#[test]
fn a_block_of_huge_shared_keys_is_checked() {
    // 40,000 entries each sharing all but its tag with a 512 KiB key: a
    // check that copied or compared whole keys would touch ~20 GB (about
    // 8x this test's time here; time itself is the benchmark's business,
    // this checks that the shared-prefix path gets order and keys right).
    let user_key = vec![b'k'; 512 << 10];
    let n = 40_000u64;
    let tag = |seq: u64| ((seq << 8) | 1).to_le_bytes();
    let tails: Vec<[u8; 8]> = (1..n).map(|i| tag(n - i)).collect();
    let tails: Vec<&[u8]> = tails.iter().map(|t| &t[..]).collect();
    let contents = crate::format::block::shared_prefix_block(
        &ikey::encode(&user_key, n, crate::format::batch::Kind::Put),
        user_key.len(),
        &tails,
        b"",
    );
    let s = check_data_block_with(&contents, true).unwrap();
    assert_eq!(s.entries, n);
    assert_eq!(
        s.last_key,
        ikey::encode(&user_key, 1, crate::format::batch::Kind::Put)
    );
    // And order is still enforced when the change lies past the prefix.
    let mut b = crate::format::block::BlockBuilder::new(1 << 30);
    b.add(
        &ikey::encode(&user_key, 5, crate::format::batch::Kind::Put),
        b"",
    );
    b.add(
        &ikey::encode(&user_key, 9, crate::format::batch::Kind::Put),
        b"",
    );
    assert!(matches!(
        check_data_block_with(&b.finish(), true),
        Err(DataBlockError::OutOfOrder { index: 1 })
    ));
}

#[test]
fn crc_helpers_agree_with_the_library() {
    let data: Vec<u8> = (0..300u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut r = !0u32;
    for (i, &b) in data.iter().enumerate() {
        r = step(r, b);
        assert_eq!(!r, crc::value(&data[..=i]));
    }
    // Unstepping walks back to the initial register.
    for &b in data.iter().rev() {
        r = unstep(r, b);
    }
    assert_eq!(r, !0);
    assert_eq!(mulmod(X_INV, 1 << 30), ONE);
    assert_eq!(mulmod(X_INV8, pow(1 << 30, 8)), ONE);
    for v in [0u32, 1, 0xdead_beef, ONE, u32::MAX] {
        assert_eq!(mul_x_inv8(v), mulmod(v, X_INV8));
    }
    for b in [0u8, 1, 0x80, 0xa7, 0xff] {
        for pw in [ONE, X_INV8, 0x1234_5678] {
            assert_eq!(mul_byte(b, mulmod(pw, X24)), mulmod(u32::from(b), pw));
        }
        // A CRC step is (r + b)·x^8.
        assert_eq!(
            step(0xdead_beef, b),
            mulmod(0xdead_beef ^ u32::from(b), pow(1 << 30, 8))
        );
    }
    assert_eq!(X24, pow(1 << 30, 24));
    // The combine identity the resync search relies on.
    let (a, b) = data.split_at(100);
    let x8n = pow(pow(1 << 30, 8), b.len() as u32);
    assert_eq!(
        mulmod(x8n, crc::value(a)) ^ crc::value(b),
        crc::value(&data)
    );
}

#[test]
fn handle_and_footer_roundtrip() {
    let h = BlockHandle {
        offset: 1 << 40,
        size: 300,
    };
    let mut v = Vec::new();
    h.encode_to(&mut v);
    assert_eq!(BlockHandle::decode_exact(&v), Some(h));
    v.push(0);
    assert_eq!(BlockHandle::decode_exact(&v), None);
    assert_eq!(BlockHandle::decode_exact(&[0x80]), None);
    let f = Footer {
        metaindex: BlockHandle { offset: 5, size: 6 },
        index: h,
        padding_clean: true,
    };
    let mut file = vec![9u8; 10];
    file.extend_from_slice(&f.encode());
    assert_eq!(Footer::decode(&file), Ok(f));
    assert!(footer_like(&file));
}

#[test]
fn footer_damage() {
    let f = Footer {
        metaindex: BlockHandle { offset: 5, size: 6 },
        index: BlockHandle { offset: 7, size: 8 },
        padding_clean: true,
    }
    .encode();
    assert_eq!(
        Footer::decode(&f[1..]),
        Err(TableError::TooShort { len: 47 })
    );
    let mut m = f;
    m[47] ^= 1;
    assert!(matches!(
        Footer::decode(&m),
        Err(TableError::BadMagic { .. })
    ));
    assert!(footer_like(&m));
    let mut gone = f;
    gone[40..].fill(0);
    assert!(!footer_like(&gone));
    let mut h = f;
    h[..11].fill(0xff);
    assert!(matches!(
        Footer::decode(&h),
        Err(TableError::BadHandle {
            which: "metaindex",
            ..
        })
    ));
    let mut p = f;
    p[30] = 1;
    assert!(!Footer::decode(&p).unwrap().padding_clean);
}

#[test]
fn read_block_verdicts() {
    let t = sample(compress::SNAPPY, 200);
    let h = t.data[1];
    let b = read_block(&t.bytes, h, compress::DEFAULT_CAP).unwrap();
    assert_eq!(b.compression, compress::SNAPPY);
    assert_eq!(
        check_data_block(&b.data).unwrap().entries,
        t.entries[1].len() as u64
    );

    // Cut inside the trailer: runs past the end.
    let end = (h.offset + h.size) as usize;
    let e = read_block(&t.bytes[..end + 3], h, compress::DEFAULT_CAP).unwrap_err();
    assert!(e.runs_past_end(), "{e}");
    let huge = BlockHandle {
        offset: u64::MAX - 2,
        size: 10,
    };
    assert!(read_block(&t.bytes, huge, 1).unwrap_err().runs_past_end());

    // A flipped byte: all there, checksum mismatch.
    let mut bad = t.bytes.clone();
    bad[h.offset as usize + 3] ^= 0x40;
    let e = read_block(&bad, h, compress::DEFAULT_CAP).unwrap_err();
    assert!(!e.runs_past_end(), "{e}");
    assert!(e.to_string().starts_with("checksum mismatch"), "{e}");

    // A valid checksum over an unknown codec: all there, and says so.
    let mut odd = t.bytes.clone();
    odd[end] = 9;
    let c = crc::extend(crc::value(&odd[h.offset as usize..end]), &[9]);
    odd[end + 1..end + 5].copy_from_slice(&crc::mask(c).to_le_bytes());
    let e = read_block(&odd, h, compress::DEFAULT_CAP).unwrap_err();
    assert!(!e.runs_past_end(), "{e}");
    assert_eq!(e.to_string(), "unknown compression type 9");
}

#[test]
fn data_block_checks() {
    let t = sample(compress::NONE, 60);
    let h = t.data[0];
    let raw = &t.bytes[h.offset as usize..(h.offset + h.size) as usize];
    let s = check_data_block(raw).unwrap();
    let want = &t.entries[0];
    assert_eq!(s.entries, want.len() as u64);
    assert_eq!(s.min_seq, want[0].1);
    assert_eq!(s.max_seq, want.last().unwrap().1);
    assert_eq!(ikey::parse(&s.first_key).unwrap().user_key, &want[0].0[..]);
    assert!(!s.values_are_handles);

    // The index block: separators with handle values.
    let i = t.index;
    let raw = &t.bytes[i.offset as usize..(i.offset + i.size) as usize];
    let s = check_data_block(raw).unwrap();
    assert!(s.values_are_handles);

    // Keys out of order.
    let mut b = crate::format::block::BlockBuilder::new(16);
    b.add(
        &ikey::encode(b"b", 1, crate::format::batch::Kind::Put),
        b"x",
    );
    b.add(
        &ikey::encode(b"a", 1, crate::format::batch::Kind::Put),
        b"y",
    );
    assert_eq!(
        check_data_block(&b.finish()),
        Err(DataBlockError::OutOfOrder { index: 1 })
    );
    // Same internal key twice is not strictly ascending either.
    let mut b = crate::format::block::BlockBuilder::new(16);
    b.add(
        &ikey::encode(b"a", 1, crate::format::batch::Kind::Put),
        b"x",
    );
    b.add(
        &ikey::encode(b"a", 1, crate::format::batch::Kind::Put),
        b"y",
    );
    assert!(check_data_block(&b.finish()).is_err());
    // Not internal keys.
    let mut b = crate::format::block::BlockBuilder::new(16);
    b.add(b"filter.leveldb.BuiltinBloomFilter2", b"\x00\x05");
    let meta = b.finish();
    assert_eq!(
        check_data_block(&meta),
        Err(DataBlockError::NotInternalKey { index: 0 })
    );
    assert_eq!(parse_metaindex(&meta).unwrap().len(), 1);
}

#[test]
fn filter_layout() {
    let t = sample(compress::NONE, 10);
    let f = t.filter.unwrap();
    let raw = &t.bytes[f.offset as usize..(f.offset + f.size) as usize];
    assert!(is_filter_block(raw));
    // An empty LevelDB filter block: array offset 0, base_lg 11.
    assert!(is_filter_block(&[0, 0, 0, 0, 11]));
    assert!(!is_filter_block(&[0, 0, 0, 0]));
    assert!(!is_filter_block(&[9, 0, 0, 0, 11]));
    assert!(!is_filter_block(&[0, 0, 0, 0, 0]));
}

fn kinds(found: &[Found]) -> Vec<FoundKind> {
    found.iter().map(|f| f.kind).collect()
}

#[test]
fn discovery_finds_every_block_of_an_intact_table() {
    for c in [compress::NONE, compress::SNAPPY, compress::ZSTD_OR_ZLIB] {
        let t = sample(c, 300);
        let end = t.bytes.len() - FOOTER_SIZE;
        let found = find_blocks(&t.bytes[..end], 0, DEFAULT_WINDOW);
        let data: Vec<BlockHandle> = found
            .iter()
            .filter(|f| f.kind == FoundKind::Data)
            .map(|f| f.handle)
            .collect();
        assert_eq!(data, t.data, "compression {c}");
        let n = found.len();
        assert_eq!(
            kinds(&found[n - 3..]),
            [FoundKind::Filter, FoundKind::Meta, FoundKind::Index]
        );
        assert_eq!(found[n - 1].handle, t.index);
    }
}

#[test]
fn discovery_resyncs_after_damage() {
    let t = sample(compress::SNAPPY, 300);
    let end = t.bytes.len() - FOOTER_SIZE;
    // Garble block 3 in the middle and zero a run across blocks 7..8.
    let mut bad = t.bytes[..end].to_vec();
    let b3 = t.data[3];
    bad[(b3.offset + b3.size / 2) as usize] ^= 0xff;
    let z0 = (t.data[7].offset + 10) as usize;
    let z1 = (t.data[8].offset + 20) as usize;
    bad[z0..z1].fill(0);
    let found = find_blocks(&bad, 0, DEFAULT_WINDOW);
    let data: Vec<BlockHandle> = found
        .iter()
        .filter(|f| f.kind == FoundKind::Data)
        .map(|f| f.handle)
        .collect();
    let want: Vec<BlockHandle> = t
        .data
        .iter()
        .enumerate()
        .filter(|(i, _)| ![3, 7, 8].contains(i))
        .map(|(_, h)| *h)
        .collect();
    assert_eq!(data, want);
}

#[test]
fn discovery_through_random_garbage_and_large_blocks() {
    // Blocks of ~600 KiB (bigger than the resync window) around a run of
    // noise: the one after the noise is found by walking back from the
    // next boundary.
    let mut w = TableWriter::new(compress::NONE);
    w.block_size = 600 << 10;
    w.filter = false;
    for i in 0..9u32 {
        let v = vec![(i % 250) as u8; 200 << 10];
        w.add(
            format!("k{i}").as_bytes(),
            u64::from(i) + 1,
            crate::format::batch::Kind::Put,
            &v,
        );
    }
    let t = w.finish();
    let mut bytes = t.bytes[..t.bytes.len() - FOOTER_SIZE].to_vec();
    let mut x = 0x1234_5678_9abc_def0u64;
    let noise_at = (t.data[1].offset + 1000) as usize;
    for b in &mut bytes[noise_at..noise_at + 5000] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let found = find_blocks(&bytes, 0, DEFAULT_WINDOW);
    let data: Vec<BlockHandle> = found
        .iter()
        .filter(|f| f.kind == FoundKind::Data)
        .map(|f| f.handle)
        .collect();
    assert_eq!(data, vec![t.data[0], t.data[2]]);
    assert_eq!(found.last().unwrap().kind, FoundKind::Index);
}

#[test]
fn discovery_on_noise_and_prefixes_is_bounded() {
    let noise = crate::vocab::noise::bytes(200_000, 0x9e37_79b9_7f4a_7c15);
    assert!(find_blocks(&noise, 0, DEFAULT_WINDOW).is_empty());
    assert!(find_blocks(&vec![0u8; 100_000], 0, DEFAULT_WINDOW).is_empty());
    let t = sample(compress::SNAPPY, 40);
    for cut in 0..t.bytes.len() {
        let found = find_blocks(&t.bytes[..cut], 0, 1 << 16);
        assert!(found.iter().all(|f| f.end() <= cut));
    }
}

#[test]
fn forged_trailers_cannot_make_discovery_quadratic() {
    // A zstd frame expanding to 8 MiB, then a checksum-valid trailer every
    // 16 bytes for 2 MiB: every candidate from offset 0 decodes the whole
    // frame before failing on the bytes after it.
    let mut bytes = zstd::bulk::compress(&vec![0u8; 8 << 20], 1).unwrap();
    let mut running = crc::value(&bytes);
    while bytes.len() < 2 << 20 {
        running = crc::extend(running, &[0x41; 11]);
        bytes.resize(bytes.len() + 11, 0x41);
        let c = crc::extend(running, &[compress::ZSTD_OR_ZLIB]);
        let trailer = crc::mask(c).to_le_bytes();
        bytes.push(compress::ZSTD_OR_ZLIB);
        bytes.extend_from_slice(&trailer);
        running = crc::extend(c, &trailer);
    }
    let t0 = std::time::Instant::now();
    let found = find_blocks(&bytes, 0, DEFAULT_WINDOW);
    assert!(found.is_empty());
    // Unbounded, that is 131072 candidates × 8 MiB; the decode budget
    // stops after a few times the file size.
    assert!(t0.elapsed().as_secs() < 10, "{:?}", t0.elapsed());
}

#[test]
fn discovery_survives_a_spent_budget() {
    // Tiny blocks each followed by a junk byte: every forward search
    // fails, the budget runs out, and the linear resync still finds all.
    let mut bytes = Vec::new();
    let mut handles = Vec::new();
    for i in 0..400u32 {
        let mut b = crate::format::block::BlockBuilder::new(16);
        b.add(
            &ikey::encode(&i.to_be_bytes(), 1, crate::format::batch::Kind::Put),
            b"v",
        );
        let raw = b.finish();
        handles.push(BlockHandle {
            offset: bytes.len() as u64,
            size: raw.len() as u64,
        });
        bytes.extend_from_slice(&raw);
        bytes.push(0);
        let c = crc::extend(crc::value(&raw), &[0]);
        bytes.extend_from_slice(&crc::mask(c).to_le_bytes());
        bytes.push(0xee);
    }
    let got = |found: Vec<Found>| found.iter().map(|f| f.handle).collect::<Vec<_>>();
    assert_eq!(got(find_blocks(&bytes, 0, DEFAULT_WINDOW)), handles);
    // With no budget at all only the resync search runs.
    let found = discover(
        &bytes,
        0,
        DEFAULT_WINDOW,
        compress::DEFAULT_CAP,
        0,
        true,
        Default::default(),
    );
    assert_eq!(got(found), handles);
    // And it is linear: a megabyte of noise ahead of the blocks.
    let mut x = 7u64;
    let mut noisy: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let shift = noisy.len() as u64;
    noisy.extend_from_slice(&bytes);
    let found = discover(
        &noisy,
        0,
        DEFAULT_WINDOW,
        compress::DEFAULT_CAP,
        0,
        true,
        Default::default(),
    );
    let shifted: Vec<BlockHandle> = handles
        .iter()
        .map(|h| BlockHandle {
            offset: h.offset + shift,
            size: h.size,
        })
        .collect();
    assert_eq!(got(found), shifted);
}
