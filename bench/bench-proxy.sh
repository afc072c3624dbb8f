#!/bin/bash
# bench-proxy.sh: cost of the rdind TLS endpoint, side by side with the unix
# socket and with the anchor, in one run.  Run as root from a build tree
# (RDIND, ROTKIT as for the tests; RDIND_E2E_USER names the account).
#
# Ways to reach a dockerd, measured in the same run:
#   rdind   `rdind sidecar` (started as root, drops to the test account):
#           mutual TLS on 127.0.0.1, proxied to its dockerd's unix socket
#   unix    that same dockerd's unix socket, no TLS, no proxy
#   anchor  what docker:dind-rootless serves: dockerd's own TLS
#           (--tlsverify --tlscacert/--tlscert/--tlskey) listening inside
#           rootlesskit's network namespace, published to the parent by
#           rootlesskit's builtin port driver (see "anchor" below)
#   relay   (cp only, for reference) rdind's dockerd behind a plain TCP
#           relay, socat without TLS: the cost of the hop alone
#
# Measurements (REPS rounds, median; sides interleaved in each round so a
# burst of load from other users of the machine hits all of them alike):
#   - `docker cp CONTAINER:/big -` of a 256 MiB file of random bytes, tar
#     stream to /dev/null (the client's disk write would be the same on every
#     side and only dilute the ratios).  The client sends
#     "Accept-Encoding: identity" (HttpHeaders in its config.json): dockerd
#     gzips the archive endpoint's answer for a client that accepts gzip
#     (moby's container router, writeCompressedResponse), and the docker CLI
#     accepts it over TCP (Go's http.Transport default) but not over a unix
#     socket (go-connections disables compression there).  With the default
#     client the TCP sides would measure dockerd's gzip against a raw copy on
#     the unix side, not the transport; with /dev/zero they would move
#     ~260 KB instead of 256 MiB.  One extra line shows what a default client
#     gets over TCP.
#   - 50 sequential `docker version` per side (a new client process,
#     connection and handshake each time), the sides' calls interleaved one
#     by one
#   - memory per idle connection: RSS growth with 200 idle connections
#     (handshaken for TLS), divided by 200; the table says which processes
#     are counted on each side
#   - for information, under the table: connect + handshake + first request
#     without the CLI's start-up, from a client with and without Nagle
#   - cp through the same sidecar with the API policy on and off (SIGHUP
#     between), for the cost of framing requests and answers
# Targets: cp rdind/unix <= 1.30x; cp and version rdind/anchor <= 1.00x.
#
# Versions (BENCH_ANCHOR): 13 (the default) runs the anchor from Debian 13's
# root (bench/lib-anchor.sh: rootlesskit 2.0.2 + dockerd 26.1.5) and rdind's
# sidecar from the same root, so both sides serve from dockerd 26.1.5; 11
# runs both on the host: rootlesskit 1.1 + dockerd 20.10.  The anchor's
# setup is docker:dind-rootless's (a); dockerd-rootless.sh's defaults (b)
# differ from it in the MTU only, which is off this path (the builtin port
# driver's child dials 127.0.0.1 inside the namespace).
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"
. "$top_srcdir/bench/lib-anchor.sh"

