//! `salvage --view all --order seq`: the all view's lines in sequence
//! order, store by store, with memory bounded independently of the store.
//!
//! It is an external sort of the file-order export. Every line gets a key
//! (its store's position among the stores, its sequence number, and its
//! position in the file-order export) and is formatted once, where the file
//! order formats it (tables on the pool). Lines are held in memory in
//! segments, each sorted by key (logs arrive in order already; a table's
//! lines are sorted on the worker that scanned it). When the held segments
//! pass the budget they are merged into a sorted run in a temporary
//! directory of the output (or the system's temporary directory for
//! `--out -`, never the input), and at the end the runs and what is still
//! held are merged into `records.jsonl`. Runs are merged in tiers: when
//! [`FAN_IN`] runs of one tier exist they become one run of the next, so
//! every line is rewritten once per tier (a logarithmic number of times)
//! and fewer than [`FAN_IN`] runs per tier are left for the final merge,
//! which reads them through small buffers: 60 runs at most for 16 TiB of
//! lines with the default budget.
//!
//! The key's last part makes keys unique and keeps ties in file order: the
//! same write can be in two files (a log and the table it was flushed to,
//! a table and the compaction that rewrote it) with one sequence number.
//! So the output is exactly the file-order export, stably sorted by
//! (store, sequence): the same bytes for any `--jobs` and any budget.
//!
//! A run holds records of `store u32, seq u64, ord u64` (little-endian),
//! then the line in pieces of `len u64` and bytes, ended by a zero length:
//! a line longer than a quarter of the budget (a huge value escaped as
//! JSON) is written to a run of its own piece by piece, never held whole.

use super::ndjson::{push_line_in_pieces, Marks};
use crate::scan::Entry;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Where a line goes in sequence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub store: u32,
    pub seq: u64,
    /// Position in the file-order export.
    pub ord: u64,
}

#[derive(Debug, Clone, Copy)]
struct Rec {
    key: Key,
    start: usize,
    len: usize,
}

const REC: u64 = std::mem::size_of::<Rec>() as u64;

/// Lines formatted one after the other, with their keys.
#[derive(Default)]
pub(super) struct Segment {
    data: Vec<u8>,
    recs: Vec<Rec>,
    /// Some key is smaller than one before it.
    unsorted: bool,
}

impl Segment {
    pub(super) fn with_capacity(bytes: usize) -> Self {
        Segment {
            data: Vec::with_capacity(bytes),
            ..Segment::default()
        }
    }

    /// The bytes it holds (what a budget counts).
    pub(super) fn bytes(&self) -> u64 {
        self.data.capacity() as u64 + self.recs.capacity() as u64 * REC
    }

    pub(super) fn len(&self) -> usize {
        self.data.len()
    }

    /// Note a line formatted into `data` from `start`.
    fn add(&mut self, key: Key, start: usize) {
        if self.recs.last().is_some_and(|r| r.key > key) {
            self.unsorted = true;
        }
        self.recs.push(Rec {
            key,
            start,
            len: self.data.len() - start,
        });
    }

    /// Sort by key (a no-op for lines that came in order, as a log's do).
    pub(super) fn sort(&mut self) {
        if self.unsorted {
            self.recs.sort_unstable_by_key(|r| r.key);
            self.unsorted = false;
        }
    }

    fn shift(&mut self, base: u64) {
        for r in &mut self.recs {
            r.key.ord += base;
        }
    }
}

/// Format one line into `seg`, calling `grown(data, start)` whenever the
/// line being formatted has grown by `step` bytes more (a huge value).
pub(super) fn push_into(
    seg: &mut Segment,
    key: Key,
    e: &Entry<'_>,
    file: &str,
    marks: Marks<'_>,
    step: usize,
    grown: &mut dyn FnMut(&mut Vec<u8>, usize),
) {
    let start = seg.data.len();
    let full = start.saturating_add(step);
    push_line_in_pieces(&mut seg.data, e, file, marks, None, full, &mut |d| {
        if d.len() >= full {
            grown(d, start)
        }
    });
    seg.add(key, start);
}

/// Default budget of the lines held in memory, before runs are written.
pub const SEQ_BUDGET: u64 = 256 << 20;

/// Runs of one tier merged into one run of the next.
pub const FAN_IN: usize = 16;

/// Buffer of each run being read or written.
const RUN_BUF: usize = 64 << 10;

/// Lines sorted by [`Key`] within a budget.
pub(super) struct SeqSort {
    budget: u64,
    /// The directory temporary runs are made in (created when first needed).
    base: PathBuf,
    dir: Option<PathBuf>,
    /// Lines pushed one at a time (logs, tables formatted in their turn).
    open: Segment,
    /// Sorted segments: full open ones, and tables' lines.
    segs: Vec<Segment>,
    held: u64,
    /// Each run with its tier (0: written from memory).
    runs: Vec<(PathBuf, u32)>,
    made: u64,
    error: Option<io::Error>,
}

