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
# The anchor comes in two versions: Debian 12's rootlesskit 1.1 + dockerd
#   20.10 (the host's, "rootlesskit 1.1"), and Debian 13's rootlesskit 2.0.2
#   + dockerd 26.1.5 (bench/lib-anchor.sh: a trixie root) in two setups:
#   (a) docker:dind-rootless's flags (slirp4netns, MTU 1500, builtin port
#   driver) and (b) dockerd-rootless.sh's defaults (slirp4netns, MTU 65520,
#   builtin port driver).  rdind runs both against the host's dockerd 20.10
#   and, from the same trixie root, against dockerd 26.1.5 ("dockerd 26"),
#   so that one pair of sides differs in the launcher only.
#   BENCH_ANCHOR13=0 leaves the Debian 13 sides out, BENCH_ANCHOR11=0 the
#   rootlesskit 1.1 side.
#   iperf3 both ways (upload: host -> container), a 64-byte request/response
#   on one connection (p50/p99), and whole connections per second.
# Egress (inner container -> iperf3 server in a network namespace this bench
#   creates, 198.18.0.2 behind a veth pair): rdind slirp4netns, rdind pasta,
#   rdind with Debian 13's pasta, rootlesskit's slirp4netns.
# Debian 13's pasta needs Debian 13's libc: it runs from the anchor's trixie
#   root (bench/lib-anchor.sh) through that root's dynamic loader.
#   BENCH_TRIXIE_PASTA=0 leaves that side out; BENCH_PORTS=0 measures
#   egress only.
# BENCH_RDIND_B=PATH adds "rdind native (B)": the same side as "rdind
#   native" with another build's rdind (an A/B of a change in one run), and
#   its ratios.
# BENCH_TCP_WMEM_MAX=BYTES sets the host's net.ipv4.tcp_wmem maximum for
#   the run (every side alike; restored at exit): pasta's egress follows it
#   (README, "Published ports").
# Prints a table and the ratios against each anchor.  Nothing leaves the
# machine: every server is on loopback, in a container, or in our namespace.
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"
. "$top_srcdir/bench/lib-anchor.sh"

SECS=${1:-4}
ROUNDS=${2:-3}
require_root
require_cmd docker dockerd slirp4netns pasta rootlesskit iperf3 docker-proxy ip cc python3 busybox
ROOTLESS_SH=$(command -v dockerd-rootless.sh || echo /usr/share/docker.io/contrib/dockerd-rootless.sh)
[ -x "$ROOTLESS_SH" ] || skip "dockerd-rootless.sh not found"
ensure_test_user
fix_tun
on_exit kill_user_procs
if [ -n "${BENCH_TCP_WMEM_MAX:-}" ]; then
    read -r w0 w1 w2 </proc/sys/net/ipv4/tcp_wmem
    on_exit "echo '$w0 $w1 $w2' >/proc/sys/net/ipv4/tcp_wmem"
    echo "$w0 $w1 $BENCH_TCP_WMEM_MAX" >/proc/sys/net/ipv4/tcp_wmem || fail "BENCH_TCP_WMEM_MAX=$BENCH_TCP_WMEM_MAX: not accepted"
fi
echo "# host net.ipv4.tcp_wmem: $(cat /proc/sys/net/ipv4/tcp_wmem)"
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
# [PASTA]: the pasta program to use.  RUN=anchor13_as_user runs it in the
# trixie root (dockerd 26.1.5, slirp4netns 1.2.1), as_user on the host.
rdind_side () {
    local st; st=$U/$(echo "$1" | tr -c "a-z0-9\n" _)   # one per side: a data root holds its srv
    mkdir -p "$st" && chown "$E2E_USER": "$st"
    RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$st/s RDIND_LAUNCHER_DATA_ROOT=$st/data RDIND_LAUNCHER_NET=$2 RDIND_LAUNCHER_PORT_DRIVER=$3 ${5:+RDIND_LAUNCHER_PASTA=$5} ${BENCH_ENV:-}" \
        ${RUN:-as_user} "$RDIND" launch >"$st/launch.log" 2>&1 &
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

# rootlesskit_side SETUP: the anchor.  11 = the host's rootlesskit 1.1 +
# dockerd 20.10 (slirp4netns, builtin port driver, the script's MTU 65520);
# dind or default = Debian 13's, setup (a) or (b) of bench/lib-anchor.sh.
rootlesskit_side () {
    local st=$U/rk-$1 name
    mkdir -p "$st/run" && chown -R "$E2E_USER": "$st" && chmod 700 "$st/run"
    case $1 in
        11) name="rootlesskit 1.1"
            RDIND_TEST_ENV="XDG_RUNTIME_DIR=$st/run DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=builtin DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns" \
                as_user "$ROOTLESS_SH" --data-root="$st/data" --storage-driver=overlay2 >"$st/log" 2>&1 &
            export DOCKER_HOST=unix://$st/run/docker.sock ;;
        dind) name="rootlesskit 2.0 (a)"; anchor13_start dind "$st" ;;
        default) name="rootlesskit 2.0 (b)"; anchor13_start default "$st" ;;
    esac
    wait_for 60 docker version >/dev/null 2>&1 || fail "$name: not ready (see $st/log)"
    if [ "${BENCH_PORTS:-1}" != 0 ]; then
        serve "$name"
        measure_port "$name builtin"
    else
        timeout 60 docker import "$T/img.tar" benchimg >/dev/null || fail "$name: docker import"
    fi
    measure_egress "$name slirp4netns"
    if [ "$1" = 11 ]; then
        pkill -TERM -u "$E2E_USER" -x rootlesskit
        wait_for 30 sh -c "! pgrep -u $E2E_USER >/dev/null" || kill_user_procs
    else
        anchor13_stop
    fi
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

