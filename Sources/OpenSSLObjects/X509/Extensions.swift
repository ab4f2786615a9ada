import COpenSSLFull

// The typed X.509 extensions, decoded with OpenSSL's `X509_get_ext_d2i` (never by parsing the
// printed text) and encoded for the certificate builder with `X509V3_EXT_i2d`.

/// An extension as stored: its identifier, criticality and the DER of its value.
public struct X509Extension: Hashable, Sendable, CustomStringConvertible {
  /// The extension's identifier, for example `2.5.29.17` (subjectAltName).
  public let oid: OID
  /// Whether the extension is marked critical.
  public let isCritical: Bool
  /// The DER encoding of the extension's value (the contents of the `extnValue` OCTET STRING).
  public let value: [UInt8]

  /// Makes a raw extension, for the builder's raw extensions.
  public init(oid: OID, isCritical: Bool, value: [UInt8]) {
    self.oid = oid
    self.isCritical = isCritical
    self.value = value
  }

  /// Reads an `X509_EXTENSION` (borrowed).
  init(_ ext: OpaquePointer) {
    oid = unsafe OID(object: X509_EXTENSION_get_object(ext))
    isCritical = unsafe X509_EXTENSION_get_critical(ext) != 0
    value = unsafe ASN1.bytes(X509_EXTENSION_get_data(ext))
  }

  /// A readable description, without secret material.
  public var description: String { "\(oid)\(isCritical ? " (critical)" : ""): \(value.count) bytes" }
}

/// The key usage extension (RFC 5280 4.2.1.3).
public struct KeyUsage: OptionSet, Hashable, Sendable, CustomStringConvertible {
  /// The bit mask.
  public let rawValue: UInt16
  /// Makes a set from its bit mask (bit 0 is digitalSignature).
  public init(rawValue: UInt16) { self.rawValue = rawValue }

  /// Signatures other than on certificates and CRLs (bit 0).
  public static let digitalSignature = KeyUsage(rawValue: 1 << 0)
  /// Non-repudiation, or content commitment (bit 1).
  public static let nonRepudiation = KeyUsage(rawValue: 1 << 1)
  /// Encrypting keys, as RSA key transport does (bit 2).
  public static let keyEncipherment = KeyUsage(rawValue: 1 << 2)
  /// Encrypting data directly (bit 3).
  public static let dataEncipherment = KeyUsage(rawValue: 1 << 3)
  /// Key agreement, as ECDH does (bit 4).
  public static let keyAgreement = KeyUsage(rawValue: 1 << 4)
  /// Signing certificates: a CA key (bit 5).
  public static let keyCertSign = KeyUsage(rawValue: 1 << 5)
  /// Signing CRLs (bit 6).
  public static let cRLSign = KeyUsage(rawValue: 1 << 6)
  /// With key agreement: only for encrypting (bit 7).
  public static let encipherOnly = KeyUsage(rawValue: 1 << 7)
  /// With key agreement: only for decrypting (bit 8).
  public static let decipherOnly = KeyUsage(rawValue: 1 << 8)

  static let names: [(KeyUsage, String)] = [
    (.digitalSignature, "digitalSignature"), (.nonRepudiation, "nonRepudiation"),
    (.keyEncipherment, "keyEncipherment"), (.dataEncipherment, "dataEncipherment"),
    (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"), (.cRLSign, "cRLSign"),
    (.encipherOnly, "encipherOnly"), (.decipherOnly, "decipherOnly"),
  ]

  /// The names of the usages present, in bit order.
  public var names: [String] { KeyUsage.names.filter { contains($0.0) }.map(\.1) }

  /// A readable description, without secret material.
  public var description: String { names.joined(separator: ", ") }
}

/// The basic constraints extension (RFC 5280 4.2.1.9).
public struct BasicConstraints: Hashable, Sendable, CustomStringConvertible {
  /// Whether the subject is a CA.
  public var isCA: Bool
  /// The maximum number of intermediate CAs that may follow, if constrained.
  public var pathLength: Int?

