import COpenSSLFull

/// A TLS context (`SSL_CTX`), built from one ``TLSConfiguration``.
///
/// Immutable once its first connection exists, since OpenSSL does not synchronise
/// `SSL_CTX_set_*` or ex_data with running handshakes: each connection takes its own references to
/// the closures it uses when it is made, and replacing a callback is done per connection
/// (``SSLConnection/setVerifyCallback(_:)``), never by changing a context in use. `Sendable`.
///
/// Whether a context is in use belongs to the `SSL_CTX` (its ex_data), not to this wrapper: any
/// connection made from it, by Swift or by C code's `SSL_new`, puts it in use for every wrapper,
/// including a second one made with `init(retaining:)`. A context handed to C code
/// (``OpenSSLReferenceCounted/retainedPointer()``, a capsule) is no longer changed from Swift.
///
/// Owns exactly one `SSL_CTX` reference (`SSL_CTX_free`). Doors: adopt, borrow, retain
/// (`SSL_CTX_up_ref`) and hand over. The Swift closures live in the `SSL_CTX`'s ex_data, so a
/// context handed to C code keeps working after this object is released.
public final class SSLContext: OpenSSLObjectBase, OpenSSLReferenceCounted, @unchecked Sendable {
  override package class var cType: CObjectType { .sslContext }

  /// Builds a context from a configuration (`SSL_CTX_new_ex` in the configuration's library
  /// context, and the setters it implies).
  ///
  /// - Throws: ``InputError`` for a value OpenSSL refuses (an unknown cipher or group, a key
  ///   that does not match its certificate; ``InputError/Reason/requiresNewerOpenSSL`` for a
  ///   post-quantum group before OpenSSL 3.5), ``ProviderError`` for a key made in another library
  ///   context, or the error loading the system trust store.
  public convenience init(configuration: TLSConfiguration) throws {
    try self.init(configuration: configuration, ownSystemStore: false)
  }

