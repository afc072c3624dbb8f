#!/bin/bash
# The cgroup v2 tier: a Debian 13 guest (systemd, cgroup v2, dockerd 26.1)
# booted under QEMU's software emulation, since these hosts mount cgroup v1
# and their /dev/kvm cannot boot a stock kernel.  tests/vm/image.sh builds
# and caches the guest image; this test puts `make install` of the build
# under test and the guest scripts (tests/vm/guest-*.sh) on a second disk,
# boots, and turns every check the guest prints on its serial console into
# a check of its own here.  A guest kernel panic (TCG hits one boot in
# eight or so) or a run that ends without the end marker is retried once.
#
#   RDIND_VM_SCRIPTS="tests/vm/guest-cgroup2.sh ..."  the guest scripts (paths
#                      from the source tree, or absolute); default: every
#                      tests/vm/guest-*.sh
#   RDIND_VM_TIMEOUT   bound on one boot, seconds (default 900)
#   RDIND_VM_TRIES     boots before giving up (default 2)
#   RDIND_VM_IMAGE     boot this image directory instead of image.sh's
#   RDIND_VM_CONSOLE   keep the serial console log in this file
#   RDIND_VM_LIVE=1    print the guest's lines as they come, too
# tests/vm/run.sh is the quick way to run one guest script.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
command -v qemu-system-x86_64 >/dev/null || skip "missing qemu-system-x86_64 (apt-get install qemu-system-x86)"
command -v debootstrap >/dev/null || skip "missing debootstrap"
require_cmd mkfs.ext4 timeout make
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

t_start=$(date +%s)
step () { echo "# [$(( $(date +%s) - t_start ))s] $*"; }

# The guest image (built once: a debootstrap and a mkfs, a few minutes).
if [ -n "${RDIND_VM_IMAGE:-}" ]; then
    IMG=$RDIND_VM_IMAGE
else
    step "guest image (tests/vm/image.sh)"
    IMG=$(bash "$top_srcdir/tests/vm/image.sh" 2>"$T/image.err" | tail -1)
    sed 's/^/# /' "$T/image.err"
fi
[ -n "$IMG" ] && [ -s "$IMG/disk.img" ] || fail "tests/vm/image.sh built no image"
pass "guest image at $IMG"

# The payload: the build under test as `make install` lays it out, and the
# scripts.  rdind's compiled-in paths follow the build's prefix, so the
# guest copies the tree onto / as is.
PL=$T/payload
mkdir -p "$PL/install" "$PL/src/tests/e2e" "$PL/src/tests/vm" "$PL/src/contrib" "$PL/extra"
step "make install DESTDIR=... of $top_builddir"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install DESTDIR="$PL/install" \
    >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "make install DESTDIR=$PL/install"; }