  /// Makes the extension's value.
  public init(isCA: Bool, pathLength: Int? = nil) {
    self.isCA = isCA
    self.pathLength = pathLength
  }

  /// A readable description, without secret material.
  public var description: String {
    "CA:\(isCA ? "TRUE" : "FALSE")" + (pathLength.map { ", pathlen:\($0)" } ?? "")
  }
}

/// The name constraints extension (RFC 5280 4.2.1.10).
public struct NameConstraints: Hashable, Sendable {
  /// Permitted subtrees.
  public var permitted: [GeneralName]
  /// Excluded subtrees.
  public var excluded: [GeneralName]

  /// Makes the extension's value.
  public init(permitted: [GeneralName] = [], excluded: [GeneralName] = []) {
    self.permitted = permitted
    self.excluded = excluded
  }
}

/// One access description of the authority (or subject) information access extension.
public struct AccessDescription: Hashable, Sendable, CustomStringConvertible {
  /// The access method, for example ``OID/ocsp`` or ``OID/caIssuers``.
  public var method: OID
  /// Where to go, usually a URI.
  public var location: GeneralName

  /// Makes an access description.
  public init(method: OID, location: GeneralName) {
    self.method = method
    self.location = location
  }

  /// A readable description, without secret material.
  public var description: String { "\(method) - \(location)" }
}

/// One distribution point of the CRL distribution points extension (RFC 5280 4.2.1.13).
public struct DistributionPoint: Hashable, Sendable {
  /// The full names where the CRL can be found (usually URIs).
  public var fullName: [GeneralName]
  /// The name relative to the CRL issuer, when the point uses that form instead.
  public var relativeName: [X509Name.Entry]
  /// The CRL issuer, when it is not the certificate's issuer.
  public var crlIssuer: [GeneralName]

  /// Makes a distribution point.
  public init(fullName: [GeneralName], relativeName: [X509Name.Entry] = [], crlIssuer: [GeneralName] = []) {
    self.fullName = fullName
    self.relativeName = relativeName
    self.crlIssuer = crlIssuer
  }
}

/// The authority key identifier extension (RFC 5280 4.2.1.1).
public struct AuthorityKeyIdentifier: Hashable, Sendable {
  /// The key identifier of the issuer's key.
  public var keyIdentifier: [UInt8]?
  /// The issuer's name(s), when given.
  public var issuer: [GeneralName]
  /// The issuer certificate's serial number, when given.
  public var serialNumber: SerialNumber?

  /// Makes the extension's value.
  public init(keyIdentifier: [UInt8]?, issuer: [GeneralName] = [], serialNumber: SerialNumber? = nil) {
    self.keyIdentifier = keyIdentifier
    self.issuer = issuer
    self.serialNumber = serialNumber
  }
}

/// The TLS feature extension (RFC 7633): the TLS extensions a certificate requires.
public struct TLSFeatures: Hashable, Sendable {
  /// The TLS extension numbers listed, for example 5 (`status_request`).
  public var features: [Int]

  /// Makes the extension's value from TLS extension numbers.
  public init(features: [Int]) {
    self.features = features
  }

  /// "Must staple": the `status_request` (5) feature is required.
  public var mustStaple: Bool { features.contains(5) }

  /// The must-staple feature set.
  public static let mustStaple = TLSFeatures(features: [5])
}

// MARK: - Decoding

/// Decodes typed extensions from a certificate, a CRL or a CRL entry.
@safe
struct ExtensionDecoder {
  /// The certificate, CRL or CRL entry, borrowed for the decoder's short life.
  let object: OpaquePointer
  /// `X509_get_ext_d2i`, `X509_CRL_get_ext_d2i` or `X509_REVOKED_get_ext_d2i`. The two closures
  /// capture nothing (the object is passed in), so making a decoder allocates nothing.
  let getD2I: (OpaquePointer, Int32, UnsafeMutablePointer<Int32>) -> UnsafeMutableRawPointer?
  /// What the extensions belong to, for error messages ("certificate CN=example.com"); made only
  /// when an error needs it (printing a name costs more than decoding most extensions).
  let owner: (OpaquePointer) -> String

