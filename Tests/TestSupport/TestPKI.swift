import Foundation
public import OpenSSLObjects

/// A small PKI built with the library's own builders: a root, an intermediate and a leaf.
public struct TestPKI: Sendable {
  public let rootKey: PrivateKey
  public let root: X509Certificate
  public let intermediateKey: PrivateKey
  public let intermediate: X509Certificate
  public let leafKey: PrivateKey
  public let leaf: X509Certificate

  /// Builds the chain; `leafBuilder` may adjust the leaf before it is signed.
  public init(
    keyType: PrivateKey.KeyType = .ec(.p256),
    leafName: String = "www.example.test",
    leafBuilder: (inout CertificateBuilder) throws -> Void = { _ in }
  ) throws {
    rootKey = try PrivateKey(generating: keyType)
    root = try TestPKI.makeCA(name: "Test Root CA", key: rootKey)
    intermediateKey = try PrivateKey(generating: keyType)
    intermediate = try TestPKI.makeCA(
      name: "Test Intermediate CA", key: intermediateKey, issuerKey: rootKey, issuer: root, pathLength: 0)
    leafKey = try PrivateKey(generating: keyType)
    var builder = try TestPKI.leafBuilder(name: leafName, key: leafKey)
    try leafBuilder(&builder)
    leaf = try builder.sign(with: intermediateKey, issuerCertificate: intermediate)
  }

  /// A CA certificate: basic constraints CA:TRUE, keyCertSign and cRLSign.
  public static func makeCA(
    name: String,
    key: PrivateKey,
    issuerKey: PrivateKey? = nil,
    issuer: X509Certificate? = nil,
    pathLength: Int? = nil,
    adjust: (inout CertificateBuilder) throws -> Void = { _ in }
  ) throws -> X509Certificate {
    var builder = CertificateBuilder(subject: try X509Name(["CN": name, "O": "OpenSSLObjects Tests"]))
    // Valid since yesterday, so that tests may verify at any time of their run.
    builder.notBefore = Date(timeIntervalSinceNow: -86_400)
    builder.publicKey = try key.publicKey
    builder.basicConstraints = BasicConstraints(isCA: true, pathLength: pathLength)
    builder.keyUsage = [.keyCertSign, .cRLSign, .digitalSignature]
    try adjust(&builder)
    return try builder.sign(with: issuerKey ?? key, issuerCertificate: issuer)
  }

  /// A TLS server leaf builder: the name as CN and DNS SAN, serverAuth and clientAuth.
  public static func leafBuilder(name: String, key: PrivateKey) throws -> CertificateBuilder {
    var builder = CertificateBuilder(subject: try X509Name(["CN": name]))
    builder.notBefore = Date(timeIntervalSinceNow: -86_400)
    builder.publicKey = try key.publicKey
    builder.subjectAlternativeNames = [.dnsName(name)]
    builder.keyUsage = [.digitalSignature, .keyEncipherment]
    builder.extendedKeyUsage = [.serverAuth, .clientAuth]
    builder.basicConstraints = BasicConstraints(isCA: false)
    return builder
  }
}
