import CBaseline
import Foundation
import OpenSSLObjects

/// The workloads, in the order of the table. Each is one entry: a later workload is one more
/// function here and one more C function in `Sources/CBaseline`.
public enum Workloads {
  public static func all(_ fixtures: Fixtures) throws -> [Workload] {
    let core = [
      parseDER(fixtures),
      parsePEM(fixtures),
      readExtensions(fixtures),
      try sign("ECDSA P-256", fixtures.ecKey, digest: "SHA2-256", fixtures),
      try verify("ECDSA P-256", fixtures.ecKey, fixtures.ecPublicKey, digest: "SHA2-256", fixtures),
      try sign("RSA-2048", fixtures.rsaKey, digest: "SHA2-256", fixtures),
      try verify("RSA-2048", fixtures.rsaKey, fixtures.rsaPublicKey, digest: "SHA2-256", fixtures),
      try sign("Ed25519", fixtures.ed25519Key, digest: nil, fixtures),
      try verify("Ed25519", fixtures.ed25519Key, fixtures.ed25519PublicKey, digest: nil, fixtures),
      loadEncryptedKey(fixtures),
      loadKey(fixtures),
    ]
    return core + [try ocspStaple(fixtures)] + (try tls(fixtures)) + (try token(fixtures)) + [control(fixtures)]
  }

  /// The workload of a name, for the profile command.
  public static func named(_ name: String, _ fixtures: Fixtures) throws -> Workload? {
    try all(fixtures).first { $0.name == name }
  }

  /// The harness's noise floor: C's DER parse on both sides.
  static func control(_ f: Fixtures) -> Workload {
    let der = f.certificateDER
    let parse: Operation = { n in
      try check(der.withUnsafeBufferPointer { cb_parse_certificate_der($0.baseAddress, $0.count, n) }, "control")
    }
    return Workload(
      name: "control: C against itself (parse DER)", note: "the same C function on both sides", ours: parse,
      c: parse, isControl: true)
  }

  // MARK: - Certificates

  static func parseDER(_ f: Fixtures) -> Workload {
    let der = f.certificateDER
    return Workload(
      name: "parse certificate (DER)",
      note: "X509Certificate(derEncoded:) against d2i_X509 + X509_free",
      ours: { n in
        for _ in 0..<n { blackHole(try X509Certificate(derEncoded: der)) }
      },
      c: { n in
        try check(der.withUnsafeBufferPointer { cb_parse_certificate_der($0.baseAddress, $0.count, n) }, "parse DER")
      })
  }

  static func parsePEM(_ f: Fixtures) -> Workload {
    let pem = f.certificatePEM
    return Workload(
      name: "parse certificate (PEM)",
      note: "X509Certificate(pemEncoded:) against PEM_read_bio_X509 on a memory BIO",
      ours: { n in
        for _ in 0..<n { blackHole(try X509Certificate(pemEncoded: pem)) }
      },
      c: { n in
        try check(pem.withUnsafeBufferPointer { cb_parse_certificate_pem($0.baseAddress, $0.count, n) }, "parse PEM")
      })
  }

  static func readExtensions(_ f: Fixtures) -> Workload {
    let certificate = f.certificate
    return Workload(
      name: "read every extension",
      note: "the 12 typed accessors against X509_get_ext_d2i for the same 12 extensions",
      ours: { n in
        for _ in 0..<n {
          blackHole(try certificate.subjectAlternativeNames)
          blackHole(try certificate.issuerAlternativeNames)
          blackHole(try certificate.keyUsage)
          blackHole(try certificate.extendedKeyUsage)
          blackHole(try certificate.basicConstraints)
          blackHole(try certificate.nameConstraints)
          blackHole(try certificate.authorityInformationAccess)
          blackHole(try certificate.crlDistributionPoints)
          blackHole(try certificate.subjectKeyIdentifier)
          blackHole(try certificate.authorityKeyIdentifier)
          blackHole(try certificate.tlsFeatures)
          blackHole(try certificate.ocspNoCheck)
        }
      },
      c: { n in
        try check(certificate.withUnsafePointer { cb_read_extensions(UnsafeRawPointer($0.raw), n) }, "extensions")
      })
  }

  // MARK: - Signatures

  /// A C signer holding its own reference to the key and the digest fetched once.
  final class Signer {
    let pointer: OpaquePointer

    init<Key: AsymmetricKey>(_ key: Key, digest: String?) throws {
      let made = key.withUnsafePointer { cb_signer_new(UnsafeMutableRawPointer($0.raw), digest) }
      guard let made else { throw BenchmarkFailure("cb_signer_new failed for \(digest ?? "EdDSA")") }
      pointer = made
    }

    deinit { cb_signer_free(pointer) }
  }

