import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The strict Web PKI profile: each rule on certificates made for it, refused with the profile,
/// accepted by OpenSSL's own verification without it (so the rule is what refuses), and its
/// neighbour that stays accepted.
@Suite("Web PKI profile: one rule at a time, on top of OpenSSL's verification")
struct WebPKIProfileTests {
  static let host = "www.example.test"

  /// A root, an intermediate and a leaf that satisfy the profile; each closure adjusts one.
  struct Chain {
    var rootKey: PrivateKey
    var root: X509Certificate
    var intermediateKey: PrivateKey
    var intermediate: X509Certificate
    var leaf: X509Certificate

    init(
      rootKeyType: PrivateKey.KeyType = .ec(.p256),
      intermediateKeyType: PrivateKey.KeyType = .ec(.p256),
      leafKey: PrivateKey? = nil,
      root adjustRoot: (inout CertificateBuilder) throws -> Void = { _ in },
      intermediate adjustIntermediate: (inout CertificateBuilder) throws -> Void = { _ in },
      leaf adjustLeaf: (inout CertificateBuilder) throws -> Void = { _ in }
    ) throws {
      rootKey = try PrivateKey(generating: rootKeyType)
      root = try TestPKI.makeCA(name: "Profile Root", key: rootKey, adjust: adjustRoot)
      intermediateKey = try PrivateKey(generating: intermediateKeyType)
      intermediate = try TestPKI.makeCA(
        name: "Profile Intermediate", key: intermediateKey, issuerKey: rootKey, issuer: root,
        adjust: adjustIntermediate)
      var builder = try TestPKI.leafBuilder(name: host, key: try leafKey ?? PrivateKey(generating: .ec(.p256)))
      builder.extendedKeyUsage = [.serverAuth]
      builder.keyUsage = [.digitalSignature]
      builder.basicConstraints = nil
      try adjustLeaf(&builder)
      leaf = try builder.sign(with: intermediateKey, issuerCertificate: intermediate)
    }

    func store(crls: [X509CRL] = []) throws -> X509Store {
      let store = X509Store()
      try store.add(root)
      for crl in crls { try store.add(crl) }
      return store
    }

    /// Verifies without the profile (must succeed: OpenSSL accepts the chain), then with it.
    /// Returns the refusing rule's name, or `nil` when the profile accepts too.
    func profileVerdict(
      host: String? = WebPKIProfileTests.host, flags: VerificationFlags = [], crls: [X509CRL] = [],
      sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String? {
      var policy = VerificationPolicy()
      policy.host = host
      policy.flags = flags
      _ = try store(crls: crls).verify(leaf, untrusted: [intermediate], policy: policy)
      policy.profile = try .webPKI()
      do {
        _ = try store(crls: crls).verify(leaf, untrusted: [intermediate], policy: policy)
        return nil
      } catch let error as VerificationError {
        let rule = try #require(error.profileRule, "not a profile refusal: \(error)", sourceLocation: sourceLocation)
        #expect(error.code == .applicationVerification, sourceLocation: sourceLocation)
        #expect(error.explanation.contains(rule.citation), sourceLocation: sourceLocation)
        #expect(error.explanation.contains("rule \(rule.name)"), sourceLocation: sourceLocation)
        return rule.name
      }
    }
  }

  static func raw(_ oid: String, critical: Bool = false, _ value: [UInt8]) -> X509Extension {
    X509Extension(oid: OID(oid), isCritical: critical, value: value)
  }

