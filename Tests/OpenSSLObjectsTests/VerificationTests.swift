import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// A fixed verification time, so that explanations are exact.
let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60)

/// A PKI whose leaf is built with adjustments, and helpers to verify against its root.
struct Chain {
  let pki: TestPKI

  init(pki: TestPKI) {
    self.pki = pki
  }

  init(
    keyType: PrivateKey.KeyType = .ec(.p256), leaf adjust: (inout CertificateBuilder) throws -> Void = { _ in }
  ) throws {
    pki = try TestPKI(keyType: keyType, leafBuilder: adjust)
  }

  func store(_ anchors: [X509Certificate]? = nil) throws -> X509Store {
    let store = X509Store()
    for anchor in anchors ?? [pki.root] { try store.add(anchor) }
    return store
  }

  func verify(
    _ policy: VerificationPolicy = VerificationPolicy(),
    anchors: [X509Certificate]? = nil,
    untrusted: [X509Certificate]? = nil,
    leaf: X509Certificate? = nil
  ) throws -> VerifiedChain {
    var policy = policy
    if !policy.flags.contains(.noCheckTime) { policy.time = policy.time ?? now }
    return try store(anchors).verify(leaf ?? pki.leaf, untrusted: untrusted ?? [pki.intermediate], policy: policy)
  }

  /// The verification error, or a recorded issue if verification succeeded.
  func failure(
    _ policy: VerificationPolicy = VerificationPolicy(),
    anchors: [X509Certificate]? = nil,
    untrusted: [X509Certificate]? = nil,
    leaf: X509Certificate? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> VerificationError {
    try #require(throws: VerificationError.self, sourceLocation: sourceLocation) {
      try verify(policy, anchors: anchors, untrusted: untrusted, leaf: leaf)
    }
  }
}

func name(_ certificate: X509Certificate) -> String { "\"\(certificate.subject.rfc2253)\"" }

@Suite("Verification: stores, chains and readable diagnostics")
struct VerificationTests {
  @Test func aGoodChainVerifies() throws {
    let chain = try Chain()
    let verified = try chain.verify(VerificationPolicy(host: "www.example.test"))
    #expect(verified.certificates == [chain.pki.leaf, chain.pki.intermediate, chain.pki.root])
    #expect(verified.acceptedOverrides.isEmpty)
  }

