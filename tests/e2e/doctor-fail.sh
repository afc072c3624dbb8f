#!/bin/bash
# rdind doctor: OK on a good setup; FAIL with the right one-line fix for a
# user without subordinate ids, for an unopenable /dev/net/tun, for no
# cgroup file system within reach and for a slirp4netns that cannot run;
# --json.  launch refuses or fails saying the same, and a slirp4netns that
# dies at once is reported as exited (status, stderr), not as slow.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_cmd python3 useradd userdel
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

U=$T/u
mkdir -p "$U" && chown "$E2E_USER": "$U"
RDIND_TEST_ENV="RDIND_LAUNCHER_STATE_DIR=$U/s RDIND_LAUNCHER_DATA_ROOT=$U/data"
on_exit kill_user_procs

rc=0; as_user "$RDIND" doctor >"$T/ok.out" 2>&1 || rc=$?
cat "$T/ok.out"
[ "$rc" = 0 ] || fail "doctor exit $rc on a working setup"
grep -q '^OK   userns' "$T/ok.out" && grep -q '^OK   newuidmap' "$T/ok.out" || fail "doctor OK lines"
pass "doctor passes on a working setup"

as_user "$RDIND" doctor --json >"$T/ok.json" 2>&1 || fail "doctor --json exit"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert all(set(x)=={"check","status","detail","fix"} for x in d); assert not [x for x in d if x["status"]=="FAIL"]' "$T/ok.json" \
    || { cat "$T/ok.json"; fail "doctor --json is not the expected JSON"; }
pass "doctor --json"

# A user without subordinate ids.
NOSUB=rdind-e2e-nosub
id "$NOSUB" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$NOSUB" || fail "useradd $NOSUB"
on_exit "userdel -r $NOSUB"
sed -i "/^$NOSUB:/d" /etc/subuid /etc/subgid
NUID=$(id -u "$NOSUB")
mkdir -p "$T/n" && chown "$NOSUB": "$T/n"
rc=0
setpriv --reuid="$NUID" --regid="$(id -g "$NOSUB")" --init-groups -- env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    HOME="$(getent passwd "$NOSUB" | cut -d: -f6)" USER="$NOSUB" RDIND_LAUNCHER_STATE_DIR="$T/n/s" \
    RDIND_LAUNCHER_DATA_ROOT="$T/n/data" "$RDIND" doctor >"$T/nosub.out" 2>&1 || rc=$?
cat "$T/nosub.out"
[ "$rc" = 1 ] || fail "doctor exit $rc for a user without subordinate ids (want 1)"
grep -q "^FAIL subuid .*no subuid range for user $NOSUB" "$T/nosub.out" || fail "no subuid FAIL line"
grep -q "fix: usermod --add-subuids .* $NOSUB" "$T/nosub.out" || fail "no usermod fix for subuid"
grep -q "fix: usermod --add-subgids .* $NOSUB" "$T/nosub.out" || fail "no usermod fix for subgid"
pass "doctor: FAIL + usermod fix for a user without subordinate ids"
# The advised range is free: it overlaps no range of /etc/subuid or /etc/subgid.
range=$(sed -n "s/.*fix: usermod --add-subuids \([0-9]*\)-\([0-9]*\) .*/\1 \2/p" "$T/nosub.out" | head -1)
[ -n "$range" ] || fail "no range in the subuid fix"
read -r lo hi <<<"$range"
[ $((hi - lo + 1)) = 65536 ] || fail "the advised range $lo-$hi is not 65536 ids"
overlap=$(cat /etc/subuid /etc/subgid | awk -F: -v lo="$lo" -v hi="$hi" \
    '$2 ~ /^[0-9]+$/ && $2 <= hi && $2 + $3 - 1 >= lo {print}')
[ -z "$overlap" ] || fail "the advised range $lo-$hi overlaps: $overlap"
pass "doctor advises a free range ($lo-$hi) that overlaps no account's"
rc=0
setpriv --reuid="$NUID" --regid="$(id -g "$NOSUB")" --init-groups -- env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    HOME=/ USER="$NOSUB" RDIND_LAUNCHER_STATE_DIR="$T/n/s" RDIND_LAUNCHER_DATA_ROOT="$T/n/data" \
    "$RDIND" launch >"$T/nosub-launch.out" 2>&1 || rc=$?
