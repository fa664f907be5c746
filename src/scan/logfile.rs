//! Reading a file in the log format (write-ahead logs and MANIFESTs): blocks
//! are read and parsed in parallel a window at a time, then their fragments
//! are joined into records in file order, and every byte that is not part of
//! a verified record is accounted for as damage.
//!
//! Memory is two windows (a few MiB each: the one being joined and the next)
//! plus the record being joined and, per thread, the pieces of one block,
//! whatever the size of the file: a record is never joined past
//! [`MAX_RECORD_SIZE`], since a chain of fragments need not end.

use super::mapped::Mapped;
use crate::format::log::{
    decode_compression_type, decompress_record, decompress_record_prefix, looks_compressed,
    parse_block_with, BadReason, LogFlavor, Piece, RecordType, Special, BLOCK_SIZE, HEADER_SIZE,
    MAX_RECORD_SIZE, WAL_ZSTD,
};
use crate::report::{Class, Counts, Damage};
use rayon::prelude::*;
use std::io;

/// Blocks per window: enough work to spread over the cores, small enough to
/// keep memory flat.
const WINDOW_BLOCKS: usize = 128;

/// At most this many blocks in one job of the pool. Left to itself, rayon
/// cut a window into a few long pieces, and the thread that ended its
/// piece first spun until the other ended too: every window ended so.
/// Jobs of 4 blocks (128 KiB) took a warm scan of the bench log from 0.0655
/// to 0.0611 s (41 interleaved runs), and its `sched_yield` calls from
/// ~4,300 to ~2,800.
const BLOCKS_PER_JOB: usize = 4;

/// Zeros ending a record with a bad checksum at least this long are taken
/// for unwritten space rather than the record's own trailing zero bytes.
const MIN_UNWRITTEN_RUN: usize = 32;

/// Where the bytes come from: a file (positional reads, so several threads
/// can read at once) or memory.
pub trait Source: Sync {
    /// Read up to `buf.len()` bytes at `offset`; fewer only at end of file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// The same bytes through a mapping, when this source offers one (see
    /// [`Mapped`]); `None` means read them.
    fn map(&self, _offset: u64, _len: usize) -> Option<Mapped> {
        None
    }
    /// Whether the source still holds `end` bytes. A mapping reads zeros
    /// (no SIGBUS) past the end of a file that shrank within its last page,
    /// so mapped bytes count only when the file is still this long after
    /// they were read.
    fn holds(&self, _end: u64) -> bool {
        true
    }
    /// Start reading `len` bytes at `offset` in the background (see
    /// [`super::open::prefetch`]); a source in memory has nothing to do.
    fn prefetch(&self, _offset: u64, _len: usize) {}
    /// [`Source::prefetch`], but only when the first of those bytes is not
    /// in the page cache yet: for windows that are mapped, where the hint
    /// helps a cold file and costs a warm one.
    fn prefetch_cold(&self, _offset: u64, _len: usize) {}
}

/// A file read through mappings where possible: for a scan that keeps
/// counts only (see `scan::mapped` for why nothing that exports bytes may).
pub struct MappedFile<'a>(pub &'a std::fs::File);

impl Source for MappedFile<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn map(&self, offset: u64, len: usize) -> Option<Mapped> {
        Mapped::map(self.0, offset, len)
    }
    fn holds(&self, end: u64) -> bool {
        self.0.metadata().is_ok_and(|m| m.len() >= end)
    }
    fn prefetch(&self, offset: u64, len: usize) {
        super::open::prefetch(self.0, offset, len as u64);
    }
    fn prefetch_cold(&self, offset: u64, len: usize) {
        if !super::open::resident(self.0, offset) {
            self.prefetch(offset, len);
        }
    }
}

/// Bytes already in memory.
pub struct Mem<'a>(pub &'a [u8]);

impl Source for Mem<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }
}

impl Source for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match FileExt::read_at(self, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
    fn prefetch(&self, offset: u64, len: usize) {
        super::open::prefetch(self, offset, len as u64);
    }
}

/// The result of decoding a single-fragment record ahead of time, on the
/// parallel pass: what the layer above needs to accept it (for a write
/// batch, its sequence and count), or why it does not decode.
pub type Precheck = Result<(u64, u32), String>;

/// A fragment whose checksum verified, where the stitcher found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of its header.
    pub offset: u64,
    /// End of its payload.
    pub end: u64,
    pub rtype: RecordType,
    /// Payload bytes it carries.
    pub len: usize,
}

/// Told what every verified fragment became, for laying a file out unit by
/// unit (`inspect`). A scan without one keeps no fragment list at all.
///
/// Every verified fragment is reported exactly once, in file order of the
/// records and ranges they end up in.
pub trait LayoutSink {
    /// The record just accepted by [`RecordSink::record`]: its fragments (one
    /// FULL, or FIRST, MIDDLEs, LAST) and its joined payload.
    fn intact(&mut self, frags: &[Fragment], payload: &[u8]);
    /// Verified fragments that joined no intact record (a broken chain, an
    /// orphan, a record whose payload did not decode): they lie inside one
    /// of the outcome's damaged ranges.
    fn damaged(&mut self, frags: &[Fragment]);
    /// A new damaged range opens at `offset`. Its extent, class and reason
    /// are final only in the outcome: later damage may join it, and whether
    /// it is a torn tail depends on what follows.
    fn damage(&mut self, _offset: u64) {}
    /// The damaged range `index` can grow no more, and is as it will be in
    /// the outcome (a layer above may still add its lost entries): an intact
    /// record or a separate range came after it. Ranges still open when the
    /// file ends are final only in the outcome.
    fn damage_final(&mut self, _index: usize, _d: Damage) {}
}

