//! A RocksDB table to verdicts and entries: the table walked through its
//! footer, metaindex, properties and index (`format::rocks_table::walk`),
//! every data block's trailer checksum verified; where the footer or the
//! index is lost, the data blocks are found by their trailers instead
//! (`format::rocks_table::discover`). Entries carry the table's column
//! family, from its properties block or, failing that, the MANIFEST.

use super::rocks::RocksCtx;
use super::{Entry, EntrySink};
use crate::format::batch::Kind;
use crate::format::rocks_table::discover::{discover, solve_base_context};
use crate::format::rocks_table::ikey as rikey;
use crate::format::rocks_table::walk::{self, DataBlock, FaultKind, Reading, TableWalk};
use crate::format::rocks_table::{BlockHandle, ChecksumType};
use crate::report::{Class, Counts, Damage};
use crate::vocab::cf::Cf;

/// Largest decompressed block accepted: RocksDB's blocks are 4 KiB to a few
/// MiB; a length read from damaged bytes must not size an allocation.
const CAP: usize = 64 << 20;

/// What one RocksDB table yielded.
#[derive(Debug, Default)]
pub struct RocksTableScan {
    pub blocks: Counts,
    pub entries: u64,
    pub damage: Vec<Damage>,
    pub min_seq: Option<u64>,
    pub max_seq: Option<u64>,
    /// Blocks in a codec this version cannot decode (not damage).
    pub unsupported: Vec<String>,
    /// The table's column family, by name where known.
    pub cf: Option<String>,
    /// A table with no damage whose properties count other than the
    /// entries read: (its count, entries read).
    pub count_mismatch: Option<(u64, u64)>,
    /// How its blocks were read, and the data blocks whose entries were
    /// given as intact, in file order: what [`RocksBlocks`] reads again.
    pub again: Option<Again>,
}

/// What reading a RocksDB table's intact data blocks again takes.
#[derive(Debug, Clone)]
pub struct Again {
    pub reading: Reading,
    pub intact: Vec<BlockHandle>,
    /// The column family every entry of the table belongs to.
    pub cf: Cf,
}

/// The entry kind of a RocksDB value type; `None` for types a data block
/// does not export (a range deletion lives in its own block).
fn kind(t: u8) -> Option<Kind> {
    Some(match t {
        rikey::VALUE | rikey::VALUE_PREFERRED_SEQNO => Kind::Put,
        rikey::DELETION | rikey::DELETION_WITH_TIMESTAMP => Kind::Delete,
        rikey::SINGLE_DELETION => Kind::SingleDelete,
        rikey::MERGE => Kind::Merge,
        rikey::BLOB_INDEX => Kind::BlobIndex,
        rikey::WIDE_COLUMN_ENTITY => Kind::Entity,
        rikey::RANGE_DELETION => Kind::RangeDelete,
        _ => return None,
    })
}

