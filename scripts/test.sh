#!/usr/bin/env bash
# The whole test suite: lint, build (no warnings allowed), every test plain, under
# AddressSanitizer with leak detection and under ThreadSanitizer, DocC, the benchmark round, the
# examples' build, the NIO integration package (Integration/: the NIO examples, swift-nio-ssl and
# curl interop; plain and under ThreadSanitizer) and a fuzz smoke run. CI runs exactly this. See
# docs/RELIABILITY.md.
#
# Sanitizer builds use their own scratch paths (.build-asan, .build-tsan, .build-fuzz), so the
# plain .build stays incremental. OO_SKIP_SANITIZERS=1 skips them for a quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# build_warning_free ARGS...: swift build ARGS, failing on any warning of ours (ld.gold's notes
# about a sanitizer runtime's own local symbols, the 'main' note, and swift-distributed-tracing's
# note about its own CMakeLists files, a dependency of Hummingbird in Integration/, are not ours).
build_warning_free() {
  if ! swift build "$@" 2>&1 | tee "$log" | grep -v "^\[" | grep -v "Cannot export local symbol '__"; then :; fi
  if ! grep -q "Build complete" "$log"; then exit 1; fi
  if grep -E "warning:" "$log" | grep -v "^warning: 'main'" | grep -v "Cannot export local symbol '__" \
    | grep -v "^warning: 'swift-distributed-tracing': found [0-9]* file(s) which are unhandled" | grep -q .; then
    echo "error: the build has warnings" >&2
    exit 1
  fi
}

echo "==> swift format lint --strict"
swift format lint --strict -r Sources Tests Package.swift Benchmarks/Sources Benchmarks/Package.swift \
  Benchmarks/Peers/Sources Benchmarks/Peers/Package.swift Examples/Sources Examples/Package.swift \
  Fuzz/Sources Fuzz/Package.swift Integration/Sources Integration/Tests Integration/Package.swift

echo "==> swift build --build-tests (warnings are errors)"
build_warning_free --build-tests

echo "==> swift test"
swift test --skip-build

if [[ ${OO_SKIP_SANITIZERS:-0} != 1 ]]; then
  # Child processes (the CLI, oo-test-helper, the C capsule programs, which the tests build with
  # the toolchain's clang and the same sanitizer) inherit these options and are checked too.
  echo "==> AddressSanitizer + LeakSanitizer: the whole suite (.build-asan)"
  build_warning_free --build-tests --sanitize=address --scratch-path .build-asan
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=0 \
    LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp:print_suppressions=0 \
    SWIFT_BACKTRACE=enable=no \
    swift test --skip-build --sanitize=address --scratch-path .build-asan

  echo "==> ThreadSanitizer: the whole suite (.build-tsan)"
  build_warning_free --build-tests --sanitize=thread --scratch-path .build-tsan
  TSAN_OPTIONS=suppressions=$root/scripts/tsan.supp:halt_on_error=0 \
    SWIFT_BACKTRACE=enable=no \
    swift test --skip-build --sanitize=thread --scratch-path .build-tsan
fi

echo "==> DocC (warnings are errors)"
for target in OpenSSLObjects PKCS11Keys OpenSSLObjectsCapsule OpenSSLObjectsNIO; do
  # DocC prints its diagnostics on standard output: shown only when it fails.
  if ! swift package generate-documentation --target "$target" --warnings-as-errors >"$log" 2>&1; then
    grep -v "^\[" "$log" >&2
    exit 1
  fi
done

echo "==> benchmarks: build the harness and run one short round of ours against C (no durations asserted)"
if ! scripts/bench.sh --quick 2>&1 | tee "$log"; then exit 1; fi
if grep -E "warning:" "$log" | grep -q .; then
  echo "error: the benchmark build has warnings" >&2
  exit 1
fi

echo "==> examples: build them (warnings are errors)"
build_warning_free --package-path Examples

# Its own package, so that users of OpenSSLObjectsNIO never resolve swift-nio-ssl or Hummingbird.
echo "==> Integration/: the NIO examples, against each other and curl; our handlers against swift-nio-ssl"
build_warning_free --build-tests --package-path Integration
swift test --skip-build --package-path Integration
if [[ ${OO_SKIP_SANITIZERS:-0} != 1 ]]; then
  echo "==> ThreadSanitizer: Integration/ (Integration/.build-tsan)"
  build_warning_free --build-tests --package-path Integration --sanitize=thread --scratch-path Integration/.build-tsan
  TSAN_OPTIONS=suppressions=$root/scripts/tsan.supp:halt_on_error=0 \
    SWIFT_BACKTRACE=enable=no \
    swift test --skip-build --package-path Integration --sanitize=thread --scratch-path Integration/.build-tsan
fi

if [[ ${OO_SKIP_SANITIZERS:-0} != 1 ]]; then
  echo "==> fuzz smoke: every target of Fuzz/ for 20 seconds (scripts/fuzz.sh)"
  scripts/fuzz.sh --smoke 20
fi
