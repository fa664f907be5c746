//! The latest view without loading the store: every table is already sorted
//! by internal key (user key ascending, newest first), so the tables'
//! streams are merged with the (small) map of the logs' newest entries, and
//! each user key's newest entry falls out first. Memory: the logs' map plus
//! one block and a read window per table being merged (64 KiB, or a share
//! of 8 MiB when every table is merged at once).
//!
//! The merge can also run one user-key range at a time ([`KeyRange`],
//! [`TableSource::open_range`]): a table whose index bounds its blocks reads
//! only the blocks that can hold keys in the range, so ranges are merged
//! side by side (see `salvage::export`). Reading the tables again is the
//! table reader's job ([`crate::scan::table::source`]); this module only
//! merges.

use crate::format::batch::Kind;
use crate::format::order::{BytewiseOrder, Comparator, IdbOrder, KeyOrder};
use crate::format::table::BlockHandle;
use crate::scan::table::source::{KeyRange, TableBlocks};
use crate::vocab::cf::Cf;
use std::cmp::Ordering;
use std::io;

/// One entry on its way to the latest view, owned (the logs' entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: Vec<u8>,
    pub seq: u64,
    pub kind: Kind,
    pub value: Vec<u8>,
    /// Index of the input file it came from.
    pub file: u32,
    pub offset: u64,
    pub expiry: Option<crate::format::ikey::Expiry>,
    pub cf: Option<Cf>,
}

impl Item {
    pub fn as_ref(&self) -> ItemRef<'_> {
        ItemRef {
            key: &self.key,
            seq: self.seq,
            kind: self.kind,
            value: &self.value,
            file: self.file,
            offset: self.offset,
            expiry: self.expiry,
            cf: self.cf,
        }
    }
}

/// A source's current entry, borrowed from it: merging copies no key or
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRef<'a> {
    pub key: &'a [u8],
    pub seq: u64,
    pub kind: Kind,
    /// Empty for deletes.
    pub value: &'a [u8],
    pub file: u32,
    pub offset: u64,
    pub expiry: Option<crate::format::ikey::Expiry>,
    /// A RocksDB entry's column family: entries sort by its id first.
    pub cf: Option<Cf>,
}

impl<'a> ItemRef<'a> {
    /// The entry, for an export line.
    pub fn entry(&self) -> crate::scan::Entry<'a> {
        crate::scan::Entry {
            seq: self.seq,
            kind: self.kind,
            key: self.key,
            value: self.value,
            offset: self.offset,
            expiry: self.expiry,
            cf: self.cf,
        }
    }

    fn cf_id(&self) -> Option<u32> {
        self.cf.map(|c| c.id)
    }
}

/// The order of a sorted stream: column family (RocksDB), user key
/// ascending, then newest first.
pub fn order(a: &ItemRef<'_>, b: &ItemRef<'_>) -> Ordering {
    order_by(BytewiseOrder, a, b)
}

/// [`order`] under the store's user-key order.
#[inline]
fn order_by<O: KeyOrder>(o: O, a: &ItemRef<'_>, b: &ItemRef<'_>) -> Ordering {
    a.cf_id()
        .cmp(&b.cf_id())
        .then_with(|| o.compare(a.key, b.key))
        .then(b.seq.cmp(&a.seq))
}

/// A stream of entries in [`order`], read one at a time: [`advance`] to the
/// first and each next one, [`current`] to look at it.
///
/// [`advance`]: SortedSource::advance
/// [`current`]: SortedSource::current
pub trait SortedSource {
    fn current(&self) -> Option<ItemRef<'_>>;
    fn advance(&mut self) -> io::Result<()>;
    /// True for a source that only fills in keys no other source holds
    /// (an orphan table: not part of the store's state, see
    /// [`crate::vocab::FileState::Orphan`]).
    fn fill_in(&self) -> bool {
        false
    }
}

/// A source that only fills in keys the others lack.
struct FillIn<S>(S);

impl<S: SortedSource> SortedSource for FillIn<S> {
    fn current(&self) -> Option<ItemRef<'_>> {
        self.0.current()
    }
    fn advance(&mut self) -> io::Result<()> {
        self.0.advance()
    }
    fn fill_in(&self) -> bool {
        true
    }
}

/// `source`, boxed for [`merge`]; one that only fills in keys when
/// `fill_in` is set.
pub fn tiered<'a, S: SortedSource + 'a>(source: S, fill_in: bool) -> Box<dyn SortedSource + 'a> {
    if fill_in {
        Box::new(FillIn(source))
    } else {
        Box::new(source)
    }
}

