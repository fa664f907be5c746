//! `salvage`: scan every file, export intact entries (every one, or the
//! latest per key), keep unverified ones apart, and account for what was lost.

use super::durable::DurableFile;
use super::latest::{self, Item, SortedSource, TableSource, VecSource};
use super::ndjson::{push_line_in_pieces, Marks};
use super::rebuild::RebuildWriter;
use crate::format::batch::Kind;
use crate::format::filename::FileKind;
use crate::progress::Progress;
use crate::progress::Silent;
use crate::report::{Report, SalvageCounts};
use crate::scan::store::{self, FileScan, InputError, InputFile, StoreScan};
use crate::scan::table::source;
use crate::scan::{Entry, EntrySink};
use crate::vocab::FileState;
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
    /// No file of the input could be read: nothing was written (the report
    /// says what was there).
    NothingReadable(Box<Report>),
    Io(String, io::Error),
}

impl std::fmt::Display for SalvageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SalvageError::Input(e) => write!(f, "{e}"),
            SalvageError::Out(m) => f.write_str(m),
            SalvageError::NothingReadable(_) => f.write_str("nothing readable"),
            SalvageError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for SalvageError {}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SalvageError {
    let what = what.into();
    move |e| SalvageError::Io(what, e)
}

/// A claim on `--out` for the length of a run: an exclusive `flock` on the
/// directory, so that a second run into the same directory is refused
/// instead of mixing its files with ours. The kernel drops the lock when
/// the process ends, however it ends, and no file is created for it.
pub struct OutClaim {
    _lock: std::fs::File,
    /// Directories this run created, outermost first.
    created: Vec<PathBuf>,
}

impl OutClaim {
    /// The run failed before it wrote anything: remove the directories it
    /// created (only those still empty), so a retry can use the same path.
    pub fn abandon(self) {
        for d in self.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
            super::cleanup::done(d);
        }
    }

    /// The run wrote its outputs: its directories stay.
    pub fn keep(self) {
        for d in &self.created {
            super::cleanup::done(d);
        }
    }
}

fn lock_dir(out: &Path) -> Result<std::fs::File, SalvageError> {
    let dir = std::fs::File::open(out).map_err(io_err(format!("--out {}", out.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = io::Error::last_os_error();
            return Err(if e.kind() == io::ErrorKind::WouldBlock {
                SalvageError::Out(format!(
                    "--out {} is being written by another ldbsalvage run",
                    out.display()
                ))
            } else {
                SalvageError::Io(format!("locking --out {}", out.display()), e)
            });
        }
    }
    Ok(dir)
}

/// Refuse an output directory inside the input, or one that already holds
/// something, or one another run is writing; create and claim it otherwise.
/// Runs before anything is written.
pub fn prepare_out_dir(out: &Path, input: &Path) -> Result<OutClaim, SalvageError> {
    let dir = store::evidence_dir(input);
    if store::is_inside(out, &dir) {
        return Err(SalvageError::Out(format!(
            "--out {} lies inside the input's directory {}: the input is evidence and is never written to",
            out.display(),
            dir.display()
        )));
    }
    let mut created = Vec::new();
    if let Err(e) = std::fs::read_dir(out) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(SalvageError::Io(format!("--out {}", out.display()), e));
        }
        // The directories about to be created, deepest first: each one's
        // entry in its parent must be durable too, or a crash after we
        // exit could lose OUT with everything in it.
        let mut missing = Vec::new();
        let mut p = Some(out);
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            p = d.parent();
        }
        missing.reverse();
        for d in &missing {
            super::cleanup::dir_if_empty(d);
            match std::fs::create_dir(d) {
                Ok(()) => created.push(d.clone()),
                // Another run made it first: the lock below decides.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => super::cleanup::done(d),
                Err(e) => {
                    super::cleanup::done(d);
                    return Err(SalvageError::Io(format!("creating {}", d.display()), e));
                }
            }
            let parent = match d.parent() {
                Some(q) if !q.as_os_str().is_empty() => q,
                _ => Path::new("."),
            };
            super::durable::sync_dir(parent)
                .map_err(io_err(format!("syncing {}", parent.display())))?;
        }
    }
    let claim = OutClaim {
        _lock: lock_dir(out)?,
        created,
    };
    // Checked under the lock: a run that held it before us may have filled
    // the directory.
    let empty = std::fs::read_dir(out)
        .map_err(io_err(format!("--out {}", out.display())))?
        .next()
        .is_none();
    if !empty {
        claim.abandon();
        return Err(SalvageError::Out(format!(
            "--out {} exists and is not empty",
            out.display()
        )));
    }
    Ok(claim)
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

    fn push(&mut self, e: &Entry<'_>, file: &str, marks: Marks, reason: Option<&str>) {
        self.count += 1;
        let Some(tx) = &self.tx else {
            return;
        };
        push_line_in_pieces(
            &mut self.buf,
            e,
            file,
            marks,
            reason,
            LINES_BUF,
            &mut |buf| {
                let full = std::mem::replace(buf, Vec::with_capacity(LINES_BUF));
                // As in send(): only a writer that is gone fails.
                let _ = tx.send(full);
            },
        );
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

/// Formatted lines held by all the tables of a run that wait for their
/// turn in file order, against a limit: what bounds memory when a table's
/// lines are far larger than the table (values of zeros compressed a
/// thousandfold, each byte six bytes of JSON).
pub struct Held {
    bytes: std::sync::atomic::AtomicU64,
    limit: u64,
}

/// Default for [`Held`]'s limit: a LevelDB table of ~2 MiB formats into
/// ~7 MiB of lines, so this holds a few dozen.
pub const LINES_BUDGET: u64 = 256 << 20;

impl Held {
    fn new() -> Self {
        // `LDBSALVAGE_LINES_BUDGET` overrides it, for tests only.
        let limit = std::env::var("LDBSALVAGE_LINES_BUDGET")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &u64| n > 0)
            .unwrap_or(LINES_BUDGET);
        Held {
            bytes: Default::default(),
            limit,
        }
    }
}

