//! Scanning one table file: a verdict for every data block, intact entries
//! to the sink, and the byte ranges that were lost.
//!
//! Rules:
//! - **Index mode.** When the footer decodes and the index block verifies
//!   (checksum, block structure, internal-key separators in order, handle
//!   values), every data block it names is read and checked independently
//!   (checksum, decompression, block structure, every key an internal key,
//!   keys strictly ascending), in parallel, then reported in file order. A
//!   block that runs past the end of the file is *torn*; any other failure is
//!   *garbled*. Handles are sorted by offset and exact duplicates dropped; a
//!   handle overlapping an earlier block, the index, the metaindex or the
//!   footer is garbled without being read, so no index can make the work
//!   exceed one pass over the file. The metaindex and the filter blocks it
//!   names are checked too; their damage loses no entries.
//! - **Key ranges** of a damaged block run from the previous index
//!   separator's user key to its own separator's user key (inclusive). The
//!   lower end is exclusive only when the previous separator was shortened by
//!   LevelDB (it then carries sequence 2^56-1 and lies strictly between two
//!   user keys); an unshortened separator is the previous block's last key,
//!   and older versions of that same user key may open the damaged block.
//! - **Discovery mode.** Otherwise blocks are found by their trailers alone
//!   ([`crate::format::table::find_blocks`]); found index, metaindex and
//!   filter blocks are never exported. Every byte range no block covers is damage:
//!   * the footer is *present* when its magic is intact. Its 48 bytes are
//!     garbled damage if a handle does not decode, or the index handle does
//!     not end exactly where the footer begins, or the metaindex does not lie
//!     before the index (LevelDB always writes metaindex, index, footer in
//!     that order); an uncovered range that the index (or the metaindex, or a
//!     filter named by a found metaindex) fully accounts for is garbled damage
//!     that loses nothing;
//!   * the footer is *garbled* when at least 5 of the 8 magic bytes are in
//!     place: the 48 bytes are garbled damage;
//!   * otherwise the footer is *absent*: the file was cut, and the range from
//!     the end of the last block found to EOF is torn (length 0 if the cut fell
//!     between blocks). Ranges before it are garbled.
//!
//!   Uncovered ranges that are not known metadata count as one damaged data
//!   block each, with a key range from the last user key of the intact data
//!   block before to the first user key of the one after (both inclusive).
//! - An empty file is torn at offset 0, length 0. A non-empty file in which no
//!   block at all is found is one garbled range, "no table block found".
//! - Entries parsed from a damaged block whose contents still decompress (a
//!   checksum mismatch, or a checksummed block that breaks a rule) go to
//!   [`EntrySink::unverified`], never to `intact`.

use crate::format::batch::Kind;
use crate::format::block::Block;
use crate::format::compress;
use crate::format::ikey;
use crate::format::table::{
    check_data_block_with, find_blocks_ordered, footer_like, parse_metaindex, read_block,
    read_block_into, BlockHandle, DataBlockSummary, Footer, FoundKind, TableError, DEFAULT_WINDOW,
    FOOTER_SIZE, MAX_SEQUENCE,
};
use crate::report::{Class, Counts, Damage, KeyRange};
use crate::scan::{Entry, EntrySink};
use rayon::prelude::*;
use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;

/// What scanning a table found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableScan {
    /// Data blocks by class.
    pub blocks: Counts,
    /// Intact entries exported.
    pub entries: u64,
    /// Damaged byte ranges, sorted by offset, non-overlapping, adjacent ones
    /// merged.
    pub damage: Vec<Damage>,
    /// The footer and index were usable.
    pub footer: bool,
    /// Over intact entries.
    pub max_seq: Option<u64>,
    pub min_seq: Option<u64>,
    pub smallest_user_key: Option<Vec<u8>>,
    pub largest_user_key: Option<Vec<u8>>,
    /// The data blocks whose entries went to the sink as intact, in file
    /// order: a second reader can stream them again block by block.
    pub intact_blocks: Vec<BlockHandle>,
    /// Every intact data block is named by the index and holds only user
    /// keys between the separators around it, so the index can say which
    /// blocks to read for a range of keys (the latest view reads a table one
    /// key range at a time, side by side).
    pub index_bounds_blocks: bool,
}

