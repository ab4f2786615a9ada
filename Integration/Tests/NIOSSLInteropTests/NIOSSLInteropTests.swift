import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import NIOTestSupport
import OpenSSLObjects
import OpenSSLObjectsNIO
import TestSupport
import Testing

/// swift-nio-ssl's contexts for a fixture's chain (its own BoringSSL, loading the same PEM).
extension NIOFixture {
  func nioSSLServer(alpn: [String] = []) throws -> NIOSSLContext {
    let chain = try [pki.leaf, pki.intermediate].map {
      try NIOSSLCertificate(bytes: Array($0.pemEncoded.utf8), format: .pem)
    }
    let key = try pki.leafKey.pemEncoded().withUnsafeBytes { try NIOSSLPrivateKey(bytes: Array($0), format: .pem) }
    var configuration = NIOSSL.TLSConfiguration.makeServerConfiguration(
      certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    configuration.applicationProtocols = alpn
    return try NIOSSLContext(configuration: configuration)
  }

  func nioSSLClient(alpn: [String] = []) throws -> NIOSSLContext {
    var configuration = NIOSSL.TLSConfiguration.makeClientConfiguration()
    configuration.trustRoots = .certificates([
      try NIOSSLCertificate(bytes: Array(pki.root.pemEncoded.utf8), format: .pem)
    ])
    configuration.applicationProtocols = alpn
    return try NIOSSLContext(configuration: configuration)
  }
}

/// Our handlers against swift-nio-ssl's NIOSSLHandler on loopback sockets, both directions: ALPN,
/// data, half-closure, and 64 MiB each way with checksums.
@Suite("OpenSSLObjectsNIO against swift-nio-ssl")
struct NIOSSLInteropTests {
  private func nioSSLServer(
    _ context: NIOSSLContext, halfClosure: Bool = false, keepData: Bool = true,
    extraHandlers: @escaping @Sendable () -> [any ChannelHandler & Sendable] = { [] },
    respond: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)? = nil
  ) async throws -> NIOServer {
    try await NIOServer(
      tlsHandler: { SendableBox(NIOSSLServerHandler(context: context)) }, halfClosure: halfClosure,
      keepData: keepData, extraHandlers: extraHandlers, respond: respond)
  }

  private func nioSSLClient(
    port: Int, _ context: NIOSSLContext, halfClosure: Bool = false, recorder: PipelineRecorder
  ) async throws -> any Channel {
    try await connectClient(port: port, halfClosure: halfClosure, recorder: recorder) {
      SendableBox(try NIOSSLClientHandler(context: context, serverHostname: "www.example.test"))
    }
  }

  @Test func ourClientAgainstNIOSSLServerHandler() async throws {
    let fixture = try NIOFixture()
    let server = try await nioSSLServer(try fixture.nioSSLServer(alpn: ["http/1.1"]), respond: echo)
    let recorder = PipelineRecorder()
    let channel = try await connectClient(
      port: server.port, context: try fixture.client { $0.alpnProtocols = ["h2", "http/1.1"] }, recorder: recorder)
    try await channel.writeAndFlush(ByteBuffer(string: "ping"))
    try await eventually("the echo") { recorder.text == "ping" }
    let negotiated = try #require(recorder.snapshot.handshakes.first)
    #expect(negotiated.alpnProtocol == "http/1.1")
    #expect(negotiated.version == .tls13)
    #expect(negotiated.verifiedChain == [fixture.pki.leaf, fixture.pki.intermediate, fixture.pki.root])
    // Our close_notify: swift-nio-ssl answers with its own and closes, without an error.
    try await channel.close()
    let serverSide = try await server.firstConnection()
    try await eventually("the server's end") { serverSide.snapshot.inactive }
    #expect(serverSide.errors.isEmpty, "\(serverSide.errors)")
    #expect(serverSide.snapshot.tlsEvents.contains(.handshakeCompleted(negotiatedProtocol: "http/1.1")))
    try await server.stop()
  }

  @Test func nioSSLClientHandlerAgainstOurServer() async throws {
    let fixture = try NIOFixture()
    let server = try await NIOServer(context: try fixture.server { $0.alpnProtocols = ["http/1.1"] }, respond: echo)
    let recorder = PipelineRecorder()
    let channel = try await nioSSLClient(
      port: server.port, try fixture.nioSSLClient(alpn: ["h2", "http/1.1"]), recorder: recorder)
    try await channel.writeAndFlush(ByteBuffer(string: "pong"))
    try await eventually("the echo") { recorder.text == "pong" }
    #expect(recorder.snapshot.tlsEvents.first == .handshakeCompleted(negotiatedProtocol: "http/1.1"))
    let serverSide = try await server.firstConnection()
    #expect(serverSide.snapshot.handshakes.first?.alpnProtocol == "http/1.1")
    // swift-nio-ssl's close_notify: ours answers and closes, without an error.
    try await channel.close()
    try await eventually("the server's end") { serverSide.snapshot.inactive }
    #expect(serverSide.errors.isEmpty, "\(serverSide.errors)")
    #expect(serverSide.snapshot.tlsEvents.last == .shutdownCompleted)
    try await server.stop()
  }

