#!/bin/bash
# The clients CI jobs use, through rdind's TLS endpoint, configured only by
# DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH:
#   BuildKit     Debian's docker 20.10 client with DOCKER_BUILDKIT=1 (the
#                /session and /grpc upgrades through the front): a
#                multi-stage Dockerfile with a cache mount and a build
#                secret; the secret is not in the image; the image runs.
#   docker-py    Debian's python3-docker (tests/e2e/client-docker-py.py).
#   dockerode and Testcontainers for Node, pinned in tests/node/package.json
#                (tests/e2e/client-node.js), with Testcontainers' Ryuk
#                reaper: it bind-mounts the daemon's /var/run/docker.sock, so
#                reaping works only when that path inside the daemon's mount
#                namespace leads to dockerd.  No registry is reachable, so the
#                image under Ryuk's name is tests/e2e/ryuk-standin.c, which
#                speaks Ryuk's protocol and removes containers through that
#                socket.
# docker-py, dockerode and Testcontainers run against the image's dockerd 26
# too: contrib-image.sh, in the pod shape (tests/e2e/clients-lib.sh).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout cc
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

start_sidecar
import_busybox bb
check "busybox imported through the endpoint" sh -c 'timeout 30 docker image inspect bb >/dev/null'

# --- BuildKit ---------------------------------------------------------------
[ -x /usr/bin/docker ] || skip "Debian's docker 20.10 client (/usr/bin/docker, package docker.io) is missing"
B=$T/bk
mkdir -p "$B"
cat >"$B/Dockerfile" <<'EOF'
FROM bb AS build
RUN --mount=type=cache,target=/cache echo built-$((6*7)) > /cache/stamp && cp /cache/stamp /out.txt
RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secretlen
FROM bb
COPY --from=build /out.txt /secretlen /
CMD ["cat", "/out.txt", "/secretlen"]
EOF
printf 'top-secret-%s' "$RANDOM$RANDOM" >"$B/token"
secret=$(cat "$B/token")
if DOCKER_BUILDKIT=1 timeout 180 /usr/bin/docker build --progress=plain --secret id=token,src="$B/token" \
        -t rdind-bk "$B" >"$T/buildkit.log" 2>&1; then
    pass "BuildKit build (multi-stage, cache mount, secret) through the endpoint"
else
    cat "$T/buildkit.log"; fail "BuildKit build"
fi
check "BuildKit really ran (its step log, not the classic builder's)" grep -q '^#[0-9]* \[build 2/3\] RUN --mount=type=cache' "$T/buildkit.log"
out=$(timeout 60 docker run --rm rdind-bk | tr '\n' ' ')
check "the BuildKit image runs (output: $out)" test "$out" = "built-42 ${#secret} "
timeout 120 docker save rdind-bk >"$T/bk.tar" || fail "docker save rdind-bk"
check "the build secret is not in the image" sh -c "! grep -aq '$secret' '$T/bk.tar'"
# A second build reuses the cache through the same session path.
DOCKER_BUILDKIT=1 timeout 180 /usr/bin/docker build --progress=plain --secret id=token,src="$B/token" \
    -t rdind-bk "$B" >"$T/buildkit2.log" 2>&1 || fail "second BuildKit build"
check "a second BuildKit build is served from its cache" grep -q CACHED "$T/buildkit2.log"

# --- docker-py, dockerode and Testcontainers (tests/e2e/clients-lib.sh) -----
. "$top_srcdir/tests/e2e/clients-lib.sh"
clients_node_setup
clients_py_node ""
