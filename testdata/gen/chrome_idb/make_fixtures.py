#!/usr/bin/env python3
"""Chrome IndexedDB (idb_cmp1) fixtures: testdata/chrome/<variant>/db.

    sudo apt-get install chromium          # Debian's, /usr/bin/chromium
    python3 testdata/gen/chrome_idb/make_fixtures.py          # runs Chromium
    python3 testdata/gen/chrome_idb/make_fixtures.py --from DIR   # reuse a
                                            # `run.py write DIR` result

Runs `run.py write` (page.html in headless Chromium, as root: it mounts a
10 MiB tmpfs for the profile so LevelDB flushes a table early), copies the
store to `healthy/db` and the page's own dump of every record to
`dump.json`, then makes damaged copies, each with `expected.json` saying
what was damaged (file, offset, length, class).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "chrome")
BLOCK = 32768


def log_records(data):
    """(start, end) of each record: start of its first fragment header, end of
    its last fragment."""
    recs, pos, start = [], 0, None
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:
            pos += left
            continue
        length, typ = struct.unpack_from("<HB", data, pos + 4)
        if typ == 0 and length == 0:
            break
        end = pos + 7 + length
        if typ in (1, 2):
            start = pos
        if typ in (1, 4):
            recs.append((start, end))
        pos = end
    return recs


def files(db, suffix):
    return sorted(f for f in os.listdir(db) if f.endswith(suffix))


def variant(name, healthy, damage_fn, note):
    d = os.path.join(OUT, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    shutil.copytree(healthy, os.path.join(d, "db"))
    damage = damage_fn(os.path.join(d, "db"))
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"name": name, "note": note, "damage": damage}, f, sort_keys=True, indent=1)
        f.write("\n")


def torn_log(db):
    log = files(db, ".log")[-1]
    p = os.path.join(db, log)
    data = open(p, "rb").read()
    start, end = log_records(data)[-1]
    cut = start + 7 + (end - start - 7) // 2
    open(p, "wb").write(data[:cut])
    return [{"file": log, "offset": start, "length": len(data) - start, "class": "torn"}]


def garbled_log(db):
    log = files(db, ".log")[-1]
    p = os.path.join(db, log)
    data = bytearray(open(p, "rb").read())
    recs = log_records(bytes(data))
    start, end = recs[len(recs) // 2]
    at = start + 7 + (end - start - 7) // 2
    old = bytes(data[at:at + 4])
    data[at:at + 4] = bytes(b ^ 0xa5 for b in old)
    open(p, "wb").write(data)
    return [{"file": log, "offset": at, "length": 4, "class": "garbled",
             "record_offset": start, "record_end": end}]


def bitflip_table(db):
    t = files(db, ".ldb")[0]
    p = os.path.join(db, t)
    data = bytearray(open(p, "rb").read())
    at = 50  # inside the first data block (it starts at 0 and is larger)
    data[at] ^= 0x10
    open(p, "wb").write(data)
    return [{"file": t, "offset": at, "length": 1, "class": "garbled"}]


def torn_footer(db):
    t = files(db, ".ldb")[0]
    p = os.path.join(db, t)
    data = open(p, "rb").read()
    open(p, "wb").write(data[:-20])
    return [{"file": t, "offset": len(data) - 48, "length": 48, "class": "torn"}]


def main():
    args = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="idb-gen-") as tmp:
        if args[:1] == ["--from"]:
            src = args[1]
        else:
            src = os.path.join(tmp, "w")
            subprocess.run([sys.executable, os.path.join(HERE, "run.py"), "write", src],
                           check=True)
        os.makedirs(OUT, exist_ok=True)
        healthy = os.path.join(OUT, "healthy", "db")
        if os.path.exists(os.path.dirname(healthy)):
            shutil.rmtree(os.path.dirname(healthy))
        shutil.copytree(os.path.join(src, "db"), healthy)
        with open(os.path.join(OUT, "healthy", "expected.json"), "w") as f:
            json.dump({"name": "healthy", "note": "as Chromium left it", "damage": []}, f,
                      sort_keys=True, indent=1)
            f.write("\n")
        dump = json.load(open(os.path.join(src, "dump.json")))
        for db in dump.values():  # as page.html dumps it: the filler's length
            for st in db.values():
                for r in st["records"]:
                    v = r["value"]
                    if isinstance(v, dict) and isinstance(v.get("fill"), str):
                        v["fill"] = len(v["fill"])
        with open(os.path.join(OUT, "dump.json"), "w") as f:
            json.dump(dump, f, sort_keys=True, indent=1)
            f.write("\n")
    variant("log-torn", healthy, torn_log,
            "the log cut in the middle of its last record (a crash mid-write)")
    variant("log-garbled", healthy, garbled_log,
            "4 bytes XORed in the middle of a log record in the middle of the log")
    variant("table-bitflip", healthy, bitflip_table,
            "one bit flipped at offset 50 of the table, inside its first data block")
    variant("table-torn-footer", healthy, torn_footer,
            "the table's last 20 bytes cut off: its footer is torn")


if __name__ == "__main__":
    main()
