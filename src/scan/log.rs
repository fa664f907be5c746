//! Write-ahead logs: records are write batches. Intact batches give their
//! entries to the sink; a batch inside damaged bytes that still decodes gives
//! them as unverified; gaps in the sequence numbers between intact batches
//! become lost sequence ranges.

use super::logfile::{self, LayoutSink, LogOutcome, Precheck, RecordSink, Source};
use super::rocks::RocksCtx;
use super::{Entry, EntrySink};
use crate::format::batch;
use crate::format::log::LogFlavor;
use crate::format::rocks_batch::{self, RocksOp};
use crate::report::Damage;

/// Sequence numbers lost in one file. `first: None` when no intact batch
/// before the damage tells where the loss starts (the store level fills it
/// from older files); `last: None` when nothing after it tells where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostSeqs {
    pub first: Option<u64>,
    pub last: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct LogScan {
    pub outcome: LogOutcome,
    /// Intact entries.
    pub entries: u64,
    /// Entries read from damaged records.
    pub unverified: u64,
    pub lost: Vec<LostSeqs>,
    /// For each of `lost`, the reason of the first damage behind it.
    pub lost_reasons: Vec<String>,
    /// Lowest and highest sequence number of the intact batches.
    pub seqs: Option<(u64, u64)>,
}

struct BatchSink<'a> {
    out: &'a mut dyn EntrySink,
    entries: u64,
    unverified: u64,
    prev_end: Option<u64>,
    damage_since: Vec<usize>,
    lost: Vec<(LostSeqs, Vec<usize>)>,
    seqs: Option<(u64, u64)>,
    layout: Option<&'a mut dyn LayoutSink>,
    /// Damaged ranges below this index know their lost entries.
    settled: usize,
    /// Lost entries of settled ranges not yet passed on to the layout.
    lost_of: Vec<(usize, u64)>,
    /// Final ranges waiting for their lost entries to be settled.
    closed: Vec<(usize, Damage)>,
    /// A RocksDB WAL: its store's column families and its own number.
    rocks: Option<(&'a RocksCtx, u64)>,
}

impl<'a> BatchSink<'a> {
    fn new(
        out: &'a mut dyn EntrySink,
        layout: Option<&'a mut dyn LayoutSink>,
        rocks: Option<(&'a RocksCtx, u64)>,
    ) -> Self {
        BatchSink {
            rocks,
            layout,
            settled: 0,
            lost_of: Vec::new(),
            closed: Vec::new(),
            out,
            entries: 0,
            unverified: 0,
            prev_end: None,
            damage_since: Vec::new(),
            lost: Vec::new(),
            seqs: None,
        }
    }

    /// An intact batch, decoded: its entries are counted and its sequence
    /// numbers checked for a gap since the last one.
    fn intact_batch(&mut self, h: batch::BatchHeader) {
        self.entries += u64::from(h.count);
        if h.count == 0 {
            return;
        }
        let last = h.sequence + u64::from(h.count) - 1;
        let damage = std::mem::take(&mut self.damage_since);
        let newest = damage.last().copied();
        let groups = self.lost.len();
        match self.prev_end {
            Some(pe) if h.sequence > pe.saturating_add(1) => self.lost.push((
                LostSeqs {
                    first: Some(pe + 1),
                    last: Some(h.sequence - 1),
                },
                damage,
            )),
            None if !damage.is_empty() && h.sequence > 0 => self.lost.push((
                LostSeqs {
                    first: None,
                    last: Some(h.sequence - 1),
                },
                damage,
            )),
            _ => {}
        }
        if let Some(n) = newest.filter(|_| self.layout.is_some()) {
            // As `scan` sets them at the end: a gap behind exactly one range.
            if let Some((
                LostSeqs {
                    first: Some(f),
                    last: Some(t),
                },
                d,
            )) = self.lost.get(groups)
            {
                if let [i] = d.as_slice() {
                    self.lost_of.push((*i, t - f + 1));
                }
            }
            self.settled = n + 1;
            self.forward_closed();
        }
        self.prev_end = Some(self.prev_end.map_or(last, |p| p.max(last)));
        self.seqs = Some(match self.seqs {
            None => (h.sequence, last),
            Some((a, b)) => (a.min(h.sequence), b.max(last)),
        });
    }

    /// Pass on the final ranges whose lost entries are known, in order.
    fn forward_closed(&mut self) {
        let Some(l) = self.layout.as_deref_mut() else {
            return;
        };
        while self.closed.first().is_some_and(|(i, _)| *i < self.settled) {
            let (i, mut d) = self.closed.remove(0);
            if let Some(k) = self.lost_of.iter().position(|(j, _)| *j == i) {
                d.lost_entries = Some(self.lost_of.swap_remove(k).1);
            }
            l.damage_final(i, d);
        }
    }
}

fn precheck_batch(payload: &[u8]) -> Precheck {
    batch::validate(payload)
        .map(|h| (h.sequence, h.count))
        .map_err(|e| e.to_string())
}

impl RecordSink for BatchSink<'_> {
    fn precheck(&self) -> Option<fn(&[u8]) -> Precheck> {
        Some(match self.rocks {
            None => precheck_batch,
            Some(_) => precheck_rocks_batch,
        })
    }

