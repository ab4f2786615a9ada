import COpenSSLFull
import COpenSSLObjectsABI
import Foundation
import OpenSSLObjects
import OpenSSLObjectsCapsule
import TestSupport
import Testing

/// The C programs of Tests/CapsuleC, built with `cc` against include/openssl_objects.h and
/// libopenssl_objects.so exactly as a third party builds them.
enum CPrograms {
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

  /// Builds `name.c` into `directory`, with AddressSanitizer when `sanitize` is set or when this
  /// process runs under a sanitizer (then with the Swift toolchain's clang and the same sanitizer).
  static func build(_ name: String, in directory: TemporaryDirectory, sanitize: Bool = false) throws -> String {
    let output = directory.file(name + (sanitize ? "-asan" : ""))
    let products = ChildProcess.productsDirectory
    let (compiler, flags, libraries) = Sanitizer.cCompiler(address: sanitize)
    let arguments =
      flags + [
        "-Wall", "-Werror", "-I\(repository)/include", "\(repository)/Tests/CapsuleC/\(name).c", "-o", output,
        "-L\(products)", "-lopenssl_objects", "-lssl", "-lcrypto",
        "-Wl,-rpath,\(products):\(Sanitizer.swiftRuntimeDirectory)",
      ] + libraries
    let result = try ChildProcess.run(compiler, arguments)
    guard result.status == 0 else { throw BuildFailed(output: result.output) }
    return output
  }

  struct BuildFailed: Error, CustomStringConvertible {
    let output: String
    var description: String { "cc failed: \(output)" }
  }
}

@Suite("The C capsule ABI, used from C as a third party would")
struct CapsuleCTests {
  @Test func cReceivesAContextConfiguredInSwiftAndConnects() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_tls", in: directory)
    let pki = try TestPKI(leafName: "localhost")
    let server = try LoopbackTLSServer(
      context: try SSLContext(
        configuration: .server([
          CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
        ])),
      connections: 3)
    let trusted = try directory.write("root.pem", pki.root.pemEncoded)
    let good = try ChildProcess.run(program, ["\(server.port)", trusted, pki.root.spkiPin, "localhost"])
    #expect(good.status == 0, "\(good.output)")
    #expect(good.stdout.contains("handshake ok: TLSv1.3, 3 verify callback calls"), "\(good.output)")
    let pinned = try ChildProcess.run(program, ["\(server.port)", trusted, try TestPKI().root.spkiPin, "localhost"])
    #expect(pinned.status == 1, "\(pinned.output)")
    #expect(pinned.stdout.contains("handshake refused: application verification failure"), "\(pinned.output)")
    // The staple policy from the API table: this server staples nothing, so a required staple fails.
    let stapled = try ChildProcess.run(
      program, ["\(server.port)", trusted, pki.root.spkiPin, "localhost", "require-staple"])
    #expect(stapled.status == 1, "\(stapled.output)")
  }

  @Test func swiftUsesObjectsCMadeAndNothingLeaks() throws {
    let directory = try TemporaryDirectory()
    // Leaks are checked by LeakSanitizer: in the AddressSanitizer run (the program is built with
    // the same sanitizer), or in a plain run with OO_C_LEAK_CHECK=1. A plain run starts no
    // LeakSanitizer child otherwise, so that it works under a debugger.
    let leakCheck = ProcessInfo.processInfo.environment["OO_C_LEAK_CHECK"] == "1"
    let program = try CPrograms.build("capsule_objects", in: directory, sanitize: leakCheck)
    let pki = try TestPKI()
    let certificate = try directory.write("cert.pem", pki.leaf.pemEncoded)
    let key = try directory.write("key.pem", try pki.leafKey.pemEncoded().withUnsafeBytes { Array($0) })
    let suppressions = "\(CPrograms.repository)/scripts/lsan.supp"
    let result = try ChildProcess.run(
      program, [certificate, key],
      environment: [
        "ASAN_OPTIONS": "detect_leaks=1", "LSAN_OPTIONS": "suppressions=\(suppressions):print_suppressions=0",
      ])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("pin \(pki.leaf.spkiPin)"))
    #expect(result.stdout.contains("signature verified"))
    #expect(!result.stderr.contains("LeakSanitizer"), "\(result.stderr)")
  }

  @Test func cLoadsATokenKeyThroughTheAPITable() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_pkcs11", in: directory)
    let result = try ChildProcess.run(
      program, [token.uri(object: "ec-p256"), SoftHSMToken.modulePath, token.publicKeyFile("ec-p256")],
      environment: token.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("token signature verified"))
    let notAllowed = try ChildProcess.run(
      program, [token.uri(object: "ec-p256"), "/usr/lib/other.so", token.publicKeyFile("ec-p256")],
      environment: token.environment)
    #expect(notAllowed.status == 2)
    #expect(notAllowed.stderr.contains("load:"))
  }

  @Test func everyMisuseGetsItsOwnStatus() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_errors", in: directory)
    let certificate = try directory.write("cert.pem", try TestPKI().leaf.pemEncoded)
    let result = try ChildProcess.run(program, [certificate])
    #expect(result.status == 0, "\(result.output)")
    let lines = Dictionary(
      uniqueKeysWithValues: result.stdout.split(separator: "\n").map { line -> (String, Int) in
        let parts = line.split(separator: " ", maxSplits: 2)
        return (String(parts[0]), Int(parts[1]) ?? -1)
      })
    let expected: [String: Int] = [
      "make": 0, "wrong-type": 2, "forged": 4, "empty": 1, "abi-major": 6, "abi-minor": 6, "api": 6,
      "foreign-make": 5, "foreign-get": 5, "retain-ocsp": 9, "copy-x509": 9, "lend-x509": 9, "unknown-type": 1,
      "null-object": 1, "release": 0, "released": 3, "released-again": 3,
    ]
    #expect(lines == expected, "\(result.output)")
    #expect(result.stdout.contains("wrong-type 2 the capsule holds an X509, not an EVP_PKEY"))
  }
}

