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
  /// Without `linkingTheLibrary` the program is not linked with libopenssl_objects.so (it loads
  /// the library itself with dlopen) and exports its symbols (`-rdynamic`): a sanitized library
  /// finds the sanitizer's runtime in the executable, which the linker otherwise exports only
  /// for libraries it links.
  static func build(
    _ name: String, in directory: TemporaryDirectory, sanitize: Bool = false, linkingTheLibrary: Bool = true
  ) throws -> String {
    let output = directory.file(name + (sanitize ? "-asan" : ""))
    let products = ChildProcess.productsDirectory
    let (compiler, flags, libraries) = Sanitizer.cCompiler(address: sanitize)
    let arguments =
      flags + [
        "-Wall", "-Werror", "-I\(repository)/include", "\(repository)/Tests/CapsuleC/\(name).c", "-o", output,
        "-L\(products)",
      ] + (linkingTheLibrary ? ["-lopenssl_objects"] : ["-rdynamic"]) + [
        "-lssl", "-lcrypto", "-Wl,-rpath,\(products):\(Sanitizer.swiftRuntimeDirectory)",
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
    #expect(result.stdout.contains("wrong-type 2 the capsule holds an X509, not an EVP_PKEY (private key)"))
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

  /// Every table function given bad input, one line each (built with AddressSanitizer: a read
  /// past what the caller gave, or of freed memory, would abort it). Breaking the promise would
  /// look like a crash or an ASan report, a missing line, or a status other than the one listed:
  /// above all 0 for a NULL that came with a nonzero length (signing nothing, a context without
  /// the pins the caller meant to give).
  @Test func lengthsOfSizeMaxAndAnUninitialisedContextAreBadInputNotACrash() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory, sanitize: true)
    let pki = try TestPKI()
    let key = try directory.write("key.pem", try pki.leafKey.pemEncoded().withUnsafeBytes { Array($0) })
    let result = try ChildProcess.run(program, ["limits", key], environment: ["ASAN_OPTIONS": "detect_leaks=0"])
    #expect(result.status == 0, "\(result.output)")
    #expect(!result.stderr.contains("AddressSanitizer"), "\(result.stderr)")
    var found = lines(result.stdout)
    #expect((found.removeValue(forKey: "sign-needed")?.status ?? 0) > 0, "\(result.output)")
    found.removeValue(forKey: "softhsm-mapped")
    let (ok, invalid, wrongType, forged, input, unsupported, tooSmall, pkcs11) = (0, 1, 2, 4, 8, 9, 10, 12)
    let expected: [String: Int] = [
      "key-size-max": input, "passphrase-size-max": input, "key": ok, "sign-size-max": input,
      "pin-buffer-size-max": ok, "private-as-public": wrongType, "public-make": ok, "public-as-private": wrongType,
      "public-pin": ok, "pin-count-size-max": input, "lend-uninitialised": ok, "explain-uninitialised": ok,
      "retain-lent": unsupported, "get1-lent": unsupported,
      // NULL for every pointer argument; NULL with a nonzero length is never an empty input.
      "load-null-data": invalid, "load-null-out": invalid, "load-null-passphrase": invalid,
      "pkcs11-null-uri": invalid, "pkcs11-null-out": invalid, "pkcs11-null-modules-count": invalid,
      "pkcs11-modules-size-max": input, "pkcs11-null-allowed": pkcs11,
      "pin-null-buffer": invalid, "pin-buffer-size-0": tooSmall, "pin-forged": forged,
      "explain-null-buffer": invalid, "explain-buffer-size-0": tooSmall, "explain-forged": forged,
      "explain-key": wrongType, "ssl-explain-null-ssl": invalid, "ssl-explain-null-buffer": invalid,
      "ssl-explain-buffer-size-0": tooSmall, "ssl-explain-plain": ok,
      "sign-null-data": invalid, "sign-null-signature": invalid, "sign-null-length": invalid,
      "sign-signature-size-0": tooSmall, "sign-context": wrongType,
      "install-pins-null-pins": invalid, "install-pins-size-max": input, "install-pins-forged": forged,
      "install-pins-key": wrongType, "policy-null": invalid, "policy-size-0": invalid, "policy-size-larger": ok,
      "policy-forged": forged, "staple-forged": forged, "staple-key": wrongType,
      "context-null-options": invalid, "context-null-out": invalid, "context-size-0": invalid,
      "context-size-larger": ok, "context-null-pins": invalid, "context-alpn-size-max": input,
      "context-null-alpn": invalid,
    ]
    #expect(found.mapValues(\.status) == expected, "\(result.output)")
    #expect(found["key-size-max"]?.text.contains("18446744073709551615 bytes") == true, "\(result.output)")
    #expect(found["explain-uninitialised"]?.text.contains("never set up") == true, "\(result.output)")
    #expect(
      found["private-as-public"]?.text.contains("holds an EVP_PKEY (private key), not an EVP_PKEY (public key)")
        == true,
      "\(result.output)")
    #expect(found["sign-null-data"]?.text.contains("data is NULL but length is 32") == true, "\(result.output)")
    // An SSL of a context the library never configured: nothing failed, so the reason is "".
    #expect(found["ssl-explain-plain"]?.text == "[]", "\(result.output)")
    // allowed_modules NULL allows no module a URI names, and nothing is loaded to find out.
    #expect(found["pkcs11-null-allowed"]?.text.contains("module not allowed") == true, "\(result.output)")
    #expect(result.stdout.contains("softhsm-mapped 0\n"), "\(result.output)")
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
    #expect(found["install-pins-in-use"]?.status == 1, "\(result.output)")
    #expect(found["install-pins-in-use"]?.text.contains("connections were made") == true, "\(result.output)")
  }

  /// A context from new_client_context with the system trust has a store of its own: C code that
  /// loads a CA into it (as libraries configuring a context they were given do) changes that
  /// context only. Broken, the contexts would share the process's system store, and the CA loaded
  /// into one would be trusted by every other ("other ok", "later ok").
  @Test func aCContextsSystemStoreIsItsOwn() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory)
    let pki = try TestPKI(leafName: "localhost")
    let server = try server(pki, connections: 3)
    let trusted = try directory.write("root.pem", pki.root.pemEncoded)
    let result = try ChildProcess.run(program, ["own-store", "\(server.port)", trusted, "localhost"])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("same-store 0"), "\(result.output)")
    #expect(result.stdout.contains("load-verify-file 0"), "\(result.output)")
    #expect(result.stdout.contains("loaded ok"), "\(result.output)")
    #expect(result.stdout.contains("other refused"), "\(result.output)")
    #expect(result.stdout.contains("later refused"), "\(result.output)")
  }

  /// The library is never unloaded, even after dlclose (row 128): a program that loads it with
  /// dlopen, takes an SSL_CTX with a verify policy through the table and closes the library,
  /// still finds it loaded and handshakes through its callbacks. Breaking the promise (the
  /// constructor in Sources/CResidentLibrary/resident.c not pinning the library) looks like
  /// "resident 0" and "mapped 0", then a crash in the handshake, whose callbacks are unmapped.
  @Test func theLibraryStaysLoadedAfterDlclose() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_resident", in: directory, linkingTheLibrary: false)
    let pki = try TestPKI(leafName: "localhost")
    let server = try server(pki, connections: 1)
    let trusted = try directory.write("root.pem", pki.root.pemEncoded)
    let library = "\(ChildProcess.productsDirectory)/libopenssl_objects.so"
    let result = try ChildProcess.run(program, [library, "\(server.port)", trusted, "localhost"])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.hasPrefix("closed 0\nresident 1\nmapped 1\nhandshake ok, "), "\(result.output)")
    #expect(!result.stdout.contains("handshake ok, 0 callback calls"), "\(result.output)")
  }

  /// Pins from C, given with the options or by install_pins on a fresh context, decide the
  /// handshake, and the library's reason reaches C (rows 111, 123, 124). Breaking the promise
  /// would look like a handshake accepted with another key's pin, a refusal whose reason is
  /// only OpenSSL's "application verification failure", the root's pin refused, or an install_*
  /// that still changes a context C code has made an SSL from.
  @Test func pinsInstalledFromCDecideTheHandshakeAndExplainTheirRefusal() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory)
    let pki = try TestPKI(leafName: "localhost")
    let server = try server(pki, connections: 3)
    let trusted = try directory.write("root.pem", pki.root.pemEncoded)
    let otherPin = try TestPKI().root.spkiPin
    let result = try ChildProcess.run(
      program, ["pins", "\(server.port)", trusted, "localhost", otherPin, pki.root.spkiPin])
    #expect(result.status == 0, "\(result.output)")
    let refusal = "refused reason(0): X509_V_ERR_APPLICATION_VERIFICATION"
    for name in ["options-other-pin", "installed-other-pin"] {
      let line = result.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map(String.init) ?? ""
      #expect(line.contains(refusal), "\(name): \(result.output)")
      #expect(line.contains("No key of the verified chain matches a pin"), "\(name): \(result.output)")
    }
    #expect(result.stdout.contains("installed-root-pin ok reason(0): \n"), "\(result.output)")
    let found = lines(result.stdout)
    #expect(found["install-other-pin"]?.status == 0, "\(result.output)")
    #expect(found["install-root-pin"]?.status == 0, "\(result.output)")
    for name in ["install-policy-in-use", "install-staple-in-use", "install-pins-in-use"] {
      #expect(found[name]?.status == 1, "\(name): \(result.output)")
      #expect(found[name]?.text.contains("connections were made") == true, "\(name): \(result.output)")
    }
  }

  /// A C verify callback's decisions (row 125). Breaking the promise would look like a rejection
  /// of a certificate that passed being ignored (the handshake succeeds) or failing without the
  /// library's reason, or OO_VERIFY_ACCEPT not overriding an expired leaf (or leaving a reason
  /// behind as if verification had failed). The expired server
  /// refused under OO_VERIFY_KEEP shows the leaf really fails without the override.
  @Test func aCVerifyCallbackRejectsWhatPassedAndAcceptsWhatFailed() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory)
    let pki = try TestPKI(leafName: "localhost")
    let server = try server(pki, connections: 1)
    let expiredKey = try PrivateKey(generating: .ec(.p256))
    var builder = try TestPKI.leafBuilder(name: "localhost", key: expiredKey)
    builder.notBefore = Date(timeIntervalSinceNow: -7 * 86_400)
    builder.notAfter = Date(timeIntervalSinceNow: -86_400)
    let expired = try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    let expiredServer = try LoopbackTLSServer(
      context: try SSLContext(
        configuration: .server([
          CertificateChain(certificate: expired, chain: [pki.intermediate], privateKey: expiredKey)
        ])),
      connections: 2)
    let trusted = try directory.write("root.pem", pki.root.pemEncoded)
    let result = try ChildProcess.run(
      program, ["callback", "\(server.port)", "\(expiredServer.port)", trusted, "localhost"])
    #expect(result.status == 0, "\(result.output)")
    #expect(
      result.stdout.contains(
        "reject-passed-leaf refused reason(0): X509_V_ERR_CERT_REJECTED at depth 0: A verification callback rejected"),
      "\(result.output)")
    #expect(result.stdout.contains("the C verify callback rejected the certificate"), "\(result.output)")
    #expect(result.stdout.contains("keep-expired refused reason(0): X509_V_ERR_CERT_HAS_EXPIRED"), "\(result.output)")
    #expect(result.stdout.contains("accept-expired ok reason(0): \n"), "\(result.output)")
    let found = lines(result.stdout)
    for name in ["reject-passed-leaf-calls", "keep-expired-calls", "accept-expired-calls"] {
      #expect((found[name]?.status ?? 0) > 0, "\(name): \(result.output)")
    }
  }

  /// install_staple_policy(ctx, 0) still fails a must-staple certificate without a staple (row
  /// 126). Breaking the promise would look like the must-staple server accepted; the ordinary
  /// server accepted under the same policy shows that the refusal is must-staple's.
  @Test func aMustStapleCertificateWithoutAStapleFailsAlsoWhenNoStapleIsRequired() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_adversary", in: directory)
    let ocsp = try OCSPPKI(leafName: "localhost", mustStaple: true)
    let mustStaple = try server(ocsp.pki, connections: 1)
    let pki = try TestPKI(leafName: "localhost")
    let plain = try server(pki, connections: 1)
    let trusted = try directory.write("roots.pem", ocsp.pki.root.pemEncoded + pki.root.pemEncoded)
    let result = try ChildProcess.run(
      program, ["staple", "\(mustStaple.port)", "\(plain.port)", trusted, "localhost"])
    #expect(result.status == 0, "\(result.output)")
    let found = lines(result.stdout)
    #expect(found["staple-policy-0"]?.status == 0, "\(result.output)")
    #expect(result.stdout.contains("must-staple-without-staple refused"), "\(result.output)")
    // Refused by the staple check (OpenSSL's status callback failed), not by verification.
    #expect(found["must-staple-without-staple-openssl"]?.text.contains("invalid status response") == true)
    #expect(result.stdout.contains("plain-without-staple ok reason(0): \n"), "\(result.output)")
  }

  /// The API table only grows (row 119): capsule_layout.c freezes the offset and the type of
  /// every member of oo_api as versions 1 and 2 had them (and of the option structs) with
  /// _Static_asserts. Breaking the promise, a member moved, removed or retyped, stops its build;
  /// a copy of the header with two members swapped shows that it does.
  @Test func theAPITableOnlyGrows() throws {
    let source = "\(CPrograms.repository)/Tests/CapsuleC/capsule_layout.c"
    let header = "\(CPrograms.repository)/include"
    let built = try ChildProcess.run("cc", ["-fsyntax-only", "-Wall", "-Werror", "-I\(header)", source])
    #expect(built.status == 0, "\(built.output)")
    let directory = try TemporaryDirectory()
    let original = try String(contentsOfFile: "\(header)/openssl_objects.h", encoding: .utf8)
    let spki = "    oo_status (*spki_pin)(oo_capsule object, char *buffer, size_t size);\n"
    let explain = "    oo_status (*verification_error)(oo_capsule store_ctx, char *buffer, size_t size);\n"
    #expect(original.contains(spki + "    /* A readable explanation"), "the header changed: update this test")
    let swapped = original.replacingOccurrences(of: spki, with: "").replacingOccurrences(
      of: explain, with: explain + spki)
    try directory.write("openssl_objects.h", swapped)
    let broken = try ChildProcess.run("cc", ["-fsyntax-only", "-I\(directory.path)", source])
    #expect(broken.status != 0, "a reordered table still built")
    #expect(broken.output.contains("spki_pin"), "\(broken.output)")
  }
}

