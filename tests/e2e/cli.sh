#!/bin/bash
# The rdind CLI and configuration, end to end through the real binary:
# help/version/usage errors, config search order, overrides, origins, and
# that bad configuration stops every verb with exit 2 before anything starts.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

export HOME=$T/home XDG_CONFIG_HOME= XDG_STATE_HOME= XDG_DATA_HOME= XDG_RUNTIME_DIR=
unset RDIND_CONFIG DOCKER_TLS_CERTDIR
mkdir -p "$HOME"

out=$("$RDIND" --help); rc=$?
check "--help exits 0" [ $rc = 0 ]
for v in sidecar launch doctor health config; do
    check "--help lists '$v'" grep -q "^  $v " <<<"$out"
done
check "--version prints the version" grep -qE '^rdind [0-9]+\.[0-9]+' <("$RDIND" --version)
check "rotkit --version prints the version" grep -qE '^rotkit [0-9]+\.[0-9]+' <("$ROTKIT" --version)
# A typo in the section of a variable is refused like one in the key.
out=$(RDIND_SIDCAR_LISTEN=127.0.0.1:1 "$RDIND" config 2>&1); rc=$?
check "RDIND_SIDCAR_LISTEN (a typo'd section) exits 2" [ $rc = 2 ]
check "... naming the variable" grep -q 'RDIND_SIDCAR_LISTEN: no such section' <<<"$out"
out=$(RDIND_SIDECAR_PEER=x "$RDIND" config 2>&1); rc=$?
check "RDIND_SIDECAR_PEER (an unknown key) exits 2, naming the variable" \
    sh -c "[ $rc = 2 ] && printf '%s' '$out' | grep -q RDIND_SIDECAR_PEER"
