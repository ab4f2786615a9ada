import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// A public key (`EVP_PKEY` holding only a public half, or used only for its public half).
///
/// Owns exactly one `EVP_PKEY` reference, dropped with `EVP_PKEY_free`. Doors: adopt
/// (``init(takingOwnershipOf:)``), borrow, retain (`EVP_PKEY_up_ref`) and hand over. Immutable,
/// hence `Sendable`.
public final class PublicKey: OpenSSLObjectBase, AsymmetricKey, @unchecked Sendable {
  override package class var cType: CObjectType { .evpPKey }

  /// Reads a public key from PEM (`PUBLIC KEY`, `RSA PUBLIC KEY`) or DER SubjectPublicKeyInfo,
  /// detected from the content unless `encoding` says which (`OSSL_DECODER`).
  ///
  /// - Throws: ``InputError``: empty, truncated, trailing data, malformed, wrong PEM label, or
  ///   another kind of object (a private key, a certificate: ``InputError/Reason/wrongType``).
  /// The key keeps `libraryContext` alive and verifies with its providers; `properties` is the
  /// property query for the decoders.
  public convenience init(
    bytes: some ContiguousBytes,
    encoding: KeyEncoding = .automatic,
    limit: Int = InputLimits.defaultMaximumSize,
    libraryContext: LibraryContext = .default,
    properties: PropertyQuery? = nil
  ) throws {
    let pointer = unsafe try withContiguousBytes(bytes) { buffer in
      unsafe try KeyDecoder.decode(
        buffer, selection: .publicKey, encoding: encoding, source: .memory(count: buffer.count), limit: limit,
        passphrase: PassphraseBox { nil }, fetch: FetchScope(libraryContext, properties))
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads a public key from PEM text.
  public convenience init(pemEncoded text: String, limit: Int = InputLimits.defaultMaximumSize) throws {
    try self.init(bytes: Array(text.utf8), encoding: .pem, limit: limit)
  }

  /// Reads a public key from a PEM or DER file.
  public convenience init(
    contentsOfFile path: String, limit: Int = InputLimits.defaultMaximumSize,
    libraryContext: LibraryContext = .default, properties: PropertyQuery? = nil
  ) throws {
    let bytes = try InputFile.read(path, object: "public key", limit: limit)
    let pointer = unsafe try bytes.withUnsafeBytes { buffer in
      unsafe try KeyDecoder.decode(
        buffer, selection: .publicKey, encoding: .automatic, source: .file(path), limit: limit,
        passphrase: PassphraseBox { nil }, fetch: FetchScope(libraryContext, properties))
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// The DER SubjectPublicKeyInfo (`i2d_PUBKEY`).
  public var derEncoded: [UInt8] {
    get throws(OpenSSLError) { try subjectPublicKeyInfo }
  }

  /// The PEM SubjectPublicKeyInfo (`PEM_write_bio_PUBKEY`), labelled `PUBLIC KEY`.
  public var pemEncoded: String {
    get throws(OpenSSLError) { try publicKeyPEM }
  }
}

extension PublicKey: Equatable, Hashable, CustomStringConvertible {
  /// Keys are equal when OpenSSL finds their public halves equal (`EVP_PKEY_eq`).
  public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
    lhs.hasSamePublicKey(as: rhs)
  }

  /// Hashes consistently with `==`.
  public func hash(into hasher: inout Hasher) {
    hasher.combine((try? subjectPublicKeyInfo) ?? [])
  }

  /// A readable description, without secret material.
  public var description: String {
    "PublicKey(\(algorithm), \(bits) bits\(curveName.map { ", \($0)" } ?? ""))"
  }
}
