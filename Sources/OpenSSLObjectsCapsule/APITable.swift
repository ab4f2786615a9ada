import COpenSSLFull
import COpenSSLObjectsABI
import OpenSSLObjects
import PKCS11Keys

/// The API table (`oo_get_api`): the library's own higher-level functions for C code. It only
/// grows: new functions go at its end with the version bumped.
enum APITable {
  // Written once, then only read.
  nonisolated(unsafe) static let table: UnsafePointer<oo_api> = {
    let table = UnsafeMutablePointer<oo_api>.allocate(capacity: 1)
    unsafe table.initialize(
      to: oo_api(
        version: UInt32(OO_API_VERSION),
        size: UInt32(MemoryLayout<oo_api>.size),
        load_private_key: loadPrivateKey,
        load_pkcs11_private_key: loadPKCS11PrivateKey,
        spki_pin: spkiPin,
        verification_error: verificationError,
        install_pins: installPins,
        install_verify_policy: installVerifyPolicy,
        install_staple_policy: installStaplePolicy,
        new_client_context: newClientContext,
        sign: sign,
        ssl_verification_error: sslVerificationError))
    return unsafe UnsafePointer(table)
  }()
}

// MARK: - Keys

private func loadPrivateKey(
  _ data: UnsafePointer<UInt8>?,
  _ length: Int,
  _ passphrase: UnsafePointer<UInt8>?,
  _ passphraseLength: Int,
  _ out: UnsafeMutablePointer<oo_capsule>?
) -> oo_status {
  LastError.guarded {
    guard let data = unsafe data, let out = unsafe out else {
      throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "data and out must not be NULL")
    }
    unsafe out.pointee = oo_capsule(handle: 0)
    // Read in place: no copy of the key's bytes (or the passphrase's) is left behind.
    let bytes = unsafe try CInput.buffer(data, length, limit: InputLimits.defaultMaximumSize, what: "key data")
    let key: PrivateKey
    if let passphrase = unsafe passphrase {
      let secret = unsafe try CInput.buffer(
        passphrase, passphraseLength, limit: CInput.passphraseLimit, what: "passphrase")
      key = unsafe try PrivateKey(bytes: bytes, passphrase: SecretBytes(copying: secret))
    } else {
      try CInput.noneMeansEmpty(passphraseLength, "passphrase", "passphrase_length")
      key = unsafe try PrivateKey(bytes: bytes)
    }
    unsafe out.pointee = oo_capsule(handle: try key.capsule().handle)
  }
}

private func loadPKCS11PrivateKey(
  _ uri: UnsafePointer<CChar>?,
  _ allowedModules: UnsafePointer<UnsafePointer<CChar>?>?,
  _ allowedCount: Int,
  _ out: UnsafeMutablePointer<oo_capsule>?
) -> oo_status {
  LastError.guarded {
    guard let uri = unsafe uri, let out = unsafe out else {
      throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "uri and out must not be NULL")
    }
    unsafe out.pointee = oo_capsule(handle: 0)
    let allowed = unsafe try strings(allowedModules, allowedCount, what: "allowed module")
    // Parsed from the C string's own bytes: a pin-value goes straight into a wiped buffer, never
    // into a String.
    let length = unsafe strnlen(uri, CInput.uriLimit + 1)
    guard length <= CInput.uriLimit else {
      throw InputError(
        .tooLarge, object: "PKCS#11 URI", source: "the uri argument",
        detail: "it is longer than \(CInput.uriLimit) bytes (or not NUL-terminated)")
    }
    let parsed = unsafe try PKCS11URI(parsingBytes: UnsafeRawBufferPointer(start: uri, count: length))
    // libp11 wherever it serves this OpenSSL, pkcs11-provider only where it cannot (4.0), as the
    // CLI: C programs that exit with pkcs11-provider loaded may crash in its cleanup with
    // SoftHSM2 (pkcs11-provider #310). Either way no copy of the PIN is left (capsule_secrets).
    let options = PKCS11LoadOptions(
      modulePolicy: .allowList(allowed), backend: .libp11WhereUsable)
    let key = try PrivateKey(pkcs11: parsed, options: options)
    unsafe out.pointee = oo_capsule(handle: try key.capsule().handle)
  }
}

