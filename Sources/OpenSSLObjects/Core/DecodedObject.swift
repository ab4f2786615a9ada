#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// One object found in PEM or DER input whose kind was not known in advance: what
/// `openssl-objects inspect` reads, and what a program reading a file of unknown content gets.
public enum DecodedObject: Sendable {
  /// A certificate (`CERTIFICATE`, `TRUSTED CERTIFICATE`, or DER).
  case certificate(X509Certificate)
  /// A private key that could be read.
  case privateKey(PrivateKey)
  /// An encrypted private key for which no passphrase was given.
  case encryptedPrivateKey(format: String)
  /// A public key.
  case publicKey(PublicKey)
  /// A CRL.
  case crl(X509CRL)
  /// An OCSP request (`OCSP REQUEST`, or DER).
  case ocspRequest(OCSPRequest)
  /// An OCSP response (`OCSP RESPONSE`, or DER).
  case ocspResponse(OCSPResponse)
  /// Another object: a certificate request, a PKCS#12 file, or a PEM block of a kind this library
  /// does not decode here; with its name and DER bytes.
  case other(kind: String, der: [UInt8])

  /// Reads every object of PEM input, in order, or the one object of DER input.
  ///
  /// - Parameters:
  ///   - bytes: PEM (any number of blocks) or DER (one object).
  ///   - source: where the bytes came from, for error messages; memory by default.
  ///   - passphrase: asked (at most once per key) for encrypted private keys; `nil` leaves them
  ///     as ``encryptedPrivateKey(format:)``.
  /// - Throws: ``InputError`` for input that is not PEM or DER of a known kind, or a block that
  ///   is broken.
  public static func readAll(
    bytes: some ContiguousBytes,
    source: InputSource? = nil,
    passphrase: (() throws -> Passphrase?)? = nil
  ) throws -> [DecodedObject] {
    unsafe try withContiguousBytes(bytes) { buffer in
      let source = source ?? .memory(count: buffer.count)
      guard unsafe !buffer.isEmpty else {
        throw InputError(.empty, object: "object", source: source.description, detail: "there are no bytes")
      }
      if unsafe PEM.looksLikePEM(buffer) {
        return unsafe try readPEM(buffer, source: source, passphrase: passphrase)
      }
      return unsafe [try readDER(buffer, source: source, passphrase: passphrase)]
    }
  }

  /// Reads every object of a PEM or DER file.
  public static func readAll(
    contentsOfFile path: String,
    passphrase: (() throws -> Passphrase?)? = nil
  ) throws -> [DecodedObject] {
    let bytes = try InputFile.read(path, object: "object")
    return try readAll(bytes: bytes, source: .file(path), passphrase: passphrase)
  }

