#!/usr/bin/env python3
"""Generate testdata/writers/<writer>/<variant>/: stores written by other
LevelDB-family writers than plyvel's C++ LevelDB 1.22, then damaged.

    goleveldb       syndtr/goleveldb (Debian golang-github-syndtr-goleveldb-dev),
                    through gen/goleveldb_writer/main.go
    classic-level   npm classic-level (its prebuilt binary bundles C++ LevelDB
                    1.20), through gen/classic_level/writer.js

Both writers run the same steps (one JSON list, built here from a seeded
stream): writes compacted into tables, more writes, a reopen (the log is
replayed into a level-0 table; goleveldb skips a sequence number and names
the new table twice in its new MANIFEST), more writes, a second reopen,
and a log tail left unflushed. The writer's own library dumps the pristine
store (goleveldb in its strict mode, StrictAll); that dump is `latest` in
expected.json, and it must equal the latest view computed from the strict
parse of make_fixtures.py (every byte of every log and table accounted
for), which also says which entries each damage makes unrecoverable.

usage: make_writers.py [--only goleveldb|classic-level] [--out DIR]
       [--go-writer BIN] [--node-dir DIR]

--go-writer is a built goleveldb_writer (default: built here into
target/gen/ with GOPATH=/usr/share/gocode GO111MODULE=off); --node-dir is a
directory where classic-level is npm-installed (default: target/gen/classic-level,
installed here from gen/classic_level/package.json).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import make_fixtures as mf

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "testdata", "writers")
GEN = os.path.join(REPO, "target", "gen")
WRITERS = ["goleveldb", "classic-level"]


def steps(seed):
    """The writes, as the writers' OPS.json steps."""
    rng = mf.Rng("writers:%s" % seed)
    out = []

    def batches(n, tag, del_frac):
        for ops in mf.workload(rng, n, 90, prefix=b"key", max_ops=3, del_frac=del_frac,
                               vlo=0, vhi=110, rand_frac=0.25):
            out.append({"batch": [["put", k.hex(), v.hex()] if kind == "put" else ["del", k.hex()]
                                  for kind, k, v in ops]})

    batches(45, "one", 0.05)
    out.append({"compact": True})
    batches(20, "two", 0.2)
    out.append({"reopen": True})
    batches(8, "three", 0.2)
    out.append({"reopen": True})
    batches(30, "tail", 0.2)
    return out


# --------------------------------------------------------------------------
# the writers
# --------------------------------------------------------------------------
def go_writer(path=None):
    if path:
        return path
    os.makedirs(GEN, exist_ok=True)
    out = os.path.join(GEN, "goleveldb_writer")
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off",
               GOCACHE=os.path.join(GEN, "gocache"))
    subprocess.run(["go", "build", "-o", out, "./testdata/gen/goleveldb_writer"], cwd=REPO,
                   env=env, check=True)
    return out


def node_dir(path=None):
    if path:
        return path
    d = os.path.join(GEN, "classic-level")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(HERE, "classic_level", "package.json"), d)
    if not os.path.isdir(os.path.join(d, "node_modules", "classic-level")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=d, check=True)
    return d


class Writer:
    def __init__(self, name, go=None, node=None):
        self.name = name
        if name == "goleveldb":
            self.cmd = [go_writer(go)]
            self.env = dict(os.environ)
        else:
            d = node_dir(node)
            self.cmd = ["node", os.path.join(HERE, "classic_level", "writer.js")]
            self.env = dict(os.environ, NODE_PATH=os.path.join(d, "node_modules"))

    def write(self, db, ops):
        subprocess.run(self.cmd + ["write", db, ops], env=self.env, check=True)

    def dump(self, db):
        """The library's own latest view of a copy of `db`."""
        tmp = tempfile.mkdtemp(prefix="ldbw-dump-")
        try:
            cp = os.path.join(tmp, "db")
            shutil.copytree(db, cp)
            out = subprocess.run(self.cmd + ["dump", cp], env=self.env, check=True,
                                 capture_output=True).stdout.decode()
        finally:
            shutil.rmtree(tmp)
        latest = {}
        for line in out.splitlines():
            k, _, v = line.partition(" ")
            latest[k] = v
        return latest


# --------------------------------------------------------------------------
# variants
# --------------------------------------------------------------------------
def live_log(db):
    logs = sorted(f for f in os.listdir(db) if f.endswith(".log"))
    return logs[-1]


def largest_table(db):
    ts = [f for f in os.listdir(db) if mf.file_kind(f) == "table"]
    return max(ts, key=lambda f: (os.path.getsize(os.path.join(db, f)), f))


def v_healthy(db, dmg):
    dmg.ensure_copy()
    return "healthy store: tables from a compaction and from two reopens, a log tail of 30 batches"


def v_log_torn(db, dmg):
    f = live_log(db)
    recs = mf.log_records(os.path.join(db, f))
    ranges = recs[-3][0]
    start = ranges[0][0]
    cut = start + ranges[0][1] // 2
    dmg.truncate(f, cut, start)
    return "%s cut in the middle of its third-to-last record (torn): it and the two after it are lost" % f