REPS=${REPS:-7}
BIG=268435456
NIDLE=200
# tree_pids PID: every descendant of PID (not PID itself).
tree_pids () {
    local p
    for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$p"
        tree_pids "$p"
    done
}
# stop_anchor: SIGTERM to rootlesskit's parent (it passes it on to its
# child, which stops dockerd), then a bounded wait until no process of the
# tree is left (zombies aside: we reap rootlesskit ourselves); SIGKILL what
# is still there.
stop_anchor () {
    [ -n "${APID:-}" ] || return 0
    local pids
    pids=$(tree_pids "$APID" | xargs echo "$APID" | tr ' ' ,)
    kill -TERM "$APID" 2>/dev/null
    if ! wait_for 30 sh -c "! ps -o stat= -p $pids | grep -qv '^Z'"; then
        echo "anchor did not stop within 30 s after SIGTERM; killing $pids" >&2
        # shellcheck disable=SC2086 # one word per pid
        kill -KILL ${pids//,/ } 2>/dev/null
    fi
    wait "$APID" 2>/dev/null
    APID=
}
# alive PID: PID exists and is not a zombie (our own children stay zombies
# until waited for).
alive () { local st; st=$(ps -o stat= -p "$1") && [ "${st#Z}" = "$st" ]; }
require_root
require_cmd docker dockerd slirp4netns openssl python3 setpriv timeout busybox socat
# The anchor is part of every run: without it the bench fails, it does not
# print a table with a hole.
BENCH_ANCHOR=${BENCH_ANCHOR:-13}
ensure_test_user
fix_tun
case $BENCH_ANCHOR in
    11) command -v rootlesskit >/dev/null || fail "rootlesskit not found (the anchor needs it; Debian: apt install rootlesskit)"
        ROOTLESS_SH=$(command -v dockerd-rootless.sh || echo /usr/share/docker.io/contrib/dockerd-rootless.sh)
        [ -x "$ROOTLESS_SH" ] || fail "dockerd-rootless.sh not found (the anchor needs it; Debian: apt install docker.io)"
        IN_ROOT=() ;;
    13) anchor13_root
        ROOTLESS_SH=$A13_ROOTLESS_SH
        IN_ROOT=(anchor13_exec) ;;
    *) fail "BENCH_ANCHOR=$BENCH_ANCHOR: use 13 (Debian 13's rootlesskit 2.0.2 + dockerd 26.1.5) or 11 (the host's)" ;;
esac
on_exit kill_user_procs
kill_user_procs   # a clean start: nothing of the bench account may run already
# shellcheck disable=SC2016 # expanded when the cleanup runs
on_exit 'kill -TERM $SPID 2>/dev/null; sleep 2; kill -KILL $SPID 2>/dev/null'
on_exit stop_anchor
U=$T/u
mkdir -p "$U" && chmod 755 "$T" && chown "$E2E_USER": "$U"
dump_on_fail "$T/sidecar.log" "$T/anchor.log"

# --- rdind ---------------------------------------------------------------
PORT=$(free_port)
CERTS=$U/certs
# The file only switches the API policy on and off (SIGHUP) for the policy
# rounds; everything else comes from the environment.
POLICY_INI=$T/policy.ini
set_policy () { printf '[policy]\nenabled = %s\n' "$1" >"$POLICY_INI.new" && chmod 644 "$POLICY_INI.new" && mv -f "$POLICY_INI.new" "$POLICY_INI"; }
set_policy no
RDIND_CONFIG=$POLICY_INI \
RDIND_SIDECAR_USER=$E2E_USER RDIND_SIDECAR_LISTEN=127.0.0.1:$PORT RDIND_TLS_CERTDIR=$CERTS \
RDIND_SIDECAR_PEERS=client RDIND_LAUNCHER_STATE_DIR=$U/state RDIND_LAUNCHER_DATA_ROOT=$U/data \
    "${IN_ROOT[@]}" "$RDIND" sidecar >"$T/sidecar.log" 2>&1 &
SPID=$!   # unshare, sh and rdind exec in Debian 13's root: this is the sidecar

TLS_ENV="DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client"
UNIX_ENV="DOCKER_HOST=unix://$U/state/docker.sock"
# d ENV ARGS...: the docker client with ENV (words VAR=value), bounded.
# shellcheck disable=SC2086 # ENV is split into its words on purpose
d () { local e=$1; shift; env -u DOCKER_CONTEXT DOCKER_CONFIG="$T/cli" $e timeout 120 docker "$@"; }
mkdir -p "$T/cli" "$T/cli-default"
echo '{"HttpHeaders": {"Accept-Encoding": "identity"}}' >"$T/cli/config.json"
echo '{}' >"$T/cli-default/config.json"
# (stop waiting as soon as the process is gone: a failed start must not
# cost the whole bound)
# shellcheck disable=SC2317 # run through wait_for
sidecar_settled () { ! alive "$SPID" || grep -q 'msg=listening' "$T/sidecar.log"; }
wait_for 90 sidecar_settled
alive "$SPID" || fail "rdind sidecar exited during start-up"
grep -q 'msg=listening' "$T/sidecar.log" || fail "rdind sidecar did not listen within 90 s"
d "$UNIX_ENV" version >/dev/null || fail "rdind's dockerd does not answer on its unix socket"
DRIVER=$(d "$UNIX_ENV" info --format '{{.Driver}}')
[ -n "$DRIVER" ] || fail "rdind's dockerd: no storage driver from docker info"

