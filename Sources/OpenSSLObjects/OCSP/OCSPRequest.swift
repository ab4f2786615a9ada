import COpenSSLFull

/// An OCSP request (`OCSP_REQUEST`): one or more certificate identifiers, optionally a nonce and a
/// signature.
///
/// OpenSSL 3.0 does not reference-count `OCSP_REQUEST`: this type owns its own (`OCSP_REQUEST_free`)
/// and offers adopt, borrow and copy (`ASN1_item_dup` with `OCSP_REQUEST_it`). Immutable once made,
/// hence `Sendable`.
public final class OCSPRequest: OpenSSLObjectBase, OpenSSLCopyable, PEMDERDecodable, @unchecked Sendable {
  override package class var cType: CObjectType { .ocspRequest }

  /// Whether and how a request carries a nonce (`OCSP_request_add1_nonce`).
  public enum Nonce: Sendable, Hashable {
    /// No nonce (what RFC 5019 responders and every staple expect).
    case none
    /// 16 random bytes (`RAND_bytes`, through `OCSP_request_add1_nonce` with no value).
    case random
    /// These bytes.
    case bytes([UInt8])
  }

  /// Builds a request for `ids` (`OCSP_REQUEST_new`, `OCSP_request_add0_id` with copies of the
  /// identifiers), with a nonce, and signed by `signer` when given (`OCSP_request_sign`, which
  /// also sets the requestor name and includes the signer's chain).
  ///
  /// - Throws: ``InputError`` for an empty list or when OpenSSL refuses a value.
  public convenience init(ids: [OCSPCertID], nonce: Nonce = .none, signer: CertificateChain? = nil) throws(InputError) {
    guard !ids.isEmpty else {
      throw InputError(
        .invalidArgument, object: "OCSP request", source: "the identifiers", detail: "a request needs at least one")
    }
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(OCSP_REQUEST_new()!))
    let request = unsafe pointer
    try Self.building { () throws(OpenSSLError) in
      for id in ids {
        let copy = try id.copiedPointer()
        _ = unsafe try ErrorQueue.call("OCSP_request_add0_id") {
          let added = unsafe OCSP_request_add0_id(request, copy.raw)
          if unsafe added == nil { unsafe OCSP_CERTID_free(copy.raw) }
          return unsafe added
        }
      }
      switch nonce {
      case .none: break
      case .random: try ErrorQueue.check("OCSP_request_add1_nonce") { unsafe OCSP_request_add1_nonce(request, nil, 0) }
      case .bytes(var bytes):
        try ErrorQueue.check("OCSP_request_add1_nonce") {
          unsafe OCSP_request_add1_nonce(request, &bytes, Int32(bytes.count))
        }
      }
      if let signer {
        unsafe try X509Stack.withStack(signer.chain) { stack throws(OpenSSLError) in
          try ErrorQueue.check("OCSP_request_sign") {
            unsafe OCSP_request_sign(
              request, signer.certificate.pointer, signer.privateKey.pointer, nil, stack,
              signer.chain.isEmpty ? UInt(OCSP_NOCERTS) : 0)
          }
        }
      }
    }
  }

  /// A request for one certificate and its issuer: a shorthand for ``init(ids:nonce:signer:)``.
  public convenience init(
    certificate: X509Certificate, issuer: X509Certificate, digest: Digest = .sha1, nonce: Nonce = .none
  ) throws(InputError) {
    try self.init(ids: [try OCSPCertID(certificate: certificate, issuer: issuer, digest: digest)], nonce: nonce)
  }

  static func building(_ body: () throws(OpenSSLError) -> Void) throws(InputError) {
    try InputError.converting("OCSP request", reason: .invalidArgument, source: "the request builder", body)
  }

  // MARK: - Loading and encoding

  /// How requests are read: `OCSP REQUEST` PEM blocks or DER, with `d2i_OCSP_REQUEST`.
  public static let decodingRules = unsafe ObjectDecoder(
    object: "OCSP request", labels: ObjectKind.ocspRequest.pemLabels,
    d2i: { _ in { unsafe d2i_OCSP_REQUEST($0, $1, $2) } }, operation: { _ in "d2i_OCSP_REQUEST" },
    free: { unsafe OCSP_REQUEST_free($0) })

  /// The DER encoding (`i2d_OCSP_REQUEST`).
  public var derEncoded: [UInt8] {
    unsafe (try? DER.encode("i2d_OCSP_REQUEST") { unsafe i2d_OCSP_REQUEST(pointer, $0) }) ?? []
  }

  /// The PEM encoding (`PEM_write_bio` with the label `OCSP REQUEST`).
  public var pemEncoded: String { PEM.encode(derEncoded, label: "OCSP REQUEST") }

  // MARK: - Fields

  /// The identifiers asked about, in order (`OCSP_request_onereq_get0`, `OCSP_onereq_get0_id`),
  /// each a copy.
  public var ids: [OCSPCertID] {
    unsafe (0..<OCSP_request_onereq_count(pointer)).compactMap { index in
      guard let one = unsafe OCSP_request_onereq_get0(pointer, index), let id = unsafe OCSP_onereq_get0_id(one) else {
        return nil
      }
      return unsafe try? OCSPCertID(copying: OpenSSLPointer(id))
    }
  }

  /// The nonce's bytes, if the request carries one (the `id-pkix-ocsp-nonce` extension,
  /// `OCSP_REQUEST_get_ext_by_NID`).
  public var nonce: [UInt8]? {
    let index = unsafe OCSP_REQUEST_get_ext_by_NID(pointer, NID_id_pkix_OCSP_Nonce, -1)
    guard index >= 0, let ext = unsafe OCSP_REQUEST_get_ext(pointer, index) else { return nil }
    return unsafe OCSPNonceExtension.value(ext)
  }

  /// Whether the request is signed (`OCSP_request_is_signed`).
  public var isSigned: Bool { unsafe OCSP_request_is_signed(pointer) == 1 }
}

/// The nonce extension's value: an OCTET STRING inside the extension's OCTET STRING, as
/// `OCSP_request_add1_nonce` writes it (RFC 8954).
enum OCSPNonceExtension {
  static func value(_ ext: OpaquePointer) -> [UInt8] {
    let bytes = unsafe ASN1.bytes(X509_EXTENSION_get_data(ext))
    // Unwrap the inner OCTET STRING when it is one (short-form length).
    if bytes.count >= 2, bytes[0] == 0x04, Int(bytes[1]) == bytes.count - 2 { return Array(bytes[2...]) }
    return bytes
  }
}
