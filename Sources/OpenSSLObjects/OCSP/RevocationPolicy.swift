import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// How a certificate's revocation is checked, one explicit value for TLS clients
/// (``TLSConfiguration/revocation``) and for verifiers (``RevocationChecker``): a stapled OCSP
/// response, then asking the OCSP responder, then CRLs, each step optional, and what happens
/// when no step could tell.
///
/// The steps run in that order for the leaf of a verified chain; the first that can tell decides.
/// A revoked certificate always fails. A staple that is present must be valid and say good
/// (signature, signer, status, freshness), or the check fails whatever the failure mode: a server
/// that staples garbage is not ignored. A must-staple certificate (the TLS feature extension)
/// without a valid staple always fails when the staple step is on. When no step could tell,
/// ``FailureMode/hardFail`` fails and ``FailureMode/softFail`` passes with a report of what could
/// not be checked (``RevocationReport/unchecked``).
///
/// Staples never carry nonces (the server fetched them for everyone), so none is checked there;
/// the fetch step sends a random nonce, and a response that changes it fails. A response's signer
/// is verified against the trust store's own settings (`OCSP_basic_verify` uses the store's
/// `X509_VERIFY_PARAM`, not a TLS context's), so the store needs the root, not only an
/// intermediate trusted with partial-chain flags on the context.
public struct RevocationPolicy: Sendable {
  /// What the staple step does.
  public enum Staple: Sendable, Hashable {
    /// No staple is asked for or looked at (and must-staple cannot be enforced).
    case ignore
    /// Ask for one (TLS `status_request`), check it when it comes, require it for must-staple
    /// certificates.
    case use
    /// Ask for one and require it from every server.
    case require
  }

  /// What happens when no step could tell whether the certificate is revoked.
  public enum FailureMode: Sendable, Hashable {
    /// Fail.
    case hardFail
    /// Pass, and report what could not be checked.
    case softFail
  }

  /// The staple step; ``Staple/use`` by default.
  public var staple = Staple.use
  /// The OCSP fetch step: ask the responder named in the certificate (or ``fetchURL``) with this
  /// client; `nil` (the default) skips the step. In a TLS handshake the fetch blocks the thread
  /// driving it for at most the client's time limit.
  public var fetch: OCSPClient?
  /// A responder URL to use instead of the certificate's.
  public var fetchURL: String?
  /// The CRL step: these CRLs (one of them issued by the certificate's issuer, whose signature
  /// verifies and which is not stale); `nil` (the default) skips the step.
  public var crls: [X509CRL]?
  /// What happens when no step could tell; soft-fail by default.
  public var failureMode = FailureMode.softFail
  /// How OCSP responses' times and nonces are judged.
  public var validation = OCSPValidationOptions()

  /// The default: use staples (must-staple enforced), soft-fail.
  public init() {}

  /// No revocation checking at all.
  public static var disabled: RevocationPolicy {
    var policy = RevocationPolicy()
    policy.staple = .ignore
    return policy
  }

  /// Whether any step is on.
  public var isEnabled: Bool { staple != .ignore || fetch != nil || crls != nil }

  /// A text that differs between policies that could judge a certificate differently, for the
  /// keys of resumable sessions.
  var token: String {
    let crlText =
      crls.map { list in
        list.map { $0.issuer.rfc2253 + "@" + String(Int($0.thisUpdate.timeIntervalSince1970)) }.joined(separator: ",")
      } ?? "-"
    let stapleText: String
    switch staple {
    case .ignore: stapleText = "ignore"
    case .use: stapleText = "use"
    case .require: stapleText = "require"
    }
    return [
      stapleText, fetch.map { _ in "fetch:" + (fetchURL ?? "aia") } ?? "-", crlText,
      failureMode == .hardFail ? "hard" : "soft", String(Int64(validation.clockSkew * 1000)),
      validation.maximumAge.map { String(Int64($0 * 1000)) } ?? "-",
    ].joined(separator: ";")
  }
}

/// What a revocation check found.
public struct RevocationReport: Sendable {
  /// Where the answer came from.
  public enum Source: String, Sendable, Hashable {
    /// A stapled OCSP response.
    case staple
    /// The OCSP responder.
    case ocspFetch = "ocsp_fetch"
    /// A CRL.
    case crl
  }

  /// The step that found the certificate good, or `nil` when no step could tell (soft-fail).
  public let source: Source?
  /// The OCSP response that decided (a staple or a fetched response), if one did.
  public let response: OCSPResponse?
  /// The single response that decided, if an OCSP response did.
  public let singleResponse: OCSPSingleResponse?
  /// Until when the answer may be relied on (nextUpdate, or thisUpdate plus the maximum age).
  public let validUntil: Date?
  /// What could not be checked, one sentence per step, in order.
  public let unchecked: [String]

  /// Whether a step found the certificate good.
  public var isChecked: Bool { source != nil }
}

