# bench/: side-by-side measurements
EXTRA_DIST += bench/bench-rotkit.sh
EXTRA_DIST += bench/bench-launch.sh
EXTRA_DIST += bench/bench-proxy.sh
