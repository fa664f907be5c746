//! The latest view without loading the store: every table is already sorted
//! by internal key (user key ascending, newest first), so the tables'
//! streams are merged with the (small) map of the logs' newest entries, and
//! each user key's newest entry falls out first. Memory: the logs' map plus
//! one block per table.

use crate::format::batch::Kind;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io;

/// One entry on its way to the latest view.
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

/// The order of a sorted stream: user key ascending, then newest first.
pub fn order(a: &Item, b: &Item) -> Ordering {
    a.key.cmp(&b.key).then(b.seq.cmp(&a.seq))
}

/// A stream of items in [`order`].
pub trait SortedSource {
    fn next_item(&mut self) -> io::Result<Option<Item>>;
}

/// Items from memory, already sorted.
pub struct VecSource(pub std::vec::IntoIter<Item>);

impl SortedSource for VecSource {
    fn next_item(&mut self) -> io::Result<Option<Item>> {
        Ok(self.0.next())
    }
}

struct Head {
    item: Item,
    source: usize,
}

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    fn cmp(&self, o: &Self) -> Ordering {
        // Ties between sources (the same entry in two files) go to the
        // earlier file, so the output does not depend on heap internals.
        order(&self.item, &o.item).then(self.source.cmp(&o.source))
    }
}

/// Merge sorted sources and call `emit` with each user key's newest item,
/// in key order. A source that breaks its order is an error: the caller
/// checked the order on the first pass, so this means the file changed.
pub fn merge(
    mut sources: Vec<Box<dyn SortedSource + '_>>,
    mut emit: impl FnMut(Item) -> io::Result<()>,
) -> io::Result<()> {
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(item) = s.next_item()? {
            heap.push(Reverse(Head { item, source: i }));
        }
    }
    let mut last_key: Option<Vec<u8>> = None;
    while let Some(Reverse(Head { item, source })) = heap.pop() {
        if let Some(next) = sources[source].next_item()? {
            if order(&next, &item) == Ordering::Less {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a table's entries are no longer in order (did the file change?)",
                ));
            }
            heap.push(Reverse(Head { item: next, source }));
        }
        if last_key.as_deref() == Some(&item.key[..]) {
            continue; // an older entry of a key already emitted
        }
        last_key = Some(item.key.clone());
        emit(item)?;
    }
    Ok(())
}

/// A table's intact data blocks read again one at a time, for the merge.
pub struct TableSource {
    file: std::fs::File,
    name: String,
    blocks: std::vec::IntoIter<crate::format::table::BlockHandle>,
    index: u32,
    buf: Vec<u8>,
    items: std::vec::IntoIter<Item>,
}

impl TableSource {
    pub fn open(
        path: &std::path::Path,
        name: &str,
        index: u32,
        blocks: Vec<crate::format::table::BlockHandle>,
    ) -> io::Result<Self> {
        Ok(TableSource {
            file: std::fs::File::open(path)?,
            name: name.to_string(),
            blocks: blocks.into_iter(),
            index,
            buf: Vec::new(),
            items: Vec::new().into_iter(),
        })
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

    fn load(&mut self, h: crate::format::table::BlockHandle) -> io::Result<()> {
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
            .map_err(|_| self.changed("a block no longer verifies"))?;
        let block = Block::new(&contents.data).map_err(|_| self.changed("a block"))?;
        let mut items = Vec::new();
        let mut it = block.iter();
        while let Some(r) = it.next() {
            let (k, v) = r.map_err(|_| self.changed("an entry"))?;
            let Some(p) = ikey::parse(k) else { continue };
            items.push(Item {
                key: p.user_key.to_vec(),
                seq: p.seq,
                kind: p.kind,
                value: if p.kind == Kind::Put {
                    v.to_vec()
                } else {
                    Vec::new()
                },
                file: self.index,
                offset: h.offset,
            });
        }
        self.items = items.into_iter();
        Ok(())
    }
}

impl SortedSource for TableSource {
    fn next_item(&mut self) -> io::Result<Option<Item>> {
        loop {
            if let Some(i) = self.items.next() {
                return Ok(Some(i));
            }
            match self.blocks.next() {
                Some(h) => self.load(h)?,
                None => return Ok(None),
            }
        }
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
        v.sort_by(order);
        Box::new(VecSource(v.into_iter()))
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
        let mut got = Vec::new();
        merge(vec![a, b], |i| {
            got.push((String::from_utf8(i.key).unwrap(), i.seq, i.file));
            Ok(())
        })
        .unwrap();
        let want = [("a", 7, 1), ("b", 5, 0), ("c", 3, 1), ("d", 1, 0)];
        assert_eq!(
            got,
            want.iter()
                .map(|&(k, s, f)| (k.to_string(), s, f))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn out_of_order_source_is_an_error() {
        let bad: Box<dyn SortedSource> =
            Box::new(VecSource(vec![it("b", 1, 0), it("a", 1, 0)].into_iter()));
        assert!(merge(vec![bad], |_| Ok(())).is_err());
    }
}
