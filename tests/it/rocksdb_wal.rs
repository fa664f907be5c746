//! RocksDB's write-ahead logs, as RocksDB 9.x itself wrote them
//! (testdata/rocksdb/wal/, made by testdata/gen/make_rocksdb_wal.py): the
//! log parser in its RocksDB flavor and the RocksDB write batch parser must
//! yield exactly the writes the generator made, in order.

use ldbsalvage::format::log::{parse_block_with, LogFlavor, Piece, RecordType, BLOCK_SIZE};
use ldbsalvage::format::rocks_batch::{self, RocksOp};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rocksdb/wal")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The records of a log, joined from its verified fragments, and every
/// piece that is not a data fragment.
fn records(bytes: &[u8], flavor: LogFlavor) -> (Vec<Vec<u8>>, Vec<Piece>) {
    let (mut recs, mut other) = (Vec::new(), Vec::new());
    let mut open: Option<Vec<u8>> = None;
    let mut pieces = Vec::new();
    for (i, block) in bytes.chunks(BLOCK_SIZE).enumerate() {
        pieces.clear();
        let at_eof = (i + 1) * BLOCK_SIZE >= bytes.len();
        parse_block_with(block, at_eof, flavor, &mut pieces);
        for p in &pieces {
            match *p {
                Piece::Fragment {
                    rtype,
                    payload: (s, e),
                    ..
                } => {
                    let data = &block[s..e];
                    match rtype {
                        RecordType::Full => {
                            assert!(open.is_none());
                            recs.push(data.to_vec());
                        }
                        RecordType::First => open = Some(data.to_vec()),
                        RecordType::Middle => open.as_mut().unwrap().extend_from_slice(data),
                        RecordType::Last => {
                            let mut r = open.take().unwrap();
                            r.extend_from_slice(data);
                            recs.push(r);
                        }
                    }
                }
                other_piece => other.push(other_piece),
            }
        }
        if matches!(other.last(), Some(Piece::Recycled { .. })) {
            break;
        }
    }
    (recs, other)
}

/// The writes of a log, as the generator's JSON spells them.
fn writes(recs: &[Vec<u8>]) -> Vec<Value> {
    let mut out = Vec::new();
    for r in recs {
        rocks_batch::for_each(r, |e| {
            let mut v = serde_json::json!({
                "seq": e.seq,
                "cf": e.cf,
                "op": e.op.as_str(),
                "key": hexs(e.key),
            });
            if e.op == RocksOp::Entity {
                // Entities are compared by their columns' bytes below.
                v["entity"] = hexs(e.value).into();
            } else {
                v["value"] = hexs(e.value).into();
            }
            out.push(v);
        })
        .unwrap();
    }
    out
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all[name].clone()
}

fn compare(got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        for f in ["seq", "cf", "op", "key"] {
            assert_eq!(g[f], w[f], "{f} of {w}");
        }
        match w.get("columns") {
            Some(cols) => {
                let entity = hex(g["entity"].as_str().unwrap());
                let got: Vec<[String; 2]> = rocks_batch::entity_columns_v1(&entity)
                    .unwrap()
                    .iter()
                    .map(|(n, v)| [hexs(n), hexs(v)])
                    .collect();
                let want: Vec<[String; 2]> = serde_json::from_value(cols.clone()).unwrap();
                assert_eq!(got, want);
            }
            None => assert_eq!(g["value"], w["value"], "value of {w}"),
        }
    }
}

#[test]
fn plain_wal_yields_the_writes() {
    let want = expected("plain");
    let bytes = std::fs::read(dir().join("plain.log")).unwrap();
    assert_eq!(bytes.len() as u64, want["size"].as_u64().unwrap());
    let flavor = LogFlavor::rocksdb(want["file_number"].as_u64().unwrap());
    let (recs, other) = records(&bytes, flavor);
    assert!(other.is_empty(), "{other:?}");
    compare(&writes(&recs), want["ops"].as_array().unwrap());
}

#[test]
fn recycled_wal_ends_at_the_old_tail() {
    let want = expected("recycled");
    let bytes = std::fs::read(dir().join("recycled.log")).unwrap();
    let number = want["file_number"].as_u64().unwrap();
    let (recs, other) = records(&bytes, LogFlavor::rocksdb(number));
    compare(&writes(&recs), want["ops"].as_array().unwrap());
    // The file's earlier life follows its records, under another number.
    let Some(&Piece::Recycled { log_number, .. }) = other.last() else {
        panic!("no recycled tail: {other:?}");
    };
    assert_ne!(u64::from(log_number), number);
    assert!(
        other[..other.len() - 1]
            .iter()
            .all(|p| matches!(p, Piece::Special { .. })),
        "{other:?}"
    );
    // Read without the file's number, the old records verify and name
    // their own log: real data of a previous use, not damage.
    let mut pieces = Vec::new();
    parse_block_with(
        &bytes[..bytes.len().min(BLOCK_SIZE)],
        bytes.len() <= BLOCK_SIZE,
        LogFlavor::RocksDb { log_number: None },
        &mut pieces,
    );
    let old = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Fragment { log_number: Some(n), .. } if *n == log_number))
        .count();
    assert!(old > 0, "{pieces:?}");
}
