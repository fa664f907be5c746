//! Chrome's IndexedDB keys and their order, the LevelDB comparator
//! `idb_cmp1` (Chromium `content/browser/indexed_db/indexed_db_leveldb_coding.cc`,
//! `components/services/storage/indexed_db/scopes/varint_coding.cc`).
//!
//! Every key starts with a KeyPrefix:
//!
//! ```text
//! byte 0: (db_bytes-1)<<5 | (os_bytes-1)<<2 | (index_bytes-1)
//! database id      db_bytes    (1..8) little-endian
//! object store id  os_bytes    (1..8) little-endian
//! index id         index_bytes (1..4) little-endian
//! ```
//!
//! and what follows depends on the ids:
//!
//! | ids | kind | rest |
//! | --- | --- | --- |
//! | db 0 | global metadata | type byte (0..6 simple; 50 scopes, rest raw; 100 free list + varint db id; 201 name: origin, name as varint-length UTF-16BE) |
//! | os 0 | database metadata | type byte (0..5 simple; 50 store meta: varint os, byte; 100 index meta: varint os, varint index, byte; 150/151 free lists; 200 store names; 201 index names) |
//! | index 1 | object store data | encoded user key |
//! | index 2 | exists entry | encoded user key |
//! | index 3 | blob entry | encoded user key |
//! | index >= 30 | index data | encoded index key, [varint sequence, [encoded primary key]] |
//!
//! An encoded IndexedDB key is a type byte and its payload: 0 null (also the
//! "max" key), 1 string (varint count of UTF-16 code units, big-endian
//! units), 2 date and 3 number (an f64 in the writer's byte order, little
//! endian on every platform Chrome ships), 4 array (varint count, then the
//! elements), 5 min key, 6 binary (varint length, bytes). Varints are
//! LEB128 of up to 64 bits; Chrome refuses a zero continuation byte and bits
//! shifted out.
//!
//! Order: prefixes by database, object store, then index id; then per kind
//! as above; keys by type (min < number < date < string < binary < array <
//! null/unknown), then by value (numbers as doubles, strings and binary
//! bytewise, arrays element by element then by length).
//!
//! Where Chrome's comparator cannot decode a key it reports "not ok" and
//! returns 0 (equal), and it returns 0 for some distinct keys (two NaNs, a
//! 0.0 and a -0.0, unknown key types, trailing bytes after a simple metadata
//! type). LevelDB never sees such keys from Chrome; to stay a total order
//! [`compare`] breaks every such tie bytewise, which is deterministic and
//! agrees with Chrome wherever Chrome gives an answer.

use std::cmp::Ordering;

/// The comparator name Chrome writes into the MANIFEST.
pub const COMPARATOR_NAME: &str = "idb_cmp1";

/// Chrome's comparator could not order the two keys (its `ok == false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NotOk;

type Cmp = Result<Ordering, NotOk>;

/// The store's order: Chrome's answer, and bytewise where Chrome has none
/// (see the module summary).
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match chrome_compare(a, b) {
        Ok(o) if o != Ordering::Equal => o,
        _ => a.cmp(b),
    }
}

fn take_byte(s: &mut &[u8]) -> Option<u8> {
    let (&b, rest) = s.split_first()?;
    *s = rest;
    Some(b)
}

fn take_bytes<'a>(s: &mut &'a [u8], n: u64) -> Option<&'a [u8]> {
    let n = usize::try_from(n).ok()?;
    let (head, rest) = s.split_at_checked(n)?;
    *s = rest;
    Some(head)
}

