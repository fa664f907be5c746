//! LevelDB's `db/log_test.cc`, case by case, with ldbsalvage's verdicts as
//! the expected outcome, then cases of our own.
//!
//! Where LevelDB's reader drops bytes (or ignores a torn tail) we classify:
//! a damaged range is *torn* when it is an interrupted write running to the
//! end of the file, *garbled* otherwise, and every record after it in the
//! same block is still recovered. A record is intact only when its every
//! fragment verifies, its fragments come in a legal order and its payload is
//! a write batch holding exactly `count` entries.
//!
//! Records here are write batches: the string of LevelDB's test becomes the
//! value of one put (key `kNNNNNN`, sequence numbers 1, 2, 3, ...).

use ldbsalvage::format::batch::{BatchBuilder, Kind};
use ldbsalvage::format::crc;
use ldbsalvage::format::log::{RecordType, BLOCK_SIZE, HEADER_SIZE};
use ldbsalvage::report::{Class, Counts};
use ldbsalvage::salvage::log_writer::LogWriter;
use ldbsalvage::scan::log::{scan_bytes, LogScan, LostSeqs};
use ldbsalvage::scan::{Collect, OwnedEntry};
use std::collections::HashMap;

const B: u64 = BLOCK_SIZE as u64;
const H: u64 = HEADER_SIZE as u64;
/// Blocks per scan window in `scan::logfile` (128 blocks = 4 MiB).
const WINDOW: u64 = 128 * B;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// One record as written: where it lies and what its batch holds.
#[derive(Debug, Clone)]
struct Rec {
    start: u64,
    end: u64,
    seq: u64,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    payload_len: usize,
}

impl Rec {
    /// Written as one FULL fragment.
    fn single_fragment(&self) -> bool {
        self.end - self.start == H + self.payload_len as u64
    }
}

/// LevelDB's test fixture: a log writer, and what went into it.
#[derive(Default)]
struct Log {
    w: LogWriter,
    recs: Vec<Rec>,
    next_seq: u64,
}

impl Log {
    fn new() -> Self {
        Log {
            next_seq: 1,
            ..Log::default()
        }
    }

    fn written(&self) -> u64 {
        self.w.as_bytes().len() as u64
    }

    fn bytes(&self) -> Vec<u8> {
        self.w.as_bytes().to_vec()
    }

    fn key(&self) -> Vec<u8> {
        format!("k{:06}", self.recs.len()).into_bytes()
    }

    /// LevelDB's `Write(s)`: a batch with one put whose value is `value`.
    fn write(&mut self, value: &[u8]) -> usize {
        let key = self.key();
        self.write_batch(vec![(key, value.to_vec())])
    }

    /// A batch of one put of exactly `total` bytes, its value made of
    /// `partial` repeated (LevelDB's `Write(BigString(partial, n))`, where the
    /// record length is what the test is about).
    fn write_sized(&mut self, total: usize, partial: &str) -> usize {
        let key = self.key();
        let base = 12 + 1 + 1 + key.len();
        let vlen = (1..=3)
            .map(|k| total - base - k)
            .find(|&v| varint_len(v) == total - base - v)
            .expect("a value length giving the wanted batch size");
        let i = self.write_batch(vec![(key, big_string(partial, vlen))]);
        assert_eq!(self.recs[i].payload_len, total);
        i
    }

    fn write_batch(&mut self, puts: Vec<(Vec<u8>, Vec<u8>)>) -> usize {
        let mut b = BatchBuilder::new(self.next_seq);
        for (k, v) in &puts {
            b.put(k, v);
        }
        let seq = self.next_seq;
        self.next_seq += puts.len() as u64;
        self.write_payload(&b.build(), seq, puts)
    }

    /// Any payload; `seq` and `puts` say what a reader may find in it.
    fn write_payload(&mut self, payload: &[u8], seq: u64, puts: Vec<(Vec<u8>, Vec<u8>)>) -> usize {
        let len = self.written();
        let left = B - len % B;
        let start = if left < H { len + left } else { len };
        self.w.add_record(payload);
        self.recs.push(Rec {
            start,
            end: self.written(),
            seq,
            puts,
            payload_len: payload.len(),
        });
        self.recs.len() - 1
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 128 {
        v >>= 7;
        n += 1;
    }
    n
}

/// LevelDB's `BigString`.
fn big_string(partial: &str, n: usize) -> Vec<u8> {
    partial.bytes().cycle().take(n).collect()
}

/// LevelDB's `NumberString`.
fn number_string(n: usize) -> String {
    format!("{n}.")
}

/// LevelDB's `util/random.h`.
struct Random(u32);

impl Random {
    fn new(s: u32) -> Self {
        let seed = s & 0x7fff_ffff;
        Random(if seed == 0 || seed == 0x7fff_ffff {
            1
        } else {
            seed
        })
    }

    fn next(&mut self) -> u32 {
        const M: u64 = 0x7fff_ffff;
        let product = u64::from(self.0) * 16807;
        let mut seed = (product >> 31) + (product & M);
        if seed > M {
            seed -= M;
        }
        self.0 = seed as u32;
        self.0
    }

    fn uniform(&mut self, n: u32) -> u32 {
        self.next() % n
    }

    fn skewed(&mut self, max_log: u32) -> u32 {
        let bits = self.uniform(max_log + 1);
        self.uniform(1 << bits)
    }
}

/// A seeded generator for noise (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn fill(&mut self, out: &mut [u8]) {
        for b in out.iter_mut() {
            *b = self.next() as u8;
        }
    }
}

// LevelDB's byte surgery.

fn increment_byte(d: &mut [u8], offset: u64, delta: u8) {
    d[offset as usize] = d[offset as usize].wrapping_add(delta);
}

fn set_byte(d: &mut [u8], offset: u64, b: u8) {
    d[offset as usize] = b;
}

fn shrink_size(d: &mut Vec<u8>, bytes: u64) {
    d.truncate(d.len() - bytes as usize);
}

/// Recompute the checksum of the fragment at `header` with `len` payload bytes.
fn fix_checksum(d: &mut [u8], header: u64, len: usize) {
    let h = header as usize;
    let c = crc::mask(crc::value(&d[h + 6..h + 7 + len]));
    d[h..h + 4].copy_from_slice(&c.to_le_bytes());
}

fn zero(d: &mut [u8], from: u64, to: u64) {
    d[from as usize..to as usize].fill(0);
}

/// Scan `data`, checking what must hold for any input.
fn scan(data: &[u8]) -> (LogScan, Collect) {
    let mut sink = Collect::default();
    let s = scan_bytes(data, &mut sink);
    check_invariants(data, &s, &sink);
    (s, sink)
}

fn check_invariants(data: &[u8], s: &LogScan, sink: &Collect) {
    let o = &s.outcome;
    assert_eq!(o.bytes_read, data.len() as u64);
    assert!(o.io_error.is_none());
    assert_eq!(o.records.torn + o.records.garbled, o.damage.len() as u64);
    let mut prev_end = None;
    for (i, d) in o.damage.iter().enumerate() {
        assert!(d.length > 0, "empty damage {d:?}");
        assert!(d.end() <= data.len() as u64, "damage past the file {d:?}");
        if let Some(pe) = prev_end {
            // Sorted, disjoint, and adjacent ranges merged.
            assert!(d.offset > pe, "damage {i} not after the previous: {o:?}");
        }
        prev_end = Some(d.end());
        if d.class == Class::Torn {
            assert_eq!(i, o.damage.len() - 1, "torn damage not last");
            assert_eq!(d.end(), data.len() as u64, "torn damage not at EOF");
        }
    }
    assert_eq!(s.entries, sink.intact.len() as u64);
    assert_eq!(s.unverified, sink.unverified.len() as u64);
    for e in &sink.intact {
        assert!(
            o.damage
                .iter()
                .all(|d| e.offset < d.offset || e.offset >= d.end()),
            "intact entry inside damage: {e:?}"
        );
    }
}

fn counts(intact: u64, torn: u64, garbled: u64) -> Counts {
    Counts {
        intact,
        torn,
        garbled,
    }
}

/// (offset, length, class) of every damaged range.
fn ranges(s: &LogScan) -> Vec<(u64, u64, Class)> {
    s.outcome
        .damage
        .iter()
        .map(|d| (d.offset, d.length, d.class))
        .collect()
}

