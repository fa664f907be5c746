//! A store's files need not all come from one writer: a Bedrock world
//! copied over by a tool built on upstream LevelDB ≥ 1.23 gains zstd tables
//! beside Mojang's zlib ones, a table copied in from a RocksDB or goleveldb
//! store keeps its writer's marks. Each table's own evidence is the same
//! the store's dialect is decided from, read per table:
//!
//! - the codec ids and stream headers of its verified blocks
//!   ([`super::dialect_forks::TableSample::writer`]): ids 3 and 4 and a zlib
//!   stream under id 2 only leveldb-mcpe writes; a zstd frame under id 2
//!   upstream LevelDB ≥ 1.23 (`util/zstd` in its `port/port_stdcxx.h`);
//! - its last 8 bytes: RocksDB's block-based table magic
//!   (`table/format.h`, kBlockBasedTableMagicNumber) or LevelDB's;
//! - the name of its bloom filter in its metaindex: goleveldb's
//!   `filter.leveldb.BuiltinBloomFilter` (`filter/bloom.go`) or C++
//!   LevelDB's `...BuiltinBloomFilter2` (`util/bloom.cc`).
//!
//! A table whose evidence names a writer other than the store's gets its
//! own dialect in the report; one that agrees, or names none (snappy blocks,
//! no filter: every writer's), gets nothing. None of this changes how a
//! block is decoded: every codec id is still read by its own stream header
//! (`format/compress.rs`), and a block whose codec cannot be told stays
//! damage with that reason.

use super::dialect_forks::TableSample;
use super::store::InputFile;
use crate::report::{Dialect, FileDialect};

/// C++ LevelDB's bloom filter name (`util/bloom.cc`, with the
/// `filter.` prefix `table/table_builder.cc` adds).
const CPP_BLOOM: &[u8] = b"filter.leveldb.BuiltinBloomFilter2";
/// Tables named in the store's evidence line about them.
const NAMED: usize = 5;

/// Whether a table the evidence says `file` wrote fits a store of dialect
/// `store`. A zstd table (upstream ≥ 1.23) fits a C++ LevelDB store and
/// the stores whose writers use upstream's library (Chrome, Bitcoin Core);
/// a C++ LevelDB table (its filter's name) fits those too.
fn agrees(file: &str, store: &str) -> bool {
    match file {
        "leveldb" => matches!(store, "leveldb" | "chrome-indexeddb" | "bitcoin-core"),
        f => f == store,
    }
}

/// One table's own evidence of its writer: `(name, evidence)`, or `None`
/// when it names none.
fn table_writer(
    f: &InputFile,
    sample: Option<&TableSample>,
    store: &str,
) -> Option<(&'static str, Vec<String>)> {
    if super::inventory::tail_magic(f) == Some(super::inventory::ROCKSDB_TABLE_MAGIC) {
        return Some((
            "rocksdb",
            vec![format!(
                "ends with RocksDB's table magic 0x{:016x}",
                super::inventory::ROCKSDB_TABLE_MAGIC
            )],
        ));
    }
    if let Some(w) = sample.and_then(TableSample::writer) {
        return Some(w);
    }
    let names = super::dialect_go::metaindex_names(f);
    if names
        .iter()
        .any(|n| n.as_slice() == super::dialect_go::GO_BLOOM)
    {
        return Some((
            "goleveldb",
            vec![
                "a bloom filter named `filter.leveldb.BuiltinBloomFilter`, goleveldb's \
                 (C++ LevelDB's is `...BuiltinBloomFilter2`)"
                    .to_string(),
            ],
        ));
    }
    // C++ LevelDB's filter name is its forks' too (Mojang's, Chrome's
    // build): it tells a C++ table only from goleveldb's.
    if store == "goleveldb" && names.iter().any(|n| n.as_slice() == CPP_BLOOM) {
        return Some((
            "leveldb",
            vec![
                "a bloom filter named `filter.leveldb.BuiltinBloomFilter2`, C++ LevelDB's \
                 (goleveldb's is `...BuiltinBloomFilter`)"
                    .to_string(),
            ],
        ));
    }
    None
}

/// The sampled tables whose own evidence names a writer other than the
/// store's, by input index; the store's evidence gains a line saying so.
/// A store this version does not read gets none (its files are not read).
pub fn disagreements(
    inputs: &[InputFile],
    samples: &[TableSample],
    store: &mut Dialect,
) -> Vec<(usize, FileDialect)> {
    if !store.supported {
        return Vec::new();
    }
    let mut out = Vec::new();
    for s in samples {
        let Some(f) = inputs.get(s.input) else {
            continue;
        };
        if let Some((name, evidence)) = table_writer(f, Some(s), store.name) {
            if !agrees(name, store.name) {
                out.push((s.input, FileDialect { name, evidence }));
            }
        }
    }
    if !out.is_empty() {
        let mut named: Vec<String> = out
            .iter()
            .take(NAMED)
            .filter_map(|(i, d)| Some(format!("{} ({})", inputs.get(*i)?.name, d.name)))
            .collect();
        if out.len() > NAMED {
            named.push(format!("and {} more", out.len() - NAMED));
        }
        store.evidence.push(format!(
            "{} table(s) whose own evidence names another writer than the store's {}: {} \
             (each file's entry says why)",
            out.len(),
            store.name,
            named.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_writers_fit_which_stores() {
        assert!(agrees("leveldb", "leveldb"));
        assert!(agrees("leveldb", "chrome-indexeddb"));
        assert!(agrees("leveldb", "bitcoin-core"));
        assert!(!agrees("leveldb", "mojang"));
        assert!(!agrees("leveldb", "goleveldb"));
        assert!(!agrees("leveldb", "basho"));
        assert!(agrees("mojang", "mojang"));
        assert!(!agrees("mojang", "leveldb"));
        assert!(!agrees("goleveldb", "leveldb"));
        assert!(!agrees("rocksdb", "leveldb"));
    }
}
