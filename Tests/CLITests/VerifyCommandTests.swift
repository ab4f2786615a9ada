import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// `openssl-objects verify` against `openssl verify -no-CAfile -no-CApath -no-CAstore`: for the
/// same inputs and flags, the same verdict, error code and depth.
@Suite("CLI: verify agrees with openssl verify")
struct VerifyCommandTests {
  let tool = ChildProcess.product("openssl-objects")

  /// One comparison: files and flags in both spellings.
  struct Case: CustomStringConvertible {
    let name: String
    let leaf: X509Certificate
    var trusted: [X509Certificate]
    var trustedPEM: String? = nil
    var untrusted: [X509Certificate]
    var crls: [X509CRL] = []
    /// (ours, openssl's) pairs of flags.
    var flags: [([String], [String])] = []

    var description: String { name }
  }

  struct Verdict: Equatable, CustomStringConvertible {
    let valid: Bool
    let code: Int?
    let depth: Int?
    var description: String { valid ? "OK" : "error \(code ?? -1) at depth \(depth ?? -1)" }
  }

  private func compare(
    _ scenario: Case, in directory: TemporaryDirectory
  ) throws -> (ours: Verdict, theirs: Verdict, message: String) {
    let prefix = scenario.name.replacingOccurrences(of: " ", with: "-")
    let leaf = try directory.write("\(prefix)-leaf.pem", scenario.leaf.pemEncoded)
    let trusted = try directory.write(
      "\(prefix)-trusted.pem", scenario.trustedPEM ?? scenario.trusted.map(\.pemEncoded).joined())
    var ours = ["verify", leaf, "--json", "--trusted", trusted]
    var theirs = ["verify", "-no-CAfile", "-no-CApath", "-no-CAstore", "-trusted", trusted]
    if !scenario.untrusted.isEmpty {
      let untrusted = try directory.write("\(prefix)-untrusted.pem", scenario.untrusted.map(\.pemEncoded).joined())
      ours += ["--untrusted", untrusted]
      theirs += ["-untrusted", untrusted]
    }
    if !scenario.crls.isEmpty {
      let crls = try directory.write("\(prefix)-crls.pem", scenario.crls.map(\.pemEncoded).joined())
      ours += ["--crl", crls]
      theirs += ["-CRLfile", crls, "-crl_check_all"]
    }
    for (mine, openssl) in scenario.flags {
      ours += mine
      theirs += openssl
    }
    theirs.append(leaf)

    let our = try ChildProcess.run(tool, ours)
    #expect([0, 1].contains(our.status), "\(scenario): \(our.output)")
    let document = try #require(try JSONSerialization.jsonObject(with: Data(our.stdout.utf8)) as? [String: Any])
    let error = document["error"] as? [String: Any]
    let ourVerdict = Verdict(
      valid: document["valid"] as? Bool == true, code: error?["code"] as? Int, depth: error?["depth"] as? Int)
    #expect((our.status == 0) == ourVerdict.valid)

    let their = try ChildProcess.run("openssl", theirs)
    let firstError = their.stderr.firstMatch(of: /error (\d+) at (\d+) depth lookup/)
    let theirVerdict = Verdict(
      valid: their.status == 0 && their.stdout.contains(": OK"), code: firstError.map { Int($0.1)! },
      depth: firstError.map { Int($0.2)! })
    return (ourVerdict, theirVerdict, (error?["explanation"] as? String) ?? "")
  }