/// Limits for [`scan_table_with`].
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Largest decompressed block accepted.
    pub cap: usize,
    /// Largest block discovery looks for.
    pub window: usize,
    /// Keys must be in bytewise internal-key order (LevelDB's default
    /// comparator). False for a store with its own comparator: order is then
    /// not checked, the checksum and the structure still are.
    pub ordered: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            cap: compress::DEFAULT_CAP,
            window: DEFAULT_WINDOW,
            ordered: true,
        }
    }
}

/// Scan a whole table file held in memory (or mapped).
pub fn scan_table(file: &[u8], sink: &mut dyn EntrySink) -> TableScan {
    scan_table_with(file, sink, &TableOptions::default())
}

pub fn scan_table_with(file: &[u8], sink: &mut dyn EntrySink, opts: &TableOptions) -> TableScan {
    let mut s = Scanner {
        file,
        opts: *opts,
        out: TableScan::default(),
        keep_keys: false,
        block_keys: Vec::new(),
        index: Index::default(),
    };
    s.run(sink);
    s.out.damage = merge(std::mem::take(&mut s.out.damage));
    s.out
}

/// One data block to check, with what the index says about it.
struct Unit {
    handle: BlockHandle,
    /// Its position in the index, whose separators bound the keys it held.
    /// The key range is built from them only if the block is damaged.
    index_pos: Option<usize>,
    /// Known bad without reading it (an overlapping or looping handle).
    rejected: Option<String>,
}

enum Verdict<'a> {
    Intact {
        data: Cow<'a, [u8]>,
        summary: DataBlockSummary,
    },
    Damaged {
        class: Class,
        reason: String,
        /// Decompressed contents of a block that failed, to parse unverified
        /// entries from.
        salvage: Option<Cow<'a, [u8]>>,
    },
}

/// Filter blocks checked or trusted per table (LevelDB writes one).
const MAX_FILTERS: usize = 8;

/// Metadata whose damage loses no entries: (start, end, what it is).
type MetaRange = (u64, u64, String);

struct Scanner<'a> {
    file: &'a [u8],
    opts: TableOptions,
    out: TableScan,
    /// Discovery mode keeps each intact block's (offset, first user key,
    /// last user key) for the key ranges of the gaps between them.
    keep_keys: bool,
    block_keys: Vec<(u64, Vec<u8>, Vec<u8>)>,
    /// The verified index, in index mode.
    index: Index,
}

fn user_key(ikey: &[u8]) -> Vec<u8> {
    ikey::parse(ikey)
        .map(|p| p.user_key)
        .unwrap_or(ikey)
        .to_vec()
}

fn meta_damage(offset: u64, end: u64, reason: String) -> Damage {
    let mut d = Damage::new(offset, end.saturating_sub(offset), Class::Garbled, reason);
    d.lost_entries = Some(0);
    d
}

impl<'a> Scanner<'a> {
    fn len(&self) -> u64 {
        self.file.len() as u64
    }

    fn run(&mut self, sink: &mut dyn EntrySink) {
        if self.file.is_empty() {
            self.out.damage.push(Damage::new(
                0,
                0,
                Class::Torn,
                "empty file: no table was written",
            ));
            return;
        }
        let len = self.len();
        let footer_at = len.saturating_sub(FOOTER_SIZE as u64);
        match Footer::decode(self.file) {
            Ok(f) => {
                if !f.padding_clean {
                    self.out.damage.push(meta_damage(
                        footer_at,
                        len,
                        "footer padding is not zero".into(),
                    ));
                }
                self.with_footer(&f, footer_at, sink);
            }
            Err(e @ TableError::BadHandle { .. }) => {
                self.out
                    .damage
                    .push(meta_damage(footer_at, len, format!("footer: {e}")));
                self.discover(footer_at as usize, false, Vec::new(), sink);
            }
            Err(e @ TableError::BadMagic { .. }) if footer_like(self.file) => {
                self.out
                    .damage
                    .push(meta_damage(footer_at, len, format!("footer: {e}")));
                self.discover(footer_at as usize, false, Vec::new(), sink);
            }
            Err(_) => self.discover(self.file.len(), true, Vec::new(), sink),
        }
    }

