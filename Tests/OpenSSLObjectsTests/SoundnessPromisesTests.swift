import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Promises of the README and the DocC that had no test trying to break them (docs/SECURITY.md):
/// each test here would fail if the promise did not hold.
@Suite("Soundness: the documented promises, tried")
struct SoundnessPromisesTests {
  // MARK: - Stores a TLS context or an OCSP check takes

  /// Broken: the store could still change under the context's handshakes.
  @Test func aStoreIsFrozenWhenATLSContextTakesIt() throws {
    let fixture = try TLSFixture()
    let store = X509Store()
    try store.add(fixture.pki.root)
    _ = try fixture.client { $0.trust = .store(store) }
    #expect(store.isFrozen)
    #expect(throws: UsageError.self) { try store.add(fixture.pki.intermediate) }
  }

  /// Broken: a store an OCSP check used could still change.
  @Test func anOCSPSignatureCheckFreezesItsStore() throws {
    let ocsp = try OCSPPKI()
    let store = try ocsp.store()
    _ = try? ocsp.response().basicResponse().verifySignature(store: store, untrusted: [ocsp.pki.intermediate])
    #expect(store.isFrozen)
    #expect(throws: UsageError.self) { try store.add(ocsp.pki.intermediate) }
  }

  /// Broken: installVerification would add our anchors to the store libcurl gave its context,
  /// changing it for everyone who shares it.
  @Test func installingVerificationNeverChangesTheStoreACLibraryGaveTheContext() throws {
    let fixture = try TLSFixture()
    let stranger = try TestPKI()
    let raw = SSL_CTX_new(TLS_client_method())!
    defer { SSL_CTX_free(raw) }
    let theirs = X509_STORE_new()!
    defer { X509_STORE_free(theirs) }  // the C library keeps its own reference to its store
    stranger.root.withUnsafePointer { _ = X509_STORE_add_cert(theirs, $0.raw) }
    SSL_CTX_set1_cert_store(raw, theirs)
    let context = try SSLContext(retaining: OpenSSLPointer(raw))
    var configuration = TLSConfiguration.client
    configuration.hostNameRequirement = .checkedByCaller
    configuration.trust = .certificates([fixture.pki.root])
    try context.installVerification(configuration)
    #expect(SSL_CTX_get_cert_store(raw) != theirs)
    // Theirs still holds exactly its one certificate and is not frozen.
    let retained = try X509Store(retaining: OpenSSLPointer(theirs))
    #expect(retained.certificates == [stranger.root])
    #expect(!retained.isFrozen)
  }

  /// Broken: a caller could add an anchor to the store every client shares, or the library would
  /// bring a CA list of its own when the OS has none.
  @Test func theSystemStoreIsImmutableAndOnlyTheOperatingSystems() throws {
    let chain = try Chain()
    let directory = try TemporaryDirectory()
    let certificate = try directory.write("root.pem", chain.pki.root.pemEncoded)
    let helper = ChildProcess.product("oo-test-helper")
    let empty = try ChildProcess.run(
      helper, ["system-store-contents", certificate],
      environment: ["SSL_CERT_FILE": directory.file("none"), "SSL_CERT_DIR": directory.file("nothing")])
    #expect(empty.stdout.contains("anchors 0"), "\(empty.output)")
    #expect(empty.stdout.contains("refused: the X509_STORE is in use"), "\(empty.output)")
    let operatingSystem = try ChildProcess.run(helper, ["system-store-contents", certificate])
    #expect(operatingSystem.stdout.contains("refused:"), "\(operatingSystem.output)")
    #expect(!operatingSystem.stdout.contains("anchors 0"), "\(operatingSystem.output)")
  }

  // MARK: - Pins and chain policies never replace OpenSSL's checks

