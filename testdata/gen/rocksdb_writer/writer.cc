// writer: writes a RocksDB store from an ops stream on stdin, through the
// RocksDB C++ library it is built against (Debian librocksdb-dev 7.8.3 for
// the fixtures in testdata/rocksdb/). Driven by testdata/gen/make_rocksdb_stores.py.
//
//   g++ -std=c++17 -O1 -o writer writer.cc -lrocksdb
//   writer DBDIR < ops
//
// One op a line, fields separated by single spaces; keys and values in hex
// ("-" for empty). Every write is its own WriteBatch (one WAL record each).
//   opt NAME VALUE         before `open`: checksum crc32c|xxh3,
//                          compression none|snappy|zstd|lz4, index binary|partitioned,
//                          data_block_hash 0|1, format_version N, block_size N,
//                          write_buffer_size N, recycle_log_file_num N,
//                          wal_recovery pit|tolerate|absolute|skip, track_wals 0|1,
//                          compression bzip2, wal_compression none|zstd,
//                          enable_blob_files 0|1, min_blob_size N,
//                          blob_compression_type none|snappy|zstd|lz4
//   open                   opens (creating) with every existing CF
//   create_cf NAME | drop_cf NAME
//   put CF K V | merge CF K V | del CF K | sdel CF K | delrange CF BEGIN END
//   flush CF | compact CF  (CompactRange over the whole CF) | syncwal | flushwal
//   reopen | close
//   crash                  exits at once without closing the DB, as a killed
//                          process would: a clean close truncates the live WAL
//                          to its written length, which would cut a recycled
//                          WAL's stale tail off
//   files                  prints the live tables as JSON lines on stdout
// All CFs get the stringappend merge operator (delimiter ",").
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace ROCKSDB_NAMESPACE;

static std::string unhex(const std::string& h) {
  if (h == "-") return "";
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

static std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) {
    o.push_back(d[c >> 4]);
    o.push_back(d[c & 15]);
  }
  return o;
}

static void check(const Status& s, const std::string& what) {
  if (!s.ok()) {
    std::cerr << "writer: " << what << ": " << s.ToString() << "\n";
    std::exit(1);
  }
}

struct Writer {
  std::string dir;
  std::map<std::string, std::string> opts;
  Options options;
  DB* db = nullptr;
  std::map<std::string, ColumnFamilyHandle*> cfs;

  void build_options() {
    options = Options();
    options.create_if_missing = true;
    options.paranoid_checks = true;
    options.disable_auto_compactions = true;  // deterministic layout
    options.max_background_jobs = 1;
    options.info_log_level = InfoLogLevel::HEADER_LEVEL;
    std::shared_ptr<MergeOperator> mo;
    check(MergeOperator::CreateFromString(ConfigOptions(), "stringappend", &mo),
          "stringappend merge operator");
    options.merge_operator = mo;
    BlockBasedTableOptions t;
    for (auto& [k, v] : opts) {
      if (k == "checksum") {
        if (v == "crc32c") t.checksum = kCRC32c;
        else if (v == "xxh3") t.checksum = kXXH3;
        else if (v == "xxhash64") t.checksum = kxxHash64;
        else check(Status::InvalidArgument(v), "checksum");
      } else if (k == "compression") {
        if (v == "none") options.compression = kNoCompression;
        else if (v == "snappy") options.compression = kSnappyCompression;
        else if (v == "zstd") options.compression = kZSTD;
        else if (v == "lz4") options.compression = kLZ4Compression;
        else if (v == "bzip2") options.compression = kBZip2Compression;
        else check(Status::InvalidArgument(v), "compression");
      } else if (k == "index") {
        if (v == "partitioned") {
          t.index_type = BlockBasedTableOptions::kTwoLevelIndexSearch;
          t.metadata_block_size = 256;  // several partitions in a small table
        } else if (v != "binary") check(Status::InvalidArgument(v), "index");
      } else if (k == "data_block_hash") {
        if (v == "1")
          t.data_block_index_type = BlockBasedTableOptions::kDataBlockBinaryAndHash;
      } else if (k == "format_version") {
        t.format_version = std::stoi(v);
      } else if (k == "block_size") {
        t.block_size = std::stoul(v);
      } else if (k == "write_buffer_size") {
        options.write_buffer_size = std::stoul(v);
      } else if (k == "recycle_log_file_num") {
        options.recycle_log_file_num = std::stoul(v);
      } else if (k == "wal_recovery") {
        if (v == "pit") options.wal_recovery_mode = WALRecoveryMode::kPointInTimeRecovery;
        else if (v == "tolerate") options.wal_recovery_mode = WALRecoveryMode::kTolerateCorruptedTailRecords;
        else if (v == "absolute") options.wal_recovery_mode = WALRecoveryMode::kAbsoluteConsistency;
        else if (v == "skip") options.wal_recovery_mode = WALRecoveryMode::kSkipAnyCorruptedRecords;
        else check(Status::InvalidArgument(v), "wal_recovery");
      } else if (k == "wal_compression") {
        // zstd is the only codec RocksDB streams a WAL with
        if (v == "zstd") options.wal_compression = kZSTD;
        else if (v != "none") check(Status::InvalidArgument(v), "wal_compression");
      } else if (k == "enable_blob_files") {
        options.enable_blob_files = v == "1";
      } else if (k == "min_blob_size") {
        options.min_blob_size = std::stoull(v);
      } else if (k == "blob_compression_type") {
        if (v == "none") options.blob_compression_type = kNoCompression;
        else if (v == "snappy") options.blob_compression_type = kSnappyCompression;
        else if (v == "zstd") options.blob_compression_type = kZSTD;
        else if (v == "lz4") options.blob_compression_type = kLZ4Compression;
        else check(Status::InvalidArgument(v), "blob_compression_type");
      } else if (k == "track_wals") {
        options.track_and_verify_wals_in_manifest = v == "1";
      } else {
        check(Status::InvalidArgument(k), "unknown opt");
      }
    }
    options.table_factory.reset(NewBlockBasedTableFactory(t));
  }

