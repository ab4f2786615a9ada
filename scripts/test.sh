#!/usr/bin/env bash
# The whole test suite: lint, build (no warnings allowed), every test plain, under
# AddressSanitizer with leak detection and under ThreadSanitizer, DocC, the benchmark round, the
# examples' build, the NIO integration package (Integration/: the NIO examples, swift-nio-ssl and
# curl interop; plain and under ThreadSanitizer) and a fuzz smoke run. CI runs exactly this. See
# docs/RELIABILITY.md.
#
# Sanitizer builds use their own scratch paths (.build-asan, .build-tsan, .build-fuzz), so the
# plain .build stays incremental. OO_SKIP_SANITIZERS=1 skips them for a quick local run. The plain
# run starts no LeakSanitizer child (it works under a debugger); OO_C_LEAK_CHECK=1 adds the leak
# check of the C capsule program to it. The last line is the verdict: the phases run, the tests
# passed in each run, what failed and what was skipped.
#
#   scripts/test.sh --plain [--scratch-path DIR]   only the warning-free build and the plain tests
#                                                   (what scripts/matrix.sh runs on OpenSSL 3.5 and 4.0)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
plain=""
scratch=()
while (($#)); do
  case "$1" in
    --plain) plain=yes ;;
    --scratch-path) scratch=(--scratch-path "$2"); shift ;;
    *) echo "usage: scripts/test.sh [--plain [--scratch-path DIR]]" >&2; exit 2 ;;
  esac
  shift
done
scripts/setup.sh

log=$(mktemp)
tests_log=$(mktemp)