PASTA13=
if [ "${BENCH_TRIXIE_PASTA:-1}" != 0 ] || [ "${BENCH_ANCHOR13:-1}" != 0 ]; then
    anchor13_root
fi
if [ "${BENCH_TRIXIE_PASTA:-1}" != 0 ]; then
    anchor13_pasta
    PASTA13=$A13_PASTA
fi

for round in $(seq "$ROUNDS"); do
    echo "# round $round of $ROUNDS"
    rdind_side "rdind native" slirp4netns native "rdind slirp4netns"
    [ -z "${BENCH_RDIND_B:-}" ] || RDIND=$BENCH_RDIND_B rdind_side "rdind native (B)" slirp4netns native ""
    rdind_side "rdind native + pasta" pasta native "rdind pasta"
    [ -z "$PASTA13" ] || rdind_side "rdind native + pasta 13" pasta native "rdind pasta (Debian 13)" "$PASTA13"
    [ "${BENCH_PORTS:-1}" = 0 ] || rdind_side "rdind slirp4netns driver" slirp4netns slirp4netns ""
    [ "${BENCH_ANCHOR11:-1}" = 0 ] || rootlesskit_side 11
    if [ "${BENCH_ANCHOR13:-1}" != 0 ]; then
        RUN=anchor13_as_user rdind_side "rdind native, dockerd 26" slirp4netns native "rdind slirp4netns, dockerd 26"
        rootlesskit_side dind
        rootlesskit_side default
    fi
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

echo
printf '%-34s %12s %12s %10s %10s %12s\n' "port ($SECS s, median of $ROUNDS)" "up Gbit/s" "down Gbit/s" "p50 us" "p99 us" "conn/s"
while IFS='|' read -r name up down rr; do
    set -- $rr
    printf '%-34s %12s %12s %10s %10s %12s\n' "$name" "$up" "$down" "$1" "$2" "$3"
done <"$T/ports.med"
echo
printf '%-34s %12s %16s\n' "egress ($SECS s, median of $ROUNDS)" "Gbit/s" "range"
while IFS='|' read -r name up range; do printf '%-34s %12s %16s\n' "$name" "$up" "$range"; done <"$T/egress.med"
echo
# The ratios: rdind's native driver against each anchor that ran (and
# against the ceiling), then egress.
python3 - "$T/ports.med" "$T/egress.med" <<'PY'
import sys
def load(path):
    rows = {}
    for line in open(path):
        name, *vals = line.rstrip("\n").split("|")
        rows[name] = [float(v) for v in " ".join(vals).replace(" to ", " ").split()]
    return rows
ports, egress = load(sys.argv[1]), load(sys.argv[2])
pairs = [("rdind native", a) for a in ("rootlesskit 1.1 builtin", "rootlesskit 2.0 (a) builtin",
                                       "rootlesskit 2.0 (b) builtin", "docker-proxy (rootful)")]
pairs += [("rdind native (B)", a) for a in ("rdind native", "rootlesskit 2.0 (a) builtin", "rootlesskit 2.0 (b) builtin")]
pairs += [("rdind native, dockerd 26", a) for a in ("rootlesskit 2.0 (a) builtin", "rootlesskit 2.0 (b) builtin")]
for r, a in pairs:
    if r in ports and a in ports and min(ports[a][:3]) > 0:
        (ru, rd, rl), (au, ad, al) = ports[r][:3], ports[a][:3]
        target = ("target >= 1.0x" if a.startswith("docker-proxy") else
                  "A/B" if a == "rdind native" else "target >= 1.2x")
        print("%s / %s: upload %.2fx, download %.2fx (%s), request p50 %.2fx%s"
              % (r, a, ru / au, rd / ad, target, rl / al, "" if target == "A/B" else " (target <= 0.9x)"))
es = egress.get("rdind slirp4netns", [0])[0]
for name in ("rdind pasta", "rdind pasta (Debian 13)"):
    if name in egress and es > 0:
        print("egress %s / rdind slirp4netns: %.2fx (target >= 2x)" % (name, egress[name][0] / es))
for r, a in (("rdind slirp4netns", "rootlesskit 1.1 slirp4netns"),
             ("rdind slirp4netns", "rootlesskit 2.0 (a) slirp4netns"),
             ("rdind slirp4netns", "rootlesskit 2.0 (b) slirp4netns"),
             ("rdind slirp4netns, dockerd 26", "rootlesskit 2.0 (b) slirp4netns")):
    if r in egress and a in egress and egress[a][0] > 0:
        print("egress %s / %s: %.2fx" % (r, a, egress[r][0] / egress[a][0]))
PY
