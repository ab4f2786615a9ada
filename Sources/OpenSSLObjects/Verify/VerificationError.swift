import COpenSSLFull

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A failed certificate verification, explained.
///
/// Carries OpenSSL's `X509_V_ERR_*` code with its symbolic name and OpenSSL's message, the depth,
/// the failing certificate's subject and issuer, the chain as far as it was built, and an
/// explanation written from the facts of the case: which name was asked for and which names the
/// certificate has, when it expired and how long ago, which issuer was missing.
public struct VerificationError: Error, Sendable, CustomStringConvertible {
  /// An OpenSSL verification code (`X509_V_OK`, `X509_V_ERR_*`).
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The number.
    public let rawValue: Int32

    /// Makes a code from its number.
    public init(_ rawValue: Int32) {
      self.rawValue = rawValue
    }

    /// The symbolic name, for example `"X509_V_ERR_CERT_HAS_EXPIRED"`.
    public var name: String { Self.symbolicNames[rawValue] ?? "X509_V_ERR_\(rawValue)" }

    /// OpenSSL's message for the code (`X509_verify_cert_error_string`).
    public var message: String { unsafe String(cString: X509_verify_cert_error_string(Int(rawValue))) }

    /// The symbolic name.
    public var description: String { name }

    /// `X509_V_OK`.
    public static let ok = Code(X509_V_OK)
    /// `X509_V_ERR_CERT_HAS_EXPIRED`.
    public static let certificateHasExpired = Code(X509_V_ERR_CERT_HAS_EXPIRED)
    /// `X509_V_ERR_CERT_NOT_YET_VALID`.
    public static let certificateNotYetValid = Code(X509_V_ERR_CERT_NOT_YET_VALID)
    /// `X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY`.
    public static let unableToGetIssuerLocally = Code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    /// `X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN`.
    public static let selfSignedInChain = Code(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
    /// `X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT`.
    public static let depthZeroSelfSigned = Code(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
    /// `X509_V_ERR_HOSTNAME_MISMATCH`.
    public static let hostnameMismatch = Code(X509_V_ERR_HOSTNAME_MISMATCH)
    /// `X509_V_ERR_IP_ADDRESS_MISMATCH`.
    public static let ipAddressMismatch = Code(X509_V_ERR_IP_ADDRESS_MISMATCH)
    /// `X509_V_ERR_EMAIL_MISMATCH`.
    public static let emailMismatch = Code(X509_V_ERR_EMAIL_MISMATCH)
    /// `X509_V_ERR_INVALID_PURPOSE`.
    public static let invalidPurpose = Code(X509_V_ERR_INVALID_PURPOSE)
    /// `X509_V_ERR_INVALID_CA`.
    public static let invalidCA = Code(X509_V_ERR_INVALID_CA)
    /// `X509_V_ERR_PATH_LENGTH_EXCEEDED`.
    public static let pathLengthExceeded = Code(X509_V_ERR_PATH_LENGTH_EXCEEDED)
    /// `X509_V_ERR_PERMITTED_VIOLATION`.
    public static let permittedViolation = Code(X509_V_ERR_PERMITTED_VIOLATION)
    /// `X509_V_ERR_EXCLUDED_VIOLATION`.
    public static let excludedViolation = Code(X509_V_ERR_EXCLUDED_VIOLATION)
    /// `X509_V_ERR_CERT_REVOKED`.
    public static let certificateRevoked = Code(X509_V_ERR_CERT_REVOKED)
    /// `X509_V_ERR_UNABLE_TO_GET_CRL`.
    public static let unableToGetCRL = Code(X509_V_ERR_UNABLE_TO_GET_CRL)
    /// `X509_V_ERR_CRL_HAS_EXPIRED`.
    public static let crlHasExpired = Code(X509_V_ERR_CRL_HAS_EXPIRED)
    /// `X509_V_ERR_EE_KEY_TOO_SMALL`.
    public static let endEntityKeyTooSmall = Code(X509_V_ERR_EE_KEY_TOO_SMALL)
    /// `X509_V_ERR_CA_KEY_TOO_SMALL`.
    public static let caKeyTooSmall = Code(X509_V_ERR_CA_KEY_TOO_SMALL)
    /// `X509_V_ERR_CA_MD_TOO_WEAK`.
    public static let caDigestTooWeak = Code(X509_V_ERR_CA_MD_TOO_WEAK)
    /// `X509_V_ERR_CERT_CHAIN_TOO_LONG`.
    public static let chainTooLong = Code(X509_V_ERR_CERT_CHAIN_TOO_LONG)
    /// `X509_V_ERR_CERT_SIGNATURE_FAILURE`.
    public static let signatureFailure = Code(X509_V_ERR_CERT_SIGNATURE_FAILURE)
    /// `X509_V_ERR_CERT_REJECTED`.
    public static let certificateRejected = Code(X509_V_ERR_CERT_REJECTED)
    /// `X509_V_ERR_APPLICATION_VERIFICATION`: our own checks after OpenSSL's (pins, chain policy).
    public static let applicationVerification = Code(X509_V_ERR_APPLICATION_VERIFICATION)
  }

  /// OpenSSL's code.
  public let code: Code
  /// The depth of the failing certificate; 0 is the leaf.
  public let depth: Int
  /// The failing certificate, when there is one.
  public let certificate: X509Certificate?
  /// The chain as far as it was built, leaf first.
  public let chain: [X509Certificate]
  /// The reason a verification callback or chain policy gave when it rejected.
  public let rejectionReason: String?
  /// The explanation, built from the facts of the case.
  public let explanation: String
  /// The rule of a ``VerificationProfile`` that refused the chain, when a profile did.
  public let profileRule: VerificationProfile.Rule?

  /// The symbolic name of the code, for example `"X509_V_ERR_HOSTNAME_MISMATCH"`.
  public var name: String { code.name }
  /// OpenSSL's own message for the code (`X509_verify_cert_error_string`).
  public var message: String { code.message }
  /// The failing certificate's subject (RFC 2253), if there is one.
  public var subject: String? { certificate?.subject.rfc2253 }
  /// The failing certificate's issuer (RFC 2253), if there is one.
  public var issuer: String? { certificate?.issuer.rfc2253 }

  /// `NAME at depth D: explanation`.
  public var description: String { "\(name) at depth \(depth): \(explanation)" }

  // MARK: - Making errors

  /// The error an `X509_STORE_CTX` (borrowed) reports now, explained from what the context shows.
  init(context: OpaquePointer, callbackReason: String? = nil) {
    let code = unsafe Code(X509_STORE_CTX_get_error(context))
    let depth = unsafe Int(X509_STORE_CTX_get_error_depth(context))
    let certificate = unsafe X509_STORE_CTX_get_current_cert(context).flatMap {
      unsafe try? X509Certificate(retaining: OpenSSLPointer($0))
    }
    let chain = unsafe X509StoreContextView.chain(of: context)
    let facts = unsafe Facts(context: context, code: code, depth: depth, certificate: certificate, chain: chain)
    var explanation = facts.explanation()
    if let callbackReason {
      explanation =
        code == .certificateRejected
        ? "A verification callback rejected \(facts.name(certificate)) at depth \(depth): \(callbackReason)."
        : "A verification callback rejected \(facts.name(certificate)) at depth \(depth) (\(code.message)): "
          + "\(callbackReason)."
    }
    self.init(
      code: code, depth: depth, certificate: certificate, chain: chain, rejectionReason: callbackReason,
      explanation: explanation)
  }

  /// The current error of a store context (borrowed), explained from what the context shows
  /// (`X509_STORE_CTX_get_error` and friends): for C code and callbacks that hold one.
  @unsafe
  public init(explaining context: OpenSSLPointer<X509StoreContext>) {
    unsafe self.init(context: context.raw)
  }

  /// A verification result OpenSSL kept (`SSL_get_verify_result`) without the context's facts.
  init(code: Code, chain: [X509Certificate]) {
    self.init(
      code: code, depth: 0, certificate: chain.first, chain: chain, rejectionReason: nil,
      explanation: "OpenSSL reports \"\(code.message)\" for the peer's chain.")
  }

  /// The pins were not satisfied by the verified chain.
  init(pinsUnsatisfied pins: PinSet, chain: [X509Certificate]) {
    let found = chain.map { "\($0.subject.rfc2253): \($0.spkiPin)" }.joined(separator: "; ")
    self.init(
      code: .applicationVerification, depth: 0, certificate: chain.first, chain: chain, rejectionReason: nil,
      explanation: "No key of the verified chain matches a pin. Expected one of: \(pins). The chain has: \(found).")
  }

  /// A client connection of a context that requires a host name was given none to check.
  init(noHostNameFor chain: [X509Certificate]) {
    self.init(
      code: .applicationVerification, depth: 0, certificate: chain.first, chain: chain, rejectionReason: nil,
      explanation:
        "The connection names no host to check the certificate against, and its context requires one: set it with "
        + "SSL_set1_host, X509_VERIFY_PARAM_set1_host or X509_VERIFY_PARAM_set1_ip before the handshake "
        + "(a server name sent as SNI alone is not checked).")
  }

  /// A chain policy rejected the verified chain.
  init(chainPolicyRejected reason: String, chain: [X509Certificate]) {
    self.init(
      code: .applicationVerification, depth: 0, certificate: chain.first, chain: chain, rejectionReason: reason,
      explanation: "The chain policy rejected the verified chain: \(reason).")
  }

  init(
    code: Code,
    depth: Int,
    certificate: X509Certificate?,
    chain: [X509Certificate],
    rejectionReason: String?,
    explanation: String,
    profileRule: VerificationProfile.Rule? = nil
  ) {
    self.code = code
    self.depth = depth
    self.certificate = certificate
    self.chain = chain
    self.rejectionReason = rejectionReason
    self.explanation = explanation
    self.profileRule = profileRule
  }
}

// MARK: - Explanations

extension VerificationError {
  /// What the store context shows about an error, and the explanation built from it.
  @safe
  struct Facts {
    let context: OpaquePointer
    let code: Code
    let depth: Int
    let certificate: X509Certificate?
    let chain: [X509Certificate]

