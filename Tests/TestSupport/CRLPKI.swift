public import Foundation
public import OpenSSLObjects

/// A PKI whose intermediate and leaf name CRL distribution points on a loopback HTTP server
/// (`root.crl`, the root's CRL, for the intermediate; `intermediate.crl` for the leaf), with
/// CRLs made by our builder for it.
public struct CRLPKI: @unchecked Sendable {
  public let server: LoopbackHTTPServer
  public let rootKey: PrivateKey
  public let root: X509Certificate
  public let intermediateKey: PrivateKey
  public let intermediate: X509Certificate
  public let leafKey: PrivateKey
  public let leaf: X509Certificate

  /// Builds the PKI; `leafPoints` are the leaf's distribution point URLs (the server's
  /// `intermediate.crl` unless given).
  public init(server: LoopbackHTTPServer, leafName: String = "localhost", leafPoints: [String]? = nil) throws {
    self.server = server
    rootKey = try PrivateKey(generating: .ec(.p256))
    root = try TestPKI.makeCA(name: "CRL Test Root", key: rootKey)
    intermediateKey = try PrivateKey(generating: .ec(.p256))
    let rootPoint = server.url("root.crl")
    intermediate = try TestPKI.makeCA(
      name: "CRL Test Intermediate", key: intermediateKey, issuerKey: rootKey, issuer: root, pathLength: 0
    ) { builder in
      builder.crlDistributionPoints = [DistributionPoint(fullName: [.uri(rootPoint)])]
    }
    leafKey = try PrivateKey(generating: .ec(.p256))
    var builder = try TestPKI.leafBuilder(name: leafName, key: leafKey)
    builder.crlDistributionPoints = [
      DistributionPoint(fullName: (leafPoints ?? [server.url("intermediate.crl")]).map { .uri($0) })
    ]
    leaf = try builder.sign(with: intermediateKey, issuerCertificate: intermediate)
  }

  /// The verified chain, leaf first.
  public var chain: [X509Certificate] { [leaf, intermediate, root] }

  /// A store that trusts the root.
  public func store() throws -> X509Store {
    let store = X509Store()
    try store.add(root)
    return store
  }

  /// A CRL of the intermediate (or of the root with `root`) revoking `revoked`.
  public func crl(
    root byRoot: Bool = false,
    revoking revoked: [X509Certificate] = [],
    reason: RevocationReason? = .keyCompromise,
    revokedAt: Date = Date(timeIntervalSinceNow: -3_600),
    thisUpdate: Date = Date(timeIntervalSinceNow: -60),
    nextUpdate: Date? = Date(timeIntervalSinceNow: 86_400),
    adjust: (inout CRLBuilder) throws -> Void = { _ in }
  ) throws -> X509CRL {
    var builder = CRLBuilder(
      revoked: revoked.map {
        RevokedCertificate(serialNumber: $0.serialNumber, revocationDate: revokedAt, reason: reason)
      })
    builder.thisUpdate = thisUpdate
    builder.nextUpdate = nextUpdate
    try adjust(&builder)
    return try byRoot
      ? builder.sign(with: rootKey, issuerCertificate: root)
      : builder.sign(with: intermediateKey, issuerCertificate: intermediate)
  }

  /// Serves good CRLs for both distribution points (DER for the root's, PEM for the
  /// intermediate's).
  public func serveGoodCRLs() throws {
    server.set("root.crl", .body(try crl(root: true).derEncoded))
    server.set("intermediate.crl", .body(Array(try crl().pemEncoded.utf8), contentType: "application/x-pem-file"))
  }
}
