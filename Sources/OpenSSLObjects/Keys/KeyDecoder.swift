import COpenSSLFull

/// How key bytes are encoded.
public enum KeyEncoding: Sendable, Hashable {
  /// Detected from the content: PEM if it holds a `-----BEGIN` line, DER otherwise.
  case automatic
  /// PEM text.
  case pem
  /// DER bytes.
  case der
}

/// Supplies a passphrase when an encrypted key needs one, at most once per load.
final class PassphraseBox {
  private let supply: () throws -> Passphrase?
  private var supplied = Passphrase([])
  private var hasSupplied = false
  private var asked = false
  /// The error the user's closure threw, rethrown after the OpenSSL call returns.
  private(set) var thrown: (any Error)?
  /// Whether OpenSSL's buffer was too small for the passphrase.
  private(set) var tooLong = false

  init(_ supply: @escaping () throws -> Passphrase?) {
    self.supply = supply
  }

  /// Whether a passphrase was requested.
  var wasAsked: Bool { asked }

  /// Whether the supplier gave a passphrase when asked.
  var hadPassphrase: Bool { hasSupplied }

  /// Lends the passphrase, asking the supplier the first time; `nil` if there is none.
  func withPassphrase<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result? {
    if !asked {
      asked = true
      do {
        if let passphrase = try supply() {
          supplied = passphrase
          hasSupplied = true
        }
      } catch {
        thrown = error
      }
    }
    guard hasSupplied else { return nil }
    return unsafe supplied.withUnsafeBytes(body)
  }

  /// Copies the passphrase into OpenSSL's buffer of `capacity` bytes; the number of bytes, or
  /// `nil` if there is no passphrase or it does not fit (``tooLong`` is then set).
  func copy(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int? {
    let copied: Int?? = unsafe withPassphrase { bytes in
      guard bytes.count <= capacity else { return nil }
      if let base = bytes.baseAddress, bytes.count > 0 { unsafe buffer.copyMemory(from: base, byteCount: bytes.count) }
      return bytes.count
    }
    switch copied {
    case .some(.some(let count)): return count
    case .some(.none):
      tooLong = true
      return nil
    case .none: return nil
    }
  }

  /// The OSSL_PASSPHRASE_CALLBACK given to decoders.
  static let decoderCallback:
    @convention(c) (
      UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>?, UnsafePointer<OSSL_PARAM>?,
      UnsafeMutableRawPointer?
    ) -> Int32 = { buffer, capacity, length, _, argument in
      guard let buffer = unsafe buffer, let length = unsafe length, let argument = unsafe argument else { return 0 }
      let box = unsafe Unmanaged<PassphraseBox>.fromOpaque(argument).takeUnretainedValue()
      guard let count = unsafe box.copy(into: buffer, capacity: capacity) else { return 0 }
      unsafe length.pointee = count
      return 1
    }

  /// The pem_password_cb given to PEM functions.
  static let pemCallback:
    @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
      buffer, capacity, _, argument in
      guard let buffer = unsafe buffer, let argument = unsafe argument else { return -1 }
      let box = unsafe Unmanaged<PassphraseBox>.fromOpaque(argument).takeUnretainedValue()
      guard let count = unsafe box.copy(into: buffer, capacity: Int(capacity)) else { return -1 }
      return Int32(count)
    }

  /// Runs `body` with an unretained pointer to this box for C callbacks.
  func withCallbackArgument<Result>(_ body: (UnsafeMutableRawPointer) throws -> Result) rethrows -> Result {
    try withExtendedLifetime(self) { unsafe try body(Unmanaged.passUnretained(self).toOpaque()) }
  }
}

/// Decodes `EVP_PKEY`s from PEM and DER: PKCS#8 (plain and encrypted), traditional (plain and
/// encrypted PEM) and SubjectPublicKeyInfo, with errors that say what was wrong.
enum KeyDecoder {
  enum Selection {
    case privateKey
    case publicKey

