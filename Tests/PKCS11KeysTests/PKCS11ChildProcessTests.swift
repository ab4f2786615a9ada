import Foundation
import OpenSSLObjects
import PKCS11Keys
import TestSupport
import Testing

/// Cases that need a process of their own: a fresh login state for every wrong PIN, the two
/// lifetime paths on which libp11 0.4.12 crashes, and fork. Each child must exit cleanly. Each test
/// makes a token of its own: SoftHSM2 does not share a token directory well between processes that
/// use it at the same time.
@Suite(
  "PKCS#11 in child processes",
  .enabled(
    if: PKCS11Backend.libp11UsesThisOpenSSL,
    "libp11 links another libcrypto than this process (Debian's libp11 with OpenSSL 4.0): its backend is refused here; the provider backend runs"
  )
)
struct PKCS11ChildProcessTests {
  let helper = ChildProcess.product("oo-test-helper")
  let modulePath = SoftHSMToken.modulePath

  @Test(arguments: ["wrong", "1234567", "12345", "x"])
  func wrongPINFailsWithCKRPinIncorrectInAFreshProcess(pin: String) throws {
    let softhsm = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let pinFile = try directory.write("pin", pin)
    let result = try ChildProcess.run(
      helper, ["pkcs11-login", modulePath, SoftHSMToken.label, pinFile], environment: softhsm.environment)
    #expect(result.status == 3, "\(result.output)")
    #expect(result.stdout.contains("login failed: CKR_PIN_INCORRECT"), "\(result.output)")
    #expect(result.stdout.contains("token \"oo-test\""))
    #expect(result.stdout.contains("libsofthsm2.so"))
    #expect(!result.output.contains(pin == "x" ? "pin x" : pin), "the PIN must never be printed")
  }

  @Test func rightPINLogsInInAFreshProcess() throws {
    let softhsm = try SoftHSMToken()
    let result = try ChildProcess.run(
      helper, ["pkcs11-login", modulePath, SoftHSMToken.label, softhsm.pinFile], environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("logged in to oo-test"))
  }

  @Test(arguments: ["rsa-2048", "ec-p256"])
  func keyHeldOnlyByCKeepsTheModuleLoadedAndItUnloadsAfterTheLastKey(label: String) throws {
    let softhsm = try SoftHSMToken()
    let result = try ChildProcess.run(
      helper, ["pkcs11-lifetime", modulePath, softhsm.uri(object: label)], environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    for line in [
      "signed while Swift holds the key", "signed while only C holds the key", "module unloaded after the last key",
    ] {
      #expect(result.stdout.contains(line), "\(result.output)")
    }
  }

  @Test func failedLoadFreesOnlyTheContextAndExitsCleanly() throws {
    let directory = try TemporaryDirectory()
    let result = try ChildProcess.run(
      helper, ["pkcs11-failed-load", modulePath],
      environment: ["SOFTHSM2_CONF": directory.file("missing.conf")])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("load failed: CKR_GENERAL_ERROR code=module failed to load"), "\(result.output)")
    #expect(result.stdout.contains("context freed"))
  }

  @Test func privateKeyWithoutAPINNeedsALoginAndOnlyPublicObjectsAreVisible() throws {
    let softhsm = try SoftHSMToken()
    let result = try ChildProcess.run(
      helper, ["pkcs11-no-pin", modulePath, softhsm.uri(object: "rsa-2048", pin: false)],
      environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("no pin: code=PIN required"))
    #expect(result.stdout.contains("visible without login: cert,public"))
  }

  @Test func tokenKeySignsInAForkedChildAndInTheParent() throws {
    let softhsm = try SoftHSMToken()
    let result = try ChildProcess.run(
      helper, ["pkcs11-fork", softhsm.uri(object: "ec-p256")], environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("child signed"))
    #expect(result.stdout.contains("parent signed"))
  }

