// dump: the judge. Opens a RocksDB store read-only through the RocksDB C++
// library it is built against (Debian librocksdb-dev 7.8.3), with every
// column family (DB::ListColumnFamilies), paranoid_checks, checksums
// verified on every read and the stringappend merge operator (",") on every
// column family, and prints every entry as a JSON line
//   {"cf":"NAME","key_hex":"..","value_hex":".."}
// column families in the MANIFEST's order, keys in iterator order. Exits 1
// with the status on stderr when the store cannot be opened or read.
//
//   g++ -std=c++17 -O1 -o dump dump.cc -lrocksdb
//   dump DBDIR
//   dump --version                 the library version (e.g. 7.8.3)
//   dump --sst FILE                one table's visible entries (SstFileReader)
//   dump --probe HEALTHY DAMAGED   entries of the healthy table that the damaged
//                                  copy cannot give back (Seek fails or differs;
//                                  all of them when it cannot be opened)
//
// The MANIFEST's WAL records are verified (track_and_verify_wals_in_manifest).
// The store is not written to (the WAL is replayed into memory only), but a
// judge of a store it must not change should still be given a copy.
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/version.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

using namespace ROCKSDB_NAMESPACE;

static std::string hex(const Slice& s) {
  static const char* d = "0123456789abcdef";
  std::string o;
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    o.push_back(d[c >> 4]);
    o.push_back(d[c & 15]);
  }
  return o;
}

static std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { o.push_back('\\'); o.push_back(c); }
    else if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o.push_back(c);
  }
  return o + "\"";
}

static int fail(const std::string& what, const Status& s) {
  std::cerr << "dump: " << what << ": " << s.ToString() << "\n";
  return 1;
}

static Options base_options() {
  Options o;
  o.paranoid_checks = true;
  o.create_if_missing = false;
  o.info_log_level = InfoLogLevel::FATAL_LEVEL;
  // The MANIFEST's WAL records are checked against the WAL files (their
  // synced sizes). It must be on anyway: 7.8.3's read-only open asserts
  // (db_impl_open.cc, recovery_ctx) when it is off and the MANIFEST tracks WALs.
  o.track_and_verify_wals_in_manifest = true;
  std::shared_ptr<MergeOperator> mo;
  Status s = MergeOperator::CreateFromString(ConfigOptions(), "stringappend", &mo);
  if (!s.ok()) { fail("stringappend merge operator", s); std::exit(1); }
  o.merge_operator = mo;
  return o;
}

static ReadOptions read_options() {
  ReadOptions r;
  r.verify_checksums = true;
  r.fill_cache = false;
  return r;
}

static int dump_db(const std::string& dir) {
  Options o = base_options();
  std::vector<std::string> names;
  Status s = DB::ListColumnFamilies(o, dir, &names);
  if (!s.ok()) return fail("ListColumnFamilies", s);
  std::vector<ColumnFamilyDescriptor> descs;
  for (auto& n : names) descs.emplace_back(n, ColumnFamilyOptions(o));
  std::vector<ColumnFamilyHandle*> hs;
  DB* db = nullptr;
  s = DB::OpenForReadOnly(DBOptions(o), dir, descs, &hs, &db);
  if (!s.ok()) return fail("OpenForReadOnly", s);
  int rc = 0;
  for (size_t i = 0; i < hs.size() && rc == 0; i++) {
    std::unique_ptr<Iterator> it(db->NewIterator(read_options(), hs[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      std::cout << "{\"cf\":" << json_str(names[i]) << ",\"key_hex\":\"" << hex(it->key())
                << "\",\"value_hex\":\"" << hex(it->value()) << "\"}\n";
    if (!it->status().ok()) rc = fail("iterating " + names[i], it->status());
  }
  for (auto* h : hs) db->DestroyColumnFamilyHandle(h);
  delete db;
  return rc;
}

static int dump_sst(const std::string& file) {
  SstFileReader r(base_options());
  Status s = r.Open(file);
  if (!s.ok()) return fail("SstFileReader::Open", s);
  std::unique_ptr<Iterator> it(r.NewIterator(read_options()));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    std::cout << "{\"key_hex\":\"" << hex(it->key()) << "\",\"value_hex\":\"" << hex(it->value())
              << "\"}\n";
  if (!it->status().ok()) return fail("iterating " + file, it->status());
  return 0;
}

static int probe(const std::string& healthy, const std::string& damaged) {
  SstFileReader h(base_options()), d(base_options());
  Status s = h.Open(healthy);
  if (!s.ok()) return fail("SstFileReader::Open healthy", s);
  s = d.Open(damaged);
  bool unreadable = !s.ok();
  if (unreadable) std::cout << "{\"table_unreadable\":" << json_str(s.ToString()) << "}\n";
  std::unique_ptr<Iterator> hi(h.NewIterator(read_options()));
  std::unique_ptr<Iterator> di(unreadable ? nullptr : d.NewIterator(read_options()));
  for (hi->SeekToFirst(); hi->Valid(); hi->Next()) {
    bool same = false;
    if (di) {
      di->Seek(hi->key());
      same = di->status().ok() && di->Valid() && di->key() == hi->key() &&
             di->value() == hi->value();
    }
    if (!same)
      std::cout << "{\"lost_key_hex\":\"" << hex(hi->key()) << "\",\"value_hex\":\""
                << hex(hi->value()) << "\"}\n";
  }
  return hi->status().ok() ? 0 : fail("iterating healthy", hi->status());
}

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 1 && a[0] == "--version") {
    std::cout << GetRocksVersionAsString(true) << "\n";
    return 0;
  }
  if (a.size() == 2 && a[0] == "--sst") return dump_sst(a[1]);
  if (a.size() == 3 && a[0] == "--probe") return probe(a[1], a[2]);
  if (a.size() == 1 && a[0][0] != '-') return dump_db(a[0]);
  std::cerr << "usage: dump DBDIR | --version | --sst FILE | --probe HEALTHY DAMAGED\n";
  return 2;
}
