#!/usr/bin/env python3
"""Generate the ldbsalvage test fixtures.

Each fixture is a tiny LevelDB store written by real C++ LevelDB 1.22 (through
the `plyvel==1.5.1` wheel), copied, and then damaged in a known way:

    testdata/fixtures/<name>/db/            the (damaged) data directory
    testdata/fixtures/<name>/expected.json  ground truth, see testdata/README.md

Ground truth is computed by the strict readers below from the PRISTINE copy
(before damage): every entry physically present in a .log record or a table
data block, which integrity unit it lives in, and whether that unit's bytes
were touched by the damage.

Needs only plyvel and the standard library (CRC-32C and snappy decompression
are implemented here in pure Python).

usage: make_fixtures.py [--out DIR] [--only NAME[,NAME...]] [--keep-pristine]

Determinism: every random choice comes from a SHA-256 counter-mode stream
with a fixed seed per fixture; LevelDB is driven single-threaded with a
write buffer large enough that it never flushes on its own (memtables are
written to tables only by explicit compact_range() calls or by log recovery
when the store is reopened), so file numbers and contents do not depend on
background-thread timing. LOG, LOG.old and LOCK are removed (LOG has
timestamps). Re-running produces byte-identical output.
"""
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile

try:
    import plyvel
except ImportError:  # make_writers.py uses the parsers without it
    plyvel = None

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "fixtures")

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER = 48
BIG_WBS = 8 << 20  # large enough that LevelDB never flushes on its own here


