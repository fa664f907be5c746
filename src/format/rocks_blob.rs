//! RocksDB BlobDB: the `NNNNNN.blob` files that hold large values apart from
//! the tables, and the blob index a table (or WAL) entry of type 0x11 holds
//! in place of such a value.
//!
//! Read from facebook/rocksdb: `db/blob/blob_log_format.{h,cc}` (header,
//! record and footer layouts, which CRCs cover what), `db/blob/blob_index.h`
//! (the three index types), `db/blob/blob_log_writer.cc` (a file is its
//! header, its records back to back, then the footer when it is closed),
//! `db/blob/blob_file_reader.cc` (what a read verifies) and
//! `db/blob/blob_file_builder.cc` (values are compressed with compression
//! format version 2, as tables are from format_version 2 on).
//!
//! ```text
//! file    header | record* | footer (only once the file was closed)
//! header  (30 bytes) magic: fixed32 = 0x00248f37 | version: fixed32 = 1 |
//!         column family id: fixed32 | flags: 1 byte (bit 0: has_ttl) |
//!         compression: 1 byte (every value's) | expiration range: 2 x fixed64
//! record  key length: fixed64 | value length: fixed64 | expiration: fixed64 |
//!         header CRC: fixed32 | blob CRC: fixed32 | key | value
//!         header CRC: masked CRC-32C of the first 24 bytes;
//!         blob CRC: masked CRC-32C of key then value (the stored, compressed
//!         value); the key is the entry's user key
//! footer  (32 bytes) magic: fixed32 | blob count: fixed64 |
//!         expiration range: 2 x fixed64 | masked CRC-32C of the 28 bytes before
//! index   type: 1 byte, then
//!         0 kInlinedTTL  expiration: varint64 | the value itself (the rest)
//!         1 kBlob        file number, offset, size: varint64 | compression: 1 byte
//!         2 kBlobTTL     expiration: varint64 | kBlob's fields
//!         nothing may follow kBlob's compression byte; file number 0 is
//!         newer RocksDB's "same file": a blob kept in the table itself
//! ```
//! A blob index's offset is the value's, not the record's: the record starts
//! `32 + key length` bytes before it, and its size is the stored (compressed)
//! value's. A compressed value is `uncompressed size: varint32 | stream`
//! (snappy: its own raw format), decoded by [`super::rocks_table::codec`].
//! The `encode_*` functions write the same layouts (the tests' blob files).

use super::coding::{Cursor, Span};
use super::crc;
use super::rocks_table::codec::{self, CodecError};
use std::borrow::Cow;
use std::fmt;

pub const MAGIC: u32 = 0x0024_8f37;
pub const VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 30;
pub const FOOTER_SIZE: usize = 32;
pub const RECORD_HEADER_SIZE: usize = 32;
/// The bytes the header CRC covers: the three lengths.
const HEADER_CRC_COVERS: usize = 24;
const HAS_TTL: u8 = 1;

/// A blob index's file number 0 (`kCurrentFileBlobIndexFileNumber`, newer
/// RocksDB's `db/blob/blob_constants.h`): the blob is in the table file
/// itself, not in a blob file.
pub const SAME_FILE: u64 = 0;

