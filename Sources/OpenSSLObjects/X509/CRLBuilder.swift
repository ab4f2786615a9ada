import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// Builds and signs version 2 CRLs (`X509_CRL_new`, `X509_CRL_add0_revoked`, `X509_CRL_sign`).
public struct CRLBuilder: Sendable {
  /// When this CRL is issued (its lastUpdate); a minute before the builder was made unless set,
  /// as ``CertificateBuilder/notBefore``. Not now: OpenSSL's verification reads the clock with
  /// `time()`, which lags the clock `Date()` reads by a few milliseconds after each second turns,
  /// so a CRL dated "now" and checked at once was sometimes not yet valid
  /// (`X509_V_ERR_CRL_NOT_YET_VALID`).
  public var thisUpdate: Date = Date(timeIntervalSinceNow: -60)
  /// When the next CRL is due; seven days from now unless set (`nil` omits it).
  public var nextUpdate: Date? = Date(timeIntervalSinceNow: 7 * 86_400)
  /// The CRL number extension; 1 unless set (`nil` omits it).
  public var crlNumber: SerialNumber? = SerialNumber(1)
  /// The revoked certificates.
  public var revoked: [RevokedCertificate] = []
  /// The signature digest; `nil` takes SHA-256 (none for EdDSA).
  public var digest: Digest?
  /// Whether to add an authority key identifier taken from the issuer certificate.
  public var includeAuthorityKeyIdentifier = true
  /// Extensions added as given.
  public var rawExtensions: [X509Extension] = []

  /// Starts a builder with these revoked certificates.
  public init(revoked: [RevokedCertificate] = []) {
    self.revoked = revoked
  }

  /// Signs with the issuer's key; the issuer name (and key identifier) come from its certificate.
  ///
  /// - Throws: ``InputError`` if a value cannot be encoded or OpenSSL cannot sign.
  public func sign(with key: PrivateKey, issuerCertificate: X509Certificate) throws -> X509CRL {
    let crl = unsafe X509CRL(takingOwnershipOf: OpenSSLPointer(X509_CRL_new()!))
    let pointer = unsafe crl.pointer
    try CertificateBuilder.check("X509_CRL_set_version") { unsafe X509_CRL_set_version(pointer, 1) }
    let issuer = issuerCertificate.subject
    try CertificateBuilder.check("X509_CRL_set_issuer_name") {
      unsafe X509_CRL_set_issuer_name(pointer, issuer.pointer)
    }
    unsafe try CertificateBuilder.setTime(thisUpdate, "lastUpdate") {
      unsafe X509_CRL_set1_lastUpdate(pointer, .init(asn1Address: $0))
    }
    if let nextUpdate {
      unsafe try CertificateBuilder.setTime(nextUpdate, "nextUpdate") {
        unsafe X509_CRL_set1_nextUpdate(pointer, .init(asn1Address: $0))
      }
    }
    for entry in revoked {
      unsafe try add(entry, to: pointer)
    }
    try CertificateBuilder.check("X509_CRL_sort") { unsafe X509_CRL_sort(pointer) }
    if let crlNumber {
      guard let integer: UnsafeMutableRawPointer = unsafe crlNumber.makeInteger() else {
        throw CertificateBuilder.invalid("CRL number", "cannot encode")
      }
      defer { unsafe ASN1.free(integer) }
      try CertificateBuilder.check("X509_CRL_add1_ext_i2d") {
        unsafe X509_CRL_add1_ext_i2d(pointer, NID_crl_number, integer, 0, UInt(X509V3_ADD_DEFAULT))
      }
    }
    if includeAuthorityKeyIdentifier {
      let identifier =
        unsafe try issuerCertificate.subjectKeyIdentifier ?? CertificateBuilder.keyHash(issuerCertificate.pointer)
      let ext = unsafe try ExtensionEncoder.authorityKeyIdentifier(
        AuthorityKeyIdentifier(keyIdentifier: identifier), critical: false)
      defer { unsafe X509_EXTENSION_free(ext) }
      try CertificateBuilder.check("X509_CRL_add_ext") { unsafe X509_CRL_add_ext(pointer, ext, -1) }
    }
    for raw in rawExtensions {
      let ext = unsafe try ExtensionEncoder.make(raw)
      defer { unsafe X509_EXTENSION_free(ext) }
      try CertificateBuilder.check("X509_CRL_add_ext") { unsafe X509_CRL_add_ext(pointer, ext, -1) }
    }
    let md = unsafe try SignatureOperation.digestAlgorithm(digest, for: key.algorithm, object: "CRL signature")
    try CertificateBuilder.check("X509_CRL_sign") { unsafe X509_CRL_sign(pointer, key.pointer, md) > 0 ? 1 : 0 }
    return crl
  }

  private func add(_ entry: RevokedCertificate, to crl: OpaquePointer) throws(InputError) {
    let revoked = unsafe X509_REVOKED_new()!
    var handedOver = false
    defer { if !handedOver { unsafe X509_REVOKED_free(revoked) } }
    guard let serial: UnsafeMutableRawPointer = unsafe entry.serialNumber.makeInteger() else {
      throw CertificateBuilder.invalid("serial number", "cannot encode")
    }
    defer { unsafe ASN1.free(serial) }
    try CertificateBuilder.check("X509_REVOKED_set_serialNumber") {
      unsafe X509_REVOKED_set_serialNumber(revoked, .init(asn1Address: serial))
    }
    unsafe try CertificateBuilder.setTime(entry.revocationDate, "revocationDate") {
      unsafe X509_REVOKED_set_revocationDate(revoked, .init(asn1Address: $0))
    }
    if let reason = entry.reason {
      let enumerated = unsafe oo_ASN1_ENUMERATED_new()!
      defer { unsafe oo_ASN1_STRING_free(enumerated) }
      unsafe oo_ASN1_ENUMERATED_set(enumerated, reason.rawValue)
      try CertificateBuilder.check("X509_REVOKED_add1_ext_i2d") {
        unsafe X509_REVOKED_add1_ext_i2d(revoked, NID_crl_reason, enumerated, 0, UInt(X509V3_ADD_DEFAULT))
      }
    }
    try CertificateBuilder.check("X509_CRL_add0_revoked") { unsafe X509_CRL_add0_revoked(crl, revoked) }
    handedOver = true
  }
}
