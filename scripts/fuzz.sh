#!/usr/bin/env bash
# Fuzzing with libFuzzer: builds the package in Fuzz/ with libFuzzer's coverage and
# AddressSanitizer (scratch path .build-fuzz) and runs targets.
#
#   scripts/fuzz.sh TARGET SECONDS   runs TARGET for SECONDS on its corpus (seeds from
#                                    Fuzz/Corpus/TARGET, new inputs kept in .build-fuzz/corpus/TARGET)
#   scripts/fuzz.sh --smoke SECONDS  every target for SECONDS each (what CI runs)
#   scripts/fuzz.sh --list           the targets
#   scripts/fuzz.sh --seeds          rewrites Fuzz/Corpus/*/ with the seeds each target's own code makes
#
# A crash, a leak, a timeout (10 s for one input) or a broken rule of the target (an error left on
# OpenSSL's queue, a round trip that changes an object) stops the run; the input is saved in
# .build-fuzz/artifacts/TARGET/ and the script exits 1. Reproduce with
# `.build-fuzz/debug/fuzz-TARGET FILE`. See docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=$root/.build-fuzz

usage() {
  echo "usage: scripts/fuzz.sh TARGET SECONDS | --smoke SECONDS | --list | --seeds" >&2
  exit 2
}

targets() {
  (cd Fuzz/Sources && ls -d fuzz-* | sed 's/^fuzz-//')
}

# Swift 6.3's driver keeps only the last of several -sanitize= options, so
# `swift build --sanitize=fuzzer --sanitize=address` compiles with AddressSanitizer and no coverage
# (a from-scratch build; libFuzzer then says "no interesting inputs"). One -sanitize=fuzzer,address
# after SwiftPM's own flag gives both; --sanitize=fuzzer stays for SwiftPM, which then links the
# executables without renaming their (absent) main.
flags=(--package-path Fuzz --scratch-path "$scratch" --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address)

build() {
  scripts/setup.sh
  echo "==> swift build -sanitize=fuzzer,address (Fuzz)"
  local log
  log=$(mktemp)
  if ! swift build "${flags[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  # ld.gold's notes about the sanitizer runtime's own local symbols are not ours.
  if grep -E "warning:" "$log" | grep -v "Cannot export local symbol '__" | grep -q .; then
    grep -E "warning:" "$log" | grep -v "Cannot export local symbol '__" >&2
    echo "error: the fuzz build has warnings" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  bin=$(swift build "${flags[@]}" --show-bin-path)
  # The check that the flags above did what they say: the targets carry coverage counters and
  # AddressSanitizer's instrumented globals.
  local sections
  sections=$(objdump -h "$bin/fuzz-certificate")
  if ! grep -q __sancov_cntrs <<<"$sections" || ! grep -q asan_globals <<<"$sections"; then
    echo "error: the fuzz targets were built without coverage or AddressSanitizer" >&2
    exit 1
  fi
}

# run TARGET SECONDS: one libFuzzer run; prints its final statistics.
run() {
  local target=$1 seconds=$2
  local executable=$bin/fuzz-$target
  [[ -x $executable ]] || { echo "no fuzz target '$target' (scripts/fuzz.sh --list)" >&2; exit 2; }
  local corpus=$scratch/corpus/$target artifacts=$scratch/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  echo "==> fuzz-$target for ${seconds}s"
  local log=$scratch/fuzz-$target.log status=0
  # New inputs go into the first directory; the committed seeds are only read.
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp:print_suppressions=0 \
    "$executable" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "$root/Fuzz/Corpus/$target" \
    >"$log" 2>&1 || status=$?
  grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|^#[0-9]+ +DONE" "$log" || true
  if ((status != 0)); then
    tail -60 "$log" >&2
    echo "error: fuzz-$target failed (status $status); inputs in $artifacts:" >&2
    ls "$artifacts" >&2
    exit 1
  fi
}

case "${1:-}" in
  --list)
    targets
    ;;
  --seeds)
    build
    for target in $(targets); do
      rm -rf "Fuzz/Corpus/$target"
      OO_FUZZ_WRITE_SEEDS="$root/Fuzz/Corpus/$target" "$bin/fuzz-$target"
      echo "Fuzz/Corpus/$target: $(ls "Fuzz/Corpus/$target" | wc -l) seeds"
    done
    ;;
  --smoke)
    [[ $# == 2 ]] || usage
    build
    for target in $(targets); do run "$target" "$2"; done
    ;;
  "" | -*)
    usage
    ;;
  *)
    [[ $# == 2 ]] || usage
    build
    run "$1" "$2"
    ;;
esac
