import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// A private key (`EVP_PKEY` with its private half, in memory or on a token).
///
/// Owns exactly one `EVP_PKEY` reference, dropped with `EVP_PKEY_free`. Doors: adopt
/// (``init(takingOwnershipOf:)``), borrow, retain (`EVP_PKEY_up_ref`) and hand over. The key is
/// immutable and OpenSSL's operations on an `EVP_PKEY` are thread-safe, hence `Sendable`.
///
/// Keys load from memory or files, PEM or DER, PKCS#8 or traditional, encrypted or not; the
/// content is detected (`OSSL_DECODER`). A passphrase is asked for only when the key is encrypted,
/// through a closure, and never on a terminal.
public final class PrivateKey: OpenSSLObjectBase, AsymmetricKey, @unchecked Sendable {
  override package class var cType: CObjectType { .evpPKey }

  // MARK: - Loading

  /// Reads a private key from PEM or DER bytes.
  ///
  /// - Parameters:
  ///   - bytes: the PEM or DER input.
  ///   - encoding: PEM, DER, or detected from the content.
  ///   - limit: the largest input accepted.
  ///   - passphrase: called at most once, and only if the key is encrypted; returns the
  ///     passphrase, or `nil` for none. An error it throws is rethrown unchanged.
  ///   - libraryContext: the library context whose decoders and key management read the key (the
  ///     default by default); the key keeps it alive and signs with its providers.
  ///   - properties: the property query for the decoders, or `nil`.
  /// - Throws: ``InputError`` (empty, truncated, trailing data, malformed, wrong PEM label, wrong
  ///   type, passphrase required, wrong passphrase, unsupported, too large), or the error the
  ///   passphrase closure threw.
  public convenience init(
    bytes: some ContiguousBytes,
    encoding: KeyEncoding = .automatic,
    limit: Int = InputLimits.defaultMaximumSize,
    passphrase: @escaping () throws -> Passphrase? = { nil },
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil
  ) throws {
    let pointer = unsafe try withContiguousBytes(bytes) { buffer in
      unsafe try KeyDecoder.decode(
        buffer, selection: .privateKey, encoding: encoding, source: .memory(count: buffer.count), limit: limit,
        passphrase: PassphraseBox(passphrase),
        fetch: FetchScope(libraryContext, properties))
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads a private key from PEM or DER bytes with a known passphrase (copied for the load and
  /// wiped after).
  public convenience init(
    bytes: some ContiguousBytes,
    encoding: KeyEncoding = .automatic,
    limit: Int = InputLimits.defaultMaximumSize,
    passphrase: borrowing Passphrase,
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil
  ) throws {
    let copy = passphrase.copy()
    let box = PassphraseBox.holding(copy)
    let pointer = unsafe try withContiguousBytes(bytes) { buffer in
      unsafe try KeyDecoder.decode(
        buffer, selection: .privateKey, encoding: encoding, source: .memory(count: buffer.count), limit: limit,
        passphrase: box,
        fetch: FetchScope(libraryContext, properties))
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads a private key from secret bytes (for example the output of ``pemEncoded()``).
  public convenience init(
    secret: borrowing SecretBytes,
    encoding: KeyEncoding = .automatic,
    passphrase: @escaping () throws -> Passphrase? = { nil },
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil
  ) throws {
    let pointer = unsafe try secret.withUnsafeBytes { buffer in
      unsafe try KeyDecoder.decode(
        buffer, selection: .privateKey, encoding: encoding, source: .named("secret bytes (\(buffer.count))"),
        limit: InputLimits.defaultMaximumSize, passphrase: PassphraseBox(passphrase),
        fetch: FetchScope(libraryContext, properties))
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads a private key from a PEM or DER file, through a buffer that is wiped afterwards.
  public convenience init(
    contentsOfFile path: String,
    limit: Int = InputLimits.defaultMaximumSize,
    passphrase: @escaping () throws -> Passphrase? = { nil },
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil
  ) throws {
    var pointer: OpaquePointer? = nil
    var failure: (any Error)? = nil
    unsafe try InputFile.read(path, object: "private key", limit: limit) { (buffer: UnsafeRawBufferPointer) in
      do {
        unsafe pointer = unsafe try KeyDecoder.decode(
          buffer, selection: .privateKey, encoding: .automatic, source: .file(path), limit: limit,
          passphrase: PassphraseBox(passphrase),
          fetch: FetchScope(libraryContext, properties))
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer!))
  }

  /// Reads a private key from a PEM or DER file with a known passphrase.
  public convenience init(
    contentsOfFile path: String,
    limit: Int = InputLimits.defaultMaximumSize,
    passphrase: borrowing Passphrase,
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil
  ) throws {
    let box = PassphraseBox.holding(passphrase.copy())
    var pointer: OpaquePointer? = nil
    var failure: (any Error)? = nil
    unsafe try InputFile.read(path, object: "private key", limit: limit) { (buffer: UnsafeRawBufferPointer) in
      do {
        unsafe pointer = unsafe try KeyDecoder.decode(
          buffer, selection: .privateKey, encoding: .automatic, source: .file(path), limit: limit, passphrase: box,
          fetch: FetchScope(libraryContext, properties))
      } catch {
        failure = error
      }
    }
    if let failure { throw failure }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer!))
  }

  // MARK: - Generating

  /// The elliptic curves keys can be generated on.
  public enum Curve: String, Sendable, CaseIterable {
    /// NIST P-256 (`prime256v1`).
    case p256 = "P-256"
    /// NIST P-384 (`secp384r1`).
    case p384 = "P-384"
    /// NIST P-521 (`secp521r1`).
    case p521 = "P-521"
  }

  /// The ML-DSA parameter sets (FIPS 204), from OpenSSL 3.5 on.
  public enum MLDSAParameterSet: String, Sendable, CaseIterable {
    /// ML-DSA-44 (security category 2).
    case mlDSA44 = "ML-DSA-44"
    /// ML-DSA-65 (security category 3).
    case mlDSA65 = "ML-DSA-65"
    /// ML-DSA-87 (security category 5).
    case mlDSA87 = "ML-DSA-87"
  }

  /// What kind of key to generate.
  public enum KeyType: Sendable, Hashable {
    /// RSA with a modulus of this many bits (`EVP_RSA_gen`).
    case rsa(bits: Int)
    /// ECDSA on a curve (`EVP_EC_gen`).
    case ec(Curve)
    /// Ed25519 (`EVP_PKEY_Q_keygen(..., "ED25519")`).
    case ed25519
    /// Ed448 (`EVP_PKEY_Q_keygen(..., "ED448")`).
    case ed448
    /// ML-DSA, the post-quantum signature of FIPS 204 (`EVP_PKEY_Q_keygen(..., "ML-DSA-65")`):
    /// OpenSSL 3.5 or newer.
    case mlDSA(MLDSAParameterSet)
  }

  /// Generates a new key (`EVP_PKEY_Q_keygen`).
  ///
  /// - Parameters:
  ///   - type: the algorithm and its size or curve.
  ///   - libraryContext: the library context whose providers generate it (the default by default);
  ///     the key keeps that context alive.
  ///   - properties: the property query for the key management implementation, or `nil`.
  /// - Throws: ``InputError`` with ``InputError/Reason/invalidArgument`` for sizes OpenSSL
  ///   refuses (RSA below 512 bits or above 16384); ``InputError/Reason/requiresNewerOpenSSL``
  ///   (naming the version) for ML-DSA before OpenSSL 3.5; ``InputError/Reason/unsupported`` when
  ///   no provider of the context generates the type.
  public convenience init(
    generating type: KeyType, libraryContext: LibraryContext = .default, properties: PropertyQuery? = nil
  ) throws(InputError) {
    if case .mlDSA(let set) = type {
      try OpenSSLLibrary.require(
        OpenSSLLibrary.postQuantumMinimumVersion, for: set.rawValue, object: "\(set.rawValue) key",
        source: "generation")
    }
    let context = unsafe libraryContext.pointer
    let query = properties.text
    let pointer = unsafe try ErrorQueue.isolated { scope throws(InputError) -> OpaquePointer in
      let key: OpaquePointer?
      switch type {
      case .rsa(let bits):
        guard (512...16384).contains(bits) else {
          throw InputError(
            .invalidArgument, object: "RSA key", source: "generation",
            detail: "\(bits) bits; OpenSSL generates 512 to 16384")
        }
        unsafe key = unsafe oo_EVP_RSA_gen(context, query, bits)
      case .ec(let curve): unsafe key = unsafe oo_EVP_EC_gen(context, query, curve.rawValue)
      case .ed25519: unsafe key = unsafe oo_EVP_PKEY_Q_keygen_simple(context, query, "ED25519")
      case .ed448: unsafe key = unsafe oo_EVP_PKEY_Q_keygen_simple(context, query, "ED448")
      case .mlDSA(let set): unsafe key = unsafe oo_EVP_PKEY_Q_keygen_simple(context, query, set.rawValue)
      }
      guard let key = unsafe key else {
        throw InputError(
          libraryContext.isDefault && properties == nil ? .invalidArgument : .unsupported, object: "key",
          source: "generation",
          detail: "OpenSSL could not generate \(type)"
            + (libraryContext.isDefault ? "" : " in this library context")
            + (properties.map { " with the properties \"\($0.text)\"" } ?? ""),
          openSSLError: scope.failure("EVP_PKEY_Q_keygen"))
      }
      return unsafe key
    }
    do {
      unsafe try libraryContext.keepAlive(key: pointer)
    } catch {
      unsafe EVP_PKEY_free(pointer)
      throw InputError(
        .invalidArgument, object: "key", source: "generation", detail: "its library context could not be attached",
        openSSLError: error)
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  // MARK: - Public half

  /// The public half as a ``PublicKey`` of its own (`i2d_PUBKEY`, `d2i_PUBKEY`): it holds no
  /// private material and does not keep this key alive.
  public var publicKey: PublicKey {
    get throws {
      let der = try subjectPublicKeyInfo
      return try PublicKey(bytes: der, encoding: .der)
    }
  }

  /// Whether this key is the private half of the certificate's public key (`X509_check_private_key`).
  public func matches(_ certificate: X509Certificate) -> Bool {
    ErrorQueue.isolated { _ in unsafe X509_check_private_key(certificate.pointer, pointer) == 1 }
  }

  // MARK: - Signing

  /// Signs `data` (`EVP_DigestSignInit`, `EVP_DigestSign`) with a digest fetched once per process;
  /// a key made in another library context, or a property query, signs through
  /// `EVP_DigestSignInit_ex` in that context.
  ///
  /// - Parameters:
  ///   - data: the message to sign (not its digest).
  ///   - digest: the digest; `nil` takes SHA-256 for RSA and EC and none for EdDSA (which must
  ///     not be given one).
  ///   - padding: the RSA padding, PKCS#1 v1.5 or PSS (ignored for other keys).
  ///   - properties: the property query for the signature algorithm (`EVP_DigestSignInit_ex`),
  ///     fetched from the library context the key was made in; `nil` for none.
  /// - Throws: ``InputError`` if the options do not fit the key or OpenSSL cannot sign.
  public func signature(
    for data: some ContiguousBytes,
    digest: Digest? = nil,
    padding: RSAPadding = .pkcs1v15,
    properties: PropertyQuery? = nil
  ) throws(InputError) -> [UInt8] {
    unsafe try withContiguousBytes(data) { (bytes: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try SignatureOperation.sign(
        key: pointer, algorithm: algorithm, data: bytes, digest: digest, padding: padding, properties: properties)
    }
  }

  // MARK: - Exporting

  /// The ciphers for encrypted PKCS#8 export.
  public enum ExportCipher: String, Sendable {
    /// AES-256-CBC with PBKDF2-HMAC-SHA256 (PBES2), OpenSSL's default.
    case aes256CBC = "AES-256-CBC"
    /// AES-128-CBC with PBKDF2-HMAC-SHA256.
    case aes128CBC = "AES-128-CBC"
  }

  /// Unencrypted PKCS#8 PEM (`PRIVATE KEY`), in a wiped buffer (`PEM_write_bio_PKCS8_PRIV_KEY_INFO`
  /// into a secure-memory BIO).
  public func pemEncoded() throws(OpenSSLError) -> SecretBytes {
    unsafe try withPKCS8 { info throws(OpenSSLError) in
      unsafe try Self.secureOutput("PEM_write_bio_PKCS8_PRIV_KEY_INFO") {
        unsafe PEM_write_bio_PKCS8_PRIV_KEY_INFO($0, info)
      }
    }
  }

  /// Unencrypted PKCS#8 DER, in a wiped buffer (`i2d_PKCS8_PRIV_KEY_INFO_bio`).
  public func derEncoded() throws(OpenSSLError) -> SecretBytes {
    unsafe try withPKCS8 { info throws(OpenSSLError) in
      unsafe try Self.secureOutput("i2d_PKCS8_PRIV_KEY_INFO_bio") { unsafe i2d_PKCS8_PRIV_KEY_INFO_bio($0, info) }
    }
  }

  /// The traditional PEM form (`RSA PRIVATE KEY`, `EC PRIVATE KEY`; `PEM_write_bio_PrivateKey_traditional`).
  public func traditionalPEMEncoded() throws(OpenSSLError) -> SecretBytes {
    unsafe try Self.secureOutput("PEM_write_bio_PrivateKey_traditional") {
      unsafe PEM_write_bio_PrivateKey_traditional($0, pointer, nil, nil, 0, nil, nil)
    }
  }

  /// Encrypted PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`): `PKCS8_encrypt_ex` with PBES2 and the
  /// cipher given. The passphrase goes to OpenSSL with its length, so any length works.
  public func pemEncoded(
    passphrase: borrowing Passphrase,
    cipher: ExportCipher = .aes256CBC,
    iterations: Int = 2048
  ) throws(OpenSSLError) -> SecretBytes {
    unsafe try withEncryptedPKCS8(passphrase: passphrase, cipher: cipher, iterations: iterations) {
      signature throws(OpenSSLError) in
      unsafe try Self.secureOutput("PEM_write_bio_PKCS8") { unsafe PEM_write_bio_PKCS8($0, signature) }
    }
  }

  /// Encrypted PKCS#8 DER (`i2d_PKCS8_bio`), see ``pemEncoded(passphrase:cipher:iterations:)``.
  public func derEncoded(
    passphrase: borrowing Passphrase,
    cipher: ExportCipher = .aes256CBC,
    iterations: Int = 2048
  ) throws(OpenSSLError) -> SecretBytes {
    unsafe try withEncryptedPKCS8(passphrase: passphrase, cipher: cipher, iterations: iterations) {
      signature throws(OpenSSLError) in
      unsafe try Self.secureOutput("i2d_PKCS8_bio") { unsafe i2d_PKCS8_bio($0, signature) }
    }
  }

  private func withPKCS8<Result: ~Copyable>(
    _ body: (OpaquePointer) throws(OpenSSLError) -> Result
  ) throws(OpenSSLError) -> Result {
    let info = unsafe try ErrorQueue.call("EVP_PKEY2PKCS8") { unsafe EVP_PKEY2PKCS8(pointer) }
    defer { unsafe PKCS8_PRIV_KEY_INFO_free(info) }
    return unsafe try body(info)
  }

  private func withEncryptedPKCS8<Result: ~Copyable>(
    passphrase: borrowing Passphrase,
    cipher: ExportCipher,
    iterations: Int,
    _ body: (OpaquePointer) throws(OpenSSLError) -> Result
  ) throws(OpenSSLError) -> Result {
    unsafe try withPKCS8 { info throws(OpenSSLError) in
      let evpCipher = unsafe try ErrorQueue.call("EVP_CIPHER_fetch") {
        unsafe EVP_CIPHER_fetch(nil, cipher.rawValue, nil)
      }
      defer { unsafe EVP_CIPHER_free(evpCipher) }
      let signature = unsafe try passphrase.withUnsafeBytes { bytes throws(OpenSSLError) in
        unsafe try ErrorQueue.call("PKCS8_encrypt_ex") {
          unsafe bytes.withMemoryRebound(to: CChar.self) {
            unsafe PKCS8_encrypt_ex(
              -1, evpCipher, $0.baseAddress, Int32($0.count), nil, 0, Int32(iterations), info, nil, nil)
          }
        }
      }
      defer { unsafe X509_SIG_free(signature) }
      return unsafe try body(signature)
    }
  }

  /// Runs a writer into a secure-memory BIO (`BIO_s_secmem`, wiped when freed) and returns the
  /// output in a wiped buffer.
  static func secureOutput(_ operation: String, _ write: (OpaquePointer) -> Int32) throws(OpenSSLError) -> SecretBytes {
    let bio = unsafe BIO_new(BIO_s_secmem())!
    defer { unsafe BIO_free(bio) }
    try ErrorQueue.check(operation) { unsafe write(bio) }
    var data: UnsafeMutablePointer<CChar>? = nil
    let count = unsafe oo_BIO_get_mem_data(bio, &data)
    return unsafe SecretBytes(copying: UnsafeRawBufferPointer(start: data, count: count))
  }
}

extension PassphraseBox {
  /// A box that hands out a passphrase already in hand.
  static func holding(_ passphrase: consuming Passphrase) -> PassphraseBox {
    let holder = PassphraseHolder(passphrase)
    return PassphraseBox { holder.take() }
  }
}

/// Holds one passphrase until the decoder asks for it.
private final class PassphraseHolder {
  private var passphrase: Passphrase?

  init(_ passphrase: consuming Passphrase) {
    self.passphrase = .some(passphrase)
  }

  func take() -> Passphrase? {
    passphrase.take()
  }
}

extension PrivateKey: CustomStringConvertible {
  /// Describes the key without any key material.
  public var description: String {
    "PrivateKey(\(algorithm), \(bits) bits\(curveName.map { ", \($0)" } ?? ""))"
  }
}