out=$(DOCKER_HOST=tcp://docker:2376 RDIND_CONFIG= RDIND_TEST_ENV=x "$RDIND" config 2>&1); rc=$?
check "DOCKER_HOST and the test plumbing's RDIND_* are ignored" [ $rc = 0 ]

"$RDIND" frobnicate >"$T/o" 2>&1; rc=$?
check "unknown command exits 2" [ $rc = 2 ]
check "unknown command prints usage" grep -q "unknown command 'frobnicate'" "$T/o"
check "usage line on unknown command" grep -q '^Usage: rdind' "$T/o"
"$RDIND" --frob >"$T/o" 2>&1; rc=$?
check "unknown option exits 2" [ $rc = 2 ]
"$RDIND" config --frob >"$T/o" 2>&1; rc=$?
check "unknown verb flag exits 2" [ $rc = 2 ]
"$RDIND" >"$T/o" 2>&1; rc=$?
check "no command exits 2" [ $rc = 2 ]

# Embedded defaults with no file at all.
"$RDIND" config >"$T/o" 2>&1; rc=$?
check "config runs with no file" [ $rc = 0 ]
check "defaults shown with origin" grep -qE '^listen = (0\.0\.0\.0:2376 +; default \(in a container\)|127\.0\.0\.1:2376 +; default \(not in a container\))$' "$T/o"
check "no file reported" grep -q 'file: none' "$T/o"

# XDG location, then RDIND_CONFIG, then --config.
mkdir -p "$HOME/.config/rdind"
printf '[sidecar]\npeers = from-xdg\n' >"$HOME/.config/rdind/rdind.ini"
"$RDIND" config >"$T/o" 2>&1
check "~/.config/rdind/rdind.ini is read" grep -qE "^peers = from-xdg +; $HOME/.config/rdind/rdind.ini:2$" "$T/o"
printf '[sidecar]\n\npeers = from-env-file\n' >"$T/env.ini"
RDIND_CONFIG=$T/env.ini "$RDIND" config >"$T/o" 2>&1
check "RDIND_CONFIG beats the XDG file" grep -qE "^peers = from-env-file +; $T/env.ini:3$" "$T/o"
printf '[sidecar]\npeers = from-flag\n' >"$T/flag.ini"
RDIND_CONFIG=$T/env.ini "$RDIND" config --config "$T/flag.ini" >"$T/o" 2>&1
check "--config beats RDIND_CONFIG" grep -q "^peers = from-flag" "$T/o"
"$RDIND" --config="$T/flag.ini" config >"$T/o" 2>&1
check "--config=FILE before the verb" grep -q "^peers = from-flag" "$T/o"
RDIND_SIDECAR_PEERS=from-var "$RDIND" config --config "$T/flag.ini" >"$T/o" 2>&1
check "RDIND_SIDECAR_PEERS beats the file" grep -qE "^peers = from-var +; env RDIND_SIDECAR_PEERS$" "$T/o"
"$RDIND" config --config "$T/missing.ini" >"$T/o" 2>&1; rc=$?
check "missing --config file exits 2" [ $rc = 2 ]
check "missing file is named" grep -q "$T/missing.ini" "$T/o"

# docker:dind compatibility.
DOCKER_TLS_CERTDIR=/somewhere "$RDIND" config >"$T/o" 2>&1
check "DOCKER_TLS_CERTDIR sets tls.certdir" grep -qE '^certdir = /somewhere +; env DOCKER_TLS_CERTDIR$' "$T/o"
for verb in config sidecar launch health doctor; do
    DOCKER_TLS_CERTDIR= "$RDIND" $verb >"$T/o" 2>&1; rc=$?
    check "empty DOCKER_TLS_CERTDIR stops '$verb' with exit 2" [ $rc = 2 ]
    check "empty DOCKER_TLS_CERTDIR explains no plaintext ($verb)" grep -q 'never serves without TLS' "$T/o"
done
DOCKER_HOST=tcp://192.0.2.1:2375 "$RDIND" config >"$T/o" 2>&1; rc=$?
check "a leaked DOCKER_HOST is ignored" [ $rc = 0 ]

# Bad input: one line, file:line, exit 2, for every verb.
printf '[tls]\nlifetime = 24h\nfoo = bar\n' >"$T/bad.ini"
for verb in config sidecar launch doctor health; do
    "$RDIND" $verb --config "$T/bad.ini" >"$T/o" 2>&1; rc=$?
    check "bad file stops '$verb' with exit 2" [ $rc = 2 ]
done
check "bad file error names FILE:LINE and known keys" grep -q "$T/bad.ini:3: unknown key 'foo' in \[tls\] (known keys: certdir, lifetime" "$T/o"
check "bad file error is one line" [ "$(wc -l <"$T/o")" = 1 ]
RDIND_TLS_LIFETIME=3x "$RDIND" config >"$T/o" 2>&1; rc=$?
check "bad env override exits 2" [ $rc = 2 ]
check "bad env override names the variable" grep -q '^rdind: environment variable RDIND_TLS_LIFETIME:' "$T/o"
printf '[sidecar]\nlisten = 0.0.0.0:70000\n' >"$T/port.ini"
"$RDIND" config --config "$T/port.ini" >"$T/o" 2>&1
check "bad port names file and line" grep -q "$T/port.ini:2: bad value for \[sidecar\] listen" "$T/o"

# rdind config output reads back as a configuration file.
"$RDIND" config --config "$T/flag.ini" >"$T/round.ini"
"$RDIND" config --config "$T/round.ini" >"$T/o" 2>&1; rc=$?
check "config output parses back" [ $rc = 0 ]
check "round trip keeps values" grep -q '^peers = from-flag' "$T/o"

# The example file documents every key and is valid.
ex=$top_srcdir/rdind.ini.example
"$RDIND" config --config "$ex" >"$T/o" 2>&1; rc=$?
check "rdind.ini.example is valid" [ $rc = 0 ]
for k in $("$RDIND" config | sed -n 's/^\([a-z_0-9]*\) = .*/\1/p'); do
    check "rdind.ini.example documents '$k'" grep -qE "^;? ?$k =" "$ex"
    check "README documents '$k'" grep -q "\`$k\`" "$top_srcdir/README.md"
done
