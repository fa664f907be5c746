//! Building LevelDB stores in Rust for the integration tests: tables with the
//! project's `TableBuilder`, logs and MANIFESTs with its `LogWriter`, the
//! `CURRENT` file; damaging them the way LevelDB's `corruption_test.cc`
//! does; an independent parser of the table layout (footer, index, data
//! blocks) as ground truth; and running `salvage` / `scan` on the result.
//!
//! Shared by the test modules of `tests/it` (`crate::support`).

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use crate::common::{self, code, describe, parse_ndjson, read_json, Rec};
use ldbsalvage::format::batch::{BatchBuilder, Kind};
use ldbsalvage::format::ikey;
use ldbsalvage::format::manifest::{NewFile, VersionEdit};
use ldbsalvage::format::table_writer::{BuildOptions, TableBuilder};
use ldbsalvage::salvage::log_writer::LogWriter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

pub const BYTEWISE: &str = "leveldb.BytewiseComparator";
pub const LOG_BLOCK: u64 = 32 * 1024;
pub const LOG_HEADER: u64 = 7;

// ---------------------------------------------------------------------------
// LevelDB's test data
// ---------------------------------------------------------------------------

/// LevelDB's `util/random.h` (Park–Miller), so that values are the very
/// bytes `corruption_test.cc` writes.
pub struct Random(u32);

impl Random {
    pub fn new(s: u32) -> Self {
        let seed = s & 0x7fff_ffff;
        Random(if seed == 0 || seed == 0x7fff_ffff {
            1
        } else {
            seed
        })
    }

    pub fn next(&mut self) -> u32 {
        const M: u64 = 0x7fff_ffff;
        let product = u64::from(self.0) * 16807;
        let mut seed = (product >> 31) + (product & M);
        if seed > M {
            seed -= M;
        }
        self.0 = seed as u32;
        self.0
    }

    pub fn uniform(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// `corruption_test.cc`'s `kValueSize`.
pub const VALUE_SIZE: usize = 1000;

/// `CorruptionTest::Key(i)`: the number in 16 decimal digits.
pub fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

/// `CorruptionTest::Value(k)`: `test::RandomString(Random(k), kValueSize)`,
/// printable ASCII.
pub fn value(k: u64) -> Vec<u8> {
    let mut r = Random::new(k as u32);
    (0..VALUE_SIZE)
        .map(|_| b' ' + r.uniform(95) as u8)
        .collect()
}

/// A seeded generator for property tests (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// `CorruptionTest::Corrupt`: flip the top bit of `n` bytes at `offset`
/// (negative: from the end), clamped to the file exactly as the C++ test
/// clamps. Returns the range actually flipped.
pub fn corrupt(bytes: &mut [u8], offset: i64, n: usize) -> std::ops::Range<usize> {
    let size = bytes.len();
    let mut off = if offset < 0 {
        let back = offset.unsigned_abs() as usize;
        size.saturating_sub(back)
    } else {
        offset as usize
    };
    off = off.min(size);
    let n = n.min(size - off);
    for b in &mut bytes[off..off + n] {
        *b ^= 0x80;
    }
    off..off + n
}

// ---------------------------------------------------------------------------
// Writing store files
// ---------------------------------------------------------------------------

/// One write: a table entry or a batch operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ent {
    pub key: Vec<u8>,
    pub seq: u64,
    pub kind: Kind,
    /// Empty for deletes.
    pub value: Vec<u8>,
}

impl Ent {
    pub fn put(key: &[u8], seq: u64, value: &[u8]) -> Ent {
        Ent {
            key: key.to_vec(),
            seq,
            kind: Kind::Put,
            value: value.to_vec(),
        }
    }

    pub fn del(key: &[u8], seq: u64) -> Ent {
        Ent {
            key: key.to_vec(),
            seq,
            kind: Kind::Delete,
            value: Vec::new(),
        }
    }

