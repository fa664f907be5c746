//! Lines of entries that arrive one by one on a single thread (a log's
//! records, joined in file order), formatted on the pool instead of on that
//! thread: entries are copied into a batch, each full batch is formatted by
//! a pool task, and the tasks' lines are handed on in the order the batches
//! were cut. Formatting is most of the work of `--view all`; done where the
//! records are joined, it held one core to the whole log.

use super::lines::LINES_BUF;
use super::ndjson::{push_line_in_pieces, Marks};
use crate::format::batch::Kind;
use crate::format::ikey::Expiry;
use crate::scan::Entry;
use crate::vocab::cf::Cf;
use crate::vocab::FileState;
use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

/// Bytes of keys and values a batch holds before it is formatted: its
/// lines are ~0.7 MiB of text (3.3 MiB at most, every byte escaped).
const BATCH_BYTES: usize = 512 << 10;

/// Entries a batch holds at most: a batch of tiny entries is cut by their
/// number, so that what it keeps per entry (~100 bytes) stays ~0.8 MiB.
const BATCH_ENTRIES: usize = 8 << 10;

/// An entry no larger than this (key and value) may wait in a batch; a
/// larger one is formatted where it arrives, in pieces, as before: its line
/// is never held whole (see `push_line_in_pieces`).
const MAX_DEFERRED: usize = 64 << 10;

/// An entry's fields other than its bytes, which are in the batch's arena.
struct Item {
    seq: u64,
    kind: Kind,
    offset: u64,
    expiry: Option<Expiry>,
    cf: Option<Cf>,
    /// Ends of the key and the value in the arena (each starts where the
    /// one before ends).
    key_end: usize,
    value_end: usize,
}

/// Entries of one file, waiting to be formatted.
struct Batch {
    file: Arc<str>,
    state: Option<FileState>,
    idb: bool,
    items: Vec<Item>,
    bytes: Vec<u8>,
}

