#!/usr/bin/env python3
"""Basho/eleveldb fixtures: stores written by the real basho/leveldb fork
(`basho_writer` from ../shared/writers, see its README), then damaged.

    python3 testdata/gen/make_basho.py [--writer PATH/basho_writer] [--out DIR]

Writes testdata/basho/<variant>/db and expected.json. Deterministic: putw is
given an explicit write time and putx an explicit expiry (2100-01-01, so the
expiry module never hides one), the writer settles after every batch, and
LOG, LOG.old and LOCK are removed. The latest view in expected.json is what
basho's own library returns (`basho_writer COPY --dump [--expiry]`) on a copy
of the undamaged store (a dump opens the store, so it runs on a copy).
"""
import argparse, json, os, shutil, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
E = 4102444800000000  # 2100-01-01 in microseconds
T = 1700000000000000


def k(i):
    return ("key%05d" % i).encode().hex()


def v(i, n=24):
    return (("val%05d-" % i) * 10)[:n].encode().hex()


def ops(crash=False):
    out = []
    for i in range(300):
        m = i % 10
        if m == 3:
            out.append(f"putw {k(i)} {v(i)} {T + i}")
        elif m == 7:
            out.append(f"putx {k(i)} {v(i)} {E + i}")
        else:
            out.append(f"put {k(i)} {v(i)}")
        if i % 5 == 4:
            out.append("batch")
    out.append("reopen")
    for i in range(0, 300, 11):
        out.append(f"del {k(i)}")
    out.append("batch")
    out.append("compact")
    # A second table, left in sst_0 or moved by the flush: the reopen.
    for i in range(400, 460):
        out.append(f"put {k(i)} {v(i, 20)}")
        if i % 6 == 5:
            out.append("batch")
    out.append("reopen")
    for i in range(300, 400):
        m = i % 10
        if m == 3:
            out.append(f"putw {k(i)} {v(i)} {T + i}")
        elif m == 7:
            out.append(f"putx {k(i)} {v(i)} {E + i}")
        else:
            out.append(f"put {k(i % 350)} {v(i)}")
        if i % 4 == 3:
            out.append("batch")
    out.append("del " + k(5))
    out.append("batch")
    if crash:
        out.append("crash")
    return "\n".join(out) + "\n"


def run(writer, db, expiry, text, extra=()):
    args = [writer, db] + (["--expiry"] if expiry else []) + list(extra)
    subprocess.run(args, input=text.encode(), check=True, stderr=subprocess.DEVNULL)
    for junk in ("LOG", "LOG.old", "LOCK"):
        p = os.path.join(db, junk)
        if os.path.exists(p):
            os.remove(p)


def dump(writer, db, expiry):
    with tempfile.TemporaryDirectory() as t:
        c = os.path.join(t, "db")
        shutil.copytree(db, c)
        out = subprocess.run([writer, c, "--dump"] + (["--expiry"] if expiry else []),
                             check=True, capture_output=True).stdout.decode()
    latest, exp = {}, {}
    for line in out.splitlines():
        parts = line.split(" ")
        key, val = parts[0], parts[1] if len(parts) > 1 else ""
        latest[key] = "" if val == "-" else val
        if len(parts) > 2:
            t = int(parts[2].split("=")[1])
            e = int(parts[3].split("=")[1])
            exp[key] = {"type": t, "expiry": e}
    return latest, exp


def log_records(data):
    """(offset, payload) of the FULL records of a log (fixtures stay in one
    block per record; anything else stops the walk)."""
    recs, off = [], 0
    while off + 7 <= len(data):
        blk_left = 32768 - off % 32768
        if blk_left < 7:
            off += blk_left
            continue
        length, typ = struct.unpack_from("<H", data, off + 4)[0], data[off + 6]
        if typ == 0 and length == 0:
            break
        if typ != 1:
            raise SystemExit(f"record type {typ} at {off}: fixture layout changed")
        recs.append((off, data[off + 7: off + 7 + length]))
        off += 7 + length
    return recs


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7f) << s
        s += 7
        if c < 0x80:
            return r, i


def batch_keys(p):
    """User keys of a basho WriteBatch (types 0, 1, 2 and 3)."""
    count = struct.unpack_from("<I", p, 8)[0]
    i, keys = 12, []
    for _ in range(count):
        t = p[i]
        i += 1
        n, i = varint(p, i)
        keys.append(p[i:i + n].hex())
        i += n
        if t in (2, 3):
            _, i = varint(p, i)
        if t in (1, 2, 3):
            n, i = varint(p, i)
            i += n
    return keys


