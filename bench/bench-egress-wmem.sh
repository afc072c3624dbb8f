#!/bin/bash
# bench-egress-wmem.sh [SECONDS [ROUNDS]]: egress from a bare network
# namespace (no dockerd) through slirp4netns, Debian 12's pasta, Debian
# 13's pasta and trixie-backports' pasta (a 2026 snapshot, fetched once
# into the cache; BENCH_PASTA_BPO=0 leaves it out), to an iperf3 server on the host's loopback, at the host's
# net.ipv4.tcp_wmem as it is and then with its maximum raised to 16 MiB
# (restored at exit).  Each side runs ROUNDS times (default 3, interleaved)
# and the median is shown, with iperf3's retransmission count and the
# ratios pasta / slirp4netns.  Run as root (the sysctl is the host
# network namespace's); the namespaces are the test user's.
#
# Why: pasta's egress here stalls on retransmissions, which follow the
# ceiling of the send buffer of pasta's host sockets (README, "Published
# ports").  Nothing leaves the machine: the server is on 127.0.0.1, which
# both helpers map the namespace's gateway (10.0.2.2) to.
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"
. "$top_srcdir/bench/lib-anchor.sh"

SECS=${1:-3}
ROUNDS=${2:-3}
require_root
require_cmd slirp4netns pasta iperf3 unshare nsenter python3
ensure_test_user
fix_tun
on_exit kill_user_procs
kill_user_procs
anchor13_pasta
[ "${BENCH_PASTA_BPO:-1}" = 0 ] || anchor13_pasta_bpo

PORT=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$PORT" -D || fail "iperf3 server on 127.0.0.1:$PORT"
on_exit "pkill -f 'iperf3 -s -B 127.0.0.1 -p $PORT'"
read -r w0 w1 w2 </proc/sys/net/ipv4/tcp_wmem
on_exit "echo '$w0 $w1 $w2' >/proc/sys/net/ipv4/tcp_wmem"

# "Gbit/s retransmissions" of one iperf3 -J run on stdin.
result () {
    python3 -c 'import json,sys
e = json.load(sys.stdin)["end"]
print("%.2f %d" % (e["sum_received"]["bits_per_second"] / 1e9, e["sum_sent"].get("retransmits", 0)))'
}

# slirp4netns: a namespace held by a sleeping process, slirp4netns
# attached to it (its gateway 10.0.2.2 is the host's loopback by default).
slirp_side () {
    as_user sh -c '
        unshare -rn sleep 300 & ns=$!
        i=0
        until [ "$(readlink /proc/$ns/ns/net)" != "$(readlink /proc/self/ns/net)" ]; do
            i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.05
        done
        slirp4netns --configure --mtu=65520 $ns tap0 >/dev/null 2>&1 & s=$!
        i=0
        until nsenter -t $ns -U -n --preserve-credentials ip -4 addr show tap0 2>/dev/null | grep -q 10.0.2.100; do
            i=$((i + 1)); [ $i -lt 100 ] || { kill $s $ns; exit 1; }; sleep 0.05
        done
        nsenter -t $ns -U -n --preserve-credentials iperf3 -c 10.0.2.2 -p "$1" -t "$2" -J
        kill $s $ns' sh "$PORT" "$SECS" | result
}

# pasta, as rdind configures it (same addresses, MTU, IPv4 only) except
# that its gateway maps to the host's loopback, where the server is.
pasta_side () {
    as_user "$1" --config-net --quiet --ipv4-only --mtu 65520 --address 10.0.2.100 --netmask 24 \
        --gateway 10.0.2.2 -t none -u none -T none -U none -- iperf3 -c 10.0.2.2 -p "$PORT" -t "$SECS" -J | result
}

: >"$T/egress.txt"
for max in "$w2" 16777216; do
    echo "$w0 $w1 $max" >/proc/sys/net/ipv4/tcp_wmem || fail "setting net.ipv4.tcp_wmem to '$w0 $w1 $max'"
    setting="$w0 $w1 $max"
    for round in $(seq "$ROUNDS"); do
        echo "# tcp_wmem $setting, round $round of $ROUNDS"
        r=$(slirp_side) || fail "slirp4netns side"
        echo "$setting|slirp4netns (Debian 12)|$r" >>"$T/egress.txt"
        r=$(pasta_side pasta) || fail "pasta side (Debian 12)"
        echo "$setting|pasta (Debian 12)|$r" >>"$T/egress.txt"
        r=$(pasta_side "$A13_PASTA") || fail "pasta side (Debian 13)"
        echo "$setting|pasta (Debian 13)|$r" >>"$T/egress.txt"
        if [ -n "${A13_PASTA_BPO:-}" ]; then
            r=$(pasta_side "$A13_PASTA_BPO") || fail "pasta side (trixie-backports)"
            echo "$setting|pasta (trixie-backports)|$r" >>"$T/egress.txt"
        fi
    done
done

python3 - "$T/egress.txt" "$SECS" "$ROUNDS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    setting, side, vals = line.rstrip("\n").split("|")
    gbit, retr = vals.split()
    rows.setdefault((setting, side), []).append((float(gbit), int(retr)))
print()
print("%-26s %-24s %10s %16s %8s" % ("host tcp_wmem", "egress (%s s, median of %s)" % (sys.argv[2], sys.argv[3]),
                                     "Gbit/s", "range", "retrans"))
med = {}
for (setting, side), rs in rows.items():
    g = statistics.median(r[0] for r in rs)
    med[(setting, side)] = g
    print("%-26s %-24s %10.2f %16s %8d" % (setting, side, g, "%.2f to %.2f" % (min(r[0] for r in rs), max(r[0] for r in rs)),
                                           statistics.median(r[1] for r in rs)))
print()
for (setting, side), g in med.items():
    s = med.get((setting, "slirp4netns (Debian 12)"), 0)
    if side.startswith("pasta") and s > 0:
        print("tcp_wmem %s: %s / slirp4netns: %.2fx (target >= 2x)" % (setting, side, g / s))
PY
