#!/bin/bash
# bench-launch.sh [N]: ready time and own memory of `rdind launch` against
# dockerd-rootless.sh (rootlesskit + slirp4netns), side by side, same user,
# same storage driver (overlay2 on fresh data roots).  Run as root from a
# build tree (RDIND / top_builddir as for the tests).  Prints a table.
#
# ready = from start until `docker version` answers on the daemon's socket.
# own RSS = resident memory of the launcher's own processes once ready:
#   rdind: rdind + rdind-init;  rootlesskit: its parent process(es)
#   (dockerd, containerd, slirp4netns excluded on both sides).
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"

N=${1:-5}
require_cmd docker dockerd slirp4netns rootlesskit
ROOTLESS_SH=$(command -v dockerd-rootless.sh || echo /usr/share/docker.io/contrib/dockerd-rootless.sh)
[ -x "$ROOTLESS_SH" ] || skip "dockerd-rootless.sh not found"
ensure_test_user
fix_tun
on_exit kill_user_procs
kill_user_procs   # a clean start: nothing of the bench user may run already
U=$T/u
mkdir -p "$U" && chown "$E2E_USER": "$U"

rss_kib () { # sum of VmRSS of the user's processes named $@
    local total=0 pid n v
    for n in "$@"; do
        for pid in $(pgrep -u "$E2E_USER" -x "$n"); do
            v=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status 2>/dev/null)
            total=$(( total + ${v:-0} ))
        done
    done
    echo "$total"
}
pss_kib () { # proportional share (shared library pages split among users)
    local total=0 pid n v
    for n in "$@"; do
        for pid in $(pgrep -u "$E2E_USER" -x "$n"); do
            v=$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup 2>/dev/null)
            total=$(( total + ${v:-0} ))
        done
    done
    echo "$total"
}
now_ms () { echo $(( $(date +%s%N) / 1000000 )); }
median () { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

run_rdind () { # $1 = run index; prints "ready_ms rss_kib"
    local st=$U/r$1 t0 t1 rss pid
    mkdir -p "$st" && chown "$E2E_USER": "$st"
    t0=$(now_ms)
    RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$st/s RDIND_LAUNCHER_DATA_ROOT=$st/data RDIND_LAUNCHER_STORAGE_DRIVER=overlay2" \
        as_user "$RDIND" launch >"$st/launch.log" 2>&1 &
    wait_for 60 docker -H "unix://$st/s/docker.sock" version || fail "rdind run $1 not ready (see $st/launch.log)"
    t1=$(now_ms)
    rss="$(rss_kib rdind rdind-init) $(pss_kib rdind rdind-init)"
    pid=$(pgrep -o -u "$E2E_USER" -x rdind)
    kill -TERM "$pid"; wait_for 30 sh -c "! pgrep -u $E2E_USER >/dev/null"
    echo "$(( t1 - t0 )) $rss"
}

run_rootlesskit () {
    local st=$U/k$1 t0 t1 rss
    mkdir -p "$st/run" && chown -R "$E2E_USER": "$st" && chmod 700 "$st/run"
    t0=$(now_ms)
    setpriv --reuid="$E2E_UID" --regid="$(id -g "$E2E_USER")" --init-groups -- \
        env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$E2E_HOME" USER="$E2E_USER" \
        XDG_RUNTIME_DIR="$st/run" "$ROOTLESS_SH" --data-root="$st/data" --storage-driver=overlay2 \
        >"$st/log" 2>&1 &
    wait_for 60 docker -H "unix://$st/run/docker.sock" version || fail "rootlesskit run $1 not ready (see $st/log)"
    t1=$(now_ms)
    rss="$(rss_kib rootlesskit) $(pss_kib rootlesskit)"
    pkill -TERM -u "$E2E_USER" -x rootlesskit; wait_for 30 sh -c "! pgrep -u $E2E_USER >/dev/null"
    echo "$(( t1 - t0 )) $rss"
}

for i in $(seq "$N"); do
    run_rdind "$i" >>"$T/rdind.txt"
    run_rootlesskit "$i" >>"$T/rk.txt"
done
r_ready=$(cut -d' ' -f1 "$T/rdind.txt" | median); r_rss=$(cut -d' ' -f2 "$T/rdind.txt" | median)
k_ready=$(cut -d' ' -f1 "$T/rk.txt" | median); k_rss=$(cut -d' ' -f2 "$T/rk.txt" | median)
r_pss=$(cut -d' ' -f3 "$T/rdind.txt" | median); k_pss=$(cut -d' ' -f3 "$T/rk.txt" | median)
printf '\n%-34s %12s %16s %16s\n' "launcher ($N runs, median)" "ready (ms)" "own RSS (KiB)" "own PSS (KiB)"
printf '%-34s %12s %16s %16s\n' "rdind launch" "$r_ready" "$r_rss" "$r_pss"
printf '%-34s %12s %16s %16s\n' "dockerd-rootless.sh (rootlesskit)" "$k_ready" "$k_rss" "$k_pss"
awk -v a="$r_ready" -v b="$k_ready" -v m="$r_rss" 'BEGIN {
    printf "ready ratio rdind/rootlesskit: %.2fx (target <= 1.0x)\n", a / b;
    printf "rdind own RSS: %.2f MiB (target <= 2 MiB)\n", m / 1024 }'
