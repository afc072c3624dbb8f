# bench/: side-by-side measurements
EXTRA_DIST += bench/bench-rotkit.sh
EXTRA_DIST += bench/bench-launch.sh
EXTRA_DIST += bench/bench-proxy.sh
EXTRA_DIST += bench/bench-ports.sh bench/port-rr.py
EXTRA_DIST += bench/lib-anchor.sh

# bench-handshake.sh runs this: server CPU per handshake, rdind's TLS
# context against OpenSSL's default one (built with `make`, not installed).
noinst_PROGRAMS = bench/bench-handshake
bench_bench_handshake_SOURCES = bench/bench-handshake.c
bench_bench_handshake_LDADD = libtls.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
EXTRA_DIST += bench/bench-handshake.sh
EXTRA_DIST += bench/bench-pull.sh
EXTRA_DIST += bench/bench-egress-wmem.sh
