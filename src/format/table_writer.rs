//! Writing a LevelDB table (`.ldb`), the inverse of [`super::table`]'s
//! reading, on the same [`BlockHandle`] and [`Footer`]. LevelDB 1.22 opens
//! what it writes.
//!
//! ```text
//! data block*        entries in strictly ascending internal-key order,
//!                    cut once a block's size estimate reaches block_size
//! meta block*        raw (never compressed), named in the metaindex
//! metaindex block    name → handle, names ascending (empty by default)
//! index block        one entry per data block: separator → handle,
//!                    restart interval 1
//! footer (48 bytes)  metaindex handle ++ index handle, zero padding to 40,
//!                    magic: fixed64
//! block trailer      compression type: u8 ++ masked CRC-32C of
//!                    (stored bytes ++ type): fixed32
//! ```
//! A separator is LevelDB's shortest key in `[last key of the block, first
//! key of the next)`, and the last block's is the short successor of its
//! last key, both tagged with the largest sequence number when shortened.

use super::batch::Kind;
use super::block::BlockBuilder;
use super::coding::put_fixed64;
use super::order::Comparator;
use super::table::{BlockHandle, Footer, MAX_HANDLE_SIZE, MAX_SEQUENCE};
use super::{compress, crc, ikey};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// Restart offsets are fixed32, so a block must stay well inside 4 GiB; this
/// cap on the configured size keeps every entry's start offset representable.
const MAX_BLOCK_SIZE: usize = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Snappy,
    /// Type 2 as upstream LevelDB writes it.
    Zstd,
    /// Type 2 as the Minecraft Bedrock fork writes it.
    Zlib,
    /// Type 4, Bedrock's "zlib raw".
    RawDeflate,
}

impl Compression {
    pub fn type_byte(self) -> u8 {
        match self {
            Compression::None => compress::NONE,
            Compression::Snappy => compress::SNAPPY,
            Compression::Zstd | Compression::Zlib => compress::ZSTD_OR_ZLIB,
            Compression::RawDeflate => compress::RAW_DEFLATE,
        }
    }

