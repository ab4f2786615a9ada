import COpenSSLFull
// Public: the @_cdecl exports below use its types, and must be public to be exported from an
// optimized build (an internal function's symbol is hidden there).
public import COpenSSLObjectsABI
import OpenSSLObjects
import PKCS11Keys

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

// The exported functions of include/openssl_objects.h. Each one catches every error, records it
// as the calling thread's last error, and returns a status: nothing here traps on bad input.

/// The calling thread's last status and message (`oo_last_status`, `oo_last_error`).
enum LastError {
  private static let statusKey: pthread_key_t = unsafe makeKey(destructor: nil)
  private static let messageKey: pthread_key_t = unsafe makeKey { unsafe free($0) }

  private static func makeKey(destructor: (@convention(c) (UnsafeMutableRawPointer?) -> Void)?) -> pthread_key_t {
    var key = pthread_key_t()
    unsafe pthread_key_create(&key, destructor)
    return key
  }

  static func set(_ status: oo_status, _ message: String) {
    unsafe pthread_setspecific(statusKey, UnsafeRawPointer(bitPattern: UInt(status.rawValue)))
    if let old = unsafe pthread_getspecific(messageKey) { unsafe free(old) }
    unsafe pthread_setspecific(messageKey, strdup(message))
  }

  static func clear() {
    pthread_setspecific(statusKey, nil)
    if let old = unsafe pthread_getspecific(messageKey) {
      unsafe free(old)
      pthread_setspecific(messageKey, nil)
    }
  }

  static var status: oo_status {
    unsafe oo_status(rawValue: UInt32(UInt(bitPattern: pthread_getspecific(statusKey))))
  }

  static var message: UnsafePointer<CChar> {
    guard let text = unsafe pthread_getspecific(messageKey) else { return unsafe emptyText }
    return unsafe UnsafePointer(text.assumingMemoryBound(to: CChar.self))
  }

  // Written once, then only read.
  nonisolated(unsafe) private static let emptyText: UnsafePointer<CChar> = {
    let text = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    unsafe text.pointee = 0
    return unsafe UnsafePointer(text)
  }()

  /// Runs `body`, recording its failure; returns its status.
  static func guarded(_ body: () throws -> Void) -> oo_status {
    do {
      try body()
      clear()
      return OO_OK
    } catch {
      let status = Self.status(for: error)
      set(status, "\(error)")
      return status
    }
  }

  /// What C gets from a lookup: the object, or NULL with the thread's last error set.
  static func pointerOrNull(_ lookup: () throws -> OpaquePointer) -> UnsafeMutableRawPointer? {
    var result: UnsafeMutableRawPointer? = nil
    _ = guarded { unsafe result = unsafe UnsafeMutableRawPointer(try lookup()) }
    return unsafe result
  }

  static func status(for error: any Error) -> oo_status {
    switch error {
    case let capsule as CapsuleError: oo_status(rawValue: capsule.status)
    case is InputError: OO_ERR_INPUT
    case is OpenSSLError: OO_ERR_OPENSSL
    case is VerificationError: OO_ERR_VERIFICATION
    case is PKCS11Error: OO_ERR_PKCS11
    case is UsageError: OO_ERR_INVALID_ARGUMENT
    default: OO_ERR_OPENSSL
    }
  }
}

/// The ABI version of the library: (major << 16) | minor.
let libraryABIVersion = (UInt32(OO_ABI_VERSION_MAJOR) << 16) | UInt32(OO_ABI_VERSION_MINOR)

/// `oo_abi_version` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_abi_version")
@_spi(CABI) public func ooABIVersion() -> UInt32 { libraryABIVersion }

/// `oo_abi_check` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_abi_check")
@_spi(CABI) public func ooABICheck(_ major: UInt32, _ minor: UInt32) -> oo_status {
  LastError.guarded {
    guard major == UInt32(OO_ABI_VERSION_MAJOR), minor <= UInt32(OO_ABI_VERSION_MINOR) else {
      throw CapsuleError(
        OO_ERR_ABI_MISMATCH,
        "the caller needs ABI \(major).\(minor); this library offers \(OO_ABI_VERSION_MAJOR).\(OO_ABI_VERSION_MINOR)")
    }
  }
}

