import COpenSSLFull

#if canImport(FoundationEssentials)
  package import FoundationEssentials
#else
  package import Foundation
#endif

/// Scoped memory BIOs: OpenSSL's in-memory streams, used to hand bytes to OpenSSL's readers and
/// to collect what its writers produce. Internal: the BIO never outlives the call that made it.
package enum MemoryBIO {
  /// Lends a read-only BIO over `bytes` (`BIO_new_mem_buf`, which does not copy) for the duration
  /// of `body`, then frees it.
  package static func reading<Result, Failure: Error>(
    _ bytes: UnsafeRawBufferPointer,
    _ body: (OpaquePointer) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    // BIO_new_mem_buf needs a non-NULL pointer even for zero bytes.
    var empty: UInt8 = 0
    let bio: OpaquePointer = unsafe withUnsafeMutablePointer(to: &empty) { fallback in
      unsafe BIO_new_mem_buf(bytes.baseAddress ?? UnsafeRawPointer(fallback), Int32(clamping: bytes.count))
    }
    defer { unsafe BIO_free(bio) }
    return unsafe try body(bio)
  }

  /// Lends a writable memory BIO (`BIO_new(BIO_s_mem())`) to `body` and returns what was written.
  package static func writing<Failure: Error>(
    _ body: (OpaquePointer) throws(Failure) -> Void
  ) throws(Failure) -> [UInt8] {
    let bio = unsafe BIO_new(BIO_s_mem())!
    defer { unsafe BIO_free(bio) }
    unsafe try body(bio)
    return unsafe contents(of: bio)
  }

  /// The bytes a memory BIO holds (`BIO_get_mem_data`).
  package static func contents(of bio: OpaquePointer) -> [UInt8] {
    var data: UnsafeMutablePointer<CChar>? = nil
    let count = unsafe oo_BIO_get_mem_data(bio, &data)
    guard let data = unsafe data, count > 0 else { return [] }
    return unsafe [UInt8](UnsafeRawBufferPointer(start: data, count: count))
  }

  /// The text a memory BIO holds, decoded as UTF-8.
  package static func text(of bio: OpaquePointer) -> String {
    unsafe String(decoding: contents(of: bio), as: UTF8.self)
  }

  /// Bytes not yet read from a BIO (`BIO_ctrl_pending`).
  package static func pending(_ bio: OpaquePointer) -> Int {
    unsafe Int(BIO_ctrl_pending(bio))
  }
}

// MARK: - Byte helpers

extension Array where Element == UInt8 {
  /// Lower-case hexadecimal, two digits per byte.
  package var hexString: String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    text.reserveCapacity(count * 2)
    for byte in self {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: text, as: UTF8.self)
  }

  /// Upper-case hexadecimal with colons between bytes, as fingerprints are usually shown.
  package var colonHexString: String {
    var pairs: [String] = []
    pairs.reserveCapacity(count)
    let digits = Array("0123456789ABCDEF".utf8)
    for byte in self {
      pairs.append(String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self))
    }
    return pairs.joined(separator: ":")
  }
}

/// Standard base64 (RFC 4648, with padding), through OpenSSL's `EVP_EncodeBlock`.
package func base64Encoded(_ bytes: [UInt8]) -> String {
  guard !bytes.isEmpty else { return "" }
  var output = [UInt8](repeating: 0, count: 4 * ((bytes.count + 2) / 3) + 1)
  let written = unsafe EVP_EncodeBlock(&output, bytes, Int32(bytes.count))
  return String(decoding: output[0..<Int(written)], as: UTF8.self)
}

/// Decodes standard base64 with padding (`EVP_DecodeBlock`); `nil` if it is not valid base64.
package func base64Decoded(_ text: String) -> [UInt8]? {
  let input = Array(text.utf8)
  guard !input.isEmpty, input.count % 4 == 0 else { return input.isEmpty ? [] : nil }
  var output = [UInt8](repeating: 0, count: input.count / 4 * 3)
  let written = unsafe EVP_DecodeBlock(&output, input, Int32(input.count))
  guard written >= 0 else { return nil }
  // EVP_DecodeBlock counts the padding bytes as zeros; drop them.
  let padding = input.reversed().prefix(2).prefix { $0 == UInt8(ascii: "=") }.count
  return Array(output[0..<(Int(written) - padding)])
}

/// `withUnsafeBytes` of any contiguous bytes, keeping the body's typed error (the protocol's own
/// method only rethrows untyped errors).
///
/// Always inlined: inside the caller, `Result` and `Failure` are concrete, so the `Swift.Result`
/// that carries the outcome needs no run-time generic metadata lookup (one per call otherwise,
/// on every signature and every loader).
@inline(__always)
package func withContiguousBytes<Bytes: ContiguousBytes, Result, Failure: Error>(
  _ bytes: Bytes,
  _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
) throws(Failure) -> Result {
  let outcome: Swift.Result<Result, Failure> = unsafe bytes.withUnsafeBytes { buffer in
    Swift.Result { () throws(Failure) -> Result in unsafe try body(buffer) }
  }
  return try outcome.get()
}
