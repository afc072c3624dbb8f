# Helpers for the guest scripts (tests/vm/guest-*.sh), sourced after
# tests/e2e/lib.sh.  They run inside the cgroup v2 guest as root (see
# entry.sh), where the e2e library works as on the host: RDIND_E2E_USER is
# the guest's rdind-e2e (uid 1000, subordinate ids 100000-165535).

# docker_checks WHO : through the TLS endpoint of $DOCKER_HOST, the daemon
# answers, runs a container of a busybox image imported here (the guest has
# no network), and says which cgroup driver it uses.  The resource-limit
# figures are printed as comments (# limits: ...), not judged: enforcing
# them is issue 20's second item.
docker_checks () {
    local who=$1 info mem rc
    check "$who: docker version through the TLS endpoint" timeout 60 docker version
    # What the daemon says first: printed even when a run fails below.
    info=$(timeout 60 docker info --format '{{.CgroupDriver}} {{.CgroupVersion}}' 2>/dev/null)
    echo "# limits: $who: docker info: Cgroup Driver: ${info% *}, Cgroup Version: ${info#* }"
    timeout 60 docker info 2>&1 | grep -i 'warning' | sed "s/^/# limits: $who: docker info: /"
    import_busybox bb
    check "$who: docker run --rm bb true" timeout 120 docker run --rm bb true
    # A 100 MB buffer that dd fills: killed (137) where --memory 32m holds.
    rc=0
    mem=$(timeout 120 docker run --rm --memory 32m --memory-swap 32m bb \
        sh -c 'cat /sys/fs/cgroup/memory.max 2>/dev/null || echo none; dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null && echo survived' 2>&1) || rc=$?
    echo "# limits: $who: --memory 32m: exit $rc, memory.max in the container: $(echo "$mem" | head -1), 100 MB allocation: $(echo "$mem" | grep -q survived && echo 'survived (not enforced)' || echo 'killed (enforced)')"
    check "$who: the endpoint still answers after that container's run" timeout 60 docker version
    rc=0
    mem=$(timeout 120 docker run --rm --pids-limit 10 bb sh -c 'cat /sys/fs/cgroup/pids.max 2>/dev/null || echo none' 2>&1) || rc=$?
    echo "# limits: $who: --pids-limit 10: exit $rc, pids.max in the container: $mem"
}

# service_props : the [Service] settings of contrib/rdind.service that shape
# how the sidecar runs (as -p ARGs for systemd-run), so that the guest runs
# the shipped unit's way: KillMode, TimeoutStopSec, Delegate, CPUAccounting,
# OOMPolicy (cgroup2-vm.sh puts the unit in the payload).
service_props () {
    [ -r "$top_srcdir/contrib/rdind.service" ] || fail "contrib/rdind.service is not in the payload"
    sed -n '/^\[Service\]/,/^\[/s/^\(KillMode\|TimeoutStopSec\|Delegate\|CPUAccounting\|OOMPolicy\)=\(.*\)/-p \1=\2/p' \
        "$top_srcdir/contrib/rdind.service"
}
