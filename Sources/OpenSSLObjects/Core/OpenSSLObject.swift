import COpenSSLFull

// The ownership model shared by every wrapper: one rule, four doors, written once.
//
// Every wrapper is a `final class` derived from `OpenSSLObjectBase`, which owns exactly one
// reference to the C object and drops it in its one `deinit`. The doors (adopt, borrow, retain,
// hand over, and copy for objects OpenSSL does not reference-count) are protocol extensions over
// that base. A wrapper only names its C type's row in `CObjectType`'s table: no wrapper writes
// its own pointer, `deinit`, free, up_ref or dup.

// MARK: - The C types

/// How OpenSSL frees, references and copies one C type: the only place where the shared mechanism
/// learns each wrapper's C functions.
@safe
package struct CObjectType: @unchecked Sendable {
  // Immutable; C function pointers only.
  /// The C type's name as OpenSSL spells it, for example `"X509"`.
  package let name: String
  /// Drops one reference (`X509_free`, ...).
  package let free: @convention(c) (OpaquePointer?) -> Void
  /// Adds one reference (`X509_up_ref`, ...), for the types OpenSSL reference-counts.
  package let upRef: (@convention(c) (OpaquePointer?) -> Int32)?
  /// Makes an independent copy (`X509_NAME_dup`, ...), for the types it does not.
  package let duplicate: (@convention(c) (OpaquePointer?) -> OpaquePointer?)?

  package init(
    name: String,
    free: @convention(c) (OpaquePointer?) -> Void,
    upRef: (@convention(c) (OpaquePointer?) -> Int32)? = nil,
    duplicate: (@convention(c) (OpaquePointer?) -> OpaquePointer?)? = nil
  ) {
    self.name = name
    unsafe self.free = free
    unsafe self.upRef = upRef
    unsafe self.duplicate = duplicate
  }
}

extension CObjectType {
  package static let x509 = unsafe CObjectType(name: "X509", free: X509_free, upRef: X509_up_ref)
  package static let libraryContext = unsafe CObjectType(name: "OSSL_LIB_CTX", free: OSSL_LIB_CTX_free)
  package static let provider = unsafe CObjectType(
    name: "OSSL_PROVIDER", free: { _ = unsafe OSSL_PROVIDER_unload($0) })
  package static let evpMD = unsafe CObjectType(name: "EVP_MD", free: EVP_MD_free, upRef: EVP_MD_up_ref)
  package static let x509CRL = unsafe CObjectType(name: "X509_CRL", free: X509_CRL_free, upRef: X509_CRL_up_ref)
  package static let x509Name = unsafe CObjectType(
    name: "X509_NAME", free: X509_NAME_free, duplicate: { unsafe X509_NAME_dup($0) })
  package static let evpPKey = unsafe CObjectType(name: "EVP_PKEY", free: EVP_PKEY_free, upRef: EVP_PKEY_up_ref)
  package static let x509Store = unsafe CObjectType(
    name: "X509_STORE", free: X509_STORE_free, upRef: X509_STORE_up_ref)
  package static let x509StoreContext = unsafe CObjectType(name: "X509_STORE_CTX", free: X509_STORE_CTX_free)
  package static let sslContext = unsafe CObjectType(name: "SSL_CTX", free: SSL_CTX_free, upRef: SSL_CTX_up_ref)
  package static let ssl = unsafe CObjectType(name: "SSL", free: SSL_free, upRef: SSL_up_ref)
  package static let sslSession = unsafe CObjectType(
    name: "SSL_SESSION", free: SSL_SESSION_free, upRef: SSL_SESSION_up_ref)
  package static let ocspCertID = unsafe CObjectType(
    name: "OCSP_CERTID", free: OCSP_CERTID_free, duplicate: { unsafe OCSP_CERTID_dup($0) })
  package static let ocspRequest = unsafe CObjectType(
    name: "OCSP_REQUEST", free: OCSP_REQUEST_free,
    duplicate: { unsafe ASN1_item_dup(OCSP_REQUEST_it(), UnsafeRawPointer($0)).map { OpaquePointer($0) } })
  package static let ocspResponse = unsafe CObjectType(
    name: "OCSP_RESPONSE", free: OCSP_RESPONSE_free,
    duplicate: { unsafe ASN1_item_dup(OCSP_RESPONSE_it(), UnsafeRawPointer($0)).map { OpaquePointer($0) } })
  package static let ocspBasicResponse = unsafe CObjectType(
    name: "OCSP_BASICRESP", free: OCSP_BASICRESP_free,
    duplicate: { unsafe ASN1_item_dup(OCSP_BASICRESP_it(), UnsafeRawPointer($0)).map { OpaquePointer($0) } })
}

