import COpenSSLFull
import COpenSSLObjectsABI
public import OpenSSLObjects

/// A capsule: a typed handle, shared with C code through `include/openssl_objects.h`, around one
/// OpenSSL object. The handle indexes the library's table (it is not a pointer), so a released or
/// forged capsule is detected without touching freed memory.
///
/// A capsule holds its own reference to its object; ``retain()`` and ``release()`` count
/// capsule holders (`oo_capsule_retain`, `oo_capsule_release`). Every wrapper converts to one
/// (`capsule()`) and from one (`init(capsule:)`) through ``CapsuleConvertible``: sharing the
/// object for the reference-counted types, copying it for the others.
public struct Capsule: Hashable, Sendable, CustomStringConvertible {
  /// The handle C code sees in `oo_capsule.handle`.
  public let handle: UInt64

  /// A capsule from a handle C code gave (nothing is checked until it is used).
  public init(handle: UInt64) {
    self.handle = handle
  }

  /// The type of object the capsule holds (`oo_capsule_type`).
  ///
  /// - Throws: ``CapsuleError`` for a released or forged capsule.
  public var type: CapsuleType {
    get throws(CapsuleError) {
      let raw = try CapsuleRegistry.shared.type(handle)
      guard let type = CapsuleType(rawValue: raw) else {
        throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "unknown type \(raw)")
      }
      return type
    }
  }

  /// Adds one capsule reference (`oo_capsule_retain`).
  public func retain() throws(CapsuleError) {
    try CapsuleRegistry.shared.retain(handle)
  }

  /// Drops one capsule reference (`oo_capsule_release`); the last one drops the capsule's
  /// reference to its object and makes the handle stale.
  public func release() throws(CapsuleError) {
    try CapsuleRegistry.shared.release(handle)
  }

  /// The handle in hexadecimal.
  public var description: String { "Capsule(0x\(String(handle, radix: 16)))" }

  /// Makes a capsule that takes its own reference to `pointer` (`*_up_ref`), or a copy of it
  /// for types OpenSSL does not reference-count.
  static func make(
    _ type: CapsuleType, retaining pointer: OpaquePointer, copy: Bool = false
  ) throws(CapsuleError) -> Capsule {
    let ownership = copy ? OO_COPY.rawValue : OO_RETAIN.rawValue
    return unsafe Capsule(
      handle: try CapsuleRegistry.shared.make(
        type: type.rawValue, object: pointer, ownership: ownership, identity: .ours))
  }

  /// The capsule's object, borrowed, checked to be of `type`.
  func object(_ type: CapsuleType) throws(CapsuleError) -> OpaquePointer {
    unsafe try CapsuleRegistry.shared.object(handle, expected: type.rawValue, identity: .ours)
  }
}

/// The types a capsule holds (`oo_type`).
public enum CapsuleType: UInt32, Sendable, CaseIterable {
  /// `X509` (`X509Certificate`).
  case x509 = 1
  /// `EVP_PKEY` holding a private key (`PrivateKey`).
  case evpPKey = 2
  /// `X509_STORE` (`X509Store`).
  case x509Store = 3
  /// `X509_CRL` (`X509CRL`).
  case x509CRL = 4
  /// `SSL_CTX` (`SSLContext`).
  case sslContext = 5
  /// `SSL` (`SSLConnection`).
  case ssl = 6
  /// `SSL_SESSION` (`SSLSession`).
  case sslSession = 7
  /// `OCSP_RESPONSE`: adopted or copied (not reference-counted in OpenSSL 3.0).
  case ocspResponse = 8
  /// `OCSP_BASICRESP`: adopted or copied.
  case ocspBasicResponse = 9
  /// `X509_STORE_CTX`: lent only, during a callback.
  case x509StoreContext = 10
  /// `EVP_PKEY` used for its public half only (`PublicKey`): a capsule of this type never passes
  /// for a private key.
  case evpPKeyPublic = 11
}

/// A wrapper that converts to and from capsules.
public protocol CapsuleConvertible: OpenSSLObject {
  /// The capsule type of the wrapper's C type.
  static var capsuleType: CapsuleType { get }
}

extension CapsuleConvertible where Self: OpenSSLReferenceCounted {
  /// A new capsule holding its own reference to this object (`*_up_ref`); C code gets it with
  /// `oo_capsule_get` and lets go with `oo_capsule_release`. This hands the object to C code: a
  /// store or a TLS context is no longer changed from Swift.
  ///
  /// - Throws: ``CapsuleError`` if OpenSSL could not add the reference.
  public func capsule() throws(CapsuleError) -> Capsule {
    willHandOver()
    return try withUnsafePointer { pointer throws(CapsuleError) in
      unsafe try Capsule.make(Self.capsuleType, retaining: pointer.raw)
    }
  }

