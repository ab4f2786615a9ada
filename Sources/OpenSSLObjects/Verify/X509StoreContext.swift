import COpenSSLFull

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One chain verification (`X509_STORE_CTX`): a leaf, untrusted intermediates and a store.
///
/// OpenSSL 3.0 does not reference-count `X509_STORE_CTX`: this type offers adopt and borrow, and no
/// copy (OpenSSL has no `X509_STORE_CTX_dup`). The context keeps its store, leaf and untrusted
/// certificates alive while it lives, since `X509_STORE_CTX_init` only borrows them. One
/// context verifies once.
///
/// Inside a callback, OpenSSL lends its own context: callbacks see an ``X509StoreContextView``
/// instead, which cannot outlive the callback.
@safe
public final class X509StoreContext: OpenSSLObjectBase, OpenSSLObject {
  override package class var cType: CObjectType { .x509StoreContext }

  // What X509_STORE_CTX_init borrows, kept alive here.
  private var store: X509Store?
  private var leaf: X509Certificate?
  private var untrustedStack: OpaquePointer?
  private var state: VerificationState?
  private var verified = false
  private var chainPolicy: ChainPolicy?
  private var pins: PinSet?
  private var profile: VerificationProfile?

  /// Prepares the verification of `certificate` against `store`, with `untrusted` certificates
  /// to build the chain from (`X509_STORE_CTX_new`, `X509_STORE_CTX_init`), under `policy`.
  /// The store becomes frozen (in use).
  ///
  /// - Throws: ``InputError`` if OpenSSL refuses a policy value (a malformed host name).
  public init(
    store: X509Store,
    certificate: X509Certificate,
    untrusted: [X509Certificate] = [],
    policy: VerificationPolicy = VerificationPolicy()
  ) throws {
    store.freeze()
    self.store = store
    self.leaf = certificate
    let stack = unsafe oo_sk_X509_new_null()!
    unsafe untrustedStack = unsafe stack
    unsafe super.init(adopting: X509_STORE_CTX_new()!)
    for member in untrusted {
      _ = unsafe oo_sk_X509_push(stack, try member.retainedPointer().raw)
    }
    try ErrorQueue.isolated { scope throws(InputError) in
      guard unsafe X509_STORE_CTX_init(pointer, store.pointer, certificate.pointer, stack) == 1 else {
        throw InputError(
          .invalidArgument, object: "verification", source: "X509_STORE_CTX_init",
          detail: "OpenSSL could not set up the verification", openSSLError: scope.failure("X509_STORE_CTX_init"))
      }
    }
    unsafe try policy.apply(to: X509_STORE_CTX_get0_param(pointer))
    let state = VerificationState(callbacks: policy.verifyCallback.map { [$0] } ?? [], purpose: policy.purpose)
    unsafe VerificationState.contextSlot.set(pointer, state)
    self.state = state
    unsafe X509_STORE_CTX_set_verify_cb(pointer, verifyTrampoline)
    chainPolicy = policy.chainPolicy
    pins = policy.pins
    profile = policy.profile
  }

  /// Adopts an `X509_STORE_CTX` (the shared mechanism behind ``OpenSSLObject/init(takingOwnershipOf:)``).
  /// The caller keeps what it initialized the context with alive.
  package required init(adopting pointer: OpaquePointer) {
    unsafe super.init(adopting: pointer)
  }

  deinit {
    // The context borrows the untrusted stack: it lets go of it (X509_STORE_CTX_cleanup) before the
    // stack goes; the base class frees the context itself.
    guard let untrustedStack = unsafe untrustedStack else { return }
    unsafe X509_STORE_CTX_cleanup(pointer)
    unsafe oo_sk_X509_pop_free(untrustedStack)
  }

  /// Runs OpenSSL's verification (`X509_verify_cert`), then the profile's rules, the pins and the
  /// chain policy.
  ///
  /// - Returns: the verified chain, leaf first, and the errors callbacks accepted.
  /// - Throws: ``VerificationError`` (with OpenSSL's code, depth and an explanation), the error
  ///   a callback or the chain policy threw, or ``UsageError`` on a second call.
  @discardableResult
  public func verify() throws -> VerifiedChain {
    guard !verified else { throw UsageError("an X509_STORE_CTX verifies once; make a new X509StoreContext") }
    verified = true
    let status = ErrorQueue.isolated { _ in unsafe X509_verify_cert(pointer) }
    if let thrown = state?.thrown { throw thrown }
    guard status == 1, unsafe X509_STORE_CTX_get_error(pointer) == X509_V_OK else {
      throw unsafe state?.failure ?? VerificationError(context: pointer)
    }
    if let profile, let refusal = unsafe profile.violation(context: pointer) { throw refusal }
    let chain = self.chain
    if let pins, !pins.isSatisfied(by: chain) {
      throw VerificationError(pinsUnsatisfied: pins, chain: chain)
    }
    if let chainPolicy, case .reject(let reason) = try chainPolicy(chain) {
      throw VerificationError(chainPolicyRejected: reason, chain: chain)
    }
    return VerifiedChain(certificates: chain, acceptedOverrides: state?.accepted ?? [])
  }

  /// The verification's error code (`X509_STORE_CTX_get_error`).
  public var errorCode: VerificationError.Code { unsafe VerificationError.Code(X509_STORE_CTX_get_error(pointer)) }

