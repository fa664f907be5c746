//! The one pipeline every command runs, from paths to a report: list the
//! files, group them into stores, take each store's inventory (CURRENT and
//! the MANIFEST, first), scan every other file by its kind, then work out
//! the lost sequence ranges, lost key ranges and requeue list
//! ([`StoreScan::report`]). `scan` runs it with no sink; `salvage` with its
//! export as the sink, and the same report comes out of both.

use super::budget;
use super::inventory::{self, EditSink, Inventory};
use super::log::{self as logscan, LogScan};
use super::logfile;
use super::table;
use super::{Discard, EntrySink};
use crate::format::filename::{self, FileKind};
use crate::progress::Progress;
use crate::report::{
    FileReport, KeyRange, Lost, LostKeyRange, LostSeqRange, Report, Requeue, SeqSpan, StoreInfo,
    UserKey,
};
use crate::vocab::bytes::base64_unless_utf8;
use crate::vocab::{Class, FileState};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Tables are read whole; LevelDB's are about 2 MiB (RocksDB's rarely pass
/// 256 MiB).
pub const MAX_TABLE_SIZE: u64 = 1 << 30;

/// One file to look at.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub name: String,
    pub kind: FileKind,
    pub number: Option<u64>,
    pub size: u64,
    /// Set for a directory entry named like a log, table or MANIFEST that is
    /// not a regular file (a symlink, a directory, a FIFO...): it is
    /// reported with an error and never opened (links are not followed, and
    /// opening a FIFO would block).
    pub not_regular: Option<&'static str>,
    /// Set for a table found in a level directory `sst_N/` (Basho's
    /// eleveldb layout): N. Its name then carries the directory
    /// (`sst_3/000017.sst`) and its store is the directory above.
    pub level_dir: Option<u32>,
    /// Set for a log listed from `--wal-dir`: the store it belongs to (its
    /// name then carries the WAL directory's: `wal/000021.log`).
    pub store: Option<PathBuf>,
}

#[derive(Debug)]
pub enum InputError {
    /// A path given on the command line does not exist or cannot be listed.
    Path(PathBuf, std::io::Error),
    /// A path that is neither a file nor a directory.
    NotAFile(PathBuf),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Path(p, e) => write!(f, "{}: {e}", p.display()),
            InputError::NotAFile(p) => {
                write!(f, "{}: not a regular file or directory", p.display())
            }
        }
    }
}

impl std::error::Error for InputError {}

/// The files named by `paths`: a directory contributes its regular files
/// (not recursively: a LevelDB store is flat, except that Basho's eleveldb
/// keeps its tables in level directories `sst_N/`, whose tables are listed
/// as files of the store, see [`super::dialect_basho`]), sorted by name.
pub fn list_inputs(paths: &[PathBuf]) -> Result<Vec<InputFile>, InputError> {
    let mut out = Vec::new();
    for p in paths {
        let md = std::fs::metadata(p).map_err(|e| InputError::Path(p.clone(), e))?;
        if md.is_dir() {
            let mut here = Vec::new();
            for ent in std::fs::read_dir(p).map_err(|e| InputError::Path(p.clone(), e))? {
                let ent = ent.map_err(|e| InputError::Path(p.clone(), e))?;
                // symlink_metadata: a link inside the store is listed, not followed.
                let Ok(md) = ent.path().symlink_metadata() else {
                    continue;
                };
                if md.is_dir() {
                    if let Some(level) = super::dialect_basho::level_dir_name(&ent.file_name()) {
                        here.extend(super::dialect_basho::list_level_dir(&ent.path(), level));
                        continue;
                    }
                }
                if !md.is_file() {
                    // Something else under a store file's name is a fault to
                    // report, not a file to skip in silence.
                    let mut f = input_file(ent.path(), 0);
                    if matches!(
                        f.kind,
                        FileKind::Log
                            | FileKind::Table
                            | FileKind::Manifest
                            | FileKind::Current
                            | FileKind::Blob
                    ) {
                        f.not_regular = Some(super::open::type_name(&md.file_type()));
                        here.push(f);
                    }
                    continue;
                }
                here.push(input_file(ent.path(), md.len()));
            }
            here.sort_by(|a, b| a.name.cmp(&b.name));
            out.extend(here);
        } else if md.is_file() {
            let mut f = input_file(p.clone(), md.len());
            // A file named on the command line is followed once, here: the
            // open reads the real path and follows nothing itself.
            if p.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
                if let Ok(real) = p.canonicalize() {
                    f.path = real;
                }
            }
            out.push(f);
        } else {
            return Err(InputError::NotAFile(p.clone()));
        }
    }
    Ok(out)
}

pub(super) fn input_file(path: PathBuf, size: u64) -> InputFile {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (kind, number) = filename::parse(&name);
    let mut f = InputFile {
        path,
        name,
        kind,
        number,
        size,
        not_regular: None,
        level_dir: None,
        store: None,
    };
    // A table named alone whose folder is a level directory belongs to the
    // store above it, under the same name a listing of that store gives.
    super::dialect_basho::place_in_level_dir(&mut f);
    f
}

