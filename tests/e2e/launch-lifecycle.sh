#!/bin/bash
# rdind launch lifecycle: a dockerd that dies takes the launcher down with
# its status and the tail of its log; a dockerd that does not stop within
# stop_timeout is killed with everything in its namespaces.  Nothing of the
# user may remain either way.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_cmd docker dockerd slirp4netns newuidmap busybox
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

U=$T/u
mkdir -p "$U" && chown "$E2E_USER": "$U"
STATE=$U/s
export DOCKER_HOST=unix://$STATE/docker.sock
on_exit kill_user_procs
dump_on_fail "$T/launch.log" "$STATE/dockerd.log"

launch () {
    as_user "$RDIND" launch >"$T/launch.log" 2>&1 &
    LPID=$!
    wait_for 60 docker version || fail "dockerd did not answer within 60 s"
    RPID=$(pgrep -o -u "$E2E_USER" -x rdind-launch) || fail "no rdind-launch process (rdind launch execs it)"
}
no_procs_left () {
    wait_for 5 sh -c "! pgrep -u $E2E_USER >/dev/null" || { pgrep -a -u "$E2E_USER"; fail "processes of $E2E_USER left: $1"; }
}

make_busybox_tar "$T/bb.tar"

# 1. dockerd killed: the launcher exits with 128+9 and shows the log tail.
RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$STATE RDIND_LAUNCHER_DATA_ROOT=$U/data"
launch
docker import "$T/bb.tar" bb >/dev/null || fail "import"
docker run -d bb sleep 600 >/dev/null || fail "run"
pkill -KILL -u "$E2E_USER" -x dockerd || fail "no dockerd to kill"
wait_for 20 sh -c "! kill -0 $RPID 2>/dev/null" || fail "launcher still runs after dockerd died"
rc=0; wait "$LPID" || rc=$?
[ "$rc" = 137 ] || fail "launcher exit $rc after dockerd was SIGKILLed (want 137)"
grep -q 'msg="dockerd exited" status=137' "$T/launch.log" || fail "no 'dockerd exited' line"
grep -q -- '----- last lines of .*dockerd.log' "$T/launch.log" || fail "no dockerd log tail"
pass "dockerd death: exit 137, error line and log tail"
no_procs_left "after dockerd died"
pass "dockerd death leaves no process (containers, shims, slirp4netns)"

# 2. stop_timeout: a container ignoring SIGTERM keeps dockerd busy for 10 s;
#    with stop_timeout=1s the namespace is killed after 1 s.
RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$STATE RDIND_LAUNCHER_DATA_ROOT=$U/data RDIND_SIDECAR_STOP_TIMEOUT=1s"
launch
docker run -d bb sleep 600 >/dev/null || fail "run"
start=$(date +%s)
kill -TERM "$RPID"
wait_for 10 sh -c "! kill -0 $RPID 2>/dev/null" || fail "launcher ignores stop_timeout"
rc=0; wait "$LPID" || rc=$?
took=$(( $(date +%s) - start ))
grep -q "did not stop in time" "$T/launch.log" || fail "no stop_timeout log line (exit $rc after ${took}s)"
[ "$took" -le 6 ] || fail "stop took ${took}s with stop_timeout=1s"
pass "stop_timeout: killed after ${took}s (exit $rc)"
no_procs_left "after stop_timeout"
pass "stop_timeout leaves no process"

# 3. launcher.namespaces with cgroup: dockerd gets a cgroup namespace of its
#    own (and cgroup2 mounted from it) and containers still run.
RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$STATE RDIND_LAUNCHER_DATA_ROOT=$U/data RDIND_LAUNCHER_NAMESPACES=pid,uts,ipc,cgroup"
launch
DPID=$(pgrep -u "$E2E_USER" -x dockerd) || fail "no dockerd process"
[ "$(readlink /proc/$DPID/ns/cgroup)" != "$(readlink /proc/self/ns/cgroup)" ] || fail "no cgroup namespace with namespaces=...,cgroup"
[ "$(docker run --rm bb echo in-cgroupns)" = in-cgroupns ] || fail "docker run with a cgroup namespace"
pass "namespaces=pid,uts,ipc,cgroup: own cgroup namespace, containers run"
kill -TERM "$RPID"
rc=0; wait "$LPID" || rc=$?
[ "$rc" = 0 ] || fail "exit $rc after SIGTERM"
no_procs_left "after the cgroup-namespace launch"
