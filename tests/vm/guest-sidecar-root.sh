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
stop_sidecar
