public import NIOCore

extension Channel {
  /// What the TLS handshake of this channel negotiated and verified, once it completes: the
  /// ``OpenSSLHandler/handshakeResult`` of the channel's ``OpenSSLClientHandler`` or
  /// ``OpenSSLServerHandler``. Fails with a ``TLSChannelError`` when the handshake fails or the
  /// channel closes first, and with `ChannelPipelineError.notFound` when the pipeline has no
  /// such handler. Callable from any thread; for `NIOAsyncChannel` users, who see no user events.
  public func tlsHandshakeResult() -> EventLoopFuture<TLSHandshakeCompleted> {
    guard eventLoop.inEventLoop else {
      return eventLoop.flatSubmit { self.tlsHandshakeResult() }
    }
    do {
      let handler = try pipeline.syncOperations.handler(type: OpenSSLHandler.self)
      return handler.handshakeResult ?? eventLoop.makeFailedFuture(ChannelPipelineError.notFound)
    } catch {
      return eventLoop.makeFailedFuture(error)
    }
  }
}
