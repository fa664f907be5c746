//! The salvage run: the store pipeline with the export as its sink. Intact
//! entries go to `records.jsonl` (every one, or the latest per key),
//! unverified ones to `unverified.jsonl`, the latest view optionally to a
//! rebuilt store; the report is `scan`'s plus what was written.

use super::durable::DurableFile;
use super::latest::{self, Item, RocksSource, SortedSource, TableSource, VecSource};
use super::lines::{Chunks, Held, Lines, Out};
use super::ndjson::Marks;
pub use super::outdir::{prepare_out_dir, OutClaim};
use super::ranges::{latest_in_ranges, newer_unverified, reopen_table, Late, LatestCtx};
use super::rebuild::RebuildWriter;
use super::seqsort::SeqSort;
use crate::format::batch::Kind;
use crate::format::filename::FileKind;
use crate::format::order::Comparator;
use crate::format::table_writer::Compression;
use crate::progress::Progress;
use crate::progress::Silent;
use crate::report::{Report, SalvageCounts};
use crate::scan::store::{self, FileScan, InputError, InputFile, StoreScan};
use crate::scan::{Entry, EntrySink};
use crate::vocab::cf::Cf;
use crate::vocab::FileState;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Per user key, its highest-sequence intact entry; deletes left out.
    Latest,
    /// Every intact entry (history marked with its state), in the
    /// [`Order`] asked for.
    All,
    /// No records export: the report and `unverified.jsonl`, and with
    /// `--rebuild` the store, which then need not read kept tables again.
    None,
}

/// The order of the all view's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// File by file in name order, each file's entries in file order.
    #[default]
    File,
    /// By sequence number, store by store (the stores in input order);
    /// the same write in two files keeps file order. Applied top to bottom
    /// it leaves every key at its latest intact value (docs/REPORT.md).
    Seq,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::File => "file",
            Order::Seq => "seq",
        }
    }
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::Latest => "latest",
            View::All => "all",
            View::None => "none",
        }
    }
}

/// Where `records.jsonl` goes.
#[derive(Debug, Clone)]
pub enum OutDest {
    Dir(PathBuf),
    Stdout,
}

#[derive(Debug, Clone)]
pub struct SalvageOptions {
    pub path: PathBuf,
    pub out: OutDest,
    pub view: View,
    /// The order of the all view (the latest view is in key order).
    pub order: Order,
    /// Also write the report here.
    pub report: Option<PathBuf>,
    pub rebuild: bool,
    /// `--dialect`: the store is read as this dialect, whatever is detected.
    pub dialect: Option<&'static str>,
    /// `--deobfuscate`: lines carry Bitcoin Core's values XORed back.
    pub deobfuscate: bool,
}

#[derive(Debug)]
pub enum SalvageError {
    Input(InputError),
    /// The output directory is unusable; nothing was written.
    Out(String),
    /// No file of the input could be read: nothing was written (the report
    /// says what was there).
    NothingReadable(Box<Report>),
    Io(String, io::Error),
}

impl std::fmt::Display for SalvageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SalvageError::Input(e) => write!(f, "{e}"),
            SalvageError::Out(m) => f.write_str(m),
            SalvageError::NothingReadable(_) => f.write_str("nothing readable"),
            SalvageError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for SalvageError {}

pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SalvageError {
    let what = what.into();
    move |e| SalvageError::Io(what, e)
}

/// An intact entry kept for the latest view.
pub(super) struct Kept {
    seq: u64,
    kind: Kind,
    value: Vec<u8>,
    file: u32,
    offset: u64,
    expiry: Option<crate::format::ikey::Expiry>,
    /// When this entry is a merge operand (RocksDB): the key's older
    /// entries, newest first, down to the first that is not an operand.
    /// Boxed: every key of a LevelDB store has none, and one pointer in
    /// its map entry costs less than an empty `Vec`'s three words.
    #[allow(clippy::box_collection)]
    older: Option<Box<Vec<Kept>>>,
}

impl Kept {
    fn new(e: &Entry<'_>, file: u32) -> Self {
        Kept {
            seq: e.seq,
            kind: e.kind,
            value: e.value.to_vec(),
            file,
            offset: e.offset,
            expiry: e.expiry,
            older: None,
        }
    }

    /// Take in another entry of the same key.
    fn take(&mut self, e: &Entry<'_>, file: u32) {
        if e.seq > self.seq {
            let newer = Kept::new(e, file);
            if e.kind == Kind::Merge {
                // The operand applies to what this key held: keep it.
                let mut old = std::mem::replace(self, newer);
                let mut chain = old.older.take().map(|b| *b).unwrap_or_default();
                chain.insert(0, old);
                self.older = Some(Box::new(chain));
            } else {
                *self = newer;
            }
        } else if e.seq < self.seq && self.kind == Kind::Merge {
            let chain = self.older.get_or_insert_with(Default::default);
            let at = chain
                .iter()
                .position(|k| k.seq <= e.seq)
                .unwrap_or(chain.len());
            // Older than the entry the operands apply to, or read twice.
            if chain[..at].iter().any(|k| k.kind != Kind::Merge)
                || chain.get(at).is_some_and(|k| k.seq == e.seq)
            {
                return;
            }
            chain.insert(at, Kept::new(e, file));
            if e.kind != Kind::Merge {
                chain.truncate(at + 1);
            }
        }
    }

    fn into_items(mut self, key: Vec<u8>, cf: Option<Cf>, out: &mut Vec<Item>) {
        let older = self.older.take();
        let item = |k: Kept, key: Vec<u8>| Item {
            key,
            seq: k.seq,
            kind: k.kind,
            value: k.value,
            file: k.file,
            offset: k.offset,
            expiry: k.expiry,
            cf,
        };
        if let Some(chain) = older {
            out.push(item(self, key.clone()));
            for k in *chain {
                out.push(item(k, key.clone()));
            }
        } else {
            out.push(item(self, key));
        }
    }
}

