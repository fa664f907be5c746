//! The store's own account of itself, read before anything else: `CURRENT`
//! names a MANIFEST, whose VersionEdits say which tables are live, which
//! were deleted and which logs are already flushed. Every file then gets a
//! [`FileState`] with the reason for it, and the scan of the other files
//! knows from the start what is state and what is history. All of it works
//! without `CURRENT` or a readable MANIFEST: the newest MANIFEST that
//! decodes at all is used, else no file's state is known and that is said.

use super::logfile::RecordSink;
use super::store::{scan_file_with, FileScan, InputFile, ScanOptions};
use crate::format::filename::FileKind;
use crate::format::ikey;
use crate::format::manifest::{NewFile, VersionEdit, VersionState};
use crate::progress::Progress;
use crate::report::{KeyRange, MissingTable, StoreInfo};
use crate::scan::Discard;
use crate::vocab::FileState;

pub const BYTEWISE: &str = "leveldb.BytewiseComparator";

/// Replays the VersionEdits of a MANIFEST as they are read.
#[derive(Default)]
pub struct EditSink {
    pub state: VersionState,
}

impl RecordSink for EditSink {
    fn record(&mut self, _offset: u64, payload: &[u8]) -> Result<(), String> {
        let edit = VersionEdit::decode(payload).map_err(|e| e.to_string())?;
        self.state.apply(&edit);
        Ok(())
    }
}

/// One store's account: its files (indices into the run's inputs), what
/// the MANIFEST says, and each file's state.
pub struct Inventory {
    pub info: StoreInfo,
    pub version: Option<VersionState>,
    /// The inputs of this store, in input order.
    pub members: Vec<usize>,
    /// Per member (same order): its state and, unless live, why.
    pub states: Vec<(FileState, Option<String>)>,
    /// Table keys are in bytewise order (the comparator is LevelDB's
    /// default, or not known).
    pub ordered: bool,
    /// Bitcoin Core's obfuscation key, read intact from the store.
    pub obfuscation: Option<super::bitcoin::Found>,
    /// A RocksDB store's column families and WALs (from its MANIFEST; empty
    /// when none could be read).
    pub rocks: Option<std::sync::Arc<super::rocks::RocksCtx>>,
    /// Tables whose own evidence names a writer other than the store's
    /// (input index, that writer): [`super::dialect_files`].
    pub file_dialects: Vec<(usize, crate::report::FileDialect)>,
}

impl Inventory {
    pub fn scan_options(&self) -> ScanOptions {
        ScanOptions {
            ordered: self.ordered,
            unsupported: !self.info.dialect.supported,
            codecs: crate::format::compress::Codecs {
                basho_lz4: self.info.dialect.name == "basho",
            },
            rocks: self.rocks.clone(),
        }
    }
}

/// RocksDB's block-based table magic (`table/format.h`,
/// kBlockBasedTableMagicNumber), the last 8 bytes of its tables.
pub(super) const ROCKSDB_TABLE_MAGIC: u64 = 0x88e2_41b7_85f4_cff7;
/// LevelDB's table magic (`table/format.h`, kTableMagicNumber).
const LEVELDB_TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Tables whose footers are looked at to tell the dialect: enough to see
/// which writer made the store, cheap on a store of thousands.
const TABLES_SAMPLED: usize = 8;

/// The last 8 bytes of a file, read without following links or blocking.
pub(super) fn tail_magic(f: &InputFile) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    if f.not_regular.is_some() || f.size < 8 {
        return None;
    }
    let (file, md) = super::open::open_store_file(&f.path).ok()?;
    let at = md.len().checked_sub(8)?;
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, at).ok()?;
    Some(u64::from_le_bytes(b))
}

