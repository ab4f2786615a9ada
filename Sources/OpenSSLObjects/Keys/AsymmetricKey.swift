import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// What a public or private key (`EVP_PKEY`) shares: its algorithm, size and public half.
///
/// ``PublicKey`` and ``PrivateKey`` both wrap `EVP_PKEY`; their raw pointers are typed apart
/// (`OpenSSLPointer<PublicKey>`, `OpenSSLPointer<PrivateKey>`) so that a public key cannot be
/// handed where a private key is expected.
public protocol AsymmetricKey: OpenSSLReferenceCounted, Sendable {}

/// The algorithm of a key.
public struct KeyAlgorithm: Hashable, Sendable, CustomStringConvertible {
  /// OpenSSL's name for the key type (`EVP_PKEY_get0_type_name`), for example `"RSA"`, `"EC"`,
  /// `"ED25519"`.
  public let name: String

  /// RSA.
  public static let rsa = KeyAlgorithm(name: "RSA")
  /// RSA restricted to PSS signatures.
  public static let rsaPSS = KeyAlgorithm(name: "RSA-PSS")
  /// Elliptic-curve keys (ECDSA, ECDH).
  public static let ec = KeyAlgorithm(name: "EC")
  /// Ed25519.
  public static let ed25519 = KeyAlgorithm(name: "ED25519")
  /// Ed448.
  public static let ed448 = KeyAlgorithm(name: "ED448")
  /// DSA.
  public static let dsa = KeyAlgorithm(name: "DSA")
  /// ML-DSA-44 (FIPS 204; OpenSSL 3.5 or newer).
  public static let mlDSA44 = KeyAlgorithm(name: "ML-DSA-44")
  /// ML-DSA-65 (FIPS 204; OpenSSL 3.5 or newer).
  public static let mlDSA65 = KeyAlgorithm(name: "ML-DSA-65")
  /// ML-DSA-87 (FIPS 204; OpenSSL 3.5 or newer).
  public static let mlDSA87 = KeyAlgorithm(name: "ML-DSA-87")

  /// A readable description, without secret material.
  public var description: String { name }

  /// Whether signatures with this algorithm take no separate digest (EdDSA, ML-DSA, SLH-DSA).
  var signsWithoutDigest: Bool {
    self == .ed25519 || self == .ed448 || name.hasPrefix("ML-DSA") || name.hasPrefix("SLH-DSA")
  }
}

extension AsymmetricKey {
  /// The key's algorithm (`EVP_PKEY_get0_type_name`, falling back to the base NID's short name).
  public var algorithm: KeyAlgorithm {
    if let name = unsafe EVP_PKEY_get0_type_name(pointer) {
      return unsafe KeyAlgorithm(name: String(cString: name).uppercased())
    }
    let nid = unsafe EVP_PKEY_get_base_id(pointer)
    return unsafe KeyAlgorithm(name: OBJ_nid2sn(nid).map { unsafe String(cString: $0).uppercased() } ?? "UNKNOWN")
  }

  /// The key size in bits (`EVP_PKEY_get_bits`): the modulus for RSA, the field for EC.
  public var bits: Int { unsafe Int(EVP_PKEY_get_bits(pointer)) }

  /// The key's strength in security bits (`EVP_PKEY_get_security_bits`), as security levels use it.
  public var securityBits: Int { unsafe Int(EVP_PKEY_get_security_bits(pointer)) }

