//! The human summary printed after `scan` and `salvage`: a table of the
//! files with totals, then in plain words what was damaged, what was lost and
//! what to requeue, where the outputs are, and a one-line verdict.
//!
//! It is meant to be read at 3 a.m. and pasted into an incident ticket, so it
//! stays plain text: colour (ANSI SGR codes) is added only when stdout is a
//! terminal, never when `NO_COLOR` is set (to any value) or `TERM=dumb`, and
//! every coloured word also says what it means without the colour. Long lists
//! are cut after [`MAX_LINES`] items with a pointer to `report.json`.

use super::{Class, FileKind, FileReport, FileState, KeyRange, Report, Requeue};
use crate::vocab::text::{printable, printable_bytes};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt::Write;

/// Items shown per list (damaged ranges, requeue items) before the rest is
/// left to the report.
pub const MAX_LINES: usize = 20;
/// Characters of a key shown before it is cut with `...`.
pub const KEY_CHARS: usize = 48;

/// Whether to colour, decided once for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };

    /// Colour for stdout: only on a terminal, never with `NO_COLOR` set (any
    /// value, even empty) or `TERM=dumb`.
    pub fn for_stdout() -> Style {
        use std::io::IsTerminal;
        Style {
            color: color_wanted(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").is_some(),
                std::env::var_os("TERM").is_some_and(|t| t == "dumb"),
            ),
        }
    }

    fn paint(&self, sgr: &str, s: &str) -> String {
        if self.color && !s.is_empty() {
            format!("\x1b[{sgr}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }

    /// A damage class word (or a count of that class, when non-zero) in its
    /// colour: garbled red, torn yellow.
    pub fn class(&self, c: Class, s: &str) -> String {
        match c {
            Class::Torn => self.yellow(s),
            Class::Garbled => self.red(s),
        }
    }
}

/// The colour decision, apart from the environment so it can be tested.
pub fn color_wanted(stdout_is_terminal: bool, no_color_set: bool, term_dumb: bool) -> bool {
    stdout_is_terminal && !no_color_set && !term_dumb
}

pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A key for people: quoted text when it is valid UTF-8 (control characters
/// escaped), `base64:…` otherwise, cut after [`KEY_CHARS`] characters with
/// `...`. The exact bytes are in the report.
pub fn show_key(b: &[u8]) -> String {
    let (s, prefix) = match std::str::from_utf8(b) {
        Ok(s) => (format!("{s:?}"), ""),
        Err(_) => (STANDARD.encode(b), "base64:"),
    };
    let mut out = String::from(prefix);
    if s.chars().count() > KEY_CHARS {
        out.extend(s.chars().take(KEY_CHARS));
        out.push_str("...");
    } else {
        out.push_str(&s);
    }
    out
}

/// A key range in words: `keys after "a" up to and including "b"`.
pub fn show_key_range(r: &KeyRange) -> String {
    let lo = match &r.first {
        None => "from the first key".to_string(),
        Some(k) if r.first_exclusive => format!("after {}", show_key(k)),
        Some(k) => format!("from {}", show_key(k)),
    };
    let hi = match &r.last {
        None => "to the last key".to_string(),
        Some(k) => format!("up to and including {}", show_key(k)),
    };
    format!("keys {lo} {hi}")
}

fn seq_range(first: u64, last: Option<u64>) -> String {
    match last {
        Some(l) if l == first => format!("write with sequence number {first} (1 write)"),
        Some(l) => format!(
            "writes with sequence numbers {first} to {l} ({} writes)",
            l.saturating_sub(first).saturating_add(1)
        ),
        None => format!("writes from sequence number {first} on (how many is unknown)"),
    }
}

/// Entries lost in a file as far as the damage says: `12`, `12+` when some
/// damaged range does not say, `?` when none does.
fn lost_cell(f: &FileReport) -> String {
    let known: u64 = f.damage.iter().filter_map(|d| d.lost_entries).sum();
    let unknown = f.damage.iter().any(|d| d.lost_entries.is_none());
    match (unknown, known) {
        (false, n) => n.to_string(),
        (true, 0) => "?".to_string(),
        (true, n) => format!("{n}+"),
    }
}

fn has_entries(f: &FileReport) -> bool {
    f.scanned && matches!(f.kind, FileKind::Log | FileKind::Table)
}

/// Right-align `s` in `w` columns, then colour it (so codes do not upset the
/// alignment).
fn cell(style: &Style, s: &str, w: usize, paint: impl Fn(&Style, &str) -> String) -> String {
    let pad = w.saturating_sub(s.chars().count());
    format!("{}{}", " ".repeat(pad), paint(style, s))
}

fn plain(_: &Style, s: &str) -> String {
    s.to_string()
}

/// What the command knows beyond the report: the report files it wrote and
/// the exit status it will return.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub reports: Vec<String>,
    pub exit_code: u8,
}

/// Render the summary.
pub fn render(r: &Report, style: Style, written: &Written) -> String {
    let r = &printable_report(r);
    let written = &Written {
        reports: written
            .reports
            .iter()
            .map(|p| printable(p).into_owned())
            .collect(),
        exit_code: written.exit_code,
    };
    let mut s = String::new();
    table(&mut s, r, &style);
    dialect(&mut s, r, &style);
    store(&mut s, r, &style);
    obfuscation(&mut s, r, &style);
    damage(&mut s, r, &style);
    lost(&mut s, r, &style, written);
    outputs(&mut s, r, &style, written);
    verdict(&mut s, r, &style, written.exit_code);
    s
}

/// The report with everything that came from the input or the command line
/// made printable (see [`crate::vocab::text`]), so that no name can move
/// the cursor or forge a line. A name that is not UTF-8 is shown from its
/// bytes, escaped, instead of with U+FFFD.
fn printable_report(r: &Report) -> Report {
    let mut r = r.clone();
    let mut names: std::collections::HashMap<String, String> = Default::default();
    for f in &mut r.files {
        let shown = match f
            .name_base64
            .as_deref()
            .and_then(|b| STANDARD.decode(b).ok())
        {
            Some(raw) => printable_bytes(&raw),
            None => printable(&f.name).into_owned(),
        };
        if shown != f.name {
            names.insert(f.name.clone(), shown.clone());
        }
        f.name = match &f.store {
            // Several stores in one run: the store tells same-named files apart.
            Some(st) => format!("{}/{shown}", printable(st)),
            None => shown,
        };
        f.path = printable(&f.path).into_owned();
        fix(&mut f.error);
        for d in &mut f.damage {
            d.reason = printable(&d.reason).into_owned();
        }
    }
    let name = |n: &mut String| {
        *n = match names.get(n.as_str()) {
            Some(shown) => shown.clone(),
            None => printable(n).into_owned(),
        }
    };
    let in_store = |file: &mut String, store: &Option<String>| {
        if let Some(st) = store {
            *file = format!("{}/{file}", printable(st));
        }
    };
    for l in &mut r.lost.sequence_ranges {
        name(&mut l.file);
        in_store(&mut l.file, &l.store);
        l.reason = printable(&l.reason).into_owned();
    }
    for l in r.lost.key_ranges.iter_mut().flatten() {
        name(&mut l.file);
        in_store(&mut l.file, &l.store);
        l.reason = printable(&l.reason).into_owned();
    }
    for q in r.requeue.iter_mut().flatten() {
        let (Requeue::SequenceRange {
            file,
            reason,
            store,
            ..
        }
        | Requeue::KeyRange {
            file,
            reason,
            store,
            ..
        }
        | Requeue::Key {
            file,
            reason,
            store,
            ..
        }) = q;
        name(file);
        in_store(file, store);
        *reason = printable(reason).into_owned();
    }
    if let Some(st) = &mut r.store {
        fix(&mut st.current);
        fix(&mut st.current_error);
        fix(&mut st.manifest);
        fix(&mut st.comparator);
    }
    if let Some(c) = &mut r.salvage {
        c.out = printable(&c.out).into_owned();
        if let Some(rb) = &mut c.rebuilt {
            rb.path = printable(&rb.path).into_owned();
        }
    }
    for i in &mut r.input {
        *i = printable(i).into_owned();
    }
    r
}

fn fix(s: &mut Option<String>) {
    if let Some(v) = s {
        *v = printable(v).into_owned();
    }
}

const HEAD: [&str; 10] = [
    "file",
    "kind",
    "state",
    "size",
    "intact",
    "torn",
    "garbled",
    "entries",
    "lost",
    "unverified",
];

fn table(s: &mut String, r: &Report, st: &Style) {
    let name_w = r
        .files
        .iter()
        .map(|f| f.name.chars().count())
        .chain([HEAD[0].len(), "total".len()])
        .max()
        .unwrap_or(5);
    let w = [name_w, 8, 8, 10, 7, 6, 8, 8, 6, 10];
    let mut head = String::new();
    for (i, h) in HEAD.iter().enumerate() {
        if i > 0 {
            head.push_str("  ");
        }
        if i < 3 {
            let _ = write!(head, "{h:<width$}", width = w[i]);
        } else {
            let _ = write!(head, "{h:>width$}", width = w[i]);
        }
    }
    let _ = writeln!(s, "{}", st.bold(head.trim_end()));
    for f in &r.files {
        let mut line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
            f.name,
            f.kind.as_str(),
            f.state.map_or("-", FileState::as_str),
            human_size(f.size),
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        );
        if f.scanned {
            let c = &f.records;
            let _ = write!(
                line,
                "  {}  {}  {}",
                cell(st, &c.intact.to_string(), w[4], plain),
                cell(st, &c.torn.to_string(), w[5], |st, x| if c.torn > 0 {
                    st.yellow(x)
                } else {
                    x.to_string()
                }),
                cell(st, &c.garbled.to_string(), w[6], |st, x| if c.garbled > 0 {
                    st.red(x)
                } else {
                    x.to_string()
                }),
            );
            if has_entries(f) {
                let _ = write!(
                    line,
                    "  {:>w7$}  {:>w8$}  {:>w9$}",
                    f.entries,
                    lost_cell(f),
                    f.unverified_entries,
                    w7 = w[7],
                    w8 = w[8],
                    w9 = w[9]
                );
            } else {
                let _ = write!(
                    line,
                    "  {:>w7$}  {:>w8$}  {:>w9$}",
                    "-",
                    "-",
                    "-",
                    w7 = w[7],
                    w8 = w[8],
                    w9 = w[9]
                );
            }
        } else {
            let _ = write!(
                line,
                "  {:>w4$}  {:>w5$}  {:>w6$}  {:>w7$}  {:>w8$}  {:>w9$}",
                "-",
                "-",
                "-",
                "-",
                "-",
                "-",
                w4 = w[4],
                w5 = w[5],
                w6 = w[6],
                w7 = w[7],
                w8 = w[8],
                w9 = w[9]
            );
        }
        let _ = writeln!(s, "{}", line.trim_end());
        if let Some(e) = &f.error {
            let _ = writeln!(s, "  ! {}: {}", f.name, st.red(e));
        }
    }
    let t = &r.summary;
    let lost_known: u64 = r
        .files
        .iter()
        .flat_map(|f| &f.damage)
        .filter_map(|d| d.lost_entries)
        .sum();
    let lost_unknown = r
        .files
        .iter()
        .filter(|f| has_entries(f))
        .flat_map(|f| &f.damage)
        .any(|d| d.lost_entries.is_none());
    let lost_total = match (lost_unknown, lost_known) {
        (false, n) => n.to_string(),
        (true, 0) => "?".to_string(),
        (true, n) => format!("{n}+"),
    };
    let line = format!(
        "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}  {:>w5$}  {:>w6$}  {:>w7$}  {:>w8$}  {:>w9$}",
        "total",
        format!("{} files", t.files),
        "",
        human_size(t.bytes),
        t.records.intact,
        t.records.torn,
        t.records.garbled,
        t.entries,
        lost_total,
        t.unverified_entries,
        w0 = w[0],
        w1 = w[1],
        w2 = w[2],
        w3 = w[3],
        w4 = w[4],
        w5 = w[5],
        w6 = w[6],
        w7 = w[7],
        w8 = w[8],
        w9 = w[9]
    );
    let _ = writeln!(s, "{}", st.bold(&line));
    let units = if r.files.iter().any(|f| f.kind == FileKind::Blob) {
        "intact/torn/garbled count log records and MANIFEST edits, data blocks for tables, \
         records for blob files;"
    } else {
        "intact/torn/garbled count log records and MANIFEST edits, data blocks for tables;"
    };
    let _ = writeln!(s, "{}", st.dim(units));
    let _ = writeln!(
        s,
        "{}",
        st.dim(
            "entries: intact (exported); lost: in damaged units (? unknown, N+ at least N); \
             unverified: read from damaged bytes."
        )
    );
}

fn damage(s: &mut String, r: &Report, st: &Style) {
    let damaged: Vec<&FileReport> = r.files.iter().filter(|f| !f.damage.is_empty()).collect();
    if damaged.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n{}", st.bold("Damage"));
    let mut shown = 0usize;
    let total: usize = damaged.iter().map(|f| f.damage.len()).sum();
    'outer: for f in damaged {
        for d in &f.damage {
            if shown == MAX_LINES {
                break 'outer;
            }
            shown += 1;
            let mut line = format!(
                "  {}  {}  {} bytes at offset {}: {}",
                f.name,
                st.class(d.class, d.class.as_str()),
                d.length,
                d.offset,
                d.reason
            );
            match d.lost_entries {
                Some(0) => line.push_str(" (no entries lost)"),
                Some(1) => line.push_str(" (1 entry lost)"),
                Some(n) => {
                    let _ = write!(line, " ({n} entries lost)");
                }
                None => {}
            }
            let _ = writeln!(s, "{line}");
        }
    }
    if total > shown {
        let _ = writeln!(
            s,
            "  ... and {} more damaged ranges (all of them are in the report's files[].damage)",
            total - shown
        );
    }
}

