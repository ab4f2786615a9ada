#!/usr/bin/env bash
# The version matrix: the plain test suite (warning-free build, every test) on OpenSSL 3.5 (Debian
# 13, trixie) and on OpenSSL 4.0 (Debian sid with experimental), each in a root filesystem of its own.
#
#   scripts/matrix.sh                 both versions
#   scripts/matrix.sh 3.5 | 4.0       one version
#   scripts/matrix.sh --shell 3.5     a shell in that root filesystem, with the checkout at /src
#   scripts/matrix.sh --run 3.5 CMD   CMD in that root filesystem, from /src (e.g. scripts/bench.sh)
#
# The root filesystems are made once with mmdebstrap (--mode=root --variant=apt) from Debian's
# archive and cached outside the checkout, in $OO_MATRIX_CACHE (default
# /var/cache/openssl-objects-matrix), so later runs on the same machine reuse them; a root
# filesystem is remade only when its recipe (the package list below) changes. Each version builds
# in its own scratch path inside its root filesystem, kept between runs (incremental builds).
#
# Inside, the Swift toolchain (/opt/swift) and the machine's Swift package copies (/opt/swift-packages,
# where git redirects GitHub URLs) are bind-mounted read-only, and the same git `insteadOf` lines
# are written into the root filesystem's /etc/gitconfig. Everything is mounted in a private mount
# namespace (unshare), so nothing stays mounted when the script ends, however it ends.
#
# Sanitizers, DocC, benchmarks and fuzzing run on the host only (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh

cache=${OO_MATRIX_CACHE:-/var/cache/openssl-objects-matrix}
mirror=${OO_MATRIX_MIRROR:-http://deb.debian.org/debian}

# What the Swift toolchain needs on a Debian system besides the C toolchain (its own libraries
# link libncurses, libedit, libxml2, libcurl, libsqlite3, libuuid), and pkcs11-provider: the
# recipe of a root filesystem. The packages of scripts/setup.sh are installed too, but are not part
# of the recipe: scripts/test.sh runs scripts/setup.sh inside, which adds what a later list names
# to the cached root filesystem instead of making it again.
common_packages=(
  pkcs11-provider
  build-essential git ca-certificates
  libncurses6 libedit2 libsqlite3-0 libuuid1 libcurl4t64 tzdata
)
setup_packages=$(scripts/setup.sh --list | tr ' ' ',')

# recipe VERSION: sets options (mmdebstrap's), suite and sources for VERSION's root filesystem.
recipe() {
  local packages
  packages=$(IFS=,; echo "${common_packages[*]}")
  # libxml2 (libxml2.so.2, for the toolchain's FoundationXML) and ld.gold (the toolchain's linker)
  # are named apart: newer Debian splits them off.
  options=(--mode=root --variant=apt --skip=cleanup/apt/lists "--include=$packages" --include=libxml2,binutils-gold)
  case "$1" in
    3.5)
      suite=trixie
      sources=("deb $mirror trixie main")
      ;;
    4.0)
      # OpenSSL 4.0 is in experimental only. Its packages (openssl, libssl4, libssl-dev,
      # libssl-doc) are pinned to experimental; everything else comes from sid (making experimental
      # the default release instead pulls experimental's perl, which sid's perl modules do not
      # match). sid's Release file on the mirror is past its Valid-Until date.
      suite=sid
      options+=(
        '--aptopt=Acquire::Check-Valid-Until "false"'
        "--setup-hook=mkdir -p \"\$1/etc/apt/preferences.d\" && printf '%s\\n' 'Package: openssl libssl4 libssl-dev libssl-doc' 'Pin: release a=experimental' 'Pin-Priority: 990' >\"\$1/etc/apt/preferences.d/openssl-4\""
      )
      sources=("deb $mirror sid main" "deb $mirror experimental main")
      ;;
    *) echo "scripts/matrix.sh: unknown version '$1' (3.5 or 4.0)" >&2; exit 2 ;;
  esac
}

# ensure_rootfs VERSION: makes the root filesystem unless the cached one has the same recipe.
ensure_rootfs() {
  local version=$1 dir="$cache/$1" hash
  local -a options sources
  local suite
  recipe "$version"
  hash=$(printf '%s\n' "${options[@]}" "$suite" "${sources[@]}" | sha256sum | cut -c1-16)
  if [[ -f $dir/.oo-recipe && $(cat "$dir/.oo-recipe") == "$hash" ]]; then
    return 0
  fi
  command -v mmdebstrap >/dev/null || install_mmdebstrap
  echo "==> matrix $version: making the root filesystem in $dir (mmdebstrap, $suite)"
  mkdir -p "$cache"
  rm -rf "$dir.new"
  mmdebstrap --quiet "${options[@]}" "--include=$setup_packages" "$suite" "$dir.new" "${sources[@]}"
  git config --system --get-regexp '^url\..*\.insteadof$' | while read -r key value; do
    git config --file "$dir.new/etc/gitconfig" --add "$key" "$value"
  done
  # mmdebstrap writes no /etc/hosts: the tests connect to localhost.
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$dir.new/etc/hosts"
  echo "$hash" >"$dir.new/.oo-recipe"
  rm -rf "$dir"
  mv "$dir.new" "$dir"
}

install_mmdebstrap() {
  local sudo=""
  if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
  echo "matrix: installing mmdebstrap" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
}

# in_rootfs VERSION COMMAND...: runs COMMAND in the root filesystem, from /src (the checkout), in a
# private mount namespace.
in_rootfs() {
  local version=$1 dir="$cache/$1"
  shift
  mkdir -p "$dir/src" "$dir/opt/swift" "$dir/opt/swift-packages" "$dir/scratch"
  unshare --mount --propagation private -- bash -euo pipefail -c '
    dir=$1 src=$2
    shift 2
    mount --bind "$src" "$dir/src"
    mount --bind -o ro /opt/swift "$dir/opt/swift"
    mount -o remount,bind,ro "$dir/opt/swift"
    mount --bind /opt/swift-packages "$dir/opt/swift-packages"
    mount -o remount,bind,ro "$dir/opt/swift-packages"
    mount -t proc proc "$dir/proc"
    mount --rbind /dev "$dir/dev"
    mount --rbind /sys "$dir/sys"
    mount -t tmpfs tmpfs "$dir/tmp"
    cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$dir" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
      PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      LANG=C.UTF-8 CI="${CI:-}" OO_MATRIX=1 OO_SCRATCH=/scratch \
      bash -c "cd /src && exec \"\$@\"" bash "$@"
  ' bash "$dir" "$root" "$@"
}

# run_suite VERSION: the plain suite in VERSION's root filesystem, its own scratch path.
run_suite() {
  local version=$1
  ensure_rootfs "$version"
  echo "==> matrix $version: $(in_rootfs "$version" openssl version)"
  in_rootfs "$version" scripts/test.sh --plain --scratch-path /scratch
}

versions=()
case "${1:-}" in
  "") versions=(3.5 4.0) ;;
  3.5 | 4.0) versions=("$1") ;;
  --shell)
    ensure_rootfs "$2"
    in_rootfs "$2" bash
    exit
    ;;
  --run)
    version=$2
    shift 2
    ensure_rootfs "$version"
    in_rootfs "$version" "$@"
    exit
    ;;
  *) echo "usage: scripts/matrix.sh [3.5 | 4.0 | --shell VERSION | --run VERSION COMMAND...]" >&2; exit 2 ;;
esac

for version in "${versions[@]}"; do
  start=$SECONDS
  run_suite "$version"
  echo "==> matrix $version: passed in $((SECONDS - start)) s"
done