/// Which writer family the store comes from. RocksDB leaves files LevelDB
/// never writes (`OPTIONS-N`, `IDENTITY`) and ends its tables with its own
/// magic; either is enough to say so.
///
/// A table with RocksDB's magic among tables with LevelDB's, in a store
/// without RocksDB's own files, is one table copied in: the store stays
/// LevelDB's and that table gets its own dialect ([`super::dialect_files`]).
fn dialect(
    inputs: &[InputFile],
    members: &[usize],
    current: Option<&str>,
    samples: &[super::dialect_forks::TableSample],
) -> crate::report::Dialect {
    let mut rocks = Vec::new();
    for f in members.iter().map(|&i| &inputs[i]) {
        if f.name.starts_with("OPTIONS-") || f.name == "IDENTITY" {
            rocks.push(format!("{}: a file only RocksDB writes", f.name));
        }
    }
    let rocks_files = !rocks.is_empty();
    let (mut leveldb_tables, mut sampled) = (0usize, 0usize);
    for f in members
        .iter()
        .map(|&i| &inputs[i])
        .filter(|f| f.kind == FileKind::Table)
        .take(TABLES_SAMPLED)
    {
        sampled += 1;
        match tail_magic(f) {
            Some(ROCKSDB_TABLE_MAGIC) => rocks.push(format!(
                "{}: ends with RocksDB's table magic 0x{ROCKSDB_TABLE_MAGIC:016x}",
                f.name
            )),
            Some(LEVELDB_TABLE_MAGIC) => leveldb_tables += 1,
            _ => {}
        }
    }
    if rocks_files || (!rocks.is_empty() && leveldb_tables == 0) {
        let mut pebble = Vec::new();
        for f in members.iter().map(|&i| &inputs[i]) {
            if f.name.starts_with("OPTIONS-") && f.not_regular.is_none() && f.size <= 1 << 20 {
                let text = super::store::read_small(&f.path, 1 << 20).unwrap_or_default();
                let text = String::from_utf8_lossy(&text);
                if let Some(e) = super::rocks::pebble_evidence(&f.name, &text) {
                    pebble.push(e);
                }
                if let Some(e) = super::rocks::options_evidence(&f.name, &text) {
                    rocks.push(e);
                }
            }
        }
        for f in members
            .iter()
            .map(|&i| &inputs[i])
            .filter(|f| f.kind == FileKind::Table)
            .take(TABLES_SAMPLED)
        {
            if tail_magic(f) == Some(super::rocks::PEBBLE_TABLE_MAGIC) {
                pebble.push(format!(
                    "{}: ends with Pebble's table magic (\"🪳🪳\")",
                    f.name
                ));
            }
        }
        // Pebble writes RocksDB's file names and its own MANIFEST tags and
        // table formats: not read, rather than read as RocksDB and called
        // damaged.
        if !pebble.is_empty() {
            return crate::report::Dialect {
                name: "pebble",
                evidence: pebble,
                supported: false,
            };
        }
        return crate::report::Dialect {
            name: "rocksdb",
            evidence: rocks,
            supported: true,
        };
    }
    let basho = super::dialect_basho::layout_evidence(inputs, members);
    if !basho.is_empty() {
        return crate::report::Dialect {
            name: "basho",
            evidence: basho,
            supported: true,
        };
    }
    let go = super::dialect_go::goleveldb_evidence(inputs, members, current);
    let mut evidence = vec!["no OPTIONS-* or IDENTITY file, which RocksDB writes".to_string()];
    if sampled > 0 {
        evidence.push(format!(
            "{leveldb_tables} of {sampled} table(s) looked at end with LevelDB's table magic"
        ));
    }
    if let Some(fork) = super::dialect_forks::detect(inputs, members, samples, &mut evidence) {
        return fork;
    }
    if !go.decisive.is_empty() {
        evidence.extend(go.decisive);
        evidence.extend(go.supporting);
        return crate::report::Dialect {
            name: "goleveldb",
            evidence,
            supported: true,
        };
    }
    evidence.extend(go.cpp);
    crate::report::Dialect {
        name: "leveldb",
        evidence,
        supported: true,
    }
}

fn read_current(inputs: &[InputFile], members: &[usize]) -> (Option<String>, Option<String>) {
    let Some(c) = members
        .iter()
        .map(|&i| &inputs[i])
        .find(|f| f.kind == FileKind::Current)
    else {
        return (None, Some("no CURRENT file".to_string()));
    };
    // CURRENT is one short line; anything large is not a CURRENT file.
    if c.size > 4096 {
        return (None, Some(format!("CURRENT is {} bytes long", c.size)));
    }
    if let Some(what) = c.not_regular {
        return (None, Some(format!("CURRENT is {what}, not a regular file")));
    }
    match super::store::read_small(&c.path, 4096) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b);
            // Mojang's leveldb-mcpe also reads a CURRENT ending in "\r\n" or
            // "\r" (db/version_set.cc, VersionSet::Recover).
            let name = s.trim_end_matches('\n').trim_end_matches('\r');
            if name.starts_with("MANIFEST-") && !name.contains(['/', '\n']) {
                (Some(name.to_string()), None)
            } else {
                (
                    None,
                    Some(format!("CURRENT does not name a MANIFEST: {name:?}")),
                )
            }
        }
        Err(e) => (None, Some(format!("cannot read CURRENT: {e}"))),
    }
}

