import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Where revocation fetches may connect: public addresses only by default, checked on the
/// addresses name resolution gives, before connecting. Only 127.0.0.1 is ever connected to here;
/// the other ranges are refused before any packet leaves, or judged without connecting.
@Suite("Fetch destinations: public addresses only unless the caller allows more")
struct DestinationPolicyTests {
  /// A listener on 127.0.0.1 that never accepts: a connection that reached it would wait in its
  /// backlog, where a non-blocking `accept` finds it.
  final class SilentListener {
    let descriptor: Int32
    let port: Int

    init() throws {
      (descriptor, port) = try LoopbackSocket.listen()
      _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    /// Whether any connection arrived (the kernel completes TCP handshakes before `accept`).
    var connectionArrived: Bool {
      let client = accept(descriptor, nil, nil)
      if client >= 0 { close(client) }
      return client >= 0
    }

    deinit { close(descriptor) }
  }

  /// A live responder on 127.0.0.1 and a PKI whose leaf names the URL `url` makes of it.
  private func liveResponder(_ url: (OCSPTestResponder) -> String) throws -> (OCSPTestResponder, OCSPPKI) {
    let responder = try OCSPTestResponder()
    let fixture = try OCSPPKI(ocspURL: url(responder))
    try responder.serve(
      ca: fixture.pki.intermediate, signer: fixture.pki.intermediate, signerKey: fixture.pki.intermediateKey,
      good: [fixture.pki.leaf])
    return (responder, fixture)
  }