    /// `raw` compressed, or `None` when the codec fails or this is
    /// [`Compression::None`].
    fn compress(self, raw: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write;
        let level = flate2::Compression::default();
        match self {
            Compression::None => None,
            Compression::Snappy => snap::raw::Encoder::new().compress_vec(raw).ok(),
            Compression::Zstd => zstd::bulk::compress(raw, 1).ok(),
            Compression::Zlib => {
                let mut z = flate2::write::ZlibEncoder::new(Vec::new(), level);
                z.write_all(raw).ok()?;
                z.finish().ok()
            }
            Compression::RawDeflate => {
                let mut z = flate2::write::DeflateEncoder::new(Vec::new(), level);
                z.write_all(raw).ok()?;
                z.finish().ok()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Target uncompressed size of a data block; capped at 1 GiB.
    pub block_size: usize,
    /// Entries between restart points in data blocks; 0 is treated as 1.
    pub restart_interval: usize,
    pub compression: Compression,
}

impl Default for BuildOptions {
    /// LevelDB's defaults, snappy included.
    fn default() -> Self {
        BuildOptions {
            block_size: 4096,
            restart_interval: 16,
            compression: Compression::Snappy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The key does not sort strictly after the previous one.
    OutOfOrder { index: u64 },
    /// The key is not a valid internal key (under 8 bytes or unknown type),
    /// which LevelDB would report as corruption when reading it.
    MalformedKey { index: u64 },
    /// A key or value longer than a varint32 length can describe.
    TooLarge { index: u64 },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::OutOfOrder { index } => write!(
                f,
                "table entry {index} does not sort after the previous entry"
            ),
            BuildError::MalformedKey { index } => {
                write!(f, "table entry {index} is not a valid internal key")
            }
            BuildError::TooLarge { index } => {
                write!(f, "table entry {index} has a key or value of 4 GiB or more")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// One data block as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlock {
    pub handle: BlockHandle,
    /// Its index key.
    pub separator: Vec<u8>,
    pub entries: u64,
}

/// Where [`TableBuilder::finish_with_layout`] put every block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub data: Vec<DataBlock>,
    /// Meta blocks by name, ascending.
    pub meta: Vec<(Vec<u8>, BlockHandle)>,
    pub metaindex: BlockHandle,
    pub index: BlockHandle,
}

pub struct TableBuilder {
    options: BuildOptions,
    out: Vec<u8>,
    data_block: BlockBuilder,
    /// Entries in the open data block.
    open_entries: u64,
    /// The last flushed data block, whose index entry waits for the next key
    /// so that a shorter separator can be chosen.
    pending: Option<(BlockHandle, u64)>,
    blocks: Vec<DataBlock>,
    meta: BTreeMap<Vec<u8>, Vec<u8>>,
    num_entries: u64,
    smallest: Option<Vec<u8>>,
    last_key: Vec<u8>,
    /// The store's user-key order. Separators are only shortened under
    /// the bytewise one (LevelDB's shortening is the comparator's own);
    /// under another the index names each block's last key, which is a
    /// valid separator under any order.
    comparator: Comparator,
}

/// [`ikey::compare`] under the user-key order `c`.
pub fn compare_internal(c: Comparator, a: &[u8], b: &[u8]) -> Ordering {
    match c {
        Comparator::Bytewise => ikey::compare(a, b),
        _ => match (ikey::parse(a), ikey::parse(b)) {
            (Some(x), Some(y)) => c
                .compare(x.user_key, y.user_key)
                .then(ikey::pack_tag(y.seq, y.kind).cmp(&ikey::pack_tag(x.seq, x.kind))),
            _ => ikey::compare(a, b),
        },
    }
}

impl TableBuilder {
    /// A builder for a store whose user keys follow `c`: keys are checked
    /// in that order and separators are not shortened unless bytewise.
    pub fn with_comparator(mut self, c: Comparator) -> Self {
        self.comparator = c;
        self
    }

    pub fn new(options: BuildOptions) -> Self {
        let options = BuildOptions {
            block_size: options.block_size.min(MAX_BLOCK_SIZE),
            restart_interval: options.restart_interval.max(1),
            ..options
        };
        TableBuilder {
            options,
            out: Vec::new(),
            data_block: BlockBuilder::new(options.restart_interval),
            open_entries: 0,
            pending: None,
            blocks: Vec::new(),
            meta: BTreeMap::new(),
            num_entries: 0,
            smallest: None,
            last_key: Vec::new(),
            comparator: Comparator::Bytewise,
        }
    }

    /// Add an entry. Keys must be well-formed internal keys in strictly
    /// increasing [`ikey::compare`] order; a refused entry leaves the table
    /// unchanged.
    pub fn add(&mut self, internal_key: &[u8], value: &[u8]) -> Result<(), BuildError> {
        let index = self.num_entries;
        if ikey::parse(internal_key).is_none() {
            return Err(BuildError::MalformedKey { index });
        }
        if u32::try_from(internal_key.len()).is_err() || u32::try_from(value.len()).is_err() {
            return Err(BuildError::TooLarge { index });
        }
        if self.num_entries > 0
            && compare_internal(self.comparator, &self.last_key, internal_key) != Ordering::Less
        {
            return Err(BuildError::OutOfOrder { index });
        }
        // The block is cut at MAX_BLOCK_SIZE and the lengths fit a u32, so
        // only a single entry near 4 GiB is refused here.
        self.data_block
            .try_add(internal_key, value)
            .map_err(|_| BuildError::TooLarge { index })?;
        if let Some((handle, entries)) = self.pending.take() {
            let separator = match self.comparator {
                Comparator::Bytewise => shortest_separator(&self.last_key, internal_key),
                _ => self.last_key.clone(),
            };
            self.blocks.push(DataBlock {
                handle,
                separator,
                entries,
            });
        }
        if self.smallest.is_none() {
            self.smallest = Some(internal_key.to_vec());
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(internal_key);
        self.num_entries = self.num_entries.saturating_add(1);
        self.open_entries = self.open_entries.saturating_add(1);
        if self.data_block.size_estimate() >= self.options.block_size {
            self.flush_data_block();
        }
        Ok(())
    }

    /// Write `contents` as the meta block `name` (raw, the way LevelDB writes
    /// its filter block) before the metaindex; a second block of the same
    /// name replaces the first.
    pub fn add_meta_block(&mut self, name: &[u8], contents: &[u8]) {
        self.meta.insert(name.to_vec(), contents.to_vec());
    }

    fn flush_data_block(&mut self) {
        if self.data_block.is_empty() {
            return;
        }
        let block = std::mem::replace(
            &mut self.data_block,
            BlockBuilder::new(self.options.restart_interval),
        );
        let handle = append_block(&mut self.out, &block.finish(), self.options.compression);
        self.pending = Some((handle, std::mem::take(&mut self.open_entries)));
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
        (self.num_entries > 0).then_some(self.last_key.as_slice())
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

    /// Flush the last data block and write the meta blocks, metaindex, index
    /// and footer. Read `num_entries`, `smallest_key` and `largest_key`
    /// before calling.
    pub fn finish(self) -> Vec<u8> {
        self.finish_with_layout().0
    }

    /// [`TableBuilder::finish`], also saying where every block went.
    pub fn finish_with_layout(mut self) -> (Vec<u8>, Layout) {
        self.flush_data_block();
        if let Some((handle, entries)) = self.pending.take() {
            let separator = match self.comparator {
                Comparator::Bytewise => short_successor(&self.last_key),
                _ => self.last_key.clone(),
            };
            self.blocks.push(DataBlock {
                handle,
                separator,
                entries,
            });
        }
        let mut meta = Vec::with_capacity(self.meta.len());
        for (name, contents) in std::mem::take(&mut self.meta) {
            let h = append_raw(&mut self.out, &contents, compress::NONE);
            meta.push((name, h));
        }
        let mut metaindex = BlockBuilder::new(self.options.restart_interval);
        let mut index = BlockBuilder::new(1);
        let mut handle_buf = Vec::with_capacity(MAX_HANDLE_SIZE);
        // Names and separators were taken under 4 GiB and handles are at most
        // 20 bytes, so neither block refuses an entry.
        for (name, h) in &meta {
            handle_buf.clear();
            h.encode_to(&mut handle_buf);
            let _ = metaindex.try_add(name, &handle_buf);
        }
        for b in &self.blocks {
            handle_buf.clear();
            b.handle.encode_to(&mut handle_buf);
            let _ = index.try_add(&b.separator, &handle_buf);
        }
        let compression = self.options.compression;
        let metaindex = append_block(&mut self.out, &metaindex.finish(), compression);
        let index = append_block(&mut self.out, &index.finish(), compression);
        let footer = Footer {
            metaindex,
            index,
            padding_clean: true,
        };
        self.out.extend_from_slice(&footer.encode());
        let layout = Layout {
            data: self.blocks,
            meta,
            metaindex,
            index,
        };
        (self.out, layout)
    }
}

/// Append `raw` as a block with its trailer, compressed the way LevelDB
/// does: kept raw unless compression saves at least an eighth, since
/// decompression costs on every read.
pub fn append_block(out: &mut Vec<u8>, raw: &[u8], compression: Compression) -> BlockHandle {
    let limit = raw.len().saturating_sub(raw.len() / 8);
    match compression.compress(raw).filter(|c| c.len() < limit) {
        Some(c) => append_raw(out, &c, compression.type_byte()),
        None => append_raw(out, raw, compress::NONE),
    }
}

/// Append `data` verbatim with a valid trailer claiming type `kind`.
pub fn append_raw(out: &mut Vec<u8>, data: &[u8], kind: u8) -> BlockHandle {
    let h = BlockHandle {
        offset: out.len() as u64,
        size: data.len() as u64,
    };
    out.extend_from_slice(data);
    out.push(kind);
    let c = crc::extend(crc::value(data), &[kind]);
    out.extend_from_slice(&crc::mask(c).to_le_bytes());
    h
}

/// The tag LevelDB appends to a shortened user key: the largest sequence with
/// the seek type (put), which sorts before every real entry of that user key.
fn max_tag() -> u64 {
    ikey::pack_tag(MAX_SEQUENCE, Kind::Put)
}

/// LevelDB's `InternalKeyComparator::FindShortestSeparator` over the bytewise
/// comparator: a short key in `[start, limit)`, falling back to `start`.
/// Both are valid internal keys with `start < limit`.
pub fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let us = ikey::user_key(start);
    let ul = ikey::user_key(limit);
    let diff = us.iter().zip(ul).take_while(|(a, b)| a == b).count();
    if let (Some(&s), Some(&l), Some(head)) = (us.get(diff), ul.get(diff), us.get(..diff)) {
        if let Some(next) = s.checked_add(1).filter(|&n| n < l) {
            // The user key grew by one at `diff` and lost its tail, so it is
            // strictly between the two user keys; only kept if shorter.
            if diff < us.len().saturating_sub(1) {
                let mut tmp = head.to_vec();
                tmp.push(next);
                put_fixed64(&mut tmp, max_tag());
                return tmp;
            }
        }
    }
    start.to_vec()
}

/// LevelDB's `FindShortSuccessor`: a short key `>= key`, for the last block.
pub fn short_successor(key: &[u8]) -> Vec<u8> {
    let uk = ikey::user_key(key);
    if let Some(i) = uk.iter().position(|&b| b != 0xff) {
        if let (Some(head), Some(&b)) = (uk.get(..i), uk.get(i)) {
            if i < uk.len().saturating_sub(1) {
                let mut tmp = head.to_vec();
                // `b` is not 0xff, so this does not wrap.
                tmp.push(b.wrapping_add(1));
                put_fixed64(&mut tmp, max_tag());
                return tmp;
            }
        }
    }
    key.to_vec()
}

/// Tables for the crate's own tests, built by the one writer with small
/// blocks and a stand-in filter block, and remembering what went where.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;
    pub(crate) use super::{append_block as append_with, append_raw};

    /// (user key, seq, kind, value)
    pub(crate) type Written = (Vec<u8>, u64, Kind, Vec<u8>);

    /// Test-only codec id: type 2 written as zlib, the way Bedrock does.
    pub(crate) const ZLIB: u8 = 0x82;

    pub(crate) fn codec(compression: u8) -> Compression {
        match compression {
            compress::NONE => Compression::None,
            compress::SNAPPY => Compression::Snappy,
            compress::ZSTD_OR_ZLIB => Compression::Zstd,
            ZLIB => Compression::Zlib,
            compress::RAW_DEFLATE => Compression::RawDeflate,
            other => panic!("no codec {other}"),
        }
    }

    /// [`super::append_block`] by type byte ([`ZLIB`] for zlib).
    pub(crate) fn append_block(out: &mut Vec<u8>, raw: &[u8], compression: u8) -> BlockHandle {
        append_with(out, raw, codec(compression))
    }

    #[derive(Debug, Clone)]
    pub(crate) struct Built {
        pub bytes: Vec<u8>,
        pub data: Vec<BlockHandle>,
        /// Index separators (internal keys), one per data block.
        pub separators: Vec<Vec<u8>>,
        /// Entries per data block: (user key, seq, kind, value).
        pub entries: Vec<Vec<Written>>,
        pub filter: Option<BlockHandle>,
        pub metaindex: BlockHandle,
        pub index: BlockHandle,
    }

    pub(crate) struct TableWriter {
        pub block_size: usize,
        pub restart_interval: usize,
        pub compression: u8,
        pub filter: bool,
        added: Vec<Written>,
    }

    impl TableWriter {
        pub(crate) fn new(compression: u8) -> Self {
            TableWriter {
                block_size: 256,
                restart_interval: 4,
                compression,
                filter: true,
                added: Vec::new(),
            }
        }

        pub(crate) fn add(&mut self, user_key: &[u8], seq: u64, kind: Kind, value: &[u8]) {
            self.added
                .push((user_key.to_vec(), seq, kind, value.to_vec()));
        }

        pub(crate) fn finish(self) -> Built {
            let mut b = TableBuilder::new(BuildOptions {
                block_size: self.block_size,
                restart_interval: self.restart_interval,
                compression: codec(self.compression),
            });
            for (k, seq, kind, v) in &self.added {
                b.add(&ikey::encode(k, *seq, *kind), v).unwrap();
            }
            if self.filter {
                // LevelDB's layout with stand-in filter bits: two filters,
                // their offsets, the array offset, base_lg 11.
                let mut f = vec![0xa5u8; 12];
                f.extend_from_slice(&0u32.to_le_bytes());
                f.extend_from_slice(&6u32.to_le_bytes());
                f.extend_from_slice(&12u32.to_le_bytes());
                f.push(11);
                b.add_meta_block(b"filter.leveldb.BuiltinBloomFilter2", &f);
            }
            let (bytes, layout) = b.finish_with_layout();
            let mut rest = self.added.into_iter();
            let entries = layout
                .data
                .iter()
                .map(|d| rest.by_ref().take(d.entries as usize).collect())
                .collect();
            Built {
                bytes,
                data: layout.data.iter().map(|d| d.handle).collect(),
                separators: layout.data.iter().map(|d| d.separator.clone()).collect(),
                entries,
                filter: layout.meta.first().map(|m| m.1),
                metaindex: layout.metaindex,
                index: layout.index,
            }
        }
    }

    /// `n` puts with keys `key{i:06}` and values of varying size.
    pub(crate) fn sample(compression: u8, n: u32) -> Built {
        let mut w = TableWriter::new(compression);
        for i in 0..n {
            let k = format!("key{:06}", i * 3);
            let v = format!("value {i} ").repeat(1 + (i as usize % 5));
            let kind = if i % 7 == 3 { Kind::Delete } else { Kind::Put };
            let v = if kind == Kind::Delete {
                String::new()
            } else {
                v
            };
            w.add(k.as_bytes(), 1000 + u64::from(i), kind, v.as_bytes());
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::coding::Cursor;
    use crate::format::table::{FOOTER_SIZE, MAGIC, TRAILER_SIZE};

    /// A deliberately independent, minimal table reader: footer → index →
    /// data blocks, checking every trailer CRC and decoding every entry.
    struct Parsed {
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        /// (separator key, handle, compression type) per data block.
        index: Vec<(Vec<u8>, BlockHandle, u8)>,
        metaindex_entries: usize,
    }

    fn read_block(file: &[u8], h: BlockHandle) -> (Vec<u8>, u8) {
        use std::io::Read;
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
            2 if contents.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) => {
                zstd::stream::decode_all(contents).unwrap()
            }
            2 => {
                let mut v = Vec::new();
                flate2::read::ZlibDecoder::new(contents)
                    .read_to_end(&mut v)
                    .unwrap();
                v
            }
            4 => {
                let mut v = Vec::new();
                flate2::read::DeflateDecoder::new(contents)
                    .read_to_end(&mut v)
                    .unwrap();
                v
            }
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
        assert_eq!(&footer[40..], &MAGIC.to_le_bytes());
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
            idx.offset + idx.size + TRAILER_SIZE as u64,
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
            expect_offset = h.offset + h.size + TRAILER_SIZE as u64;
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

    fn build(opts: BuildOptions, entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut b = TableBuilder::new(opts);
        for (key, v) in entries {
            b.add(key, v).unwrap();
        }
        assert_eq!(b.num_entries(), entries.len() as u64);
        assert_eq!(b.smallest_key(), entries.first().map(|e| e.0.as_slice()));
        assert_eq!(b.largest_key(), entries.last().map(|e| e.0.as_slice()));
        b.finish()
    }

    fn opts(compression: Compression) -> BuildOptions {
        BuildOptions {
            compression,
            ..BuildOptions::default()
        }
    }

    #[test]
    fn empty_table() {
        let file = build(BuildOptions::default(), &[]);
        let p = parse_table(&file);
        assert!(p.entries.is_empty());
        assert!(p.index.is_empty());
        assert_eq!(p.metaindex_entries, 0);
        // Empty metaindex and index blocks: 8 bytes each plus trailers.
        assert_eq!(file.len(), 2 * (8 + TRAILER_SIZE) + FOOTER_SIZE);
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
    fn many_entries_many_blocks_every_codec() {
        let entries = many(5000);
        for c in [
            Compression::None,
            Compression::Snappy,
            Compression::Zstd,
            Compression::Zlib,
            Compression::RawDeflate,
        ] {
            let file = build(opts(c), &entries);
            let p = parse_table(&file);
            assert_eq!(p.entries, entries);
            assert!(p.index.len() > 50, "{} blocks", p.index.len());
            let kinds: Vec<u8> = p.index.iter().map(|e| e.2).collect();
            // Repetitive values compress far beyond 12.5%.
            assert!(kinds.iter().all(|&t| t == c.type_byte()), "{c:?}");
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
                let o = BuildOptions {
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
        let o = BuildOptions {
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
        let mut b = TableBuilder::new(BuildOptions::default());
        b.add(&k(b"b", 5), b"1").unwrap();
        assert_eq!(
            b.add(&k(b"a", 9), b"x"),
            Err(BuildError::OutOfOrder { index: 1 })
        );
        // Equal keys are not strictly increasing.
        assert_eq!(
            b.add(&k(b"b", 5), b"x"),
            Err(BuildError::OutOfOrder { index: 1 })
        );
        // Same user key with a higher sequence sorts earlier.
        assert_eq!(
            b.add(&k(b"b", 6), b"x"),
            Err(BuildError::OutOfOrder { index: 1 })
        );
        assert_eq!(
            b.add(b"short", b"x"),
            Err(BuildError::MalformedKey { index: 1 })
        );
        let mut bad_type = k(b"c", 1);
        bad_type[1] = 9;
        assert_eq!(
            b.add(&bad_type, b"x"),
            Err(BuildError::MalformedKey { index: 1 })
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
