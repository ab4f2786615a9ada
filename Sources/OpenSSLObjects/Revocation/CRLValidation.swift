import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

extension X509CRL {
  /// Checks that this CRL may be used for certificates `issuer` issued (RFC 5280 6.3.3): issued by
  /// it (its name, and its key identifier when both carry one), signed with its key
  /// (`X509_CRL_verify`), by a key whose usage allows `cRLSign` when the issuer has a key usage,
  /// a complete CRL of the issuer's own (a delta CRL, an indirect CRL, a CRL for only some
  /// reasons or only attribute certificates, or a critical extension OpenSSL 3.0's rules do not
  /// cover, is refused), current (thisUpdate not in the future, nextUpdate not passed, each
  /// beyond the clock-skew allowance; without nextUpdate, thisUpdate within the maximum age).
  ///
  /// - Returns: until when the CRL may be relied on: nextUpdate, or thisUpdate plus the maximum
  ///   age when it has none.
  /// - Throws: ``OCSPError`` with ``OCSPError/Check/wrongIssuer``, ``OCSPError/Check/signature``,
  ///   ``OCSPError/Check/signerNotAuthorized``, ``OCSPError/Check/unsupportedCRL``,
  ///   ``OCSPError/Check/notYetValid``, ``OCSPError/Check/stale`` or ``OCSPError/Check/tooOld``.
  @discardableResult
  public func validate(
    issuer: X509Certificate, options: OCSPValidationOptions = OCSPValidationOptions()
  ) throws(OCSPError) -> Date? {
    let name = "the CRL of \"\(self.issuer.rfc2253.visibleEscapes)\""
    guard unsafe X509_NAME_cmp(X509_CRL_get_issuer(pointer), X509_get_subject_name(issuer.pointer)) == 0 else {
      throw OCSPError(
        .wrongIssuer,
        explanation: "The CRL was issued by \"\(self.issuer.rfc2253.visibleEscapes)\", not by the certificate's issuer "
          + "\"\(issuer.subject.rfc2253.visibleEscapes)\".")
    }
    if let crlKeyID = ((try? authorityKeyIdentifier) ?? nil)?.keyIdentifier,
      let issuerKeyID = (try? issuer.subjectKeyIdentifier) ?? nil, crlKeyID != issuerKeyID
    {
      throw OCSPError(
        .wrongIssuer,
        explanation: "\(name.capitalizedFirst) names the key \(crlKeyID.hexString), not the issuer's key "
          + "\(issuerKeyID.hexString).")
    }
    if let usage = (try? issuer.keyUsage) ?? nil, !usage.contains(.cRLSign) {
      throw OCSPError(
        .signerNotAuthorized,
        explanation: "The key usage of \"\(issuer.subject.rfc2253.visibleEscapes)\" (\(usage)) does not allow cRLSign.")
    }
    guard let key = try? issuer.publicKey, isSignatureValid(publicKey: key) else {
      throw OCSPError(
        .signature,
        explanation:
          "The signature on \(name) does not verify with the key of \"\(issuer.subject.rfc2253.visibleEscapes)\".")
    }
    try checkScope(name)
    return try checkTime(name, options)
  }

  /// Delta and partial CRLs are refused explicitly, and so are critical extensions nobody reads.
  private func checkScope(_ name: String) throws(OCSPError) {
    func unsupported(_ why: String) -> OCSPError {
      OCSPError(.unsupportedCRL, explanation: "\(name.capitalizedFirst) \(why).")
    }
    if unsafe X509_CRL_get_ext_by_NID(pointer, NID_delta_crl, -1) >= 0 {
      throw unsupported(
        "is a delta CRL (RFC 5280 5.2.4), which lists only the changes since a base CRL; delta CRLs are not used")
    }
    if let idp = issuingDistributionPoint {
      if idp.indirect { throw unsupported("is an indirect CRL (it lists certificates of other issuers)") }
      if idp.onlySomeReasons { throw unsupported("covers only some revocation reasons (onlySomeReasons)") }
      if idp.onlyAttributeCertificates { throw unsupported("covers only attribute certificates") }
    }
    let handled: Set<Int32> = [NID_issuing_distribution_point, NID_crl_number]
    for index in unsafe 0..<X509_CRL_get_ext_count(pointer) {
      guard let ext = unsafe X509_CRL_get_ext(pointer, index), unsafe X509_EXTENSION_get_critical(ext) != 0 else {
        continue
      }
      let nid = unsafe OBJ_obj2nid(X509_EXTENSION_get_object(ext))
      if !handled.contains(nid) {
        throw unsupported(
          "has a critical extension \(unsafe OID(object: X509_EXTENSION_get_object(ext))) that is not understood")
      }
    }
  }

