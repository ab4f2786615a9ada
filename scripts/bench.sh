#!/usr/bin/env bash
# Benchmarks: our Swift API against C making the same OpenSSL calls on the same inputs.
#
#   scripts/bench.sh                 throughput (interleaved rounds) with the peers (swift-nio-ssl,
#                                    Python's ssl, pyOpenSSL), heap allocations per operation,
#                                    memory over create/free cycles; prints the tables and writes
#                                    bench-results.json in the repository root
#   scripts/bench.sh --quick         the same without the peers, one short round (what CI runs)
#   scripts/bench.sh --memory        memory only, at full scale (a million certificate parses...)
#   scripts/bench.sh --instructions  instructions per operation under callgrind (stable numbers);
#                                    with --peers, swift-nio-ssl's too
#
# Release build of the separate package in Benchmarks/ (and, for the full run only, of the peers'
# package in Benchmarks/Peers, which builds swift-nio-ssl and its BoringSSL). The token workloads
# run on a SoftHSM2 token made in a temporary directory by scripts/softhsm-token.sh and removed at
# the end. Nothing here asserts a duration: a slow result is reported, never failed. See
# docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh

mode=full
peers=""
for argument in "$@"; do
  case "$argument" in
    --quick) mode=quick ;;
    --memory) mode=memory ;;
    --instructions) mode=instructions ;;
    --peers) peers=yes ;;
    *) echo "usage: scripts/bench.sh [--quick | --memory | --instructions [--peers]]" >&2; exit 2 ;;
  esac
done
if [[ $mode == full ]]; then peers=yes; fi
if [[ $mode == quick || $mode == memory ]]; then peers=""; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# OO_SCRATCH (set by scripts/matrix.sh inside its root filesystems): build outside the checkout,
# so that another OpenSSL's build never mixes with the host's Benchmarks/.build.
scratch=()
peers_scratch=()
if [[ -n ${OO_SCRATCH:-} ]]; then
  scratch=(--scratch-path "$OO_SCRATCH/benchmarks")
  peers_scratch=(--scratch-path "$OO_SCRATCH/benchmarks-peers")
fi

echo "==> swift build -c release (Benchmarks)"
if ! swift build -c release --package-path Benchmarks "${scratch[@]}" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  exit 1
fi
grep -v "^\[" "$work/build.log" || true
bin=$(swift build -c release --package-path Benchmarks "${scratch[@]}" --show-bin-path)

echo "==> SoftHSM2 token (scripts/softhsm-token.sh, in a temporary directory)"
scripts/softhsm-token.sh "$work/token"
export SOFTHSM2_CONF="$work/token/softhsm2.conf" OO_BENCH_TOKEN_DIR="$work/token"

# The throughput executable: with the peers in the full run, ours and C only otherwise.
throughput=("$bin/openssl-objects-bench")
profiled="$bin/openssl-objects-bench"
if [[ -n $peers ]]; then
  echo "==> swift build -c release (Benchmarks/Peers: swift-nio-ssl)"
  if ! swift build -c release --package-path Benchmarks/Peers "${peers_scratch[@]}" >"$work/peers-build.log" 2>&1; then
    cat "$work/peers-build.log" >&2
    exit 1
  fi
  grep -v "^\[" "$work/peers-build.log" || true
  peers_bin=$(swift build -c release --package-path Benchmarks/Peers "${peers_scratch[@]}" --show-bin-path)
  # Python's ssl and pyOpenSSL on the system OpenSSL: Debian's python3 has both (python3-openssl).
  python=/usr/bin/python3
  if ! "$python" -c "import OpenSSL" 2>/dev/null; then
    echo "note: $python has no pyOpenSSL (apt-get install python3-openssl); that peer is left out" >&2
  fi
  throughput=("$peers_bin/openssl-objects-bench-peers" --python "$python" --python-peers "$root/Benchmarks/Peers/python_peers.py")
  profiled="$peers_bin/openssl-objects-bench-peers"
fi

echo "==> machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(openssl version)"

case "$mode" in
  quick | full)
    flag=""
    if [[ $mode == quick ]]; then flag="--quick"; fi
    echo "==> heap allocations per operation"
    "$bin/openssl-objects-bench-alloc" $flag --json "$work/allocations.json"
    echo
    echo "==> throughput"
    "${throughput[0]}" run $flag "${throughput[@]:1}" --allocations "$work/allocations.json" --json "$root/bench-results.json"
    echo
    echo "==> memory"
    if [[ $mode == quick ]]; then
      "$bin/openssl-objects-bench" memory --quick
    else
      # A tenth of the full scale; `scripts/bench.sh --memory` runs it all.
      "$bin/openssl-objects-bench" memory --scale 0.1
    fi
    echo
    echo "wrote bench-results.json"
    ;;
  memory)
    "$bin/openssl-objects-bench" memory
    ;;
  instructions)
    if ! command -v valgrind >/dev/null; then
      echo "bench: installing valgrind" >&2
      sudo=""
      if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends valgrind >/dev/null
    fi
    # valgrind 3.19 cannot read the DWARF 5 of Swift's toolchain: profile a copy without debug info
    # (the symbol table, which names the functions, stays).
    objcopy --strip-debug "$profiled" "$work/openssl-objects-bench"
    (cd "$work" && valgrind --tool=callgrind --collect-atstart=no --toggle-collect=cb_measured_region \
      --dump-after=cb_measured_region --callgrind-out-file="$work/callgrind.out" \
      "$work/openssl-objects-bench" instructions >"$work/manifest.txt" 2>"$work/valgrind.log") || {
      cat "$work/valgrind.log" >&2
      exit 1
    }
    # One profile per region, numbered in order (callgrind.out.1, .2, ...).
    mapfile -t profiles < <(cd "$work" && ls callgrind.out.* | sort -t. -k3 -n | sed "s|^|$work/|")
    "$bin/openssl-objects-bench" instruction-table "$work/manifest.txt" "${profiles[@]}"
    ;;
esac
