import COpenSSLFull

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// The C callbacks behind the Swift closures of TLS contexts and connections. Each one reads the
// closures from the connection's state in the SSL's ex_data (made from the context's state for
// an SSL that C code created from one of our contexts), never from a global or a table keyed by
// address.

/// `SSL_CTX_set_cert_verify_callback`: runs OpenSSL's full verification (`X509_verify_cert`,
/// which calls the verify callbacks), then the host name requirement (for an `SSL` C code made
/// from one of our contexts), the pins, the chain policy and the asynchronous policy. It never
/// replaces OpenSSL's checks; it can only reject further.
let certVerifyTrampoline: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { context, _ in
  guard let context = unsafe context else { return 0 }
  let index = SSL_get_ex_data_X509_STORE_CTX_idx()
  guard index >= 0, let raw = unsafe X509_STORE_CTX_get_ex_data(context, index) else {
    return unsafe X509_verify_cert(context)
  }
  let ssl = OpaquePointer(raw)
  guard let state = unsafe TLSConnectionState.find(ssl) else { return unsafe X509_verify_cert(context) }
  let verification = VerificationState(
    callbacks: state.verifyCallback.map { [$0] } ?? [], purpose: state.context.verification.purpose)
  state.verification = verification
  let status = unsafe X509_verify_cert(context)
  if let thrown = verification.thrown {
    state.store(thrown)
    return 0
  }
  guard status == 1, unsafe X509_STORE_CTX_get_error(context) == X509_V_OK else { return 0 }
  if let profile = state.context.verification.profile, let refusal = unsafe profile.violation(context: context) {
    unsafe X509_STORE_CTX_set_error(context, X509_V_ERR_APPLICATION_VERIFICATION)
    verification.failure = refusal
    return 0
  }
  let isClient = unsafe SSL_is_server(ssl) == 0
  func fail(_ error: VerificationError) -> Int32 {
    unsafe X509_STORE_CTX_set_error(context, X509_V_ERR_APPLICATION_VERIFICATION)
    verification.failure = error
    return 0
  }
  // A context that requires a host name requires it of every SSL made from it, also by C code's
  // SSL_new: only a name set for the certificate check counts, not SNI.
  if isClient, state.context.hostNameRequirement == .required, unsafe !namesPeer(ssl) {
    return unsafe fail(VerificationError(noHostNameFor: X509StoreContextView.chain(of: context)))
  }
  // The chain as Swift values only for what reads it: a handshake without pins or chain
  // policies retains and wraps nothing.
  guard state.pins != nil || state.chainPolicy != nil || (state.asynchronousChainPolicy != nil && isClient) else {
    return 1
  }
  let chain = unsafe X509StoreContextView.chain(of: context)
  if let pins = state.pins, !pins.isSatisfied(by: chain) {
    return fail(VerificationError(pinsUnsatisfied: pins, chain: chain))
  }
  if let chainPolicy = state.chainPolicy {
    do {
      if case .reject(let reason) = try chainPolicy(chain) {
        return fail(VerificationError(chainPolicyRejected: reason, chain: chain))
      }
    } catch {
      state.store(error)
      return fail(VerificationError(chainPolicyRejected: "the chain policy threw \(error)", chain: chain))
    }
  }
  if let policy = state.asynchronousChainPolicy, isClient {
    guard let pending = state.pendingVerification else {
      state.pendingVerification = PendingVerification(policy: policy, chain: chain)
      return unsafe oo_SSL_set_retry_verify(ssl)
    }
    guard let result = pending.result else { return unsafe oo_SSL_set_retry_verify(ssl) }
    state.pendingVerification = nil
    switch result {
    case .success(.accept):
      return 1
    case .success(.reject(let reason)):
      return fail(VerificationError(chainPolicyRejected: reason, chain: chain))
    case .failure(let error):
      state.store(error)
      return fail(VerificationError(chainPolicyRejected: "the asynchronous policy threw \(error)", chain: chain))
    }
  }
  return 1
}

