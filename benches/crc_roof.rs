//! The roof for `scan`: map every file and run CRC-32C over all of its bytes
//! in 32 KiB pieces on all cores. Nothing that verifies every byte can be
//! faster than this on the same machine.
//!
//! usage: cargo bench --bench crc_roof -- PATH...   (prints `bytes seconds`)

use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

fn files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn main() {
    let paths: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    let t = Instant::now();
    let maps: Vec<memmap2::Mmap> = files(&paths)
        .iter()
        .filter_map(|f| {
            let file = std::fs::File::open(f).unwrap();
            if file.metadata().unwrap().len() == 0 {
                return None;
            }
            // SAFETY: benchmark input, not modified while it runs.
            Some(unsafe { memmap2::Mmap::map(&file) }.unwrap())
        })
        .collect();
    // Every 32 KiB piece of every file as one list, so that many small
    // files (tables) spread over the cores as well as one large one.
    let pieces: Vec<&[u8]> = maps.iter().flat_map(|m| m.chunks(32 * 1024)).collect();
    let total: u64 = maps.iter().map(|m| m.len() as u64).sum();
    let sink = pieces
        .par_iter()
        .map(|p| crc32c::crc32c(p))
        .reduce(|| 0, |a, b| a ^ b);
    let secs = t.elapsed().as_secs_f64();
    println!("{total} {secs:.6} {sink:08x}");
}
