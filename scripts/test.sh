#!/usr/bin/env bash
# The whole test suite: lint, build (no warnings allowed), and every test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "==> swift format lint --strict"
swift format lint --strict -r Sources Tests Package.swift Benchmarks/Sources Benchmarks/Package.swift \
  Benchmarks/Peers/Sources Benchmarks/Peers/Package.swift Examples/Sources Examples/Package.swift

echo "==> swift build --build-tests (warnings are errors)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! swift build --build-tests 2>&1 | tee "$log"; then exit 1; fi
if grep -E "warning:" "$log" | grep -v "^warning: 'main'" | grep -q .; then
  echo "error: the build has warnings" >&2
  exit 1
fi

echo "==> swift test"
swift test --skip-build

echo "==> DocC (warnings are errors)"
for target in OpenSSLObjects PKCS11Keys OpenSSLObjectsCapsule; do
  swift package generate-documentation --target "$target" --warnings-as-errors >/dev/null
done

echo "==> benchmarks: build the harness and run one short round of ours against C (no durations asserted)"
if ! scripts/bench.sh --quick 2>&1 | tee "$log"; then exit 1; fi
if grep -E "warning:" "$log" | grep -q .; then
  echo "error: the benchmark build has warnings" >&2
  exit 1
fi

echo "==> examples: build them (warnings are errors)"
if ! swift build --package-path Examples 2>&1 | tee "$log"; then exit 1; fi
if grep -E "warning:" "$log" | grep -q .; then
  echo "error: the examples' build has warnings" >&2
  exit 1
fi
