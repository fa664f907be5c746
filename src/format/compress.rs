//! Block compression, selected by the type byte of a table block's trailer.
//!
//! ```text
//! 0  none
//! 1  snappy, raw format (no framing): varint32 uncompressed length, then elements
//! 2  zstd in upstream LevelDB (frame magic 28 b5 2f fd); zlib in the
//!    Minecraft Bedrock fork (RFC 1950 header: CMF/FLG with (CMF*256+FLG) % 31 == 0
//!    and CM == 8). The stream header tells them apart.
//! 3  zstd frame in the Bedrock fork (leveldb-mcpe's ZstdCompressor); no
//!    other LevelDB variant uses 3, but the frame magic is still required
//! 4  raw deflate (RFC 1951), Bedrock's "zlib raw"
//! ```
//! Basho's eleveldb writes LZ4 under 2 ([`super::lz4`]), which has no magic:
//! it is decoded only when the caller says the store is Basho's
//! ([`Codecs`]), and then every type 2 block is LZ4.
//! Anything else is an unknown codec: an error, never a guess. Every decoder
//! is bounded by a caller-given cap on the output, and no allocation is sized
//! by a declared length the input could not actually expand to.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

pub const NONE: u8 = 0;
pub const SNAPPY: u8 = 1;
/// zstd (LevelDB ≥ 1.23) or zlib (Bedrock), told apart by the stream header.
pub const ZSTD_OR_ZLIB: u8 = 2;
/// zstd as Mojang's leveldb-mcpe writes it (`ZstdCompressor::SERIALIZE_ID`).
pub const MCPE_ZSTD: u8 = 3;
pub const RAW_DEFLATE: u8 = 4;

/// A decompressed block larger than this is treated as damage. LevelDB
/// blocks are ~4 KiB (Bedrock's ~160 KiB); only a single huge value makes a
/// block bigger, and 64 MiB leaves room for that while bounding memory.
pub const DEFAULT_CAP: usize = 64 << 20;

pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Snappy's densest element is a 3-byte copy of 64 bytes, so no valid raw
/// stream expands more than ~21x; a larger declared length is a lie.
const SNAPPY_MAX_RATIO: usize = 22;
/// A zstd block header (3 bytes) plus one RLE byte can produce at most the
/// 128 KiB block maximum.
const ZSTD_MAX_RATIO: usize = 128 * 1024 / 4 + 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompressError {
    /// A type byte no known LevelDB variant uses.
    Unknown(u8),
    /// Type 2 whose stream is neither a zstd frame nor a zlib stream.
    UnrecognizedStream,
    /// Type 3 (Bedrock's zstd) whose stream is not a zstd frame.
    NotZstd,
    /// The output would exceed the cap (or the format's maximum ratio).
    TooLarge { codec: &'static str, limit: usize },
    /// The codec rejected the stream.
    Corrupt { codec: &'static str, detail: String },
}

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressError::Unknown(t) => write!(f, "unknown compression type {t}"),
            CompressError::UnrecognizedStream => write!(
                f,
                "compression type 2 stream is neither zstd nor zlib, and the store is not \
                 known to be Basho's (whose type 2 is LZ4, which has no magic): codec \
                 undecided"
            ),
            CompressError::NotZstd => {
                write!(f, "compression type 3 (zstd) stream is not a zstd frame")
            }
            CompressError::TooLarge { codec, limit } => {
                write!(f, "{codec} output would exceed {limit} bytes")
            }
            CompressError::Corrupt { codec, detail } => {
                write!(f, "{codec} decompression failed: {detail}")
            }
        }
    }
}

impl std::error::Error for CompressError {}

/// The store's reading of the type bytes whose codec the block cannot tell
/// by itself: chosen from the store's dialect, never guessed per block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Codecs {
    /// Type 2 is Basho's length-prefixed LZ4 ([`super::lz4`]).
    pub basho_lz4: bool,
}

/// [`decompress`] under the store's [`Codecs`].
pub fn decompress_with(
    kind: u8,
    data: &[u8],
    cap: usize,
    codecs: Codecs,
) -> Result<Cow<'_, [u8]>, CompressError> {
    if kind == ZSTD_OR_ZLIB && codecs.basho_lz4 {
        return super::lz4::decompress(data, cap).map(Cow::Owned);
    }
    decompress(kind, data, cap)
}

