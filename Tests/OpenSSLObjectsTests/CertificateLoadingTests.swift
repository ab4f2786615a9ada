import Foundation
import OpenSSLObjects
import TestSupport
import Testing

@Suite("Certificates: loading good input and every kind of bad input")
struct CertificateLoadingTests {
  static let pki = Result { try TestPKI() }
  var pki: TestPKI { get throws { try Self.pki.get() } }

  // MARK: Good input

  @Test func pemToDERToPEMRoundTrips() throws {
    let leaf = try pki.leaf
    let fromPEM = try X509Certificate(pemEncoded: leaf.pemEncoded)
    let fromDER = try X509Certificate(derEncoded: fromPEM.derEncoded)
    #expect(fromDER.pemEncoded == leaf.pemEncoded)
    #expect(fromDER == leaf)
    #expect(fromDER.hashValue == leaf.hashValue)
  }

  @Test func contentIsDetected() throws {
    let leaf = try pki.leaf
    #expect(try X509Certificate(bytes: leaf.derEncoded) == leaf)
    #expect(try X509Certificate(bytes: Array(leaf.pemEncoded.utf8)) == leaf)
  }

  @Test func textBeforeTheBlockIsSkippedAsOpenSSLDoes() throws {
    let leaf = try pki.leaf
    let text = "Certificate:\n    Data: (as `openssl x509 -text` prints it)\n" + leaf.pemEncoded
    #expect(try X509Certificate(pemEncoded: text) == leaf)
  }

  @Test func crlfLineEndingsAndTrailingWhiteSpaceReadAsOpenSSLsOwnReaderReadsThem() throws {
    let leaf = try pki.leaf
    let crlf = leaf.pemEncoded.replacingOccurrences(of: "\n", with: " \t\r\n")
    #expect(try X509Certificate(pemEncoded: crlf) == leaf)
    #expect(try X509Certificate.all(bytes: Array((crlf + crlf).utf8)) == [leaf, leaf])
  }

  @Test func aBundleReadsEveryCertificateInOrderAndSkipsOtherBlocks() throws {
    let pki = try pki
    let key = String(decoding: try pki.leafKey.pemEncoded().withUnsafeBytes { Array($0) }, as: UTF8.self)
    let bundle = pki.leaf.pemEncoded + key + pki.intermediate.pemEncoded + "\n\n" + pki.root.pemEncoded
    let certificates = try X509Certificate.all(bytes: Array(bundle.utf8))
    #expect(certificates == [pki.leaf, pki.intermediate, pki.root])
  }

  @Test func filesReadPEMAndDER() throws {
    let directory = try TemporaryDirectory()
    let leaf = try pki.leaf
    let pemPath = try directory.write("leaf.pem", leaf.pemEncoded)
    let derPath = try directory.write("leaf.der", leaf.derEncoded)
    #expect(try X509Certificate(contentsOfFile: pemPath) == leaf)
    #expect(try X509Certificate(contentsOfFile: derPath) == leaf)
    #expect(try X509Certificate.all(contentsOfFile: derPath) == [leaf])
  }

  // MARK: Bad input, each with its own reason

  private func reason(_ body: () throws -> Void) -> InputError? {
    do {
      try body()
      return nil
    } catch let error as InputError {
      return error
    } catch {
      return nil
    }
  }

  @Test func emptyInput() throws {
    #expect(reason { _ = try X509Certificate(derEncoded: [UInt8]()) }?.reason == .empty)
    #expect(reason { _ = try X509Certificate(pemEncoded: [UInt8]()) }?.reason == .empty)
    #expect(reason { _ = try X509Certificate(bytes: [UInt8]()) }?.reason == .empty)
  }

  @Test func truncatedDER() throws {
    let der = try pki.leaf.derEncoded
    let error = try #require(reason { _ = try X509Certificate(derEncoded: Array(der.dropLast(10))) })
    #expect(error.reason == .truncated)
    #expect(error.offset == der.count - 10)
    #expect(error.description.contains("ends after \(der.count - 10) bytes"))
  }

  @Test func trailingGarbageAfterDER() throws {
    let der = try pki.leaf.derEncoded
    let error = try #require(reason { _ = try X509Certificate(derEncoded: der + [0xDE, 0xAD]) })
    #expect(error.reason == .trailingData)
    #expect(error.offset == der.count)
    #expect(error.detail.contains("2 bytes follow"))
  }

  @Test func trailingGarbageAfterPEM() throws {
    let pem = try pki.leaf.pemEncoded
    let error = try #require(reason { _ = try X509Certificate(pemEncoded: pem + "garbage\n") })
    #expect(error.reason == .trailingData)
    #expect(error.offset == pem.utf8.count)
  }

