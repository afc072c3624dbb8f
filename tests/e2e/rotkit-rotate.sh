#!/bin/bash
# rotkit over time, with the clock moved by --now and every check done by the
# openssl command at that time (-attime): renewal over the same key at two
# thirds of the lifetime, CA rollover (next CA bundled into every ca.pem,
# then promoted, then the old one retired) with a client holding material
# from before the switch still accepted, and runs killed with SIGKILL at
# random points (including key changes) that always leave usable material.
# Needs neither root nor dockerd.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
require_cmd openssl

export HOME=$T/home XDG_CONFIG_HOME= XDG_STATE_HOME=
unset RDIND_CONFIG DOCKER_TLS_CERTDIR
mkdir -p "$HOME"
D=$T/certs
T0=$(( $(date +%s) / 3600 * 3600 ))
H=3600 DAY=86400
rk () { local at=$1; shift; "$ROTKIT" "$@" --certdir "$D" --peer alice --peer bob --now "@$at" -q >"$T/rk.out"; }
dump_on_fail "$T/rk.out"
not () { ! "$@"; }
fpr () { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
pub () { openssl pkey -in "$1" -pubout 2>/dev/null | sha256sum; }
certpub () { openssl x509 -in "$1" -noout -pubkey | sha256sum; }
ncerts () { grep -c 'BEGIN CERTIFICATE' "$1"; }
# pair_ok DIR AT : key matches cert and cert verifies against DIR/ca.pem at AT.
pair_ok () {
    [ "$(pub "$1/key.pem")" = "$(certpub "$1/cert.pem")" ] &&
        openssl verify -attime "$2" -CAfile "$1/ca.pem" "$1/cert.pem" >/dev/null 2>&1
}

check "init at T0" rk $T0 init
check "verify at T0" rk $T0 verify
s0=$(fpr "$D/server/cert.pem"); c0=$(fpr "$D/client/cert.pem"); ca0=$(fpr "$D/ca/cert.pem")
k0=$(pub "$D/server/key.pem")

check "run at T0+15h" rk $((T0 + 15*H)) renew
check "nothing renewed before two thirds" [ "$(fpr "$D/server/cert.pem")" = "$s0" ]
check "run at T0+16h05" rk $((T0 + 16*H + 300)) renew
check "server renewed at two thirds" [ "$(fpr "$D/server/cert.pem")" != "$s0" ]
check "client renewed at two thirds" [ "$(fpr "$D/client/cert.pem")" != "$c0" ]
check "renewal keeps the key" [ "$(pub "$D/server/key.pem")" = "$k0" ]
check "CA unchanged by leaf renewal" [ "$(fpr "$D/ca/cert.pem")" = "$ca0" ]
check "renewed server verifies then" pair_ok "$D/server" $((T0 + 16*H + 300))
check "verify at T0+16h05" rk $((T0 + 16*H + 300)) verify
check "verify flags expired material at T0+3d" not rk $((T0 + 3*DAY)) verify

# Leaves renewed every day up to the rollover.
for d in $(seq 1 19); do rk $((T0 + d*DAY)) renew || fail "renew at day $d"; done
pass "daily renewals up to day 19"
check "one CA in ca.pem before the rollover" [ "$(ncerts "$D/client/ca.pem")" = 1 ]

AT=$((T0 + 20*DAY + H))
check "run at day 20 (two thirds of the CA)" rk $AT renew
check "next CA introduced" [ -s "$D/ca/next-cert.pem" ]
check "next CA key stays private" [ "$(stat -c %a "$D/ca/next-key.pem")" = 600 ]
check "every ca.pem bundles current and next CA" [ "$(ncerts "$D/client/ca.pem")$(ncerts "$D/server/ca.pem")$(ncerts "$D/clients/bob/ca.pem")" = 222 ]
check "leaves still signed by the current CA" openssl verify -attime $AT -CAfile "$D/ca/cert.pem" "$D/server/cert.pem"
check "verify during the overlap" rk $AT verify

# A client that took its material an hour before the switch (cert from the
# old CA, bundle old+new) and never rereads it.
AT=$((T0 + 25*DAY - H))
check "run an hour before the promotion" rk $AT renew
check "client renewed by the old CA then" openssl verify -attime $AT -CAfile "$D/ca/cert.pem" "$D/client/cert.pem"
cp -a "$D/client" "$T/client-before"
oldca=$(fpr "$D/ca/cert.pem")

AT=$((T0 + 25*DAY + 2*H))
check "run at day 25 (promotion)" rk $AT renew
check "next CA promoted" [ "$(fpr "$D/ca/cert.pem")" != "$oldca" ]
check "no next CA left after promotion" [ ! -e "$D/ca/next-cert.pem" ]
check "old CA kept as prev" [ "$(fpr "$D/ca/prev-cert.pem")" = "$oldca" ]
check "server reissued by the new CA" openssl verify -attime $AT -CAfile "$D/ca/cert.pem" "$D/server/cert.pem"
check "server trusts old and new CA" [ "$(ncerts "$D/server/ca.pem")" = 2 ]
check "verify after promotion" rk $AT verify

# Real handshake at that time: the pre-switch client (old-CA cert, old bundle)
# against the server that now runs on the new CA.
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$D/server/cert.pem" -key "$D/server/key.pem" \
    -CAfile "$D/server/ca.pem" -Verify 1 -verify_return_error -attime $AT -www >"$T/s_server.log" 2>&1 &
spid=$!
on_exit "kill $spid"
dump_on_fail "$T/s_server.log"
check "s_server listens" wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
get () {
    local c=$1
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" -attime $AT \
        -CAfile "$c/ca.pem" -cert "$c/cert.pem" -key "$c/key.pem" -verify_return_error -verify_hostname docker 2>&1
}
check "client with pre-switch material accepted during the overlap" grep -q 'HTTP/1.0 200 ok' <(get "$T/client-before")
check "client with fresh material accepted" grep -q 'HTTP/1.0 200 ok' <(get "$D/client")
check "second peer with fresh material accepted" grep -q 'HTTP/1.0 200 ok' <(get "$D/clients/bob")
kill $spid 2>/dev/null; wait $spid 2>/dev/null

AT=$((T0 + 30*DAY + 2*H))
check "run after the old CA expired" rk $AT renew
check "old CA retired from every ca.pem" [ "$(ncerts "$D/server/ca.pem")$(ncerts "$D/client/ca.pem")" = 11 ]
check "prev-cert.pem removed" [ ! -e "$D/ca/prev-cert.pem" ]
check "verify after retirement" rk $AT verify

# Killed at random points: each run changes the key type (new keys, staged
# pairs) or renews (same key), and may roll the CA over.  After every kill
# the files in place must still be a matching, verifying pair, except in the
# instant between the key and cert renames, which leaves cert.pem.next for
# the next run to finish.
AT=$((T0 + 31*DAY))
kinds=(ecdsa-p256 rsa2048)
killed=0
for i in $(seq 1 40); do
    prev=$AT
    AT=$((AT + 17*H))
    "$ROTKIT" renew --certdir "$D" --peer alice --peer bob --now "@$AT" --key-type "${kinds[$((i % 2))]}" -q 2>/dev/null &
    pid=$!
    sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
    kill -9 $pid 2>/dev/null && killed=$((killed + 1))
    wait $pid 2>/dev/null
    for d in server client clients/bob; do
        if ! pair_ok "$D/$d" $AT && ! pair_ok "$D/$d" $prev && [ ! -e "$D/$d/cert.pem.next" ]; then
            fail "after kill $i: $d has no usable pair"
        fi
    done
    check "run $i after the kill completes" rk $AT renew
    for d in server client clients/bob; do
        pair_ok "$D/$d" $AT || fail "after run $i: $d does not verify"
    done
done
pass "40 interrupted runs ($killed killed mid-way), material usable after each"
check "no temporary files left" [ -z "$(find "$D" -name '*.tmp.*' -o -name '*.next')" ]
check "final verify" rk $AT verify
echo "all rotkit rotation checks passed"
