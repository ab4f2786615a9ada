import COpenSSLFull
import Foundation
import NIOConcurrencyHelpers
public import NIOCore
public import NIOEmbedded
public import NIOPosix
public import NIOTLS
public import OpenSSLObjects
public import OpenSSLObjectsNIO
public import TestSupport
public import Testing

/// A PKI and the contexts made from it.
public struct NIOFixture {
  public let pki: TestPKI

  public init(
    keyType: PrivateKey.KeyType = .ec(.p256), leaf adjust: (inout CertificateBuilder) throws -> Void = { _ in }
  )
    throws
  {
    pki = try TestPKI(keyType: keyType, leafBuilder: adjust)
  }

  public var serverChain: CertificateChain {
    CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
  }

  public func server(_ adjust: (inout TLSConfiguration) throws -> Void = { _ in }) throws -> SSLContext {
    var configuration = TLSConfiguration.server([serverChain])
    try adjust(&configuration)
    return try SSLContext(configuration: configuration)
  }

  public func client(_ adjust: (inout TLSConfiguration) throws -> Void = { _ in }) throws -> SSLContext {
    var configuration = TLSConfiguration.client
    configuration.trust = .certificates([pki.root])
    try adjust(&configuration)
    return try SSLContext(configuration: configuration)
  }
}

/// An error a test's callback throws.
public struct CallbackFailure: Error, Equatable {
  public let reason: String

  public init(reason: String) { self.reason = reason }
}

/// Incremental SHA-256 (`EVP_DigestUpdate`), for checksums of large transfers.
public final class SHA256Stream {
  private let context = EVP_MD_CTX_new()!

  public init() {
    EVP_DigestInit_ex(context, EVP_sha256(), nil)
  }

  public func update(_ buffer: ByteBuffer) {
    buffer.withUnsafeReadableBytes { bytes in
      _ = EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }
  }

  public func finish() -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    EVP_DigestFinal_ex(context, &digest, &length)
    return digest
  }

  deinit { EVP_MD_CTX_free(context) }
}

/// Random bytes (`RAND_bytes`) in a buffer.
public func randomBuffer(_ count: Int) -> ByteBuffer {
  var buffer = ByteBufferAllocator().buffer(capacity: count)
  buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
    precondition(RAND_bytes(bytes.baseAddress, Int32(count)) == 1)
    return count
  }
  return buffer
}

/// What reached the end of a pipeline: data (kept, or only counted and hashed), user events,
/// errors, read completions and the end of input. Thread-safe; written on the channel's loop.
public final class PipelineRecorder: ChannelInboundHandler, @unchecked Sendable {
  public typealias InboundIn = ByteBuffer

  public struct Snapshot {
    public var data: [UInt8] = []
    public var byteCount = 0
    public var reads = 0
    public var readCompletes = 0
    public var handshakes: [TLSHandshakeCompleted] = []
    public var tlsEvents: [TLSUserEvent] = []
    public var inputClosed = false
    public var errors: [any Error] = []
    public var inactive = false
    public var digest: [UInt8]?
  }

  private let state = NIOLockedValueBox(Snapshot())
  private let keepData: Bool
  private let hasher = SHA256Stream()
  private let onRead: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)?

  public init(keepData: Bool = true, onRead: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)? = nil) {
    self.keepData = keepData
    self.onRead = onRead
  }

  public var snapshot: Snapshot { state.withLockedValue { $0 } }
  public var text: String { String(decoding: snapshot.data, as: UTF8.self) }
  public var errors: [any Error] { snapshot.errors }
  public var channelErrors: [TLSChannelError] { snapshot.errors.compactMap { $0 as? TLSChannelError } }

  public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    hasher.update(buffer)
    state.withLockedValue { state in
      state.reads += 1
      state.byteCount += buffer.readableBytes
      if keepData { state.data += buffer.readableBytesView }
    }
    onRead?(context, buffer)
  }

  public func channelReadComplete(context: ChannelHandlerContext) {
    state.withLockedValue { $0.readCompletes += 1 }
  }

  public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    state.withLockedValue { state in
      if let completed = event as? TLSHandshakeCompleted { state.handshakes.append(completed) }
      if let tls = event as? TLSUserEvent { state.tlsEvents.append(tls) }
      if case .some(.inputClosed) = event as? ChannelEvent { state.inputClosed = true }
    }
  }

  public func errorCaught(context: ChannelHandlerContext, error: any Error) {
    state.withLockedValue { $0.errors.append(error) }
  }

  public func channelInactive(context: ChannelHandlerContext) {
    let digest = hasher.finish()
    state.withLockedValue { state in
      state.inactive = true
      state.digest = digest
    }
  }
}