  /// Decodes the extension `nid`, or returns `nil` if it is absent.
  ///
  /// - Throws: ``InputError`` with ``InputError/Reason/duplicateExtension`` if the extension
  ///   occurs twice, or ``InputError/Reason/malformed`` if OpenSSL cannot decode its value.
  func decode<T>(
    _ nid: Int32,
    _ read: (UnsafeMutableRawPointer) -> T,
    free: (UnsafeMutableRawPointer) -> Void
  ) throws(InputError) -> T? {
    try ErrorQueue.isolated { scope throws(InputError) -> T? in
      var critical: Int32 = 0
      guard let value = unsafe getD2I(object, nid, &critical) else {
        let name = unsafe String(cString: OBJ_nid2ln(nid))
        switch critical {
        case -1: return nil
        case -2:
          throw InputError(
            .duplicateExtension, object: "extension \(name)", source: unsafe owner(object),
            detail: "the \(name) extension occurs more than once (RFC 5280 allows one)")
        default:
          let error = scope.failure("X509V3_EXT_d2i")
          throw InputError(
            .malformed, object: "extension \(name)", source: unsafe owner(object),
            detail: "OpenSSL cannot decode the \(name) extension's value", openSSLError: error)
        }
      }
      defer { unsafe free(value) }
      return unsafe read(value)
    }
  }

  func subjectAlternativeNames(_ nid: Int32 = NID_subject_alt_name) throws(InputError) -> [GeneralName]? {
    unsafe try decode(
      nid, { unsafe GeneralName.list(OpaquePointer($0)) }, free: { unsafe GENERAL_NAMES_free(OpaquePointer($0)) })
  }

  func keyUsage() throws(InputError) -> KeyUsage? {
    unsafe try decode(
      NID_key_usage,
      { raw in
        var usage = KeyUsage()
        for bit in 0..<9 where unsafe oo_ASN1_BIT_STRING_get_bit(raw, Int32(bit)) == 1 {
          usage.insert(KeyUsage(rawValue: 1 << UInt16(bit)))
        }
        return usage
      }, free: { unsafe oo_ASN1_STRING_free($0) })
  }

  func extendedKeyUsage() throws(InputError) -> [OID]? {
    unsafe try decode(
      NID_ext_key_usage,
      { raw in
        let stack = OpaquePointer(raw)
        return unsafe stackValues(count: oo_sk_ASN1_OBJECT_num(stack)) {
          unsafe OID(object: oo_sk_ASN1_OBJECT_value(stack, $0))
        }
      }, free: { unsafe EXTENDED_KEY_USAGE_free(OpaquePointer($0)) })
  }

  func basicConstraints() throws(InputError) -> BasicConstraints? {
    unsafe try decode(
      NID_basic_constraints,
      { raw in
        let constraints = unsafe raw.assumingMemoryBound(to: BASIC_CONSTRAINTS.self).pointee
        let pathLength = unsafe constraints.pathlen.map { unsafe Int(ASN1_INTEGER_get($0)) }
        return unsafe BasicConstraints(isCA: constraints.ca != 0, pathLength: pathLength)
      }, free: { unsafe BASIC_CONSTRAINTS_free($0.assumingMemoryBound(to: BASIC_CONSTRAINTS.self)) })
  }

