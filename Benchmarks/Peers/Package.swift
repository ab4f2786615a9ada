// swift-tools-version: 6.0
// The peers of the benchmark harness: the same TLS workloads through swift-nio-ssl (its own
// BoringSSL, on an EmbeddedChannel) and through Python's `ssl` and pyOpenSSL (a child process),
// measured in the same interleaved rounds as ours and C. Its own package because swift-nio-ssl is
// a heavy build: only the full `scripts/bench.sh` builds it (release), never `--quick` or CI.
import PackageDescription

let package = Package(
  name: "OpenSSLObjectsBenchmarkPeers",
  platforms: [.macOS(.v14)],
  dependencies: [
    .package(path: ".."),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
  ],
  targets: [
    .executableTarget(
      name: "openssl-objects-bench-peers",
      dependencies: [
        .product(name: "BenchmarkKit", package: "Benchmarks"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
      ]
    )
  ],
  swiftLanguageModes: [.v6]
)
