import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// CLI.md: a PIN or a passphrase is never printed, in text, JSON or errors, and neither is a
/// private key. Each test runs the command with known secrets, the right ones and wrong ones, and
/// searches everything it printed (standard output and standard error).
@Suite("Secrets: no PIN, passphrase or private key in anything the CLI prints")
struct SecretsNeverPrintedTests {
  let tool = ChildProcess.product("openssl-objects")
  static let passphrase = "Passphrase-7Q2v-never-printed"
  static let wrongPassphrase = "Wrong-Passphrase-4Kx8-never-printed"
  static let wrongPIN = "WrongPIN-9k3Z"

  /// Runs every command and records what each printed that it should not have.
  func leaks(
    _ runs: [(arguments: [String], stdin: String?)], scan: SecretScan, environment: [String: String] = [:]
  )
    throws -> [String]
  {
    var leaks: [String] = []
    for run in runs {
      let result = try ChildProcess.run(tool, run.arguments, environment: environment, stdin: run.stdin)
      let found = scan.found(in: result.output)
      if !found.isEmpty { leaks.append("\(run.arguments.joined(separator: " ")): \(found)") }
      // Every run ended in an exit status of CLI.md, not a crash.
      if ![0, 1, 2].contains(result.status) {
        leaks.append("\(run.arguments.joined(separator: " ")): exit \(result.status): \(result.output)")
      }
    }
    return leaks
  }

  @Test func passphrasesAndPrivateKeysAreNeverPrinted() throws {
    let directory = try TemporaryDirectory()
    let pki = try TestPKI(leafName: "localhost")
    let key = pki.leafKey
    let encrypted = try directory.write(
      "encrypted.pem",
      try key.pemEncoded(passphrase: Passphrase(Array(Self.passphrase.utf8))).withUnsafeBytes { Array($0) })
    let plain = try directory.write("plain.pem", try key.pemEncoded().withUnsafeBytes { Array($0) })
    let der = try directory.write("plain.der", try key.derEncoded().withUnsafeBytes { Array($0) })
    let traditional = try directory.write(
      "traditional.pem", try key.traditionalPEMEncoded().withUnsafeBytes { Array($0) })
    let certificate = try directory.write("cert.pem", pki.leaf.pemEncoded)
    let right = try directory.write("pass", Self.passphrase + "\n")
    let wrong = try directory.write("wrong", Self.wrongPassphrase + "\n")
    var scan = SecretScan()
    scan.add("passphrase", Self.passphrase)
    scan.add("wrong passphrase", Self.wrongPassphrase)
    try scan.add("private key", key: key)

    let runs: [(arguments: [String], stdin: String?)] = [
      (["inspect", encrypted, "--passphrase-file", right], nil),
      (["inspect", encrypted, "--passphrase-file", right, "--json"], nil),
      (["inspect", encrypted, "--passphrase-file", wrong], nil),
      (["inspect", encrypted, "--passphrase-file", wrong, "--json"], nil),
      (["inspect", encrypted, "--passphrase-stdin"], Self.passphrase + "\n"),
      (["inspect", encrypted, "--passphrase-stdin", "--json"], Self.wrongPassphrase + "\n"),
      (["inspect", encrypted], nil),
      (["inspect", plain, der, traditional, certificate], nil),
      (["inspect", plain, der, traditional, certificate, "--json"], nil),
      (["pin", plain, der, encrypted], nil),
      (["serve", "--port", "1", "--host", "127.0.0.1", "--cert", certificate, "--key", encrypted, "--once"], nil),
      (["connect", "127.0.0.1:1", "--cert", certificate, "--key", encrypted, "--json"], nil),
    ]
    let found = try leaks(runs, scan: scan)
    #expect(found.isEmpty, "\(found)")
  }

  @Test func pinsAreNeverPrinted() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let wrongPINFile = try directory.write("wrong-pin", Self.wrongPIN)
    let message = try directory.write("message", "sign me")
    let certificate = try directory.write("cert.pem", try TestPKI().leaf.pemEncoded)
    var scan = SecretScan()
    scan.add("wrong PIN", Self.wrongPIN)
    // The token's own PIN is short and made of digits: look for it as a whole word.
    scan.add("token PIN (as pin-value)", "pin-value=\(SoftHSMToken.pin)")
    scan.add("token PIN (quoted)", "\"\(SoftHSMToken.pin)\"")
    scan.add("token PIN (a line)", "\n\(SoftHSMToken.pin)\n")
    let module = SoftHSMToken.modulePath
    let base = "pkcs11:token=\(SoftHSMToken.label);object=ec-p256;type=private?module-path=\(module)"
    let runs: [(arguments: [String], stdin: String?)] = [
      (["pkcs11", "list", "--module", module, "--pin-source", wrongPINFile], nil),
      (["pkcs11", "list", "--module", module, "--pin-source", wrongPINFile, "--json"], nil),
      (["pkcs11", "list", "--module", module, "--pin-stdin"], Self.wrongPIN + "\n"),
      (["pkcs11", "list", "--module", module, "--pin-source", token.pinFile, "--json"], nil),
      (["pkcs11", "sign", "--key", "\(base)&pin-value=\(Self.wrongPIN)", "--in", message], nil),
      (["pkcs11", "sign", "--key", "\(base)&pin-value=\(Self.wrongPIN)", "--in", message, "--allow-pin-value"], nil),
      (
        [
          "pkcs11", "sign", "--key", "\(base)&pin-value=\(SoftHSMToken.pin)", "--in", message, "--allow-pin-value",
          "--out", directory.file("signature"),
        ], nil
      ),
      (["pkcs11", "sign", "--key", "\(base)&pin-source=file:\(wrongPINFile)", "--in", message], nil),
      (
        [
          "pkcs11", "sign", "--key", "pkcs11:object=nothing-here?module-path=\(module)&pin-value=\(Self.wrongPIN)",
          "--in", message, "--allow-pin-value",
        ], nil
      ),
      // Malformed URIs whose pin-value comes before and after the fault.
      (
        [
          "pkcs11", "sign", "--key", "pkcs11:object=a?pin-value=\(Self.wrongPIN)&pin-source=file:/x", "--in", message,
          "--allow-pin-value",
        ], nil
      ),
      (
        [
          "pkcs11", "sign", "--key", "pkcs11:object=a^b?pin-value=\(Self.wrongPIN)", "--in", message,
          "--allow-pin-value",
        ], nil
      ),
      (
        [
          "pkcs11", "sign", "--key", "pkcs11:object=a?pin-value=\(Self.wrongPIN)&bad attribute", "--in", message,
          "--allow-pin-value",
        ], nil
      ),
      (
        [
          "connect", "127.0.0.1:1", "--cert", certificate, "--key", "\(base)&pin-value=\(Self.wrongPIN)",
          "--allow-pin-value", "--json",
        ], nil
      ),
      (["connect", "127.0.0.1:1", "--cert", certificate, "--key", "\(base)&pin-value=\(Self.wrongPIN)"], nil),
    ]
    let found = try leaks(runs, scan: scan, environment: token.environment)
    #expect(found.isEmpty, "\(found)")
  }
}