const INDEX_INLINED_TTL: u8 = 0;
const INDEX_BLOB: u8 = 1;
const INDEX_BLOB_TTL: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobError {
    /// Fewer bytes than the structure needs.
    Short {
        what: &'static str,
        need: u64,
        have: u64,
    },
    BadMagic {
        what: &'static str,
        got: u32,
    },
    UnknownVersion(u32),
    HeaderCrc,
    FooterCrc,
    BlobCrc,
    /// The record's key length or key is not the entry's.
    KeyMismatch,
    /// The record's value length is not the index's size.
    SizeMismatch {
        record: u64,
        index: u64,
    },
    /// The index's compression is not the file's.
    CompressionMismatch {
        index: u8,
        file: u8,
    },
    UnknownIndexType(u8),
    BadIndex(&'static str),
    /// The index points where no record of this file can be.
    OutOfRange(String),
    Codec(CodecError),
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::Short { what, need, have } => {
                write!(f, "{what} cut short: {have} of {need} bytes")
            }
            BlobError::BadMagic { what, got } => {
                write!(f, "{what} magic is 0x{got:08x}, not 0x{MAGIC:08x}")
            }
            BlobError::UnknownVersion(v) => write!(f, "unknown blob file version {v}"),
            BlobError::HeaderCrc => f.write_str("blob record header checksum mismatch"),
            BlobError::FooterCrc => f.write_str("blob file footer checksum mismatch"),
            BlobError::BlobCrc => f.write_str("blob record checksum mismatch (key and value)"),
            BlobError::KeyMismatch => f.write_str("the blob record holds another key"),
            BlobError::SizeMismatch { record, index } => write!(
                f,
                "the blob record's value is {record} bytes, the blob index says {index}"
            ),
            BlobError::CompressionMismatch { index, file } => write!(
                f,
                "the blob index says {} compression, the blob file {}",
                codec::name(*index),
                codec::name(*file)
            ),
            BlobError::UnknownIndexType(t) => write!(f, "unknown blob index type {t}"),
            BlobError::BadIndex(what) => write!(f, "malformed blob index: {what}"),
            BlobError::OutOfRange(why) => write!(f, "out of range: {why}"),
            BlobError::Codec(e) => write!(f, "blob value does not decompress: {e}"),
        }
    }
}

impl std::error::Error for BlobError {}

fn short(what: &'static str, need: usize, have: usize) -> BlobError {
    BlobError::Short {
        what,
        need: need as u64,
        have: have as u64,
    }
}

/// A blob file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    pub column_family: u32,
    pub has_ttl: bool,
    /// The compression id of every value in the file.
    pub compression: u8,
    pub expiration_range: (u64, u64),
}

/// The header at the start of `data` (which may run on past it).
pub fn header(data: &[u8]) -> Result<BlobHeader, BlobError> {
    let b = data
        .get(..HEADER_SIZE)
        .ok_or_else(|| short("blob file header", HEADER_SIZE, data.len()))?;
    let mut c = Cursor::new(b);
    let fields = (|| {
        Ok::<_, super::coding::DecodeError>((
            c.fixed32()?,
            c.fixed32()?,
            c.fixed32()?,
            c.u8()?,
            c.u8()?,
            c.fixed64()?,
            c.fixed64()?,
        ))
    })();
    // The slice is exactly HEADER_SIZE bytes: no read fails.
    let (magic, version, column_family, flags, compression, lo, hi) =
        fields.map_err(|_| short("blob file header", HEADER_SIZE, b.len()))?;
    if magic != MAGIC {
        return Err(BlobError::BadMagic {
            what: "blob file header",
            got: magic,
        });
    }
    if version != VERSION {
        return Err(BlobError::UnknownVersion(version));
    }
    Ok(BlobHeader {
        column_family,
        has_ttl: flags & HAS_TTL != 0,
        compression,
        expiration_range: (lo, hi),
    })
}

/// A blob file's footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobFooter {
    pub blob_count: u64,
    pub expiration_range: (u64, u64),
}

/// The footer that is the whole of `data` (the file's last 32 bytes).
pub fn footer(data: &[u8]) -> Result<BlobFooter, BlobError> {
    if data.len() != FOOTER_SIZE {
        return Err(short("blob file footer", FOOTER_SIZE, data.len()));
    }
    let covered = data.get(..FOOTER_SIZE - 4).unwrap_or_default();
    let mut c = Cursor::new(data);
    let fields = (|| {
        Ok::<_, super::coding::DecodeError>((
            c.fixed32()?,
            c.fixed64()?,
            c.fixed64()?,
            c.fixed64()?,
            c.fixed32()?,
        ))
    })();
    let (magic, blob_count, lo, hi, stored) =
        fields.map_err(|_| short("blob file footer", FOOTER_SIZE, data.len()))?;
    if magic != MAGIC {
        return Err(BlobError::BadMagic {
            what: "blob file footer",
            got: magic,
        });
    }
    if crc::mask(crc::value(covered)) != stored {
        return Err(BlobError::FooterCrc);
    }
    Ok(BlobFooter {
        blob_count,
        expiration_range: (lo, hi),
    })
}

