import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// OpenSSL's verification flags (`X509_V_FLAG_*`), set with `X509_VERIFY_PARAM_set_flags`.
public struct VerificationFlags: OptionSet, Hashable, Sendable {
  /// The `X509_V_FLAG_*` bits.
  public let rawValue: UInt
  /// Makes flags from `X509_V_FLAG_*` bits.
  public init(rawValue: UInt) { self.rawValue = rawValue }

  /// Check the leaf against CRLs (`X509_V_FLAG_CRL_CHECK`).
  public static let crlCheck = VerificationFlags(rawValue: UInt(X509_V_FLAG_CRL_CHECK))
  /// Check the whole chain against CRLs (`X509_V_FLAG_CRL_CHECK_ALL`, with ``crlCheck``).
  public static let crlCheckAll = VerificationFlags(rawValue: UInt(X509_V_FLAG_CRL_CHECK_ALL))
  /// Strict RFC 5280 conformance checks (`X509_V_FLAG_X509_STRICT`).
  public static let x509Strict = VerificationFlags(rawValue: UInt(X509_V_FLAG_X509_STRICT))
  /// Accept a chain ending in any trusted certificate, not only a self-signed root
  /// (`X509_V_FLAG_PARTIAL_CHAIN`).
  public static let partialChain = VerificationFlags(rawValue: UInt(X509_V_FLAG_PARTIAL_CHAIN))
  /// Skip validity-time checks (`X509_V_FLAG_NO_CHECK_TIME`).
  public static let noCheckTime = VerificationFlags(rawValue: UInt(X509_V_FLAG_NO_CHECK_TIME))
  /// Look for issuers in the trust store before the untrusted certificates (`X509_V_FLAG_TRUSTED_FIRST`).
  public static let trustedFirst = VerificationFlags(rawValue: UInt(X509_V_FLAG_TRUSTED_FIRST))
  /// Do not try alternative chains (`X509_V_FLAG_NO_ALT_CHAINS`).
  public static let noAlternativeChains = VerificationFlags(rawValue: UInt(X509_V_FLAG_NO_ALT_CHAINS))
  /// Check certificate policies (`X509_V_FLAG_POLICY_CHECK`).
  public static let policyCheck = VerificationFlags(rawValue: UInt(X509_V_FLAG_POLICY_CHECK))
  /// Require an explicit policy (`X509_V_FLAG_EXPLICIT_POLICY`).
  public static let explicitPolicy = VerificationFlags(rawValue: UInt(X509_V_FLAG_EXPLICIT_POLICY))
  /// Use delta CRLs (`X509_V_FLAG_USE_DELTAS`).
  public static let useDeltas = VerificationFlags(rawValue: UInt(X509_V_FLAG_USE_DELTAS))
  /// Check the signature of a self-signed trust anchor too (`X509_V_FLAG_CHECK_SS_SIGNATURE`).
  public static let checkSelfSignedSignature = VerificationFlags(rawValue: UInt(X509_V_FLAG_CHECK_SS_SIGNATURE))
  /// Extended CRL features: indirect CRLs, CRLs with other scopes (`X509_V_FLAG_EXTENDED_CRL_SUPPORT`).
  public static let extendedCRLSupport = VerificationFlags(rawValue: UInt(X509_V_FLAG_EXTENDED_CRL_SUPPORT))
  /// Ignore unhandled critical extensions (`X509_V_FLAG_IGNORE_CRITICAL`). Dangerous.
  public static let ignoreCritical = VerificationFlags(rawValue: UInt(X509_V_FLAG_IGNORE_CRITICAL))
}

/// The purpose a chain is verified for (`X509_VERIFY_PARAM_set_purpose`, `X509_PURPOSE_*`).
public enum VerificationPurpose: Int32, Sendable, CaseIterable, CustomStringConvertible {
  /// A TLS client certificate (`X509_PURPOSE_SSL_CLIENT`).
  case sslClient = 1
  /// A TLS server certificate (`X509_PURPOSE_SSL_SERVER`).
  case sslServer = 2
  /// A Netscape TLS server certificate (`X509_PURPOSE_NS_SSL_SERVER`).
  case nsSSLServer = 3
  /// S/MIME signing (`X509_PURPOSE_SMIME_SIGN`).
  case smimeSign = 4
  /// S/MIME encryption (`X509_PURPOSE_SMIME_ENCRYPT`).
  case smimeEncrypt = 5
  /// CRL signing (`X509_PURPOSE_CRL_SIGN`).
  case crlSign = 6
  /// Any purpose (`X509_PURPOSE_ANY`).
  case any = 7
  /// OCSP responses (`X509_PURPOSE_OCSP_HELPER`).
  case ocspHelper = 8
  /// Time stamping (`X509_PURPOSE_TIMESTAMP_SIGN`).
  case timestampSign = 9