  @Test func verdictsCodesAndDepthsMatchOpenSSL() throws {
    let directory = try TemporaryDirectory()
    let pki = try TestPKI()
    let validTime = Date().addingTimeInterval(3_600)
    func at(_ date: Date) -> ([String], [String]) {
      (["--at", date.formatted(.iso8601)], ["-attime", String(Int(date.timeIntervalSince1970))])
    }
    var cases: [Case] = []
    cases.append(Case(name: "good", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate]))
    cases.append(
      Case(
        name: "host match", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate],
        flags: [(["--host", "www.example.test"], ["-verify_hostname", "www.example.test"])]))
    cases.append(
      Case(
        name: "host mismatch", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate],
        flags: [(["--host", "other.test"], ["-verify_hostname", "other.test"])]))
    cases.append(
      Case(
        name: "ip mismatch", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate],
        flags: [(["--ip", "192.0.2.1"], ["-verify_ip", "192.0.2.1"])]))
    cases.append(
      Case(
        name: "email mismatch", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate],
        flags: [(["--email", "a@b.test"], ["-verify_email", "a@b.test"])]))

    // Expired leaf, at a time the CAs are still valid.
    let expired = try TestPKI {
      $0.notBefore = validTime.addingTimeInterval(-10 * 86_400)
      $0.notAfter = validTime.addingTimeInterval(-86_400)
    }
    cases.append(
      Case(
        name: "expired", leaf: expired.leaf, trusted: [expired.root], untrusted: [expired.intermediate],
        flags: [at(validTime)]))
    cases.append(
      Case(
        name: "expired unchecked", leaf: expired.leaf, trusted: [expired.root], untrusted: [expired.intermediate],
        flags: [(["--no-check-time"], ["-no_check_time"])]))

    let clientOnly = try TestPKI { $0.extendedKeyUsage = [.clientAuth] }
    cases.append(
      Case(
        name: "wrong purpose", leaf: clientOnly.leaf, trusted: [clientOnly.root], untrusted: [clientOnly.intermediate],
        flags: [(["--purpose", "sslserver"], ["-purpose", "sslserver"])]))
    cases.append(
      Case(
        name: "right purpose", leaf: clientOnly.leaf, trusted: [clientOnly.root], untrusted: [clientOnly.intermediate],
        flags: [(["--purpose", "sslclient"], ["-purpose", "sslclient"])]))

    // Name constraints.
    let rootKey = try PrivateKey(generating: .ec(.p256))
    let root = try TestPKI.makeCA(name: "NC Root", key: rootKey)
    let constrainedKey = try PrivateKey(generating: .ec(.p256))
    let constrained = try TestPKI.makeCA(name: "NC Intermediate", key: constrainedKey, issuerKey: rootKey, issuer: root)
    {
      $0.nameConstraints = NameConstraints(permitted: [.dnsName("allowed.test")])
    }
    let outside = try TestPKI.leafBuilder(name: "www.example.test", key: try PrivateKey(generating: .ec(.p256)))
      .sign(with: constrainedKey, issuerCertificate: constrained)
    let inside = try TestPKI.leafBuilder(name: "www.allowed.test", key: try PrivateKey(generating: .ec(.p256)))
      .sign(with: constrainedKey, issuerCertificate: constrained)
    cases.append(Case(name: "name constraints violated", leaf: outside, trusted: [root], untrusted: [constrained]))
    cases.append(Case(name: "name constraints kept", leaf: inside, trusted: [root], untrusted: [constrained]))

    cases.append(Case(name: "missing intermediate", leaf: pki.leaf, trusted: [pki.root], untrusted: []))
    cases.append(Case(name: "partial chain refused", leaf: pki.leaf, trusted: [pki.intermediate], untrusted: []))
    cases.append(
      Case(
        name: "partial chain", leaf: pki.leaf, trusted: [pki.intermediate], untrusted: [],
        flags: [(["--partial-chain"], ["-partial_chain"])]))
    cases.append(
      Case(
        name: "depth limit", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate],
        flags: [(["--max-depth", "0"], ["-verify_depth", "0"])]))
    cases.append(
      Case(
        name: "depth enough", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate],
        flags: [(["--max-depth", "1"], ["-verify_depth", "1"])]))

    // Aux trust: TRUSTED CERTIFICATE anchors.
    let rejecting = try pki.root.withTrustSettings(.init(rejected: [.serverAuth])).trustedPEMEncoded
    let clientTrust = try pki.root.withTrustSettings(.init(trusted: [.clientAuth])).trustedPEMEncoded
    for (name, pem, purpose) in [
      ("aux rejects serverAuth", rejecting, "sslserver"), ("aux rejects but other purpose", rejecting, "sslclient"),
      ("aux trusts clientAuth only", clientTrust, "sslserver"), ("aux trusts clientAuth", clientTrust, "sslclient"),
    ] {
      var scenario = Case(
        name: name, leaf: pki.leaf, trusted: [], untrusted: [pki.intermediate],
        flags: [(["--purpose", purpose], ["-purpose", purpose])])
      scenario.trustedPEM = pem
      cases.append(scenario)
    }

    // Weak keys and digests at each security level.
    let weak = try TestPKI(keyType: .rsa(bits: 1024))
    let sha1 = try TestPKI { $0.digest = .sha1 }
    for level in 0...3 {
      let flag = (["--auth-level", "\(level)"], ["-auth_level", "\(level)"])
      cases.append(
        Case(
          name: "rsa1024 level \(level)", leaf: weak.leaf, trusted: [weak.root], untrusted: [weak.intermediate],
          flags: [flag]))
      cases.append(
        Case(
          name: "sha1 level \(level)", leaf: sha1.leaf, trusted: [sha1.root], untrusted: [sha1.intermediate],
          flags: [flag]))
    }

    // Revocation, with CRLs for the whole chain.
    let leafCRL = try CRLBuilder(revoked: [
      RevokedCertificate(
        serialNumber: pki.leaf.serialNumber, revocationDate: Date().addingTimeInterval(-60), reason: .keyCompromise)
    ]).sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    let rootCRL = try CRLBuilder().sign(with: pki.rootKey, issuerCertificate: pki.root)
    var revoked = Case(name: "revoked", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate])
    revoked.crls = [leafCRL, rootCRL]
    cases.append(revoked)
    let cleanCRL = try CRLBuilder().sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    var notRevoked = Case(name: "not revoked", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate])
    notRevoked.crls = [cleanCRL, rootCRL]
    cases.append(notRevoked)
    var crlMissing = Case(name: "crl missing", leaf: pki.leaf, trusted: [pki.root], untrusted: [pki.intermediate])
    crlMissing.crls = [cleanCRL]
    cases.append(crlMissing)

    // Strict checks: a CA without key usage passes unless strict.
    let looseRootKey = try PrivateKey(generating: .ec(.p256))
    let looseRoot = try TestPKI.makeCA(name: "Loose Root", key: looseRootKey) { $0.keyUsage = nil }
    let looseLeaf = try TestPKI.leafBuilder(name: "loose.example.test", key: try PrivateKey(generating: .ec(.p256)))
      .sign(with: looseRootKey, issuerCertificate: looseRoot)
    cases.append(Case(name: "loose", leaf: looseLeaf, trusted: [looseRoot], untrusted: []))
    cases.append(
      Case(
        name: "loose strict", leaf: looseLeaf, trusted: [looseRoot], untrusted: [],
        flags: [(["--x509-strict"], ["-x509_strict"])]))

    var outcomes = Set<String>()
    for scenario in cases {
      let (ours, theirs, explanation) = try compare(scenario, in: directory)
      #expect(ours == theirs, "\(scenario): ours \(ours) (\(explanation)), openssl \(theirs)")
      outcomes.insert(ours.valid ? "OK" : "error \(ours.code!)")
    }
    // The set covers successes and many different failures.
    #expect(outcomes.count >= 12, "\(outcomes)")
  }

  @Test func textAndJSONOutput() throws {
    let directory = try TemporaryDirectory()
    let pki = try TestPKI()
    let leaf = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    let root = try directory.write("root.pem", pki.root.pemEncoded)
    let intermediate = try directory.write("intermediate.pem", pki.intermediate.pemEncoded)
    let ok = try ChildProcess.run(
      tool, ["verify", leaf, "--trusted", root, "--untrusted", intermediate, "--spki-pin", pki.root.spkiPin])
    #expect(ok.status == 0, "\(ok.output)")
    #expect(ok.stdout.hasPrefix("OK\ndepth=0: CN=www.example.test\n"))
    let pinned = try ChildProcess.run(
      tool,
      [
        "verify", leaf, "--trusted", root, "--untrusted", intermediate, "--spki-pin",
        try PrivateKey(generating: .ec(.p256)).spkiPin, "--json",
      ])
    #expect(pinned.status == 1)
    let document = try #require(try JSONSerialization.jsonObject(with: Data(pinned.stdout.utf8)) as? [String: Any])
    let error = try #require(document["error"] as? [String: Any])
    #expect(error["name"] as? String == "X509_V_ERR_APPLICATION_VERIFICATION")
    #expect((error["explanation"] as? String)?.hasPrefix("No key of the verified chain matches a pin.") == true)
    #expect((document["chain"] as? [[String: Any]])?.count == 3)
    let badPin = try ChildProcess.run(tool, ["verify", leaf, "--trusted", root, "--spki-pin", "sha256/nope"])
    #expect(badPin.status == 2)
    #expect(badPin.stderr.contains("sha256/nope"))
    #expect(try ChildProcess.run(tool, ["verify", leaf, "--host", "a", "--ip", "1.2.3.4"]).status == 2)
    #expect(try ChildProcess.run(tool, ["verify", leaf, "--at", "yesterday"]).status == 2)
  }

  @Test func withoutTrustedTheSystemStoreIsTheTrustAndWithItOnlyTheGivenAnchors() throws {
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let leaf = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    let chain = try directory.write("chain.pem", pki.intermediate.pemEncoded)
    let systemFile = try directory.write("system.pem", pki.root.pemEncoded)
    // OpenSSL's default store honours SSL_CERT_FILE: here it holds the test root.
    let system = ["SSL_CERT_FILE": systemFile, "SSL_CERT_DIR": directory.file("none")]
    let implicit = try ChildProcess.run(tool, ["verify", leaf, "--untrusted", chain], environment: system)
    #expect(implicit.status == 0, "\(implicit.output)")
    let other = try directory.write("other.pem", try TestPKI().root.pemEncoded)
    let explicit = try ChildProcess.run(
      tool, ["verify", leaf, "--untrusted", chain, "--trusted", other], environment: system)
    #expect(explicit.status == 1, "\(explicit.output)")
    let both = try ChildProcess.run(
      tool, ["verify", leaf, "--untrusted", chain, "--trusted", other, "--system-trust"], environment: system)
    #expect(both.status == 0, "\(both.output)")
    // With the root missing, the message names it.
    #expect(explicit.stderr.contains("what is missing is its issuer"), "\(explicit.stderr)")
  }
}
