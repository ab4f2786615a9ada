import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOTLS
import NIOTestSupport
import OpenSSLObjects
import OpenSSLObjectsNIO
import TestSupport
import Testing

/// The handlers on real sockets on 127.0.0.1, on a two-thread event loop group: our client
/// against our server (with NIOAsyncChannel, as the examples use it), large transfers,
/// backpressure, the asynchronous chain policy, and peers that misbehave.
@Suite("OpenSSLClientHandler and OpenSSLServerHandler on loopback sockets")
struct SocketHandlerTests {
  @Test func nioAsyncChannelClientAgainstNIOAsyncChannelServer() async throws {
    let fixture = try NIOFixture()
    let serverContext = try fixture.server { $0.alpnProtocols = ["echo/1"] }
    let clientContext = try fixture.client { $0.alpnProtocols = ["echo/1"] }
    let server = try await ServerBootstrap(group: testGroup)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.allowRemoteHalfClosure, value: true)
      .bind(host: "127.0.0.1", port: 0) { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(OpenSSLServerHandler(context: serverContext))
          return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    let port = try #require(server.channel.localAddress?.port)
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask {
        // An upper-casing echo server: one connection, then done.
        try await server.executeThenClose { inbound in
          for try await connection in inbound {
            try await connection.executeThenClose { input, output in
              for try await var chunk in input {
                let text = chunk.readString(length: chunk.readableBytes) ?? ""
                try await output.write(ByteBuffer(string: text.uppercased()))
              }
            }
            return
          }
        }
      }
      let client = try await ClientBootstrap(group: testGroup).connect(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(
            OpenSSLClientHandler(context: clientContext, serverName: "www.example.test", port: port))
          return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
      }
      let negotiated = try await client.channel.tlsHandshakeResult().get()
      #expect(negotiated.alpnProtocol == "echo/1")
      #expect(negotiated.verifiedChain.first == fixture.pki.leaf)
      let answer = try await client.executeThenClose { input, output in
        try await output.write(ByteBuffer(string: "hello over tls"))
        output.finish()
        var answer = ""
        for try await var chunk in input { answer += chunk.readString(length: chunk.readableBytes) ?? "" }
        return answer
      }
      #expect(answer == "HELLO OVER TLS")
    }
  }

  @Test func sixtyFourMebibytesEachWayArriveIntact() async throws {
    let fixture = try NIOFixture()
    let size = 64 << 20
    let upload = randomBuffer(size)
    let download = randomBuffer(size)
    let uploadDigest = digest(upload)
    let downloadDigest = digest(download)
    let server = try await NIOServer(
      context: try fixture.server(), halfClosure: true, keepData: false,
      extraHandlers: { [AnswerWhenInputCloses(download)] })
    let recorder = PipelineRecorder(keepData: false)
    let client = try await connectClient(
      port: server.port, context: try fixture.client(), halfClosure: true, recorder: recorder)
    // One 64 MiB write, then the end of the output: the server answers with its 64 MiB.
    try await client.writeAndFlush(upload)
    try await client.close(mode: .output)
    try await client.closeFuture.get()
    let serverSide = try await server.firstConnection()
    try await eventually("the server's end") { serverSide.snapshot.inactive }
    #expect(serverSide.snapshot.byteCount == size)
    #expect(serverSide.snapshot.digest == uploadDigest)
    #expect(recorder.snapshot.byteCount == size)
    #expect(recorder.snapshot.digest == downloadDigest)
    #expect(recorder.errors.isEmpty && serverSide.errors.isEmpty, "\(recorder.errors) \(serverSide.errors)")
    #expect(recorder.snapshot.tlsEvents.last == .shutdownCompleted)
    try await server.stop()
  }

  @Test func afterTheHandshakeTheNetworkIsReadOnlyWhenTheApplicationAsks() async throws {
    let fixture = try NIOFixture()
    let size = 1 << 20
    // Any request: a mebibyte back.
    let server = try await NIOServer(
      context: try fixture.server(),
      respond: { context, _ in context.writeAndFlush(NIOAny(randomBuffer(size)), promise: nil) })
    let reads = ReadCounter()
    let recorder = PipelineRecorder(keepData: false)
    let client = try await connectClient(
      port: server.port, context: try fixture.client(), autoRead: false, recorder: recorder, below: reads)
    // The handshake reads as it needs, although the application has not asked.
    _ = try await client.tlsHandshakeResult().get()
    let afterHandshake = reads.count
    try await client.writeAndFlush(ByteBuffer(string: "send"))
    let serverSide = try await server.firstConnection()
    try await eventually("the server's request") { serverSide.snapshot.byteCount == 4 }
    // The megabyte is on its way; nothing is read until the application asks.
    try await Task.sleep(for: .milliseconds(300))
    #expect(reads.count == afterHandshake)
    #expect(recorder.snapshot.byteCount == 0)
    // One read: some of it (at most what one read of the socket brings), not all of it.
    client.read()
    try await eventually("the first data") { recorder.snapshot.byteCount > 0 }
    try await Task.sleep(for: .milliseconds(300))
    let first = recorder.snapshot.byteCount
    #expect(first < size)
    // Each further read brings more, until all of it has come.
    while recorder.snapshot.byteCount < size {
      let before = recorder.snapshot.readCompletes
      client.read()
      try await eventually("more data") { recorder.snapshot.readCompletes > before }
    }
    #expect(recorder.snapshot.byteCount == size)
    #expect(reads.count > afterHandshake)
    try await client.close()
    try await server.stop()
  }

  @Test func anAsynchronousChainPolicyLeavesTheEventLoopFree() async throws {
    let fixture = try NIOFixture()
    // One thread: if the paused handshake blocked it, the second connection could not proceed.
    try await withEventLoopGroup(threads: 1) { group in
      let server = try await NIOServer(context: try fixture.server(), group: group, respond: echo)
      let gate = Gate()
      let seen = Recorder<Int>()
      let paused = try fixture.client { configuration in
        configuration.asynchronousChainPolicy = { chain in
          seen.append(chain.count)
          await gate.wait()
          return .accept
        }
      }
      let recorder = PipelineRecorder()
      let first = try await connectClient(port: server.port, context: paused, group: group, recorder: recorder)
      try await eventually("the policy to start") { !seen.all.isEmpty }
      // Meanwhile another connection on the same single-threaded loop does a whole exchange.
      let other = PipelineRecorder()
      let second = try await connectClient(
        port: server.port, context: try fixture.client(), group: group, recorder: other)
      try await second.writeAndFlush(ByteBuffer(string: "ping"))
      try await eventually("the echo on the other connection") { other.text == "ping" }
      #expect(recorder.snapshot.handshakes.isEmpty)
      gate.open()
      let negotiated = try await first.tlsHandshakeResult().get()
      #expect(negotiated.verifiedChain.count == 3)
      #expect(seen.all == [3])
      try await first.writeAndFlush(ByteBuffer(string: "after"))
      try await eventually("the echo after the policy") { recorder.text == "after" }
      try await first.close()
      try await second.close()
      try await server.stop()
    }
  }

  @Test func anAsynchronousChainPolicyThatRejectsOrThrowsFailsTheHandshake() async throws {
    let fixture = try NIOFixture()
    let server = try await NIOServer(context: try fixture.server())
    let rejecting = try fixture.client { $0.asynchronousChainPolicy = { _ in .reject("not today") } }
    let throwing = try fixture.client {
      $0.asynchronousChainPolicy = { _ in throw CallbackFailure(reason: "lookup failed") }
    }
    for (context, check) in [
      (rejecting, { (error: TLSChannelError) in error.verification?.code == .applicationVerification }),
      (
        throwing,
        { (error: TLSChannelError) in error.underlying as? CallbackFailure == CallbackFailure(reason: "lookup failed") }
      ),
    ] {
      let recorder = PipelineRecorder()
      let channel = try await connectClient(port: server.port, context: context, recorder: recorder)
      try await channel.closeFuture.get()
      let error = try #require(recorder.channelErrors.first)
      #expect(error.kind == .handshakeFailed)
      #expect(check(error), "\(error)")
    }
    try await server.stop()
  }

  @Test func aServerThatClosesMidHandshakeIsAnErrorInThePipeline() async throws {
    let fixture = try NIOFixture()
    let peer = try RawTCPPeer(.closeAfterReading)
    let recorder = PipelineRecorder()
    let channel = try await connectClient(port: peer.port, context: try fixture.client(), recorder: recorder)
    try await channel.closeFuture.get()
    #expect(recorder.channelErrors.map(\.kind) == [.closedDuringHandshake])
  }

  @Test func aServerThatLeavesWithoutCloseNotifyIsAnUncleanShutdown() async throws {
    let fixture = try NIOFixture()
    let peer = try ScriptedTLSPeer(server: try fixture.server(), script: .sendThenVanish(Array("bye".utf8)))
    let recorder = PipelineRecorder()
    let channel = try await connectClient(port: peer.port, context: try fixture.client(), recorder: recorder)
    try await channel.closeFuture.get()
    #expect(recorder.text == "bye")
    #expect(recorder.channelErrors.map(\.kind) == [.uncleanShutdown])
    #expect(peer.failures.isEmpty)
  }

  @Test func aServerThatLeavesMidRecordIsAnUncleanShutdown() async throws {
    let fixture = try NIOFixture()
    let peer = try ScriptedTLSPeer(
      server: try fixture.server(), script: .sendHalfARecord([UInt8](repeating: 0x61, count: 10_000)))
    let recorder = PipelineRecorder()
    let channel = try await connectClient(port: peer.port, context: try fixture.client(), recorder: recorder)
    try await channel.closeFuture.get()
    #expect(recorder.snapshot.byteCount == 0)
    #expect(recorder.channelErrors.map(\.kind) == [.uncleanShutdown])
    #expect(peer.failures.isEmpty)
  }

  @Test func aClientThatLeavesMidRecordOrWithoutCloseNotifyIsAnErrorOnOurServer() async throws {
    let fixture = try NIOFixture()
    for script in [ScriptedTLSPeer.Script.sendHalfARecord(Array("abcdef".utf8)), .sendThenVanish(Array("x".utf8))] {
      let server = try await NIOServer(context: try fixture.server())
      let peer = try ScriptedTLSPeer(
        client: try fixture.client(), serverName: "www.example.test", connectTo: server.port, script: script)
      let serverSide = try await server.firstConnection()
      try await eventually("the server's end") { serverSide.snapshot.inactive }
      #expect(serverSide.channelErrors.map(\.kind) == [.uncleanShutdown])
      #expect(peer.failures.isEmpty)
      try await server.stop()
    }
  }

  @Test func removingTheClientHandlerMidStreamClosesBothEndsWithErrors() async throws {
    let (server, channel, recorder) = try await echoedConnection()
    try await removeClientHandler(channel)
    try await channel.closeFuture.get()
    #expect(recorder.channelErrors.map(\.kind) == [.handlerRemoved])
    let serverSide = try await server.firstConnection()
    try await eventually("the server's end") { serverSide.snapshot.inactive }
    #expect(serverSide.channelErrors.map(\.kind) == [.uncleanShutdown])
    try await server.stop()
  }

  /// NIO's sockets are not close-on-exec. A child process that another test starts while a
  /// connection is open must not keep the connection alive after the client closes it (the test
  /// support's children close what they inherit); otherwise the server waits for the child.
  @Test func aChildProcessStartedMeanwhileDoesNotHoldAClosedConnectionOpen() async throws {
    let (server, channel, _) = try await echoedConnection()
    // Reads its standard input until stopped.
    let child = try RunningProcess("cat", [])
    defer { child.stop() }
    // Without close_notify, the server learns of the end only from the transport.
    try await removeClientHandler(channel)
    try await channel.closeFuture.get()
    let serverSide = try await server.firstConnection()
    try await eventually("the server's end") { serverSide.snapshot.inactive }
    #expect(child.isRunning)
    try await server.stop()
  }

  /// Our client connected to an echo server, after one echo.
  private func echoedConnection() async throws -> (NIOServer, any Channel, PipelineRecorder) {
    let fixture = try NIOFixture()
    let server = try await NIOServer(context: try fixture.server(), respond: echo)
    let recorder = PipelineRecorder()
    let channel = try await connectClient(port: server.port, context: try fixture.client(), recorder: recorder)
    try await channel.writeAndFlush(ByteBuffer(string: "one"))
    try await eventually("the echo") { recorder.text == "one" }
    return (server, channel, recorder)
  }

  private func removeClientHandler(_ channel: any Channel) async throws {
    try await channel.eventLoop.submit {
      let handler = try channel.pipeline.syncOperations.handler(type: OpenSSLClientHandler.self)
      channel.pipeline.syncOperations.removeHandler(handler, promise: nil)
    }.get()
  }
}
