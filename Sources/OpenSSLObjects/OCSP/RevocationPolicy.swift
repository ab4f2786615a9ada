import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// How a certificate's revocation is checked, one explicit value for TLS clients
/// (``TLSConfiguration/revocation``) and for verifiers (``RevocationChecker``): a stapled OCSP
/// response, then asking the OCSP responder, then CRLs (given, or fetched from the chain's
/// distribution points), each source optional, what happens when a source cannot answer, and
/// what happens when none could tell.
///
/// The sources run in that order for the leaf of a verified chain; the first that can tell
/// decides. With ``crlFetch``, the intermediates are checked too, against their issuers' CRLs
/// from their distribution points. A revoked certificate always fails. A staple that is present
/// must be valid and say good (signature, signer, status, freshness), or the check fails whatever
/// the failure mode: a server that staples garbage is not ignored. A must-staple certificate
/// (the TLS feature extension) without a valid staple always fails when the staple step is on.
///
/// A source that was tried and could not answer (no staple, a responder or distribution point
/// that is down, an answer that fails its checks) is soft-fail by default: the next source is
/// tried. ``SourceFailureModes`` makes any of them hard-fail: the check then fails at once. When
/// no source could tell, ``FailureMode/hardFail`` fails and ``FailureMode/softFail`` passes with
/// a report of what could not be checked (``RevocationReport/unchecked``). Either way the report
/// or the error lists the sources tried and why each failed (``RevocationReport/attempts``,
/// ``OCSPError/attempts``).
///
/// Staples never carry nonces (the server fetched them for everyone), so none is checked there;
/// the fetch step sends a random nonce, and a response that changes it fails its check: it is
/// never used or cached, and like any answer that fails a check it soft-fails the source (the next
/// is tried) or, hard-fail, fails the check. A response's signer
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

  /// What happens when no step could tell whether the certificate is revoked, or when one
  /// source could not answer (``SourceFailureModes``).
  public enum FailureMode: Sendable, Hashable {
    /// Fail.
    case hardFail
    /// Pass (or, for one source, go on to the next), and report what could not be checked.
    case softFail
  }

  /// What happens when each source was tried and could not answer: no staple came, a
  /// responder or distribution point could not be reached, or its answer failed a check.
  public struct SourceFailureModes: Sendable, Hashable {
    /// The staple (a must-staple certificate or ``Staple/require`` fail without one anyway).
    public var staple: FailureMode
    /// The OCSP responder.
    public var ocsp: FailureMode
    /// The CRLs, given or fetched.
    public var crl: FailureMode

    /// Every source soft-fail unless given.
    public init(staple: FailureMode = .softFail, ocsp: FailureMode = .softFail, crl: FailureMode = .softFail) {
      self.staple = staple
      self.ocsp = ocsp
      self.crl = crl
    }
  }

  /// The staple step; ``Staple/use`` by default.
  public var staple = Staple.use
  /// The OCSP fetch step: ask the responder named in the certificate (or ``fetchURL``) with this
  /// client; `nil` (the default) skips the step. In a TLS handshake the fetch blocks the thread
  /// driving it for at most the client's time limit.
  public var fetch: OCSPClient?
  /// A responder URL to use instead of the certificate's.
  public var fetchURL: String?
  /// CRLs to check against (one of them issued by the certificate's issuer, whose signature
  /// verifies and which is current); `nil` (the default) skips them.
  public var crls: [X509CRL]?
  /// The CRL fetch step: download the CRLs of the verified chain's distribution points with this
  /// client, check them (``X509CRL/validate(issuer:options:)``) and the leaf and intermediates
  /// against them; `nil` (the default) skips it.
  public var crlFetch: CRLClient?
  /// Where fetched OCSP responses and CRLs are kept and looked up first; `nil` for none.
  public var cache: RevocationCache?
  /// What happens when a source cannot answer; soft-fail for each by default.
  public var whenUnavailable = SourceFailureModes()
  /// What happens when no step could tell; soft-fail by default.
  public var failureMode = FailureMode.softFail
  /// How OCSP responses' and CRLs' times and nonces are judged.
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
  public var isEnabled: Bool { staple != .ignore || fetch != nil || crls != nil || crlFetch != nil }

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
      stapleText, fetch.map { "fetch:" + (fetchURL ?? "aia") + ":" + String($0.destinations.allowed.rawValue) } ?? "-",
      crlText, crlFetch.map { "crlfetch:" + String($0.destinations.allowed.rawValue) } ?? "-",
      [whenUnavailable.staple, whenUnavailable.ocsp, whenUnavailable.crl, failureMode].map {
        $0 == .hardFail ? "h" : "s"
      }
      .joined(),
      String(Int64(validation.clockSkew * 1000)), validation.maximumAge.map { String(Int64($0 * 1000)) } ?? "-",
    ].joined(separator: ";")
  }
}