private func sign(
  _ key: oo_capsule,
  _ data: UnsafePointer<UInt8>?,
  _ length: Int,
  _ signature: UnsafeMutablePointer<UInt8>?,
  _ signatureLength: UnsafeMutablePointer<Int>?
) -> oo_status {
  LastError.guarded {
    guard let signature = unsafe signature, let signatureLength = unsafe signatureLength else {
      throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "signature and signature_length must not be NULL")
    }
    let privateKey = try PrivateKey(capsule: Capsule(handle: key.handle))
    if unsafe data == nil { try CInput.noneMeansEmpty(length, "data", "length") }
    let message =
      unsafe try data.map {
        unsafe Array(try CInput.buffer($0, length, limit: CInput.signingLimit, what: "data to sign"))
      } ?? []
    let digest: Digest? = privateKey.algorithm == .ed25519 || privateKey.algorithm == .ed448 ? nil : .sha256
    let bytes = try privateKey.signature(for: message, digest: digest)
    guard unsafe bytes.count <= signatureLength.pointee else {
      unsafe signatureLength.pointee = bytes.count
      throw CapsuleError(OO_ERR_BUFFER_TOO_SMALL, "the signature needs \(bytes.count) bytes")
    }
    unsafe bytes.withUnsafeBufferPointer { unsafe signature.update(from: $0.baseAddress!, count: bytes.count) }
    unsafe signatureLength.pointee = bytes.count
  }
}

// MARK: - Pins and explanations

private func spkiPin(_ object: oo_capsule, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int) -> oo_status {
  LastError.guarded {
    let capsule = Capsule(handle: object.handle)
    let pin: String
    switch try capsule.type {
    case .x509: pin = try X509Certificate(capsule: capsule).spkiPin
    case .evpPKey: pin = try PrivateKey(capsule: capsule).spkiPin
    case .evpPKeyPublic: pin = try PublicKey(capsule: capsule).spkiPin
    default: throw CapsuleError(OO_ERR_WRONG_TYPE, "a pin needs an X509 or EVP_PKEY capsule")
    }
    unsafe try copy(pin, to: buffer, size: size)
  }
}

private func verificationError(
  _ storeContext: oo_capsule, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int
) -> oo_status {
  LastError.guarded {
    let context = unsafe try Capsule(handle: storeContext.handle).object(.x509StoreContext)
    let error = unsafe VerificationError(explaining: OpenSSLPointer(context))
    unsafe try copy(error.description, to: buffer, size: size)
  }
}

/// `ssl_verification_error`: what the library knows of a failed peer verification on an SSL.
private func sslVerificationError(
  _ ssl: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int
) -> oo_status {
  LastError.guarded {
    guard let ssl = unsafe ssl else { throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "ssl must not be NULL") }
    let connection = unsafe try SSLConnection(retaining: OpenSSLPointer(ssl))
    unsafe try copy(connection.verificationError?.description ?? "", to: buffer, size: size)
  }
}

// MARK: - SSL_CTX policies

/// What C code installed on an SSL_CTX so far, re-applied as a whole on each change.
final class InstalledPolicy: Sendable {
  let pins: PinSet?
  let verifyPolicy: CVerifyPolicy?
  let requireStaple: Bool?

  init(pins: PinSet?, verifyPolicy: CVerifyPolicy?, requireStaple: Bool?) {
    self.pins = pins
    self.verifyPolicy = verifyPolicy
    self.requireStaple = requireStaple
  }

  static let slot = unsafe ExDataSlot<InstalledPolicy>(
    classIndex: CRYPTO_EX_INDEX_SSL_CTX, get: { unsafe SSL_CTX_get_ex_data($0, $1) },
    set: { unsafe SSL_CTX_set_ex_data($0, $1, $2) })