fn reason(s: &LogScan, i: usize) -> &str {
    &s.outcome.damage[i].reason
}

fn lost_entries(s: &LogScan) -> Vec<Option<u64>> {
    s.outcome.damage.iter().map(|d| d.lost_entries).collect()
}

fn entries<'a>(recs: impl IntoIterator<Item = &'a Rec>) -> Vec<OwnedEntry> {
    recs.into_iter()
        .flat_map(|r| {
            r.puts
                .iter()
                .enumerate()
                .map(move |(i, (k, v))| OwnedEntry {
                    seq: r.seq + i as u64,
                    kind: Kind::Put,
                    key: k.clone(),
                    value: v.clone(),
                    offset: r.start,
                    expiry: None,
                    cf: None,
                })
        })
        .collect()
}

/// The records of `log` except those at `skip`.
fn all_but<'a>(log: &'a Log, skip: &[usize]) -> impl Iterator<Item = &'a Rec> + 'a {
    let skip = skip.to_vec();
    log.recs
        .iter()
        .enumerate()
        .filter(move |(i, _)| !skip.contains(i))
        .map(|(_, r)| r)
}

fn lost(first: Option<u64>, last: Option<u64>) -> LostSeqs {
    LostSeqs { first, last }
}

/// Everything written came back intact, and nothing else.
fn assert_clean(log: &Log, data: &[u8]) {
    let (s, sink) = scan(data);
    let n = log.recs.len() as u64;
    assert_eq!(s.outcome.records, counts(n, 0, 0));
    assert!(s.outcome.damage.is_empty(), "{:?}", s.outcome.damage);
    assert_eq!(sink.intact, entries(&log.recs));
    assert!(sink.unverified.is_empty());
    assert!(s.lost.is_empty());
    if n > 0 {
        assert_eq!(s.seqs, Some((1, log.next_seq - 1)));
    }
}

// ---------------------------------------------------------------------------
// LevelDB's db/log_test.cc
// ---------------------------------------------------------------------------

#[test]
fn empty() {
    let (s, sink) = scan(&[]);
    assert_eq!(s.outcome.records, counts(0, 0, 0));
    assert!(s.outcome.damage.is_empty());
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
    assert!(s.lost.is_empty());
    assert_eq!(s.seqs, None);
}

#[test]
fn read_write() {
    let mut log = Log::new();
    for v in ["foo", "bar", "", "xxxx"] {
        log.write(v.as_bytes());
    }
    assert_clean(&log, &log.bytes());
}

#[test]
fn many_blocks() {
    let mut log = Log::new();
    for i in 0..100_000 {
        log.write(number_string(i).as_bytes());
    }
    assert!(log.written() > 50 * B);
    assert_clean(&log, &log.bytes());
}

#[test]
fn fragmentation() {
    let mut log = Log::new();
    log.write(b"small");
    log.write(&big_string("medium", 50_000));
    log.write(&big_string("large", 100_000));
    // medium: FIRST LAST; large: FIRST MIDDLE MIDDLE LAST.
    assert!(log.recs[1].end > B && log.recs[2].end > 4 * B);
    assert_clean(&log, &log.bytes());
}

#[test]
fn marginal_trailer() {
    // A trailer of exactly a header's length: the next record starts there
    // with an empty FIRST fragment. (LevelDB's empty record would be a FULL
    // of length 0 there; an empty payload is no write batch, so our "empty"
    // record is a put with an empty value.)
    let n = BLOCK_SIZE - 2 * HEADER_SIZE;
    let mut log = Log::new();
    log.write_sized(n, "foo");
    assert_eq!(log.written(), B - H);
    log.write(b"");
    log.write(b"bar");
    assert_eq!(log.recs[1].start, B - H);
    assert_clean(&log, &log.bytes());
}

#[test]
fn marginal_trailer2() {
    let n = BLOCK_SIZE - 2 * HEADER_SIZE;
    let mut log = Log::new();
    log.write_sized(n, "foo");
    assert_eq!(log.written(), B - H);
    log.write(b"bar");
    assert_eq!(log.recs[1].start, B - H);
    // LevelDB: no bytes dropped, nothing reported.
    assert_clean(&log, &log.bytes());
}

#[test]
fn short_trailer() {
    let n = BLOCK_SIZE - 2 * HEADER_SIZE + 4;
    let mut log = Log::new();
    log.write_sized(n, "foo");
    assert_eq!(log.written(), B - H + 4);
    log.write(b"");
    log.write(b"bar");
    // Three bytes of zero padding, then the next block.
    assert_eq!(log.recs[1].start, B);
    assert_clean(&log, &log.bytes());
}

#[test]
fn aligned_eof() {
    let n = BLOCK_SIZE - 2 * HEADER_SIZE + 4;
    let mut log = Log::new();
    log.write_sized(n, "foo");
    assert_eq!(log.written(), B - H + 4);
    assert_clean(&log, &log.bytes());
}

#[test]
fn random_read() {
    let mut log = Log::new();
    let mut rnd = Random::new(301);
    for i in 0..500 {
        let n = rnd.skewed(17) as usize;
        log.write(&big_string(&number_string(i), n));
    }
    assert_clean(&log, &log.bytes());
}

#[test]
fn bad_record_type() {
    let mut log = Log::new();
    log.write(b"foo");
    let r = log.recs[0].clone();
    let mut d = log.bytes();
    increment_byte(&mut d, 6, 100);
    fix_checksum(&mut d, 0, r.payload_len);
    let (s, sink) = scan(&d);
    // A whole record with a checksummed but unknown type, even the file's
    // last one, is garbled: no tear writes a wrong type.
    assert_eq!(s.outcome.records, counts(0, 0, 1));
    assert_eq!(ranges(&s), vec![(0, r.end, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "unknown record type");
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, None)]);
}

#[test]
fn truncated_trailing_record_is_ignored() {
    let mut log = Log::new();
    log.write(b"foo");
    let r = log.recs[0].clone();
    let mut d = log.bytes();
    // Drop all payload as well as a header byte.
    shrink_size(&mut d, r.payload_len as u64 + 1);
    assert_eq!(d.len(), 6);
    let (s, sink) = scan(&d);
    // LevelDB ignores it; we report the tear.
    assert_eq!(s.outcome.records, counts(0, 1, 0));
    assert_eq!(ranges(&s), vec![(0, 6, Class::Torn)]);
    assert_eq!(reason(&s, 0), "record cut short by end of file");
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, None)]);
}

#[test]
fn bad_length() {
    let mut log = Log::new();
    log.write_sized(BLOCK_SIZE - HEADER_SIZE, "bar");
    log.write(b"foo");
    assert_eq!(log.recs[1].start, B);
    let mut d = log.bytes();
    // Least significant length byte: the first record now runs past block 0.
    increment_byte(&mut d, 4, 1);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(1, 0, 1));
    assert_eq!(ranges(&s), vec![(0, B, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "record length runs past its block");
    assert_eq!(sink.intact, entries(&log.recs[1..]));
    assert!(sink.unverified.is_empty());
    // No intact batch before the damage says where the loss starts.
    assert_eq!(s.lost, vec![lost(None, Some(1))]);
    assert_eq!(lost_entries(&s), vec![None]);
}

#[test]
fn bad_length_at_end_is_ignored() {
    let mut log = Log::new();
    log.write(b"foo");
    let mut d = log.bytes();
    shrink_size(&mut d, 1);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(0, 1, 0));
    assert_eq!(ranges(&s), vec![(0, d.len() as u64, Class::Torn)]);
    assert_eq!(reason(&s, 0), "record cut short by end of file");
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, None)]);
}

