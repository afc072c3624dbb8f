#!/bin/bash
# bench-ports.sh [SECONDS [ROUNDS]]: published ports and egress, side by
# side in one run, each side measured ROUNDS times (default 3, interleaved)
# and the median shown.  Run as root from a build tree (RDIND / top_builddir as for the tests).
#
# Published port (host client on 127.0.0.1 -> server in an inner container):
#   rdind native driver, rdind native driver with pasta, rdind slirp4netns
#   driver, rootlesskit's builtin driver (dockerd-rootless.sh, as
#   docker:dind-rootless runs it), and rootful docker's own docker-proxy
#   (run by hand into a namespace of ours) as the ceiling.
#   iperf3 both ways (upload: host -> container), a 64-byte request/response
#   on one connection (p50/p99), and whole connections per second.
# Egress (inner container -> iperf3 server in a network namespace this bench
#   creates, 198.18.0.2 behind a veth pair): rdind slirp4netns, rdind pasta,
#   rdind with Debian 13's pasta, rootlesskit's slirp4netns.
# Debian 13's pasta (passt 2025-05-03) needs Debian 13's libc: it runs from
#   a trixie root (the container tests' cached debootstrap, made here when
#   missing, plus the passt package) through that root's dynamic loader.
#   BENCH_TRIXIE_PASTA=0 leaves that side out; BENCH_PORTS=0 measures
#   egress only.
# Prints a table and the ratios against rootlesskit.  Nothing leaves the
# machine: every server is on loopback, in a container, or in our namespace.
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"

SECS=${1:-4}
ROUNDS=${2:-3}
require_root
require_cmd docker dockerd slirp4netns pasta rootlesskit iperf3 docker-proxy ip cc python3 busybox
ROOTLESS_SH=$(command -v dockerd-rootless.sh || echo /usr/share/docker.io/contrib/dockerd-rootless.sh)
[ -x "$ROOTLESS_SH" ] || skip "dockerd-rootless.sh not found"
ensure_test_user
fix_tun
on_exit kill_user_procs
kill_user_procs
U=$T/u
mkdir -p "$U" && chown "$E2E_USER": "$U"
RR="python3 $top_srcdir/bench/port-rr.py"

# The image: busybox, the static echo server, and iperf3 with its libraries.
make_busybox_tar "$T/bb.tar"
R=$T/img
mkdir -p "$R/bin" && tar -C "$R" -xf "$T/bb.tar"
cc -static -O2 -o "$R/bin/echo-server" "$top_srcdir/tests/e2e/echo-server.c" || fail "build echo-server"
cp "$(command -v iperf3)" "$R/bin/iperf3"
for l in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do cp --parents -L "$l" "$R"; done
tar -C "$R" -cf "$T/img.tar" . || fail "image tarball"
cc -O2 -o "$T/echo-host" "$top_srcdir/tests/e2e/echo-server.c" || fail "build echo-server"

# Our namespace for egress (and the ceiling's server).
NS=rdb$$
outside_ns "$NS"
ip netns exec "$NS" iperf3 -s -D -B 198.18.0.2 -p 5201 || fail "iperf3 server in $NS"
ip netns exec "$NS" "$T/echo-host" tcp 9000 &
on_exit "kill $!; pkill -f 'iperf3 -s -D -B 198.18.0.2'"

