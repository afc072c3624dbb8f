# shellcheck shell=bash
# The anchor at current versions, for the benches (sourced after
# tests/e2e/lib.sh, as root, after ensure_test_user and fix_tun).
#
# docker:dind-rootless is dockerd-rootless.sh = rootlesskit + dockerd.  The
# host (Debian 12) ships rootlesskit 1.1 and dockerd 20.10; Debian 13
# (trixie) ships rootlesskit 2.0.2 and dockerd 26.1.5, which need trixie's
# libc.  So the anchor runs from a trixie root: the debootstrapped minbase
# the tests cache (trixie-minbase.tar) plus A13_PKGS: docker.io,
# rootlesskit, slirp4netns, uidmap, passt and what they call (iptables, ip),
# and the libraries rdind links, so that rdind can run against the same
# dockerd 26.  Cached as trixie-anchor-HASH.tar (HASH: of the package list)
# in $RDIND_TEST_CACHE (default /var/cache/rdind-test).
#
# anchor13_root            unpacks the root into $A13R (once per bench run)
#                          and gives the bench account its passwd, group,
#                          subuid and subgid lines there.
# anchor13_exec CMD...     runs CMD in that root, as root with the caller's
#                          environment: a private mount namespace (so
#                          nothing is left mounted on the host), /proc /sys
#                          /dev /tmp and the build and source trees bound in
#                          at the same paths, pivot_root.  It execs: run it
#                          in the background (CMD then has $! as its pid
#                          through every exec: the shell, unshare without
#                          --fork, sh, CMD) or in a ( subshell ).
# anchor13_as_user CMD...  the same as the bench account, with as_user's
#                          clean environment and RDIND_TEST_ENV.
# anchor13_start SETUP DIR [DOCKERD-ARGS...]
#                          starts trixie's dockerd-rootless.sh in that root,
#                          state under DIR (owned by the bench account),
#                          exports DOCKER_HOST for its socket and
#                          A13_PID (rootlesskit's parent).  SETUP:
#     dind     docker:dind-rootless's flags: slirp4netns, MTU 1500, builtin
#              port driver (docker-library/docker's dockerd-entrypoint.sh
#              sets these three variables).
#     default  dockerd-rootless.sh's own defaults, nothing set: in 26.1.5
#              slirp4netns when installed (else vpnkit), MTU 65520, builtin
#              port driver.  So (a) and (b) differ in the MTU only.
#     detach   (a) plus rootlesskit's --detach-netns; dockerd 26 needs
#              --bridge=none --iptables=false then (bench-pull only).
#   Extra rootlesskit flags go in A13_FLAGS (e.g. -p for a published port).
# anchor13_stop            SIGTERM to rootlesskit's parent, which stops
#                          dockerd; waits until no process of the bench
#                          account is left (SIGKILL after 30 s).