/// What the layer above makes of records (write batches, version edits).
pub trait RecordSink {
    /// A pure function that decodes a record's payload: run on the worker
    /// threads for every single-fragment record, so that the ordered pass
    /// that joins records does not have to.
    fn precheck(&self) -> Option<fn(&[u8]) -> Precheck> {
        None
    }
    /// A record whose every fragment verified and whose payload the
    /// [`RecordSink::precheck`] function already decoded.
    fn record_checked(
        &mut self,
        offset: u64,
        payload: &[u8],
        check: Precheck,
    ) -> Result<(), String> {
        let _ = check;
        self.record(offset, payload)
    }
    /// A record whose every fragment verified. `Err(reason)` when its payload
    /// does not decode: the record is then counted as garbled damage.
    fn record(&mut self, offset: u64, payload: &[u8]) -> Result<(), String>;
    /// The payload (or, for a record cut by the end of the file or one
    /// spanning blocks, the first part of it) of a record whose checksum
    /// failed but whose header was plausible; or the verified fragments of
    /// a multi-fragment record joined up to the damage that broke it (a
    /// damaged or zeroed fragment, the end of the file, the cap on its
    /// length). What of it decodes is unverified data: the record as a
    /// whole did not verify.
    fn suspect(&mut self, _offset: u64, _payload: &[u8], _reason: &str) {}
    /// A damaged range was recorded (it is `damage[index]`); records after
    /// this call come after it in the file.
    fn damage(&mut self, _index: usize) {}
    /// The last damaged range, `damage[index]`, turned out to be no damage
    /// (the remnant of an older log before a recycled tail).
    fn undamage(&mut self, _index: usize) {}
    /// Who wants the layout of records and damage; asked once, before the
    /// first block, so that an unobserved scan pays nothing per fragment.
    fn layout(&mut self) -> Option<&mut dyn LayoutSink> {
        None
    }
    /// Whether the passed precheck is all this sink takes of an intact
    /// single-fragment record (not its payload, its offset or a layout), so
    /// that runs of them may come through [`RecordSink::record_run`];
    /// asked once, before the first block.
    fn takes_runs(&self) -> bool {
        false
    }
    /// Consecutive intact single-fragment records with nothing between them
    /// (no damage, no other record), in file order: each one's passed
    /// precheck. Called instead of [`RecordSink::record_checked`] for each,
    /// and only when [`RecordSink::takes_runs`] said so.
    fn record_run(&mut self, checks: &[(u64, u32)]) {
        let _ = checks;
    }
}

/// The verdict on a whole log-format file.
#[derive(Debug, Clone, Default)]
pub struct LogOutcome {
    /// Logical records: intact ones, and one per damaged range.
    pub records: Counts,
    pub damage: Vec<Damage>,
    /// Bytes actually read (less than the size when an I/O error stopped us).
    pub bytes_read: u64,
    pub io_error: Option<String>,
}

#[derive(Debug)]
struct Open {
    start: u64,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Raw {
    start: u64,
    end: u64,
    reason: String,
    /// The write was cut short by the end of the file.
    cut: bool,
    /// One interrupted write explains the whole range, should it reach the
    /// end of the file: a record cut by it, or a record written up to some
    /// point and zeros after. Cleared when other damage joins the range.
    tear: bool,
    /// A record whose last bytes are zeros: a tear if the zeros run on to
    /// the end of the file past it.
    zero_ended: bool,
}

struct Stitcher<'s> {
    sink: &'s mut dyn RecordSink,
    /// Whether the sink observes the layout; `frags` stays empty otherwise.
    observe: bool,
    /// The verified fragments of the open record (or of the FULL one being
    /// delivered).
    frags: Vec<Fragment>,
    /// Damaged ranges told final to the layout.
    finalized: usize,
    open: Option<Open>,
    spare: Vec<u8>,
    zeros: Option<(u64, u64)>,
    damage: Vec<Raw>,
    intact: u64,
    /// End of the last verified fragment.
    verified_end: u64,
    /// Where a recycled RocksDB log ends: its records stop there and an
    /// older log's follow, which are not this log's and not damage.
    ended: Option<u64>,
    /// The codec of every data record's payload, once a RocksDB
    /// SetCompressionType record named one other than none.
    compression: Option<u32>,
    /// A RocksDB log, whose records may be compressed even though no
    /// SetCompressionType record was read (it was damaged).
    sniff: bool,
}

impl<'s> Stitcher<'s> {
    /// The last damaged range can grow no more: tell the layout. Only a
    /// range that runs to the end of the file can be torn, and that one is
    /// never closed before `finish`.
    fn close_damage(&mut self) {
        if !self.observe || self.finalized == self.damage.len() {
            return;
        }
        let i = self.damage.len() - 1;
        let r = &self.damage[i];
        let d = Damage::new(r.start, r.end - r.start, Class::Garbled, r.reason.clone());
        self.finalized = self.damage.len();
        if let Some(l) = self.sink.layout() {
            l.damage_final(i, d);
        }
    }

    /// The fragments gathered so far joined no intact record.
    fn abandon(&mut self) {
        if self.observe && !self.frags.is_empty() {
            if let Some(l) = self.sink.layout() {
                l.damaged(&self.frags);
            }
            self.frags.clear();
        }
    }

    /// The open record can never be completed: what its verified fragments
    /// hold up to here is offered as unverified data, and its start is
    /// returned (the damage it becomes starts there).
    fn salvage_open(&mut self, reason: &str) -> Option<u64> {
        let o = self.open.take()?;
        self.suspect(o.start, &o.buf, reason);
        self.abandon();
        self.spare = o.buf;
        self.spare.clear();
        Some(o.start)
    }

    fn add_damage(&mut self, mut d: Raw) {
        if let Some(last) = self.damage.last_mut() {
            if d.start <= last.end {
                // One damaged stretch: a broken record, the bytes skipped to
                // resynchronise, fragments orphaned by it. Damage that is
                // not a tear precedes whatever ends the stretch, so the
                // stretch is garbled even if a tear ends it.
                last.end = last.end.max(d.end);
                last.tear = false;
                last.zero_ended = false;
                return;
            }
        }
        d.start = d.start.min(d.end);
        self.close_damage();
        if self.observe {
            if let Some(l) = self.sink.layout() {
                l.damage(d.start);
            }
        }
        self.damage.push(d);
        self.sink.damage(self.damage.len() - 1);
    }

    fn break_open(&mut self, end: u64, reason: &str) {
        if let Some(o) = self.open.take() {
            self.abandon();
            self.add_damage(Raw {
                start: o.start,
                end,
                reason: reason.to_string(),
                cut: false,
                tear: false,
                zero_ended: false,
            });
            self.spare = o.buf;
            self.spare.clear();
        }
    }

