//! Internal keys: the keys stored in tables and named in the MANIFEST.
//!
//! ```text
//! user_key: bytes      the application's key, any length
//! tag:      fixed64    (sequence << 8) | type,  type 1 = put, 0 = deletion
//! ```
//! The sequence therefore has 56 usable bits. Internal keys sort by user key
//! ascending, then by tag descending, so the newest write of a key comes first.
//!
//! Basho's eleveldb adds two value types whose keys carry an expiry time
//! (`db/dbformat.h` of basho/leveldb):
//! ```text
//! user_key: bytes
//! expiry:   fixed64    microseconds since 1970 (write time for type 2,
//!                      the time it expires for type 3)
//! tag:      fixed64    (sequence << 8) | type,  type 2 = WriteTime,
//!                      3 = ExplicitExpiry: puts with an expiry
//! ```
//! They are read wherever they occur: no other LevelDB writer this tool
//! reads uses type bytes 2 or 3 (RocksDB does, and its stores are not read),
//! so such a key in a verified block can only be Basho's. Basho's order
//! treats them as type 1 when breaking a tie on the tag.

use super::batch::Kind;
use super::coding::put_fixed64;
use std::cmp::Ordering;

/// Length of the trailing tag.
pub const TAG_SIZE: usize = 8;

/// Basho's value types with an expiry before the tag.
pub const TYPE_WRITE_TIME: u8 = 2;
pub const TYPE_EXPLICIT_EXPIRY: u8 = 3;
/// Length of the expiry field of Basho's types 2 and 3.
pub const EXPIRY_SIZE: usize = 8;

/// The expiry of a Basho put (types 2 and 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiry {
    /// 2 (WriteTime) or 3 (ExplicitExpiry).
    pub kind: u8,
    /// Microseconds since 1970.
    pub micros: u64,
}

/// Largest sequence number a tag can hold.
pub const MAX_SEQUENCE: u64 = (1 << 56) - 1;

/// An internal key split into its parts, borrowing the user key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedInternalKey<'a> {
    pub user_key: &'a [u8],
    pub seq: u64,
    pub kind: Kind,
    /// Set for Basho's types 2 and 3, whose kind is [`Kind::Put`].
    pub expiry: Option<Expiry>,
}

/// Split `ikey`; `None` when it is shorter than its tag or the type byte is
/// neither put nor deletion (nor one of Basho's puts with an expiry).
pub fn parse(ikey: &[u8]) -> Option<ParsedInternalKey<'_>> {
    let (user_key, tag) = split(ikey)?;
    let t = (tag & 0xff) as u8;
    let (kind, expiry) = match t {
        TYPE_WRITE_TIME | TYPE_EXPLICIT_EXPIRY => {
            let (rest, _) = ikey.split_last_chunk::<TAG_SIZE>()?;
            let (_, e) = rest.split_last_chunk::<EXPIRY_SIZE>()?;
            let micros = u64::from_le_bytes(*e);
            (Kind::Put, Some(Expiry { kind: t, micros }))
        }
        _ => (Kind::from_u8(t)?, None),
    };
    Some(ParsedInternalKey {
        user_key,
        seq: tag >> 8,
        kind,
        expiry,
    })
}

/// Append Basho's internal key of a put with an expiry (types 2, 3).
pub fn encode_expiry_into(out: &mut Vec<u8>, user_key: &[u8], seq: u64, expiry: Expiry) {
    out.extend_from_slice(user_key);
    put_fixed64(out, expiry.micros);
    put_fixed64(out, ((seq & MAX_SEQUENCE) << 8) | u64::from(expiry.kind));
}

/// The tag packing `seq` and `kind`. Sequences above [`MAX_SEQUENCE`] do not
/// fit and are truncated to their low 56 bits, as the format cannot say more.
pub fn pack_tag(seq: u64, kind: Kind) -> u64 {
    ((seq & MAX_SEQUENCE) << 8) | kind as u64
}

pub fn encode(user_key: &[u8], seq: u64, kind: Kind) -> Vec<u8> {
    // Only a capacity hint: saturating cannot make the key wrong.
    let mut out = Vec::with_capacity(user_key.len().saturating_add(TAG_SIZE));
    encode_into(&mut out, user_key, seq, kind);
    out
}

/// Append the internal key to `out` (see [`pack_tag`] for large sequences).
pub fn encode_into(out: &mut Vec<u8>, user_key: &[u8], seq: u64, kind: Kind) {
    out.extend_from_slice(user_key);
    put_fixed64(out, pack_tag(seq, kind));
}