# --- anchor --------------------------------------------------------------
# docker-library/docker's dockerd-entrypoint.sh, rootless branch, with
# DOCKER_TLS_CERTDIR set: it runs
#   rootlesskit --net=slirp4netns --mtu=1500 --disable-host-loopback
#     --port-driver=builtin --copy-up=/etc --copy-up=/run
#     -p 0.0.0.0:2376:2376/tcp          (added to DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS)
#     [docker-init --] dockerd --host=unix://$XDG_RUNTIME_DIR/docker.sock
#     --host=tcp://0.0.0.0:2376 --tlsverify --tlscacert $DOCKER_TLS_CERTDIR/server/ca.pem
#     --tlscert .../server/cert.pem --tlskey .../server/key.pem
# (older versions defaulted to --net=vpnkit).  We start the same thing
# through the installed dockerd-rootless.sh, with its variables set to those
# values: it execs the same rootlesskit (parent -> child -> dockerd), and on a
# host (unlike in the image) it also removes the copied-up /run/docker and
# /run/containerd links to the host's daemon.  It adds --propagation=rslave
# and slirp4netns sandbox/seccomp, which are off the measured path: the
# builtin port driver accepts in the parent, has the child dial
# 127.0.0.1:2376 in the namespace and passes that socket back, and the
# parent copies bytes between the two; slirp4netns carries none of it.
# Deviations, all neutral for the measurement: the published port is
# 127.0.0.1:APORT (this machine may only use loopback) instead of
# 0.0.0.0:2376, data root, HOME and XDG_RUNTIME_DIR live under $T, rootlesskit's
# state dir too, and the storage driver is set to the one rdind picked so
# that both daemons read /big from the same kind of filesystem.
#
# Certificates: rotkit's (ECDSA P-256), the key type rdind's endpoint uses,
# so the comparison is about the serving machinery, not the key.  The stock
# entrypoint makes RSA keys with `openssl genrsa 4196`; their handshakes are
# slower, so the stock anchor would only be slower on the version test.
A=$T/anchor
APORT=$(free_port)
[ "$APORT" != "$PORT" ] || APORT=$(free_port)
mkdir -p "$A/run" "$A/home" "$A/rk" && chown -R "$E2E_USER": "$A" && chmod 700 "$A/run"
as_user "$ROTKIT" init -q --certdir "$A/certs" --peer client >"$T/anchor-rotkit.log" 2>&1 ||
    { cat "$T/anchor-rotkit.log"; fail "rotkit init for the anchor"; }
ATLS_ENV="DOCKER_HOST=tcp://127.0.0.1:$APORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$A/certs/client"
AUNIX_ENV="DOCKER_HOST=unix://$A/run/docker.sock"
"${IN_ROOT[@]}" setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
    env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$A/home" USER="$E2E_USER" \
    LOGNAME="$E2E_USER" XDG_RUNTIME_DIR="$A/run" \
    DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=1500 \
    DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=builtin \
    DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS="--state-dir=$A/rk/state -p 127.0.0.1:$APORT:2376/tcp" \
    "$ROOTLESS_SH" --host="unix://$A/run/docker.sock" --host=tcp://0.0.0.0:2376 --tlsverify \
    --tlscacert "$A/certs/server/ca.pem" --tlscert "$A/certs/server/cert.pem" \
    --tlskey "$A/certs/server/key.pem" --data-root="$A/data" --storage-driver="$DRIVER" \
    >"$T/anchor.log" 2>&1 &
APID=$!   # (unshare, sh,) setpriv, env and the script exec: this is rootlesskit's parent

# shellcheck disable=SC2317 # run through wait_for
anchor_settled () { ! alive "$APID" || d "$ATLS_ENV" version; }
wait_for 90 anchor_settled
alive "$APID" || fail "anchor (rootlesskit + dockerd) exited during start-up"
d "$ATLS_ENV" version >/dev/null || fail "anchor dockerd did not answer on 127.0.0.1:$APORT (TLS) within 90 s"
d "$AUNIX_ENV" version >/dev/null || fail "anchor dockerd does not answer on its unix socket"
[ "$(d "$AUNIX_ENV" info --format '{{.Driver}}')" = "$DRIVER" ] || fail "anchor's storage driver is not $DRIVER"
[ "$(ps -o comm= -p "$APID")" = rootlesskit ] || fail "pid $APID is not rootlesskit's parent"

