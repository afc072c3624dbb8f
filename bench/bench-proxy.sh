#!/bin/bash
# bench-proxy.sh: cost of the rdind TLS endpoint.  Run as root from a build
# tree (RDIND, ROTKIT as for the tests).  Starts `rdind sidecar` as the e2e
# user and compares, on the same dockerd:
#   - docker cp of a 256 MiB file out of a container: TLS endpoint vs the
#     unix socket (and vs the anchor, see below)
#   - 50 sequential `docker version`
#   - sidecar RSS per idle TLS connection (200 idle, handshaken connections)
# Anchor (dockerd's own --tlsverify behind rootlesskit's port driver) is run
# when ANCHOR=1; it is not implemented yet and is reported as "-".
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns openssl python3
ensure_test_user
fix_tun
on_exit kill_user_procs
on_exit 'kill -TERM $SPID 2>/dev/null; sleep 2; kill -KILL $SPID 2>/dev/null'
PORT=$(free_port)
U=$T/u
mkdir -p "$U" && chmod 755 "$T" && chown "$E2E_USER": "$U"
CERTS=$U/certs
RDIND_SIDECAR_USER=$E2E_USER RDIND_SIDECAR_LISTEN=127.0.0.1:$PORT RDIND_TLS_CERTDIR=$CERTS \
RDIND_SIDECAR_PEERS=client RDIND_LAUNCHER_STATE_DIR=$U/state RDIND_LAUNCHER_DATA_ROOT=$U/data \
    "$RDIND" sidecar >"$T/sidecar.log" 2>&1 &
SPID=$!
wait_for 90 grep -q 'msg=listening' "$T/sidecar.log" || { cat "$T/sidecar.log"; fail "sidecar did not listen"; }

TLS_ENV="DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client"
UNIX_ENV="DOCKER_HOST=unix://$U/state/docker.sock"
d () { local e=$1; shift; env $e docker "$@"; }

make_busybox_tar "$T/bb.tar"
d "$UNIX_ENV" import "$T/bb.tar" bb >/dev/null || fail "import"
C=$(d "$UNIX_ENV" run -d bb sh -c 'head -c 268435456 /dev/zero >/big; sleep 3600') || fail "run"
wait_for 60 env $UNIX_ENV docker exec "$C" sh -c '[ $(stat -c %s /big) = 268435456 ]' || fail "256 MiB file"

secs () { local s=$(date +%s%N); "$@" >/dev/null 2>&1 || fail "$*"; echo $(( ($(date +%s%N) - s) / 1000000 )); }
cp_unix=$(secs env $UNIX_ENV docker cp "$C:/big" "$T/out-unix")
cp_tls=$(secs env $TLS_ENV docker cp "$C:/big" "$T/out-tls")
cmp -s "$T/out-unix" "$T/out-tls" || fail "copies differ"
rm -f "$T/out-unix" "$T/out-tls"
v50 () { for i in $(seq 50); do env $1 docker version >/dev/null || return 1; done; }
ver_unix=$(secs v50 "$UNIX_ENV")
ver_tls=$(secs v50 "$TLS_ENV")

rss () { awk '/^VmRSS:/{print $2}' /proc/$SPID/status; }
rss0=$(rss)
python3 - "$PORT" "$CERTS/client" >"$T/idle.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
ctx.load_verify_locations(d + "/ca.pem")
conns = []
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port))
    conns.append(ctx.wrap_socket(s, server_hostname="localhost"))
print("ready", flush=True)
time.sleep(30)
PY
IDLE=$!
wait_for 30 grep -q ready "$T/idle.out" || { cat "$T/idle.out"; fail "200 idle connections"; }
sleep 1
rss1=$(rss)
kill $IDLE 2>/dev/null; wait $IDLE 2>/dev/null
per_conn=$(( (rss1 - rss0) * 1024 / 200 ))

ratio () { python3 -c "print('%.2f' % ($1 / max($2, 1)))"; }
printf '%-34s %12s %12s %8s %10s\n' measurement "rdind TLS" "unix sock" ratio anchor
printf '%-34s %10sms %10sms %8s %10s\n' "docker cp 256 MiB out" "$cp_tls" "$cp_unix" "$(ratio $cp_tls $cp_unix)" -
printf '%-34s %10sms %10sms %8s %10s\n' "50 sequential docker version" "$ver_tls" "$ver_unix" "$(ratio $ver_tls $ver_unix)" -
printf '%-34s %10sB  %12s %8s %10s\n' "sidecar RSS per idle TLS conn" "$per_conn" - - -
exit 0