  /// Broken: a matching pin would let a wrong host or an expired leaf through.
  @Test func aMatchingPinNeverReplacesOpenSSLsChecks() throws {
    let chain = try Chain()
    var policy = VerificationPolicy(host: "other.example.test")
    policy.pins = try PinSet([chain.pki.leaf.spkiPin])
    #expect(try chain.failure(policy).code == .hostnameMismatch)
    let expired = try Chain { $0.notAfter = Date(timeIntervalSinceNow: -3_600) }
    var pinnedExpired = VerificationPolicy()
    pinnedExpired.pins = try PinSet([expired.pki.leaf.spkiPin])
    #expect(try expired.failure(pinnedExpired).code == .certificateHasExpired)
  }

  /// Broken: under .none a matching pin would be the only check.
  @Test func aMatchingPinUnderPeerVerificationNoneStillNeedsATrustedChain() async throws {
    let fixture = try TLSFixture()
    let stranger = try TestPKI()
    let client = try fixture.client {
      $0.peerVerification = .none
      $0.hostNameRequirement = .insecureNone
      $0.trust = .certificates([stranger.root])
      $0.verification.pins = try PinSet([fixture.pki.leaf.spkiPin])
    }
    let error = try await clientVerificationError {
      try await fixture.connect(client: client, server: try fixture.server(), name: nil)
    }
    #expect(error.code == .unableToGetIssuerLocally)
  }

  /// Broken: under .none OpenSSL ignores the verdict, so a rejecting chain policy would pass, and
  /// an accepting one would turn an untrusted chain into a success.
  @Test func aChainPolicyTurnsVerificationOnUnderPeerVerificationNone() async throws {
    let fixture = try TLSFixture()
    let rejecting = try fixture.client {
      $0.peerVerification = .none
      $0.hostNameRequirement = .insecureNone
      $0.verification.chainPolicy = { _ in .reject("not this chain") }
    }
    let rejected = try await clientVerificationError {
      try await fixture.connect(client: rejecting, server: try fixture.server(), name: nil)
    }
    #expect(rejected.rejectionReason == "not this chain")
    let stranger = try TestPKI()
    let accepting = try fixture.client {
      $0.peerVerification = .none
      $0.hostNameRequirement = .insecureNone
      $0.trust = .certificates([stranger.root])
      $0.verification.chainPolicy = { _ in .accept }
    }
    let untrusted = try await clientVerificationError {
      try await fixture.connect(client: accepting, server: try fixture.server(), name: nil)
    }
    #expect(untrusted.code == .unableToGetIssuerLocally)
  }

  /// Broken: OpenSSL keeps the chain as far as it was built after a failure; called "verified"
  /// it would read as trusted.
  @Test func theVerifiedChainIsEmptyWhenVerificationFailed() async throws {
    let fixture = try TLSFixture()
    let stranger = try TestPKI()
    let client = try fixture.client {
      $0.peerVerification = .none
      $0.hostNameRequirement = .insecureNone
      $0.trust = .certificates([stranger.root])
    }
    let (connection, _) = try await fixture.connect(client: client, server: try fixture.server(), name: nil)
    #expect(connection.verificationError != nil)
    #expect(connection.verifiedChain.isEmpty)
    #expect(connection.peerChain.count == 2)
  }

  // MARK: - Sessions

