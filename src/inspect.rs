//! `ldbsalvage inspect FILE`: one file, unit by unit, for people (a table)
//! or for programs (`--json`: one JSON object per line).
//!
//! Nothing here classifies on its own: the verdicts are those of `scan`,
//! obtained by running the same code, and this module only lays them out
//! with offsets.
//!
//! - **Logs** run through [`crate::scan::log::scan`] (classes, damaged ranges,
//!   lost entries) with a sink that groups entries by the offset of their
//!   record; a second, sequential pass over the blocks with
//!   [`crate::format::log::parse_block`] recovers each record's fragments
//!   (FULL, FIRST/MIDDLE/LAST) and its batch header. A complete fragment
//!   chain that no damaged range covers is exactly an intact record.
//! - **MANIFESTs** run through [`crate::scan::logfile::scan`] with a sink that
//!   decodes every record as a [`VersionEdit`], as the store scan does.
//! - **Tables** run through [`crate::scan::table::scan_table`] (classes,
//!   damage, entries by block offset); the layout (every block with a valid
//!   trailer, its size, compression and role) comes from
//!   [`crate::format::table::find_blocks`] and the footer from
//!   [`Footer::decode`]. Blocks inside a damaged range are shown as that range.

use crate::format::batch::{self, Kind};
use crate::format::compress;
use crate::format::filename::{self, FileKind};
use crate::format::ikey;
use crate::format::log::{parse_block, Piece, RecordType, BLOCK_SIZE};
use crate::format::manifest::{VersionEdit, VersionState};
use crate::format::table::{
    check_data_block, find_blocks, parse_metaindex, read_block, BlockHandle, Footer, FoundKind,
    DEFAULT_WINDOW, FOOTER_SIZE,
};
use crate::report::summary::{human_size, show_key, show_key_range, Style};
use crate::report::{Class, Counts, Damage, KeyRange};
use crate::scan::logfile::{self, RecordSink, Source};
use crate::scan::{self, Entry, EntrySink};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::Path;

/// The file kinds `inspect` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectKind {
    Log,
    Table,
    Manifest,
}

impl InspectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InspectKind::Log => "log",
            InspectKind::Table => "table",
            InspectKind::Manifest => "manifest",
        }
    }

    /// The kind a LevelDB file name says, if it is one `inspect` reads.
    pub fn from_name(name: &str) -> Option<InspectKind> {
        match filename::parse(name).0 {
            FileKind::Log => Some(InspectKind::Log),
            FileKind::Table => Some(InspectKind::Table),
            FileKind::Manifest => Some(InspectKind::Manifest),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum InspectError {
    /// The name does not say what the file is and no kind was given.
    UnknownKind(String),
    /// The file cannot be opened or read.
    Unreadable(String, io::Error),
}

impl std::fmt::Display for InspectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InspectError::UnknownKind(name) => write!(
                f,
                "{name}: the name is not that of a LevelDB log, table or MANIFEST; \
                 say which with --kind log|table|manifest"
            ),
            InspectError::Unreadable(p, e) => write!(f, "{p}: {e}"),
        }
    }
}

impl std::error::Error for InspectError {}

/// One line of the listing: its JSON object and its table cells.
#[derive(Debug, Clone)]
pub struct Row {
    pub offset: u64,
    pub length: u64,
    /// `None` for intact units (and for rows that are not units, like a gap).
    pub class: Option<Class>,
    pub json: Map<String, Value>,
    /// Table cells, one per column of the listing's header; the class column
    /// is filled in when printing.
    pub cells: Vec<String>,
    /// Indented lines printed under the row (unverified entries, a MANIFEST
    /// edit's files).
    pub more: Vec<String>,
}

