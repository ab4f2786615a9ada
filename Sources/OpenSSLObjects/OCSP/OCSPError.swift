import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// A failed OCSP check, saying which check failed and the facts of the case: the response status
/// a responder sent, the dates of a stale response, when and why a certificate was revoked.
public struct OCSPError: Error, Sendable, CustomStringConvertible {
  /// Which check failed. New checks may be added; switch with a `default`.
  public struct Check: Hashable, Sendable, CustomStringConvertible {
    fileprivate enum Base: String, Hashable, Sendable {
      case responseStatus = "responder error status"
      case notBasicResponse = "not a basic response"
      case signature = "signature"
      case signerNotFound = "signer not found"
      case signerNotTrusted = "signer not trusted"
      case signerNotAuthorized = "signer not authorized"
      case certificateNotInResponse = "certificate not in response"
      case nonceMismatch = "nonce mismatch"
      case nonceMissing = "nonce missing"
      case notYetValid = "not yet valid"
      case stale = "stale"
      case tooOld = "too old"
      case revoked = "revoked"
      case unknown = "unknown certificate"
      case missingStaple = "missing staple"
      case rejected = "rejected by a callback"
      case notChecked = "not checked"
      case wrongIssuer = "wrong issuer"
      case unsupportedCRL = "unsupported CRL"
    }
    fileprivate let base: Base

    /// The responder answered with an error status (`malformedRequest`, `tryLater`, ...), not a
    /// response (``OCSPError/responseStatus``).
    public static let responseStatus = Check(base: .responseStatus)
    /// The response is successful but not a basic response (`OCSP_R_NOT_BASIC_RESPONSE`).
    public static let notBasicResponse = Check(base: .notBasicResponse)
    /// The response's signature does not verify with the signer's key (`OCSP_R_SIGNATURE_FAILURE`).
    public static let signature = Check(base: .signature)
    /// The signer's certificate is neither in the response nor among the certificates given
    /// (`OCSP_R_SIGNER_CERTIFICATE_NOT_FOUND`).
    public static let signerNotFound = Check(base: .signerNotFound)
    /// The signer's certificate does not chain to the trust store (`OCSP_R_CERTIFICATE_VERIFY_ERROR`).
    public static let signerNotTrusted = Check(base: .signerNotTrusted)
    /// The signer is neither the certificate's issuer nor a responder that issuer delegated with
    /// the OCSP-signing extended key usage (`OCSP_R_MISSING_OCSPSIGNING_USAGE`,
    /// `OCSP_R_ROOT_CA_NOT_TRUSTED`).
    public static let signerNotAuthorized = Check(base: .signerNotAuthorized)
    /// The response has no single response for the certificate.
    public static let certificateNotInResponse = Check(base: .certificateNotInResponse)
    /// The response carries another nonce than the request (`OCSP_check_nonce` returned 0).
    public static let nonceMismatch = Check(base: .nonceMismatch)
    /// The request carried a nonce and the response none (`OCSP_check_nonce` returned -1), and
    /// the caller required it.
    public static let nonceMissing = Check(base: .nonceMissing)
    /// thisUpdate is in the future, beyond the clock-skew allowance.
    public static let notYetValid = Check(base: .notYetValid)
    /// nextUpdate has passed, beyond the clock-skew allowance.
    public static let stale = Check(base: .stale)
    /// thisUpdate is older than the maximum age.
    public static let tooOld = Check(base: .tooOld)
    /// The certificate is revoked (``OCSPError/revocationTime``, ``OCSPError/revocationReason``).
    public static let revoked = Check(base: .revoked)
    /// The responder does not know the certificate.
    public static let unknown = Check(base: .unknown)
    /// A stapled response was required (must-staple, or the policy's requirement) and none came.
    public static let missingStaple = Check(base: .missingStaple)
    /// A staple callback rejected the response.
    public static let rejected = Check(base: .rejected)
    /// A hard-fail revocation policy could not check the certificate by any of its steps, or a
    /// source its policy makes hard-fail could not answer (``OCSPError/attempts`` says which
    /// sources were tried and why each failed).
    public static let notChecked = Check(base: .notChecked)
    /// A CRL was not issued by the certificate's issuer (another name or key identifier).
    public static let wrongIssuer = Check(base: .wrongIssuer)
    /// A CRL that cannot vouch for the certificate: a delta CRL, an indirect CRL, one for only
    /// some reasons, or one with a critical extension that is not understood (refused
    /// explicitly, never half-used).
    public static let unsupportedCRL = Check(base: .unsupportedCRL)

    /// The check's name.
    public var description: String { base.rawValue }
  }

