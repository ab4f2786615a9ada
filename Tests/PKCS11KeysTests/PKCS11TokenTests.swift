import COpenSSLFull
import Dispatch
import Foundation
import OpenSSLObjects
import PKCS11Keys
import TestSupport
import Testing

/// Modules, tokens, objects and signing on a real SoftHSM2 token (scripts/softhsm-token.sh).
@Suite(
  "PKCS#11 tokens, keys and certificates",
  .enabled(
    if: PKCS11Backend.libp11UsesThisOpenSSL,
    "libp11 links another libcrypto than this process (Debian's libp11 with OpenSSL 4.0): its backend is refused here; the provider backend runs"
  )
)
struct PKCS11TokenTests {
  let modulePath = SoftHSMToken.modulePath
  var options: PKCS11LoadOptions { PKCS11LoadOptions(modulePolicy: .allowList([modulePath]), backend: .libp11) }

  func token() throws -> SoftHSMToken { try SoftHSMToken.shared.get() }

  func loggedInToken() throws -> PKCS11Token {
    let softhsm = try token()
    let module = try PKCS11Module.load(path: modulePath)
    let token = try module.token(matching: try PKCS11URI(parsing: "pkcs11:token=oo-test"))
    try token.login(pin: try PIN.read(fromFile: softhsm.pinFile))
    return token
  }

  // MARK: - Modules, slots, tokens

  @Test func moduleListsSlotsAndTheTokenWithItsFlags() throws {
    _ = try token()
    let module = try PKCS11Module.load(path: modulePath)
    #expect(module.path == URL(fileURLWithPath: modulePath).resolvingSymlinksInPath().path)
    #expect(module.libraryManufacturer == "SoftHSM")
    let slot = try #require(module.slotInfos.first { $0.token?.label == "oo-test" })
    let info = try #require(slot.token)
    #expect(info.manufacturer == "SoftHSM project")
    #expect(info.model == "SoftHSM v2")
    #expect(!info.serialNumber.isEmpty)
    #expect(info.flags.contains([.initialized, .loginRequired, .userPINInitialized, .hasRandomNumberGenerator]))
    #expect(!info.flags.contains(.userPINLocked))
    // SoftHSM2 always offers one more, uninitialized token.
    #expect(module.slotInfos.contains { $0.token.map { !$0.flags.contains(.initialized) } ?? false })
  }

  @Test func loadingTheSameModuleTwiceGivesOneContext() throws {
    _ = try token()
    let first = try PKCS11Module.load(path: modulePath)
    let second = try PKCS11Module.load(path: "/usr/lib/softhsm/../softhsm/libsofthsm2.so")
    #expect(first === second)
    #expect(PKCS11Module.loadedModulePaths.contains(first.path))
  }

  @Test func objectsAreListedWithLabelIDKeyTypeAndSize() throws {
    let objects = try loggedInToken().objects()
    func find(_ kind: PKCS11ObjectInfo.Kind, _ label: String) -> PKCS11ObjectInfo? {
      objects.first { $0.kind == kind && $0.label == label }
    }
    let rsa = try #require(find(.privateKey, "rsa-2048"))
    #expect(rsa.id == [0x01])
    #expect(rsa.keyType == "RSA")
    #expect(rsa.keyBits == 2048)
    #expect(rsa.uri.formatted() == "pkcs11:token=oo-test;object=rsa-2048;id=%01;type=private")
    for (label, id) in [("ec-p256", 2), ("ec-generated", 3), ("ec-always-auth", 4)] {
      let key = try #require(find(.privateKey, label))
      #expect(key.id == [UInt8(id)])
      #expect(key.keyType == "EC")
      #expect(key.keyBits == 256)
      #expect(find(.publicKey, label)?.keyBits == 256)
    }
    let certificate = try #require(find(.certificate, "rsa-2048"))
    #expect(certificate.subject == "O=OpenSSLObjects Tests,CN=OpenSSLObjects rsa-2048")
    #expect(certificate.keyBits == 2048)
    #expect(find(.certificate, "ec-p256")?.keyType == "EC")
    #expect(find(.certificate, "ec-generated") == nil)
  }

  // MARK: - Signing on the token