  private func refusal(
    _ client: OCSPClient, _ url: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> OCSPClientError {
    let keys = try OCSPPKI()
    let request = try OCSPRequest(certificate: keys.pki.leaf, issuer: keys.pki.intermediate)
    return try caught(OCSPClientError.self, sourceLocation: sourceLocation) { _ = try client.send(request, to: url) }
  }

  @Test func aLoopbackResponderInTheCertificateIsRefusedByDefaultAndNothingArrives() throws {
    let listener = try SilentListener()
    let fixture = try OCSPPKI(ocspURL: "http://127.0.0.1:\(listener.port)/ocsp")
    let error = try caught(OCSPClientError.self) {
      _ = try OCSPClient().fetch(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
    }
    #expect(error.reason == .destinationRefused, "\(error)")
    #expect(error.detail.contains("127.0.0.1 (loopback, 127.0.0.0/8)"), "\(error.detail)")
    #expect(error.detail.contains("nothing was sent"))
    #expect(!listener.connectionArrived)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")

    // The same listener does receive the connection when loopback is allowed (it never answers:
    // the client times out, after connecting).
    var allowing = OCSPClient(destinations: .allowingLoopback)
    allowing.timeout = 1
    let timedOut = try caught(OCSPClientError.self) {
      _ = try allowing.fetch(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
    }
    #expect(timedOut.reason == .timedOut, "\(timedOut)")
    #expect(listener.connectionArrived)
  }

  @Test func aLiveResponderOnLoopbackAnswersOnlyWithTheOptIn() throws {
    let (responder, fixture) = try liveResponder { $0.url }
    let refused = try caught(OCSPClientError.self) {
      _ = try OCSPClient().fetch(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
    }
    #expect(refused.reason == .destinationRefused)
    #expect(responder.received.isEmpty)
    for policy in [DestinationPolicy.allowingLoopback, .allowingPrivate] {
      let (_, response) = try OCSPClient(destinations: policy).fetch(
        certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
      #expect(try response.basicResponse().singleResponses.first?.status == .good)
    }
    #expect(responder.received.count == 2)
    // Private networks alone do not include loopback.
    let privateOnly = OCSPClient(destinations: DestinationPolicy(allowing: .privateNetworks))
    #expect(try refusal(privateOnly, responder.url).reason == .destinationRefused)
    #expect(responder.received.count == 2)
  }

  @Test func aNameThatResolvesToLoopbackIsRefusedAfterResolution() throws {
    let (responder, fixture) = try liveResponder { "http://localhost:\($0.port)/ocsp" }
    let error = try caught(OCSPClientError.self) {
      _ = try OCSPClient().fetch(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
    }
    #expect(error.reason == .destinationRefused, "\(error)")
    #expect(error.detail.contains("\"localhost\" is"), "\(error.detail)")
    #expect(error.detail.contains("loopback"), "\(error.detail)")
    #expect(responder.received.isEmpty)
    let (_, response) = try OCSPClient(destinations: .allowingLoopback).fetch(
      certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
    #expect(try response.basicResponse().singleResponses.first?.status == .good)
    #expect(responder.received.count == 1)
  }

  /// Every non-public range, as a numeric URL the client refuses before connecting, even with
  /// every range that may be allowed allowed when the range is never allowed.
  @Test(arguments: [
    ("127.0.0.1", DestinationPolicy.AddressClass.loopback), ("127.255.0.9", .loopback), ("10.0.0.1", .privateNetwork),
    ("10.255.255.255", .privateNetwork), ("172.16.0.1", .privateNetwork), ("172.31.255.254", .privateNetwork),
    ("192.168.0.1", .privateNetwork), ("169.254.169.254", .linkLocal), ("100.64.0.1", .sharedAddressSpace),
    ("100.127.255.254", .sharedAddressSpace), ("0.0.0.0", .unspecified), ("0.1.2.3", .unspecified),
    ("224.0.0.1", .multicast), ("239.255.255.250", .multicast), ("240.0.0.1", .reserved),
    ("255.255.255.255", .reserved), ("[::1]", .loopback), ("[::]", .unspecified), ("[fe80::1]", .linkLocal),
    ("[febf::1]", .linkLocal), ("[fc00::1]", .privateNetwork), ("[fdff:ffff::1]", .privateNetwork),
    ("[ff02::1]", .multicast), ("[::ffff:127.0.0.1]", .loopback), ("[::ffff:10.1.2.3]", .privateNetwork),
    ("[::ffff:172.16.5.4]", .privateNetwork), ("[::ffff:192.168.1.1]", .privateNetwork),
    ("[::ffff:169.254.1.1]", .linkLocal), ("[::ffff:100.64.1.1]", .sharedAddressSpace),
    ("[::ffff:0.0.0.0]", .unspecified), ("[::ffff:224.0.0.1]", .multicast), ("[::127.0.0.1]", .loopback),
    ("[64:ff9b::10.0.0.1]", .privateNetwork),
  ])
  func everyNonPublicRangeIsRefusedBeforeConnecting(host: String, kind: DestinationPolicy.AddressClass) throws {
    let literal = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
    let bytes = try #require(
      GeneralName.ipAddress(literal).flatMap { if case .ipAddress(let b) = $0 { b } else { nil } })
    #expect(DestinationPolicy.classify(address: bytes).0 == kind)
    #expect(!DestinationPolicy.publicOnly.permits(address: bytes))
    let error = try refusal(OCSPClient(), "http://\(host):9/ocsp")
    #expect(error.reason == .destinationRefused, "\(error)")
    #expect(error.detail.contains("(\(kind)"), "\(error.detail)")
    // Unspecified, multicast and reserved addresses stay refused whatever is allowed.
    let allowAll = DestinationPolicy.allowingPrivate.permits(address: bytes)
    #expect(allowAll == ![.unspecified, .multicast, .reserved].contains(kind))
    if !allowAll {
      #expect(
        try refusal(OCSPClient(destinations: .allowingPrivate), "http://\(host):9/ocsp").reason == .destinationRefused)
    }
  }

  /// The edges of each range are public (judged only: nothing outside 127.0.0.1 is contacted).
  @Test func theNeighboursOfEachRangeArePublic() {
    for text in [
      "126.255.255.255", "128.0.0.0", "9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255",
      "192.169.0.0", "169.253.255.255", "169.255.0.0", "100.63.255.255", "100.128.0.0", "1.0.0.0", "223.255.255.255",
      "8.8.8.8", "2001:db8::1", "2606:4700::1111", "fbff::1", "fe00::1", "fec0::1", "::ffff:8.8.8.8",
      "64:ff9b::808:808",
    ] {
      guard case .ipAddress(let bytes)? = GeneralName.ipAddress(text) else {
        Issue.record("\(text) is not an address")
        continue
      }
      #expect(DestinationPolicy.classify(address: bytes).0 == .public, "\(text)")
      #expect(DestinationPolicy.publicOnly.permits(address: bytes), "\(text)")
    }
  }

  @Test func eachRangeIsAllowedOnlyByItsOwnOptIn() {
    let cases: [(String, DestinationPolicy.Ranges)] = [
      ("127.0.0.1", .loopback), ("::1", .loopback), ("10.0.0.1", .privateNetworks), ("fd00::1", .privateNetworks),
      ("169.254.0.1", .linkLocal), ("fe80::1", .linkLocal), ("100.64.0.1", .sharedAddressSpace),
      ("::ffff:192.168.0.1", .privateNetworks),
    ]
    let all: [DestinationPolicy.Ranges] = [.loopback, .privateNetworks, .linkLocal, .sharedAddressSpace]
    for (text, range) in cases {
      guard case .ipAddress(let bytes)? = GeneralName.ipAddress(text) else { continue }
      for other in all {
        #expect(DestinationPolicy(allowing: other).permits(address: bytes) == (other == range), "\(text) \(other)")
      }
    }
  }

  @Test func aProxyTheCallerConfiguredIsExempt() throws {
    let (responder, fixture) = try liveResponder { _ in "http://127.0.0.1:9/ocsp" }
    var client = OCSPClient()
    client.method = .post
    client.proxy = .url("http://127.0.0.1:\(responder.port)")
    let (_, response) = try client.fetch(certificate: fixture.pki.leaf, issuer: fixture.pki.intermediate)
    #expect(try response.basicResponse().singleResponses.first?.status == .good)
    #expect(responder.received.first?.target == "http://127.0.0.1:9/ocsp")
  }
}
