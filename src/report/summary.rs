//! The human summary printed after a run: one line per file, totals, and in
//! plain words what was lost.

use super::Report;
use std::fmt::Write;

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

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let w = r
        .files
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        s,
        "{:<w$}  {:<8}  {:<8}  {:>10}  {:>8}  {:>6}  {:>7}  {:>8}",
        "file", "kind", "state", "size", "intact", "torn", "garbled", "entries"
    );
    for f in &r.files {
        let counts = if f.scanned {
            format!(
                "{:>8}  {:>6}  {:>7}  {:>8}",
                f.records.intact, f.records.torn, f.records.garbled, f.entries
            )
        } else {
            format!("{:>8}  {:>6}  {:>7}  {:>8}", "-", "-", "-", "-")
        };
        let _ = writeln!(
            s,
            "{:<w$}  {:<8}  {:<8}  {:>10}  {}",
            f.name,
            f.kind,
            f.state.unwrap_or("-"),
            human_size(f.size),
            counts
        );
        if let Some(e) = &f.error {
            let _ = writeln!(s, "  ! {e}");
        }
    }
    let t = &r.summary;
    let _ = writeln!(
        s,
        "{:<w$}  {:<8}  {:<8}  {:>10}  {:>8}  {:>6}  {:>7}  {:>8}",
        "total",
        format!("{} files", t.files),
        "",
        human_size(t.bytes),
        t.records.intact,
        t.records.torn,
        t.records.garbled,
        t.entries
    );
    s.push('\n');
    let damaged: Vec<_> = r.files.iter().filter(|f| !f.damage.is_empty()).collect();
    if damaged.is_empty() && !r.has_damage() {
        let _ = writeln!(s, "No damage found.");
        return s;
    }
    for f in damaged {
        for d in &f.damage {
            let _ = write!(
                s,
                "{}: {} bytes {} at offset {} ({})",
                f.name,
                d.length,
                d.class.as_str(),
                d.offset,
                d.reason
            );
            if let Some(n) = d.lost_entries {
                let _ = write!(s, ", {n} entries lost");
            }
            s.push('\n');
        }
    }
    for l in &r.lost.sequence_ranges {
        match l.last {
            Some(last) => {
                let _ = writeln!(
                    s,
                    "Lost writes: sequence {}..={} ({} writes) in {}",
                    l.first,
                    last,
                    last - l.first + 1,
                    l.file
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "Lost writes: sequence {} onwards (how many is unknown) in {}",
                    l.first, l.file
                );
            }
        }
    }
    s
}
