#!/bin/bash
# In the cgroup v2 guest (issue 20): resource limits hold inside rdind,
# without --privileged, judged by what the kernel applied (the container's
# cgroup files as the guest's root sees them) and what dockerd recorded.
#   1. root in a systemd scope with Delegate=yes (host mode);
#   2. root as an unprivileged container's root: its own cgroup namespace,
#      /sys/fs/cgroup read-only, no CAP_SYS_ADMIN;
#   3. the user's own systemd service with Delegate=yes.
# Each: the sidecar says it delegated, dockerd uses the cgroupfs driver on
# v2, --memory 32m OOM-kills a 100 MiB allocation, --pids-limit 10 stops
# a fork loop, --cpus 0.5 is cpu.max, docker stats shows the container's
# own limit, and every process of the daemon stays in the sidecar's cgroup.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/vm/guest-lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout systemd-run setpriv unshare
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

# cg_dir ID : the guest's path of container ID's cgroup (cgroupfs driver:
# a directory named by the full id).
cg_dir () { find /sys/fs/cgroup -type d -name "$1" 2>/dev/null | head -1; }

# limit_checks WHO PID : the checks, through $DOCKER_HOST, for the sidecar
# PID (started in the cgroup it divides).
limit_checks () {
    local who=$1 scope id dir out rc
    scope=$(sed -n 's/^0:://p' "/proc/$2/cgroup")
    check "$who: the sidecar moved itself into its leaf ($scope)" sh -c "case '$scope' in */rdind-sidecar) ;; *) exit 1;; esac"
    scope=${scope%/rdind-sidecar}
    grep -iE 'cgroup|rootless' "$LOG" | grep -v 'loading plugin' | head -20 | cut -c1-300 | sed "s/^/# $who: log: /"
    check "$who: the sidecar delegated a cgroup to the daemon" grep -q 'level=info src=sidecar msg="cgroup delegated to the daemon: docker run --memory, --pids-limit and --cpus are enforced"' "$LOG"
    check "$who: init enabled the controllers for the daemon's containers" \
        grep -q 'cgroup: the daemon.s own subtree.*memory pids cpu' "$LOG"
    out=$(timeout 60 docker info --format '{{.CgroupDriver}} {{.CgroupVersion}}' 2>&1)
    check "$who: docker info: cgroupfs driver, cgroup v2 (got: $out)" test "$out" = "cgroupfs 2"
    import_busybox bb

    # --memory: the kernel's limit on the container, and an OOM kill that
    # dockerd recorded.
    id=$(timeout 60 docker create --memory 32m --memory-swap 32m bb sh -c 'dd if=/dev/zero of=/dev/null bs=100M count=1') ||
        fail "$who: docker create --memory 32m"
    # A container that waits for its start signal, so that its cgroup is
    # there to read after the kill (the kernel's oom_kill count).
    rc=0; timeout 120 docker start -a "$id" >/dev/null 2>&1 || rc=$?
    check "$who: --memory 32m: a 100 MiB allocation exits 137 (got $rc)" test "$rc" = 137
    echo "# $who: dockerd's record: OOMKilled=$(docker inspect -f '{{.State.OOMKilled}}' "$id")"
    docker rm "$id" >/dev/null 2>&1
    id=$(timeout 60 docker run -d --memory 32m --memory-swap 32m bb sh -c 'sleep 2; dd if=/dev/zero of=/dev/null bs=100M count=1; sleep 600') ||
        fail "$who: docker run -d --memory 32m"
    dir=$(cg_dir "$id")
    wait_for 60 sh -c "awk '/^oom_kill / {exit !(\$2 > 0)}' $dir/memory.events" >/dev/null 2>&1
    check "$who: --memory 32m: the kernel counted an OOM kill in the container's cgroup" \
        sh -c "awk '/^oom_kill / {exit !(\$2 > 0)}' $dir/memory.events"
    docker rm -f "$id" >/dev/null 2>&1

    id=$(timeout 60 docker run -d --memory 32m --memory-swap 32m --pids-limit 10 --cpus 0.5 bb sleep 600) ||
        fail "$who: docker run -d with limits"
    dir=$(cg_dir "$id")
    check "$who: the container has a cgroup of its own ($dir)" test -n "$dir"
    check "$who: memory.max is 32 MiB" sh -c "[ \"\$(cat $dir/memory.max)\" = 33554432 ]"
    check "$who: pids.max is 10" sh -c "[ \"\$(cat $dir/pids.max)\" = 10 ]"
    check "$who: cpu.max is 50000 100000 (--cpus 0.5)" sh -c "[ \"\$(cat $dir/cpu.max)\" = '50000 100000' ]"
    check "$who: the container's cgroup is inside the sidecar's ($scope)" sh -c "case '$dir' in /sys/fs/cgroup$scope/*) ;; *) exit 1;; esac"
    # --pids-limit: a fork loop in the same container stops at the limit.
    # (busybox sh gives up at the first fork that fails; the sleeps that
    # started keep the count up while the guest reads it.)
    timeout 60 docker exec "$id" sh -c 'for i in $(seq 30); do sleep 30 & done' >/dev/null 2>&1
    out=$(cat "$dir/pids.current")
    check "$who: --pids-limit 10: a loop of 30 forks stops at 10 (pids.current $out)" test "${out:-99}" -le 10 -a "${out:-0}" -ge 5
    check "$who: pids.events counts refused forks" sh -c "awk '/^max/ {exit !(\$2 > 0)}' $dir/pids.events"
    out=$(timeout 60 docker stats --no-stream --format '{{.MemUsage}}' "$id" 2>&1)
    check "$who: docker stats shows the container's own limit ($out)" sh -c "echo '$out' | grep -q '/ 32MiB'"
    docker rm -f "$id" >/dev/null 2>&1

    # Every process of the daemon (rdind-launch, slirp4netns, init, dockerd,
    # containerd) is below the sidecar's cgroup.
    local p bad=
    for p in $(pgrep -u "$E2E_UID" -f 'rdind-launch|dockerd|containerd|slirp4netns'); do
        grep -q "^0::$scope/" "/proc/$p/cgroup" || bad="$bad $p:$(cut -d: -f3 "/proc/$p/cgroup")"
    done
    check "$who: the whole daemon is inside the sidecar's cgroup (outside:${bad:- none})" test -z "$bad"
}

