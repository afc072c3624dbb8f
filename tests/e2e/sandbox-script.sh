#!/bin/bash
# contrib/sandbox.sh as a newcomer runs it: a non-root account, the script
# from the source tree in a session of its own (a terminal's foreground
# job), then the export lines it prints in "another terminal", then Ctrl-C.
#   - the first run builds and installs rdind in ~/.local and prints the
#     three export lines with the real listen address; they work;
#   - the second run rebuilds nothing (no apt, autogen or configure) and is
#     ready in seconds;
#   - a failing start shows rdind's error (it went to /dev/null before);
#   - contrib/rdind.service starts what sandbox.sh installed.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap setsid
ensure_test_user
fix_tun
# The test user has no sudo: every package the script wants must be there.
RDIND_NO_TEST_DEPS=1 bash "$top_srcdir/tests/deps.sh" >/dev/null 2>&1 || skip "tests/deps.sh failed"
[ -x "$top_srcdir/configure" ] || skip "no configure in $top_srcdir (run autogen.sh)"

H=$T/home
mkdir -p "$H" && chown "$E2E_USER": "$H"
PORT=$(free_port)
on_exit kill_user_procs
on_exit "rm -rf '$E2E_RUNDIR/rdind'"

# sandbox LOG [VAR=VALUE...] : bash contrib/sandbox.sh as the developer, the
# leader of its own session and process group; SPID.
sandbox () {
    local log=$1; shift
    dump_on_fail "$log"
    (exec setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
        env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$H" USER="$E2E_USER" \
        LOGNAME="$E2E_USER" XDG_RUNTIME_DIR="$E2E_RUNDIR" RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" "$@" \
        setsid bash "$top_srcdir/contrib/sandbox.sh") >"$log" 2>&1 &
    SPID=$!
}
ctrl_c () {
    local i
    kill -INT -- "-$SPID"
    for i in $(seq 400); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SPID" 2>/dev/null && fail "sandbox did not stop within 40 s of Ctrl-C"
    wait "$SPID"
}

# --- first run: build, install, start ---
t0=$(now_ms)
sandbox "$T/first.log"
wait_for 300 grep -q '^  export DOCKER_CERT_PATH=' "$T/first.log" || fail "the first run never printed the export lines"
figure "first run (build + install + start) ready after $(( $(now_ms) - t0 )) ms"
check "rdind is installed in ~/.local/bin" test -x "$H/.local/bin/rdind"
check "rdind-launch is installed in ~/.local/libexec/rdind" test -x "$H/.local/libexec/rdind/rdind-launch"
check "the script says where rdind is installed (not in PATH here)" grep -q "installed in $H/.local/bin (not in your PATH)" "$T/first.log"
check "the ready block's DOCKER_HOST honours the listen address" grep -qx "  export DOCKER_HOST=tcp://127.0.0.1:$PORT" "$T/first.log"
check "there are three export lines" test "$(grep -c '^  export ' "$T/first.log")" = 3
# "Another terminal": only the printed lines.
val () { sed -n "s/^  export $1=//p" "$T/first.log"; }
check "docker version works with the printed export lines" \
    env -u DOCKER_CONFIG DOCKER_HOST="$(val DOCKER_HOST)" DOCKER_TLS_VERIFY="$(val DOCKER_TLS_VERIFY)" \
    DOCKER_CERT_PATH="$(val DOCKER_CERT_PATH)" timeout 30 docker version
check "DOCKER_CERT_PATH is the developer's XDG state dir" test "$(val DOCKER_CERT_PATH)" = "$H/.local/state/rdind/certs/client"
ctrl_c; rc=$?
check "Ctrl-C: the sandbox exits 0" test "$rc" = 0
check "Ctrl-C: dockerd stopped by itself" grep -q 'msg="dockerd stopped" status=0' "$T/first.log"

# --- second run: nothing rebuilt ---
t0=$(now_ms)
sandbox "$T/second.log"
wait_for 60 grep -q '^  export DOCKER_CERT_PATH=' "$T/second.log" || fail "the second run never printed the export lines"
ms=$(( $(now_ms) - t0 ))
figure "second run ready after $ms ms"
check "the second run installs no package, runs neither autogen nor configure" \
    sh -c "! grep -qE 'installing:|generating configure|configuring for' '$T/second.log'"
check "the second run is ready within 10 s ($ms ms)" test "$ms" -lt 10000
ctrl_c

# --- a failing start is not silent ---
out=$(setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
    env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$H" USER="$E2E_USER" XDG_RUNTIME_DIR="$E2E_RUNDIR" \
    RDIND_SIDECAR_LISTEN=nowhere timeout 60 bash "$top_srcdir/contrib/sandbox.sh" 2>&1); rc=$?
echo "$out" | sed 's/^/#   /'
check "a bad setting: the sandbox exits 2" test "$rc" = 2
check "... and shows rdind's error naming the variable" grep -q 'RDIND_SIDECAR_LISTEN' <<<"$out"

# --- the systemd user unit starts what the script installed ---
unit=$top_srcdir/contrib/rdind.service
check "rdind.service runs ~/.local/bin/rdind sidecar" grep -qx 'ExecStart=%h/.local/bin/rdind sidecar' "$unit"
check "rdind.service signals only the sidecar on stop (KillMode=mixed)" grep -qx 'KillMode=mixed' "$unit"
if command -v systemd-analyze >/dev/null; then
    sed "s|%h/.local/bin/rdind|$H/.local/bin/rdind|" "$unit" >"$T/rdind.service"
    check "systemd-analyze verify accepts rdind.service" systemd-analyze verify "$T/rdind.service"
fi
