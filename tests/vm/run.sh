#!/bin/bash
# The quick loop for the cgroup v2 guest: boots the cached Debian 13 image
# (tests/vm/image.sh builds it the first time) with the current build and
# runs the given guest scripts only, printing the guest's lines as they
# come, then the checks as tests/e2e/cgroup2-vm.sh counts them.  About a
# minute and a half per script on these machines.  As root:
#
#   bash tests/vm/run.sh                                  # every tests/vm/guest-*.sh
#   bash tests/vm/run.sh --script tests/vm/guest-sidecar-root.sh
#   bash tests/vm/run.sh --script /tmp/try.sh --script tests/vm/guest-cgroup2.sh
#   bash tests/vm/run.sh --builddir build-asan --console /tmp/console.log
#
# A guest script is written like an e2e test: it sources tests/e2e/lib.sh
# (and tests/vm/guest-lib.sh) from $top_srcdir and uses check/pass/fail;
# it runs as root in the guest with $RDIND, $ROTKIT and RDIND_E2E_USER
# (rdind-e2e, uid 1000) set.  Its full output stays in the guest; when it
# fails, its last lines come back.  Rebuild (make) before: the build tree's
# `make install` is what the guest runs.
set -euo pipefail
[ "$(id -u)" = 0 ] || exec sudo -E bash "$0" "$@"
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build
scripts=
console=
while [ $# -gt 0 ]; do
    case $1 in
        --script) [ $# -ge 2 ] || { echo "run.sh: --script needs a FILE" >&2; exit 2; }
                  scripts="$scripts $2"; shift 2 ;;
        --builddir) [ $# -ge 2 ] || { echo "run.sh: --builddir needs a DIR" >&2; exit 2; }
                  build=$(cd "$2" && pwd); shift 2 ;;
        --console) [ $# -ge 2 ] || { echo "run.sh: --console needs a FILE" >&2; exit 2; }
                  console=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (use --script FILE, --builddir DIR, --console FILE)" >&2; exit 2 ;;
    esac
done
for s in $scripts; do
    [ -r "$s" ] || { echo "run.sh: --script $s: no such file" >&2; exit 2; }
    case $s in /*) ;; *) s=$(pwd)/$s ;; esac
    abs="${abs:-} $s"
done
[ -x "$build/rdind" ] || { echo "run.sh: no rdind built in $build (make there first, or --builddir DIR)" >&2; exit 2; }
export top_srcdir=$src top_builddir=$build RDIND=$build/rdind ROTKIT=$build/rotkit \
    RDIND_DOCKER_PROXY=$build/rdind-docker-proxy RDIND_VM_LIVE=1 RDIND_VM_SCRIPTS="${abs:-}" \
    RDIND_VM_CONSOLE="$console"
exec bash "$src/tests/e2e/cgroup2-vm.sh"
