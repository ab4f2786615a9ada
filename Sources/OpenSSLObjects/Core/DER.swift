import COpenSSLFull

/// An OpenSSL `d2i_*` function: decodes one object from DER, advancing the input pointer.
typealias D2IFunction = (
  UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, Int
) -> OpaquePointer?

/// An OpenSSL `*_free` function.
typealias FreeFunction = @Sendable (OpaquePointer?) -> Void

/// Decoding DER with OpenSSL's `d2i_*` functions, with errors that say what was wrong and where.
package enum DER {
  /// Decodes exactly one object from `bytes` with `d2i`.
  ///
  /// Empty input, a truncated object, trailing bytes after the object, and bytes that are not the
  /// object at all are told apart; a well-formed object of another kind is reported as
  /// ``InputError/Reason/wrongType`` with what it is.
  static func decode(
    _ bytes: UnsafeRawBufferPointer,
    object: String,
    source: InputSource,
    operation: String,
    limit: Int = InputLimits.defaultMaximumSize,
    context: @autoclosure () -> String = "",
    d2i: D2IFunction,
    free: FreeFunction
  ) throws(InputError) -> OpaquePointer {
    // Where in the input, for messages only: made when an error is, never on success.
    func where_() -> String {
      let context = context()
      return context.isEmpty ? "" : " in \(context)"
    }
    guard unsafe !bytes.isEmpty else {
      throw InputError(.empty, object: object, source: source.description, detail: "there are no bytes\(where_())")
    }
    guard bytes.count <= limit else {
      throw InputError(
        .tooLarge, object: object, source: source.description,
        detail: "\(bytes.count) bytes\(where_()); the limit is \(limit)")
    }
    unsafe try checkHeader(bytes, object: object, source: source, context: where_())
    let base = unsafe bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    return unsafe try ErrorQueue.isolated { scope throws(InputError) -> OpaquePointer in
      var cursor: UnsafePointer<UInt8>? = unsafe UnsafePointer(base)
      guard let result = unsafe d2i(nil, &cursor, bytes.count) else {
        let error = scope.failure(operation)
        if let kind = unsafe ObjectKind.identify(der: bytes), kind.name != object {
          throw InputError(
            .wrongType, object: object, source: source.description, offset: 0,
            detail: "the DER\(where_()) is \(kind.article) \(kind.name), not \(object.withArticle)",
            openSSLError: error)
        }
        throw InputError(
          .malformed, object: object, source: source.description,
          detail: "the DER\(where_()) is not \(object.withArticle): "
            + (error.last?.reasonText ?? "OpenSSL could not decode it"),
          openSSLError: error)
      }
      let consumed = unsafe cursor.map { unsafe $0 - UnsafePointer(base) } ?? bytes.count
      if consumed < bytes.count {
        unsafe free(result)
        throw InputError(
          .trailingData, object: object, source: source.description, offset: consumed,
          detail: "\(bytes.count - consumed) bytes follow the \(object)\(where_())")
      }
      return unsafe result
    }
  }

  /// Reads the outer DER header (OpenSSL's `ASN1_get_object`) to tell a truncated object from one
  /// that is not DER at all.
  static func checkHeader(
    _ bytes: UnsafeRawBufferPointer,
    object: String,
    source: InputSource,
    context: @autoclosure () -> String
  ) throws(InputError) {
    let base = unsafe bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    try ErrorQueue.isolated { scope throws(InputError) in
      var cursor: UnsafePointer<UInt8>? = unsafe UnsafePointer(base)
      var length = 0
      var tag: Int32 = 0
      var tagClass: Int32 = 0
      let status = unsafe ASN1_get_object(&cursor, &length, &tag, &tagClass, bytes.count)
      if status & 0x80 != 0 {
        let error = scope.failure("ASN1_get_object")
        let truncated =
          error.contains(library: ERR_LIB_ASN1, reason: ASN1_R_TOO_LONG)
          || error.contains(library: ERR_LIB_ASN1, reason: ASN1_R_HEADER_TOO_LONG)
        if unsafe truncated && bytes[0] == 0x30 {
          throw InputError(
            .truncated, object: object, source: source.description, offset: bytes.count,
            detail: "the DER\(context()) ends after \(bytes.count) bytes, before the object it starts is complete",
            openSSLError: error)
        }
        throw InputError(
          .malformed, object: object, source: source.description, offset: 0,
          detail: unsafe "the input\(context()) is neither PEM nor DER (first byte 0x\([bytes[0]].hexString))",
          openSSLError: error)
      }
      if tag != V_ASN1_SEQUENCE || tagClass != V_ASN1_UNIVERSAL {
        throw InputError(
          .malformed, object: object, source: source.description, offset: 0,
          detail: "the input\(context()) is neither PEM nor DER (it does not start with a DER SEQUENCE)")
      }
    }
  }

  /// Encodes an object with an OpenSSL `i2d_*` function.
  package static func encode(
    _ operation: String,
    _ i2d: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32
  ) throws(OpenSSLError) -> [UInt8] {
    try ErrorQueue.isolated { scope throws(OpenSSLError) -> [UInt8] in
      var output: UnsafeMutablePointer<UInt8>? = nil
      let length = unsafe i2d(&output)
      guard length > 0, let output = unsafe output else { throw scope.failure(operation) }
      defer { unsafe oo_OPENSSL_free(output) }
      return unsafe [UInt8](UnsafeBufferPointer(start: output, count: Int(length)))
    }
  }
}