/// A RocksDB range deletion read intact from a live file: it deletes the
/// keys of its column family in `[begin, end)` older than it.
pub(super) struct Tombstone {
    cf: Option<u32>,
    begin: Vec<u8>,
    end: Vec<u8>,
    seq: u64,
}

/// Whether an entry is deleted by a newer range deletion (checked one by
/// one: stores hold few range deletions).
fn covered(tombstones: &[Tombstone], cmp: Comparator, k: &latest::ItemRef<'_>) -> bool {
    let cf = k.cf.map(|c| c.id);
    tombstones.iter().any(|t| {
        t.cf == cf
            && t.seq > k.seq
            && cmp.compare(&t.begin, k.key) != std::cmp::Ordering::Greater
            && cmp.compare(k.key, &t.end) == std::cmp::Ordering::Less
    })
}

/// The newest intact entries of one column family (all of a LevelDB
/// store's), by key; the family is held once here, not per key.
#[derive(Default)]
pub(super) struct Family {
    cf: Option<Cf>,
    keys: HashMap<Vec<u8>, Kept>,
}

/// The newest intact entries per column family id (`None`: LevelDB): a
/// store has a handful of families, so they are looked up in a list, not
/// hashed once more for every entry.
type KeptMap = Vec<(Option<u32>, Family)>;

struct Exporter<'a> {
    view: View,
    keep_latest: bool,
    max_seq: u64,
    files: &'a [InputFile],
    /// Per input: its state in the store's inventory.
    states: &'a [FileState],
    /// Per input: its store is Chrome IndexedDB's (lines get the `idb` field).
    idb: &'a [bool],
    /// Per input: its store's blob files (RocksDB).
    blobs: &'a [Option<&'a super::blob::BlobFiles>],
    current: u32,
    records: Lines,
    unverified: Lines,
    /// The newest intact entry per key of live files read whole (logs, and
    /// tables out of order).
    latest: KeptMap,
    /// The same for orphan tables out of order: they only fill in keys no
    /// live file holds.
    fill: KeptMap,
    /// Range deletions of live files (RocksDB).
    tombstones: Vec<Tombstone>,
    /// Highest unverified sequence per key: a newer write that may be lost.
    newest_unverified: HashMap<Vec<u8>, u64>,
}

impl EntrySink for Exporter<'_> {
    fn intact(&mut self, e: &Entry<'_>) {
        self.max_seq = self.max_seq.max(e.seq);
        let state = self.states[self.current as usize];
        if self.view == View::All {
            let name = &self.files[self.current as usize].name;
            let marks = Marks::of_state(state)
                .with_idb(self.idb[self.current as usize])
                .with_blobs(self.blobs[self.current as usize]);
            self.records.push(e, name, marks, None);
        }
        if self.keep_latest {
            self.keep(e);
        }
    }

    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        let state = self.states[self.current as usize];
        let name = &self.files[self.current as usize].name;
        let marks = Marks::of_state(state)
            .with_idb(self.idb[self.current as usize])
            .with_blobs(self.blobs[self.current as usize]);
        self.unverified.push(e, name, marks, Some(reason));
        // History's damaged entries were superseded: they hide no newer
        // write of anything.
        if !state.is_history() {
            let s = self
                .newest_unverified
                .entry(suspect_key(e.cf, e.key).into_owned())
                .or_insert(e.seq);
            *s = (*s).max(e.seq);
        }
    }
}

impl Exporter<'_> {
    /// Take in a table's share, in file order.
    fn absorb(&mut self, mut c: Capture<'_>) {
        c.lines.release();
        c.unverified.release();
        self.max_seq = self.max_seq.max(c.max_seq);
        self.tombstones.append(&mut c.tombstones);
        self.records.append(c.lines);
        self.unverified.append(c.unverified);
        for (k, seq) in c.unverified_keys {
            // Already keyed by `suspect_key`.
            let s = self.newest_unverified.entry(k).or_insert(seq);
            *s = (*s).max(seq);
        }
    }

    /// Keep `e` in the map when it is the newest entry of its key so far:
    /// one lookup per entry. A newer version's value is copied exactly
    /// (reusing the older buffer would keep every key at its largest
    /// value's size: 60% more memory on the benchmark's log).
    fn keep(&mut self, e: &Entry<'_>) {
        let state = self.states[self.current as usize];
        if e.kind == Kind::RangeDelete {
            // An orphan's deletions are not the store's: it only fills in.
            if !state.is_history() && state != FileState::Orphan && !e.cf.is_some_and(|c| c.history)
            {
                self.tombstones.push(Tombstone {
                    cf: e.cf.map(|c| c.id),
                    begin: e.key.to_vec(),
                    end: e.value.to_vec(),
                    seq: e.seq,
                });
            }
            return;
        }
        let maps = match state {
            s if s.is_history() => return,
            _ if e.cf.is_some_and(|c| c.history) => return,
            FileState::Orphan => &mut self.fill,
            _ => &mut self.latest,
        };
        let id = e.cf.map(|c| c.id);
        let at = match maps.iter().position(|(i, _)| *i == id) {
            Some(at) => at,
            None => {
                maps.push((
                    id,
                    Family {
                        cf: e.cf,
                        keys: HashMap::new(),
                    },
                ));
                maps.len() - 1
            }
        };
        let map = &mut maps[at].1.keys;
        match map.get_mut(e.key) {
            Some(k) => k.take(e, self.current),
            None => {
                map.insert(e.key.to_vec(), Kept::new(e, self.current));
            }
        }
    }
}