  void open() {
    build_options();
    std::vector<std::string> names;
    if (!DB::ListColumnFamilies(options, dir, &names).ok()) names = {kDefaultColumnFamilyName};
    std::vector<ColumnFamilyDescriptor> descs;
    for (auto& n : names) descs.emplace_back(n, ColumnFamilyOptions(options));
    std::vector<ColumnFamilyHandle*> hs;
    check(DB::Open(DBOptions(options), dir, descs, &hs, &db), "open");
    for (size_t i = 0; i < names.size(); i++) cfs[names[i]] = hs[i];
  }

  void close() {
    if (!db) return;
    for (auto& [n, h] : cfs) check(db->DestroyColumnFamilyHandle(h), "destroy handle");
    cfs.clear();
    check(db->Close(), "close");
    delete db;
    db = nullptr;
  }

  ColumnFamilyHandle* cf(const std::string& n) {
    auto it = cfs.find(n);
    if (it == cfs.end()) check(Status::InvalidArgument(n), "no such column family");
    return it->second;
  }

  void files() {
    std::vector<LiveFileMetaData> m;
    db->GetLiveFilesMetaData(&m);
    for (auto& f : m)
      std::cout << "{\"file\":\"" << f.relative_filename.substr(f.relative_filename.rfind('/') + 1)
                << "\",\"cf\":\"" << f.column_family_name << "\",\"level\":" << f.level
                << ",\"smallest_key_hex\":\"" << hex(f.smallestkey) << "\",\"largest_key_hex\":\""
                << hex(f.largestkey) << "\",\"entries\":" << f.num_entries
                << ",\"deletions\":" << f.num_deletions << "}\n";
  }

  void run(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> a;
    for (std::string w; in >> w;) a.push_back(w);
    if (a.empty() || a[0][0] == '#') return;
    const std::string& op = a[0];
    WriteOptions wo;
    if (op == "opt") opts[a[1]] = a[2];
    else if (op == "open") open();
    else if (op == "close") close();
    else if (op == "reopen") { close(); open(); }
    else if (op == "create_cf") {
      ColumnFamilyHandle* h;
      check(db->CreateColumnFamily(ColumnFamilyOptions(options), a[1], &h), "create_cf");
      cfs[a[1]] = h;
    } else if (op == "drop_cf") {
      check(db->DropColumnFamily(cf(a[1])), "drop_cf");
      check(db->DestroyColumnFamilyHandle(cf(a[1])), "destroy handle");
      cfs.erase(a[1]);
    } else if (op == "put") check(db->Put(wo, cf(a[1]), unhex(a[2]), unhex(a[3])), line);
    else if (op == "merge") check(db->Merge(wo, cf(a[1]), unhex(a[2]), unhex(a[3])), line);
    else if (op == "del") check(db->Delete(wo, cf(a[1]), unhex(a[2])), line);
    else if (op == "sdel") check(db->SingleDelete(wo, cf(a[1]), unhex(a[2])), line);
    else if (op == "delrange") check(db->DeleteRange(wo, cf(a[1]), unhex(a[2]), unhex(a[3])), line);
    else if (op == "flush") check(db->Flush(FlushOptions(), cf(a[1])), line);
    else if (op == "compact") check(db->CompactRange(CompactRangeOptions(), cf(a[1]), nullptr, nullptr), line);
    else if (op == "syncwal") check(db->SyncWAL(), line);
    else if (op == "flushwal") check(db->FlushWAL(true), line);
    else if (op == "files") files();
    else if (op == "crash") { std::cout.flush(); std::_Exit(0); }
    else check(Status::InvalidArgument(op), "unknown op");
  }
};

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: writer DBDIR < ops\n";
    return 2;
  }
  Writer w;
  w.dir = argv[1];
  for (std::string line; std::getline(std::cin, line);) w.run(line);
  w.close();
  return 0;
}
