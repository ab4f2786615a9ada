import COpenSSLFull

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

extension VerificationProfile {
  /// The strict Web PKI profile: the CA/Browser Forum Baseline Requirements (BR) and RFC 5280
  /// rules OpenSSL 3.0 does not enforce, for a TLS server's chain. Its rules, in order:
  ///
  /// | rule | clause | requires |
  /// | --- | --- | --- |
  /// | `certificate-version` | BR 7.1.1 | issued certificates are X.509 v3 |
  /// | `serial-number` | RFC 5280 4.1.2.2 | serial numbers are positive, at most 20 octets |
  /// | `public-key-algorithm` | BR 6.1.5, 7.1.3.1 | keys are RSA or ECDSA on P-256, P-384 or P-521 |
  /// | `rsa-modulus-size` | BR 6.1.5 | RSA moduli have at least 2048 bits, a multiple of 8 |
  /// | `authority-key-identifier` | RFC 5280 4.2.1.1 | the path's certificates not self-signed name their issuer's key |
  /// | `root-authority-key-identifier` | BR 7.1.2.1.3 | a root's AKI is its own SKI, without issuer or serial |
  /// | `root-extended-key-usage` | BR 7.1.2.1.2 | a root has no extended key usage |
  /// | `extended-key-usage-not-empty` | RFC 5280 4.2.1.12 | an extended key usage lists a purpose |
  /// | `authority-information-access` | RFC 5280 4.2.2.1, BR 7.1.2.7.7 | AIA is well-formed and not empty |
  /// | `policy-constraints-critical` | RFC 5280 4.2.1.11 | policy constraints are critical |
  /// | `name-constraints-in-ca-only` | RFC 5280 4.2.1.10 | only CA certificates carry name constraints |
  /// | `name-constraints-not-empty` | RFC 5280 4.2.1.10, BR 7.1.2.5.2 | name constraints have subtrees |
  /// | `name-constraints-dns-syntax` | RFC 5280 4.2.1.10 | DNS constraints are domain names (no leading period) |
  /// | `subscriber-basic-constraints` | BR 7.1.2.7.8 | the leaf is not a CA |
  /// | `subscriber-key-usage` | BR 7.1.2.7.11 | the leaf's key does not sign certificates or CRLs |
  /// | `subscriber-extended-key-usage` | BR 7.1.2.7.6, 7.1.2.7.10 | the leaf's EKU is present, has serverAuth, not anyExtendedKeyUsage, not critical |
  /// | `subscriber-alternative-names` | BR 7.1.2.7.12 | the leaf has a SAN, critical exactly when the subject is empty |
  /// | `dns-name-syntax` | RFC 5280 4.2.1.6, BR 7.1.2.7.12 | DNS names are in preferred name syntax, a wildcard only as the whole first label |
  /// | `wildcard-over-public-suffix` | BR 3.2.2.6 | the host name is not matched only by a wildcard over a public suffix |
  /// | `wildcard-within-name-constraints` | RFC 5280 4.2.1.10, RFC 9525 6.3 | every name a wildcard stands for satisfies the name constraints |
  /// | `subscriber-common-name` | BR 7.1.4.3 | one CN at most, repeating a SAN value of its kind in its exact text |
  /// | `crl-number` | RFC 5280 5.2.3 | CRLs the verification used carry a CRL number |
  ///
  /// - Parameter publicSuffixes: the Public Suffix List; the system's (``PublicSuffixList/system``)
  ///   by default.
  /// - Throws: ``InputError`` when the system's list is missing or unreadable.
  public static func webPKI(publicSuffixes: PublicSuffixList? = nil) throws(InputError) -> VerificationProfile {
    let list: PublicSuffixList
    if let publicSuffixes { list = publicSuffixes } else { list = try PublicSuffixList.system }
    return VerificationProfile(
      name: "webpki", rules: WebPKIRules.rules(publicSuffixes: list), inputs: "psl:\(list.identity)")
  }
}

/// The checks of ``VerificationProfile/webPKI(publicSuffixes:)``, one function per rule.
enum WebPKIRules {
  typealias Rule = VerificationProfile.Rule

