//! The roof for `scan` on tables once decompression is counted: map every
//! table, and on all cores run CRC-32C and decompression (the `snap` decoder
//! `scan` uses) over every data block its index names. Nothing else: no
//! entry parsing, no order check, no report. A table scan must do at least
//! this much work, so the gap between it and `scan` is all that parsing,
//! checking and reporting cost.
//!
//! usage: cargo bench --bench decode_roof -- PATH...
//! (prints `table_bytes seconds decompressed_bytes blocks`)

use ldbsalvage::format::block::Block;
use ldbsalvage::format::compress::DEFAULT_CAP;
use ldbsalvage::format::table::{read_block, read_block_into, BlockHandle, Footer};
use rayon::prelude::*;
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

fn tables(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "ldb" || x == "sst"))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    out
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn main() {
    let paths: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    let t = Instant::now();
    let files: Vec<_> = tables(&paths);
    let maps: Vec<memmap2::Mmap> = files
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
    // Every data block of every table with an intact footer and index, as
    // one list, so that the pool balances blocks rather than files.
    let blocks: Vec<(usize, BlockHandle)> = maps
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, m)| {
            let mut hs = Vec::new();
            if let Ok(f) = Footer::decode(m) {
                if let Ok(index) = read_block(m, f.index, DEFAULT_CAP) {
                    if let Ok(b) = Block::new(&index.data) {
                        let mut it = b.iter();
                        while let Some(Ok((_, v))) = it.next() {
                            if let Some(h) = BlockHandle::decode_exact(v) {
                                hs.push((i, h));
                            }
                        }
                    }
                }
            }
            hs
        })
        .collect();
    let out: u64 = blocks
        .par_iter()
        .map(|&(i, h)| {
            SCRATCH.with(|s| {
                let mut s = s.borrow_mut();
                read_block_into(&maps[i], h, DEFAULT_CAP, &mut s).map_or(0, |d| d.len() as u64)
            })
        })
        .sum();
    let secs = t.elapsed().as_secs_f64();
    let total: u64 = maps.iter().map(|m| m.len() as u64).sum();
    println!("{total} {secs:.6} {out} {}", blocks.len());
}
