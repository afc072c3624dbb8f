#!/bin/bash
# The job holds the Docker API; the sidecar's secrets must stay out of its
# reach.  dockerd runs as the account that owns certdir (CA key, server key,
# every peer's client key), so any bind mount that reaches certdir would hand
# the job the CA key.  This test tries every path a job could bind - certdir
# as configured, its parent, /, /proc (the sidecar's /proc/PID/root), the
# daemon's state_dir - with a plain container and with a --privileged one
# that unmounts whatever covers the path, and finds no key.  It also checks
# that what the daemon needs (state_dir, data_root, the Ryuk socket) is
# still there.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

start_sidecar RDIND_SIDECAR_PEERS=client,deploy
import_busybox bb
check "the CA key exists on the host side" test -s "$CERTS/ca/key.pem"
check "the server key exists on the host side" test -s "$CERTS/server/key.pem"

# Every key file under certdir, relative to it.
keys=$(cd "$CERTS" && find . -name '*key.pem*' | sed 's|^\./||' | sort)
[ -n "$keys" ] || fail "no key found under $CERTS"
parent=$(dirname "$CERTS")

# look MOUNT_SOURCE PREFIX [DOCKER_RUN_ARGS...] : runs a container that binds
# MOUNT_SOURCE at /x and prints every key it can read at /x/PREFIX/<key>.
# With --privileged it first lazily unmounts everything under /x (which
# would reveal what a mask hides), then looks again.
look () {
    local src=$1 prefix=$2; shift 2
    local script='for k in '"$(echo $keys)"'; do f=/x/'"$prefix"'$k; [ -r "$f" ] && grep -q "PRIVATE KEY" "$f" && echo "LEAK $f"; done'
    # shellcheck disable=SC2086
    timeout 60 docker run --rm "$@" -v "$src:/x" bb sh -c "$script; \
        if [ -w /proc/self ] && grep -q ' /x' /proc/self/mountinfo && [ \"\$1\" = priv ]; then \
            for m in \$(awk '\$5 ~ \"^/x\" {print \$5}' /proc/self/mountinfo | sort -r); do umount -l \$m 2>/dev/null && echo unmounted; done; \
            $script; fi; echo done" sh "$( [ "${1:-}" = --privileged ] && echo priv )" 2>&1
}

for case in "certdir:$CERTS:" "parent:$parent:$(basename "$CERTS")/" "root:/:${CERTS#/}/"; do
    IFS=: read -r name src prefix <<<"$case"
    out=$(look "$src" "$prefix")
    echo "$out" | grep -q '^done$' || fail "container binding $src did not run: $out"
    check "-v $name:/x reads no key (certdir ${prefix:-/})" sh -c "! echo '$out' | grep -q LEAK"
    out=$(look "$src" "$prefix" --privileged)
    echo "$out" | grep -q '^done$' || fail "privileged container binding $src did not run: $out"
    echo "$out" | grep -q '^unmounted$' || fail "privileged container binding $src unmounted nothing: $out"
    check "--privileged -v $name:/x, after unmounting what covers /x, reads no key" sh -c "! echo '$out' | grep -q LEAK"
done

# /proc: no process outside the daemon's pid namespace is visible, so no
# /proc/PID/root leads back to the container's (or host's) filesystem.
out=$(timeout 60 docker run --rm -v /proc:/x bb sh -c '
    for p in /x/[0-9]*; do
        for k in '"$(echo $keys)"'; do f=$p/root'"$CERTS"'/$k; [ -r "$f" ] && grep -q "PRIVATE KEY" "$f" && echo "LEAK $f"; done
    done; echo done' 2>&1)
echo "$out" | grep -q '^done$' || fail "container binding /proc did not run: $out"
check "-v /proc:/x: no /proc/PID/root reaches a key" sh -c "! echo '$out' | grep -q LEAK"
check "the sidecar's pid is not in the daemon's /proc" sh -c \
    "! timeout 60 docker run --rm -v /proc:/x bb sh -c 'cat /x/*/cmdline 2>/dev/null | tr \"\\0\" \" \"' | grep -q 'rdind sidecar'"

# The daemon's view: what it needs is there.
check "state_dir is visible to the daemon (its socket answers from a container)" sh -c \
    "timeout 60 docker run --rm -v '$U/state/docker.sock:/s' bb sh -c 'test -S /s'"
check "data_root is visible to the daemon" sh -c \
    "timeout 60 docker run --rm -v '$U/data:/d' bb sh -c 'test -d /d/overlay2 || test -d /d/vfs || test -d /d/fuse-overlayfs'"
check "certdir appears empty to the daemon" sh -c \
    "test \"\$(timeout 60 docker run --rm -v '$CERTS:/c' bb sh -c 'ls -A /c | wc -l')\" = 0"
check "the launcher logs what it hides" grep -q "msg=\"hidden from the daemon\".*$CERTS" "$LOG"
# And the host side still works: the endpoint is served with those keys.
check "the endpoint still serves (docker version)" sh -c 'timeout 30 docker version >/dev/null'