    /// The context's parameters; `nil` for a context that was never initialised (C code can lend
    /// one through a capsule).
    private var param: OpaquePointer? { unsafe X509_STORE_CTX_get0_param(context) }

    /// The host name the verification asked for (the first one). On OpenSSL 4.0 a copied
    /// `X509_VERIFY_PARAM` (an `SSL`'s, copied from its `SSL_CTX`'s; a store context's, copied
    /// from its `SSL`'s) holds its names without a terminating NUL, and
    /// `X509_VERIFY_PARAM_get0_host` tells no length, so reading one would read past it. There a
    /// TLS verification's name is the one this library set (the connection's server name);
    /// `nil` when it set none (an `SSL` that C code named).
    private var askedHost: String? {
      if let ssl = unsafe ssl, OpenSSLLibrary.runtimeVersion.major >= 4 {
        return unsafe TLSConnectionState.find(ssl)?.serverName
      }
      return unsafe paramText { unsafe X509_VERIFY_PARAM_get0_host($0, 0) }
    }

    /// The `SSL` whose handshake runs this verification, if any.
    private var ssl: OpaquePointer? {
      let index = SSL_get_ex_data_X509_STORE_CTX_idx()
      guard index >= 0, let raw = unsafe X509_STORE_CTX_get_ex_data(context, index) else { return nil }
      return OpaquePointer(raw)
    }