/// Chrome's `DecodeVarInt`: LEB128, at most 64 bits, no zero byte after the
/// first, no bits shifted out. Leaves `s` alone on failure.
fn varint(s: &mut &[u8]) -> Option<i64> {
    let mut rest = *s;
    let mut shift = 0u32;
    let mut ret = 0u64;
    loop {
        if shift >= 64 {
            return None;
        }
        let c = take_byte(&mut rest)?;
        if shift != 0 && c == 0 {
            return None;
        }
        let low = u64::from(c & 0x7f);
        let shifted = low.checked_shl(shift)?;
        if shifted.checked_shr(shift) != Some(low) {
            return None;
        }
        ret |= shifted;
        shift = shift.checked_add(7)?;
        if c & 0x80 == 0 {
            break;
        }
    }
    *s = rest;
    Some(i64::from_ne_bytes(ret.to_ne_bytes()))
}

/// Chrome's `CompareInts`: the sign of `a - b` as the (wrapping) 64-bit
/// difference.
fn compare_ints(a: i64, b: i64) -> Ordering {
    a.wrapping_sub(b).cmp(&0)
}

/// A decoded KeyPrefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub database_id: i64,
    pub object_store_id: i64,
    pub index_id: i64,
}

/// What a key is, from its prefix (`KeyPrefix::type()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GlobalMetadata,
    DatabaseMetadata,
    ObjectStoreData,
    Exists,
    Blob,
    IndexData,
    Invalid,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GlobalMetadata => "global_metadata",
            Kind::DatabaseMetadata => "database_metadata",
            Kind::ObjectStoreData => "object_store_data",
            Kind::Exists => "exists",
            Kind::Blob => "blob",
            Kind::IndexData => "index_data",
            Kind::Invalid => "invalid",
        }
    }
}

impl Prefix {
    pub fn kind(&self) -> Kind {
        if self.database_id == 0 {
            Kind::GlobalMetadata
        } else if self.object_store_id == 0 {
            Kind::DatabaseMetadata
        } else {
            match self.index_id {
                1 => Kind::ObjectStoreData,
                2 => Kind::Exists,
                3 => Kind::Blob,
                i if i >= 30 => Kind::IndexData,
                _ => Kind::Invalid,
            }
        }
    }

    fn compare(&self, o: &Prefix) -> Ordering {
        compare_ints(self.database_id, o.database_id)
            .then_with(|| compare_ints(self.object_store_id, o.object_store_id))
            .then_with(|| compare_ints(self.index_id, o.index_id))
    }
}

/// Little-endian integer of 1..=8 bytes (`DecodeInt`).
fn le_int(b: &[u8]) -> i64 {
    let mut v = [0u8; 8];
    for (d, s) in v.iter_mut().zip(b) {
        *d = *s;
    }
    i64::from_le_bytes(v)
}

/// `KeyPrefix::Decode`.
pub fn decode_prefix(s: &mut &[u8]) -> Option<Prefix> {
    let mut rest = *s;
    let first = take_byte(&mut rest)?;
    let db = u64::from((first >> 5) & 7) + 1;
    let os = u64::from((first >> 2) & 7) + 1;
    let ix = u64::from(first & 3) + 1;
    let database_id = le_int(take_bytes(&mut rest, db)?);
    let object_store_id = le_int(take_bytes(&mut rest, os)?);
    let index_id = le_int(take_bytes(&mut rest, ix)?);
    *s = rest;
    Some(Prefix {
        database_id,
        object_store_id,
        index_id,
    })
}

/// Blink's `IDBKeyType` of an encoded key's type byte (`KeyTypeByteToKeyType`):
/// the key types compare by it in reverse.
fn blink_type(t: u8) -> i32 {
    match t {
        4 => 1, // array
        6 => 2, // binary
        1 => 3, // string
        2 => 4, // date
        3 => 5, // number
        5 => 7, // min
        _ => 0, // null and unknown: invalid
    }
}

/// One step of comparing two encoded keys.
enum Step {
    Done(Ordering),
    /// Both are arrays with these element counts.
    Arrays(i64, i64),
}

