#!/bin/bash
# The pull path (issue 19, 3): dockerd's own registry traffic leaves from
# the host's network namespace through the launcher's proxy, not across
# slirp4netns, while containers stay behind slirp4netns.  Judged by effect:
#   a registry of the test's own (docker-registry in a namespace it creates,
#   198.18.4.2 behind a veth pair); push an imported image with an 8 MiB
#   random layer, remove it, pull it back: the bytes do not cross tap0 in
#   dockerd's namespace (its counters in /proc/PID/net/dev), the launcher
#   logs the proxied connection, and the image runs;
#   dockerd's environment holds the proxy with a per-start credential;
#   a --network host container (dockerd's loopback) gets 407 without the
#   credential, and with it 403 for the host's 127.0.0.1 service (by
#   address and by a name that resolves to it); a default-bridge container
#   reaches neither that service nor the proxy;
#   an https registry (CONNECT): push, pull and a BuildKit FROM through
#   the proxy;
#   HTTP_PROXY/HTTPS_PROXY set for rdind (a corporate proxy, here a small
#   one of the test's on the host's loopback): the direct path chains to it
#   with its credential, and still refuses the host's loopback;
#   pull_path = slirp: no proxy, the pull crosses tap0 as before;
#   a bad value: a one-line error naming the key and the choices.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout python3 docker-registry ip curl base64 openssl
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

out=$(env RDIND_LAUNCHER_PULL_PATH=bogus "$RDIND" config 2>&1); rc=$?
check "pull_path = bogus: exit 2, one line naming the key and the choices" sh -c \
    "[ $rc = 2 ] && [ \$(printf '%s\n' \"\$1\" | wc -l) = 1 ] && printf '%s' \"\$1\" | grep -qi 'pull_path.*direct.*slirp'" _ "$out"

# The registry, in a namespace of our own (198.18.4.0/30: no other test's).
NS=rdpull
outside_ns "$NS" 198.18.4
REG=198.18.4.2:5000
mkdir -p "$T/registry"
printf 'version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$T/registry" "$REG" >"$T/reg.yml"
ip netns exec $NS docker-registry serve "$T/reg.yml" >"$T/registry.log" 2>&1 &
on_exit "kill $!"
wait_for 20 curl -sf "http://$REG/v2/" || fail "docker-registry did not start in $NS"
# The same over https (a self-signed certificate: insecure_registries makes
# dockerd skip the check), which dockerd reaches with CONNECT.
REGS=198.18.4.2:5443
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=registry \
    -addext subjectAltName=IP:198.18.4.2 -keyout "$T/reg.key" -out "$T/reg.crt" 2>/dev/null || fail "openssl"
mkdir -p "$T/registry-tls"
printf 'version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  tls:\n    certificate: %s\n    key: %s\n' \
    "$T/registry-tls" "$REGS" "$T/reg.crt" "$T/reg.key" >"$T/regs.yml"
ip netns exec $NS docker-registry serve "$T/regs.yml" >"$T/registry-tls.log" 2>&1 &
on_exit "kill $!"
wait_for 20 curl -sfk "https://$REGS/v2/" || fail "docker-registry (https) did not start in $NS"
# BuildKit (dockerd 20.10's) does not skip the check for insecure https
# registries: the certificate goes where rootless dockerd looks for it.
CD=$E2E_HOME/.config/docker/certs.d/$REGS
mkdir -p "$CD" && cp "$T/reg.crt" "$CD/ca.crt" && chown -R "$E2E_USER": "$E2E_HOME/.config" || fail "certs.d"
on_exit "rm -rf '$CD'"

# A service on the host's loopback that nothing of the daemon may reach.
LP=$(free_port)
mkdir -p "$T/www" && echo host-loopback-secret >"$T/www/index.html"
python3 -m http.server "$LP" --bind 127.0.0.1 --directory "$T/www" >/dev/null 2>&1 &
on_exit "kill $!"
wait_for 10 curl -sf "http://127.0.0.1:$LP/" || fail "loopback service"

# An image with an 8 MiB random layer (busybox plus /blob).
make_busybox_tar "$T/busybox.tar"
mkdir -p "$T/img" && tar -C "$T/img" -xf "$T/busybox.tar" && head -c 8388608 /dev/urandom >"$T/img/blob" &&
    tar -C "$T/img" -cf "$T/img.tar" . || fail "image tarball"

tap_rx () { awk '$1 == "tap0:" {print $2}' "/proc/$DPID/net/dev"; }