    /// A footer with a valid magic: use its index if that verifies, else
    /// find the blocks without it.
    fn with_footer(&mut self, f: &Footer, footer_at: u64, sink: &mut dyn EntrySink) {
        // LevelDB writes the metaindex, then the index, then the footer, so
        // handles that say otherwise are the footer's bytes gone wrong.
        let meta_fits = f.metaindex.end().is_some_and(|e| e <= f.index.offset);
        let mut meta: Vec<MetaRange> = Vec::new();
        if meta_fits {
            meta.push((
                f.metaindex.offset,
                f.metaindex.end().unwrap_or(0),
                "metaindex block".into(),
            ));
        }
        if f.index.end() != Some(footer_at) {
            self.out.damage.push(meta_damage(
                footer_at,
                self.len(),
                format!(
                    "footer: index handle ({} bytes at {}) does not end where the footer begins ({footer_at})",
                    f.index.size, f.index.offset
                ),
            ));
            meta.retain(|m| m.1 <= footer_at);
            self.discover(footer_at as usize, false, meta, sink);
            return;
        }
        if !meta_fits {
            self.out.damage.push(meta_damage(
                footer_at,
                self.len(),
                format!(
                    "footer: metaindex handle ({} bytes at {}) does not lie before the index",
                    f.metaindex.size, f.metaindex.offset
                ),
            ));
        }
        let index_end = f.index.end().unwrap_or(0);
        let index = match read_block(self.file, f.index, self.opts.cap) {
            Err(e) => Err(e.to_string()),
            Ok(b) => parse_index(&b.data, self.opts.ordered).map_err(|e| {
                // Checksummed but not an index: discovery may well find it as
                // a block, so report it here rather than as a gap.
                let reason = format!("index block: {e}");
                self.out
                    .damage
                    .push(meta_damage(f.index.offset, index_end, reason.clone()));
                e
            }),
        };
        match index {
            Ok(index) => {
                self.out.footer = true;
                self.check_meta(f, footer_at);
                self.index = index;
                let mut units = self.units(f, footer_at);
                // An index naming a block twice gives it two sets of bounds:
                // a reader by key range could follow the wrong one.
                self.out.index_bounds_blocks = units.len() == self.index.handles.len();
                let unindexed = self.unindexed(&units, f);
                if !unindexed.is_empty() {
                    let n = unindexed.len();
                    self.out.damage.push(meta_damage(
                        f.index.offset,
                        index_end,
                        format!(
                            "index block does not name {n} data block(s) that verify; \
                             found without it and exported"
                        ),
                    ));
                    units.extend(unindexed);
                    units.sort_by_key(|u| (u.handle.offset, u.handle.size));
                }
                self.run_units(&units, sink);
            }
            Err(reason) => {
                meta.push((f.index.offset, index_end, format!("index block: {reason}")));
                self.discover(footer_at as usize, false, meta, sink);
            }
        }
    }

    /// Verify the metaindex and the filter blocks it names: no entries live
    /// there, but their damage is still damage.
    fn check_meta(&mut self, f: &Footer, footer_at: u64) {
        let h = f.metaindex;
        if h.end().is_none_or(|e| e > f.index.offset) {
            return;
        }
        let end = h.end().unwrap_or(0);
        let entries = read_block(self.file, h, self.opts.cap)
            .map_err(|e| e.to_string())
            .and_then(|b| parse_metaindex(&b.data));
        match entries {
            Err(reason) => self.out.damage.push(meta_damage(
                h.offset,
                end,
                format!("metaindex block: {reason}"),
            )),
            Ok(entries) => {
                // LevelDB names one filter; a metaindex naming many (or the
                // same bytes many times) must not multiply the work.
                let mut checked: Vec<BlockHandle> = Vec::new();
                for (name, fh) in entries {
                    let Some(fend) = fh.end().filter(|&e| e <= footer_at) else {
                        continue;
                    };
                    let overlaps = checked
                        .iter()
                        .any(|c| fh.offset < c.end().unwrap_or(0) && c.offset < fend);
                    if !name.starts_with(b"filter.") || overlaps || checked.len() >= MAX_FILTERS {
                        continue;
                    }
                    checked.push(fh);
                    if let Err(e) = read_block(self.file, fh, self.opts.cap) {
                        self.out.damage.push(meta_damage(
                            fh.offset,
                            fh.end().unwrap_or(0),
                            format!("filter block: {e}"),
                        ));
                    }
                }
            }
        }
    }

