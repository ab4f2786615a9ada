import NIOCore
import NIOEmbedded
import NIOTLS
import OpenSSLObjects
import OpenSSLObjectsNIO

/// Our NIO handlers (OpenSSLObjectsNIO) over two EmbeddedChannels: the TLS workloads' side
/// `ours_nio`, with the same steps as swift-nio-ssl's side (`Peers/.../NIOPeer.swift`), so that
/// the two compare, and over the same contexts as ours, so that it shows what the NIO layer costs
/// over the sans-I/O loop.
final class OurNIOSide {
  private let setup: TLSSetup
  private let record: ByteBuffer
  private var pair: (client: EmbeddedChannel, server: EmbeddedChannel)?

  init(_ setup: TLSSetup, record: [UInt8]) {
    self.setup = setup
    self.record = ByteBuffer(bytes: record)
  }

  /// Full or resumed handshakes: connect, handshake, close (close_notify both ways, which keeps
  /// a client session resumable), finish.
  func handshakes(_ iterations: Int, resume: Bool) throws {
    for _ in 0..<iterations {
      let (client, server, watcher) = try connect()
      if resume && !watcher.resumed { throw BenchmarkFailure("our NIO client did not resume") }
      client.close(promise: nil)
      try pump(client, server)
      _ = try client.finish(acceptAlreadyClosed: true)
      _ = try server.finish(acceptAlreadyClosed: true)
    }
  }

  /// One 16 KiB record from the client, read whole by the server, on an established pair.
  func bulk(_ iterations: Int) throws {
    if pair == nil {
      let (client, server, _) = try connect()
      pair = (client, server)
    }
    guard let (client, server) = pair else { return }
    for _ in 0..<iterations {
      client.writeAndFlush(record, promise: nil)
      try pump(client, server)
      var received = 0
      while let chunk = try server.readInbound(as: ByteBuffer.self) { received += chunk.readableBytes }
      guard received == record.readableBytes else {
        throw BenchmarkFailure("our NIO handlers: \(received) bytes of \(record.readableBytes) arrived")
      }
    }
  }

  private func connect() throws -> (EmbeddedChannel, EmbeddedChannel, HandshakeWatcher) {
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()
    let watcher = HandshakeWatcher()
    try client.pipeline.syncOperations.addHandler(OpenSSLClientHandler(context: setup.client, serverName: setup.host))
    try client.pipeline.syncOperations.addHandler(watcher)
    try server.pipeline.syncOperations.addHandler(OpenSSLServerHandler(context: setup.server))
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
    _ = server.connect(to: address)
    _ = client.connect(to: address)
    try pump(client, server)
    guard watcher.completed else { throw BenchmarkFailure("our NIO handlers: the handshake did not complete") }
    return (client, server, watcher)
  }

  /// Moves bytes both ways until neither side has anything to send.
  private func pump(_ client: EmbeddedChannel, _ server: EmbeddedChannel) throws {
    var moved = true
    while moved {
      moved = false
      while let bytes = try client.readOutbound(as: ByteBuffer.self) {
        if server.isActive { try server.writeInbound(bytes) }
        moved = true
      }
      while let bytes = try server.readOutbound(as: ByteBuffer.self) {
        if client.isActive { try client.writeInbound(bytes) }
        moved = true
      }
    }
  }
}

/// Records the client's handshake: NIOTLS's event (as for swift-nio-ssl) and whether it resumed.
private final class HandshakeWatcher: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  var completed = false
  var resumed = false

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if let handshake = event as? TLSHandshakeCompleted { resumed = handshake.isSessionReused }
    if case .handshakeCompleted = event as? TLSUserEvent { completed = true }
    context.fireUserInboundEventTriggered(event)
  }
}