  @Test func halfClosureFromOurClient() async throws {
    let fixture = try NIOFixture()
    let server = try await nioSSLServer(
      try fixture.nioSSLServer(), halfClosure: true,
      extraHandlers: { [AnswerWhenInputCloses(ByteBuffer(string: "response"))] })
    let recorder = PipelineRecorder()
    let channel = try await connectClient(
      port: server.port, context: try fixture.client(), halfClosure: true, recorder: recorder)
    try await channel.writeAndFlush(ByteBuffer(string: "request"))
    try await channel.close(mode: .output)
    try await channel.closeFuture.get()
    let serverSide = try await server.firstConnection()
    #expect(serverSide.text == "request")
    #expect(serverSide.snapshot.inputClosed)
    #expect(recorder.text == "response")
    #expect(recorder.errors.isEmpty, "\(recorder.errors)")
    #expect(recorder.snapshot.tlsEvents.last == .shutdownCompleted)
    try await server.stop()
  }

  @Test func halfClosureFromNIOSSLClient() async throws {
    let fixture = try NIOFixture()
    let server = try await NIOServer(
      context: try fixture.server(), halfClosure: true,
      extraHandlers: { [AnswerWhenInputCloses(ByteBuffer(string: "response"))] })
    let recorder = PipelineRecorder()
    let channel = try await nioSSLClient(
      port: server.port, try fixture.nioSSLClient(), halfClosure: true, recorder: recorder)
    try await channel.writeAndFlush(ByteBuffer(string: "request"))
    try await channel.close(mode: .output)
    try await eventually("the response") { recorder.text == "response" }
    let serverSide = try await server.firstConnection()
    #expect(serverSide.text == "request")
    #expect(serverSide.snapshot.inputClosed)
    #expect(serverSide.errors.isEmpty, "\(serverSide.errors)")
    try await channel.closeFuture.get()
    try await server.stop()
  }

  /// 64 MiB from the client, its output closed, then 64 MiB back: both checked with SHA-256.
  private func transfer(
    server: NIOServer, download: ByteBuffer, connect: (PipelineRecorder) async throws -> any Channel
  ) async throws {
    let upload = randomBuffer(64 << 20)
    let recorder = PipelineRecorder(keepData: false)
    let channel = try await connect(recorder)
    try await channel.writeAndFlush(upload)
    try await channel.close(mode: .output)
    let serverSide = try await server.firstConnection()
    try await eventually("the whole download") { recorder.snapshot.byteCount == download.readableBytes }
    try await eventually("the server's end") { serverSide.snapshot.inactive }
    try? await channel.closeFuture.get()
    #expect(serverSide.snapshot.byteCount == upload.readableBytes)
    #expect(serverSide.snapshot.digest == digest(upload))
    try await eventually("the client's end") { recorder.snapshot.inactive }
    #expect(recorder.snapshot.digest == digest(download))
  }

  @Test func sixtyFourMebibytesEachWayBetweenOurClientAndNIOSSLServer() async throws {
    let fixture = try NIOFixture()
    let download = randomBuffer(64 << 20)
    let server = try await nioSSLServer(
      try fixture.nioSSLServer(), halfClosure: true, keepData: false,
      extraHandlers: { [AnswerWhenInputCloses(download)] })
    let client = try fixture.client()
    try await transfer(server: server, download: download) { recorder in
      try await connectClient(port: server.port, context: client, halfClosure: true, recorder: recorder)
    }
    try await server.stop()
  }

  @Test func sixtyFourMebibytesEachWayBetweenNIOSSLClientAndOurServer() async throws {
    let fixture = try NIOFixture()
    let download = randomBuffer(64 << 20)
    let server = try await NIOServer(
      context: try fixture.server(), halfClosure: true, keepData: false,
      extraHandlers: { [AnswerWhenInputCloses(download)] })
    let client = try fixture.nioSSLClient()
    try await transfer(server: server, download: download) { recorder in
      try await nioSSLClient(port: server.port, client, halfClosure: true, recorder: recorder)
    }
    try await server.stop()
  }
}
