#!/usr/bin/env python3
"""Independent re-check of the committed fixtures.

Not needed to generate anything: it re-reads every fixture's (damaged) db/
with a second, separate implementation (the `crc32c` and `cramjam` packages
instead of make_fixtures.py's pure-Python CRC and snappy) and checks that
expected.json is consistent with the bytes on disk:

  * every unit whose entries are marked recoverable still decodes, at its
    unit_offset in the damaged file, to exactly those entries;
  * every unit marked unrecoverable no longer decodes (its CRC fails or its
    bytes are gone);
  * files without damage are fully accounted for: every log record / table
    data block found by a sequential read is in the universe, and no other;
  * `latest`, `lost_log_seqs` and `stale_keys` follow from the universe;
  * damage ranges lie inside the files (truncations: from inside to past EOF).

usage: pip install crc32c cramjam; python crosscheck.py [FIXTURES_DIR]
"""
import json
import os
import struct
import sys

import crc32c
import cramjam

BLOCK = 32768


def unmask(m):
    rot = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def varint(b, p):
    r = s = 0
    while True:
        c = b[p]
        p += 1
        r |= (c & 0x7F) << s
        if c < 0x80:
            return r, p
        s += 7


def batch(payload):
    seq, count = struct.unpack_from("<QI", payload, 0)
    p, out = 12, []
    for i in range(count):
        tag = payload[p]
        p += 1
        kl, p = varint(payload, p)
        k = payload[p:p + kl]
        p += kl
        if tag == 1:
            vl, p = varint(payload, p)
            out.append((seq + i, "put", k.hex(), payload[p:p + vl].hex()))
            p += vl
        elif tag == 0:
            out.append((seq + i, "delete", k.hex(), None))
        else:
            raise ValueError("tag")
    if p != len(payload):
        raise ValueError("trailing")
    return out


def log_unit_at(data, off):
    """Decode the logical record starting at off; -> (entries, end)."""
    p, parts, first = off, [], True
    while True:
        left = BLOCK - p % BLOCK
        if left < 7:
            if first:
                raise ValueError("unit starts in a block trailer")
            p += left
        if p + 7 > len(data):
            raise ValueError("header past EOF")
        c, n, t = struct.unpack_from("<IHB", data, p)
        body = data[p + 7:p + 7 + n]
        if len(body) != n or 7 + n > BLOCK - p % BLOCK:
            raise ValueError("fragment past EOF/block")
        if unmask(c) != crc32c.crc32c(bytes([t]) + body):
            raise ValueError("crc")
        if first and t not in (1, 2) or not first and t not in (3, 4):
            raise ValueError("fragment type")
        parts.append(body)
        p += 7 + n
        first = False
        if t in (1, 4):
            return batch(b"".join(parts)), p


def log_all(data):
    """Sequential read of an undamaged log: -> {offset: entries}."""
    out, p = {}, 0
    while p < len(data):
        if BLOCK - p % BLOCK < 7:
            p += BLOCK - p % BLOCK
            continue
        ents, end = log_unit_at(data, p)
        if ents:
            out[p] = ents
        p = end
    return out


def block_entries(raw):
    nres = struct.unpack_from("<I", raw, len(raw) - 4)[0]
    end = len(raw) - 4 - 4 * nres
    p, key, out = 0, b"", []
    while p < end:
        sh, p = varint(raw, p)
        ns, p = varint(raw, p)
        vl, p = varint(raw, p)
        key = key[:sh] + raw[p:p + ns]
        p += ns
        out.append((key, raw[p:p + vl]))
        p += vl
    if p != end:
        raise ValueError("block layout")
    return out


def decode_block(data, off, size):
    raw, t = data[off:off + size], data[off + size]
    if unmask(struct.unpack_from("<I", data, off + size + 1)[0]) != crc32c.crc32c(raw + bytes([t])):
        raise ValueError("block crc")
    if t == 1:
        raw = bytes(cramjam.snappy.decompress_raw(raw))
    return raw


def internal(entries):
    out = []
    for ik, v in entries:
        tag = struct.unpack_from("<Q", ik, len(ik) - 8)[0]
        if tag & 0xFF == 1:
            out.append((tag >> 8, "put", ik[:-8].hex(), v.hex()))
        else:
            out.append((tag >> 8, "delete", ik[:-8].hex(), None))
    return out


def table_unit_at(data, off, limit=1 << 16):
    """Find the block starting at off by its trailer CRC (no index needed)."""
    run, e = 0, off
    while e + 5 <= len(data) and e - off < limit:
        t = data[e]
        if t in (0, 1) and unmask(struct.unpack_from("<I", data, e + 1)[0]) == crc32c.crc32c(bytes([t]), run):
            return internal(block_entries(decode_block(data, off, e - off)))
        run = crc32c.crc32c(data[e:e + 1], run)
        e += 1
    raise ValueError("no block trailer found")


