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

/// A trust store (`X509_STORE`): trusted certificates, CRLs, lookups in files and hashed
/// directories, and default verification settings.
///
/// Configure, then use. OpenSSL does not lock `X509_STORE_set_flags`, `X509_STORE_set1_param` or
/// the verify callback against verifications running on other threads, so once a store is in use
/// (a verification was set up with it, by us or by C code; a TLS context took it) or was handed
/// to C code (``OpenSSLReferenceCounted/retainedPointer()``, a capsule), every change throws
/// ``UsageError``: a change means a new store. Hashed-directory lookups cache CRLs, so refreshing
/// CRLs means a new store too.
///
/// That state belongs to the `X509_STORE` itself (its ex_data), not to this wrapper: a second
/// wrapper made with `init(retaining:)`, or a capsule, sees the same. Adopting or retaining a store
/// that C code made does not freeze it.
///
/// Owns exactly one `X509_STORE` reference (`X509_STORE_free`). Doors: adopt, borrow, retain
/// (`X509_STORE_up_ref`) and hand over. Changes and freezing are serialised by the store's lock,
/// hence `Sendable`.
public final class X509Store: OpenSSLObjectBase, OpenSSLReferenceCounted, @unchecked Sendable {
  override package class var cType: CObjectType { .x509Store }

  /// Adopts an `X509_STORE` (the shared mechanism behind ``OpenSSLObject/init(takingOwnershipOf:)``).
  package required init(adopting pointer: OpaquePointer) {
    unsafe super.init(adopting: pointer)
  }

  /// An empty store (`X509_STORE_new`) that trusts nothing until certificates are added.
  public init() {
    unsafe super.init(adopting: X509_STORE_new()!)
    unsafe X509_STORE_set_verify_cb(pointer, verifyTrampoline)
    // Made now, before the store can be shared: its ex_data is only read from then on.
    _ = lifecycle
  }

  /// The store's lifecycle, in its ex_data.
  private var lifecycle: ObjectLifecycle { unsafe ObjectLifecycle.of(store: pointer) }

  /// The store's random identity (never its address), for what is keyed by store.
  package var lifecycleIdentity: [UInt8] { lifecycle.identity }

  /// Handing the store to C code freezes it.
  override package func willHandOver() {
    lifecycle.markHandedOver()
  }

  // MARK: - The operating system's trust store

  /// The operating system's trust store, loaded once per process through OpenSSL's default paths
  /// (`X509_STORE_set_default_paths`, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`), shared
  /// and immutable. Never a bundled CA list.
  public static var system: X509Store {
    get throws(InputError) { try systemStore.get() }
  }

  private static let systemStore: Result<X509Store, InputError> = {
    let store = X509Store()
    do throws(InputError) {
      try store.loadSystemTrust()
    } catch {
      return .failure(error)
    }
    store.freeze()
    return .success(store)
  }()

  // MARK: - Adding trust

  /// Adds a trusted certificate (`X509_STORE_add_cert`, which takes its own reference). Trust
  /// settings of a `TRUSTED CERTIFICATE` apply.
  ///
  /// - Throws: ``UsageError`` if the store is in use.
  public func add(_ certificate: X509Certificate) throws {
    try mutate("X509_STORE_add_cert") { unsafe X509_STORE_add_cert(pointer, certificate.pointer) }
  }

  /// Adds a CRL (`X509_STORE_add_crl`, which takes its own reference).
  ///
  /// - Throws: ``UsageError`` if the store is in use.
  public func add(_ crl: X509CRL) throws {
    try mutate("X509_STORE_add_crl") { unsafe X509_STORE_add_crl(pointer, crl.pointer) }
  }

  /// Loads the certificates and CRLs of a PEM file (`X509_STORE_load_file`).
  ///
  /// - Throws: ``InputError`` if the file cannot be read, ``UsageError`` if the store is in use.
  public func load(file path: String) throws {
    try checkReadable(path, directory: false)
    try mutate("X509_STORE_load_file", input: path) { unsafe X509_STORE_load_file(pointer, path) }
  }

  /// Adds a hashed directory (`X509_STORE_load_path`; files named by `X509_NAME_hash`, as
  /// `openssl rehash` makes them), searched at verification time.
  ///
  /// - Throws: ``InputError`` if the directory does not exist, ``UsageError`` if the store is in use.
  public func load(directory path: String) throws {
    try checkReadable(path, directory: true)
    try mutate("X509_STORE_load_path", input: path) { unsafe X509_STORE_load_path(pointer, path) }
  }

  /// Adds OpenSSL's default trust locations (`X509_STORE_set_default_paths`): the operating
  /// system's trust store, or `SSL_CERT_FILE` and `SSL_CERT_DIR` when they are set.
  public func loadSystemTrust() throws(InputError) {
    do {
      try mutate("X509_STORE_set_default_paths") { unsafe X509_STORE_set_default_paths(pointer) }
    } catch let error as InputError {
      throw error
    } catch {
      throw InputError(.unsupported, object: "trust store", source: "OpenSSL's default paths", detail: "\(error)")
    }
  }

  // MARK: - Default settings

  /// Adds verification flags (`X509_STORE_set_flags`).
  public func setFlags(_ flags: VerificationFlags) throws {
    try mutate("X509_STORE_set_flags") { unsafe X509_STORE_set_flags(pointer, flags.rawValue) }
  }

