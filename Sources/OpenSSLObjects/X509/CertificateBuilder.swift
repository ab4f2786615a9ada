import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// Builds and signs X.509 v3 certificates (`X509_new`, `X509_set_*`, `X509_add_ext`, `X509_sign`):
/// for test CAs, the demo, and users' own CAs.
///
/// Every extension ``X509Certificate`` reads can be set, typed; raw extensions go in as given
/// (so a test can make a DNS name with a NUL byte inside, or an extension that occurs twice).
///
/// ```swift
/// let rootKey = try PrivateKey(generating: .ec(.p256))
/// var root = CertificateBuilder(subject: try X509Name(["CN": "Test Root"]))
/// root.basicConstraints = BasicConstraints(isCA: true)
/// root.keyUsage = [.keyCertSign, .cRLSign]
/// let rootCertificate = try root.sign(with: rootKey)
/// ```
public struct CertificateBuilder: Sendable {
  /// How the subject key identifier is set.
  public enum KeyIdentifier: Sendable, Hashable {
    /// None.
    case none
    /// SHA-1 of the subject public key bits (RFC 5280 4.2.1.2 method 1).
    case hash
    /// These bytes.
    case explicit([UInt8])
  }

  /// How the authority key identifier is set.
  public enum AuthorityIdentifier: Sendable, Hashable {
    /// None.
    case none
    /// The issuer certificate's subject key identifier, or the hash of its key when it has none
    /// (for a self-signed certificate: the subject key identifier).
    case fromIssuer
    /// This value.
    case explicit(AuthorityKeyIdentifier)
  }

  /// The subject.
  public var subject: X509Name
  /// The issuer name; `nil` takes the issuer certificate's subject, or the subject when self-signed.
  public var issuer: X509Name?
  /// The serial number; random (159 bits) unless set.
  public var serialNumber: SerialNumber = .random()
  /// The start of validity; one minute ago unless set.
  public var notBefore: Date = Date(timeIntervalSinceNow: -60)
  /// The end of validity; 365 days from now unless set.
  public var notAfter: Date = Date(timeIntervalSinceNow: 365 * 86_400)
  /// The certified public key; `nil` takes the signing key's (a self-signed certificate).
  public var publicKey: PublicKey?
  /// The signature digest; `nil` takes SHA-256 for RSA and EC and none for EdDSA. SHA-1 and MD5
  /// are allowed, for tests of weak signatures.
  public var digest: Digest?
  /// The X.509 version, 1 to 3. Only version 3 carries extensions (RFC 5280 4.1.2.9): signing a
  /// version 1 or 2 certificate that would have any is refused, on every OpenSSL (3.0 would write
  /// it as asked, 3.2 and later's `X509_sign` turn it into version 3).
  public var version: Int = 3

  /// Subject alternative names.
  public var subjectAlternativeNames: [GeneralName]?
  /// Key usage (critical by default).
  public var keyUsage: KeyUsage?
  /// Extended key usage.
  public var extendedKeyUsage: [OID]?
  /// Basic constraints (critical by default).
  public var basicConstraints: BasicConstraints?
  /// Name constraints (critical by default).
  public var nameConstraints: NameConstraints?
  /// Authority information access (OCSP and CA-issuer URLs).
  public var authorityInformationAccess: [AccessDescription]?
  /// CRL distribution points.
  public var crlDistributionPoints: [DistributionPoint]?
  /// The subject key identifier; the key hash unless set.
  public var subjectKeyIdentifier: KeyIdentifier = .hash
  /// The authority key identifier; from the issuer unless set.
  public var authorityKeyIdentifier: AuthorityIdentifier = .fromIssuer
  /// The TLS feature extension (`TLSFeatures.mustStaple` for must-staple).
  public var tlsFeatures: TLSFeatures?
  /// Whether to add the OCSP no-check extension (for OCSP responder certificates).
  public var ocspNoCheck = false
  /// Extensions added as given, after the typed ones.
  public var rawExtensions: [X509Extension] = []
  /// Criticality overrides for typed extensions, by extension OID.
  public var criticality: [OID: Bool] = [:]

  /// Starts a builder for a certificate with this subject.
  public init(subject: X509Name) {
    self.subject = subject
  }

