import Foundation
import OpenSSLObjects
import TestSupport
import Testing

/// Keys and certificates from `OSSL_STORE` URIs (`file:` here; `pkcs11:` through pkcs11-provider
/// in PKCS11KeysTests): passphrases only from the closure, never a prompt, typed errors.
@Suite("Store URIs: keys and certificates through OSSL_STORE")
struct StoreURITests {
  private func write(_ text: String, _ name: String, in directory: TemporaryDirectory) throws -> String {
    let path = directory.file(name)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
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

  @Test func aKeyAndACertificateFromFileURIsAndPlainPaths() throws {
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let keyPath = try write(
      try pki.leafKey.pemEncoded().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, "key.pem", in: directory)
    let certificatePath = try write(pki.leaf.pemEncoded, "cert.pem", in: directory)
    let key = try PrivateKey(storeURI: "file:" + keyPath)
    #expect(key.hasSamePublicKey(as: pki.leafKey))
    #expect(key.matches(pki.leaf))
    #expect(try PrivateKey(storeURI: keyPath).hasSamePublicKey(as: pki.leafKey))
    #expect(try X509Certificate(storeURI: "file:" + certificatePath) == pki.leaf)
    let signature = try key.signature(for: Array("store".utf8))
    #expect(try pki.leaf.publicKey.isValidSignature(signature, for: Array("store".utf8)))
  }

  @Test func anEncryptedKeyAsksTheClosureOnceAndNeverPrompts() throws {
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let encrypted = try pki.leafKey.pemEncoded(passphrase: Passphrase(Array("correct horse".utf8)))
    let path = try write(encrypted.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, "key.pem", in: directory)
    nonisolated(unsafe) var asked = 0
    let key = try PrivateKey(storeURI: "file:" + path) {
      asked += 1
      return Passphrase(Array("correct horse".utf8))
    }
    #expect(key.hasSamePublicKey(as: pki.leafKey))
    #expect(asked == 1)
    #expect(inputError { _ = try PrivateKey(storeURI: "file:" + path) }?.reason == .passphraseRequired)
    #expect(
      inputError { _ = try PrivateKey(storeURI: "file:" + path) { Passphrase(Array("wrong".utf8)) } }?.reason
        == .wrongPassphrase)
  }

  @Test func aClosureThatThrowsReachesTheCaller() throws {
    struct Refused: Error {}
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let encrypted = try pki.leafKey.pemEncoded(passphrase: Passphrase(Array("secret".utf8)))
    let path = try write(encrypted.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }, "key.pem", in: directory)
    #expect(throws: Refused.self) { try PrivateKey(storeURI: "file:" + path) { throw Refused() } }
  }

  @Test func aBundleListsEveryObjectAndASingleLoadRefusesIt() throws {
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let path = try write(pki.leaf.pemEncoded + pki.intermediate.pemEncoded, "bundle.pem", in: directory)
    let objects = try StoreLoader.load(uri: "file:" + path)
    let certificates = objects.compactMap { if case .certificate(let c) = $0 { c } else { nil } }
    #expect(certificates == [pki.leaf, pki.intermediate])
    #expect(inputError { _ = try X509Certificate(storeURI: "file:" + path) }?.reason == .multipleObjects)
    #expect(inputError { _ = try PrivateKey(storeURI: "file:" + path) }?.reason == .noMatch)
  }

  @Test func theSameKeyListedTwiceIsOneKeyButTwoKeysAreRefused() throws {
    let pki = try TestPKI()
    let directory = try TemporaryDirectory()
    let pem = try pki.leafKey.pemEncoded().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    let twice = try write(pem + pem, "twice.pem", in: directory)
    #expect(try PrivateKey(storeURI: "file:" + twice).hasSamePublicKey(as: pki.leafKey))
    let other = try pki.rootKey.pemEncoded().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    let two = try write(pem + other, "two.pem", in: directory)
    #expect(inputError { _ = try PrivateKey(storeURI: "file:" + two) }?.reason == .multipleObjects)
  }

  @Test func unknownSchemesAndMissingFilesAreTypedErrors() throws {
    #expect(inputError { _ = try PrivateKey(storeURI: "nosuchscheme:object") }?.reason == .unsupported)
    #expect(inputError { _ = try PrivateKey(storeURI: "file:/nonexistent/key.pem") } != nil)
  }

  @Test func aPINValueIsNeverShownInAnError() throws {
    let error = inputError { _ = try PrivateKey(storeURI: "nosuchscheme:object;pin-value=123456?pin-value=654321") }
    #expect(error != nil)
    #expect(!(error?.description.contains("123456") ?? true))
    #expect(!(error?.description.contains("654321") ?? true))
  }
}
