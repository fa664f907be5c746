//! Text from the input (file names, reasons quoting them, comparator names)
//! made safe for a terminal or a log line.
//!
//! A file named `ESC[2J` would clear the screen when the summary names it,
//! and a name holding a newline would print a row of its own that looks like
//! the tool's. So every control character (C0, DEL, C1) is shown as an
//! escape, and so is every byte of a name that is not UTF-8. Anything else,
//! including non-ASCII letters, is shown as it is.

use std::borrow::Cow;
use std::fmt::Write;

fn is_control(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f' | '\u{80}'..='\u{9f}')
}

fn push_escaped(out: &mut String, c: char) {
    if (c as u32) < 0x80 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    }
}

/// `s` with its control characters escaped (`\x1b`, `\x0a`, `\u{9b}`).
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_control(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Raw bytes (a file name as the file system has it) as printable text:
/// bytes that are not UTF-8 as `\xNN`, control characters escaped.
pub fn printable_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(&printable(chunk.valid()));
        for &x in chunk.invalid() {
            let _ = write!(out, "\\x{x:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("000005.ldb"), "000005.ldb");
        assert!(matches!(printable("größe.log"), Cow::Borrowed(_)));
        assert_eq!(printable("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(printable("x\ny\tz\x7f"), "x\\x0ay\\x09z\\x7f");
        assert_eq!(printable("c1\u{9b}2J"), "c1\\u{9b}2J");
        assert_eq!(
            printable_bytes(b"ok\xff\xfe.log\x07"),
            "ok\\xff\\xfe.log\\x07"
        );
    }
}
