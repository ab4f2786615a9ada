import Foundation
import PKCS11Keys
import TestSupport
import Testing

/// Cases that need a process of their own: a fresh login state for every wrong PIN, the two
/// lifetime paths on which libp11 0.4.12 crashes, and fork. Each child must exit cleanly. Each test
/// makes a token of its own: SoftHSM2 does not share a token directory well between processes that
/// use it at the same time.
@Suite("PKCS#11 in child processes")
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
}