    fn undamage(&mut self, index: usize) {
        self.damage_since.retain(|&i| i != index);
    }

    fn record(&mut self, offset: u64, payload: &[u8]) -> Result<(), String> {
        let check = match self.rocks {
            None => precheck_batch(payload),
            Some(_) => precheck_rocks_batch(payload),
        };
        self.record_checked(offset, payload, check)
    }

    fn record_checked(
        &mut self,
        offset: u64,
        payload: &[u8],
        check: Precheck,
    ) -> Result<(), String> {
        let (sequence, count) = match check {
            Ok(h) => h,
            Err(reason) => {
                let out = &mut *self.out;
                let mut n = 0;
                // Checksummed bytes that do not decode: what does decode is
                // still only unverified.
                for_each_entry(self.rocks, payload, offset, |e| {
                    n += 1;
                    out.unverified(e, &reason);
                });
                self.unverified += n;
                return Err(reason);
            }
        };
        if self.out.wants_entries() {
            let out = &mut *self.out;
            for_each_entry(self.rocks, payload, offset, |e| out.intact(e));
        }
        self.intact_batch(batch::BatchHeader { sequence, count });
        Ok(())
    }

    fn takes_runs(&self) -> bool {
        self.layout.is_none() && self.rocks.is_none() && !self.out.wants_entries()
    }

    fn record_run(&mut self, checks: &[(u64, u32)]) {
        for &(sequence, count) in checks {
            self.intact_batch(batch::BatchHeader { sequence, count });
        }
    }

    fn suspect(&mut self, offset: u64, payload: &[u8], reason: &str) {
        // Every entry that decodes before the first malformed one: a torn
        // record's prefix is what its writer had written.
        let out = &mut *self.out;
        let mut n = 0;
        for_each_entry(self.rocks, payload, offset, |e| {
            n += 1;
            out.unverified(e, reason);
        });
        self.unverified += n;
    }

    fn damage(&mut self, index: usize) {
        self.damage_since.push(index);
    }

    fn layout(&mut self) -> Option<&mut dyn LayoutSink> {
        if self.layout.is_some() {
            Some(self)
        } else {
            None
        }
    }
}

/// Passes the layout on, each final range once its lost entries are known.
impl LayoutSink for BatchSink<'_> {
    fn intact(&mut self, frags: &[logfile::Fragment], payload: &[u8]) {
        if let Some(l) = self.layout.as_deref_mut() {
            l.intact(frags, payload);
        }
    }
    fn damaged(&mut self, frags: &[logfile::Fragment]) {
        if let Some(l) = self.layout.as_deref_mut() {
            l.damaged(frags);
        }
    }
    fn damage(&mut self, offset: u64) {
        if let Some(l) = self.layout.as_deref_mut() {
            l.damage(offset);
        }
    }
    fn damage_final(&mut self, index: usize, d: Damage) {
        self.closed.push((index, d));
        self.forward_closed();
    }
}