# --------------------------------------------------------------------------
# deterministic randomness (independent of Python's `random` implementation)
# --------------------------------------------------------------------------
class Rng:
    def __init__(self, seed):
        self.seed = ("ldbsalvage-fixtures:%s" % seed).encode()
        self.ctr = 0
        self.buf = bytearray()

    def bytes(self, n):
        while len(self.buf) < n:
            chunks = []
            for _ in range(max(1, (n - len(self.buf)) // 32 + 1)):
                chunks.append(hashlib.sha256(self.seed + b":%d" % self.ctr).digest())
                self.ctr += 1
            self.buf += b"".join(chunks)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def below(self, n):
        return int.from_bytes(self.bytes(8), "little") % n

    def randint(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def chance(self, p):
        return self.below(1 << 30) < int(p * (1 << 30))

    def choice(self, seq):
        return seq[self.below(len(seq))]


# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), masked as LevelDB stores it
# --------------------------------------------------------------------------
def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _CRC_T
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


# --------------------------------------------------------------------------
# varints and snappy (raw format) decompression
# --------------------------------------------------------------------------
def get_varint(b, p, maxbytes=10):
    r = s = 0
    for _ in range(maxbytes):
        if p >= len(b):
            raise ValueError("varint runs past end")
        c = b[p]
        p += 1
        r |= (c & 0x7F) << s
        if c < 0x80:
            return r, p
        s += 7
    raise ValueError("varint too long")


def varint_len(n):
    k = 1
    while n >= 0x80:
        n >>= 7
        k += 1
    return k


def snappy_decompress(data):
    n, p = get_varint(data, 0, 5)
    out = bytearray()
    while p < len(data):
        tag = data[p]
        p += 1
        kind = tag & 3
        if kind == 0:  # literal
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(data[p:p + nb], "little")
                p += nb
            ln += 1
            if p + ln > len(data):
                raise ValueError("snappy literal past end")
            out += data[p:p + ln]
            p += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | data[p]
            p += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[p:p + 2], "little")
            p += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[p:p + 4], "little")
            p += 4
        if off == 0 or off > len(out):
            raise ValueError("snappy bad copy offset")
        for _ in range(ln):
            out.append(out[-off])
    if len(out) != n:
        raise ValueError("snappy length mismatch")
    return bytes(out)


# --------------------------------------------------------------------------
# strict readers for PRISTINE files (raise on anything unexpected)
# --------------------------------------------------------------------------
class Unit:
    """An integrity unit: a logical log record (all its fragments) or a table
    data block (block + 5-byte trailer)."""

    def __init__(self, file, offset, ranges, entries, info=""):
        self.file = file
        self.offset = offset
        self.ranges = ranges  # [(off, len)]
        self.entries = entries  # [(seq, kind, key, value|None)]
        self.info = info


def read_log(data):
    """-> list of (ranges, payload, types) of the logical records."""
    recs, cur = [], None
    p, n = 0, len(data)
    while p < n:
        left = BLOCK - p % BLOCK
        if left < HEADER:
            pad = data[p:p + left]
            if pad != b"\0" * len(pad):
                raise ValueError("non-zero block trailer at %d" % p)
            p += left
            continue
        if n - p < HEADER:
            raise ValueError("partial header at %d" % p)
        c, ln, t = struct.unpack_from("<IHB", data, p)
        if HEADER + ln > left or p + HEADER + ln > n:
            raise ValueError("fragment overruns block/file at %d" % p)
        body = data[p + HEADER:p + HEADER + ln]
        if mask(crc32c(bytes([t]) + body)) != c:
            raise ValueError("bad fragment crc at %d" % p)
        frag = (p, HEADER + ln)
        if t == FULL:
            if cur is not None:
                raise ValueError("FULL inside a fragmented record at %d" % p)
            recs.append(([frag], body, [t]))
        elif t == FIRST:
            if cur is not None:
                raise ValueError("FIRST inside a fragmented record at %d" % p)
            cur = ([frag], [body], [t])
        elif t in (MIDDLE, LAST):
            if cur is None:
                raise ValueError("orphan fragment at %d" % p)
            cur[0].append(frag)
            cur[1].append(body)
            cur[2].append(t)
            if t == LAST:
                recs.append((cur[0], b"".join(cur[1]), cur[2]))
                cur = None
        else:
            raise ValueError("bad fragment type %d at %d" % (t, p))
        p += HEADER + ln
    if cur is not None:
        raise ValueError("log ends inside a fragmented record")
    return recs


def decode_batch(payload):
    if len(payload) < 12:
        raise ValueError("short batch")
    seq, count = struct.unpack_from("<QI", payload, 0)
    p, out = 12, []
    for i in range(count):
        tag = payload[p]
        p += 1
        kl, p = get_varint(payload, p, 5)
        k = payload[p:p + kl]
        if len(k) != kl:
            raise ValueError("batch key past end")
        p += kl
        if tag == 1:
            vl, p = get_varint(payload, p, 5)
            v = payload[p:p + vl]
            if len(v) != vl:
                raise ValueError("batch value past end")
            p += vl
            out.append((seq + i, "put", k, v))
        elif tag == 0:
            out.append((seq + i, "delete", k, None))
        else:
            raise ValueError("bad batch tag %d" % tag)
    if p != len(payload):
        raise ValueError("trailing bytes in batch")
    return out


def read_block(data, off, size):
    if off + size + 5 > len(data):
        raise ValueError("block handle past end")
    raw = data[off:off + size]
    t = data[off + size]
    (c,) = struct.unpack_from("<I", data, off + size + 1)
    if mask(crc32c(raw + bytes([t]))) != c:
        raise ValueError("bad block crc at %d" % off)
    if t == 1:
        raw = snappy_decompress(raw)
    elif t != 0:
        raise ValueError("unknown compression %d" % t)
    return raw, t


def parse_block(blk):
    if len(blk) < 4:
        raise ValueError("block too short")
    (nres,) = struct.unpack_from("<I", blk, len(blk) - 4)
    rstart = len(blk) - 4 - 4 * nres
    if nres < 1 or rstart < 0:
        raise ValueError("bad restart count")
    restarts = set(struct.unpack_from("<%dI" % nres, blk, rstart))
    p, key, out, seen = 0, b"", [], set()
    while p < rstart:
        seen.add(p)
        at_restart = p in restarts
        sh, p = get_varint(blk, p, 5)
        ns, p = get_varint(blk, p, 5)
        vl, p = get_varint(blk, p, 5)
        if sh > len(key) or (at_restart and sh != 0):
            raise ValueError("bad shared length")
        key = key[:sh] + blk[p:p + ns]
        p += ns
        val = blk[p:p + vl]
        p += vl
        if p > rstart:
            raise ValueError("entry overruns restart array")
        out.append((key, val))
    if p != rstart or not restarts <= (seen | {0}):
        raise ValueError("bad block layout")
    return out


def decode_handle(h, exact=True):
    o, q = get_varint(h, 0)
    s, q = get_varint(h, q)
    if exact and q != len(h):
        raise ValueError("trailing bytes after handle")
    return o, s, q


def internal_key_order(a, b):
    """-1/0/1 comparing internal keys (user key asc, then tag desc)."""
    ua, ub = a[:-8], b[:-8]
    if ua != ub:
        return -1 if ua < ub else 1
    ta = struct.unpack("<Q", a[-8:])[0]
    tb = struct.unpack("<Q", b[-8:])[0]
    return (ta < tb) - (ta > tb)


def read_table(data):
    """-> (data blocks [(off, size, ctype, entries)], layout [(off, len, what)])"""
    if len(data) < FOOTER:
        raise ValueError("table shorter than a footer")
    foot = data[-FOOTER:]
    if struct.unpack_from("<Q", foot, 40)[0] != TABLE_MAGIC:
        raise ValueError("bad magic")
    mo, ms, q = decode_handle(foot, exact=False)
    io, isz, q2 = decode_handle(foot[q:], exact=False)
    if foot[q + q2:40] != b"\0" * (40 - q - q2):
        raise ValueError("footer padding not zero")
    layout = [(len(data) - FOOTER, FOOTER, "footer"), (mo, ms + 5, "metaindex"), (io, isz + 5, "index")]
    meta, _ = read_block(data, mo, ms)
    for name, h in parse_block(meta):
        o, s, _ = decode_handle(h)
        read_block(data, o, s)
        layout.append((o, s + 5, "meta:" + name.decode()))
    index, _ = read_block(data, io, isz)
    blocks, prev = [], None
    for sep, h in parse_block(index):
        o, s, _ = decode_handle(h)
        raw, t = read_block(data, o, s)
        ents = []
        for ik, v in parse_block(raw):
            if len(ik) < 8:
                raise ValueError("internal key too short")
            if prev is not None and internal_key_order(prev, ik) >= 0:
                raise ValueError("internal keys out of order")
            if internal_key_order(ik, sep) > 0:
                raise ValueError("key above index separator")
            prev = ik
            (tag,) = struct.unpack("<Q", ik[-8:])
            if tag & 0xFF == 1:
                ents.append((tag >> 8, "put", ik[:-8], v))
            elif tag & 0xFF == 0:
                if v:
                    raise ValueError("deletion with a value")
                ents.append((tag >> 8, "delete", ik[:-8], None))
            else:
                raise ValueError("bad value type")
        blocks.append((o, s, t, ents))
        layout.append((o, s + 5, "data"))
    layout.sort()
    p = 0
    for o, ln, what in layout:
        if o != p:
            raise ValueError("table has a gap/overlap at %d (%s)" % (o, what))
        p = o + ln
    if p != len(data):
        raise ValueError("table layout does not cover file")
    return blocks, layout


def file_kind(name):
    if name.endswith(".log"):
        return "log"
    if name.endswith(".ldb") or name.endswith(".sst"):
        return "table"
    return None


def analyze(dbdir):
    """All units of all .log and table files of a pristine store."""
    units = []
    for f in sorted(os.listdir(dbdir)):
        data = open(os.path.join(dbdir, f), "rb").read()
        k = file_kind(f)
        if k == "log":
            for ranges, payload, types in read_log(data):
                units.append(Unit(f, ranges[0][0], ranges, decode_batch(payload), types))
        elif k == "table":
            blocks, _ = read_table(data)
            for o, s, t, ents in blocks:
                units.append(Unit(f, o, [(o, s + 5)], ents, t))
    return units


def table_layout(path):
    return read_table(open(path, "rb").read())


def log_records(path):
    return read_log(open(path, "rb").read())


# --------------------------------------------------------------------------
# writing stores
# --------------------------------------------------------------------------
WORDS = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel",
         b"india", b"juliet", b"kilo", b"lima", b"mike", b"november", b"oscar", b"papa"]