  func nameConstraints() throws(InputError) -> NameConstraints? {
    func subtrees(_ stack: OpaquePointer?) -> [GeneralName] {
      guard let stack = unsafe stack else { return [] }
      return unsafe stackValues(count: oo_sk_GENERAL_SUBTREE_num(stack)) { index in
        unsafe oo_sk_GENERAL_SUBTREE_value(stack, index)?.pointee.base.map { unsafe GeneralName(UnsafePointer($0)) }
      }
    }
    return unsafe try decode(
      NID_name_constraints,
      { raw in
        let constraints = unsafe raw.assumingMemoryBound(to: NAME_CONSTRAINTS.self).pointee
        return unsafe NameConstraints(
          permitted: subtrees(constraints.permittedSubtrees), excluded: subtrees(constraints.excludedSubtrees))
      }, free: { unsafe NAME_CONSTRAINTS_free($0.assumingMemoryBound(to: NAME_CONSTRAINTS.self)) })
  }

  func informationAccess(_ nid: Int32 = NID_info_access) throws(InputError) -> [AccessDescription]? {
    unsafe try decode(
      nid,
      { raw in
        let stack = OpaquePointer(raw)
        return unsafe stackValues(count: oo_sk_ACCESS_DESCRIPTION_num(stack)) { index in
          guard let description = unsafe oo_sk_ACCESS_DESCRIPTION_value(stack, index)?.pointee,
            let location = unsafe description.location
          else { return nil }
          return unsafe AccessDescription(
            method: OID(object: description.method), location: GeneralName(UnsafePointer(location)))
        }
      }, free: { unsafe AUTHORITY_INFO_ACCESS_free(OpaquePointer($0)) })
  }

  func crlDistributionPoints() throws(InputError) -> [DistributionPoint]? {
    unsafe try decode(
      NID_crl_distribution_points,
      { raw in
        let stack = OpaquePointer(raw)
        return unsafe stackValues(count: oo_sk_DIST_POINT_num(stack)) { index in
          guard let point = unsafe oo_sk_DIST_POINT_value(stack, index)?.pointee else { return nil }
          var fullName: [GeneralName] = []
          var relative: [X509Name.Entry] = []
          if let name = unsafe point.distpoint?.pointee {
            if unsafe name.type == 0 {
              fullName = unsafe GeneralName.list(name.name.fullname)
            } else if let rdn = unsafe name.name.relativename {
              relative = unsafe stackValues(count: OPENSSL_sk_num(rdn)) { entryIndex in
                guard let entry = unsafe OPENSSL_sk_value(rdn, entryIndex) else { return nil }
                let pointer = OpaquePointer(entry)
                return unsafe X509Name.Entry(
                  oid: OID(object: X509_NAME_ENTRY_get_object(pointer)),
                  value: ASN1.utf8(X509_NAME_ENTRY_get_data(pointer)))
              }
            }
          }
          return unsafe DistributionPoint(
            fullName: fullName, relativeName: relative, crlIssuer: GeneralName.list(point.CRLissuer))
        }
      }, free: { unsafe CRL_DIST_POINTS_free(OpaquePointer($0)) })
  }

  func subjectKeyIdentifier() throws(InputError) -> [UInt8]? {
    unsafe try decode(
      NID_subject_key_identifier,
      { unsafe ASN1.bytes($0) }, free: { unsafe oo_ASN1_STRING_free($0) })
  }

  func authorityKeyIdentifier() throws(InputError) -> AuthorityKeyIdentifier? {
    unsafe try decode(
      NID_authority_key_identifier,
      { raw in
        let identifier = unsafe raw.assumingMemoryBound(to: AUTHORITY_KEYID.self).pointee
        return unsafe AuthorityKeyIdentifier(
          keyIdentifier: identifier.keyid.map { unsafe ASN1.bytes($0) },
          issuer: unsafe GeneralName.list(identifier.issuer),
          serialNumber: unsafe identifier.serial.map { unsafe SerialNumber(integer: $0) })
      }, free: { unsafe AUTHORITY_KEYID_free($0.assumingMemoryBound(to: AUTHORITY_KEYID.self)) })
  }

