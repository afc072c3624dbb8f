#!/bin/bash
# rotkit end to end, checked with the openssl command: the DOCKER_TLS_CERTDIR
# layout and its permissions, the X.509 profile (SAN, EKU, keyUsage, CA
# constraints), a real mutual-TLS handshake between the server and client
# material, reuse on restart, RSA on request, `issue --out`, and refusal of
# bad input with nothing overwritten.  Needs neither root nor dockerd.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
require_cmd openssl

not () { ! "$@"; }
# rc_grep RC PATTERN : the last command exited RC and its output ($T/o) matches.
rc_grep () { [ "$rc" = "$1" ] && grep -q -- "$2" "$T/o"; }
# next_line PATTERN LINE FILE : the line after PATTERN is exactly LINE (indented).
next_line () { grep -A1 -- "$1" "$3" | tail -n 1 | grep -qx -- " *$2"; }

export HOME=$T/home XDG_CONFIG_HOME= XDG_STATE_HOME=
unset RDIND_CONFIG DOCKER_TLS_CERTDIR
mkdir -p "$HOME"
D=$T/certs
R=("$ROTKIT" --certdir "$D" --peer alice --peer bob --server-name dind.example --server-name 10.9.8.7)

"${R[@]}" init >"$T/init.log" 2>&1; rc=$?
dump_on_fail "$T/init.log"
check "rotkit init exits 0" [ $rc = 0 ]
check "one log line per certificate issued" [ "$(grep -c 'msg="certificate issued"' "$T/init.log")" = 3 ]

mode () { stat -c %a "$1"; }
check "ca/ is 0700" [ "$(mode "$D/ca")" = 700 ]
check "CA key 0600" [ "$(mode "$D/ca/key.pem")" = 600 ]
for d in server client clients/bob; do
    check "$d/key.pem is 0600" [ "$(mode "$D/$d/key.pem")" = 600 ]
    check "$d/cert.pem is 0644" [ "$(mode "$D/$d/cert.pem")" = 644 ]
    check "$d/ca.pem is 0644" [ "$(mode "$D/$d/ca.pem")" = 644 ]
done
check "the CA key is only in ca/" [ "$(grep -rl "$(sed -n 2p "$D/ca/key.pem")" "$D" | grep -v '/ca/')" = "" ]

check "server verifies for serverAuth" openssl verify -purpose sslserver -CAfile "$D/server/ca.pem" "$D/server/cert.pem"
check "client verifies for clientAuth" openssl verify -purpose sslclient -CAfile "$D/client/ca.pem" "$D/client/cert.pem"
check "second peer verifies for clientAuth" openssl verify -purpose sslclient -CAfile "$D/clients/bob/ca.pem" "$D/clients/bob/cert.pem"
check "server cert is not usable as a client" not openssl verify -purpose sslclient -CAfile "$D/server/ca.pem" "$D/server/cert.pem"

openssl x509 -in "$D/server/cert.pem" -noout -text >"$T/srv.txt"
openssl x509 -in "$D/client/cert.pem" -noout -text >"$T/cli.txt"
openssl x509 -in "$D/ca/cert.pem" -noout -text >"$T/ca.txt"
dump_on_fail "$T/srv.txt" "$T/cli.txt" "$T/ca.txt"
for n in DNS:docker DNS:localhost "DNS:$(hostname)" DNS:dind.example "IP Address:127.0.0.1" "IP Address:0:0:0:0:0:0:0:1" "IP Address:10.9.8.7"; do
    check "server SAN has $n" grep -q "$n\(,\|\$\)" "$T/srv.txt"
