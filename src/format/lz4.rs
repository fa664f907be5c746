//! Basho eleveldb's LZ4 blocks: compression id 2 in its tables (id 2 is
//! zstd in upstream LevelDB and zlib in Mojang's fork; LZ4 has no magic to
//! tell it by, so it is used only when the store is known to be Basho's).
//!
//! ```text
//! ulength: fixed32   the uncompressed length
//! block:   bytes     one raw LZ4 block (no frame), decoding to exactly
//!                    ulength bytes
//! ```
//! `table/format.cc` and `table/table_builder.cc` of basho/leveldb (its
//! bundled `util/lz4.c`, `LZ4_decompress_safe`). Decoding is bounded by the
//! declared length, the caller's cap and LZ4's densest expansion, and the
//! output must be exactly the declared length, as Basho's reader requires.

use super::coding::Cursor;
use super::compress::CompressError;

/// LZ4's densest encoding: a match length extension byte of 255 adds 255
/// output bytes, so no block expands by more than this.
const MAX_RATIO: usize = 256;
const CODEC: &str = "lz4";

/// The declared length, if within the cap and what the block can expand to.
fn declared(data: &[u8], cap: usize) -> Result<(usize, &[u8]), CompressError> {
    let mut c = Cursor::new(data);
    let n = c
        .fixed32()
        .map_err(|_| corrupt("shorter than its 4-byte length"))?;
    let body = c.rest();
    let n = usize::try_from(n).map_err(|_| corrupt("length does not fit"))?;
    let limit = cap.min(body.len().saturating_mul(MAX_RATIO).saturating_add(16));
    if n > limit {
        return Err(CompressError::TooLarge {
            codec: CODEC,
            limit,
        });
    }
    Ok((n, body))
}

fn corrupt(detail: impl std::fmt::Display) -> CompressError {
    CompressError::Corrupt {
        codec: CODEC,
        detail: detail.to_string(),
    }
}

/// Decode a Basho LZ4 block, producing at most `cap` bytes.
pub fn decompress(data: &[u8], cap: usize) -> Result<Vec<u8>, CompressError> {
    let (n, body) = declared(data, cap)?;
    let mut out = vec![0u8; n];
    let got = lz4_flex::block::decompress_into(body, &mut out).map_err(corrupt)?;
    if got != n {
        return Err(corrupt(format!(
            "{got} bytes decoded, {n} declared by its length prefix"
        )));
    }
    Ok(out)
}

/// The most bytes [`decompress`] can produce: its declared length when that
/// is within bounds, else nothing (it will fail).
pub fn max_output(data: &[u8], cap: usize) -> usize {
    declared(data, cap).map_or(0, |(n, _)| n)
}

/// A Basho LZ4 block of `raw` (used to write Basho tables and in tests).
pub fn compress(raw: &[u8]) -> Vec<u8> {
    let body = lz4_flex::block::compress(raw);
    let mut out = Vec::with_capacity(body.len().saturating_add(4));
    super::coding::put_fixed32(&mut out, u32::try_from(raw.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bounds() {
        let raw: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
        let c = compress(&raw);
        assert_eq!(&c[..4], &5000u32.to_le_bytes());
        assert_eq!(decompress(&c, 1 << 20).unwrap(), raw);
        assert_eq!(max_output(&c, 1 << 20), 5000);
        // Over the cap: refused before allocating.
        assert!(matches!(
            decompress(&c, 100),
            Err(CompressError::TooLarge { .. })
        ));
        // A length prefix the body cannot expand to.
        let mut lie = c.clone();
        lie[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decompress(&lie, usize::MAX).is_err());
        assert_eq!(max_output(&lie, usize::MAX), 0);
        // A declared length one more than the body holds.
        let mut more = c.clone();
        more[..4].copy_from_slice(&5001u32.to_le_bytes());
        assert!(matches!(
            decompress(&more, 1 << 20),
            Err(CompressError::Corrupt { .. })
        ));
        assert!(decompress(&c[..3], 1 << 20).is_err());
        // Damaged bodies never panic.
        for i in 4..c.len() {
            let mut d = c.clone();
            d[i] ^= 0xa5;
            let _ = decompress(&d, 1 << 20);
        }
    }
}
