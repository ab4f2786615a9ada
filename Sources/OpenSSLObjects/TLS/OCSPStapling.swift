import COpenSSLFull

/// What a server staples (`SSL_CTX_set_tlsext_status_cb`, `SSL_set_tlsext_status_ocsp_resp`).
///
/// Either way, each connection hands OpenSSL a fresh `OPENSSL_malloc` copy of the bytes, which
/// OpenSSL frees with the connection.
public enum OCSPStaple: Sendable {
  /// The same DER-encoded OCSP response for every connection of the context (refresh it by making
  /// a new context).
  case response([UInt8])
  /// A closure asked for each connection whose client requests a staple, with the certificate the
  /// server presents; it returns the DER bytes to staple, or `nil` for none. A closure that
  /// throws fails that handshake with its error. It must not capture the context (a reference
  /// cycle through the `SSL_CTX`'s ex_data).
  case provider(@Sendable (X509Certificate?) throws -> [UInt8]?)
}

/// What a client's staple callback is shown (``TLSConfiguration/stapleCallback``).
public struct StapleCheck: Sendable {
  /// The stapled response, parsed, or `nil` when the server stapled none (or bytes that are not
  /// a response: see ``bytes``).
  public let response: OCSPResponse?
  /// The stapled bytes as received.
  public let bytes: [UInt8]?
  /// The verified chain, leaf first.
  public let chain: [X509Certificate]
  /// What the connection's ``RevocationPolicy`` decided.
  public let verdict: Result<RevocationReport, OCSPError>
}

/// What a staple callback decides.
public enum StapleDecision: Sendable, Hashable {
  /// The policy's verdict stands.
  case keep
  /// Accept, even if the policy's verdict was a failure (reported in
  /// ``RevocationReport/unchecked``).
  case accept
  /// Fail the handshake with this reason (``OCSPError/Check/rejected``).
  case reject(String)
}

/// A client's callback over the stapled response, for policies the built-in one cannot express.
/// An error it throws fails the handshake and surfaces from the call that drove it.
public typealias StapleCallback = @Sendable (StapleCheck) throws -> StapleDecision

/// The server side of the status callback: staples the context's response, if any.
func serveStaple(_ ssl: OpaquePointer, _ state: TLSConnectionState) -> Int32 {
  guard let source = state.context.staple else { return SSL_TLSEXT_ERR_NOACK }
  let bytes: [UInt8]?
  switch source {
  case .response(let fixed): bytes = fixed
  case .provider(let provider):
    do {
      bytes = unsafe try provider(
        SSL_get_certificate(ssl).flatMap { unsafe try? X509Certificate(retaining: OpenSSLPointer($0)) })
    } catch {
      state.store(error)
      return SSL_TLSEXT_ERR_ALERT_FATAL
    }
  }
  guard let bytes, !bytes.isEmpty, let copy = unsafe ErrorQueue.isolated({ _ in unsafe oo_OPENSSL_malloc(bytes.count) })
  else {
    return SSL_TLSEXT_ERR_NOACK
  }
  unsafe bytes.withUnsafeBytes { unsafe copy.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
  // OpenSSL takes the buffer and frees it with the connection.
  let handed = ErrorQueue.isolated { _ in
    unsafe oo_SSL_set_tlsext_status_ocsp_resp(ssl, copy.assumingMemoryBound(to: UInt8.self), bytes.count)
  }
  guard handed == 1 else {
    unsafe oo_OPENSSL_free(copy)
    return SSL_TLSEXT_ERR_NOACK
  }
  return SSL_TLSEXT_ERR_OK
}

/// The client side of the status callback: runs the connection's revocation policy on the
/// verified chain and the staple, then the staple callback. Returns 1 to go on, 0 to fail the
/// handshake (the error is stored on the connection).
func checkStaple(_ ssl: OpaquePointer, _ state: TLSConnectionState) -> Int32 {
  let bytes = unsafe stapledBytes(ssl)
  let chain = unsafe X509Stack.certificates(SSL_get0_verified_chain(ssl))
  guard !chain.isEmpty, let storePointer = unsafe SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)),
    let store = unsafe try? X509Store(retaining: OpenSSLPointer(storePointer))
  else {
    // Verification is off or did not succeed: there is no verified issuer to check against.
    state.revocationReport = RevocationReport(
      source: nil, response: nil, singleResponse: nil, validUntil: nil,
      unchecked: ["the peer's chain was not verified, so its revocation could not be checked"])
    return 1
  }
  var verdict: Result<RevocationReport, OCSPError>
  do {
    verdict = .success(try RevocationChecker.check(chain: chain, store: store, staple: bytes, policy: state.revocation))
  } catch {
    verdict = .failure(error)
  }
  if let callback = state.stapleCallback {
    let response = bytes.flatMap { try? OCSPResponse(derEncoded: $0) }
    do {
      switch try callback(StapleCheck(response: response, bytes: bytes, chain: chain, verdict: verdict)) {
      case .keep: break
      case .accept:
        if case .failure(let error) = verdict {
          verdict = .success(
            RevocationReport(
              source: nil, response: response, singleResponse: nil, validUntil: nil,
              unchecked: ["the staple callback accepted: \(error)"]))
        }
      case .reject(let reason):
        verdict = .failure(OCSPError(.rejected, explanation: "The staple callback rejected the response: \(reason)."))
      }
    } catch {
      state.store(error)
      return 0
    }
  }
  switch verdict {
  case .success(let report):
    state.revocationReport = report
    state.sessionDeadline = report.validUntil
    return 1
  case .failure(let error):
    state.store(error)
    return 0
  }
}

/// The stapled response's bytes (`SSL_get_tlsext_status_ocsp_resp`), if any.
func stapledBytes(_ ssl: OpaquePointer) -> [UInt8]? {
  var data: UnsafePointer<UInt8>? = nil
  let length = unsafe oo_SSL_get_tlsext_status_ocsp_resp(ssl, &data)
  guard length > 0, let data = unsafe data else { return nil }
  return unsafe Array(UnsafeBufferPointer(start: data, count: length))
}
