//! Blob-index values (RocksDB BlobDB) on export lines: the index decoded
//! into a `blob` field and, where the `.blob` file it names is in the store
//! and the record verifies (header CRC, key, sizes, blob CRC, compression),
//! the value itself in `value`, the raw index moved to `blob_index`. A value
//! that cannot be had is `"unresolved"` with the reason, and the line keeps
//! the raw index in `value`: nothing is made up.
//!
//! Each value is read on its own with a positioned read of its record (at
//! most [`MAX_RECORD`] bytes), from a small cache of open blob files shared
//! by the threads that format lines: memory stays bounded by the records
//! being formatted, whatever the size of the blob files, and a line's bytes
//! depend only on the files, not on which thread or in which order it is
//! written.

use crate::format::batch::Kind;
use crate::format::filename::blob_name;
use crate::format::rocks_blob::{self as fmt, BlobError, BlobHeader, BlobIndex, BlobRef};
use crate::format::rocks_table::codec;
use crate::scan::Entry;
use crate::vocab::bytes::{push_field_in_pieces, push_str};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Blob files held open at once.
pub const OPEN_FILES: usize = 64;
/// The largest record read to resolve one value; a larger value is left
/// unresolved (said so).
pub const MAX_RECORD: u64 = 64 << 20;

/// A store's blob files, by number.
pub struct BlobFiles {
    files: BTreeMap<u64, BlobInput>,
    /// Most recently used last.
    open: Mutex<Vec<(u64, Arc<Opened>)>>,
    /// The references (file, offset) written unresolved: a set, since a
    /// table's lines may be formatted twice (lines.rs, over budget).
    unresolved: Mutex<std::collections::BTreeSet<(u64, u64)>>,
}

impl std::fmt::Debug for BlobFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobFiles")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

struct BlobInput {
    path: PathBuf,
    name: String,
}

struct Opened {
    file: File,
    size: u64,
    header: Result<BlobHeader, String>,
    /// The file ends with a footer that verifies.
    footer: bool,
}

impl BlobFiles {
    /// The blob files among `files` (name, number, path).
    pub fn new<'a>(files: impl Iterator<Item = (&'a str, u64, &'a std::path::Path)>) -> Self {
        BlobFiles {
            files: files
                .map(|(name, n, path)| {
                    (
                        n,
                        BlobInput {
                            path: path.to_path_buf(),
                            name: name.to_string(),
                        },
                    )
                })
                .collect(),
            open: Mutex::new(Vec::new()),
            unresolved: Mutex::new(Default::default()),
        }
    }

    /// Distinct blob references written unresolved so far.
    pub fn unresolved(&self) -> u64 {
        self.unresolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len() as u64
    }

    fn opened(&self, number: u64) -> Result<Arc<Opened>, String> {
        let Some(input) = self.files.get(&number) else {
            return Err(format!("{} is missing from the store", blob_name(number)));
        };
        {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = open.iter().position(|(n, _)| *n == number) {
                let hit = open.remove(at);
                let f = hit.1.clone();
                open.push(hit);
                return Ok(f);
            }
        }
        let (file, md) = crate::scan::open::open_store_file(&input.path)
            .map_err(|e| format!("{}: cannot open: {e}", input.name))?;
        let size = md.len();
        let mut head = [0u8; fmt::HEADER_SIZE];
        let header = file
            .read_exact_at(&mut head, 0)
            .map_err(|e| format!("{}: {e}", input.name))
            .and_then(|()| fmt::header(&head).map_err(|e| format!("{}: {e}", input.name)));
        let mut foot = [0u8; fmt::FOOTER_SIZE];
        let footer = size >= (fmt::HEADER_SIZE + fmt::FOOTER_SIZE) as u64
            && file
                .read_exact_at(&mut foot, size - fmt::FOOTER_SIZE as u64)
                .is_ok()
            && fmt::footer(&foot).is_ok();
        let o = Arc::new(Opened {
            file,
            size,
            header,
            footer,
        });
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if !open.iter().any(|(n, _)| *n == number) {
            if open.len() >= OPEN_FILES {
                open.remove(0);
            }
            open.push((number, o.clone()));
        }
        Ok(o)
    }

    /// The value `r` points to for `key`, or why it cannot be had.
    pub fn resolve(&self, key: &[u8], r: &BlobRef) -> Result<Vec<u8>, String> {
        if r.file == fmt::SAME_FILE {
            return Err(
                "file number 0: a blob kept in the table file itself (newer RocksDB's embedded \
                 blobs), which this version does not read"
                    .to_string(),
            );
        }
        let name = blob_name(r.file);
        let f = self.opened(r.file)?;
        let h = f.header.as_ref().map_err(|e| e.clone())?;
        if h.compression != r.compression {
            return Err(format!(
                "{name}: {}",
                BlobError::CompressionMismatch {
                    index: r.compression,
                    file: h.compression
                }
            ));
        }
        let (start, len) = r
            .record_span(key.len(), f.size, f.footer)
            .map_err(|e| format!("{name} ({} bytes): {e}", f.size))?;
        if len > MAX_RECORD {
            return Err(format!(
                "{name}: the record is {len} bytes, more than the {MAX_RECORD} read for one value"
            ));
        }
        let mut rec = vec![0u8; len as usize];
        f.file
            .read_exact_at(&mut rec, start)
            .map_err(|e| format!("{name}: reading the record at {start}: {e}"))?;
        fmt::value_from_record(&rec, key, r, MAX_RECORD as usize)
            .map(|v| v.into_owned())
            .map_err(|e| format!("{name}: the record at byte {start}: {e}"))
    }
}

