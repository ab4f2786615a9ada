import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// One TLS connection (`SSL`): one type for every transport.
///
/// Over memory buffers (sans-I/O) the caller moves bytes: ``receive(_:)-(ContiguousBytes)`` hands what came from
/// the network to OpenSSL and ``takeOutput()`` returns what OpenSSL wants sent. Over a connected
/// socket (`SSL_set_fd`) OpenSSL does the I/O, blocking or not, as the socket is set. Either way
/// `want read`, `want write` and `want retry verify` are values (``Progress``), not errors.
///
/// Over sockets, a write to a peer that has closed raises `SIGPIPE`, which ends a process by
/// default: programs that use sockets ignore it (`signal(SIGPIPE, SIG_IGN)`), as the
/// `openssl-objects` command does; writes then fail with `EPIPE`.
///
/// A connection belongs to one task at a time. Owns exactly one `SSL` reference (`SSL_free`).
/// Doors: adopt, borrow, retain (`SSL_up_ref`) and hand over.
public final class SSLConnection: OpenSSLObjectBase, OpenSSLReferenceCounted {
  override package class var cType: CObjectType { .ssl }

  /// How bytes reach the network.
  public enum Transport: Sendable, Hashable {
    /// Memory buffers the caller moves (sans-I/O).
    case memory
    /// A connected socket's file descriptor (`SSL_set_fd`); the caller keeps and closes it.
    ///
    /// With a `timeout`, a blocking socket gets it as its receive and send timeouts
    /// (`SO_RCVTIMEO`, `SO_SNDTIMEO`): a handshake, read, write or shutdown that waits longer
    /// than that for the peer fails with a ``TLSError`` whose ``TLSError/isTimeout`` is `true`,
    /// instead of waiting forever for a peer that stalls. It bounds each wait for the peer, not
    /// the whole operation. Without one, a blocking socket waits as long as the peer lets it (or
    /// as long as the socket's own timeouts say). A non-blocking socket never waits: its
    /// want-read and want-write stay values.
    case socket(Int32, timeout: Duration? = nil)
  }

  /// How far an operation got.
  public enum Progress: Sendable, Hashable {
    /// Done.
    case complete
    /// OpenSSL needs bytes from the peer first (`SSL_ERROR_WANT_READ`).
    case wantRead
    /// OpenSSL needs to send bytes first (`SSL_ERROR_WANT_WRITE`).
    case wantWrite
    /// An asynchronous verification is running (`SSL_ERROR_WANT_RETRY_VERIFY`): await
    /// ``waitForVerification()`` and call the operation again.
    case wantRetryVerify
  }

  /// What a read got.
  public enum ReadResult: Sendable, Hashable {
    /// Application data.
    case data([UInt8])
    /// The peer closed the TLS connection cleanly (close_notify, `SSL_ERROR_ZERO_RETURN`).
    case closed
    /// No data yet; see ``Progress``.
    case progress(Progress)
  }

  private var state: TLSConnectionState?
  private let context: SSLContext?
  /// The socket and its timeout, for a socket transport given one.
  private var timedSocket: (descriptor: Int32, timeout: Duration)?

  /// The memory BIO OpenSSL reads from, if the transport is memory (`SSL_get_rbio`).
  private var readBIO: OpaquePointer? { unsafe memoryBIO(SSL_get_rbio(pointer)) }
  /// The memory BIO OpenSSL writes to, if the transport is memory (`SSL_get_wbio`).
  private var writeBIO: OpaquePointer? { unsafe memoryBIO(SSL_get_wbio(pointer)) }

  private func memoryBIO(_ bio: OpaquePointer?) -> OpaquePointer? {
    guard let bio = unsafe bio, unsafe BIO_method_type(bio) == BIO_TYPE_MEM else { return nil }
    return unsafe bio
  }

  /// Adopts an `SSL` (the shared mechanism behind ``OpenSSLObject/init(takingOwnershipOf:)``): an
  /// `SSL` made from one of our contexts gets that context's Swift policy.
  package required init(adopting pointer: OpaquePointer) {
    context = nil
    state = unsafe TLSConnectionState.find(pointer)
    unsafe super.init(adopting: pointer)
  }

