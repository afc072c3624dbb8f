#!/bin/bash
# Runs inside the guest, as root, from the image's rdind-vm-test.service
# (see image.sh), with this payload disk mounted read-only on /mnt/payload:
#   install/      `make install DESTDIR=...` of the build under test
#   src/tests/    the e2e library and the guest scripts
#   scripts.list  the scripts to run, one path (relative to the payload) a line
#   env           settings from the host (sourced)
# Each script runs like an e2e test (tests/e2e/lib.sh); its TAP-ish lines
# (ok N - ..., FAIL: ..., SKIP: ..., # ...) go to the console with the
# prefix "RDIND-VM: ", then "RDIND-VM: end SCRIPT rc=N" (and, when it failed,
# the last lines of its output as "RDIND-VM: | ...").  "RDIND-VM: done" is
# the end marker the host waits for; the unit powers the machine off after.
set -u
P=/mnt/payload
say () { echo "RDIND-VM: $*"; }

[ -r "$P/env" ] && . "$P/env"
# The build under test, on top of Debian's packages.
cp -a "$P/install/." / || say "FAIL: copying the build under test into /"
ldconfig
export PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin
RDIND=$(command -v rdind) || say "FAIL: no rdind in the payload's install tree"
ROTKIT=$(command -v rotkit)
RDIND_DOCKER_PROXY=$(command -v rdind-docker-proxy)
top_srcdir=$P/src
top_builddir=$P/src
RDIND_E2E_USER=rdind-e2e
export RDIND ROTKIT RDIND_DOCKER_PROXY top_srcdir top_builddir RDIND_E2E_USER

say "# guest: kernel $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), PID 1 is $(cat /proc/1/comm), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
say "# guest: $(dockerd --version 2>/dev/null), rdind at $RDIND"
LOGS=/var/log/rdind-vm
mkdir -p "$LOGS"
while read -r s; do
    [ -n "$s" ] || continue
    name=${s##*/}
    say "begin $name uptime=$(cut -d' ' -f1 /proc/uptime)"
    # Each script has a bound of its own, so one that hangs still lets the
    # next ones report.
    timeout -k 10 "${RDIND_VM_SCRIPT_TIMEOUT:-600}" bash "$P/$s" </dev/null 2>&1 | tee "$LOGS/$name.log" |
        grep --line-buffered -E '^(ok |not ok |FAIL|SKIP|# )' | sed -u 's/^/RDIND-VM: /'
    rc=${PIPESTATUS[0]}
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        [ "$rc" = 124 ] && say "FAIL: $name timed out after ${RDIND_VM_SCRIPT_TIMEOUT:-600} s"
        tail -n "${RDIND_VM_LOG_LINES:-80}" "$LOGS/$name.log" | sed 's/^/RDIND-VM: | /'
    fi
    say "end $name rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
done <"$P/scripts.list"
say "done uptime=$(cut -d' ' -f1 /proc/uptime)"