# Processes whose memory counts.  rdind: the sidecar process is the TLS
# front (launcher and dockerd are other processes); dockerd behind it is
# counted apart, since the front opens a unix connection to it per client.
# anchor: rootlesskit's parent (accepts and copies every byte) and child
# (dials inside the namespace), and dockerd (TLS and HTTP).  Both dockerds
# run as the same account: they are told apart by process tree.
comm () { ps -o comm= -p "$1"; }
SIDE_DOCKERD=
for p in $(tree_pids "$SPID"); do [ "$(comm "$p")" = dockerd ] && SIDE_DOCKERD="$SIDE_DOCKERD $p"; done
A_KIT=$APID A_DOCKERD=
for p in $(tree_pids "$APID"); do
    case $(comm "$p") in
        rootlesskit|exe) A_KIT="$A_KIT $p" ;;
        dockerd) A_DOCKERD="$A_DOCKERD $p" ;;
    esac
done
SIDE_DOCKERD=${SIDE_DOCKERD# } A_DOCKERD=${A_DOCKERD# }
case $SIDE_DOCKERD in ''|*' '*) fail "rdind's dockerd: expected one process under the sidecar, found '$SIDE_DOCKERD'" ;; esac
case $A_DOCKERD in ''|*' '*) fail "anchor's dockerd: expected one process under rootlesskit, found '$A_DOCKERD'" ;; esac
case $A_KIT in *' '*) ;; *) fail "anchor: rootlesskit's child not found under $APID" ;; esac
echo "memory counted: rdind front $SPID, rdind dockerd $SIDE_DOCKERD;" \
    "anchor rootlesskit $A_KIT ($(ps -o comm= -p "${A_KIT// /,}" | xargs)), anchor dockerd $A_DOCKERD"
echo "dockerd versions: rdind $(d "$UNIX_ENV" version --format '{{.Server.Version}}'), anchor $(d "$AUNIX_ENV" version --format '{{.Server.Version}}') ($([ "$BENCH_ANCHOR" = 13 ] && echo "both from Debian 13's root: ${A13_VERSIONS:-}" || echo "both the host's"))"

# --- memory per idle connection ----------------------------------------
# Measured first, while the daemons are fresh: a Go daemon that has just
# copied 256 MiB returns memory to the kernel over the next minutes, which
# would show up as negative growth.  Each set of idle connections stays open
# until all three are measured: a set closed before the next one opens would
# leave its freed goroutine stacks and buffers for the next set to reuse, and
# the second set on the same dockerd would look almost free.
cat >"$T/idle.py" <<'PY'
# idle.py tls PORT CERTDIR N | unix PATH N: opens N connections (TLS ones
# handshaken), prints "ready", waits for the file named by $GO, then prints
# how many are still open and exits.
import os, socket, ssl, sys, time
mode = sys.argv[1]
n = int(sys.argv[-1])
conns = []
if mode == "tls":
    port, d = int(sys.argv[2]), sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
    ctx.load_verify_locations(d + "/ca.pem")
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        conns.append(ctx.wrap_socket(s, server_hostname="localhost"))
else:
    for i in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[2])
        conns.append(s)
print("ready", flush=True)
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.1)
alive = 0
for s in conns:
    if mode == "tls":
        # tcpi_state: 1 = ESTABLISHED; a server that gave up leaves CLOSE_WAIT
        alive += s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 1
    else:
        try:
            alive += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            alive += 1