cat "$T/nosub-launch.out"
[ "$rc" = 3 ] && grep -q "usermod --add-subuids" "$T/nosub-launch.out" || fail "launch without subids: exit $rc, no fix"
grep -q "check(s), [1-9][0-9]* FAIL" "$T/nosub-launch.out" || fail "launch does not print the doctor report on a missing requirement"
pass "launch refuses a user without subordinate ids, naming the fix"

# The same user with a range too small for dockerd's images (1000 ids).
on_exit "sed -i '/^$NOSUB:/d' /etc/subuid /etc/subgid"
echo "$NOSUB:900000:1000" >> /etc/subuid
echo "$NOSUB:900000:1000" >> /etc/subgid
as_nosub () {
    setpriv --reuid="$NUID" --regid="$(id -g "$NOSUB")" --init-groups -- env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin \
        HOME=/ USER="$NOSUB" RDIND_LAUNCHER_STATE_DIR="$T/n/s" RDIND_LAUNCHER_DATA_ROOT="$T/n/data" "$RDIND" "$@"
}
rc=0; as_nosub doctor >"$T/few.out" 2>&1 || rc=$?
cat "$T/few.out"
[ "$rc" = 1 ] && grep -q "^FAIL subuid .*has 1000 ids, 65536 needed" "$T/few.out" || fail "doctor: no FAIL for a 1000-id range (exit $rc)"
rc=0; as_nosub launch >"$T/few-launch.out" 2>&1 || rc=$?
cat "$T/few-launch.out"
[ "$rc" = 3 ] && grep -q "only 1000 ids; dockerd's images need 65536" "$T/few-launch.out" || fail "launch with 1000 ids: exit $rc, no message"
pass "a range of fewer than 65536 ids: doctor FAILs and launch refuses, saying so"
sed -i "/^$NOSUB:/d" /etc/subuid /etc/subgid

# An unopenable /dev/net/tun (restored by fix_tun on exit).
on_exit "chmod 666 /dev/net/tun"
chmod 600 /dev/net/tun
rc=0; as_user "$RDIND" doctor >"$T/tun.out" 2>&1 || rc=$?
cat "$T/tun.out"
[ "$rc" = 1 ] || fail "doctor exit $rc with /dev/net/tun 0600 (want 1)"
grep -q '^FAIL tun .*Permission denied' "$T/tun.out" || fail "no tun FAIL line"
grep -q 'fix: chmod 0666 /dev/net/tun' "$T/tun.out" || fail "no chmod fix for tun"
pass "doctor: FAIL + chmod fix for an unopenable /dev/net/tun"
rc=0; as_user "$RDIND" launch >"$T/tun-launch.out" 2>&1 || rc=$?
cat "$T/tun-launch.out"
[ "$rc" = 3 ] && grep -q "chmod 0666 /dev/net/tun" "$T/tun-launch.out" || fail "launch with tun 0600: exit $rc, no fix"
pass "launch refuses an unopenable /dev/net/tun, naming the fix"
# The same with a user namespace prepared the way rdind sidecar hands it
# over (RDIND_USERNS_FD): the report must not send the user after
# subordinate ids or newuidmap, which that path does not use.
as_user unshare --user --map-root-user sleep 60 &
HOLDER=$!
on_exit "kill $HOLDER; pkill -u $E2E_USER -x sleep"
wait_for 5 pgrep -u "$E2E_USER" -x sleep || fail "no user namespace holder"
NSPID=$(pgrep -u "$E2E_USER" -x sleep | head -1)
[ "$(readlink /proc/$NSPID/ns/user)" != "$(readlink /proc/self/ns/user)" ] || fail "no user namespace to hand over"
rc=0; RDIND_TEST_ENV="RDIND_USERNS_FD=3" as_user "$RDIND" launch 3</proc/"$NSPID"/ns/user >"$T/tun-prep.out" 2>&1 || rc=$?
cat "$T/tun-prep.out"
[ "$rc" = 3 ] && grep -q "chmod 0666 /dev/net/tun" "$T/tun-prep.out" || fail "prepared userns, tun 0600: exit $rc, no fix"
grep -q '^OK   idmap .*newuidmap/newgidmap are not used' "$T/tun-prep.out" || fail "prepared userns: no 'idmap not used' line"
! grep -qE '^(FAIL|WARN) (subuid|subgid|newuidmap|newgidmap)' "$T/tun-prep.out" || fail "prepared userns: report still checks subordinate ids / newuidmap"
pass "prepared user namespace: the report skips subordinate ids and newuidmap"
chmod 666 /dev/net/tun