  func tlsFeatures() throws(InputError) -> TLSFeatures? {
    unsafe try decode(
      NID_tlsfeature,
      { raw in
        let stack = OpaquePointer(raw)
        return unsafe TLSFeatures(
          features: stackValues(count: oo_sk_ASN1_INTEGER_num(stack)) {
            unsafe Int(ASN1_INTEGER_get(oo_sk_ASN1_INTEGER_value(stack, $0)))
          })
      }, free: { unsafe TLS_FEATURE_free(OpaquePointer($0)) })
  }

  func ocspNoCheck() throws(InputError) -> Bool {
    unsafe try decode(
      NID_id_pkix_OCSP_noCheck, { _ in true },
      free: { unsafe ASN1_NULL_free($0.assumingMemoryBound(to: ASN1_NULL.self)) })
      ?? false
  }
}

// MARK: - Encoding

/// Typed extensions encoded with `X509V3_EXT_i2d`, for the certificate and CRL builders.
enum ExtensionEncoder {
  /// Encodes an OpenSSL extension structure as a new `X509_EXTENSION` owned by the caller.
  static func make(_ nid: Int32, critical: Bool, _ value: UnsafeMutableRawPointer) throws(InputError) -> OpaquePointer {
    unsafe try ErrorQueue.isolated { scope throws(InputError) -> OpaquePointer in
      guard let ext = unsafe X509V3_EXT_i2d(nid, critical ? 1 : 0, value) else {
        let error = scope.failure("X509V3_EXT_i2d")
        let name = unsafe String(cString: OBJ_nid2ln(nid))
        throw InputError(
          .invalidArgument, object: "extension \(name)", source: "the builder",
          detail: "OpenSSL cannot encode this value", openSSLError: error)
      }
      return unsafe ext
    }
  }

  /// A raw extension from its identifier and DER value.
  static func make(_ ext: X509Extension) throws(InputError) -> OpaquePointer {
    guard let object = unsafe ext.oid.makeObject() else {
      throw InputError(
        .invalidArgument, object: "extension", source: "the builder", detail: "bad OID \(ext.oid.dotted)")
    }
    defer { unsafe ASN1_OBJECT_free(object) }
    guard let data: UnsafeMutableRawPointer = unsafe ASN1.makeOctetString(ext.value) else {
      throw InputError(.invalidArgument, object: "extension", source: "the builder", detail: "cannot hold the value")
    }
    defer { unsafe ASN1.free(data) }
    return unsafe try ErrorQueue.isolated { scope throws(InputError) -> OpaquePointer in
      guard
        let made = unsafe X509_EXTENSION_create_by_OBJ(
          nil, object, ext.isCritical ? 1 : 0, .init(asn1Address: data))
      else {
        throw InputError(
          .invalidArgument, object: "extension \(ext.oid)", source: "the builder",
          detail: "OpenSSL cannot make the extension", openSSLError: scope.failure("X509_EXTENSION_create_by_OBJ"))
      }
      return unsafe made
    }
  }

  static func generalNames(_ nid: Int32, _ names: [GeneralName], critical: Bool) throws(InputError) -> OpaquePointer {
    guard let stack = unsafe GeneralName.makeStack(names) else { throw invalid(nid, "a name cannot be encoded") }
    defer { unsafe GENERAL_NAMES_free(stack) }
    return unsafe try make(nid, critical: critical, UnsafeMutableRawPointer(stack))
  }

  static func keyUsage(_ usage: KeyUsage, critical: Bool) throws(InputError) -> OpaquePointer {
    guard let bits = unsafe ASN1_BIT_STRING_new() else { throw invalid(NID_key_usage, "out of memory") }
    defer { unsafe ASN1_BIT_STRING_free(bits) }
    for bit in 0..<9 where usage.contains(KeyUsage(rawValue: 1 << UInt16(bit))) {
      unsafe ASN1_BIT_STRING_set_bit(bits, Int32(bit), 1)
    }
    return unsafe try make(NID_key_usage, critical: critical, UnsafeMutableRawPointer(bits))
  }