def text_value(rng, lo, hi):
    n = rng.randint(lo, hi)
    parts, size = [], 0
    while size < n:
        w = rng.choice(WORDS) + b" "
        parts.append(w)
        size += len(w)
    return b"".join(parts)[:n]


def rand_value(rng, lo, hi):
    return rng.bytes(rng.randint(lo, hi))


def batch_size(ops):
    n = 12
    for kind, k, v in ops:
        n += 1 + varint_len(len(k)) + len(k)
        if kind == "put":
            n += varint_len(len(v)) + len(v)
    return n


def workload(rng, n_batches, keyspace, prefix=b"key", max_ops=4, del_frac=0.15, vlo=0, vhi=200,
             rand_frac=0.3):
    batches, live = [], []
    for _ in range(n_batches):
        ops = []
        for _ in range(rng.randint(1, max_ops)):
            if live and rng.chance(del_frac):
                k = live.pop(rng.below(len(live)))
                ops.append(("delete", k, None))
            else:
                k = b"%s:%05d" % (prefix, rng.below(keyspace))
                v = rand_value(rng, vlo, vhi) if rng.chance(rand_frac) else text_value(rng, vlo, vhi)
                ops.append(("put", k, v))
                if k not in live:
                    live.append(k)
        batches.append(ops)
    return batches


def apply(db, ops):
    """One LevelDB write (= one log record) for the list of ops."""
    if len(ops) == 1:
        kind, k, v = ops[0]
        if kind == "put":
            db.put(k, v)
        else:
            db.delete(k)
        return
    wb = db.write_batch()
    for kind, k, v in ops:
        if kind == "put":
            wb.put(k, v)
        else:
            wb.delete(k)
    wb.write()


def current_log(dbdir):
    logs = sorted(f for f in os.listdir(dbdir) if f.endswith(".log"))
    return os.path.join(dbdir, logs[-1])


def open_db(dbdir, **kw):
    opts = dict(create_if_missing=True, write_buffer_size=BIG_WBS)
    opts.update(kw)
    return plyvel.DB(dbdir, **opts)


def filler_ops(tag, room):
    """A single put whose log record is exactly `room` bytes long."""
    k = b"filler:%s" % tag
    for vlen in range(room, -1, -1):
        ops = [("put", k, b"f" * vlen)]
        if HEADER + batch_size(ops) == room:
            return ops
    raise ValueError("no filler fits %d bytes" % room)


def write_with_layout(db, dbdir, batches, events):
    """Write batches, inserting a filler record before the end of the blocks
    named in `events` so that exactly `leftover` bytes remain in that block
    (3 -> a zero-padded block trailer, 7 -> the next record starts with an
    empty FIRST fragment)."""
    path = current_log(dbdir)
    pending = dict(events)
    for i, ops in enumerate(batches):
        pos = os.path.getsize(path)
        b = pos // BLOCK
        if b in pending:
            remaining = BLOCK - pos % BLOCK
            need = HEADER + batch_size(ops)
            if remaining < need + 80:
                leftover = pending.pop(b)
                apply(db, filler_ops(b"%d" % b, remaining - leftover))
                assert os.path.getsize(path) % BLOCK == BLOCK - leftover
        apply(db, ops)
    assert not pending, "layout events not reached: %r" % pending


def clean_dir(dbdir):
    for f in ("LOG", "LOG.old", "LOCK"):
        p = os.path.join(dbdir, f)
        if os.path.exists(p):
            os.remove(p)