/// Scan a RocksDB table held in memory; `number` is its file number (its
/// column family is looked up in the MANIFEST when its properties are
/// lost).
pub fn scan(
    data: &[u8],
    sink: &mut dyn EntrySink,
    ctx: &RocksCtx,
    number: Option<u64>,
) -> RocksTableScan {
    let named = number.and_then(|n| ctx.tables.get(&n));
    let table_cf = named.map(|t| t.0);
    let w = walk::walk(data, CAP);
    let mut out = RocksTableScan::default();
    let props = w.properties.as_ref().and_then(|p| p.as_ref().ok());
    let cf_id = props
        .and_then(|p| p.column_family_id)
        .and_then(|id| u32::try_from(id).ok())
        .or(table_cf)
        .unwrap_or(0);
    let mut cf = ctx.cf(cf_id, None);
    if cf.name.is_none() {
        if let Some(n) = props.and_then(|p| p.column_family_name.as_deref()) {
            cf = Cf::named(cf_id, n);
        }
    }
    out.cf = Some(cf.name.map_or_else(|| cf.id.to_string(), str::to_string));
    let usable = w.footer.is_ok() && !w.index.is_empty();
    let user_index_keys = props.and_then(|p| p.index_key_is_user_key) == Some(1);
    let sep = |k: &[u8]| -> Vec<u8> {
        if user_index_keys {
            k.to_vec()
        } else {
            rikey::parse(k).map_or(k, |p| p.user_key).to_vec()
        }
    };
    let mut reading = w.footer.as_ref().ok().map(|f| Reading::of(f, CAP));
    let blocks: Vec<DataBlock> = if usable {
        if let Some(f) = w.index_faults.first() {
            out.damage.push(fault_damage(data.len(), f, "index"));
        }
        w.blocks.clone()
    } else {
        // Footer or index lost: the blocks are found by their trailers,
        // with the checksum type the first block verifies under.
        let (found, used) = find_blocks(data, reading);
        reading = used;
        let why = match &w.footer {
            Err(e) => format!("footer unreadable ({e}): blocks found by their checksums"),
            Ok(_) => "index unreadable: blocks found by their checksums".to_string(),
        };
        for (s, e) in &found.1 {
            let end = *e;
            // Torn is where damage runs: to the end of the file. A search
            // that gave up says so in the reason (a table cut inside one
            // large block can spend the bound on its tail alone).
            let torn = end >= data.len() as u64;
            let reason = match found.2 {
                Some(at) if at < end => format!(
                    "no block found here ({why}); from byte {at} on none was looked for: \
                     the search's work bound was spent"
                ),
                _ => format!("no block found here ({why})"),
            };
            let mut d = Damage::new(
                *s,
                end.saturating_sub(*s),
                if torn { Class::Torn } else { Class::Garbled },
                reason,
            );
            // Between the last key of the block before and the first of the
            // block after; at the ends, the table's own range from the
            // MANIFEST.
            let before = found.0.iter().rev().find(|b| b.handle.offset < *s);
            let after = found.0.iter().find(|b| b.handle.offset >= end);
            let first = before
                .and_then(|b| b.entries.last())
                .map(|e| e.user_key.clone());
            d.key_range = Some(crate::vocab::KeyRange {
                first_exclusive: first.is_some(),
                first: first.or_else(|| named.map(|t| t.1.clone())),
                last: after
                    .and_then(|b| b.entries.first())
                    .map(|e| e.user_key.clone())
                    .or_else(|| named.map(|t| t.2.clone())),
            });
            out.blocks.add(Some(d.class));
            out.damage.push(d);
        }
        if found.0.is_empty() && found.1.is_empty() && !data.is_empty() {
            out.damage.push(Damage::new(
                0,
                data.len() as u64,
                Class::Garbled,
                format!("no table block found ({why})"),
            ));
        }
        found.0
    };
    let mut intact = Vec::new();
    for b in &blocks {
        match &b.fault {
            None => {
                out.blocks.intact += 1;
                intact.push(b.handle);
                for e in &b.entries {
                    let Some(k) = kind(e.kind) else { continue };
                    out.entries += 1;
                    out.min_seq = Some(out.min_seq.map_or(e.seq, |m| m.min(e.seq)));
                    out.max_seq = Some(out.max_seq.map_or(e.seq, |m| m.max(e.seq)));
                    if sink.wants_entries() {
                        sink.intact(&entry(e, k, b.handle.offset, cf));
                    }
                }
            }
            Some(f) if f.kind == FaultKind::UnsupportedCodec => {
                out.unsupported.push(f.to_string());
            }
            Some(f) => {
                let mut d = fault_damage(data.len(), f, "data block");
                // The index says which keys the block held: those after the
                // separator before it, up to its own.
                if let Some(i) = w.index.iter().position(|e| e.handle == b.handle) {
                    let prev = i.checked_sub(1).and_then(|p| w.index.get(p));
                    d.key_range = Some(crate::vocab::KeyRange {
                        first_exclusive: prev.is_some(),
                        first: prev
                            .map(|p| sep(&p.key))
                            .or_else(|| named.map(|t| t.1.clone())),
                        last: w.index.get(i).map(|e| sep(&e.key)),
                    });
                }
                out.blocks.add(Some(d.class));
                // A block whose checksum verified but whose entries stopped
                // decoding: what decoded is still only unverified.
                for e in &b.entries {
                    if let Some(k) = kind(e.kind) {
                        sink.unverified(&entry(e, k, b.handle.offset, cf), &d.reason);
                    }
                }
                out.damage.push(d);
            }
        }
    }
    if usable {
        range_deletions(&w, data.len(), cf, sink, &mut out);
    }
    out.again = reading.map(|reading| Again {
        reading,
        intact,
        cf,
    });
    out.damage = merged(std::mem::take(&mut out.damage));
    // The table's own count of its entries (range deletions included)
    // against what was read: one damaged range lost the difference; a
    // table read whole must match it exactly.
    if let Some(n) = props.and_then(|p| p.num_entries) {
        let unread = out.unsupported.is_empty();
        match out.damage.as_mut_slice() {
            [d] if unread && n >= out.entries => d.lost_entries = Some(n - out.entries),
            [] if unread && n != out.entries => out.count_mismatch = Some((n, out.entries)),
            _ => {}
        }
    }
    out
}