/// One table's share of the export, made on a worker thread: its lines
/// formatted, its unverified entries noted, its order checked (the latest
/// view merges tables as sorted streams; one out of order cannot be).
struct Capture<'a> {
    file: &'a str,
    state: FileState,
    view_all: bool,
    lines: Chunks<'a>,
    unverified: Chunks<'a>,
    /// The run's outputs (records, unverified), when the table writes its
    /// lines straight into them instead of holding them for its turn.
    direct: Option<(Lines, Lines)>,
    unverified_keys: Vec<(Vec<u8>, u64)>,
    /// The first intact user key; with `prev`'s, the range of keys a
    /// second read of the intact blocks yields.
    first: Option<Vec<u8>>,
    prev: Option<(Vec<u8>, u64)>,
    sorted: bool,
    max_seq: u64,
    /// The store's user-key order, for `sorted`.
    cmp: Comparator,
    /// Range deletions of a RocksDB table that is the store's state.
    tombstones: Vec<Tombstone>,
    /// Lines get the `idb` field.
    idb: bool,
    /// The store's blob files, for blob-index lines.
    blobs: Option<&'a super::blob::BlobFiles>,
    /// Takes no intact entries: nothing of them is written, and the scan's
    /// blocks tell their order and span ([`Capture::settle`]).
    bare: bool,
}

impl<'a> Capture<'a> {
    fn new(
        file: &'a str,
        state: FileState,
        view_all: bool,
        held: Option<&'a Held>,
        seq: Option<u32>,
    ) -> Self {
        let chunks = || Chunks {
            held,
            ..Chunks::default()
        };
        Capture {
            file,
            state,
            view_all,
            lines: Chunks {
                seq: seq.is_some(),
                store: seq.unwrap_or(0),
                ..chunks()
            },
            unverified: chunks(),
            direct: None,
            unverified_keys: Vec::new(),
            first: None,
            prev: None,
            sorted: true,
            max_seq: 0,
            cmp: Comparator::Bytewise,
            idb: false,
            blobs: None,
            tombstones: Vec::new(),
            bare: false,
        }
    }

    /// No intact entry is handed over; see [`Capture::settle`].
    fn bare(self, bare: bool) -> Self {
        Capture { bare, ..self }
    }

    /// A bare capture's order, span and sequences, from what the scan
    /// learned of the intact blocks (their first and last keys). Without
    /// that, the table counts as unsorted: read again entry by entry.
    fn settle(&mut self, s: &FileScan) {
        if !self.bare {
            return;
        }
        match &s.block_order {
            Some(o) => {
                self.sorted = o.in_order;
                if let Some((first, last)) = &o.span {
                    self.first = Some(first.clone());
                    self.prev = Some((last.clone(), 0));
                }
            }
            None => self.sorted = false,
        }
        if let Some(seqs) = &s.report.sequences {
            self.max_seq = self.max_seq.max(seqs.last);
        }
    }

    fn with_order(self, cmp: Comparator, idb: bool) -> Self {
        Capture { cmp, idb, ..self }
    }

    fn with_blobs(self, blobs: Option<&'a super::blob::BlobFiles>) -> Self {
        Capture { blobs, ..self }
    }
}

impl EntrySink for Capture<'_> {
    fn wants_entries(&self) -> bool {
        !self.bare
    }

    fn intact(&mut self, e: &Entry<'_>) {
        self.max_seq = self.max_seq.max(e.seq);
        if self.view_all {
            let marks = Marks::of_state(self.state)
                .with_idb(self.idb)
                .with_blobs(self.blobs);
            match &mut self.direct {
                Some((records, _)) => records.push(e, self.file, marks, None),
                None => self.lines.push(e, self.file, marks, None),
            }
        }
        if e.kind == Kind::RangeDelete {
            // Not an entry of the key order: a deletion of [key, value).
            // An orphan's deletions are not the store's: it only fills in.
            let s = self.state;
            if !s.is_history() && s != FileState::Orphan && !e.cf.is_some_and(|c| c.history) {
                self.tombstones.push(Tombstone {
                    cf: e.cf.map(|c| c.id),
                    begin: e.key.to_vec(),
                    end: e.value.to_vec(),
                    seq: e.seq,
                });
            }
            return;
        }
        let in_order = match &self.prev {
            None => true,
            Some((k, s)) => match self.cmp.compare(e.key, k) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => e.seq < *s,
                std::cmp::Ordering::Less => false,
            },
        };
        self.sorted &= in_order;
        if self.first.is_none() {
            self.first = Some(e.key.to_vec());
        }
        let prev = self.prev.get_or_insert_with(|| (Vec::new(), 0));
        prev.0.clear();
        prev.0.extend_from_slice(e.key);
        prev.1 = e.seq;
    }

    fn unverified(&mut self, e: &Entry<'_>, reason: &str) {
        self.max_seq = self.max_seq.max(e.seq);
        let marks = Marks::of_state(self.state)
            .with_idb(self.idb)
            .with_blobs(self.blobs);
        match &mut self.direct {
            Some((_, unverified)) => unverified.push(e, self.file, marks, Some(reason)),
            None => self.unverified.push(e, self.file, marks, Some(reason)),
        }
        if !self.state.is_history() {
            self.unverified_keys
                .push((suspect_key(e.cf, e.key).into_owned(), e.seq));
        }
    }
}

/// Passes on intact entries only (a second read of a file whose unverified
/// entries were already written).
struct IntactOnly<'a, 'b>(&'a mut Exporter<'b>);

impl EntrySink for IntactOnly<'_, '_> {
    fn intact(&mut self, e: &Entry<'_>) {
        // The first read's capture already took the range deletions.
        if e.kind != Kind::RangeDelete {
            self.0.keep(e);
        }
    }
    fn unverified(&mut self, _: &Entry<'_>, _: &str) {}
}

/// The result of a salvage run.
pub struct Salvaged {
    pub report: Report,
    /// Why `--rebuild` was refused (the export was still written).
    pub rebuild_refused: Option<String>,
}

/// The user keys a repair writes anew may fall on (bytewise): each as an
/// inclusive interval, sorted and merged.
struct NewKeys(Vec<(Vec<u8>, Vec<u8>)>);

impl NewKeys {
    fn of<'k>(
        keys: impl Iterator<Item = &'k [u8]>,
        spans: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> NewKeys {
        let mut v: Vec<(Vec<u8>, Vec<u8>)> = keys
            .map(|k| (k.to_vec(), k.to_vec()))
            .chain(spans)
            .collect();
        v.sort();
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1 => {
                    if hi > last.1 {
                        last.1 = hi;
                    }
                }
                _ => out.push((lo, hi)),
            }
        }
        NewKeys(out)
    }

    /// Whether a key in [first, last] (first open when `None`) is one.
    fn meet(&self, first: Option<&[u8]>, last: &[u8]) -> bool {
        let at = first.map_or(0, |f| self.0.partition_point(|(_, hi)| &hi[..] < f));
        self.0.get(at).is_some_and(|(lo, _)| &lo[..] <= last)
    }
}

