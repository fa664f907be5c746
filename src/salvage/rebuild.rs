//! `--rebuild`: the latest view written as a fresh LevelDB store in
//! `OUT/db`, next to the untouched original.
//!
//! The store is one sorted, non-overlapping run of tables (snappy, or the
//! codec the store's dialect reads; split at about 2 MiB) at the bottom
//! level, a MANIFEST holding one VersionEdit that
//! names them, and `CURRENT`. It is built in a temporary directory inside
//! OUT, every file fsynced, then renamed to `db` and OUT fsynced: a crash of
//! ours leaves either no `db` or a whole one.
//!
//! A Basho eleveldb store is rebuilt in its own layout: `sst_0` … `sst_6`
//! created, the tables as `sst_6/NNNNNN.sst` (the directory of their
//! level), snappy (which eleveldb reads, type 1), puts with an expiry kept
//! with their types 2 and 3 and their expiry, and the MANIFEST's new files
//! as tag 7 with eleveldb's "no expiry data" (zeros), which its expiry
//! module never takes for an expired file.

use super::durable::sync_dir;
use super::log_writer::LogWriter;
use crate::format::batch::Kind;
use crate::format::filename;
use crate::format::ikey;
use crate::format::manifest::{NewFile, VersionEdit, NUM_LEVELS};
use crate::format::order::Comparator;
use crate::format::table_writer::{BuildOptions, Compression, TableBuilder};
use crate::report::Rebuilt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Tables are cut once they reach this size, like LevelDB's default
/// `max_file_size`.
pub const TABLE_TARGET_SIZE: u64 = 2 << 20;
const MANIFEST_NUMBER: u64 = 1;
/// The bottom level: one sorted run there needs no compaction to be valid,
/// and the latest view has no tombstones that would need a level below.
const LEVEL: u32 = NUM_LEVELS - 1;