    var object: String { self == .privateKey ? "private key" : "public key" }
    var kind: ObjectKind { self == .privateKey ? .privateKey : .publicKey }
    var osslSelection: Int32 { self == .privateKey ? oo_EVP_PKEY_KEYPAIR() : oo_EVP_PKEY_PUBLIC_KEY() }
    var labels: [String] { self == .privateKey ? Self.privateKeyLabels : ObjectKind.publicKey.pemLabels }

    private static let privateKeyLabels =
      ObjectKind.privateKey.pemLabels + ObjectKind.encryptedPrivateKey.pemLabels + ["ANY PRIVATE KEY"]
  }

  static func decode(
    _ bytes: UnsafeRawBufferPointer,
    selection: Selection,
    encoding: KeyEncoding,
    source: InputSource,
    limit: Int,
    passphrase: PassphraseBox,
    fetch: FetchScope = .default
  ) throws -> OpaquePointer {
    let key = unsafe try decodeInContext(
      bytes, selection: selection, encoding: encoding, source: source, limit: limit, passphrase: passphrase,
      fetch: fetch)
    do {
      unsafe try fetch.context.keepAlive(key: key)
    } catch {
      unsafe EVP_PKEY_free(key)
      throw InputError(
        .invalidArgument, object: selection.object, source: source.description,
        detail: "its library context could not be attached", openSSLError: error)
    }
    return unsafe key
  }

  private static func decodeInContext(
    _ bytes: UnsafeRawBufferPointer,
    selection: Selection,
    encoding: KeyEncoding,
    source: InputSource,
    limit: Int,
    passphrase: PassphraseBox,
    fetch: FetchScope
  ) throws -> OpaquePointer {
    let object = selection.object
    guard unsafe !bytes.isEmpty else {
      throw InputError(.empty, object: object, source: source.description, detail: "there are no bytes")
    }
    guard bytes.count <= limit else {
      throw InputError(
        .tooLarge, object: object, source: source.description, detail: "\(bytes.count) bytes; the limit is \(limit)")
    }
    let isPEM = unsafe encoding == .pem || (encoding == .automatic && PEM.looksLikePEM(bytes))
    if isPEM {
      return unsafe try decodePEM(bytes, selection: selection, source: source, passphrase: passphrase, fetch: fetch)
    }
    return unsafe try decodeDER(
      bytes, selection: selection, source: source, context: "", passphrase: passphrase, fetch: fetch)
  }

  // MARK: PEM

  private static func decodePEM(
    _ bytes: UnsafeRawBufferPointer,
    selection: Selection,
    source: InputSource,
    passphrase: PassphraseBox,
    fetch: FetchScope
  ) throws -> OpaquePointer {
    let object = selection.object
    var key: OpaquePointer? = nil
    var labels: [String] = []
    var lastEnd = 0
    do {
      unsafe try PEM.forEachBlock(in: bytes, object: object, source: source, secure: true) { block throws(InputError) in
        labels.append(block.label)
        lastEnd = block.endOffset
        guard selection.labels.contains(block.label) else { return true }
        if unsafe key != nil {
          throw InputError(
            .multipleObjects, object: object, source: source.description, offset: block.endOffset,
            detail: "PEM block \(block.index) is a second key; give one key at a time")
        }
        unsafe key = unsafe try decodeBlock(
          block, selection: selection, source: source, passphrase: passphrase, fetch: fetch)
        return true
      }
    } catch {
      unsafe EVP_PKEY_free(key)
      if let thrown = passphrase.thrown { throw thrown }
      throw error
    }
    guard let key = unsafe key else {
      let label = labels.first ?? ""
      let found = ObjectKind.identify(pemLabel: label).map { " (\($0.name.withArticle))" } ?? ""
      throw InputError(
        .wrongPEMLabel, object: object, source: source.description,
        detail: "found a \"\(label)\" PEM block\(found); \(object.withArticle) is labelled "
          + selection.labels.map { "\"\($0)\"" }.joined(separator: ", "))
    }
    guard unsafe PEM.onlyWhitespace(bytes, from: lastEnd) else {
      unsafe EVP_PKEY_free(key)
      throw InputError(
        .trailingData, object: object, source: source.description, offset: lastEnd,
        detail: "\(bytes.count - lastEnd) bytes follow the last PEM block")
    }
    return unsafe key
  }

