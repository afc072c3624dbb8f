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
#
# Sides, interleaved in each of the N rounds:
#   rdind launch                   the host's dockerd 20.10
#   rootlesskit 1.1                the host's dockerd-rootless.sh, rootlesskit
#                                  1.1 + dockerd 20.10 (BENCH_ANCHOR11=0: out)
#   rdind launch, dockerd 26       from Debian 13's root (bench/lib-anchor.sh)
#   rootlesskit 2.0 (a) / (b)      Debian 13's rootlesskit 2.0.2 + dockerd
#                                  26.1.5, docker:dind-rootless's setup (a)
#                                  and dockerd-rootless.sh's defaults (b)
#                                  (BENCH_ANCHOR13=0: these three out)
. "${top_srcdir:-$(dirname "$0")/..}/tests/e2e/lib.sh"
. "$top_srcdir/bench/lib-anchor.sh"

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
    # RUN=anchor13_as_user: in Debian 13's root, against its dockerd 26.
    local st=$U/r$1${RUN:+-13} t0 t1 rss pid
    mkdir -p "$st" && chown "$E2E_USER": "$st"
    t0=$(now_ms)
    RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$st/s RDIND_LAUNCHER_DATA_ROOT=$st/data RDIND_LAUNCHER_STORAGE_DRIVER=overlay2" \
        ${RUN:-as_user} "$RDIND" launch >"$st/launch.log" 2>&1 &
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

# run_anchor13 SETUP INDEX: Debian 13's dockerd-rootless.sh (lib-anchor.sh).
run_anchor13 () {
    local st=$U/k$2-$1 t0 t1 rss
    t0=$(now_ms)
    anchor13_start "$1" "$st"
    wait_for 60 docker version || fail "rootlesskit 2.0 $1 run $2 not ready (see $st/log)"
    t1=$(now_ms)
    rss="$(sum_kib VmRSS status) $(sum_kib Pss smaps_rollup) $(own_names)"
    anchor13_stop
    echo "$(( t1 - t0 )) $rss"
}

[ "${BENCH_ANCHOR13:-1}" = 0 ] || anchor13_root
sides=("rdind launch")
[ "${BENCH_ANCHOR11:-1}" = 0 ] || sides+=("rootlesskit 1.1")
[ "${BENCH_ANCHOR13:-1}" = 0 ] || sides+=("rdind launch, dockerd 26" "rootlesskit 2.0 (a)" "rootlesskit 2.0 (b)")
side_file () { echo "$T/$(echo "$1" | tr -c 'a-z0-9\n' _).txt"; }
for i in $(seq "$N"); do
    for s in "${sides[@]}"; do
        case $s in
            "rdind launch") run_rdind "$i" ;;
            "rootlesskit 1.1") run_rootlesskit "$i" ;;
            "rdind launch, dockerd 26") RUN=anchor13_as_user run_rdind "$i" ;;
            "rootlesskit 2.0 (a)") run_anchor13 dind "$i" ;;
            "rootlesskit 2.0 (b)") run_anchor13 default "$i" ;;
        esac >>"$(side_file "$s")"
    done
done
printf '\n%-30s %16s %16s %16s\n' "launcher ($N runs, median)" "ready (ms)" "own RSS (KiB)" "own PSS (KiB)"
rng () { cut -d' ' -f"$1" "$f" | sort -n | sed -n '1p;$p' | paste -sd- ; }   # min-max
for s in "${sides[@]}"; do
    f=$(side_file "$s")
    printf '%-30s %16s %16s %16s\n' "$s" "$(cut -d' ' -f1 "$f" | median) ($(rng 1))" \
        "$(cut -d' ' -f2 "$f" | median)" "$(cut -d' ' -f3 "$f" | median)"
    eval "ready_$(echo "$s" | tr -c 'a-z0-9\n' _)=$(cut -d' ' -f1 "$f" | median)"
done
echo "own processes counted: $(for s in "${sides[@]}"; do printf '%s: %s; ' "$s" "$(tail -1 "$(side_file "$s")" | cut -d' ' -f4)"; done)"
# ready ratios: rdind against each anchor with the same dockerd.
ratio () { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { if (a > 0 && b > 0) printf "ready ratio %s: %.2fx (target <= 1.0x)\n", n, a / b }'; }
ratio "${ready_rdind_launch:-0}" "${ready_rootlesskit_1_1:-0}" "rdind / rootlesskit 1.1 (dockerd 20.10 both)"
ratio "${ready_rdind_launch__dockerd_26:-0}" "${ready_rootlesskit_2_0__a_:-0}" "rdind / rootlesskit 2.0 (a) (dockerd 26 both)"
ratio "${ready_rdind_launch__dockerd_26:-0}" "${ready_rootlesskit_2_0__b_:-0}" "rdind / rootlesskit 2.0 (b) (dockerd 26 both)"
awk -v m="$(cut -d' ' -f2 "$(side_file "rdind launch")" | median)" 'BEGIN { printf "rdind own RSS: %.2f MiB (target <= 2 MiB)\n", m / 1024 }'
