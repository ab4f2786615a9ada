import COpenSSLFull
import OpenSSLObjects
import TestSupport
import Testing

/// The four doors, proven on each type: the C object is freed exactly once, when the last Swift
/// or C holder lets go. Types with ex_data are watched through an ex_data free callback; types
/// without (X509_CRL, X509_NAME) through OpenSSL's allocation count in a child process.
@Suite("Ownership: adopt, borrow, retain, hand over")
struct OwnershipTests {
  static let pki = Result { try TestPKI() }

  private func certificateDER() throws -> [UInt8] { try Self.pki.get().leaf.derEncoded }

  private func rawCertificate() throws -> OpaquePointer {
    let der = try certificateDER()
    return der.withUnsafeBufferPointer { buffer in
      var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
      return d2i_X509(nil, &cursor, buffer.count)!
    }
  }

  @Test func adoptedCertificateIsFreedWhenSwiftLetsGo() throws {
    let raw = try rawCertificate()
    let marker = ExDataCounter.mark(.x509, raw)
    do {
      let certificate = X509Certificate(takingOwnershipOf: OpenSSLPointer(raw))
      #expect(certificate.subject.commonNames == ["www.example.test"])
      #expect(ExDataCounter.freeCount(marker) == 0)
    }
    #expect(ExDataCounter.freeCount(marker) == 1)
  }

  @Test func handedOverCertificateOutlivesTheSwiftObject() throws {
    var handed: OpenSSLPointer<X509Certificate>? = nil
    var marker = 0
    do {
      let certificate = try X509Certificate(derEncoded: try certificateDER())
      marker = certificate.withUnsafePointer { ExDataCounter.mark(.x509, $0.raw) }
      handed = try certificate.retainedPointer()
    }
    #expect(ExDataCounter.freeCount(marker) == 0)
    // C still reads it.
    #expect(X509_get_version(handed!.raw) == 2)
    X509_free(handed!.raw)
    #expect(ExDataCounter.freeCount(marker) == 1)
  }

  @Test func retainedCertificateOutlivesTheCOwner() throws {
    let raw = try rawCertificate()
    let marker = ExDataCounter.mark(.x509, raw)
    do {
      let certificate = try X509Certificate(retaining: OpenSSLPointer(raw))
      X509_free(raw)
      #expect(ExDataCounter.freeCount(marker) == 0)
      #expect(certificate.version == 3)
    }
    #expect(ExDataCounter.freeCount(marker) == 1)
  }

  @Test func borrowedPointerIsTheObjectsOwn() throws {
    let certificate = try X509Certificate(derEncoded: try certificateDER())
    let marker = certificate.withUnsafePointer { ExDataCounter.mark(.x509, $0.raw) }
    let version = certificate.withUnsafePointer { X509_get_version($0.raw) }
    #expect(version == 2)
    #expect(ExDataCounter.freeCount(marker) == 0)
  }

  @Test func privateKeyDoorsBalance() throws {
    var raw: OpenSSLPointer<PrivateKey>? = nil
    var marker = 0
    do {
      let key = try PrivateKey(generating: .ec(.p256))
      raw = try key.retainedPointer()
      marker = ExDataCounter.mark(.evpPKey, raw!.raw)
      // Retain from C, hand over another reference, and adopt that one.
      let retained = try PrivateKey(retaining: raw!)
      let adopted = PrivateKey(takingOwnershipOf: try retained.retainedPointer())
      #expect(adopted.hasSamePublicKey(as: key))
    }
    // Every Swift holder is gone; the C holder keeps the key alive.
    #expect(ExDataCounter.freeCount(marker) == 0)
    #expect(EVP_PKEY_get_bits(raw!.raw) == 256)
    EVP_PKEY_free(raw!.raw)
    #expect(ExDataCounter.freeCount(marker) == 1)
  }

  @Test func publicKeyFromCertificateIsItsOwnReference() throws {
    var marker = 0
    var keyPointer: OpenSSLPointer<PublicKey>? = nil
    do {
      let certificate = try X509Certificate(derEncoded: try certificateDER())
      let key = try certificate.publicKey
      marker = key.withUnsafePointer { ExDataCounter.mark(.evpPKey, $0.raw) }
      keyPointer = try key.retainedPointer()
    }
    // The certificate holds its own reference to the key, and C holds one.
    #expect(ExDataCounter.freeCount(marker) == 0)
    EVP_PKEY_free(keyPointer!.raw)
    #expect(ExDataCounter.freeCount(marker) == 1)
  }

  @Test func typesWithoutExDataBalanceTheirAllocations() throws {
    let result = try ChildProcess.run(ChildProcess.product("oo-test-helper"), ["ownership"])
    #expect(result.status == 0, "\(result.output)")
    for line in [
      "X509_CRL hand-over ok", "X509_CRL retain ok", "X509_CRL adopt ok", "X509_NAME copy ok",
      "X509_NAME copying init ok",
    ] {
      #expect(result.stdout.contains(line), "missing \(line) in \(result.output)")
    }
  }

  /// Nothing is keyed by a pointer's address (row 99). The helper's allocator hands OpenSSL the
  /// last freed block of a size, so a new X509_STORE and SSL_CTX get the addresses of freed ones
  /// that were frozen, in use and made a session. Breaking the promise (state or a session's
  /// binding keyed by the address) looks like the new store frozen, the new context in use, or
  /// the old session accepted and resumed through a store that trusts another root.
  @Test func aNewObjectAtAFreedObjectsAddressInheritsNothing() throws {
    let result = try ChildProcess.run(ChildProcess.product("oo-test-helper"), ["address-reuse"])
    #expect(result.status == 0, "\(result.output)")
    for line in [
      "old store frozen true, old context in use true",
      // Without the reuse the test would prove nothing.
      "store address reused true", "context address reused true",
      "new store frozen false", "new context in use false", "setSession refused differentPolicy",
      "handshake failed: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    ] {
      #expect(result.stdout.contains(line + "\n"), "missing \(line) in \(result.output)")
    }
  }

  @Test func viewsOfSubObjectsOutliveTheirParent() throws {
    var subject: X509Name? = nil
    var names: [GeneralName]? = nil
    do {
      let certificate = try X509Certificate(derEncoded: try certificateDER())
      subject = certificate.subject
      names = try certificate.subjectAlternativeNames
    }
    #expect(subject?.commonNames == ["www.example.test"])
    #expect(names == [.dnsName("www.example.test")])
  }

  @Test func copyIsIndependent() throws {
    let name = try X509Name(["CN": "original"])
    let copy = try name.copy()
    #expect(copy == name)
    #expect(copy.withUnsafePointer { $0.raw } != name.withUnsafePointer { $0.raw })
  }
}