/// A length-prefixed payload (`CompareEncodedBinary` /
/// `CompareEncodedStringsWithLength`): `unit` bytes per counted item.
fn length_prefixed<'a>(s: &mut &'a [u8], unit: u64) -> Result<&'a [u8], NotOk> {
    let n = varint(s).ok_or(NotOk)?;
    let n = u64::try_from(n).map_err(|_| NotOk)?;
    take_bytes(s, n.checked_mul(unit).ok_or(NotOk)?).ok_or(NotOk)
}

fn double(s: &mut &[u8]) -> Result<f64, NotOk> {
    let b = take_bytes(s, 8).ok_or(NotOk)?;
    let mut v = [0u8; 8];
    v.copy_from_slice(b);
    Ok(f64::from_le_bytes(v))
}

fn compare_step(a: &mut &[u8], b: &mut &[u8]) -> Result<Step, NotOk> {
    let ta = take_byte(a).ok_or(NotOk)?;
    let tb = take_byte(b).ok_or(NotOk)?;
    let by_type = blink_type(tb).cmp(&blink_type(ta));
    if by_type != Ordering::Equal {
        return Ok(Step::Done(by_type));
    }
    Ok(Step::Done(match ta {
        4 => {
            let la = varint(a).ok_or(NotOk)?;
            let lb = varint(b).ok_or(NotOk)?;
            return Ok(Step::Arrays(la, lb));
        }
        6 => {
            let x = length_prefixed(a, 1)?;
            let y = length_prefixed(b, 1)?;
            x.cmp(y)
        }
        1 => {
            let x = length_prefixed(a, 2)?;
            let y = length_prefixed(b, 2)?;
            x.cmp(y)
        }
        2 | 3 => {
            let x = double(a)?;
            let y = double(b)?;
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        // Null, min, and unknown types Chrome has no case for: equal.
        _ => Ordering::Equal,
    }))
}

/// `CompareEncodedIDBKeys`, consuming one key from each slice. Arrays are
/// walked with an explicit stack (a hostile key nests as deep as its bytes
/// allow; the stack grows by one entry per two bytes consumed at most).
fn compare_keys(a: &mut &[u8], b: &mut &[u8]) -> Cmp {
    // Per open array: element counts and how many elements were compared.
    let mut stack: Vec<(i64, i64, i64)> = Vec::new();
    loop {
        match compare_step(a, b)? {
            Step::Done(Ordering::Equal) => {}
            Step::Done(o) => return Ok(o),
            Step::Arrays(la, lb) => stack.push((la, lb, 0)),
        }
        // The next pair of elements to compare, closing finished arrays.
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(Ordering::Equal);
            };
            if top.2 < top.0 && top.2 < top.1 {
                top.2 = top.2.saturating_add(1);
                break;
            }
            let (la, lb, _) = *top;
            stack.pop();
            // Chrome returns `length_a - length_b` as an int: the low 32
            // bits of the 64-bit difference.
            let low = la.wrapping_sub(lb).to_le_bytes();
            let d = i32::from_le_bytes([low[0], low[1], low[2], low[3]]);
            if d != 0 {
                return Ok(d.cmp(&0));
            }
        }
    }
}

/// `DecodeStringWithLength`: the UTF-16BE bytes.
fn string_with_length<'a>(s: &mut &'a [u8]) -> Option<&'a [u8]> {
    if s.is_empty() {
        return None;
    }
    length_prefixed(s, 2).ok()
}