/// Whether keys of a store with this comparator are in bytewise order.
pub fn is_bytewise(comparator: Option<&str>) -> bool {
    comparator.is_none_or(|c| c == BYTEWISE)
}

fn user_key_range(f: &NewFile) -> KeyRange {
    KeyRange {
        first: Some(ikey::user_key(&f.smallest).to_vec()),
        first_exclusive: false,
        last: Some(ikey::user_key(&f.largest).to_vec()),
    }
}

/// Read the store's MANIFESTs (the only files read here; their scans are
/// returned, by input index, to take their place in the report) and give
/// every member its state.
pub fn build(
    inputs: &[InputFile],
    members: Vec<usize>,
    progress: &dyn Progress,
) -> (Inventory, Vec<(usize, FileScan)>) {
    build_with(inputs, members, progress, None)
}

/// [`build`], with the dialect `--dialect` names in place of the detected one.
pub fn build_with(
    inputs: &[InputFile],
    members: Vec<usize>,
    progress: &dyn Progress,
    dialect_override: Option<&'static str>,
) -> (Inventory, Vec<(usize, FileScan)>) {
    let (current, current_error) = read_current(inputs, &members);
    let samples = super::dialect_forks::sample(inputs, &members);
    let dialect = super::dialect_override::apply(
        dialect(inputs, &members, current.as_deref(), &samples),
        dialect_override,
    );
    if !dialect.supported {
        return unsupported(members, dialect, current, current_error);
    }
    // The comparator is not known before the MANIFEST is read, and a
    // MANIFEST holds no table keys: ordering does not matter for it.
    let is_rocks = dialect.name == "rocksdb";
    let manifest_opts = ScanOptions {
        rocks: is_rocks.then(Default::default),
        ..ScanOptions::default()
    };
    let manifests: Vec<(usize, FileScan)> = members
        .iter()
        .copied()
        .filter(|&i| inputs[i].kind == FileKind::Manifest)
        .map(|i| {
            (
                i,
                scan_file_with(&inputs[i], &mut Discard, progress, &manifest_opts),
            )
        })
        .collect();
    let mut info = StoreInfo {
        current: current.clone(),
        current_error,
        dialect,
        ..Default::default()
    };
    let usable = |s: &FileScan| s.manifest.as_ref().is_some_and(|v| v.edits > 0);
    // The MANIFEST CURRENT names, else the newest one that yielded an edit.
    let named = current
        .as_ref()
        .and_then(|c| manifests.iter().position(|(i, _)| &inputs[*i].name == c))
        .filter(|&m| usable(&manifests[m].1));
    let chosen = named.or_else(|| {
        (0..manifests.len())
            .filter(|&m| usable(&manifests[m].1))
            .max_by_key(|&m| inputs[manifests[m].0].number)
    });
    let version = chosen.and_then(|m| manifests[m].1.manifest.clone());
    let rocks = is_rocks.then(|| {
        std::sync::Arc::new(
            chosen
                .and_then(|m| manifests[m].1.rocks_manifest.as_deref())
                .map(super::rocks::RocksCtx::from_state)
                .unwrap_or_default(),
        )
    });
    // The MANIFEST's own evidence of Basho (its tag 11) settles a store
    // whose layout did not (tables all lost, say).
    if let Some(e) = version
        .as_ref()
        .and_then(super::dialect_basho::manifest_evidence)
    {
        if info.dialect.name != "basho" {
            info.dialect = crate::report::Dialect {
                name: "basho",
                evidence: Vec::new(),
                supported: true,
            };
        }
        info.dialect.evidence.push(e);
    }
    let chosen_input = chosen.map(|m| manifests[m].0);
    let chosen_name = chosen_input.map(|i| inputs[i].name.clone());
    let chosen_number = chosen_input.and_then(|i| inputs[i].number);
    if let (Some(name), Some(v)) = (&chosen_name, &version) {
        info.manifest = Some(name.clone());
        info.states_known = true;
        info.comparator = v
            .comparator
            .as_ref()
            .map(|c| String::from_utf8_lossy(c).into_owned());
        info.custom_comparator = info.comparator.as_deref().is_some_and(|c| c != BYTEWISE);
        let overridden = info.dialect.evidence.first().map(String::as_str)
            == Some(super::dialect_override::SET_BY);
        if !overridden && info.comparator.as_deref() == Some(crate::format::idb::COMPARATOR_NAME) {
            // Chrome's IndexedDB backing store is the only writer of idb_cmp1.
            info.dialect.name = "chrome-indexeddb";
            info.dialect.evidence.insert(
                0,
                format!("{name} names the comparator idb_cmp1, Chrome IndexedDB's"),
            );
        }
        info.log_number = v.log_number;
        info.prev_log_number = v.prev_log_number;
        info.next_file_number = v.next_file;
        info.last_sequence = v.last_sequence;
        info.live_tables = v.files.len();
        for (&number, (level, nf)) in &v.files {
            let present = members
                .iter()
                .any(|&i| inputs[i].kind == FileKind::Table && inputs[i].number == Some(number));
            if !present {
                info.missing_tables.push(MissingTable {
                    number,
                    level: *level,
                    size: nf.file_size,
                    key_range: user_key_range(nf),
                });
            }
        }
        if let Some(r) = &rocks {
            for (&number, b) in &r.blobs {
                let gone = !members
                    .iter()
                    .any(|&i| inputs[i].kind == FileKind::Blob && inputs[i].number == Some(number));
                if gone && !b.dropped && b.garbage < b.blobs {
                    info.missing_blob_files
                        .push(crate::report::MissingBlobFile {
                            number,
                            cf: r
                                .families
                                .iter()
                                .find(|f| f.id == b.cf)
                                .map_or_else(|| b.cf.to_string(), |f| f.name.to_string()),
                            blobs: b.blobs,
                            garbage: b.garbage,
                        });
                }
            }
        }
    } else {
        info.note = Some(
            "no MANIFEST could be read, so which files are live is not known: every table \
             and log was used, and each key's newest intact entry was taken"
                .to_string(),
        );
    }
    // A MANIFEST with damage may have lost the edits that named its newest
    // tables: those cannot be told from an interrupted compaction's output.
    let manifest_damaged = chosen.is_some_and(|m| {
        let r = &manifests[m].1.report;
        !r.damage.is_empty() || r.error.is_some()
    });
    if manifest_damaged {
        info.note = Some(format!(
            "{} is damaged: edits in its damaged bytes are lost, so tables no intact edit names were used as state (each key's newest intact entry wins), not as orphans",
            chosen_name.as_deref().unwrap_or("the MANIFEST")
        ));
    }
    let ctx = StateCtx {
        version: version.as_ref(),
        manifest: chosen_name.as_deref(),
        manifest_number: chosen_number,
        manifest_damaged,
        blobs: rocks.as_deref().map(|r| &r.blobs),
    };
    let states: Vec<(FileState, Option<String>)> = members
        .iter()
        .map(|&i| {
            let (s, why) = state(&inputs[i], chosen_input == Some(i), &ctx);
            // A Basho table whose directory is not its MANIFEST level.
            let misplaced = inputs[i].number.and_then(|n| {
                let (level, _) = version.as_ref()?.files.get(&n)?;
                super::dialect_basho::level_mismatch(&inputs[i], *level)
            });
            (s, why.or(misplaced))
        })
        .collect();
    // A Chrome store named by --dialect whose MANIFEST is gone still sorts
    // its tables by idb_cmp1, not bytewise.
    let ordered =
        is_bytewise(info.comparator.as_deref()) && info.dialect.name != "chrome-indexeddb";
    let obfuscation = super::bitcoin::detect(
        inputs,
        &members,
        &states,
        version.as_ref(),
        &mut info.dialect,
        dialect_override.is_some(),
    );
    info.obfuscation = obfuscation.as_ref().map(super::bitcoin::Found::to_report);
    let file_dialects = super::dialect_files::disagreements(inputs, &samples, &mut info.dialect);
    (
        Inventory {
            info,
            version,
            members,
            states,
            ordered,
            obfuscation,
            rocks,
            file_dialects,
        },
        manifests,
    )
}

