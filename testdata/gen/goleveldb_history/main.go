// Writes the goleveldb history fixture: a healthy store in which goleveldb
// itself has left tables on disk that its MANIFEST already deleted (it
// removes them only at the next open), and truth.json with what goleveldb
// returns when it opens a copy of the store in its strict mode.
//
// Build and run (Debian's golang-go and golang-github-syndtr-goleveldb-dev):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go run ./testdata/gen/goleveldb_history OUT_DIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

func key(i int) []byte { return []byte(fmt.Sprintf("key:%03d", i)) }

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func tables(dir string) []string {
	m, err := filepath.Glob(filepath.Join(dir, "*.ldb"))
	must(err)
	var out []string
	for _, p := range m {
		out = append(out, filepath.Base(p))
	}
	sort.Strings(out)
	return out
}

func main() {
	out := os.Args[1]
	dir := filepath.Join(out, "db")
	must(os.RemoveAll(out))
	must(os.MkdirAll(out, 0o755))
	o := &opt.Options{WriteBuffer: 8 << 20}
	db, err := leveldb.OpenFile(dir, o)
	must(err)
	for i := 0; i < 100; i++ {
		must(db.Put(key(i), []byte(fmt.Sprintf("first value of %03d", i)), nil))
	}
	must(db.CompactRange(util.Range{}))
	first := tables(dir)
	b := new(leveldb.Batch)
	for i := 0; i < 50; i++ {
		b.Delete(key(i))
	}
	for i := 50; i < 60; i++ {
		b.Put(key(i), []byte(fmt.Sprintf("second value of %03d", i)))
	}
	must(db.Write(b, nil))
	// goleveldb removes a table the MANIFEST deleted once nothing reads it
	// any more; an iterator still open on the old version keeps it on disk
	// through the compaction and the close, as a reader busy at a crash
	// would.
	held := db.NewIterator(nil, nil)
	held.First()
	must(db.CompactRange(util.Range{}))
	must(db.Close())
	held.Release()
	for _, n := range []string{"LOG", "LOG.old", "LOCK"} {
		os.Remove(filepath.Join(dir, n))
	}
	left := tables(dir)

	// The truth, from a copy (opening it removes the deleted tables).
	tmp, err := os.MkdirTemp("", "goleveldb-truth")
	must(err)
	defer os.RemoveAll(tmp)
	must(exec.Command("cp", "-a", dir, filepath.Join(tmp, "db")).Run())
	strict := &opt.Options{Strict: opt.StrictAll, ErrorIfMissing: true}
	c, err := leveldb.OpenFile(filepath.Join(tmp, "db"), strict)
	must(err)
	var latest [][2]string
	it := c.NewIterator(nil, nil)
	for it.Next() {
		latest = append(latest, [2]string{string(it.Key()), string(it.Value())})
	}
	it.Release()
	must(it.Error())
	must(c.Close())
	kept := tables(filepath.Join(tmp, "db"))
	var gone []string
	for _, t := range left {
		found := false
		for _, k := range kept {
			found = found || k == t
		}
		if !found {
			gone = append(gone, t)
		}
	}
	if len(gone) == 0 {
		panic("goleveldb left no deleted table on disk")
	}
	var deleted []string
	for i := 0; i < 50; i++ {
		deleted = append(deleted, string(key(i)))
	}
	truth := map[string]interface{}{
		"generator":      "testdata/gen/goleveldb_history (goleveldb, Debian golang-github-syndtr-goleveldb-dev)",
		"first_tables":   first,
		"left_on_disk":   left,
		"history_tables": gone,
		"files":          gone,
		"state":          "deleted",
		"latest":         latest,
		"deleted_keys":   deleted,
	}
	f, err := os.Create(filepath.Join(out, "truth.json"))
	must(err)
	enc := json.NewEncoder(f)
	enc.SetIndent("", " ")
	must(enc.Encode(truth))
	must(f.Close())
	fmt.Println("history tables:", strings.Join(gone, " "), "of", strings.Join(left, " "))
}