cp "$top_srcdir"/tests/e2e/*.sh "$PL/src/tests/e2e/"
cp "$top_srcdir"/tests/vm/*.sh "$PL/src/tests/vm/"
cp "$top_srcdir/contrib/rdind.service" "$PL/src/contrib/"   # the user unit the guest runs
cp "$top_srcdir/tests/vm/entry.sh" "$PL/entry.sh"
: >"$PL/scripts.list"
if [ -n "${RDIND_VM_SCRIPTS:-}" ]; then
    for s in $RDIND_VM_SCRIPTS; do
        case $s in /*) f=$s ;; *) f=$top_srcdir/$s ;; esac
        [ -r "$f" ] || fail "RDIND_VM_SCRIPTS: no such script: $s"
        # Scripts of the tree run from their place in it (they source
        # ../e2e/lib.sh); others from extra/.
        case $(cd "$(dirname "$f")" && pwd)/ in
            "$(cd "$top_srcdir" && pwd)"/tests/*) rel=src/${f#"$top_srcdir"/}; cp "$f" "$PL/$rel" ;;
            *) rel=extra/$(basename "$f"); cp "$f" "$PL/$rel" ;;
        esac
        echo "$rel" >>"$PL/scripts.list"
    done
else
    for f in "$top_srcdir"/tests/vm/guest-*.sh; do echo "src/tests/vm/$(basename "$f")" >>"$PL/scripts.list"; done
fi
{
    echo "RDIND_VM_SCRIPT_TIMEOUT=${RDIND_VM_SCRIPT_TIMEOUT:-600}"
} >"$PL/env"
chmod -R a+rX "$PL"
mkfs.ext4 -q -F -L rdind-payload -d "$PL" "$T/payload.img" 256M || fail "mkfs.ext4 -d of the payload"
pass "payload disk with the build under test and $(wc -l <"$PL/scripts.list") guest script(s)"

# boot LOG : one run of the guest; the serial console goes to LOG and its
# RDIND-VM lines to stdout as they come.  Returns QEMU's status (124: the
# timeout struck).
boot () {
    local log=$1 qpid tpid= rc
    : >"$log"
    # -snapshot: the cached image stays untouched (writes go to a temporary
    # overlay).  panic=1 + -no-reboot: a guest panic ends QEMU at once.
    timeout -k 10 "${RDIND_VM_TIMEOUT:-900}" qemu-system-x86_64 -snapshot \
        -accel tcg,thread=multi -cpu max -m 4096 -smp 2 -nographic -no-reboot \
        -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
        -append 'root=/dev/vda rw console=ttyS0 panic=1 quiet' \
        -drive file="$IMG/disk.img",format=raw,if=virtio \
        -drive file="$T/payload.img",format=raw,if=virtio,readonly=on \
        -nic none </dev/null >"$log" 2>&1 &
    qpid=$!
    if [ -n "${RDIND_VM_LIVE:-}" ]; then
        # tests/vm/run.sh: the guest's lines as they come.
        tail -n +1 -F --pid=$qpid "$log" 2>/dev/null | tr -d '\r' | grep -a --line-buffered -o 'RDIND-VM: .*' |
            sed -u 's/^RDIND-VM: /# live: /' &
        tpid=$!
    fi
    wait "$qpid"; rc=$?
    [ -z "${tpid:-}" ] || wait "$tpid" 2>/dev/null
    return "$rc"
}

CON=$T/console.log
tries=${RDIND_VM_TRIES:-2}
n=0
while :; do
    n=$((n+1))
    step "booting the guest (try $n of $tries; bound ${RDIND_VM_TIMEOUT:-900} s)"
    b0=$(date +%s)
    rc=0; boot "$CON" || rc=$?
    b1=$(date +%s)
    [ -n "${RDIND_VM_CONSOLE:-}" ] && cp "$CON" "$RDIND_VM_CONSOLE"
    # The guest's lines, whatever terminal resets precede them on the line.
    tr -d '\r' <"$CON" | grep -a -o 'RDIND-VM: .*\|Kernel panic.*' >"$CON.clean"
    grep -q '^RDIND-VM: done' "$CON.clean" && break
    why="QEMU exited $rc without the end marker"
    [ "$rc" = 124 ] && why="the guest did not finish within ${RDIND_VM_TIMEOUT:-900} s"
    grep -q 'Kernel panic' "$CON.clean" && why="guest kernel panic: $(grep -m1 'Kernel panic' "$CON.clean")"
    echo "# try $n: $why (after $((b1 - b0)) s); last console lines:"
    tr -d '\r' <"$CON" | sed 's/\x1b\[[0-9;?!]*[a-zA-Z]//g' | tail -n 30 | sed 's/^/#   /'
    [ "$n" -lt "$tries" ] || fail "the guest run did not complete in $tries tries: $why"
done

# The guest's checks, each one of ours.
boot_up=$(sed -n 's/^RDIND-VM: boot uptime=\([0-9.]*\).*/\1/p' "$CON.clean" | head -1)
done_up=$(sed -n 's/^RDIND-VM: done uptime=\([0-9.]*\).*/\1/p' "$CON.clean" | tail -1)
nfail=0
script=
while IFS= read -r line; do
    l=${line#RDIND-VM: }
    case $l in
        "begin "*) script=${l#begin }; script=${script%% *} ;;
        "ok "*) pass "vm: ${script%.sh}: $(echo "${l#ok }" | sed 's/^[0-9]* - //')" ;;
        "not ok "*|FAIL*) echo "not ok - vm: ${script%.sh}: $l"; nfail=$((nfail+1)) ;;
        SKIP*) echo "# vm: ${script%.sh}: $l" ;;
        "end "*)
            rc=$(echo "$l" | sed -n 's/.* rc=\([0-9]*\).*/\1/p')
            case $rc in
                0) pass "vm: $script exits 0" ;;
                77) echo "# vm: $script skipped" ;;
                *) echo "not ok - vm: $script exits $rc"; nfail=$((nfail+1)) ;;
            esac ;;
        "# "*|"| "*) echo "# vm: $l" ;;
    esac
done < <(grep '^RDIND-VM: ' "$CON.clean")
total=$(( $(date +%s) - t_start ))
figure "cgroup2 guest: boot to the test unit ${boot_up:-?} s guest uptime, tests done at ${done_up:-?} s; QEMU ran $((b1 - b0)) s (try $n); whole test $total s ($(awk "BEGIN {printf \"%.1f\", $total/60}") min)"
[ "$nfail" = 0 ] || fail "$nfail guest check(s) failed (the guest's output is above)"
