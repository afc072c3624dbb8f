#!/usr/bin/env python3
"""The hostile job's side of tests/e2e/policy-attack.sh: raw HTTP/1.1 over
TLS to the endpoint, so that requests can be shaped as no docker client
would shape them.  Each subcommand prints what the endpoint answered; the
shell test judges by effect, over dockerd's own socket.

  policy-attack.py CERTDIR PORT prelude NAME     # issue 17, 1
  policy-attack.py CERTDIR PORT close            # issue 17, 8
  policy-attack.py CERTDIR PORT hold N BYTES     # issue 17, 7 (holds N bodies, waits for stdin)
  policy-attack.py CERTDIR PORT raw METHOD PATH BODY
"""
import json
import re
import socket
import ssl
import sys

certdir, port, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=certdir + "/ca.pem")
ctx.load_cert_chain(certdir + "/cert.pem", certdir + "/key.pem")


def conn():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.settimeout(10)
    return s


def read_head(s, buf=b""):
    """One answer: (status, headers, body); reads a body by length or chunks."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ")[1])
    cl = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if cl:
        n = int(cl.group(1))
        while len(rest) < n:
            d = s.recv(65536)
            if not d:
                break
            rest += d
        return (status, head, rest[:n]), rest[n:]
    if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
        while b"\r\n0\r\n\r\n" not in rest and not rest.startswith(b"0\r\n\r\n"):
            d = s.recv(65536)
            if not d:
                break
            rest += d
        end = rest.find(b"0\r\n\r\n")
        return (status, head, rest[:end]), rest[end + 5:]
    return (status, head, b""), rest


def request(method, path, body=None, extra=b""):
    b = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    return (b"%s %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
            % (method.encode(), path.encode(), len(b), extra, b))


EVIL = {"Image": "bb", "Cmd": ["true"], "HostConfig": {"Privileged": True, "Binds": ["/:/host"]}}

PRELUDES = {
    "ping-upgrade-tcp": b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
    "version-upgrade-h2c": b"GET /version HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
    "connect": b"CONNECT / HTTP/1.1\r\nHost: docker\r\n\r\n",
    "exec-start-nonexistent": request("POST", "/exec/nonexistent/start", {"Detach": False, "Tty": False}),
    "session-no-upgrade": b"POST /session HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
    "grpc-no-upgrade": b"POST /grpc HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
    "attach-ws-nonexistent": b"GET /containers/nonexistent/attach/ws HTTP/1.1\r\nHost: docker\r\n\r\n",
}

if cmd in ("prelude", "prelude-pipelined"):
    # A request that may switch protocols, then (on the same connection,
    # after its answer, or pipelined behind it) a create dockerd must never
    # see.
    name, which = sys.argv[4], sys.argv[5]
    pipelined = cmd == "prelude-pipelined"
    create = request("POST", "/containers/create?name=" + name, EVIL)
    s = conn()
    s.sendall(PRELUDES[which] + (create if pipelined else b""))
    first, rest = read_head(s)
    if not pipelined:
        s.sendall(create)
    try:
        second, rest = read_head(s, rest)
    except (socket.timeout, ssl.SSLError, OSError):
        second = None
    print("%s%s: prelude answered %s, create answered %s" % (
        which, " (pipelined)" if pipelined else "", first and first[0], second and second[0]))
elif cmd == "close":
    s = conn()
    s.sendall(request("POST", "/containers/create", EVIL, b"Connection: close\r\n"))
    ans, rest = read_head(s)
    s.settimeout(3)
    try:
        more = s.recv(1)
        closed = more == b""
    except socket.timeout:
        closed = False
    except (ssl.SSLError, OSError):
        closed = True
    print("status=%s closed=%s" % (ans and ans[0], closed))
    sys.exit(0 if ans and ans[0] == 403 and closed else 1)
elif cmd == "hold":
    # N connections, each with a create whose 1 MB-ish body never ends.
    n, size = int(sys.argv[4]), int(sys.argv[5])
    socks, refused = [], 0
    head = (b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (size + 100))
    chunk = b" " * 65536
    for i in range(n):
        try:
            s = conn()
            s.sendall(head)
            sent = 0
            while sent < size:
                k = min(len(chunk), size - sent)
                s.sendall(chunk[:k])
                sent += k
            socks.append(s)
        except (ssl.SSLError, OSError):
            refused += 1
    print("open=%d refused=%d" % (len(socks), refused), flush=True)
    sys.stdin.readline()
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    print("closed", flush=True)
elif cmd == "raw":
    method, path, body = sys.argv[4], sys.argv[5], sys.argv[6]
    s = conn()
    s.sendall(request(method, path, body.encode()))
    ans, rest = read_head(s)
    print("%s %s" % (ans[0], ans[2].decode(errors="replace").strip()))
else:
    sys.exit("unknown command " + cmd)
