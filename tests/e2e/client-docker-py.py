#!/usr/bin/python3
# docker-py (Debian's python3-docker) against rdind's endpoint, the way a CI
# job's Python tooling uses it: docker.from_env() with the DOCKER_* variables,
# and an explicit TLSConfig.  Prints TAP-like "ok N - ..." lines; exits 1 on
# the first failure.  Called by tests/e2e/clients.sh with IMAGE (a busybox
# image already in the daemon) as its argument.
import io
import os
import socket
import sys
import tarfile
import time

import docker
from docker.tls import TLSConfig

image = sys.argv[1]
n = 0


def ok(what):
    global n
    n += 1
    print("ok %d - docker-py: %s" % (n, what), flush=True)


def fail(what):
    print("FAIL: docker-py: %s" % what, flush=True)
    sys.exit(1)


def check(cond, what):
    ok(what) if cond else fail(what)


env = docker.from_env(timeout=60)
check(env.ping() is True, "from_env() ping")

cert = os.environ["DOCKER_CERT_PATH"]
tls = TLSConfig(client_cert=(cert + "/cert.pem", cert + "/key.pem"),
                ca_cert=cert + "/ca.pem", verify=True)
host = os.environ["DOCKER_HOST"].replace("tcp://", "https://")
c = docker.DockerClient(base_url=host, tls=tls, timeout=60)
check(c.version()["ApiVersion"] != "", "explicit TLSConfig: version")

# A client without a certificate must not get in.
try:
    docker.DockerClient(base_url=host, tls=TLSConfig(ca_cert=cert + "/ca.pem", verify=True),
                        timeout=10).ping()
    fail("a client without a certificate was served")
except Exception:
    ok("a client without a certificate is refused")

out = c.containers.run(image, ["echo", "hello-py"], remove=True)
check(out == b"hello-py\n", "containers.run output")

# A published port, reachable where the job connects.
web = c.containers.run(image, ["httpd", "-f", "-p", "8080", "-h", "/www"], detach=True,
                       ports={"8080/tcp": ("127.0.0.1", None)})
try:
    web.reload()
    hp = int(web.ports["8080/tcp"][0]["HostPort"])
    body = b""
    for _ in range(50):
        try:
            s = socket.create_connection(("127.0.0.1", hp), timeout=5)
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            while True:
                d = s.recv(4096)
                if not d:
                    break
                body += d
            s.close()
            if b"hello from rdind" in body:
                break
        except OSError:
            pass
        time.sleep(0.1)
    check(b"hello from rdind" in body, "containers.run with ports: published port answers")

    # exec_run, put_archive / get_archive
    r = web.exec_run(["sh", "-c", "echo exec-$((6*7))"])
    check(r.exit_code == 0 and r.output == b"exec-42\n", "exec_run")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = os.urandom(1 << 20)
        ti = tarfile.TarInfo("blob.bin")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    check(web.put_archive("/tmp", buf.getvalue()), "put_archive 1 MiB")
    stream, _ = web.get_archive("/tmp/blob.bin")
    got = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=got) as t:
        back = t.extractfile("blob.bin").read()
    check(back == data, "get_archive returns the same bytes")
finally:
    web.remove(force=True)

# logs(stream=True) follows a container that keeps printing.
lc = c.containers.run(image, ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done"],
                      detach=True)
lines = [l for l in lc.logs(stream=True, follow=True)]
lc.remove(force=True)
check(b"".join(lines).split() == [b"line1", b"line2", b"line3", b"line4", b"line5"],
      "logs(stream=True, follow=True) sees every line as it comes")

# images.build from a file object (classic builder over the endpoint).
df = io.BytesIO(("FROM %s\nRUN echo built-by-py > /stamp\nCMD [\"cat\", \"/stamp\"]\n" % image).encode())
img, _ = c.images.build(fileobj=df, tag="rdind-py-built", rm=True)
check(c.containers.run("rdind-py-built", remove=True) == b"built-by-py\n", "images.build from a file object")

# events with a timeout: a container start shows up, and the stream ends.
since = int(time.time()) - 1
ev = c.containers.run(image, ["true"], detach=True)
ev.wait()
ev.remove()
seen = set()
for e in c.events(since=since, until=int(time.time()) + 1, decode=True,
                  filters={"type": "container"}):
    if e.get("id") == ev.id:
        seen.add(e.get("status"))
check({"create", "start", "die"} <= seen, "events(since, until) ends and saw create/start/die")
c.images.remove("rdind-py-built")
print("# docker-py done: %d checks" % n)