/// A record's 32-byte header, its own CRC verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub key_len: u64,
    pub value_len: u64,
    pub expiration: u64,
    pub blob_crc: u32,
}

impl RecordHeader {
    /// Header, key and value; `None` when the lengths overflow.
    pub fn record_len(&self) -> Option<u64> {
        (RECORD_HEADER_SIZE as u64)
            .checked_add(self.key_len)?
            .checked_add(self.value_len)
    }

    /// Start the blob CRC; feed key and value through [`crc::extend`] and
    /// finish with [`RecordHeader::blob_crc_matches`].
    pub fn blob_crc_matches(&self, crc_of_key_and_value: u32) -> bool {
        crc::mask(crc_of_key_and_value) == self.blob_crc
    }
}

/// The record header at the start of `data`.
pub fn record_header(data: &[u8]) -> Result<RecordHeader, BlobError> {
    let b = data
        .get(..RECORD_HEADER_SIZE)
        .ok_or_else(|| short("blob record header", RECORD_HEADER_SIZE, data.len()))?;
    let mut c = Cursor::new(b);
    let fields = (|| {
        Ok::<_, super::coding::DecodeError>((
            c.fixed64()?,
            c.fixed64()?,
            c.fixed64()?,
            c.fixed32()?,
            c.fixed32()?,
        ))
    })();
    let (key_len, value_len, expiration, header_crc, blob_crc) =
        fields.map_err(|_| short("blob record header", RECORD_HEADER_SIZE, data.len()))?;
    let covered = b.get(..HEADER_CRC_COVERS).unwrap_or_default();
    if crc::mask(crc::value(covered)) != header_crc {
        return Err(BlobError::HeaderCrc);
    }
    Ok(RecordHeader {
        key_len,
        value_len,
        expiration,
        blob_crc,
    })
}

/// What a blob index says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobIndex<'a> {
    /// kInlinedTTL: the value is in the index itself.
    Inlined { expiration: u64, value: &'a [u8] },
    /// kBlob and kBlobTTL (with an expiration).
    Blob(BlobRef),
}

/// Where a value lives in a blob file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    pub expiration: Option<u64>,
    pub file: u64,
    /// Of the value, not of its record.
    pub offset: u64,
    /// The stored (compressed) value's.
    pub size: u64,
    pub compression: u8,
}

impl BlobRef {
    /// Where this value's record starts, for a key of `key_len` bytes, and
    /// how long the record is; checked as RocksDB's `IsValidBlobOffset` does
    /// (against `file_size`, leaving room for a footer when `has_footer`).
    pub fn record_span(
        &self,
        key_len: usize,
        file_size: u64,
        has_footer: bool,
    ) -> Result<(u64, u64), BlobError> {
        let key_len = key_len as u64;
        let prefix = (HEADER_SIZE + RECORD_HEADER_SIZE) as u64;
        let min = prefix.saturating_add(key_len);
        if self.offset < min {
            return Err(BlobError::OutOfRange(format!(
                "offset {} is before the first record's value could start (byte {min})",
                self.offset
            )));
        }
        let footer = if has_footer { FOOTER_SIZE as u64 } else { 0 };
        let end = file_size.saturating_sub(footer);
        match self.offset.checked_add(self.size) {
            Some(e) if e <= end => {}
            _ => {
                return Err(BlobError::OutOfRange(format!(
                    "the value at {} of {} bytes runs past byte {end} of the file",
                    self.offset, self.size
                )))
            }
        }
        // Both fit: the checks above put key and value inside the file.
        let start = self
            .offset
            .saturating_sub(RECORD_HEADER_SIZE as u64)
            .saturating_sub(key_len);
        let len = (RECORD_HEADER_SIZE as u64)
            .saturating_add(key_len)
            .saturating_add(self.size);
        Ok((start, len))
    }
}

