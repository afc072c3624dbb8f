#!/bin/bash
# contrib/ proven in containers: the rdind image built from contrib/Dockerfile
# runs WITHOUT --privileged under an outer rootful dockerd of the test's own,
# in the two shapes CI systems use:
#   1. the image builds (base image debootstrapped locally: no registry here);
#   2. GitLab docker executor: the sidecar is a service with network alias
#      `docker` on an --internal network, only seccomp=contrib/seccomp.json,
#      systempaths=unconfined, apparmor=unconfined; a job container sharing
#      /certs/client imports, builds and runs images through tcp://docker:2376;
#   3. Kubernetes/Tekton pod: the job shares the sidecar's network namespace
#      and uses tcp://localhost:2376;
#   4. under Docker's default seccomp profile the sidecar fails and its log
#      (rdind doctor) names the seccomp fix;
#   5. `docker stop` stops the sidecar cleanly (exit 0) within the stop timeout;
#   6. current clients against the image's dockerd 26, through the endpoint:
#      `docker buildx build` (BuildKit: a multi-stage build, a cache mount, a
#      secret) and `docker compose` v2 (up with a build, a healthcheck and a
#      published port, then down -v), judged by effect;
#   7. docker-py, dockerode and Testcontainers (with Ryuk) against the same
#      dockerd 26, from the pod's network namespace.
#
# The image is Debian 13's (dockerd 26.1, see contrib/Dockerfile); the host
# tier runs Debian 12's dockerd 20.10, so the two daemons are both covered.
# The job containers run the image itself as the client (--entrypoint bash):
# Debian 13's docker CLI with its buildx and compose plugins, over TLS.
# The pod sidecar's root holds a /.oldroot of its own (a root made by
# another pivot_root does), which the launcher must not trip over.
#
# The outer dockerd (data root, exec root, socket, pid file under $T) has no
# default bridge: image builds use --network host for apt-get (the host
# reaches the Debian mirror), the test's containers use networks it creates.
# Everything it starts is removed at the end, including mounts under $T.
#
# The debootstrapped base is cached in $RDIND_TEST_CACHE (default
# /var/cache/rdind-test) so reruns skip it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-outer.sh"

require_root
require_cmd dockerd containerd runc docker debootstrap busybox tar findmnt
IMG=rdind-contrib-test:latest
SECCOMP=$top_srcdir/contrib/seccomp.json
[ -f "$top_srcdir/contrib/Dockerfile" ] || fail "contrib/Dockerfile missing"
[ -f "$SECCOMP" ] || fail "contrib/seccomp.json missing"

# ---- 1. the outer rootful dockerd, the base image (lib-outer.sh), the rdind image
outer_start
outer_base_image

step "building $IMG from contrib/Dockerfile (context: the source tree)"
# The context is the tree minus build products and VCS data; the classic
# builder reads no contrib/Dockerfile.dockerignore, so tar filters it.
tb=$(date +%s)
tar -C "$top_srcdir" --exclude=.git --exclude=./build --exclude='./build-*' \
    --exclude='*.o' --exclude='*.a' --exclude=.deps --exclude=autom4te.cache \
    --exclude=./config.status --exclude=./config.h --exclude=./config.log \
    --exclude=./stamp-h1 --exclude=./rdind --exclude=./rotkit \
    --exclude=./rdind-docker-proxy --exclude=./rdind-launch --exclude='*.trs' --exclude='*.log' -cf - . |
    docker build --network host -f contrib/Dockerfile -t "$IMG" - >"$T/build.log" 2>&1
rc=$?
dump_on_fail "$T/build.log"
check "contrib/Dockerfile builds ($(( $(date +%s) - tb ))s)" [ $rc = 0 ]

