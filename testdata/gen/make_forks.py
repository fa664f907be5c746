#!/usr/bin/env python3
"""Fixtures written by LevelDB forks: Mojang's leveldb-mcpe (Minecraft
Bedrock) and google/leveldb main with zstd tables (LevelDB >= 1.23).

    python3 testdata/gen/make_forks.py [--bin DIR] [--out DIR] [--only NAME,...]

DIR holds mcpe_writer and zstd_writer, built by ../shared/writers/build.sh
(default: target/fork-writers/bin, else /work/fork-writers/bin). Standard
library only (zstd is read through libzstd with ctypes, to find the keys of a
damaged zstd block). Deterministic: the ops come from a seeded generator and
the writers settle after every batch, so the same ops give the same files.

For each set testdata/forks/<writer>-<codec>/ it
1. makes an ops stream (seeded, not stored: rerun to see it): 150 batches of
   1-3 puts and deletes, a reopen (recovery turns the log into a table),
   100 more, another reopen, then 60 batches that stay in the log (the
   writes stay under the 64 KiB write buffer, the smallest LevelDB allows);
2. runs the writer, then its own `--dump` on a copy of the pristine store:
   that is `latest` (a dump opens the store, which turns the log into a
   table, hence the copy);
3. makes the variants (healthy, torn-log, garbled-log, table-bitflip,
   torn-footer), each as <variant>/db with <variant>/expected.json.

expected.json: {name, writer, codec, dialect, evidence (a phrase the
report's store.dialect.evidence must contain), latest {keyhex: valuehex},
damage [{file, offset, length, class}], lost_keys [keyhex] (user keys of
every entry in a damaged unit: the log record or the table data block),
history {keyhex: [valuehex or null for a delete]} for the lost keys (every
value they ever had, oldest first, so a test can tell an older value from a
wrong one), note}.
"""

import argparse
import ctypes
import ctypes.util
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (set name, writer, --compression, dialect, evidence phrase, variants)
ALL = ["healthy", "torn-log", "garbled-log", "table-bitflip", "torn-footer"]
SETS = [
    ("mcpe-zlibraw", "mcpe_writer", "zlibraw", "mojang", "compression id 4", ALL),
    ("mcpe-zstd", "mcpe_writer", "zstd", "mojang", "compression id 3", ALL),
    ("mcpe-zlib", "mcpe_writer", "zlib", "mojang", "zlib stream under compression id 2", ALL),
    ("main-zstd", "zstd_writer", "zstd", "leveldb",
     "zstd-compressed blocks (LevelDB ≥ 1.23)", ALL),
]

BLOCK = 32768


# ---------------------------------------------------------------- ops stream

def make_ops(seed):
    r = random.Random(seed)
    keys = [b"key%04d" % i for i in range(120)]
    ops = []
    n = 0

    def value():
        if r.random() < 0.15:  # incompressible
            return r.randbytes(r.randrange(20, 40))
        return (b"v%05d-" % n) * r.randrange(2, 7)

    def batches(count, p_del):
        nonlocal n
        for _ in range(count):
            for _ in range(r.randrange(1, 4)):
                k = r.choice(keys)
                if r.random() < p_del:
                    ops.append("del %s" % k.hex())
                else:
                    ops.append("put %s %s" % (k.hex(), value().hex()))
                n += 1
            ops.append("batch")

    # Each reopen turns the log into a table (the writes stay under the
    # 64 KiB write buffer, so nothing is flushed before).
    batches(150, 0.1)
    ops.append("reopen")
    batches(100, 0.1)
    ops.append("reopen")
    batches(60, 0.15)  # stays in the log
    return "\n".join(ops) + "\n"


def history_of(ops_text):
    """key -> [value or None], in write order."""
    h = {}
    for line in ops_text.splitlines():
        a = line.split()
        if not a:
            continue
        if a[0] == "put":
            h.setdefault(a[1], []).append(a[2] if len(a) > 2 else "")
        elif a[0] == "del":
            h.setdefault(a[1], []).append(None)
    return h


# ---------------------------------------------------------------- parsing

def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, i
        shift += 7