/// Decode a blob index (the value of a 0x11 entry).
pub fn decode_index(data: &[u8]) -> Result<BlobIndex<'_>, BlobError> {
    let mut c = Cursor::new(data);
    let t = c.u8().map_err(|_| BlobError::BadIndex("empty"))?;
    let bad = |what| move |_| BlobError::BadIndex(what);
    let expiration = match t {
        INDEX_INLINED_TTL | INDEX_BLOB_TTL => Some(c.varint64().map_err(bad("expiration"))?),
        INDEX_BLOB => None,
        t => return Err(BlobError::UnknownIndexType(t)),
    };
    if t == INDEX_INLINED_TTL {
        return Ok(BlobIndex::Inlined {
            expiration: expiration.unwrap_or(0),
            value: c.rest(),
        });
    }
    let file = c.varint64().map_err(bad("file number"))?;
    let offset = c.varint64().map_err(bad("offset"))?;
    let size = c.varint64().map_err(bad("size"))?;
    let compression = c.u8().map_err(bad("compression"))?;
    if !c.is_empty() {
        return Err(BlobError::BadIndex("bytes after the compression"));
    }
    Ok(BlobIndex::Blob(BlobRef {
        expiration,
        file,
        offset,
        size,
        compression,
    }))
}

/// The value of a whole record (`record`: header, key and value, as
/// [`BlobRef::record_span`] locates them), every check RocksDB makes on a
/// read passed: the header CRC, the key and value lengths against the
/// entry's key and the index, the key itself, the blob CRC; then the value
/// decompressed with `compression`, to at most `cap` bytes.
pub fn value_from_record<'a>(
    record: &'a [u8],
    key: &[u8],
    r: &BlobRef,
    cap: usize,
) -> Result<Cow<'a, [u8]>, BlobError> {
    let h = record_header(record)?;
    if h.key_len != key.len() as u64 {
        return Err(BlobError::KeyMismatch);
    }
    if h.value_len != r.size {
        return Err(BlobError::SizeMismatch {
            record: h.value_len,
            index: r.size,
        });
    }
    let total = record.len();
    let key_span =
        Span::new(RECORD_HEADER_SIZE, key.len(), total).map_err(|_| short_record(&h, total))?;
    let stored_key = key_span.of(record).map_err(|_| short_record(&h, total))?;
    if stored_key != key {
        return Err(BlobError::KeyMismatch);
    }
    let value = Span::from_u64(key_span.end() as u64, r.size, total)
        .and_then(|s| s.of(record))
        .map_err(|_| short_record(&h, total))?;
    if !h.blob_crc_matches(crc::extend(crc::value(stored_key), value)) {
        return Err(BlobError::BlobCrc);
    }
    codec::decompress(r.compression, value, 2, cap).map_err(BlobError::Codec)
}

fn short_record(h: &RecordHeader, have: usize) -> BlobError {
    BlobError::Short {
        what: "blob record",
        need: h.record_len().unwrap_or(u64::MAX),
        have: have as u64,
    }
}

/// A file header as RocksDB's `BlobLogWriter` writes it for `cf` and
/// `compression`: no TTL, no expiration range. With the encoders below,
/// what the tests (here, in `scan` and `salvage`) build blob files from.
pub fn encode_header(cf: u32, compression: u8) -> Vec<u8> {
    use super::coding::{put_fixed32, put_fixed64};
    let mut b = Vec::with_capacity(HEADER_SIZE);
    put_fixed32(&mut b, MAGIC);
    put_fixed32(&mut b, VERSION);
    put_fixed32(&mut b, cf);
    b.push(0);
    b.push(compression);
    put_fixed64(&mut b, 0);
    put_fixed64(&mut b, 0);
    b
}