    /// Turn index entries into data block units in file order, rejecting
    /// handles that would re-read bytes already covered.
    fn units(&self, f: &Footer, footer_at: u64) -> Vec<Unit> {
        let mut units: Vec<Unit> = self
            .index
            .handles
            .iter()
            .enumerate()
            .map(|(i, &handle)| Unit {
                handle,
                index_pos: Some(i),
                rejected: None,
            })
            .collect();
        // File order; the same block named twice is checked once.
        units.sort_by_key(|u| (u.handle.offset, u.handle.size));
        units.dedup_by_key(|u| u.handle);
        let mut protected = vec![(f.index, "the index block")];
        // A metaindex handle the footer got wrong protects nothing: no
        // checksum covers the footer, so only a block that verifies there is
        // taken for the metaindex.
        if f.metaindex.end().is_some_and(|e| e <= f.index.offset)
            && read_block(self.file, f.metaindex, self.opts.cap).is_ok()
        {
            protected.push((f.metaindex, "the metaindex block"));
        }
        let mut covered_to = 0u64;
        for u in &mut units {
            let Some(end) = u.handle.end() else { continue };
            if end > self.len() {
                // read_block reports it torn.
                covered_to = covered_to.max(end);
                continue;
            }
            let overlaps = |o: u64, e: u64| u.handle.offset < e && o < end;
            if let Some((_, what)) = protected
                .iter()
                .find(|(h, _)| overlaps(h.offset, h.end().unwrap_or(u64::MAX)))
            {
                u.rejected = Some(format!("index points this data block into {what}"));
            } else if overlaps(footer_at, self.len()) {
                u.rejected = Some("index points this data block into the footer".into());
            } else if u.handle.offset < covered_to {
                u.rejected = Some("index handle overlaps the previous data block".into());
            } else {
                covered_to = end;
            }
        }
        units
    }

    /// Data blocks that verify in the bytes no index entry covers. LevelDB
    /// writes data blocks back to back from offset 0 up to the filter and
    /// meta blocks, so an index it wrote leaves no such bytes but the
    /// filter block; an index that names fewer blocks (a bug, a crafted
    /// file) would otherwise hide entries that are still on disk.
    fn unindexed(&self, units: &[Unit], f: &Footer) -> Vec<Unit> {
        let mut data_end = f.index.offset;
        if f.metaindex.end().is_some_and(|e| e <= f.index.offset) {
            data_end = data_end.min(f.metaindex.offset);
        }
        let mut covered: Vec<(u64, u64)> = units
            .iter()
            .filter(|u| u.rejected.is_none())
            .filter_map(|u| {
                // `end` includes the trailer.
                let end = u.handle.end()?;
                (end <= data_end).then_some((u.handle.offset, end))
            })
            .collect();
        covered.sort_unstable();
        let mut gaps = Vec::new();
        let mut at = 0u64;
        for (s, e) in covered {
            if s > at {
                gaps.push((at, s));
            }
            at = at.max(e);
        }
        if at < data_end {
            gaps.push((at, data_end));
        }
        let mut out = Vec::new();
        for (g0, g1) in gaps {
            // Each gap is searched on its own, so that the search's budgets
            // scale with the gap, not the file: an index naming every other
            // block must not make the work quadratic. Both ends lie inside
            // the file (data_end is at most the index's offset).
            let region = &self.file[g0 as usize..g1 as usize];
            let found = find_blocks_ordered(
                region,
                0,
                self.opts.window,
                self.opts.cap,
                self.opts.ordered,
            );
            out.extend(
                found
                    .into_iter()
                    .filter(|b| b.kind == FoundKind::Data)
                    .map(|b| Unit {
                        handle: BlockHandle {
                            offset: b.handle.offset + g0,
                            size: b.handle.size,
                        },
                        index_pos: None,
                        rejected: None,
                    }),
            );
        }
        out
    }

