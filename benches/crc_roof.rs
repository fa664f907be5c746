//! The roof for `scan`: map every file and run CRC-32C over all of its bytes
//! in 32 KiB pieces on all cores. Nothing that verifies every byte can be
//! faster than this on the same machine.
//!
//! usage: cargo bench --bench crc_roof -- PATH...   (prints `bytes seconds`)

mod roof;

use rayon::prelude::*;
use std::time::Instant;

fn main() {
    let t = Instant::now();
    let maps = roof::map_all(&roof::files(|_| true));
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