#[test]
fn checksum_mismatch() {
    let mut log = Log::new();
    log.write(b"foo");
    let r = log.recs[0].clone();
    let mut d = log.bytes();
    increment_byte(&mut d, 0, 10);
    let (s, sink) = scan(&d);
    // A complete record whose checksum fails is garbled, even at the end.
    assert_eq!(s.outcome.records, counts(0, 0, 1));
    assert_eq!(ranges(&s), vec![(0, r.end, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "checksum mismatch");
    // Its batch still decodes: unverified, never intact.
    assert!(sink.intact.is_empty());
    assert_eq!(s.entries, 0);
    let unverified: Vec<OwnedEntry> = sink.unverified.iter().map(|u| u.0.clone()).collect();
    assert_eq!(unverified, entries([&r]));
    assert_eq!(sink.unverified[0].1, "checksum mismatch");
    assert_eq!(s.lost, vec![lost(None, None)]);
}

fn unexpected_type(t: RecordType, why: &str) {
    let mut log = Log::new();
    log.write(b"foo");
    let r = log.recs[0].clone();
    let mut d = log.bytes();
    set_byte(&mut d, 6, t as u8);
    fix_checksum(&mut d, 0, r.payload_len);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(0, 0, 1));
    assert_eq!(ranges(&s), vec![(0, r.end, Class::Garbled)]);
    assert_eq!(reason(&s, 0), why);
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, None)]);
}

#[test]
fn unexpected_middle_type() {
    unexpected_type(RecordType::Middle, "MIDDLE fragment without a FIRST");
}

#[test]
fn unexpected_last_type() {
    unexpected_type(RecordType::Last, "LAST fragment without a FIRST");
}

fn first_then(second: &[u8]) {
    let mut log = Log::new();
    log.write(b"foo");
    log.write(second);
    let r = log.recs[0].clone();
    let mut d = log.bytes();
    set_byte(&mut d, 6, RecordType::First as u8);
    fix_checksum(&mut d, 0, r.payload_len);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(1, 0, 1));
    assert_eq!(ranges(&s), vec![(0, log.recs[1].start, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "record interrupted by a new record");
    assert_eq!(sink.intact, entries(&log.recs[1..]));
    assert!(sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, Some(1))]);
}

#[test]
fn unexpected_full_type() {
    first_then(b"bar");
}

#[test]
fn unexpected_first_type() {
    first_then(&big_string("bar", 100_000));
}

#[test]
fn missing_last_is_ignored() {
    let mut log = Log::new();
    log.write_sized(BLOCK_SIZE, "bar");
    assert_eq!(log.recs[0].end, B + 14);
    let mut d = log.bytes();
    // Remove the LAST fragment, header included.
    shrink_size(&mut d, 14);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(0, 1, 0));
    assert_eq!(ranges(&s), vec![(0, B, Class::Torn)]);
    assert_eq!(reason(&s, 0), "record cut short by end of file");
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, None)]);
}

#[test]
fn partial_last_is_ignored() {
    let mut log = Log::new();
    log.write_sized(BLOCK_SIZE, "bar");
    let mut d = log.bytes();
    // The LAST fragment's length now runs past the end of the file.
    shrink_size(&mut d, 1);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(0, 1, 0));
    assert_eq!(ranges(&s), vec![(0, B + 13, Class::Torn)]);
    assert_eq!(reason(&s, 0), "record cut short by end of file");
    assert!(sink.intact.is_empty() && sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, None)]);
}

#[test]
fn error_joins_records() {
    // first(R1) last(R1) first(R2) last(R2): with the middle two fragments
    // gone, first(R1) and last(R2) must not be joined into a record.
    let mut log = Log::new();
    log.write_sized(BLOCK_SIZE, "foo");
    log.write_sized(BLOCK_SIZE, "bar");
    log.write(b"correct");
    assert_eq!(log.recs[1].start, B + 14);
    assert_eq!(log.recs[2].start, 2 * B + 28);
    let mut d = log.bytes();
    d[BLOCK_SIZE..2 * BLOCK_SIZE].fill(b'x');
    let (s, sink) = scan(&d);
    // One range: first(R1), the wiped block, the orphaned last(R2). LevelDB
    // drops between 2 blocks and 2 blocks + 100 bytes.
    assert_eq!(s.outcome.records, counts(1, 0, 1));
    assert_eq!(ranges(&s), vec![(0, 2 * B + 28, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "unknown record type");
    assert_eq!(sink.intact, entries(&log.recs[2..]));
    assert!(sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(None, Some(2))]);
}

// ---------------------------------------------------------------------------
// Our own cases
// ---------------------------------------------------------------------------

/// Small records, `blocks` full blocks' worth and then some.
fn small_records(blocks: u64) -> Log {
    let mut log = Log::new();
    let mut i = 0;
    while log.written() < blocks * B + 500 {
        log.write(&big_string(&number_string(i), 20 + i % 90));
        i += 1;
    }
    log
}

/// The damage of a record `i` that resynchronisation skips: from its header
/// to the next record's (padding included).
fn garbled_record(log: &Log, i: usize) -> (u64, u64, Class) {
    let r = &log.recs[i];
    (r.start, log.recs[i + 1].start - r.start, Class::Garbled)
}

fn corrupt_second_length(log: &Log, why: &str, set: impl Fn(&mut [u8], usize)) {
    let mut d = log.bytes();
    let r = &log.recs[1];
    assert!(r.single_fragment());
    set(&mut d, r.start as usize + 4);
    let (s, sink) = scan(&d);
    let n = log.recs.len() as u64;
    assert_eq!(s.outcome.records, counts(n - 1, 0, 1));
    assert_eq!(ranges(&s), vec![garbled_record(log, 1)]);
    assert_eq!(reason(&s, 0), why);
    assert_eq!(sink.intact, entries(all_but(log, &[1])));
    // The batch's own bytes are untouched: read with the wrong length, what
    // decodes is its real entry, as unverified data, never intact.
    let real = entries([&log.recs[1]]);
    assert!(sink.unverified.iter().all(|u| real.contains(&u.0)));
    assert_eq!(s.lost, vec![lost(Some(2), Some(2))]);
    assert_eq!(lost_entries(&s), vec![Some(1)]);
}

#[test]
fn corrupt_length_keeps_the_rest_of_the_block() {
    // LevelDB's reader drops the rest of the block after a bad length; we
    // resynchronise on the next verified header.
    let log = small_records(2);
    let in_block0 = log.recs.iter().filter(|r| r.end <= B).count();
    assert!(in_block0 > 100);
    // A longer length that still fits the block: a checksum mismatch.
    corrupt_second_length(&log, "checksum mismatch", |d, at| {
        d[at + 1] = d[at + 1].wrapping_add(1)
    });
    // A length past the block.
    corrupt_second_length(&log, "record length runs past its block", |d, at| {
        d[at + 1] = 0xff
    });
    // A shorter one.
    corrupt_second_length(&log, "checksum mismatch", |d, at| {
        d[at] = d[at].wrapping_sub(5)
    });
}

#[test]
fn corrupt_length_in_the_short_last_block() {
    // The last block of the file is short: a length running past the data
    // but not past the block's span must not pass for a tear while verified
    // records follow it.
    let mut log = Log::new();
    for i in 0..20 {
        log.write(&big_string(&number_string(i), 40));
    }
    assert!(log.written() < 4096);
    let past = "record length runs past its block";
    corrupt_second_length(&log, past, |d, at| d[at + 1] = 0x10);
    corrupt_second_length(&log, past, |d, at| d[at + 1] = 0x7f);
    // Same for a record that is not the second.
    let mut d = log.bytes();
    d[log.recs[18].start as usize + 5] = 0x20;
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![garbled_record(&log, 18)]);
    assert_eq!(sink.intact, entries(all_but(&log, &[18])));
    // The last record itself: nothing after it, so a cut write.
    let mut d = log.bytes();
    d[log.recs[19].start as usize + 5] = 0x20;
    let (s, sink) = scan(&d);
    let r = &log.recs[19];
    assert_eq!(ranges(&s), vec![(r.start, r.end - r.start, Class::Torn)]);
    assert_eq!(sink.intact, entries(all_but(&log, &[19])));
    assert_eq!(s.lost, vec![lost(Some(20), None)]);
}

