//! Pure parsers of LevelDB's on-disk bytes. Nothing in here does I/O, and no
//! input, however damaged, makes any of it panic, loop or over-allocate.

pub mod batch;
pub mod block;
pub mod coding;
pub mod compress;
pub mod crc;
pub mod filename;
pub mod ikey;
pub mod log;
pub mod manifest;
pub mod table;
pub mod table_writer;