  /// Sets the OCSP responder and CA-issuer URLs (authority information access).
  public mutating func setAuthorityInformationAccess(ocsp: [String] = [], caIssuers: [String] = []) {
    authorityInformationAccess =
      ocsp.map { AccessDescription(method: .ocsp, location: .uri($0)) }
      + caIssuers.map { AccessDescription(method: .caIssuers, location: .uri($0)) }
  }

  /// Signs with `key` and returns the certificate (`X509_sign`).
  ///
  /// - Parameters:
  ///   - key: the issuer's private key (the subject's own key for a self-signed certificate).
  ///   - issuerCertificate: the issuer's certificate; `nil` for self-signed. Its subject becomes
  ///     the issuer name and its key identifier the authority key identifier.
  /// - Throws: ``InputError`` if a value cannot be encoded, a version 1 or 2 certificate would
  ///   carry extensions, or OpenSSL cannot sign.
  public func sign(with key: PrivateKey, issuerCertificate: X509Certificate? = nil) throws -> X509Certificate {
    let certificate = unsafe X509Certificate(takingOwnershipOf: OpenSSLPointer(X509_new()!))
    let x509 = unsafe certificate.pointer
    let subjectKey = try publicKey ?? key.publicKey
    try Self.check("X509_set_version") { unsafe X509_set_version(x509, Int(version - 1)) }
    guard let serial: UnsafeMutableRawPointer = unsafe serialNumber.makeInteger() else {
      throw Self.invalid("serial number", "cannot encode")
    }
    defer { unsafe ASN1.free(serial) }
    try Self.check("X509_set_serialNumber") { unsafe X509_set_serialNumber(x509, .init(asn1Address: serial)) }
    try Self.check("X509_set_subject_name") { unsafe X509_set_subject_name(x509, subject.pointer) }
    let issuerName = issuer ?? issuerCertificate?.subject ?? subject
    try Self.check("X509_set_issuer_name") { unsafe X509_set_issuer_name(x509, issuerName.pointer) }
    unsafe try Self.setTime(notBefore, "notBefore") { unsafe X509_set1_notBefore(x509, .init(asn1Address: $0)) }
    unsafe try Self.setTime(notAfter, "notAfter") { unsafe X509_set1_notAfter(x509, .init(asn1Address: $0)) }
    try Self.check("X509_set_pubkey") { unsafe X509_set_pubkey(x509, subjectKey.pointer) }

    let extensions = unsafe try extensions(certificate: x509, issuerCertificate: issuerCertificate)
    defer { unsafe extensions.forEach { unsafe X509_EXTENSION_free($0) } }
    let extensionCount = unsafe extensions.count
    if version < 3 && extensionCount > 0 {
      throw Self.invalid(
        "version",
        "a version \(version) certificate cannot carry extensions (RFC 5280 4.1.2.9), and this one would have "
          + "\(extensionCount); set version 3, or leave out every extension (the key identifiers too)")
    }
    for index in unsafe extensions.indices {
      try Self.check("X509_add_ext") { unsafe X509_add_ext(x509, extensions[index], -1) }
    }

    let md = unsafe try SignatureOperation.digestAlgorithm(digest, for: key.algorithm, object: "certificate signature")
    try ErrorQueue.isolated { scope throws(InputError) in
      guard unsafe X509_sign(x509, key.pointer, md) > 0 else {
        let error = scope.failure("X509_sign")
        throw InputError(
          .invalidArgument, object: "certificate signature", source: "the builder",
          detail: "OpenSSL could not sign with this \(key.algorithm) key and digest", openSSLError: error)
      }
    }
    return certificate
  }

  private func critical(_ nid: Int32, default value: Bool) -> Bool {
    unsafe criticality[OID(String(cString: OBJ_nid2sn(nid)))] ?? value
  }