  private static func decodeBlock(
    _ block: borrowing PEMBlock,
    selection: Selection,
    source: InputSource,
    passphrase: PassphraseBox,
    fetch: FetchScope
  ) throws(InputError) -> OpaquePointer {
    // Only in the default context without a query: elsewhere EVP_PKCS82PKEY_ex falls back to
    // OpenSSL's built-in key methods when the context's providers cannot decode the key, which
    // would make a key the context cannot (LibraryContextTests); the decoder path never does.
    if selection == .privateKey, block.label == "PRIVATE KEY", !block.isEncrypted, fetch.context.isDefault,
      fetch.properties == nil, let key = unsafe block.withDER({ der in unsafe decodePKCS8(der, fetch: fetch) })
    {
      return unsafe key
    }
    let context = "PEM block \(block.index) (\(block.label))"
    if block.label == "ENCRYPTED PRIVATE KEY" {
      return unsafe try block.withDER { der throws(InputError) in
        unsafe try decryptPKCS8(der, source: source, context: context, passphrase: passphrase, fetch: fetch)
      }
    }
    var length = block.derCount
    if block.isEncrypted {
      length = try decryptTraditional(block, source: source, context: context, passphrase: passphrase, fetch: fetch)
    }
    let (structure, keyType) = structure(forLabel: block.label)
    return unsafe try block.withDER { all throws(InputError) in
      let der = unsafe UnsafeRawBufferPointer(rebasing: all[0..<length])
      return unsafe try decodeWithDecoder(
        der, selection: selection, structure: structure, keyType: keyType, source: source, context: context,
        passphrase: passphrase, fetch: fetch, classify: block.isEncrypted ? .wrongPassphrase : nil)
    }
  }

  /// Unencrypted PKCS#8 read as OpenSSL's own PEM reader reads it (`d2i_PKCS8_PRIV_KEY_INFO`,
  /// `EVP_PKCS82PKEY_ex`): from OpenSSL 3.5 on far cheaper than a decoder context. `nil` when the
  /// bytes are not exactly one key it can use; the decoder path then says what is wrong. For the
  /// default library context only.
  private static func decodePKCS8(_ der: UnsafeRawBufferPointer, fetch: FetchScope) -> OpaquePointer? {
    guard let base = unsafe der.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
    return unsafe ErrorQueue.isolated { _ -> OpaquePointer? in
      var cursor: UnsafePointer<UInt8>? = unsafe UnsafePointer(base)
      guard let info = unsafe d2i_PKCS8_PRIV_KEY_INFO(nil, &cursor, der.count) else { return nil }
      defer { unsafe PKCS8_PRIV_KEY_INFO_free(info) }
      guard unsafe cursor == UnsafePointer(base) + der.count else { return nil }
      return unsafe EVP_PKCS82PKEY_ex(info, fetch.context.pointer, fetch.properties.text)
    }
  }

  /// The decoder structure and key type a PEM label implies.
  private static func structure(forLabel label: String) -> (String?, String?) {
    switch label {
    case "PRIVATE KEY": return ("PrivateKeyInfo", nil)
    case "PUBLIC KEY": return ("SubjectPublicKeyInfo", nil)
    case "RSA PRIVATE KEY", "RSA PUBLIC KEY": return ("type-specific", "RSA")
    case "EC PRIVATE KEY": return ("type-specific", "EC")
    case "DSA PRIVATE KEY": return ("type-specific", "DSA")
    default: return (nil, nil)
    }
  }

  // MARK: DER

