import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// A resumed session skips verification: tried from both sides, over TLS 1.2 and 1.3, the way an
/// attacker holding a session made under a laxer policy would.
@Suite("Soundness: no resumption skips a check the full handshake would run")
struct SoundnessSessionTests {
  private static let clientPKI = Result { try TestPKI(leafName: "client.example.test") }

  private var clientChain: CertificateChain {
    get throws {
      let pki = try Self.clientPKI.get()
      return CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
    }
  }

  /// A server that asks for client certificates, and a client that presents one.
  private func clientAuthentication(
    _ version: TLSVersion
  ) throws -> (fixture: TLSFixture, client: SSLContext, server: SSLContext) {
    let fixture = try TLSFixture()
    let clientRoot = try Self.clientPKI.get().root
    let chain = try clientChain
    let server = try fixture.server {
      $0.peerVerification = .requireClientCertificate
      $0.trust = .certificates([clientRoot])
    }
    let client = try fixture.client {
      $0.maximumVersion = version
      $0.certificateChains = [chain]
    }
    return (fixture, client, server)
  }

  /// A first, full handshake, closed cleanly so that its session can be resumed.
  private func primed(
    _ fixture: TLSFixture, client: SSLContext, server: SSLContext
  ) async throws -> SSLSession {
    let first = try await fixture.connect(client: client, server: server)
    #expect(!first.client.isSessionReused)
    try TLSPair.closeCleanly(client: first.client, server: first.server)
    return try #require(first.client.session)
  }

  // MARK: - Class 1: a server connection's own policy

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aServerConnectionsOwnCallbackIsNotSkippedByResumption(version: TLSVersion) async throws {
    let (fixture, client, server) = try clientAuthentication(version)
    _ = try await primed(fixture, client: client, server: server)
    // The session resumes under the context's own policy.
    let resumed = try await fixture.connect(client: client, server: server)
    #expect(resumed.server.isSessionReused)
    try TLSPair.closeCleanly(client: resumed.client, server: resumed.server)

    // A server connection with a stricter callback of its own: the client offers the session,
    // the server does not resume it, and its callback judges the certificate.
    let clientConnection = try client.makeConnection(serverName: "www.example.test")
    let serverConnection = try server.makeConnection()
    serverConnection.setVerifyCallback { view in view.depth == 0 && view.ok ? .reject("not this client") : .keep }
    await #expect(throws: (any Error).self) {
      try await TLSPair.handshake(client: clientConnection, server: serverConnection)
    }
    #expect(!serverConnection.isSessionReused)
    #expect(serverConnection.verificationError?.rejectionReason == "not this client")
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aServerConnectionsOwnPinsAreNotSkippedByResumption(version: TLSVersion) async throws {
    let (fixture, client, server) = try clientAuthentication(version)
    _ = try await primed(fixture, client: client, server: server)
    let stranger = try TestPKI()
    let clientConnection = try client.makeConnection(serverName: "www.example.test")
    let serverConnection = try server.makeConnection()
    serverConnection.setPins(try PinSet([stranger.root.spkiPin]))
    await #expect(throws: (any Error).self) {
      try await TLSPair.handshake(client: clientConnection, server: serverConnection)
    }
    #expect(!serverConnection.isSessionReused)
    #expect(serverConnection.verificationError?.code == .applicationVerification)
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aServerConnectionWithItsOwnPolicyNeverResumes(version: TLSVersion) async throws {
    let (fixture, client, server) = try clientAuthentication(version)
    _ = try await primed(fixture, client: client, server: server)
    let checked = Counter()
    let clientConnection = try client.makeConnection(serverName: "www.example.test")
    let serverConnection = try server.makeConnection()
    serverConnection.setChainPolicy { _ in
      checked.increment()
      return .accept
    }
    try await TLSPair.handshake(client: clientConnection, server: serverConnection)
    #expect(!serverConnection.isSessionReused)
    #expect(checked.value == 1)
  }

