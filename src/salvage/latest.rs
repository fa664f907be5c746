//! The latest view without loading the store: every table is already sorted
//! by internal key (user key ascending, newest first), so the tables'
//! streams are merged with the (small) map of the logs' newest entries, and
//! each user key's newest entry falls out first. Memory: the logs' map plus
//! one block per table being merged.
//!
//! The merge can also run one user-key range at a time ([`KeyRange`],
//! [`TableSource::open_range`]): a table whose index bounds its blocks reads
//! only the blocks that can hold keys in the range, so ranges are merged
//! side by side (see `salvage::export`).

use crate::format::batch::Kind;
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
        }
    }
}

/// The order of a sorted stream: user key ascending, then newest first.
pub fn order(a: &ItemRef<'_>, b: &ItemRef<'_>) -> Ordering {
    a.key.cmp(b.key).then(b.seq.cmp(&a.seq))
}

/// A stream of entries in [`order`], read one at a time: [`advance`] to the
/// first and each next one, [`current`] to look at it.
///
/// [`advance`]: SortedSource::advance
/// [`current`]: SortedSource::current
pub trait SortedSource {
    fn current(&self) -> Option<ItemRef<'_>>;
    fn advance(&mut self) -> io::Result<()>;
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
/// earlier source, so the output does not depend on heap internals.
struct Heap(Vec<usize>);

impl Heap {
    fn less(sources: &[Box<dyn SortedSource + '_>], a: usize, b: usize) -> bool {
        match (sources[a].current(), sources[b].current()) {
            (Some(x), Some(y)) => order(&x, &y).then(a.cmp(&b)) == Ordering::Less,
            // Only sources that have an entry are in the heap.
            _ => a < b,
        }
    }

    fn sift_down(&mut self, sources: &[Box<dyn SortedSource + '_>], mut i: usize) {
        let h = &mut self.0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < h.len() && Self::less(sources, h[l], h[m]) {
                m = l;
            }
            if r < h.len() && Self::less(sources, h[r], h[m]) {
                m = r;
            }
            if m == i {
                return;
            }
            h.swap(i, m);
            i = m;
        }
    }
}

/// Merge sorted sources and call `emit` with each user key's newest entry,
/// in key order. A source that breaks its order is an error: the caller
/// checked the order on the first pass, so this means the file changed.
pub fn merge(
    mut sources: Vec<Box<dyn SortedSource + '_>>,
    mut emit: impl FnMut(ItemRef<'_>) -> io::Result<()>,
) -> io::Result<()> {
    for s in sources.iter_mut() {
        s.advance()?;
    }
    let mut heap = Heap(
        (0..sources.len())
            .filter(|&i| sources[i].current().is_some())
            .collect(),
    );
    for i in (0..heap.0.len() / 2).rev() {
        heap.sift_down(&sources, i);
    }
    // The entry just taken: its key is the last one emitted (an older entry
    // of it is skipped), and the next entry of its source must not sort
    // before it.
    let mut last_key: Vec<u8> = Vec::new();
    let mut any = false;
    while let Some(&top) = heap.0.first() {
        let it = sources[top]
            .current()
            .expect("sources in the heap have an entry");
        if !any || it.key != last_key.as_slice() {
            last_key.clear();
            last_key.extend_from_slice(it.key);
            any = true;
            emit(it)?;
        }
        let last_seq = it.seq;
        sources[top].advance()?;
        match sources[top].current() {
            Some(next) => {
                let taken = ItemRef {
                    key: &last_key,
                    seq: last_seq,
                    ..next
                };
                if order(&next, &taken) == Ordering::Less {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a table's entries are no longer in order (did the file change?)",
                    ));
                }
            }
            None => {
                heap.0.swap_remove(0);
            }
        }
        heap.sift_down(&sources, 0);
    }
    Ok(())
}

/// A table's intact data blocks read again one at a time, for the merge.
pub struct TableSource {
    file: std::fs::File,
    name: String,
    /// With the keys each block can hold when reading a range.
    blocks: std::vec::IntoIter<(crate::format::table::BlockHandle, Option<BlockSpan>)>,
    index: u32,
    /// The block as read, then its contents.
    buf: Vec<u8>,
    contents: Vec<u8>,
    /// The loaded block's entries: user keys back to back in `keys`, values
    /// where they lie in `contents`. Reused from block to block, so the
    /// merge allocates nothing per entry.
    keys: Vec<u8>,
    entries: Vec<Loaded>,
    /// One past the current entry.
    next: usize,
    /// The loaded block's offset (every entry's provenance).
    offset: u64,
    /// Only user keys in this range are yielded.
    range: KeyRange,
}

struct Loaded {
    key: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
    seq: u64,
    kind: Kind,
}

/// User keys from `lo` (inclusive) to `hi` (exclusive); `None` is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub lo: Option<Vec<u8>>,
    pub hi: Option<Vec<u8>>,
}

impl KeyRange {
    pub fn contains(&self, k: &[u8]) -> bool {
        self.lo.as_deref().is_none_or(|lo| lo <= k) && self.hi.as_deref().is_none_or(|hi| k < hi)
    }
}