def v_log_garbled_mid(db, dmg):
    f = live_log(db)
    recs = mf.log_records(os.path.join(db, f))
    i = len(recs) // 2
    (off, ln), = recs[i][0]
    assert recs[i + 1][0][0][0] < mf.BLOCK, "the next record must be in the same block"
    dmg.flip(f, off + 7 + ln // 2)
    return "one byte in the payload of record %d of %d of %s flipped (garbled, mid-block); " \
           "the records after it in the same block are intact" % (i, len(recs), f)


def v_log_garbled_first(db, dmg):
    f = live_log(db)
    recs = mf.log_records(os.path.join(db, f))
    (off, ln), = recs[0][0]
    dmg.flip(f, off + 7 + ln // 2)
    return "one byte in the payload of the first record of %s flipped (garbled): the lost " \
           "sequence numbers start after the newest ones the tables and the MANIFEST account for" % f


def v_table_bitflip(db, dmg):
    f = largest_table(db)
    blocks, _ = mf.table_layout(os.path.join(db, f))
    o, s, t, _ = blocks[len(blocks) // 2]
    dmg.flip(f, o + s // 2, xor=0x10)
    return "one bit flipped in data block %d of %d of %s (compression %d) (garbled)" % (
        len(blocks) // 2, len(blocks), f, t)


def v_table_torn_footer(db, dmg):
    f = largest_table(db)
    size = os.path.getsize(os.path.join(db, f))
    dmg.truncate(f, size - 20, size - mf.FOOTER)
    return "%s cut 20 bytes before its end, inside the 48-byte footer (torn): every data block " \
           "is still there" % f


VARIANTS = [("healthy", v_healthy), ("log-torn", v_log_torn), ("log-garbled-mid", v_log_garbled_mid),
            ("log-garbled-first", v_log_garbled_first), ("table-bitflip", v_table_bitflip),
            ("table-torn-footer", v_table_torn_footer)]


class Damage(mf.Damage):
    """Keeps LOG and LOG.old (their format is evidence of the writer); only
    LOCK goes."""

    def ensure_copy(self):
        if not self.copied:
            p = os.path.join(self.pristine, "LOCK")
            if os.path.exists(p):
                os.remove(p)
            shutil.copytree(self.pristine, self.dbdir)
            self.copied = True


def make_writer(w, out):
    tmp = tempfile.mkdtemp(prefix="ldbw-")
    try:
        pristine = os.path.join(tmp, "db")
        ops = os.path.join(tmp, "ops.json")
        with open(ops, "w") as fh:
            json.dump(steps(w.name), fh)
        w.write(pristine, ops)
        os.remove(os.path.join(pristine, "LOCK"))
        truth = w.dump(pristine)
        units = mf.analyze(pristine)
        ours = mf.ground_truth("", "", units, [])["latest"]
        assert ours == truth, "the strict parse disagrees with %s on the pristine store" % w.name
        for name, fn in VARIANTS:
            d = os.path.join(out, w.name, name)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            dmg = Damage(pristine, os.path.join(d, "db"))
            note = fn(pristine, dmg)
            dmg.ensure_copy()
            mf.check_damage(pristine, dmg.dbdir, dmg)
            g = mf.ground_truth(name, note, units, dmg.list)
            lost = [e for e in g["universe"] if not e["recoverable"]]
            exp = {
                "writer": w.name,
                "name": name,
                "note": note,
                "damage": dmg.list,
                # what the writer's own library returns on the undamaged copy
                "latest": truth,
                # where the latest view of what the damage leaves
                # recoverable differs from `latest`: the key's older value,
                # or null where no recoverable write of it is left
                "recoverable_differs": {k: g["latest"].get(k) for k in
                                        sorted(set(truth) | set(g["latest"]))
                                        if truth.get(k) != g["latest"].get(k)},
                "lost_log_seqs": g["lost_log_seqs"],
                "lost_table_entries": len([e for e in lost if mf.file_kind(e["file"]) == "table"]),
                "stale_keys": g["stale_keys"],
            }
            with open(os.path.join(d, "expected.json"), "w") as fh:
                json.dump(exp, fh, sort_keys=True)
                fh.write("\n")
            print("%s/%s: %s" % (w.name, name, note))
    finally:
        shutil.rmtree(tmp)


def main(argv):
    out, only, go, node = DEFAULT_OUT, None, None, None
    it = iter(argv)
    for a in it:
        if a == "--out":
            out = next(it)
        elif a == "--only":
            only = next(it)
        elif a == "--go-writer":
            go = next(it)
        elif a == "--node-dir":
            node = next(it)
        else:
            sys.exit(__doc__)
    for name in WRITERS:
        if only and name != only:
            continue
        make_writer(Writer(name, go, node), out)


if __name__ == "__main__":
    main(sys.argv[1:])