  /// `certificate` with its TBSCertificate changed by `edit` and signed again by `key` (SHA-256),
  /// keeping the signature algorithm: a certificate the builder would not make.
  static func resigned(
    _ certificate: X509Certificate, by key: PrivateKey, edit: (inout [UInt8]) -> Void
  ) throws -> X509Certificate {
    let der = certificate.derEncoded
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    func element(at offset: Int) -> Range<Int> {
      let first = Int(der[offset + 1])
      if first < 0x80 { return offset..<offset + 2 + first }
      let count = first & 0x7f
      let length = der[offset + 2..<offset + 2 + count].reduce(0) { $0 << 8 | Int($1) }
      return offset..<offset + 2 + count + length
    }
    func encoded(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
      if content.count < 0x80 { return [tag, UInt8(content.count)] + content }
      var length: [UInt8] = []
      var remaining = content.count
      while remaining > 0 {
        length.insert(UInt8(remaining & 0xff), at: 0)
        remaining >>= 8
      }
      return [tag, 0x80 | UInt8(length.count)] + length + content
    }
    let outer = element(at: 0)
    let contentStart = outer.lowerBound + (der[1] < 0x80 ? 2 : 2 + Int(der[1] & 0x7f))
    let tbsRange = element(at: contentStart)
    let algorithm = Array(der[element(at: tbsRange.upperBound)])
    var tbs = Array(der[tbsRange])
    edit(&tbs)
    let signature = try key.signature(for: tbs, digest: .sha256)
    return try X509Certificate(derEncoded: encoded(0x30, tbs + algorithm + encoded(0x03, [0] + signature)))
  }

  /// A key made by the `openssl` tool (DSA, P-192), which the library does not generate: each
  /// command's arguments, `KEY` and `PARAMS` standing for files of a temporary directory.
  static func opensslKey(_ commands: [[String]]) throws -> PrivateKey {
    let directory = try TemporaryDirectory("profile-key")
    for command in commands {
      let arguments = command.map {
        $0 == "KEY" ? directory.file("key.pem") : $0 == "PARAMS" ? directory.file("params.pem") : $0
      }
      let result = try ChildProcess.run("openssl", arguments)
      #expect(result.status == 0, "\(result.output)")
    }
    return try PrivateKey(contentsOfFile: directory.file("key.pem"))
  }

  // MARK: - The profile as a whole

  @Test func aConformingChainPassesAndTheProfileListsItsRules() throws {
    #expect(try Chain().profileVerdict() == nil)
    let profile = try VerificationProfile.webPKI()
    #expect(profile.name == "webpki")
    #expect(profile.rules.count == 22)
    #expect(Set(profile.rules.map(\.name)).count == profile.rules.count)
    for rule in profile.rules {
      #expect(rule.citation.contains("RFC 5280") || rule.citation.contains("BR"), "\(rule)")
    }
  }

  @Test func openSSLChecksRunFirstAndStay() throws {
    // Expired: OpenSSL's own error, never a profile's.
    let chain = try Chain(leaf: { $0.notAfter = Date(timeIntervalSinceNow: -60) })
    var policy = try VerificationPolicy.webPKI(host: Self.host)
    let error = try caught(VerificationError.self) {
      _ = try chain.store().verify(chain.leaf, untrusted: [chain.intermediate], policy: policy)
    }
    #expect(error.code == .certificateHasExpired)
    #expect(error.profileRule == nil)
    // The host name is OpenSSL's check too.
    policy.host = "other.example.test"
    let mismatch = try caught(VerificationError.self) {
      _ = try Chain().store().verify(Chain().leaf, untrusted: [], policy: policy)
    }
    #expect(mismatch.profileRule == nil)
  }

  @Test func aRuleCanBeLeftOut() throws {
    let chain = try Chain(leaf: { $0.extendedKeyUsage = nil })
    var policy = VerificationPolicy(host: Self.host)
    policy.profile = try VerificationProfile.webPKI().excluding("subscriber-extended-key-usage")
    _ = try chain.store().verify(chain.leaf, untrusted: [chain.intermediate], policy: policy)
    #expect(policy.profile?.rules.contains { $0.name == "subscriber-extended-key-usage" } == false)
  }

  @Test func aChainCheckedOutsideAVerification() throws {
    let chain = try Chain(leaf: { $0.extendedKeyUsage = [.serverAuth, .anyExtendedKeyUsage] })
    let profile = try VerificationProfile.webPKI()
    let error = try caught(VerificationError.self) {
      try profile.check(chain: [chain.leaf, chain.intermediate, chain.root], host: Self.host)
    }
    #expect(error.profileRule?.name == "subscriber-extended-key-usage")
    #expect(error.depth == 0)
    try profile.check(chain: [try Chain().leaf, chain.intermediate, chain.root])
  }

