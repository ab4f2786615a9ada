import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// An X.509 certificate (`X509`).
///
/// Owns exactly one reference to its `X509`, dropped with `X509_free` in `deinit`. The doors:
/// ``init(takingOwnershipOf:)`` (adopt), ``OpenSSLObject/withUnsafePointer(_:)`` (borrow),
/// ``OpenSSLReferenceCounted/init(retaining:)`` (retain, `X509_up_ref`) and
/// ``OpenSSLReferenceCounted/retainedPointer()`` (hand over).
///
/// A certificate is immutable once made (changing trust settings makes a new one), so it is
/// `Sendable`: OpenSSL's own lazy caches inside `X509` are lock-protected.
public final class X509Certificate: OpenSSLObjectBase, OpenSSLReferenceCounted, PEMDERDecodable, @unchecked Sendable {
  override package class var cType: CObjectType { .x509 }

  // MARK: - Loading

  /// The PEM labels a certificate may carry.
  public static let pemLabels = ObjectKind.certificate.pemLabels

  /// How certificates are read: `d2i_X509`, and `d2i_X509_AUX` for `TRUSTED CERTIFICATE` blocks,
  /// whose trust settings are kept.
  public static let decodingRules = unsafe ObjectDecoder(
    object: "certificate", labels: pemLabels,
    d2i: { label in
      label == "TRUSTED CERTIFICATE" ? { unsafe d2i_X509_AUX($0, $1, $2) } : { unsafe d2i_X509($0, $1, $2) }
    },
    operation: { label in label == "TRUSTED CERTIFICATE" ? "d2i_X509_AUX" : "d2i_X509" },
    free: { unsafe X509_free($0) })

  // MARK: - Encoding

  /// The DER encoding (`i2d_X509`), without trust settings.
  public var derEncoded: [UInt8] {
    // i2d_X509 cannot fail for a certificate that was decoded or signed.
    unsafe (try? DER.encode("i2d_X509") { unsafe i2d_X509(pointer, $0) }) ?? []
  }

  /// The PEM encoding (`PEM_write_bio_X509`), labelled `CERTIFICATE`.
  public var pemEncoded: String {
    unsafe (try? PEM.write("PEM_write_bio_X509") { unsafe PEM_write_bio_X509($0, pointer) }) ?? ""
  }

  /// The PEM encoding with trust settings (`PEM_write_bio_X509_AUX`), labelled `TRUSTED CERTIFICATE`.
  public var trustedPEMEncoded: String {
    unsafe (try? PEM.write("PEM_write_bio_X509_AUX") { unsafe PEM_write_bio_X509_AUX($0, pointer) }) ?? ""
  }

  // MARK: - Fields

  /// The X.509 version: 1, 2 or 3 (`X509_get_version` + 1).
  public var version: Int { unsafe Int(X509_get_version(pointer)) + 1 }

  /// The serial number (`X509_get0_serialNumber`).
  public var serialNumber: SerialNumber { unsafe SerialNumber(integer: X509_get0_serialNumber(pointer)) }

  /// The subject name, a copy this certificate does not own (`X509_get_subject_name`, `X509_NAME_dup`).
  public var subject: X509Name { unsafe X509Name(copyingBorrowed: X509_get_subject_name(pointer)) }

  /// The issuer name, a copy (`X509_get_issuer_name`, `X509_NAME_dup`).
  public var issuer: X509Name { unsafe X509Name(copyingBorrowed: X509_get_issuer_name(pointer)) }

  /// The start of the validity period (`X509_get0_notBefore`).
  public var notBefore: Date { unsafe ASN1.date(X509_get0_notBefore(pointer)) ?? Date(timeIntervalSince1970: 0) }

  /// The end of the validity period (`X509_get0_notAfter`).
  public var notAfter: Date { unsafe ASN1.date(X509_get0_notAfter(pointer)) ?? Date(timeIntervalSince1970: 0) }

