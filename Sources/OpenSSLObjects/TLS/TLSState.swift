import COpenSSLFull

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A context's Swift side, in the `SSL_CTX`'s ex_data: it lives exactly as long as the
/// `SSL_CTX`, also when C code holds the context after the Swift object is gone. Immutable (its
/// session binding is made on first use, once).
final class TLSContextState: Sendable {
  let role: TLSConfiguration.Role
  let verification: VerificationPolicy
  /// The `SSL_CTX_set_verify` mode.
  let verifyMode: Int32
  let hostNameRequirement: TLSConfiguration.HostNameRequirement
  let keyLog: (@Sendable (String) -> Void)?
  let clientCertificateSelector: (@Sendable (CertificateRequest) throws -> CertificateChain?)?
  let serverNameHandler: (@Sendable (String?) throws -> SSLContext?)?
  let asynchronousChainPolicy: AsynchronousChainPolicy?
  /// The ALPN list in wire format, for the server's selection.
  let alpnWire: ALPNWire?
  /// Client sessions, by host, port and policy.
  let sessionCache: ClientSessionCache?
  /// Server: what to staple.
  let staple: OCSPStaple?
  /// Client: the revocation policy and the staple callback.
  let revocation: RevocationPolicy
  let stapleCallback: StapleCallback?
  /// What sessions made under this context's policy are bound to, made when the first connection
  /// needs it (a context that never connects pays nothing for it).
  private let binding: ContextBinding

  /// - Parameter store: the store the context verifies with, for the trust's identity.
  init(
    configuration: TLSConfiguration,
    verifyMode: Int32,
    asynchronousChainPolicy: AsynchronousChainPolicy?,
    store: X509Store
  ) {
    role = configuration.role
    verification = configuration.verification
    self.verifyMode = verifyMode
    hostNameRequirement = configuration.hostNameRequirement
    keyLog = configuration.keyLog
    clientCertificateSelector = configuration.clientCertificateSelector
    serverNameHandler = configuration.serverNameHandler
    self.asynchronousChainPolicy = asynchronousChainPolicy
    alpnWire = configuration.alpnProtocols.isEmpty ? nil : ALPNWire(configuration.alpnProtocols)
    sessionCache = configuration.role == .client && configuration.sessions.resumption ? ClientSessionCache() : nil
    staple = configuration.ocspStaple
    revocation = configuration.revocation
    stapleCallback = configuration.stapleCallback
    binding = ContextBinding(configuration: configuration, verifyMode: verifyMode, store: store)
  }

  /// The canonical text of every value that decides what the context's verification accepts
  /// (see ``SessionBinding``).
  var policyIdentityText: String { binding.made.text }

  /// ``RevocationPolicy/token`` of ``revocation``.
  var revocationToken: String { binding.made.revocationToken }

  /// The session id context of the `SSL_CTX` (`SSL_CTX_set_session_id_context`), which every
  /// `SSL` made from it copies: what server connections without policies of their own bind their
  /// sessions to. A server's is the digest of its policy; a client's is random, made once, since
  /// its own connections bind their sessions to their server as well and only `SSL`s that C code
  /// makes keep it (their sessions then resume with this context only).
  var sessionIDContext: [UInt8] { binding.sessionIDContext }

  /// The session id context and cache key of a client connection without a policy of its own,
  /// made once per revocation policy, server name and port.
  func clientBinding(revocationToken: String, serverName: String, port: Int) -> ([UInt8], String) {
    binding.client(revocationToken: revocationToken, serverName: serverName, port: port)
  }

  /// Whether clients of this context ask for a staple (and run the revocation policy).
  var requestsStatus: Bool { role == .client && (revocation.isEnabled || stapleCallback != nil) }

  static let slot = unsafe ExDataSlot<TLSContextState>(
    classIndex: CRYPTO_EX_INDEX_SSL_CTX, get: { unsafe SSL_CTX_get_ex_data($0, $1) },
    set: { unsafe SSL_CTX_set_ex_data($0, $1, $2) })
}

