//! What each fuzz target does with one input.
//!
//! Shared by the libFuzzer targets (`fuzz/fuzz_targets/*.rs`, through the
//! fuzz crate's library) and by the stable regression test
//! (`tests/regress.rs` includes this file with `#[path]`), so a crasher kept
//! under `testdata/regress/<target>/` replays exactly the code that found it.
//!
//! Besides "no panic, no hang, no runaway allocation", each target asserts
//! cheap invariants: every reported damage range lies within its file, ranges
//! are sorted and do not overlap, parsed pieces stay inside their block,
//! counts agree with what the sink received.

use ldbsalvage::format::batch::{self, Kind};
use ldbsalvage::format::block::Block;
use ldbsalvage::format::log::{self, Piece};
use ldbsalvage::format::manifest::{VersionEdit, VersionState};
use ldbsalvage::format::table::{self as ftable, BlockHandle, Footer};
use ldbsalvage::format::{compress, crc};
use ldbsalvage::progress::Silent;
use ldbsalvage::report::Damage;
use ldbsalvage::salvage::export::{self, OutDest, SalvageOptions, View};
use ldbsalvage::scan::inventory::EditSink;
use ldbsalvage::scan::logfile::{self, LogOutcome};
use ldbsalvage::scan::table::{self as stable, TableOptions, TableScan};
use ldbsalvage::scan::{self, store, Collect, CountOnly, Discard};
use std::path::Path;

/// A target's entry point: one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/*.rs` file and of its
/// `testdata/regress/` directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("log_block", log_block),
    ("write_batch", write_batch),
    ("block", block),
    ("table", table),
    ("table_footer", table_footer),
    ("manifest", manifest),
    ("dir_scan", dir_scan),
    ("rocksdb", rocksdb),
];

/// Run the target called `name` on `data`; panics on an unknown name.
pub fn run(name: &str, data: &[u8]) {
    let (_, f) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target called {name:?}"));
    f(data)
}

// ---------------------------------------------------------------------------
// Invariants.

/// Damage ranges lie within a file of `len` bytes, sorted, not overlapping.
pub fn check_damage(what: &str, damage: &[Damage], len: u64) {
    let mut prev_end = 0u64;
    for d in damage {
        let end = d.offset.checked_add(d.length);
        assert!(
            end.is_some_and(|e| e <= len),
            "{what}: damage at {} of {} bytes lies outside the file ({len} bytes): {damage:?}",
            d.offset,
            d.length
        );
        assert!(
            d.offset >= prev_end,
            "{what}: damage ranges out of order or overlapping: {damage:?}"
        );
        prev_end = d.end();
    }
}

fn check_entries(what: &str, sink: &Collect, len: u64) {
    for e in sink
        .intact
        .iter()
        .chain(sink.unverified.iter().map(|(e, _)| e))
    {
        assert!(
            e.offset < len,
            "{what}: entry at offset {} outside the file ({len} bytes)",
            e.offset
        );
        assert!(
            e.kind == Kind::Put || e.value.is_empty(),
            "{what}: a delete with a value"
        );
    }
}

fn check_log_outcome(what: &str, o: &LogOutcome, len: u64) {
    check_damage(what, &o.damage, len);
    assert_eq!(o.bytes_read, len, "{what}: not every byte was read");
    assert!(o.io_error.is_none(), "{what}: I/O error in memory");
    assert_eq!(
        o.records.damaged(),
        o.damage.len() as u64,
        "{what}: damaged records and damaged ranges disagree"
    );
}