print("alive", alive, flush=True)
PY
# settle PIDS...: waits (at most 20 s) until their total RSS moved less than
# 256 KiB in the last second, so start-up work is not counted as growth.
settle () {
    local prev cur
    prev=$(rss_sum "$@") || fail "memory of $*"
    for _ in $(seq 20); do
        sleep 1
        cur=$(rss_sum "$@") || fail "memory of $*"
        [ $(( cur > prev ? cur - prev : prev - cur )) -lt 256 ] && return 0
        prev=$cur
    done
    echo "note: RSS of $* still moving after 20 s; memory numbers are rough" >&2
}
rss_sum () { # total VmRSS (KiB) of the given pids; fails if one is gone
    local p v t=0
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) && [ -n "$v" ] || return 1
        t=$(( t + v ))
    done
    echo "$t"
}
# idle_growth NAME "PIDS..." [PIDS...] -- idle.py args: opens the idle
# connections (kept open, see above) and sets GROWTH to the RSS growth in
# bytes per connection of each pid group, in order.
IDLE_PY=()
rm -f "$T/go"
idle_growth () {
    local name=$1 groups=() before=() after=() i out=$T/idle-$1.out
    shift
    while [ "$1" != -- ]; do groups+=("$1"); shift; done
    shift
    for i in "${!groups[@]}"; do
        # shellcheck disable=SC2086
        before[i]=$(rss_sum ${groups[i]}) || fail "$name: memory of ${groups[i]}"
    done
    GO=$T/go timeout 300 python3 "$T/idle.py" "$@" "$NIDLE" >"$out" 2>&1 &
    IDLE_PY+=("$!:$name")
    wait_for 60 grep -q ready "$out" || { cat "$out"; fail "$name: $NIDLE idle connections"; }
    sleep 2   # let the servers finish what each accept started (Go: goroutines, buffers)
    for i in "${!groups[@]}"; do
        # shellcheck disable=SC2086
        after[i]=$(rss_sum ${groups[i]}) || fail "$name: memory of ${groups[i]}"
    done
    GROWTH=()
    for i in "${!groups[@]}"; do
        GROWTH+=($(( (after[i] - before[i]) * 1024 / NIDLE )))
    done
}
# shellcheck disable=SC2086 # one word per pid
settle "$SPID" $SIDE_DOCKERD $A_KIT $A_DOCKERD
# unix first: dockerd's cost for one more unix connection, which rdind's
# front then adds to it for each of its clients.
idle_growth unix "$SIDE_DOCKERD" -- unix "$U/state/docker.sock"
mem_unix=${GROWTH[0]}
idle_growth rdind "$SPID" "$SIDE_DOCKERD" -- tls "$PORT" "$CERTS/client"
mem_front=${GROWTH[0]} mem_front_dockerd=${GROWTH[1]}
idle_growth anchor "$A_KIT" "$A_DOCKERD" -- tls "$APORT" "$A/certs/client"
mem_anchor_kit=${GROWTH[0]} mem_anchor_dockerd=${GROWTH[1]}
# Every connection must still be open: a server that dropped idle clients
# would look cheap.
touch "$T/go"
for p in "${IDLE_PY[@]}"; do
    wait "${p%%:*}" || { cat "$T/idle-${p#*:}.out"; fail "${p#*:}: idle connection client"; }
    grep -qx "alive $NIDLE" "$T/idle-${p#*:}.out" ||
        { cat "$T/idle-${p#*:}.out"; fail "${p#*:}: the server closed idle connections"; }
done

# --- the same 256 MiB file in a container of each daemon ------------------
make_busybox_tar "$T/bb.tar"
for e in "$UNIX_ENV" "$AUNIX_ENV"; do
    d "$e" import "$T/bb.tar" bb >/dev/null || fail "import into $e"
done
# Random bytes: nothing on any path can make them smaller.
# (busybox mv: the image links only a few applets)
mkbig="head -c $BIG /dev/urandom >/big.tmp && busybox mv /big.tmp /big && exec sleep 3600"
C=$(d "$UNIX_ENV" run -d bb sh -c "$mkbig") || fail "run (rdind)"
AC=$(d "$AUNIX_ENV" run -d bb sh -c "$mkbig") || fail "run (anchor)"
wait_for 120 d "$UNIX_ENV" exec "$C" sh -c '[ -f /big ]' || fail "256 MiB file (rdind)"
wait_for 120 d "$AUNIX_ENV" exec "$AC" sh -c '[ -f /big ]' || fail "256 MiB file (anchor)"

# Untimed round: each path delivers the whole file intact (and the file is
# in the page cache for the timed rounds).
check_cp () { # ENV CONTAINER UNIX_ENV
    local want got
    want=$(d "$3" exec "$2" busybox sha256sum /big | cut -d' ' -f1)
    got=$(set -o pipefail; d "$1" cp "$2:/big" - | tar -xOf - big | sha256sum | cut -d' ' -f1) ||
        fail "docker cp through $1 failed"
    if [ -z "$want" ] || [ "$got" != "$want" ]; then fail "docker cp through $1: sha256 $got, want $want"; fi
    [ "$(d "$3" exec "$2" busybox stat -c %s /big)" = "$BIG" ] || fail "/big is not $BIG bytes"
}
# A reference for the cp: the same dockerd behind a plain TCP relay (socat,
# no TLS, 256 KiB buffers like rdind's), as the test account.  Any endpoint
# that is not dockerd's own socket pays for this hop (one more process
# copying every byte, and TCP on loopback) before it encrypts anything; the
# relay shows how much of rdind's cost is the hop and how much is TLS.
RPORT=$(free_port)
as_user socat -b 262144 "TCP-LISTEN:$RPORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$U/state/docker.sock" \
    >"$T/relay.log" 2>&1 &
