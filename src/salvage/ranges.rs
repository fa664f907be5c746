//! The latest view merged one user-key range at a time, ranges side by
//! side on the pool and appended in key order; tables that fail on their
//! second read are their own problem.

use super::latest::{self, Item, SortedSource, TableSource, VecSource};
use super::lines::{Chunks, Lines};
use super::ndjson::Marks;
use crate::format::batch::Kind;
use crate::scan::store::{FileScan, InputFile};
use crate::scan::table::source;
use crate::vocab::FileState;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io;

/// Whether a damaged unit held a newer write of `k`'s key: the latest
/// view's `suspect_newer`.
pub(super) fn newer_unverified(
    newest_unverified: &HashMap<Vec<u8>, u64>,
    k: &latest::ItemRef<'_>,
) -> bool {
    newest_unverified
        .get(super::export::suspect_key(k.cf, k.key).as_ref())
        .is_some_and(|&s| s > k.seq)
}

/// Tables that failed on their second read (they shrank or changed since
/// the scan), by input index: that file's problem, recorded, never the
/// run's.
pub(super) type Late = std::sync::Mutex<Vec<(usize, String)>>;

pub(super) fn note_late(late: &Late, file: usize, e: &io::Error) {
    late.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((file, e.to_string()));
}

/// A table's stream that ends, noted in `late`, where reading it fails.
pub(super) struct Tolerant<'a, S> {
    pub(super) inner: S,
    pub(super) file: usize,
    pub(super) late: &'a Late,
    pub(super) failed: bool,
}

impl<S: SortedSource> SortedSource for Tolerant<'_, S> {
    fn current(&self) -> Option<latest::ItemRef<'_>> {
        if self.failed {
            None
        } else {
            self.inner.current()
        }
    }
    fn advance(&mut self) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        if let Err(e) = self.inner.advance() {
            self.failed = true;
            note_late(self.late, self.file, &e);
        }
        Ok(())
    }
}

/// Open table `i` again for the merge; `None` (noted in `late`) when it no
/// longer opens.
pub(super) fn reopen_table<'a, S: SortedSource + 'a>(
    late: &'a Late,
    i: usize,
    open: io::Result<S>,
    orphan: bool,
) -> Option<Box<dyn SortedSource + 'a>> {
    match open {
        Ok(t) => Some(latest::tiered(
            Tolerant {
                inner: t,
                file: i,
                late,
                failed: false,
            },
            orphan,
        )),
        Err(e) => {
            note_late(late, i, &e);
            None
        }
    }
}

/// What merging a part of the latest view needs to read.
pub(super) struct LatestCtx<'a> {
    pub(super) late: &'a Late,
    pub(super) inputs: &'a [InputFile],
    pub(super) states: &'a [FileState],
    pub(super) scans: &'a [FileScan],
    pub(super) newest_unverified: &'a HashMap<Vec<u8>, u64>,
}

/// Table bytes per key range of the latest view: about one LevelDB table,
/// so that a batch of ranges merged side by side holds a few tables' worth
/// of lines.
pub(super) const RANGE_BYTES: u64 = 2 << 20;

/// A table read whole (its index does not bound its blocks) is read once per
/// range it meets; above this many ranges the view is merged in one piece.
pub(super) const MAX_WHOLE_READS: usize = 8;

