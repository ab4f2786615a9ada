import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// What a callback saw at one step.
struct Step: Hashable, CustomStringConvertible {
  let ok: Bool
  let error: Int32
  let depth: Int
  let subject: String?

  var description: String { "(\(ok), \(error), \(depth), \(subject ?? "nil"))" }
}

/// An object whose deinit is observable, to prove how long a closure lives.
final class LifeToken: Sendable {
  let freed: Recorder<Bool>
  init(_ freed: Recorder<Bool>) { self.freed = freed }
  deinit { freed.append(true) }
}

@Suite("Verification callbacks, pins and chain policies")
struct VerifyCallbackTests {
  private func record(
    _ recorder: Recorder<Step>,
    decide: @escaping @Sendable (borrowing X509StoreContextView) -> VerifyDecision = { _ in .keep }
  )
    -> VerifyCallback
  {
    { view in
      recorder.append(
        Step(
          ok: view.ok, error: view.error.rawValue, depth: view.depth,
          subject: view.currentCertificate?.subject.commonNames.first))
      return decide(view)
    }
  }

  /// A chain whose intermediate and leaf have both expired.
  private func twiceExpired() throws -> (store: X509Store, leaf: X509Certificate, intermediate: X509Certificate) {
    let rootKey = try PrivateKey(generating: .ec(.p256))
    let root = try TestPKI.makeCA(name: "Root", key: rootKey)
    let intermediateKey = try PrivateKey(generating: .ec(.p256))
    let intermediate = try TestPKI.makeCA(
      name: "Old Intermediate", key: intermediateKey, issuerKey: rootKey, issuer: root
    ) {
      $0.notBefore = now.addingTimeInterval(-100 * 86_400)
      $0.notAfter = now.addingTimeInterval(-10 * 86_400)
    }
    var leafBuilder = try TestPKI.leafBuilder(name: "old.example.test", key: try PrivateKey(generating: .ec(.p256)))
    leafBuilder.notBefore = now.addingTimeInterval(-50 * 86_400)
    leafBuilder.notAfter = now.addingTimeInterval(-5 * 86_400)
    let leaf = try leafBuilder.sign(with: intermediateKey, issuerCertificate: intermediate)
    let store = X509Store()
    try store.add(root)
    return (store, leaf, intermediate)
  }

