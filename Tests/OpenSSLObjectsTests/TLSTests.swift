import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// A PKI and the configurations of our own client and server over memory transports.
struct TLSFixture {
  let pki: TestPKI

  init(
    keyType: PrivateKey.KeyType = .ec(.p256), leaf adjust: (inout CertificateBuilder) throws -> Void = { _ in }
  ) throws {
    pki = try TestPKI(keyType: keyType, leafBuilder: adjust)
  }

  /// A fixture for a PKI made elsewhere.
  init(pki: TestPKI) {
    self.pki = pki
  }

  var serverChain: CertificateChain {
    CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
  }

  func server(_ adjust: (inout TLSConfiguration) throws -> Void = { _ in }) throws -> SSLContext {
    var configuration = TLSConfiguration.server([serverChain])
    try adjust(&configuration)
    return try SSLContext(configuration: configuration)
  }

  func client(_ adjust: (inout TLSConfiguration) throws -> Void = { _ in }) throws -> SSLContext {
    var configuration = TLSConfiguration.client
    configuration.trust = .certificates([pki.root])
    try adjust(&configuration)
    return try SSLContext(configuration: configuration)
  }

  /// A full handshake between new connections of the two contexts.
  @discardableResult
  func connect(
    client: SSLContext,
    server: SSLContext,
    name: String? = "www.example.test",
    prepare: (SSLConnection) throws -> Void = { _ in }
  ) async throws -> (client: SSLConnection, server: SSLConnection) {
    let clientConnection = try client.makeConnection(serverName: name)
    try prepare(clientConnection)
    let serverConnection = try server.makeConnection()
    try await TLSPair.handshake(client: clientConnection, server: serverConnection)
    return (clientConnection, serverConnection)
  }
}

/// The verification error a failed client handshake reports.
func clientVerificationError(
  _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) async throws
  -> VerificationError
{
  do {
    try await body()
  } catch let error as TLSError {
    return try #require(error.verification, "\(error)", sourceLocation: sourceLocation)
  }
  Issue.record("the handshake succeeded", sourceLocation: sourceLocation)
  throw TLSPair.HandshakeStalled()
}

@Suite("TLS: contexts and connections between our own client and server")
struct TLSTests {
  @Test func tls13HandshakeAndWhatBothSidesSee() async throws {
    let fixture = try TLSFixture()
    let (client, server) = try await fixture.connect(
      client: try fixture.client { $0.alpnProtocols = ["h2", "http/1.1"] },
      server: try fixture.server { $0.alpnProtocols = ["http/1.1"] })
    for side in [client, server] {
      #expect(side.version == .tls13)
      #expect(side.cipher == "TLS_AES_128_GCM_SHA256")
      #expect(side.alpnProtocol == "http/1.1")
      #expect(side.group == "x25519")
      #expect(side.serverName == "www.example.test")
      #expect(!side.isSessionReused)
    }
    #expect(client.peerCertificate == fixture.pki.leaf)
    #expect(client.verifiedChain == [fixture.pki.leaf, fixture.pki.intermediate, fixture.pki.root])
    #expect(client.peerChain == [fixture.pki.leaf, fixture.pki.intermediate])
    #expect(client.verificationError == nil)
    let clientKeys = try client.exportKeyingMaterial(label: "EXPORTER-test", context: [1, 2], count: 32)
    let serverKeys = try server.exportKeyingMaterial(label: "EXPORTER-test", context: [1, 2], count: 32)
    #expect(clientKeys.withUnsafeBytes { Array($0) } == serverKeys.withUnsafeBytes { Array($0) })
    #expect(try TLSPair.transfer(Array("ping".utf8), from: client, to: server) == Array("ping".utf8))
    #expect(try TLSPair.transfer(Array("pong".utf8), from: server, to: client) == Array("pong".utf8))
    try TLSPair.closeCleanly(client: client, server: server)
  }

  @Test func tls12WithRSA() async throws {
    let fixture = try TLSFixture(keyType: .rsa(bits: 2048))
    let (client, _) = try await fixture.connect(
      client: try fixture.client { $0.maximumVersion = .tls12 }, server: try fixture.server())
    #expect(client.version == .tls12)
    #expect(client.cipherName == "ECDHE-RSA-AES128-GCM-SHA256")
  }