  private static func decodeDER(
    _ bytes: UnsafeRawBufferPointer,
    selection: Selection,
    source: InputSource,
    context: String,
    passphrase: PassphraseBox,
    fetch: FetchScope
  ) throws -> OpaquePointer {
    if selection == .privateKey, unsafe ObjectKind.encryptedPrivateKey.matches(bytes) {
      do {
        return unsafe try decryptPKCS8(bytes, source: source, context: context, passphrase: passphrase, fetch: fetch)
      } catch {
        if let thrown = passphrase.thrown { throw thrown }
        throw error
      }
    }
    let where_ = context.isEmpty ? "" : " in \(context)"
    unsafe try DER.checkHeader(bytes, object: selection.object, source: source, context: where_)
    do {
      return unsafe try decodeWithDecoder(
        bytes, selection: selection, structure: nil, keyType: nil, source: source, context: context,
        passphrase: passphrase, fetch: fetch, classify: nil)
    } catch {
      if let thrown = passphrase.thrown { throw thrown }
      throw error
    }
  }

  /// Decodes DER with `OSSL_DECODER_from_data`, which also reports the bytes it did not use.
  private static func decodeWithDecoder(
    _ der: UnsafeRawBufferPointer,
    selection: Selection,
    structure: String?,
    keyType: String?,
    source: InputSource,
    context: String,
    passphrase: PassphraseBox,
    fetch: FetchScope,
    classify: InputError.Reason?
  ) throws(InputError) -> OpaquePointer {
    let where_ = context.isEmpty ? "" : " in \(context)"
    // OSSL_DECODER_CTX_new_for_pkey keeps the input type and structure pointers it is given
    // (OSSL_DECODER_CTX_set_input_type does not copy): the C strings must outlive the decoder,
    // not only the call, so the whole decoding runs inside them.
    return unsafe try withOptionalCString("DER") { inputType throws(InputError) -> OpaquePointer in
      unsafe try withOptionalCString(structure) { structure throws(InputError) -> OpaquePointer in
        unsafe try withOptionalCString(keyType) { keyType throws(InputError) -> OpaquePointer in
          unsafe try decode(
            der, selection: selection, inputType: inputType, structure: structure, keyType: keyType, source: source,
            where_: where_, passphrase: passphrase, fetch: fetch, classify: classify)
        }
      }
    }
  }

  /// Runs `body` with `text` as a C string, or with `nil`.
  private static func withOptionalCString<Result>(
    _ text: String?, _ body: (UnsafePointer<CChar>?) throws(InputError) -> Result
  ) throws(InputError) -> Result {
    guard let text else { return try body(nil) }
    let bytes = Array(text.utf8CString)
    return unsafe try bytes.withUnsafeBufferPointer { (buffer) throws(InputError) -> Result in
      unsafe try body(buffer.baseAddress)
    }
  }

  private static func decode(
    _ der: UnsafeRawBufferPointer,
    selection: Selection,
    inputType: UnsafePointer<CChar>?,
    structure: UnsafePointer<CChar>?,
    keyType: UnsafePointer<CChar>?,
    source: InputSource,
    where_: String,
    passphrase: PassphraseBox,
    fetch: FetchScope,
    classify: InputError.Reason?
  ) throws(InputError) -> OpaquePointer {
    let object = selection.object
    return unsafe try ErrorQueue.isolated { scope throws(InputError) -> OpaquePointer in
      var key: OpaquePointer? = nil
      guard
        let decoder = unsafe OSSL_DECODER_CTX_new_for_pkey(
          &key, inputType, structure, keyType, selection.osslSelection, fetch.context.pointer, fetch.properties.text)
      else {
        throw InputError(
          .unsupported, object: object, source: source.description,
          detail: "OpenSSL has no decoder for this input", openSSLError: scope.failure("OSSL_DECODER_CTX_new_for_pkey"))
      }
      defer { unsafe OSSL_DECODER_CTX_free(decoder) }
      var cursor = unsafe der.baseAddress?.assumingMemoryBound(to: UInt8.self)
      var remaining = der.count
      let status = unsafe passphrase.withCallbackArgument { argument in
        _ = unsafe OSSL_DECODER_CTX_set_passphrase_cb(decoder, PassphraseBox.decoderCallback, argument)
        return unsafe OSSL_DECODER_from_data(decoder, &cursor, &remaining)
      }
      guard status == 1, let key = unsafe key else {
        let error = scope.failure("OSSL_DECODER_from_data")
        if let kind = unsafe ObjectKind.identify(der: der), kind.name != object {
          throw InputError(
            .wrongType, object: object, source: source.description, offset: 0,
            detail: "the DER\(where_) is \(kind.name.withArticle), not \(object.withArticle)", openSSLError: error)
        }
        throw InputError(
          classify ?? .malformed, object: object, source: source.description,
          detail: classify == .wrongPassphrase
            ? "the passphrase did not decrypt the key\(where_)"
            : "the DER\(where_) is not \(object.withArticle) OpenSSL can decode", openSSLError: error)
      }
      if remaining > 0 {
        unsafe EVP_PKEY_free(key)
        throw InputError(
          .trailingData, object: object, source: source.description, offset: der.count - remaining,
          detail: "\(remaining) bytes follow the key\(where_)")
      }
      return unsafe key
    }
  }