# launcher.net = pasta: the doctor checks pasta instead of slirp4netns, and
# a missing pasta is a FAIL with the package to install, from doctor and
# from launch alike.
rc=0; RDIND_TEST_ENV="$RDIND_TEST_ENV RDIND_LAUNCHER_NET=pasta" as_user "$RDIND" doctor >"$T/pasta.out" 2>&1 || rc=$?
check "net = pasta: doctor checks pasta (exit $rc)" sh -c "[ $rc = 0 ] && grep -q '^OK   pasta' '$T/pasta.out' && ! grep -q '^[A-Z]* *slirp4netns' '$T/pasta.out'"
# pasta's egress stalls below a 16 MiB ceiling of net.ipv4.tcp_wmem (README,
# "Published ports"): doctor reads it in the network namespace it runs in,
# here one of the test's own where the test sets it (the host's stays).
NSW=rdw$$
ip netns add "$NSW" || fail "ip netns add"
on_exit "ip netns del $NSW"
for max in 4194304 16777216; do
    ip netns exec "$NSW" sysctl -q -w net.ipv4.tcp_wmem="4096 16384 $max" || fail "tcp_wmem in $NSW"
    AS_USER_WRAP="ip netns exec $NSW" RDIND_TEST_ENV="$RDIND_TEST_ENV RDIND_LAUNCHER_NET=pasta" \
        as_user "$RDIND" doctor >"$T/wmem-$max.out" 2>&1
done
check "net = pasta, tcp_wmem ceiling 4 MiB: doctor WARNs with the sysctl and slirp4netns as fixes" sh -c \
    "grep -q '^WARN tcp_wmem .*maximum at 4194304' '$T/wmem-4194304.out' && grep -q \"fix: .*sysctl -w net.ipv4.tcp_wmem='4096 16384 16777216'.*slirp4netns\" '$T/wmem-4194304.out'"
check "net = pasta, tcp_wmem ceiling 16 MiB: doctor says OK" grep -q '^OK   tcp_wmem .*16777216' "$T/wmem-16777216.out"
rc=0; RDIND_TEST_ENV="$RDIND_TEST_ENV RDIND_LAUNCHER_NET=pasta RDIND_LAUNCHER_PASTA=/nonexistent/pasta" \
    as_user "$RDIND" doctor >"$T/nopasta.out" 2>&1 || rc=$?
check "net = pasta, no pasta: doctor FAILs with the fix (exit $rc)" sh -c \
    "[ $rc = 1 ] && grep -q '^FAIL pasta .*/nonexistent/pasta not found' '$T/nopasta.out' && grep -q 'fix: apt-get install passt' '$T/nopasta.out'"
rc=0; RDIND_TEST_ENV="$RDIND_TEST_ENV RDIND_LAUNCHER_NET=pasta RDIND_LAUNCHER_PASTA=/nonexistent/pasta" \
    as_user "$RDIND" launch >"$T/nopasta-launch.out" 2>&1 || rc=$?
check "net = pasta, no pasta: launch refuses, naming the package (exit $rc)" sh -c \
    "[ $rc != 0 ] && grep -q 'install passt' '$T/nopasta-launch.out'"

