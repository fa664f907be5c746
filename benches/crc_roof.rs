//! The roof for `scan`: map every file and run CRC-32C over all of its bytes
//! in 32 KiB pieces on all cores, with the CRC code `scan` uses. Nothing
//! that verifies every byte can be faster than this on the same machine.
//!
//! With `--parse`, a log (`*.log`) is not checksummed piece by piece but
//! parsed as `scan` must to call its records intact (principle 2: checksum
//! verified and decoded): each 32 KiB block's fragments found and their
//! checksums verified, by the same `parse_block_with` `scan` calls, and
//! every record that fits in one fragment walked entry by entry, by the
//! same `batch::validate`. That is the log's parse roof: what is left
//! between it and `scan` is joining the records that span blocks (done
//! here not at all, so the roof stays below any scan), reporting, and the
//! process around them. Other files are checksummed as without it.
//!
//! With `--format` it also writes every entry of those records as the
//! line `salvage --view all` exports (the same `push_line`), into a buffer
//! of its thread emptied for the next block: the log's format roof, what
//! the CPUs must do for an export before anything is written.
//!
//! usage: cargo bench --bench crc_roof -- [--parse | --format] PATH...
//! (prints `bytes seconds checksum`)

mod roof;

use ldbsalvage::format::batch;
use ldbsalvage::format::log::{parse_block_with, LogFlavor, Piece, RecordType, BLOCK_SIZE};
use ldbsalvage::salvage::ndjson::{push_line, Marks};
use ldbsalvage::scan::Entry;
use rayon::prelude::*;
use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    static PIECES: RefCell<Vec<Piece>> = const { RefCell::new(Vec::new()) };
    static LINES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Format every entry of a record as an export line; the bytes formatted.
fn format(payload: &[u8], offset: u64) -> u32 {
    LINES.with(|l| {
        let mut out = l.borrow_mut();
        out.clear();
        let _ = batch::for_each(payload, |b| {
            let e = Entry::of_batch(&b, offset);
            push_line(&mut out, &e, "000000.log", Marks::default(), None);
        });
        out.len() as u32
    })
}

/// Parse one block of a log; the fold of what it found, so that the work
/// cannot be optimised away.
fn parse(block: &[u8], at_eof: bool, format_too: bool) -> u32 {
    PIECES.with(|p| {
        let mut p = p.borrow_mut();
        p.clear();
        parse_block_with(block, at_eof, LogFlavor::LevelDb, &mut p);
        let mut sink = 0u32;
        for piece in p.iter() {
            if let Piece::Fragment {
                rtype,
                payload: (s, e),
                ..
            } = *piece
            {
                sink = sink.wrapping_add(e as u32);
                if rtype == RecordType::Full {
                    if let Ok(h) = batch::validate(&block[s..e]) {
                        sink ^= h.count;
                        if format_too {
                            sink = sink.wrapping_add(format(&block[s..e], s as u64));
                        }
                    }
                }
            }
        }
        sink
    })
}

fn main() {
    let format_too = std::env::args().any(|a| a == "--format");
    let with_parse = format_too || std::env::args().any(|a| a == "--parse");
    let t = Instant::now();
    let files = roof::files(|_| true);
    let maps = roof::map_all(&files);
    let is_log: Vec<bool> = files
        .iter()
        .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
        .map(|f| with_parse && f.extension().is_some_and(|x| x == "log"))
        .collect();
    // Every 32 KiB piece of every file as one list, so that many small
    // files (tables) spread over the cores as well as one large one. A
    // log's pieces are its blocks.
    let pieces: Vec<(&[u8], bool, bool)> = maps
        .iter()
        .zip(&is_log)
        .flat_map(|(m, &log)| {
            let n = m.len().div_ceil(BLOCK_SIZE);
            m.chunks(BLOCK_SIZE)
                .enumerate()
                .map(move |(i, c)| (c, log, i + 1 == n))
        })
        .collect();
    let total: u64 = maps.iter().map(|m| m.len() as u64).sum();
    let sink = pieces
        .par_iter()
        .map(|&(p, log, last)| {
            if log {
                parse(p, last, format_too)
            } else {
                ldbsalvage::format::crc::value(p)
            }
        })
        .reduce(|| 0, |a, b| a ^ b);
    let secs = t.elapsed().as_secs_f64();
    println!("{total} {secs:.6} {sink:08x}");
}
