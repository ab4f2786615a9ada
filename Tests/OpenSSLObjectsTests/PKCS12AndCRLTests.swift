import Foundation
import OpenSSLObjects
import TestSupport
import Testing

@Suite("PKCS#12 files")
struct PKCS12Tests {
  static let pki = Result { try TestPKI() }

  @Test func writeThenReadKeepsCertificateKeyAndChain() throws {
    let pki = try Self.pki.get()
    let bundle = PKCS12Bundle(certificate: pki.leaf, privateKey: pki.leafKey, chain: [pki.intermediate, pki.root])
    let passphrase = Passphrase(Array("p12 pass".utf8))
    let der = try bundle.derEncoded(passphrase: passphrase, friendlyName: "leaf")
    let read = try PKCS12Bundle(derEncoded: der, passphrase: passphrase)
    #expect(read.certificate == pki.leaf)
    #expect(read.privateKey?.matches(pki.leaf) == true)
    #expect(Set(read.chain) == Set([pki.intermediate, pki.root]))
  }

  @Test func wrongAndInvalidPassphrases() throws {
    let pki = try Self.pki.get()
    let der = try PKCS12Bundle(certificate: pki.leaf, privateKey: pki.leafKey).derEncoded(
      passphrase: Passphrase(Array("right".utf8)))
    #expect(throws: InputError.self) { try PKCS12Bundle(derEncoded: der, passphrase: Passphrase(Array("wrong".utf8))) }
    do {
      _ = try PKCS12Bundle(derEncoded: der, passphrase: Passphrase(Array("wrong".utf8)))
    } catch {
      #expect(error.reason == .wrongPassphrase)
    }
    do {
      _ = try PKCS12Bundle(derEncoded: der, passphrase: Passphrase([0x61, 0x00, 0x62]))
    } catch {
      #expect(error.reason == .invalidPassphrase)
    }
    do {
      _ = try PKCS12Bundle(derEncoded: Array(der.prefix(40)), passphrase: Passphrase(Array("right".utf8)))
    } catch {
      #expect(error.reason == .truncated)
    }
  }

  /// A file made by `openssl pkcs12 -export -legacy` (RC2-40 and 3DES): needs the legacy provider.
  private func legacyFile(in directory: TemporaryDirectory) throws -> (path: String, passFile: String) {
    let pki = try Self.pki.get()
    let certificate = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    let key = try directory.write("leaf.key", try pki.leafKey.pemEncoded().withUnsafeBytes { Array($0) })
    let passFile = try directory.write("pass.txt", "legacy pass\n")
    let output = directory.file("legacy.p12")
    let result = try ChildProcess.run(
      "openssl",
      [
        "pkcs12", "-export", "-legacy", "-in", certificate, "-inkey", key, "-out", output, "-passout",
        "file:\(passFile)",
      ])
    #expect(result.status == 0, "\(result.output)")
    return (output, passFile)
  }

  @Test func legacyFilesLoadTheLegacyProviderOnDemand() throws {
    let directory = try TemporaryDirectory()
    let (path, passFile) = try legacyFile(in: directory)
    let bundle = try PKCS12Bundle(contentsOfFile: path, passphrase: Passphrase.read(fromFile: passFile))
    #expect(bundle.certificate == (try Self.pki.get().leaf))
  }

  @Test func aMissingLegacyProviderIsAClearError() throws {
    let directory = try TemporaryDirectory()
    let (path, passFile) = try legacyFile(in: directory)
    let result = try ChildProcess.run(
      ChildProcess.product("oo-test-helper"), ["pkcs12", path, passFile],
      environment: ["OPENSSL_MODULES": directory.path])
    #expect(result.status == 1)
    #expect(result.stdout.contains("unsupported"))
    #expect(result.stdout.contains("legacy provider"))
  }
}

@Suite("CRLs: building, reading, looking up")
struct CRLTests {
  static let pki = Result { try TestPKI() }

  @Test func builtCRLReadsBack() throws {
    let pki = try Self.pki.get()
    let revokedAt = Date(timeIntervalSince1970: 1_750_000_000)
    var builder = CRLBuilder(revoked: [
      RevokedCertificate(serialNumber: pki.leaf.serialNumber, revocationDate: revokedAt, reason: .keyCompromise),
      RevokedCertificate(serialNumber: SerialNumber(42), revocationDate: revokedAt, reason: nil),
    ])
    builder.crlNumber = SerialNumber(7)
    builder.thisUpdate = Date(timeIntervalSince1970: 1_760_000_000)
    builder.nextUpdate = Date(timeIntervalSince1970: 1_760_600_000)
    let crl = try X509CRL(
      pemEncoded: try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate).pemEncoded)
    #expect(crl.issuer == pki.intermediate.subject)
    #expect(crl.thisUpdate == Date(timeIntervalSince1970: 1_760_000_000))
    #expect(crl.nextUpdate == Date(timeIntervalSince1970: 1_760_600_000))
    #expect(try crl.crlNumber == SerialNumber(7))
    #expect(crl.revokedCertificates.count == 2)
    let entry = try #require(crl.revocation(of: pki.leaf.serialNumber))
    #expect(entry.reason == .keyCompromise)
    #expect(entry.revocationDate == revokedAt)
    #expect(crl.revocation(of: SerialNumber(42))?.reason == nil)
    #expect(crl.revocation(of: SerialNumber(43)) == nil)
    #expect(try crl.isSignatureValid(publicKey: pki.intermediate.publicKey))
    #expect(try !crl.isSignatureValid(publicKey: pki.root.publicKey))
    #expect(try X509CRL(derEncoded: crl.derEncoded) == crl)
  }

  /// A CRL made with the builder's defaults is valid at once, also to a verifier whose clock is
  /// behind ours: OpenSSL reads `time()`, which lags `Date()` by a few milliseconds after each
  /// second turns (a lastUpdate of "now" was sometimes not yet valid).
  @Test func aCRLWithTheDefaultDatesIsValidAtOnce() throws {
    let pki = try Self.pki.get()
    let crl = try CRLBuilder().sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    #expect(crl.thisUpdate < Date(timeIntervalSinceNow: -2))
    let store = X509Store()
    try store.add(pki.root)
    try store.add(crl)
    var policy = VerificationPolicy()
    policy.flags = .crlCheck
    policy.time = Date(timeIntervalSinceNow: -2)
    _ = try store.verify(pki.leaf, untrusted: [pki.intermediate], policy: policy)
  }

  @Test func badCRLInput() throws {
    let pki = try Self.pki.get()
    #expect(throws: InputError.self) { try X509CRL(pemEncoded: pki.leaf.pemEncoded) }
    do {
      _ = try X509CRL(bytes: pki.leaf.derEncoded)
    } catch {
      #expect(error.reason == .wrongType)
      #expect(error.detail.contains("a certificate, not a CRL"))
    }
    do {
      _ = try X509CRL(bytes: [UInt8]())
    } catch {
      #expect(error.reason == .empty)
    }
  }
}
