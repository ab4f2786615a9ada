// The ownership model shared by every wrapper: one rule, four doors.
//
// Each wrapper is a `final class` that owns exactly one reference to its C object and drops it in
// `deinit`. The doors (adopt, borrow, retain, hand over, and copy for objects OpenSSL does not
// reference-count) are implemented once, here, in protocol extensions; a wrapper only states its C
// type's free, up_ref or dup function.

/// A raw pointer to one kind of OpenSSL object, typed by the Swift wrapper of that kind.
///
/// OpenSSL's structs are incomplete types, which Swift imports as one `OpaquePointer`: an
/// `EVP_PKEY *` would silently fit where an `X509 *` belongs. `OpenSSLPointer<X509Certificate>` and
/// `OpenSSLPointer<PrivateKey>` are different types, so that mistake does not compile. Label a raw
/// pointer once, where it leaves C code: `OpenSSLPointer<X509Certificate>(x509)`.
///
/// The value is a plain pointer: it owns nothing. The door it is passed to says who owns what.
public struct OpenSSLPointer<Object: OpenSSLObject>: Hashable {
  /// The C pointer (`X509 *`, `EVP_PKEY *`, ...).
  public let raw: OpaquePointer

  /// Labels a C pointer as pointing to an object of `Object`'s C type.
  ///
  /// Nothing is checked: the caller states what the pointer is.
  public init(_ raw: OpaquePointer) {
    self.raw = raw
  }

  /// Labels a C pointer, or returns `nil` for `NULL`.
  public init?(_ raw: OpaquePointer?) {
    guard let raw else { return nil }
    self.raw = raw
  }
}

/// A Swift object that owns exactly one reference to an OpenSSL object.
///
/// Conforming types are `final class`es that free their reference in `deinit`. The members whose
/// names start with an underscore are the mechanism behind the doors; use the doors instead:
/// - adopt: ``init(takingOwnershipOf:)`` takes a +1 reference that the caller gives up;
/// - borrow: ``withUnsafePointer(_:)`` lends the raw pointer for the duration of a closure;
/// - retain and hand over: see ``OpenSSLReferenceCounted``;
/// - copy: see ``OpenSSLCopyable``.
public protocol OpenSSLObject: AnyObject {
  /// The C type's name as OpenSSL spells it, for example `"X509"`.
  static var openSSLTypeName: String { get }

  /// Drops one reference to a C object of this type (`X509_free`, `EVP_PKEY_free`, ...).
  ///
  /// Part of the shared ownership mechanism; not for direct use.
  static func _free(_ pointer: OpaquePointer)

  /// The owned C pointer. Part of the shared ownership mechanism: use ``withUnsafePointer(_:)``.
  var _pointer: OpaquePointer { get }

  /// Adopts a reference: the new object owns the +1 reference that `pointer` carries and frees it
  /// when it is deinitialized. The caller must not free it.
  init(takingOwnershipOf pointer: OpenSSLPointer<Self>)
}

/// An ``OpenSSLObject`` whose C type OpenSSL 3.0 reference-counts (`X509`, `X509_CRL`, `X509_STORE`,
/// `EVP_PKEY`, `SSL_CTX`, `SSL`, `SSL_SESSION`): it can also retain a reference someone else owns
/// and hand over new references to C code.
public protocol OpenSSLReferenceCounted: OpenSSLObject {
  /// Adds one reference (`X509_up_ref`, `EVP_PKEY_up_ref`, ...); `false` if OpenSSL could not.
  ///
  /// Part of the shared ownership mechanism; not for direct use.
  static func _upRef(_ pointer: OpaquePointer) -> Bool
}

/// An ``OpenSSLObject`` whose C type OpenSSL 3.0 does not reference-count (`OCSP_*`, `X509_NAME`,
/// `X509_VERIFY_PARAM`): instead of retain and hand over it offers explicit copies.
public protocol OpenSSLCopyable: OpenSSLObject {
  /// Makes an independent copy (`X509_NAME_dup`, `OCSP_RESPONSE_dup`, ...), or `nil` on failure.
  ///
  /// Part of the shared ownership mechanism; not for direct use.
  static func _duplicate(_ pointer: OpaquePointer) -> OpaquePointer?
}

// MARK: - Borrow

extension OpenSSLObject {
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
    return try body(OpenSSLPointer(_pointer))
  }
}

// MARK: - Retain and hand over

extension OpenSSLReferenceCounted {
  /// Retains: shares an object that someone else owns by adding one reference with the type's
  /// `*_up_ref`. The caller keeps its own reference and stays responsible for it.
  ///
  /// - Throws: ``OpenSSLError`` if OpenSSL could not add the reference.
  public init(retaining pointer: OpenSSLPointer<Self>) throws(OpenSSLError) {
    guard Self._upRef(pointer.raw) else {
      throw OpenSSLError.capture(operation: "\(Self.openSSLTypeName)_up_ref")
    }
    self.init(takingOwnershipOf: pointer)
  }

  /// Hands over a new reference (`*_up_ref`) for C code, which becomes responsible for freeing it
  /// with the type's `*_free`. This object keeps its own reference.
  ///
  /// - Throws: ``OpenSSLError`` if OpenSSL could not add the reference.
  public func retainedPointer() throws(OpenSSLError) -> OpenSSLPointer<Self> {
    guard Self._upRef(_pointer) else {
      throw OpenSSLError.capture(operation: "\(Self.openSSLTypeName)_up_ref")
    }
    return OpenSSLPointer(_pointer)
  }
}

// MARK: - Copy

extension OpenSSLCopyable {
  /// Copies an object someone else owns (the type's `*_dup`); the caller keeps its object.
  ///
  /// - Throws: ``OpenSSLError`` if the copy failed.
  public init(copying pointer: OpenSSLPointer<Self>) throws(OpenSSLError) {
    let copy = try Self._duplicateOrThrow(pointer.raw)
    self.init(takingOwnershipOf: OpenSSLPointer(copy))
  }

  /// Hands over an independent copy (the type's `*_dup`) that C code owns and frees.
  ///
  /// - Throws: ``OpenSSLError`` if the copy failed.
  public func copiedPointer() throws(OpenSSLError) -> OpenSSLPointer<Self> {
    OpenSSLPointer(try withUnsafePointer { pointer throws(OpenSSLError) in try Self._duplicateOrThrow(pointer.raw) })
  }

  /// An independent copy of this object (the type's `*_dup`), owned by a new Swift wrapper.
  ///
  /// - Throws: ``OpenSSLError`` if the copy failed.
  public func copy() throws(OpenSSLError) -> Self {
    Self(takingOwnershipOf: try copiedPointer())
  }

  static func _duplicateOrThrow(_ pointer: OpaquePointer) throws(OpenSSLError) -> OpaquePointer {
    try ErrorQueue.call("\(Self.openSSLTypeName)_dup") { Self._duplicate(pointer) }
  }
}
