#!/bin/bash
# The local sandbox as a developer uses it: `rdind sidecar` run by a
# non-root account from the embedded defaults (its HOME decides every path),
# in a session of its own as a terminal's foreground job, stopped with
# Ctrl-C (SIGINT to the whole process group).
#   - certdir defaults to the XDG state dir for a non-root user, even where
#     /.dockerenv exists (this VM has one);
#   - a directory made on the host after start is live in `docker run -v`,
#     both ways, and what a container wrote is still there after a restart;
#   - a --privileged container that binds certdir's parent and unmounts
#     what covers it still finds no key (the masks are locked);
#   - a container that binds state_dir finds no slirp4netns API socket and
#     cannot open a host port through any socket it finds there, with the
#     native port driver and with the slirp4netns one;
#   - Ctrl-C stops as SIGTERM does: dockerd exits 0, a container gets its
#     SIGTERM (exit code 7 from its trap, not 137 or 255); a second Ctrl-C
#     forces and says so;
#   - a second instance on the same state_dir or data_root, and a taken
#     listen address, are refused before anything starts, in one line; a
#     new sidecar started while a killed one's launcher still stops dockerd
#     waits for it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout setsid cc
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

H=$T/home                      # the developer's HOME
mkdir -p "$H" && chown "$E2E_USER": "$H"
PORT=$(free_port)
STATE=$E2E_RUNDIR/rdind        # default state_dir: $XDG_RUNTIME_DIR/rdind
CERTS=$H/.local/state/rdind/certs
DATA=$H/.local/share/rdind/docker
export DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client
on_exit kill_user_procs
on_exit "rm -rf '$STATE'"
cc -static -O2 -o "$T/unix-call" "$top_srcdir/tests/e2e/unix-call.c" || fail "build unix-call"

# has PATTERN TEXT / lacks PATTERN TEXT : whether TEXT has a line matching.
has () { grep -q -- "$1" <<<"$2"; }
lacks () { ! grep -q -- "$1" <<<"$2"; }
# one_line TEXT : TEXT is a single line.
one_line () { [ "$(printf '%s\n' "$1" | wc -l)" = 1 ]; }

# dev CMD... : CMD as the developer.
dev () { as_user env HOME="$H" "$@"; }

# start_dev [VAR=VALUE...] : rdind sidecar as the developer, the leader of a
# session and process group of its own (what a terminal gives a foreground
# job); SPID, LOG.
n=0
start_dev () {
    n=$((n+1)); LOG=$T/sidecar-$n.log
    dump_on_fail "$LOG"
    # as_user's command line, exec'd so that $! is rdind's own pid.
    (exec setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
        env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$H" USER="$E2E_USER" \
        LOGNAME="$E2E_USER" XDG_RUNTIME_DIR="$E2E_RUNDIR" RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" \
        RDIND_SIDECAR_STOP_TIMEOUT=20s "$@" setsid "$RDIND" sidecar) >"$LOG" 2>&1 &
    SPID=$!
    wait_for 90 grep -q 'msg=listening' "$LOG" || fail "rdind sidecar did not start listening"
    check "the sidecar leads its own process group (pgid $SPID)" \
        test "$(ps -o pgid= -p "$SPID" | tr -d ' ')" = "$SPID"
}
# wait_exit SECONDS : waits for SPID to exit; RC its status.
wait_exit () {
    local i
    for i in $(seq $(( $1 * 10 ))); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SPID" 2>/dev/null && fail "the sidecar did not exit within $1 s"
    wait "$SPID"; RC=$?
}

start_dev
[ -e /.dockerenv ] && echo "# /.dockerenv exists here: the container heuristics say yes"
check "certdir defaults to the XDG state dir for a non-root user" test -s "$CERTS/client/key.pem"
check "data_root defaults to the XDG data dir" test -d "$DATA"
import_busybox bb

# --- a directory made after start is the host's, both ways ---
dev mkdir -p "$H/work/later"
dev sh -c "echo from-host > '$H/work/later/h.txt'"
out=$(timeout 60 docker run --rm -v "$H/work/later:/x" bb cat /x/h.txt 2>&1)
check "a directory made after start: the container reads what the host wrote ($out)" test "$out" = from-host
timeout 60 docker run --rm -v "$H/work/later:/x" bb sh -c 'echo from-container > /x/c.txt' ||
    fail "container could not write to the bind"