/// Pieces of one parsed log block: in order, back to back from offset 0,
/// inside the block, the last one reaching its end (or fewer than a header's
/// worth of zero padding before it).
fn check_pieces(block: &[u8], pieces: &[Piece]) {
    let len = block.len();
    let mut at = 0usize;
    for (i, p) in pieces.iter().enumerate() {
        match *p {
            Piece::Fragment {
                start,
                payload: (ps, pe),
                ..
            } => {
                assert_eq!(start, at, "piece {i} does not start where {pieces:?}");
                assert!(ps == start + log::HEADER_SIZE && ps <= pe && pe <= len);
                at = pe;
            }
            Piece::Bad {
                start,
                end,
                suspect,
                zero_tail,
                ..
            } => {
                assert_eq!(start, at, "piece {i} does not start where {pieces:?}");
                assert!(start < end && end <= len, "bad piece {i}: {pieces:?}");
                if let Some((_, ps, pe)) = suspect {
                    assert!(ps <= pe && pe <= len, "suspect outside block: {pieces:?}");
                }
                if let Some(z) = zero_tail {
                    assert!(end == len && start <= z && z < end, "zero tail: {pieces:?}");
                    assert!(block[z..end].iter().all(|&b| b == 0), "zero tail not zero");
                }
                at = end;
            }
            Piece::Special { .. } | Piece::Recycled { .. } => {
                panic!("a LevelDB block yielded a RocksDB piece: {pieces:?}")
            }
            Piece::Zeros { start } => {
                assert_eq!(start, at, "piece {i} does not start where {pieces:?}");
                assert_eq!(i, pieces.len() - 1, "zeros before the end: {pieces:?}");
                assert!(block[start..].iter().all(|&b| b == 0), "zeros not zero");
                at = len;
            }
        }
    }
    assert!(
        at == len || (len - at < log::HEADER_SIZE && block[at..].iter().all(|&b| b == 0)),
        "block bytes from {at} to {len} are unaccounted for: {pieces:?}"
    );
}

fn check_table(what: &str, t: &TableScan, sink: &Collect, len: u64) {
    check_damage(what, &t.damage, len);
    check_entries(what, sink, len);
    assert_eq!(
        t.entries,
        sink.intact.len() as u64,
        "{what}: entry count and entries delivered disagree"
    );
    if let (Some(a), Some(b)) = (t.min_seq, t.max_seq) {
        assert!(a <= b, "{what}: min_seq above max_seq");
    }
}

// ---------------------------------------------------------------------------
// Targets.

/// The RocksDB readers on the input: its first block as a WAL block of
/// log 7 (recyclable records), the whole input as that WAL, as a write
/// batch, as a VersionEdit, and as a table (the walk, then the scan with
/// the damage and count invariants).
pub fn rocksdb(data: &[u8]) {
    use ldbsalvage::format::{rocks_batch, rocks_manifest::RocksEdit, rocks_table};
    let len = data.len() as u64;
    let block = &data[..data.len().min(log::BLOCK_SIZE)];
    let mut pieces = Vec::new();
    log::parse_block_with(block, true, log::LogFlavor::rocksdb(7), &mut pieces);
    for p in &pieces {
        if let Piece::Fragment {
            payload: (ps, pe), ..
        } = *p
        {
            assert!(ps <= pe && pe <= block.len(), "fragment outside its block");
        }
    }
    let ctx = scan::rocks::RocksCtx::default();
    let mut sink = Collect::default();
    let s = scan::log::scan_rocks(&logfile::Mem(data), len, &mut sink, &ctx, 7, &|_| {});
    check_damage("rocks log", &s.outcome.damage, len);
    assert_eq!(
        s.entries,
        sink.intact.len() as u64,
        "rocks log: intact count"
    );
    let mut n = 0u64;
    let r = rocks_batch::for_each(data, |_| n += 1);
    if let Ok(h) = r {
        assert_eq!(u64::from(h.count), n, "count of a valid RocksDB batch");
    }
    let _ = RocksEdit::decode(data);
    let _ = rocks_table::walk::walk(data, 1 << 20);
    let mut sink = Collect::default();
    let t = scan::rocks_table::scan(data, &mut sink, &ctx, Some(9));
    check_damage("rocks table", &t.damage, len);
    assert_eq!(
        t.entries,
        sink.intact.len() as u64,
        "rocks table: entry count"
    );
}

