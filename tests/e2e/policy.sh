#!/bin/bash
# The API policy end to end: a sidecar with [policy] enabled and a stricter
# [policy.deploy]; the docker CLI, curl and Python's ssl go through it.
#   each rule: denied with the Docker error shape (the CLI prints it, the
#   rule is named, the sidecar logs peer, rule and path) and the allowed
#   case beside it;
#   per-peer rules; chunked, pipelined and byte-by-byte bodies; an
#   oversized body and malformed JSON (400); the hijacked paths (run -i with
#   stdin EOF, exec -i, attach) and builds (classic and BuildKit) still work.
# (With no [policy] nothing is inspected: the other e2e tests run without
# one, secrets.sh with --privileged containers.)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout curl
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

OK=$T/ok
mkdir -p "$OK" && echo allowed-content >"$OK/file" && chmod -R a+rX "$OK"
INI=$T/rdind.ini
cat >"$INI" <<EOF
[sidecar]
peers = client, deploy

[policy]
enabled = yes
allow_binds = $OK
max_body = 65536

[policy.deploy]
allow_binds =
allow_images = bb:latest, registry.local/app/*
EOF
chmod 644 "$INI"
start_sidecar RDIND_CONFIG="$INI"
import_busybox bb

# denied DESCRIPTION RULE CMD... : CMD fails and says "rdind policy" and RULE.
denied () {
    local d=$1 rule=$2; shift 2
    local out
    if out=$(timeout 60 "$@" 2>&1); then fail "$d: was allowed ($out)"; fi
    echo "$out" | grep -q 'rdind policy' || fail "$d: not refused by the policy: $out"
    echo "$out" | grep -q -- "$rule" || fail "$d: the refusal does not name $rule: $out"
    pass "$d (denied: $rule)"
}
allowed () { local d=$1; shift; local out; out=$(timeout 60 "$@" 2>&1) || fail "$d: $out"; pass "$d"; }

allowed "plain docker run" docker run --rm bb true
denied "docker run --privileged" allow_privileged docker run --rm --privileged bb true
denied "docker run --security-opt seccomp=unconfined" allow_privileged docker run --rm --security-opt seccomp=unconfined bb true
denied "docker run -v /:/host" allow_binds docker run --rm -v /:/host bb true
denied "docker run -v <certdir>:/c" allow_binds docker run --rm -v "$CERTS:/c" bb true
denied "docker run --mount type=bind,src=/etc" allow_binds docker run --rm --mount type=bind,src=/etc,dst=/x bb true
out=$(timeout 60 docker run --rm -v "$OK:/x:ro" bb cat /x/file 2>&1)
check "docker run -v <allowed>:/x reads it" test "$out" = allowed-content
denied "docker run -v <allowed>/../..:/x" allow_binds docker run --rm -v "$OK/../..:/x" bb true
denied "docker volume create with a bind device" allow_binds docker volume create --opt type=none --opt o=bind --opt device=/ vbind
allowed "docker volume create (plain)" docker volume create vplain
allowed "docker run with a named volume" docker run --rm -v vplain:/v bb sh -c 'echo hi > /v/f'
denied "docker run --network host" allow_host_namespaces docker run --rm --network host bb true
denied "docker run --pid host" allow_host_namespaces docker run --rm --pid host bb true
denied "docker run --cap-add SYS_ADMIN" deny_caps docker run --rm --cap-add SYS_ADMIN bb true
allowed "docker run --cap-add NET_RAW" docker run --rm --cap-add NET_RAW bb true
denied "docker run --device /dev/null" allow_devices docker run --rm --device /dev/null:/dev/xnull bb true
timeout 60 docker run -d --name keep bb sleep 600 >/dev/null || fail "docker run -d"
denied "docker exec --privileged" allow_privileged docker exec --privileged keep true
allowed "docker exec" docker exec keep true
check "the sidecar logs peer, rule and path" grep -q 'msg="policy refused" peer=client status=403 rule=allow_privileged method=POST path=/v[0-9.]*/containers/keep/exec' "$LOG"

# The hijacked streams and builds are untouched with a policy on.
out=$(echo policy-stdin | timeout 60 docker run --rm -i bb cat 2>&1)
check "echo x | docker run -i (stdin EOF through the hijack)" test "$out" = policy-stdin
out=$(echo exec-stdin | timeout 60 docker exec -i keep cat 2>&1)
check "echo x | docker exec -i" test "$out" = exec-stdin
printf 'FROM bb\nRUN echo built > /b\nCMD ["cat","/b"]\n' >"$T/Dockerfile"
allowed "classic docker build with the policy on" docker build -q -t rdind-pol "$T"
if [ -x /usr/bin/docker ]; then
    allowed "BuildKit build (/session, /grpc) with the policy on" env DOCKER_BUILDKIT=1 /usr/bin/docker build --progress=plain -t rdind-pol-bk "$T"
fi
out=$(timeout 60 docker run --rm rdind-pol 2>&1)
check "the built image runs" test "$out" = built