/// Database metadata keys of one type, decoded after the type byte into
/// what Chrome compares (`Compare<KeyType>`).
fn compare_db_meta(t: u8, a: &mut &[u8], b: &mut &[u8]) -> Cmp {
    fn ints(s: &mut &[u8], n: usize) -> Option<[i64; 2]> {
        let mut v = [0i64; 2];
        for x in v.iter_mut().take(n) {
            *x = varint(s)?;
        }
        Some(v)
    }
    let both_ints = |n: usize, a: &mut &[u8], b: &mut &[u8]| -> Result<Ordering, NotOk> {
        let x = ints(a, n).ok_or(NotOk)?;
        let y = ints(b, n).ok_or(NotOk)?;
        Ok(compare_ints(x[0], y[0]).then_with(|| compare_ints(x[1], y[1])))
    };
    match t {
        // Object store metadata: store id, metadata type byte.
        50 | 100 => {
            let n = if t == 50 { 1 } else { 2 };
            let x = ints(a, n).ok_or(NotOk)?;
            let y = ints(b, n).ok_or(NotOk)?;
            let mx = take_byte(a).ok_or(NotOk)?;
            let my = take_byte(b).ok_or(NotOk)?;
            Ok(compare_ints(x[0], y[0])
                .then_with(|| compare_ints(x[1], y[1]))
                .then_with(|| mx.cmp(&my)))
        }
        150 => both_ints(1, a, b),
        151 => both_ints(2, a, b),
        200 => {
            let x = string_with_length(a).ok_or(NotOk)?;
            let y = string_with_length(b).ok_or(NotOk)?;
            Ok(x.cmp(y))
        }
        201 => {
            let ox = varint(a).ok_or(NotOk)?;
            let x = string_with_length(a).ok_or(NotOk)?;
            let oy = varint(b).ok_or(NotOk)?;
            let y = string_with_length(b).ok_or(NotOk)?;
            Ok(compare_ints(ox, oy).then_with(|| x.cmp(y)))
        }
        _ => Err(NotOk),
    }
}

/// Chrome's `Compare(a, b, only_compare_index_keys = false, &ok)`.
fn chrome_compare(a: &[u8], b: &[u8]) -> Cmp {
    let (mut a, mut b) = (a, b);
    let pa = decode_prefix(&mut a).ok_or(NotOk)?;
    let pb = decode_prefix(&mut b).ok_or(NotOk)?;
    let by_prefix = pa.compare(&pb);
    if by_prefix != Ordering::Equal {
        return Ok(by_prefix);
    }
    let (a, b) = (&mut a, &mut b);
    match pa.kind() {
        Kind::GlobalMetadata => {
            let ta = take_byte(a).ok_or(NotOk)?;
            let tb = take_byte(b).ok_or(NotOk)?;
            if ta != tb {
                return Ok(ta.cmp(&tb));
            }
            match ta {
                0..=6 => Ok(Ordering::Equal),
                // Scopes (Chrome's own undo log): the rest bytewise.
                50 => Ok((**a).cmp(*b)),
                100 => {
                    let x = varint(a).ok_or(NotOk)?;
                    let y = varint(b).ok_or(NotOk)?;
                    Ok(compare_ints(x, y))
                }
                201 => {
                    let (ox, nx) = (string_with_length(a), string_with_length(a));
                    let (oy, ny) = (string_with_length(b), string_with_length(b));
                    match (ox, nx, oy, ny) {
                        (Some(ox), Some(nx), Some(oy), Some(ny)) => {
                            Ok(ox.cmp(oy).then_with(|| nx.cmp(ny)))
                        }
                        _ => Err(NotOk),
                    }
                }
                _ => Err(NotOk),
            }
        }
        Kind::DatabaseMetadata => {
            let ta = take_byte(a).ok_or(NotOk)?;
            let tb = take_byte(b).ok_or(NotOk)?;
            if ta != tb {
                return Ok(ta.cmp(&tb));
            }
            if ta < 6 {
                return Ok(Ordering::Equal);
            }
            compare_db_meta(ta, a, b)
        }
        Kind::ObjectStoreData | Kind::Exists | Kind::Blob => {
            if a.is_empty() || b.is_empty() {
                return Ok(a.len().cmp(&b.len()));
            }
            compare_keys(a, b)
        }
        Kind::IndexData => {
            if a.is_empty() || b.is_empty() {
                return Ok(a.len().cmp(&b.len()));
            }
            let r = compare_keys(a, b)?;
            if r != Ordering::Equal {
                return Ok(r);
            }
            let mut seq_a = -1;
            let mut seq_b = -1;
            if !a.is_empty() {
                match varint(a) {
                    Some(v) => seq_a = v,
                    None => return Ok(Ordering::Equal),
                }
            }
            if !b.is_empty() {
                match varint(b) {
                    Some(v) => seq_b = v,
                    None => return Ok(Ordering::Equal),
                }
            }
            if a.is_empty() || b.is_empty() {
                return Ok(a.len().cmp(&b.len()));
            }
            let r = compare_keys(a, b)?;
            if r != Ordering::Equal {
                return Ok(r);
            }
            Ok(compare_ints(seq_a, seq_b))
        }
        Kind::Invalid => Err(NotOk),
    }
}