  @Test func alwaysAuthenticateKeyWithoutAPINFailsWithTheReasonAndNeverPrompts() throws {
    let softhsm = try SoftHSMToken()
    let uri = "pkcs11:token=oo-test;object=ec-always-auth;type=private?pin-source=file:\(softhsm.pinFile)"
    let result = try ChildProcess.run(
      helper, ["pkcs11-no-context-pin", modulePath, uri], environment: softhsm.environment, stdin: "123456\n")
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("asked: Enter PKCS#11 key PIN for ec-always-auth"), "\(result.output)")
    #expect(result.stdout.contains("sign failed: P11_R_UI_FAILED"), "\(result.output)")
    #expect(result.stdout.contains("private key \"ec-always-auth\" id 04"))
    #expect(result.stdout.contains("token \"oo-test\""))
  }

  /// Nothing ever prompts on a terminal (row 66). The helper runs in a pseudo-terminal that is
  /// its controlling terminal, with the right passphrase and PIN already typed ahead on it and
  /// echo off: encrypted keys without a passphrase closure fail with passphraseRequired, a
  /// CKA_ALWAYS_AUTHENTICATE key without a PIN handler fails to sign (P11_R_UI_FAILED). Breaking
  /// the promise (OpenSSL's or libp11's UI asking on /dev/tty) looks like a prompt written to the
  /// terminal, a key that loads or signs with what was typed, or fewer bytes left unread.
  @Test func nothingEverPromptsOnATerminal() throws {
    let softhsm = try SoftHSMToken()
    let directory = try TemporaryDirectory()
    let passphrase = "oo-typed-ahead"
    let keys = try EncryptedPEM.files(try PrivateKey(generating: .ec(.p256)), passphrase: passphrase, in: directory)

    let (master, slave) = try #require(Self.openPseudoTerminal())
    defer { close(master) }
    // Echo off, so that what the master reads is only what the child writes.
    var settings = termios()
    tcgetattr(master, &settings)
    settings.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(master, TCSANOW, &settings)
    let typed = Array("\(passphrase)\n\(passphrase)\n\(SoftHSMToken.pin)\n".utf8)
    #expect(typed.withUnsafeBytes { write(master, $0.baseAddress, $0.count) } == typed.count)

    let uri = "pkcs11:token=oo-test;object=ec-always-auth;type=private?pin-source=file:\(softhsm.pinFile)"
    let result = try ChildProcess.run(
      helper, ["no-prompt", keys.pkcs8, keys.traditional, modulePath, uri], environment: softhsm.environment,
      terminal: slave)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("pkcs8: passphrase required"), "\(result.output)")
    #expect(result.stdout.contains("traditional: passphrase required"), "\(result.output)")
    #expect(result.stdout.contains("sign failed: P11_R_UI_FAILED"), "\(result.output)")
    #expect(result.stdout.contains("terminal unread \(typed.count)\n"), "\(result.output)")
    // What the child wrote to the terminal: nothing.
    _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
    var buffer = [UInt8](repeating: 0, count: 4096)
    let written = read(master, &buffer, buffer.count)
    #expect(written <= 0, "written to the terminal: \(String(decoding: buffer.prefix(max(written, 0)), as: UTF8.self))")
  }

  /// A new pseudo-terminal: its master descriptor (close-on-exec) and its slave's path.
  /// posix_openpt, grantpt, unlockpt and ptsname, which Swift's Glibc module does not import, are
  /// looked up in the C library.
  private static func openPseudoTerminal() -> (master: Int32, slave: String)? {
    func function<T>(_ name: String, _ type: T.Type) -> T? {
      dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: type) }
    }
    typealias OnDescriptor = @convention(c) (Int32) -> Int32
    guard let open = function("posix_openpt", OnDescriptor.self), let grant = function("grantpt", OnDescriptor.self),
      let unlock = function("unlockpt", OnDescriptor.self),
      let name = function("ptsname", (@convention(c) (Int32) -> UnsafeMutablePointer<CChar>?).self)
    else { return nil }
    let master = open(O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard master >= 0 else { return nil }
    guard grant(master) == 0, unlock(master) == 0, let path = name(master) else {
      close(master)
      return nil
    }
    return (master, String(cString: path))
  }
}

/// The provider backend (pkcs11-provider through `OSSL_STORE`) where pkcs11-provider is installed
/// (Debian 13 and later: scripts/matrix.sh runs it on OpenSSL 3.5 and 4.0), in a fresh process
/// under `timeout`, since some load orders hang in SoftHSM2 (pkcs11-provider #723); elsewhere the
/// typed error that says the backend is missing.
@Suite("PKCS#11 through pkcs11-provider")
struct PKCS11ProviderBackendTests {
  let helper = ChildProcess.product("oo-test-helper")

  @Test(.enabled(if: PKCS11Backend.isProviderInstalled, "pkcs11-provider is not installed here (Debian 12 ships none)"))
  func theProviderBackendSignsServesTLSAndKeepsItsLibraryContext() throws {
    let softhsm = try SoftHSMToken()
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?pin-source=file:\(softhsm.pinFile)"
    let certificateURI = "pkcs11:token=oo-test;object=ec-p256;type=cert"
    let result = try ChildProcess.run(
      "timeout", ["120", helper, "pkcs11-provider", SoftHSMToken.modulePath, uri, certificateURI],
      environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    // The default provider first: loading pkcs11-provider alone would turn off its fallback.
    #expect(result.stdout.contains("providers: default, pkcs11"), "\(result.output)")
    #expect(result.stdout.contains("key: EC, matches its certificate: true"), "\(result.output)")
    #expect(result.stdout.contains("signature verifies: true"), "\(result.output)")
    #expect(result.stdout.contains("handshake: TLSv1.3"), "\(result.output)")
    #expect(result.stdout.contains("server certificate is the token's: true"), "\(result.output)")
    #expect(result.stdout.contains("another PIN: PIN differs from the accepted one"), "\(result.output)")
    #expect(result.stdout.contains("module not allowed: module not allowed"), "\(result.output)")
    #expect(!result.output.contains(SoftHSMToken.pin), "the PIN must never be printed")
  }

  @Test(
    .enabled(if: PKCS11Backend.isProviderInstalled, "pkcs11-provider is not installed here (Debian 12 ships none)"),
    arguments: [("?pin-value=999999", "code=login failed"), ("", "code=PIN required")])
  func theProviderBackendRefusesAWrongOrMissingPINInAFreshProcess(query: String, expected: String) throws {
    let softhsm = try SoftHSMToken()
    let result = try ChildProcess.run(
      "timeout",
      [
        "120", helper, "pkcs11-provider-pin", SoftHSMToken.modulePath,
        "pkcs11:token=oo-test;object=ec-p256;type=private" + query,
      ],
      environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains(expected), "\(result.output)")
    #expect(!result.output.contains("999999"), "the PIN must never be printed")
  }

  @Test(.enabled(if: PKCS11Backend.isProviderInstalled, "pkcs11-provider is not installed here (Debian 12 ships none)"))
  func aProviderThatDoesNotAnswerInTimeIsATypedErrorNotAHang() throws {
    // A module whose every function blocks forever, so the load hangs in C_Initialize.
    let directory = try TemporaryDirectory()
    let module = directory.file("hanging_module.so")
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("PKCS11C/hanging_module.c").path
    let built = try ChildProcess.run("cc", ["-shared", "-fPIC", "-Wall", "-Werror", source, "-o", module])
    try #require(built.status == 0, "\(built.output)")
    let result = try ChildProcess.run(
      "timeout", ["120", helper, "pkcs11-provider-timeout", module, "pkcs11:object=anything;type=private"])
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("no answer in time: timed out"), "\(result.output)")
  }

