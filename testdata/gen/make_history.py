#!/usr/bin/env python3
"""Generate the history fixtures: LevelDB stores (C++ LevelDB 1.22 through
plyvel==1.5.1) holding table files that are NOT part of the store's state,
to check that history never becomes state.

    testdata/history/<name>/db/          the store, as left on disk
    testdata/history/<name>/truth.json   what LevelDB itself returns, and
                                         which file is history or orphan

Every store is built the same way: 100 keys written and flushed to a table
(T1) by a reopen; then half of them deleted and ten overwritten, and
compact_range() merges everything into the bottom level, where the deletes
drop out together with the puts they hide. LevelDB deletes T1's file after
the compaction's MANIFEST edit; a crash between the two (or goleveldb, which
removes such files only at the next open) leaves it on disk. The fixtures
put a copy of T1 back:

    deleted   under its own name: an edit of the current MANIFEST deleted it
    obsolete  under its own name after one more reopen: the new MANIFEST
              (numbered after T1) never names it
    orphan    under a number above the MANIFEST's next file number: no edit
              named it (what an interrupted compaction leaves)

truth.json's "latest" is what plyvel iterates on a copy of the final store
(LevelDB ignores and then removes the extra table). Re-running produces
byte-identical stores (LOG, LOG.old and LOCK are removed).

usage: make_history.py [--out DIR]
"""
import json
import os
import shutil
import sys
import tempfile

import plyvel

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "history")
BIG_WBS = 8 << 20


def key(i):
    return b"key:%03d" % i


def build(dbdir, reopen_after=False):
    db = plyvel.DB(dbdir, create_if_missing=True, write_buffer_size=BIG_WBS)
    for i in range(100):
        db.put(key(i), b"first value of %03d" % i)
    db.close()
    # Reopening converts the log into a level-0 table: T1.
    db = plyvel.DB(dbdir, write_buffer_size=BIG_WBS)
    tables = sorted(n for n in os.listdir(dbdir) if n.endswith(".ldb"))
    assert len(tables) == 1, tables
    t1 = tables[0]
    saved = open(os.path.join(dbdir, t1), "rb").read()
    wb = db.write_batch()
    for i in range(50):
        wb.delete(key(i))
    for i in range(50, 60):
        wb.put(key(i), b"second value of %03d" % i)
    wb.write()
    # With no bounds plyvel passes empty keys, an empty range: bound it.
    db.compact_range(start=b"\x00", stop=b"\xff")
    db.close()
    assert not os.path.exists(os.path.join(dbdir, t1)), "LevelDB kept T1"
    if reopen_after:
        plyvel.DB(dbdir).close()
    for n in ("LOG", "LOG.old", "LOCK"):
        if os.path.exists(os.path.join(dbdir, n)):
            os.remove(os.path.join(dbdir, n))
    return t1, saved


def truth_of(dbdir):
    with tempfile.TemporaryDirectory() as t:
        copy = os.path.join(t, "db")
        shutil.copytree(dbdir, copy)
        db = plyvel.DB(copy, paranoid_checks=True)
        got = [(k.decode(), v.decode()) for k, v in db.iterator()]
        db.close()
    return got


def main():
    out = OUT
    if "--out" in sys.argv:
        out = sys.argv[sys.argv.index("--out") + 1]
    for name in ("deleted", "obsolete", "orphan"):
        target = os.path.join(out, name)
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        dbdir = os.path.join(target, "db")
        t1, saved = build(dbdir, reopen_after=(name == "obsolete"))
        latest = truth_of(dbdir)
        back = t1 if name != "orphan" else "000050.ldb"
        with open(os.path.join(dbdir, back), "wb") as f:
            f.write(saved)
        # LevelDB itself must still ignore the file put back.
        assert truth_of(dbdir) == latest
        truth = {
            "generator": "testdata/gen/make_history.py (C++ LevelDB 1.22 via plyvel %s)"
            % plyvel.__version__,
            "files": [back],
            "state": name,
            "latest": latest,
            "deleted_keys": [key(i).decode() for i in range(50)],
        }
        with open(os.path.join(target, "truth.json"), "w") as f:
            json.dump(truth, f, indent=1)
            f.write("\n")
        print(name, back, len(latest), "keys")


if __name__ == "__main__":
    main()
