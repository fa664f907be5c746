//! `ldbsalvage inspect FILE`: one file, unit by unit, for people (a table)
//! or for programs (`--json`: one JSON object per line).
//!
//! Nothing here classifies on its own: the verdicts are those of `scan`,
//! obtained by running the same code, and these modules only lay them out
//! with offsets. This one opens the file and holds what the listings share;
//! `log` lays out logs and MANIFESTs, `table` tables, `render` prints.

mod log;
mod render;
mod table;

use crate::format::batch::Kind;
use crate::format::filename::{self, FileKind};
use crate::format::ikey;
use crate::report::summary::{show_key, Style};
use crate::report::{Class, Counts, Damage, KeyRange};
use crate::scan::{Entry, EntrySink};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::Path;

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

impl Row {
    /// The row of a damaged range: its offset and length, then `middle`
    /// (the kind's own columns), then `last` (what the damage was).
    pub(crate) fn damaged(
        d: &Damage,
        middle: &[&str],
        last: String,
        json: Map<String, Value>,
        more: Vec<String>,
    ) -> Row {
        let mut cells = vec![d.offset.to_string(), d.length.to_string()];
        cells.extend(middle.iter().map(|c| c.to_string()));
        cells.push(last);
        Row {
            offset: d.offset,
            length: d.length,
            class: Some(d.class),
            cells,
            json,
            more,
        }
    }
}

/// What is known of a listing before its first row.
#[derive(Debug, Clone)]
pub struct Head {
    pub name: String,
    pub kind: InspectKind,
    pub size: u64,
    /// Column titles; the one named `class` is coloured by class.
    pub columns: Vec<&'static str>,
}

/// What is known only after the last row.
#[derive(Debug, Clone)]
pub struct Tail {
    /// Units by class, as `scan` counts them.
    pub counts: Counts,
    /// Closing lines of the text form.
    pub notes: Vec<String>,
    pub damaged: bool,
}

/// Where a listing goes as it is produced: the head, then rows in file
/// order.
pub trait RowSink {
    fn begin(&mut self, _head: &Head) {}
    fn row(&mut self, row: Row);
}

impl RowSink for Vec<Row> {
    fn row(&mut self, row: Row) {
        self.push(row);
    }
}

/// How `inspect_to` writes.
#[derive(Clone, Copy)]
pub enum Format<'a> {
    /// One JSON object per line.
    Json,
    /// A table for people.
    Text(&'a Style),
}

/// The end of `inspect_to`: the verdict, and whether writing succeeded.
#[derive(Debug)]
pub struct Inspected {
    pub damaged: bool,
    pub written: io::Result<()>,
}

/// Everything `inspect` found in one file, held in memory.
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

/// Inspect one file and keep every row. `kind` overrides what the name
/// says.
pub fn inspect(path: &Path, kind: Option<InspectKind>) -> Result<Listing, InspectError> {
    let mut rows = Vec::new();
    let (head, tail) = run(path, kind, &mut rows)?;
    Ok(Listing {
        name: head.name,
        kind: head.kind,
        size: head.size,
        columns: head.columns,
        rows,
        counts: tail.counts,
        notes: tail.notes,
        damaged: tail.damaged,
    })
}

/// Inspect one file, writing each row as soon as it is known (see
/// `render` for the bounds of the text form).
pub fn inspect_to(
    path: &Path,
    kind: Option<InspectKind>,
    out: &mut dyn Write,
    format: Format<'_>,
) -> Result<Inspected, InspectError> {
    let mut w = render::Writer::new(out, format);
    let (_, tail) = run(path, kind, &mut w)?;
    Ok(Inspected {
        damaged: tail.damaged,
        written: w.finish(&tail),
    })
}

/// Open the file, decide its kind and list it into `rows`.
fn run(
    path: &Path,
    kind: Option<InspectKind>,
    rows: &mut dyn RowSink,
) -> Result<(Head, Tail), InspectError> {
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
    let mut head = Head {
        name,
        kind,
        size,
        columns: Vec::new(),
    };
    let tail = match kind {
        InspectKind::Log => {
            head.columns = log::LOG_COLUMNS.to_vec();
            rows.begin(&head);
            log::log_rows(&head.name, &file, size, rows)
        }
        InspectKind::Manifest => {
            head.columns = log::MANIFEST_COLUMNS.to_vec();
            rows.begin(&head);
            log::manifest_rows(&head.name, &file, size, rows)
        }
        InspectKind::Table => {
            // As for `scan`: a file far beyond any table a LevelDB-family
            // writer makes (a sparse file, say) is not read into memory.
            let max = crate::scan::store::MAX_TABLE_SIZE;
            if size > max {
                return Err(unreadable(io::Error::other(format!(
                    "not read: {size} bytes is more than a LevelDB table can be ({max} bytes at most)"
                ))));
            }
            let mut data = Vec::new();
            (&file)
                .take(size)
                .read_to_end(&mut data)
                .map_err(unreadable)?;
            // The rows are laid out whole (small: no entries in them); each
            // intact data block's entries are read again as its row is
            // written, so one block's are held at a time.
            // A table in a level directory is Basho's: its type 2 is LZ4.
            let opts = crate::scan::table::TableOptions {
                codecs: crate::scan::dialect_basho::codecs_for_table(&real),
                ..Default::default()
            };
            let (l, fills) = table::table_listing(&head.name, &data, size, &opts);
            head.columns = l.columns;
            rows.begin(&head);
            for mut r in l.rows {
                if r.class.is_none() && fills.contains(&r.offset) {
                    table::fill_data_row(&mut r, &data, &opts);
                }
                rows.row(r);
            }
            Tail {
                counts: l.counts,
                notes: l.notes,
                damaged: l.damaged,
            }
        }
    };
    Ok((head, tail))
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
            k => format!("{} {}", k.as_str(), show_key(&self.key)),
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

// ---------------------------------------------------------------- shared

fn ikey_text(k: &[u8]) -> String {
    match ikey::parse(k) {
        // LevelDB's shortened index separators carry the largest sequence.
        Some(p) if p.seq == ikey::MAX_SEQUENCE => format!("{} @max", show_key(p.user_key)),
        Some(p) => format!("{} @{}", show_key(p.user_key), p.seq),
        None => show_key(k),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

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