  /// OpenSSL's short name for the purpose (`X509_PURPOSE_get0_sname`), for example `"sslserver"`.
  public var description: String {
    let index = X509_PURPOSE_get_by_id(rawValue)
    guard index >= 0, let purpose = unsafe X509_PURPOSE_get0(index), let name = unsafe X509_PURPOSE_get0_sname(purpose)
    else {
      return "purpose \(rawValue)"
    }
    return unsafe String(cString: name)
  }
}

/// What a verification callback decides for the certificate and error it was shown.
public enum VerifyDecision: Sendable, Hashable {
  /// OpenSSL's verdict stands: continue if it was OK, fail if it was an error.
  case keep
  /// Accept the current error (for example an expired certificate in a test) and go on. The
  /// accepted error is reported after success as an accepted override, never forgotten.
  case accept
  /// Reject, with a reason that reaches the caller unchanged. A rejection never ends in success;
  /// with no OpenSSL error set it becomes `X509_V_ERR_CERT_REJECTED`.
  case reject(String)
}

/// A verification callback (`X509_STORE_set_verify_cb`, `X509_STORE_CTX_set_verify_cb`,
/// `SSL_CTX_set_verify`).
///
/// OpenSSL calls it once for each error it finds at each depth (with ``X509StoreContextView/ok``
/// `false`) and once for each certificate that passes (with `ok` `true`), leaf last; the current
/// certificate can be absent (errors about the chain as a whole). The view cannot be kept after
/// the callback returns. An error the callback throws fails the verification and reaches the
/// caller of verify or handshake unchanged.
///
/// The callback must not capture the object that holds it (a store, a context): that is a
/// reference cycle through OpenSSL's ex_data and leaks both. Capture the values it needs instead.
public typealias VerifyCallback = @Sendable (borrowing X509StoreContextView) throws -> VerifyDecision

/// What a whole-chain policy decides after OpenSSL's full verification succeeded.
public enum ChainDecision: Sendable, Hashable {
  /// The chain is acceptable.
  case accept
  /// The chain is not acceptable, for this reason.
  case reject(String)
}

/// A policy over the whole verified chain (leaf first), for rules OpenSSL cannot express. It runs
/// only after OpenSSL's full verification (`X509_verify_cert`) succeeded and can only reject.
public typealias ChainPolicy = @Sendable ([X509Certificate]) throws -> ChainDecision

/// How one verification is done: OpenSSL's `X509_VERIFY_PARAM` settings, the identity to check,
/// callbacks, pins and a whole-chain policy. A `Sendable` value; the same for stores, TLS
/// contexts and connections.
public struct VerificationPolicy: Sendable {
  /// Flags added to the store's (`X509_VERIFY_PARAM_set_flags`).
  public var flags: VerificationFlags = []
  /// The purpose (`X509_VERIFY_PARAM_set_purpose`), or the store's.
  public var purpose: VerificationPurpose?
  /// The maximum depth (`X509_VERIFY_PARAM_set_depth`), or the store's.
  public var maximumDepth: Int?
  /// The verification time (`X509_VERIFY_PARAM_set_time`); `nil` is now. It cannot be combined
  /// with ``VerificationFlags/noCheckTime`` (OpenSSL would silently check the time anyway).
  public var time: Date?
  /// The authentication (security) level (`X509_VERIFY_PARAM_set_auth_level`), or the store's.
  public var authenticationLevel: Int?
  /// The DNS name the leaf must be valid for (`X509_VERIFY_PARAM_set1_host`).
  public var host: String?
  /// How ``host`` is matched (`X509_VERIFY_PARAM_set_hostflags`): by default no partial wildcards
  /// and never the subject CN (``X509Certificate/CheckFlags/default``). Remove
  /// ``X509Certificate/CheckFlags/neverCheckSubject`` to let a certificate without DNS names pass
  /// on its subject CN, as raw OpenSSL does.
  public var hostFlags: X509Certificate.CheckFlags = .default
  /// The IP address the leaf must be valid for (`X509_VERIFY_PARAM_set1_ip_asc`).
  public var ipAddress: String?
  /// The e-mail address the leaf must be valid for (`X509_VERIFY_PARAM_set1_email`).
  public var email: String?
  /// Pins, of which the verified chain must match one.
  public var pins: PinSet?
  /// A callback that sees every step (runs after the store's own callback, if any).
  public var verifyCallback: VerifyCallback?
  /// A policy over the verified chain (runs after pins).
  public var chainPolicy: ChainPolicy?
  /// Rules the verified chain must also satisfy, checked right after OpenSSL's verification
  /// succeeded and before pins (``VerificationProfile/webPKI(publicSuffixes:)``, whose rules are
  /// those of a TLS server's chain); `nil`, the default, is raw OpenSSL.
  public var profile: VerificationProfile?

