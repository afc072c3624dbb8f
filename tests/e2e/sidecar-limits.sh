#!/bin/bash
# rdind sidecar's admission limits and its SIGHUP reload, end to end.  The
# sidecar starts as root from an INI file (--config), drops to the e2e user
# and serves dockerd; then:
#   allow_from   a source outside the list is refused (reason=allow_from);
#                a CIDR and a host name (resolved) that cover 127.0.0.1 let
#                clients in;
#   max_connections  with N connections held, the next one is refused
#                (reason=max_connections, counted in /metrics) and served
#                again once they close;
#   SIGHUP       re-reads the file: a peer added is accepted, a peer removed
#                is refused, open connections keep going; a broken file, or
#                certificates that cannot be made, are refused (FILE:LINE,
#                the reason) and the old settings stay; a changed
#                listen address or [launcher] key is reported as needing a
#                restart.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap openssl curl timeout
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"
[ -x "$ROTKIT" ] || fail "rotkit not built at $ROTKIT"
getent hosts localhost | grep -q '^127\.0\.0\.1' || skip "localhost does not resolve to 127.0.0.1 here"

PORT=$(free_port)
SP=$(free_port)
PORT2=$(free_port)
U=$T/u
mkdir -p "$U" && chmod 755 "$T" && chown "$E2E_USER": "$U"
CERTS=$U/certs
LOG=$T/sidecar.log
INI=$T/rdind.ini
export DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CERTS/client
dump_on_fail "$LOG" "$INI"
on_exit kill_user_procs
on_exit 'kill -TERM $SPID 2>/dev/null; sleep 1; kill -KILL $SPID 2>/dev/null'

# write_ini ALLOW_FROM PEERS [MAX_CONNECTIONS [LISTEN [MTU]]] : the whole file,
# replaced atomically and readable by the user the sidecar drops to.
write_ini () {
    cat >"$INI.new" <<EOF
[sidecar]
listen = ${4:-127.0.0.1:$PORT}
peers = $2
allow_from = $1
max_connections = ${3:-3}
handshake_timeout = 60s

[launcher]
mtu = ${5:-65520}
EOF
    chmod 644 "$INI.new" && mv -f "$INI.new" "$INI"
}

# Only what the test does not change goes through the environment: RDIND_*
# variables outrank the file, at start and on reload alike.
write_ini 192.0.2.0/24 client
RDIND_SIDECAR_USER=$E2E_USER RDIND_TLS_CERTDIR=$CERTS RDIND_SIDECAR_STATUS_LISTEN=127.0.0.1:$SP \
RDIND_LAUNCHER_STATE_DIR=$U/state RDIND_LAUNCHER_DATA_ROOT=$U/data \
    "$RDIND" --config "$INI" sidecar >"$LOG" 2>&1 &
SPID=$!
wait_for 90 grep -q 'msg=listening' "$LOG" || fail "sidecar did not start listening"

