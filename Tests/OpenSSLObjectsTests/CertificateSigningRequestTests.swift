import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// `CertificateSigningRequest` (`X509_REQ`), read from requests `openssl req` made for our keys.
@Suite("Certificate signing requests")
struct CertificateSigningRequestTests {
  /// A request for `key` with `subject` and, if given, a subjectAltName extension.
  private func request(key: PrivateKey, subject: String, altNames: String?) throws -> [UInt8] {
    let directory = try TemporaryDirectory()
    let keyPath = try directory.write("key.pem", try key.pemEncoded().withUnsafeBytes { Array($0) })
    let out = directory.file("request.der")
    var arguments = ["req", "-new", "-key", keyPath, "-subj", subject, "-outform", "DER", "-out", out]
    if let altNames { arguments += ["-addext", "subjectAltName=\(altNames)"] }
    let made = try ChildProcess.run("openssl", arguments)
    try #require(made.status == 0, "\(made.output)")
    return try Array(Data(contentsOf: URL(fileURLWithPath: out)))
  }

  @Test func aRequestShowsItsSubjectNamesAndKey() throws {
    let key = try PrivateKey(generating: .ec(.p256))
    let der = try request(key: key, subject: "/CN=csr.example.test", altNames: "DNS:csr.example.test,IP:192.0.2.1")
    let request = try CertificateSigningRequest(derEncoded: der)
    #expect(request.subject.rfc2253 == "CN=csr.example.test")
    #expect(try request.subjectAlternativeNames == [.dnsName("csr.example.test"), .ipAddress([192, 0, 2, 1])])
    #expect(try request.publicKey == (try key.publicKey))
    #expect(request.isSignatureValid)
    #expect(request.derEncoded == der)
    #expect(try CertificateSigningRequest.all(bytes: der).count == 1)
    // A copy is its own X509_REQ with the same contents.
    #expect(try request.copy().derEncoded == der)
  }

  @Test func aRequestWithoutExtensionsHasNoNames() throws {
    let der = try request(key: try PrivateKey(generating: .ec(.p256)), subject: "/CN=plain", altNames: nil)
    #expect(try CertificateSigningRequest(derEncoded: der).subjectAlternativeNames == nil)
  }

  @Test func aTamperedRequestsSignatureDoesNotVerify() throws {
    var der = try request(key: try PrivateKey(generating: .ec(.p256)), subject: "/CN=tampered", altNames: nil)
    // The subject's last letter, inside the signed part.
    let name = Array("tampered".utf8)
    let start = try #require((0...(der.count - name.count)).first { Array(der[$0..<($0 + name.count)]) == name })
    der[start + name.count - 1] = UInt8(ascii: "e")
    let request = try CertificateSigningRequest(derEncoded: der)
    #expect(request.subject.rfc2253 == "CN=tamperee")
    #expect(!request.isSignatureValid)
  }

  @Test func badInputGetsTypedErrors() throws {
    #expect(throws: InputError.self) { try CertificateSigningRequest(derEncoded: [UInt8]()) }
    #expect(throws: InputError.self) { try CertificateSigningRequest(derEncoded: [0x30, 0x03, 0x02, 0x01]) }
    let certificate = try TestPKI().leaf
    let wrong = try #require(throws: InputError.self) {
      try CertificateSigningRequest(derEncoded: certificate.derEncoded)
    }
    #expect(wrong.reason == .wrongType, "\(wrong)")
    let pem = try #require(throws: InputError.self) {
      try CertificateSigningRequest(pemEncoded: certificate.pemEncoded)
    }
    #expect(String(describing: pem).contains("certificate request"), "\(pem)")
  }
}
