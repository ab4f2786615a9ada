import COpenSSLFull

#if canImport(FoundationEssentials)
  public import FoundationEssentials
#else
  public import Foundation
#endif

/// How one kind of DER-encoded object (certificates, CRLs) is read from DER, from one PEM block or
/// from a PEM bundle, with the same rules and errors for every kind. Opaque outside the library.
///
/// Rules: text before and between PEM blocks is skipped, as OpenSSL's readers skip it; blocks of
/// other kinds are skipped; anything but white space after the last block is trailing data; a
/// single-object read refuses input with two objects of its kind.
@safe
public struct ObjectDecoder: Sendable {
  /// The object's name in messages: "certificate", "CRL".
  let object: String
  /// The PEM labels of the kind.
  let labels: [String]
  /// The `d2i_*` function for a PEM label, or for raw DER when the label is `nil`.
  let d2i: @Sendable (String?) -> D2IFunction
  /// The OpenSSL function name used in errors for a label.
  let operation: @Sendable (String?) -> String
  /// The `*_free` function.
  let free: FreeFunction

  func decodeDER(_ buffer: UnsafeRawBufferPointer, source: InputSource, limit: Int) throws(InputError) -> OpaquePointer
  {
    unsafe try DER.decode(
      buffer, object: object, source: source, operation: operation(nil), limit: limit, d2i: d2i(nil), free: free)
  }

  /// One object from PEM or DER, detected from the content.
  func decodeSingle(
    _ buffer: UnsafeRawBufferPointer, source: InputSource, limit: Int
  ) throws(InputError) -> OpaquePointer {
    if unsafe PEM.looksLikePEM(buffer) { return unsafe try decodeSinglePEM(buffer, source: source, limit: limit) }
    return unsafe try decodeDER(buffer, source: source, limit: limit)
  }

  /// One object from PEM.
  func decodeSinglePEM(
    _ buffer: UnsafeRawBufferPointer, source: InputSource, limit: Int
  ) throws(InputError) -> OpaquePointer {
    let objects = unsafe try decodePEM(buffer, source: source, limit: limit, single: true)
    return unsafe objects[0]
  }

  /// Every object of the kind in PEM (at least one), or the one object of DER input.
  func decodeAll(
    _ buffer: UnsafeRawBufferPointer, source: InputSource, limit: Int
  ) throws(InputError) -> [OpaquePointer] {
    if unsafe PEM.looksLikePEM(buffer) {
      return unsafe try decodePEM(buffer, source: source, limit: limit, single: false)
    }
    return unsafe [try decodeDER(buffer, source: source, limit: limit)]
  }

  /// Every object of the kind in PEM; with `single`, exactly one.
  func decodePEM(
    _ buffer: UnsafeRawBufferPointer,
    source: InputSource,
    limit: Int,
    single: Bool
  ) throws(InputError) -> [OpaquePointer] {
    if unsafe buffer.isEmpty {
      throw InputError(.empty, object: object, source: source.description, detail: "there are no bytes")
    }
    if buffer.count > limit {
      throw InputError(
        .tooLarge, object: object, source: source.description, detail: "\(buffer.count) bytes; the limit is \(limit)")
    }
    var objects: [OpaquePointer] = unsafe []
    var labels: [String] = []
    var lastEnd = 0
    do throws(InputError) {
      unsafe try PEM.forEachBlock(in: buffer, object: object, source: source) { block throws(InputError) in
        labels.append(block.label)
        lastEnd = block.endOffset
        guard self.labels.contains(block.label) else { return true }
        if unsafe single && !objects.isEmpty {
          throw InputError(
            .multipleObjects, object: object, source: source.description, offset: block.endOffset,
            detail: "PEM block \(block.index) is a second \(object); read bundles with the functions for several")
        }
        let label = block.label
        let index = block.index
        unsafe objects.append(
          try block.withDER { der throws(InputError) in
            unsafe try DER.decode(
              der, object: object, source: source, operation: operation(label), limit: limit,
              context: "PEM block \(index) (\(label))", d2i: unsafe d2i(label), free: unsafe free)
          })
        return true
      }
      if unsafe objects.isEmpty {
        let label = labels.first ?? ""
        let found = ObjectKind.identify(pemLabel: label).map { " (\($0.name.withArticle))" } ?? ""
        throw InputError(
          .wrongPEMLabel, object: object, source: source.description,
          detail: "found a \"\(label)\" PEM block\(found); \(object.withArticle) is labelled "
            + self.labels.map { "\"\($0)\"" }.joined(separator: ", "))
      }
      guard unsafe PEM.onlyWhitespace(buffer, from: lastEnd) else {
        throw InputError(
          .trailingData, object: object, source: source.description, offset: lastEnd,
          detail: "\(buffer.count - lastEnd) bytes that are not PEM follow the last PEM block")
      }
    } catch {
      unsafe objects.forEach(free)
      throw error
    }
    return unsafe objects
  }
}

