#!/bin/bash
# Local sandbox: installs what rdind needs (Debian 12), builds it, and runs
# `rdind sidecar` from the embedded default configuration.
#
#   bash contrib/sandbox.sh
#
# Run as your normal user (sudo is used for the packages, your subordinate
# ids and /dev/net/tun), rdind runs as you: certificates in
# ~/.local/state/rdind/certs, data in ~/.local/share/rdind/docker.
# Run as root, rdind prepares as root and then drops to the account
# `rootless` (created here with subordinate ids), certificates in /certs.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

RDIND_NO_TEST_DEPS=1 bash tests/deps.sh >/dev/null
./autogen.sh >/dev/null
mkdir -p build && cd build
[ -f Makefile ] || ../configure -q
make -s -j"$(nproc)"

if [ "$(id -u)" = 0 ]; then
    user=rootless
    id "$user" >/dev/null 2>&1 || useradd --create-home --uid 1000 "$user" 2>/dev/null || useradd --create-home "$user"
else
    user=$(id -un)
fi
# rootless dockerd maps 65536 subordinate ids of the user.
for f in /etc/subuid /etc/subgid; do
    grep -q "^$user:" "$f" 2>/dev/null || echo "$user:231072:65536" | $SUDO tee -a "$f" >/dev/null
done
# slirp4netns needs /dev/net/tun openable by the user (0666 on most hosts).
if [ "$(id -u)" != 0 ] && ! { exec 9<>/dev/net/tun; } 2>/dev/null; then
    echo "sandbox: making /dev/net/tun usable (chmod 0666, the usual host default)"
    $SUDO chmod 0666 /dev/net/tun
fi
exec 9>&- 2>/dev/null || true

./rdind doctor || true
if [ "$(id -u)" = 0 ]; then
    certs=/certs
else
    certs=${XDG_STATE_HOME:-$HOME/.local/state}/rdind/certs
fi
cat <<MSG

rdind is starting. In another terminal:
  export DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$certs/client
  docker version
Stop it with Ctrl-C.

MSG
exec ./rdind sidecar
