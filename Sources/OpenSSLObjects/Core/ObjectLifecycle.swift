import COpenSSLFull

/// What must hold for everyone who holds one C object that can be changed (an `X509_STORE`, an
/// `SSL_CTX`): whether it is in use and whether it was handed to code outside Swift's view.
///
/// It lives in the C object's ex_data, under its own lock, so every Swift wrapper of the object
/// (`init(retaining:)` makes a second one), every capsule and C code see the same state; nothing is
/// kept in one wrapper or keyed by an address. Every change to the object goes through
/// ``change(_:door:_:)``, which checks the state and runs the change under the same lock.
///
/// - In use: a store is in use once any verification was set up with it (`X509_STORE_CTX_init`,
///   by anyone, C code included) or a TLS context took it; a context is in use once any connection
///   was made from it (`SSL_new`, by anyone) or an SNI callback switched a connection to it. OpenSSL
///   does not lock changes against running verifications and handshakes, so an object in use is
///   never changed again, by any door.
/// - Handed over: given to C code (``OpenSSLReferenceCounted/retainedPointer()``, a capsule). Swift
///   no longer changes it behind that code's back; the C API's own functions, which C code calls on
///   the object itself, may still change it until it is in use.
///
/// Adopting or retaining an object does not change its state.
package final class ObjectLifecycle: @unchecked Sendable {
  /// Who asks for a change.
  package enum Door: Sendable {
    /// Swift code holding a wrapper.
    case swift
    /// The C API table, on behalf of the C code that holds the object.
    case cAPI
  }

  /// The kinds of object with a lifecycle.
  package enum Kind: Sendable {
    case store
    case context

    var name: String { self == .store ? "X509_STORE" : "SSL_CTX" }
    var use: String {
      self == .store ? "a verification or a TLS context, ours or C code's, took it" : "connections were made from it"
    }
    var runs: String { self == .store ? "verifications" : "handshakes" }
  }

  private let kind: Kind
  /// The address of the `SSL_CTX` whose ex_data holds this lifecycle (contexts only): valid as
  /// long as the lifecycle, which the `SSL_CTX` frees with its ex_data.
  private let contextAddress: UInt?
  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var inUse = false
  private var handedOver = false

  // Guarded by `lock`; made on first use.
  private var madeIdentity: [UInt8]?

  /// A random identity, made once per C object when first asked for: what keys state by object
  /// (session policies) instead of its address, which C libraries reuse.
  package var identity: [UInt8] {
    lock.withLock {
      if let madeIdentity { return madeIdentity }
      var generator = SystemRandomNumberGenerator()
      let words: [UInt64] = [generator.next(), generator.next()]
      let made = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) } }
      madeIdentity = made
      return made
    }
  }

  private init(_ kind: Kind, object: OpaquePointer) {
    self.kind = kind
    contextAddress = kind == .context ? UInt(bitPattern: object) : nil
  }

  /// Whether the object is in use; the lock is held. A context is in use once any `SSL` was made
  /// from it: marked from `SSL_new` where OpenSSL's ex_data callback sees the `SSL_CTX` (3.0 and
  /// 3.4), or found among the `SSL`s alive now (3.5 and later run that callback before the `SSL`
  /// has its `SSL_CTX`).
  private var inUseNow: Bool {
    if !inUse, let contextAddress, LiveConnections.shared.anyMade(from: contextAddress) { inUse = true }
    return inUse
  }

  /// Whether the object is in use.
  package var isInUse: Bool { lock.withLock { inUseNow } }

  /// Whether the object was handed to C code.
  package var isHandedOver: Bool { lock.withLock { handedOver } }

  /// Marks the object in use.
  package func markInUse() {
    lock.withLock { inUse = true }
  }

  /// Marks the object handed over.
  package func markHandedOver() {
    lock.withLock { handedOver = true }
  }

  /// Marks the object in use and runs `body` under the same lock, so that no change can slip in
  /// between (a connection reads its context's policy this way).
  package func use<Result>(_ body: () throws -> Result) rethrows -> Result {
    try lock.withLock {
      inUse = true
      return try body()
    }
  }

  /// Runs `body`, the change `operation` of the object, under the lock, unless the object is in
  /// use or (for Swift's door) handed over.
  ///
  /// - Throws: ``UsageError`` saying why the object cannot change, or what `body` throws.
  package func change<Result>(
    _ operation: String, door: Door = .swift, _ body: () throws -> Result
  ) throws -> Result {
    try lock.withLock {
      if inUseNow {
        throw UsageError(
          "the \(kind.name) is in use (\(kind.use)) and OpenSSL does not lock changes against running "
            + "\(kind.runs): make a new one instead of changing this one (\(operation))")
      }
      if handedOver && door == .swift {
        throw UsageError(
          "the \(kind.name) was handed to C code (retainedPointer() or a capsule), which may use it at any time: "
            + "make a new one instead of changing it from Swift (\(operation))")
      }
      return try body()
    }
  }

  // MARK: - Finding an object's lifecycle

  private static let stores = unsafe ExDataSlot<ObjectLifecycle>(
    classIndex: CRYPTO_EX_INDEX_X509_STORE, get: { unsafe X509_STORE_get_ex_data($0, $1) },
    set: { unsafe X509_STORE_set_ex_data($0, $1, $2) })
  private static let contexts = unsafe ExDataSlot<ObjectLifecycle>(
    classIndex: CRYPTO_EX_INDEX_SSL_CTX, get: { unsafe SSL_CTX_get_ex_data($0, $1) },
    set: { unsafe SSL_CTX_set_ex_data($0, $1, $2) })
  /// Serialises making lifecycles, so that two threads touching a new object agree on one.
  private static let creation = CryptoLock()

  /// The lifecycle of an `X509_STORE`, made on first use.
  package static func of(store: OpaquePointer) -> ObjectLifecycle {
    unsafe find(store, in: stores, .store)
  }

  /// The lifecycle of an `SSL_CTX`, made on first use.
  package static func of(context: OpaquePointer) -> ObjectLifecycle {
    unsafe find(context, in: contexts, .context)
  }

  private static func find(
    _ object: OpaquePointer, in slot: ExDataSlot<ObjectLifecycle>, _ kind: Kind
  ) -> ObjectLifecycle {
    tracking
    if let found = unsafe slot.get(object) { return found }
    // Made under one lock, so that two threads touching a new object agree on one lifecycle.
    return creation.withLock {
      if let found = unsafe slot.get(object) { return found }
      let made = unsafe ObjectLifecycle(kind, object: object)
      unsafe slot.set(object, made)
      return made
    }
  }

  // MARK: - Seeing every use

  /// Registers ex_data callbacks that OpenSSL runs for every `SSL` (made in `SSL_new`, freed in
  /// `SSL_free`) and every `X509_STORE_CTX` (in `X509_STORE_CTX_init`, once the store is set),
  /// whoever makes them: they mark the store in use, and the context where the `SSL` has it
  /// already, and keep the set of `SSL`s alive. Registered before the first lifecycle is made,
  /// hence before any connection or verification of ours.
  private static let tracking: Void = {
    _ = unsafe CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, nil, connectionMade, nil, connectionFreed)
    _ = unsafe CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_X509_STORE_CTX, 0, nil, verificationSetUp, nil, nil)
  }()
}