/// Waits until `condition` holds, polling; fails the test when `timeout` passes first (a guard
/// against hanging, never a measurement). The condition is checked once more after the deadline:
/// a task that did not run for a while (the cooperative pool busy with other tests) must not
/// time out on a condition that became true meanwhile.
public func eventually(
  _ what: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation,
  _ condition: () throws -> Bool
) async throws {
  let clock = ContinuousClock()
  let deadline = clock.now + timeout
  var checks = 0
  while true {
    checks += 1
    if try condition() { return }
    if clock.now >= deadline { break }
    try await Task.sleep(for: .milliseconds(5))
  }
  Issue.record("timed out waiting for \(what) (checked \(checks) times)", sourceLocation: sourceLocation)
  throw TimedOut(what: what)
}

public struct TimedOut: Error {
  public let what: String

  public init(what: String) { self.what = what }
}

/// A client and a server channel on EmbeddedChannels, each with a recorder at its end; bytes move
/// between them only when the test pumps.
public final class EmbeddedPair {
  public let client: EmbeddedChannel
  public let server: EmbeddedChannel
  public let clientRecorder = PipelineRecorder()
  public let serverRecorder = PipelineRecorder()

  /// With `halfClosure`, each channel allows remote half-closure and gets an
  /// ``OutputCloseInterceptor`` below its TLS handler (EmbeddedChannel itself closes fully).
  public init(
    client clientHandler: OpenSSLClientHandler, server serverHandler: OpenSSLServerHandler, halfClosure: Bool = false
  ) throws {
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
  public func activate() throws {
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
    try server.connect(to: address).wait()
    try client.connect(to: address).wait()
  }

  /// Moves bytes both ways until neither side has anything to send.
  public func pump() throws {
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
  public static func drain(_ channel: EmbeddedChannel) throws -> ByteBuffer {
    var all = ByteBuffer()
    while var bytes = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&bytes) }
    return all
  }

  /// Closes both channels (their handlers are removed, which breaks the pipelines' cycles).
  deinit {
    _ = try? client.finish(acceptAlreadyClosed: true)
    _ = try? server.finish(acceptAlreadyClosed: true)
  }

  /// Activates and pumps until both handshakes are done.
  public func connect() throws {
    try activate()
    try pump()
    try #require(clientRecorder.snapshot.handshakes.count == 1, "client errors: \(clientRecorder.errors)")
    try #require(serverRecorder.snapshot.handshakes.count == 1, "server errors: \(serverRecorder.errors)")
  }
}

/// Stands in for a transport's half-closure on an EmbeddedChannel (which closes fully): a
/// `close(mode: .output)` from above succeeds here and goes no further.
public final class OutputCloseInterceptor: ChannelOutboundHandler {
  public typealias OutboundIn = ByteBuffer
  public private(set) var outputClosed = false

  public init() {}

  public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
    guard mode == .output else { return context.close(mode: mode, promise: promise) }
    outputClosed = true
    promise?.succeed(())
  }
}

/// One multi-threaded event loop group for the socket tests (two threads, so that ThreadSanitizer
/// sees the handler's cross-thread paths), shut down at exit.
public let testGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