start_sidecar RDIND_CACHE_INSECURE_REGISTRIES="$REG,$REGS"
DPID=$(pgrep -u "$E2E_USER" -x dockerd | head -1)
[ -n "$DPID" ] || fail "no dockerd of $E2E_USER"
penv=$(tr '\0' '\n' <"/proc/$DPID/environ" | sed -n 's/^HTTPS_PROXY=//p')
check "dockerd's environment names the proxy on its loopback, with a credential ($(echo "$penv" | sed 's/:[0-9a-f]*@/:***@/'))" \
    sh -c "echo '$penv' | grep -Eq '^http://rdind:[0-9a-f]{32}@127\.0\.0\.1:[0-9]+$'"
PP=${penv##*:}
TOKEN=${penv#http://rdind:}; TOKEN=${TOKEN%@*}
check "the launcher logs the direct pull path" grep -q 'msg="pull path: direct" proxy=127.0.0.1:'"$PP" "$LOG"
info=$(timeout 30 docker info --format '{{.HTTPSProxy}}')
check "docker info shows the proxy with its credential masked ($info)" sh -c "[ -n '$info' ] && ! echo '$info' | grep -q '$TOKEN'"
no_np () { tr '\0' '\n' <"/proc/$DPID/environ" | grep -q '^NO_PROXY=localhost,127.0.0.0/8,::1,10.0.2.0/24'; }
check "NO_PROXY keeps the namespace's own addresses off the proxy" no_np

timeout 60 docker import "$T/img.tar" "$REG/pp:1" >/dev/null || fail "docker import"
import_busybox bb
check "push to the registry (through the proxy: plain-HTTP requests in absolute form)" \
    timeout 120 docker push "$REG/pp:1"
check "the push was proxied (launcher log, PUT/PATCH/POST)" grep -Eq 'msg="pull path: proxied" method=(PUT|PATCH|POST) dest=198.18.4.2:5000' "$LOG"
timeout 60 docker rmi "$REG/pp:1" >/dev/null || fail "docker rmi"
rx0=$(tap_rx)
n0=$(grep -c 'msg="pull path: proxied"' "$LOG")
check "pull back from the registry" timeout 120 docker pull "$REG/pp:1"
rx1=$(tap_rx)
got=$(tail -n +"$((n0 + 1))" "$LOG" | grep 'msg="pull path: proxied"' | sed -n 's/.* received=\([0-9]*\) .*/\1/p' | awk '{s += $1} END {print s + 0}')
figure "direct pull of 8 MiB: tap0 received $((rx1 - rx0)) bytes, the proxy relayed $got bytes"
check "the pull's bytes did not cross tap0 (dockerd's namespace received $((rx1 - rx0)) bytes there)" \
    test $((rx1 - rx0)) -lt 1048576
check "the proxy relayed the 8 MiB layer ($got bytes from the registry)" test "$got" -ge 8388608
check "the registry saw the host side of the veth" grep -q '198.18.4.1' "$T/registry.log"
check "the pulled image runs, its layer whole" sh -c \
    "[ \"\$(timeout 60 docker run --rm '$REG/pp:1' sh -c 'wc -c < /blob')\" = 8388608 ]"
timeout 60 docker tag bb "$REGS/bb:1" || fail "docker tag"
check "push to the https registry" timeout 120 docker push "$REGS/bb:1"
timeout 60 docker rmi "$REGS/bb:1" >/dev/null || fail "docker rmi"
check "pull back from the https registry" timeout 120 docker pull "$REGS/bb:1"
check "both went by CONNECT through the proxy (launcher log)" grep -q 'msg="pull path: connected" method=CONNECT dest=198.18.4.2:5443 addr=198.18.4.2' "$LOG"
timeout 60 docker rmi "$REGS/bb:1" >/dev/null || fail "docker rmi"
mkdir -p "$T/ctx" && printf 'FROM %s\nLABEL built=1\n' "$REGS/bb:1" >"$T/ctx/Dockerfile"
n0=$(grep -c 'msg="pull path: connected" method=CONNECT dest=198.18.4.2:5443' "$LOG")
check "a BuildKit build FROM the https registry (Debian's docker 20.10 client)" env DOCKER_BUILDKIT=1 timeout 180 /usr/bin/docker build -q "$T/ctx"
n1=$(grep -c 'msg="pull path: connected" method=CONNECT dest=198.18.4.2:5443' "$LOG")
check "BuildKit's FROM went through the proxy ($((n1 - n0)) connections)" test "$n1" -gt "$n0"

# What containers can do with it.
AUTH=$(printf 'rdind:%s' "$TOKEN" | base64 -w0)
hostnet () { timeout 60 docker run --rm --network host bb sh -c "$1" 2>&1; }
ask () { # ask REQUEST-HEAD [AUTH]: the proxy's status line, from a --network host container
    local h="$1\r\nHost: x\r\n"
    [ -n "${2:-}" ] && h="${h}Proxy-Authorization: Basic $2\r\n"
    hostnet "printf '$h\r\n' | timeout 10 nc 127.0.0.1 $PP | head -1"
}
st=$(ask "CONNECT $REG HTTP/1.1")
check "--network host, no credential: 407 ($st)" sh -c "echo '$st' | grep -q '^HTTP/1.1 407'"
st=$(ask "CONNECT $REG HTTP/1.1" "$(printf 'rdind:%s' wrong | base64 -w0)")
check "--network host, a wrong credential: 407 ($st)" sh -c "echo '$st' | grep -q '^HTTP/1.1 407'"
st=$(ask "GET http://$REG/v2/ HTTP/1.1" "$AUTH")
check "with the credential the registry answers (so the 407s were the credential's doing) ($st)" \
    sh -c "echo '$st' | grep -q '^HTTP/1.1 200'"
st=$(ask "CONNECT 127.0.0.1:$LP HTTP/1.1" "$AUTH")
check "with the credential, CONNECT to the host's 127.0.0.1: 403 ($st)" sh -c "echo '$st' | grep -q '^HTTP/1.1 403'"
st=$(ask "GET http://localhost:$LP/ HTTP/1.1" "$AUTH")
check "with the credential, a name that resolves to loopback: 403 ($st)" sh -c "echo '$st' | grep -q '^HTTP/1.1 403'"
st=$(ask "CONNECT [::ffff:127.0.0.1]:$LP HTTP/1.1" "$AUTH")
check "with the credential, an IPv4-mapped loopback: 403 ($st)" sh -c "echo '$st' | grep -q '^HTTP/1.1 403'"
check "each refusal is logged" sh -c "grep -q 'msg=\"pull path: refused\" status=403 .*reason=loopback' '$LOG' &&
    grep -q 'msg=\"pull path: refused\" status=407' '$LOG'"
no_leak () { ! printf '%s' "$out" | grep -q 'host-loopback-secret\|proxy-open'; }
out=$(hostnet "wget -q -O - -T 5 http://127.0.0.1:$LP/" || true)
check "--network host reaches no host loopback service directly" no_leak
out=$(timeout 60 docker run --rm bb sh -c "wget -q -O - -T 5 http://10.0.2.2:$LP/; echo x | timeout 5 nc 127.0.0.1 $PP && echo proxy-open; echo x | timeout 5 nc 172.17.0.1 $PP && echo proxy-open" 2>&1)
check "a default-bridge container reaches neither the host's loopback service nor the proxy" no_leak
stop_sidecar

# A proxy the user set for rdind: the direct path chains to it.
UPP=$(free_port)
cat >"$T/upstream.py" <<'PY'
import socket, sys, threading
log = open(sys.argv[2], "a", buffering=1)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def handle(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d:
            return
        head += d
    h, rest = head.split(b"\r\n\r\n", 1)
    lines = h.decode().split("\r\n")
    method, target, ver = lines[0].split(" ")
    auth = [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("proxy-authorization:")]
    log.write("%s %s %s\n" % (method, target, auth[0] if auth else "-"))
    if method == "CONNECT":
        host, port = target.rsplit(":", 1)
        u = socket.create_connection((host, int(port)))
        c.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    else:
        hostport, _, path = target[len("http://"):].partition("/")
        host, _, port = hostport.partition(":")
        u = socket.create_connection((host, int(port or 80)))
        keep = [l for l in lines[1:] if not l.lower().startswith("proxy-")]
        u.sendall(("%s /%s %s\r\n" % (method, path, ver) + "".join(l + "\r\n" for l in keep) + "\r\n").encode())
    if rest:
        u.sendall(rest)
    t = threading.Thread(target=pipe, args=(u, c))
    t.start()
    pipe(c, u)
    t.join()
    c.close()
    u.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
python3 "$T/upstream.py" "$UPP" "$T/upstream.log" &
dump_on_fail "$T/upstream.log"
on_exit "kill $!"
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $UPP), 1)" || fail "upstream proxy"
U=$T/u3 LOG=$T/sidecar3.log PORT=
start_sidecar RDIND_CACHE_INSECURE_REGISTRIES="$REG,$REGS" HTTP_PROXY="http://corp:s%40cret@127.0.0.1:$UPP" HTTPS_PROXY="http://corp:s%40cret@127.0.0.1:$UPP"
DPID=$(pgrep -u "$E2E_USER" -x dockerd | head -1)
check "an upstream proxy: logged (without its credential)" sh -c \
    "grep -q 'msg=\"pull path: direct\".* upstream_http=127.0.0.1:$UPP upstream_https=127.0.0.1:$UPP' '$LOG' && ! grep -q 'cret' '$LOG'"
penv=$(tr '\0' '\n' <"/proc/$DPID/environ" | sed -n 's/^HTTP_PROXY=//p')
check "dockerd gets rdind's proxy, not the upstream one" sh -c "echo '$penv' | grep -q '@127.0.0.1:' && ! echo '$penv' | grep -q corp"
CORP=$(printf 'corp:s@cret' | base64 -w0)
rx0=$(tap_rx)
check "through the upstream proxy: pull from the plain-HTTP registry" timeout 120 docker pull "$REG/pp:1"
check "through the upstream proxy: pull from the https registry" timeout 120 docker pull "$REGS/bb:1"
rx1=$(tap_rx)
check "the upstream proxy got absolute-form GETs with its credential (percent-decoded)" \
    grep -q "^GET http://$REG/v2/.* Basic $CORP\$" "$T/upstream.log"
check "the upstream proxy got CONNECT $REGS with its credential" grep -q "^CONNECT $REGS Basic $CORP\$" "$T/upstream.log"
check "the chained pulls did not cross tap0 ($((rx1 - rx0)) bytes)" test $((rx1 - rx0)) -lt 1048576
penv=$(tr '\0' '\n' <"/proc/$DPID/environ" | sed -n 's/^HTTPS_PROXY=//p')
PP=${penv##*:}
TOKEN=${penv#http://rdind:}; TOKEN=${TOKEN%@*}
AUTH=$(printf 'rdind:%s' "$TOKEN" | base64 -w0)
import_busybox bb
st=$(ask "GET http://localhost:$LP/ HTTP/1.1" "$AUTH")
check "chained, a name of the host's loopback is still refused: 403 ($st)" sh -c "echo '$st' | grep -q '^HTTP/1.1 403'"
check "and never reached the upstream proxy" sh -c "! grep -q 'localhost' '$T/upstream.log'"
stop_sidecar
out=$(env HTTPS_PROXY=https://proxy.example:3128 RDIND_LAUNCHER_STATE_DIR="$T/bad" "$RDIND" launch 2>&1); rc=$?
check "an https:// upstream proxy: refused in one line naming HTTPS_PROXY and the fix (exit $rc)" sh -c \
    "[ $rc = 3 ] && [ \$(printf '%s\n' \"\$1\" | grep -c .) = 1 ] && printf '%s' \"\$1\" | grep -q 'HTTPS_PROXY is not a plain http.*pull_path = slirp'" _ "$out"

# pull_path = slirp: the old path.
U=$T/u2 LOG=$T/sidecar2.log PORT=
start_sidecar RDIND_CACHE_INSECURE_REGISTRIES="$REG" RDIND_LAUNCHER_PULL_PATH=slirp
DPID=$(pgrep -u "$E2E_USER" -x dockerd | head -1)
no_proxy_env () { ! tr '\0' '\n' <"/proc/$DPID/environ" | grep -qi '^https\?_proxy='; }
check "pull_path = slirp: no proxy in dockerd's environment" no_proxy_env
check "pull_path = slirp: logged" grep -q 'msg="pull path: slirp"' "$LOG"
rx0=$(tap_rx)
check "pull_path = slirp: the pull works" timeout 120 docker pull "$REG/pp:1"
rx1=$(tap_rx)
figure "slirp pull of 8 MiB: tap0 received $((rx1 - rx0)) bytes"
check "pull_path = slirp: the layer crossed tap0 ($((rx1 - rx0)) bytes)" test $((rx1 - rx0)) -ge 8388608
check "pull_path = slirp: nothing proxied" sh -c "! grep -q 'pull path: proxied' '$LOG'"
stop_sidecar
