//! Printing a listing as it is produced: one JSON object per row, or a
//! padded table for people followed by the counts and a verdict.
//!
//! JSON lines go out one by one. The table's columns are as wide as their
//! widest cell among the first [`MEASURED_ROWS`] rows, so a listing of up to
//! that many rows is laid out exactly as if all were measured; past it the
//! widths stay fixed and a longer cell pushes the rest of its line right
//! (the columns stay separated by two spaces). Only those first rows are
//! held, and only their cells.

use super::{Format, Head, Row, RowSink, Tail};
use crate::report::summary::{human_size, Style};
use crate::report::Class;
use crate::vocab::text::printable;
use serde_json::Value;
use std::io::{self, Write};

/// Rows whose cells set the text table's column widths.
pub const MEASURED_ROWS: usize = 10_000;

/// A row of the text table: its cells (with the class word), its class for
/// the colour, and the lines under it.
struct TextRow {
    cells: Vec<String>,
    class: Option<Class>,
    more: Vec<String>,
}

/// Writes rows as they come; remembers the first write error and writes
/// nothing after it.
pub(super) struct Writer<'w> {
    out: &'w mut dyn Write,
    format: Format<'w>,
    head: Option<Head>,
    /// Text rows waiting for the column widths to be fixed.
    waiting: Vec<TextRow>,
    widths: Option<Vec<usize>>,
    /// Rows measured before the widths are fixed: [`MEASURED_ROWS`].
    measured: usize,
    error: Option<io::Error>,
}

impl<'w> Writer<'w> {
    pub(super) fn new(out: &'w mut dyn Write, format: Format<'w>) -> Self {
        Writer {
            out,
            format,
            head: None,
            waiting: Vec::new(),
            widths: None,
            measured: MEASURED_ROWS,
            error: None,
        }
    }

    fn attempt(&mut self, f: impl FnOnce(&mut dyn Write, &Head, &[usize]) -> io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        let (Some(head), Some(w)) = (&self.head, &self.widths) else {
            return;
        };
        if let Err(e) = f(&mut *self.out, head, w) {
            self.error = Some(e);
        }
    }

    /// Fix the widths from the waiting rows, print the title, the column
    /// titles and those rows.
    fn settle(&mut self) {
        let (Format::Text(st), Some(head)) = (self.format, &self.head) else {
            return;
        };
        if self.widths.is_some() {
            return;
        }
        let ncol = head.columns.len();
        let mut w: Vec<usize> = head.columns.iter().map(|c| c.len()).collect();
        for r in &self.waiting {
            for (i, c) in r.cells.iter().enumerate().take(ncol.saturating_sub(1)) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        self.widths = Some(w);
        let waiting = std::mem::take(&mut self.waiting);
        self.attempt(|out, head, w| {
            writeln!(
                out,
                "{}",
                st.bold(&format!(
                    "{}: {}, {} ({} bytes)",
                    printable(&head.name),
                    head.kind.as_str(),
                    human_size(head.size),
                    head.size
                ))
            )?;
            let titles = head
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| pad(c, w[i], right(c)))
                .collect::<Vec<_>>()
                .join("  ");
            writeln!(out, "{}", st.bold(titles.trim_end()))?;
            for r in &waiting {
                text_row(out, head, w, st, r)?;
            }
            Ok(())
        });
    }

