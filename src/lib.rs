//! ldbsalvage: forensic recovery of corrupted LevelDB stores.

pub mod format;
pub mod salvage;
