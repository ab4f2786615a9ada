import BenchmarkKit
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS

/// swift-nio-ssl over two EmbeddedChannels: the client verifies the chain against the roots and
/// the host name, as ours and C do, with the same certificates and keys (loaded from PEM).
final class NIOPeer {
  private let host: String
  private let client: NIOSSLContext
  private let servers: [String: NIOSSLContext]
  private let record: ByteBuffer
  private let largeWrite: ByteBuffer
  private var pair: (client: EmbeddedChannel, server: EmbeddedChannel)?

  init(_ tls: TLSFixtures) throws {
    host = tls.host
    var roots: [NIOSSLCertificate] = []
    var servers: [String: NIOSSLContext] = [:]
    for (name, pem) in try tls.pem() {
      roots.append(try NIOSSLCertificate(bytes: Array(pem.root.utf8), format: .pem))
      let chain = try pem.chain.map { try NIOSSLCertificate(bytes: Array($0.utf8), format: .pem) }
      var server = TLSConfiguration.makeServerConfiguration(
        certificateChain: chain.map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(bytes: pem.key, format: .pem)))
      server.minimumTLSVersion = .tlsv12
      servers[name] = try NIOSSLContext(configuration: server)
    }
    var client = TLSConfiguration.makeClientConfiguration()
    client.minimumTLSVersion = .tlsv12
    client.trustRoots = .certificates(roots)
    client.certificateVerification = .fullVerification
    self.client = try NIOSSLContext(configuration: client)
    self.servers = servers
    record = ByteBuffer(bytes: tls.record)
    largeWrite = ByteBuffer(bytes: tls.largeWrite)
  }

  /// The side for a workload's peer key; swift-nio-ssl has no client session resumption.
  func side(for key: String) -> Side? {
    switch key {
    case "handshake-ecdsa": Side(name: "swift_nio_ssl") { [self] n in try handshakes("ecdsa", n) }
    case "handshake-rsa": Side(name: "swift_nio_ssl") { [self] n in try handshakes("rsa", n) }
    case "bulk": Side(name: "swift_nio_ssl") { [self] n in try bulk(record, n) }
    case "bulk-256k": Side(name: "swift_nio_ssl") { [self] n in try bulk(largeWrite, n) }
    default: nil
    }
  }

  private func handshakes(_ kind: String, _ iterations: Int) throws {
    for _ in 0..<iterations {
      let (client, server) = try connect(kind)
      // Closing delivers close_notify both ways, so that both channels finish.
      client.close(promise: nil)
      try pump(client, server)
      _ = try client.finish(acceptAlreadyClosed: true)
      _ = try server.finish(acceptAlreadyClosed: true)
    }
  }

  private func connect(_ kind: String) throws -> (EmbeddedChannel, EmbeddedChannel) {
    guard let serverContext = servers[kind] else { throw BenchmarkFailure("no NIO server for \(kind)") }
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()
    let watcher = HandshakeWatcher()
    try client.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: self.client, serverHostname: host))
    try client.pipeline.syncOperations.addHandler(watcher)
    try server.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
    _ = server.connect(to: address)
    _ = client.connect(to: address)
    try pump(client, server)
    guard watcher.completed else { throw BenchmarkFailure("swift-nio-ssl: the handshake did not complete") }
    return (client, server)
  }

  /// Moves bytes both ways until neither side has anything to send.
  private func pump(_ client: EmbeddedChannel, _ server: EmbeddedChannel) throws {
    var moved = true
    while moved {
      moved = false
      while let bytes = try client.readOutbound(as: ByteBuffer.self) {
        try server.writeInbound(bytes)
        moved = true
      }
      while let bytes = try server.readOutbound(as: ByteBuffer.self) {
        try client.writeInbound(bytes)
        moved = true
      }
    }
  }

  private func bulk(_ record: ByteBuffer, _ iterations: Int) throws {
    if pair == nil { pair = try connect("ecdsa") }
    guard let (client, server) = pair else { return }
    for _ in 0..<iterations {
      client.writeAndFlush(record, promise: nil)
      try pump(client, server)
      var received = 0
      while let chunk = try server.readInbound(as: ByteBuffer.self) { received += chunk.readableBytes }
      guard received == record.readableBytes else {
        throw BenchmarkFailure("swift-nio-ssl: \(received) bytes of \(record.readableBytes) arrived")
      }
    }
  }
}

/// Records the client's TLSUserEvent.handshakeCompleted.
private final class HandshakeWatcher: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  var completed = false

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case .handshakeCompleted = event as? TLSUserEvent { completed = true }
    context.fireUserInboundEventTriggered(event)
  }
}
