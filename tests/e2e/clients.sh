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

# --- docker-py --------------------------------------------------------------
if /usr/bin/python3 -c 'import docker' 2>/dev/null; then
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace docker-py's
    # ca.pem: a job that exports them fails the server check (README).
    if env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE timeout 180 /usr/bin/python3 \
            "$top_srcdir/tests/e2e/client-docker-py.py" bb >"$T/py.log" 2>&1; then
        sed 's/^ok [0-9]* - /  /' "$T/py.log"
        pass "docker-py: $(grep -c '^ok' "$T/py.log") checks"
    else
        cat "$T/py.log"; fail "docker-py"
    fi
else
    fail "python3-docker is not installed (tests/deps.sh installs it)"
fi

# --- dockerode and Testcontainers (Node) ------------------------------------
require_cmd node npm
# The pinned packages, installed once per lock file (npm ci) in a cache.
lock=$top_srcdir/tests/node/package-lock.json
NM=/var/cache/rdind-test/node-$(sha256sum "$lock" | cut -c1-16)
if [ ! -d "$NM/node_modules/testcontainers" ]; then
    rm -rf "$NM.tmp" && mkdir -p "$NM.tmp"
    cp "$top_srcdir/tests/node/package.json" "$lock" "$NM.tmp/"
    (cd "$NM.tmp" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1) ||
        { cat "$NM.tmp/npm.log"; fail "npm ci of tests/node (dockerode, testcontainers)"; }
    rm -rf "$NM" && mv "$NM.tmp" "$NM"
fi
export NODE_PATH=$NM/node_modules
ryuk_image=$(node -e 'console.log(require("testcontainers/build/reaper/reaper").REAPER_IMAGE)') ||
    fail "cannot read the Ryuk image name from testcontainers"
cc -static -O2 -o "$T/ryuk" "$top_srcdir/tests/e2e/ryuk-standin.c" || fail "build ryuk-standin"
mkdir -p "$T/ryukroot" && cp "$T/ryuk" "$T/ryukroot/ryuk" && tar -C "$T/ryukroot" -cf "$T/ryuk.tar" .
timeout 60 docker import --change 'CMD ["/ryuk"]' --change 'EXPOSE 8080' "$T/ryuk.tar" "$ryuk_image" >/dev/null ||
    fail "import the Ryuk stand-in as $ryuk_image"

# Ryuk's socket: from inside a container, /var/run/docker.sock answers.
ping=$(timeout 60 docker run --rm -v /var/run/docker.sock:/var/run/docker.sock "$ryuk_image" /ryuk ping 2>&1 | tail -1)
check "a container that binds /var/run/docker.sock reaches dockerd (/_ping: $ping)" test "$ping" = OK

if TESTCONTAINERS_RYUK_RECONNECTION_TIMEOUT=2s timeout 180 node "$top_srcdir/tests/e2e/client-node.js" bb \
        "$T/left.id" >"$T/node.log" 2>&1; then
    # Ryuk waits 2 s for the session to come back before it reaps: it is
    # still there now.
    ryuk_ids=$(timeout 10 docker ps -q --filter "ancestor=$ryuk_image")
    sed 's/^ok [0-9]* - /  /' "$T/node.log"
    pass "dockerode and testcontainers: $(grep -c '^ok' "$T/node.log") checks"
else
    cat "$T/node.log"; fail "node clients"
fi
left=$(cat "$T/left.id")
check "Testcontainers started its Ryuk ($ryuk_image)" test -n "$ryuk_ids"
gone () { ! timeout 10 docker inspect "$left" >/dev/null 2>&1; }
check "Ryuk reaped the container the session left, through the bound socket" wait_for 30 gone
