//! Scanning one table file: a verdict for every data block, intact entries
//! to the sink, and the byte ranges that were lost.
//!
//! Rules:
//! - **Index mode.** When the footer decodes and the index block verifies
//!   (checksum, block structure, internal-key separators in order, handle
//!   values), every data block it names is read and checked independently
//!   (checksum, decompression, block structure, every key an internal key,
//!   keys strictly ascending), in parallel, then reported in file order. A
//!   block that runs past the end of the file is *torn*; any other failure is
//!   *garbled*. Handles are sorted by offset and exact duplicates dropped; a
//!   handle overlapping an earlier block, the index, the metaindex or the
//!   footer is garbled without being read, so no index can make the work
//!   exceed one pass over the file. The metaindex and the filter blocks it
//!   names are checked too; their damage loses no entries.
//! - **Key ranges** of a damaged block run from the previous index
//!   separator's user key to its own separator's user key (inclusive). The
//!   lower end is exclusive only when the previous separator was shortened by
//!   LevelDB (it then carries sequence 2^56-1 and lies strictly between two
//!   user keys); an unshortened separator is the previous block's last key,
//!   and older versions of that same user key may open the damaged block.
//! - **Discovery mode.** Otherwise blocks are found by their trailers alone
//!   ([`crate::format::table::find_blocks`]); found index, metaindex and
//!   filter blocks are never exported. Every byte range no block covers is damage:
//!   * the footer is *present* when its magic is intact. Its 48 bytes are
//!     garbled damage if a handle does not decode, or the index handle does
//!     not end exactly where the footer begins, or the metaindex does not lie
//!     before the index (LevelDB always writes metaindex, index, footer in
//!     that order); an uncovered range that the index (or the metaindex, or a
//!     filter named by a found metaindex) fully accounts for is garbled damage
//!     that loses nothing;
//!   * the footer is *garbled* when at least 5 of the 8 magic bytes are in
//!     place: the 48 bytes are garbled damage;
//!   * otherwise the footer is *absent*: the file was cut, and the range from
//!     the end of the last block found to EOF is torn (length 0 if the cut fell
//!     between blocks). Ranges before it are garbled.
//!
//!   Uncovered ranges that are not known metadata count as one damaged data
//!   block each, with a key range from the last user key of the intact data
//!   block before to the first user key of the one after (both inclusive).
//! - An empty file is torn at offset 0, length 0. A non-empty file in which no
//!   block at all is found is one garbled range, "no table block found".
//! - Entries parsed from a damaged block whose contents still decompress (a
//!   checksum mismatch, or a checksummed block that breaks a rule) go to
//!   [`EntrySink::unverified`], never to `intact`.

mod discover;
mod index;
mod layout;
pub mod source;
#[cfg(test)]
mod tests;
mod verify;

use crate::format::batch::Kind;
use crate::format::block::Block;
use crate::format::compress;
use crate::format::ikey;
use crate::format::table::{
    check_data_block_with, find_blocks_with, footer_like, parse_metaindex, read_block_with,
    BlockHandle, DataBlockSummary, Footer, FoundKind, TableError, DEFAULT_WINDOW, FOOTER_SIZE,
    MAX_SEQUENCE,
};
use crate::report::{Class, Counts, Damage, KeyRange};
use crate::scan::{Entry, EntrySink};
use index::Index;
pub use layout::{TableUnit, UnitRole};
use std::borrow::Cow;
use std::cmp::Ordering;
use verify::merge;

/// What scanning a table found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableScan {
    /// Data blocks by class.
    pub blocks: Counts,
    /// Intact entries exported.
    pub entries: u64,
    /// Damaged byte ranges, sorted by offset, non-overlapping, adjacent ones
    /// merged.
    pub damage: Vec<Damage>,
    /// The footer and index were usable.
    pub footer: bool,
    /// Over intact entries.
    pub max_seq: Option<u64>,
    pub min_seq: Option<u64>,
    pub smallest_user_key: Option<Vec<u8>>,
    pub largest_user_key: Option<Vec<u8>>,
    /// The data blocks whose entries went to the sink as intact, in file
    /// order: a second reader can stream them again block by block.
    pub intact_blocks: Vec<BlockHandle>,
    /// Every intact data block is named by the index and holds only user
    /// keys between the separators around it, so the index can say which
    /// blocks to read for a range of keys (the latest view reads a table one
    /// key range at a time, side by side).
    pub index_bounds_blocks: bool,
    /// Every intact data block's keys follow the previous intact block's in
    /// internal-key order, and the scan checked the order inside each
    /// (`ordered`): the intact entries, in the order the sink saw them, are
    /// sorted. A reader that wants no entries learns this from the blocks'
    /// first and last keys alone.
    pub blocks_in_order: bool,
}

/// Limits for [`scan_table_with`].
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Largest decompressed block accepted.
    pub cap: usize,
    /// Largest block discovery looks for.
    pub window: usize,
    /// Keys must be in bytewise internal-key order (LevelDB's default
    /// comparator). False for a store with its own comparator: order is then
    /// not checked, the checksum and the structure still are.
    pub ordered: bool,
    /// How type bytes whose codec a block cannot tell are read (Basho's
    /// type 2 is LZ4): from the store's dialect.
    pub codecs: compress::Codecs,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            cap: compress::DEFAULT_CAP,
            window: DEFAULT_WINDOW,
            ordered: true,
            codecs: compress::Codecs::default(),
        }
    }
}