  static func rules(publicSuffixes: PublicSuffixList) -> [Rule] {
    [
      Rule("certificate-version", "CA/B Forum BR 7.1.1", "certificates must be X.509 v3", check: version),
      Rule(
        "serial-number", "RFC 5280 4.1.2.2",
        "serial numbers must be positive integers of at most 20 octets", check: serialNumber),
      Rule(
        "public-key-algorithm", "CA/B Forum BR 6.1.5 and 7.1.3.1",
        "keys must be RSA or ECDSA on P-256, P-384 or P-521", check: keyAlgorithm),
      Rule(
        "rsa-modulus-size", "CA/B Forum BR 6.1.5",
        "RSA moduli must have at least 2048 bits and a size divisible by 8", check: rsaModulus),
      Rule(
        "authority-key-identifier", "RFC 5280 4.2.1.1",
        "a certificate of the path (the trust anchor is not one) that is not self-signed must carry an authority "
          + "key identifier with its keyIdentifier",
        check: authorityKeyIdentifier),
      Rule(
        "root-authority-key-identifier", "CA/B Forum BR 7.1.2.1.3",
        "a root CA's authority key identifier, if present, must hold only a keyIdentifier equal to its subject "
          + "key identifier", check: rootAuthorityKeyIdentifier),
      Rule(
        "root-extended-key-usage", "CA/B Forum BR 7.1.2.1.2",
        "a root CA certificate must not carry an extended key usage", check: rootExtendedKeyUsage),
      Rule(
        "extended-key-usage-not-empty", "RFC 5280 4.2.1.12",
        "an extended key usage extension must list at least one purpose", check: extendedKeyUsageNotEmpty),
      Rule(
        "authority-information-access", "RFC 5280 4.2.2.1, CA/B Forum BR 7.1.2.7.7",
        "an authority information access extension must be well-formed and hold at least one access description",
        check: authorityInformationAccess),
      Rule(
        "policy-constraints-critical", "RFC 5280 4.2.1.11", "policy constraints must be marked critical",
        check: policyConstraintsCritical),
      Rule(
        "name-constraints-in-ca-only", "RFC 5280 4.2.1.10",
        "name constraints must be used only in CA certificates", check: nameConstraintsInCAOnly),
      Rule(
        "name-constraints-not-empty", "RFC 5280 4.2.1.10, CA/B Forum BR 7.1.2.5.2",
        "name constraints must have permitted or excluded subtrees, and a list that is present must not be empty",
        check: nameConstraintsNotEmpty),
      Rule(
        "name-constraints-dns-syntax", "RFC 5280 4.2.1.10",
        "a dNSName constraint must be a domain name in preferred name syntax (no leading period)",
        check: nameConstraintsDNSSyntax),
      Rule(
        "subscriber-basic-constraints", "CA/B Forum BR 7.1.2.7.8",
        "a subscriber (leaf) certificate must not be a CA (basicConstraints cA must be FALSE)",
        check: subscriberBasicConstraints),
      Rule(
        "subscriber-key-usage", "CA/B Forum BR 7.1.2.7.11",
        "a subscriber certificate's key usage must not allow keyCertSign or cRLSign", check: subscriberKeyUsage),
      Rule(
        "subscriber-extended-key-usage", "CA/B Forum BR 7.1.2.7.6 and 7.1.2.7.10",
        "a subscriber certificate must carry a non-critical extended key usage with id-kp-serverAuth and without "
          + "anyExtendedKeyUsage", check: subscriberExtendedKeyUsage),
      Rule(
        "subscriber-alternative-names", "CA/B Forum BR 7.1.2.7.12",
        "a subscriber certificate must carry subject alternative names, critical exactly when its subject is empty",
        check: subscriberAlternativeNames),
      Rule(
        "dns-name-syntax", "RFC 5280 4.2.1.6 (RFC 1034 3.5, RFC 1123 2.1), CA/B Forum BR 7.1.2.7.12",
        "a dNSName must be in preferred name syntax, with a wildcard only as its whole first label",
        check: dnsNameSyntax),
      Rule(
        "wildcard-over-public-suffix", "CA/B Forum BR 3.2.2.6",
        "a wildcard directly over a public suffix (Public Suffix List, ICANN and private sections) vouches for no "
          + "host name",
        check: { wildcardOverPublicSuffix($0, publicSuffixes) }),
      Rule(
        "wildcard-within-name-constraints", "RFC 5280 4.2.1.10 with RFC 9525 6.3",
        "every name a wildcard dNSName stands for must be inside the permitted and outside the excluded subtrees "
          + "of the CAs above it", check: wildcardWithinNameConstraints),
      Rule(
        "subscriber-common-name", "CA/B Forum BR 7.1.4.3",
        "a subscriber certificate's common name, if present, must be one and must repeat its subject alternative "
          + "names: an IP address as the RFC 3986 / RFC 5952 text of one of its addresses, a domain name in LDH "
          + "labels as a character-for-character copy of one of its dNSNames (or a domain they lie under)",
        check: subscriberCommonName),
      Rule(
        "crl-number", "RFC 5280 5.2.3", "a CRL the verification uses must carry a CRL number", check: crlNumber),
    ]
  }