/// Walk a table's index, read again from the file: `f` gets each entry's
/// separator as a user key and its block's handle, until it returns false.
/// An index that no longer reads is a file that changed since the first
/// read verified it.
fn walk_index(
    file: &std::fs::File,
    name: &str,
    len: u64,
    mut f: impl FnMut(&[u8], crate::format::table::BlockHandle) -> bool,
) -> io::Result<()> {
    use crate::format::table::{read_block, BlockHandle, Footer, FOOTER_SIZE, TRAILER_SIZE};
    use crate::format::{block::Block, compress, ikey};
    use std::os::unix::fs::FileExt;
    let changed = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{name}: {what} on the second read (did the file change?)"),
        )
    };
    let at = len
        .checked_sub(FOOTER_SIZE as u64)
        .ok_or_else(|| changed("no footer"))?;
    let mut footer = [0u8; FOOTER_SIZE];
    file.read_exact_at(&mut footer, at)?;
    let foot = Footer::decode(&footer).map_err(|_| changed("the footer"))?;
    // The index lies before the footer, so the file bounds its size.
    let size = foot
        .index
        .end()
        .filter(|&e| e <= at)
        .and_then(|_| usize::try_from(foot.index.size).ok())
        .ok_or_else(|| changed("the index handle"))?;
    let mut buf = vec![0u8; size + TRAILER_SIZE];
    file.read_exact_at(&mut buf, foot.index.offset)?;
    let local = BlockHandle {
        offset: 0,
        size: foot.index.size,
    };
    let index = read_block(&buf, local, compress::DEFAULT_CAP).map_err(|_| changed("the index"))?;
    let block = Block::new(&index.data).map_err(|_| changed("the index"))?;
    let mut it = block.iter();
    while let Some(r) = it.next() {
        let (k, v) = r.map_err(|_| changed("the index"))?;
        let h = BlockHandle::decode_exact(v).ok_or_else(|| changed("the index"))?;
        if !f(ikey::user_key(k), h) {
            break;
        }
    }
    Ok(())
}

/// The intact data blocks of a table that can hold user keys in `range`,
/// each with the keys it can hold, from the table's index: block `i` holds
/// keys from separator `i-1`'s user key to separator `i`'s (both inclusive:
/// a user key's versions can straddle a block edge). Only for a table whose
/// first read found every intact block inside those bounds
/// ([`crate::scan::table::TableScan::index_bounds_blocks`]); `intact` is in
/// file order.
pub fn blocks_in_range(
    file: &std::fs::File,
    name: &str,
    len: u64,
    intact: &[crate::format::table::BlockHandle],
    range: &KeyRange,
) -> io::Result<Vec<BlockSpan>> {
    let mut out = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    walk_index(file, name, len, |last, h| {
        let meets = range.lo.as_deref().is_none_or(|lo| lo <= last)
            && range
                .hi
                .as_deref()
                .is_none_or(|hi| prev.as_deref().is_none_or(|first| first < hi));
        if meets
            && intact
                .binary_search_by_key(&h.offset, |b| b.offset)
                .is_ok_and(|i| intact[i] == h)
        {
            out.push(BlockSpan {
                handle: h,
                first: prev.clone(),
                last: last.to_vec(),
            });
        }
        let p = prev.get_or_insert_with(Vec::new);
        p.clear();
        p.extend_from_slice(last);
        // Later blocks start at or after this one's last key.
        range.hi.as_deref().is_none_or(|hi| last < hi)
    })?;
    Ok(out)
}

/// Marks along a table's keys for cutting the key space into ranges: a
/// separator's user key after about every `step` bytes of intact blocks,
/// each with the bytes of blocks since the mark before.
pub fn index_marks(
    file: &std::fs::File,
    name: &str,
    len: u64,
    intact: &[crate::format::table::BlockHandle],
    step: u64,
) -> io::Result<Vec<(Vec<u8>, u64)>> {
    let mut out = Vec::new();
    let mut bytes = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    walk_index(file, name, len, |last, h| {
        if intact
            .binary_search_by_key(&h.offset, |b| b.offset)
            .is_ok_and(|i| intact[i] == h)
        {
            bytes += h.size;
            if bytes >= step {
                out.push((last.to_vec(), bytes));
                bytes = 0;
            } else {
                tail.clear();
                tail.extend_from_slice(last);
            }
        }
        true
    })?;
    if bytes > 0 {
        out.push((tail, bytes));
    }
    Ok(out)
}

/// An intact block and the user keys it can hold (`first` open for the
/// first block).
#[derive(Debug, Clone)]
pub struct BlockSpan {
    pub handle: crate::format::table::BlockHandle,
    pub first: Option<Vec<u8>>,
    pub last: Vec<u8>,
}

impl TableSource {
    pub fn open(
        path: &std::path::Path,
        name: &str,
        index: u32,
        blocks: Vec<crate::format::table::BlockHandle>,
    ) -> io::Result<Self> {
        let blocks = blocks.into_iter().map(|h| (h, None)).collect();
        let (file, _) = crate::scan::open::open_store_file(path)?;
        Ok(Self::with(file, name, index, blocks, KeyRange::default()))
    }

