import COpenSSLFull
import OpenSSLObjects
import OpenSSLObjectsCapsule
import TestSupport
import Testing

/// A capsule hands its object to C code: the store or context it holds no longer changes from
/// Swift, through any wrapper; C code's own API functions still may, until it is in use.
@Suite("Soundness: a capsule freezes what it hands over")
struct CapsuleLifecycleTests {
  /// Broken: C code holding the capsule would see the store change under its verifications.
  @Test func aStoresCapsuleFreezesItForEveryWrapper() throws {
    let pki = try TestPKI()
    let store = X509Store()
    try store.add(pki.root)
    let capsule = try store.capsule()
    defer { try? capsule.release() }
    #expect(store.isFrozen)
    #expect(throws: UsageError.self) { try store.add(pki.intermediate) }
    #expect(throws: UsageError.self) { try store.setFlags([.x509Strict]) }
    #expect(throws: UsageError.self) { try store.setVerifyCallback { _ in .keep } }
    let second = try X509Store(capsule: capsule)
    #expect(second.isFrozen)
    #expect(throws: UsageError.self) { try second.add(pki.intermediate) }
  }

  /// Broken: Swift could change a context C code holds; it is frozen although no connection
  /// exists yet.
  @Test func aContextsCapsuleFreezesItAgainstSwift() throws {
    let context = try SSLContext(configuration: .client)
    let capsule = try context.capsule()
    defer { try? capsule.release() }
    let error = try #require(throws: UsageError.self) { try context.installVerification(.client) }
    #expect(error.message.contains("handed to C code"))
    #expect(!context.isInUse)
    #expect(throws: UsageError.self) { try SSLContext(capsule: capsule).installVerification(.client) }
  }
}