/// One source a revocation check tried, for one certificate, and what became of it.
public struct RevocationAttempt: Sendable, Hashable, CustomStringConvertible {
  /// The source.
  public let source: RevocationReport.Source
  /// The depth of the certificate in the verified chain (0 is the leaf).
  public let depth: Int
  /// The certificate's subject (RFC 2253), formatted when read: a handshake whose soft-fail
  /// source found nothing records the attempt without paying for the text.
  public var subject: String { certificate.subject.rfc2253 }
  /// Where the answer was asked for: a responder or distribution point URL, if any.
  public let location: String?
  /// Why the source could not answer; `nil` when it answered.
  public let failure: String?
  /// The certificate the attempt was about (a reference to the chain's own).
  private let certificate: X509Certificate

  init(
    source: RevocationReport.Source, depth: Int, certificate: X509Certificate, location: String?, failure: String?
  ) {
    self.source = source
    self.depth = depth
    self.certificate = certificate
    self.location = location
    self.failure = failure
  }

  /// Attempts are equal when everything they say is: source, depth, subject, location, failure.
  public static func == (lhs: RevocationAttempt, rhs: RevocationAttempt) -> Bool {
    lhs.source == rhs.source && lhs.depth == rhs.depth && lhs.location == rhs.location
      && lhs.failure == rhs.failure && lhs.subject == rhs.subject
  }

  /// Hashes what `==` compares.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(source)
    hasher.combine(depth)
    hasher.combine(subject)
    hasher.combine(location)
    hasher.combine(failure)
  }

  /// `source for SUBJECT (at URL): answered | failure`.
  public var description: String {
    "\(source.rawValue) for \"\(subject.visibleEscapes)\"" + (location.map { " at \($0.visibleEscapes)" } ?? "") + ": "
      + (failure ?? "answered")
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

  /// The step that found the leaf good, or `nil` when no step could tell (soft-fail).
  public let source: Source?
  /// The OCSP response that decided (a staple or a fetched response), if one did.
  public let response: OCSPResponse?
  /// The single response that decided, if an OCSP response did.
  public let singleResponse: OCSPSingleResponse?
  /// Until when the answers may be relied on (the earliest nextUpdate, or thisUpdate plus the
  /// maximum age).
  public let validUntil: Date?
  /// What could not be checked, one sentence per step, in order.
  public let unchecked: [String]
  /// Every source tried, for every certificate checked, in order, with why each failed.
  public var attempts: [RevocationAttempt] = []

  /// Whether a step found the leaf good.
  public var isChecked: Bool { source != nil }
}

