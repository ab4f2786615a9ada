import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// `openssl-objects pkcs11 list | sign` against a real SoftHSM2 token (CLI.md). Every test makes a
/// token of its own, which the child process sees through `SOFTHSM2_CONF`.
@Suite("CLI: pkcs11")
struct PKCS11CommandTests {
  let tool = ChildProcess.product("openssl-objects")
  let module = SoftHSMToken.modulePath

  private func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  private func run(_ token: SoftHSMToken, _ arguments: [String], stdin: String? = nil) throws -> ProcessResult {
    try ChildProcess.run(tool, arguments, environment: token.environment, stdin: stdin)
  }

  // MARK: - list

  @Test func listWithAPINShowsTheTokenItsFlagsAndEveryObject() throws {
    let token = try SoftHSMToken()
    let result = try run(token, ["pkcs11", "list", "--module", module, "--pin-source", token.pinFile])
    #expect(result.status == 0, "\(result.output)")
    for expected in [
      "token \"oo-test\": manufacturer SoftHSM project, model SoftHSM v2",
      "flags: initialized, login_required, user_pin_initialized", "logged in: yes",
      "private key \"rsa-2048\" id 01 (RSA 2048 bits)  pkcs11:token=oo-test;object=rsa-2048;id=%01;type=private",
      "private key \"ec-generated\" id 03 (EC 256 bits)", "public key \"ec-p256\" id 02 (EC 256 bits)",
      "certificate \"ec-p256\" id 02 (EC 256 bits)",
    ] {
      #expect(result.stdout.contains(expected), "missing \(expected) in\n\(result.stdout)")
    }
    #expect(!result.output.contains(SoftHSMToken.pin))
  }

