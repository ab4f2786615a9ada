import COpenSSLFull
import Foundation
import OpenSSLObjects
import TestSupport
import Testing

@Suite("Keys: generation, signatures, loading and exporting")
struct KeyTests {
  static let ecKey = Result { try PrivateKey(generating: .ec(.p256)) }
  static let rsaKey = Result { try PrivateKey(generating: .rsa(bits: 2048)) }

  private func secretText(_ secret: borrowing SecretBytes) -> String {
    secret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
  }

  private func secretArray(_ secret: borrowing SecretBytes) -> [UInt8] {
    secret.withUnsafeBytes { Array($0) }
  }

  private func inputError(_ body: () throws -> Void) -> InputError? {
    do {
      try body()
      return nil
    } catch let error as InputError {
      return error
    } catch {
      Issue.record("unexpected \(error)")
      return nil
    }
  }

  // MARK: Generation and signatures

  @Test(arguments: [
    (PrivateKey.KeyType.ec(.p256), "EC", 256), (.ec(.p384), "EC", 384), (.ec(.p521), "EC", 521),
    (.ed25519, "ED25519", 256), (.ed448, "ED448", 456),
  ])
  func generatedKeysHaveTheirAlgorithmAndSize(type: PrivateKey.KeyType, algorithm: String, bits: Int) throws {
    let key = try PrivateKey(generating: type)
    #expect(key.algorithm.name == algorithm)
    #expect(key.bits == bits)
    #expect(key.securityBits >= 112)
  }

  @Test func rsaKeysHaveTheirSize() throws {
    let key = try Self.rsaKey.get()
    #expect(key.algorithm == .rsa)
    #expect(key.bits == 2048)
    #expect(key.securityBits == 112)
    #expect(key.curveName == nil)
    #expect(try Self.ecKey.get().curveName == "prime256v1")
  }

  @Test func impossibleSizesAreRefused() throws {
    #expect(inputError { _ = try PrivateKey(generating: .rsa(bits: 128)) }?.reason == .invalidArgument)
  }

  @Test(arguments: [
    ("ECDSA P-256", PrivateKey.KeyType.ec(.p256), Digest?.none, RSAPadding.pkcs1v15),
    ("ECDSA P-384 SHA-384", .ec(.p384), .sha384, .pkcs1v15),
    ("Ed25519", .ed25519, nil, .pkcs1v15),
    ("Ed448", .ed448, nil, .pkcs1v15),
  ])
  func signaturesVerify(name: String, type: PrivateKey.KeyType, digest: Digest?, padding: RSAPadding) throws {
    let key = try PrivateKey(generating: type)
    try checkSignature(key, digest: digest, padding: padding)
  }

  @Test(arguments: [RSAPadding.pkcs1v15, .pss])
  func rsaSignaturesVerify(padding: RSAPadding) throws {
    try checkSignature(try Self.rsaKey.get(), digest: .sha256, padding: padding)
    try checkSignature(try Self.rsaKey.get(), digest: .sha512, padding: padding)
  }

