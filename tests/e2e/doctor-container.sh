#!/bin/bash
# rdind doctor, for real, in unprivileged containers of an outer rootful
# dockerd of the test's own.  Each container lacks exactly one requirement of
# rdind (the others: seccomp=contrib/seccomp.json, systempaths=unconfined,
# apparmor=unconfined, a usable /dev/net/tun, newuidmap/newgidmap with file
# capabilities); doctor runs as the unprivileged user inside and must name
# the missing one with its one-line fix:
#   control: everything present -> userns, newuidmap, newgidmap, proc, tun OK;
#   a. Docker's default seccomp profile -> userns FAIL, rdind's profile or
#      seccomp=unconfined;
#   b. /proc masked (no systempaths=unconfined) -> proc FAIL,
#      systempaths=unconfined / procMount: Unmasked;
#   c. setuid-only newuidmap/newgidmap (Debian's package) without
#      CAP_SYS_ADMIN -> "write to uid_map failed", chmod u-s && setcap
#      cap_setuid+ep (cap_setgid for newgidmap); with CAP_SYS_ADMIN the same
#      binaries work (why setuid is not enough in a container); setcap without
#      chmod u-s -> chmod u-s; CAP_SETUID/CAP_SETGID dropped -> keep them;
#   d. user.max_user_namespaces=0 (set in a user namespace of the container's
#      own: the limit is per user namespace, the host's stays as it is) ->
#      userns FAIL with the sysctl.  AppArmor's
#      kernel.apparmor_restrict_unprivileged_userns and Debian's
#      kernel.unprivileged_userns_clone are host-wide switches: they are never
#      flipped here (parallel tests would break); tests/unit/test-doctor
#      covers their verdicts.
#
# The image is the debootstrapped Debian 13 base (cached, see lib-outer.sh)
# plus uidmap, rdind's libraries, the user rootless (1000) with 65536
# subordinate ids, and the rdind just built.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-outer.sh"

require_root
require_cmd dockerd containerd runc docker debootstrap tar findmnt
SECCOMP=$top_srcdir/contrib/seccomp.json
IMG=rdind-doctor-test:latest
[ -f "$SECCOMP" ] || fail "contrib/seccomp.json missing"
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"
case $(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null) in
    0) skip "kernel.unprivileged_userns_clone=0 on this host: no user namespaces to test with" ;;
esac
case $(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns 2>/dev/null) in
    1) skip "kernel.apparmor_restrict_unprivileged_userns=1 on this host: no unprivileged user namespaces" ;;
esac

# The test's dockerd leaves the host's network alone: its containers have
# no network, the image build uses the host's.
outer_start --iptables=false --ip-forward=false
outer_base_image