impl SeqSort {
    /// Runs are written in a directory made under `base` (which must not
    /// be inside the input). `LDBSALVAGE_SEQ_BUDGET` overrides the budget,
    /// for tests only.
    pub(super) fn new(base: PathBuf) -> Self {
        let budget = std::env::var("LDBSALVAGE_SEQ_BUDGET")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &u64| n > 0)
            .unwrap_or(SEQ_BUDGET);
        Self::with_budget(base, budget)
    }

    fn with_budget(base: PathBuf, budget: u64) -> Self {
        SeqSort {
            budget,
            base,
            dir: None,
            open: Segment::default(),
            segs: Vec::new(),
            held: 0,
            runs: Vec::new(),
            made: 0,
            error: None,
        }
    }

    /// Segments of the open lines: small enough that their doubling wastes
    /// little, large enough to be few.
    fn seg_size(&self) -> usize {
        (self.budget / 16).clamp(64 << 10, 16 << 20) as usize
    }

    /// A line longer than this goes to a run of its own, in pieces.
    fn big(&self) -> usize {
        (self.budget / 4).max(64 << 10) as usize
    }

    fn fail(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    /// Add one line.
    pub(super) fn push(&mut self, key: Key, e: &Entry<'_>, file: &str, marks: Marks<'_>) {
        if self.error.is_some() {
            return;
        }
        if self.open.len() >= self.seg_size() {
            self.seal();
        }
        if self.open.data.capacity() == 0 {
            self.open = Segment::with_capacity(self.seg_size() + self.seg_size() / 8);
        }
        let big = self.big();
        let mut alone: Option<RunWriter> = None;
        let mut error = None;
        let (base, dir, made) = (&self.base, &mut self.dir, &mut self.made);
        push_into(&mut self.open, key, e, file, marks, big, &mut |d, start| {
            if error.is_some() {
                d.truncate(start);
                return;
            }
            let r = (|| {
                if alone.is_none() {
                    let mut w = RunWriter::create(new_run(base, dir, made)?)?;
                    w.begin(key)?;
                    alone = Some(w);
                }
                let w = alone.as_mut().expect("just made");
                w.piece(&d[start..])
            })();
            error = r.err();
            d.truncate(start);
        });
        if let Some(e) = error {
            // Nothing of the line stays behind.
            let rec = self.open.recs.pop().expect("the line just added");
            self.open.data.truncate(rec.start);
            self.fail(Err(e));
            return;
        }
        if let Some(mut w) = alone {
            // The line's end, then the run of this one line.
            let rec = self.open.recs.pop().expect("the line just added");
            let r = w
                .piece(&self.open.data[rec.start..])
                .and_then(|_| w.end())
                .and_then(|_| w.finish());
            self.open.data.truncate(rec.start);
            match r {
                Err(e) => self.fail(Err(e)),
                Ok(p) => {
                    self.runs.push((p, 0));
                    let r = self.bound_runs();
                    self.fail(r);
                }
            }
        }
        if self.held + self.open.bytes() > self.budget {
            self.spill();
        }
    }

    /// Add sorted segments (a table's lines, formatted elsewhere) whose
    /// positions count from `base`.
    pub(super) fn append(&mut self, segs: Vec<Segment>, base: u64) {
        for mut s in segs {
            s.sort();
            s.shift(base);
            self.held += s.bytes();
            self.segs.push(s);
            if self.held + self.open.bytes() > self.budget {
                self.spill();
            }
        }
    }

    fn seal(&mut self) {
        let mut s = std::mem::take(&mut self.open);
        if s.recs.is_empty() {
            return;
        }
        s.sort();
        self.held += s.bytes();
        self.segs.push(s);
    }

    /// Write what is held as one run; merge runs when a tier is full.
    /// are too many.
    fn spill(&mut self) {
        if self.error.is_some() {
            return;
        }
        self.seal();
        let r = (|| {
            let mut w = RunWriter::create(new_run(&self.base, &mut self.dir, &mut self.made)?)?;
            merge(&self.segs, &[], &mut w)?;
            self.runs.push((w.finish()?, 0));
            self.segs.clear();
            self.held = 0;
            self.bound_runs()
        })();
        self.fail(r);
    }

    /// Merge the runs of a tier that is full into one run of the next,
    /// as long as one is full.
    fn bound_runs(&mut self) -> io::Result<()> {
        loop {
            let mut tiers: Vec<u32> = self.runs.iter().map(|r| r.1).collect();
            tiers.sort_unstable();
            let Some(full) = tiers
                .chunk_by(|a, b| a == b)
                .find(|t| t.len() >= FAN_IN)
                .map(|t| t[0])
            else {
                return Ok(());
            };
            let (these, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.runs)
                .into_iter()
                .partition(|r| r.1 == full);
            self.runs = rest;
            let paths: Vec<PathBuf> = these.into_iter().map(|r| r.0).collect();
            let mut w = RunWriter::create(new_run(&self.base, &mut self.dir, &mut self.made)?)?;
            merge(&[], &paths, &mut w)?;
            self.runs.push((w.finish()?, full + 1));
            for p in paths {
                std::fs::remove_file(p)?;
            }
        }
    }

    /// Merge everything into `out`, in key order; the runs are removed.
    pub(super) fn finish(mut self, out: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        self.seal();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let runs: Vec<PathBuf> = self.runs.iter().map(|r| r.0.clone()).collect();
        merge(&self.segs, &runs, &mut Emit(out))
    }
}

