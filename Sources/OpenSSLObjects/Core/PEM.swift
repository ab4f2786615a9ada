import COpenSSLFull

/// One PEM block as OpenSSL's `PEM_read_bio_ex` returns it: label, headers and the decoded bytes.
///
/// The decoded bytes stay in OpenSSL's buffer (the secure heap for key material) and are wiped
/// and freed when the block goes away.
@safe
struct PEMBlock: ~Copyable {
  /// The label after `-----BEGIN `, for example `CERTIFICATE`.
  let label: String
  /// The RFC 1421 headers (`Proc-Type`, `DEK-Info`), empty for most blocks.
  let headers: String
  /// Byte offset of the end of this block in the input.
  let endOffset: Int
  /// 1-based position of the block in the input.
  let index: Int
  fileprivate let data: UnsafeMutablePointer<UInt8>?
  fileprivate let count: Int
  fileprivate let secure: Bool

  /// The decoded (DER) bytes, lent for the duration of `body`.
  func withDER<Result, Failure: Error>(
    _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    unsafe try body(UnsafeRawBufferPointer(start: data, count: count))
  }

  /// The decoded bytes as a mutable buffer (PEM_do_header decrypts in place).
  var mutableData: UnsafeMutablePointer<UInt8>? { unsafe data }

  /// The number of decoded bytes.
  var derCount: Int { count }

  /// `true` when the headers say the body is encrypted (`Proc-Type: 4,ENCRYPTED`).
  var isEncrypted: Bool {
    // Most blocks have no headers; String.contains would build a substring searcher regardless.
    !headers.isEmpty && headers.contains("ENCRYPTED")
  }

  deinit {
    guard let data = unsafe data else { return }
    if secure { unsafe oo_OPENSSL_secure_clear_free(data, count) } else { unsafe oo_OPENSSL_clear_free(data, count) }
  }
}

/// Reading PEM text with OpenSSL's own PEM reader.
enum PEM {
  /// Whether `bytes` look like PEM: they contain a `-----BEGIN ` line.
  static func looksLikePEM(_ bytes: UnsafeRawBufferPointer) -> Bool {
    unsafe looksLike(bytes, beginMarker)
  }

  /// `-----BEGIN `, made once.
  private static let beginMarker = Array("-----BEGIN ".utf8)

  private static func looksLike(_ bytes: UnsafeRawBufferPointer, _ marker: [UInt8]) -> Bool {
    guard bytes.count >= marker.count else { return false }
    var index = 0
    while index + marker.count <= bytes.count {
      if unsafe bytes[index] == marker[0] {
        var matches = true
        for offset in 1..<marker.count where unsafe bytes[index + offset] != marker[offset] {
          matches = false
          break
        }
        if matches { return true }
      }
      index += 1
    }
    return false
  }

  /// Whether `bytes` contain `marker` at or after `offset`.
  static func contains(_ bytes: UnsafeRawBufferPointer, _ marker: [UInt8], from offset: Int) -> Bool {
    guard offset < bytes.count else { return false }
    return unsafe looksLike(UnsafeRawBufferPointer(rebasing: bytes[offset...]), marker)
  }

