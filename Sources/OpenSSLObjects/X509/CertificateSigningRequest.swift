import COpenSSLFull

extension CObjectType {
  package static let x509Request = unsafe CObjectType(
    name: "X509_REQ", free: X509_REQ_free, duplicate: { unsafe X509_REQ_dup($0) })
}

/// A PKCS#10 certificate signing request (`X509_REQ`), read to see what it asks for: the subject,
/// the public key and the requested subject alternative names.
///
/// Owns exactly one `X509_REQ` (`X509_REQ_free`). OpenSSL 3.0 does not reference-count requests, so
/// the doors are adopt, borrow and copy (`X509_REQ_dup`). Immutable, hence `Sendable`.
public final class CertificateSigningRequest: OpenSSLObjectBase, OpenSSLCopyable, PEMDERDecodable, @unchecked Sendable {
  override package class var cType: CObjectType { .x509Request }

  /// How requests are read: `CERTIFICATE REQUEST` (and `NEW CERTIFICATE REQUEST`) PEM blocks or
  /// DER, with `d2i_X509_REQ`.
  public static let decodingRules = unsafe ObjectDecoder(
    object: "certificate request", labels: ObjectKind.certificateRequest.pemLabels,
    d2i: { _ in { unsafe d2i_X509_REQ($0, $1, $2) } }, operation: { _ in "d2i_X509_REQ" },
    free: { unsafe X509_REQ_free($0) })

  /// The DER encoding (`i2d_X509_REQ`).
  public var derEncoded: [UInt8] {
    unsafe (try? DER.encode("i2d_X509_REQ") { unsafe i2d_X509_REQ(pointer, $0) }) ?? []
  }

  /// The subject asked for (`X509_REQ_get_subject_name`), a copy.
  public var subject: X509Name { unsafe X509Name(copyingBorrowed: X509_REQ_get_subject_name(pointer)) }

  /// The public key to certify (`X509_REQ_get_pubkey`), a new reference.
  ///
  /// - Throws: ``OpenSSLError`` if OpenSSL cannot decode the key.
  public var publicKey: PublicKey {
    get throws(OpenSSLError) {
      unsafe PublicKey(
        takingOwnershipOf: OpenSSLPointer(
          try ErrorQueue.call("X509_REQ_get_pubkey") { unsafe X509_REQ_get_pubkey(pointer) }))
    }
  }

  /// Whether the request is signed by the key it carries (`X509_REQ_verify`): proof that whoever
  /// made it holds the private key.
  public var isSignatureValid: Bool {
    ErrorQueue.isolated { _ in
      guard let key = unsafe X509_REQ_get0_pubkey(pointer) else { return false }
      return unsafe X509_REQ_verify(pointer, key) == 1
    }
  }

  /// The subject alternative names of the requested extensions (`X509_REQ_get_extensions`), or
  /// `nil` when none are requested. Names are kept exactly as encoded (see ``GeneralName``).
  ///
  /// - Throws: ``InputError`` for a malformed or duplicated extension.
  public var subjectAlternativeNames: [GeneralName]? {
    get throws(InputError) {
      try withExtendedLifetime(self) { () throws(InputError) -> [GeneralName]? in
        guard let extensions = unsafe ErrorQueue.isolated({ _ in unsafe X509_REQ_get_extensions(pointer) }) else {
          return nil
        }
        defer { unsafe oo_sk_X509_EXTENSION_pop_free(extensions) }
        let decoder = unsafe ExtensionDecoder(
          object: extensions,
          getD2I: { stack, nid, critical in unsafe X509V3_get_d2i(stack, nid, critical, nil) },
          owner: { _ in "certificate request" })
        return try decoder.subjectAlternativeNames()
      }
    }
  }
}
