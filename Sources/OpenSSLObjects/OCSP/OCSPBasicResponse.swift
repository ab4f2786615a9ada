import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// A certificate's status in a single response (RFC 6960 `CertStatus`).
public enum OCSPCertificateStatus: Sendable, Hashable, CustomStringConvertible {
  /// Not revoked (`V_OCSP_CERTSTATUS_GOOD`).
  case good
  /// Revoked at `time`, for `reason` when the response says (`V_OCSP_CERTSTATUS_REVOKED`).
  case revoked(time: Date, reason: RevocationReason?)
  /// The responder does not know the certificate (`V_OCSP_CERTSTATUS_UNKNOWN`).
  case unknown

  /// `good`, `revoked` or `unknown`, as the CLI prints it.
  public var description: String {
    switch self {
    case .good: "good"
    case .revoked: "revoked"
    case .unknown: "unknown"
    }
  }
}

/// One single response of a basic response (`OCSP_SINGLERESP`), read into a value.
public struct OCSPSingleResponse: Sendable {
  /// The certificate it is about (a copy).
  public let id: OCSPCertID
  /// The status.
  public let status: OCSPCertificateStatus
  /// When the status was known to be correct.
  public let thisUpdate: Date
  /// When newer information will be available; a response without it is otherwise valid
  /// forever, which is why ``OCSPValidationOptions/maximumAge`` applies by default.
  public let nextUpdate: Date?

  /// Checks thisUpdate and nextUpdate against the options' time (now by default), with the
  /// clock-skew allowance and the maximum age.
  ///
  /// - Throws: ``OCSPError`` with ``OCSPError/Check/notYetValid``, ``OCSPError/Check/stale`` or
  ///   ``OCSPError/Check/tooOld``, with the dates.
  public func checkTime(_ options: OCSPValidationOptions = OCSPValidationOptions()) throws(OCSPError) {
    let time = options.time ?? Date()
    func failure(_ check: OCSPError.Check, _ text: String) -> OCSPError {
      OCSPError(check, explanation: text, thisUpdate: thisUpdate, nextUpdate: nextUpdate, time: time)
    }
    let at = VerificationError.Facts.rfc3339(time)
    if thisUpdate.timeIntervalSince(time) > options.clockSkew {
      throw failure(
        .notYetValid,
        "The response's thisUpdate \(VerificationError.Facts.rfc3339(thisUpdate)) is "
          + "\(VerificationError.Facts.duration(thisUpdate.timeIntervalSince(time))) after the time \(at), "
          + "beyond the clock-skew allowance of \(VerificationError.Facts.duration(options.clockSkew)).")
    }
    if let nextUpdate, time.timeIntervalSince(nextUpdate) > options.clockSkew {
      throw failure(
        .stale,
        "The response is stale: its nextUpdate \(VerificationError.Facts.rfc3339(nextUpdate)) passed "
          + "\(VerificationError.Facts.duration(time.timeIntervalSince(nextUpdate))) before the time \(at) "
          + "(thisUpdate \(VerificationError.Facts.rfc3339(thisUpdate))).")
    }
    if let maximumAge = options.maximumAge, time.timeIntervalSince(thisUpdate) > maximumAge + options.clockSkew {
      throw failure(
        .tooOld,
        "The response's thisUpdate \(VerificationError.Facts.rfc3339(thisUpdate)) is "
          + "\(VerificationError.Facts.duration(time.timeIntervalSince(thisUpdate))) before the time \(at), "
          + "older than the maximum age of \(VerificationError.Facts.duration(maximumAge)).")
    }
  }

  /// Fails for a revoked or unknown status, then checks the times (``checkTime(_:)``).
  ///
  /// - Throws: ``OCSPError`` with ``OCSPError/Check/revoked`` (when and why),
  ///   ``OCSPError/Check/unknown``, or a time check's failure.
  public func validateStatus(_ options: OCSPValidationOptions = OCSPValidationOptions()) throws(OCSPError) {
    let single = self
    switch single.status {
    case .revoked(let time, let reason):
      throw OCSPError(
        .revoked,
        explanation: "The certificate with serial \(single.id.serialNumber.hex) was revoked at "
          + "\(VerificationError.Facts.rfc3339(time)) (\(reason.map { "reason: \($0)" } ?? "no reason given")).",
        revocationTime: time, revocationReason: reason, thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate)
    case .unknown:
      throw OCSPError(
        .unknown, explanation: "The responder does not know the certificate with serial \(single.id.serialNumber.hex).",
        thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate)
    case .good:
      try single.checkTime(options)
    }
  }

  /// Until when this status may be relied on: nextUpdate, or thisUpdate plus the maximum age
  /// when there is no nextUpdate (`nil` when neither bounds it).
  public func validUntil(_ options: OCSPValidationOptions = OCSPValidationOptions()) -> Date? {
    let byAge = options.maximumAge.map { thisUpdate.addingTimeInterval($0) }
    switch (nextUpdate, byAge) {
    case (let next?, let age?): return min(next, age)
    case (let next?, nil): return next
    case (nil, let age): return age
    }
  }
}

