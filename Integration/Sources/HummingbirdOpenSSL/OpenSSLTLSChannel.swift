public import HummingbirdCore
public import Logging
public import NIOCore
public import OpenSSLObjects
import OpenSSLObjectsNIO

/// Hummingbird's child channel with an ``OpenSSLServerHandler`` in front of another child channel
/// (HTTP/1.1): what Hummingbird's own `TLSChannel` does with swift-nio-ssl, with the system's
/// OpenSSL and everything an ``SSLContext`` carries (keys on PKCS#11 tokens, OCSP stapling, client
/// certificate policies, SNI).
public struct OpenSSLTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
  /// What the wrapped child channel hands its handler.
  public typealias Value = Base.Value

  private let base: Base
  private let context: SSLContext

  /// Wraps `base`: each connection gets a server handler of `context` first.
  public init(_ base: Base, context: SSLContext) {
    self.base = base
    self.context = context
  }

  /// Adds the TLS handler, then sets up the wrapped child channel behind it.
  public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
    channel.eventLoop.makeCompletedFuture {
      try channel.pipeline.syncOperations.addHandler(OpenSSLServerHandler(context: context))
    }.flatMap {
      base.setup(channel: channel, logger: logger)
    }
  }

  /// Hands the connection to the wrapped child channel.
  public func handle(value: Value, logger: Logger) async {
    await base.handle(value: value, logger: logger)
  }
}

extension HTTPServerBuilder {
  /// HTTP/1.1 over TLS with OpenSSLObjects: `Application(router: router, server: .openSSL(context))`.
  public static func openSSL(
    _ context: SSLContext, configuration: HTTP1Channel.Configuration = .init()
  ) -> HTTPServerBuilder {
    .init { responder in
      OpenSSLTLSChannel(HTTP1Channel(responder: responder, configuration: configuration), context: context)
    }
  }
}