/// `format::log::parse_block` on the input's first block (both `at_eof`
/// values), then `scan::log::scan_bytes` on the whole input.
pub fn log_block(data: &[u8]) {
    let block = &data[..data.len().min(log::BLOCK_SIZE)];
    for at_eof in [false, true] {
        let mut pieces = Vec::new();
        log::parse_block(block, at_eof, &mut pieces);
        check_pieces(block, &pieces);
    }
    let len = data.len() as u64;
    let mut sink = Collect::default();
    let s = scan::log::scan_bytes(data, &mut sink);
    check_log_outcome("log", &s.outcome, len);
    check_entries("log", &sink, len);
    assert_eq!(s.entries, sink.intact.len() as u64, "log: intact count");
    assert_eq!(
        s.unverified,
        sink.unverified.len() as u64,
        "log: unverified count"
    );
    assert_eq!(s.lost.len(), s.lost_reasons.len());
}

/// `format::batch::for_each` and `validate` on the input as a payload.
pub fn write_batch(data: &[u8]) {
    let header = batch::header(data);
    let mut n = 0u64;
    let r = batch::for_each(data, |e| {
        let h = header.expect("an entry without a header");
        assert_eq!(e.seq, h.sequence + n, "entry sequence");
        assert!(e.kind == Kind::Put || e.value.is_empty());
        n += 1;
    });
    assert_eq!(r, batch::validate(data), "for_each and validate disagree");
    if let Ok(h) = r {
        assert_eq!(u64::from(h.count), n, "count of a valid batch");
        assert_eq!(Ok(h), header);
    }
}

/// `format::block::Block` (every entry), `format::table::check_data_block`
/// and the other block-level readers on the input; then the same on the
/// input's tail decompressed with its first byte as the compression type.
pub fn block(data: &[u8]) {
    block_contents(data);
    if let Some((&kind, rest)) = data.split_first() {
        if let Ok(d) = compress::decompress(kind, rest, 1 << 20) {
            block_contents(&d);
        }
    }
}

fn block_contents(data: &[u8]) {
    if let Ok(b) = Block::new(data) {
        let _ = b.restarts().count();
        let mut it = b.iter();
        let mut n = 0usize;
        while let Some(r) = it.next() {
            if let Ok((_, v)) = r {
                let (vs, ds) = (v.as_ptr() as usize, data.as_ptr() as usize);
                assert!(vs >= ds && vs + v.len() <= ds + data.len(), "value outside");
            }
            n += 1;
            // Every entry takes at least three header bytes.
            assert!(n <= data.len() / 3 + 1, "more entries than bytes");
        }
        assert!(it.next().is_none(), "iterator resumed after its end");
    }
    if let Ok(s) = ftable::check_data_block(data) {
        assert!(s.entries == 0 || s.min_seq <= s.max_seq);
    }
    let _ = ftable::parse_metaindex(data);
    let _ = ftable::is_filter_block(data);
}

/// `scan::table::scan_table` on the input as a whole file (mostly without a
/// valid footer: discovery), then again with a small discovery window and
/// decompression cap, so the search budgets run out on small inputs too.
pub fn table(data: &[u8]) {
    let len = data.len() as u64;
    let mut sink = Collect::default();
    let t = stable::scan_table(data, &mut sink);
    check_table("table", &t, &sink, len);
    // A scan that wants no entries (as `scan` runs: blocks checked in a
    // per-thread buffer) must find exactly the same.
    let mut counting = CountOnly::default();
    let c = stable::scan_table(data, &mut counting);
    assert_eq!(c, t, "table: a counting scan differs from a collecting one");
    // Asking for the layout (as `inspect` does) changes nothing found, and
    // the units it lists lie in the file, in order.
    let mut observed = CountOnly::default();
    let (o, layout) = stable::scan_table_layout(data, &mut observed, &TableOptions::default());
    assert_eq!(o, t, "table: a scan publishing its layout differs");
    for w in layout.windows(2) {
        assert!(w[0].offset <= w[1].offset, "table: layout out of order");
    }
    for u in &layout {
        assert!(
            u.offset.checked_add(u.length).is_some_and(|e| e <= len),
            "table: layout unit past the end of the file: {u:?}"
        );
    }
    assert_eq!(
        counting.unverified,
        sink.unverified.len() as u64,
        "table: unverified entries counted differ from those delivered"
    );
    let small = TableOptions {
        cap: 4096,
        window: 256,
        ordered: true,
        codecs: Default::default(),
    };
    // The same bytes read as a store with its own comparator (no order check).
    let mut sink = Collect::default();
    let unordered = TableOptions {
        ordered: false,
        ..TableOptions::default()
    };
    let t = stable::scan_table_with(data, &mut sink, &unordered);
    check_table("table (unordered)", &t, &sink, len);
    let mut sink = Collect::default();
    let t = stable::scan_table_with(data, &mut sink, &small);
    check_table("table (small window)", &t, &sink, len);
}

