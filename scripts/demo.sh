#!/usr/bin/env bash
# The main job: `openssl-objects demo`, after installing what the machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --product openssl-objects >&2
exec .build/debug/openssl-objects demo "$@"