pub struct RebuildWriter {
    tmp: PathBuf,
    dest: PathBuf,
    builder: Option<TableBuilder>,
    files: Vec<NewFile>,
    next_number: u64,
    keys: u64,
    key_buf: Vec<u8>,
    /// What the tables' blocks are compressed with: a codec the store's own
    /// library reads (see `with_compression`).
    compression: Compression,
    /// Basho eleveldb's layout (see the module summary).
    basho: bool,
    /// The original store's user-key order: the tables follow it and the
    /// MANIFEST names it, so the store's own library opens the result.
    comparator: Comparator,
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl RebuildWriter {
    /// Start a rebuilt store that will become `out/db`.
    pub fn create(out: &Path) -> io::Result<Self> {
        Self::create_as(out, false)
    }

    /// [`create`](Self::create), in Basho eleveldb's layout when `basho`.
    pub fn create_as(out: &Path, basho: bool) -> io::Result<Self> {
        let dest = out.join("db");
        let tmp = out.join(format!(".db.tmp-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        super::cleanup::tree(&tmp);
        fs::create_dir(&tmp).inspect_err(|_| super::cleanup::done(&tmp))?;
        if basho {
            for level in 0..NUM_LEVELS {
                fs::create_dir(tmp.join(format!("sst_{level}")))?;
            }
        }
        Ok(RebuildWriter {
            tmp,
            dest,
            builder: None,
            files: Vec::new(),
            next_number: MANIFEST_NUMBER + 1,
            keys: 0,
            key_buf: Vec::new(),
            compression: Compression::Snappy,
            basho,
            comparator: Comparator::Bytewise,
        })
    }

    /// Compress the tables' blocks with `c` instead of snappy: a fork that
    /// does not read snappy (Bedrock registers only its zlib codecs) gets
    /// its own codec.
    pub fn with_compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Keys follow `comparator` (a store with its own order, Chrome's
    /// `idb_cmp1`): the tables are built in it and the MANIFEST names it.
    pub fn with_comparator(mut self, comparator: Comparator) -> Self {
        self.comparator = comparator;
        self
    }

    /// Add the next live key; keys must come in strictly ascending order
    /// (the store's comparator's).
    pub fn add(&mut self, user_key: &[u8], seq: u64, value: &[u8]) -> io::Result<()> {
        self.add_with_expiry(user_key, seq, value, None)
    }

    /// [`add`](Self::add) for a put that may carry Basho's expiry: kept
    /// with its type in a Basho store (no other store gets one).
    pub fn add_with_expiry(
        &mut self,
        user_key: &[u8],
        seq: u64,
        value: &[u8],
        expiry: Option<ikey::Expiry>,
    ) -> io::Result<()> {
        self.key_buf.clear();
        match expiry {
            Some(x) if self.basho => ikey::encode_expiry_into(&mut self.key_buf, user_key, seq, x),
            _ => ikey::encode_into(&mut self.key_buf, user_key, seq, Kind::Put),
        }
        let compression = self.compression;
        let comparator = self.comparator;
        let b = self.builder.get_or_insert_with(|| {
            TableBuilder::new(BuildOptions {
                compression,
                ..BuildOptions::default()
            })
            .with_comparator(comparator)
        });
        b.add(&self.key_buf, value).map_err(invalid)?;
        self.keys += 1;
        if b.approx_size() >= TABLE_TARGET_SIZE {
            self.cut()?;
        }
        Ok(())
    }

    fn cut(&mut self) -> io::Result<()> {
        let Some(b) = self.builder.take() else {
            return Ok(());
        };
        let (Some(smallest), Some(largest)) = (
            b.smallest_key().map(<[u8]>::to_vec),
            b.largest_key().map(<[u8]>::to_vec),
        ) else {
            return Ok(());
        };
        let number = self.next_number;
        self.next_number += 1;
        let bytes = b.finish();
        let name = if self.basho {
            crate::scan::dialect_basho::table_name(number, LEVEL)
        } else {
            filename::table_name(number)
        };
        write_synced(&self.tmp.join(name), &bytes)?;
        self.files.push(NewFile {
            level: LEVEL,
            number,
            file_size: bytes.len() as u64,
            smallest,
            largest,
        });
        Ok(())
    }

    /// Write the MANIFEST and CURRENT and put the store in place.
    /// `last_sequence` must be at least every sequence in the store.
    pub fn finish(mut self, last_sequence: u64) -> io::Result<Rebuilt> {
        self.cut()?;
        let log_number = self.next_number;
        let edit = VersionEdit {
            comparator: Some(self.comparator.name().as_bytes().to_vec()),
            log_number: Some(log_number),
            prev_log_number: Some(0),
            next_file_number: Some(log_number + 1),
            last_sequence: Some(last_sequence),
            new_files: std::mem::take(&mut self.files),
            ..VersionEdit::default()
        };
        let tables = edit.new_files.len() as u64;
        let mut w = LogWriter::new();
        w.add_record(&edit.encode());
        let manifest = filename::manifest_name(MANIFEST_NUMBER);
        write_synced(&self.tmp.join(&manifest), w.as_bytes())?;
        write_synced(
            &self.tmp.join("CURRENT"),
            format!("{manifest}\n").as_bytes(),
        )?;
        if self.basho {
            for level in 0..NUM_LEVELS {
                sync_dir(&self.tmp.join(format!("sst_{level}")))?;
            }
        }
        sync_dir(&self.tmp)?;
        fs::rename(&self.tmp, &self.dest)?;
        super::cleanup::done(&self.tmp);
        if let Some(parent) = self.dest.parent() {
            sync_dir(parent)?;
        }
        Ok(Rebuilt {
            path: self.dest.display().to_string(),
            keys: self.keys,
            tables,
            last_sequence,
        })
    }
}

impl Drop for RebuildWriter {
    fn drop(&mut self) {
        // Unfinished (an error on the way): leave no half-built store behind.
        if self.tmp.exists() {
            let _ = fs::remove_dir_all(&self.tmp);
        }
        super::cleanup::done(&self.tmp);
    }
}
