//! `rusty_writer write DIR`: a store written by rusty-leveldb with its
//! defaults plus snappy compression (which rusty-leveldb applies to every
//! block, even one it makes larger), in two sessions: 200 keys flushed to
//! a table by `compact_range`, then 30 batches of overwrites, deletes and
//! new keys left in the log (rusty-leveldb reuses the log on reopen).
//! `rusty_writer dump DIR`: open with paranoid checks and print every key
//! and value, as one JSON object of hex strings, in iteration order.

use rusty_leveldb::{compressor, CompressorId, LdbIterator, Options, WriteBatch, DB};
use std::fmt::Write as _;

/// A small deterministic generator, so that re-running writes the same bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"];

fn value(rng: &mut Rng, i: u64, round: u64) -> Vec<u8> {
    let n = 10 + rng.below(70) as usize;
    if i < 100 {
        // Random bytes: snappy makes these blocks larger.
        (0..n).map(|_| rng.next() as u8).collect()
    } else {
        let mut s = format!("r{round} ");
        while s.len() < n {
            s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            s.push(' ');
        }
        s.into_bytes()
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key:{i:05}").into_bytes()
}

fn options() -> Options {
    let mut o = Options::default();
    o.compressor = compressor::SnappyCompressor::ID;
    o
}

fn write(dir: &str) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut db = DB::open(dir, options()).expect("open");
    for b in 0..20 {
        let mut wb = WriteBatch::default();
        for i in b * 10..b * 10 + 10 {
            wb.put(&key(i), &value(&mut rng, i, 0));
        }
        db.write(wb, false).expect("write");
    }
    db.compact_range(b"", b"\xff").expect("compact");
    db.close().expect("close");
    drop(db);
    let mut db = DB::open(dir, options()).expect("reopen");
    let mut next = 200;
    for round in 1..=30 {
        let mut wb = WriteBatch::default();
        for _ in 0..3 {
            let i = rng.below(next);
            wb.put(&key(i), &value(&mut rng, i, round));
        }
        wb.delete(&key(rng.below(next)));
        wb.put(&key(next), &value(&mut rng, next, round));
        next += 1;
        db.write(wb, false).expect("write");
    }
    db.close().expect("close");
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn dump(dir: &str) {
    let mut o = options();
    o.create_if_missing = false;
    o.paranoid_checks = true;
    let mut db = DB::open(dir, o).expect("open with paranoid checks");
    let mut it = db.new_iter().expect("iterator");
    let mut out = String::from("{");
    let mut first = true;
    while it.advance() {
        let (k, v) = it.current().expect("current");
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "\"{}\":\"{}\"", hex(&k), hex(&v));
    }
    out.push('}');
    println!("{out}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("write"), Some(d)) => write(d),
        (Some("dump"), Some(d)) => dump(d),
        _ => {
            eprintln!("usage: rusty_writer write|dump DIR");
            std::process::exit(2);
        }
    }
}