  static func extendedKeyUsage(_ usages: [OID], critical: Bool) throws(InputError) -> OpaquePointer {
    guard let stack = unsafe oo_sk_ASN1_OBJECT_new_null() else { throw invalid(NID_ext_key_usage, "out of memory") }
    defer { unsafe oo_sk_ASN1_OBJECT_pop_free(stack) }
    for usage in usages {
      guard let object = unsafe usage.makeObject() else { throw invalid(NID_ext_key_usage, "bad OID \(usage.dotted)") }
      _ = unsafe oo_sk_ASN1_OBJECT_push(stack, object)
    }
    return unsafe try make(NID_ext_key_usage, critical: critical, UnsafeMutableRawPointer(stack))
  }

  static func basicConstraints(_ constraints: BasicConstraints, critical: Bool) throws(InputError) -> OpaquePointer {
    guard let value = unsafe BASIC_CONSTRAINTS_new() else { throw invalid(NID_basic_constraints, "out of memory") }
    defer { unsafe BASIC_CONSTRAINTS_free(value) }
    unsafe value.pointee.ca = constraints.isCA ? 0xFF : 0
    if let pathLength = constraints.pathLength {
      unsafe value.pointee.pathlen = unsafe ASN1_INTEGER_new()
      unsafe ASN1_INTEGER_set(value.pointee.pathlen, pathLength)
    }
    return unsafe try make(NID_basic_constraints, critical: critical, UnsafeMutableRawPointer(value))
  }

  static func nameConstraints(_ constraints: NameConstraints, critical: Bool) throws(InputError) -> OpaquePointer {
    guard let value = unsafe NAME_CONSTRAINTS_new() else { throw invalid(NID_name_constraints, "out of memory") }
    defer { unsafe NAME_CONSTRAINTS_free(value) }
    func subtrees(_ names: [GeneralName]) throws(InputError) -> OpaquePointer? {
      guard !names.isEmpty else { return nil }
      let stack = unsafe oo_sk_GENERAL_SUBTREE_new_null()!
      for name in names {
        guard let subtree = unsafe GENERAL_SUBTREE_new(), let base = unsafe name.makeGeneralName() else {
          unsafe oo_sk_GENERAL_SUBTREE_pop_free(stack)
          throw invalid(NID_name_constraints, "cannot encode \(name)")
        }
        unsafe GENERAL_NAME_free(subtree.pointee.base)
        unsafe subtree.pointee.base = unsafe base
        _ = unsafe oo_sk_GENERAL_SUBTREE_push(stack, subtree)
      }
      return unsafe stack
    }
    unsafe value.pointee.permittedSubtrees = unsafe try subtrees(constraints.permitted)
    unsafe value.pointee.excludedSubtrees = unsafe try subtrees(constraints.excluded)
    return unsafe try make(NID_name_constraints, critical: critical, UnsafeMutableRawPointer(value))
  }

  static func informationAccess(_ descriptions: [AccessDescription], critical: Bool) throws(InputError) -> OpaquePointer
  {
    let stack = unsafe oo_sk_ACCESS_DESCRIPTION_new_null()!
    defer { unsafe AUTHORITY_INFO_ACCESS_free(stack) }
    for description in descriptions {
      guard let entry = unsafe ACCESS_DESCRIPTION_new(), let method = unsafe description.method.makeObject(),
        let location = unsafe description.location.makeGeneralName()
      else { throw invalid(NID_info_access, "cannot encode \(description)") }
      unsafe ASN1_OBJECT_free(entry.pointee.method)
      unsafe GENERAL_NAME_free(entry.pointee.location)
      unsafe entry.pointee.method = unsafe method
      unsafe entry.pointee.location = unsafe location
      _ = unsafe oo_sk_ACCESS_DESCRIPTION_push(stack, entry)
    }
    return unsafe try make(NID_info_access, critical: critical, UnsafeMutableRawPointer(stack))
  }