  // MARK: - Every certificate

  static func version(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in chain.issuedDepths {
      let version = unsafe X509_get_version(chain.certificate(depth))
      if version != 2 { return ProfileViolation(depth: depth, facts: "it is a version \(version + 1) certificate") }
    }
    return nil
  }

  static func serialNumber(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in chain.issuedDepths {
      guard let serial = unsafe X509_get0_serialNumber(chain.certificate(depth)) else { continue }
      let length = Int(unsafe ASN1_STRING_length(serial))
      let bytes =
        unsafe ASN1_STRING_get0_data(serial).map { unsafe Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
      if unsafe ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER {
        return ProfileViolation(depth: depth, facts: "its serial number is negative (-\(bytes.hexString))")
      }
      if bytes.allSatisfy({ $0 == 0 }) { return ProfileViolation(depth: depth, facts: "its serial number is zero") }
      // DER adds a zero octet before a first byte with its high bit set.
      let octets = bytes.count + ((bytes.first ?? 0) & 0x80 != 0 ? 1 : 0)
      if octets > 20 {
        return ProfileViolation(depth: depth, facts: "its serial number is \(octets) octets long (\(bytes.hexString))")
      }
    }
    return nil
  }

  /// The key of the certificate at `depth`: its type's name, OpenSSL's id, bits and EC group.
  private static func key(_ chain: ProfileChain, _ depth: Int) -> (name: String, id: Int32, bits: Int, group: String?)?
  {
    guard let key = unsafe X509_get0_pubkey(chain.certificate(depth)) else { return nil }
    let id = unsafe EVP_PKEY_get_base_id(key)
    let name = unsafe EVP_PKEY_get0_type_name(key).map { unsafe String(cString: $0) } ?? "unknown"
    var group: String? = nil
    if id == EVP_PKEY_EC {
      var buffer = [CChar](repeating: 0, count: 64)
      var length = 0
      if ErrorQueue.isolated({ _ in unsafe EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) }) == 1 {
        group = unsafe buffer.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
      }
    }
    return unsafe (name, id, Int(EVP_PKEY_get_bits(key)), group)
  }

  static func keyAlgorithm(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in 0..<chain.count {
      guard let key = key(chain, depth) else { continue }
      if key.id == EVP_PKEY_RSA { continue }
      if key.id == EVP_PKEY_EC, let group = key.group, ["prime256v1", "secp384r1", "secp521r1"].contains(group) {
        continue
      }
      let what = key.group.map { "an \(key.name) key on \($0)" } ?? "a \(key.name) key of \(key.bits) bits"
      return ProfileViolation(depth: depth, facts: "it has \(what)")
    }
    return nil
  }

  static func rsaModulus(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in 0..<chain.count {
      guard let key = key(chain, depth), key.id == EVP_PKEY_RSA else { continue }
      if key.bits < 2048 || key.bits % 8 != 0 {
        return ProfileViolation(depth: depth, facts: "its RSA modulus has \(key.bits) bits")
      }
    }
    return nil
  }

  static func authorityKeyIdentifier(_ chain: ProfileChain) -> ProfileViolation? {
    // The certificates of the path: how the trust anchor was issued is not the relying party's to
    // judge (RFC 5280 6.1 takes the anchor as an input, not as a certificate of the path).
    for depth in chain.issuedDepths where chain.flags(depth) & UInt32(EXFLAG_SS) == 0 {
      if unsafe X509_get0_authority_key_id(chain.certificate(depth)) == nil {
        let what =
          chain.has(depth, NID_authority_key_identifier)
          ? "its authority key identifier has no keyIdentifier" : "it has no authority key identifier"
        return ProfileViolation(depth: depth, facts: "it is not self-signed and \(what)")
      }
    }
    return nil
  }

