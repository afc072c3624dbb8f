#!/bin/bash
# Published ports end to end, through the TLS endpoint with the docker CLI:
# `docker run -p` for TCP and UDP, `-p 127.0.0.1::PORT` (random host port)
# and `-P`, `docker port`, IPv6, a port already taken on the host, half-close
# (`echo x | nc`), 100 concurrent connections, 1 GiB there and back with
# matching checksums, a container stopped mid-transfer (the forwarder ends
# the connection and leaks no fd), and (native driver) the launcher's memory
# with 50 idle forwarded connections.
# The network, too: egress from an inner container to a listener in a
# network namespace this test creates, the gateway not leading to the
# host's loopback, and the tap device's MTU.
# The driver comes from RDIND_LAUNCHER_PORT_DRIVER (ports-slirp4netns.sh sets
# it; the default is the native driver), the network from RDIND_LAUNCHER_NET
# (ports-pasta.sh sets it; the default is slirp4netns).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
NET=${RDIND_LAUNCHER_NET:-slirp4netns}
require_cmd docker dockerd "$NET" newuidmap busybox timeout cc python3 ip nsenter
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"
DRIVER=${RDIND_LAUNCHER_PORT_DRIVER:-native}
PC="python3 $top_srcdir/tests/e2e/port-client.py"

start_sidecar RDIND_LAUNCHER_PORT_DRIVER="$DRIVER" RDIND_LAUNCHER_NET="$NET"
# busybox and a static echo server (tests/e2e/echo-server.c)
make_busybox_tar "$T/bb.tar"
mkdir -p "$T/img/bin" && tar -C "$T/img" -xf "$T/bb.tar"
cc -static -O2 -o "$T/img/bin/echo-server" "$top_srcdir/tests/e2e/echo-server.c" || fail "build echo-server"
tar -C "$T/img" -cf "$T/img.tar" . && timeout 60 docker import --change 'EXPOSE 9000' "$T/img.tar" echoimg >/dev/null ||
    fail "import the echo image"
SERVE="echo-server udp 9001 & exec echo-server tcp 9000"
LAUNCHER=$(pgrep -u "$E2E_USER" -x rdind-launch | head -1)
[ -n "$LAUNCHER" ] || fail "no rdind-launch process"
INFO=$(curl -s --unix-socket "$U/state/rootlesskit/api.sock" http://x/v1/info)
check "the launcher runs the $DRIVER port driver" grep -q "\"portDriver\":{\"driver\":\"$DRIVER\"" <<<"$INFO"
check "the launcher runs the $NET network" grep -q "\"networkDriver\":{\"driver\":\"$NET\"" <<<"$INFO"
DPID=$(pgrep -u "$E2E_USER" -x dockerd | head -1)
check "$NET: tap0 in dockerd's namespace has MTU 65520" sh -c \
    "nsenter -t $DPID -n ip -o link show tap0 | grep -q 'mtu 65520'"

# Egress: a listener in a network namespace of our own, behind a veth pair
# (198.18.0.0/30, RFC 2544's benchmark range: nothing leaves the machine).
# The gateway (10.0.2.2) is routed into that namespace too, where nothing
# answers: a connection to it must not reach the host's loopback.
EG=rdeg$$
outside_ns "$EG"
on_exit "ip route del 10.0.2.2/32 2>/dev/null"
ip route add 10.0.2.2/32 dev "$EG-h" || fail "route 10.0.2.2 into $EG"
cc -O2 -o "$T/echo-host" "$top_srcdir/tests/e2e/echo-server.c" || fail "build echo-server"
ip netns exec "$EG" "$T/echo-host" tcp 9100 &
on_exit "kill $!"
wait_for 10 ip netns exec "$EG" $PC echo 127.0.0.1 9100 || fail "listener in $EG"
check "$NET: egress from an inner container reaches a listener outside" sh -c \
    "timeout -k 5 60 docker run --rm echoimg sh -c 'echo out | timeout 5 nc 198.18.0.2 9100' | grep -qx out"

want=65520; [ "$NET" = pasta ] && want=1500
mtu=$(timeout -k 5 60 docker run --rm echoimg cat /sys/class/net/eth0/mtu)
check "$NET: an inner container's eth0 has MTU $want (got $mtu)" test "$mtu" = "$want"

P=$(free_port); PU=$(free_port)
timeout 60 docker run -d --name echo -p "127.0.0.1:$P:9000" -p "127.0.0.1:$PU:9001/udp" echoimg sh -c "$SERVE" >/dev/null ||
    fail "docker run -p"
wait_for 20 $PC echo 127.0.0.1 "$P" || fail "the published TCP port does not answer"
check "TCP: echo x | nc (half-close) gets its answer" $PC echo 127.0.0.1 "$P"
check "$NET: the gateway does not lead to the host's loopback (127.0.0.1:$P listens there)" sh -c \
    "! timeout -k 5 60 docker run --rm echoimg sh -c 'echo in | timeout 5 nc 10.0.2.2 $P' | grep -q in"
# slirp4netns cannot answer a UDP client on the host's loopback once host
# loopback is disabled (its reply would go to 10.0.2.2, which that flag
# closes): with that driver UDP serves other addresses only (README).
if [ "$DRIVER" = native ]; then
    check "UDP: a datagram there and back (loopback)" $PC udp 127.0.0.1 "$PU"
fi
PV=$(free_port)
timeout 60 docker run -d --name echo-eg -p "198.18.0.1:$PV:9001/udp" echoimg sh -c "$SERVE" >/dev/null ||
    fail "docker run -p 198.18.0.1:$PV:9001/udp"
wait_for 20 ip netns exec "$EG" $PC udp 198.18.0.1 "$PV" || true
check "UDP: a datagram there and back from another address (198.18.0.2)" ip netns exec "$EG" $PC udp 198.18.0.1 "$PV"
check "docker port names TCP and UDP" sh -c "timeout 30 docker port echo | grep -qx '9000/tcp -> 127.0.0.1:$P' &&
    timeout 30 docker port echo | grep -qx '9001/udp -> 127.0.0.1:$PU'"

# A random host port, and -P.
timeout 60 docker run -d --name rnd -p 127.0.0.1::9000 echoimg sh -c "$SERVE" >/dev/null || fail "docker run -p 127.0.0.1::9000"
RP=$(timeout 30 docker port rnd 9000/tcp | head -1 | sed 's/.*://')
wait_for 20 $PC echo 127.0.0.1 "$RP" || true
check "-p 127.0.0.1::9000 gets a random port ($RP) that answers" $PC echo 127.0.0.1 "$RP"
timeout 60 docker run -d --name pub -P echoimg sh -c "$SERVE" >/dev/null || fail "docker run -P"
PP=$(timeout 30 docker port pub 9000/tcp | grep -v '\[' | head -1 | sed 's/.*://')
wait_for 20 $PC echo 127.0.0.1 "$PP" || true
check "-P publishes the EXPOSEd port ($PP) and it answers" $PC echo 127.0.0.1 "$PP"
if [ "$DRIVER" = native ]; then
    P6=$(free_port)
    timeout 60 docker run -d --name v6 -p "[::1]:$P6:9000" echoimg sh -c "$SERVE" >/dev/null || fail "docker run -p [::1]:..."
    wait_for 20 $PC echo ::1 "$P6" || true
    check "IPv6: -p [::1]:$P6:9000 answers on ::1" $PC echo ::1 "$P6"
fi

# A host port that is taken: a clear error, shown by the docker CLI.
TP=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(60)' "$TP" &
TAKER=$!; on_exit "kill $TAKER"
wait_for 10 python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=1)' "$TP" ||
    fail "could not take port $TP"