/// Everything `inspect` found in one file.
#[derive(Debug, Clone)]
pub struct Listing {
    pub name: String,
    pub kind: InspectKind,
    pub size: u64,
    /// Column titles; the one named `class` is coloured by class.
    pub columns: Vec<&'static str>,
    pub rows: Vec<Row>,
    /// Units by class, as `scan` counts them.
    pub counts: Counts,
    /// Closing lines of the text form.
    pub notes: Vec<String>,
    pub damaged: bool,
}

/// Inspect one file. `kind` overrides what the name says.
pub fn inspect(path: &Path, kind: Option<InspectKind>) -> Result<Listing, InspectError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let kind = kind
        .or_else(|| InspectKind::from_name(&name))
        .ok_or_else(|| InspectError::UnknownKind(name.clone()))?;
    let unreadable = |e| InspectError::Unreadable(path.display().to_string(), e);
    // The file named on the command line is the one meant, link or not; the
    // open that follows still refuses anything swapped in since.
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let (file, md) = crate::scan::open::open_store_file(&real).map_err(unreadable)?;
    let size = md.len();
    Ok(match kind {
        InspectKind::Log => log_listing(&name, &file, size)?,
        InspectKind::Manifest => manifest_listing(&name, &file, size),
        InspectKind::Table => {
            let mut data = Vec::new();
            (&file)
                .take(size)
                .read_to_end(&mut data)
                .map_err(unreadable)?;
            table_listing(&name, &data, size)
        }
    })
}

// ---------------------------------------------------------------- entries

/// What is kept of an entry: no value, only its length.
#[derive(Debug, Clone)]
struct EntryInfo {
    seq: u64,
    kind: Kind,
    key: Vec<u8>,
    value_len: usize,
}

impl EntryInfo {
    fn of(e: &Entry<'_>) -> Self {
        EntryInfo {
            seq: e.seq,
            kind: e.kind,
            key: e.key.to_vec(),
            value_len: e.value.len(),
        }
    }

    fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("seq".into(), self.seq.into());
        m.insert("kind".into(), self.kind.as_str().into());
        put_bytes(&mut m, "key", &self.key);
        if self.kind == Kind::Put {
            m.insert("value_length".into(), self.value_len.into());
        }
        Value::Object(m)
    }

    fn show(&self) -> String {
        match self.kind {
            Kind::Put => show_key(&self.key),
            Kind::Delete => format!("del {}", show_key(&self.key)),
        }
    }
}

/// Entries grouped by the offset of the unit holding them.
#[derive(Default)]
struct ByOffset {
    intact: BTreeMap<u64, Vec<EntryInfo>>,
    unverified: BTreeMap<u64, Vec<(EntryInfo, String)>>,
}

impl EntrySink for ByOffset {
    fn intact(&mut self, e: &Entry<'_>) {
        self.intact
            .entry(e.offset)
            .or_default()
            .push(EntryInfo::of(e));
    }
    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        self.unverified
            .entry(e.offset)
            .or_default()
            .push((EntryInfo::of(e), reason.to_string()));
    }
}

impl ByOffset {
    fn unverified_in(&self, start: u64, end: u64) -> Vec<&EntryInfo> {
        self.unverified
            .range(start..end.max(start.saturating_add(1)))
            .flat_map(|(_, v)| v.iter().map(|(e, _)| e))
            .collect()
    }
}

/// `name` as text or `name_base64`, as in the report.
fn put_bytes(m: &mut Map<String, Value>, name: &str, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => m.insert(name.into(), s.into()),
        Err(_) => {
            use base64::Engine;
            m.insert(
                format!("{name}_base64"),
                base64::engine::general_purpose::STANDARD.encode(b).into(),
            )
        }
    };
}

fn key_range_json(r: &KeyRange) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// Up to three entries' keys, then how many more.
fn keys_cell(entries: &[&EntryInfo]) -> String {
    let mut s = entries
        .iter()
        .take(3)
        .map(|e| e.show())
        .collect::<Vec<_>>()
        .join(", ");
    if entries.len() > 3 {
        let _ = write!(s, " (+{} more)", entries.len() - 3);
    }
    s
}