  /// Installs the policy on `context`, keeping the store it has.
  func install(on context: OpaquePointer) throws {
    let wrapped = unsafe try SSLContext(retaining: OpenSSLPointer(context))
    var configuration = TLSConfiguration(role: .client)
    if let existing = unsafe SSL_CTX_get_cert_store(context) {
      configuration.trust = unsafe .store(try X509Store(retaining: OpenSSLPointer(existing)))
    }
    // Start from what the context carries (a context the library built), then apply C's changes.
    configuration.verification = wrapped.verificationPolicy ?? VerificationPolicy()
    if let pins { configuration.verification.pins = pins }
    if let verifyPolicy {
      configuration.verification.flags = VerificationFlags(rawValue: verifyPolicy.flags)
      configuration.verification.purpose = VerificationPurpose(rawValue: verifyPolicy.purpose)
      configuration.verification.maximumDepth = verifyPolicy.depth >= 0 ? verifyPolicy.depth : nil
      configuration.verification.authenticationLevel =
        verifyPolicy.authenticationLevel >= 0 ? verifyPolicy.authenticationLevel : nil
      configuration.verification.verifyCallback = verifyPolicy.callback
    }
    if let requireStaple {
      configuration.revocation = wrapped.revocationPolicy ?? RevocationPolicy()
      configuration.revocation.staple = requireStaple ? .require : .use
    } else if let existing = wrapped.revocationPolicy {
      configuration.revocation = existing
    }
    try wrapped.installVerification(configuration, door: .cAPI)
    unsafe InstalledPolicy.slot.set(context, self)
  }
}

/// A C verification policy (`oo_verify_policy`) with its callback wrapped as a Swift one.
struct CVerifyPolicy: Sendable {
  let flags: UInt
  let purpose: Int32
  let depth: Int
  let authenticationLevel: Int
  let callback: VerifyCallback?

  init(_ policy: oo_verify_policy) {
    flags = unsafe policy.flags
    purpose = unsafe policy.purpose
    depth = unsafe Int(policy.depth)
    authenticationLevel = unsafe Int(policy.auth_level)
    guard let function = unsafe policy.callback else {
      callback = nil
      return
    }
    let user = unsafe UserData(policy.user_data)
    callback = { view in
      let decision = try view.withCapsule { capsule in
        unsafe function(view.ok ? 1 : 0, oo_capsule(handle: capsule.handle), user.pointer)
      }
      switch decision {
      case OO_VERIFY_ACCEPT: return .accept
      case OO_VERIFY_REJECT: return .reject("the C verify callback rejected the certificate")
      default: return .keep
      }
    }
  }
}

/// A C `void *` the C caller promised outlives its use.
@safe
private struct UserData: @unchecked Sendable {
  let pointer: UnsafeMutableRawPointer?
  init(_ pointer: UnsafeMutableRawPointer?) { unsafe self.pointer = unsafe pointer }
}

private func updatePolicy(_ context: oo_capsule, _ change: (InstalledPolicy?) -> InstalledPolicy) throws {
  // Our own reference for the change: C code may release the capsule on another thread meanwhile.
  let held = try SSLContext(capsule: Capsule(handle: context.handle))
  try held.withUnsafePointer { pointer in
    unsafe try change(InstalledPolicy.slot.get(pointer.raw)).install(on: pointer.raw)
  }
}

private func installPins(
  _ context: oo_capsule, _ pins: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int
) -> oo_status {
  LastError.guarded {
    let set = unsafe try PinSet(strings(pins, count, what: "pin"))
    try updatePolicy(context) { old in
      InstalledPolicy(pins: set, verifyPolicy: old?.verifyPolicy, requireStaple: old?.requireStaple)
    }
  }
}

private func installVerifyPolicy(_ context: oo_capsule, _ policy: UnsafePointer<oo_verify_policy>?) -> oo_status {
  LastError.guarded {
    guard let policy = unsafe policy, unsafe policy.pointee.size >= UInt32(MemoryLayout<oo_verify_policy>.size) else {
      throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "the policy is NULL or its size is not sizeof(oo_verify_policy)")
    }
    let converted = unsafe CVerifyPolicy(policy.pointee)
    try updatePolicy(context) { old in
      InstalledPolicy(pins: old?.pins, verifyPolicy: converted, requireStaple: old?.requireStaple)
    }
  }
}

private func installStaplePolicy(_ context: oo_capsule, _ require: Int32) -> oo_status {
  LastError.guarded {
    try updatePolicy(context) { old in
      InstalledPolicy(pins: old?.pins, verifyPolicy: old?.verifyPolicy, requireStaple: require != 0)
    }
  }
}