// MARK: - Typed pointers

/// A raw pointer to one kind of OpenSSL object, typed by the Swift wrapper of that kind.
///
/// OpenSSL's structs are incomplete types, which Swift imports as one `OpaquePointer`: an
/// `EVP_PKEY *` would silently fit where an `X509 *` belongs. `OpenSSLPointer<X509Certificate>` and
/// `OpenSSLPointer<PrivateKey>` are different types, so that mistake does not compile. Label a raw
/// pointer once, where it leaves C code: `unsafe OpenSSLPointer<X509Certificate>(x509)`.
///
/// The value is a plain pointer: it owns nothing. The door it is passed to says who owns what.
/// Labelling is unsafe (nothing can check what the pointer points to), and so is reading ``raw``.
@safe
public struct OpenSSLPointer<Object: OpenSSLObject>: Hashable {
  /// The C pointer (`X509 *`, `EVP_PKEY *`, ...).
  public let raw: OpaquePointer

  /// Labels a C pointer as pointing to an object of `Object`'s C type.
  ///
  /// Nothing is checked: the caller states what the pointer is.
  @unsafe
  public init(_ raw: OpaquePointer) {
    unsafe self.raw = raw
  }

  /// Labels a C pointer, or returns `nil` for `NULL`.
  @unsafe
  public init?(_ raw: OpaquePointer?) {
    guard let raw = unsafe raw else { return nil }
    unsafe self.raw = raw
  }

  /// Whether both point to the same object.
  public static func == (lhs: Self, rhs: Self) -> Bool { unsafe lhs.raw == rhs.raw }

  /// Hashes the address.
  public func hash(into hasher: inout Hasher) { unsafe hasher.combine(raw) }
}

// MARK: - The base

/// The one owner that every wrapper is: exactly one reference to one C object, dropped in this
/// class's `deinit` with the C type's free function.
///
/// Every wrapper (`X509Certificate`, `SSLContext`, ...) derives from it and adds the doors through
/// ``OpenSSLObject``, ``OpenSSLReferenceCounted`` or ``OpenSSLCopyable``. It cannot be subclassed
/// outside the library, and its pointer is not public: borrow it with
/// ``OpenSSLObject/withUnsafePointer(_:)``.
@safe
public class OpenSSLObjectBase {
  /// The owned C pointer.
  @usableFromInline
  package let pointer: OpaquePointer

  /// The row of ``CObjectType``'s table for this wrapper's C type.
  package class var cType: CObjectType {
    preconditionFailure("every wrapper names its C type")
  }

  /// Adopts a +1 reference.
  package required init(adopting pointer: OpaquePointer) {
    unsafe self.pointer = pointer
  }

  deinit {
    unsafe Self.cType.free(pointer)
  }

  /// Called before a reference is handed to code outside Swift's view (``OpenSSLReferenceCounted/retainedPointer()``,
  /// a capsule): the wrappers whose C objects must not change under such holders (stores,
  /// contexts) freeze here.
  package func willHandOver() {}
}

// MARK: - The doors

/// A Swift object that owns exactly one reference to an OpenSSL object.
///
/// Conforming types are the library's `final class`es derived from ``OpenSSLObjectBase``, which
/// frees the reference in its `deinit`. The doors, the same for every type:
/// - adopt: ``init(takingOwnershipOf:)`` takes a +1 reference that the caller gives up;
/// - borrow: ``withUnsafePointer(_:)`` lends the raw pointer for the duration of a closure;
/// - retain and hand over: see ``OpenSSLReferenceCounted``;
/// - copy: see ``OpenSSLCopyable``.
///
/// Adopting and retaining are `@unsafe`: only the caller knows what the pointer is and who else
/// holds it.
public protocol OpenSSLObject: OpenSSLObjectBase {}

extension OpenSSLObject {
  /// The C type's name as OpenSSL spells it, for example `"X509"`.
  public static var openSSLTypeName: String { cType.name }

  /// Adopts a reference: the new object owns the +1 reference that `pointer` carries and frees it
  /// (with the type's `*_free`) when it is deinitialized. The caller must not free it.
  @unsafe
  public init(takingOwnershipOf pointer: OpenSSLPointer<Self>) {
    unsafe self.init(adopting: pointer.raw)
  }