  /// The curve of an EC key (`OSSL_PKEY_PARAM_GROUP_NAME`), for example `"prime256v1"`; `nil`
  /// for other keys.
  public var curveName: String? {
    var buffer = [CChar](repeating: 0, count: 80)
    var length = 0
    let ok = ErrorQueue.isolated { _ in
      unsafe EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &buffer, buffer.count, &length)
    }
    guard ok == 1 else { return nil }
    return unsafe buffer.withUnsafeBufferPointer { unsafe String(cString: $0.baseAddress!) }
  }

  /// The DER SubjectPublicKeyInfo of the public half (`i2d_PUBKEY`).
  public var subjectPublicKeyInfo: [UInt8] {
    get throws(OpenSSLError) { unsafe try DER.encode("i2d_PUBKEY") { unsafe i2d_PUBKEY(pointer, $0) } }
  }

  /// The SPKI pin of the public half: `sha256/` and the base64 of SHA-256 over the DER
  /// SubjectPublicKeyInfo (RFC 7469 `pin-sha256`).
  public var spkiPin: String {
    get throws(OpenSSLError) { SPKIPin.pin(subjectPublicKeyInfo: try subjectPublicKeyInfo) }
  }

  /// The public half in PEM (`PEM_write_bio_PUBKEY`), labelled `PUBLIC KEY`.
  public var publicKeyPEM: String {
    get throws(OpenSSLError) {
      unsafe try PEM.write("PEM_write_bio_PUBKEY") { unsafe PEM_write_bio_PUBKEY($0, pointer) }
    }
  }

  /// Whether both keys have the same public half (`EVP_PKEY_eq`).
  public func hasSamePublicKey(as other: some AsymmetricKey) -> Bool {
    ErrorQueue.isolated { _ in unsafe EVP_PKEY_eq(pointer, other.pointer) == 1 }
  }

  /// Verifies a signature over `data` with the public half (`EVP_DigestVerifyInit`,
  /// `EVP_DigestVerify`).
  ///
  /// - Parameters:
  ///   - signature: the signature bytes.
  ///   - data: the signed message (not its digest).
  ///   - digest: the digest; `nil` takes SHA-256 for RSA and EC and none for EdDSA.
  ///   - padding: the RSA padding (ignored for other keys).
  ///   - properties: the property query for the signature algorithm (`EVP_DigestVerifyInit_ex`),
  ///     fetched from the library context the key was made in; `nil` for none.
  /// - Returns: `true` if the signature is valid, `false` if it is not.
  /// - Throws: ``InputError`` if the options do not fit the key (a digest with EdDSA, PSS with EC).
  public func isValidSignature(
    _ signature: some ContiguousBytes,
    for data: some ContiguousBytes,
    digest: Digest? = nil,
    padding: RSAPadding = .pkcs1v15,
    properties: PropertyQuery? = nil
  ) throws(InputError) -> Bool {
    unsafe try withContiguousBytes(signature) { (signatureBytes: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try withContiguousBytes(data) { (dataBytes: UnsafeRawBufferPointer) throws(InputError) in
        unsafe try SignatureOperation.verify(
          key: pointer, algorithm: algorithm, signature: signatureBytes, data: dataBytes, digest: digest,
          padding: padding, properties: properties)
      }
    }
  }
}

/// The padding of RSA signatures.
public enum RSAPadding: Hashable, Sendable {
  /// PKCS#1 v1.5 (`RSA_PKCS1_PADDING`).
  case pkcs1v15
  /// PSS (`RSA_PKCS1_PSS_PADDING`) with a salt as long as the digest (`RSA_PSS_SALTLEN_DIGEST`).
  case pss
}

/// Signing and verifying with `EVP_DigestSign*` and `EVP_DigestVerify*`.
enum SignatureOperation {
  static func digestAlgorithm(
    _ digest: Digest?,
    for algorithm: KeyAlgorithm,
    object: String
  ) throws(InputError) -> OpaquePointer? {
    if algorithm.signsWithoutDigest {
      guard digest == nil else {
        throw InputError(
          .invalidArgument, object: object, source: "the signing options",
          detail: "\(algorithm) signs the message itself and takes no separate digest (pass digest: nil)")
      }
      return nil
    }
    return unsafe try (digest ?? .sha256).algorithm(for: object)
  }