    /// Zeros followed by more data are a zeroed run, not an unwritten tail.
    fn flush_zeros(&mut self) {
        if let Some((s, e)) = self.zeros.take() {
            let start = self.salvage_open(BadReason::ZeroRun.as_str()).unwrap_or(s);
            self.add_damage(Raw {
                start,
                end: e,
                reason: BadReason::ZeroRun.as_str().to_string(),
                cut: false,
                tear: false,
                zero_ended: false,
            });
        }
    }

    /// Unverified bytes for the sink, decompressed as far as they go in a
    /// compressed log.
    fn suspect(&mut self, start: u64, payload: &[u8], reason: &str) {
        let sniffed = (self.sniff && looks_compressed(payload)).then_some(WAL_ZSTD);
        match self.compression.or(sniffed) {
            None => self.sink.suspect(start, payload, reason),
            Some(c) => {
                let plain = decompress_record_prefix(c, payload, MAX_RECORD_SIZE);
                if !plain.is_empty() {
                    self.sink.suspect(start, &plain, reason);
                }
            }
        }
    }

    fn deliver(&mut self, start: u64, end: u64, payload: &[u8], check: Option<Precheck>) {
        // The prechecks ran on the compressed bytes: decoded again here.
        let plain;
        let (payload, check) = match self.compression {
            // The log's compression record was lost: a record that starts
            // like a zstd frame and decompresses whole, checksum and all,
            // is taken for compressed; anything else as it is.
            None if self.sniff && looks_compressed(payload) => {
                match decompress_record(WAL_ZSTD, payload, MAX_RECORD_SIZE) {
                    Ok(p) => {
                        plain = p;
                        (plain.as_slice(), None)
                    }
                    Err(_) => (payload, check),
                }
            }
            None => (payload, check),
            Some(c) => match decompress_record(c, payload, MAX_RECORD_SIZE) {
                Ok(p) => {
                    plain = p;
                    (plain.as_slice(), None)
                }
                Err(e) => {
                    self.abandon();
                    self.add_damage(Raw {
                        start,
                        end,
                        reason: format!(
                            "record intact (its checksums verify) but its compressed payload \
                             does not decompress: {e}"
                        ),
                        cut: false,
                        tear: false,
                        zero_ended: false,
                    });
                    return;
                }
            },
        };
        let verdict = match check {
            Some(c) => self.sink.record_checked(start, payload, c),
            None => self.sink.record(start, payload),
        };
        match verdict {
            Ok(()) => {
                self.intact += 1;
                self.close_damage();
                if self.observe {
                    if let Some(l) = self.sink.layout() {
                        l.intact(&self.frags, payload);
                    }
                    self.frags.clear();
                }
            }
            Err(reason) => {
                self.abandon();
                self.add_damage(Raw {
                    start,
                    end,
                    reason,
                    cut: false,
                    tear: false,
                    zero_ended: false,
                })
            }
        }
    }

    /// Join one block, parsed by [`parse_one`], at `base` in the file.
    fn block(&mut self, base: u64, block: &[u8], parsed: &mut Parsed) {
        let Parsed {
            pieces,
            checks,
            runs,
            passed,
        } = parsed;
        let mut checks = checks.drain(..);
        let mut runs = runs.iter().peekable();
        let mut passed = passed.as_slice();
        let mut i = 0;
        loop {
            if self.ended.is_some() {
                return;
            }
            if let Some(r) = runs.next_if(|r| r.at == i) {
                let (these, rest) = passed.split_at(r.len.min(passed.len()));
                passed = rest;
                self.run(base, r, these);
                continue;
            }
            let Some(piece) = pieces.get(i) else {
                return;
            };
            i += 1;
            self.piece(base, block, piece, &mut checks);
        }
    }

    /// A run of intact single-fragment records: what delivering each in turn
    /// would do to an unobserved, uncompressed log's stitcher, at once.
    fn run(&mut self, base: u64, r: &Run, passed: &[(u64, u32)]) {
        debug_assert!(!self.observe && self.compression.is_none() && !self.sniff);
        self.flush_zeros();
        self.break_open(base + r.start as u64, "record interrupted by a new record");
        self.verified_end = base + r.end as u64;
        self.sink.record_run(passed);
        self.intact += passed.len() as u64;
        self.close_damage();
    }

