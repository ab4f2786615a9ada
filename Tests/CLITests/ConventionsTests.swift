import Foundation
import OpenSSLObjects
import PKCS11Keys
import TestSupport
import Testing

/// CLI.md's conventions, run as a user runs the command: `--version`, help, one error prefix,
/// exit statuses, messages in the command line's terms, `--spki-pin`.
@Suite("CLI: conventions")
struct ConventionsTests {
  let tool = ChildProcess.product("openssl-objects")

  private func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  @Test func versionNamesTheToolAndTheOpenSSLItRunsWith() throws {
    let result = try ChildProcess.run(tool, ["--version"])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.hasPrefix("openssl-objects 0.1.0 "), "\(result.output)")
    #expect(result.stdout.contains("OpenSSL \(OpenSSLLibrary.runtimeVersion)"), "\(result.output)")
  }

  @Test func noSubcommandPrintsTheHelpAndExitsWithTwo() throws {
    let result = try ChildProcess.run(tool, [])
    #expect(result.status == 2, "\(result.output)")
    #expect(result.stderr.contains("USAGE: openssl-objects <subcommand>"), "\(result.output)")
    #expect(result.stderr.contains("verify"))
    #expect(result.stdout.isEmpty)
  }

  @Test func everyErrorHasTheOnePrefix() throws {
    let directory = try TemporaryDirectory()
    let pki = try TestPKI()
    let leaf = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    let root = try directory.write("root.pem", pki.root.pemEncoded)
    let failures = [
      try ChildProcess.run(tool, ["connect", "no-port"]),  // ArgumentParser's validation
      try ChildProcess.run(tool, ["inspect", directory.file("missing.pem")]),  // unreadable input
      try ChildProcess.run(tool, ["verify", leaf, "--trusted", root]),  // the check said no
      try ChildProcess.run(tool, ["no-such-command"]),
      try ChildProcess.run(tool, ["verify", leaf, "--spki-pin", "sha256/short"]),
    ]
    for result in failures {
      #expect(result.status != 0)
      #expect(result.stderr.hasPrefix("error: "), "\(result.stderr)")
      #expect(!result.stderr.contains("Error:"), "\(result.stderr)")
    }
  }

  @Test func spkiPinWithPinAsAHiddenAlias() throws {
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let leaf = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    let chain = try directory.write("chain.pem", pki.intermediate.pemEncoded)
    let root = try directory.write("root.pem", pki.root.pemEncoded)
    let base = ["verify", leaf, "--untrusted", chain, "--trusted", root]
    #expect(try ChildProcess.run(tool, base + ["--spki-pin", pki.root.spkiPin]).status == 0)
    #expect(try ChildProcess.run(tool, base + ["--pin", pki.root.spkiPin]).status == 0)
    let wrong = try ChildProcess.run(tool, base + ["--spki-pin", try TestPKI().root.spkiPin])
    #expect(wrong.status == 1)
    #expect(wrong.stderr.contains("No key of the verified chain matches a pin"), "\(wrong.output)")
    for command in ["verify", "connect"] {
      let help = try ChildProcess.run(tool, [command, "--help"]).stdout
      #expect(help.contains("--spki-pin"))
      #expect(!help.contains("--pin <"), "\(help)")
    }
  }

  // MARK: - Exit statuses

  @Test func aRefusedPeerExitsWithOneAndSaysSo() throws {
    let port = try LoopbackSocket.freePort()  // bound and closed again: nothing listens there
    let result = try ChildProcess.run(tool, ["connect", "127.0.0.1:\(port)", "--json"])
    #expect(result.status == 1, "\(result.output)")
    let document = try json(result.stdout)
    #expect(document["connected"] as? Bool == false)
    let error = try #require(document["error"] as? [String: Any])
    #expect((error["message"] as? String)?.contains("Connection refused") == true, "\(result.output)")
    #expect(result.stderr.hasPrefix("error: 127.0.0.1:\(port): cannot connect"), "\(result.stderr)")
  }

  @Test func aWrongPassphraseExitsWithOneAndAnUnreadableFileWithTwo() throws {
    let pki = try TestPKI(leafName: "localhost")
    let directory = try TemporaryDirectory()
    let encrypted = try directory.write(
      "key.pem", try pki.leafKey.pemEncoded(passphrase: Passphrase(Array("right".utf8))).withUnsafeBytes { Array($0) })
    let wrong = try directory.write("wrong", "wrong\n")
    let inspect = try ChildProcess.run(tool, ["inspect", encrypted, "--passphrase-file", wrong])
    #expect(inspect.status == 1, "\(inspect.output)")
    // The message names the file, not "memory".
    #expect(inspect.stderr.contains("key.pem"), "\(inspect.stderr)")
    #expect(!inspect.stderr.contains("memory"), "\(inspect.stderr)")
    let cert = try directory.write("cert.pem", pki.leaf.pemEncoded)
    let serve = try ChildProcess.run(
      tool, ["serve", "--port", "0", "--cert", cert, "--key", encrypted, "--passphrase-file", wrong])
    #expect(serve.status == 1, "\(serve.output)")
    #expect(serve.stderr.hasPrefix("error: --key \(encrypted): "), "\(serve.stderr)")
    let missing = try ChildProcess.run(tool, ["inspect", directory.file("missing.pem")])
    #expect(missing.status == 2)
  }

  @Test func aWrongPINExitsWithOne() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let wrong = try directory.write("pin", "000000\n")
    let input = try directory.write("data", "data")
    let result = try ChildProcess.run(
      tool,
      ["pkcs11", "sign", "--key", token.uri(object: "ec-p256", pin: false), "--pin-source", wrong, "--in", input],
      environment: token.environment)
    #expect(result.status == 1, "\(result.output)")
    // libp11 names the token's return value; pkcs11-provider (OpenSSL 4.0) reports none.
    let refusal = PKCS11Backend.libp11UsesThisOpenSSL ? "CKR_PIN_INCORRECT" : "login failed: the token refused the PIN"
    #expect(result.stderr.contains(refusal), "\(result.output)")
  }

  // MARK: - Messages in the command line's terms

  @Test func messagesNameFlagsAndFilesNotSwiftAPI() throws {
    let token = try SoftHSMToken()
    let pki = try TestPKI(leafName: "localhost")
    let directory = try TemporaryDirectory()
    let input = try directory.write("data", "data")
    // A URI without a module.
    let noModule = try ChildProcess.run(
      tool, ["pkcs11", "sign", "--key", "pkcs11:token=oo-test;object=ec-p256;type=private", "--in", input],
      environment: token.environment)
    #expect(noModule.status == 2)
    #expect(noModule.stderr.contains("module-path="), "\(noModule.stderr)")
    // A token key without a PIN.
    let noPIN = try ChildProcess.run(
      tool, ["pkcs11", "sign", "--key", token.uri(object: "ec-p256", pin: false), "--in", input],
      environment: token.environment)
    #expect(noPIN.status == 2)
    #expect(noPIN.stderr.contains("--pin-source FILE or --pin-stdin"), "\(noPIN.stderr)")
    // A key that is not the certificate's.
    let cert = try directory.write("cert.pem", pki.leaf.pemEncoded)
    let otherKey = try directory.write(
      "other.pem", try PrivateKey(generating: .ec(.p256)).pemEncoded().withUnsafeBytes { Array($0) })
    let mismatch = try ChildProcess.run(tool, ["serve", "--port", "0", "--cert", cert, "--key", otherKey])
    #expect(mismatch.status == 2)
    #expect(mismatch.stderr.contains("--key \(otherKey) is not the key of the certificate in --cert \(cert)"))
    for result in [noModule, noPIN, mismatch] {
      for api in ["PKCS11LoadOptions", "SSL_CTX_use_cert_and_key", "memory ("] {
        #expect(!result.stderr.contains(api), "\(result.stderr)")
      }
    }
  }

  @Test(.needsLibP11) func aURIFromPKCS11ListCanBePastedIntoKey() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let list = try ChildProcess.run(
      tool, ["pkcs11", "list", "--module", SoftHSMToken.modulePath, "--pin-source", token.pinFile, "--json"],
      environment: token.environment)
    #expect(list.status == 0, "\(list.output)")
    let slots = try #require(try json(list.stdout)["slots"] as? [[String: Any]])
    let objects = slots.compactMap { ($0["token"] as? [String: Any])?["objects"] as? [[String: Any]] }.joined()
    let uri = try #require(
      objects.first { $0["class"] as? String == "private_key" && $0["label"] as? String == "ec-p256" }?["uri"]
        as? String)
    let input = try directory.write("data", "data")
    let signed = try ChildProcess.run(
      tool,
      [
        "pkcs11", "sign", "--key", uri, "--pin-source", token.pinFile, "--in", input, "--out",
        directory.file("sig"),
      ],
      environment: token.environment)
    #expect(signed.status == 0, "\(signed.output)")
    let signature = try Array(Data(contentsOf: URL(fileURLWithPath: directory.file("sig"))))
    let publicKey = try PublicKey(contentsOfFile: token.publicKeyFile("ec-p256"))
    #expect(try publicKey.isValidSignature(signature, for: Array("data".utf8)))
  }
}