  /// The signature algorithm (`X509_get0_signature`), for example `sha256WithRSAEncryption`.
  public var signatureAlgorithm: OID {
    var algorithm: UnsafePointer<X509_ALGOR>? = nil
    unsafe X509_get0_signature(nil, &algorithm, pointer)
    var object: OpaquePointer? = nil
    unsafe X509_ALGOR_get0(&object, nil, nil, algorithm)
    return unsafe object.map { unsafe OID(object: $0) } ?? OID("0.0")
  }

  /// What the signature is made of and how strong it is (`X509_get_signature_info`).
  public struct SignatureInfo: Hashable, Sendable {
    /// The digest, for example `SHA256` (`nil` for EdDSA, which has none).
    public let digest: String?
    /// The public-key algorithm, for example `rsaEncryption`.
    public let publicKeyAlgorithm: String?
    /// Security bits of the signature (limited by the digest's collision resistance).
    public let securityBits: Int
  }

  /// The signature's digest, key algorithm and security bits (`X509_get_signature_info`).
  public var signatureInfo: SignatureInfo {
    var mdNID: Int32 = 0
    var pkNID: Int32 = 0
    var securityBits: Int32 = 0
    var flags: UInt32 = 0
    _ = ErrorQueue.isolated { _ in unsafe X509_get_signature_info(pointer, &mdNID, &pkNID, &securityBits, &flags) }
    func name(_ nid: Int32) -> String? {
      guard nid != NID_undef, let text = unsafe OBJ_nid2sn(nid) else { return nil }
      return unsafe String(cString: text)
    }
    return SignatureInfo(digest: name(mdNID), publicKeyAlgorithm: name(pkNID), securityBits: Int(securityBits))
  }

  /// The subject's public key (`X509_get_pubkey`, which returns a new reference).
  public var publicKey: PublicKey {
    get throws(OpenSSLError) {
      unsafe PublicKey(
        takingOwnershipOf: OpenSSLPointer(try ErrorQueue.call("X509_get_pubkey") { unsafe X509_get_pubkey(pointer) }))
    }
  }

  /// Whether the certificate is self-issued: its issuer is its subject and, when both key
  /// identifiers are present, they match (`X509_check_issued` on itself).
  public var isSelfIssued: Bool {
    ErrorQueue.isolated { _ in unsafe X509_check_issued(pointer, pointer) == X509_V_OK }
  }

  // MARK: - Extensions

  /// Every extension as stored, in order (`X509_get_ext`).
  public var extensions: [X509Extension] {
    unsafe (0..<X509_get_ext_count(pointer)).compactMap { index in
      unsafe X509_get_ext(pointer, index).map(X509Extension.init)
    }
  }

  var extensionDecoder: ExtensionDecoder {
    unsafe ExtensionDecoder(
      object: pointer,
      getD2I: { x509, nid, critical in unsafe X509_get_ext_d2i(x509, nid, critical, nil) },
      owner: { x509 in unsafe "certificate \(X509Name(copyingBorrowed: X509_get_subject_name(x509)).rfc2253)" })
  }