/// Items from memory, already sorted.
pub struct VecSource {
    items: Vec<Item>,
    /// One past the current item (0 before the first `advance`).
    next: usize,
}

impl VecSource {
    pub fn new(items: Vec<Item>) -> Self {
        VecSource { items, next: 0 }
    }
}

impl SortedSource for VecSource {
    fn current(&self) -> Option<ItemRef<'_>> {
        self.next
            .checked_sub(1)
            .and_then(|i| self.items.get(i))
            .map(Item::as_ref)
    }
    fn advance(&mut self) -> io::Result<()> {
        self.next = (self.next + 1).min(self.items.len() + 1);
        Ok(())
    }
}

/// A binary min-heap of source indices, ordered by each source's current
/// entry; ties between sources (the same entry in two files) go to the
/// earlier source, so the output does not depend on heap internals. Each
/// source's current key, sequence and column family are copied into the
/// heap when it moves: the comparisons of a merge then read them directly
/// instead of asking each boxed source for its entry twice per comparison.
struct Heap {
    heap: Vec<usize>,
    /// The top's smaller child (1 or 2), while the children stay as they
    /// are.
    second: Option<usize>,
    keys: Vec<Vec<u8>>,
    seqs: Vec<u64>,
    cfs: Vec<Option<u32>>,
}

impl Heap {
    fn new<O: KeyOrder>(o: O, sources: &[Box<dyn SortedSource + '_>]) -> Self {
        let n = sources.len();
        let mut h = Heap {
            heap: Vec::with_capacity(n),
            second: None,
            keys: vec![Vec::new(); n],
            seqs: vec![0; n],
            cfs: vec![None; n],
        };
        for (i, s) in sources.iter().enumerate() {
            if let Some(it) = s.current() {
                h.note(i, &it);
                h.heap.push(i);
            }
        }
        for i in (0..h.heap.len() / 2).rev() {
            h.sift_down(o, i);
        }
        h
    }

    fn top(&self) -> Option<usize> {
        self.heap.first().copied()
    }

    /// Source `s`'s current entry is now `it`.
    fn note(&mut self, s: usize, it: &ItemRef<'_>) {
        self.keys[s].clear();
        self.keys[s].extend_from_slice(it.key);
        self.seqs[s] = it.seq;
        self.cfs[s] = it.cf_id();
    }

    /// The top's source moved on to `next` (noted), or has no entry left:
    /// restore the heap. The top's source usually holds the next entry too
    /// (a run of keys no other source interleaves), so its smaller child
    /// is remembered while the children stay as they are: one comparison
    /// per entry instead of two.
    fn settle_top<O: KeyOrder>(&mut self, o: O, exhausted: bool) {
        if exhausted {
            self.heap.swap_remove(0);
        }
        if exhausted || self.heap.len() < 2 {
            self.second = None;
            self.sift_down(o, 0);
            return;
        }
        let c = match self.second {
            Some(c) => c,
            None => {
                let c = if self.heap.len() > 2 && self.less(o, 2, 1) {
                    2
                } else {
                    1
                };
                *self.second.insert(c)
            }
        };
        if !self.less(o, 0, c) {
            self.second = None;
            self.heap.swap(0, c);
            self.sift_down(o, c);
        }
    }

    /// Whether the source at heap position `i` sorts before the one at `j`.
    fn less<O: KeyOrder>(&self, o: O, i: usize, j: usize) -> bool {
        let (a, b) = (self.heap[i], self.heap[j]);
        self.cfs[a]
            .cmp(&self.cfs[b])
            .then_with(|| o.compare(&self.keys[a], &self.keys[b]))
            .then(self.seqs[b].cmp(&self.seqs[a]))
            .then(a.cmp(&b))
            == Ordering::Less
    }

    fn sift_down<O: KeyOrder>(&mut self, o: O, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < self.heap.len() && self.less(o, l, m) {
                m = l;
            }
            if r < self.heap.len() && self.less(o, r, m) {
                m = r;
            }
            if m == i {
                return;
            }
            self.heap.swap(i, m);
            i = m;
        }
    }
}