    /// One piece of a block; `checks` yields, in order, the precheck of
    /// every FULL fragment not in a run (nothing when the sink has none).
    fn piece(
        &mut self,
        base: u64,
        block: &[u8],
        piece: &Piece,
        checks: &mut impl Iterator<Item = Option<Precheck>>,
    ) {
        match *piece {
            Piece::Zeros { start } => {
                let (s, e) = (base + start as u64, base + block.len() as u64);
                self.zeros = match self.zeros {
                    Some((zs, ze)) if ze == s => Some((zs, e)),
                    other => {
                        debug_assert!(other.is_none());
                        Some((s, e))
                    }
                };
            }
            Piece::Fragment {
                start,
                rtype,
                payload: (ps, pe),
                ..
            } => {
                self.flush_zeros();
                let (fs, fe) = (base + start as u64, base + pe as u64);
                let payload = &block[ps..pe];
                self.verified_end = fe;
                // Pushed after `break_open` has abandoned the fragments of
                // a record this one interrupts.
                let frag = Fragment {
                    offset: fs,
                    end: fe,
                    rtype,
                    len: pe - ps,
                };
                match rtype {
                    RecordType::Full => {
                        self.break_open(fs, "record interrupted by a new record");
                        if self.observe {
                            self.frags.push(frag);
                        }
                        let check = checks.next().flatten();
                        self.deliver(fs, fe, payload, check);
                    }
                    RecordType::First => {
                        self.break_open(fs, "record interrupted by a new record");
                        if self.observe {
                            self.frags.push(frag);
                        }
                        let mut buf = std::mem::take(&mut self.spare);
                        join(&mut buf, payload);
                        self.open = Some(Open { start: fs, buf });
                    }
                    RecordType::Middle | RecordType::Last => match self.open.as_mut() {
                        None => {
                            if self.observe {
                                if let Some(l) = self.sink.layout() {
                                    l.damaged(&[frag]);
                                }
                            }
                            self.add_damage(Raw {
                                start: fs,
                                end: fe,
                                reason: format!("{} fragment without a FIRST", rtype.as_str()),
                                cut: false,
                                tear: false,
                                zero_ended: false,
                            })
                        }
                        Some(o) if o.buf.len().saturating_add(payload.len()) > MAX_RECORD_SIZE => {
                            // Refused however it would end, and joined no
                            // further, so that memory stays bounded by the
                            // cap. The fragments after it are orphans that
                            // join this range until something verifies.
                            if self.observe {
                                self.frags.push(frag);
                            }
                            let reason = overlong_reason();
                            let start = self.salvage_open(&reason).unwrap_or(fs);
                            self.add_damage(Raw {
                                start,
                                end: fe,
                                reason,
                                cut: false,
                                tear: false,
                                zero_ended: false,
                            });
                        }
                        Some(o) => {
                            join(&mut o.buf, payload);
                            if self.observe {
                                self.frags.push(frag);
                            }
                            if rtype == RecordType::Last {
                                let o = self.open.take().expect("checked above");
                                self.deliver(o.start, fe, &o.buf, None);
                                self.spare = o.buf;
                                self.spare.clear();
                            }
                        }
                    },
                }
            }
            // Only a RocksDB flavor yields these. A record without user
            // data is verified, so it ends any zero run before it.
            // What a recycled tail means for the log is not decided here
            // yet.
            Piece::Special {
                kind,
                payload: (ps, pe),
                ..
            } => {
                self.flush_zeros();
                self.verified_end = base + pe as u64;
                if kind == Special::SetCompression {
                    // Kept even when the record is not the log's first
                    // (RocksDB's reader refuses that): the records after
                    // it are compressed all the same.
                    self.compression = decode_compression_type(&block[ps..pe]).filter(|&c| c != 0);
                }
            }
            Piece::Recycled { start, .. } => {
                let end = base + start as u64;
                // Zeros before the old records are padding; bytes of an
                // old record left at the end of the block before, the
                // remnant this log's last record did not overwrite.
                self.zeros = None;
                if self.open.is_none()
                    && self
                        .damage
                        .last()
                        .is_some_and(|d| d.end == end && d.start >= self.verified_end)
                {
                    self.damage.pop();
                    self.finalized = self.finalized.min(self.damage.len());
                    self.sink.undamage(self.damage.len());
                }
                let cut_short = "record cut short by the end of the log (a recycled tail \
                                     follows)";
                if let Some(s) = self.salvage_open(cut_short) {
                    self.add_damage(Raw {
                        start: s,
                        end,
                        reason: cut_short.to_string(),
                        cut: true,
                        tear: true,
                        zero_ended: false,
                    });
                }
                self.ended = Some(end);
            }
            Piece::Bad {
                start,
                end,
                reason,
                suspect,
                zero_tail,
            } => {
                self.flush_zeros();
                let (bs, be) = (base + start as u64, base + end as u64);
                if let Some((RecordType::Full | RecordType::First, ps, pe)) = suspect {
                    if self.open.is_none() {
                        self.suspect(bs, &block[ps..pe], reason.as_str());
                    }
                }
                // Zeros from some point to the end of the block are an
                // unwritten tail only if what precedes them can be the
                // start of what the writer wrote: part of a header (its
                // type byte still zero), or a header and part of the
                // payload it announces.
                let cut = reason == BadReason::CutByEof;
                // A payload may itself end in a few zeros (an internal
                // key's tag, say) and then be garbled elsewhere: the zeros
                // only mark an unwritten tail when they run on past the
                // record, or are too long to be such an ending.
                let zero_ended = zero_tail.is_some_and(|z| {
                        matches!((reason, suspect), (BadReason::ChecksumMismatch, Some((_, _, pe))) if z < pe)
                    });
                let unwritten = zero_tail.is_some_and(|z| match (reason, suspect) {
                    (BadReason::ChecksumMismatch, Some((_, _, pe))) => {
                        z < pe && (end > pe || pe - z >= MIN_UNWRITTEN_RUN)
                    }
                    (BadReason::UnknownType(0), _) => z < start + HEADER_SIZE,
                    _ => false,
                });
                let start = self.salvage_open(reason.as_str()).unwrap_or(bs);
                self.add_damage(Raw {
                    start,
                    end: be,
                    reason: reason.as_str().to_string(),
                    cut,
                    tear: cut || unwritten,
                    zero_ended,
                });
            }
        }
    }

    fn finish(mut self, file_end: u64) -> (Counts, Vec<Damage>) {
        let file_end = self.ended.map_or(file_end, |e| e.min(file_end));
        let zeros = self.zeros.take();
        let cut_short = "record cut short by end of file";
        if let Some(start) = self.salvage_open(cut_short) {
            // A FIRST/MIDDLE chain that the end of the file (or unwritten
            // zeros up to it) interrupted.
            self.add_damage(Raw {
                start,
                end: file_end,
                reason: cut_short.to_string(),
                cut: true,
                tear: true,
                zero_ended: false,
            });
        } else if let Some((zs, _)) = zeros {
            // Zeros right after damage extend it to the end of the file (an
            // unwritten tail if the damage was a torn write, bytes skipped
            // after garbled ones otherwise); zeros after a complete record
            // are unwritten space, not damage.
            if let Some(last) = self.damage.last_mut() {
                if last.end == zs {
                    last.end = file_end;
                    last.tear |= last.zero_ended;
                }
            }
        }
        let verified_end = self.verified_end;
        let mut records = Counts {
            intact: self.intact,
            ..Counts::default()
        };
        let damage = self
            .damage
            .into_iter()
            .map(|r| {
                let at_end = r.end >= file_end && r.end >= verified_end;
                let class = if at_end && r.tear {
                    Class::Torn
                } else {
                    Class::Garbled
                };
                let reason = if class == Class::Torn && !r.cut {
                    format!("{} (unwritten zero tail)", r.reason)
                } else {
                    r.reason
                };
                records.add(Some(class));
                Damage::new(r.start, r.end - r.start, class, reason)
            })
            .collect();
        (records, damage)
    }
}

/// Why a chain of fragments joined past [`MAX_RECORD_SIZE`] is damage.
fn overlong_reason() -> String {
    format!(
        "record longer than {} MiB, the most a record is joined to",
        MAX_RECORD_SIZE >> 20
    )
}

/// Append a fragment's payload to the record being joined, never letting
/// the buffer reserve past the cap: plain doubling could reserve twice it.
fn join(buf: &mut Vec<u8>, payload: &[u8]) {
    let need = buf.len().saturating_add(payload.len());
    if need > buf.capacity() {
        let grown = buf
            .capacity()
            .saturating_mul(2)
            .clamp(need, MAX_RECORD_SIZE.max(need));
        buf.reserve_exact(grown - buf.len());
    }
    buf.extend_from_slice(payload);
}