cfg () { docker image inspect -f "$1" "$IMG"; }
check "image exposes only 2376/tcp" [ "$(cfg '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}')" = "2376/tcp " ]
check "entrypoint is rdind sidecar" [ "$(cfg '{{json .Config.Entrypoint}}')" = '["rdind","sidecar"]' ]
check "healthcheck runs rdind health" grep -q '"rdind","health"' <<<"$(cfg '{{json .Config.Healthcheck.Test}}')"
check "DOCKER_TLS_CERTDIR=/certs" grep -q '"DOCKER_TLS_CERTDIR=/certs"' <<<"$(cfg '{{json .Config.Env}}')"
check "data root is a volume" grep -q '/home/rootless/.local/share/rdind/docker' <<<"$(cfg '{{json .Config.Volumes}}')"
docker run --rm --entrypoint sh "$IMG" -c '
    set -e
    [ "$(id -u rootless)" = 1000 ]
    grep -q "^rootless:[0-9]*:65536$" /etc/subuid
    grep -q "^rootless:[0-9]*:65536$" /etc/subgid
    [ ! -u /usr/bin/newuidmap ] && [ ! -u /usr/bin/newgidmap ]
    getcap /usr/bin/newuidmap | grep -q "cap_setuid[=+]ep"
    getcap /usr/bin/newgidmap | grep -q "cap_setgid[=+]ep"
    for c in rdind dockerd containerd runc slirp4netns pasta fuse-overlayfs iptables docker; do command -v $c >/dev/null; done
    dockerd --version | grep -q "version 26\."
    docker buildx version && docker compose version
    rdind --version' >"$T/image-check.log" 2>&1
rc=$?
dump_on_fail "$T/image-check.log"
check "image: user rootless 1000 with subids, newuidmap/newgidmap with file caps and no setuid bit, tools present, dockerd 26, buildx and compose plugins" [ $rc = 0 ]

