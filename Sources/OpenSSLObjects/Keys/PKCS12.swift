import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// The contents of a PKCS#12 file (`PKCS12_parse`): a certificate, its private key and a chain.
///
/// Reading: files made with old algorithms (RC2, 3DES, SHA-1 MACs; `openssl pkcs12 -legacy`)
/// need OpenSSL's legacy provider, which is loaded on demand into the default library context
/// the first time such a file is met; if it cannot be loaded, the error says so. Writing uses
/// OpenSSL 3's defaults (AES-256-CBC with PBKDF2, HMAC-SHA-256 MAC).
public struct PKCS12Bundle: Sendable {
  /// The certificate that goes with the key.
  public var certificate: X509Certificate?
  /// The private key.
  public var privateKey: PrivateKey?
  /// Further certificates (the chain), in the file's order.
  public var chain: [X509Certificate]

  /// Makes a bundle to write.
  public init(certificate: X509Certificate?, privateKey: PrivateKey?, chain: [X509Certificate] = []) {
    self.certificate = certificate
    self.privateKey = privateKey
    self.chain = chain
  }

  /// Reads a PKCS#12 file from DER bytes (`d2i_PKCS12`, `PKCS12_verify_mac`, `PKCS12_parse`).
  ///
  /// - Throws: ``InputError``: malformed, wrong passphrase, invalid passphrase (a NUL byte:
  ///   PKCS#12 passphrases are C strings), or unsupported (the legacy provider is missing).
  public init(derEncoded bytes: some ContiguousBytes, passphrase: borrowing Passphrase) throws(InputError) {
    self = unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try Self.parse(buffer, source: .memory(count: buffer.count), passphrase: passphrase)
    }
  }

  /// Reads a PKCS#12 file.
  public init(contentsOfFile path: String, passphrase: borrowing Passphrase) throws(InputError) {
    let bytes = try InputFile.read(path, object: "PKCS#12 file")
    self = unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try Self.parse(buffer, source: .file(path), passphrase: passphrase)
    }
  }

  /// Writes the bundle as PKCS#12 DER (`PKCS12_create_ex`, `i2d_PKCS12`).
  ///
  /// - Parameters:
  ///   - passphrase: the passphrase for the MAC and the encryption (a C string: no NUL bytes).
  ///   - friendlyName: the name shown for the key and certificate, if any.
  public func derEncoded(passphrase: borrowing Passphrase, friendlyName: String? = nil) throws(InputError) -> [UInt8] {
    let object = "PKCS#12 file"
    return unsafe try Self.withCString(passphrase, object: object, source: "the passphrase") {
      pass throws(InputError) in
      unsafe try X509Stack.withStack(chain) { stack throws(InputError) -> [UInt8] in
        try ErrorQueue.isolated { scope throws(InputError) -> [UInt8] in
          guard
            let pkcs12 = unsafe PKCS12_create_ex(
              pass, friendlyName, privateKey?.pointer, certificate?.pointer, stack, 0, 0, 0, 0, 0, nil, nil)
          else {
            throw InputError(
              .invalidArgument, object: object, source: "the bundle",
              detail: "OpenSSL could not make the PKCS#12 structure",
              openSSLError: scope.failure("PKCS12_create_ex"))
          }
          defer { unsafe PKCS12_free(pkcs12) }
          return try InputError.converting(object, reason: .invalidArgument) { () throws(OpenSSLError) in
            unsafe try DER.encode("i2d_PKCS12") { unsafe i2d_PKCS12(pkcs12, $0) }
          }
        }
      }
    }
  }

  // MARK: Internals

  private static func parse(
    _ buffer: UnsafeRawBufferPointer, source: InputSource, passphrase: borrowing Passphrase
  ) throws(InputError)
    -> PKCS12Bundle
  {
    let object = "PKCS#12 file"
    let pkcs12 = unsafe try DER.decode(
      buffer, object: object, source: source, operation: "d2i_PKCS12", d2i: { unsafe d2i_PKCS12($0, $1, $2) },
      free: { unsafe PKCS12_free($0) })
    defer { unsafe PKCS12_free(pkcs12) }
    return unsafe try withCString(passphrase, object: object, source: source.description) { pass throws(InputError) in
      do throws(InputError) {
        return unsafe try parseOnce(pkcs12, pass: pass, source: source)
      } catch {
        guard error.reason == .unsupported else { throw error }
        // Old files: load the legacy provider once and try again.
        try LegacyProvider.load(for: object, source: source.description, after: error)
        return unsafe try parseOnce(pkcs12, pass: pass, source: source)
      }
    }
  }

  private static func parseOnce(
    _ pkcs12: OpaquePointer, pass: UnsafePointer<CChar>, source: InputSource
  ) throws(InputError)
    -> PKCS12Bundle
  {
    let object = "PKCS#12 file"
    return try ErrorQueue.isolated { scope throws(InputError) -> PKCS12Bundle in
      if unsafe PKCS12_mac_present(pkcs12) == 1 && PKCS12_verify_mac(pkcs12, pass, -1) != 1 {
        let error = scope.failure("PKCS12_verify_mac")
        if KeyDecoder.isUnsupportedAlgorithm(error) {
          throw InputError(
            .unsupported, object: object, source: source.description, detail: "the MAC uses an algorithm not loaded",
            openSSLError: error)
        }
        throw InputError(
          .wrongPassphrase, object: object, source: source.description,
          detail: "the passphrase does not verify the file's MAC", openSSLError: error)
      }
      var key: OpaquePointer? = nil
      var certificate: OpaquePointer? = nil
      var chain: OpaquePointer? = nil
      guard unsafe PKCS12_parse(pkcs12, pass, &key, &certificate, &chain) == 1 else {
        let error = scope.failure("PKCS12_parse")
        throw InputError(
          KeyDecoder.isUnsupportedAlgorithm(error) ? .unsupported : .wrongPassphrase, object: object,
          source: source.description,
          detail: KeyDecoder.isUnsupportedAlgorithm(error)
            ? "the file is encrypted with an algorithm this OpenSSL has not loaded"
            : "the passphrase did not decrypt the file", openSSLError: error)
      }
      var members: [X509Certificate] = []
      if let chain = unsafe chain {
        for index in unsafe 0..<oo_sk_X509_num(chain) {
          // Take each certificate's reference out of the stack before freeing it.
          if let member = unsafe oo_sk_X509_value(chain, index) {
            unsafe members.append(X509Certificate(takingOwnershipOf: OpenSSLPointer(member)))
          }
        }
        unsafe oo_sk_X509_free(chain)
      }
      return unsafe PKCS12Bundle(
        certificate: certificate.map { unsafe X509Certificate(takingOwnershipOf: OpenSSLPointer($0)) },
        privateKey: unsafe key.map { unsafe PrivateKey(takingOwnershipOf: OpenSSLPointer($0)) }, chain: members)
    }
  }

  /// Lends the passphrase as a NUL-terminated C string in a wiped buffer.
  private static func withCString<Result>(
    _ passphrase: borrowing Passphrase,
    object: String,
    source: String,
    _ body: (UnsafePointer<CChar>) throws(InputError) -> Result
  ) throws(InputError) -> Result {
    if passphrase.containsNUL {
      throw InputError(
        .invalidPassphrase, object: object, source: source,
        detail: "PKCS#12 passphrases are C strings and cannot contain a NUL byte")
    }
    let count = passphrase.count
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: count + 1)
    defer {
      unsafe OPENSSL_cleanse(buffer, count + 1)
      unsafe buffer.deallocate()
    }
    unsafe passphrase.withUnsafeBytes { bytes in
      if let base = bytes.baseAddress, count > 0 {
        unsafe UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: count)
      }
    }
    unsafe buffer[count] = 0
    return unsafe try body(buffer)
  }
}