def table_all(data):
    """Data blocks of an intact table via footer and index: {offset: entries}."""
    foot = data[-48:]
    assert struct.unpack_from("<Q", foot, 40)[0] == 0xDB4775248B80FB57
    p = 0
    _, p = varint(foot, p)
    _, p = varint(foot, p)
    io, p = varint(foot, p)
    isz, p = varint(foot, p)
    out = {}
    for _, h in block_entries(decode_block(data, io, isz)):
        o, q = varint(h, 0)
        s, q = varint(h, q)
        out[o] = internal(block_entries(decode_block(data, o, s)))
    return out


def kind(f):
    return "log" if f.endswith(".log") else "table" if f.endswith(".ldb") or f.endswith(".sst") else None


def check(fdir):
    exp = json.load(open(os.path.join(fdir, "expected.json")))
    db = os.path.join(fdir, "db")
    assert set(exp) == {"name", "note", "damage", "universe", "latest", "lost_log_seqs", "stale_keys"}
    assert exp["name"] == os.path.basename(fdir)
    files = {f: open(os.path.join(db, f), "rb").read() for f in os.listdir(db)}
    damaged = {}
    for d in exp["damage"]:
        assert set(d) == {"file", "offset", "length", "class"} and d["class"] in ("torn", "garbled")
        size = len(files[d["file"]])
        if d["class"] == "torn" and d["offset"] + d["length"] > size:
            assert d["offset"] <= size  # truncated file
        else:
            assert d["offset"] + d["length"] <= size
        damaged.setdefault(d["file"], []).append(d)
    units = {}
    for e in exp["universe"]:
        units.setdefault((e["file"], e["unit_offset"]), []).append(e)
    n_ok = n_lost = 0
    for (f, off), es in sorted(units.items()):
        rec = {e["recoverable"] for e in es}
        assert len(rec) == 1, (f, off)
        want = sorted((e["seq"], e["kind"], e["key_hex"], e["value_hex"]) for e in es)
        try:
            got = sorted(log_unit_at(files[f], off)[0] if kind(f) == "log" else table_unit_at(files[f], off))
        except Exception as ex:  # any decoding failure
            got = ex
        if rec == {True}:
            assert got == want, (fdir, f, off, got if isinstance(got, Exception) else "entries differ")
            n_ok += 1
        else:
            assert got != want, (fdir, f, off, "unit marked lost still decodes")
            assert f in damaged
            n_lost += 1
    # completeness of undamaged files
    for f, data in sorted(files.items()):
        k = kind(f)
        if not k or f in damaged:
            continue
        found = log_all(data) if k == "log" else table_all(data)
        mine = {off: sorted((e["seq"], e["kind"], e["key_hex"], e["value_hex"]) for e in es)
                for (uf, off), es in units.items() if uf == f}
        assert {o: sorted(v) for o, v in found.items() if v} == mine, (fdir, f)
    # derived fields
    final, latest = {}, {}
    for e in sorted(exp["universe"], key=lambda e: e["seq"]):
        v = e["value_hex"] if e["kind"] == "put" else None
        final[e["key_hex"]] = v
        if e["recoverable"]:
            latest[e["key_hex"]] = v
    latest = {k: v for k, v in latest.items() if v is not None}
    assert latest == exp["latest"], fdir
    assert sorted(k for k, v in latest.items() if final[k] != v) == exp["stale_keys"], fdir
    assert sorted(e["seq"] for e in exp["universe"]
                  if not e["recoverable"] and kind(e["file"]) == "log") == exp["lost_log_seqs"], fdir
    # foreign noise files must not contain a single valid log fragment
    for d in exp["damage"]:
        data = files[d["file"]]
        if d["offset"] == 0 and d["length"] == len(data) and kind(d["file"]) == "log":
            for p in range(0, len(data) - 7):
                c, n, t = struct.unpack_from("<IHB", data, p)
                if t in (1, 2, 3, 4) and p + 7 + n <= len(data):
                    assert unmask(c) != crc32c.crc32c(data[p + 6:p + 7 + n]), (fdir, p)
    print("%-22s ok: %3d intact units, %2d lost units, %d damage ranges"
          % (exp["name"], n_ok, n_lost, len(exp["damage"])))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
    for d in sorted(os.listdir(root)):
        if os.path.isdir(os.path.join(root, d)):
            check(os.path.join(root, d))


if __name__ == "__main__":
    main()