A13_CACHE=${RDIND_TEST_CACHE:-/var/cache/rdind-test}
A13_MIRROR=${RDIND_TEST_MIRROR:-http://deb.debian.org/debian}
A13_PKGS="docker.io rootlesskit slirp4netns uidmap passt iptables iproute2 procps
 libuv1t64 libssl3t64 libcap-ng0 libinih1 libjansson4 libhttp-parser2.9"
A13_PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
A13_FLAGS=${A13_FLAGS:-}

# The minbase root the container tests also use (tests/e2e/lib-outer.sh).
anchor13_minbase () {
    local tb=$A13_CACHE/trixie-minbase.tar
    [ -s "$tb" ] && return 0
    require_cmd debootstrap
    mkdir -p "$A13_CACHE"
    debootstrap --variant=minbase trixie "$T/mb" "$A13_MIRROR" >"$T/debootstrap.log" 2>&1 ||
        fail "debootstrap trixie (see $T/debootstrap.log)"
    rm -rf "$T/mb"/var/cache/apt/archives/*.deb "$T/mb"/var/lib/apt/lists/*
    tar --numeric-owner -C "$T/mb" -cf "$tb.tmp.$$" . && sync "$tb.tmp.$$" && mv "$tb.tmp.$$" "$tb" ||
        fail "caching $tb"
    rm -rf "$T/mb"
}

# The minbase plus the anchor's packages, made once and cached (the name
# follows the package list, so a changed list makes a new tarball).
anchor13_tarball () {
    local tb r=$T/mkanchor
    tb=$A13_CACHE/trixie-anchor-$(echo $A13_PKGS | md5sum | cut -c1-8).tar
    A13_TAR=$tb
    [ -s "$tb" ] && return 0
    require_cmd chroot
    anchor13_minbase
    mkdir -p "$r" && tar -C "$r" -xf "$A13_CACHE/trixie-minbase.tar" || fail "unpacking the trixie minbase"
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    # No service may start while packages install (docker.io's postinst
    # would try): policy-rc.d says no, and there is no init in the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d" && chmod 755 "$r/usr/sbin/policy-rc.d"
    chroot "$r" sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(echo $A13_PKGS)" \
        >"$T/anchor-apt.log" 2>&1 || fail "installing the anchor's packages in the trixie root (see $T/anchor-apt.log)"
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r/usr/sbin/policy-rc.d"
    : >"$r/etc/resolv.conf"
    tar --numeric-owner -C "$r" -cf "$tb.tmp.$$" . && sync "$tb.tmp.$$" && mv "$tb.tmp.$$" "$tb" ||
        fail "caching $tb"
    rm -rf "$r"
}

anchor13_root () {
    [ -n "${A13R:-}" ] && return 0
    anchor13_tarball
    A13R=$T/anchor13
    mkdir -p "$A13R" && tar -C "$A13R" -xpf "$A13_TAR" || fail "unpacking $A13_TAR"
    local g; g=$(id -g "$E2E_USER")
    echo "$E2E_USER:x:$E2E_UID:$g::$E2E_HOME:/bin/sh" >>"$A13R/etc/passwd"
    echo "$(id -gn "$E2E_USER"):x:$g:" >>"$A13R/etc/group"
    grep "^$E2E_USER:" /etc/subuid >>"$A13R/etc/subuid"
    grep "^$E2E_USER:" /etc/subgid >>"$A13R/etc/subgid"
    A13_ROOTLESS_SH=/usr/share/docker.io/contrib/dockerd-rootless.sh
    [ -x "$A13R$A13_ROOTLESS_SH" ] || A13_ROOTLESS_SH=/usr/bin/dockerd-rootless.sh
    [ -x "$A13R$A13_ROOTLESS_SH" ] || fail "no dockerd-rootless.sh in the trixie root"
    A13_VERSIONS="rootlesskit $(chroot "$A13R" dpkg-query -W -f '${Version}' rootlesskit), dockerd $(chroot "$A13R" dpkg-query -W -f '${Version}' docker.io), slirp4netns $(chroot "$A13R" dpkg-query -W -f '${Version}' slirp4netns)"
    echo "# anchor root (Debian 13): $A13_VERSIONS"
}

anchor13_exec () {
    local d binds="/proc /sys /dev /tmp"
    anchor13_root
    # The build tree and the sources, when they live outside /tmp.
    # shellcheck disable=SC2154 # set by tests/e2e/lib.sh
    for d in "$(cd "$top_builddir" && pwd)" "$(cd "$top_srcdir" && pwd)"; do
        case $d in /|/tmp/*) ;; *) binds="$binds $d" ;; esac
    done
    # pivot_root, not chroot: the kernel refuses a user namespace to a
    # process whose root is not its mount namespace's root (EPERM from
    # rootlesskit's "fork/exec /proc/self/exe"), so the trixie root
    # becomes the namespace's root and the host's is detached.
    exec unshare -m --propagation private -- sh -ec '
        r=$1; shift; binds=$1; shift; cwd=$1; shift
        mount --bind "$r" "$r"
        for d in $binds; do mkdir -p "$r$d"; mount --rbind "$d" "$r$d"; done
        cd "$r"; mkdir -p .oldroot; pivot_root . .oldroot; umount -l /.oldroot
        # Shared, as systemd mounts a host root (rootlesskit sets its child
        # to rslave then); within this namespace of ours only.
        mount --make-rshared /
        cd "$cwd" 2>/dev/null || cd /   # relative paths (RDIND=./rdind) still work
        exec "$@"' sh "$A13R" "$binds" "$PWD" "$@"
}

# a13_pasta_wrapper DIR OUT WHAT: OUT runs DIR/usr/bin/pasta with the
# trixie root's loader (Debian 13's pasta needs Debian 13's libc), for the
# host's test user.  The loader's copy ends in ".avx2": pasta re-execs
# /proc/self/exe + ".avx2" on AVX2 machines unless that name already ends
# so, and here /proc/self/exe is the loader.
a13_pasta_wrapper () {
    local prog=$1/usr/bin/pasta
    grep -qw avx2 /proc/cpuinfo && [ -x "$prog.avx2" ] && prog=$prog.avx2
    [ -x "$T/ld-trixie.avx2" ] || cp "$A13R/lib64/ld-linux-x86-64.so.2" "$T/ld-trixie.avx2"
    printf '#!/bin/sh\nexec %s --library-path %s --argv0 pasta %s "$@"\n' "$T/ld-trixie.avx2" \
        "$A13R/usr/lib/x86_64-linux-gnu" "$prog" >"$2"
    chmod 755 "$T/ld-trixie.avx2" "$2"
    as_user "$2" --help >/dev/null 2>&1 || fail "$3 does not run through $2"
    echo "# $3: $prog"
}

# anchor13_pasta: A13_PASTA, the wrapper for the trixie root's own pasta.
anchor13_pasta () {
    [ -n "${A13_PASTA:-}" ] && return 0
    anchor13_root
    a13_pasta_wrapper "$A13R" "$T/pasta13" \
        "Debian 13's pasta $(chroot "$A13R" dpkg-query -W -f '${Version}' passt)"
    A13_PASTA=$T/pasta13
}

# anchor13_pasta_bpo: A13_PASTA_BPO, the same for the passt of
# trixie-backports (a 2026 snapshot), fetched once into the cache with the
# trixie root's apt and unpacked beside it.
anchor13_pasta_bpo () {
    [ -n "${A13_PASTA_BPO:-}" ] && return 0
    anchor13_root
    local deb d=$T/passt-bpo
    deb=$(ls "$A13_CACHE"/passt_*bpo13*_amd64.deb 2>/dev/null | tail -1)
    if [ -z "$deb" ]; then
        cp /etc/resolv.conf "$A13R/etc/resolv.conf"
        echo "deb $A13_MIRROR trixie-backports main" >"$A13R/etc/apt/sources.list.d/bpo.list"
        chroot "$A13R" sh -c 'apt-get update -q && cd /tmp && apt-get download -q passt/trixie-backports' \
            >"$T/bpo-apt.log" 2>&1 || fail "fetching passt from trixie-backports (see $T/bpo-apt.log)"
        rm -f "$A13R/etc/apt/sources.list.d/bpo.list"; : >"$A13R/etc/resolv.conf"
        deb=$(ls "$A13R"/tmp/passt_*bpo13*_amd64.deb | tail -1)
        cp "$deb" "$A13_CACHE/" || fail "caching $deb"
        deb=$A13_CACHE/$(basename "$deb")
    fi
    mkdir -p "$d" && dpkg-deb -x "$deb" "$d" || fail "unpacking $deb"
    chmod -R o+rX "$d"
    a13_pasta_wrapper "$d" "$T/pasta13bpo" "trixie-backports' pasta ($(basename "$deb"))"
    A13_PASTA_BPO=$T/pasta13bpo
}

anchor13_as_user () {
    anchor13_exec setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
        env -i PATH="$A13_PATH" HOME="$E2E_HOME" USER="$E2E_USER" LOGNAME="$E2E_USER" \
        XDG_RUNTIME_DIR="$E2E_RUNDIR" ${RDIND_TEST_ENV:-} "$@"
}

anchor13_start () {
    local setup=$1 st=$2 env; shift 2
    anchor13_root
    case $setup in
        dind) env="DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=1500 DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=builtin" ;;
        default) env= ;;
        # (a) with rootlesskit 2's --detach-netns: dockerd runs in the
        # host's network namespace and slirp4netns serves a namespace
        # rootlesskit keeps apart.  dockerd 26 cannot put its networks in
        # that namespace (docker 29.5 can: moby#47103), so the caller gives
        # it --bridge=none --iptables=false: only its own traffic (pull,
        # push) is measured, which is the path docker 29's default takes.
        detach) env="DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns DOCKERD_ROOTLESS_ROOTLESSKIT_MTU=1500 DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER=builtin"
            local A13_FLAGS="${A13_FLAGS:+$A13_FLAGS }--detach-netns" ;;
        *) fail "anchor13_start: unknown setup '$setup' (dind, default or detach)" ;;
    esac
    mkdir -p "$st/run" "$st/home" && chown -R "$E2E_USER": "$st" && chmod 700 "$st/run"
    RDIND_TEST_ENV="XDG_RUNTIME_DIR=$st/run HOME=$st/home $env" \
        anchor13_as_user ${A13_FLAGS:+"DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=$A13_FLAGS"} "$A13_ROOTLESS_SH" --data-root="$st/data" --storage-driver=overlay2 "$@" \
        >"$st/log" 2>&1 &
    A13_PID=$!
    export DOCKER_HOST=unix://$st/run/docker.sock
}

anchor13_stop () {
    [ -n "${A13_PID:-}" ] || return 0
    kill -TERM "$A13_PID" 2>/dev/null
    wait_for 30 sh -c "! pgrep -u $E2E_USER >/dev/null" || kill_user_procs
    wait "$A13_PID" 2>/dev/null
    A13_PID=
}
