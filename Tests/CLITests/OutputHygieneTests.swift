import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// CLI.md: in text, every string that came from a certificate, a peer or a URL is escaped (no raw
/// control byte reaches the terminal); in JSON, values are exact, with JSON's own escapes.
@Suite("CLI: output hygiene")
struct OutputHygieneTests {
  let tool = ChildProcess.product("openssl-objects")

  /// ESC, BEL, CR, LF, DEL, a C1 control (CSI), a right-to-left override and a line separator,
  /// as a certificate could carry them.
  static let hostile = "\u{1B}[2J\u{07}\r\nINJECTED\u{7F}\u{9B}31m\u{202E}txt.exe\u{2028}"

  /// Characters that must never reach a terminal raw (the output's own newlines aside): C0 and C1
  /// controls, DEL, line and paragraph separators and bidirectional controls (CLI.md).
  private func rawControls(_ text: String) -> [UInt32] {
    text.unicodeScalars.map(\.value).filter {
      ($0 < 0x20 && $0 != 0x0A) || (0x7F...0x9F).contains($0) || [0x2028, 0x2029, 0x200E, 0x200F, 0x061C].contains($0)
        || (0x202A...0x202E).contains($0) || (0x2066...0x2069).contains($0)
    }
  }

  /// A certificate whose OCSP URL, CA-issuer URL and DNS name carry control characters (the DNS
  /// name a NUL byte inside).
  private func hostileCertificate() throws -> (TestPKI, X509Certificate) {
    let pki = try TestPKI()
    var builder = try TestPKI.leafBuilder(name: "www.example.test", key: pki.leafKey)
    builder.subjectAlternativeNames = [.dnsName("good.example\u{0}.evil.example"), .dnsName("bell\u{07}.example")]
    builder.setAuthorityInformationAccess(
      ocsp: ["http://127.0.0.1:1/\(Self.hostile)"], caIssuers: ["http://ca.example/\u{1B}]0;title\u{07}"])
    return (pki, try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate))
  }

  @Test func inspectEscapesTextAndKeepsJSONExact() throws {
    let (_, certificate) = try hostileCertificate()
    let directory = try TemporaryDirectory()
    let path = try directory.write("hostile.pem", certificate.pemEncoded)
    let text = try ChildProcess.run(tool, ["inspect", path])
    #expect(text.status == 0, "\(text.output)")
    #expect(
      rawControls(text.stdout).isEmpty, "raw controls \(rawControls(text.stdout)) in \(text.stdout.debugDescription)")
    #expect(!text.stdout.contains("\nINJECTED"), "a URL's LF started a line of its own")
    #expect(
      text.stdout.contains("\\x1B[2J\\x07\\r\\nINJECTED\\x7F\\u{9B}31m\\u{202E}txt.exe\\u{2028}"), "\(text.stdout)")
    #expect(text.stdout.contains("DNS:good.example\\x00.evil.example"), "\(text.stdout)")

    let json = try ChildProcess.run(tool, ["inspect", "--json", path])
    #expect(json.status == 0, "\(json.output)")
    #expect(rawControls(json.stdout).isEmpty)
    // JSON's own escapes: a NUL is \u0000, never the text \x00.
    #expect(json.stdout.contains("DNS:good.example\\u0000.evil.example"), "\(json.stdout)")
    #expect(!json.stdout.contains("\\\\x00"), "\(json.stdout)")
    let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let object = try #require(
      ((document["files"] as? [[String: Any]])?.first?["objects"] as? [[String: Any]])?.first)
    #expect(
      object["subject_alt_names"] as? [String] == ["DNS:good.example\u{0}.evil.example", "DNS:bell\u{07}.example"])
    #expect(object["ocsp_urls"] as? [String] == ["http://127.0.0.1:1/\(Self.hostile)"])
  }

  @Test func anErrorQuotingAURLCarriesNoRawControls() throws {
    let (pki, certificate) = try hostileCertificate()
    let directory = try TemporaryDirectory()
    let leaf = try directory.write("hostile.pem", certificate.pemEncoded)
    let issuer = try directory.write("issuer.pem", pki.intermediate.pemEncoded)
    let result = try ChildProcess.run(
      tool, ["ocsp", "fetch", "--cert", leaf, "--issuer", issuer, "--timeout", "1"])
    #expect(result.status != 0, "\(result.output)")
    #expect(!result.stderr.isEmpty)
    #expect(rawControls(result.stderr).isEmpty, "\(result.stderr.debugDescription)")
    #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr.debugDescription)")
  }

  @Test func aPeersAnswerAndNamesAreEscaped() throws {
    // A server whose answer is hostile text: connect shows it escaped, and exactly in JSON.
    let pki = try TestPKI(leafName: "localhost")
    let files = try PeerFiles()
    let reply = "hello\u{1B}]0;owned\u{07}\r\nfake line"
    let arguments = [
      "serve", "--port", "0", "--once", "--cert", try files.certificates("server.pem", [pki.leaf, pki.intermediate]),
      "--key", try files.key("server.key", pki.leafKey), "--reply", reply,
    ]
    for asJSON in [false, true] {
      let server = try RunningProcess(tool, arguments)
      guard server.wait(for: "listening on"), let match = server.text.firstMatch(of: /127\.0\.0\.1:(\d+)/) else {
        Issue.record("serve did not start: \(server.text)")
        return
      }
      let result = try ChildProcess.run(
        tool,
        [
          "connect", "localhost:\(match.1)", "--trusted", try files.certificates("root.pem", [pki.root]), "--send",
          "hi",
        ]
          + (asJSON ? ["--json"] : []))
      #expect(result.status == 0, "\(result.output)")
      #expect(rawControls(result.stdout).isEmpty, "\(result.stdout.debugDescription)")
      if asJSON {
        let document = try #require(
          try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(document["received"] as? String == reply)
      } else {
        #expect(result.stdout.contains("received: hello\\x1B]0;owned\\x07\\r\\nfake line"), "\(result.stdout)")
      }
      _ = server.waitForExit()
    }
  }

  /// What a token says (its label, an object's label) is the token's, not ours: escaped in text,
  /// exact in JSON. Breaking it would put the label's ESC, BEL and override raw on the terminal.
  @Test(.needsLibP11) func aTokensAndItsObjectsLabelsAreEscaped() throws {
    let directory = try TemporaryDirectory("oo-hostile-token")
    let tokens = directory.file("tokens")
    try FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: true)
    let configuration = try directory.write(
      "softhsm2.conf", "directories.tokendir = \(tokens)\nobjectstore.backend = file\nlog.level = ERROR\n")
    let environment = ["SOFTHSM2_CONF": configuration]
    let tokenLabel = "t\u{1B}]0;x\u{07}\u{202E}k"
    let objectLabel = "key\u{1B}[2J\r\nfake"
    let key = try directory.write(
      "key.pem", try PrivateKey(generating: .ec(.p256)).pemEncoded().withUnsafeBytes { Array($0) })
    let made = try ChildProcess.run(
      "softhsm2-util",
      ["--init-token", "--free", "--label", tokenLabel, "--so-pin", "12345678", "--pin", "123456"],
      environment: environment)
    try #require(made.status == 0, "\(made.output)")
    let imported = try ChildProcess.run(
      "softhsm2-util",
      ["--import", key, "--token", tokenLabel, "--label", objectLabel, "--id", "01", "--pin", "123456"],
      environment: environment)
    try #require(imported.status == 0, "\(imported.output)")
    let pin = try directory.write("pin", "123456")
    let list = ["pkcs11", "list", "--module", SoftHSMToken.modulePath, "--pin-source", pin]

    let text = try ChildProcess.run(tool, list, environment: environment)
    #expect(text.status == 0, "\(text.output)")
    #expect(rawControls(text.stdout).isEmpty, "\(text.stdout.debugDescription)")
    #expect(text.stdout.contains("token \"t\\x1B]0;x\\x07\\u{202E}k\""), "\(text.stdout)")
    #expect(text.stdout.contains("key\\x1B[2J\\r\\nfake"), "\(text.stdout)")
    #expect(!text.stdout.contains("\nfake"))

    let json = try ChildProcess.run(tool, list + ["--json"], environment: environment)
    #expect(json.status == 0, "\(json.output)")
    #expect(rawControls(json.stdout).isEmpty, "\(json.stdout.debugDescription)")
    let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let token = try #require(
      (document["slots"] as? [[String: Any]])?.compactMap { $0["token"] as? [String: Any] }.first {
        $0["label"] as? String == tokenLabel
      },
      "\(json.stdout)")
    let labels = (token["objects"] as? [[String: Any]])?.compactMap { $0["label"] as? String } ?? []
    #expect(labels.contains(objectLabel), "\(labels)")
  }
}
