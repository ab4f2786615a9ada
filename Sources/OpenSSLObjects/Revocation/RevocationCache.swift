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

/// One cache for revocation answers: OCSP responses, keyed by the certificate ID they answer for
/// (hash algorithm, issuer name and key hashes, serial number), and CRLs, keyed by the URL of
/// the distribution point they came from.
///
/// - **Fresh only.** An entry is used until the answer's own end (an OCSP response's nextUpdate,
///   a CRL's nextUpdate, or thisUpdate plus the validation's maximum age) and never longer than
///   ``maximumAge`` after it was fetched; then it is fetched again.
/// - **Verified on every use.** What the cache holds is bytes; every use decodes them and runs
///   the caller's checks again (signature, issuer or signer, times), from memory or from disk.
///   Bytes that fail are dropped (a corrupt file is removed) and fetched again.
/// - **Bounded.** The bytes held in memory stay under ``maximumBytes``; the least recently used
///   entries go first.
/// - **Shared.** Thread-safe (one lock, never held across a fetch), so one cache serves many
///   TLS contexts, verifiers and threads. Two threads that miss the same entry at once may both
///   fetch it; the last answer stays.
/// - **Persistent on request.** With a ``directory``, answers are also kept there, one DER file
///   per key (named by the SHA-256 of the key), written atomically (a temporary file in the same
///   directory, `fsync`, `rename`), and found again by a cache made later on the same directory.
public final class RevocationCache: @unchecked Sendable {
  /// The most bytes held in memory; 32 MiB by default.
  public let maximumBytes: Int
  /// The longest an answer is used after it was fetched, whatever its nextUpdate; 7 days by
  /// default.
  public let maximumAge: TimeInterval
  /// Where answers are also kept, if anywhere.
  public let directory: String?
  /// The largest file read back from ``directory``.
  static let maximumFileSize = 16 * 1024 * 1024

  private struct Entry {
    let der: [UInt8]
    let fetched: Date
    let validUntil: Date?
    var lastUse: UInt64
  }

  private let lock = CryptoLock()
  // Guarded by `lock`.
  private var entries: [String: Entry] = [:]
  private var bytes = 0
  private var uses: UInt64 = 0

