import COpenSSLFull
import COpenSSLObjectsABI
import OpenSSLObjects

/// The kinds of object a capsule can hold, with how OpenSSL frees, retains and copies each (its
/// wrapper's row of the shared ``CObjectType`` table).
struct CapsuleKind: Sendable {
  let type: UInt32
  let name: String
  /// The C type's operations; `nil` for the lent-only kind (X509_STORE_CTX), never freed by a capsule.
  let cType: CObjectType?

  /// A kind freed, retained or copied as its wrapper's C type row says.
  init<Object: OpenSSLObject & SendableMetatype>(_ type: oo_type, _ object: Object.Type, name: String? = nil) {
    self.type = type.rawValue
    cType = Object.cType
    self.name = name ?? Object.cType.name
  }

  /// The lent-only kind.
  private init(lent type: oo_type, name: String) {
    self.type = type.rawValue
    self.name = name
    cType = nil
  }

  var lentOnly: Bool { cType == nil }

  func free(_ object: OpaquePointer) { unsafe cType?.free(object) }

  var upRef: ((OpaquePointer) -> Bool)? {
    guard let upRef = unsafe cType?.upRef else { return nil }
    return { unsafe upRef($0) == 1 }
  }

  var duplicate: ((OpaquePointer) -> OpaquePointer?)? {
    guard let duplicate = unsafe cType?.duplicate else { return nil }
    return { unsafe duplicate($0) }
  }

  static let all: [UInt32: CapsuleKind] = Dictionary(
    uniqueKeysWithValues: [
      CapsuleKind(OO_TYPE_X509, X509Certificate.self),
      CapsuleKind(OO_TYPE_EVP_PKEY, PrivateKey.self, name: "EVP_PKEY (private key)"),
      CapsuleKind(OO_TYPE_EVP_PKEY_PUBLIC, PublicKey.self, name: "EVP_PKEY (public key)"),
      CapsuleKind(OO_TYPE_X509_STORE, X509Store.self), CapsuleKind(OO_TYPE_X509_CRL, X509CRL.self),
      CapsuleKind(OO_TYPE_SSL_CTX, SSLContext.self), CapsuleKind(OO_TYPE_SSL, SSLConnection.self),
      CapsuleKind(OO_TYPE_SSL_SESSION, SSLSession.self), CapsuleKind(OO_TYPE_OCSP_RESPONSE, OCSPResponse.self),
      CapsuleKind(OO_TYPE_OCSP_BASICRESP, OCSPBasicResponse.self),
      CapsuleKind(lent: OO_TYPE_X509_STORE_CTX, name: X509StoreContext.openSSLTypeName),
    ].map { ($0.type, $0) })
}

/// A failure of the C ABI: a status and the text for `oo_last_error`.
public struct CapsuleError: Error, Sendable, CustomStringConvertible {
  /// The `oo_status` value.
  public let status: UInt32
  /// What went wrong.
  public let message: String

  init(_ status: oo_status, _ message: String) {
    self.status = status.rawValue
    self.message = message
  }

  /// The message.
  public var description: String { message }
}

/// The table behind capsule handles: index and generation, scrambled with a per-process key, so
/// that a released or forged handle is told apart without touching freed memory.
final class CapsuleRegistry: @unchecked Sendable {
  static let shared = CapsuleRegistry()

  @safe
  private struct Entry {
    var generation: UInt32 = 1
    var live = false
    var type: UInt32 = 0
    var object: OpaquePointer? = nil
    var count = 0
    var identity: LibcryptoIdentity = LibcryptoIdentity(version: 0, function: 0)
  }

  // Guarded by `lock`.
  private var entries: [Entry] = []
  private var free: [Int] = []
  private let lock = CryptoLock()
  private let key: UInt64

  private init() {
    var generator = SystemRandomNumberGenerator()
    key = generator.next() | 1
  }

  private func encode(index: Int, generation: UInt32) -> UInt64 {
    ((UInt64(generation) << 32) | UInt64(index)) ^ key
  }