  /// The object a capsule holds, sharing it (`*_up_ref`): the capsule keeps its own reference.
  ///
  /// - Throws: ``CapsuleError`` for a capsule of another type, released or forged.
  public init(capsule: Capsule) throws {
    // The reference is taken with the capsule table locked, so that C code releasing the capsule
    // on another thread cannot free the object between the lookup and the up_ref.
    let pointer = unsafe try CapsuleRegistry.shared.newReference(
      capsule.handle, expected: Self.capsuleType.rawValue, identity: .ours)
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }
}

extension CapsuleConvertible where Self: OpenSSLCopyable {
  /// A new capsule holding a copy of this object (`*_dup`: OpenSSL 3.0 does not reference-count
  /// it); C code gets it with `oo_capsule_get` and lets go with `oo_capsule_release`.
  ///
  /// - Throws: ``CapsuleError`` if OpenSSL could not copy it.
  public func capsule() throws(CapsuleError) -> Capsule {
    try withUnsafePointer { pointer throws(CapsuleError) in
      unsafe try Capsule.make(Self.capsuleType, retaining: pointer.raw, copy: true)
    }
  }

  /// A copy of the object a capsule holds (`*_dup`); the capsule keeps its own.
  ///
  /// - Throws: ``CapsuleError`` for a capsule of another type, released or forged.
  public init(capsule: Capsule) throws {
    // Copied with the capsule table locked: a release on another thread cannot free the object
    // while it is being copied.
    let pointer = unsafe try CapsuleRegistry.shared.newReference(
      capsule.handle, expected: Self.capsuleType.rawValue, identity: .ours)
    unsafe self.init(takingOwnershipOf: OpenSSLPointer(pointer))
  }
}

extension OCSPResponse: CapsuleConvertible {
  /// `OO_TYPE_OCSP_RESPONSE`.
  public static var capsuleType: CapsuleType { .ocspResponse }
}

extension OCSPBasicResponse: CapsuleConvertible {
  /// `OO_TYPE_OCSP_BASICRESP`.
  public static var capsuleType: CapsuleType { .ocspBasicResponse }
}

extension X509Certificate: CapsuleConvertible {
  /// `OO_TYPE_X509`.
  public static var capsuleType: CapsuleType { .x509 }
}

extension PrivateKey: CapsuleConvertible {
  /// `OO_TYPE_EVP_PKEY`.
  public static var capsuleType: CapsuleType { .evpPKey }
}

extension PublicKey: CapsuleConvertible {
  /// `OO_TYPE_EVP_PKEY_PUBLIC`.
  public static var capsuleType: CapsuleType { .evpPKeyPublic }
}

extension X509Store: CapsuleConvertible {
  /// `OO_TYPE_X509_STORE`.
  public static var capsuleType: CapsuleType { .x509Store }
}

extension X509CRL: CapsuleConvertible {
  /// `OO_TYPE_X509_CRL`.
  public static var capsuleType: CapsuleType { .x509CRL }
}

extension SSLContext: CapsuleConvertible {
  /// `OO_TYPE_SSL_CTX`.
  public static var capsuleType: CapsuleType { .sslContext }
}

extension SSLConnection: CapsuleConvertible {
  /// `OO_TYPE_SSL`.
  public static var capsuleType: CapsuleType { .ssl }
}

extension SSLSession: CapsuleConvertible {
  /// `OO_TYPE_SSL_SESSION`.
  public static var capsuleType: CapsuleType { .sslSession }
}

extension X509StoreContextView {
  /// Lends OpenSSL's `X509_STORE_CTX` to C code as a capsule for the duration of `body`; the loan
  /// ends (the capsule goes stale) when `body` returns, whatever C code did with it: a lent capsule
  /// cannot be retained (`oo_capsule_retain`) or give out a reference (`oo_capsule_get1`), and
  /// using its handle afterwards reports `OO_ERR_RELEASED` without touching the freed context.
  public func withCapsule<Result>(_ body: (Capsule) throws -> Result) throws -> Result {
    let capsule = try withUnsafePointer { pointer throws(CapsuleError) in
      unsafe Capsule(
        handle: try CapsuleRegistry.shared.make(
          type: CapsuleType.x509StoreContext.rawValue, object: pointer.raw, ownership: OO_LEND.rawValue, identity: .ours
        ))
    }
    defer { CapsuleRegistry.shared.endLoan(capsule.handle) }
    return try body(capsule)
  }
}