private func newClientContext(
  _ options: UnsafePointer<oo_client_options>?, _ out: UnsafeMutablePointer<oo_capsule>?
) -> oo_status {
  LastError.guarded {
    guard let options = unsafe options, let out = unsafe out,
      unsafe options.pointee.size >= UInt32(MemoryLayout<oo_client_options>.size)
    else {
      throw CapsuleError(
        OO_ERR_INVALID_ARGUMENT, "options and out must not be NULL, and size must be sizeof(oo_client_options)")
    }
    unsafe out.pointee = oo_capsule(handle: 0)
    var configuration = TLSConfiguration.client
    if let file = unsafe options.pointee.trusted_pem_file {
      configuration.trust = unsafe .certificates(try X509Certificate.all(contentsOfFile: String(cString: file)))
    }
    let pins = unsafe try strings(options.pointee.pins, options.pointee.pin_count, what: "pin")
    if !pins.isEmpty { configuration.verification.pins = try PinSet(pins) }
    configuration.alpnProtocols = unsafe try strings(
      options.pointee.alpn, options.pointee.alpn_count, what: "ALPN protocol")
    // C code holds this context and may load CAs into its store: never the shared system store.
    let context = try SSLContext(configuration: configuration, ownSystemStore: true)
    unsafe out.pointee = oo_capsule(handle: try context.capsule().handle)
  }
}

// MARK: - Helpers

/// The limits the C API puts on lengths and counts before it reads a byte: a `size_t` of
/// `SIZE_MAX` (or any length past the limit) is bad input, never a read past the caller's memory.
enum CInput {
  /// The longest passphrase accepted.
  static let passphraseLimit = 1 << 20
  /// The most data `sign` signs in one call.
  static let signingLimit = 256 << 20
  /// The longest PKCS#11 URI accepted.
  static let uriLimit = 64 << 10
  /// The most strings in one list (pins, ALPN protocols, allowed modules).
  static let listLimit = 4096

  /// The caller's `length` bytes at `start`, checked against `limit`.
  static func buffer(
    _ start: UnsafePointer<UInt8>, _ length: Int, limit: Int, what: String
  ) throws(InputError) -> UnsafeRawBufferPointer {
    // size_t arrives as Int: SIZE_MAX is -1 here.
    let actual = UInt(bitPattern: length)
    guard actual <= UInt(limit) else {
      throw InputError(
        .tooLarge, object: what, source: "a length of \(actual) bytes",
        detail: "the C API accepts at most \(limit) bytes of \(what)")
    }
    return unsafe UnsafeRawBufferPointer(start: start, count: Int(actual))
  }

  /// Checks that a NULL pointer comes with a length or count of 0: NULL stands for "none", and
  /// a nonzero length with it is the caller's mistake, never read as empty input (which would
  /// sign nothing, or make a context without the pins the caller meant to give).
  static func noneMeansEmpty(_ length: Int, _ pointer: String, _ lengthName: String) throws(CapsuleError) {
    guard length == 0 else {
      throw CapsuleError(
        OO_ERR_INVALID_ARGUMENT, "\(pointer) is NULL but \(lengthName) is \(UInt(bitPattern: length)), not 0")
    }
  }
}

/// The strings of a C list of `count` entries (NULL entries skipped), checked against the limits;
/// a NULL list is empty, and must come with a count of 0.
private func strings(
  _ list: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int, what: String
) throws -> [String] {
  guard let list = unsafe list else {
    try CInput.noneMeansEmpty(count, "the \(what) list", "its count")
    return []
  }
  let actual = UInt(bitPattern: count)
  guard actual <= UInt(CInput.listLimit) else {
    throw InputError(
      .tooLarge, object: "\(what) list", source: "a count of \(actual)",
      detail: "the C API accepts at most \(CInput.listLimit) entries")
  }
  return (0..<Int(actual)).compactMap { unsafe list[$0].map { unsafe String(cString: $0) } }
}

private func copy(_ text: String, to buffer: UnsafeMutablePointer<CChar>?, size: Int) throws(CapsuleError) {
  let bytes = Array(text.utf8)
  // NULL with a size of 0 asks for the size needed (OO_ERR_BUFFER_TOO_SMALL says it).
  if unsafe buffer == nil { try CInput.noneMeansEmpty(size, "buffer", "size") }
  // size_t arrives as Int: a size past Int.max is as good as Int.max.
  guard let buffer = unsafe buffer, UInt(bytes.count + 1) <= UInt(bitPattern: size) else {
    throw CapsuleError(OO_ERR_BUFFER_TOO_SMALL, "the text needs \(bytes.count + 1) bytes")
  }
  unsafe bytes.withUnsafeBufferPointer { source in
    unsafe source.withMemoryRebound(to: CChar.self) { unsafe buffer.update(from: $0.baseAddress!, count: bytes.count) }
  }
  unsafe buffer[bytes.count] = 0
}
