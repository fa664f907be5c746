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
/// so that the ranges merged side by side hold a few tables' worth of
/// lines.
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
    spans: &[Span],
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
    let mut by_first: Vec<&Span> = spans.iter().collect();
    by_first.sort_by(|a, b| a.1.cmp(&b.1));
    let turn = std::sync::Mutex::new(Turn {
        jobs: Jobs {
            ranges: ranges.into_iter(),
            logs: std::mem::take(logs).into_iter().peekable(),
            by_first: by_first.into_iter().peekable(),
            active: Vec::new(),
        },
        records,
        started: 0,
        next: 0,
        ready: std::collections::BTreeMap::new(),
        suspect: 0,
        error: None,
    });
    // Ranges are merged on the pool a few more at a time than there are
    // threads, and appended in key order by whichever task finds that its
    // range's turn has come; each range appended lets one more start. No
    // range waits for a batch's slowest (batches of ranges, each waited
    // for, kept one of two cores idle a fifth of the time), at most
    // `in_flight` ranges' lines are held, and in FIFO order the oldest
    // range is the next a free thread takes (taken newest first, a range
    // waited long for its turn and `--view latest` took 6% longer than in
    // batches). More in flight measured slower: 3 or 4 on two cores, 0.89
    // s; 10, 0.93; 16, 0.95.
    let in_flight = rayon::current_num_threads() + 2;
    rayon::in_place_scope_fifo(|sc| {
        let mut t = lock(&turn);
        for _ in 0..in_flight {
            t.start(sc, ctx, &turn);
        }
    });
    let t = turn.into_inner().unwrap_or_else(|p| p.into_inner());
    match t.error {
        Some(e) => Err(e),
        None => Ok(Some(t.suspect)),
    }
}

/// A table to merge with the user keys its intact entries span.
type Span = (usize, Vec<u8>, Vec<u8>);

/// The ranges still to merge, each handed out with what meets it.
struct Jobs<'s> {
    ranges: std::vec::IntoIter<source::KeyRange>,
    logs: std::iter::Peekable<std::vec::IntoIter<Item>>,
    by_first: std::iter::Peekable<std::vec::IntoIter<&'s Span>>,
    /// The tables begun before the last range handed out ended.
    active: Vec<&'s Span>,
}

/// One range to merge: its key range, the log entries in it, and the
/// tables (input indices, in input order) that meet it.
type Job = (source::KeyRange, Vec<Item>, Vec<usize>);

impl Jobs<'_> {
    fn next(&mut self) -> Option<Job> {
        let r = self.ranges.next()?;
        let mut mine = Vec::new();
        while let Some(it) = self.logs.next_if(|it| r.contains(&it.key)) {
            mine.push(it);
        }
        while let Some(t) = self
            .by_first
            .next_if(|t| r.hi.as_deref().is_none_or(|hi| t.1.as_slice() < hi))
        {
            self.active.push(t);
        }
        self.active
            .retain(|t| r.lo.as_deref().is_none_or(|lo| lo <= t.2.as_slice()));
        let mut tables: Vec<usize> = self.active.iter().map(|t| t.0).collect();
        tables.sort_unstable();
        Some((r, mine, tables))
    }
}

/// The ranges handed out, and those merged ahead of their turn.
struct Turn<'s, 'r> {
    jobs: Jobs<'s>,
    records: &'r mut Lines,
    /// Ranges handed out so far, and the next to append.
    started: usize,
    next: usize,
    ready: std::collections::BTreeMap<usize, io::Result<(Chunks<'static>, u64)>>,
    suspect: u64,
    /// The first failure: nothing is appended or handed out after it.
    error: Option<io::Error>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'s, 'r> Turn<'s, 'r> {
    /// Hand out the next range to the pool, if any is left and nothing
    /// has failed. The task that merged it appends it, with every range
    /// after it already merged, once its turn has come.
    fn start<'scope>(
        &mut self,
        sc: &rayon::ScopeFifo<'scope>,
        ctx: &'scope LatestCtx<'scope>,
        turn: &'scope std::sync::Mutex<Self>,
    ) where
        's: 'scope,
        'r: 'scope,
    {
        if self.error.is_some() {
            return;
        }
        let Some((range, logs, tables)) = self.jobs.next() else {
            return;
        };
        let me = self.started;
        self.started += 1;
        sc.spawn_fifo(move |sc| {
            let mut lines = Chunks::default();
            let merged = merge_range(ctx, range, logs, &tables, &mut lines).map(|n| (lines, n));
            let mut t = lock(turn);
            t.ready.insert(me, merged);
            while let Some(m) = {
                let next = t.next;
                t.ready.remove(&next)
            } {
                t.next += 1;
                match m {
                    Ok((lines, n)) if t.error.is_none() => {
                        t.records.append(lines);
                        t.suspect += n;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        t.error.get_or_insert(e);
                    }
                }
                t.start(sc, ctx, turn);
            }
        });
    }
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