  private static func readPEM(
    _ buffer: UnsafeRawBufferPointer,
    source: InputSource,
    passphrase: (() throws -> Passphrase?)?
  ) throws -> [DecodedObject] {
    // First find the blocks and their extents, then read each with the loader of its kind.
    var blocks: [(label: String, range: Range<Int>, der: [UInt8], encrypted: Bool)] = []
    var start = 0
    unsafe try PEM.forEachBlock(in: buffer, object: "object", source: source) { block throws(InputError) in
      let der = unsafe block.label.contains("PRIVATE KEY") ? [] : block.withDER { unsafe Array($0) }
      blocks.append((block.label, start..<block.endOffset, der, block.isEncrypted))
      start = block.endOffset
      return true
    }
    return try blocks.map { block in
      let slice = unsafe Array(buffer[block.range])
      let context = InputSource.named("\(source) (\(block.label) block)")
      switch block.label {
      case _ where X509Certificate.pemLabels.contains(block.label):
        return unsafe .certificate(
          X509Certificate(
            takingOwnershipOf: OpenSSLPointer(
              try withContiguousBytes(slice) { (bytes: UnsafeRawBufferPointer) throws(InputError) in
                unsafe try X509Certificate.decodingRules.decodeSinglePEM(
                  bytes, source: context, limit: InputLimits.defaultMaximumSize)
              })))
      case _ where ObjectKind.crl.pemLabels.contains(block.label):
        return unsafe .crl(
          X509CRL(
            takingOwnershipOf: OpenSSLPointer(
              try withContiguousBytes(slice) { (bytes: UnsafeRawBufferPointer) throws(InputError) in
                unsafe try X509CRL.decodingRules.decodeSinglePEM(
                  bytes, source: context, limit: InputLimits.defaultMaximumSize)
              })))
      case _ where ObjectKind.ocspRequest.pemLabels.contains(block.label):
        return .ocspRequest(try OCSPRequest(pemEncoded: slice))
      case _ where ObjectKind.ocspResponse.pemLabels.contains(block.label):
        return .ocspResponse(try OCSPResponse(pemEncoded: slice))
      case _ where ObjectKind.publicKey.pemLabels.contains(block.label):
        return .publicKey(try key(slice, .publicKey, encoding: .pem, source: context, passphrase: nil))
      case _ where block.label.hasSuffix("PRIVATE KEY"):
        let encrypted = block.label == "ENCRYPTED PRIVATE KEY" || block.encrypted
        if encrypted && passphrase == nil {
          return .encryptedPrivateKey(format: block.label == "ENCRYPTED PRIVATE KEY" ? "PKCS#8" : "traditional PEM")
        }
        return .privateKey(try key(slice, .privateKey, encoding: .pem, source: context, passphrase: passphrase))
      default:
        return .other(kind: ObjectKind.identify(pemLabel: block.label)?.name ?? block.label, der: block.der)
      }
    }
  }

  private static func readDER(
    _ buffer: UnsafeRawBufferPointer,
    source: InputSource,
    passphrase: (() throws -> Passphrase?)?
  ) throws -> DecodedObject {
    let der = unsafe Array(buffer)
    guard let kind = unsafe ObjectKind.identify(der: buffer) else {
      // Not a whole object of a known kind: let the certificate reader say what is wrong.
      unsafe try DER.checkHeader(buffer, object: "object", source: source, context: "")
      if let key = try? PrivateKey(bytes: der, encoding: .der) { return .privateKey(key) }
      throw InputError(
        .malformed, object: "object", source: source.description,
        detail: "the DER is not a certificate, key, CRL or OCSP message this library knows")
    }
    switch kind.name {
    case ObjectKind.certificate.name: return .certificate(try X509Certificate(derEncoded: der))
    case ObjectKind.crl.name: return .crl(try X509CRL(derEncoded: der))
    case ObjectKind.publicKey.name:
      return .publicKey(try key(der, .publicKey, encoding: .der, source: source, passphrase: nil))
    case ObjectKind.ocspRequest.name: return .ocspRequest(try OCSPRequest(derEncoded: der))
    case ObjectKind.ocspResponse.name: return .ocspResponse(try OCSPResponse(derEncoded: der))
    case ObjectKind.privateKey.name:
      return .privateKey(try key(der, .privateKey, encoding: .der, source: source, passphrase: nil))
    case ObjectKind.encryptedPrivateKey.name:
      guard let passphrase else { return .encryptedPrivateKey(format: "PKCS#8") }
      return .privateKey(try key(der, .privateKey, encoding: .der, source: source, passphrase: passphrase))
    default: return .other(kind: kind.name, der: der)
    }
  }

  /// A key read with `OSSL_DECODER`, its errors naming `source` (the file and block).
  private static func key<Key: OpenSSLObject>(
    _ bytes: [UInt8], _ selection: KeyDecoder.Selection, encoding: KeyEncoding, source: InputSource,
    passphrase: (() throws -> Passphrase?)?
  ) throws -> Key {
    let pointer = unsafe try bytes.withUnsafeBytes { buffer in
      unsafe try KeyDecoder.decode(
        buffer, selection: selection, encoding: encoding, source: source, limit: InputLimits.defaultMaximumSize,
        passphrase: PassphraseBox(passphrase ?? { nil }))
    }
    return unsafe Key(takingOwnershipOf: OpenSSLPointer(pointer))
  }
}