# shellcheck disable=SC2034 # killed by the on_exit below
RELAY_PID=$!
# shellcheck disable=SC2016 # expanded when the cleanup runs
on_exit 'kill $RELAY_PID 2>/dev/null'
RELAY_ENV="DOCKER_HOST=tcp://127.0.0.1:$RPORT"
wait_for 10 d "$RELAY_ENV" version || fail "plain relay (socat) on 127.0.0.1:$RPORT does not answer"
check_cp "$TLS_ENV" "$C" "$UNIX_ENV"
check_cp "$UNIX_ENV" "$C" "$UNIX_ENV"
check_cp "$ATLS_ENV" "$AC" "$AUNIX_ENV"
check_cp "$RELAY_ENV" "$C" "$UNIX_ENV"

: >"$T/times"
ms () { # KEY SIDE CMD... : appends "KEY SIDE milliseconds" to $T/times
    local k=$1 side=$2 s
    shift 2
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || fail "$k $side: $*"
    echo "$k $side $(( ($(date +%s%N) - s) / 1000000 ))" >>"$T/times"
}
# shellcheck disable=SC2317 # run through ms
cp_out () { d "$1" cp "$2:/big" - >/dev/null; }
# shellcheck disable=SC2317 # run through ms
# shellcheck disable=SC2086 # ENV is split into its words on purpose
cp_default () { env -u DOCKER_CONTEXT DOCKER_CONFIG="$T/cli-default" $1 timeout 120 docker cp "$2:/big" - >/dev/null; }
median () { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
run_cp () { # SIDE
    case $1 in
        rdind) ms cp rdind cp_out "$TLS_ENV" "$C" ;;
        unix) ms cp unix cp_out "$UNIX_ENV" "$C" ;;
        anchor) ms cp anchor cp_out "$ATLS_ENV" "$AC" ;;
        relay) ms cp relay cp_out "$RELAY_ENV" "$C" ;;
    esac
}
# us: microseconds since the epoch, without a fork (EPOCHREALTIME's
# separator follows the locale).
us () { echo "${EPOCHREALTIME//[.,]/}"; }
# ver_round: 50 `docker version` per side, one call of each side in turn
# (the order rotates with every call), so that a burst of load from other
# users of the machine hits the sides alike; a call is ~20 ms, most of it
# the client's start and dockerd's own /version, and the sides differ by
# less than such bursts.  Appends each side's total (ms) to $T/times.
ver_round () {
    local i j s t0 sides=(rdind unix anchor)
    local -A env=([rdind]=$TLS_ENV [unix]=$UNIX_ENV [anchor]=$ATLS_ENV) sum=([rdind]=0 [unix]=0 [anchor]=0)
    for i in $(seq 50); do
        for j in 0 1 2; do
            s=${sides[(i + j) % 3]}
            t0=$(us)
            d "${env[$s]}" version >/dev/null 2>&1 || fail "ver $s: docker version"
            sum[$s]=$(( ${sum[$s]} + $(us) - t0 ))
        done
    done
    for s in "${sides[@]}"; do echo "ver $s $(( ${sum[$s]} / 1000 ))" >>"$T/times"; done
}
order=(rdind unix anchor relay rdind unix anchor)
for r in $(seq "$REPS"); do
    # rotate the order each round so no side always runs right after another
    for s in "${order[@]:$(( (r - 1) % 4 )):4}"; do run_cp "$s"; done
    ver_round
    # The anchor daemon through its own unix socket: shows whether the two
    # dockerds themselves are equally fast (the ratios assume so).
    ms cp aunix cp_out "$AUNIX_ENV" "$AC"
done
# The API policy: the same cp through the same sidecar with [policy] off and
# on (switched by SIGHUP between the two, in both orders), so the cost of
# framing every request and answer shows as a ratio.
reload_to () { # yes|no
    local n
    n=$(grep -c 'msg="configuration reloaded"' "$T/sidecar.log")
    set_policy "$1"
    kill -HUP "$SPID"
    wait_for 20 sh -c "[ \$(grep -c 'msg=\"configuration reloaded\"' '$T/sidecar.log') -gt $n ]" ||
        fail "the sidecar did not reload (policy $1)"
}
for r in $(seq "$REPS"); do
    for p in $([ $((r % 2)) = 1 ] && echo "yes no" || echo "no yes"); do
        reload_to "$p"
        ms cp "policy-$p" cp_out "$TLS_ENV" "$C"
    done
