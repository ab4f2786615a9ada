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
    let program = try CPrograms.build("capsule_objects", in: directory, sanitize: true)
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
    #expect(try keyCapsule.type == .evpPKey)
    #expect(try PrivateKey(capsule: keyCapsule).hasSamePublicKey(as: pki.leafKey))
    try keyCapsule.release()
    // A public key's capsule never passes for a private key (and the other way round).
    let publicCapsule = try pki.leafKey.publicKey.capsule()
    #expect(try publicCapsule.type == .evpPKeyPublic)
    #expect {
      _ = try PrivateKey(capsule: publicCapsule)
    } throws: { error in
      (error as? CapsuleError)?.status == OO_ERR_WRONG_TYPE.rawValue
    }
    #expect(try PublicKey(capsule: publicCapsule).hasSamePublicKey(as: pki.leafKey))
    try publicCapsule.release()
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

  /// The same for a type OpenSSL does not reference-count: the copy is made with the capsule
  /// table locked, so a release on another thread cannot free the response under it.
  @Test func copyingAnObjectWhileCReleasesTheCapsuleIsSafe() throws {
    let response = try OCSPPKI().response()
    let expected = response.derEncoded
    let rounds = Sanitizer.current == .none ? 200 : 50
    let taken = Counter()
    let stale = Counter()
    let unexpected = Recorder<String>()
    for _ in 0..<rounds {
      let capsule = try response.capsule()
      DispatchQueue.concurrentPerform(iterations: 4) { thread in
        if thread == 0 {
          if (try? capsule.release()) == nil { unexpected.append("the release failed") }
          return
        }
        do {
          let copy = try OCSPResponse(capsule: capsule)
          if copy.derEncoded != expected { unexpected.append("another response") }
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
  }
}

/// The C ABI's promises, tried by a C program the way a careless or hostile C caller would.
@Suite("Soundness: the C ABI against a careless or hostile C caller")
struct CapsuleAdversaryTests {
  /// The program's "name status text" lines, by name.
  private func lines(_ output: String) -> [String: (status: Int, text: String)] {
    var result: [String: (Int, String)] = [:]
    for line in output.split(separator: "\n") {
      let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count >= 2, let status = Int(parts[1]) else { continue }
      result[String(parts[0])] = (status, parts.count == 3 ? String(parts[2]) : "")
    }
    return result
  }

  private func server(_ pki: TestPKI, connections: Int) throws -> LoopbackTLSServer {
    try LoopbackTLSServer(
      context: try SSLContext(
        configuration: .server([
          CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
        ])),
      connections: connections)
  }

  @Test func lengthsOfSizeMaxAndAnUninitialisedContextAreBadInputNotACrash() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory)
    let pki = try TestPKI()
    let key = try directory.write("key.pem", try pki.leafKey.pemEncoded().withUnsafeBytes { Array($0) })
    let result = try ChildProcess.run(program, ["limits", key])
    #expect(result.status == 0, "\(result.output)")
    let found = lines(result.stdout)
    let expected: [String: Int] = [
      "key-size-max": 8, "passphrase-size-max": 8, "key": 0, "sign-size-max": 8, "pin-buffer-size-max": 0,
      "private-as-public": 2, "public-make": 0, "public-as-private": 2, "public-pin": 0, "pin-count-size-max": 8,
      "lend-uninitialised": 0, "explain-uninitialised": 0, "retain-lent": 9, "get1-lent": 9,
    ]
    #expect(found.mapValues(\.status) == expected, "\(result.output)")
    #expect(found["key-size-max"]?.text.contains("18446744073709551615 bytes") == true, "\(result.output)")
    #expect(found["explain-uninitialised"]?.text.contains("never set up") == true, "\(result.output)")
  }

  /// A verify callback keeps its lent X509_STORE_CTX capsule: after the handshake freed the
  /// context, the handle is stale. Built with AddressSanitizer: a use after free would abort it.
  @Test func aLentCapsuleCannotOutliveItsLoan() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory, sanitize: true)
    let pki = try TestPKI(leafName: "localhost")
    let server = try server(pki, connections: 1)
    let trusted = try directory.write("root.pem", pki.root.pemEncoded)
    let result = try ChildProcess.run(
      program, ["loan", "\(server.port)", trusted, "localhost"],
      environment: ["ASAN_OPTIONS": "detect_leaks=0"])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("handshake ok"), "\(result.output)")
    let found = lines(result.stdout)
    #expect(found["retain-in-callback"]?.status == 9, "\(result.output)")
    #expect(found["explain-after-loan"]?.status == 3, "\(result.output)")
    #expect(found["get-after-loan"]?.status == 3, "\(result.output)")
    #expect(found["release-after-loan"]?.status == 3, "\(result.output)")
    #expect(!result.stderr.contains("AddressSanitizer"), "\(result.stderr)")
  }

  /// new_client_context promises a required host name: an SSL that C code makes from it with SNI
  /// alone is refused, with the library's reason readable from C; the context refuses changes
  /// once C code made an SSL from it.
  @Test func aCContextKeepsItsHostNameRuleAndItsReason() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory)
    let pki = try TestPKI(leafName: "localhost")
    let server = try server(pki, connections: 2)
    let trusted = try directory.write("root.pem", pki.root.pemEncoded)
    let result = try ChildProcess.run(program, ["hostname", "\(server.port)", trusted, "localhost"])
    #expect(result.status == 0, "\(result.output)")
    #expect(
      result.stdout.contains("sni-only refused reason(0): X509_V_ERR_APPLICATION_VERIFICATION"), "\(result.output)")
    #expect(result.stdout.contains("names no host"), "\(result.output)")
    #expect(result.stdout.contains("set1-host ok reason(0): \n"), "\(result.output)")
    let found = lines(result.stdout)
    withKnownIssue(
      Comment(
        rawValue: "OpenSSL 3.5 and later run an SSL's ex_data new callbacks before the SSL has its SSL_CTX, so an "
          + "SSL that C code makes does not put the context in use (docs/COMPATIBILITY.md)")
    ) {
      #expect(found["install-pins-in-use"]?.status == 1, "\(result.output)")
      #expect(found["install-pins-in-use"]?.text.contains("connections were made") == true, "\(result.output)")
    } when: {
      OpenSSLLibrary.runtimeVersion.major > 3 || OpenSSLLibrary.runtimeVersion.minor >= 5
    }
  }
}

/// The C API keeps no unwiped copy of a key's bytes or of a PIN given in a URI: the C program
/// searches every block the process frees for them.
@Suite(
  "Secrets: the C API leaves no copy of keys or PINs behind",
  .enabled(
    if: Sanitizer.current == .none,
    "the program interposes free(), which a sanitizer's runtime owns; the plain run checks this"))
struct CapsuleSecretsTests {
  @Test func aKeyLoadedFromMemoryLeavesNoCopyOfItsBytes() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_secrets", in: directory)
    let key = try directory.write(
      "key.pem", try PrivateKey(generating: .rsa(bits: 2048)).pemEncoded().withUnsafeBytes { Array($0) })
    let result = try ChildProcess.run(program, ["key", key])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.hasPrefix("status 0 copies 0"), "\(result.output)")
  }

  @Test func aPINValueInAURIIsNeverCopiedIntoAString() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_secrets", in: directory)
    let uri = token.uri(object: "ec-p256", pin: false) + "&pin-value=\(SoftHSMToken.pin)"
    let result = try ChildProcess.run(
      program, ["pin", uri, SoftHSMToken.modulePath, SoftHSMToken.pin], environment: token.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.hasPrefix("status 0 copies 0"), "\(result.output)")
  }
}