  static func rootAuthorityKeyIdentifier(_ chain: ProfileChain) -> ProfileViolation? {
    guard let depth = chain.rootDepth, chain.has(depth, NID_authority_key_identifier) else { return nil }
    let root = unsafe chain.certificate(depth)
    if unsafe X509_get0_authority_issuer(root) != nil {
      return ProfileViolation(depth: depth, facts: "its authority key identifier has an authorityCertIssuer")
    }
    if unsafe X509_get0_authority_serial(root) != nil {
      return ProfileViolation(depth: depth, facts: "its authority key identifier has an authorityCertSerialNumber")
    }
    guard let keyIdentifier = unsafe X509_get0_authority_key_id(root) else {
      return ProfileViolation(depth: depth, facts: "its authority key identifier has no keyIdentifier")
    }
    let subjectKeyIdentifier = unsafe X509_get0_subject_key_id(root)
    if unsafe subjectKeyIdentifier == nil || ASN1_OCTET_STRING_cmp(keyIdentifier, subjectKeyIdentifier) != 0 {
      let aki = unsafe ASN1.bytes(keyIdentifier).hexString
      let ski = unsafe subjectKeyIdentifier.map { unsafe ASN1.bytes($0).hexString } ?? "absent"
      return ProfileViolation(
        depth: depth, facts: "its authority keyIdentifier \(aki) differs from its subject key identifier \(ski)")
    }
    return nil
  }

  static func rootExtendedKeyUsage(_ chain: ProfileChain) -> ProfileViolation? {
    guard let depth = chain.rootDepth, chain.has(depth, NID_ext_key_usage) else { return nil }
    return ProfileViolation(depth: depth, facts: "the root carries an extended key usage extension")
  }

  static func extendedKeyUsageNotEmpty(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in 0..<chain.count where chain.flags(depth) & UInt32(EXFLAG_XKUSAGE) != 0 {
      // Known purposes set bits; only a certificate without any needs the list counted.
      guard unsafe X509_get_extended_key_usage(chain.certificate(depth)) == 0 else { continue }
      let decoded = unsafe chain.decoded(
        depth, NID_ext_key_usage, free: { unsafe EXTENDED_KEY_USAGE_free(OpaquePointer($0)) }
      ) {
        unsafe oo_sk_ASN1_OBJECT_num(OpaquePointer($0))
      }
      if case .value(0) = decoded {
        return ProfileViolation(depth: depth, facts: "its extended key usage is an empty sequence")
      }
    }
    return nil
  }

  static func authorityInformationAccess(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in chain.issuedDepths where chain.has(depth, NID_info_access) {
      let decoded = unsafe chain.decoded(
        depth, NID_info_access, free: { unsafe AUTHORITY_INFO_ACCESS_free(OpaquePointer($0)) }
      ) {
        unsafe oo_sk_ACCESS_DESCRIPTION_num(OpaquePointer($0))
      }
      switch decoded {
      case .malformed:
        return ProfileViolation(depth: depth, facts: "its authority information access cannot be decoded")
      case .value(0):
        return ProfileViolation(depth: depth, facts: "its authority information access holds no access description")
      default: continue
      }
    }
    return nil
  }

  static func policyConstraintsCritical(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in 0..<chain.count where chain.extensionCriticality(depth, NID_policy_constraints) == false {
      return ProfileViolation(depth: depth, facts: "its policy constraints extension is not critical")
    }
    return nil
  }

  // MARK: - Name constraints

  static func nameConstraintsInCAOnly(_ chain: ProfileChain) -> ProfileViolation? {
    guard chain.count > 0, chain.has(0, NID_name_constraints) else { return nil }
    let critical = chain.extensionCriticality(0, NID_name_constraints) == true ? "critical" : "non-critical"
    return ProfileViolation(depth: 0, facts: "the leaf carries a \(critical) name constraints extension")
  }

  static func nameConstraintsNotEmpty(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in chain.caDepths {
      guard let constraints = chain.nameConstraints(depth) else {
        return ProfileViolation(depth: depth, facts: "its name constraints cannot be decoded")
      }
      guard let (permitted, excluded) = constraints else { continue }
      if permitted == nil && excluded == nil {
        return ProfileViolation(
          depth: depth, facts: "its name constraints have neither permitted nor excluded subtrees")
      }
      if permitted?.isEmpty == true || excluded?.isEmpty == true {
        let which = permitted?.isEmpty == true ? "permittedSubtrees" : "excludedSubtrees"
        return ProfileViolation(depth: depth, facts: "its name constraints' \(which) is an empty sequence")
      }
    }
    return nil
  }