/// A NIO server on 127.0.0.1 with a free port: each child channel gets a TLS handler (ours by
/// default, or what `tlsHandler` makes), then `extraHandlers`, then a recorder (whose reads
/// `respond` may answer).
public final class NIOServer: @unchecked Sendable {
  public let channel: any Channel
  public let port: Int
  private let recorders = NIOLockedValueBox<[PipelineRecorder]>([])
  private let children = NIOLockedValueBox<[any Channel]>([])

  /// A server whose connections get an ``OpenSSLServerHandler`` of `context`.
  public convenience init(
    context: SSLContext,
    group: any EventLoopGroup = testGroup,
    halfClosure: Bool = false,
    keepData: Bool = true,
    configure: @escaping @Sendable (SSLConnection) throws -> Void = { _ in },
    extraHandlers: @escaping @Sendable () -> [any ChannelHandler & Sendable] = { [] },
    respond: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)? = nil
  ) async throws {
    let context = SendableBox(context)
    try await self.init(
      tlsHandler: { SendableBox(try OpenSSLServerHandler(context: context.value, configure: configure)) },
      group: group, halfClosure: halfClosure, keepData: keepData, extraHandlers: extraHandlers, respond: respond)
  }

  /// A server whose connections get the TLS handler `tlsHandler` makes (swift-nio-ssl's, say).
  public init(
    tlsHandler: @escaping @Sendable () throws -> SendableBox<any ChannelHandler>,
    group: any EventLoopGroup = testGroup,
    halfClosure: Bool = false,
    keepData: Bool = true,
    extraHandlers: @escaping @Sendable () -> [any ChannelHandler & Sendable] = { [] },
    respond: (@Sendable (ChannelHandlerContext, ByteBuffer) -> Void)? = nil
  ) async throws {
    let recorders = self.recorders
    let children = self.children
    channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.allowRemoteHalfClosure, value: halfClosure)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let recorder = PipelineRecorder(keepData: keepData, onRead: respond)
          try channel.pipeline.syncOperations.addHandler(try tlsHandler().value)
          for handler in extraHandlers() { try channel.pipeline.syncOperations.addHandler(handler) }
          try channel.pipeline.syncOperations.addHandler(recorder)
          recorders.withLockedValue { $0.append(recorder) }
          children.withLockedValue { $0.append(channel) }
        }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    port = channel.localAddress?.port ?? 0
  }

  /// The recorders of the connections so far, in order.
  public var connections: [PipelineRecorder] { recorders.withLockedValue { $0 } }
  /// The child channels so far, in order.
  public var childChannels: [any Channel] { children.withLockedValue { $0 } }

  /// The recorder of the first connection, once it exists.
  public func firstConnection() async throws -> PipelineRecorder {
    try await eventually("a connection") { !connections.isEmpty }
    return connections[0]
  }

  /// Closes the connections and the listener.
  public func stop() async throws {
    for child in childChannels { try? await child.close() }
    try await channel.close()
  }
}

/// A value handed across threads in a test although its type is not `Sendable` (contexts are;
/// this is for closures' captures the compiler cannot see through).
public struct SendableBox<Value>: @unchecked Sendable {
  public let value: Value
  public init(_ value: Value) { self.value = value }
}

/// Connects our NIO client to 127.0.0.1:`port`: `below` (if any), an ``OpenSSLClientHandler`` of
/// `context`, then `recorder`.
public func connectClient(
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
  return try await connectClient(
    port: port, group: group, halfClosure: halfClosure, autoRead: autoRead, recorder: recorder, below: below,
    tlsHandler: {
      SendableBox(
        try OpenSSLClientHandler(context: context.value, serverName: serverName, port: port, configure: configure))
    })
}