done
check "server EKU is serverAuth only" next_line 'Extended Key Usage' 'TLS Web Server Authentication' "$T/srv.txt"
check "server keyUsage critical digitalSignature" next_line 'Key Usage: critical' 'Digital Signature' "$T/srv.txt"
check "leaf has AKI and SKI" grep -q 'Authority Key Identifier' "$T/srv.txt"
check "ECDSA P-256 by default" grep -q 'ASN1 OID: prime256v1' "$T/srv.txt"
check "client CN is the peer name" grep -q 'Subject: CN *= *alice' "$T/cli.txt"
check "client SAN is the peer name" next_line 'Subject Alternative Name' 'DNS:alice' "$T/cli.txt"
check "client EKU is clientAuth" next_line 'Extended Key Usage' 'TLS Web Client Authentication' "$T/cli.txt"
check "CA basicConstraints critical, pathlen:0" next_line 'Basic Constraints: critical' 'CA:TRUE, pathlen:0' "$T/ca.txt"
check "CA keyUsage keyCertSign, cRLSign" next_line 'Key Usage: critical' 'Certificate Sign, CRL Sign' "$T/ca.txt"
check "serial is 128 bits" [ "$(openssl x509 -in "$D/server/cert.pem" -noout -serial | cut -d= -f2 | wc -c)" = 33 ]
nb=$(date -d "$(openssl x509 -in "$D/server/cert.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$D/server/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
age=$(( $(date +%s) - nb ))
check "notBefore backdated a few minutes" [ "$age" -ge 240 -a "$age" -le 400 ]
check "leaf lifetime 24h" [ $(( na - nb - 300 )) = 86400 ]
"${R[@]}" verify >"$T/verify.log" 2>&1; rc=$?
dump_on_fail "$T/verify.log"
check "rotkit verify passes" [ $rc = 0 ]
"$ROTKIT" show --certdir "$D" >"$T/show.log"
check "rotkit show lists names and fingerprints" grep -q "sha256:  $(openssl x509 -in "$D/server/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)" "$T/show.log"

# A real handshake: s_server demands a client certificate from our CA.
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$D/server/cert.pem" -key "$D/server/key.pem" \
    -CAfile "$D/server/ca.pem" -Verify 1 -verify_return_error -www >"$T/s_server.log" 2>&1 &
spid=$!
on_exit "kill $spid"
dump_on_fail "$T/s_server.log"
check "s_server listens" wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
get () { # get CLIENTDIR [extra s_client args]: HTTP GET through mutual TLS
    local c=$1; shift
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" \
        -CAfile "$c/ca.pem" -verify_return_error -verify_hostname docker "$@" 2>&1
}
check "mutual TLS handshake with client/ material" grep -q 'HTTP/1.0 200 ok' <(get "$D/client" -cert "$D/client/cert.pem" -key "$D/client/key.pem")
check "handshake with clients/bob material" grep -q 'HTTP/1.0 200 ok' <(get "$D/clients/bob" -cert "$D/clients/bob/cert.pem" -key "$D/clients/bob/key.pem")
check "handshake checks 127.0.0.1 too" grep -q 'HTTP/1.0 200 ok' <(get "$D/client" -cert "$D/client/cert.pem" -key "$D/client/key.pem" -verify_ip 127.0.0.1)
check "a client without a certificate is refused" not grep -q 'HTTP/1.0 200' <(get "$D/client")
"$ROTKIT" init --certdir "$T/other" --peer alice -q
check "a client of another CA is refused" not grep -q 'HTTP/1.0 200' <(get "$D/client" -cert "$T/other/client/cert.pem" -key "$T/other/client/key.pem")
check "the server is refused by a client trusting another CA" not grep -q 'HTTP/1.0 200' <(get "$T/other/client" -cert "$T/other/client/cert.pem" -key "$T/other/client/key.pem")

# Restart: everything valid is reused, byte for byte.
sums () { (cd "$D" && sha256sum ca/*.pem server/*.pem client/*.pem clients/*/*.pem); }
sums >"$T/sums.1"
"${R[@]}" init >"$T/init2.log" 2>&1
check "restart reuses every certificate" [ "$(grep -c 'msg="certificate reused"' "$T/init2.log")" = 3 ]
check "restart leaves every file unchanged" cmp "$T/sums.1" <(sums)

