import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// A TLS server's staple, fetched from the responder through the cache and refreshed in the
/// background once half of its validity has passed, before it expires.
@Suite("Stapling: the server refreshes its response before it expires, from the cache")
struct OCSPStapleRefresherTests {
  /// A clock the test moves.
  final class Clock: @unchecked Sendable {
    private let lock = NSLock()
    private var offset: TimeInterval = 0
    func advance(_ seconds: TimeInterval) { lock.withLock { offset += seconds } }
    var now: Date { lock.withLock { Date(timeIntervalSinceNow: offset) } }
  }

  struct Setup {
    let fixture: OCSPPKI
    let responder: OCSPTestResponder
    let clock = Clock()

    init() throws {
      responder = try OCSPTestResponder(behaviour: .openssl(nextUpdateDays: 1))
      fixture = try OCSPPKI(leafName: "localhost", ocspURL: responder.url)
      try responder.serve(
        ca: fixture.pki.intermediate, signer: fixture.pki.intermediate, signerKey: fixture.pki.intermediateKey,
        good: [fixture.pki.leaf])
    }

    func refresher(cache: RevocationCache?) throws -> OCSPStapleRefresher {
      let clock = self.clock
      return try OCSPStapleRefresher(
        certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate, store: try fixture.store(),
        client: OCSPClient(destinations: .allowingLoopback), cache: cache, now: { clock.now })
    }

    /// What a handshake presenting the leaf would staple.
    func stapled(_ refresher: OCSPStapleRefresher) throws -> [UInt8]? {
      guard case .provider(let provider) = refresher.staple else { return nil }
      return try provider(fixture.pki.leaf)
    }

    /// Waits (without a time assertion) until `condition` holds or ten seconds pass.
    func eventually(_ condition: () -> Bool) -> Bool {
      for _ in 0..<200 where !condition() { Thread.sleep(forTimeInterval: 0.05) }
      return condition()
    }
  }

  @Test func theStapleIsRefreshedInTheBackgroundHalfwayThroughItsValidity() throws {
    let setup = try Setup()
    let refresher = try setup.refresher(cache: try RevocationCache())
    try refresher.refresh()
    #expect(setup.responder.received.count == 1)
    let first = try #require(try setup.stapled(refresher))
    // Within the first half: the same bytes, nothing fetched.
    setup.clock.advance(6 * 3_600)
    #expect(try setup.stapled(refresher) == first)
    #expect(!refresher.isRefreshing)
    #expect(setup.responder.received.count == 1)
    // Past half of the day: still stapled, and a new response is fetched in the background
    // (the cache's copy is due for a refresh too, so the responder is asked).
    setup.clock.advance(7 * 3_600)
    #expect(try setup.stapled(refresher) == first)
    #expect(setup.eventually { setup.responder.received.count == 2 && !refresher.isRefreshing })
    let second = try #require(refresher.currentResponse)
    #expect(second != first)
    #expect(refresher.lastError == nil)
    // (The new response, made at the real time, is itself past half of its day on this clock:
    // the next handshake starts another refresh, which the test lets finish.)
    #expect(try setup.stapled(refresher) == second)
    #expect(setup.eventually { !refresher.isRefreshing })
  }

  @Test func anotherServerTakesTheResponseFromTheSharedCache() throws {
    let setup = try Setup()
    let directory = try TemporaryDirectory("staple-cache")
    let cache = try RevocationCache(directory: directory.path)
    try setup.refresher(cache: cache).refresh()
    let other = try setup.refresher(cache: cache)
    try other.refresh()
    #expect(setup.responder.received.count == 1)
    // A restart: a new cache on the same directory.
    let restarted = try setup.refresher(cache: try RevocationCache(directory: directory.path))
    try restarted.refresh()
    #expect(setup.responder.received.count == 1)
    #expect(restarted.currentResponse == other.currentResponse)
  }

  @Test func anExpiredResponseIsNotStapled() throws {
    let setup = try Setup()
    let refresher = try setup.refresher(cache: nil)
    try refresher.refresh()
    // Two days on, the response has expired: nothing is stapled, and what the responder answers
    // (valid for a day from the real now) is stale at that time too, so it is not taken.
    setup.clock.advance(2 * 86_400)
    #expect(try setup.stapled(refresher) == nil)
    #expect(setup.eventually { !refresher.isRefreshing })
    #expect(refresher.lastError != nil)
  }

  @Test func aClientChecksTheRefreshedStaple() async throws {
    let setup = try Setup()
    let refresher = try setup.refresher(cache: try RevocationCache())
    try refresher.refresh()
    let pki = setup.fixture.pki
    var server = TLSConfiguration.server([
      CertificateChain(certificate: pki.leaf, chain: [pki.intermediate], privateKey: pki.leafKey)
    ])
    server.ocspStaple = refresher.staple
    var client = TLSConfiguration.client
    client.trust = .certificates([pki.root])
    client.revocation.staple = .require
    let connection = try SSLContext(configuration: client).makeConnection(serverName: "localhost")
    try await TLSPair.handshake(client: connection, server: try SSLContext(configuration: server).makeConnection())
    #expect(connection.revocationReport?.source == .staple)
    #expect(connection.ocspStapleBytes == refresher.currentResponse)
  }
}
