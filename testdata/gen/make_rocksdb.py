#!/usr/bin/env python3
"""Generate a small healthy RocksDB store (PyPI `rocksdict`, which bundles
RocksDB 9.x: format_version 6 tables, a WAL, OPTIONS-*, IDENTITY), for the
check that a RocksDB store is recognised and said to be unsupported instead
of being reported as damaged LevelDB.

    testdata/rocksdb/healthy/db/   the store (LOG, LOCK and rocksdict's own
                                   config file removed)

usage: make_rocksdb.py [--out DIR]
"""
import os
import shutil
import sys

import rocksdict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "rocksdb")


def main():
    out = OUT
    if "--out" in sys.argv:
        out = sys.argv[sys.argv.index("--out") + 1]
    target = os.path.join(out, "healthy")
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    d = os.path.join(target, "db")
    db = rocksdict.Rdict(d)
    for i in range(200):
        db[b"key%04d" % i] = b"value %d" % i
    db.flush()
    for i in range(150, 260):
        db[b"key%04d" % i] = b"newer value %d" % i
    del db[b"key0007"]
    db.close()
    for n in os.listdir(d):
        if n in ("LOG", "LOCK", "rocksdict-config.json") or n.startswith("LOG.old"):
            os.remove(os.path.join(d, n))
    print(sorted(os.listdir(d)))


if __name__ == "__main__":
    main()
