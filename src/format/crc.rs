//! LevelDB's checksums: CRC-32C (Castagnoli) stored "masked".
//!
//! A CRC stored next to the data it covers is rotated right by 15 bits and
//! offset by `0xa282ead8`, because computing the CRC of a string that itself
//! contains CRCs is otherwise prone to degenerate results (see LevelDB's
//! `util/crc32c.h`). Every stored checksum in logs and table trailers is masked.

const MASK_DELTA: u32 = 0xa282_ead8;

/// CRC-32C of `data`.
#[inline]
pub fn value(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continue a CRC-32C over more bytes (`extend(value(a), b) == value(a ++ b)`).
#[inline]
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// The form in which LevelDB stores a CRC.
#[inline]
pub fn mask(crc: u32) -> u32 {
    // LevelDB defines the mask modulo 2^32: the add is meant to wrap.
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Inverse of [`mask`].
#[inline]
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    // Vectors from LevelDB's util/crc32c_test.cc (RFC 3720 section B.4).
    #[test]
    fn standard_vectors() {
        assert_eq!(value(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(value(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: Vec<u8> = (0..32u8).collect();
        assert_eq!(value(&inc), 0x46dd_794e);
        let dec: Vec<u8> = (0..32u8).rev().collect();
        assert_eq!(value(&dec), 0x113f_db5c);
    }

    #[test]
    fn extend_matches_whole() {
        assert_eq!(value(b"hello world"), extend(value(b"hello "), b"world"));
    }

    #[test]
    fn mask_roundtrip_and_differs() {
        let c = value(b"foo");
        assert_ne!(c, mask(c));
        assert_ne!(c, mask(mask(c)));
        assert_eq!(c, unmask(mask(c)));
        assert_eq!(c, unmask(unmask(mask(mask(c)))));
    }
}