/// An IndexedDB key value, decoded for people.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// Type byte 0: no key (Chrome's "max" sentinel).
    Null,
    Min,
    Number(f64),
    /// Milliseconds since the epoch.
    Date(f64),
    /// UTF-16 code units.
    String(Vec<u16>),
    Binary(Vec<u8>),
    Array(Vec<Key>),
}

/// Deepest array nesting decoded for people (Chrome's `kMaximumDepth`).
const MAX_DEPTH: usize = 2000;

/// `DecodeIDBKey`-like, but null and min are kept (they occur as bounds).
pub fn decode_key(s: &mut &[u8]) -> Option<Key> {
    decode_key_at(s, 0)
}

fn decode_key_at(s: &mut &[u8], depth: usize) -> Option<Key> {
    if depth > MAX_DEPTH {
        return None;
    }
    let t = take_byte(s)?;
    Some(match t {
        0 => Key::Null,
        5 => Key::Min,
        1 => {
            let b = length_prefixed(s, 2).ok()?;
            Key::String(
                b.chunks_exact(2)
                    .map(|c| match c {
                        [h, l] => u16::from_be_bytes([*h, *l]),
                        _ => 0,
                    })
                    .collect(),
            )
        }
        6 => Key::Binary(length_prefixed(s, 1).ok()?.to_vec()),
        2 => Key::Date(double(s).ok()?),
        3 => Key::Number(double(s).ok()?),
        4 => {
            let n = u64::try_from(varint(s)?).ok()?;
            // Each element takes at least one byte: a count beyond the
            // bytes left cannot be honest, and must not size the vector.
            if n > s.len() as u64 {
                return None;
            }
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(decode_key_at(s, depth.checked_add(1)?)?);
            }
            Key::Array(v)
        }
        _ => return None,
    })
}

/// A whole LevelDB key of an IndexedDB store, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub prefix: Prefix,
    pub kind: Kind,
    /// The user key (data, exists, blob) or the index key (index data).
    pub key: Option<Key>,
    /// Index data: the primary key and the sequence number, when present.
    pub primary_key: Option<Key>,
    pub sequence: Option<i64>,
    /// Metadata: the type byte after the prefix.
    pub meta_type: Option<u8>,
    /// Bytes after what was decoded (0 for a well-formed key).
    pub trailing: usize,
}

