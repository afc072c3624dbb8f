#!/bin/bash
# Builds rdind and runs every test: unit tests (TAP), end-to-end tests against
# a real rootless dockerd, and `make distcheck`.  Needs root (it installs the
# dependencies, creates the unprivileged test user and makes /dev/net/tun
# usable); re-executes itself through sudo when run as a normal user.
#
#   bash tests/run-all.sh            # everything
#   TESTS='tests/unit/test-conf' bash tests/run-all.sh   # a subset
#
# Prints "N passed, N failed, N skipped" last; exits non-zero on any failure.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" != 0 ]; then
    exec sudo -E bash "$0" "$@"
fi
cd "$src"
[ -n "${RDIND_SKIP_DEPS:-}" ] || bash tests/deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

build=${BUILDDIR:-$src/build}
./autogen.sh >/dev/null || { echo "autogen.sh failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$build"
cd "$build"
# The test programs are built here too, so that their warnings count.
if ! "$src/configure" -q || ! make -j"$(nproc)" >make.log 2>&1 || ! make -j"$(nproc)" check TESTS= >>make.log 2>&1; then
    cat make.log 2>/dev/null | tail -50
    echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
if grep -E 'warning:' make.log; then
    echo "build has compiler warnings (they count as a failure)"
    warn_fail=1
fi

# The test user's processes must be able to read the build tree.
chmod -R o+rX "$build" "$src" 2>/dev/null || true

rm -f test-suite.log
find . -name '*.trs' -delete
make -k check ${TESTS:+TESTS="$TESTS"} 2>&1 | grep -E '^(PASS|FAIL|ERROR|SKIP|XPASS|XFAIL):|^#'
failed_logs=$(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find . -name '*.trs') 2>/dev/null | sed 's/\.trs$/.log/')
for l in $failed_logs; do
    echo "======== $l ========"
    tail -n 80 "$l"
done

count () { cat $(find . -name '*.trs') 2>/dev/null | grep -cE "^:test-result: ($1)"; }
passed=$(count 'PASS|XFAIL')
failed=$(count 'FAIL|ERROR|XPASS')
skipped=$(count 'SKIP')

# The sanitizer tier: the unit tests and the sidecar's e2e tests once more
# on an --enable-asan build (AddressSanitizer + UBSan; LeakSanitizer reports
# at each process's exit, and the e2e tests fail on any report in the logs).
if [ -z "${TESTS:-}" ] && [ -z "${RDIND_NO_ASAN:-}" ]; then
    asan=$build-asan
    mkdir -p "$asan"
    if (cd "$asan" && "$src/configure" -q --enable-asan --with-launch-libc=shared &&
            make -j"$(nproc)" >make.log 2>&1 && make -j"$(nproc)" check TESTS= >>make.log 2>&1); then
        chmod -R o+rX "$asan" 2>/dev/null || true
        find "$asan" -name '*.trs' -delete
        unit=$(for c in "$src"/tests/unit/test-*.c; do printf 'tests/unit/%s ' "$(basename "$c" .c)"; done)
        (cd "$asan" && make -k check TESTS="$unit tests/e2e/sidecar-basic.sh tests/e2e/sidecar-limits.sh tests/e2e/policy.sh tests/e2e/policy-attack.sh" 2>&1) |
            grep -E '^(PASS|FAIL|ERROR|SKIP|XPASS|XFAIL):' | sed 's/^\([A-Z]*\): /\1: asan: /'
        for l in $(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find "$asan" -name '*.trs') 2>/dev/null | sed 's/\.trs$/.log/'); do
            echo "======== asan: $l ========"; tail -n 80 "$l"
        done
        passed=$((passed + $(cat $(find "$asan" -name '*.trs') | grep -cE '^:test-result: (PASS|XFAIL)')))
        failed=$((failed + $(cat $(find "$asan" -name '*.trs') | grep -cE '^:test-result: (FAIL|ERROR|XPASS)')))
        skipped=$((skipped + $(cat $(find "$asan" -name '*.trs') | grep -cE '^:test-result: SKIP')))
    else
        tail -30 "$asan/make.log"; echo "FAIL: asan build"; failed=$((failed+1))
    fi
fi

# The fuzz tier: every libFuzzer harness for FUZZ_SECONDS (default 20) on
# its corpus; a crash, leak or sanitizer report fails.
if [ -z "${TESTS:-}" ] && [ -z "${RDIND_NO_FUZZ:-}" ]; then
    if make fuzz >fuzz-build.log 2>&1; then
        while read -r line; do
            echo "$line"
            case $line in PASS:*) passed=$((passed+1)) ;; FAIL:*) failed=$((failed+1)) ;; esac
        done < <(bash "$src/tests/fuzz/run.sh" "${FUZZ_SECONDS:-20}" "$src" "$build")
    else
        tail -30 fuzz-build.log; echo "FAIL: make fuzz"; failed=$((failed+1))
    fi
fi

if [ -z "${TESTS:-}" ] && [ -z "${RDIND_NO_DISTCHECK:-}" ]; then
    if make distcheck >distcheck.log 2>&1; then
        echo "PASS: make distcheck"; passed=$((passed+1))
    else
        tail -40 distcheck.log; echo "FAIL: make distcheck"; failed=$((failed+1))
    fi
fi
if [ -n "${warn_fail:-}" ]; then failed=$((failed+1)); fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