  private func checkTime(_ name: String, _ options: OCSPValidationOptions) throws(OCSPError) -> Date? {
    let time = options.time ?? Date()
    let at = VerificationError.Facts.rfc3339(time)
    func failure(_ check: OCSPError.Check, _ text: String) -> OCSPError {
      OCSPError(check, explanation: text, thisUpdate: thisUpdate, nextUpdate: nextUpdate, time: time)
    }
    if thisUpdate.timeIntervalSince(time) > options.clockSkew {
      throw failure(
        .notYetValid,
        "\(name.capitalizedFirst) has thisUpdate \(VerificationError.Facts.rfc3339(thisUpdate)), "
          + "\(VerificationError.Facts.duration(thisUpdate.timeIntervalSince(time))) after the time \(at).")
    }
    if let nextUpdate {
      if time.timeIntervalSince(nextUpdate) > options.clockSkew {
        throw failure(
          .stale,
          "\(name.capitalizedFirst) is stale: its nextUpdate \(VerificationError.Facts.rfc3339(nextUpdate)) passed "
            + "\(VerificationError.Facts.duration(time.timeIntervalSince(nextUpdate))) before the time \(at).")
      }
      return nextUpdate
    }
    guard let maximumAge = options.maximumAge else { return nil }
    if time.timeIntervalSince(thisUpdate) > maximumAge + options.clockSkew {
      throw failure(
        .tooOld,
        "\(name.capitalizedFirst) has no nextUpdate and its thisUpdate \(VerificationError.Facts.rfc3339(thisUpdate)) "
          + "is older than the maximum age of \(VerificationError.Facts.duration(maximumAge)).")
    }
    return thisUpdate.addingTimeInterval(maximumAge)
  }

  /// Whether this (validated) CRL covers `certificate`: its issuing distribution point's scope
  /// (only user or only CA certificates) and, when both name URIs, the distribution point.
  func covers(_ certificate: X509Certificate) -> Bool {
    guard let idp = issuingDistributionPoint else { return true }
    let isCA = unsafe X509_check_ca(certificate.pointer) != 0
    if idp.onlyUserCertificates && isCA { return false }
    if idp.onlyCACertificates && !isCA { return false }
    let points = Set(CRLClient.distributionPointURLs(for: certificate))
    guard !idp.uris.isEmpty, !points.isEmpty else { return true }
    return !points.isDisjoint(with: idp.uris)
  }

  /// The authority key identifier of the CRL, if present.
  var authorityKeyIdentifier: AuthorityKeyIdentifier? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) in try extensionDecoder.authorityKeyIdentifier() }
    }
  }

  /// The issuing distribution point extension (RFC 5280 5.2.5), decoded, if present.
  var issuingDistributionPoint: IssuingDistributionPoint? {
    withExtendedLifetime(self) {
      ErrorQueue.isolated { _ -> IssuingDistributionPoint? in
        var critical: Int32 = 0
        guard let raw = unsafe X509_CRL_get_ext_d2i(pointer, NID_issuing_distribution_point, &critical, nil) else {
          // A malformed extension counts as present and unusable: a scope nobody can read.
          return critical == -1
            ? nil
            : IssuingDistributionPoint(
              uris: [], onlyUserCertificates: false, onlyCACertificates: false, onlySomeReasons: true, indirect: false,
              onlyAttributeCertificates: false)
        }
        let idp = unsafe raw.assumingMemoryBound(to: ISSUING_DIST_POINT.self)
        defer { unsafe ISSUING_DIST_POINT_free(idp) }
        let value = unsafe idp.pointee
        var uris: Set<String> = []
        if let point = unsafe value.distpoint?.pointee, unsafe point.type == 0 {
          for name in unsafe GeneralName.list(point.name.fullname) {
            if case .uri(let uri) = name { uris.insert(uri) }
          }
        }
        return unsafe IssuingDistributionPoint(
          uris: uris, onlyUserCertificates: value.onlyuser != 0, onlyCACertificates: value.onlyCA != 0,
          onlySomeReasons: value.onlysomereasons != nil, indirect: value.indirectCRL != 0,
          onlyAttributeCertificates: value.onlyattr != 0)
      }
    }
  }

  /// What the issuing distribution point says.
  struct IssuingDistributionPoint {
    let uris: Set<String>
    let onlyUserCertificates: Bool
    let onlyCACertificates: Bool
    let onlySomeReasons: Bool
    let indirect: Bool
    let onlyAttributeCertificates: Bool
  }
}

extension String {
  /// The text with its first character upper-cased, to start a sentence.
  var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}

extension VerificationError {
  /// A revocation check's failure for a verified chain, as the verification's error: a revoked
  /// certificate is `X509_V_ERR_CERT_REVOKED`, any other failure (no CRL or response could be had
  /// or used) `X509_V_ERR_UNABLE_TO_GET_CRL`, at the depth of the certificate concerned, with
  /// the revocation check's explanation (when and why it was revoked, or the sources tried).
  public init(revocationFailure failure: OCSPError, chain: [X509Certificate]) {
    let depth = min(max(failure.depth ?? 0, 0), max(chain.count - 1, 0))
    self.init(
      code: failure.check == .revoked ? .certificateRevoked : .unableToGetCRL, depth: depth,
      certificate: chain.isEmpty ? nil : chain[depth], chain: chain, rejectionReason: nil,
      explanation: failure.explanation)
  }
}
