//! Pure parsers of LevelDB's on-disk bytes. Nothing in here does I/O, and no
//! input, however damaged, makes any of it panic, loop or over-allocate.
//!
//! The compiler holds that line for the whole module: no indexing or
//! slicing that could panic, no arithmetic that could overflow, no cast that
//! could truncate. Offsets read from a file become checked spans
//! ([`coding::Span`]) or `get` calls. Test builds, which index data the
//! tests build themselves, are exempt; `cargo clippy --all-targets` still
//! checks every non-test line.

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation
    )
)]

pub mod batch;
pub mod block;
pub mod coding;
pub mod compress;
pub mod crc;
pub mod filename;
pub mod idb;
pub mod ikey;
pub mod infolog;
pub mod log;
pub mod lz4;
pub mod manifest;
pub mod order;
pub mod rocks_batch;
pub mod rocks_blob;
pub mod rocks_manifest;
pub mod rocks_table;
pub mod table;
pub mod table_writer;