fn precheck_rocks_batch(payload: &[u8]) -> Precheck {
    rocks_batch::validate(payload)
        .map(|h| (h.sequence, h.count))
        .map_err(|e| e.to_string())
}

/// Every entry of a batch that decodes, up to the first that does not.
fn for_each_entry<'p>(
    rocks: Option<(&RocksCtx, u64)>,
    payload: &'p [u8],
    offset: u64,
    mut f: impl FnMut(&Entry<'p>),
) {
    match rocks {
        None => {
            let _ = batch::for_each(payload, |b| f(&Entry::of_batch(&b, offset)));
        }
        Some((ctx, wal)) => {
            let _ = rocks_batch::for_each(payload, |b| {
                f(&Entry {
                    seq: b.seq,
                    kind: rocks_kind(b.op),
                    key: b.key,
                    value: b.value,
                    offset,
                    expiry: None,
                    cf: Some(ctx.cf(b.cf, Some(wal))),
                })
            });
        }
    }
}

/// The entry kind of a RocksDB batch operation (a timed put is a put: its
/// write time only steers compaction).
pub fn rocks_kind(op: RocksOp) -> batch::Kind {
    use batch::Kind;
    match op {
        RocksOp::Put | RocksOp::TimedPut => Kind::Put,
        RocksOp::Delete => Kind::Delete,
        RocksOp::SingleDelete => Kind::SingleDelete,
        RocksOp::RangeDelete => Kind::RangeDelete,
        RocksOp::Merge => Kind::Merge,
        RocksOp::BlobIndex => Kind::BlobIndex,
        RocksOp::Entity => Kind::Entity,
    }
}

/// Scan one write-ahead log.
pub fn scan(
    src: &dyn Source,
    size: u64,
    sink: &mut dyn EntrySink,
    progress: &(dyn Fn(u64) + Sync),
) -> LogScan {
    scan_with_layout(src, size, sink, None, progress)
}

/// [`scan`], also telling `layout` which fragments every record and damaged
/// range was made of, and each damaged range as soon as it is final, with
/// its lost entries (see [`LayoutSink::damage_final`]).
pub fn scan_with_layout<'a>(
    src: &dyn Source,
    size: u64,
    sink: &'a mut dyn EntrySink,
    layout: Option<&'a mut dyn LayoutSink>,
    progress: &(dyn Fn(u64) + Sync),
) -> LogScan {
    scan_flavored(src, size, sink, layout, None, progress)
}