/// The result of scanning one file, before it becomes a [`FileReport`].
#[derive(Debug)]
pub struct FileScan {
    pub report: FileReport,
    pub log: Option<LogScan>,
    /// The state a MANIFEST's edits lead to.
    pub manifest: Option<crate::format::manifest::VersionState>,
    /// A RocksDB table's column family, for its lost key ranges.
    pub cf: Option<String>,
    /// A RocksDB MANIFEST's own state (column families, WALs), beside the
    /// LevelDB-style view of it in `manifest`.
    pub rocks_manifest: Option<Box<crate::format::rocks_manifest::RocksVersionState>>,
    /// A table's data blocks whose entries were given as intact.
    pub intact_blocks: Vec<crate::format::table::BlockHandle>,
    /// A RocksDB table's, with how to read them again.
    pub rocks_again: Option<Box<super::rocks_table::Again>>,
    /// See [`table::TableScan::index_bounds_blocks`].
    pub index_bounds_blocks: bool,
    /// A LevelDB table's: what its blocks alone say of its intact entries.
    pub block_order: Option<BlockOrder>,
    /// The distinct keys of the unverified entries read from the file.
    pub unverified_keys: std::collections::BTreeSet<Vec<u8>>,
    /// Set by `salvage` when the file failed on its second read (it shrank
    /// or changed after the scan): why, and the keys whose latest entries
    /// may be missing from the export because of it.
    pub late_error: Option<(String, Option<KeyRange>)>,
    /// The codecs the file was read with (its store's): a second read of
    /// a table for the latest view decodes its blocks the same way.
    pub codecs: crate::format::compress::Codecs,
}

/// What a table's scan learned of its intact entries from their blocks'
/// first and last keys, without handing them to anyone: a sink that wants
/// no entries still learns whether they were sorted and what they span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockOrder {
    /// See [`table::TableScan::blocks_in_order`].
    pub in_order: bool,
    /// The smallest and largest user keys of the intact entries.
    pub span: Option<(Vec<u8>, Vec<u8>)>,
}

fn base_report(f: &InputFile) -> FileReport {
    FileReport {
        name: f.name.clone(),
        name_base64: f
            .path
            .file_name()
            .and_then(|n| base64_unless_utf8(n.as_encoded_bytes())),
        store: None,
        path: f.path.display().to_string(),
        path_base64: base64_unless_utf8(f.path.as_os_str().as_encoded_bytes()),
        kind: f.kind,
        state: None,
        state_reason: None,
        dialect: None,
        size: f.size,
        records: Default::default(),
        blocks: None,
        entries: 0,
        unverified_entries: 0,
        sequences: None,
        damage: Vec::new(),
        error: None,
        scanned: false,
    }
}

/// Counts unverified entries on their way through, and keeps their keys:
/// every command's requeue list names them (`Requeue::Key`).
struct Counting<'a> {
    inner: &'a mut dyn EntrySink,
    unverified: u64,
    keys: std::collections::BTreeSet<Vec<u8>>,
}

impl<'a> Counting<'a> {
    fn new(inner: &'a mut dyn EntrySink) -> Self {
        Counting {
            inner,
            unverified: 0,
            keys: Default::default(),
        }
    }
}

impl EntrySink for Counting<'_> {
    fn wants_entries(&self) -> bool {
        self.inner.wants_entries()
    }
    fn intact(&mut self, e: &super::Entry<'_>) {
        self.inner.intact(e);
    }
    fn unverified(&mut self, e: &super::Entry<'_>, reason: &str) {
        self.unverified += 1;
        if !self.keys.contains(e.key) {
            self.keys.insert(e.key.to_vec());
        }
        self.inner.unverified(e, reason);
    }
}

/// How files of one store are read.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Table keys are in bytewise order (the store's comparator is
    /// LevelDB's default); the inventory says so before tables are read.
    pub ordered: bool,
    /// The store is of a dialect this version does not read: its
    /// files are listed, not parsed as LevelDB's (which would call every
    /// one of them damaged).
    pub unsupported: bool,
    /// How type bytes whose codec a block cannot tell are read: Basho's
    /// type 2 is LZ4 (from the store's dialect).
    pub codecs: crate::format::compress::Codecs,
    /// The store is RocksDB's: its files are read as RocksDB writes them,
    /// with what its MANIFEST says (empty before the MANIFEST is read).
    pub rocks: Option<std::sync::Arc<super::rocks::RocksCtx>>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            ordered: true,
            unsupported: false,
            codecs: Default::default(),
            rocks: None,
        }
    }
}

/// Read a small file whole (CURRENT), refusing more than `cap` bytes.
pub fn read_small(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let (file, _) = super::open::open_store_file(path)?;
    let mut out = Vec::new();
    file.take(cap).read_to_end(&mut out)?;
    Ok(out)
}

/// Scan one file, giving its entries to `sink` in file order.
pub fn scan_file(f: &InputFile, sink: &mut dyn EntrySink, progress: &dyn Progress) -> FileScan {
    scan_file_with(f, sink, progress, &ScanOptions::default())
}