impl Drop for SeqSort {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(&d);
            super::cleanup::done(&d);
        }
    }
}

/// The path of a new run, making the runs' directory first if needed.
fn new_run(base: &Path, dir: &mut Option<PathBuf>, made: &mut u64) -> io::Result<PathBuf> {
    if dir.is_none() {
        let pid = std::process::id();
        let mut n = 0u32;
        loop {
            let d = base.join(format!(".seq-runs.tmp-{pid}-{n}"));
            super::cleanup::tree(&d);
            match std::fs::create_dir(&d) {
                Ok(()) => {
                    *dir = Some(d);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => {
                    // Not ours: leave it alone.
                    super::cleanup::done(&d);
                    n += 1;
                }
                Err(e) => {
                    super::cleanup::done(&d);
                    return Err(e);
                }
            }
        }
    }
    *made += 1;
    Ok(dir
        .as_ref()
        .expect("made above")
        .join(format!("run-{made}")))
}

/// Where merged lines go: a run (keys kept) or the export (lines only).
trait RecOut {
    fn begin(&mut self, k: Key) -> io::Result<()>;
    fn piece(&mut self, b: &[u8]) -> io::Result<()>;
    fn end(&mut self) -> io::Result<()>;
}

struct RunWriter {
    path: PathBuf,
    w: BufWriter<File>,
}

impl RunWriter {
    fn create(path: PathBuf) -> io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(RunWriter {
            path,
            w: BufWriter::with_capacity(RUN_BUF, f),
        })
    }

    fn finish(mut self) -> io::Result<PathBuf> {
        self.w.flush()?;
        Ok(self.path)
    }
}

impl RecOut for RunWriter {
    fn begin(&mut self, k: Key) -> io::Result<()> {
        self.w.write_all(&k.store.to_le_bytes())?;
        self.w.write_all(&k.seq.to_le_bytes())?;
        self.w.write_all(&k.ord.to_le_bytes())
    }
    fn piece(&mut self, b: &[u8]) -> io::Result<()> {
        if b.is_empty() {
            return Ok(());
        }
        self.w.write_all(&(b.len() as u64).to_le_bytes())?;
        self.w.write_all(b)
    }
    fn end(&mut self) -> io::Result<()> {
        self.w.write_all(&0u64.to_le_bytes())
    }
}

struct Emit<'a>(&'a mut dyn FnMut(&[u8]));

impl RecOut for Emit<'_> {
    fn begin(&mut self, _: Key) -> io::Result<()> {
        Ok(())
    }
    fn piece(&mut self, b: &[u8]) -> io::Result<()> {
        (self.0)(b);
        Ok(())
    }
    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A run being read: its next record's key, the line still in the file.
struct RunReader {
    r: BufReader<File>,
    key: Option<Key>,
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

impl RunReader {
    fn open(p: &Path) -> io::Result<Self> {
        let mut r = RunReader {
            r: BufReader::with_capacity(RUN_BUF, File::open(p)?),
            key: None,
        };
        r.next_key()?;
        Ok(r)
    }

    fn next_key(&mut self) -> io::Result<()> {
        let mut b = [0u8; 20];
        // A clean end lies between records only.
        let n = self.r.read(&mut b[..1])?;
        if n == 0 {
            self.key = None;
            return Ok(());
        }
        self.r.read_exact(&mut b[1..])?;
        let (s, rest) = b.split_at(4);
        let (q, o) = rest.split_at(8);
        self.key = Some(Key {
            store: u32::from_le_bytes(s.try_into().expect("4 bytes")),
            seq: u64::from_le_bytes(q.try_into().expect("8 bytes")),
            ord: u64::from_le_bytes(o.try_into().expect("8 bytes")),
        });
        Ok(())
    }

