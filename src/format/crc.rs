//! LevelDB's checksums: CRC-32C (Castagnoli) stored "masked".
//!
//! A CRC stored next to the data it covers is rotated right by 15 bits and
//! offset by `0xa282ead8`, because computing the CRC of a string that itself
//! contains CRCs is otherwise prone to degenerate results (see LevelDB's
//! `util/crc32c.h`). Every stored checksum in logs and table trailers is masked.
//!
//! The CRC itself is CRC-32/ISCSI (the same polynomial) from one of two
//! crates, picked once per process by what the CPU offers. With AVX-512
//! VPCLMULQDQ, crc-fast folds 64 bytes per carry-less multiply: on an Intel
//! Xeon with AVX-512, over bytes in cache, 860-byte records 1.76× as fast as
//! the crc32c crate, 4 KiB 2.0×; over bytes read from memory (a scan's, out
//! of the page cache) the two come closer: 1.27× and 1.07×, and 32 KiB
//! pieces 0.82×, a size a scan meets only in large records and blocks (the
//! benchmark's are ~860 bytes and ~4 KiB; a scratch program, 2026-12-05).
//! Without it crc-fast falls back to 16-byte folds and, for every buffer
//! past 144 bytes, computes its streams' shift constants (x^n mod P) at run
//! time: there the crc32c crate, whose constants are tables for fixed
//! stream sizes, is the faster one (860-byte records 12.2 against 8.9 GB/s,
//! 32 KiB 15.2 against 13.8, on an AMD EPYC with AVX2 only). Both give the
//! same value; a test checks them against each other.

use crc_fast::{CrcAlgorithm, Digest};

const MASK_DELTA: u32 = 0xa282_ead8;

/// Whether crc-fast's wide folding is available (see the module's summary).
#[inline]
fn wide_folding() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // Both macros read a cached word after the first call.
        std::is_x86_feature_detected!("avx512vl") && std::is_x86_feature_detected!("vpclmulqdq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // Elsewhere crc-fast is what was chosen before the split, unmeasured
        // against the crc32c crate: keep it.
        true
    }
}

/// CRC-32C of `data`.
#[inline]
pub fn value(data: &[u8]) -> u32 {
    if wide_folding() {
        crc_fast::crc32_iscsi(data)
    } else {
        crc32c::crc32c(data)
    }
}

/// Continue a CRC-32C over more bytes (`extend(value(a), b) == value(a ++ b)`).
#[inline]
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    if wide_folding() {
        extend_folding(crc, data)
    } else {
        crc32c::crc32c_append(crc, data)
    }
}

fn extend_folding(crc: u32, data: &[u8]) -> u32 {
    // The digest keeps the register, which is the CRC inverted.
    let mut d = Digest::new_with_init_state(CrcAlgorithm::Crc32Iscsi, u64::from(!crc));
    d.update(data);
    let [a, b, c, e, ..] = d.finalize().to_le_bytes();
    // A 32-bit CRC's digest holds 32 bits: the low ones.
    u32::from_le_bytes([a, b, c, e])
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

    /// crc-fast picks a code path by length and by alignment (bytes before
    /// and after its folding loops): every length up to past its largest
    /// step, at every alignment within 64 bytes, agrees with the crc32c
    /// crate, whole and split anywhere. Both crates are called directly,
    /// whichever `value` uses on this CPU.
    #[test]
    fn agrees_with_crc32c_crate() {
        let data = crate::vocab::noise::bytes(5000, 0x9e37_79b9_7f4a_7c15);
        for start in 0..64 {
            for len in (0..1100).chain([2047, 2048, 2049, 4095, 4096, 4097, 4900]) {
                let d = &data[start..start + len];
                let want = crc32c::crc32c(d);
                assert_eq!(crc_fast::crc32_iscsi(d), want, "at {start}, {len} bytes");
                assert_eq!(value(d), want, "at {start}, {len} bytes");
                let cut = (len * 7 / 13 + start) % (len + 1);
                assert_eq!(extend_folding(crc32c::crc32c(&d[..cut]), &d[cut..]), want);
                assert_eq!(extend(value(&d[..cut]), &d[cut..]), want);
                assert_eq!(
                    extend_folding(0x1234_5678, d),
                    crc32c::crc32c_append(0x1234_5678, d)
                );
            }
        }
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
