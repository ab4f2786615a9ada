#!/usr/bin/env bash
# Creates a SoftHSM2 test token inside DIR, and nothing outside it:
#
#   scripts/softhsm-token.sh DIR
#
# DIR/softhsm2.conf   the SoftHSM2 configuration; export SOFTHSM2_CONF=DIR/softhsm2.conf to use it
# DIR/tokens/         the token store
# DIR/pin             the user PIN (no trailing newline), for pin-source=file:DIR/pin
# DIR/*.pem           the imported keys' certificates and public keys, to check signatures against
#
# The token, labelled "oo-test", holds:
#   label rsa-2048      id 01  RSA-2048 private + public key, imported, with certificate
#   label ec-p256       id 02  EC P-256 private + public key, imported, with certificate
#   label ec-generated  id 03  EC P-256 key pair generated on the token (pkcs11-tool)
#   label ec-always-auth id 04 EC P-256 key pair generated on the token with CKA_ALWAYS_AUTHENTICATE
#
# Idempotent: once DIR holds a complete token the script changes nothing; a half-made token (an
# interrupted run) is wiped and made again. The PINs are test values and appear on the command
# lines of softhsm2-util and pkcs11-tool, which accept them no other way: never use this for real keys.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi

module=/usr/lib/softhsm/libsofthsm2.so
label=oo-test
pin=123456
so_pin=12345678

for tool in softhsm2-util pkcs11-tool openssl; do
  if ! command -v "$tool" >/dev/null; then
    echo "$0: $tool is missing; run scripts/setup.sh" >&2
    exit 2
  fi
done
if [[ ! -e $module ]]; then
  echo "$0: $module is missing; run scripts/setup.sh" >&2
  exit 2
fi

mkdir -p "$1"
dir=$(cd "$1" && pwd)
marker="$dir/.complete"
if [[ -e $marker && -e "$dir/pin" && -d "$dir/tokens" ]]; then
  exit 0
fi

# Start over from nothing: only our own files inside DIR.
rm -rf "$dir/tokens" "$dir/work" "$dir/softhsm2.conf" "$dir/pin" "$dir"/*.pem "$marker"
mkdir -p "$dir/tokens" "$dir/work"
cat >"$dir/softhsm2.conf" <<EOF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF="$dir/softhsm2.conf"
# Keep OpenSSL from writing a random seed file into the home directory.
export RANDFILE="$dir/work/.rnd"

softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$pin" >/dev/null

p11() {
  pkcs11-tool --module "$module" --token-label "$label" --login --pin "$pin" "$@" >/dev/null 2>"$dir/work/pkcs11-tool.err" || {
    cat "$dir/work/pkcs11-tool.err" >&2
    exit 1
  }
}

# An imported key: generate it, self-sign a certificate, import the key pair and the certificate.
import_key() {
  local name=$1 id=$2 algorithm=$3
  shift 3
  openssl genpkey -algorithm "$algorithm" "$@" -out "$dir/work/$name.key" 2>/dev/null
  openssl req -new -x509 -key "$dir/work/$name.key" -subj "/CN=OpenSSLObjects $name/O=OpenSSLObjects Tests" \
    -days 3650 -sha256 -out "$dir/$name.cert.pem" 2>/dev/null
  openssl pkey -in "$dir/work/$name.key" -pubout -out "$dir/$name.pub.pem"
  openssl pkcs8 -topk8 -nocrypt -in "$dir/work/$name.key" -out "$dir/work/$name.p8"
  softhsm2-util --import "$dir/work/$name.p8" --token "$label" --label "$name" --id "$id" --pin "$pin" >/dev/null
  openssl x509 -in "$dir/$name.cert.pem" -outform DER -out "$dir/work/$name.cert.der"
  p11 --write-object "$dir/work/$name.cert.der" --type cert --id "$id" --label "$name"
}

import_key rsa-2048 01 RSA -pkeyopt rsa_keygen_bits:2048
import_key ec-p256 02 EC -pkeyopt ec_paramgen_curve:P-256

# Keys made on the token: their private halves never existed anywhere else.
p11 --keypairgen --key-type EC:prime256v1 --id 03 --label ec-generated --usage-sign
p11 --keypairgen --key-type EC:prime256v1 --id 04 --label ec-always-auth --usage-sign --always-auth

printf '%s' "$pin" >"$dir/pin"
chmod 600 "$dir/pin"
# The private keys' files are not needed any more: the token holds them.
rm -rf "$dir/work"
touch "$marker"
