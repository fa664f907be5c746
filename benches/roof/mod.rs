//! What the roof programs share: the paths on their command line, as files,
//! mapped.

use std::path::PathBuf;

/// The files named on the command line (a directory stands for the regular
/// files in it whose name `keep` accepts), in name order.
pub fn files(keep: impl Fn(&PathBuf) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in std::env::args().skip(1).filter(|a| !a.starts_with("--")) {
        let p = PathBuf::from(p);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file() && keep(p))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p);
        }
    }
    out
}

/// Every non-empty file mapped whole.
pub fn map_all(files: &[PathBuf]) -> Vec<memmap2::Mmap> {
    files
        .iter()
        .filter_map(|f| {
            let file = std::fs::File::open(f).unwrap();
            if file.metadata().unwrap().len() == 0 {
                return None;
            }
            // SAFETY: benchmark input, not modified while it runs.
            Some(unsafe { memmap2::Mmap::map(&file) }.unwrap())
        })
        .collect()
}