  static func nameConstraintsDNSSyntax(_ chain: ProfileChain) -> ProfileViolation? {
    for depth in chain.caDepths {
      guard case .some(.some(let (permitted, excluded))) = chain.nameConstraints(depth) else { continue }
      for name in (permitted ?? []) + (excluded ?? []) {
        guard case .dnsName(let text) = name, !DNSNameSyntax.isPreferredName(text, wildcard: false) else { continue }
        return ProfileViolation(
          depth: depth, facts: "its name constraint dNSName \"\(text.visibleEscapes)\" is not a domain name")
      }
    }
    return nil
  }

  static func wildcardWithinNameConstraints(_ chain: ProfileChain) -> ProfileViolation? {
    let wildcards = chain.leafSubjectAlternativeNames.dns.filter { $0.hasPrefix("*.") }.map {
      String($0.dropFirst(2)).lowercased()
    }
    guard !wildcards.isEmpty else { return nil }
    for depth in chain.caDepths {
      guard case .some(.some(let (permitted, excluded))) = chain.nameConstraints(depth) else { continue }
      let permittedDNS = (permitted ?? []).compactMap { if case .dnsName(let t) = $0 { t.lowercased() } else { nil } }
      let excludedDNS = (excluded ?? []).compactMap { if case .dnsName(let t) = $0 { t.lowercased() } else { nil } }
      for base in wildcards {
        // *.base stands for label.base: inside a subtree E when base is inside E, or when E is
        // itself one label over base (E = label.base).
        for subtree in excludedDNS where DNSNameSyntax.isWithin(base, subtree) || DNSNameSyntax.parent(subtree) == base
        {
          return ProfileViolation(
            depth: 0,
            facts: "the wildcard \"*.\(base)\" stands for names in the subtree \"\(subtree)\" that "
              + "\"\(unsafe subjectText(chain.certificate(depth)))\" excludes")
        }
        if !permittedDNS.isEmpty && !permittedDNS.contains(where: { DNSNameSyntax.isWithin(base, $0) }) {
          return ProfileViolation(
            depth: 0,
            facts: "the wildcard \"*.\(base)\" stands for names outside the subtrees "
              + "\(permittedDNS.map { "\"\($0)\"" }.joined(separator: ", ")) that "
              + "\"\(unsafe subjectText(chain.certificate(depth)))\" permits")
        }
      }
    }
    return nil
  }

  // MARK: - The subscriber certificate

  static func subscriberBasicConstraints(_ chain: ProfileChain) -> ProfileViolation? {
    guard chain.count > 0, chain.flags(0) & UInt32(EXFLAG_CA) != 0 else { return nil }
    return ProfileViolation(depth: 0, facts: "the leaf's basicConstraints say cA TRUE")
  }

  static func subscriberKeyUsage(_ chain: ProfileChain) -> ProfileViolation? {
    guard chain.count > 0, chain.flags(0) & UInt32(EXFLAG_KUSAGE) != 0 else { return nil }
    let usage = unsafe X509_get_key_usage(chain.certificate(0))
    var found: [String] = []
    if usage & UInt32(KU_KEY_CERT_SIGN) != 0 { found.append("keyCertSign") }
    if usage & UInt32(KU_CRL_SIGN) != 0 { found.append("cRLSign") }
    guard !found.isEmpty else { return nil }
    return ProfileViolation(depth: 0, facts: "the leaf's key usage allows \(found.joined(separator: " and "))")
  }

  static func subscriberExtendedKeyUsage(_ chain: ProfileChain) -> ProfileViolation? {
    guard chain.count > 0 else { return nil }
    guard chain.flags(0) & UInt32(EXFLAG_XKUSAGE) != 0 else {
      return ProfileViolation(depth: 0, facts: "the leaf has no extended key usage")
    }
    let usage = unsafe X509_get_extended_key_usage(chain.certificate(0))
    if usage & UInt32(XKU_ANYEKU) != 0 {
      return ProfileViolation(depth: 0, facts: "the leaf's extended key usage includes anyExtendedKeyUsage")
    }
    if usage & UInt32(XKU_SSL_SERVER) == 0 {
      return ProfileViolation(depth: 0, facts: "the leaf's extended key usage does not include id-kp-serverAuth")
    }
    if chain.extensionCriticality(0, NID_ext_key_usage) == true {
      return ProfileViolation(depth: 0, facts: "the leaf's extended key usage is marked critical")
    }
    return nil
  }

  static func subscriberAlternativeNames(_ chain: ProfileChain) -> ProfileViolation? {
    guard chain.count > 0 else { return nil }
    guard let critical = chain.extensionCriticality(0, NID_subject_alt_name) else {
      return ProfileViolation(depth: 0, facts: "the leaf has no subject alternative names")
    }
    let subjectIsEmpty = unsafe X509_NAME_entry_count(X509_get_subject_name(chain.certificate(0))) == 0
    if critical != subjectIsEmpty {
      return ProfileViolation(
        depth: 0,
        facts: subjectIsEmpty
          ? "the leaf's subject is empty and its subject alternative names are not critical"
          : "the leaf's subject is not empty and its subject alternative names are critical")
    }
    return nil
  }

  static func dnsNameSyntax(_ chain: ProfileChain) -> ProfileViolation? {
    guard chain.count > 0 else { return nil }
    for name in chain.leafSubjectAlternativeNames.dns where !DNSNameSyntax.isPreferredName(name, wildcard: true) {
      return ProfileViolation(
        depth: 0, facts: "the leaf's dNSName \"\(name.visibleEscapes)\" is not in preferred name syntax")
    }
    return nil
  }

  static func wildcardOverPublicSuffix(_ chain: ProfileChain, _ list: PublicSuffixList) -> ProfileViolation? {
    guard let name = chain.matchedName, name.hasPrefix("*.") else { return nil }
    let base = String(name.dropFirst(2))
    guard list.isPublicSuffix(base) else { return nil }
    return ProfileViolation(
      depth: 0,
      facts: "the host name matched only the leaf's dNSName \"\(name.visibleEscapes)\", a wildcard over the public "
        + "suffix \"\(base.visibleEscapes)\"")
  }

  static func subscriberCommonName(_ chain: ProfileChain) -> ProfileViolation? {
    guard chain.count > 0, let subject = unsafe X509_get_subject_name(chain.certificate(0)) else { return nil }
    var commonNames: [String] = []
    var index: Int32 = -1
    while true {
      index = unsafe X509_NAME_get_index_by_NID(subject, NID_commonName, index)
      guard index >= 0 else { break }
      commonNames.append(unsafe ASN1.utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index))))
    }
    guard let commonName = commonNames.first else { return nil }
    if commonNames.count > 1 {
      return ProfileViolation(depth: 0, facts: "the leaf's subject has \(commonNames.count) common names")
    }
    let names = chain.leafSubjectAlternativeNames
    if let address = CommonName.address(commonName) {
      // An address: one of the SAN's addresses, in its one text form.
      guard !names.ip.isEmpty else { return nil }
      let canonical = GeneralName.ipText(address)
      if names.ip.contains(address) && canonical == commonName { return nil }
      return ProfileViolation(
        depth: 0,
        facts: names.ip.contains(address)
          ? "the leaf's common name \"\(commonName.visibleEscapes)\" spells the address \(canonical) of its subject "
            + "alternative names otherwise than \"\(canonical)\" (RFC 3986 3.2.2 / RFC 5952 4)"
          : "the leaf's common name \"\(commonName.visibleEscapes)\" is none of its subject alternative names' "
            + "addresses (\(names.ip.map(GeneralName.ipText).joined(separator: ", ")))")
    }
    // A domain name: LDH labels (P-labels are never turned into Unicode), and one of the SAN's
    // DNS names character for character, or a domain one of them lies under.
    if !DNSNameSyntax.isPreferredName(commonName, wildcard: true) {
      return ProfileViolation(
        depth: 0, facts: "the leaf's common name \"\(commonName.visibleEscapes)\" is not a domain name in LDH labels")
    }
    guard !names.dns.isEmpty, !names.dns.contains(where: { CommonName.isCovered(commonName, by: $0) }) else {
      return nil
    }
    return ProfileViolation(
      depth: 0,
      facts: "the leaf's common name \"\(commonName.visibleEscapes)\" is not a character-for-character copy of one of "
        + "its dNSNames (\(names.dns.map { "\"\($0.visibleEscapes)\"" }.joined(separator: ", ")))")
  }

  // MARK: - CRLs

  static func crlNumber(_ chain: ProfileChain) -> ProfileViolation? {
    guard let context = unsafe chain.context,
      unsafe X509_VERIFY_PARAM_get_flags(X509_STORE_CTX_get0_param(context)) & UInt(X509_V_FLAG_CRL_CHECK) != 0,
      let store = unsafe X509_STORE_CTX_get0_store(context)
    else { return nil }
    _ = unsafe X509_STORE_lock(store)
    defer { _ = unsafe X509_STORE_unlock(store) }
    guard let objects = unsafe X509_STORE_get0_objects(store) else { return nil }
    for index in unsafe 0..<oo_sk_X509_OBJECT_num(objects) {
      guard let object = unsafe oo_sk_X509_OBJECT_value(objects, index),
        let crl = unsafe X509_OBJECT_get0_X509_CRL(object),
        unsafe X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1) < 0
      else { continue }
      // The CRL of a CA in the chain covers the certificates that CA issued.
      for depth in 1..<max(chain.count, 1)
      where unsafe X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(chain.certificate(depth))) == 0 {
        return ProfileViolation(
          depth: depth - 1,
          facts: "the CRL of \"\(unsafe subjectText(chain.certificate(depth)))\" that checked it has no CRL number")
      }
    }
    return nil
  }

  /// A certificate's subject in RFC 2253 form, escaped for text.
  private static func subjectText(_ certificate: OpaquePointer) -> String {
    unsafe X509Name(copyingBorrowed: X509_get_subject_name(certificate)).rfc2253.visibleEscapes
  }
}