done
reload_to yes
check_cp "$TLS_ENV" "$C" "$UNIX_ENV"
reload_to no
med () { awk -v k="$1" -v s="$2" '$1 == k && $2 == s {print $3}' "$T/times" | median; }
declare -A M   # M[cp-rdind] = median milliseconds, ...
for k in cp ver; do for s in rdind unix anchor; do
    v=$(med $k $s)
    [ "${v:-0}" -gt 0 ] || fail "no $k time for $s"
    M[$k-$s]=$v
done; done
acp_unix=$(med cp aunix)
cp_relay=$(med cp relay)
# Latency without the docker CLI's process start: 100 sequential TLS
# connections, each handshake + GET /_ping, from a client that leaves Nagle
# on (Python's ssl, openssl s_client, many scripts) and from one that sets
# TCP_NODELAY (Go, so the docker CLI; curl).  After a TLS 1.3 handshake with
# a client certificate the client's Finished is the last word unless the
# server sends something (a session ticket): a client with Nagle then holds
# its small request until that Finished is ACKed, and a delayed ACK takes
# ~40 ms.  For information (the target is on `docker version`).
cat >"$T/lat.py" <<'PY'
# lat.py PORT CERTDIR N nagle|nodelay: median ms of connect + handshake + GET /_ping
import socket, ssl, sys, time
port, d, n, nodelay = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "nodelay"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
ctx.load_verify_locations(d + "/ca.pem")
ts = []
for _ in range(n):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    if nodelay:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
    buf = b""
    while b"\r\n\r\nOK" not in buf:
        r = s.recv(4096)
        if not r:
            sys.exit("connection closed before the /_ping answer")
        buf += r
    s.close()
    ts.append(time.perf_counter() - t0)
