// The classic-level writer and judge of testdata/writers/classic-level.
// classic-level's prebuilt binary bundles C++ LevelDB 1.20.
//
//   node writer.js write DB OPS.json   write a store by the steps in OPS.json
//   node writer.js dump DB             print the store's latest view
//
// OPS.json is the same list of steps the goleveldb writer takes:
// {"batch": [["put", KEYHEX, VALUEHEX] | ["del", KEYHEX], ...]} is one
// db.batch(); {"compact": true} is db.compactRange over every key (the
// memtable is flushed, the tables compacted); {"reopen": true} closes and
// opens the store again (LevelDB replays the log into a level-0 table and
// starts a new log and a new MANIFEST). Tables use 1 KiB blocks and snappy;
// the write buffer is large so that LevelDB never flushes on its own.
//
// dump opens the store without creating it (createIfMissing: false) and
// reads every key with fillCache off; classic-level exposes neither
// paranoid_checks nor verify_checksums, so this is the strictest read it
// offers. It prints `KEYHEX VALUEHEX` lines in key order; any error exits
// non-zero. Opening replays the log: dump a copy.
//
// Install (npm registry): copy package.json to a directory outside the
// repository (under target/), `npm install` there, and run this script with
// NODE_PATH=<that dir>/node_modules.
'use strict'

const fs = require('fs')
const { ClassicLevel } = require('classic-level')

const enc = { keyEncoding: 'buffer', valueEncoding: 'buffer' }
const writerOptions = {
  ...enc,
  createIfMissing: true,
  blockSize: 1024,
  writeBufferSize: 8 << 20,
  compression: true
}

async function write (dir, opsFile) {
  const steps = JSON.parse(fs.readFileSync(opsFile, 'utf8'))
  let db = new ClassicLevel(dir, writerOptions)
  await db.open()
  for (const s of steps) {
    if (s.compact) {
      await db.compactRange(Buffer.alloc(0), Buffer.alloc(64, 0xff))
    } else if (s.reopen) {
      await db.close()
      db = new ClassicLevel(dir, writerOptions)
      await db.open()
    } else {
      const ops = s.batch.map((op) => {
        if (op[0] === 'put') {
          return { type: 'put', key: Buffer.from(op[1], 'hex'), value: Buffer.from(op[2], 'hex') }
        }
        if (op[0] === 'del') return { type: 'del', key: Buffer.from(op[1], 'hex') }
        throw new Error('unknown op ' + op[0])
      })
      await db.batch(ops, { sync: false })
    }
  }
  await db.close()
}

async function dump (dir) {
  const db = new ClassicLevel(dir, { ...enc, createIfMissing: false, errorIfExists: false })
  await db.open()
  const out = []
  for await (const [k, v] of db.iterator({ fillCache: false })) {
    out.push(k.toString('hex') + ' ' + v.toString('hex') + '\n')
  }
  await db.close()
  process.stdout.write(out.join(''))
}

async function main () {
  const [cmd, dir, ops] = process.argv.slice(2)
  if (cmd === 'write' && dir && ops) return write(dir, ops)
  if (cmd === 'dump' && dir) return dump(dir)
  console.error('usage: node writer.js write DB OPS.json | dump DB')
  process.exit(2)
}

main().catch((e) => {
  console.error('classic-level writer:', e)
  process.exit(1)
})
