#!/usr/bin/env python3
"""Generate RocksDB MANIFESTs with column families, a dropped family, WAL
additions and an atomic group, written by RocksDB itself (PyPI `rocksdict`,
which bundles RocksDB 9.x), for the tests of src/format/rocks_manifest.rs.

rocksdict has no setter for `track_and_verify_wals_in_manifest` (without it
RocksDB writes no WAL additions), so the option is set the way RocksDB reads
it anyway: a scratch store's OPTIONS file is edited to say `true` and loaded
with `Options.load_latest`.

Two sessions on one store; after each, the MANIFEST named by CURRENT and
CURRENT itself are copied out:

    testdata/rocksdb/manifest/s1/   session 1: families alpha, beta, gamma
                                    created; writes; alpha flushed (with
                                    more than one family a flush syncs the
                                    closed WAL, which tracking records with
                                    its synced size); gamma flushed, then
                                    dropped; beta written and flushed;
                                    default written; every handle closed
                                    (rocksdict's close() flushes its family)
    testdata/rocksdb/manifest/s2/   session 2: reopened with atomic_flush
                                    and max_total_wal_size 4096 (RocksDB
                                    rolls to a new MANIFEST on open);
                                    default, alpha, beta written in turn
                                    until the WAL limit makes RocksDB flush
                                    all three at once (an atomic group of
                                    three edits); closed
    testdata/rocksdb/manifest/expected.json

expected.json holds, per session, what the script did and what RocksDB
itself reports after it: the live and dropped family names, every live
table file (from `live_files()` of a read-only reopen: number, level, size,
first and last user key; its family is told by the key's first letter,
since each family's keys start with their own letter), the latest sequence
number, and the sizes of the WAL files just before session 1's first flush.

usage: make_rocksdb_manifest.py [--out DIR]
"""
import json
import os
import shutil
import sys
import tempfile

from rocksdict import AccessType, Options, Rdict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "rocksdb", "manifest")
PREFIX = {"default": b"d", "alpha": b"a", "beta": b"b", "gamma": b"g"}


def tracking_options(scratch):
    """Options with track_and_verify_wals_in_manifest=true, via an edited
    OPTIONS file."""
    d = os.path.join(scratch, "opts")
    Rdict(d, Options(raw_mode=True)).close()
    name = sorted(f for f in os.listdir(d) if f.startswith("OPTIONS-"))[-1]
    p = os.path.join(d, name)
    text = open(p).read()
    assert "track_and_verify_wals_in_manifest=false" in text
    open(p, "w").write(
        text.replace(
            "track_and_verify_wals_in_manifest=false",
            "track_and_verify_wals_in_manifest=true",
        )
    )
    opts, _ = Options.load_latest(d)
    return opts


def put(h, cf, lo, hi, tag):
    for i in range(lo, hi):
        h[PREFIX[cf] + b"%05d" % i] = b"%s value %d " % (tag, i) * 3


def wal_sizes(d):
    return {
        int(f[:-4]): os.path.getsize(os.path.join(d, f))
        for f in os.listdir(d)
        if f.endswith(".log")
    }


def snapshot(d, out, name, facts):
    """Copy CURRENT and the MANIFEST it names; list the live files as
    RocksDB reports them on a read-only open."""
    current = open(os.path.join(d, "CURRENT")).read().strip()
    target = os.path.join(out, name)
    os.makedirs(target)
    shutil.copy(os.path.join(d, "CURRENT"), target)
    shutil.copy(os.path.join(d, current), target)
    ro = Rdict(d, access_type=AccessType.read_only())
    files = {}
    for f in ro.live_files():
        cf = [c for c, p in PREFIX.items() if f["start_key"].startswith(p)]
        assert len(cf) == 1 and f["end_key"].startswith(PREFIX[cf[0]]), f
        files.setdefault(cf[0], []).append(
            {
                "number": int(f["name"].strip("/").split(".")[0]),
                "level": f["level"],
                "size": f["size"],
                "smallest_user_key": f["start_key"].decode(),
                "largest_user_key": f["end_key"].decode(),
            }
        )
    ro.close()
    for v in files.values():
        v.sort(key=lambda x: x["number"])
    facts["manifest"] = current
    facts["files"] = files
    return facts


def main():
    out = OUT
    if "--out" in sys.argv:
        out = sys.argv[sys.argv.index("--out") + 1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    scratch = tempfile.mkdtemp()
    try:
        d = os.path.join(scratch, "db")
        expected = {}

        # Session 1.
        opts = tracking_options(scratch)
        opts.create_if_missing(True)
        db = Rdict(d, opts)
        cfs = {n: db.create_column_family(n, Options(raw_mode=True)) for n in ("alpha", "beta", "gamma")}
        put(db, "default", 0, 60, b"s1")
        for n, h in cfs.items():
            put(h, n, 0, 60, b"s1")
        before_flush = wal_sizes(d)
        cfs["alpha"].flush()
        cfs["gamma"].flush()
        g = cfs.pop("gamma")
        g.close()
        db.drop_column_family("gamma")
        put(cfs["beta"], "beta", 60, 90, b"s1b")
        cfs["beta"].flush()
        put(db, "default", 60, 80, b"s1d")
        seq1 = db.latest_sequence_number()
        for h in cfs.values():
            h.close()
        db.close()
        expected["s1"] = snapshot(
            d,
            out,
            "s1",
            {
                "live_cfs": ["default", "alpha", "beta"],
                "dropped_cfs": ["gamma"],
                "latest_sequence_number": seq1,
                "wal_sizes_before_first_flush": {str(k): v for k, v in before_flush.items()},
            },
        )

        # Session 2: atomic flush.
        opts, cf_opts = Options.load_latest(d)
        opts.set_atomic_flush(True)
        # A manual flush names one family, and an atomic flush of one family
        # writes no group; a WAL over max_total_wal_size makes RocksDB flush
        # every family with data at once.
        opts.set_max_total_wal_size(4096)
        db = Rdict(d, opts, column_families=cf_opts)
        cfs = {n: db.get_column_family(n) for n in ("alpha", "beta")}
        cfs["default"] = db
        for i in range(100, 130):
            for n, h in cfs.items():
                put(h, n, i, i + 1, b"s2")
        del cfs["default"]
        seq2 = db.latest_sequence_number()
        for h in cfs.values():
            h.close()
        db.close()
        expected["s2"] = snapshot(
            d,
            out,
            "s2",
            {
                "live_cfs": ["default", "alpha", "beta"],
                "dropped_cfs": [],
                "latest_sequence_number": seq2,
            },
        )
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(expected, f, indent=1, sort_keys=True)
            f.write("\n")
        print(json.dumps(expected, indent=1, sort_keys=True))
        print(sorted(os.listdir(d)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
