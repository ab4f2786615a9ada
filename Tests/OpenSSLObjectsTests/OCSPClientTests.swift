import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// The responder client against a real responder on 127.0.0.1: our listener running
/// `openssl ocsp -index ... -reqin ... -respout ...` for each request, or misbehaving.
@Suite("OCSP: asking a responder over HTTP")
struct OCSPClientTests {
  /// A PKI whose leaf names the responder, and the responder (signed by the leaf's issuer).
  private func setUp(
    good: Bool = true, revoked: Bool = false, behaviour: OCSPTestResponder.Behaviour = .openssl(),
    delegated: Bool = false
  ) throws -> (OCSPPKI, OCSPTestResponder) {
    let responder = try OCSPTestResponder(behaviour: behaviour)
    let fixture = try OCSPPKI(ocspURL: responder.url)
    let signer =
      delegated ? (fixture.delegated, fixture.delegatedKey) : (fixture.pki.intermediate, fixture.pki.intermediateKey)
    try responder.serve(
      ca: fixture.pki.intermediate, signer: signer.0, signerKey: signer.1,
      good: good && !revoked ? [fixture.pki.leaf] : [], revoked: revoked ? [fixture.pki.leaf] : [])
    return (fixture, responder)
  }

  private func clientError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
  ) throws
    -> OCSPClientError
  {
    try caught(OCSPClientError.self, sourceLocation: sourceLocation, body)
  }

  private func check(
    _ fixture: OCSPPKI, _ response: OCSPResponse, request: OCSPRequest? = nil
  ) throws -> OCSPSingleResponse {
    try response.basicResponse().validate(
      try fixture.leafID(), store: try fixture.store(), untrusted: [fixture.pki.intermediate], request: request)
  }

  @Test(arguments: [OCSPClient.Method.get, .post, .automatic])
  func aGoodCertificate(method: OCSPClient.Method) throws {
    let (fixture, responder) = try setUp()
    var client = OCSPClient(destinations: .allowingLoopback)
    client.method = method
    let request = try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
    let response = try client.send(request, to: responder.url)
    let single = try check(fixture, response)
    #expect(single.status == .good)
    #expect(single.nextUpdate != nil)
    #expect(responder.received.map(\.method) == [method == .post ? "POST" : "GET"])
    #expect(responder.received.first?.der == request.derEncoded)
  }

  @Test func automaticUsesGETForSmallRequestsAndPOSTForLargeOnes() throws {
    let (fixture, responder) = try setUp()
    let id = try fixture.leafID()
    let small = try OCSPRequest(ids: [id])
    let large = try OCSPRequest(ids: Array(repeating: id, count: 6), nonce: .random)
    #expect(OCSPClientTests.encodedLength(small) <= 255)
    #expect(OCSPClientTests.encodedLength(large) > 255)
    for request in [small, large] {
      let single = try OCSPClient(destinations: .allowingLoopback).send(request, to: responder.url).basicResponse()
        .singleResponses
      #expect(single.count == request.ids.count)
    }
    #expect(responder.received.map(\.method) == ["GET", "POST"])
  }

  /// The length of the base64 text of a request, before URL encoding.
  static func encodedLength(_ request: OCSPRequest) -> Int {
    Data(request.derEncoded).base64EncodedString().count
  }

  @Test func theURLComesFromTheCertificateAndANonceComesBack() throws {
    let (fixture, responder) = try setUp()
    #expect(try OCSPClient.responderURL(for: fixture.pki.leaf) == responder.url)
    let (request, response) = try OCSPClient(destinations: .allowingLoopback).fetch(
      certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate, nonce: .random)
    #expect(try response.basicResponse().checkNonce(against: request) == .matched)
    #expect(try check(fixture, response, request: request).status == .good)
    #expect(responder.received.count == 1)
  }

  @Test func revokedWithTimeAndReason() throws {
    let (fixture, responder) = try setUp(revoked: true)
    let response = try OCSPClient(destinations: .allowingLoopback).fetch(
      certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate, url: responder.url
    ).response
    let error = try caught(OCSPError.self) { _ = try check(fixture, response) }
    #expect(error.check == .revoked)
    #expect(error.revocationReason == .keyCompromise)
    #expect(error.revocationTime.map { abs($0.timeIntervalSinceNow + 3_600) < 120 } == true)
  }

  @Test func unknownAndWithoutNextUpdate() throws {
    let (fixture, responder) = try setUp(good: false, behaviour: .openssl(nextUpdateDays: nil))
    let response = try OCSPClient(destinations: .allowingLoopback).send(
      try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate), to: responder.url)
    let single = try #require(try response.basicResponse().singleResponses.first)
    #expect(single.status == .unknown)
    #expect(single.nextUpdate == nil)
    // Without nextUpdate, the maximum age bounds how long the answer may be relied on.
    #expect(single.validUntil() == single.thisUpdate.addingTimeInterval(7 * 86_400))
  }

  @Test func aDelegatedResponder() throws {
    let (fixture, responder) = try setUp(delegated: true)
    let response = try OCSPClient(destinations: .allowingLoopback).send(
      try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate), to: responder.url)
    #expect(try check(fixture, response).status == .good)
    #expect(try response.basicResponse().responderID == .name(fixture.delegated.subject.rfc2253))
  }

  @Test func aBadSignature() throws {
    let (fixture, responder) = try setUp(behaviour: .openssl(badSignature: true))
    let response = try OCSPClient(destinations: .allowingLoopback).send(
      try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate), to: responder.url)
    #expect(try caught(OCSPError.self) { _ = try check(fixture, response) }.check == .signature)
  }

  @Test func garbageIsAMalformedResponse() throws {
    let (fixture, responder) = try setUp(behaviour: .garbage)
    let error = try clientError {
      _ = try OCSPClient(destinations: .allowingLoopback).send(
        try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate), to: responder.url)
    }
    #expect(error.reason == .malformedResponse)
  }

  @Test func aSilentResponderTimesOut() throws {
    let (fixture, responder) = try setUp(behaviour: .silent)
    var client = OCSPClient(destinations: .allowingLoopback)
    client.timeout = 1
    let error = try clientError {
      _ = try client.send(
        try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate), to: responder.url)
    }
    #expect(error.reason == .timedOut, "\(error)")
  }

  @Test func oneByteOverTheSizeLimitFails() throws {
    let keys = try OCSPPKI()
    let answer = try keys.response().derEncoded
    let responder = try OCSPTestResponder(
      ca: keys.pki.intermediate, signer: keys.pki.intermediate, signerKey: keys.pki.intermediateKey,
      behaviour: .fixed(answer))
    let request = try OCSPRequest(certificate: keys.pki.leaf, issuer: keys.pki.intermediate)
    var client = OCSPClient(destinations: .allowingLoopback)
    client.maximumResponseSize = answer.count
    #expect(try client.send(request, to: responder.url).derEncoded == answer)
    client.maximumResponseSize = answer.count - 1
    let error = try clientError { _ = try client.send(request, to: responder.url) }
    #expect(error.reason == .responseTooLarge, "\(error)")
  }

  @Test func aRespondingThatIsDownARedirectAndURLsThatAreNotPlainHTTP() throws {
    let keys = try OCSPPKI()
    let request = try OCSPRequest(certificate: keys.pki.leaf, issuer: keys.pki.intermediate)
    var quick = OCSPClient(destinations: .allowingLoopback)
    quick.timeout = 1
    let down = try clientError {
      _ = try quick.send(request, to: "http://127.0.0.1:\(try closedLoopbackPort())/ocsp")
    }
    #expect(down.reason == .unreachable, "\(down)")

    let redirecting = try OCSPTestResponder(
      ca: keys.pki.intermediate, signer: keys.pki.intermediate, signerKey: keys.pki.intermediateKey,
      behaviour: .redirect("http://127.0.0.1:1/elsewhere"))
    #expect(
      try clientError { _ = try OCSPClient(destinations: .allowingLoopback).send(request, to: redirecting.url) }.reason
        == .redirected)

    #expect(
      try clientError {
        _ = try OCSPClient(destinations: .allowingLoopback).send(request, to: "https://127.0.0.1/ocsp")
      }.reason == .notHTTP)
    #expect(
      try clientError { _ = try OCSPClient(destinations: .allowingLoopback).send(request, to: "ldap://127.0.0.1/") }
        .reason == .notHTTP)
    let plain = try TestPKI()
    #expect(try clientError { _ = try OCSPClient.responderURL(for: plain.leaf) }.reason == .noResponderURL)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  /// An HTTP error status is `.httpStatus` whatever the body: OpenSSL 3.0 fails on the status,
  /// later versions read a 4xx or 5xx answer's body (here an HTML page, or a well-formed OCSP
  /// response that says "try later") as if it were the response.
  @Test func anErrorStatusIsAnHTTPStatusWhateverItsBody() throws {
    let pki = try TestPKI()
    let request = try OCSPRequest(certificate: pki.leaf, issuer: pki.intermediate)
    let server = try LoopbackHTTPServer()
    server.set("html", .status("404 Not Found", body: Array("<html>no</html>".utf8), contentType: "text/html"))
    server.set(
      "ocsp",
      .status(
        "503 Service Unavailable", body: try OCSPResponse(status: .tryLater).derEncoded,
        contentType: "application/ocsp-response"))
    var client = OCSPClient(destinations: .allowingLoopback)
    client.method = .post
    for (path, code) in [("html", 404), ("ocsp", 503)] {
      let error = try clientError { _ = try client.send(request, to: server.url(path)) }
      #expect(error.reason == .httpStatus, "\(path): \(error)")
      #expect(error.detail.contains("HTTP status \(code)"), "\(error)")
      #expect(server.requests(path) == 1)
    }
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func anExplicitProxyGetsTheAbsoluteURI() throws {
    let (fixture, responder) = try setUp()
    var client = OCSPClient(destinations: .allowingLoopback)
    client.method = .post
    // The responder doubles as the proxy: it sees the request line a proxy sees.
    client.proxy = .url("http://127.0.0.1:\(responder.port)")
    let response = try client.send(
      try OCSPRequest(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate), to: responder.url)
    #expect(try check(fixture, response).status == .good)
    #expect(responder.received.first?.target == responder.url)
  }
}