  @Test func rsaAndECDSAChainsSideBySide() async throws {
    let ec = try TLSFixture()
    let rsa = try TLSFixture(keyType: .rsa(bits: 2048))
    let server = try ec.server {
      $0.certificateChains.append(rsa.serverChain)
    }
    let (ecClient, _) = try await ec.connect(
      client: try ec.client {
        $0.maximumVersion = .tls12
        $0.signatureAlgorithms = "ECDSA+SHA256"
      }, server: server)
    #expect(ecClient.peerCertificate == ec.pki.leaf)
    let (rsaClient, _) = try await rsa.connect(
      client: try rsa.client {
        $0.maximumVersion = .tls12
        $0.signatureAlgorithms = "RSA+SHA256"
      }, server: server)
    #expect(rsaClient.peerCertificate == rsa.pki.leaf)
  }

  @Test func aClientMustNameTheServerUnlessItOptsOutVisibly() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    #expect(throws: UsageError.self) { try client.makeConnection() }
    let anyName = try fixture.client { $0.hostNameRequirement = .insecureNone }
    try await fixture.connect(client: anyName, server: try fixture.server(), name: nil)
  }

  /// A name in a TLS configuration's verification policy was dropped without a word: a client
  /// with `.checkedByCaller` and `verification.host` set connected to a server of another name.
  /// Each connection names its peer; a policy that names one is refused, by both doors.
  @Test func aTLSPolicyThatNamesAPeerIsRefused() throws {
    let fixture = try TLSFixture()
    let names: [(String, (inout VerificationPolicy) -> Void)] = [
      ("host", { $0.host = "policy.example.test" }), ("IP address", { $0.ipAddress = "127.0.0.1" }),
      ("e-mail", { $0.email = "someone@example.test" }),
    ]
    for (what, name) in names {
      var configuration = TLSConfiguration.client
      configuration.trust = .certificates([fixture.pki.root])
      configuration.hostNameRequirement = .checkedByCaller
      name(&configuration.verification)
      let made = #expect(throws: UsageError.self, "\(what)") { try SSLContext(configuration: configuration) }
      #expect(made.map { "\($0)".contains("makeConnection(serverName:)") } == true, "\(what)")
      // The other door: a context that C code made (as libcurl's).
      let raw = try #require(SSL_CTX_new(TLS_client_method()))
      defer { SSL_CTX_free(raw) }
      let wrapped = try SSLContext(retaining: OpenSSLPointer(raw))
      #expect(throws: UsageError.self, "\(what)") { try wrapped.installVerification(configuration) }
    }
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func theDefaultsHold() throws {
    let fixture = try TLSFixture()
    let context = try fixture.client()
    context.withUnsafePointer { pointer in
      #expect(oo_SSL_CTX_get_min_proto_version(pointer.raw) == TLS1_2_VERSION)
      #expect(SSL_CTX_get_security_level(pointer.raw) == 2)
      #expect(SSL_CTX_get_options(pointer.raw) & oo_SSL_OP_NO_COMPRESSION() != 0)
      #expect(SSL_CTX_get_options(pointer.raw) & oo_SSL_OP_NO_RENEGOTIATION() != 0)
      #expect(SSL_CTX_get_verify_mode(pointer.raw) == SSL_VERIFY_PEER)
    }
    let system = try SSLContext(configuration: .client)
    system.withUnsafePointer { pointer in
      // The shared OS store, installed with SSL_CTX_set1_cert_store.
      let store = SSL_CTX_get_cert_store(pointer.raw)
      #expect(store == (try? X509Store.system)?.withUnsafePointer { $0.raw })
    }
  }

  @Test func verificationFailuresAreExplained() async throws {
    let fixture = try TLSFixture()
    let server = try fixture.server()
    let wrongHost = try await clientVerificationError {
      try await fixture.connect(client: try fixture.client(), server: server, name: "other.example.test")
    }
    #expect(wrongHost.code == .hostnameMismatch)
    #expect(
      wrongHost.explanation
        == "The certificate is valid for \"www.example.test\", not for the host name \"other.example.test\".")

    let stranger = try TestPKI()
    let untrusted = try await clientVerificationError {
      try await fixture.connect(
        client: try fixture.client { $0.trust = .certificates([stranger.root]) }, server: server)
    }
    #expect(untrusted.code == .unableToGetIssuerLocally)
    #expect(untrusted.depth == 1)

    let pinned = try await clientVerificationError {
      try await fixture.connect(
        client: try fixture.client { $0.verification.pins = try PinSet([stranger.root.spkiPin]) }, server: server)
    }
    #expect(pinned.code == .applicationVerification)
    #expect(pinned.explanation.hasPrefix("No key of the verified chain matches a pin."))

    let expired = try TLSFixture {
      $0.notBefore = Date().addingTimeInterval(-10 * 86_400)
      $0.notAfter = Date().addingTimeInterval(-86_400)
    }
    let expiredError = try await clientVerificationError {
      try await expired.connect(client: try expired.client(), server: try expired.server())
    }
    #expect(expiredError.code == .certificateHasExpired)
  }

  @Test func withoutVerificationThePeerIsStillReadable() async throws {
    let fixture = try TLSFixture()
    let stranger = try TestPKI()
    let client = try fixture.client {
      $0.peerVerification = .none
      $0.hostNameRequirement = .insecureNone
      $0.trust = .certificates([stranger.root])
    }
    let (connection, _) = try await fixture.connect(client: client, server: try fixture.server())
    #expect(connection.peerCertificate == fixture.pki.leaf)
    #expect(connection.peerChain.count == 2)
    #expect(connection.verificationError?.code == .unableToGetIssuerLocally)
  }

  @Test func aPinOrACallbackTurnsVerificationBackOn() async throws {
    let fixture = try TLSFixture()
    let stranger = try TestPKI()
    let pinned = try fixture.client {
      $0.peerVerification = .none
      $0.verification.pins = try PinSet([stranger.root.spkiPin])
    }
    let error = try await clientVerificationError {
      try await fixture.connect(client: pinned, server: try fixture.server())
    }
    #expect(error.code == .applicationVerification)
    let rejecting = try fixture.client {
      $0.peerVerification = .none
      $0.verification.verifyCallback = { view in view.depth == 0 && view.ok ? .reject("no") : .keep }
    }
    #expect(
      try await clientVerificationError { try await fixture.connect(client: rejecting, server: try fixture.server()) }
        .rejectionReason == "no")
  }

  @Test func aServerThatRequiresClientCertificatesFailsAClientWithout() async throws {
    let fixture = try TLSFixture()
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let server = try fixture.server {
      $0.peerVerification = .requireClientCertificate
      $0.trust = .certificates([clientPKI.root])
    }
    let withoutCertificate = try fixture.client()
    await #expect(throws: TLSError.self) { try await fixture.connect(client: withoutCertificate, server: server) }

    let clientChain = CertificateChain(
      certificate: clientPKI.leaf, chain: [clientPKI.intermediate], privateKey: clientPKI.leafKey)
    let withCertificate = try fixture.client { $0.certificateChains = [clientChain] }
    let (_, serverSide) = try await fixture.connect(client: withCertificate, server: server)
    #expect(serverSide.peerCertificate == clientPKI.leaf)
    #expect(serverSide.verifiedChain.count == 3)
  }

  @Test func aClientCertificateSelectorChoosesAtHandshakeTime() async throws {
    let fixture = try TLSFixture()
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let server = try fixture.server {
      $0.peerVerification = .requireClientCertificate
      $0.trust = .certificates([clientPKI.root])
    }
    let asked = Recorder<[String]>()
    let chain = CertificateChain(
      certificate: clientPKI.leaf, chain: [clientPKI.intermediate], privateKey: clientPKI.leafKey)
    let client = try fixture.client {
      $0.clientCertificateSelector = { request in
        asked.append(request.acceptableIssuers)
        return chain
      }
    }
    let (_, serverSide) = try await fixture.connect(client: client, server: server)
    #expect(serverSide.peerCertificate == clientPKI.leaf)
    #expect(asked.all == [[clientPKI.root.subject.rfc2253]])
  }

  @Test func sniPicksTheContextAndItsWholePolicy() async throws {
    let main = try TLSFixture()
    let secure = try TLSFixture(leaf: {
      $0.subject = try X509Name(["CN": "secure.example.test"])
      $0.subjectAlternativeNames = [.dnsName("secure.example.test")]
    })
    let clientPKI = try TestPKI(leafName: "client.example.test")
    // The secure context requires client certificates; the main one does not.
    let secureContext = try secure.server {
      $0.peerVerification = .requireClientCertificate
      $0.trust = .certificates([clientPKI.root])
    }
    let server = try main.server {
      $0.serverNameHandler = { name in name == "secure.example.test" ? secureContext : nil }
    }
    let (mainClient, _) = try await main.connect(client: try main.client(), server: server)
    #expect(mainClient.peerCertificate == main.pki.leaf)
    // The secure context's certificate and its client certificate requirement apply.
    let secureClient = try secure.client()
    await #expect(throws: TLSError.self) {
      try await secure.connect(client: secureClient, server: server, name: "secure.example.test")
    }
    let clientChain = CertificateChain(
      certificate: clientPKI.leaf, chain: [clientPKI.intermediate], privateKey: clientPKI.leafKey)
    let (withCertificate, serverSide) = try await secure.connect(
      client: try secure.client { $0.certificateChains = [clientChain] }, server: server, name: "secure.example.test")
    #expect(withCertificate.peerCertificate == secure.pki.leaf)
    #expect(serverSide.peerCertificate == clientPKI.leaf)

    // And the other way round: the first context's requirement does not leak into the second.
    let strictMain = try main.server {
      $0.peerVerification = .requireClientCertificate
      $0.trust = .certificates([clientPKI.root])
      let relaxed = try secure.server()
      $0.serverNameHandler = { name in name == "secure.example.test" ? relaxed : nil }
    }
    try await secure.connect(client: try secure.client(), server: strictMain, name: "secure.example.test")
    await #expect(throws: TLSError.self) { try await main.connect(client: try main.client(), server: strictMain) }
  }

  @Test func keyLogLinesComeThroughTheClosure() async throws {
    let fixture = try TLSFixture()
    let lines = Recorder<String>()
    try await fixture.connect(
      client: try fixture.client { $0.keyLog = { lines.append($0) } }, server: try fixture.server())
    let labels = Set(lines.all.compactMap { $0.split(separator: " ").first.map(String.init) })
    #expect(
      labels == [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET",
      ])
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func cleanlyClosedSessionsResume(version: TLSVersion) async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client { $0.maximumVersion = version }
    let server = try fixture.server()
    let first = try await fixture.connect(client: client, server: server)
    #expect(!first.client.isSessionReused)
    try TLSPair.closeCleanly(client: first.client, server: first.server)
    #expect(client.cachedSessionCount == 1)
    let second = try await fixture.connect(client: client, server: server)
    #expect(second.client.isSessionReused)
    #expect(second.server.isSessionReused)
    // A resumed session keeps the verified chain's verdict.
    #expect(second.client.verificationError == nil)
  }

  /// The documented rule: OpenSSL drops the session of a connection freed without close_notify
  /// (`SSL_free` marks it not resumable), so the next connection does a full handshake.
  @Test(arguments: [TLSVersion.tls12, .tls13])
  func anUncleanlyClosedSessionDoesNotResume(version: TLSVersion) async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client { $0.maximumVersion = version }
    let server = try fixture.server()
    do {
      try await fixture.connect(client: client, server: server)
    }
    let second = try await fixture.connect(client: client, server: server)
    #expect(!second.client.isSessionReused)
  }

  @Test func aChangedPinSetForcesAFullHandshake() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    let server = try fixture.server()
    let first = try await fixture.connect(client: client, server: server)
    try TLSPair.closeCleanly(client: first.client, server: first.server)
    let pinned = try await fixture.connect(client: client, server: server) { connection in
      connection.setPins(try PinSet([fixture.pki.root.spkiPin]))
    }
    #expect(!pinned.client.isSessionReused)
    // A pin set that the chain does not satisfy fails, even though a session was cached.
    let stranger = try TestPKI()
    let error = try await clientVerificationError {
      try await fixture.connect(client: client, server: server) { try $0.setPins(PinSet([stranger.root.spkiPin])) }
    }
    #expect(error.code == .applicationVerification)
  }

  @Test func anAsynchronousPolicyPausesTheHandshake() async throws {
    let fixture = try TLSFixture()
    let server = try fixture.server()
    let accepting = try fixture.client {
      $0.asynchronousChainPolicy = { chain in
        try await Task.sleep(nanoseconds: 20_000_000)
        return chain.count == 3 ? .accept : .reject("short chain")
      }
    }
    let connection = try accepting.makeConnection(serverName: "www.example.test")
    let serverConnection = try server.makeConnection()
    #expect(try connection.handshake() == .wantRead)
    serverConnection.receive(connection.takeOutput())
    _ = try serverConnection.handshake()
    connection.receive(serverConnection.takeOutput())
    #expect(try connection.handshake() == .wantRetryVerify)
    await connection.waitForVerification()
    try await TLSPair.handshake(client: connection, server: serverConnection)
    #expect(connection.verifiedChain.count == 3)

    let rejecting = try fixture.client {
      $0.asynchronousChainPolicy = { _ in .reject("revoked by the asynchronous check") }
    }
    let error = try await clientVerificationError { try await fixture.connect(client: rejecting, server: server) }
    #expect(error.rejectionReason == "revoked by the asynchronous check")
  }

  @Test func anErrorThrownInACallbackSurfacesFromTheHandshake() async throws {
    struct LookupFailed: Error {}
    let fixture = try TLSFixture()
    let client = try fixture.client { $0.verification.verifyCallback = { _ in throw LookupFailed() } }
    await #expect(throws: LookupFailed.self) { try await fixture.connect(client: client, server: try fixture.server()) }
  }

  @Test func aContextInUseCannotChange() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    _ = try client.makeConnection(serverName: "www.example.test")
    #expect(throws: UsageError.self) { try client.installVerification(.client) }
  }

  @Test func aConnectionsCallbackIsItsOwn() async throws {
    let fixture = try TLSFixture()
    let seen = Recorder<String>()
    let client = try fixture.client {
      $0.verification.verifyCallback = { view in
        if view.depth == 0 && view.ok { seen.append("context") }
        return .keep
      }
    }
    let server = try fixture.server()
    try await fixture.connect(client: client, server: server) { connection in
      connection.setVerifyCallback { view in
        if view.depth == 0 && view.ok { seen.append("connection") }
        return .keep
      }
    }
    try await fixture.connect(client: client, server: server)
    #expect(seen.all == ["connection", "context"])
  }

  @Test func aContextHandedToCKeepsItsClosures() async throws {
    let fixture = try TLSFixture()
    let seen = Recorder<Int>()
    var raw: OpenSSLPointer<SSLContext>? = nil
    do {
      let client = try fixture.client {
        $0.verification.verifyCallback = { view in
          seen.append(view.depth)
          return .keep
        }
      }
      raw = try client.retainedPointer()
    }
    // The Swift object is gone; C code makes a connection from the SSL_CTX it kept.
    let ssl = SSL_new(raw!.raw)!
    let connection = SSLConnection(takingOwnershipOf: OpenSSLPointer(ssl))
    SSL_CTX_free(raw!.raw)
    let incoming = BIO_new(BIO_s_mem())!
    let outgoing = BIO_new(BIO_s_mem())!
    _ = oo_BIO_set_mem_eof_return(incoming, -1)
    SSL_set_bio(ssl, incoming, outgoing)
    SSL_set_connect_state(ssl)
    _ = oo_SSL_set1_host(ssl, "www.example.test")
    let server = try fixture.server().makeConnection()
    try await TLSPair.handshake(client: connection, server: server)
    #expect(seen.all == [2, 1, 0])
  }
}