impl Batch {
    /// Format every line, in chunks of about [`LINES_BUF`].
    fn format(&self) -> Vec<Vec<u8>> {
        let marks = Marks {
            state: self.state,
            idb: self.idb,
            ..Marks::default()
        };
        let mut out = Vec::new();
        let mut cur = Vec::with_capacity(LINES_BUF + LINES_BUF / 8);
        let mut start = 0;
        for it in &self.items {
            let e = Entry {
                seq: it.seq,
                kind: it.kind,
                key: self.bytes.get(start..it.key_end).unwrap_or_default(),
                value: self.bytes.get(it.key_end..it.value_end).unwrap_or_default(),
                offset: it.offset,
                expiry: it.expiry,
                cf: it.cf,
            };
            start = it.value_end;
            push_line_in_pieces(&mut cur, &e, &self.file, marks, None, LINES_BUF, &mut |c| {
                out.push(std::mem::replace(c, Vec::with_capacity(LINES_BUF)));
            });
            if cur.len() >= LINES_BUF {
                out.push(std::mem::replace(&mut cur, Vec::with_capacity(LINES_BUF)));
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }
}

/// Batches being filled and formatted, in order.
pub(super) struct Deferred {
    batch: Option<Batch>,
    /// The formatted lines of the batches cut, oldest first, each with its
    /// batch back to be filled again (fresh memory each time cost more
    /// than the copying into it: every page touched for the first time).
    inflight: VecDeque<Receiver<(Vec<Vec<u8>>, Batch)>>,
    spare: Vec<Batch>,
    /// Batches that may be formatting at once: one for every thread of
    /// the pool and the one whose lines are passed on next, at most 8.
    max_inflight: usize,
}

impl Deferred {
    pub(super) fn new() -> Self {
        Deferred {
            batch: None,
            inflight: VecDeque::new(),
            spare: Vec::new(),
            max_inflight: (rayon::current_num_threads() + 1).clamp(2, 8),
        }
    }

    /// Whether `e` may wait in a batch: what its line needs is held by the
    /// batch (a blob index's value is looked up in the store's blob files,
    /// which a batch does not carry), and it is small.
    pub(super) fn takes(e: &Entry<'_>, marks: &Marks<'_>) -> bool {
        marks.blobs.is_none()
            && !marks.suspect_newer
            && !marks.from_orphan
            && e.key.len().saturating_add(e.value.len()) <= MAX_DEFERRED
    }

    /// Add `e` (of `file`, marked `marks`; see [`Deferred::takes`]); the
    /// lines of batches already formatted go to `send`, in order.
    pub(super) fn push(
        &mut self,
        e: &Entry<'_>,
        file: &str,
        marks: Marks<'_>,
        send: &mut dyn FnMut(Vec<u8>),
    ) {
        let same = self
            .batch
            .as_ref()
            .is_some_and(|b| &*b.file == file && b.state == marks.state && b.idb == marks.idb);
        if !same {
            self.cut(send);
            let mut b = self.spare.pop().unwrap_or_else(|| Batch {
                file: file.into(),
                state: None,
                idb: false,
                items: Vec::new(),
                bytes: Vec::with_capacity(BATCH_BYTES + MAX_DEFERRED),
            });
            if &*b.file != file {
                b.file = file.into();
            }
            b.state = marks.state;
            b.idb = marks.idb;
            self.batch = Some(b);
        }
        let b = self.batch.as_mut().expect("made above");
        b.bytes.extend_from_slice(e.key);
        let key_end = b.bytes.len();
        b.bytes.extend_from_slice(e.value);
        b.items.push(Item {
            seq: e.seq,
            kind: e.kind,
            offset: e.offset,
            expiry: e.expiry,
            cf: e.cf,
            key_end,
            value_end: b.bytes.len(),
        });
        if b.bytes.len() >= BATCH_BYTES || b.items.len() >= BATCH_ENTRIES {
            self.cut(send);
        }
    }

    /// Hand the batch being filled to the pool, and pass on lines until no
    /// more than the allowed batches are in flight.
    fn cut(&mut self, send: &mut dyn FnMut(Vec<u8>)) {
        if let Some(b) = self.batch.take() {
            let (tx, rx) = channel();
            rayon::spawn(move || {
                let lines = b.format();
                // The receiver is gone only when the run ended early.
                let _ = tx.send((lines, b));
            });
            self.inflight.push_back(rx);
        }
        self.drain(self.max_inflight, send);
    }

    /// Format and pass on everything held: what comes next must follow it.
    pub(super) fn flush(&mut self, send: &mut dyn FnMut(Vec<u8>)) {
        self.cut(send);
        self.drain(0, send);
    }

    /// Pass on the oldest batches' lines until at most `keep` are left in
    /// flight. While one is not done yet this thread runs other pool work
    /// (with one thread, the formatting itself), and waits only when there
    /// is none: the batch is then being formatted on another thread.
    fn drain(&mut self, keep: usize, send: &mut dyn FnMut(Vec<u8>)) {
        while self.inflight.len() > keep {
            let rx = self.inflight.pop_front().expect("more than keep");
            // A task that ended without sending panicked, and a panic in a
            // spawned task aborts the process: never lines silently lost.
            let gone = "a formatting task ended without its lines";
            let lines = loop {
                match rx.try_recv() {
                    Ok(l) => break l,
                    Err(TryRecvError::Disconnected) => panic!("{gone}"),
                    Err(TryRecvError::Empty) => {}
                }
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    continue;
                }
                match rx.recv_timeout(Duration::from_millis(1)) {
                    Ok(l) => break l,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => panic!("{gone}"),
                }
            };
            let (lines, mut batch) = lines;
            for chunk in lines {
                send(chunk);
            }
            batch.items.clear();
            batch.bytes.clear();
            self.spare.push(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salvage::durable::DurableFile;
    use crate::salvage::lines::{Lines, Out};
    use crate::salvage::ndjson::push_line;

    /// Entries of every shape a log yields: keys and values of many sizes
    /// (a few too large to wait in a batch), deletes, expiries, column
    /// families, two files and a state, in runs long enough to fill
    /// several batches.
    struct Owned {
        seq: u64,
        kind: Kind,
        key: Vec<u8>,
        value: Vec<u8>,
        offset: u64,
        expiry: Option<Expiry>,
        cf: Option<Cf>,
        file: &'static str,
        state: Option<FileState>,
    }

    fn entries() -> Vec<Owned> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..40_000u64)
            .map(|i| {
                let r = next();
                let vlen = match r % 1000 {
                    0..=1 => MAX_DEFERRED + 1 + (r as usize >> 20) % 5000,
                    2..=9 => 20_000,
                    _ => (r as usize >> 12) % 300,
                };
                let kind = if r % 17 == 0 { Kind::Delete } else { Kind::Put };
                Owned {
                    seq: i,
                    kind,
                    key: format!("key\"{}\\{}", r % 977, i).into_bytes(),
                    value: if kind == Kind::Put {
                        // A third of the values are not UTF-8 (base64).
                        let text: &[u8] = if r % 3 == 0 {
                            b"ab\"c\n\xffd"
                        } else {
                            b"ab\"c\nxd"
                        };
                        (0..vlen).map(|j| text[(j + i as usize) % 7]).collect()
                    } else {
                        Vec::new()
                    },
                    offset: i * 40,
                    expiry: (r % 23 == 0).then_some(Expiry {
                        kind: 2,
                        micros: r >> 8,
                    }),
                    cf: (r % 29 == 0).then_some(Cf {
                        id: 3,
                        name: Some("events"),
                        history: r % 58 == 0,
                    }),
                    file: if i < 25_000 {
                        "000005.log"
                    } else {
                        "000007.log"
                    },
                    state: (i >= 33_000).then_some(FileState::Obsolete),
                }
            })
            .collect()
    }

    fn entry(o: &Owned) -> (Entry<'_>, Marks<'static>) {
        let e = Entry {
            seq: o.seq,
            kind: o.kind,
            key: &o.key,
            value: &o.value,
            offset: o.offset,
            expiry: o.expiry,
            cf: o.cf,
        };
        let marks = Marks {
            state: o.state,
            ..Marks::default()
        };
        (e, marks)
    }

    fn serial(all: &[Owned]) -> Vec<u8> {
        let mut want = Vec::new();
        for o in all {
            let (e, marks) = entry(o);
            push_line(&mut want, &e, o.file, marks, None);
        }
        want
    }

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    }

    /// Lines pushed through a deferring `Lines` into a file, on a pool of
    /// `threads`, read back.
    fn through_lines(all: &[Owned], threads: usize) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("records.jsonl");
        pool(threads).install(|| {
            let f = DurableFile::create(&dest).unwrap();
            let mut lines = Lines::new(Some(Out::File(f))).deferring();
            for o in all {
                let (e, marks) = entry(o);
                lines.push(&e, o.file, marks, None);
            }
            assert_eq!(lines.count, all.len() as u64);
            lines.finish().unwrap().unwrap().commit().unwrap();
        });
        std::fs::read(&dest).unwrap()
    }

