import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// ML-DSA keys, certificates and CRLs, and the ML-KEM hybrid groups in TLS, on OpenSSL 3.5 and
/// newer (scripts/matrix.sh runs them there); on older OpenSSL, the typed error naming 3.5.
@Suite("Post-quantum: ML-DSA keys, certificates and CRLs; ML-KEM hybrid groups")
struct PostQuantumTests {
  static let reason: Comment =
    "ML-DSA and ML-KEM need OpenSSL 3.5 or newer; scripts/matrix.sh runs these tests on 3.5 and 4.0"

  private static let sets: [PrivateKey.MLDSAParameterSet] = [.mlDSA44, .mlDSA65, .mlDSA87]

  @Test(.enabled(if: OpenSSLLibrary.hasPostQuantum, reason), arguments: sets)
  func mlDSAKeysSignVerifyExportAndLoad(set: PrivateKey.MLDSAParameterSet) throws {
    let key = try PrivateKey(generating: .mlDSA(set))
    #expect(key.algorithm.name == set.rawValue)
    let message = Array("a post-quantum signature".utf8)
    let signature = try key.signature(for: message)
    let publicKey = try key.publicKey
    #expect(try publicKey.isValidSignature(signature, for: message))
    #expect(try !publicKey.isValidSignature(signature, for: message + [0]))
    // A digest makes no sense for ML-DSA: a typed error, not a silent choice.
    #expect(throws: InputError.self) { try key.signature(for: message, digest: .sha256) }
    let reloaded = try PrivateKey(secret: try key.pemEncoded())
    #expect(reloaded.hasSamePublicKey(as: key))
    let fromDER = try PrivateKey(secret: try key.derEncoded())
    #expect(try publicKey.isValidSignature(try fromDER.signature(for: message), for: message))
    #expect(try PublicKey(pemEncoded: try key.publicKeyPEM).hasSamePublicKey(as: key))
  }

  @Test(.enabled(if: OpenSSLLibrary.hasPostQuantum, reason))
  func mlDSACertificatesAndCRLsVerifyHereAndWithTheOpenSSLCommand() throws {
    let pki = try TestPKI(keyType: .mlDSA(.mlDSA65))
    #expect(try pki.leaf.publicKey.algorithm == .mlDSA65)
    let store = X509Store()
    try store.add(pki.root)
    let verified = try store.verify(pki.leaf, untrusted: [pki.intermediate])
    #expect(verified.certificates.count == 3)

    var builder = CRLBuilder(revoked: [RevokedCertificate(serialNumber: pki.leaf.serialNumber, revocationDate: Date())])
    builder.nextUpdate = Date(timeIntervalSinceNow: 86_400)
    let crl = try builder.sign(with: pki.intermediateKey, issuerCertificate: pki.intermediate)
    let files = try PeerFiles()
    let crlPath = files.directory.file("ml-dsa.crl")
    try Data(crl.pemEncoded.utf8).write(to: URL(fileURLWithPath: crlPath))
    let checked = try ChildProcess.run(
      "openssl", ["crl", "-in", crlPath, "-noout", "-CAfile", try files.certificates("ca.pem", [pki.intermediate])])
    #expect(checked.status == 0)
    #expect(checked.stderr.contains("verify OK") || checked.stdout.contains("verify OK"))
    let chain = try ChildProcess.run(
      "openssl",
      [
        "verify", "-CAfile", try files.certificates("root.pem", [pki.root]), "-untrusted",
        try files.certificates("intermediate.pem", [pki.intermediate]), try files.certificates("leaf.pem", [pki.leaf]),
      ])
    #expect(chain.status == 0)
  }

  @Test(.enabled(if: OpenSSLLibrary.hasPostQuantum, reason), arguments: ["X25519MLKEM768", "MLKEM768"])
  func hybridAndPureMLKEMGroupsBetweenOurClientAndServer(group: String) async throws {
    let fixture = try TLSFixture(keyType: .mlDSA(.mlDSA44))
    let (client, server) = try await fixture.connect(
      client: try fixture.client { $0.groups = [group] }, server: try fixture.server { $0.groups = [group, "X25519"] })
    #expect(client.group == group)
    #expect(server.group == group)
    #expect(client.version == .tls13)
  }

  @Test(.enabled(if: OpenSSLLibrary.hasPostQuantum, reason))
  func ourClientAgainstSServerWithX25519MLKEM768() throws {
    let fixture = try TLSFixture(keyType: .mlDSA(.mlDSA65))
    let files = try PeerFiles()
    let server = try OpenSSLServer([
      "-cert", try files.certificates("server.pem", [fixture.pki.leaf]),
      "-key", try files.key("server.key", fixture.pki.leafKey),
      "-cert_chain", try files.certificates("chain.pem", [fixture.pki.intermediate]),
      "-groups", "X25519MLKEM768", "-tls1_3",
    ])
    defer { server.process.stop() }
    let connection = try withClientConnection(
      try fixture.client { $0.groups = ["X25519MLKEM768"] }, port: server.port, serverName: "www.example.test"
    ) {
      try $0.handshake()
      try $0.shutdown()
      return $0
    }
    #expect(connection.group == "X25519MLKEM768")
    #expect(connection.verifiedChain.count == 3)
  }

  @Test(.enabled(if: OpenSSLLibrary.hasPostQuantum, reason))
  func sClientAgainstOurServerWithX25519MLKEM768() throws {
    let fixture = try TLSFixture(keyType: .mlDSA(.mlDSA65))
    let files = try PeerFiles()
    let server = try LoopbackTLSServer(context: try fixture.server { $0.groups = ["X25519MLKEM768"] })
    let result = try runOpenSSLClient(
      port: server.port,
      [
        "-groups", "X25519MLKEM768", "-CAfile", try files.certificates("root.pem", [fixture.pki.root]),
        "-servername", "www.example.test", "-verify_return_error",
      ])
    #expect(result.stdout.contains("Verify return code: 0 (ok)"))
    #expect(result.stdout.contains("X25519MLKEM768"))
    #expect(server.wait(for: 1).count == 1)
  }

  // MARK: Before OpenSSL 3.5

  @Test(.disabled(if: OpenSSLLibrary.hasPostQuantum, "this OpenSSL has ML-DSA and ML-KEM; the tests above run"))
  func beforeOpenSSL35EachIsATypedErrorNamingTheVersion() throws {
    for set in Self.sets {
      do {
        _ = try PrivateKey(generating: .mlDSA(set))
        Issue.record("\(set) generated on OpenSSL \(OpenSSLLibrary.runtimeVersion)")
      } catch {
        #expect(error.reason == .requiresNewerOpenSSL)
        #expect(error.requiredVersion == OpenSSLLibrary.postQuantumMinimumVersion)
        #expect(error.description.contains("OpenSSL 3.5"))
      }
    }
    for group in ["X25519MLKEM768", "MLKEM768", "SecP256r1MLKEM768"] {
      var configuration = TLSConfiguration.client
      configuration.groups = [group]
      do {
        _ = try SSLContext(configuration: configuration)
        Issue.record("\(group) accepted on OpenSSL \(OpenSSLLibrary.runtimeVersion)")
      } catch let error as InputError {
        #expect(error.reason == .requiresNewerOpenSSL)
        #expect(error.description.contains("OpenSSL 3.5"))
      }
    }
  }
}