/// The user-key part; the whole input when it is too short to hold a tag.
pub fn user_key(ikey: &[u8]) -> &[u8] {
    split(ikey).map_or(ikey, |(u, _)| u)
}

/// The user key and the tag. A Basho type 2 or 3 key also holds its expiry
/// between them; one too short to hold it is split like any other key.
fn split(ikey: &[u8]) -> Option<(&[u8], u64)> {
    let (user, tag) = ikey.split_last_chunk::<TAG_SIZE>()?;
    let tag = u64::from_le_bytes(*tag);
    if matches!((tag & 0xff) as u8, TYPE_WRITE_TIME | TYPE_EXPLICIT_EXPIRY) {
        if let Some((u, _)) = user.split_last_chunk::<EXPIRY_SIZE>() {
            return Some((u, tag));
        }
    }
    Some((user, tag))
}

/// The tag as Basho's order compares it: its types 2 and 3 count as 1.
fn order_tag(tag: u64) -> u64 {
    if matches!((tag & 0xff) as u8, TYPE_WRITE_TIME | TYPE_EXPLICIT_EXPIRY) {
        (tag & !0xff) | 1
    } else {
        tag
    }
}

/// LevelDB's internal-key order (user key bytewise ascending, then tag
/// descending), which is what a table's entries must follow.
///
/// Keys too short to carry a tag still get a total order so that sorting
/// damaged input is well defined: such a key acts as a user key with a tag
/// above every real one, i.e. it sorts just before every well-formed key
/// with the same user-key bytes. Tags with an unknown type byte are compared
/// like any other tag.
pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    match (split(a), split(b)) {
        (Some((ua, ta)), Some((ub, tb))) => ua.cmp(ub).then(order_tag(tb).cmp(&order_tag(ta))),
        (None, None) => a.cmp(b),
        (None, Some((ub, _))) => a.cmp(ub).then(Ordering::Less),
        (Some((ua, _)), None) => ua.cmp(b).then(Ordering::Greater),
    }
}