    #[test]
    fn lines_formatted_on_the_pool_come_out_as_pushed() {
        let all = entries();
        let want = serial(&all);
        // Lines that do not wait in a batch (the large values) go out
        // between batches: each must follow what was pushed before it.
        assert!(all.iter().any(|o| {
            let (e, m) = entry(o);
            !Deferred::takes(&e, &m)
        }));
        for threads in [2, 3] {
            assert!(
                through_lines(&all, threads) == want,
                "{threads} threads: the file differs from the lines written one by one"
            );
        }
    }

    #[test]
    fn a_pool_of_one_thread_formats_its_own_batches() {
        // `Lines` does not defer on one thread; `Deferred` itself must
        // still finish there (the waiting thread runs the formatting).
        let all = entries();
        let want = serial(&all);
        let mut got = Vec::new();
        pool(1).install(|| {
            let mut d = Deferred::new();
            for o in &all {
                let (e, marks) = entry(o);
                if Deferred::takes(&e, &marks) {
                    d.push(&e, o.file, marks, &mut |c| got.extend_from_slice(&c));
                } else {
                    d.flush(&mut |c| got.extend_from_slice(&c));
                    push_line(&mut got, &e, o.file, marks, None);
                }
            }
            d.flush(&mut |c| got.extend_from_slice(&c));
        });
        assert!(
            got == want,
            "the lines differ from the lines written one by one"
        );
    }

    #[test]
    fn a_batch_is_cut_by_its_count_of_entries_too() {
        // Tiny entries: the batch is cut at BATCH_ENTRIES, long before its
        // bytes reach BATCH_BYTES.
        let (mut batches, mut sent) = (0, 0usize);
        let e = Entry {
            seq: 1,
            kind: Kind::Delete,
            key: b"k",
            value: b"",
            offset: 0,
            expiry: None,
            cf: None,
        };
        pool(2).install(|| {
            let mut d = Deferred::new();
            for _ in 0..3 * BATCH_ENTRIES {
                d.push(&e, "000001.log", Marks::default(), &mut |c| sent += c.len());
                batches = batches.max(d.inflight.len() + d.spare.len());
            }
            d.flush(&mut |c| sent += c.len());
        });
        assert!(
            batches >= 2,
            "three batches' worth of entries made {batches} batch(es)"
        );
        let mut one = Vec::new();
        push_line(&mut one, &e, "000001.log", Marks::default(), None);
        assert_eq!(sent, one.len() * 3 * BATCH_ENTRIES);
    }
}
