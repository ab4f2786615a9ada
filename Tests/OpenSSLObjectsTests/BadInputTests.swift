import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// One bad input a user can hand the library, and the typed error it must get.
///
/// docs/RELIABILITY.md lists every row by its `id`. A new kind of input adds its rows to
/// ``BadInput/rows``.
struct BadInput: Sendable, CustomTestStringConvertible {
  /// The typed error a row must get: an ``InputError`` with its reason, an ``OCSPError`` with its
  /// check, or an ``OCSPClientError`` with its reason.
  enum Expected: Sendable {
    case input(InputError.Reason)
    case ocsp(OCSPError.Check)
    case ocspClient(OCSPClientError.Reason)

    /// Whether `error` is the expected type with the expected reason; a text for the failure
    /// otherwise.
    func mismatch(_ error: any Error) -> String? {
      switch self {
      case .input(let reason):
        guard let error = error as? InputError else { return "not an InputError: \(type(of: error)) \(error)" }
        return error.reason == reason ? nil : "InputError \(error.reason), not \(reason): \(error)"
      case .ocsp(let check):
        guard let error = error as? OCSPError else { return "not an OCSPError: \(type(of: error)) \(error)" }
        return error.check == check ? nil : "OCSPError \(error.check), not \(check): \(error)"
      case .ocspClient(let reason):
        guard let error = error as? OCSPClientError else {
          return "not an OCSPClientError: \(type(of: error)) \(error)"
        }
        return error.reason == reason ? nil : "OCSPClientError \(error.reason), not \(reason): \(error)"
      }
    }
  }

  /// The row's name in docs/RELIABILITY.md.
  let id: String
  /// The error it must get.
  let expected: Expected
  /// Feeds the bad input to the library.
  let load: @Sendable (Fixtures) throws -> Void

  var testDescription: String { id }

  init(_ id: String, _ reason: InputError.Reason, _ load: @escaping @Sendable (Fixtures) throws -> Void) {
    self.init(id, expected: .input(reason), load)
  }

  init(_ id: String, _ check: OCSPError.Check, _ load: @escaping @Sendable (Fixtures) throws -> Void) {
    self.init(id, expected: .ocsp(check), load)
  }

  init(_ id: String, _ reason: OCSPClientError.Reason, _ load: @escaping @Sendable (Fixtures) throws -> Void) {
    self.init(id, expected: .ocspClient(reason), load)
  }

  init(_ id: String, expected: Expected, _ load: @escaping @Sendable (Fixtures) throws -> Void) {
    self.id = id
    self.expected = expected
    self.load = load
  }

  /// Good objects to break, made once.
  struct Fixtures: Sendable {
    /// The usual PKI (its leaf names an OCSP responder) and the OCSP responders around it.
    let ocsp: OCSPPKI
    var pki: TestPKI { ocsp.pki }
    let directory: TemporaryDirectory
    let certificateDER: [UInt8]
    let certificatePEM: String
    let keyDER: [UInt8]
    let keyPEM: [UInt8]
    let encryptedKeyPEM: [UInt8]
    let crlDER: [UInt8]

    /// Verifies the leaf with its intermediate against a store of the root under `policy`.
    func verifyLeaf(_ policy: VerificationPolicy) throws {
      let store = X509Store()
      try store.add(pki.root)
      _ = try store.verify(pki.leaf, untrusted: [pki.intermediate], policy: policy)
    }

    /// Validates `response` for the leaf as a client does, against a store of the root.
    func validateLeaf(
      _ response: OCSPResponse, request: OCSPRequest? = nil, options: OCSPValidationOptions = OCSPValidationOptions()
    ) throws {
      try response.basicResponse().validate(
        try ocsp.leafID(), store: try ocsp.store(), untrusted: [pki.intermediate], request: request, options: options)
    }

    static let shared = Result {
      let ocsp = try OCSPPKI()
      let pki = ocsp.pki
      let crl = try CRLBuilder().sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
      return Fixtures(
        ocsp: ocsp, directory: try TemporaryDirectory("bad-input"), certificateDER: pki.leaf.derEncoded,
        certificatePEM: pki.leaf.pemEncoded, keyDER: try pki.leafKey.derEncoded().withUnsafeBytes { Array($0) },
        keyPEM: try pki.leafKey.pemEncoded().withUnsafeBytes { Array($0) },
        encryptedKeyPEM: try pki.leafKey.pemEncoded(passphrase: Passphrase(Array("right".utf8))).withUnsafeBytes {
          Array($0)
        },
        crlDER: crl.derEncoded)
    }
  }

