//! `--rebuild`: a fresh LevelDB store in `OUT/db`, next to the untouched
//! original. Two ways, chosen by [`plan`]:
//!
//! - **repair** (a MANIFEST that can be trusted): every intact live table
//!   (each block verified, named by the current version) is copied byte
//!   for byte under its own name and kept at its MANIFEST level with its
//!   recorded key range. Only what no kept table already holds is written
//!   anew: the newest intact entry per key from damaged tables, logs and
//!   orphan fill-ins, and a delete where it shadows an older put that a
//!   kept table still holds. Those entries keep their sequence numbers; a
//!   new table goes at the deepest level above every kept table its key
//!   range meets (the level just above the highest such one, level 0 when
//!   that is level 0 or 1, the bottom level when it meets none), and gets a
//!   file number above every kept table's, so that LevelDB's reads (level 0
//!   newest file first, then level by level) find it before any older
//!   version, and its compactions (by sequence number) agree.
//! - **latest** (no MANIFEST, a damaged one, tables it names missing, a
//!   layout or codec of another dialect): the latest view as one sorted,
//!   non-overlapping run of new tables at the bottom level.
//!
//! New tables (snappy, or the codec the store's dialect reads) are cut at
//! about 2 MiB of entries, numbered in key order as they are cut, and built
//! on the rayon pool a batch at a time; every live table is copied into
//! the store's temporary directory before the scan verifies it, and the
//! disk writes the copies back while the scan runs ([`Precopy`]); the
//! copies of tables that are not kept are removed once the plan is known:
//! the output is the same for any `--jobs`. The copies are made durable by
//! a last `syncfs` (one journal commit for all), the files written anew by
//! an fsync each. A MANIFEST holding one
//! VersionEdit names every table, with `CURRENT`. The store is built in a
//! temporary directory inside OUT, every file durable, then renamed to
//! `db` and OUT fsynced: a crash of ours leaves either no `db` or a whole
//! one.
//!
//! A Basho eleveldb store is rebuilt (latest) in its own layout: `sst_0` …
//! `sst_6` created, the tables as `sst_6/NNNNNN.sst` (the directory of
//! their level), snappy (which eleveldb reads, type 1), puts with an expiry
//! kept with their types 2 and 3 and their expiry, and the MANIFEST's new
//! files as tag 7 with eleveldb's "no expiry data" (zeros), which its
//! expiry module never takes for an expired file.

use super::durable::sync_dir;
use super::log_writer::LogWriter;
use crate::format::batch::Kind;
use crate::format::filename;
use crate::format::ikey;
use crate::format::manifest::{NewFile, VersionEdit, NUM_LEVELS};
use crate::format::order::Comparator;
use crate::format::table_writer::{BuildOptions, Compression, TableBuilder};
use crate::report::Rebuilt;
use rayon::prelude::*;
use std::cmp::Ordering;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Tables are cut once their entries reach this size, like LevelDB's
/// default `max_file_size`.
pub const TABLE_TARGET_SIZE: u64 = 2 << 20;
/// The MANIFEST's number when no table is kept (the store's numbers are
/// all ours).
const MANIFEST_NUMBER: u64 = 1;
/// The bottom level: a sorted run there needs no compaction to be valid.
const BOTTOM: u32 = NUM_LEVELS - 1;

/// A live table copied as it is.
#[derive(Debug, Clone)]
pub struct KeptTable {
    /// Its index among the run's inputs.
    pub input: usize,
    /// Where it is read from.
    pub source: PathBuf,
    /// Its name in the rebuilt store (its own).
    pub name: String,
    /// Its MANIFEST entry, kept: level, number, size, key range.
    pub file: NewFile,
}

