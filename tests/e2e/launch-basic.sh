#!/bin/bash
# rdind launch end to end, as an unprivileged user with subordinate ids:
# run, build, -p publishing from host loopback, taken port, the inner
# /var/run/docker.sock, a volume surviving a relaunch, and a clean stop.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_cmd docker dockerd slirp4netns newuidmap curl busybox file python3 ss
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"
[ -x "$RDIND_DOCKER_PROXY" ] || fail "rdind-docker-proxy not built at $RDIND_DOCKER_PROXY"

U=$T/u
mkdir -p "$U" && chown "$E2E_USER": "$U"
STATE=$U/s
export DOCKER_HOST=unix://$STATE/docker.sock
RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$STATE RDIND_LAUNCHER_DATA_ROOT=$U/data RDIND_SIDECAR_STOP_TIMEOUT=20s"
LPID=
on_exit kill_user_procs
dump_on_fail "$T/launch.log" "$STATE/dockerd.log" "$STATE/slirp4netns.log"

launch () {
    as_user "$RDIND" launch >>"$T/launch.log" 2>&1 &
    LPID=$!   # the background subshell; its status is rdind's
    wait_for 60 docker version || fail "dockerd did not answer within 60 s"
    RPID=$(pgrep -o -u "$E2E_USER" -x rdind-launch) || fail "no rdind-launch process (rdind launch execs it)"
}
# stop: SIGTERM, then the launcher must exit 0 and leave no process behind.
stop () {
    kill -TERM "$RPID" || fail "cannot signal rdind ($RPID)"
    wait_for 40 sh -c "! kill -0 $RPID 2>/dev/null" || fail "rdind launch still runs 40 s after SIGTERM"
    local rc=0
    wait "$LPID" || rc=$?
    [ "$rc" = 0 ] || fail "rdind launch exited $rc after SIGTERM"
    wait_for 5 sh -c "! pgrep -u $E2E_USER >/dev/null" || { pgrep -a -u "$E2E_USER"; fail "processes of $E2E_USER left after stop"; }
}

