#!/usr/bin/env python3
"""Fill fuzz/corpus/<target>/ with seeds made from the bundled fixtures.

Run before fuzzing (fuzz/run.sh does it); the corpora are git-ignored. Seeds
are the small files of testdata/fixtures/*/db, put into each target's input
format (see fuzz/harness.rs):

  log_block      .log and MANIFEST files as they are
  write_batch    the payloads of the FULL records of the .log files
  block          decompressed table blocks (index, data, metaindex), as they
                 are and prefixed with compression type 0; raw snappy blocks
                 prefixed with type 1
  table          .ldb files as they are, and cut before their footer
  table_footer   flags, index size, metaindex size, then the table without
                 its footer (the harness appends an equivalent footer)
  manifest       MANIFEST files, and their FULL records' payloads
  dir_scan       flags byte, then the store's files joined by the separator
                 in the harness's file order
  rocksdb        the files of testdata/rocksdb/*/db (WALs, tables,
                 MANIFESTs) and testdata/rocksdb/tables/*.sst, each as it
                 is and cut before its footer
"""

import hashlib
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "testdata" / "fixtures"
ROCKSDB = ROOT / "testdata" / "rocksdb"
CORPUS = Path(__file__).resolve().parent / "corpus"
MAX_SEED = 64 << 10

SPLIT = b"\xffSPLIT\xff"
DIR_SLOTS = {"log": [0, 4], "ldb": [1, 5], "manifest": [2], "current": [3]}
DIR_COUNT = 6
MAGIC = 0xDB4775248B80FB57


def put(target, data):
    if len(data) > MAX_SEED:
        return
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def varint(b, i):
    v, shift = 0, 0
    while i < len(b) and shift < 64:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        if not x & 0x80:
            return v, i
        shift += 7
    raise ValueError("bad varint")


def log_records(b):
    """Payloads of FULL fragments (enough for seeds)."""
    out, pos = [], 0
    while pos + 7 <= len(b):
        block_left = 32768 - pos % 32768
        if block_left < 7:
            pos += block_left
            continue
        n = struct.unpack_from("<H", b, pos + 4)[0]
        t = b[pos + 6]
        if t == 0 or pos + 7 + n > len(b):
            break
        if t == 1:
            out.append(b[pos + 7 : pos + 7 + n])
        pos += 7 + n
    return out


def footer(b):
    try:
        return footer_raw(b)
    except (ValueError, IndexError):
        return None


def footer_raw(b):
    if len(b) < 48 or struct.unpack_from("<Q", b, len(b) - 8)[0] != MAGIC:
        return None
    t = b[len(b) - 48 : len(b) - 8]
    mo, i = varint(t, 0)
    ms, i = varint(t, i)
    io, i = varint(t, i)
    isz, i = varint(t, i)
    return (mo, ms), (io, isz)


def blocks(b):
    f = footer(b)
    if f is None:
        return []
    (mo, ms), (io, isz) = f
    out = [(mo, ms), (io, isz)]
    idx = b[io : io + isz]
    if io + isz + 5 > len(b) or b[io + isz] != 0 or len(idx) < 4:
        return out
    # Index entries: walk them (restart-free enough for seeds).
    nr = struct.unpack_from("<I", idx, len(idx) - 4)[0]
    limit = len(idx) - 4 - 4 * nr
    p = 0
    while p < limit:
        try:
            _, p = varint(idx, p)
            ns, p = varint(idx, p)
            vl, p = varint(idx, p)
            p += ns
            v = idx[p : p + vl]
            p += vl
            o, j = varint(v, 0)
            s, j = varint(v, j)
            out.append((o, s))
        except (ValueError, IndexError):
            break
    return out


def main():
    stores = sorted(p for p in FIXTURES.glob("*/db") if p.is_dir())
    if not stores:
        sys.exit(f"no fixtures under {FIXTURES}")
    for db in stores:
        files = sorted(p for p in db.iterdir() if p.is_file())
        slots = [b""] * DIR_COUNT
        free = {k: list(v) for k, v in DIR_SLOTS.items()}
        for p in files:
            b = p.read_bytes()
            name = p.name
            kind = None
            if name.endswith(".log"):
                kind = "log"
                put("log_block", b)
                for r in log_records(b):
                    put("write_batch", r)
            elif name.endswith(".ldb") or name.endswith(".sst"):
                kind = "ldb"
                put("table", b)
                if len(b) > 48:
                    put("table", b[:-48])
                f = footer(b)
                if f is not None:
                    (mo, ms), (io, isz) = f
                    body = b[:-48]
                    ctl = struct.pack("<BII", 3, isz, ms)
                    put("table_footer", ctl + body)
                for o, s in blocks(b):
                    if o + s + 5 > len(b):
                        continue
                    raw, t = b[o : o + s], b[o + s]
                    if t == 0:
                        put("block", raw)
                        put("block", b"\x00" + raw)
                    else:
                        put("block", bytes([t]) + raw)
            elif name.startswith("MANIFEST-"):
                kind = "manifest"
                put("manifest", b)
                put("log_block", b)
                for r in log_records(b):
                    put("manifest", r)
            elif name == "CURRENT":
                kind = "current"
            if kind and free[kind]:
                slots[free[kind].pop(0)] = b
        while len(slots) > 1 and not slots[-1]:
            slots.pop()
        image = SPLIT.join(slots)
        put("dir_scan", b"\x00" + image)
        put("dir_scan", b"\x03" + image)
    rocks = sorted(ROCKSDB.glob("*/db/*")) + sorted(ROCKSDB.glob("tables/*.sst"))
    for p in rocks:
        if p.is_file() and (p.suffix in (".log", ".sst") or p.name.startswith("MANIFEST-")):
            b = p.read_bytes()
            put("rocksdb", b)
            if p.suffix == ".sst" and len(b) > 53:
                put("rocksdb", b[:-53])
    for t in sorted(os.listdir(CORPUS)):
        print(f"{t}: {len(os.listdir(CORPUS / t))} seeds")


if __name__ == "__main__":
    main()