  /// Whether the bytes from `offset` on are only white space.
  static func onlyWhitespace(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Bool {
    guard offset < bytes.count else { return true }
    return (offset..<bytes.count).allSatisfy { [0x20, 0x09, 0x0A, 0x0D, 0x00].contains(unsafe bytes[$0]) }
  }

  /// Calls `body` with each PEM block of `bytes`, in order, until it returns `false`.
  ///
  /// Text outside the blocks is skipped, as OpenSSL's readers skip it. A block that starts but is
  /// broken (bad base64, no end line) is an error; input with no block at all is an error too.
  ///
  /// - Parameter secure: keep the decoded bytes on OpenSSL's secure heap (for key material).
  static func forEachBlock(
    in bytes: UnsafeRawBufferPointer,
    object: String,
    source: InputSource,
    secure: Bool = false,
    _ body: (borrowing PEMBlock) throws(InputError) -> Bool
  ) throws(InputError) {
    unsafe try MemoryBIO.reading(bytes) { bio throws(InputError) in
      var index = 0
      while true {
        // After a block, no further BEGIN line means the end: said here, without a read that ends
        // in OpenSSL raising (and us discarding) PEM_R_NO_START_LINE, which costs as much as a
        // fifth of a certificate's parse on OpenSSL 3.5.
        if index > 0, unsafe !contains(bytes, beginMarker, from: bytes.count - MemoryBIO.pending(bio)) { return }
        let block = try ErrorQueue.isolated { scope throws(InputError) -> PEMBlock? in
          var name: UnsafeMutablePointer<CChar>? = nil
          var header: UnsafeMutablePointer<CChar>? = nil
          var data: UnsafeMutablePointer<UInt8>? = nil
          var length = 0
          // The flags of OpenSSL's own readers (PEM_bytes_read_bio and its _secmem form): lines
          // are read as PEM_read_bio_X509 and PEM_read_bio_PrivateKey read them, and without the
          // per-character control-character pass that flags 0 makes over every line.
          let flags = UInt32(PEM_FLAG_EAY_COMPATIBLE | (secure ? PEM_FLAG_SECURE : 0))
          let start = unsafe bytes.count - MemoryBIO.pending(bio)
          let status = unsafe PEM_read_bio_ex(bio, &name, &header, &data, &length, flags)
          let offset = unsafe bytes.count - MemoryBIO.pending(bio)
          if status != 1 {
            // The end of the input after the last block: the common case, told from the newest
            // error's code alone, without reading the queue into an OpenSSLError.
            if index > 0, scope.newestIs(library: ERR_LIB_PEM, reason: PEM_R_NO_START_LINE) {
              scope.discard()
              return nil
            }
            let error = scope.failure("PEM_read_bio_ex")
            if error.contains(library: ERR_LIB_PEM, reason: PEM_R_NO_START_LINE) {
              if index == 0 {
                throw
                  (InputError(
                    .malformed, object: object, source: source.description, offset: 0,
                    detail: "no PEM block (no \"-----BEGIN\" line) was found", openSSLError: error))
              }
              return nil
            }
            // "bad end line" means either no END line at all (truncated) or one that does not
            // match the BEGIN line (malformed).
            let truncated =
              unsafe error.contains(library: ERR_LIB_PEM, reason: PEM_R_SHORT_HEADER)
              || (error.contains(library: ERR_LIB_PEM, reason: PEM_R_BAD_END_LINE)
                && !contains(bytes, Array("-----END ".utf8), from: start))
            throw
              (InputError(
                truncated ? .truncated : .malformed, object: object, source: source.description,
                offset: offset,
                detail: "PEM block \(index + 1) is broken: "
                  + (error.last?.reasonText ?? "OpenSSL could not read it"),
                openSSLError: error))
          }
          let label = unsafe String(cString: name!)
          let headers = unsafe String(cString: header!)
          unsafe oo_OPENSSL_free(name)
          unsafe oo_OPENSSL_free(header)
          index += 1
          return unsafe PEMBlock(
            label: label, headers: headers, endOffset: offset, index: index, data: data,
            count: length, secure: secure)
        }
        guard let block else { return }
        if try !body(block) { return }
      }
    }
  }

  /// DER bytes as one PEM block with `label` (`PEM_write_bio`), for objects whose PEM writer is a
  /// macro Swift cannot call.
  static func encode(_ der: [UInt8], label: String) -> String {
    unsafe (try? write("PEM_write_bio") { bio in unsafe PEM_write_bio(bio, label, "", der, der.count) > 0 ? 1 : 0 })
      ?? ""
  }

  /// Writes one object as PEM with one of OpenSSL's `PEM_write_bio_*` functions.
  static func write(
    _ operation: String,
    _ body: (OpaquePointer) -> Int32
  ) throws(OpenSSLError) -> String {
    let bytes = unsafe try MemoryBIO.writing { bio throws(OpenSSLError) in
      try ErrorQueue.check(operation) { unsafe body(bio) }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
