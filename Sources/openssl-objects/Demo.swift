import ArgumentParser
import Foundation
import OpenSSLObjects

/// `openssl-objects demo`: the tour of the library on this machine. For now: generate a CA and a
/// server key and certificate with the library's builders, write them to a temporary directory,
/// read them back and inspect them.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "A short tour of the library on real OpenSSL objects.")

  @Flag(help: "Print one JSON object instead of the transcript.")
  var json = false

  func run() throws {
    var steps: [JSON] = []
    func step(_ title: String, _ detail: String) {
      if !json { Output.line("==> \(title)\n    \(detail.replacingOccurrences(of: "\n", with: "\n    "))") }
      steps.append(.object([("step", .string(title)), ("detail", .string(detail))]))
    }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openssl-objects-demo-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }

    step("OpenSSL", "\(OpenSSLLibrary.versionText) (built against \(OpenSSLLibrary.compiledVersion))")

    let caKey = try PrivateKey(generating: .ec(.p256))
    var caBuilder = CertificateBuilder(subject: try X509Name(["CN": "OpenSSLObjects Demo CA", "O": "Demo"]))
    caBuilder.basicConstraints = BasicConstraints(isCA: true, pathLength: 0)
    caBuilder.keyUsage = [.keyCertSign, .cRLSign]
    let ca = try caBuilder.sign(with: caKey)
    step("Generated a CA", "\(caKey) -> \(ca.subject.rfc2253)")

    let serverKey = try PrivateKey(generating: .ec(.p256))
    var serverBuilder = CertificateBuilder(subject: try X509Name(["CN": "localhost"]))
    serverBuilder.publicKey = try serverKey.publicKey
    serverBuilder.subjectAlternativeNames = [.dnsName("localhost"), GeneralName.ipAddress("127.0.0.1")!]
    serverBuilder.keyUsage = [.digitalSignature]
    serverBuilder.extendedKeyUsage = [.serverAuth]
    serverBuilder.setAuthorityInformationAccess(ocsp: ["http://127.0.0.1:8888/"])
    serverBuilder.tlsFeatures = .mustStaple
    let server = try serverBuilder.sign(with: caKey, issuerCertificate: ca)
    step("Issued a must-staple server certificate", "\(server.subject.rfc2253), issued by \(server.issuer.rfc2253)")

    let passphrase = Passphrase((0..<24).map { _ in UInt8.random(in: 0x61...0x7A) })
    let certificatePath = directory.appendingPathComponent("server.pem").path
    let keyPath = directory.appendingPathComponent("server.key").path
    try Data(server.pemEncoded.utf8).write(to: URL(fileURLWithPath: certificatePath))
    let encrypted = try serverKey.pemEncoded(passphrase: passphrase)
    try encrypted.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: keyPath), options: .atomic) }
    step("Wrote the certificate and the key, encrypted (PKCS#8, AES-256)", "\(certificatePath)\n\(keyPath)")

    let reread = try X509Certificate(contentsOfFile: certificatePath)
    let key = try PrivateKey(contentsOfFile: keyPath, passphrase: passphrase)
    let signature = try key.signature(for: Array("hello".utf8))
    let valid = try reread.publicKey.isValidSignature(signature, for: Array("hello".utf8))
    step(
      "Read both back",
      "key matches certificate: \(key.matches(reread)); signature verifies with the certificate's key: \(valid)")

    let described = Describe.certificate(reread)
    step("Inspect", described.lines.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))
    step(
      "Host name checks by OpenSSL",
      "localhost: \(try reread.matchesHost("localhost")), example.com: \(try reread.matchesHost("example.com"))")

    if json {
      Output.line(JSON.object([("steps", .array(steps)), ("certificate", described.json)]).serialized())
    }
  }
}