fn damage_json(m: &mut Map<String, Value>, d: &Damage) {
    m.insert("class".into(), d.class.as_str().into());
    m.insert("reason".into(), d.reason.clone().into());
    if let Some(n) = d.lost_entries {
        m.insert("lost_entries".into(), n.into());
    }
    if let Some(k) = &d.key_range {
        m.insert("key_range".into(), key_range_json(k));
    }
}

fn damage_text(d: &Damage) -> String {
    let mut s = d.reason.clone();
    match d.lost_entries {
        Some(1) => s.push_str(" (1 entry lost)"),
        Some(n) => {
            let _ = write!(s, " ({n} entries lost)");
        }
        None => {}
    }
    s
}

fn unverified_lines(u: &[&EntryInfo]) -> Vec<String> {
    if u.is_empty() {
        return Vec::new();
    }
    let seqs = match (u.iter().map(|e| e.seq).min(), u.iter().map(|e| e.seq).max()) {
        (Some(a), Some(b)) if a == b => format!("seq {a}"),
        (Some(a), Some(b)) => format!("seq {a}..{b}"),
        _ => String::new(),
    };
    vec![format!(
        "unverified ({} entries, {seqs}): {}",
        u.len(),
        keys_cell(u)
    )]
}

fn base_json(name: &str, unit: &str, offset: u64, length: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("file".into(), name.into());
    m.insert("unit".into(), unit.into());
    m.insert("offset".into(), offset.into());
    m.insert("length".into(), length.into());
    m
}

// ---------------------------------------------------------------- logs

/// A verified fragment.
#[derive(Debug, Clone, Copy)]
struct Frag {
    offset: u64,
    end: u64,
    rtype: RecordType,
    len: usize,
}

/// A complete FULL or FIRST..LAST chain of verified fragments.
#[derive(Debug, Clone)]
struct Chain {
    frags: std::ops::Range<usize>,
    /// The first bytes of the payload, enough for a batch header.
    head: Vec<u8>,
    payload_len: usize,
}

/// Read the blocks in order and list their verified fragments and the
/// complete chains among them. Only fragment positions and the first 12
/// payload bytes of each record are kept.
fn fragments(src: &dyn Source, size: u64) -> (Vec<Frag>, Vec<Chain>, Option<String>) {
    let mut frags = Vec::new();
    let mut chains = Vec::new();
    let mut open: Option<Chain> = None;
    let mut buf = vec![0u8; BLOCK_SIZE];
    let mut pieces = Vec::new();
    let mut pos = 0u64;
    let mut error = None;
    while pos < size {
        let want = (size - pos).min(BLOCK_SIZE as u64) as usize;
        let n = match src.read_at(&mut buf[..want], pos) {
            Ok(n) => n,
            Err(e) => {
                error = Some(format!("read error at offset {pos}: {e}"));
                break;
            }
        };
        let block = &buf[..n];
        pieces.clear();
        parse_block(block, pos + n as u64 >= size || n < want, &mut pieces);
        for p in &pieces {
            match *p {
                Piece::Fragment {
                    start,
                    rtype,
                    payload: (ps, pe),
                } => {
                    let i = frags.len();
                    frags.push(Frag {
                        offset: pos + start as u64,
                        end: pos + pe as u64,
                        rtype,
                        len: pe - ps,
                    });
                    let take = |c: &mut Chain| {
                        let room = batch::HEADER_SIZE.saturating_sub(c.head.len());
                        c.head
                            .extend_from_slice(&block[ps..pe.min(ps.saturating_add(room))]);
                        c.payload_len += pe - ps;
                        c.frags.end = i + 1;
                    };
                    match rtype {
                        RecordType::Full | RecordType::First => {
                            let mut c = Chain {
                                frags: i..i + 1,
                                head: Vec::new(),
                                payload_len: 0,
                            };
                            take(&mut c);
                            if rtype == RecordType::Full {
                                chains.push(c);
                                open = None;
                            } else {
                                open = Some(c);
                            }
                        }
                        RecordType::Middle | RecordType::Last => {
                            if let Some(c) = open.as_mut() {
                                take(c);
                                if rtype == RecordType::Last {
                                    chains.extend(open.take());
                                }
                            }
                        }
                    }
                }
                // Anything else between fragments breaks a record.
                Piece::Bad { .. } | Piece::Zeros { .. } => open = None,
            }
        }
        if n < want {
            error = Some(format!(
                "file shrank while being read: ends at {} instead of {size}",
                pos + n as u64
            ));
            break;
        }
        pos += n as u64;
    }
    (frags, chains, error)
}