# No cgroup file system within reach: a fresh sysfs on /sys, in a user,
# mount and network namespace of the test user's own, hides the host's
# cgroup mounts (their lines stay in mountinfo, their mount points are gone:
# what runc then meets at every `docker run`).  The user is uid 1000 of a
# nested namespace, not its root (launch refuses root).
nocgroup () {
    as_user unshare --user --map-root-user --mount --net sh -c \
        'mount -t sysfs sysfs /sys && exec unshare --user --map-user=1000 --map-group=1000 "$0" "$@"' "$@"
}
rc=0; nocgroup "$RDIND" doctor >"$T/nocg.out" 2>&1 || rc=$?
cat "$T/nocg.out"
check "no cgroup mounted: doctor FAILs (not 'cgroup v1'), naming docker run's error and the mount fix (exit $rc)" sh -c \
    "[ $rc = 1 ] && grep -q '^FAIL cgroup .*no cgroup file system is mounted.*no cgroup mount found in mountinfo' '$T/nocg.out' \
     && grep -q 'fix: .*mount -t cgroup2' '$T/nocg.out' && ! grep -q '^WARN cgroup .*cgroup v1' '$T/nocg.out'"
rc=0; nocgroup "$RDIND" launch >"$T/nocg-launch.out" 2>&1 || rc=$?
cat "$T/nocg-launch.out"
check "no cgroup mounted: launch refuses (exit 3: not restarted), saying why and how to fix (exit $rc)" sh -c \
    "[ $rc = 3 ] && grep -q 'no cgroup file system is mounted on /sys/fs/cgroup.*mount -t cgroup2' '$T/nocg-launch.out'"
as_user "$RDIND" doctor >"$T/cg-host.out" 2>&1
check "the host's own cgroups are no FAIL" sh -c "grep -q '^\(OK\|WARN\) cgroup ' '$T/cg-host.out'"

# A slirp4netns whose process dies at once: launch says it exited, with its
# status and the end of its stderr, not that it "did not become ready".
cat >"$T/slirp-dies" <<'SH'
#!/bin/sh
case "${1:-}" in --help|--version) echo "slirp4netns version 1.2.0"; exit 0 ;; esac
echo "slirp-dies: cannot open tap0: simulated failure" >&2
exit 7
SH
chmod 755 "$T/slirp-dies"
ts=$(date +%s)
rc=0; RDIND_TEST_ENV="$RDIND_TEST_ENV RDIND_LAUNCHER_SLIRP4NETNS=$T/slirp-dies" \
    as_user timeout 60 "$RDIND" launch >"$T/slirp-dies.out" 2>&1 || rc=$?
secs=$(( $(date +%s) - ts ))
cat "$T/slirp-dies.out"
check "slirp4netns dies at once: launch fails (exit $rc) within 8 s ($secs s), no 10 s wait" \
    sh -c "[ $rc != 0 ] && [ $rc != 124 ] && [ $secs -lt 8 ]"
check "... and its log says it exited with status 7, with its stderr" \
    grep -q "slirp4netns ($T/slirp-dies) exited with status 7 during setup: \`slirp-dies: cannot open tap0: simulated failure\`" "$T/slirp-dies.out"
check "... and not that it did not become ready" sh -c "! grep -q 'did not become ready' '$T/slirp-dies.out'"
# One that cannot even start (here: prints and fails at --version too, as a
# binary missing its libraries does): doctor FAILs on it.
printf '#!/bin/sh\necho "slirp4netns: error while loading shared libraries: libslirp.so.0" >&2\nexit 127\n' >"$T/slirp-broken"
chmod 755 "$T/slirp-broken"
rc=0; RDIND_TEST_ENV="$RDIND_TEST_ENV RDIND_LAUNCHER_SLIRP4NETNS=$T/slirp-broken" \
    as_user "$RDIND" doctor >"$T/slirp-broken.out" 2>&1 || rc=$?
cat "$T/slirp-broken.out"
check "a slirp4netns that cannot run: doctor FAILs with its status and message (exit $rc)" sh -c \
    "[ $rc = 1 ] && grep -q '^FAIL slirp4netns .*--version exited with status 127: .*libslirp.so.0' '$T/slirp-broken.out' \
     && grep -q 'fix: apt-get install slirp4netns' '$T/slirp-broken.out'"
