public import NIOCore
import NIOTLS
import OpenSSLObjects

/// A TLS channel handler driven by an `SSLConnection` over memory buffers (sans-I/O): the
/// part ``OpenSSLClientHandler`` and ``OpenSSLServerHandler`` share. Ciphertext comes in and goes
/// out as `ByteBuffer`s below it, plaintext above it.
///
/// - The handshake starts when the channel becomes active (or when the handler is added to an
///   active channel). Writes made before it finishes wait, and go out in order once it has.
/// - When it completes, the handler fires a ``TLSHandshakeCompleted`` user event (the negotiated
///   parameters and the verified chain), then NIOTLS's
///   `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)`, and fulfils
///   ``handshakeResult``.
/// - Bytes move between NIO's buffers and OpenSSL's through spans: ciphertext is copied once into
///   OpenSSL's read BIO (`BIO_write`), plaintext is decrypted straight into the `ByteBuffer`
///   passed up (`SSL_read_ex`), application data is encrypted from the caller's buffer
///   (`SSL_write_ex`), and ciphertext is moved once from OpenSSL's write BIO into the buffer
///   passed down (`BIO_read`).
/// - Backpressure: after the handshake the handler reads from the network only when the
///   application asks (`read()`, which autoRead and `NIOAsyncChannel` issue on demand), and asks
///   again on the application's behalf only when what came decrypted to nothing (a partial
///   record, a session ticket). During the handshake it reads as the handshake needs.
/// - Closing (`close(mode: .all)`) sends close_notify, then closes the channel; half-closure
///   (`close(mode: .output)`) sends close_notify and closes the output only. A peer's
///   close_notify closes the input (`ChannelEvent.inputClosed` when the channel allows remote
///   half-closure, otherwise the handler answers with its own close_notify and closes). When both
///   close_notify have been exchanged, it fires `TLSUserEvent.shutdownCompleted`.
/// - Failures are fired as a ``TLSChannelError`` (`fireErrorCaught`), then the channel is closed:
///   a failed handshake, the transport ending mid-handshake, a peer that ends the transport
///   without close_notify (`uncleanShutdown`), a record that does not decrypt, and the handler's
///   removal while TLS is in use.
/// - A client's asynchronous chain policy (`TLSConfiguration/asynchronousChainPolicy`) pauses
///   the handshake (`SSL_set_retry_verify`) while the policy runs in a task; the event loop goes
///   on serving other channels, and the handshake resumes on it when the policy has answered.
///   Everything else the handshake runs (verify callbacks, chain policies, the server name
///   handler, the certificate selector, staple providers) runs on the event loop and must not
///   block. A revocation policy that fetches OCSP responses (`RevocationPolicy/fetch`) blocks
///   it: use staples, or an asynchronous chain policy, with NIO.
///
/// The handler belongs to its channel's event loop; its connection is never touched from another
/// thread. Owns its `SSLConnection` (one `SSL`).
public class OpenSSLHandler: ChannelInboundHandler, ChannelOutboundHandler, RemovableChannelHandler {
  /// Ciphertext from the network.
  public typealias InboundIn = ByteBuffer
  /// Plaintext for the application.
  public typealias InboundOut = ByteBuffer
  /// Plaintext from the application.
  public typealias OutboundIn = ByteBuffer
  /// Ciphertext for the network.
  public typealias OutboundOut = ByteBuffer

  private enum State {
    /// Not active yet: no handshake.
    case idle
    case handshaking
    /// The handshake is paused for the asynchronous chain policy.
    case verifying
    case active
    /// The peer's close_notify arrived; this side may still write (half-closure).
    case inputClosed
    /// This side's close_notify went out; the peer may still write.
    case outputClosed
    /// Closed cleanly, failed or removed: nothing more goes through OpenSSL.
    case closed
  }

  /// A large write is encrypted and passed down in pieces of this much plaintext: three full
  /// records, whose ciphertext fits the 64 KiB buffer it goes down in. (`ByteBuffer` rounds
  /// capacities up to a power of two, and buffers of 128 KiB and more are mapped and unmapped by
  /// malloc, page faults each time.)
  private static let outputChunk = 3 * 16_384

