import Foundation
import OpenSSLObjects
import PKCS11Keys
import TestSupport
import Testing

/// Keys on a SoftHSM2 token as the keys of TLS contexts: server and client side, checked by
/// `openssl s_client` and `s_server`.
@Suite("PKCS#11 keys in TLS")
struct TokenTLSTests {
  /// libp11 wherever it serves this OpenSSL, as the other in-process token suites: SoftHSM2's
  /// login state belongs to the process, and a login pkcs11-provider made would be "other code's"
  /// to the libp11 backend. The provider's TLS runs in a child process
  /// (`PKCS11ProviderBackendTests`), and here where libp11 cannot (OpenSSL 4.0).
  let options = PKCS11LoadOptions(
    modulePolicy: .allowList([SoftHSMToken.modulePath]),
    backend: .libp11WhereUsable)

  /// A certificate from a test CA for the public key of a token key.
  private func certificate(for label: String, name: String, pki: TestPKI) throws -> X509Certificate {
    let token = try SoftHSMToken.shared.get()
    var builder = try TestPKI.leafBuilder(name: name, key: pki.leafKey)
    builder.publicKey = try PublicKey(contentsOfFile: token.publicKeyFile(label))
    return try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
  }

  @Test(arguments: [("ec-p256", TLSVersion.tls13), ("ec-p256", .tls12), ("rsa-2048", .tls13), ("rsa-2048", .tls12)])
  func sClientCompletesAHandshakeWithATokenKey(label: String, version: TLSVersion) throws {
    let token = try SoftHSMToken.shared.get()
    let pki = try TestPKI()
    let key = try PrivateKey(pkcs11: token.uri(object: label), options: options)
    let leaf = try certificate(for: label, name: "www.example.test", pki: pki)
    #expect(key.matches(leaf))
    let context = try SSLContext(
      configuration: .server([CertificateChain(certificate: leaf, chain: [pki.intermediate], privateKey: key)]))
    let server = try LoopbackTLSServer(context: context) { "\($0.version!)" }
    let files = try PeerFiles()
    let result = try runOpenSSLClient(
      port: server.port,
      [
        "-CAfile", try files.certificates("root.pem", [pki.root]), "-verify_return_error", "-servername",
        "www.example.test", version == .tls13 ? "-tls1_3" : "-tls1_2",
      ])
    #expect(result.stdout.contains("Verify return code: 0 (ok)"), "\(result.output)")
    #expect(try server.wait(for: 1).first?.get() == version.description)
  }

  @Test func mutualTLSWithTheClientKeyOnTheToken() throws {
    let token = try SoftHSMToken.shared.get()
    let serverPKI = try TestPKI()
    let clientPKI = try TestPKI(leafName: "client.example.test")
    let key = try PrivateKey(pkcs11: token.uri(object: "ec-generated"), options: options)
    var builder = try TestPKI.leafBuilder(name: "client.example.test", key: clientPKI.leafKey)
    builder.publicKey = try key.publicKey
    let clientCertificate = try builder.sign(with: clientPKI.intermediateKey, issuerCertificate: clientPKI.intermediate)
    let files = try PeerFiles()
    let server = try OpenSSLServer([
      "-cert", try files.certificates("server.pem", [serverPKI.leaf]), "-key",
      try files.key("server.key", serverPKI.leafKey),
      "-cert_chain", try files.certificates("chain.pem", [serverPKI.intermediate]),
      "-Verify", "2", "-verify_return_error", "-CAfile", try files.certificates("client-root.pem", [clientPKI.root]),
    ])
    var configuration = TLSConfiguration.client
    configuration.trust = .certificates([serverPKI.root])
    configuration.certificateChains = [
      CertificateChain(certificate: clientCertificate, chain: [clientPKI.intermediate], privateKey: key)
    ]
    let context = try SSLContext(configuration: configuration)
    try withClientConnection(context, port: server.port, serverName: "www.example.test") { connection in
      try connection.handshake()
      try connection.write(Array("from the token\n".utf8))
    }
    #expect(server.process.wait(for: "from the token"), "\(server.output)")
    #expect(server.output.contains("client.example.test"))
  }
}