    /// Verify units in parallel, a bounded batch at a time, and report them
    /// in order. Reporting (the sink is not thread-safe) overlaps with the
    /// verification of the next batch on the pool. Nothing here blocks a
    /// pool thread on a channel: a scope's wait runs pool work instead, so
    /// tables scanned side by side cannot starve each other.
    fn run_units(&mut self, units: &[Unit], sink: &mut dyn EntrySink) {
        // Bounds the decompressed bytes held: the batch being reported and
        // the one being verified.
        const BATCH_BLOCKS: usize = 256;
        const BATCH_BYTES: u64 = 16 << 20;
        let mut batches = Vec::new();
        let mut i = 0;
        while i < units.len() {
            let mut j = i;
            let mut bytes = 0u64;
            while j < units.len() && j - i < BATCH_BLOCKS && bytes < BATCH_BYTES {
                bytes = bytes.saturating_add(units[j].handle.size);
                j += 1;
            }
            batches.push(i..j);
            i = j;
        }
        let (file, cap, ordered) = (self.file, self.opts.cap, self.opts.ordered);
        let keep = sink.wants_entries();
        let verify_batch = |r: std::ops::Range<usize>| -> Vec<Verdict<'a>> {
            units[r]
                .par_iter()
                .map(|u| verify(file, u, cap, ordered, keep))
                .collect()
        };
        let Some(first) = batches.first() else {
            return;
        };
        let mut cur = verify_batch(first.clone());
        for (bi, r) in batches.iter().enumerate() {
            let mut next = None;
            rayon::in_place_scope(|sc| {
                if let Some(nr) = batches.get(bi + 1).cloned() {
                    let (slot, verify_batch) = (&mut next, &verify_batch);
                    sc.spawn(move |_| *slot = Some(verify_batch(nr)));
                }
                for (u, v) in units[r.clone()].iter().zip(cur.drain(..)) {
                    self.report(u, v, sink);
                }
            });
            cur = next.unwrap_or_default();
        }
    }

    fn report(&mut self, u: &Unit, v: Verdict<'_>, sink: &mut dyn EntrySink) {
        let offset = u.handle.offset;
        match v {
            Verdict::Intact { data, summary } => {
                self.out.blocks.intact += 1;
                self.out.entries += summary.entries;
                self.out.intact_blocks.push(u.handle);
                if sink.wants_entries() {
                    emit(&data, offset, |e| sink.intact(e));
                }
                if self.out.index_bounds_blocks && !self.index.bounds(u.index_pos, &summary) {
                    self.out.index_bounds_blocks = false;
                }
                self.note_keys(offset, summary);
            }
            Verdict::Damaged {
                class,
                reason,
                salvage,
            } => {
                self.out.blocks.add(Some(class));
                let (start, end) = self.clip(u.handle);
                let mut d = Damage::new(
                    start,
                    end - start,
                    class,
                    format!("data block at {offset}: {reason}"),
                );
                d.key_range = u.index_pos.map(|i| self.index.key_range(i));
                self.out.damage.push(d);
                if let Some(data) = salvage {
                    emit(&data, offset, |e| sink.unverified(e, &reason));
                }
            }
        }
    }

    fn note_keys(&mut self, offset: u64, s: DataBlockSummary) {
        if s.entries == 0 {
            return;
        }
        let o = &mut self.out;
        o.min_seq = Some(o.min_seq.map_or(s.min_seq, |m| m.min(s.min_seq)));
        o.max_seq = Some(o.max_seq.map_or(s.max_seq, |m| m.max(s.max_seq)));
        let (Some(first), Some(last)) = (
            ikey::parse(&s.first_key).map(|p| p.user_key),
            ikey::parse(&s.last_key).map(|p| p.user_key),
        ) else {
            return;
        };
        if o.smallest_user_key.as_deref().is_none_or(|k| first < k) {
            o.smallest_user_key = Some(first.to_vec());
        }
        if o.largest_user_key.as_deref().is_none_or(|k| last > k) {
            o.largest_user_key = Some(last.to_vec());
        }
        if self.keep_keys {
            self.block_keys
                .push((offset, first.to_vec(), last.to_vec()));
        }
    }

    /// A block's range with its trailer, clipped to the file.
    fn clip(&self, h: BlockHandle) -> (u64, u64) {
        let len = self.len();
        let start = h.offset.min(len);
        let end = h.end().unwrap_or(u64::MAX).min(len);
        (start, end.max(start))
    }

    /// Find blocks in `file[..region_end]` without an index. `torn_tail`: the
    /// footer is absent, so an uncovered tail is an interrupted write.
    fn discover(
        &mut self,
        region_end: usize,
        torn_tail: bool,
        mut meta: Vec<MetaRange>,
        sink: &mut dyn EntrySink,
    ) {
        let region = &self.file[..region_end];
        let found = find_blocks_ordered(
            region,
            0,
            self.opts.window,
            self.opts.cap,
            self.opts.ordered,
        );
        // Filters named by a surviving metaindex are metadata too.
        let mut filters = 0;
        for f in found.iter().filter(|f| f.kind == FoundKind::Meta) {
            let raw = &region[f.start()..f.start() + f.handle.size as usize];
            let Ok(data) = compress::decompress(f.compression, raw, self.opts.cap) else {
                continue;
            };
            for (name, h) in parse_metaindex(&data).unwrap_or_default() {
                if name.starts_with(b"filter.") && filters < MAX_FILTERS {
                    if let Some(end) = h.end() {
                        meta.push((h.offset, end, "filter block".into()));
                        filters += 1;
                    }
                }
            }
        }
        self.keep_keys = true;
        // A block the footer names as index or metaindex is never data, even
        // if it looks like it.
        let is_meta = |f: &&crate::format::table::Found| {
            meta.iter()
                .any(|m| m.0 == f.handle.offset && Some(m.1) == f.handle.end())
        };
        let units: Vec<Unit> = found
            .iter()
            .filter(|f| f.kind == FoundKind::Data && !is_meta(f))
            .map(|f| Unit {
                handle: f.handle,
                index_pos: None,
                rejected: None,
            })
            .collect();
        self.run_units(&units, sink);

        if found.is_empty() {
            let mut d = Damage::new(0, region_end as u64, Class::Garbled, "no table block found");
            d.key_range = Some(KeyRange::default());
            self.out.blocks.garbled += 1;
            self.out.damage.push(d);
            return;
        }
        let mut gaps = Vec::new();
        let mut cursor = 0usize;
        for f in &found {
            if f.start() > cursor {
                gaps.push((cursor, f.start()));
            }
            cursor = f.end();
        }
        if cursor < region_end {
            gaps.push((cursor, region_end));
        } else if torn_tail {
            self.out.damage.push(Damage::new(
                self.len(),
                0,
                Class::Torn,
                "file ends after a complete block: the rest of the table was never written",
            ));
        }
        meta.sort();
        for (g0, g1) in gaps {
            self.gap(g0 as u64, g1 as u64, torn_tail && g1 == region_end, &meta);
        }
    }

    fn gap(&mut self, g0: u64, g1: u64, torn: bool, meta: &[MetaRange]) {
        let touching: Vec<&MetaRange> = meta.iter().filter(|m| m.0 < g1 && g0 < m.1).collect();
        let mut to = g0;
        for m in &touching {
            if m.0 <= to {
                to = to.max(m.1);
            }
        }
        let what: Vec<&str> = touching.iter().map(|m| m.2.as_str()).collect();
        if !torn && to >= g1 && !touching.is_empty() {
            self.out.damage.push(meta_damage(g0, g1, what.join("; ")));
            return;
        }
        let class = if torn { Class::Torn } else { Class::Garbled };
        let mut reason = if torn {
            "table cut short: no complete block from here to the end of the file".to_string()
        } else {
            "no valid block in this range".to_string()
        };
        if !what.is_empty() {
            reason = format!("{reason} (it includes the {})", what.join("; "));
        }
        // Neighbouring intact data blocks bound the lost keys, inclusively.
        // block_keys is in file order (blocks are reported in order).
        let k = &self.block_keys;
        let before = k
            .partition_point(|b| b.0 < g0)
            .checked_sub(1)
            .map(|i| &k[i]);
        let after = k.get(k.partition_point(|b| b.0 < g1));
        let mut d = Damage::new(g0, g1 - g0, class, reason);
        d.key_range = Some(KeyRange {
            first: before.map(|b| b.2.clone()),
            first_exclusive: false,
            last: after.map(|b| b.1.clone()),
        });
        self.out.blocks.add(Some(class));
        self.out.damage.push(d);
    }
}