  @Test func hostNameMismatch() throws {
    let chain = try Chain()
    let error = try chain.failure(VerificationPolicy(host: "other.example.test"))
    #expect(error.code == .hostnameMismatch)
    #expect(error.name == "X509_V_ERR_HOSTNAME_MISMATCH")
    #expect(error.message == "hostname mismatch")
    #expect(error.depth == 0)
    #expect(
      error.explanation
        == "The certificate is valid for \"www.example.test\", not for the host name \"other.example.test\".")
  }

  @Test func partialWildcardsAndTheSubjectCNFallbackAreOffByDefault() throws {
    let wildcard = try Chain { $0.subjectAlternativeNames = [.dnsName("w*.example.test")] }
    #expect(try wildcard.failure(VerificationPolicy(host: "www.example.test")).code == .hostnameMismatch)
    var allowing = VerificationPolicy(host: "www.example.test")
    allowing.hostFlags = []
    #expect(try wildcard.verify(allowing).certificates.count == 3)

    // A certificate without DNS names does not pass on its subject CN (X509_CHECK_FLAG_NEVER_CHECK_SUBJECT).
    let cnOnly = try Chain { $0.subjectAlternativeNames = nil }
    let error = try cnOnly.failure(VerificationPolicy(host: "www.example.test"))
    #expect(error.code == .hostnameMismatch)
    #expect(
      error.explanation
        == "The certificate is valid for \"www.example.test\" (subject CN only), not for the host name \"www.example.test\"."
    )
    var fallback = VerificationPolicy(host: "www.example.test")
    fallback.hostFlags.remove(.neverCheckSubject)
    #expect(try cnOnly.verify(fallback).certificates.count == 3)
  }

  @Test func ipAndEmailMismatches() throws {
    let chain = try Chain {
      $0.subjectAlternativeNames = [GeneralName.ipAddress("192.0.2.1")!, .email("a@example.test")]
    }
    var ip = VerificationPolicy()
    ip.ipAddress = "192.0.2.2"
    let ipError = try chain.failure(ip)
    #expect(ipError.code == .ipAddressMismatch)
    #expect(ipError.explanation == "The certificate's IP addresses are 192.0.2.1, not 192.0.2.2.")
    var email = VerificationPolicy()
    email.email = "b@example.test"
    let emailError = try chain.failure(email)
    #expect(emailError.code == .emailMismatch)
    #expect(emailError.explanation == "The certificate's e-mail addresses are a@example.test, not b@example.test.")
    ip.ipAddress = "192.0.2.1"
    #expect(try chain.verify(ip).certificates.count == 3)
  }

  @Test func expiredSaysWhenAndHowLongAgo() throws {
    let chain = try Chain {
      $0.notBefore = now.addingTimeInterval(-30 * 86_400)
      $0.notAfter = now.addingTimeInterval(-(3 * 86_400 + 2 * 3_600))
    }
    let error = try chain.failure()
    #expect(error.code == .certificateHasExpired)
    #expect(error.depth == 0)
    #expect(error.subject == "CN=www.example.test")
    #expect(error.issuer == "O=OpenSSLObjects Tests,CN=Test Intermediate CA")
    let expiry = chain.pki.leaf.notAfter.formatted(.iso8601)
    #expect(
      error.explanation
        == "\"CN=www.example.test\" expired at \(expiry), 3 days and 2 hours before the verification time \(now.formatted(.iso8601))."
    )
  }

  @Test func notYetValidSaysWhenAndHowFarOff() throws {
    let chain = try Chain {
      $0.notBefore = now.addingTimeInterval(86_400 + 300)
      $0.notAfter = now.addingTimeInterval(30 * 86_400)
    }
    let error = try chain.failure()
    #expect(error.code == .certificateNotYetValid)
    #expect(
      error.explanation
        == "\"CN=www.example.test\" is not valid until \(chain.pki.leaf.notBefore.formatted(.iso8601)), 1 day and 5 minutes after the verification time \(now.formatted(.iso8601))."
    )
  }

  @Test func aMissingIntermediateIsNamed() throws {
    let chain = try Chain()
    let error = try chain.failure(untrusted: [])
    #expect(error.code == .unableToGetIssuerLocally)
    #expect(error.depth == 0)
    let issuer = name(chain.pki.intermediate)
    #expect(
      error.explanation
        == "The issuer of \"CN=www.example.test\", \(issuer), was not found: it is neither among the store's 1 trusted certificates nor among the 0 untrusted certificates given. No intermediate certificates were given: if \(issuer) is an intermediate CA, it is missing (a TLS peer must send it); if it is a root, the store does not trust it."
    )
    #expect(error.chain == [chain.pki.leaf])
  }

  @Test func aChainBuiltUpToAnUntrustedRootNamesTheRootAsMissing() throws {
    let chain = try Chain()
    let other = try TestPKI()
    // The intermediate is given, the root is not trusted: the root is what is missing.
    let error = try chain.failure(anchors: [other.root], untrusted: [chain.pki.intermediate])
    #expect(error.depth == 1)
    let root = name(chain.pki.root)
    #expect(
      error.explanation.hasSuffix(
        "The chain was built up to \(name(chain.pki.intermediate)) from the certificates given; what is missing is "
          + "its issuer \(root): if that is a root, add it to the trusted certificates; if it is an intermediate CA, "
          + "give it with the others."),
      "\(error.explanation)")
    #expect(!error.explanation.contains("seems"))
    // Untrusted certificates that did not issue the leaf: its issuer is missing.
    let unrelated = try chain.failure(anchors: [chain.pki.root], untrusted: [other.intermediate])
    #expect(unrelated.depth == 0)
    #expect(
      unrelated.explanation.hasSuffix(
        "None of the untrusted certificates given issued \"CN=www.example.test\": its issuer "
          + "\(name(chain.pki.intermediate)) is missing (an intermediate CA the peer must send, or a root to trust)."),
      "\(unrelated.explanation)")
  }

  @Test func selfSignedRootsThatAreNotTrusted() throws {
    let chain = try Chain()
    let other = try TestPKI()
    let inChain = try chain.failure(anchors: [other.root], untrusted: [chain.pki.intermediate, chain.pki.root])
    #expect(inChain.code == .selfSignedInChain)
    #expect(inChain.depth == 2)
    #expect(
      inChain.explanation
        == "The chain ends in the self-signed certificate \(name(chain.pki.root)), which the store does not trust (it has 1 trusted certificates)."
    )
    let depthZero = try chain.failure(anchors: [other.root], untrusted: [], leaf: chain.pki.root)
    #expect(depthZero.code == .depthZeroSelfSigned)
    #expect(depthZero.explanation.hasPrefix("\(name(chain.pki.root)) is self-signed and the store does not trust it"))
  }

  @Test func unsuitablePurposeNamesTheUsages() throws {
    let chain = try Chain { $0.extendedKeyUsage = [.clientAuth] }
    var policy = VerificationPolicy()
    policy.purpose = .sslServer
    let error = try chain.failure(policy)
    #expect(error.code == .invalidPurpose)
    #expect(
      error.explanation
        == "\"CN=www.example.test\" may not be used for sslserver: its extended key usage is clientAuth.")
  }

  @Test func aNonCAUsedAsCA() throws {
    let pki = try TestPKI()
    let notCAKey = try PrivateKey(generating: .ec(.p256))
    let notCA = try TestPKI.makeCA(name: "Not A CA", key: notCAKey, issuerKey: pki.rootKey, issuer: pki.root) {
      $0.basicConstraints = BasicConstraints(isCA: false)
    }
    var builder = try TestPKI.leafBuilder(name: "leaf.example.test", key: pki.leafKey)
    builder.publicKey = try pki.leafKey.publicKey
    let leaf = try builder.sign(with: notCAKey, issuerCertificate: notCA)
    let error = try Chain(pki: pki).failure(untrusted: [notCA], leaf: leaf)
    #expect(error.code == .invalidCA)
    #expect(error.depth == 1)
    #expect(
      error.explanation
        == "\"O=OpenSSLObjects Tests,CN=Not A CA\" is used as a CA but is not one: its basic constraints are CA:FALSE and its key usage is digitalSignature, keyCertSign, cRLSign."
    )
  }

  @Test func pathLengthExceeded() throws {
    let rootKey = try PrivateKey(generating: .ec(.p256))
    let root = try TestPKI.makeCA(name: "Root pathlen 0", key: rootKey, pathLength: 0)
    let intermediateKey = try PrivateKey(generating: .ec(.p256))
    let intermediate = try TestPKI.makeCA(name: "Intermediate", key: intermediateKey, issuerKey: rootKey, issuer: root)
    let leafKey = try PrivateKey(generating: .ec(.p256))
    let leaf = try TestPKI.leafBuilder(name: "deep.example.test", key: leafKey).sign(
      with: intermediateKey, issuerCertificate: intermediate)
    let store = X509Store()
    try store.add(root)
    let error = try #require(throws: VerificationError.self) { try store.verify(leaf, untrusted: [intermediate]) }
    #expect(error.code == .pathLengthExceeded)
    #expect(
      error.explanation
        == "\"O=OpenSSLObjects Tests,CN=Root pathlen 0\" allows 0 intermediate CA certificate(s) below it (pathlen:0), but the chain has more."
    )
  }

  @Test func nameConstraintViolation() throws {
    let rootKey = try PrivateKey(generating: .ec(.p256))
    let root = try TestPKI.makeCA(name: "Root", key: rootKey)
    let intermediateKey = try PrivateKey(generating: .ec(.p256))
    let intermediate = try TestPKI.makeCA(name: "Constrained", key: intermediateKey, issuerKey: rootKey, issuer: root) {
      $0.nameConstraints = NameConstraints(permitted: [.dnsName("allowed.test")])
    }
    let leaf = try TestPKI.leafBuilder(name: "www.example.test", key: try PrivateKey(generating: .ec(.p256)))
      .sign(with: intermediateKey, issuerCertificate: intermediate)
    let store = X509Store()
    try store.add(root)
    let error = try #require(throws: VerificationError.self) { try store.verify(leaf, untrusted: [intermediate]) }
    #expect(error.code == .permittedViolation)
    #expect(
      error.explanation
        == "A name of \"CN=www.example.test\" (subject CN=www.example.test, DNS:www.example.test) is outside the permitted subtrees of \"O=OpenSSLObjects Tests,CN=Constrained\" (DNS:allowed.test)."
    )
  }

  @Test func revokedSaysWhenAndWhy() throws {
    let chain = try Chain()
    let revokedAt = now.addingTimeInterval(-86_400)
    var builder = CRLBuilder(revoked: [
      RevokedCertificate(serialNumber: chain.pki.leaf.serialNumber, revocationDate: revokedAt, reason: .keyCompromise)
    ])
    builder.thisUpdate = now.addingTimeInterval(-3_600)
    let crl = try builder.sign(with: chain.pki.intermediateKey, issuerCertificate: chain.pki.intermediate)
    let store = try chain.store()
    try store.add(crl)
    var policy = VerificationPolicy()
    policy.flags = [.crlCheck]
    policy.time = now
    let error = try #require(throws: VerificationError.self) {
      try store.verify(chain.pki.leaf, untrusted: [chain.pki.intermediate], policy: policy)
    }
    #expect(error.code == .certificateRevoked)
    #expect(
      error.explanation
        == "\"CN=www.example.test\" (serial \(chain.pki.leaf.serialNumber.hex)) was revoked at \(revokedAt.formatted(.iso8601)) (reason: key compromise), according to the CRL of \(name(chain.pki.intermediate))."
    )
  }

  @Test func missingAndExpiredCRLs() throws {
    let chain = try Chain()
    var policy = VerificationPolicy()
    policy.flags = [.crlCheck, .crlCheckAll]
    let missing = try chain.failure(policy)
    #expect(missing.code == .unableToGetCRL)
    #expect(
      missing.explanation
        == "No CRL of \(name(chain.pki.intermediate)) was found to check \"CN=www.example.test\"; CRL checking is on for the whole chain."
    )

    var builder = CRLBuilder()
    builder.thisUpdate = now.addingTimeInterval(-10 * 86_400)
    builder.nextUpdate = now.addingTimeInterval(-2 * 86_400)
    let stale = try builder.sign(with: chain.pki.intermediateKey, issuerCertificate: chain.pki.intermediate)
    let store = try chain.store()
    try store.add(stale)
    policy.flags = [.crlCheck]
    policy.time = now
    let error = try #require(throws: VerificationError.self) {
      try store.verify(chain.pki.leaf, untrusted: [chain.pki.intermediate], policy: policy)
    }
    #expect(error.code == .crlHasExpired)
    #expect(
      error.explanation
        == "The CRL of \(name(chain.pki.intermediate)) was due to be replaced at \(stale.nextUpdate!.formatted(.iso8601)), 2 days before the verification time \(now.formatted(.iso8601))."
    )
  }

  @Test func weakKeysAtTheSecurityLevel() throws {
    let chain = try Chain(keyType: .rsa(bits: 1024))
    var policy = VerificationPolicy()
    policy.authenticationLevel = 2
    let error = try chain.failure(policy)
    #expect(error.code == .caKeyTooSmall || error.code == .endEntityKeyTooSmall)
    #expect(
      error.explanation.hasSuffix(
        "has a RSA key of 1024 bits (80 security bits); security level 2 requires at least 112 security bits."))
    policy.authenticationLevel = 1
    #expect(try chain.verify(policy).certificates.count == 3)
  }

  @Test func weakSignatureDigest() throws {
    let chain = try Chain { $0.digest = .sha1 }
    var policy = VerificationPolicy()
    policy.authenticationLevel = 2
    let error = try chain.failure(policy)
    #expect(error.code == .caDigestTooWeak)
    #expect(
      error.explanation
        == "\"CN=www.example.test\" is signed with SHA1 (63 security bits); security level 2 requires at least 112 security bits."
    )
  }

  @Test func depthLimit() throws {
    let chain = try Chain()
    var policy = VerificationPolicy()
    policy.maximumDepth = 0
    let error = try chain.failure(policy)
    #expect(error.code == .chainTooLong)
    #expect(
      error.explanation == "The chain is longer than the maximum depth of 0 (certificates below the trust anchor).")
    policy.maximumDepth = 1
    #expect(try chain.verify(policy).certificates.count == 3)
  }

  @Test func aForgedSignature() throws {
    let pki = try TestPKI()
    let impostor = try PrivateKey(generating: .ec(.p256))
    let forged = try TestPKI.leafBuilder(name: "forged.example.test", key: pki.leafKey).sign(
      with: impostor, issuerCertificate: pki.intermediate)
    let error = try Chain(pki: pki).failure(leaf: forged)
    #expect(error.code == .signatureFailure)
    #expect(
      error.explanation
        == "The signature on \"CN=forged.example.test\" does not verify with the public key of its issuer \(name(pki.intermediate))."
    )
  }

  @Test func partialChainsNeedTheFlag() throws {
    let chain = try Chain()
    let error = try chain.failure(anchors: [chain.pki.intermediate], untrusted: [])
    #expect(error.code == VerificationError.Code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT))
    #expect(error.depth == 1)
    var policy = VerificationPolicy()
    policy.flags = [.partialChain]
    let verified = try chain.verify(policy, anchors: [chain.pki.intermediate], untrusted: [])
    #expect(verified.certificates == [chain.pki.leaf, chain.pki.intermediate])
  }

  @Test func trustSettingsOfTrustedCertificatesApply() throws {
    let chain = try Chain()
    let rejecting = try chain.pki.root.withTrustSettings(.init(rejected: [.serverAuth]))
    var policy = VerificationPolicy()
    policy.purpose = .sslServer
    let error = try chain.failure(policy, anchors: [rejecting])
    #expect(error.code == .certificateRejected)
    let trusting = try chain.pki.root.withTrustSettings(.init(trusted: [.serverAuth]))
    #expect(try chain.verify(policy, anchors: [trusting]).certificates.count == 3)
  }

  @Test func verificationAtAChosenTime() throws {
    let chain = try Chain()
    var policy = VerificationPolicy()
    policy.time = chain.pki.leaf.notBefore.addingTimeInterval(-3_600)
    #expect(try chain.failure(policy).code == .certificateNotYetValid)
    let expired = try Chain {
      $0.notBefore = now.addingTimeInterval(-30 * 86_400)
      $0.notAfter = now.addingTimeInterval(-86_400)
    }
    var noTime = VerificationPolicy()
    noTime.flags = [.noCheckTime]
    #expect(try expired.verify(noTime).certificates.count == 3)
    noTime.time = now
    let conflict = try #require(throws: InputError.self) {
      try expired.store().verify(expired.pki.leaf, policy: noTime)
    }
    #expect(conflict.detail.contains("exclude each other"))
  }

  @Test func aContextVerifiesOnce() throws {
    let chain = try Chain()
    let context = try X509StoreContext(
      store: try chain.store(), certificate: chain.pki.leaf, untrusted: [chain.pki.intermediate])
    try context.verify()
    #expect(context.chain.count == 3)
    #expect(context.errorCode == .ok)
    #expect(throws: UsageError.self) { try context.verify() }
  }

  @Test func aStoreInUseCannotChange() throws {
    let chain = try Chain()
    let store = try chain.store()
    _ = try store.verify(chain.pki.leaf, untrusted: [chain.pki.intermediate])
    #expect(store.isFrozen)
    #expect(throws: UsageError.self) { try store.add(chain.pki.intermediate) }
    #expect(throws: UsageError.self) { try store.setFlags([.x509Strict]) }
    #expect(throws: UsageError.self) { try store.setVerifyCallback(nil) }
  }

  @Test func filesAndHashedDirectories() throws {
    let chain = try Chain()
    let directory = try TemporaryDirectory()
    let bundle = try directory.write("anchors.pem", chain.pki.root.pemEncoded)
    let fromFile = X509Store()
    try fromFile.load(file: bundle)
    #expect(fromFile.certificates == [chain.pki.root])
    _ = try fromFile.verify(chain.pki.leaf, untrusted: [chain.pki.intermediate])

    let hashed = directory.file("hashed")
    try FileManager.default.createDirectory(atPath: hashed, withIntermediateDirectories: false)
    try directory.write("hashed/root.pem", chain.pki.root.pemEncoded)
    let rehash = try ChildProcess.run("openssl", ["rehash", hashed])
    #expect(rehash.status == 0, "\(rehash.output)")
    let fromDirectory = X509Store()
    try fromDirectory.load(directory: hashed)
    _ = try fromDirectory.verify(chain.pki.leaf, untrusted: [chain.pki.intermediate])

    #expect(throws: InputError.self) { try X509Store().load(file: directory.file("none.pem")) }
    #expect(throws: InputError.self) { try X509Store().load(directory: bundle) }
  }

  @Test func theSystemStoreHonoursSSLCertFile() throws {
    let chain = try Chain()
    let directory = try TemporaryDirectory()
    let anchors = try directory.write("anchors.pem", chain.pki.root.pemEncoded)
    let leaf = try directory.write("leaf.pem", chain.pki.leaf.pemEncoded + chain.pki.intermediate.pemEncoded)
    let helper = ChildProcess.product("oo-test-helper")
    let trusted = try ChildProcess.run(
      helper, ["system-store", leaf], environment: ["SSL_CERT_FILE": anchors, "SSL_CERT_DIR": directory.path])
    #expect(trusted.status == 0, "\(trusted.output)")
    #expect(trusted.stdout.contains("verified 3 certificates"))
    // Without our root, the operating system's store does not know the test CA.
    let untrusted = try ChildProcess.run(
      helper, ["system-store", leaf],
      environment: ["SSL_CERT_FILE": directory.file("none"), "SSL_CERT_DIR": directory.path])
    #expect(untrusted.status == 1)
    #expect(untrusted.stdout.contains("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY"))
  }
}
