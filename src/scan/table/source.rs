//! Reading a scanned table's intact blocks back from the file, one block at
//! a time: every intact block by the handles the scan recorded, or (for a
//! table whose index bounds its blocks) only the blocks that can hold a
//! user-key range, found through the index the scan verified. The index is
//! parsed by the scan's own [`parse_index`].
//!
//! A second read that no longer verifies what the first one did means the
//! file changed in between: that is an I/O error, never a silent skip.

use super::index::parse_index;
use crate::format::batch::Kind;
use crate::format::block::Block;
use crate::format::compress::Codecs;
use crate::format::table::{read_block_into_with, BlockHandle, Footer, FOOTER_SIZE, TRAILER_SIZE};
use crate::format::{compress, ikey};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

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

/// An intact block and the user keys it can hold (`first` open for the
/// first block).
#[derive(Debug, Clone)]
pub struct BlockSpan {
    pub handle: BlockHandle,
    pub first: Option<Vec<u8>>,
    pub last: Vec<u8>,
}

pub(crate) fn changed(name: &str, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{name}: {what} on the second read (did the file change?)"),
    )
}

/// Read the block at `h` from `file` and verify it again.
fn reread(file: &std::fs::File, name: &str, h: BlockHandle, codecs: Codecs) -> io::Result<Vec<u8>> {
    let mut contents = Vec::new();
    reread_into(
        file,
        name,
        h,
        &mut Window::default(),
        0,
        &mut contents,
        codecs,
    )?;
    Ok(contents)
}

/// Bytes of a table read once for several blocks: a merge reads every
/// block of its range again in file order, and a read per ~4 KiB block
/// cost more in system calls than in copying.
#[derive(Default)]
struct Window {
    buf: Vec<u8>,
    /// The file offset of `buf[0]`.
    at: u64,
}

/// How far ahead of the block it needs a table's read window reads, at most.
pub const WINDOW: u64 = 64 << 10;

/// What the windows of one merge may hold together: a merge of every table
/// of a store at once (a rebuild's) gives each a share of it.
pub const WINDOWS: u64 = 8 << 20;

/// The window for each of `tables` tables merged at once.
pub fn window_for(tables: usize) -> u64 {
    (WINDOWS / (tables.max(1) as u64)).min(WINDOW)
}

/// [`reread`] into `contents`, reused from block to block (a fresh buffer
/// per block cost an allocation and a zeroing of its bytes before the
/// decoder wrote them), through `win`: when the block is not in it, it is
/// refilled from the block up to `ahead` (the end of the blocks to be read
/// next, within the table's window: [`WINDOW`] or its share of
/// [`WINDOWS`]).
fn reread_into(
    file: &std::fs::File,
    name: &str,
    h: BlockHandle,
    win: &mut Window,
    ahead: u64,
    contents: &mut Vec<u8>,
    codecs: Codecs,
) -> io::Result<()> {
    // The handle was read from this file and verified on the first pass.
    let len = usize::try_from(h.size)
        .ok()
        .and_then(|n| n.checked_add(TRAILER_SIZE))
        .ok_or_else(|| changed(name, "block size"))?;
    let end = h
        .offset
        .checked_add(len as u64)
        .ok_or_else(|| changed(name, "block size"))?;
    let held = h.offset >= win.at && end <= win.at.saturating_add(win.buf.len() as u64);
    if !held {
        // The blocks after this one were verified inside the file too.
        let n =
            usize::try_from(ahead.max(end) - h.offset).map_err(|_| changed(name, "block size"))?;
        // Exactly: a window that grew by doubling would hold twice its
        // share.
        if win.buf.capacity() < n {
            win.buf.reserve_exact(n - win.buf.len());
        }
        win.buf.resize(n, 0);
        win.at = h.offset;
        if file.read_exact_at(&mut win.buf, h.offset).is_err() {
            win.buf.truncate(len);
            file.read_exact_at(&mut win.buf, h.offset)?;
        }
    }
    let from = usize::try_from(h.offset - win.at).map_err(|_| changed(name, "a block"))?;
    let buf = from
        .checked_add(len)
        .and_then(|e| win.buf.get(from..e))
        .ok_or_else(|| changed(name, "a block"))?;
    let local = BlockHandle {
        offset: 0,
        size: h.size,
    };
    let data = read_block_into_with(buf, local, compress::DEFAULT_CAP, contents, codecs)
        .map_err(|_| changed(name, "a block no longer verifies"))?;
    // An uncompressed block comes back as the bytes read, in `buf`.
    let (at, n) = (data.as_ptr() as usize, data.len());
    if at != contents.as_ptr() as usize || n != contents.len() {
        let from = at.wrapping_sub(buf.as_ptr() as usize);
        let bytes = from
            .checked_add(n)
            .and_then(|end| buf.get(from..end))
            .ok_or_else(|| changed(name, "a block"))?;
        contents.clear();
        contents.extend_from_slice(bytes);
    }
    Ok(())
}

