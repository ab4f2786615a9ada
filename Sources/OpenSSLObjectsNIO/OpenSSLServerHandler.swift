public import OpenSSLObjects

/// The server side of a TLS channel: an ``OpenSSLHandler`` over a server connection of an
/// `SSLContext` made with `TLSConfiguration/Role/server`.
///
/// ```swift
/// import NIOCore
/// import NIOPosix
/// import OpenSSLObjects
///
/// let context = try SSLContext(configuration: .server([chain]))   // a key in memory or on a token
/// let server = try await ServerBootstrap(group: .singletonMultiThreadedEventLoopGroup)
///   .bind(host: "127.0.0.1", port: 8443) { channel in
///     channel.eventLoop.makeCompletedFuture {
///       try channel.pipeline.syncOperations.addHandler(OpenSSLServerHandler(context: context))
///       return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
///     }
///   }
/// print("listening on", server.channel.localAddress!)
/// ```
///
/// Everything the context says applies: its certificate chains (RSA and ECDSA side by side, keys
/// in memory or on a PKCS#11 token), client certificates and their verification, ALPN, OCSP
/// stapling, session tickets, and the server name handler
/// (`TLSConfiguration/serverNameHandler`), which switches the connection to another context
/// by the name the client asks for, on the event loop.
public final class OpenSSLServerHandler: OpenSSLHandler {
  /// Makes the handler with a new connection of `context` (`SSL_new`).
  ///
  /// - Parameters:
  ///   - context: a server context.
  ///   - configure: changes to this connection alone before its handshake (its verify callback
  ///     for client certificates, pins, chain policy).
  /// - Throws: what `configure` throws; `UsageError` for a client context that must name its
  ///   server.
  public init(context: SSLContext, configure: (SSLConnection) throws -> Void = { _ in }) throws {
    let connection = try context.makeConnection()
    try configure(connection)
    super.init(connection: connection)
  }
}