/// [`compare`] of two keys known to share their first `equal` bytes (a
/// block entry's shared prefix): only the bytes after them are looked at, so
/// walking a block in order costs what changed from key to key.
pub fn compare_after(a: &[u8], b: &[u8], equal: usize) -> Ordering {
    match (split(a), split(b)) {
        (Some((ua, ta)), Some((ub, tb))) => {
            // `s` is within both keys, so both sides are `Some` and compare
            // as the slices do.
            let s = equal.min(ua.len()).min(ub.len());
            ua.get(s..)
                .cmp(&ub.get(s..))
                .then(order_tag(tb).cmp(&order_tag(ta)))
        }
        _ => compare(a, b),
    }
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    #[test]
    fn compare_after_agrees_with_compare() {
        let keys: Vec<Vec<u8>> = [&b""[..], b"a", b"ab", b"abc", b"abd", b"b"]
            .iter()
            .flat_map(|u| {
                [1u64, 7, MAX_SEQUENCE]
                    .into_iter()
                    .flat_map(move |seq| [encode(u, seq, Kind::Put), encode(u, seq, Kind::Delete)])
            })
            .chain([b"short".to_vec(), vec![]])
            .collect();
        for a in &keys {
            for b in &keys {
                let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
                for equal in 0..=common {
                    assert_eq!(
                        compare_after(a, b, equal),
                        compare(a, b),
                        "{a:?} {b:?} {equal}"
                    );
                }
            }
        }
    }

    #[test]
    fn encode_layout_and_parse() {
        let k = encode(b"abc", 0x0102_0304_0506, Kind::Put);
        assert_eq!(&k[..3], b"abc");
        assert_eq!(&k[3..], &((0x0102_0304_0506u64 << 8) | 1).to_le_bytes());
        assert_eq!(
            parse(&k),
            Some(ParsedInternalKey {
                user_key: b"abc",
                seq: 0x0102_0304_0506,
                kind: Kind::Put,
                expiry: None,
            })
        );
        let d = encode(b"", MAX_SEQUENCE, Kind::Delete);
        assert_eq!(d.len(), 8);
        let p = parse(&d).unwrap();
        assert_eq!(
            (p.user_key, p.seq, p.kind),
            (&b""[..], MAX_SEQUENCE, Kind::Delete)
        );

        let mut buf = b"prefix".to_vec();
        encode_into(&mut buf, b"k", 7, Kind::Delete);
        assert_eq!(&buf[6..], &encode(b"k", 7, Kind::Delete)[..]);
    }

    #[test]
    fn oversized_sequence_is_truncated_not_spilled_into_type() {
        let k = encode(b"k", u64::MAX, Kind::Delete);
        let p = parse(&k).unwrap();
        assert_eq!(p.seq, MAX_SEQUENCE);
        assert_eq!(p.kind, Kind::Delete);
    }

    #[test]
    fn parse_rejects_short_and_unknown_type() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"1234567"), None);
        let mut k = encode(b"x", 5, Kind::Put);
        k[1] = 4;
        assert_eq!(parse(&k), None);
        assert_eq!(user_key(&k), b"x");
        assert_eq!(user_key(b"abc"), b"abc");
    }

    #[test]
    fn basho_expiry_keys() {
        for t in [TYPE_WRITE_TIME, TYPE_EXPLICIT_EXPIRY] {
            let e = Expiry {
                kind: t,
                micros: 0x0a0b_0c0d,
            };
            let mut k = Vec::new();
            encode_expiry_into(&mut k, b"abc", 77, e);
            assert_eq!(k.len(), 3 + 16);
            assert_eq!(&k[3..11], &0x0a0b_0c0du64.to_le_bytes());
            let p = parse(&k).unwrap();
            assert_eq!((p.user_key, p.seq, p.kind), (&b"abc"[..], 77, Kind::Put));
            assert_eq!(p.expiry, Some(e));
            assert_eq!(user_key(&k), b"abc");
            // Ordered by user key, then sequence, as a type 1 key would be.
            assert_eq!(
                compare(&k, &encode(b"abc", 78, Kind::Put)),
                Ordering::Greater
            );
            assert_eq!(
                compare(&k, &encode(b"abc", 76, Kind::Delete)),
                Ordering::Less
            );
            assert_eq!(compare(&k, &encode(b"abd", 1, Kind::Put)), Ordering::Less);
            assert_eq!(compare(&encode(b"ab", 1, Kind::Put), &k), Ordering::Less);
        }
        // Too short to hold the expiry: no user key can be cut out of it.
        let mut short = vec![2u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&short), None);
        short.insert(0, b'x');
        assert_eq!(parse(&short), None);
    }

    #[test]
    fn order_user_key_then_newest_first() {
        let a1 = encode(b"a", 1, Kind::Put);
        let a5 = encode(b"a", 5, Kind::Put);
        let a5d = encode(b"a", 5, Kind::Delete);
        let ab = encode(b"ab", 0, Kind::Put);
        let b = encode(b"b", 100, Kind::Put);
        // User key dominates the tag.
        assert_eq!(compare(&a1, &ab), Ordering::Less);
        assert_eq!(compare(&ab, &b), Ordering::Less);
        // Higher sequence first.
        assert_eq!(compare(&a5, &a1), Ordering::Less);
        // Same sequence: put (1) before deletion (0).
        assert_eq!(compare(&a5, &a5d), Ordering::Less);
        assert_eq!(compare(&a5d, &a1), Ordering::Less);
        assert_eq!(compare(&a5, &a5), Ordering::Equal);
        // Bytewise, not signed: 0xff after 0x01.
        let hi = encode(&[0xff], 0, Kind::Put);
        let lo = encode(&[0x01], 0, Kind::Put);
        assert_eq!(compare(&lo, &hi), Ordering::Less);
    }

    #[test]
    fn order_is_total_with_malformed_keys() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            b"abcdefg".to_vec(),
            encode(b"", 3, Kind::Put),
            encode(b"a", 9, Kind::Put),
            encode(b"a", 1, Kind::Delete),
            encode(b"abcdefg", 2, Kind::Put),
            encode(b"b", 0, Kind::Delete),
            {
                let mut k = encode(b"a", 4, Kind::Put);
                k[1] = 0x7f;
                k
            },
        ];
        for x in &keys {
            assert_eq!(compare(x, x), Ordering::Equal);
            for y in &keys {
                assert_eq!(compare(x, y), compare(y, x).reverse());
                for z in &keys {
                    if compare(x, y) != Ordering::Greater && compare(y, z) != Ordering::Greater {
                        assert_ne!(compare(x, z), Ordering::Greater, "{x:?} {y:?} {z:?}");
                    }
                }
            }
        }
        // A short key sits just before well-formed keys with that user key.
        assert_eq!(compare(b"a", &encode(b"a", 9, Kind::Put)), Ordering::Less);
        assert_eq!(compare(&encode(b"", 0, Kind::Put), b"a"), Ordering::Less);
    }
}
