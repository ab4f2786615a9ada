import COpenSSLFull

/// A TLS session (`SSL_SESSION`) that can be stored and offered again to resume.
///
/// Owns exactly one `SSL_SESSION` reference (`SSL_SESSION_free`). Doors: adopt, borrow, retain
/// (`SSL_SESSION_up_ref`) and hand over. Immutable once made, hence `Sendable`.
public final class SSLSession: OpenSSLObjectBase, OpenSSLReferenceCounted, @unchecked Sendable {
  override package class var cType: CObjectType { .sslSession }

  /// Reads a session stored with ``derEncoded()`` (`d2i_SSL_SESSION`). Stored sessions hold
  /// secrets: keep them as carefully as keys.
  ///
  /// - Throws: ``InputError`` for bytes that are not a session.
  public convenience init(derEncoded bytes: [UInt8]) throws(InputError) {
    let pointer = unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try DER.decode(
        buffer, object: "TLS session", source: .memory(count: buffer.count), operation: "d2i_SSL_SESSION",
        d2i: { unsafe d2i_SSL_SESSION($0, $1, $2) }, free: { unsafe SSL_SESSION_free($0) })
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// The DER encoding (`i2d_SSL_SESSION`), to store the session. It holds the session's secrets.
  public func derEncoded() throws(OpenSSLError) -> SecretBytes {
    var bytes = unsafe try DER.encode("i2d_SSL_SESSION") { unsafe i2d_SSL_SESSION(pointer, $0) }
    defer { unsafe OPENSSL_cleanse(&bytes, bytes.count) }
    return SecretBytes(bytes)
  }

  /// Whether the session can still be offered (`SSL_SESSION_is_resumable`).
  public var isResumable: Bool { unsafe SSL_SESSION_is_resumable(pointer) == 1 }

  /// The protocol version it was made with (`SSL_SESSION_get_protocol_version`).
  public var version: TLSVersion? { unsafe TLSVersion(rawValue: SSL_SESSION_get_protocol_version(pointer)) }

  /// Its lifetime in seconds (`SSL_SESSION_get_timeout`).
  public var timeout: Int { unsafe Int(SSL_SESSION_get_timeout(pointer)) }

  /// The peer's certificate, if the session has one (`SSL_SESSION_get0_peer`), retained.
  public var peerCertificate: X509Certificate? {
    unsafe SSL_SESSION_get0_peer(pointer).flatMap { unsafe try? X509Certificate(retaining: OpenSSLPointer($0)) }
  }
}
