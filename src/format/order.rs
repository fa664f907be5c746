//! The order of user keys in a store, as its MANIFEST names it: LevelDB's
//! `leveldb.BytewiseComparator` (memcmp) or Chrome IndexedDB's `idb_cmp1`
//! ([`super::idb`]). Internal keys add the sequence number, newest first,
//! whatever the user-key order.
//!
//! [`Comparator`] is the run-time choice; [`KeyOrder`] is implemented by a
//! zero-sized type per comparator so that hot loops (the latest view's
//! merge) are compiled once per order and never call through a pointer.

use std::cmp::Ordering;

/// A user-key order this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Comparator {
    #[default]
    Bytewise,
    Idb,
}

/// LevelDB's default comparator's name.
pub const BYTEWISE_NAME: &str = "leveldb.BytewiseComparator";

impl Comparator {
    /// The comparator a MANIFEST names: none named means LevelDB's default;
    /// `None` for a name this crate has no order for.
    pub fn from_name(name: Option<&[u8]>) -> Option<Comparator> {
        match name {
            None => Some(Comparator::Bytewise),
            Some(n) if n == BYTEWISE_NAME.as_bytes() => Some(Comparator::Bytewise),
            Some(n) if n == super::idb::COMPARATOR_NAME.as_bytes() => Some(Comparator::Idb),
            Some(_) => None,
        }
    }

    /// The name written into a MANIFEST.
    pub fn name(self) -> &'static str {
        match self {
            Comparator::Bytewise => BYTEWISE_NAME,
            Comparator::Idb => super::idb::COMPARATOR_NAME,
        }
    }

    pub fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            Comparator::Bytewise => a.cmp(b),
            Comparator::Idb => super::idb::compare(a, b),
        }
    }
}

/// A user-key order as a type: see the module summary.
pub trait KeyOrder: Copy {
    fn compare(self, a: &[u8], b: &[u8]) -> Ordering;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BytewiseOrder;

impl KeyOrder for BytewiseOrder {
    #[inline]
    fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct IdbOrder;

impl KeyOrder for IdbOrder {
    fn compare(self, a: &[u8], b: &[u8]) -> Ordering {
        super::idb::compare(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Comparator::from_name(None), Some(Comparator::Bytewise));
        assert_eq!(
            Comparator::from_name(Some(b"idb_cmp1")),
            Some(Comparator::Idb)
        );
        assert_eq!(Comparator::from_name(Some(b"other")), None);
        for c in [Comparator::Bytewise, Comparator::Idb] {
            assert_eq!(Comparator::from_name(Some(c.name().as_bytes())), Some(c));
        }
    }
}
