import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Servers that staple garbage, over real sockets on 127.0.0.1: our own server (which staples any
/// bytes it is given) and `openssl s_server -status_file` (which staples any response that
/// parses). Each process and thread is stopped by its test.
@Suite("Faults: staples that are garbage, truncated, corrupt or about another certificate")
struct StapleFaultTests {
  enum Damage: String, CaseIterable, Sendable {
    /// Bytes that are not DER at all.
    case garbage
    /// The first half of a good response.
    case truncated
    /// A good response with a byte after it.
    case trailingByte
    /// A good response (signed without its signer's certificate, so the signature is the last
    /// field) with the signature's last byte flipped.
    case corruptSignature
    /// A well-signed response about the intermediate, not the leaf.
    case anotherCertificate

    /// What our client's check says of it.
    var check: OCSPError.Check {
      switch self {
      case .garbage, .truncated, .trailingByte: .notBasicResponse
      case .corruptSignature: .signature
      case .anotherCertificate: .certificateNotInResponse
      }
    }

    /// Whether `openssl s_server` can staple it (it parses the file; what does not parse it
    /// answers with a fatal alert instead).
    var parses: Bool { self == .corruptSignature || self == .anotherCertificate }

    /// Whether a server can send it as it is. From OpenSSL 3.6 on (TLS 1.3 multi-stapling) a server
    /// parses the response and matches it to its certificate before sending it: what does not
    /// parse ends the handshake on the server, a response about another certificate is not sent,
    /// and a response followed by a byte is sent re-encoded, without the byte. Only a corrupt
    /// signature still reaches a client as it was given.
    var reachesTheClient: Bool { !serversCheckTheirStaples || self == .corruptSignature }

    func bytes(_ fixture: StaplingFixture) throws -> [UInt8] {
      switch self {
      case .garbage:
        return (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 17) }
      case .truncated:
        let good = try fixture.good()
        return Array(good.prefix(good.count / 2))
      case .trailingByte:
        return try fixture.good() + [0]
      case .corruptSignature:
        var bytes = try fixture.ocsp.response { $0.includeSignerCertificate = false }.derEncoded
        bytes[bytes.count - 1] ^= 0x01
        return bytes
      case .anotherCertificate:
        let pki = fixture.pki
        var builder = OCSPResponseBuilder()
        builder.add(
          try OCSPCertID(certificate: pki.intermediate, issuer: pki.root), status: .good,
          thisUpdate: Date(timeIntervalSinceNow: -60), nextUpdate: Date(timeIntervalSinceNow: 86_400))
        return try builder.sign(with: pki.rootKey, signer: pki.root).derEncoded
      }
    }
  }

  /// Our client, with the default revocation policy (staples asked for and checked), against the
  /// server on `port`: the OCSP error its handshake throws.
  private func stapleError(_ fixture: StaplingFixture, port: Int) throws -> OCSPError {
    ERR_clear_error()
    let error = try caught(OCSPError.self) {
      try withClientConnection(try fixture.client(), port: port, serverName: "www.example.test") {
        _ = try $0.handshake()
      }
    }
    #expect(ERR_peek_error() == 0, "the failed handshake left an error on OpenSSL's queue")
    return error
  }

  /// A client that does not ask for staples connects to the same server: the failure was the
  /// staple's alone.
  private func connectsWithoutRevocation(_ fixture: StaplingFixture, port: Int) throws {
    let client = try fixture.client { $0.revocation = .disabled }
    let report = try withClientConnection(client, port: port, serverName: "www.example.test") { connection in
      try connection.handshake()
      _ = try? connection.shutdown()
      return connection.revocationReport
    }
    #expect(report == nil)
  }

  @Test(arguments: Damage.allCases.filter(\.reachesTheClient))
  func ourServerStaplingItFailsTheClientWithItsCheck(damage: Damage) throws {
    let fixture = try StaplingFixture()
    let server = try LoopbackTLSServer(
      context: try fixture.server(.response(try damage.bytes(fixture))), connections: 2)
    let error = try stapleError(fixture, port: server.port)
    #expect(error.check == damage.check, "\(error)")
    #expect(!error.explanation.isEmpty)
    try connectsWithoutRevocation(fixture, port: server.port)
    let outcomes = server.wait(for: 2)
    #expect(outcomes.count == 2)
    // The server saw the client abort the first handshake, and served the second.
    if case .success = outcomes.first { Issue.record("the server's first handshake succeeded") }
    if case .failure(let failure) = outcomes.last { Issue.record("the second connection failed: \(failure)") }
  }

  @Test(arguments: Damage.allCases.filter { $0.parses && $0.reachesTheClient })
  func sServerStaplingItFailsTheClientWithItsCheck(damage: Damage) throws {
    let fixture = try StaplingFixture()
    let files = try PeerFiles()
    let server = try OpenSSLServer([
      "-cert", try files.certificates("server.pem", [fixture.pki.leaf]),
      "-key", try files.key("server.key", fixture.pki.leafKey),
      "-cert_chain", try files.certificates("chain.pem", [fixture.pki.intermediate]),
      "-status_file", try files.directory.write("staple.der", try damage.bytes(fixture)),
    ])
    let error = try stapleError(fixture, port: server.port)
    #expect(error.check == damage.check, "\(error)")
    try connectsWithoutRevocation(fixture, port: server.port)
  }

  @Test(
    .enabled(if: serversCheckTheirStaples, "before OpenSSL 3.6 a server staples any bytes: the tests above get them"),
    arguments: Damage.allCases.filter { !$0.reachesTheClient })
  func fromOpenSSL36AServerSendsOnlyStaplesThatParseAndAreAboutItsCertificate(damage: Damage) throws {
    let fixture = try StaplingFixture()
    let bytes = try damage.bytes(fixture)
    let server = try LoopbackTLSServer(context: try fixture.server(.response(bytes)))
    var received: [UInt8]? = nil
    do {
      received = try withClientConnection(try fixture.client(), port: server.port, serverName: "www.example.test") {
        try $0.handshake()
        return $0.ocspStapleBytes
      }
    } catch is OCSPError {
      Issue.record("the client received the damaged staple and checked it")
    } catch {
      // The server ended the handshake: its own check refused the staple.
    }
    if damage == .trailingByte {
      // Sent as the server re-encoded it: the good response, without the byte.
      #expect(received == Array(bytes.dropLast()))
    } else {
      #expect(received == nil, "the client received a staple the server should not have sent")
    }
    #expect(server.wait(for: 1).count == 1)
  }
}

/// Whether this OpenSSL's servers check a staple before sending it (3.6 and later).
let serversCheckTheirStaples =
  OpenSSLLibrary.runtimeVersion.major > 3
  || (OpenSSLLibrary.runtimeVersion.major == 3 && OpenSSLLibrary.runtimeVersion.minor >= 6)
