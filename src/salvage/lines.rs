//! Where export lines go: formatted into large buffers and written by a
//! thread of their own, in order; what tables formatted on worker threads
//! hold until their turn, within a budget.

use super::deferred::Deferred;
use super::durable::DurableFile;
use super::ndjson::{push_line_in_pieces, Marks};
use super::seqsort::{self, Key, Segment, SeqSort};
use crate::scan::Entry;
use std::io::{self, Write};

pub(super) enum Out {
    File(DurableFile),
    Stdout(super::pipe::PipeOut),
}

impl Out {
    pub(super) fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Out::File(f) => f.write_all(b),
            Out::Stdout(s) => s.write_all(b),
        }
    }

    /// Make the output complete and visible under its final name.
    pub(super) fn commit(self) -> io::Result<()> {
        match self {
            Out::File(f) => f.commit(),
            Out::Stdout(mut s) => s.flush(),
        }
    }
}

/// Line output. Lines are formatted into large buffers on the scanning
/// thread and written by a thread of their own, so formatting and the
/// kernel's copy of the bytes overlap. Order is kept: one writer, one queue.
pub(super) struct Lines {
    pub(super) tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    pub(super) writer: Option<std::thread::JoinHandle<(Out, Option<io::Error>)>>,
    pub(super) buf: Vec<u8>,
    pub(super) count: u64,
    /// `--order seq`: lines are sorted by (store, sequence) on their way
    /// out (`salvage::seqsort`); `store` is the store of the lines pushed.
    pub(super) seq: Option<SeqSort>,
    pub(super) store: u32,
    /// Lines pushed one by one formatted on the pool ([`Lines::deferring`]).
    deferred: Option<Deferred>,
}

pub(super) const LINES_BUF: usize = 1 << 20;

/// Buffers of about [`LINES_BUF`] that may wait for the writer: an eighth
/// of the lines budget, 32 by default, never fewer than 4. Whoever appends
/// (a pool thread, between batches of tables or after a key range) blocks when
/// they are all taken, and a blocked pool thread merges and decodes
/// nothing: with the export written straight to the disk
/// (`salvage::durable`) a queue of 4 kept one of two cores idle a third of
/// the time in `--view latest`. 32 holds the lines of the key ranges
/// merged ahead of their turn (lines held until their turn move here), so
/// appending does not wait for the disk while it keeps up.
fn writer_queue() -> usize {
    let n = lines_budget() / 8 / LINES_BUF as u64;
    usize::try_from(n).unwrap_or(usize::MAX).clamp(4, 32)
}

impl Lines {
    pub(super) fn new(w: Option<Out>) -> Self {
        let (tx, writer) = match w {
            Some(mut out) => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(writer_queue());
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
            seq: None,
            store: 0,
            deferred: None,
        }
    }

    /// Lines pushed one at a time are formatted on the pool, a batch at a
    /// time, and written in the order they were pushed
    /// ([`super::deferred`]): for the entries of logs, which arrive on the
    /// one thread that joins their records. Not on a pool of one thread,
    /// where there is no other thread to format on and the copy into the
    /// batches would only add to the work (11% slower, measured).
    pub(super) fn deferring(mut self) -> Self {
        if self.tx.is_some() && rayon::current_num_threads() > 1 {
            self.deferred = Some(Deferred::new());
        }
        self
    }

    /// Everything deferred goes to the writer: what is written next follows it.
    fn flush_deferred(&mut self) {
        if let (Some(d), Some(tx)) = (&mut self.deferred, &self.tx) {
            // As in send(): only a writer that is gone fails.
            d.flush(&mut |c| {
                let _ = tx.send(c);
            });
        }
    }

    /// Lines in sequence order instead of as they come.
    pub(super) fn sorted_by_seq(mut self, sort: SeqSort) -> Self {
        if self.tx.is_some() {
            self.seq = Some(sort);
        }
        self
    }