  @Test func rsaKeySignsPKCS1OnTheTokenAndTheImportedPublicKeyVerifies() throws {
    let softhsm = try token()
    let key = try PrivateKey(pkcs11: softhsm.uri(object: "rsa-2048"), options: options)
    #expect(key.algorithm == .rsa)
    #expect(key.bits == 2048)
    let publicKey = try PublicKey(contentsOfFile: softhsm.publicKeyFile("rsa-2048"))
    let message = Array("signed on the token".utf8)
    for digest in [Digest.sha256, .sha384, .sha512] {
      let signature = try key.signature(for: message, digest: digest, padding: .pkcs1v15)
      #expect(signature.count == 256)
      #expect(try publicKey.isValidSignature(signature, for: message, digest: digest, padding: .pkcs1v15))
      #expect(!(try publicKey.isValidSignature(signature, for: Array("other".utf8), digest: digest)))
    }
    #expect(key.hasSamePublicKey(as: publicKey))
    #expect(key.matches(try X509Certificate(contentsOfFile: softhsm.certificateFile("rsa-2048"))))
  }

  @Test func rsaKeySignsPSSOnTheToken() throws {
    let softhsm = try token()
    let key = try PrivateKey(pkcs11: softhsm.uri(object: "rsa-2048"), options: options)
    let publicKey = try PublicKey(contentsOfFile: softhsm.publicKeyFile("rsa-2048"))
    let message = Array("pss".utf8)
    let first = try key.signature(for: message, padding: .pss)
    let second = try key.signature(for: message, padding: .pss)
    #expect(first != second, "PSS signatures are salted")
    #expect(try publicKey.isValidSignature(first, for: message, padding: .pss))
    #expect(!(try publicKey.isValidSignature(first, for: message, padding: .pkcs1v15)))
  }

  @Test(arguments: ["ec-p256", "ec-generated"])
  func ecKeySignsECDSAOnTheToken(label: String) throws {
    let softhsm = try token()
    let key = try PrivateKey(pkcs11: softhsm.uri(object: label), options: options)
    #expect(key.algorithm == .ec)
    let tokenPublicKey = try loggedInToken().publicKey(
      matching: try PKCS11URI(parsing: "pkcs11:object=\(label);type=public"))
    let message = Array("ecdsa on the token".utf8)
    let signature = try key.signature(for: message, digest: .sha384)
    #expect(try tokenPublicKey.isValidSignature(signature, for: message, digest: .sha384))
    #expect(try key.publicKey == tokenPublicKey)
    if label == "ec-p256" {
      #expect(try PublicKey(contentsOfFile: softhsm.publicKeyFile(label)) == tokenPublicKey)
    }
  }

  @Test func alwaysAuthenticateKeyGetsThePINThroughOurUIMethod() throws {
    let softhsm = try token()
    let key = try PrivateKey(pkcs11: softhsm.uri(object: "ec-always-auth"), options: options)
    let publicKey = try key.publicKey
    let message = Array("context-specific login".utf8)
    for _ in 0..<2 {
      #expect(try publicKey.isValidSignature(try key.signature(for: message), for: message))
    }
  }

  @Test func keysRememberWhereTheyCameFrom() throws {
    let softhsm = try token()
    let key = try PrivateKey(pkcs11: softhsm.uri(object: "ec-p256"), options: options)
    let origin = try #require(key.pkcs11Origin)
    #expect(origin.token == "oo-test")
    #expect(origin.object.label == "ec-p256")
    #expect(origin.object.id == [2])
    #expect(origin.modulePath.hasSuffix("libsofthsm2.so"))
    #expect(try PrivateKey(generating: .ec(.p256)).pkcs11Origin == nil)
  }

  @Test func signingFromManyThreadsWithOneKeyWorks() throws {
    let softhsm = try token()
    for label in ["rsa-2048", "ec-p256"] {
      let key = try PrivateKey(pkcs11: softhsm.uri(object: label), options: options)
      let publicKey = try key.publicKey
      let results = Results()
      DispatchQueue.concurrentPerform(iterations: 64) { index in
        let message = Array("message \(index)".utf8)
        let valid = (try? publicKey.isValidSignature(try key.signature(for: message), for: message)) ?? false
        results.record(valid)
      }
      #expect(results.count == 64)
      #expect(results.allValid, "\(label): \(results.failures) signatures failed")
    }
  }