    pub fn ikey(&self) -> Vec<u8> {
        ikey::encode(&self.key, self.seq, self.kind)
    }
}

/// `Build(n)` from sequence `first_seq`: key(i) = value(i), one write each.
pub fn build(range: std::ops::Range<u64>, first_seq: u64) -> Vec<Ent> {
    range
        .enumerate()
        .map(|(n, i)| Ent::put(&key(i), first_seq + n as u64, &value(i)))
        .collect()
}

/// Sort into table order (internal-key order).
pub fn table_order(mut ents: Vec<Ent>) -> Vec<Ent> {
    ents.sort_by(|a, b| ikey::compare(&a.ikey(), &b.ikey()));
    ents
}

/// A finished table and what its MANIFEST entry needs.
pub struct Table {
    pub bytes: Vec<u8>,
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
}

impl Table {
    pub fn new_file(&self, level: u32, number: u64) -> NewFile {
        NewFile {
            level,
            number,
            file_size: self.bytes.len() as u64,
            smallest: self.smallest.clone(),
            largest: self.largest.clone(),
        }
    }
}

/// A table holding `ents`, which must already be in table order.
pub fn table(ents: &[Ent], opts: BuildOptions) -> Table {
    let mut b = TableBuilder::new(opts);
    for e in ents {
        b.add(&e.ikey(), &e.value).expect("entries in table order");
    }
    let smallest = b.smallest_key().expect("a non-empty table").to_vec();
    let largest = b.largest_key().expect("a non-empty table").to_vec();
    Table {
        bytes: b.finish(),
        smallest,
        largest,
    }
}

/// A table written entry by entry in the order given, without the
/// builder's bytewise-order check: what a store with a custom comparator
/// (Chrome's `idb_cmp1`) holds. Uncompressed blocks, one restart per entry,
/// each block's last key as its index separator, an empty metaindex.
pub fn raw_table(blocks: &[Vec<(Vec<u8>, Vec<u8>)>]) -> Vec<u8> {
    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn block(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        let mut restarts = Vec::new();
        for (k, v) in entries {
            restarts.push(b.len() as u32);
            put_varint(&mut b, 0);
            put_varint(&mut b, k.len() as u64);
            put_varint(&mut b, v.len() as u64);
            b.extend_from_slice(k);
            b.extend_from_slice(v);
        }
        if restarts.is_empty() {
            restarts.push(0);
        }
        for r in &restarts {
            b.extend_from_slice(&r.to_le_bytes());
        }
        b.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        b
    }
    fn write(out: &mut Vec<u8>, raw: &[u8]) -> (u64, u64) {
        let at = out.len() as u64;
        out.extend_from_slice(raw);
        out.push(0);
        let mut typed = raw.to_vec();
        typed.push(0);
        let crc = crc32c::crc32c(&typed);
        let masked = crc.rotate_right(15).wrapping_add(0xa282_ead8);
        out.extend_from_slice(&masked.to_le_bytes());
        (at, raw.len() as u64)
    }
    let mut out = Vec::new();
    let mut index = Vec::new();
    for entries in blocks {
        let (o, s) = write(&mut out, &block(entries));
        let mut h = Vec::new();
        put_varint(&mut h, o);
        put_varint(&mut h, s);
        index.push((entries.last().expect("non-empty block").0.clone(), h));
    }
    let meta = write(&mut out, &block(&[]));
    let idx = write(&mut out, &block(&index));
    let mut footer = Vec::new();
    for v in [meta.0, meta.1, idx.0, idx.1] {
        put_varint(&mut footer, v);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
    out.extend_from_slice(&footer);
    out
}

/// One logical record of a log as written.
#[derive(Debug, Clone)]
pub struct LogRec {
    /// Offset of its first fragment's header.
    pub start: u64,
    /// End of its last fragment.
    pub end: u64,
    /// Sequence of its batch's first entry.
    pub seq: u64,
    pub ents: Vec<Ent>,
}

impl LogRec {
    pub fn contains(&self, off: u64) -> bool {
        self.start <= off && off < self.end
    }
}

/// A write-ahead log under construction.
#[derive(Default)]
pub struct Log {
    pub w: LogWriter,
    pub recs: Vec<LogRec>,
}

impl Log {
    pub fn new() -> Self {
        Self::default()
    }

    /// One batch of `ents`, which must carry consecutive sequence numbers.
    pub fn batch(&mut self, ents: &[Ent]) -> &LogRec {
        let seq = ents.first().map_or(0, |e| e.seq);
        let mut b = BatchBuilder::new(seq);
        for (i, e) in ents.iter().enumerate() {
            assert_eq!(e.seq, seq + i as u64, "a batch's sequences are consecutive");
            match e.kind {
                Kind::Put => b.put(&e.key, &e.value),
                Kind::Delete => b.delete(&e.key),
                k => panic!("a LevelDB batch holds no {}", k.as_str()),
            };
        }
        let len = self.w.as_bytes().len() as u64;
        let left = LOG_BLOCK - len % LOG_BLOCK;
        let start = if left < LOG_HEADER { len + left } else { len };
        self.w.add_record(&b.build());
        self.recs.push(LogRec {
            start,
            end: self.w.as_bytes().len() as u64,
            seq,
            ents: ents.to_vec(),
        });
        self.recs.last().unwrap()
    }

    /// One batch per entry (`Build`'s one write per key).
    pub fn each(mut self, ents: &[Ent]) -> Self {
        for e in ents {
            self.batch(std::slice::from_ref(e));
        }
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.w.as_bytes().to_vec()
    }

    /// The record holding byte `off`.
    pub fn rec_at(&self, off: u64) -> &LogRec {
        self.recs
            .iter()
            .find(|r| r.contains(off))
            .unwrap_or_else(|| panic!("no record holds byte {off}"))
    }
}

/// A MANIFEST: one log record per edit.
pub fn manifest(edits: &[VersionEdit]) -> Vec<u8> {
    let mut w = LogWriter::new();
    for e in edits {
        w.add_record(&e.encode());
    }
    w.into_bytes()
}

/// The first edit LevelDB writes to a new store's MANIFEST.
pub fn base_edit(comparator: &str, log_number: u64, next_file: u64, last_seq: u64) -> VersionEdit {
    VersionEdit {
        comparator: Some(comparator.as_bytes().to_vec()),
        log_number: Some(log_number),
        prev_log_number: Some(0),
        next_file_number: Some(next_file),
        last_sequence: Some(last_seq),
        ..VersionEdit::default()
    }
}

/// A store's files by name, written into a fresh temporary directory.
#[derive(Default, Clone)]
pub struct Files(pub BTreeMap<String, Vec<u8>>);

impl Files {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        self.0.insert(name.into(), bytes);
        self
    }

    pub fn get_mut(&mut self, name: &str) -> &mut Vec<u8> {
        self.0
            .get_mut(name)
            .unwrap_or_else(|| panic!("no file {name}"))
    }

    pub fn get(&self, name: &str) -> &[u8] {
        self.0.get(name).unwrap_or_else(|| panic!("no file {name}"))
    }

    pub fn remove(&mut self, name: &str) {
        assert!(self.0.remove(name).is_some(), "no file {name}");
    }

    pub fn current(&mut self, manifest_name: &str) -> &mut Self {
        self.put("CURRENT", format!("{manifest_name}\n").into_bytes())
    }

    /// Write into `<tmp>/db`; returns the temp dir (keep it) and the path.
    pub fn write(&self) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = tmp.path().join("db");
        fs::create_dir(&db).unwrap();
        for (name, bytes) in &self.0 {
            fs::write(db.join(name), bytes).unwrap();
        }
        (tmp, db)
    }
}