  init(
    context: SSLContext,
    contextState: TLSContextState?,
    serverName: String?,
    port: Int,
    transport: Transport
  ) throws {
    let ssl = unsafe try ErrorQueue.call("SSL_new") { unsafe SSL_new(context.pointer) }
    self.context = context
    if let contextState {
      let state = TLSConnectionState(context: contextState)
      unsafe TLSConnectionState.slot.set(ssl, state)
      self.state = state
    }
    unsafe super.init(adopting: ssl)
    // A server connection starts with its context's binding (SSL_new copied it); a client's names
    // its server and port as well (setServerName binds it when it has a name).
    if contextState?.role == .client && serverName == nil { bindSessions() }
    switch transport {
    case .memory:
      let incoming = unsafe BIO_new(BIO_s_mem())!
      let outgoing = unsafe BIO_new(BIO_s_mem())!
      // An empty input buffer means "no data yet", not end of stream.
      _ = unsafe oo_BIO_set_mem_eof_return(incoming, -1)
      unsafe SSL_set_bio(pointer, incoming, outgoing)
    case .socket(let descriptor, let timeout):
      try ErrorQueue.check("SSL_set_fd") { unsafe SSL_set_fd(pointer, descriptor) }
      if let timeout {
        try Self.setTimeout(timeout, on: descriptor)
        timedSocket = (descriptor, timeout)
      }
    }
    if unsafe contextState?.role == .server || SSL_is_server(pointer) == 1 {
      unsafe SSL_set_accept_state(pointer)
    } else {
      unsafe SSL_set_connect_state(pointer)
      if let serverName { try setServerName(serverName, port: port) }
    }
  }