/// Bytes before the table in a `table_footer` input: flags, index size,
/// metaindex size.
pub const FOOTER_CTL: usize = 9;

/// Build a table file from a `table_footer` input: its bytes after the first
/// [`FOOTER_CTL`] are the file's blocks, and a structurally valid footer is
/// appended whose index handle names the last `index size` bytes before it
/// (less a trailer) and whose metaindex handle names the block just before
/// that. Flag bits: 1 rewrites the index block's trailer checksum to match,
/// 2 the metaindex's, 4 puts non-zero bytes in the footer's padding.
pub fn table_with_footer(data: &[u8]) -> Vec<u8> {
    let word = |at: usize| {
        let mut b = [0u8; 4];
        for (i, x) in b.iter_mut().enumerate() {
            *x = data.get(at + i).copied().unwrap_or(0);
        }
        u64::from(u32::from_le_bytes(b))
    };
    let flags = data.first().copied().unwrap_or(0);
    let mut file = data.get(FOOTER_CTL..).unwrap_or(&[]).to_vec();
    let body = file.len() as u64;
    let t = ftable::TRAILER_SIZE as u64;
    let room = body.saturating_sub(t);
    let index_size = word(1) % (room + 1);
    let index = BlockHandle {
        offset: room - index_size,
        size: index_size,
    };
    let room = index.offset.saturating_sub(t);
    let meta_size = word(5) % (room + 1);
    let metaindex = BlockHandle {
        offset: room - meta_size,
        size: meta_size,
    };
    for (bit, h) in [(1, index), (2, metaindex)] {
        let (Some(end), true) = (h.end(), flags & bit != 0) else {
            continue;
        };
        if end > body {
            continue;
        }
        let (a, e) = (h.offset as usize, (h.offset + h.size) as usize);
        let c = crc::mask(crc::extend(crc::value(&file[a..e]), &[file[e]]));
        file[e + 1..e + 5].copy_from_slice(&c.to_le_bytes());
    }
    let mut footer = Footer {
        metaindex,
        index,
        padding_clean: true,
    }
    .encode();
    if flags & 4 != 0 {
        footer[39] = 0x5a;
    }
    file.extend_from_slice(&footer);
    file
}

/// `scan::table::scan_table` on the input with a valid footer appended (see
/// [`table_with_footer`]): the index path.
pub fn table_footer(data: &[u8]) {
    let file = table_with_footer(data);
    let mut sink = Collect::default();
    let t = stable::scan_table(&file, &mut sink);
    check_table("table_footer", &t, &sink, file.len() as u64);
}

/// `format::manifest::VersionEdit::decode` on the input as one record (a
/// decoded edit must re-encode to an equal edit), then the input as a whole
/// MANIFEST through the log-format scan with the inventory's `EditSink`.
pub fn manifest(data: &[u8]) {
    if let Ok(e) = VersionEdit::decode(data) {
        let again = VersionEdit::decode(&e.encode()).expect("a re-encoded edit decodes");
        assert_eq!(e, again, "edit changed through encode/decode");
        let mut v = VersionState::new();
        v.apply(&e);
        v.apply(&e);
    }
    let mut edits = EditSink::default();
    let o = logfile::scan(&logfile::Mem(data), data.len() as u64, &mut edits, &|_| {});
    check_log_outcome("manifest", &o, data.len() as u64);
    assert_eq!(edits.state.edits as u64, o.records.intact);
}

