//! Per-block verdicts: data blocks checked in parallel, reported in file
//! order (intact entries to the sink, damage with its key range), and the
//! damaged ranges merged at the end.

use super::*;
use rayon::prelude::*;
use std::cell::RefCell;

impl<'a> Scanner<'a> {
    /// Verify units in parallel, a bounded batch at a time, and report them
    /// in order. Reporting (the sink is not thread-safe) overlaps with the
    /// verification of the next batch on the pool. Nothing here blocks a
    /// pool thread on a channel: a scope's wait runs pool work instead, so
    /// tables scanned side by side cannot starve each other.
    pub(super) fn run_units(&mut self, units: &[Unit], sink: &mut dyn EntrySink) {
        // Bounds the decompressed bytes held: the batch being reported and
        // the one being verified. Counted as the most each block can
        // decompress to, not its stored size: 16 MiB of zlib blocks can
        // hold 16 GiB.
        const BATCH_BLOCKS: usize = 256;
        const BATCH_BYTES: u64 = 16 << 20;
        let mut batches = Vec::new();
        let mut i = 0;
        while i < units.len() {
            let mut j = i;
            let mut bytes = 0u64;
            while j < units.len() && j - i < BATCH_BLOCKS && bytes < BATCH_BYTES {
                let h = units[j].handle;
                let bound = crate::format::table::decompressed_bound_with(
                    self.file,
                    h,
                    self.opts.cap,
                    self.opts.codecs,
                );
                bytes = bytes.saturating_add(bound.max(h.size));
                j += 1;
            }
            batches.push(i..j);
            i = j;
        }
        let (file, cap, ordered) = (self.file, self.opts.cap, self.opts.ordered);
        let codecs = self.opts.codecs;
        let keep = sink.wants_entries();
        let verify_batch = |r: std::ops::Range<usize>| -> Vec<Verdict<'a>> {
            units[r]
                .par_iter()
                .map(|u| verify(file, u, cap, ordered, keep, codecs))
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

    pub(super) fn report(&mut self, u: &Unit, v: Verdict<'_>, sink: &mut dyn EntrySink) {
        let offset = u.handle.offset;
        match v {
            Verdict::Intact { data, summary } => {
                self.out.blocks.intact += 1;
                self.out.entries += summary.entries;
                self.out.intact_blocks.push(u.handle);
                if sink.wants_entries() {
                    emit(&data, offset, |e| sink.intact(e));
                }
                if self.observed() {
                    let mut l = TableUnit::block(u.handle, UnitRole::Data, self.file);
                    l.discovered = u.index_pos.is_none();
                    l.entries = Some(summary.entries);
                    l.first_key = Some(summary.first_key.clone());
                    l.last_key = Some(summary.last_key.clone());
                    self.publish(l);
                }
                if self.out.index_bounds_blocks && !self.index.bounds(u.index_pos, &summary) {
                    self.out.index_bounds_blocks = false;
                }
                self.note_order(&summary);
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
                if self.observed() {
                    let mut l = TableUnit::block(u.handle, UnitRole::Data, self.file);
                    l.discovered = u.index_pos.is_none();
                    l.damage = Some((class, reason.clone()));
                    self.publish(l);
                }
                self.out.damage.push(d);
                if let Some(data) = salvage {
                    emit(&data, offset, |e| sink.unverified(e, &reason));
                }
            }
        }
    }

    /// Blocks in the order they are reported: each block's first key after
    /// the last key of the intact block before it (the order inside a block
    /// was checked with it, when `ordered`).
    fn note_order(&mut self, s: &DataBlockSummary) {
        if s.entries == 0 || !self.out.blocks_in_order {
            return;
        }
        let last = self.last_intact_key.get_or_insert_with(Vec::new);
        if !last.is_empty() && ikey::compare(last, &s.first_key) != Ordering::Less {
            self.out.blocks_in_order = false;
        }
        last.clear();
        last.extend_from_slice(&s.last_key);
    }

    pub(super) fn note_keys(&mut self, offset: u64, s: DataBlockSummary) {
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
    pub(super) fn clip(&self, h: BlockHandle) -> (u64, u64) {
        let len = self.len();
        let start = h.offset.min(len);
        let end = h.end().unwrap_or(u64::MAX).min(len);
        (start, end.max(start))
    }
}

thread_local! {
    /// Where a worker decompresses blocks whose entries nobody wants.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Verify one unit. With `keep` false (a scan that only counts), an intact
/// block's contents are checked in a per-thread buffer and not kept: no
/// allocation per block. Contents of a block that fails a check are kept
/// either way, for its unverified entries.
pub(super) fn verify<'a>(
    file: &'a [u8],
    u: &Unit,
    cap: usize,
    ordered: bool,
    keep: bool,
    codecs: crate::format::compress::Codecs,
) -> Verdict<'a> {
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
            let r = match crate::format::table::read_block_into_with(
                file,
                u.handle,
                cap,
                &mut scratch,
                codecs,
            ) {
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
    match crate::format::table::read_block_with(file, u.handle, cap, codecs) {
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
pub(super) fn emit(data: &[u8], offset: u64, mut f: impl FnMut(&Entry<'_>)) {
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
                expiry: p.expiry,
                cf: None,
            });
        }
    }
}

/// Sort damage by offset and merge ranges that overlap or touch. A merged
/// range keeps the first few distinct reasons and counts the rest, so its
/// reason stays short however many blocks it swallowed.
pub(super) fn merge(mut damage: Vec<Damage>) -> Vec<Damage> {
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
