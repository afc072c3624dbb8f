#!/bin/bash
# bench-launch.sh [N]: ready time and own memory of `rdind launch` against
# dockerd-rootless.sh (rootlesskit + slirp4netns), side by side, same user,
# same storage driver (overlay2 on fresh data roots).  Run as root from a
# build tree (RDIND / top_builddir as for the tests).  Prints a table.
#
# ready = from start until `docker version` answers on the daemon's socket.
# own RSS = resident memory of the launcher's own processes once ready: every
#   process of the bench account except dockerd's (dockerd, containerd,
#   containerd-shim, runc, docker-proxy) and slirp4netns, whatever its name
#   (rdind: rdind-launch + rdind-init; rootlesskit: its parent and child).
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

own_pids () { # the launcher's own processes (see above), pid:name[/program when it differs]
    local pid n e
    for pid in $(pgrep -u "$E2E_USER"); do
        n=$(cat /proc/$pid/comm 2>/dev/null) || continue
        case $n in dockerd|containerd|containerd-shim*|runc|docker-proxy|slirp4netns) continue ;; esac
        e=$(basename "$(readlink /proc/$pid/exe 2>/dev/null)")
        [ -z "$e" ] || [ "$e" = "$n" ] || n="$n/$e"
        echo "$pid:$n"
    done
}
sum_kib () { # $1 = field of /proc/PID/$2 (VmRSS of status, Pss of smaps_rollup), over own_pids
    local total=0 p v
    for p in $(own_pids); do
        v=$(awk -v f="$1:" '$1 == f {print $2}' /proc/${p%%:*}/$2 2>/dev/null)
        total=$(( total + ${v:-0} ))
    done
    echo "$total"
}
own_names () { own_pids | cut -d: -f2 | sort | uniq -c | awk '{printf "%s%s", (NR>1 ? "+" : ""), ($1>1 ? $1"x" : "") $2}'; }
median () { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

run_rdind () { # $1 = run index; prints "ready_ms rss_kib pss_kib names"
    local st=$U/r$1 t0 t1 rss pid
    mkdir -p "$st" && chown "$E2E_USER": "$st"
    t0=$(now_ms)
    RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$st/s RDIND_LAUNCHER_DATA_ROOT=$st/data RDIND_LAUNCHER_STORAGE_DRIVER=overlay2" \
        as_user "$RDIND" launch >"$st/launch.log" 2>&1 &
    wait_for 60 docker -H "unix://$st/s/docker.sock" version || fail "rdind run $1 not ready (see $st/launch.log)"
    t1=$(now_ms)
    rss="$(sum_kib VmRSS status) $(sum_kib Pss smaps_rollup) $(own_names)"
    pid=$(pgrep -o -u "$E2E_USER" -x rdind-launch)
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
    rss="$(sum_kib VmRSS status) $(sum_kib Pss smaps_rollup) $(own_names)"
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
echo "own processes counted: rdind $(tail -1 "$T/rdind.txt" | cut -d' ' -f4); rootlesskit $(tail -1 "$T/rk.txt" | cut -d' ' -f4)"
awk -v a="$r_ready" -v b="$k_ready" -v m="$r_rss" 'BEGIN {
    printf "ready ratio rdind/rootlesskit: %.2fx (target <= 1.0x)\n", a / b;
    printf "rdind own RSS: %.2f MiB (target <= 2 MiB)\n", m / 1024 }'