/// A verified index block: each data block's handle and, when kept (see
/// [`parse_index`]), its separator, all separators in one buffer.
#[derive(Default)]
struct Index {
    handles: Vec<BlockHandle>,
    separators: Vec<Option<std::ops::Range<usize>>>,
    bytes: Vec<u8>,
}

impl Index {
    fn separator(&self, i: usize) -> Option<&[u8]> {
        let r = self.separators.get(i)?.clone()?;
        self.bytes.get(r)
    }

    /// Whether the block at index position `pos` (`None`: found without
    /// the index) holds only user keys between the separators around it.
    fn bounds(&self, pos: Option<usize>, s: &DataBlockSummary) -> bool {
        let Some(i) = pos else { return false };
        if s.entries == 0 {
            return true;
        }
        let lo = match i.checked_sub(1) {
            None => None,
            Some(p) => match self.separator(p) {
                Some(k) => Some(ikey::user_key(k)),
                None => return false,
            },
        };
        let Some(hi) = self.separator(i).map(ikey::user_key) else {
            return false;
        };
        let (first, last) = (ikey::user_key(&s.first_key), ikey::user_key(&s.last_key));
        lo.is_none_or(|lo| lo <= first) && last <= hi
    }

    /// The keys the data block at index position `i` held: from the
    /// previous separator's user key to its own. The lower end is exclusive
    /// only when the previous separator was shortened by LevelDB (sequence
    /// 2^56-1, strictly between two user keys).
    fn key_range(&self, i: usize) -> KeyRange {
        let prev = i.checked_sub(1).and_then(|p| self.separator(p));
        KeyRange {
            first: prev.map(user_key),
            first_exclusive: prev.is_some_and(|p| {
                ikey::parse(p).is_some_and(|k| k.seq == MAX_SEQUENCE && k.kind == Kind::Put)
            }),
            last: self.separator(i).map(user_key),
        }
    }
}

