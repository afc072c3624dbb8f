#!/bin/bash
# Faults rdind did not choose, each with figures (tried / survived / lost):
#   kill -9 in turn of dockerd, containerd, slirp4netns and rdind-launch,
#     while a prober keeps asking the endpoint, with and without a client
#     certificate: the endpoint never serves without the peer check, and it
#     serves again within a bound;
#   a corrupt server certificate followed by SIGHUP: refused, still served
#     with the old one, nothing in certdir empty or half-written;
#   2000 half-open TCP connections and 500 silent TLS sessions against
#     max_connections, while a legitimate `docker version` is timed;
#   a slow reader pulling 1 GiB with `docker cp`: the sidecar's RSS stays
#     bounded;
#   kill -9 of the sidecar itself: its whole tree goes with it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap curl python3 busybox timeout
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"
ulimit -n 65536
FLOOD="python3 $top_srcdir/tests/e2e/flood.py"

start_sidecar
import_busybox bb
check "served at the start" timeout 30 docker version

# The prober: every 0.2 s one request with the client certificate and one
# without, each line "with CURL-EXIT HTTP-CODE" (exit 7: refused, the port
# is closed; 0 with 200: served; anything else: the port was open but did
# not serve, which only a request cut by the kill itself may see).
probe () {
    local c
    while :; do
        c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$CERTS/client/ca.pem" \
            --cert "$CERTS/client/cert.pem" --key "$CERTS/client/key.pem" "https://127.0.0.1:$PORT/_ping")
        echo "with $? $c"
        c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -k "https://127.0.0.1:$PORT/_ping")
        echo "without $? $c"
        sleep 0.2
    done
}
probe >"$T/probe.log" 2>/dev/null &
PROBE=$!
on_exit "kill $PROBE"

# kill_and_time NAME: SIGKILL the oldest process NAME of the account; print
# the ms until `docker version` answers again through the endpoint.
kill_and_time () {
    local pid t0
    pid=$(pgrep -o -u "$E2E_USER" -x "$1") || { echo "none"; return; }
    t0=$(now_ms)
    kill -KILL "$pid"
    sleep 0.5
    wait_for 120 timeout 10 docker version >/dev/null 2>&1 || { echo "never"; return; }
    echo $(( $(now_ms) - t0 ))
}
for victim in dockerd containerd slirp4netns rdind-launch; do
    ms=$(kill_and_time "$victim")
    figure "kill -9 $victim: served again after $ms ms"
    check "kill -9 $victim: served again within 120 s ($ms ms)" test "$ms" != never -a "$ms" != none
done
kill "$PROBE"
tried=$(grep -c '^with ' "$T/probe.log")
ok=$(grep -c '^with 0 200$' "$T/probe.log")
closed=$(grep -c '^with 7 ' "$T/probe.log")
other=$(( tried - ok - closed ))
figure "prober with the certificate during the kills: tried $tried, served $ok, refused (port closed) $closed, open but not served $other"
bad=$(grep '^without ' "$T/probe.log" | grep -vc ' 000$')
check "no request without a client certificate was ever answered ($bad of $(grep -c '^without ' "$T/probe.log"))" test "$bad" = 0
check "the port was open without serving at most once per kill ($other, 4 kills)" test "$other" -le 4

# A corrupt server certificate, then SIGHUP: the reload is refused, the
# old certificate keeps serving, and nothing in certdir is empty.
cp "$CERTS/server/cert.pem" "$T/server-cert.good"
head -c 300 "$T/server-cert.good" >"$CERTS/server/cert.pem.tmp" && mv "$CERTS/server/cert.pem.tmp" "$CERTS/server/cert.pem"
n=$(grep -c 'level=error' "$LOG")
kill -HUP "$SPID"
check "corrupt certificate + SIGHUP: an error is logged" wait_for 10 sh -c "[ \$(grep -c 'level=error' '$LOG') -gt $n ]"
check "corrupt certificate + SIGHUP: still served" timeout 30 docker version
check "corrupt certificate + SIGHUP: the sidecar is alive" kill -0 "$SPID"
# (ca/.lock is the CA's lock file, empty by design.)
empty=$(find "$CERTS" -type f -empty ! -name .lock | wc -l)
check "nothing in certdir is empty ($empty)" test "$empty" = 0
check "no temporary file left in certdir" test -z "$(find "$CERTS" -name '*.tmp*' -o -name '.*tmp*')"
cp "$T/server-cert.good" "$CERTS/server/cert.pem"