/// Lines formatted on a worker thread, in chunks of about [`LINES_BUF`]:
/// a growing buffer would copy everything it holds each time it doubles.
/// With a [`Held`], full chunks count against it; one that would pass it
/// gives up instead (`over`): its lines are dropped and the table is
/// formatted again in its turn, straight into the output.
#[derive(Default)]
struct Chunks<'h> {
    full: Vec<Vec<u8>>,
    cur: Vec<u8>,
    n: u64,
    held: Option<&'h Held>,
    counted: u64,
    over: bool,
}

impl Chunks<'_> {
    fn push(&mut self, e: &Entry<'_>, file: &str, marks: Marks, reason: Option<&str>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.n += 1;
        if self.over {
            return;
        }
        if self.cur.capacity() == 0 {
            self.cur.reserve(LINES_BUF + LINES_BUF / 8);
        }
        let Chunks {
            full,
            cur,
            held,
            counted,
            over,
            ..
        } = self;
        push_line_in_pieces(cur, e, file, marks, reason, LINES_BUF, &mut |cur| {
            let chunk = std::mem::replace(cur, Vec::with_capacity(LINES_BUF + LINES_BUF / 8));
            if *over {
                return;
            }
            if let Some(h) = held {
                let n = chunk.len() as u64;
                if h.bytes.fetch_add(n, Relaxed).saturating_add(n) > h.limit {
                    h.bytes.fetch_sub(n.saturating_add(*counted), Relaxed);
                    *counted = 0;
                    *over = true;
                    *full = Vec::new();
                    return;
                }
                *counted += n;
            }
            full.push(chunk);
        });
        if self.over {
            self.cur = Vec::new();
        }
    }

    /// The held bytes are about to be written: no longer held.
    fn release(&mut self) {
        if let Some(h) = self.held {
            h.bytes.fetch_sub(
                std::mem::take(&mut self.counted),
                std::sync::atomic::Ordering::Relaxed,
            );
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
    /// Per input: its state in the store's inventory.
    states: &'a [FileState],
    current: u32,
    records: Lines,
    unverified: Lines,
    /// The newest intact entry per key of live files read whole (logs, and
    /// tables out of order).
    latest: HashMap<Vec<u8>, Kept>,
    /// The same for orphan tables out of order: they only fill in keys no
    /// live file holds.
    fill: HashMap<Vec<u8>, Kept>,
    /// Highest unverified sequence per key: a newer write that may be lost.
    newest_unverified: HashMap<Vec<u8>, u64>,
}

impl EntrySink for Exporter<'_> {
    fn intact(&mut self, e: &Entry<'_>) {
        self.max_seq = self.max_seq.max(e.seq);
        let state = self.states[self.current as usize];
        if self.view == View::All {
            let name = &self.files[self.current as usize].name;
            self.records.push(e, name, Marks::of_state(state), None);
        }
        if self.keep_latest {
            self.keep(e);
        }
    }

    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        let state = self.states[self.current as usize];
        let name = &self.files[self.current as usize].name;
        self.unverified
            .push(e, name, Marks::of_state(state), Some(reason));
        // History's damaged entries were superseded: they hide no newer
        // write of anything.
        if !state.is_history() {
            let s = self
                .newest_unverified
                .entry(e.key.to_vec())
                .or_insert(e.seq);
            *s = (*s).max(e.seq);
        }
    }
}