// ---------------------------------------------------------------------------
// An independent reader of the table layout (ground truth for the tests)
// ---------------------------------------------------------------------------

fn varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
    }
    panic!("varint too long");
}

fn fixed32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// A block's (key, value) pairs, prefix compression undone.
fn block_entries(raw: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let n = fixed32(raw, raw.len() - 4) as usize;
    let end = raw.len() - 4 - 4 * n;
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut pos = 0;
    let mut last: Vec<u8> = Vec::new();
    while pos < end {
        let shared = varint(raw, &mut pos) as usize;
        let unshared = varint(raw, &mut pos) as usize;
        let vlen = varint(raw, &mut pos) as usize;
        last.truncate(shared);
        last.extend_from_slice(&raw[pos..pos + unshared]);
        pos += unshared;
        out.push((last.clone(), raw[pos..pos + vlen].to_vec()));
        pos += vlen;
    }
    assert_eq!(pos, end, "block entries end where the restarts begin");
    out
}

/// A verified block's contents, decompressed, and whether it was stored
/// compressed.
fn block_at(file: &[u8], offset: u64, size: u64) -> (Vec<u8>, bool) {
    let (o, s) = (offset as usize, size as usize);
    let stored = &file[o..o + s];
    let kind = file[o + s];
    let mut typed = stored.to_vec();
    typed.push(kind);
    let want = fixed32(file, o + s + 1);
    let crc = crc32c::crc32c(&typed);
    let masked = (crc.rotate_right(15)).wrapping_add(0xa282_ead8);
    assert_eq!(
        want, masked,
        "block CRC at {offset} (ground truth needs a pristine table)"
    );
    match kind {
        0 => (stored.to_vec(), false),
        1 => (
            snap::raw::Decoder::new().decompress_vec(stored).unwrap(),
            true,
        ),
        k => panic!("compression {k}"),
    }
}

/// A data block as laid out in a pristine table.
#[derive(Debug, Clone)]
pub struct BlockInfo {
    pub offset: u64,
    /// Stored size plus the 5-byte trailer.
    pub len: u64,
    /// Its index separator (an internal key).
    pub separator: Vec<u8>,
    /// Its entries: (internal key, value).
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Stored snappy-compressed.
    pub compressed: bool,
}

impl BlockInfo {
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }

    pub fn contains(&self, off: u64) -> bool {
        self.offset <= off && off < self.end()
    }

    pub fn user_keys(&self) -> Vec<Vec<u8>> {
        self.entries
            .iter()
            .map(|(k, _)| ikey::user_key(k).to_vec())
            .collect()
    }
}