  @Test func theCallSequenceForAChainWithTwoErrors() throws {
    let (store, leaf, intermediate) = try twiceExpired()
    let steps = Recorder<Step>()
    var policy = VerificationPolicy()
    policy.time = now
    policy.verifyCallback = record(steps) { $0.ok ? .keep : .accept }
    let verified = try store.verify(leaf, untrusted: [intermediate], policy: policy)
    // OpenSSL 3.0: once per error found at each depth (ok false), once per certificate that
    // passes (ok true), from the trust anchor down to the leaf.
    let expired = X509_V_ERR_CERT_HAS_EXPIRED
    #expect(
      steps.all == [
        Step(ok: true, error: 0, depth: 2, subject: "Root"),
        Step(ok: false, error: expired, depth: 1, subject: "Old Intermediate"),
        Step(ok: true, error: 0, depth: 1, subject: "Old Intermediate"),
        Step(ok: false, error: expired, depth: 0, subject: "old.example.test"),
        Step(ok: true, error: 0, depth: 0, subject: "old.example.test"),
      ], "\(steps.all)")
    #expect(verified.acceptedOverrides.map(\.code) == [.certificateHasExpired, .certificateHasExpired])
    #expect(verified.acceptedOverrides.map(\.depth) == [1, 0])
    #expect(verified.certificates.count == 3)
  }

  @Test func keepingAnErrorStopsAtTheFirstOne() throws {
    let (store, leaf, intermediate) = try twiceExpired()
    let steps = Recorder<Step>()
    var policy = VerificationPolicy()
    policy.time = now
    policy.verifyCallback = record(steps)
    let error = try #require(throws: VerificationError.self) {
      try store.verify(leaf, untrusted: [intermediate], policy: policy)
    }
    #expect(error.code == .certificateHasExpired)
    #expect(error.depth == 1)
    #expect(steps.all.count == 2)
  }

  @Test func theCurrentCertificateCanBeAbsent() throws {
    let chain = try Chain()
    let steps = Recorder<Step>()
    var policy = VerificationPolicy()
    policy.flags = [.policyCheck, .explicitPolicy]
    policy.verifyCallback = record(steps)
    let error = try chain.failure(policy)
    #expect(error.code == VerificationError.Code(X509_V_ERR_NO_EXPLICIT_POLICY))
    let failing = try #require(steps.all.last)
    #expect(!failing.ok)
    #expect(failing.subject == nil)
    #expect(error.certificate == nil)
  }

  @Test func aRejectionKeepsItsReason() throws {
    let chain = try Chain()
    var policy = VerificationPolicy()
    policy.verifyCallback = { view in view.depth == 0 && view.ok ? .reject("leaf not on the allow-list") : .keep }
    let error = try chain.failure(policy)
    #expect(error.code == .certificateRejected)
    #expect(error.depth == 0)
    #expect(error.rejectionReason == "leaf not on the allow-list")
    #expect(
      error.explanation
        == "A verification callback rejected \"CN=www.example.test\" at depth 0: leaf not on the allow-list.")
  }

  @Test func aRejectionOfAnErrorKeepsOpenSSLsCode() throws {
    let (store, leaf, intermediate) = try twiceExpired()
    var policy = VerificationPolicy()
    policy.time = now
    policy.verifyCallback = { view in view.ok ? .keep : .reject("expired certificates are not allowed here") }
    let error = try #require(throws: VerificationError.self) {
      try store.verify(leaf, untrusted: [intermediate], policy: policy)
    }
    #expect(error.code == .certificateHasExpired)
    #expect(error.rejectionReason == "expired certificates are not allowed here")
  }

  @Test func aThrownErrorReachesTheCaller() throws {
    struct PolicyLookupFailed: Error {}
    let chain = try Chain()
    var policy = VerificationPolicy()
    policy.verifyCallback = { _ in throw PolicyLookupFailed() }
    #expect(throws: PolicyLookupFailed.self) { try chain.verify(policy) }
  }

  @Test func aStoreCallbackRunsFirstAndALaterCallbackCanReject() throws {
    let (store, leaf, intermediate) = try twiceExpired()
    let order = Recorder<String>()
    try store.setVerifyCallback { view in
      order.append("store \(view.depth) \(view.ok)")
      return view.ok ? .keep : .accept
    }
    var policy = VerificationPolicy()
    policy.time = now
    policy.verifyCallback = { view in
      order.append("verification \(view.depth) \(view.ok)")
      return view.depth == 0 && view.ok ? .reject("second opinion") : .keep
    }
    let error = try #require(throws: VerificationError.self) {
      try store.verify(leaf, untrusted: [intermediate], policy: policy)
    }
    #expect(error.rejectionReason == "second opinion")
    // The verification callback sees the store's acceptance as ok.
    #expect(order.all.prefix(4) == ["store 2 true", "verification 2 true", "store 1 false", "verification 1 true"])
  }

  @Test func theClosureLivesExactlyAsLongAsTheStore() throws {
    let freed = Recorder<Bool>()
    var handed: OpenSSLPointer<X509Store>? = nil
    do {
      let store = X509Store()
      let token = LifeToken(freed)
      try store.setVerifyCallback { _ in
        _ = token
        return .keep
      }
      handed = try store.retainedPointer()
    }
    // C still holds the store, so the closure lives.
    #expect(freed.all.isEmpty)
    X509_STORE_free(handed!.raw)
    #expect(freed.all == [true])
  }

  @Test func replacingTheCallbackFreesTheOldOne() throws {
    let freed = Recorder<Bool>()
    let store = X509Store()
    do {
      let token = LifeToken(freed)
      try store.setVerifyCallback { _ in
        _ = token
        return .keep
      }
    }
    #expect(freed.all.isEmpty)
    try store.setVerifyCallback { _ in .keep }
    #expect(freed.all == [true])
  }

  /// The documented pattern: a callback must not capture its own store (a cycle through
  /// ex_data that never frees). Capture what it needs, or the store weakly.
  @Test func aCallbackThatNeedsItsStoreCapturesItWeakly() throws {
    let freed = Recorder<Bool>()
    do {
      let store = X509Store()
      let token = LifeToken(freed)
      try store.setVerifyCallback { [weak store] view in
        _ = token
        return store == nil || view.ok ? .keep : .keep
      }
    }
    #expect(freed.all == [true])
  }

  // MARK: Pins

  @Test func pinsAreCheckedAgainstTheVerifiedChain() throws {
    let chain = try Chain()
    var policy = VerificationPolicy()
    policy.pins = try PinSet([chain.pki.root.spkiPin])
    #expect(try chain.verify(policy).certificates.count == 3)
    policy.pins = try PinSet([try chain.pki.leafKey.spkiPin])
    #expect(try chain.verify(policy).certificates.count == 3)
  }

  @Test func pinsOfCertificatesThePeerSentButThatAreNotInTheChainDoNotCount() throws {
    let chain = try Chain()
    let stranger = try TestPKI().root
    var policy = VerificationPolicy()
    policy.pins = try PinSet([stranger.spkiPin])
    let error = try chain.failure(policy, untrusted: [chain.pki.intermediate, stranger])
    #expect(error.code == .applicationVerification)
    let found = [chain.pki.leaf, chain.pki.intermediate, chain.pki.root].map { "\($0.subject.rfc2253): \($0.spkiPin)" }
    #expect(
      error.explanation
        == "No key of the verified chain matches a pin. Expected one of: \(stranger.spkiPin). The chain has: \(found.joined(separator: "; "))."
    )
  }

  @Test func malformedPinsAreRefused() throws {
    #expect(throws: InputError.self) { try PinSet(["sha256/not base64"]) }
    #expect(throws: InputError.self) { try PinSet(["sha1/" + String(repeating: "A", count: 28)]) }
    #expect(throws: InputError.self) { try PinSet(["sha256/AAAA"]) }
  }

  // MARK: Chain policy

  @Test func theChainPolicyRunsAfterOpenSSLAndCanOnlyReject() throws {
    let chain = try Chain()
    let seen = Recorder<Int>()
    var policy = VerificationPolicy()
    policy.chainPolicy = { certificates in
      seen.append(certificates.count)
      return certificates.count > 2 ? .reject("chains longer than two are not allowed here") : .accept
    }
    let error = try chain.failure(policy)
    #expect(error.code == .applicationVerification)
    #expect(error.rejectionReason == "chains longer than two are not allowed here")
    #expect(seen.all == [3])
    // A failing verification never reaches the chain policy.
    policy.host = "elsewhere.test"
    #expect(try chain.failure(policy).code == .hostnameMismatch)
    #expect(seen.all == [3])
  }
}
