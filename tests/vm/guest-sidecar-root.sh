#!/bin/bash
# In the cgroup v2 guest: `rdind sidecar` started as root (host mode) drops
# to the e2e user, becomes ready, and serves docker run through its TLS
# endpoint; SIGTERM stops it cleanly.  Prints what the daemon says about
# cgroups and whether --memory/--pids-limit hold (# limits: ...).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/vm/guest-lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

t=$(now_ms)
start_sidecar
figure "root sidecar ready (listening) in $(( $(now_ms) - t )) ms under TCG"
pass "sidecar started as root is listening"
check "rdind health" env RDIND_SIDECAR_LISTEN=127.0.0.1:$PORT RDIND_TLS_CERTDIR=$CERTS "$RDIND" health
check "the sidecar runs as the user" sh -c "[ \"\$(stat -c %u /proc/$SPID)\" = $E2E_UID ]"
docker_checks root
# The not-delegated row of the README's table: root in a plain service's
# cgroup (the test unit has no Delegate=yes) divides nothing, says so once,
# and dockerd runs as it does on v1 (rootless, driver "none"), where before
# it picked systemd on seeing /run/systemd/system and failed every start.
check "root, not delegated: the log says why limits are not enforced" \
    grep -q 'msg="no cgroup for the daemon.s limits" why=.*not enforced' "$LOG"
drv=$(timeout 60 docker info --format '{{.CgroupDriver}}')
check "root, not delegated: dockerd's cgroup driver is none (got: $drv)" test "$drv" = none
stop_sidecar
