//! A whole RocksDB block-based table read from its bytes alone, the way
//! `table/block_based/block_based_table_reader.cc` opens one (footer ->
//! metaindex -> properties -> index -> data blocks), except that every
//! fault is recorded where it happened and the walk goes on: a bad data
//! block costs that block, a bad index partition its blocks.

use super::blocks::{self, IndexEntry, IndexFormat, MetaIndex, Properties, INDEX_TWO_LEVEL};
use super::codec::{self, CodecError};
use super::ikey;
use super::{verify_block, BlockHandle, ChecksumType, Footer, FooterError, TrailerError};
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The handle points past the file.
    OutOfRange,
    Checksum,
    /// A codec RocksDB writes but this reader cannot decode (not damage).
    UnsupportedCodec,
    Decompress,
    Decode,
}

/// What went wrong with one block, and where (the block with its trailer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub start: u64,
    pub end: u64,
    pub detail: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}..{}: {}", self.start, self.end, self.detail)
    }
}

impl Fault {
    fn at(h: BlockHandle, kind: FaultKind, detail: impl fmt::Display) -> Fault {
        let end = h
            .offset
            .saturating_add(h.size)
            .saturating_add(super::TRAILER_SIZE as u64);
        Fault {
            kind,
            start: h.offset,
            end,
            detail: detail.to_string(),
        }
    }
}

/// How the table's blocks are checked and decoded (from its footer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub checksum: ChecksumType,
    pub base_context_checksum: u32,
    pub format_version: u32,
    /// Largest decompressed block accepted.
    pub cap: usize,
}

impl Reading {
    pub fn of(footer: &Footer, cap: usize) -> Reading {
        Reading {
            checksum: footer.checksum,
            base_context_checksum: footer.base_context_checksum,
            format_version: footer.format_version,
            cap,
        }
    }
}

/// The verified, decompressed contents of the block at `h`.
pub fn read_block(file: &[u8], h: BlockHandle, r: Reading) -> Result<Cow<'_, [u8]>, Fault> {
    let checked = verify_block(file, h, r.checksum, r.base_context_checksum);
    decoded(checked, h, r)
}

/// [`read_block`] of a block read on its own: `whole` is the block `h`
/// with its trailer.
pub fn read_block_alone(whole: &[u8], h: BlockHandle, r: Reading) -> Result<Cow<'_, [u8]>, Fault> {
    let checked = super::verify_trailer(whole, h.offset, r.checksum, r.base_context_checksum);
    decoded(checked, h, r)
}

