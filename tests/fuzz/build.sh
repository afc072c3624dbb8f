#!/bin/bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (AddressSanitizer,
# UBSan and libFuzzer's coverage): each parser's sources are compiled again
# with the instrumentation, not taken from the gcc-built libraries.
#   tests/fuzz/build.sh SRCDIR BUILDDIR      (what `make fuzz` runs)
set -euo pipefail
src=$1 build=$2
out=$build/tests/fuzz
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (apt-get install clang libclang-rt-14-dev)"; exit 1; }
mkdir -p "$out/obj"
# shellcheck disable=SC2046
CFLAGS="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
 -I$build -I$src -I$src/common -I$src/conf -I$src/tls -I$src/launcher -I$src/sidecar \
 $(pkg-config --cflags libuv openssl inih jansson)"
LIBS="$(pkg-config --libs libuv openssl inih jansson libcap-ng) -lhttp_parser"
# The sources every harness may need; objects are shared between them.
srcs=(common/err.c common/log.c common/util.c conf/conf.c conf/keys.c conf/validate.c
      tls/kit.c tls/kit-x509.c tls/kit-check.c tls/kit-io.c tls/kit-dir.c
      launcher/api.c launcher/util.c launcher/portfwd.c launcher/pullproxy.c sidecar/policy.c sidecar/gate.c sidecar/parse.c)
objs=()
for s in "${srcs[@]}"; do
    o=$out/obj/$(echo "$s" | tr / _).o
    if [ ! -e "$o" ] || [ "$src/$s" -nt "$o" ]; then
        # shellcheck disable=SC2086
        $CC $CFLAGS -c "$src/$s" -o "$o"
    fi
    objs+=("$o")
done
for h in "$src"/tests/fuzz/fuzz-*.c; do
    n=$(basename "$h" .c)
    # shellcheck disable=SC2086
    $CC $CFLAGS -Wall -Werror -fsanitize=fuzzer "$h" "${objs[@]}" $LIBS -o "$out/$n"
    echo "built $out/$n"
done