fn range_deletions(
    w: &TableWalk,
    len: usize,
    cf: Cf,
    sink: &mut dyn EntrySink,
    out: &mut RocksTableScan,
) {
    match &w.range_deletions {
        Some(Ok(dels)) => {
            for d in dels {
                out.entries += 1;
                out.min_seq = Some(out.min_seq.map_or(d.seq, |m| m.min(d.seq)));
                out.max_seq = Some(out.max_seq.map_or(d.seq, |m| m.max(d.seq)));
                sink.intact(&Entry {
                    seq: d.seq,
                    kind: Kind::RangeDelete,
                    key: &d.begin,
                    value: &d.end,
                    offset: 0,
                    expiry: None,
                    cf: Some(cf),
                });
            }
        }
        Some(Err(f)) => out
            .damage
            .push(fault_damage(len, f, "range deletion block")),
        None => {}
    }
}

/// Damage sorted by offset, overlapping ranges joined (a hostile index can
/// point several handles into the same bytes): torn only if every part is.
fn merged(mut v: Vec<Damage>) -> Vec<Damage> {
    v.sort_by_key(|d| (d.offset, d.length));
    let mut out: Vec<Damage> = Vec::with_capacity(v.len());
    for d in v {
        match out.last_mut() {
            Some(l) if d.offset < l.end() => {
                let end = l.end().max(d.end());
                l.length = end - l.offset;
                if d.class == Class::Garbled {
                    l.class = Class::Garbled;
                }
                l.lost_entries = None;
                if l.key_range != d.key_range {
                    l.key_range = None;
                }
            }
            _ => out.push(d),
        }
    }
    out
}

fn entry<'a>(e: &'a walk::Entry, k: Kind, offset: u64, cf: Cf) -> Entry<'a> {
    Entry {
        seq: e.seq,
        kind: k,
        key: &e.user_key,
        value: if k.has_value() { &e.value } else { &[] },
        offset,
        expiry: None,
        cf: Some(cf),
    }
}

fn fault_damage(len: usize, f: &walk::Fault, what: &str) -> Damage {
    let end = f.end.min(len as u64);
    let torn = f.kind == FaultKind::OutOfRange || end >= len as u64 && f.end > len as u64;
    Damage::new(
        f.start,
        end.saturating_sub(f.start),
        if torn { Class::Torn } else { Class::Garbled },
        format!("{what}: {}", f.detail),
    )
}

/// Data blocks found by their trailers, the gaps between them, and where
/// the search stopped if its work bound was spent.
type Found = (Vec<DataBlock>, Vec<(u64, u64)>, Option<u64>);

/// The checksum types a table without its footer is tried under.
const CHECKSUMS: [ChecksumType; 4] = [
    ChecksumType::Crc32c,
    ChecksumType::Xxh3,
    ChecksumType::XxHash64,
    ChecksumType::XxHash32,
];

