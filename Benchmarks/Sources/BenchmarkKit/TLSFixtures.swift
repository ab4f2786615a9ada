import Foundation
import OpenSSLObjects

/// The TLS and verification inputs: two three-deep chains (root, intermediate, leaf for
/// ``host``), one all ECDSA P-256 and one all RSA-2048, and one trust store holding both roots,
/// shared by our client contexts and C's (`SSL_CTX_set1_cert_store` of the same `X509_STORE`).
public final class TLSFixtures {
  /// A root CA, an intermediate CA it signed, and a server certificate the intermediate signed.
  public struct Chain {
    public let root: X509Certificate
    public let intermediate: X509Certificate
    public let leaf: X509Certificate
    public let leafKey: PrivateKey
    /// The intermediate's key, which also signs the leaf's OCSP response.
    public let intermediateKey: PrivateKey

    /// What a server presents.
    public var certificateChain: CertificateChain {
      CertificateChain(certificate: leaf, chain: [intermediate], privateKey: leafKey)
    }
  }

  /// The name every leaf is for (subject alternative name) and every client checks.
  public let host = "www.example.com"
  public let ecdsa: Chain
  public let rsa: Chain
  /// Both roots; frozen once a context or a verification takes it.
  public let store: X509Store
  /// The bulk workload's payload: one full TLS record.
  public let record: [UInt8] = (0..<16_384).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
  /// The large-write bulk workload's payload: 256 KiB, sixteen full records per write.
  public let largeWrite: [UInt8] = (0..<262_144).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

  init(ecKey: PrivateKey, rsaKey: PrivateKey) throws {
    ecdsa = try Self.chain(leafKey: ecKey, generate: { try PrivateKey(generating: .ec(.p256)) }, label: "ECDSA")
    rsa = try Self.chain(leafKey: rsaKey, generate: { try PrivateKey(generating: .rsa(bits: 2048)) }, label: "RSA")
    store = X509Store()
    try store.add(ecdsa.root)
    try store.add(rsa.root)
  }

  private static func chain(leafKey: PrivateKey, generate: () throws -> PrivateKey, label: String) throws -> Chain {
    let rootKey = try generate()
    var root = CertificateBuilder(subject: try X509Name(["CN": "Benchmark \(label) Root", "O": "OpenSSLObjects"]))
    root.basicConstraints = BasicConstraints(isCA: true)
    root.keyUsage = [.keyCertSign, .cRLSign]
    let rootCertificate = try root.sign(with: rootKey)

    let intermediateKey = try generate()
    var intermediate = CertificateBuilder(
      subject: try X509Name(["CN": "Benchmark \(label) Intermediate", "O": "OpenSSLObjects"]))
    intermediate.publicKey = try intermediateKey.publicKey
    intermediate.basicConstraints = BasicConstraints(isCA: true, pathLength: 0)
    intermediate.keyUsage = [.keyCertSign, .cRLSign]
    let intermediateCertificate = try intermediate.sign(with: rootKey, issuerCertificate: rootCertificate)

    var leaf = CertificateBuilder(subject: try X509Name(["CN": "www.example.com", "O": "Example"]))
    leaf.publicKey = try leafKey.publicKey
    leaf.subjectAlternativeNames = [.dnsName("www.example.com"), .dnsName("example.com")]
    leaf.basicConstraints = BasicConstraints(isCA: false)
    leaf.keyUsage = label == "RSA" ? [.digitalSignature, .keyEncipherment] : [.digitalSignature]
    leaf.extendedKeyUsage = [.serverAuth]
    let leafCertificate = try leaf.sign(with: intermediateKey, issuerCertificate: intermediateCertificate)
    return Chain(
      root: rootCertificate, intermediate: intermediateCertificate, leaf: leafCertificate, leafKey: leafKey,
      intermediateKey: intermediateKey)
  }

  /// A chain in PEM, as the peers load it: the root, the leaf then the intermediate, and the
  /// leaf's key (PKCS#8).
  public struct PEMChain {
    public let root: String
    public let chain: [String]
    public let key: [UInt8]
  }

  /// The chains in PEM by name: `ecdsa` and `rsa`.
  public func pem() throws -> [(name: String, pem: PEMChain)] {
    try [("ecdsa", ecdsa), ("rsa", rsa)].map { name, chain in
      let key = try chain.leafKey.pemEncoded().withUnsafeBytes { Array($0) }
      return (
        name,
        PEMChain(root: chain.root.pemEncoded, chain: [chain.leaf.pemEncoded, chain.intermediate.pemEncoded], key: key)
      )
    }
  }

  /// Writes the PEM files the peers in other processes load: `NAME-root.pem`,
  /// `NAME-chain.pem` (leaf then intermediate) and `NAME-key.pem`, for NAME `ecdsa` and `rsa`.
  public func write(to directory: String) throws {
    for (name, pem) in try pem() {
      try pem.root.write(toFile: "\(directory)/\(name)-root.pem", atomically: true, encoding: .utf8)
      try pem.chain.joined().write(toFile: "\(directory)/\(name)-chain.pem", atomically: true, encoding: .utf8)
      try Data(pem.key).write(to: URL(fileURLWithPath: "\(directory)/\(name)-key.pem"))
    }
  }
}