  static func crlDistributionPoints(_ points: [DistributionPoint], critical: Bool) throws(InputError) -> OpaquePointer {
    let stack = unsafe oo_sk_DIST_POINT_new_null()!
    defer { unsafe CRL_DIST_POINTS_free(stack) }
    for point in points {
      guard let entry = unsafe DIST_POINT_new() else { throw invalid(NID_crl_distribution_points, "out of memory") }
      _ = unsafe oo_sk_DIST_POINT_push(stack, entry)
      if !point.fullName.isEmpty {
        guard let name = unsafe DIST_POINT_NAME_new(), let names = unsafe GeneralName.makeStack(point.fullName) else {
          throw invalid(NID_crl_distribution_points, "cannot encode \(point.fullName)")
        }
        unsafe name.pointee.type = 0
        unsafe name.pointee.name.fullname = unsafe names
        unsafe entry.pointee.distpoint = unsafe name
      }
      if !point.crlIssuer.isEmpty {
        guard let issuer = unsafe GeneralName.makeStack(point.crlIssuer) else {
          throw invalid(NID_crl_distribution_points, "cannot encode \(point.crlIssuer)")
        }
        unsafe entry.pointee.CRLissuer = unsafe issuer
      }
    }
    return unsafe try make(NID_crl_distribution_points, critical: critical, UnsafeMutableRawPointer(stack))
  }

  static func keyIdentifier(_ bytes: [UInt8], critical: Bool) throws(InputError) -> OpaquePointer {
    guard let value: UnsafeMutableRawPointer = unsafe ASN1.makeOctetString(bytes) else {
      throw invalid(NID_subject_key_identifier, "out of memory")
    }
    defer { unsafe ASN1.free(value) }
    return unsafe try make(NID_subject_key_identifier, critical: critical, value)
  }

  static func authorityKeyIdentifier(
    _ identifier: AuthorityKeyIdentifier, critical: Bool
  ) throws(InputError) -> OpaquePointer {
    guard let value = unsafe AUTHORITY_KEYID_new() else { throw invalid(NID_authority_key_identifier, "out of memory") }
    defer { unsafe AUTHORITY_KEYID_free(value) }
    if let keyIdentifier = identifier.keyIdentifier {
      unsafe value.pointee.keyid = unsafe ASN1.makeOctetString(keyIdentifier)
    }
    if !identifier.issuer.isEmpty { unsafe value.pointee.issuer = unsafe GeneralName.makeStack(identifier.issuer) }
    if let serial = identifier.serialNumber { unsafe value.pointee.serial = unsafe serial.makeInteger() }
    return unsafe try make(NID_authority_key_identifier, critical: critical, UnsafeMutableRawPointer(value))
  }

  static func tlsFeatures(_ features: TLSFeatures, critical: Bool) throws(InputError) -> OpaquePointer {
    let stack = unsafe oo_sk_ASN1_INTEGER_new_null()!
    defer { unsafe oo_sk_ASN1_INTEGER_pop_free(stack) }
    for feature in features.features {
      let integer = unsafe ASN1_INTEGER_new()!
      unsafe ASN1_INTEGER_set(integer, feature)
      _ = unsafe oo_sk_ASN1_INTEGER_push(stack, integer)
    }
    return unsafe try make(NID_tlsfeature, critical: critical, UnsafeMutableRawPointer(stack))
  }

  static func ocspNoCheck(critical: Bool) throws(InputError) -> OpaquePointer {
    let value = unsafe ASN1_NULL_new()!
    defer { unsafe ASN1_NULL_free(value) }
    return unsafe try make(NID_id_pkix_OCSP_noCheck, critical: critical, UnsafeMutableRawPointer(value))
  }

  private static func invalid(_ nid: Int32, _ detail: String) -> InputError {
    InputError(
      .invalidArgument, object: unsafe "extension \(String(cString: OBJ_nid2ln(nid)))", source: "the builder",
      detail: detail)
  }
}