/// [`scan_file`] with the store's options.
pub fn scan_file_with(
    f: &InputFile,
    sink: &mut dyn EntrySink,
    progress: &dyn Progress,
    opts: &ScanOptions,
) -> FileScan {
    let _in_flight = crate::progress::InFlight::start(progress, &f.name, f.size);
    let progress = &|n| progress.bytes(n);
    let mut report = base_report(f);
    // What a file that is not (or cannot be) read yields.
    let unread = |report| FileScan {
        report,
        log: None,
        manifest: None,
        cf: None,
        rocks_manifest: None,
        intact_blocks: Vec::new(),
        rocks_again: None,
        index_bounds_blocks: false,
        block_order: None,
        unverified_keys: Default::default(),
        late_error: None,
        codecs: opts.codecs,
    };
    // A blob file is RocksDB's only: elsewhere it is listed, not read.
    let scanned_kind = matches!(f.kind, FileKind::Log | FileKind::Manifest | FileKind::Table)
        || (f.kind == FileKind::Blob && opts.rocks.is_some());
    if opts.unsupported || (!scanned_kind && f.not_regular.is_none()) {
        progress(f.size);
        return unread(report);
    }
    let opened = match f.not_regular {
        Some(what) => Err(format!(
            "not read: {what}, not a regular file (links are not followed)"
        )),
        None => super::open::open_store_file(&f.path)
            .map(|(file, _)| file)
            .map_err(|e| format!("cannot open: {e}")),
    };
    let file = match opened {
        Ok(file) => file,
        Err(e) => {
            report.error = Some(e);
            progress(f.size);
            return unread(report);
        }
    };
    report.scanned = true;
    let mut log = None;
    let mut manifest = None;
    let mut rocks_manifest = None;
    let mut cf = None;
    let mut intact_blocks = Vec::new();
    let mut index_bounds_blocks = false;
    let mut block_order = None;
    let mut rocks_again = None;
    let mut unverified_keys = Default::default();
    match f.kind {
        FileKind::Log => {
            // Counting only (`scan`): read through mappings, saving the copy
            // out of the page cache. Anything exported is read, never mapped
            // (see scan::mapped).
            let mut counting = Counting::new(sink);
            let mapped = logfile::MappedFile(&file);
            let src: &dyn logfile::Source = if counting.wants_entries() {
                &file
            } else {
                &mapped
            };
            let mut s = match (&opts.rocks, f.number) {
                (Some(ctx), Some(wal)) => {
                    logscan::scan_rocks(src, f.size, &mut counting, ctx, wal, progress)
                }
                _ => logscan::scan(src, f.size, &mut counting, progress),
            };
            if let Some(&synced) = opts
                .rocks
                .as_ref()
                .zip(f.number)
                .and_then(|(ctx, wal)| ctx.synced.get(&wal))
            {
                super::rocks::classify_synced(&mut s.outcome.damage, synced, f.size, &f.name);
                // One damaged range is one record: recount them by class.
                let d = &s.outcome.damage;
                s.outcome.records.torn = d.iter().filter(|d| d.class == Class::Torn).count() as u64;
                s.outcome.records.garbled = d.len() as u64 - s.outcome.records.torn;
            }
            unverified_keys = counting.keys;
            report.records = s.outcome.records;
            report.entries = s.entries;
            report.unverified_entries = s.unverified;
            report.damage = s.outcome.damage.clone();
            report.error = s.outcome.io_error.clone();
            report.sequences = s.seqs.map(|(first, last)| SeqSpan { first, last });
            log = Some(s);
        }
        FileKind::Manifest if opts.rocks.is_some() => {
            let mut edits = super::rocks::RocksEditSink::default();
            let o = logfile::scan(&file, f.size, &mut edits, progress);
            report.records = o.records;
            report.damage = o.damage;
            report.error = o.io_error;
            edits.state.finish();
            manifest = Some(super::rocks::leveldb_view(&edits.state));
            rocks_manifest = Some(Box::new(edits.state));
        }
        FileKind::Manifest => {
            let mut edits = EditSink::default();
            let o = logfile::scan(&file, f.size, &mut edits, progress);
            report.records = o.records;
            report.damage = o.damage;
            report.error = o.io_error;
            manifest = Some(edits.state);
        }
        FileKind::Table => {
            // A table is read whole: its blocks are verified in parallel and
            // discovery without a footer needs random access. LevelDB keeps
            // tables near 2 MiB; a file far beyond any table LevelDB writes
            // is not read at all. Callers that scan tables side by side
            // hold a `table_permit` around this call, so the tables in
            // memory at once stay within the table budget (or one table,
            // if it is larger), however many threads there are.
            if f.size > MAX_TABLE_SIZE {
                report.scanned = false;
                report.error = Some(format!(
                    "not read: {} bytes is more than a LevelDB table can be ({} bytes at most)",
                    f.size, MAX_TABLE_SIZE
                ));
                progress(f.size);
                return unread(report);
            }
            // Sized from the listing (bounded just above), so the read does
            // not grow the buffer by doubling and copying.
            let mut data = Vec::with_capacity(f.size as usize);
            match (&file).take(f.size).read_to_end(&mut data) {
                Ok(_) => {
                    if (data.len() as u64) < f.size {
                        report.error = Some(format!(
                            "file shrank while being read: {} of {} bytes",
                            data.len(),
                            f.size
                        ));
                    }
                    let mut counting = Counting::new(sink);
                    // (blocks, entries, damage, lowest and highest seq)
                    let (blocks, entries, damage, min_seq, max_seq) = match &opts.rocks {
                        Some(ctx) => {
                            let t = super::rocks_table::scan(&data, &mut counting, ctx, f.number);
                            let mut notes = Vec::new();
                            if let Some((n, read)) = t.count_mismatch {
                                notes.push(format!(
                                    "its properties count {n} entries, {read} were read, with \
                                     no damage found"
                                ));
                            }
                            if let Some(u) = t.unsupported.first() {
                                notes.push(format!(
                                    "{} block(s) in a codec this version cannot decode (not \
                                     damage), first {u}",
                                    t.unsupported.len()
                                ));
                            }
                            notes.extend(report.error.take());
                            if !notes.is_empty() {
                                report.error = Some(notes.join("; "));
                            }
                            cf = t.cf;
                            rocks_again = t.again.map(Box::new);
                            (t.blocks, t.entries, t.damage, t.min_seq, t.max_seq)
                        }
                        None => {
                            let topts = table::TableOptions {
                                ordered: opts.ordered,
                                codecs: opts.codecs,
                                ..Default::default()
                            };
                            let t = table::scan_table_with(&data, &mut counting, &topts);
                            intact_blocks = t.intact_blocks;
                            index_bounds_blocks = t.index_bounds_blocks;
                            block_order = Some(BlockOrder {
                                in_order: t.blocks_in_order,
                                span: t.smallest_user_key.zip(t.largest_user_key),
                            });
                            (t.blocks, t.entries, t.damage, t.min_seq, t.max_seq)
                        }
                    };
                    report.records = blocks;
                    report.blocks = Some(blocks);
                    report.entries = entries;
                    report.unverified_entries = counting.unverified;
                    unverified_keys = counting.keys;
                    report.damage = damage;
                    report.sequences = min_seq
                        .zip(max_seq)
                        .map(|(first, last)| SeqSpan { first, last });
                }
                Err(e) => report.error = Some(format!("read error: {e}")),
            }
            progress(f.size);
        }
        FileKind::Blob => {
            let b = super::rocks_blob::scan(&file, f.size, progress);
            // The family its lost keys are requeued under.
            cf = b.header.zip(opts.rocks.as_ref()).map(|(h, ctx)| {
                let c = ctx.cf(h.column_family, None);
                c.name.map_or_else(|| c.id.to_string(), str::to_string)
            });
            report.records = b.records;
            report.damage = b.damage;
            let mut notes = b.notes;
            notes.extend(b.io_error);
            if !notes.is_empty() {
                report.error = Some(notes.join("; "));
            }
        }
        _ => unreachable!("filtered above"),
    }
    FileScan {
        report,
        log,
        manifest,
        cf,
        rocks_manifest,
        intact_blocks,
        rocks_again,
        index_bounds_blocks,
        block_order,
        unverified_keys,
        late_error: None,
        codecs: opts.codecs,
    }
}

