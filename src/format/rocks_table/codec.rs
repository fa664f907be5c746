//! Block compression ids of RocksDB (`include/rocksdb/compression_type.h`)
//! and how a compressed block is laid out (`util/compression.{h,cc}`).
//!
//! ```text
//! 0 none   1 snappy   2 zlib   3 bzip2   4 lz4   5 lz4hc   6 xpress   7 zstd
//! 0x40 zstd before its format was final (same bytes as 7; removed from
//!      RocksDB since, but older files hold it)
//! 0x80..=0xfe custom compressors (not decodable without their code)
//!
//! "compression format version 2" (written from table format_version 2 on):
//!   zlib, bzip2, lz4, lz4hc, zstd:  uncompressed_size: varint32 | stream
//!   snappy: raw snappy (its own varint length); xpress: its own header
//! format version 1 (format_version 0/1): no size prefix for zlib/bzip2;
//!   lz4 prefixed by the size as 8 little-endian bytes.
//! zlib streams are raw deflate (the reader inflates with windowBits -14).
//! bzip2 streams are whole bzip2 files ("BZh" magic, one stream: the writer
//! calls BZ2_bzCompress with BZ_FINISH once, the reader
//! BZ2_bzBuffToBuffDecompress; `BuiltinBZip2CompressorV2` and
//! `BZip2_DecompressBlock` in `util/compression.cc`).
//! ```
//! Every decoder's output is bounded by the caller's cap and must equal the
//! declared size (format version 1's zlib and bzip2 declare none: their
//! output is only bounded). Codecs without a decoder here (xpress, custom)
//! are a distinct [`CodecError::Unsupported`]: not damage, just unreadable
//! here.

use super::super::coding::Cursor;
use super::super::compress::{self, CompressError};
use std::borrow::Cow;
use std::fmt;

pub const NONE: u8 = 0;
pub const SNAPPY: u8 = 1;
pub const ZLIB: u8 = 2;
pub const BZIP2: u8 = 3;
pub const LZ4: u8 = 4;
pub const LZ4HC: u8 = 5;
pub const XPRESS: u8 = 6;
pub const ZSTD: u8 = 7;
pub const ZSTD_NOT_FINAL: u8 = 0x40;

/// LZ4's densest expansion (a 255 length byte adds 255 output bytes).
const LZ4_MAX_RATIO: usize = 256;

pub fn name(id: u8) -> &'static str {
    match id {
        NONE => "none",
        SNAPPY => "snappy",
        ZLIB => "zlib",
        BZIP2 => "bzip2",
        LZ4 => "lz4",
        LZ4HC => "lz4hc",
        XPRESS => "xpress",
        ZSTD => "zstd",
        ZSTD_NOT_FINAL => "zstd-not-final",
        0x80..=0xfe => "custom",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// A codec RocksDB writes but this reader has no decoder for.
    Unsupported {
        id: u8,
    },
    /// A compression id RocksDB never writes.
    Unknown(u8),
    /// The uncompressed-size prefix is cut or malformed.
    BadSizePrefix,
    /// The declared size exceeds the cap or what the stream could expand to.
    TooLarge {
        declared: u64,
        limit: usize,
    },
    /// The stream decoded to a size other than the declared one.
    SizeMismatch {
        declared: usize,
        got: usize,
    },
    Codec(CompressError),
}

