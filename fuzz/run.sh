#!/usr/bin/env bash
# Run one fuzz target the way its documented runs were made:
#   fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
# One job, one worker, niced; 10 s per input, 2 GiB RSS, 512 MiB per malloc.
# Seeds the target's corpus from testdata/fixtures first (fuzz/seed.py).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}
secs=${2:-600}
shift $(( $# < 2 ? $# : 2 ))
case $target in
    write_batch) max_len=4096 ;;
    block) max_len=16384 ;;
    log_block | dir_scan) max_len=131072 ;;
    *) max_len=65536 ;;
esac
python3 fuzz/seed.py >/dev/null
mkdir -p "fuzz/artifacts/$target"
# dir_scan writes a small store per input: keep that in memory.
export TMPDIR=${TMPDIR:-/dev/shm}
# One fuzzer on a shared machine: keep the scan's thread pool to one thread.
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}
RUSTC_BOOTSTRAP=1 exec nice -n 10 cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -jobs=1 -workers=1 -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len="$max_len" \
    -print_final_stats=1 "$@"