/// What a resumable session is bound to, so that no resumption skips a check the full handshake
/// of the same connection would run: a resumed session skips certificate verification, pins,
/// callbacks, chain policies and the revocation check.
///
/// A context's policy identity is the canonical text of every value that decides what its verification
/// accepts (role, verify mode, trust anchors, flags, purpose, depth, time, security level, host
/// flags, pins, host name requirement, revocation policy), so that contexts with equal policies
/// share sessions, also across processes (a session stored with `i2d_SSL_SESSION`); where
/// closures take part (callbacks, chain policies, an asynchronous policy, a staple callback),
/// which cannot be compared, it also holds a random part made once per policy. Trust given as a
/// store of ours is identified by that store's own random identity, never its address.
enum SessionBinding {
  /// SHA-256 over the parts, each prefixed with its length: 32 bytes, `SSL_MAX_SID_CTX_LENGTH`.
  static func digest(_ parts: [String]) -> [UInt8] {
    SPKIPin.sha256(Array(parts.map { "\($0.utf8.count):\($0)" }.joined(separator: "|").utf8))
  }

  static func hex(_ bytes: [UInt8]) -> String {
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes {
      text.append(hexDigits[Int(byte >> 4)])
      text.append(hexDigits[Int(byte & 0x0F)])
    }
    return String(decoding: text, as: UTF8.self)
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)

  /// The identity of a context's trust anchors.
  static func trustIdentity(_ trust: TrustAnchors, store: X509Store) -> String {
    switch trust {
    case .system: return "system"
    case .store: return "store:" + hex(store.lifecycleIdentity)
    case .certificates(let anchors):
      return "certificates:" + anchors.map { hex(SPKIPin.sha256($0.derEncoded)) }.sorted().joined(separator: ",")
    }
  }

  /// Made once per policy; only integers and literals are turned into text (no reflection).
  static func contextIdentity(_ configuration: TLSConfiguration, verifyMode: Int32, trust: String) -> String {
    let policy = configuration.verification
    let hostName: String
    switch configuration.hostNameRequirement {
    case .required: hostName = "required"
    case .checkedByCaller: hostName = "caller"
    case .insecureNone: hostName = "none"
    }
    var parts = [
      configuration.role == .client ? "client" : "server", String(verifyMode), trust, String(policy.flags.rawValue),
      String(policy.purpose?.rawValue ?? 0), String(policy.maximumDepth ?? -1),
      policy.time.map { String(Int64(($0.timeIntervalSince1970 * 1000).rounded(.down))) } ?? "now",
      String(policy.authenticationLevel ?? -1), String(policy.hostFlags.rawValue), policy.pins?.description ?? "",
      hostName, configuration.role == .client ? configuration.revocation.token : "", policy.profile?.identity ?? "",
    ]
    let closures =
      policy.verifyCallback != nil || policy.chainPolicy != nil || configuration.asynchronousChainPolicy != nil
      || configuration.stapleCallback != nil
    if closures { parts.append("closures=\(UInt64.random(in: 0...UInt64.max))-\(UInt64.random(in: 0...UInt64.max))") }
    return parts.map { "\($0.utf8.count):\($0)" }.joined(separator: "|")
  }
}

/// A context's session binding, made once, on first use.
private final class ContextBinding: @unchecked Sendable {
  /// The configuration, its trust anchors moved to ``anchors``.
  private let configuration: TLSConfiguration
  /// The `.certificates` trust anchors, held outside the configuration's `TrustAnchors`: a
  /// multi-payload enum keeps its payload's pointer with tag bits set, which LeakSanitizer cannot
  /// follow, so a context living until exit (a fuzz target's) was reported as leaking them.
  private let anchors: [X509Certificate]?
  private let verifyMode: Int32
  private let store: X509Store
  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var cached: (text: String, revocationToken: String, sessionIDContext: [UInt8])?
  private var clients: [String: ([UInt8], String)] = [:]
  /// A client context's random session id context.
  private let random: [UInt8]?

  init(configuration: TLSConfiguration, verifyMode: Int32, store: X509Store) {
    if case .certificates(let anchors) = configuration.trust {
      var configuration = configuration
      configuration.trust = .system
      self.configuration = configuration
      self.anchors = anchors
    } else {
      self.configuration = configuration
      self.anchors = nil
    }
    self.verifyMode = verifyMode
    self.store = store
    if configuration.role == .client {
      var generator = SystemRandomNumberGenerator()
      let words: [UInt64] = (0..<4).map { _ in generator.next() }
      random = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
    } else {
      random = nil
    }
  }

  /// The `SSL_CTX`'s session id context: random for a client, the policy's digest for a server.
  var sessionIDContext: [UInt8] { random ?? made.sessionIDContext }

