//! A LevelDB table (`.ldb`) writer, following `table/table_builder.cc` and
//! `table/block_builder.cc` closely enough that LevelDB 1.22 opens the result.
//!
//! ```text
//! data block*        entries sorted by internal key
//! metaindex block    empty: no filter is written
//! index block        one entry per data block: separator key → BlockHandle
//! footer (48 bytes)  metaindex handle, index handle, zero padding to 40,
//!                    fixed64 magic 0xdb4775248b80fb57
//! ```
//! Every block is followed by a 5-byte trailer: compression type (0 none,
//! 1 snappy) and fixed32 masked CRC-32C of the stored block bytes ++ type.
//! A BlockHandle is varint64 offset, varint64 size (trailer excluded).
//!
//! Inside a block each entry is varint32 shared-prefix length, varint32
//! unshared length, varint32 value length, the unshared key bytes, the value;
//! every `restart_interval` entries the prefix is reset to empty and the
//! entry's offset recorded. The block ends with the fixed32 restart offsets
//! and their fixed32 count.

use crate::format::coding::{put_fixed32, put_fixed64, put_varint32, put_varint64};
use crate::format::{crc, ikey};
use std::cmp::Ordering;
use std::fmt;

pub const FOOTER_SIZE: usize = 48;
pub const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
pub const BLOCK_TRAILER_SIZE: usize = 5;
/// The longest a BlockHandle encodes to (two varint64s).
pub const MAX_HANDLE_SIZE: usize = 20;

/// Restart offsets are fixed32, so a block must stay well inside 4 GiB; this
/// cap on the configured size keeps every entry's start offset representable.
const MAX_BLOCK_SIZE: usize = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Snappy,
}

impl Compression {
    fn type_byte(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Snappy => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// Target uncompressed size of a data block; capped at 1 GiB.
    pub block_size: usize,
    /// Entries between restart points in data blocks; 0 is treated as 1.
    pub restart_interval: usize,
    pub compression: Compression,
}

impl Default for TableOptions {
    /// LevelDB's defaults, snappy included.
    fn default() -> Self {
        TableOptions {
            block_size: 4096,
            restart_interval: 16,
            compression: Compression::Snappy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// The key does not sort strictly after the previous one.
    OutOfOrder { index: u64 },
    /// The key is not a valid internal key (under 8 bytes or unknown type),
    /// which LevelDB would report as corruption when reading it.
    MalformedKey { index: u64 },
    /// A key or value longer than a varint32 length can describe.
    TooLarge { index: u64 },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::OutOfOrder { index } => write!(
                f,
                "table entry {index} does not sort after the previous entry"
            ),
            TableError::MalformedKey { index } => {
                write!(f, "table entry {index} is not a valid internal key")
            }
            TableError::TooLarge { index } => {
                write!(f, "table entry {index} has a key or value of 4 GiB or more")
            }
        }
    }
}

impl std::error::Error for TableError {}

/// Where a block lives in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.offset);
        put_varint64(out, self.size);
    }
}

/// One block under construction.
#[derive(Debug, Clone)]
struct BlockBuilder {
    restart_interval: usize,
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            restart_interval: restart_interval.max(1),
            buf: Vec::new(),
            restarts: vec![0],
            counter: 0,
            last_key: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// What `finish` would return's length; LevelDB flushes on this figure.
    fn size_estimate(&self) -> usize {
        self.buf.len() + self.restarts.len() * 4 + 4
    }

    /// Callers guarantee key and value lengths fit in u32, and that the block
    /// was flushed before reaching `MAX_BLOCK_SIZE`, so offsets fit too.
    fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.restart_interval {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let unshared = &key[shared..];
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, unshared.len() as u32);
        put_varint32(&mut self.buf, value.len() as u32);
        self.buf.extend_from_slice(unshared);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(unshared);
        self.counter += 1;
    }

    /// The finished block bytes; the builder is reset for reuse.
    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for &r in &self.restarts {
            put_fixed32(&mut out, r);
        }
        put_fixed32(&mut out, self.restarts.len() as u32);
        self.restarts = vec![0];
        self.counter = 0;
        self.last_key.clear();
        out
    }
}

