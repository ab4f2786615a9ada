import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The promises of the OCSP client and of the revocation policy's fetch step (docs/SECURITY.md
/// rows 59, 60, 62 and 63), each tried against a responder on 127.0.0.1 that misbehaves on purpose.
@Suite("OCSP fetch: the proxy, the nonce, the time limit in a handshake, plain-http responders")
struct OCSPFetchPromisesTests {
  // MARK: - Row 62 (G32): the environment's proxy is ignored unless asked for

  /// `oo-test-helper ocsp-fetch` runs in a child, so that `http_proxy` and `HTTP_PROXY` can be
  /// set for it alone. Breaking the promise (a default client that reads the environment, as
  /// `OSSL_HTTP_transfer` does when given no proxy and no connection) would show as the request
  /// arriving at the proxy instead of the responder.
  @Test func theEnvironmentsProxyIsIgnoredUnlessTheClientAsksForIt() throws {
    let responder = try OCSPTestResponder()
    let fixture = try OCSPPKI(ocspURL: responder.url)
    // The "proxy" is a second responder for the same PKI: it answers an absolute URI as a proxy
    // would, and records that it was asked.
    let proxy = try OCSPTestResponder()
    for listener in [responder, proxy] {
      try listener.serve(
        ca: fixture.pki.intermediate, signer: fixture.pki.intermediate, signerKey: fixture.pki.intermediateKey,
        good: [fixture.pki.leaf])
    }
    let directory = try TemporaryDirectory("ocsp-proxy")
    let leaf = try directory.write("leaf.pem", fixture.pki.leaf.pemEncoded)
    let issuer = try directory.write("issuer.pem", fixture.pki.intermediate.pemEncoded)
    let proxyURL = "http://127.0.0.1:\(proxy.port)"
    let helper = ChildProcess.product("oo-test-helper")

    // Both variables set (HTTP_PROXY is the one a CGI server sets from a request's Proxy:
    // header), and only the upper-case one: the default client goes to the responder itself.
    for environment in [
      ["http_proxy": proxyURL, "HTTP_PROXY": proxyURL, "no_proxy": "", "NO_PROXY": ""],
      ["http_proxy": "", "HTTP_PROXY": proxyURL, "no_proxy": "", "NO_PROXY": ""],
    ] {
      let direct = try ChildProcess.run(helper, ["ocsp-fetch", "direct", leaf, issuer], environment: environment)
      #expect(direct.status == 0, "\(direct.output)")
      #expect(direct.stdout == "good\n", "\(direct.output)")
    }
    #expect(responder.received.count == 2)
    #expect(proxy.received.isEmpty, "the default client used the environment's proxy")

    // With .environment the same variables send the request through the proxy, which sees the
    // responder's absolute URL: so the variables above did reach the child.
    let viaProxy = try ChildProcess.run(
      helper, ["ocsp-fetch", "environment", leaf, issuer],
      environment: ["http_proxy": proxyURL, "HTTP_PROXY": proxyURL, "no_proxy": "", "NO_PROXY": ""])
    #expect(viaProxy.status == 0, "\(viaProxy.output)")
    #expect(viaProxy.stdout == "good\n", "\(viaProxy.output)")
    #expect(proxy.received.count == 1)
    #expect(proxy.received.first?.target.hasPrefix(responder.url) == true, "\(proxy.received.map(\.target))")
    #expect(responder.received.count == 2)
  }

  // MARK: - Row 59 (G33): the fetch step's nonce

  /// The fetch step's policy: no staple, the responder, nothing else.
  private func fetchOnly(
    _ url: String? = nil, hardFail: Bool = false, cache: RevocationCache? = nil
  ) -> RevocationPolicy {
    var policy = RevocationPolicy()
    policy.staple = .ignore
    policy.fetch = OCSPClient(destinations: .allowingLoopback)
    policy.fetchURL = url
    policy.cache = cache
    if hardFail { policy.whenUnavailable.ocsp = .hardFail }
    return policy
  }

