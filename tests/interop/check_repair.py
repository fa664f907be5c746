"""Open a rebuilt store with C++ LevelDB (plyvel, paranoid checks) and hold
it against the salvage's exports: every key of the latest view answers its
value, every other key of the all view (deleted, or only history) answers
nothing, the store iterates to exactly the latest view, and all of it still
holds after compact_range(). usage: check_repair.py DB LATEST_JSONL ALL_JSONL
Prints 'ok PUTS GONE' or raises."""
import base64
import json
import sys

import plyvel


def field(o, name):
    if name in o:
        return o[name].encode()
    return base64.b64decode(o[name + "_base64"])


def lines(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def check(db, want, gone, when):
    got = list(db.iterator(verify_checksums=True, fill_cache=False))
    assert got == want, f"{when}: store holds {len(got)} pairs, latest view {len(want)}; first difference at " + str(
        next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want))))
    for k, v in want:
        assert db.get(k, verify_checksums=True) == v, (when, k)
    for k in gone:
        assert db.get(k, verify_checksums=True) is None, (when, "deleted key answers", k)


def main(db_path, latest_path, all_path):
    want = []
    for o in lines(latest_path):
        assert o["kind"] == "put", o
        want.append((field(o, "key"), field(o, "value")))
    live = {k for k, _ in want}
    gone = sorted({field(o, "key") for o in lines(all_path)} - live)
    db = plyvel.DB(db_path, paranoid_checks=True)
    check(db, want, gone, "as rebuilt")
    db.compact_range()
    check(db, want, gone, "after compact_range()")
    db.close()
    db = plyvel.DB(db_path, paranoid_checks=True)
    check(db, want, gone, "reopened after compact_range()")
    db.close()
    print("ok", len(want), len(gone))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