/// A record of `key` and the stored `value` (compressed already, if the
/// file is), with both CRCs as RocksDB computes them and no expiration.
pub fn encode_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    use super::coding::{put_fixed32, put_fixed64};
    let mut b = Vec::new();
    put_fixed64(&mut b, key.len() as u64);
    put_fixed64(&mut b, value.len() as u64);
    put_fixed64(&mut b, 0);
    let header_crc = crc::mask(crc::value(&b));
    put_fixed32(&mut b, header_crc);
    put_fixed32(&mut b, crc::mask(crc::extend(crc::value(key), value)));
    b.extend_from_slice(key);
    b.extend_from_slice(value);
    b
}

/// The footer of a closed file of `count` blobs, no expiration range.
pub fn encode_footer(count: u64) -> Vec<u8> {
    use super::coding::{put_fixed32, put_fixed64};
    let mut b = Vec::with_capacity(FOOTER_SIZE);
    put_fixed32(&mut b, MAGIC);
    put_fixed64(&mut b, count);
    put_fixed64(&mut b, 0);
    put_fixed64(&mut b, 0);
    let c = crc::mask(crc::value(&b));
    put_fixed32(&mut b, c);
    b
}

/// A `kBlob` index: the value of `size` stored bytes at `offset` in blob
/// file `file`.
pub fn encode_index(file: u64, offset: u64, size: u64, compression: u8) -> Vec<u8> {
    use super::coding::put_varint64;
    let mut b = vec![INDEX_BLOB];
    put_varint64(&mut b, file);
    put_varint64(&mut b, offset);
    put_varint64(&mut b, size);
    b.push(compression);
    b
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;
    use crate::format::coding::put_varint64;

    #[test]
    fn a_file_reads_back() {
        let mut f = encode_header(3, codec::NONE);
        let at = f.len() as u64 + 32 + 3;
        f.extend(encode_record(b"key", b"the value"));
        f.extend(encode_footer(1));
        let h = header(&f).unwrap();
        assert_eq!((h.column_family, h.compression, h.has_ttl), (3, 0, false));
        assert_eq!(footer(&f[f.len() - 32..]).unwrap().blob_count, 1);
        let BlobIndex::Blob(r) = decode_index(&encode_index(12, at, 9, 0)).unwrap() else {
            panic!()
        };
        let (start, len) = r.record_span(3, f.len() as u64, true).unwrap();
        assert_eq!(start, HEADER_SIZE as u64);
        let rec = &f[start as usize..(start + len) as usize];
        assert_eq!(
            &value_from_record(rec, b"key", &r, 1 << 20).unwrap()[..],
            b"the value"
        );
        // Another key at the same place is not this record's value.
        assert_eq!(
            value_from_record(rec, b"kez", &r, 1 << 20),
            Err(BlobError::KeyMismatch)
        );
        assert_eq!(
            value_from_record(rec, b"ke", &r, 1 << 20),
            Err(BlobError::KeyMismatch)
        );
    }

    #[test]
    fn every_flipped_bit_of_a_record_is_caught() {
        let rec = encode_record(b"k1", b"some value bytes");
        let r = BlobRef {
            expiration: None,
            file: 1,
            offset: 100,
            size: 16,
            compression: 0,
        };
        assert!(value_from_record(&rec, b"k1", &r, 1 << 20).is_ok());
        for i in 0..rec.len() * 8 {
            let mut bad = rec.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                value_from_record(&bad, b"k1", &r, 1 << 20).is_err(),
                "bit {i}"
            );
        }
        // A cut record, at every length.
        for n in 0..rec.len() {
            assert!(value_from_record(&rec[..n], b"k1", &r, 1 << 20).is_err());
        }
    }

    #[test]
    fn compressed_values_are_decoded_and_bounded() {
        let plain = b"zstd zstd zstd zstd zstd zstd zstd zstd".repeat(10);
        let mut stored = Vec::new();
        crate::format::coding::put_varint32(&mut stored, plain.len() as u32);
        stored.extend(zstd::bulk::compress(&plain, 3).unwrap());
        let rec = encode_record(b"k", &stored);
        let r = BlobRef {
            expiration: None,
            file: 1,
            offset: 100,
            size: stored.len() as u64,
            compression: codec::ZSTD,
        };
        assert_eq!(
            &value_from_record(&rec, b"k", &r, 1 << 20).unwrap()[..],
            &plain[..]
        );
        assert!(matches!(
            value_from_record(&rec, b"k", &r, 10),
            Err(BlobError::Codec(_))
        ));
        // A codec this reader lacks is said so, not guessed at.
        let x = BlobRef {
            compression: codec::XPRESS,
            ..r
        };
        assert!(matches!(
            value_from_record(&rec, b"k", &x, 1 << 20),
            Err(BlobError::Codec(CodecError::Unsupported { .. }))
        ));
    }

    #[test]
    fn indexes_of_every_type() {
        let mut ttl = vec![INDEX_BLOB_TTL];
        put_varint64(&mut ttl, 99);
        ttl.extend(&encode_index(5, 70, 8, 7)[1..]);
        assert_eq!(
            decode_index(&ttl).unwrap(),
            BlobIndex::Blob(BlobRef {
                expiration: Some(99),
                file: 5,
                offset: 70,
                size: 8,
                compression: 7
            })
        );
        let mut inl = vec![INDEX_INLINED_TTL];
        put_varint64(&mut inl, 7);
        inl.extend_from_slice(b"small");
        assert_eq!(
            decode_index(&inl).unwrap(),
            BlobIndex::Inlined {
                expiration: 7,
                value: b"small"
            }
        );
        assert_eq!(decode_index(&[3]), Err(BlobError::UnknownIndexType(3)));
        assert!(decode_index(&[]).is_err());
        let mut extra = encode_index(5, 70, 8, 7);
        extra.push(0);
        assert!(decode_index(&extra).is_err());
        // Every cut of a kBlob index fails.
        let full = encode_index(1 << 40, 1 << 33, 1 << 20, 7);
        for n in 0..full.len() {
            assert!(decode_index(&full[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn spans_out_of_the_file_are_refused() {
        let r = |offset, size| BlobRef {
            expiration: None,
            file: 1,
            offset,
            size,
            compression: 0,
        };
        assert!(r(0, 1).record_span(0, 1000, true).is_err());
        assert!(r(62, 10).record_span(1, 1000, true).is_err());
        assert!(r(63, 10).record_span(1, 1000, true).is_ok());
        assert!(r(900, 100).record_span(1, 1000, true).is_err());
        assert!(r(900, 100).record_span(1, 1000, false).is_ok());
        assert!(r(u64::MAX, u64::MAX)
            .record_span(5, u64::MAX, false)
            .is_err());
        assert!(r(100, u64::MAX)
            .record_span(usize::MAX, 1000, true)
            .is_err());
    }

    #[test]
    fn hostile_headers_and_footers() {
        let h = encode_header(0, 7);
        for n in 0..h.len() {
            assert!(header(&h[..n]).is_err());
        }
        let mut bad = h.clone();
        bad[0] ^= 1;
        assert!(matches!(header(&bad), Err(BlobError::BadMagic { .. })));
        let mut v2 = h.clone();
        v2[4] = 2;
        assert_eq!(header(&v2), Err(BlobError::UnknownVersion(2)));
        let f = encode_footer(4);
        for i in 0..f.len() * 8 {
            let mut b = f.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(footer(&b).is_err(), "bit {i}");
        }
        assert!(footer(&f[1..]).is_err());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            let junk: Vec<u8> = (0..40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = header(&junk);
            let _ = record_header(&junk);
            let _ = decode_index(&junk);
        }
    }
}