#[test]
fn zero_run_mid_block_is_garbled() {
    let log = small_records(2);
    // A whole record zeroed.
    let mut d = log.bytes();
    zero(&mut d, log.recs[3].start, log.recs[3].end);
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![garbled_record(&log, 3)]);
    assert_eq!(reason(&s, 0), "zeroed bytes");
    assert_eq!(sink.intact, entries(all_but(&log, &[3])));
    assert_eq!(s.lost, vec![lost(Some(4), Some(4))]);
    assert_eq!(lost_entries(&s), vec![Some(1)]);

    // Zeros from inside record 3's payload to inside record 5's.
    let mut d = log.bytes();
    zero(&mut d, log.recs[3].start + 10, log.recs[5].start + 12);
    let (s, sink) = scan(&d);
    let (r3, r6) = (log.recs[3].start, log.recs[6].start);
    assert_eq!(ranges(&s), vec![(r3, r6 - r3, Class::Garbled)]);
    assert_eq!(sink.intact, entries(all_but(&log, &[3, 4, 5])));
    assert_eq!(s.lost, vec![lost(Some(4), Some(6))]);
    assert_eq!(lost_entries(&s), vec![Some(3)]);

    // Zeros reaching the end of a block, records in the next one: the
    // record spanning the boundary is lost, its orphaned LAST joins the range.
    let k = log.recs.iter().position(|r| r.end > B).unwrap();
    assert!(log.recs[k].start < B);
    let mut d = log.bytes();
    zero(&mut d, log.recs[k].start, B);
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![garbled_record(&log, k)]);
    assert_eq!(reason(&s, 0), "zeroed bytes");
    assert_eq!(sink.intact, entries(all_but(&log, &[k])));
    let seq = log.recs[k].seq;
    assert_eq!(s.lost, vec![lost(Some(seq), Some(seq))]);
}

#[test]
fn unwritten_zero_tail_is_torn() {
    // Zeros from inside the last record's payload to the end of the file:
    // an unwritten tail, torn from that record's header.
    let mut log = small_records(1);
    log.write(&big_string("tail", 300));
    let r = log.recs.last().unwrap().clone();
    let n = log.recs.len();
    assert!(r.single_fragment() && r.start > B && r.end < 2 * B);
    let check = |d: &[u8], why: &str| {
        let (s, sink) = scan(d);
        assert_eq!(s.outcome.records, counts(n as u64 - 1, 1, 0));
        assert_eq!(
            ranges(&s),
            vec![(r.start, d.len() as u64 - r.start, Class::Torn)]
        );
        assert_eq!(reason(&s, 0), why);
        assert_eq!(sink.intact, entries(&log.recs[..n - 1]));
        // The torn batch may still decode (zeros in its value): unverified.
        assert!(sink.unverified.iter().all(|u| u.0.seq == r.seq));
        assert_eq!(s.lost, vec![lost(Some(r.seq), None)]);
        assert_eq!(lost_entries(&s), vec![None]);
    };
    let mut d = log.bytes();
    zero(&mut d, r.start + H + 40, r.end);
    check(&d, "checksum mismatch (unwritten zero tail)");
    // A preallocated file: zeros go on for blocks, ending mid-block.
    d.resize(4 * BLOCK_SIZE + 100, 0);
    check(&d, "checksum mismatch (unwritten zero tail)");
    // ... or ending in a block too short for a header.
    d.resize(4 * BLOCK_SIZE + 3, 0);
    check(&d, "checksum mismatch (unwritten zero tail)");
    // ... right after the torn record's block.
    d.truncate(r.end as usize);
    d.resize(2 * BLOCK_SIZE + 3, 0);
    check(&d, "checksum mismatch (unwritten zero tail)");
    // Zeros from inside the header (only the checksum written).
    let mut d = log.bytes();
    zero(&mut d, r.start + 4, r.end);
    check(&d, "unknown record type (unwritten zero tail)");
    d.resize(3 * BLOCK_SIZE, 0);
    check(&d, "unknown record type (unwritten zero tail)");
}

#[test]
fn unwritten_zero_tail_in_a_multi_block_record_is_torn() {
    let mut log = Log::new();
    log.write(b"head");
    log.write(&big_string("spans", 2 * BLOCK_SIZE + 5000));
    let r = log.recs[1].clone();
    assert!(r.end > 2 * B);
    for from in [r.start + 500, B + 100, 2 * B + 7 + 100] {
        let mut d = log.bytes();
        zero(&mut d, from, r.end);
        d.resize(4 * BLOCK_SIZE, 0);
        let (s, sink) = scan(&d);
        assert_eq!(s.outcome.records, counts(1, 1, 0), "zeros from {from}");
        assert_eq!(ranges(&s), vec![(r.start, 4 * B - r.start, Class::Torn)]);
        assert!(reason(&s, 0).ends_with("(unwritten zero tail)"));
        assert_eq!(sink.intact, entries(&log.recs[..1]));
    }
    // Zeros from a fragment boundary: the verified fragments before it are
    // a chain the end of the file interrupts.
    for from in [B, 2 * B] {
        let mut d = log.bytes();
        zero(&mut d, from, r.end);
        let (s, _) = scan(&d);
        assert_eq!(ranges(&s), vec![(r.start, r.end - r.start, Class::Torn)]);
        assert_eq!(reason(&s, 0), "record cut short by end of file");
    }
}

#[test]
fn clean_zero_tail_is_not_damage() {
    let log = small_records(1);
    for size in [
        log.written() + 3,
        log.written() + 100,
        2 * B,
        2 * B + 3,
        5 * B + 1000,
    ] {
        let mut d = log.bytes();
        d.resize(size as usize, 0);
        assert_clean(&log, &d);
    }
    // A record that ends exactly at a block's end, then zeros.
    let mut log = Log::new();
    log.write_sized(BLOCK_SIZE - HEADER_SIZE, "x");
    let mut d = log.bytes();
    d.resize(3 * BLOCK_SIZE, 0);
    assert_clean(&log, &d);
}

