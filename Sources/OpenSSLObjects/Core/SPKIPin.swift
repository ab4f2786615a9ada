import COpenSSLFull

/// The SPKI pin form of RFC 7469 (`pin-sha256`): `sha256/` followed by the base64 of SHA-256 over
/// the DER SubjectPublicKeyInfo.
package enum SPKIPin {
  /// The prefix of every pin.
  package static let prefix = "sha256/"

  /// The pin of a DER SubjectPublicKeyInfo.
  package static func pin(subjectPublicKeyInfo der: [UInt8]) -> String {
    prefix + base64Encoded(sha256(der))
  }

  /// SHA-256 with the pre-fetched digest.
  package static func sha256(_ bytes: [UInt8]) -> [UInt8] {
    (try? Digest.sha256.hash(bytes)) ?? []
  }
}