/// Connects a client to 127.0.0.1:`port` with the TLS handler `tlsHandler` makes.
public func connectClient(
  port: Int,
  group: any EventLoopGroup = testGroup,
  halfClosure: Bool = false,
  autoRead: Bool = true,
  recorder: PipelineRecorder,
  below: (any ChannelHandler & Sendable)? = nil,
  tlsHandler: @escaping @Sendable () throws -> SendableBox<any ChannelHandler>
) async throws -> any Channel {
  try await ClientBootstrap(group: group)
    .channelOption(.allowRemoteHalfClosure, value: halfClosure)
    .channelOption(.autoRead, value: autoRead)
    .channelInitializer { channel in
      channel.eventLoop.makeCompletedFuture {
        if let below { try channel.pipeline.syncOperations.addHandler(below) }
        try channel.pipeline.syncOperations.addHandler(try tlsHandler().value)
        try channel.pipeline.syncOperations.addHandler(recorder)
      }
    }
    .connect(host: "127.0.0.1", port: port).get()
}

/// Answers every read with the same bytes.
public let echo: @Sendable (ChannelHandlerContext, ByteBuffer) -> Void = { context, buffer in
  context.writeAndFlush(NIOAny(buffer), promise: nil)
}

/// Runs `body` with a new event loop group of `threads` threads, shut down afterwards, also
/// when `body` throws.
public func withEventLoopGroup<Result>(
  threads: Int, _ body: (MultiThreadedEventLoopGroup) async throws -> Result
) async throws -> Result {
  let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
  do {
    let result = try await body(group)
    try await group.shutdownGracefully()
    return result
  } catch {
    try? await group.shutdownGracefully()
    throw error
  }
}

/// SHA-256 of a buffer's readable bytes.
public func digest(_ buffer: ByteBuffer) -> [UInt8] {
  let stream = SHA256Stream()
  stream.update(buffer)
  return stream.finish()
}

/// On the server: once the client has closed its output, sends `payload` and closes its own.
public final class AnswerWhenInputCloses: ChannelInboundHandler, @unchecked Sendable {
  public typealias InboundIn = ByteBuffer
  public typealias InboundOut = ByteBuffer
  public typealias OutboundOut = ByteBuffer
  private let payload: ByteBuffer

  public init(_ payload: ByteBuffer) { self.payload = payload }

  public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case .some(.inputClosed) = event as? ChannelEvent {
      // Closing right away would drop what the transport has not written yet.
      context.writeAndFlush(wrapOutboundOut(payload)).assumeIsolated().whenSuccess {
        context.close(mode: .output, promise: nil)
      }
    }
    context.fireUserInboundEventTriggered(event)
  }
}

/// Counts the reads that reach the transport (placed below the TLS handler).
public final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
  public typealias OutboundIn = ByteBuffer
  private let reads = NIOLockedValueBox(0)

  public init() {}

  public var count: Int { reads.withLockedValue { $0 } }

  public func read(context: ChannelHandlerContext) {
    reads.withLockedValue { $0 += 1 }
    context.read()
  }
}

/// A gate an asynchronous task waits at until the test opens it.
public final class Gate: @unchecked Sendable {
  private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  public init() {}

  public func wait() async {
    await withCheckedContinuation { continuation in
      let resume = state.withLockedValue { state -> Bool in
        if state.open { return true }
        state.waiters.append(continuation)
        return false
      }
      if resume { continuation.resume() }
    }
  }

  public func open() {
    let waiters = state.withLockedValue { state in
      state.open = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }
}

/// Answers the first request with a small HTTP/1.1 response, then closes after it is written.
public func httpResponse(_ body: String) -> @Sendable (ChannelHandlerContext, ByteBuffer) -> Void {
  { context, _ in
    let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    context.writeAndFlush(NIOAny(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
      context.close(promise: nil)
    }
  }
}

/// The error `body` throws; records an issue when it throws none.
public func caughtError(
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) throws -> any Error {
  do {
    try body()
  } catch {
    return error
  }
  Issue.record("nothing was thrown", sourceLocation: sourceLocation)
  throw TimedOut(what: "an error")
}
