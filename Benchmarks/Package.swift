// swift-tools-version: 6.0
// The benchmark harness: our Swift API against C making the same OpenSSL calls on the same inputs.
// Its own package, kept out of the main build; run it with `scripts/bench.sh` (see
// docs/PERFORMANCE.md).
import PackageDescription

let package = Package(
  name: "OpenSSLObjectsBenchmarks",
  platforms: [.macOS(.v14)],
  products: [
    // For the peers' package (Peers/), which adds swift-nio-ssl and Python to the same runs.
    .library(name: "BenchmarkKit", targets: ["BenchmarkKit"])
  ],
  dependencies: [
    .package(name: "OpenSSLObjects", path: ".."),
    // For OpenSSLObjectsNIO's side of the TLS workloads (EmbeddedChannel).
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
  ],
  targets: [
    // OpenSSL for the C baselines, found through pkg-config as the library finds it.
    .systemLibrary(
      name: "COpenSSLBench",
      pkgConfig: "openssl",
      providers: [.apt(["libssl-dev"])]
    ),
    // libp11, for the token workloads' C side.
    .systemLibrary(
      name: "CLibP11Bench",
      pkgConfig: "libp11",
      providers: [.apt(["libp11-dev"])]
    ),
    // Each workload in plain C: the baseline (pre-fetched algorithms, as our defaults) and the
    // naive form (implicit fetches, as most C code is written).
    .target(
      name: "CBaseline",
      dependencies: ["COpenSSLBench", "CLibP11Bench"]
    ),
    // malloc/free interposed by symbol (no LD_PRELOAD) plus OpenSSL's CRYPTO_set_mem_functions:
    // linked only into the allocation-counting executable.
    .target(
      name: "CAllocationCounter",
      dependencies: ["COpenSSLBench"]
    ),
    // The workloads, fixtures, runner and reports, shared by both executables.
    .target(
      name: "BenchmarkKit",
      dependencies: [
        "CBaseline",
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "OpenSSLObjectsNIO", package: "OpenSSLObjects"),
        .product(name: "PKCS11Keys", package: "OpenSSLObjects"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOTLS", package: "swift-nio"),
      ]
    ),
    // Throughput (interleaved rounds of ours against C) and memory growth.
    .executableTarget(
      name: "openssl-objects-bench",
      dependencies: ["BenchmarkKit"]
    ),
    // Heap allocations per operation, counted.
    .executableTarget(
      name: "openssl-objects-bench-alloc",
      dependencies: ["BenchmarkKit", "CAllocationCounter"]
    ),
  ],
  swiftLanguageModes: [.v6]
)