impl CodecError {
    /// Damage (as opposed to a codec merely missing here).
    pub fn is_damage(&self) -> bool {
        !matches!(self, CodecError::Unsupported { .. })
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Unsupported { id } => {
                write!(f, "unsupported codec {} (id {id})", name(*id))
            }
            CodecError::Unknown(id) => write!(f, "unknown compression id {id}"),
            CodecError::BadSizePrefix => f.write_str("malformed uncompressed-size prefix"),
            CodecError::TooLarge { declared, limit } => {
                write!(f, "declared size {declared} exceeds the limit {limit}")
            }
            CodecError::SizeMismatch { declared, got } => {
                write!(f, "decoded {got} bytes, {declared} declared")
            }
            CodecError::Codec(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CodecError {}

/// Decode block `data` stored with compression `id` by a table of
/// `format_version`, producing at most `cap` bytes.
pub fn decompress(
    id: u8,
    data: &[u8],
    format_version: u32,
    cap: usize,
) -> Result<Cow<'_, [u8]>, CodecError> {
    let v2 = format_version >= 2;
    match id {
        NONE => Ok(Cow::Borrowed(data)),
        SNAPPY => compress::decompress(compress::SNAPPY, data, cap).map_err(CodecError::Codec),
        ZLIB if v2 => {
            let (n, body) = size_prefix(data, cap, usize::MAX)?;
            exact(n, compress::decompress(compress::RAW_DEFLATE, body, n))
        }
        ZLIB => compress::decompress(compress::RAW_DEFLATE, data, cap).map_err(CodecError::Codec),
        LZ4 | LZ4HC => {
            let limit = |body: &[u8]| body.len().saturating_mul(LZ4_MAX_RATIO).saturating_add(16);
            let (n, body) = if v2 {
                size_prefix(data, cap, limit(data))?
            } else {
                let mut c = Cursor::new(data);
                let n = c.fixed64().map_err(|_| CodecError::BadSizePrefix)?;
                let limit = cap.min(limit(c.rest()));
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= limit)
                    .ok_or(CodecError::TooLarge { declared: n, limit })?;
                (n, c.rest())
            };
            let mut out = vec![0u8; n];
            let got = lz4_flex::block::decompress_into(body, &mut out).map_err(|e| {
                CodecError::Codec(CompressError::Corrupt {
                    codec: "lz4",
                    detail: e.to_string(),
                })
            })?;
            if got != n {
                return Err(CodecError::SizeMismatch { declared: n, got });
            }
            Ok(Cow::Owned(out))
        }
        ZSTD | ZSTD_NOT_FINAL => {
            let (n, body) = if v2 {
                size_prefix(data, cap, usize::MAX)?
            } else {
                (cap, data)
            };
            let out = compress::decompress(compress::MCPE_ZSTD, body, n);
            if v2 {
                exact(n, out)
            } else {
                out.map_err(CodecError::Codec)
            }
        }
        BZIP2 if v2 => {
            let (n, body) = size_prefix(data, cap, usize::MAX)?;
            exact(n, bzip2(body, n).map(Cow::Owned))
        }
        BZIP2 => bzip2(data, cap).map(Cow::Owned).map_err(CodecError::Codec),
        XPRESS | 0x80..=0xfe => Err(CodecError::Unsupported { id }),
        _ => Err(CodecError::Unknown(id)),
    }
}

/// One bzip2 stream decoded to at most `cap` bytes; a stream that is cut
/// short, damaged or yields more is an error. Its output grows only as bytes
/// come out: bzip2 can expand a few bytes into megabytes, so no ratio bounds
/// a declared size the way it does for lz4.
fn bzip2(data: &[u8], cap: usize) -> Result<Vec<u8>, CompressError> {
    use std::io::Read;
    let mut out = Vec::new();
    let bound = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    bzip2::read::BzDecoder::new(data)
        .take(bound)
        .read_to_end(&mut out)
        .map_err(|e| CompressError::Corrupt {
            codec: "bzip2",
            detail: e.to_string(),
        })?;
    if out.len() > cap {
        return Err(CompressError::TooLarge {
            codec: "bzip2",
            limit: cap,
        });
    }
    Ok(out)
}

/// The varint32 uncompressed size and the stream after it, the size
/// checked against `cap` and `ratio_limit`.
fn size_prefix(data: &[u8], cap: usize, ratio_limit: usize) -> Result<(usize, &[u8]), CodecError> {
    let mut c = Cursor::new(data);
    let n = c.varint32().map_err(|_| CodecError::BadSizePrefix)?;
    let limit = cap.min(ratio_limit);
    let declared = u64::from(n);
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= limit)
        .ok_or(CodecError::TooLarge { declared, limit })?;
    Ok((n, c.rest()))
}

fn exact(n: usize, out: Result<Cow<'_, [u8]>, CompressError>) -> Result<Cow<'_, [u8]>, CodecError> {
    let out = out.map_err(CodecError::Codec)?;
    if out.len() != n {
        return Err(CodecError::SizeMismatch {
            declared: n,
            got: out.len(),
        });
    }
    Ok(out)
}