/// Decode a key as far as it goes; `None` when not even the prefix does.
pub fn decode(key: &[u8]) -> Option<Decoded> {
    let mut s = key;
    let prefix = decode_prefix(&mut s)?;
    let kind = prefix.kind();
    let mut d = Decoded {
        prefix,
        kind,
        key: None,
        primary_key: None,
        sequence: None,
        meta_type: None,
        trailing: 0,
    };
    match kind {
        Kind::GlobalMetadata | Kind::DatabaseMetadata => {
            // The metadata's own fields (ids, names) follow the type byte
            // and are counted in `trailing`: they are not IndexedDB keys.
            d.meta_type = take_byte(&mut s);
        }
        Kind::ObjectStoreData | Kind::Exists | Kind::Blob => {
            d.key = decode_key(&mut s);
        }
        Kind::IndexData => {
            d.key = decode_key(&mut s);
            if d.key.is_some() && !s.is_empty() {
                d.sequence = varint(&mut s);
                if d.sequence.is_some() && !s.is_empty() {
                    d.primary_key = decode_key(&mut s);
                }
            }
        }
        Kind::Invalid => {}
    }
    d.trailing = s.len();
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint_enc(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let c = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(c);
                return;
            }
            out.push(c | 0x80);
        }
    }

    fn int_enc(mut n: u64) -> Vec<u8> {
        let mut v = Vec::new();
        loop {
            v.push(n as u8);
            n >>= 8;
            if n == 0 {
                return v;
            }
        }
    }

    fn prefix(db: u64, os: u64, ix: u64) -> Vec<u8> {
        let (d, o, i) = (int_enc(db), int_enc(os), int_enc(ix));
        let mut v = vec![((d.len() - 1) << 5 | (o.len() - 1) << 2 | (i.len() - 1)) as u8];
        v.extend(d);
        v.extend(o);
        v.extend(i);
        v
    }

    fn enc(k: &Key, out: &mut Vec<u8>) {
        match k {
            Key::Null => out.push(0),
            Key::Min => out.push(5),
            Key::Number(n) => {
                out.push(3);
                out.extend(n.to_le_bytes());
            }
            Key::Date(n) => {
                out.push(2);
                out.extend(n.to_le_bytes());
            }
            Key::String(s) => {
                out.push(1);
                varint_enc(s.len() as u64, out);
                for u in s {
                    out.extend(u.to_be_bytes());
                }
            }
            Key::Binary(b) => {
                out.push(6);
                varint_enc(b.len() as u64, out);
                out.extend(b);
            }
            Key::Array(a) => {
                out.push(4);
                varint_enc(a.len() as u64, out);
                for e in a {
                    enc(e, out);
                }
            }
        }
    }

    fn data_key(db: u64, os: u64, k: &Key) -> Vec<u8> {
        let mut v = prefix(db, os, 1);
        enc(k, &mut v);
        v
    }

    fn s(x: &str) -> Key {
        Key::String(x.encode_utf16().collect())
    }

    #[test]
    fn prefix_is_compact_and_decodes() {
        let p = prefix(1, 2, 1);
        assert_eq!(p, vec![0, 1, 2, 1]);
        let p = prefix(300, 1, 30);
        assert_eq!(p, vec![0b0010_0000, 0x2c, 0x01, 1, 30]);
        let mut sl = p.as_slice();
        let d = decode_prefix(&mut sl).unwrap();
        assert_eq!((d.database_id, d.object_store_id, d.index_id), (300, 1, 30));
        assert_eq!(d.kind(), Kind::IndexData);
        assert!(decode_prefix(&mut &[0b0010_0000u8, 1][..]).is_none());
    }

    #[test]
    fn key_types_order_like_indexeddb() {
        // min < number < date < string < binary < array (the spec's order).
        let keys = [
            Key::Min,
            Key::Number(f64::NEG_INFINITY),
            Key::Number(-1.5),
            Key::Number(0.0),
            Key::Number(2.0),
            Key::Number(10.0),
            Key::Number(f64::INFINITY),
            Key::Date(-1e12),
            Key::Date(0.0),
            Key::Date(1.6e12),
            s(""),
            s("a"),
            s("ab"),
            s("b"),
            s("é"),
            s("\u{ffff}"),
            Key::Binary(vec![]),
            Key::Binary(vec![0]),
            Key::Binary(vec![0, 0]),
            Key::Binary(vec![1]),
            Key::Binary(vec![255]),
            Key::Array(vec![]),
            Key::Array(vec![Key::Number(1.0)]),
            Key::Array(vec![Key::Number(1.0), s("x")]),
            Key::Array(vec![Key::Number(2.0)]),
            Key::Array(vec![s("a")]),
            Key::Array(vec![Key::Array(vec![])]),
        ];
        let enc_keys: Vec<Vec<u8>> = keys.iter().map(|k| data_key(1, 1, k)).collect();
        for (i, a) in enc_keys.iter().enumerate() {
            for (j, b) in enc_keys.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "{:?} vs {:?}", keys[i], keys[j]);
            }
        }
        // Bytewise gets numbers wrong: the doubles are little-endian.
        assert_eq!(enc_keys[2].cmp(&enc_keys[3]), Ordering::Greater);
    }

    #[test]
    fn prefix_orders_before_contents_and_kinds() {
        let a = data_key(1, 1, &s("zzz"));
        let b = data_key(1, 2, &Key::Number(0.0));
        let c = data_key(2, 1, &Key::Min);
        assert_eq!(compare(&a, &b), Ordering::Less);
        assert_eq!(compare(&b, &c), Ordering::Less);
        // Exists entries (index 2) after the data (index 1) of a store.
        let mut e = prefix(1, 1, 2);
        enc(&Key::Min, &mut e);
        assert_eq!(compare(&a, &e), Ordering::Less);
        // A two-byte database id 256 after 255, though its first byte is larger.
        let x = data_key(255, 1, &Key::Min);
        let y = data_key(256, 1, &Key::Min);
        assert_eq!(compare(&x, &y), Ordering::Less);
        assert_eq!(
            compare(
                &data_key(1, 0x1_0000, &Key::Min),
                &data_key(1, 2, &Key::Min)
            ),
            Ordering::Greater
        );
    }

    #[test]
    fn global_and_database_metadata() {
        let mut schema = prefix(0, 0, 0);
        schema.push(0);
        let mut max_db = prefix(0, 0, 0);
        max_db.push(1);
        let name = |origin: &str, n: &str| {
            let mut v = prefix(0, 0, 0);
            v.push(201);
            for x in [origin, n] {
                let u: Vec<u16> = x.encode_utf16().collect();
                varint_enc(u.len() as u64, &mut v);
                for c in u {
                    v.extend(c.to_be_bytes());
                }
            }
            v
        };
        assert_eq!(compare(&schema, &max_db), Ordering::Less);
        assert_eq!(compare(&max_db, &name("a", "z")), Ordering::Less);
        // Origin, then name; a shorter origin first even if its name is larger.
        assert_eq!(compare(&name("a", "z"), &name("ab", "a")), Ordering::Less);
        assert_eq!(compare(&name("b", "a"), &name("b", "b")), Ordering::Less);
        let free = |db: u64| {
            let mut v = prefix(0, 0, 0);
            v.push(100);
            varint_enc(db, &mut v);
            v
        };
        assert_eq!(compare(&free(255), &free(256)), Ordering::Less);
        assert_eq!(free(255).cmp(&free(256)), Ordering::Greater);
        // Object store metadata by store id (varint) then type.
        let osm = |os: u64, t: u8| {
            let mut v = prefix(1, 0, 0);
            v.push(50);
            varint_enc(os, &mut v);
            v.push(t);
            v
        };
        assert_eq!(compare(&osm(1, 5), &osm(2, 0)), Ordering::Less);
        assert_eq!(compare(&osm(200, 0), &osm(2, 0)), Ordering::Greater);
        assert_eq!(compare(&osm(2, 0), &osm(2, 1)), Ordering::Less);
        // Database metadata of db 1 before the data of db 1.
        assert_eq!(
            compare(&osm(9, 9), &data_key(1, 1, &Key::Min)),
            Ordering::Less
        );
    }

    #[test]
    fn index_data_by_key_then_primary_key_then_sequence() {
        let ik = |k: &Key, seq: Option<u64>, pk: Option<&Key>| {
            let mut v = prefix(1, 1, 30);
            enc(k, &mut v);
            if let Some(seq) = seq {
                varint_enc(seq, &mut v);
                if let Some(pk) = pk {
                    enc(pk, &mut v);
                }
            }
            v
        };
        let a = ik(&s("t"), Some(0), Some(&Key::Number(5.0)));
        let b = ik(&s("t"), Some(9), Some(&Key::Number(2.0)));
        assert_eq!(compare(&b, &a), Ordering::Less);
        let c = ik(&s("t"), Some(0), Some(&Key::Number(2.0)));
        assert_eq!(compare(&c, &b), Ordering::Less);
        // No sequence: before every key with one.
        assert_eq!(compare(&ik(&s("t"), None, None), &c), Ordering::Less);
        assert_eq!(compare(&ik(&s("s"), Some(0), None), &c), Ordering::Less);
    }

    #[test]
    fn undecodable_keys_are_ordered_deterministically() {
        let mut all: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff],
            vec![0, 1, 1, 5],                   // index id 5: invalid kind
            vec![0, 1, 1, 1],                   // data key without a user key
            vec![0, 1, 1, 1, 9],                // unknown key type
            vec![0, 1, 1, 1, 4, 3, 3],          // array cut short
            vec![0, 1, 1, 1, 1, 0xff, 0xff, 0], // string longer than the key
            vec![0, 0, 0, 0, 77],               // unknown global type
            data_key(1, 1, &Key::Number(f64::NAN)),
            data_key(1, 1, &Key::Number(-0.0)),
            data_key(1, 1, &Key::Number(0.0)),
        ];
        for a in &all {
            for b in &all {
                assert_eq!(compare(a, b), compare(b, a).reverse());
                if a != b {
                    assert_ne!(compare(a, b), Ordering::Equal);
                }
            }
        }
        all.sort_by(|a, b| compare(a, b));
    }

    #[test]
    fn random_bytes_never_panic_and_order_is_antisymmetric() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        // Mostly well-formed prefixes with a few likely type bytes, so that
        // the comparison gets deep into the payloads.
        let alphabet = [0u8, 1, 2, 3, 4, 5, 6, 0x80, 0xff, 30, 50, 100, 201];
        let keys: Vec<Vec<u8>> = (0..400)
            .map(|_| {
                let mut k = vec![0, 1, 1, 1];
                for _ in 0..rnd(24) {
                    k.push(alphabet[rnd(alphabet.len() as u64) as usize]);
                }
                if rnd(4) == 0 {
                    k[0] = rnd(256) as u8;
                }
                k
            })
            .collect();
        for a in &keys {
            assert_eq!(compare(a, a), Ordering::Equal);
            let _ = decode(a);
            for b in keys.iter().take(60) {
                assert_eq!(compare(a, b), compare(b, a).reverse());
            }
        }
    }

    #[test]
    fn deep_arrays_do_not_recurse() {
        let mut a = prefix(1, 1, 1);
        for _ in 0..200_000 {
            a.extend([4, 1]);
        }
        a.push(5);
        let mut b = a.clone();
        b.pop();
        b.push(3);
        b.extend(0f64.to_le_bytes());
        assert_eq!(compare(&a, &b), Ordering::Less);
        assert!(decode(&a).unwrap().key.is_none());
    }

    #[test]
    fn varint_is_chromes() {
        assert_eq!(varint(&mut &[0x00][..]), Some(0));
        assert_eq!(varint(&mut &[0x80, 0x01][..]), Some(128));
        assert_eq!(varint(&mut &[0x80, 0x00][..]), None);
        assert_eq!(varint(&mut &[0x80][..]), None);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varint(&mut &max[..]), Some(-1));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(varint(&mut &over[..]), None);
    }

    #[test]
    fn decode_reads_back_what_was_encoded() {
        let k = Key::Array(vec![Key::Number(1.0), s("ü"), Key::Binary(vec![1, 2])]);
        let d = decode(&data_key(3, 4, &k)).unwrap();
        assert_eq!(d.kind, Kind::ObjectStoreData);
        assert_eq!(d.prefix.database_id, 3);
        assert_eq!(d.prefix.object_store_id, 4);
        assert_eq!(d.key, Some(k));
        assert_eq!(d.trailing, 0);
    }
}