  // MARK: - Every certificate

  @Test func version() throws {
    // Version 1 and 2 leaves without extensions, which the builder makes on every OpenSSL: OpenSSL
    // accepts them (no host: without a SAN there is no name to match), the profile does not.
    for version in [1, 2] {
      let bare = try Chain(leaf: {
        $0.version = version
        $0.subjectAlternativeNames = nil
        $0.keyUsage = nil
        $0.extendedKeyUsage = nil
        $0.subjectKeyIdentifier = .none
        $0.authorityKeyIdentifier = .none
      })
      #expect(bare.leaf.version == version)
      #expect(try bare.profileVerdict(host: nil) == "certificate-version", "version \(version)")
    }
    // A version 2 leaf with extensions. The builder refuses to sign one on every OpenSSL (3.0's
    // X509_sign would write it, 3.2 and later's make it version 3), so it is made by hand: a v3
    // leaf's version byte changed and its TBS signed again by the issuer.
    let chain = try Chain()
    var builder = try TestPKI.leafBuilder(name: Self.host, key: PrivateKey(generating: .ec(.p256)))
    builder.version = 2
    let error = try caught(InputError.self) {
      _ = try builder.sign(with: chain.intermediateKey, issuerCertificate: chain.intermediate)
    }
    #expect(error.object == "version" && error.detail.contains("cannot carry extensions"), "\(error)")
    var withExtensions = chain
    withExtensions.leaf = try Self.resigned(chain.leaf, by: chain.intermediateKey) { tbs in
      // TBSCertificate ::= SEQUENCE { version [0] EXPLICIT INTEGER (2 for v3), ... }
      let header = tbs[1] < 0x80 ? 2 : 2 + Int(tbs[1] & 0x7f)
      #expect(Array(tbs[header..<header + 5]) == [0xA0, 0x03, 0x02, 0x01, 0x02])
      tbs[header + 4] = 0x01
    }
    #expect(withExtensions.leaf.version == 2 && !withExtensions.leaf.extensions.isEmpty)
    #expect(try withExtensions.profileVerdict() == "certificate-version")
    // OpenSSL's own rule for it (RFC 5280 4.1.2.9) applies only in strict mode, on every version.
    var strict = VerificationPolicy(host: Self.host)
    strict.flags = .x509Strict
    let refused = try caught(VerificationError.self) {
      _ = try withExtensions.store().verify(withExtensions.leaf, untrusted: [chain.intermediate], policy: strict)
    }
    #expect(refused.code.name == "X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3" && refused.depth == 0, "\(refused)")
  }

  @Test func serialNumbers() throws {
    func verdict(_ serial: SerialNumber) throws -> String? {
      try Chain(leaf: { $0.serialNumber = serial }).profileVerdict()
    }
    #expect(try verdict(SerialNumber(0)) == "serial-number")
    #expect(try verdict(SerialNumber(magnitude: [0x05], isNegative: true)) == "serial-number")
    // 20 bytes with the high bit set are 21 octets in DER; with it clear, 20.
    #expect(try verdict(SerialNumber(magnitude: [0x80] + Array(repeating: 1, count: 19))) == "serial-number")
    #expect(try verdict(SerialNumber(magnitude: [0x7f] + Array(repeating: 1, count: 19))) == nil)
    #expect(try verdict(SerialNumber(1)) == nil)
  }

  @Test func keyAlgorithms() throws {
    #expect(try Chain(leafKey: PrivateKey(generating: .ed25519)).profileVerdict() == "public-key-algorithm")
    let dsa = try Self.opensslKey([
      ["genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024", "-out", "PARAMS"],
      ["genpkey", "-paramfile", "PARAMS", "-out", "KEY"],
    ])
    #expect(try Chain(leafKey: dsa).profileVerdict() == "public-key-algorithm")
    let p192 = try Self.opensslKey([
      ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-192", "-out", "KEY"]
    ])
    #expect(try Chain(leafKey: p192).profileVerdict() == "public-key-algorithm")
    // The root's key counts too.
    #expect(try Chain(rootKeyType: .ed25519).profileVerdict() == "public-key-algorithm")
    for accepted in [PrivateKey.KeyType.ec(.p384), .ec(.p521), .rsa(bits: 2048)] {
      #expect(try Chain(leafKey: PrivateKey(generating: accepted)).profileVerdict() == nil, "\(accepted)")
    }
  }