  /// Builds a context for C code to hold (the C API's): ``TrustAnchors/system`` is a store of the
  /// context's own, since C code may load CAs into the context's store with OpenSSL's own calls.
  package convenience init(configuration: TLSConfiguration, ownSystemStore: Bool) throws {
    try LibraryContextRules.check(configuration)
    let method = unsafe configuration.role == .client ? TLS_client_method() : TLS_server_method()
    let pointer = unsafe try ErrorQueue.call("SSL_CTX_new_ex") {
      unsafe SSL_CTX_new_ex(configuration.libraryContext.pointer, configuration.properties.text, method)
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
    unsafe try configuration.libraryContext.keepAlive(sslContext: pointer)
    try apply(configuration, ownSystemStore: ownSystemStore)
  }

  /// The context's lifecycle, in its ex_data.
  private var lifecycle: ObjectLifecycle { unsafe ObjectLifecycle.of(context: pointer) }

  /// Handing the context to C code freezes it against changes from Swift.
  override package func willHandOver() {
    lifecycle.markHandedOver()
  }

  // MARK: - Configuration

  private func apply(_ configuration: TLSConfiguration, ownSystemStore: Bool) throws {
    let context = unsafe pointer
    try check("SSL_CTX_set_min_proto_version", configuration.minimumVersion.description) {
      unsafe oo_SSL_CTX_set_min_proto_version(context, configuration.minimumVersion.rawValue)
    }
    try check("SSL_CTX_set_max_proto_version", configuration.maximumVersion?.description ?? "highest") {
      unsafe oo_SSL_CTX_set_max_proto_version(context, configuration.maximumVersion?.rawValue ?? 0)
    }
    _ = unsafe SSL_CTX_set_options(context, oo_SSL_OP_NO_COMPRESSION() | oo_SSL_OP_NO_RENEGOTIATION())
    _ = unsafe SSL_CTX_clear_options(context, Self.unsafeOptions)
    unsafe SSL_CTX_set_security_level(context, Int32(configuration.securityLevel))
    try check("SSL_CTX_set_cipher_list", configuration.cipherList) {
      unsafe SSL_CTX_set_cipher_list(context, configuration.cipherList)
    }
    try check("SSL_CTX_set_ciphersuites", configuration.cipherSuites) {
      unsafe SSL_CTX_set_ciphersuites(context, configuration.cipherSuites)
    }
    let groups = configuration.groups.joined(separator: ":")
    try check("SSL_CTX_set1_groups_list", groups) { unsafe oo_SSL_CTX_set1_groups_list(context, groups) }
    if let algorithms = configuration.signatureAlgorithms {
      try check("SSL_CTX_set1_sigalgs_list", algorithms) { unsafe oo_SSL_CTX_set1_sigalgs_list(context, algorithms) }
    }
    for chain in configuration.certificateChains {
      unsafe try X509Stack.withStack(chain.chain) { stack throws(InputError) in
        try check("SSL_CTX_use_cert_and_key", chain.certificate.subject.rfc2253) {
          unsafe SSL_CTX_use_cert_and_key(context, chain.certificate.pointer, chain.privateKey.pointer, stack, 1)
        }
      }
    }
    if configuration.role == .client, let selector = configuration.clientCertificateSelector {
      _ = selector
      unsafe SSL_CTX_set_cert_cb(context, certificateTrampoline, nil)
    }
    if configuration.keyLog != nil {
      unsafe SSL_CTX_set_keylog_callback(context, keyLogTrampoline)
    }
    if configuration.role == .server && configuration.serverNameHandler != nil {
      unsafe SSL_CTX_set_client_hello_cb(context, clientHelloTrampoline, nil)
    }
    let state = try installVerificationState(configuration, ownSystemStore: ownSystemStore)
    if configuration.role == .server && configuration.ocspStaple != nil {
      _ = unsafe oo_SSL_CTX_set_tlsext_status_cb(context, statusTrampoline)
    }
    if let wire = state.alpnWire {
      if configuration.role == .client {
        // SSL_CTX_set_alpn_protos returns 0 on success.
        try check("SSL_CTX_set_alpn_protos", configuration.alpnProtocols.joined(separator: ",")) {
          unsafe SSL_CTX_set_alpn_protos(context, wire.bytes.baseAddress, UInt32(wire.bytes.count)) == 0 ? 1 : 0
        }
      } else {
        unsafe SSL_CTX_set_alpn_select_cb(context, alpnSelectTrampoline, nil)
      }
    }
    try configureSessions(configuration)
  }

  /// Installs the verification parts of a configuration: the trust anchors (with
  /// `SSL_CTX_set1_cert_store`, so the context takes its own reference and a store someone else
  /// gave the context is replaced, never changed), the verify mode, the verification parameters,
  /// and the callbacks, pins and chain policy (in the `SSL_CTX`'s ex_data, living exactly as long
  /// as it).
  ///
  /// This is how our verification goes onto an `SSL_CTX` a C library made and owns, such as the
  /// one libcurl hands to `CURLOPT_SSL_CTX_FUNCTION`. Nothing is keyed by the pointer's address.
  /// Such a library may go on changing the context's store (libcurl before 8.3 loads
  /// `CURLOPT_CAINFO` into it after the callback), so ``TrustAnchors/system`` is a store of the context's own here
  /// (`X509_STORE_set_default_paths` on a new `X509_STORE`), never the process's shared
  /// ``X509Store/system``.
  ///
  /// - Throws: ``UsageError`` once connections exist (made by anyone) or once the context was
  ///   handed to C code; ``InputError`` for a value OpenSSL refuses.
  public func installVerification(_ configuration: TLSConfiguration) throws {
    _ = try installVerificationState(configuration, door: .swift, ownSystemStore: true)
  }

  /// Installs verification on behalf of the C API (`install_pins` and friends), which C code calls
  /// on a context it holds: refused once connections exist.
  package func installVerification(_ configuration: TLSConfiguration, door: ObjectLifecycle.Door) throws {
    _ = try installVerificationState(configuration, door: door, ownSystemStore: true)
  }

  /// - Parameter ownSystemStore: whether ``TrustAnchors/system`` is a new store of the context's
  ///   own rather than the shared ``X509Store/system``: for a context C code holds, which may
  ///   load CAs into its store with OpenSSL's own calls.
  private func installVerificationState(
    _ configuration: TLSConfiguration, door: ObjectLifecycle.Door = .swift, ownSystemStore: Bool
  ) throws -> TLSContextState {
    // The whole change under the context's lock: a connection made meanwhile waits, then sees it.
    try lifecycle.change("SSL_CTX_set_verify", door: door) {
      try installVerificationUnlocked(configuration, ownSystemStore: ownSystemStore)
    }
  }

  private func installVerificationUnlocked(
    _ configuration: TLSConfiguration, ownSystemStore: Bool
  ) throws -> TLSContextState {
    // A context checks the name each connection gives; a name in its policy would be dropped.
    let policy = configuration.verification
    if policy.host != nil || policy.ipAddress != nil || policy.email != nil {
      throw UsageError(
        "a TLS configuration's verification names no host, IP address or e-mail: each connection gives the "
          + "name it verifies (makeConnection(serverName:)), so verification.host, .ipAddress and .email must "
          + "stay nil")
    }
    let store: X509Store
    switch configuration.trust {
    case .system where ownSystemStore:
      store = X509Store()
      try store.loadSystemTrust()
    case .system: store = try X509Store.system
    case .store(let given): store = given
    case .certificates(let anchors):
      store = X509Store()
      for anchor in anchors { try store.add(anchor) }
    }
    store.freeze()
    store.withUnsafePointer { unsafe SSL_CTX_set1_cert_store(pointer, $0.raw) }
    if configuration.role == .server, configuration.peerVerification != .none {
      // Name the acceptable issuers in the certificate request; not the whole system store.
      if case .system = configuration.trust {
      } else {
        let names = unsafe oo_sk_X509_NAME_new_null()!
        for anchor in store.certificates {
          if let name = unsafe X509_NAME_dup(X509_get_subject_name(anchor.pointer)) {
            _ = unsafe oo_sk_X509_NAME_push(names, name)
          }
        }
        unsafe SSL_CTX_set_client_CA_list(pointer, names)
      }
    }

    var mode: Int32
    switch configuration.peerVerification {
    case .verify: mode = SSL_VERIFY_PEER
    case .requireClientCertificate: mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    case .none: mode = configuration.needsVerification ? SSL_VERIFY_PEER : SSL_VERIFY_NONE
    }
    if configuration.role == .client { mode &= ~SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
    unsafe SSL_CTX_set_verify(pointer, mode, verifyTrampoline)
    unsafe SSL_CTX_set_cert_verify_callback(pointer, certVerifyTrampoline, nil)
    unsafe try policy.apply(to: SSL_CTX_get0_param(pointer))
    let state = TLSContextState(
      configuration: configuration, verifyMode: mode, asynchronousChainPolicy: configuration.asynchronousChainPolicy,
      store: store)
    unsafe TLSContextState.slot.set(pointer, state)
    // Sessions are bound to this policy: every SSL made from the context copies it (SSL_new), so a
    // server resumes only sessions made under it, and SSLs that C code makes carry it too.
    let sessionIDContext = state.sessionIDContext
    try check("SSL_CTX_set_session_id_context", "session id context") {
      unsafe SSL_CTX_set_session_id_context(pointer, sessionIDContext, UInt32(sessionIDContext.count))
    }
    // A client's staple policy goes with its verification (also onto contexts C code made).
    if state.requestsStatus {
      _ = unsafe oo_SSL_CTX_set_tlsext_status_cb(pointer, statusTrampoline)
      _ = unsafe oo_SSL_CTX_set_tlsext_status_type(pointer, TLSEXT_STATUSTYPE_ocsp)
    }
    return state
  }

  private func configureSessions(_ configuration: TLSConfiguration) throws {
    let sessions = configuration.sessions
    if configuration.role == .client {
      _ = unsafe oo_SSL_CTX_set_session_cache_mode(
        pointer,
        sessions.resumption ? Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE) : Int(SSL_SESS_CACHE_OFF))
      if sessions.resumption { unsafe SSL_CTX_sess_set_new_cb(pointer, newSessionTrampoline) }
      return
    }
    _ = unsafe oo_SSL_CTX_set_session_cache_mode(
      pointer, sessions.resumption ? Int(SSL_SESS_CACHE_SERVER) : Int(SSL_SESS_CACHE_OFF))
    _ = unsafe oo_SSL_CTX_sess_set_cache_size(pointer, sessions.cacheSize)
    _ = unsafe SSL_CTX_set_num_tickets(pointer, sessions.resumption ? sessions.ticketCount : 0)
    if !sessions.resumption || !sessions.statelessTickets {
      _ = unsafe SSL_CTX_set_options(pointer, oo_SSL_OP_NO_TICKET())
    }
  }

  /// Options that weaken TLS, which an `OPENSSL_CONF` system default (`Options = ...`) may set on
  /// every new `SSL_CTX`: renegotiation with unpatched peers (`UnsafeLegacyRenegotiation`,
  /// `UnsafeLegacyServerConnect`) or at a client's request, TLS 1.2 without the extended master
  /// secret or encrypt-then-MAC, truncation read as a clean close (`IgnoreUnexpectedEOF`), and
  /// TLS 1.3 resumption without a fresh key exchange. They are cleared on every context we build.
  static let unsafeOptions =
    oo_SSL_OP_ALLOW_CLIENT_RENEGOTIATION() | oo_SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION()
    | oo_SSL_OP_LEGACY_SERVER_CONNECT() | oo_SSL_OP_NO_EXTENDED_MASTER_SECRET() | oo_SSL_OP_NO_ENCRYPT_THEN_MAC()
    | oo_SSL_OP_IGNORE_UNEXPECTED_EOF() | oo_SSL_OP_ALLOW_NO_DHE_KEX()

  private func check(_ operation: String, _ value: String, _ body: () -> Int32) throws(InputError) {
    try ErrorQueue.isolated { scope throws(InputError) in
      guard body() == 1 else {
        let error = scope.failure(operation)
        throw InputError(
          .invalidArgument, object: "TLS configuration", source: "\(operation)(\(value))",
          detail: error.last?.reasonText ?? "OpenSSL refused the value", openSSLError: error)
      }
    }
  }

  // MARK: - Connections

  /// Marks the context as in use: from now on it cannot be changed.
  func markInUse() {
    lifecycle.markInUse()
  }

  /// Whether a connection has been made from this context, by anyone (it can no longer be
  /// changed). Every wrapper of the same `SSL_CTX` sees the same answer.
  public var isInUse: Bool { lifecycle.isInUse }

  /// Makes a connection (`SSL_new`) over memory buffers that the caller moves to and from the
  /// network (sans-I/O), or over a connected socket.
  ///
  /// - Parameters:
  ///   - serverName: a client's server: a DNS name (sent as SNI and checked with `SSL_set1_host`)
  ///     or an IP address (checked with `X509_VERIFY_PARAM_set1_ip_asc`, no SNI). Required unless
  ///     the configuration says ``TLSConfiguration/HostNameRequirement/insecureNone``.
  ///   - port: a client's server port, which with the name and the policy keys resumed sessions.
  ///   - transport: memory buffers, or a socket file descriptor (`SSL_set_fd`).
  /// - Throws: ``UsageError`` when a client connection names no server although it must.
  public func makeConnection(
    serverName: String? = nil,
    port: Int = 443,
    transport: SSLConnection.Transport = .memory
  ) throws -> SSLConnection {
    // In use from now on, and the policy read under the same lock as every change.
    let contextState = lifecycle.use { unsafe TLSContextState.slot.get(pointer) }
    if let contextState, contextState.role == .client, contextState.hostNameRequirement == .required,
      contextState.verifyMode != SSL_VERIFY_NONE, serverName == nil
    {
      throw UsageError(
        "a client connection must name the server it verifies (serverName:); to connect without a name check, "
          + "the configuration must say hostNameRequirement = .insecureNone")
    }
    return try SSLConnection(
      context: self, contextState: contextState, serverName: serverName, port: port, transport: transport)
  }

  /// The verification policy the context carries (from its configuration or the last
  /// ``installVerification(_:)``), if any: what another layer merges its changes into.
  package var verificationPolicy: VerificationPolicy? { unsafe TLSContextState.slot.get(pointer)?.verification }

  /// The revocation policy the context carries, if any.
  package var revocationPolicy: RevocationPolicy? { unsafe TLSContextState.slot.get(pointer)?.revocation }

  /// The number of client sessions kept for resumption.
  public var cachedSessionCount: Int { unsafe TLSContextState.slot.get(pointer)?.sessionCache?.count ?? 0 }
}