  /// Subject alternative names, or `nil` without the extension.
  ///
  /// - Throws: ``InputError`` if the extension occurs twice or cannot be decoded.
  public var subjectAlternativeNames: [GeneralName]? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.subjectAlternativeNames() }
    }
  }

  /// Issuer alternative names, or `nil` without the extension.
  public var issuerAlternativeNames: [GeneralName]? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in
        try extensionDecoder.subjectAlternativeNames(NID_issuer_alt_name)
      }
    }
  }

  /// Key usage, or `nil` without the extension.
  public var keyUsage: KeyUsage? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.keyUsage() }
    }
  }

  /// Extended key usages, or `nil` without the extension.
  public var extendedKeyUsage: [OID]? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.extendedKeyUsage() }
    }
  }

  /// Basic constraints, or `nil` without the extension.
  public var basicConstraints: BasicConstraints? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.basicConstraints() }
    }
  }

  /// Name constraints, or `nil` without the extension.
  public var nameConstraints: NameConstraints? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.nameConstraints() }
    }
  }

  /// Authority information access, or `nil` without the extension.
  public var authorityInformationAccess: [AccessDescription]? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.informationAccess() }
    }
  }

  /// The OCSP responder URLs of the authority information access extension.
  public var ocspURLs: [String] {
    get throws(InputError) { Self.uris(try authorityInformationAccess, method: .ocsp) }
  }

  /// The CA-issuer URLs of the authority information access extension.
  public var caIssuerURLs: [String] {
    get throws(InputError) { Self.uris(try authorityInformationAccess, method: .caIssuers) }
  }

  /// CRL distribution points, or `nil` without the extension.
  public var crlDistributionPoints: [DistributionPoint]? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.crlDistributionPoints() }
    }
  }

  /// The subject key identifier, or `nil` without the extension.
  public var subjectKeyIdentifier: [UInt8]? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.subjectKeyIdentifier() }
    }
  }

  /// The authority key identifier, or `nil` without the extension.
  public var authorityKeyIdentifier: AuthorityKeyIdentifier? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.authorityKeyIdentifier() }
    }
  }

  /// The TLS feature extension (RFC 7633), or `nil` without it.
  public var tlsFeatures: TLSFeatures? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.tlsFeatures() }
    }
  }

  /// Whether the certificate requires a stapled OCSP response (TLS feature `status_request`).
  public var mustStaple: Bool {
    get throws(InputError) { try tlsFeatures?.mustStaple ?? false }
  }

  /// Whether the OCSP no-check extension is present (an OCSP responder certificate that need not
  /// be checked for revocation).
  public var ocspNoCheck: Bool {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.ocspNoCheck() }
    }
  }

  private static func uris(_ descriptions: [AccessDescription]?, method: OID) -> [String] {
    (descriptions ?? []).compactMap { description in
      guard description.method == method, case .uri(let uri) = description.location else { return nil }
      return uri
    }
  }

  // MARK: - Fingerprints and pins

  /// The fingerprint: a digest of the DER encoding (`X509_digest`).
  public func fingerprint(_ digest: Digest = .sha256) throws(InputError) -> [UInt8] {
    let md = unsafe try digest.algorithm(for: "fingerprint")
    var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    let ok = ErrorQueue.isolated { _ in unsafe X509_digest(pointer, md, &output, &length) }
    guard ok == 1 else {
      throw InputError(
        .unsupported, object: "fingerprint", source: "certificate", detail: "X509_digest failed with \(digest)")
    }
    return Array(output[0..<Int(length)])
  }

  /// The SHA-256 fingerprint, upper-case hex with colons, as `openssl x509 -fingerprint -sha256` prints it.
  public var sha256Fingerprint: String { ((try? fingerprint(.sha256)) ?? []).colonHexString }

  /// The DER SubjectPublicKeyInfo (`i2d_X509_PUBKEY` of `X509_get_X509_PUBKEY`).
  public var subjectPublicKeyInfo: [UInt8] {
    unsafe (try? DER.encode("i2d_X509_PUBKEY") { unsafe i2d_X509_PUBKEY(X509_get_X509_PUBKEY(pointer), $0) }) ?? []
  }

  /// The SPKI pin: `sha256/` and the base64 of SHA-256 over the DER SubjectPublicKeyInfo
  /// (the HPKP `pin-sha256` form, RFC 7469).
  public var spkiPin: String { SPKIPin.pin(subjectPublicKeyInfo: subjectPublicKeyInfo) }

  // MARK: - Identity checks

  /// Checks done by OpenSSL's `X509_check_host`, `X509_check_ip_asc` and `X509_check_email`.
  public struct CheckFlags: OptionSet, Hashable, Sendable {
    /// The bit mask.
    public let rawValue: UInt32
    /// Makes flags from OpenSSL's `X509_CHECK_FLAG_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Check the subject's CN even when subject alternative names exist.
    public static let alwaysCheckSubject = CheckFlags(rawValue: UInt32(X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT))
    /// Never fall back to the subject's CN (part of ``default``, as in browsers and Python's `ssl`
    /// since 3.7: RFC 6125 and the CA/Browser Forum deprecated the CN for host names).
    public static let neverCheckSubject = CheckFlags(rawValue: UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
    /// No wildcards at all.
    public static let noWildcards = CheckFlags(rawValue: UInt32(X509_CHECK_FLAG_NO_WILDCARDS))
    /// No partial wildcards such as `www*.example.com` (our default).
    public static let noPartialWildcards = CheckFlags(rawValue: UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
    /// Wildcards may match more than one label.
    public static let multiLabelWildcards = CheckFlags(rawValue: UInt32(X509_CHECK_FLAG_MULTI_LABEL_WILDCARDS))
    /// A name with a leading dot matches any subdomain.
    public static let singleLabelSubdomains = CheckFlags(rawValue: UInt32(X509_CHECK_FLAG_SINGLE_LABEL_SUBDOMAINS))

    /// The default: no partial wildcards, and no fallback to the subject's CN when a certificate has
    /// no DNS subject alternative name.
    public static let `default`: CheckFlags = [.noPartialWildcards, .neverCheckSubject]
  }

  /// Whether the certificate is valid for the DNS name `host` (`X509_check_host`).
  ///
  /// - Throws: ``InputError`` if `host` is not a usable name (OpenSSL returns -2, for example for
  ///   an embedded NUL byte).
  public func matchesHost(_ host: String, flags: CheckFlags = .default) throws(InputError) -> Bool {
    let bytes = Array(host.utf8)
    return try identityCheck("host name", host) {
      unsafe bytes.withUnsafeBufferPointer { buffer in
        unsafe buffer.withMemoryRebound(to: CChar.self) {
          unsafe X509_check_host(pointer, $0.baseAddress, $0.count, flags.rawValue, nil)
        }
      }
    }
  }

  /// Whether the certificate is valid for the IP address `address` in text (`X509_check_ip_asc`).
  public func matchesIPAddress(_ address: String, flags: CheckFlags = .default) throws(InputError) -> Bool {
    try identityCheck("IP address", address) { unsafe X509_check_ip_asc(pointer, address, flags.rawValue) }
  }

  /// Whether the certificate is valid for the e-mail address `address` (`X509_check_email`).
  public func matchesEmail(_ address: String, flags: CheckFlags = .default) throws(InputError) -> Bool {
    let bytes = Array(address.utf8)
    return try identityCheck("e-mail address", address) {
      unsafe bytes.withUnsafeBufferPointer { buffer in
        unsafe buffer.withMemoryRebound(to: CChar.self) {
          unsafe X509_check_email(pointer, $0.baseAddress, $0.count, flags.rawValue)
        }
      }
    }
  }

  private func identityCheck(_ what: String, _ value: String, _ check: () -> Int32) throws(InputError) -> Bool {
    let (status, error) = ErrorQueue.isolated { scope -> (Int32, OpenSSLError?) in
      let status = check()
      return (status, status < 0 ? scope.failure("X509_check_*") : nil)
    }
    switch status {
    case 1: return true
    case 0: return false
    default:
      throw InputError(
        .invalidArgument, object: what, source: "\"\(value.visibleEscapes)\"",
        detail: status == -2 ? "OpenSSL cannot use it as \(what.withArticle) (malformed input)" : "internal error",
        openSSLError: error)
    }
  }

  // MARK: - Trust settings (X509_CERT_AUX)

  /// The trust settings a `TRUSTED CERTIFICATE` carries: the purposes the certificate is trusted
  /// for and rejected for as an anchor, and its alias (`X509_get0_trust_objects`,
  /// `X509_get0_reject_objects`, `X509_alias_get0`).
  public struct TrustSettings: Hashable, Sendable {
    /// Purposes (extended key usage identifiers) the certificate is trusted for.
    public var trusted: [OID]
    /// Purposes it is explicitly rejected for.
    public var rejected: [OID]
    /// The friendly name, if any.
    public var alias: String?

    /// Makes trust settings.
    public init(trusted: [OID] = [], rejected: [OID] = [], alias: String? = nil) {
      self.trusted = trusted
      self.rejected = rejected
      self.alias = alias
    }

    /// Whether any setting is present.
    public var isEmpty: Bool { trusted.isEmpty && rejected.isEmpty && alias == nil }
  }

  /// This certificate's trust settings (empty for a plain `CERTIFICATE`).
  public var trustSettings: TrustSettings {
    func list(_ stack: OpaquePointer?) -> [OID] {
      guard let stack = unsafe stack else { return [] }
      return unsafe (0..<oo_sk_ASN1_OBJECT_num(stack)).map { unsafe OID(object: oo_sk_ASN1_OBJECT_value(stack, $0)) }
    }
    var length: Int32 = 0
    let alias = unsafe X509_alias_get0(pointer, &length).map {
      unsafe String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self)
    }
    return unsafe TrustSettings(
      trusted: list(X509_get0_trust_objects(pointer)), rejected: list(X509_get0_reject_objects(pointer)), alias: alias
    )
  }

  /// A copy of this certificate with other trust settings (`X509_trust_clear`,
  /// `X509_add1_trust_object`, `X509_reject_clear`, `X509_add1_reject_object`, `X509_alias_set1`).
  /// The certificate itself is immutable and keeps its settings.
  public func withTrustSettings(_ settings: TrustSettings) throws(InputError) -> X509Certificate {
    // X509_dup does not copy the auxiliary trust data, so copy through the AUX encoding.
    let aux = try InputError.converting("certificate") { () throws(OpenSSLError) in
      unsafe try DER.encode("i2d_X509_AUX") { unsafe i2d_X509_AUX(pointer, $0) }
    }
    let copy = unsafe try withContiguousBytes(aux) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try DER.decode(
        buffer, object: "certificate", source: .named("this certificate"), operation: "d2i_X509_AUX",
        d2i: { unsafe d2i_X509_AUX($0, $1, $2) }, free: { unsafe X509_free($0) })
    }
    let certificate = unsafe X509Certificate(takingOwnershipOf: OpenSSLPointer(copy))
    unsafe X509_trust_clear(copy)
    unsafe X509_reject_clear(copy)
    let lists = unsafe [
      (settings.trusted, X509_add1_trust_object), (settings.rejected, X509_add1_reject_object),
    ]
    for index in unsafe lists.indices {
      let (oids, add) = unsafe lists[index]
      for oid in oids {
        guard let object = unsafe oid.makeObject() else {
          throw InputError(.invalidArgument, object: "trust setting", source: oid.dotted, detail: "not an OID")
        }
        defer { unsafe ASN1_OBJECT_free(object) }
        _ = unsafe add(copy, object)
      }
    }
    let alias = settings.alias.map { Array($0.utf8) }
    _ = unsafe X509_alias_set1(copy, alias, alias.map { Int32($0.count) } ?? -1)
    return certificate
  }
}

// MARK: - Equality and hashing

extension X509Certificate: Equatable, Hashable, CustomStringConvertible {
  /// Certificates are equal when OpenSSL says so (`X509_cmp`: same DER encoding).
  public static func == (lhs: X509Certificate, rhs: X509Certificate) -> Bool {
    // X509_cmp first caches each certificate's extensions, which queues an error for one whose
    // extensions do not decode: that error is not the caller's to see.
    unsafe lhs.pointer == rhs.pointer || ErrorQueue.isolated { _ in unsafe X509_cmp(lhs.pointer, rhs.pointer) } == 0
  }

  /// Hashes the SHA-1 fingerprint OpenSSL caches inside the certificate.
  public func hash(into hasher: inout Hasher) {
    hasher.combine((try? fingerprint(.sha1)) ?? [])
  }

  /// A readable description, without secret material.
  public var description: String {
    "X509Certificate(subject: \(subject.rfc2253), issuer: \(issuer.rfc2253), serial: \(serialNumber.hex))"
  }
}
