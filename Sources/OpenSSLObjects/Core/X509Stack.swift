import COpenSSLFull

/// `STACK_OF(X509)` for calls that borrow a list of certificates or lend one: the one way the
/// library makes and reads certificate stacks.
enum X509Stack {
  /// Lends a stack holding `certificates` (not retained: the caller's array keeps them alive)
  /// for the duration of `body`, then frees the stack (`sk_X509_free`), not its members.
  static func withStack<Result, Failure: Error>(
    _ certificates: [X509Certificate],
    _ body: (OpaquePointer) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    let stack = unsafe oo_sk_X509_new_null()!
    defer { unsafe oo_sk_X509_free(stack) }
    for member in certificates { _ = unsafe oo_sk_X509_push(stack, member.pointer) }
    return try withExtendedLifetime(certificates) { () throws(Failure) in unsafe try body(stack) }
  }

  /// The certificates of a borrowed stack, each retained.
  static func certificates(_ stack: OpaquePointer?) -> [X509Certificate] {
    guard let stack = unsafe stack else { return [] }
    return unsafe (0..<oo_sk_X509_num(stack)).compactMap { index in
      unsafe oo_sk_X509_value(stack, index).flatMap { unsafe try? X509Certificate(retaining: OpenSSLPointer($0)) }
    }
  }
}