/// Whether an `SSL` checks the peer's certificate for a name: a host (`SSL_set1_host`,
/// `X509_VERIFY_PARAM_set1_host`) or an IP address (`X509_VERIFY_PARAM_set1_ip`).
private func namesPeer(_ ssl: OpaquePointer) -> Bool {
  guard let param = unsafe SSL_get0_param(ssl) else { return false }
  if unsafe X509_VERIFY_PARAM_get0_host(param, 0) != nil { return true }
  guard let address = unsafe X509_VERIFY_PARAM_get1_ip_asc(param) else { return false }
  unsafe oo_OPENSSL_free(address)
  return true
}

/// `SSL_CTX_set_keylog_callback`: one NSS key log line, without its newline.
let keyLogTrampoline: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { ssl, line in
  guard let ssl = unsafe ssl, let line = unsafe line, let state = unsafe TLSConnectionState.find(ssl),
    let keyLog = state.keyLog
  else { return }
  unsafe keyLog(String(cString: line))
}

/// `SSL_CTX_set_cert_cb`: on a client, the certificate selection closure, when the server asks.
let certificateTrampoline: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
  guard let ssl = unsafe ssl, unsafe SSL_is_server(ssl) == 0, let state = unsafe TLSConnectionState.find(ssl),
    let selector = state.context.clientCertificateSelector
  else { return 1 }
  var issuers: [String] = []
  if let names = unsafe SSL_get_client_CA_list(ssl) {
    issuers = unsafe (0..<oo_sk_X509_NAME_num(names)).compactMap { index in
      unsafe oo_sk_X509_NAME_value(names, index).map { unsafe X509Name(copyingBorrowed: $0).rfc2253 }
    }
  }
  do {
    guard let chain = try selector(CertificateRequest(acceptableIssuers: issuers, serverName: state.serverName)) else {
      return 1
    }
    let installed = unsafe X509Stack.withStack(chain.chain) { stack in
      ErrorQueue.isolated { _ in
        unsafe SSL_use_cert_and_key(ssl, chain.certificate.pointer, chain.privateKey.pointer, stack, 1)
      }
    }
    guard installed == 1 else {
      state.store(
        InputError(
          .invalidArgument, object: "client certificate", source: "the selection closure",
          detail: "OpenSSL refused the certificate and key (do they match?)"))
      return 0
    }
    return 1
  } catch {
    state.store(error)
    return 0
  }
}

/// `SSL_CTX_set_client_hello_cb`: on a server, picks the context for the requested name. The
/// chosen context's certificates, session id context, verify mode, verification parameters and
/// Swift policy all apply (`SSL_set_SSL_CTX` alone would keep the first context's verification
/// settings).
let clientHelloTrampoline:
  @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = {
    ssl, alert, _ in
    guard let ssl = unsafe ssl, let state = unsafe TLSConnectionState.find(ssl),
      let handler = state.context.serverNameHandler
    else {
      return 1
    }
    let name = unsafe requestedServerName(ssl)
    state.serverName = name
    do {
      guard let chosen = try handler(name), unsafe chosen.pointer != SSL_get_SSL_CTX(ssl),
        let chosenState = unsafe TLSContextState.slot.get(chosen.pointer)
      else { return 1 }
      chosen.markInUse()
      guard unsafe SSL_set_SSL_CTX(ssl, chosen.pointer) != nil else { return 0 }
      // A connection with a policy of its own keeps verifying, as it did before the switch.
      let mode =
        state.overridden.isEmpty || chosenState.verifyMode != SSL_VERIFY_NONE
        ? chosenState.verifyMode : SSL_VERIFY_PEER
      unsafe SSL_set_verify(ssl, mode, verifyTrampoline)
      let param = unsafe SSL_get0_param(ssl)
      let saved = unsafe X509_VERIFY_PARAM_get_inh_flags(param)
      _ = unsafe X509_VERIFY_PARAM_set_inh_flags(param, UInt32(X509_VP_FLAG_OVERWRITE | X509_VP_FLAG_RESET_FLAGS))
      _ = unsafe X509_VERIFY_PARAM_inherit(param, SSL_CTX_get0_param(chosen.pointer))
      _ = unsafe X509_VERIFY_PARAM_set_inh_flags(param, saved)
      state.adopt(chosenState)
      // Resumption is decided after this callback: sessions must match the chosen policy.
      let context = state.sessionIDContext
      _ = unsafe SSL_set_session_id_context(ssl, context, UInt32(context.count))
      return 1
    } catch {
      state.store(error)
      unsafe alert?.pointee = SSL_AD_INTERNAL_ERROR
      return 0
    }
  }

