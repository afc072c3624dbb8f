#!/bin/bash
# [cache]: locked slots across jobs (issue 21), judged by effect: the lock
# files, dockerd's own socket and the slot directories on disk.
#   two sidecars started at once take two different slots;
#   the next job on a slot finds no container, network or volume of the
#   earlier job (a --restart always container never runs again), and finds
#   its images and build cache;
#   kill -9 of a sidecar during a build: once its daemon is gone the slot
#   is free, and the next sidecar takes and serves it;
#   max_size: the slot is pruned before the endpoint opens;
#   a slot with truncated metadata is set aside with a log line, never
#   served half-broken;
#   data_root together with [cache] dir is refused with the fix;
#   a registry of the test's own (docker-registry in a namespace it
#   creates): insecure_registries lets the daemon pull from it, drop_tags
#   untags the pulled image at the next start while its layers stay (the
#   next pull moves only the manifest), registry_mirror reaches dockerd.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

require_root
require_cmd docker dockerd slirp4netns newuidmap busybox timeout flock python3 docker-registry ip curl
ensure_test_user
fix_tun
[ -x "$RDIND" ] || fail "rdind not built at $RDIND"

CACHE=$T/cache
# Not created here: the sidecar, started as root, hands it to its user.
on_exit kill_user_procs

# sidecar NAME [VAR=VALUE...]: a sidecar on the cache, in the background;
# sets PORT_<NAME>, LOG_<NAME>, PID_<NAME>.
sidecar () {
    local n=$1; shift
    local u=$T/$n port
    port=$(free_port)
    mkdir -p "$u" && chown "$E2E_USER": "$u"
    env RDIND_SIDECAR_USER="$E2E_USER" RDIND_SIDECAR_LISTEN="127.0.0.1:$port" RDIND_TLS_CERTDIR="$u/certs" \
        RDIND_LAUNCHER_STATE_DIR="$u/state" RDIND_CACHE_DIR="$CACHE" RDIND_CACHE_SLOTS=2 "$@" \
        "$RDIND" sidecar >"$T/$n.log" 2>&1 &
    eval "PID_$n=$! PORT_$n=$port"
    dump_on_fail "$T/$n.log"
}
ready () { wait_for 120 grep -q 'msg=listening' "$T/$1.log" || fail "sidecar $1 did not start listening"; }
use () { # use NAME: the docker CLI through NAME's endpoint
    local p; eval "p=\$PORT_$1"
    export DOCKER_HOST=tcp://127.0.0.1:$p DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/$1/certs/client
}
sock () { echo "$T/$1/state/docker.sock"; }
D () { local s=$1; shift; env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH DOCKER_HOST="unix://$(sock "$s")" timeout 60 docker "$@"; }
stop () { local p; eval "p=\$PID_$1"; kill -TERM "$p"; wait_for 60 sh -c "! kill -0 $p" || fail "sidecar $1 did not stop"; }
held () { ! flock -n "$CACHE/slot-$1.lock" true; }

# data_root with [cache] dir: refused before anything starts.
out=$(env RDIND_CACHE_DIR="$CACHE" RDIND_LAUNCHER_DATA_ROOT=/tmp/elsewhere "$RDIND" config 2>&1); rc=$?
check "data_root with [cache] dir: exit 2 naming the fix" sh -c "[ $rc = 2 ] && echo '$out' | grep -q 'remove data_root'"

