//! The roof for `scan` on tables once decompression is counted: map every
//! table, and on all cores run CRC-32C and decompression (the `snap` decoder
//! `scan` uses) over every data block its index names. Nothing else: no
//! entry parsing, no order check, no report. A table scan must do at least
//! this much work, so the gap between it and `scan` is all that parsing,
//! checking and reporting cost.
//!
//! With `--parse` it also walks every entry of every block as `scan` must
//! to call the block decoded (principle 2: intact means its bytes decoded):
//! the entry's varints, its key rebuilt from the shared prefix, its
//! internal-key trailer and the key order, by the same
//! `check_data_block` `scan` calls, and nothing else. That is the parse
//! roof: what is left between it and `scan` is reading the files (not
//! mapping them), reporting, and the process around them.
//!
//! With `--format` it also writes every entry of every block as the line
//! `salvage --view all` exports (the same `push_line`), into a buffer of
//! its thread that is emptied for the next block: the format roof, what
//! the CPUs must do for an export before anything is written. Nothing
//! else: no file order, no writer, no page cache.
//!
//! usage: cargo bench --bench decode_roof -- [--parse | --format] PATH...
//! (prints `table_bytes seconds decompressed_bytes blocks`)

mod roof;

use ldbsalvage::format::block::Block;
use ldbsalvage::format::compress::DEFAULT_CAP;
use ldbsalvage::format::ikey;
use ldbsalvage::format::table::check_data_block;
use ldbsalvage::format::table::{read_block, read_block_into, BlockHandle, Footer};
use ldbsalvage::salvage::ndjson::{push_line, Marks};
use ldbsalvage::scan::Entry;
use rayon::prelude::*;
use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static LINES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Format every entry of a decoded block as an export line; the bytes
/// formatted.
fn format(data: &[u8], offset: u64) -> u64 {
    let Ok(block) = Block::new(data) else {
        return 0;
    };
    LINES.with(|l| {
        let mut out = l.borrow_mut();
        out.clear();
        let mut it = block.iter();
        while let Some(Ok((k, v))) = it.next() {
            if let Some(p) = ikey::parse(k) {
                let e = Entry {
                    seq: p.seq,
                    kind: p.kind,
                    key: p.user_key,
                    value: v,
                    offset,
                    expiry: p.expiry,
                    cf: None,
                };
                push_line(&mut out, &e, "000000.ldb", Marks::default(), None);
            }
        }
        out.len() as u64
    })
}

fn main() {
    let format_too = std::env::args().any(|a| a == "--format");
    let parse = format_too || std::env::args().any(|a| a == "--parse");
    let t = Instant::now();
    let maps = roof::map_all(&roof::files(|p| {
        p.extension().is_some_and(|x| x == "ldb" || x == "sst")
    }));
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
                match read_block_into(&maps[i], h, DEFAULT_CAP, &mut s) {
                    // A block that does not parse counts for nothing, so
                    // the walk cannot be optimised away.
                    Ok(d) if parse => match check_data_block(d) {
                        Ok(c) if format_too => c.entries + format(d, h.offset),
                        Ok(c) => c.entries + d.len() as u64,
                        Err(_) => 0,
                    },
                    Ok(d) => d.len() as u64,
                    Err(_) => 0,
                }
            })
        })
        .sum();
    let secs = t.elapsed().as_secs_f64();
    let total: u64 = maps.iter().map(|m| m.len() as u64).sum();
    println!("{total} {secs:.6} {out} {}", blocks.len());
}
