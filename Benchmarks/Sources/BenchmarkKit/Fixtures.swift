import Foundation
import OpenSSLObjects

/// The inputs every workload shares, made once per run with the library's own builders: both
/// sides of a workload read the very same bytes and, where they take objects, the very same
/// `X509` and `EVP_PKEY` (lent to C through the borrow door).
public final class Fixtures {
  /// The issuing CA's key (ECDSA P-256).
  public let caKey: PrivateKey
  /// The issuing CA's certificate.
  public let caCertificate: X509Certificate
  /// A leaf certificate (RSA-2048 key, signed with ECDSA P-256) carrying every extension the
  /// typed accessors read: subject and issuer alternative names, key usage, extended key usage,
  /// basic constraints, name constraints, authority information access, CRL distribution points,
  /// subject and authority key identifiers, TLS feature and OCSP no-check.
  public let certificate: X509Certificate
  /// ``certificate`` in DER.
  public let certificateDER: [UInt8]
  /// ``certificate`` in PEM.
  public let certificatePEM: [UInt8]

  /// Signing keys and their public halves.
  public let ecKey: PrivateKey
  public let rsaKey: PrivateKey
  public let ed25519Key: PrivateKey
  public let ecPublicKey: PublicKey
  public let rsaPublicKey: PublicKey
  public let ed25519PublicKey: PublicKey

  /// The signed message: 256 bytes.
  public let message: [UInt8] = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }

  /// ``ecKey`` as encrypted PKCS#8 PEM (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256, 2048 iterations:
  /// our export defaults and OpenSSL's).
  public let encryptedKeyPEM: [UInt8]
  /// The passphrase of ``encryptedKeyPEM``, as bytes for the C side.
  public let passphraseBytes: [UInt8] = Array("correct horse battery staple".utf8)
  /// The same passphrase in its wiped buffer, for our side.
  public let passphrase: Passphrase
  /// ``ecKey`` as unencrypted PKCS#8 PEM.
  public let keyPEM: [UInt8]

  /// Chains, a trust store and a record for verification and TLS; the leaves' keys are
  /// ``ecKey`` and ``rsaKey``.
  public let tls: TLSFixtures
  /// The directory of the SoftHSM2 token that `scripts/bench.sh` made (`OO_BENCH_TOKEN_DIR`,
  /// with `SOFTHSM2_CONF` set to its configuration), if any: without it the token workloads are
  /// left out.
  public let tokenDirectory: String? = ProcessInfo.processInfo.environment["OO_BENCH_TOKEN_DIR"].flatMap {
    $0.isEmpty ? nil : $0
  }

  public init() throws {
    caKey = try PrivateKey(generating: .ec(.p256))
    var ca = CertificateBuilder(subject: try X509Name(["CN": "Benchmark CA", "O": "OpenSSLObjects"]))
    ca.basicConstraints = BasicConstraints(isCA: true)
    ca.keyUsage = [.keyCertSign, .cRLSign]
    caCertificate = try ca.sign(with: caKey)

    ecKey = try PrivateKey(generating: .ec(.p256))
    rsaKey = try PrivateKey(generating: .rsa(bits: 2048))
    ed25519Key = try PrivateKey(generating: .ed25519)
    ecPublicKey = try ecKey.publicKey
    rsaPublicKey = try rsaKey.publicKey
    ed25519PublicKey = try ed25519Key.publicKey

    certificate = try Fixtures.leaf(key: rsaPublicKey, caKey: caKey, ca: caCertificate)
    certificateDER = certificate.derEncoded
    certificatePEM = Array(certificate.pemEncoded.utf8)

    passphrase = Passphrase(passphraseBytes)
    encryptedKeyPEM = try ecKey.pemEncoded(passphrase: passphrase).withUnsafeBytes { Array($0) }
    keyPEM = try ecKey.pemEncoded().withUnsafeBytes { Array($0) }
    tls = try TLSFixtures(ecKey: ecKey, rsaKey: rsaKey)
  }

  private static func leaf(key: PublicKey, caKey: PrivateKey, ca: X509Certificate) throws -> X509Certificate {
    var leaf = CertificateBuilder(subject: try X509Name(["CN": "www.example.com", "O": "Example", "C": "US"]))
    leaf.publicKey = key
    leaf.subjectAlternativeNames = [
      .dnsName("www.example.com"), .dnsName("example.com"), .dnsName("api.example.com"),
      .dnsName("*.cdn.example.com"), .ipAddress([192, 0, 2, 10]), .email("hostmaster@example.com"),
      .uri("https://www.example.com/"),
    ]
    leaf.keyUsage = [.digitalSignature, .keyEncipherment]
    leaf.extendedKeyUsage = [.serverAuth, .clientAuth]
    leaf.basicConstraints = BasicConstraints(isCA: false)
    leaf.nameConstraints = NameConstraints(permitted: [.dnsName(".example.com")], excluded: [.dnsName(".test")])
    leaf.setAuthorityInformationAccess(ocsp: ["http://ocsp.example.com/"], caIssuers: ["http://ca.example.com/ca.der"])
    leaf.crlDistributionPoints = [DistributionPoint(fullName: [.uri("http://crl.example.com/ca.crl")])]
    leaf.tlsFeatures = .mustStaple
    leaf.ocspNoCheck = true
    // Issuer alternative names have no typed setter: the same GeneralNames value, raw.
    let names = try leaf.sign(with: caKey, issuerCertificate: ca).extensions.first { $0.oid == "2.5.29.17" }
    if let names {
      leaf.rawExtensions = [X509Extension(oid: "2.5.29.18", isCritical: false, value: names.value)]
    }
    return try leaf.sign(with: caKey, issuerCertificate: ca)
  }
}
