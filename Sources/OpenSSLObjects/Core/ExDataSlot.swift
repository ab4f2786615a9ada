import COpenSSLFull

/// A slot in the ex_data of one OpenSSL class that holds a retained Swift object for exactly as
/// long as the C object lives.
///
/// Swift closures given to OpenSSL (verify callbacks, staple callbacks) live in the C object's
/// ex_data: the slot's free callback releases the Swift object when OpenSSL frees the C object
/// (even when C code held the object after the Swift wrapper was gone), and its dup callback takes
/// one more reference when OpenSSL copies the C object (`SSL_dup`, `SSL_SESSION_dup`). Nothing is
/// keyed by a pointer's address: C libraries reuse addresses.
@safe
package final class ExDataSlot<Value: AnyObject & Sendable>: @unchecked Sendable {
  // Immutable after initialization.
  private let index: Int32
  private let getter: @Sendable (OpaquePointer, Int32) -> UnsafeMutableRawPointer?
  private let setter: @Sendable (OpaquePointer, Int32, UnsafeMutableRawPointer?) -> Int32

  /// Registers a new index for a class (`CRYPTO_get_ex_new_index`) with the free and dup
  /// callbacks, and the class's own get and set functions (`SSL_get_ex_data`, ...).
  package init(
    classIndex: Int32,
    get: @escaping @Sendable (OpaquePointer, Int32) -> UnsafeMutableRawPointer?,
    set: @escaping @Sendable (OpaquePointer, Int32, UnsafeMutableRawPointer?) -> Int32
  ) {
    index = unsafe CRYPTO_get_ex_new_index(classIndex, 0, nil, nil, exDataSlotDup, exDataSlotFree)
    unsafe getter = unsafe get
    unsafe setter = unsafe set
  }

  /// The object in the slot of `object`, if any (not retained beyond the caller's use).
  ///
  /// No dynamic cast: the index is this slot's own, and only ``set(_:_:)`` writes it, always with
  /// a `Value`.
  package func get(_ object: OpaquePointer) -> Value? {
    guard let raw = unsafe getter(object, index) else { return nil }
    return unsafe Unmanaged<Value>.fromOpaque(raw).takeUnretainedValue()
  }

  /// Puts `value` into the slot of `object` (retained), releasing what was there before.
  ///
  /// - Returns: `false` if OpenSSL could not store it (the value is then not retained).
  @discardableResult
  package func set(_ object: OpaquePointer, _ value: Value?) -> Bool {
    let old = unsafe getter(object, index)
    let new = unsafe value.map { unsafe Unmanaged.passRetained($0).toOpaque() }
    let stored = ErrorQueue.isolated { _ in unsafe setter(object, index, new) } == 1
    if !stored {
      if let new = unsafe new { unsafe Unmanaged<AnyObject>.fromOpaque(new).release() }
      return false
    }
    if let old = unsafe old { unsafe Unmanaged<AnyObject>.fromOpaque(old).release() }
    return true
  }
}

/// The ex_data free callback of every slot: releases the slot's reference. OpenSSL calls it with
/// `NULL` for objects that never had data in the slot.
private func exDataSlotFree(
  _ parent: UnsafeMutableRawPointer?,
  _ pointer: UnsafeMutableRawPointer?,
  _ data: UnsafeMutablePointer<CRYPTO_EX_DATA>?,
  _ index: Int32,
  _ argl: Int,
  _ argp: UnsafeMutableRawPointer?
) {
  guard let pointer = unsafe pointer else { return }
  unsafe Unmanaged<AnyObject>.fromOpaque(pointer).release()
}

/// The ex_data dup callback of every slot: the copy shares the Swift object, so it takes one more
/// reference (OpenSSL stores the same pointer in the copy).
private func exDataSlotDup(
  _ to: UnsafeMutablePointer<CRYPTO_EX_DATA>?,
  _ from: UnsafePointer<CRYPTO_EX_DATA>?,
  _ fromData: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
  _ index: Int32,
  _ argl: Int,
  _ argp: UnsafeMutableRawPointer?
) -> Int32 {
  // `fromData` points to the value being copied.
  guard let value = unsafe fromData?.pointee else { return 1 }
  _ = unsafe Unmanaged<AnyObject>.fromOpaque(value).retain()
  return 1
}

/// A Swift value boxed in a class, to live in an ``ExDataSlot``.
package final class ExDataBox<Value: Sendable>: Sendable {
  package let value: Value

  package init(_ value: Value) {
    self.value = value
  }
}