  /// Makes a cache.
  ///
  /// - Parameters:
  ///   - maximumBytes: the most bytes held in memory.
  ///   - maximumAge: the longest an answer is used after it was fetched.
  ///   - directory: where to keep answers across processes; made (mode 0700) if missing.
  /// - Throws: ``InputError`` when the directory cannot be made or is not a writable directory.
  public init(
    maximumBytes: Int = 32 * 1024 * 1024, maximumAge: TimeInterval = 7 * 86_400, directory: String? = nil
  ) throws(InputError) {
    self.maximumBytes = max(maximumBytes, 0)
    self.maximumAge = maximumAge
    self.directory = directory
    if let directory {
      if unsafe mkdir(directory, 0o700) != 0 && errno != EEXIST {
        throw Self.directoryError(directory, "cannot be made: \(unsafe String(cString: strerror(errno)))")
      }
      var info = stat()
      guard unsafe stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
        throw Self.directoryError(directory, "is not a directory")
      }
      guard unsafe access(directory, W_OK | X_OK) == 0 else { throw Self.directoryError(directory, "is not writable") }
    }
  }

  private static func directoryError(_ directory: String, _ detail: String) -> InputError {
    InputError(.unreadableFile, object: "revocation cache", source: "directory \(directory)", detail: detail)
  }

  // MARK: - OCSP responses and CRLs

  /// The OCSP response for `id`: a cached one that passes `validate`, or else the one `fetch`
  /// returns, once it passes `validate` (then cached).
  ///
  /// - Parameters:
  ///   - id: the certificate the response answers for: the key.
  ///   - validate: the checks every use runs (signature, signer, the single response for `id`,
  ///     times); returns until when the answer may be relied on, or throws.
  ///   - fetch: asks the responder.
  /// - Throws: what `fetch` or `validate` throw for a fetched response.
  public func ocspResponse(
    for id: OCSPCertID, validate: (OCSPResponse) throws -> Date?, fetch: () throws -> OCSPResponse
  ) throws -> OCSPResponse {
    let key =
      "ocsp:\(id.hashAlgorithm.dotted):\(id.issuerNameHash.hexString):\(id.issuerKeyHash.hexString):"
      + id.serialNumber.hex
    return try value(
      key: key, decode: { try OCSPResponse(derEncoded: $0, limit: Self.maximumFileSize) }, encode: { $0.derEncoded },
      validate: validate, fetch: fetch)
  }

  /// The CRL from the distribution point `url`: a cached one that passes `validate`, or else
  /// the one `fetch` returns, once it passes `validate` (then cached).
  ///
  /// - Parameters:
  ///   - url: the distribution point: the key.
  ///   - validate: the checks every use runs (issuer, signature, times); returns until when the
  ///     CRL may be relied on, or throws.
  ///   - fetch: downloads the CRL.
  /// - Throws: what `fetch` or `validate` throw for a fetched CRL.
  public func crl(at url: String, validate: (X509CRL) throws -> Date?, fetch: () throws -> X509CRL) throws -> X509CRL {
    try value(
      key: "crl:\(url)", decode: { try X509CRL(derEncoded: $0, limit: Self.maximumFileSize) },
      encode: { $0.derEncoded }, validate: validate, fetch: fetch)
  }

  /// The number of answers held in memory.
  public var count: Int { lock.withLock { entries.count } }

  /// The bytes held in memory.
  public var byteCount: Int { lock.withLock { bytes } }

  /// Forgets every answer, in memory and in the directory.
  public func removeAll() {
    let keys = lock.withLock { () -> [String] in
      defer {
        entries = [:]
        bytes = 0
      }
      return Array(entries.keys)
    }
    for key in keys { removeFile(key) }
  }

  // MARK: - The mechanism

  private func value<T>(
    key: String, decode: ([UInt8]) throws -> T, encode: (T) -> [UInt8], validate: (T) throws -> Date?,
    fetch: () throws -> T
  ) throws -> T {
    let now = Date()
    if let entry = memoryEntry(key, now: now) {
      if let value = try? decode(entry.der), (try? validate(value)) != nil { return value }
      forget(key)
    }
    if let (der, fetched) = readFile(key), now.timeIntervalSince(fetched) <= maximumAge {
      if let value = try? decode(der), let validUntil = try? validate(value) {
        remember(key, Entry(der: der, fetched: fetched, validUntil: validUntil, lastUse: 0))
        return value
      }
      // Corrupt, forged, stale or no longer valid: ignored, removed and fetched again.
      removeFile(key)
    }
    let value = try fetch()
    let validUntil = try validate(value)
    let der = encode(value)
    remember(key, Entry(der: der, fetched: now, validUntil: validUntil, lastUse: 0))
    writeFile(key, der)
    return value
  }

  /// The entry for `key` if it is still within its times, as a use.
  private func memoryEntry(_ key: String, now: Date) -> Entry? {
    lock.withLock { () -> Entry? in
      guard var entry = entries[key] else { return nil }
      if now.timeIntervalSince(entry.fetched) > maximumAge || entry.validUntil.map({ now >= $0 }) == true {
        entries[key] = nil
        bytes -= entry.der.count
        return nil
      }
      uses += 1
      entry.lastUse = uses
      entries[key] = entry
      return entry
    }
  }

  private func remember(_ key: String, _ entry: Entry) {
    guard entry.der.count <= maximumBytes else { return }
    lock.withLock {
      if let old = entries[key] { bytes -= old.der.count }
      uses += 1
      var entry = entry
      entry.lastUse = uses
      entries[key] = entry
      bytes += entry.der.count
      // The least recently used go first.
      while bytes > maximumBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
        entries[oldest.key] = nil
        bytes -= oldest.value.der.count
      }
    }
  }

  private func forget(_ key: String) {
    lock.withLock {
      if let old = entries.removeValue(forKey: key) { bytes -= old.der.count }
    }
    removeFile(key)
  }

  // MARK: - Files

  /// The file for `key`: the SHA-256 of the key, in hexadecimal.
  private func path(_ key: String) -> String? {
    directory.map { "\($0)/\(SPKIPin.sha256(Array(key.utf8)).hexString).der" }
  }

  /// The bytes of the file for `key` and when it was written.
  private func readFile(_ key: String) -> ([UInt8], Date)? {
    guard let path = path(key) else { return nil }
    var info = stat()
    guard unsafe stat(path, &info) == 0 else { return nil }
    guard let bytes = try? InputFile.read(path, object: "cached revocation answer", limit: Self.maximumFileSize) else {
      unsafe unlink(path)
      return nil
    }
    let written = Date(
      timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9)
    return (bytes, written)
  }

  /// Writes the file for `key` atomically: a new file beside it, flushed, then renamed over it.
  /// A failure leaves the cache in memory only.
  private func writeFile(_ key: String, _ der: [UInt8]) {
    guard let path = path(key), let directory else { return }
    let temporary =
      "\(directory)/.\(SPKIPin.sha256(Array(key.utf8)).hexString).\(UInt64.random(in: 0...UInt64.max)).tmp"
    let descriptor = unsafe open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return }
    var written = 0
    while written < der.count {
      let count = unsafe der[written...].withUnsafeBytes { unsafe write(descriptor, $0.baseAddress, $0.count) }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else { break }
      written += count
    }
    let flushed = fsync(descriptor) == 0
    close(descriptor)
    guard written == der.count, flushed, unsafe rename(temporary, path) == 0 else {
      unsafe unlink(temporary)
      return
    }
  }

  private func removeFile(_ key: String) {
    guard let path = path(key) else { return }
    unsafe unlink(path)
  }
}
