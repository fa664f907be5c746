#!/usr/bin/env python3
"""Stores written by C++ LevelDB (plyvel==1.5.1) at known wall-clock times,
for tests/it/time_windows.rs: does every lost write's time lie inside the time
window ldbsalvage gives its requeue item?

Each store is written in phases with pauses (1.1 s) between them and
flushes between phases; the time of every write is recorded (just before and
just after the call). Then the newest log is damaged as a crash would leave
it: a record in its middle garbled and its tail torn, its mtime kept (as
`cp -a` keeps it). The LOG and LOG.old files are KEPT: they are what dates
the logs.

    TZ=Asia/Kolkata python3 testdata/gen/make_timed.py   # from the repo root

The LOG's times are written in the process's local zone; the generator sets
TZ=Asia/Kolkata itself (+05:30, no DST: a zone error cannot hide), and
records it in times.json. Stores:

  timed/compacted/db  newest log created by compact_range() (the flush it
                      begins dates the log's start)
  timed/reopened/db   newest log created by a reopen (the recovery flush
                      before it dates the log's start)

Beside each db/: times.json with
  zone            the TZ the writer ran in
  writes[]        {seq, key, before_ns, after_ns, log}: every write, with
                  the wall-clock interval its put() call took
  newest_log      the damaged log's file name
  created_after_ns  a time before the call that created the newest log
  mtimes_ns       {file: mtime in ns}: git does not keep file times, so the
                  tests put these back on their copy, as `cp -a` would have
  damage          [{offset, length, class}] in the newest log

The times are real: running the generator again gives other times (and the
same shapes). Total size: a few KB per store.
"""
import json
import os
import shutil
import struct
import sys
import tempfile
import time

os.environ["TZ"] = "Asia/Kolkata"
time.tzset()

import plyvel  # noqa: E402  (after TZ: LevelDB's LOG uses localtime_r)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "timed")
PAUSE = 1.1
BLOCK = 32768


class Writer:
    def __init__(self, path):
        self.path = path
        self.db = None
        self.seq = 0
        self.writes = []

    def open(self):
        self.db = plyvel.DB(self.path, create_if_missing=True,
                            write_buffer_size=8 << 20)

    def close(self):
        self.db.close()
        self.db = None

    def newest_log(self):
        logs = sorted(f for f in os.listdir(self.path) if f.endswith(".log"))
        return logs[-1]

    def batch(self, keys):
        """One write batch of puts; records its wall-clock interval."""
        before = time.time_ns()
        with self.db.write_batch(sync=True) as b:
            for k in keys:
                b.put(k.encode(), ("v@" + k).encode() * 3)
        after = time.time_ns()
        log = self.newest_log()
        for k in keys:
            self.seq += 1
            self.writes.append({"seq": self.seq, "key": k, "before_ns": before,
                                "after_ns": after, "log": log})

    def phase(self, name, batches, size=4, gap=0.0):
        for b in range(batches):
            self.batch([f"{name}:{b:03d}:{i}" for i in range(size)])
            if gap:
                time.sleep(gap)


def records(data):
    """(offset, length) of every physical record of a log (all in block 0
    here: the newest log is small)."""
    out = []
    off = 0
    while off + 7 <= len(data):
        if off // BLOCK != (off + 7) // BLOCK:
            off = (off // BLOCK + 1) * BLOCK
            continue
        (_crc, length, typ) = struct.unpack_from("<IHB", data, off)
        if typ == 0 and length == 0:
            break
        out.append((off, 7 + length))
        off += 7 + length
    return out


def make(name, newest_by_reopen):
    out = os.path.join(ROOT, name)
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "db")
    w = Writer(path)
    w.open()
    w.phase("p1", 3)
    time.sleep(PAUSE)
    w.db.compact_range()
    time.sleep(PAUSE)
    w.phase("p2", 3)
    time.sleep(PAUSE)
    w.close()
    time.sleep(PAUSE)
    w.open()  # recovery flush, a new log; LOG -> LOG.old
    time.sleep(PAUSE)
    w.phase("p3", 3)
    time.sleep(PAUSE)
    created_after = time.time_ns()
    if newest_by_reopen:
        w.close()
        time.sleep(PAUSE)
        w.open()
    else:
        w.db.compact_range()
    time.sleep(PAUSE)
    # The newest log: 7 batches over about 1.5 s.
    w.phase("p4", 7, gap=0.25)
    newest = w.newest_log()
    w.close()  # LevelDB does not flush on close: the log stays live.
    time.sleep(PAUSE)

    # Damage the newest log as a crash would leave it, keeping its mtime.
    lp = os.path.join(path, newest)
    st = os.stat(lp)
    data = bytearray(open(lp, "rb").read())
    size = len(data)
    recs = records(bytes(data))
    assert len(recs) == 7, recs
    mid_off, mid_len = recs[3]
    data[mid_off + 7 + 20] ^= 0x5A  # inside the batch: checksum mismatch
    last_off, last_len = recs[-1]
    cut = last_off + last_len // 2
    del data[cut:]
    with open(lp, "wb") as f:
        f.write(data)
    os.utime(lp, ns=(st.st_atime_ns, st.st_mtime_ns))
    damage = [
        {"offset": mid_off, "length": mid_len, "class": "garbled"},
        {"offset": last_off, "length": size - last_off, "class": "torn"},
    ]

    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    shutil.copytree(path, os.path.join(out, "db"), copy_function=shutil.copy2)
    os.remove(os.path.join(out, "db", "LOCK"))
    mtimes = {f: os.stat(os.path.join(path, f)).st_mtime_ns
              for f in sorted(os.listdir(os.path.join(out, "db")))}
    times = {
        "zone": os.environ["TZ"],
        "writes": w.writes,
        "newest_log": newest,
        "created_after_ns": created_after,
        "mtimes_ns": mtimes,
        "damage": damage,
    }
    with open(os.path.join(out, "times.json"), "w") as f:
        json.dump(times, f, indent=1, sort_keys=True)
        f.write("\n")
    shutil.rmtree(tmp)
    print(f"{name}: {newest}, {len(w.writes)} writes", file=sys.stderr)


if __name__ == "__main__":
    make("compacted", newest_by_reopen=False)
    make("reopened", newest_by_reopen=True)
