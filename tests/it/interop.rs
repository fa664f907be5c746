//! Interop with C++ LevelDB (through the `plyvel` wheel): every rebuilt store
//! must open with paranoid checks and hold exactly the latest-view export.
//!
//! The test makes its own venv under `target/` on first use. Outside CI a
//! machine without Python/pip skips it with a message; with `CI=true` a
//! missing plyvel fails the test.

use crate::common;

use common::tools::{self, root};
use std::path::PathBuf;
use std::process::Command;

/// Python with plyvel (the venv `tools` makes once under `target/`); skips
/// outside CI, fails in CI.
fn require_python() -> Option<PathBuf> {
    tools::require("python3 with plyvel (C++ LevelDB)", tools::plyvel_python())
}

/// The damaged fixtures and the stores holding history (tables the store
/// deleted or never named, which must stay out of the rebuilt store).
fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = ["testdata/fixtures", "testdata/history"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("db").is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn every_rebuilt_fixture_opens_in_leveldb_and_equals_the_export() {
    let Some(py) = require_python() else { return };
    let mut checked = 0;
    for fx in fixtures() {
        let out = tempfile::tempdir().unwrap();
        let o = out.path().join("o");
        let st = Command::new(env!("CARGO_BIN_EXE_ldbsalvage"))
            .args(["salvage", "--quiet", "--rebuild", "--out"])
            .arg(&o)
            .arg(fx.join("db"))
            .status()
            .unwrap();
        assert!(
            matches!(st.code(), Some(0 | 1)),
            "{}: exit {st:?}",
            fx.display()
        );
        let res = Command::new(&py)
            .arg(root().join("tests/interop/check_rebuild.py"))
            .arg(o.join("db"))
            .arg(o.join("records.jsonl"))
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{}: {}",
            fx.display(),
            String::from_utf8_lossy(&res.stderr)
        );
        let said = String::from_utf8_lossy(&res.stdout);
        let n: usize = said.trim().strip_prefix("ok ").unwrap().parse().unwrap();
        let lines = std::fs::read_to_string(o.join("records.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(n, lines, "{}", fx.display());
        // No leftovers of the temporary build next to the store.
        let names: Vec<String> = std::fs::read_dir(&o)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with('.')),
            "{}: {names:?}",
            fx.display()
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixtures");
}

#[test]
fn rebuilt_store_spans_several_tables() {
    let Some(py) = require_python() else { return };
    // A store big enough to need more than one 2 MiB table: written by
    // LevelDB itself, so the test needs plyvel anyway.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let gen = format!(
        "import plyvel, hashlib\ndb = plyvel.DB({:?}, create_if_missing=True, write_buffer_size=64<<20)\n\
         for i in range(60000):\n    db.put(b'key%08d' % i, hashlib.sha256(b'%d' % i).digest() * 3)\n\
         for i in range(0, 60000, 7):\n    db.delete(b'key%08d' % i)\ndb.close()\n",
        src.display().to_string()
    );
    let st = Command::new(&py).args(["-c", &gen]).status().unwrap();
    assert!(st.success());
    let o = tmp.path().join("o");
    let st = Command::new(env!("CARGO_BIN_EXE_ldbsalvage"))
        .args(["salvage", "--quiet", "--rebuild", "--out"])
        .arg(&o)
        .arg(&src)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(o.join("report.json")).unwrap()).unwrap();
    let rb = &report["salvage"]["rebuilt"];
    assert_eq!(rb["keys"], 60000 - 60000_u64.div_ceil(7));
    assert!(rb["tables"].as_u64().unwrap() >= 2, "{rb}");
    let res = Command::new(&py)
        .arg(root().join("tests/interop/check_rebuild.py"))
        .arg(o.join("db"))
        .arg(o.join("records.jsonl"))
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
}