  /// Sets a socket's receive and send timeouts (`SO_RCVTIMEO`, `SO_SNDTIMEO`).
  private static func setTimeout(_ timeout: Duration, on descriptor: Int32) throws(InputError) {
    let (seconds, attoseconds) = timeout.components
    guard seconds >= 0, attoseconds >= 0, timeout > .zero else {
      throw InputError(
        .invalidArgument, object: "socket timeout", source: "\(timeout)", detail: "a timeout must be positive")
    }
    // A timeval of zero means "no timeout": round anything shorter than a microsecond up.
    var limit = timeval(
      tv_sec: Int(clamping: seconds), tv_usec: max(Int(attoseconds / 1_000_000_000_000), seconds == 0 ? 1 : 0))
    let size = socklen_t(MemoryLayout<timeval>.size)
    guard unsafe setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, size) == 0,
      unsafe setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, size) == 0
    else {
      throw InputError(
        .invalidArgument, object: "socket timeout", source: "descriptor \(descriptor)",
        detail: unsafe "setsockopt failed: \(String(cString: strerror(errno)))")
    }
  }

  /// Whether a want-read or want-write from a socket given a timeout means the timeout passed:
  /// the socket is blocking, so the wait ended without the peer (`EAGAIN`).
  private func timedOut(_ code: Int32) -> Bool {
    guard let timedSocket, code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE else { return false }
    return fcntl(timedSocket.descriptor, F_GETFL) & O_NONBLOCK == 0
  }

  private func setServerName(_ name: String, port: Int) throws {
    // OpenSSL takes the name as a C string, which ends at a NUL byte: a certificate for
    // "example.com" must not pass for "example.com\0.evil.test".
    guard !name.utf8.contains(0) else {
      throw InputError(
        .invalidArgument, object: "server name", source: "\"\(name.visibleEscapes)\"",
        detail: "it contains a NUL byte")
    }
    state?.serverName = name
    let param = unsafe SSL_get0_param(pointer)
    let isAddress = GeneralName.ipAddress(name) != nil
    try ErrorQueue.isolated { scope throws(InputError) in
      let ok: Bool
      if isAddress {
        ok = unsafe X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1
      } else {
        let flags = state?.context.verification.hostFlags ?? .default
        unsafe SSL_set_hostflags(pointer, flags.rawValue)
        ok = unsafe oo_SSL_set_tlsext_host_name(pointer, name) == 1 && oo_SSL_set1_host(pointer, name) == 1
      }
      guard ok else {
        throw InputError(
          .invalidArgument, object: "server name", source: "\"\(name.visibleEscapes)\"",
          detail: "OpenSSL does not accept it as a host name or IP address",
          openSSLError: scope.failure("SSL_set1_host"))
      }
    }
    guard let state else { return }
    state.port = port
    // A required host name is checked even under PeerVerification.none (its documented opt-out
    // is HostNameRequirement.insecureNone).
    if state.context.hostNameRequirement == .required { forcePeerVerification() }
    bindSessions()
    if let cache = state.context.sessionCache, let session = cache.session(for: state.sessionKey) {
      _ = ErrorQueue.isolated { _ in unsafe SSL_set_session(pointer, session.pointer) }
    }
  }

  /// Binds the sessions this connection makes, and those it may resume, to its current policy
  /// (`SSL_set_session_id_context`; see ``TLSSessionError``).
  private func bindSessions() {
    guard let state else { return }
    state.rebind()
    let context = state.sessionIDContext
    _ = ErrorQueue.isolated { _ in unsafe SSL_set_session_id_context(pointer, context, UInt32(context.count)) }
  }

  // MARK: - Memory transport

  /// Hands bytes that came from the network to OpenSSL (memory transport).
  public func receive(_ bytes: some ContiguousBytes) {
    guard let readBIO = unsafe readBIO else { return }
    // The closure returns Void, so this generic function needs no run-time metadata look-up.
    unsafe bytes.withUnsafeBytes { buffer in
      guard let base = buffer.baseAddress, buffer.count > 0 else { return }
      _ = unsafe BIO_write(readBIO, base, Int32(buffer.count))
    }
  }

  /// Tells OpenSSL the peer closed the transport (memory transport): reads then see the end of
  /// the stream instead of "no data yet".
  public func receiveEndOfStream() {
    guard let readBIO = unsafe readBIO else { return }
    _ = unsafe oo_BIO_set_mem_eof_return(readBIO, 0)
  }

  /// The bytes OpenSSL wants sent to the peer, taken out of its buffer (memory transport).
  public func takeOutput() -> [UInt8] {
    guard let writeBIO = unsafe writeBIO else { return [] }
    let pending = unsafe MemoryBIO.pending(writeBIO)
    guard pending > 0 else { return [] }
    // Read straight into the array's storage: no zero fill, no second copy.
    return unsafe [UInt8](unsafeUninitializedCapacity: pending) { storage, initialized in
      let read = unsafe BIO_read(writeBIO, storage.baseAddress, Int32(clamping: storage.count))
      initialized = max(0, Int(read))
    }
  }

  // MARK: - Operations

  /// Drives the handshake (`SSL_do_handshake`).
  ///
  /// - Throws: ``TLSError`` with the verification error when the peer's certificate failed, or
  ///   the error a callback threw.
  @discardableResult
  public func handshake() throws -> Progress {
    let progress: Progress
    do {
      progress = try perform("SSL_do_handshake") { unsafe SSL_do_handshake(pointer) }.progress
    } catch let error as TLSError
      where state?.policyChangedDuringHandshake == true
      && error.openSSLError?.contains(library: ERR_LIB_SSL, reason: SSL_R_ATTEMPT_TO_REUSE_SESSION_IN_DIFFERENT_CONTEXT)
        == true
    {
      // OpenSSL refused the resumption itself: the session was bound to the old policy.
      throw Self.policyChangedTooLate
    }
    if progress == .complete, state?.policyChangedDuringHandshake == true, isSessionReused {
      throw Self.policyChangedTooLate
    }
    return progress
  }

  private static let policyChangedTooLate = UsageError(
    "the connection's verification policy changed after its handshake had begun, and the server resumed the "
      + "session offered under the old policy, so the new policy was never applied; change a connection's "
      + "policy before its handshake")

  /// Reads application data (`SSL_read_ex`), at most `maximumCount` bytes.
  public func read(maximumCount: Int = 16_384) throws -> ReadResult {
    var outcome = Outcome(progress: .complete)
    // SSL_read_ex writes into the array's storage, which is not zero-filled first: only the
    // bytes it reports are kept.
    let buffer = unsafe try [UInt8](unsafeUninitializedCapacity: maximumCount) { storage, initialized in
      var count = 0
      outcome = try perform("SSL_read_ex") { unsafe SSL_read_ex(pointer, storage.baseAddress, storage.count, &count) }
      initialized = outcome.progress == .complete && !outcome.closed ? count : 0
    }
    if outcome.closed { return .closed }
    guard outcome.progress == .complete else { return .progress(outcome.progress) }
    return .data(buffer)
  }

  /// Writes application data (`SSL_write_ex`); returns how far it got. With a non-blocking
  /// transport, a write that wants I/O must be repeated with the same bytes.
  @discardableResult
  public func write(_ bytes: some ContiguousBytes) throws -> Progress {
    // The protocol's own withUnsafeBytes: the closure's type is concrete (no Swift.Result), so
    // this generic function needs no run-time metadata look-up per call.
    unsafe try bytes.withUnsafeBytes { buffer throws -> Progress in
      var written = 0
      return try perform("SSL_write_ex") { unsafe SSL_write_ex(pointer, buffer.baseAddress, buffer.count, &written) }
        .progress
    }
  }

  /// Sends close_notify (`SSL_shutdown`). `.complete` once the peer's close_notify arrived too;
  /// call again after more input until then, or stop after sending if the transport closes.
  ///
  /// A connection freed without a clean shutdown loses its session: OpenSSL will not resume it.
  @discardableResult
  public func shutdown() throws -> Progress {
    let status = ErrorQueue.isolated { _ in unsafe SSL_shutdown(pointer) }
    if status == 1 { return .complete }
    if status == 0 { return .wantRead }
    return try perform("SSL_shutdown") { unsafe SSL_shutdown(pointer) }.progress
  }

  /// Waits for an asynchronous verification the handshake is paused for (see
  /// ``Progress/wantRetryVerify``); then call ``handshake()`` again.
  public func waitForVerification() async {
    await state?.pendingVerification?.task?.value
  }

  private struct Outcome {
    var progress: Progress
    var closed = false
  }

  /// Runs one SSL I/O call and turns `SSL_get_error` into a value or a ``TLSError``.
  private func perform(_ operation: String, _ call: () -> Int32) throws -> Outcome {
    let (status, code, error) = ErrorQueue.isolated { scope -> (Int32, Int32, OpenSSLError?) in
      let status = call()
      guard status <= 0 else { return (status, SSL_ERROR_NONE, nil) }
      // SSL_get_error reads the queue; when the caller's own errors are on it, read the state.
      let code = unsafe scope.callerHadErrors ? Self.errorCodeFromState(pointer) : SSL_get_error(pointer, status)
      let failure: OpenSSLError? = code == SSL_ERROR_SSL || code == SSL_ERROR_SYSCALL ? scope.failure(operation) : nil
      return (status, code, failure)
    }
    if let stored = state?.storedError {
      state?.storedError = nil
      throw stored
    }
    if timedOut(code) {
      throw TLSError(
        operation: operation, code: code, status: status, systemError: EAGAIN, verification: nil, openSSLError: error,
        timeout: timedSocket?.timeout)
    }
    switch code {
    case SSL_ERROR_NONE: return Outcome(progress: .complete)
    case SSL_ERROR_WANT_READ: return Outcome(progress: .wantRead)
    case SSL_ERROR_WANT_WRITE: return Outcome(progress: .wantWrite)
    case SSL_ERROR_WANT_RETRY_VERIFY: return Outcome(progress: .wantRetryVerify)
    case SSL_ERROR_ZERO_RETURN: return Outcome(progress: .complete, closed: true)
    default:
      throw TLSError(
        operation: operation, code: code, status: status, systemError: code == SSL_ERROR_SYSCALL ? errno : 0,
        verification: verificationFailure, openSSLError: error)
    }
  }

  private static func errorCodeFromState(_ ssl: OpaquePointer) -> Int32 {
    switch unsafe SSL_want(ssl) {
    case SSL_READING: return SSL_ERROR_WANT_READ
    case SSL_WRITING: return SSL_ERROR_WANT_WRITE
    case SSL_RETRY_VERIFY: return SSL_ERROR_WANT_RETRY_VERIFY
    default: return unsafe SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN != 0 ? SSL_ERROR_ZERO_RETURN : SSL_ERROR_SSL
    }
  }

  // MARK: - Per-connection policy

  /// Replaces this connection's verify callback (`nil` removes it); the context is unchanged.
  /// Sessions made under another policy are not resumed under this one.
  ///
  /// Replace it before the handshake. A callback replaced while a verification runs (from inside
  /// a callback, say) takes effect from the next verification; the running one keeps the
  /// callback it began with. A policy changed after the handshake has begun cannot take back a
  /// session already offered: if the server resumes it, ``handshake()`` throws ``UsageError``
  /// rather than succeed without the new policy.
  public func setVerifyCallback(_ callback: VerifyCallback?) {
    state?.verifyCallback = callback
    forcePeerVerification()
    changedPolicy(.verifyCallback)
  }

  /// Replaces this connection's pins (`nil` removes them); the context is unchanged. Sessions made
  /// under another policy are not resumed under this one (see ``setVerifyCallback(_:)``).
  public func setPins(_ pins: PinSet?) {
    state?.pins = pins
    forcePeerVerification()
    changedPolicy(.pins)
  }

  /// Replaces this connection's chain policy; the context is unchanged. Sessions made under
  /// another policy are not resumed under this one (see ``setVerifyCallback(_:)``).
  public func setChainPolicy(_ policy: ChainPolicy?) {
    state?.chainPolicy = policy
    forcePeerVerification()
    changedPolicy(.chainPolicy)
  }

  /// Replaces this connection's revocation policy (``TLSConfiguration/revocation``); the context
  /// is unchanged. Staples are asked for when the policy has a step on
  /// (`SSL_set_tlsext_status_type`); sessions made under another policy are not resumed.
  ///
  /// The context must check revocation already (its policy or staple callback on), since the
  /// status callback is installed on the context; otherwise this throws ``UsageError``.
  public func setRevocationPolicy(_ policy: RevocationPolicy) throws {
    guard let state, state.context.requestsStatus else {
      throw UsageError(
        "the context does not check revocation (its policy is disabled), so a connection cannot turn it on; "
          + "configure TLSConfiguration.revocation instead")
    }
    state.revocation = policy
    _ = unsafe oo_SSL_set_tlsext_status_type(
      pointer, policy.isEnabled || state.stapleCallback != nil ? TLSEXT_STATUSTYPE_ocsp : -1)
    changedPolicy()
  }

  private func forcePeerVerification() {
    if unsafe SSL_get_verify_mode(pointer) == SSL_VERIFY_NONE {
      unsafe SSL_set_verify(pointer, SSL_VERIFY_PEER, verifyTrampoline)
    }
  }

  /// After a policy change: the connection's sessions are bound to its own policy from now on, on
  /// either side (a server connection then resumes no session made under its context's policy).
  private func changedPolicy(_ part: TLSConnectionState.PolicyPart? = nil) {
    guard let state else { return }
    if let part { state.overridden.insert(part) }
    state.overrideToken = "\(UInt64.random(in: 0...UInt64.max))-\(UInt64.random(in: 0...UInt64.max))"
    bindSessions()
    if unsafe SSL_in_before(pointer) == 1 {
      // A session chosen under the context's policy is not offered under this one.
      _ = ErrorQueue.isolated { _ in unsafe SSL_set_session(pointer, nil) }
    } else {
      // The handshake has begun: its session is in use (SSL_set_session would free it under
      // OpenSSL's feet), and one offered for resumption cannot be taken back. If the server
      // resumes it, verification never runs under the new policy: handshake() fails then.
      state.policyChangedDuringHandshake = true
    }
  }

  // MARK: - After the handshake

  /// The negotiated protocol version (`SSL_version`).
  public var version: TLSVersion? { unsafe TLSVersion(rawValue: SSL_version(pointer)) }

  /// The cipher's standard name (`SSL_CIPHER_standard_name`), for example `"TLS_AES_128_GCM_SHA256"`.
  public var cipher: String? {
    unsafe SSL_get_current_cipher(pointer).flatMap { unsafe SSL_CIPHER_standard_name($0) }.map {
      unsafe String(cString: $0)
    }
  }

  /// The cipher's OpenSSL name (`SSL_CIPHER_get_name`), for example `"ECDHE-ECDSA-AES128-GCM-SHA256"`.
  public var cipherName: String? {
    unsafe SSL_get_current_cipher(pointer).flatMap { unsafe SSL_CIPHER_get_name($0) }.map { unsafe String(cString: $0) }
  }

  /// The ALPN protocol agreed on (`SSL_get0_alpn_selected`), if any.
  public var alpnProtocol: String? {
    var data: UnsafePointer<UInt8>? = nil
    var length: UInt32 = 0
    unsafe SSL_get0_alpn_selected(pointer, &data, &length)
    guard let data = unsafe data, length > 0 else { return nil }
    return unsafe String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
  }

  /// The server name (SNI) of the connection (`SSL_get_servername`).
  public var serverName: String? {
    unsafe SSL_get_servername(pointer, TLSEXT_NAMETYPE_host_name).map { unsafe String(cString: $0) }
      ?? state?.serverName
  }

  /// The key exchange group (`SSL_get_negotiated_group`, `SSL_group_to_name`), for example `"X25519"`.
  public var group: String? {
    let id = unsafe oo_SSL_get_negotiated_group(pointer)
    guard id > 0, let name = unsafe SSL_group_to_name(pointer, id) else { return nil }
    return unsafe String(cString: name)
  }

  /// Whether the handshake resumed a session (`SSL_session_reused`).
  public var isSessionReused: Bool { unsafe SSL_session_reused(pointer) == 1 }

  /// The session, to store and offer again (`SSL_get1_session`).
  public var session: SSLSession? {
    unsafe SSL_get1_session(pointer).map { unsafe SSLSession(takingOwnershipOf: OpenSSLPointer($0)) }
  }

  /// Offers a stored session for resumption (`SSL_set_session`), before the handshake.
  ///
  /// A resumed session skips verification, so a session is accepted only when it was made under
  /// the policy this connection would verify with: the same context policy (or one equal to it),
  /// the same policy of the connection's own, the same revocation policy, server name and port.
  ///
  /// - Throws: ``TLSSessionError`` when the session was made for another host or under another
  ///   policy, or carries no policy at all; ``OpenSSLError`` if OpenSSL refuses it.
  public func setSession(_ session: SSLSession) throws {
    if let state, state.context.role == .client {
      try TLSSessionError.check(session, for: state)
    }
    try ErrorQueue.check("SSL_set_session") { unsafe SSL_set_session(pointer, session.pointer) }
  }

  /// Exported keying material (RFC 5705 / RFC 8446 7.5; `SSL_export_keying_material`).
  public func exportKeyingMaterial(
    label: String, context: [UInt8]? = nil, count: Int
  ) throws(OpenSSLError) -> SecretBytes {
    var output = [UInt8](repeating: 0, count: count)
    defer { unsafe OPENSSL_cleanse(&output, output.count) }
    let labelBytes = Array(label.utf8)
    try ErrorQueue.check("SSL_export_keying_material") {
      unsafe labelBytes.withUnsafeBufferPointer { labelBuffer in
        unsafe labelBuffer.withMemoryRebound(to: CChar.self) { label in
          unsafe SSL_export_keying_material(
            pointer, &output, count, label.baseAddress, label.count, context ?? [], context?.count ?? 0,
            context == nil ? 0 : 1)
        }
      }
    }
    return SecretBytes(output)
  }

  /// The peer's certificate (`SSL_get1_peer_certificate`), readable even when verification is off.
  public var peerCertificate: X509Certificate? {
    unsafe SSL_get1_peer_certificate(pointer).map { unsafe X509Certificate(takingOwnershipOf: OpenSSLPointer($0)) }
  }

  /// The peer's chain as sent (`SSL_get_peer_cert_chain`; on a server it omits the leaf, as
  /// OpenSSL keeps it), each member retained. Not verified: see ``verifiedChain``.
  public var peerChain: [X509Certificate] { unsafe X509Stack.certificates(SSL_get_peer_cert_chain(pointer)) }

  /// The chain OpenSSL verified, leaf first (`SSL_get0_verified_chain`), each member retained;
  /// empty when verification did not succeed (`SSL_get_verify_result` is not `X509_V_OK`: OpenSSL
  /// keeps the chain as far as it was built even then, which is not a verified chain).
  public var verifiedChain: [X509Certificate] {
    guard unsafe SSL_get_verify_result(pointer) == X509_V_OK else { return [] }
    return unsafe X509Stack.certificates(SSL_get0_verified_chain(pointer))
  }

  /// The verification's failure, explained, or `nil` when it succeeded (or did not run).
  /// Under `SSL_VERIFY_NONE` the handshake goes on and this tells what verification found.
  public var verificationError: VerificationError? {
    if unsafe SSL_get_verify_result(pointer) == X509_V_OK { return nil }
    return verificationFailure
  }

  private var verificationFailure: VerificationError? {
    if let failure = state?.verification.failure { return failure }
    let result = unsafe SSL_get_verify_result(pointer)
    guard result != X509_V_OK else { return nil }
    return VerificationError(code: VerificationError.Code(Int32(result)), chain: peerChain)
  }

  /// The OCSP response the server stapled (`SSL_get_tlsext_status_ocsp_resp`), parsed; on a
  /// server, the one it stapled. `nil` when there was none or it is not an OCSP response (see
  /// ``ocspStapleBytes``).
  public var ocspStaple: OCSPResponse? {
    ocspStapleBytes.flatMap { try? OCSPResponse(derEncoded: $0) }
  }

  /// The stapled bytes as received (`SSL_get_tlsext_status_ocsp_resp`).
  public var ocspStapleBytes: [UInt8]? { unsafe stapledBytes(pointer) }

  /// What the client's revocation check found during the handshake, `nil` when it did not run
  /// (a server, a resumed session, a policy that is off).
  public var revocationReport: RevocationReport? { state?.revocationReport }

  /// The errors verify callbacks accepted during this connection's verification.
  public var acceptedOverrides: [VerificationError] { state?.verification.accepted ?? [] }
}