/// Lost sequence ranges of all logs, oldest log first. A loss whose start no
/// intact batch in its own file marks starts after the newest sequence seen
/// in older logs (or at 1).
///
/// A log that could not be read at all (permissions, not a regular file)
/// lost whatever it held, unless the MANIFEST says it was already flushed
/// (state `obsolete`): its range starts after the newest sequence of the
/// tables and older logs, and ends before the next readable log's first
/// batch (open when there is none).
///
/// `floor` is a sequence number the store's MANIFEST says every live log's
/// writes come after (goleveldb's last sequence: see [`seq_floor`]); a
/// loss with no intact batch before it starts after it too.
pub fn lost_ranges(scans: &[&FileScan], inputs: &[&InputFile], floor: Option<u64>) -> Lost {
    // A directory that happens to be named like a log never held writes.
    let is_log =
        |i: usize| inputs[i].kind == FileKind::Log && inputs[i].not_regular != Some("a directory");
    let mut order: Vec<usize> = (0..scans.len())
        .filter(|&i| scans[i].log.is_some() || (is_log(i) && !scans[i].report.scanned))
        .collect();
    order.sort_by_key(|&i| (inputs[i].number.unwrap_or(u64::MAX), inputs[i].name.clone()));
    let tables_newest = (0..scans.len())
        .filter(|&i| inputs[i].kind == FileKind::Table)
        .filter_map(|i| scans[i].report.sequences.as_ref().map(|s| s.last))
        .max();
    let mut ranges: Vec<LostSeqRange> = Vec::new();
    let mut newest: Option<u64> = None;
    // An unread log's range, waiting for the next log that shows where it ends.
    let mut pending: Option<usize> = None;
    for i in order {
        let history = scans[i].report.state.is_some_and(FileState::is_history);
        let Some(s) = scans[i].log.as_ref() else {
            if history {
                continue;
            }
            let after = newest.max(tables_newest).max(floor);
            let why = scans[i].report.error.as_deref().unwrap_or("not read");
            ranges.push(LostSeqRange {
                first: after.map_or(1, |n| n + 1),
                last: None,
                writes: None,
                file: inputs[i].name.clone(),
                store: None,
                reason: format!("log could not be read ({why}): all of its writes"),
                time: Default::default(),
            });
            pending = Some(ranges.len() - 1);
            continue;
        };
        if let (Some(p), Some((first_seen, _))) = (pending, s.seqs) {
            let r = &mut ranges[p];
            if first_seen > r.first {
                r.last = Some(first_seen - 1);
                r.writes = Some(first_seen - r.first);
            } else {
                // Sequence numbers only grow from log to log: the next log
                // starts where the unread one would, so it held nothing
                // that is not elsewhere.
                ranges.remove(p);
            }
            pending = None;
        }
        // A log the MANIFEST records as flushed lost nothing its tables do
        // not hold.
        let lost = if history { &[][..] } else { &s.lost[..] };
        for (l, reason) in lost.iter().zip(&s.lost_reasons) {
            // A loss before the first intact batch starts after what older
            // logs, the tables and the MANIFEST account for: the writes of
            // a live log all come after theirs.
            let first = l
                .first
                .unwrap_or_else(|| newest.max(tables_newest).max(floor).map_or(1, |n| n + 1));
            if l.last.is_some_and(|last| last < first) {
                continue;
            }
            ranges.push(LostSeqRange {
                first,
                last: l.last,
                writes: l.last.map(|last| last - first + 1),
                file: inputs[i].name.clone(),
                store: None,
                reason: reason.clone(),
                time: Default::default(),
            });
        }
        if let Some((_, last)) = s.seqs {
            newest = Some(newest.map_or(last, |n| n.max(last)));
        }
    }
    Lost {
        sequence_ranges: ranges,
        ..Lost::default()
    }
}