  /// Which check failed.
  public let check: Check
  /// The facts of the case in a sentence or two.
  public let explanation: String
  /// The responder's status, for ``Check/responseStatus``.
  public let responseStatus: OCSPResponse.Status?
  /// When the certificate was revoked, for ``Check/revoked``.
  public let revocationTime: Date?
  /// Why, when the response says, for ``Check/revoked``.
  public let revocationReason: RevocationReason?
  /// The single response's thisUpdate, when one was found.
  public let thisUpdate: Date?
  /// The single response's nextUpdate, when it has one.
  public let nextUpdate: Date?
  /// The time the response was checked at.
  public let time: Date?
  /// What OpenSSL reported, when the check was OpenSSL's (`OCSP_basic_verify`).
  public let openSSLError: OpenSSLError?
  /// The depth in the verified chain of the certificate the failure is about (0 is the leaf),
  /// when a revocation check knows it.
  public let depth: Int?
  /// The sources a revocation check tried, in order, and what each answered or why it failed.
  public let attempts: [RevocationAttempt]

  /// Makes an error value. Library code makes these; this initializer exists for tests and for
  /// callbacks that reject with an error of their own kind.
  public init(
    _ check: Check,
    explanation: String,
    responseStatus: OCSPResponse.Status? = nil,
    revocationTime: Date? = nil,
    revocationReason: RevocationReason? = nil,
    thisUpdate: Date? = nil,
    nextUpdate: Date? = nil,
    time: Date? = nil,
    openSSLError: OpenSSLError? = nil,
    depth: Int? = nil,
    attempts: [RevocationAttempt] = []
  ) {
    self.check = check
    self.explanation = explanation
    self.responseStatus = responseStatus
    self.revocationTime = revocationTime
    self.revocationReason = revocationReason
    self.thisUpdate = thisUpdate
    self.nextUpdate = nextUpdate
    self.time = time
    self.openSSLError = openSSLError
    self.depth = depth
    self.attempts = attempts
  }

  /// The same error about the certificate at `depth`, with the attempts made so far.
  func about(depth: Int, attempts: [RevocationAttempt]) -> OCSPError {
    OCSPError(
      check, explanation: explanation, responseStatus: responseStatus, revocationTime: revocationTime,
      revocationReason: revocationReason, thisUpdate: thisUpdate, nextUpdate: nextUpdate, time: time,
      openSSLError: openSSLError, depth: self.depth ?? depth, attempts: self.attempts.isEmpty ? attempts : self.attempts
    )
  }

  /// `OCSP check failed (CHECK): explanation`.
  public var description: String { "OCSP check failed (\(check)): \(explanation)" }

  /// The check an `OCSP_basic_verify` failure stands for, from OpenSSL's reason codes.
  static func basicVerifyFailure(_ error: OpenSSLError) -> OCSPError {
    let reasons: [(Int32, Check, String)] = [
      (OCSP_R_SIGNATURE_FAILURE, .signature, "The response's signature does not verify with the signer's key."),
      (
        OCSP_R_SIGNER_CERTIFICATE_NOT_FOUND, .signerNotFound,
        "The signer's certificate is neither in the response nor among the certificates given."
      ),
      (
        OCSP_R_CERTIFICATE_VERIFY_ERROR, .signerNotTrusted,
        "The signer's certificate does not verify against the trust store"
      ),
      (
        OCSP_R_MISSING_OCSPSIGNING_USAGE, .signerNotAuthorized,
        "The signer was issued by the certificate's issuer but lacks the OCSP-signing extended key usage, "
          + "so it is not a delegated responder."
      ),
      (
        OCSP_R_ROOT_CA_NOT_TRUSTED, .signerNotAuthorized,
        "The signer is neither the certificate's issuer nor a responder that issuer delegated."
      ),
      (
        OCSP_R_RESPONSE_CONTAINS_NO_REVOCATION_DATA, .certificateNotInResponse,
        "The response contains no single response."
      ),
    ]
    for (reason, check, text) in reasons where error.contains(library: ERR_LIB_OCSP, reason: reason) {
      var explanation = text
      if check == .signerNotTrusted {
        let detail = error.entries.first { $0.library == ERR_LIB_OCSP }?.data
        explanation += detail.map { " (\($0))." } ?? "."
      }
      return OCSPError(check, explanation: explanation, openSSLError: error)
    }
    return OCSPError(
      .signerNotAuthorized,
      explanation: "OpenSSL could not verify the response: "
        + (error.last?.reasonText ?? "OCSP_basic_verify failed without saying why") + ".",
      openSSLError: error)
  }
}
