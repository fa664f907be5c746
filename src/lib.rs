//! ldbsalvage: forensic recovery of corrupted LevelDB stores.

pub mod format;
pub mod report;
pub mod scan;
