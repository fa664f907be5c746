//! RocksDB column families as entries name them: an id from the log or a
//! table, and the name the MANIFEST (or the table's properties) gives it.
//!
//! Names are interned: a store has a handful of column families and an
//! entry is `Copy`, so an entry carries `&'static str` rather than an owned
//! name. The interned set only grows by distinct names seen in a run.

use std::collections::HashSet;
use std::sync::Mutex;

/// The column family of a RocksDB entry. LevelDB entries have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cf {
    pub id: u32,
    /// Known from the MANIFEST or the table's properties.
    pub name: Option<&'static str>,
    /// The write is history for its family: a log entry of a family that
    /// had already flushed that log to tables, or of a dropped family. It
    /// is exported in the all view, marked, and never enters the latest.
    pub history: bool,
}

impl Cf {
    pub fn id(id: u32) -> Self {
        Cf {
            id,
            name: None,
            history: false,
        }
    }

    pub fn named(id: u32, name: &str) -> Self {
        Cf {
            id,
            name: Some(intern(name)),
            history: false,
        }
    }
}

/// `name` as a `&'static str`, one allocation per distinct name.
pub fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut g = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let set = g.get_or_insert_with(HashSet::new);
    if let Some(&n) = set.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_names_are_shared() {
        let a = intern("users");
        let b = intern(&String::from("users"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(
            Cf::named(3, "users").name.map(str::as_ptr),
            Some(a.as_ptr())
        );
    }
}