fn frag_types(frags: &[Frag]) -> String {
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

fn frags_json(frags: &[Frag]) -> Value {
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
fn frags_in(frags: &[Frag], start: u64, end: u64) -> &[Frag] {
    let a = frags.partition_point(|f| f.offset < start);
    let b = frags.partition_point(|f| f.offset < end);
    &frags[a..b.max(a)]
}

/// Whether `[start, end)` meets a damaged range.
fn in_damage(damage: &[Damage], start: u64, end: u64) -> bool {
    damage
        .iter()
        .any(|d| d.offset < end.max(start + 1) && start < d.end().max(d.offset + 1))
}

fn log_listing(name: &str, file: &std::fs::File, size: u64) -> Result<Listing, InspectError> {
    let mut entries = ByOffset::default();
    let ls = scan::log::scan(file, size, &mut entries, &|_| {});
    let (frags, chains, frag_error) = fragments(file, size);
    let damage = &ls.outcome.damage;
    let mut rows = Vec::new();
    for c in &chains {
        let fr = &frags[c.frags.clone()];
        let (start, end) = (fr[0].offset, fr[fr.len() - 1].end);
        if in_damage(damage, start, end) {
            continue;
        }
        let e: Vec<&EntryInfo> = entries
            .intact
            .get(&start)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let h = batch::header(&c.head).ok();
        let mut m = base_json(name, "record", start, end - start);
        m.insert("class".into(), "intact".into());
        m.insert("fragments".into(), frags_json(fr));
        m.insert("payload_length".into(), c.payload_len.into());
        if let Some(h) = h {
            m.insert("sequence".into(), h.sequence.into());
            m.insert("count".into(), h.count.into());
        }
        m.insert(
            "entries".into(),
            Value::Array(e.iter().map(|x| x.json()).collect()),
        );
        rows.push(Row {
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
    for d in damage {
        let fr = frags_in(&frags, d.offset, d.end());
        let u = entries.unverified_in(d.offset, d.end());
        let mut m = base_json(name, "record", d.offset, d.length);
        damage_json(&mut m, d);
        m.insert("fragments".into(), frags_json(fr));
        m.insert(
            "unverified_entries".into(),
            Value::Array(u.iter().map(|x| x.json()).collect()),
        );
        rows.push(Row {
            offset: d.offset,
            length: d.length,
            class: Some(d.class),
            cells: vec![
                d.offset.to_string(),
                d.length.to_string(),
                frag_types(fr),
                String::new(),
                "-".into(),
                "-".into(),
                damage_text(d),
            ],
            json: m,
            more: unverified_lines(&u),
        });
    }
    rows.sort_by_key(|r| (r.offset, r.class.is_some()));
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
    let io_error = o.io_error.clone().or(frag_error);
    if let Some(e) = &io_error {
        notes.push(format!("Error: {e}"));
    }
    Ok(Listing {
        name: name.to_string(),
        kind: InspectKind::Log,
        size,
        columns: vec!["offset", "length", "type", "class", "seq", "count", "keys"],
        rows,
        counts: o.records,
        damaged: !damage.is_empty() || io_error.is_some(),
        notes,
    })
}

// ---------------------------------------------------------------- MANIFEST

/// Decodes every record as a VersionEdit, exactly as the store scan's
/// `EditSink` does (a record that does not decode is damage), and keeps
/// each edit with its offset.
#[derive(Default)]
struct Edits {
    edits: Vec<(u64, usize, VersionEdit)>,
    state: VersionState,
}

impl RecordSink for Edits {
    fn record(&mut self, offset: u64, payload: &[u8]) -> Result<(), String> {
        let edit = VersionEdit::decode(payload).map_err(|e| e.to_string())?;
        self.state.apply(&edit);
        self.edits.push((offset, payload.len(), edit));
        Ok(())
    }
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

fn ikey_text(k: &[u8]) -> String {
    match ikey::parse(k) {
        // LevelDB's shortened index separators carry the largest sequence.
        Some(p) if p.seq == ikey::MAX_SEQUENCE => format!("{} @max", show_key(p.user_key)),
        Some(p) => format!("{} @{}", show_key(p.user_key), p.seq),
        None => show_key(k),
    }
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

fn manifest_listing(name: &str, file: &std::fs::File, size: u64) -> Listing {
    let mut sink = Edits::default();
    let o = logfile::scan(file, size, &mut sink, &|_| {});
    // Record extents come from the fragment chains (the sink sees only the
    // start and the payload).
    let (frags, chains, frag_error) = fragments(file, size);
    let ends: BTreeMap<u64, u64> = chains
        .iter()
        .map(|c| {
            let fr = &frags[c.frags.clone()];
            (fr[0].offset, fr[fr.len() - 1].end)
        })
        .collect();
    let mut rows: Vec<Row> = sink
        .edits
        .iter()
        .map(|(offset, plen, e)| {
            let end = ends.get(offset).copied().unwrap_or(*offset);
            edit_row(name, *offset, end - offset, *plen, e)
        })
        .collect();
    for d in &o.damage {
        let mut m = base_json(name, "edit", d.offset, d.length);
        damage_json(&mut m, d);
        rows.push(Row {
            offset: d.offset,
            length: d.length,
            class: Some(d.class),
            cells: vec![
                d.offset.to_string(),
                d.length.to_string(),
                String::new(),
                damage_text(d),
            ],
            json: m,
            more: Vec::new(),
        });
    }
    rows.sort_by_key(|r| (r.offset, r.class.is_some()));
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
    let io_error = o.io_error.clone().or(frag_error);
    if let Some(e) = &io_error {
        notes.push(format!("Error: {e}"));
    }
    Listing {
        name: name.to_string(),
        kind: InspectKind::Manifest,
        size,
        columns: vec!["offset", "length", "class", "edit"],
        rows,
        counts: o.records,
        damaged: !o.damage.is_empty() || io_error.is_some(),
        notes,
    }
}

// ---------------------------------------------------------------- tables

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

fn table_listing(name: &str, file: &[u8], size: u64) -> Listing {
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

// ---------------------------------------------------------------- output

impl Listing {
    /// One JSON object per row, one per line.
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        for r in &self.rows {
            serde_json::to_writer(&mut *out, &r.json)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// A table for people, then the counts and a verdict.
    pub fn write_text(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        let class_col = self.columns.iter().position(|c| *c == "class");
        let class_word = |r: &Row| match r.class {
            None if r.json.get("unit").and_then(Value::as_str) == Some("gap") => "-",
            None => "intact",
            Some(c) => c.as_str(),
        };
        use crate::vocab::text::printable;
        // Cells quote what the file holds (keys, a comparator's name): no
        // byte of it may reach the terminal as a control character.
        let cells = |r: &Row| -> Vec<String> {
            let mut c: Vec<String> = r.cells.iter().map(|c| printable(c).into_owned()).collect();
            if let Some(i) = class_col {
                c[i] = class_word(r).to_string();
            }
            c
        };
        let ncol = self.columns.len();
        let mut w: Vec<usize> = self.columns.iter().map(|c| c.len()).collect();
        for r in &self.rows {
            for (i, c) in cells(r).iter().enumerate().take(ncol - 1) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        // Offsets, lengths and counts are right-aligned.
        let right = |name: &str| matches!(name, "offset" | "length" | "seq" | "count" | "entries");
        writeln!(
            out,
            "{}",
            st.bold(&format!(
                "{}: {}, {} ({} bytes)",
                printable(&self.name),
                self.kind.as_str(),
                human_size(self.size),
                self.size
            ))
        )?;
        let head = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| pad(c, w[i], right(c)))
            .collect::<Vec<_>>()
            .join("  ");
        writeln!(out, "{}", st.bold(head.trim_end()))?;
        let indent: usize = w[..class_col.unwrap_or(0)].iter().map(|x| x + 2).sum();
        for r in &self.rows {
            let c = cells(r);
            let mut line = String::new();
            for (i, cell) in c.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let last = i + 1 == ncol;
                let text = if last {
                    cell.clone()
                } else {
                    pad(cell, w[i], right(self.columns[i]))
                };
                if Some(i) == class_col {
                    line.push_str(&match r.class {
                        Some(k) => st.class(k, &text),
                        None => text,
                    });
                } else {
                    line.push_str(&text);
                }
            }
            writeln!(out, "{}", line.trim_end())?;
            for m in &r.more {
                writeln!(out, "{}{}", " ".repeat(indent), printable(m))?;
            }
        }
        writeln!(out)?;
        for n in &self.notes {
            writeln!(out, "{}", printable(n))?;
        }
        if self.damaged {
            writeln!(
                out,
                "{}",
                st.red("Damage found (exit status 1): see the torn and garbled rows above.")
            )?;
        } else {
            writeln!(out, "{}", st.green("No damage found (exit status 0)."))?;
        }
        out.flush()
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn pad(s: &str, w: usize, right: bool) -> String {
    let n = w.saturating_sub(s.chars().count());
    if right {
        format!("{}{s}", " ".repeat(n))
    } else {
        format!("{s}{}", " ".repeat(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::log::encode_fragment;

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
    fn fragments_and_chains() {
        let mut f = Vec::new();
        encode_fragment(&mut f, RecordType::Full, &batch(1, &[b"a"]));
        let second = f.len() as u64;
        let p = batch(2, &[b"b", b"c"]);
        encode_fragment(&mut f, RecordType::First, &p[..5]);
        encode_fragment(&mut f, RecordType::Middle, &p[5..9]);
        encode_fragment(&mut f, RecordType::Last, &p[9..]);
        let (frags, chains, err) = fragments(&logfile::Mem(&f), f.len() as u64);
        assert!(err.is_none());
        assert_eq!(frags.len(), 4);
        assert_eq!(chains.len(), 2);
        assert_eq!(frags[chains[1].frags.start].offset, second);
        assert_eq!(
            frag_types(&frags[chains[1].frags.clone()]),
            "FIRST,MIDDLE,LAST"
        );
        let h = batch::header(&chains[1].head).unwrap();
        assert_eq!((h.sequence, h.count), (2, 2));
        assert_eq!(chains[1].payload_len, p.len());
    }

    #[test]
    fn kinds_from_names() {
        assert_eq!(InspectKind::from_name("000003.log"), Some(InspectKind::Log));
        assert_eq!(InspectKind::from_name("5.sst"), Some(InspectKind::Table));
        assert_eq!(
            InspectKind::from_name("MANIFEST-000002"),
            Some(InspectKind::Manifest)
        );
        assert_eq!(InspectKind::from_name("CURRENT"), None);
        assert_eq!(InspectKind::from_name("notes.txt"), None);
    }
}