def log_records(data):
    """[(start offset of the first fragment header, end offset, payload)]."""
    out, i, cur, start = [], 0, b"", None
    while i + 7 <= len(data):
        left = BLOCK - i % BLOCK
        if left < 7:
            i += left
            continue
        length, typ = struct.unpack_from("<HB", data, i + 4)
        if typ == 0 and length == 0:
            i += left
            continue
        frag = data[i + 7:i + 7 + length]
        if typ in (1, 2):
            start, cur = i, b""
        cur += frag
        i += 7 + length
        if typ in (1, 4):
            out.append((start, i, cur))
    return out


def batch_keys(payload):
    _seq, count = struct.unpack_from("<QI", payload, 0)
    i, keys = 12, []
    for _ in range(count):
        tag = payload[i]
        n, i = varint(payload, i + 1)
        keys.append(payload[i:i + n].hex())
        i += n
        if tag == 1:
            n, i = varint(payload, i)
            i += n
    return keys


_zstd = None


def unzstd(data):
    global _zstd
    if _zstd is None:
        _zstd = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
        _zstd.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
        _zstd.ZSTD_decompress.restype = ctypes.c_size_t
        _zstd.ZSTD_isError.restype = ctypes.c_uint
    n = _zstd.ZSTD_getFrameContentSize(data, len(data))
    assert n < 1 << 30, "zstd frame without a size"
    buf = ctypes.create_string_buffer(n)
    got = _zstd.ZSTD_decompress(buf, n, data, len(data))
    assert not _zstd.ZSTD_isError(got) and got == n
    return buf.raw[:n]


def decompress(kind, raw):
    if kind == 0:
        return raw
    if kind == 4:
        return zlib.decompress(raw, -15)
    if kind == 3 or (kind == 2 and raw[:4] == b"\x28\xb5\x2f\xfd"):
        return unzstd(raw)
    if kind == 2:
        return zlib.decompress(raw)
    raise ValueError("compression id %d" % kind)


def read_block(t, off, size):
    return t[off + size], decompress(t[off + size], t[off:off + size])


def block_entries(b):
    nres = struct.unpack_from("<I", b, len(b) - 4)[0]
    end = len(b) - 4 - 4 * nres
    i, key, out = 0, b"", []
    while i < end:
        shared, i = varint(b, i)
        nonshared, i = varint(b, i)
        vlen, i = varint(b, i)
        key = key[:shared] + b[i:i + nonshared]
        i += nonshared
        out.append((key, b[i:i + vlen]))
        i += vlen
    return out


def table_blocks(t):
    """The data blocks: [(offset, size, compression id, user keys hex)]."""
    f = t[-48:]
    _mo, i = varint(f, 0)
    _ms, i = varint(f, i)
    io, i = varint(f, i)
    isz, i = varint(f, i)
    assert f[40:] == bytes.fromhex("57fb808b247547db")
    _, index = read_block(t, io, isz)
    out = []
    for _sep, h in block_entries(index):
        off, j = varint(h, 0)
        size, _ = varint(h, j)
        kind, data = read_block(t, off, size)
        out.append((off, size, kind, [k[:-8].hex() for k, _ in block_entries(data)]))
    return out


# ---------------------------------------------------------------- variants

def files(db, suffix):
    return sorted(n for n in os.listdir(db) if n.endswith(suffix))


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x40]))


