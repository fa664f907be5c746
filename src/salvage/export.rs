//! `salvage`: scan every file, export intact entries (every one, or the
//! latest per key), keep unverified ones apart, and account for what was lost.

use super::durable::DurableFile;
use super::latest::{self, Item, SortedSource, TableSource, VecSource};
use super::ndjson::push_line;
use super::rebuild::RebuildWriter;
use crate::format::batch::Kind;
use crate::format::filename::FileKind;
use crate::progress::Progress;
use crate::progress::Silent;
use crate::report::{FileReport, Lost, LostKeyRange, Report, Requeue, SalvageCounts};
use crate::scan::inventory::{self, Inventory};
use crate::scan::store::{self, FileScan, InputError, InputFile};
use crate::scan::{Entry, EntrySink};
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Per user key, its highest-sequence intact entry; deletes left out.
    Latest,
    /// Every intact entry, in file then offset order.
    All,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::Latest => "latest",
            View::All => "all",
        }
    }
}

/// Where `records.jsonl` goes.
#[derive(Debug, Clone)]
pub enum OutDest {
    Dir(PathBuf),
    Stdout,
}

#[derive(Debug, Clone)]
pub struct SalvageOptions {
    pub path: PathBuf,
    pub out: OutDest,
    pub view: View,
    /// Also write the report here.
    pub report: Option<PathBuf>,
    pub rebuild: bool,
}

#[derive(Debug)]
pub enum SalvageError {
    Input(InputError),
    /// The output directory is unusable; nothing was written.
    Out(String),
    Io(String, io::Error),
}

impl std::fmt::Display for SalvageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SalvageError::Input(e) => write!(f, "{e}"),
            SalvageError::Out(m) => f.write_str(m),
            SalvageError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for SalvageError {}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SalvageError {
    let what = what.into();
    move |e| SalvageError::Io(what, e)
}

/// Refuse an output directory inside the input, or one that already holds
/// something; create it otherwise. Runs before anything is written.
pub fn prepare_out_dir(out: &Path, input: &Path) -> Result<(), SalvageError> {
    let dir = store::evidence_dir(input);
    if store::is_inside(out, &dir) {
        return Err(SalvageError::Out(format!(
            "--out {} lies inside the input's directory {}: the input is evidence and is never written to",
            out.display(),
            dir.display()
        )));
    }
    match std::fs::read_dir(out) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(SalvageError::Out(format!(
                    "--out {} exists and is not empty",
                    out.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // The directories about to be created, deepest first: each one's
            // entry in its parent must be durable too, or a crash after we
            // exit could lose OUT with everything in it.
            let mut created = Vec::new();
            let mut p = Some(out);
            while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
                created.push(d);
                p = d.parent();
            }
            std::fs::create_dir_all(out).map_err(io_err(format!("creating {}", out.display())))?;
            for d in created {
                let parent = match d.parent() {
                    Some(q) if !q.as_os_str().is_empty() => q,
                    _ => Path::new("."),
                };
                super::durable::sync_dir(parent)
                    .map_err(io_err(format!("syncing {}", parent.display())))?;
            }
            Ok(())
        }
        Err(e) => Err(SalvageError::Io(format!("--out {}", out.display()), e)),
    }
}

enum Out {
    File(DurableFile),
    Stdout(super::pipe::PipeOut),
}

impl Out {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Out::File(f) => f.write_all(b),
            Out::Stdout(s) => s.write_all(b),
        }
    }

    /// Make the output complete and visible under its final name.
    fn commit(self) -> io::Result<()> {
        match self {
            Out::File(f) => f.commit(),
            Out::Stdout(mut s) => s.flush(),
        }
    }
}

/// Line output. Lines are formatted into large buffers on the scanning
/// thread and written by a thread of their own, so formatting and the
/// kernel's copy of the bytes overlap. Order is kept: one writer, one queue.
struct Lines {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<(Out, Option<io::Error>)>>,
    buf: Vec<u8>,
    count: u64,
}

const LINES_BUF: usize = 1 << 20;