# --------------------------------------------------------------------------
# damage
# --------------------------------------------------------------------------
class Damage:
    """Applies damage to a copy of the pristine store; the copy is made on the
    first damage call (or at the end, for undamaged fixtures), so builders can
    keep inspecting the pristine directory."""

    def __init__(self, pristine, dbdir):
        self.pristine = pristine
        self.dbdir = dbdir
        self.copied = False
        self.list = []
        self.removed = []

    def ensure_copy(self):
        if not self.copied:
            clean_dir(self.pristine)
            shutil.copytree(self.pristine, self.dbdir)
            self.copied = True

    def path(self, f):
        self.ensure_copy()
        return os.path.join(self.dbdir, f)

    def overwrite(self, f, off, new, cls):
        """Overwrite bytes in place; records the span of bytes actually changed."""
        with open(self.path(f), "r+b") as fh:
            fh.seek(off)
            old = fh.read(len(new))
            assert len(old) == len(new), "overwrite past end of %s" % f
            changed = [i for i in range(len(new)) if old[i] != new[i]]
            assert changed, "overwrite changed nothing"
            fh.seek(off)
            fh.write(new)
        rec = {"file": f, "offset": off + changed[0], "length": changed[-1] - changed[0] + 1, "class": cls}
        self.list.append(rec)
        return rec

    def flip(self, f, off, xor=0xFF, n=1, cls="garbled"):
        with open(self.path(f), "rb") as fh:
            fh.seek(off)
            old = fh.read(n)
        return self.overwrite(f, off, bytes(b ^ xor for b in old), cls)

    def zero(self, f, off, n, cls):
        return self.overwrite(f, off, b"\0" * n, cls)

    def truncate(self, f, cut, unit_start):
        size = os.path.getsize(self.path(f))
        assert unit_start <= cut < size
        os.truncate(self.path(f), cut)
        rec = {"file": f, "offset": unit_start, "length": size - unit_start, "class": "torn"}
        self.list.append(rec)
        return rec

    def zero_tail(self, f, start):
        data = open(self.path(f), "rb").read()
        while data[start] == 0:
            start += 1
        size = len(data)
        with open(self.path(f), "r+b") as fh:
            fh.seek(start)
            fh.write(b"\0" * (size - start))
        rec = {"file": f, "offset": start, "length": size - start, "class": "torn"}
        self.list.append(rec)
        return rec

    def add_file(self, f, content, cls):
        assert not os.path.exists(self.path(f))
        with open(self.path(f), "wb") as fh:
            fh.write(content)
        if cls is not None:
            self.list.append({"file": f, "offset": 0, "length": len(content), "class": cls})

    def remove(self, f):
        os.remove(self.path(f))
        self.removed.append(f)


def check_damage(pristine, damaged, dmg):
    """Every byte that differs between pristine and damaged lies inside a
    declared damage range of its file, and each declared range is tight."""
    pf, df = set(os.listdir(pristine)), set(os.listdir(damaged))
    assert pf - df == set(dmg.removed), (pf - df, dmg.removed)
    by_file = {}
    for d in dmg.list:
        by_file.setdefault(d["file"], []).append(d)
    for f in sorted(df):
        new = open(os.path.join(damaged, f), "rb").read()
        ds = by_file.get(f, [])
        if f not in pf:
            if file_kind(f):
                assert ds and ds[0]["offset"] == 0 and ds[0]["length"] == len(new), f
            continue
        old = open(os.path.join(pristine, f), "rb").read()
        if len(new) < len(old):  # truncation
            assert new == old[:len(new)], f
            (d,) = ds
            assert d["class"] == "torn" and d["offset"] <= len(new) and d["offset"] + d["length"] == len(old)
            continue
        assert len(new) == len(old), f
        diff = [i for i in range(len(old)) if old[i] != new[i]]
        if not ds:
            assert not diff, "undeclared change in %s" % f
            continue
        for i in diff:
            assert any(d["offset"] <= i < d["offset"] + d["length"] for d in ds), (f, i)
        for d in ds:
            assert old[d["offset"]] != new[d["offset"]], (f, d)
            if d["class"] == "garbled":
                e = d["offset"] + d["length"] - 1
                assert old[e] != new[e], (f, d)


# --------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------
def hx(b):
    return None if b is None else b.hex()


def ground_truth(name, note, units, damage):
    universe = []
    for u in units:
        hit = any(d["file"] == u.file and o < d["offset"] + d["length"] and d["offset"] < o + ln
                  for (o, ln) in u.ranges for d in damage)
        for seq, kind, k, v in u.entries:
            universe.append({"seq": seq, "kind": kind, "key_hex": hx(k), "value_hex": hx(v),
                             "file": u.file, "unit_offset": u.offset, "recoverable": not hit})
    seqs = [e["seq"] for e in universe]
    assert len(seqs) == len(set(seqs)), "duplicate sequence numbers"
    by_seq = sorted(universe, key=lambda e: e["seq"])
    final, latest = {}, {}
    for e in by_seq:
        final[e["key_hex"]] = e["value_hex"] if e["kind"] == "put" else None
        if e["recoverable"]:
            latest[e["key_hex"]] = e["value_hex"] if e["kind"] == "put" else None
    latest = {k: v for k, v in latest.items() if v is not None}
    stale = sorted(k for k, v in latest.items() if final.get(k) != v)
    lost = sorted(e["seq"] for e in universe if not e["recoverable"] and file_kind(e["file"]) == "log")
    return {"name": name, "note": note, "damage": damage, "universe": universe,
            "latest": latest, "lost_log_seqs": lost, "stale_keys": stale}


def check_with_leveldb(pristine, units):
    """What C++ LevelDB reads from an undamaged copy must equal the latest
    view computed from our own parse with every entry recoverable."""
    truth = ground_truth("", "", units, [])
    tmp = tempfile.mkdtemp(prefix="ldbfix-check-")
    try:
        cp = os.path.join(tmp, "db")
        shutil.copytree(pristine, cp)
        db = plyvel.DB(cp, paranoid_checks=True)
        got = {k.hex(): v.hex() for k, v in db.iterator()}
        db.close()
    finally:
        shutil.rmtree(tmp)
    assert got == truth["latest"], "our parse disagrees with LevelDB on the pristine store"
    return len(got)


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
FIXTURES = []


def fixture(fn):
    FIXTURES.append(fn)
    return fn


def largest_table(dbdir):
    ts = [f for f in os.listdir(dbdir) if file_kind(f) == "table"]
    return max(sorted(ts), key=lambda f: os.path.getsize(os.path.join(dbdir, f)))


def only_log(dbdir):
    (f,) = [f for f in os.listdir(dbdir) if f.endswith(".log")]
    return f


def build_log_store(dbdir, seed, n_batches, **kw):
    rng = Rng(seed)
    db = open_db(dbdir)
    for ops in workload(rng, n_batches, **kw):
        apply(db, ops)
    db.close()


