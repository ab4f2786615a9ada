import COpenSSLFull

/// A stored session that a connection refused to offer (``SSLConnection/setSession(_:)``): a
/// resumed session skips verification, pins, callbacks, chain policies and the revocation check,
/// so it is offered only to a connection that would have run exactly those checks.
public struct TLSSessionError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Why the session does not fit.
  public enum Reason: Sendable, Hashable {
    /// The session was made for another server name (`SSL_SESSION_get0_hostname`).
    case differentHost(session: String, connection: String)
    /// The session was made under another verification or revocation policy: another context's
    /// policy, a connection's own callback, pins or chain policy, another revocation policy, or
    /// another port (its session id context, `SSL_SESSION_get0_id_context`, differs).
    case differentPolicy
    /// The session carries no policy at all (an empty session id context): it was not made by a
    /// connection of this library.
    case unbound
  }

  /// Why.
  public let reason: Reason

  /// What went wrong, in words.
  public var description: String {
    switch reason {
    case .differentHost(let session, let connection):
      return "the session was made for \"\(session.visibleEscapes)\", not for \"\(connection.visibleEscapes)\": "
        + "a resumed session skips the certificate check for the new name"
    case .differentPolicy:
      return "the session was made under another verification policy (another context's trust, pins, callbacks, "
        + "chain or revocation policy, or another server name or port): resuming it would skip this connection's checks"
    case .unbound:
      return "the session carries no verification policy (it was not made by a connection of this library): "
        + "resuming it would skip this connection's checks"
    }
  }

  /// Checks that `session` was made under the policy `state` verifies with.
  static func check(_ session: SSLSession, for state: TLSConnectionState) throws(TLSSessionError) {
    try session.withUnsafePointer { pointer throws(TLSSessionError) in
      if let name = state.serverName, let host = unsafe SSL_SESSION_get0_hostname(pointer.raw) {
        let sessionHost = unsafe String(cString: host)
        if sessionHost != name { throw TLSSessionError(reason: .differentHost(session: sessionHost, connection: name)) }
      }
      var length: UInt32 = 0
      guard let bytes = unsafe SSL_SESSION_get0_id_context(pointer.raw, &length), length > 0 else {
        throw TLSSessionError(reason: .unbound)
      }
      let context = unsafe Array(UnsafeBufferPointer(start: bytes, count: Int(length)))
      guard context == state.sessionIDContext else { throw TLSSessionError(reason: .differentPolicy) }
    }
  }
}
