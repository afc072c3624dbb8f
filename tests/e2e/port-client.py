#!/usr/bin/python3
# Clients for tests/e2e/ports.sh, against tests/e2e/echo-server.c behind a
# published port (TCP and UDP).
#   port-client.py echo HOST PORT          half-close: send, SHUT_WR, expect it back
#   port-client.py bulk HOST PORT MIB      MIB MiB of random bytes there and back, sha256 compared
#   port-client.py many HOST PORT N        N connections at once, 64 KiB echoed on each
#   port-client.py seq HOST PORT N         N connections one after another, the same
#   port-client.py udp HOST PORT           one datagram there and back
#   port-client.py idle HOST PORT N FILE   hold N open connections; write FILE once they are up
#   port-client.py cut HOST PORT           stream until the other side goes away; report how
# Prints one line; exits 0 on success.
import hashlib
import os
import socket
import sys
import threading
import time

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def conn():
    return socket.create_connection((host, port), timeout=30)


def echo_once(payload):
    s = conn()
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got


if mode == "echo":
    msg = b"half-close through the port %d\n" % os.getpid()
    got = echo_once(msg)
    print("echo: %r" % got)
    sys.exit(0 if got == msg else 1)

if mode == "bulk":
    mib = int(sys.argv[4])
    chunk = os.urandom(1 << 20)
    s = conn()
    sent, recvd = hashlib.sha256(), hashlib.sha256()
    count = [0]

    def reader():
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            recvd.update(d)
            count[0] += len(d)

    t = threading.Thread(target=reader)
    t.start()
    t0 = time.time()
    for _ in range(mib):
        s.sendall(chunk)
        sent.update(chunk)
    s.shutdown(socket.SHUT_WR)
    t.join()
    dt = time.time() - t0
    ok = count[0] == mib << 20 and sent.hexdigest() == recvd.hexdigest()
    print("bulk: %d MiB there and back in %.1f s (%.0f MB/s each way), sha256 %s"
          % (mib, dt, (mib << 20) / dt / 1e6, "matches" if ok else "DIFFERS (%d bytes back)" % count[0]))
    sys.exit(0 if ok else 1)

if mode == "many":
    n = int(sys.argv[4])
    bad = []
    payload = os.urandom(65536)

    def one(i):
        try:
            if echo_once(payload) != payload:
                bad.append(i)
        except OSError as e:
            bad.append((i, str(e)))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("many: %d concurrent connections, %d failed, %.1f s" % (n, len(bad), time.time() - t0))
    sys.exit(0 if not bad else 1)

if mode == "seq":
    n = int(sys.argv[4])
    payload = os.urandom(65536)
    bad = sum(1 for _ in range(n) if echo_once(payload) != payload)
    print("seq: %d connections one after another, %d failed" % (n, bad))
    sys.exit(0 if not bad else 1)

if mode == "udp":
    u = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    msg = b"datagram %d" % os.getpid()
    for attempt in range(5):
        u.sendto(msg, (host, port))
        try:
            got, _ = u.recvfrom(65536)
            print("udp: %r" % got)
            sys.exit(0 if got == msg else 1)
        except socket.timeout:
            continue
    print("udp: no answer")
    sys.exit(1)

if mode == "idle":
    n, ready = int(sys.argv[4]), sys.argv[5]
    socks = [conn() for _ in range(n)]
    for s in socks:
        s.sendall(b"x")
        if s.recv(1) != b"x":
            sys.exit(1)
    open(ready, "w").write("%d\n" % n)
    time.sleep(600)

if mode == "cut":
    s = conn()
    s.settimeout(20)
    chunk = b"y" * 65536
    sent = 0
    t0 = time.time()
    try:
        while time.time() - t0 < 30:
            s.sendall(chunk)
            sent += len(chunk)
            if sent == 1 << 20:
                open(sys.argv[4], "w").write("streaming\n")
            if not s.recv(65536):
                print("cut: ended after %d MiB with EOF" % (sent >> 20))
                sys.exit(0)
        print("cut: still streaming after 30 s")
        sys.exit(1)
    except (OSError, socket.timeout) as e:
        print("cut: ended after %d MiB with %s" % (sent >> 20, type(e).__name__))
        sys.exit(0 if not isinstance(e, socket.timeout) else 1)