  /// Broken: a policy set after the session was offered would never be applied, silently.
  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aPolicyChangedAfterTheHandshakeBeganCannotBeSkippedByResumption(version: TLSVersion) async throws {
    let fixture = try TLSFixture()
    let changes: [(SSLConnection) throws -> Void] = [
      { try $0.setPins(PinSet([fixture.pki.root.spkiPin])) },
      { $0.setVerifyCallback { _ in .keep } },
      { $0.setChainPolicy { _ in .accept } },
    ]
    for change in changes {
      // A session to offer (a failed resumption makes OpenSSL drop it, so one per change).
      let client = try fixture.client { $0.maximumVersion = version }
      let server = try fixture.server()
      let first = try await fixture.connect(client: client, server: server)
      try TLSPair.closeCleanly(client: first.client, server: first.server)
      let connection = try client.makeConnection(serverName: "www.example.test")
      let serverConnection = try server.makeConnection()
      #expect(try connection.handshake() == .wantRead)  // the session is offered
      try change(connection)
      let error = await #expect(throws: UsageError.self) {
        try await TLSPair.handshake(client: connection, server: serverConnection)
      }
      #expect(error?.message.contains("never applied") == true)
    }
  }

  /// Broken: a session for one port (another service on the same host) would resume on another.
  @Test func thePortIsPartOfTheSessionBinding() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client()
    let server = try fixture.server()
    let first = try client.makeConnection(serverName: "www.example.test", port: 8443)
    let firstServer = try server.makeConnection()
    try await TLSPair.handshake(client: first, server: firstServer)
    try TLSPair.closeCleanly(client: first, server: firstServer)
    let session = try #require(first.session)
    let otherPort = try client.makeConnection(serverName: "www.example.test", port: 443)
    try await TLSPair.handshake(client: otherPort, server: try server.makeConnection())
    #expect(!otherPort.isSessionReused)
    let manual = try client.makeConnection(serverName: "www.example.test", port: 443)
    let error = try caught(TLSSessionError.self) { try manual.setSession(session) }
    #expect(error.reason == .differentPolicy)
    let samePort = try client.makeConnection(serverName: "www.example.test", port: 8443)
    try await TLSPair.handshake(client: samePort, server: try server.makeConnection())
    #expect(samePort.isSessionReused)
  }

  /// Broken: a session cached for one name would resume for another name the certificate also
  /// covers, skipping the check for the second name (and a policy keyed by it).
  @Test func aSessionCachedForOneNameIsNotResumedForAnother() async throws {
    let fixture = try TLSFixture {
      $0.subjectAlternativeNames = [.dnsName("www.example.test"), .dnsName("api.example.test")]
    }
    let client = try fixture.client()
    let server = try fixture.server()
    let first = try await fixture.connect(client: client, server: server, name: "www.example.test")
    try TLSPair.closeCleanly(client: first.client, server: first.server)
    let other = try await fixture.connect(client: client, server: server, name: "api.example.test")
    #expect(!other.client.isSessionReused)
    let same = try await fixture.connect(client: client, server: server, name: "www.example.test")
    #expect(same.client.isSessionReused)
  }

  /// Broken: a session made on the SNI default context would resume on the context the SNI
  /// handler switched to, skipping its client certificate requirement. The peer is `openssl
  /// s_client`, which offers any session it is given.
  @Test(arguments: [TLSVersion.tls12, .tls13])
  func afterAnSNISwitchTheChosenContextsBindingApplies(version: TLSVersion) throws {
    let main = try TLSFixture()
    let secure = try TLSFixture(leaf: {
      $0.subject = try X509Name(["CN": "secure.example.test"])
      $0.subjectAlternativeNames = [.dnsName("secure.example.test")]
    })
    let clientRoot = try TestPKI(leafName: "client.example.test").root
    let secureContext = try secure.server {
      $0.peerVerification = .requireClientCertificate
      $0.trust = .certificates([clientRoot])
    }
    let server = try LoopbackTLSServer(
      context: try main.server { $0.serverNameHandler = { $0 == "secure.example.test" ? secureContext : nil } },
      connections: 2)
    let files = try PeerFiles()
    let sessionFile = files.directory.file("session.pem")
    let versionFlag = version == .tls12 ? "-tls1_2" : "-tls1_3"
    // -ign_eof: s_client reads until our server closes, so a TLS 1.3 ticket is in before it writes
    // the session out.
    let first = try runOpenSSLClient(
      port: server.port, [versionFlag, "-servername", "www.example.test", "-sess_out", sessionFile, "-ign_eof"],
      input: "")
    #expect(first.stdout.contains("New, TLSv1"), "\(first.output)")
    let second = try runOpenSSLClient(
      port: server.port, [versionFlag, "-servername", "secure.example.test", "-sess_in", sessionFile, "-ign_eof"],
      input: "")
    #expect(!second.stdout.contains("Reused, TLSv1"), "\(second.output)")
    let results = server.wait(for: 2)
    #expect(results.count == 2, "\(results) \(second.output)")
    if case .success = results.last { Issue.record("the secure context accepted a client without a certificate") }
  }

  // MARK: - Names

  /// Broken: .checkedByCaller would switch the name check off even for a name given.
  @Test func checkedByCallerStillChecksANameGiven() async throws {
    let fixture = try TLSFixture()
    let client = try fixture.client { $0.hostNameRequirement = .checkedByCaller }
    let error = try await clientVerificationError {
      try await fixture.connect(client: client, server: try fixture.server(), name: "other.example.test")
    }
    #expect(error.code == .hostnameMismatch)
  }

  /// Broken: an IP address would be checked as a DNS name, or sent as SNI (RFC 6066 forbids it).
  @Test func anIPServerNameIsCheckedAndNotSentAsSNI() async throws {
    let fixture = try TLSFixture { $0.subjectAlternativeNames = [GeneralName.ipAddress("127.0.0.1")!] }
    let seen = Recorder<String>()
    let server = try fixture.server {
      $0.serverNameHandler = { name in
        seen.append(name ?? "none")
        return nil
      }
    }
    let (connection, _) = try await fixture.connect(client: try fixture.client(), server: server, name: "127.0.0.1")
    #expect(connection.verificationError == nil)
    #expect(seen.all == ["none"])
    let error = try await clientVerificationError {
      try await fixture.connect(client: try fixture.client(), server: server, name: "127.0.0.2")
    }
    #expect(error.code == .ipAddressMismatch)
  }

  // MARK: - Revocation and callbacks

  /// Broken: a connection could turn on a status callback its context never installed.
  @Test func aConnectionCannotTurnOnRevocationItsContextDoesNotCheck() throws {
    let fixture = try TLSFixture()
    let client = try fixture.client {
      $0.revocation = .disabled
      $0.stapleCallback = nil
    }
    let connection = try client.makeConnection(serverName: "www.example.test")
    #expect(throws: UsageError.self) { try connection.setRevocationPolicy(RevocationPolicy()) }
  }

  /// Broken: in TLS the store's callback would not run first, or its rejection would not count.
  @Test func aStoresCallbackRunsFirstInTLSToo() async throws {
    let fixture = try TLSFixture(leaf: { $0.notAfter = Date(timeIntervalSinceNow: -3_600) })
    let accepting = X509Store()
    try accepting.add(fixture.pki.root)
    try accepting.setVerifyCallback { view in view.error == .certificateHasExpired ? .accept : .keep }
    let seen = Recorder<Bool>()
    let client = try fixture.client {
      $0.trust = .store(accepting)
      $0.verification.verifyCallback = { view in
        if view.depth == 0 { seen.append(view.ok) }
        return .keep
      }
    }
    let (connection, _) = try await fixture.connect(client: client, server: try fixture.server())
    #expect(connection.acceptedOverrides.map(\.code) == [.certificateHasExpired])
    #expect(!seen.all.contains(false))

    // A store that rejects: the context's callback, which accepts everything, cannot undo it.
    let valid = try TLSFixture()
    let rejecting = X509Store()
    try rejecting.add(valid.pki.root)
    try rejecting.setVerifyCallback { view in view.depth == 0 && view.ok ? .reject("the store says no") : .keep }
    let strict = try valid.client {
      $0.trust = .store(rejecting)
      $0.verification.verifyCallback = { _ in .accept }
    }
    let error = try await clientVerificationError {
      try await valid.connect(client: strict, server: try valid.server())
    }
    #expect(error.rejectionReason == "the store says no")
  }
}
