//! Rows of tables, laid out from what the table scan publishes
//! ([`crate::scan::table::scan_table_layout`]): every block it read through
//! the footer and index or found by its trailer (role, compression, what it
//! holds), the footer, and the damaged ranges. Entries come through the
//! entry sink, grouped by the offset of their block. Blocks that meet a
//! damaged range are shown as that range.

use super::{
    base_json, damage_json, damage_text, ikey_text, plural, unverified_lines, ByOffset, EntryInfo,
    InspectKind, Listing, Row,
};
use crate::format::compress;
use crate::format::table::{BlockHandle, FOOTER_SIZE, TRAILER_SIZE};
use crate::report::summary::{show_key, show_key_range};
use crate::report::Damage;
use crate::scan::table::{self as stable, TableOptions, TableUnit, UnitRole};
use crate::scan::{Entry, EntrySink};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Whether `[start, end)` meets a damaged range.
fn in_damage(damage: &[Damage], start: u64, end: u64) -> bool {
    damage
        .iter()
        .any(|d| d.offset < end.max(start + 1) && start < d.end().max(d.offset + 1))
}

fn compression_name(file: &[u8], offset: u64, t: u8) -> String {
    match t {
        compress::NONE => "none".into(),
        compress::SNAPPY => "snappy".into(),
        compress::ZSTD_OR_ZLIB => {
            let start = offset as usize;
            match file.get(start..start + 4) {
                Some([0x28, 0xb5, 0x2f, 0xfd]) => "zstd".into(),
                Some([c, f, ..]) if c & 0x0f == 8 && u16::from_be_bytes([*c, *f]) % 31 == 0 => {
                    "zlib".into()
                }
                // No stream header: Basho's length-prefixed LZ4 (a block of
                // another store without one is damaged: codec undecided).
                _ => "lz4".into(),
            }
        }
        compress::RAW_DEFLATE => "raw-deflate".into(),
        compress::MCPE_ZSTD => "zstd".into(),
        t => format!("unknown-{t}"),
    }
}

/// The entries of an intact data block, read again through the table
/// reader just before its row is written: its count, first and last keys,
/// and the entries themselves in the JSON row.
pub(super) fn fill_data_row(r: &mut Row, file: &[u8], opts: &TableOptions) {
    let h = BlockHandle {
        offset: r.offset,
        size: r.length.saturating_sub(TRAILER_SIZE as u64),
    };
    let mut e: Vec<EntryInfo> = Vec::new();
    stable::block_entries(file, h, opts, |x| e.push(EntryInfo::of(x)));
    if let Some(c) = r.cells.get_mut(5) {
        *c = e.len().to_string();
    }
    if let (Some(a), Some(z), Some(c)) = (e.first(), e.last(), r.cells.get_mut(6)) {
        *c = format!("{} .. {}", show_key(&a.key), show_key(&z.key));
    }
    r.json.insert("count".into(), e.len().into());
    r.json.insert(
        "entries".into(),
        Value::Array(e.iter().map(|x| x.json()).collect()),
    );
}

/// The row of an intact block.
fn block_row(name: &str, file: &[u8], u: &TableUnit) -> Row {
    let (start, len) = (u.offset, u.length);
    let role = u.role.as_str();
    let comp = compression_name(file, start, u.compression.unwrap_or(compress::NONE));
    let mut m = base_json(name, "block", start, len);
    m.insert("block".into(), role.into());
    m.insert(
        "size".into(),
        len.saturating_sub(TRAILER_SIZE as u64).into(),
    );
    m.insert("compression".into(), comp.clone().into());
    m.insert("class".into(), "intact".into());
    let mut count = String::from("-");
    let mut keys = String::new();
    match u.role {
        // Filled in when the row is written (`fill_data_row`): one block's
        // entries at a time, never the whole table's.
        UnitRole::Data => {}
        UnitRole::Index => {
            if let Some(n) = u.entries {
                count = n.to_string();
                m.insert("count".into(), n.into());
                keys = format!(
                    "separators {} .. {}",
                    ikey_text(u.first_key.as_deref().unwrap_or_default()),
                    ikey_text(u.last_key.as_deref().unwrap_or_default())
                );
            }
        }
        UnitRole::Metaindex => {
            if let Some(n) = u.entries {
                let names: Vec<String> = u
                    .names
                    .iter()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect();
                count = n.to_string();
                m.insert("count".into(), n.into());
                keys = names.join(", ");
                m.insert(
                    "names".into(),
                    Value::Array(names.into_iter().map(Value::String).collect()),
                );
            }
        }
        _ => {}
    }
    Row {
        offset: start,
        length: len,
        class: None,
        cells: vec![
            start.to_string(),
            len.to_string(),
            role.into(),
            comp,
            String::new(),
            count,
            keys,
        ],
        json: m,
        more: Vec::new(),
    }
}

