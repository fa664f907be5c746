//! The `idb` field of an export line of a Chrome IndexedDB store: its key
//! decoded ([`crate::format::idb::decode`]) next to the raw bytes, which
//! the line keeps unchanged.
//!
//! `{"database_id":1,"object_store_id":2,"index_id":1,"kind":"object_store_data",
//! "key":{"type":"string","value":"abc"}}`; index data adds `sequence` and
//! `primary_key`, metadata `meta_type`, any undecoded bytes
//! `trailing_bytes`. Key values: `number` (JSON number, or the strings
//! `"Infinity"`, `"-Infinity"`, `"NaN"`), `date` (ISO 8601 like
//! JavaScript's `toISOString`, plus `ms`), `string` (`lossy: true` when its
//! UTF-16 holds unpaired surrogates), `binary` (lowercase hex), `array`
//! (a list of keys), `null`, `min`. A key whose prefix does not decode gets
//! `{"kind":"undecodable"}`.

use crate::format::idb::{decode, Key, Kind};
use serde_json::{json, Map, Value};

/// Append `,"idb":{...}` for `key`.
pub fn push(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b",\"idb\":");
    let v = field(key);
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &v);
}

/// The field's value for `key`.
pub fn field(key: &[u8]) -> Value {
    let Some(d) = decode(key) else {
        return json!({"kind": "undecodable"});
    };
    let mut m = Map::new();
    m.insert("database_id".into(), d.prefix.database_id.into());
    m.insert("object_store_id".into(), d.prefix.object_store_id.into());
    m.insert("index_id".into(), d.prefix.index_id.into());
    let kind = match d.kind {
        Kind::GlobalMetadata | Kind::DatabaseMetadata => "metadata",
        k => k.as_str(),
    };
    m.insert("kind".into(), kind.into());
    if matches!(d.kind, Kind::GlobalMetadata | Kind::DatabaseMetadata) {
        m.insert(
            "scope".into(),
            if d.kind == Kind::GlobalMetadata {
                "global"
            } else {
                "database"
            }
            .into(),
        );
    }
    if let Some(t) = d.meta_type {
        m.insert("meta_type".into(), t.into());
    }
    if let Some(k) = &d.key {
        m.insert("key".into(), key_json(k));
    }
    if let Some(s) = d.sequence {
        m.insert("sequence".into(), s.into());
    }
    if let Some(k) = &d.primary_key {
        m.insert("primary_key".into(), key_json(k));
    }
    // Metadata's own fields are not decoded here; for keys they are damage
    // or a layout this version does not know.
    let undecoded_is_news = !matches!(d.kind, Kind::GlobalMetadata | Kind::DatabaseMetadata);
    if d.trailing > 0 && undecoded_is_news {
        m.insert("trailing_bytes".into(), d.trailing.into());
    }
    Value::Object(m)
}

fn number(x: f64) -> Value {
    match serde_json::Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => "NaN".into(),
        None if x > 0.0 => "Infinity".into(),
        None => "-Infinity".into(),
    }
}

fn key_json(k: &Key) -> Value {
    match k {
        Key::Null => json!({"type": "null"}),
        Key::Min => json!({"type": "min"}),
        Key::Number(x) => json!({"type": "number", "value": number(*x)}),
        Key::Date(ms) => json!({"type": "date", "value": iso_date(*ms), "ms": number(*ms)}),
        Key::String(u) => {
            let s = String::from_utf16_lossy(u);
            if String::from_utf16(u).is_ok() {
                json!({"type": "string", "value": s})
            } else {
                json!({"type": "string", "value": s, "lossy": true})
            }
        }
        Key::Binary(b) => {
            let mut hex = String::with_capacity(b.len() * 2);
            for x in b {
                hex.push_str(&format!("{x:02x}"));
            }
            json!({"type": "binary", "value": hex})
        }
        Key::Array(a) => {
            json!({"type": "array", "value": a.iter().map(key_json).collect::<Vec<_>>()})
        }
    }
}

/// JavaScript's `Date.prototype.toISOString` of `ms` since the epoch, or
/// `null` for a time JavaScript has no date for.
fn iso_date(ms: f64) -> Value {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        return Value::Null;
    }
    // Within ±8.64e15 the value is an exact integer number of ms after
    // flooring, well inside i64.
    let t = ms.floor() as i64;
    let days = t.div_euclid(86_400_000);
    let rem = t.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y < 0 {
        format!("-{:06}", -y)
    } else {
        format!("+{y:06}")
    };
    Value::String(format!(
        "{year}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z"
    ))
}

/// Proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_like_javascript() {
        assert_eq!(iso_date(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_date(1_577_934_245_000.0), "2020-01-02T03:04:05.000Z");
        assert_eq!(iso_date(-1e12), "1938-04-24T22:13:20.000Z");
        assert_eq!(iso_date(-1.0), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso_date(8.64e15), "+275760-09-13T00:00:00.000Z");
        assert_eq!(iso_date(f64::NAN), Value::Null);
    }

    #[test]
    fn data_key_field() {
        // db 1, store 2, data; the string "ab".
        let key = [0u8, 1, 2, 1, 1, 2, 0, b'a', 0, b'b'];
        let v = field(&key);
        assert_eq!(
            v,
            json!({"database_id": 1, "object_store_id": 2, "index_id": 1,
                   "kind": "object_store_data", "key": {"type": "string", "value": "ab"}})
        );
        assert_eq!(field(&[0xff])["kind"], "undecodable");
        let mut out = Vec::new();
        push(&mut out, &key);
        assert!(out.starts_with(b",\"idb\":{"));
    }
}