  final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [Bool] = []
    func record(_ valid: Bool) {
      lock.lock()
      outcomes.append(valid)
      lock.unlock()
    }
    var count: Int { lock.withLock { outcomes.count } }
    var allValid: Bool { lock.withLock { outcomes.allSatisfy { $0 } } }
    var failures: Int { lock.withLock { outcomes.filter { !$0 }.count } }
  }

  @Test func nothingIsLeftOnOpenSSLsErrorQueueAfterSuccessOrFailure() throws {
    let softhsm = try token()
    #expect(ERR_peek_error() == 0, "\(pendingOpenSSLErrors())")
    let key = try PrivateKey(pkcs11: softhsm.uri(object: "rsa-2048"), options: options)
    _ = try key.signature(for: [1, 2, 3], padding: .pss)
    _ = try loggedInToken().objects()
    #expect(ERR_peek_error() == 0, "after loading, listing and signing")
    _ = try? PKCS11Module.load(path: "/usr/lib/x86_64-linux-gnu/libz.so.1")
    _ = try? PrivateKey(pkcs11: softhsm.uri(object: "no-such-key"), options: options)
    _ = try? loggedInToken().login(pin: PIN(Array("000000".utf8)))
    #expect(ERR_peek_error() == 0, "after failures")
  }

  // MARK: - Certificates

  @Test(arguments: ["rsa-2048", "ec-p256"])
  func certificatesComeBackAsX509Certificates(label: String) throws {
    let softhsm = try token()
    let certificate = try X509Certificate(
      pkcs11: softhsm.uri(object: label, type: "cert", pin: false), options: options)
    let file = try X509Certificate(contentsOfFile: softhsm.certificateFile(label))
    #expect(certificate.derEncoded == file.derEncoded)
    #expect(certificate.subject.rfc2253 == "O=OpenSSLObjects Tests,CN=OpenSSLObjects \(label)")
    #expect(certificate.pkcs11Origin?.object.kind == .certificate)
    let key = try PrivateKey(pkcs11: softhsm.uri(object: label), options: options)
    #expect(key.matches(certificate))
  }

  // MARK: - Module errors

  @Test func missingModuleIsToldApart() {
    #expect {
      try PKCS11Module.load(path: "/nonexistent/libmissing-pkcs11.so")
    } throws: { ($0 as? PKCS11Error)?.code == .moduleNotFound }
  }

  @Test func fileThatIsNotASharedObjectIsToldApart() throws {
    let directory = try TemporaryDirectory()
    let text = try directory.write("module.so", "not a library\n")
    let error = try #require(throws: PKCS11Error.self) { try PKCS11Module.load(path: text) }
    #expect(error.code == .notASharedObject)
    #expect(error.module?.hasSuffix("module.so") == true)
  }

  @Test func sharedObjectWithoutCGetFunctionListIsToldApart() throws {
    let error = try #require(throws: PKCS11Error.self) {
      try PKCS11Module.load(path: "/usr/lib/x86_64-linux-gnu/libz.so.1")
    }
    #expect(error.code == .noFunctionList)
    #expect(error.description.contains("C_GetFunctionList"))
    #expect(!PKCS11Module.loadedModulePaths.contains { $0.contains("libz") })
  }

  @Test func moduleNamedByAURIIsRefusedUnlessAllowed() throws {
    let softhsm = try token()
    let uri = softhsm.uri(object: "ec-p256")
    let error = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri) }
    #expect(error.code == .moduleNotAllowed)
    #expect(error.description.contains("allowList"))
    let other = try #require(throws: PKCS11Error.self) {
      try PrivateKey(
        pkcs11: uri, options: PKCS11LoadOptions(modulePolicy: .allowList(["/usr/lib/other.so"]), backend: .libp11))
    }
    #expect(other.code == .moduleNotAllowed)
    _ = try PrivateKey(pkcs11: uri, options: PKCS11LoadOptions(modulePolicy: .allowAnyModule, backend: .libp11))
  }

  @Test func moduleNameIsResolvedInTheSearchDirectories() throws {
    let softhsm = try token()
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?module-name=softhsm2&pin-source=file:\(softhsm.pinFile)"
    let key = try PrivateKey(pkcs11: uri, options: options)
    #expect(key.pkcs11Origin?.modulePath.hasSuffix("libsofthsm2.so") == true)
    let missing = try #require(throws: PKCS11Error.self) {
      try PrivateKey(pkcs11: "pkcs11:object=x?module-name=nosuchmodule", options: options)
    }
    #expect(missing.code == .moduleNotFound)
  }

  @Test func uriWithoutModuleUsesTheGivenModuleOrFails() throws {
    let softhsm = try token()
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?pin-source=file:\(softhsm.pinFile)"
    let error = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri) }
    #expect(error.code == .noModule)
    let module = try PKCS11Module.load(path: modulePath)
    _ = try PrivateKey(pkcs11: uri, options: PKCS11LoadOptions(module: module, backend: .libp11))
  }

  // MARK: - Matching errors

  @Test func uriMatchingNoObjectListsWhatTheTokenHas() throws {
    let softhsm = try token()
    let error = try #require(throws: PKCS11Error.self) {
      try PrivateKey(pkcs11: softhsm.uri(object: "no-such-key"), options: options)
    }
    #expect(error.code == .noMatch)
    #expect(error.token == "oo-test")
    for label in ["rsa-2048", "ec-p256", "ec-generated", "ec-always-auth"] {
      #expect(error.detail.contains("\"\(label)\""), "\(error)")
    }
    #expect(!error.description.contains("pin-source"))
  }

  @Test func uriMatchingSeveralObjectsIsAnError() throws {
    let softhsm = try token()
    let uri = "pkcs11:token=oo-test;type=private?module-path=\(modulePath)&pin-source=file:\(softhsm.pinFile)"
    let error = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri, options: options) }
    #expect(error.code == .multipleMatches)
    #expect(error.detail.contains("4 objects match"))
    #expect(error.detail.contains("\"ec-generated\""))
  }

  @Test func uriMatchingNoTokenListsTheTokens() throws {
    let softhsm = try token()
    let uri = "pkcs11:token=other;object=x;type=private?module-path=\(modulePath)&pin-source=file:\(softhsm.pinFile)"
    let error = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri, options: options) }
    #expect(error.code == .noMatch)
    #expect(error.detail.contains("\"oo-test\""))
    let library = try #require(throws: PKCS11Error.self) {
      try PrivateKey(
        pkcs11: "pkcs11:library-manufacturer=Acme;object=ec-p256?module-path=\(modulePath)", options: options)
    }
    #expect(library.code == .noMatch)
    #expect(library.detail.contains("SoftHSM"))
  }

  @Test(arguments: [
    "library-version=2.6;token=oo-test;object=ec-p256", "token=oo-test;object=ec-p256;type=secret-key",
    "token=oo-test;object=ec-p256;type=data", "token=oo-test;object=ec-p256;x-vendor=1",
  ])
  func attributesLibp11CannotMatchAreUnsupportedNotSilentNonMatches(path: String) throws {
    let softhsm = try token()
    let uri = "pkcs11:\(path)?module-path=\(modulePath)&pin-source=file:\(softhsm.pinFile)"
    let error = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri, options: options) }
    #expect(error.code == .unsupported)
    #expect(error.detail.contains("cannot be matched"))
  }

  @Test func aURIForACertificateIsNotAPrivateKey() throws {
    let softhsm = try token()
    let error = try #require(throws: PKCS11Error.self) {
      try PrivateKey(pkcs11: softhsm.uri(object: "ec-p256", type: "cert"), options: options)
    }
    #expect(error.code == .noMatch)
    #expect(error.detail.contains("type=cert"))
  }

  // MARK: - PINs

  @Test func pinWithANULByteIsRefused() throws {
    let token = try loggedInToken()
    let error = try #require(throws: PKCS11Error.self) { try token.login(pin: PIN([0x31, 0x00, 0x32])) }
    #expect(error.code == .invalidPIN)
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(modulePath)&pin-value=12%0034"
    let viaURI = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri, options: options) }
    #expect(viaURI.code == .invalidPIN)
  }

  @Test func aSecondLoginWithAWrongPINIsNotMistakenForSuccess() throws {
    // libp11 0.4.12 reports success here without asking the token.
    let token = try loggedInToken()
    try token.login(pin: try PIN.read(fromFile: try self.token().pinFile))
    let error = try #require(throws: PKCS11Error.self) { try token.login(pin: PIN(Array("999999".utf8))) }
    #expect(error.code == .pinMismatch)
    #expect(error.detail.contains("libp11 0.4.12"))
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(modulePath)&pin-value=wrong"
    let viaURI = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri, options: options) }
    #expect(viaURI.code == .pinMismatch)
  }

  @Test func pinCanComeFromAClosure() throws {
    let softhsm = try token()
    let pinFile = softhsm.pinFile
    let options = PKCS11LoadOptions(
      modulePolicy: .allowList([modulePath]), pin: { try PIN.read(fromFile: pinFile) }, backend: .libp11)
    _ = try PrivateKey(pkcs11: softhsm.uri(object: "ec-p256", pin: false), options: options)
  }

  @Test func unreadablePinSourceIsAnInputError() throws {
    _ = try token()
    let uri = "pkcs11:token=oo-test;object=ec-p256?module-path=\(modulePath)&pin-source=file:/nonexistent/pin"
    #expect(throws: InputError.self) { try PrivateKey(pkcs11: uri, options: options) }
    let command = "pkcs11:token=oo-test;object=ec-p256?module-path=\(modulePath)&pin-source=%7Ccat%20/etc/pin"
    let error = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: command, options: options) }
    #expect(error.code == .unsupported)
  }

  @Test func pinValueInAURIIsAccepted() throws {
    _ = try token()
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(modulePath)&pin-value=\(SoftHSMToken.pin)"
    let key = try PrivateKey(pkcs11: uri, options: options)
    let message = Array("pin-value".utf8)
    #expect(try key.publicKey.isValidSignature(try key.signature(for: message), for: message))
  }
}