launch
pass "launch: dockerd answers on $DOCKER_HOST"
docker info 2>/dev/null | grep -q rootless || fail "dockerd is not in rootless mode"
pass "dockerd runs in rootless mode"
# Its own namespaces: user, mount, network always; pid, uts, ipc by default
# (launcher.namespaces); the cgroup namespace only when asked for.
DPID=$(pgrep -u "$E2E_USER" -x dockerd) || fail "no dockerd process"
for ns in user mnt net pid uts ipc; do
    [ "$(readlink /proc/$DPID/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] || fail "dockerd shares the host's $ns namespace"
done
[ "$(readlink /proc/$DPID/ns/cgroup)" = "$(readlink /proc/self/ns/cgroup)" ] || fail "cgroup namespace created without being asked for"
pass "dockerd runs in its own user, mnt, net, pid, uts and ipc namespaces"
grep -q 'src=dockerd msg="Daemon has completed initialization"' "$T/launch.log" || fail "dockerd's output is not re-logged with src=dockerd"
grep -q 'Daemon has completed initialization' "$STATE/dockerd.log" || fail "dockerd.log misses dockerd's output"
pass "dockerd's output: tagged src=dockerd on stderr, and kept in dockerd.log"
# What stays resident besides dockerd is rdind-launch and its rdind-init: a
# small program without OpenSSL or libuv (the rdind binary has both).
IPID=$(pgrep -u "$E2E_USER" -x rdind-init) || fail "no rdind-init process"
own_kib=0
for p in $RPID $IPID; do
    grep -qE 'libssl|libcrypto|libuv|libinih' /proc/$p/maps && fail "$(cat /proc/$p/comm) maps $(grep -oE 'lib(ssl|crypto|uv|inih)[^ ]*' /proc/$p/maps | sort -u | tr '\n' ' ')"
    own_kib=$(( own_kib + $(awk '/^VmRSS:/ {print $2}' /proc/$p/status) ))
done
pass "launcher processes (rdind-launch, rdind-init) map no OpenSSL, libuv or inih (${own_kib} KiB resident)"
grep -q 'msg="storage driver" driver=' "$T/launch.log" || fail "no storage driver log line"
pass "storage driver choice logged: $(grep -o 'driver=[^ ]*' "$T/launch.log" | head -1)"

make_busybox_tar "$T/bb.tar"
check "docker import" docker import "$T/bb.tar" bb:latest
[ "$(docker run --rm bb echo hi)" = hi ] || fail "docker run --rm"
pass "docker run --rm"

mkdir -p "$T/ctx"
printf 'FROM bb\nRUN echo built-by-run > /built.txt\nCMD ["cat", "/built.txt"]\n' > "$T/ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t bbuilt "$T/ctx" >/dev/null || fail "docker build with a RUN step"
[ "$(docker run --rm bbuilt)" = built-by-run ] || fail "built image content"
pass "docker build (RUN step)"

PORT=$(free_port)
docker run -d --name web -p 127.0.0.1:$PORT:80 bb httpd -f -p 80 -h /www >/dev/null || fail "run -p"
wait_for 10 curl -fsS -m 2 "http://127.0.0.1:$PORT/" || fail "published port $PORT not reachable"
[ "$(curl -fsS -m 2 "http://127.0.0.1:$PORT/")" = "hello from rdind" ] || fail "wrong answer on $PORT"
pass "-p 127.0.0.1:$PORT:80 reachable from host loopback"

# A port already taken on the host: docker run must fail and say why.
TAKEN=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(60)' "$TAKEN" &
HOLDER=$!
on_exit "kill $HOLDER"
wait_for 5 sh -c "ss -ltn | grep -q ':$TAKEN '" || true
if docker run -d --name taken -p 127.0.0.1:$TAKEN:80 bb httpd -f -p 80 >"$T/taken.out" 2>&1; then
    fail "docker run on a taken port succeeded"
fi
grep -q "already in use" "$T/taken.out" || { cat "$T/taken.out"; fail "taken port error is not clear"; }
pass "taken port fails docker run: $(grep -o 'cannot publish[^(]*' "$T/taken.out")"
docker rm -f taken >/dev/null 2>&1
kill "$HOLDER" 2>/dev/null

docker rm -f web >/dev/null || fail "rm web"
wait_for 5 sh -c "! curl -fsS -m 1 http://127.0.0.1:$PORT/" || fail "forward of $PORT survives container removal"
pass "container removal removes the forward"

# Without a host IP dockerd 20.10 publishes on 0.0.0.0 and on :: (two
# proxies); both must succeed and the port must answer on loopback.
PORT2=$(free_port)
docker run -d --name web2 -p $PORT2:80 bb httpd -f -p 80 -h /www >/dev/null || fail "run -p $PORT2:80 (no host IP)"
wait_for 10 curl -fsS -m 2 "http://127.0.0.1:$PORT2/" || fail "published port $PORT2 (no host IP) not reachable"
docker rm -f web2 >/dev/null
pass "-p $PORT2:80 (0.0.0.0 and ::) reachable from host loopback"

# Testcontainers' Ryuk: an inner container with the daemon socket.
# The host's docker CLI is a static Go binary: mount it into the container;
# else ask the API with busybox wget... which lacks unix sockets, so fail.
file -L "$(command -v docker)" | grep -q 'statically linked' || fail "host docker CLI is not static: cannot run it in a busybox container"
docker run -d --name keepme bb sleep 600 >/dev/null || fail "run keepme"
out=$(docker run --rm -v "$(command -v docker):/bin/docker-cli:ro" -v /var/run/docker.sock:/var/run/docker.sock \
      bb /bin/docker-cli -H unix:///var/run/docker.sock ps --format '{{.Names}}' 2>&1)
echo "$out" | grep -qx keepme || { echo "$out"; fail "inner container does not see the inner daemon"; }
pass "inner -v /var/run/docker.sock lists the inner daemon's containers"
docker rm -f keepme >/dev/null

docker volume create vol >/dev/null
docker run --rm -v vol:/data bb sh -c 'echo persisted > /data/f' || fail "write volume"
stop
pass "SIGTERM: exit 0, no process of $E2E_USER left"
[ ! -e "$STATE/rootlesskit/api.sock" ] || fail "api.sock left behind"

launch
[ "$(docker run --rm -v vol:/data bb cat /data/f)" = persisted ] || fail "volume data lost over a relaunch"
pass "volume data survives stop + relaunch"
stop
pass "second stop clean"
