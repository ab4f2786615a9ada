#!/usr/bin/env bash
# Builds the C ABI's shared library, libopenssl_objects.so, and installs it with its header
# (include/openssl_objects.h) and a pkg-config file (openssl-objects.pc) into a prefix:
#
#   scripts/install-c.sh --prefix DIR               # release build; --debug for a debug one
#   export PKG_CONFIG_PATH=DIR/lib/pkgconfig
#   cc prog.c $(pkg-config --cflags --libs openssl-objects) -o prog
#
# The library finds OpenSSL (libssl, libcrypto, libp11) as the system's and the Swift runtime in the
# toolchain that built it (its RUNPATH). Programs find the library through the rpath the .pc file
# adds. Tests/AdoptionTests/InstallCTests.swift runs the README's commands from a scratch directory.
set -euo pipefail

usage() {
  echo "usage: scripts/install-c.sh --prefix DIR [--debug]" >&2
  exit 2
}

prefix=""
configuration=release
while (($# > 0)); do
  case $1 in
    --prefix) [[ $# -ge 2 ]] || usage; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --debug) configuration=debug; shift ;;
    *) usage ;;
  esac
done
[[ -n $prefix ]] || usage

cd "$(dirname "$0")/.."
scripts/setup.sh

# A scratch path of its own: an install never waits for (or disturbs) the development build in
# .build, and runs while `swift test` holds that one.
scratch=.build-install
swift build -c "$configuration" --scratch-path "$scratch" --product openssl_objects
bin=$(swift build -c "$configuration" --scratch-path "$scratch" --show-bin-path)

mkdir -p "$prefix/include" "$prefix/lib/pkgconfig"
prefix=$(cd "$prefix" && pwd)
install -m 0644 include/openssl_objects.h "$prefix/include/openssl_objects.h"
install -m 0755 "$bin/libopenssl_objects.so" "$prefix/lib/libopenssl_objects.so"

# The version is the command line tool's (Sources/openssl-objects/Command.swift, ToolVersion).
version=$(sed -n 's/^ *static let number = "\([0-9.]*\)".*/\1/p' Sources/openssl-objects/Command.swift)
[[ -n $version ]] || { echo "install-c.sh: no version in Sources/openssl-objects/Command.swift" >&2; exit 1; }

cat >"$prefix/lib/pkgconfig/openssl-objects.pc" <<PC
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: openssl-objects
Description: OpenSSLObjects' C ABI: capsules and the API table (openssl_objects.h)
Version: $version
Requires: libssl >= 3.0, libcrypto >= 3.0
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lopenssl_objects
Cflags: -I\${includedir}
PC

echo "installed openssl-objects $version ($configuration) in $prefix:"
echo "  $prefix/include/openssl_objects.h"
echo "  $prefix/lib/libopenssl_objects.so"
echo "  $prefix/lib/pkgconfig/openssl-objects.pc"