/// Parse a verified index block: internal-key separators in order, each
/// value exactly one block handle.
///
/// Separators are kept (for key ranges) only up to as many bytes as the
/// block holds, or 1 MiB: LevelDB writes every index key whole (restart
/// interval 1), so its indexes always fit, but prefix compression lets a few
/// bytes per entry each claim to share a huge key, and copying every one
/// would take gigabytes (found by the `table_footer` fuzz target). A
/// separator not kept leaves the key ranges it bounds open on that side,
/// which over-reports a loss and never under-reports it.
fn parse_index(contents: &[u8], ordered: bool) -> Result<Index, String> {
    let block = Block::new(contents).map_err(|e| e.to_string())?;
    let mut it = block.iter();
    let mut out = Index::default();
    let mut prev: Vec<u8> = Vec::new();
    let budget = contents.len().max(1 << 20);
    while let Some(r) = it.next_shared() {
        let (shared, k, v) = r.map_err(|e| e.to_string())?;
        let n = out.handles.len();
        if ikey::parse(k).is_none() {
            return Err(format!("index entry {n} key is not an internal key"));
        }
        if ordered && n > 0 && ikey::compare_after(&prev, k, shared) != Ordering::Less {
            return Err(format!("index entry {n} is out of key order"));
        }
        let h = BlockHandle::decode_exact(v)
            .ok_or_else(|| format!("index entry {n} is not a block handle"))?;
        let at = out.bytes.len();
        let kept = (k.len() <= budget - at).then(|| {
            out.bytes.extend_from_slice(k);
            at..at + k.len()
        });
        out.handles.push(h);
        out.separators.push(kept);
        // As in `check_data_block_with`: only the changed bytes are copied.
        prev.truncate(shared);
        prev.extend_from_slice(&k[shared..]);
    }
    Ok(out)
}

