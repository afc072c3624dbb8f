#!/bin/bash
# Full filesystems, with figures:
#   state_dir on a full tmpfs: dockerd cannot start, the log says why, the
#     port never opens, and it serves once space is back;
#   certdir on a tmpfs that fills up just before a rotation: the renewal
#     fails and says so, the current certificates keep serving and are left
#     byte for byte as they were (nothing empty, no temporary file), and the
#     next retry renews them once space is back.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap curl timeout mount umount
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"
# fill DIR: a file as the test user that takes every free block of DIR's fs.
fill () { as_user dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null; true; }
port_closed () { ! bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; }
sums () { (cd "$1" && find . -type f | sort | xargs sha256sum); }

# --- state_dir full --------------------------------------------------------
mkdir -p "$T/st" "$T/u1"
mount -t tmpfs -o size=64k tmpfs "$T/st" || skip "cannot mount a tmpfs"
on_exit "umount -l $T/st"
chown "$E2E_USER": "$T/st" "$T/u1"
fill "$T/st"
PORT=$(free_port)
LOG=$T/sidecar1.log
dump_on_fail "$LOG"
on_exit kill_user_procs
env RDIND_SIDECAR_USER="$E2E_USER" RDIND_SIDECAR_LISTEN="127.0.0.1:$PORT" RDIND_TLS_CERTDIR="$T/u1/certs" \
    RDIND_LAUNCHER_STATE_DIR="$T/st/state" RDIND_LAUNCHER_DATA_ROOT="$T/u1/data" \
    "$RDIND" sidecar >"$LOG" 2>&1 &
SPID=$!
check "state_dir full: the log says no space is left" wait_for 30 grep -qi 'no space left on device' "$LOG"
open=0
for _ in $(seq 20); do port_closed || open=$((open+1)); sleep 0.25; done
check "state_dir full: the port never opened (open in $open of 20 samples)" test "$open" = 0
check "state_dir full: the launcher is retried with a backoff" wait_for 30 grep -q 'restarting launcher" in_ms=[0-9]*000 ' "$LOG"
restarts=$(grep -c 'restarting launcher' "$LOG")
rm -f "$T/st/filler"
t0=$(now_ms)
export DOCKER_HOST=tcp://127.0.0.1:$PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/u1/certs/client
check "state_dir freed: served within 90 s" wait_for 90 timeout 10 docker version
figure "state_dir full: $restarts launcher restarts while full, port never open, served $(( $(now_ms) - t0 )) ms after space came back"
kill -TERM "$SPID"; wait "$SPID"
kill_user_procs

# --- certdir full during a rotation -----------------------------------------
mkdir -p "$T/cf" "$T/u2"
mount -t tmpfs -o size=256k tmpfs "$T/cf" || skip "cannot mount a tmpfs"
on_exit "umount -l $T/cf"
chown "$E2E_USER": "$T/cf" "$T/u2"
CERTS=$T/cf/certs
# Leaves of 24 h issued 16 h - 15 s ago: renewal (at two thirds) is due in 15 s.
as_user "$ROTKIT" -q init --certdir "$CERTS" --peer client --now $(( $(date +%s) - 16*3600 + 15 )) ||
    fail "rotkit init"
PORT=$(free_port)
U=$T/u2; LOG=$T/sidecar2.log
start_sidecar
check "certdir: served before the rotation" timeout 30 docker version
fill "$T/cf"
sums "$CERTS" >"$T/before.sha"
check "certdir full: the renewal fails and says so" \
    wait_for 60 grep -q 'certificate renewal failed, keeping the current ones' "$LOG"
check "certdir full: still served with the current certificates" timeout 30 docker version
same () { sums "$CERTS" | cmp -s - "$T/before.sha"; }
check "certdir full: every file as it was, byte for byte" same
check "certdir full: nothing empty but the lock file" test -z "$(find "$CERTS" -type f -empty ! -name .lock)"
rm -f "$T/cf/filler"
t0=$(now_ms)
renewed () { [ "$(cd "$CERTS" && sha256sum ./server/cert.pem)" != "$(grep ' ./server/cert.pem$' "$T/before.sha")" ]; }
check "certdir freed: the retry renews the server certificate" wait_for 90 renewed
figure "certdir full at rotation: renewal failed $(grep -c 'certificate renewal failed' "$LOG") time(s), renewed $(( $(now_ms) - t0 )) ms after space came back"
check "certdir freed: served with the renewed certificates" wait_for 20 timeout 10 docker version
stop_sidecar
kill_user_procs

# --- certdir full at start, with a renewal due ------------------------------
# What is on disk still passes every check: the sidecar starts with it and
# retries the renewal, instead of refusing to start.
rm -rf "$CERTS"
as_user "$ROTKIT" -q init --certdir "$CERTS" --peer client --now $(( $(date +%s) - 17*3600 )) ||
    fail "rotkit init"
fill "$T/cf"
sums "$CERTS" >"$T/before.sha"
PORT=$(free_port)
U=$T/u3; LOG=$T/sidecar3.log
start_sidecar
check "certdir full at start: served with the current certificates" timeout 30 docker version
check "certdir full at start: the failed renewal is logged with its retry" \
    grep -q 'certificate renewal failed, serving with the current ones until it succeeds' "$LOG"
check "certdir full at start: every file as it was" same
stop_sidecar
rm -f "$T/cf/filler"
