//! Basho's eleveldb (Riak) stores: what tells them apart, and where their
//! tables live.
//!
//! eleveldb keeps each table in the directory of its level,
//! `sst_<level>/NNNNNN.sst` (`db/filename.cc` and `db/version_set.cc` of
//! basho/leveldb: `sst_0` … `sst_6` are created at open). Those tables are
//! files of the store in the directory above: they are listed under names
//! that keep their directory (`sst_3/000017.sst`), so two levels' files can
//! never be confused, and their directory is checked against the level the
//! MANIFEST gives them. The dialect is told from that layout and from the
//! MANIFEST's tag 11 (kNewFile2); once it is known, type 2 blocks are read
//! as Basho's LZ4 (see `format::lz4`).

use super::store::{input_file, InputFile};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Basho's `config::kNumLevels`, as LevelDB's.
const LEVELS: u32 = 7;

/// `sst_N` with N a level: the level.
pub fn level_dir_name(name: &OsStr) -> Option<u32> {
    let digits = name.to_str()?.strip_prefix("sst_")?;
    if digits.len() != 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n < LEVELS)
}

/// The files of one level directory, sorted by name, named with their
/// directory. A directory that cannot be listed yields nothing: its live
/// tables are then reported missing by the MANIFEST's account.
pub fn list_level_dir(dir: &Path, _level: u32) -> Vec<InputFile> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ent in rd.flatten() {
        // Links inside the store are listed, never followed.
        let Ok(md) = ent.path().symlink_metadata() else {
            continue;
        };
        if md.is_file() {
            out.push(input_file(ent.path(), md.len()));
        } else {
            let mut f = input_file(ent.path(), 0);
            if f.kind == crate::format::filename::FileKind::Table {
                f.not_regular = Some(super::open::type_name(&md.file_type()));
                out.push(f);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Give a table inside a level directory its level and its store-relative
/// name (`sst_3/000017.sst`).
pub fn place_in_level_dir(f: &mut InputFile) {
    if f.kind != crate::format::filename::FileKind::Table {
        return;
    }
    let Some(level) = f
        .path
        .parent()
        .and_then(Path::file_name)
        .and_then(level_dir_name)
    else {
        return;
    };
    f.level_dir = Some(level);
    f.name = format!("sst_{level}/{}", f.name);
}

/// The store directory a file belongs to: its folder, or the folder above
/// its level directory.
pub fn store_dir(f: &InputFile) -> PathBuf {
    if let Some(s) = &f.store {
        return s.clone();
    }
    let parent = f.path.parent().map(Path::to_path_buf).unwrap_or_default();
    if f.level_dir.is_some() {
        if let Some(up) = parent.parent() {
            return up.to_path_buf();
        }
    }
    parent
}

/// Evidence of a Basho store from its layout, read before the MANIFEST:
/// tables in level directories, and the level directories themselves
/// (eleveldb creates all seven at open, even empty).
pub fn layout_evidence(inputs: &[InputFile], members: &[usize]) -> Vec<String> {
    let mut ev = Vec::new();
    let in_dirs: Vec<&InputFile> = members
        .iter()
        .map(|&i| &inputs[i])
        .filter(|f| f.level_dir.is_some())
        .collect();
    if let Some(first) = in_dirs.first() {
        ev.push(format!(
            "{} table(s) in level directories sst_N/ (e.g. {}), Basho eleveldb's layout",
            in_dirs.len(),
            first.name
        ));
    }
    if let Some(&i) = members.first() {
        let dir = store_dir(&inputs[i]);
        let present: Vec<String> = (0..LEVELS)
            .map(|l| format!("sst_{l}"))
            .filter(|d| dir.join(d).symlink_metadata().is_ok_and(|m| m.is_dir()))
            .collect();
        if !present.is_empty() && in_dirs.is_empty() {
            ev.push(format!(
                "level directories {} present, which eleveldb creates at open",
                present.join(", ")
            ));
        }
    }
    ev
}

/// Evidence from the MANIFEST: new files recorded with tag 11.
pub fn manifest_evidence(v: &crate::format::manifest::VersionState) -> Option<String> {
    (v.new_files2 > 0).then(|| {
        format!(
            "the MANIFEST records {} new file(s) with tag 11 (kNewFile2), which only Basho's \
             eleveldb writes",
            v.new_files2
        )
    })
}

/// The name the store uses for a table of `number` at `level`.
pub fn table_name(number: u64, level: u32) -> String {
    format!("sst_{level}/{number:06}.sst")
}

/// Why a live table's directory disagrees with its MANIFEST level, if it
/// does.
pub fn level_mismatch(f: &InputFile, manifest_level: u32) -> Option<String> {
    let dir = f.level_dir?;
    (dir != manifest_level).then(|| {
        format!(
            "live at level {manifest_level} by the MANIFEST, but stored in sst_{dir}/: \
             eleveldb would look for it in sst_{manifest_level}/"
        )
    })
}

/// The codecs of a table read on its own (`inspect`): Basho's when it sits
/// in a level directory, which only eleveldb makes.
pub fn codecs_for_table(path: &Path) -> crate::format::compress::Codecs {
    crate::format::compress::Codecs {
        basho_lz4: path
            .parent()
            .and_then(Path::file_name)
            .and_then(level_dir_name)
            .is_some(),
    }
}