  @Test func garbage() throws {
    let error = try #require(reason { _ = try X509Certificate(bytes: Array("hello, world".utf8)) })
    #expect(error.reason == .malformed)
    #expect(error.detail.contains("neither PEM nor DER"))
    let notACertificate: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x05]
    #expect(reason { _ = try X509Certificate(derEncoded: notACertificate) }?.reason == .malformed)
  }

  @Test func anotherKindOfObjectInDER() throws {
    let spki = try pki.leafKey.subjectPublicKeyInfo
    let error = try #require(reason { _ = try X509Certificate(derEncoded: spki) })
    #expect(error.reason == .wrongType)
    #expect(error.detail.contains("is a public key, not a certificate"))
  }

  @Test func pemWithTheWrongLabel() throws {
    let publicKey = try pki.leafKey.publicKeyPEM
    let error = try #require(reason { _ = try X509Certificate(pemEncoded: publicKey) })
    #expect(error.reason == .wrongPEMLabel)
    #expect(error.detail.contains("\"PUBLIC KEY\" PEM block (a public key)"))
  }

  @Test func truncatedPEM() throws {
    let pem = try pki.leaf.pemEncoded
    let cut = String(pem.prefix(pem.count / 2))
    #expect(reason { _ = try X509Certificate(pemEncoded: cut) }?.reason == .truncated)
  }

  @Test func badBase64InPEM() throws {
    let text = "-----BEGIN CERTIFICATE-----\nMII*not*base64*\n-----END CERTIFICATE-----\n"
    #expect(reason { _ = try X509Certificate(pemEncoded: text) }?.reason == .malformed)
  }

  @Test func oversizedInput() throws {
    let pem = try pki.leaf.pemEncoded
    let error = try #require(reason { _ = try X509Certificate(pemEncoded: pem, limit: 100) })
    #expect(error.reason == .tooLarge)
    #expect(reason { _ = try X509Certificate(derEncoded: try pki.leaf.derEncoded, limit: 100) }?.reason == .tooLarge)
  }

  @Test func twoCertificatesWhereOneIsExpected() throws {
    let pki = try pki
    let error = try #require(reason { _ = try X509Certificate(pemEncoded: pki.leaf.pemEncoded + pki.root.pemEncoded) })
    #expect(error.reason == .multipleObjects)
  }

  @Test func unreadableFiles() throws {
    let directory = try TemporaryDirectory()
    let missing = try #require(reason { _ = try X509Certificate(contentsOfFile: directory.file("missing.pem")) })
    #expect(missing.reason == .unreadableFile)
    #expect(missing.detail.contains("No such file"))
    #expect(reason { _ = try X509Certificate(contentsOfFile: directory.path) }?.reason == .unreadableFile)
    let big = try directory.write("big.pem", [UInt8](repeating: 0x41, count: 4096))
    #expect(reason { _ = try X509Certificate(contentsOfFile: big, limit: 1024) }?.reason == .tooLarge)
  }

  @Test func aDuplicatedExtensionIsAnError() throws {
    let pki = try pki
    var builder = try TestPKI.leafBuilder(name: "dup.example.test", key: pki.leafKey)
    builder.subjectAlternativeNames = nil
    let san = pki.leaf.extensions.first { $0.oid.shortName == "subjectAltName" }!
    builder.rawExtensions = [san, san]
    let certificate = try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    let error = try #require(reason { _ = try certificate.subjectAlternativeNames })
    #expect(error.reason == .duplicateExtension)
    #expect(error.detail.contains("occurs more than once"))
    // The owner is named only when an error needs it, and then it is named.
    #expect(error.source == "certificate CN=dup.example.test")
  }

  @Test func trustedCertificateKeepsItsTrustSettings() throws {
    let root = try pki.root
    let settings = X509Certificate.TrustSettings(
      trusted: [.serverAuth], rejected: [.emailProtection], alias: "demo root")
    let trusted = try root.withTrustSettings(settings)
    let pem = trusted.trustedPEMEncoded
    #expect(pem.hasPrefix("-----BEGIN TRUSTED CERTIFICATE-----"))
    let reread = try X509Certificate(pemEncoded: pem)
    #expect(reread.trustSettings == settings)
    #expect(reread == root)
    // The original is immutable and keeps none; plain PEM carries none.
    #expect(root.trustSettings.isEmpty)
    #expect(try X509Certificate(pemEncoded: trusted.pemEncoded).trustSettings.isEmpty)
  }
}
