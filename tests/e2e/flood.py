#!/usr/bin/python3
# Hostile clients for tests/e2e/faults.sh; holds them until killed.
#   flood.py halfopen HOST PORT N READY      N TCP connections that never send a byte
#   flood.py silent HOST PORT N READY CERTS  N TLS sessions (client certificate from
#                                            CERTS) that complete and then stay silent
# Writes "opened K" to READY once it has tried all of them.
import socket
import ssl
import sys
import time

mode, host, port, n, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
held = []
if mode == "silent":
    certs = sys.argv[6]
    ctx = ssl.create_default_context(cafile=certs + "/ca.pem")
    ctx.load_cert_chain(certs + "/cert.pem", certs + "/key.pem")
    ctx.check_hostname = False
for _ in range(n):
    try:
        s = socket.create_connection((host, port), timeout=10)
        if mode == "silent":
            s = ctx.wrap_socket(s)
        held.append(s)
    except OSError:
        pass
with open(ready, "w") as f:
    f.write("opened %d\n" % len(held))
while True:
    time.sleep(60)