  /// Sets up an `EVP_MD_CTX` for signing or verifying and runs `body` with it.
  static func withContext<Result>(
    key: OpaquePointer,
    algorithm: KeyAlgorithm,
    digest: Digest?,
    padding: RSAPadding,
    properties: PropertyQuery?,
    signing: Bool,
    _ body: (OpaquePointer, borrowing ErrorQueue.Scope) throws(InputError) -> Result
  ) throws(InputError) -> Result {
    let object = signing ? "signature" : "signature verification"
    let md = unsafe try digestAlgorithm(digest, for: algorithm, object: object)
    if padding == .pss && algorithm != .rsa && algorithm != .rsaPSS {
      throw InputError(
        .invalidArgument, object: object, source: "the signing options",
        detail: "PSS padding needs an RSA key, not \(algorithm)")
    }
    return try ErrorQueue.isolated { scope throws(InputError) -> Result in
      let context = unsafe EVP_MD_CTX_new()!
      defer { unsafe EVP_MD_CTX_free(context) }
      var keyContext: OpaquePointer? = nil
      let initialized: Int32
      if let library = unsafe LibraryContext.of(key: key) ?? (properties == nil ? nil : .default) {
        // A key made in another library context, or a property query: the _ex functions fetch
        // the signature and the digest from that context with that query.
        let mdName: UnsafePointer<CChar>? = unsafe md.flatMap { unsafe EVP_MD_get0_name($0) }
        initialized =
          unsafe signing
          ? EVP_DigestSignInit_ex(context, &keyContext, mdName, library.pointer, properties.text, key, nil)
          : EVP_DigestVerifyInit_ex(context, &keyContext, mdName, library.pointer, properties.text, key, nil)
      } else {
        initialized =
          unsafe signing
          ? EVP_DigestSignInit(context, &keyContext, md, nil, key)
          : EVP_DigestVerifyInit(context, &keyContext, md, nil, key)
      }
      guard initialized == 1 else {
        let error = scope.failure(signing ? "EVP_DigestSignInit" : "EVP_DigestVerifyInit")
        throw InputError(
          .invalidArgument, object: object, source: "a \(algorithm) key",
          detail: "OpenSSL cannot \(signing ? "sign" : "verify") with this key and digest", openSSLError: error)
      }
      if padding == .pss, algorithm == .rsa {
        guard unsafe EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
          unsafe EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1
        else {
          throw InputError(
            .invalidArgument, object: object, source: "a \(algorithm) key", detail: "OpenSSL refused PSS padding",
            openSSLError: scope.failure("EVP_PKEY_CTX_set_rsa_padding"))
        }
      }
      return unsafe try body(context, scope)
    }
  }

  static func sign(
    key: OpaquePointer,
    algorithm: KeyAlgorithm,
    data: UnsafeRawBufferPointer,
    digest: Digest?,
    padding: RSAPadding,
    properties: PropertyQuery?
  ) throws(InputError) -> [UInt8] {
    unsafe try withContext(
      key: key, algorithm: algorithm, digest: digest, padding: padding, properties: properties, signing: true
    ) {
      context, scope throws(InputError) -> [UInt8] in
      let bytes = unsafe data.baseAddress?.assumingMemoryBound(to: UInt8.self)
      var length = 0
      guard unsafe EVP_DigestSign(context, nil, &length, bytes, data.count) == 1 else {
        throw failure(scope, "EVP_DigestSign", algorithm)
      }
      var signature = [UInt8](repeating: 0, count: length)
      guard unsafe EVP_DigestSign(context, &signature, &length, bytes, data.count) == 1 else {
        throw failure(scope, "EVP_DigestSign", algorithm)
      }
      signature.removeLast(signature.count - length)
      return signature
    }
  }

  static func verify(
    key: OpaquePointer,
    algorithm: KeyAlgorithm,
    signature: UnsafeRawBufferPointer,
    data: UnsafeRawBufferPointer,
    digest: Digest?,
    padding: RSAPadding,
    properties: PropertyQuery?
  ) throws(InputError) -> Bool {
    unsafe try withContext(
      key: key, algorithm: algorithm, digest: digest, padding: padding, properties: properties, signing: false
    ) {
      context, _ throws(InputError) -> Bool in
      // 1 is a valid signature; 0 or a negative value (a malformed signature) is not.
      unsafe EVP_DigestVerify(
        context, signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count,
        data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count) == 1
    }
  }

  private static func failure(
    _ scope: borrowing ErrorQueue.Scope, _ operation: String, _ algorithm: KeyAlgorithm
  ) -> InputError {
    let error = scope.failure(operation)
    return InputError(
      .invalidArgument, object: "signature", source: "a \(algorithm) key",
      detail: error.last?.reasonText ?? "OpenSSL could not sign", openSSLError: error)
  }
}
