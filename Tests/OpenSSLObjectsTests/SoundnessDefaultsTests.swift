import COpenSSLFull
import OpenSSLObjects
import TestSupport
import Testing

/// The defaults that protect people, tried the way an attacker would: a certificate that names
/// the host only in its subject CN.
@Suite("Soundness: host names never fall back to the subject CN")
struct SoundnessDefaultsTests {
  @Test func aClientRefusesAServerCertificateThatNamesTheHostOnlyInItsCN() async throws {
    let fixture = try TLSFixture { $0.subjectAlternativeNames = nil }
    let error = try await clientVerificationError {
      try await fixture.connect(client: try fixture.client(), server: try fixture.server())
    }
    #expect(error.code == .hostnameMismatch)
    #expect(error.explanation.contains("subject CN only"), "\(error.explanation)")
  }

  @Test func theCNFallbackIsAVisibleOptIn() async throws {
    let fixture = try TLSFixture { $0.subjectAlternativeNames = nil }
    let client = try fixture.client { $0.verification.hostFlags.remove(.neverCheckSubject) }
    let (connection, _) = try await fixture.connect(client: client, server: try fixture.server())
    #expect(connection.verificationError == nil)
  }
}