# ---- what the job containers run --------------------------------------------
W=$T/work
mkdir -p "$W/ctx"
make_busybox_tar "$W/busybox.tar"
printf 'FROM bb\nRUN echo built-inside-rdind > /built\nCMD ["cat", "/built"]\n' >"$W/ctx/Dockerfile"
# The job waits the way GitLab's runner does (the TCP port opens), then
# expects the daemon to answer at once: an open port must mean ready.
cat >"$W/job.sh" <<'EOF'
set -eu
host=${DOCKER_HOST#tcp://}; h=${host%:*}; p=${host##*:}
i=0
until (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null; do
    i=$((i+1)); [ $i -lt 600 ] || { echo "JOB: port $h:$p never opened"; exit 1; }
    sleep 0.2
done
echo "JOB: port open"
docker version --format 'JOB: server {{.Server.Version}} api {{.Server.APIVersion}}'
# dockerd asks the launcher's rootlesskit API (GET /v1/info) for these.
docker version --format 'JOB: components {{range .Server.Components}}{{.Name}}={{.Version}} {{if eq .Name "rootlesskit"}}net={{index .Details "NetworkDriver"}} port={{index .Details "PortDriver"}} {{end}}{{end}}'
docker info --format 'JOB: security={{range .SecurityOptions}}{{.}} {{end}}driver={{.Driver}}'
docker import /work/busybox.tar bb >/dev/null
docker run --rm bb echo JOB: hello-from-inner
docker build -q -t job-built /work/ctx
docker run --rm job-built
echo "JOB: done"
EOF

# ---- 6. what the clients job runs: buildx and compose against dockerd 26 -------
# A multi-stage BuildKit build: the first stage counts its runs in a cache
# mount (a second build, whose new ROUND reruns the step, sees the first
# one's file: BuildKit keeps cache mounts between builds) and
# hashes a secret that must not land in any layer; the second stage keeps
# only the result.  A compose project builds a web server whose page the
# build wrote, publishes it, waits on its healthcheck, keeps a volume.
mkdir -p "$W/bx" "$W/compose/web"
cat >"$W/bx/Dockerfile" <<'EOF'
FROM bb AS build
ARG ROUND
RUN --mount=type=cache,target=/cache,id=rdind-e2e \
    echo "round $ROUND" >> /cache/runs && echo "cache-runs=$(wc -l < /cache/runs)" > /out
RUN --mount=type=secret,id=token \
    echo "secret-sha=$(busybox sha256sum /run/secrets/token | busybox cut -d' ' -f1)" >> /out
FROM bb
COPY --from=build /out /out
CMD ["cat", "/out"]
EOF
cat >"$W/compose/web/Dockerfile" <<'EOF'
FROM bb
RUN mkdir -p /www && echo built-by-compose > /www/index.html
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
EOF
cat >"$W/compose/compose.yaml" <<'EOF'
name: rdindtest
services:
  web:
    build: ./web
    ports: ["18080:8080"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"]
      interval: 1s
      timeout: 3s
      retries: 60
volumes:
  data: {}
EOF
cat >"$W/clients.sh" <<'EOF'
set -eu
export DOCKER_BUILDKIT=1
docker image inspect bb >/dev/null 2>&1 || docker import /work/busybox.tar bb >/dev/null
echo "JOB: $(docker buildx version)"
echo "JOB: builder $(docker buildx inspect | sed -n 's/^Driver: *//p' | head -1)"
secret="rdind-secret-$$-$RANDOM$RANDOM"
printf '%s' "$secret" >/tmp/token
echo "JOB: want secret-sha=$(sha256sum /tmp/token | cut -d' ' -f1)"
cp -r /work/bx /tmp/bx
docker buildx build --progress=plain --build-arg ROUND=1 --secret id=token,src=/tmp/token -t bx:1 /tmp/bx >/tmp/bx1.log 2>&1 ||
    { cat /tmp/bx1.log; exit 1; }
! grep -q 'DEPRECATED: The legacy builder' /tmp/bx1.log
grep -q '^#[0-9]* \[build ' /tmp/bx1.log && echo "JOB: BuildKit ran the build stage"
docker run --rm bx:1 | sed 's/^/JOB: run1 /'
docker buildx build --progress=plain --build-arg ROUND=2 --secret id=token,src=/tmp/token -t bx:2 /tmp/bx >/tmp/bx2.log 2>&1 ||
    { cat /tmp/bx2.log; exit 1; }
docker run --rm bx:2 | sed 's/^/JOB: run2 /'
n=$(docker save bx:1 bx:2 | grep -ac "$secret" || true)
echo "JOB: secret in saved images: $n"
docker run --rm bx:2 ls /cache 2>&1 | sed 's/^/JOB: final stage: /' || true
docker run --rm bx:2 ls /run/secrets 2>&1 | sed 's/^/JOB: final stage: /' || true

cp -r /work/compose /tmp/compose
cd /tmp/compose
echo "JOB: $(docker compose version)"
docker compose up -d --build --wait >/tmp/up.log 2>&1 ||
    { cat /tmp/up.log; docker compose ps -a; docker compose logs; exit 1; }
echo "JOB: health $(docker inspect -f '{{.State.Health.Status}}' rdindtest-web-1)"
host=${DOCKER_HOST#tcp://}; host=${host%:*}
exec 3<>"/dev/tcp/$host/18080"
printf 'GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n' >&3
sed 's/^/JOB: port 18080: /' <&3 | tr -d '\r'
exec 3<&-
echo "JOB: up done"
EOF
cat >"$W/compose-down.sh" <<'EOF'
set -eu
cp -r /work/compose /tmp/compose && cd /tmp/compose
docker compose down -v >/tmp/down.log 2>&1 || { cat /tmp/down.log; exit 1; }
echo "JOB: down done"
EOF

run_job () { # NAME NETWORK CERTVOL DOCKER_HOST [SCRIPT]
    docker run --name "$1" --network "$2" -v "$3:/certs/client:ro" -v "$W:/work:ro" \
        -e DOCKER_HOST="$4" -e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client \
        -e DOCKER_BUILDKIT=0 --entrypoint bash "$IMG" "/work/${5:-job.sh}"
}

# Only these: no --privileged, no capability added.
UNPRIV=(--security-opt "seccomp=$SECCOMP" --security-opt systempaths=unconfined
        --security-opt apparmor=unconfined ${RDIND_TEST_DEVICE_TUN:+--device /dev/net/tun})

# Ready, or exited (then waiting longer is pointless): 0 ready, 1 not.
svc_ready () { docker exec "$1" rdind health || ! running "$1"; }
running () { [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ]; }
wait_ready () { wait_for 120 svc_ready "$1" && running "$1" && docker exec "$1" rdind health >/dev/null 2>&1; }
dump_container () { docker logs "$1" >"$T/$1.log" 2>&1; }

# ---- the image's environment, checked with the reference launcher -------------
# Debian's dockerd-rootless.sh (rootlesskit + slirp4netns) under exactly the
# same unprivileged options: when this passes and the rdind steps below fail,
# the fault is rdind's, not the image's, the profile's or the host's.
if command -v rootlesskit >/dev/null && command -v rootlesskit-docker-proxy >/dev/null; then
    step "reference: dockerd-rootless.sh (rootlesskit) in the image, same options"
    dump_on_fail "$T/reference.log"
    docker run -d --name reference --network none "${UNPRIV[@]}" \
        -v "$(command -v rootlesskit):/usr/local/bin/rootlesskit:ro" -v "$W:/work:ro" \
        -v "$(command -v rootlesskit-docker-proxy):/usr/local/bin/rootlesskit-docker-proxy:ro" \
        --entrypoint bash "$IMG" -c '
            mkdir -p /dev/net; [ -c /dev/net/tun ] || mknod -m 666 /dev/net/tun c 10 200
            chmod 666 /dev/net/tun; install -d -o rootless -m 700 /tmp/xdg
            exec setpriv --reuid=1000 --regid=1000 --init-groups env -i HOME=/home/rootless \
                XDG_RUNTIME_DIR=/tmp/xdg PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
                /usr/share/docker.io/contrib/dockerd-rootless.sh \
                --data-root /home/rootless/.local/share/rdind/docker' >/dev/null
    ref () { docker exec -u rootless -e XDG_RUNTIME_DIR=/tmp/xdg -e DOCKER_HOST=unix:///tmp/xdg/docker.sock reference "$@"; }
    if wait_for 60 ref docker version; then
        ref sh -c 'docker import /work/busybox.tar bb >/dev/null && docker run --rm bb echo REF-OK' >"$T/reference.log" 2>&1
    fi
    docker logs reference 2>&1 | grep -vE 'level=info|^\+ ' >>"$T/reference.log"
    check "reference rootless dockerd runs a container under these options" grep -q '^REF-OK$' "$T/reference.log"
    docker rm -f reference >/dev/null 2>&1
else
    echo "# rootlesskit not installed: reference check left out"
fi

# ---- 2. GitLab docker executor shape --------------------------------------------
step "GitLab shape: service 'docker' on an --internal network"
docker network create --internal rdind-ci-net >/dev/null || fail "network create --internal"
docker volume create gitlab-certs >/dev/null
dump_on_fail "$T/gitlab-svc.log" "$T/gitlab-job.log"
ts=$(date +%s%N)
docker run -d --name gitlab-svc --network rdind-ci-net --network-alias docker \
    "${UNPRIV[@]}" -v gitlab-certs:/certs/client \
    -e DOCKER_HOST=tcp://docker:2376 -e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client \
    "$IMG" >/dev/null || fail "starting the service container"
check "service container is not privileged" [ "$(docker inspect -f '{{.HostConfig.Privileged}} {{.HostConfig.CapAdd}}' gitlab-svc)" = "false []" ]
if wait_ready gitlab-svc; then
    pass "sidecar ready (rdind health) in $(( ($(date +%s%N) - ts) / 1000000 )) ms"
else
    dump_container gitlab-svc
    # What rdind doctor says with the same options, for the failure dump.
    docker run --rm --network none "${UNPRIV[@]}" --entrypoint rdind "$IMG" doctor >>"$T/gitlab-svc.log" 2>&1
    fail "sidecar not ready within 120 s (rdind health; running: $(docker inspect -f '{{.State.Running}} exit={{.State.ExitCode}}' gitlab-svc))"
fi
run_job gitlab-job rdind-ci-net gitlab-certs tcp://docker:2376 >"$T/gitlab-job.log" 2>&1
rc=$?
dump_container gitlab-svc
sed 's/^/#   /' "$T/gitlab-job.log"
check "job: import, run, build and run an image through tcp://docker:2376" [ $rc = 0 ]
check "job: inner container ran" grep -q 'JOB: hello-from-inner' "$T/gitlab-job.log"
check "job: image built inside rdind ran" grep -q '^built-inside-rdind$' "$T/gitlab-job.log"
check "inner dockerd is rootless" grep -q 'JOB: security=.*name=rootless' "$T/gitlab-job.log"
check "inner dockerd is the image's 26.x (the host tier runs 20.10)" grep -q '^JOB: server 26\.' "$T/gitlab-job.log"
check "dockerd 26 read the launcher's GET /v1/info (rootlesskit component rdind-*, slirp4netns, native ports)" \
    grep -qE '^JOB: components .*rootlesskit=rdind-[^ ]+ net=slirp4netns port=native' "$T/gitlab-job.log"
check "healthcheck reports healthy" wait_for 30 sh -c "[ \"\$(docker inspect -f '{{.State.Health.Status}}' gitlab-svc)\" = healthy ]"

# ---- 6. buildx and compose through tcp://docker:2376 -----------------------------
step "clients against dockerd 26: docker buildx build, docker compose"
dump_on_fail "$T/clients-job.log" "$T/clients-down.log"
# What dockerd itself holds, asked on its own socket inside the sidecar.
# (The service has the job's DOCKER_* variables, as GitLab passes them.)
inner () {
    docker exec -u rootless gitlab-svc env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
        docker -H unix:///run/user/1000/rdind/docker.sock "$@" 2>>"$T/inner.log"
}
dump_on_fail "$T/inner.log"
project_containers () { inner ps -aq --filter label=com.docker.compose.project=rdindtest; }
project_volumes () { inner volume ls -q --filter label=com.docker.compose.project=rdindtest; }
port_open () { docker run --rm --network rdind-ci-net --entrypoint bash "$IMG" -c 'exec 3<>/dev/tcp/docker/18080' 2>/dev/null; }
check "dockerd answers on its own socket inside the sidecar" inner version
tb=$(date +%s)
run_job clients-job rdind-ci-net gitlab-certs tcp://docker:2376 clients.sh >"$T/clients-job.log" 2>&1
rc=$?
sed 's/^/#   /' "$T/clients-job.log"
check "clients job: buildx builds and compose up ran ($(( $(date +%s) - tb ))s)" [ $rc = 0 ]
want=$(sed -n 's/^JOB: want //p' "$T/clients-job.log")
check "buildx: BuildKit on dockerd 26's docker driver ran the build stage of a multi-stage build" \
    sh -c "grep -qx 'JOB: BuildKit ran the build stage' '$T/clients-job.log' && grep -qx 'JOB: builder docker' '$T/clients-job.log'"
check "buildx: the built image runs and prints what the build wrote, the secret's hash included" \
    sh -c "[ -n '$want' ] && grep -qx 'JOB: run1 $want' '$T/clients-job.log' && grep -qx 'JOB: run1 cache-runs=1' '$T/clients-job.log'"
check "buildx: the cache mount outlived the first build (the second build's rerun saw 2 runs)" \
    grep -qx 'JOB: run2 cache-runs=2' "$T/clients-job.log"
check "buildx: the secret is in no layer of either image (docker save)" \
    grep -qx 'JOB: secret in saved images: 0' "$T/clients-job.log"
check "buildx: the final stage holds neither the cache nor the secret" \
    sh -c "[ \$(grep -c '^JOB: final stage: .*No such file' '$T/clients-job.log') = 2 ]"
check "compose: the service is healthy by its healthcheck" grep -qx 'JOB: health healthy' "$T/clients-job.log"
check "compose: the published port answers with the page the build wrote" \
    grep -qx 'JOB: port 18080: built-by-compose' "$T/clients-job.log"
check "compose: dockerd holds the project's container and volume (asked on its own socket)" \
    sh -c "[ -n \"\$1\" ] && [ -n \"\$2\" ]" _ "$(project_containers)" "$(project_volumes)"
docker rm -f clients-job >/dev/null 2>&1
run_job clients-down rdind-ci-net gitlab-certs tcp://docker:2376 compose-down.sh >"$T/clients-down.log" 2>&1
rc=$?
sed 's/^/#   /' "$T/clients-down.log"
check "compose down -v ran" [ $rc = 0 ]
c=$(project_containers) && v=$(project_volumes) && all=$(inner volume ls -q) ||
    fail "asking dockerd on its own socket after down -v"
check "after down -v dockerd holds no container and no volume of the project (its own socket)" \
    sh -c "[ -z '$c' ] && [ -z '$v' ] && ! echo '$all' | grep -qx rdindtest_data"
if port_open; then fail "after down -v the published port still answers"; fi
pass "after down -v the published port is closed"
docker rm -f gitlab-svc gitlab-job clients-down >/dev/null 2>&1

# ---- 3. Kubernetes / Tekton pod shape -------------------------------------------
step "pod shape: job shares the sidecar's network namespace, tcp://localhost:2376"
docker volume create pod-certs >/dev/null
dump_on_fail "$T/pod-svc.log" "$T/pod-job.log"
# Hardened the way contrib/kubernetes-pod.yaml is: no_new_privs for the
# whole container (allowPrivilegeEscalation: false) and only the
# capabilities the root phase uses (tun node, directory ownership, the
# switch to the user and the id maps it writes itself).
HARDENED=(--security-opt no-new-privileges --cap-drop ALL)
for c in CHOWN DAC_OVERRIDE FOWNER MKNOD SETUID SETGID SETPCAP; do HARDENED+=(--cap-add "$c"); done
# Its root holds a /.oldroot of its own (here a tmpfs mount point).
docker run -d --name pod-svc --network none "${UNPRIV[@]}" "${HARDENED[@]}" -v pod-certs:/certs/client \
    --mount type=tmpfs,destination=/.oldroot "$IMG" >/dev/null 2>"$T/pod-svc.err" || { cat "$T/pod-svc.err"; fail "starting the pod sidecar"; }
if ! wait_ready pod-svc; then
    dump_container pod-svc; fail "pod sidecar not ready within 120 s"
fi
st=$(docker exec pod-svc cat /proc/1/status)
check "pod sidecar (pid 1) runs as uid 1000 with no_new_privs" \
    sh -c "echo '$st' | grep -qE '^Uid:[[:space:]]+1000[[:space:]]+1000[[:space:]]+1000' && echo '$st' | grep -qE '^NoNewPrivs:[[:space:]]+1'"
check "pod sidecar keeps no capability, not even in its bounding set" \
    sh -c "echo '$st' | grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' | grep -vq '0000000000000000' && exit 1 || exit 0"
check "pod sidecar's root has a /.oldroot of its own" docker exec pod-svc test -d /.oldroot
run_job pod-job container:pod-svc pod-certs tcp://localhost:2376 >"$T/pod-job.log" 2>&1
rc=$?
sed 's/^/#   /' "$T/pod-job.log"
check "pod job: import, run, build and run through tcp://localhost:2376" [ $rc = 0 ]
check "a root holding /.oldroot: the launcher started once, no setup error" \
    sh -c "! docker logs pod-svc 2>&1 | grep -qE 'old root|restarting launcher'"
docker rm -f pod-job >/dev/null 2>&1

# ---- 7. docker-py, dockerode and Testcontainers against dockerd 26 -------------
# The host's clients (tests/e2e/clients-lib.sh, as clients.sh runs them on
# the host tier's 20.10) enter the pod's network namespace and use
# tcp://localhost:2376 with the certificates of the pod's volume, as a job
# container of the pod would; Testcontainers reaches its mapped ports there.
step "pod shape: docker-py, dockerode and Testcontainers against dockerd 26"
. "$top_srcdir/tests/e2e/clients-lib.sh"
clients_node_setup
pod_pid=$(docker inspect -f '{{.State.Pid}}' pod-svc)
# The prefix carries the client's variables: DOCKER_HOST stays the outer
# dockerd's for this script (and for outer_stop, should a check fail).
in_pod=(env DOCKER_HOST=tcp://localhost:2376 DOCKER_TLS_VERIFY=1
        DOCKER_CERT_PATH="$(docker volume inspect -f '{{.Mountpoint}}' pod-certs)"
        nsenter -n -t "$pod_pid")
check "dockerd 26, pod: the host's docker CLI answers in the pod's network namespace" \
    sh -c "\"\$@\" timeout 30 docker version --format '{{.Server.Version}}' | grep -q '^26\\.'" _ "${in_pod[@]}"
clients_py_node "dockerd 26, pod: " "${in_pod[@]}"

# ---- 5. docker stop of the sidecar, with a container running inside -------------
step "docker stop of the pod sidecar (default 10 s timeout)"
docker run --rm --network container:pod-svc -v pod-certs:/certs/client:ro \
    -e DOCKER_HOST=tcp://localhost:2376 -e DOCKER_TLS_VERIFY=1 -e DOCKER_CERT_PATH=/certs/client \
    --entrypoint docker "$IMG" run -d --name inner-sleeper bb sh -c 'trap "exit 0" TERM; while :; do sleep 1; done' \
    >"$T/pod-sleeper.log" 2>&1
check "a container runs inside the pod sidecar" [ $? = 0 ]
ts=$(date +%s%N)
docker stop pod-svc >/dev/null
ms=$(( ($(date +%s%N) - ts) / 1000000 ))
dump_container pod-svc
code=$(docker inspect -f '{{.State.ExitCode}}' pod-svc)
echo "# docker stop took $ms ms, exit code $code"
check "sidecar exits 0 on docker stop (got $code)" [ "$code" = 0 ]
check "sidecar stopped within the 10 s stop timeout ($ms ms)" [ "$ms" -lt 10000 ]
docker rm -f pod-svc >/dev/null 2>&1

# ---- 4. Docker's default seccomp profile: fails, and says how to fix it ----------
step "sidecar under Docker's default seccomp profile"
dump_on_fail "$T/default-seccomp.log"
docker run -d --name default-seccomp --network none --security-opt systempaths=unconfined \
    --security-opt apparmor=unconfined ${RDIND_TEST_DEVICE_TUN:+--device /dev/net/tun} \
    "$IMG" >/dev/null || fail "starting the default-seccomp sidecar"
exited () { [ "$(docker inspect -f '{{.State.Running}}' default-seccomp)" = false ]; }
wait_for 90 exited
st=$?
docker logs default-seccomp >"$T/default-seccomp.log" 2>&1
sed 's/^/#   /' "$T/default-seccomp.log" | tail -15
check "sidecar exits under the default seccomp profile" [ $st = 0 ]
check "exit code is non-zero" [ "$(docker inspect -f '{{.State.ExitCode}}' default-seccomp)" != 0 ]
check "its log names the seccomp fix" grep -qiE 'seccomp.*(json|unconfined)' "$T/default-seccomp.log"
check "the endpoint never became healthy" [ "$(docker inspect -f '{{.State.Health.Status}}' default-seccomp)" != healthy ]
docker rm -f default-seccomp >/dev/null 2>&1

step "done in $(( $(date +%s) - t0 ))s"
exit 0