#[test]
fn empty_record_is_no_batch() {
    // LevelDB's empty record (a FULL fragment of length 0) verifies, but an
    // empty payload is no write batch.
    let mut log = Log::new();
    log.write(b"a");
    log.write_payload(&[], 2, vec![]);
    log.write(b"b");
    let r = log.recs[1].clone();
    assert_eq!(r.end - r.start, H);
    let (s, sink) = scan(&log.bytes());
    assert_eq!(s.outcome.records, counts(2, 0, 1));
    assert_eq!(ranges(&s), vec![(r.start, H, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "write batch shorter than its 12-byte header");
    assert_eq!(sink.intact, entries(all_but(&log, &[1])));
    // The sequence numbers run on: nothing to call lost.
    assert!(s.lost.is_empty());
}

#[test]
fn damaged_middle_fragment() {
    let mut log = Log::new();
    log.write(b"before");
    log.write(&big_string("mid", 2 * BLOCK_SIZE + 1000));
    log.write(b"after");
    log.write(b"after2");
    let r = log.recs[1].clone();
    assert!(r.start < B && r.end > 2 * B && r.end < 3 * B);
    let mut d = log.bytes();
    increment_byte(&mut d, B + 100, 1);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(3, 0, 1));
    assert_eq!(ranges(&s), vec![(r.start, r.end - r.start, Class::Garbled)]);
    assert_eq!(sink.intact, entries(all_but(&log, &[1])));
    assert!(sink.unverified.is_empty());
    assert_eq!(s.lost, vec![lost(Some(2), Some(2))]);
    assert_eq!(lost_entries(&s), vec![Some(1)]);
}

#[test]
fn checksummed_batch_with_wrong_count_is_garbled() {
    for (count, holds) in [(2u8, true), (0, false)] {
        let mut log = Log::new();
        log.write(b"a");
        let mut p = BatchBuilder::new(2).put(b"k1", b"b").build();
        p[8] = count;
        let i = log.write_payload(&p, 2, vec![(b"k1".to_vec(), b"b".to_vec())]);
        log.next_seq = 3;
        log.write(b"c");
        let r = log.recs[i].clone();
        let (s, sink) = scan(&log.bytes());
        assert_eq!(s.outcome.records, counts(2, 0, 1));
        assert_eq!(ranges(&s), vec![(r.start, r.end - r.start, Class::Garbled)]);
        assert!(
            reason(&s, 0).starts_with("write batch"),
            "{}",
            reason(&s, 0)
        );
        assert_eq!(sink.intact, entries(all_but(&log, &[i])));
        assert_eq!(s.entries, 2);
        // What of it decodes before the count goes wrong is unverified.
        let unverified: Vec<OwnedEntry> = sink.unverified.iter().map(|u| u.0.clone()).collect();
        if holds {
            assert_eq!(reason(&s, 0), "write batch declares 2 entries but holds 1");
            assert_eq!(unverified, entries([&r]));
        } else {
            assert!(unverified.is_empty());
        }
        assert_eq!(s.lost, vec![lost(Some(2), Some(2))]);
        assert_eq!(lost_entries(&s), vec![Some(1)]);
    }
}

#[test]
fn undecodable_last_record_before_zeros_is_garbled() {
    // A verified record that is no batch, then a preallocated zero tail: the
    // record is complete, so no tear explains it. The zeros after it join
    // its range, as resynchronisation would take them in after a record
    // whose checksum failed.
    let mut log = Log::new();
    log.write(b"a");
    let mut p = BatchBuilder::new(2).put(b"k1", b"b").build();
    p[8] = 2;
    log.write_payload(&p, 2, vec![(b"k1".to_vec(), b"b".to_vec())]);
    let r = log.recs[1].clone();
    let mut d = log.bytes();
    d.resize(2 * BLOCK_SIZE + 100, 0);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(1, 0, 1));
    assert_eq!(
        ranges(&s),
        vec![(r.start, d.len() as u64 - r.start, Class::Garbled)]
    );
    assert_eq!(sink.intact, entries(&log.recs[..1]));
    assert_eq!(s.lost, vec![lost(Some(2), None)]);
    // Likewise an orphaned LAST fragment.
    let mut d = log.bytes();
    let at = r.start as usize;
    d[at + 6] = RecordType::Last as u8;
    fix_checksum(&mut d, r.start, r.payload_len);
    d.resize(BLOCK_SIZE, 0);
    let (s, _) = scan(&d);
    assert_eq!(ranges(&s), vec![(r.start, B - r.start, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "LAST fragment without a FIRST");
}

#[test]
fn checksum_mismatch_batch_is_unverified_never_intact() {
    let mut log = Log::new();
    log.write(b"a");
    log.write(b"bbbbbbbb");
    log.write(b"c");
    let r = log.recs[1].clone();
    // The stored checksum damaged: the batch decodes as written.
    let mut d = log.bytes();
    increment_byte(&mut d, r.start, 1);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(2, 0, 1));
    assert_eq!(ranges(&s), vec![garbled_record(&log, 1)]);
    assert_eq!(sink.intact, entries(all_but(&log, &[1])));
    let unverified: Vec<OwnedEntry> = sink.unverified.iter().map(|u| u.0.clone()).collect();
    assert_eq!(unverified, entries([&r]));
    assert_eq!(sink.unverified[0].1, "checksum mismatch");
    assert_eq!((s.entries, s.unverified), (2, 1));
    assert_eq!(s.lost, vec![lost(Some(2), Some(2))]);
    // A value byte damaged: the damaged value, unverified.
    let mut d = log.bytes();
    increment_byte(&mut d, r.end - 1, 1);
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![garbled_record(&log, 1)]);
    assert_eq!(sink.intact, entries(all_but(&log, &[1])));
    assert_eq!(sink.unverified.len(), 1);
    assert_eq!(sink.unverified[0].0.value, b"bbbbbbbc");
    assert!(!sink.intact.iter().any(|e| e.seq == 2));
}

fn multi_entry_log() -> Log {
    let mut log = Log::new();
    let puts = |n: usize, tag: &str| {
        (0..n)
            .map(|i| (format!("{tag}{i}").into_bytes(), big_string(tag, 30 + i)))
            .collect::<Vec<_>>()
    };
    log.write_batch(puts(3, "a")); // 1..=3
    log.write_batch(puts(2, "b")); // 4..=5
    log.write_batch(puts(1, "c")); // 6
    log.write_batch(puts(4, "d")); // 7..=10
    log.write_batch(puts(2, "e")); // 11..=12
    log
}

#[test]
fn lost_range_between_intact_batches() {
    let log = multi_entry_log();
    let mut d = log.bytes();
    increment_byte(&mut d, log.recs[1].start + 20, 1);
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![garbled_record(&log, 1)]);
    assert_eq!(sink.intact, entries(all_but(&log, &[1])));
    assert_eq!(s.lost, vec![lost(Some(4), Some(5))]);
    assert_eq!(lost_entries(&s), vec![Some(2)]);
    assert_eq!(s.seqs, Some((1, 12)));

    // Two adjacent records damaged: one range, one loss.
    let mut d = log.bytes();
    increment_byte(&mut d, log.recs[2].start + 20, 1);
    increment_byte(&mut d, log.recs[3].start + 20, 1);
    let (s, _) = scan(&d);
    let (r2, r4) = (log.recs[2].start, log.recs[4].start);
    assert_eq!(ranges(&s), vec![(r2, r4 - r2, Class::Garbled)]);
    assert_eq!(s.lost, vec![lost(Some(6), Some(10))]);
    assert_eq!(lost_entries(&s), vec![Some(5)]);
}

#[test]
fn lost_range_over_two_damaged_ranges() {
    // An intact empty batch between two damaged ones splits the damage, but
    // takes no sequence number: one loss over both, with no per-range count.
    let mut log = Log::new();
    log.write(b"a"); // 1
    log.write(b"b"); // 2
    let empty = BatchBuilder::new(3).build();
    log.write_payload(&empty, 3, vec![]);
    log.write(b"c"); // 3
    log.write(b"d"); // 4
    let mut d = log.bytes();
    increment_byte(&mut d, log.recs[1].start + 20, 1);
    increment_byte(&mut d, log.recs[3].start + 20, 1);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(3, 0, 2));
    assert_eq!(
        ranges(&s),
        vec![garbled_record(&log, 1), garbled_record(&log, 3)]
    );
    assert_eq!(sink.intact, entries(all_but(&log, &[1, 3])));
    assert_eq!(s.lost, vec![lost(Some(2), Some(3))]);
    assert_eq!(lost_entries(&s), vec![None, None]);
}

#[test]
fn lost_range_open_at_the_tail_and_head() {
    let log = multi_entry_log();
    // Torn tail: open-ended.
    let mut d = log.bytes();
    shrink_size(&mut d, 5);
    let (s, sink) = scan(&d);
    let r = &log.recs[4];
    assert_eq!(
        ranges(&s),
        vec![(r.start, d.len() as u64 - r.start, Class::Torn)]
    );
    assert_eq!(sink.intact, entries(&log.recs[..4]));
    assert_eq!(s.lost, vec![lost(Some(11), None)]);
    assert_eq!(lost_entries(&s), vec![None]);
    // Garbled tail: open-ended too.
    let mut d = log.bytes();
    increment_byte(&mut d, r.start + 20, 1);
    let (s, _) = scan(&d);
    assert_eq!(ranges(&s), vec![(r.start, r.end - r.start, Class::Garbled)]);
    assert_eq!(s.lost, vec![lost(Some(11), None)]);
    // Damaged head: where the loss starts is for older files to say.
    let mut d = log.bytes();
    increment_byte(&mut d, 20, 1);
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![garbled_record(&log, 0)]);
    assert_eq!(sink.intact, entries(&log.recs[1..]));
    assert_eq!(s.lost, vec![lost(None, Some(3))]);
    assert_eq!(lost_entries(&s), vec![None]);
    assert_eq!(s.seqs, Some((4, 12)));
}

#[test]
fn garbled_damage_next_to_a_tear_stays_garbled() {
    // Adjacent damaged bytes are one range; a range holding damage that no
    // interrupted write explains is garbled even when it ends in a tear.
    let mut log = Log::new();
    log.write_sized(BLOCK_SIZE - HEADER_SIZE - 500, "a");
    log.write(&big_string("b", 400)); // ends 70 bytes before the block's end
    log.write(&big_string("c", 3000)); // FIRST in block 0, LAST in block 1
    let (r1, r2) = (log.recs[1].clone(), log.recs[2].clone());
    assert!(r2.start < B && r2.end > B);
    let mut d = log.bytes();
    increment_byte(&mut d, r1.start + 20, 1);
    shrink_size(&mut d, 10);
    let (s, sink) = scan(&d);
    assert_eq!(s.outcome.records, counts(1, 0, 1));
    assert_eq!(
        ranges(&s),
        vec![(r1.start, d.len() as u64 - r1.start, Class::Garbled)]
    );
    assert_eq!(sink.intact, entries(&log.recs[..1]));
    // The same within one block.
    let mut log = Log::new();
    log.write(b"a");
    log.write(b"b");
    log.write(&big_string("c", 300));
    let r1 = log.recs[1].clone();
    let mut d = log.bytes();
    increment_byte(&mut d, r1.start + 20, 1);
    shrink_size(&mut d, 10);
    let (s, _) = scan(&d);
    assert_eq!(
        ranges(&s),
        vec![(r1.start, d.len() as u64 - r1.start, Class::Garbled)]
    );
}