pub struct TableBuilder {
    options: TableOptions,
    out: Vec<u8>,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    /// Handle of the last flushed data block, whose index entry waits for the
    /// next key so that a shorter separator can be chosen.
    pending_handle: Option<BlockHandle>,
    num_entries: u64,
    smallest: Option<Vec<u8>>,
    last_key: Vec<u8>,
}

impl TableBuilder {
    pub fn new(options: TableOptions) -> Self {
        let options = TableOptions {
            block_size: options.block_size.min(MAX_BLOCK_SIZE),
            restart_interval: options.restart_interval.max(1),
            ..options
        };
        TableBuilder {
            options,
            out: Vec::new(),
            data_block: BlockBuilder::new(options.restart_interval),
            // LevelDB restarts every index entry so that lookups can binary
            // search the index without decoding prefixes.
            index_block: BlockBuilder::new(1),
            pending_handle: None,
            num_entries: 0,
            smallest: None,
            last_key: Vec::new(),
        }
    }

    /// Add an entry. Keys must be well-formed internal keys in strictly
    /// increasing [`ikey::compare`] order; a refused entry leaves the table
    /// unchanged.
    pub fn add(&mut self, internal_key: &[u8], value: &[u8]) -> Result<(), TableError> {
        let index = self.num_entries;
        if ikey::parse(internal_key).is_none() {
            return Err(TableError::MalformedKey { index });
        }
        if u32::try_from(internal_key.len()).is_err() || u32::try_from(value.len()).is_err() {
            return Err(TableError::TooLarge { index });
        }
        if self.num_entries > 0 && ikey::compare(&self.last_key, internal_key) != Ordering::Less {
            return Err(TableError::OutOfOrder { index });
        }

        if let Some(handle) = self.pending_handle.take() {
            let sep = shortest_separator(&self.last_key, internal_key);
            self.add_index_entry(&sep, handle);
        }
        if self.smallest.is_none() {
            self.smallest = Some(internal_key.to_vec());
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(internal_key);
        self.num_entries += 1;
        self.data_block.add(internal_key, value);
        if self.data_block.size_estimate() >= self.options.block_size {
            self.flush_data_block();
        }
        Ok(())
    }

    fn add_index_entry(&mut self, key: &[u8], handle: BlockHandle) {
        let mut v = Vec::with_capacity(MAX_HANDLE_SIZE);
        handle.encode_to(&mut v);
        self.index_block.add(key, &v);
    }

    fn flush_data_block(&mut self) {
        if self.data_block.is_empty() {
            return;
        }
        let raw = self.data_block.finish();
        let handle = self.write_block(&raw);
        self.pending_handle = Some(handle);
    }

    fn write_block(&mut self, raw: &[u8]) -> BlockHandle {
        let compressed = match self.options.compression {
            Compression::None => None,
            Compression::Snappy => snap::raw::Encoder::new()
                .compress_vec(raw)
                .ok()
                // As LevelDB: keep the compressed form only if it saves at
                // least 12.5%, since decompression costs on every read.
                .filter(|c| c.len() < raw.len() - raw.len() / 8),
        };
        let (contents, kind) = match &compressed {
            Some(c) => (c.as_slice(), Compression::Snappy),
            None => (raw, Compression::None),
        };
        let handle = BlockHandle {
            offset: self.out.len() as u64,
            size: contents.len() as u64,
        };
        let type_byte = kind.type_byte();
        self.out.extend_from_slice(contents);
        self.out.push(type_byte);
        let sum = crc::mask(crc::extend(crc::value(contents), &[type_byte]));
        put_fixed32(&mut self.out, sum);
        handle
    }

    /// Entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.num_entries
    }

    /// The first internal key added, for the MANIFEST's new-file record.
    pub fn smallest_key(&self) -> Option<&[u8]> {
        self.smallest.as_deref()
    }

    /// The last internal key added.
    pub fn largest_key(&self) -> Option<&[u8]> {
        if self.num_entries == 0 {
            None
        } else {
            Some(&self.last_key)
        }
    }

    /// Bytes written so far plus the open data block's uncompressed size: a
    /// rough guide for deciding when to start a new table.
    pub fn approx_size(&self) -> u64 {
        let open = if self.data_block.is_empty() {
            0
        } else {
            self.data_block.size_estimate()
        };
        (self.out.len() as u64).saturating_add(open as u64)
    }

