// swift-tools-version: 6.0
// Runnable examples of the three things users come for. CI builds them (scripts/test.sh).
import PackageDescription

let package = Package(
  name: "OpenSSLObjectsExamples",
  platforms: [.macOS(.v14)],
  dependencies: [.package(name: "OpenSSLObjects", path: "..")],
  targets: [
    // Load a key from an HSM by PKCS#11 URI and serve TLS with it.
    .executableTarget(
      name: "HSMTLSServer",
      dependencies: [
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "PKCS11Keys", package: "OpenSSLObjects"),
      ]),
    // Hand a configured SSL_CTX to a C library: libcurl's CURLOPT_SSL_CTX_FUNCTION.
    .executableTarget(
      name: "CurlWithSSLContext",
      dependencies: [.product(name: "OpenSSLObjects", package: "OpenSSLObjects"), "CCurlExample"]),
    // A custom verification callback with pins (and OCSP).
    .executableTarget(
      name: "VerifyWithPolicy",
      dependencies: [.product(name: "OpenSSLObjects", package: "OpenSSLObjects")]),
    .systemLibrary(name: "CCurlExample", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
  ],
  swiftLanguageModes: [.v6]
)