  /// The entry index of a handle, or the reason it has none.
  private func index(of handle: UInt64) throws(CapsuleError) -> Int {
    guard handle != 0 else { throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "the capsule is empty (handle 0)") }
    let raw = handle ^ key
    let index = Int(raw & 0xFFFF_FFFF)
    let generation = UInt32(raw >> 32)
    guard index < entries.count, generation != 0, generation <= entries[index].generation else {
      throw CapsuleError(OO_ERR_FORGED, "the capsule \(handle) was never issued by this library")
    }
    guard generation == entries[index].generation, entries[index].live else {
      throw CapsuleError(OO_ERR_RELEASED, "the capsule was released; its handle is stale")
    }
    return index
  }

  /// Makes a capsule around `object`, applying `ownership`.
  func make(
    type: UInt32, object: OpaquePointer, ownership: UInt32, identity: LibcryptoIdentity
  ) throws(CapsuleError)
    -> UInt64
  {
    guard let kind = CapsuleKind.all[type] else {
      throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "unknown capsule type \(type)")
    }
    guard identity == LibcryptoIdentity.ours else {
      throw CapsuleError(
        OO_ERR_FOREIGN_LIBCRYPTO,
        "the \(kind.name) comes from another libcrypto (version \(String(identity.version, radix: 16))) than this "
          + "library's (version \(String(LibcryptoIdentity.ours.version, radix: 16)))")
    }
    let held: OpaquePointer
    switch (ownership, kind.lentOnly) {
    case (OO_LEND.rawValue, true):
      unsafe held = unsafe object
    case (_, true):
      throw CapsuleError(OO_ERR_UNSUPPORTED, "an X509_STORE_CTX can only be lent (OO_LEND), during a callback")
    case (OO_ADOPT.rawValue, false):
      unsafe held = unsafe object
    case (OO_RETAIN.rawValue, false):
      guard let upRef = unsafe kind.upRef else {
        throw CapsuleError(OO_ERR_UNSUPPORTED, "OpenSSL 3.0 does not reference-count \(kind.name): adopt or copy it")
      }
      guard unsafe upRef(object) else { throw CapsuleError(OO_ERR_OPENSSL, "\(kind.name)_up_ref failed") }
      unsafe held = unsafe object
    case (OO_LEND.rawValue, false):
      throw CapsuleError(OO_ERR_UNSUPPORTED, "only an X509_STORE_CTX is lent; adopt or retain \(kind.name.withArticle)")
    case (OO_COPY.rawValue, false):
      guard let duplicate = unsafe kind.duplicate else {
        throw CapsuleError(OO_ERR_UNSUPPORTED, "\(kind.name) is reference-counted: adopt or retain it")
      }
      guard let copy = unsafe ErrorQueue.isolated({ _ in unsafe duplicate(object) }) else {
        throw CapsuleError(OO_ERR_OPENSSL, "\(kind.name)_dup failed")
      }
      unsafe held = unsafe copy
    default:
      throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "unknown ownership \(ownership)")
    }
    return lock.withLock {
      let index: Int
      if let reused = free.popLast() {
        index = reused
      } else {
        entries.append(Entry())
        index = entries.count - 1
      }
      entries[index].live = true
      entries[index].type = type
      unsafe entries[index].object = unsafe held
      entries[index].count = 1
      entries[index].identity = identity
      return encode(index: index, generation: entries[index].generation)
    }
  }

  /// The object of a capsule (borrowed), checking the type and the caller's libcrypto.
  func object(_ handle: UInt64, expected: UInt32, identity: LibcryptoIdentity) throws(CapsuleError) -> OpaquePointer {
    unsafe try lock.withLock { () throws(CapsuleError) -> OpaquePointer in
      unsafe try checkedObject(handle, expected: expected, identity: identity)
    }
  }

  /// The object of a live capsule of the expected type and libcrypto; the lock is held.
  private func checkedObject(
    _ handle: UInt64, expected: UInt32, identity: LibcryptoIdentity
  ) throws(CapsuleError) -> OpaquePointer {
    let index = try index(of: handle)
    let entry = entries[index]
    guard entry.type == expected else {
      let have = CapsuleKind.all[entry.type]?.name ?? "?"
      let want = CapsuleKind.all[expected]?.name ?? "type \(expected)"
      throw CapsuleError(OO_ERR_WRONG_TYPE, "the capsule holds \(have.withArticle), not \(want.withArticle)")
    }
    guard identity == entry.identity else {
      throw CapsuleError(OO_ERR_FOREIGN_LIBCRYPTO, "the capsule was made with another libcrypto than the caller's")
    }
    return unsafe entry.object!
  }

  /// A new reference (or copy) of a capsule's object, for C code to free.
  ///
  /// Taken with the table locked: a release on another thread that drops the capsule's last
  /// reference (and frees the object) either comes first, and this call sees a stale handle, or
  /// comes after, when this reference keeps the object alive.
  func newReference(
    _ handle: UInt64, expected: UInt32, identity: LibcryptoIdentity
  ) throws(CapsuleError)
    -> OpaquePointer
  {
    unsafe try lock.withLock { () throws(CapsuleError) -> OpaquePointer in
      let object = unsafe try checkedObject(handle, expected: expected, identity: identity)
      let kind = CapsuleKind.all[expected]!
      if let upRef = unsafe kind.upRef {
        guard unsafe upRef(object) else { throw CapsuleError(OO_ERR_OPENSSL, "\(kind.name)_up_ref failed") }
        return unsafe object
      }
      if let duplicate = unsafe kind.duplicate, let copy = unsafe ErrorQueue.isolated({ _ in unsafe duplicate(object) })
      {
        return unsafe copy
      }
      throw CapsuleError(OO_ERR_UNSUPPORTED, "\(kind.name) cannot be handed out beyond its loan")
    }
  }

  /// The type of a capsule.
  func type(_ handle: UInt64) throws(CapsuleError) -> UInt32 {
    try lock.withLock { () throws(CapsuleError) -> UInt32 in entries[try index(of: handle)].type }
  }

  /// Adds a capsule reference. A lent capsule has none to add: its loan cannot be extended.
  func retain(_ handle: UInt64) throws(CapsuleError) {
    try lock.withLock { () throws(CapsuleError) in
      let index = try index(of: handle)
      guard !(CapsuleKind.all[entries[index].type]?.lentOnly ?? false) else {
        throw CapsuleError(
          OO_ERR_UNSUPPORTED,
          "a lent X509_STORE_CTX capsule cannot be retained: the loan ends when the callback returns, and the "
            + "context with it")
      }
      entries[index].count += 1
    }
  }

  /// Ends a loan: the lent capsule's handle goes stale, whatever the borrower did with it (a
  /// borrower that released it early already ended it).
  func endLoan(_ handle: UInt64) {
    lock.withLock {
      guard let index = try? index(of: handle), CapsuleKind.all[entries[index].type]?.lentOnly ?? false else { return }
      invalidate(index)
    }
  }

  /// Makes an entry's handle stale and its slot reusable; the lock is held.
  private func invalidate(_ index: Int) {
    entries[index].live = false
    unsafe entries[index].object = nil
    entries[index].count = 0
    entries[index].generation &+= 1
    if entries[index].generation == 0 { entries[index].generation = 1 }
    free.append(index)
  }

  func release(_ handle: UInt64) throws(CapsuleError) {
    let freed = unsafe try lock.withLock { () throws(CapsuleError) -> (OpaquePointer, UInt32)? in
      let index = try index(of: handle)
      entries[index].count -= 1
      guard entries[index].count == 0 else { return nil }
      let object = unsafe entries[index].object!
      let type = entries[index].type
      invalidate(index)
      return unsafe (object, type)
    }
    // Free outside the lock: an object's free callbacks may use capsules.
    if let (object, type) = unsafe freed, let kind = CapsuleKind.all[type], !kind.lentOnly {
      unsafe kind.free(object)
    }
  }
}

/// The identity of a libcrypto: its version and the address of one of its functions.
struct LibcryptoIdentity: Hashable, Sendable {
  let version: UInt
  let function: UInt

  /// This library's libcrypto.
  static let ours = unsafe LibcryptoIdentity(
    version: OpenSSL_version_num(),
    function: UInt(bitPattern: unsafeBitCast(OpenSSL_version_num as @convention(c) () -> UInt, to: Int.self)))

  init(version: UInt, function: UInt) {
    self.version = version
    self.function = function
  }

  init(_ identity: UnsafePointer<oo_libcrypto_identity>?) {
    guard let identity = unsafe identity else {
      self = LibcryptoIdentity(version: 0, function: 0)
      return
    }
    version = unsafe identity.pointee.version
    function = unsafe UInt(bitPattern: identity.pointee.function)
  }
}
