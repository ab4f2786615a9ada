import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// Why a certificate was revoked (RFC 5280 5.3.1 `CRLReason`).
public enum RevocationReason: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case unspecified = 0
  case keyCompromise = 1
  case caCompromise = 2
  case affiliationChanged = 3
  case superseded = 4
  case cessationOfOperation = 5
  case certificateHold = 6
  case removeFromCRL = 8
  case privilegeWithdrawn = 9
  case aaCompromise = 10

  /// A readable description, without secret material.
  public var description: String {
    switch self {
    case .unspecified: "unspecified"
    case .keyCompromise: "key compromise"
    case .caCompromise: "CA compromise"
    case .affiliationChanged: "affiliation changed"
    case .superseded: "superseded"
    case .cessationOfOperation: "cessation of operation"
    case .certificateHold: "certificate hold"
    case .removeFromCRL: "remove from CRL"
    case .privilegeWithdrawn: "privilege withdrawn"
    case .aaCompromise: "AA compromise"
    }
  }
}

/// One revoked certificate of a CRL (`X509_REVOKED`), read into a value.
public struct RevokedCertificate: Hashable, Sendable {
  /// The revoked certificate's serial number.
  public var serialNumber: SerialNumber
  /// When it was revoked.
  public var revocationDate: Date
  /// Why, when the CRL says (the `reasonCode` entry extension).
  public var reason: RevocationReason?

  /// Makes an entry, for the CRL builder.
  public init(serialNumber: SerialNumber, revocationDate: Date, reason: RevocationReason? = nil) {
    self.serialNumber = serialNumber
    self.revocationDate = revocationDate
    self.reason = reason
  }
}

/// A certificate revocation list (`X509_CRL`).
///
/// Owns exactly one `X509_CRL` reference (`X509_CRL_free`). Doors: adopt, borrow, retain
/// (`X509_CRL_up_ref`) and hand over. Immutable, hence `Sendable`.
public final class X509CRL: OpenSSLObjectBase, OpenSSLReferenceCounted, PEMDERDecodable, @unchecked Sendable {
  override package class var cType: CObjectType { .x509CRL }

  // MARK: - Loading

  /// How CRLs are read: `X509 CRL` PEM blocks or DER, with `d2i_X509_CRL`.
  public static let decodingRules = unsafe ObjectDecoder(
    object: "CRL", labels: ObjectKind.crl.pemLabels, d2i: { _ in { unsafe d2i_X509_CRL($0, $1, $2) } },
    operation: { _ in "d2i_X509_CRL" }, free: { unsafe X509_CRL_free($0) })

  // MARK: - Encoding

  /// The DER encoding (`i2d_X509_CRL`).
  public var derEncoded: [UInt8] {
    unsafe (try? DER.encode("i2d_X509_CRL") { unsafe i2d_X509_CRL(pointer, $0) }) ?? []
  }

  /// The PEM encoding (`PEM_write_bio_X509_CRL`), labelled `X509 CRL`.
  public var pemEncoded: String {
    unsafe (try? PEM.write("PEM_write_bio_X509_CRL") { unsafe PEM_write_bio_X509_CRL($0, pointer) }) ?? ""
  }

  // MARK: - Fields

  /// The issuer (`X509_CRL_get_issuer`), a copy.
  public var issuer: X509Name { unsafe X509Name(copyingBorrowed: X509_CRL_get_issuer(pointer)) }

  /// When this CRL was issued (`X509_CRL_get0_lastUpdate`, RFC 5280's thisUpdate).
  public var thisUpdate: Date { unsafe ASN1.date(X509_CRL_get0_lastUpdate(pointer)) ?? Date(timeIntervalSince1970: 0) }

  /// When the next CRL is due (`X509_CRL_get0_nextUpdate`), if the CRL says.
  public var nextUpdate: Date? { unsafe ASN1.date(X509_CRL_get0_nextUpdate(pointer)) }

  /// The CRL number extension, if present.
  public var crlNumber: SerialNumber? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in
        unsafe try extensionDecoder.decode(
          NID_crl_number, { unsafe SerialNumber(integer: $0) }, free: { unsafe oo_ASN1_STRING_free($0) })
      }
    }
  }

  /// Every extension as stored (`X509_CRL_get_ext`).
  public var extensions: [X509Extension] {
    unsafe (0..<X509_CRL_get_ext_count(pointer)).compactMap {
      unsafe X509_CRL_get_ext(pointer, $0).map(X509Extension.init)
    }
  }

  /// The revoked certificates, in order (`X509_CRL_get_REVOKED`).
  public var revokedCertificates: [RevokedCertificate] {
    guard let stack = unsafe X509_CRL_get_REVOKED(pointer) else { return [] }
    return unsafe (0..<oo_sk_X509_REVOKED_num(stack)).compactMap { index in
      unsafe oo_sk_X509_REVOKED_value(stack, index).map(unsafe Self.revoked)
    }
  }

  /// The entry for a serial number, if it is revoked (`X509_CRL_get0_by_serial`).
  public func revocation(of serialNumber: SerialNumber) -> RevokedCertificate? {
    guard let integer: UnsafeMutableRawPointer = unsafe serialNumber.makeInteger() else { return nil }
    defer { unsafe ASN1.free(integer) }
    var entry: OpaquePointer? = nil
    let found = ErrorQueue.isolated { _ in
      unsafe X509_CRL_get0_by_serial(pointer, &entry, .init(asn1Address: integer))
    }
    guard found == 1, let entry = unsafe entry else { return nil }
    return unsafe Self.revoked(entry)
  }

  /// Whether the CRL's signature verifies with `key` (`X509_CRL_verify`).
  public func isSignatureValid(publicKey key: some AsymmetricKey) -> Bool {
    ErrorQueue.isolated { _ in unsafe X509_CRL_verify(pointer, key.pointer) == 1 }
  }

  var extensionDecoder: ExtensionDecoder {
    unsafe ExtensionDecoder(
      object: pointer,
      getD2I: { crl, nid, critical in unsafe X509_CRL_get_ext_d2i(crl, nid, critical, nil) },
      owner: { crl in unsafe "CRL \(X509Name(copyingBorrowed: X509_CRL_get_issuer(crl)).rfc2253)" })
  }

  private static func revoked(_ entry: OpaquePointer) -> RevokedCertificate {
    let serial = unsafe SerialNumber(integer: X509_REVOKED_get0_serialNumber(entry))
    let date = unsafe ASN1.date(X509_REVOKED_get0_revocationDate(entry)) ?? Date(timeIntervalSince1970: 0)
    var critical: Int32 = 0
    let reasonCode: Int? = ErrorQueue.isolated { _ in
      guard let raw = unsafe X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, &critical, nil) else { return nil }
      defer { unsafe oo_ASN1_STRING_free(raw) }
      return unsafe oo_ASN1_ENUMERATED_get(raw)
    }
    return RevokedCertificate(
      serialNumber: serial, revocationDate: date, reason: reasonCode.flatMap { RevocationReason(rawValue: $0) })
  }
}

extension X509CRL: Equatable, CustomStringConvertible {
  /// CRLs are equal when OpenSSL says so (`X509_CRL_cmp` compares issuers; the encodings decide).
  public static func == (lhs: X509CRL, rhs: X509CRL) -> Bool {
    unsafe lhs.pointer == rhs.pointer || lhs.derEncoded == rhs.derEncoded
  }

  /// A readable description, without secret material.
  public var description: String {
    "X509CRL(issuer: \(issuer.rfc2253), revoked: \(revokedCertificates.count))"
  }
}