/// One thing to requeue, in words.
fn requeue_line(q: &Requeue) -> String {
    match q {
        Requeue::SequenceRange {
            first,
            last,
            file,
            reason,
            time,
            ..
        } => format!(
            "{} in {file}: {reason}\n    {}",
            seq_range(*first, *last),
            written_when(time)
        ),
        Requeue::KeyRange {
            range,
            file,
            reason,
            ..
        } => format!("{} in {file}: {reason}", show_key_range(range)),
        Requeue::Key {
            key, file, reason, ..
        } => {
            format!("the key {} in {file}: {reason}", show_key(&key.0))
        }
    }
}

/// Which writer made the store, when it is not plain C++ LevelDB: the
/// export's extra fields and the rebuild's format follow from it, so the
/// reader should see it, and why it was decided.
fn dialect(s: &mut String, r: &Report, st: &Style) {
    let infos: Vec<&crate::report::StoreInfo> = match (&r.store, &r.stores) {
        (Some(i), _) => vec![i],
        (None, Some(v)) => v.iter().collect(),
        (None, None) => Vec::new(),
    };
    // Files whose own writer is not their store's, by store (the path
    // their report entries carry when the run covered several stores).
    let odd = |i: &crate::report::StoreInfo| -> Vec<&FileReport> {
        r.files
            .iter()
            .filter(|f| f.dialect.is_some() && f.store == i.path)
            .collect()
    };
    let shown: Vec<_> = infos
        .iter()
        .filter(|i| (i.dialect.supported && i.dialect.name != "leveldb") || !odd(i).is_empty())
        .collect();
    if shown.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n{}", st.bold("Writer"));
    for i in shown {
        let at = i
            .path
            .as_deref()
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        let _ = writeln!(s, "  {at}{} store", i.dialect.name);
        for e in i.dialect.evidence.iter().take(3) {
            let _ = writeln!(s, "    {e}");
        }
        let files = odd(i);
        if !files.is_empty() {
            let _ = writeln!(
                s,
                "  {} file(s) written by another writer than the store's:",
                files.len()
            );
        }
        for f in files.iter().take(MAX_LINES) {
            if let Some(d) = &f.dialect {
                let _ = writeln!(
                    s,
                    "    {}: {} ({})",
                    f.name,
                    d.name,
                    printable(&d.evidence.join("; "))
                );
            }
        }
        if files.len() > MAX_LINES {
            let _ = writeln!(s, "    ... and {} more", files.len() - MAX_LINES);
        }
    }
}