/// The latest view (no `--rebuild`), merged one key range at a time.
///
/// It is the merge of every table's sorted stream with the logs' newest
/// entries. A store's levels each span the whole key space, so the key
/// space is cut instead, at tables' first keys into ranges of about
/// [`RANGE_BYTES`] of tables; each range is the merge of the sources'
/// entries in it, where a table reads only the blocks its index says can
/// hold keys there. Ranges are merged side by side on the pool and appended
/// in key order: the same lines, in the same order, as one merge of
/// everything. `spans` are the tables to merge with the user keys their
/// intact entries span. Returns how many keys were flagged
/// `suspect_newer`, or `None` (nothing written, `logs` untouched) when a
/// table without a usable index would have to be read whole too many
/// times: the caller then merges in one piece.
pub(super) fn latest_in_ranges(
    ctx: &LatestCtx<'_>,
    logs: &mut Vec<Item>,
    spans: &[(usize, Vec<u8>, Vec<u8>)],
    records: &mut Lines,
) -> io::Result<Option<u64>> {
    // Marks along the key space, each with the bytes of entries up to it
    // since the source's mark before: the tables' indexes, sampled, and the
    // logs' entries. Ranges are cut where the bytes add up to RANGE_BYTES,
    // so that none holds much more than that, however the sources overlap.
    let step = RANGE_BYTES / 4;
    let mut marks: Vec<(Vec<u8>, u64)> = Vec::new();
    for (i, first, _) in spans {
        let (f, s) = (&ctx.inputs[*i], &ctx.scans[*i]);
        let sampled = if s.index_bounds_blocks {
            crate::scan::open::open_store_file(&f.path).and_then(|(file, _)| {
                source::index_marks(&file, &f.name, f.size, &s.intact_blocks, step, s.codecs)
            })
        } else {
            Ok(Vec::new())
        };
        if let (true, Ok(m)) = (s.index_bounds_blocks, &sampled) {
            marks.extend(m.iter().cloned());
        } else {
            // No index that bounds its blocks, or one that no longer reads
            // (the table fails again, and is noted, when its ranges are
            // merged): one mark at its first key.
            marks.push((first.clone(), f.size));
        }
    }
    let mut bytes = 0u64;
    for it in logs.iter() {
        bytes += (it.key.len() + it.value.len()) as u64;
        if bytes >= step {
            marks.push((it.key.clone(), bytes));
            bytes = 0;
        }
    }
    marks.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut cuts: Vec<Vec<u8>> = Vec::new();
    let mut acc = 0u64;
    for (k, w) in marks {
        acc = acc.saturating_add(w);
        if acc >= RANGE_BYTES && cuts.last() != Some(&k) {
            cuts.push(k);
            acc = 0;
        }
    }
    let ranges: Vec<source::KeyRange> = (0..=cuts.len())
        .map(|r| source::KeyRange {
            lo: r.checked_sub(1).map(|p| cuts[p].clone()),
            hi: cuts.get(r).cloned(),
        })
        .collect();
    // Range `r` starts at cut `r-1`: the range holding a key is the number
    // of cuts at or below it.
    let range_of = |k: &[u8]| cuts.partition_point(|c| c.as_slice() <= k);
    for (i, first, last) in spans {
        if !ctx.scans[*i].index_bounds_blocks && range_of(last) - range_of(first) >= MAX_WHOLE_READS
        {
            return Ok(None);
        }
    }
    // Tables by first key, swept along the ranges in order: a range's
    // tables are those begun before its end and not ended before its start.
    let mut by_first: Vec<&(usize, Vec<u8>, Vec<u8>)> = spans.iter().collect();
    by_first.sort_by(|a, b| a.1.cmp(&b.1));
    let mut by_first = by_first.into_iter().peekable();
    let mut active: Vec<&(usize, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut logs = std::mem::take(logs).into_iter().peekable();
    let per_batch = 2 * rayon::current_num_threads();
    let mut ranges = ranges.into_iter().peekable();
    // The next batch of ranges, each with the log entries and the tables
    // (input indices, in input order) that meet it.
    let mut next_batch = || -> Vec<(source::KeyRange, Vec<Item>, Vec<usize>)> {
        ranges
            .by_ref()
            .take(per_batch)
            .map(|r| {
                let mut mine = Vec::new();
                while let Some(it) = logs.next_if(|it| r.contains(&it.key)) {
                    mine.push(it);
                }
                while let Some(t) =
                    by_first.next_if(|t| r.hi.as_deref().is_none_or(|hi| t.1.as_slice() < hi))
                {
                    active.push(t);
                }
                active.retain(|t| r.lo.as_deref().is_none_or(|lo| lo <= t.2.as_slice()));
                let mut tables: Vec<usize> = active.iter().map(|t| t.0).collect();
                tables.sort_unstable();
                (r, mine, tables)
            })
            .collect()
    };
    let merge_batch = |batch: Vec<(source::KeyRange, Vec<Item>, Vec<usize>)>| {
        batch
            .into_par_iter()
            .map(|(range, logs, tables)| {
                let mut lines = Chunks::default();
                let n = merge_range(ctx, range, logs, &tables, &mut lines)?;
                Ok((lines, n))
            })
            .collect::<Vec<io::Result<(Chunks, u64)>>>()
    };
    // Appending can wait on the writer (the disk); the next batch is merged
    // on the pool meanwhile, so that the cores keep busy.
    let mut suspect = 0;
    let mut done = merge_batch(next_batch());
    while !done.is_empty() {
        let batch = next_batch();
        let mut merged = Vec::new();
        let mut appended: io::Result<()> = Ok(());
        rayon::in_place_scope(|sc| {
            if !batch.is_empty() {
                let (slot, merge_batch) = (&mut merged, &merge_batch);
                sc.spawn(move |_| *slot = merge_batch(batch));
            }
            for d in done.drain(..) {
                match d {
                    Ok((lines, n)) => {
                        records.append(lines);
                        suspect += n;
                    }
                    Err(e) => {
                        appended = Err(e);
                        break;
                    }
                }
            }
        });
        appended?;
        done = merged;
    }
    Ok(Some(suspect))
}

/// The latest view of one key range, as lines. Sources are the logs'
/// entries, then the tables in input order: the one merge breaks ties
/// between sources by that order too.
pub(super) fn merge_range(
    ctx: &LatestCtx<'_>,
    range: source::KeyRange,
    logs: Vec<Item>,
    tables: &[usize],
    lines: &mut Chunks,
) -> io::Result<u64> {
    // Orphans' entries are in `logs` only when no orphan table was read
    // whole (see the caller), so one source of live entries is enough.
    let mut sources: Vec<Box<dyn SortedSource>> = vec![Box::new(VecSource::new(logs))];
    for &i in tables {
        let (f, s) = (&ctx.inputs[i], &ctx.scans[i]);
        let t = if s.index_bounds_blocks {
            TableSource::open_range(
                &f.path,
                &f.name,
                i as u32,
                f.size,
                &s.intact_blocks,
                range.clone(),
                s.codecs,
            )
        } else {
            TableSource::open(
                &f.path,
                &f.name,
                i as u32,
                s.intact_blocks.clone(),
                s.codecs,
            )
            .map(|t| t.restrict(range.clone()))
        };
        let orphan = ctx.states[i] == FileState::Orphan;
        sources.extend(reopen_table(ctx.late, i, t, orphan));
    }
    let mut suspect = 0;
    latest::merge(sources, |k| {
        if k.kind == Kind::Delete {
            return Ok(());
        }
        let flagged = newer_unverified(ctx.newest_unverified, &k);
        suspect += u64::from(flagged);
        let marks = Marks {
            suspect_newer: flagged,
            from_orphan: ctx.states[k.file as usize] == FileState::Orphan,
            ..Marks::default()
        };
        lines.push(&k.entry(), &ctx.inputs[k.file as usize].name, marks, None);
        Ok(())
    })?;
    Ok(suspect)
}