#[test]
fn nonzero_bytes_after_the_last_record() {
    let log = small_records(0);
    let end = log.written();
    // Garbage after the last record, then zeros: no record's tear.
    let mut d = log.bytes();
    d.extend_from_slice(&[0x55; 40]);
    d.resize(B as usize, 0);
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![(end, B - end, Class::Garbled)]);
    assert_eq!(sink.intact, entries(&log.recs));
    // Non-zero bytes in a block's trailer, cut by the end of the file.
    let mut log = Log::new();
    log.write_sized(BLOCK_SIZE - HEADER_SIZE - 3, "x");
    let mut d = log.bytes();
    d.extend_from_slice(&[1, 2]);
    let (s, _) = scan(&d);
    assert_eq!(ranges(&s), vec![(B - 3, 2, Class::Garbled)]);
    assert_eq!(reason(&s, 0), "non-zero bytes in block trailer");
    // A header cut short by the end of the file is a tear.
    let mut log = Log::new();
    log.write_sized(100, "y");
    log.write(b"z");
    let mut d = log.bytes();
    d.truncate(log.recs[1].start as usize + 5);
    let (s, sink) = scan(&d);
    assert_eq!(ranges(&s), vec![(log.recs[1].start, 5, Class::Torn)]);
    assert_eq!(sink.intact, entries(&log.recs[..1]));
}

// ---------------------------------------------------------------------------
// Beyond one scan window
// ---------------------------------------------------------------------------

/// A ~9 MiB log of records from 100 bytes to 40 KiB.
fn big_log() -> Log {
    let mut log = Log::new();
    let mut rng = Rng(7);
    let mut i = 0;
    while log.written() < 9 * 1024 * 1024 {
        let n = 100 + rng.below(40_000) as usize;
        log.write(&big_string(&number_string(i), n));
        i += 1;
    }
    log
}

/// The index of the first record ending after `off`.
fn rec_at(log: &Log, off: u64) -> usize {
    log.recs.iter().position(|r| r.end > off).unwrap()
}

/// The big log with damage around both window boundaries and a torn tail,
/// and what a scan of it must give.
struct Damaged {
    data: Vec<u8>,
    skip: Vec<usize>,
    ranges: Vec<(u64, u64, Class)>,
}

fn damaged_big_log(log: &Log) -> Damaged {
    let w1 = WINDOW;
    let w2 = 2 * WINDOW;
    let i2 = rec_at(log, w1);
    let i5 = rec_at(log, w2);
    // Records spanning each boundary.
    assert!(log.recs[i2].start < w1 && log.recs[i5].start < w2);
    let (i1, i3) = (i2 - 1, i2 + 1);
    // Its neighbours end in the window's last block and start in the next
    // window's first.
    assert!(log.recs[i1].end > w1 - B && log.recs[i3].start < w1 + B);
    let last = log.recs.len() - 1;
    let mut d = log.bytes();
    // Just before the boundary: the record before the spanning one.
    increment_byte(&mut d, log.recs[i1].end - 1, 1);
    // Just after it: the record after the spanning one.
    increment_byte(&mut d, log.recs[i3].start, 1);
    // In the fragment that starts the third window.
    increment_byte(&mut d, w2 + 2, 1);
    // A torn tail.
    d.truncate((log.recs[last].start + H + 50) as usize);
    let len = d.len() as u64;
    let r = &log.recs[last];
    Damaged {
        data: d,
        skip: vec![i1, i3, i5, last],
        ranges: vec![
            garbled_record(log, i1),
            garbled_record(log, i3),
            garbled_record(log, i5),
            (r.start, len - r.start, Class::Torn),
        ],
    }
}

#[test]
fn larger_than_one_window() {
    let log = big_log();
    assert!(log.written() > 2 * WINDOW);
    assert_clean(&log, &log.bytes());

    let dm = damaged_big_log(&log);
    let (s, sink) = scan(&dm.data);
    assert_eq!(ranges(&s), dm.ranges);
    assert_eq!(sink.intact, entries(all_but(&log, &dm.skip)));
    let n = log.recs.len() as u64;
    assert_eq!(s.outcome.records, counts(n - 4, 1, 3));
    let seq = |i: usize| Some(log.recs[i].seq);
    let expect_lost: Vec<LostSeqs> = dm.skip[..3]
        .iter()
        .map(|&i| lost(seq(i), seq(i)))
        .chain([lost(seq(dm.skip[3]), None)])
        .collect();
    assert_eq!(s.lost, expect_lost);
    assert_eq!(lost_entries(&s), vec![Some(1), Some(1), Some(1), None]);

    // Damage on both sides of a boundary, in the record spanning it: one
    // range across the windows. A zero run across the other boundary, with
    // records after it: garbled, one range.
    let (w1, w2) = (WINDOW, 2 * WINDOW);
    let i2 = rec_at(&log, w1);
    let (z0, z1) = (w2 - 5000, w2 + 5000);
    let a = rec_at(&log, z0);
    // The last record starting before the zeros end.
    let b = log.recs.iter().rposition(|r| r.start < z1).unwrap();
    assert!(a < b);
    let mut d = log.bytes();
    increment_byte(&mut d, w1 - 1, 1);
    increment_byte(&mut d, w1, 1);
    zero(&mut d, z0, z1);
    let (s, sink) = scan(&d);
    let (ra, rb) = (log.recs[a].start, log.recs[b + 1].start);
    assert_eq!(
        ranges(&s),
        vec![garbled_record(&log, i2), (ra, rb - ra, Class::Garbled)]
    );
    let mut skip = vec![i2];
    skip.extend(a..=b);
    assert_eq!(sink.intact, entries(all_but(&log, &skip)));
    assert_eq!(s.lost, vec![lost(seq(i2), seq(i2)), lost(seq(a), seq(b)),]);
    assert_eq!(lost_entries(&s), vec![Some(1), Some((b - a + 1) as u64)]);
}

fn scan_in_pool(threads: usize, data: &[u8]) -> String {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut sink = Collect::default();
        let s = scan_bytes(data, &mut sink);
        format!("{s:?}\n{sink:?}")
    })
}