    /// Flush the last data block and write the metaindex, index and footer.
    /// Read `num_entries`, `smallest_key` and `largest_key` before calling.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush_data_block();

        let mut meta = BlockBuilder::new(self.options.restart_interval);
        let metaindex = self.write_block(&meta.finish());

        if let Some(handle) = self.pending_handle.take() {
            let succ = short_successor(&self.last_key);
            self.add_index_entry(&succ, handle);
        }
        let raw_index = self.index_block.finish();
        let index = self.write_block(&raw_index);

        let mut footer = Vec::with_capacity(FOOTER_SIZE);
        metaindex.encode_to(&mut footer);
        index.encode_to(&mut footer);
        footer.resize(2 * MAX_HANDLE_SIZE, 0);
        put_fixed64(&mut footer, TABLE_MAGIC);
        self.out.extend_from_slice(&footer);
        self.out
    }
}

/// The tag LevelDB appends to a shortened user key: the largest sequence with
/// the seek type (put), which sorts before every real entry of that user key.
fn max_tag() -> u64 {
    ikey::pack_tag(ikey::MAX_SEQUENCE, crate::format::batch::Kind::Put)
}

/// LevelDB's `InternalKeyComparator::FindShortestSeparator` over the bytewise
/// comparator: a short key in `[start, limit)`, falling back to `start`.
/// Both are valid internal keys with `start < limit`.
fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let us = ikey::user_key(start);
    let ul = ikey::user_key(limit);
    let diff = us.iter().zip(ul).take_while(|(a, b)| a == b).count();
    if let (Some(&s), Some(&l)) = (us.get(diff), ul.get(diff)) {
        if s < 0xff && s + 1 < l {
            let mut tmp = us[..=diff].to_vec();
            if let Some(last) = tmp.last_mut() {
                *last = s + 1;
            }
            // The user key grew by one at `diff` and lost its tail, so it is
            // strictly between the two user keys; only keep it if shorter.
            if tmp.len() < us.len() {
                put_fixed64(&mut tmp, max_tag());
                return tmp;
            }
        }
    }
    start.to_vec()
}