/// A failed TLS operation: OpenSSL's `SSL_get_error` code, what OpenSSL queued, and the
/// verification error when the peer's certificate was the reason.
public struct TLSError: Error, Sendable, CustomStringConvertible {
  /// The OpenSSL function that failed, for example `"SSL_do_handshake"`.
  public let operation: String
  /// `SSL_get_error`'s code (`SSL_ERROR_SSL`, `SSL_ERROR_SYSCALL`; for a timeout, the want-read or
  /// want-write the blocking socket ended with).
  public let code: Int32
  /// The failed call's return value.
  public let status: Int32
  /// `errno` for `SSL_ERROR_SYSCALL`, when set; 0 otherwise.
  public let systemError: Int32
  /// The verification failure, explained, when the peer's certificate was refused.
  public let verification: VerificationError?
  /// What OpenSSL queued.
  public let openSSLError: OpenSSLError?
  /// The socket timeout that passed, when the peer did not answer in time (see
  /// ``SSLConnection/Transport/socket(_:timeout:)``).
  public fileprivate(set) var timeout: Duration? = nil

  /// Whether the operation failed because the peer did not answer within the socket's timeout.
  public var isTimeout: Bool { timeout != nil }

  /// `SSL_ERROR_SSL` or `SSL_ERROR_SYSCALL` in words.
  public var codeName: String {
    switch code {
    case SSL_ERROR_SSL: "SSL_ERROR_SSL"
    case SSL_ERROR_SYSCALL: "SSL_ERROR_SYSCALL"
    case SSL_ERROR_WANT_READ: "SSL_ERROR_WANT_READ"
    case SSL_ERROR_WANT_WRITE: "SSL_ERROR_WANT_WRITE"
    default: "SSL_ERROR_\(code)"
    }
  }

