//! `--dialect NAME`: the writer family given on the command line, for a
//! store whose evidence is gone (a lone table, a directory without its
//! MANIFEST). It replaces what was detected, and the report says so: the
//! first evidence line is "set by --dialect", followed by what detection
//! alone would have said, so the override is never silent.

use crate::report::Dialect;

/// The names `--dialect` takes (the report's `store.dialect.name`).
pub const NAMES: &[&str] = &[
    "leveldb",
    "goleveldb",
    "mojang",
    "basho",
    "chrome-indexeddb",
    "bitcoin-core",
    "rocksdb",
];

/// The accepted name, as the report spells it.
pub fn parse(name: &str) -> Result<&'static str, String> {
    NAMES
        .iter()
        .copied()
        .find(|n| n.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            format!(
                "--dialect {name:?} is not a dialect this version knows (one of: {})",
                NAMES.join(", ")
            )
        })
}

/// The first evidence line of a dialect set by hand.
pub const SET_BY: &str = "set by --dialect";

/// `detected`, or the dialect `over` names with the evidence that it was
/// set by hand.
pub fn apply(detected: Dialect, over: Option<&'static str>) -> Dialect {
    let Some(name) = over else {
        return detected;
    };
    let mut evidence = vec![SET_BY.to_string()];
    evidence.push(format!(
        "detected without it: {} ({})",
        detected.name,
        detected.evidence.join("; ")
    ));
    Dialect {
        name,
        evidence,
        supported: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_refused() {
        assert_eq!(parse("bitcoin-core"), Ok("bitcoin-core"));
        assert_eq!(parse("LevelDB"), Ok("leveldb"));
        assert!(parse("sqlite").unwrap_err().contains("one of: leveldb"));
    }

    #[test]
    fn an_override_says_so_and_keeps_what_was_detected() {
        let detected = Dialect {
            name: "rocksdb",
            evidence: vec!["OPTIONS-000005: a file only RocksDB writes".into()],
            supported: false,
        };
        let d = apply(detected.clone(), Some("leveldb"));
        assert_eq!(d.name, "leveldb");
        assert!(d.supported);
        assert_eq!(d.evidence[0], "set by --dialect");
        assert!(d.evidence[1].contains("rocksdb"));
        assert_eq!(apply(detected, None).name, "rocksdb");
    }
}
