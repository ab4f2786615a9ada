import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Stapling against `openssl s_server -status_file` and `openssl s_client -status`, on 127.0.0.1
/// with free ports; every process is stopped by its test.
@Suite("OCSP stapling interop with openssl s_server and s_client")
struct OCSPInteropTests {
  enum Staple: String, CaseIterable, Sendable {
    case good, revoked, stale, wrongSigner, missing
  }

  private func bytes(_ staple: Staple, _ fixture: StaplingFixture) throws -> [UInt8]? {
    switch staple {
    case .good: try fixture.good()
    case .revoked: try fixture.revoked()
    case .stale: try fixture.stale()
    case .wrongSigner: try fixture.wrongSigner()
    case .missing: nil
    }
  }

  /// `openssl s_server` with the fixture's chain, stapling `staple` from a file.
  private func sServer(_ fixture: StaplingFixture, _ staple: [UInt8]?, _ files: PeerFiles) throws -> OpenSSLServer {
    var arguments = [
      "-cert", try files.certificates("server.pem", [fixture.pki.leaf]),
      "-key", try files.key("server.key", fixture.pki.leafKey),
      "-cert_chain", try files.certificates("chain.pem", [fixture.pki.intermediate]),
    ]
    if let staple { arguments += ["-status_file", try files.directory.write("staple.der", staple)] }
    return try OpenSSLServer(arguments)
  }

  @Test(arguments: Staple.allCases, [false, true])
  func ourClientAgainstSServer(staple: Staple, mustStaple: Bool) throws {
    let fixture = try StaplingFixture(mustStaple: mustStaple)
    let files = try PeerFiles()
    let server = try sServer(fixture, try bytes(staple, fixture), files)
    let client = try fixture.client()
    let outcome = Result {
      try withClientConnection(client, port: server.port, serverName: "www.example.test") { connection in
        try connection.handshake()
        _ = try? connection.shutdown()
        return connection.revocationReport
      }
    }
    switch (staple, outcome) {
    case (.good, .success(let report)):
      #expect(report?.source == .staple)
      #expect(report?.singleResponse?.status == .good)
    case (.missing, .success(let report)) where !mustStaple:
      #expect(report?.unchecked == ["staple: the server stapled no OCSP response"])
    case (_, .failure(let error as OCSPError)):
      let expected: [Staple: OCSPError.Check] = [
        .revoked: .revoked, .stale: .stale, .wrongSigner: .signerNotAuthorized, .missing: .missingStaple,
      ]
      #expect(error.check == expected[staple], "\(error)")
    default:
      Issue.record("\(staple), must-staple \(mustStaple): \(outcome)")
    }
  }

  @Test(arguments: [Staple.good, .revoked])
  func ourServerAgainstSClient(staple: Staple) throws {
    let fixture = try StaplingFixture()
    let files = try PeerFiles()
    let server = try LoopbackTLSServer(context: try fixture.server(.response(try bytes(staple, fixture)!)))
    let result = try runOpenSSLClient(
      port: server.port,
      [
        "-status", "-servername", "www.example.test", "-CAfile", try files.certificates("root.pem", [fixture.pki.root]),
      ])
    #expect(result.stdout.contains("OCSP Response Status: successful (0x0)"), "\(result.output)")
    #expect(result.stdout.contains("Cert Status: \(staple == .good ? "good" : "revoked")"), "\(result.output)")
    #expect(result.stdout.contains("Verify return code: 0 (ok)"))
    _ = server.wait(for: 1)

    // Without -status, the client asks for nothing and gets nothing.
    let quiet = try LoopbackTLSServer(context: try fixture.server(.response(try fixture.good())))
    let plain = try runOpenSSLClient(port: quiet.port, ["-servername", "www.example.test"])
    #expect(!plain.stdout.contains("OCSP Response Status"), "\(plain.output)")
    _ = quiet.wait(for: 1)
  }
}
