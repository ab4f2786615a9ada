import CLibP11
import COpenSSLFull
public import OpenSSLObjects

/// A token in a slot of a loaded ``PKCS11Module`` (libp11's `PKCS11_SLOT` and `PKCS11_TOKEN`).
///
/// Holds its module, so the module stays loaded while the token object exists. The slot and token
/// structures belong to libp11's context and are freed with it. `Sendable`: every libp11 call is
/// made with the module's lock held.
///
/// There is no logout: after `C_Logout`, SoftHSM2 (and other modules) invalidate the handles of
/// private objects, and libp11 0.4.12 never refreshes them, so every key already made from the
/// token would fail with `CKR_OBJECT_HANDLE_INVALID`. The login lasts as long as the module.
@safe
public final class PKCS11Token: @unchecked Sendable {
  /// The module the token belongs to.
  public let module: PKCS11Module
  /// The slot and the token's facts, as read when the module enumerated its slots.
  public let slotInfo: PKCS11SlotInfo
  let slot: UnsafeMutablePointer<PKCS11_SLOT>

  init(module: PKCS11Module, slot: UnsafeMutablePointer<PKCS11_SLOT>) {
    self.module = module
    unsafe self.slot = unsafe slot
    self.slotInfo = unsafe PKCS11SlotInfo(slot)
  }

  /// The token's facts (label, manufacturer, model, serial number, flags).
  public var info: PKCS11TokenInfo { slotInfo.token! }
  /// The token's label.
  public var label: String { info.label }

  private var token: UnsafeMutablePointer<PKCS11_TOKEN> { unsafe slot.pointee.token! }

  private func error(
    _ code: PKCS11Error.Code, _ detail: String, object: String? = nil, _ openSSL: OpenSSLError? = nil,
    returnValue: PKCS11ReturnValue? = nil
  ) -> PKCS11Error {
    PKCS11Error(
      code, returnValue: returnValue, module: module.path, token: label, object: object, detail: detail,
      openSSLError: openSSL)
  }

  // MARK: - Login

  /// Whether this process is logged in to the token, by this library or by other code: the state
  /// of a session of our own (`C_OpenSession`, `C_GetSessionInfo`). libp11's
  /// `PKCS11_is_logged_in` only knows its own logins; it is the answer when no session opens.
  public var isLoggedIn: Bool {
    module.lock.withLock { loggedIn() }
  }

  /// ``isLoggedIn``, with the module's lock held.
  private func loggedIn() -> Bool {
    do {
      return try unsafe withSessionOfOurOwn { _, _, state in Self.isLoggedIn(state) }
    } catch {
      var state: Int32 = 0
      let status = ErrorQueue.isolated { _ in unsafe PKCS11_is_logged_in(slot, 0, &state) }
      return status == 0 && state != 0
    }
  }

  /// Whether a session state (`CK_STATE`) is a user's or the security officer's.
  private static func isLoggedIn(_ state: oo_ck_ulong) -> Bool {
    state == oo_ck_ulong(OO_CKS_RO_USER_FUNCTIONS) || state == oo_ck_ulong(OO_CKS_RW_USER_FUNCTIONS)
      || state == oo_ck_ulong(OO_CKS_RW_SO_FUNCTIONS)
  }

  /// Runs `body` with the module's function list, a session of our own on the slot
  /// (`C_OpenSession`) and its state (`C_GetSessionInfo`, the login state of the whole process),
  /// then closes the session (`C_CloseSession`). Any other session keeps the process's login.
  private func withSessionOfOurOwn<T>(
    _ body: (UnsafePointer<oo_ck_function_list>, oo_ck_ulong, oo_ck_ulong) throws(PKCS11Error) -> T
  ) throws(PKCS11Error) -> T {
    guard let list = unsafe module.functionList else {
      throw error(.operationFailed, "the module gives no function list (C_GetFunctionList)")
    }
    var session: oo_ck_ulong = 0
    var state: oo_ck_ulong = 0
    let opened = unsafe oo_ck_open_and_read_state(list, oo_ck_ulong(slotInfo.id), &session, &state)
    defer {
      if session != 0 { _ = unsafe list.pointee.C_CloseSession(session) }
    }
    guard opened == 0 else {
      let value = PKCS11ReturnValue(UInt(opened))
      throw error(.operationFailed, "C_OpenSession or C_GetSessionInfo failed: \(value.name)", returnValue: value)
    }
    return try unsafe body(list, session, state)
  }