  @Test func listJSONWithoutAPINShowsPublicObjectsAndEveryFlag() throws {
    let token = try SoftHSMToken()
    let result = try run(token, ["pkcs11", "list", "--module", module, "--json"])
    #expect(result.status == 0, "\(result.output)")
    let document = try json(result.stdout)
    let moduleInfo = try #require(document["module"] as? [String: Any])
    #expect((moduleInfo["path"] as? String)?.hasSuffix("libsofthsm2.so") == true)
    #expect(moduleInfo["manufacturer"] as? String == "SoftHSM")
    let slots = try #require(document["slots"] as? [[String: Any]])
    let tokenInfo = try #require(
      slots.compactMap { $0["token"] as? [String: Any] }.first { $0["label"] as? String == "oo-test" })
    #expect(tokenInfo["logged_in"] as? Bool == false)
    let flags = try #require(tokenInfo["flags"] as? [String: Bool])
    #expect(flags["login_required"] == true)
    #expect(flags["user_pin_count_low"] == false)
    #expect(flags["user_pin_final_try"] == false)
    let objects = try #require(tokenInfo["objects"] as? [[String: Any]])
    #expect(Set(objects.compactMap { $0["class"] as? String }) == ["public_key", "certificate"])
    let certificate = try #require(
      objects.first { $0["class"] as? String == "certificate" && $0["id"] as? String == "01" })
    #expect(certificate["label"] as? String == "rsa-2048")
    #expect(certificate["key_type"] as? String == "RSA")
    #expect(certificate["key_bits"] as? Int == 2048)
    // Usable as it is: with the module's path.
    #expect(
      certificate["uri"] as? String
        == "pkcs11:token=oo-test;object=rsa-2048;id=%01;type=cert?module-path=\(module)")
  }

  @Test func listReadsThePINFromStandardInput() throws {
    let token = try SoftHSMToken()
    let result = try run(token, ["pkcs11", "list", "--module", module, "--pin-stdin"], stdin: SoftHSMToken.pin + "\n")
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("private key \"ec-always-auth\" id 04"))
  }

  @Test func listWithAWrongPINFailsWithTheCKRNameAndNeverPrintsThePIN() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let pinFile = try directory.write("pin", "987654")
    let result = try run(token, ["pkcs11", "list", "--module", module, "--pin-source", pinFile])
    // A wrong PIN is a check that said no (1), not bad usage (2).
    #expect(result.status == 1)
    #expect(result.stderr.contains("CKR_PIN_INCORRECT"), "\(result.output)")
    #expect(result.stderr.contains("token \"oo-test\""))
    #expect(!result.output.contains("987654"))
  }

  @Test func listOfAMissingModuleFailsWithExitTwoAndAJSONError() throws {
    let token = try SoftHSMToken()
    let result = try run(token, ["pkcs11", "list", "--module", "/nonexistent/module.so", "--json"])
    #expect(result.status == 2)
    #expect(result.stderr.contains("module not found"))
    let error = try #require(try json(result.stdout)["error"] as? [String: Any])
    #expect(error["name"] as? String == "PKCS11Error")
    #expect((error["message"] as? String)?.contains("/nonexistent/module.so") == true)
  }

  // MARK: - sign

  @Test(arguments: [("rsa-2048", "sha256", "pkcs1"), ("rsa-2048", "sha512", "pss"), ("ec-p256", "sha384", "pkcs1")])
  func signWithAFullURIMakesASignatureThePublicKeyVerifies(label: String, digest: String, padding: String) throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let input = try directory.write("data", "data to sign on the token\n")
    let output = directory.file("signature")
    let result = try run(
      token,
      [
        "pkcs11", "sign", "--key", token.uri(object: label), "--in", input, "--digest", digest, "--padding", padding,
        "--out", output,
      ])
    #expect(result.status == 0, "\(result.output)")
    let signature = try Array(Data(contentsOf: URL(fileURLWithPath: output)))
    let publicKey = try PublicKey(contentsOfFile: token.publicKeyFile(label))
    let chosen: Digest = digest == "sha256" ? .sha256 : digest == "sha384" ? .sha384 : .sha512
    #expect(
      try publicKey.isValidSignature(
        signature, for: Array("data to sign on the token\n".utf8), digest: chosen,
        padding: padding == "pss" ? .pss : .pkcs1v15))
  }

  @Test func signReadsStandardInputWithTheModuleAndPINGivenAsOptions() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let output = directory.file("signature")
    let result = try run(
      token,
      [
        "pkcs11", "sign", "--key", "pkcs11:token=oo-test;object=ec-p256;type=private", "--module", module,
        "--pin-source", token.pinFile, "--out", output,
      ], stdin: "from stdin")
    #expect(result.status == 0, "\(result.output)")
    let signature = try Array(Data(contentsOf: URL(fileURLWithPath: output)))
    let publicKey = try PublicKey(contentsOfFile: token.publicKeyFile("ec-p256"))
    #expect(try publicKey.isValidSignature(signature, for: Array("from stdin".utf8)))
  }

  @Test func signTakesThePINFromStandardInput() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let input = try directory.write("data", "x")
    let output = directory.file("signature")
    let result = try run(
      token,
      [
        "pkcs11", "sign", "--key", token.uri(object: "ec-p256", pin: false), "--pin-stdin", "--in", input, "--out",
        output,
      ],
      stdin: SoftHSMToken.pin)
    #expect(result.status == 0, "\(result.output)")
    let usage = try run(token, ["pkcs11", "sign", "--key", token.uri(object: "ec-p256", pin: false), "--pin-stdin"])
    #expect(usage.status == 2)
    #expect(usage.stderr.contains("--in"))
  }

  @Test func pinValueOnTheCommandLineIsRefusedUnlessAllowed() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let input = try directory.write("data", "x")
    let output = directory.file("signature")
    let uri =
      "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(module)&pin-value=\(SoftHSMToken.pin)"
    let refused = try run(token, ["pkcs11", "sign", "--key", uri, "--in", input, "--out", output])
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("pin-source"))
    #expect(refused.stderr.contains("--pin-stdin"))
    #expect(!refused.output.contains(SoftHSMToken.pin))
    #expect(!FileManager.default.fileExists(atPath: output))
    let allowed = try run(token, ["pkcs11", "sign", "--key", uri, "--allow-pin-value", "--in", input, "--out", output])
    #expect(allowed.status == 0, "\(allowed.output)")
    #expect(FileManager.default.fileExists(atPath: output))
  }

  @Test func signWithAURIThatMatchesNothingListsTheObjects() throws {
    let token = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let input = try directory.write("data", "x")
    let result = try run(token, ["pkcs11", "sign", "--key", token.uri(object: "missing"), "--in", input])
    #expect(result.status == 2)
    #expect(result.stderr.contains("nothing matched"))
    #expect(result.stderr.contains("\"ec-generated\""))
    let malformed = try run(token, ["pkcs11", "sign", "--key", "pkcs11:object=a b", "--in", input])
    #expect(malformed.status == 2)
    #expect(malformed.stderr.contains("at byte 15"))
  }
}