fn decoded<'a>(
    checked: Result<(&'a [u8], u8), TrailerError>,
    h: BlockHandle,
    r: Reading,
) -> Result<Cow<'a, [u8]>, Fault> {
    let (contents, kind) = checked.map_err(|e| match e {
        TrailerError::OutOfRange => Fault::at(h, FaultKind::OutOfRange, e),
        TrailerError::Mismatch { .. } => Fault::at(h, FaultKind::Checksum, e),
    })?;
    codec::decompress(kind, contents, r.format_version, r.cap).map_err(|e| {
        let k = match e {
            CodecError::Unsupported { .. } => FaultKind::UnsupportedCodec,
            _ => FaultKind::Decompress,
        };
        Fault::at(h, k, e)
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// As stored: with its user-defined timestamp, if any.
    pub user_key: Vec<u8>,
    pub seq: u64,
    pub kind: u8,
    pub value: Vec<u8>,
}

/// One data block: the entries decoded, and the fault that stopped them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBlock {
    pub handle: BlockHandle,
    pub entries: Vec<Entry>,
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeDeletion {
    pub begin: Vec<u8>,
    pub seq: u64,
    pub end: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWalk {
    pub footer: Result<Footer, FooterError>,
    pub metaindex: Option<Result<MetaIndex, Fault>>,
    pub properties: Option<Result<Properties, Fault>>,
    /// The index's data block handles in index order, with any fault met
    /// reading it (a bad partition loses only its own handles).
    pub index: Vec<IndexEntry>,
    pub index_faults: Vec<Fault>,
    pub blocks: Vec<DataBlock>,
    pub range_deletions: Option<Result<Vec<RangeDeletion>, Fault>>,
    /// Bytes of user-defined timestamp the comparator name announces.
    pub timestamp_size: usize,
}

/// Decode the entries of a (decompressed) data block into `out`.
pub fn data_entries(contents: &[u8], out: &mut Vec<Entry>) -> Result<(), String> {
    let b = blocks::block(contents).map_err(|e| e.to_string())?;
    let mut it = b.iter();
    while let Some(r) = it.next() {
        let (k, v) = r.map_err(|e| e.to_string())?;
        let ik = ikey::parse(k).ok_or_else(|| format!("internal key of {} bytes", k.len()))?;
        out.push(Entry {
            user_key: ik.user_key.to_vec(),
            seq: ik.seq,
            kind: ik.kind,
            value: v.to_vec(),
        });
    }
    Ok(())
}

/// Decode the range-deletion block.
pub fn range_deletions(contents: &[u8]) -> Result<Vec<RangeDeletion>, String> {
    let b = blocks::block(contents).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut it = b.iter();
    while let Some(r) = it.next() {
        let (k, v) = r.map_err(|e| e.to_string())?;
        let ik = ikey::parse(k).ok_or("range deletion key shorter than its tag")?;
        if ik.kind != ikey::RANGE_DELETION {
            return Err(format!("range deletion of value type {:#x}", ik.kind));
        }
        out.push(RangeDeletion {
            begin: ik.user_key.to_vec(),
            seq: ik.seq,
            end: v.to_vec(),
        });
    }
    Ok(out)
}

fn find(meta: &[(Vec<u8>, BlockHandle)], name: &[u8]) -> Option<BlockHandle> {
    meta.iter().find(|(k, _)| k == name).map(|&(_, h)| h)
}

/// Read every index entry reachable from the top-level index at `h`.
fn read_index(
    file: &[u8],
    h: BlockHandle,
    r: Reading,
    fmt: IndexFormat,
    two_level: bool,
    entries: &mut Vec<IndexEntry>,
    faults: &mut Vec<Fault>,
) {
    let top = match read_block(file, h, r) {
        Ok(b) => b,
        Err(f) => return faults.push(f),
    };
    let (top_entries, err) = blocks::index_entries(&top, fmt);
    if let Some(e) = err {
        faults.push(Fault::at(h, FaultKind::Decode, e));
    }
    if !two_level {
        entries.extend(top_entries);
        return;
    }
    // The top level's values point at partitions; its first-key flag does
    // not apply to them.
    let top_fmt = IndexFormat {
        first_key: false,
        ..fmt
    };
    let (parts, err) = if fmt.first_key {
        blocks::index_entries(&top, top_fmt)
    } else {
        (top_entries, None)
    };
    if let Some(e) = err {
        faults.push(Fault::at(h, FaultKind::Decode, e));
    }
    for p in parts {
        match read_block(file, p.handle, r) {
            Ok(b) => {
                let (es, err) = blocks::index_entries(&b, fmt);
                entries.extend(es);
                if let Some(e) = err {
                    faults.push(Fault::at(p.handle, FaultKind::Decode, e));
                }
            }
            Err(f) => faults.push(f),
        }
    }
}

/// Walk the whole table in `file`, decompressing no block past `cap`.
pub fn walk(file: &[u8], cap: usize) -> TableWalk {
    let mut w = TableWalk {
        footer: Footer::decode(file),
        metaindex: None,
        properties: None,
        index: Vec::new(),
        index_faults: Vec::new(),
        blocks: Vec::new(),
        range_deletions: None,
        timestamp_size: 0,
    };
    let Ok(footer) = w.footer.clone() else {
        return w;
    };
    let r = Reading::of(&footer, cap);
    let meta = read_block(file, footer.metaindex, r).and_then(|b| {
        blocks::metaindex(&b).map_err(|e| Fault::at(footer.metaindex, FaultKind::Decode, e))
    });
    let meta_entries = meta.clone().unwrap_or_default();
    w.metaindex = Some(meta);
    if let Some(h) = find(&meta_entries, b"rocksdb.properties") {
        w.properties =
            Some(read_block(file, h, r).and_then(|b| {
                Properties::decode(&b).map_err(|e| Fault::at(h, FaultKind::Decode, e))
            }));
    }
    let props = w.properties.as_ref().and_then(|p| p.as_ref().ok());
    w.timestamp_size = props.map_or(0, Properties::timestamp_size);
    // Without properties, the format version tells the likely encoding:
    // RocksDB delta-encodes index values by default from version 4.
    let fmt = props.map_or(
        IndexFormat {
            value_delta: footer.format_version >= 4,
            first_key: false,
        },
        Properties::index_format,
    );
    let two_level = props.and_then(|p| p.index_type) == Some(INDEX_TWO_LEVEL);
    // Ingested files store sequence 0 and give the real one as a property.
    let global_seqno = props.and_then(|p| p.global_seqno).filter(|&g| g != 0);
    let index_handle = footer
        .index
        .or_else(|| find(&meta_entries, b"rocksdb.index"));
    match index_handle {
        Some(h) => read_index(
            file,
            h,
            r,
            fmt,
            two_level,
            &mut w.index,
            &mut w.index_faults,
        ),
        None => w.index_faults.push(Fault {
            kind: FaultKind::Decode,
            start: footer.metaindex.offset,
            end: footer
                .metaindex
                .offset
                .saturating_add(footer.metaindex.size),
            detail: "no index handle (metaindex lacks rocksdb.index)".into(),
        }),
    }
    if let Some(h) = find(&meta_entries, b"rocksdb.range_del") {
        w.range_deletions = Some(
            read_block(file, h, r)
                .and_then(|b| range_deletions(&b).map_err(|e| Fault::at(h, FaultKind::Decode, e))),
        );
    }
    for e in &w.index {
        let mut entries = Vec::new();
        let fault = match read_block(file, e.handle, r) {
            Ok(b) => data_entries(&b, &mut entries)
                .err()
                .map(|d| Fault::at(e.handle, FaultKind::Decode, d)),
            Err(f) => Some(f),
        };
        if let Some(g) = global_seqno {
            for en in entries.iter_mut().filter(|en| en.seq == 0) {
                en.seq = g;
            }
        }
        w.blocks.push(DataBlock {
            handle: e.handle,
            entries,
            fault,
        });
    }
    w
}