  /// A responder that always answers with the same validly signed response for the leaf, carrying
  /// `nonce` (or none), and the PKI and verified chain it answers for. The policy's `fetchURL`
  /// points at it.
  private func replayingResponder(nonce: [UInt8]?) throws -> (OCSPTestResponder, OCSPPKI, [X509Certificate]) {
    let fixture = try OCSPPKI()
    let answer = try fixture.response(.good) { $0.nonce = nonce }
    let responder = try OCSPTestResponder(
      ca: fixture.pki.intermediate, signer: fixture.pki.intermediate, signerKey: fixture.pki.intermediateKey,
      behaviour: .fixed(answer.derEncoded))
    let chain = try fixture.store().verify(fixture.pki.leaf, untrusted: [fixture.pki.intermediate]).certificates
    return (responder, fixture, chain)
  }

  /// Breaking the promise (a fetch step that sends no nonce, or does not compare it) would show
  /// as the replayed response deciding: `source == .ocspFetch` and no error under hard-fail.
  @Test func theFetchStepSendsARandomNonceAndAResponseThatChangesItIsNotUsed() throws {
    // The neighbour: the same validly signed response without a nonce decides (a responder may
    // drop the nonce; only requireNonce refuses that), so what fails below is the nonce alone.
    let (plain, plainFixture, plainChain) = try replayingResponder(nonce: nil)
    let accepted = try RevocationChecker.check(
      chain: plainChain, store: try plainFixture.store(), policy: fetchOnly(plain.url))
    #expect(accepted.source == .ocspFetch)
    #expect(accepted.singleResponse?.status == .good)
    #expect(plain.received.count == 1)

    let (responder, fixture, chain) = try replayingResponder(nonce: Array(repeating: 0x5A, count: 16))
    // Soft-fail: the answer is not used, and the report says why.
    let soft = try RevocationChecker.check(chain: chain, store: try fixture.store(), policy: fetchOnly(responder.url))
    #expect(soft.source == nil)
    #expect(!soft.isChecked)
    #expect(soft.singleResponse == nil)
    #expect(soft.unchecked.count == 1)
    #expect(soft.unchecked.first?.contains("nonce mismatch") == true, "\(soft.unchecked)")
    #expect(soft.attempts.map(\.source) == [.ocspFetch])
    #expect(soft.attempts.first?.failure?.contains("nonce mismatch") == true, "\(soft.attempts)")
    // Hard-fail for the responder: the check fails, naming the nonce.
    let hard = try caught(OCSPError.self) {
      _ = try RevocationChecker.check(
        chain: chain, store: try fixture.store(), policy: fetchOnly(responder.url, hardFail: true))
    }
    #expect(hard.check == .notChecked)
    #expect(hard.explanation.contains("nonce mismatch"), "\(hard.explanation)")
    // Through a cache: the changed answer is neither used nor kept (the next check asks again).
    let cache = try RevocationCache()
    for _ in 0..<2 {
      let cached = try RevocationChecker.check(
        chain: chain, store: try fixture.store(), policy: fetchOnly(responder.url, cache: cache))
      #expect(cached.source == nil)
    }
    #expect(cache.count == 0)

    // Every request carried a nonce of 16 random bytes, never the same twice.
    let nonces = try responder.received.map { try OCSPRequest(derEncoded: $0.der).nonce }
    #expect(nonces.count == 4)
    #expect(nonces.allSatisfy { $0?.count == 16 }, "\(nonces)")
    #expect(Set(nonces.compactMap { $0 }).count == 4)
    #expect(try OCSPRequest(derEncoded: plain.received[0].der).nonce?.count == 16)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  // MARK: - Row 60 (G34): the fetch step in a handshake is bounded

  /// Breaking the promise (a fetch without the client's time limit) would leave the handshake
  /// waiting for the silent responder until it gives up and closes (30 seconds): the report
  /// would then name another failure than the time limit, or the handshake would succeed
  /// unchecked under hard-fail.
  @Test(arguments: [TLSVersion.tls12, .tls13])
  func aHandshakeWithASilentResponderEndsAtTheClientsTimeLimit(version: TLSVersion) async throws {
    let responder = try OCSPTestResponder(behaviour: .silent)
    let fixture = StaplingFixture(ocsp: try OCSPPKI(ocspURL: responder.url))
    var quick = OCSPClient(destinations: .allowingLoopback)
    quick.timeout = 1
    let server = try fixture.server(nil)

    // Soft-fail: the handshake completes, and the report says the fetch timed out.
    let soft = try fixture.client {
      $0.maximumVersion = version
      $0.revocation.fetch = quick
    }
    let (client, _) = try await fixture.connect(soft, server)
    let report = try #require(client.revocationReport)
    #expect(!report.isChecked)
    #expect(
      report.unchecked.contains { $0.hasPrefix("OCSP fetch: OCSP request failed (timed out)") }, "\(report.unchecked)")

    // Hard-fail: the handshake fails with notChecked, naming the time limit.
    let hard = try fixture.client {
      $0.maximumVersion = version
      $0.revocation.fetch = quick
      $0.revocation.failureMode = .hardFail
    }
    let error = try await stapleFailure { try await fixture.connect(hard, server) }
    #expect(error.check == .notChecked)
    #expect(error.explanation.contains("timed out"), "\(error.explanation)")
    #expect(error.attempts.contains { $0.source == .ocspFetch && $0.failure?.contains("timed out") == true })
    #expect(responder.received.count >= 1)
  }