fn items(maps: KeptMap, cmp: Comparator) -> Vec<Item> {
    // Hashed while scanning (one lookup per entry), sorted once here:
    // (column family, key, seq) are unique, so the order is the same for
    // any --jobs.
    let mut v: Vec<Item> = Vec::new();
    for (_, fam) in maps {
        v.reserve(fam.keys.len());
        for (key, k) in fam.keys {
            k.into_items(key, fam.cf, &mut v);
        }
    }
    v.sort_unstable_by(|a, b| {
        a.cf.map(|c| c.id)
            .cmp(&b.cf.map(|c| c.id))
            .then_with(|| cmp.compare(&a.key, &b.key))
            .then(b.seq.cmp(&a.seq))
    });
    v
}

/// The key `newest_unverified` is kept under: a RocksDB entry's carries its
/// column family (the same key in two families is two keys).
pub(super) fn suspect_key(cf: Option<Cf>, key: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match cf {
        None => std::borrow::Cow::Borrowed(key),
        Some(c) => {
            let mut k = Vec::with_capacity(key.len() + 6);
            k.extend_from_slice(b"\xff\xfe");
            k.extend_from_slice(&c.id.to_be_bytes());
            k.extend_from_slice(key);
            std::borrow::Cow::Owned(k)
        }
    }
}

/// The user-key order of the run: the stores' comparator when they all
/// name one this crate knows, else `None` (an unknown custom comparator:
/// its order cannot be followed, keys are then merged bytewise).
fn run_comparator(inventories: &[crate::scan::inventory::Inventory]) -> Option<Comparator> {
    let mut it = inventories.iter().map(store_comparator);
    let first = it.next().unwrap_or(Some(Comparator::Bytewise))?;
    it.all(|c| c == Some(first)).then_some(first)
}

/// A store's user-key order: the one its MANIFEST names, or, where no
/// MANIFEST says (lost, or no comparator edit read), the one its dialect
/// implies when `--dialect chrome-indexeddb` says whose store it is.
fn store_comparator(inv: &crate::scan::inventory::Inventory) -> Option<Comparator> {
    match inv.info.comparator.as_deref() {
        None if inv.info.dialect.name == "chrome-indexeddb" => Some(Comparator::Idb),
        name => Comparator::from_name(name.map(str::as_bytes)),
    }
}

/// Per input: whether its store is Chrome IndexedDB's (`idb_cmp1`).
fn idb_inputs(n: usize, inventories: &[crate::scan::inventory::Inventory]) -> Vec<bool> {
    let mut v = vec![false; n];
    for inv in inventories {
        if store_comparator(inv) == Some(Comparator::Idb) {
            for &m in &inv.members {
                if let Some(x) = v.get_mut(m) {
                    *x = true;
                }
            }
        }
    }
    v
}

/// Where `--order seq` writes its temporary runs: in the output directory,
/// or for `--out -` in the system's temporary directory, which must not lie
/// inside the input's directory (the input is never written to).
fn seq_runs_dir(opts: &SalvageOptions) -> Result<PathBuf, SalvageError> {
    match &opts.out {
        OutDest::Dir(d) => Ok(d.clone()),
        OutDest::Stdout => {
            let tmp = std::env::temp_dir();
            let input = store::evidence_dir(&opts.path);
            if store::is_inside(&tmp, &input) {
                return Err(SalvageError::Out(format!(
                    "--order seq with --out - sorts in the temporary directory {}, which lies \
                     inside the input's directory {}: set TMPDIR elsewhere",
                    tmp.display(),
                    input.display()
                )));
            }
            Ok(tmp)
        }
    }
}

