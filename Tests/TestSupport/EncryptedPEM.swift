import COpenSSLFull
import Foundation
public import OpenSSLObjects

/// A key's encrypted PEM forms, for tests of passphrases: PKCS#8 (`ENCRYPTED PRIVATE KEY`) and
/// the traditional form (`Proc-Type: 4,ENCRYPTED` headers), which OpenSSL decrypts another way.
public enum EncryptedPEM {
  /// The traditional encrypted PEM with AES-128-CBC (`PEM_write_bio_PrivateKey_traditional`).
  public static func traditional(_ key: PrivateKey, passphrase: [UInt8]) throws -> [UInt8] {
    try key.withUnsafePointer { pointer in
      guard let bio = BIO_new(BIO_s_mem()) else { throw Failed() }
      defer { BIO_free(bio) }
      var pass = passphrase
      guard
        PEM_write_bio_PrivateKey_traditional(bio, pointer.raw, EVP_aes_128_cbc(), &pass, Int32(pass.count), nil, nil)
          == 1
      else { throw Failed() }
      var data: UnsafeMutablePointer<CChar>? = nil
      let count = oo_BIO_get_mem_data(bio, &data)
      return Array(UnsafeRawBufferPointer(start: data, count: count))
    }
  }

  /// Writes `key` encrypted with `passphrase` as `pkcs8.pem` and `traditional.pem` into
  /// `directory` and returns their paths.
  public static func files(
    _ key: PrivateKey, passphrase: String, in directory: TemporaryDirectory
  ) throws -> (pkcs8: String, traditional: String) {
    let pkcs8 = try key.pemEncoded(passphrase: Passphrase(Array(passphrase.utf8))).withUnsafeBytes { Array($0) }
    return (
      try directory.write("pkcs8.pem", pkcs8),
      try directory.write("traditional.pem", try traditional(key, passphrase: Array(passphrase.utf8)))
    )
  }

  struct Failed: Error, CustomStringConvertible {
    var description: String { "OpenSSL could not write the encrypted PEM" }
  }
}