/// How a response's times are judged.
public struct OCSPValidationOptions: Sendable, Hashable {
  /// The time to check at; `nil` is now.
  public var time: Date?
  /// How far thisUpdate may lie in the future and nextUpdate in the past: five minutes by
  /// default, for clocks that disagree a little.
  public var clockSkew: TimeInterval = 300
  /// The oldest thisUpdate accepted, in seconds before the time, for every response; seven days
  /// by default, so that a response without nextUpdate does not stay valid forever. `nil`
  /// switches the check off.
  public var maximumAge: TimeInterval? = 7 * 86_400
  /// Whether a request's nonce must come back (by default a response that drops it is accepted:
  /// many responders ignore nonces; one that changes it always fails).
  public var requireNonce = false

  /// The defaults.
  public init() {}
}

/// What `OCSP_check_nonce` found when comparing a request's nonce with a response's.
public enum OCSPNonceCheck: Int32, Sendable, Hashable {
  /// Both carry the same nonce (1).
  case matched = 1
  /// Neither carries one (2).
  case bothAbsent = 2
  /// Only the response carries one (3).
  case onlyInResponse = 3
  /// The request carries one and the response drops it (-1).
  case absentFromResponse = -1
  /// Both carry one and they differ (0): always a failure.
  case mismatch = 0
}

/// A basic OCSP response (`OCSP_BASICRESP`): the responder's identity, when it was produced, the
/// single responses, certificates to help verify it, and its signature.
///
/// OpenSSL 3.0 does not reference-count `OCSP_BASICRESP`: this type owns its own
/// (`OCSP_BASICRESP_free`) and offers adopt, borrow and copy (`ASN1_item_dup` with
/// `OCSP_BASICRESP_it`). Immutable once made, hence `Sendable` (OpenSSL's verification only reads
/// it).
public final class OCSPBasicResponse: OpenSSLObjectBase, OpenSSLCopyable, @unchecked Sendable {
  override package class var cType: CObjectType { .ocspBasicResponse }

  // MARK: - Fields

  /// How the responder names itself (RFC 6960 `ResponderID`).
  public enum ResponderID: Sendable, Hashable, CustomStringConvertible {
    /// By its subject name.
    case name(String)
    /// By the SHA-1 hash of its public key.
    case keyHash([UInt8])

    /// The name, or `key hash ...` in hex.
    public var description: String {
      switch self {
      case .name(let name): name
      case .keyHash(let hash): "key hash \(hash.hexString)"
      }
    }
  }

  /// The responder's identity (`OCSP_resp_get0_id`).
  public var responderID: ResponderID {
    var keyHash: UnsafeRawPointer? = nil
    var name: OpaquePointer? = nil
    _ = unsafe oo_OCSP_resp_get0_id(pointer, &keyHash, &name)
    if let name = unsafe name { return unsafe .name(X509Name(copyingBorrowed: name).rfc2253) }
    return unsafe .keyHash(ASN1.bytes(keyHash.map { unsafe UnsafeMutableRawPointer(mutating: $0) }))
  }

  /// When the responder signed it (`OCSP_resp_get0_produced_at`).
  public var producedAt: Date {
    unsafe ASN1.date(OCSP_resp_get0_produced_at(pointer)) ?? Date(timeIntervalSince1970: 0)
  }

  /// The certificates the responder included (`OCSP_resp_get0_certs`), each retained. Untrusted:
  /// they only help find and chain the signer.
  public var certificates: [X509Certificate] { unsafe X509Stack.certificates(OCSP_resp_get0_certs(pointer)) }

  /// The single responses, in order (`OCSP_resp_get0`, `OCSP_SINGLERESP_get0_id`,
  /// `OCSP_single_get0_status`).
  public var singleResponses: [OCSPSingleResponse] {
    unsafe (0..<OCSP_resp_count(pointer)).compactMap { index in
      guard let single = unsafe OCSP_resp_get0(pointer, index), let id = unsafe OCSP_SINGLERESP_get0_id(single),
        let copy = unsafe try? OCSPCertID(copying: OpenSSLPointer(id))
      else { return nil }
      var reason: Int32 = 0
      var revoked: UnsafeMutableRawPointer? = nil
      var thisUpdate: UnsafeMutableRawPointer? = nil
      var nextUpdate: UnsafeMutableRawPointer? = nil
      let code = unsafe oo_OCSP_single_get0_status(single, &reason, &revoked, &thisUpdate, &nextUpdate)
      let status: OCSPCertificateStatus
      switch code {
      case V_OCSP_CERTSTATUS_GOOD: status = .good
      case V_OCSP_CERTSTATUS_REVOKED:
        status = unsafe .revoked(
          time: ASN1.date(revoked) ?? Date(timeIntervalSince1970: 0),
          reason: reason >= 0 ? RevocationReason(rawValue: Int(reason)) : nil)
      default: status = .unknown
      }
      return unsafe OCSPSingleResponse(
        id: copy, status: status, thisUpdate: ASN1.date(thisUpdate) ?? Date(timeIntervalSince1970: 0),
        nextUpdate: ASN1.date(nextUpdate))
    }
  }