/// LevelDB's `FindShortSuccessor`: a short key `>= key`, for the last block.
fn short_successor(key: &[u8]) -> Vec<u8> {
    let uk = ikey::user_key(key);
    if let Some(i) = uk.iter().position(|&b| b != 0xff) {
        let mut tmp = uk[..=i].to_vec();
        if let Some(last) = tmp.last_mut() {
            *last += 1;
        }
        if tmp.len() < uk.len() {
            put_fixed64(&mut tmp, max_tag());
            return tmp;
        }
    }
    key.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch::Kind;
    use crate::format::coding::Cursor;

    /// A deliberately independent, minimal table reader: footer → index →
    /// data blocks, checking every trailer CRC and decoding every entry.
    struct Parsed {
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        /// (separator key, handle, compression type) per data block.
        index: Vec<(Vec<u8>, BlockHandle, u8)>,
        metaindex_entries: usize,
    }

    fn read_block(file: &[u8], h: BlockHandle) -> (Vec<u8>, u8) {
        let start = h.offset as usize;
        let end = start + h.size as usize;
        let contents = &file[start..end];
        let kind = file[end];
        let stored = u32::from_le_bytes(file[end + 1..end + 5].try_into().unwrap());
        let mut typed = contents.to_vec();
        typed.push(kind);
        assert_eq!(crc::unmask(stored), crc::value(&typed), "block CRC");
        let raw = match kind {
            0 => contents.to_vec(),
            1 => snap::raw::Decoder::new().decompress_vec(contents).unwrap(),
            k => panic!("unknown compression {k}"),
        };
        (raw, kind)
    }

    fn decode_block(raw: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let n = u32::from_le_bytes(raw[raw.len() - 4..].try_into().unwrap()) as usize;
        assert!(n >= 1, "a block always has a restart");
        let restarts_at = raw.len() - 4 - 4 * n;
        let restarts: Vec<usize> = (0..n)
            .map(|i| {
                let p = restarts_at + 4 * i;
                u32::from_le_bytes(raw[p..p + 4].try_into().unwrap()) as usize
            })
            .collect();
        let mut c = Cursor::new(&raw[..restarts_at]);
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut key = Vec::new();
        while !c.is_empty() {
            let at = c.position();
            let shared = c.varint32().unwrap() as usize;
            let unshared = c.varint32().unwrap() as usize;
            let vlen = c.varint32().unwrap() as usize;
            if restarts.contains(&at) {
                assert_eq!(shared, 0, "restart entry must not share a prefix");
            }
            key.truncate(shared);
            key.extend_from_slice(c.bytes(unshared).unwrap());
            out.push((key.clone(), c.bytes(vlen).unwrap().to_vec()));
        }
        // Every restart offset points at an entry start, in order.
        assert_eq!(restarts[0], 0);
        assert!(restarts.windows(2).all(|w| w[0] < w[1]));
        out
    }

    fn handle(bytes: &[u8]) -> BlockHandle {
        let mut c = Cursor::new(bytes);
        let h = BlockHandle {
            offset: c.varint64().unwrap(),
            size: c.varint64().unwrap(),
        };
        assert!(c.is_empty());
        h
    }

    fn parse_table(file: &[u8]) -> Parsed {
        assert!(file.len() >= FOOTER_SIZE);
        let footer = &file[file.len() - FOOTER_SIZE..];
        assert_eq!(&footer[40..], &TABLE_MAGIC.to_le_bytes());
        let mut c = Cursor::new(&footer[..40]);
        let meta = BlockHandle {
            offset: c.varint64().unwrap(),
            size: c.varint64().unwrap(),
        };
        let idx = BlockHandle {
            offset: c.varint64().unwrap(),
            size: c.varint64().unwrap(),
        };
        assert!(c.rest().iter().all(|&b| b == 0), "footer padding");
        assert_eq!(
            idx.offset + idx.size + BLOCK_TRAILER_SIZE as u64,
            (file.len() - FOOTER_SIZE) as u64
        );

        let (meta_raw, _) = read_block(file, meta);
        let metaindex_entries = decode_block(&meta_raw).len();
        let (index_raw, _) = read_block(file, idx);
        let mut index = Vec::new();
        let mut entries = Vec::new();
        let mut expect_offset = 0u64;
        for (sep, hv) in decode_block(&index_raw) {
            let h = handle(&hv);
            assert_eq!(h.offset, expect_offset, "data blocks are contiguous");
            expect_offset = h.offset + h.size + BLOCK_TRAILER_SIZE as u64;
            let (raw, kind) = read_block(file, h);
            let block = decode_block(&raw);
            assert!(!block.is_empty());
            index.push((sep, h, kind));
            entries.push(block);
        }
        assert_eq!(expect_offset, meta.offset, "metaindex follows data");
        // Separators bound their block from above and the next from below.
        for (i, (sep, _, _)) in index.iter().enumerate() {
            let last = &entries[i].last().unwrap().0;
            assert_ne!(ikey::compare(sep, last), Ordering::Less);
            if let Some(next) = entries.get(i + 1) {
                assert_eq!(ikey::compare(sep, &next[0].0), Ordering::Less);
            }
        }
        Parsed {
            entries: entries.into_iter().flatten().collect(),
            index,
            metaindex_entries,
        }
    }

    fn k(user: &[u8], seq: u64) -> Vec<u8> {
        ikey::encode(user, seq, Kind::Put)
    }

    fn build(opts: TableOptions, entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut b = TableBuilder::new(opts);
        for (key, v) in entries {
            b.add(key, v).unwrap();
        }
        assert_eq!(b.num_entries(), entries.len() as u64);
        assert_eq!(b.smallest_key(), entries.first().map(|e| e.0.as_slice()));
        assert_eq!(b.largest_key(), entries.last().map(|e| e.0.as_slice()));
        b.finish()
    }

    fn opts(compression: Compression) -> TableOptions {
        TableOptions {
            compression,
            ..TableOptions::default()
        }
    }

    #[test]
    fn empty_table() {
        let file = build(TableOptions::default(), &[]);
        let p = parse_table(&file);
        assert!(p.entries.is_empty());
        assert!(p.index.is_empty());
        assert_eq!(p.metaindex_entries, 0);
        // Empty metaindex and index blocks: 8 bytes each plus trailers.
        assert_eq!(file.len(), 2 * (8 + BLOCK_TRAILER_SIZE) + FOOTER_SIZE);
        assert_eq!(&file[..8], &[0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn small_table_exact_block_bytes() {
        let entries = vec![
            (k(b"apple", 3), b"red".to_vec()),
            (k(b"apricot", 2), b"".to_vec()),
        ];
        let file = build(opts(Compression::None), &entries);
        let mut want = Vec::new();
        want.extend_from_slice(&[0, 13, 3]);
        want.extend_from_slice(&entries[0].0);
        want.extend_from_slice(b"red");
        // "ap" shared with the previous key.
        want.extend_from_slice(&[2, 13, 0]);
        want.extend_from_slice(&entries[1].0[2..]);
        want.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&file[..want.len()], &want[..]);
        assert_eq!(file[want.len()], 0);
        let p = parse_table(&file);
        assert_eq!(p.entries, entries);
        assert_eq!(p.index.len(), 1);
        // The last block's index key is the short successor of "apricot".
        assert_eq!(ikey::user_key(&p.index[0].0), b"b");
    }

    fn many(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let user = format!("key{:08}", i * 3);
                let value = format!("value-{i}-").repeat(i % 17);
                (k(user.as_bytes(), (n - i) as u64), value.into_bytes())
            })
            .collect()
    }

    #[test]
    fn many_entries_many_blocks_both_compressions() {
        let entries = many(5000);
        for c in [Compression::None, Compression::Snappy] {
            let file = build(opts(c), &entries);
            let p = parse_table(&file);
            assert_eq!(p.entries, entries);
            assert!(p.index.len() > 50, "{} blocks", p.index.len());
            let kinds: Vec<u8> = p.index.iter().map(|e| e.2).collect();
            match c {
                Compression::None => assert!(kinds.iter().all(|&t| t == 0)),
                // Repetitive values compress far beyond 12.5%.
                Compression::Snappy => assert!(kinds.iter().all(|&t| t == 1)),
            }
            // Every block but the last reached the target size.
            for (_, h, _) in &p.index[..p.index.len() - 1] {
                if c == Compression::None {
                    assert!(h.size >= 4096);
                }
            }
        }
    }

    #[test]
    fn incompressible_blocks_stored_raw_under_snappy() {
        let mut s = 0x1234_5678_9abc_def0u64;
        let entries: Vec<_> = (0..200u32)
            .map(|i| {
                let v: Vec<u8> = (0..300)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        s as u8
                    })
                    .collect();
                (k(&i.to_be_bytes(), 1), v)
            })
            .collect();
        let file = build(opts(Compression::Snappy), &entries);
        let p = parse_table(&file);
        assert_eq!(p.entries, entries);
        assert!(p.index.iter().all(|e| e.2 == 0));
    }

    #[test]
    fn binary_keys_empty_values_and_huge_key() {
        let mut entries = vec![
            (k(&[], 9), vec![]),
            (k(&[0], 8), vec![0xff; 3]),
            (k(&[0, 0xff, 0], 7), vec![]),
            (k(&[0x7f; 10 * 1024], 6), vec![]),
            (k(&[0x7f; 10 * 1024], 5), b"same user key, older".to_vec()),
            (k(&[0x80], 4), vec![0; 9000]),
            (k(&[0xff, 0xff], 3), vec![]),
            (ikey::encode(&[0xff, 0xff], 2, Kind::Delete), vec![]),
            (k(&[0xff; 12 * 1024], 1), vec![1]),
        ];
        entries.sort_by(|a, b| ikey::compare(&a.0, &b.0));
        for c in [Compression::None, Compression::Snappy] {
            for ri in [1, 2, 16] {
                let o = TableOptions {
                    block_size: 4096,
                    restart_interval: ri,
                    compression: c,
                };
                let file = build(o, &entries);
                let p = parse_table(&file);
                assert_eq!(p.entries, entries);
                // The 10 KiB keys overflow a block on their own.
                assert!(p.index.len() >= 4);
            }
        }
    }

    #[test]
    fn restart_points_follow_interval() {
        let entries = many(40);
        let o = TableOptions {
            block_size: 1 << 20,
            restart_interval: 16,
            compression: Compression::None,
        };
        let file = build(o, &entries);
        let p = parse_table(&file);
        assert_eq!(p.index.len(), 1);
        let h = p.index[0].1;
        let end = (h.offset + h.size) as usize;
        let n = u32::from_le_bytes(file[end - 4..end].try_into().unwrap());
        assert_eq!(n, 3); // entries 0, 16, 32
    }

    #[test]
    fn separators_are_short_and_valid() {
        let a = k(b"abcdef", 5);
        let b = k(b"abzz", 9);
        let s = shortest_separator(&a, &b);
        assert_eq!(ikey::user_key(&s), b"abd");
        assert_eq!(ikey::compare(&a, &s), Ordering::Less);
        assert_eq!(ikey::compare(&s, &b), Ordering::Less);
        // Adjacent bytes or a prefix relation: no shortening.
        assert_eq!(
            shortest_separator(&k(b"abc", 1), &k(b"abd", 1)),
            k(b"abc", 1)
        );
        assert_eq!(shortest_separator(&k(b"ab", 1), &k(b"abc", 1)), k(b"ab", 1));
        assert_eq!(shortest_separator(&k(b"x", 5), &k(b"x", 4)), k(b"x", 5));
        assert_eq!(short_successor(&k(&[0xff, 0xff], 1)), k(&[0xff, 0xff], 1));
        assert_eq!(
            ikey::user_key(&short_successor(&k(&[0xff, 3, 9], 1))),
            &[0xff, 4]
        );

        let mut s = 42u64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..5000 {
            let gen = |r: u64| -> Vec<u8> {
                let len = (r % 6) as usize;
                (0..len)
                    .map(|i| [0u8, 1, 2, 0x7f, 0xfe, 0xff][(r >> (8 + 3 * i)) as usize % 6])
                    .collect()
            };
            let (x, y) = (k(&gen(rnd()), rnd() % 4), k(&gen(rnd()), rnd() % 4));
            let (lo, hi) = match ikey::compare(&x, &y) {
                Ordering::Less => (x, y),
                Ordering::Greater => (y, x),
                Ordering::Equal => continue,
            };
            let sep = shortest_separator(&lo, &hi);
            assert_ne!(ikey::compare(&sep, &lo), Ordering::Less);
            assert_eq!(ikey::compare(&sep, &hi), Ordering::Less);
            assert!(sep.len() <= lo.len());
            assert_ne!(ikey::compare(&short_successor(&lo), &lo), Ordering::Less);
        }
    }

    #[test]
    fn out_of_order_and_malformed_keys_are_refused() {
        let mut b = TableBuilder::new(TableOptions::default());
        b.add(&k(b"b", 5), b"1").unwrap();
        assert_eq!(
            b.add(&k(b"a", 9), b"x"),
            Err(TableError::OutOfOrder { index: 1 })
        );
        // Equal keys are not strictly increasing.
        assert_eq!(
            b.add(&k(b"b", 5), b"x"),
            Err(TableError::OutOfOrder { index: 1 })
        );
        // Same user key with a higher sequence sorts earlier.
        assert_eq!(
            b.add(&k(b"b", 6), b"x"),
            Err(TableError::OutOfOrder { index: 1 })
        );
        assert_eq!(
            b.add(b"short", b"x"),
            Err(TableError::MalformedKey { index: 1 })
        );
        let mut bad_type = k(b"c", 1);
        bad_type[1] = 9;
        assert_eq!(
            b.add(&bad_type, b"x"),
            Err(TableError::MalformedKey { index: 1 })
        );
        b.add(&k(b"b", 4), b"2").unwrap();
        b.add(&ikey::encode(b"b", 4, Kind::Delete), b"").unwrap();
        assert_eq!(b.num_entries(), 3);
        let p = parse_table(&b.finish());
        assert_eq!(
            p.entries,
            vec![
                (k(b"b", 5), b"1".to_vec()),
                (k(b"b", 4), b"2".to_vec()),
                (ikey::encode(b"b", 4, Kind::Delete), vec![]),
            ]
        );
    }

    #[test]
    fn approx_size_grows() {
        let mut b = TableBuilder::new(opts(Compression::None));
        assert_eq!(b.approx_size(), 0);
        let mut prev = 0;
        for (key, v) in many(500) {
            b.add(&key, &v).unwrap();
            assert!(b.approx_size() >= prev);
            prev = b.approx_size();
        }
        let file = b.finish();
        assert!(prev <= file.len() as u64);
        assert!(prev * 10 >= file.len() as u64 * 9);
    }
}