# Two at once: two slots.
sidecar a; sidecar b
ready a; ready b
sa=$(grep -o 'msg="cache slot taken" slot=[0-9]*' "$T/a.log" | grep -o '[0-9]*$')
sb=$(grep -o 'msg="cache slot taken" slot=[0-9]*' "$T/b.log" | grep -o '[0-9]*$')
check "two sidecars started at once take two different slots ($sa, $sb)" sh -c "[ -n '$sa' ] && [ -n '$sb' ] && [ '$sa' != '$sb' ]"
check "both slot locks are held" sh -c "! flock -n '$CACHE/slot-0.lock' true && ! flock -n '$CACHE/slot-1.lock' true"
check "a third sidecar finds no free slot: exit 1 naming [cache] slots" sh -c \
    "RDIND_SIDECAR_USER=$E2E_USER RDIND_SIDECAR_LISTEN=127.0.0.1:$(free_port) RDIND_TLS_CERTDIR=$T/c3 RDIND_LAUNCHER_STATE_DIR=$T/c3s RDIND_CACHE_DIR=$CACHE RDIND_CACHE_SLOTS=2 timeout 60 '$RDIND' sidecar >'$T/c.log' 2>&1; [ \$? = 1 ] && grep -q 'raise \[cache\] slots' '$T/c.log'"

# Job 1, on whichever took slot 0, leaves containers, a network, a volume,
# an image and a build.
if [ "$sa" = 0 ]; then J1=a; else J1=b; fi
use $J1
import_busybox bb
timeout 60 docker run -d --name forever --restart always bb sleep 600 >/dev/null || fail "docker run --restart always"
timeout 60 docker network create jobnet >/dev/null || fail "docker network create"
timeout 60 docker volume create jobvol >/dev/null || fail "docker volume create"
mkdir -p "$T/ctx" && printf 'FROM bb\nRUN echo layer > /layer\n' >"$T/ctx/Dockerfile"
DOCKER_BUILDKIT=0 timeout 120 docker build -q -t built "$T/ctx" >/dev/null || fail "docker build"
stop a; stop b
check "after both stopped, the slots are free" sh -c "flock -n '$CACHE/slot-0.lock' true && flock -n '$CACHE/slot-1.lock' true"

# Job 2 takes the first free slot, a's if it was 0.
sidecar j2 RDIND_CACHE_SLOTS=2
ready j2
s2=$(grep -o 'msg="cache slot taken" slot=[0-9]*' "$T/j2.log" | grep -o '[0-9]*$')
check "the next job takes the first free slot (0)" test "$s2" = 0
check "the slot was prepared before the endpoint opened" sh -c \
    "awk '/cache: slot prepared/{p=NR} /msg=listening/{l=NR} END{exit !(p && l && p < l)}' '$T/j2.log'"
{
    check "hygiene: no container of the earlier job (dockerd's socket)" test -z "$(D j2 ps -aq)"
    no_jobnet () { ! D j2 network ls --format '{{.Name}}' | grep -qx jobnet; }
    check "hygiene: its network is gone" no_jobnet
    check "hygiene: its volume is gone" test -z "$(D j2 volume ls -q)"
    check "hygiene: the --restart always container never ran again (removed, logged)" grep -q 'containers_removed=1' "$T/j2.log"
    images_stay () { D j2 image inspect bb >/dev/null && D j2 image inspect built >/dev/null; }
    check "warm: the earlier job's images stay (bb, built)" images_stay
    use j2
    out=$(DOCKER_BUILDKIT=0 timeout 120 docker build "$T/ctx" 2>&1)
    check "warm: the rebuild is a cache hit" sh -c "echo '$out' | grep -q 'Using cache'"
}

# kill -9 during a build.
use j2
printf 'FROM bb\nRUN sleep 30\n' >"$T/ctx/Dockerfile"
(DOCKER_BUILDKIT=0 timeout 120 docker build -t slow "$T/ctx" >/dev/null 2>&1 &)
building () { D j2 ps -a --format '{{.Command}}' | grep -q sleep; }
wait_for 30 building || fail "the slow build did not start"
kill -KILL "$PID_j2"
check "kill -9: the slot stays locked while its daemon winds down, then is free" wait_for 60 flock -n "$CACHE/slot-0.lock" true
sidecar j3
ready j3
s3=$(grep -o 'msg="cache slot taken" slot=[0-9]*' "$T/j3.log" | grep -o '[0-9]*$')
check "the next sidecar takes the same slot (0) again" test "$s3" = 0
use j3
check "and serves it, warm (bb still there)" timeout 60 docker image inspect bb
check "no container left of the killed job" test -z "$(D j3 ps -aq)"
stop j3

