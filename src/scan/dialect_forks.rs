//! Telling Mojang's leveldb-mcpe (Minecraft Bedrock) and LevelDB ≥ 1.23
//! (zstd tables) from the LevelDB they share their files with.
//!
//! Their logs, MANIFESTs and table layout are upstream's; what differs is
//! the codec behind a block's compression id (`docs/FORMAT.md`):
//!
//! | id | upstream ≤ 1.22 | ≥ 1.23 | leveldb-mcpe |
//! | --- | --- | --- | --- |
//! | 2 | - | zstd frame | zlib stream (RFC 1950) |
//! | 3 | - | - | zstd frame |
//! | 4 | - | - | raw deflate (RFC 1951) |
//!
//! and leveldb-mcpe also reads a `CURRENT` ending in `\r\n`. So the evidence
//! is a few verified blocks of a few tables: the footer, the index block and
//! the first data blocks it names, each checked against its CRC before its
//! id is believed (a damaged byte never decides a dialect). Reading them is a
//! handful of small reads per table, whatever the store's size.

use super::store::InputFile;
use crate::format::block::Block;
use crate::format::compress;
use crate::format::filename::FileKind;
use crate::format::table::{read_block, BlockHandle, Footer, FOOTER_SIZE, TRAILER_SIZE};
use crate::format::table_writer::Compression;
use crate::report::Dialect;
use std::os::unix::fs::FileExt;

/// The phrase the report's evidence carries for a store with zstd blocks
/// under id 2: how a rebuild knows to keep writing zstd.
pub const ZSTD_EVIDENCE: &str = "zstd-compressed blocks (LevelDB ≥ 1.23)";

/// Tables looked at, and data blocks per table.
const TABLES: usize = 8;
const DATA_BLOCKS: usize = 4;
/// A block larger than this is not read for evidence (Bedrock's blocks are
/// ~160 KiB; an index this large belongs to a huge table).
const MAX_BLOCK: u64 = 4 << 20;
/// Decompressed size allowed for a sampled block.
const SAMPLE_CAP: usize = 16 << 20;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// What the verified blocks' ids and stream headers showed.
#[derive(Default)]
struct Seen {
    /// (blocks, first table) per codec.
    raw_deflate: (usize, Option<String>),
    mcpe_zstd: (usize, Option<String>),
    zlib2: (usize, Option<String>),
    zstd2: (usize, Option<String>),
    /// Verified index and data blocks whose keys are out of bytewise order
    /// and in Chrome's idb_cmp1 order: written under that comparator.
    idb_order: (usize, Option<String>),
}

impl Seen {
    fn merge(&mut self, other: &Seen) {
        for (mine, theirs) in [
            (&mut self.raw_deflate, &other.raw_deflate),
            (&mut self.mcpe_zstd, &other.mcpe_zstd),
            (&mut self.zlib2, &other.zlib2),
            (&mut self.zstd2, &other.zstd2),
            (&mut self.idb_order, &other.idb_order),
        ] {
            mine.0 += theirs.0;
            if mine.1.is_none() {
                mine.1.clone_from(&theirs.1);
            }
        }
    }

    fn add(&mut self, table: &str, kind: u8, stored: &[u8]) {
        let slot = match kind {
            compress::RAW_DEFLATE => &mut self.raw_deflate,
            compress::MCPE_ZSTD => &mut self.mcpe_zstd,
            compress::ZSTD_OR_ZLIB if stored.starts_with(&ZSTD_MAGIC) => &mut self.zstd2,
            compress::ZSTD_OR_ZLIB if is_zlib_header(stored) => &mut self.zlib2,
            _ => return,
        };
        slot.0 += 1;
        slot.1.get_or_insert_with(|| table.to_string());
    }
}

fn is_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && u16::from_be_bytes([*cmf, *flg]) % 31 == 0
        }
        _ => false,
    }
}

