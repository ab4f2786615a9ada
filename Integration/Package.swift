// swift-tools-version: 6.2
// OpenSSLObjectsNIO with the packages its users bring: the examples (a NIOAsyncChannel client and
// server, and an HTTPS server on Hummingbird 2 whose key is on a PKCS#11 token and which staples
// OCSP) and the tests that need more than swift-nio (the examples against curl, our handlers
// against swift-nio-ssl's NIOSSLHandler). Its own package, so that a user of OpenSSLObjectsNIO
// never resolves swift-nio-ssl or Hummingbird; scripts/test.sh builds it and runs its tests.
import PackageDescription

let package = Package(
  name: "OpenSSLObjectsIntegration",
  platforms: [.macOS(.v14)],
  dependencies: [
    .package(name: "OpenSSLObjects", path: ".."),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    // Without its default traits: no swift-configuration to build.
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
  ],
  targets: [
    // A TLS client on NIOAsyncChannel: connects, sends a line, prints what came back.
    .executableTarget(
      name: "nio-tls-client",
      dependencies: [
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "OpenSSLObjectsNIO", package: "OpenSSLObjects"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ]),
    // A TLS server on NIOAsyncChannel: answers each line upper-cased.
    .executableTarget(
      name: "nio-tls-server",
      dependencies: [
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "OpenSSLObjectsNIO", package: "OpenSSLObjects"),
        .product(name: "PKCS11Keys", package: "OpenSSLObjects"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ]),
    // Hummingbird's child channel with our TLS handler in front of HTTP/1.1.
    .target(
      name: "HummingbirdOpenSSL",
      dependencies: [
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "OpenSSLObjectsNIO", package: "OpenSSLObjects"),
        .product(name: "HummingbirdCore", package: "hummingbird"),
        .product(name: "NIOCore", package: "swift-nio"),
      ]),
    // An HTTPS server on Hummingbird 2: the key on a PKCS#11 token, OCSP stapled and refreshed.
    .executableTarget(
      name: "https-token-server",
      dependencies: [
        "HummingbirdOpenSSL",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "PKCS11Keys", package: "OpenSSLObjects"),
      ]),
    // Our handlers against swift-nio-ssl's, both directions.
    .testTarget(
      name: "NIOSSLInteropTests",
      dependencies: [
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "OpenSSLObjectsNIO", package: "OpenSSLObjects"),
        .product(name: "OpenSSLObjectsTestSupport", package: "OpenSSLObjects"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOTLS", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ]),
    // The examples, run as their users run them: against each other and against curl.
    .testTarget(
      name: "ExampleTests",
      dependencies: [
        .product(name: "OpenSSLObjects", package: "OpenSSLObjects"),
        .product(name: "OpenSSLObjectsTestSupport", package: "OpenSSLObjects"),
      ]),
  ],
  swiftLanguageModes: [.v6]
)