/// Walk a table's index, read again from the file: `f` gets each entry's
/// separator as a user key and its block's handle, until it returns false.
/// A separator the parse did not keep (see [`parse_index`]) comes as `None`;
/// the scan found the blocks on both sides of it damaged, or it would not
/// have let the table be read by range.
fn walk_index(
    file: &std::fs::File,
    name: &str,
    len: u64,
    codecs: Codecs,
    mut f: impl FnMut(Option<&[u8]>, BlockHandle) -> bool,
) -> io::Result<()> {
    let at = len
        .checked_sub(FOOTER_SIZE as u64)
        .ok_or_else(|| changed(name, "no footer"))?;
    let mut footer = [0u8; FOOTER_SIZE];
    file.read_exact_at(&mut footer, at)?;
    let foot = Footer::decode(&footer).map_err(|_| changed(name, "the footer"))?;
    // The index lies before the footer, so the file bounds its size.
    if foot.index.end().is_none_or(|e| e > at) {
        return Err(changed(name, "the index handle"));
    }
    let contents =
        reread(file, name, foot.index, codecs).map_err(|_| changed(name, "the index"))?;
    // Order was checked on the first read, under the store's comparator.
    let index = parse_index(&contents, false).map_err(|_| changed(name, "the index"))?;
    for (i, &h) in index.handles.iter().enumerate() {
        if !f(index.separator(i).map(ikey::user_key), h) {
            break;
        }
    }
    Ok(())
}

/// Whether `h` is one of the scan's intact blocks (in file order).
fn is_intact(intact: &[BlockHandle], h: BlockHandle) -> bool {
    intact
        .binary_search_by_key(&h.offset, |b| b.offset)
        .is_ok_and(|i| intact.get(i) == Some(&h))
}