check "the host reads what the container wrote" grep -qx from-container "$H/work/later/c.txt"

# --- certdir stays out of reach, even for a privileged container ---
check "the keys exist on the host side" test -s "$CERTS/ca/key.pem"
out=$(timeout 60 docker run --rm --privileged -v "$(dirname "$CERTS"):/x" bb sh -c '
    umount /x/certs 2>&1; umount -l /x/certs 2>&1
    echo "mounts: $(grep -c " /x/certs " /proc/self/mountinfo)"
    for f in $(find /x/certs -type f 2>/dev/null); do grep -q "PRIVATE KEY" "$f" && echo "LEAK $f"; done
    echo "entries: $(ls -A /x/certs | wc -l)"; echo done' 2>&1)
echo "$out" | sed 's/^/#   /'
echo "$out" | grep -q '^done$' || fail "privileged container did not run: $out"
check "umount of certdir's mask is refused in a --privileged container" has '^mounts: 1$' "$out"
check "the privileged container reads no key" lacks LEAK "$out"
check "certdir looks empty to it" has '^entries: 0$' "$out"

# --- state_dir: no way to open host ports behind dockerd's back ---
# probe_state TAG : a container binding state_dir lists its sockets and asks
# each (and the private directory's slirp4netns.sock) for a host port
# forward to 127.0.0.1:HP; nothing may listen there afterwards.
probe_state () {
    local hp out
    hp=$(free_port)
    out=$(timeout 60 docker run --rm --privileged -v "$STATE:/s" -v "$T/unix-call:/unix-call:ro" bb sh -c '
        umount -l /s/private 2>/dev/null && echo "unmounted the mask"
        req='"'"'{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":'"$hp"',"guest_addr":"10.0.2.100","guest_port":80}}'"'"'
        body='"'"'{"proto":"tcp","parentIP":"127.0.0.1","parentPort":'"$hp"',"childPort":80}'"'"'
        post=$(printf "POST /v1/ports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" ${#body} "$body")
        found=$(find /s -type s); for s in $found; do echo "found $s"; done
        for s in $found /s/private/slirp4netns.sock /s/rootlesskit/slirp4netns.sock; do
            echo "ask $s: $(/unix-call "$s" "$req" 2>&1 | head -c 200)"
            echo "post $s: $(/unix-call "$s" "$post" 2>&1 | head -1)"
        done; echo done' 2>&1)
    echo "$out" | sed 's/^/#   /'
    echo "$out" | grep -q '^done$' || fail "state_dir probe did not run: $out"
    check "$1: a container binding state_dir finds no slirp4netns socket" lacks '^found .*slirp' "$out"
    check "$1: it cannot unmount the private directory's mask" lacks '^unmounted' "$out"
    check "$1: no socket there accepts add_hostfwd" lacks '"return"' "$out"
    check "$1: the port API refuses a container's POST /v1/ports (403)" has '^post /s/rootlesskit/api.sock: HTTP/1.1 403' "$out"
    check "$1: nothing listens on the host port it asked for (127.0.0.1:$hp)" \
        sh -c "! timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$hp' 2>/dev/null"
}
check "native driver: slirp4netns runs without an API socket" \
    sh -c "pgrep -u '$E2E_USER' -a slirp4netns | grep -q . && ! pgrep -u '$E2E_USER' -a slirp4netns | grep -q -- --api-socket"
probe_state "native driver"

# --- Ctrl-C: as graceful as SIGTERM ---
timeout 60 docker run -d --name graceful bb sh -c 'trap "exit 7" TERM; while :; do sleep 0.2; done' >/dev/null ||
    fail "docker run -d"
t0=$(now_ms)
kill -INT -- "-$SPID"
wait_exit 40
figure "Ctrl-C to exit: $(( $(now_ms) - t0 )) ms"
check "after Ctrl-C the sidecar exits 0" test "$RC" = 0
check "dockerd stopped by itself (status 0), not killed" grep -q 'msg="dockerd stopped" status=0' "$LOG"
check "no second signal was counted" sh -c "! grep -q 'second signal' '$LOG'"

# --- restart, with the slirp4netns port driver this time ---
start_dev RDIND_LAUNCHER_PORT_DRIVER=slirp4netns
check "the container got its SIGTERM: exit code 7 (not 137 or 255)" \
    test "$(timeout 30 docker inspect -f '{{.State.ExitCode}}' graceful)" = 7
out=$(timeout 60 docker run --rm -v "$H/work/later:/x" bb cat /x/c.txt 2>&1)
check "what the container wrote is still there after the restart ($out)" test "$out" = from-container
check "the launcher's slirp4netns socket is in state_dir's private directory" test -S "$STATE/private/slirp4netns.sock"
hp=$(free_port)
timeout 60 docker run -d --name web -p "127.0.0.1:$hp:80" bb httpd -f -p 80 -h /www >/dev/null || fail "docker run -p"
check "published ports work through the launcher's own socket" \
    wait_for 20 sh -c "curl -sf http://127.0.0.1:$hp/ | grep -q 'hello from rdind'"
probe_state "slirp4netns driver"

# --- one instance per state_dir and per data_root ---
out=$(dev RDIND_SIDECAR_LISTEN="127.0.0.1:$(free_port)" timeout 30 "$RDIND" sidecar 2>&1); rc=$?
echo "# $out"
check "a second sidecar on the same state is refused (exit 1)" test "$rc" = 1
check "... in one line" one_line "$out"
check "... naming the running pid and the setting" has "pid $SPID.*launcher.state_dir" "$out"
out=$(dev RDIND_LAUNCHER_STATE_DIR="$H/state2" timeout 30 "$RDIND" launch 2>&1); rc=$?
echo "# $out"
check "rdind launch on the same data_root is refused ($rc)" test "$rc" = 1
check "... naming the running pid and the setting" has "pid $SPID.*launcher.data_root" "$out"
check "the first instance still serves" sh -c 'timeout 30 docker version >/dev/null'

# --- a taken listen address: before anything starts ---
t0=$(now_ms)
out=$(dev RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" RDIND_LAUNCHER_STATE_DIR="$H/s3" \
    RDIND_LAUNCHER_DATA_ROOT="$H/d3" RDIND_TLS_CERTDIR="$H/c3" timeout 30 "$RDIND" sidecar 2>&1); rc=$?
echo "# $out ($(( $(now_ms) - t0 )) ms)"
check "a taken listen address exits 2" test "$rc" = 2
check "... in one line" one_line "$out"
check "... naming the address and the key" has "127.0.0.1:$PORT.*RDIND_SIDECAR_LISTEN" "$out"
check "... before any certificate is issued" test ! -e "$H/c3"

# --- a killed sidecar: its launcher still stops dockerd; a new sidecar's
# launcher waits for it instead of starting a second dockerd on the state ---
timeout 60 docker run -d --name stubborn1 bb sh -c 'trap "" TERM; while :; do sleep 0.2; done' >/dev/null ||
    fail "docker run -d stubborn1"
old_launcher=$(pgrep -u "$E2E_USER" -x rdind-launch | head -1)
[ -n "$old_launcher" ] || fail "no rdind-launch running"
kill -KILL "$SPID"; wait "$SPID" 2>/dev/null
start_dev
check "the new sidecar's launcher was refused while the old one stopped" \
    grep -q "another rdind (pid $old_launcher) is running on launcher.state_dir" "$LOG"
check "the old launcher is gone once the new one serves" sh -c "! kill -0 $old_launcher 2>/dev/null"
check "one dockerd" test "$(pgrep -u "$E2E_USER" -x dockerd | wc -l)" = 1

# --- a second Ctrl-C forces, and says so ---
timeout 60 docker run -d --name stubborn bb sh -c 'trap "" TERM; while :; do sleep 0.2; done' >/dev/null ||
    fail "docker run -d stubborn"
kill -INT -- "-$SPID"
wait_for 10 grep -q 'signal received, stopping' "$LOG" || fail "first Ctrl-C not seen"
sleep 1
t0=$(now_ms)
kill -INT -- "-$SPID"
wait_exit 15
figure "second Ctrl-C to exit: $(( $(now_ms) - t0 )) ms (stop_timeout 20 s)"
check "the second Ctrl-C forces the stop well before stop_timeout" test $(( $(now_ms) - t0 )) -lt 10000
check "... and the log says so" grep -q 'second signal: forcing' "$LOG"