/// `mojang` when the store holds what only leveldb-mcpe writes; `None`
/// otherwise, having added to `evidence` what the blocks showed (zstd under
/// id 2: LevelDB ≥ 1.23, still the `leveldb` dialect).
pub fn detect(
    inputs: &[InputFile],
    members: &[usize],
    samples: &[TableSample],
    evidence: &mut Vec<String>,
) -> Option<Dialect> {
    let mut seen = Seen::default();
    for t in samples.iter().take(TABLES) {
        seen.merge(&t.seen);
    }
    let mut mojang = Vec::new();
    let mut say = |(n, table): &(usize, Option<String>), what: &str| {
        if *n > 0 {
            mojang.push(format!(
                "{n} verified block(s) with {what}, first in {}",
                table.as_deref().unwrap_or("?")
            ));
        }
    };
    say(
        &seen.raw_deflate,
        "compression id 4 (raw deflate: leveldb-mcpe's ZlibCompressorRaw, what Bedrock writes)",
    );
    say(
        &seen.mcpe_zstd,
        "compression id 3 (zstd: leveldb-mcpe's ZstdCompressor)",
    );
    say(
        &seen.zlib2,
        "a zlib stream under compression id 2 (leveldb-mcpe's ZlibCompressor; upstream's id 2 is zstd)",
    );
    if current_ends_in_cr(inputs, members) {
        mojang.push(
            "CURRENT ends in \"\\r\", which leveldb-mcpe reads and upstream LevelDB refuses"
                .to_string(),
        );
    }
    if mojang.is_empty() && seen.idb_order.0 > 0 {
        let mut e = std::mem::take(evidence);
        e.push(format!(
            "{} verified block(s) in Chrome IndexedDB's layout (its keys in idb_cmp1 order and \
             out of bytewise order, or opening with its schema-version key, every key an \
             IndexedDB key), first in {}",
            seen.idb_order.0,
            seen.idb_order.1.as_deref().unwrap_or("?")
        ));
        return Some(Dialect {
            name: "chrome-indexeddb",
            evidence: e,
            supported: true,
        });
    }
    if mojang.is_empty() {
        if let (n @ 1.., table) = &seen.zstd2 {
            evidence.push(format!(
                "{ZSTD_EVIDENCE}: {n} verified block(s) with compression id 2 holding a zstd \
                 frame, first in {}",
                table.as_deref().unwrap_or("?")
            ));
        }
        return None;
    }
    let mut e = std::mem::take(evidence);
    e.extend(mojang);
    Some(Dialect {
        name: "mojang",
        evidence: e,
        supported: true,
    })
}

/// Tables whose own blocks are looked at for a per-file dialect
/// ([`super::dialect_files`]): a handful of small reads each, bounded so a
/// store of many thousands of tables is not read twice over for it.
pub const PER_FILE_TABLES: usize = 256;

/// What one table's own verified blocks showed.
pub struct TableSample {
    /// The table's index among the run's inputs.
    pub input: usize,
    seen: Seen,
}

impl TableSample {
    /// The writer this table's verified blocks name, with why: `mojang` for
    /// a codec id or stream only leveldb-mcpe writes, `leveldb` for zstd
    /// under id 2 (upstream ≥ 1.23). `None` when they name no writer
    /// (snappy and uncompressed blocks, which every writer writes).
    pub fn writer(&self) -> Option<(&'static str, Vec<String>)> {
        let s = &self.seen;
        let mut mojang = Vec::new();
        for ((n, _), what) in [
            (
                &s.raw_deflate,
                "compression id 4 (raw deflate), which only leveldb-mcpe writes",
            ),
            (
                &s.mcpe_zstd,
                "compression id 3 (zstd), which only leveldb-mcpe writes",
            ),
            (
                &s.zlib2,
                "a zlib stream under compression id 2 (leveldb-mcpe's; upstream's id 2 is zstd)",
            ),
        ] {
            if *n > 0 {
                mojang.push(format!("{n} verified block(s) with {what}"));
            }
        }
        if !mojang.is_empty() {
            return Some(("mojang", mojang));
        }
        let n = s.zstd2.0;
        (n > 0).then(|| {
            (
                "leveldb",
                vec![format!(
                    "{ZSTD_EVIDENCE}: {n} verified block(s) with compression id 2 holding a \
                     zstd frame (leveldb-mcpe's id 2 is zlib, Basho's LZ4)"
                )],
            )
        })
    }
}

