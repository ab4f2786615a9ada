import COpenSSLFull

/// A chain OpenSSL verified, as the profile's rules read it: borrowed `X509` pointers, leaf
/// first, trust anchor last, and the store context when there is one (for the CRLs it used).
///
/// Facts come straight from OpenSSL's own cache of decoded extensions where it has one
/// (`X509_get_extension_flags`, `X509_get_key_usage`, `X509_get_extended_key_usage`,
/// `X509_get0_authority_key_id`, ...), so that a rule costs a few calls, not a decoding.
@safe
struct ProfileChain {
  /// The chain's certificates, borrowed for the duration of the check.
  let members: [OpaquePointer]
  /// The `X509_STORE_CTX` that verified the chain, if any.
  let context: OpaquePointer?
  /// The name of the leaf that matched the host name asked for, if one was asked for
  /// (`X509_VERIFY_PARAM_get0_peername` after OpenSSL's check, or `X509_check_host`).
  let matchedName: String?
  /// The leaf's subject alternative names, decoded once for the rules that read them.
  private let leafNames = LeafNames()

  init(members: [OpaquePointer], context: OpaquePointer?, host: String? = nil) {
    unsafe self.members = unsafe members
    unsafe self.context = unsafe context
    if let context = unsafe context {
      matchedName = unsafe X509_VERIFY_PARAM_get0_peername(X509_STORE_CTX_get0_param(context)).map {
        unsafe String(cString: $0)
      }
    } else if let host, let leaf = unsafe members.first {
      var peername: UnsafeMutablePointer<CChar>? = nil
      let flags = X509Certificate.CheckFlags.default.rawValue
      let matched = ErrorQueue.isolated { _ in unsafe X509_check_host(leaf, host, host.utf8.count, flags, &peername) }
      defer { unsafe oo_OPENSSL_free(peername) }
      matchedName = unsafe matched == 1 ? peername.map { unsafe String(cString: $0) } : nil
    } else {
      matchedName = nil
    }
  }

  /// The number of certificates.
  var count: Int { unsafe members.count }

  /// The certificate at `depth`.
  func certificate(_ depth: Int) -> OpaquePointer { unsafe members[depth] }

  /// The depths of the certificates a CA issued under the rules: every one but the trust anchor
  /// (the leaf always, even when it is the trust anchor itself).
  var issuedDepths: Range<Int> { 0..<max(count - 1, 1) }

  /// The depths of the CA certificates (every one but the leaf).
  var caDepths: Range<Int> { min(1, count)..<count }

  /// The depth of a self-issued trust anchor distinct from the leaf (a root CA), if there is one.
  var rootDepth: Int? {
    guard count > 1, flags(count - 1) & UInt32(EXFLAG_SI) != 0 else { return nil }
    return count - 1
  }

  /// `X509_get_extension_flags`: `EXFLAG_*`, from OpenSSL's cache.
  func flags(_ depth: Int) -> UInt32 { unsafe X509_get_extension_flags(members[depth]) }

  /// Whether the certificate at `depth` has the extension `nid`, and whether it is critical.
  func extensionCriticality(_ depth: Int, _ nid: Int32) -> Bool? {
    let index = unsafe X509_get_ext_by_NID(members[depth], nid, -1)
    guard index >= 0, let ext = unsafe X509_get_ext(members[depth], index) else { return nil }
    return unsafe X509_EXTENSION_get_critical(ext) != 0
  }

  /// Whether the certificate at `depth` has the extension `nid`.
  func has(_ depth: Int, _ nid: Int32) -> Bool {
    unsafe X509_get_ext_by_NID(members[depth], nid, -1) >= 0
  }

  /// Decodes the extension `nid` of the certificate at `depth` (`X509_get_ext_d2i`) for `read`,
  /// then frees it: `.absent`, `.malformed`, or what `read` made of it.
  func decoded<T>(
    _ depth: Int, _ nid: Int32, free: (UnsafeMutableRawPointer) -> Void, _ read: (UnsafeMutableRawPointer) -> T
  ) -> Decoded<T> {
    ErrorQueue.isolated { _ in
      var critical: Int32 = 0
      guard let value = unsafe X509_get_ext_d2i(members[depth], nid, &critical, nil) else {
        return critical == -1 ? .absent : .malformed
      }
      defer { unsafe free(value) }
      return unsafe .value(read(value))
    }
  }

  /// An extension's value, or why there is none.
  enum Decoded<T> {
    case absent
    case malformed
    case value(T)
  }

  /// The leaf's DNS names and IP addresses from its subject alternative names (empty without
  /// the extension).
  var leafSubjectAlternativeNames: (dns: [String], ip: [[UInt8]]) {
    if let cached = leafNames.value { return cached }
    var dns: [String] = []
    var ip: [[UInt8]] = []
    if case .value(let names) = unsafe decoded(
      0, NID_subject_alt_name, free: { unsafe GENERAL_NAMES_free(OpaquePointer($0)) },
      { unsafe GeneralName.list(OpaquePointer($0)) })
    {
      for name in names {
        switch name {
        case .dnsName(let text): dns.append(text)
        case .ipAddress(let bytes): ip.append(bytes)
        default: break
        }
      }
    }
    leafNames.value = (dns, ip)
    return (dns, ip)
  }

  /// The decoded name constraints of the certificate at `depth`: `nil` without the extension;
  /// the subtree lists are `nil` when absent (an empty sequence is an empty list).
  func nameConstraints(_ depth: Int) -> (permitted: [GeneralName]?, excluded: [GeneralName]?)?? {
    guard has(depth, NID_name_constraints) else { return .some(nil) }
    func subtrees(_ stack: OpaquePointer?) -> [GeneralName]? {
      guard let stack = unsafe stack else { return nil }
      return unsafe (0..<oo_sk_GENERAL_SUBTREE_num(stack)).compactMap { index in
        unsafe oo_sk_GENERAL_SUBTREE_value(stack, index)?.pointee.base.map { unsafe GeneralName(UnsafePointer($0)) }
      }
    }
    switch unsafe decoded(
      depth, NID_name_constraints,
      free: { unsafe NAME_CONSTRAINTS_free($0.assumingMemoryBound(to: NAME_CONSTRAINTS.self)) },
      { raw -> ([GeneralName]?, [GeneralName]?) in
        let constraints = unsafe raw.assumingMemoryBound(to: NAME_CONSTRAINTS.self).pointee
        return unsafe (subtrees(constraints.permittedSubtrees), subtrees(constraints.excludedSubtrees))
      })
    {
    case .absent: return .some(nil)
    case .malformed: return nil
    case .value(let value): return .some(value)
    }
  }
}

/// The leaf's decoded names, filled by the first rule that needs them. A chain is checked by
/// one thread.
private final class LeafNames: @unchecked Sendable {
  var value: (dns: [String], ip: [[UInt8]])?
}