  /// A client connection's binding (see ``TLSConnectionState/rebind()``), kept for the next
  /// connection to the same server; at most 1,024 kept.
  func client(revocationToken: String, serverName: String, port: Int) -> ([UInt8], String) {
    let key = revocationToken + "|" + serverName + "|" + String(port)
    if let found = lock.withLock({ clients[key] }) { return found }
    let parts = [made.text, "override=", revocationToken, serverName, String(port)]
    let context = SessionBinding.digest(parts)
    let binding = (context, SessionBinding.hex(context))
    lock.withLock {
      if clients.count >= 1_024 { clients.removeAll(keepingCapacity: true) }
      clients[key] = binding
    }
    return binding
  }

  var made: (text: String, revocationToken: String, sessionIDContext: [UInt8]) {
    lock.withLock {
      if let cached { return cached }
      let trust = SessionBinding.trustIdentity(anchors.map { .certificates($0) } ?? configuration.trust, store: store)
      let text = SessionBinding.contextIdentity(configuration, verifyMode: verifyMode, trust: trust)
      let made = (text, configuration.revocation.token, SessionBinding.digest([text]))
      cached = made
      return made
    }
  }
}

/// An asynchronous chain policy (client only): runs after OpenSSL's verification without
/// blocking the handshake's thread (`SSL_set_retry_verify`).
typealias AsynchronousChainPolicy = @Sendable ([X509Certificate]) async throws -> ChainDecision

/// ALPN protocols in wire format (length-prefixed), in memory that stays put for OpenSSL.
@safe
final class ALPNWire: @unchecked Sendable {
  // Immutable after initialization.
  let bytes: UnsafeMutableBufferPointer<UInt8>

  init(_ protocols: [String]) {
    var wire: [UInt8] = []
    for name in protocols {
      let encoded = Array(name.utf8)
      wire.append(UInt8(clamping: encoded.count))
      wire += encoded.prefix(255)
    }
    unsafe bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: wire.count)
    _ = unsafe bytes.initialize(from: wire)
  }

  deinit { unsafe bytes.deallocate() }
}

/// Client sessions, kept per host, port and a digest of the verification policy, so that a
/// resumed session (which skips verification) never bypasses a policy the full handshake would
/// have applied.
final class ClientSessionCache: @unchecked Sendable {
  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var sessions: [String: (session: SSLSession, notAfter: Date?)] = [:]

  /// The session kept for `key`, unless it is no longer resumable or its revocation answer
  /// (a staple's nextUpdate) has run out.
  func session(for key: String, now: Date = Date()) -> SSLSession? {
    lock.withLock {
      guard let entry = sessions[key] else { return nil }
      if !entry.session.isResumable || entry.notAfter.map({ now >= $0 }) == true {
        sessions[key] = nil
        return nil
      }
      return entry.session
    }
  }

  /// Keeps `session` for `key`, until `notAfter` at the latest.
  func store(_ session: SSLSession, for key: String, notAfter: Date?) {
    lock.withLock { sessions[key] = (session, notAfter) }
  }

  var count: Int { lock.withLock { sessions.count } }
}

/// A connection's Swift side, in the `SSL`'s ex_data: the references to the closures it uses
/// (taken when the connection is made, replaceable per connection), the state of the current
/// verification, and errors raised inside callbacks, which surface from the call that drove the
/// handshake.
final class TLSConnectionState: @unchecked Sendable {
  // Used by one thread at a time: the one driving the connection (OpenSSL calls the callbacks
  // from inside SSL_do_handshake, SSL_read and SSL_write).
  var context: TLSContextState
  var verifyCallback: VerifyCallback?
  var pins: PinSet?
  var chainPolicy: ChainPolicy?
  var asynchronousChainPolicy: AsynchronousChainPolicy?
  var keyLog: (@Sendable (String) -> Void)?
  var verification: VerificationState
  var storedError: (any Error)?
  var port = 443
  var pendingVerification: PendingVerification?
  var serverName: String?
  /// The verification settings this connection replaced (they stay its own after an SNI switch).
  var overridden: Set<PolicyPart> = []
  /// Set anew whenever the connection replaces a verification setting of its context: closures
  /// cannot be compared, so a connection with a policy of its own binds its sessions to it alone.
  var overrideToken: String?
  /// Set when a verification setting changed after the handshake had begun (see
  /// ``SSLConnection/setVerifyCallback(_:)``).
  var policyChangedDuringHandshake = false
  /// The client's revocation policy; ``revocationToken`` follows it.
  var revocation: RevocationPolicy {
    didSet { revocationToken = revocation.token }
  }
  /// ``RevocationPolicy/token`` of ``revocation``, made when it changes.
  private(set) var revocationToken: String
  var stapleCallback: StapleCallback?
  /// What the revocation check found during the handshake.
  var revocationReport: RevocationReport?
  /// Until when a session of this connection may be resumed (the checked response's validity).
  var sessionDeadline: Date?

