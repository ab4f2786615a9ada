import NIOCore
import NIOEmbedded
import NIOTLS
import NIOTestSupport
import OpenSSLObjects
import OpenSSLObjectsNIO
import TestSupport
import Testing

/// The handlers over two EmbeddedChannels: every byte between them moves when the test says, so
/// each step of the protocol can be looked at (and broken) on its own.
@Suite("OpenSSLClientHandler and OpenSSLServerHandler on EmbeddedChannels")
struct EmbeddedHandlerTests {
  private func pair(
    _ fixture: NIOFixture,
    client adjustClient: (inout TLSConfiguration) throws -> Void = { _ in },
    server adjustServer: (inout TLSConfiguration) throws -> Void = { _ in },
    serverName: String = "www.example.test"
  ) throws -> EmbeddedPair {
    try EmbeddedPair(
      client: OpenSSLClientHandler(context: fixture.client(adjustClient), serverName: serverName),
      server: OpenSSLServerHandler(context: fixture.server(adjustServer)))
  }

  @Test func theHandshakeFiresWhatItNegotiatedThenNIOTLSsEvent() throws {
    let fixture = try NIOFixture()
    let pair = try pair(
      fixture, client: { $0.alpnProtocols = ["h2", "http/1.1"] }, server: { $0.alpnProtocols = ["http/1.1"] })
    try pair.connect()
    let client = try #require(pair.clientRecorder.snapshot.handshakes.first)
    #expect(client.version == .tls13)
    #expect(client.cipher == "TLS_AES_128_GCM_SHA256")
    #expect(client.alpnProtocol == "http/1.1")
    #expect(client.serverName == "www.example.test")
    #expect(client.peerCertificate == fixture.pki.leaf)
    #expect(client.verifiedChain == [fixture.pki.leaf, fixture.pki.intermediate, fixture.pki.root])
    #expect(!client.isSessionReused)
    #expect(pair.clientRecorder.snapshot.tlsEvents == [.handshakeCompleted(negotiatedProtocol: "http/1.1")])
    let server = try #require(pair.serverRecorder.snapshot.handshakes.first)
    #expect(server.alpnProtocol == "http/1.1")
    #expect(server.serverName == "www.example.test")
    #expect(server.peerCertificate == nil)
    // The same value through the future and the handler.
    let handler = try pair.client.pipeline.syncOperations.handler(type: OpenSSLClientHandler.self)
    #expect(handler.handshakeCompleted?.peerCertificate == fixture.pki.leaf)
    let result = try pair.client.tlsHandshakeResult().wait()
    #expect(result.verifiedChain.count == 3)
  }