  @Test func rsaModulusSizes() throws {
    #expect(try Chain(leafKey: PrivateKey(generating: .rsa(bits: 2052))).profileVerdict() == "rsa-modulus-size")
    #expect(try Chain(leafKey: PrivateKey(generating: .rsa(bits: 1024))).profileVerdict() == "rsa-modulus-size")
    #expect(try Chain(intermediateKeyType: .rsa(bits: 2052)).profileVerdict() == "rsa-modulus-size")
    #expect(try Chain(leafKey: PrivateKey(generating: .rsa(bits: 3072))).profileVerdict() == nil)
  }

  @Test func authorityKeyIdentifiers() throws {
    #expect(try Chain(leaf: { $0.authorityKeyIdentifier = .none }).profileVerdict() == "authority-key-identifier")
    #expect(
      try Chain(intermediate: { $0.authorityKeyIdentifier = .none }).profileVerdict() == "authority-key-identifier")
    // An identifier by the issuer's issuer and serial number, without the keyIdentifier.
    var byName = try Chain()
    var builder = try TestPKI.leafBuilder(name: Self.host, key: try PrivateKey(generating: .ec(.p256)))
    builder.extendedKeyUsage = [.serverAuth]
    builder.authorityKeyIdentifier = .explicit(
      AuthorityKeyIdentifier(
        keyIdentifier: nil, issuer: [.directoryName(byName.root.subject)],
        serialNumber: byName.intermediate.serialNumber))
    byName.leaf = try builder.sign(with: byName.intermediateKey, issuerCertificate: byName.intermediate)
    #expect(try byName.profileVerdict() == "authority-key-identifier")
    // A self-signed root needs none, and a trust anchor is not judged by how it was issued.
    #expect(try Chain(root: { $0.authorityKeyIdentifier = .none }).profileVerdict() == nil)
    let chain = try Chain(intermediate: { $0.authorityKeyIdentifier = .none })
    var policy = VerificationPolicy(host: Self.host)
    policy.flags = .partialChain
    policy.profile = try .webPKI()
    let anchored = X509Store()
    try anchored.add(chain.intermediate)
    _ = try anchored.verify(chain.leaf, policy: policy)
  }

  @Test func rootAuthorityKeyIdentifiers() throws {
    let rootName = try X509Name(["CN": "Profile Root", "O": "OpenSSLObjects Tests"])
    let cases: [AuthorityKeyIdentifier] = [
      AuthorityKeyIdentifier(keyIdentifier: [1, 2, 3], issuer: [.directoryName(rootName)]),
      AuthorityKeyIdentifier(keyIdentifier: [1, 2, 3], serialNumber: SerialNumber(9)),
      AuthorityKeyIdentifier(keyIdentifier: nil, issuer: [.directoryName(rootName)], serialNumber: SerialNumber(9)),
    ]
    for value in cases {
      let chain = try Chain(root: {
        $0.subjectKeyIdentifier = .explicit([1, 2, 3])
        $0.authorityKeyIdentifier = .explicit(value)
      })
      #expect(try chain.profileVerdict(flags: .partialChain) == "root-authority-key-identifier", "\(value)")
    }
    let mismatched = try Chain(root: {
      $0.subjectKeyIdentifier = .explicit([1, 2, 3])
      $0.authorityKeyIdentifier = .explicit(AuthorityKeyIdentifier(keyIdentifier: [4, 5, 6]))
    })
    #expect(try mismatched.profileVerdict(flags: .partialChain) == "root-authority-key-identifier")
    #expect(try Chain(root: { $0.subjectKeyIdentifier = .explicit([1, 2, 3]) }).profileVerdict() == nil)
  }