count () { grep -cE "$1" "$LOG"; }
more_than () { [ "$(count "$1")" -gt "$2" ]; }
# metric NAME : the value of one /metrics sample.
metric () { curl -sf --max-time 5 "http://127.0.0.1:$SP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
metric_is () { [ "$(metric "$1")" = "$2" ]; }
metric_gt () { local v; v=$(metric "$1"); [ -n "$v" ] && [ "$v" -gt "$2" ]; }
# hup : SIGHUP, then wait for the reload's outcome line (success or refusal).
OUTCOME='msg="(configuration reloaded|reload failed, keeping the current configuration and certificates)"'
hup () {
    local n; n=$(count "$OUTCOME")
    kill -HUP "$SPID"
    wait_for 60 more_than "$OUTCOME" "$n" || fail "no reload outcome logged after SIGHUP"
}
served () { timeout 30 docker version >/dev/null 2>&1; }
# curl_as DIR : GET /_ping with the client certificate in DIR.
curl_as () {
    curl -sf --max-time 5 --cacert "$CERTS/client/ca.pem" --cert "$1/cert.pem" --key "$1/key.pem" \
        "https://127.0.0.1:$PORT/_ping" | grep -qx OK
}

# --- allow_from ---------------------------------------------------------
check "allow_from 192.0.2.0/24: docker version from 127.0.0.1 refused" sh -c "! timeout 30 docker version >/dev/null 2>&1"
check "allow_from reject logged with the address" \
    wait_for 5 grep -qE 'msg=rejected addr=127\.0\.0\.1:[0-9]+ .*reason=allow_from' "$LOG"
check "allow_from rejects counted in /metrics" \
    sh -c "curl -sf --max-time 5 http://127.0.0.1:$SP/metrics | grep -q 'reason=\"allow_from\"} [1-9]'"
check "rdind health fails while the source is not allowed" \
    sh -c "! RDIND_SIDECAR_LISTEN=127.0.0.1:$PORT RDIND_TLS_CERTDIR=$CERTS timeout 30 '$RDIND' health >/dev/null 2>&1"

write_ini 127.0.0.0/8 client
hup
check "SIGHUP: reload names the changed key" grep -qE 'msg="configuration reloaded" changed=sidecar\.allow_from ' "$LOG"
check "allow_from 127.0.0.0/8: served" served

n_allow=$(count 'reason=allow_from')
write_ini "192.0.2.0/24, localhost" client
hup
check "allow_from with the host name localhost (resolved): served" served
check "no allow_from reject since" test "$(count 'reason=allow_from')" = "$n_allow"

# --- max_connections ----------------------------------------------------
# Three slots: two plain TCP connections that sit in the handshake and one
# handshaken idle TLS session.
mkfifo "$T/sc.in"
exec 6<>"$T/sc.in"
n_acc=$(count 'msg=accepted')
openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$CERTS/client/ca.pem" \
    -cert "$CERTS/client/cert.pem" -key "$CERTS/client/key.pem" <&6 >"$T/sc.out" 2>&1 &
SC=$!
on_exit 'kill $SC 2>/dev/null'
check "idle TLS session handshaken" wait_for 20 more_than 'msg=accepted' "$n_acc"
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
exec 8<>"/dev/tcp/127.0.0.1/$PORT"
check "three connections open" wait_for 10 metric_is rdind_connections_open 3
before=$(metric 'rdind_connections_rejected_total{reason="max_connections"}')
check "max_connections=3: a fourth client refused" sh -c "! timeout 30 docker version >/dev/null 2>&1"
check "max_connections reject logged" wait_for 5 grep -qE 'msg=rejected addr=127\.0\.0\.1:[0-9]+ .*reason=max_connections' "$LOG"
# (the client retries: one refusal or more)
check "max_connections rejects counted in /metrics" \
    wait_for 5 metric_gt 'rdind_connections_rejected_total{reason="max_connections"}' "${before:-0}"
exec 7>&- 8>&-
kill "$SC" 2>/dev/null; wait "$SC" 2>/dev/null
check "connections closed" wait_for 10 metric_is rdind_connections_open 0
check "served again once they closed" served

# --- SIGHUP: peers ------------------------------------------------------
cp -r "$CERTS" "$T/ca-copy"
"$ROTKIT" -q issue --certdir "$T/ca-copy" --peer newpeer --out "$T/newpeer" >/dev/null 2>&1 || fail "rotkit issue newpeer"
check "newpeer (our CA, not in peers) refused" sh -c "! curl -sf --max-time 5 --cacert $CERTS/client/ca.pem --cert $T/newpeer/cert.pem --key $T/newpeer/key.pem https://127.0.0.1:$PORT/_ping"
check "peer-name reject logged for newpeer" wait_for 5 grep -qE 'reason=peer_name .*newpeer' "$LOG"

# Held across the reloads: a TLS session of the old configuration and a
# connection still in its handshake (it borrows the old peer list).
n_acc=$(count 'msg=accepted')
: >"$T/sc.out"
openssl s_client -quiet -connect "127.0.0.1:$PORT" -CAfile "$CERTS/client/ca.pem" \
    -cert "$CERTS/client/cert.pem" -key "$CERTS/client/key.pem" <&6 >"$T/sc.out" 2>&1 &
SC=$!
check "TLS session open before the reload" wait_for 20 more_than 'msg=accepted' "$n_acc"
exec 7<>"/dev/tcp/127.0.0.1/$PORT"

write_ini 127.0.0.0/8 "client, newpeer" 16
hup
check "SIGHUP: peers and max_connections reloaded" \
    grep -qE 'msg="configuration reloaded" changed=sidecar\.peers,sidecar\.allow_from,sidecar\.max_connections ' "$LOG"
check "added peer accepted after SIGHUP" curl_as "$T/newpeer"
check "certificate issued for the added peer" test -s "$CERTS/clients/newpeer/cert.pem"
check "first peer still accepted" curl_as "$CERTS/client"

n_rej=$(count 'reason=peer_name .*newpeer')
write_ini 127.0.0.0/8 client 16
hup
check "removed peer refused after SIGHUP" sh -c "! curl -sf --max-time 5 --cacert $CERTS/client/ca.pem --cert $T/newpeer/cert.pem --key $T/newpeer/key.pem https://127.0.0.1:$PORT/_ping"
check "removed peer's reject logged" wait_for 5 more_than 'reason=peer_name .*newpeer' "$n_rej"

printf 'GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n' >&6
check "a session opened before two reloads still serves" wait_for 10 grep -q 'HTTP/1.1 200 OK' "$T/sc.out"
kill "$SC" 2>/dev/null; wait "$SC" 2>/dev/null
exec 7>&-
check "old configurations' connections closed" wait_for 10 metric_is rdind_connections_open 0
check "served after they closed" served

# --- SIGHUP: a broken file changes nothing --------------------------------
cat >"$INI" <<EOF
[sidecar]
peers = client, newpeer
this is not ini
EOF
hup
check "broken INI refused with FILE:LINE" \
    grep -qF "msg=\"reload failed, keeping the current configuration and certificates\" error=\"$INI:3: syntax error" "$LOG"
check "served with the old settings" served
check "old peer list still in force" sh -c "! curl -sf --max-time 5 --cacert $CERTS/client/ca.pem --cert $T/newpeer/cert.pem --key $T/newpeer/key.pem https://127.0.0.1:$PORT/_ping"
# dockerd dies while the file is still broken: the launcher restarts from
# the configuration the sidecar holds (state_dir/launcher.ini), not from
# the broken file.
restarts=$(grep -c 'msg="restarting launcher"' "$LOG")
pkill -KILL -u "$E2E_USER" -x dockerd || fail "no dockerd to kill"
check "launcher restarted" wait_for 30 sh -c "[ \$(grep -c 'msg=\"restarting launcher\"' '$LOG') -gt $restarts ]"
check "dockerd restarted despite the broken file" wait_for 90 served
check "launcher read the sidecar's configuration" grep -qE "^listen = 127.0.0.1:$PORT( |$)" "$U/state/launcher.ini"

# A valid file whose certificates cannot be made: the whole reload is
# refused, peers included.
cat >"$INI" <<EOF
[sidecar]
listen = 127.0.0.1:$PORT
peers = client, newpeer
allow_from = 127.0.0.0/8
max_connections = 16
[tls]
client_group = rdind-no-such-group
EOF
hup
check "certificate failure refuses the reload" \
    grep -qE 'msg="reload failed, keeping the current configuration and certificates" error=".*client group .rdind-no-such-group. does not exist' "$LOG"
check "served with the old certificates" served
check "old peer list still in force after the failed certificate step" sh -c "! curl -sf --max-time 5 --cacert $CERTS/client/ca.pem --cert $T/newpeer/cert.pem --key $T/newpeer/key.pem https://127.0.0.1:$PORT/_ping"

# --- SIGHUP: settings bound at start --------------------------------------
write_ini 127.0.0.0/8 client 16 "127.0.0.1:$PORT2" 1500
hup
check "listen change: needs a restart" \
    grep -qE 'msg="setting needs a restart, keeping the current value" key=sidecar\.listen applies="at the next sidecar restart"' "$LOG"
check "[launcher] change: applies at the next dockerd restart" \
    grep -qE 'msg="setting needs a restart" key=launcher\.mtu applies="at the next dockerd restart"' "$LOG"
check "reload logged what waits for a restart" \
    grep -qE 'msg="configuration reloaded" changed=none pending_restart=sidecar\.listen,launcher\.mtu$' "$LOG"
check "still served on the old address" served
check "nothing listens on the new address" sh -c "! curl -s --max-time 2 http://127.0.0.1:$PORT2/ >/dev/null"

# --- SIGTERM after the reloads: clean exit, every configuration freed -----
kill -TERM "$SPID"
rc=0; timeout 30 tail --pid="$SPID" -f /dev/null || fail "sidecar still runs 30 s after SIGTERM"
wait "$SPID" || rc=$?
check "SIGTERM: exit 0 (got $rc)" test "$rc" = 0
check "every libuv handle closed (uv_loop_close == 0)" sh -c "grep -q 'sidecar stopped' '$LOG' && ! grep -q 'did not close cleanly' '$LOG'"
check "no sanitizer report" sh -c "! grep -q 'Sanitizer' '$LOG'"
exit 0
