#!/bin/bash
# The guest is what the cgroup v2 tier promises: systemd as PID 1, the
# unified hierarchy with the memory, pids and cpu controllers, a logind
# whose user@.service delegates them, and the build under test installed
# (`rdind doctor` runs; its lines are printed as comments).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/vm/guest-lib.sh"

require_root
check "PID 1 is systemd" test "$(cat /proc/1/comm)" = systemd
check "/sys/fs/cgroup is cgroup2 (unified hierarchy)" test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs
for c in memory pids cpu; do
    check "controller $c is available at the root" grep -qw "$c" /sys/fs/cgroup/cgroup.controllers
done
check "user@.service delegates (Delegate=yes or a controller list)" \
    sh -c "systemctl show -p Delegate user@1000.service | grep -q 'Delegate=yes'"
check "the rootful docker.service is masked" sh -c "[ \"\$(systemctl is-enabled docker.service 2>&1)\" = masked ]"
check "rdind is installed from the build under test" test -x "$RDIND"
ensure_test_user
fix_tun
U=$T/u
mkdir -p "$U" && chown "$E2E_USER": "$U"
rc=0
as_user env RDIND_LAUNCHER_STATE_DIR="$U/s" RDIND_LAUNCHER_DATA_ROOT="$U/data" "$RDIND" doctor >"$T/doctor.out" 2>&1 || rc=$?
sed 's/^/# doctor (as the user): /' "$T/doctor.out"
check "rdind doctor (as the user) exits 0 here" test "$rc" = 0
check "rdind doctor has a cgroup line" grep -qi cgroup "$T/doctor.out"
