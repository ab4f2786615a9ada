import COpenSSLFull
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOTLS
import OpenSSLObjects
import OpenSSLObjectsNIO
import TestSupport
import Testing

/// A PKI and the contexts made from it.
struct NIOFixture {
  let pki: TestPKI

  init(
    keyType: PrivateKey.KeyType = .ec(.p256), leaf adjust: (inout CertificateBuilder) throws -> Void = { _ in }
  )
    throws
  {
    pki = try TestPKI(keyType: keyType, leafBuilder: adjust)
  }

  var serverChain: CertificateChain {
    CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
  }

  func server(_ adjust: (inout TLSConfiguration) throws -> Void = { _ in }) throws -> SSLContext {
    var configuration = TLSConfiguration.server([serverChain])
    try adjust(&configuration)
    return try SSLContext(configuration: configuration)
  }

  func client(_ adjust: (inout TLSConfiguration) throws -> Void = { _ in }) throws -> SSLContext {
    var configuration = TLSConfiguration.client
    configuration.trust = .certificates([pki.root])
    try adjust(&configuration)
    return try SSLContext(configuration: configuration)
  }
}

/// An error a test's callback throws.
struct CallbackFailure: Error, Equatable {
  let reason: String
}

/// Incremental SHA-256 (`EVP_DigestUpdate`), for checksums of large transfers.
final class SHA256Stream {
  private let context = EVP_MD_CTX_new()!

  init() {
    EVP_DigestInit_ex(context, EVP_sha256(), nil)
  }

  func update(_ buffer: ByteBuffer) {
    buffer.withUnsafeReadableBytes { bytes in
      _ = EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }
  }

  func finish() -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    EVP_DigestFinal_ex(context, &digest, &length)
    return digest
  }

  deinit { EVP_MD_CTX_free(context) }
}

/// Random bytes (`RAND_bytes`) in a buffer.
func randomBuffer(_ count: Int) -> ByteBuffer {
  var buffer = ByteBufferAllocator().buffer(capacity: count)
  buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
    precondition(RAND_bytes(bytes.baseAddress, Int32(count)) == 1)
    return count
  }
  return buffer
}

/// What reached the end of a pipeline: data (kept, or only counted and hashed), user events,
/// errors, read completions and the end of input. Thread-safe; written on the channel's loop.
final class PipelineRecorder: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer

  struct Snapshot {
    var data: [UInt8] = []
    var byteCount = 0
    var reads = 0
    var readCompletes = 0
    var handshakes: [TLSHandshakeCompleted] = []
    var tlsEvents: [TLSUserEvent] = []
    var inputClosed = false
    var errors: [any Error] = []
    var inactive = false
    var digest: [UInt8]?
  }

  private let state = NIOLockedValueBox(Snapshot())
  private let keepData: Bool
  private let hasher = SHA256Stream()
  private let onRead: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)?

  init(keepData: Bool = true, onRead: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)? = nil) {
    self.keepData = keepData
    self.onRead = onRead
  }

  var snapshot: Snapshot { state.withLockedValue { $0 } }
  var text: String { String(decoding: snapshot.data, as: UTF8.self) }
  var errors: [any Error] { snapshot.errors }
  var channelErrors: [TLSChannelError] { snapshot.errors.compactMap { $0 as? TLSChannelError } }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    hasher.update(buffer)
    state.withLockedValue { state in
      state.reads += 1
      state.byteCount += buffer.readableBytes
      if keepData { state.data += buffer.readableBytesView }
    }
    onRead?(context, buffer)
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    state.withLockedValue { $0.readCompletes += 1 }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    state.withLockedValue { state in
      if let completed = event as? TLSHandshakeCompleted { state.handshakes.append(completed) }
      if let tls = event as? TLSUserEvent { state.tlsEvents.append(tls) }
      if case .some(.inputClosed) = event as? ChannelEvent { state.inputClosed = true }
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    state.withLockedValue { $0.errors.append(error) }
  }

  func channelInactive(context: ChannelHandlerContext) {
    let digest = hasher.finish()
    state.withLockedValue { state in
      state.inactive = true
      state.digest = digest
    }
  }
}

/// Waits until `condition` holds, polling; fails the test when `timeout` passes first (a guard
/// against hanging, never a measurement).
func eventually(
  _ what: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation,
  _ condition: () throws -> Bool
) async throws {
  let clock = ContinuousClock()
  let deadline = clock.now + timeout
  while clock.now < deadline {
    if try condition() { return }
    try await Task.sleep(for: .milliseconds(5))
  }
  Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
  throw TimedOut(what: what)
}

struct TimedOut: Error {
  let what: String
}

/// A client and a server channel on EmbeddedChannels, each with a recorder at its end; bytes move
/// between them only when the test pumps.
final class EmbeddedPair {
  let client: EmbeddedChannel
  let server: EmbeddedChannel
  let clientRecorder = PipelineRecorder()
  let serverRecorder = PipelineRecorder()