/// Data blocks found by their trailers, and the gaps between them. Without
/// a footer the checksum type is the one the block at offset 0 (every
/// table's first data block) verifies under; for a format_version 6 table
/// each block's checksum is also mixed with a per-file base the footer
/// held, solved from that first block and confirmed by the next.
fn find_blocks(data: &[u8], reading: Option<Reading>) -> (Found, Option<Reading>) {
    // The largest block looked for, as for LevelDB's tables.
    let window = data.len().min(crate::format::table::DEFAULT_WINDOW);
    let reading = reading.or_else(|| {
        CHECKSUMS
            .into_iter()
            .map(|checksum| Reading {
                checksum,
                base_context_checksum: 0,
                format_version: 5,
                cap: CAP,
            })
            .find(|r| crate::format::rocks_table::discover::block_at(data, 0, *r, window).is_some())
    });
    // format_version 6: every checksum carries the per-file base the footer
    // held; it is solved from the first block (see `solve_base_context`).
    let reading = reading.or_else(|| {
        CHECKSUMS.into_iter().find_map(|checksum| {
            let base = solve_base_context(data, checksum, window, CAP)?;
            Some(Reading {
                checksum,
                base_context_checksum: base,
                format_version: 6,
                cap: CAP,
            })
        })
    });
    let Some(r) = reading else {
        return ((Vec::new(), vec![(0, data.len() as u64)], None), None);
    };
    let d = discover(data, r, window);
    // Gaps between blocks that are not data (index, filter, properties) are
    // not damage; only bytes no block accounts for are.
    ((d.data, d.gaps, d.stopped_at), Some(r))
}

/// A RocksDB table's intact data blocks read again one at a time for the
/// latest view's merge (each block verified again: a block that no longer
/// verifies means the file changed, an I/O error), so that a store's latest
/// view holds one block per table, not the table's entries.
pub struct RocksBlocks {
    file: std::fs::File,
    name: String,
    again: std::vec::IntoIter<BlockHandle>,
    reading: Reading,
    cf: Cf,
    buf: Vec<u8>,
    entries: Vec<walk::Entry>,
    offset: u64,
}

impl RocksBlocks {
    pub fn open(path: &std::path::Path, name: &str, again: &Again) -> std::io::Result<Self> {
        let (file, _) = super::open::open_store_file(path)?;
        Ok(RocksBlocks {
            file,
            name: name.to_string(),
            again: again.intact.clone().into_iter(),
            reading: again.reading,
            cf: again.cf,
            buf: Vec::new(),
            entries: Vec::new(),
            offset: 0,
        })
    }

    pub fn cf(&self) -> Cf {
        self.cf
    }

    /// The loaded block's entries, in block order (range deletions live in
    /// a block of their own, never here).
    pub fn entries(&self) -> &[walk::Entry] {
        &self.entries
    }

    /// The entry kind of a RocksDB value type (see `kind`).
    pub fn kind(t: u8) -> Option<Kind> {
        kind(t)
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Load the next block; false when there is none.
    pub fn next_block(&mut self) -> std::io::Result<bool> {
        use std::os::unix::fs::FileExt;
        let Some(h) = self.again.next() else {
            self.entries.clear();
            return Ok(false);
        };
        let changed = |what: String| super::table::source::changed(&self.name, &what);
        // The scan verified this block within the file: its size is bounded
        // by the file's.
        let len = h
            .size
            .checked_add(crate::format::rocks_table::TRAILER_SIZE as u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| changed(format!("block at {}", h.offset)))?;
        self.buf.resize(len, 0);
        self.file.read_exact_at(&mut self.buf, h.offset)?;
        let contents = walk::read_block_alone(&self.buf, h, self.reading)
            .map_err(|e| changed(e.to_string()))?;
        self.entries.clear();
        walk::data_entries(&contents, &mut self.entries)
            .map_err(|e| changed(format!("block at {}: {e}", h.offset)))?;
        self.offset = h.offset;
        Ok(true)
    }
}