  static let rows: [BadInput] = certificateRows + keyRows + crlAndBundleRows + otherRows + ocspRows

  static let certificateRows: [BadInput] = [
    BadInput("certificate DER: empty", .empty) { _ in _ = try X509Certificate(derEncoded: [UInt8]()) },
    BadInput("certificate DER: truncated", .truncated) { f in
      _ = try X509Certificate(derEncoded: Array(f.certificateDER.prefix(100)))
    },
    BadInput("certificate DER: trailing bytes", .trailingData) { f in
      _ = try X509Certificate(derEncoded: f.certificateDER + [0, 0, 0])
    },
    BadInput("certificate DER: random bytes", .malformed) { _ in
      _ = try X509Certificate(derEncoded: [0x04, 0x03, 0xDE, 0xAD, 0xBE])
    },
    BadInput("certificate DER: a length of 4 GiB", .truncated) { _ in
      _ = try X509Certificate(derEncoded: [0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x30, 0x00])
    },
    BadInput("certificate DER: indefinite length", .malformed) { _ in
      _ = try X509Certificate(derEncoded: [0x30, 0x80, 0x30, 0x80, 0x00, 0x00, 0x00, 0x00])
    },
    BadInput("certificate DER: 10,000 nested SEQUENCEs", .malformed) { _ in
      _ = try X509Certificate(derEncoded: Array([[UInt8]](repeating: [0x30, 0x80], count: 10_000).joined()))
    },
    BadInput("certificate DER: a private key", .wrongType) { f in _ = try X509Certificate(derEncoded: f.keyDER) },
    BadInput("certificate DER: one byte changed in the TBS", .malformed) { f in
      var bytes = f.certificateDER
      bytes[5] = 0x02
      _ = try X509Certificate(derEncoded: bytes)
    },
    BadInput("certificate PEM: only a BEGIN line", .truncated) { _ in
      _ = try X509Certificate(pemEncoded: "-----BEGIN CERTIFICATE-----\nMIIB\n")
    },
    BadInput("certificate PEM: bad base64", .malformed) { _ in
      _ = try X509Certificate(pemEncoded: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
    },
    BadInput("certificate PEM: an empty block", .malformed) { _ in
      _ = try X509Certificate(pemEncoded: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    },
    BadInput("certificate PEM: a NUL byte in the base64", .truncated) { f in
      var text = Array(f.certificatePEM.utf8)
      text[40] = 0
      _ = try X509Certificate(pemEncoded: text)
    },
    BadInput("certificate PEM: a private key block", .wrongPEMLabel) { f in
      _ = try X509Certificate(pemEncoded: f.keyPEM)
    },
    BadInput("certificate PEM: mismatched END label", .malformed) { f in
      _ = try X509Certificate(
        pemEncoded: f.certificatePEM.replacingOccurrences(of: "END CERTIFICATE", with: "END X509 CRL"))
    },
    BadInput("certificate PEM: garbage after the block", .trailingData) { f in
      _ = try X509Certificate(pemEncoded: f.certificatePEM + "-----BEGIN")
    },
    BadInput("certificate PEM: two where one is expected", .multipleObjects) { f in
      _ = try X509Certificate(pemEncoded: f.certificatePEM + f.certificatePEM)
    },
    BadInput("certificate PEM bundle: no certificate in it", .wrongPEMLabel) { f in
      _ = try X509Certificate.all(bytes: f.keyPEM)
    },
    BadInput("certificate: larger than the limit", .tooLarge) { f in
      _ = try X509Certificate(bytes: f.certificateDER, limit: 100)
    },
    BadInput("certificate: text that is neither PEM nor DER", .malformed) { _ in
      _ = try X509Certificate(bytes: Array("hello, world".utf8))
    },
    BadInput("certificate file: missing", .unreadableFile) { f in
      _ = try X509Certificate(contentsOfFile: f.directory.file("missing.pem"))
    },
    BadInput("certificate file: a directory", .unreadableFile) { f in
      _ = try X509Certificate(contentsOfFile: f.directory.path)
    },
    BadInput("certificate file: empty", .empty) { f in
      _ = try X509Certificate(contentsOfFile: try f.directory.write("empty.pem", [UInt8]()))
    },
  ]

  static let keyRows: [BadInput] = [
    BadInput("private key: empty", .empty) { _ in _ = try PrivateKey(bytes: [UInt8]()) },
    BadInput("private key: random bytes", .malformed) { _ in _ = try PrivateKey(bytes: [0x30, 0x03, 0x02, 0x01, 0x07])
    },
    BadInput("private key DER: truncated", .truncated) { f in _ = try PrivateKey(bytes: Array(f.keyDER.prefix(30))) },
    BadInput("private key DER: trailing bytes", .trailingData) { f in _ = try PrivateKey(bytes: f.keyDER + [0, 0]) },
    BadInput("private key: a certificate", .wrongType) { f in _ = try PrivateKey(bytes: f.certificateDER) },
    BadInput("private key PEM: a certificate block", .wrongPEMLabel) { f in
      _ = try PrivateKey(bytes: Array(f.certificatePEM.utf8))
    },
    BadInput("private key PEM: bad base64", .malformed) { _ in
      _ = try PrivateKey(bytes: Array("-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n".utf8))
    },
    BadInput("encrypted private key: no passphrase", .passphraseRequired) { f in
      _ = try PrivateKey(bytes: f.encryptedKeyPEM)
    },
    BadInput("encrypted private key: wrong passphrase", .wrongPassphrase) { f in
      _ = try PrivateKey(bytes: f.encryptedKeyPEM, passphrase: Passphrase(Array("wrong".utf8)))
    },
    BadInput("encrypted private key: empty passphrase", .wrongPassphrase) { f in
      _ = try PrivateKey(bytes: f.encryptedKeyPEM, passphrase: Passphrase([]))
    },
    BadInput("encrypted private key: a passphrase closure answering nil", .passphraseRequired) { f in
      _ = try PrivateKey(bytes: f.encryptedKeyPEM) { nil }
    },
    BadInput("private key: larger than the limit", .tooLarge) { f in _ = try PrivateKey(bytes: f.keyDER, limit: 10) },
    BadInput("private key file: missing", .unreadableFile) { f in
      _ = try PrivateKey(contentsOfFile: f.directory.file("missing.key"))
    },
    BadInput("public key: a private key", .wrongPEMLabel) { f in _ = try PublicKey(bytes: f.keyPEM) },
    BadInput("public key: garbage", .malformed) { _ in _ = try PublicKey(bytes: [0xFF, 0x00, 0xFF]) },
    BadInput("key generation: RSA of 100 bits", .invalidArgument) { _ in
      _ = try PrivateKey(generating: .rsa(bits: 100))
    },
    BadInput("passphrase file: missing", .unreadableFile) { f in
      _ = try Passphrase.read(fromFile: f.directory.file("missing.pass"))
    },
  ]

  static let crlAndBundleRows: [BadInput] = [
    BadInput("CRL: empty", .empty) { _ in _ = try X509CRL(bytes: [UInt8]()) },
    BadInput("CRL DER: truncated", .truncated) { f in _ = try X509CRL(derEncoded: Array(f.crlDER.prefix(20))) },
    BadInput("CRL DER: trailing bytes", .trailingData) { f in _ = try X509CRL(derEncoded: f.crlDER + [1]) },
    BadInput("CRL: a certificate", .wrongType) { f in _ = try X509CRL(bytes: f.certificateDER) },
    BadInput("CRL PEM: a certificate block", .wrongPEMLabel) { f in _ = try X509CRL(pemEncoded: f.certificatePEM) },
    BadInput("CRL: random bytes", .malformed) { _ in _ = try X509CRL(bytes: [0x30, 0x03, 0x01, 0x01, 0xFF]) },
    BadInput("PKCS#12: random bytes", .malformed) { _ in
      _ = try PKCS12Bundle(derEncoded: [0x30, 0x03, 0x02, 0x01, 0x03], passphrase: Passphrase(Array("x".utf8)))
    },
    BadInput("PKCS#12: wrong passphrase", .wrongPassphrase) { f in
      let bundle = try PKCS12Bundle(certificate: f.pki.leaf, privateKey: f.pki.leafKey).derEncoded(
        passphrase: Passphrase(Array("right".utf8)))
      _ = try PKCS12Bundle(derEncoded: bundle, passphrase: Passphrase(Array("wrong".utf8)))
    },
    BadInput("objects of unknown kind: empty", .empty) { _ in _ = try DecodedObject.readAll(bytes: [UInt8]()) },
    BadInput("objects of unknown kind: DER of no known object", .malformed) { _ in
      _ = try DecodedObject.readAll(bytes: [0x30, 0x03, 0x02, 0x01, 0x05])
    },
  ]

  static let otherRows: [BadInput] = [
    BadInput("name: an unknown attribute", .invalidArgument) { _ in _ = try X509Name(["NOT-AN-ATTRIBUTE": "x"]) },
    BadInput("pins: not sha256/BASE64", .malformed) { _ in _ = try PinSet(["sha1/AAAA"]) },
    BadInput("pins: bad base64", .malformed) { _ in _ = try PinSet(["sha256/not base64!"]) },
    BadInput("trust store file: missing", .unreadableFile) { f in
      try X509Store().load(file: f.directory.file("missing.pem"))
    },
    BadInput("trust store directory: a file", .unreadableFile) { f in
      try X509Store().load(directory: try f.directory.write("file.pem", f.certificatePEM))
    },
    BadInput("trust store file: garbage", .malformed) { f in
      try X509Store().load(file: try f.directory.write("garbage.pem", "not a certificate\n"))
    },
    BadInput("TLS configuration: an unknown cipher", .invalidArgument) { _ in
      var configuration = TLSConfiguration.client
      configuration.cipherList = "NOT-A-CIPHER"
      _ = try SSLContext(configuration: configuration)
    },
    BadInput("TLS configuration: an unknown group", .invalidArgument) { _ in
      var configuration = TLSConfiguration.client
      configuration.groups = ["not-a-group"]
      _ = try SSLContext(configuration: configuration)
    },
    BadInput("TLS configuration: a key that is not the certificate's", .invalidArgument) { f in
      _ = try SSLContext(
        configuration: .server([CertificateChain(certificate: f.pki.leaf, privateKey: f.pki.rootKey)]))
    },
    BadInput("TLS connection: a server name with a NUL byte", .invalidArgument) { f in
      var configuration = TLSConfiguration.client
      configuration.trust = .certificates([f.pki.root])
      _ = try SSLContext(configuration: configuration).makeConnection(serverName: "www.example.test\0.evil")
    },
    BadInput("host check: a name with a NUL byte", .invalidArgument) { f in
      _ = try f.pki.leaf.matchesHost("www.example.test\0.evil")
    },
    BadInput("verification policy: a host name with a NUL byte", .invalidArgument) { f in
      try f.verifyLeaf(VerificationPolicy(host: "www.example.test\0.evil"))
    },
    BadInput("verification policy: an IP address with a NUL byte", .invalidArgument) { f in
      var policy = VerificationPolicy()
      policy.ipAddress = "127.0.0.1\0junk"
      try f.verifyLeaf(policy)
    },
    BadInput("verification policy: not an IP address", .invalidArgument) { f in
      var policy = VerificationPolicy()
      policy.ipAddress = "300.1.2.3"
      try f.verifyLeaf(policy)
    },
  ]
}

@Suite("Bad input everywhere: each gets its typed error, and nothing is left on OpenSSL's queue")
struct BadInputTests {
  @Test(arguments: BadInput.rows)
  func everyBadInputGetsItsTypedError(_ row: BadInput) throws {
    let fixtures = try BadInput.Fixtures.shared.get()
    ERR_clear_error()
    do {
      try row.load(fixtures)
      Issue.record("\(row.id): no error")
    } catch {
      if let mismatch = row.expected.mismatch(error) { Issue.record("\(row.id): \(mismatch)") }
      #expect(!"\(error)".isEmpty)
    }
    #expect(ERR_peek_error() == 0, "\(row.id) left an error on OpenSSL's queue")
  }

  @Test func everyRowHasItsOwnName() {
    #expect(Set(BadInput.rows.map(\.id)).count == BadInput.rows.count)
  }
}