    /// Copy the current line to `out`, in pieces of at most `RUN_BUF`.
    fn copy(&mut self, out: &mut dyn RecOut, scratch: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let mut len = read_u64(&mut self.r)?;
            if len == 0 {
                return Ok(());
            }
            while len > 0 {
                let n = len.min(RUN_BUF as u64) as usize;
                scratch.resize(n, 0);
                self.r.read_exact(scratch)?;
                out.piece(scratch)?;
                len -= n as u64;
            }
        }
    }
}

/// Merge sorted segments and runs into `out`, by key.
fn merge(segs: &[Segment], runs: &[PathBuf], out: &mut dyn RecOut) -> io::Result<()> {
    let mut readers = runs
        .iter()
        .map(|p| RunReader::open(p))
        .collect::<io::Result<Vec<_>>>()?;
    let mut pos = vec![0usize; segs.len()];
    // Sources 0..segs.len() are the segments, then the runs.
    let mut heap: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::new();
    for (i, s) in segs.iter().enumerate() {
        debug_assert!(!s.unsorted);
        if let Some(r) = s.recs.first() {
            heap.push(Reverse((r.key, i)));
        }
    }
    for (j, r) in readers.iter().enumerate() {
        if let Some(k) = r.key {
            heap.push(Reverse((k, segs.len() + j)));
        }
    }
    let mut scratch = Vec::new();
    while let Some(Reverse((key, i))) = heap.pop() {
        out.begin(key)?;
        let next = if let Some(s) = segs.get(i) {
            let r = s.recs[pos[i]];
            out.piece(&s.data[r.start..r.start + r.len])?;
            pos[i] += 1;
            s.recs.get(pos[i]).map(|r| r.key)
        } else {
            let r = &mut readers[i - segs.len()];
            r.copy(out, &mut scratch)?;
            r.next_key()?;
            r.key
        };
        out.end()?;
        if let Some(k) = next {
            heap.push(Reverse((k, i)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch::Kind;

    fn entry(seq: u64, value: &[u8]) -> Entry<'_> {
        Entry {
            seq,
            kind: Kind::Put,
            key: b"k",
            value,
            offset: seq,
            expiry: None,
            cf: None,
        }
    }

    fn sorted_output(budget: u64, items: &[(u32, u64, usize)], tables: bool) -> Vec<u8> {
        let tmp = tempfile_dir();
        let mut s = SeqSort::with_budget(tmp.clone(), budget);
        let mut table = Vec::new();
        for (ord, &(store, seq, vlen)) in items.iter().enumerate() {
            let v = vec![b'x'; vlen];
            let key = Key {
                store,
                seq,
                ord: ord as u64,
            };
            if tables && seq % 2 == 0 {
                let mut seg = Segment::with_capacity(1024);
                push_into(
                    &mut seg,
                    Key { ord: 0, ..key },
                    &entry(seq, &v),
                    "f",
                    Marks::default(),
                    usize::MAX,
                    &mut |_, _| {},
                );
                table.push(seg);
                s.append(std::mem::take(&mut table), key.ord);
            } else {
                s.push(key, &entry(seq, &v), "f", Marks::default());
            }
        }
        let mut out = Vec::new();
        s.finish(&mut |b| out.extend_from_slice(b)).unwrap();
        assert!(
            std::fs::read_dir(&tmp).unwrap().next().is_none(),
            "runs left behind"
        );
        std::fs::remove_dir(&tmp).unwrap();
        out
    }

    fn tempfile_dir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "ldbsalvage-seqsort-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&d).unwrap();
        d
    }

    /// Whatever the budget (all in memory, many runs, runs merged, huge
    /// lines alone), the output is the same lines in (store, seq, ord)
    /// order.
    #[test]
    fn output_does_not_depend_on_the_budget() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let items: Vec<(u32, u64, usize)> = (0..3000)
            .map(|i| {
                let vlen = if i % 997 == 0 {
                    200_000
                } else {
                    rnd(300) as usize
                };
                (rnd(2) as u32, rnd(1000), vlen)
            })
            .collect();
        let mut want: Vec<(u32, u64, usize, usize)> = items
            .iter()
            .enumerate()
            .map(|(o, &(st, q, l))| (st, q, o, l))
            .collect();
        want.sort();
        let mut expect = Vec::new();
        for &(_, seq, _, vlen) in &want {
            let v = vec![b'x'; vlen];
            super::super::ndjson::push_line(
                &mut expect,
                &entry(seq, &v),
                "f",
                Marks::default(),
                None,
            );
        }
        for budget in [1_000_000_000, 300_000, 20_000] {
            for tables in [false, true] {
                let got = sorted_output(budget, &items, tables);
                assert!(got == expect, "budget {budget}, tables {tables}");
            }
        }
    }
}