# Per-peer: deploy gets [policy] plus its own keys.
DEPLOY=$CERTS/clients/deploy
denied "deploy: an image outside its allow_images" allow_images env DOCKER_CERT_PATH="$DEPLOY" docker run --rm rdind-pol true
denied "deploy: a bind that client may use" allow_binds env DOCKER_CERT_PATH="$DEPLOY" docker run --rm -v "$OK:/x" bb true
allowed "deploy: an allowed image" env DOCKER_CERT_PATH="$DEPLOY" docker run --rm bb true
denied "deploy: [policy] rules still apply" allow_privileged env DOCKER_CERT_PATH="$DEPLOY" docker run --rm --privileged bb true
denied "deploy: a pull outside allow_images" allow_images env DOCKER_CERT_PATH="$DEPLOY" docker pull alpine:3

# curl: the Docker error shape, chunked bodies, malformed and oversized ones.
C=(curl -s --cacert "$CERTS/client/ca.pem" --cert "$CERTS/client/cert.pem" --key "$CERTS/client/key.pem"
   -H 'Content-Type: application/json' -H 'Expect:')
URL=https://127.0.0.1:$PORT
echo '{"Image":"bb","HostConfig":{"Privileged":true}}' >"$T/priv.json"
echo '{"Image":"bb","Cmd":["true"]}' >"$T/ok.json"
code=$("${C[@]}" -o "$T/r.json" -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$T/priv.json" "$URL/v1.41/containers/create")
check "curl chunked privileged create: 403" test "$code" = 403
check "the 403 body is Docker's {\"message\": ...}" python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["message"]; assert "allow_privileged" in m, m' "$T/r.json"
code=$("${C[@]}" -o "$T/r.json" -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$T/ok.json" "$URL/v1.41/containers/create")
check "curl chunked allowed create: 201" test "$code" = 201
code=$("${C[@]}" -o "$T/r.json" -w '%{http_code}' --data-binary '{"Image":' "$URL/v1.41/containers/create")
check "malformed JSON: 400 naming it" sh -c "test $code = 400 && grep -q 'not valid JSON' '$T/r.json'"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
code=$("${C[@]}" -o "$T/r.json" -w '%{http_code}' --data-binary @"$T/big.json" "$URL/v1.41/containers/create")
check "a body over max_body: 400 naming max_body" sh -c "test $code = 400 && grep -q max_body '$T/r.json'"
code=$("${C[@]}" -o /dev/null -w '%{http_code}' -X POST "$URL/v1.41//containers/create")
check "a path dockerd would clean ('//'): 400" test "$code" = 400

# Python's ssl: pipelined requests keep their order; a body written one byte
# per TLS record is checked whole.
python3 - "$CERTS/client" "$PORT" <<'PY' || fail "pipelined / split requests (Python ssl)"
import socket, ssl, sys, re
d, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(cafile=d + "/ca.pem")
ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
def conn():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
def read_responses(s, n):
    buf, out = b"", []
    while len(out) < n:
        m = re.match(rb"HTTP/1.1 (\d+)[^\r]*\r\n(.*?)\r\n\r\n", buf, re.S)
        if m:
            hdr = m.group(2).decode()
            cl = re.search(r"(?im)^content-length:\s*(\d+)", hdr)
            if cl:
                end = m.end() + int(cl.group(1))
                if len(buf) >= end:
                    out.append((int(m.group(1)), buf[m.end():end])); buf = buf[end:]; continue
            elif re.search(r"(?im)^transfer-encoding:\s*chunked", hdr):
                z = buf.find(b"\r\n0\r\n\r\n", m.end() - 2)
                if z >= 0:
                    out.append((int(m.group(1)), buf[m.end():z])); buf = buf[z + 7:]; continue
        data = s.recv(65536)
        if not data:
            break
        buf += data
    return out
priv = b'{"Image":"bb","HostConfig":{"Privileged":true}}'
s = conn()
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n"
          b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
          b"GET /version HTTP/1.1\r\nHost: d\r\n\r\n" % (len(priv), priv))
r = read_responses(s, 3)
codes = [c for c, _ in r]
assert codes == [200, 403, 200], codes
assert b"allow_privileged" in r[1][1] and b"ApiVersion" in r[2][1], r
print("# pipelined: 200, 403, 200 in order")
s.close()
s = conn()
req = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(priv), priv)
for i in range(len(req)):
    s.sendall(req[i:i + 1])
r = read_responses(s, 1)
assert r and r[0][0] == 403, r
print("# a request sent one byte per TLS record is checked whole")
s.close()
PY
pass "pipelined requests answered in order; a byte-by-byte body checked whole"
check "no request reached dockerd with Privileged (no privileged container exists)" sh -c \
    "! timeout 30 docker ps -aq | xargs -r timeout 30 docker inspect --format '{{.HostConfig.Privileged}}' | grep -q true"
timeout 30 docker rm -f keep >/dev/null 2>&1
stop_sidecar