/// A store of a dialect this version does not read: every file listed,
/// none parsed, nothing called damaged or lost.
fn unsupported(
    members: Vec<usize>,
    dialect: crate::report::Dialect,
    current: Option<String>,
    current_error: Option<String>,
) -> (Inventory, Vec<(usize, FileScan)>) {
    let why = format!(
        "a {} store: not read by this version of ldbsalvage",
        super::rocks::display_name(dialect.name)
    );
    let info = StoreInfo {
        current,
        current_error,
        note: Some(format!(
            "{why} (its tables, logs and MANIFEST are not LevelDB's); nothing in it was \
             read, and nothing is reported damaged or lost"
        )),
        dialect,
        ..Default::default()
    };
    let states = members
        .iter()
        .map(|_| (FileState::Unknown, Some(why.clone())))
        .collect();
    (
        Inventory {
            info,
            version: None,
            members,
            states,
            ordered: true,
            obfuscation: None,
            rocks: None,
            file_dialects: Vec::new(),
        },
        Vec::new(),
    )
}

struct StateCtx<'a> {
    version: Option<&'a VersionState>,
    manifest: Option<&'a str>,
    manifest_number: Option<u64>,
    manifest_damaged: bool,
    /// A RocksDB store's blob files, from its MANIFEST.
    blobs: Option<&'a std::collections::BTreeMap<u64, super::rocks::BlobFileInfo>>,
}

