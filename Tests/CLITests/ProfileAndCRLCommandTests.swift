import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// `verify` and `connect` with `--profile webpki`, `--fetch-crls` and
/// `--allow-private-destinations` (CLI.md).
@Suite("CLI: --profile webpki and --fetch-crls in verify and connect")
struct ProfileAndCRLCommandTests {
  let tool = ChildProcess.product("openssl-objects")

  private func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
  }

  private struct Files {
    let directory: TemporaryDirectory
    let root: String
    let intermediate: String
    let leaf: String

    init(_ pki: CRLPKI, leaf: X509Certificate? = nil) throws {
      directory = try TemporaryDirectory("profile-cli")
      root = try directory.write("root.pem", pki.root.pemEncoded)
      intermediate = try directory.write("intermediate.pem", pki.intermediate.pemEncoded)
      self.leaf = try directory.write("leaf.pem", (leaf ?? pki.leaf).pemEncoded)
    }

    var verify: [String] { ["verify", leaf, "--trusted", root, "--untrusted", intermediate, "--json"] }
  }

  /// A leaf of the PKI's intermediate whose subject alternative names are critical though its
  /// subject is not empty: OpenSSL accepts it, the Web PKI profile does not.
  private func criticalSANLeaf(_ pki: CRLPKI) throws -> X509Certificate {
    var builder = try TestPKI.leafBuilder(name: "localhost", key: pki.leafKey)
    builder.criticality[OID("2.5.29.17")] = true
    return try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
  }

  @Test func verifyWithTheWebPKIProfile() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    let files = try Files(pki, leaf: try criticalSANLeaf(pki))
    let plain = try ChildProcess.run(tool, files.verify)
    #expect(plain.status == 0, "\(plain.output)")
    let strict = try ChildProcess.run(tool, files.verify + ["--profile", "webpki"])
    #expect(strict.status == 1, "\(strict.output)")
    let error = try #require(try json(strict.stdout)["error"] as? [String: Any])
    #expect(error["name"] as? String == "X509_V_ERR_APPLICATION_VERIFICATION")
    #expect(error["profile_rule"] as? String == "subscriber-alternative-names")
    #expect((error["explanation"] as? String)?.contains("BR 7.1.2.7.12") == true)
    #expect(try ChildProcess.run(tool, files.verify + ["--profile", "lenient"]).status == 2)
    // A conforming chain passes with the profile.
    let conforming = try Files(pki)
    let good = try ChildProcess.run(tool, conforming.verify + ["--profile", "webpki"])
    #expect(good.status == 0, "\(good.output)")
  }

  @Test func verifyFetchesTheChainsCRLs() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    let files = try Files(pki)
    // The distribution points are on 127.0.0.1: refused without the opt-in, nothing sent.
    let refused = try ChildProcess.run(tool, files.verify + ["--fetch-crls"])
    #expect(refused.status == 1, "\(refused.output)")
    let refusal = try #require(try json(refused.stdout)["error"] as? [String: Any])
    #expect(refusal["name"] as? String == "X509_V_ERR_UNABLE_TO_GET_CRL")
    #expect((refusal["explanation"] as? String)?.contains("destination refused") == true, "\(refusal)")
    #expect(pki.server.requests("intermediate.crl") == 0)

    let fetch = files.verify + ["--fetch-crls", "--allow-private-destinations"]
    let good = try ChildProcess.run(tool, fetch)
    #expect(good.status == 0, "\(good.output)")
    #expect(pki.server.requests("intermediate.crl") == 1)
    #expect(pki.server.requests("root.crl") == 1)

    pki.server.set("intermediate.crl", .body(try pki.crl(revoking: [pki.leaf], reason: .keyCompromise).derEncoded))
    let revoked = try ChildProcess.run(tool, fetch)
    #expect(revoked.status == 1, "\(revoked.output)")
    let error = try #require(try json(revoked.stdout)["error"] as? [String: Any])
    #expect(error["name"] as? String == "X509_V_ERR_CERT_REVOKED")
    #expect(error["depth"] as? Int == 0)
    #expect((error["explanation"] as? String)?.contains("reason: key compromise") == true, "\(error)")
  }

  @Test func connectFetchesCRLsAndAppliesTheProfile() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    let files = try Files(pki)
    let peer = try PeerFiles()
    let key = try peer.key("server.key", pki.leafKey)
    func serve(_ leaf: X509Certificate) throws -> (RunningProcess, Int) {
      let certificates = try peer.certificates("server.pem", [leaf, pki.intermediate])
      let server = try RunningProcess(tool, ["serve", "--port", "0", "--once", "--cert", certificates, "--key", key])
      guard server.wait(for: "listening on"), let match = server.text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)
      else { throw TLSPair.HandshakeStalled() }
      return (server, Int(match.1)!)
    }
    func connect(_ port: Int, _ extra: [String]) throws -> ProcessResult {
      try ChildProcess.run(tool, ["connect", "localhost:\(port)", "--trusted", files.root, "--json"] + extra)
    }
    let (good, goodPort) = try serve(pki.leaf)
    let fetched = try connect(goodPort, ["--fetch-crls", "--allow-private-destinations", "--profile", "webpki"])
    #expect(fetched.status == 0, "\(fetched.output)")
    #expect(pki.server.requests("intermediate.crl") == 1)
    _ = good.waitForExit()

    pki.server.set("intermediate.crl", .body(try pki.crl(revoking: [pki.leaf]).derEncoded))
    let (revoked, revokedPort) = try serve(pki.leaf)
    let refused = try connect(revokedPort, ["--fetch-crls", "--allow-private-destinations"])
    #expect(refused.status == 1, "\(refused.output)")
    let error = try #require(try json(refused.stdout)["error"] as? [String: Any])
    #expect(error["name"] as? String == "OCSPError")
    #expect((error["message"] as? String)?.contains("revoked") == true, "\(error)")
    _ = revoked.waitForExit()

    let (strict, strictPort) = try serve(try criticalSANLeaf(pki))
    let profiled = try connect(strictPort, ["--profile", "webpki"])
    #expect(profiled.status == 1, "\(profiled.output)")
    let verifyError = try #require(try json(profiled.stdout)["verify_error"] as? [String: Any])
    #expect(verifyError["profile_rule"] as? String == "subscriber-alternative-names")
    _ = strict.waitForExit()
  }
}
