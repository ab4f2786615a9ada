import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// `openssl-objects connect` and `serve` (CLI.md), against each other and against openssl.
@Suite("CLI: connect and serve")
struct ConnectServeTests {
  let tool = ChildProcess.product("openssl-objects")

  private func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  /// Starts `serve --port 0 --once` and returns it with its port.
  private func serve(_ arguments: [String], environment: [String: String] = [:]) throws -> (RunningProcess, Int) {
    let server = try RunningProcess(tool, ["serve", "--port", "0", "--once"] + arguments, environment: environment)
    guard server.wait(for: "listening on"),
      let match = server.text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)
    else {
      throw TLSPair.HandshakeStalled()
    }
    return (server, Int(match.1)!)
  }

  @Test func connectToServeWithJSON() throws {
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let (server, port) = try serve([
      "--cert", try files.certificates("server.pem", [pki.leaf, pki.intermediate]), "--key",
      try files.key("server.key", pki.leafKey),
      "--alpn", "h2", "--reply", "pong",
    ])
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "localhost:\(port)", "--trusted", try files.certificates("root.pem", [pki.root]), "--alpn", "h2",
        "--send", "ping", "--spki-pin", pki.root.spkiPin, "--json",
      ])
    #expect(result.status == 0, "\(result.output)")
    let document = try json(result.stdout)
    #expect(document["connected"] as? Bool == true)
    #expect(document["version"] as? String == "TLSv1.3")
    #expect(document["alpn"] as? String == "h2")
    #expect(document["servername"] as? String == "localhost")
    #expect(document["received"] as? String == "pong")
    #expect((document["verified_chain"] as? [[String: Any]])?.count == 3)
    #expect(document["verify_error"] is NSNull)
    #expect(server.waitForExit() == 0)
  }

  @Test func aFailedVerificationExitsWithOneAndExplains() throws {
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let (server, port) = try serve([
      "--cert", try files.certificates("server.pem", [pki.leaf, pki.intermediate]), "--key",
      try files.key("server.key", pki.leafKey),
    ])
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "127.0.0.1:\(port)", "--servername", "wrong.example.test", "--trusted",
        try files.certificates("root.pem", [pki.root]), "--json",
      ])
    #expect(result.status == 1, "\(result.output)")
    let document = try json(result.stdout)
    #expect(document["connected"] as? Bool == false)
    let error = try #require(document["verify_error"] as? [String: Any])
    #expect(error["name"] as? String == "X509_V_ERR_HOSTNAME_MISMATCH")
    #expect(
      error["explanation"] as? String
        == "The certificate is valid for \"localhost\", not for the host name \"wrong.example.test\".")
    #expect(server.waitForExit() == 1)
  }

  @Test func serveWithATokenKeyForSClientAndMutualTLS() throws {
    let token = try SoftHSMToken()
    let pki = try TestPKI(leafName: "localhost")
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let files = try PeerFiles()
    var builder = try TestPKI.leafBuilder(name: "localhost", key: pki.leafKey)
    builder.publicKey = try PublicKey(contentsOfFile: token.publicKeyFile("ec-p256"))
    let leaf = try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    let (server, port) = try serve(
      [
        "--cert", try files.certificates("server.pem", [leaf, pki.intermediate]), "--key", token.uri(object: "ec-p256"),
        "--client-ca", try files.certificates("client-root.pem", [clientPKI.root]), "--require-client-cert", "--reply",
        "hi",
      ], environment: token.environment)
    let result = try runOpenSSLClient(
      port: port,
      [
        "-CAfile", try files.certificates("root.pem", [pki.root]), "-verify_return_error", "-servername", "localhost",
        "-cert", try files.certificates("client.pem", [clientPKI.leaf]), "-key",
        try files.key("client.key", clientPKI.leafKey),
        "-cert_chain", try files.certificates("client-chain.pem", [clientPKI.intermediate]),
      ], input: "hello\n")
    #expect(result.stdout.contains("Verify return code: 0 (ok)"), "\(result.output)")
    #expect(server.waitForExit() == 0, "\(server.text)")
    #expect(server.text.contains("client CN=client.example.test"), "\(server.text)")
  }

  @Test func connectWithATokenKeyAsTheClientCertificate() throws {
    let token = try SoftHSMToken()
    let serverPKI = try TestPKI(leafName: "localhost")
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let files = try PeerFiles()
    var builder = try TestPKI.leafBuilder(name: "client.example.test", key: clientPKI.leafKey)
    builder.publicKey = try PublicKey(contentsOfFile: token.publicKeyFile("rsa-2048"))
    let clientCertificate = try builder.sign(with: clientPKI.intermediateKey, issuerCertificate: clientPKI.intermediate)
    let (server, port) = try serve([
      "--cert", try files.certificates("server.pem", [serverPKI.leaf, serverPKI.intermediate]),
      "--key", try files.key("server.key", serverPKI.leafKey),
      "--client-ca", try files.certificates("client-root.pem", [clientPKI.root]), "--require-client-cert",
    ])
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "localhost:\(port)", "--trusted", try files.certificates("root.pem", [serverPKI.root]),
        "--cert", try files.certificates("client.pem", [clientCertificate, clientPKI.intermediate]),
        "--key", token.uri(object: "rsa-2048"),
      ], environment: token.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(server.waitForExit() == 0, "\(server.text)")
    #expect(server.text.contains("client CN=client.example.test"))
  }

  @Test func aPINOnTheCommandLineIsRefused() throws {
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "localhost:1", "--cert", "/dev/null", "--key",
        "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=123456",
      ])
    #expect(result.status == 2)
    #expect(result.stderr.contains("pin-source") && result.stderr.contains("--pin-stdin"), "\(result.output)")
    #expect(!result.output.contains("123456"))
  }

  @Test func connectAgainstSServerAndBadUsage() throws {
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let server = try OpenSSLServer([
      "-cert", try files.certificates("server.pem", [pki.leaf]), "-key", try files.key("server.key", pki.leafKey),
      "-cert_chain", try files.certificates("chain.pem", [pki.intermediate]),
    ])
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "localhost:\(server.port)", "--trusted", try files.certificates("root.pem", [pki.root]),
        "--min-version", "1.3",
      ])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.hasPrefix("connected to localhost:\(server.port): TLSv1.3"))
    #expect(try ChildProcess.run(tool, ["connect", "no-port"]).status == 2)
    #expect(try ChildProcess.run(tool, ["connect", "localhost:1", "--min-version", "1.1"]).status == 2)
    #expect(
      try ChildProcess.run(tool, ["serve", "--port", "0", "--cert", "/nonexistent", "--key", "/nonexistent"]).status
        == 2)
  }
}