  // MARK: - Class 2: setSession past a stricter context

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aSessionIsNotOfferedToAContextWithPins(version: TLSVersion) async throws {
    let fixture = try TLSFixture()
    let server = try fixture.server()
    let lax = try fixture.client { $0.maximumVersion = version }
    let session = try await primed(fixture, client: lax, server: server)
    let stranger = try TestPKI()
    let pinned = try fixture.client {
      $0.maximumVersion = version
      $0.verification.pins = try PinSet([stranger.root.spkiPin])
    }
    let connection = try pinned.makeConnection(serverName: "www.example.test")
    let error = try caught(TLSSessionError.self) { try connection.setSession(session) }
    #expect(error.reason == .differentPolicy)
    // Without the session, the full handshake runs the pins and fails.
    let serverConnection = try server.makeConnection()
    await #expect(throws: TLSError.self) {
      try await TLSPair.handshake(client: connection, server: serverConnection)
    }
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aSessionIsNotOfferedToAContextThatRequiresAStaple(version: TLSVersion) async throws {
    let fixture = try TLSFixture()
    let server = try fixture.server()
    let lax = try fixture.client { $0.maximumVersion = version }
    let session = try await primed(fixture, client: lax, server: server)
    let requiring = try fixture.client {
      $0.maximumVersion = version
      $0.revocation.staple = .require
    }
    let connection = try requiring.makeConnection(serverName: "www.example.test")
    #expect(try caught(TLSSessionError.self) { try connection.setSession(session) }.reason == .differentPolicy)
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aSessionIsNotOfferedForAnotherHost(version: TLSVersion) async throws {
    let fixture = try TLSFixture()
    let server = try fixture.server()
    let client = try fixture.client { $0.maximumVersion = version }
    let session = try await primed(fixture, client: client, server: server)
    let connection = try client.makeConnection(serverName: "other.example.test")
    let error = try caught(TLSSessionError.self) { try connection.setSession(session) }
    #expect(error.reason == .differentHost(session: "www.example.test", connection: "other.example.test"))
    #expect(error.description.contains("other.example.test"))
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aSessionResumesUnderAnEqualPolicyAlsoFromStorage(version: TLSVersion) async throws {
    let fixture = try TLSFixture()
    let server = try fixture.server()
    let first = try fixture.client { $0.maximumVersion = version }
    let session = try await primed(fixture, client: first, server: server)
    // A stored session (i2d_SSL_SESSION), offered by another context with an equal policy.
    let stored = try SSLSession(derEncoded: try session.derEncoded().withUnsafeBytes { Array($0) })
    let second = try fixture.client { $0.maximumVersion = version }
    let resumed = try await fixture.connect(client: second, server: server) { try $0.setSession(stored) }
    #expect(resumed.client.isSessionReused)
  }

  @Test func aSessionWithoutAPolicyIsRefused() async throws {
    let fixture = try TLSFixture()
    let server = try fixture.server()
    let client = try fixture.client()
    let session = try await primed(fixture, client: client, server: server)
    session.withUnsafePointer { _ = SSL_SESSION_set1_id_context($0.raw, nil, 0) }
    let connection = try client.makeConnection(serverName: "www.example.test")
    #expect(try caught(TLSSessionError.self) { try connection.setSession(session) }.reason == .unbound)
  }

  // MARK: - Class 3: verification that .none cannot switch off

  @Test func anAsynchronousPolicyRejectsEvenUnderPeerVerificationNone() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client {
      $0.peerVerification = .none
      $0.hostNameRequirement = .insecureNone
      $0.asynchronousChainPolicy = { _ in .reject("revoked by the asynchronous check") }
    }
    let error = try await clientVerificationError {
      try await fixture.connect(client: client, server: try fixture.server(), name: nil)
    }
    #expect(error.rejectionReason == "revoked by the asynchronous check")
  }

  @Test func aRequiredServerNameIsCheckedEvenUnderPeerVerificationNone() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client { $0.peerVerification = .none }
    let error = try await clientVerificationError {
      try await fixture.connect(client: client, server: try fixture.server(), name: "other.example.test")
    }
    #expect(error.code == .hostnameMismatch)
    // With insecureNone as well, the name is only SNI.
    let insecure = try fixture.client {
      $0.peerVerification = .none
      $0.hostNameRequirement = .insecureNone
    }
    let (connection, _) = try await fixture.connect(
      client: insecure, server: try fixture.server(), name: "other.example.test")
    #expect(connection.verificationError?.code == .hostnameMismatch)
  }

  // MARK: - Class 6: SSLs C code makes from a context that requires a host name

  /// An SSL made by C code's SSL_new over memory BIOs, driven against our server.
  private func cHandshake(
    _ fixture: TLSFixture, client: SSLContext, prepare: (OpaquePointer) -> Void
  ) async throws -> SSLConnection {
    let ssl = client.withUnsafePointer { SSL_new($0.raw)! }
    SSL_set_bio(ssl, BIO_new(BIO_s_mem())!, BIO_new(BIO_s_mem())!)
    SSL_set_connect_state(ssl)
    prepare(ssl)
    let connection = SSLConnection(takingOwnershipOf: OpenSSLPointer(ssl))
    try await TLSPair.handshake(client: connection, server: try fixture.server().makeConnection())
    return connection
  }

  @Test func anSSLThatCCodeMakesWithoutAHostNameFails() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    // SNI alone does not count.
    let error = try await clientVerificationError {
      _ = try await cHandshake(fixture, client: client) { ssl in
        _ = oo_SSL_set_tlsext_host_name(ssl, "www.example.test")
      }
    }
    #expect(error.code == .applicationVerification)
    #expect(error.explanation.contains("names no host"), "\(error.explanation)")
    // With SSL_set1_host it verifies, and the name is checked.
    let named = try await cHandshake(fixture, client: client) { ssl in
      _ = SSL_set1_host(ssl, "www.example.test")
    }
    #expect(named.verifiedChain.count == 3)
    let mismatch = try await clientVerificationError {
      _ = try await cHandshake(fixture, client: client) { ssl in _ = SSL_set1_host(ssl, "other.example.test") }
    }
    #expect(mismatch.code == .hostnameMismatch)
  }

  @Test func anSSLThatCCodeMakesFromACheckedByCallerContextNeedsNoName() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client { $0.hostNameRequirement = .checkedByCaller }
    let connection = try await cHandshake(fixture, client: client) { _ in }
    #expect(connection.verifiedChain.count == 3)
  }
}
