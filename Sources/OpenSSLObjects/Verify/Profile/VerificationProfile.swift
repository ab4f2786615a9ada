import COpenSSLFull

/// A set of rules a verified chain must also satisfy, on top of OpenSSL's own verification: a
/// profile never replaces `X509_verify_cert`, it runs after it succeeded and can only refuse.
///
/// ``webPKI(publicSuffixes:)`` is the strict Web PKI profile: the CA/Browser Forum Baseline
/// Requirements and the RFC 5280 rules that OpenSSL 3.0 does not enforce (v3 certificates,
/// serial numbers, key types and sizes, key identifiers, the subscriber certificate's basic
/// constraints, key usage, extended key usage, subject alternative names and common name, name
/// constraints' form and wildcards, wildcards over public suffixes, policy constraints, CRL
/// numbers). Each rule is a named check that cites its clause (``Rule``); a refusal is a
/// ``VerificationError`` with ``VerificationError/Code/applicationVerification``, the depth and
/// certificate, the rule (``VerificationError/profileRule``) and the facts.
///
/// Set it on a verification with ``VerificationPolicy/profile`` (or make a whole policy with
/// ``VerificationPolicy/webPKI(host:)``); TLS clients take it from their configuration's
/// verification policy. Rules can be left out by name (``excluding(_:)``).
public struct VerificationProfile: Sendable, CustomStringConvertible {
  /// One rule of a profile: a name, the clause it comes from and the requirement in a sentence.
  public struct Rule: Sendable, Hashable, CustomStringConvertible {
    /// The rule's name, for example `"subscriber-extended-key-usage"`.
    public let name: String
    /// The clause it comes from, for example `"CA/B Forum BR 7.1.2.7.10"`.
    public let citation: String
    /// What it requires, in a sentence.
    public let requirement: String
    /// The check: the first violation in the chain, if any.
    let check: @Sendable (ProfileChain) -> ProfileViolation?

    init(
      _ name: String, _ citation: String, _ requirement: String,
      check: @escaping @Sendable (ProfileChain) -> ProfileViolation?
    ) {
      self.name = name
      self.citation = citation
      self.requirement = requirement
      self.check = check
    }

    /// Rules are equal when their names are.
    public static func == (lhs: Rule, rhs: Rule) -> Bool { lhs.name == rhs.name }
    /// Hashes the name.
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    /// `name (citation)`.
    public var description: String { "\(name) (\(citation))" }
  }

  /// The profile's name, for example `"webpki"`.
  public let name: String
  /// The rules, in the order they are checked.
  public private(set) var rules: [Rule]
  /// What else the rules depend on (the Public Suffix List they read), for ``identity``.
  let inputs: String

  init(name: String, rules: [Rule], inputs: String = "") {
    self.name = name
    self.rules = rules
    self.inputs = inputs
  }

  /// A text that differs between profiles that could judge a chain differently: the name, the
  /// rules and their inputs. TLS sessions are bound to it, so that a session made without a
  /// profile (or under another) is never resumed under this one.
  var identity: String { "\(name)[\(rules.map(\.name).joined(separator: ","))](\(inputs))" }

  /// The same profile without the rules named.
  public func excluding(_ names: String...) -> VerificationProfile {
    var copy = self
    copy.rules.removeAll { names.contains($0.name) }
    return copy
  }

  /// `name: rule, rule, ...`.
  public var description: String { "\(name): " + rules.map(\.name).joined(separator: ", ") }

  /// Checks a chain OpenSSL verified (leaf first, trust anchor last) outside a verification, for
  /// callers that verified with something else. Rules about the CRLs a verification used have
  /// nothing to check here; rules about the name that matched need the `host` that was verified.
  ///
  /// - Throws: ``VerificationError`` for the first rule the chain breaks.
  public func check(chain: [X509Certificate], host: String? = nil) throws(VerificationError) {
    let members = unsafe chain.map { unsafe $0.pointer }
    let violation = withExtendedLifetime(chain) {
      unsafe firstViolation(ProfileChain(members: members, context: nil, host: host))
    }
    if let (rule, found) = violation {
      throw VerificationError(profile: self, rule: rule, violation: found, chain: chain)
    }
  }

  /// The first violation in the chain of a store context that OpenSSL just verified (borrowed),
  /// as the error to report: the whole-chain step of our verifications and TLS handshakes.
  func violation(context: OpaquePointer) -> VerificationError? {
    guard let stack = unsafe X509_STORE_CTX_get0_chain(context) else { return nil }
    let members = unsafe (0..<oo_sk_X509_num(stack)).compactMap { unsafe oo_sk_X509_value(stack, $0) }
    guard let (rule, found) = unsafe firstViolation(ProfileChain(members: members, context: context)) else {
      return nil
    }
    return VerificationError(
      profile: self, rule: rule, violation: found, chain: unsafe X509StoreContextView.chain(of: context))
  }

  private func firstViolation(_ chain: ProfileChain) -> (Rule, ProfileViolation)? {
    for rule in rules {
      if let found = rule.check(chain) { return (rule, found) }
    }
    return nil
  }
}

/// What a rule found: where, and the facts.
struct ProfileViolation {
  /// The depth of the certificate that breaks the rule (0 is the leaf).
  let depth: Int
  /// The facts, in a sentence without a final period.
  let facts: String
}

extension VerificationPolicy {
  /// A policy for a TLS server's certificate under the strict Web PKI profile: the host name,
  /// the TLS server purpose (`X509_PURPOSE_SSL_SERVER`) and ``VerificationProfile/webPKI(publicSuffixes:)``.
  ///
  /// - Throws: ``InputError`` when the system's Public Suffix List cannot be read.
  public static func webPKI(host: String) throws(InputError) -> VerificationPolicy {
    var policy = VerificationPolicy(host: host)
    policy.purpose = .sslServer
    policy.profile = try .webPKI()
    return policy
  }
}

extension VerificationError {
  /// A profile's rule refused the chain OpenSSL verified.
  init(
    profile: VerificationProfile, rule: VerificationProfile.Rule, violation: ProfileViolation, chain: [X509Certificate]
  ) {
    let certificate = violation.depth < chain.count ? chain[violation.depth] : chain.first
    let who = certificate.map { "\"\($0.subject.rfc2253.visibleEscapes)\"" } ?? "the chain"
    self.init(
      code: .applicationVerification, depth: violation.depth, certificate: certificate, chain: chain,
      rejectionReason: nil,
      explanation: "The \(profile.name) profile refuses \(who) at depth \(violation.depth): \(rule.requirement) "
        + "(\(rule.citation), rule \(rule.name)); \(violation.facts).",
      profileRule: rule)
  }
}
