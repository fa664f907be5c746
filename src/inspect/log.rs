//! Rows of logs and MANIFESTs, laid out from what the scan's stitcher
//! reports: each intact record's fragments and payload, the verified
//! fragments left in damaged ranges, and the damaged ranges themselves.
//!
//! - **Logs** run through [`crate::scan::log::scan_with_layout`] (classes,
//!   damaged ranges, lost entries) with a sink that groups entries by the
//!   offset of their record, and a [`LayoutSink`] for the fragments (FULL,
//!   FIRST/MIDDLE/LAST) and each batch's header.
//! - **MANIFESTs** run through [`crate::scan::logfile::scan`] with a sink that
//!   decodes every record as a [`VersionEdit`], as the store scan does, and
//!   takes each edit's extent from its layout.

use super::{
    base_json, damage_json, damage_text, ikey_text, keys_cell, plural, put_bytes, unverified_lines,
    ByOffset, EntryInfo, Row, RowSink, Tail,
};
use crate::format::batch;
use crate::format::filename;
use crate::format::ikey;
use crate::format::log::RecordType;
use crate::format::manifest::{VersionEdit, VersionState};
use crate::report::summary::human_size;
use crate::report::Damage;
use crate::scan::logfile::{self, Fragment, LayoutSink, RecordSink};
use crate::scan::{self, Entry, EntrySink};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt::Write as _;

pub(super) const LOG_COLUMNS: &[&str] =
    &["offset", "length", "type", "class", "seq", "count", "keys"];
pub(super) const MANIFEST_COLUMNS: &[&str] = &["offset", "length", "class", "edit"];

/// Rows in file order, as the scan finds them: written at once while no
/// damaged range is open; after one opens, held until it is final (its
/// extent, class and lost entries known: something intact followed it, or
/// the scan ended) and its row goes in among them.
struct InOrder<'o> {
    out: &'o mut dyn RowSink,
    held: Vec<Row>,
    holding: bool,
    /// Ranges opened and not yet final.
    open: usize,
    /// Ranges whose rows are already in.
    finalized: usize,
}

impl<'o> InOrder<'o> {
    fn new(out: &'o mut dyn RowSink) -> Self {
        InOrder {
            out,
            held: Vec::new(),
            holding: false,
            open: 0,
            finalized: 0,
        }
    }

    fn opened(&mut self) {
        self.open += 1;
        self.holding = true;
    }

    /// The row of a range that became final before the end of the scan.
    fn settled(&mut self, r: Row) {
        self.held.push(r);
        self.finalized += 1;
        self.open = self.open.saturating_sub(1);
        if self.open == 0 {
            self.holding = false;
            self.held.sort_by_key(|r| (r.offset, r.class.is_some()));
            for r in self.held.drain(..) {
                self.out.row(r);
            }
        }
    }

    fn push(&mut self, r: Row) {
        if self.holding {
            self.held.push(r);
        } else {
            self.out.row(r);
        }
    }

    fn finish(mut self, damage: Vec<Row>) {
        self.held.extend(damage);
        // Stable: an intact unit before a damaged range at the same offset.
        self.held.sort_by_key(|r| (r.offset, r.class.is_some()));
        for r in self.held {
            self.out.row(r);
        }
    }
}

/// The entries of the record being joined, and the unverified ones until
/// the damaged ranges are known; shared between the entry sink and the
/// layout sink, which scan holds apart.
struct Shared<'a>(&'a RefCell<ByOffset>);

impl EntrySink for Shared<'_> {
    fn intact(&mut self, e: &Entry<'_>) {
        self.0.borrow_mut().intact(e);
    }
    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        self.0.borrow_mut().unverified(e, reason);
    }
}

/// Turns each intact record into a row as the stitcher reports it; keeps
/// the verified fragments left in damage for the damaged ranges' rows.
struct LogRows<'a> {
    name: &'a str,
    entries: &'a RefCell<ByOffset>,
    damaged: Vec<Fragment>,
    rows: InOrder<'a>,
}

