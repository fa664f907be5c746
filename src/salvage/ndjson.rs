//! One JSON object per line for each exported entry:
//! `{"seq":…,"kind":"put"|"delete","key"|"key_base64":…,"value"|"value_base64":…,"file":…,"offset":…}`
//! (a RocksDB store adds the kinds `merge`, `single_delete`, `range_delete`
//! with `"end_key"|"end_key_base64"` instead of a value, `blob_index` and
//! `put_entity`, each with their raw value bytes, and `"cf"`: the column
//! family's name, or its id where no name is known; a `blob_index` line
//! also has `"blob"`, the index decoded, and the value it points to in
//! `value` when it could be read, the raw index then in `blob_index`:
//! [`super::blob`])
//! then, when they apply, `"expiry":{"type":2|3,"micros":…}` (Basho's puts
//! with an expiry: 2 = WriteTime, 3 = ExplicitExpiry; kind stays "put"),
//! `"state":…` (a file that is not live),
//! `"suspect_newer":true` and `"from_orphan":true` (latest view),
//! `"reason":…` (unverified), and with `--deobfuscate` on a Bitcoin Core
//! store `"value_deobfuscated"|"value_deobfuscated_base64":…`, `"idb":…` (a Chrome IndexedDB
//! store: the key decoded, see `salvage::idb_field`). Lines are built by hand: this is the hot path of a
//! salvage and serde's generic machinery costs more than the bytes.

use crate::format::batch::Kind;
use crate::scan::Entry;
use crate::vocab::bytes::{push_field_in_pieces, push_str};
use crate::vocab::FileState;

/// What a line says beyond the entry and where it came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Marks<'a> {
    /// The file's state, given when it is not live (`--view all` and
    /// unverified lines: history is exported there, marked).
    pub state: Option<FileState>,
    /// Latest view: a newer unverified write of the key exists.
    pub suspect_newer: bool,
    /// Latest view: supplied by an orphan table, as no live file holds
    /// the key intact.
    pub from_orphan: bool,
    /// The store is Chrome IndexedDB's: the key decoded in an `idb` field.
    pub idb: bool,
    /// The store's blob files (RocksDB): a blob-index line gets its value
    /// from them ([`super::blob`]).
    pub blobs: Option<&'a super::blob::BlobFiles>,
}

impl<'a> Marks<'a> {
    /// The mark of a file in `state` on an all-view or unverified line.
    pub fn of_state(state: FileState) -> Self {
        Marks {
            state: (state != FileState::Live).then_some(state),
            ..Marks::default()
        }
    }

    pub fn with_idb(self, idb: bool) -> Self {
        Marks { idb, ..self }
    }

    pub fn with_blobs(self, blobs: Option<&'a super::blob::BlobFiles>) -> Self {
        Marks { blobs, ..self }
    }
}

/// Append one line (with its newline) to `out`.
pub fn push_line(
    out: &mut Vec<u8>,
    e: &Entry<'_>,
    file: &str,
    marks: Marks<'_>,
    reason: Option<&str>,
) {
    push_line_in_pieces(out, e, file, marks, reason, usize::MAX, &mut |_| {});
}

/// [`push_line`] that hands `out` to `spill` whenever it reaches `full`
/// bytes while a key or value is written: a 64 MiB value of control
/// characters is a 384 MiB line, which is never built whole.
pub fn push_line_in_pieces(
    out: &mut Vec<u8>,
    e: &Entry<'_>,
    file: &str,
    marks: Marks<'_>,
    reason: Option<&str>,
    full: usize,
    spill: &mut dyn FnMut(&mut Vec<u8>),
) {
    out.extend_from_slice(b"{\"seq\":");
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(num.format(e.seq).as_bytes());
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(e.kind.as_str().as_bytes());
    out.push(b'"');
    push_field_in_pieces(out, "key", e.key, full, spill);
    match e.kind {
        Kind::Put => push_field_in_pieces(out, "value", e.value, full, spill),
        Kind::RangeDelete => push_field_in_pieces(out, "end_key", e.value, full, spill),
        Kind::BlobIndex => super::blob::push_fields(out, e, marks.blobs, full, spill),
        k if k.has_value() => push_field_in_pieces(out, "value", e.value, full, spill),
        _ => {}
    }
    if let Some(cf) = e.cf {
        out.extend_from_slice(b",\"cf\":");
        match cf.name {
            Some(n) => push_str(out, n),
            None => out.extend_from_slice(num.format(cf.id).as_bytes()),
        }
    }
    out.extend_from_slice(b",\"file\":");
    push_str(out, file);
    out.extend_from_slice(b",\"offset\":");
    out.extend_from_slice(num.format(e.offset).as_bytes());
    if let Some(x) = e.expiry {
        out.extend_from_slice(b",\"expiry\":{\"type\":");
        out.extend_from_slice(num.format(x.kind).as_bytes());
        out.extend_from_slice(b",\"micros\":");
        out.extend_from_slice(num.format(x.micros).as_bytes());
        out.push(b'}');
    }
    if let Some(s) = marks.state {
        out.extend_from_slice(b",\"state\":\"");
        out.extend_from_slice(s.as_str().as_bytes());
        out.push(b'"');
    } else if e.cf.is_some_and(|c| c.history) {
        // A log entry its column family had already flushed to tables (or
        // of a dropped family): history, though the log is live.
        out.extend_from_slice(b",\"state\":\"obsolete\"");
    }
    if marks.suspect_newer {
        out.extend_from_slice(b",\"suspect_newer\":true");
    }
    if marks.from_orphan {
        out.extend_from_slice(b",\"from_orphan\":true");
    }
    if let Some(r) = reason {
        out.extend_from_slice(b",\"reason\":");
        push_str(out, r);
    }
    super::deobfuscate::push_field(out, e, full, spill);
    if marks.idb {
        super::idb_field::push(out, e.key);
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
            expiry: None,
            cf: None,
        };
        push_line(
            &mut out,
            &e,
            "000003.log",
            Marks {
                suspect_newer: true,
                ..Marks::default()
            },
            None,
        );
        let d = Entry {
            kind: Kind::Delete,
            value: b"",
            ..e
        };
        push_line(
            &mut out,
            &d,
            "000003.log",
            Marks::default(),
            Some("checksum mismatch"),
        );
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
        assert!(lines[0].get("expiry").is_none());
        assert_eq!(lines[0]["suspect_newer"], true);
        assert_eq!(lines[1]["kind"], "delete");
        assert!(lines[1].get("value").is_none() && lines[1].get("value_base64").is_none());
        assert_eq!(lines[1]["reason"], "checksum mismatch");
    }
}
