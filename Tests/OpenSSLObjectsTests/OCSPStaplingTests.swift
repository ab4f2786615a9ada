import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// A PKI for stapling, our server and client configurations, and staples of every kind.
struct StaplingFixture {
  let ocsp: OCSPPKI
  /// Our client and server over memory, for the same PKI.
  let tls: TLSFixture
  var pki: TestPKI { ocsp.pki }

  init(mustStaple: Bool = false) throws {
    self.init(ocsp: try OCSPPKI(mustStaple: mustStaple))
  }

  init(ocsp: OCSPPKI) {
    self.ocsp = ocsp
    tls = TLSFixture(pki: ocsp.pki)
  }

  /// A server context of the fixture's chain that staples `staple`.
  func server(
    _ staple: OCSPStaple?, _ adjust: (inout TLSConfiguration) throws -> Void = { _ in }
  ) throws -> SSLContext {
    try tls.server { configuration in
      configuration.ocspStaple = staple
      try adjust(&configuration)
    }
  }

  /// A client context that trusts the fixture's root.
  func client(_ adjust: (inout TLSConfiguration) throws -> Void = { _ in }) throws -> SSLContext {
    try tls.client(adjust)
  }

  /// A full handshake over memory.
  @discardableResult
  func connect(
    _ client: SSLContext, _ server: SSLContext, prepare: (SSLConnection) throws -> Void = { _ in }
  ) async throws -> (client: SSLConnection, server: SSLConnection) {
    try await tls.connect(client: client, server: server, prepare: prepare)
  }

  /// Staples of each kind.
  func good(nextUpdate: Date? = Date(timeIntervalSinceNow: 86_400)) throws -> [UInt8] {
    try ocsp.response(.good, nextUpdate: nextUpdate).derEncoded
  }
  func revoked() throws -> [UInt8] {
    try ocsp.response(.revoked(time: Date(timeIntervalSinceNow: -7_200), reason: .keyCompromise)).derEncoded
  }
  func stale() throws -> [UInt8] {
    try ocsp.response(
      thisUpdate: Date(timeIntervalSinceNow: -3 * 86_400), nextUpdate: Date(timeIntervalSinceNow: -86_400)
    ).derEncoded
  }
  func wrongSigner() throws -> [UInt8] {
    try ocsp.response(signer: (ocsp.unrelated, ocsp.unrelatedKey)).derEncoded
  }
}