  /// Logs in as the user with `pin`, exactly once: a wrong PIN is never tried again, since each
  /// wrong try brings the token closer to locking itself.
  ///
  /// libp11 0.4.12 answers success to a login on a slot that is already logged in, whatever the
  /// PIN (`PKCS11_login` takes `CKR_USER_ALREADY_LOGGED_IN` as success, and `PKCS11_is_logged_in`
  /// only knows its own logins). This method does not rely on it. It logs in with `C_Login` itself,
  /// on a session of its own whose state it reads first (`C_GetSessionInfo`), and so knows the
  /// token's exact answer; only after a success is libp11 told (`PKCS11_login`, whose `C_Login` the
  /// token answers with `CKR_USER_ALREADY_LOGGED_IN`, checking no PIN), which it needs to log in
  /// again after `fork`. The first successful login records a salted SHA-256 of the PIN (not the
  /// PIN); a later call with the same PIN returns at once, and one with another PIN fails with
  /// ``PKCS11Error/Code/pinMismatch`` without reaching the token. If the token is logged in by
  /// other code in this process (so no PIN of ours was checked), before or during the call, it
  /// fails with ``PKCS11Error/Code/loggedInElsewhere`` rather than pretend the PIN was checked.
  ///
  /// - Throws: ``PKCS11Error``: ``PKCS11Error/Code/invalidPIN`` for a PIN with a NUL byte (the C
  ///   API would cut it short); ``PKCS11Error/Code/loginFailed`` with the token's return value
  ///   (`CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`, `CKR_PIN_LEN_RANGE`, ...); the two above.
  public func login(pin: borrowing PIN) throws(PKCS11Error) {
    guard !pin.containsNUL else {
      throw error(.invalidPIN, "the PIN contains a NUL byte, which PKCS11_login would cut it at")
    }
    let fingerprint = module.fingerprint(of: pin)
    let slotID = slotInfo.id
    try module.lock.withLock { () throws(PKCS11Error) in
      if let accepted = module.verifiedPIN(slotID: slotID) {
        let same =
          unsafe accepted.count == fingerprint.count && CRYPTO_memcmp(accepted, fingerprint, accepted.count) == 0
        if same { return }
        throw error(
          .pinMismatch,
          "the token is already logged in with another PIN; this PIN was refused without asking the token "
            + "(libp11 0.4.12 would have reported success)")
      }
      let elsewhere = "the token was logged in by other code in this process, so this PIN cannot be checked"
      try unsafe withSessionOfOurOwn { list, session, state throws(PKCS11Error) in
        if Self.isLoggedIn(state) { throw error(.loggedInElsewhere, elsewhere) }
        try unsafe pin.withUnsafeBytes { bytes throws(PKCS11Error) in
          // A NUL-terminated copy for the C calls, wiped afterwards.
          let text = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count + 1, alignment: 1)
          defer {
            unsafe OPENSSL_cleanse(text.baseAddress, text.count)
            unsafe text.deallocate()
          }
          if bytes.count > 0 { unsafe text.copyMemory(from: bytes) }
          unsafe text[bytes.count] = 0
          let pinBytes = unsafe text.baseAddress!.assumingMemoryBound(to: UInt8.self)
          let answer = unsafe list.pointee.C_Login(
            session, oo_ck_ulong(OO_CKU_USER), pinBytes, oo_ck_ulong(bytes.count))
          if answer == oo_ck_ulong(OO_CKR_USER_ALREADY_LOGGED_IN)
            || answer == oo_ck_ulong(OO_CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
          {
            throw error(.loggedInElsewhere, elsewhere, returnValue: PKCS11ReturnValue(UInt(answer)))
          }
          guard answer == 0 else {
            let returnValue = PKCS11ReturnValue(UInt(answer))
            throw error(.loginFailed, Self.explain(returnValue), returnValue: returnValue)
          }
          // Logged in; now libp11 learns it. Our session is still open, so the login holds.
          let failure = ErrorQueue.isolated { scope -> OpenSSLError? in
            unsafe PKCS11_login(slot, 0, UnsafeRawPointer(pinBytes).assumingMemoryBound(to: CChar.self)) == 0
              ? nil : scope.failure("PKCS11_login")
          }
          if let failure {
            let returnValue = PKCS11ReturnValue.last(in: failure)
            throw error(
              .loginFailed, "the token accepted the PIN, but libp11 failed to record the login", failure,
              returnValue: returnValue)
          }
        }
      }
      module.recordVerifiedPIN(fingerprint, slotID: slotID)
    }
  }