/// The kinds of object a loader can recognise, to say what it was given when it is not what it
/// expected ("the DER is a private key, not a certificate").
@safe
struct ObjectKind: Sendable {
  let name: String
  let pemLabels: [String]
  fileprivate let probe: @Sendable (UnsafeRawBufferPointer) -> Bool

  var article: String { name.article }

  static let certificate = unsafe ObjectKind(
    name: "certificate", pemLabels: ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"],
    probe: {
      unsafe probe($0, { unsafe d2i_X509($0, $1, $2) }, { unsafe X509_free($0) })
        || probe($0, { unsafe d2i_X509_AUX($0, $1, $2) }, { unsafe X509_free($0) })
    })
  static let crl = unsafe ObjectKind(
    name: "CRL", pemLabels: ["X509 CRL"],
    probe: { unsafe probe($0, { unsafe d2i_X509_CRL($0, $1, $2) }, { unsafe X509_CRL_free($0) }) })
  static let publicKey = unsafe ObjectKind(
    name: "public key", pemLabels: ["PUBLIC KEY", "RSA PUBLIC KEY"],
    probe: { unsafe probe($0, { unsafe d2i_PUBKEY($0, $1, $2) }, { unsafe EVP_PKEY_free($0) }) })
  static let privateKey = unsafe ObjectKind(
    name: "private key", pemLabels: ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"],
    probe: { unsafe probe($0, { unsafe d2i_PKCS8_PRIV_KEY_INFO($0, $1, $2) }, { unsafe PKCS8_PRIV_KEY_INFO_free($0) }) }
  )
  static let encryptedPrivateKey = unsafe ObjectKind(
    name: "encrypted private key", pemLabels: ["ENCRYPTED PRIVATE KEY"],
    probe: { unsafe probe($0, { unsafe d2i_X509_SIG($0, $1, $2) }, { unsafe X509_SIG_free($0) }) })
  static let certificateRequest = unsafe ObjectKind(
    name: "certificate request", pemLabels: ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
    probe: { unsafe probe($0, { unsafe d2i_X509_REQ($0, $1, $2) }, { unsafe X509_REQ_free($0) }) })
  static let ocspResponse = unsafe ObjectKind(
    name: "OCSP response", pemLabels: ["OCSP RESPONSE"],
    probe: { unsafe probe($0, { unsafe d2i_OCSP_RESPONSE($0, $1, $2) }, { unsafe OCSP_RESPONSE_free($0) }) })
  static let ocspRequest = unsafe ObjectKind(
    name: "OCSP request", pemLabels: ["OCSP REQUEST"],
    probe: { unsafe probe($0, { unsafe d2i_OCSP_REQUEST($0, $1, $2) }, { unsafe OCSP_REQUEST_free($0) }) })
  static let pkcs12 = unsafe ObjectKind(
    name: "PKCS#12 file", pemLabels: [],
    probe: { unsafe probe($0, { unsafe d2i_PKCS12($0, $1, $2) }, { unsafe PKCS12_free($0) }) })
  static let parameters = unsafe ObjectKind(
    name: "set of key parameters", pemLabels: ["EC PARAMETERS", "DH PARAMETERS", "X9.42 DH PARAMETERS"],
    probe: { _ in false })

  static let all: [ObjectKind] = [
    .certificate, .crl, .publicKey, .privateKey, .encryptedPrivateKey, .certificateRequest,
    .ocspResponse, .ocspRequest, .pkcs12, .parameters,
  ]

  /// What a DER object is, if it is one of the kinds above (whole input consumed).
  static func identify(der bytes: UnsafeRawBufferPointer) -> ObjectKind? {
    all.first { unsafe $0.probe(bytes) }
  }

  /// Whether `bytes` are exactly one object of this kind.
  func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
    unsafe probe(bytes)
  }

  /// What a PEM label announces.
  static func identify(pemLabel label: String) -> ObjectKind? {
    all.first { $0.pemLabels.contains(label) }
  }

  private static func probe(_ bytes: UnsafeRawBufferPointer, _ d2i: D2IFunction, _ free: FreeFunction) -> Bool {
    guard let base = unsafe bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
    return ErrorQueue.isolated { _ in
      var cursor: UnsafePointer<UInt8>? = unsafe UnsafePointer(base)
      guard let object = unsafe d2i(nil, &cursor, bytes.count) else { return false }
      unsafe free(object)
      return unsafe cursor.map { unsafe $0 - UnsafePointer(base) } == bytes.count
    }
  }
}

extension String {
  /// "a certificate", "an OCSP response".
  package var withArticle: String { "\(article) \(self)" }

  var article: String {
    guard let first = first else { return "a" }
    // Acronyms read with their letter names: "an OCSP", "a CRL".
    if first.isUppercase, let second = dropFirst().first, second.isUppercase || second.isNumber {
      return "AEFHILMNORSX".contains(first) ? "an" : "a"
    }
    return "aeiou".contains(first) ? "an" : "a"
  }
}
