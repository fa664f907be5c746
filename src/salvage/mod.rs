//! Entries to outputs: the NDJSON export, and writers that turn recovered
//! entries back into files LevelDB can open (tables, log-format files for a
//! fresh MANIFEST), written durably.

pub mod blob;
pub mod cleanup;
mod deferred;
pub mod deobfuscate;
pub mod durable;
pub mod export;
pub mod idb_field;
pub mod latest;
mod lines;
pub mod log_writer;
pub mod ndjson;
pub mod outdir;
pub mod pipe;
mod ranges;
pub mod rebuild;
mod seqsort;