/// A lost range's time window in words (the evidence is in the report).
fn written_when(t: &crate::report::TimeWindow) -> String {
    let show = |s: &str| printable(s).into_owned();
    match (&t.from, &t.to) {
        (Some(f), Some(to)) => format!("written between {} and {}", show(f), show(to)),
        (None, Some(to)) => format!("written before {} (nothing dates the start)", show(to)),
        (Some(f), None) => format!("written after {} (nothing dates the end)", show(f)),
        (None, None) => "written at a time nothing in the store dates".to_string(),
    }
}

/// What is state and what is history, when that is not simply "every file
/// is live": files the store itself deleted or superseded, orphans, and a
/// store whose MANIFEST could not say.
fn store(s: &mut String, r: &Report, st: &Style) {
    let infos: Vec<&crate::report::StoreInfo> = match (&r.store, &r.stores) {
        (Some(i), _) => vec![i],
        (None, Some(v)) => v.iter().collect(),
        (None, None) => Vec::new(),
    };
    let notes: Vec<&str> = infos.iter().filter_map(|i| i.note.as_deref()).collect();
    let of = |want: &dyn Fn(FileState) -> bool| -> Vec<&FileReport> {
        r.files
            .iter()
            .filter(|f| matches!(f.kind, FileKind::Log | FileKind::Table))
            .filter(|f| f.state.is_some_and(want))
            .collect()
    };
    let history = of(&FileState::is_history);
    let orphans = of(&|s| s == FileState::Orphan);
    if notes.is_empty() && history.is_empty() && orphans.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n{}", st.bold("State and history"));
    for n in notes {
        let _ = writeln!(s, "  {n}.");
    }
    if !history.is_empty() {
        let _ = writeln!(
            s,
            "  {} file(s) are history, never part of the latest view or a rebuilt store \
             (in --view all, marked with their state):",
            history.len()
        );
        for f in history.iter().take(MAX_LINES) {
            let state = f.state.map_or("-", FileState::as_str);
            let why = f.state_reason.as_deref().unwrap_or("");
            let _ = writeln!(s, "    {}  {state}: {why}", f.name);
        }
        if history.len() > MAX_LINES {
            let _ = writeln!(s, "    ... and {} more", history.len() - MAX_LINES);
        }
    }
    if !orphans.is_empty() {
        let names: Vec<&str> = orphans.iter().map(|f| f.name.as_str()).collect();
        let _ = writeln!(
            s,
            "  {} orphan table(s), named by no MANIFEST edit, only fill in keys no live file \
             holds intact (flagged \"from_orphan\"): {}",
            orphans.len(),
            names.join(", ")
        );
    }
}