  @Test(.enabled(if: PKCS11Backend.isProviderInstalled, "pkcs11-provider is not installed here (Debian 12 ships none)"))
  func aKeyInALibraryContextOfItsOwnServesTLSOnlyThere() throws {
    let softhsm = try SoftHSMToken()
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?pin-source=file:\(softhsm.pinFile)"
    let result = try ChildProcess.run(
      "timeout",
      [
        "120", helper, "pkcs11-provider-context", SoftHSMToken.modulePath, uri,
        "pkcs11:token=oo-test;object=ec-p256;type=cert",
      ], environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("key's context providers: default, pkcs11"), "\(result.output)")
    #expect(!result.stdout.contains("default context providers: default, pkcs11"), "\(result.output)")
    #expect(result.stdout.contains("default context: library context mismatch"), "\(result.output)")
    #expect(result.stdout.contains("key's context: handshake TLSv1.3"), "\(result.output)")
  }

  @Test(.disabled(if: PKCS11Backend.isProviderInstalled, "pkcs11-provider is installed: the test above runs"))
  func withoutPKCS11ProviderTheProviderBackendIsATypedError() throws {
    do {
      _ = try PrivateKey(
        pkcs11: "pkcs11:token=oo-test;object=ec-p256", options: PKCS11LoadOptions(backend: .provider))
      Issue.record("the provider backend loaded a key without pkcs11-provider")
    } catch let error as PKCS11Error {
      #expect(error.code == .backendUnavailable)
      #expect(error.description.contains("pkcs11-provider"))
    }
  }

  /// `.automatic` is pkcs11-provider where it is installed (Debian 13's 3.5, 4.0), libp11 where
  /// it is not (Debian 12's 3.0), a typed error where neither works; and libp11 whenever a libp11
  /// `PKCS11Module` is given. The backend a default load took is read from the key, in a fresh
  /// process under `timeout` (pkcs11-provider can hang in SoftHSM2).
  @Test func theAutomaticBackendIsTheProviderWhereInstalledAndLibP11Otherwise() throws {
    let expected: PKCS11Backend? =
      PKCS11Backend.isProviderInstalled ? .provider : PKCS11Backend.libp11UsesThisOpenSSL ? .libp11 : nil
    #expect(PKCS11Backend.libp11Libcrypto?.hasPrefix("libcrypto.so.") ?? true)
    if !PKCS11Backend.libp11UsesThisOpenSSL {
      #expect(throws: PKCS11Error.self) { try PKCS11Backend.libp11.resolved() }
    }
    guard let expected else {
      let error = try #require(throws: PKCS11Error.self) { try PKCS11Backend.automatic.resolved() }
      #expect(error.code == .backendUnavailable && error.description.contains("pkcs11-provider"), "\(error)")
      return
    }
    #expect(try PKCS11Backend.automatic.resolved() == expected)
    let softhsm = try SoftHSMToken()
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?pin-source=file:\(softhsm.pinFile)"
    let result = try ChildProcess.run(
      "timeout", ["120", helper, "pkcs11-automatic", SoftHSMToken.modulePath, uri], environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("backend: \(expected == .provider ? "provider" : "libp11")"), "\(result.output)")
    #expect(result.stdout.contains("signature verifies: true"), "\(result.output)")
    guard PKCS11Backend.libp11UsesThisOpenSSL else { return }
    let given = try ChildProcess.run(
      "timeout", ["120", helper, "pkcs11-automatic", SoftHSMToken.modulePath, uri, "libp11-module"],
      environment: softhsm.environment)
    #expect(given.status == 0, "\(given.output)")
    #expect(given.stdout.contains("backend: libp11"), "\(given.output)")
    #expect(given.stdout.contains("signature verifies: true"), "\(given.output)")
  }

}