    /// Write what is left, the notes and the verdict; the first write error.
    pub(super) fn finish(mut self, tail: &Tail) -> io::Result<()> {
        if let Format::Text(st) = self.format {
            self.settle();
            self.attempt(|out, _, _| {
                writeln!(out)?;
                for n in &tail.notes {
                    writeln!(out, "{}", printable(n))?;
                }
                if tail.damaged {
                    writeln!(
                        out,
                        "{}",
                        st.red(
                            "Damage found (exit status 1): see the torn and garbled rows above."
                        )
                    )
                } else {
                    writeln!(out, "{}", st.green("No damage found (exit status 0)."))
                }
            });
        }
        self.attempt(|out, _, _| out.flush());
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl RowSink for Writer<'_> {
    fn begin(&mut self, head: &Head) {
        self.head = Some(head.clone());
        if let Format::Json = self.format {
            self.widths = Some(Vec::new());
        }
    }

    fn row(&mut self, r: Row) {
        let st = match self.format {
            Format::Json => {
                self.attempt(|out, _, _| {
                    serde_json::to_writer(&mut *out, &r.json)?;
                    out.write_all(b"\n")
                });
                return;
            }
            Format::Text(st) => st,
        };
        let Some(head) = &self.head else {
            return;
        };
        // Cells quote what the file holds (keys, a comparator's name): no
        // byte of it may reach the terminal as a control character.
        let mut cells: Vec<String> = r.cells.iter().map(|c| printable(c).into_owned()).collect();
        if let Some(i) = head.columns.iter().position(|c| *c == "class") {
            cells[i] = match r.class {
                None if r.json.get("unit").and_then(Value::as_str) == Some("gap") => "-",
                None => "intact",
                Some(c) => c.as_str(),
            }
            .to_string();
        }
        let t = TextRow {
            cells,
            class: r.class,
            more: r.more.iter().map(|m| printable(m).into_owned()).collect(),
        };
        if self.widths.is_none() {
            self.waiting.push(t);
            if self.waiting.len() >= self.measured {
                self.settle();
            }
            return;
        }
        self.attempt(|out, head, w| text_row(out, head, w, st, &t));
    }
}

/// Offsets, lengths and counts are right-aligned.
fn right(name: &str) -> bool {
    matches!(name, "offset" | "length" | "seq" | "count" | "entries")
}

fn text_row(
    out: &mut dyn Write,
    head: &Head,
    w: &[usize],
    st: &Style,
    r: &TextRow,
) -> io::Result<()> {
    let class_col = head.columns.iter().position(|c| *c == "class");
    let ncol = head.columns.len();
    let mut line = String::new();
    for (i, cell) in r.cells.iter().enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let last = i + 1 == ncol;
        let text = if last {
            cell.clone()
        } else {
            pad(cell, w[i], right(head.columns[i]))
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
    let indent: usize = w[..class_col.unwrap_or(0)].iter().map(|x| x + 2).sum();
    for m in &r.more {
        writeln!(out, "{}{m}", " ".repeat(indent))?;
    }
    Ok(())
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
    use super::super::InspectKind;
    use super::*;

    fn row(offset: u64, edit: &str) -> Row {
        Row {
            offset,
            length: 1,
            class: None,
            json: serde_json::Map::new(),
            cells: vec![offset.to_string(), "1".into(), String::new(), edit.into()],
            more: Vec::new(),
        }
    }

    /// The text of rows with offsets `offsets`, widths measured on `measured`.
    fn text(offsets: &[u64], measured: usize) -> String {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, Format::Text(&Style::PLAIN));
        w.measured = measured;
        w.begin(&Head {
            name: "MANIFEST-000001".into(),
            kind: InspectKind::Manifest,
            size: 5,
            columns: vec!["offset", "length", "class", "edit"],
        });
        for &o in offsets {
            w.row(row(o, "e"));
        }
        let tail = Tail {
            counts: Default::default(),
            notes: vec!["note".into()],
            damaged: false,
        };
        w.finish(&tail).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn widths_come_from_the_measured_rows() {
        let rows = [1, 2, 1234567890];
        // All rows measured: the offset column fits the widest.
        let all = text(&rows, 10);
        assert!(
            all.contains("\n    offset  length  class   edit\n"),
            "{all}"
        );
        assert!(all.contains("\n         1       1  intact  e\n"), "{all}");
        assert!(all.contains("\n1234567890       1  intact  e\n"), "{all}");
        // Fewer measured than written: the late wide cell pushes its line.
        let two = text(&rows, 2);
        assert!(two.contains("\noffset  length  class   edit\n"), "{two}");
        assert!(two.contains("\n     1       1  intact  e\n"), "{two}");
        assert!(two.contains("\n1234567890       1  intact  e\n"), "{two}");
        assert!(
            two.ends_with("\nnote\nNo damage found (exit status 0).\n"),
            "{two}"
        );
        // Exactly as many rows as measured: laid out as if all were.
        assert_eq!(text(&rows, 3), all);
    }
}
