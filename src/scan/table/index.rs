//! Index mode: the footer's handles, the index block and the metaindex,
//! and what they say about the data blocks: their handles in file order
//! (rejecting handles that overlap what is already covered), the data
//! blocks the index leaves out, and the key bounds its separators give
//! each block.

use super::*;

impl Scanner<'_> {
    /// A footer with a valid magic: use its index if that verifies, else
    /// find the blocks without it.
    pub(super) fn with_footer(&mut self, f: &Footer, footer_at: u64, sink: &mut dyn EntrySink) {
        // LevelDB writes the metaindex, then the index, then the footer, so
        // handles that say otherwise are the footer's bytes gone wrong.
        let meta_end = f.metaindex.end().filter(|&e| e <= f.index.offset);
        let meta_fits = meta_end.is_some();
        let mut meta: Vec<MetaRange> = Vec::new();
        if let Some(end) = meta_end {
            meta.push((f.metaindex.offset, end, "metaindex block".into()));
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
        // Checked above: the index ends where the footer begins.
        let index_end = footer_at;
        let index = match read_block_with(self.file, f.index, self.opts.cap, self.opts.codecs) {
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
                if self.observed() {
                    let mut u = TableUnit::block(f.index, UnitRole::Index, self.file);
                    let n = index.handles.len();
                    u.entries = Some(n as u64);
                    if n > 0 {
                        u.first_key = index.separator(0).map(<[u8]>::to_vec);
                        u.last_key = index.separator(n - 1).map(<[u8]>::to_vec);
                    }
                    self.publish(u);
                }
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
    pub(super) fn check_meta(&mut self, f: &Footer, footer_at: u64) {
        let h = f.metaindex;
        let Some(end) = h.end().filter(|&e| e <= f.index.offset) else {
            return;
        };
        let entries = read_block_with(self.file, h, self.opts.cap, self.opts.codecs)
            .map_err(|e| e.to_string())
            .and_then(|b| parse_metaindex(&b.data));
        match entries {
            Err(reason) => self.out.damage.push(meta_damage(
                h.offset,
                end,
                format!("metaindex block: {reason}"),
            )),
            Ok(entries) => {
                if self.observed() {
                    let mut u = TableUnit::block(h, UnitRole::Metaindex, self.file);
                    u.entries = Some(entries.len() as u64);
                    u.names = entries.iter().map(|(n, _)| n.clone()).collect();
                    self.publish(u);
                }
                // LevelDB names one filter; a metaindex naming many (or the
                // same bytes many times) must not multiply the work.
                let mut checked: Vec<BlockHandle> = Vec::new();
                for (name, fh) in entries {
                    let Some(fend) = fh.end().filter(|&e| e <= footer_at) else {
                        continue;
                    };
                    let overlaps = checked
                        .iter()
                        .any(|c| c.end().is_some_and(|e| fh.offset < e) && c.offset < fend);
                    if overlaps || checked.len() >= MAX_FILTERS {
                        continue;
                    }
                    checked.push(fh);
                    // Filters, and the other meta blocks a fork adds (Basho's
                    // stats.sst1): no entries, but checksummed like any block.
                    let (role, what) = if name.starts_with(b"filter.") {
                        (UnitRole::Filter, "filter block".to_string())
                    } else {
                        let n = crate::vocab::text::printable_bytes(&name);
                        (UnitRole::Meta, format!("meta block {n}"))
                    };
                    match read_block_with(self.file, fh, self.opts.cap, self.opts.codecs) {
                        Err(e) => self.out.damage.push(meta_damage(
                            fh.offset,
                            fend,
                            format!("{what}: {e}"),
                        )),
                        Ok(_) => self.publish(TableUnit::block(fh, role, self.file)),
                    }
                }
            }
        }
    }

    /// Turn index entries into data block units in file order, rejecting
    /// handles that would re-read bytes already covered.
    pub(super) fn units(&self, f: &Footer, footer_at: u64) -> Vec<Unit> {
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
            && read_block_with(self.file, f.metaindex, self.opts.cap, self.opts.codecs).is_ok()
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
    pub(super) fn unindexed(&mut self, units: &[Unit], f: &Footer) -> Vec<Unit> {
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
        // Between the data and the index LevelDB puts only the metaindex.
        // When the footer names it elsewhere (a damaged handle), what lies
        // there is still listed, though it holds nothing to export.
        if self.observed() && data_end < f.index.offset {
            let (g0, g1) = (data_end as usize, f.index.offset as usize);
            let found = find_blocks_with(
                &self.file[g0..g1],
                0,
                self.opts.window,
                self.opts.cap,
                self.opts.ordered,
                self.opts.codecs,
            );
            for mut b in found {
                b.handle.offset += g0 as u64;
                // A data block the index names is listed with its verdict.
                if !units.iter().any(|u| u.handle.offset == b.handle.offset) {
                    self.publish_found(&b);
                }
            }
        }
        let mut out = Vec::new();
        for (g0, g1) in gaps {
            // Each gap is searched on its own, so that the search's budgets
            // scale with the gap, not the file: an index naming every other
            // block must not make the work quadratic. Both ends lie inside
            // the file (data_end is at most the index's offset).
            let region = &self.file[g0 as usize..g1 as usize];
            let found = find_blocks_with(
                region,
                0,
                self.opts.window,
                self.opts.cap,
                self.opts.ordered,
                self.opts.codecs,
            );
            for mut b in found {
                b.handle.offset += g0;
                if b.kind == FoundKind::Data {
                    out.push(Unit {
                        handle: b.handle,
                        index_pos: None,
                        rejected: None,
                    });
                } else {
                    // The filter block, as a rule: it lies between the data
                    // blocks and the metaindex.
                    self.publish_found(&b);
                }
            }
        }
        out
    }
}

/// A verified index block: each data block's handle and, when kept (see
/// [`parse_index`]), its separator, all separators in one buffer.
#[derive(Default)]
pub(super) struct Index {
    pub(super) handles: Vec<BlockHandle>,
    pub(super) separators: Vec<Option<std::ops::Range<usize>>>,
    pub(super) bytes: Vec<u8>,
}

impl Index {
    pub(super) fn separator(&self, i: usize) -> Option<&[u8]> {
        let r = self.separators.get(i)?.clone()?;
        self.bytes.get(r)
    }

    /// Whether the block at index position `pos` (`None`: found without
    /// the index) holds only user keys between the separators around it.
    pub(super) fn bounds(&self, pos: Option<usize>, s: &DataBlockSummary) -> bool {
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
    pub(super) fn key_range(&self, i: usize) -> KeyRange {
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
pub(super) fn parse_index(contents: &[u8], ordered: bool) -> Result<Index, String> {
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
