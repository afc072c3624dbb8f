#!/bin/bash
# Runs every harness built by `make fuzz` for SECONDS each (default 20) on
# its seed corpus (tests/fuzz/corpus/NAME, read only) plus a scratch corpus,
# and prints "PASS: fuzz NAME (...)" or "FAIL: fuzz NAME" with the report.
# Any crash, leak, ASan or UBSan report fails.  Run longer by hand with
#   tests/fuzz/run.sh 3600            # an hour each
#   build/tests/fuzz/fuzz-policy -max_total_time=3600 DIR tests/fuzz/corpus/fuzz-policy
#   tests/fuzz/run.sh SECONDS SRCDIR BUILDDIR
set -uo pipefail
secs=${1:-20} src=${2:-$(cd "$(dirname "$0")/../.." && pwd)} build=${3:-$src/build}
work=$(mktemp -d /tmp/rdind-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
rc=0
for f in "$build"/tests/fuzz/fuzz-*; do
    [ -x "$f" ] || continue
    n=$(basename "$f")
    mkdir -p "$work/$n"
    if (cd "$work" && "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
            "$work/$n" "$src/tests/fuzz/corpus/$n" >"$work/$n.log" 2>&1); then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$n.log" | grep -o '[0-9]*$')
        cov=$(grep -o 'cov: [0-9]*' "$work/$n.log" | tail -1)
        echo "PASS: fuzz $n ($runs runs in ${secs}s, $cov)"
    else
        echo "FAIL: fuzz $n"
        grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$work/$n.log" | head -30
        for c in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
            [ -e "$c" ] && { echo "input (base64): $(base64 -w0 "$c" | head -c 2000)"; }
        done
        rc=1
    fi
done
exit $rc