out=$(timeout 60 docker run --rm -p "127.0.0.1:$TP:9000" echoimg true 2>&1)
check "a taken host port is refused, saying so" sh -c "echo '$out' | grep -q 'already in use on the host'"

if [ "$DRIVER" = slirp4netns ]; then
    # slirp4netns listens with a backlog of 1: a burst of connections
    # loses some (README).  One after another, none may fail.
    check "100 connections one after another each get their 64 KiB back" $PC seq 127.0.0.1 "$P" 100
    figure "$($PC many 127.0.0.1 "$P" 100)"
else
    check "100 concurrent connections each get their 64 KiB back" $PC many 127.0.0.1 "$P" 100
fi
out=$($PC bulk 127.0.0.1 "$P" 1024) || fail "1 GiB transfer: $out"
pass "1 GiB there and back: $out"

# A container stopped mid-transfer: the connection ends at once, and the
# launcher is left with the fds it had.
sleep 1
fds_before=$(ls "/proc/$LAUNCHER/fd" | wc -l)
timeout 60 docker run -d --name cut -p "127.0.0.1:$(free_port):9000" echoimg sh -c "$SERVE" >/dev/null || fail "run cut"
CP=$(timeout 30 docker port cut 9000/tcp | sed 's/.*://')
wait_for 20 $PC echo 127.0.0.1 "$CP" || fail "cut: port does not answer"
$PC cut 127.0.0.1 "$CP" "$T/streaming" >"$T/cut.out" 2>&1 &
CUT=$!
wait_for 20 test -s "$T/streaming" || fail "cut: not streaming"
timeout 60 docker rm -f cut >/dev/null
wait "$CUT"; rc=$?
check "container stopped mid-transfer: the client sees the end ($(cat "$T/cut.out"))" test "$rc" = 0
fd_settled () { [ "$(ls "/proc/$LAUNCHER/fd" | wc -l)" -le "$fds_before" ]; }
wait_for 20 fd_settled
check "the launcher has no fd more than before ($(ls "/proc/$LAUNCHER/fd" | wc -l), before $fds_before)" fd_settled

if [ "$DRIVER" = native ]; then
    $PC idle 127.0.0.1 "$P" 50 "$T/idle-ready" &
    IDLE=$!; on_exit "kill $IDLE"
    wait_for 30 test -s "$T/idle-ready" || fail "50 idle connections"
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$LAUNCHER/status")
    check "launcher RSS with 50 idle forwarded connections: $rss KiB (< 2048)" test "$rss" -lt 2048
    kill "$IDLE"
fi
timeout 60 docker rm -f echo echo-eg rnd pub v6 >/dev/null 2>&1

# The network helper killed: the launcher stops dockerd and fails, the
# sidecar restarts it, and the way out works again.
t0=$(now_ms)
pkill -KILL -u "$E2E_USER" -x "$([ "$NET" = pasta ] && echo passt.avx2 || echo slirp4netns)" ||
    pkill -KILL -u "$E2E_USER" -x "$NET" || fail "no $NET process to kill"
wait_for 20 sh -c "! timeout 5 docker version >/dev/null 2>&1"
check "kill -9 $NET: served again" wait_for 90 timeout 10 docker version
figure "kill -9 $NET: served again after $(( $(now_ms) - t0 )) ms"
check "kill -9 $NET: egress works again" sh -c \
    "timeout -k 5 60 docker run --rm echoimg sh -c 'echo out | timeout 5 nc 198.18.0.2 9100' | grep -qx out"
stop_sidecar