# issue --out: another peer's material somewhere else.
"$ROTKIT" issue --certdir "$D" --peer carol --out "$T/carol" -q
check "issue --out writes a client pair" openssl verify -purpose sslclient -CAfile "$T/carol/ca.pem" "$T/carol/cert.pem"
check "issued client is accepted by the server" grep -q 'HTTP/1.0 200 ok' <(get "$T/carol" -cert "$T/carol/cert.pem" -key "$T/carol/key.pem")
"$ROTKIT" issue --certdir "$D" --peer dave -q
check "issue without --out goes to clients/dave" grep -q 'CN *= *dave' <(openssl x509 -in "$D/clients/dave/cert.pem" -noout -subject)

# client_group: the client key is group-readable for that group only.
G=$(id -gn)
"$ROTKIT" init --certdir "$T/grp" --peer alice --client-group "$G" -q
check "client key 0640 with --client-group" [ "$(stat -c %a:%G "$T/grp/client/key.pem")" = "640:$G" ]
check "server key stays 0600 with --client-group" [ "$(mode "$T/grp/server/key.pem")" = 600 ]
check "verify accepts the group key" "$ROTKIT" verify --certdir "$T/grp" --peer alice --client-group "$G"

# RSA on request.
"$ROTKIT" init --certdir "$T/rsa" --peer alice --key-type rsa2048 -q
openssl x509 -in "$T/rsa/server/cert.pem" -noout -text >"$T/rsa.txt"
check "RSA 2048 on request" grep -q 'Public-Key: (2048 bit)' "$T/rsa.txt"
check "RSA leaf adds keyEncipherment" next_line 'Key Usage: critical' 'Digital Signature, Key Encipherment' "$T/rsa.txt"

# Bad input: one clear line naming the file and the fix; nothing overwritten.
"$ROTKIT" init --certdir "$D" --peer 'bad/name' >"$T/o" 2>&1; rc=$?
check "illegal peer name fails" rc_grep 1 "bad peer name 'bad/name'"
check "error is one line" [ "$(wc -l <"$T/o")" = 1 ]
cp "$D/client/key.pem" "$T/client-key.bak"
printf -- '-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n' >"$D/client/key.pem"
sums >"$T/sums.2"
"${R[@]}" init >"$T/o" 2>&1; rc=$?
check "corrupt PEM fails" [ $rc = 1 ]
check "corrupt PEM error names the file and the fix" grep -q 'client/key.pem: not an unencrypted PEM private key.*delete it' "$T/o"
check "corrupt PEM: nothing rewritten" cmp "$T/sums.2" <(sums)
check "verify reports the corrupt key" not "${R[@]}" verify >/dev/null 2>&1
cp "$D/server/key.pem" "$D/client/key.pem"
sums >"$T/sums.3"
"${R[@]}" init >"$T/o" 2>&1; rc=$?
check "mismatched key fails" rc_grep 1 'client/cert.pem does not match client/key.pem: delete both'
check "mismatched key: nothing rewritten" cmp "$T/sums.3" <(sums)
"${R[@]}" verify >"$T/o" 2>&1; rc=$?
check "verify reports the mismatch" rc_grep 1 'does not match'
cp "$T/client-key.bak" "$D/client/key.pem"
check "restored key verifies again" "${R[@]}" verify