# The verdict: one line at the end, whatever happened (phases run, tests passed per run, what
# failed, what was skipped).
phases=()
tested=()
skipped=()
current=""
phase() {
  current=$1
  phases+=("$1")
  echo "==> $1"
}
joined() {
  local IFS=","
  echo "$*" | sed 's/,/, /g'
}
verdict() {
  local status=$?
  rm -f "$log" "$tests_log"
  local summary="phases: $(joined "${phases[@]}")"
  summary+="; tests: $(joined "${tested[@]}")"
  if ((${#skipped[@]} > 0)); then summary+="; skipped: $(joined "${skipped[@]}")"; fi
  if [[ $status == 0 ]]; then
    echo "==> verdict: PASS ($summary)"
  else
    echo "==> verdict: FAIL in '$current' (exit $status; $summary)"
  fi
}
trap verdict EXIT

# run_tests NAME ARGS...: swift test ARGS, recording how many tests passed (Swift Testing's summary
# line and XCTest's).
run_tests() {
  local name=$1
  shift
  local status=0
  swift test "$@" 2>&1 | tee "$tests_log" || status=$?
  local count xctests failures
  count=$(sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} .*passed after.*/\1/p' "$tests_log" | tail -1)
  xctests=$(sed -n 's/.*Executed \([0-9]*\) tests\{0,1\}, with 0 failures.*/\1/p' "$tests_log" | tail -1)
  if [[ $status != 0 ]]; then
    failures=$(grep -o '✘ Test [^(]*(' "$tests_log" | sed 's/✘ Test //; s/($//' | sort -u | head -20 | paste -sd ' ' -)
    tested+=("$name failed: ${failures:-see the output above}")
    exit "$status"
  fi
  if [[ ${xctests:-0} != 0 ]]; then count=$((${count:-0} + xctests)); fi
  # Swift Testing counts skipped tests in its summary: passed is the rest.
  local skips
  skips=$(grep -c '^➜ Test .* skipped' "$tests_log" || true)
  if [[ ${skips:-0} != 0 ]]; then
    tested+=("$name $((${count:-0} - skips)) passed and $skips skipped")
  else
    tested+=("$name ${count:-0} passed")
  fi
}

# build_warning_free ARGS...: swift build ARGS, failing on any warning of ours (ld.gold's notes
# about a sanitizer runtime's own local symbols, and the 'main' note, are not ours).
build_warning_free() {
  if ! swift build "$@" 2>&1 | tee "$log" | grep -v "^\[" | grep -v "Cannot export local symbol '__"; then :; fi
  if ! grep -q "Build complete" "$log"; then exit 1; fi
  if grep -E "warning:" "$log" | grep -v "^warning: 'main'" | grep -v "Cannot export local symbol '__" \
    | grep -v "^warning: 'swift-distributed-tracing': found [0-9]* file(s) which are unhandled" | grep -q .; then
    echo "error: the build has warnings" >&2
    exit 1
  fi
}

if [[ -n $plain ]]; then
  phase "build"
  build_warning_free --build-tests "${scratch[@]}"
  phase "plain"
  run_tests plain --skip-build "${scratch[@]}"
  exit 0
fi

phase "lint"
swift format lint --strict -r Sources Tests Package.swift Benchmarks/Sources Benchmarks/Package.swift \
  Benchmarks/Peers/Sources Benchmarks/Peers/Package.swift Examples/Sources Examples/Package.swift \
  Fuzz/Sources Fuzz/Package.swift Integration/Sources Integration/Tests Integration/Package.swift

phase "build"
build_warning_free --build-tests

phase "plain"
run_tests plain --skip-build

if [[ ${OO_SKIP_SANITIZERS:-0} == 1 ]]; then
  skipped+=("asan, tsan and fuzz (OO_SKIP_SANITIZERS=1)")
else
  # Child processes (the CLI, oo-test-helper, the C capsule programs, which the tests build with
  # the toolchain's clang and the same sanitizer) inherit these options and are checked too.
  phase "asan"
  build_warning_free --build-tests --sanitize=address --scratch-path .build-asan
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=0 \
    LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp:print_suppressions=0 \
    SWIFT_BACKTRACE=enable=no \
    run_tests asan --skip-build --sanitize=address --scratch-path .build-asan

  phase "tsan"
  build_warning_free --build-tests --sanitize=thread --scratch-path .build-tsan
  TSAN_OPTIONS=suppressions=$root/scripts/tsan.supp:halt_on_error=0 \
    SWIFT_BACKTRACE=enable=no \
    run_tests tsan --skip-build --sanitize=thread --scratch-path .build-tsan
fi

phase "docc"
for target in OpenSSLObjects PKCS11Keys OpenSSLObjectsCapsule OpenSSLObjectsNIO; do
  # DocC prints its diagnostics on standard output: shown only when it fails.
  if ! swift package generate-documentation --target "$target" --warnings-as-errors >"$log" 2>&1; then
    grep -v "^\[" "$log" >&2
    exit 1
  fi
done

phase "bench"  # build the harness and run one short round of ours against C (no durations asserted)
if ! scripts/bench.sh --quick 2>&1 | tee "$log"; then exit 1; fi
if grep -E "warning:" "$log" | grep -q .; then
  echo "error: the benchmark build has warnings" >&2
  exit 1
fi

phase "examples"
build_warning_free --package-path Examples

# Its own package, so that users of OpenSSLObjectsNIO never resolve swift-nio-ssl or Hummingbird:
# the NIO examples against each other and curl, our handlers against swift-nio-ssl's.
phase "integration"
build_warning_free --build-tests --package-path Integration
run_tests integration --skip-build --package-path Integration
if [[ ${OO_SKIP_SANITIZERS:-0} != 1 ]]; then
  phase "integration-tsan"
  build_warning_free --build-tests --package-path Integration --sanitize=thread --scratch-path Integration/.build-tsan
  TSAN_OPTIONS=suppressions=$root/scripts/tsan.supp:halt_on_error=0 \
    SWIFT_BACKTRACE=enable=no \
    run_tests integration-tsan --skip-build --package-path Integration --sanitize=thread \
    --scratch-path Integration/.build-tsan
fi

if [[ ${OO_SKIP_SANITIZERS:-0} != 1 ]]; then
  phase "fuzz"  # every target of Fuzz/ for 20 seconds (scripts/fuzz.sh)
  scripts/fuzz.sh --smoke 20
fi
