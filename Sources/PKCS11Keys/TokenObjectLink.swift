import COpenSSLFull
public import OpenSSLObjects

/// Where a key or certificate made from a token came from: module, token and object.
public struct PKCS11ObjectOrigin: Sendable, Hashable, CustomStringConvertible {
  /// The module's canonical path.
  public let modulePath: String
  /// The token's label.
  public let token: String
  /// The slot's `CK_SLOT_ID`.
  public let slotID: UInt
  /// The object as it was listed.
  public let object: PKCS11ObjectInfo

  /// For example `private key "ec-p256" id 02 (EC 256 bits) on token "oo-test" of module /usr/lib/...`.
  public var description: String {
    "\(object) on token \"\(token)\" (slot \(slotID)) of module \(modulePath)"
  }
}

/// What a token key's `EVP_PKEY` (or a token certificate's `X509`) holds in its ex_data: a strong
/// reference to the module, so that the module stays loaded while OpenSSL or C code still holds
/// the object, and the object's origin for error messages.
///
/// The reference is taken (`Unmanaged.passRetained`) when the ex_data is set and released by the
/// ex_data free callback, which OpenSSL calls when it frees the object: in OpenSSL 3.0,
/// `EVP_PKEY_free` frees the key material (libp11's RSA or EC_KEY, whose methods call into the
/// module) before the ex_data, so the module is still loaded while libp11 tidies up. The dup
/// callback takes one more reference for a copy made by `EVP_PKEY_dup`.
final class TokenObjectLink: Sendable {
  let module: PKCS11Module
  let origin: PKCS11ObjectOrigin

  init(module: PKCS11Module, origin: PKCS11ObjectOrigin) {
    self.module = module
    self.origin = origin
  }

  /// The `EVP_PKEY` ex_data index (`EVP_PKEY_get_ex_new_index`), registered once per process.
  static let keyIndex: Int32 = unsafe oo_EVP_PKEY_get_ex_new_index(0, nil, nil, duplicate, release)
  /// The `X509` ex_data index (`X509_get_ex_new_index`), registered once per process.
  static let certificateIndex: Int32 = unsafe oo_X509_get_ex_new_index(0, nil, nil, duplicate, release)

  /// Stores a new strong reference to `link` in the key's ex_data (`EVP_PKEY_set_ex_data`).
  static func attach(_ link: TokenObjectLink, toKey key: OpaquePointer) -> Bool {
    let pointer = unsafe Unmanaged.passRetained(link).toOpaque()
    let stored = ErrorQueue.isolated { _ in unsafe EVP_PKEY_set_ex_data(key, keyIndex, pointer) == 1 }
    if !stored { unsafe Unmanaged<TokenObjectLink>.fromOpaque(pointer).release() }
    return stored
  }

  /// Stores a new strong reference to `link` in the certificate's ex_data (`X509_set_ex_data`).
  static func attach(_ link: TokenObjectLink, toCertificate certificate: OpaquePointer) -> Bool {
    let pointer = unsafe Unmanaged.passRetained(link).toOpaque()
    let stored = ErrorQueue.isolated { _ in unsafe X509_set_ex_data(certificate, certificateIndex, pointer) == 1 }
    if !stored { unsafe Unmanaged<TokenObjectLink>.fromOpaque(pointer).release() }
    return stored
  }

  /// The link in a key's ex_data, if it came from a token (`EVP_PKEY_get_ex_data`).
  static func link(ofKey key: OpaquePointer) -> TokenObjectLink? {
    unsafe EVP_PKEY_get_ex_data(key, keyIndex).map {
      unsafe Unmanaged<TokenObjectLink>.fromOpaque($0).takeUnretainedValue()
    }
  }

  /// The link in a certificate's ex_data, if it came from a token (`X509_get_ex_data`).
  static func link(ofCertificate certificate: OpaquePointer) -> TokenObjectLink? {
    unsafe X509_get_ex_data(certificate, certificateIndex).map {
      unsafe Unmanaged<TokenObjectLink>.fromOpaque($0).takeUnretainedValue()
    }
  }

  /// The ex_data free callback: drops the reference the object held. OpenSSL calls it for every
  /// object freed, with `NULL` for objects that never had a link.
  private static let release:
    @convention(c) (
      UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<CRYPTO_EX_DATA>?, Int32, Int,
      UnsafeMutableRawPointer?
    ) -> Void = { _, pointer, _, _, _, _ in
      guard let pointer = unsafe pointer else { return }
      unsafe Unmanaged<TokenObjectLink>.fromOpaque(pointer).release()
    }

  /// The ex_data dup callback: the copy holds a reference of its own.
  private static let duplicate:
    @convention(c) (
      UnsafeMutablePointer<CRYPTO_EX_DATA>?, UnsafePointer<CRYPTO_EX_DATA>?,
      UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int32, Int, UnsafeMutableRawPointer?
    ) -> Int32 = { _, _, slot, _, _, _ in
      // `slot` holds the value the copy will carry.
      guard let slot = unsafe slot, let pointer = unsafe slot.pointee else { return 1 }
      _ = unsafe Unmanaged<TokenObjectLink>.fromOpaque(pointer).retain()
      return 1
    }
}

extension PrivateKey {
  /// Where this key lives, when it was made from a PKCS#11 token (read from the `EVP_PKEY`'s
  /// ex_data, `EVP_PKEY_get_ex_data`); `nil` for other keys.
  public var pkcs11Origin: PKCS11ObjectOrigin? {
    withUnsafePointer { unsafe TokenObjectLink.link(ofKey: $0.raw)?.origin }
  }
}

extension X509Certificate {
  /// Where this certificate was read from, when it came from a PKCS#11 token (`X509_get_ex_data`);
  /// `nil` for other certificates.
  public var pkcs11Origin: PKCS11ObjectOrigin? {
    withUnsafePointer { unsafe TokenObjectLink.link(ofCertificate: $0.raw)?.origin }
  }
}