/// The sequence number every live log's writes come after, when the
/// store's writer makes the MANIFEST say so. goleveldb records in its
/// MANIFEST, with each new journal, the sequence number its writes follow
/// (`db_compaction.go` memCompaction: the frozen memtable's; at open,
/// `db.go` recoverJournal: one past the last replayed write, the number it
/// skips), and no other edit changes it. C++ LevelDB records the last
/// sequence at the time the edit is logged, which may already count writes
/// of the new log, so it gives none.
fn seq_floor(inv: &Inventory) -> Option<u64> {
    (inv.info.dialect.name == "goleveldb")
        .then_some(inv.info.last_sequence)
        .flatten()
}

/// The write-ahead logs in `wal_dir` (RocksDB's `wal_dir` option keeps
/// them apart from the store), listed as files of the store `store`.
pub fn list_wal_dir(wal_dir: &Path, store: &Path) -> Result<Vec<InputFile>, InputError> {
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    if same(wal_dir, store) {
        return Ok(Vec::new());
    }
    // The key the store's own files are grouped under (`stores`).
    let store = if store.is_dir() {
        store.to_path_buf()
    } else {
        store.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let prefix = wal_dir
        .file_name()
        .map_or_else(|| "wal".to_string(), |n| n.to_string_lossy().into_owned());
    let listed = list_inputs(&[wal_dir.to_path_buf()])?;
    Ok(listed
        .into_iter()
        .filter(|f| f.kind == FileKind::Log)
        .map(|mut f| {
            f.name = format!("{prefix}/{}", f.name);
            f.store = Some(store.clone());
            f
        })
        .collect())
}

/// The stores among the inputs: files grouped by the directory they are
/// in, in order of first appearance; each group is one store with its own
/// inventory.
pub fn stores(inputs: &[InputFile]) -> Vec<Vec<usize>> {
    let mut dirs: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for (i, f) in inputs.iter().enumerate() {
        let dir = super::dialect_basho::store_dir(f);
        match dirs.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, m)) => m.push(i),
            None => dirs.push((dir, vec![i])),
        }
    }
    dirs.into_iter().map(|(_, m)| m).collect()
}

/// What every command knows about a store once its files are scanned: the
/// inventory of each store among the inputs and one scan per input. The
/// report (files, store, lost ranges, requeue) is made from it by one
/// function, so `scan` and `salvage` tell the same story.
pub struct StoreScan {
    pub inventories: Vec<Inventory>,
    /// One per input, in input order.
    pub scans: Vec<FileScan>,
}

/// The inventory of every store among the inputs, with the scans of the
/// MANIFESTs it read (by input index).
pub fn inventories(
    inputs: &[InputFile],
    progress: &dyn Progress,
) -> (Vec<Inventory>, Vec<Option<FileScan>>) {
    inventories_with(inputs, progress, None)
}

/// [`inventories`], every store read as the dialect `--dialect` names.
pub fn inventories_with(
    inputs: &[InputFile],
    progress: &dyn Progress,
    dialect_override: Option<&'static str>,
) -> (Vec<Inventory>, Vec<Option<FileScan>>) {
    let mut scans: Vec<Option<FileScan>> = inputs.iter().map(|_| None).collect();
    let mut invs = Vec::new();
    for members in stores(inputs) {
        let (inv, manifests) = inventory::build_with(inputs, members, progress, dialect_override);
        for (i, s) in manifests {
            scans[i] = Some(s);
        }
        invs.push(inv);
    }
    for inv in &invs {
        for (&i, (state, why)) in inv.members.iter().zip(&inv.states) {
            if let Some(s) = scans[i].as_mut() {
                s.report.state = Some(*state);
                s.report.state_reason = why.clone();
            }
        }
    }
    (invs, scans)
}

/// The store's per-input states, for the exporter: input index → state.
pub fn states_by_input(inputs: &[InputFile], invs: &[Inventory]) -> Vec<FileState> {
    let mut out = vec![FileState::Unknown; inputs.len()];
    for inv in invs {
        for (&i, (state, _)) in inv.members.iter().zip(&inv.states) {
            out[i] = *state;
        }
    }
    out
}

/// The options the store `i` belongs to is read with.
pub fn options_by_input(inputs: &[InputFile], invs: &[Inventory]) -> Vec<ScanOptions> {
    let mut out = vec![ScanOptions::default(); inputs.len()];
    for inv in invs {
        for &i in &inv.members {
            out[i] = inv.scan_options();
        }
    }
    out
}

/// The table budget's claim for scanning `f` side by side with other
/// files: its whole size for a table that will be read whole, nothing
/// otherwise (logs are read a window at a time). Taken before the scan is
/// handed to the pool (see [`budget::Budget::acquire`]) and held until
/// it returns.
///
/// The table is also queued to be read ahead: permits are taken in file
/// order before the pool reaches the tables, so on a cold cache the disk
/// reads the tables queued behind the ones being decoded, a window ahead
/// (`ReadAhead`).
pub fn table_permit(f: &InputFile) -> Option<TablePermit> {
    (f.kind == FileKind::Table && f.not_regular.is_none() && f.size <= MAX_TABLE_SIZE).then(|| {
        let permit = budget::tables().acquire(f.size);
        let ahead = ReadAhead::global();
        let id = ahead.enqueue(&f.path, f.size);
        ahead.pump_global();
        TablePermit {
            _permit: permit,
            id,
            size: f.size,
        }
    })
}