/// Reading a subscriber certificate's common name as a subject alternative name value.
enum CommonName {
  /// The address a common name spells, in any text form a resolver accepts (`inet_aton`: also
  /// hexadecimal, octal and leading zeros; `inet_pton` for IPv6), or `nil` if it is no address.
  static func address(_ text: String) -> [UInt8]? {
    guard !text.isEmpty, text.utf8.allSatisfy({ $0 < 0x80 && $0 != 0 }) else { return nil }
    var v4 = in_addr()
    if text.contains(".") || text.lowercased().hasPrefix("0x"), unsafe inet_aton(text, &v4) != 0 {
      return unsafe withUnsafeBytes(of: v4) { unsafe Array($0) }
    }
    var v6 = in6_addr()
    if text.contains(":"), unsafe inet_pton(AF_INET6, text, &v6) == 1 {
      return unsafe withUnsafeBytes(of: v6) { unsafe Array($0) }
    }
    return nil
  }

  /// Whether the common name is the dNSName `name` character for character, or a domain `name`
  /// lies under (for a wildcard `*.domain`: `domain` or a domain above it).
  static func isCovered(_ commonName: String, by name: String) -> Bool {
    if commonName == name { return true }
    let below = name.hasPrefix("*.") ? String(name.dropFirst(2)) : name
    return below == commonName || below.hasSuffix("." + commonName)
  }
}

/// Domain names in the preferred name syntax of RFC 1034 3.5 as RFC 1123 2.1 relaxes it.
enum DNSNameSyntax {
  /// Whether `name` is letters, digits and hyphens in labels of 1 to 63 characters that neither
  /// start nor end with a hyphen, at most 253 characters in all, without a leading or trailing
  /// dot; with `wildcard`, the first label may be exactly `*`.
  static func isPreferredName(_ name: String, wildcard: Bool) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= 253 else { return false }
    var labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
    if wildcard, labels.count > 1, labels[0].elementsEqual([UInt8(ascii: "*")]) { labels.removeFirst() }
    return labels.allSatisfy { label in
      guard !label.isEmpty, label.count <= 63, label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else {
        return false
      }
      return label.allSatisfy { byte in
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
          || byte == UInt8(ascii: "-")
      }
    }
  }

  /// Whether `name` is `subtree` or below it (lower-case names).
  static func isWithin(_ name: String, _ subtree: String) -> Bool {
    subtree.isEmpty || name == subtree || name.hasSuffix("." + subtree)
  }

  /// The name without its first label, or `nil` for a single label.
  static func parent(_ name: String) -> String? {
    name.firstIndex(of: ".").map { String(name[name.index(after: $0)...]) }
  }
}
