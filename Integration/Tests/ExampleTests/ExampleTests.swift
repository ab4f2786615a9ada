import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The examples, run as their users would run them: the NIO client against the NIO server, and
/// curl against the Hummingbird HTTPS server whose key is on a SoftHSM2 token and which staples
/// a response it fetched from an OCSP responder. Every process is stopped by its test.
@Suite("The NIO examples")
struct ExampleTests {
  /// Starts an example server and returns it with its port, once it prints `listening on`.
  private func start(
    _ product: String, _ arguments: [String], environment: [String: String] = [:]
  ) throws
    -> (process: RunningProcess, port: Int)
  {
    let process = try RunningProcess(ChildProcess.product(product), arguments, environment: environment)
    try #require(process.wait(for: "listening on", timeout: 60), "\(process.text)")
    let line = try #require(process.text.split(separator: "\n").first { $0.hasPrefix("listening on") })
    let port = try #require(line.split(separator: ":").last.flatMap { Int($0) })
    return (process, port)
  }

  @Test func theClientExampleTalksToTheServerExample() throws {
    let pki = try TestPKI()
    let files = try PeerFiles()
    let (server, port) = try start(
      "nio-tls-server",
      [
        "--cert", try files.certificates("server.pem", [pki.leaf]), "--key", try files.key("server.key", pki.leafKey),
        "--chain", try files.certificates("chain.pem", [pki.intermediate]), "--port", "0",
      ])
    defer { server.stop() }
    let result = try ChildProcess.run(
      ChildProcess.product("nio-tls-client"),
      [
        "127.0.0.1", "\(port)", "--ca", try files.certificates("root.pem", [pki.root]), "--servername",
        "www.example.test", "--message", "hello from the client",
      ])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("negotiated: TLSv1.3, TLS_AES_128_GCM_SHA256"), "\(result.output)")
    #expect(result.stdout.contains("verified: CN=www.example.test <- "))
    #expect(result.stdout.contains("reply: HELLO FROM THE CLIENT"))
    // A client that does not trust the server's root fails, and says why.
    let stranger = try TestPKI()
    let refused = try ChildProcess.run(
      ChildProcess.product("nio-tls-client"),
      [
        "127.0.0.1", "\(port)", "--ca", try files.certificates("other.pem", [stranger.root]), "--servername",
        "www.example.test",
      ])
    #expect(refused.status == 1)
    #expect(refused.stdout.contains("certificate verification failed"), "\(refused.output)")
  }

  /// The token's `ec-p256` key with a certificate from `pki` that names `responder` for OCSP.
  private func tokenCertificate(_ token: SoftHSMToken, pki: TestPKI, responder: String) throws -> X509Certificate {
    var builder = try TestPKI.leafBuilder(name: "www.example.test", key: pki.leafKey)
    builder.publicKey = try PublicKey(contentsOfFile: token.publicKeyFile("ec-p256"))
    builder.setAuthorityInformationAccess(ocsp: [responder])
    return try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
  }

  @Test(arguments: [true, false])
  func curlGetsAVerifiedStapledResponseFromTheHummingbirdServer(good: Bool) throws {
    let token = try SoftHSMToken.shared.get()
    let pki = try TestPKI()
    let responder = try OCSPTestResponder()
    let leaf = try tokenCertificate(token, pki: pki, responder: responder.url)
    try responder.serve(
      ca: pki.intermediate, signer: pki.intermediate, signerKey: pki.intermediateKey, good: good ? [leaf] : [],
      revoked: good ? [] : [leaf])
    let files = try PeerFiles()
    let (server, port) = try start(
      "https-token-server",
      [
        "--cert", try files.certificates("server.pem", [leaf]),
        "--chain", try files.certificates("chain.pem", [pki.intermediate]),
        "--trust", try files.certificates("trust.pem", [pki.root]),
        "--key", token.uri(object: "ec-p256"), "--module", SoftHSMToken.modulePath, "--port", "0",
        // The test's responder is on 127.0.0.1.
        "--allow-private-destinations", "yes",
      ], environment: token.environment)
    defer { server.stop() }
    #expect(server.text.contains("stapling: \(good ? "good" : "revoked")"), "\(server.text)")
    #expect(responder.received.count == 1)
    let result = try ChildProcess.run(
      "curl",
      [
        "--silent", "--show-error", "--max-time", "20", "--noproxy", "*", "--cert-status",
        "--cacert", try files.certificates("root.pem", [pki.root]),
        "--resolve", "www.example.test:\(port):127.0.0.1", "https://www.example.test:\(port)/",
      ])
    if good {
      #expect(result.status == 0, "\(result.output) \(server.text)")
      #expect(result.stdout == "hello over TLS, signed on a PKCS#11 token\n")
    } else {
      // curl checks the staple and refuses the revoked certificate.
      #expect(result.status != 0)
      #expect(result.stderr.contains("SSL certificate revocation reason"), "\(result.output)")
    }
  }
}
