//! TEMPORARY stand-in for the internal-key module another developer owns;
//! it only exists so the table code compiles and is dropped at merge.
//!
//! ```text
//! internal key: user_key ++ tag: fixed64 LE, tag = seq << 8 | type
//! ```
//! `type` is 0 (delete) or 1 (put); anything else is not an internal key.

use super::batch::Kind;
use super::coding::put_fixed64;
use std::cmp::Ordering;

pub const TAG_SIZE: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedInternalKey<'a> {
    pub user_key: &'a [u8],
    pub seq: u64,
    pub kind: Kind,
}

pub fn parse(ikey: &[u8]) -> Option<ParsedInternalKey<'_>> {
    let split = ikey.len().checked_sub(TAG_SIZE)?;
    let (user_key, tag) = ikey.split_at(split);
    let mut b = [0u8; 8];
    b.copy_from_slice(tag);
    let tag = u64::from_le_bytes(b);
    let kind = Kind::from_u8((tag & 0xff) as u8)?;
    Some(ParsedInternalKey {
        user_key,
        seq: tag >> 8,
        kind,
    })
}

pub fn encode(user_key: &[u8], seq: u64, kind: Kind) -> Vec<u8> {
    let mut out = Vec::with_capacity(user_key.len() + TAG_SIZE);
    out.extend_from_slice(user_key);
    put_fixed64(&mut out, (seq << 8) | kind as u64);
    out
}

/// Splits into (user key, tag); a key too short for a tag is all user key
/// with no tag, so the order stays total on malformed input.
fn split(k: &[u8]) -> (&[u8], Option<u64>) {
    match k.len().checked_sub(TAG_SIZE) {
        Some(n) => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&k[n..]);
            (&k[..n], Some(u64::from_le_bytes(b)))
        }
        None => (k, None),
    }
}

pub fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let (ua, ta) = split(a);
    let (ub, tb) = split(b);
    ua.cmp(ub).then_with(|| tb.cmp(&ta)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_order() {
        let k = encode(b"abc", 7, Kind::Put);
        let p = parse(&k).unwrap();
        assert_eq!((p.user_key, p.seq, p.kind), (&b"abc"[..], 7, Kind::Put));
        assert!(parse(b"short").is_none());
        let mut bad = k.clone();
        let n = bad.len() - 8;
        bad[n] = 2;
        assert!(parse(&bad).is_none());
        assert_eq!(
            compare(&encode(b"a", 9, Kind::Put), &encode(b"b", 1, Kind::Put)),
            Ordering::Less
        );
        assert_eq!(
            compare(&encode(b"a", 9, Kind::Put), &encode(b"a", 1, Kind::Put)),
            Ordering::Less
        );
        assert_eq!(
            compare(&encode(b"a", 5, Kind::Put), &encode(b"a", 5, Kind::Delete)),
            Ordering::Less
        );
    }
}