/// Scan a whole table file held in memory (or mapped).
pub fn scan_table(file: &[u8], sink: &mut dyn EntrySink) -> TableScan {
    scan_table_with(file, sink, &TableOptions::default())
}

pub fn scan_table_with(file: &[u8], sink: &mut dyn EntrySink, opts: &TableOptions) -> TableScan {
    let mut s = Scanner::new(file, opts, None);
    s.run(sink);
    s.out.damage = merge(std::mem::take(&mut s.out.damage));
    s.out
}

/// [`scan_table_with`], also returning every unit it classified in file
/// order: the blocks it read or found (with their roles, verdicts and what
/// they hold), the footer, and the damaged ranges of [`TableScan::damage`].
/// Blocks that meet a damaged range are listed too; the range is what the
/// report counts.
pub fn scan_table_layout(
    file: &[u8],
    sink: &mut dyn EntrySink,
    opts: &TableOptions,
) -> (TableScan, Vec<TableUnit>) {
    let mut s = Scanner::new(file, opts, Some(Vec::new()));
    s.run(sink);
    s.out.damage = merge(std::mem::take(&mut s.out.damage));
    let layout = s.finish_layout();
    (s.out, layout)
}

/// The entries of one data block a scan found intact, read again from the
/// table's bytes with the same checks: `inspect` lists a table one block at
/// a time instead of holding every entry of it.
pub fn block_entries(file: &[u8], h: BlockHandle, opts: &TableOptions, f: impl FnMut(&Entry<'_>)) {
    if let Ok(b) = crate::format::table::read_block_with(file, h, opts.cap, opts.codecs) {
        verify::emit(&b.data, h.offset, f);
    }
}

/// One data block to check, with what the index says about it.
struct Unit {
    handle: BlockHandle,
    /// Its position in the index, whose separators bound the keys it held.
    /// The key range is built from them only if the block is damaged.
    index_pos: Option<usize>,
    /// Known bad without reading it (an overlapping or looping handle).
    rejected: Option<String>,
}

enum Verdict<'a> {
    Intact {
        data: Cow<'a, [u8]>,
        summary: DataBlockSummary,
    },
    Damaged {
        class: Class,
        reason: String,
        /// Decompressed contents of a block that failed, to parse unverified
        /// entries from.
        salvage: Option<Cow<'a, [u8]>>,
    },
}

/// Filter blocks checked or trusted per table (LevelDB writes one).
const MAX_FILTERS: usize = 8;

/// Metadata whose damage loses no entries: (start, end, what it is).
type MetaRange = (u64, u64, String);

struct Scanner<'a> {
    file: &'a [u8],
    opts: TableOptions,
    out: TableScan,
    /// Discovery mode keeps each intact block's (offset, first user key,
    /// last user key) for the key ranges of the gaps between them.
    keep_keys: bool,
    block_keys: Vec<(u64, Vec<u8>, Vec<u8>)>,
    /// The verified index, in index mode.
    index: Index,
    /// The footer, when its magic and handles decode.
    footer: Option<Footer>,
    /// The units classified so far, when someone asked for the layout.
    layout: Option<Vec<TableUnit>>,
    /// The last internal key of the latest intact block with entries.
    last_intact_key: Option<Vec<u8>>,
}

fn user_key(ikey: &[u8]) -> Vec<u8> {
    ikey::parse(ikey)
        .map(|p| p.user_key)
        .unwrap_or(ikey)
        .to_vec()
}

fn meta_damage(offset: u64, end: u64, reason: String) -> Damage {
    let mut d = Damage::new(offset, end.saturating_sub(offset), Class::Garbled, reason);
    d.lost_entries = Some(0);
    d
}

impl<'a> Scanner<'a> {
    fn new(file: &'a [u8], opts: &TableOptions, layout: Option<Vec<TableUnit>>) -> Self {
        Scanner {
            file,
            opts: *opts,
            out: TableScan {
                blocks_in_order: opts.ordered,
                ..TableScan::default()
            },
            keep_keys: false,
            block_keys: Vec::new(),
            index: Index::default(),
            footer: None,
            layout,
            last_intact_key: None,
        }
    }

    fn len(&self) -> u64 {
        self.file.len() as u64
    }

    fn run(&mut self, sink: &mut dyn EntrySink) {
        if self.file.is_empty() {
            self.out.damage.push(Damage::new(
                0,
                0,
                Class::Torn,
                "empty file: no table was written",
            ));
            return;
        }
        let len = self.len();
        let footer_at = len.saturating_sub(FOOTER_SIZE as u64);
        match Footer::decode(self.file) {
            Ok(f) => {
                self.footer = Some(f);
                self.publish(TableUnit::footer(f, footer_at));
                if !f.padding_clean {
                    self.out.damage.push(meta_damage(
                        footer_at,
                        len,
                        "footer padding is not zero".into(),
                    ));
                }
                self.with_footer(&f, footer_at, sink);
            }
            Err(e @ TableError::BadHandle { .. }) => {
                self.out
                    .damage
                    .push(meta_damage(footer_at, len, format!("footer: {e}")));
                self.discover(footer_at as usize, false, Vec::new(), sink);
            }
            Err(e @ TableError::BadMagic { .. }) if footer_like(self.file) => {
                self.out
                    .damage
                    .push(meta_damage(footer_at, len, format!("footer: {e}")));
                self.discover(footer_at as usize, false, Vec::new(), sink);
            }
            Err(_) => self.discover(self.file.len(), true, Vec::new(), sink),
        }
    }
}