/// The `SSL`s alive in the process (made since tracking began), so that the contexts C code made
/// connections from are seen to be in use on every OpenSSL version. It holds the addresses of live
/// objects only: an `SSL`'s ex_data "free" callback removes it before its memory goes (and blocks
/// on the lock while a scan reads it).
private final class LiveConnections: @unchecked Sendable {
  static let shared = LiveConnections()

  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var addresses: Set<UInt> = []

  func insert(_ ssl: UInt) { lock.withLock { _ = addresses.insert(ssl) } }

  func remove(_ ssl: UInt) { lock.withLock { _ = addresses.remove(ssl) } }

  /// Whether an `SSL` alive now was made from the `SSL_CTX` at `context`.
  func anyMade(from context: UInt) -> Bool {
    lock.withLock {
      addresses.contains { address in
        guard let ssl = unsafe OpaquePointer(bitPattern: address) else { return false }
        return unsafe UInt(bitPattern: SSL_get_SSL_CTX(ssl)) == context
      }
    }
  }
}

/// `CRYPTO_EX_new` for `SSL`: the connection is alive, and its context in use where OpenSSL has
/// set it already (up to 3.4; from 3.5 on, the context is found by `LiveConnections` instead).
private func connectionMade(
  _ parent: UnsafeMutableRawPointer?,
  _ pointer: UnsafeMutableRawPointer?,
  _ data: UnsafeMutablePointer<CRYPTO_EX_DATA>?,
  _ index: Int32,
  _ argl: Int,
  _ argp: UnsafeMutableRawPointer?
) {
  guard let parent = unsafe parent else { return }
  LiveConnections.shared.insert(UInt(bitPattern: parent))
  if let context = unsafe SSL_get_SSL_CTX(OpaquePointer(parent)) {
    unsafe ObjectLifecycle.of(context: context).markInUse()
  }
}

/// `CRYPTO_EX_free` for `SSL`: the connection goes.
private func connectionFreed(
  _ parent: UnsafeMutableRawPointer?,
  _ pointer: UnsafeMutableRawPointer?,
  _ data: UnsafeMutablePointer<CRYPTO_EX_DATA>?,
  _ index: Int32,
  _ argl: Int,
  _ argp: UnsafeMutableRawPointer?
) {
  guard let parent = unsafe parent else { return }
  LiveConnections.shared.remove(UInt(bitPattern: parent))
}

/// `CRYPTO_EX_new` for `X509_STORE_CTX`: the verification's store is in use.
private func verificationSetUp(
  _ parent: UnsafeMutableRawPointer?,
  _ pointer: UnsafeMutableRawPointer?,
  _ data: UnsafeMutablePointer<CRYPTO_EX_DATA>?,
  _ index: Int32,
  _ argl: Int,
  _ argp: UnsafeMutableRawPointer?
) {
  guard let parent = unsafe parent, let store = unsafe X509_STORE_CTX_get0_store(OpaquePointer(parent)) else {
    return
  }
  unsafe ObjectLifecycle.of(store: store).markInUse()
}