    /// A name from the context's parameters (`get0`, owned by them): on OpenSSL 4.0 only when no
    /// `SSL` is involved, where the parameters were set on the store context itself (by
    /// ``X509StoreContext``) and keep their terminator (see ``askedHost``).
    private func paramText(_ read: (OpaquePointer) -> UnsafeMutablePointer<CChar>?) -> String? {
      guard let param = unsafe param else { return nil }
      if unsafe ssl != nil, OpenSSLLibrary.runtimeVersion.major >= 4 { return nil }
      return unsafe read(param).map { unsafe String(cString: $0) }
    }

    /// The verification time: the one set, or now.
    var time: Date {
      if let param = unsafe param, unsafe X509_VERIFY_PARAM_get_flags(param) & UInt(X509_V_FLAG_USE_CHECK_TIME) != 0 {
        return unsafe Date(timeIntervalSince1970: TimeInterval(X509_VERIFY_PARAM_get_time(param)))
      }
      return Date()
    }

    func name(_ certificate: X509Certificate?) -> String {
      certificate.map { "\"\($0.subject.rfc2253)\"" } ?? "the chain"
    }

    var subject: String { name(certificate) }
    var issuerName: String { certificate.map { "\"\($0.issuer.rfc2253)\"" } ?? "its issuer" }