/// The C API keeps no unwiped copy of a key's bytes, a passphrase or a PIN given in a URI: the C
/// program searches every block the process frees for them.
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

  /// A passphrase given to load_private_key is read in place: no freed block holds it, for an
  /// encrypted PKCS#8 key and a traditional encrypted PEM (row 121). Breaking the promise (a
  /// copy of the passphrase freed without being wiped, by the library or by the decoder it
  /// feeds) looks like "copies 1" or more.
  @Test func aPassphraseGivenToTheCAPILeavesNoCopy() throws {
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_secrets", in: directory)
    let passphrase = "oo-passphrase-Zk3Jw8Tq5Hn1"
    let files = try EncryptedPEM.files(try PrivateKey(generating: .ec(.p256)), passphrase: passphrase, in: directory)
    for file in [files.pkcs8, files.traditional] {
      let result = try ChildProcess.run(program, ["passphrase", file, passphrase])
      #expect(result.status == 0, "\(result.output)")
      #expect(result.stdout.hasPrefix("status 0 copies 0"), "\(file): \(result.output)")
    }
  }

  /// A pin-value is decoded into a wiped buffer: no freed block holds the PIN's bytes, decoded
  /// or in the URI's text (row 121). The token's PIN is changed to a long, distinctive one so
  /// that a match cannot be chance. Breaking the promise looks like "copies 1" or more.
  @Test func aPINValueInAURIIsNeverCopiedIntoAString() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let program = try CPrograms.build("capsule_secrets", in: directory)
    let pin = "oo-pin-Wq7Rt2Ym9Kd4Xs6"
    let changed = try ChildProcess.run(
      "pkcs11-tool",
      [
        "--module", SoftHSMToken.modulePath, "--token-label", SoftHSMToken.label, "--login", "--pin",
        SoftHSMToken.pin, "--change-pin", "--new-pin", pin,
      ], environment: token.environment)
    #expect(changed.status == 0, "\(changed.output)")
    let uri = token.uri(object: "ec-p256", pin: false) + "&pin-value=\(pin)"
    let result = try ChildProcess.run(
      program, ["pin", uri, SoftHSMToken.modulePath, pin], environment: token.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.hasPrefix("status 0 copies 0"), "\(result.output)")
  }
}