/// `oo_last_status` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_last_status")
@_spi(CABI) public func ooLastStatus() -> oo_status { LastError.status }

/// `oo_last_error` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_last_error")
@_spi(CABI) public func ooLastError() -> UnsafePointer<CChar> { unsafe LastError.message }

/// `oo_capsule_make_with_identity` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_capsule_make_with_identity")
@_spi(CABI) public func ooCapsuleMake(
  _ type: oo_type,
  _ object: UnsafeMutableRawPointer?,
  _ ownership: oo_ownership,
  _ identity: UnsafePointer<oo_libcrypto_identity>?,
  _ out: UnsafeMutablePointer<oo_capsule>?
) -> oo_status {
  LastError.guarded {
    guard let object = unsafe object, let out = unsafe out else {
      throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "object and out must not be NULL")
    }
    unsafe out.pointee = oo_capsule(handle: 0)
    let handle = unsafe try CapsuleRegistry.shared.make(
      type: type.rawValue, object: OpaquePointer(object), ownership: ownership.rawValue,
      identity: LibcryptoIdentity(identity))
    unsafe out.pointee = oo_capsule(handle: handle)
  }
}

/// `oo_capsule_get_with_identity` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_capsule_get_with_identity")
@_spi(CABI) public func ooCapsuleGet(
  _ capsule: oo_capsule,
  _ expected: oo_type,
  _ identity: UnsafePointer<oo_libcrypto_identity>?
) -> UnsafeMutableRawPointer? {
  unsafe LastError.pointerOrNull {
    unsafe try CapsuleRegistry.shared.object(
      capsule.handle, expected: expected.rawValue, identity: LibcryptoIdentity(identity))
  }
}

/// `oo_capsule_get1_with_identity` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_capsule_get1_with_identity")
@_spi(CABI) public func ooCapsuleGet1(
  _ capsule: oo_capsule,
  _ expected: oo_type,
  _ identity: UnsafePointer<oo_libcrypto_identity>?
) -> UnsafeMutableRawPointer? {
  unsafe LastError.pointerOrNull {
    unsafe try CapsuleRegistry.shared.newReference(
      capsule.handle, expected: expected.rawValue, identity: LibcryptoIdentity(identity))
  }
}

/// `oo_capsule_type` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_capsule_type")
@_spi(CABI) public func ooCapsuleType(_ capsule: oo_capsule, _ out: UnsafeMutablePointer<oo_type>?) -> oo_status {
  LastError.guarded {
    guard let out = unsafe out else { throw CapsuleError(OO_ERR_INVALID_ARGUMENT, "out must not be NULL") }
    unsafe out.pointee = oo_type(rawValue: try CapsuleRegistry.shared.type(capsule.handle))
  }
}

/// `oo_capsule_retain` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_capsule_retain")
@_spi(CABI) public func ooCapsuleRetain(_ capsule: oo_capsule) -> oo_status {
  LastError.guarded { try CapsuleRegistry.shared.retain(capsule.handle) }
}

/// `oo_capsule_release` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_capsule_release")
@_spi(CABI) public func ooCapsuleRelease(_ capsule: oo_capsule) -> oo_status {
  LastError.guarded { try CapsuleRegistry.shared.release(capsule.handle) }
}

/// `oo_get_api` of include/openssl_objects.h: an export for C code, not Swift API.
@_cdecl("oo_get_api")
@_spi(CABI) public func ooGetAPI(_ minimumVersion: UInt32) -> UnsafePointer<oo_api>? {
  guard minimumVersion <= UInt32(OO_API_VERSION) else {
    LastError.set(
      OO_ERR_ABI_MISMATCH, "the caller needs API table version \(minimumVersion); this library has \(OO_API_VERSION)")
    return nil
  }
  LastError.clear()
  return unsafe APITable.table
}