    fn with(
        file: std::fs::File,
        name: &str,
        index: u32,
        blocks: Vec<(crate::format::table::BlockHandle, Option<BlockSpan>)>,
        range: KeyRange,
    ) -> Self {
        TableSource {
            file,
            name: name.to_string(),
            blocks: blocks.into_iter(),
            index,
            buf: Vec::new(),
            contents: Vec::new(),
            keys: Vec::new(),
            entries: Vec::new(),
            next: 0,
            offset: 0,
            range,
        }
    }

    /// Yield only the keys in `range` (every intact block is still read).
    pub fn restrict(mut self, range: KeyRange) -> Self {
        self.range = range;
        self
    }

    /// The keys in `range` of a table whose index bounds its blocks (see
    /// [`blocks_in_range`]): only the blocks that can hold them are read.
    pub fn open_range(
        path: &std::path::Path,
        name: &str,
        index: u32,
        size: u64,
        intact: &[crate::format::table::BlockHandle],
        range: KeyRange,
    ) -> io::Result<Self> {
        let (file, _) = crate::scan::open::open_store_file(path)?;
        let spans = blocks_in_range(&file, name, size, intact, &range)?;
        let blocks = spans.into_iter().map(|s| (s.handle, Some(s))).collect();
        Ok(Self::with(file, name, index, blocks, range))
    }

    fn changed(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: {what} on the second read (did the file change?)",
                self.name
            ),
        )
    }

    fn load(
        &mut self,
        h: crate::format::table::BlockHandle,
        span: Option<BlockSpan>,
    ) -> io::Result<()> {
        use crate::format::table::{read_block, BlockHandle, TRAILER_SIZE};
        use crate::format::{block::Block, compress, ikey};
        use std::os::unix::fs::FileExt;
        // The handle was read from this file and verified on the first pass.
        let len = usize::try_from(h.size)
            .ok()
            .and_then(|n| n.checked_add(TRAILER_SIZE))
            .ok_or_else(|| self.changed("block size"))?;
        self.buf.resize(len, 0);
        self.file.read_exact_at(&mut self.buf, h.offset)?;
        let local = BlockHandle {
            offset: 0,
            size: h.size,
        };
        let contents = read_block(&self.buf, local, compress::DEFAULT_CAP)
            .map_err(|_| self.changed("a block no longer verifies"))?
            .data
            .into_owned();
        self.contents = contents;
        self.offset = h.offset;
        self.keys.clear();
        self.entries.clear();
        let block = Block::new(&self.contents).map_err(|_| self.changed("a block"))?;
        let base = self.contents.as_ptr() as usize;
        let mut it = block.iter();
        while let Some(r) = it.next() {
            let (k, v) = r.map_err(|_| self.changed("an entry"))?;
            let Some(p) = ikey::parse(k) else { continue };
            if let Some(s) = &span {
                // The first read found every key inside its block's span;
                // a range reads only the blocks whose span meets it.
                let inside =
                    s.first.as_deref().is_none_or(|f| f <= p.user_key) && p.user_key <= &s.last[..];
                if !inside {
                    return Err(self.changed("a key outside its block's index bounds"));
                }
            }
            if !self.range.contains(p.user_key) {
                continue;
            }
            let at = self.keys.len();
            self.keys.extend_from_slice(p.user_key);
            // `v` lies inside `contents`.
            let v0 = v.as_ptr() as usize - base;
            let value = if p.kind == Kind::Put {
                v0..v0 + v.len()
            } else {
                v0..v0
            };
            self.entries.push(Loaded {
                key: at..self.keys.len(),
                value,
                seq: p.seq,
                kind: p.kind,
            });
        }
        Ok(())
    }
}

impl SortedSource for TableSource {
    fn current(&self) -> Option<ItemRef<'_>> {
        let e = self.entries.get(self.next.checked_sub(1)?)?;
        Some(ItemRef {
            key: &self.keys[e.key.clone()],
            seq: e.seq,
            kind: e.kind,
            value: &self.contents[e.value.clone()],
            file: self.index,
            offset: self.offset,
        })
    }

    fn advance(&mut self) -> io::Result<()> {
        self.next += 1;
        while self.next > self.entries.len() {
            match self.blocks.next() {
                Some((h, span)) => {
                    self.load(h, span)?;
                    self.next = 1;
                }
                None => {
                    self.next = self.entries.len() + 1;
                    break;
                }
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
    fn out_of_order_source_is_an_error() {
        let bad: Box<dyn SortedSource> =
            Box::new(VecSource::new(vec![it("b", 1, 0), it("a", 1, 0)]));
        assert!(merge(vec![bad], |_| Ok(())).is_err());
        let older_first: Box<dyn SortedSource> =
            Box::new(VecSource::new(vec![it("a", 1, 0), it("a", 2, 0)]));
        assert!(merge(vec![older_first], |_| Ok(())).is_err());
    }
}