/// The value fields and `blob` of a blob-index line: with `blobs`, the
/// value resolved where it can be; without, only the index decoded.
pub fn push_fields(
    out: &mut Vec<u8>,
    e: &Entry<'_>,
    blobs: Option<&BlobFiles>,
    full: usize,
    spill: &mut dyn FnMut(&mut Vec<u8>),
) {
    debug_assert_eq!(e.kind, Kind::BlobIndex);
    let mut num = itoa::Buffer::new();
    let index = match fmt::decode_index(e.value) {
        Ok(i) => i,
        Err(err) => {
            push_field_in_pieces(out, "value", e.value, full, spill);
            out.extend_from_slice(b",\"blob\":{\"unresolved\":");
            push_str(out, &err.to_string());
            out.push(b'}');
            return;
        }
    };
    match index {
        BlobIndex::Inlined { expiration, value } => {
            // The value is in the index: nothing to read.
            push_field_in_pieces(out, "value", value, full, spill);
            push_field_in_pieces(out, "blob_index", e.value, full, spill);
            out.extend_from_slice(b",\"blob\":{\"inlined\":true,\"expiration\":");
            out.extend_from_slice(num.format(expiration).as_bytes());
            out.push(b'}');
        }
        BlobIndex::Blob(r) => {
            let got = match blobs {
                Some(b) => {
                    let got = b.resolve(e.key, &r);
                    if got.is_err() {
                        b.unresolved
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert((r.file, r.offset));
                    }
                    got
                }
                None => Err("the store's blob files are not read here".to_string()),
            };
            match &got {
                Ok(v) => {
                    push_field_in_pieces(out, "value", v, full, spill);
                    push_field_in_pieces(out, "blob_index", e.value, full, spill);
                }
                Err(_) => push_field_in_pieces(out, "value", e.value, full, spill),
            }
            out.extend_from_slice(b",\"blob\":{\"file\":");
            push_str(out, &blob_name(r.file));
            out.extend_from_slice(b",\"offset\":");
            out.extend_from_slice(num.format(r.offset).as_bytes());
            out.extend_from_slice(b",\"size\":");
            out.extend_from_slice(num.format(r.size).as_bytes());
            out.extend_from_slice(b",\"compression\":");
            push_str(out, codec::name(r.compression));
            if let Some(x) = r.expiration {
                out.extend_from_slice(b",\"expiration\":");
                out.extend_from_slice(num.format(x).as_bytes());
            }
            if let Err(why) = &got {
                out.extend_from_slice(b",\"unresolved\":");
                push_str(out, why);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::coding::put_varint64;

    /// A closed blob file of uncompressed values; the values' offsets.
    fn blob_file(records: &[(&[u8], &[u8])]) -> (Vec<u8>, Vec<u64>) {
        let mut f = fmt::encode_header(0, codec::NONE);
        let mut at = Vec::new();
        for (k, v) in records {
            at.push((f.len() + fmt::RECORD_HEADER_SIZE + k.len()) as u64);
            f.extend(fmt::encode_record(k, v));
        }
        f.extend(fmt::encode_footer(records.len() as u64));
        (f, at)
    }

    fn index(file: u64, offset: u64, size: u64, compression: u8) -> Vec<u8> {
        fmt::encode_index(file, offset, size, compression)
    }

    fn line(key: &[u8], value: &[u8], blobs: Option<&BlobFiles>) -> serde_json::Value {
        let e = Entry {
            seq: 1,
            kind: Kind::BlobIndex,
            key,
            value,
            offset: 0,
            expiry: None,
            cf: None,
        };
        let mut out = b"{\"k\":0".to_vec();
        push_fields(&mut out, &e, blobs, usize::MAX, &mut |_| {});
        out.push(b'}');
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn values_resolve_only_when_every_check_passes() {
        let dir = tempfile::tempdir().unwrap();
        let (f, at) = blob_file(&[(b"a", b"first value"), (b"b", b"second value")]);
        std::fs::write(dir.path().join("000007.blob"), &f).unwrap();
        let path = dir.path().join("000007.blob");
        let blobs = BlobFiles::new([("000007.blob", 7u64, path.as_path())].into_iter());

        let l = line(b"b", &index(7, at[1], 12, 0), Some(&blobs));
        assert_eq!(l["value"], "second value");
        assert!(l.get("blob_index_base64").is_some() || l.get("blob_index").is_some());
        assert_eq!(l["blob"]["file"], "000007.blob");
        assert_eq!(l["blob"]["offset"], at[1]);
        assert_eq!(l["blob"]["compression"], "none");
        assert!(l["blob"].get("unresolved").is_none());

        let unresolved = |key: &[u8], idx: Vec<u8>| {
            let l = line(key, &idx, Some(&blobs));
            assert!(l.get("blob_index").is_none() && l.get("blob_index_base64").is_none());
            let raw = l
                .get("value_base64")
                .and_then(|v| crate::vocab::bytes::decode_base64(v.as_str().unwrap()))
                .unwrap_or_else(|| l["value"].as_str().unwrap().as_bytes().to_vec());
            assert_eq!(raw, idx, "the raw index is kept");
            l["blob"]["unresolved"].as_str().unwrap().to_string()
        };
        // Another key at that place, a missing file, out of the file, the
        // wrong size or compression: never a value.
        assert!(unresolved(b"a", index(7, at[1], 12, 0)).contains("another key"));
        assert!(unresolved(b"b", index(8, at[1], 12, 0)).contains("missing"));
        assert!(unresolved(b"b", index(7, 1 << 40, 12, 0)).contains("out of range"));
        assert!(unresolved(b"b", index(7, at[1], 11, 0)).contains("11"));
        assert!(unresolved(b"b", index(7, at[1], 12, 7)).contains("compression"));
        assert!(unresolved(b"b", index(7, at[1], 1 << 40, 0)).contains("out of range"));
        assert!(unresolved(b"b", vec![9, 1, 2]).contains("type 9"));
        assert!(unresolved(b"b", index(0, at[1], 12, 0)).contains("file number 0"));
        // Without the store's blob files, the index is only decoded.
        let l = line(b"b", &index(7, at[1], 12, 0), None);
        assert!(l["blob"]["unresolved"].is_string());

        // A flipped value byte fails the blob CRC.
        let mut bad = f.clone();
        bad[at[0] as usize + 2] ^= 4;
        std::fs::write(&path, &bad).unwrap();
        let fresh = BlobFiles::new([("000007.blob", 7u64, path.as_path())].into_iter());
        let l = line(b"a", &index(7, at[0], 11, 0), Some(&fresh));
        assert!(l["blob"]["unresolved"]
            .as_str()
            .unwrap()
            .contains("checksum mismatch"));
        let l = line(b"b", &index(7, at[1], 12, 0), Some(&fresh));
        assert_eq!(l["value"], "second value");
        // Counted once however often it is written.
        line(b"a", &index(7, at[0], 11, 0), Some(&fresh));
        assert_eq!(fresh.unresolved(), 1);

        // An inlined value needs no file.
        let mut inl = vec![0];
        put_varint64(&mut inl, 42);
        inl.extend_from_slice(b"tiny");
        let l = line(b"c", &inl, None);
        assert_eq!(l["value"], "tiny");
        assert_eq!(l["blob"]["inlined"], true);
        assert_eq!(l["blob"]["expiration"], 42);
    }

    #[test]
    fn the_open_files_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let (f, at) = blob_file(&[(b"k", b"v")]);
        let paths: Vec<std::path::PathBuf> = (1..=OPEN_FILES as u64 + 10)
            .map(|n| {
                let p = dir.path().join(blob_name(n));
                std::fs::write(&p, &f).unwrap();
                p
            })
            .collect();
        let names: Vec<String> = (1..=paths.len() as u64).map(blob_name).collect();
        let blobs = BlobFiles::new(
            paths
                .iter()
                .zip(&names)
                .enumerate()
                .map(|(i, (p, n))| (n.as_str(), i as u64 + 1, p.as_path())),
        );
        for n in 1..=paths.len() as u64 {
            let r = BlobRef {
                expiration: None,
                file: n,
                offset: at[0],
                size: 1,
                compression: 0,
            };
            assert_eq!(blobs.resolve(b"k", &r).unwrap(), b"v");
        }
        assert_eq!(blobs.open.lock().unwrap().len(), OPEN_FILES);
    }
}