/// [`max_output`] under the store's [`Codecs`].
pub fn max_output_with(kind: u8, data: &[u8], cap: usize, codecs: Codecs) -> usize {
    if kind == ZSTD_OR_ZLIB && codecs.basho_lz4 {
        return super::lz4::max_output(data, cap);
    }
    max_output(kind, data, cap)
}

/// [`decompress_into`] under the store's [`Codecs`].
pub fn decompress_into_with<'a>(
    kind: u8,
    data: &'a [u8],
    cap: usize,
    scratch: &'a mut Vec<u8>,
    codecs: Codecs,
) -> Result<&'a [u8], CompressError> {
    if kind == ZSTD_OR_ZLIB && codecs.basho_lz4 {
        *scratch = super::lz4::decompress(data, cap)?;
        return Ok(scratch);
    }
    decompress_into(kind, data, cap, scratch)
}

/// Whether `t` names a codec [`decompress`] understands (discovery uses this
/// to pick trailer candidates).
pub fn is_known(t: u8) -> bool {
    matches!(t, NONE | SNAPPY | ZSTD_OR_ZLIB | MCPE_ZSTD | RAW_DEFLATE)
}

/// Decompress `data` stored with compression type `kind`, producing at most
/// `cap` bytes. Uncompressed data is borrowed, not copied.
pub fn decompress(kind: u8, data: &[u8], cap: usize) -> Result<Cow<'_, [u8]>, CompressError> {
    match kind {
        NONE => Ok(Cow::Borrowed(data)),
        SNAPPY => snappy(data, cap).map(Cow::Owned),
        ZSTD_OR_ZLIB => {
            if data.starts_with(&ZSTD_MAGIC) {
                zstd(data, cap).map(Cow::Owned)
            } else if is_zlib_header(data) {
                inflate(data, true, cap).map(Cow::Owned)
            } else {
                Err(CompressError::UnrecognizedStream)
            }
        }
        // A type-3 block that is not a zstd frame is not guessed at.
        MCPE_ZSTD if data.starts_with(&ZSTD_MAGIC) => zstd(data, cap).map(Cow::Owned),
        MCPE_ZSTD => Err(CompressError::NotZstd),
        RAW_DEFLATE => inflate(data, false, cap).map(Cow::Owned),
        t => Err(CompressError::Unknown(t)),
    }
}

/// The most bytes [`decompress`] can produce from `data` under `cap`,
/// known without decompressing: the declared length where the stream has
/// one (snappy, most zstd frames), else the codec's densest expansion.
/// Lets a caller bound the decompressed bytes it is about to hold by what
/// they can be, not by the compressed bytes (a zlib block of 64 KiB can
/// expand to the cap).
pub fn max_output(kind: u8, data: &[u8], cap: usize) -> usize {
    let deflate = || cap.min(data.len().saturating_mul(1032).saturating_add(64));
    match kind {
        NONE => data.len(),
        SNAPPY => snap::raw::decompress_len(data).map_or(0, |n| n.min(cap)),
        ZSTD_OR_ZLIB | MCPE_ZSTD if data.starts_with(&ZSTD_MAGIC) => {
            let limit = cap.min(data.len().saturating_mul(ZSTD_MAX_RATIO));
            match zstd::zstd_safe::get_frame_content_size(data) {
                Ok(Some(n)) => usize::try_from(n).map_or(limit, |n| n.min(limit)),
                _ => limit,
            }
        }
        ZSTD_OR_ZLIB if is_zlib_header(data) => deflate(),
        RAW_DEFLATE => deflate(),
        _ => 0,
    }
}

fn is_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && u16::from_be_bytes([*cmf, *flg]) % 31 == 0
        }
        _ => false,
    }
}

fn corrupt(codec: &'static str, e: impl fmt::Display) -> CompressError {
    CompressError::Corrupt {
        codec,
        detail: e.to_string(),
    }
}

