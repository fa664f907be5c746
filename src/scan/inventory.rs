//! The store's own account of itself: `CURRENT` names a MANIFEST, whose
//! VersionEdits say which tables are live and which logs are already
//! flushed. Every file is then live, orphan, obsolete or unknown. All of it
//! works without `CURRENT` or a readable MANIFEST: the newest MANIFEST that
//! decodes at all is used, else nothing is named.

use super::logfile::RecordSink;
use super::store::{FileScan, InputFile};
use crate::format::filename::FileKind;
use crate::format::ikey;
use crate::format::manifest::{NewFile, VersionEdit, VersionState};
use crate::report::{KeyRange, MissingTable, StoreInfo};
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

pub struct Inventory {
    pub info: StoreInfo,
    pub version: Option<VersionState>,
}

fn read_current(inputs: &[InputFile]) -> (Option<String>, Option<String>) {
    let Some(c) = inputs.iter().find(|f| f.kind == FileKind::Current) else {
        return (None, Some("no CURRENT file".to_string()));
    };
    // CURRENT is one short line; anything large is not a CURRENT file.
    if c.size > 4096 {
        return (None, Some(format!("CURRENT is {} bytes long", c.size)));
    }
    match read_small(&c.path) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b);
            let name = s.trim_end_matches('\n');
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

fn read_small(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let (file, _) = super::open::open_store_file(path)?;
    let mut b = Vec::new();
    file.take(4097).read_to_end(&mut b)?;
    Ok(b)
}

/// The comparator the store names, read before anything else is scanned:
/// tables are checked for order only when it is LevelDB's bytewise one.
/// From the MANIFEST `CURRENT` names, else the newest one; `None` when none
/// decodes far enough to say.
pub fn peek_comparator(inputs: &[InputFile]) -> Option<String> {
    let (current, _) = read_current(inputs);
    let mut manifests: Vec<&InputFile> = inputs
        .iter()
        .filter(|f| f.kind == FileKind::Manifest)
        .collect();
    manifests.sort_by_key(|f| (current.as_deref() == Some(f.name.as_str()), f.number));
    for m in manifests.into_iter().rev() {
        let Ok((file, _)) = super::open::open_store_file(&m.path) else {
            continue;
        };
        let mut edits = EditSink::default();
        super::logfile::scan(&file, m.size, &mut edits, &|_| {});
        if let Some(c) = edits.state.comparator {
            return Some(String::from_utf8_lossy(&c).into_owned());
        }
    }
    None
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

/// Take the store's account from the scanned MANIFESTs and assign each file
/// its state.
pub fn build(inputs: &[InputFile], scans: &mut [FileScan]) -> Inventory {
    let (current, current_error) = read_current(inputs);
    let mut info = StoreInfo {
        current: current.clone(),
        current_error,
        ..Default::default()
    };
    // The MANIFEST CURRENT names, else the newest one that yielded an edit.
    let named = current
        .as_ref()
        .and_then(|c| inputs.iter().position(|f| &f.name == c))
        .filter(|&i| scans[i].manifest.as_ref().is_some_and(|v| v.edits > 0));
    let chosen = named.or_else(|| {
        (0..inputs.len())
            .filter(|&i| scans[i].manifest.as_ref().is_some_and(|v| v.edits > 0))
            .max_by_key(|&i| inputs[i].number)
    });
    let version = chosen.and_then(|i| scans[i].manifest.clone());
    if let (Some(i), Some(v)) = (chosen, &version) {
        info.manifest = Some(inputs[i].name.clone());
        info.comparator = v
            .comparator
            .as_ref()
            .map(|c| String::from_utf8_lossy(c).into_owned());
        info.custom_comparator = info.comparator.as_deref().is_some_and(|c| c != BYTEWISE);
        info.log_number = v.log_number;
        info.prev_log_number = v.prev_log_number;
        info.next_file_number = v.next_file;
        info.last_sequence = v.last_sequence;
        info.live_tables = v.files.len();
        for (&number, (level, nf)) in &v.files {
            let present = inputs
                .iter()
                .any(|f| f.kind == FileKind::Table && f.number == Some(number));
            if !present {
                info.missing_tables.push(MissingTable {
                    number,
                    level: *level,
                    size: nf.file_size,
                    key_range: user_key_range(nf),
                });
            }
        }
    }
    for (i, f) in inputs.iter().enumerate() {
        scans[i].report.state = Some(state(f, chosen == Some(i), version.as_ref()));
    }
    Inventory { info, version }
}

fn state(f: &InputFile, chosen_manifest: bool, v: Option<&VersionState>) -> FileState {
    match f.kind {
        FileKind::Table => match (v, f.number) {
            (Some(v), Some(n)) if v.files.contains_key(&n) => FileState::Live,
            _ => FileState::Orphan,
        },
        FileKind::Log => match (v.and_then(|v| v.log_number), f.number) {
            (Some(min), Some(n)) if n < min && Some(n) != v.and_then(|v| v.prev_log_number) => {
                FileState::Obsolete
            }
            _ => FileState::Live,
        },
        FileKind::Manifest if chosen_manifest => FileState::Live,
        FileKind::Manifest => FileState::Obsolete,
        FileKind::Current => FileState::Live,
        FileKind::Temp => FileState::Obsolete,
        _ => FileState::Unknown,
    }
}
