#!/bin/bash
# In the cgroup v2 guest: `rdind sidecar` started by the unprivileged user
# itself (host mode, newuidmap for the id maps) as a service of the user's
# own systemd, the way contrib/rdind.service runs it in a developer's
# session (linger on, so user@1000.service runs without a login).  It
# becomes ready and serves docker run through its TLS endpoint; a stop
# (SIGTERM) ends it with status 0.  Prints the cgroup driver and the limit
# figures (# limits: ...).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/vm/guest-lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout systemd-run loginctl
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

PORT=$(free_port)
U=$T/u
CERTS=$U/certs
LOG=$U/sidecar.log
UNIT=rdind-vm-sidecar
mkdir -p "$U" && chown "$E2E_USER": "$U"
export DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client
# usys ARGS... : systemctl of the user's own manager.
usys () { systemctl --user -M "$E2E_USER@" "$@"; }
dump_on_fail "$LOG"
on_exit "loginctl disable-linger $E2E_USER"
on_exit kill_user_procs
on_exit "systemctl --user -M $E2E_USER@ stop $UNIT; systemctl --user -M $E2E_USER@ reset-failed $UNIT"

loginctl enable-linger "$E2E_USER" || fail "loginctl enable-linger $E2E_USER"
# Started explicitly: an earlier script's kill_user_procs may have killed
# the account's manager (it runs as the user), and with linger already on
# nothing starts it again.
systemctl reset-failed "user@$E2E_UID.service" 2>/dev/null
systemctl start --no-block "user@$E2E_UID.service"
check "the user's systemd runs (user@$E2E_UID.service)" wait_for 90 systemctl is-active "user@$E2E_UID.service"
check "the user's slice exists in the cgroup tree" test -e "/sys/fs/cgroup/user.slice/user-$E2E_UID.slice/cgroup.controllers"
echo "# limits: user: controllers delegated to user@$E2E_UID.service: $(cat "/sys/fs/cgroup/user.slice/user-$E2E_UID.slice/user@$E2E_UID.service/cgroup.controllers" 2>/dev/null)"
t=$(now_ms)
systemd-run --user -M "$E2E_USER@" --unit="$UNIT" $(service_props) \
    --setenv=RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" --setenv=RDIND_TLS_CERTDIR="$CERTS" \
    --setenv=RDIND_LAUNCHER_STATE_DIR="$U/state" --setenv=RDIND_LAUNCHER_DATA_ROOT="$U/data" \
    /bin/sh -c "exec '$RDIND' sidecar >'$LOG' 2>&1" >/dev/null 2>&1 ||
    fail "systemd-run --user -M $E2E_USER@ $RDIND sidecar"
wait_for 120 grep -q 'msg=listening' "$LOG" || fail "the sidecar started as the user did not start listening"
figure "user sidecar ready (listening) in $(( $(now_ms) - t )) ms under TCG"
pass "sidecar started as the user (a user service) is listening"
SPID=$(usys show -p MainPID --value "$UNIT")
check "the sidecar runs as the user" sh -c "[ \"\$(stat -c %u /proc/$SPID)\" = $E2E_UID ]"
check "the sidecar runs in the user's manager (user@$E2E_UID.service)" grep -q "user@$E2E_UID.service/" "/proc/$SPID/cgroup"
check "the id maps came from newuidmap (not a prepared namespace)" sh -c "! grep -q 'userns=prepared' '$LOG'"
check "rdind health" env RDIND_SIDECAR_LISTEN=127.0.0.1:$PORT RDIND_TLS_CERTDIR=$CERTS "$RDIND" health
docker_checks user
usys stop "$UNIT" >/dev/null 2>&1
check "the stopped sidecar exited with status 0" sh -c "[ \"\$(systemctl --user -M $E2E_USER@ show -p ExecMainStatus --value $UNIT)\" = 0 ]"
check "no sanitizer report in the sidecar's log" sh -c "! grep -q 'Sanitizer' '$LOG'"
