// The goleveldb writer and judge of testdata/writers/goleveldb.
//
//	goleveldb_writer write DB OPS.json        write a store by the steps in OPS.json
//	goleveldb_writer write-deep DB OPS.json   the same, with levels a few KiB in size
//	goleveldb_writer dump DB                  print the store's latest view
//
// OPS.json is a list of steps: {"batch": [["put", KEYHEX, VALUEHEX] |
// ["del", KEYHEX], ...]} is one leveldb.Batch written with db.Write;
// {"compact": true} is db.CompactRange over everything (the memtable is
// flushed and the tables compacted); {"reopen": true} closes the store and
// opens it again, which replays the journal into a level-0 table, writes a
// new MANIFEST and starts a new journal (and skips a sequence number);
// {"settle": true} waits until goleveldb's own compactions have stopped
// (its list of tables unchanged for 300 ms; 20 s at most), since closing
// the store abandons the ones under way.
// Tables use 1 KiB blocks, snappy and a bloom filter; the write buffer is
// large so that goleveldb never flushes on its own.
//
// write-deep shrinks what goleveldb lets each level hold (its
// CompactionTotalSize options: 2 KiB times 2 to the level) and the tables
// it cuts (1 KiB), and flushes the memtable every 4 KiB: ~100 KiB of
// writes spread tables over levels 0 to 5 by goleveldb's own size
// compactions, where its defaults (and C++ LevelDB's fixed sizes) need
// over 100 MiB at level 2 before a table reaches level 3.
//
// dump opens DB with opt.Options{Strict: opt.StrictAll, ReadOnly: true,
// ErrorIfMissing: true}: every journal and block checksum is verified and
// any corruption is an error. It prints `KEYHEX VALUEHEX` per key in order
// and exits non-zero on any error. Opening read-only writes nothing.
//
// Build (Debian's golang-go and golang-github-syndtr-goleveldb-dev):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o OUT ./testdata/gen/goleveldb_writer
package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

type step struct {
	Batch   [][]string `json:"batch"`
	Compact bool       `json:"compact"`
	Reopen  bool       `json:"reopen"`
	Settle  bool       `json:"settle"`
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "goleveldb_writer:", err)
		os.Exit(1)
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	must(err)
	return b
}

func writerOptions() *opt.Options {
	return &opt.Options{
		BlockSize:   1024,
		WriteBuffer: 8 << 20,
		Filter:      filter.NewBloomFilter(10),
		NoSync:      false,
	}
}

func deepOptions() *opt.Options {
	o := writerOptions()
	o.WriteBuffer = 4 << 10
	o.CompactionTableSize = 1 << 10
	o.CompactionTotalSize = 2 << 10
	o.CompactionTotalSizeMultiplier = 2
	return o
}

func write(dir, ops string, options func() *opt.Options) {
	raw, err := os.ReadFile(ops)
	must(err)
	var steps []step
	must(json.Unmarshal(raw, &steps))
	db, err := leveldb.OpenFile(dir, options())
	must(err)
	for _, s := range steps {
		switch {
		case s.Compact:
			must(db.CompactRange(util.Range{}))
		case s.Settle:
			settle(db)
		case s.Reopen:
			must(db.Close())
			db, err = leveldb.OpenFile(dir, options())
			must(err)
		default:
			b := new(leveldb.Batch)
			for _, op := range s.Batch {
				switch op[0] {
				case "put":
					b.Put(unhex(op[1]), unhex(op[2]))
				case "del":
					b.Delete(unhex(op[1]))
				default:
					must(fmt.Errorf("unknown op %q", op[0]))
				}
			}
			must(db.Write(b, nil))
		}
	}
	must(db.Close())
}

func settle(db *leveldb.DB) {
	last, same := "", 0
	for i := 0; i < 400 && same < 6; i++ {
		time.Sleep(50 * time.Millisecond)
		now, err := db.GetProperty("leveldb.sstables")
		must(err)
		if now == last {
			same++
		} else {
			last, same = now, 0
		}
	}
}

func dump(dir string) {
	o := &opt.Options{Strict: opt.StrictAll, ReadOnly: true, ErrorIfMissing: true}
	db, err := leveldb.OpenFile(dir, o)
	must(err)
	out := bufio.NewWriter(os.Stdout)
	it := db.NewIterator(nil, &opt.ReadOptions{Strict: opt.StrictAll})
	for it.Next() {
		fmt.Fprintf(out, "%s %s\n", hex.EncodeToString(it.Key()), hex.EncodeToString(it.Value()))
	}
	it.Release()
	must(it.Error())
	must(db.Close())
	must(out.Flush())
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "write" {
		write(os.Args[2], os.Args[3], writerOptions)
	} else if len(os.Args) == 4 && os.Args[1] == "write-deep" {
		write(os.Args[2], os.Args[3], deepOptions)
	} else if len(os.Args) == 3 && os.Args[1] == "dump" {
		dump(os.Args[2])
	} else {
		fmt.Fprintln(os.Stderr, "usage: goleveldb_writer write|write-deep DB OPS.json | dump DB")
		os.Exit(2)
	}
}