#[test]
fn independent_of_thread_count_and_source() {
    let log = big_log();
    let dm = damaged_big_log(&log);
    let mut small = small_records(3).bytes();
    increment_byte(&mut small, 5000, 1);
    zero(&mut small, B - 300, B + 200);
    small.truncate(small.len() - 7);
    for data in [&dm.data, &small] {
        let one = scan_in_pool(1, data);
        let four = scan_in_pool(4, data);
        assert!(one == four, "results depend on the thread count");

        // The same bytes read from a file.
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, data).unwrap();
        let seen = std::sync::atomic::AtomicU64::new(0);
        let mut sink = Collect::default();
        let s = ldbsalvage::scan::log::scan(&f, data.len() as u64, &mut sink, &|n| {
            seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(seen.into_inner(), data.len() as u64);
        assert!(format!("{s:?}\n{sink:?}") == one, "file and memory differ");
    }
}

// ---------------------------------------------------------------------------
// Noise
// ---------------------------------------------------------------------------

#[test]
fn pure_noise_never_panics() {
    let mut rng = Rng(42);
    let sizes = [
        0,
        1,
        6,
        7,
        8,
        13,
        100,
        4095,
        B - 7,
        B - 1,
        B,
        B + 1,
        B + 6,
        B + 7,
        2 * B + 100,
        5 * B + 3,
        131 * B + 77,
    ];
    for &n in &sizes {
        let mut d = vec![0u8; n as usize];
        rng.fill(&mut d);
        let (s, sink) = scan(&d);
        assert!(sink.intact.is_empty(), "entries out of noise");
        assert_eq!(s.outcome.records.intact, 0);
        if n > 0 {
            assert!(!s.outcome.damage.is_empty());
        }
        // Sparse noise: mostly zeros, a few bytes set, and small type bytes.
        let mut d = vec![0u8; n as usize];
        for _ in 0..n / 50 {
            let at = rng.below(n) as usize;
            d[at] = (rng.below(6)) as u8;
        }
        let (_, sink) = scan(&d);
        assert!(sink.intact.is_empty());
    }
}

#[test]
fn noise_over_a_log_never_invents_entries() {
    let mut log = Log::new();
    let mut rng = Rng(99);
    for i in 0..400 {
        let n = match rng.below(4) {
            0 => rng.below(30),
            1 => rng.below(600),
            2 => rng.below(5000),
            _ => rng.below(70_000),
        } as usize;
        log.write(&big_string(&number_string(i), n));
    }
    let written: HashMap<u64, OwnedEntry> =
        entries(&log.recs).into_iter().map(|e| (e.seq, e)).collect();
    let full = log.bytes();
    for round in 0..250 {
        let mut d = full.clone();
        let mut touched: Vec<(u64, u64)> = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let len = 1 + match rng.below(3) {
                0 => rng.below(8),
                1 => rng.below(300),
                _ => rng.below(3 * B),
            };
            let at = rng.below(d.len() as u64);
            let end = (at + len).min(d.len() as u64);
            match rng.below(4) {
                0 => zero(&mut d, at, end),
                1 => d[at as usize] ^= 1 << rng.below(8),
                _ => rng.fill(&mut d[at as usize..end as usize]),
            }
            touched.push((at, end));
        }
        match rng.below(6) {
            0 => {
                let cut = rng.below(d.len() as u64 + 1);
                d.truncate(cut as usize);
                touched.push((cut, u64::MAX));
            }
            1 => {
                // Preallocated space, or noise, after the data.
                let more = rng.below(2 * B) as usize;
                let at = d.len();
                d.resize(at + more, 0);
                if rng.below(2) == 0 {
                    rng.fill(&mut d[at..]);
                }
            }
            _ => {}
        }
        let (s, sink) = scan(&d);
        for e in &sink.intact {
            assert_eq!(
                written.get(&e.seq),
                Some(e),
                "round {round}: invented entry"
            );
        }
        // Every record left untouched is recovered.
        for r in &log.recs {
            if touched.iter().all(|&(a, b)| b <= r.start || a >= r.end) {
                assert!(
                    sink.intact.iter().any(|e| e.seq == r.seq),
                    "round {round}: untouched record {r:?} lost; damage {:?}",
                    s.outcome.damage
                );
            }
        }
    }
}

/// A log with records of all sizes, some ending near block boundaries.
fn mixed_log() -> Log {
    let mut log = Log::new();
    let mut rng = Rng(5);
    for i in 0..120 {
        let n = match rng.below(3) {
            0 => rng.below(40),
            1 => rng.below(3000),
            _ => rng.below(50_000),
        } as usize;
        log.write(&big_string(&number_string(i), n));
    }
    log
}

/// Positions to tear at: random ones, and every byte around some block
/// boundaries and record starts.
fn tear_points(log: &Log) -> Vec<u64> {
    let len = log.written();
    let mut rng = Rng(11);
    let mut at: Vec<u64> = (0..300).map(|_| rng.below(len)).collect();
    for k in 1..4 {
        at.extend(k * B - 20..k * B + 20);
    }
    for r in log.recs.iter().step_by(17) {
        at.extend(r.start.saturating_sub(2)..r.start + 9);
    }
    at.retain(|&a| a < len);
    at
}

/// The record whose bytes hold `at`, if any (padding holds none).
fn holding(log: &Log, at: u64) -> Option<&Rec> {
    log.recs.iter().find(|r| r.start <= at && at < r.end)
}

#[test]
fn every_cut_is_at_most_one_tear() {
    let log = mixed_log();
    for c in tear_points(&log) {
        let mut d = log.bytes();
        d.truncate(c as usize);
        let (s, sink) = scan(&d);
        let before: Vec<&Rec> = log.recs.iter().filter(|r| r.end <= c).collect();
        assert_eq!(sink.intact, entries(before), "cut at {c}");
        match holding(&log, c).filter(|r| r.start < c) {
            Some(r) => {
                assert_eq!(
                    ranges(&s),
                    vec![(r.start, c - r.start, Class::Torn)],
                    "cut at {c}"
                );
                assert_eq!(reason(&s, 0), "record cut short by end of file");
            }
            None => assert!(s.outcome.damage.is_empty(), "cut at {c}: {:?}", s.outcome),
        }
    }
}

#[test]
fn every_zero_tail_is_at_most_one_tear() {
    let log = mixed_log();
    for (i, z) in tear_points(&log).into_iter().enumerate() {
        let mut d = log.bytes();
        d[z as usize..].fill(0);
        if i % 2 == 1 {
            // Preallocated beyond the data.
            d.resize(d.len() + (i * 977) % (2 * BLOCK_SIZE), 0);
        }
        let len = d.len() as u64;
        // Where the zeros really begin (bytes before `z` may be zeros too).
        let ez = d.iter().rposition(|&b| b != 0).map_or(0, |p| p as u64 + 1);
        let (s, sink) = scan(&d);
        let before: Vec<&Rec> = log.recs.iter().filter(|r| r.end <= ez).collect();
        assert_eq!(sink.intact, entries(before), "zeros from {z}");
        match holding(&log, ez).filter(|r| r.start < ez) {
            Some(r) => {
                assert_eq!(
                    ranges(&s),
                    vec![(r.start, len - r.start, Class::Torn)],
                    "zeros from {z}"
                );
            }
            None => assert!(
                s.outcome.damage.is_empty(),
                "zeros from {z}: {:?}",
                s.outcome
            ),
        }
    }
}

/// A last record whose value legitimately ends in zero bytes, garbled
/// elsewhere: the zeros are its own, not an unwritten tail (a MANIFEST's
/// last VersionEdit often ends in an internal key's zero tag bytes).
#[test]
fn checksum_mismatch_on_a_record_ending_in_its_own_zeros_is_garbled() {
    let mut log = Log::new();
    log.write(b"one");
    log.write(b"two\0\0\0\0\0\0");
    let r = log.recs[1].clone();
    let mut d = log.bytes();
    increment_byte(&mut d, r.start + 7 + 14, 1); // a key byte
    let (s, _) = scan(&d);
    assert_eq!(s.outcome.records, counts(1, 0, 1));
    assert_eq!(ranges(&s), vec![(r.start, r.end - r.start, Class::Garbled)]);
    // The same record with zeros running on past it to the end of the file
    // (preallocated space) and a zeroed middle is a tear.
    let mut d = log.bytes();
    d.resize(d.len() + 100, 0);
    let end = d.len() as u64;
    zero(&mut d, r.start + 9, end);
    let (s, _) = scan(&d);
    assert_eq!(ranges(&s), vec![(r.start, end - r.start, Class::Torn)]);
}

// ---------------------------------------------------------------------------
// Through the binary
// ---------------------------------------------------------------------------