impl LayoutSink for LogRows<'_> {
    fn intact(&mut self, fr: &[Fragment], payload: &[u8]) {
        let (Some(first), Some(last)) = (fr.first(), fr.last()) else {
            return;
        };
        let (start, end) = (first.offset, last.end);
        // The batch's entries reached the entry sink just before this call.
        let e = std::mem::take(&mut self.entries.borrow_mut().intact)
            .remove(&start)
            .unwrap_or_default();
        let e: Vec<&EntryInfo> = e.iter().collect();
        let h = batch::header(payload).ok();
        let mut m = base_json(self.name, "record", start, end - start);
        m.insert("class".into(), "intact".into());
        m.insert("fragments".into(), frags_json(fr));
        m.insert("payload_length".into(), payload.len().into());
        if let Some(h) = h {
            m.insert("sequence".into(), h.sequence.into());
            m.insert("count".into(), h.count.into());
        }
        m.insert(
            "entries".into(),
            Value::Array(e.iter().map(|x| x.json()).collect()),
        );
        self.rows.push(Row {
            offset: start,
            length: end - start,
            class: None,
            cells: vec![
                start.to_string(),
                (end - start).to_string(),
                frag_types(fr),
                String::new(),
                h.map_or("-".into(), |h| h.sequence.to_string()),
                h.map_or("-".into(), |h| h.count.to_string()),
                keys_cell(&e),
            ],
            json: m,
            more: Vec::new(),
        });
    }

    fn damaged(&mut self, frags: &[Fragment]) {
        self.damaged.extend_from_slice(frags);
    }

    fn damage(&mut self, _offset: u64) {
        self.rows.opened();
    }

    fn damage_final(&mut self, _index: usize, d: Damage) {
        let end = d.end().max(d.offset + 1);
        // The range's unverified entries and fragments are all in: take them.
        let mine = {
            let mut e = self.entries.borrow_mut();
            let rest = e.unverified.split_off(&end);
            ByOffset {
                intact: Default::default(),
                unverified: std::mem::replace(&mut e.unverified, rest),
            }
        };
        let n = self.damaged.partition_point(|f| f.offset < end);
        let fr: Vec<Fragment> = self.damaged.drain(..n).collect();
        let row = log_damage_row(self.name, &d, &fr, &mine);
        self.rows.settled(row);
    }
}

/// The row of a damaged range: the verified fragments and the unverified
/// entries inside it.
fn log_damage_row(name: &str, d: &Damage, frags: &[Fragment], entries: &ByOffset) -> Row {
    let fr = frags_in(frags, d.offset, d.end());
    let u = entries.unverified_in(d.offset, d.end());
    let mut m = base_json(name, "record", d.offset, d.length);
    damage_json(&mut m, d);
    m.insert("fragments".into(), frags_json(fr));
    m.insert(
        "unverified_entries".into(),
        Value::Array(u.iter().map(|x| x.json()).collect()),
    );
    Row::damaged(
        d,
        &[&frag_types(fr), "", "-", "-"],
        damage_text(d),
        m,
        unverified_lines(&u),
    )
}