def build_table_store(dbdir, seed, compression="snappy", bloom=0, block_size=1024, n1=100, n2=40, n3=6):
    """Phase 1 written and compact_range()d into a table; phase 2 (overwrites,
    deletes, new keys) left in the log, then flushed to a level-0 table by log
    recovery when the store is reopened; phase 3 is a short log."""
    rng = Rng(seed)
    opts = dict(block_size=block_size, compression=compression, bloom_filter_bits=bloom)
    db = open_db(dbdir, **opts)
    for i in range(n1):
        if i % 3 == 0:
            db.put(b"blob:%05d" % rng.below(400), rand_value(rng, 20, 60))  # incompressible
        else:
            db.put(b"user:%05d" % rng.below(600), text_value(rng, 30, 130))
    db.compact_range()
    for ops in workload(rng, n2 // 2, 600, prefix=b"user", max_ops=3, del_frac=0.2, vlo=10, vhi=60):
        apply(db, ops)
    for i in range(n2 // 4):
        db.delete(b"user:%05d" % rng.below(600))
    db.close()
    db = open_db(dbdir, **opts)  # recovery writes the old log to a level-0 table
    for ops in workload(rng, n3, 600, prefix=b"user", max_ops=3, vlo=5, vhi=60):
        apply(db, ops)
    db.close()


def table_info(dbdir):
    out = {}
    for f in sorted(os.listdir(dbdir)):
        if file_kind(f) == "table":
            blocks, _ = table_layout(os.path.join(dbdir, f))
            out[f] = blocks
    return out


@fixture
def log_healthy(db, dmg):
    """one log of ~200 batches incl. deletes, a zero-padded block trailer, an
    empty FIRST fragment, a record spanning a block boundary and an empty batch"""
    rng = Rng("log-healthy")
    d = open_db(db)
    batches = workload(rng, 200, 120, max_ops=4, vhi=420)
    batches.insert(100, [])  # an empty WriteBatch: a record with count 0
    write_with_layout(d, db, batches, {0: 3, 2: 7})
    d.close()
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    types = [tuple(t) for _, _, t in recs]
    assert (FIRST, LAST) in types and any(len(t) == 2 and r[0][1] > HEADER for r, _, t in recs)
    assert any(r[0][1] == HEADER and t[0] == FIRST for r, _, t in recs), "no empty FIRST fragment"
    return ("Healthy store: one log (%s, %d records, %d bytes), no tables. Contains a WriteBatch with "
            "count 0 (no entries), a 3-byte zero trailer at the end of block 0, a record starting "
            "with an empty (0-byte) FIRST fragment in the last 7 bytes of block 2, and records "
            "fragmented across block boundaries. Nothing damaged."
            % (f, len(recs), os.path.getsize(os.path.join(db, f))))


@fixture
def log_torn_tail(db, dmg):
    build_log_store(db, "log-torn-tail", 70, keyspace=50, vhi=70)
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    ranges = recs[-3][0]
    start = ranges[0][0]
    end = ranges[-1][0] + ranges[-1][1]
    cut = (start + end) // 2
    dmg.truncate(f, cut, start)
    return ("Power loss: %s truncated at byte %d, in the middle of the third-to-last record "
            "(which starts at %d); that record and the two after it are lost (torn)." % (f, cut, start))


@fixture
def log_zero_tail(db, dmg):
    build_log_store(db, "log-zero-tail", 70, keyspace=50, vhi=70)
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    ranges = recs[-5][0]
    assert len(ranges) == 1 and ranges[0][1] > HEADER + 40
    z = ranges[0][0] + HEADER + 25
    r = dmg.zero_tail(f, z)
    return ("Unwritten tail: %s zeroed from byte %d (inside the payload of the 5th-from-last record, "
            "which starts at %d) to the end of the file; the file keeps its length. The last 5 "
            "records are lost (torn)." % (f, r["offset"], ranges[0][0]))


@fixture
def log_bad_crc(db, dmg):
    build_log_store(db, "log-bad-crc", 70, keyspace=50, vhi=70)
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    i = len(recs) // 2
    while True:  # a FULL record with at least two more records after it in the same block
        r = recs[i][0]
        if (len(r) == 1 and len(recs[i + 2][0]) == 1 and
                recs[i + 2][0][0][0] // BLOCK == r[0][0] // BLOCK):
            break
        i += 1
    off = r[0][0]
    dmg.flip(f, off + 1, xor=0xFF)
    nxt = [recs[j][0][0][0] for j in range(i + 1, len(recs)) if recs[j][0][0][0] // BLOCK == off // BLOCK]
    return ("Byte 1 of the stored CRC of record #%d (a FULL record at offset %d of %s, block %d) "
            "flipped (garbled). Records after it in the same block start at %s and are intact."
            % (i, off, f, off // BLOCK, nxt))


@fixture
def log_bad_length(db, dmg):
    build_log_store(db, "log-bad-length", 70, keyspace=50, vhi=70)
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    r1 = recs[1][0]
    assert len(r1) == 1 and r1[0][0] < BLOCK
    off, total = r1[0]
    ln = total - HEADER
    new = ln + 90
    assert off + HEADER + new <= BLOCK and new < 0x10000
    dmg.overwrite(f, off + 4, struct.pack("<H", new), "garbled")
    follow = [(j, recs[j][0][0][0]) for j in range(2, len(recs)) if recs[j][0][0][0] < BLOCK]
    return ("The length field of the 2nd record of block 0 of %s (record at offset %d) changed from %d "
            "to %d: still inside the block, so a reader that trusts it lands in the middle of the "
            "following record (garbled). Records 0 and 2..%d of block 0 are intact; the records that "
            "follow it in block 0 (index, offset) are %s." % (f, off, ln, new, follow[-1][0], follow))


@fixture
def log_zero_run(db, dmg):
    build_log_store(db, "log-zero-run", 70, keyspace=60, vlo=40, vhi=160)
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    mid = min(os.path.getsize(os.path.join(db, f)), BLOCK) // 2
    i = next(j for j, (r, _, _) in enumerate(recs)
             if r[0][0] > mid and len(r) == 1 and r[0][1] > 120 and len(recs[j - 1][0]) == 1)
    hdr = recs[i][0][0][0]
    start = hdr - 30
    assert start // BLOCK == (start + 100) // BLOCK == hdr // BLOCK
    rec = dmg.zero(f, start, 100, "garbled")
    after = [recs[j][0][0][0] for j in range(i + 1, len(recs)) if recs[j][0][0][0] // BLOCK == hdr // BLOCK]
    return ("A run of 100 zero bytes written at offset %d of %s (block %d): the last 30 bytes of "
            "record #%d and the header plus 63 payload bytes of record #%d (header at %d); changed "
            "span %d+%d (garbled). Readable records follow in the same block at %s."
            % (start, f, hdr // BLOCK, i - 1, i, hdr, rec["offset"], rec["length"], after[:8]))


@fixture
def log_middle_fragment(db, dmg):
    rng = Rng("log-middle-fragment")
    d = open_db(db)
    for ops in workload(rng, 12, 40, vhi=60):
        apply(d, ops)
    d.put(b"big:value", rand_value(rng, 80 * 1024, 80 * 1024))
    for ops in workload(rng, 12, 40, vhi=60):
        apply(d, ops)
    d.close()
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    i = next(j for j, (r, _, t) in enumerate(recs) if len(r) >= 3)
    r, _, types = recs[i]
    assert types[0] == FIRST and types[1] == MIDDLE and types[-1] == LAST
    mo, ml = r[1]
    at = mo + HEADER + (ml - HEADER) // 2
    dmg.flip(f, at, xor=0x20)
    return ("Record #%d of %s (one put of an 80 KiB value) spans %d blocks: fragments (offset, "
            "length incl. header) %s of types %s. One bit flipped at offset %d inside the MIDDLE "
            "fragment's payload (garbled): the whole logical record is lost; the %d records before "
            "it and %d after it are intact." % (i, f, len(r), r, types, at, i, len(recs) - i - 1))


@fixture
def junk_file(db, dmg):
    build_table_store(db, "junk-file", n1=60, n2=24, n3=4)
    rng = Rng("junk-file-bytes")
    dmg.add_file("000099.log", rng.bytes(8192), "garbled")
    dmg.add_file("notes.txt", b"case 4711: copied from the suspect's laptop, do not edit\n", None)
    return ("Healthy store (tables + log) plus two foreign files: 000099.log holds 8 KiB of seeded "
            "random bytes (all garbled; not a valid log record anywhere), notes.txt is not a LevelDB "
            "file at all (not damage; should be ignored / reported as unknown).")


@fixture
def table_healthy_snappy(db, dmg):
    build_table_store(db, "table-healthy-snappy")
    info = table_info(db)
    kinds = {t for bl in info.values() for (_, _, t, _) in bl}
    assert kinds == {0, 1}, kinds
    return ("Healthy store, snappy compression, block_size 1024: tables %s (data blocks: %s) plus a short "
            "log. 'blob:' values are random bytes, so their blocks do not compress and are stored with "
            "compression type 0 even in this snappy store; other blocks are type 1 (snappy). The "
            "level-0 table holds deletion tombstones. Nothing damaged."
            % (sorted(info), {f: len(b) for f, b in info.items()}))


@fixture
def table_healthy_none(db, dmg):
    build_table_store(db, "table-healthy-none", compression=None, bloom=10)
    info = table_info(db)
    lay = {f: [w for (_, _, w) in table_layout(os.path.join(db, f))[1] if w.startswith("meta:")] for f in info}
    return ("Healthy store, compression=None, block_size 1024, with a bloom filter "
            "(bloom_filter_bits=10): every table has a filter block between the data blocks and the "
            "metaindex block (metaindex entry %s) that is not a data block. Tables %s (data blocks: "
            "%s) plus a short log. Nothing damaged."
            % (sorted({w for v in lay.values() for w in v}), sorted(info), {f: len(b) for f, b in info.items()}))


def middle_block(dbdir):
    f = largest_table(dbdir)
    blocks, _ = table_layout(os.path.join(dbdir, f))
    return f, blocks, len(blocks) // 2


@fixture
def table_bitflip(db, dmg):
    build_table_store(db, "table-bitflip")
    f, blocks, i = middle_block(db)
    o, s, t, ents = blocks[i]
    at = o + s // 3
    dmg.flip(f, at, xor=0x04)
    return ("One bit flipped at offset %d of %s, inside data block #%d of %d (offset %d, %d bytes + "
            "trailer, compression type %d, %d entries) (garbled). Other blocks intact."
            % (at, f, i, len(blocks), o, s, t, len(ents)))


@fixture
def table_zero_run(db, dmg):
    build_table_store(db, "table-zero-run", compression=None)
    f, blocks, i = middle_block(db)
    o, s, t, ents = blocks[i]
    assert s > 200
    rec = dmg.zero(f, o + 100, 64, "garbled")
    return ("64 zero bytes written at offset %d of %s (uncompressed store), inside data block #%d of "
            "%d (offset %d, %d bytes + trailer, %d entries); changed span %d+%d (garbled)."
            % (o + 100, f, i, len(blocks), o, s, len(ents), rec["offset"], rec["length"]))


@fixture
def table_truncated(db, dmg):
    build_table_store(db, "table-truncated")
    f = largest_table(db)
    p = os.path.join(db, f)
    blocks, layout = table_layout(p)
    size = os.path.getsize(p)
    cut = int(size * 0.7)
    (o, ln, what) = next(x for x in layout if x[0] <= cut < x[0] + x[1])
    assert what == "data"
    dmg.truncate(f, cut, o)
    whole = sum(1 for (bo, bs, _, _) in blocks if bo + bs + 5 <= o)
    return ("%s (%d bytes) truncated to %d bytes (70%%): footer, index and metaindex gone; the cut "
            "falls inside the data block at offset %d, so damage runs from there to the old end "
            "(torn). The %d data blocks wholly before it are recoverable." % (f, size, cut, o, whole))


@fixture
def table_bad_index(db, dmg):
    build_table_store(db, "table-bad-index", compression=None)
    f = largest_table(db)
    blocks, layout = table_layout(os.path.join(db, f))
    (io, iln, _) = next(x for x in layout if x[2] == "index")
    at = io + (iln - 5) // 2
    rec = dmg.flip(f, at, xor=0xFF, n=3)
    return ("3 bytes flipped at offset %d of %s, inside the index block (offset %d, %d bytes incl. "
            "trailer) (garbled). All %d data blocks are untouched, so all their entries are "
            "recoverable (a salvager has to find them without the index)."
            % (rec["offset"], f, io, iln, len(blocks)))


@fixture
def table_bad_footer(db, dmg):
    build_table_store(db, "table-bad-footer")
    f = largest_table(db)
    size = os.path.getsize(os.path.join(db, f))
    blocks, _ = table_layout(os.path.join(db, f))
    foot = size - FOOTER
    data = open(os.path.join(db, f), "rb").read()[foot:]
    _, _, q = decode_handle(data, exact=False)
    _, _, q2 = decode_handle(data[q:], exact=False)
    assert q + q2 >= 5  # the 4 flipped bytes (footer+1 .. footer+4) lie inside the two handles
    rec = dmg.flip(f, foot + 1, xor=0x55, n=4)
    return ("4 bytes flipped at offset %d of %s, inside the footer's metaindex/index block handles "
            "(footer at %d; magic intact) (garbled). All %d data blocks are untouched and recoverable."
            % (rec["offset"], f, foot, len(blocks)))


@fixture
def table_empty(db, dmg):
    build_table_store(db, "table-empty", n1=60, n2=24, n3=4)
    dmg.add_file("000098.ldb", b"", "torn")
    return ("Healthy store plus an empty (0-byte) table file 000098.ldb, recorded as damage "
            "{offset 0, length 0, class torn}.")


@fixture
def table_noise(db, dmg):
    build_table_store(db, "table-noise", n1=60, n2=24, n3=4)
    dmg.add_file("000097.ldb", Rng("table-noise-bytes").bytes(4096), "garbled")
    return ("Healthy store plus 000097.ldb: 4096 bytes of seeded random noise (no footer, no valid "
            "block), recorded as damage {offset 0, length 4096, class garbled}.")


@fixture
def stale_resurrect(db, dmg):
    rng = Rng("stale-resurrect")
    d = open_db(db, block_size=1024)
    for i in range(80):
        d.put(b"acct:%03d" % i, b"v1:" + text_value(rng, 20, 80))
    d.compact_range()
    plan = [
        ("ok", [("put", b"misc:%03d" % i, text_value(rng, 10, 60)) for i in range(3)]),
        ("lose", [("put", b"acct:%03d" % i, b"v2:" + text_value(rng, 20, 80)) for i in (10, 11, 12, 13, 14)]),
        ("ok", [("put", b"acct:020", b"v2:" + text_value(rng, 20, 80))]),
        ("lose", [("delete", b"acct:%03d" % i, None) for i in (30, 31, 32, 33)]),
        ("ok", [("put", b"acct:012", b"v3:" + text_value(rng, 20, 80)),
                ("delete", b"acct:040", None)]),
        ("lose", [("put", b"acct:050", b"v2:" + text_value(rng, 20, 80)), ("delete", b"acct:051", None),
                  ("put", b"acct:052", b"v1:" + b"")]),
        ("ok", [("put", b"misc:%03d" % i, text_value(rng, 10, 60)) for i in range(3, 6)]),
    ]
    for _, ops in plan:
        apply(d, ops)
    d.close()
    f = only_log(db)
    recs = log_records(os.path.join(db, f))
    assert len(recs) == len(plan)
    lost = []
    for (what, _), (r, payload, _) in zip(plan, recs):
        if what == "lose":
            assert len(r) == 1
            at = r[0][0] + HEADER + 12 + 3  # inside the first entry's key
            dmg.flip(f, at, xor=0x01)
            lost.append(r[0][0])
    return ("80 keys acct:000..079 written (v1) and compacted into a table; then newer writes in %s. "
            "The log records at offsets %s (puts of acct:010-014 (acct:012 is rewritten again later in "
            "an intact record), deletes of acct:030-033, and a batch putting acct:050, deleting acct:051 "
            "and putting acct:052 with an empty value) each have one bit flipped in their payload "
            "(garbled). The older table values survive for those keys, so they are stale; acct:052's "
            "lost value differs from its table value too, acct:012 and acct:020 are not stale."
            % (f, lost))


@fixture
def no_manifest(db, dmg):
    build_table_store(db, "no-manifest")
    for f in sorted(os.listdir(db)):
        if f == "CURRENT" or f.startswith("MANIFEST-"):
            dmg.remove(f)
    return ("Store with tables and a log whose CURRENT and MANIFEST were deleted (%s). No bytes of "
            "any log or table are damaged, so damage is [] and every entry is recoverable; the tool "
            "must work from the .log/.ldb files alone." % ", ".join(dmg.removed))


@fixture
def manifest_damaged(db, dmg):
    rng = Rng("manifest-damaged")
    d = open_db(db, block_size=1024)
    for ops in workload(rng, 40, 300, prefix=b"user", vlo=10, vhi=60):
        apply(d, ops)
    d.compact_range()
    for ops in workload(rng, 30, 300, prefix=b"user", vlo=10, vhi=60):
        apply(d, ops)
    d.compact_range()
    for ops in workload(rng, 10, 300, prefix=b"user", vlo=10, vhi=60):
        apply(d, ops)
    d.close()
    (m,) = [f for f in os.listdir(db) if f.startswith("MANIFEST-")]
    recs = log_records(os.path.join(db, m))
    assert len(recs) >= 2
    r, payload, _ = recs[-1]
    assert len(r) == 1
    at = r[0][0] + HEADER + len(payload) // 2
    dmg.flip(f=m, off=at, xor=0x08)
    return ("%s has %d records (VersionEdits); one bit flipped at offset %d inside the payload of its "
            "last record (at %d, %d bytes) (garbled). Tables and the log are intact; every entry is "
            "recoverable." % (m, len(recs), at, r[0][0], r[0][1]))


@fixture
def binary_keys(db, dmg):
    rng = Rng("binary-keys")

    def bkey(i):
        kind = i % 5
        if kind == 0:
            return b"\xff\x00" + i.to_bytes(2, "big") + rng.bytes(rng.randint(0, 6))
        if kind == 1:
            return b"\x00" * rng.randint(1, 3) + i.to_bytes(2, "big")
        if kind == 2 and i % 10 == 2:
            return b"long:" + i.to_bytes(2, "big") + rng.bytes(rng.randint(1030, 1300))
        if kind == 3:
            return b"\xc3\x28\xfe" + i.to_bytes(2, "big") + b"\xff" * rng.randint(0, 3)
        return b"plain:%04d" % i

    keys = [b""] + [bkey(i) for i in range(60)]

    def bval():
        r = rng.below(4)
        if r == 0:
            return b""
        if r == 1:
            return b"\xff\xfe\x00" + rng.bytes(rng.randint(0, 60))
        return rng.bytes(rng.randint(1, 200))

    d = open_db(db, block_size=1024)
    for k in keys:
        d.put(k, bval())
    d.compact_range()
    for i in range(40):
        ops = []
        for _ in range(rng.randint(1, 3)):
            k = rng.choice(keys)
            ops.append(("delete", k, None) if rng.chance(0.2) else ("put", k, bval()))
        apply(d, ops)
    for i in range(60, 70):  # some keys only in the log, incl. long ones
        apply(d, [("put", bkey(i), bval())])
    d.close()
    return ("Binary keys and values (0xff, 0x00, invalid UTF-8), the empty key, empty values, and "
            "keys longer than 1 KiB (1037-1307 bytes, bigger than block_size 1024), in a table and in "
            "the log (overwrites and deletes of table keys, plus log-only keys). Nothing damaged.")


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
def fixture_name(fn):
    return fn.__name__.replace("_", "-")


def make(fn, out, keep_pristine=False):
    name = fixture_name(fn)
    fdir = os.path.join(out, name)
    shutil.rmtree(fdir, ignore_errors=True)
    os.makedirs(fdir)
    tmp = tempfile.mkdtemp(prefix="ldbfix-")
    try:
        pristine = os.path.join(tmp, "db")
        os.makedirs(pristine)
        dmg = Damage(pristine, os.path.join(fdir, "db"))
        note = fn(pristine, dmg)
        dmg.ensure_copy()
        clean_dir(pristine)
        units = analyze(pristine)
        n_live = check_with_leveldb(pristine, units)
        check_damage(pristine, dmg.dbdir, dmg)
        truth = ground_truth(name, note, units, dmg.list)
        if keep_pristine:
            shutil.copytree(pristine, os.path.join(fdir, "pristine"))
    finally:
        shutil.rmtree(tmp)
    with open(os.path.join(fdir, "expected.json"), "w") as fh:
        json.dump(truth, fh, sort_keys=True, separators=(",", ":"))
        fh.write("\n")
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(fdir) for f in fs)
    rec = sum(e["recoverable"] for e in truth["universe"])
    print("%-22s %7d bytes  %4d entries  %4d recoverable  %3d live  %2d stale  damage=%s"
          % (name, size, len(truth["universe"]), rec, n_live, len(truth["stale_keys"]),
             [(d["file"], d["offset"], d["length"], d["class"]) for d in truth["damage"]]))


def main(argv):
    out = DEFAULT_OUT
    only = None
    keep = "--keep-pristine" in argv
    if "--out" in argv:
        out = os.path.abspath(argv[argv.index("--out") + 1])
    if "--only" in argv:
        only = set(argv[argv.index("--only") + 1].split(","))
    names = [fixture_name(fn) for fn in FIXTURES]
    if only and only - set(names):
        sys.exit("unknown fixture(s): %s" % ", ".join(sorted(only - set(names))))
    os.makedirs(out, exist_ok=True)
    if not only:  # the whole directory is generated: drop fixtures that no longer exist
        for d in sorted(os.listdir(out)):
            if d not in names and os.path.isdir(os.path.join(out, d)):
                shutil.rmtree(os.path.join(out, d))
    for fn in FIXTURES:
        if not only or fixture_name(fn) in only:
            make(fn, out, keep)


if __name__ == "__main__":
    main(sys.argv)