  /// With `halfClosure`, each channel allows remote half-closure and gets an
  /// ``OutputCloseInterceptor`` below its TLS handler (EmbeddedChannel itself closes fully).
  init(
    client clientHandler: OpenSSLClientHandler, server serverHandler: OpenSSLServerHandler, halfClosure: Bool = false
  )
    throws
  {
    client = EmbeddedChannel()
    server = EmbeddedChannel()
    if halfClosure {
      for channel in [client, server] {
        try channel.pipeline.syncOperations.addHandler(OutputCloseInterceptor())
        try channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).wait()
      }
    }
    try client.pipeline.syncOperations.addHandler(clientHandler)
    try client.pipeline.syncOperations.addHandler(clientRecorder)
    try server.pipeline.syncOperations.addHandler(serverHandler)
    try server.pipeline.syncOperations.addHandler(serverRecorder)
  }

  /// Activates both channels: the client's handshake starts.
  func activate() throws {
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
    try server.connect(to: address).wait()
    try client.connect(to: address).wait()
  }

  /// Moves bytes both ways until neither side has anything to send.
  func pump() throws {
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

  /// Everything `channel` has written so far, in one buffer.
  static func drain(_ channel: EmbeddedChannel) throws -> ByteBuffer {
    var all = ByteBuffer()
    while var bytes = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&bytes) }
    return all
  }

  /// Activates and pumps until both handshakes are done.
  func connect() throws {
    try activate()
    try pump()
    try #require(clientRecorder.snapshot.handshakes.count == 1, "client errors: \(clientRecorder.errors)")
    try #require(serverRecorder.snapshot.handshakes.count == 1, "server errors: \(serverRecorder.errors)")
  }
}

/// Stands in for a transport's half-closure on an EmbeddedChannel (which closes fully): a
/// `close(mode: .output)` from above succeeds here and goes no further.
final class OutputCloseInterceptor: ChannelOutboundHandler {
  typealias OutboundIn = ByteBuffer
  private(set) var outputClosed = false

  func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
    guard mode == .output else { return context.close(mode: mode, promise: promise) }
    outputClosed = true
    promise?.succeed(())
  }
}

/// One multi-threaded event loop group for the socket tests (two threads, so that ThreadSanitizer
/// sees the handler's cross-thread paths), shut down at exit.
let testGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

/// Our NIO server on 127.0.0.1 with a free port: each child channel gets an
/// ``OpenSSLServerHandler`` and a recorder (whose reads `respond` may answer).
final class NIOServer: @unchecked Sendable {
  let channel: any Channel
  let port: Int
  private let recorders = NIOLockedValueBox<[PipelineRecorder]>([])
  private let children = NIOLockedValueBox<[any Channel]>([])

  init(
    context: SSLContext,
    group: any EventLoopGroup = testGroup,
    halfClosure: Bool = false,
    keepData: Bool = true,
    configure: @escaping @Sendable (SSLConnection) throws -> Void = { _ in },
    extraHandlers: @escaping @Sendable () -> [any ChannelHandler & Sendable] = { [] },
    respond: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)? = nil
  ) async throws {
    let recorders = self.recorders
    let children = self.children
    let context = SendableBox(context)
    channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.allowRemoteHalfClosure, value: halfClosure)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let recorder = PipelineRecorder(keepData: keepData, onRead: respond)
          try channel.pipeline.syncOperations.addHandler(
            try OpenSSLServerHandler(context: context.value, configure: configure))
          for handler in extraHandlers() { try channel.pipeline.syncOperations.addHandler(handler) }
          try channel.pipeline.syncOperations.addHandler(recorder)
          recorders.withLockedValue { $0.append(recorder) }
          children.withLockedValue { $0.append(channel) }
        }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    port = channel.localAddress?.port ?? 0
  }

  var connections: [PipelineRecorder] { recorders.withLockedValue { $0 } }
  var childChannels: [any Channel] { children.withLockedValue { $0 } }

  /// The recorder of the first connection, once it exists.
  func firstConnection() async throws -> PipelineRecorder {
    try await eventually("a connection") { !connections.isEmpty }
    return connections[0]
  }

  func stop() async throws {
    for child in childChannels { try? await child.close() }
    try await channel.close()
  }
}

/// A value handed across threads in a test although its type is not `Sendable` (contexts are;
/// this is for closures' captures the compiler cannot see through).
struct SendableBox<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

/// Connects our NIO client to 127.0.0.1:`port` with `handlers` after the TLS handler.
func connectClient(
  port: Int,
  context: SSLContext,
  serverName: String? = "www.example.test",
  group: any EventLoopGroup = testGroup,
  halfClosure: Bool = false,
  autoRead: Bool = true,
  recorder: PipelineRecorder,
  configure: @escaping @Sendable (SSLConnection) throws -> Void = { _ in },
  below: (any ChannelHandler & Sendable)? = nil
) async throws -> any Channel {
  let context = SendableBox(context)
  return try await ClientBootstrap(group: group)
    .channelOption(.allowRemoteHalfClosure, value: halfClosure)
    .channelOption(.autoRead, value: autoRead)
    .channelInitializer { channel in
      channel.eventLoop.makeCompletedFuture {
        if let below { try channel.pipeline.syncOperations.addHandler(below) }
        try channel.pipeline.syncOperations.addHandler(
          try OpenSSLClientHandler(context: context.value, serverName: serverName, port: port, configure: configure))
        try channel.pipeline.syncOperations.addHandler(recorder)
      }
    }
    .connect(host: "127.0.0.1", port: port).get()
}