/// Bitcoin Core's obfuscated values are never transformed silently: the
/// summary says they are exported as stored, and how to get them back.
fn obfuscation(s: &mut String, r: &Report, st: &Style) {
    let infos: Vec<&crate::report::StoreInfo> = match (&r.store, &r.stores) {
        (Some(i), _) => vec![i],
        (None, Some(v)) => v.iter().collect(),
        (None, None) => Vec::new(),
    };
    let deobfuscated = r.salvage.as_ref().is_some_and(|c| c.deobfuscated);
    for (info, o) in infos
        .iter()
        .filter_map(|i| i.obfuscation.as_ref().map(|o| (i, o)))
    {
        let _ = writeln!(s, "\n{}", st.bold("Bitcoin Core obfuscation"));
        let _ = writeln!(
            s,
            "  Dialect {}: values are XORed with the key {} (stored in {}).",
            info.dialect.name, o.key_hex, o.file
        );
        if deobfuscated {
            let _ = writeln!(
                s,
                "  Exported as stored in \"value\", XORed back in \"value_deobfuscated\"; \
                 a rebuilt store keeps them as stored."
            );
        } else {
            let _ = writeln!(
                s,
                "  salvage exports the values as stored (obfuscated); with --deobfuscate it also \
                 writes them XORed back as \"value_deobfuscated\"."
            );
        }
    }
}