fn frag_types(frags: &[Fragment]) -> String {
    match frags {
        [] => "-".to_string(),
        [one] => one.rtype.as_str().to_string(),
        _ => {
            // FIRST,MIDDLE×3,LAST
            let mut parts: Vec<(RecordType, usize)> = Vec::new();
            for f in frags {
                match parts.last_mut() {
                    Some((t, n)) if *t == f.rtype => *n += 1,
                    _ => parts.push((f.rtype, 1)),
                }
            }
            parts
                .iter()
                .map(|(t, n)| {
                    if *n == 1 {
                        t.as_str().to_string()
                    } else {
                        format!("{}x{n}", t.as_str())
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

fn frags_json(frags: &[Fragment]) -> Value {
    Value::Array(
        frags
            .iter()
            .map(|f| {
                let mut m = Map::new();
                m.insert("offset".into(), f.offset.into());
                m.insert("type".into(), f.rtype.as_str().into());
                m.insert("length".into(), f.len.into());
                Value::Object(m)
            })
            .collect(),
    )
}

/// The fragments whose header starts in `[start, end)`.
fn frags_in(frags: &[Fragment], start: u64, end: u64) -> &[Fragment] {
    let a = frags.partition_point(|f| f.offset < start);
    let b = frags.partition_point(|f| f.offset < end);
    &frags[a..b.max(a)]
}

/// List a log into `out`, record by record as the scan joins them.
pub(super) fn log_rows(name: &str, file: &std::fs::File, size: u64, out: &mut dyn RowSink) -> Tail {
    let entries = RefCell::new(ByOffset::default());
    let mut lr = LogRows {
        name,
        entries: &entries,
        damaged: Vec::new(),
        rows: InOrder::new(out),
    };
    let ls = scan::log::scan_with_layout(file, size, &mut Shared(&entries), Some(&mut lr), &|_| {});
    let entries = entries.take();
    let damage = &ls.outcome.damage;
    let mut rows = Vec::new();
    for d in damage.iter().skip(lr.rows.finalized) {
        rows.push(log_damage_row(name, d, &lr.damaged, &entries));
    }
    lr.rows.finish(rows);
    let o = &ls.outcome;
    let mut notes = vec![format!(
        "{}: {} intact, {} torn, {} garbled; {} intact entries, {} unverified.",
        plural(o.records.intact + o.records.damaged(), "record", "records"),
        o.records.intact,
        o.records.torn,
        o.records.garbled,
        ls.entries,
        ls.unverified
    )];
    if let Some((a, b)) = ls.seqs {
        notes.push(format!("Intact batches hold sequence numbers {a} to {b}."));
    }
    for l in &ls.lost {
        let from = l.first.map_or("?".to_string(), |f| f.to_string());
        let to = l.last.map_or("on (how many is unknown)".to_string(), |t| {
            format!("to {t}")
        });
        notes.push(format!("Lost: sequence numbers {from} {to}."));
    }
    let io_error = o.io_error.clone();
    if let Some(e) = &io_error {
        notes.push(format!("Error: {e}"));
    }
    Tail {
        counts: o.records,
        damaged: !damage.is_empty() || io_error.is_some(),
        notes,
    }
}

// ---------------------------------------------------------------- MANIFEST

/// Decodes every record as a VersionEdit, exactly as the store scan's
/// `EditSink` does (a record that does not decode is damage), and turns
/// each into a row once its layout says where it ends.
struct EditRows<'a> {
    name: &'a str,
    state: VersionState,
    /// The edit just decoded: offset, payload length, edit.
    decoded: Option<(u64, usize, VersionEdit)>,
    rows: InOrder<'a>,
}

impl RecordSink for EditRows<'_> {
    fn record(&mut self, offset: u64, payload: &[u8]) -> Result<(), String> {
        let edit = VersionEdit::decode(payload).map_err(|e| e.to_string())?;
        self.state.apply(&edit);
        self.decoded = Some((offset, payload.len(), edit));
        Ok(())
    }

    fn layout(&mut self) -> Option<&mut dyn LayoutSink> {
        Some(self)
    }
}

impl LayoutSink for EditRows<'_> {
    /// Called right after `record` accepted the edit: where it ends.
    fn intact(&mut self, frags: &[Fragment], _payload: &[u8]) {
        if let (Some((offset, plen, e)), Some(f)) = (self.decoded.take(), frags.last()) {
            let row = edit_row(self.name, offset, f.end - offset, plen, &e);
            self.rows.push(row);
        }
    }
    fn damaged(&mut self, _frags: &[Fragment]) {}
    fn damage(&mut self, _offset: u64) {
        self.rows.opened();
    }
    fn damage_final(&mut self, _index: usize, d: Damage) {
        let row = edit_damage_row(self.name, &d);
        self.rows.settled(row);
    }
}

fn edit_damage_row(name: &str, d: &Damage) -> Row {
    let mut m = base_json(name, "edit", d.offset, d.length);
    damage_json(&mut m, d);
    Row::damaged(d, &[""], damage_text(d), m, Vec::new())
}

fn ikey_json(k: &[u8]) -> Value {
    let mut m = Map::new();
    match ikey::parse(k) {
        Some(p) => {
            put_bytes(&mut m, "key", p.user_key);
            m.insert("seq".into(), p.seq.into());
            m.insert("kind".into(), p.kind.as_str().into());
        }
        None => put_bytes(&mut m, "internal_key", k),
    }
    Value::Object(m)
}

fn edit_row(name: &str, offset: u64, length: u64, payload_len: usize, e: &VersionEdit) -> Row {
    let mut m = base_json(name, "edit", offset, length);
    m.insert("class".into(), "intact".into());
    m.insert("payload_length".into(), payload_len.into());
    let mut words = Vec::new();
    if let Some(c) = &e.comparator {
        put_bytes(&mut m, "comparator", c);
        words.push(format!("comparator {}", String::from_utf8_lossy(c)));
    }
    for (field, label, v) in [
        ("log_number", "log number", e.log_number),
        ("prev_log_number", "prev log number", e.prev_log_number),
        ("next_file_number", "next file", e.next_file_number),
        ("last_sequence", "last sequence", e.last_sequence),
    ] {
        if let Some(v) = v {
            m.insert(field.into(), v.into());
            words.push(format!("{label} {v}"));
        }
    }
    m.insert(
        "compact_pointers".into(),
        Value::Array(
            e.compact_pointers
                .iter()
                .map(|(level, k)| {
                    let mut o = Map::new();
                    o.insert("level".into(), (*level).into());
                    o.insert("key".into(), ikey_json(k));
                    Value::Object(o)
                })
                .collect(),
        ),
    );
    m.insert(
        "deleted_files".into(),
        Value::Array(
            e.deleted_files
                .iter()
                .map(|(level, n)| {
                    let mut o = Map::new();
                    o.insert("level".into(), (*level).into());
                    o.insert("number".into(), (*n).into());
                    Value::Object(o)
                })
                .collect(),
        ),
    );
    m.insert(
        "new_files".into(),
        Value::Array(
            e.new_files
                .iter()
                .map(|f| {
                    let mut o = Map::new();
                    o.insert("level".into(), f.level.into());
                    o.insert("number".into(), f.number.into());
                    o.insert("size".into(), f.file_size.into());
                    o.insert("smallest".into(), ikey_json(&f.smallest));
                    o.insert("largest".into(), ikey_json(&f.largest));
                    Value::Object(o)
                })
                .collect(),
        ),
    );
    let mut more = Vec::new();
    for f in &e.new_files {
        more.push(format!(
            "+ level {} {} ({}): {} .. {}",
            f.level,
            filename::table_name(f.number),
            human_size(f.file_size),
            ikey_text(&f.smallest),
            ikey_text(&f.largest)
        ));
    }
    for (level, n) in &e.deleted_files {
        more.push(format!("- level {level} {}", filename::table_name(*n)));
    }
    for (level, k) in &e.compact_pointers {
        more.push(format!("compact pointer level {level}: {}", ikey_text(k)));
    }
    let mut summary = words.join(", ");
    let (added, deleted) = (e.new_files.len(), e.deleted_files.len());
    if added + deleted > 0 {
        if !summary.is_empty() {
            summary.push_str("; ");
        }
        let _ = write!(summary, "{added} added, {deleted} deleted files");
    }
    if summary.is_empty() {
        summary = "(empty edit)".into();
    }
    Row {
        offset,
        length,
        class: None,
        cells: vec![
            offset.to_string(),
            length.to_string(),
            String::new(),
            summary,
        ],
        json: m,
        more,
    }
}

/// List a MANIFEST into `out`, edit by edit as the scan joins them.
pub(super) fn manifest_rows(
    name: &str,
    file: &std::fs::File,
    size: u64,
    out: &mut dyn RowSink,
) -> Tail {
    let mut sink = EditRows {
        name,
        state: VersionState::default(),
        decoded: None,
        rows: InOrder::new(out),
    };
    let o = logfile::scan(file, size, &mut sink, &|_| {});
    let mut rows = Vec::new();
    for d in o.damage.iter().skip(sink.rows.finalized) {
        rows.push(edit_damage_row(name, d));
    }
    sink.rows.finish(rows);
    let mut notes = vec![format!(
        "{}: {} intact, {} torn, {} garbled.",
        plural(o.records.intact + o.records.damaged(), "edit", "edits"),
        o.records.intact,
        o.records.torn,
        o.records.garbled
    )];
    let v = &sink.state;
    if v.edits > 0 {
        let opt = |x: Option<u64>| x.map_or("-".to_string(), |n| n.to_string());
        notes.push(format!(
            "Intact edits replayed: comparator {}, log number {}, prev log number {}, next file {}, \
             last sequence {}, {} live tables.",
            v.comparator
                .as_ref()
                .map_or("-".into(), |c| String::from_utf8_lossy(c).into_owned()),
            opt(v.log_number),
            opt(v.prev_log_number),
            opt(v.next_file),
            opt(v.last_sequence),
            v.files.len()
        ));
    }
    let io_error = o.io_error.clone();
    if let Some(e) = &io_error {
        notes.push(format!("Error: {e}"));
    }
    Tail {
        counts: o.records,
        damaged: !o.damage.is_empty() || io_error.is_some(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::super::inspect;
    use super::*;
    use crate::format::log::encode_fragment;
    use crate::report::Class;

    fn batch(seq: u64, keys: &[&[u8]]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&seq.to_le_bytes());
        b.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for k in keys {
            b.push(1);
            b.push(k.len() as u8);
            b.extend_from_slice(k);
            b.push(1);
            b.push(b'v');
        }
        b
    }

    #[test]
    fn log_rows_carry_the_fragments_scan_joined() {
        let mut f = Vec::new();
        encode_fragment(&mut f, RecordType::Full, &batch(1, &[b"a"]));
        let second = f.len() as u64;
        let p = batch(2, &[b"b", b"c"]);
        encode_fragment(&mut f, RecordType::First, &p[..5]);
        encode_fragment(&mut f, RecordType::Middle, &p[5..9]);
        encode_fragment(&mut f, RecordType::Last, &p[9..]);
        let orphan = f.len() as u64;
        encode_fragment(&mut f, RecordType::Last, b"xyz");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("000001.log");
        std::fs::write(&path, &f).unwrap();
        let l = inspect(&path, None).unwrap();
        let cells: Vec<_> = l.rows.iter().map(|r| r.cells[..3].join(" ")).collect();
        assert_eq!(
            cells,
            [
                format!("0 {second} FULL"),
                format!("{second} {} FIRST,MIDDLE,LAST", orphan - second),
                format!("{orphan} 10 LAST"),
            ]
        );
        let r = &l.rows[1];
        assert_eq!((r.cells[4].as_str(), r.cells[5].as_str()), ("2", "2"));
        assert_eq!(r.json["payload_length"], p.len());
        assert_eq!(r.json["fragments"][1]["length"], 4);
        assert_eq!(l.rows[2].class, Some(Class::Garbled));
        assert_eq!(l.rows[2].json["fragments"][0]["offset"], orphan);
    }
}
