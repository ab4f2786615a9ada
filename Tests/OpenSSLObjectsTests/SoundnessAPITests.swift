import Foundation
import TestSupport
import Testing

/// What the public API lets a careless caller write, checked by the compiler itself: code is
/// type-checked against the built modules in strict memory-safety mode, warnings as errors.
@Suite("Soundness: the API's memory safety is the compiler's to check")
struct SoundnessAPITests {
  private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

  /// The compiler's errors for `code` (empty when it type-checks cleanly).
  private func errors(_ code: String) throws -> String {
    let directory = try TemporaryDirectory()
    let file = try directory.write("client.swift", "import OpenSSLObjects\n" + code)
    let result = try ChildProcess.run(
      Sanitizer.toolchainSwiftc,
      [
        "-typecheck", "-swift-version", "6", "-strict-memory-safety", "-warnings-as-errors",
        "-I", "\(ChildProcess.productsDirectory)/Modules", "-I", "\(Self.repository)/Sources/COpenSSLFull", file,
      ])
    return result.status == 0 ? "" : result.output
  }

  @Test func theOwnershipMechanismIsNotPublic() throws {
    // The double free the review found: _free and _pointer were public protocol requirements.
    let doubleFree = try errors("func f(_ c: X509Certificate) { X509Certificate._free(c._pointer) }")
    #expect(doubleFree.contains("has no member '_free'"), "\(doubleFree)")
    let pointer = try errors("func f(_ c: X509Certificate) -> OpaquePointer { unsafe c.pointer }")
    #expect(pointer.contains("inaccessible due to 'package' protection level"), "\(pointer)")
    let subclass = try errors("final class Mine: OpenSSLObjectBase {}")
    #expect(subclass.contains("cannot inherit from non-open class"), "\(subclass)")
  }

  @Test func theDoorsThatCanBreakMemorySafetyAreUnsafe() throws {
    for door in [
      "X509Certificate(takingOwnershipOf: OpenSSLPointer(raw))",
      "try X509Store(retaining: OpenSSLPointer(raw))",
      "try OCSPResponse(copying: OpenSSLPointer(raw))",
      "VerificationError(explaining: OpenSSLPointer(raw))",
    ] {
      let unmarked = try errors("func f(_ raw: OpaquePointer) throws { _ = \(door) }")
      #expect(
        unmarked.contains("expression uses unsafe constructs but is not marked with 'unsafe'"), "\(door): \(unmarked)")
      #expect(try errors("func f(_ raw: OpaquePointer) throws { _ = unsafe \(door) }") == "", "\(door)")
    }
  }

  @Test func borrowingAndHandingOverNeedNoMarkingUntilThePointerIsUsed() throws {
    #expect(
      try errors(
        """
        func f(_ c: X509Certificate) throws {
          let count = c.withUnsafePointer { _ in 1 }
          let handed = try c.retainedPointer()
          _ = (count, handed)
        }
        """) == "")
    let used = try errors("func f(_ c: X509Certificate) -> OpaquePointer { c.withUnsafePointer { $0.raw } }")
    #expect(used.contains("not marked with 'unsafe'"), "\(used)")
  }
}
