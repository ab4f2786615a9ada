import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The revocation policy: staple, then OCSP fetch, then CRL, each optional; hard- or soft-fail.
@Suite("Revocation policy: staple, OCSP fetch, CRL; hard-fail and soft-fail")
struct RevocationPolicyTests {
  /// A PKI whose leaf names a live responder (`openssl ocsp`), and the verified chain.
  private func setUp(
    revoked: Bool = false, behaviour: OCSPTestResponder.Behaviour = .openssl()
  ) throws -> (OCSPPKI, OCSPTestResponder, [X509Certificate]) {
    let responder = try OCSPTestResponder(behaviour: behaviour)
    let fixture = try OCSPPKI(ocspURL: responder.url)
    try responder.serve(
      ca: fixture.pki.intermediate, signer: fixture.pki.intermediate, signerKey: fixture.pki.intermediateKey,
      good: revoked ? [] : [fixture.pki.leaf], revoked: revoked ? [fixture.pki.leaf] : [])
    let chain = try fixture.store().verify(fixture.pki.leaf, untrusted: [fixture.pki.intermediate]).certificates
    return (fixture, responder, chain)
  }

  private func failure(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
  ) throws
    -> OCSPError
  {
    try caught(OCSPError.self, sourceLocation: sourceLocation, body)
  }

  private func crl(
    _ fixture: OCSPPKI, revoked: Bool, nextUpdate: Date? = Date(timeIntervalSinceNow: 86_400)
  ) throws
    -> X509CRL
  {
    var builder = CRLBuilder(
      revoked: revoked
        ? [RevokedCertificate(serialNumber: fixture.pki.leaf.serialNumber, revocationDate: Date(), reason: .superseded)]
        : [])
    builder.nextUpdate = nextUpdate
    return try builder.sign(with: fixture.pki.intermediateKey, issuerCertificate: fixture.pki.intermediate)
  }

  @Test func theFetchStepAsksTheResponderNamedInTheCertificate() throws {
    let (fixture, responder, chain) = try setUp()
    var policy = RevocationPolicy()
    policy.fetch = OCSPClient(destinations: .allowingLoopback)
    let report = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: policy)
    #expect(report.source == .ocspFetch)
    #expect(report.singleResponse?.status == .good)
    #expect(report.unchecked == ["staple: the server stapled no OCSP response"])
    #expect(responder.received.count == 1)
  }

  @Test func aStapleComesFirst() throws {
    let (fixture, responder, chain) = try setUp()
    var policy = RevocationPolicy()
    policy.fetch = OCSPClient(destinations: .allowingLoopback)
    let report = try RevocationChecker.check(
      chain: chain, store: try fixture.store(), staple: try fixture.response().derEncoded, policy: policy)
    #expect(report.source == .staple)
    #expect(responder.received.isEmpty)
  }

  @Test func revokedByTheResponderAlwaysFails() throws {
    let (fixture, responder, chain) = try setUp(revoked: true)
    var policy = RevocationPolicy()
    policy.fetch = OCSPClient(destinations: .allowingLoopback)
    policy.crls = [try crl(fixture, revoked: false)]
    let error = try failure {
      _ = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: policy)
    }
    #expect(error.check == .revoked)
    #expect(error.revocationReason == .keyCompromise)
    #expect(responder.received.count == 1)
  }

  @Test func aResponderThatIsDownFallsBackToTheCRL() throws {
    let fixture = try OCSPPKI(ocspURL: "http://127.0.0.1:\(try closedLoopbackPort())/ocsp")
    let chain = try fixture.store().verify(fixture.pki.leaf, untrusted: [fixture.pki.intermediate]).certificates
    var client = OCSPClient(destinations: .allowingLoopback)
    client.timeout = 1
    var policy = RevocationPolicy()
    policy.staple = .ignore
    policy.fetch = client
    policy.crls = [try crl(fixture, revoked: false)]
    let report = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: policy)
    #expect(report.source == .crl)
    #expect(report.unchecked.count == 1)
    #expect(report.unchecked.first?.hasPrefix("OCSP fetch: OCSP request failed (responder unreachable)") == true)

    policy.crls = [try crl(fixture, revoked: true)]
    let revoked = try failure {
      _ = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: policy)
    }
    #expect(revoked.check == .revoked)
    #expect(revoked.revocationReason == .superseded)
    #expect(revoked.explanation.hasSuffix("according to the CRL of \"\(fixture.pki.intermediate.subject.rfc2253)\"."))
  }

  @Test func softFailReportsWhatItCouldNotCheckAndHardFailFails() throws {
    let (fixture, responder, chain) = try setUp(behaviour: .garbage)
    var policy = RevocationPolicy()
    policy.fetch = OCSPClient(destinations: .allowingLoopback)
    let stranger = try OCSPPKI()
    // A CRL of another issuer does not count.
    policy.crls = [try crl(stranger, revoked: false)]
    let report = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: policy)
    #expect(!report.isChecked)
    #expect(report.unchecked.count == 3)
    #expect(report.unchecked[0] == "staple: the server stapled no OCSP response")
    #expect(report.unchecked[1].hasPrefix("OCSP fetch: OCSP request failed (malformed response)"))
    #expect(report.unchecked[2].hasPrefix("CRL: no CRL of \"\(fixture.pki.intermediate.subject.rfc2253)\""))

    policy.failureMode = .hardFail
    let error = try failure {
      _ = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: policy)
    }
    #expect(error.check == .notChecked)
    #expect(error.explanation.hasPrefix("No step of the hard-fail revocation policy could check"))

    // A stale CRL cannot tell either.
    policy.crls = [try crl(fixture, revoked: false, nextUpdate: Date(timeIntervalSinceNow: -86_400))]
    #expect(
      try failure { _ = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: policy) }.check
        == .notChecked)
    #expect(responder.received.count == 3)
  }

  @Test func aTLSClientFetchesWhenTheServerDoesNotStaple() async throws {
    let (fixture, responder, _) = try setUp(revoked: true)
    let staplingFixture = StaplingFixture(ocsp: fixture)
    let server = try staplingFixture.server(nil)
    let client = try staplingFixture.client {
      $0.revocation.fetch = OCSPClient(destinations: .allowingLoopback)
      $0.revocation.failureMode = .hardFail
    }
    let error = try await stapleFailure { try await staplingFixture.connect(client, server) }
    #expect(error.check == .revoked)
    #expect(responder.received.count == 1)
  }
}
