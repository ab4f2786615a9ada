public import OpenSSLObjects

/// The client side of a TLS channel: an ``OpenSSLHandler`` over a client connection of an
/// `SSLContext` made with `TLSConfiguration/Role/client`.
///
/// ```swift
/// import NIOCore
/// import NIOPosix
/// import OpenSSLObjects
///
/// let context = try SSLContext(configuration: .client)
/// let channel = try await ClientBootstrap(group: .singletonMultiThreadedEventLoopGroup)
///   .connect(host: "example.com", port: 443) { channel in
///     channel.eventLoop.makeCompletedFuture {
///       try channel.pipeline.syncOperations.addHandler(
///         OpenSSLClientHandler(context: context, serverName: "example.com", port: 443))
///       return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
///     }
///   }
/// let negotiated = try await channel.channel.tlsHandshakeResult().get()
/// ```
///
/// Everything the context says applies: trust, host name checks, pins, verify callbacks, chain
/// policies, the asynchronous chain policy (without blocking the event loop), staples and the
/// revocation policy, ALPN, a client certificate, and session resumption (sessions are kept per
/// server name, port and policy; one resumes only after a clean close, with close_notify).
public final class OpenSSLClientHandler: OpenSSLHandler {
  /// Makes the handler with a new connection of `context` (`SSL_new`).
  ///
  /// - Parameters:
  ///   - context: a client context.
  ///   - serverName: the server's DNS name (sent as SNI and checked against its certificate) or
  ///     IP address (checked); required unless the configuration says
  ///     `TLSConfiguration/HostNameRequirement/insecureNone`.
  ///   - port: the server's port, which with the name and the policy keys resumed sessions.
  ///   - configure: changes to this connection alone before its handshake (its verify callback,
  ///     pins, chain policy, revocation policy, a session to offer).
  /// - Throws: `UsageError` when the connection must name its server and does not; what
  ///   `configure` throws.
  public init(
    context: SSLContext,
    serverName: String?,
    port: Int = 443,
    configure: (SSLConnection) throws -> Void = { _ in }
  ) throws {
    let connection = try context.makeConnection(serverName: serverName, port: port)
    try configure(connection)
    super.init(connection: connection)
  }
}