/// The intact data blocks of a table that can hold user keys in `range`,
/// each with the keys it can hold, from the table's index: block `i` holds
/// keys from separator `i-1`'s user key to separator `i`'s (both inclusive:
/// a user key's versions can straddle a block edge). Only for a table whose
/// first read found every intact block inside those bounds
/// ([`super::TableScan::index_bounds_blocks`]); `intact` is in file order.
pub fn blocks_in_range(
    file: &std::fs::File,
    name: &str,
    len: u64,
    intact: &[BlockHandle],
    range: &KeyRange,
    codecs: Codecs,
) -> io::Result<Vec<BlockSpan>> {
    let mut out = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    walk_index(file, name, len, codecs, |last, h| {
        let Some(last) = last else {
            prev = None;
            return true;
        };
        let meets = range.lo.as_deref().is_none_or(|lo| lo <= last)
            && range
                .hi
                .as_deref()
                .is_none_or(|hi| prev.as_deref().is_none_or(|first| first < hi));
        if meets && is_intact(intact, h) {
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

/// The intact data blocks of a table whose index bounds its blocks (see
/// [`blocks_in_range`]) for which `meets` holds, given the user keys each
/// can hold (first open for the first block; both inclusive). In file order.
pub fn blocks_meeting(
    path: &Path,
    name: &str,
    len: u64,
    intact: &[BlockHandle],
    codecs: Codecs,
    mut meets: impl FnMut(Option<&[u8]>, &[u8]) -> bool,
) -> io::Result<Vec<BlockHandle>> {
    let (file, _) = crate::scan::open::open_store_file(path)?;
    let mut out = Vec::new();
    let mut prev: Option<Vec<u8>> = None;
    walk_index(&file, name, len, codecs, |last, h| {
        let Some(last) = last else {
            prev = None;
            return true;
        };
        if is_intact(intact, h) && meets(prev.as_deref(), last) {
            out.push(h);
        }
        let p = prev.get_or_insert_with(Vec::new);
        p.clear();
        p.extend_from_slice(last);
        true
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
    intact: &[BlockHandle],
    step: u64,
    codecs: Codecs,
) -> io::Result<Vec<(Vec<u8>, u64)>> {
    let mut out = Vec::new();
    let mut bytes = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    walk_index(file, name, len, codecs, |last, h| {
        let Some(last) = last else { return true };
        if is_intact(intact, h) {
            bytes = bytes.saturating_add(h.size);
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

/// One entry of the loaded block: its user key in [`TableBlocks::key`]'s
/// buffer, its value in the block's contents.
#[derive(Debug, Clone)]
pub struct BlockEntry {
    key: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
    pub seq: u64,
    pub kind: Kind,
    pub expiry: Option<crate::format::ikey::Expiry>,
}

/// A table's intact data blocks read again one at a time, each block's
/// entries in a range decoded into reused buffers: nothing is allocated per
/// entry.
pub struct TableBlocks {
    file: std::fs::File,
    name: String,
    /// With the keys each block can hold when reading a range.
    blocks: std::vec::IntoIter<(BlockHandle, Option<BlockSpan>)>,
    /// The blocks as read, then one block's contents.
    win: Window,
    /// How far ahead `win` reads.
    window: u64,
    contents: Vec<u8>,
    /// User keys back to back.
    keys: Vec<u8>,
    entries: Vec<BlockEntry>,
    /// The loaded block's offset (every entry's provenance).
    offset: u64,
    /// Only user keys in this range are decoded.
    range: KeyRange,
    /// How the blocks were decoded on the first read (the store's codecs).
    codecs: Codecs,
}

impl TableBlocks {
    /// Every block in `blocks` (the scan's intact blocks), in order.
    pub fn open(
        path: &Path,
        name: &str,
        blocks: Vec<BlockHandle>,
        codecs: Codecs,
    ) -> io::Result<Self> {
        let blocks = blocks.into_iter().map(|h| (h, None)).collect();
        let (file, _) = crate::scan::open::open_store_file(path)?;
        Ok(Self::with(file, name, blocks, KeyRange::default(), codecs))
    }

    /// The keys in `range` of a table whose index bounds its blocks (see
    /// [`blocks_in_range`]): only the blocks that can hold them are read.
    pub fn open_range(
        path: &Path,
        name: &str,
        size: u64,
        intact: &[BlockHandle],
        range: KeyRange,
        codecs: Codecs,
    ) -> io::Result<Self> {
        let (file, _) = crate::scan::open::open_store_file(path)?;
        let spans = blocks_in_range(&file, name, size, intact, &range, codecs)?;
        let blocks = spans.into_iter().map(|s| (s.handle, Some(s))).collect();
        Ok(Self::with(file, name, blocks, range, codecs))
    }

    fn with(
        file: std::fs::File,
        name: &str,
        blocks: Vec<(BlockHandle, Option<BlockSpan>)>,
        range: KeyRange,
        codecs: Codecs,
    ) -> Self {
        TableBlocks {
            file,
            name: name.to_string(),
            blocks: blocks.into_iter(),
            win: Window::default(),
            window: WINDOW,
            contents: Vec::new(),
            keys: Vec::new(),
            entries: Vec::new(),
            offset: 0,
            range,
            codecs,
        }
    }

    /// Read ahead at most `window` bytes from a block (see [`window_for`]).
    pub fn with_window(mut self, window: u64) -> Self {
        self.window = window;
        self
    }

    /// Decode only the keys in `range` (every block is still read).
    pub fn restrict(mut self, range: KeyRange) -> Self {
        self.range = range;
        self
    }

    /// The loaded block's entries in range, in block order.
    pub fn entries(&self) -> &[BlockEntry] {
        &self.entries
    }

    pub fn key(&self, e: &BlockEntry) -> &[u8] {
        self.keys.get(e.key.clone()).unwrap_or_default()
    }

    /// Empty for deletes.
    pub fn value(&self, e: &BlockEntry) -> &[u8] {
        self.contents.get(e.value.clone()).unwrap_or_default()
    }

    /// The loaded block's offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Load the next block; false when there is none. A block may have no
    /// entries in range.
    pub fn next_block(&mut self) -> io::Result<bool> {
        let Some((h, span)) = self.blocks.next() else {
            self.entries.clear();
            return Ok(false);
        };
        // The blocks that follow in the file, to be read with this one.
        let mut ahead = h.end().unwrap_or(0);
        for (n, _) in self.blocks.as_slice() {
            match n.end() {
                Some(e)
                    if n.offset >= ahead
                        && e.checked_sub(h.offset).is_some_and(|d| d <= self.window) =>
                {
                    ahead = e
                }
                _ => break,
            }
        }
        reread_into(
            &self.file,
            &self.name,
            h,
            &mut self.win,
            ahead,
            &mut self.contents,
            self.codecs,
        )?;
        self.offset = h.offset;
        self.keys.clear();
        self.entries.clear();
        let name = self.name.as_str();
        let block = Block::new(&self.contents).map_err(|_| changed(name, "a block"))?;
        let base = self.contents.as_ptr() as usize;
        let mut it = block.iter();
        while let Some(r) = it.next() {
            let (k, v) = r.map_err(|_| changed(name, "an entry"))?;
            let Some(p) = ikey::parse(k) else { continue };
            if let Some(s) = &span {
                // The first read found every key inside its block's span;
                // a range reads only the blocks whose span meets it.
                let inside =
                    s.first.as_deref().is_none_or(|f| f <= p.user_key) && p.user_key <= &s.last[..];
                if !inside {
                    return Err(changed(name, "a key outside its block's index bounds"));
                }
            }
            if !self.range.contains(p.user_key) {
                continue;
            }
            let at = self.keys.len();
            self.keys.extend_from_slice(p.user_key);
            // `v` lies inside `contents`.
            let v0 = (v.as_ptr() as usize).saturating_sub(base);
            let value = if p.kind == Kind::Put {
                v0..v0.saturating_add(v.len())
            } else {
                v0..v0
            };
            self.entries.push(BlockEntry {
                key: at..self.keys.len(),
                value,
                seq: p.seq,
                kind: p.kind,
                expiry: p.expiry,
            });
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::table_writer::sample::sample;
    use crate::scan::table::scan_table;
    use crate::scan::{Collect, OwnedEntry};

    /// Every entry `blocks` yields, block after block.
    fn drain(mut blocks: TableBlocks) -> Vec<OwnedEntry> {
        let mut out = Vec::new();
        while blocks.next_block().unwrap() {
            for e in blocks.entries() {
                out.push(OwnedEntry {
                    seq: e.seq,
                    kind: e.kind,
                    key: blocks.key(e).to_vec(),
                    value: blocks.value(e).to_vec(),
                    offset: blocks.offset(),
                    expiry: e.expiry,
                    cf: None,
                });
            }
        }
        out
    }

    #[test]
    fn blocks_read_back_by_handle_and_by_range_match_the_scan() {
        let t = sample(compress::SNAPPY, 300);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000005.ldb");
        std::fs::write(&path, &t.bytes).unwrap();
        let mut c = Collect::default();
        let s = scan_table(&t.bytes, &mut c);
        assert!(s.index_bounds_blocks);
        assert!(s.intact_blocks.len() > 10);

        let all =
            TableBlocks::open(&path, "t", s.intact_blocks.clone(), Codecs::default()).unwrap();
        assert_eq!(drain(all), c.intact);

        let range = KeyRange {
            lo: Some(b"key000300".to_vec()),
            hi: Some(b"key000450".to_vec()),
        };
        let len = t.bytes.len() as u64;
        let spans = {
            let f = std::fs::File::open(&path).unwrap();
            blocks_in_range(&f, "t", len, &s.intact_blocks, &range, Codecs::default()).unwrap()
        };
        // Only the blocks that can hold the range are read.
        assert!(!spans.is_empty() && spans.len() < s.intact_blocks.len() / 2);
        let want: Vec<OwnedEntry> = c
            .intact
            .iter()
            .filter(|e| range.contains(&e.key))
            .cloned()
            .collect();
        assert_eq!(want.len(), 50);
        let ranged =
            TableBlocks::open_range(&path, "t", len, &s.intact_blocks, range, Codecs::default())
                .unwrap();
        assert_eq!(drain(ranged), want);

        // Marks every ~1 KiB of blocks cover every intact byte once.
        let f = std::fs::File::open(&path).unwrap();
        let marks = index_marks(&f, "t", len, &s.intact_blocks, 1024, Codecs::default()).unwrap();
        let total: u64 = s.intact_blocks.iter().map(|h| h.size).sum();
        assert_eq!(marks.iter().map(|m| m.1).sum::<u64>(), total);
        assert!(marks.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn blocks_read_through_windows_match_the_scan_with_gaps_and_a_cut_file() {
        // Large enough for many read windows; every block, then every
        // third (the skipped ones leave gaps a window reads over or
        // stops at), then the file cut short after the scan.
        let t = sample(compress::SNAPPY, 20_000);
        assert!(t.bytes.len() as u64 > 4 * WINDOW);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000005.ldb");
        std::fs::write(&path, &t.bytes).unwrap();
        let mut c = Collect::default();
        let s = scan_table(&t.bytes, &mut c);
        let every_third: Vec<BlockHandle> = s.intact_blocks.iter().copied().step_by(3).collect();
        for blocks in [s.intact_blocks.clone(), every_third] {
            let want: Vec<OwnedEntry> = c
                .intact
                .iter()
                .filter(|e| blocks.iter().any(|h| h.offset == e.offset))
                .cloned()
                .collect();
            let got = drain(TableBlocks::open(&path, "t", blocks, Codecs::default()).unwrap());
            assert_eq!(got, want);
        }
        // A merge of many tables gives each a share: a smaller window
        // reads the same, and holds no more than its share and a block.
        assert_eq!(window_for(0), WINDOW);
        assert_eq!(window_for(640), WINDOWS / 640);
        let mut small = TableBlocks::open(&path, "t", s.intact_blocks.clone(), Codecs::default())
            .unwrap()
            .with_window(window_for(640));
        let mut n = 0;
        while small.next_block().unwrap() {
            n += small.entries().len();
            let largest = s.intact_blocks.iter().map(|h| h.size).max().unwrap() + 5;
            assert!(small.win.buf.capacity() as u64 <= window_for(640) + largest);
        }
        assert_eq!(n, c.intact.len());
        // Cut inside the last window: the blocks before the cut still
        // read (a window that runs past the end falls back to the block
        // alone), the first one past it is an error.
        let last = *s.intact_blocks.last().unwrap();
        let cut = last.offset - 10;
        std::fs::write(&path, &t.bytes[..cut as usize]).unwrap();
        let mut blocks =
            TableBlocks::open(&path, "t", s.intact_blocks.clone(), Codecs::default()).unwrap();
        let mut read = 0;
        let err = loop {
            match blocks.next_block() {
                Ok(true) => read += 1,
                Ok(false) => panic!("read past the cut"),
                Err(e) => break e,
            }
        };
        let before = s
            .intact_blocks
            .iter()
            .filter(|h| h.end().unwrap() <= cut)
            .count();
        assert_eq!(read, before);
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_changed_file_is_an_error_not_a_skip() {
        let t = sample(compress::NONE, 100);
        let mut c = Collect::default();
        let s = scan_table(&t.bytes, &mut c);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000005.ldb");
        let mut changed = t.bytes.clone();
        let h = s.intact_blocks[2];
        changed[h.offset as usize + 1] ^= 0x20;
        std::fs::write(&path, &changed).unwrap();
        let mut blocks =
            TableBlocks::open(&path, "t", s.intact_blocks.clone(), Codecs::default()).unwrap();
        assert!(blocks.next_block().unwrap());
        assert!(blocks.next_block().unwrap());
        let e = blocks.next_block().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("did the file change?"), "{e}");
    }
}