@Suite("Capsules from Swift")
struct CapsuleSwiftTests {
  @Test func everyWrapperConvertsToAndFromACapsule() throws {
    let pki = try TestPKI()
    let capsule = try pki.leaf.capsule()
    #expect(try capsule.type == .x509)
    #expect(try X509Certificate(capsule: capsule) == pki.leaf)
    #expect(throws: CapsuleError.self) { try PrivateKey(capsule: capsule) }
    try capsule.release()
    #expect(throws: CapsuleError.self) { try X509Certificate(capsule: capsule) }

    let keyCapsule = try pki.leafKey.capsule()
    #expect(try PrivateKey(capsule: keyCapsule).hasSamePublicKey(as: pki.leafKey))
    try keyCapsule.release()
    let context = try SSLContext(configuration: .client)
    let contextCapsule = try context.capsule()
    #expect(
      try SSLContext(capsule: contextCapsule).withUnsafePointer { $0.raw } == context.withUnsafePointer { $0.raw })
    try contextCapsule.release()
  }

  @Test func aCapsuleKeepsItsObjectAliveUntilReleased() throws {
    var capsule: Capsule? = nil
    var marker = 0
    do {
      let certificate = try TestPKI().leaf
      marker = certificate.withUnsafePointer { ExDataCounter.mark(.x509, $0.raw) }
      capsule = try certificate.capsule()
    }
    #expect(ExDataCounter.freeCount(marker) == 0)
    try capsule!.retain()
    try capsule!.release()
    #expect(ExDataCounter.freeCount(marker) == 0)
    try capsule!.release()
    #expect(ExDataCounter.freeCount(marker) == 1)
  }

  @Test func aCapsuleReleasedByCWhileSwiftHoldsTheObject() throws {
    let certificate = try TestPKI().leaf
    let marker = certificate.withUnsafePointer { ExDataCounter.mark(.x509, $0.raw) }
    let capsule = try certificate.capsule()
    try capsule.release()
    #expect(ExDataCounter.freeCount(marker) == 0)
    #expect(certificate.subject.commonNames == ["www.example.test"])
  }
}

@Suite("Concurrency: capsules shared between threads")
struct CapsuleConcurrencyTests {
  /// C code on some threads releases capsules while Swift on others takes the objects out of them:
  /// each taking either gets the object (its own reference, so the release cannot free it under
  /// it) or a CapsuleError for a stale handle; never freed memory.
  @Test func takingAnObjectWhileCReleasesTheCapsuleIsSafe() throws {
    let certificate = try TestPKI().leaf
    let marker = certificate.withUnsafePointer { ExDataCounter.mark(.x509, $0.raw) }
    let rounds = Sanitizer.current == .none ? 200 : 50
    let taken = Counter()
    let stale = Counter()
    let unexpected = Recorder<String>()
    for _ in 0..<rounds {
      let capsule = try certificate.capsule()
      DispatchQueue.concurrentPerform(iterations: 4) { thread in
        if thread == 0 {
          if (try? capsule.release()) == nil { unexpected.append("the release failed") }
          return
        }
        do {
          let object = try X509Certificate(capsule: capsule)
          if object != certificate { unexpected.append("another certificate") }
          taken.increment()
        } catch let error as CapsuleError where error.status == OO_ERR_RELEASED.rawValue {
          stale.increment()
        } catch {
          unexpected.append("\(error)")
        }
      }
    }
    #expect(unexpected.all.isEmpty, "\(unexpected.all)")
    #expect(taken.value + stale.value == rounds * 3)
    // Swift still holds the certificate: every reference the capsules took was given back.
    #expect(ExDataCounter.freeCount(marker) == 0)
    #expect(certificate.subject.commonNames == ["www.example.test"])
  }
}
