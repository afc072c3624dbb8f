#!/bin/bash
# bench-handshake.sh [ROUNDS] : server CPU per TLS handshake (client
# certificate required), rdind's endpoint context against the same settings
# in OpenSSL's default library context, side by side in one run; prints a
# table per protocol version with the ratio.  Run from a build tree (or set
# ROTKIT and BENCH_HANDSHAKE).
set -eu
ROTKIT=${ROTKIT:-$PWD/rotkit}
BENCH_HANDSHAKE=${BENCH_HANDSHAKE:-$PWD/bench/bench-handshake}
[ -x "$ROTKIT" ] || { echo "rotkit not found at $ROTKIT: run from the build tree or set ROTKIT=" >&2; exit 1; }
[ -x "$BENCH_HANDSHAKE" ] ||
    { echo "bench-handshake not found at $BENCH_HANDSHAKE: run 'make' in the build tree or set BENCH_HANDSHAKE=" >&2; exit 1; }
W=$(mktemp -d /tmp/bench-handshake.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$ROTKIT" init -q --certdir "$W/certs" --peer client
"$BENCH_HANDSHAKE" "$W/certs" "${1:-2000}"