# max_size: pruned before the endpoint opens.
sidecar cap RDIND_CACHE_MAX_SIZE=1K
ready cap
check "max_size: images pruned, logged with the time it took" grep -q 'cache: slot prepared" took_ms=[0-9]* .*images_pruned=[1-9]' "$T/cap.log"
check "max_size: no image left in the slot (dockerd's socket)" test -z "$(D cap images -q)"
stop cap

# A slot with truncated metadata is set aside.
repo=$(ls "$CACHE"/slot-0/image/*/repositories.json | head -1)
[ -n "$repo" ] || fail "no repositories.json in slot-0"
head -c 5 "$repo" >"$repo.t" && mv "$repo.t" "$repo"
sidecar bad
ready bad
check "a corrupt slot is set aside with a log line" grep -q 'slot metadata is corrupt, set aside' "$T/bad.log"
check "its files are kept aside for a look" sh -c "ls -d '$CACHE'/slot-0.corrupt-* >/dev/null"
use bad
check "the daemon serves a fresh slot" timeout 60 docker version
stop bad

# A registry of our own, in a namespace of our own.
outside_ns rcac
REG=198.18.0.2:5000
mkdir -p "$T/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$T/registry" "$REG" >"$T/reg.yml"
ip netns exec rcac docker-registry serve "$T/reg.yml" >"$T/registry.log" 2>&1 &
on_exit "kill $!"
wait_for 20 curl -sf "http://$REG/v2/" || fail "docker-registry did not start in the namespace"
sent () { ip netns exec rcac cat /sys/class/net/rcac-n/statistics/tx_bytes; }
rm -rf "$CACHE"/slot-0 "$CACHE"/slot-0.corrupt-*
sidecar r1 RDIND_CACHE_INSECURE_REGISTRIES="$REG" RDIND_CACHE_DROP_TAGS=yes RDIND_CACHE_REGISTRY_MIRROR="http://$REG"
ready r1
use r1
check "registry_mirror reaches dockerd (its /info)" sh -c "timeout 30 docker info --format '{{json .RegistryConfig.Mirrors}}' | grep -q '$REG'"
timeout 60 docker tag bb "$REG/bb:1" 2>/dev/null || import_busybox "$REG/bb:1"
check "insecure_registries: a push to the plain-HTTP registry works" sh -c "timeout 120 docker push '$REG/bb:1' >/dev/null"
timeout 60 docker rmi "$REG/bb:1" >/dev/null 2>&1
b0=$(sent)
check "and a pull from it" sh -c "timeout 120 docker pull '$REG/bb:1' >/dev/null"
full=$(( $(sent) - b0 ))
stop r1
sidecar r2 RDIND_CACHE_INSECURE_REGISTRIES="$REG" RDIND_CACHE_DROP_TAGS=yes
ready r2
use r2
check "drop_tags: the pulled image's tag is gone at the next start" sh -c "! timeout 30 docker image inspect '$REG/bb:1' >/dev/null 2>&1"
kept () { timeout 30 docker images --format '{{.Repository}}' | grep -qx rdind-cache/keep; }
check "drop_tags: the image and its layers stay (held as rdind-cache/keep)" kept
b0=$(sent)
check "drop_tags: the next pull re-resolves the tag" sh -c "timeout 120 docker pull '$REG/bb:1' >/dev/null"
again=$(( $(sent) - b0 ))
figure "registry bytes: first pull $full, pull after drop_tags $again"
check "drop_tags: and moves only the manifest, not the layers ($again < $full / 4 bytes)" test "$again" -lt $(( full / 4 ))
stop r2