  // MARK: - Row 63 (G35): only plain http counts as a responder URL

  /// Breaking the promise (taking the first OCSP URL whatever its scheme) would return the
  /// `https` URL below, and the fetch step would send its request to the listener it names.
  @Test func anHTTPSOrOtherResponderURLAloneDoesNotCount() throws {
    let listener = try OCSPTestResponder()
    let port = listener.port
    let httpsOnly = try OCSPPKI(ocspURL: "https://127.0.0.1:\(port)/ocsp")
    let error = try caught(OCSPClientError.self) { _ = try OCSPClient.responderURL(for: httpsOnly.pki.leaf) }
    #expect(error.reason == .noResponderURL)
    #expect(error.detail.contains("are not plain http"), "\(error.detail)")
    let others = try OCSPPKI(ocspURL: "ldap://127.0.0.1:\(port)/ocsp") { builder in
      builder.setAuthorityInformationAccess(ocsp: ["ldap://127.0.0.1:\(port)/ocsp", "https://127.0.0.1:\(port)/"])
    }
    #expect(
      try caught(OCSPClientError.self) { _ = try OCSPClient.responderURL(for: others.pki.leaf) }.reason
        == .noResponderURL)

    // The fetch step with such a certificate asks nobody: it reports that there is no URL.
    let chain = try httpsOnly.store().verify(httpsOnly.pki.leaf, untrusted: [httpsOnly.pki.intermediate]).certificates
    let report = try RevocationChecker.check(chain: chain, store: try httpsOnly.store(), policy: fetchOnly())
    #expect(report.source == nil)
    #expect(report.unchecked.first?.contains("no responder URL") == true, "\(report.unchecked)")
    #expect(listener.received.isEmpty)

    // The neighbour: a plain http URL after an https one is the one taken.
    let mixed = try OCSPPKI { builder in
      builder.setAuthorityInformationAccess(ocsp: ["https://127.0.0.1:\(port)/a", "HTTP://127.0.0.1:\(port)/b"])
    }
    #expect(try OCSPClient.responderURL(for: mixed.pki.leaf) == "HTTP://127.0.0.1:\(port)/b")
  }
}