  @Test func rootExtendedKeyUsage() throws {
    #expect(try Chain(root: { $0.extendedKeyUsage = [.serverAuth] }).profileVerdict() == "root-extended-key-usage")
  }

  @Test func emptyExtendedKeyUsage() throws {
    let empty = Self.raw("2.5.29.37", [0x30, 0x00])
    #expect(
      try Chain(leaf: {
        $0.extendedKeyUsage = nil
        $0.rawExtensions = [empty]
      }).profileVerdict() == "extended-key-usage-not-empty")
  }

  @Test func authorityInformationAccess() throws {
    let emptyAIA = Self.raw("1.3.6.1.5.5.7.1.1", [0x30, 0x00])
    #expect(try Chain(leaf: { $0.rawExtensions = [emptyAIA] }).profileVerdict() == "authority-information-access")
    // An access description whose location is not a GeneralName.
    let malformed = Self.raw("1.3.6.1.5.5.7.1.1", [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00])
    #expect(try Chain(leaf: { $0.rawExtensions = [malformed] }).profileVerdict() == "authority-information-access")
    #expect(
      try Chain(leaf: { $0.setAuthorityInformationAccess(ocsp: ["http://ocsp.example.test/"]) }).profileVerdict() == nil
    )
  }

  @Test func policyConstraintsAreCritical() throws {
    // inhibitPolicyMapping 0.
    let value: [UInt8] = [0x30, 0x03, 0x81, 0x01, 0x00]
    #expect(
      try Chain(intermediate: { $0.rawExtensions = [Self.raw("2.5.29.36", value)] }).profileVerdict()
        == "policy-constraints-critical")
    #expect(
      try Chain(intermediate: { $0.rawExtensions = [Self.raw("2.5.29.36", critical: true, value)] }).profileVerdict()
        == nil)
  }

  // MARK: - Name constraints

  @Test func nameConstraintsOnlyInCAs() throws {
    for critical in [true, false] {
      let chain = try Chain(leaf: {
        $0.nameConstraints = NameConstraints(permitted: [.dnsName("example.test")])
        $0.criticality[OID("2.5.29.30")] = critical
      })
      #expect(try chain.profileVerdict() == "name-constraints-in-ca-only")
    }
  }

  @Test func nameConstraintsHaveSubtrees() throws {
    for value: [UInt8] in [[0x30, 0x00], [0x30, 0x02, 0xA0, 0x00], [0x30, 0x02, 0xA1, 0x00]] {
      let chain = try Chain(intermediate: { $0.rawExtensions = [Self.raw("2.5.29.30", critical: true, value)] })
      #expect(try chain.profileVerdict() == "name-constraints-not-empty", "\(value)")
    }
  }

  @Test func nameConstraintsAreDomainNames() throws {
    let leading = try Chain(intermediate: {
      $0.nameConstraints = NameConstraints(permitted: [.dnsName(".example.test")])
    })
    #expect(try leading.profileVerdict() == "name-constraints-dns-syntax")
    let plain = try Chain(intermediate: { $0.nameConstraints = NameConstraints(permitted: [.dnsName("example.test")]) })
    #expect(try plain.profileVerdict() == nil)
  }

  @Test func wildcardsStayWithinNameConstraints() throws {
    func chain(excluded: String) throws -> Chain {
      try Chain(
        intermediate: { $0.nameConstraints = NameConstraints(excluded: [.dnsName(excluded)]) },
        leaf: {
          $0.subject = try X509Name(["CN": "*.example.test"])
          $0.subjectAlternativeNames = [.dnsName("*.example.test")]
        })
    }
    // OpenSSL compares "*.example.test" literally and lets it through; the wildcard stands for
    // bad.example.test, which the CA excludes.
    #expect(try chain(excluded: "bad.example.test").profileVerdict() == "wildcard-within-name-constraints")
    #expect(try chain(excluded: "deep.bad.example.test").profileVerdict() == nil)
    #expect(try chain(excluded: "other.test").profileVerdict() == nil)
  }

  // MARK: - The subscriber certificate

  @Test func subscriberIsNotACA() throws {
    #expect(
      try Chain(leaf: { $0.basicConstraints = BasicConstraints(isCA: true) }).profileVerdict()
        == "subscriber-basic-constraints")
    #expect(try Chain(leaf: { $0.basicConstraints = BasicConstraints(isCA: false) }).profileVerdict() == nil)
  }

  @Test func subscriberKeyUsage() throws {
    #expect(
      try Chain(leaf: { $0.keyUsage = [.digitalSignature, .keyCertSign] }).profileVerdict() == "subscriber-key-usage")
    #expect(
      try Chain(leaf: { $0.keyUsage = [.digitalSignature, .cRLSign] }).profileVerdict() == "subscriber-key-usage")
  }

  @Test func subscriberExtendedKeyUsage() throws {
    let refused: [(inout CertificateBuilder) -> Void] = [
      { $0.extendedKeyUsage = nil },
      { $0.extendedKeyUsage = [.serverAuth, .anyExtendedKeyUsage] },
      { $0.extendedKeyUsage = [.clientAuth] },
      { $0.criticality[OID("2.5.29.37")] = true },
    ]
    for adjust in refused {
      #expect(try Chain(leaf: adjust).profileVerdict() == "subscriber-extended-key-usage")
    }
    #expect(try Chain(leaf: { $0.extendedKeyUsage = [.serverAuth, .clientAuth] }).profileVerdict() == nil)
  }

  @Test func subscriberAlternativeNames() throws {
    #expect(
      try Chain(leaf: { $0.subjectAlternativeNames = nil }).profileVerdict(host: nil) == "subscriber-alternative-names")
    let critical = try Chain(leaf: { $0.criticality[OID("2.5.29.17")] = true })
    #expect(try critical.profileVerdict() == "subscriber-alternative-names")
    let emptySubject = try Chain(leaf: { $0.subject = try X509Name([X509Name.Entry]()) })
    #expect(try emptySubject.profileVerdict() == "subscriber-alternative-names")
    let emptyAndCritical = try Chain(leaf: {
      $0.subject = try X509Name([X509Name.Entry]())
      $0.criticality[OID("2.5.29.17")] = true
    })
    #expect(try emptyAndCritical.profileVerdict() == nil)
  }

  @Test(arguments: ["foo_bar.example.test", ".example.test", "f*o.example.test", "*.*.example.test", "example.test."])
  func dnsNamesAreInPreferredSyntax(name: String) throws {
    let chain = try Chain(leaf: { $0.subjectAlternativeNames = [.dnsName(Self.host), .dnsName(name)] })
    #expect(try chain.profileVerdict() == "dns-name-syntax")
  }

  @Test func dnsNameSyntaxAcceptsWhatDNSAllows() throws {
    let long = String(repeating: "a", count: 63) + ".example.test"
    let names = ["*.example.test", "xn--n3h.example.test", "a-b.example.test", "1.example.test", long, "EXAMPLE.test"]
    let chain = try Chain(leaf: { $0.subjectAlternativeNames = [.dnsName(Self.host)] + names.map { .dnsName($0) } })
    #expect(try chain.profileVerdict() == nil)
    let tooLong = try Chain(leaf: {
      $0.subjectAlternativeNames = [.dnsName(Self.host), .dnsName(String(repeating: "a", count: 64) + ".test")]
    })
    #expect(try tooLong.profileVerdict() == "dns-name-syntax")
  }

  @Test func wildcardsOverPublicSuffixesVouchForNothing() throws {
    func verdict(_ names: [String], host: String) throws -> String? {
      try Chain(leaf: {
        $0.subject = try X509Name(["O": "Example"])
        $0.subjectAlternativeNames = names.map { .dnsName($0) }
      }).profileVerdict(host: host)
    }
    #expect(try verdict(["*.co.uk"], host: "example.co.uk") == "wildcard-over-public-suffix")
    #expect(try verdict(["*.s3.amazonaws.com"], host: "bucket.s3.amazonaws.com") == "wildcard-over-public-suffix")
    #expect(try verdict(["*.example.co.uk"], host: "www.example.co.uk") == nil)
    // The exact name matched, not the wildcard beside it.
    #expect(try verdict(["*.s3.amazonaws.com", "s3.amazonaws.com"], host: "s3.amazonaws.com") == nil)
  }

  @Test func commonNames() throws {
    func verdict(_ commonNames: [String], _ names: [GeneralName], host: String? = nil) throws -> String? {
      try Chain(leaf: {
        $0.subject = try X509Name(commonNames.map { X509Name.Entry("CN", $0) })
        $0.subjectAlternativeNames = names
      }).profileVerdict(host: host)
    }
    let dns = GeneralName.dnsName(Self.host)
    let v4 = try #require(GeneralName.ipAddress("192.0.2.1"))
    let v6 = try #require(GeneralName.ipAddress("2001:db8::8a2e:370:7334"))
    #expect(try verdict(["WWW.Example.test"], [dns]) == "subscriber-common-name")
    #expect(try verdict(["other.example.test"], [dns]) == "subscriber-common-name")
    #expect(try verdict(["ex\u{E4}mple.test"], [dns]) == "subscriber-common-name")
    #expect(try verdict([Self.host, Self.host], [dns]) == "subscriber-common-name")
    #expect(try verdict(["0xC0000201"], [v4], host: nil) == "subscriber-common-name")
    #expect(try verdict(["192.000.002.001"], [v4], host: nil) == "subscriber-common-name")
    #expect(try verdict(["2001:DB8::8A2E:370:7334"], [v6], host: nil) == "subscriber-common-name")
    #expect(try verdict(["192.0.2.2"], [v4], host: nil) == "subscriber-common-name")
    #expect(try verdict([Self.host], [dns]) == nil)
    #expect(try verdict(["192.0.2.1"], [v4], host: nil) == nil)
    #expect(try verdict(["2001:db8::8a2e:370:7334"], [v6], host: nil) == nil)
    // The partial reading (docs/CONFORMANCE.md): a domain the SAN's names lie under, and a CN of a
    // kind the SAN does not list, are not refused.
    #expect(try verdict(["example.test"], [dns]) == nil)
    #expect(try verdict(["example.test"], [.dnsName("*.example.test")], host: "a.example.test") == nil)
    #expect(try verdict(["example.test"], [v4], host: nil) == nil)
  }

  // MARK: - CRLs

  @Test func crlsCarryANumber() throws {
    let chain = try Chain()
    func crl(number: SerialNumber?, key: PrivateKey, issuer: X509Certificate) throws -> X509CRL {
      var builder = CRLBuilder()
      builder.crlNumber = number
      return try builder.sign(with: key, issuerCertificate: issuer)
    }
    let flags: VerificationFlags = [.crlCheck, .crlCheckAll]
    let numbered = [
      try crl(number: SerialNumber(1), key: chain.rootKey, issuer: chain.root),
      try crl(number: SerialNumber(1), key: chain.intermediateKey, issuer: chain.intermediate),
    ]
    #expect(try chain.profileVerdict(flags: flags, crls: numbered) == nil)
    let unnumbered = [numbered[0], try crl(number: nil, key: chain.intermediateKey, issuer: chain.intermediate)]
    #expect(try chain.profileVerdict(flags: flags, crls: unnumbered) == "crl-number")
  }

  // MARK: - TLS

  @Test func aTLSClientWithTheProfileRefusesWhatOpenSSLAccepts() async throws {
    let serverKey = try PrivateKey(generating: .ec(.p256))
    let chain = try Chain(leafKey: serverKey, leaf: { $0.criticality[OID("2.5.29.17")] = true })
    let server = try SSLContext(
      configuration: .server([
        CertificateChain(certificate: chain.leaf, chain: [chain.intermediate], privateKey: serverKey)
      ]))
    var configuration = TLSConfiguration.client
    configuration.trust = .certificates([chain.root])
    let plain = try SSLContext(configuration: configuration)
    try await TLSPair.handshake(
      client: plain.makeConnection(serverName: Self.host), server: server.makeConnection())
    configuration.verification.profile = try .webPKI()
    let strict = try SSLContext(configuration: configuration)
    let error = try await caught(TLSError.self) {
      try await TLSPair.handshake(client: strict.makeConnection(serverName: Self.host), server: server.makeConnection())
    }
    #expect(error.verification?.profileRule?.name == "subscriber-alternative-names", "\(error)")
    #expect(error.verification?.depth == 0)
  }
}

