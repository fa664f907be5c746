#!/usr/bin/env python3
"""Fixtures from two more LevelDB writers, five damage variants each
(writers_damage.py):

    testdata/writers/rusty/<variant>/         rusty-leveldb 4.0.2 (crates.io),
                                              written by rusty_writer/
    testdata/writers/leveldb-1.23/<variant>/  Debian's libleveldb-dev 1.23,
                                              written by leveldb123/writer.cc

Each writer program writes the store (`write DIR`) and is its own judge
(`dump DIR`: paranoid checks, every key and value as hex JSON), run on a
copy of the pristine store for expected.json's "latest". Needs cargo (and
the network, once, for the crate), g++ and libleveldb-dev + libsnappy-dev.
Run with any python3 that has plyvel (make_fixtures.py, whose parsers it
uses, imports it): /work/venv-btc/bin/python make_writers_rusty_123.py [rusty|leveldb-1.23]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import writers_damage

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "writers")


def rusty(build):
    subprocess.check_call(["cargo", "build", "--release", "--quiet", "--manifest-path",
                           os.path.join(HERE, "rusty_writer", "Cargo.toml"), "--target-dir", build])
    return os.path.join(build, "release", "rusty_writer")


def leveldb123(build):
    exe = os.path.join(build, "leveldb123-writer")
    subprocess.check_call(["g++", "-O2", "-o", exe, os.path.join(HERE, "leveldb123", "writer.cc"),
                           "-lleveldb", "-lsnappy"])
    return exe


WRITERS = {
    "rusty": ("rusty-leveldb 4.0.2", rusty),
    "leveldb-1.23": ("Debian libleveldb-dev 1.23", leveldb123),
}


def main(argv):
    names = argv[1:] or list(WRITERS)
    build = os.path.join(tempfile.gettempdir(), "ldbsalvage-writers-build")
    os.makedirs(build, exist_ok=True)
    for name in names:
        writer, how = WRITERS[name]
        exe = how(build)
        with tempfile.TemporaryDirectory() as t:
            db = os.path.join(t, "db")
            subprocess.check_call([exe, "write", db])
            judge = os.path.join(t, "judge")
            shutil.copytree(db, judge)
            latest = json.loads(subprocess.check_output([exe, "dump", judge]))
            writers_damage.make(db, os.path.join(OUT, name), writer, latest)
        print(name, "done")


if __name__ == "__main__":
    main(sys.argv)