  /// A verification setting a connection can replace.
  enum PolicyPart: Hashable {
    case verifyCallback, pins, chainPolicy
  }

  /// The session id context of this connection (`SSL_set_session_id_context`): the digest of the
  /// context's policy identity, the connection's own policy, and on a client its revocation
  /// policy, server name and port. Sessions carry it; OpenSSL resumes a session on a server only
  /// when it matches, and a client offers only sessions made under the same one. Made again by
  /// ``rebind()`` whenever one of those changes.
  private(set) var sessionIDContext: [UInt8] = []

  /// The key of this client's sessions in its context's cache.
  private(set) var sessionKey = ""

  /// Makes ``sessionIDContext`` (and ``sessionKey``) again from the current policy.
  func rebind() {
    switch (context.role, overrideToken) {
    case (.server, nil):
      sessionIDContext = context.sessionIDContext
    case (.client, nil):
      // The usual case, a client without a policy of its own: made once per server and kept.
      (sessionIDContext, sessionKey) = context.clientBinding(
        revocationToken: revocationToken, serverName: serverName ?? "", port: port)
    case (let role, let override?):
      var parts = [context.policyIdentityText, "override=" + override]
      if role == .client { parts += [revocationToken, serverName ?? "", String(port)] }
      sessionIDContext = SessionBinding.digest(parts)
      sessionKey = role == .client ? SessionBinding.hex(sessionIDContext) : ""
    }
  }

  init(context: TLSContextState) {
    self.context = context
    verification = VerificationState(callbacks: [], purpose: context.verification.purpose)
    revocation = context.revocation
    revocationToken = context.revocationToken
    stapleCallback = context.stapleCallback
    adopt(context)
    // What SSL_new copied from the context; a connection of ours binds itself further.
    sessionIDContext = context.sessionIDContext
  }

  /// Takes the policy of a context: when the connection is made, and again after an SNI switch
  /// (a server's switch leaves the client-side revocation settings alone, and the settings the
  /// connection replaced stay its own).
  func adopt(_ context: TLSContextState) {
    self.context = context
    if !overridden.contains(.verifyCallback) { verifyCallback = context.verification.verifyCallback }
    if !overridden.contains(.pins) { pins = context.verification.pins }
    if !overridden.contains(.chainPolicy) { chainPolicy = context.verification.chainPolicy }
    asynchronousChainPolicy = context.asynchronousChainPolicy
    keyLog = context.keyLog
    if !sessionIDContext.isEmpty { rebind() }
  }

  /// Records the first error a callback raised.
  func store(_ error: any Error) {
    if storedError == nil { storedError = error }
  }

  static let slot = unsafe ExDataSlot<TLSConnectionState>(
    classIndex: CRYPTO_EX_INDEX_SSL, get: { unsafe SSL_get_ex_data($0, $1) },
    set: { unsafe SSL_set_ex_data($0, $1, $2) })

  /// The state of an `SSL`: ours, or, for an `SSL` that C code made from one of our contexts, a
  /// new one made from the context's state (so that our closures apply there too).
  static func find(_ ssl: OpaquePointer) -> TLSConnectionState? {
    if let state = unsafe slot.get(ssl) { return state }
    guard let context = unsafe SSL_get_SSL_CTX(ssl), let contextState = unsafe TLSContextState.slot.get(context) else {
      return nil
    }
    let state = TLSConnectionState(context: contextState)
    unsafe slot.set(ssl, state)
    return state
  }
}

/// An asynchronous verification in flight.
final class PendingVerification: @unchecked Sendable {
  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var outcome: Result<ChainDecision, any Error>?
  private(set) var task: Task<Void, Never>?

  init(policy: @escaping AsynchronousChainPolicy, chain: [X509Certificate]) {
    task = Task.detached { [self] in
      let result: Result<ChainDecision, any Error>
      do {
        result = .success(try await policy(chain))
      } catch {
        result = .failure(error)
      }
      lock.withLock { outcome = result }
    }
  }

  var result: Result<ChainDecision, any Error>? { lock.withLock { outcome } }
}
