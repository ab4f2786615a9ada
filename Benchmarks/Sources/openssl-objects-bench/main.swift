// The benchmark harness: throughput of our Swift API against C (interleaved rounds), memory over
// many create/free cycles, and a single-side runner for callgrind. See docs/PERFORMANCE.md and
// `Harness` for the commands.

import BenchmarkKit

Harness.main(name: "openssl-objects-bench")