  // MARK: Encryption

  /// Decrypts an encrypted PKCS#8 key (`d2i_X509_SIG`, `PKCS8_decrypt_ex`, `EVP_PKCS82PKEY_ex`).
  /// The passphrase goes to OpenSSL as bytes with their length, so there is no buffer limit.
  private static func decryptPKCS8(
    _ der: UnsafeRawBufferPointer,
    source: InputSource,
    context: String,
    passphrase: PassphraseBox,
    fetch: FetchScope
  ) throws(InputError) -> OpaquePointer {
    let object = "private key"
    let where_ = context.isEmpty ? "" : " in \(context)"
    let signature = unsafe try DER.decode(
      der, object: "encrypted private key", source: source, operation: "d2i_X509_SIG", context: context,
      d2i: { unsafe d2i_X509_SIG($0, $1, $2) }, free: { unsafe X509_SIG_free($0) })
    defer { unsafe X509_SIG_free(signature) }
    return unsafe try ErrorQueue.isolated { scope throws(InputError) -> OpaquePointer in
      let decrypted = unsafe passphrase.withPassphrase { bytes in
        unsafe bytes.withMemoryRebound(to: CChar.self) {
          unsafe PKCS8_decrypt_ex(
            signature, $0.baseAddress, Int32($0.count), fetch.context.pointer, fetch.properties.text)
        }
      }
      guard let decrypted = unsafe decrypted else {
        throw InputError(
          .passphraseRequired, object: object, source: source.description,
          detail: "the key\(where_) is encrypted (PKCS#8) and no passphrase was given")
      }
      guard let info = unsafe decrypted else {
        let error = scope.failure("PKCS8_decrypt_ex")
        if isUnsupportedAlgorithm(error) {
          throw InputError(
            .unsupported, object: object, source: source.description,
            detail: "the key\(where_) is encrypted with an algorithm this OpenSSL does not offer", openSSLError: error)
        }
        throw InputError(
          .wrongPassphrase, object: object, source: source.description,
          detail: "the passphrase did not decrypt the key\(where_)", openSSLError: error)
      }
      defer { unsafe PKCS8_PRIV_KEY_INFO_free(info) }
      guard let key = unsafe EVP_PKCS82PKEY_ex(info, fetch.context.pointer, fetch.properties.text) else {
        throw InputError(
          .malformed, object: object, source: source.description,
          detail: "the decrypted key\(where_) is not a key OpenSSL can use",
          openSSLError: scope.failure("EVP_PKCS82PKEY_ex"))
      }
      return unsafe key
    }
  }

