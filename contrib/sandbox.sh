#!/bin/bash
# Local sandbox: installs what rdind needs (Debian 12), builds and installs
# rdind, and runs `rdind sidecar` from the embedded default configuration.
#
#   bash contrib/sandbox.sh
#
# Run as your normal user (sudo is used only for what is missing: packages,
# your subordinate ids, /dev/net/tun), rdind is installed in ~/.local (bin/rdind,
# libexec/rdind/) and runs as you: certificates in ~/.local/state/rdind/certs,
# data in ~/.local/share/rdind/docker.  Later starts need only
# `~/.local/bin/rdind sidecar` (or contrib/rdind.service, a systemd user
# unit); this script rebuilds only what changed.
# Run as root, rdind goes to /usr/local, prepares as root and then drops to
# the account `rootless` (created here with subordinate ids), certificates
# in /certs.
# rdind prints the three export lines for another terminal once it is ready;
# Ctrl-C stops it (dockerd stops its containers first).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
say () { echo "sandbox: $*" >&2; }

# Packages: nothing happens (no sudo, no apt) when all are there.
RDIND_NO_TEST_DEPS=1 bash "$src/tests/deps.sh" >/dev/null

if [ "$(id -u)" = 0 ]; then
    prefix=/usr/local
    user=rootless
    id "$user" >/dev/null 2>&1 || useradd --create-home --uid 1000 "$user" 2>/dev/null || useradd --create-home "$user"
else
    prefix=$HOME/.local
    user=$(id -un)
fi
# A build tree of the sandbox's own (tests/run-all.sh, run with sudo, owns
# $src/build): configure runs once per prefix, make rebuilds what changed.
build=${XDG_CACHE_HOME:-$HOME/.cache}/rdind/build
if [ ! -x "$src/configure" ] || [ "$src/configure.ac" -nt "$src/configure" ]; then
    say "generating configure (autogen.sh)"
    (cd "$src" && ./autogen.sh >/dev/null)
fi
mkdir -p "$build"
if ! grep -qxF "prefix = $prefix" "$build/Makefile" 2>/dev/null; then
    say "configuring for $prefix"
    (cd "$build" && "$src/configure" -q --prefix="$prefix")
fi
make -C "$build" -s -j"$(nproc)" install >/dev/null
rdind=$prefix/bin/rdind

# rootless dockerd maps 65536 subordinate ids of the user: take a range no
# other account uses (rdind doctor names one).
if ! grep -q "^$user:" /etc/subuid 2>/dev/null || ! grep -q "^$user:" /etc/subgid 2>/dev/null; then
    as=()
    [ "$(id -u)" != 0 ] || as=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --)
    fixes=$("${as[@]}" env HOME="$(getent passwd "$user" | cut -d: -f6)" "$rdind" doctor 2>/dev/null |
        sed -n 's/^ *fix: \(usermod --add-sub[ug]ids [0-9]*-[0-9]* [^ ]*\).*/\1/p' || true)
    [ -n "$fixes" ] || { say "cannot find a free subordinate id range: see \`$rdind doctor\`"; exit 1; }
    while read -r cmd; do
        say "$cmd"
        # shellcheck disable=SC2086
        $SUDO $cmd
    done <<<"$fixes"
fi
# slirp4netns needs /dev/net/tun openable by the user (0666 on most hosts).
if [ "$(id -u)" != 0 ] && ! { exec 9<>/dev/net/tun; } 2>/dev/null; then
    say "making /dev/net/tun usable (chmod 0666, the usual host default)"
    $SUDO chmod 0666 /dev/net/tun
fi
{ exec 9>&-; } 2>/dev/null || true

case ":$PATH:" in *":$prefix/bin:"*) ;; *) say "rdind is installed in $prefix/bin (not in your PATH)" ;; esac
say "starting $rdind sidecar"
exec "$rdind" sidecar