  /// The largest buffer decrypted data goes up in, for the same reason.
  private static let largestPlaintextBuffer = 64 * 1024

  /// How long a close waits for its close_notify, and the writes before it, to reach the
  /// transport before it closes anyway.
  static let closeNotifyTimeout = TimeAmount.seconds(5)

  private let connection: SSLConnection
  private var state = State.idle
  private var storedContext: ChannelHandlerContext?
  /// Application writes not yet encrypted; the mark is the last flushed one.
  private var pendingWrites = MarkedCircularBuffer<(data: ByteBuffer, promise: EventLoopPromise<Void>?)>(
    initialCapacity: 4)
  /// A `close(mode: .output)` asked for during the handshake, done once it has finished.
  private var pendingOutputClose: (requested: Bool, promise: EventLoopPromise<Void>?) = (false, nil)
  /// The application asked for data (`read()`) and has not been given any since.
  private var readRequested = false
  /// Plaintext went up since the last `channelReadComplete` passed up.
  private var deliveredData = false
  /// Between a `channelRead` from below and its `channelReadComplete`.
  private var inReadBurst = false
  private var handshakePromise: EventLoopPromise<TLSHandshakeCompleted>?
  /// Whether ``handshakeResult`` has been fulfilled or failed.
  private var handshakeSettled = false
  private var result: TLSHandshakeCompleted?
  /// A buffer for decrypted data that was allocated and not used (nothing was decrypted).
  private var spareBuffer: ByteBuffer?
  /// The size of the last ciphertext read, which bounds the plaintext it decrypts to.
  private var lastReceivedCount = 0
  /// Ciphertext was written down without a flush.
  private var unflushedOutput = false
  /// `ChannelEvent.inputClosed` went up (for the peer's close_notify).
  private var inputClosedFired = false
  /// The channel's allocator, for the buffers passed up and down.
  private var allocator = ByteBufferAllocator()

  init(connection: SSLConnection) {
    self.connection = connection
  }

  /// What the handshake negotiated and verified, once it has completed; `nil` before. Read it on
  /// the channel's event loop.
  public var handshakeCompleted: TLSHandshakeCompleted? { result }

  /// Succeeds with what the handshake negotiated once it completes; fails with a
  /// ``TLSChannelError`` when the handshake fails or the channel closes (or the handler is
  /// removed) first. Available once the handler is in a pipeline; read it on the channel's event
  /// loop, or through `Channel.tlsHandshakeResult()` from anywhere.
  public var handshakeResult: EventLoopFuture<TLSHandshakeCompleted>? { handshakePromise?.futureResult }

  // MARK: - Lifecycle

  /// Starts the handshake if the channel is already active.
  public func handlerAdded(context: ChannelHandlerContext) {
    storedContext = context
    allocator = context.channel.allocator
    handshakePromise = context.eventLoop.makePromise()
    if context.channel.isActive { startHandshake(context: context) }
  }

  /// Fails what still waits; removed while TLS is in use, fires ``TLSChannelError/Kind/handlerRemoved``
  /// and closes the channel, which cannot go on without TLS.
  public func handlerRemoved(context: ChannelHandlerContext) {
    defer { storedContext = nil }
    switch state {
    case .idle, .closed:
      state = .closed
      let error = TLSChannelError(.handlerRemoved)
      failPending(error)
    case .handshaking, .verifying, .active, .inputClosed, .outputClosed:
      state = .closed
      let error = TLSChannelError(.handlerRemoved)
      failPending(error)
      context.fireErrorCaught(error)
      context.close(promise: nil)
    }
  }

  /// Passes activation on, then starts the handshake.
  public func channelActive(context: ChannelHandlerContext) {
    context.fireChannelActive()
    startHandshake(context: context)
  }