  /// Lends the raw pointer for the duration of `body`; the object stays alive until `body` returns.
  ///
  /// The pointer is borrowed: do not free it and do not keep it after `body` returns. C code that
  /// needs to keep the object must take its own reference (see ``OpenSSLReferenceCounted``) or a
  /// copy (see ``OpenSSLCopyable``).
  @inlinable
  public func withUnsafePointer<Result, Failure: Error>(
    _ body: (OpenSSLPointer<Self>) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    defer { withExtendedLifetime(self) {} }
    return try body(unsafe OpenSSLPointer(pointer))
  }
}

/// An ``OpenSSLObject`` whose C type OpenSSL 3.0 reference-counts (`X509`, `X509_CRL`, `X509_STORE`,
/// `EVP_PKEY`, `SSL_CTX`, `SSL`, `SSL_SESSION`): it can also retain a reference someone else owns
/// and hand over new references to C code.
public protocol OpenSSLReferenceCounted: OpenSSLObject {}

extension OpenSSLReferenceCounted {
  /// Retains: shares an object that someone else owns by adding one reference with the type's
  /// `*_up_ref`. The caller keeps its own reference and stays responsible for it.
  ///
  /// - Throws: ``OpenSSLError`` if OpenSSL could not add the reference.
  @unsafe
  public init(retaining pointer: OpenSSLPointer<Self>) throws(OpenSSLError) {
    unsafe try Self.addReference(unsafe pointer.raw)
    unsafe self.init(adopting: pointer.raw)
  }

  /// Hands over a new reference (`*_up_ref`) for C code, which becomes responsible for freeing it
  /// with the type's `*_free`. This object keeps its own reference. A store or a TLS context
  /// handed over is frozen against changes from Swift, since C code may now use it.
  ///
  /// - Throws: ``OpenSSLError`` if OpenSSL could not add the reference.
  public func retainedPointer() throws(OpenSSLError) -> OpenSSLPointer<Self> {
    willHandOver()
    return try withUnsafePointer { pointer throws(OpenSSLError) in
      unsafe try Self.addReference(unsafe pointer.raw)
      return pointer
    }
  }

  /// Adds one reference with the type's `*_up_ref`.
  package static func addReference(_ pointer: OpaquePointer) throws(OpenSSLError) {
    guard let upRef = unsafe cType.upRef, unsafe upRef(pointer) == 1 else {
      throw OpenSSLError.capture(operation: "\(openSSLTypeName)_up_ref")
    }
  }
}

/// An ``OpenSSLObject`` whose C type OpenSSL 3.0 does not reference-count (`OCSP_*`, `X509_NAME`):
/// instead of retain and hand over it offers explicit copies.
public protocol OpenSSLCopyable: OpenSSLObject {}

extension OpenSSLCopyable {
  /// Copies an object someone else owns (the type's `*_dup`); the caller keeps its object.
  ///
  /// - Throws: ``OpenSSLError`` if the copy failed.
  @unsafe
  public init(copying pointer: OpenSSLPointer<Self>) throws(OpenSSLError) {
    let copy = unsafe try Self.duplicate(unsafe pointer.raw)
    unsafe self.init(adopting: copy)
  }

  /// Hands over an independent copy (the type's `*_dup`) that C code owns and frees.
  ///
  /// - Throws: ``OpenSSLError`` if the copy failed.
  public func copiedPointer() throws(OpenSSLError) -> OpenSSLPointer<Self> {
    try withUnsafePointer { pointer throws(OpenSSLError) in unsafe OpenSSLPointer(try Self.duplicate(pointer.raw)) }
  }

  /// An independent copy of this object (the type's `*_dup`), owned by a new Swift wrapper.
  ///
  /// - Throws: ``OpenSSLError`` if the copy failed.
  public func copy() throws(OpenSSLError) -> Self {
    try withUnsafePointer { pointer throws(OpenSSLError) in unsafe Self(adopting: try Self.duplicate(pointer.raw)) }
  }

  /// Copies with the type's `*_dup`.
  package static func duplicate(_ pointer: OpaquePointer) throws(OpenSSLError) -> OpaquePointer {
    unsafe try ErrorQueue.call("\(openSSLTypeName)_dup") { unsafe cType.duplicate?(pointer) }
  }
}
