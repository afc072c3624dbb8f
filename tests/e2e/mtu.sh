#!/bin/bash
# An outer path of MTU 1360 (GitLab's SaaS runners since May 2026) must not
# stall the inner containers' TCP (issue 19, 4).  The inner side keeps its
# large MTU (tap 65520, dockerd's bridge at the tap MTU); the outside is a
# network namespace of the test's own behind a veth pair whose both ends
# are at 1360, with ICMP "fragmentation needed" dropped on the way, as a
# black-holing middlebox would.  64 MiB each way between a container and
# that namespace must arrive whole within a bound with slirp4netns (the
# default, and the image's).  pasta, when installed, is measured the same
# way and reported, not judged: Debian 12's pasta loses packets on this
# machine's paths whatever the MTU (README, "Published ports").
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox ip python3 timeout
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

NS=rdmtu
ip netns add $NS || fail "ip netns add $NS"
on_exit "ip netns del $NS; ip link del $NS-h 2>/dev/null"
ip link add $NS-h mtu 1360 type veth peer name $NS-n mtu 1360 &&
    ip link set $NS-n netns $NS && ip addr add 198.18.1.1/30 dev $NS-h && ip link set $NS-h up &&
    ip netns exec $NS ip addr add 198.18.1.2/30 dev $NS-n && ip netns exec $NS ip link set $NS-n up &&
    ip netns exec $NS ip link set lo up || fail "veth of MTU 1360 into $NS"
check "the outer path is at MTU 1360" sh -c "ip link show $NS-h | grep -q 'mtu 1360' && ip netns exec $NS ip link show $NS-n | grep -q 'mtu 1360'"
# A black hole for path MTU discovery: no "fragmentation needed" back.
if command -v iptables >/dev/null; then
    ip netns exec $NS iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP 2>/dev/null || true
fi

mkdir -p "$T/www" && head -c $((64 << 20)) /dev/urandom >"$T/www/big"
ip netns exec $NS python3 -m http.server 8000 --bind 198.18.1.2 --directory "$T/www" >/dev/null 2>&1 &
on_exit "kill $!"
ip netns exec $NS python3 - "$T/got" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.1.2", 9000)); s.listen(4)
while True:
    c, _ = s.accept(); n = 0
    while True:
        d = c.recv(1 << 16)
        if not d: break
        n += len(d)
    c.close(); open(sys.argv[1], "w").write(str(n))
PY
on_exit "kill $!"
wait_for 10 ip netns exec $NS python3 -c 'import socket; socket.create_connection(("198.18.1.2", 8000), 1)' || fail "servers in $NS"

nets=slirp4netns
command -v pasta >/dev/null && nets="$nets pasta"
for net in $nets; do
    unset PORT LOG U CERTS
    U=$T/u-$net LOG=$T/sidecar-$net.log
    start_sidecar RDIND_LAUNCHER_NET=$net
    import_busybox bb
    mtu=$(timeout 60 docker run --rm bb cat /sys/class/net/eth0/mtu)
    echo "# $net: the container's eth0 MTU is $mtu, the outer path's 1360"
    t0=$(now_ms)
    out=$(timeout 90 docker run --rm bb sh -c 'wget -q -O - http://198.18.1.2:8000/big | wc -c' 2>&1)
    t1=$(now_ms)
    judge () { if [ "$net" = slirp4netns ]; then check "$@"; else echo "# $1 (measured, not judged): $(if "${@:2}"; then echo yes; else echo no; fi)"; fi; }
    judge "$net: 64 MiB from outside through the 1360 path arrive whole ($out bytes, $((t1 - t0)) ms)" test "$out" = $((64 << 20))
    rm -f "$T/got"
    t0=$(now_ms)
    timeout 90 docker run --rm bb sh -c 'head -c 67108864 /dev/zero | nc 198.18.1.2 9000' >/dev/null 2>&1
    wait_for 30 test -s "$T/got"
    t1=$(now_ms)
    got=$(cat "$T/got" 2>/dev/null)
    judge "$net: 64 MiB to outside through the 1360 path arrive whole (${got:-0} bytes, $((t1 - t0)) ms)" test "${got:-0}" = $((64 << 20))
    figure "$net across an outer MTU of 1360 (inner eth0 $mtu): 64 MiB in and out, see the two checks above"
    stop_sidecar
done