ts.sort()
print("%.1f" % (ts[n // 2] * 1000))
PY
declare -A L   # L[rdind-nagle] = median ms, ...
lat () { # SIDE PORT CERTDIR nagle|nodelay
    local out
    out=$(timeout 120 python3 "$T/lat.py" "$2" "$3" 100 "$4" 2>&1)
    [[ $out =~ ^[0-9.]+$ ]] || fail "handshake latency, $1 ($4): $out"
    L[$1-$4]=$out
}
# cpu_ns PIDS...: CPU time (ns) the processes' threads have used so far
# (schedstat: exact, where /proc/PID/stat counts 10 ms ticks).
cpu_ns () {
    local p
    for p in "$@"; do cat /proc/"$p"/task/*/schedstat; done 2>/dev/null | awk '{t += $1} END {printf "%.0f\n", t}'
}
# Server CPU per connection over the 200 connections of both lat runs:
# rdind = the TLS front + its dockerd, anchor = rootlesskit + its dockerd.
declare -A CPU   # CPU[rdind] = microseconds per connection
lat_side () { # SIDE PORT CERTDIR PIDS...
    local side=$1 port=$2 dir=$3 c0
    shift 3
    c0=$(cpu_ns "$@")
    lat "$side" "$port" "$dir" nagle
    lat "$side" "$port" "$dir" nodelay
    CPU[$side]=$(( ($(cpu_ns "$@") - c0) / 200 / 1000 ))
}
# shellcheck disable=SC2086 # one word per pid
lat_side rdind "$PORT" "$CERTS/client" "$SPID" $SIDE_DOCKERD
# shellcheck disable=SC2086 # one word per pid
lat_side anchor "$APORT" "$A/certs/client" $A_KIT $A_DOCKERD
# What a client with the default config gets over TCP (dockerd gzips; once
# per side, for information: the transport is not what this measures).
ms gzip rdind cp_default "$TLS_ENV" "$C"
ms gzip anchor cp_default "$ATLS_ENV" "$AC"

sec () { if [ -z "$1" ]; then echo -; else awk -v m="$1" 'BEGIN {printf "%.2f", m / 1000}'; fi; }
ratio_line () { # LABEL A B TARGET
    awk -v l="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN {
        r = int(a / b * 100 + 0.5) / 100   # judge the ratio as printed
        printf "%-30s %5.2fx  (target <= %.2fx: %s)\n", l, r, t, (r <= t) ? "met" : "NOT met" }'
}
row () { # SIDE CP_MS VER_MS MEM_B WHAT
    printf '%-46s %14s %15s %13s  %s\n' "$1" "$(sec "$2")" "$(sec "$3")" "$4" "$5"
}
printf '\nbench-proxy: median of %d rounds; memory = RSS growth with %d idle connections / %d\n' \
    "$REPS" "$NIDLE" "$NIDLE"
printf '%-46s %14s %15s %13s  %s\n' side "cp 256MiB (s)" "50x version (s)" "B/idle conn" "memory: processes counted"
row "rdind TLS endpoint" "${M[cp-rdind]}" "${M[ver-rdind]}" $(( mem_front + mem_front_dockerd )) \
    "sidecar (TLS front) $mem_front + its dockerd $mem_front_dockerd (one unix conn each)"
row "unix socket" "${M[cp-unix]}" "${M[ver-unix]}" "$mem_unix" "dockerd"
row "plain TCP relay, no TLS (socat; reference)" "$cp_relay" "" - "relay to rdind's dockerd"
row "anchor (dockerd --tlsverify via rootlesskit)" "${M[cp-anchor]}" "${M[ver-anchor]}" \
    $(( mem_anchor_kit + mem_anchor_dockerd )) \
    "rootlesskit parent+child $mem_anchor_kit + dockerd $mem_anchor_dockerd (TLS + HTTP)"
ratio_line "cp: rdind / unix socket" "${M[cp-rdind]}" "${M[cp-unix]}" 1.30
ratio_line "cp: rdind / anchor" "${M[cp-rdind]}" "${M[cp-anchor]}" 1.00
awk -v a="${M[cp-rdind]}" -v r="$cp_relay" -v u="${M[cp-unix]}" 'BEGIN {
    printf "%-30s %5.2fx  (plain relay / unix socket %.2fx: the hop alone)\n", "cp: rdind / plain relay", a / r, r / u }'
ratio_line "50x version: rdind / anchor" "${M[ver-rdind]}" "${M[ver-anchor]}" 1.00
awk -v on="$(med cp policy-yes)" -v off="$(med cp policy-no)" 'BEGIN {
    printf "%-30s %5.2fx  (policy on %.2f s, off %.2f s, %s rounds each, SIGHUP between)\n", "cp: [policy] on / off", on / off, on / 1000, off / 1000, '"$REPS"' }'
printf '(cp with "Accept-Encoding: identity", random data, storage driver %s on both dockerds;\n' "$DRIVER"
printf ' the anchor dockerd through its own unix socket: cp %s s;\n' "$(sec "$acp_unix")"
printf ' with the default client dockerd gzips over TCP: cp rdind %s s, anchor %s s, 1 run each)\n' \
    "$(sec "$(med gzip rdind)")" "$(sec "$(med gzip anchor)")"
printf 'TLS connect + handshake + GET /_ping, median of 100 (ms): client with Nagle: rdind %s, anchor %s;\n' \
    "${L[rdind-nagle]}" "${L[anchor-nagle]}"
printf '  client with TCP_NODELAY (as the docker CLI): rdind %s, anchor %s\n' "${L[rdind-nodelay]}" "${L[anchor-nodelay]}"
printf '  server CPU per such connection (us): rdind %s (TLS front + dockerd), anchor %s (rootlesskit + dockerd)\n' \
    "${CPU[rdind]}" "${CPU[anchor]}"
# every round, so the spread is visible next to the medians
for k in cp ver; do
    printf '%s\n' "rounds (ms), $k: $(for s in rdind unix anchor $([ "$k" = cp ] && echo relay); do
        printf '%s [%s]  ' "$s" "$(awk -v k=$k -v s="$s" '$1 == k && $2 == s {printf "%s%s", sep, $3; sep=" "}' "$T/times")"
    done)"
done

# The anchor must stop on its own (SIGTERM, as a container runtime would
# send) and leave nothing: no rootlesskit, and no process naming its
# directory (dockerd, containerd, the container's shim).
stop_anchor
left=$(pgrep -u "$E2E_USER" -x rootlesskit; pgrep -u "$E2E_USER" -f "$A/")
[ -z "$left" ] || fail "processes left after the anchor stopped: $(echo "$left" | xargs ps -o pid=,comm= -p | xargs)"
exit 0