impl Lines {
    fn new(w: Option<Out>) -> Self {
        let (tx, writer) = match w {
            Some(mut out) => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
                let h = std::thread::spawn(move || {
                    let mut error = None;
                    for buf in rx {
                        if error.is_none() {
                            error = out.write_all(&buf).err();
                        }
                    }
                    (out, error)
                });
                (Some(tx), Some(h))
            }
            None => (None, None),
        };
        Lines {
            tx,
            writer,
            buf: Vec::with_capacity(LINES_BUF),
            count: 0,
        }
    }

    fn push(&mut self, e: &Entry<'_>, file: &str, suspect: bool, reason: Option<&str>) {
        self.count += 1;
        if self.tx.is_none() {
            return;
        }
        push_line(&mut self.buf, e, file, suspect, reason);
        if self.buf.len() >= LINES_BUF {
            self.send();
        }
    }

    /// Append lines formatted elsewhere. Full chunks go to the writer as
    /// they are (after what is already queued, so order is kept) instead of
    /// being copied into our buffer; a short last chunk is copied.
    fn append(&mut self, lines: Chunks) {
        self.count += lines.n;
        if self.tx.is_none() {
            return;
        }
        for chunk in lines.full {
            if !self.buf.is_empty() {
                self.send();
            }
            if let Some(tx) = &self.tx {
                // As in send(): only a writer that is gone fails, and
                // finish() says why.
                let _ = tx.send(chunk);
            }
        }
        self.buf.extend_from_slice(&lines.cur);
        if self.buf.len() >= LINES_BUF {
            self.send();
        }
    }

    fn send(&mut self) {
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(LINES_BUF));
        if let Some(tx) = &self.tx {
            // A send fails only if the writer thread is gone; finish() says why.
            let _ = tx.send(full);
        }
    }

    /// Write what is left and hand back the output, not yet committed.
    fn finish(&mut self) -> io::Result<Option<Out>> {
        if !self.buf.is_empty() {
            self.send();
        }
        self.tx = None;
        match self.writer.take() {
            None => Ok(None),
            Some(h) => match h.join() {
                Ok((out, None)) => Ok(Some(out)),
                Ok((_, Some(e))) => Err(e),
                Err(_) => Err(io::Error::other("the output writer thread panicked")),
            },
        }
    }
}

impl Drop for Lines {
    /// On an early return the writer thread still owns its output: wait for
    /// it, so the uncommitted temporary file is removed before we exit.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

/// Lines formatted on a worker thread, in chunks of about [`LINES_BUF`]:
/// a growing buffer would copy everything it holds each time it doubles.
#[derive(Default)]
struct Chunks {
    full: Vec<Vec<u8>>,
    cur: Vec<u8>,
    n: u64,
}

impl Chunks {
    fn push(&mut self, e: &Entry<'_>, file: &str, suspect: bool, reason: Option<&str>) {
        if self.cur.capacity() == 0 {
            self.cur.reserve(LINES_BUF + LINES_BUF / 8);
        }
        push_line(&mut self.cur, e, file, suspect, reason);
        self.n += 1;
        if self.cur.len() >= LINES_BUF {
            self.full.push(std::mem::take(&mut self.cur));
        }
    }
}

/// An intact entry kept for the latest view.
struct Kept {
    seq: u64,
    kind: Kind,
    value: Vec<u8>,
    file: u32,
    offset: u64,
}

struct Exporter<'a> {
    view: View,
    keep_latest: bool,
    max_seq: u64,
    files: &'a [InputFile],
    current: u32,
    records: Lines,
    unverified: Lines,
    latest: HashMap<Vec<u8>, Kept>,
    /// Highest unverified sequence per key: a newer write that may be lost.
    newest_unverified: HashMap<Vec<u8>, u64>,
}

impl EntrySink for Exporter<'_> {
    fn intact(&mut self, e: &Entry<'_>) {
        self.max_seq = self.max_seq.max(e.seq);
        if self.view == View::All {
            let name = &self.files[self.current as usize].name;
            self.records.push(e, name, false, None);
        }
        if self.keep_latest {
            self.keep(e);
        }
    }

    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        let name = &self.files[self.current as usize].name;
        self.unverified.push(e, name, false, Some(reason));
        let s = self
            .newest_unverified
            .entry(e.key.to_vec())
            .or_insert(e.seq);
        *s = (*s).max(e.seq);
    }
}