  /// Whether the peer (or the transport) ended the connection without close_notify.
  public var isUnexpectedEOF: Bool {
    (code == SSL_ERROR_SYSCALL && status == 0)
      || (openSSLError?.contains(library: ERR_LIB_SSL, reason: SSL_R_UNEXPECTED_EOF_WHILE_READING) ?? false)
  }

  /// The operation, the code, and the verification explanation or OpenSSL's reasons.
  public var description: String {
    var text = "\(operation) failed (\(codeName))"
    if let timeout { return text + ": the peer did not answer within the socket timeout (\(timeout))" }
    if let verification { text += ": certificate verification failed: \(verification)" }
    if let openSSLError, !openSSLError.entries.isEmpty {
      text += verification == nil ? ": " : " ["
      text += openSSLError.entries.map(\.description).joined(separator: "; ")
      if verification != nil { text += "]" }
    } else if isUnexpectedEOF {
      text += ": the peer closed the connection without close_notify"
    } else if systemError != 0 {
      text += unsafe ": \(String(cString: strerror(systemError)))"
    }
    return text
  }
}

// MARK: - Spans: the memory transport without intermediate arrays

extension SSLConnection {
  /// What a read into a caller's span got (``read(into:)``).
  public enum SpanReadResult: Sendable, Hashable {
    /// This many bytes of application data were appended to the span.
    case bytes(Int)
    /// The peer closed the TLS connection cleanly (close_notify, `SSL_ERROR_ZERO_RETURN`).
    case closed
    /// No data yet; see ``Progress``.
    case progress(Progress)
  }

