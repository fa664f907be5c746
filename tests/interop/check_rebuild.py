"""Open a rebuilt store with C++ LevelDB (plyvel) and compare it with the
latest-view export. usage: check_rebuild.py DB RECORDS_JSONL
Prints 'ok N' or raises."""
import base64
import json
import sys

import plyvel


def field(o, name):
    if name in o:
        return o[name].encode()
    return base64.b64decode(o[name + "_base64"])


def main(db_path, records_path):
    want = []
    with open(records_path) as fh:
        for line in fh:
            o = json.loads(line)
            assert o["kind"] == "put", o
            want.append((field(o, "key"), field(o, "value")))
    db = plyvel.DB(db_path, paranoid_checks=True)
    got = list(db.iterator(verify_checksums=True, fill_cache=False))
    assert got == want, f"store holds {len(got)} pairs, export {len(want)}; first difference at " + str(
        next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want))))
    for k, v in want[:: max(1, len(want) // 50)]:
        assert db.get(k) == v, k
    db.compact_range()
    again = list(db.iterator(verify_checksums=True))
    assert again == want, "contents changed after compact_range()"
    db.close()
    print("ok", len(want))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