impl Exporter<'_> {
    /// Take in a table's share, in file order.
    fn absorb(&mut self, c: Capture<'_>) {
        self.max_seq = self.max_seq.max(c.max_seq);
        self.records.append(c.lines);
        self.unverified.append(c.unverified);
        for (k, seq) in c.unverified_keys {
            let s = self.newest_unverified.entry(k).or_insert(seq);
            *s = (*s).max(seq);
        }
    }

    /// Keep `e` in the map when it is the newest entry of its key so far:
    /// one lookup per entry. A newer version's value is copied exactly
    /// (reusing the older buffer would keep every key at its largest
    /// value's size: 60% more memory on the benchmark's log).
    fn keep(&mut self, e: &Entry<'_>) {
        match self.latest.get_mut(e.key) {
            Some(k) if e.seq <= k.seq => {}
            Some(k) => {
                k.seq = e.seq;
                k.kind = e.kind;
                k.value = e.value.to_vec();
                k.file = self.current;
                k.offset = e.offset;
            }
            None => {
                self.latest.insert(
                    e.key.to_vec(),
                    Kept {
                        seq: e.seq,
                        kind: e.kind,
                        value: e.value.to_vec(),
                        file: self.current,
                        offset: e.offset,
                    },
                );
            }
        }
    }
}

/// One table's share of the export, made on a worker thread: its lines
/// formatted, its unverified entries noted, its order checked (the latest
/// view merges tables as sorted streams; one out of order cannot be).
struct Capture<'a> {
    file: &'a str,
    view_all: bool,
    lines: Chunks,
    unverified: Chunks,
    unverified_keys: Vec<(Vec<u8>, u64)>,
    /// The first intact user key; with `prev`'s, the range of keys a
    /// second read of the intact blocks yields.
    first: Option<Vec<u8>>,
    prev: Option<(Vec<u8>, u64)>,
    sorted: bool,
    max_seq: u64,
}

impl<'a> Capture<'a> {
    fn new(file: &'a str, view_all: bool) -> Self {
        Capture {
            file,
            view_all,
            lines: Chunks::default(),
            unverified: Chunks::default(),
            unverified_keys: Vec::new(),
            first: None,
            prev: None,
            sorted: true,
            max_seq: 0,
        }
    }
}

impl EntrySink for Capture<'_> {
    fn intact(&mut self, e: &Entry<'_>) {
        self.max_seq = self.max_seq.max(e.seq);
        if self.view_all {
            self.lines.push(e, self.file, false, None);
        }
        let in_order = match &self.prev {
            None => true,
            Some((k, s)) => match e.key.cmp(k) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => e.seq < *s,
                std::cmp::Ordering::Less => false,
            },
        };
        self.sorted &= in_order;
        if self.first.is_none() {
            self.first = Some(e.key.to_vec());
        }
        let prev = self.prev.get_or_insert_with(|| (Vec::new(), 0));
        prev.0.clear();
        prev.0.extend_from_slice(e.key);
        prev.1 = e.seq;
    }

    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        self.max_seq = self.max_seq.max(e.seq);
        self.unverified.push(e, self.file, false, Some(reason));
        self.unverified_keys.push((e.key.to_vec(), e.seq));
    }
}

/// Passes on intact entries only (a second read of a file whose unverified
/// entries were already written).
struct IntactOnly<'a, 'b>(&'a mut Exporter<'b>);

impl EntrySink for IntactOnly<'_, '_> {
    fn intact(&mut self, e: &Entry<'_>) {
        self.0.keep(e);
    }
    fn unverified(&mut self, _: &Entry<'_>, _: &str) {}
}

/// Whether a damaged unit held a newer write of `k`'s key: the latest
/// view's `suspect_newer`.
fn newer_unverified(newest_unverified: &HashMap<Vec<u8>, u64>, k: &latest::ItemRef<'_>) -> bool {
    newest_unverified.get(k.key).is_some_and(|&s| s > k.seq)
}

/// What merging a part of the latest view needs to read.
struct LatestCtx<'a> {
    inputs: &'a [InputFile],
    scans: &'a [FileScan],
    newest_unverified: &'a HashMap<Vec<u8>, u64>,
}

/// Table bytes per key range of the latest view: about one LevelDB table,
/// so that a batch of ranges merged side by side holds a few tables' worth
/// of lines.
const RANGE_BYTES: u64 = 2 << 20;