/// Run a salvage: the store pipeline `scan` runs (inventory first, then
/// every file), with the export as the sink, and the same report plus what
/// was written. The output directory must have been prepared with
/// [`prepare_out_dir`] when `opts.out` is a directory.
pub fn salvage(
    inputs: &[InputFile],
    opts: &SalvageOptions,
    progress: &dyn Progress,
) -> Result<Salvaged, SalvageError> {
    let (records_file, unverified_file) = match &opts.out {
        OutDest::Dir(d) => (
            if opts.view == View::None {
                None
            } else {
                Some(
                    DurableFile::create(&d.join("records.jsonl"))
                        .map_err(io_err("creating records.jsonl"))?,
                )
            },
            Some(
                DurableFile::create(&d.join("unverified.jsonl"))
                    .map_err(io_err("creating unverified.jsonl"))?,
            ),
        ),
        OutDest::Stdout => (None, None),
    };
    let records_w = match records_file {
        Some(f) => Some(Out::File(f)),
        None if opts.view == View::None => None,
        None => Some(Out::Stdout(super::pipe::PipeOut::new())),
    };
    let by_seq = opts.view == View::All && opts.order == Order::Seq;
    let mut records = Lines::new(records_w);
    if by_seq {
        records = records.sorted_by_seq(SeqSort::new(seq_runs_dir(opts)?));
    } else if opts.view == View::All {
        records = records.deferring();
    }
    // Per input, its store's position among the stores (`--order seq`
    // sorts store by store).
    let mut store_of = vec![0u32; inputs.len()];
    for (n, members) in store::stores(inputs).iter().enumerate() {
        for &i in members {
            store_of[i] = n as u32;
        }
    }
    let seq_store = |i: usize| by_seq.then_some(store_of[i]);
    // The store's account first: which files are state, which history.
    let (inventories, mut done) = store::inventories_with(inputs, progress, opts.dialect);
    let obfuscation_key = opts
        .deobfuscate
        .then(|| inventories.iter().find_map(|inv| inv.obfuscation.as_ref()))
        .flatten()
        .map(|f| f.key);
    let _deobfuscating = super::deobfuscate::activate(obfuscation_key);
    let states = store::states_by_input(inputs, &inventories);
    let scan_opts = store::options_by_input(inputs, &inventories);
    let ordered = inventories.iter().all(|inv| inv.ordered);
    // RocksDB stores: their tables' entries are kept in the maps (their
    // merge operands and range deletions need every entry of a key).
    let rocks = inventories
        .iter()
        .any(|inv| inv.info.dialect.name == "rocksdb");
    let run_cmp = run_comparator(&inventories);
    let key_cmp = run_cmp.unwrap_or_default();
    let idb = idb_inputs(inputs.len(), &inventories);
    // Per RocksDB store, its blob files; per input, its store's.
    let blob_files: Vec<Option<super::blob::BlobFiles>> = inventories
        .iter()
        .map(|inv| {
            (inv.info.dialect.name == "rocksdb").then(|| {
                super::blob::BlobFiles::new(
                    inv.members
                        .iter()
                        .map(|&m| &inputs[m])
                        .filter(|f| f.kind == FileKind::Blob && f.not_regular.is_none())
                        .filter_map(|f| Some((f.name.as_str(), f.number?, f.path.as_path()))),
                )
            })
        })
        .collect();
    let mut blobs: Vec<Option<&super::blob::BlobFiles>> = vec![None; inputs.len()];
    for (inv, b) in inventories.iter().zip(&blob_files) {
        for &m in &inv.members {
            blobs[m] = b.as_ref();
        }
    }
    let mut ex = Exporter {
        view: opts.view,
        keep_latest: opts.view == View::Latest || opts.rebuild,
        max_seq: 0,
        files: inputs,
        states: &states,
        idb: &idb,
        blobs: &blobs,
        current: 0,
        records,
        unverified: Lines::new(unverified_file.map(Out::File)),
        latest: Vec::new(),
        fill: Vec::new(),
        tombstones: Vec::new(),
        newest_unverified: HashMap::new(),
    };
    // A repair copies the intact live tables it keeps: every live table is
    // copied now, before the scan that verifies it (the same conditions as
    // the rebuilder's below; a Basho store's layout is its own).
    let precopy = match &opts.out {
        OutDest::Dir(d)
            if opts.rebuild
                && !rocks
                && inventories.len() == 1
                && (run_cmp.is_some()
                    || !inventories.iter().any(|inv| inv.info.custom_comparator))
                && !inventories
                    .iter()
                    .any(|inv| inv.info.dialect.name == "basho") =>
        {
            let tables = (0..inputs.len())
                .filter(|&i| inputs[i].kind == FileKind::Table && states[i] == FileState::Live)
                .map(|i| (inputs[i].path.clone(), inputs[i].name.clone()))
                .collect();
            Some(
                super::rebuild::Precopy::start(d, tables, progress)
                    .map_err(io_err("copying the live tables"))?,
            )
        }
        _ => None,
    };
    // Tables whose entries were not in order cannot be merged as streams:
    // their entries go into the maps like the logs'.
    let mut unsorted = Vec::new();
    // Per table, the user keys its intact entries span: (input, first, last).
    let mut key_spans: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
    // Runs of tables are scanned several at a time, each into a buffer of
    // formatted lines, and a run's lines are appended in file order while
    // the next run is scanned: the writer thread copies one run out while
    // the pool formats the next, instead of each waiting for the other.
    // Two runs are in flight, so each holds about an eighth of the lines
    // budget in tables (their lines are ~3.5 times their size).
    let batch = 2 * rayon::current_num_threads();
    let held = Held::new();
    let view_all = opts.view == View::All;
    // Unless every entry is written as it is read (`--view all`), a
    // LevelDB table's intact entries matter here only for their order
    // and span, which its verified blocks' first and last keys tell (the
    // latest view and a rebuild read the tables again, merged): the
    // scan then parses each block once, for its checks, instead of
    // handing every entry over as well. The order check of those keys
    // is bytewise, so a comparator of the store's own keeps the entries.
    let bare = opts.view != View::All && !rocks && key_cmp == Comparator::Bytewise;
    type Slots<'c> = Vec<std::sync::Mutex<Option<(FileScan, Capture<'c>)>>>;
    // A scanned run's tables, in file order, into the outputs.
    let mut finish =
        |ex: &mut Exporter<'_>, done: &mut [Option<FileScan>], first: usize, slots: Slots<'_>| {
            for (k, slot) in (first..).zip(slots) {
                let (mut s, mut c) = slot
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .expect("every table scanned");
                if c.lines.over || c.unverified.over {
                    // Its lines outgrew the budget: scanned again now that it
                    // is its turn, writing them as they come. Alone, so the
                    // table is the only one in memory.
                    ex.records.store = store_of[k];
                    let direct = (
                        std::mem::replace(&mut ex.records, Lines::new(None)),
                        std::mem::replace(&mut ex.unverified, Lines::new(None)),
                    );
                    c = Capture::new(&inputs[k].name, states[k], view_all, None, None)
                        .with_order(key_cmp, idb[k])
                        .with_blobs(blobs[k])
                        .bare(bare && scan_opts[k].ordered);
                    c.direct = Some(direct);
                    s = store::scan_file_with(&inputs[k], &mut c, &Silent, &scan_opts[k]);
                    c.settle(&s);
                    if let Some((records, unverified)) = c.direct.take() {
                        ex.records = records;
                        ex.unverified = unverified;
                    }
                }
                // A RocksDB table is read again block by block like LevelDB's
                // when its blocks can be found again (a footer, or the blocks
                // discovery verified).
                let table = inputs[k].kind == FileKind::Table;
                if table && (!c.sorted || (rocks && s.rocks_again.is_none())) {
                    unsorted.push(k);
                }
                if let (Some(first), Some((last, _))) = (c.first.take(), c.prev.take()) {
                    if !states[k].is_history() {
                        key_spans.push((k, first, last));
                    }
                }
                ex.absorb(c);
                done[k] = Some(s);
            }
        };
    // The run scanned last, not yet appended: (its first input, its slots).
    let mut pending: Option<(usize, Slots<'_>)> = None;
    let mut i = 0;
    while i < inputs.len() {
        if done[i].is_some() {
            i += 1;
            continue;
        }
        // Tables and blob files are read side by side, in runs.
        let side_by_side = |k: FileKind| matches!(k, FileKind::Table | FileKind::Blob);
        if !side_by_side(inputs[i].kind) {
            // After the tables before it, in file order.
            if let Some((first, slots)) = pending.take() {
                finish(&mut ex, &mut done, first, slots);
            }
            ex.current = i as u32;
            ex.records.store = store_of[i];
            done[i] = Some(store::scan_file_with(
                &inputs[i],
                &mut ex,
                progress,
                &scan_opts[i],
            ));
            i += 1;
            continue;
        }
        let mut j = i;
        let mut run_bytes = 0u64;
        while j < inputs.len()
            && side_by_side(inputs[j].kind)
            && j - i < batch
            && (j == i || run_bytes.saturating_add(inputs[j].size) <= held.limit / 8)
        {
            // A blob file is read a window at a time and yields no lines.
            if inputs[j].kind == FileKind::Table {
                run_bytes = run_bytes.saturating_add(inputs[j].size);
            }
            j += 1;
        }
        let slots: Slots<'_> = (i..j).map(|_| std::sync::Mutex::new(None)).collect();
        rayon::in_place_scope_fifo(|sc| {
            for (k, slot) in (i..j).zip(&slots) {
                let permit = store::table_permit(&inputs[k]);
                let (f, state, o, held) = (&inputs[k], states[k], &scan_opts[k], &held);
                let seq = seq_store(k);
                let is_idb = idb[k];
                let b = blobs[k];
                sc.spawn_fifo(move |_| {
                    let mut c = Capture::new(&f.name, state, view_all, Some(held), seq)
                        .with_order(key_cmp, is_idb)
                        .with_blobs(b)
                        .bare(bare && o.ordered);
                    let s = store::scan_file_with(f, &mut c, progress, o);
                    c.settle(&s);
                    // Sorted here, on the pool, rather than in its turn.
                    c.lines.seal();
                    drop(permit);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((s, c));
                });
            }
            // The run before, appended while this one is scanned.
            if let Some((first, slots)) = pending.take() {
                finish(&mut ex, &mut done, first, slots);
            }
        });
        pending = Some((i, slots));
        i = j;
    }
    if let Some((first, slots)) = pending.take() {
        finish(&mut ex, &mut done, first, slots);
    }
    let mut scans: Vec<FileScan> = done
        .into_iter()
        .map(|s| s.expect("every input scanned"))
        .collect();
    if ex.keep_latest {
        for &i in &unsorted {
            if states[i].is_history() {
                continue;
            }
            ex.current = i as u32;
            let mut only_intact = IntactOnly(&mut ex);
            store::scan_file_with(&inputs[i], &mut only_intact, &Silent, &scan_opts[i]);
        }
    }
    let custom = inventories
        .iter()
        .find(|inv| inv.info.custom_comparator)
        .map(|inv| inv.info.comparator.clone().unwrap_or_default());
    let mut rebuild_refused = None;
    let mut rebuilder = match (&opts.out, opts.rebuild) {
        (OutDest::Dir(_), true) if rocks => {
            rebuild_refused = Some(
                "--rebuild refused: rebuilding a RocksDB store is not supported yet (the NDJSON \
                 export, every column family, is complete)"
                    .to_string(),
            );
            None
        }
        (OutDest::Dir(_), true) if custom.is_some() && run_cmp.is_none() => {
            rebuild_refused = Some(format!(
                "--rebuild refused: the store uses the comparator {:?}, and a rebuilt store \
                 in bytewise order would not open with it (the NDJSON export is complete)",
                custom.as_deref().unwrap_or("?")
            ));
            None
        }
        (OutDest::Dir(_), true) if inventories.len() > 1 => {
            rebuild_refused = Some(
                "--rebuild refused: the inputs come from several directories, and one \
                 rebuilt store cannot stand for several stores"
                    .to_string(),
            );
            None
        }
        (OutDest::Dir(d), true) => {
            let basho = inventories
                .iter()
                .any(|inv| inv.info.dialect.name == "basho");
            let codec = inventories.first().map_or(Compression::Snappy, |inv| {
                crate::scan::dialect_forks::rebuild_compression(&inv.info.dialect)
            });
            let plan =
                super::rebuild::plan(inputs, &inventories, &states, &scans, &unsorted, codec);
            Some(
                RebuildWriter::create_with(d, basho, precopy)
                    .map_err(io_err("creating the rebuilt store"))?
                    .with_compression(codec)
                    .with_comparator(key_cmp)
                    .with_plan(plan),
            )
        }
        _ => None,
    };
    let mut suspect_keys = 0;
    let late: Late = Late::default();
    if ex.keep_latest {
        let mut logs = items(std::mem::take(&mut ex.latest), key_cmp);
        let fill = items(std::mem::take(&mut ex.fill), key_cmp);
        let mut ranged = None;
        if rebuilder.is_none() && opts.view == View::Latest && ordered && fill.is_empty() && !rocks
        {
            // `unsorted` was filled in input order.
            key_spans.retain(|(i, _, _)| {
                unsorted.binary_search(i).is_err() && !scans[*i].intact_blocks.is_empty()
            });
            let ctx = LatestCtx {
                late: &late,
                inputs,
                states: &states,
                scans: &scans,
                newest_unverified: &ex.newest_unverified,
            };
            ranged = latest_in_ranges(&ctx, &mut logs, &key_spans, &mut ex.records)
                .map_err(io_err("merging the latest view"))?;
        }
        if let Some(n) = ranged {
            suspect_keys = n;
        } else {
            // A repair that exports no records reads a kept table again
            // only where something written anew may meet it: its other
            // blocks answer for themselves in the rebuilt store.
            let mut kept = vec![false; inputs.len()];
            if let Some(rb) = &rebuilder {
                for i in rb.kept_inputs() {
                    kept[i] = true;
                }
            }
            let narrow = (opts.view == View::None
                && key_cmp == Comparator::Bytewise
                && kept.iter().any(|&k| k))
            .then(|| {
                let tables = key_spans
                    .iter()
                    .filter(|(i, _, _)| !kept[*i] && !unsorted.contains(i))
                    .map(|(_, first, last)| (first.clone(), last.clone()));
                NewKeys::of(logs.iter().chain(&fill).map(|it| &it.key[..]), tables)
            });
            if narrow.is_some() {
                if let Some(rb) = rebuilder.as_mut() {
                    rb.keys_uncounted();
                }
            }
            let mut sources: Vec<Box<dyn SortedSource>> = vec![Box::new(VecSource::new(logs))];
            if !fill.is_empty() {
                sources.push(latest::tiered(VecSource::new(fill), true));
            }
            let streamed = |i: usize| {
                inputs[i].kind == FileKind::Table
                    && !states[i].is_history()
                    && !unsorted.contains(&i)
            };
            // Every table is merged at once here: their read windows share
            // a bound.
            let window = crate::scan::table::source::window_for(
                (0..scans.len()).filter(|&i| streamed(i)).count(),
            );
            for (i, s) in scans.iter().enumerate() {
                let streamed = streamed(i);
                if let (true, Some(again)) = (streamed, &s.rocks_again) {
                    // A family's tables are history when the family is.
                    if !again.intact.is_empty() && !again.cf.history {
                        let t =
                            RocksSource::open(&inputs[i].path, &inputs[i].name, i as u32, again);
                        let orphan = states[i] == FileState::Orphan;
                        sources.extend(reopen_table(&late, i, t, orphan));
                    }
                    continue;
                }
                if streamed && !s.intact_blocks.is_empty() {
                    let blocks = match &narrow {
                        Some(new) if kept[i] && s.index_bounds_blocks => {
                            match crate::scan::table::source::blocks_meeting(
                                &inputs[i].path,
                                &inputs[i].name,
                                inputs[i].size,
                                &s.intact_blocks,
                                s.codecs,
                                |first, last| new.meet(first, last),
                            ) {
                                Ok(b) if b.is_empty() => continue,
                                Ok(b) => Ok(b),
                                Err(e) => Err(e),
                            }
                        }
                        _ => Ok(s.intact_blocks.clone()),
                    };
                    let t = blocks.and_then(|b| {
                        TableSource::open(&inputs[i].path, &inputs[i].name, i as u32, b, s.codecs)
                            .map(|t| t.with_window(window))
                    });
                    let orphan = states[i] == FileState::Orphan;
                    sources.extend(reopen_table(&late, i, t, orphan));
                }
            }
            let view_latest = opts.view == View::Latest;
            let (records, newest_unverified) = (&mut ex.records, &ex.newest_unverified);
            let tombstones = &ex.tombstones;
            // A repair writes only what its kept tables do not hold.
            let kept = &kept;
            let mut out = |k: latest::ItemRef<'_>| -> io::Result<()> {
                let from_kept = kept[k.file as usize];
                if k.kind == Kind::Delete {
                    // A delete shadowing a put a kept table may hold is
                    // written anew; otherwise deletes stay out.
                    if let Some(rb) = rebuilder.as_mut() {
                        if !from_kept && rb.kept_may_hold(k.key) {
                            rb.add_delete(k.key, k.seq)?;
                        }
                    }
                    return Ok(());
                }
                if let Some(rb) = rebuilder.as_mut() {
                    if from_kept {
                        rb.count_kept();
                    } else {
                        rb.add_with_expiry(k.key, k.seq, k.value, k.expiry)?;
                    }
                }
                if view_latest {
                    let suspect = newer_unverified(newest_unverified, &k);
                    suspect_keys += u64::from(suspect);
                    let marks = Marks {
                        suspect_newer: suspect,
                        from_orphan: states[k.file as usize] == FileState::Orphan,
                        idb: idb[k.file as usize],
                        blobs: blobs[k.file as usize],
                        ..Marks::default()
                    };
                    records.push(&k.entry(), &inputs[k.file as usize].name, marks, None);
                }
                Ok(())
            };
            // A key's merge operands (RocksDB) come newest first, down to
            // the value they apply to: held and written oldest first, the
            // order a replay applies them in. A delete, or a range deletion
            // newer than an entry, ends the key there.
            let mut chain: Vec<Item> = Vec::new();
            let mut ended: Option<(Option<u32>, Vec<u8>)> = None;
            latest::merge_with(key_cmp, sources, |k| {
                let same_key =
                    |c: &Option<u32>, key: &[u8]| *c == k.cf.map(|c| c.id) && key == k.key;
                if let Some(first) = chain.first() {
                    if !same_key(&first.cf.map(|c| c.id), &first.key) {
                        for it in chain.drain(..).rev() {
                            out(it.as_ref())?;
                        }
                    }
                }
                if ended.as_ref().is_some_and(|(c, key)| same_key(c, key)) {
                    return Ok(());
                }
                ended = None;
                let gone = k.kind.deletes()
                    || k.kind == Kind::RangeDelete
                    || (!tombstones.is_empty() && covered(tombstones, key_cmp, &k));
                // The merge emits older entries of a key only after a merge
                // operand: only then can more of this key follow.
                let more = !chain.is_empty() || k.kind == Kind::Merge;
                if more && (gone || k.kind != Kind::Merge) {
                    ended = Some((k.cf.map(|c| c.id), k.key.to_vec()));
                }
                if k.kind == Kind::Delete && chain.is_empty() {
                    // Written anew where a repair keeps a table that may
                    // hold what it deletes.
                    return out(k);
                }
                if gone {
                    return Ok(());
                }
                if chain.is_empty() && k.kind != Kind::Merge {
                    return out(k);
                }
                chain.push(Item {
                    key: k.key.to_vec(),
                    seq: k.seq,
                    kind: k.kind,
                    value: k.value.to_vec(),
                    file: k.file,
                    offset: k.offset,
                    expiry: k.expiry,
                    cf: k.cf,
                });
                Ok(())
            })
            .map_err(io_err("merging the latest view"))?;
            for it in chain.drain(..).rev() {
                out(it.as_ref()).map_err(io_err("merging the latest view"))?;
            }
        }
    }
    for (i, why) in late.into_inner().unwrap_or_else(|p| p.into_inner()) {
        // A kept table that failed its second read changed since it was
        // verified: it is not copied (its keys are reported lost below).
        if let Some(rb) = rebuilder.as_mut() {
            rb.forget_kept(i);
        }
        if scans[i].late_error.is_none() {
            let range = key_spans
                .iter()
                .find(|(k, _, _)| *k == i)
                .map(|(_, first, last)| crate::vocab::KeyRange {
                    first: Some(first.clone()),
                    first_exclusive: false,
                    last: Some(last.clone()),
                });
            scans[i].late_error = Some((why, range));
        }
    }
    // Nothing readable: leave no export behind (a retry with the right path
    // must find the directory as it was).
    if !scans
        .iter()
        .any(|s| s.report.scanned && s.report.error.is_none())
    {
        drop(rebuilder);
        drop(ex);
        let report =
            StoreScan { inventories, scans }.report(inputs, std::slice::from_ref(&opts.path));
        return Err(SalvageError::NothingReadable(Box::new(report)));
    }
    let (records_count, unverified_count) = (ex.records.count, ex.unverified.count);
    let records_out = ex.records.finish().map_err(io_err("writing records"))?;
    let unverified_out = ex
        .unverified
        .finish()
        .map_err(io_err("writing unverified entries"))?;
    let manifest_last = inventories
        .iter()
        .filter_map(|inv| inv.info.last_sequence)
        .max()
        .unwrap_or(0);
    let last_sequence = ex.max_seq.max(manifest_last);
    let rebuilt = match rebuilder {
        Some(rb) => Some(
            rb.finish(last_sequence)
                .map_err(io_err("writing the rebuilt store"))?,
        ),
        None => None,
    };
    // Commit the exports before the report: a report on disk means the
    // exports beside it are complete.
    for (out, what) in [
        (records_out, "records"),
        (unverified_out, "unverified entries"),
    ] {
        if let Some(w) = out {
            w.commit().map_err(io_err(format!("writing {what}")))?;
        }
    }
    drop(ex);

    let mut report =
        StoreScan { inventories, scans }.report(inputs, std::slice::from_ref(&opts.path));
    report.salvage = Some(SalvageCounts {
        view: opts.view.as_str(),
        order: (opts.view == View::All).then_some(opts.order.as_str()),
        out: match &opts.out {
            OutDest::Dir(d) => d.display().to_string(),
            OutDest::Stdout => "-".to_string(),
        },
        records: records_count,
        unverified: unverified_count,
        suspect_newer_keys: suspect_keys,
        unresolved_blob_values: blob_files.iter().flatten().map(|b| b.unresolved()).sum(),
        rebuilt,
        stopped_early: matches!(opts.out, OutDest::Stdout) && super::pipe::stdout_closed(),
        deobfuscated: obfuscation_key.is_some(),
    });
    Ok(Salvaged {
        report,
        rebuild_refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(seq: u64, kind: Kind, value: &'static [u8]) -> Entry<'static> {
        Entry {
            seq,
            kind,
            key: b"k",
            value,
            offset: seq,
            expiry: None,
            cf: Some(Cf::id(2)),
        }
    }

    fn chain(k: Kept) -> Vec<(u64, Kind)> {
        let mut v = Vec::new();
        k.into_items(b"k".to_vec(), None, &mut v);
        v.iter().map(|i| (i.seq, i.kind)).collect()
    }

    #[test]
    fn kept_holds_operands_down_to_their_base_in_any_arrival_order() {
        let entries = [
            e(2, Kind::Put, b"old"),
            e(5, Kind::Put, b"base"),
            e(6, Kind::Merge, b"x"),
            e(8, Kind::Merge, b"y"),
            e(4, Kind::Merge, b"below the base"),
        ];
        let want = vec![(8, Kind::Merge), (6, Kind::Merge), (5, Kind::Put)];
        for order in [
            [0, 1, 2, 3, 4],
            [4, 3, 2, 1, 0],
            [3, 0, 4, 2, 1],
            [2, 3, 1, 0, 4],
        ] {
            let mut k = Kept::new(&entries[order[0]], 0);
            for &i in &order[1..] {
                k.take(&entries[i], 0);
                // Read twice (the same write in two files): no duplicate.
                k.take(&entries[i], 1);
            }
            assert_eq!(chain(k), want, "arrival order {order:?}");
        }
        // A newer put replaces the whole chain.
        let mut k = Kept::new(&entries[3], 0);
        k.take(&entries[2], 0);
        k.take(&e(9, Kind::Put, b"new"), 0);
        assert_eq!(chain(k), vec![(9, Kind::Put)]);
    }

    #[test]
    fn a_newer_range_deletion_covers_its_family_and_range_only() {
        let t = vec![Tombstone {
            cf: Some(1),
            begin: b"b".to_vec(),
            end: b"d".to_vec(),
            seq: 10,
        }];
        let item = |key: &'static [u8], seq, cf| latest::ItemRef {
            key,
            seq,
            kind: Kind::Put,
            value: b"",
            file: 0,
            offset: 0,
            expiry: None,
            cf: Some(Cf::id(cf)),
        };
        let c = Comparator::Bytewise;
        assert!(covered(&t, c, &item(b"b", 9, 1)));
        assert!(covered(&t, c, &item(b"c", 1, 1)));
        assert!(!covered(&t, c, &item(b"d", 1, 1)), "end is exclusive");
        assert!(!covered(&t, c, &item(b"a", 1, 1)));
        assert!(
            !covered(&t, c, &item(b"c", 11, 1)),
            "newer than the deletion"
        );
        assert!(!covered(&t, c, &item(b"c", 1, 0)), "another family");
    }
}