fn footer_row(name: &str, u: &TableUnit) -> Option<Row> {
    let f = u.footer?;
    let at = u.offset;
    let mut m = base_json(name, "footer", at, FOOTER_SIZE as u64);
    m.insert("class".into(), "intact".into());
    for (k, h) in [("metaindex", f.metaindex), ("index", f.index)] {
        let mut o = Map::new();
        o.insert("offset".into(), h.offset.into());
        o.insert("size".into(), h.size.into());
        m.insert(k.into(), Value::Object(o));
    }
    Some(Row {
        offset: at,
        length: FOOTER_SIZE as u64,
        class: None,
        cells: vec![
            at.to_string(),
            FOOTER_SIZE.to_string(),
            "footer".into(),
            "-".into(),
            String::new(),
            "-".into(),
            format!(
                "metaindex at {} ({} B), index at {} ({} B)",
                f.metaindex.offset, f.metaindex.size, f.index.offset, f.index.size
            ),
        ],
        json: m,
        more: Vec::new(),
    })
}

fn damage_row(name: &str, d: &Damage, entries: &ByOffset) -> Row {
    let u = entries.unverified_in(d.offset, d.end());
    let mut m = base_json(name, "damage", d.offset, d.length);
    damage_json(&mut m, d);
    m.insert(
        "unverified_entries".into(),
        Value::Array(u.iter().map(|x| x.json()).collect()),
    );
    let mut text = damage_text(d);
    if let Some(k) = &d.key_range {
        let _ = write!(text, "; {}", show_key_range(k));
    }
    Row::damaged(d, &["-", "-", "", "-"], text, m, unverified_lines(&u))
}

/// Keeps only the unverified entries: intact ones are read again a block at
/// a time when their rows are written.
struct UnverifiedOnly<'a>(&'a mut ByOffset);

impl EntrySink for UnverifiedOnly<'_> {
    fn intact(&mut self, _: &Entry<'_>) {}
    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        self.0.unverified(e, reason);
    }
}

/// The listing of a table, with the offsets of the intact data rows whose
/// entries [`fill_data_row`] adds as each is written.
pub(super) fn table_listing(
    name: &str,
    file: &[u8],
    size: u64,
    opts: &TableOptions,
) -> (Listing, std::collections::BTreeSet<u64>) {
    let mut entries = ByOffset::default();
    let mut fills = std::collections::BTreeSet::new();
    let (t, layout) = stable::scan_table_layout(file, &mut UnverifiedOnly(&mut entries), opts);
    let damage = &t.damage;
    let mut rows = Vec::new();
    let mut covered: Vec<(u64, u64)> = damage.iter().map(|d| (d.offset, d.end())).collect();
    for u in &layout {
        let end = u.offset.saturating_add(u.length);
        match (u.role, &u.range) {
            (UnitRole::Damaged, Some(d)) => rows.push(damage_row(name, d, &entries)),
            (UnitRole::Damaged, None) => {}
            _ if u.damage.is_some() || in_damage(damage, u.offset, end) => {}
            (UnitRole::Footer, _) => {
                if let Some(r) = footer_row(name, u) {
                    covered.push((u.offset, end));
                    rows.push(r);
                }
            }
            _ => {
                covered.push((u.offset, end));
                if u.role == UnitRole::Data {
                    fills.insert(u.offset);
                }
                rows.push(block_row(name, file, u));
            }
        }
    }
    // Bytes that nothing above accounts for (not damage by the scan's rules,
    // but not a block either): shown so that every byte is listed.
    covered.sort_unstable();
    let mut at = 0u64;
    let mut gaps = Vec::new();
    for (s, e) in covered {
        if s > at {
            gaps.push((at, s));
        }
        at = at.max(e);
    }
    if at < size {
        gaps.push((at, size));
    }
    for (s, e) in gaps {
        let mut m = base_json(name, "gap", s, e - s);
        m.insert("class".into(), Value::Null);
        rows.push(Row {
            offset: s,
            length: e - s,
            class: None,
            cells: vec![
                s.to_string(),
                (e - s).to_string(),
                "gap".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "bytes in no block the scan found (not counted as damage)".into(),
            ],
            json: m,
            more: Vec::new(),
        });
    }
    rows.sort_by_key(|r| (r.offset, r.class.is_some()));
    let mut notes = vec![format!(
        "{}: {} intact, {} torn, {} garbled; {} intact entries, {} unverified.",
        plural(
            t.blocks.intact + t.blocks.damaged(),
            "data block",
            "data blocks"
        ),
        t.blocks.intact,
        t.blocks.torn,
        t.blocks.garbled,
        t.entries,
        entries.unverified.values().map(Vec::len).sum::<usize>()
    )];
    if let (Some(a), Some(b)) = (t.min_seq, t.max_seq) {
        notes.push(format!("Intact entries hold sequence numbers {a} to {b}."));
    }
    notes.push(if t.footer {
        "Read through the footer and index.".to_string()
    } else {
        "Footer or index unusable: blocks were found by their checksums alone.".to_string()
    });
    let listing = Listing {
        name: name.to_string(),
        kind: InspectKind::Table,
        size,
        columns: vec![
            "offset",
            "length",
            "block",
            "compression",
            "class",
            "entries",
            "keys",
        ],
        rows,
        counts: t.blocks,
        damaged: !damage.is_empty(),
        notes,
    };
    (listing, fills)
}