/// The layout of a pristine table.
#[derive(Debug, Clone)]
pub struct Layout {
    pub data: Vec<BlockInfo>,
    /// (offset, stored size + trailer)
    pub metaindex: (u64, u64),
    pub index: (u64, u64),
    pub footer: u64,
}

pub fn layout(file: &[u8]) -> Layout {
    let footer = file.len() - 48;
    assert_eq!(
        &file[file.len() - 8..],
        &0xdb47_7524_8b80_fb57u64.to_le_bytes(),
        "table magic"
    );
    let mut pos = footer;
    let mo = varint(file, &mut pos);
    let ms = varint(file, &mut pos);
    let io = varint(file, &mut pos);
    let is = varint(file, &mut pos);
    let index = block_entries(&block_at(file, io, is).0);
    let data = index
        .into_iter()
        .map(|(sep, h)| {
            let mut p = 0;
            let offset = varint(&h, &mut p);
            let size = varint(&h, &mut p);
            let (raw, compressed) = block_at(file, offset, size);
            BlockInfo {
                offset,
                len: size + 5,
                separator: sep,
                entries: block_entries(&raw),
                compressed,
            }
        })
        .collect();
    Layout {
        data,
        metaindex: (mo, ms + 5),
        index: (io, is + 5),
        footer: footer as u64,
    }
}

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// The outputs of one `salvage --out DIR` run.
pub struct Salvaged {
    pub code: i32,
    pub out: PathBuf,
    pub records: Vec<Rec>,
    pub unverified: Vec<Rec>,
    pub report: Value,
    pub stderr: String,
    pub what: String,
}

impl Salvaged {
    /// `files[]` entry of `name` in the report.
    pub fn file(&self, name: &str) -> &Value {
        file_of(&self.report, name)
    }

    pub fn damage(&self, name: &str) -> Vec<Value> {
        self.file(name)["damage"].as_array().unwrap().clone()
    }
}

pub fn file_of<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["files"]
        .as_array()
        .expect("report.files")
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no file {name} in the report: {report:#}"))
}

/// `salvage DB --out <tmp>/<out_name> --quiet` plus `extra`; the output dir
/// lives next to `db` (in the caller's temp dir).
pub fn salvage(db: &Path, out_name: &str, extra: &[&str]) -> Salvaged {
    let out = db.parent().unwrap().join(out_name);
    let mut a: Vec<OsString> = vec![
        "salvage".into(),
        db.into(),
        "--out".into(),
        out.clone().into(),
        "--quiet".into(),
    ];
    a.extend(extra.iter().map(OsString::from));
    let o = common::run(&a);
    let what = describe(&a, &o);
    let code = code(&o);
    let read =
        |name: &str| fs::read(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{what}"));
    let records =
        parse_ndjson(&read("records.jsonl")).unwrap_or_else(|e| panic!("records: {e}\n{what}"));
    let unverified = parse_ndjson(&read("unverified.jsonl"))
        .unwrap_or_else(|e| panic!("unverified: {e}\n{what}"));
    let report = read_json(&out.join("report.json"));
    Salvaged {
        code,
        out,
        records,
        unverified,
        report,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        what,
    }
}

/// `scan DB --report -`: the exit code and the report.
pub fn scan(db: &Path) -> (i32, Value) {
    let a: Vec<OsString> = vec!["scan".into(), db.into(), "--report".into(), "-".into()];
    let o = common::run(&a);
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("scan report is not JSON: {e}\n{}", describe(&a, &o)));
    (code(&o), report)
}

/// Bytes as JSON carries them: `{name}` for UTF-8, `{name}_base64` otherwise.
pub fn json_bytes(o: &Value, name: &str) -> Option<Vec<u8>> {
    if let Some(s) = o.get(name).and_then(Value::as_str) {
        return Some(s.as_bytes().to_vec());
    }
    o.get(format!("{name}_base64"))
        .and_then(Value::as_str)
        .map(|s| ldbsalvage::report::bytes::decode_base64(s).expect("base64"))
}

/// A record's identity for comparisons: (key, seq, kind, value).
pub type Tuple = (Vec<u8>, u64, String, Option<Vec<u8>>);

pub fn tuple_of_rec(r: &Rec) -> Tuple {
    (r.key.clone(), r.seq, r.kind.clone(), r.value.clone())
}

pub fn tuple_of_ent(e: &Ent) -> Tuple {
    let (kind, value) = match e.kind {
        Kind::Delete => ("delete", None),
        k => (k.as_str(), Some(e.value.clone())),
    };
    (e.key.clone(), e.seq, kind.to_string(), value)
}
