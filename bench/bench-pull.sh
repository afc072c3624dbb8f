#!/bin/bash
# bench-pull.sh [ROUNDS]: `docker pull` of a ~200 MB image (busybox and four
# layers of 50 MiB of random data, so nothing compresses away) from a local
# registry, side by side in one run: the four daemons run at once and take
# turns, ROUNDS pulls each (default 5; the image is removed before each),
# medians shown:
#   rdind direct    launcher.pull_path = direct (the launcher's proxy, from
#                   the host's namespace)
#   rdind slirp     launcher.pull_path = slirp (through slirp4netns)
#   rootlesskit     dockerd-rootless.sh with Debian 12's rootlesskit 1.1 and
#                   slirp4netns (what docker:dind-rootless runs)
#   rootlesskit 2.0 the anchor at current versions: Debian 13's rootlesskit
#                   2.0.2 + dockerd 26.1.5 in docker:dind-rootless's setup
#                   (bench/lib-anchor.sh); BENCH_ANCHOR13=0 leaves it out
#   rdind direct, dockerd 26
#                   rdind against the same dockerd 26.1.5, from that root
#   rootful         dockerd as root (the ceiling)
#   rootlesskit 2.0 --detach-netns
#                   the same with rootlesskit's --detach-netns: dockerd in
#                   the host's network namespace, so its pulls skip
#                   slirp4netns (the path docker 29.5's dockerd-rootless.sh
#                   takes by default).  dockerd 26 cannot keep its networks
#                   in the detached namespace (moby#47103 is docker 29.5),
#                   so this one runs with --bridge=none, no iptables, no ip_forward:
#                   a pull-path measurement, not a usable daemon.
# The registry is Debian's docker-registry in a network namespace this bench
# creates (198.18.5.2 behind a veth pair): nothing leaves the machine.  Not
# part of `make check`.
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-outer.sh"
. "$top_srcdir/bench/lib-anchor.sh"

ROUNDS=${1:-5}
require_root
require_cmd docker dockerd slirp4netns rootlesskit busybox ip docker-registry python3 curl
ROOTLESS_SH=$(command -v dockerd-rootless.sh || echo /usr/share/docker.io/contrib/dockerd-rootless.sh)
[ -x "$ROOTLESS_SH" ] || skip "dockerd-rootless.sh not found"
ensure_test_user
fix_tun
on_exit kill_user_procs
kill_user_procs
U=$T/u
mkdir -p "$U" && chown "$E2E_USER": "$U"

NS=rdbpl$$
outside_ns "$NS" 198.18.5
REG=198.18.5.2:5000
mkdir -p "$T/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$T/registry" "$REG" >"$T/reg.yml"
dump_on_fail "$T/registry.log"
ip netns exec "$NS" docker-registry serve "$T/reg.yml" >"$T/registry.log" 2>&1 &
on_exit "kill $!"
wait_for 20 curl -sf "http://$REG/v2/" || fail "docker-registry did not start in $NS"
IMG=$REG/pull:1

# rdind_up NAME PULL_PATH: rdind launch (the daemon, no sidecar: the pull
# path is what is measured), DOCKER_HOST pointing at it.  RUN=anchor13_as_user
# runs it in the Debian 13 root, against dockerd 26.1.5.
rdind_up () {
    local st=$U/$1
    mkdir -p "$st" && chown "$E2E_USER": "$st"
    RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$st/s RDIND_LAUNCHER_DATA_ROOT=$st/data RDIND_LAUNCHER_PULL_PATH=$2 RDIND_CACHE_INSECURE_REGISTRIES=$REG" \
        ${RUN:-as_user} "$RDIND" launch >"$st/launch.log" 2>&1 &
    dump_on_fail "$st/launch.log"
    export DOCKER_HOST=unix://$st/s/docker.sock
    wait_for 60 docker version >/dev/null 2>&1 || fail "$1: not ready (see $st/launch.log)"
}
rootlesskit_up () {
    local st=$U/rk
    mkdir -p "$st/run" "$st/cfg/docker" && chmod 700 "$st/run"
    echo "{\"insecure-registries\": [\"$REG\"]}" >"$st/cfg/docker/daemon.json"
    chown -R "$E2E_USER": "$st"
    RDIND_TEST_ENV="XDG_RUNTIME_DIR=$st/run XDG_CONFIG_HOME=$st/cfg DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=builtin DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns" \
        as_user "$ROOTLESS_SH" --data-root="$st/data" --storage-driver=overlay2 >"$st/log" 2>&1 &
    dump_on_fail "$st/log"
    export DOCKER_HOST=unix://$st/run/docker.sock
    wait_for 60 docker version >/dev/null 2>&1 || fail "rootlesskit: not ready (see $st/log)"
}

# pull NAME HOST ROUND: one timed pull through HOST, the image removed
# first; appends "NAME|ms".
pull () {
    local t0 t1
    DOCKER_HOST=$2 timeout 120 docker rmi -f "$IMG" >/dev/null 2>&1
    t0=$(now_ms)
    DOCKER_HOST=$2 timeout 600 docker pull -q "$IMG" >/dev/null || fail "$1: docker pull"
    t1=$(now_ms)
    echo "$1|$((t1 - t0))" >>"$T/pulls.txt"
    echo "# $1: round $3: $((t1 - t0)) ms"
}

