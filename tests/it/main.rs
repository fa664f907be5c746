//! The integration tests: one binary (linked once, its tests scheduled
//! together), one module per area, sharing `common` (running the binary,
//! reading its output, the fixtures) and `support` (building damaged
//! stores), with `common::tools` setting up the real writers and judges.

mod common;
mod support;

mod basho;
mod chrome_idb;
mod cli;
mod corruption_cases;
mod crash;
mod dialect_mixed;
mod fixtures;
mod forks_mz;
mod history;
mod inspect;
mod interop;
mod iofaults;
mod latest_ranges;
mod log_cases;
mod memory;
mod mutation;
mod order_seq;
mod readonly;
mod rebuild_guards;
mod rebuild_repair;
mod rocks_manifest;
mod rocksdb_blob;
mod rocksdb_fixtures;
mod rocksdb_read;
mod rocksdb_wal;
mod schema;
mod table_roundtrip;
mod time_windows;
mod ux;
mod writers_btc;
mod writers_go_node;
