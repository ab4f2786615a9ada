import COpenSSLFull

/// A message digest algorithm (`EVP_MD`), fetched once from OpenSSL's default library context and
/// reused for every operation, instead of an implicit fetch per call.
@safe
public struct Digest: @unchecked Sendable, Hashable, CustomStringConvertible {
  // `EVP_MD` objects are immutable after fetching and safe to share between threads. The fetched
  // reference is held for the life of the process (see `Digest.fetched`).
  package let md: OpaquePointer?

  /// OpenSSL's name for the algorithm, for example `"SHA2-256"`.
  public let name: String

  /// SHA-1. Broken for collisions: for tests of weak signatures and legacy fingerprints only.
  public static let sha1 = Digest(known: "SHA1")
  /// SHA-224.
  public static let sha224 = Digest(known: "SHA2-224")
  /// SHA-256.
  public static let sha256 = Digest(known: "SHA2-256")
  /// SHA-384.
  public static let sha384 = Digest(known: "SHA2-384")
  /// SHA-512.
  public static let sha512 = Digest(known: "SHA2-512")
  /// SHA3-256.
  public static let sha3_256 = Digest(known: "SHA3-256")
  /// SHA3-512.
  public static let sha3_512 = Digest(known: "SHA3-512")
  /// MD5. Broken: for tests of weak signatures only.
  public static let md5 = Digest(known: "MD5")

  private init(known name: String) {
    self.name = name
    unsafe self.md = unsafe Digest.fetched(name)
    self.owner = nil
  }

  /// Fetches a digest by any name OpenSSL knows (`EVP_MD_fetch`), for example `"SHA256"` or
  /// `"SHA3-384"`. From the default context without a property query, fetched once per name for
  /// the life of the process; otherwise fetched now and held by this value (with its context).
  ///
  /// - Parameters:
  ///   - name: the algorithm's name.
  ///   - libraryContext: the library context to fetch from (the default one by default).
  ///   - properties: the property query (for example `"provider=default"`), or `nil`.
  /// - Throws: ``InputError`` with ``InputError/Reason/unsupported`` if no provider of the context
  ///   offers it (with that query).
  public init(
    named name: String, libraryContext: LibraryContext = .default, properties: PropertyQuery? = nil
  ) throws(InputError) {
    let md: OpaquePointer?
    if libraryContext.isDefault && properties == nil {
      unsafe md = unsafe Digest.fetched(name)
      owner = nil
    } else {
      let fetched = unsafe ErrorQueue.isolated { _ in
        unsafe EVP_MD_fetch(libraryContext.pointer, name, properties.text)
      }
      unsafe md = unsafe fetched
      owner = unsafe fetched.map { unsafe FetchedDigest(adopting: $0, in: libraryContext) }
    }
    guard let md = unsafe md else {
      throw InputError(
        .unsupported, object: "digest", source: "the name \"\(name)\"",
        detail: "no loaded OpenSSL provider implements a digest of that name"
          + (libraryContext.isDefault ? "" : " in this library context")
          + (properties.map { " with the properties \"\($0.text)\"" } ?? ""))
    }
    unsafe self.md = unsafe md
    self.name = unsafe String(cString: EVP_MD_get0_name(md))
  }

  /// Holds a digest fetched from a library context other than the default, or with a property
  /// query: `nil` for the process-wide fetches.
  private let owner: FetchedDigest?

  /// The digest's output size in bytes (`EVP_MD_get_size`).
  public var size: Int { unsafe md.map { unsafe Int(EVP_MD_get_size($0)) } ?? 0 }

  /// A readable description, without secret material.
  public var description: String { name }

  /// Whether both values are the same.
  public static func == (lhs: Digest, rhs: Digest) -> Bool { unsafe lhs.md == rhs.md && lhs.name == rhs.name }
  /// Hashes consistently with `==`.
  public func hash(into hasher: inout Hasher) { hasher.combine(name) }

  /// The fetched `EVP_MD`, or an error saying this OpenSSL has no such digest.
  package func algorithm(for object: String) throws(InputError) -> OpaquePointer {
    guard let md = unsafe md else {
      throw InputError(
        .unsupported, object: object, source: "digest \(name)",
        detail: "no loaded OpenSSL provider implements \(name)")
    }
    return unsafe md
  }

  /// Computes the digest of `bytes` (`EVP_Digest`).
  public func hash(_ bytes: [UInt8]) throws(InputError) -> [UInt8] {
    let md = unsafe try algorithm(for: "digest")
    var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    guard unsafe EVP_Digest(bytes, bytes.count, &output, &length, md, nil) == 1 else {
      throw InputError(.unsupported, object: "digest", source: "digest \(name)", detail: "EVP_Digest failed")
    }
    return Array(output[0..<Int(length)])
  }

  // MARK: Fetch cache

  private static let cache = FetchCache()

  private static func fetched(_ name: String) -> OpaquePointer? {
    unsafe cache.fetch(name)
  }
}

/// One `EVP_MD` reference fetched from a library context, and the context, which must outlive it:
/// the reference is dropped (`EVP_MD_free`) before the context can be.
private final class FetchedDigest: OpenSSLObjectBase, OpenSSLObject, @unchecked Sendable {
  override package class var cType: CObjectType { .evpMD }
  private var context: LibraryContext?

  convenience init(adopting md: OpaquePointer, in context: LibraryContext) {
    unsafe self.init(adopting: md)
    self.context = context
  }
}

/// Fetched digests by name, kept for the life of the process.
@safe
private final class FetchCache: @unchecked Sendable {
  // Guarded by `lock`.
  private var fetched: [String: OpaquePointer] = unsafe [:]
  private let lock = CryptoLock()

  func fetch(_ name: String) -> OpaquePointer? {
    unsafe lock.withLock { () -> OpaquePointer? in
      if let md = unsafe fetched[name] { return unsafe md }
      let md = unsafe ErrorQueue.isolated { _ in unsafe EVP_MD_fetch(nil, name, nil) }
      if let md = unsafe md { unsafe fetched[name] = unsafe md }
      return unsafe md
    }
  }
}

/// A mutual-exclusion lock on OpenSSL's own lock primitive (`CRYPTO_THREAD_lock_new`), so that the
/// library's locking follows OpenSSL's threading model on every platform.
@safe
package final class CryptoLock: @unchecked Sendable {
  private let lock: UnsafeMutableRawPointer

  package init() {
    unsafe lock = unsafe CRYPTO_THREAD_lock_new()
  }

  deinit {
    unsafe CRYPTO_THREAD_lock_free(lock)
  }

  package func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
    _ = unsafe CRYPTO_THREAD_write_lock(lock)
    defer { _ = unsafe CRYPTO_THREAD_unlock(lock) }
    return try body()
  }
}