  static func sign(_ label: String, _ key: PrivateKey, digest: String?, _ f: Fixtures) throws -> Workload {
    let signer = try Signer(key, digest: digest)
    let message = f.message
    return Workload(
      name: "\(label) sign",
      note: "PrivateKey.signature(for:) against EVP_DigestSignInit + EVP_DigestSign (length, then signature)",
      ours: { n in
        for _ in 0..<n { blackHole(try key.signature(for: message)) }
      },
      c: { n in
        try check(cb_sign(signer.pointer, message, message.count, n, nil, nil), "\(label) sign")
      },
      naiveC: digest == nil
        ? nil
        : { n in try check(cb_sign_naive(signer.pointer, message, message.count, n), "\(label) naive sign") })
  }

  static func verify(
    _ label: String, _ key: PrivateKey, _ publicKey: PublicKey, digest: String?, _ f: Fixtures
  ) throws -> Workload {
    let signer = try Signer(publicKey, digest: digest)
    let message = f.message
    let signature = try key.signature(for: message)
    return Workload(
      name: "\(label) verify",
      note: "PublicKey.isValidSignature(_:for:) against EVP_DigestVerifyInit + EVP_DigestVerify",
      ours: { n in
        for _ in 0..<n {
          guard try publicKey.isValidSignature(signature, for: message) else {
            throw BenchmarkFailure("\(label): our verification said no")
          }
        }
      },
      c: { n in
        try check(
          cb_verify(signer.pointer, signature, signature.count, message, message.count, n), "\(label) verify")
      },
      naiveC: digest == nil
        ? nil
        : { n in
          try check(
            cb_verify_naive(signer.pointer, signature, signature.count, message, message.count, n),
            "\(label) naive verify")
        })
  }

  // MARK: - Keys

  static func loadEncryptedKey(_ f: Fixtures) -> Workload {
    let pem = f.encryptedKeyPEM
    let passphrase = f.passphraseBytes
    return Workload(
      name: "load encrypted PKCS#8 key (PEM)",
      note: "PrivateKey(bytes:passphrase:) against PEM_read_bio_PKCS8 + PKCS8_decrypt_ex + EVP_PKCS82PKEY_ex;"
        + " naive: PEM_read_bio_PrivateKey",
      ours: { n in
        for _ in 0..<n { blackHole(try PrivateKey(bytes: pem, passphrase: f.passphrase)) }
      },
      c: { n in
        try check(cb_load_encrypted_pkcs8(pem, pem.count, passphrase, passphrase.count, n), "encrypted key")
      },
      naiveC: { n in
        try check(cb_load_encrypted_pkcs8_naive(pem, pem.count, passphrase, passphrase.count, n), "naive key")
      })
  }

  static func loadKey(_ f: Fixtures) -> Workload {
    let pem = f.keyPEM
    return Workload(
      name: "load PKCS#8 key (PEM)",
      note: "PrivateKey(bytes:) against PEM_read_bio_PKCS8_PRIV_KEY_INFO + EVP_PKCS82PKEY_ex;"
        + " naive: PEM_read_bio_PrivateKey",
      ours: { n in
        for _ in 0..<n { blackHole(try PrivateKey(bytes: pem)) }
      },
      c: { n in try check(cb_load_pkcs8(pem, pem.count, n), "key") },
      naiveC: { n in try check(cb_load_pkcs8_naive(pem, pem.count, n), "naive key") })
  }

  // MARK: - OCSP

  /// A stapled response for the ECDSA chain's leaf, as a client validates it: parsed from DER,
  /// its signature and signer verified against the trust store (the signer, the leaf's issuing
  /// intermediate, comes with the response), the leaf's single response found, good and current.
  static func ocspStaple(_ f: Fixtures) throws -> Workload {
    let chain = f.tls.ecdsa
    let id = try OCSPCertID(certificate: chain.leaf, issuer: chain.intermediate)
    var builder = OCSPResponseBuilder()
    builder.add(
      id, status: .good, thisUpdate: Date(timeIntervalSinceNow: -60), nextUpdate: Date(timeIntervalSinceNow: 86_400))
    let der = try builder.sign(with: chain.intermediateKey, signer: chain.intermediate).derEncoded
    let store = f.tls.store
    return Workload(
      name: "OCSP staple: parse and validate",
      note: "OCSPResponse(derEncoded:).basicResponse().validate(_:store:) against d2i_OCSP_RESPONSE +"
        + " OCSP_response_get1_basic + OCSP_basic_verify + OCSP_resp_find_status + OCSP_check_validity",
      ours: { n in
        for _ in 0..<n { blackHole(try OCSPResponse(derEncoded: der).basicResponse().validate(id, store: store)) }
      },
      c: { n in
        try check(
          store.withUnsafePointer { store in
            id.withUnsafePointer { id in
              cb_ocsp_validate(der, der.count, UnsafeMutableRawPointer(store.raw), UnsafeMutableRawPointer(id.raw), n)
            }
          }, "OCSP staple")
      })
  }
}
