//! Raw bytes in JSON: a field `name` holding text when the bytes are valid
//! UTF-8, else `name_base64`. Keys and values in LevelDB are arbitrary bytes,
//! and a JSON string cannot carry them losslessly otherwise.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::ser::SerializeMap;

pub fn serialize_field<M: SerializeMap>(m: &mut M, name: &str, b: &[u8]) -> Result<(), M::Error> {
    match std::str::from_utf8(b) {
        Ok(s) => m.serialize_entry(name, s),
        Err(_) => m.serialize_entry(&format!("{name}_base64"), &STANDARD.encode(b)),
    }
}

/// As [`serialize_field`], with `null` for `None`.
pub fn serialize_opt_field<M: SerializeMap>(
    m: &mut M,
    name: &str,
    b: Option<&[u8]>,
) -> Result<(), M::Error> {
    match b {
        Some(b) => serialize_field(m, name, b),
        None => m.serialize_entry(name, &Option::<&str>::None),
    }
}

/// Append `"name":"…"` or `"name_base64":"…"` (with a leading comma) to a
/// JSON line being built by hand, for the hot NDJSON path.
pub fn push_field(out: &mut Vec<u8>, name: &str, b: &[u8]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    match std::str::from_utf8(b) {
        Ok(s) => {
            out.extend_from_slice(b"\":");
            push_str(out, s);
        }
        Err(_) => {
            out.extend_from_slice(b"_base64\":\"");
            let start = out.len();
            out.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
            let n = STANDARD.encode_slice(b, &mut out[start..]).unwrap_or(0);
            out.truncate(start + n);
            out.push(b'"');
        }
    }
}

/// Append `s` as a JSON string. Most keys and values need no escaping, and
/// checking for that is far cheaper than escaping byte by byte.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // serde_json escapes exactly as JSON requires; writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_needing_escapes_round_trip() {
        for t in [
            "plain",
            "q\"uote",
            "back\\slash",
            "new\nline",
            "ctl\u{1}x",
            "ünï",
            "",
        ] {
            let mut v = Vec::new();
            push_str(&mut v, t);
            let back: String = serde_json::from_slice(&v).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn text_or_base64() {
        let mut v = b"{\"a\":1".to_vec();
        push_field(&mut v, "key", b"he\"llo");
        push_field(&mut v, "value", &[0xff, 0x00, 0x01]);
        v.push(b'}');
        let j: serde_json::Value = serde_json::from_slice(&v).unwrap();
        assert_eq!(j["key"], "he\"llo");
        assert_eq!(
            decode_base64(j["value_base64"].as_str().unwrap()).unwrap(),
            vec![0xff, 0x00, 0x01]
        );
    }
}
