import COpenSSLFull
import Dispatch
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Whether a store or a context may still change belongs to the C object, not to one Swift
/// wrapper: tried through every door, the way a careless C caller or a second wrapper would.
@Suite("Soundness: one lifecycle per C object, seen by every wrapper and by C code")
struct SoundnessLifecycleTests {
  // MARK: - Stores

  @Test func handingAStoreOverFreezesItForEveryWrapper() throws {
    let chain = try Chain()
    let store = try chain.store()
    let handed = try store.retainedPointer()
    defer { X509_STORE_free(handed.raw) }
    #expect(store.isFrozen)
    let error = try caught(UsageError.self) { try store.add(chain.pki.intermediate) }
    #expect(error.message.contains("handed to C code"), "\(error)")
    let second = try X509Store(retaining: handed)
    #expect(second.isFrozen)
    #expect(throws: UsageError.self) { try second.setFlags([.x509Strict]) }
  }

  @Test func aVerificationThatCCodeSetsUpFreezesTheStore() throws {
    let chain = try Chain()
    let store = try chain.store()
    store.withUnsafePointer { storePointer in
      chain.pki.leaf.withUnsafePointer { leaf in
        // What C code holding the store does: X509_STORE_CTX_init, without any Swift door.
        let context = X509_STORE_CTX_new()!
        defer { X509_STORE_CTX_free(context) }
        #expect(X509_STORE_CTX_init(context, storePointer.raw, leaf.raw, nil) == 1)
      }
    }
    #expect(store.isFrozen)
    let error = try caught(UsageError.self) { try store.add(chain.pki.intermediate) }
    #expect(error.message.contains("in use"), "\(error)")
  }

  @Test func adoptingOrRetainingAStoreCCodeMadeDoesNotFreezeIt() throws {
    let chain = try Chain()
    let raw = X509_STORE_new()!
    let retained = try X509Store(retaining: OpenSSLPointer(raw))
    let adopted = X509Store(takingOwnershipOf: OpenSSLPointer(raw))
    #expect(!retained.isFrozen && !adopted.isFrozen)
    try retained.add(chain.pki.root)
    #expect(adopted.certificates.count == 1)
    // A callback on C's store installs our trampoline there, so C's own verifications run it.
    let calls = Counter()
    try retained.setVerifyCallback { _ in
      calls.increment()
      return .keep
    }
    var policy = VerificationPolicy()
    policy.time = now
    _ = try adopted.verify(chain.pki.leaf, untrusted: [chain.pki.intermediate], policy: policy)
    #expect(calls.value == 3)
    #expect(retained.isFrozen)
  }

  @Test func aCVerifyCallbackOnTheStoreIsNotReplacedSilently() throws {
    let raw = X509_STORE_new()!
    X509_STORE_set_verify_cb(raw) { ok, _ in ok }
    let store = X509Store(takingOwnershipOf: OpenSSLPointer(raw))
    let error = try caught(UsageError.self) { try store.setVerifyCallback { _ in .keep } }
    #expect(error.message.contains("C verify callback"), "\(error)")
  }

  /// A store callback cannot be replaced (and so freed) while a verification on another thread
  /// is running it: the store is in use from the moment the verification is set up.
  @Test func aStoreCallbackCannotBeReplacedWhileAVerificationRunsIt() async throws {
    let chain = try Chain()
    let store = try chain.store()
    let freed = Recorder<Bool>()
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    do {
      let token = LifeToken(freed)
      try store.setVerifyCallback { view in
        _ = token
        if view.depth == 0 && view.ok {
          entered.signal()
          release.wait()
        }
        return .keep
      }
    }
    let verification = Task.detached {
      var policy = VerificationPolicy()
      policy.time = now
      return try store.verify(chain.pki.leaf, untrusted: [chain.pki.intermediate], policy: policy).certificates.count
    }
    await Task.detached { entered.wait() }.value
    #expect(throws: UsageError.self) { try store.setVerifyCallback { _ in .keep } }
    #expect(freed.all.isEmpty)
    release.signal()
    #expect(try await verification.value == 3)
  }

  // MARK: - Contexts

  @Test func aSecondWrapperSeesConnectionsMadeThroughTheFirst() throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    let connection = try client.makeConnection(serverName: "www.example.test")
    let second = try client.withUnsafePointer { try SSLContext(retaining: $0) }
    #expect(second.isInUse)
    let error = try caught(UsageError.self) { try second.installVerification(.client) }
    #expect(error.message.contains("connections were made"), "\(error)")
    withExtendedLifetime(connection) {}
  }

  @Test func aConnectionThatCCodeMakesPutsTheContextInUse() throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    let ssl = client.withUnsafePointer { SSL_new($0.raw)! }
    defer { SSL_free(ssl) }
    #expect(client.isInUse)
    #expect(throws: UsageError.self) { try client.installVerification(.client) }
  }

  @Test func handingAContextOverFreezesItAgainstSwift() throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    let handed = try client.retainedPointer()
    defer { SSL_CTX_free(handed.raw) }
    let error = try caught(UsageError.self) { try client.installVerification(.client) }
    #expect(error.message.contains("handed to C code"), "\(error)")
    #expect(!client.isInUse)
  }

  /// Installing verification and making connections race from two threads: the change and the
  /// in-use check are one step under the context's lock, so every change either lands before the
  /// first connection or is refused, never after one (TSan checks the rest).
  @Test func changesAndNewConnectionsAreSerialised() throws {
    let fixture = try TLSFixture()
    let configuration = {
      var configuration = TLSConfiguration.client
      configuration.trust = .certificates([fixture.pki.root])
      return configuration
    }()
    for _ in 0..<50 {
      let client = try fixture.client()
      let outcomes = Recorder<Bool>()
      DispatchQueue.concurrentPerform(iterations: 2) { index in
        if index == 0 {
          for _ in 0..<20 { outcomes.append((try? client.installVerification(configuration)) != nil) }
        } else {
          _ = try? client.makeConnection(serverName: "www.example.test")
        }
      }
      // Accepted changes all come before the first refusal.
      #expect(!outcomes.all.drop { $0 }.contains(true), "\(outcomes.all)")
      #expect(client.isInUse)
      #expect(throws: UsageError.self) { try client.installVerification(configuration) }
    }
  }
}