/// Merge sorted sources and call `emit` with each user key's newest entry,
/// in key order; a newest entry that is a merge operand (RocksDB) is
/// followed by the key's older entries down to the first that is not one,
/// newest first: operands mean nothing without the value they apply to.
/// Entries of fill-in sources count only for a key no other
/// source holds at all (a delete holds its key too): then the newest of
/// theirs is emitted. A source that breaks its order is an error: the caller
/// checked the order on the first pass, so this means the file changed.
pub fn merge(
    sources: Vec<Box<dyn SortedSource + '_>>,
    emit: impl FnMut(ItemRef<'_>) -> io::Result<()>,
) -> io::Result<()> {
    merge_by(BytewiseOrder, sources, emit)
}

/// [`merge`] of sources sorted by the store's comparator (each order is its
/// own compiled merge: no indirect call per comparison).
pub fn merge_with(
    cmp: Comparator,
    sources: Vec<Box<dyn SortedSource + '_>>,
    emit: impl FnMut(ItemRef<'_>) -> io::Result<()>,
) -> io::Result<()> {
    match cmp {
        Comparator::Bytewise => merge_by(BytewiseOrder, sources, emit),
        Comparator::Idb => merge_by(IdbOrder, sources, emit),
    }
}

fn merge_by<O: KeyOrder>(
    o: O,
    mut sources: Vec<Box<dyn SortedSource + '_>>,
    mut emit: impl FnMut(ItemRef<'_>) -> io::Result<()>,
) -> io::Result<()> {
    for s in sources.iter_mut() {
        s.advance()?;
    }
    let mut heap = Heap::new(o, &sources);
    // The entry just taken: its key is the last one emitted (an older entry
    // of it is skipped), and the next entry of its source must not sort
    // before it.
    let mut last_key: Vec<u8> = Vec::new();
    let mut last_cf: Option<u32> = None;
    let mut any = false;
    // The current key's entries emitted so far were all merge operands:
    // the next older one is emitted too; the seq last emitted (the same
    // entry read from two files is emitted once).
    let mut chain = false;
    let mut chain_seq = 0u64;
    // The current key's newest fill-in entry, held until the key ends
    // without an entry of a source that is state; whether the current key
    // was emitted.
    let mut held: Option<Item> = None;
    let mut emitted = false;
    while let Some(top) = heap.top() {
        let it = sources[top]
            .current()
            .expect("sources in the heap have an entry");
        if !any || it.key != last_key.as_slice() || it.cf_id() != last_cf {
            if let Some(h) = held.take() {
                emit(h.as_ref())?;
            }
            last_key.clear();
            last_key.extend_from_slice(it.key);
            last_cf = it.cf_id();
            any = true;
            emitted = false;
            chain = false;
        }
        if emitted && chain && !sources[top].fill_in() && it.seq < chain_seq {
            chain = it.kind == Kind::Merge;
            chain_seq = it.seq;
            emit(it)?;
        }
        if !emitted {
            if !sources[top].fill_in() {
                held = None;
                emitted = true;
                chain = it.kind == Kind::Merge;
                chain_seq = it.seq;
                emit(it)?;
            } else if held.is_none() {
                held = Some(Item {
                    key: it.key.to_vec(),
                    seq: it.seq,
                    kind: it.kind,
                    value: it.value.to_vec(),
                    file: it.file,
                    offset: it.offset,
                    expiry: it.expiry,
                    cf: it.cf,
                });
            }
        }
        let last_seq = it.seq;
        let it_cf = it.cf;
        sources[top].advance()?;
        match sources[top].current() {
            Some(next) => {
                let taken = ItemRef {
                    key: &last_key,
                    seq: last_seq,
                    cf: it_cf,
                    ..next
                };
                if order_by(o, &next, &taken) == Ordering::Less {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a table's entries are no longer in order (did the file change?)",
                    ));
                }
                heap.note(top, &next);
                heap.settle_top(o, false);
            }
            None => heap.settle_top(o, true),
        }
    }
    if let Some(h) = held.take() {
        emit(h.as_ref())?;
    }
    Ok(())
}

/// A table's intact data blocks read again by the table reader
/// ([`TableBlocks`]), one block at a time, as a sorted source.
pub struct TableSource {
    blocks: TableBlocks,
    index: u32,
    /// One past the current entry of the loaded block.
    next: usize,
}

impl TableSource {
    /// Every block in `blocks` (the scan's intact blocks).
    pub fn open(
        path: &std::path::Path,
        name: &str,
        index: u32,
        blocks: Vec<BlockHandle>,
        codecs: crate::format::compress::Codecs,
    ) -> io::Result<Self> {
        Ok(Self::from(
            TableBlocks::open(path, name, blocks, codecs)?,
            index,
        ))
    }

    /// The keys in `range` of a table whose index bounds its blocks: only
    /// the blocks that can hold them are read
    /// ([`crate::scan::table::source::blocks_in_range`]).
    pub fn open_range(
        path: &std::path::Path,
        name: &str,
        index: u32,
        size: u64,
        intact: &[BlockHandle],
        range: KeyRange,
        codecs: crate::format::compress::Codecs,
    ) -> io::Result<Self> {
        let blocks = TableBlocks::open_range(path, name, size, intact, range, codecs)?;
        Ok(Self::from(blocks, index))
    }

    fn from(blocks: TableBlocks, index: u32) -> Self {
        TableSource {
            blocks,
            index,
            next: 0,
        }
    }

    /// Read ahead at most `window` bytes of the table at a time
    /// ([`crate::scan::table::source::window_for`]).
    pub fn with_window(self, window: u64) -> Self {
        TableSource {
            blocks: self.blocks.with_window(window),
            ..self
        }
    }

    /// Yield only the keys in `range` (every intact block is still read).
    pub fn restrict(self, range: KeyRange) -> Self {
        TableSource {
            blocks: self.blocks.restrict(range),
            ..self
        }
    }
}

/// A RocksDB table's intact entries, read again a block at a time: one
/// column family, in key order, newest first within a key.
pub struct RocksSource {
    blocks: crate::scan::rocks_table::RocksBlocks,
    index: u32,
    next: usize,
}

impl RocksSource {
    pub fn open(
        path: &std::path::Path,
        name: &str,
        index: u32,
        again: &crate::scan::rocks_table::Again,
    ) -> io::Result<Self> {
        Ok(RocksSource {
            blocks: crate::scan::rocks_table::RocksBlocks::open(path, name, again)?,
            index,
            next: 0,
        })
    }

    /// An entry the merge takes: a kind the export has (range deletions
    /// are gathered apart, as tombstones, by the scan).
    fn takes(e: &crate::format::rocks_table::walk::Entry) -> bool {
        crate::scan::rocks_table::RocksBlocks::kind(e.kind).is_some_and(|k| k != Kind::RangeDelete)
    }
}

impl SortedSource for RocksSource {
    fn current(&self) -> Option<ItemRef<'_>> {
        let e = self.blocks.entries().get(self.next.checked_sub(1)?)?;
        Some(ItemRef {
            key: &e.user_key,
            seq: e.seq,
            kind: crate::scan::rocks_table::RocksBlocks::kind(e.kind)?,
            value: &e.value,
            file: self.index,
            offset: self.blocks.offset(),
            expiry: None,
            cf: Some(self.blocks.cf()),
        })
    }

    fn advance(&mut self) -> io::Result<()> {
        loop {
            self.next += 1;
            match self.blocks.entries().get(self.next - 1) {
                Some(e) if Self::takes(e) => return Ok(()),
                Some(_) => continue,
                None => {
                    if !self.blocks.next_block()? {
                        return Ok(());
                    }
                    self.next = 0;
                }
            }
        }
    }
}

