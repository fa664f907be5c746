//! Names of the files in a LevelDB directory, as `db/filename.cc` forms them.
//!
//! ```text
//! NNNNNN.log        write-ahead log          NNNNNN.ldb / .sst  table
//! MANIFEST-NNNNNN   version edits            CURRENT            names the live MANIFEST
//! LOG, LOG.old      human-readable info log  LOCK               lock file
//! LOG.old.<micros>  RocksDB's older info logs
//! NNNNNN.dbtmp      temporary (e.g. a CURRENT being replaced)
//! NNNNNN.blob       RocksDB BlobDB: large values kept apart from the tables
//! ```
//! `NNNNNN` is a decimal file number, zero-padded to at least six digits when
//! written but accepted at any width when read, as LevelDB does.

pub use crate::vocab::FileKind;

/// Classify a directory entry name, with its file number where it has one.
/// Anything LevelDB itself would not recognise is `(Unknown, None)`.
pub fn parse(name: &str) -> (FileKind, Option<u64>) {
    match name {
        "CURRENT" => return (FileKind::Current, None),
        "LOCK" => return (FileKind::Lock, None),
        "LOG" | "LOG.old" => return (FileKind::InfoLog, None),
        _ => {}
    }
    // RocksDB keeps each open's info log as `LOG.old.<microseconds>`.
    if name.strip_prefix("LOG.old.").and_then(number).is_some() {
        return (FileKind::InfoLog, None);
    }
    if let Some(digits) = name.strip_prefix("MANIFEST-") {
        return match number(digits) {
            Some(n) => (FileKind::Manifest, Some(n)),
            None => (FileKind::Unknown, None),
        };
    }
    let Some((digits, suffix)) = name.split_once('.') else {
        return (FileKind::Unknown, None);
    };
    let kind = match suffix {
        "log" => FileKind::Log,
        "ldb" | "sst" => FileKind::Table,
        "dbtmp" => FileKind::Temp,
        "blob" => FileKind::Blob,
        _ => return (FileKind::Unknown, None),
    };
    match number(digits) {
        Some(n) => (kind, Some(n)),
        None => (FileKind::Unknown, None),
    }
}

/// Plain ASCII digits only: `str::parse` would also take a leading `+`, which
/// LevelDB does not.
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `NNNNNN.ldb`: the name LevelDB gives new tables.
pub fn table_name(n: u64) -> String {
    format!("{n:06}.ldb")
}

/// `NNNNNN.blob`, as RocksDB's `BlobFileName` forms it.
pub fn blob_name(n: u64) -> String {
    format!("{n:06}.blob")
}

pub fn log_name(n: u64) -> String {
    format!("{n:06}.log")
}

pub fn manifest_name(n: u64) -> String {
    format!("MANIFEST-{n:06}")
}

#[cfg(test)]
// Tests index and size the data they build themselves.
mod tests {
    use super::*;

    #[test]
    fn recognised_names() {
        let cases: &[(&str, FileKind, Option<u64>)] = &[
            ("000123.log", FileKind::Log, Some(123)),
            ("000005.ldb", FileKind::Table, Some(5)),
            ("7.sst", FileKind::Table, Some(7)),
            ("MANIFEST-000002", FileKind::Manifest, Some(2)),
            (
                "MANIFEST-18446744073709551615",
                FileKind::Manifest,
                Some(u64::MAX),
            ),
            ("CURRENT", FileKind::Current, None),
            ("LOG", FileKind::InfoLog, None),
            ("LOG.old", FileKind::InfoLog, None),
            ("LOG.old.1796278636089814", FileKind::InfoLog, None),
            ("LOCK", FileKind::Lock, None),
            ("000009.dbtmp", FileKind::Temp, Some(9)),
            ("000012.blob", FileKind::Blob, Some(12)),
            ("1234567890.log", FileKind::Log, Some(1_234_567_890)),
        ];
        for &(name, kind, num) in cases {
            assert_eq!(parse(name), (kind, num), "{name}");
        }
    }

    #[test]
    fn unrecognised_names() {
        for name in [
            "",
            "foo",
            "current",
            "LOG.older",
            "LOG.old.",
            "LOG.old.12x",
            "MANIFEST-",
            "MANIFEST-12x",
            "MANIFEST-+12",
            "MANIFEST-000002.log",
            ".log",
            "+12.log",
            "-1.log",
            "12.LOG",
            "000001.log.bak",
            "000001.txt",
            "000001",
            "18446744073709551616.ldb",
            "١٢.log",
        ] {
            assert_eq!(parse(name), (FileKind::Unknown, None), "{name:?}");
        }
    }

    #[test]
    fn names_roundtrip() {
        assert_eq!(table_name(5), "000005.ldb");
        assert_eq!(log_name(12), "000012.log");
        assert_eq!(blob_name(12), "000012.blob");
        assert_eq!(manifest_name(2), "MANIFEST-000002");
        assert_eq!(table_name(1_234_567), "1234567.ldb");
        for n in [0, 1, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(parse(&table_name(n)), (FileKind::Table, Some(n)));
            assert_eq!(parse(&log_name(n)), (FileKind::Log, Some(n)));
            assert_eq!(parse(&manifest_name(n)), (FileKind::Manifest, Some(n)));
        }
    }

    #[test]
    fn serialized_names_match_as_str() {
        for k in [
            FileKind::Log,
            FileKind::Table,
            FileKind::Manifest,
            FileKind::Current,
            FileKind::InfoLog,
            FileKind::Lock,
            FileKind::Temp,
            FileKind::Blob,
            FileKind::Unknown,
        ] {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
    }
}