# ---- the image ------------------------------------------------------------------
I=$T/img
mkdir -p "$I"
cp "$RDIND" "$I/rdind"
cat >"$I/Dockerfile" <<EOF
FROM $BASE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\
      uidmap libcap2-bin libuv1t64 libssl3t64 libcap-ng0 libinih1 libjansson4 libhttp-parser2.9 \\
 && rm -rf /var/lib/apt/lists/* \\
 && chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap \\
 && setcap cap_setuid+ep /usr/bin/newuidmap \\
 && setcap cap_setgid+ep /usr/bin/newgidmap \\
 && useradd --create-home --uid 1000 --user-group --shell /bin/sh rootless \\
 && echo 'rootless:100000:65536' > /etc/subuid \\
 && echo 'rootless:100000:65536' > /etc/subgid \\
 && install -d -o rootless -g rootless -m 700 /run/user/1000
COPY rdind doctor-as-user /usr/local/bin/
ENTRYPOINT ["doctor-as-user"]
EOF
# Root's part in the container (what rdind sidecar does when it starts as
# root, plus the one change a case asks for), then doctor as rootless.
cat >"$I/doctor-as-user" <<'EOF'
#!/bin/bash
set -eu
[ "$(id -u)" = 0 ] || exec rdind doctor    # docker run --user: nothing to prepare
as_user () {
    exec setpriv --reuid=1000 --regid=1000 --init-groups env -i HOME=/home/rootless \
        USER=rootless XDG_RUNTIME_DIR=/run/user/1000 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        rdind doctor
}
if [ "${1:-}" = nested ]; then
    # Root of the nested namespace (mapped now, so this exec gave it every
    # capability there): its own limit, then the user.
    echo "$USERNS_MAX" >/proc/sys/user/max_user_namespaces
    as_user
fi
mkdir -p /dev/net
[ -c /dev/net/tun ] || mknod -m 666 /dev/net/tun c 10 200
chmod 666 /dev/net/tun
case "${IDMAP:-fcaps}" in
    fcaps) ;;
    setuid) # what Debian's uidmap package ships
        setcap -r /usr/bin/newuidmap; setcap -r /usr/bin/newgidmap
        chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap ;;
    both) # setcap without chmod u-s
        chmod u+s /usr/bin/newuidmap /usr/bin/newgidmap ;;
esac
[ -n "${USERNS_MAX:-}" ] || as_user
# A user namespace mapping the container's ids 0-199999 onto themselves,
# whose root sets its user.max_user_namespaces after the map is written.
mkfifo /tmp/mapped
unshare --user bash -c 'read -r _ </tmp/mapped && exec "$0" nested' "$0" &
pid=$!
me=$(readlink /proc/self/ns/user)
for _ in $(seq 100); do
    [ "$(readlink /proc/$pid/ns/user)" = "$me" ] || break
    sleep 0.05
done
echo "0 0 200000" >/proc/$pid/uid_map
echo "0 0 200000" >/proc/$pid/gid_map
echo go >/tmp/mapped
wait $pid
EOF
chmod 755 "$I/doctor-as-user" "$I/rdind"
step "building $IMG"
docker build --network host -t "$IMG" "$I" >"$T/build.log" 2>&1
rc=$?
dump_on_fail "$T/build.log"
check "doctor image builds" [ $rc = 0 ]
docker run --rm --network none --entrypoint sh "$IMG" -c '
    set -e
    rdind --version
    grep -q "^rootless:100000:65536$" /etc/subuid
    [ ! -u /usr/bin/newuidmap ] && getcap /usr/bin/newuidmap | grep -q "cap_setuid[=+]ep"' \
    >"$T/image-check.log" 2>&1
rc=$?
dump_on_fail "$T/image-check.log"
check "image: rdind runs, rootless has subordinate ids, newuidmap has file caps" [ $rc = 0 ]

# ---- running doctor -------------------------------------------------------------
ALL=(--security-opt "seccomp=$SECCOMP" --security-opt systempaths=unconfined
     --security-opt apparmor=unconfined)
# doctor_in NAME DOCKER-RUN-OPTIONS... : doctor's report in $T/NAME.out.
doctor_in () {
    local name=$1; shift
    step "case $name: $*"
    timeout 120 docker run --rm --network none --name "doctor-$name" "$@" "$IMG" \
        >"$T/$name.out" 2>&1
    echo "# doctor exit $?"
    sed 's/^/#   /' "$T/$name.out"
}
# line NAME CHECK : doctor's line for CHECK; fix NAME CHECK : its fix line.
line () { grep -E "^(OK|WARN|FAIL) +$2 " "$T/$1.out"; }
fix () { grep -A1 -E "^(OK|WARN|FAIL) +$2 " "$T/$1.out" | sed -n 's/^     fix: //p'; }
has_line () { line "$1" "$2" | grep -qE -- "$3"; }
has_fix () { fix "$1" "$2" | grep -qF -- "$3"; }
no_fail () { # NAME CHECK... : none of these FAIL
    local n=$1 c; shift
    for c in "$@"; do line "$n" "$c" | grep -q '^FAIL' && return 1; done
    return 0
}

# control: every requirement present.
doctor_in control "${ALL[@]}"
check "control: userns OK" has_line control userns '^OK '
check "control: newuidmap OK with file caps" has_line control newuidmap '^OK .*maps the subordinate range \(file caps\)'
check "control: newgidmap OK with file caps" has_line control newgidmap '^OK .*maps the subordinate range \(file caps\)'
check "control: proc OK" has_line control proc '^OK '
check "control: tun OK" has_line control tun '^OK '
check "control: no FAIL for userns, subids, id maps, proc, tun" \
    no_fail control userns subuid subgid newuidmap newgidmap proc tun

# a. Docker's default seccomp profile.
doctor_in seccomp-default --security-opt systempaths=unconfined --security-opt apparmor=unconfined
check "a: userns FAIL: a seccomp filter blocks unshare(CLONE_NEWUSER)" \
    has_line seccomp-default userns '^FAIL .*seccomp filter blocks unshare\(CLONE_NEWUSER\) \(EPERM\)'
check "a: fix names contrib/seccomp.json" has_fix seccomp-default userns "rdind's seccomp profile (contrib/seccomp.json)"
check "a: fix names seccomp=unconfined" has_fix seccomp-default userns '--security-opt seccomp=unconfined'
check "a: nothing else FAILs among subids, tun" no_fail seccomp-default subuid subgid tun

# b. /proc masked.
doctor_in proc-masked --security-opt "seccomp=$SECCOMP" --security-opt apparmor=unconfined
check "b: userns and id maps still OK" sh -c \
    "grep -qE '^OK +userns ' '$T/proc-masked.out' && grep -qE '^OK +newuidmap ' '$T/proc-masked.out'"
check "b: proc FAIL: mount refused, /proc masked" \
    has_line proc-masked proc '^FAIL .*mount proc in a new pid namespace: Operation not permitted \(/proc is masked: /proc/'
check "b: fix is systempaths=unconfined" has_fix proc-masked proc '--security-opt systempaths=unconfined'
check "b: fix is procMount: Unmasked for Kubernetes" has_fix proc-masked proc 'procMount: Unmasked'

# c. setuid-only newuidmap/newgidmap, no CAP_SYS_ADMIN.
doctor_in setuid-only -e IDMAP=setuid "${ALL[@]}"
check "c: newuidmap FAIL: write to uid_map failed" \
    has_line setuid-only newuidmap '^FAIL .*newuidmap: write to uid_map failed: Operation not permitted'
check "c: newuidmap fix: chmod u-s && setcap cap_setuid+ep" \
    has_fix setuid-only newuidmap 'chmod u-s /usr/bin/newuidmap && setcap cap_setuid+ep /usr/bin/newuidmap'
check "c: newgidmap FAIL: write to gid_map failed" \
    has_line setuid-only newgidmap '^FAIL .*newgidmap: write to gid_map failed: Operation not permitted'
check "c: newgidmap fix: chmod u-s && setcap cap_setgid+ep" \
    has_fix setuid-only newgidmap 'chmod u-s /usr/bin/newgidmap && setcap cap_setgid+ep /usr/bin/newgidmap'
check "c: nothing else FAILs among userns, proc, tun" no_fail setuid-only userns subuid subgid proc tun
# Why: setuid root is not the owner of the new namespace, so the kernel wants
# CAP_SYS_ADMIN for the write.
doctor_in setuid-sysadmin -e IDMAP=setuid --cap-add SYS_ADMIN "${ALL[@]}"
check "c: with CAP_SYS_ADMIN the setuid newuidmap works" has_line setuid-sysadmin newuidmap '^OK .*\(setuid\)'
check "c: with CAP_SYS_ADMIN the setuid newgidmap works" has_line setuid-sysadmin newgidmap '^OK .*\(setuid\)'
# setcap without chmod u-s: root with only the file capability.
doctor_in setuid-and-fcaps -e IDMAP=both "${ALL[@]}"
check "c: setuid bit plus file caps FAIL" \
    has_line setuid-and-fcaps newuidmap '^FAIL .*open of uid_map failed: Permission denied.*both the setuid bit and a file capability'
check "c: ... fix: chmod u-s, keep the file capability" \
    has_fix setuid-and-fcaps newgidmap 'chmod u-s /usr/bin/newgidmap (keep its file capability)'
# CAP_SETUID/CAP_SETGID dropped: root could not switch to the user, so
# docker starts doctor as the user, with the host's tun passed in.
fix_tun
doctor_in cap-drop --user 1000:1000 -e XDG_RUNTIME_DIR=/run/user/1000 \
    --cap-drop SETUID --cap-drop SETGID --device /dev/net/tun "${ALL[@]}"
check "c: CAP_SETUID dropped: newuidmap FAIL" \
    has_line cap-drop newuidmap '^FAIL .*capability bounding set lacks CAP_SETUID'
check "c: ... fix: keep CAP_SETUID" has_fix cap-drop newuidmap 'keep CAP_SETUID in the container'
check "c: CAP_SETGID dropped: newgidmap FAIL, fix: keep CAP_SETGID" sh -c \
    "grep -qE '^FAIL +newgidmap .*lacks CAP_SETGID' '$T/cap-drop.out' && grep -q 'fix: keep CAP_SETGID' '$T/cap-drop.out'"
check "c: nothing else FAILs among userns, proc, tun" no_fail cap-drop userns subuid subgid proc tun

# d. user.max_user_namespaces=0.
doctor_in max-userns-0 -e USERNS_MAX=0 "${ALL[@]}"
check "d: userns FAIL: user.max_user_namespaces=0" \
    has_line max-userns-0 userns '^FAIL +userns +user.max_user_namespaces=0$'
check "d: fix: sysctl -w user.max_user_namespaces=15000" \
    has_fix max-userns-0 userns 'sysctl -w user.max_user_namespaces=15000'
check "d: nothing else FAILs among subids, tun" no_fail max-userns-0 subuid subgid tun
for k in kernel.unprivileged_userns_clone kernel.apparmor_restrict_unprivileged_userns; do
    f=/proc/sys/${k//.//}
    if [ -e "$f" ]; then
        echo "# d: $k=$(cat "$f") here; host-wide, so not flipped (tests/unit/test-doctor covers it)"
    else
        echo "# d: $k: not on this kernel (tests/unit/test-doctor covers it)"
    fi
done

step "done in $(( $(date +%s) - t0 ))s"
exit 0
