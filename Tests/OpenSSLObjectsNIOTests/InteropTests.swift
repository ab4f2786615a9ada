import Foundation
import NIOCore
import NIOPosix
import NIOTestSupport
import OpenSSLObjects
import OpenSSLObjectsNIO
import PKCS11Keys
import TestSupport
import Testing

/// Our NIO client against `openssl s_server`, and our NIO server against `openssl s_client` and
/// `curl`, on 127.0.0.1 with free ports; every process is stopped by its test.
@Suite("The NIO handlers against openssl s_server, s_client and curl")
struct NIOInteropTests {
  private func serverFiles(_ pki: TestPKI, _ files: PeerFiles) throws -> [String] {
    [
      "-cert", try files.certificates("server.pem", [pki.leaf]),
      "-key", try files.key("server.key", pki.leafKey),
      "-cert_chain", try files.certificates("server-chain.pem", [pki.intermediate]),
    ]
  }

  /// Our client asks `s_server -www` for its status page and reads it to the end.
  private func getStatusPage(
    port: Int, context: SSLContext, configure: @escaping @Sendable (SSLConnection) throws -> Void = { _ in }
  ) async throws -> PipelineRecorder {
    let recorder = PipelineRecorder()
    let channel = try await connectClient(port: port, context: context, recorder: recorder, configure: configure)
    channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.0\r\n\r\n"), promise: nil)
    try await channel.closeFuture.get()
    return recorder
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func ourClientAgainstSServer(version: TLSVersion) async throws {
    let fixture = try NIOFixture()
    let files = try PeerFiles()
    let server = try OpenSSLServer(
      try serverFiles(fixture.pki, files) + ["-www", version == .tls13 ? "-tls1_3" : "-tls1_2"])
    let recorder = try await getStatusPage(port: server.port, context: try fixture.client())
    #expect(recorder.text.hasPrefix("HTTP/1.0 200 ok"), "\(recorder.text)")
    let negotiated = try #require(recorder.snapshot.handshakes.first)
    #expect(negotiated.version == version)
    #expect(negotiated.verifiedChain == [fixture.pki.leaf, fixture.pki.intermediate, fixture.pki.root])
    // s_server ends with close_notify: a clean end, no error.
    #expect(recorder.errors.isEmpty, "\(recorder.errors)")
  }

  @Test(arguments: [true, false])
  func ourClientRequiringAStapleAgainstSServer(stapled: Bool) async throws {
    let ocsp = try OCSPPKI()
    let files = try PeerFiles()
    var arguments = try serverFiles(ocsp.pki, files) + ["-www"]
    if stapled {
      arguments += ["-status_file", try files.directory.write("staple.der", try ocsp.response(.good).derEncoded)]
    }
    let server = try OpenSSLServer(arguments)
    var configuration = TLSConfiguration.client
    configuration.trust = .certificates([ocsp.pki.root])
    configuration.revocation.staple = .require
    let recorder = try await getStatusPage(port: server.port, context: try SSLContext(configuration: configuration))
    if stapled {
      let negotiated = try #require(recorder.snapshot.handshakes.first, "\(recorder.errors)")
      #expect(negotiated.ocspStaple != nil)
      #expect(negotiated.revocationReport?.source == .staple)
      #expect(negotiated.revocationReport?.singleResponse?.status == .good)
      #expect(recorder.text.hasPrefix("HTTP/1.0 200 ok"))
    } else {
      let error = try #require(recorder.channelErrors.first)
      #expect(error.kind == .handshakeFailed)
      #expect((error.underlying as? OCSPError)?.check == .missingStaple, "\(error)")
      #expect(recorder.snapshot.byteCount == 0)
    }
  }

  @Test func ourClientPresentsItsCertificateToSServer() async throws {
    let fixture = try NIOFixture()
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let files = try PeerFiles()
    let server = try OpenSSLServer(
      try serverFiles(fixture.pki, files) + [
        "-www", "-Verify", "2", "-verify_return_error",
        "-CAfile", try files.certificates("client-root.pem", [clientPKI.root]),
      ])
    let chain = CertificateChain(
      certificate: clientPKI.leaf, chain: [clientPKI.intermediate], privateKey: clientPKI.leafKey)
    let recorder = try await getStatusPage(
      port: server.port, context: try fixture.client { $0.certificateChains = [chain] })
    #expect(recorder.text.hasPrefix("HTTP/1.0 200 ok"), "\(recorder.errors)")
    #expect(server.process.wait(for: "client.example.test"))
    // Without one, s_server refuses: an error in our pipeline.
    let refused = try await getStatusPage(port: server.port, context: try fixture.client())
    #expect(refused.snapshot.byteCount == 0)
    #expect(!refused.channelErrors.isEmpty)
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func sClientAgainstOurServerWithALPNAndSNI(version: TLSVersion) async throws {
    let main = try NIOFixture()
    let api = try NIOFixture {
      $0.subject = try X509Name(["CN": "api.example.test"])
      $0.subjectAlternativeNames = [.dnsName("api.example.test")]
    }
    let apiContext = try api.server { $0.alpnProtocols = ["http/1.1"] }
    let context = try main.server { configuration in
      configuration.alpnProtocols = ["h2", "http/1.1"]
      configuration.serverNameHandler = { name in name == "api.example.test" ? apiContext : nil }
    }
    let server = try await NIOServer(
      context: context,
      respond: { context, buffer in
        let text = String(buffer: buffer).uppercased()
        context.writeAndFlush(NIOAny(ByteBuffer(string: text))).assumeIsolated().whenComplete { _ in
          context.close(promise: nil)
        }
      })
    let files = try PeerFiles()
    let roots = try files.certificates("roots.pem", [main.pki.root, api.pki.root])
    for name in ["www.example.test", "api.example.test"] {
      let result = try runOpenSSLClient(
        port: server.port,
        [
          "-servername", name, "-CAfile", roots, "-verify_return_error", "-alpn", "http/1.1",
          version == .tls13 ? "-tls1_3" : "-tls1_2", "-ign_eof",
        ], input: "hello\n")
      #expect(result.stdout.contains("Verify return code: 0 (ok)"), "\(result.output)")
      #expect(result.stdout.contains("ALPN protocol: http/1.1"))
      // s_client prints "subject=CN = name" up to 3.x's older releases, "subject=CN=name" on 3.5.
      #expect(result.stdout.replacing(" = ", with: "=").contains("subject=CN=\(name)"), "\(result.output)")
      #expect(result.stdout.contains("New, \(version)"))
      #expect(result.stdout.contains("HELLO"))
    }
    try await eventually("both connections to end") {
      server.connections.count == 2 && server.connections.allSatisfy { $0.snapshot.inactive }
    }
    #expect(
      server.connections.compactMap { $0.snapshot.handshakes.first?.serverName }.sorted() == [
        "api.example.test", "www.example.test",
      ])
    #expect(server.connections.allSatisfy { $0.errors.isEmpty }, "\(server.connections.map(\.errors))")
    try await server.stop()
  }

  @Test func sClientPresentsItsCertificateToOurServer() async throws {
    let fixture = try NIOFixture()
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let context = try fixture.server {
      $0.peerVerification = .requireClientCertificate
      $0.trust = .certificates([clientPKI.root])
    }
    let server = try await NIOServer(context: context, respond: echo)
    let files = try PeerFiles()
    let result = try runOpenSSLClient(
      port: server.port,
      [
        "-servername", "www.example.test", "-CAfile", try files.certificates("root.pem", [fixture.pki.root]),
        "-cert", try files.certificates("client.pem", [clientPKI.leaf]),
        "-key", try files.key("client.key", clientPKI.leafKey),
        "-cert_chain", try files.certificates("client-chain.pem", [clientPKI.intermediate]),
      ], input: "ping\n")
    #expect(result.stdout.contains("Verify return code: 0 (ok)"), "\(result.output)")
    let serverSide = try await server.firstConnection()
    try await eventually("the handshake") { !serverSide.snapshot.handshakes.isEmpty }
    let negotiated = try #require(serverSide.snapshot.handshakes.first)
    #expect(negotiated.peerCertificate == clientPKI.leaf)
    #expect(negotiated.verifiedChain == [clientPKI.leaf, clientPKI.intermediate, clientPKI.root])
    try await server.stop()
  }

  @Test func curlGetsAResponseAndAVerifiedStapleFromOurServerWithATokenKey() async throws {
    let token = try SoftHSMToken.shared.get()
    let ocsp = try OCSPPKI()
    let key = try PrivateKey(
      pkcs11: token.uri(object: "ec-p256"),
      options: PKCS11LoadOptions(
        modulePolicy: .allowList([SoftHSMToken.modulePath]),
        // In-process token tests keep to one backend: SoftHSM2's login is the whole process's.
        backend: PKCS11Backend.libp11UsesThisOpenSSL ? .libp11 : .automatic))
    var builder = try TestPKI.leafBuilder(name: "www.example.test", key: ocsp.pki.leafKey)
    builder.publicKey = try key.publicKey
    builder.setAuthorityInformationAccess(ocsp: ["http://127.0.0.1:9/ocsp"])
    let leaf = try builder.sign(with: ocsp.pki.intermediateKey, issuerCertificate: ocsp.pki.intermediate)
    var response = OCSPResponseBuilder()
    response.add(
      try OCSPCertID(certificate: leaf, issuer: ocsp.pki.intermediate), status: .good,
      nextUpdate: Date(timeIntervalSinceNow: 86_400))
    let staple = try response.sign(with: ocsp.pki.intermediateKey, signer: ocsp.pki.intermediate)
    let chain = CertificateChain(certificate: leaf, chain: [ocsp.pki.intermediate], privateKey: key)
    let files = try PeerFiles()
    let root = try files.certificates("root.pem", [ocsp.pki.root])
    for stapling in [true, false] {
      var configuration = TLSConfiguration.server([chain])
      if stapling { configuration.ocspStaple = .response(staple.derEncoded) }
      let server = try await NIOServer(
        context: try SSLContext(configuration: configuration), respond: httpResponse("hello from the token\n"))
      let result = try ChildProcess.run(
        "curl",
        [
          "--silent", "--show-error", "--max-time", "20", "--noproxy", "*", "--cacert", root, "--cert-status",
          "--resolve", "www.example.test:\(server.port):127.0.0.1", "https://www.example.test:\(server.port)/",
        ])
      if stapling {
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout == "hello from the token\n")
      } else {
        // curl --cert-status refuses a server that staples nothing.
        #expect(result.status != 0)
        #expect(result.stderr.contains("OCSP"), "\(result.output)")
      }
      try await server.stop()
    }
  }
}
