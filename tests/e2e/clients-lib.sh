# docker-py and the Node clients (dockerode, Testcontainers with its Ryuk
# reaper) against the daemon behind DOCKER_HOST / DOCKER_TLS_VERIFY /
# DOCKER_CERT_PATH, which holds busybox as `bb` (sourced after lib.sh).
#
#   clients_node_setup            the pinned packages (npm ci, cached per
#                                 lock file) and the Ryuk stand-in binary;
#                                 run it where the registry is reachable
#   clients_py_node LABEL [IN...] the checks; IN... is a command prefix
#                                 that runs each client where the daemon's
#                                 endpoint is (`nsenter -n -t PID` for a
#                                 pod's network namespace); LABEL prefixes
#                                 the check descriptions
#
# clients.sh runs them against the host tier's dockerd 20.10, contrib-image.sh
# against the image's dockerd 26 in the pod shape.

clients_node_setup () {
    require_cmd node npm cc
    local lock=$top_srcdir/tests/node/package-lock.json
    NM=${RDIND_TEST_CACHE:-/var/cache/rdind-test}/node-$(sha256sum "$lock" | cut -c1-16)
    if [ ! -d "$NM/node_modules/testcontainers" ]; then
        rm -rf "$NM.tmp" && mkdir -p "$NM.tmp"
        cp "$top_srcdir/tests/node/package.json" "$lock" "$NM.tmp/"
        (cd "$NM.tmp" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1) ||
            { cat "$NM.tmp/npm.log"; fail "npm ci of tests/node (dockerode, testcontainers)"; }
        rm -rf "$NM" && mv "$NM.tmp" "$NM"
    fi
    export NODE_PATH=$NM/node_modules
    RYUK_IMAGE=$(node -e 'console.log(require("testcontainers/build/reaper/reaper").REAPER_IMAGE)') ||
        fail "cannot read the Ryuk image name from testcontainers"
    cc -static -O2 -o "$T/ryuk" "$top_srcdir/tests/e2e/ryuk-standin.c" || fail "build ryuk-standin"
    mkdir -p "$T/ryukroot" && cp "$T/ryuk" "$T/ryukroot/ryuk" && tar -C "$T/ryukroot" -cf "$T/ryuk.tar" .
}

clients_py_node () {
    local label=$1; shift
    local in=("$@")
    # --- docker-py ------------------------------------------------------
    /usr/bin/python3 -c 'import docker' 2>/dev/null ||
        fail "python3-docker is not installed (tests/deps.sh installs it)"
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace docker-py's
    # ca.pem: a job that exports them fails the server check (README).
    if "${in[@]}" env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE timeout 180 /usr/bin/python3 \
            "$top_srcdir/tests/e2e/client-docker-py.py" bb >"$T/py.log" 2>&1; then
        sed 's/^ok [0-9]* - /  /' "$T/py.log"
        pass "${label}docker-py $(/usr/bin/python3 -c 'import docker; print(docker.__version__)'): $(grep -c '^ok' "$T/py.log") checks"
    else
        cat "$T/py.log"; fail "${label}docker-py"
    fi

    # --- dockerode and Testcontainers (Node) ------------------------------
    "${in[@]}" timeout 60 docker import --change 'CMD ["/ryuk"]' --change 'EXPOSE 8080' "$T/ryuk.tar" \
        "$RYUK_IMAGE" >/dev/null || fail "${label}import the Ryuk stand-in as $RYUK_IMAGE"
    # Ryuk's socket: from inside a container, /var/run/docker.sock answers.
    local ping
    ping=$("${in[@]}" timeout 60 docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
        "$RYUK_IMAGE" /ryuk ping 2>&1 | tail -1)
    check "${label}a container that binds /var/run/docker.sock reaches dockerd (/_ping: $ping)" test "$ping" = OK

    local ryuk_ids
    if "${in[@]}" env TESTCONTAINERS_RYUK_RECONNECTION_TIMEOUT=2s NODE_PATH="$NODE_PATH" timeout 180 \
            node "$top_srcdir/tests/e2e/client-node.js" bb "$T/left.id" >"$T/node.log" 2>&1; then
        # Ryuk waits 2 s for the session to come back before it reaps: it
        # is still there now.
        ryuk_ids=$("${in[@]}" timeout 10 docker ps -q --filter "ancestor=$RYUK_IMAGE")
        sed 's/^ok [0-9]* - /  /' "$T/node.log"
        pass "${label}dockerode and testcontainers: $(grep -c '^ok' "$T/node.log") checks"
    else
        cat "$T/node.log"; fail "${label}node clients"
    fi
    CLIENTS_LEFT=$(cat "$T/left.id")
    check "${label}Testcontainers started its Ryuk ($RYUK_IMAGE)" test -n "$ryuk_ids"
    _clients_gone () { ! "${in[@]}" timeout 10 docker inspect "$CLIENTS_LEFT" >/dev/null 2>&1; }
    check "${label}Ryuk reaped the container the session left, through the bound socket" wait_for 30 _clients_gone
}
