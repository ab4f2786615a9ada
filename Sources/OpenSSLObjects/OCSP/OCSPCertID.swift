import COpenSSLFull

/// The identifier of one certificate in OCSP (`OCSP_CERTID`): a hash algorithm, the hashes of the
/// issuer's name and key, and the certificate's serial number.
///
/// OpenSSL 3.0 does not reference-count `OCSP_CERTID`: this type owns its own `OCSP_CERTID`
/// (`OCSP_CERTID_free`) and offers adopt, borrow and copy (`OCSP_CERTID_dup`). Immutable, hence
/// `Sendable`.
///
/// Made from a certificate and its issuer, it remembers both, so that a single response hashed with
/// another algorithm can still be matched (``matches(_:)`` rehashes with the other identifier's
/// algorithm). The issuer should come from the verified chain, never from what a peer merely sent.
public final class OCSPCertID: OpenSSLObjectBase, OpenSSLCopyable, @unchecked Sendable {
  override package class var cType: CObjectType { .ocspCertID }

  /// The certificate and issuer it was made from, when it was made from them.
  public let certificate: X509Certificate?
  /// The issuer it was made from.
  public let issuerCertificate: X509Certificate?

  /// Adopts an `OCSP_CERTID` (the shared mechanism behind ``OpenSSLObject/init(takingOwnershipOf:)``).
  package required init(adopting pointer: OpaquePointer) {
    certificate = nil
    issuerCertificate = nil
    unsafe super.init(adopting: pointer)
  }

  /// The identifier of `certificate`, issued by `issuer`, hashed with `digest` (`OCSP_cert_to_id`).
  ///
  /// - Parameters:
  ///   - certificate: the certificate to identify.
  ///   - issuer: its issuer, from the verified chain.
  ///   - digest: SHA-1 by default, which every responder understands (RFC 5019); SHA-256 on
  ///     request.
  /// - Throws: ``InputError`` if the digest is not available or OpenSSL cannot make the identifier.
  public init(certificate: X509Certificate, issuer: X509Certificate, digest: Digest = .sha1) throws(InputError) {
    let md = unsafe try digest.algorithm(for: "OCSP certificate ID")
    let made = unsafe try InputError.converting(
      "OCSP certificate ID", reason: .invalidArgument, source: "OCSP_cert_to_id"
    ) {
      () throws(OpenSSLError) in
      unsafe try ErrorQueue.call("OCSP_cert_to_id") { unsafe OCSP_cert_to_id(md, certificate.pointer, issuer.pointer) }
    }
    self.certificate = certificate
    issuerCertificate = issuer
    unsafe super.init(adopting: made)
  }

  private var info: (name: [UInt8], algorithm: OID, key: [UInt8], serial: SerialNumber) {
    var nameHash: UnsafeMutableRawPointer? = nil
    var algorithm: OpaquePointer? = nil
    var keyHash: UnsafeMutableRawPointer? = nil
    var serial: UnsafeMutableRawPointer? = nil
    _ = unsafe oo_OCSP_id_get0_info(&nameHash, &algorithm, &keyHash, &serial, pointer)
    return unsafe (
      ASN1.bytes(nameHash), algorithm.map { unsafe OID(object: $0) } ?? OID("0.0"), unsafe ASN1.bytes(keyHash),
      unsafe serial.map { unsafe SerialNumber(integer: $0) } ?? SerialNumber(magnitude: [])
    )
  }

  /// The hash algorithm (`OCSP_id_get0_info`), for example `sha1`.
  public var hashAlgorithm: OID { info.algorithm }
  /// The hash of the issuer's DER name (`OCSP_id_get0_info`).
  public var issuerNameHash: [UInt8] { info.name }
  /// The hash of the issuer's public key bits (`OCSP_id_get0_info`).
  public var issuerKeyHash: [UInt8] { info.key }
  /// The certificate's serial number (`OCSP_id_get0_info`).
  public var serialNumber: SerialNumber { info.serial }

  /// The digest ``hashAlgorithm`` names, if this OpenSSL has it.
  var digest: Digest? {
    try? Digest(named: hashAlgorithm.shortName ?? hashAlgorithm.dotted)
  }

  /// Whether both identify the same certificate of the same issuer with the same hash algorithm
  /// (`OCSP_id_cmp`).
  public func isIdentical(to other: OCSPCertID) -> Bool {
    unsafe OCSP_id_cmp(pointer, other.pointer) == 0
  }

  /// Whether `other` (typically from a single response) identifies the same certificate: when
  /// the algorithms differ and this identifier was made from a certificate and issuer, they are
  /// hashed again with `other`'s algorithm, as RFC 6960 lets a responder choose its own.
  public func matches(_ other: OCSPCertID) -> Bool {
    if isIdentical(to: other) { return true }
    guard let certificate, let issuerCertificate, let digest = other.digest,
      let rehashed = try? OCSPCertID(certificate: certificate, issuer: issuerCertificate, digest: digest)
    else { return false }
    return rehashed.isIdentical(to: other)
  }
}

extension OCSPCertID: CustomStringConvertible {
  /// A readable description: serial, algorithm and the issuer key hash.
  public var description: String {
    "OCSPCertID(serial: \(serialNumber.hex), \(hashAlgorithm), issuer key hash: \(issuerKeyHash.hexString))"
  }
}