/// [`decompress`] into a reused buffer: what a scan that only verifies
/// blocks uses, so that checking a block allocates nothing once `scratch`
/// has grown. Uncompressed data is still borrowed.
pub fn decompress_into<'a>(
    kind: u8,
    data: &'a [u8],
    cap: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], CompressError> {
    match kind {
        NONE => Ok(data),
        SNAPPY => {
            let n = snappy_len(data, cap)?;
            // Shrinking keeps the capacity and growing zeroes only the new
            // bytes, so a warm buffer costs nothing; the decoder overwrites
            // all `n`.
            scratch.resize(n, 0);
            snappy_to(data, scratch)?;
            Ok(scratch)
        }
        // Rare codecs: their owned output, kept in the buffer.
        _ => {
            let out = decompress(kind, data, cap)?.into_owned();
            *scratch = out;
            Ok(scratch)
        }
    }
}

/// The declared output length of a raw snappy stream, if within bounds.
fn snappy_len(data: &[u8], cap: usize) -> Result<usize, CompressError> {
    let n = snap::raw::decompress_len(data).map_err(|e| corrupt("snappy", e))?;
    let limit = cap.min(
        data.len()
            .saturating_mul(SNAPPY_MAX_RATIO)
            .saturating_add(16),
    );
    if n > limit {
        return Err(CompressError::TooLarge {
            codec: "snappy",
            limit,
        });
    }
    Ok(n)
}

/// Decode a raw snappy stream into exactly `out` (its declared length).
fn snappy_to(data: &[u8], out: &mut [u8]) -> Result<(), CompressError> {
    let got = snap::raw::Decoder::new()
        .decompress(data, out)
        .map_err(|e| corrupt("snappy", e))?;
    if got != out.len() {
        return Err(corrupt("snappy", "output shorter than its declared length"));
    }
    Ok(())
}

fn snappy(data: &[u8], cap: usize) -> Result<Vec<u8>, CompressError> {
    let mut out = vec![0u8; snappy_len(data, cap)?];
    snappy_to(data, &mut out)?;
    Ok(out)
}

thread_local! {
    // A zstd context costs a few hundred KiB to set up; blocks are small and
    // many, so each worker thread keeps one.
    static ZSTD_CTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd(data: &[u8], cap: usize) -> Result<Vec<u8>, CompressError> {
    let limit = cap.min(data.len().saturating_mul(ZSTD_MAX_RATIO));
    let too_large = CompressError::TooLarge {
        codec: "zstd",
        limit,
    };
    match zstd::zstd_safe::get_frame_content_size(data) {
        Ok(Some(n)) => {
            let n = usize::try_from(n).map_err(|_| too_large.clone())?;
            if n > limit {
                return Err(too_large);
            }
            let mut out = Vec::with_capacity(n);
            ZSTD_CTX.with(|cell| {
                let mut slot = cell.borrow_mut();
                let ctx = match &mut *slot {
                    Some(ctx) => ctx,
                    empty => empty
                        .insert(zstd::bulk::Decompressor::new().map_err(|e| corrupt("zstd", e))?),
                };
                // Writes into `out`'s capacity and fails if the frame holds
                // more than it declared, so `n` really bounds the output.
                ctx.decompress_to_buffer(data, &mut out)
                    .map_err(|e| corrupt("zstd", e))
            })?;
            if out.len() != n {
                return Err(corrupt(
                    "zstd",
                    "output length differs from the frame header",
                ));
            }
            Ok(out)
        }
        // No declared size: stream, growing the output only as bytes appear.
        Ok(None) => {
            use std::io::Read;
            let dec =
                zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt("zstd", e))?;
            let mut out = Vec::new();
            let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
            dec.take(bound)
                .read_to_end(&mut out)
                .map_err(|e| corrupt("zstd", e))?;
            if out.len() > limit {
                return Err(too_large);
            }
            Ok(out)
        }
        Err(_) => Err(corrupt("zstd", "unreadable frame header")),
    }
}

/// Exactly one zstd frame (nothing before or after it) yielding at most
/// `cap` bytes: RocksDB's compressed WAL record (`super::log`).
pub fn zstd_frame(data: &[u8], cap: usize) -> Result<Vec<u8>, CompressError> {
    if !data.starts_with(&ZSTD_MAGIC) {
        return Err(corrupt(
            "zstd",
            "the payload does not start with a zstd frame",
        ));
    }
    zstd(data, cap)
}