/// Runs a ``RevocationPolicy`` for the leaf of a verified chain.
public enum RevocationChecker {
  /// Checks the leaf of `chain` (verified, leaf first; its issuer is the next member).
  ///
  /// - Parameters:
  ///   - chain: the verified chain, never the chain a peer merely sent.
  ///   - store: the trust store OCSP responses' signers must chain to.
  ///   - staple: the stapled response's DER bytes, if a server sent one.
  ///   - policy: the steps and the failure mode.
  /// - Returns: the report; soft-fail reports what it could not check.
  /// - Throws: ``OCSPError`` saying which check failed (``OCSPError/Check/revoked`` with when
  ///   and why, ``OCSPError/Check/missingStaple``, a staple's failed check, or
  ///   ``OCSPError/Check/notChecked`` under hard-fail).
  public static func check(
    chain: [X509Certificate],
    store: X509Store,
    staple: [UInt8]? = nil,
    policy: RevocationPolicy
  ) throws(OCSPError) -> RevocationReport {
    guard let leaf = chain.first else {
      throw OCSPError(.notChecked, explanation: "There is no verified chain to check.")
    }
    let issuer = chain.count > 1 ? chain[1] : leaf
    let untrusted = Array(chain.dropFirst())
    let id: OCSPCertID
    do {
      id = try OCSPCertID(certificate: leaf, issuer: issuer)
    } catch {
      throw OCSPError(.notChecked, explanation: "OpenSSL could not make the certificate's OCSP ID: \(error).")
    }
    var unchecked: [String] = []

    if policy.staple != .ignore {
      if let staple {
        let response: OCSPResponse
        do {
          response = try OCSPResponse(derEncoded: staple)
        } catch {
          throw OCSPError(.notBasicResponse, explanation: "The stapled bytes are not an OCSP response: \(error).")
        }
        let single = try response.basicResponse().validate(
          id, store: store, untrusted: untrusted, options: policy.validation)
        return RevocationReport(
          source: .staple, response: response, singleResponse: single, validUntil: single.validUntil(policy.validation),
          unchecked: [])
      }
      if (try? leaf.mustStaple) == true {
        throw OCSPError(
          .missingStaple,
          explanation: "\"\(leaf.subject.rfc2253)\" is a must-staple certificate (TLS feature status_request) "
            + "and the server stapled no OCSP response.")
      }
      if policy.staple == .require {
        throw OCSPError(.missingStaple, explanation: "The policy requires a stapled OCSP response and none came.")
      }
      unchecked.append("staple: the server stapled no OCSP response")
    }

    if let client = policy.fetch {
      do {
        let url = try policy.fetchURL ?? OCSPClient.responderURL(for: leaf)
        let request = try OCSPRequest(ids: [id], nonce: .random)
        let response = try client.send(request, to: url)
        let single = try response.basicResponse().validate(
          id, store: store, untrusted: untrusted, request: request, options: policy.validation)
        return RevocationReport(
          source: .ocspFetch, response: response, singleResponse: single,
          validUntil: single.validUntil(policy.validation), unchecked: unchecked)
      } catch let error as OCSPError where error.check == .revoked {
        throw error
      } catch {
        unchecked.append("OCSP fetch: \(error)")
      }
    }

    if let crls = policy.crls {
      switch crlStatus(leaf, issuer: issuer, crls: crls, options: policy.validation) {
      case .success(let validUntil):
        return RevocationReport(
          source: .crl, response: nil, singleResponse: nil, validUntil: validUntil, unchecked: unchecked)
      case .failure(let reason):
        if reason.check == .revoked { throw reason }
        unchecked.append("CRL: \(reason.explanation)")
      }
    }

    if policy.failureMode == .hardFail {
      throw OCSPError(
        .notChecked,
        explanation: "No step of the hard-fail revocation policy could check \"\(leaf.subject.rfc2253)\": "
          + (unchecked.isEmpty ? "no step is on" : unchecked.joined(separator: "; ")) + ".")
    }
    return RevocationReport(source: nil, response: nil, singleResponse: nil, validUntil: nil, unchecked: unchecked)
  }

  /// The leaf's status in the first CRL of its issuer whose signature verifies (`X509_CRL_verify`)
  /// and which is not stale: good until the CRL's nextUpdate, or the reason it could not tell.
  private static func crlStatus(
    _ leaf: X509Certificate, issuer: X509Certificate, crls: [X509CRL], options: OCSPValidationOptions
  ) -> Result<Date?, OCSPError> {
    let time = options.time ?? Date()
    guard let key = try? issuer.publicKey,
      let crl = crls.first(where: { $0.issuer == issuer.subject && $0.isSignatureValid(publicKey: key) })
    else {
      return .failure(
        OCSPError(.notChecked, explanation: "no CRL of \"\(issuer.subject.rfc2253)\" with a valid signature was given"))
    }
    if let next = crl.nextUpdate, time.timeIntervalSince(next) > options.clockSkew {
      return .failure(
        OCSPError(
          .stale,
          explanation: "the CRL of \"\(issuer.subject.rfc2253)\" is stale (nextUpdate "
            + "\(VerificationError.Facts.rfc3339(next)))", nextUpdate: next, time: time))
    }
    if let entry = crl.revocation(of: leaf.serialNumber) {
      return .failure(
        OCSPError(
          .revoked,
          explanation: "\"\(leaf.subject.rfc2253)\" (serial \(leaf.serialNumber.hex)) was revoked at "
            + "\(VerificationError.Facts.rfc3339(entry.revocationDate)) "
            + "(\(entry.reason.map { "reason: \($0)" } ?? "no reason given")), according to the CRL of "
            + "\"\(issuer.subject.rfc2253)\".",
          revocationTime: entry.revocationDate, revocationReason: entry.reason))
    }
    return .success(crl.nextUpdate)
  }
}
