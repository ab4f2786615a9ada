import COpenSSLFull

/// A passphrase for encrypted keys and PKCS#12 files.
public typealias Passphrase = SecretBytes

/// Secret bytes (a passphrase, a PIN) in a buffer that cannot be copied implicitly and is wiped
/// with `OPENSSL_cleanse` and freed when it goes away.
///
/// Secrets never live in a `String`: a `String` can be copied, moved and kept by the runtime
/// anywhere, and cannot be wiped. Make one from bytes you then wipe yourself, read one from a file
/// or from standard input, or let a callback make one when OpenSSL asks.
@safe
public struct SecretBytes: ~Copyable, @unchecked Sendable {
  // Immutable after initialization; the buffer is owned by this value alone.
  private let buffer: UnsafeMutableRawBufferPointer

  /// Copies the bytes of `source` into a new wiped-on-release buffer. The caller remains
  /// responsible for wiping `source`.
  public init(copying source: UnsafeRawBufferPointer) {
    unsafe buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 1)
    if let base = source.baseAddress, source.count > 0 {
      unsafe buffer.baseAddress!.copyMemory(from: base, byteCount: source.count)
    }
    count = source.count
  }

  /// Copies `bytes` into a new wiped-on-release buffer. The caller remains responsible for the
  /// array it passed (arrays cannot be reliably wiped; prefer ``read(fromFile:)``).
  public init(_ bytes: [UInt8]) {
    count = bytes.count
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
    unsafe self.buffer = unsafe buffer
    unsafe bytes.withUnsafeBytes { source in
      if let base = source.baseAddress, source.count > 0 {
        unsafe buffer.baseAddress!.copyMemory(from: base, byteCount: source.count)
      }
    }
  }

  /// Reads a secret from a file, without a trailing newline (`\n` or `\r\n`), through a buffer
  /// that is wiped afterwards.
  ///
  /// - Throws: ``InputError`` if the file cannot be read or is larger than 64 KiB.
  public static func read(fromFile path: String) throws(InputError) -> SecretBytes {
    var result = unsafe SecretBytes(copying: UnsafeRawBufferPointer(start: nil, count: 0))
    unsafe try InputFile.read(path, object: "secret", limit: 64 << 10) { (bytes: UnsafeRawBufferPointer) in
      var count = bytes.count
      if count > 0, unsafe bytes[count - 1] == 0x0A { count -= 1 }
      if count > 0, unsafe bytes[count - 1] == 0x0D { count -= 1 }
      result = unsafe SecretBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
    }
    return result
  }

  /// The number of secret bytes.
  public let count: Int

  /// `true` if one of the bytes is NUL (OpenSSL APIs that take C strings cannot use such secrets).
  public var containsNUL: Bool {
    unsafe UnsafeRawBufferPointer(start: buffer.baseAddress, count: count).contains(0)
  }

  /// Lends the secret bytes for the duration of `body`. Do not copy them out.
  public func withUnsafeBytes<Result: ~Copyable, Failure: Error>(
    _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    unsafe try body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
  }

  /// An independent copy in its own wiped-on-release buffer.
  public func copy() -> SecretBytes {
    unsafe SecretBytes(copying: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
  }

  deinit {
    unsafe OPENSSL_cleanse(buffer.baseAddress, buffer.count)
    unsafe buffer.deallocate()
  }
}
