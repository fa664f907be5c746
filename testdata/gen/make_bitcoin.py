#!/usr/bin/env python3
"""A Bitcoin Core chainstate-like store, written with plyvel==1.5.1 (C++
LevelDB) following Bitcoin Core's scheme (src/dbwrapper.cpp, dbwrapper.h,
util/obfuscation.h, txdb.cpp):

  - LevelDB options as GetOptions() sets them: no compression, a 10-bit
    bloom filter, paranoid checks;
  - the first write into the empty store is the obfuscation key alone:
    key "\\x0e\\x00obfuscate_key" (the 14-byte string "\\0obfuscate_key" with
    its compact-size length), value 0x08 + 8 key bytes, stored as is;
  - every other value is XORed with the 8-byte key repeated;
  - keys as CCoinsViewDB writes them: 'C' + txid (32 bytes) + VARINT(vout)
    for coins, 'B' for the best block hash, 'H' (the head blocks, written
    before a flush's coins and erased after it), each flush one batch.

The store: a first session (the key, then 8 flushes of new coins), closed
and reopened so that its log becomes a table (which starts with the key),
then 12 flushes spending coins and adding new ones, left in the log. From
it writers_damage.py makes the five variants under testdata/writers/bitcoin/;
latest.json adds "obfuscate_key_hex" and "deobfuscated" (every value but
the key's own, XORed back). testdata/writers/bitcoin/young/ is a store of the
first session only, never reopened: the key is still in the log.

usage: /work/venv-btc/bin/python make_bitcoin.py   (plyvel==1.5.1)
"""
import json
import os
import random
import shutil
import tempfile

import plyvel

import writers_damage

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "writers", "bitcoin")
OBFUSCATE_KEY = b"\x0e\x00obfuscate_key"


def varint(n):
    """Bitcoin's VARINT (serialize.h): base 128, most significant first,
    each continued byte one less."""
    out = [n & 0x7F]
    while n > 0x7F:
        n = (n >> 7) - 1
        out.append((n & 0x7F) | 0x80)
    return bytes(reversed(out))


def xor(value, key):
    return bytes(v ^ key[i % 8] for i, v in enumerate(value))


class Chain:
    def __init__(self, db, key, rng):
        self.db, self.key, self.rng = db, key, rng
        self.height = 0
        self.tip = bytes(32)
        self.unspent = []

    def put(self, wb, k, v):
        wb.put(k, xor(v, self.key))

    def coin(self, height, coinbase):
        # Coin: VARINT(height*2+coinbase), compressed amount, script (a
        # P2PKH script is type 0 + 20 bytes).
        amount = self.rng.randrange(1, 5_000_000_000)
        return varint(height * 2 + coinbase) + varint(amount) + b"\x00" + self.rng.randbytes(20)

    def flush(self, spend, new):
        """One block connected: one batch, as CCoinsViewDB::BatchWrite."""
        self.height += 1
        block = self.rng.randbytes(32)
        wb = self.db.write_batch()
        wb.delete(b"B")
        self.put(wb, b"H", b"\x02" + block + self.tip)
        for _ in range(min(spend, len(self.unspent))):
            wb.delete(self.unspent.pop(self.rng.randrange(len(self.unspent))))
        for i in range(new):
            txid = self.rng.randbytes(32)
            for vout in range(self.rng.choice([1, 1, 2, 3])):
                k = b"C" + txid + varint(vout)
                self.put(wb, k, self.coin(self.height, i == 0))
                self.unspent.append(k)
        wb.delete(b"H")
        self.put(wb, b"B", block)
        wb.write()
        self.tip = block


def open_db(path):
    return plyvel.DB(path, create_if_missing=True, compression=None, bloom_filter_bits=10,
                     paranoid_checks=True)


def session_one(path, key, rng):
    db = open_db(path)
    # CDBWrapper: the key is written alone, unobfuscated, into the empty store.
    db.put(OBFUSCATE_KEY, b"\x08" + key)
    chain = Chain(db, key, rng)
    for _ in range(8):
        chain.flush(0, 10)
    db.close()
    return chain


def read_back(path):
    """What plyvel (paranoid checks) reads, on a copy (opening recovers)."""
    with tempfile.TemporaryDirectory() as t:
        c = os.path.join(t, "db")
        shutil.copytree(path, c)
        db = plyvel.DB(c, paranoid_checks=True)
        latest = {k.hex(): v.hex() for k, v in db.iterator(fill_cache=False)}
        db.close()
    return latest


def extra(latest, key):
    return {
        "obfuscate_key_hex": key.hex(),
        "deobfuscated": {
            k: xor(bytes.fromhex(v), key).hex()
            for k, v in latest.items()
            if bytes.fromhex(k) != OBFUSCATE_KEY
        },
    }


def main():
    rng = random.Random(20261202)
    key = rng.randbytes(8)
    with tempfile.TemporaryDirectory() as t:
        db = os.path.join(t, "db")
        chain = session_one(db, key, rng)
        chain.db = open_db(db)  # the reopen writes the log into a table
        for _ in range(12):
            chain.flush(3, 2)
        chain.db.close()
        latest = read_back(db)
        writers_damage.make(db, OUT, "C++ LevelDB 1.22 (plyvel 1.5.1), Bitcoin Core's scheme",
                            latest, extra(latest, key))
    with tempfile.TemporaryDirectory() as t:
        db = os.path.join(t, "db")
        ykey = rng.randbytes(8)
        session_one(db, ykey, rng)
        writers_damage.clean(db)
        young = os.path.join(OUT, "young")
        if os.path.exists(young):
            shutil.rmtree(young)
        shutil.copytree(db, os.path.join(young, "db"))
        latest = read_back(db)
        truth = {"damage": [], "affected_keys": [], "history": {}, "latest": latest}
        truth.update(extra(latest, ykey))
        with open(os.path.join(young, "expected.json"), "w") as fh:
            json.dump(truth, fh, sort_keys=True)
            fh.write("\n")
    print("bitcoin done")


if __name__ == "__main__":
    main()