    var trustedCount: Int {
      guard let store = unsafe X509_STORE_CTX_get0_store(context) else { return 0 }
      _ = unsafe X509_STORE_lock(store)
      defer { _ = unsafe X509_STORE_unlock(store) }
      guard let objects = unsafe oo_X509_STORE_get0_objects(store) else { return 0 }
      return unsafe (0..<oo_sk_X509_OBJECT_num(objects)).filter { index in
        unsafe oo_sk_X509_OBJECT_value(objects, index).map { unsafe oo_X509_OBJECT_is_certificate($0) != 0 } ?? false
      }.count
    }

    var untrustedCount: Int {
      unsafe X509_STORE_CTX_get0_untrusted(context).map { unsafe Int(oo_sk_X509_num($0)) } ?? 0
    }

    func explanation() -> String {
      guard unsafe param != nil else {
        return "The X509_STORE_CTX was never set up for a verification (X509_STORE_CTX_init), so nothing explains "
          + "\(code.name) (\(code.message))."
      }
      let verificationTime = Self.rfc3339(time)
      switch code {
      case .certificateHasExpired:
        guard let certificate else { break }
        return "\(subject) expired at \(Self.rfc3339(certificate.notAfter)), "
          + "\(Self.duration(time.timeIntervalSince(certificate.notAfter))) before the verification time \(verificationTime)."
      case .certificateNotYetValid:
        guard let certificate else { break }
        return "\(subject) is not valid until \(Self.rfc3339(certificate.notBefore)), "
          + "\(Self.duration(certificate.notBefore.timeIntervalSince(time))) after the verification time \(verificationTime)."
      case .unableToGetIssuerLocally, Code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT):
        var text =
          "The issuer of \(subject), \(issuerName), was not found: it is neither among the store's "
          + "\(trustedCount) trusted certificates nor among the \(untrustedCount) untrusted certificates given."
        if let certificate, !certificate.isSelfIssued {
          if untrustedCount == 0 {
            text +=
              " No intermediate certificates were given: if \(issuerName) is an intermediate CA, it is missing "
              + "(a TLS peer must send it); if it is a root, the store does not trust it."
          } else if depth > 0 {
            // The chain was built from the untrusted certificates up to this one: what is missing
            // is its issuer, a root to trust or one more intermediate.
            text +=
              " The chain was built up to \(subject) from the certificates given; what is missing is its issuer "
              + "\(issuerName): if that is a root, add it to the trusted certificates; if it is an intermediate CA, "
              + "give it with the others."
          } else {
            text +=
              " None of the untrusted certificates given issued \(subject): its issuer \(issuerName) is missing "
              + "(an intermediate CA the peer must send, or a root to trust)."
          }
        }
        return text
      case .selfSignedInChain:
        return "The chain ends in the self-signed certificate \(subject), which the store does not trust "
          + "(it has \(trustedCount) trusted certificates)."
      case .depthZeroSelfSigned:
        return "\(subject) is self-signed and the store does not trust it (it has \(trustedCount) trusted "
          + "certificates); add it as a trusted certificate if it is meant to be trusted."
      case .hostnameMismatch:
        guard let asked = askedHost else {
          return "The certificate is valid for \(dnsNames), not for the host name the verification asked for."
        }
        return "The certificate is valid for \(dnsNames), not for the host name \"\(asked)\"."
      case .ipAddressMismatch:
        let asked = unsafe X509_VERIFY_PARAM_get1_ip_asc(param).map { text -> String in
          defer { unsafe oo_OPENSSL_free(text) }
          return unsafe String(cString: text)
        }
        return
          "The certificate's IP addresses are \(names { if case .ipAddress(let bytes) = $0 { GeneralName.ipText(bytes) } else { nil } }), "
          + "not \(asked ?? "?")."
      case .emailMismatch:
        let asked = unsafe paramText { unsafe X509_VERIFY_PARAM_get0_email($0) } ?? "the address asked for"
        return
          "The certificate's e-mail addresses are \(names { if case .email(let address) = $0 { address } else { nil } }), "
          + "not \(asked)."
      case .invalidPurpose:
        let purpose = unsafe VerificationState.find(context)?.purpose?.description ?? "the purpose asked for"
        let usages = ((try? certificate?.extendedKeyUsage) ?? nil).map { $0.map(\.description).joined(separator: ", ") }
        return "\(subject) may not be used for \(purpose): its extended key usage is \(usages ?? "absent")."
      case .invalidCA:
        let constraints = ((try? certificate?.basicConstraints) ?? nil)?.description ?? "absent"
        let usage = ((try? certificate?.keyUsage) ?? nil)?.description ?? "absent"
        return
          "\(subject) is used as a CA but is not one: its basic constraints are \(constraints) and its key usage is \(usage)."
      case .pathLengthExceeded:
        // OpenSSL reports the depth of the CA whose constraint is exceeded.
        let limit = chain.enumerated().first { index, member in
          index >= depth && ((try? member.basicConstraints) ?? nil)?.pathLength != nil
        }
        if let (_, ca) = limit, let length = (try? ca.basicConstraints)??.pathLength {
          return
            "\"\(ca.subject.rfc2253)\" allows \(length) intermediate CA certificate(s) below it (pathlen:\(length)), "
            + "but the chain has more."
        }
        return "A CA's path length constraint is exceeded by the chain."
      case .permittedViolation, .excludedViolation:
        let which = code == .permittedViolation ? "outside the permitted subtrees" : "inside the excluded subtrees"
        let constrained = chain.enumerated().compactMap { index, member -> String? in
          guard index > depth, let constraints = (try? member.nameConstraints) ?? nil else { return nil }
          let list = code == .permittedViolation ? constraints.permitted : constraints.excluded
          return "\"\(member.subject.rfc2253)\" (\(list.map(\.description).joined(separator: ", ")))"
        }
        return "A name of \(subject) (\(allNames)) is \(which) of \(constrained.joined(separator: "; "))."
      case .certificateRevoked:
        if let certificate, let crl = unsafe X509_STORE_CTX_get0_current_crl(context) {
          var entry: OpaquePointer? = nil
          if unsafe X509_CRL_get0_by_cert(crl, &entry, certificate.pointer) == 1, let entry = unsafe entry,
            let revoked = unsafe (try? X509CRL(retaining: OpenSSLPointer(crl)))?.revocation(
              of: certificate.serialNumber)
          {
            _ = unsafe entry
            let reason = revoked.reason.map { "reason: \($0)" } ?? "no reason given"
            return
              "\(subject) (serial \(certificate.serialNumber.hex)) was revoked at \(Self.rfc3339(revoked.revocationDate)) "
              + "(\(reason)), according to the CRL of \(issuerName)."
          }
        }
        return "\(subject) is revoked, according to a CRL of \(issuerName)."
      case .unableToGetCRL:
        let all = unsafe X509_VERIFY_PARAM_get_flags(param) & UInt(X509_V_FLAG_CRL_CHECK_ALL) != 0
        return "No CRL of \(issuerName) was found to check \(subject); CRL checking is on for "
          + (all ? "the whole chain." : "the leaf.")
      case .crlHasExpired:
        if let crl = unsafe X509_STORE_CTX_get0_current_crl(context),
          let next = unsafe ASN1.date(X509_CRL_get0_nextUpdate(crl))
        {
          return "The CRL of \(issuerName) was due to be replaced at \(Self.rfc3339(next)), "
            + "\(Self.duration(time.timeIntervalSince(next))) before the verification time \(verificationTime)."
        }
        return "The CRL of \(issuerName) has expired."
      case .endEntityKeyTooSmall, .caKeyTooSmall:
        guard let key = try? certificate?.publicKey else { break }
        let level = unsafe Int(X509_VERIFY_PARAM_get_auth_level(param))
        return "\(subject) has a \(key.algorithm) key of \(key.bits) bits (\(key.securityBits) security bits); "
          + "security level \(level) requires at least \(Self.requiredBits(level)) security bits."
      case .caDigestTooWeak:
        guard let certificate else { break }
        let info = certificate.signatureInfo
        let level = unsafe Int(X509_VERIFY_PARAM_get_auth_level(param))
        return "\(subject) is signed with \(info.digest ?? "its algorithm") (\(info.securityBits) security bits); "
          + "security level \(level) requires at least \(Self.requiredBits(level)) security bits."
      case .chainTooLong:
        return unsafe "The chain is longer than the maximum depth of \(X509_VERIFY_PARAM_get_depth(param)) "
          + "(certificates below the trust anchor)."
      case .signatureFailure:
        return "The signature on \(subject) does not verify with the public key of its issuer \(issuerName)."
      default:
        break
      }
      return "OpenSSL reports \"\(code.message)\" for \(subject) at depth \(depth)."
    }