/// Runs a ``RevocationPolicy`` for a verified chain.
public enum RevocationChecker {
  /// Checks the leaf of `chain` (verified, leaf first; its issuer is the next member), and with
  /// ``RevocationPolicy/crlFetch`` its intermediates too.
  ///
  /// - Parameters:
  ///   - chain: the verified chain, never the chain a peer merely sent.
  ///   - store: the trust store OCSP responses' signers must chain to.
  ///   - staple: the stapled response's DER bytes, if a server sent one.
  ///   - policy: the steps and the failure modes.
  /// - Returns: the report; soft-fail reports what it could not check.
  /// - Throws: ``OCSPError`` saying which check failed (``OCSPError/Check/revoked`` with when
  ///   and why, and ``OCSPError/depth``), ``OCSPError/Check/missingStaple``, a staple's failed
  ///   check, or ``OCSPError/Check/notChecked`` when a hard-fail source or policy could not
  ///   tell, with ``OCSPError/attempts``.
  public static func check(
    chain: [X509Certificate],
    store: X509Store,
    staple: [UInt8]? = nil,
    policy: RevocationPolicy
  ) throws(OCSPError) -> RevocationReport {
    guard let leaf = chain.first else {
      throw OCSPError(.notChecked, explanation: "There is no verified chain to check.")
    }
    var run = Run(chain: chain, store: store, policy: policy)
    let issuer = chain.count > 1 ? chain[1] : leaf
    let id: OCSPCertID
    do {
      id = try OCSPCertID(certificate: leaf, issuer: issuer)
    } catch {
      throw OCSPError(.notChecked, explanation: "OpenSSL could not make the certificate's OCSP ID: \(error).")
    }

    // The leaf: the first source that can tell decides.
    var decision: (source: RevocationReport.Source, response: OCSPResponse?, single: OCSPSingleResponse?)? = nil
    if policy.staple != .ignore {
      if let staple {
        let response: OCSPResponse
        do {
          response = try OCSPResponse(derEncoded: staple)
        } catch {
          throw OCSPError(.notBasicResponse, explanation: "The stapled bytes are not an OCSP response: \(error).")
        }
        let single = try response.basicResponse().validate(
          id, store: store, untrusted: run.untrusted, options: policy.validation)
        run.answered(.staple, depth: 0, location: nil, until: single.validUntil(policy.validation))
        decision = (.staple, response, single)
      } else {
        if (try? leaf.mustStaple) == true {
          throw OCSPError(
            .missingStaple,
            explanation: "\"\(leaf.subject.rfc2253)\" is a must-staple certificate (TLS feature status_request) "
              + "and the server stapled no OCSP response.")
        }
        if policy.staple == .require {
          throw OCSPError(.missingStaple, explanation: "The policy requires a stapled OCSP response and none came.")
        }
        try run.failed(.staple, depth: 0, location: nil, "the server stapled no OCSP response", prefix: "staple")
      }
    }

    if decision == nil, let client = policy.fetch {
      var url: String? = policy.fetchURL
      do {
        let target = try url ?? OCSPClient.responderURL(for: leaf)
        url = target
        let (response, single) = try run.fetchOCSP(id, client: client, url: target)
        run.answered(.ocspFetch, depth: 0, location: target, until: single.validUntil(policy.validation))
        decision = (.ocspFetch, response, single)
      } catch let error as OCSPError where error.check == .revoked {
        throw error.about(depth: 0, attempts: run.attempts)
      } catch {
        try run.failed(.ocspFetch, depth: 0, location: url, "\(error)", prefix: "OCSP fetch")
      }
    }

    if decision == nil && (policy.crls != nil || policy.crlFetch != nil) {
      if try run.checkCRL(depth: 0) { decision = (.crl, nil, nil) }
    }

    // The intermediates, against their issuers' CRLs.
    if policy.crlFetch != nil {
      for depth in 1..<max(chain.count - 1, 1) { _ = try run.checkCRL(depth: depth) }
    }

    if decision == nil && policy.failureMode == .hardFail {
      throw OCSPError(
        .notChecked,
        explanation: "No step of the hard-fail revocation policy could check \"\(leaf.subject.rfc2253)\": "
          + (run.unchecked.isEmpty ? "no step is on" : run.unchecked.joined(separator: "; ")) + ".",
        depth: 0, attempts: run.attempts)
    }
    var report = RevocationReport(
      source: decision?.source, response: decision?.response, singleResponse: decision?.single,
      validUntil: decision == nil ? nil : run.validUntil, unchecked: run.unchecked)
    report.attempts = run.attempts
    return report
  }

  /// One check in progress: what was tried, what could not be told, and until when the answers
  /// found hold.
  private struct Run {
    let chain: [X509Certificate]
    let store: X509Store
    let policy: RevocationPolicy
    var attempts: [RevocationAttempt] = []
    var unchecked: [String] = []
    var validUntil: Date?

    init(chain: [X509Certificate], store: X509Store, policy: RevocationPolicy) {
      self.chain = chain
      self.store = store
      self.policy = policy
    }

    var untrusted: [X509Certificate] { Array(chain.dropFirst()) }

    func subject(_ depth: Int) -> String { chain[depth].subject.rfc2253 }

    mutating func answered(_ source: RevocationReport.Source, depth: Int, location: String?, until: Date?) {
      attempts.append(
        RevocationAttempt(source: source, depth: depth, certificate: chain[depth], location: location, failure: nil))
      if let until { validUntil = validUntil.map { min($0, until) } ?? until }
    }

    /// Records a source that could not answer; under its hard-fail mode, fails at once.
    mutating func failed(
      _ source: RevocationReport.Source, depth: Int, location: String?, _ why: String, prefix: String
    ) throws(OCSPError) {
      attempts.append(
        RevocationAttempt(source: source, depth: depth, certificate: chain[depth], location: location, failure: why))
      unchecked.append(depth == 0 ? "\(prefix): \(why)" : "\(prefix) of \"\(subject(depth))\": \(why)")
      let mode: RevocationPolicy.FailureMode
      switch source {
      case .staple: mode = policy.whenUnavailable.staple
      case .ocspFetch: mode = policy.whenUnavailable.ocsp
      case .crl: mode = policy.whenUnavailable.crl
      }
      guard mode == .hardFail else { return }
      throw OCSPError(
        .notChecked,
        explanation: "The \(prefix) source, which the policy makes hard-fail, could not check \"\(subject(depth))\" "
          + "(\(why)). Tried: " + attempts.map(\.description).joined(separator: "; ") + ".",
        depth: depth, attempts: attempts)
    }

