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
    let mut total = 0u64;
    let mut sink = 0u32;
    for f in files(&paths) {
        let file = std::fs::File::open(&f).unwrap();
        if file.metadata().unwrap().len() == 0 {
            continue;
        }
        // SAFETY: benchmark input, not modified while it runs.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        total += map.len() as u64;
        sink ^= map
            .par_chunks(32 * 1024)
            .map(crc32c::crc32c)
            .reduce(|| 0, |a, b| a ^ b);
    }
    let secs = t.elapsed().as_secs_f64();
    println!("{total} {secs:.6} {sink:08x}");
}