fn state(f: &InputFile, chosen_manifest: bool, ctx: &StateCtx<'_>) -> (FileState, Option<String>) {
    let m = ctx.manifest.unwrap_or("the MANIFEST");
    let unknown = || {
        (
            FileState::Unknown,
            Some("no MANIFEST could be read".to_string()),
        )
    };
    match f.kind {
        FileKind::Table => {
            let (Some(v), Some(n)) = (ctx.version, f.number) else {
                return unknown();
            };
            if v.files.contains_key(&n) {
                (FileState::Live, None)
            } else if v.deleted.contains(&n) {
                (
                    FileState::Deleted,
                    Some(format!(
                        "deleted by an edit in {m} (a compaction replaced it; the file was not yet removed)"
                    )),
                )
            } else if ctx.manifest_number.is_some_and(|mn| n < mn) {
                // A MANIFEST starts with a snapshot of every live table, so
                // an older table it never names was not live when it began.
                (
                    FileState::Obsolete,
                    Some(format!("older than {m}, which does not name it")),
                )
            } else if ctx.manifest_damaged {
                (
                    FileState::Unknown,
                    Some(format!(
                        "named by no intact edit in {m}, which is damaged: a lost edit may \
                         have named it, so it is used as state"
                    )),
                )
            } else {
                (
                    FileState::Orphan,
                    Some(format!(
                        "named by no edit in {m}: the output of an interrupted flush or \
                         compaction; it only fills in keys no live file holds"
                    )),
                )
            }
        }
        FileKind::Log => {
            let Some(min) = ctx.version.and_then(|v| v.log_number) else {
                return unknown();
            };
            let prev = ctx.version.and_then(|v| v.prev_log_number);
            match f.number {
                Some(n) if n < min && Some(n) != prev => (
                    FileState::Obsolete,
                    Some(format!(
                        "already flushed to tables: {m} records log number {min}"
                    )),
                ),
                _ => (FileState::Live, None),
            }
        }
        FileKind::Manifest if chosen_manifest => (FileState::Live, None),
        FileKind::Manifest => (
            FileState::Obsolete,
            Some(match ctx.manifest {
                Some(m) => format!("not the MANIFEST in use ({m} is)"),
                None => "no edit could be read from it".to_string(),
            }),
        ),
        FileKind::Blob => {
            let Some(blobs) = ctx.blobs else {
                return (
                    FileState::Unknown,
                    Some("a blob file in a store that is not RocksDB's: not read".to_string()),
                );
            };
            let (Some(_), Some(n)) = (ctx.version, f.number) else {
                return unknown();
            };
            match blobs.get(&n) {
                Some(b) if b.dropped => (
                    FileState::Deleted,
                    Some(format!(
                        "its column family (id {}) was dropped by an edit in {m}",
                        b.cf
                    )),
                ),
                Some(b) if b.blobs > 0 && b.garbage >= b.blobs => (
                    FileState::Obsolete,
                    Some(format!(
                        "{m} records all {} of its blobs as garbage (overwritten or deleted, \
                         and compacted away)",
                        b.blobs
                    )),
                ),
                Some(_) => (FileState::Live, None),
                None if ctx.manifest_number.is_some_and(|mn| n < mn) => (
                    FileState::Obsolete,
                    Some(format!("older than {m}, which does not name it")),
                ),
                None if ctx.manifest_damaged => (
                    FileState::Unknown,
                    Some(format!(
                        "named by no intact edit in {m}, which is damaged: a lost edit may \
                         have named it"
                    )),
                ),
                None => (
                    FileState::Orphan,
                    Some(format!(
                        "named by no edit in {m}: the output of an interrupted flush or \
                         compaction"
                    )),
                ),
            }
        }
        FileKind::Current => (FileState::Live, None),
        FileKind::Temp => (
            FileState::Obsolete,
            Some("a temporary file LevelDB had not yet renamed".to_string()),
        ),
        _ => (FileState::Unknown, None),
    }
}
