//! ldbsalvage: forensic recovery of corrupted LevelDB stores.
//!
//! `format` parses bytes (no I/O), `scan` turns files into verdicts and
//! entries, `salvage` writes entries out, `report` models what was found.

pub mod cli;
pub mod format;
pub mod inspect;
pub mod progress;
pub mod report;
pub mod salvage;
pub mod scan;
pub mod vocab;
