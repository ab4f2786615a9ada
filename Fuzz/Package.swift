// swift-tools-version: 6.0
// Fuzz targets for libFuzzer: one executable per target, each defining LLVMFuzzerTestOneInput.
// Its own package, kept out of the main build; build and run a target with
// `scripts/fuzz.sh TARGET SECONDS` (swift build --sanitize=fuzzer --sanitize=address), see
// docs/RELIABILITY.md.
import PackageDescription

/// The targets: `Sources/fuzz-NAME/`, run as `scripts/fuzz.sh NAME SECONDS`, seeds in
/// `Corpus/NAME/`. A new target is one more line here, a directory of sources and a seed
/// directory; the script and CI find it through `scripts/fuzz.sh --list`.
let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
  ("certificate", []),
  ("private-key", []),
  ("crl", []),
  ("ocsp-response", []),
  ("pkcs11-uri", [.product(name: "PKCS11Keys", package: "OpenSSLObjects")]),
  ("tls-server", []),
  ("capsule", [.product(name: "OpenSSLObjectsCapsule", package: "OpenSSLObjects"), "CCapsuleABI"]),
]

let package = Package(
  name: "OpenSSLObjectsFuzz",
  platforms: [.macOS(.v14)],
  products: fuzzTargets.map { .executable(name: "fuzz-\($0.name)", targets: ["fuzz-\($0.name)"]) },
  dependencies: [
    .package(name: "OpenSSLObjects", path: "..")
  ],
  targets: [
    // What every target shares: the checks that turn a broken rule into a crash libFuzzer
    // reports (an error left on OpenSSL's queue, a round trip that does not hold), fixtures,
    // and the seed-writing mode.
    .target(
      name: "FuzzSupport",
      dependencies: [.product(name: "OpenSSLObjects", package: "OpenSSLObjects")]
    ),
    // include/openssl_objects.h, for the capsule target, which calls the C ABI as C code does.
    .systemLibrary(name: "CCapsuleABI"),
  ]
    + fuzzTargets.map { target in
      .executableTarget(
        name: "fuzz-\(target.name)",
        dependencies: ["FuzzSupport", .product(name: "OpenSSLObjects", package: "OpenSSLObjects")]
          + target.dependencies,
        // No `main`: libFuzzer's main calls LLVMFuzzerTestOneInput.
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
      )
    },
  swiftLanguageModes: [.v6]
)