/// Scan one RocksDB write-ahead log, number `wal` of the store `ctx`
/// describes: its recyclable records and RocksDB's write batches, each
/// entry with its column family.
pub fn scan_rocks(
    src: &dyn Source,
    size: u64,
    sink: &mut dyn EntrySink,
    ctx: &RocksCtx,
    wal: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> LogScan {
    scan_flavored(src, size, sink, None, Some((ctx, wal)), progress)
}

fn scan_flavored<'a>(
    src: &dyn Source,
    size: u64,
    sink: &'a mut dyn EntrySink,
    layout: Option<&'a mut dyn LayoutSink>,
    rocks: Option<(&'a RocksCtx, u64)>,
    progress: &(dyn Fn(u64) + Sync),
) -> LogScan {
    let mut bs = BatchSink::new(sink, layout, rocks);
    let flavor = match rocks {
        None => LogFlavor::LevelDb,
        Some((_, wal)) => LogFlavor::rocksdb(wal),
    };
    let mut outcome = logfile::scan_with(src, size, flavor, &mut bs, progress);
    if !bs.damage_since.is_empty() {
        bs.lost.push((
            LostSeqs {
                first: bs.prev_end.map(|p| p + 1),
                last: None,
            },
            std::mem::take(&mut bs.damage_since),
        ));
    }
    for (l, d) in &bs.lost {
        if let ([i], Some(f), Some(t)) = (d.as_slice(), l.first, l.last) {
            if let Some(dm) = outcome.damage.get_mut(*i) {
                dm.lost_entries = Some(t - f + 1);
            }
        }
    }
    let lost_reasons: Vec<String> = bs
        .lost
        .iter()
        .map(|(_, d)| {
            d.first()
                .and_then(|&i| outcome.damage.get(i))
                .map_or_else(|| "sequence gap".to_string(), |d| d.reason.clone())
        })
        .collect();
    LogScan {
        outcome,
        entries: bs.entries,
        unverified: bs.unverified,
        lost_reasons,
        lost: bs.lost.into_iter().map(|(l, _)| l).collect(),
        seqs: bs.seqs,
    }
}

/// Scan a log held in memory (tests, small files).
pub fn scan_bytes(data: &[u8], sink: &mut dyn EntrySink) -> LogScan {
    scan(&logfile::Mem(data), data.len() as u64, sink, &|_| {})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::batch::BatchBuilder;
    use crate::format::log::{encode_fragment, RecordType, BLOCK_SIZE, HEADER_SIZE};
    use crate::scan::{Collect, CountOnly, Discard};

    /// What the layout heard, in order: `i` for intact, `d` for final damage.
    #[derive(Default)]
    struct Heard(Vec<(char, u64, Option<u64>)>);

    impl LayoutSink for Heard {
        fn intact(&mut self, frags: &[logfile::Fragment], _payload: &[u8]) {
            self.0.push(('i', frags[0].offset, None));
        }
        fn damaged(&mut self, _frags: &[logfile::Fragment]) {}
        fn damage_final(&mut self, _index: usize, d: Damage) {
            self.0.push(('d', d.offset, d.lost_entries));
        }
    }

    /// A scan of `f` whose layout is observed, and what the layout heard.
    fn observed(f: &[u8]) -> (LogScan, Heard) {
        let mut heard = Heard::default();
        let ls = scan_with_layout(
            &logfile::Mem(f),
            f.len() as u64,
            &mut Discard,
            Some(&mut heard),
            &|_| {},
        );
        (ls, heard)
    }

    fn batch(seq: u64, count: u64) -> Vec<u8> {
        let mut b = BatchBuilder::new(seq);
        for i in 0..count {
            b.put(format!("k{i}").as_bytes(), b"v");
        }
        b.build()
    }

    #[test]
    fn final_damage_waits_for_its_lost_entries() {
        let mut f = Vec::new();
        encode_fragment(&mut f, RecordType::Full, &batch(1, 1));
        let hit = f.len();
        encode_fragment(&mut f, RecordType::Full, &batch(2, 3));
        let empty = f.len();
        // A batch of no entries does not tell where the loss ends.
        encode_fragment(&mut f, RecordType::Full, &batch(9, 0));
        let after = f.len();
        encode_fragment(&mut f, RecordType::Full, &batch(5, 1));
        f[hit + 10] ^= 1;
        let (ls, heard) = observed(&f);
        let d = &ls.outcome.damage;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].lost_entries, Some(3));
        // Final once the empty batch follows it, but passed on only when the
        // next batch tells how many entries were lost; the layout orders
        // rows itself while a range it was told of is open.
        assert_eq!(
            heard.0,
            vec![
                ('i', 0, None),
                ('i', empty as u64, None),
                ('d', hit as u64, Some(3)),
                ('i', after as u64, None),
            ]
        );
    }

    /// What a test log holds next.
    enum Put {
        Record(Vec<u8>),
        /// A FIRST fragment to the end of its block, its record never
        /// finished: the next block starts a new record.
        Unfinished,
        /// Zeros to the end of the block, records after them.
        Zeros,
    }

    /// Records laid into blocks as a LevelDB writer lays them: fragments
    /// across block ends, a block's last few bytes zero when no header fits.
    fn log_of(puts: &[Put]) -> Vec<u8> {
        let mut f = Vec::new();
        for p in puts {
            let left = BLOCK_SIZE - f.len() % BLOCK_SIZE;
            let r = match p {
                Put::Record(r) => r,
                Put::Unfinished if left > HEADER_SIZE => {
                    encode_fragment(&mut f, RecordType::First, &vec![7; left - HEADER_SIZE]);
                    continue;
                }
                Put::Unfinished | Put::Zeros => {
                    f.resize(f.len() + left, 0);
                    continue;
                }
            };
            let mut rest = r.as_slice();
            let mut first = true;
            loop {
                let left = BLOCK_SIZE - f.len() % BLOCK_SIZE;
                if left < HEADER_SIZE {
                    f.resize(f.len() + left, 0);
                    continue;
                }
                let n = rest.len().min(left - HEADER_SIZE);
                let last = n == rest.len();
                let t = match (first, last) {
                    (true, true) => RecordType::Full,
                    (true, false) => RecordType::First,
                    (false, true) => RecordType::Last,
                    (false, false) => RecordType::Middle,
                };
                encode_fragment(&mut f, t, &rest[..n]);
                rest = &rest[n..];
                first = false;
                if last {
                    break;
                }
            }
        }
        f
    }

    /// What a scan tells of a log, but the entries themselves.
    fn told(ls: &LogScan) -> String {
        format!(
            "{:?} {:?} {} {} {:?} {:?} {:?}",
            ls.outcome.records,
            ls.outcome.damage,
            ls.entries,
            ls.unverified,
            ls.lost,
            ls.lost_reasons,
            ls.seqs
        )
    }

    /// `scan` takes the intact records between two pieces of anything else
    /// as one run per block; every other scan takes them one by one. Both
    /// must tell the same story of a log with every kind of damage and gap
    /// next to such runs, over more than one window of blocks.
    #[test]
    fn runs_of_records_tell_what_records_one_by_one_tell() {
        assert!(BatchSink::new(&mut Discard, None, None).takes_runs());
        assert!(BatchSink::new(&mut CountOnly::default(), None, None).takes_runs());
        assert!(!BatchSink::new(&mut Collect::default(), None, None).takes_runs());
        assert!(!BatchSink::new(&mut Discard, Some(&mut Heard::default()), None).takes_runs());

        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| crate::vocab::noise::next(&mut x) % n;
        let mut records = Vec::new();
        let mut seq = 1u64;
        let mut size = 0;
        while size < 5 << 20 {
            let count = next(4) + 1;
            let mut b = BatchBuilder::new(seq);
            for i in 0..count {
                let v = vec![b'v'; next(1500) as usize];
                b.put(format!("k{seq}.{i}").as_bytes(), &v);
            }
            let b = b.build();
            size += b.len();
            records.push(Put::Record(b));
            seq += count;
            match next(60) {
                // A gap: writes that never reached this log.
                0 => seq += 1 + next(5),
                // A batch of no entries.
                1 => records.push(Put::Record(batch(seq, 0))),
                // Checksummed bytes that are no batch.
                2 => records.push(Put::Record(b"not a write batch".to_vec())),
                3 => records.push(Put::Unfinished),
                4 => records.push(Put::Zeros),
                _ => {}
            }
        }
        let mut f = log_of(&records);
        // Garbled bytes at random places, a zeroed stretch, a torn end.
        for _ in 0..40 {
            let at = next(f.len() as u64) as usize;
            f[at] ^= 0x40;
        }
        let z = next(f.len() as u64 - 5000) as usize;
        f[z..z + 3000].fill(0);
        f.truncate(f.len() - 100);

        let by_runs = scan_bytes(&f, &mut Discard);
        assert!(by_runs.lost.len() > 10, "{:?}", by_runs.lost);
        assert!(by_runs.outcome.damage.len() > 10);
        let mut collect = Collect::default();
        let one_by_one = scan_bytes(&f, &mut collect);
        assert_eq!(told(&by_runs), told(&one_by_one));
        assert_eq!(by_runs.entries, collect.intact.len() as u64);
        assert_eq!(
            told(&scan_bytes(&f, &mut CountOnly::default())),
            told(&one_by_one)
        );
        assert_eq!(told(&by_runs), told(&observed(&f).0));
    }
}
