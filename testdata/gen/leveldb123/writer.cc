// A store written by Debian's LevelDB 1.23 (libleveldb-dev), for the
// fixtures under testdata/writers/leveldb-1.23/ (see testdata/README.md),
// and the judge of a rebuilt store.
//
//   writer write DIR   two sessions with the library's defaults (snappy):
//                      200 keys, reopened (the log becomes a level-0
//                      table), then 30 batches of overwrites, deletes and
//                      new keys left in the log
//   writer dump DIR    open with paranoid_checks, read every key with
//                      verify_checksums, print one JSON object of hex
//                      strings in iteration order
//
// Build: g++ -O2 -o writer writer.cc -lleveldb -lsnappy
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

const char* kWords[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"};

std::string Value(Rng* rng, uint64_t i, uint64_t round) {
  size_t n = 10 + rng->below(70);
  std::string v;
  if (i < 100) {
    // Random bytes: LevelDB stores these blocks uncompressed.
    for (size_t j = 0; j < n; j++) v.push_back(static_cast<char>(rng->next() & 0xff));
  } else {
    v = "r" + std::to_string(round) + " ";
    while (v.size() < n) {
      v += kWords[rng->below(7)];
      v += ' ';
    }
  }
  return v;
}

std::string Key(uint64_t i) {
  char b[16];
  std::snprintf(b, sizeof b, "key:%05llu", static_cast<unsigned long long>(i));
  return b;
}

void Check(const leveldb::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

void Write(const char* dir) {
  Rng rng{0x9e3779b97f4a7c15ULL};
  leveldb::Options o;
  o.create_if_missing = true;
  leveldb::DB* db;
  Check(leveldb::DB::Open(o, dir, &db), "open");
  for (uint64_t b = 0; b < 20; b++) {
    leveldb::WriteBatch wb;
    for (uint64_t i = b * 10; i < b * 10 + 10; i++) wb.Put(Key(i), Value(&rng, i, 0));
    Check(db->Write(leveldb::WriteOptions(), &wb), "write");
  }
  delete db;
  Check(leveldb::DB::Open(o, dir, &db), "reopen");
  uint64_t next = 200;
  for (uint64_t round = 1; round <= 30; round++) {
    leveldb::WriteBatch wb;
    for (int j = 0; j < 3; j++) {
      uint64_t i = rng.below(next);
      wb.Put(Key(i), Value(&rng, i, round));
    }
    wb.Delete(Key(rng.below(next)));
    wb.Put(Key(next), Value(&rng, next, round));
    next++;
    Check(db->Write(leveldb::WriteOptions(), &wb), "write");
  }
  delete db;
}

void Hex(std::string* out, const leveldb::Slice& s) {
  static const char* d = "0123456789abcdef";
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out->push_back(d[c >> 4]);
    out->push_back(d[c & 15]);
  }
}

void Dump(const char* dir) {
  leveldb::Options o;
  o.paranoid_checks = true;
  leveldb::DB* db;
  Check(leveldb::DB::Open(o, dir, &db), "open with paranoid_checks");
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  leveldb::Iterator* it = db->NewIterator(ro);
  std::string out = "{";
  bool first = true;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!first) out += ',';
    first = false;
    out += '"';
    Hex(&out, it->key());
    out += "\":\"";
    Hex(&out, it->value());
    out += '"';
  }
  Check(it->status(), "iterate");
  delete it;
  delete db;
  out += "}\n";
  std::fputs(out.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "write") == 0) {
    Write(argv[2]);
  } else if (argc == 3 && std::strcmp(argv[1], "dump") == 0) {
    Dump(argv[2]);
  } else {
    std::fprintf(stderr, "usage: writer write|dump DIR\n");
    return 2;
  }
  return 0;
}
