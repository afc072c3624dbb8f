# Shared helpers for rdind's end-to-end tests (sourced by tests/e2e/*.sh).
#
# Each test gets a private temp dir ($T), a cleanup trap that runs what the
# test registered with on_exit (last registered first), bounded polling with
# wait_for, and a dump of the logs registered with dump_on_fail when it fails.
# Exit 77 skips with a reason; automake's test-driver counts it as SKIP.

set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${RDIND:=$top_builddir/rdind}"
: "${ROTKIT:=$top_builddir/rotkit}"
: "${RDIND_DOCKER_PROXY:=$top_builddir/rdind-docker-proxy}"
export RDIND ROTKIT RDIND_DOCKER_PROXY

T=$(mktemp -d /tmp/rdind-e2e.XXXXXX)
chmod 755 "$T"
_on_exit=()
_dump=()
_npass=0

on_exit () { _on_exit+=("$*"); }
dump_on_fail () { _dump+=("$@"); }

_cleanup () {
    local rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        for f in "${_dump[@]}"; do
            [ -e "$f" ] || continue
            echo "----- $f (last 60 lines) -----"
            tail -n 60 "$f"
        done
    fi
    local i
    for (( i=${#_on_exit[@]}-1; i>=0; i-- )); do
        eval "${_on_exit[$i]}" >/dev/null 2>&1 || true
    done
    rm -rf "$T" 2>/dev/null || true
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

skip () { echo "SKIP: $*"; exit 77; }
pass () { _npass=$((_npass+1)); echo "ok $_npass - $*"; }
fail () { echo "FAIL: $*"; exit 1; }
# check DESCRIPTION CMD... : runs CMD, passes or fails with DESCRIPTION.
check () { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d (command: $*)"; fi; }

require_root () { [ "$(id -u)" = 0 ] || skip "needs root (to create the test user and fix /dev/net/tun)"; }
require_cmd () {
    local c
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "missing command: $c"; done
}

# wait_for SECONDS CMD... : polls CMD every 0.1 s until it succeeds or time is up.
wait_for () {
    local limit=$1; shift
    local end=$(( $(date +%s%N) + limit * 1000000000 ))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# Free TCP port on loopback (the kernel picks it).
free_port () {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $(( 20000 + RANDOM % 20000 ))
}

# The unprivileged account the tests run rdind as, with 65536 subordinate
# ids.  Created once per machine; the same for every test.  Cleanups kill
# every process of this account, so two test runs at once on one machine
# need two accounts: RDIND_E2E_USER names another one.
E2E_USER=${RDIND_E2E_USER:-rdind-e2e}
ensure_test_user () {
    require_root
    if ! id "$E2E_USER" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/bash "$E2E_USER" 2>/dev/null ||
            id "$E2E_USER" >/dev/null 2>&1 || fail "useradd $E2E_USER"
    fi
    E2E_UID=$(id -u "$E2E_USER")
    # A range of its own per account (derived from the uid), so accounts do
    # not share host ids.
    local sub=$(( 400000 + (E2E_UID % 200) * 65536 ))
    grep -q "^$E2E_USER:" /etc/subuid 2>/dev/null || echo "$E2E_USER:$sub:65536" >> /etc/subuid
    grep -q "^$E2E_USER:" /etc/subgid 2>/dev/null || echo "$E2E_USER:$sub:65536" >> /etc/subgid
    E2E_HOME=$(getent passwd "$E2E_USER" | cut -d: -f6)
    E2E_RUNDIR=/tmp/rdind-e2e-run-$E2E_UID
    mkdir -p "$E2E_RUNDIR" && chown "$E2E_USER": "$E2E_RUNDIR" && chmod 700 "$E2E_RUNDIR"
    # The test user must be able to read the build tree and the temp dir.
    chmod o+rx "$T"
    export E2E_UID E2E_HOME E2E_RUNDIR
}

# /dev/net/tun is 0600 on these VMs (real hosts ship 0666): the tests make it
# usable the way a host administrator (or rdind sidecar started as root) would.
fix_tun () {
    require_root
    [ -c /dev/net/tun ] || { mkdir -p /dev/net && mknod -m 666 /dev/net/tun c 10 200; }
    chmod 666 /dev/net/tun
}

# as_user CMD... : runs CMD as the test user with a clean login-like env
# (under $AS_USER_WRAP, e.g. `ip netns exec NS`, when set).
as_user () {
    ${AS_USER_WRAP:-} setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
        env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$E2E_HOME" \
        USER="$E2E_USER" LOGNAME="$E2E_USER" XDG_RUNTIME_DIR="$E2E_RUNDIR" \
        ${RDIND_TEST_ENV:-} "$@"
}

# Kills every process of the test user (used by cleanups).
kill_user_procs () {
    pkill -TERM -u "$E2E_USER" 2>/dev/null || true
    for _ in $(seq 50); do pgrep -u "$E2E_USER" >/dev/null || return 0; sleep 0.1; done
    pkill -KILL -u "$E2E_USER" 2>/dev/null || true
}

# make_busybox_tar FILE : a tiny root filesystem tarball for `docker import`.
make_busybox_tar () {
    local out=$1 root
    require_cmd busybox
    root=$(mktemp -d "$T/bbroot.XXXXXX")
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/www" "$root/proc" "$root/sys" "$root/dev"
    cp "$(command -v busybox)" "$root/bin/busybox"
    file "$root/bin/busybox" 2>/dev/null | grep -q dynamic && skip "busybox is not static (install busybox-static)"
    for a in sh ls cat echo sleep httpd wget true false id mkdir rm nc ps grep head dd wc date env hostname; do
        ln -sf busybox "$root/bin/$a"
    done
    echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
    echo 'root:x:0:' > "$root/etc/group"
    echo "hello from rdind" > "$root/www/index.html"
    tar -C "$root" -cf "$out" .
    rm -rf "$root"
}

# start_sidecar [VAR=VALUE...] : starts `rdind sidecar` as root, dropping to
# the test user, on 127.0.0.1:$PORT with its certificates in $CERTS and its
# daemon's state under $U; extra settings come as RDIND_* assignments.  Sets
# SPID, LOG and the DOCKER_* variables, registers the cleanups and waits
# until the endpoint listens (that is: dockerd answers).
start_sidecar () {
    PORT=${PORT:-$(free_port)}
    U=${U:-$T/u}
    CERTS=${CERTS:-$U/certs}
    LOG=${LOG:-$T/sidecar.log}
    mkdir -p "$U" && chmod 755 "$T" && chown "$E2E_USER": "$U"
    export DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client
    dump_on_fail "$LOG"
    on_exit kill_user_procs
    on_exit 'kill -TERM $SPID 2>/dev/null; sleep 1; kill -KILL $SPID 2>/dev/null'
    env RDIND_SIDECAR_USER="$E2E_USER" RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" RDIND_TLS_CERTDIR="$CERTS" \
        RDIND_LAUNCHER_STATE_DIR="$U/state" RDIND_LAUNCHER_DATA_ROOT="$U/data" "$@" \
        "$RDIND" sidecar >"$LOG" 2>&1 &
    SPID=$!
    wait_for 90 grep -q 'msg=listening' "$LOG" || fail "sidecar did not start listening"
}

# now_ms : milliseconds since the epoch.  figure TEXT : a measurement the
# test prints for the README (a TAP comment).
now_ms () { echo $(( $(date +%s%N) / 1000000 )); }
figure () { echo "# figure: $*"; }

# outside_ns NAME [NET] : a network namespace NAME of the test's own, behind
# a veth pair NAME-h (NET.1/30, on the host) / NAME-n (NET.2/30, inside); NET
# defaults to 198.18.0, RFC 2544's benchmark range, so traffic to it never
# leaves the machine (tests that may run beside others take a /30 of their
# own).  Removed at exit.  NAME must leave room for "-h" in 15 characters.
outside_ns () {
    local net=${2:-198.18.0}
    ip netns add "$1" || fail "ip netns add $1"
    on_exit "ip netns del $1; ip link del $1-h 2>/dev/null"
    ip link add "$1-h" type veth peer name "$1-n" && ip link set "$1-n" netns "$1" &&
        ip addr add "$net.1/30" dev "$1-h" && ip link set "$1-h" up &&
        ip netns exec "$1" ip addr add "$net.2/30" dev "$1-n" && ip netns exec "$1" ip link set "$1-n" up &&
        ip netns exec "$1" ip link set lo up || fail "veth into $1"
}

# import_busybox NAME : a busybox image NAME in the daemon behind $DOCKER_HOST.
import_busybox () {
    [ -s "$T/busybox.tar" ] || make_busybox_tar "$T/busybox.tar"
    timeout 60 docker import "$T/busybox.tar" "$1" >/dev/null || fail "docker import $1"
}

# stop_sidecar : SIGTERM to the sidecar started by start_sidecar; it must
# exit 0 within 30 s, and (on an --enable-asan build) its log must hold no
# sanitizer report: leaks are reported at exit.
stop_sidecar () {
    kill -TERM "$SPID" 2>/dev/null
    local i rc
    for i in $(seq 300); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SPID" 2>/dev/null && fail "the sidecar did not stop within 30 s of SIGTERM"
    wait "$SPID"; rc=$?
    check "the sidecar exits 0 on SIGTERM" test "$rc" = 0
    check "no sanitizer report in the sidecar's log" sh -c "! grep -q 'Sanitizer' '$LOG'"
}