# 1. Root, a systemd scope with Delegate=yes.
UNIT=rdind-limits-root
start_sidecar systemd-run --scope -q --unit=$UNIT -p Delegate=yes
limit_checks root "$SPID"
stop_sidecar
kill_user_procs

# 2. Root as an unprivileged container's root would be: its own cgroup
# namespace (docker's default on v2), a read-only cgroup2 mount, and no
# CAP_SYS_ADMIN (bounding set): the sidecar takes its writable view from a
# user namespace of its own.
UNIT=rdind-limits-ctr
PORT=$(free_port) U=$T/u2 LOG=$T/sidecar2.log CERTS=$T/u2/certs
start_sidecar systemd-run --scope -q --unit=$UNIT -p Delegate=yes unshare -C -m sh -c \
    'mount -t cgroup2 -o ro,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup && exec setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin "$0" "$@"'
check "container-like: the sidecar took its writable view from a user namespace" grep -q 'cgroup delegated.*read-only /sys/fs/cgroup' "$LOG"
limit_checks container-like "$SPID"
stop_sidecar
kill_user_procs

# 3. The user's own systemd service with Delegate=yes (contrib/rdind.service).
PORT=$(free_port) U=$T/u3 CERTS=$T/u3/certs
LOG=$U/sidecar.log             # the user writes it
UNIT=rdind-limits-user
mkdir -p "$U" && chown "$E2E_USER": "$U"
export DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_CERT_PATH=$CERTS/client
dump_on_fail "$LOG"
# Linger stays on for guest-sidecar-user.sh, which runs next in this guest:
# a manager being stopped by disable-linger was not back within 90 s
# under TCG.  (That script turns it off at its end.)
on_exit "systemctl --user -M $E2E_USER@ stop $UNIT; systemctl --user -M $E2E_USER@ reset-failed $UNIT"
loginctl enable-linger "$E2E_USER" || fail "loginctl enable-linger $E2E_USER"
# Started explicitly: an earlier script's kill_user_procs may have killed
# the account's manager (it runs as the user), and with linger already on
# nothing starts it again.
systemctl reset-failed "user@$E2E_UID.service" 2>/dev/null
systemctl start --no-block "user@$E2E_UID.service"
wait_for 90 systemctl is-active "user@$E2E_UID.service" || fail "user@$E2E_UID.service did not start"
systemd-run --user -M "$E2E_USER@" --unit="$UNIT" $(service_props) \
    --setenv=RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" --setenv=RDIND_TLS_CERTDIR="$CERTS" \
    --setenv=RDIND_LAUNCHER_STATE_DIR="$U/state" --setenv=RDIND_LAUNCHER_DATA_ROOT="$U/data" \
    /bin/sh -c "exec '$RDIND' sidecar >'$LOG' 2>&1" >/dev/null 2>&1 || fail "systemd-run --user $RDIND sidecar"
wait_for 120 grep -q 'msg=listening' "$LOG" || fail "the user's sidecar did not start listening"
limit_checks user "$(systemctl --user -M "$E2E_USER@" show -p MainPID --value "$UNIT")"
systemctl --user -M "$E2E_USER@" stop "$UNIT" >/dev/null 2>&1