  /// The nonce's bytes, if the response carries one (`OCSP_BASICRESP_get_ext_by_NID`).
  public var nonce: [UInt8]? {
    let index = unsafe OCSP_BASICRESP_get_ext_by_NID(pointer, NID_id_pkix_OCSP_Nonce, -1)
    guard index >= 0, let ext = unsafe OCSP_BASICRESP_get_ext(pointer, index) else { return nil }
    return unsafe OCSPNonceExtension.value(ext)
  }

  // MARK: - Checks

  /// Verifies the signature and the signer (`OCSP_basic_verify` with no flags): the signer is
  /// found among the response's certificates and `untrusted`, its signature checked, its chain
  /// verified against `store` (at the store's verification time, for the OCSP-helper purpose),
  /// and it must be the issuer of the certificates the response is about, or a responder that
  /// issuer delegated with the OCSP-signing extended key usage. The response's certificates are
  /// never trusted for that (`OCSP_TRUSTOTHER`, `OCSP_NOVERIFY` and `OCSP_NOCHECKS` are never
  /// used). The store becomes frozen.
  ///
  /// - Parameters:
  ///   - store: the trust anchors.
  ///   - untrusted: more certificates to find and chain the signer with, for example the
  ///     verified chain of the certificate asked about.
  /// - Throws: ``OCSPError`` saying which check failed: ``OCSPError/Check/signature``,
  ///   ``OCSPError/Check/signerNotFound``, ``OCSPError/Check/signerNotTrusted`` or
  ///   ``OCSPError/Check/signerNotAuthorized``.
  public func verifySignature(store: X509Store, untrusted: [X509Certificate] = []) throws(OCSPError) {
    store.freeze()
    let failure = unsafe X509Stack.withStack(untrusted) { stack in
      ErrorQueue.isolated { scope -> OpenSSLError? in
        unsafe OCSP_basic_verify(pointer, stack, store.pointer, 0) == 1 ? nil : scope.failure("OCSP_basic_verify")
      }
    }
    if let failure { throw OCSPError.basicVerifyFailure(failure) }
  }

  /// Compares the request's nonce with this response's (`OCSP_check_nonce`).
  public func checkNonce(against request: OCSPRequest) -> OCSPNonceCheck {
    unsafe OCSPNonceCheck(rawValue: OCSP_check_nonce(request.pointer, pointer)) ?? .mismatch
  }

  /// The single response for `id`, matched with each single response's own hash algorithm (see
  /// ``OCSPCertID/matches(_:)``).
  ///
  /// - Throws: ``OCSPError`` with ``OCSPError/Check/certificateNotInResponse``.
  public func singleResponse(for id: OCSPCertID) throws(OCSPError) -> OCSPSingleResponse {
    guard let single = singleResponses.first(where: { id.matches($0.id) }) else {
      throw OCSPError(
        .certificateNotInResponse,
        explanation: "The response has no single response for serial \(id.serialNumber.hex) of the issuer with key "
          + "hash \(id.issuerKeyHash.hexString); it answers for serial(s) "
          + singleResponses.map(\.id.serialNumber.hex).joined(separator: ", ") + ".")
    }
    return single
  }

  /// Everything a client checks, in order: the signature and signer (``verifySignature(store:untrusted:)``),
  /// the nonce when a request is given, the single response for `id`, its status (revoked and
  /// unknown fail), and its times (``OCSPSingleResponse/checkTime(_:)``).
  ///
  /// - Returns: the single response, whose status is good.
  /// - Throws: ``OCSPError`` naming the check that failed.
  @discardableResult
  public func validate(
    _ id: OCSPCertID,
    store: X509Store,
    untrusted: [X509Certificate] = [],
    request: OCSPRequest? = nil,
    options: OCSPValidationOptions = OCSPValidationOptions()
  ) throws(OCSPError) -> OCSPSingleResponse {
    try verifySignature(store: store, untrusted: untrusted)
    if let request { try validateNonce(against: request, options: options) }
    let single = try singleResponse(for: id)
    try single.validateStatus(options)
    return single
  }

  /// Fails for a nonce mismatch always (`OCSP_check_nonce` returned 0), and for a nonce the
  /// response dropped (-1) when the options require it.
  ///
  /// - Throws: ``OCSPError`` with ``OCSPError/Check/nonceMismatch`` or ``OCSPError/Check/nonceMissing``.
  public func validateNonce(
    against request: OCSPRequest, options: OCSPValidationOptions = OCSPValidationOptions()
  ) throws(OCSPError) {
    switch checkNonce(against: request) {
    case .mismatch:
      throw OCSPError(.nonceMismatch, explanation: "The response carries another nonce than the request.")
    case .absentFromResponse where options.requireNonce:
      throw OCSPError(.nonceMissing, explanation: "The request carried a nonce and the response does not echo it.")
    default: return
    }
  }
}