  /// Decrypts a traditional encrypted PEM block (`Proc-Type: 4,ENCRYPTED`) in place with
  /// `PEM_do_header` and our passphrase callback (never OpenSSL's terminal prompt). OpenSSL's
  /// callback buffer holds 1024 bytes; longer passphrases are derived and decrypted here with the
  /// same steps PEM_do_header takes (`EVP_BytesToKey` with MD5, then the block cipher).
  private static func decryptTraditional(
    _ block: borrowing PEMBlock,
    source: InputSource,
    context: String,
    passphrase: PassphraseBox,
    fetch: FetchScope
  ) throws(InputError) -> Int {
    let object = "private key"
    return try ErrorQueue.isolated { scope throws(InputError) -> Int in
      var info = unsafe EVP_CIPHER_INFO()
      var headers = Array(block.headers.utf8CString)
      guard unsafe PEM_get_EVP_CIPHER_INFO(&headers, &info) == 1, unsafe info.cipher != nil else {
        throw InputError(
          .unsupported, object: object, source: source.description,
          detail: "the encryption header of \(context) names a cipher this OpenSSL does not offer",
          openSSLError: scope.failure("PEM_get_EVP_CIPHER_INFO"))
      }
      var length = block.derCount
      let status = unsafe passphrase.withCallbackArgument { argument in
        unsafe PEM_do_header(&info, block.mutableData, &length, PassphraseBox.pemCallback, argument)
      }
      if status == 1 { return length }
      let error = scope.failure("PEM_do_header")
      if passphrase.tooLong {
        if let length = unsafe decryptTraditionalLongPassphrase(
          block, info: &info, passphrase: passphrase, fetch: fetch)
        {
          return length
        }
      } else if unsafe !passphrase.wasAsked || passphrase.withPassphrase({ _ in true }) == nil {
        // When the user's closure threw, the caller rethrows that error instead of this one.
        throw InputError(
          .passphraseRequired, object: object, source: source.description,
          detail:
            "the key in \(context) is encrypted (\(block.headers.split(separator: "\n").last ?? "")) and no passphrase was given"
        )
      }
      throw InputError(
        .wrongPassphrase, object: object, source: source.description,
        detail: "the passphrase did not decrypt the key in \(context)", openSSLError: error)
    }
  }

  private static func decryptTraditionalLongPassphrase(
    _ block: borrowing PEMBlock,
    info: inout EVP_CIPHER_INFO,
    passphrase: PassphraseBox,
    fetch: FetchScope
  ) -> Int? {
    guard let data = unsafe block.mutableData, let cipher = unsafe info.cipher else { return nil }
    var key = [UInt8](repeating: 0, count: Int(EVP_MAX_KEY_LENGTH))
    defer { unsafe OPENSSL_cleanse(&key, key.count) }
    let iv = unsafe withUnsafeBytes(of: &info.iv) { unsafe Array($0) }
    let derived: Int32? = unsafe passphrase.withPassphrase { bytes in
      unsafe EVP_BytesToKey(
        cipher, EVP_md5(), iv, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(bytes.count), 1, &key, nil)
    }
    guard let derived, derived > 0 else { return nil }
    guard let context = unsafe EVP_CIPHER_CTX_new() else { return nil }
    defer { unsafe EVP_CIPHER_CTX_free(context) }
    var output = [UInt8](repeating: 0, count: block.derCount + Int(EVP_MAX_BLOCK_LENGTH))
    defer { unsafe OPENSSL_cleanse(&output, output.count) }
    var written: Int32 = 0
    var final: Int32 = 0
    guard unsafe EVP_DecryptInit_ex(context, cipher, nil, key, iv) == 1,
      unsafe EVP_DecryptUpdate(context, &output, &written, data, Int32(block.derCount)) == 1,
      unsafe output.withUnsafeMutableBufferPointer({
        unsafe EVP_DecryptFinal_ex(context, $0.baseAddress! + Int(written), &final)
      })
        == 1
    else { return nil }
    let total = Int(written + final)
    unsafe output.withUnsafeBytes {
      unsafe UnsafeMutableRawPointer(data).copyMemory(from: $0.baseAddress!, byteCount: total)
    }
    return total
  }

  static func isUnsupportedAlgorithm(_ error: OpenSSLError) -> Bool {
    error.entries.contains {
      $0.reason == ERR_R_UNSUPPORTED || ($0.library == ERR_LIB_EVP && $0.reason == EVP_R_UNSUPPORTED_ALGORITHM)
        || ($0.library == ERR_LIB_EVP && $0.reason == EVP_R_UNSUPPORTED_CIPHER)
    }
  }
}
