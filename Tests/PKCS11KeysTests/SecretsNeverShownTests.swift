import Foundation
import OpenSSLObjects
import PKCS11Keys
import TestSupport
import Testing

/// No PIN, passphrase or private key in an error, a description, a dump or a log line of the
/// library: each test takes an error path with known secrets and searches every rendering of what
/// came out (the CLI's side is in CLITests/SecretsNeverPrintedTests).
@Suite("Secrets: no PIN, passphrase or private key in the library's errors and descriptions")
struct SecretsNeverShownTests {
  static let pin = "PIN-Zq81-never-shown"
  static let passphrase = "Passphrase-Lm52-never-shown"

  /// Every way a value is turned into text: description, debug description, dump.
  func renderings(_ value: Any) -> String {
    var dumped = ""
    dump(value, to: &dumped)
    return "\(value)\n\(String(reflecting: value))\n\(dumped)"
  }

  var scan: SecretScan {
    var scan = SecretScan()
    scan.add("PIN", Self.pin)
    scan.add("passphrase", Self.passphrase)
    return scan
  }

  @Test func theScanFindsWhatItLooksFor() throws {
    var scan = self.scan
    let key = try PrivateKey(generating: .ec(.p256))
    try scan.add("key", key: key)
    #expect(scan.found(in: "login with \(Self.pin) failed") == ["PIN"])
    let pem = try key.pemEncoded().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    #expect(scan.found(in: pem).contains { $0.hasPrefix("key PEM line") })
    #expect(scan.found(in: "nothing secret here").isEmpty)
  }

  @Test(arguments: [
    "pkcs11:object=a?pin-value=\(pin)",
    "pkcs11:object=a?pin-value=\(pin)&pin-source=file:/etc/pin",
    "pkcs11:object=a^b?pin-value=\(pin)",
    "pkcs11:object=a?pin-value=\(pin)&bad attribute",
    "pkcs11:object=a?pin-value=\(pin)&pin-value=\(pin)",
    "pkcs11:object=a?pin-value=\(pin)%ZZ",
    "pkcs11:object=a?pin-value=\(pin)\0",
    "pkcs11:object=a;type=nothing?pin-value=\(pin)",
  ])
  func aURIWithAPINValueNeverShowsIt(text: String) {
    do {
      let uri = try PKCS11URI(parsing: text)
      #expect(scan.found(in: renderings(uri)).isEmpty, "\(renderings(uri))")
      #expect(scan.found(in: uri.formatted()).isEmpty)
      #expect(scan.found(in: renderings(uri.pinValue as Any)).isEmpty)
    } catch {
      #expect(scan.found(in: renderings(error)).isEmpty, "\(renderings(error))")
    }
  }

  @Test(
    .enabled(
      if: PKCS11Backend.libp11UsesThisOpenSSL,
      "libp11 links another libcrypto than this process (Debian's libp11 with OpenSSL 4.0): its backend is refused here"
    ))
  func aWrongPINNeverAppearsInTheLoginError() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    // A fresh process for the wrong PIN: libp11 0.4.12 answers a second login with success.
    let result = try ChildProcess.run(
      ChildProcess.product("oo-test-helper"),
      ["pkcs11-login", SoftHSMToken.modulePath, SoftHSMToken.label, try directory.write("pin", Self.pin)],
      environment: token.environment)
    #expect(result.stdout.contains("CKR_PIN_INCORRECT"), "\(result.output)")
    #expect(scan.found(in: result.output).isEmpty, "\(result.output)")
  }

  @Test func aPINValueURIThatLoadsNothingNeverShowsIt() throws {
    _ = try SoftHSMToken.shared.get()
    let module = SoftHSMToken.modulePath
    for text in [
      "pkcs11:token=no-such-token;object=x;type=private?module-path=\(module)&pin-value=\(Self.pin)",
      "pkcs11:token=\(SoftHSMToken.label);object=no-such-key;type=private?module-path=\(module)&pin-value=\(Self.pin)",
      "pkcs11:token=\(SoftHSMToken.label);object=ec-p256;type=private?module-path=/usr/lib/none.so&pin-value=\(Self.pin)",
    ] {
      do {
        // libp11 where it serves this OpenSSL: a pkcs11-provider login would stay in this
        // process's SoftHSM2 and be "other code's" to the libp11 suites (see TokenTLSTests).
        _ = try PrivateKey(
          pkcs11: text,
          options: PKCS11LoadOptions(
            modulePolicy: .allowAnyModule, backend: PKCS11Backend.libp11UsesThisOpenSSL ? .libp11 : .automatic))
        Issue.record("\(text) loaded")
      } catch {
        #expect(scan.found(in: renderings(error)).isEmpty, "\(renderings(error))")
      }
    }
  }

  @Test func wrongPassphrasesNeverAppearInErrors() throws {
    let key = try PrivateKey(generating: .ec(.p256))
    var scan = self.scan
    try scan.add("private key", key: key)
    let encrypted = try key.pemEncoded(passphrase: Passphrase(Array("the right one".utf8))).withUnsafeBytes {
      Array($0)
    }
    var errors: [any Error] = []
    do { _ = try PrivateKey(bytes: encrypted, passphrase: Passphrase(Array(Self.passphrase.utf8))) } catch {
      errors.append(error)
    }
    do { _ = try PrivateKey(bytes: encrypted) { Passphrase(Array(Self.passphrase.utf8)) } } catch {
      errors.append(error)
    }
    // A passphrase with a NUL byte, which OpenSSL cannot take as a C string.
    let withNUL = Array(Self.passphrase.utf8) + [0] + Array(Self.passphrase.utf8)
    do { _ = try PrivateKey(bytes: encrypted) { Passphrase(withNUL) } } catch { errors.append(error) }
    let bundle = try PKCS12Bundle(certificate: nil, privateKey: key).derEncoded(
      passphrase: Passphrase(Array("the right one".utf8)))
    do { _ = try PKCS12Bundle(derEncoded: bundle, passphrase: Passphrase(Array(Self.passphrase.utf8))) } catch {
      errors.append(error)
    }
    #expect(errors.count >= 3)
    for error in errors {
      #expect(scan.found(in: renderings(error)).isEmpty, "\(renderings(error))")
    }
  }

  @Test func keysAndSecretBuffersRenderWithoutTheirMaterial() throws {
    let key = try PrivateKey(generating: .ec(.p256))
    var scan = self.scan
    try scan.add("private key", key: key)
    #expect(scan.found(in: renderings(key)).isEmpty, "\(renderings(key))")
    #expect(scan.found(in: renderings(try key.publicKey)).isEmpty)
    // SecretBytes (PINs, passphrases, exported keys) is noncopyable and conforms to no printing
    // protocol: it cannot be interpolated, described or dumped at all.
  }

  /// A crash message is text the process prints as it dies: in the library's sources every
  /// `fatalError`, `precondition` and `preconditionFailure` message is a literal that
  /// interpolates no value, so none can carry a secret.
  @Test func noCrashMessageInTheLibraryInterpolatesAValue() throws {
    let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Sources")
    let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
      .filter { $0.hasSuffix(".swift") }
    #expect(files.count > 50)
    var offending: [String] = []
    for file in files {
      let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
      for line in text.split(separator: "\n")
      where line.contains("fatalError(") || line.contains("precondition(") || line.contains("preconditionFailure(") {
        if line.contains("\\(") { offending.append("\(file): \(line)") }
      }
    }
    #expect(offending.isEmpty, "\(offending)")
  }
}
