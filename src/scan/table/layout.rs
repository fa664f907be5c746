//! The layout a scan publishes when asked ([`super::scan_table_layout`]):
//! every unit it classified, so that `inspect` lays a table out from the
//! scan's own reading instead of parsing the file again. A scan that is not
//! asked keeps none of it.

use super::*;
use crate::format::table::Found;

/// What a unit of a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitRole {
    Data,
    Index,
    Metaindex,
    Filter,
    /// Another block a metaindex names (Basho's `stats.sst1` counters).
    Meta,
    Footer,
    /// A damaged range as the report gives it (adjacent damage merged).
    Damaged,
}

impl UnitRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitRole::Data => "data",
            UnitRole::Index => "index",
            UnitRole::Metaindex => "metaindex",
            UnitRole::Filter => "filter",
            UnitRole::Meta => "meta",
            UnitRole::Footer => "footer",
            UnitRole::Damaged => "damaged",
        }
    }
}

/// One unit of a table's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUnit {
    pub offset: u64,
    /// With the block's trailer.
    pub length: u64,
    pub role: UnitRole,
    /// Found by its trailer alone, not through the footer and index.
    pub discovered: bool,
    /// The trailer's compression type byte (blocks only).
    pub compression: Option<u8>,
    /// `None`: intact. A block's own verdict, or a damaged range's class.
    pub damage: Option<(Class, String)>,
    /// Entries of a data block, separators of an index, names of a
    /// metaindex; `None` when they did not decode, or for a block that
    /// looks like data where the scan expects none (its entries are not
    /// exported).
    pub entries: Option<u64>,
    /// Internal keys: a data block's first and last entry, an index's first
    /// and last separator.
    pub first_key: Option<Vec<u8>>,
    pub last_key: Option<Vec<u8>>,
    /// A metaindex's names.
    pub names: Vec<Vec<u8>>,
    /// The footer's handles (footer only).
    pub footer: Option<Footer>,
    /// The damaged range as reported (role `Damaged` only).
    pub range: Option<Damage>,
}

impl TableUnit {
    /// A block at `h`, its extent clipped to the file as its damage would
    /// be (a torn block's handle runs past the end).
    pub(super) fn block(h: BlockHandle, role: UnitRole, file: &[u8]) -> TableUnit {
        let len = file.len() as u64;
        let start = h.offset.min(len);
        let end = h.end().unwrap_or(u64::MAX).min(len).max(start);
        TableUnit {
            offset: start,
            length: end - start,
            role,
            discovered: false,
            compression: usize::try_from(h.offset.saturating_add(h.size))
                .ok()
                .and_then(|i| file.get(i).copied()),
            damage: None,
            entries: None,
            first_key: None,
            last_key: None,
            names: Vec::new(),
            footer: None,
            range: None,
        }
    }

    pub(super) fn footer(f: Footer, at: u64) -> TableUnit {
        TableUnit {
            offset: at,
            length: FOOTER_SIZE as u64,
            role: UnitRole::Footer,
            discovered: false,
            compression: None,
            damage: None,
            entries: None,
            first_key: None,
            last_key: None,
            names: Vec::new(),
            footer: Some(f),
            range: None,
        }
    }

    fn range(d: Damage) -> TableUnit {
        TableUnit {
            offset: d.offset,
            length: d.length,
            role: UnitRole::Damaged,
            discovered: false,
            compression: None,
            damage: Some((d.class, d.reason.clone())),
            entries: None,
            first_key: None,
            last_key: None,
            names: Vec::new(),
            footer: None,
            range: Some(d),
        }
    }
}

impl Scanner<'_> {
    pub(super) fn observed(&self) -> bool {
        self.layout.is_some()
    }

    pub(super) fn publish(&mut self, u: TableUnit) {
        if let Some(l) = &mut self.layout {
            l.push(u);
        }
    }

    /// A block found by its trailer that holds no entries to export: the
    /// footer's word for what it is, else what its contents look like.
    pub(super) fn publish_found(&mut self, f: &Found) {
        if !self.observed() {
            return;
        }
        let at = f.handle.offset;
        let role = match (f.kind, self.footer) {
            (_, Some(ft)) if ft.index.offset == at => UnitRole::Index,
            (_, Some(ft)) if ft.metaindex.offset == at => UnitRole::Metaindex,
            (FoundKind::Data, _) => UnitRole::Data,
            (FoundKind::Index, _) => UnitRole::Index,
            (FoundKind::Meta, _) => UnitRole::Metaindex,
            (FoundKind::Filter, _) => UnitRole::Filter,
        };
        let mut u = TableUnit::block(f.handle, role, self.file);
        u.discovered = true;
        match role {
            UnitRole::Index => {
                if let Some(s) =
                    read_block_with(self.file, f.handle, self.opts.cap, self.opts.codecs)
                        .ok()
                        .and_then(|c| check_data_block_with(&c.data, self.opts.ordered).ok())
                {
                    u.entries = Some(s.entries);
                    u.first_key = Some(s.first_key);
                    u.last_key = Some(s.last_key);
                }
            }
            UnitRole::Metaindex => self.describe_metaindex(&mut u, f.handle),
            _ => {}
        }
        self.publish(u);
    }

    pub(super) fn describe_metaindex(&self, u: &mut TableUnit, h: BlockHandle) {
        if let Some(names) = read_block_with(self.file, h, self.opts.cap, self.opts.codecs)
            .ok()
            .and_then(|c| parse_metaindex(&c.data).ok())
        {
            u.entries = Some(names.len() as u64);
            u.names = names.into_iter().map(|(n, _)| n).collect();
        }
    }

    /// The layout in file order, with the merged damaged ranges among the
    /// blocks (a range after a block at the same offset).
    pub(super) fn finish_layout(&mut self) -> Vec<TableUnit> {
        let mut l = self.layout.take().unwrap_or_default();
        l.extend(self.out.damage.iter().cloned().map(TableUnit::range));
        l.sort_by_key(|u| (u.offset, u.role == UnitRole::Damaged));
        // A filter the metaindex names is also found in the bytes the index
        // leaves out: list it once.
        l.dedup_by(|b, a| {
            (a.offset, a.length) == (b.offset, b.length)
                && a.role != UnitRole::Damaged
                && b.role != UnitRole::Damaged
        });
        l
    }
}