thread_local! {
    /// Where a worker decompresses blocks whose entries nobody wants.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Verify one unit. With `keep` false (a scan that only counts), an intact
/// block's contents are checked in a per-thread buffer and not kept: no
/// allocation per block. Contents of a block that fails a check are kept
/// either way, for its unverified entries.
fn verify<'a>(file: &'a [u8], u: &Unit, cap: usize, ordered: bool, keep: bool) -> Verdict<'a> {
    if let Some(r) = &u.rejected {
        return Verdict::Damaged {
            class: Class::Garbled,
            reason: r.clone(),
            salvage: None,
        };
    }
    if !keep {
        let checked = SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let r = match read_block_into(file, u.handle, cap, &mut scratch) {
                Ok(data) => Some(
                    check_data_block_with(data, ordered)
                        .map_err(|e| (e.to_string(), data.to_vec())),
                ),
                Err(_) => None,
            };
            // A rare huge block does not pin its size on the thread.
            if scratch.capacity() > 1 << 20 {
                *scratch = Vec::new();
            }
            r
        });
        match checked {
            Some(Ok(summary)) => {
                return Verdict::Intact {
                    data: Cow::Borrowed(&[]),
                    summary,
                }
            }
            Some(Err((reason, data))) => {
                return Verdict::Damaged {
                    class: Class::Garbled,
                    reason,
                    salvage: Some(Cow::Owned(data)),
                }
            }
            // The fault path below says why, with read_block's salvage.
            None => {}
        }
    }
    match read_block(file, u.handle, cap) {
        Ok(b) => match check_data_block_with(&b.data, ordered) {
            Ok(summary) => Verdict::Intact {
                data: b.data,
                summary,
            },
            Err(e) => Verdict::Damaged {
                class: Class::Garbled,
                reason: e.to_string(),
                salvage: Some(b.data),
            },
        },
        Err(fault) => {
            // Cut off by the end of the file: torn; present but wrong
            // (checksum, codec): garbled.
            let class = if fault.runs_past_end() {
                Class::Torn
            } else {
                Class::Garbled
            };
            let reason = fault.to_string();
            let salvage = match fault {
                crate::format::table::BlockFault::ChecksumMismatch { salvage, .. } => salvage,
                _ => None,
            };
            Verdict::Damaged {
                class,
                reason,
                salvage,
            }
        }
    }
}

/// Hand every entry of a block that parses to `f`, stopping at the first
/// malformed entry; keys that are not internal keys are skipped.
fn emit(data: &[u8], offset: u64, mut f: impl FnMut(&Entry<'_>)) {
    let Ok(block) = Block::new(data) else { return };
    let mut it = block.iter();
    while let Some(Ok((k, v))) = it.next() {
        if let Some(p) = ikey::parse(k) {
            f(&Entry {
                seq: p.seq,
                kind: p.kind,
                key: p.user_key,
                value: if p.kind == Kind::Put { v } else { &[] },
                offset,
            });
        }
    }
}

/// Sort damage by offset and merge ranges that overlap or touch. A merged
/// range keeps the first few distinct reasons and counts the rest, so its
/// reason stays short however many blocks it swallowed.
fn merge(mut damage: Vec<Damage>) -> Vec<Damage> {
    const SHOWN: usize = 3;
    damage.sort_by_key(|d| (d.offset, d.length));
    // (merged range, its distinct reasons up to SHOWN, reasons not shown)
    let mut out: Vec<(Damage, Vec<String>, usize)> = Vec::with_capacity(damage.len());
    for mut d in damage {
        match out.last_mut() {
            Some((last, reasons, more)) if d.offset <= last.end() => {
                let end = last.end().max(d.end());
                last.length = end - last.offset;
                if d.class == Class::Torn {
                    last.class = Class::Torn;
                }
                let reason = std::mem::take(&mut d.reason);
                if !reasons.contains(&reason) {
                    if reasons.len() < SHOWN {
                        reasons.push(reason);
                    } else {
                        *more += 1;
                    }
                }
                last.lost_entries = match (last.lost_entries, d.lost_entries) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                last.key_range = match (last.key_range.take(), d.key_range) {
                    (Some(a), Some(b)) => Some(KeyRange {
                        first: a.first,
                        first_exclusive: a.first_exclusive,
                        last: b.last,
                    }),
                    (a, b) => a.or(b),
                };
            }
            _ => {
                let reasons = vec![std::mem::take(&mut d.reason)];
                out.push((d, reasons, 0));
            }
        }
    }
    out.into_iter()
        .map(|(mut d, reasons, more)| {
            d.reason = reasons.join("; ");
            if more > 0 {
                d.reason = format!("{}; and {more} more", d.reason);
            }
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
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

    fn noise(n: usize, mut x: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
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
}