/// A table read whole (its index does not bound its blocks) is read once per
/// range it meets; above this many ranges the view is merged in one piece.
const MAX_WHOLE_READS: usize = 8;

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
fn latest_in_ranges(
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
        if s.index_bounds_blocks {
            let reopen =
                |e: io::Error| io::Error::new(e.kind(), format!("reopening {}: {e}", f.name));
            let (file, _) = crate::scan::open::open_store_file(&f.path).map_err(reopen)?;
            marks.extend(latest::index_marks(
                &file,
                &f.name,
                f.size,
                &s.intact_blocks,
                step,
            )?);
        } else {
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
    let ranges: Vec<latest::KeyRange> = (0..=cuts.len())
        .map(|r| latest::KeyRange {
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
    let mut next_batch = || -> Vec<(latest::KeyRange, Vec<Item>, Vec<usize>)> {
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
    let merge_batch = |batch: Vec<(latest::KeyRange, Vec<Item>, Vec<usize>)>| {
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
fn merge_range(
    ctx: &LatestCtx<'_>,
    range: latest::KeyRange,
    logs: Vec<Item>,
    tables: &[usize],
    lines: &mut Chunks,
) -> io::Result<u64> {
    let mut sources: Vec<Box<dyn SortedSource>> = vec![Box::new(VecSource::new(logs))];
    for &i in tables {
        let (f, s) = (&ctx.inputs[i], &ctx.scans[i]);
        let reopen = |e: io::Error| io::Error::new(e.kind(), format!("reopening {}: {e}", f.name));
        let t = if s.index_bounds_blocks {
            TableSource::open_range(
                &f.path,
                &f.name,
                i as u32,
                f.size,
                &s.intact_blocks,
                range.clone(),
            )
        } else {
            TableSource::open(&f.path, &f.name, i as u32, s.intact_blocks.clone())
                .map(|t| t.restrict(range.clone()))
        }
        .map_err(reopen)?;
        sources.push(Box::new(t));
    }
    let mut suspect = 0;
    latest::merge(sources, |k| {
        if k.kind == Kind::Delete {
            return Ok(());
        }
        let flagged = newer_unverified(ctx.newest_unverified, &k);
        suspect += u64::from(flagged);
        lines.push(&k.entry(), &ctx.inputs[k.file as usize].name, flagged, None);
        Ok(())
    })?;
    Ok(suspect)
}

/// The result of a salvage run.
pub struct Salvaged {
    pub report: Report,
    /// Why `--rebuild` was refused (the export was still written).
    pub rebuild_refused: Option<String>,
}

fn lost_key_ranges(inputs: &[InputFile], scans: &[FileScan], inv: &Inventory) -> Vec<LostKeyRange> {
    let mut out = Vec::new();
    for (f, s) in inputs.iter().zip(scans) {
        // A live table that could not be read at all: the MANIFEST still
        // says which keys it held.
        let unread = s
            .report
            .error
            .as_deref()
            .filter(|_| s.report.blocks.is_none());
        let named = f
            .number
            .and_then(|n| inv.version.as_ref().and_then(|v| v.files.get(&n)));
        if let (FileKind::Table, Some(err), Some((_, nf))) = (f.kind, unread, named) {
            out.push(LostKeyRange {
                range: crate::report::KeyRange {
                    first: Some(crate::format::ikey::user_key(&nf.smallest).to_vec()),
                    first_exclusive: false,
                    last: Some(crate::format::ikey::user_key(&nf.largest).to_vec()),
                },
                file: s.report.name.clone(),
                reason: format!("live table could not be read: {err}"),
            });
        }
        for d in &s.report.damage {
            if let Some(r) = &d.key_range {
                out.push(LostKeyRange {
                    range: r.clone(),
                    file: s.report.name.clone(),
                    reason: d.reason.clone(),
                });
            }
        }
    }
    for m in &inv.info.missing_tables {
        out.push(LostKeyRange {
            range: m.key_range.clone(),
            file: crate::format::filename::table_name(m.number),
            reason: "live table named by the MANIFEST is missing".to_string(),
        });
    }
    out
}

fn requeue_list(lost: &Lost, key_ranges: &[LostKeyRange]) -> Vec<Requeue> {
    let mut out = Vec::new();
    for r in &lost.sequence_ranges {
        out.push(Requeue::SequenceRange {
            first: r.first,
            last: r.last,
            file: r.file.clone(),
            reason: r.reason.clone(),
        });
    }
    for k in key_ranges {
        out.push(Requeue::KeyRange {
            range: k.range.clone(),
            file: k.file.clone(),
            reason: k.reason.clone(),
        });
    }
    out
}

/// Run a salvage. The output directory must have been prepared with
/// [`prepare_out_dir`] when `opts.out` is a directory.
pub fn salvage(
    inputs: &[InputFile],
    opts: &SalvageOptions,
    progress: &dyn Progress,
) -> Result<Salvaged, SalvageError> {
    let (records_file, unverified_file) = match &opts.out {
        OutDest::Dir(d) => (
            Some(
                DurableFile::create(&d.join("records.jsonl"))
                    .map_err(io_err("creating records.jsonl"))?,
            ),
            Some(
                DurableFile::create(&d.join("unverified.jsonl"))
                    .map_err(io_err("creating unverified.jsonl"))?,
            ),
        ),
        OutDest::Stdout => (None, None),
    };
    let records_w = match records_file {
        Some(f) => Out::File(f),
        None => Out::Stdout(super::pipe::PipeOut::new()),
    };
    let mut ex = Exporter {
        view: opts.view,
        keep_latest: opts.view == View::Latest || opts.rebuild,
        max_seq: 0,
        files: inputs,
        current: 0,
        records: Lines::new(Some(records_w)),
        unverified: Lines::new(unverified_file.map(Out::File)),
        latest: HashMap::new(),
        newest_unverified: HashMap::new(),
    };
    let mut scans = Vec::with_capacity(inputs.len());
    // Tables whose entries were not in order cannot be merged as streams:
    // their entries go into the map like the logs'.
    let mut unsorted = Vec::new();
    // Per table, the user keys its intact entries span: (input, first, last).
    let mut key_spans: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
    let scan_opts = store::ScanOptions::for_store(inputs);
    let batch = 4 * rayon::current_num_threads();
    let mut i = 0;
    while i < inputs.len() {
        if inputs[i].kind != FileKind::Table {
            ex.current = i as u32;
            scans.push(store::scan_file_with(
                &inputs[i], &mut ex, progress, &scan_opts,
            ));
            i += 1;
            continue;
        }
        // Runs of tables are scanned several at a time, each into a buffer
        // of formatted lines that is then appended in file order.
        let mut j = i;
        while j < inputs.len() && inputs[j].kind == FileKind::Table && j - i < batch {
            j += 1;
        }
        let view_all = opts.view == View::All;
        let done: Vec<(FileScan, Capture)> = (i..j)
            .into_par_iter()
            .map(|k| {
                let mut c = Capture::new(&inputs[k].name, view_all);
                let s = store::scan_file_with(&inputs[k], &mut c, progress, &scan_opts);
                (s, c)
            })
            .collect();
        for (k, (s, mut c)) in (i..j).zip(done) {
            if !c.sorted {
                unsorted.push(k);
            }
            if let (Some(first), Some((last, _))) = (c.first.take(), c.prev.take()) {
                key_spans.push((k, first, last));
            }
            ex.absorb(c);
            scans.push(s);
        }
        i = j;
    }
    if ex.keep_latest {
        for &i in &unsorted {
            ex.current = i as u32;
            let mut only_intact = IntactOnly(&mut ex);
            store::scan_file_with(&inputs[i], &mut only_intact, &Silent, &scan_opts);
        }
    }
    let inv = inventory::build(inputs, &mut scans);
    let mut rebuild_refused = None;
    let mut rebuilder = match (&opts.out, opts.rebuild) {
        (OutDest::Dir(_), true) if inv.info.custom_comparator => {
            rebuild_refused = Some(format!(
                "--rebuild refused: the store uses the comparator {:?}, and a rebuilt store \
                 in bytewise order would not open with it (the NDJSON export is complete)",
                inv.info.comparator.as_deref().unwrap_or("?")
            ));
            None
        }
        (OutDest::Dir(d), true) => {
            Some(RebuildWriter::create(d).map_err(io_err("creating the rebuilt store"))?)
        }
        _ => None,
    };
    let mut suspect_keys = 0;
    if ex.keep_latest {
        // Hashed while scanning (one lookup per entry), sorted once here:
        // keys are unique, so the order is the same for any --jobs.
        let mut logs: Vec<Item> = std::mem::take(&mut ex.latest)
            .into_iter()
            .map(|(key, k)| Item {
                key,
                seq: k.seq,
                kind: k.kind,
                value: k.value,
                file: k.file,
                offset: k.offset,
            })
            .collect();
        logs.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let mut ranged = None;
        if rebuilder.is_none() && opts.view == View::Latest && scan_opts.ordered {
            // `unsorted` was filled in input order.
            key_spans.retain(|(i, _, _)| {
                unsorted.binary_search(i).is_err() && !scans[*i].intact_blocks.is_empty()
            });
            let ctx = LatestCtx {
                inputs,
                scans: &scans,
                newest_unverified: &ex.newest_unverified,
            };
            ranged = latest_in_ranges(&ctx, &mut logs, &key_spans, &mut ex.records)
                .map_err(io_err("merging the latest view"))?;
        }
        if let Some(n) = ranged {
            suspect_keys = n;
        } else {
            let mut sources: Vec<Box<dyn SortedSource>> = vec![Box::new(VecSource::new(logs))];
            for (i, s) in scans.iter().enumerate() {
                if inputs[i].kind == FileKind::Table
                    && !unsorted.contains(&i)
                    && !s.intact_blocks.is_empty()
                {
                    let t = TableSource::open(
                        &inputs[i].path,
                        &inputs[i].name,
                        i as u32,
                        s.intact_blocks.clone(),
                    )
                    .map_err(io_err(format!("reopening {}", inputs[i].name)))?;
                    sources.push(Box::new(t));
                }
            }
            let view_latest = opts.view == View::Latest;
            let (records, newest_unverified) = (&mut ex.records, &ex.newest_unverified);
            latest::merge(sources, |k| {
                if k.kind == Kind::Delete {
                    return Ok(());
                }
                if let Some(rb) = rebuilder.as_mut() {
                    rb.add(k.key, k.seq, k.value)?;
                }
                if view_latest {
                    let suspect = newer_unverified(newest_unverified, &k);
                    suspect_keys += u64::from(suspect);
                    records.push(&k.entry(), &inputs[k.file as usize].name, suspect, None);
                }
                Ok(())
            })
            .map_err(io_err("merging the latest view"))?;
        }
    }
    let (records_count, unverified_count) = (ex.records.count, ex.unverified.count);
    let records_out = ex.records.finish().map_err(io_err("writing records"))?;
    let unverified_out = ex
        .unverified
        .finish()
        .map_err(io_err("writing unverified entries"))?;
    let last_sequence = ex.max_seq.max(inv.info.last_sequence.unwrap_or(0));
    let rebuilt = match rebuilder {
        Some(rb) => Some(
            rb.finish(last_sequence)
                .map_err(io_err("writing the rebuilt store"))?,
        ),
        None => None,
    };
    // Commit the exports before the report: a report on disk means the
    // exports beside it are complete.
    for (out, what) in [
        (records_out, "records"),
        (unverified_out, "unverified entries"),
    ] {
        if let Some(w) = out {
            w.commit().map_err(io_err(format!("writing {what}")))?;
        }
    }
    drop(ex);

    let lost = store::lost_ranges(
        &scans.iter().collect::<Vec<_>>(),
        &inputs.iter().collect::<Vec<_>>(),
    );
    let key_ranges = lost_key_ranges(inputs, &scans, &inv);
    let files: Vec<FileReport> = scans.into_iter().map(|s| s.report).collect();
    let requeue = requeue_list(&lost, &key_ranges);
    let mut report = Report::new(vec![opts.path.display().to_string()], files, lost);
    report.lost.key_ranges = Some(key_ranges);
    report.lost.unverified_entries = Some(unverified_count);
    report.requeue = Some(requeue);
    report.store = Some(inv.info);
    report.salvage = Some(SalvageCounts {
        view: opts.view.as_str(),
        out: match &opts.out {
            OutDest::Dir(d) => d.display().to_string(),
            OutDest::Stdout => "-".to_string(),
        },
        records: records_count,
        unverified: unverified_count,
        suspect_newer_keys: suspect_keys,
        rebuilt,
        stopped_early: matches!(opts.out, OutDest::Stdout) && super::pipe::stdout_closed(),
    });
    Ok(Salvaged {
        report,
        rebuild_refused,
    })
}