    /// Asks the responder (through the cache, if any) and validates the answer.
    func fetchOCSP(_ id: OCSPCertID, client: OCSPClient, url: String) throws -> (OCSPResponse, OCSPSingleResponse) {
      let options = policy.validation
      let untrusted = self.untrusted
      let store = self.store
      func valid(_ response: OCSPResponse) throws -> OCSPSingleResponse {
        let basic = try response.basicResponse()
        try basic.verifySignature(store: store, untrusted: untrusted)
        let single = try basic.singleResponse(for: id)
        try single.checkTime(options)
        return single
      }
      let response: OCSPResponse
      if let cache = policy.cache {
        response = try cache.ocspResponse(
          for: id, validate: { try valid($0).validUntil(options) },
          fetch: {
            let request = try OCSPRequest(ids: [id], nonce: .random)
            let fetched = try client.send(request, to: url)
            try fetched.basicResponse().validateNonce(against: request, options: options)
            return fetched
          })
      } else {
        let request = try OCSPRequest(ids: [id], nonce: .random)
        response = try client.send(request, to: url)
        try response.basicResponse().validateNonce(against: request, options: options)
      }
      let single = try valid(response)
      try single.validateStatus(options)
      return (response, single)
    }

    /// Checks the certificate at `depth` against its issuer's CRLs: the given ones, then those
    /// of its distribution points. Returns whether a CRL said good; throws for a revoked
    /// certificate, and for a hard-fail CRL source that could not tell.
    mutating func checkCRL(depth: Int) throws(OCSPError) -> Bool {
      let certificate = chain[depth]
      let issuer = depth + 1 < chain.count ? chain[depth + 1] : certificate
      var reasons: [String] = []
      var candidates: [(X509CRL?, String?)] = (policy.crls ?? []).map { ($0, nil) }
      if policy.crlFetch != nil {
        candidates += CRLClient.distributionPointURLs(for: certificate).map { (nil, $0) }
      }
      for (given, url) in candidates {
        let crl: X509CRL
        let until: Date?
        do {
          (crl, until) = try obtainCRL(given: given, url: url, issuer: issuer)
        } catch let error as OCSPError {
          // A given CRL of another issuer is simply not this certificate's.
          if given != nil && error.check == .wrongIssuer { continue }
          reasons.append((url.map { "\($0): " } ?? "") + error.explanation)
          continue
        } catch {
          reasons.append((url.map { "\($0): " } ?? "") + "\(error)")
          continue
        }
        guard crl.covers(certificate) else {
          reasons.append((url.map { "\($0): " } ?? "") + "the CRL's issuing distribution point does not cover it")
          continue
        }
        if let entry = crl.revocation(of: certificate.serialNumber) {
          let error = OCSPError(
            .revoked,
            explanation: "\"\(certificate.subject.rfc2253)\" (serial \(certificate.serialNumber.hex)) was revoked at "
              + "\(VerificationError.Facts.rfc3339(entry.revocationDate)) "
              + "(\(entry.reason.map { "reason: \($0)" } ?? "no reason given")), according to the CRL of "
              + "\"\(issuer.subject.rfc2253)\"\(url.map { " from \($0)" } ?? "").",
            revocationTime: entry.revocationDate, revocationReason: entry.reason, thisUpdate: crl.thisUpdate,
            nextUpdate: crl.nextUpdate, depth: depth)
          attempts.append(
            RevocationAttempt(
              source: .crl, depth: depth, certificate: chain[depth], location: url, failure: nil))
          throw error.about(depth: depth, attempts: attempts)
        }
        answered(.crl, depth: depth, location: url, until: until)
        return true
      }
      let why =
        reasons.isEmpty
        ? (policy.crlFetch == nil
          ? "no CRL of \"\(issuer.subject.rfc2253)\" with a valid signature was given"
          : "it names no plain-http CRL distribution point") : reasons.joined(separator: "; ")
      try failed(.crl, depth: depth, location: nil, why, prefix: "CRL")
      return false
    }

    /// A given CRL, validated, or a CRL from `url` through the cache (validated on every use).
    func obtainCRL(given: X509CRL?, url: String?, issuer: X509Certificate) throws -> (X509CRL, Date?) {
      let options = policy.validation
      if let given { return (given, try given.validate(issuer: issuer, options: options)) }
      guard let url, let client = policy.crlFetch else { throw OCSPError(.notChecked, explanation: "no CRL") }
      let crl: X509CRL
      if let cache = policy.cache {
        crl = try cache.crl(
          at: url, validate: { try $0.validate(issuer: issuer, options: options) },
          fetch: { try client.download(from: url) })
      } else {
        crl = try client.download(from: url)
      }
      return (crl, try crl.validate(issuer: issuer, options: options))
    }
  }
}