# The image, built and pushed once by rdind (direct).
make_busybox_tar "$T/bb.tar"
mkdir -p "$T/ctx"
for i in 1 2 3 4; do head -c $((50 << 20)) /dev/urandom >"$T/ctx/data$i"; done
printf 'FROM bb\nCOPY data1 /\nCOPY data2 /\nCOPY data3 /\nCOPY data4 /\n' >"$T/ctx/Dockerfile"
chmod -R o+rX "$T/ctx"
rdind_up direct direct
timeout 60 docker import "$T/bb.tar" bb >/dev/null || fail "docker import"
DOCKER_BUILDKIT=0 timeout 600 docker build -q -t "$IMG" "$T/ctx" >/dev/null || fail "docker build"
timeout 600 docker push "$IMG" >/dev/null || fail "docker push"
H_DIRECT=$DOCKER_HOST
rdind_up slirp slirp
H_SLIRP=$DOCKER_HOST
rootlesskit_up
H_RK=$DOCKER_HOST
if [ "${BENCH_ANCHOR13:-1}" != 0 ]; then
    RUN=anchor13_as_user rdind_up direct26 direct
    H_DIRECT26=$DOCKER_HOST
    mkdir -p "$U/rk13"
    anchor13_start dind "$U/rk13" --insecure-registry "$REG"
    on_exit anchor13_stop
    dump_on_fail "$U/rk13/log"
    wait_for 90 docker version >/dev/null 2>&1 || fail "rootlesskit 2.0.2: not ready (see $U/rk13/log)"
    H_RK13=$DOCKER_HOST
    mkdir -p "$U/rk13d"
    A13_PID_A=$A13_PID
    anchor13_start detach "$U/rk13d" --insecure-registry "$REG" --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
    A13_PID_D=$A13_PID
    on_exit "kill -TERM $A13_PID_D 2>/dev/null"
    dump_on_fail "$U/rk13d/log"
    wait_for 90 docker version >/dev/null 2>&1 || fail "rootlesskit 2.0.2 --detach-netns: not ready (see $U/rk13d/log)"
    # What is measured: that dockerd (the account's newest) sits in the
    # host's network namespace.
    dpid=$(pgrep -n -u "$E2E_USER" -x dockerd)
    [ -n "$dpid" ] && [ "$(readlink "/proc/$dpid/ns/net")" = "$(readlink /proc/self/ns/net)" ] ||
        fail "rootlesskit 2.0.2 --detach-netns: dockerd ($dpid) is not in the host's network namespace"
    A13_PID=$A13_PID_A
    H_RK13D=$DOCKER_HOST
fi
# The ceiling: rootful dockerd, no bridge, no iptables changes.
outer_start --iptables=false --insecure-registry "$REG"
H_ROOTFUL=$DOCKER_HOST
for r in $(seq "$ROUNDS"); do
    pull "rdind direct" "$H_DIRECT" "$r"
    pull "rdind slirp" "$H_SLIRP" "$r"
    pull "rootlesskit 1.1 (slirp4netns)" "$H_RK" "$r"
    if [ -n "${H_RK13:-}" ]; then
        pull "rdind direct, dockerd 26" "$H_DIRECT26" "$r"
        pull "rootlesskit 2.0.2 (slirp4netns, dockerd 26)" "$H_RK13" "$r"
        pull "rootlesskit 2.0.2 --detach-netns (dockerd 26)" "$H_RK13D" "$r"
    fi
    pull "rootful dockerd" "$H_ROOTFUL" "$r"
done
pp=$(pgrep -u "$E2E_USER" -x rdind-pullproxy | head -1)
[ -z "$pp" ] || echo "# rdind-pullproxy RSS after the pulls: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pp/status")"
outer_stop
[ -z "${A13_PID_D:-}" ] || kill -TERM "$A13_PID_D" 2>/dev/null

size=$(curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$REG/v2/pull/manifests/1" |
    python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')
python3 - "$T/pulls.txt" "$ROUNDS" "$size" <<'PY'
import statistics, sys
order, v = [], {}
for line in open(sys.argv[1]):
    name, ms = line.strip().split("|")
    if name not in v:
        order.append(name)
        v[name] = []
    v[name].append(int(ms))
size = int(sys.argv[3])
med = {n: statistics.median(v[n]) for n in order}
rk = [n for n in order if n.startswith("rootlesskit")][0]
rk2 = ([n for n in order if n.startswith("rootlesskit 2")] or [None])[0]
print("bench-pull: docker pull of %.0f MB (compressed layers) from a local registry, median of %s rounds"
      % (size / 1e6, sys.argv[2]))
print("| daemon | pull (s) | MB/s | range (s) | time vs rootlesskit |")
print("|---|---|---|---|---|")
for n in order:
    print("| %s | %.2f | %.0f | %.2f to %.2f | %.2fx |" % (n, med[n] / 1000, size / 1e6 / (med[n] / 1000),
          min(v[n]) / 1000, max(v[n]) / 1000, med[n] / med[rk]))
print("rdind direct vs rdind slirp: %.2fx the time" % (med["rdind direct"] / med["rdind slirp"]))
if rk2:
    print("rdind direct, dockerd 26 vs rootlesskit 2.0.2 (same dockerd): %.2fx the time"
          % (med["rdind direct, dockerd 26"] / med[rk2]))
rkd = "rootlesskit 2.0.2 --detach-netns (dockerd 26)"
if rkd in med:
    print("rdind direct, dockerd 26 vs %s: %.2fx the time" % (rkd, med["rdind direct, dockerd 26"] / med[rkd]))
PY
