import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// CRLs fetched from the verified chain's distribution points, on a loopback HTTP server: checked
/// before use, then used for the leaf and the intermediates; and what the policy does per source.
@Suite("CRL fetching: the chain's distribution points, checked, then used")
struct CRLFetchTests {
  static var loopback: CRLClient { CRLClient(destinations: .allowingLoopback) }

  static func crlPolicy(_ client: CRLClient = loopback, hard: Bool = false) -> RevocationPolicy {
    var policy = RevocationPolicy.disabled
    policy.crlFetch = client
    if hard { policy.whenUnavailable.crl = .hardFail }
    return policy
  }

  static func check(_ pki: CRLPKI, _ policy: RevocationPolicy) throws -> RevocationReport {
    try RevocationChecker.check(chain: pki.chain, store: pki.store(), policy: policy)
  }

  @Test func theLeafAndTheIntermediateAreCheckedPEMAndDER() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    let report = try Self.check(pki, Self.crlPolicy())
    #expect(report.source == .crl)
    #expect(report.unchecked.isEmpty)
    #expect(report.attempts.map(\.depth) == [0, 1])
    #expect(report.attempts.allSatisfy { $0.source == .crl && $0.failure == nil })
    #expect(report.attempts.map(\.location) == [pki.server.url("intermediate.crl"), pki.server.url("root.crl")])
    #expect(pki.server.requests("intermediate.crl") == 1)
    #expect(pki.server.requests("root.crl") == 1)
    #expect(report.validUntil != nil)
  }

  @Test func aRevokedLeafFailsWithItsDateAndReason() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    let revokedAt = Date(timeIntervalSinceNow: -7_200).rounded
    pki.server.set(
      "intermediate.crl",
      .body(try pki.crl(revoking: [pki.leaf], reason: .keyCompromise, revokedAt: revokedAt).derEncoded))
    let error = try caught(OCSPError.self) { _ = try Self.check(pki, Self.crlPolicy()) }
    #expect(error.check == .revoked)
    #expect(error.revocationReason == .keyCompromise)
    #expect(error.revocationTime == revokedAt)
    #expect(error.depth == 0)
    #expect(error.explanation.contains("reason: key compromise"), "\(error)")
    #expect(error.explanation.contains(pki.server.url("intermediate.crl")))
  }

  @Test func aRevokedIntermediateFailsAtItsDepth() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    pki.server.set(
      "root.crl", .body(try pki.crl(root: true, revoking: [pki.intermediate], reason: .caCompromise).derEncoded))
    let error = try caught(OCSPError.self) { _ = try Self.check(pki, Self.crlPolicy()) }
    #expect(error.check == .revoked)
    #expect(error.revocationReason == .caCompromise)
    #expect(error.depth == 1)
  }

  /// Each check a CRL must pass before it is used, on its own.
  @Test func aCRLIsCheckedBeforeUse() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    let impostorKey = try PrivateKey(generating: .ec(.p256))
    let impostor = try TestPKI.makeCA(
      name: "CRL Test Intermediate", key: impostorKey, issuerKey: pki.rootKey, issuer: pki.root)
    let deltaIndicator = X509Extension(oid: OID("2.5.29.27"), isCritical: true, value: [0x02, 0x01, 0x01])
    // issuingDistributionPoint { onlySomeReasons [3] BIT STRING keyCompromise }
    let someReasons = X509Extension(
      oid: OID("2.5.29.28"), isCritical: true, value: [0x30, 0x04, 0x83, 0x02, 0x06, 0x40])
    let indirect = X509Extension(oid: OID("2.5.29.28"), isCritical: true, value: [0x30, 0x03, 0x84, 0x01, 0xFF])
    let unknownCritical = X509Extension(oid: OID("1.3.6.1.4.1.99999.1"), isCritical: true, value: [0x05, 0x00])
    var byImpostor = CRLBuilder()
    byImpostor.includeAuthorityKeyIdentifier = false
    let cases: [(String, X509CRL, OCSPError.Check)] = [
      ("another issuer", try pki.crl(root: true), .wrongIssuer),
      ("a forged signature", try byImpostor.sign(with: impostorKey, issuerCertificate: impostor), .signature),
      (
        "stale",
        try pki.crl(thisUpdate: Date(timeIntervalSinceNow: -7_200), nextUpdate: Date(timeIntervalSinceNow: -3_600)),
        .stale
      ),
      ("not yet valid", try pki.crl(thisUpdate: Date(timeIntervalSinceNow: 3_600)), .notYetValid),
      (
        "no nextUpdate and too old", try pki.crl(thisUpdate: Date(timeIntervalSinceNow: -30 * 86_400), nextUpdate: nil),
        .tooOld
      ),
      ("a delta CRL", try pki.crl { $0.rawExtensions = [deltaIndicator] }, .unsupportedCRL),
      ("only some reasons", try pki.crl { $0.rawExtensions = [someReasons] }, .unsupportedCRL),
      ("an indirect CRL", try pki.crl { $0.rawExtensions = [indirect] }, .unsupportedCRL),
      ("an unknown critical extension", try pki.crl { $0.rawExtensions = [unknownCritical] }, .unsupportedCRL),
    ]
    for (name, crl, check) in cases {
      let error = try caught(OCSPError.self) { try crl.validate(issuer: pki.intermediate) }
      #expect(error.check == check, "\(name): \(error)")
      // Served from the distribution point, the same CRL is refused by the check, which says why.
      pki.server.set("intermediate.crl", .body(crl.derEncoded))
      pki.server.set("root.crl", .body(try pki.crl(root: true).derEncoded))
      let failure = try caught(OCSPError.self) { _ = try Self.check(pki, Self.crlPolicy(hard: true)) }
      #expect(failure.check == .notChecked, "\(name)")
      #expect(failure.attempts.first?.failure?.contains(error.explanation) == true, "\(name): \(failure)")
    }
    #expect(try pki.crl().validate(issuer: pki.intermediate) != nil)
  }

  @Test func aCRLWhoseScopeLeavesTheCertificateOutDoesNotCoverIt() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    // issuingDistributionPoint { onlyContainsCACerts [2] TRUE }: no word about the leaf.
    let onlyCA = X509Extension(oid: OID("2.5.29.28"), isCritical: true, value: [0x30, 0x03, 0x82, 0x01, 0xFF])
    pki.server.set("intermediate.crl", .body(try pki.crl { $0.rawExtensions = [onlyCA] }.derEncoded))
    let report = try Self.check(pki, Self.crlPolicy())
    #expect(report.source == nil)
    #expect(report.unchecked.first?.contains("does not cover") == true, "\(report.unchecked)")
  }

  @Test func crlDownloadsFollowTheDestinationPolicy() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    let report = try Self.check(pki, Self.crlPolicy(CRLClient()))
    #expect(report.source == nil)
    #expect(report.attempts.first?.failure?.contains("destination refused") == true, "\(report.attempts)")
    #expect(pki.server.requests("intermediate.crl") == 0)
    #expect(pki.server.requests("root.crl") == 0)
  }

  @Test func redirectsErrorStatusesAndGarbageAreNotCRLs() throws {
    let server = try LoopbackHTTPServer()
    let client = Self.loopback
    server.set("moved", .redirect(server.url("elsewhere")))
    server.set("missing", .status("404 Not Found"))
    server.set("garbage", .body(Array("not a CRL".utf8)))
    #expect(
      try caught(OCSPClientError.self) { _ = try client.download(from: server.url("moved")) }.reason == .redirected)
    let missing = try caught(OCSPClientError.self) { _ = try client.download(from: server.url("missing")) }
    #expect(missing.reason == .httpStatus, "\(missing)")
    let garbage = try caught(OCSPClientError.self) { _ = try client.download(from: server.url("garbage")) }
    #expect(garbage.reason == .malformedResponse)
    #expect(garbage.operation == "CRL download")
    #expect(server.requests("elsewhere") == 0)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  /// An error status is `.httpStatus` on every OpenSSL, with or without a body, directly and
  /// through a proxy (where OpenSSL makes the connection): 3.0 fails with `HTTP_R_RECEIVED_ERROR`,
  /// later versions hand a 4xx or 5xx answer's body over as if it were the CRL. A 403 carrying a real CRL is not taken for one either.
  @Test(arguments: [
    ("404 Not Found", "nothing"), ("500 Internal Server Error", "html"), ("403 Forbidden", "a CRL"),
    ("303 See Other", "nothing"),
  ])
  func anErrorStatusIsAnHTTPStatusDirectlyAndThroughAProxy(status: String, body: String) throws {
    let answer: LoopbackHTTPServer.Answer
    switch body {
    case "html": answer = .status(status, body: Array("<html>down</html>".utf8), contentType: "text/html")
    case "a CRL": answer = .status(status, body: try CRLPKI(server: LoopbackHTTPServer()).crl().derEncoded)
    default: answer = .status(status)
    }
    let server = try LoopbackHTTPServer()
    server.set("crl", answer)
    // The server doubles as the proxy: it sees the absolute URI as the request target.
    server.set(server.url("crl"), answer)
    var client = Self.loopback
    for proxied in [false, true] {
      client.proxy = proxied ? .url("http://127.0.0.1:\(server.port)") : .direct
      let error = try caught(OCSPClientError.self) { _ = try client.download(from: server.url("crl")) }
      #expect(error.reason == .httpStatus, "\(status), proxy \(proxied): \(error)")
      #expect(error.detail.contains("HTTP status \(status.prefix(3))"), "\(error)")
      #expect(error.operation == "CRL download")
    }
    #expect(server.requests("crl") == 1)
    #expect(server.requests(server.url("crl")) == 1)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  /// The README's time limit for CRL downloads. Breaking it would leave the download waiting
  /// for the silent server until the server gives up (30 seconds), and the error would name
  /// another reason than the time limit.
  @Test func aSilentDistributionPointTimesOut() throws {
    let server = try LoopbackHTTPServer()
    server.set("silent", .silent)
    var client = Self.loopback
    client.timeout = 1
    let error = try caught(OCSPClientError.self) { _ = try client.download(from: server.url("silent")) }
    #expect(error.reason == .timedOut, "\(error)")
    #expect(error.operation == "CRL download")
    #expect(server.requests("silent") == 1)
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
  }

  @Test func aHugeCRLIsRefusedAndTheLimitIsConfigurable() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    let limit = CRLClient().maximumSize
    #expect(limit == 10 * 1024 * 1024)
    // Streamed without a length: refused once the limit is crossed. With a length: refused
    // before the body is read.
    pki.server.set("streamed", .stream(count: limit + 1))
    pki.server.set("declared", .body([UInt8](repeating: 0x30, count: limit + 1)))
    for path in ["streamed", "declared"] {
      let error = try caught(OCSPClientError.self) { _ = try Self.loopback.download(from: pki.server.url(path)) }
      #expect(error.reason == .responseTooLarge, "\(path): \(error)")
    }
    let crl = try pki.crl().derEncoded
    pki.server.set("crl", .body(crl))
    var client = Self.loopback
    client.maximumSize = crl.count
    #expect(try client.download(from: pki.server.url("crl")).derEncoded == crl)
    client.maximumSize = crl.count - 1
    #expect(
      try caught(OCSPClientError.self) { _ = try client.download(from: pki.server.url("crl")) }.reason
        == .responseTooLarge)
  }

  // MARK: - The policy, per source

  @Test func aSoftFailSourceHandsOverToTheNextAndTheDiagnosisNamesEach() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    var policy = Self.crlPolicy()
    policy.staple = .use
    policy.fetch = OCSPClient(destinations: .allowingLoopback)
    policy.fetchURL = "http://127.0.0.1:\(try closedLoopbackPort())/ocsp"
    let report = try Self.check(pki, policy)
    #expect(report.source == .crl)
    #expect(report.attempts.map(\.source) == [.staple, .ocspFetch, .crl, .crl])
    #expect(report.attempts[0].failure == "the server stapled no OCSP response")
    #expect(report.attempts[1].failure?.contains("responder unreachable") == true, "\(report.attempts[1])")
    #expect(report.attempts[1].location == policy.fetchURL)
  }

  @Test func aHardFailSourceFailsAtOnceSayingWhatWasTried() throws {
    let pki = try CRLPKI(
      server: LoopbackHTTPServer(), leafPoints: ["http://127.0.0.1:\(try closedLoopbackPort())/x.crl"])
    try pki.serveGoodCRLs()
    var policy = Self.crlPolicy(hard: true)
    policy.fetch = OCSPClient(destinations: .allowingLoopback)
    policy.fetchURL = "http://127.0.0.1:\(try closedLoopbackPort())/ocsp"
    let error = try caught(OCSPError.self) { _ = try Self.check(pki, policy) }
    #expect(error.check == .notChecked)
    #expect(error.depth == 0)
    #expect(error.attempts.map(\.source) == [.ocspFetch, .crl])
    #expect(error.attempts.allSatisfy { $0.failure?.contains("unreachable") == true }, "\(error.attempts)")
    #expect(error.explanation.contains("Tried: ocsp_fetch"), "\(error)")
    // Soft-fail for the CRL too: the check passes, unchecked, with the same diagnosis.
    policy.whenUnavailable.crl = .softFail
    let report = try Self.check(pki, policy)
    #expect(report.source == nil)
    #expect(report.attempts.count == 3)
    // A hard-fail staple source without a staple fails before anything is fetched.
    let fetched = pki.server.requests("root.crl")
    var stapled = RevocationPolicy()
    stapled.whenUnavailable.staple = .hardFail
    stapled.crlFetch = Self.loopback
    let missing = try caught(OCSPError.self) { _ = try Self.check(pki, stapled) }
    #expect(missing.check == .notChecked)
    #expect(missing.attempts.map(\.source) == [.staple])
    #expect(pki.server.requests("root.crl") == fetched)
  }

  // MARK: - Interop: CRLs made by openssl ca -gencrl

  /// `openssl ca` over our intermediate: its database, its CRL number, its CRLs.
  struct OpenSSLCA {
    let directory: TemporaryDirectory
    let config: String

    init(ca: X509Certificate, key: PrivateKey) throws {
      directory = try TemporaryDirectory("openssl-ca")
      _ = try directory.write("ca.pem", ca.pemEncoded)
      _ = try directory.write("ca.key", try key.pemEncoded().withUnsafeBytes { Array($0) })
      _ = try directory.write("index.txt", "")
      _ = try directory.write("crlnumber", "01\n")
      config = try directory.write(
        "ca.cnf",
        """
        [ ca ]
        default_ca = CA_default
        [ CA_default ]
        dir = \(directory.path)
        database = $dir/index.txt
        crlnumber = $dir/crlnumber
        certificate = $dir/ca.pem
        private_key = $dir/ca.key
        default_md = sha256
        default_crl_days = 1
        crl_extensions = crl_ext
        [ crl_ext ]
        authorityKeyIdentifier = keyid:always

        """)
    }

    func run(_ arguments: [String]) throws {
      let result = try ChildProcess.run("openssl", ["ca", "-config", config, "-batch"] + arguments)
      #expect(result.status == 0, "openssl ca \(arguments): \(result.output)")
    }

    func revoke(_ certificate: X509Certificate, reason: String) throws {
      let path = try directory.write("revoke.pem", certificate.pemEncoded)
      try run(["-revoke", path, "-crl_reason", reason])
    }

    /// `openssl ca -gencrl`, valid for `hours`, in PEM.
    func generateCRL(hours: Int) throws -> [UInt8] {
      let path = directory.file("crl.pem")
      try run(["-gencrl", "-crlhours", String(hours), "-out", path])
      return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
  }

  @Test func aCertificateRevokedWithOpenSSLCAIsRefusedWithItsDateAndReason() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    let ca = try OpenSSLCA(ca: pki.intermediate, key: pki.intermediateKey)
    try ca.revoke(pki.leaf, reason: "keyCompromise")
    let revokedAround = Date()
    pki.server.set("intermediate.crl", .body(try ca.generateCRL(hours: 1), contentType: "application/x-pem-file"))
    let error = try caught(OCSPError.self) { _ = try Self.check(pki, Self.crlPolicy()) }
    #expect(error.check == .revoked)
    #expect(error.revocationReason == .keyCompromise)
    #expect(error.revocationTime.map { abs($0.timeIntervalSince(revokedAround)) < 300 } == true)
    #expect(error.explanation.contains("(reason: key compromise)"), "\(error)")
  }

  @Test func aCachedCRLPastItsNextUpdateIsFetchedAgain() throws {
    let pki = try CRLPKI(server: LoopbackHTTPServer())
    try pki.serveGoodCRLs()
    let ca = try OpenSSLCA(ca: pki.intermediate, key: pki.intermediateKey)
    pki.server.set("intermediate.crl", .body(try ca.generateCRL(hours: 1)))
    var policy = Self.crlPolicy()
    policy.cache = try RevocationCache()
    #expect(try Self.check(pki, policy).source == .crl)
    #expect(try Self.check(pki, policy).source == .crl)
    #expect(pki.server.requests("intermediate.crl") == 1)
    // Two hours on, the cached CRL is past its nextUpdate: fetched again, and the new one (valid
    // two days) is used.
    pki.server.set("intermediate.crl", .body(try ca.generateCRL(hours: 48)))
    policy.validation.time = Date(timeIntervalSinceNow: 7_200)
    let later = try Self.check(pki, policy)
    #expect(later.source == .crl)
    #expect(pki.server.requests("intermediate.crl") == 2)
    #expect(try Self.check(pki, policy).source == .crl)
    #expect(pki.server.requests("intermediate.crl") == 2)
  }
}

extension Date {
  /// The date in whole seconds, as ASN.1 times hold it.
  var rounded: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}