    private var dnsNames: String {
      let names = ((try? certificate?.subjectAlternativeNames) ?? nil)?.compactMap { name -> String? in
        if case .dnsName(let text) = name { return "\"\(text.visibleEscapes)\"" }
        return nil
      }
      if let names, !names.isEmpty { return names.joined(separator: ", ") }
      let commonNames = certificate?.subject.commonNames.map { "\"\($0)\"" } ?? []
      return commonNames.isEmpty ? "no DNS name" : "\(commonNames.joined(separator: ", ")) (subject CN only)"
    }

    private func names(_ pick: (GeneralName) -> String?) -> String {
      let picked = ((try? certificate?.subjectAlternativeNames) ?? nil)?.compactMap(pick) ?? []
      return picked.isEmpty ? "none" : picked.joined(separator: ", ")
    }

    private var allNames: String {
      var names = ((try? certificate?.subjectAlternativeNames) ?? nil)?.map(\.description) ?? []
      if let subject = certificate?.subject.rfc2253 { names.insert("subject \(subject)", at: 0) }
      return names.joined(separator: ", ")
    }

    static func requiredBits(_ level: Int) -> Int {
      [0, 80, 112, 128, 192, 256][min(max(level, 0), 5)]
    }

    static func rfc3339(_ date: Date) -> String {
      date.formatted(.iso8601)
    }

    /// A duration in words: "3 days and 4 hours", "12 minutes".
    static func duration(_ seconds: TimeInterval) -> String {
      let total = Int(abs(seconds).rounded())
      let units: [(String, Int)] = [
        ("year", 365 * 86_400), ("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1),
      ]
      var parts: [String] = []
      var rest = total
      for (name, size) in units where rest >= size && parts.count < 2 {
        let count = rest / size
        rest -= count * size
        parts.append("\(count) \(name)\(count == 1 ? "" : "s")")
      }
      return parts.isEmpty ? "0 seconds" : parts.joined(separator: " and ")
    }
  }
}
