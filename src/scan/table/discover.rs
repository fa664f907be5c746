//! Discovery mode: with no usable footer or index, the blocks found by
//! their trailers alone, and every range no block covers reported as torn,
//! garbled or lost metadata.

use super::*;

impl Scanner<'_> {
    /// Find blocks in `file[..region_end]` without an index. `torn_tail`: the
    /// footer is absent, so an uncovered tail is an interrupted write.
    pub(super) fn discover(
        &mut self,
        region_end: usize,
        torn_tail: bool,
        mut meta: Vec<MetaRange>,
        sink: &mut dyn EntrySink,
    ) {
        let region = &self.file[..region_end];
        let found = find_blocks_with(
            region,
            0,
            self.opts.window,
            self.opts.cap,
            self.opts.ordered,
            self.opts.codecs,
        );
        // Filters named by a surviving metaindex are metadata too; so are
        // the other blocks it names (Basho's stats.sst1), which discovery
        // does not recognise by their shape: one that verifies where the
        // metaindex says covers its bytes.
        let mut filters = 0;
        let mut named_meta: Vec<BlockHandle> = Vec::new();
        for f in found.iter().filter(|f| f.kind == FoundKind::Meta) {
            let raw = &region[f.start()..f.start() + f.handle.size as usize];
            let Ok(data) =
                compress::decompress_with(f.compression, raw, self.opts.cap, self.opts.codecs)
            else {
                continue;
            };
            for (name, h) in parse_metaindex(&data).unwrap_or_default() {
                if name.starts_with(b"filter.") && filters < MAX_FILTERS {
                    if let Some(end) = h.end() {
                        meta.push((h.offset, end, "filter block".into()));
                        filters += 1;
                    }
                } else if named_meta.len() < MAX_FILTERS
                    && h.end().is_some_and(|e| e <= region_end as u64)
                    && read_block_with(region, h, self.opts.cap, self.opts.codecs).is_ok()
                    && !named_meta.contains(&h)
                {
                    named_meta.push(h);
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
        if self.observed() {
            for f in found
                .iter()
                .filter(|f| f.kind != FoundKind::Data || is_meta(f))
            {
                self.publish_found(f);
            }
            for &h in &named_meta {
                self.publish(crate::scan::table::layout::TableUnit::block(
                    h,
                    UnitRole::Meta,
                    self.file,
                ));
            }
        }

        if found.is_empty() {
            let mut d = Damage::new(0, region_end as u64, Class::Garbled, "no table block found");
            d.key_range = Some(KeyRange::default());
            self.out.blocks.garbled += 1;
            self.out.damage.push(d);
            return;
        }
        let mut gaps = Vec::new();
        let mut cursor = 0usize;
        let mut spans: Vec<(usize, usize)> = found.iter().map(|f| (f.start(), f.end())).collect();
        // Verified named meta blocks: both ends checked against the region.
        spans.extend(named_meta.iter().filter_map(|h| {
            Some((
                usize::try_from(h.offset).ok()?,
                usize::try_from(h.end()?).ok()?,
            ))
        }));
        spans.sort_unstable();
        for (start, end) in spans {
            if start > cursor {
                gaps.push((cursor, start));
            }
            cursor = cursor.max(end);
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

    pub(super) fn gap(&mut self, g0: u64, g1: u64, torn: bool, meta: &[MetaRange]) {
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