def largest_table(db):
    import glob
    return max(sorted(glob.glob(os.path.join(db, "sst_*", "*.sst"))), key=os.path.getsize)


def only(db, pattern):
    import glob
    got = sorted(glob.glob(os.path.join(db, pattern)))
    if len(got) != 1:
        raise SystemExit(f"{pattern}: {got}")
    return got[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writer", default="/work/fork-writers/bin/basho_writer")
    ap.add_argument("--out", default=os.path.join(ROOT, "testdata", "basho"))
    a = ap.parse_args()
    variants = {}
    with tempfile.TemporaryDirectory() as tmp:
        def make(name, expiry=True, crash=False, extra=()):
            db = os.path.join(tmp, name, "db")
            os.makedirs(os.path.dirname(db))
            run(a.writer, db, expiry, ops(crash), extra)
            return db
        for name, expiry, crash, extra in [
            ("healthy", True, False, ()),
            ("plain", False, False, ()),
            ("torn-log", True, False, ()),
            ("garbled-log", True, False, ()),
            ("table-bitflip", True, False, ()),
            ("torn-footer", True, False, ()),
            ("crash", True, True, ("--write-buffer=65536",)),
        ]:
            db = make(name, expiry, crash, extra)
            latest, exp = dump(a.writer, db, expiry)
            dst = os.path.join(a.out, name)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(db, os.path.join(dst, "db"))
            ddb = os.path.join(dst, "db")
            damage, lost_keys, note = [], set(), ""
            if name == "torn-log":
                log = only(ddb, "*.log")
                data = open(log, "rb").read()
                recs = log_records(data)
                off, p = recs[-3]
                cut = off + 7 + len(p) // 2
                os.truncate(log, cut)
                damage.append({"file": os.path.basename(log), "offset": off,
                               "length": len(data) - off, "class": "torn"})
                for _, p in recs[-3:]:
                    lost_keys.update(batch_keys(p))
                note = f"log cut at {cut}, inside the third-to-last record (at {off}): it and the two after it are lost"
            elif name == "garbled-log":
                log = only(ddb, "*.log")
                data = bytearray(open(log, "rb").read())
                recs = log_records(bytes(data))
                off, p = recs[len(recs) // 2]
                at = off + 7 + len(p) // 2
                data[at] ^= 0x5a
                open(log, "wb").write(data)
                damage.append({"file": os.path.basename(log), "offset": off,
                               "length": 7 + len(p), "class": "garbled"})
                lost_keys.update(batch_keys(p))
                note = f"one payload byte at {at} changed in the record at {off} (of {len(recs)}); the records after it are intact"
            elif name == "table-bitflip":
                t = largest_table(ddb)
                data = bytearray(open(t, "rb").read())
                data[100] ^= 0x10
                open(t, "wb").write(data)
                damage.append({"file": os.path.relpath(t, ddb), "offset": 100,
                               "length": 1, "class": "garbled"})
                note = "one bit flipped at offset 100, inside the first data block of the largest table"
            elif name == "torn-footer":
                t = largest_table(ddb)
                size = os.path.getsize(t)
                os.truncate(t, size - 20)
                damage.append({"file": os.path.relpath(t, ddb), "offset": size - 48,
                               "length": 48, "class": "torn"})
                note = "the table's last 20 bytes (most of its footer) cut off"
            elif name == "crash":
                note = "the writer stopped like kill -9 after its last batch: the log and the MANIFEST keep their zero-filled preallocated tails"
            elif name == "plain":
                note = "written without the expiry module: MANIFEST tag 7 instead of 11; types 2 and 3 still stored"
            else:
                note = "written with the expiry module; nothing damaged"
            variants[name] = {"name": name, "note": note, "expiry_module": expiry,
                              "damage": damage, "lost_keys": sorted(lost_keys),
                              "latest": latest, "expiry": exp}
    for name, e in variants.items():
        with open(os.path.join(a.out, name, "expected.json"), "w") as f:
            json.dump(e, f, sort_keys=True, separators=(",", ":"))
            f.write("\n")
    print("wrote", ", ".join(variants), "under", a.out)


if __name__ == "__main__":
    main()