  private func checkSignature(_ key: PrivateKey, digest: Digest?, padding: RSAPadding) throws {
    let message = Array("the message".utf8)
    let signature = try key.signature(for: message, digest: digest, padding: padding)
    let publicKey = try key.publicKey
    #expect(try publicKey.isValidSignature(signature, for: message, digest: digest, padding: padding))
    #expect(
      try !publicKey.isValidSignature(signature, for: Array("another message".utf8), digest: digest, padding: padding))
    var tampered = signature
    tampered[tampered.count / 2] ^= 0x01
    #expect(try !publicKey.isValidSignature(tampered, for: message, digest: digest, padding: padding))
    let other = try PrivateKey(generating: .ec(.p256)).publicKey
    if other.algorithm == publicKey.algorithm {
      #expect(try !other.isValidSignature(signature, for: message, digest: digest, padding: padding))
    }
  }

  @Test func pssSignaturesDoNotVerifyAsPKCS1() throws {
    let key = try Self.rsaKey.get()
    let signature = try key.signature(for: [1, 2, 3], padding: .pss)
    #expect(try !key.publicKey.isValidSignature(signature, for: [1, 2, 3], padding: .pkcs1v15))
  }

  @Test func optionsThatDoNotFitTheKeyAreErrors() throws {
    let ed = try PrivateKey(generating: .ed25519)
    #expect(inputError { _ = try ed.signature(for: [1], digest: .sha256) }?.reason == .invalidArgument)
    #expect(inputError { _ = try Self.ecKey.get().signature(for: [1], padding: .pss) }?.reason == .invalidArgument)
  }

  @Test func keyMatchesItsCertificateOnly() throws {
    let pki = try TestPKI()
    #expect(pki.leafKey.matches(pki.leaf))
    #expect(!pki.rootKey.matches(pki.leaf))
    #expect(!(try Self.rsaKey.get()).matches(pki.leaf))
  }

  @Test func publicHalfIsSeparate() throws {
    let key = try Self.ecKey.get()
    let publicKey = try key.publicKey
    #expect(publicKey.hasSamePublicKey(as: key))
    #expect(try publicKey.spkiPin == key.spkiPin)
    #expect(try PublicKey(bytes: publicKey.derEncoded) == publicKey)
    #expect(try PublicKey(pemEncoded: publicKey.pemEncoded) == publicKey)
    // A public key cannot be read as a private key.
    #expect(inputError { _ = try PrivateKey(bytes: try publicKey.derEncoded) }?.reason == .wrongType)
    #expect(inputError { _ = try PrivateKey(bytes: Array(try publicKey.pemEncoded.utf8)) }?.reason == .wrongPEMLabel)
  }

  // MARK: Formats

  @Test(arguments: [PrivateKey.KeyType.ec(.p256), .ed25519, .ed448])
  func pkcs8RoundTrips(type: PrivateKey.KeyType) throws {
    let key = try PrivateKey(generating: type)
    let pem = try key.pemEncoded()
    #expect(secretText(pem).hasPrefix("-----BEGIN PRIVATE KEY-----"))
    #expect(try PrivateKey(secret: pem).hasSamePublicKey(as: key))
    let der = try key.derEncoded()
    #expect(try PrivateKey(bytes: secretArray(der), encoding: .der).hasSamePublicKey(as: key))
  }

  @Test func traditionalFormsRead() throws {
    for key in [try Self.rsaKey.get(), try Self.ecKey.get()] {
      let traditional = try key.traditionalPEMEncoded()
      let label = key.algorithm == .rsa ? "RSA PRIVATE KEY" : "EC PRIVATE KEY"
      #expect(secretText(traditional).hasPrefix("-----BEGIN \(label)-----"))
      #expect(try PrivateKey(secret: traditional).hasSamePublicKey(as: key))
    }
  }

  @Test func encryptedPKCS8NeedsTheRightPassphrase() throws {
    let key = try Self.ecKey.get()
    let passphrase = Passphrase(Array("correct horse".utf8))
    let pem = secretArray(try key.pemEncoded(passphrase: passphrase))
    #expect(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
    #expect(try PrivateKey(bytes: pem, passphrase: passphrase).hasSamePublicKey(as: key))
    #expect(inputError { _ = try PrivateKey(bytes: pem) }?.reason == .passphraseRequired)
    let wrong = inputError { _ = try PrivateKey(bytes: pem, passphrase: Passphrase(Array("wrong".utf8))) }
    #expect(wrong?.reason == .wrongPassphrase)
    // DER too.
    let der = secretArray(try key.derEncoded(passphrase: passphrase))
    #expect(try PrivateKey(bytes: der, passphrase: passphrase).hasSamePublicKey(as: key))
    #expect(inputError { _ = try PrivateKey(bytes: der) }?.reason == .passphraseRequired)
    #expect(inputError { _ = try PrivateKey(bytes: der, passphrase: Passphrase([1, 2])) }?.reason == .wrongPassphrase)
  }

  @Test func passphrasesLongerThanOpenSSLsCallbackBufferWork() throws {
    let key = try Self.ecKey.get()
    let long = Passphrase([UInt8](repeating: 0x61, count: 3000))
    let pem = secretArray(try key.pemEncoded(passphrase: long))
    #expect(try PrivateKey(bytes: pem, passphrase: long).hasSamePublicKey(as: key))
    // One byte short is a different passphrase: nothing was cut.
    let shorter = Passphrase([UInt8](repeating: 0x61, count: 2999))
    #expect(inputError { _ = try PrivateKey(bytes: pem, passphrase: shorter) }?.reason == .wrongPassphrase)
  }

  /// Traditional encrypted PEM (`Proc-Type: 4,ENCRYPTED`), written by OpenSSL itself.
  @Test func traditionalEncryptedPEMNeedsTheRightPassphrase() throws {
    let key = try Self.rsaKey.get()
    let pem = try EncryptedPEM.traditional(key, passphrase: Array("s3cret".utf8))
    #expect(String(decoding: pem, as: UTF8.self).contains("Proc-Type: 4,ENCRYPTED"))
    #expect(try PrivateKey(bytes: pem, passphrase: Passphrase(Array("s3cret".utf8))).hasSamePublicKey(as: key))
    #expect(inputError { _ = try PrivateKey(bytes: pem) }?.reason == .passphraseRequired)
    #expect(
      inputError { _ = try PrivateKey(bytes: pem, passphrase: Passphrase(Array("nope".utf8))) }?.reason
        == .wrongPassphrase)
  }

  @Test func traditionalEncryptedPEMWithALongPassphrase() throws {
    let key = try Self.ecKey.get()
    let long = [UInt8](repeating: 0x7A, count: 2048)
    let pem = try EncryptedPEM.traditional(key, passphrase: long)
    #expect(try PrivateKey(bytes: pem, passphrase: Passphrase(long)).hasSamePublicKey(as: key))
  }

  @Test func thePassphraseClosureIsAskedOnceAndOnlyWhenNeeded() throws {
    let key = try Self.ecKey.get()
    let counter = Counter()
    _ = try PrivateKey(secret: try key.pemEncoded()) {
      counter.increment()
      return Passphrase([1])
    }
    #expect(counter.value == 0)
    let encrypted = secretArray(try key.pemEncoded(passphrase: Passphrase(Array("pw".utf8))))
    _ = try PrivateKey(bytes: encrypted) {
      counter.increment()
      return Passphrase(Array("pw".utf8))
    }
    #expect(counter.value == 1)
  }

  @Test func anErrorThrownByThePassphraseClosureReachesTheCaller() throws {
    struct Cancelled: Error {}
    let encrypted = secretArray(try Self.ecKey.get().pemEncoded(passphrase: Passphrase(Array("pw".utf8))))
    #expect(throws: Cancelled.self) { try PrivateKey(bytes: encrypted) { throw Cancelled() } }
    let traditional = try EncryptedPEM.traditional(try Self.ecKey.get(), passphrase: Array("pw".utf8))
    #expect(throws: Cancelled.self) { try PrivateKey(bytes: traditional) { throw Cancelled() } }
  }

  @Test func filesLoadThroughAWipedBuffer() throws {
    let directory = try TemporaryDirectory()
    let key = try Self.ecKey.get()
    let path = try directory.write("key.pem", secretArray(try key.pemEncoded(passphrase: Passphrase(Array("pw".utf8)))))
    let passPath = try directory.write("pass.txt", "pw\n")
    #expect(
      try PrivateKey(contentsOfFile: path, passphrase: Passphrase.read(fromFile: passPath)).hasSamePublicKey(as: key))
    #expect(inputError { _ = try PrivateKey(contentsOfFile: directory.file("none.pem")) }?.reason == .unreadableFile)
  }

  /// `PrivateKey.publicKey` is a key of its own with no private half, and does not keep the
  /// private key alive (row 71). Breaking the promise would mean the public key is the same
  /// `EVP_PKEY` (or one that carries the private component): OpenSSL would then encode its
  /// private half or give out its private parameter, and the private key would live as long as
  /// any public key made from it.
  @Test func aPublicKeyHoldsNoPrivateMaterialAndDoesNotKeepItsKeyAlive() throws {
    for type: PrivateKey.KeyType in [.ec(.p256), .rsa(bits: 2048), .ed25519] {
      var publicKey: PublicKey? = nil
      var marker = 0
      do {
        let key = try PrivateKey(generating: type)
        marker = key.withUnsafePointer { ExDataCounter.mark(.evpPKey, $0.raw) }
        publicKey = try key.publicKey
        // The probes find the private half where it is, so their failures below are meaningful.
        key.withUnsafePointer { #expect(privateMaterial($0.raw) == [true, true], "\(type)") }
        #expect(ExDataCounter.freeCount(marker) == 0)
      }
      #expect(ExDataCounter.freeCount(marker) == 1, "the private key outlived its last holder: \(type)")
      let remaining = try #require(publicKey)
      remaining.withUnsafePointer { #expect(privateMaterial($0.raw) == [false, false], "\(type)") }
      ERR_clear_error()
    }
  }

  /// Whether OpenSSL encodes the key's private half (`i2d_PrivateKey`) and gives out its private
  /// parameter (`EVP_PKEY_get_bn_param` of "priv" or RSA's "d"; for EdDSA the octet string "priv").
  private func privateMaterial(_ key: OpaquePointer) -> [Bool] {
    let encoded = i2d_PrivateKey(key, nil) > 0
    var parameter = false
    switch EVP_PKEY_get_base_id(key) {
    case EVP_PKEY_ED25519:
      var length = 0
      parameter = EVP_PKEY_get_octet_string_param(key, "priv", nil, 0, &length) == 1 && length > 0
    default:
      var number: OpaquePointer? = nil
      let name = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "d" : "priv"
      parameter = EVP_PKEY_get_bn_param(key, name, &number) == 1 && number != nil
      BN_clear_free(number)
    }
    ERR_clear_error()
    return [encoded, parameter]
  }
  // MARK: Bad input

  @Test func badInputGetsItsOwnReason() throws {
    let key = try Self.ecKey.get()
    let der = secretArray(try key.derEncoded())
    let pem = secretText(try key.pemEncoded())
    let certificate = try TestPKI().leaf
    #expect(inputError { _ = try PrivateKey(bytes: [UInt8]()) }?.reason == .empty)
    #expect(inputError { _ = try PrivateKey(bytes: Array(der.dropLast(5))) }?.reason == .truncated)
    #expect(inputError { _ = try PrivateKey(bytes: der + [0, 0, 0]) }?.reason == .trailingData)
    #expect(inputError { _ = try PrivateKey(bytes: Array(pem.utf8) + Array("trailing".utf8)) }?.reason == .trailingData)
    #expect(inputError { _ = try PrivateKey(bytes: Array("garbage garbage".utf8)) }?.reason == .malformed)
    #expect(inputError { _ = try PrivateKey(bytes: certificate.derEncoded) }?.reason == .wrongType)
    let wrongLabel = try #require(inputError { _ = try PrivateKey(bytes: Array(certificate.pemEncoded.utf8)) })
    #expect(wrongLabel.reason == .wrongPEMLabel)
    #expect(wrongLabel.detail.contains("(a certificate)"))
    #expect(inputError { _ = try PrivateKey(bytes: der, limit: 16) }?.reason == .tooLarge)
    #expect(inputError { _ = try PrivateKey(bytes: Array((pem + pem).utf8)) }?.reason == .multipleObjects)
  }

  @Test func descriptionsCarryNoKeyMaterial() throws {
    let key = try Self.ecKey.get()
    let pem = secretText(try key.pemEncoded())
    let body = pem.split(separator: "\n").dropFirst().first.map(String.init) ?? "?"
    #expect(!key.description.contains(body))
    #expect(key.description == "PrivateKey(EC, 256 bits, prime256v1)")
  }
}
