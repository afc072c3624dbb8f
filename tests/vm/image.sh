#!/bin/bash
# Builds (once) and caches the Debian 13 (trixie) guest that gives the tests
# a cgroup v2 + systemd host: these machines mount cgroup v1 and must keep
# it, and their /dev/kvm cannot boot a stock kernel, so the guest runs under
# QEMU's software emulation (see tests/vm/run.sh).
#
#   bash tests/vm/image.sh        # as root; prints the image directory last
#
# The image lives in ${RDIND_TEST_CACHE:-/var/cache/rdind-test}/cgroup2-guest-KEY/
# (disk.img, vmlinuz, initrd.img), KEY being a hash of this script, so a
# change to the package list or the configuration below builds a new one.
# Packages come from ${RDIND_TEST_MIRROR:-http://deb.debian.org/debian}, the
# mirror the other tests use; the guest itself has no network.
#
# The image holds only Debian's packages and a small bootstrap: at boot a
# oneshot unit mounts the second virtio disk (/dev/vdb, made per run by
# run.sh: the current rdind build and the test scripts) and runs its
# entry.sh, with the console (ttyS0) as its output, then powers off.
set -euo pipefail

CACHE=${RDIND_TEST_CACHE:-/var/cache/rdind-test}
MIRROR=${RDIND_TEST_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
# The guest's test account (the e2e scripts' default RDIND_E2E_USER).
GUEST_USER=rdind-e2e

# systemd, its user manager and logind (user@.service delegates memory, pids
# and cpu on trixie), the Debian dockerd 26.1 with its CLI, the rootless
# helpers, busybox-static for `docker import` images, and what rdind's
# binaries (built on the Debian 12 host) need at run time on trixie.
PACKAGES="linux-image-amd64 initramfs-tools systemd-sysv udev dbus dbus-user-session libpam-systemd
docker.io docker-cli rootlesskit slirp4netns uidmap iptables busybox-static procps kmod iproute2 util-linux
libuv1t64 libssl3t64 libcap-ng0 libinih1 libjansson4 libhttp-parser2.9 fuse-overlayfs openssl curl
ca-certificates passt libcap2-bin psmisc file python3"

die () { echo "image.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, and an image whose files root owns)"
for c in debootstrap mkfs.ext4 sha256sum flock; do
    command -v "$c" >/dev/null || die "missing command: $c (apt-get install debootstrap e2fsprogs)"
done
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || die "debootstrap knows no $SUITE (install Debian 12's current debootstrap)"

KEY=$(sha256sum "$0" | cut -c1-16)
DIR=$CACHE/cgroup2-guest-$KEY
if [ -s "$DIR/disk.img" ] && [ -s "$DIR/vmlinuz" ] && [ -s "$DIR/initrd.img" ]; then
    echo "$DIR"; exit 0
fi

mkdir -p "$CACHE"
# Two test runs at once build it once.
exec 9>"$CACHE/cgroup2-guest.lock"
flock 9
if [ -s "$DIR/disk.img" ]; then echo "$DIR"; exit 0; fi

WORK=$(mktemp -d "$CACHE/cgroup2-guest-$KEY.tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
t0=$(date +%s)
# The debootstrapped tree is cached on its own, keyed by the suite and the
# package list, so that a change to the configuration below rebuilds the
# image in seconds instead of a debootstrap's minute or two.
PKGKEY=$(echo "$SUITE $PACKAGES" | sha256sum | cut -c1-16)
ROOTTAR=$CACHE/cgroup2-guest-root-$PKGKEY.tar
if [ ! -s "$ROOTTAR" ]; then
    echo "# debootstrap --variant=minbase $SUITE from $MIRROR (cached in $ROOTTAR afterwards)" >&2
    if ! debootstrap --variant=minbase --include="$(echo $PACKAGES | tr ' ' ,)" \
            "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
        tail -30 "$WORK/debootstrap.log" >&2
        die "debootstrap from $MIRROR failed (log above)"
    fi
    rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
    echo "# debootstrap took $(( $(date +%s) - t0 )) s" >&2
    tar --numeric-owner --xattrs -C "$ROOT" -cf "$ROOTTAR.tmp" . && sync "$ROOTTAR.tmp" &&
        mv "$ROOTTAR.tmp" "$ROOTTAR" || die "caching the debootstrapped tree in $ROOTTAR"
    # Trees of older package lists go.
    find "$CACHE" -maxdepth 1 -name 'cgroup2-guest-root-*.tar' ! -name "${ROOTTAR##*/}" -delete
else
    mkdir -p "$ROOT"
    tar --numeric-owner --xattrs -C "$ROOT" -xf "$ROOTTAR" || die "unpacking $ROOTTAR"
fi

in_root () { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

echo rdind-vm >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 rdind-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$ROOT/etc/fstab"
# The unprivileged account, with 65536 subordinate ids.
in_root useradd --create-home --uid 1000 --shell /bin/bash "$GUEST_USER"
echo "$GUEST_USER:100000:65536" >"$ROOT/etc/subuid"
echo "$GUEST_USER:100000:65536" >"$ROOT/etc/subgid"
# The rootful daemon is not what is tested: only the rootless ones run.
in_root systemctl mask docker.service docker.socket containerd.service
# /tmp stays on the disk, as on the hosts the other e2e tests run on (trixie
# makes it a tmpfs: dockerd's data under the tests' $T would fill the RAM).
in_root systemctl mask tmp.mount
# Nothing waits on a console login, a network or timers.
in_root systemctl mask serial-getty@ttyS0.service getty@tty1.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
    systemd-networkd-wait-online.service 2>/dev/null || true

# The bootstrap: mount the per-run disk, run its entry script.  Every line
# the tests print goes to ttyS0 (the host reads QEMU's serial output).
mkdir -p "$ROOT/usr/local/sbin"
cat >"$ROOT/usr/local/sbin/rdind-vm-boot" <<'BOOT'
#!/bin/sh
echo "RDIND-VM: boot uptime=$(cut -d' ' -f1 /proc/uptime)"
mkdir -p /mnt/payload
if ! mount -o ro /dev/vdb /mnt/payload; then
    echo "RDIND-VM: FAIL: cannot mount the payload disk /dev/vdb"
    echo "RDIND-VM: done rc=1"
    exit 1
fi
exec /bin/bash /mnt/payload/entry.sh
BOOT
chmod 755 "$ROOT/usr/local/sbin/rdind-vm-boot"
cat >"$ROOT/etc/systemd/system/rdind-vm-test.service" <<'UNIT'
[Unit]
Description=rdind guest tests
After=basic.target systemd-logind.service dbus.service systemd-user-sessions.service
Wants=systemd-logind.service dbus.service
# Whatever the tests do, the machine stops when they end (QEMU runs with
# -no-reboot, so this is its exit).
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/rdind-vm-boot
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no
TimeoutStartSec=40min

[Install]
WantedBy=multi-user.target
UNIT
in_root systemctl enable rdind-vm-test.service
ls "$ROOT"/boot/vmlinuz-* "$ROOT"/boot/initrd.img-* >/dev/null 2>&1 || die "no kernel or initrd in $ROOT/boot"
cp "$(ls "$ROOT"/boot/vmlinuz-* | tail -1)" "$WORK/vmlinuz"
cp "$(ls "$ROOT"/boot/initrd.img-* | tail -1)" "$WORK/initrd.img"
mkfs.ext4 -q -F -L rdind-vm -d "$ROOT" "$WORK/disk.img" 4G || die "mkfs.ext4 -d"
sync "$WORK/disk.img"
rm -rf "$ROOT"
trap - EXIT
mv "$WORK" "$DIR"
# Images of older versions of this script go.
find "$CACHE" -maxdepth 1 -name 'cgroup2-guest-*' -type d ! -name "${DIR##*/}" ! -name '*.tmp.*' -exec rm -rf {} +
echo "# guest image built in $(( $(date +%s) - t0 )) s: $DIR" >&2
echo "$DIR"