/// What a zstd stream yields before it breaks or ends, at most `cap` bytes:
/// the readable start of a frame cut short or damaged further on.
pub fn zstd_prefix(data: &[u8], cap: usize) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(dec) = zstd::stream::read::Decoder::with_buffer(data) {
        let bound = u64::try_from(cap).unwrap_or(u64::MAX);
        // An error ends the stream; what was decoded before it stays in `out`.
        let _ = dec.take(bound).read_to_end(&mut out);
    }
    out
}

/// zlib (`header`) or raw deflate, requiring the stream to end properly: a
/// stream cut short is damage, not a shorter block.
fn inflate(data: &[u8], header: bool, cap: usize) -> Result<Vec<u8>, CompressError> {
    use flate2::{Decompress, FlushDecompress, Status};
    let codec = if header { "zlib" } else { "deflate" };
    // Deflate's best case is ~1032:1.
    let limit = cap.min(data.len().saturating_mul(1032).saturating_add(64));
    let mut d = Decompress::new(header);
    let mut out: Vec<u8> = Vec::with_capacity(limit.min(data.len().saturating_mul(4).max(256)));
    let mut input = data;
    loop {
        if out.len() == out.capacity() {
            let room = limit
                .checked_sub(out.len())
                .filter(|&room| room > 0)
                .ok_or(CompressError::TooLarge { codec, limit })?;
            out.reserve_exact(out.len().max(4096).min(room));
        }
        let (in0, out0) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(input, &mut out, FlushDecompress::None)
            .map_err(|e| corrupt(codec, e))?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
        input = d
            .total_in()
            .checked_sub(in0)
            .and_then(|used| usize::try_from(used).ok())
            .and_then(|used| input.get(used..))
            .ok_or_else(|| corrupt(codec, "decoder consumed more than its input"))?;
        let stuck = d.total_in() == in0 && d.total_out() == out0;
        if stuck && out.len() < out.capacity() {
            return Err(corrupt(codec, "stream ends before its final block"));
        }
    }
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;
    use std::io::Write;

    fn sample() -> Vec<u8> {
        (0..5000u32).flat_map(|i| (i % 97).to_le_bytes()).collect()
    }

    #[test]
    fn max_output_bounds_what_decompress_yields() {
        let raw = vec![0u8; 3 << 20];
        let cap = 64 << 20;
        for kind in [NONE, SNAPPY, ZSTD_OR_ZLIB, RAW_DEFLATE] {
            let packed = match kind {
                NONE => raw.clone(),
                SNAPPY => snap::raw::Encoder::new().compress_vec(&raw).unwrap(),
                ZSTD_OR_ZLIB => {
                    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
                    z.write_all(&raw).unwrap();
                    z.finish().unwrap()
                }
                _ => {
                    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
                    z.write_all(&raw).unwrap();
                    z.finish().unwrap()
                }
            };
            let bound = max_output(kind, &packed, cap);
            let got = decompress(kind, &packed, cap).unwrap().len();
            assert!(got <= bound && bound <= cap, "{kind}: {got} > {bound}");
            // The bound is not the compressed size: 3 MiB of zeros packs
            // into a few KiB.
            assert!(bound >= got, "{kind}");
        }
        let z = zstd::bulk::compress(&raw, 3).unwrap();
        assert_eq!(max_output(ZSTD_OR_ZLIB, &z, cap), raw.len());
        assert_eq!(max_output(7, &raw, cap), 0);
    }

    #[test]
    fn none_borrows() {
        let d = b"abc";
        assert!(matches!(decompress(NONE, d, 10), Ok(Cow::Borrowed(b)) if b == d));
    }

    #[test]
    fn snappy_roundtrip_and_damage() {
        let raw = sample();
        let c = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        assert_eq!(decompress(SNAPPY, &c, DEFAULT_CAP).unwrap(), &raw[..]);
        assert!(matches!(
            decompress(SNAPPY, &c, 100),
            Err(CompressError::TooLarge { .. })
        ));
        // A declared length far beyond what the bytes could expand to.
        let mut lie = Vec::new();
        crate::format::coding::put_varint32(&mut lie, 50_000_000);
        lie.extend_from_slice(&[0; 8]);
        assert!(matches!(
            decompress(SNAPPY, &lie, DEFAULT_CAP),
            Err(CompressError::TooLarge { .. })
        ));
        assert!(decompress(SNAPPY, &c[..c.len() / 2], DEFAULT_CAP).is_err());
    }

    #[test]
    fn zstd_roundtrip_and_cap() {
        let raw = sample();
        let c = zstd::bulk::compress(&raw, 3).unwrap();
        assert_eq!(decompress(ZSTD_OR_ZLIB, &c, DEFAULT_CAP).unwrap(), &raw[..]);
        assert!(matches!(
            decompress(ZSTD_OR_ZLIB, &c, 1000),
            Err(CompressError::TooLarge { .. })
        ));
        assert!(decompress(ZSTD_OR_ZLIB, &c[..c.len() - 3], DEFAULT_CAP).is_err());
        // A frame without a content size goes through the streaming path.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&raw).unwrap();
        let c = enc.finish().unwrap();
        assert_eq!(decompress(ZSTD_OR_ZLIB, &c, DEFAULT_CAP).unwrap(), &raw[..]);
        assert!(matches!(
            decompress(ZSTD_OR_ZLIB, &c, 1000),
            Err(CompressError::TooLarge { .. })
        ));
    }

    #[test]
    fn mcpe_zstd_type_3() {
        let raw = sample();
        let c = zstd::bulk::compress(&raw, 1).unwrap();
        assert!(is_known(MCPE_ZSTD));
        assert_eq!(decompress(MCPE_ZSTD, &c, DEFAULT_CAP).unwrap(), &raw[..]);
        assert_eq!(max_output(MCPE_ZSTD, &c, DEFAULT_CAP), raw.len());
        let mut scratch = Vec::new();
        assert_eq!(
            decompress_into(MCPE_ZSTD, &c, DEFAULT_CAP, &mut scratch).unwrap(),
            &raw[..]
        );
        assert!(matches!(
            decompress(MCPE_ZSTD, &c, 1000),
            Err(CompressError::TooLarge { .. })
        ));
        assert!(decompress(MCPE_ZSTD, &c[..c.len() - 3], DEFAULT_CAP).is_err());
        // Type 3 is zstd only: a zlib or raw deflate stream under it is not
        // decoded by another codec.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(
            decompress(MCPE_ZSTD, &z, DEFAULT_CAP).unwrap_err(),
            CompressError::NotZstd
        );
        assert_eq!(max_output(MCPE_ZSTD, &z, DEFAULT_CAP), 0);
        assert_eq!(
            CompressError::NotZstd.to_string(),
            "compression type 3 (zstd) stream is not a zstd frame"
        );
    }

    #[test]
    fn zlib_and_raw_deflate() {
        let raw = sample();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(decompress(ZSTD_OR_ZLIB, &z, DEFAULT_CAP).unwrap(), &raw[..]);
        assert!(matches!(
            decompress(ZSTD_OR_ZLIB, &z, 100),
            Err(CompressError::TooLarge { .. })
        ));
        // Cut short: an error, not a silently shorter block.
        assert!(decompress(ZSTD_OR_ZLIB, &z[..z.len() / 2], DEFAULT_CAP).is_err());

        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(&raw).unwrap();
        let d = d.finish().unwrap();
        assert_eq!(decompress(RAW_DEFLATE, &d, DEFAULT_CAP).unwrap(), &raw[..]);
        assert!(decompress(RAW_DEFLATE, &d[..d.len() - 4], DEFAULT_CAP).is_err());
    }

    #[test]
    fn unknown_and_unrecognized() {
        let e = decompress(7, b"xyz", 100).unwrap_err();
        assert_eq!(e, CompressError::Unknown(7));
        assert_eq!(e.to_string(), "unknown compression type 7");
        assert_eq!(
            decompress(ZSTD_OR_ZLIB, b"\x00\x01\x02", 100).unwrap_err(),
            CompressError::UnrecognizedStream
        );
        assert!(decompress(ZSTD_OR_ZLIB, b"", 100).is_err());
        assert!(decompress(SNAPPY, b"", 100).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            for t in 0..=5u8 {
                let _ = decompress(t, &bytes, 1 << 20);
                let mut with_magic = ZSTD_MAGIC.to_vec();
                with_magic.extend_from_slice(&bytes);
                let _ = decompress(t, &with_magic, 1 << 20);
                let mut with_zlib = vec![0x78, 0x9c];
                with_zlib.extend_from_slice(&bytes);
                let _ = decompress(t, &with_zlib, 1 << 20);
            }
        }
    }
}