/// OpenSSL's legacy provider, loaded once on demand into the default library context.
enum LegacyProvider {
  private static let state = LoadState()

  @safe
  private final class LoadState: @unchecked Sendable {
    // Guarded by `lock`; the provider stays loaded for the life of the process.
    var provider: OpaquePointer?
    var failure: OpenSSLError?
    let lock = CryptoLock()
  }

  /// Loads the legacy provider (`OSSL_PROVIDER_try_load(NULL, "legacy", 1)`, keeping the default
  /// provider available), or throws an error that says it is needed and missing.
  static func load(for object: String, source: String, after error: InputError) throws(InputError) {
    let failure = state.lock.withLock { () -> OpenSSLError? in
      if unsafe state.provider != nil { return nil }
      if let failure = state.failure { return failure }
      do throws(OpenSSLError) {
        unsafe state.provider = unsafe try ErrorQueue.call("OSSL_PROVIDER_try_load") {
          unsafe OSSL_PROVIDER_try_load(nil, "legacy", 1)
        }
        return nil
      } catch {
        state.failure = error
        return error
      }
    }
    if let failure {
      throw InputError(
        .unsupported, object: object, source: source,
        detail: "it uses legacy algorithms (such as RC2 or 3DES) that need OpenSSL's legacy provider, "
          + "which could not be loaded: \(failure.last?.description ?? "no reason given")",
        openSSLError: failure)
    }
  }

  /// Whether the legacy provider has been loaded by this library.
  static var isLoaded: Bool { state.lock.withLock { unsafe state.provider != nil } }
}