bps () { python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'; }

# measure_port NAME: iperf3 both ways and request/response through
# 127.0.0.1:$IP (iperf3) and 127.0.0.1:$EP (echo); appends to ports.txt.
measure_port () {
    local up down rr
    wait_for 20 $RR 127.0.0.1 "$EP" 1 1 >/dev/null || fail "$1: echo port does not answer"
    up=$(timeout 60 iperf3 -c 127.0.0.1 -p "$IP" -t "$SECS" -J | bps) || fail "$1: iperf3 upload"
    down=$(timeout 60 iperf3 -c 127.0.0.1 -p "$IP" -t "$SECS" -R -J | bps) || fail "$1: iperf3 download"
    rr=$($RR 127.0.0.1 "$EP" 5000 500) || fail "$1: request/response"
    echo "$1|$up|$down|$rr" >>"$T/ports.txt"
    echo "# $1: up $up Gbit/s, down $down Gbit/s, p50/p99/conn-rate $rr"
}

# measure_egress NAME: iperf3 from an inner container to our namespace.
measure_egress () {
    local up
    up=$(timeout 90 docker run --rm benchimg iperf3 -c 198.18.0.2 -p 5201 -t "$SECS" -J | bps) ||
        fail "$1: egress iperf3"
    echo "$1|$up" >>"$T/egress.txt"
    echo "# $1: egress $up Gbit/s"
}

# serve: the iperf3 and echo servers behind published ports.
serve () {
    IP=$(free_port); EP=$(free_port)
    timeout 60 docker import "$T/img.tar" benchimg >/dev/null || fail "$1: docker import"
    timeout 60 docker run -d --name srv -p "127.0.0.1:$IP:5201" -p "127.0.0.1:$EP:9000" benchimg \
        sh -c 'echo-server tcp 9000 & exec iperf3 -s' >/dev/null || fail "$1: docker run -p"
}

# rdind NAME NET DRIVER EGRESS-NAME: rdind launch (the daemon, no sidecar:
# the port path is what is measured).
# [PASTA]: the pasta program to use.
rdind_side () {
    local st=$U/$2-$3
    mkdir -p "$st" && chown "$E2E_USER": "$st"
    RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$st/s RDIND_LAUNCHER_DATA_ROOT=$st/data RDIND_LAUNCHER_NET=$2 RDIND_LAUNCHER_PORT_DRIVER=$3 ${5:+RDIND_LAUNCHER_PASTA=$5} ${BENCH_ENV:-}" \
        as_user "$RDIND" launch >"$st/launch.log" 2>&1 &
    export DOCKER_HOST=unix://$st/s/docker.sock
    wait_for 60 docker version >/dev/null 2>&1 || fail "$1: not ready (see $st/launch.log)"
    if [ "${BENCH_PORTS:-1}" != 0 ]; then
        serve "$1"
        measure_port "$1"
    else
        timeout 60 docker import "$T/img.tar" benchimg >/dev/null || fail "$1: docker import"
    fi
    [ -z "$4" ] || measure_egress "$4"
    kill -TERM "$(pgrep -o -u "$E2E_USER" -x rdind-launch)"
    wait_for 30 sh -c "! pgrep -u $E2E_USER >/dev/null" || kill_user_procs
}

rootlesskit_side () {
    local st=$U/rk
    mkdir -p "$st/run" && chown -R "$E2E_USER": "$st" && chmod 700 "$st/run"
    RDIND_TEST_ENV="XDG_RUNTIME_DIR=$st/run DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=builtin DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns" \
        as_user "$ROOTLESS_SH" --data-root="$st/data" --storage-driver=overlay2 >"$st/log" 2>&1 &
    export DOCKER_HOST=unix://$st/run/docker.sock
    wait_for 60 docker version >/dev/null 2>&1 || fail "rootlesskit: not ready (see $st/log)"
    if [ "${BENCH_PORTS:-1}" != 0 ]; then
        serve rootlesskit
        measure_port "rootlesskit builtin"
    else
        timeout 60 docker import "$T/img.tar" benchimg >/dev/null || fail "rootlesskit: docker import"
    fi
    measure_egress "rootlesskit slirp4netns"
    pkill -TERM -u "$E2E_USER" -x rootlesskit
    wait_for 30 sh -c "! pgrep -u $E2E_USER >/dev/null" || kill_user_procs
}

# The ceiling: rootful docker's docker-proxy, as rootful dockerd runs it for
# a loopback client, forwarding to servers in our namespace.
ceiling_side () {
    IP=$(free_port); EP=$(free_port)
    docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port "$IP" -container-ip 198.18.0.2 -container-port 5201 3>/dev/null &
    local p1=$!
    docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port "$EP" -container-ip 198.18.0.2 -container-port 9000 3>/dev/null &
    local p2=$!
    on_exit "kill $p1 $p2"
    measure_port "docker-proxy (rootful)"
    kill "$p1" "$p2"
}

# Debian 13's pasta: a wrapper that runs it with the trixie root's loader.
# The loader's copy ends in ".avx2": pasta re-execs /proc/self/exe +
# ".avx2" on AVX2 machines unless that name already ends so, and here
# /proc/self/exe is the loader.
PASTA13=
if [ "${BENCH_TRIXIE_PASTA:-1}" != 0 ]; then
    require_cmd debootstrap chroot
    tb=${RDIND_TEST_CACHE:-/var/cache/rdind-test}/trixie-minbase.tar
    if [ ! -s "$tb" ]; then
        mkdir -p "$(dirname "$tb")"
        debootstrap --variant=minbase trixie "$T/tr" "${RDIND_TEST_MIRROR:-http://deb.debian.org/debian}" >"$T/debootstrap.log" 2>&1 ||
            fail "debootstrap trixie (see $T/debootstrap.log)"
        rm -rf "$T/tr"/var/cache/apt/archives/*.deb "$T/tr"/var/lib/apt/lists/*
        tar --numeric-owner -C "$T/tr" -cf "$tb.tmp" . && mv "$tb.tmp" "$tb" || fail "caching $tb"
        rm -rf "$T/tr"
    fi
    TR=$T/trixie
    mkdir -p "$TR" && tar -C "$TR" -xf "$tb" && cp /etc/resolv.conf "$TR/etc/resolv.conf"
    chroot "$TR" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends passt' \
        >"$T/passt.log" 2>&1 || fail "installing passt in the trixie root (see $T/passt.log)"
    prog=$TR/usr/bin/pasta
    grep -qw avx2 /proc/cpuinfo && [ -x "$prog.avx2" ] && prog=$prog.avx2
    cp "$TR/lib64/ld-linux-x86-64.so.2" "$T/ld-trixie.avx2"
    printf '#!/bin/sh\nexec %s --library-path %s --argv0 pasta %s "$@"\n' "$T/ld-trixie.avx2" \
        "$TR/usr/lib/x86_64-linux-gnu" "$prog" >"$T/pasta13"
    chmod 755 "$T/ld-trixie.avx2" "$T/pasta13"
    as_user "$T/pasta13" --help >/dev/null 2>&1 || fail "Debian 13's pasta does not run through $T/pasta13"
    echo "# Debian 13's pasta: $(chroot "$TR" dpkg-query -W -f '${Version}' passt) ($prog)"
    PASTA13=$T/pasta13
fi

for round in $(seq "$ROUNDS"); do
    echo "# round $round of $ROUNDS"
    rdind_side "rdind native" slirp4netns native "rdind slirp4netns"
    rdind_side "rdind native + pasta" pasta native "rdind pasta"
    [ -z "$PASTA13" ] || rdind_side "rdind native + pasta 13" pasta native "rdind pasta (Debian 13)" "$PASTA13"
    [ "${BENCH_PORTS:-1}" = 0 ] || rdind_side "rdind slirp4netns driver" slirp4netns slirp4netns ""
    rootlesskit_side
    [ "${BENCH_PORTS:-1}" = 0 ] || ceiling_side
    rm -rf "${U:?}"/*
done
# The median of the rounds, per side and column.
touch "$T/ports.txt"
for f in ports egress; do
    python3 - "$T/$f.txt" >"$T/$f.med" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *vals = line.rstrip("\n").split("|")
    vals = " ".join(vals).split()
    rows.setdefault(name, []).append([float(v) for v in vals])
for name, rs in rows.items():
    med = [statistics.median(col) for col in zip(*rs)]
    if len(med) > 1:
        fmt = ["%.2f" % med[0], "%.2f" % med[1], " ".join("%.0f" % v for v in med[2:])]
    else:  # egress: the median, then the range over the rounds
        fmt = ["%.2f" % med[0], "%.2f to %.2f" % (min(r[0] for r in rs), max(r[0] for r in rs))]
    print("|".join([name] + fmt))
PY
done

get () { awk -F'|' -v n="$1" -v f="$2" '$1 == n {print $f}' "$3"; }
echo
printf '%-26s %12s %12s %10s %10s %12s\n' "port ($SECS s, median of $ROUNDS)" "up Gbit/s" "down Gbit/s" "p50 us" "p99 us" "conn/s"
while IFS='|' read -r name up down rr; do
    set -- $rr
    printf '%-26s %12s %12s %10s %10s %12s\n' "$name" "$up" "$down" "$1" "$2" "$3"
done <"$T/ports.med"
echo
printf '%-26s %12s %16s\n' "egress ($SECS s, median of $ROUNDS)" "Gbit/s" "range"
while IFS='|' read -r name up range; do printf '%-26s %12s %16s\n' "$name" "$up" "$range"; done <"$T/egress.med"
echo
ku=$(get "rootlesskit builtin" 2 "$T/ports.med"); kd=$(get "rootlesskit builtin" 3 "$T/ports.med")
kl=$(get "rootlesskit builtin" 4 "$T/ports.med" | cut -d' ' -f1)
ru=$(get "rdind native" 2 "$T/ports.med"); rd=$(get "rdind native" 3 "$T/ports.med")
rl=$(get "rdind native" 4 "$T/ports.med" | cut -d' ' -f1)
es=$(get "rdind slirp4netns" 2 "$T/egress.med"); ep=$(get "rdind pasta" 2 "$T/egress.med")
ek=$(get "rootlesskit slirp4netns" 2 "$T/egress.med"); e13=$(get "rdind pasta (Debian 13)" 2 "$T/egress.med")
awk -v ru="$ru" -v ku="$ku" -v rd="$rd" -v kd="$kd" -v rl="$rl" -v kl="$kl" -v ep="$ep" -v es="$es" -v ek="$ek" -v e13="$e13" 'BEGIN {
    if (ku > 0 && kd > 0 && kl > 0) {
        printf "rdind native / rootlesskit builtin: upload %.2fx, download %.2fx (target >= 1.2x)\n", ru / ku, rd / kd;
        printf "rdind native / rootlesskit builtin: request p50 %.2fx (target <= 0.9x)\n", rl / kl }
    printf "egress pasta / slirp4netns: %.2fx (target >= 2x); rdind slirp4netns / rootlesskit: %.2fx\n", ep / es, es / ek;
    if (e13 > 0) printf "egress Debian 13 pasta / slirp4netns: %.2fx (target >= 2x)\n", e13 / es }'