  /// The number of bytes OpenSSL has ready for the peer (memory transport; `BIO_ctrl_pending`
  /// on the write BIO): what ``takeOutput(into:)`` takes when the span has room for them all.
  public var pendingOutputCount: Int {
    guard let writeBIO = unsafe writeBIO else { return 0 }
    return unsafe MemoryBIO.pending(writeBIO)
  }

  /// Hands bytes that came from the network to OpenSSL (memory transport), from a span: the same
  /// as `receive(_:)` with contiguous bytes, for buffers that lend their bytes as a `RawSpan`
  /// (NIO's `ByteBuffer.readableBytesSpan`). OpenSSL copies them into its read BIO
  /// (`BIO_write`); the span is not kept.
  public func receive(_ bytes: RawSpan) {
    guard let readBIO = unsafe readBIO else { return }
    unsafe bytes.withUnsafeBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let chunk = min(buffer.count - offset, Int(Int32.max))
        guard unsafe BIO_write(readBIO, buffer.baseAddress! + offset, Int32(chunk)) == Int32(chunk) else { return }
        offset += chunk
      }
    }
  }

  /// Moves the bytes OpenSSL wants sent to the peer into the span's free capacity (memory
  /// transport; `BIO_read` on the write BIO), without an intermediate array: the same bytes
  /// ``takeOutput()`` returns, as many as fit. What does not fit stays for the next call (see
  /// ``pendingOutputCount``).
  ///
  /// - Returns: the number of bytes appended to `output`.
  @discardableResult
  public func takeOutput(into output: inout OutputRawSpan) -> Int {
    guard let writeBIO = unsafe writeBIO, output.freeCapacity > 0 else { return 0 }
    return unsafe output.withUnsafeMutableBytes { buffer, initialized in
      let free = Int32(clamping: buffer.count - initialized)
      let read = unsafe BIO_read(writeBIO, buffer.baseAddress! + initialized, free)
      let count = max(0, Int(read))
      initialized += count
      return count
    }
  }

  /// Reads application data into the span's free capacity (`SSL_read_ex`), without an
  /// intermediate array: the same as ``read(maximumCount:)`` with the span's free capacity as the
  /// maximum. A span without free capacity reads nothing (`.bytes(0)`).
  ///
  /// - Throws: ``TLSError`` as ``read(maximumCount:)`` does.
  public func read(into output: inout OutputRawSpan) throws -> SpanReadResult {
    guard output.freeCapacity > 0 else { return .bytes(0) }
    var outcome = Outcome(progress: .complete)
    var count = 0
    unsafe try output.withUnsafeMutableBytes { buffer, initialized in
      let start = unsafe buffer.baseAddress! + initialized
      let free = buffer.count - initialized
      outcome = try perform("SSL_read_ex") { unsafe SSL_read_ex(pointer, start, free, &count) }
      if outcome.progress == .complete && !outcome.closed { initialized += count } else { count = 0 }
    }
    if outcome.closed { return .closed }
    guard outcome.progress == .complete else { return .progress(outcome.progress) }
    return .bytes(count)
  }

  /// Writes application data from a span (`SSL_write_ex`): the same as `write(_:)` with
  /// contiguous bytes, for buffers that lend their bytes as a `RawSpan`. With a non-blocking
  /// transport, a write that wants I/O must be repeated with the same bytes.
  @discardableResult
  public func write(_ bytes: RawSpan) throws -> Progress {
    unsafe try bytes.withUnsafeBytes { buffer throws -> Progress in
      var written = 0
      return try perform("SSL_write_ex") { unsafe SSL_write_ex(pointer, buffer.baseAddress, buffer.count, &written) }
        .progress
    }
  }
}
