"""The five copies every writer's fixture set has, made from one pristine
store, with the ground truth beside each (used by make_writers_rusty_123.py and
make_bitcoin.py; see testdata/README.md):

    healthy       the store as its writer left it
    torn-log      the live log cut in the middle of its last record
    garbled-log   one byte flipped in the payload of a record in the middle
                  of the log's first block (records after it are intact)
    bitflip-table one byte flipped inside a data block of the table (not
                  the first one, which Bitcoin's obfuscation key sits in)
    torn-footer   the table's last 20 bytes (part of its footer) cut off

latest.json (one per writer, beside the variants):
    writer        who wrote the store
    latest        {hex key: hex value}: what the writer's own library
                  returns from the pristine store (every key, in order)
plus whatever the caller adds (`extra`).

<variant>/expected.json:
    damage        [{file, class, offset}]: the unit the damage is in (its
                  first byte), and its class
    affected_keys hex keys with a write in the damaged unit: only these may
                  be missing from a salvage or hold an older value
    history       {hex key: [hex value, ...]}: every value a key was ever
                  given, for affected keys (an older value is allowed for
                  them, any other is a wrong value)
"""
import json
import os
import shutil

import make_fixtures as mf

VARIANTS = ["healthy", "torn-log", "garbled-log", "bitflip-table", "torn-footer"]


def store_files(db):
    logs = sorted(f for f in os.listdir(db) if f.endswith(".log") and os.path.getsize(os.path.join(db, f)) > 0)
    tables = sorted(f for f in os.listdir(db) if f.endswith(".ldb") or f.endswith(".sst"))
    assert len(logs) == 1 and len(tables) == 1, (logs, tables)
    return logs[0], tables[0]


def clean(db):
    """What no reader needs and differs from run to run."""
    for f in ("LOCK", "LOG", "LOG.old"):
        p = os.path.join(db, f)
        if os.path.exists(p):
            os.remove(p)


def make(pristine, out, writer, latest, extra=None):
    """Write out/<variant>/{db,expected.json} from the pristine store."""
    clean(pristine)
    log, table = store_files(pristine)
    units = mf.analyze(pristine)
    history = {}
    for u in units:
        for seq, kind, k, v in u.entries:
            if kind == "put":
                history.setdefault(k.hex(), []).append(v.hex())
    log_units = [u for u in units if u.file == log]
    table_units = [u for u in units if u.file == table]
    tabledata = open(os.path.join(pristine, table), "rb").read()
    # A record in the middle of the first block, wholly inside it.
    in_first = [u for u in log_units if all(o + n <= mf.BLOCK for o, n in u.ranges)]
    mid = in_first[len(in_first) // 2]
    last = log_units[-1]
    flip_block = table_units[1] if len(table_units) > 1 else table_units[0]

    def keys(us):
        return sorted({k.hex() for u in us for _, _, k, _ in u.entries})

    plans = {
        "healthy": ([], [], None),
        "torn-log": (
            [{"file": log, "class": "torn", "offset": last.offset}],
            keys([last]),
            (log, lambda d: d[: last.offset + (last.ranges[-1][0] + last.ranges[-1][1] - last.offset) // 2]),
        ),
        "garbled-log": (
            [{"file": log, "class": "garbled", "offset": mid.offset}],
            keys([mid]),
            (log, lambda d: flip(d, mid.offset + mf.HEADER + (mid.ranges[0][1] - mf.HEADER) // 2)),
        ),
        "bitflip-table": (
            [{"file": table, "class": "garbled", "offset": flip_block.offset}],
            keys([flip_block]),
            (table, lambda d: flip(d, flip_block.offset + flip_block.ranges[0][1] // 2)),
        ),
        "torn-footer": (
            [{"file": table, "class": "torn", "offset": len(tabledata) - 20}],
            [],
            (table, lambda d: d[:-20]),
        ),
    }
    for name in VARIANTS:
        damage, affected, change = plans[name]
        vdir = os.path.join(out, name)
        if os.path.exists(vdir):
            shutil.rmtree(vdir)
        shutil.copytree(pristine, os.path.join(vdir, "db"))
        if change:
            f, fn = change
            p = os.path.join(vdir, "db", f)
            data = open(p, "rb").read()
            open(p, "wb").write(fn(data))
        truth = {
            "damage": damage,
            "affected_keys": affected,
            "history": {k: history.get(k, []) for k in affected},
        }
        with open(os.path.join(vdir, "expected.json"), "w") as fh:
            json.dump(truth, fh, sort_keys=True)
            fh.write("\n")
    top = {"writer": writer, "latest": latest}
    top.update(extra or {})
    with open(os.path.join(out, "latest.json"), "w") as fh:
        json.dump(top, fh, sort_keys=True)
        fh.write("\n")


def flip(data, at):
    b = bytearray(data)
    b[at] ^= 0xFF
    return bytes(b)
