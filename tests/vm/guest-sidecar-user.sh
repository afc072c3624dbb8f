#!/bin/bash
# In the cgroup v2 guest: `rdind sidecar` started by the unprivileged user
# itself (host mode, newuidmap for the id maps) becomes ready and serves
# docker run through its TLS endpoint; SIGTERM stops it cleanly.  Prints
# the cgroup driver and the limit figures (# limits: ...).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/vm/guest-lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout setpriv
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

PORT=$(free_port)
U=$T/u
CERTS=$U/certs
LOG=$T/sidecar.log
mkdir -p "$U" && chown "$E2E_USER": "$U"
export DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client
dump_on_fail "$LOG"
on_exit kill_user_procs
on_exit 'kill -TERM $SPID 2>/dev/null; sleep 1; kill -KILL $SPID 2>/dev/null'
t=$(now_ms)
# as_user's command line, exec'd so that $! is rdind's own pid.
(exec setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
    env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$E2E_HOME" USER="$E2E_USER" \
    LOGNAME="$E2E_USER" XDG_RUNTIME_DIR="$E2E_RUNDIR" RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" \
    RDIND_TLS_CERTDIR="$CERTS" RDIND_LAUNCHER_STATE_DIR="$U/state" RDIND_LAUNCHER_DATA_ROOT="$U/data" \
    "$RDIND" sidecar) >"$LOG" 2>&1 &
SPID=$!
wait_for 120 grep -q 'msg=listening' "$LOG" || fail "the sidecar started as the user did not start listening"
figure "user sidecar ready (listening) in $(( $(now_ms) - t )) ms under TCG"
pass "sidecar started as the user is listening"
check "the id maps came from newuidmap (not a prepared namespace)" sh -c "! grep -q 'userns=prepared' '$LOG'"
check "rdind health" env RDIND_SIDECAR_LISTEN=127.0.0.1:$PORT RDIND_TLS_CERTDIR=$CERTS "$RDIND" health
docker_checks user
stop_sidecar