fn lost(s: &mut String, r: &Report, st: &Style, written: &Written) {
    // Both commands build the same requeue list. Ranges get a line each;
    // keys (one per key read from damaged bytes, possibly thousands) one
    // line for all of them.
    let all: Vec<Requeue> = r.requeue.clone().unwrap_or_default();
    let keys = all
        .iter()
        .filter(|q| matches!(q, Requeue::Key { .. }))
        .count();
    let items: Vec<Requeue> = all
        .into_iter()
        .filter(|q| !matches!(q, Requeue::Key { .. }))
        .collect();
    let unverified = r.summary.unverified_entries;
    let suspect = r.salvage.as_ref().map_or(0, |c| c.suspect_newer_keys);
    let unresolved = r.salvage.as_ref().map_or(0, |c| c.unresolved_blob_values);
    let store_lost = r
        .store
        .as_ref()
        .is_some_and(|i| !i.missing_tables.is_empty() || !i.missing_blob_files.is_empty());
    if items.is_empty()
        && keys == 0
        && unverified == 0
        && suspect == 0
        && unresolved == 0
        && !store_lost
    {
        return;
    }
    let _ = writeln!(s, "\n{}", st.bold("What was lost, and what to requeue"));
    if items.is_empty() && keys == 0 {
        let _ = writeln!(
            s,
            "  No lost writes could be located by sequence number or key."
        );
    }
    for q in items.iter().take(MAX_LINES) {
        let _ = writeln!(s, "  - {}", requeue_line(q));
    }
    if items.len() > MAX_LINES {
        let _ = writeln!(
            s,
            "  ... and {} more (all of them are in the report)",
            items.len() - MAX_LINES
        );
    }
    if keys > 0 {
        let _ = writeln!(
            s,
            "  - {keys} keys to re-fetch: a write of each was read from damaged bytes (\"key\" items)"
        );
    }
    let missing_blobs: Vec<&crate::report::MissingBlobFile> = r
        .store
        .iter()
        .chain(r.stores.iter().flatten())
        .flat_map(|i| &i.missing_blob_files)
        .collect();
    if !missing_blobs.is_empty() {
        let _ = writeln!(
            s,
            "  {} blob file(s) the MANIFEST holds live are missing ({}): the values they held \
             are exported unresolved (\"blob\": {{\"unresolved\": ...}}).",
            missing_blobs.len(),
            missing_blobs
                .iter()
                .take(MAX_LINES)
                .map(|b| crate::format::filename::blob_name(b.number))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if unverified > 0 {
        let whose = if r.salvage.is_some() {
            "they are kept"
        } else {
            "salvage keeps them"
        };
        let _ = writeln!(
            s,
            "  {unverified} entries were read from damaged bytes: {whose} apart in unverified.jsonl,\n  \
             never in records.jsonl. Check them before trusting any."
        );
    }
    if unresolved > 0 {
        let _ = writeln!(
            s,
            "  {unresolved} blob-index values could not be read from their blob files: their lines\n  \
             keep the raw index, and \"blob\".\"unresolved\" says why."
        );
    }
    if suspect > 0 {
        let _ = writeln!(
            s,
            "  {suspect} keys in records.jsonl are flagged \"suspect_newer\": a newer write of them\n  \
             was among the damaged bytes, so their exported value may be stale."
        );
    }
    if !items.is_empty() || keys > 0 {
        match (r.requeue.is_some(), written.reports.first()) {
            (true, Some(p)) => {
                let _ = writeln!(
                    s,
                    "  For a replay job: jq -c '.requeue[]' {}",
                    shell_word(p)
                );
            }
            (true, None) | (false, _) => {
                let _ = writeln!(
                    s,
                    "  For a replay job: write the report (--report FILE), then jq -c '.requeue[]' FILE"
                );
            }
        }
    }
}

/// Quote a path for pasting into a shell when it needs it.
fn shell_word(p: &str) -> String {
    let safe = !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@%=".contains(&b));
    if safe {
        p.to_string()
    } else {
        format!("'{}'", p.replace('\'', r"'\''"))
    }
}

fn outputs(s: &mut String, r: &Report, st: &Style, written: &Written) {
    let mut lines: Vec<(String, String)> = Vec::new();
    if let Some(c) = &r.salvage {
        // "all view" (file order, as before) or "all view, seq order".
        let view = match c.order {
            Some("seq") => format!("{} view, seq order", c.view),
            _ => format!("{} view", c.view),
        };
        if c.out == "-" {
            lines.push((
                "records.jsonl".into(),
                format!("stdout: {} records, {view}", c.records),
            ));
        } else {
            let dir = std::path::Path::new(&c.out);
            if c.view != "none" {
                lines.push((
                    "records.jsonl".into(),
                    format!(
                        "{}  ({} records, {view})",
                        dir.join("records.jsonl").display(),
                        c.records,
                    ),
                ));
            }
            lines.push((
                "unverified.jsonl".into(),
                format!(
                    "{}  ({} entries)",
                    dir.join("unverified.jsonl").display(),
                    c.unverified
                ),
            ));
        }
        if let Some(rb) = &c.rebuilt {
            lines.push((
                "rebuilt store".into(),
                format!(
                    "{}  ({}{} {}, last sequence {})",
                    rb.path,
                    rb.keys
                        .map_or_else(String::new, |k| format!("{k} keys in ")),
                    rb.tables,
                    if rb.tables == 1 { "table" } else { "tables" },
                    rb.last_sequence
                ),
            ));
            lines.push((
                "rebuilt as".into(),
                match &rb.reason {
                    None => format!(
                        "repair: {} table(s) kept as they were, {} written anew ({} puts, {} deletes)",
                        rb.kept_tables, rb.new_tables, rb.written_keys, rb.tombstones
                    ),
                    Some(why) => format!("the latest view, written anew: {why}"),
                },
            ));
        }
    }
    for p in &written.reports {
        lines.push(("report.json".into(), p.clone()));
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n{}", st.bold("Outputs"));
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in lines {
        let _ = writeln!(s, "  {k:<w$}  {v}");
    }
}

fn verdict(s: &mut String, r: &Report, st: &Style, code: u8) {
    s.push('\n');
    let readable = r.files.iter().any(|f| f.scanned && f.error.is_none());
    if !readable {
        let _ = writeln!(
            s,
            "{}",
            st.red(&format!(
                "Nothing readable in {} file(s) (exit status {code}).",
                r.files.len()
            ))
        );
    } else if !r.has_damage() {
        let _ = writeln!(
            s,
            "{}",
            st.green(&format!("No damage found (exit status {code})."))
        );
    } else {
        let missing = r.missing_live_files();
        let found = match (r.summary.damaged_files, missing) {
            (d, 0) => format!("Damage found in {d} of {} files", r.summary.files),
            (0, m) => format!("Damage found: {m} live file(s) the MANIFEST names are missing"),
            (d, m) => format!(
                "Damage found in {d} of {} files, and {m} live file(s) the MANIFEST names are missing",
                r.summary.files
            ),
        };
        let _ = writeln!(
            s,
            "{} {}",
            st.red(&format!("{found} (exit status {code}).")),
            if r.salvage.is_some() {
                "Every intact entry was exported."
            } else {
                "Nothing was written but the report."
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Damage, Lost, LostSeqRange};

    fn file(name: &str, kind: FileKind, damage: Vec<Damage>) -> FileReport {
        let mut records = crate::report::Counts {
            intact: 3,
            ..Default::default()
        };
        for d in &damage {
            records.add(Some(d.class));
        }
        FileReport {
            name: name.into(),
            name_base64: None,
            store: None,
            path: format!("db/{name}"),
            path_base64: None,
            kind,
            state: Some(FileState::Live),
            state_reason: None,
            dialect: None,
            size: 4096,
            records,
            blocks: None,
            entries: 7,
            unverified_entries: if damage.is_empty() { 0 } else { 2 },
            sequences: None,
            damage,
            error: None,
            scanned: true,
        }
    }

    fn damaged_report() -> Report {
        let mut d = Damage::new(180, 309, Class::Garbled, "checksum mismatch");
        d.lost_entries = Some(5);
        let t = Damage::new(900, 100, Class::Torn, "record cut short by end of file");
        let lost = Lost {
            sequence_ranges: vec![LostSeqRange {
                first: 84,
                last: Some(88),
                writes: Some(5),
                file: "000004.log".into(),
                store: None,
                reason: "checksum mismatch".into(),
                time: window(),
            }],
            ..Default::default()
        };
        let mut r = Report::new(
            vec!["db".into()],
            vec![file("000004.log", FileKind::Log, vec![d, t])],
            lost,
        );
        r.requeue = Some(vec![Requeue::SequenceRange {
            first: 84,
            last: Some(88),
            file: "000004.log".into(),
            store: None,
            reason: "checksum mismatch".into(),
            time: window(),
        }]);
        r
    }

    fn window() -> crate::report::TimeWindow {
        crate::report::TimeWindow {
            from: None,
            to: Some("2026-12-02T07:18:51.674222Z".into()),
            from_evidence: "nothing dates the start".into(),
            to_evidence: "mtime of 000004.log".into(),
        }
    }

    #[test]
    fn a_lost_range_shows_its_window() {
        let plain = render(&damaged_report(), Style::PLAIN, &Written::default());
        assert!(
            plain.contains(
                "in 000004.log: checksum mismatch\n    written before 2026-12-02T07:18:51.674222Z \
                 (nothing dates the start)\n"
            ),
            "{plain}"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(color_wanted(true, false, false));
        assert!(!color_wanted(false, false, false));
        assert!(!color_wanted(true, true, false));
        assert!(!color_wanted(true, false, true));
    }

    #[test]
    fn plain_has_no_escapes_and_colour_does() {
        let r = damaged_report();
        let plain = render(
            &r,
            Style::PLAIN,
            &Written {
                exit_code: 1,
                ..Default::default()
            },
        );
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(
            plain.contains("garbled  309 bytes at offset 180"),
            "{plain}"
        );
        assert!(
            plain.contains("writes with sequence numbers 84 to 88 (5 writes) in 000004.log"),
            "{plain}"
        );
        // 5 known lost entries plus a torn range that does not say.
        assert!(plain.contains("5+"), "{plain}");
        assert!(plain.contains("Damage found in 1 of 1 files (exit status 1)."));
        let colour = render(
            &r,
            Style { color: true },
            &Written {
                exit_code: 1,
                ..Default::default()
            },
        );
        assert!(colour.contains("\x1b[31mgarbled\x1b[0m"), "{colour}");
        assert!(colour.contains("\x1b[33mtorn\x1b[0m"), "{colour}");
    }

    #[test]
    fn healthy_says_so() {
        let r = Report::new(
            vec!["db".into()],
            vec![file("000003.log", FileKind::Log, vec![])],
            Lost::default(),
        );
        let plain = render(
            &r,
            Style::PLAIN,
            &Written {
                exit_code: 0,
                ..Default::default()
            },
        );
        assert!(
            plain.contains("No damage found (exit status 0)."),
            "{plain}"
        );
        assert!(!plain.contains("What was lost"), "{plain}");
        let colour = render(
            &r,
            Style { color: true },
            &Written {
                exit_code: 0,
                ..Default::default()
            },
        );
        assert!(colour.contains("\x1b[32mNo damage found"), "{colour}");
    }

    #[test]
    fn keys_as_text_or_base64_and_cut() {
        assert_eq!(show_key(b"acct:012"), "\"acct:012\"");
        assert_eq!(show_key(&[0xff, 0x00, 0x01]), "base64:/wAB");
        assert_eq!(show_key(b"a\0b"), "\"a\\0b\"");
        let long = vec![b'k'; 200];
        let s = show_key(&long);
        assert!(
            s.ends_with("...") && s.chars().count() == KEY_CHARS + 3,
            "{s}"
        );
        let r = KeyRange {
            first: Some(b"a".to_vec()),
            first_exclusive: true,
            last: None,
        };
        assert_eq!(show_key_range(&r), "keys after \"a\" to the last key");
    }

    #[test]
    fn long_lists_are_cut() {
        let mut r = damaged_report();
        r.files[0].damage = (0..50)
            .map(|i| Damage::new(i * 10, 5, Class::Garbled, "checksum mismatch"))
            .collect();
        let plain = render(
            &r,
            Style::PLAIN,
            &Written {
                exit_code: 1,
                ..Default::default()
            },
        );
        assert!(plain.contains("... and 30 more damaged ranges"), "{plain}");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("/srv/out/report.json"), "/srv/out/report.json");
        assert_eq!(shell_word("/srv/my out/r.json"), "'/srv/my out/r.json'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