/// `connect --send` reports the exchange apart from the handshake; `serve` and `connect` read
/// encrypted keys.
@Suite("CLI: connect's exchange and encrypted keys")
struct ConnectExchangeTests {
  let tool = ChildProcess.product("openssl-objects")

  private func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
  }

  private func serve(_ arguments: [String]) throws -> (RunningProcess, Int) {
    let server = try RunningProcess(tool, ["serve", "--port", "0", "--once"] + arguments)
    guard server.wait(for: "listening on"),
      let match = server.text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)
    else {
      throw TLSPair.HandshakeStalled()
    }
    return (server, Int(match.1)!)
  }

  @Test func sendToServeWithoutReplyGetsItsTextEchoed() throws {
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let (server, port) = try serve([
      "--cert", try files.certificates("server.pem", [pki.leaf, pki.intermediate]), "--key",
      try files.key("server.key", pki.leafKey),
    ])
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "localhost:\(port)", "--trusted", try files.certificates("root.pem", [pki.root]), "--send", "ping",
        "--json",
      ])
    #expect(result.status == 0, "\(result.output)")
    let document = try json(result.stdout)
    #expect(document["connected"] as? Bool == true)
    #expect(document["received"] as? String == "ping")
    #expect(document["error"] is NSNull)
    #expect(server.waitForExit() == 0, "\(server.text)")
  }

  @Test func sendToSServerRevShowsTheAnswerOfAServerThatStaysOpen() throws {
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let server = try OpenSSLServer([
      "-cert", try files.certificates("server.pem", [pki.leaf]), "-key", try files.key("server.key", pki.leafKey),
      "-cert_chain", try files.certificates("chain.pem", [pki.intermediate]), "-rev",
    ])
    let trusted = try files.certificates("root.pem", [pki.root])
    let result = try ChildProcess.run(
      tool, ["connect", "localhost:\(server.port)", "--trusted", trusted, "--send", "ping\n", "--json"])
    #expect(result.status == 0, "\(result.output)")
    let document = try json(result.stdout)
    #expect(document["connected"] as? Bool == true)
    #expect((document["received"] as? String)?.contains("gnip") == true, "\(result.output)")
    #expect(document["error"] is NSNull)
    let text = try ChildProcess.run(
      tool, ["connect", "localhost:\(server.port)", "--trusted", trusted, "--send", "abc\n"])
    #expect(text.status == 0, "\(text.output)")
    #expect(text.stdout.contains("received: cba"), "\(text.output)")
  }

  @Test func anExchangeThatFailsAfterAVerifiedHandshakeStillSaysConnected() throws {
    // s_server -rev answers only complete lines: text without a newline gets no answer at all,
    // so the exchange times out; the handshake before it succeeded.
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let server = try OpenSSLServer([
      "-cert", try files.certificates("server.pem", [pki.leaf]), "-key", try files.key("server.key", pki.leafKey),
      "-cert_chain", try files.certificates("chain.pem", [pki.intermediate]), "-rev",
    ])
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "localhost:\(server.port)", "--trusted", try files.certificates("root.pem", [pki.root]), "--send",
        "no newline", "--timeout", "1", "--json",
      ])
    #expect(result.status == 1, "\(result.output)")
    let document = try json(result.stdout)
    #expect(document["connected"] as? Bool == true)
    #expect(document["version"] as? String == "TLSv1.3")
    #expect(document["verify_error"] is NSNull)
    #expect(document["error"] is [String: Any])
    #expect(result.stderr.contains("the exchange after the handshake failed"), "\(result.stderr)")
  }

  @Test func serveAndConnectReadEncryptedKeys() throws {
    let serverPKI = try TestPKI(leafName: "localhost")
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let files = try PeerFiles()
    let passphrase = try files.directory.write("pass", "s3cret words\n")
    func encrypted(_ name: String, _ key: PrivateKey) throws -> String {
      try files.directory.write(
        name, try key.pemEncoded(passphrase: Passphrase(Array("s3cret words".utf8))).withUnsafeBytes { Array($0) })
    }
    let (server, port) = try serve([
      "--cert", try files.certificates("server.pem", [serverPKI.leaf, serverPKI.intermediate]),
      "--key", try encrypted("server.key", serverPKI.leafKey), "--passphrase-file", passphrase,
      "--client-ca", try files.certificates("client-root.pem", [clientPKI.root]), "--require-client-cert",
    ])
    let result = try ChildProcess.run(
      tool,
      [
        "connect", "localhost:\(port)", "--trusted", try files.certificates("root.pem", [serverPKI.root]),
        "--cert", try files.certificates("client.pem", [clientPKI.leaf, clientPKI.intermediate]),
        "--key", try encrypted("client.key", clientPKI.leafKey), "--passphrase-stdin",
      ], stdin: "s3cret words\n")
    #expect(result.status == 0, "\(result.output)")
    #expect(server.waitForExit() == 0, "\(server.text)")
    #expect(server.text.contains("client CN=client.example.test"), "\(server.text)")
    #expect(!result.output.contains("s3cret") && !server.text.contains("s3cret"))
  }
}
