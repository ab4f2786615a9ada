import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Promises the README and the DocC articles make that no other test tried (docs/SECURITY.md):
/// how exported keys are encrypted, and a server context that refuses a key that is not its
/// certificate's.
@Suite("Documented promises: key export encryption, a server's key and certificate")
struct DocumentedPromisesTests {
  /// README Keys: `pemEncoded(passphrase:)` writes PKCS#8 encrypted with AES-256 (PBES2). Read
  /// back with `openssl asn1parse`. Breaking it (a weaker default, PBES1 with DES or RC2, or a
  /// SHA-1 PRF) would show other algorithm identifiers.
  @Test func exportedKeysAreEncryptedWithAES256UnderPBES2() throws {
    let key = try PrivateKey(generating: .ec(.p256))
    let directory = try TemporaryDirectory("export")
    let der = try directory.write(
      "key.der", try key.derEncoded(passphrase: Passphrase(Array("pw".utf8))).withUnsafeBytes { Array($0) })
    let pem = try key.pemEncoded(passphrase: Passphrase(Array("pw".utf8))).withUnsafeBytes {
      String(decoding: $0, as: UTF8.self)
    }
    #expect(pem.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"))
    let parsed = try ChildProcess.run("openssl", ["asn1parse", "-inform", "DER", "-in", der])
    #expect(parsed.status == 0, "\(parsed.output)")
    for identifier in [":PBES2", ":PBKDF2", ":hmacWithSHA256", ":aes-256-cbc"] {
      #expect(parsed.stdout.contains(identifier), "\(identifier) missing: \(parsed.stdout)")
    }
    for weak in ["pbeWith", "des", "rc2", "rc4", ":hmacWithSHA1\n"] {
      #expect(!parsed.stdout.lowercased().contains(weak.lowercased()), "\(weak): \(parsed.stdout)")
    }
  }

  /// `TLSServerWithATokenKey.md`: `SSLContext(configuration:)` "checks that the key is the
  /// leaf's". Breaking it would build a server context that presents a certificate whose key it
  /// does not hold (every handshake would then fail at the peer, or worse, succeed with a
  /// certificate the server cannot prove).
  @Test func aServerContextRefusesAKeyThatIsNotItsCertificates() throws {
    let pki = try TestPKI()
    let other = try PrivateKey(generating: .ec(.p256))
    let error = try caught(InputError.self) {
      _ = try SSLContext(
        configuration: .server([CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: other)]))
    }
    #expect("\(error)".contains(pki.leaf.subject.rfc2253), "\(error)")
    #expect("\(error)".lowercased().contains("mismatch"), "\(error)")
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
    // The neighbour: the leaf's own key builds.
    _ = try SSLContext(
      configuration: .server([
        CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
      ]))
  }
}