  /// The depth of the error (`X509_STORE_CTX_get_error_depth`).
  public var errorDepth: Int { unsafe Int(X509_STORE_CTX_get_error_depth(pointer)) }

  /// The certificate being checked when the error happened (`X509_STORE_CTX_get_current_cert`),
  /// retained; absent for errors about the chain as a whole.
  public var currentCertificate: X509Certificate? {
    unsafe X509_STORE_CTX_get_current_cert(pointer).flatMap {
      unsafe try? X509Certificate(retaining: OpenSSLPointer($0))
    }
  }

  /// The issuer of the current certificate (`X509_STORE_CTX_get0_current_issuer`), retained.
  public var currentIssuer: X509Certificate? {
    unsafe X509_STORE_CTX_get0_current_issuer(pointer).flatMap {
      unsafe try? X509Certificate(retaining: OpenSSLPointer($0))
    }
  }

  /// The chain OpenSSL built, leaf first (`X509_STORE_CTX_get0_chain`), each member retained:
  /// the verified chain after success, the chain as far as it was built after a failure.
  public var chain: [X509Certificate] { unsafe X509StoreContextView.chain(of: pointer) }
}

/// The result of a successful verification.
public struct VerifiedChain: Sendable {
  /// The verified chain, leaf first, ending at the trust anchor.
  public let certificates: [X509Certificate]
  /// The errors that verification callbacks accepted, in the order they happened.
  public let acceptedOverrides: [VerificationError]
}

extension X509Store {
  /// Verifies `certificate` with `untrusted` intermediates against this store under `policy`
  /// (`X509_STORE_CTX_init`, `X509_verify_cert`, then pins and the chain policy). The store
  /// becomes frozen.
  ///
  /// - Returns: the verified chain and any accepted overrides.
  /// - Throws: ``VerificationError``, a callback's or the chain policy's own error, or
  ///   ``InputError`` for a policy value OpenSSL refuses.
  public func verify(
    _ certificate: X509Certificate,
    untrusted: [X509Certificate] = [],
    policy: VerificationPolicy = VerificationPolicy()
  ) throws -> VerifiedChain {
    try X509StoreContext(store: self, certificate: certificate, untrusted: untrusted, policy: policy).verify()
  }
}

/// A verification callback's view of OpenSSL's `X509_STORE_CTX`: the error, the depth, the
/// current certificate and the chain so far.
///
/// It is noncopyable and passed `borrowing`, so it cannot be kept after the callback returns:
/// the compiler refuses to store or capture it. Certificates read from it are retained and may be
/// kept.
@safe
public struct X509StoreContextView: ~Copyable {
  private let context: OpaquePointer

  /// OpenSSL's verdict for this step after the callbacks before this one: `false` when OpenSSL
  /// reports an error (see ``error``), `true` when the current certificate passed.
  public let ok: Bool

  init(_ context: OpaquePointer, ok: Bool) {
    unsafe self.context = unsafe context
    self.ok = ok
  }

  /// The current error (`X509_STORE_CTX_get_error`); `X509_V_OK` when ``ok`` is `true`.
  public var error: VerificationError.Code { unsafe VerificationError.Code(X509_STORE_CTX_get_error(context)) }

  /// The depth of the current certificate or error (`X509_STORE_CTX_get_error_depth`); 0 is the leaf.
  public var depth: Int { unsafe Int(X509_STORE_CTX_get_error_depth(context)) }

  /// The current certificate (`X509_STORE_CTX_get_current_cert`), retained; `nil` for errors
  /// about the chain as a whole.
  public var currentCertificate: X509Certificate? {
    unsafe X509_STORE_CTX_get_current_cert(context).flatMap {
      unsafe try? X509Certificate(retaining: OpenSSLPointer($0))
    }
  }

  /// The current certificate's issuer (`X509_STORE_CTX_get0_current_issuer`), retained, if known.
  public var currentIssuer: X509Certificate? {
    unsafe X509_STORE_CTX_get0_current_issuer(context).flatMap {
      unsafe try? X509Certificate(retaining: OpenSSLPointer($0))
    }
  }

  /// The chain built so far, leaf first (`X509_STORE_CTX_get0_chain`), each member retained.
  public var chain: [X509Certificate] { unsafe Self.chain(of: context) }

  /// Whether this step checks a CRL's own chain rather than the main one
  /// (`X509_STORE_CTX_get0_parent_ctx` is set).
  public var isCRLPath: Bool { unsafe X509_STORE_CTX_get0_parent_ctx(context) != nil }

  /// The error as a ``VerificationError`` with its explanation.
  public var verificationError: VerificationError { unsafe VerificationError(context: context) }

  /// Lends OpenSSL's `X509_STORE_CTX` for the duration of `body`, for C code that needs it. It
  /// belongs to OpenSSL and is valid only during this callback.
  public func withUnsafePointer<Result, Failure: Error>(
    _ body: (OpenSSLPointer<X509StoreContext>) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    unsafe try body(OpenSSLPointer(context))
  }

  static func chain(of context: OpaquePointer) -> [X509Certificate] {
    unsafe X509Stack.certificates(X509_STORE_CTX_get0_chain(context))
  }
}