/// A [`table_permit`]: while it is held the table's bytes count against
/// the table budget, and once it is read ahead, against the read-ahead
/// window.
pub struct TablePermit {
    _permit: budget::Permit,
    id: u64,
    size: u64,
}

impl Drop for TablePermit {
    fn drop(&mut self) {
        let ahead = ReadAhead::global();
        ahead.release(self.id, self.size);
        ahead.pump_global();
    }
}

/// Tables handed to the kernel to read ahead (see [`super::open::prefetch`])
/// in the order their permits were taken, which is the order the pool takes
/// them, a window at a time: asked for all at once, the disk served the
/// store in an order of its own while each thread waited for the one table
/// it needed (on the benchmark's table store, half of a cold scan's first
/// 130 ms went idle that way). The window is [`READ_AHEAD`] bytes, and
/// never fewer tables than two per pool thread, so that tables larger than
/// the window are still read while others are decoded.
struct ReadAhead {
    state: std::sync::Mutex<AheadState>,
    window: u64,
}

/// How far ahead tables are read (see `ReadAhead`).
pub const READ_AHEAD: u64 = 16 << 20;

#[derive(Default)]
struct AheadState {
    /// Permits not yet read ahead, in the order they were taken.
    queue: std::collections::VecDeque<(u64, PathBuf, u64)>,
    next_id: u64,
    /// Every permit below this id has had its turn.
    issued: u64,
    /// Permits released while still queued.
    skip: std::collections::HashSet<u64>,
    /// Bytes and tables read ahead whose permits are still held.
    ahead: u64,
    tables: usize,
}

impl ReadAhead {
    fn new(window: u64) -> Self {
        ReadAhead {
            state: Default::default(),
            window,
        }
    }

    fn global() -> &'static ReadAhead {
        static R: std::sync::OnceLock<ReadAhead> = std::sync::OnceLock::new();
        R.get_or_init(|| ReadAhead::new(READ_AHEAD))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AheadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a table; its permit's id.
    fn enqueue(&self, path: &Path, size: u64) -> u64 {
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.queue.push_back((id, path.to_path_buf(), size));
        id
    }

    /// The permit `id` is dropped: its table is scanned.
    fn release(&self, id: u64, size: u64) {
        let mut st = self.lock();
        if id < st.issued {
            st.ahead = st.ahead.saturating_sub(size);
            st.tables = st.tables.saturating_sub(1);
        } else {
            // Scanned before its turn to be read ahead came.
            st.skip.insert(id);
        }
    }

    fn pump_global(&self) {
        self.pump(2 * rayon::current_num_threads(), |p, n| {
            super::open::prefetch_path(p, n)
        });
    }

    /// Hand `issue` the queued tables while fewer than the window's bytes,
    /// or fewer than `min_tables` tables, are read ahead and not scanned.
    fn pump(&self, min_tables: usize, mut issue: impl FnMut(&Path, u64)) {
        loop {
            let (path, size) = {
                let mut st = self.lock();
                if st.ahead >= self.window && st.tables >= min_tables {
                    return;
                }
                let Some((id, path, size)) = st.queue.pop_front() else {
                    return;
                };
                st.issued = id + 1;
                if st.skip.remove(&id) {
                    continue;
                }
                st.ahead = st.ahead.saturating_add(size);
                st.tables += 1;
                (path, size)
            };
            issue(&path, size);
        }
    }
}

/// `scan`: list → inventory → every other file scanned side by side
/// (entries dropped: `scan` keeps verdicts) → the report.
pub fn scan_store(inputs: &[InputFile], paths: &[PathBuf], progress: &dyn Progress) -> Report {
    scan_store_with(inputs, paths, progress, None)
}

/// [`scan_store`], the store read as the dialect `--dialect` names.
pub fn scan_store_with(
    inputs: &[InputFile],
    paths: &[PathBuf],
    progress: &dyn Progress,
    dialect_override: Option<&'static str>,
) -> Report {
    let (inventories, mut done) = inventories_with(inputs, progress, dialect_override);
    let opts = options_by_input(inputs, &inventories);
    let slots: Vec<std::sync::Mutex<Option<FileScan>>> =
        done.iter().map(|_| std::sync::Mutex::new(None)).collect();
    // FIFO: every thread takes the earliest file waiting, so no small file
    // starts ahead of a large one before it and takes the progress bar's
    // label alone.
    rayon::in_place_scope_fifo(|sc| {
        for (i, d) in done.iter().enumerate() {
            if d.is_some() {
                continue;
            }
            let permit = table_permit(&inputs[i]);
            let (f, o, slot) = (&inputs[i], &opts[i], &slots[i]);
            sc.spawn_fifo(move |_| {
                let s = scan_file_with(f, &mut Discard, progress, o);
                drop(permit);
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
            });
        }
    });
    for (slot, s) in done.iter_mut().zip(slots) {
        if let Some(s) = s.into_inner().unwrap_or_else(|p| p.into_inner()) {
            *slot = Some(s);
        }
    }
    let scans = done
        .into_iter()
        .map(|s| s.expect("every input scanned"))
        .collect();
    StoreScan { inventories, scans }.report(inputs, paths)
}