/// A new table's entries, cut and numbered, waiting for the pool.
struct Pending {
    number: u64,
    level: u32,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

pub struct RebuildWriter {
    tmp: PathBuf,
    dest: PathBuf,
    /// The current table's entries (internal key, value), in order.
    chunk: Vec<(Vec<u8>, Vec<u8>)>,
    chunk_bytes: u64,
    pending: Vec<Pending>,
    files: Vec<NewFile>,
    kept: Vec<KeptTable>,
    /// How many of `kept` are at level 0 (they come first).
    kept_l0: usize,
    /// The ranges of `kept` holding each deeper level's tables.
    kept_levels: Vec<std::ops::Range<usize>>,
    next_number: u64,
    /// Puts in the rebuilt store's latest view (kept or written anew).
    keys: u64,
    /// Whether every kept put was counted in `keys`.
    keys_counted: bool,
    /// Live tables copied while they were scanned.
    precopy: Option<Precopy>,
    /// Of those, the kept tables' copies, with their sizes.
    precopied: std::collections::HashMap<String, u64>,
    /// Removing a copy that is not kept failed.
    precopy_error: Option<io::Error>,
    written: u64,
    tombstones: u64,
    mode: &'static str,
    reason: Option<String>,
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

/// Live tables copied into the rebuilt store's temporary directory before
/// the scan verifies them, then written back to the disk by a `syncfs` on
/// a thread of its own while the scan runs. Copied first, not beside the
/// scan: a copy thread that shares the cores with the scan finishes late,
/// and its writeback with it. On the benchmark's table store, interleaved
/// runs took 0.31-0.34 s this way against 0.39-0.44 s copying beside the
/// scan with a `sync_file_range` after each copy (docs/PERFORMANCE.md).
/// The copies run on the pool, each handed to the disk
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`) as soon as it is made, so the
/// writeback starts with the first table rather than after the last:
/// interleaved, 0.36 s against 0.42 s copying one at a time on one thread
/// (2026-12-03, docs/PERFORMANCE.md).
/// The repair keeps the copies of the tables it keeps (their sizes checked
/// against the MANIFEST, as for any copy) and removes the others.
pub struct Precopy {
    dir: PathBuf,
    copied: Vec<(String, u64)>,
    writeback: Option<std::thread::JoinHandle<()>>,
    /// Handed to a [`RebuildWriter`], which owns the directory from then on.
    adopted: bool,
}

impl Precopy {
    /// Copy `tables` (source, name) into `out`'s `.db.tmp-PID`, naming each
    /// to `progress` as it goes.
    pub fn start(
        out: &Path,
        tables: Vec<(PathBuf, String)>,
        progress: &dyn crate::progress::Progress,
    ) -> io::Result<Precopy> {
        let dir = out.join(format!(".db.tmp-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        super::cleanup::tree(&dir);
        fs::create_dir(&dir).inspect_err(|_| super::cleanup::done(&dir))?;
        // A failed copy is left to the repair, which copies again.
        // On the pool: the kernel's copies take CPU, and the scan that
        // follows waits for them.
        let copied: Vec<(String, u64)> = tables
            .into_par_iter()
            .filter_map(|(from, name)| {
                progress.file(&format!("copying {name}"));
                let n = copy_store_file(&from, &dir.join(&name)).ok()?;
                Some((name, n))
            })
            .collect();
        let d = dir.clone();
        let writeback = std::thread::spawn(move || {
            let _ = sync_filesystem(&d);
        });
        Ok(Precopy {
            dir,
            copied,
            writeback: Some(writeback),
            adopted: false,
        })
    }

    /// The copies made, by name, with their sizes (once), after their
    /// writeback has ended.
    fn done(&mut self) -> std::collections::HashMap<String, u64> {
        if let Some(w) = self.writeback.take() {
            let _ = w.join();
        }
        std::mem::take(&mut self.copied).into_iter().collect()
    }
}

impl Drop for Precopy {
    fn drop(&mut self) {
        self.done();
        if !self.adopted {
            let _ = fs::remove_dir_all(&self.dir);
            super::cleanup::done(&self.dir);
        }
    }
}

/// Copy a table of the input as the scan reads it (`scan::open`): never
/// through a link, never waiting on a FIFO or device put in a table's
/// place (refused instead), the bytes copied in the kernel.
fn copy_store_file(from: &Path, to: &Path) -> io::Result<u64> {
    let (mut src, _) = crate::scan::open::open_store_file(from)?;
    let mut dst = File::create(to)?;
    let n = io::copy(&mut src, &mut dst)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on a descriptor `dst` owns. It only starts
        // the copy's writeback now instead of at the `syncfs`, which still
        // makes it durable; a failure leaves the work to the `syncfs`.
        unsafe {
            libc::sync_file_range(dst.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    Ok(n)
}

/// Make everything written on the filesystem holding `dir` durable: one
/// journal commit for every copied table, where an fsync apiece costs a
/// commit each (81 tables: 0.95 s of fsyncs against 0.3 s).
fn sync_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir)?;
    // SAFETY: syncfs only reads the descriptor, which `d` keeps open.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
        Self::create_with(out, basho, None)
    }

    /// [`create_as`](Self::create_as) in the directory `precopy` is
    /// copying live tables into (see [`Precopy`]).
    pub fn create_with(out: &Path, basho: bool, precopy: Option<Precopy>) -> io::Result<Self> {
        let dest = out.join("db");
        let tmp = out.join(format!(".db.tmp-{}", std::process::id()));
        let precopy = precopy.map(|mut p| {
            p.adopted = true;
            p
        });
        if precopy.as_ref().is_none_or(|p| p.dir != tmp) {
            if tmp.exists() {
                fs::remove_dir_all(&tmp)?;
            }
            super::cleanup::tree(&tmp);
            fs::create_dir(&tmp).inspect_err(|_| super::cleanup::done(&tmp))?;
        }
        if basho {
            for level in 0..NUM_LEVELS {
                fs::create_dir(tmp.join(format!("sst_{level}")))?;
            }
        }
        Ok(RebuildWriter {
            tmp,
            dest,
            chunk: Vec::new(),
            chunk_bytes: 0,
            pending: Vec::new(),
            files: Vec::new(),
            kept: Vec::new(),
            kept_l0: 0,
            kept_levels: Vec::new(),
            next_number: MANIFEST_NUMBER + 1,
            keys: 0,
            keys_counted: true,
            precopy,
            precopied: Default::default(),
            precopy_error: None,
            written: 0,
            tombstones: 0,
            mode: "latest",
            reason: None,
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

    /// Repair with these tables kept as they are (see the module summary),
    /// or, with `Err(why)`, rebuild the latest view and say why. Call
    /// before the first entry: where new tables go depends on them.
    pub fn with_plan(mut self, plan: Result<Vec<KeptTable>, String>) -> Self {
        match plan {
            Ok(kept) => {
                self.mode = "repair";
                let top = kept.iter().map(|k| k.file.number).max().unwrap_or(0);
                self.next_number = self.next_number.max(top + 1);
                self.kept = kept;
                let cmp = self.comparator;
                self.kept.sort_by(|a, b| {
                    a.file.level.cmp(&b.file.level).then_with(|| {
                        cmp.compare(
                            ikey::user_key(&a.file.smallest),
                            ikey::user_key(&b.file.smallest),
                        )
                        .then(a.file.number.cmp(&b.file.number))
                    })
                });
                self.index_kept();
            }
            Err(why) => self.reason = Some(why),
        }
        // Copies of live tables that are not kept (damaged, or the rebuild
        // is not a repair) are no part of the store: removed before any new
        // table, which may take a removed one's number, is written.
        if let Some(p) = self.precopy.as_mut() {
            let mut ready = p.done();
            let kept: std::collections::HashSet<&str> =
                self.kept.iter().map(|k| k.name.as_str()).collect();
            ready.retain(|name, _| {
                if kept.contains(name.as_str()) {
                    return true;
                }
                if let Err(e) = fs::remove_file(self.tmp.join(name)) {
                    self.precopy_error.get_or_insert(e);
                }
                false
            });
            self.precopied = ready;
        }
        self
    }

    /// `kept_l0` and `kept_levels` for `kept` (sorted by level).
    fn index_kept(&mut self) {
        self.kept_l0 = self.kept.iter().take_while(|k| k.file.level == 0).count();
        self.kept_levels.clear();
        let mut start = self.kept_l0;
        while start < self.kept.len() {
            let level = self.kept[start].file.level;
            let end = start
                + self.kept[start..]
                    .iter()
                    .take_while(|k| k.file.level == level)
                    .count();
            self.kept_levels.push(start..end);
            start = end;
        }
    }

    /// Do not copy input `input` after all (it changed since it was
    /// verified); the MANIFEST will not name it.
    pub fn forget_kept(&mut self, input: usize) {
        self.kept.retain(|k| k.input != input);
        self.index_kept();
    }

    /// The inputs (indices among the run's inputs) of the kept tables.
    pub fn kept_inputs(&self) -> impl Iterator<Item = usize> + '_ {
        self.kept.iter().map(|k| k.input)
    }

    /// Whether `user_key` falls in a kept table's key range: a delete of
    /// it must then be written, since that table may hold an older put.
    pub fn kept_may_hold(&self, user_key: &[u8]) -> bool {
        let within = |k: &KeptTable| {
            self.cmp_user(user_key, ikey::user_key(&k.file.smallest)) != Ordering::Less
                && self.cmp_user(user_key, ikey::user_key(&k.file.largest)) != Ordering::Greater
        };
        // Level 0's tables overlap; a deeper level's are sorted and
        // disjoint (`kept` is by level, then by smallest key there).
        self.kept.iter().take(self.kept_l0).any(within)
            || self.kept_levels.iter().any(|r| {
                let level = &self.kept[r.clone()];
                let at = level.partition_point(|k| {
                    self.cmp_user(ikey::user_key(&k.file.largest), user_key) == Ordering::Less
                });
                level.get(at).is_some_and(within)
            })
    }

    fn cmp_user(&self, a: &[u8], b: &[u8]) -> Ordering {
        self.comparator.compare(a, b)
    }

    /// A put of the latest view that a kept table already holds: counted,
    /// not written.
    pub fn count_kept(&mut self) {
        self.keys += 1;
    }

    /// Kept tables are not read again in full (a repair with no records
    /// export): the store's keys are not counted.
    pub fn keys_uncounted(&mut self) {
        self.keys_counted = false;
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
        let mut k = Vec::with_capacity(user_key.len() + 8);
        match expiry {
            Some(x) if self.basho => ikey::encode_expiry_into(&mut k, user_key, seq, x),
            _ => ikey::encode_into(&mut k, user_key, seq, Kind::Put),
        }
        self.keys += 1;
        self.written += 1;
        self.push(k, value.to_vec())
    }

    /// A delete written anew (it shadows a kept table's older put); in
    /// order with the puts.
    pub fn add_delete(&mut self, user_key: &[u8], seq: u64) -> io::Result<()> {
        let mut k = Vec::with_capacity(user_key.len() + 8);
        ikey::encode_into(&mut k, user_key, seq, Kind::Delete);
        self.tombstones += 1;
        self.push(k, Vec::new())
    }

    fn push(&mut self, ikey: Vec<u8>, value: Vec<u8>) -> io::Result<()> {
        self.chunk_bytes += (ikey.len() + value.len()) as u64;
        self.chunk.push((ikey, value));
        if self.chunk_bytes >= TABLE_TARGET_SIZE {
            self.cut()?;
        }
        Ok(())
    }

    /// The level a new table spanning these user keys goes to (see the
    /// module summary).
    fn level_for(&self, first: &[u8], last: &[u8]) -> u32 {
        let top = self
            .kept
            .iter()
            .filter(|k| {
                self.cmp_user(ikey::user_key(&k.file.smallest), last) != Ordering::Greater
                    && self.cmp_user(ikey::user_key(&k.file.largest), first) != Ordering::Less
            })
            .map(|k| k.file.level)
            .min();
        match top {
            None => BOTTOM,
            Some(l) if l <= 1 => 0,
            Some(l) => l - 1,
        }
    }

    fn cut(&mut self) -> io::Result<()> {
        let entries = std::mem::take(&mut self.chunk);
        self.chunk_bytes = 0;
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        let level = self.level_for(ikey::user_key(&first.0), ikey::user_key(&last.0));
        let number = self.next_number;
        self.next_number += 1;
        self.pending.push(Pending {
            number,
            level,
            entries,
        });
        // A batch of tables on the pool at a time: memory stays at a few
        // tables' entries. When it runs does not change what is written.
        if self.pending.len() >= 2 * rayon::current_num_threads() {
            self.build_pending()?;
        }
        Ok(())
    }

    fn build_pending(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let (tmp, basho) = (&self.tmp, self.basho);
        let options = BuildOptions {
            compression: self.compression,
            ..BuildOptions::default()
        };
        let comparator = self.comparator;
        let built: Vec<io::Result<NewFile>> = pending
            .into_par_iter()
            .map(|p| {
                let mut b = TableBuilder::new(options).with_comparator(comparator);
                for (k, v) in &p.entries {
                    b.add(k, v).map_err(invalid)?;
                }
                let smallest = b.smallest_key().map(<[u8]>::to_vec).unwrap_or_default();
                let largest = b.largest_key().map(<[u8]>::to_vec).unwrap_or_default();
                drop(p.entries);
                let bytes = b.finish();
                let name = if basho {
                    crate::scan::dialect_basho::table_name(p.number, p.level)
                } else {
                    filename::table_name(p.number)
                };
                write_synced(&tmp.join(name), &bytes)?;
                Ok(NewFile {
                    level: p.level,
                    number: p.number,
                    file_size: bytes.len() as u64,
                    smallest,
                    largest,
                })
            })
            .collect();
        for f in built {
            self.files.push(f?);
        }
        Ok(())
    }

    /// Write the MANIFEST and CURRENT and put the store in place.
    /// `last_sequence` must be at least every sequence in the store.
    pub fn finish(mut self, last_sequence: u64) -> io::Result<Rebuilt> {
        self.cut()?;
        self.build_pending()?;
        let tmp = &self.tmp;
        if let Some(e) = self.precopy_error.take() {
            return Err(e);
        }
        let ready = &self.precopied;
        let copied: Vec<io::Result<NewFile>> = self
            .kept
            .par_iter()
            .map(|k| {
                let dest = tmp.join(&k.name);
                let n = match ready.get(&k.name) {
                    Some(&n) => n,
                    None => copy_store_file(&k.source, &dest)?,
                };
                if n != k.file.file_size {
                    return Err(invalid(format!(
                        "{}: {n} bytes copied, the MANIFEST records {}",
                        k.name, k.file.file_size
                    )));
                }
                Ok(k.file.clone())
            })
            .collect();
        let mut new_files = Vec::with_capacity(copied.len() + self.files.len());
        for f in copied {
            new_files.push(f?);
        }
        if !self.kept.is_empty() {
            sync_filesystem(tmp)?;
        }
        let kept_tables = new_files.len() as u64;
        let new_tables = self.files.len() as u64;
        new_files.append(&mut self.files);
        let manifest_number = if self.kept.is_empty() {
            MANIFEST_NUMBER
        } else {
            let n = self.next_number;
            self.next_number += 1;
            n
        };
        let log_number = self.next_number;
        let edit = VersionEdit {
            comparator: Some(self.comparator.name().as_bytes().to_vec()),
            log_number: Some(log_number),
            prev_log_number: Some(0),
            next_file_number: Some(log_number + 1),
            last_sequence: Some(last_sequence),
            new_files,
            ..VersionEdit::default()
        };
        let mut w = LogWriter::new();
        w.add_record(&edit.encode());
        let manifest = filename::manifest_name(manifest_number);
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
            keys: self.keys_counted.then_some(self.keys),
            tables: kept_tables + new_tables,
            last_sequence,
            mode: self.mode,
            reason: self.reason.take(),
            kept_tables,
            new_tables,
            written_keys: self.written,
            tombstones: self.tombstones,
        })
    }
}

impl Drop for RebuildWriter {
    fn drop(&mut self) {
        // No copy may still be running into the directory removed below.
        if let Some(p) = self.precopy.as_mut() {
            p.done();
        }
        // Unfinished (an error on the way): leave no half-built store behind.
        if self.tmp.exists() {
            let _ = fs::remove_dir_all(&self.tmp);
        }
        super::cleanup::done(&self.tmp);
    }
}

/// What a repair keeps: every intact live table, or why the rebuild must
/// be of the latest view instead. `inventories` are the run's stores,
/// `states`, `scans` and `unsorted` (tables whose entries were out of
/// order) by input index; `codec` is the codec new tables get.
pub fn plan(
    inputs: &[crate::scan::store::InputFile],
    inventories: &[crate::scan::inventory::Inventory],
    states: &[crate::vocab::FileState],
    scans: &[crate::scan::store::FileScan],
    unsorted: &[usize],
    codec: Compression,
) -> Result<Vec<KeptTable>, String> {
    use crate::format::filename::FileKind;
    use crate::vocab::FileState;
    let [inv] = inventories else {
        return Err("the inputs are not one store".to_string());
    };
    let Some(version) = &inv.version else {
        return Err("no MANIFEST could be read, so which tables are live is not known".into());
    };
    let manifest = inv.info.manifest.as_deref().unwrap_or("the MANIFEST");
    match inv.info.dialect.name {
        "basho" => return Err(
            "a Basho eleveldb store: rebuilt in its own layout, every table at the bottom level"
                .into(),
        ),
        name if codec != Compression::Snappy => {
            return Err(format!(
                "a {name} store: its new tables need its own codec, and its tables are not \
                 copied as they are"
            ))
        }
        _ => {}
    }
    if let Some(i) = inv.members.iter().copied().find(|&i| {
        inputs[i].kind == FileKind::Manifest
            && states[i] == FileState::Live
            && (!scans[i].report.damage.is_empty() || scans[i].report.error.is_some())
    }) {
        return Err(format!(
            "{} is damaged: edits in its damaged bytes may be lost",
            inputs[i].name
        ));
    }
    if !version.anomalies.is_empty() {
        return Err(format!(
            "{manifest}'s edits do not replay cleanly ({} anomalies)",
            version.anomalies.len()
        ));
    }
    if !inv.info.missing_tables.is_empty() {
        return Err(format!(
            "{} table(s) {manifest} names are missing",
            inv.info.missing_tables.len()
        ));
    }
    let mut kept = Vec::new();
    for &i in &inv.members {
        let (f, s) = (&inputs[i], &scans[i]);
        if f.kind != FileKind::Table || states[i] != FileState::Live {
            continue;
        }
        let Some((_, nf)) = f.number.and_then(|n| version.files.get(&n)) else {
            continue;
        };
        let r = &s.report;
        let intact = r.scanned
            && r.error.is_none()
            && r.damage.is_empty()
            && r.unverified_entries == 0
            && s.late_error.is_none()
            && unsorted.binary_search(&i).is_err()
            && f.size == nf.file_size
            && f.not_regular.is_none();
        if intact {
            kept.push(KeptTable {
                input: i,
                source: f.path.clone(),
                name: f.name.clone(),
                file: nf.clone(),
            });
        }
    }
    Ok(kept)
}
