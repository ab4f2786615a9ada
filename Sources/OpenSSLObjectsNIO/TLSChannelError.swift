public import OpenSSLObjects

/// Why a TLS channel failed: what ``OpenSSLClientHandler`` and ``OpenSSLServerHandler`` fire down
/// the pipeline (`fireErrorCaught`) before they close the channel, and what fails the writes
/// still waiting and ``OpenSSLHandler/handshakeResult``.
///
/// ``underlying`` holds the error OpenSSL or a callback gave: a `TLSError` (with its
/// `TLSError/verification` when the peer's certificate was refused), or the error a verify
/// callback, chain policy or selection closure threw, as it threw it.
public struct TLSChannelError: Error, Sendable, CustomStringConvertible {
  /// What went wrong.
  public enum Kind: Sendable, Hashable, CustomStringConvertible {
    /// The handshake failed (`SSL_do_handshake`): an alert from the peer, a certificate that
    /// failed verification, a callback that threw or rejected.
    case handshakeFailed
    /// The transport ended (end of stream or the channel closed) before the handshake finished.
    case closedDuringHandshake
    /// The peer ended the transport without close_notify after the handshake: what was received
    /// may have been cut short (a truncation attack looks the same).
    case uncleanShutdown
    /// Reading application data failed (`SSL_read_ex`): a record that does not decrypt, an alert.
    case readFailed
    /// Encrypting application data failed (`SSL_write_ex`).
    case writeFailed
    /// The handler was removed from the pipeline while TLS was in use: the channel cannot go on
    /// without it, so it is closed.
    case handlerRemoved

    /// The kind in words.
    public var description: String {
      switch self {
      case .handshakeFailed: "the TLS handshake failed"
      case .closedDuringHandshake: "the connection ended during the TLS handshake"
      case .uncleanShutdown: "the peer closed the connection without close_notify"
      case .readFailed: "reading TLS application data failed"
      case .writeFailed: "writing TLS application data failed"
      case .handlerRemoved: "the TLS handler was removed from the pipeline while TLS was in use"
      }
    }
  }

  /// What went wrong.
  public let kind: Kind
  /// The error OpenSSL or a callback gave, if any.
  public let underlying: (any Error)?

  /// Makes an error of `kind` caused by `underlying`.
  public init(_ kind: Kind, underlying: (any Error)? = nil) {
    self.kind = kind
    self.underlying = underlying
  }

  /// The verification failure, when the peer's certificate was the reason.
  public var verification: VerificationError? {
    (underlying as? TLSError)?.verification ?? underlying as? VerificationError
  }

  /// The kind, and the underlying error's own description.
  public var description: String {
    guard let underlying else { return kind.description }
    return "\(kind): \(underlying)"
  }
}