/// Run the binary (under `ulimit -v` when `limit`, in bytes, is given),
/// killed and failed past a deadline so that no run stalls the suite.
///
/// Under a limit, glibc is held to one malloc arena: each thread's arena
/// otherwise reserves 64 MiB of address space it never uses, so whether a
/// run fits would depend on which threads happened to allocate.
fn run_bounded(args: &[&std::ffi::OsStr], limit: Option<u64>) -> std::process::Output {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let ulimit = limit.map_or(String::new(), |l| {
        format!("ulimit -v {} || exit 99; ", l / 1024)
    });
    let mut cmd = Command::new("bash");
    if limit.is_some() {
        cmd.env("MALLOC_ARENA_MAX", "1");
    }
    let mut child = cmd
        .arg("-c")
        .arg(format!("{ulimit}exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ldbsalvage"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start bash");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ldbsalvage {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn read_ndjson(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many of `r`'s entries lie wholly within its first `len` payload bytes.
fn entries_within(r: &Rec, len: usize) -> usize {
    let mut at = 12;
    r.puts
        .iter()
        .take_while(|(k, v)| {
            at += 1 + varint_len(k.len()) + k.len() + varint_len(v.len()) + v.len();
            at <= len
        })
        .count()
}

/// A batch of 500 puts written as FIRST (block 0), MIDDLE (block 1), MIDDLE
/// (block 2), LAST (block 3), with a MIDDLE garbled: the verified fragments
/// before it still hold a batch header and whole entries.
#[test]
fn a_damaged_middle_fragment_leaves_the_entries_before_it_unverified() {
    let mut log = Log::new();
    log.write(b"before"); // 1
    let puts = (0..500)
        .map(|i| {
            let v = big_string(&number_string(i), 200);
            (format!("m{i:04}").into_bytes(), v)
        })
        .collect();
    log.write_batch(puts); // 2..=501
    log.write(b"after"); // 502
    let r = log.recs[1].clone();
    assert!(r.start < B && r.end > 3 * B && r.end < 4 * B);
    let first_len = (B - r.start - H) as usize;
    let middle_len = BLOCK_SIZE - HEADER_SIZE;
    for (block, verified) in [(1, first_len), (2, first_len + middle_len)] {
        let mut d = log.bytes();
        increment_byte(&mut d, block * B + 100, 1);
        let (s, sink) = scan(&d);
        let k = entries_within(&r, verified);
        assert!(k > 0 && k < r.puts.len(), "{k}");
        assert_eq!(s.outcome.records, counts(2, 0, 1));
        assert_eq!(ranges(&s), vec![(r.start, r.end - r.start, Class::Garbled)]);
        assert_eq!(sink.intact, entries(all_but(&log, &[1])));
        let unverified: Vec<OwnedEntry> = sink.unverified.iter().map(|u| u.0.clone()).collect();
        assert!(
            unverified == entries([&r])[..k],
            "MIDDLE in block {block}: {} unverified entries, {k} expected",
            unverified.len()
        );
        assert!(sink.unverified.iter().all(|u| u.1 == "checksum mismatch"));
        // The batch as a whole is lost: its sequence numbers stay so.
        assert_eq!(s.lost, vec![lost(Some(2), Some(501))]);
        assert_eq!(lost_entries(&s), vec![Some(500)]);
    }

    // Through `salvage` and `inspect`: the first MIDDLE garbled.
    let k = entries_within(&r, first_len) as u64;
    let mut d = log.bytes();
    increment_byte(&mut d, B + 100, 1);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let file = db.join("000003.log");
    std::fs::write(&file, &d).unwrap();
    let out = tmp.path().join("out");
    let args = [
        "salvage".as_ref(),
        db.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--view".as_ref(),
        "all".as_ref(),
        "-q".as_ref(),
    ];
    let o = run_bounded(&args, None);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let seqs = |v: &[serde_json::Value]| {
        v.iter()
            .map(|l| l["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&read_ndjson(&out.join("records.jsonl"))), vec![1, 502]);
    let unverified = read_ndjson(&out.join("unverified.jsonl"));
    assert_eq!(seqs(&unverified), (2..2 + k).collect::<Vec<_>>());
    for (u, (key, value)) in unverified.iter().zip(&r.puts) {
        assert_eq!(u["key"].as_str().unwrap().as_bytes(), key.as_slice());
        assert_eq!(u["value"].as_str().unwrap().as_bytes(), value.as_slice());
        assert_eq!(u["offset"].as_u64(), Some(r.start));
        assert_eq!(u["reason"], "checksum mismatch");
    }
    let report = read_json(&out.join("report.json"));
    let ranges = report["lost"]["sequence_ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert_eq!(
        (ranges[0]["first"].as_u64(), ranges[0]["last"].as_u64()),
        (Some(2), Some(501))
    );
    assert_eq!(report["lost"]["unverified_entries"].as_u64(), Some(k));

    // `inspect` puts the same entries in the damaged record's row.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ldbsalvage"))
        .arg("inspect")
        .arg(&file)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let rows: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let damaged: Vec<_> = rows.iter().filter(|l| l["class"] == "garbled").collect();
    assert_eq!(damaged.len(), 1, "{rows:?}");
    assert_eq!(damaged[0]["offset"].as_u64(), Some(r.start));
    let shown = damaged[0]["unverified_entries"].as_array().unwrap();
    assert_eq!(seqs(shown), (2..2 + k).collect::<Vec<_>>());
}

/// Address space `scan --jobs 2` gets for the log below: the binary, its
/// threads' stacks, two 4 MiB windows, and the record being joined, which
/// the cap holds to 64 MiB (it runs in 96 MiB). Less than the 300 MiB
/// chain itself, which a scan that joined it whole had to hold (it
/// reserved 512 MiB).
const ENDLESS_CHAIN_ADDRESS_SPACE: u64 = 256 << 20;

/// A FIRST fragment, then 300 MiB of MIDDLE fragments whose checksums
/// verify and no LAST, then an intact record: the chain is cut at the cap,
/// reported as one garbled range from the FIRST to the intact record, and
/// memory stays bounded by the cap, not by the chain.
#[test]
fn a_record_that_never_ends_is_cut_at_the_cap() {
    use ldbsalvage::format::log::encode_fragment;
    use std::io::Write;
    const CHAIN_BLOCKS: u64 = 9600;
    let mut head = Vec::new();
    let one = BatchBuilder::new(1).put(b"a", b"1").build();
    encode_fragment(&mut head, RecordType::Full, &one);
    let first = head.len() as u64;
    // The FIRST holds a batch header and ten whole puts, then bytes that are
    // no entry; the header's count says the chain holds a million.
    let mut b = BatchBuilder::new(2);
    for i in 0..10 {
        b.put(format!("p{i}").as_bytes(), b"x");
    }
    let mut payload = b.build();
    payload[8..12].copy_from_slice(&1_000_000u32.to_le_bytes());
    payload.resize(BLOCK_SIZE - head.len() - HEADER_SIZE, b'x');
    encode_fragment(&mut head, RecordType::First, &payload);
    assert_eq!(head.len(), BLOCK_SIZE);
    let mut middle = Vec::new();
    encode_fragment(
        &mut middle,
        RecordType::Middle,
        &[b'x'; BLOCK_SIZE - HEADER_SIZE],
    );
    let mut tail = Vec::new();
    let after = BatchBuilder::new(1_000_002).put(b"z", b"2").build();
    encode_fragment(&mut tail, RecordType::Full, &after);

    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let path = db.join("000003.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    w.write_all(&head).unwrap();
    for _ in 0..CHAIN_BLOCKS {
        w.write_all(&middle).unwrap();
    }
    w.write_all(&tail).unwrap();
    w.into_inner().unwrap().sync_all().unwrap();
    let chain_end = (1 + CHAIN_BLOCKS) * B;
    assert!(chain_end - first > ENDLESS_CHAIN_ADDRESS_SPACE);

    let report = tmp.path().join("report.json");
    let args = [
        "scan".as_ref(),
        path.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
        "--jobs".as_ref(),
        "2".as_ref(),
        "-q".as_ref(),
    ];
    let o = run_bounded(&args, Some(ENDLESS_CHAIN_ADDRESS_SPACE));
    assert_eq!(
        o.status.code(),
        Some(1),
        "scan within {ENDLESS_CHAIN_ADDRESS_SPACE} bytes: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let r = read_json(&report);
    let f = &r["files"][0];
    assert_eq!(
        f["records"],
        serde_json::json!({"intact": 2, "torn": 0, "garbled": 1})
    );
    assert_eq!(f["entries"].as_u64(), Some(2));
    let damage = f["damage"].as_array().unwrap();
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0]["offset"].as_u64(), Some(first));
    assert_eq!(damage[0]["length"].as_u64(), Some(chain_end - first));
    assert_eq!(damage[0]["class"], "garbled");
    assert_eq!(
        damage[0]["reason"],
        "record longer than 64 MiB, the most a record is joined to"
    );
    // What the FIRST fragment held, unverified; the batch's sequence
    // numbers lost, from both intact neighbours.
    assert_eq!(f["unverified_entries"].as_u64(), Some(10));
    let lost = r["lost"]["sequence_ranges"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(
        (lost[0]["first"].as_u64(), lost[0]["last"].as_u64()),
        (Some(2), Some(1_000_001))
    );
}