/// An ``OpenSSLObject`` read from PEM or DER with ``ObjectDecoder``'s rules: ``X509Certificate``
/// and ``X509CRL``. The loaders are written once, here.
public protocol PEMDERDecodable: OpenSSLObject {
  /// How objects of this kind are read.
  static var decodingRules: ObjectDecoder { get }
}

extension PEMDERDecodable {
  /// Reads one object from DER (the type's `d2i_*`). The whole input must be the object.
  ///
  /// - Throws: ``InputError``: empty, truncated, trailing data (with its offset), malformed,
  ///   another kind of object (``InputError/Reason/wrongType``), or larger than `limit`.
  public init(derEncoded bytes: some ContiguousBytes, limit: Int = InputLimits.defaultMaximumSize) throws(InputError) {
    let pointer = unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try Self.decodingRules.decodeDER(buffer, source: .memory(count: buffer.count), limit: limit)
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads exactly one object from PEM (`PEM_read_bio_ex`, then the type's `d2i_*`).
  ///
  /// Text before the block is skipped, as OpenSSL skips it, and so are blocks of other kinds (a
  /// key next to a certificate); a second object of this kind, or anything but white space after
  /// the last block, is an error (read bundles with ``all(bytes:limit:)``).
  public init(pemEncoded bytes: some ContiguousBytes, limit: Int = InputLimits.defaultMaximumSize) throws(InputError) {
    let pointer = unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try Self.decodingRules.decodeSinglePEM(buffer, source: .memory(count: buffer.count), limit: limit)
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads exactly one object from PEM text.
  public init(pemEncoded text: String, limit: Int = InputLimits.defaultMaximumSize) throws(InputError) {
    try self.init(pemEncoded: Array(text.utf8), limit: limit)
  }

  /// Reads exactly one object from PEM or DER, detected from the content.
  public init(bytes: some ContiguousBytes, limit: Int = InputLimits.defaultMaximumSize) throws(InputError) {
    let pointer = unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try Self.decodingRules.decodeSingle(buffer, source: .memory(count: buffer.count), limit: limit)
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads exactly one object from a PEM or DER file.
  public init(contentsOfFile path: String, limit: Int = InputLimits.defaultMaximumSize) throws(InputError) {
    let bytes = try InputFile.read(path, object: Self.decodingRules.object, limit: limit)
    let pointer = unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try Self.decodingRules.decodeSingle(buffer, source: .file(path), limit: limit)
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }

  /// Reads every object of this kind from PEM (a bundle, in order; blocks of other kinds are
  /// skipped; at least one is required), or the one object of DER input.
  public static func all(
    bytes: some ContiguousBytes, limit: Int = InputLimits.defaultMaximumSize
  ) throws(InputError)
    -> [Self]
  {
    unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try decodingRules.decodeAll(buffer, source: .memory(count: buffer.count), limit: limit).map {
        unsafe Self(takingOwnershipOf: OpenSSLPointer($0))
      }
    }
  }

  /// Reads every object of this kind from a PEM bundle file, or the one object of a DER file.
  public static func all(
    contentsOfFile path: String, limit: Int = InputLimits.defaultMaximumSize
  ) throws(InputError)
    -> [Self]
  {
    let bytes = try InputFile.read(path, object: decodingRules.object, limit: limit)
    return unsafe try withContiguousBytes(bytes) { (buffer: UnsafeRawBufferPointer) throws(InputError) in
      unsafe try decodingRules.decodeAll(buffer, source: .file(path), limit: limit).map {
        unsafe Self(takingOwnershipOf: OpenSSLPointer($0))
      }
    }
  }
}
