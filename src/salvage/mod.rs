//! Writers that turn recovered entries back into files LevelDB can open:
//! tables, log-format files (for a fresh MANIFEST), built in memory so the
//! caller decides where and how they reach disk.

pub mod log_writer;
pub mod table_builder;