  /// A policy with OpenSSL's defaults and the store's settings.
  public init() {}

  /// A policy that checks a DNS name.
  public init(host: String) {
    self.host = host
  }

  /// Applies the settings to an `X509_VERIFY_PARAM` (borrowed).
  ///
  /// - Throws: ``InputError`` if OpenSSL refuses a value (a malformed host name or address).
  package func apply(to param: OpaquePointer) throws(InputError) {
    if time != nil && flags.contains(.noCheckTime) {
      throw InputError(
        .invalidArgument, object: "verification policy", source: "time and flags",
        detail: "a verification time and noCheckTime exclude each other (OpenSSL would check the time anyway)")
    }
    if !flags.isEmpty { _ = unsafe X509_VERIFY_PARAM_set_flags(param, flags.rawValue) }
    if let purpose {
      try Self.check("purpose", purpose.description) { unsafe X509_VERIFY_PARAM_set_purpose(param, purpose.rawValue) }
      // X509_STORE_CTX_init infers the trust setting from the purpose; a purpose set after it
      // must bring its trust along, or TRUSTED CERTIFICATE settings would not apply.
      let index = X509_PURPOSE_get_by_id(purpose.rawValue)
      if index >= 0, let entry = unsafe X509_PURPOSE_get0(index) {
        _ = unsafe X509_VERIFY_PARAM_set_trust(param, X509_PURPOSE_get_trust(entry))
      }
    }
    if let maximumDepth { unsafe X509_VERIFY_PARAM_set_depth(param, Int32(clamping: maximumDepth)) }
    if let time { unsafe X509_VERIFY_PARAM_set_time(param, time_t(time.timeIntervalSince1970.rounded(.down))) }
    if let authenticationLevel { unsafe X509_VERIFY_PARAM_set_auth_level(param, Int32(clamping: authenticationLevel)) }
    if let host {
      unsafe X509_VERIFY_PARAM_set_hostflags(param, hostFlags.rawValue)
      let bytes = Array(host.utf8)
      try Self.check("host name", host) {
        unsafe bytes.withUnsafeBufferPointer { buffer in
          unsafe buffer.withMemoryRebound(to: CChar.self) {
            unsafe X509_VERIFY_PARAM_set1_host(param, $0.baseAddress, $0.count)
          }
        }
      }
    }
    if let ipAddress {
      try Self.check("IP address", ipAddress) { unsafe X509_VERIFY_PARAM_set1_ip_asc(param, ipAddress) }
    }
    if let email {
      let bytes = Array(email.utf8)
      try Self.check("e-mail address", email) {
        unsafe bytes.withUnsafeBufferPointer { buffer in
          unsafe buffer.withMemoryRebound(to: CChar.self) {
            unsafe X509_VERIFY_PARAM_set1_email(param, $0.baseAddress, $0.count)
          }
        }
      }
    }
  }

  private static func check(_ what: String, _ value: String, _ body: () -> Int32) throws(InputError) {
    // A C string ends at a NUL byte: "10.0.0.1\0anything" would be checked as "10.0.0.1".
    guard !value.utf8.contains(0) else {
      throw InputError(
        .invalidArgument, object: what, source: "\"\(value.visibleEscapes)\"", detail: "it contains a NUL byte")
    }
    try ErrorQueue.isolated { scope throws(InputError) in
      guard body() == 1 else {
        throw InputError(
          .invalidArgument, object: what, source: "\"\(value.visibleEscapes)\"",
          detail: "OpenSSL does not accept it as \(what.withArticle)",
          openSSLError: scope.failure("X509_VERIFY_PARAM_set1"))
      }
    }
  }
}

/// A programming error in how an object is used (not bad input): changing a store that is in
/// use, verifying twice with one context, using a callback view after its callback returned.
public struct UsageError: Error, Sendable, CustomStringConvertible {
  /// What was wrong.
  public let message: String

  /// Makes an error with its message.
  public init(_ message: String) {
    self.message = message
  }

  /// The message.
  public var description: String { message }
}