/// The first [`PER_FILE_TABLES`] tables of a store, each sampled as
/// [`detect`] reads them.
///
/// This runs before the scan can start, and each table's reads depend on
/// one another (footer, index, then data blocks), so on a cold cache the
/// disk's latency would be paid table after table. Every table is opened
/// and its tail (footer and index) and head (the first data blocks) handed
/// to the kernel to read first, all at once; then the tables are sampled on
/// the pool, in order.
pub fn sample(inputs: &[InputFile], members: &[usize]) -> Vec<TableSample> {
    use rayon::prelude::*;
    // At most PER_FILE_TABLES open at once. A table that does not open
    // keeps its place, with nothing seen, as before it was read ahead.
    let opened: Vec<(usize, &InputFile, Option<Opened>)> = members
        .iter()
        .filter_map(|&i| Some((i, inputs.get(i)?)))
        .filter(|(_, f)| f.kind == FileKind::Table && f.not_regular.is_none())
        .take(PER_FILE_TABLES)
        .map(|(i, f)| {
            let opened = super::open::open_store_file(&f.path)
                .ok()
                .map(|(file, md)| {
                    let len = md.len();
                    super::open::prefetch(&file, len.saturating_sub(PREFETCH_TAIL), PREFETCH_TAIL);
                    super::open::prefetch(&file, 0, PREFETCH_HEAD.min(len));
                    (file, len)
                });
            (i, f, opened)
        })
        .collect();
    opened
        .into_par_iter()
        .map(|(i, f, opened)| {
            let mut seen = Seen::default();
            if let Some((file, len)) = opened {
                sample_table(f, &file, len, &mut seen);
            }
            TableSample { input: i, seen }
        })
        .collect()
}

/// A sampled table, open, with its length.
type Opened = (std::fs::File, u64);

/// Read ahead for a sample: a table's last bytes (its footer and, in a
/// LevelDB table of a few MiB, its whole index) and its first (the
/// [`DATA_BLOCKS`] sampled blocks, ~4 KiB each by default).
const PREFETCH_TAIL: u64 = 64 << 10;
const PREFETCH_HEAD: u64 = 32 << 10;

fn current_ends_in_cr(inputs: &[InputFile], members: &[usize]) -> bool {
    members
        .iter()
        .filter_map(|&i| inputs.get(i))
        .find(|f| f.kind == FileKind::Current && f.not_regular.is_none() && f.size <= 4096)
        .and_then(|c| super::store::read_small(&c.path, 4096).ok())
        .is_some_and(|b| {
            let b = b.strip_suffix(b"\n").unwrap_or(&b);
            b.ends_with(b"\r")
        })
}

/// The stored bytes of the block at `h` with its trailer, read from `file`.
fn read_stored(file: &std::fs::File, h: BlockHandle, len: u64) -> Option<Vec<u8>> {
    let end = h.end()?;
    if h.size > MAX_BLOCK || end > len {
        return None;
    }
    let n = usize::try_from(h.size).ok()?.checked_add(TRAILER_SIZE)?;
    let mut buf = vec![0u8; n];
    file.read_exact_at(&mut buf, h.offset).ok()?;
    Some(buf)
}

/// The index block and the first data blocks of one table, each counted
/// only when its checksum verifies and it decompresses.
fn sample_table(f: &InputFile, file: &std::fs::File, len: u64, seen: &mut Seen) {
    let Some(at) = len.checked_sub(FOOTER_SIZE as u64) else {
        return;
    };
    let mut tail = [0u8; FOOTER_SIZE];
    if file.read_exact_at(&mut tail, at).is_err() {
        return;
    }
    let Ok(footer) = Footer::decode(&tail) else {
        return;
    };
    let Some(index) = read_stored(file, footer.index, len) else {
        return;
    };
    let local = |size| BlockHandle { offset: 0, size };
    let Ok(contents) = read_block(&index, local(footer.index.size), SAMPLE_CAP) else {
        return;
    };
    seen.add(&f.name, contents.compression, &index);
    // The index holds one key per data block, in the writer's order: the
    // whole table's order in one verified block.
    if idb_ordered(&contents.data) {
        seen.idb_order.0 += 1;
        seen.idb_order.1.get_or_insert_with(|| f.name.clone());
    }
    let Ok(block) = Block::new(&contents.data) else {
        return;
    };
    let mut it = block.iter();
    let mut n = 0;
    while let Some(Ok((_, value))) = it.next() {
        if n == DATA_BLOCKS {
            break;
        }
        n += 1;
        let Some(h) = BlockHandle::decode_exact(value) else {
            break;
        };
        let Some(data) = read_stored(file, h, len) else {
            continue;
        };
        if let Ok(b) = read_block(&data, local(h.size), SAMPLE_CAP) {
            seen.add(&f.name, b.compression, &data);
            if idb_ordered(&b.data) || (n == 1 && idb_schema_block(&b.data)) {
                seen.idb_order.0 += 1;
                seen.idb_order.1.get_or_insert_with(|| f.name.clone());
            }
        }
    }
}

