import COpenSSLFull

/// What our callbacks record during one verification: accepted overrides, a rejection or a
/// thrown error, and the first failure with the facts OpenSSL only shows during the callback
/// (the CRL being checked, the chain so far).
///
/// One state belongs to one verification (an `X509_STORE_CTX` of ours, or a TLS connection's
/// handshake) and is used by one thread at a time.
package final class VerificationState: @unchecked Sendable {
  /// The callbacks of the verification, context and connection, run after the store's own.
  package let callbacks: [VerifyCallback]
  /// Errors a callback accepted.
  package var accepted: [VerificationError] = []
  /// The first failure, recorded when it happened.
  package var failure: VerificationError?
  /// An error a callback threw; it reaches the caller unchanged.
  package var thrown: (any Error)?
  /// The purpose asked for, when known (OpenSSL 3.0 cannot read it back from the parameters).
  package let purpose: VerificationPurpose?

  package init(callbacks: [VerifyCallback], purpose: VerificationPurpose?) {
    self.callbacks = callbacks
    self.purpose = purpose
  }

  /// The state of our own `X509_STORE_CTX`s.
  package static let contextSlot = unsafe ExDataSlot<VerificationState>(
    classIndex: CRYPTO_EX_INDEX_X509_STORE_CTX, get: { unsafe X509_STORE_CTX_get_ex_data($0, $1) },
    set: { unsafe X509_STORE_CTX_set_ex_data($0, $1, $2) })

  /// A store's own callback (``X509Store/setVerifyCallback(_:)``).
  package static let storeCallbacks = unsafe ExDataSlot<ExDataBox<VerifyCallback>>(
    classIndex: CRYPTO_EX_INDEX_X509_STORE, get: { unsafe X509_STORE_get_ex_data($0, $1) },
    set: { unsafe X509_STORE_set_ex_data($0, $1, $2) })

  /// The state for a store context: its own, or that of the TLS connection it verifies for.
  package static func find(_ context: OpaquePointer) -> VerificationState? {
    if let state = unsafe contextSlot.get(context) { return state }
    let index = SSL_get_ex_data_X509_STORE_CTX_idx()
    guard index >= 0, let ssl = unsafe X509_STORE_CTX_get_ex_data(context, index) else { return nil }
    return unsafe TLSConnectionState.find(OpaquePointer(ssl))?.verification
  }
}

/// The C verify callback behind every Swift one: OpenSSL calls it for each error at each depth
/// (`ok` 0) and for each certificate that passes (`ok` 1).
///
/// Callbacks run in order: the store's, then the verification's (or TLS context's), then the
/// connection's. Each sees the verdict left by the one before; any can reject, and a rejection or
/// a throw ends the verification at once. An acceptance clears the error
/// (`X509_STORE_CTX_set_error(ctx, X509_V_OK)`) and is recorded as an accepted override.
package let verifyTrampoline: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, context in
  guard let context = unsafe context else { return ok }
  let state = unsafe VerificationState.find(context)
  var callbacks: [VerifyCallback] = []
  if let store = unsafe X509_STORE_CTX_get0_store(context), let box = unsafe VerificationState.storeCallbacks.get(store)
  {
    callbacks.append(box.value)
  }
  if let state { callbacks += state.callbacks }
  var verdict = ok != 0
  for callback in callbacks {
    let decision: VerifyDecision
    do {
      decision = unsafe try callback(X509StoreContextView(context, ok: verdict))
    } catch {
      state?.thrown = state?.thrown ?? error
      unsafe rejectContext(context, reason: "the verify callback threw \(error)", state: state)
      return 0
    }
    switch decision {
    case .keep:
      continue
    case .accept:
      if !verdict {
        unsafe state?.accepted.append(VerificationError(context: context))
        unsafe X509_STORE_CTX_set_error(context, X509_V_OK)
        verdict = true
      }
    case .reject(let reason):
      unsafe rejectContext(context, reason: reason, state: state)
      return 0
    }
  }
  if !verdict, let state, state.failure == nil {
    state.failure = unsafe VerificationError(context: context)
  }
  return verdict ? 1 : 0
}

/// Fails the verification on behalf of a callback: an error is always set, so a rejection can
/// never read as success (`X509_V_ERR_CERT_REJECTED` when OpenSSL had none).
private func rejectContext(_ context: OpaquePointer, reason: String, state: VerificationState?) {
  if unsafe X509_STORE_CTX_get_error(context) == X509_V_OK {
    unsafe X509_STORE_CTX_set_error(context, X509_V_ERR_CERT_REJECTED)
  }
  if let state, state.failure == nil {
    state.failure = unsafe VerificationError(context: context, callbackReason: reason)
  }
}
