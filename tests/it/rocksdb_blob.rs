//! RocksDB BlobDB stores (testdata/rocksdb/blob-zstd and its damaged copy
//! blob-zstd-value-bitflip, made by testdata/gen/make_rocksdb_stores.py
//! with librocksdb-dev 7.8.3; ground truth is RocksDB's iterator, which
//! returns the values the blob indexes point to).
//!
//! Healthy: exit 0, the `.blob` files inventoried as live and verified
//! record by record, no damage, every blob-index line resolved to its value
//! (the latest view equals RocksDB's), the same export for any `--jobs`.
//! One bit of a blob value flipped: that record reported garbled at its
//! offset, its key requeued, its key's line unresolved with the reason (its
//! raw index kept), every other key recovered, nothing invented; the input
//! unchanged.

use crate::common::*;
use crate::rocksdb_read::{damage, field, latest, scan, store, truth_view};
use serde_json::Value;
use std::path::Path;

fn blob_files(r: &Value) -> Vec<&Value> {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "blob")
        .collect()
}

/// `salvage --view all --out -` with `--jobs n`: the lines' bytes.
fn all_view(db: &Path, jobs: &str) -> Vec<u8> {
    let o = run([
        "salvage".as_ref(),
        db.as_os_str(),
        "--view".as_ref(),
        "all".as_ref(),
        "--out".as_ref(),
        "-".as_ref(),
        "--jobs".as_ref(),
        jobs.as_ref(),
        "-q".as_ref(),
    ]);
    assert!(code(&o) <= 1, "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

fn lines_of(b: &[u8]) -> Vec<Value> {
    b.split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn a_healthy_blob_store_resolves_every_blob_value() {
    let (db, t) = store("blob-zstd");
    let before = snapshot(&db);
    let (r, c) = scan(&db);
    assert_eq!(c, 0, "{r}");
    assert!(damage(&r).is_empty(), "{:?}", damage(&r));
    let truth_blobs = t["blob_files"].as_array().unwrap();
    assert!(truth_blobs.len() >= 2, "the fixture has blob files");
    let blobs = blob_files(&r);
    assert_eq!(blobs.len(), truth_blobs.len());
    for (f, tb) in blobs.iter().zip(truth_blobs) {
        assert_eq!(f["name"], tb["file"]);
        assert_eq!(f["state"], "live", "{f}");
        assert!(f.get("error").is_none(), "{f}");
        assert_eq!(
            f["records"]["intact"],
            tb["records"].as_array().unwrap().len(),
            "{f}"
        );
        assert_eq!(f["records"]["garbled"], 0);
        assert_eq!(f["records"]["torn"], 0);
    }
    let (view, lines, rep, c) = latest(&db);
    assert_eq!(c, 0);
    assert_eq!(
        view,
        truth_view(&t),
        "the latest view differs from RocksDB's"
    );
    assert_eq!(rep["salvage"]["records"], lines.len());
    assert!(rep["salvage"].get("unresolved_blob_values").is_none());
    let indexed: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "blob_index").collect();
    assert!(indexed.len() >= 10, "{} blob-index lines", indexed.len());
    for l in &indexed {
        let b = &l["blob"];
        assert!(b.get("unresolved").is_none(), "{l}");
        assert_eq!(b["compression"], "zstd", "{l}");
        assert!(truth_blobs.iter().any(|tb| tb["file"] == b["file"]), "{l}");
        // The raw index is kept beside the value it resolved to.
        let raw = field(l, "blob_index").expect("the raw index");
        assert_eq!(raw[0], 1, "a kBlob index");
        assert!(field(l, "value").unwrap().len() >= 256, "{l}");
        assert!(b["offset"].as_u64().unwrap() > 30 && b["size"].as_u64().unwrap() > 0);
    }
    // The all view resolves them too, with the same bytes for any --jobs.
    let one = all_view(&db, "1");
    assert_eq!(one, all_view(&db, "2"), "--jobs changed the export");
    let all = lines_of(&one);
    assert!(all.iter().filter(|l| l["kind"] == "blob_index").count() >= indexed.len());
    assert!(all
        .iter()
        .filter(|l| l["kind"] == "blob_index")
        .all(|l| l["blob"].get("unresolved").is_none()
            && (l.get("blob_index").is_some() || l.get("blob_index_base64").is_some())));
    assert!(
        snapshot_diff(&before, &snapshot(&db)).is_empty(),
        "the store changed"
    );
}

#[test]
fn a_flipped_blob_value_is_garbled_and_its_key_unresolved() {
    let (db, t) = store("blob-zstd-value-bitflip");
    let (_, healthy) = store(t["damaged_from"].as_str().unwrap());
    let whole = truth_view(&healthy);
    let d = &t["damage"];
    let file = d["file"].as_str().unwrap();
    let at = d["offset"].as_u64().unwrap();
    let rec = (
        d["record_range"][0].as_u64().unwrap(),
        d["record_range"][1].as_u64().unwrap(),
    );
    let cf = d["cf"].as_str().unwrap();
    let key = hex(d["blob_key_hex"].as_str().unwrap());
    let before = snapshot(&db);

    let (r, c) = scan(&db);
    assert_eq!(c, 1, "damage found is exit 1");
    let found = damage(&r);
    assert_eq!(
        found,
        vec![(
            file.to_string(),
            rec.0,
            rec.1 - rec.0,
            "garbled".to_string()
        )],
        "exactly the one record"
    );
    assert!(rec.0 <= at && at < rec.1);
    let f = blob_files(&r)
        .into_iter()
        .find(|f| f["name"] == file)
        .unwrap();
    assert_eq!(f["records"]["garbled"], 1);
    assert_eq!(f["damage"][0]["lost_entries"], 1);
    assert!(f["damage"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("checksum mismatch"));
    // Its key is requeued, in its family.
    let lost = r["lost"]["key_ranges"].as_array().unwrap();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["file"], file);
    assert_eq!(lost[0]["cf"], cf);
    assert_eq!(field(&lost[0], "first"), Some(key.clone()));
    assert_eq!(field(&lost[0], "last"), Some(key.clone()));

    let (view, lines, rep, c) = latest(&db);
    assert_eq!(c, 1, "salvage of a damaged store is exit 1");
    assert_eq!(rep["salvage"]["unresolved_blob_values"], 1);
    // The key's line: unresolved, with the reason, its raw index kept.
    let line = lines
        .iter()
        .find(|l| l["cf"] == cf && field(l, "key").as_deref() == Some(&key[..]))
        .expect("the damaged key still has its line");
    assert_eq!(line["kind"], "blob_index");
    assert_eq!(line["blob"]["file"], file);
    let why = line["blob"]["unresolved"].as_str().expect("unresolved");
    assert!(why.contains("checksum mismatch"), "{why}");
    assert!(why.contains(file), "{why}");
    assert!(line.get("blob_index").is_none() && line.get("blob_index_base64").is_none());
    let raw = field(line, "value").unwrap();
    assert_eq!(raw[0], 1, "the raw kBlob index, not a value");
    assert_ne!(
        view.get(cf).and_then(|m| m.get(&key)),
        whole.get(cf).and_then(|m| m.get(&key)),
        "no value is made up for it"
    );
    // Every other key is recovered as RocksDB read the undamaged store.
    for (c, m) in &whole {
        for (k, v) in m {
            if c == cf && *k == key {
                continue;
            }
            assert_eq!(
                view.get(c).and_then(|g| g.get(k)),
                Some(v),
                "{c}/{} not recovered",
                show(k)
            );
        }
    }
    let unresolved = lines
        .iter()
        .filter(|l| l["blob"].get("unresolved").is_some())
        .count();
    assert_eq!(unresolved, 1, "only the damaged key is unresolved");
    assert!(
        snapshot_diff(&before, &snapshot(&db)).is_empty(),
        "the store changed"
    );
}

/// What the inventory says of blob files the MANIFEST does not name, or
/// that are missing: a copy of the healthy store with one blob file gone
/// names it in `store.missing_blob_files` and leaves its keys unresolved
/// ("missing"); an extra one is an orphan.
#[test]
fn missing_and_unnamed_blob_files() {
    let (src, _) = store("blob-zstd");
    let (_tmp, db) = crate::common::tools::copy_tree(&src);
    let mut names: Vec<String> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".blob"))
        .collect();
    names.sort();
    let gone = names[0].clone();
    let data = std::fs::read(db.join(&gone)).unwrap();
    std::fs::remove_file(db.join(&gone)).unwrap();
    std::fs::write(db.join("999999.blob"), &data).unwrap();
    let (r, c) = scan(&db);
    // Values are lost with the file: that is damage, for the exit status.
    assert_eq!(c, EXIT_DAMAGE, "{}", r["files"]);
    let extra = blob_files(&r)
        .into_iter()
        .find(|f| f["name"] == "999999.blob")
        .unwrap()
        .clone();
    assert_eq!(extra["state"], "orphan", "{extra}");
    let number: u64 = gone.trim_end_matches(".blob").parse().unwrap();
    let missing = r["store"]["missing_blob_files"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["number"], number);
    assert_eq!(missing[0]["cf"], "default");
    let (_, lines, _, _) = latest(&db);
    let missing: Vec<&Value> = lines
        .iter()
        .filter(|l| l["blob"]["file"] == gone.as_str())
        .collect();
    assert!(!missing.is_empty());
    for l in missing {
        let why = l["blob"]["unresolved"].as_str().unwrap();
        assert!(why.contains("missing"), "{why}");
    }
}