/// Separates the files of a `dir_scan` input.
pub const SPLIT: &[u8] = b"\xffSPLIT\xff";
/// The files a `dir_scan` input is cut into, in order.
pub const DIR_NAMES: &[&str] = &[
    "000003.log",
    "000005.ldb",
    "MANIFEST-000002",
    "CURRENT",
    "000004.log",
    "000007.ldb",
];

/// Cut `data` at each [`SPLIT`], into at most `n` parts (the last one keeps
/// any further separators).
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() + 1 < n {
        match rest.windows(SPLIT.len()).position(|w| w == SPLIT) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + SPLIT.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

/// A small store directory built from the input: the first byte holds flags
/// (1: `--view all`, 2: `--rebuild`), the rest is cut at [`SPLIT`] into the
/// files of [`DIR_NAMES`]. Runs the store scan (`list_inputs`, `scan_file`
/// for each, then the whole `scan` pipeline) and a whole salvage into a fresh directory; a
/// rebuilt store must itself scan clean.
pub fn dir_scan(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).expect("db dir");
    for (name, part) in DIR_NAMES.iter().zip(split(rest, DIR_NAMES.len())) {
        std::fs::write(db.join(name), part).expect("writing the store");
    }
    let inputs = store::list_inputs(std::slice::from_ref(&db)).expect("listing the store");
    let scans: Vec<_> = inputs
        .iter()
        .map(|f| store::scan_file(f, &mut Discard, &Silent))
        .collect();
    for (f, s) in inputs.iter().zip(&scans) {
        check_damage(&f.name, &s.report.damage, f.size);
    }
    // The whole store pipeline, as `scan` runs it.
    let r = store::scan_store(&inputs, std::slice::from_ref(&db), &Silent);
    serde_json::to_vec(&r).expect("scan report to JSON");

    let out = tmp.path().join("out");
    export::prepare_out_dir(&out, &db).expect("preparing the output");
    let view = if flags & 1 != 0 {
        View::All
    } else {
        View::Latest
    };
    let opts = SalvageOptions {
        path: db.clone(),
        out: OutDest::Dir(out.clone()),
        view,
        report: None,
        rebuild: flags & 2 != 0,
        dialect: None,
        deobfuscate: false,
        order: Default::default(),
    };
    let s = export::salvage(&inputs, &opts, &Silent).expect("salvage");
    serde_json::to_vec(&s.report).expect("report to JSON");
    for f in &s.report.files {
        check_damage(&f.name, &f.damage, f.size);
    }
    let counts = s.report.salvage.as_ref().expect("salvage counts");
    if view == View::All {
        assert_eq!(
            counts.records, s.report.summary.entries,
            "--view all exports every intact entry once"
        );
    }
    if counts.rebuilt.is_some() {
        rebuilt_is_clean(&out.join("db"));
    }
    // The latest view is merged in key ranges side by side unless the store
    // is rebuilt too; the one-piece merge of --rebuild must write the same.
    if view == View::Latest {
        let other = tmp.path().join("other");
        export::prepare_out_dir(&other, &db).expect("preparing the output");
        let opts = SalvageOptions {
            out: OutDest::Dir(other.clone()),
            rebuild: !opts.rebuild,
            ..opts
        };
        export::salvage(&inputs, &opts, &Silent).expect("salvage");
        let read = |d: &Path| std::fs::read(d.join("records.jsonl")).expect("records");
        assert!(
            read(&out) == read(&other),
            "latest view: ranged and one-piece merges differ"
        );
    }
}

/// A store we rebuilt scans without damage.
fn rebuilt_is_clean(db: &Path) {
    let inputs = store::list_inputs(&[db.to_path_buf()]).expect("listing the rebuilt store");
    for f in &inputs {
        let s = store::scan_file(f, &mut Discard, &Silent);
        assert!(
            s.report.damage.is_empty() && s.report.error.is_none(),
            "rebuilt {} is damaged: {:?}",
            f.name,
            s.report
        );
    }
}
