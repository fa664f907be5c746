//! CRC-32C arithmetic for the block search: a register stepped forward and
//! backward a byte at a time, and products in GF(2)[x]/P.
//!
//! ```text
//! register:  raw (pre-inverted) CRC-32C state, bit-reflected
//! P:         0x82f63b78 (reflected); x^0 is the top bit
//! ```

pub(super) const POLY: u32 = 0x82f6_3b78; // CRC-32C, bit-reflected
pub(super) const ONE: u32 = 0x8000_0000; // x^0 in the reflected representation

// Evaluated at compile time (it only builds a constant): an index out of
// range or an overflow here fails the build, never a run.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// Byte-at-a-time CRC-32C steps. The byte-by-byte test needs the CRC after
/// every byte, where a table step is cheaper than a library call per byte.
pub(super) const CRC_TABLE: [u32; 256] = crc_table();

/// `CRC_TABLE`'s top bytes are all distinct, which makes a step invertible.
// Evaluated at compile time (it only builds a constant): an index out of
// range or an overflow here fails the build, never a run.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
const fn crc_inverse() -> [u8; 256] {
    let mut inv = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        inv[(CRC_TABLE[i] >> 24) as usize] = i as u8;
        i += 1;
    }
    inv
}
pub(super) const CRC_INVERSE: [u8; 256] = crc_inverse();

/// `t[i]`: a byte indexes a 256-entry table, in range by its type.
#[inline(always)]
#[allow(clippy::indexing_slicing)]
fn at<T: Copy>(t: &[T; 256], i: u8) -> T {
    t[usize::from(i)]
}

/// Advance a raw (pre-inverted) CRC register by one byte.
#[inline(always)]
pub(super) fn step(r: u32, b: u8) -> u32 {
    let [low, ..] = r.to_le_bytes();
    at(&CRC_TABLE, low ^ b) ^ (r >> 8)
}

/// Undo [`step`]: the register before `b` was processed.
#[inline(always)]
pub(super) fn unstep(r: u32, b: u8) -> u32 {
    let [.., high] = r.to_le_bytes();
    let idx = at(&CRC_INVERSE, high);
    ((r ^ at(&CRC_TABLE, idx)) << 8) | u32::from(idx ^ b)
}

/// Product of two polynomials modulo P, both reflected (zlib's `multmodp`).
pub(super) const fn mulmod(a: u32, mut b: u32) -> u32 {
    let mut p = 0u32;
    let mut m = ONE;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        m >>= 1;
    }
    p
}

/// x^-1 mod P: P has a constant term, so x·((P - 1)/x) = 1.
pub(super) const X_INV: u32 = (POLY << 1) | 1;

// Evaluated at compile time (it only builds a constant): an index out of
// range or an overflow here fails the build, never a run.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
pub(super) const fn pow(base: u32, mut n: u32) -> u32 {
    let mut r = ONE;
    while n > 0 {
        r = mulmod(r, base);
        n -= 1;
    }
    r
}
pub(super) const X_INV8: u32 = pow(X_INV, 8);

/// Multiplying by the constant x^-8 is linear, so four table lookups do it.
// Evaluated at compile time (it only builds a constant): an index out of
// range or an overflow here fails the build, never a run.
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
const fn x_inv8_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut j = 0;
    while j < 4 {
        let mut b = 0;
        while b < 256 {
            t[j][b] = mulmod((b as u32) << (8 * j), X_INV8);
            b += 1;
        }
        j += 1;
    }
    t
}
const X_INV8_TABLES: [[u32; 256]; 4] = x_inv8_tables();

#[inline(always)]
pub(super) fn mul_x_inv8(v: u32) -> u32 {
    let [t0, t1, t2, t3] = &X_INV8_TABLES;
    let [b0, b1, b2, b3] = v.to_le_bytes();
    at(t0, b0) ^ at(t1, b1) ^ at(t2, b2) ^ at(t3, b3)
}

/// x^24, reflected.
pub(super) const X24: u32 = 1 << 7;

/// `b·pw` for a byte `b` (bit k standing for x^(31-k)), given `hi` =
/// pw·x^24: eight shift-and-add steps instead of thirty-two.
#[inline(always)]
pub(super) fn mul_byte(b: u8, hi: u32) -> u32 {
    let mut t = hi;
    let mut acc = 0u32;
    for bit in (0..8).rev() {
        acc ^= t & 0u32.wrapping_sub(u32::from((b >> bit) & 1));
        t = (t >> 1) ^ (POLY & 0u32.wrapping_sub(t & 1));
    }
    acc
}