  @Test func dataGoesBothWaysAndWritesBeforeTheHandshakeWait() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    let early = pair.client.eventLoop.makePromise(of: Void.self)
    // Written and flushed before the channel is even active: it waits for the handshake.
    pair.client.writeAndFlush(ByteBuffer(string: "early "), promise: early)
    pair.client.write(ByteBuffer(string: "unflushed"), promise: nil)
    try pair.activate()
    try pair.pump()
    #expect(pair.serverRecorder.text == "early ")
    try early.futureResult.wait()
    pair.client.flush()
    try pair.pump()
    #expect(pair.serverRecorder.text == "early unflushed")
    try pair.server.writeAndFlush(ByteBuffer(string: "answer")).wait()
    try pair.pump()
    #expect(pair.clientRecorder.text == "answer")
    #expect(pair.clientRecorder.errors.isEmpty && pair.serverRecorder.errors.isEmpty)
  }

  @Test func severalWritesInOneFlushCompleteTheirPromisesInOrder() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    try pair.connect()
    let order = Recorder<Int>()
    var futures: [EventLoopFuture<Void>] = []
    for index in 0..<5 {
      let promise = pair.client.eventLoop.makePromise(of: Void.self)
      promise.futureResult.whenSuccess { order.append(index) }
      // An empty write among them keeps its place.
      pair.client.write(ByteBuffer(string: index == 2 ? "" : "\(index)"), promise: promise)
      futures.append(promise.futureResult)
    }
    pair.client.flush()
    try pair.pump()
    for future in futures { try future.wait() }
    #expect(order.all == [0, 1, 2, 3, 4])
    #expect(pair.serverRecorder.text == "0134")
  }

  @Test func closeSendsCloseNotifyAndThePeerAnswersAndCloses() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    try pair.connect()
    let closed = pair.client.close()
    let closeNotify = try EmbeddedPair.drain(pair.client)
    // One alert record (type 21) when the TLS 1.3 record layer hides it as application data (23).
    #expect(closeNotify.readableBytes > 0)
    #expect(closeNotify.getInteger(at: 0, as: UInt8.self) == 23)
    try pair.server.writeInbound(closeNotify)
    #expect(pair.serverRecorder.errors.isEmpty)
    #expect(pair.serverRecorder.snapshot.tlsEvents.last == .shutdownCompleted)
    #expect(!pair.server.isActive)
    // The server's own close_notify went out before it closed.
    #expect(try EmbeddedPair.drain(pair.server).readableBytes > 0)
    try closed.wait()
  }

  @Test func halfClosureKeepsTheOtherDirectionOpen() throws {
    let fixture = try NIOFixture()
    let pair = try EmbeddedPair(
      client: OpenSSLClientHandler(context: fixture.client(), serverName: "www.example.test"),
      server: OpenSSLServerHandler(context: fixture.server()), halfClosure: true)
    try pair.connect()
    pair.client.writeAndFlush(ByteBuffer(string: "request"), promise: nil)
    let outputClosed = pair.client.close(mode: .output)
    try pair.pump()
    try outputClosed.wait()
    #expect(pair.serverRecorder.text == "request")
    #expect(pair.serverRecorder.snapshot.inputClosed)
    #expect(pair.server.isActive)
    // Writing after the output is closed fails; the server still answers.
    #expect(throws: ChannelError.outputClosed) { try pair.client.writeAndFlush(ByteBuffer(string: "late")).wait() }
    try pair.server.writeAndFlush(ByteBuffer(string: "response")).wait()
    try pair.pump()
    #expect(pair.clientRecorder.text == "response")
    let interceptor = try pair.client.pipeline.syncOperations.handler(type: OutputCloseInterceptor.self)
    #expect(interceptor.outputClosed)
    // The server closes its side too: both close_notify exchanged, both channels close cleanly.
    pair.server.close(mode: .output, promise: nil)
    try pair.pump()
    #expect(pair.clientRecorder.snapshot.tlsEvents.last == .shutdownCompleted)
    #expect(pair.serverRecorder.snapshot.tlsEvents.last == .shutdownCompleted)
    // The client, whose output was closed, closes; the server closed its output (the transport
    // closes the channel when its input ends too).
    #expect(!pair.client.isActive)
    #expect(try pair.server.pipeline.syncOperations.handler(type: OutputCloseInterceptor.self).outputClosed)
    #expect(pair.clientRecorder.errors.isEmpty && pair.serverRecorder.errors.isEmpty)
  }

  @Test func anOutputCloseAskedForDuringTheHandshakeComesAfterItAndTheWritesBeforeIt() throws {
    let fixture = try NIOFixture()
    let pair = try EmbeddedPair(
      client: OpenSSLClientHandler(context: fixture.client(), serverName: "www.example.test"),
      server: OpenSSLServerHandler(context: fixture.server()), halfClosure: true)
    // Before the channel is even active: a write, then the end of the output.
    pair.client.writeAndFlush(ByteBuffer(string: "all I have to say"), promise: nil)
    let outputClosed = pair.client.close(mode: .output)
    try pair.activate()
    try pair.pump()
    try outputClosed.wait()
    #expect(pair.clientRecorder.snapshot.handshakes.count == 1)
    #expect(pair.serverRecorder.text == "all I have to say")
    #expect(pair.serverRecorder.snapshot.inputClosed)
    #expect(try pair.client.pipeline.syncOperations.handler(type: OutputCloseInterceptor.self).outputClosed)
    #expect(pair.clientRecorder.errors.isEmpty && pair.serverRecorder.errors.isEmpty)
  }

  @Test func aPeerThatLeavesWithoutCloseNotifyIsAnUncleanShutdown() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    try pair.connect()
    pair.client.writeAndFlush(ByteBuffer(string: "last words"), promise: nil)
    try pair.pump()
    // The transport ends without close_notify.
    pair.server.pipeline.fireChannelInactive()
    #expect(pair.serverRecorder.text == "last words")
    #expect(pair.serverRecorder.channelErrors.map(\.kind) == [.uncleanShutdown])
  }

  @Test func aPeerThatLeavesMidRecordIsAnUncleanShutdownAndNothingOfTheRecordGoesUp() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    try pair.connect()
    pair.client.writeAndFlush(ByteBuffer(string: String(repeating: "x", count: 1_000)), promise: nil)
    var record = try EmbeddedPair.drain(pair.client)
    try pair.server.writeInbound(record.readSlice(length: record.readableBytes / 2)!)
    pair.server.pipeline.fireChannelInactive()
    #expect(pair.serverRecorder.snapshot.byteCount == 0)
    let error = try #require(pair.serverRecorder.channelErrors.first)
    #expect(error.kind == .uncleanShutdown)
    #expect((error.underlying as? TLSError)?.isUnexpectedEOF == true)
  }

  @Test func aTransportThatEndsMidHandshakeFailsTheHandshake() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    try pair.activate()
    // The server gets the client hello, then the transport ends.
    try pair.server.writeInbound(try EmbeddedPair.drain(pair.client))
    pair.server.pipeline.fireChannelInactive()
    #expect(pair.serverRecorder.channelErrors.map(\.kind) == [.closedDuringHandshake])
    let failure = try caughtError { _ = try pair.server.tlsHandshakeResult().wait() }
    #expect((failure as? TLSChannelError)?.kind == .closedDuringHandshake)
    pair.client.pipeline.fireChannelInactive()
    #expect(pair.clientRecorder.channelErrors.map(\.kind) == [.closedDuringHandshake])
  }

  @Test func aVerifyCallbackThatThrowsFailsTheHandshakeWithItsError() throws {
    let fixture = try NIOFixture()
    let pair = try pair(
      fixture,
      client: { configuration in
        configuration.verification.verifyCallback = { view in
          if view.depth == 0 { throw CallbackFailure(reason: "no") }
          return .keep
        }
      })
    try pair.activate()
    try pair.pump()
    let error = try #require(pair.clientRecorder.channelErrors.first)
    #expect(error.kind == .handshakeFailed)
    #expect(error.underlying as? CallbackFailure == CallbackFailure(reason: "no"))
    #expect(!pair.client.isActive)
    // The client's alert reached the server, which fails too.
    #expect(pair.serverRecorder.channelErrors.map(\.kind) == [.handshakeFailed])
    #expect(pair.clientRecorder.snapshot.handshakes.isEmpty && pair.serverRecorder.snapshot.handshakes.isEmpty)
  }

  @Test func aCertificateThatFailsVerificationIsExplained() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture, serverName: "other.example.test")
    try pair.activate()
    try pair.pump()
    let error = try #require(pair.clientRecorder.channelErrors.first)
    #expect(error.kind == .handshakeFailed)
    #expect(error.verification?.code == .hostnameMismatch)
    #expect(error.description.contains("not for the host name \"other.example.test\""))
  }

  @Test func aRecordThatDoesNotDecryptIsAReadFailure() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    try pair.connect()
    pair.client.writeAndFlush(ByteBuffer(string: "hello"), promise: nil)
    var record = try EmbeddedPair.drain(pair.client)
    // Flip a bit of the ciphertext: the AEAD tag no longer matches.
    let last = record.writerIndex - 1
    record.setInteger(record.getInteger(at: last, as: UInt8.self)! ^ 1, at: last)
    try pair.server.writeInbound(record)
    let error = try #require(pair.serverRecorder.channelErrors.first)
    #expect(error.kind == .readFailed)
    #expect(pair.serverRecorder.snapshot.byteCount == 0)
    #expect(!pair.server.isActive)
  }

  @Test func removingTheHandlerMidStreamIsAnErrorAndClosesTheChannel() throws {
    let fixture = try NIOFixture()
    let pair = try pair(fixture)
    try pair.connect()
    let handler = try pair.client.pipeline.syncOperations.handler(type: OpenSSLClientHandler.self)
    let waiting = pair.client.eventLoop.makePromise(of: Void.self)
    pair.client.write(ByteBuffer(string: "never flushed"), promise: waiting)
    try pair.client.pipeline.syncOperations.removeHandler(handler).wait()
    #expect(pair.clientRecorder.channelErrors.map(\.kind) == [.handlerRemoved])
    #expect(!pair.client.isActive)
    let failure = try caughtError { try waiting.futureResult.wait() }
    #expect((failure as? TLSChannelError)?.kind == .handlerRemoved)
  }

  @Test func theServerNameHandlerSwitchesContexts() throws {
    let main = try NIOFixture()
    let api = try NIOFixture {
      $0.subject = try X509Name(["CN": "api.example.test"])
      $0.subjectAlternativeNames = [.dnsName("api.example.test")]
    }
    let apiContext = try api.server()
    let server = try main.server { $0.serverNameHandler = { name in name == "api.example.test" ? apiContext : nil } }
    for (fixture, name) in [(api, "api.example.test"), (main, "www.example.test")] {
      let pair = try EmbeddedPair(
        client: OpenSSLClientHandler(context: fixture.client(), serverName: name),
        server: OpenSSLServerHandler(context: server))
      try pair.connect()
      #expect(pair.clientRecorder.snapshot.handshakes.first?.peerCertificate == fixture.pki.leaf)
      #expect(pair.serverRecorder.snapshot.handshakes.first?.serverName == name)
    }
  }

  @Test func aPerConnectionPolicyAppliesToThatConnectionOnly() throws {
    let fixture = try NIOFixture()
    let stranger = try TestPKI()
    let pinned = try EmbeddedPair(
      client: OpenSSLClientHandler(context: fixture.client(), serverName: "www.example.test") {
        $0.setPins(try PinSet([stranger.root.spkiPin]))
      },
      server: OpenSSLServerHandler(context: fixture.server()))
    try pinned.activate()
    try pinned.pump()
    #expect(pinned.clientRecorder.channelErrors.first?.verification?.code == .applicationVerification)
  }

  @Test func aClientThatMustNameItsServerCannotBeMadeWithout() throws {
    let fixture = try NIOFixture()
    #expect(throws: UsageError.self) { try OpenSSLClientHandler(context: fixture.client(), serverName: nil) }
  }
}