  /// Sets the purpose (`X509_STORE_set_purpose`).
  public func setPurpose(_ purpose: VerificationPurpose) throws {
    try mutate("X509_STORE_set_purpose") { unsafe X509_STORE_set_purpose(pointer, purpose.rawValue) }
  }

  /// Sets the maximum chain depth (`X509_STORE_set_depth`).
  public func setMaximumDepth(_ depth: Int) throws {
    try mutate("X509_STORE_set_depth") { unsafe X509_STORE_set_depth(pointer, Int32(clamping: depth)) }
  }

  /// Sets the verification time (`X509_VERIFY_PARAM_set_time` on the store's parameters).
  public func setTime(_ time: Date) throws {
    try mutate("X509_VERIFY_PARAM_set_time") {
      unsafe X509_VERIFY_PARAM_set_time(
        X509_STORE_get0_param(pointer), time_t(time.timeIntervalSince1970.rounded(.down)))
      return 1
    }
  }

  /// Sets the authentication (security) level (`X509_VERIFY_PARAM_set_auth_level`).
  public func setAuthenticationLevel(_ level: Int) throws {
    try mutate("X509_VERIFY_PARAM_set_auth_level") {
      unsafe X509_VERIFY_PARAM_set_auth_level(X509_STORE_get0_param(pointer), Int32(clamping: level))
      return 1
    }
  }

  /// Sets the store's verification callback (`X509_STORE_set_verify_cb`), or removes it with
  /// `nil`. The closure lives in the store's ex_data, exactly as long as the `X509_STORE`;
  /// replacing it frees the old one, which no verification can be running since the store is not
  /// in use. It runs before any callback of a verification, TLS context or connection (see
  /// ``VerifyCallback``).
  ///
  /// - Throws: ``UsageError`` if the store is in use or handed over, or if C code gave the store a
  ///   verify callback of its own, which ours would replace.
  public func setVerifyCallback(_ callback: VerifyCallback?) throws {
    try mutate("X509_STORE_set_verify_cb") {
      let current = unsafe X509_STORE_get_verify_cb(pointer)
      if let current = unsafe current, unsafe !isTrampoline(current) {
        throw UsageError(
          "the X509_STORE has a C verify callback of its own (X509_STORE_set_verify_cb), which ours would replace")
      }
      unsafe X509_STORE_set_verify_cb(pointer, verifyTrampoline)
      return unsafe VerificationState.storeCallbacks.set(pointer, callback.map { ExDataBox($0) }) ? 1 : 0
    }
  }

  private func isTrampoline(_ callback: X509_STORE_CTX_verify_cb) -> Bool {
    unsafe unsafeBitCast(callback, to: UnsafeRawPointer.self)
      == unsafeBitCast(verifyTrampoline, to: UnsafeRawPointer.self)
  }

  // MARK: - Reading

  /// The trusted certificates loaded so far (`X509_STORE_get0_objects`); hashed directories are
  /// read lazily and only show what lookups have loaded.
  public var certificates: [X509Certificate] {
    unsafe objects(certificates: true).compactMap { unsafe try? X509Certificate(retaining: OpenSSLPointer($0)) }
  }

  /// The CRLs loaded so far (`X509_STORE_get0_objects`).
  public var crls: [X509CRL] {
    unsafe objects(certificates: false).compactMap { unsafe try? X509CRL(retaining: OpenSSLPointer($0)) }
  }

  /// Whether the store can no longer be changed from Swift: it is in use (a verification was set
  /// up with it, by anyone, or a TLS context took it) or was handed to C code. Every wrapper of
  /// the same `X509_STORE` sees the same answer.
  public var isFrozen: Bool { lifecycle.isInUse || lifecycle.isHandedOver }

  private func objects(certificates: Bool) -> [OpaquePointer] {
    _ = unsafe X509_STORE_lock(pointer)
    defer { _ = unsafe X509_STORE_unlock(pointer) }
    guard let objects = unsafe X509_STORE_get0_objects(pointer) else { return unsafe [] }
    return unsafe (0..<oo_sk_X509_OBJECT_num(objects)).compactMap { index in
      guard let object = unsafe oo_sk_X509_OBJECT_value(objects, index) else { return nil }
      return unsafe certificates ? X509_OBJECT_get0_X509(object) : X509_OBJECT_get0_X509_CRL(object)
    }
  }

  // MARK: - Freezing

  /// Marks the store as in use: from now on it cannot be changed. Verifications and TLS
  /// contexts do this when they take the store (OpenSSL's `X509_STORE_CTX_init` marks it too).
  package func freeze() {
    lifecycle.markInUse()
  }

  private func mutate(_ operation: String, input: String? = nil, _ body: () throws -> Int32) throws {
    try lifecycle.change(operation) { () throws in
      try ErrorQueue.isolated { scope throws in
        guard try body() == 1 else {
          let error = scope.failure(operation)
          throw InputError(
            .malformed, object: "trust store", source: input.map { "file \($0)" } ?? operation,
            detail: error.last?.reasonText ?? "\(operation) failed", openSSLError: error)
        }
      }
    }
  }

  private func checkReadable(_ path: String, directory: Bool) throws(InputError) {
    var info = stat()
    let exists = unsafe stat(path, &info) == 0
    let isDirectory = exists && (info.st_mode & S_IFMT) == S_IFDIR
    guard exists, isDirectory == directory else {
      throw InputError(
        .unreadableFile, object: "trust store", source: (directory ? "directory " : "file ") + path,
        detail: exists ? (directory ? "is not a directory" : "is a directory") : "does not exist")
    }
  }

}