chmod 0777 "$D"
"${R[@]}" init >"$T/o" 2>&1; rc=$?
check "world-writable certdir fails" rc_grep 1 "world-writable.*chmod o-w $D"
"${R[@]}" verify >/dev/null 2>&1; rc=$?
check "verify flags a world-writable certdir" [ $rc = 1 ]
chmod 0755 "$D"
chmod 0644 "$D/client/key.pem"
"${R[@]}" verify >"$T/o" 2>&1; rc=$?
check "verify flags a world-readable key" rc_grep 1 'client/key.pem: mode 0644'
"${R[@]}" init -q
check "init tightens the key back to 0600" [ "$(mode "$D/client/key.pem")" = 600 ]

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$T/foreign" && chown nobody "$T/foreign"
    "$ROTKIT" init --certdir "$T/foreign" >"$T/o" 2>&1; rc=$?
    check "foreign-owned certdir fails" rc_grep 1 "is owned by uid $(id -u nobody)"
    check "foreign-owned certdir: nothing written" [ -z "$(ls -A "$T/foreign")" ]
    # Root may write anywhere; an unprivileged account meets a root-owned dir
    # (when that account can run the build tree's binary at all).
    mkdir -p "$T/ro" && chmod 0755 "$T/ro"
    nobody () { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"; }
    if nobody test -x "$ROTKIT"; then
        nobody env -i HOME=/nonexistent "$ROTKIT" init --certdir "$T/ro" >"$T/o" 2>&1; rc=$?
        check "unwritable certdir fails" rc_grep 1 "not writable by uid $(id -u nobody)"
        check "unwritable certdir: nothing written" [ -z "$(ls -A "$T/ro")" ]
    else
        echo "note: nobody cannot run $ROTKIT; unwritable-certdir check left out"
    fi
else
    mkdir -p "$T/ro" && chmod 0555 "$T/ro"
    "$ROTKIT" init --certdir "$T/ro" >"$T/o" 2>&1; rc=$?
    check "unwritable certdir fails" rc_grep 1 "not writable"
fi

# A certdir left by docker:dind (RSA, 825 days, client key 0644) is taken
# over: new leaves at once, its CA rolled over within days, keys tightened.
M=$T/dind
mkdir -p "$M/ca" "$M/server" "$M/client"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$M/ca/key.pem" -out "$M/ca/cert.pem" -subj '/CN=docker:dind CA' -days 825 2>/dev/null
for d in server client; do
    openssl req -newkey rsa:2048 -nodes -keyout "$M/$d/key.pem" -subj "/CN=docker:dind $d" 2>/dev/null |
        openssl x509 -req -CA "$M/ca/cert.pem" -CAkey "$M/ca/key.pem" -CAcreateserial -days 825 -out "$M/$d/cert.pem" 2>/dev/null
    cp "$M/ca/cert.pem" "$M/$d/ca.pem"
done
chmod 0755 "$M/ca"; chmod 0644 "$M/client/key.pem"
"$ROTKIT" init --certdir "$M" --peer client >"$T/o" 2>&1; rc=$?
dump_on_fail "$T/o"
check "docker:dind certdir taken over" [ $rc = 0 ]
check "taken-over certdir verifies" "$ROTKIT" verify --certdir "$M" --peer client
check "taken-over client key is 0600" [ "$(mode "$M/client/key.pem")" = 600 ]
check "taken-over ca/ is 0700" [ "$(mode "$M/ca")" = 700 ]
"$ROTKIT" init --certdir "$M" --peer client --now +6d -q
check "825-day CA rolled over within days" grep -q 'CN *= *docker:dind CA' <(openssl x509 -in "$M/ca/prev-cert.pem" -noout -subject)

# Usage errors exit 2 with a usage line.
"$ROTKIT" frob >"$T/o" 2>&1; rc=$?
check "unknown command exits 2" rc_grep 2 '^Usage: rotkit'
"$ROTKIT" init --certdir "$D" --now yesterday >"$T/o" 2>&1; rc=$?
check "bad --now exits 2" rc_grep 2 "bad time 'yesterday'"
"$ROTKIT" init --certdir "$D" --key-type dsa >"$T/o" 2>&1; rc=$?
check "bad --key-type exits 2" rc_grep 2 "unknown key type"
"$ROTKIT" issue --certdir "$D" >"$T/o" 2>&1; rc=$?
check "issue without --peer exits 2" [ $rc = 2 ]
check "--help prints usage" grep -q '^Usage: rotkit' <("$ROTKIT" --help)
echo "all rotkit layout checks passed"