/// How the worker threads parse blocks for the stitcher.
#[derive(Clone, Copy)]
struct Parse {
    flavor: LogFlavor,
    precheck: Option<fn(&[u8]) -> Precheck>,
    /// Gather passed prechecks into runs (see [`RecordSink::takes_runs`]).
    runs: bool,
}

/// FULL fragments next to each other among a block's pieces, every one's
/// precheck passed: the stitcher takes them at once instead of piece by
/// piece (a scan that only counts spent an eighth of its samples on them so).
/// The fragments of a run are not kept among the block's pieces.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Where the run stands among the pieces kept: just before the one of
    /// this index (or after the last, when it is their number).
    at: usize,
    /// How many fragments.
    len: usize,
    /// The first fragment's header, within the block.
    start: usize,
    /// The last fragment's payload end, within the block.
    end: usize,
}

/// One block as the stitcher takes it.
#[derive(Default)]
struct Parsed {
    pieces: Vec<Piece>,
    /// The precheck of every FULL fragment that is not in a run, in order.
    checks: Vec<Option<Precheck>>,
    runs: Vec<Run>,
    /// The passed prechecks of the runs' fragments, in order.
    passed: Vec<(u64, u32)>,
}

/// Where a read window's bytes start in memory, in bytes.
const ALIGN: usize = 64;

/// A buffer for reads whose bytes start on an [`ALIGN`] boundary. The
/// kernel copies page-aligned file bytes into memory 8 or 16 bytes past a
/// 32-byte boundary at a third of the speed (2.0 against 6.1 GB/s on this
/// VM, 32 KiB reads of a cached file), and a 4 MiB `Vec` starts 16 bytes
/// into its mapping: reading the bench log for `salvage` spent 0.28
/// CPU-seconds in that copy.
#[derive(Default)]
struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    /// Make room for `len` bytes, whatever they hold now (reads overwrite
    /// them).
    fn resize(&mut self, len: usize) {
        let need = len.saturating_add(ALIGN - 1);
        if self.buf.len() < need {
            self.buf = vec![0; need];
        }
        // `align_offset` may decline (usize::MAX): then unaligned, as before.
        self.start = Some(self.buf.as_ptr().align_offset(ALIGN))
            .filter(|&o| o < ALIGN)
            .unwrap_or(0);
        self.len = len;
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn bytes(&self) -> &[u8] {
        self.buf
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buf
            .get_mut(self.start..self.start + self.len)
            .unwrap_or_default()
    }
}

/// One window of blocks: its bytes and each block parsed.
#[derive(Default)]
struct Window {
    pos: u64,
    /// Bytes wanted: the window's length.
    len: usize,
    /// The bytes, when read rather than mapped.
    data: Aligned,
    mapped: Option<Mapped>,
    blocks: Vec<Parsed>,
    reads: Vec<io::Result<usize>>,
}

