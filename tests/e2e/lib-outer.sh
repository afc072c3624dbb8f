# An outer rootful dockerd of the test's own, for the end-to-end tests that
# run rdind in unprivileged containers (sourced after lib.sh, as root).
#
# outer_start [DOCKERD-ARGS...] starts it with its data root, exec root,
# socket and pid file under $T/outer, no default bridge, and registers
# outer_stop (every container, network and mount it made goes; the host's
# ip_forward and FORWARD policy are put back).  DOCKER_HOST points at it.
#
# outer_base_image imports the debootstrapped Debian 13 (trixie) base as
# $BASE: the container tier runs dockerd 26 from it, while the host tier
# runs the host's Debian 12 dockerd 20.10.  The debootstrap is cached in
# $RDIND_TEST_CACHE (default /var/cache/rdind-test) so reruns skip it.

CACHE=${RDIND_TEST_CACHE:-/var/cache/rdind-test}
MIRROR=${RDIND_TEST_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
BASE=debian:$SUITE-slim             # the name contrib/Dockerfile uses
O=$T/outer

t0=$(date +%s)
step () { echo "# [$(( $(date +%s) - t0 ))s] $*"; }

outer_stop () {
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
    docker network ls -q --filter type=custom 2>/dev/null | xargs -r docker network rm >/dev/null 2>&1
    if [ -s "$O/dockerd.pid" ]; then
        local pid; pid=$(cat "$O/dockerd.pid")
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    # Overlay and shm mounts of killed containers, deepest first.
    findmnt -rn -o TARGET | grep "^$O/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
    sysctl -qw net.ipv4.ip_forward="$_outer_fwd_before"
    [ -z "$_outer_policy_before" ] || iptables -P FORWARD "$_outer_policy_before"
    # Its (empty) chains, unless another rootful dockerd still uses them
    # (rootless ones, of the test accounts, run as their users).
    if ! pgrep -x -u 0 dockerd >/dev/null; then
        iptables -D FORWARD -j DOCKER-USER 2>/dev/null
        iptables -D FORWARD -j DOCKER-ISOLATION-STAGE-1 2>/dev/null
        for c in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do
            iptables -F "$c" 2>/dev/null; iptables -X "$c" 2>/dev/null
        done
        iptables -t nat -F DOCKER 2>/dev/null; iptables -t nat -X DOCKER 2>/dev/null
    fi
    true
}

outer_start () {
    require_root
    require_cmd dockerd containerd runc docker findmnt
    mkdir -p "$O"
    export DOCKER_HOST=unix://$O/docker.sock
    unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT DOCKER_CONFIG
    export DOCKER_CONFIG=$T/docker-config DOCKER_BUILDKIT=0
    mkdir -p "$DOCKER_CONFIG"
    # dockerd turns on IPv4 forwarding and sets the FORWARD policy to DROP on
    # the host (unless told not to); both are put back as they were.
    _outer_fwd_before=$(sysctl -n net.ipv4.ip_forward)
    _outer_policy_before=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')
    on_exit outer_stop
    dump_on_fail "$O/dockerd.log"
    step "starting the outer dockerd under $O"
    dockerd --data-root "$O/data" --exec-root "$O/exec" --pidfile "$O/dockerd.pid" \
        -H "$DOCKER_HOST" --bridge none --storage-driver overlay2 "$@" \
        >"$O/dockerd.log" 2>&1 &
    check "outer dockerd answers" wait_for 60 docker version
}

outer_base_image () {
    require_cmd debootstrap tar
    mkdir -p "$CACHE"
    local tarball=$CACHE/$SUITE-minbase.tar
    if [ ! -s "$tarball" ]; then
        [ -e "/usr/share/debootstrap/scripts/$SUITE" ] ||
            skip "debootstrap knows no $SUITE (install Debian 12's current debootstrap)"
        step "debootstrap --variant=minbase $SUITE (cached in $CACHE afterwards)"
        local root=$T/rootfs
        debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$T/debootstrap.log" 2>&1 ||
            { tail -20 "$T/debootstrap.log"; fail "debootstrap from $MIRROR"; }
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        tar --numeric-owner -C "$root" -cf "$tarball.tmp" . && sync "$tarball.tmp" &&
            mv "$tarball.tmp" "$tarball" || fail "caching the base tarball"
        rm -rf "$root"
    fi
    check "base image imported as $BASE" docker import "$tarball" "$BASE"
}