def damage(variant, db):
    """Damage db in place; returns (damage list, lost user keys, note)."""
    if variant == "healthy":
        return [], [], "as the writer left it"
    if variant in ("torn-log", "garbled-log"):
        (log,) = files(db, ".log")
        p = os.path.join(db, log)
        data = open(p, "rb").read()
        recs = log_records(data)
        assert len(recs) >= 30, "the log tail is too short"
        if variant == "torn-log":
            start, end, payload = recs[-5]
            cut = start + (end - start) // 2
            os.truncate(p, cut)
            lost = [k for _, _, pl in recs[-5:] for k in batch_keys(pl)]
            return ([{"file": log, "offset": start, "length": len(data) - start,
                      "class": "torn"}], lost,
                    "%s cut at %d, inside the 5th-from-last record (at %d): it and the 4 after it are lost"
                    % (log, cut, start))
        # A record in the middle of the log's first block, with intact
        # records after it in the same block.
        in_first = [x for x in recs if x[1] <= BLOCK]
        start, end, payload = in_first[len(in_first) // 2]
        at = start + 7 + 14  # inside the batch's first entry
        assert at < end
        flip(p, at)
        return ([{"file": log, "offset": at, "length": 1, "class": "garbled"}],
                batch_keys(payload),
                "one byte of the record at %d of %s flipped (at %d); %d intact records follow in its block"
                % (start, log, at, len([x for x in in_first if x[0] > start])))
    tables = files(db, ".ldb")
    # The largest table: the one with the most blocks.
    big = max(tables, key=lambda n: os.path.getsize(os.path.join(db, n)))
    p = os.path.join(db, big)
    t = open(p, "rb").read()
    blocks = table_blocks(t)
    if variant == "table-bitflip":
        # A compressed block in the middle, so the codec's own check is
        # behind the CRC.
        mid = [b for b in blocks if b[2] != 0] or blocks
        off, size, kind, keys = mid[len(mid) // 2]
        at = off + size // 2
        flip(p, at)
        return ([{"file": big, "offset": at, "length": 1, "class": "garbled"}], keys,
                "one byte flipped at %d, inside the data block at %d (%d bytes, compression id %d) of %s"
                % (at, off, size, kind, big))
    if variant == "torn-footer":
        os.truncate(p, len(t) - 11)
        return ([{"file": big, "offset": len(t) - 48, "length": 48, "class": "torn"}], [],
                "%s cut 11 bytes short: its footer is torn, every block before it intact" % big)
    raise ValueError(variant)


def run_writer(exe, db, args, ops):
    subprocess.run([exe, db] + args, input=ops.encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def dump(exe, db):
    with tempfile.TemporaryDirectory() as t:
        c = os.path.join(t, "db")
        shutil.copytree(db, c)
        out = subprocess.run([exe, c, "--dump"], check=True, capture_output=True).stdout
    latest = {}
    for line in out.decode().splitlines():
        k, v = (line.split(" ") + [""])[:2]
        latest[k] = v
    return latest


def main():
    ap = argparse.ArgumentParser()
    default_bin = os.path.join(ROOT, "target/fork-writers/bin")
    if not os.path.isdir(default_bin):
        default_bin = "/work/fork-writers/bin"
    ap.add_argument("--bin", default=default_bin)
    ap.add_argument("--out", default=os.path.join(ROOT, "testdata/forks"))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    only = set(x for x in a.only.split(",") if x)
    for k, (name, writer, codec, dialect, evidence, variants) in enumerate(SETS):
        if only and name not in only:
            continue
        exe = os.path.join(a.bin, writer)
        ops = make_ops(13 + k)
        hist = history_of(ops)
        with tempfile.TemporaryDirectory() as t:
            pristine = os.path.join(t, "db")
            run_writer(exe, pristine, ["--compression=" + codec, "--write-buffer=65536"], ops)
            for junk in ("LOG", "LOG.old", "LOCK"):
                if os.path.exists(os.path.join(pristine, junk)):
                    os.remove(os.path.join(pristine, junk))
            latest = dump(exe, pristine)
            setdir = os.path.join(a.out, name)
            shutil.rmtree(setdir, ignore_errors=True)
            os.makedirs(setdir)
            for v in variants:
                db = os.path.join(setdir, v, "db")
                shutil.copytree(pristine, db)
                dmg, lost, note = damage(v, db)
                lost = sorted(set(lost))
                exp = {
                    "name": "%s/%s" % (name, v),
                    "writer": writer,
                    "codec": codec,
                    "dialect": dialect,
                    "evidence": evidence,
                    "latest": latest,
                    "damage": dmg,
                    "lost_keys": lost,
                    "history": {k: hist[k] for k in lost},
                    "note": note,
                }
                with open(os.path.join(setdir, v, "expected.json"), "w") as f:
                    json.dump(exp, f, sort_keys=True, indent=0, ensure_ascii=False)
                    f.write("\n")
                print("%s/%s: %s" % (name, v, note))


if __name__ == "__main__":
    sys.exit(main())