# 2000 half-open connections and 500 silent TLS sessions (max_connections
# 1024, handshake_timeout 10 s): the legitimate client is timed.
$FLOOD silent 127.0.0.1 "$PORT" 500 "$T/silent.ready" "$CERTS/client" 2>/dev/null &
SIL=$!; on_exit "kill $SIL"
wait_for 60 test -s "$T/silent.ready" || fail "silent TLS flood"
check "500 silent TLS sessions established" grep -qx 'opened 500' "$T/silent.ready"
$FLOOD halfopen 127.0.0.1 "$PORT" 2000 "$T/half.ready" &
HALF=$!; on_exit "kill $HALF"
wait_for 60 test -s "$T/half.ready" || fail "half-open flood"
t0=$(now_ms)
wait_for 60 timeout 10 docker version >/dev/null 2>&1; rc=$?
lat=$(( $(now_ms) - t0 ))
figure "flood: $(cat "$T/half.ready") half-open, $(cat "$T/silent.ready") silent TLS; legitimate docker version served after $lat ms; $(grep -c 'reason=max_connections' "$LOG") refused for max_connections, $(grep -c 'reason=handshake_timeout' "$LOG") handshake timeouts"
check "flood: the legitimate client served within 30 s (handshake_timeout + 20 s; $lat ms)" test "$rc" = 0 -a "$lat" -lt 30000
kill "$HALF" "$SIL"
check "flood: served after the flood" wait_for 30 timeout 10 docker version

# A slow reader: 1 GiB out with docker cp, read at about 64 MiB/s; the
# sidecar's RSS is sampled throughout.
timeout 60 docker run -d --name big bb sh -c 'dd if=/dev/zero of=/big bs=1M count=1024 2>/dev/null; sleep 600' >/dev/null ||
    fail "docker run big"
wait_for 60 sh -c "timeout 10 docker exec big sh -c '[ \$(wc -c </big) = 1073741824 ]'" || fail "1 GiB file in the container"
rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$SPID/status")
( while kill -0 "$SPID" 2>/dev/null; do awk '/^VmRSS/ {print $2}' "/proc/$SPID/status"; sleep 0.5; done ) >"$T/rss.log" &
SAMP=$!
t0=$(now_ms)
got=$(timeout 300 docker cp big:/big - | python3 -c '
import sys, time
n = 0
while True:
    d = sys.stdin.buffer.read(1 << 20)
    if not d:
        break
    n += len(d)
    time.sleep(1 / 64)
print(n)')
kill "$SAMP"
peak=$(sort -n "$T/rss.log" | tail -1)
figure "slow reader: $got bytes of tar in $(( $(now_ms) - t0 )) ms; sidecar RSS $rss0 KiB before, peak $peak KiB"
check "slow reader: 1 GiB arrived ($got bytes of tar)" test "${got:-0}" -gt 1073741824
check "slow reader: the sidecar's RSS grew by less than 8 MiB (peak $peak KiB, before $rss0 KiB)" test $(( peak - rss0 )) -lt 8192
timeout 60 docker rm -f big >/dev/null

# kill -9 of the sidecar: rdind-launch gets SIGTERM from PR_SET_PDEATHSIG,
# stops dockerd, and everything of the account goes.
t0=$(now_ms)
kill -KILL "$SPID"
gone () { ! pgrep -u "$E2E_USER" >/dev/null; }
wait_for 40 gone
left=$(pgrep -u "$E2E_USER" -l | tr '\n' ' ')
figure "kill -9 of the sidecar: the account's processes gone after $(( $(now_ms) - t0 )) ms (left: ${left:-none})"
check "kill -9 of the sidecar takes its whole tree down within 40 s" gone
check "the endpoint is closed after the sidecar died" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null"