/// Whether a verified block's user keys break bytewise order somewhere
/// and follow idb_cmp1 throughout: a block whose checksum verified was
/// written in its writer's order, so this names the comparator even when
/// no MANIFEST is left to.
fn idb_ordered(contents: &[u8]) -> bool {
    let Ok(block) = Block::new(contents) else {
        return false;
    };
    let mut it = block.iter();
    let mut prev: Option<Vec<u8>> = None;
    let mut broke_bytewise = false;
    while let Some(entry) = it.next() {
        let Ok((key, _)) = entry else {
            return false;
        };
        let user = crate::format::ikey::user_key(key);
        if let Some(p) = &prev {
            if crate::format::idb::compare(p, user) != std::cmp::Ordering::Less {
                return false;
            }
            broke_bytewise |= p.as_slice() > user;
        }
        prev = Some(user.to_vec());
    }
    broke_bytewise
}

/// Whether a verified data block opens with the key Chrome's IndexedDB
/// backing store writes first of all, its schema version
/// (`SchemaVersionKey`: the global-metadata prefix, four zero bytes, then
/// type 0), and every one of its keys decodes as an IndexedDB key: the
/// layout of a Chrome store, readable when its order happened to agree
/// with bytewise in the blocks sampled.
fn idb_schema_block(contents: &[u8]) -> bool {
    let Ok(block) = Block::new(contents) else {
        return false;
    };
    let mut it = block.iter();
    let mut first = true;
    while let Some(entry) = it.next() {
        let Ok((key, _)) = entry else {
            return false;
        };
        let user = crate::format::ikey::user_key(key);
        if first && user != [0u8, 0, 0, 0, 0] {
            return false;
        }
        first = false;
        if crate::format::idb::decode(user).is_none() {
            return false;
        }
    }
    !first
}

/// The codec a rebuilt store's tables are written with, so that the
/// dialect's own library opens it: raw deflate (id 4) for Bedrock, whose
/// game registers only its two zlib codecs (`mcpe_sample_setup.cpp`); zstd
/// for a LevelDB ≥ 1.23 store that was already zstd (its build may lack
/// snappy); snappy, LevelDB's default, otherwise.
pub fn rebuild_compression(d: &Dialect) -> Compression {
    match d.name {
        "mojang" => Compression::RawDeflate,
        _ if d.evidence.iter().any(|e| e.starts_with(ZSTD_EVIDENCE)) => Compression::Zstd,
        _ => Compression::Snappy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(name: &'static str, evidence: &[&str]) -> Dialect {
        Dialect {
            name,
            evidence: evidence.iter().map(|e| e.to_string()).collect(),
            supported: true,
        }
    }

    #[test]
    fn rebuild_codec_follows_the_dialect() {
        assert_eq!(
            rebuild_compression(&dialect("mojang", &["x"])),
            Compression::RawDeflate
        );
        let zstd = format!("{ZSTD_EVIDENCE}: 3 verified block(s)");
        assert_eq!(
            rebuild_compression(&dialect("leveldb", &["a", &zstd])),
            Compression::Zstd
        );
        assert_eq!(
            rebuild_compression(&dialect("leveldb", &["a"])),
            Compression::Snappy
        );
    }

    #[test]
    fn stream_headers_are_told_apart() {
        let mut s = Seen::default();
        s.add("a", compress::ZSTD_OR_ZLIB, &[0x78, 0x9c, 1, 2]);
        s.add("b", compress::ZSTD_OR_ZLIB, &ZSTD_MAGIC);
        s.add("c", compress::ZSTD_OR_ZLIB, &[0x00, 0x01]);
        s.add("d", compress::MCPE_ZSTD, &ZSTD_MAGIC);
        s.add("e", compress::RAW_DEFLATE, &[0xd5]);
        s.add("f", compress::SNAPPY, &[0x10]);
        assert_eq!(s.zlib2, (1, Some("a".into())));
        assert_eq!(s.zstd2, (1, Some("b".into())));
        assert_eq!(s.mcpe_zstd, (1, Some("d".into())));
        assert_eq!(s.raw_deflate, (1, Some("e".into())));
    }
}