  private static func explain(_ value: PKCS11ReturnValue?) -> String {
    switch value {
    case .pinIncorrect?: "the token refused the PIN (it was not tried again)"
    case .pinLocked?: "the token is locked: it refuses every PIN until its security officer unlocks it"
    case .pinLengthRange?: "the PIN is too short or too long for this token"
    case nil: "C_Login failed and libp11 reported no reason"
    default: "C_Login failed"
    }
  }

  // MARK: - Objects

  /// Every private key, public key and certificate libp11 can list on the token
  /// (`PKCS11_enumerate_keys`, `PKCS11_enumerate_public_keys`, `PKCS11_enumerate_certs`), with key
  /// type and size from OpenSSL (`EVP_PKEY_get0_type_name`, `EVP_PKEY_get_bits`). Private objects
  /// (usually the private keys) are visible only after ``login(pin:)``.
  ///
  /// - Throws: ``PKCS11Error`` with ``PKCS11Error/Code/operationFailed`` if libp11 cannot list.
  public func objects() throws(PKCS11Error) -> [PKCS11ObjectInfo] {
    try module.lock.withLock { () throws(PKCS11Error) in
      let keys = unsafe try enumerateKeys(privateKeys: true).map { unsafe describe($0, kind: .privateKey) }
      let publicKeys = unsafe try enumerateKeys(privateKeys: false).map { unsafe describe($0, kind: .publicKey) }
      let certificates = unsafe try enumerateCertificates().map(describe)
      return keys + publicKeys + certificates
    }
  }

  /// The token's private key that `uri` names: its `object` (label) and `id`, if given, must match,
  /// and its `type`, if given, must be `private`. The token and module attributes are not checked
  /// here (``PKCS11Module/token(matching:)`` does that).
  ///
  /// The key is an ordinary `PrivateKey` whose operations run on the token: a new `EVP_PKEY` that
  /// shares libp11's RSA or EC_KEY object (`PKCS11_get_private_key`, `EVP_PKEY_get1_RSA` /
  /// `EVP_PKEY_get1_EC_KEY`, `EVP_PKEY_assign_*`) and holds this module in its ex_data (see
  /// ``PKCS11Module``). The Swift value owns that one `EVP_PKEY` reference.
  ///
  /// - Throws: ``PKCS11Error``: ``PKCS11Error/Code/noMatch`` or ``PKCS11Error/Code/multipleMatches``
  ///   (listing what the token has), ``PKCS11Error/Code/unsupported`` (a URI that asks for another
  ///   type, or a key type libp11 does not wrap), ``PKCS11Error/Code/operationFailed``.
  public func privateKey(matching uri: PKCS11URI) throws(PKCS11Error) -> PrivateKey {
    try PKCS11URIMatcher.checkSupported(uri, module: module.path)
    try expect(uri, .privateKey)
    return try module.lock.withLock { () throws(PKCS11Error) -> PrivateKey in
      let candidates = unsafe try enumerateKeys(privateKeys: true).filter {
        unsafe matches(uri, label: $0.pointee.label, $0)
      }
      let key = unsafe try single(
        candidates.map { unsafe ($0, describe($0, kind: .privateKey)) }, uri: uri, kind: .privateKey)
      return unsafe try makePrivateKey(key.0, info: key.1)
    }
  }

