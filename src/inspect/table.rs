//! Rows of tables: [`crate::scan::table::scan_table`] gives the classes,
//! damage and entries by block offset; the layout (every block with a valid
//! trailer, its size, compression and role) comes from
//! [`crate::format::table::find_blocks`] and the footer from
//! [`Footer::decode`]. Blocks inside a damaged range are shown as that range.

use super::{
    base_json, damage_json, damage_text, ikey_text, plural, unverified_lines, ByOffset, EntryInfo,
    InspectKind, Listing, Row,
};
use crate::format::compress;
use crate::format::table::{
    check_data_block, find_blocks, parse_metaindex, read_block, BlockHandle, Footer, FoundKind,
    DEFAULT_WINDOW, FOOTER_SIZE,
};
use crate::report::summary::{show_key, show_key_range};
use crate::report::Damage;
use crate::scan;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Whether `[start, end)` meets a damaged range.
fn in_damage(damage: &[Damage], start: u64, end: u64) -> bool {
    damage
        .iter()
        .any(|d| d.offset < end.max(start + 1) && start < d.end().max(d.offset + 1))
}

fn compression_name(file: &[u8], h: BlockHandle, t: u8) -> String {
    match t {
        compress::NONE => "none".into(),
        compress::SNAPPY => "snappy".into(),
        compress::ZSTD_OR_ZLIB => {
            let start = h.offset as usize;
            match file.get(start..start + 4) {
                Some([0x28, 0xb5, 0x2f, 0xfd]) => "zstd".into(),
                _ => "zlib".into(),
            }
        }
        compress::RAW_DEFLATE => "raw-deflate".into(),
        t => format!("unknown-{t}"),
    }
}

pub(super) fn table_listing(name: &str, file: &[u8], size: u64) -> Listing {
    let mut entries = ByOffset::default();
    let t = scan::table::scan_table(file, &mut entries);
    let footer = Footer::decode(file).ok();
    let found = if file.is_empty() {
        Vec::new()
    } else {
        find_blocks(file, 0, DEFAULT_WINDOW)
    };
    let damage = &t.damage;
    let mut rows = Vec::new();
    let mut covered: Vec<(u64, u64)> = damage.iter().map(|d| (d.offset, d.end())).collect();
    for b in &found {
        let (start, end) = (b.start() as u64, b.end() as u64);
        if in_damage(damage, start, end) {
            continue;
        }
        covered.push((start, end));
        let role = match (b.kind, footer) {
            (_, Some(f)) if f.index.offset == start => "index",
            (_, Some(f)) if f.metaindex.offset == start => "metaindex",
            (FoundKind::Data, _) => "data",
            (FoundKind::Index, _) => "index",
            (FoundKind::Meta, _) => "metaindex",
            (FoundKind::Filter, _) => "filter",
        };
        let comp = compression_name(file, b.handle, b.compression);
        let mut m = base_json(name, "block", start, end - start);
        m.insert("block".into(), role.into());
        m.insert("size".into(), b.handle.size.into());
        m.insert("compression".into(), comp.clone().into());
        m.insert("class".into(), "intact".into());
        let mut count = String::from("-");
        let mut keys = String::new();
        match role {
            "data" => {
                let e: Vec<&EntryInfo> = entries
                    .intact
                    .get(&start)
                    .map(|v| v.iter().collect())
                    .unwrap_or_default();
                count = e.len().to_string();
                if let (Some(a), Some(z)) = (e.first(), e.last()) {
                    keys = format!("{} .. {}", show_key(&a.key), show_key(&z.key));
                }
                m.insert("count".into(), e.len().into());
                m.insert(
                    "entries".into(),
                    Value::Array(e.iter().map(|x| x.json()).collect()),
                );
            }
            "index" => {
                if let Ok(c) = read_block(file, b.handle, compress::DEFAULT_CAP) {
                    if let Ok(s) = check_data_block(&c.data) {
                        count = s.entries.to_string();
                        m.insert("count".into(), s.entries.into());
                        keys = format!(
                            "separators {} .. {}",
                            ikey_text(&s.first_key),
                            ikey_text(&s.last_key)
                        );
                    }
                }
            }
            "metaindex" => {
                if let Ok(c) = read_block(file, b.handle, compress::DEFAULT_CAP) {
                    if let Ok(names) = parse_metaindex(&c.data) {
                        count = names.len().to_string();
                        m.insert("count".into(), names.len().into());
                        keys = names
                            .iter()
                            .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
                            .collect::<Vec<_>>()
                            .join(", ");
                        m.insert(
                            "names".into(),
                            Value::Array(
                                names
                                    .iter()
                                    .map(|(n, _)| {
                                        Value::String(String::from_utf8_lossy(n).into_owned())
                                    })
                                    .collect(),
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
        rows.push(Row {
            offset: start,
            length: end - start,
            class: None,
            cells: vec![
                start.to_string(),
                (end - start).to_string(),
                role.into(),
                comp,
                String::new(),
                count,
                keys,
            ],
            json: m,
            more: Vec::new(),
        });
    }
    if let Some(f) = footer {
        let at = size.saturating_sub(FOOTER_SIZE as u64);
        if !in_damage(damage, at, size) {
            covered.push((at, size));
            let mut m = base_json(name, "footer", at, FOOTER_SIZE as u64);
            m.insert("class".into(), "intact".into());
            for (k, h) in [("metaindex", f.metaindex), ("index", f.index)] {
                let mut o = Map::new();
                o.insert("offset".into(), h.offset.into());
                o.insert("size".into(), h.size.into());
                m.insert(k.into(), Value::Object(o));
            }
            rows.push(Row {
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
            });
        }
    }
    for d in damage {
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
        rows.push(Row {
            offset: d.offset,
            length: d.length,
            class: Some(d.class),
            cells: vec![
                d.offset.to_string(),
                d.length.to_string(),
                "-".into(),
                "-".into(),
                String::new(),
                "-".into(),
                text,
            ],
            json: m,
            more: unverified_lines(&u),
        });
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
    Listing {
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
    }
}
