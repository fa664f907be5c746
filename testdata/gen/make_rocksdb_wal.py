#!/usr/bin/env python3
"""Generate small RocksDB write-ahead logs with a known list of writes (PyPI
`rocksdict`, which bundles RocksDB 9.x), for the parsers of RocksDB's WAL
records and write batches (src/format/log.rs, src/format/rocks_batch.rs).

    testdata/rocksdb/wal/plain.log        a WAL of 7-byte-header records
    testdata/rocksdb/wal/recycled.log     a recycled WAL (11-byte headers,
                                          recycle_log_file_num = 1): the
                                          second write session's records
                                          over the first session's, whose
                                          tail remains after them
    testdata/rocksdb/wal/expected.json    for each log: its file number and
                                          the writes it holds, in order, as
                                          {"seq", "cf", "op", "key", "value"}
                                          (hex), from this script's own
                                          write list; range deletes give the
                                          end key as value, entities their
                                          columns

rocksdict exposes put, delete, delete_range and put_entity, in batches and
column families; not merge, single delete, TimedPut or transactions.

usage: make_rocksdb_wal.py [--out DIR]
"""
import gc
import json
import os
import shutil
import sys
import tempfile

import rocksdict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "rocksdb", "wal")


def wal_files(d):
    return sorted(n for n in os.listdir(d) if n.endswith(".log"))


def opts(recycle):
    o = rocksdict.Options(raw_mode=True)
    o.create_if_missing(True)
    o.create_missing_column_families(True)
    if recycle:
        o.set_recycle_log_file_num(1)
    return o


class Log:
    """Writes through rocksdict and notes each write with its sequence."""

    def __init__(self, db, cfs):
        self.db = db
        self.cfs = cfs
        self.ops = []

    def seq(self):
        return self.db.latest_sequence_number() + 1

    def note(self, seq, cf, op, key, value):
        self.ops.append({"seq": seq, "cf": cf, "op": op,
                         "key": key.hex(), "value": value.hex()})

    def put(self, key, value, cf=0):
        s = self.seq()
        self.cfs[cf].put(key, value)
        self.note(s, cf, "put", key, value)

    def delete(self, key, cf=0):
        s = self.seq()
        self.cfs[cf].delete(key)
        self.note(s, cf, "delete", key, b"")

    def batch(self, items):
        """items: (op, cf, key, value-or-end-or-columns)"""
        wb = rocksdict.WriteBatch(raw_mode=True)
        s = self.seq()
        for op, cf, key, v in items:
            handle = self.db.get_column_family_handle(CF_NAMES[cf])
            if op == "put":
                wb.put(key, v, handle)
            elif op == "delete":
                wb.delete(key, handle)
            elif op == "range_delete":
                wb.delete_range(key, v, handle)
            elif op == "put_entity":
                wb.set_default_column_family(handle)
                names = [n for n, _ in v]
                values = [x for _, x in v]
                wb.put_entity(key, names, values)
            else:
                raise ValueError(op)
        self.db.write(wb)
        for i, (op, cf, key, v) in enumerate(items):
            if op == "put_entity":
                self.ops.append({"seq": s + i, "cf": cf, "op": op,
                                 "key": key.hex(),
                                 "columns": [[n.hex(), x.hex()] for n, x in v]})
            else:
                self.note(s + i, cf, op, key, v)


CF_NAMES = ["default", "second"]


def open_db(d, recycle):
    o = opts(recycle)
    db = rocksdict.Rdict(d, options=o, column_families={"second": opts(recycle)})
    cfs = [db, db.get_column_family("second")]
    return db, cfs


def session(log, tag, n):
    log.put(b"alpha", b"first value " + tag)
    log.put(b"beta", b"in second cf " + tag, cf=1)
    log.batch([
        ("put", 0, b"gamma", b"batched " + tag),
        ("delete", 0, b"alpha", b""),
        ("range_delete", 0, b"k000", b"k005"),
        ("put", 1, b"delta", b"x" * 3000),
        ("put_entity", 0, b"entity", [(b"", b"default col"), (b"colA", b"a " + tag)]),
    ])
    for i in range(n):
        log.put(b"k%03d" % i, b"v%d " % i + tag)
    log.delete(b"beta", cf=1)


def plain(tmp):
    d = os.path.join(tmp, "plain")
    db, cfs = open_db(d, False)
    log = Log(db, cfs)
    session(log, b"one", 20)
    db.flush_wal(True)
    wals = wal_files(d)
    assert len(wals) == 1, wals
    data = open(os.path.join(d, wals[0]), "rb").read()
    db.close()
    return wals[0], data, log.ops


def flush_all(db, cfs):
    # Flushing every column family retires the WAL; with recycling on, the
    # retired file is kept to be reused by a later WAL.
    db.flush(True)
    cfs[1].flush(True)


def recycled(tmp):
    d = os.path.join(tmp, "recycled")
    db, cfs = open_db(d, True)
    old = Log(db, cfs)
    session(old, b"one", 30)
    flush_all(db, cfs)
    old.put(b"between", b"flushes")
    flush_all(db, cfs)
    log = Log(db, cfs)
    log.put(b"after", b"reuse")
    log.put(b"again", b"short", cf=1)
    db.flush_wal(True)
    wals = wal_files(d)
    print("recycled: WALs", wals, file=sys.stderr)
    wal = wals[-1]
    data = open(os.path.join(d, wal), "rb").read()
    db.close()
    return wal, data, log.ops


def main():
    out = OUT
    if "--out" in sys.argv:
        out = sys.argv[sys.argv.index("--out") + 1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    expected = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("plain", plain), ("recycled", recycled)):
            wal, data, ops = make(tmp)
            with open(os.path.join(out, name + ".log"), "wb") as f:
                f.write(data)
            expected[name] = {"file_number": int(wal[:-4]), "size": len(data),
                              "ops": ops}
            print(name, wal, len(data), len(ops))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
