// swift-tools-version: 6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

// The libraries and the command line also check memory safety strictly (SE-0458): every use of an
// unsafe construct is marked `unsafe`, and the doors that can break memory safety are `@unsafe`.
let safeSettings: [SwiftSetting] = strictSettings + [.strictMemorySafety()]

let package = Package(
  name: "OpenSSLObjects",
  platforms: [.macOS(.v14)],
  products: [
    .library(name: "OpenSSLObjects", targets: ["OpenSSLObjects"]),
    .library(name: "PKCS11Keys", targets: ["PKCS11Keys"]),
    // TLS for SwiftNIO pipelines over SSLConnection; the only product that needs swift-nio.
    .library(name: "OpenSSLObjectsNIO", targets: ["OpenSSLObjectsNIO"]),
    .executable(name: "openssl-objects", targets: ["openssl-objects"]),
    // The C ABI (include/openssl_objects.h) as the shared library C programs link:
    // libopenssl_objects.so.
    .library(name: "openssl_objects", type: .dynamic, targets: ["OpenSSLObjectsCapsule"]),
    // The same, for Swift packages that link the capsule layer statically (the fuzz targets).
    .library(name: "OpenSSLObjectsCapsule", targets: ["OpenSSLObjectsCapsule"]),
    // OpenSSL's own C API as the library sees it (its headers and the oo_ shims for macros), for
    // Swift code that calls OpenSSL directly on the pointers the wrappers lend: `import COpenSSLFull`.
    .library(name: "COpenSSLFull", targets: ["COpenSSLFull"]),
    // The test helpers (PKIs, SoftHSM2 tokens, openssl and curl peers, child processes), for the
    // repository's own separate test package (Integration/); not an API.
    .library(name: "OpenSSLObjectsTestSupport", targets: ["TestSupport", "NIOTestSupport"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
  ],
  targets: [
    // OpenSSL 3 through pkg-config, plus static inline shims for macros and variadic functions.
    .systemLibrary(
      name: "COpenSSLFull",
      pkgConfig: "openssl",
      providers: [.apt(["libssl-dev"])]
    ),
    // libp11 (PKCS#11 through OpenSSL) through pkg-config.
    .systemLibrary(
      name: "CLibP11",
      pkgConfig: "libp11",
      providers: [.apt(["libp11-dev"])]
    ),
    .target(
      name: "OpenSSLObjects",
      dependencies: ["COpenSSLFull"],
      swiftSettings: safeSettings
    ),
    // Which libcrypto / libssl another loaded library links (libp11, libcurl): two OpenSSLs in one
    // process must never exchange objects.
    .target(name: "CLinkedLibraries"),
    .target(
      name: "PKCS11Keys",
      dependencies: ["OpenSSLObjects", "CLibP11", "COpenSSLFull", "CLinkedLibraries"],
      swiftSettings: safeSettings
    ),
    // A client and a server ChannelHandler driven by SSLConnection (sans-I/O).
    .target(
      name: "OpenSSLObjectsNIO",
      dependencies: [
        "OpenSSLObjects",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOTLS", package: "swift-nio"),
      ],
      swiftSettings: safeSettings
    ),
    // include/openssl_objects.h for the Swift side of the C ABI.
    .systemLibrary(name: "COpenSSLObjectsABI"),
    // Keeps the shared library loaded once loaded (what -z nodelete did, without an unsafe
    // linker flag, which no versioned dependency may carry): OpenSSL keeps pointers to its callbacks.
    .target(
      name: "CResidentLibrary",
      linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]
    ),
    // The Swift side of the C ABI: capsules and the API table (@_cdecl exports), above both
    // libraries.
    .target(
      name: "OpenSSLObjectsCapsule",
      dependencies: ["OpenSSLObjects", "PKCS11Keys", "COpenSSLFull", "COpenSSLObjectsABI", "CResidentLibrary"],
      swiftSettings: safeSettings
    ),
    // The C side of `openssl-objects demo`: plain C code that takes a Swift-configured SSL_CTX
    // through a capsule (include/openssl_objects.h) and connects with it.
    .target(
      name: "CapsuleDemoClient",
      dependencies: ["OpenSSLObjectsCapsule"],
      linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
    ),
    .executableTarget(
      name: "openssl-objects",
      dependencies: [
        "OpenSSLObjects",
        "PKCS11Keys",
        "COpenSSLFull",
        "OpenSSLObjectsCapsule",
        "CapsuleDemoClient",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: safeSettings
    ),
    // Child-process scenarios for the tests: allocation counting, environment-dependent loading.
    .executableTarget(
      name: "oo-test-helper",
      dependencies: ["OpenSSLObjects", "PKCS11Keys", "COpenSSLFull", "TestSupport"],
      path: "Tests/oo-test-helper",
      swiftSettings: strictSettings
    ),
    // libcurl, for the tests that configure curl's SSL_CTX from Swift. Its header is on the default
    // include path (libcurl4-openssl-dev); no pkgConfig: Debian 13's libcurl.pc adds
    // `-isystem /usr/include/mit-krb5`, a flag SwiftPM refuses with a warning.
    .systemLibrary(
      name: "CCurl",
      path: "Tests/CCurl",
      providers: [.apt(["libcurl4-openssl-dev"])]
    ),
    // Shared by the test targets: PKI builders, temporary directories, child processes.
    .target(
      name: "TestSupport",
      dependencies: ["OpenSSLObjects", "COpenSSLFull"],
      path: "Tests/TestSupport",
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "OpenSSLObjectsTests",
      dependencies: ["OpenSSLObjects", "COpenSSLFull", "CCurl", "CLinkedLibraries", "TestSupport"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "PKCS11KeysTests",
      dependencies: ["PKCS11Keys", "OpenSSLObjects", "COpenSSLFull", "TestSupport"],
      // Read by path (#filePath), also by the pkcs11-uri fuzz target's seed code.
      exclude: ["rfc7512-examples.txt"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "CapsuleTests",
      dependencies: ["OpenSSLObjectsCapsule", "OpenSSLObjects", "COpenSSLFull", "COpenSSLObjectsABI", "TestSupport"],
      swiftSettings: strictSettings
    ),
    // Shared by the NIO test targets (here and in Integration/): recorders, servers, peers.
    .target(
      name: "NIOTestSupport",
      dependencies: [
        "OpenSSLObjectsNIO", "OpenSSLObjects", "COpenSSLFull", "TestSupport",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOTLS", package: "swift-nio"),
      ],
      path: "Tests/NIOTestSupport",
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "OpenSSLObjectsNIOTests",
      dependencies: [
        "OpenSSLObjectsNIO", "OpenSSLObjects", "PKCS11Keys", "TestSupport", "NIOTestSupport",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOTLS", package: "swift-nio"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "CLITests",
      dependencies: ["OpenSSLObjects", "PKCS11Keys", "TestSupport"],
      swiftSettings: strictSettings
    ),
    // The package as users get it: the documentation's snippets compile, the products resolve by
    // version from a scratch package, C programs build against an installed prefix.
    .testTarget(
      name: "AdoptionTests",
      dependencies: ["TestSupport"],
      swiftSettings: strictSettings
    ),
  ],
  swiftLanguageModes: [.v6]
)