impl Exporter<'_> {
    /// Take in a table's share, in file order.
    fn absorb(&mut self, mut c: Capture<'_>) {
        c.lines.release();
        c.unverified.release();
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
        let map = match self.states[self.current as usize] {
            s if s.is_history() => return,
            FileState::Orphan => &mut self.fill,
            _ => &mut self.latest,
        };
        match map.get_mut(e.key) {
            Some(k) if e.seq <= k.seq => {}
            Some(k) => {
                k.seq = e.seq;
                k.kind = e.kind;
                k.value = e.value.to_vec();
                k.file = self.current;
                k.offset = e.offset;
            }
            None => {
                map.insert(
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
    state: FileState,
    view_all: bool,
    lines: Chunks<'a>,
    unverified: Chunks<'a>,
    /// The run's outputs (records, unverified), when the table writes its
    /// lines straight into them instead of holding them for its turn.
    direct: Option<(Lines, Lines)>,
    unverified_keys: Vec<(Vec<u8>, u64)>,
    /// The first intact user key; with `prev`'s, the range of keys a
    /// second read of the intact blocks yields.
    first: Option<Vec<u8>>,
    prev: Option<(Vec<u8>, u64)>,
    sorted: bool,
    max_seq: u64,
}

impl<'a> Capture<'a> {
    fn new(file: &'a str, state: FileState, view_all: bool, held: Option<&'a Held>) -> Self {
        let chunks = || Chunks {
            held,
            ..Chunks::default()
        };
        Capture {
            file,
            state,
            view_all,
            lines: chunks(),
            unverified: chunks(),
            direct: None,
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
            let marks = Marks::of_state(self.state);
            match &mut self.direct {
                Some((records, _)) => records.push(e, self.file, marks, None),
                None => self.lines.push(e, self.file, marks, None),
            }
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
        let marks = Marks::of_state(self.state);
        match &mut self.direct {
            Some((_, unverified)) => unverified.push(e, self.file, marks, Some(reason)),
            None => self.unverified.push(e, self.file, marks, Some(reason)),
        }
        if !self.state.is_history() {
            self.unverified_keys.push((e.key.to_vec(), e.seq));
        }
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

/// Tables that failed on their second read (they shrank or changed since
/// the scan), by input index: that file's problem, recorded, never the
/// run's.
type Late = std::sync::Mutex<Vec<(usize, String)>>;

fn note_late(late: &Late, file: usize, e: &io::Error) {
    late.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((file, e.to_string()));
}

/// A table's stream that ends, noted in `late`, where reading it fails.
struct Tolerant<'a, S> {
    inner: S,
    file: usize,
    late: &'a Late,
    failed: bool,
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
fn reopen_table<'a>(
    late: &'a Late,
    i: usize,
    open: io::Result<TableSource>,
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
struct LatestCtx<'a> {
    late: &'a Late,
    inputs: &'a [InputFile],
    states: &'a [FileState],
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
        let sampled = if s.index_bounds_blocks {
            crate::scan::open::open_store_file(&f.path).and_then(|(file, _)| {
                source::index_marks(&file, &f.name, f.size, &s.intact_blocks, step)
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
fn merge_range(
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
            )
        } else {
            TableSource::open(&f.path, &f.name, i as u32, s.intact_blocks.clone())
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

/// The result of a salvage run.
pub struct Salvaged {
    pub report: Report,
    /// Why `--rebuild` was refused (the export was still written).
    pub rebuild_refused: Option<String>,
}

fn items(map: HashMap<Vec<u8>, Kept>) -> Vec<Item> {
    // Hashed while scanning (one lookup per entry), sorted once here: keys
    // are unique, so the order is the same for any --jobs.
    let mut v: Vec<Item> = map
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
    v.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    v
}

/// Run a salvage: the store pipeline `scan` runs (inventory first, then
/// every file), with the export as the sink, and the same report plus what
/// was written. The output directory must have been prepared with
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
    // The store's account first: which files are state, which history.
    let (inventories, mut done) = store::inventories(inputs, progress);
    let states = store::states_by_input(inputs, &inventories);
    let scan_opts = store::options_by_input(inputs, &inventories);
    let ordered = inventories.iter().all(|inv| inv.ordered);
    let mut ex = Exporter {
        view: opts.view,
        keep_latest: opts.view == View::Latest || opts.rebuild,
        max_seq: 0,
        files: inputs,
        states: &states,
        current: 0,
        records: Lines::new(Some(records_w)),
        unverified: Lines::new(unverified_file.map(Out::File)),
        latest: HashMap::new(),
        fill: HashMap::new(),
        newest_unverified: HashMap::new(),
    };
    // Tables whose entries were not in order cannot be merged as streams:
    // their entries go into the maps like the logs'.
    let mut unsorted = Vec::new();
    // Per table, the user keys its intact entries span: (input, first, last).
    let mut key_spans: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
    let batch = 4 * rayon::current_num_threads();
    let held = Held::new();
    let mut i = 0;
    while i < inputs.len() {
        if done[i].is_some() {
            i += 1;
            continue;
        }
        if inputs[i].kind != FileKind::Table {
            ex.current = i as u32;
            done[i] = Some(store::scan_file_with(
                &inputs[i],
                &mut ex,
                progress,
                &scan_opts[i],
            ));
            i += 1;
            continue;
        }
        // Runs of tables are scanned several at a time, each into a buffer
        // of formatted lines that is then appended in file order. A run
        // holds about a quarter of the lines budget in tables (their lines
        // are ~3.5 times their size), so that ordinary tables fit in it.
        let mut j = i;
        let mut run_bytes = 0u64;
        while j < inputs.len()
            && inputs[j].kind == FileKind::Table
            && j - i < batch
            && (j == i || run_bytes.saturating_add(inputs[j].size) <= held.limit / 4)
        {
            run_bytes = run_bytes.saturating_add(inputs[j].size);
            j += 1;
        }
        let view_all = opts.view == View::All;
        let slots: Vec<std::sync::Mutex<Option<(FileScan, Capture)>>> =
            (i..j).map(|_| std::sync::Mutex::new(None)).collect();
        rayon::in_place_scope_fifo(|sc| {
            for (k, slot) in (i..j).zip(&slots) {
                let permit = store::table_permit(&inputs[k]);
                let (f, state, o, held) = (&inputs[k], states[k], &scan_opts[k], &held);
                sc.spawn_fifo(move |_| {
                    let mut c = Capture::new(&f.name, state, view_all, Some(held));
                    let s = store::scan_file_with(f, &mut c, progress, o);
                    drop(permit);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((s, c));
                });
            }
        });
        for (k, slot) in (i..j).zip(slots) {
            let (mut s, mut c) = slot
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every table scanned");
            if c.lines.over || c.unverified.over {
                // Its lines outgrew the budget: scanned again now that it
                // is its turn, writing them as they come. Alone, so the
                // table is the only one in memory.
                let direct = (
                    std::mem::replace(&mut ex.records, Lines::new(None)),
                    std::mem::replace(&mut ex.unverified, Lines::new(None)),
                );
                c = Capture::new(&inputs[k].name, states[k], view_all, None);
                c.direct = Some(direct);
                s = store::scan_file_with(&inputs[k], &mut c, &Silent, &scan_opts[k]);
                if let Some((records, unverified)) = c.direct.take() {
                    ex.records = records;
                    ex.unverified = unverified;
                }
            }
            if !c.sorted {
                unsorted.push(k);
            }
            if let (Some(first), Some((last, _))) = (c.first.take(), c.prev.take()) {
                if !states[k].is_history() {
                    key_spans.push((k, first, last));
                }
            }
            ex.absorb(c);
            done[k] = Some(s);
        }
        i = j;
    }
    let mut scans: Vec<FileScan> = done
        .into_iter()
        .map(|s| s.expect("every input scanned"))
        .collect();
    if ex.keep_latest {
        for &i in &unsorted {
            if states[i].is_history() {
                continue;
            }
            ex.current = i as u32;
            let mut only_intact = IntactOnly(&mut ex);
            store::scan_file_with(&inputs[i], &mut only_intact, &Silent, &scan_opts[i]);
        }
    }
    let custom = inventories
        .iter()
        .find(|inv| inv.info.custom_comparator)
        .map(|inv| inv.info.comparator.clone().unwrap_or_default());
    let mut rebuild_refused = None;
    let mut rebuilder = match (&opts.out, opts.rebuild) {
        (OutDest::Dir(_), true) if custom.is_some() => {
            rebuild_refused = Some(format!(
                "--rebuild refused: the store uses the comparator {:?}, and a rebuilt store \
                 in bytewise order would not open with it (the NDJSON export is complete)",
                custom.as_deref().unwrap_or("?")
            ));
            None
        }
        (OutDest::Dir(_), true) if inventories.len() > 1 => {
            rebuild_refused = Some(
                "--rebuild refused: the inputs come from several directories, and one \
                 rebuilt store cannot stand for several stores"
                    .to_string(),
            );
            None
        }
        (OutDest::Dir(d), true) => {
            Some(RebuildWriter::create(d).map_err(io_err("creating the rebuilt store"))?)
        }
        _ => None,
    };
    let mut suspect_keys = 0;
    let late: Late = Late::default();
    if ex.keep_latest {
        let mut logs = items(std::mem::take(&mut ex.latest));
        let fill = items(std::mem::take(&mut ex.fill));
        let mut ranged = None;
        if rebuilder.is_none() && opts.view == View::Latest && ordered && fill.is_empty() {
            // `unsorted` was filled in input order.
            key_spans.retain(|(i, _, _)| {
                unsorted.binary_search(i).is_err() && !scans[*i].intact_blocks.is_empty()
            });
            let ctx = LatestCtx {
                late: &late,
                inputs,
                states: &states,
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
            if !fill.is_empty() {
                sources.push(latest::tiered(VecSource::new(fill), true));
            }
            for (i, s) in scans.iter().enumerate() {
                if inputs[i].kind == FileKind::Table
                    && !states[i].is_history()
                    && !unsorted.contains(&i)
                    && !s.intact_blocks.is_empty()
                {
                    let t = TableSource::open(
                        &inputs[i].path,
                        &inputs[i].name,
                        i as u32,
                        s.intact_blocks.clone(),
                    );
                    let orphan = states[i] == FileState::Orphan;
                    sources.extend(reopen_table(&late, i, t, orphan));
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
                    let marks = Marks {
                        suspect_newer: suspect,
                        from_orphan: states[k.file as usize] == FileState::Orphan,
                        ..Marks::default()
                    };
                    records.push(&k.entry(), &inputs[k.file as usize].name, marks, None);
                }
                Ok(())
            })
            .map_err(io_err("merging the latest view"))?;
        }
    }
    for (i, why) in late.into_inner().unwrap_or_else(|p| p.into_inner()) {
        if scans[i].late_error.is_none() {
            let range = key_spans
                .iter()
                .find(|(k, _, _)| *k == i)
                .map(|(_, first, last)| crate::vocab::KeyRange {
                    first: Some(first.clone()),
                    first_exclusive: false,
                    last: Some(last.clone()),
                });
            scans[i].late_error = Some((why, range));
        }
    }
    // Nothing readable: leave no export behind (a retry with the right path
    // must find the directory as it was).
    if !scans
        .iter()
        .any(|s| s.report.scanned && s.report.error.is_none())
    {
        drop(rebuilder);
        drop(ex);
        let report =
            StoreScan { inventories, scans }.report(inputs, std::slice::from_ref(&opts.path));
        return Err(SalvageError::NothingReadable(Box::new(report)));
    }
    let (records_count, unverified_count) = (ex.records.count, ex.unverified.count);
    let records_out = ex.records.finish().map_err(io_err("writing records"))?;
    let unverified_out = ex
        .unverified
        .finish()
        .map_err(io_err("writing unverified entries"))?;
    let manifest_last = inventories
        .iter()
        .filter_map(|inv| inv.info.last_sequence)
        .max()
        .unwrap_or(0);
    let last_sequence = ex.max_seq.max(manifest_last);
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

    let mut report =
        StoreScan { inventories, scans }.report(inputs, std::slice::from_ref(&opts.path));
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