impl StoreScan {
    /// The report both commands write (salvage adds its own section).
    pub fn report(self, inputs: &[InputFile], paths: &[PathBuf]) -> Report {
        let StoreScan {
            inventories,
            mut scans,
        } = self;
        for inv in &inventories {
            for (&i, (state, why)) in inv.members.iter().zip(&inv.states) {
                scans[i].report.state = Some(*state);
                scans[i].report.state_reason = why.clone();
            }
            for (i, d) in &inv.file_dialects {
                scans[*i].report.dialect = Some(d.clone());
            }
        }
        for s in scans.iter_mut() {
            if let Some((why, _)) = &s.late_error {
                let e = format!("changed while being salvaged: {why}");
                s.report.error = Some(match s.report.error.take() {
                    Some(before) => format!("{before}; {e}"),
                    None => e,
                });
            }
        }
        // With several stores in one run, every reference to a file also
        // names its store (the directory), so that two stores' files of the
        // same name are told apart.
        let several = inventories.len() > 1;
        let store_of = |inv: &Inventory| -> Option<String> {
            several
                .then(|| inv.members.first())
                .flatten()
                .map(|&i| super::dialect_basho::store_dir(&inputs[i]))
                .map(|d| d.display().to_string())
        };
        for inv in &inventories {
            let store = store_of(inv);
            for &i in &inv.members {
                scans[i].report.store = store.clone();
            }
        }
        let mut lost = Lost::default();
        let mut key_ranges = Vec::new();
        for inv in inventories.iter().filter(|inv| inv.info.dialect.supported) {
            let sc: Vec<&FileScan> = inv.members.iter().map(|&i| &scans[i]).collect();
            let ins: Vec<&InputFile> = inv.members.iter().map(|&i| &inputs[i]).collect();
            let store = store_of(inv);
            let mut seq = lost_ranges(&sc, &ins, seq_floor(inv)).sequence_ranges;
            date_ranges(&mut seq, &ins);
            lost.sequence_ranges.extend(seq.into_iter().map(|mut l| {
                l.store = store.clone();
                l
            }));
            key_ranges.extend(lost_key_ranges(&ins, &sc, inv).into_iter().map(|mut k| {
                k.store = store.clone();
                k
            }));
        }
        let mut requeue = requeue_list(&lost, &key_ranges);
        // Keys read from damaged bytes: their latest value may be stale or
        // missing. History's do not count: it was superseded.
        for inv in inventories.iter().filter(|inv| inv.info.dialect.supported) {
            let store = store_of(inv);
            for (&i, (state, _)) in inv.members.iter().zip(&inv.states) {
                if state.is_history() {
                    continue;
                }
                for k in &scans[i].unverified_keys {
                    requeue.push(Requeue::Key {
                        key: UserKey(k.clone()),
                        file: inputs[i].name.clone(),
                        store: store.clone(),
                        reason: "a write of this key was read from damaged bytes: its latest \
                                 value may be stale or missing"
                            .to_string(),
                    });
                }
            }
        }
        let files: Vec<FileReport> = scans.into_iter().map(|s| s.report).collect();
        let mut report = Report::new(
            paths.iter().map(|p| p.display().to_string()).collect(),
            files,
            lost,
        );
        report.lost.key_ranges = Some(key_ranges);
        report.lost.unverified_entries = Some(report.summary.unverified_entries);
        report.requeue = Some(requeue);
        let mut infos: Vec<StoreInfo> = inventories
            .into_iter()
            .map(|inv| {
                let mut info = inv.info;
                if several {
                    info.path = inv
                        .members
                        .first()
                        .map(|&i| super::dialect_basho::store_dir(&inputs[i]))
                        .map(|d| d.display().to_string());
                }
                info
            })
            .collect();
        if several {
            report.stores = Some(infos);
        } else {
            report.store = infos.pop();
        }
        report
    }
}

/// The wall-clock window of each lost range (`scan::infolog`): the window
/// of the log that held it; a range open at its end says that writes which
/// never reached the file system are later than the log's mtime.
fn date_ranges(ranges: &mut [LostSeqRange], store: &[&InputFile]) {
    let mut targets: Vec<super::infolog::Target> = Vec::new();
    for r in ranges.iter() {
        if !targets.iter().any(|t| t.name == r.file) {
            targets.push(super::infolog::Target {
                name: r.file.clone(),
                number: store
                    .iter()
                    .find(|f| f.name == r.file)
                    .and_then(|f| f.number),
            });
        }
    }
    if targets.is_empty() {
        return;
    }
    let windows = super::infolog::windows(store, &targets);
    for r in ranges.iter_mut() {
        let Some(w) = targets
            .iter()
            .position(|t| t.name == r.file)
            .and_then(|i| windows.get(i))
        else {
            continue;
        };
        r.time = w.window.clone();
        if r.last.is_none() && w.to_is_mtime {
            r.time.to_evidence.push_str(
                "; writes the crash kept from reaching the file system at all are later and \
                 cannot be dated",
            );
        }
    }
}

