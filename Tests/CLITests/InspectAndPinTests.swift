import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// `openssl-objects inspect` and `pin`, run as a user runs them (CLI.md).
@Suite("CLI: inspect and pin")
struct InspectAndPinTests {
  static let pki = Result { try TestPKI() }
  let tool = ChildProcess.product("openssl-objects")

  private func json(_ text: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any])
  }

  @Test func inspectShowsEverythingCLIMDPromisesForACertificate() throws {
    let pki = try Self.pki.get()
    let directory = try TemporaryDirectory()
    let path = try directory.write("leaf.pem", pki.leaf.pemEncoded)
    let result = try ChildProcess.run(tool, ["inspect", path])
    #expect(result.status == 0, "\(result.output)")
    for expected in [
      "subject: CN=www.example.test", "issuer: O=OpenSSLObjects Tests,CN=Test Intermediate CA",
      "serial: \(pki.leaf.serialNumber.hex)", "subject alt names: DNS:www.example.test",
      "key: EC 256 bits (prime256v1)",
      "key usage: digitalSignature, keyEncipherment", "extended key usage: serverAuth, clientAuth",
      "basic constraints: CA:FALSE", "must staple: no", "SHA-256 fingerprint: \(pki.leaf.sha256Fingerprint)",
      "SPKI pin: \(pki.leaf.spkiPin)",
    ] {
      #expect(result.stdout.contains(expected), "missing \(expected) in\n\(result.stdout)")
    }
  }

  @Test func inspectJSONIsOneObjectWithSnakeCaseKeys() throws {
    let pki = try Self.pki.get()
    let directory = try TemporaryDirectory()
    let bundle = try directory.write("bundle.pem", pki.leaf.pemEncoded + pki.intermediate.pemEncoded)
    let crl = try CRLBuilder(revoked: [
      RevokedCertificate(serialNumber: SerialNumber(9), revocationDate: Date(), reason: .superseded)
    ])
    .sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    let crlPath = try directory.write("ca.crl", crl.derEncoded)
    let result = try ChildProcess.run(tool, ["inspect", "--json", bundle, crlPath])
    #expect(result.status == 0, "\(result.output)")
    let document = try json(result.stdout)
    let files = try #require(document["files"] as? [[String: Any]])
    #expect(files.count == 2)
    let certificates = try #require(files[0]["objects"] as? [[String: Any]])
    #expect(certificates.count == 2)
    #expect(certificates[0]["type"] as? String == "certificate")
    #expect(certificates[0]["spki_pin"] as? String == pki.leaf.spkiPin)
    #expect(certificates[0]["not_after"] as? String == pki.leaf.notAfter.formatted(.iso8601))
    #expect((certificates[1]["basic_constraints"] as? [String: Any])?["path_length"] as? Int == 0)
    let crls = try #require(files[1]["objects"] as? [[String: Any]])
    #expect(crls[0]["type"] as? String == "crl")
    let revoked = try #require(crls[0]["revoked"] as? [[String: Any]])
    #expect(revoked.first?["reason"] as? String == "superseded")
  }

  @Test func keysAreShownWithoutSecretMaterial() throws {
    let pki = try Self.pki.get()
    let directory = try TemporaryDirectory()
    let plain = try pki.leafKey.pemEncoded().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    let keyPath = try directory.write("key.pem", plain)
    let passphrase = Passphrase(Array("cli pass".utf8))
    let encryptedPath = try directory.write(
      "key.enc.pem", try pki.leafKey.pemEncoded(passphrase: passphrase).withUnsafeBytes { Array($0) })
    let passFile = try directory.write("pass", "cli pass\n")
    let result = try ChildProcess.run(tool, ["inspect", keyPath, encryptedPath])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("private key"))
    #expect(result.stdout.contains("encrypted private key (PKCS#8)"))
    let secretLines = plain.split(separator: "\n").filter { !$0.hasPrefix("-----") }
    for line in secretLines { #expect(!result.output.contains(line)) }
    let unlocked = try ChildProcess.run(tool, ["inspect", "--json", "--passphrase-file", passFile, encryptedPath])
    #expect(unlocked.status == 0, "\(unlocked.output)")
    #expect(unlocked.stdout.contains("\"spki_pin\":\"\(try pki.leafKey.spkiPin)\""))
    #expect(!unlocked.output.contains("cli pass"))
  }

  @Test func pinPrintsOneLinePerCertificateOrKey() throws {
    let pki = try Self.pki.get()
    let directory = try TemporaryDirectory()
    let bundle = try directory.write("bundle.pem", pki.leaf.pemEncoded + pki.root.pemEncoded)
    let key = try directory.write("key.der", try pki.intermediateKey.derEncoded().withUnsafeBytes { Array($0) })
    let result = try ChildProcess.run(tool, ["pin", bundle, key])
    #expect(result.status == 0, "\(result.output)")
    // Several inputs or objects: each line says which file it came from.
    #expect(
      result.stdout
        == ["\(bundle): \(pki.leaf.spkiPin)", "\(bundle): \(pki.root.spkiPin)", "\(key): \(pki.intermediate.spkiPin)"]
        .joined(separator: "\n") + "\n")
    // One input with one object: the bare value.
    let single = try ChildProcess.run(tool, ["pin", key])
    #expect(single.stdout == pki.intermediate.spkiPin + "\n", "\(single.output)")
    let json = try ChildProcess.run(tool, ["pin", "--json", bundle])
    let pins = try #require(try self.json(json.stdout)["pins"] as? [[String: Any]])
    #expect(pins.map { $0["pin"] as? String } == [pki.leaf.spkiPin, pki.root.spkiPin])
  }

  @Test func unreadableInputAndBadUsageExitWithTwo() throws {
    let directory = try TemporaryDirectory()
    let missing = try ChildProcess.run(tool, ["inspect", directory.file("missing.pem")])
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("missing.pem"))
    let garbage = try directory.write("garbage.bin", "not a certificate at all")
    let bad = try ChildProcess.run(tool, ["inspect", "--json", garbage])
    #expect(bad.status == 2)
    let error = try #require(try json(bad.stdout)["error"] as? [String: Any])
    #expect(error["name"] as? String == "InputError.malformed_input")
    #expect((error["message"] as? String)?.contains("garbage.bin") == true)
    #expect(try ChildProcess.run(tool, ["inspect"]).status == 2)
    #expect(try ChildProcess.run(tool, ["no-such-command"]).status == 2)
    #expect(try ChildProcess.run(tool, ["pin", "--passphrase-file", "a", "--passphrase-stdin", garbage]).status == 2)
  }

  /// A certificate signing request made by `openssl req` for one of our keys, with two DNS names.
  private func request(in directory: TemporaryDirectory, key: PrivateKey) throws -> String {
    let keyPath = try directory.write("csr-key.pem", try key.pemEncoded().withUnsafeBytes { Array($0) })
    let out = directory.file("request.csr")
    let made = try ChildProcess.run(
      "openssl",
      [
        "req", "-new", "-key", keyPath, "-subj", "/CN=csr.example.test/O=Requester", "-addext",
        "subjectAltName=DNS:csr.example.test,DNS:www.csr.example.test", "-out", out,
      ])
    try #require(made.status == 0, "\(made.output)")
    return out
  }

  @Test func inspectAndPinShowWhatARequestAsksFor() throws {
    let pki = try Self.pki.get()
    let directory = try TemporaryDirectory()
    let csr = try request(in: directory, key: pki.leafKey)
    let text = try ChildProcess.run(tool, ["inspect", csr])
    #expect(text.status == 0, "\(text.output)")
    for expected in [
      "certificate request", "subject: O=Requester,CN=csr.example.test",
      "subject alt names: DNS:csr.example.test, DNS:www.csr.example.test", "key: EC 256 bits (prime256v1)",
      "signature: valid", "SPKI pin: \(try pki.leafKey.spkiPin)",
    ] {
      #expect(text.stdout.contains(expected), "missing \(expected) in\n\(text.stdout)")
    }
    let json = try ChildProcess.run(tool, ["inspect", "--json", csr])
    let object = try #require(
      ((try self.json(json.stdout)["files"] as? [[String: Any]])?.first?["objects"] as? [[String: Any]])?.first)
    #expect(object["type"] as? String == "certificate_request")
    #expect(object["subject_alt_names"] as? [String] == ["DNS:csr.example.test", "DNS:www.csr.example.test"])
    #expect(object["signature_valid"] as? Bool == true)
    let pin = try ChildProcess.run(tool, ["pin", csr])
    #expect(pin.stdout == (try pki.leafKey.spkiPin) + "\n", "\(pin.output)")
  }

  @Test func inspectAndPinShowThePartsOfAPKCS12File() throws {
    let pki = try Self.pki.get()
    let directory = try TemporaryDirectory()
    let bundle = PKCS12Bundle(certificate: pki.leaf, privateKey: pki.leafKey, chain: [pki.intermediate])
    let path = try directory.write(
      "bundle.p12", try bundle.derEncoded(passphrase: Passphrase(Array("p12 pass".utf8))))
    let passFile = try directory.write("pass", "p12 pass\n")
    // Without the passphrase: what it is and which flag opens it.
    let locked = try ChildProcess.run(tool, ["inspect", path])
    #expect(locked.status == 0, "\(locked.output)")
    #expect(locked.stdout.contains("encrypted PKCS#12 file"), "\(locked.stdout)")
    #expect(locked.stdout.contains("--passphrase-file"))
    let text = try ChildProcess.run(tool, ["inspect", path, "--passphrase-file", passFile])
    #expect(text.status == 0, "\(text.output)")
    for expected in [
      "PKCS#12 file", "certificate: CN=www.example.test", "private key: EC 256 bits (prime256v1)",
      "matches the certificate: yes", "chain [1]: O=OpenSSLObjects Tests,CN=Test Intermediate CA",
      "SPKI pin: \(pki.leaf.spkiPin)",
    ] {
      #expect(text.stdout.contains(expected), "missing \(expected) in\n\(text.stdout)")
    }
    #expect(!text.output.contains("p12 pass"))
    let json = try ChildProcess.run(tool, ["inspect", "--json", path, "--passphrase-file", passFile])
    let object = try #require(
      ((try self.json(json.stdout)["files"] as? [[String: Any]])?.first?["objects"] as? [[String: Any]])?.first)
    #expect(object["type"] as? String == "pkcs12")
    #expect((object["certificate"] as? [String: Any])?["spki_pin"] as? String == pki.leaf.spkiPin)
    #expect((object["chain"] as? [Any])?.count == 1)
    let pins = try ChildProcess.run(tool, ["pin", path, "--passphrase-file", passFile])
    #expect(
      pins.stdout
        == [
          "\(path): \(pki.leaf.spkiPin)", "\(path): \(try pki.leafKey.spkiPin)", "\(path): \(pki.intermediate.spkiPin)",
        ]
        .joined(separator: "\n") + "\n", "\(pins.output)")
    let wrong = try ChildProcess.run(
      tool, ["inspect", path, "--passphrase-file", try directory.write("wrong", "nope\n")])
    #expect(wrong.status == 1, "\(wrong.output)")
  }
}