@Suite("Public Suffix List: the system's copy, loaded once")
struct PublicSuffixListTests {
  @Test func theSystemListKnowsBothSections() throws {
    let list = try PublicSuffixList.system
    #expect(list.ruleCount > 5_000)
    for suffix in ["com", "co.uk", "s3.amazonaws.com", "xn--55qx5d.cn", "anything-unlisted"] {
      #expect(list.isPublicSuffix(suffix), "\(suffix)")
    }
    for domain in ["example.com", "example.co.uk", "bucket.s3.amazonaws.com", "example.xn--55qx5d.cn"] {
      #expect(!list.isPublicSuffix(domain), "\(domain)")
    }
  }

  @Test func wildcardAndExceptionRules() throws {
    let list = try PublicSuffixList(text: "// comment\nck\n*.ck\n!www.ck\n公司.cn extra words\n")
    #expect(list.ruleCount == 4)
    #expect(list.isPublicSuffix("anything.ck"))
    #expect(!list.isPublicSuffix("www.ck"))
    #expect(!list.isPublicSuffix("deeper.anything.ck"))
    #expect(list.isPublicSuffix("公司.cn"))
    #expect(list.isPublicSuffix("xn--55qx5d.cn"))
  }

  @Test func aMissingListIsAClearError() throws {
    let error = try caught(InputError.self) {
      _ = try PublicSuffixList(contentsOfFile: "/nonexistent/public_suffix_list.dat")
    }
    #expect(error.reason == .unreadableFile)
    #expect(error.detail.contains("publicsuffix package"))
    #expect(try caught(InputError.self) { _ = try PublicSuffixList(text: "// only comments\n") }.reason == .empty)
    // A profile made with another list uses it: here example.test is a public suffix.
    let tiny = try PublicSuffixList(text: "example.test\n")
    let chain = try WebPKIProfileTests.Chain(leaf: {
      $0.subject = try X509Name(["O": "Example"])
      $0.subjectAlternativeNames = [.dnsName("*.example.test")]
    })
    let members = [chain.leaf, chain.intermediate, chain.root]
    try VerificationProfile.webPKI().check(chain: members, host: "www.example.test")
    let error2 = try caught(VerificationError.self) {
      try VerificationProfile.webPKI(publicSuffixes: tiny).check(chain: members, host: "www.example.test")
    }
    #expect(error2.profileRule?.name == "wildcard-over-public-suffix")
  }
}

@Suite("Web PKI profile: sessions are bound to it")
struct WebPKIProfileSessionTests {
  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aSessionMadeWithoutTheProfileIsNotResumedWithIt(version: TLSVersion) async throws {
    // A leaf OpenSSL accepts and the profile refuses: critical SAN with a subject.
    let fixture = try TLSFixture(leaf: { $0.criticality[OID("2.5.29.17")] = true })
    let server = try fixture.server()
    let lax = try fixture.client { $0.maximumVersion = version }
    let first = try await fixture.connect(client: lax, server: server)
    try TLSPair.closeCleanly(client: first.client, server: first.server)
    let session = try #require(first.client.session)
    let strict = try fixture.client {
      $0.maximumVersion = version
      $0.verification.profile = try .webPKI()
    }
    let connection = try strict.makeConnection(serverName: "www.example.test")
    #expect(try caught(TLSSessionError.self) { try connection.setSession(session) }.reason == .differentPolicy)
    let error = try await caught(TLSError.self) {
      try await TLSPair.handshake(client: connection, server: server.makeConnection())
    }
    #expect(!connection.isSessionReused)
    #expect(error.verification?.profileRule?.name == "subscriber-alternative-names")
  }
}