  /// The transport ended: delivers what was still buffered, then reports a handshake that did
  /// not finish, or a peer that left without close_notify, before passing inactivity on.
  public func channelInactive(context: ChannelHandlerContext) {
    switch state {
    case .idle, .closed:
      state = .closed
      failPending(TLSChannelError(.closedDuringHandshake))
    case .handshaking, .verifying:
      state = .closed
      let error = TLSChannelError(.closedDuringHandshake)
      failPending(error)
      context.fireErrorCaught(error)
    case .active, .outputClosed:
      // The peer's last records may still be in OpenSSL's buffer: a close_notify among them
      // makes this a clean end.
      connection.receiveEndOfStream()
      decodeAndDeliver(context: context, atEndOfStream: true)
      if state != .closed {
        state = .closed
        let error = TLSChannelError(.uncleanShutdown)
        failPending(error)
        context.fireErrorCaught(error)
      }
    case .inputClosed:
      state = .closed
      failPending(ChannelError.ioOnClosedChannel)
    }
    if deliveredData {
      deliveredData = false
      context.fireChannelReadComplete()
    }
    context.fireChannelInactive()
  }

  // MARK: - Inbound

  /// Hands ciphertext to OpenSSL, then drives the handshake or decrypts what it completes.
  public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    inReadBurst = true
    lastReceivedCount = buffer.readableBytes
    connection.receive(buffer.readableBytesSpan)
    switch state {
    case .handshaking: driveHandshake(context: context)
    case .active, .outputClosed: decodeAndDeliver(context: context, atEndOfStream: false)
    case .idle, .verifying, .inputClosed, .closed:
      // Kept in OpenSSL's buffer until the handshake resumes; after close_notify or a close,
      // nothing more is read.
      break
    }
  }

  /// Passes the read burst's end up when plaintext went up; otherwise, when the application is
  /// still waiting for data, reads again on its behalf.
  public func channelReadComplete(context: ChannelHandlerContext) {
    inReadBurst = false
    if deliveredData {
      deliveredData = false
      readRequested = false
      context.fireChannelReadComplete()
    } else if readRequested, state == .active || state == .outputClosed {
      context.read()
    }
  }

  /// A transport-level end of input (with remote half-closure allowed): after close_notify it is
  /// expected; before, it is an unclean shutdown or a handshake cut short.
  public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    guard case .some(.inputClosed) = event as? ChannelEvent else {
      context.fireUserInboundEventTriggered(event)
      return
    }
    switch state {
    case .handshaking, .verifying:
      fail(context: context, TLSChannelError(.closedDuringHandshake))
    case .active, .outputClosed:
      // What is left decrypts to data and a close_notify (clean), or ends without one, which
      // fails the channel: what came may have been cut short.
      connection.receiveEndOfStream()
      decodeAndDeliver(context: context, atEndOfStream: true)
      if state == .active || state == .outputClosed {
        fail(context: context, TLSChannelError(.uncleanShutdown))
      }
    case .inputClosed:
      // The end of input was passed on when close_notify arrived.
      break
    case .idle, .closed:
      if !inputClosedFired { context.fireUserInboundEventTriggered(event) }
    }
  }

  // MARK: - Outbound

  /// Queues application data; it is encrypted when flushed (after the handshake).
  public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    switch state {
    case .closed: promise?.fail(ChannelError.ioOnClosedChannel)
    case .outputClosed: promise?.fail(ChannelError.outputClosed)
    case .idle, .handshaking, .verifying, .active, .inputClosed:
      pendingWrites.append((unwrapOutboundIn(data), promise))
    }
  }

  /// Encrypts the queued writes and sends them, once the handshake has finished.
  public func flush(context: ChannelHandlerContext) {
    pendingWrites.mark()
    if state == .active || state == .inputClosed { encryptPendingWrites(context: context) }
  }

  /// Records that the application wants data, and asks the channel for it.
  public func read(context: ChannelHandlerContext) {
    readRequested = true
    context.read()
  }

  /// Closes with close_notify: `.all` sends it and closes the channel; `.output` sends it and
  /// closes the output (half-closure); `.input` is not supported by TLS.
  public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
    switch mode {
    case .all: closeAll(context: context, promise: promise)
    case .output: closeOutput(context: context, promise: promise)
    case .input: promise?.fail(ChannelError.operationUnsupported)
    }
  }

  private func closeAll(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
    switch state {
    case .idle, .handshaking, .verifying:
      // No TLS session to close: OpenSSL sends no close_notify before the handshake is done.
      state = .closed
      failPending(ChannelError.ioOnClosedChannel)
    case .active, .inputClosed, .outputClosed:
      let bothClosed = state == .inputClosed
      let sendsCloseNotify = state != .outputClosed
      state = .closed
      failPending(ChannelError.ioOnClosedChannel)
      if bothClosed { context.fireUserInboundEventTriggered(TLSUserEvent.shutdownCompleted) }
      close(context: context, mode: .all, afterCloseNotify: sendsCloseNotify, promise: promise)
      return
    case .closed:
      break
    }
    context.close(mode: .all, promise: promise)
  }

  private func closeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
    switch state {
    case .idle, .handshaking, .verifying:
      // After the handshake and the writes queued before it.
      pendingWrites.mark()
      if let previous = pendingOutputClose.promise, let promise {
        previous.futureResult.cascade(to: promise)
      } else if let promise {
        pendingOutputClose.promise = promise
      }
      pendingOutputClose.requested = true
    case .active:
      pendingWrites.mark()
      encryptPendingWrites(context: context)
      guard state == .active else {
        promise?.fail(ChannelError.ioOnClosedChannel)
        return
      }
      state = .outputClosed
      failPending(ChannelError.outputClosed)
      close(context: context, mode: .output, afterCloseNotify: true, promise: promise)
    case .inputClosed:
      // Both close_notify exchanged. The transport's output closes after what is queued has
      // been written (a full close would drop it); the channel closes when its input ends too.
      pendingWrites.mark()
      encryptPendingWrites(context: context)
      guard state == .inputClosed else {
        promise?.fail(ChannelError.ioOnClosedChannel)
        return
      }
      state = .closed
      failPending(ChannelError.outputClosed)
      context.fireUserInboundEventTriggered(TLSUserEvent.shutdownCompleted)
      close(context: context, mode: .output, afterCloseNotify: true, promise: promise)
    case .outputClosed, .closed:
      context.close(mode: .output, promise: promise)
    }
  }

  // MARK: - Handshake

  private func startHandshake(context: ChannelHandlerContext) {
    guard state == .idle else { return }
    state = .handshaking
    driveHandshake(context: context)
  }

  private func driveHandshake(context: ChannelHandlerContext) {
    guard state == .handshaking else { return }
    let progress: SSLConnection.Progress
    do {
      progress = try connection.handshake()
    } catch {
      // The alert OpenSSL wrote goes out before the channel closes.
      sendOutput(context: context)
      fail(context: context, TLSChannelError(.handshakeFailed, underlying: error))
      return
    }
    sendOutput(context: context)
    switch progress {
    case .complete:
      completeHandshake(context: context)
    case .wantRead, .wantWrite:
      // The handshake needs the peer's bytes, whether or not the application has asked to read.
      context.read()
    case .wantRetryVerify:
      state = .verifying
      awaitVerification(context: context)
    }
  }

  /// Waits for the asynchronous chain policy in a task, off the event loop, then resumes the
  /// handshake on it.
  private func awaitVerification(context: ChannelHandlerContext) {
    let loop = context.eventLoop
    let handler = NIOLoopBound(self, eventLoop: loop)
    // The connection is not touched on the event loop while the handshake is paused: only this
    // task waits on it, and the handler resumes it on the loop afterwards.
    let connection = Unchecked(connection)
    Task {
      await connection.value.waitForVerification()
      loop.execute { handler.value.verificationFinished() }
    }
  }

  private func verificationFinished() {
    guard state == .verifying, let context = storedContext else { return }
    state = .handshaking
    driveHandshake(context: context)
    if !inReadBurst, deliveredData {
      deliveredData = false
      readRequested = false
      context.fireChannelReadComplete()
    }
  }

  private func completeHandshake(context: ChannelHandlerContext) {
    state = .active
    let completed = TLSHandshakeCompleted(connection)
    result = completed
    handshakeSettled = true
    handshakePromise?.succeed(completed)
    context.fireUserInboundEventTriggered(completed)
    context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: completed.alpnProtocol))
    // The application may have closed the channel, or its output, from its event handler.
    guard state == .active || state == .outputClosed else { return }
    // Records that came with the handshake's last flight: tickets, the first application data.
    decodeAndDeliver(context: context, atEndOfStream: false)
    guard state == .active || state == .inputClosed else { return }
    encryptPendingWrites(context: context)
    if pendingOutputClose.requested {
      let promise = pendingOutputClose.promise
      pendingOutputClose = (false, nil)
      closeOutput(context: context, promise: promise)
    }
  }

  // MARK: - Application data

  /// Decrypts every complete record into buffers passed up, then handles a close_notify or a
  /// failure among them.
  private func decodeAndDeliver(context: ChannelHandlerContext, atEndOfStream: Bool) {
    // Plaintext is never longer than the ciphertext it came in: a power of two (what ByteBuffer
    // allocates) that it fills, from one record's 16 KiB up to the largest buffer.
    let bound = max(lastReceivedCount, 16_384)
    let capacity = min(1 << (Int.bitWidth - 1 - bound.leadingZeroBitCount), Self.largestPlaintextBuffer)
    var buffer = spareBuffer.take() ?? allocator.buffer(capacity: capacity)
    var closeNotify = false
    var failure: (any Error)?
    reading: while true {
      if buffer.writableBytes == 0 {
        context.fireChannelRead(wrapInboundOut(buffer))
        deliveredData = true
        buffer = allocator.buffer(capacity: capacity)
      }
      var outcome = SSLConnection.SpanReadResult.bytes(0)
      do {
        try buffer.writeWithOutputRawSpan(minimumWritableBytes: 0) { span in
          outcome = try connection.read(into: &span)
        }
      } catch {
        failure = error
        break reading
      }
      switch outcome {
      case .bytes: continue reading
      case .closed:
        closeNotify = true
        break reading
      case .progress: break reading
      }
    }
    if buffer.readableBytes > 0 {
      deliveredData = true
      context.fireChannelRead(wrapInboundOut(buffer))
    } else if buffer.capacity >= capacity {
      spareBuffer = buffer
    }
    // Reading may have produced output (a key update's answer).
    sendOutput(context: context)
    if let failure {
      let eof = atEndOfStream || (failure as? TLSError)?.isUnexpectedEOF == true
      fail(context: context, TLSChannelError(eof ? .uncleanShutdown : .readFailed, underlying: failure))
    } else if closeNotify {
      peerSentCloseNotify(context: context)
    }
  }

  /// The peer's close_notify: the input is done.
  private func peerSentCloseNotify(context: ChannelHandlerContext) {
    switch state {
    case .active:
      let halfClosure = (try? context.channel.syncOptions?.getOption(ChannelOptions.allowRemoteHalfClosure)) ?? false
      if halfClosure == true {
        state = .inputClosed
        inputClosedFired = true
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
      } else {
        state = .closed
        failPending(ChannelError.ioOnClosedChannel)
        context.fireUserInboundEventTriggered(TLSUserEvent.shutdownCompleted)
        close(context: context, mode: .all, afterCloseNotify: true, promise: nil)
      }
    case .outputClosed:
      state = .closed
      context.fireUserInboundEventTriggered(TLSUserEvent.shutdownCompleted)
      close(context: context, mode: .all, afterCloseNotify: false, promise: nil)
    case .idle, .handshaking, .verifying, .inputClosed, .closed:
      break
    }
  }

  /// Encrypts the flushed writes and passes the ciphertext down, completing each write's promise
  /// with the write that carries its last byte.
  private func encryptPendingWrites(context: ChannelHandlerContext) {
    guard pendingWrites.hasMark else { return }
    var promises: [EventLoopPromise<Void>] = []
    while pendingWrites.hasMark, let next = pendingWrites.popFirst() {
      var data = next.data
      let promise = next.promise
      while data.readableBytes > 0 {
        let count = min(data.readableBytes, Self.outputChunk)
        do {
          let slice = data.readSlice(length: count)!
          _ = try connection.write(slice.readableBytesSpan)
        } catch {
          promise?.fail(TLSChannelError(.writeFailed, underlying: error))
          for earlier in promises { earlier.fail(TLSChannelError(.writeFailed, underlying: error)) }
          fail(context: context, TLSChannelError(.writeFailed, underlying: error))
          return
        }
        if connection.pendingOutputCount >= Self.outputChunk {
          sendOutput(context: context, promises: promises, flush: false)
          promises.removeAll()
        }
      }
      if let promise { promises.append(promise) }
    }
    sendOutput(context: context, promises: promises, flush: true)
  }

  /// Closes the transport (`mode`) once everything written before, and close_notify
  /// (`SSL_shutdown`) when `afterCloseNotify`, has reached it: closing at once would drop what
  /// the channel has not written yet, close_notify included, and the peer would see a truncated
  /// stream. After ``closeNotifyTimeout`` it closes anyway (a peer that reads nothing).
  private func close(
    context: ChannelHandlerContext, mode: CloseMode, afterCloseNotify: Bool, promise: EventLoopPromise<Void>?
  ) {
    if afterCloseNotify {
      // A failure to make close_notify changes nothing now: the transport closes either way.
      _ = try? connection.shutdown()
    }
    let written = context.eventLoop.makePromise(of: Void.self)
    sendOutput(context: context, promises: [written])
    let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeNotifyTimeout) {
      written.fail(ChannelError.ioOnClosedChannel)
    }
    written.futureResult.assumeIsolated().whenComplete { _ in
      timeout.cancel()
      context.close(mode: mode, promise: promise)
    }
  }

  /// Passes what OpenSSL has for the peer down in one buffer, with the promises of the
  /// application writes it completes.
  private func sendOutput(
    context: ChannelHandlerContext, promises: [EventLoopPromise<Void>] = [], flush: Bool = true
  ) {
    let count = connection.pendingOutputCount
    let promise = Self.combine(promises, on: context.eventLoop)
    if count > 0 {
      var output = allocator.buffer(capacity: count)
      output.writeWithOutputRawSpan(minimumWritableBytes: count) { span in
        _ = connection.takeOutput(into: &span)
      }
      context.write(wrapOutboundOut(output), promise: promise)
      unflushedOutput = true
    } else if let promise {
      // Writes of no bytes: an empty write keeps their promises in order with the others.
      context.write(wrapOutboundOut(allocator.buffer(capacity: 0)), promise: promise)
      unflushedOutput = true
    }
    if flush && unflushedOutput {
      unflushedOutput = false
      context.flush()
    }
  }

  private static func combine(_ promises: [EventLoopPromise<Void>], on loop: any EventLoop) -> EventLoopPromise<Void>? {
    switch promises.count {
    case 0: return nil
    case 1: return promises[0]
    default:
      let combined = loop.makePromise(of: Void.self)
      combined.futureResult.whenComplete { result in
        for promise in promises { promise.completeWith(result) }
      }
      return combined
    }
  }

  // MARK: - Failure

  /// Fires `error`, fails what waits, and closes the channel.
  private func fail(context: ChannelHandlerContext, _ error: TLSChannelError) {
    guard state != .closed else { return }
    state = .closed
    failPending(error)
    context.fireErrorCaught(error)
    context.close(promise: nil)
  }

  /// Fails the writes still queued, a pending output close and the handshake result.
  private func failPending(_ error: any Error) {
    while let (_, promise) = pendingWrites.popFirst() { promise?.fail(error) }
    if let promise = pendingOutputClose.promise {
      pendingOutputClose = (false, nil)
      promise.fail(error)
    }
    if !handshakeSettled, let promise = handshakePromise {
      handshakeSettled = true
      promise.fail(error as? TLSChannelError ?? TLSChannelError(.closedDuringHandshake, underlying: error))
    }
  }
}

@available(*, unavailable)
extension OpenSSLHandler: Sendable {}

/// A value handed to a task although its type is not `Sendable`: only where the code says why
/// no two threads use it at once.
private struct Unchecked<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}
