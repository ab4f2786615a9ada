#!/usr/bin/env bash
# Installs the system packages OpenSSLObjects needs, idempotently: nothing happens when all are present.
# Every command of the README and of CI calls this first, so a fresh Debian 12 machine needs nothing else.
# mmdebstrap, which only scripts/matrix.sh needs, is installed by that script.
set -euo pipefail

packages=(
  libssl-dev      # OpenSSL 3 headers and libraries (COpenSSLFull)
  libssl-doc      # the OpenSSL manual pages we read before wrapping a function
  openssl         # the openssl command: s_server / s_client / verify peers in tests
  ca-certificates # the operating system's trust store
  libp11-dev      # libp11, the PKCS#11 layer (CLibP11)
  softhsm2        # a real PKCS#11 token for the tests and the demo
  opensc          # pkcs11-tool, which creates the test token's objects
  libp11-kit-dev  # pkcs11.h for the tests' forwarding module (Tests/PKCS11C), which counts C_Login
  libcurl4-openssl-dev # libcurl on OpenSSL: the SSL_CTX interop tests
  curl            # the curl command: a peer of the NIO server tests (--cert-status)
  pkg-config      # how SwiftPM finds OpenSSL and libp11
  publicsuffix    # the Public Suffix List the Web PKI profile reads (/usr/share/publicsuffix)
)

# --list: print the packages (scripts/matrix.sh installs the same into its root filesystems).
if [[ ${1:-} == --list ]]; then
  echo "${packages[*]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
