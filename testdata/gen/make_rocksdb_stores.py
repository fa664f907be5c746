#!/usr/bin/env python3
"""Generate the RocksDB fixture stores under testdata/rocksdb/ (issue 14):
healthy stores written by two real RocksDB libraries, damaged copies of one,
and a truth.json beside each (see testdata/README.md, "RocksDB stores").

Writers:
  * Debian librocksdb-dev 7.8.3 through testdata/gen/rocksdb_writer/writer.cc
    (format_version 5; merges, single deletes, WAL tracking in the MANIFEST);
  * PyPI rocksdict 0.3.29 (bundles RocksDB 9.8.4; format_version 6), driven
    from this script.
Damaged copies (DAMAGE): of cf-ops-crc32c-snappy (WAL and table damage), of
blob-zstd (a bit of a blob value flipped, prefixed blob-zstd-), of
rd-fv6-xxh3-lz4 (table damage, names prefixed fv6-) and of
rd-fv6-recycle-crc32c-zstd (damage to its reused WAL, prefixed recycle-);
of walz-zstd-bzip2 (a compressed WAL record that verifies but does not
decompress, prefixed walz-).
The ground truth of every healthy store is RocksDB's own iterator over it,
opened read-only with paranoid checks (dump.cc for the 7.8.3 stores; rocksdict
read-only for the format_version 6 ones, which 7.8.3 cannot read), and it is
checked here against a model of the ops before it is written.

usage:
  make_rocksdb_stores.py [--out DIR] [--bin DIR] [--only NAME]
      --bin: where writer and dump are (built there if missing; default
      target/rocksdb-tools). Needs g++, librocksdb-dev, and rocksdict in the
      running Python (e.g. target/rocksdict-venv/bin/python).
  make_rocksdb_stores.py --damage NAME [--out DIR] [--bin DIR]
      the damaged copies of the committed healthy store NAME (a key of
      DAMAGE) made again, the store itself left as it is.
  make_rocksdb_stores.py --dump DBDIR
      the rocksdict judge: prints every column family's entries of a store as
      JSON lines {"cf","key_hex","value_hex"} (read-only; exit 1 on failure).
  make_rocksdb_stores.py --probe HEALTHY.sst DAMAGED.sst
      dump.cc --probe through rocksdict, for format_version 6 tables: JSON
      lines {"cf","lost_key_hex","value_hex"} / {"table_unreadable"}.
"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "testdata", "rocksdb")
SRC = os.path.join(HERE, "rocksdb_writer")


# ---------------------------------------------------------------- ops + model


class Ops:
    """The ops of one store, kept as writer lines and applied to a model."""

    def __init__(self):
        self.lines = []
        self.cfs = ["default"]  # in creation order: the index is the CF id
        self.dropped = []
        self.model = {"default": {}}

    def opt(self, name, value):
        self.lines.append(("opt", name, str(value)))

    def op(self, *a):
        self.lines.append(a)
        kind = a[0]
        if kind == "create_cf":
            self.cfs.append(a[1])
            self.model[a[1]] = {}
        elif kind == "drop_cf":
            self.dropped.append(a[1])
            del self.model[a[1]]
        elif kind == "put":
            self.model[a[1]][a[2]] = a[3]
        elif kind == "merge":
            m = self.model[a[1]]
            m[a[2]] = m[a[2]] + b"," + a[3] if a[2] in m else a[3]
        elif kind in ("del", "sdel"):
            self.model[a[1]].pop(a[2], None)
        elif kind == "delrange":
            m = self.model[a[1]]
            for k in [k for k in m if a[2] <= k < a[3]]:
                del m[k]

    def text(self):
        out = []
        for a in self.lines:
            f = [a[0]]
            for x in a[1:]:
                f.append((x.hex() or "-") if isinstance(x, bytes) else x)
            out.append(" ".join(f))
        return "\n".join(out) + "\n"

    def expected(self):
        return {cf: sorted(self.model[cf].items()) for cf in self.model}


def val(rng, tag, n):
    """A value of n bytes: a readable tag, repetitive filler, a random tail
    (so blocks compress, but not to nothing)."""
    head = tag + b":"
    rand = bytes(rng.randrange(256) for _ in range(n // 4))
    fill = (b"abcdefgh" * n)[: max(0, n - len(head) - len(rand))]
    return head + fill + rand


def ops_cf_ops(o, merges=True, crash=False):
    """Several column families, a dropped one; merges, single deletes, range
    deletes, deletes, overwrites; tables at L1 and L0 and a WAL tail, part of
    it synced."""
    rng = random.Random(14)
    o.op("open")
    for cf in ("users", "counters", "scratch"):
        o.op("create_cf", cf)
    for i in range(150):
        o.op("put", "users", b"user%04d" % i, val(rng, b"u%d" % i, 60))
    for i in range(20):
        for s in (b"a", b"b"):
            if merges:
                o.op("merge", "counters", b"ctr%02d" % i, s + b"%d" % i)
            else:
                o.op("put", "counters", b"ctr%02d" % i, s + b"%d" % i)
    for i in range(60):
        o.op("put", "default", b"d%03d" % i, val(rng, b"d%d" % i, 40))
    for i in range(10):
        o.op("put", "scratch", b"s%d" % i, b"scratch value %d" % i)
    for cf in ("default", "users", "counters", "scratch"):
        o.op("flush", cf)
    for cf in ("default", "users", "counters"):
        o.op("compact", cf)  # L0 -> L1
    # second generation, flushed to L0 over the L1 tables
    for i in range(30):
        o.op("put", "users", b"user%04d" % i, val(rng, b"u%d v2" % i, 50))
    for i in range(30, 40):
        o.op("del", "users", b"user%04d" % i)
    for i in range(40, 45):  # each put once, never overwritten: SingleDelete is defined
        o.op("sdel" if merges else "del", "users", b"user%04d" % i)
    o.op("delrange", "users", b"user0100", b"user0121")
    for i in range(0, 20, 2):
        o.op("merge" if merges else "put", "counters", b"ctr%02d" % i, b"c%d" % i)
    for i in range(60, 80):
        o.op("put", "default", b"d%03d" % i, val(rng, b"d%d" % i, 40))
    o.op("drop_cf", "scratch")
    for cf in ("default", "users", "counters"):
        o.op("flush", cf)
    # third generation: only in the WAL; synced, then not
    for i in range(150, 180):
        o.op("put", "users", b"user%04d" % i, val(rng, b"u%d" % i, 60))
    o.op("put", "users", b"user0001", b"overwritten in the WAL")
    o.op("del", "users", b"user0002")
    o.op("delrange", "users", b"user0050", b"user0056")
    for i in range(5):
        o.op("merge" if merges else "put", "counters", b"ctr%02d" % i, b"w%d" % i)
    o.op("syncwal" if merges else "flushwal")
    for i in range(180, 190):
        o.op("put", "users", b"user%04d" % i, val(rng, b"u%d unsynced" % i, 60))
    for i in range(5, 8):
        o.op("merge" if merges else "put", "counters", b"ctr%02d" % i, b"x%d" % i)
    o.op("put", "default", b"d999", b"last write, unsynced")
    # only default is flushed: a new WAL starts; the old one, now closed,
    # synced and (with WAL tracking) recorded in the MANIFEST with its size,
    # stays live for users and counters, while its default-CF writes are
    # older than default's log number and must not be replayed
    o.op("flush", "default")
    for i in range(190, 195):
        o.op("put", "users", b"user%04d" % i, val(rng, b"u%d newest WAL" % i, 60))
    o.op("merge" if merges else "put", "counters", b"ctr10", b"y10")
    o.op("put", "default", b"d998", b"in the newest WAL")
    if crash:
        o.op("crash")


def ops_recycle(o, users="users"):
    """WAL recycling: a big first WAL, flushed; a second, flushed (the first
    is now reused under a new number); a few writes into the reused file, so
    its tail still holds records of its previous life. users="default" keeps
    it to one column family (7.8.3 crashes in DBImpl::MarkLogsSynced when a
    flush syncs closed recycled logs with more than one column family)."""
    rng = random.Random(7)
    o.op("open")
    if users != "default":
        o.op("create_cf", users)
    for i in range(120):
        o.op("put", users, b"user%04d" % i, val(rng, b"gen1 u%d" % i, 80))
    o.op("flush", users)
    if users != "default":
        o.op("flush", "default")
    for i in range(20):
        o.op("put", "default", b"d%03d" % i, val(rng, b"gen2 d%d" % i, 60))
    o.op("flush", "default")
    if users != "default":
        o.op("flush", users)
    o.op("compact", users)
    for i in range(0, 120, 7):
        o.op("put", users, b"user%04d" % i, val(rng, b"gen3 u%d" % i, 30))
    o.op("del", users, b"user0005")
    o.op("flushwal")
    o.op("put", "default", b"d000", b"gen3 overwrite")
    o.op("crash")  # a clean close would truncate the reused WAL's stale tail


def ops_walz(o):
    """Two column families: a first generation flushed to (bzip2) tables,
    then overwrites, deletes, a range delete and one 33 KB value (a record
    of several fragments, overwritten later) left in the zstd-compressed
    WAL."""
    rng = random.Random(3)
    o.op("open")
    o.op("create_cf", "users")
    for i in range(200):
        o.op("put", "users", b"user%04d" % i, val(rng, b"u%d" % i, 60))
    for i in range(60):
        o.op("put", "default", b"d%03d" % i, val(rng, b"d%d" % i, 40))
    o.op("flush", "users")
    o.op("flush", "default")
    for i in range(0, 200, 3):
        o.op("put", "users", b"user%04d" % i, val(rng, b"u%d v2" % i, 50))
    for i in range(10, 20):
        o.op("del", "users", b"user%04d" % i)
    o.op("delrange", "users", b"user0150", b"user0160")
    o.op("put", "default", b"big", bytes(rng.randrange(256) for _ in range(33000)))
    for i in range(60, 100):
        o.op("put", "default", b"d%03d" % i, val(rng, b"d%d" % i, 40))
    # overwritten, so that truth.json need not hold the 33 KB in hex
    o.op("put", "default", b"big", b"overwritten later in the WAL")
    o.op("flushwal")


def ops_blob(o):
    """BlobDB: default+users, values of min_blob_size (256) and more go to
    .blob files when a memtable is flushed, smaller ones stay in the tables.
    Two flushes (two generations of blob files, the second overwriting and
    deleting keys of the first), then a WAL tail of large and small values
    (not yet in any blob file)."""
    rng = random.Random(21)
    o.op("open")
    o.op("create_cf", "users")
    for i in range(36):
        n = 300 + (i % 4) * 200 if i % 3 else 60
        o.op("put", "default", b"k%03d" % i, val(rng, b"v%d" % i, n))
    for i in range(12):
        o.op("put", "users", b"user%02d" % i, val(rng, b"u%d" % i, 400 if i % 2 else 50))
    o.op("flush", "default")
    o.op("flush", "users")
    for i in range(0, 36, 4):
        o.op("put", "default", b"k%03d" % i, val(rng, b"v%d gen2" % i, 500))
    for i in range(1, 36, 9):
        o.op("del", "default", b"k%03d" % i)
    for i in range(36, 44):
        o.op("put", "default", b"k%03d" % i, val(rng, b"v%d" % i, 700))
    o.op("flush", "default")
    for i in range(2, 36, 10):
        o.op("put", "default", b"k%03d" % i, val(rng, b"v%d wal" % i, 400 if i % 4 else 30))
    o.op("put", "users", b"user00", val(rng, b"u0 wal", 350))
    o.op("flushwal")


# ---------------------------------------------------------------- stores

STORES = {
    "cf-ops-crc32c-snappy": dict(
        writer="cpp",
        opts=dict(checksum="crc32c", compression="snappy", data_block_hash=1,
                  block_size=1024, track_wals=1),
        ops=ops_cf_ops,
        features="default+users+counters, dropped CF scratch; stringappend merges, "
                 "single deletes, DeleteRange, deletes, overwrites; tables at L1 and L0, "
                 "WAL tail (SyncWAL then unsynced writes); track_and_verify_wals_in_manifest; "
                 "data-block hash index; CRC-32C; snappy",
    ),
    "cf-ops-xxh3-lz4": dict(
        writer="cpp",
        opts=dict(checksum="xxh3", compression="lz4", block_size=1024, track_wals=1),
        ops=ops_cf_ops,
        features="the same ops as cf-ops-crc32c-snappy; XXH3; lz4; binary-search "
                 "data blocks; track_and_verify_wals_in_manifest",
    ),
    "recycle-xxh3-zstd": dict(
        writer="cpp",
        opts=dict(checksum="xxh3", compression="zstd", index="partitioned",
                  block_size=512, recycle_log_file_num=2, wal_recovery="skip"),
        ops=lambda o: ops_recycle(o, users="default"),
        features="one column family; recycle_log_file_num=2 (7.8.3 keeps it only with "
                 "kSkipAnyCorruptedRecords): the live WAL is a reused file with a stale "
                 "tail; partitioned index (kTwoLevelIndexSearch); XXH3; zstd; tables at L1 and L0",
    ),
    "rd-fv6-xxh3-lz4": dict(
        writer="rocksdict",
        opts=dict(checksum="xxh3", compression="lz4", data_block_hash=1, block_size=1024),
        ops=lambda o: ops_cf_ops(o, merges=False, crash=True),
        features="format_version 6 (RocksDB 9.8.4); default+users+counters, dropped CF "
                 "scratch; DeleteRange, deletes, overwrites (rocksdict has no merge operator "
                 "or SingleDelete: puts and deletes instead); tables at L1 and L0, WAL tail "
                 "(FlushWAL(sync) then unsynced writes); data-block hash index; XXH3; lz4",
    ),
    "rd-fv6-recycle-crc32c-zstd": dict(
        writer="rocksdict",
        opts=dict(checksum="crc32c", compression="zstd", index="partitioned",
                  block_size=512, recycle_log_file_num=2, wal_recovery="pit"),
        ops=ops_recycle,
        features="format_version 6; recycle_log_file_num=2 with kPointInTimeRecovery: "
                 "the live WAL is a reused file with a stale tail; partitioned index; "
                 "CRC-32C; zstd",
    ),
    "walz-zstd-bzip2": dict(
        writer="cpp",
        opts=dict(checksum="crc32c", compression="bzip2", wal_compression="zstd"),
        ops=ops_walz,
        features="default+users; wal_compression=zstd (a kSetCompressionType record, then "
                 "each record's payload one zstd frame, one of several fragments); tables "
                 "compressed with bzip2; overwrites, deletes, DeleteRange in the WAL",
    ),
    "blob-zstd": dict(
        writer="cpp",
        opts=dict(checksum="crc32c", compression="snappy", enable_blob_files=1,
                  min_blob_size=256, blob_compression_type="zstd"),
        ops=ops_blob,
        features="BlobDB (enable_blob_files, min_blob_size=256, blob_compression_type=zstd): "
                 "default+users; values of 256 bytes and more in .blob files, table entries "
                 "of type kTypeBlobIndex pointing at them; two generations of blob files "
                 "(overwrites and deletes of blob-held keys), a WAL tail of large and small "
                 "values; tables CRC-32C, snappy",
    ),
}

DAMAGED_FROM = "cf-ops-crc32c-snappy"


# ---------------------------------------------------------------- writers


def build_tools(bindir):
    os.makedirs(bindir, exist_ok=True)
    for name in ("writer", "dump"):
        exe = os.path.join(bindir, name)
        if not os.path.exists(exe):
            subprocess.run(["g++", "-std=c++17", "-O1", "-o", exe,
                            os.path.join(SRC, name + ".cc"), "-lrocksdb"], check=True)
    return os.path.join(bindir, "writer"), os.path.join(bindir, "dump")


def write_cpp(writer, d, o):
    r = subprocess.run([writer, d], input=o.text().encode(), capture_output=True, check=True)
    return r.stdout


def rocksdict_options(opts, create):
    import rocksdict as r
    opt = r.Options(raw_mode=True)
    opt.create_if_missing(create)
    opt.create_missing_column_families(create)
    opt.set_paranoid_checks(True)
    opt.set_disable_auto_compactions(True)
    opt.set_max_background_jobs(1)
    t = r.BlockBasedOptions()
    ck = opts.get("checksum")
    if ck:
        t.set_checksum_type({"crc32c": r.ChecksumType.crc32c(), "xxh3": r.ChecksumType.xxh3()}[ck])
    if opts.get("index") == "partitioned":
        t.set_index_type(r.BlockBasedIndexType.two_level_index_search())
        t.set_metadata_block_size(256)
    if opts.get("data_block_hash"):
        t.set_data_block_index_type(r.DataBlockIndexType.binary_and_hash())
    if "block_size" in opts:
        t.set_block_size(opts["block_size"])
    t.set_format_version(6)
    opt.set_block_based_table_factory(t)
    c = opts.get("compression")
    if c:
        opt.set_compression_type(getattr(r.DBCompressionType, c)())
    if "recycle_log_file_num" in opts:
        opt.set_recycle_log_file_num(opts["recycle_log_file_num"])
    if opts.get("wal_recovery") == "pit":
        opt.set_wal_recovery_mode(r.DBRecoveryMode.point_in_time())
    return opt


def write_rocksdict(d, name):
    """Runs a store's ops through rocksdict in a child process: a `crash` op
    ends it with os._exit (rocksdict's close() and its drop flush the
    memtables, and a clean close truncates a reused WAL's stale tail)."""
    subprocess.run([sys.executable, __file__, "--rocksdict-write", name, d], check=True)


def write_rocksdict_here(d, name):
    import gc

    import rocksdict as r
    spec = STORES[name]
    o = Ops()
    spec["ops"](o)
    opt = rocksdict_options(spec["opts"], True)
    db = handles = None
    for a in o.lines:
        k = a[0]
        if k == "opt":
            continue
        if k == "open":
            db = r.Rdict(d, opt)
            handles = {"default": db}
        elif k == "create_cf":
            handles[a[1]] = db.create_column_family(a[1], opt)
        elif k == "drop_cf":
            h = handles.pop(a[1])
            del h
            gc.collect()
            db.drop_column_family(a[1])
        elif k == "put":
            handles[a[1]].put(a[2], a[3])
        elif k == "del":
            handles[a[1]].delete(a[2])
        elif k == "delrange":
            handles[a[1]].delete_range(a[2], a[3])
        elif k == "flush":
            handles[a[1]].flush(True)
        elif k == "compact":
            handles[a[1]].compact_range(None, None)
        elif k in ("flushwal", "syncwal"):
            db.flush_wal(True)
        elif k == "crash":
            sys.stdout.flush()
            os._exit(0)
        else:
            raise ValueError("rocksdict writer: unsupported op %r" % (k,))
    handles.clear()
    del db
    gc.collect()


def rocksdict_dump(d, with_tables=False):
    """Every CF's entries through rocksdict (RocksDB 9.8.4), read-only."""
    import gc

    import rocksdict as r
    opt = r.Options(raw_mode=True)
    opt.set_paranoid_checks(True)
    names = r.Rdict.list_cf(d, opt)
    db = r.Rdict(d, opt, column_families={n: r.Options(raw_mode=True) for n in names if n != "default"},
                 access_type=r.AccessType.read_only())
    out = []
    for n in names:
        h = db if n == "default" else db.get_column_family(n)
        ro = r.ReadOptions()
        ro.set_verify_checksums(True)
        it = h.iter(ro)
        it.seek_to_first()
        while it.valid():
            out.append({"cf": n, "key_hex": it.key().hex(), "value_hex": it.value().hex()})
            it.next()
        it.status()  # raises when the iteration stopped on an error
        del it, h
    tables = []
    if with_tables:
        for f in db.live_files():
            tables.append(dict(file=f["name"].lstrip("/"), level=f["level"],
                               smallest_key_hex=f["start_key"].hex(), largest_key_hex=f["end_key"].hex(),
                               entries=f["num_entries"], deletions=f["num_deletions"]))
        tables.sort(key=lambda t: t["file"])
    del db
    gc.collect()
    return (out, tables) if with_tables else out


def rocksdict_probe(healthy, damaged):
    """dump.cc --probe through rocksdict (RocksDB 9.8.4), for format_version 6
    tables, which 7.8.3 cannot open: the entries of the healthy table that
    its damaged copy cannot give back, as JSON-able rows ({"cf",
    "lost_key_hex", "value_hex"}, or {"table_unreadable"}). rocksdict has no
    SstFileReader: each table is made a store of its own by RocksDB's
    RepairDB (which keeps the file, its number and its column family, from
    its properties), the healthy one read by its iterator, and each of its
    keys read back (Get, checksums verified) from the same store with the
    damaged table in its place."""
    import gc
    import tempfile

    import rocksdict as r
    name = os.path.basename(healthy)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        h = os.path.join(tmp, "h")
        os.makedirs(h)
        shutil.copyfile(healthy, os.path.join(h, name))
        r.Rdict.repair(h, r.Options(raw_mode=True))
        d = os.path.join(tmp, "d")
        shutil.copytree(h, d)
        assert open(os.path.join(h, name), "rb").read() == open(healthy, "rb").read()
        shutil.copyfile(damaged, os.path.join(d, name))

        def opened(path, paranoid=True):
            opt = r.Options(raw_mode=True)
            # the damaged copy is judged by the table reader, not by the
            # repaired MANIFEST's record of the file's size
            opt.set_paranoid_checks(paranoid)
            names = r.Rdict.list_cf(path, opt)
            db = r.Rdict(path, opt, column_families={n: r.Options(raw_mode=True) for n in names
                                                     if n != "default"},
                         access_type=r.AccessType.read_only())
            return db, {n: db if n == "default" else db.get_column_family(n) for n in names}

        ro = r.ReadOptions()
        ro.set_verify_checksums(True)
        db, hs = opened(h)
        entries = []
        for n, cf in hs.items():
            it = cf.iter(ro)
            it.seek_to_first()
            while it.valid():
                entries.append((n, it.key(), it.value()))
                it.next()
            it.status()
            del it
        del cf, hs, db
        gc.collect()
        try:
            db, hs = opened(d, paranoid=False)
        except Exception as e:  # RocksDB cannot open the table
            rows.append({"table_unreadable": str(e)})
            db = hs = None
        errors = []
        for n, k, v in entries:
            same = False
            if hs is not None:
                try:
                    same = hs[n].get(k, read_opt=ro) == v
                except Exception as e:
                    errors.append(str(e))
            if not same:
                rows.append({"cf": n, "lost_key_hex": k.hex(), "value_hex": v.hex()})
        if hs is not None and entries and len(errors) == len(entries):
            # every read failed: the table itself could not be opened
            rows.insert(0, {"table_unreadable": errors[0].replace(tmp, "")})
        del hs, db
        gc.collect()
    return rows


def cpp_dump(dump, d):
    r = subprocess.run([dump, d], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("dump %s: %s" % (d, r.stderr.decode()))
    return [json.loads(l) for l in r.stdout.decode().splitlines()]


def by_cf(entries):
    cfs = {}
    for e in entries:
        cfs.setdefault(e["cf"], []).append([e["key_hex"], e["value_hex"]])
    return cfs


def options_version(d):
    for n in sorted(os.listdir(d)):
        if n.startswith("OPTIONS-"):
            for line in open(os.path.join(d, n)):
                if line.strip().startswith("rocksdb_version="):
                    return line.strip().split("=", 1)[1]
    return None


def tidy(d):
    """Removes LOG, LOCK and rocksdict's config file, and rewrites the rest
    so no file keeps the space RocksDB preallocated past its end (a store
    left by a `crash` holds megabytes of it)."""
    for n in os.listdir(d):
        p = os.path.join(d, n)
        if n in ("LOG", "LOCK", "rocksdict-config.json") or n.startswith("LOG.old"):
            os.remove(p)
        else:
            data = open(p, "rb").read()
            os.remove(p)
            with open(p, "wb") as f:
                f.write(data)


# ---------------------------------------------------------------- WAL parsing

BLOCK = 32768


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc32c_table()


def crc32c(b, crc=0):
    crc ^= 0xFFFFFFFF
    for x in b:
        crc = CRC_TABLE[(crc ^ x) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(crc):  # util/crc32c.h Mask
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def physical(data, off):
    """The physical record at off: (type, header length, payload, log number)
    or None when none with a good CRC starts there. Legacy headers are 7
    bytes (crc, length, type 1-4), recyclable ones 11 (type 5-8, then the
    log number); the CRC covers type, log number and payload
    (db/log_format.h, db/log_writer.cc)."""
    if off + 7 > len(data) or BLOCK - off % BLOCK < 7:
        return None
    crc, ln, t = struct.unpack_from("<IHB", data, off)
    hdr = 11 if 5 <= t <= 8 else 7
    if not 1 <= t <= 9 or off + hdr + ln > len(data) or off % BLOCK + hdr + ln > BLOCK:
        return None
    payload = data[off + hdr: off + hdr + ln]
    if masked(crc32c(payload, crc32c(data[off + 6: off + hdr]))) != crc:
        return None
    logno = struct.unpack_from("<I", data, off + 7)[0] if hdr == 11 else None
    return t, hdr, payload, logno


def wal_records(data, start=0, logno=None):
    """The logical records of a WAL from start: (start, end, payload,
    log number), up to the first bad CRC, unknown type, zero padding or
    (recyclable) record of another log number. After a kSetCompressionType
    record (type 9, wal_compression) each payload is one zstd frame
    (db/log_writer.cc): returned decompressed."""
    recs, off, cur, first, z = [], start, None, None, False
    while off < len(data):
        left = BLOCK - off % BLOCK
        if left < 7:
            off += left
            continue
        p = physical(data, off)
        if p is None:
            break
        t, hdr, frag, no = p
        if logno is not None and no != logno:
            break
        base = t - 4 if hdr == 11 else t
        unz = unzstd if z else (lambda b: b)
        if base == 9:
            z = struct.unpack_from("<I", frag)[0] == 7
        elif base == 1:
            recs.append((off, off + hdr + len(frag), unz(frag), no))
        elif base == 2:
            cur, first = frag, off
        elif base == 3 and cur is not None:
            cur += frag
        elif base == 4 and cur is not None:
            recs.append((first, off + hdr + len(frag), unz(cur + frag), no))
            cur = None
        else:
            break
        off += hdr + len(frag)
    return recs


def unzstd(b):
    """One zstd frame decompressed (by the zstd tool: no Python binding here)."""
    if not b:
        return b
    return subprocess.run(["zstd", "-d", "-c", "-q"], input=b, capture_output=True,
                          check=True).stdout


def stale_records(data, start):
    """Physical records with a good CRC after start (a reused WAL's tail
    from its previous life): their log numbers and count."""
    found, off = {}, start
    while off < len(data):
        p = physical(data, off)
        if p is None:
            off += 1
            continue
        found[p[3]] = found.get(p[3], 0) + 1
        off += p[1] + len(p[2])
    return found


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def lenpref(b, i):
    n, i = varint(b, i)
    return b[i:i + n], i + n


# write_batch.cc / dbformat.h value types; CF variants carry a varint32 CF id
BATCH_OPS = {1: ("put", False, 2), 0: ("del", False, 1), 2: ("merge", False, 2),
             7: ("sdel", False, 1), 0xF: ("delrange", False, 2),
             5: ("put", True, 2), 4: ("del", True, 1), 6: ("merge", True, 2),
             8: ("sdel", True, 1), 0xE: ("delrange", True, 2)}


def batch_writes(payload, cfs):
    seq, count = struct.unpack_from("<QI", payload, 0)
    i, out = 12, []
    for n in range(count):
        tag = payload[i]
        i += 1
        name, has_cf, nfields = BATCH_OPS[tag]
        cf = 0
        if has_cf:
            cf, i = varint(payload, i)
        k, i = lenpref(payload, i)
        w = {"seq": seq + n, "cf": cfs[cf], "op": name, "key_hex": k.hex()}
        if nfields == 2:
            v, i = lenpref(payload, i)
            w["end_key_hex" if name == "delrange" else "value_hex"] = v.hex()
        out.append(w)
    return out


def manifest_wals(data):
    """The WAL additions and deletions a MANIFEST records (VersionEdit tags
    kWalAddition2 / kWalDeletion2, db/version_edit.h and db/wal_edit.h):
    [{"add": log number, "synced_size": n or None}, {"delete_before": n}]."""
    out, cf_log = [], {}
    for rec in wal_records(data):
        b, i, cf, log = rec[2], 0, 0, None
        while i < len(b):
            tag, i = varint(b, i)
            if tag == 2:  # log number: the column family's data below it is in tables
                log, i = varint(b, i)
            elif tag == 200:
                cf, i = varint(b, i)
            elif tag in (3, 4, 9, 10):  # next file, last seq, prev log, min log
                _, i = varint(b, i)
            elif tag == 1 or tag == 201:  # comparator, column family add
                _, i = lenpref(b, i)
            elif tag in (203, 300):  # max column family, atomic group
                _, i = varint(b, i)
            elif tag == 202:  # column family drop
                pass
            elif tag == 5:  # compact cursor
                _, i = varint(b, i)
                _, i = lenpref(b, i)
            elif tag == 6:  # deleted file
                _, i = varint(b, i)
                _, i = varint(b, i)
            elif tag == 103:  # new file 4
                for _ in range(3):
                    _, i = varint(b, i)
                _, i = lenpref(b, i)
                _, i = lenpref(b, i)
                _, i = varint(b, i)
                _, i = varint(b, i)
                while True:
                    ct, i = varint(b, i)
                    if ct == 1:
                        break
                    _, i = lenpref(b, i)
            elif tag in (400, 401):  # blob file addition / garbage
                for _ in range(3):  # number, count, bytes
                    _, i = varint(b, i)
                if tag == 400:  # checksum method and value
                    _, i = lenpref(b, i)
                    _, i = lenpref(b, i)
                while True:  # custom fields up to tag 0
                    ct, i = varint(b, i)
                    if ct == 0:
                        break
                    _, i = lenpref(b, i)
            elif tag & 8192:  # forward-compatible: length-prefixed
                f, i = lenpref(b, i)
                if tag == 8192 + 7:  # kWalAddition2
                    no, j = varint(f, 0)
                    w = {"add": no, "synced_size": None}
                    while j < len(f):
                        t, j = varint(f, j)
                        if t == 1:
                            break
                        if t == 2:
                            w["synced_size"], j = varint(f, j)
                        else:
                            _, j = lenpref(f, j)
                    out.append(w)
                elif tag == 8192 + 8:  # kWalDeletion2
                    out.append({"delete_before": varint(f, 0)[0]})
            else:
                out.append({"unknown_tag": tag})
                break
        if log is not None:
            cf_log[cf] = log
    return out, cf_log


# ---------------------------------------------------------------- damage


def copy_store(src, name, out):
    dst = os.path.join(out, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(os.path.join(src, "db"), os.path.join(dst, "db"))
    return os.path.join(dst, "db")


def live_wal(d):
    """The WAL with the most bytes (in cf-ops: the older live one, whose
    synced size the MANIFEST records)."""
    logs = sorted(n for n in os.listdir(d) if n.endswith(".log"))
    return max(logs, key=lambda n: os.path.getsize(os.path.join(d, n)))


# Which healthy stores get damaged copies, and how: the copies of
# cf-ops-crc32c-snappy keep their original names; the others are prefixed.
DAMAGE = {
    "cf-ops-crc32c-snappy": dict(prefix="", wal=True, tables=True),
    "rd-fv6-xxh3-lz4": dict(prefix="fv6-", wal=False, tables=True),
    "rd-fv6-recycle-crc32c-zstd": dict(prefix="recycle-", wal=True, tables=False),
    "walz-zstd-bzip2": dict(prefix="walz-", wal=False, tables=False, zwal=True),
    "blob-zstd": dict(prefix="blob-zstd-", wal=False, tables=False, blob=True),
}


def damage_all(out, dump, healthy_truth, cfs, src_name=DAMAGED_FROM):
    spec = DAMAGE[src_name]
    pre = spec["prefix"]
    rocksdict_store = STORES[src_name]["writer"] == "rocksdict"
    src = os.path.join(out, src_name)
    hd = os.path.join(src, "db")
    variants = {}
    if spec["wal"]:
        damage_wal(src, hd, pre, out, healthy_truth, cfs, variants)
    if spec["tables"]:
        damage_tables(src, hd, pre, out, healthy_truth, dump, rocksdict_store, variants)
    if spec.get("zwal"):
        damage_zwal(src, hd, pre, out, healthy_truth, cfs, variants)
    if spec.get("blob"):
        damage_blob(src, hd, pre, out, healthy_truth, cfs, variants)
    for name, v in variants.items():
        v["healthy"] = src_name
        # what RocksDB itself makes of the damaged store (informative)
        t = os.path.join(out, name, "tmp-copy")
        shutil.copytree(os.path.join(out, name, "db"), t)
        if rocksdict_store:
            r = subprocess.run([sys.executable, __file__, "--dump", t], capture_output=True)
            key = "rocksdb_9_8_4_read_only_open"
        else:
            r = subprocess.run([dump, t], capture_output=True)
            key = "rocksdb_7_8_3_read_only_open"
        shutil.rmtree(t)
        v[key] = ("ok, %d entries" % len(r.stdout.splitlines()) if r.returncode == 0
                  else r.stderr.decode().strip().replace(t + "/", "").replace(t, "db"))
        with open(os.path.join(out, name, "truth.json"), "w") as f:
            json.dump(dict(damaged_from=src_name, damage=v, encoding="hex"), f, indent=1)
            f.write("\n")


def damage_wal(src, hd, pre, out, healthy_truth, cfs, variants):
    wal = live_wal(hd)
    data = open(os.path.join(hd, wal), "rb").read()
    walno = int(wal.split(".")[0])
    recyclable = len(data) >= 7 and 5 <= data[6] <= 8
    hdr = 11 if recyclable else 7
    # a reused WAL: its own records only, not its stale tail's
    recs = wal_records(data, logno=walno if recyclable else None)
    # the synced size the MANIFEST records for this WAL (WAL tracking), if any
    synced = next((w["synced_size"] for w in healthy_truth["manifest_wal_edits"]
                   if w.get("add") == walno), None)

    # torn WAL: cut in the middle of a record two thirds through the log
    r = recs[len(recs) * 2 // 3]
    cut = r[0] + (r[1] - r[0]) // 2
    d = copy_store(src, pre + "wal-torn", out)
    with open(os.path.join(d, wal), "r+b") as f:
        f.truncate(cut)
    cf_log = healthy_truth["cf_log_numbers"]

    def split(writes):
        """Writes of a column family whose log number is past this WAL are
        in its tables already: not lost."""
        return ([w for w in writes if cf_log[w["cf"]] <= walno],
                [w for w in writes if cf_log[w["cf"]] > walno])

    lost, flushed = split([w for rec in recs if rec[1] > cut for w in batch_writes(rec[2], cfs)])
    durable = synced is not None and cut < synced
    variants[pre + "wal-torn"] = dict(
        file=wal, kind="truncate", offset=cut, original_size=len(data),
        expected_class="torn",
        recyclable_format=recyclable, manifest_synced_size=synced,
        note="the log is cut in the middle of a record; that record and every one after it are "
             "gone, except writes of column families already flushed past this WAL "
             "(damaged_writes_already_in_tables)" +
             ("; the cut is inside the size the MANIFEST says was synced "
              "(manifest_synced_size): a reader told it was durable calls it garbled" if durable else "") +
             ("; the reused file's stale tail is cut off with it" if recyclable else ""),
        expected_lost_writes=lost, damaged_writes_already_in_tables=flushed)

    # garbled WAL record mid-block: 16 bytes of a record's payload overwritten,
    # intact records after it
    r = recs[len(recs) // 2]
    at = r[0] + hdr + (r[1] - r[0] - hdr) // 2
    assert at + 16 <= r[1] and at // BLOCK == r[0] // BLOCK and r[1] < len(data), (r[:2], at)
    d = copy_store(src, pre + "wal-garbled", out)
    with open(os.path.join(d, wal), "r+b") as f:
        f.seek(at)
        f.write(b"\xa5" * 16)
    variants[pre + "wal-garbled"] = dict(
        file=wal, kind="overwrite", offset=at, length=16, byte=0xA5, expected_class="garbled",
        recyclable_format=recyclable, manifest_synced_size=synced,
        note="one record's payload overwritten (its CRC no longer matches); the records after it are intact",
        record_range=[r[0], r[1]], expected_lost_writes=split(batch_writes(r[2], cfs))[0],
        damaged_writes_already_in_tables=split(batch_writes(r[2], cfs))[1],
        intact_records_after=sum(1 for x in recs if x[0] >= r[1]))


def damage_zwal(src, hd, pre, out, healthy_truth, cfs, variants):
    """A compressed WAL's record mid-block garbled as wal-garbled is (16
    bytes of 0xA5), but at the start of its payload (the zstd frame header)
    and with the record's CRC made to match again: it verifies and does not
    decompress."""
    wal = live_wal(hd)
    data = bytearray(open(os.path.join(hd, wal), "rb").read())
    walno = int(wal.split(".")[0])
    recs = wal_records(bytes(data))
    full = [r for r in recs if data[r[0] + 6] == 1]
    r = full[len(full) // 2]
    at = r[0] + 7
    assert r[1] - at >= 16 and r[1] < len(data) and r[0] // BLOCK == r[1] // BLOCK, r[:2]
    data[at:at + 16] = b"\xa5" * 16
    data[r[0]:r[0] + 4] = struct.pack("<I", masked(crc32c(bytes(data[r[0] + 6:r[1]]))))
    d = copy_store(src, pre + "wal-garbled", out)
    with open(os.path.join(d, wal), "wb") as f:
        f.write(data)
    cf_log = healthy_truth["cf_log_numbers"]
    writes = batch_writes(r[2], cfs)
    variants[pre + "wal-garbled"] = dict(
        file=wal, kind="overwrite", offset=at, length=16, byte=0xA5, crc_resealed=True,
        expected_class="garbled",
        note="the zstd frame header of one compressed record overwritten and the record's "
             "CRC recomputed: the record verifies but does not decompress; the records "
             "after it are intact",
        record_range=[r[0], r[1]],
        expected_lost_writes=[w for w in writes if cf_log[w["cf"]] <= walno],
        damaged_writes_already_in_tables=[w for w in writes if cf_log[w["cf"]] > walno],
        intact_records_after=sum(1 for x in recs if x[0] >= r[1]))


def blob_records(data):
    """The records of a blob file (db/blob/blob_log_format.h): a 30-byte
    header (magic, version, column family id, flags, compression, expiration
    range), records of a 32-byte header (key length, value length,
    expiration: fixed64; header CRC, blob CRC: fixed32) then key and value,
    and a 32-byte footer. [(start, end, key, stored value)]; the column
    family id and compression from the header."""
    magic, version, cf, _flags, comp = struct.unpack_from("<IIIBB", data, 0)
    assert (magic, version) == (0x00248F37, 1), (magic, version)
    recs, off, end = [], 30, len(data) - 32
    while off < end:
        klen, vlen, _exp, hcrc, bcrc = struct.unpack_from("<QQQII", data, off)
        assert masked(crc32c(data[off:off + 24])) == hcrc
        k = data[off + 32: off + 32 + klen]
        v = data[off + 32 + klen: off + 32 + klen + vlen]
        assert masked(crc32c(v, crc32c(k))) == bcrc
        recs.append((off, off + 32 + klen + vlen, k, v))
        off += 32 + klen + vlen
    assert off == end and struct.unpack_from("<I", data, end)[0] == 0x00248F37
    return cf, comp, recs


def blob_value(stored, comp):
    """A stored blob value decompressed (compression format version 2: a
    varint32 uncompressed size, then the stream; zstd only here)."""
    if comp == 0:
        return stored
    assert comp == 7, comp
    n, i = varint(stored, 0)
    v = unzstd(stored[i:])
    assert len(v) == n
    return v


def blob_files(d, cfs):
    out = []
    for n in sorted(x for x in os.listdir(d) if x.endswith(".blob")):
        data = open(os.path.join(d, n), "rb").read()
        cf, comp, recs = blob_records(data)
        out.append(dict(file=n, size=len(data), cf=cfs[cf], compression=comp,
                        records=[[r[0], r[1], r[2].hex()] for r in recs]))
    return out


def damage_blob(src, hd, pre, out, healthy_truth, cfs, variants):
    """One bit of a blob value flipped: in the largest blob file, the record
    in its middle whose value is the visible value of its key."""
    blobs = sorted((n for n in os.listdir(hd) if n.endswith(".blob")),
                   key=lambda n: (-os.path.getsize(os.path.join(hd, n)), n))
    name = blobs[0]
    data = open(os.path.join(hd, name), "rb").read()
    cf, comp, recs = blob_records(data)
    visible = dict(map(tuple, healthy_truth["entries"][cfs[cf]]))
    live = [r for r in recs if visible.get(r[2].hex()) == blob_value(r[3], comp).hex()]
    assert len(live) >= 3, len(live)
    r = live[len(live) // 2]
    at = r[1] - len(r[3]) // 2
    assert r[0] + 32 + len(r[2]) < at < r[1]
    d = copy_store(src, pre + "value-bitflip", out)
    with open(os.path.join(d, name), "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x10]))
    variants[pre + "value-bitflip"] = dict(
        file=name, kind="bitflip", offset=at, mask=0x10, expected_class="garbled",
        record_range=[r[0], r[1]], cf=cfs[cf], blob_key_hex=r[2].hex(),
        expected_unresolved_keys=[r[2].hex()],
        note="one bit flipped in the stored (zstd) value of one blob record, whose value is "
             "its key's visible one; the record's blob CRC fails. The key's table entry (a "
             "blob index) is intact: its value cannot be read (expected_unresolved_keys); "
             "every other record of the file is intact")


def damage_tables(src, hd, pre, out, healthy_truth, dump, rocksdict_store, variants):
    # tables: the largest one
    ssts = sorted((n for n in os.listdir(hd) if n.endswith(".sst")),
                  key=lambda n: (-os.path.getsize(os.path.join(hd, n)), n))
    sst = ssts[0]
    size = os.path.getsize(os.path.join(hd, sst))

    table = dict([t for t in healthy_truth["tables"] if t["file"] == sst][0])
    judge = ("rocksdict, RocksDB 9.8.4: the table made a store by RepairDB, each key read "
             "back by Get (make_rocksdb_stores.py rocksdict_probe)" if rocksdict_store else
             "RocksDB 7.8.3: SstFileReader, Seek per key (dump --probe)")

    def probe(d):
        if rocksdict_store:
            rows = rocksdict_probe(os.path.join(hd, sst), os.path.join(d, sst))
        else:
            r = subprocess.run([dump, "--probe", os.path.join(hd, sst), os.path.join(d, sst)],
                               capture_output=True, check=True)
            rows = [json.loads(l) for l in r.stdout.decode().splitlines()]
        lost = [x for x in rows if "lost_key_hex" in x]
        # rocksdict's live_files does not name a table's column family:
        # RepairDB found it in the table's properties
        if "cf" not in table and lost:
            table["cf"] = lost[0]["cf"]
        visible = dict(map(tuple, healthy_truth["entries"][table["cf"]]))
        return dict(
            expected_lost_keys=[x["lost_key_hex"] for x in lost],
            # whose visible value in the store is the one in this table (not
            # overwritten, deleted or merged onto by newer data)
            expected_lost_visible_keys=[x["lost_key_hex"] for x in lost
                                        if visible.get(x["lost_key_hex"]) == x["value_hex"]],
            table_unreadable=[x["table_unreadable"] for x in rows if "table_unreadable" in x])

    at = size * 2 // 5  # inside a data block in the middle of the table's data
    d = copy_store(src, pre + "table-bitflip", out)
    with open(os.path.join(d, sst), "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x10]))
    pr = probe(d)
    assert pr["expected_lost_visible_keys"] and not pr["table_unreadable"], pr
    variants[pre + "table-bitflip"] = dict(
        file=sst, table=table, kind="bitflip", offset=at, mask=0x10, expected_class="garbled",
        note="one bit flipped in a data block in the middle of the table; that block's "
             "checksum fails. expected_lost_keys: the keys of this table RocksDB can "
             "no longer read from it (%s); expected_lost_visible_keys: those whose value in "
             "the store came from this table" % judge,
        **pr)

    for name, keep, note in (
            ("table-footer-torn", size - 20, "the last 20 bytes (part of the footer, with its magic) cut"),
            ("table-cut70", size * 7 // 10, "the table cut at 70% of its size")):
        d = copy_store(src, pre + name, out)
        with open(os.path.join(d, sst), "r+b") as f:
            f.truncate(keep)
        pr = probe(d)
        assert pr["table_unreadable"], pr
        variants[pre + name] = dict(
            file=sst, table=table, kind="truncate", offset=keep, original_size=size,
            expected_class="torn", note=note + "; RocksDB cannot open the table "
            "(table_unreadable), so every visible entry in it is listed as lost "
            "(table.entries counts tombstones too)", **pr)


# ---------------------------------------------------------------- main


def make_store(name, spec, out, writer, dump):
    o = Ops()
    for k, v in spec["opts"].items():
        o.opt(k, v)
    spec["ops"](o)
    target = os.path.join(out, name)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    d = os.path.join(target, "db")
    tables = []
    if spec["writer"] == "cpp":
        if o.lines[-1][0] == "crash":
            o.lines.insert(len(o.lines) - 1, ("files",))
        else:
            o.op("files")
        stdout = write_cpp(writer, d, o)
        tables = [json.loads(l) for l in stdout.decode().splitlines()]
        tidy(d)
        entries = cpp_dump(dump, d)
        lib = "RocksDB %s (Debian librocksdb-dev, testdata/gen/rocksdb_writer/writer.cc)" % options_version(d)
        fv = 5
    else:
        write_rocksdict(d, name)
        entries, tables = rocksdict_dump(d, with_tables=True)
        tidy(d)
        import rocksdict
        lib = "RocksDB %s (PyPI rocksdict %s)" % (options_version(d), getattr(rocksdict, "__version__", "0.3.29"))
        fv = 6
    got = by_cf(entries)
    want = {cf: [[k.hex(), v.hex()] for k, v in kv] for cf, kv in o.expected().items()}
    for cf in want:
        got.setdefault(cf, [])
    if got != want:
        for cf in want:
            if got[cf] != want[cf]:
                print("MISMATCH in", name, cf, file=sys.stderr)
                g, w = dict(map(tuple, got[cf])), dict(map(tuple, want[cf]))
                for k in sorted(set(g) | set(w)):
                    if g.get(k) != w.get(k):
                        print("  ", bytes.fromhex(k), g.get(k), w.get(k), file=sys.stderr)
        raise SystemExit(1)
    wals = []
    for n in sorted(os.listdir(d)):
        if n.endswith(".log"):
            data = open(os.path.join(d, n), "rb").read()
            no = int(n.split(".")[0])
            recycl = len(data) >= 7 and 5 <= data[6] <= 8
            recs = wal_records(data, logno=no if recycl else None)
            end = recs[-1][1] if recs else 0
            w = dict(file=n, size=len(data), records=len(recs), records_end=end,
                     recyclable_format=recycl,
                     writes=sum(struct.unpack_from("<I", r[2], 8)[0] for r in recs))
            if recycl and end < len(data):
                w["stale_tail"] = dict(range=[end, len(data)], records_by_log_number={
                    str(k): v for k, v in sorted(stale_records(data, end).items())})
            wals.append(w)
    manifest = [n for n in os.listdir(d) if n.startswith("MANIFEST-")][0]
    mwals, cf_log = manifest_wals(open(os.path.join(d, manifest), "rb").read())
    assert not any("unknown_tag" in w for w in mwals), mwals
    opts = dict(spec["opts"])
    opts.setdefault("checksum", "xxh3")
    opts.setdefault("index", "binary")
    opts.update(comparator="leveldb.BytewiseComparator", format_version=fv,
                merge_operator="stringappend (delimiter ',')" if spec["writer"] == "cpp" else None)
    truth = dict(
        library=lib, features=spec["features"], options=opts, encoding="hex",
        column_families=[o.cfs[0]] + [c for c in o.cfs[1:] if c not in o.dropped],
        cf_ids={c: i for i, c in enumerate(o.cfs)}, dropped_column_families=o.dropped,
        tables=tables, wals=wals, manifest=manifest, manifest_wal_edits=mwals,
        cf_log_numbers={o.cfs[k]: v for k, v in sorted(cf_log.items())}, entries=got,
        blob_files=blob_files(d, o.cfs),
        judge="RocksDB's iterator over the undamaged store opened read-only with "
              "paranoid_checks (%s), checked against a model of the ops" %
              ("dump.cc" if spec["writer"] == "cpp" else "rocksdict"))
    with open(os.path.join(target, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    print("%-28s %6d bytes  %s" % (name, size, sorted(os.listdir(d))))
    return truth, o


def main():
    a = sys.argv[1:]
    if a[:1] == ["--rocksdict-write"]:
        write_rocksdict_here(a[2], a[1])
        return
    if a[:1] == ["--dump"]:
        try:
            for e in rocksdict_dump(a[2] if a[1:2] == ["--"] else a[1]):
                print(json.dumps(e))
        except Exception as e:  # the judge's verdict, not a crash
            print("rocksdict dump: %s" % e, file=sys.stderr)
            sys.exit(1)
        return
    if a[:1] == ["--probe"]:
        for row in rocksdict_probe(a[1], a[2]):
            print(json.dumps(row))
        return
    out = a[a.index("--out") + 1] if "--out" in a else OUT
    bindir = a[a.index("--bin") + 1] if "--bin" in a else os.path.join(ROOT, "target", "rocksdb-tools")
    only = a[a.index("--only") + 1] if "--only" in a else None
    damage_only = "--damage" in a
    if damage_only:
        only = a[a.index("--damage") + 1]
    writer, dump = build_tools(bindir)
    for name, spec in STORES.items():
        if only and only != name:
            continue
        if damage_only:
            if name not in DAMAGE:
                continue
            truth = json.load(open(os.path.join(out, name, "truth.json")))
            o = Ops()
            spec["ops"](o)
        else:
            truth, o = make_store(name, spec, out, writer, dump)
        if name in DAMAGE:
            damage_all(out, dump, truth, o.cfs, name)


if __name__ == "__main__":
    main()