  private func extensions(
    certificate x509: OpaquePointer, issuerCertificate: X509Certificate?
  ) throws -> [OpaquePointer] {
    var made: [OpaquePointer] = unsafe []
    do {
      if let names = subjectAlternativeNames {
        unsafe made.append(
          try ExtensionEncoder.generalNames(
            NID_subject_alt_name, names, critical: critical(NID_subject_alt_name, default: false)))
      }
      if let usage = keyUsage {
        unsafe made.append(try ExtensionEncoder.keyUsage(usage, critical: critical(NID_key_usage, default: true)))
      }
      if let usages = extendedKeyUsage {
        unsafe made.append(
          try ExtensionEncoder.extendedKeyUsage(usages, critical: critical(NID_ext_key_usage, default: false)))
      }
      if let constraints = basicConstraints {
        unsafe made.append(
          try ExtensionEncoder.basicConstraints(constraints, critical: critical(NID_basic_constraints, default: true)))
      }
      if let constraints = nameConstraints {
        unsafe made.append(
          try ExtensionEncoder.nameConstraints(constraints, critical: critical(NID_name_constraints, default: true)))
      }
      if let access = authorityInformationAccess {
        unsafe made.append(
          try ExtensionEncoder.informationAccess(access, critical: critical(NID_info_access, default: false)))
      }
      if let points = crlDistributionPoints {
        unsafe made.append(
          try ExtensionEncoder.crlDistributionPoints(
            points, critical: critical(NID_crl_distribution_points, default: false)))
      }
      let ownKeyIdentifier = unsafe Self.keyHash(x509)
      switch subjectKeyIdentifier {
      case .none: break
      case .hash:
        unsafe made.append(
          try ExtensionEncoder.keyIdentifier(
            ownKeyIdentifier, critical: critical(NID_subject_key_identifier, default: false)))
      case .explicit(let bytes):
        unsafe made.append(
          try ExtensionEncoder.keyIdentifier(bytes, critical: critical(NID_subject_key_identifier, default: false)))
      }
      switch authorityKeyIdentifier {
      case .none: break
      case .fromIssuer:
        let identifier: [UInt8]
        if let issuerCertificate {
          identifier = unsafe try issuerCertificate.subjectKeyIdentifier ?? Self.keyHash(issuerCertificate.pointer)
        } else if case .explicit(let bytes) = subjectKeyIdentifier {
          identifier = bytes
        } else {
          identifier = ownKeyIdentifier
        }
        unsafe made.append(
          try ExtensionEncoder.authorityKeyIdentifier(
            AuthorityKeyIdentifier(keyIdentifier: identifier),
            critical: critical(NID_authority_key_identifier, default: false)))
      case .explicit(let value):
        unsafe made.append(
          try ExtensionEncoder.authorityKeyIdentifier(
            value, critical: critical(NID_authority_key_identifier, default: false)))
      }
      if let features = tlsFeatures {
        unsafe made.append(
          try ExtensionEncoder.tlsFeatures(features, critical: critical(NID_tlsfeature, default: false)))
      }
      if ocspNoCheck {
        unsafe made.append(
          try ExtensionEncoder.ocspNoCheck(critical: critical(NID_id_pkix_OCSP_noCheck, default: false)))
      }
      for raw in rawExtensions {
        unsafe made.append(try ExtensionEncoder.make(raw))
      }
    } catch {
      unsafe made.forEach { unsafe X509_EXTENSION_free($0) }
      throw error
    }
    return unsafe made
  }

  /// SHA-1 of a certificate's public key bits (`X509_pubkey_digest`).
  static func keyHash(_ x509: OpaquePointer) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    guard let sha1 = unsafe Digest.sha1.md,
      ErrorQueue.isolated({ _ in unsafe X509_pubkey_digest(x509, sha1, &output, &length) }) == 1
    else { return [] }
    return Array(output[0..<Int(length)])
  }

  static func check(_ operation: String, _ body: () -> Int32) throws(InputError) {
    try InputError.converting("certificate", reason: .invalidArgument, source: "the builder") {
      () throws(OpenSSLError) in
      try ErrorQueue.check(operation, body)
    }
  }

  static func setTime(
    _ date: Date, _ field: String, _ set: (UnsafeMutableRawPointer) -> Int32
  ) throws(InputError) {
    guard let time: UnsafeMutableRawPointer = unsafe ASN1.makeTime(date) else {
      throw invalid(field, "cannot encode \(date)")
    }
    defer { unsafe ASN1.free(time) }
    try check("X509_set1_\(field)") { unsafe set(time) }
  }

  static func invalid(_ what: String, _ detail: String) -> InputError {
    InputError(.invalidArgument, object: what, source: "the builder", detail: detail)
  }
}
