#!/bin/bash
# Installs every package rdind needs to build, run and be tested on Debian 12.
# Used by tests/run-all.sh, contrib/sandbox.sh and .ci/run.
set -euo pipefail
BUILD_DEPS="build-essential autoconf automake pkg-config libuv1-dev libssl-dev libcap-ng-dev libinih-dev musl-tools libjansson-dev libhttp-parser-dev"
RUNTIME_DEPS="docker.io slirp4netns uidmap fuse-overlayfs iptables libcap2-bin openssl ca-certificates"
TEST_DEPS="busybox-static curl procps psmisc iproute2 util-linux file python3 python3-yaml debootstrap rootlesskit hyperfine socat python3-docker nodejs iperf3 passt clang libclang-rt-14-dev docker-registry qemu-system-x86 e2fsprogs"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# contrib/sandbox.sh sets RDIND_NO_TEST_DEPS=1: it needs no test tools.
[ -z "${RDIND_NO_TEST_DEPS:-}" ] || TEST_DEPS=
# Nothing to do (and no sudo, no apt) when every package is installed.
missing=
# shellcheck disable=SC2086
for p in $BUILD_DEPS $RUNTIME_DEPS $TEST_DEPS; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
echo "installing:$missing" >&2
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $BUILD_DEPS $RUNTIME_DEPS $TEST_DEPS
