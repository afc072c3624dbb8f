#!/bin/bash
# bench-cache.sh [ROUNDS]: a CI job's build with rdind's [cache] against
# docker:dind's behaviour (an empty daemon every job), side by side in one
# run, ROUNDS times each (default 3, interleaved), medians shown.
#
# The registry is Debian's docker-registry, served in a network namespace
# this bench creates (198.18.0.2 behind a veth pair): nothing leaves the
# machine.  The base image is about 200 MB (busybox and 200 MiB of random
# data, so nothing compresses away), pushed there by a seeding daemon.  The
# job builds a typical Dockerfile: FROM the base, two dependency layers of
# 20 MiB, the application.
#   cold      a fresh data root every job (docker:dind)
#   warm      the second job on a [cache] slot
#   warm+tags the same with drop_tags = yes (FROM re-resolves the tag)
# Columns: time until the build is done (s), bytes the registry sent (MB).
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"

ROUNDS=${1:-3}
require_root
require_cmd docker dockerd slirp4netns busybox ip docker-registry python3 curl
ensure_test_user
fix_tun
on_exit kill_user_procs
kill_user_procs

outside_ns rcach
REG=198.18.0.2:5000
mkdir -p "$T/registry"
cat >"$T/reg.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: $REG
EOF
dump_on_fail "$T/registry.log"
ip netns exec rcach docker-registry serve "$T/reg.yml" >"$T/registry.log" 2>&1 &
on_exit "kill $!"
wait_for 20 curl -sf "http://$REG/v2/" || fail "docker-registry did not start in the namespace"
sent () { ip netns exec rcach cat /sys/class/net/rcach-n/statistics/tx_bytes; }

# sidecar NAME [VAR=VALUE...]: a sidecar of its own, ready; stop_it NAME.
sidecar () {
    local n=$1; shift
    local u=$T/$n port
    port=$(free_port)
    mkdir -p "$u" && chown "$E2E_USER": "$u"
    env RDIND_SIDECAR_USER="$E2E_USER" RDIND_SIDECAR_LISTEN="127.0.0.1:$port" RDIND_TLS_CERTDIR="$u/certs" \
        RDIND_LAUNCHER_STATE_DIR="$u/state" RDIND_CACHE_INSECURE_REGISTRIES="$REG" "$@" \
        "$RDIND" sidecar >"$T/$n.log" 2>&1 &
    SPID=$!
    export DOCKER_HOST=tcp://127.0.0.1:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$u/certs/client
    wait_for 120 grep -q 'msg=listening' "$T/$n.log" || { grep -v src=dockerd "$T/$n.log" | tail -20 >&2; fail "sidecar $n did not start" >&2; }
}
stop_it () { kill -TERM "$SPID"; wait "$SPID" 2>/dev/null; }

# The base image, pushed once.
make_busybox_tar "$T/bb.tar"
R=$T/base
mkdir -p "$R" && tar -C "$R" -xf "$T/bb.tar"
for i in 1 2 3 4; do head -c $((50 << 20)) /dev/urandom >"$R/data$i"; done
tar -C "$R" -cf "$T/base.tar" .
sidecar seed RDIND_LAUNCHER_DATA_ROOT="$T/seed/data"
timeout 300 docker import "$T/base.tar" "$REG/base:1" >/dev/null || fail "import the base image"
timeout 600 docker push "$REG/base:1" >/dev/null || fail "push the base image"
stop_it

mkdir -p "$T/ctx"
cat >"$T/ctx/Dockerfile" <<EOF
FROM $REG/base:1
RUN dd if=/dev/urandom of=/dep1 bs=1M count=20 2>/dev/null
RUN dd if=/dev/urandom of=/dep2 bs=1M count=20 2>/dev/null
RUN echo app > /app
EOF

# job NAME [VAR=VALUE...]: one CI job's build; appends "seconds bytes".
job () {
    local n=$1; shift
    sidecar "$n" "$@"
    local b0 t0 t1 b1
    b0=$(sent); t0=$(now_ms)
    DOCKER_BUILDKIT=0 timeout 600 docker build -q -t app "$T/ctx" >/dev/null || fail "build in $n" >&2
    t1=$(now_ms); b1=$(sent)
    stop_it
    echo "$(( t1 - t0 )) $(( b1 - b0 ))"
}

# The first job on each cache fills it (cold itself, not counted).
job prime1 RDIND_CACHE_DIR="$T/cache1" RDIND_CACHE_SLOTS=1 >/dev/null
job prime2 RDIND_CACHE_DIR="$T/cache2" RDIND_CACHE_SLOTS=1 >/dev/null
: >"$T/cold" ; : >"$T/warm" ; : >"$T/tags"
for r in $(seq "$ROUNDS"); do
    job "cold$r" RDIND_LAUNCHER_DATA_ROOT="$T/cold$r/data" >>"$T/cold"
    job "warm$r" RDIND_CACHE_DIR="$T/cache1" RDIND_CACHE_SLOTS=1 >>"$T/warm"
    job "tags$r" RDIND_CACHE_DIR="$T/cache2" RDIND_CACHE_SLOTS=1 RDIND_CACHE_DROP_TAGS=yes >>"$T/tags"
done

python3 - "$T/cold" "$T/warm" "$T/tags" "$ROUNDS" <<'PY'
import statistics, sys
rows = []
for label, f in (("cold (docker:dind: empty daemon each job)", sys.argv[1]),
                 ("warm ([cache] slot)", sys.argv[2]),
                 ("warm, drop_tags = yes", sys.argv[3])):
    v = [tuple(map(int, l.split())) for l in open(f) if l.strip()]
    rows.append((label, statistics.median(t for t, _ in v) / 1000, statistics.median(b for _, b in v) / 1e6))
cold = rows[0]
print("bench-cache: a job's build, FROM a 200 MB base from a local registry (median of %s rounds)" % sys.argv[4])
print("| job | build done (s) | pulled (MB) | build time vs cold |")
print("|---|---|---|---|")
for label, t, mb in rows:
    print("| %s | %.1f | %.3f | %.2fx |" % (label, t, mb, t / cold[1] if cold[1] else 0))
PY