    pub(super) fn push(
        &mut self,
        e: &Entry<'_>,
        file: &str,
        marks: Marks<'_>,
        reason: Option<&str>,
    ) {
        self.count += 1;
        let Some(tx) = &self.tx else {
            return;
        };
        if let Some(s) = &mut self.seq {
            let key = Key {
                store: self.store,
                seq: e.seq,
                ord: self.count - 1,
            };
            s.push(key, e, file, marks);
            return;
        }
        if let Some(d) = &mut self.deferred {
            if reason.is_none() && Deferred::takes(e, &marks) {
                if !self.buf.is_empty() {
                    let full = std::mem::replace(&mut self.buf, Vec::with_capacity(LINES_BUF));
                    let _ = tx.send(full);
                }
                // As in send(): only a writer that is gone fails.
                d.push(e, file, marks, &mut |c| {
                    let _ = tx.send(c);
                });
                return;
            }
        }
        self.flush_deferred();
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
    pub(super) fn append(&mut self, lines: Chunks) {
        self.flush_deferred();
        let base = self.count;
        self.count += lines.n;
        if self.tx.is_none() {
            return;
        }
        if let Some(s) = &mut self.seq {
            s.append(lines.segs, base);
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

    pub(super) fn send(&mut self) {
        self.flush_deferred();
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(LINES_BUF));
        if let Some(tx) = &self.tx {
            // A send fails only if the writer thread is gone; finish() says why.
            let _ = tx.send(full);
        }
    }

    /// Write what is left and hand back the output, not yet committed.
    pub(super) fn finish(&mut self) -> io::Result<Option<Out>> {
        self.flush_deferred();
        if let Some(s) = self.seq.take() {
            s.finish(&mut |b| {
                self.buf.extend_from_slice(b);
                if self.buf.len() >= LINES_BUF {
                    self.send();
                }
            })?;
        }
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
    pub(super) bytes: std::sync::atomic::AtomicU64,
    pub(super) limit: u64,
}

/// Default for [`Held`]'s limit: a LevelDB table of ~2 MiB formats into
/// ~7 MiB of lines, so this holds a few dozen.
pub const LINES_BUDGET: u64 = 256 << 20;

impl Held {
    pub(super) fn new() -> Self {
        Held {
            bytes: Default::default(),
            limit: lines_budget(),
        }
    }
}

/// [`LINES_BUDGET`], or `LDBSALVAGE_LINES_BUDGET` (for tests only).
fn lines_budget() -> u64 {
    std::env::var("LDBSALVAGE_LINES_BUDGET")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &u64| n > 0)
        .unwrap_or(LINES_BUDGET)
}

/// Lines formatted on a worker thread, in chunks of about [`LINES_BUF`]:
/// a growing buffer would copy everything it holds each time it doubles.
/// With a [`Held`], full chunks count against it; one that would pass it
/// gives up instead (`over`): its lines are dropped and the table is
/// formatted again in its turn, straight into the output.
#[derive(Default)]
pub(super) struct Chunks<'h> {
    pub(super) full: Vec<Vec<u8>>,
    pub(super) cur: Vec<u8>,
    pub(super) n: u64,
    pub(super) held: Option<&'h Held>,
    pub(super) counted: u64,
    pub(super) over: bool,
    /// `--order seq`: lines are kept in segments with their keys
    /// (positions counted from this table's first line), sorted by
    /// [`Chunks::seal`]; `store` is the table's store.
    pub(super) seq: bool,
    pub(super) store: u32,
    pub(super) segs: Vec<Segment>,
    /// Bytes of `segs`, counted against `held` as they grow.
    pub(super) formatted: u64,
}

impl Chunks<'_> {
    pub(super) fn push(
        &mut self,
        e: &Entry<'_>,
        file: &str,
        marks: Marks<'_>,
        reason: Option<&str>,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        if self.seq {
            return self.push_seq(e, file, marks);
        }
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

    /// [`Chunks::push`] with `--order seq`: the line goes into the last
    /// segment with its key, and what the segments hold counts against the
    /// budget in steps of [`LINES_BUF`], a huge line's while it grows.
    fn push_seq(&mut self, e: &Entry<'_>, file: &str, marks: Marks<'_>) {
        let key = Key {
            store: self.store,
            seq: e.seq,
            ord: self.n,
        };
        self.n += 1;
        if self.over {
            return;
        }
        if self.segs.last().is_none_or(|s| s.len() >= LINES_BUF) {
            if let Some(s) = self.segs.last_mut() {
                s.sort();
            }
            self.segs
                .push(Segment::with_capacity(LINES_BUF + LINES_BUF / 8));
        }
        let Chunks {
            segs,
            held,
            counted,
            over,
            formatted,
            ..
        } = self;
        let held: Option<&Held> = *held;
        let seg = segs.last_mut().expect("pushed above");
        let before = seg.bytes();
        let charge = |now: u64, counted: &mut u64, over: &mut bool| {
            let Some(h) = held else {
                return;
            };
            let n = now.saturating_sub(*counted);
            if *over || n < LINES_BUF as u64 {
                return;
            }
            if h.bytes
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed)
                .saturating_add(n)
                > h.limit
            {
                h.bytes.fetch_sub(
                    n.saturating_add(*counted),
                    std::sync::atomic::Ordering::Relaxed,
                );
                *counted = 0;
                *over = true;
                return;
            }
            *counted += n;
        };
        let base = *formatted;
        seqsort::push_into(seg, key, e, file, marks, LINES_BUF, &mut |d, start| {
            charge(base + (d.len() - start) as u64, counted, over);
            if *over {
                // Given up: the table is formatted again in its turn.
                d.truncate(start);
            }
        });
        *formatted += seg.bytes() - before;
        charge(*formatted, counted, over);
        if self.over {
            self.segs = Vec::new();
        }
    }

    /// Sort the last segment (on the thread that formatted the lines).
    pub(super) fn seal(&mut self) {
        if let Some(s) = self.segs.last_mut() {
            s.sort();
        }
    }

    /// The held bytes are about to be written: no longer held.
    pub(super) fn release(&mut self) {
        if let Some(h) = self.held {
            h.bytes.fetch_sub(
                std::mem::take(&mut self.counted),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
    }
}
