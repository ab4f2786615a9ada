import CBaseline
import OpenSSLObjects
import PKCS11Keys

extension Workloads {
  /// SoftHSM2's module, as `scripts/softhsm-token.sh` uses it.
  static let softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

  /// Signatures on the SoftHSM2 token: ours loads each key from a `pkcs11:` URI, C through raw
  /// libp11 (its own `PKCS11_CTX`); both then sign the same message through `EVP_DigestSign`,
  /// which libp11 sends to the token (`C_Sign`). Empty without a token.
  static func token(_ f: Fixtures) throws -> [Workload] {
    guard let directory = f.tokenDirectory else { return [] }
    let pin = try String(contentsOfFile: "\(directory)/pin", encoding: .utf8)
    // Ours logs in first: the library checks a PIN only on a token nobody else in the process has
    // logged in to (it refuses, `loggedInElsewhere`, rather than trust another login). libp11's
    // own context, opened next, takes the token's CKR_USER_ALREADY_LOGGED_IN as success.
    let options = PKCS11LoadOptions(modulePolicy: .allowList([softHSMModule]), backend: .libp11)
    let labels = [("ec-p256", "ECDSA P-256"), ("rsa-2048", "RSA-2048")]
    let keys = try labels.map { label, _ in
      let uri =
        "pkcs11:token=oo-test;object=\(label);type=private?module-path=\(softHSMModule)&pin-source=file:\(directory)/pin"
      return try PrivateKey(pkcs11: uri, options: options)
    }
    guard let token = cb_token_open(softHSMModule, "oo-test", pin) else {
      throw BenchmarkFailure("libp11 could not open and log in to the token in \(directory)")
    }
    // The C token context stays open for the process's lifetime (see cb_token_close).
    return try zip(labels, keys).map { labelAndName, ours in
      let (label, name) = labelAndName
      guard let raw = cb_token_private_key(token, label) else {
        throw BenchmarkFailure("libp11 found no private key \(label)")
      }
      let theirs = PrivateKey(takingOwnershipOf: OpenSSLPointer(OpaquePointer(raw)))
      let signer = try Signer(theirs, digest: "SHA2-256")
      let message = f.message
      return Workload(
        name: "token \(name) sign (SoftHSM2)",
        note: "PrivateKey(pkcs11:options:).signature(for:) against libp11's PKCS11_get_private_key key through"
          + " EVP_DigestSignInit + EVP_DigestSign",
        ours: { n in
          for _ in 0..<n { blackHole(try ours.signature(for: message)) }
        },
        c: { n in try check(cb_sign(signer.pointer, message, message.count, n, nil, nil), "token \(name) sign") })
    }
  }
}
