//! One JSON object per line for each exported entry:
//! `{"seq":…,"kind":"put"|"delete","key"|"key_base64":…,"value"|"value_base64":…,"file":…,"offset":…}`
//! with `"suspect_newer":true` (latest view) or `"reason":…` (unverified)
//! when they apply. Lines are built by hand: this is the hot path of a
//! salvage and serde's generic machinery costs more than the bytes.

use crate::format::batch::Kind;
use crate::scan::Entry;
use crate::vocab::bytes::{push_field, push_str};

/// Append one line (with its newline) to `out`.
pub fn push_line(
    out: &mut Vec<u8>,
    e: &Entry<'_>,
    file: &str,
    suspect_newer: bool,
    reason: Option<&str>,
) {
    out.extend_from_slice(b"{\"seq\":");
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(num.format(e.seq).as_bytes());
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(e.kind.as_str().as_bytes());
    out.push(b'"');
    push_field(out, "key", e.key);
    if e.kind == Kind::Put {
        push_field(out, "value", e.value);
    }
    out.extend_from_slice(b",\"file\":");
    push_str(out, file);
    out.extend_from_slice(b",\"offset\":");
    out.extend_from_slice(num.format(e.offset).as_bytes());
    if suspect_newer {
        out.extend_from_slice(b",\"suspect_newer\":true");
    }
    if let Some(r) = reason {
        out.extend_from_slice(b",\"reason\":");
        push_str(out, r);
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_json_with_provenance() {
        let mut out = Vec::new();
        let e = Entry {
            seq: 7,
            kind: Kind::Put,
            key: b"k\"1",
            value: &[0xff, 0],
            offset: 42,
        };
        push_line(&mut out, &e, "000003.log", true, None);
        let d = Entry {
            kind: Kind::Delete,
            value: b"",
            ..e
        };
        push_line(&mut out, &d, "000003.log", false, Some("checksum mismatch"));
        let lines: Vec<serde_json::Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["seq"], 7);
        assert_eq!(lines[0]["kind"], "put");
        assert_eq!(lines[0]["key"], "k\"1");
        assert_eq!(lines[0]["value_base64"], "/wA=");
        assert_eq!(lines[0]["file"], "000003.log");
        assert_eq!(lines[0]["offset"], 42);
        assert_eq!(lines[0]["suspect_newer"], true);
        assert_eq!(lines[1]["kind"], "delete");
        assert!(lines[1].get("value").is_none() && lines[1].get("value_base64").is_none());
        assert_eq!(lines[1]["reason"], "checksum mismatch");
    }
}
