//! `--rebuild`: the latest view written as a fresh LevelDB store.

use serde::Serialize;

/// What the rebuilt store holds and where it is.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    pub path: String,
    pub keys: u64,
    pub tables: u64,
    pub last_sequence: u64,
}
