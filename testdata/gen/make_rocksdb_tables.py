#!/usr/bin/env python3
"""Write small RocksDB block-based tables (.sst) with real RocksDB, through
the `rocksdict` wheel (which bundles RocksDB 9.x), one table per
configuration, and the entries each must hold (from this script's own
writes) as JSON beside it, in testdata/rocksdb/tables/.

Each configuration opens a fresh DB in a temp dir, writes every key once
(so a single memtable flush keeps every write, with sequence numbers
1, 2, 3, ... in write order), flushes once and copies the one table out.

    python3 -m venv /tmp/rdvenv && /tmp/rdvenv/bin/pip install rocksdict
    /tmp/rdvenv/bin/python testdata/gen/make_rocksdb_tables.py [--out DIR]
"""
import argparse
import glob
import json
import os
import shutil
import tempfile

import rocksdict as r

CONFIGS = [
    # name, format_version, checksum, compression, extra
    ("fv2-crc32c-none", 2, "crc32c", "none", {}),
    ("fv3-xxhash-snappy", 3, "xxhash", "snappy", {}),
    ("fv4-xxhash64-zlib", 4, "xxhash64", "zlib", {"index_restart": 4}),
    ("fv5-xxh3-lz4-hashidx", 5, "xxh3", "lz4", {"data_hash": True, "hash_search": True}),
    ("fv6-crc32c-zstd-partitioned", 6, "crc32c", "zstd",
     {"partitioned": True, "index_restart": 3, "range_del": True, "keys": 300}),
    ("fv6-xxh3-lz4hc-entity", 6, "xxh3", "lz4hc", {"entity": True, "range_del": True}),
    ("fv6-nochecksum-none", 6, "no_checksum", "none", {}),
    ("fv6-crc32c-bz2", 6, "crc32c", "bz2", {}),
]


def value_for(i):
    # Repetitive, so every codec actually compresses the blocks.
    return (b"value-%04d-" % i) + b"abcabcabc" * (1 + i % 4)


def make(name, fv, checksum, compression, extra, out_dir):
    tmp = tempfile.mkdtemp()
    try:
        opts = r.Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_disable_auto_compactions(True)
        opts.set_compression_type(getattr(r.DBCompressionType, compression)())
        if extra.get("hash_search"):
            opts.set_prefix_extractor(r.SliceTransform.create_fixed_prefix(4))
        bbo = r.BlockBasedOptions()
        bbo.set_format_version(fv)
        bbo.set_checksum_type(getattr(r.ChecksumType, checksum)())
        bbo.set_block_size(256)
        if extra.get("data_hash"):
            bbo.set_data_block_index_type(r.DataBlockIndexType.binary_and_hash())
        if extra.get("hash_search"):
            bbo.set_index_type(r.BlockBasedIndexType.hash_search())
        if extra.get("partitioned"):
            bbo.set_index_type(r.BlockBasedIndexType.two_level_index_search())
            bbo.set_metadata_block_size(128)
        if "index_restart" in extra:
            bbo.set_index_block_restart_interval(extra["index_restart"])
        opts.set_block_based_table_factory(bbo)
        db = r.Rdict(tmp, opts)
        entries = []
        range_dels = []
        seq = 0
        for i in range(extra.get("keys", 60)):
            key = b"key-%04d" % i
            seq += 1
            if i % 11 == 5:
                db.delete(key)
                entries.append((key, seq, 0, b""))
            else:
                v = value_for(i)
                db.put(key, v)
                entries.append((key, seq, 1, v))
        if extra.get("entity"):
            seq += 1
            db.put_entity(b"key-9000", [b"a", b"b"], [b"x", b"y"])
            entries.append((b"key-9000", seq, 0x16, None))
        if extra.get("range_del"):
            seq += 1
            db.delete_range(b"zz-a", b"zz-m")
            range_dels.append((b"zz-a", seq, b"zz-m"))
        assert db.latest_sequence_number() == seq, (db.latest_sequence_number(), seq)
        db.flush()
        db.close()
        ssts = glob.glob(os.path.join(tmp, "*.sst"))
        assert len(ssts) == 1, ssts
        data = open(ssts[0], "rb").read()
        assert len(data) < 30000, (name, len(data))
        with open(os.path.join(out_dir, name + ".sst"), "wb") as f:
            f.write(data)
        entries.sort(key=lambda e: e[0])
        expected = {
            "format_version": fv,
            "checksum": checksum,
            "compression": compression,
            "extra": extra,
            "entries": [
                {"key": k.hex(), "seq": s, "type": t,
                 "value": None if v is None else v.hex()}
                for (k, s, t, v) in entries
            ],
            "range_deletions": [
                {"begin": b.hex(), "seq": s, "end": e.hex()} for (b, s, e) in range_dels
            ],
        }
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(expected, f, indent=1, sort_keys=True)
            f.write("\n")
        print(name, len(data))
    finally:
        shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "rocksdb", "tables"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for c in CONFIGS:
        make(*c, args.out)


if __name__ == "__main__":
    main()
