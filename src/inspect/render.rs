//! Printing a listing: one JSON object per row, or a padded table for
//! people followed by the counts and a verdict.

use super::{Listing, Row};
use crate::report::summary::{human_size, Style};
use serde_json::Value;
use std::io::{self, Write};

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
        let cells = |r: &Row| -> Vec<String> {
            let mut c = r.cells.clone();
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
                self.name,
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
                writeln!(out, "{}{m}", " ".repeat(indent))?;
            }
        }
        writeln!(out)?;
        for n in &self.notes {
            writeln!(out, "{n}")?;
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

fn pad(s: &str, w: usize, right: bool) -> String {
    let n = w.saturating_sub(s.chars().count());
    if right {
        format!("{}{s}", " ".repeat(n))
    } else {
        format!("{s}{}", " ".repeat(n))
    }
}