/// The OCSP check a failed handshake threw.
func stapleFailure(
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async throws -> OCSPError {
  try await caught(OCSPError.self, sourceLocation: sourceLocation, body)
}

@Suite("OCSP stapling between our own client and server")
struct OCSPStaplingTests {
  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aGoodStapleIsCheckedAndExposed(version: TLSVersion) async throws {
    let fixture = try StaplingFixture()
    let staple = try fixture.good()
    let (client, server) = try await fixture.connect(
      try fixture.client { $0.maximumVersion = version }, try fixture.server(.response(staple)))
    #expect(client.version == version)
    #expect(client.ocspStapleBytes == staple)
    #expect(server.ocspStapleBytes == staple)
    let report = try #require(client.revocationReport)
    #expect(report.source == .staple)
    #expect(report.singleResponse?.status == .good)
    #expect(report.unchecked.isEmpty)
    #expect(try client.ocspStaple?.basicResponse().singleResponses.first?.status == .good)
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func badStaplesFailTheHandshakeSayingWhy(version: TLSVersion) async throws {
    let fixture = try StaplingFixture()
    let client = try fixture.client { $0.maximumVersion = version }
    let revoked = try await stapleFailure {
      try await fixture.connect(client, try fixture.server(.response(try fixture.revoked())))
    }
    #expect(revoked.check == .revoked)
    #expect(revoked.revocationReason == .keyCompromise)
    let stale = try await stapleFailure {
      try await fixture.connect(client, try fixture.server(.response(try fixture.stale())))
    }
    #expect(stale.check == .stale)
    #expect(stale.nextUpdate != nil)
    let wrongSigner = try await stapleFailure {
      try await fixture.connect(client, try fixture.server(.response(try fixture.wrongSigner())))
    }
    #expect(wrongSigner.check == .signerNotAuthorized)
    if serversCheckTheirStaples {
      // OpenSSL 3.6 and later servers do not send what does not parse (StapleFaultTests).
      return
    }
    let garbage = try await stapleFailure {
      try await fixture.connect(client, try fixture.server(.response(Array("garbage".utf8))))
    }
    #expect(garbage.check == .notBasicResponse)
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func mustStapleIsEnforced(version: TLSVersion) async throws {
    let fixture = try StaplingFixture(mustStaple: true)
    let client = try fixture.client { $0.maximumVersion = version }
    let missing = try await stapleFailure { try await fixture.connect(client, try fixture.server(nil)) }
    #expect(missing.check == .missingStaple)
    #expect(missing.explanation.contains("is a must-staple certificate"))
    let stale = try await stapleFailure {
      try await fixture.connect(client, try fixture.server(.response(try fixture.stale())))
    }
    #expect(stale.check == .stale)
    let (connection, _) = try await fixture.connect(client, try fixture.server(.response(try fixture.good())))
    #expect(connection.revocationReport?.source == .staple)
  }

  @Test func aMissingStapleIsReportedOrRequired() async throws {
    let fixture = try StaplingFixture()
    let (connection, _) = try await fixture.connect(try fixture.client(), try fixture.server(nil))
    #expect(connection.revocationReport?.source == nil)
    #expect(connection.revocationReport?.unchecked == ["staple: the server stapled no OCSP response"])
    let requiring = try fixture.client { $0.revocation.staple = .require }
    #expect(
      try await stapleFailure { try await fixture.connect(requiring, try fixture.server(nil)) }.check == .missingStaple)
    // Not asking at all: no status_request, no check.
    let (ignoring, _) = try await fixture.connect(
      try fixture.client { $0.revocation = .disabled }, try fixture.server(.response(try fixture.revoked())))
    #expect(ignoring.ocspStapleBytes == nil)
    #expect(ignoring.revocationReport == nil)
  }

  @Test func aProviderGivesFreshBytesPerConnection() async throws {
    let fixture = try StaplingFixture()
    let calls = Recorder<String>()
    let good = try fixture.good()
    let server = try fixture.server(
      .provider { certificate in
        calls.append(certificate?.subject.rfc2253 ?? "none")
        return calls.all.count == 1 ? good : nil
      })
    let client = try fixture.client { $0.sessions.resumption = false }
    let (first, _) = try await fixture.connect(client, server)
    #expect(first.ocspStapleBytes == good)
    let (second, _) = try await fixture.connect(client, server)
    #expect(second.ocspStapleBytes == nil)
    #expect(calls.all == ["CN=www.example.test", "CN=www.example.test"])

    struct NoStaple: Error {}
    let failing = try fixture.server(.provider { _ in throw NoStaple() })
    let clientConnection = try client.makeConnection(serverName: "www.example.test")
    let serverConnection = try failing.makeConnection()
    await #expect(throws: NoStaple.self) {
      try await TLSPair.handshake(client: clientConnection, server: serverConnection)
    }
  }

  @Test func aStapleCallbackSeesTheParsedResponse() async throws {
    let fixture = try StaplingFixture()
    let seen = Recorder<String>()
    let observing = try fixture.client {
      $0.stapleCallback = { check in
        let status = try check.response?.basicResponse().singleResponses.first?.status.description ?? "none"
        seen.append("\(status) \(check.chain.count) \((try? check.verdict.get()) != nil)")
        return .keep
      }
    }
    try await fixture.connect(observing, try fixture.server(.response(try fixture.good())))
    #expect(seen.all == ["good 3 true"])

    let rejecting = try fixture.client { $0.stapleCallback = { _ in .reject("responder not in my list") } }
    let rejected = try await stapleFailure {
      try await fixture.connect(rejecting, try fixture.server(.response(try fixture.good())))
    }
    #expect(rejected.check == .rejected)
    #expect(rejected.explanation == "The staple callback rejected the response: responder not in my list.")

    let accepting = try fixture.client { $0.stapleCallback = { _ in .accept } }
    let (connection, _) = try await fixture.connect(accepting, try fixture.server(.response(try fixture.revoked())))
    #expect(connection.revocationReport?.unchecked.first?.hasPrefix("the staple callback accepted: ") == true)
  }

  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aResumedSessionLivesNoLongerThanItsStaple(version: TLSVersion) async throws {
    let fixture = try StaplingFixture(mustStaple: true)
    // A staple valid for an hour: the session resumes.
    let client = try fixture.client { $0.maximumVersion = version }
    let server = try fixture.server(.response(try fixture.good(nextUpdate: Date(timeIntervalSinceNow: 3_600))))
    let first = try await fixture.connect(client, server)
    try TLSPair.closeCleanly(client: first.client, server: first.server)
    let second = try await fixture.connect(client, server)
    #expect(second.client.isSessionReused)

    // A staple whose nextUpdate has just passed (accepted within the clock-skew allowance): its
    // session is not resumed, so the next connection checks a staple again.
    let expiring = try fixture.client { $0.maximumVersion = version }
    let expiringServer = try fixture.server(.response(try fixture.good(nextUpdate: Date(timeIntervalSinceNow: -60))))
    let third = try await fixture.connect(expiring, expiringServer)
    #expect(third.client.revocationReport?.source == .staple)
    try TLSPair.closeCleanly(client: third.client, server: third.server)
    let fourth = try await fixture.connect(expiring, expiringServer)
    #expect(!fourth.client.isSessionReused)
    #expect(fourth.client.revocationReport?.source == .staple)
  }

  @Test func theStapleRequirementIsPartOfTheSessionKey() async throws {
    let fixture = try StaplingFixture()
    let client = try fixture.client()
    let server = try fixture.server(nil)
    let first = try await fixture.connect(client, server)
    try TLSPair.closeCleanly(client: first.client, server: first.server)
    let resumed = try await fixture.connect(client, server)
    #expect(resumed.client.isSessionReused)
    try TLSPair.closeCleanly(client: resumed.client, server: resumed.server)
    // Requiring a staple on this connection: the session made without one is not offered.
    var requiring = RevocationPolicy()
    requiring.staple = .require
    let error = try await stapleFailure {
      try await fixture.connect(client, server) { try $0.setRevocationPolicy(requiring) }
    }
    #expect(error.check == .missingStaple)
  }
}