thread_local! {
    /// A block's pieces before the fragments in runs are left out.
    static ALL_PIECES: std::cell::RefCell<Vec<Piece>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Parse one block and precheck its single-fragment records.
///
/// When runs are gathered, a block is parsed into a buffer of the thread's
/// own and only the pieces the stitcher takes one by one are kept: ~38
/// pieces a block of the bench log, of which one or two are not in a run,
/// written into each block's own list and read back by the stitcher.
fn parse_one(chunk: &[u8], at_eof: bool, how: Parse, out: &mut Parsed) {
    let Parsed {
        pieces,
        checks,
        runs,
        passed,
    } = out;
    pieces.clear();
    checks.clear();
    runs.clear();
    passed.clear();
    let Some(f) = how.precheck else {
        parse_block_with(chunk, at_eof, how.flavor, pieces);
        return;
    };
    let full = |p: &Piece| match *p {
        Piece::Fragment {
            start,
            rtype: RecordType::Full,
            payload: (s, e),
            ..
        } => Some((start, s, e)),
        _ => None,
    };
    if !how.runs {
        parse_block_with(chunk, at_eof, how.flavor, pieces);
        for (_, s, e) in pieces.iter().filter_map(full) {
            checks.push(Some(f(&chunk[s..e])));
        }
        return;
    }
    ALL_PIECES.with(|all| {
        let mut all = all.borrow_mut();
        all.clear();
        parse_block_with(chunk, at_eof, how.flavor, &mut all);
        for p in all.iter() {
            if let Some((start, s, e)) = full(p) {
                match f(&chunk[s..e]) {
                    Ok(h) => {
                        match runs.last_mut() {
                            // Nothing kept since the run began: it goes on.
                            Some(r) if r.at == pieces.len() => {
                                r.len += 1;
                                r.end = e;
                            }
                            _ => runs.push(Run {
                                at: pieces.len(),
                                len: 1,
                                start,
                                end: e,
                            }),
                        }
                        passed.push(h);
                        continue;
                    }
                    check => checks.push(Some(check)),
                }
            }
            pieces.push(*p);
        }
    });
}

impl Window {
    fn bytes(&self) -> &[u8] {
        match &self.mapped {
            Some(m) => m.bytes(),
            None => self.data.bytes(),
        }
    }

    /// A page of the mapping vanished: the file shrank while being read.
    fn faulted(&self) -> bool {
        self.mapped.as_ref().is_some_and(Mapped::faulted)
    }

    /// Read and parse `want` bytes at `pos` in parallel, block by block:
    /// through a mapping when the source offers one, else by reading.
    fn fill(&mut self, src: &dyn Source, pos: u64, want: usize, end: u64, how: Parse) {
        self.pos = pos;
        self.len = want;
        self.mapped = None;
        let nblocks = want.div_ceil(BLOCK_SIZE);
        self.blocks.resize_with(nblocks, Parsed::default);
        if let Some(m) = src.map(pos, want) {
            self.reads = m
                .bytes()
                .par_chunks(BLOCK_SIZE)
                .zip(self.blocks.par_iter_mut())
                .enumerate()
                .with_max_len(BLOCKS_PER_JOB)
                .map(|(i, (chunk, out))| {
                    let at_eof = pos + (i * BLOCK_SIZE + chunk.len()) as u64 >= end;
                    parse_one(chunk, at_eof, how, out);
                    Ok(chunk.len())
                })
                .collect();
            if !m.faulted() && src.holds(pos + want as u64) {
                self.data.clear();
                self.mapped = Some(m);
                return;
            }
            // The file shrank under the mapping: read it again, so that its
            // true end is what gets classified.
        }
        self.data.resize(want);
        self.reads = self
            .data
            .bytes_mut()
            .par_chunks_mut(BLOCK_SIZE)
            .zip(self.blocks.par_iter_mut())
            .enumerate()
            .with_max_len(BLOCKS_PER_JOB)
            .map(|(i, (chunk, out))| {
                let n = src.read_at(chunk, pos + (i * BLOCK_SIZE) as u64)?;
                let at_eof = pos + ((i * BLOCK_SIZE) + n) as u64 >= end;
                parse_one(&chunk[..n], at_eof, how, out);
                Ok(n)
            })
            .collect();
    }

    /// Bytes read before the first short or failed read, and its error.
    fn good(&self, size: u64) -> (usize, Option<String>) {
        let want = self.len;
        let mut got = 0usize;
        for (i, r) in self.reads.iter().enumerate() {
            let expect = (want - i * BLOCK_SIZE).min(BLOCK_SIZE);
            match r {
                Ok(n) if *n == expect => got += n,
                Ok(n) => {
                    got += n;
                    return (
                        got,
                        Some(format!(
                            "file shrank while being read: ends at {} instead of {size}",
                            self.pos + got as u64
                        )),
                    );
                }
                Err(e) => {
                    let at = self.pos + got as u64;
                    return (got, Some(format!("read error at offset {at}: {e}")));
                }
            }
        }
        (got, None)
    }

    fn stitch(&mut self, st: &mut Stitcher<'_>, upto: usize) {
        let full = upto / BLOCK_SIZE;
        let data: &[u8] = match &self.mapped {
            Some(m) => m.bytes(),
            None => self.data.bytes(),
        };
        for (i, parsed) in self.blocks.iter_mut().enumerate().take(full) {
            let b = &data[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE];
            st.block(self.pos + (i * BLOCK_SIZE) as u64, b, parsed);
        }
        if upto % BLOCK_SIZE != 0 {
            let b = &data[full * BLOCK_SIZE..upto];
            st.block(
                self.pos + (full * BLOCK_SIZE) as u64,
                b,
                &mut self.blocks[full],
            );
        }
    }
}

/// Scan a log-format source of `size` bytes, calling `sink` for each record
/// in file order. `progress` is told how many bytes each window covered.
///
/// Windows are pipelined: while one is joined into records in order, the
/// next is read and parsed on the other threads.
pub fn scan(
    src: &dyn Source,
    size: u64,
    sink: &mut dyn RecordSink,
    progress: &(dyn Fn(u64) + Sync),
) -> LogOutcome {
    scan_with(src, size, LogFlavor::LevelDb, sink, progress)
}

/// [`scan`] of a log written by `flavor`'s writer.
pub fn scan_with(
    src: &dyn Source,
    size: u64,
    flavor: LogFlavor,
    sink: &mut dyn RecordSink,
    progress: &(dyn Fn(u64) + Sync),
) -> LogOutcome {
    let precheck = sink.precheck();
    let observe = sink.layout().is_some();
    let sniff = matches!(flavor, LogFlavor::RocksDb { .. });
    // Runs skip what the stitcher does per record only for a log it joins
    // as it is: no layout to tell, no payload to decompress.
    let how = Parse {
        flavor,
        precheck,
        runs: precheck.is_some() && !observe && !sniff && sink.takes_runs(),
    };
    let mut st = Stitcher {
        sink,
        observe,
        frags: Vec::new(),
        finalized: 0,
        open: None,
        spare: Vec::new(),
        zeros: None,
        damage: Vec::new(),
        intact: 0,
        verified_end: 0,
        ended: None,
        compression: None,
        sniff,
    };
    let window_bytes = (WINDOW_BLOCKS * BLOCK_SIZE) as u64;
    let mut cur = Window::default();
    let mut next = Window::default();
    let mut pos = 0u64;
    let mut io_error = None;
    if size > 0 {
        // The first two windows at once: the disk reads one while the
        // first is parsed (each later turn of a window that is read, not
        // mapped, asks for the one after next).
        src.prefetch(0, size.min(2 * window_bytes) as usize);
        cur.fill(src, 0, size.min(window_bytes) as usize, size, how);
    }
    while pos < size {
        let want = cur.len;
        let (got, err) = cur.good(size);
        if let Some(e) = err {
            // The file ends early: the last block read is reparsed with its
            // true end of file before it is joined.
            io_error = Some(e);
            let full = got / BLOCK_SIZE;
            if got % BLOCK_SIZE != 0 {
                let b = &cur.bytes()[full * BLOCK_SIZE..got];
                let mut parsed = Parsed::default();
                parse_one(b, true, how, &mut parsed);
                cur.blocks[full] = parsed;
            }
            cur.stitch(&mut st, got);
            pos += got as u64;
            progress(got as u64);
            break;
        }
        let next_pos = pos + want as u64;
        let next_want = size.saturating_sub(next_pos).min(window_bytes) as usize;
        // A mapped window is hinted only when it is not cached yet. The
        // hint walks the page cache on this thread (the one that joins):
        // on a warm file it took 16% of a scan's time for nothing, since
        // the kernel reads ahead of a mapping's faults by itself. On a
        // cold file, 33 of the bench log's 84 windows were still unread
        // two windows ahead of the scan; hinting those (one system call
        // tells which) took a cold scan from 0.195 to 0.180 s (15 runs),
        // and a warm one is unchanged (31 runs).
        let after = next_pos + next_want as u64;
        if after < size {
            let len = size.saturating_sub(after).min(window_bytes) as usize;
            if cur.mapped.is_none() {
                src.prefetch(after, len);
            } else {
                src.prefetch_cold(after, len);
            }
        }
        // The sink need not be Send: joining stays on this thread while the
        // next window is read and parsed on the pool.
        let next_ref = &mut next;
        rayon::in_place_scope(|sc| {
            if next_want > 0 {
                sc.spawn(move |_| next_ref.fill(src, next_pos, next_want, size, how));
            }
            cur.stitch(&mut st, want);
        });
        if cur.faulted() || (cur.mapped.is_some() && !src.holds(pos + want as u64)) {
            // Shrank while being joined (it was whole when parsed): what
            // this window yielded may rest on zeros, and the rest is gone.
            io_error = Some(format!(
                "file shrank while being read: a page between {pos} and {} vanished",
                pos + want as u64
            ));
            pos += want as u64;
            progress(want as u64);
            break;
        }
        pos = next_pos;
        progress(want as u64);
        std::mem::swap(&mut cur, &mut next);
    }
    let (records, damage) = st.finish(pos);
    LogOutcome {
        records,
        damage,
        bytes_read: pos,
        io_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::log::encode_fragment;

    /// Accepts every payload but `bad`; keeps what the layout said.
    #[derive(Default)]
    struct Seen {
        observe: bool,
        records: Vec<(u64, Vec<u8>)>,
        intact: Vec<(Vec<Fragment>, Vec<u8>)>,
        damaged: Vec<Vec<Fragment>>,
        opened: Vec<u64>,
        finals: Vec<(usize, Damage)>,
        suspects: Vec<(u64, Vec<u8>)>,
    }

    impl RecordSink for Seen {
        fn record(&mut self, offset: u64, payload: &[u8]) -> Result<(), String> {
            if payload == b"bad" {
                return Err("does not decode".into());
            }
            self.records.push((offset, payload.to_vec()));
            Ok(())
        }
        fn suspect(&mut self, offset: u64, payload: &[u8], _reason: &str) {
            self.suspects.push((offset, payload.to_vec()));
        }
        fn layout(&mut self) -> Option<&mut dyn LayoutSink> {
            if self.observe {
                Some(self)
            } else {
                None
            }
        }
    }

    impl LayoutSink for Seen {
        fn intact(&mut self, frags: &[Fragment], payload: &[u8]) {
            self.intact.push((frags.to_vec(), payload.to_vec()));
        }
        fn damaged(&mut self, frags: &[Fragment]) {
            self.damaged.push(frags.to_vec());
        }
        fn damage(&mut self, offset: u64) {
            self.opened.push(offset);
        }
        fn damage_final(&mut self, index: usize, d: Damage) {
            self.finals.push((index, d));
        }
    }

    fn frag(offset: usize, rtype: RecordType, len: usize) -> Fragment {
        Fragment {
            offset: offset as u64,
            end: (offset + HEADER_SIZE + len) as u64,
            rtype,
            len,
        }
    }

    /// A read window's bytes start on a 64-byte boundary at every size,
    /// also after it grows, and hold exactly the length asked for.
    #[test]
    fn read_windows_are_aligned() {
        let mut a = Aligned::default();
        assert!(a.bytes().is_empty());
        for len in [1, 100, BLOCK_SIZE, WINDOW_BLOCKS * BLOCK_SIZE, 7, 0] {
            a.resize(len);
            assert_eq!(a.bytes().len(), len);
            assert_eq!(a.bytes_mut().len(), len);
            if len > 0 {
                assert_eq!(a.bytes().as_ptr() as usize % ALIGN, 0, "{len} bytes");
            }
        }
        a.resize(5);
        a.bytes_mut().copy_from_slice(b"bytes");
        assert_eq!(a.bytes(), b"bytes");
        a.clear();
        assert!(a.bytes().is_empty());
    }

    #[test]
    fn layout_names_the_fragments_of_records_and_of_damage() {
        let mut f = Vec::new();
        encode_fragment(&mut f, RecordType::Full, b"one");
        let two = f.len();
        encode_fragment(&mut f, RecordType::First, b"tw");
        let two_mid = f.len();
        encode_fragment(&mut f, RecordType::Middle, b"o-");
        let two_last = f.len();
        encode_fragment(&mut f, RecordType::Last, b"2");
        let orphan = f.len();
        encode_fragment(&mut f, RecordType::Middle, b"orphan");
        let broken = f.len();
        encode_fragment(&mut f, RecordType::First, b"broken");
        let bad = f.len();
        encode_fragment(&mut f, RecordType::Full, b"bad");
        let three = f.len();
        encode_fragment(&mut f, RecordType::Full, b"three");

        let mut seen = Seen {
            observe: true,
            ..Seen::default()
        };
        let o = scan(&Mem(&f), f.len() as u64, &mut seen, &|_| {});
        assert_eq!(o.records.intact, 3);
        assert_eq!(
            seen.intact,
            vec![
                (vec![frag(0, RecordType::Full, 3)], b"one".to_vec()),
                (
                    vec![
                        frag(two, RecordType::First, 2),
                        frag(two_mid, RecordType::Middle, 2),
                        frag(two_last, RecordType::Last, 1),
                    ],
                    b"two-2".to_vec()
                ),
                (vec![frag(three, RecordType::Full, 5)], b"three".to_vec()),
            ]
        );
        assert_eq!(
            seen.damaged,
            vec![
                vec![frag(orphan, RecordType::Middle, 6)],
                vec![frag(broken, RecordType::First, 6)],
                vec![frag(bad, RecordType::Full, 3)],
            ]
        );
        assert_eq!(
            seen.opened,
            o.damage.iter().map(|d| d.offset).collect::<Vec<_>>()
        );
        assert_eq!(o.damage.len(), 1, "{:?}", o.damage);
        // The intact record after it closed the range before the end.
        assert_eq!(seen.finals, vec![(0, o.damage[0].clone())]);
        // Each damaged fragment lies inside a damaged range.
        for fr in seen.damaged.iter().flatten() {
            assert!(
                o.damage
                    .iter()
                    .any(|d| d.offset <= fr.offset && fr.end <= d.end()),
                "{fr:?} outside {:?}",
                o.damage
            );
        }

        // Unobserved, the verdicts are the same.
        let mut quiet = Seen::default();
        let q = scan(&Mem(&f), f.len() as u64, &mut quiet, &|_| {});
        assert_eq!(quiet.records, seen.records);
        assert_eq!(q.records, o.records);
        assert_eq!(q.damage, o.damage);
        assert!(quiet.intact.is_empty() && quiet.damaged.is_empty() && quiet.opened.is_empty());
    }

    #[test]
    fn a_chain_cut_by_the_end_of_the_file_is_reported_damaged() {
        let mut f = Vec::new();
        encode_fragment(&mut f, RecordType::First, b"head");
        let mut seen = Seen {
            observe: true,
            ..Seen::default()
        };
        let o = scan(&Mem(&f), f.len() as u64, &mut seen, &|_| {});
        assert_eq!(o.records.torn, 1);
        assert!(seen.intact.is_empty());
        assert_eq!(seen.damaged, vec![vec![frag(0, RecordType::First, 4)]]);
        // Running to the end of the file, it is final only in the outcome.
        assert!(seen.finals.is_empty());
    }

    #[test]
    fn records_after_a_set_compression_record_are_decompressed_one_by_one() {
        use crate::format::log::{encode_rocks_record, WAL_ZSTD};
        let z = |b: &[u8]| zstd::bulk::compress(b, 3).unwrap();
        let mut f = Vec::new();
        // Before the compression record, payloads are taken as they are.
        encode_fragment(&mut f, RecordType::Full, b"plain");
        encode_rocks_record(&mut f, 9, None, &WAL_ZSTD.to_le_bytes());
        let one = f.len();
        encode_fragment(&mut f, RecordType::Full, &z(b"first record"));
        // One frame cut into three fragments.
        let long: Vec<u8> = b"second ".repeat(50);
        let zl = z(&long);
        let (a, rest) = zl.split_at(10);
        let (b, c) = rest.split_at(10);
        let two = f.len();
        encode_fragment(&mut f, RecordType::First, a);
        encode_fragment(&mut f, RecordType::Middle, b);
        encode_fragment(&mut f, RecordType::Last, c);
        // Verified, but not a zstd frame; then a frame that decompresses to
        // what the sink refuses; the records after both are intact.
        let bad = f.len();
        let mut garbled = z(b"third record");
        garbled[..4].copy_from_slice(b"\xa5\xa5\xa5\xa5");
        encode_fragment(&mut f, RecordType::Full, &garbled);
        let refused = f.len();
        encode_fragment(&mut f, RecordType::Full, &z(b"bad"));
        let four = f.len();
        encode_fragment(&mut f, RecordType::Full, &z(b"fourth"));
        encode_fragment(&mut f, RecordType::Full, &[]);
        // A chain the end of the file cuts: its fragments so far decompress
        // as far as they go.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let tail: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        let zt = zstd::stream::encode_all(&tail[..], 1).unwrap();
        // Fragmented as the writer does: each fills what is left of its
        // block; the last one never written.
        let at = f.len();
        let mut rest = &zt[..zt.len() * 3 / 4];
        let mut first = true;
        while !rest.is_empty() {
            let left = BLOCK_SIZE - f.len() % BLOCK_SIZE;
            if left < HEADER_SIZE {
                f.resize(f.len() + left, 0);
                continue;
            }
            let (chunk, more) = rest.split_at(rest.len().min(left - HEADER_SIZE));
            let t = if first {
                RecordType::First
            } else {
                RecordType::Middle
            };
            encode_fragment(&mut f, t, chunk);
            (rest, first) = (more, false);
        }

        let mut seen = Seen::default();
        let o = scan_with(
            &Mem(&f),
            f.len() as u64,
            LogFlavor::rocksdb(1),
            &mut seen,
            &|_| {},
        );
        assert_eq!(
            seen.records,
            vec![
                (0, b"plain".to_vec()),
                (one as u64, b"first record".to_vec()),
                (two as u64, long),
                (four as u64, b"fourth".to_vec()),
                ((four + HEADER_SIZE + z(b"fourth").len()) as u64, Vec::new()),
            ]
        );
        assert_eq!(o.records.intact, 5);
        assert_eq!(o.damage.len(), 2, "{:?}", o.damage);
        let d = &o.damage[0];
        assert_eq!((d.offset, d.end()), (bad as u64, four as u64), "{d:?}");
        assert_eq!(d.class, Class::Garbled);
        assert!(
            d.reason.contains("intact (its checksums verify)")
                && d.reason.contains("does not decompress"),
            "{}",
            d.reason
        );
        assert!(bad < refused && refused < four);
        let t = &o.damage[1];
        assert_eq!((t.offset, t.class), (at as u64, Class::Torn), "{t:?}");
        assert_eq!(seen.suspects.len(), 1);
        let (so, sp) = &seen.suspects[0];
        assert_eq!(*so, at as u64);
        assert!(!sp.is_empty() && sp.len() < tail.len(), "{}", sp.len());
        assert_eq!(sp[..], tail[..sp.len()]);
    }

    #[test]
    fn compressed_records_are_read_when_the_compression_record_is_lost() {
        use crate::format::log::{encode_rocks_record, WAL_ZSTD};
        let z = |b: &[u8]| zstd::bulk::compress(b, 3).unwrap();
        let mut f = Vec::new();
        encode_rocks_record(&mut f, 9, None, &WAL_ZSTD.to_le_bytes());
        // Its CRC broken: the records after it cannot know they are
        // compressed.
        f[0] ^= 1;
        let one = f.len();
        encode_fragment(&mut f, RecordType::Full, &z(b"first"));
        // Starts like a frame but is none: taken as it is.
        let raw = f.len();
        let mut fake = crate::format::compress::ZSTD_MAGIC.to_vec();
        fake.extend_from_slice(b" plain payload");
        encode_fragment(&mut f, RecordType::Full, &fake);
        let two = f.len();
        encode_fragment(&mut f, RecordType::Full, &z(b"second"));
        encode_fragment(&mut f, RecordType::Full, b"plain");

        let mut seen = Seen::default();
        let o = scan_with(
            &Mem(&f),
            f.len() as u64,
            LogFlavor::rocksdb(1),
            &mut seen,
            &|_| {},
        );
        assert_eq!(
            seen.records,
            vec![
                (one as u64, b"first".to_vec()),
                (raw as u64, fake.clone()),
                (two as u64, b"second".to_vec()),
                (
                    (two + HEADER_SIZE + z(b"second").len()) as u64,
                    b"plain".to_vec()
                ),
            ]
        );
        assert_eq!(o.damage.len(), 1, "{:?}", o.damage);
        assert_eq!((o.damage[0].offset, o.damage[0].end()), (0, one as u64));

        // A LevelDB log is never guessed at.
        let mut seen = Seen::default();
        scan(&Mem(&f[one..]), (f.len() - one) as u64, &mut seen, &|_| {});
        assert_eq!(seen.records[0].1, z(b"first"));
    }
}