/// The host name of the client hello's server_name extension (RFC 6066), if any.
private func requestedServerName(_ ssl: OpaquePointer) -> String? {
  var data: UnsafePointer<UInt8>? = nil
  var length = 0
  guard unsafe SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1,
    let data = unsafe data, length > 2
  else {
    return nil
  }
  let bytes = unsafe UnsafeBufferPointer(start: data, count: length)
  var offset = 2
  while offset + 3 <= bytes.count {
    let type = unsafe bytes[offset]
    let nameLength = unsafe Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
    offset += 3
    guard offset + nameLength <= bytes.count else { return nil }
    if type == 0 { return unsafe String(decoding: bytes[offset..<(offset + nameLength)], as: UTF8.self) }
    offset += nameLength
  }
  return nil
}

/// `SSL_CTX_set_alpn_select_cb`: the server's choice, in the server's order of preference.
let alpnSelectTrampoline:
  @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?,
    UInt32, UnsafeMutableRawPointer?
  ) -> Int32 = { ssl, out, outLength, input, inputLength, _ in
    guard let ssl = unsafe ssl, let out = unsafe out, let outLength = unsafe outLength,
      let state = unsafe TLSConnectionState.find(ssl), let wire = state.context.alpnWire
    else {
      return SSL_TLSEXT_ERR_NOACK
    }
    var selected: UnsafeMutablePointer<UInt8>? = nil
    var length: UInt8 = 0
    let status = unsafe SSL_select_next_proto(
      &selected, &length, wire.bytes.baseAddress, UInt32(wire.bytes.count), input, inputLength)
    guard status == OPENSSL_NPN_NEGOTIATED, let selected = unsafe selected else { return SSL_TLSEXT_ERR_NOACK }
    unsafe out.pointee = unsafe UnsafePointer(selected)
    unsafe outLength.pointee = length
    return SSL_TLSEXT_ERR_OK
  }

/// `SSL_CTX_sess_set_new_cb`: a client's new session, kept under the connection's host, port and
/// policy. Returns 1: the session's reference is ours.
let newSessionTrampoline: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
  guard let ssl = unsafe ssl, let session = unsafe session, let state = unsafe TLSConnectionState.find(ssl),
    let cache = state.context.sessionCache, let name = state.serverName
  else { return 0 }
  let key = state.sessionKey
  // The name the session was made for goes with it (also into its DER encoding), so that
  // SSLConnection.setSession can say when it is offered for another one.
  _ = ErrorQueue.isolated { _ in unsafe SSL_SESSION_set1_hostname(session, name) }
  if let deadline = state.sessionDeadline {
    // A resumed session skips the revocation check: it lives no longer than the answer checked.
    let remaining = unsafe Int(deadline.timeIntervalSince1970) - Int(SSL_SESSION_get_time(session))
    if unsafe remaining < SSL_SESSION_get_timeout(session) {
      _ = unsafe SSL_SESSION_set_timeout(session, max(remaining, 0))
    }
  }
  unsafe cache.store(SSLSession(takingOwnershipOf: OpenSSLPointer(session)), for: key, notAfter: state.sessionDeadline)
  return 1
}

/// `SSL_CTX_set_tlsext_status_cb`: on a server, staples the context's response; on a client,
/// checks the staple and runs the revocation policy.
let statusTrampoline: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _ in
  guard let ssl = unsafe ssl, let state = unsafe TLSConnectionState.find(ssl) else { return SSL_TLSEXT_ERR_NOACK }
  return unsafe SSL_is_server(ssl) == 1 ? serveStaple(ssl, state) : checkStaple(ssl, state)
}
