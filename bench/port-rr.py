#!/usr/bin/python3
# Request/response over a published port, against tests/e2e/echo-server.c:
#   port-rr.py HOST PORT N_REQUESTS N_CONNECTIONS
# prints "p50_us p99_us conns_per_s": the round trip of a 64-byte request
# on one kept connection (N_REQUESTS of them), then the rate of whole
# connections (connect, 64 bytes there and back, close) one after another.
import socket
import sys
import time

host, port, nreq, nconn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
msg = b"x" * 64


def roundtrip(s):
    s.sendall(msg)
    got = 0
    while got < len(msg):
        d = s.recv(65536)
        if not d:
            raise SystemExit("connection closed")
        got += len(d)


s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for _ in range(50):
    roundtrip(s)  # warm up
lat = []
for _ in range(nreq):
    t = time.perf_counter()
    roundtrip(s)
    lat.append(time.perf_counter() - t)
s.close()
lat.sort()
t0 = time.perf_counter()
for _ in range(nconn):
    c = socket.create_connection((host, port), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    roundtrip(c)
    c.close()
rate = nconn / (time.perf_counter() - t0)
print("%.0f %.0f %.0f" % (lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6, rate))
