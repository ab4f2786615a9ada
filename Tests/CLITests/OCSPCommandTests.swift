import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// `openssl-objects ocsp request | verify | fetch`, the staple options of `connect` and `serve`,
/// and `inspect` of OCSP messages (CLI.md).
@Suite("CLI: ocsp, staples in connect and serve, inspect of OCSP messages")
struct OCSPCommandTests {
  let tool = ChildProcess.product("openssl-objects")

  private func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
  }

  /// The files of a PKI: root, intermediate, leaf.
  private struct Files {
    let directory: TemporaryDirectory
    let root: String
    let intermediate: String
    let leaf: String

    init(_ fixture: OCSPPKI) throws {
      directory = try TemporaryDirectory("ocsp-cli")
      root = try directory.write("root.pem", fixture.pki.root.pemEncoded)
      intermediate = try directory.write("intermediate.pem", fixture.pki.intermediate.pemEncoded)
      leaf = try directory.write("leaf.pem", fixture.pki.leaf.pemEncoded)
    }

    func response(_ name: String, _ response: OCSPResponse) throws -> String {
      try directory.write(name, response.derEncoded)
    }
  }

  @Test func requestWritesDEROpenSSLReads() throws {
    let fixture = try OCSPPKI()
    let files = try Files(fixture)
    let out = files.directory.file("request.der")
    let result = try ChildProcess.run(
      tool,
      ["ocsp", "request", "--cert", files.leaf, "--issuer", files.intermediate, "--nonce", "--out", out, "--json"])
    #expect(result.status == 0, "\(result.output)")
    let document = try json(result.stdout)
    let certificates = try #require(document["certificates"] as? [[String: Any]])
    #expect(certificates.first?["serial"] as? String == fixture.pki.leaf.serialNumber.hex)
    #expect(certificates.first?["hash_algorithm"] as? String == "SHA1")
    #expect((document["nonce"] as? String)?.count == 32)
    let request = try OCSPRequest(contentsOfFile: out)
    #expect(request.ids.first?.serialNumber == fixture.pki.leaf.serialNumber)
    let openssl = try ChildProcess.run("openssl", ["ocsp", "-reqin", out, "-req_text"])
    #expect(openssl.stdout.contains("Serial Number: \(fixture.pki.leaf.serialNumber.hex)"), "\(openssl.output)")
    #expect(openssl.stdout.contains("OCSP Nonce"))

    let pem = try ChildProcess.run(
      tool, ["ocsp", "request", "--cert", files.leaf, "--issuer", files.intermediate, "--sha256"])
    #expect(pem.stdout.hasPrefix("-----BEGIN OCSP REQUEST-----"), "\(pem.output)")
    #expect(
      try ChildProcess.run(tool, ["ocsp", "request", "--cert", "/nonexistent", "--issuer", files.leaf]).status == 2)
  }

  @Test func verifyAGoodResponseAndEachFailure() throws {
    let fixture = try OCSPPKI()
    let files = try Files(fixture)
    let common = ["--trusted", files.root, "--cert", files.leaf, "--issuer", files.intermediate, "--json"]
    func verify(_ response: OCSPResponse, _ extra: [String] = []) throws -> (Int32, [String: Any]) {
      let path = try files.response("response-\(UUID().uuidString).der", response)
      let result = try ChildProcess.run(tool, ["ocsp", "verify", "--response", path] + common + extra)
      return (result.status, try json(result.stdout))
    }

    let (status, good) = try verify(try fixture.response(.good))
    #expect(status == 0)
    #expect(good["response_status"] as? String == "successful")
    #expect(good["signature_valid"] as? Bool == true)
    #expect(good["cert_status"] as? String == "good")
    #expect(good["next_update"] is String)
    #expect(good["revocation_time"] is NSNull)
    #expect(good["error"] is NSNull)

    let (revokedStatus, revoked) = try verify(
      try fixture.response(.revoked(time: Date(timeIntervalSince1970: 1_700_000_000), reason: .keyCompromise)))
    #expect(revokedStatus == 1)
    #expect(revoked["cert_status"] as? String == "revoked")
    #expect(revoked["revocation_time"] as? String == "2023-11-14T22:13:20Z")
    #expect(revoked["revocation_reason"] as? String == "key compromise")
    #expect((revoked["error"] as? [String: Any])?["check"] as? String == "revoked")

    // At a time after nextUpdate, the same good response is stale.
    let later = Date(timeIntervalSinceNow: 3 * 86_400).formatted(.iso8601)
    let (staleStatus, stale) = try verify(try fixture.response(.good), ["--at", later])
    #expect(staleStatus == 1)
    #expect((stale["error"] as? [String: Any])?["check"] as? String == "stale")

    let (wrongStatus, wrong) = try verify(try fixture.response(signer: (fixture.unrelated, fixture.unrelatedKey)))
    #expect(wrongStatus == 1)
    #expect(wrong["signature_valid"] as? Bool == false)
    #expect((wrong["error"] as? [String: Any])?["check"] as? String == "signer not authorized")

    let (errorStatus, tryLater) = try verify(try OCSPResponseBuilder.errorResponse(.tryLater))
    #expect(errorStatus == 1)
    #expect(tryLater["response_status"] as? String == "try_later")
    #expect((tryLater["error"] as? [String: Any])?["check"] as? String == "responder error status")

    let (oldStatus, _) = try verify(
      try fixture.response(thisUpdate: Date(timeIntervalSinceNow: -7_200), nextUpdate: nil), ["--max-age", "3600"])
    #expect(oldStatus == 1)

    let unreadable = try ChildProcess.run(tool, ["ocsp", "verify", "--response", files.leaf, "--json"])
    #expect(unreadable.status == 2, "\(unreadable.output)")
  }

  /// The signature-and-signer verdict agrees with `openssl ocsp -respin R -CAfile T -verify_other U`.
  @Test func theSignerVerdictAgreesWithOpenSSL() throws {
    let fixture = try OCSPPKI()
    let stranger = try OCSPPKI()
    let files = try Files(fixture)
    let strangerRoot = try files.directory.write("stranger.pem", stranger.pki.root.pemEncoded)
    let cases: [(String, OCSPResponse, String)] = [
      ("issuer", try fixture.response(), files.root),
      ("delegated", try fixture.response(signer: (fixture.delegated, fixture.delegatedKey)), files.root),
      ("not delegated", try fixture.response(signer: (fixture.notDelegated, fixture.notDelegatedKey)), files.root),
      ("unrelated", try fixture.response(signer: (fixture.unrelated, fixture.unrelatedKey)), files.root),
      ("untrusted", try fixture.response(), strangerRoot),
    ]
    for (name, response, trusted) in cases {
      let path = try files.response("\(name).der", response)
      let ours = try ChildProcess.run(
        tool, ["ocsp", "verify", "--response", path, "--trusted", trusted, "--untrusted", files.intermediate])
      let theirs = try ChildProcess.run(
        "openssl",
        ["ocsp", "-respin", path, "-CAfile", trusted, "-verify_other", files.intermediate, "-no_nonce", "-resp_text"])
      let theirVerdict = theirs.stderr.contains("Response verify OK")
      #expect((ours.status == 0) == theirVerdict, "\(name): ours \(ours.output) theirs \(theirs.stderr)")
    }
  }

  @Test func fetchAsksTheResponderAndHonoursHTTPProxy() throws {
    let responder = try OCSPTestResponder()
    let fixture = try OCSPPKI(ocspURL: responder.url)
    try responder.serve(
      ca: fixture.pki.intermediate, signer: fixture.pki.intermediate, signerKey: fixture.pki.intermediateKey,
      good: [fixture.pki.leaf])
    let files = try Files(fixture)
    let plain = ["ocsp", "fetch", "--cert", files.leaf, "--issuer", files.intermediate, "--trusted", files.root]
    let clean = ["http_proxy": "", "HTTP_PROXY": "", "no_proxy": "", "NO_PROXY": ""]
    // The responder is on 127.0.0.1: refused without --allow-private-destinations, before connecting.
    let refused = try ChildProcess.run(tool, plain + ["--json"], environment: clean)
    #expect(refused.status == 1, "\(refused.output)")
    let refusal = try #require(try json(refused.stdout)["error"] as? [String: Any])
    #expect((refusal["message"] as? String)?.contains("destination refused") == true, "\(refusal)")
    #expect(responder.received.isEmpty)
    let fetch = plain + ["--allow-private-destinations"]
    let good = try ChildProcess.run(tool, fetch + ["--nonce", "--json"], environment: clean)
    #expect(good.status == 0, "\(good.output)")
    #expect(try json(good.stdout)["cert_status"] as? String == "good")

    // A responder that is down: exit 1 and an error, not a crash.
    let down = "http://127.0.0.1:\(try closedLoopbackPort())/ocsp"
    let unreachable = try ChildProcess.run(
      tool, fetch + ["--url", down, "--timeout", "1", "--json"], environment: clean)
    #expect(unreachable.status == 1, "\(unreachable.output)")
    #expect((try json(unreachable.stdout)["error"] as? [String: Any])?["name"] as? String == "OCSPClientError")
    // A refused port is a refusal, not a wait for the time limit (the default, 10 s, here).
    let refusedPort = try ChildProcess.run(tool, fetch + ["--url", down, "--json"], environment: clean)
    #expect(refusedPort.status == 1, "\(refusedPort.output)")
    let refusedMessage = (try json(refusedPort.stdout)["error"] as? [String: Any])?["message"] as? String ?? ""
    #expect(refusedMessage.contains("refused"), "\(refusedPort.output)")
    #expect(!refusedMessage.contains("within"), "\(refusedPort.output)")

    // With http_proxy, the request goes to the proxy (here the responder itself, which answers
    // any absolute URI); no_proxy for the host turns that off again.
    var proxied = clean
    proxied["http_proxy"] = "http://127.0.0.1:\(responder.port)"
    let viaProxy = try ChildProcess.run(tool, fetch + ["--url", down, "--json"], environment: proxied)
    #expect(viaProxy.status == 0, "\(viaProxy.output)")
    #expect(responder.received.last?.target.hasPrefix(down) == true)
    // The proxy the caller configured is exempt from the destination policy.
    let exempt = try ChildProcess.run(tool, plain + ["--url", down, "--json"], environment: proxied)
    #expect(exempt.status == 0, "\(exempt.output)")
    proxied["no_proxy"] = "127.0.0.1"
    let bypassed = try ChildProcess.run(tool, fetch + ["--url", down, "--timeout", "1"], environment: proxied)
    #expect(bypassed.status == 1, "\(bypassed.output)")
    #expect(responder.received.count == 3)
  }

  @Test func serveStaplesAndConnectChecksIt() throws {
    let fixture = try OCSPPKI(leafName: "localhost", mustStaple: true)
    let files = try Files(fixture)
    let peer = try PeerFiles()
    let staple = try files.response("staple.der", try fixture.response(.good))
    let serverFiles = [
      "--cert", try peer.certificates("server.pem", [fixture.pki.leaf, fixture.pki.intermediate]),
      "--key", try peer.key("server.key", fixture.pki.leafKey),
    ]
    func serve(_ extra: [String]) throws -> (RunningProcess, Int) {
      let server = try RunningProcess(tool, ["serve", "--port", "0", "--once"] + serverFiles + extra)
      guard server.wait(for: "listening on"), let match = server.text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)
      else { throw TLSPair.HandshakeStalled() }
      return (server, Int(match.1)!)
    }
    let (stapling, port) = try serve(["--ocsp-staple", staple])
    let result = try ChildProcess.run(
      tool, ["connect", "localhost:\(port)", "--trusted", files.root, "--status-request", "--json"])
    #expect(result.status == 0, "\(result.output)")
    let document = try #require(try json(result.stdout)["ocsp_staple"] as? [String: Any])
    #expect(document["cert_status"] as? String == "good")
    #expect(document["signature_valid"] as? Bool == true)
    #expect(document["this_update"] is String)
    #expect(document["next_update"] is String)
    #expect(stapling.waitForExit() == 0)

    // A must-staple certificate without a staple fails --status-request; --require-staple too.
    let (bare, barePort) = try serve([])
    let missing = try ChildProcess.run(
      tool, ["connect", "localhost:\(barePort)", "--trusted", files.root, "--status-request", "--json"])
    #expect(missing.status == 1, "\(missing.output)")
    let error = try #require(try json(missing.stdout)["error"] as? [String: Any])
    #expect(error["name"] as? String == "OCSPError")
    _ = bare.waitForExit()

    // Without the options, nothing is asked for and ocsp_staple is null.
    let (quiet, quietPort) = try serve(["--ocsp-staple", staple])
    let plain = try ChildProcess.run(tool, ["connect", "localhost:\(quietPort)", "--trusted", files.root, "--json"])
    #expect(plain.status == 0, "\(plain.output)")
    #expect(try json(plain.stdout)["ocsp_staple"] is NSNull)
    _ = quiet.waitForExit()

    #expect(
      try ChildProcess.run(tool, ["serve", "--port", "0", "--once"] + serverFiles + ["--ocsp-staple", files.leaf])
        .status == 2)
  }

  @Test func inspectShowsOCSPMessages() throws {
    let fixture = try OCSPPKI()
    let files = try Files(fixture)
    let response = try files.response("response.der", try fixture.response(.good))
    let request = try files.directory.write(
      "request.pem", try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate).pemEncoded)
    let result = try ChildProcess.run(tool, ["inspect", response, request, "--json"])
    #expect(result.status == 0, "\(result.output)")
    let documents = try #require(try json(result.stdout)["files"] as? [[String: Any]])
    let responseObject = try #require((documents[0]["objects"] as? [[String: Any]])?.first)
    #expect(responseObject["type"] as? String == "ocsp_response")
    #expect(responseObject["response_status"] as? String == "successful")
    let single = try #require((responseObject["responses"] as? [[String: Any]])?.first)
    #expect(single["cert_status"] as? String == "good")
    let requestObject = try #require((documents[1]["objects"] as? [[String: Any]])?.first)
    #expect(requestObject["type"] as? String == "ocsp_request")
    let text = try ChildProcess.run(tool, ["inspect", response])
    #expect(text.stdout.contains("OCSP response"))
    #expect(text.stdout.contains("serial \(fixture.pki.leaf.serialNumber.hex): good"), "\(text.stdout)")
  }

  @Test func fetchForACertificateWithoutAnOCSPURLNamesTheFile() throws {
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let leaf = try directory.write("no-aia.pem", pki.leaf.pemEncoded)
    let issuer = try directory.write("issuer.pem", pki.intermediate.pemEncoded)
    let result = try ChildProcess.run(tool, ["ocsp", "fetch", "--cert", leaf, "--issuer", issuer])
    #expect(result.status == 2, "\(result.output)")
    #expect(result.stderr.hasPrefix("error: --cert \(leaf): "), "\(result.stderr)")
    #expect(result.stderr.contains("--url"), "\(result.stderr)")
  }
}
