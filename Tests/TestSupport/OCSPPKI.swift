public import Foundation
public import OpenSSLObjects

/// A PKI for OCSP tests: the usual root, intermediate and leaf (with an OCSP URL in its
/// authority information access), a responder the intermediate delegated (OCSP-signing EKU), a
/// certificate the intermediate issued without that EKU, and a responder the root issued (not the
/// leaf's issuer, so not authorized for it).
public struct OCSPPKI: Sendable {
  public let pki: TestPKI
  public let delegatedKey: PrivateKey
  public let delegated: X509Certificate
  public let notDelegatedKey: PrivateKey
  public let notDelegated: X509Certificate
  public let unrelatedKey: PrivateKey
  public let unrelated: X509Certificate

  /// Builds the PKI; the leaf names `ocspURL` as its responder and is must-staple if asked.
  public init(
    leafName: String = "www.example.test", ocspURL: String = "http://127.0.0.1:9/ocsp", mustStaple: Bool = false,
    leaf adjust: (inout CertificateBuilder) throws -> Void = { _ in }
  ) throws {
    pki = try TestPKI(leafName: leafName) { builder in
      builder.setAuthorityInformationAccess(ocsp: [ocspURL])
      if mustStaple { builder.tlsFeatures = .mustStaple }
      try adjust(&builder)
    }
    delegatedKey = try PrivateKey(generating: .ec(.p256))
    delegated = try OCSPPKI.responder(
      "Delegated Responder", key: delegatedKey, issuerKey: pki.intermediateKey, issuer: pki.intermediate, eku: true)
    notDelegatedKey = try PrivateKey(generating: .ec(.p256))
    notDelegated = try OCSPPKI.responder(
      "Not A Responder", key: notDelegatedKey, issuerKey: pki.intermediateKey, issuer: pki.intermediate, eku: false)
    unrelatedKey = try PrivateKey(generating: .ec(.p256))
    unrelated = try OCSPPKI.responder(
      "Root's Responder", key: unrelatedKey, issuerKey: pki.rootKey, issuer: pki.root, eku: true)
  }

  /// The store that trusts the root.
  public func store() throws -> X509Store {
    let store = X509Store()
    try store.add(pki.root)
    return store
  }

  /// The leaf's certificate ID (SHA-1 unless asked).
  public func leafID(_ digest: Digest = .sha1) throws -> OCSPCertID {
    try OCSPCertID(certificate: pki.leaf, issuer: pki.intermediate, digest: digest)
  }

  /// A response for the leaf signed by the intermediate (or `signer`).
  public func response(
    _ status: OCSPCertificateStatus = .good,
    thisUpdate: Date = Date(timeIntervalSinceNow: -60),
    nextUpdate: Date? = Date(timeIntervalSinceNow: 86_400),
    signer: (X509Certificate, PrivateKey)? = nil,
    adjust: (inout OCSPResponseBuilder) throws -> Void = { _ in }
  ) throws -> OCSPResponse {
    var builder = OCSPResponseBuilder()
    builder.add(try leafID(), status: status, thisUpdate: thisUpdate, nextUpdate: nextUpdate)
    try adjust(&builder)
    let (certificate, key) = signer ?? (pki.intermediate, pki.intermediateKey)
    return try builder.sign(with: key, signer: certificate)
  }

  static func responder(
    _ name: String, key: PrivateKey, issuerKey: PrivateKey, issuer: X509Certificate, eku: Bool
  ) throws -> X509Certificate {
    var builder = CertificateBuilder(subject: try X509Name(["CN": name]))
    builder.notBefore = Date(timeIntervalSinceNow: -86_400)
    builder.publicKey = try key.publicKey
    builder.keyUsage = [.digitalSignature]
    if eku { builder.extendedKeyUsage = [.ocspSigning] }
    builder.ocspNoCheck = eku
    return try builder.sign(with: issuerKey, issuerCertificate: issuer)
  }
}
