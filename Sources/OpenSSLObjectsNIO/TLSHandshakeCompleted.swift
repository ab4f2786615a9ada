public import OpenSSLObjects

/// What a finished handshake negotiated and verified: the user event ``OpenSSLClientHandler`` and
/// ``OpenSSLServerHandler`` fire (`fireUserInboundEventTriggered`) when the handshake completes,
/// just before NIOTLS's `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)`, and the value of
/// ``OpenSSLHandler/handshakeResult``.
///
/// A `Sendable` snapshot taken from the connection (`SSL`) when the handshake finished; the
/// certificates are retained references to OpenSSL's own objects.
public struct TLSHandshakeCompleted: Sendable {
  /// The protocol version (`SSL_version`).
  public let version: TLSVersion?
  /// The cipher's standard name (`SSL_CIPHER_standard_name`), for example
  /// `"TLS_AES_128_GCM_SHA256"`.
  public let cipher: String?
  /// The key exchange group (`SSL_get_negotiated_group`), for example `"X25519"`.
  public let group: String?
  /// The ALPN protocol agreed on (`SSL_get0_alpn_selected`), if any.
  public let alpnProtocol: String?
  /// The server name: on a client, the name it asked for; on a server, the name the client sent
  /// (SNI, `SSL_get_servername`).
  public let serverName: String?
  /// Whether the handshake resumed a session (`SSL_session_reused`).
  public let isSessionReused: Bool
  /// The peer's certificate (`SSL_get1_peer_certificate`), also when verification was off.
  public let peerCertificate: X509Certificate?
  /// The chain OpenSSL verified, leaf first (`SSL_get0_verified_chain`); empty when
  /// verification did not run or the session was resumed.
  public let verifiedChain: [X509Certificate]
  /// The OCSP response the server stapled (on a server: the one it stapled), parsed.
  public let ocspStaple: OCSPResponse?
  /// What the client's revocation check found, when it ran.
  public let revocationReport: RevocationReport?
  /// The verification errors the verify callbacks accepted.
  public let acceptedOverrides: [VerificationError]

  /// Reads the negotiated parameters of a connection whose handshake completed.
  init(_ connection: SSLConnection) {
    version = connection.version
    cipher = connection.cipher
    group = connection.group
    alpnProtocol = connection.alpnProtocol
    serverName = connection.serverName
    isSessionReused = connection.isSessionReused
    peerCertificate = connection.peerCertificate
    verifiedChain = connection.verifiedChain
    ocspStaple = connection.ocspStaple
    revocationReport = connection.revocationReport
    acceptedOverrides = connection.acceptedOverrides
  }
}