impl SortedSource for TableSource {
    fn current(&self) -> Option<ItemRef<'_>> {
        let e = self.blocks.entries().get(self.next.checked_sub(1)?)?;
        Some(ItemRef {
            key: self.blocks.key(e),
            seq: e.seq,
            kind: e.kind,
            value: self.blocks.value(e),
            file: self.index,
            offset: self.blocks.offset(),
            expiry: e.expiry,
            cf: None,
        })
    }

    fn advance(&mut self) -> io::Result<()> {
        self.next += 1;
        while self.next > self.blocks.entries().len() {
            if self.blocks.next_block()? {
                self.next = 1;
            } else {
                self.next = 1;
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(key: &str, seq: u64, file: u32) -> Item {
        Item {
            key: key.as_bytes().to_vec(),
            seq,
            kind: Kind::Put,
            value: format!("{key}@{seq}").into_bytes(),
            file,
            offset: 0,
            expiry: None,
            cf: None,
        }
    }

    fn src(mut v: Vec<Item>) -> Box<dyn SortedSource> {
        v.sort_by(|a, b| order(&a.as_ref(), &b.as_ref()));
        Box::new(VecSource::new(v))
    }

    fn merged(sources: Vec<Box<dyn SortedSource>>) -> Vec<(String, u64, u32)> {
        let mut got = Vec::new();
        merge(sources, |i| {
            got.push((String::from_utf8(i.key.to_vec()).unwrap(), i.seq, i.file));
            Ok(())
        })
        .unwrap();
        got
    }

    #[test]
    fn newest_per_key_in_key_order() {
        let a = src(vec![
            it("a", 1, 0),
            it("b", 5, 0),
            it("b", 2, 0),
            it("d", 1, 0),
        ]);
        let b = src(vec![it("a", 7, 1), it("c", 3, 1), it("d", 1, 1)]);
        let want = [("a", 7, 1), ("b", 5, 0), ("c", 3, 1), ("d", 1, 0)];
        assert_eq!(
            merged(vec![a, b]),
            want.iter()
                .map(|&(k, s, f)| (k.to_string(), s, f))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn many_sources_against_a_model() {
        // Up to 12 sources, some empty, keys from a small set so that keys
        // repeat within and across sources, equal (key, seq) pairs in
        // several sources: the earliest source wins a tie.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..300 {
            let n = rnd(12) as u32 + 1;
            let mut all = Vec::new();
            let mut sources = Vec::new();
            for f in 0..n {
                let mut v = Vec::new();
                for _ in 0..rnd(30) {
                    let key = format!("k{:02}", rnd(20));
                    v.push(it(&key, rnd(8), f));
                }
                // A source holds each (key, seq) once.
                v.sort_by(|a, b| order(&a.as_ref(), &b.as_ref()));
                v.dedup_by(|a, b| a.key == b.key && a.seq == b.seq);
                all.extend(v.iter().cloned());
                sources.push(src(v));
            }
            all.sort_by(|a, b| order(&a.as_ref(), &b.as_ref()).then(a.file.cmp(&b.file)));
            all.dedup_by(|a, b| a.key == b.key);
            let want: Vec<(String, u64, u32)> = all
                .iter()
                .map(|i| (String::from_utf8(i.key.clone()).unwrap(), i.seq, i.file))
                .collect();
            assert_eq!(merged(sources), want);
        }
    }

    #[test]
    fn merge_follows_the_store_comparator() {
        // Two IndexedDB data keys of store 1/1: numbers -1 and 1, whose
        // little-endian doubles sort the other way bytewise.
        let key = |n: f64| {
            let mut k = vec![0, 1, 1, 1, 3];
            k.extend(n.to_le_bytes());
            k
        };
        let item = |n: f64, seq: u64, file: u32| Item {
            key: key(n),
            seq,
            kind: Kind::Put,
            value: vec![],
            file,
            offset: 0,
            expiry: None,
            cf: None,
        };
        let a: Box<dyn SortedSource> =
            Box::new(VecSource::new(vec![item(-1.0, 1, 0), item(1.0, 1, 0)]));
        let b: Box<dyn SortedSource> = Box::new(VecSource::new(vec![item(-1.0, 5, 1)]));
        let mut got = Vec::new();
        merge_with(Comparator::Idb, vec![a, b], |i| {
            got.push((i.key.to_vec(), i.seq));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![(key(-1.0), 5), (key(1.0), 1)]);
        // The same source is out of order bytewise.
        let a: Box<dyn SortedSource> =
            Box::new(VecSource::new(vec![item(-1.0, 1, 0), item(1.0, 1, 0)]));
        assert!(merge(vec![a], |_| Ok(())).is_err());
    }

    #[test]
    fn merge_operands_come_with_what_they_apply_to() {
        let cf = |id| Some(Cf::id(id));
        let mk = |key: &str, seq, kind, file, c| Item {
            kind,
            cf: c,
            ..it(key, seq, file)
        };
        // Column family 1's "a": two operands over a put in another file
        // and an older put below it; family 0's "a" is another key.
        let a = src(vec![
            mk("a", 9, Kind::Merge, 0, cf(1)),
            mk("a", 3, Kind::Put, 0, cf(1)),
            mk("a", 4, Kind::Put, 0, cf(0)),
        ]);
        let b = src(vec![
            mk("a", 7, Kind::Merge, 1, cf(1)),
            mk("a", 5, Kind::Put, 1, cf(1)),
            mk("b", 2, Kind::Merge, 1, cf(1)),
        ]);
        let mut got = Vec::new();
        merge(vec![a, b], |i| {
            got.push((i.cf.map(|c| c.id), i.key.to_vec(), i.seq));
            Ok(())
        })
        .unwrap();
        let want: Vec<(Option<u32>, Vec<u8>, u64)> = vec![
            (Some(0), b"a".to_vec(), 4),
            (Some(1), b"a".to_vec(), 9),
            (Some(1), b"a".to_vec(), 7),
            (Some(1), b"a".to_vec(), 5),
            (Some(1), b"b".to_vec(), 2),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn out_of_order_source_is_an_error() {
        let bad: Box<dyn SortedSource> =
            Box::new(VecSource::new(vec![it("b", 1, 0), it("a", 1, 0)]));
        assert!(merge(vec![bad], |_| Ok(())).is_err());
        let older_first: Box<dyn SortedSource> =
            Box::new(VecSource::new(vec![it("a", 1, 0), it("a", 2, 0)]));
        assert!(merge(vec![older_first], |_| Ok(())).is_err());
    }
}