fn lost_key_ranges(
    inputs: &[&InputFile],
    scans: &[&FileScan],
    inv: &Inventory,
) -> Vec<LostKeyRange> {
    let mut out = Vec::new();
    for ((f, s), (state, _)) in inputs.iter().zip(scans).zip(&inv.states) {
        // A deleted or obsolete table's keys were superseded: its damage
        // loses nothing a replay needs.
        if state.is_history() {
            continue;
        }
        if let Some((why, range)) = &s.late_error {
            out.push(LostKeyRange {
                range: range.clone().unwrap_or_default(),
                file: s.report.name.clone(),
                store: None,
                cf: s.cf.clone(),
                reason: format!("changed while being salvaged: {why}"),
            });
        }
        // A live table that could not be read at all: the MANIFEST still
        // says which keys it held.
        let unread = s
            .report
            .error
            .as_deref()
            .filter(|_| s.report.blocks.is_none());
        let named = f
            .number
            .and_then(|n| inv.version.as_ref().and_then(|v| v.files.get(&n)));
        if let (FileKind::Table, Some(err), Some((_, nf))) = (f.kind, unread, named) {
            out.push(LostKeyRange {
                range: KeyRange {
                    first: Some(crate::format::ikey::user_key(&nf.smallest).to_vec()),
                    first_exclusive: false,
                    last: Some(crate::format::ikey::user_key(&nf.largest).to_vec()),
                },
                file: s.report.name.clone(),
                store: None,
                cf: s.cf.clone(),
                reason: format!("live table could not be read: {err}"),
            });
        }
        for d in &s.report.damage {
            if let Some(r) = &d.key_range {
                out.push(LostKeyRange {
                    range: r.clone(),
                    file: s.report.name.clone(),
                    store: None,
                    cf: s.cf.clone(),
                    reason: d.reason.clone(),
                });
            }
        }
    }
    for m in &inv.info.missing_tables {
        out.push(LostKeyRange {
            range: m.key_range.clone(),
            file: filename::table_name(m.number),
            store: None,
            cf: inv
                .rocks
                .as_ref()
                .and_then(|r| r.tables.get(&m.number))
                .map(|t| r_cf_name(inv, t.0)),
            reason: "live table named by the MANIFEST is missing".to_string(),
        });
    }
    out
}

/// A RocksDB column family's name for the report, or its id.
fn r_cf_name(inv: &Inventory, id: u32) -> String {
    inv.rocks
        .as_ref()
        .and_then(|r| r.families.iter().find(|f| f.id == id))
        .map_or_else(|| id.to_string(), |f| f.name.to_string())
}

fn requeue_list(lost: &Lost, key_ranges: &[LostKeyRange]) -> Vec<Requeue> {
    let mut out = Vec::new();
    for r in &lost.sequence_ranges {
        out.push(Requeue::SequenceRange {
            first: r.first,
            last: r.last,
            file: r.file.clone(),
            store: r.store.clone(),
            reason: r.reason.clone(),
            time: r.time.clone(),
        });
    }
    for k in key_ranges {
        out.push(Requeue::KeyRange {
            range: k.range.clone(),
            file: k.file.clone(),
            store: k.store.clone(),
            cf: k.cf.clone(),
            reason: k.reason.clone(),
        });
    }
    out
}

/// The directory an input path protects: itself, or a single file's folder,
/// where they really are. An input named through a link protects what the
/// link leads to: that is the evidence being read.
pub fn evidence_dir(input: &Path) -> PathBuf {
    let real = input.canonicalize().unwrap_or_else(|_| input.to_path_buf());
    if real.is_dir() {
        return real;
    }
    match real.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether `path` lies inside (or is) `dir`, after resolving links. The
/// path may not exist yet: it is resolved one component at a time, the way
/// creating it would resolve it (a `..` after a missing directory steps back
/// out of it; a link that exists is followed).
pub fn is_inside(path: &Path, dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    resolve_as_created(path).is_some_and(|p| p.starts_with(&dir))
}

/// `path` made absolute the way creating it would resolve it: see
/// [`is_inside`].
pub fn resolve_as_created(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut cur = std::env::current_dir().ok()?;
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => cur = PathBuf::from(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                cur.pop();
            }
            Component::Normal(name) => {
                cur.push(name);
                if let Ok(real) = cur.canonicalize() {
                    cur = real;
                }
            }
        }
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_read_ahead_a_window_at_a_time_in_permit_order() {
        const MIB: u64 = 1 << 20;
        let ra = ReadAhead::new(8 * MIB);
        let issued = std::cell::RefCell::new(Vec::new());
        let pump = |min| ra.pump(min, |p, _| issued.borrow_mut().push(p.to_path_buf()));
        let names: Vec<PathBuf> = (0..10).map(|i| PathBuf::from(format!("{i}.ldb"))).collect();
        let ids: Vec<u64> = names.iter().map(|p| ra.enqueue(p, 3 * MIB)).collect();
        pump(2);
        // 3 MiB tables: three fill the 8 MiB window.
        assert_eq!(*issued.borrow(), names[..3]);
        // One scanned: one more is read ahead.
        ra.release(ids[0], 3 * MIB);
        pump(2);
        assert_eq!(*issued.borrow(), names[..4]);
        // A table scanned before its turn is never read ahead, and frees
        // no room it did not take.
        ra.release(ids[4], 3 * MIB);
        ra.release(ids[1], 3 * MIB);
        pump(2);
        assert_eq!(*issued.borrow(), [&names[..4], &names[5..6]].concat());
        // Tables larger than the window: still `min_tables` of them ahead.
        for i in [2, 3, 5] {
            ra.release(ids[i], 3 * MIB);
        }
        let big = ReadAhead::new(MIB);
        let got = std::cell::RefCell::new(0);
        for p in &names[..5] {
            big.enqueue(p, 64 * MIB);
        }
        big.pump(3, |_, _| *got.borrow_mut() += 1);
        assert_eq!(*got.borrow(), 3);
        // Everything released: nothing counts as ahead any more, and the
        // last table, scanned before its turn, leaves the queue unread.
        pump(2);
        assert_eq!(issued.borrow().len(), 8);
        for id in &ids[6..] {
            ra.release(*id, 3 * MIB);
        }
        pump(2);
        assert_eq!(issued.borrow().len(), 8);
        let st = ra.lock();
        assert_eq!((st.ahead, st.tables, st.queue.len()), (0, 0, 0));
        assert!(st.skip.is_empty());
    }
}