  /// The token's public key that `uri` names (`type=public` or none), as an independent
  /// `PublicKey` (its SubjectPublicKeyInfo, `i2d_PUBKEY`, read back): it does not keep the module
  /// loaded.
  ///
  /// - Throws: as ``privateKey(matching:)``.
  public func publicKey(matching uri: PKCS11URI) throws(PKCS11Error) -> PublicKey {
    try PKCS11URIMatcher.checkSupported(uri, module: module.path)
    try expect(uri, .publicKey)
    return try module.lock.withLock { () throws(PKCS11Error) -> PublicKey in
      let candidates = unsafe try enumerateKeys(privateKeys: false).filter {
        unsafe matches(uri, label: $0.pointee.label, $0)
      }
      let key = unsafe try single(
        candidates.map { unsafe ($0, describe($0, kind: .publicKey)) }, uri: uri, kind: .publicKey)
      let der = ErrorQueue.isolated { _ -> [UInt8]? in
        guard let evp = unsafe PKCS11_get_public_key(key.0) else { return nil }
        defer { unsafe EVP_PKEY_free(evp) }
        let count = unsafe i2d_PUBKEY(evp, nil)
        guard count > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(count))
        _ = unsafe bytes.withUnsafeMutableBufferPointer { buffer in
          var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
          return unsafe i2d_PUBKEY(evp, &cursor)
        }
        return bytes
      }
      guard let der, let publicKey = try? PublicKey(bytes: der, encoding: .der) else {
        throw unsafe error(.operationFailed, "libp11 could not read the public key", object: key.1.description)
      }
      return publicKey
    }
  }

  /// The token's certificate that `uri` names (`type=cert` or none), as an `X509Certificate` of its
  /// own (`X509_dup` of libp11's copy) that holds this module in its ex_data, like keys do.
  ///
  /// - Throws: as ``privateKey(matching:)``.
  public func certificate(matching uri: PKCS11URI) throws(PKCS11Error) -> X509Certificate {
    try PKCS11URIMatcher.checkSupported(uri, module: module.path)
    try expect(uri, .certificate)
    return try module.lock.withLock { () throws(PKCS11Error) -> X509Certificate in
      let candidates = unsafe try enumerateCertificates().filter { certificate in
        unsafe matches(
          uri, label: certificate.pointee.label, id: certificate.pointee.id, count: certificate.pointee.id_len)
      }
      let chosen = unsafe try single(candidates.map { unsafe ($0, describe($0)) }, uri: uri, kind: .certificate)
      guard let x509 = unsafe chosen.0.pointee.x509,
        let copy = unsafe ErrorQueue.isolated({ _ in unsafe X509_dup(x509) })
      else {
        throw unsafe error(.operationFailed, "libp11 holds no X509 for the certificate", object: chosen.1.description)
      }
      let link = unsafe TokenObjectLink(module: module, origin: origin(chosen.1))
      guard unsafe TokenObjectLink.attach(link, toCertificate: copy) else {
        unsafe X509_free(copy)
        throw unsafe error(.operationFailed, "X509_set_ex_data failed", object: chosen.1.description)
      }
      return unsafe X509Certificate(takingOwnershipOf: OpenSSLPointer(copy))
    }
  }

  // MARK: - Matching

  private func expect(_ uri: PKCS11URI, _ kind: PKCS11ObjectInfo.Kind) throws(PKCS11Error) {
    if let type = uri.type, type.rawValue != kind.rawValue {
      throw error(
        .noMatch, "the URI names type=\(type.rawValue), but a \(kind.words) was asked for",
        object: uri.withoutPIN.description)
    }
  }

  private func matches(
    _ uri: PKCS11URI, label: UnsafeMutablePointer<CChar>?, id: UnsafeMutablePointer<UInt8>?, count: Int
  ) -> Bool {
    if let object = uri.object, unsafe object != (label.map { unsafe String(cString: $0) } ?? "") { return false }
    if let wanted = uri.id {
      let actual = unsafe id.map { unsafe Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
      if wanted != actual { return false }
    }
    return true
  }

  private func matches(
    _ uri: PKCS11URI, label: UnsafeMutablePointer<CChar>?, _ key: UnsafeMutablePointer<PKCS11_KEY>
  )
    -> Bool
  {
    unsafe matches(uri, label: label, id: key.pointee.id, count: key.pointee.id_len)
  }

  /// The one candidate, or an error listing what the token has. Call with the module's lock held.
  private func single<T>(
    _ candidates: [(T, PKCS11ObjectInfo)], uri: PKCS11URI, kind: PKCS11ObjectInfo.Kind
  ) throws(PKCS11Error) -> (T, PKCS11ObjectInfo) {
    let wanted = uri.withoutPIN.description
    if candidates.count == 1 { return candidates[0] }
    if candidates.isEmpty {
      let everything = (try? listAll()) ?? []
      var detail = "no \(kind.words) on the token matches \(wanted); the token has "
      detail += everything.isEmpty ? "no objects visible" : everything.map(\.description).joined(separator: "; ")
      if !loggedIn() && kind == .privateKey { detail += " (not logged in: private objects are not visible)" }
      throw error(.noMatch, detail, object: wanted)
    }
    throw error(
      .multipleMatches,
      "\(candidates.count) objects match \(wanted): " + candidates.map(\.1.description).joined(separator: "; ")
        + "; add object= or id= to the URI to pick one",
      object: wanted)
  }

  /// Every object, with the module's lock held.
  private func listAll() throws(PKCS11Error) -> [PKCS11ObjectInfo] {
    let keys = unsafe try enumerateKeys(privateKeys: true).map { unsafe describe($0, kind: .privateKey) }
    let publicKeys = unsafe try enumerateKeys(privateKeys: false).map { unsafe describe($0, kind: .publicKey) }
    return unsafe keys + publicKeys + (try enumerateCertificates().map(describe))
  }

  // MARK: - libp11 calls (module lock held)

  private func enumerateKeys(privateKeys: Bool) throws(PKCS11Error) -> [UnsafeMutablePointer<PKCS11_KEY>] {
    var keys: UnsafeMutablePointer<PKCS11_KEY>? = nil
    var count: UInt32 = 0
    let operation = privateKeys ? "PKCS11_enumerate_keys" : "PKCS11_enumerate_public_keys"
    let failure = ErrorQueue.isolated { scope -> OpenSSLError? in
      let status =
        unsafe privateKeys
        ? PKCS11_enumerate_keys(token, &keys, &count) : PKCS11_enumerate_public_keys(token, &keys, &count)
      return status == 0 ? nil : scope.failure(operation)
    }
    if let failure { throw error(.operationFailed, "\(operation) failed", failure) }
    guard let keys = unsafe keys else { return unsafe [] }
    return unsafe (0..<Int(count)).map { unsafe keys + $0 }
  }

  private func enumerateCertificates() throws(PKCS11Error) -> [UnsafeMutablePointer<PKCS11_CERT>] {
    var certificates: UnsafeMutablePointer<PKCS11_CERT>? = nil
    var count: UInt32 = 0
    let failure = ErrorQueue.isolated { scope -> OpenSSLError? in
      unsafe PKCS11_enumerate_certs(token, &certificates, &count) == 0 ? nil : scope.failure("PKCS11_enumerate_certs")
    }
    if let failure { throw error(.operationFailed, "PKCS11_enumerate_certs failed", failure) }
    guard let certificates = unsafe certificates else { return unsafe [] }
    return unsafe (0..<Int(count)).map { unsafe certificates + $0 }
  }

  private func describe(_ key: UnsafeMutablePointer<PKCS11_KEY>, kind: PKCS11ObjectInfo.Kind) -> PKCS11ObjectInfo {
    let (type, bits) = ErrorQueue.isolated { _ -> (String?, Int?) in
      let evp = unsafe kind == .privateKey ? PKCS11_get_private_key(key) : PKCS11_get_public_key(key)
      guard let evp = unsafe evp else { return (nil, nil) }
      defer { unsafe EVP_PKEY_free(evp) }
      return unsafe (Self.typeName(evp), Int(EVP_PKEY_get_bits(evp)))
    }
    return unsafe PKCS11ObjectInfo(
      kind: kind, label: key.pointee.label.map { unsafe String(cString: $0) } ?? "",
      id: unsafe key.pointee.id.map { unsafe Array(UnsafeBufferPointer(start: $0, count: key.pointee.id_len)) } ?? [],
      keyType: type, keyBits: bits, subject: nil, token: label)
  }

  private func describe(_ certificate: UnsafeMutablePointer<PKCS11_CERT>) -> PKCS11ObjectInfo {
    var type: String? = nil
    var bits: Int? = nil
    var subject: String? = nil
    if let x509 = unsafe certificate.pointee.x509,
      let wrapped = unsafe try? X509Certificate(retaining: OpenSSLPointer(x509))
    {
      subject = wrapped.subject.rfc2253
      ErrorQueue.isolated { _ in
        if let key = unsafe X509_get0_pubkey(x509) {
          type = unsafe Self.typeName(key)
          bits = unsafe Int(EVP_PKEY_get_bits(key))
        }
      }
    }
    return unsafe PKCS11ObjectInfo(
      kind: .certificate, label: certificate.pointee.label.map { unsafe String(cString: $0) } ?? "",
      id: unsafe certificate.pointee.id.map {
        unsafe Array(UnsafeBufferPointer(start: $0, count: certificate.pointee.id_len))
      }
        ?? [],
      keyType: type, keyBits: bits, subject: subject, token: label)
  }

  private static func typeName(_ key: OpaquePointer) -> String? {
    if let name = unsafe EVP_PKEY_get0_type_name(key) { return unsafe String(cString: name).uppercased() }
    return unsafe OBJ_nid2sn(EVP_PKEY_get_base_id(key)).map { unsafe String(cString: $0).uppercased() }
  }

  private func origin(_ object: PKCS11ObjectInfo) -> PKCS11ObjectOrigin {
    PKCS11ObjectOrigin(modulePath: module.path, token: label, slotID: slotInfo.id, object: object)
  }

  /// A new `EVP_PKEY` sharing libp11's RSA or EC_KEY object, linked to the module.
  private func makePrivateKey(
    _ key: UnsafeMutablePointer<PKCS11_KEY>, info: PKCS11ObjectInfo
  ) throws(PKCS11Error) -> PrivateKey {
    let made = unsafe ErrorQueue.isolated { scope -> Result<OpaquePointer, PKCS11Error> in
      // libp11 0.4.12 hands out its cached EVP_PKEY (one more reference each time). Its ex_data
      // cannot hold the module: libp11 itself keeps that EVP_PKEY until the module is unloaded,
      // which would then never happen. So the key gets an EVP_PKEY of its own.
      guard let cached = unsafe PKCS11_get_private_key(key) else {
        return unsafe .failure(
          error(
            .operationFailed, "PKCS11_get_private_key failed", object: info.description,
            scope.failure("PKCS11_get_private_key")))
      }
      defer { unsafe EVP_PKEY_free(cached) }
      guard let fresh = unsafe EVP_PKEY_new() else {
        return unsafe .failure(error(.operationFailed, "EVP_PKEY_new failed", object: info.description))
      }
      let assigned: Bool
      switch unsafe EVP_PKEY_get_base_id(cached) {
      case EVP_PKEY_RSA:
        let rsa = unsafe oo_EVP_PKEY_get1_RSA(cached)
        assigned = unsafe rsa != nil && oo_EVP_PKEY_assign_RSA(fresh, rsa) == 1
        if !assigned, let rsa = unsafe rsa { unsafe oo_RSA_free(rsa) }
      case EVP_PKEY_EC:
        let ec = unsafe oo_EVP_PKEY_get1_EC_KEY(cached)
        assigned = unsafe ec != nil && oo_EVP_PKEY_assign_EC_KEY(fresh, ec) == 1
        if !assigned, let ec = unsafe ec { unsafe oo_EC_KEY_free(ec) }
      default:
        unsafe EVP_PKEY_free(fresh)
        return unsafe .failure(
          error(
            .unsupported,
            unsafe "libp11 0.4.12 wraps only RSA and EC keys; this key is \(Self.typeName(cached) ?? "unknown")",
            object: info.description))
      }
      guard assigned else {
        unsafe EVP_PKEY_free(fresh)
        return unsafe .failure(
          error(
            .operationFailed, "could not wrap the token key", object: info.description, scope.failure("EVP_PKEY_assign")
          ))
      }
      return unsafe .success(fresh)
    }
    let fresh: OpaquePointer
    switch unsafe made {
    case .success(let pointer): unsafe fresh = unsafe pointer
    case .failure(let failure): throw failure
    }
    guard unsafe TokenObjectLink.attach(TokenObjectLink(module: module, origin: origin(info)), toKey: fresh) else {
      unsafe EVP_PKEY_free(fresh)
      throw error(.operationFailed, "EVP_PKEY_set_ex_data failed", object: info.description)
    }
    return unsafe PrivateKey(takingOwnershipOf: OpenSSLPointer(fresh))
  }
}

extension PKCS11Token: CustomStringConvertible {
  /// The token's label, slot and module.
  public var description: String {
    "PKCS11Token(\"\(label)\", slot \(slotInfo.id), \(module.path))"
  }
}
