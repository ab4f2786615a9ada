import Foundation
import OpenSSLObjects
import PKCS11Keys
import TestSupport
import Testing

/// Promises about modules and logins that no other test tried to break (docs/SECURITY.md rows
/// 75, 77, 79 and 86). The login cases run in child processes: a process's login state is shared
/// by every module wrapper in it.
@Suite(
  "PKCS#11 promises: module checks, one login per PIN, other code's logins, token certificates",
  .enabled(
    if: PKCS11Backend.libp11UsesThisOpenSSL,
    "libp11 links another libcrypto than this process (Debian's libp11 with OpenSSL 4.0): its backend is refused here"
  )
)
struct PKCS11PromiseTests {
  let helper = ChildProcess.product("oo-test-helper")
  let modulePath = SoftHSMToken.modulePath

  /// `CKR_PIN_INCORRECT` and `CKU_USER`, as the forwarding module writes them.
  static let pinIncorrect = "C_Login user=1 rv=160"

  // MARK: - Row 75: links are resolved, nothing is loaded before the check

  /// A URI's `module-path` is resolved (`realpath`) before the allow-list check and loaded by its
  /// resolved path: a link to SoftHSM2 loads it; a module that is not on the list is refused
  /// whether the URI names it or a link to it, and is never mapped. Broken, the copy would load
  /// (a list compared with the name as given lets a link to anything through), or appear in
  /// `/proc/self/maps` (a check made after `dlopen` runs the module's code first).
  @Test func linksAreResolvedAndARefusedModuleIsNeverLoaded() throws {
    let softhsm = try SoftHSMToken.shared.get()
    let directory = try TemporaryDirectory("oo-module-links")
    let manager = FileManager.default
    let link = directory.file("softhsm-link.so")
    try manager.createSymbolicLink(atPath: link, withDestinationPath: modulePath)
    let copy = directory.file("copy-of-softhsm.so")
    // The file itself (modulePath is a link on Debian), not a copy of the link.
    try manager.copyItem(
      atPath: URL(fileURLWithPath: modulePath).resolvingSymlinksInPath().path, toPath: copy)
    let innocent = directory.file("innocent.so")
    try manager.createSymbolicLink(atPath: innocent, withDestinationPath: copy)
    func uri(_ module: String) -> String {
      "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(module)&pin-source=file:\(softhsm.pinFile)"
    }

    // The link's target is on the list: it loads, as the target.
    let allowed = PKCS11LoadOptions(modulePolicy: .allowList([modulePath]), backend: .libp11)
    let key = try PrivateKey(pkcs11: uri(link), options: allowed)
    #expect(key.algorithm == .ec)
    #expect(!PKCS11Module.loadedModulePaths.contains(link))

    // The copy, named directly or through a link, is not; the list may even name a link to SoftHSM2.
    let listed = PKCS11LoadOptions(modulePolicy: .allowList([modulePath, link]), backend: .libp11)
    for named in [copy, innocent] {
      let error = try #require(throws: PKCS11Error.self) { try PrivateKey(pkcs11: uri(named), options: listed) }
      #expect(error.code == .moduleNotAllowed, "\(error)")
      #expect(error.module == copy, "the error names the resolved module: \(error)")
    }
    // An entry that names no file allows nothing.
    let missing = PKCS11ModulePolicy.allowList([directory.file("missing.so")])
    #expect(!missing.allows(canonicalPath: directory.file("missing.so")))
    let error = try #require(throws: PKCS11Error.self) {
      try PrivateKey(pkcs11: uri(copy), options: PKCS11LoadOptions(modulePolicy: missing, backend: .libp11))
    }
    #expect(error.code == .moduleNotAllowed)

    // Nothing of the copy was ever loaded.
    #expect(!PKCS11Module.loadedModulePaths.contains(copy))
    let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
    #expect(!maps.contains(copy), "the refused module was mapped")
  }

  // MARK: - Row 77: a wrong PIN is tried once

  /// A wrong PIN reaches `C_Login` exactly once, however it came: `PKCS11Token.login`, a URI's
  /// `pin-value`, a PIN closure. Broken (a retry, or a PIN asked again after a failure), the
  /// forwarding module would count two or more, and the token would lock sooner.
  @Test(arguments: ["token.login", "pin-value", "pin closure"])
  func aWrongPINReachesTheTokenOnce(path: String) throws {
    let softhsm = try SoftHSMToken()
    let forwarding = try ForwardingModule()
    let base = "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(forwarding.path)"
    let result: ProcessResult
    switch path {
    case "token.login":
      let pinFile = try forwarding.directory.write("wrong-pin", "999999")
      result = try ChildProcess.run(
        helper, ["pkcs11-login", forwarding.path, SoftHSMToken.label, pinFile], environment: softhsm.environment)
      #expect(result.stdout.contains("login failed: CKR_PIN_INCORRECT"), "\(result.output)")
    case "pin-value":
      result = try ChildProcess.run(
        helper, ["pkcs11-load", forwarding.path, base + "&pin-value=999999"], environment: softhsm.environment)
      #expect(result.stdout.contains("failed: code=login failed rv=CKR_PIN_INCORRECT"), "\(result.output)")
    default:
      result = try ChildProcess.run(
        helper, ["pkcs11-load", forwarding.path, base, "999999"], environment: softhsm.environment)
      #expect(result.stdout.contains("failed: code=login failed rv=CKR_PIN_INCORRECT"), "\(result.output)")
    }
    #expect(result.status == 3, "\(result.output)")
    #expect(forwarding.loginLines == [Self.pinIncorrect], "\(result.output)")
  }

  /// The counting works: the right PIN is tried once, and succeeds; libp11 is then told
  /// (`PKCS11_login`), and the token answers its `C_Login` with `CKR_USER_ALREADY_LOGGED_IN`
  /// (0x100), which checks no PIN.
  @Test func theRightPINReachesTheTokenOnceAndLogsIn() throws {
    let softhsm = try SoftHSMToken()
    let forwarding = try ForwardingModule()
    let uri = "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(forwarding.path)"
    let result = try ChildProcess.run(
      helper, ["pkcs11-load", forwarding.path, uri, SoftHSMToken.pin], environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("loaded"), "\(result.output)")
    #expect(forwarding.loginLines == ["C_Login user=1 rv=0", "C_Login user=1 rv=256"], "\(result.output)")
  }

  // MARK: - Row 79: a login by other code is not a PIN we checked

  /// Other code in the process logs the token in through the module's function list; then
  /// `login(pin:)` with a wrong PIN, with the right one, and a key whose URI carries the right PIN
  /// are all `loggedInElsewhere`, and none reaches `C_Login`. Broken, the wrong PIN would be
  /// "logged in" (libp11 0.4.12 answers success to a second login, whatever the PIN).
  @Test func aLoginByOtherCodeIsLoggedInElsewhereWhateverThePIN() throws {
    let softhsm = try SoftHSMToken()
    let forwarding = try ForwardingModule()
    let uri =
      "pkcs11:token=oo-test;object=ec-p256;type=private?module-path=\(forwarding.path)&pin-source=file:\(softhsm.pinFile)"
    let result = try ChildProcess.run(
      helper, ["pkcs11-logged-in-elsewhere", forwarding.path, SoftHSMToken.label, softhsm.pinFile, uri],
      environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("other code logged in: rv=0"), "\(result.output)")
    #expect(result.stdout.contains("wrong pin: code=logged in by other code"), "\(result.output)")
    #expect(result.stdout.contains("right pin: code=logged in by other code"), "\(result.output)")
    #expect(result.stdout.contains("uri pin: code=logged in by other code"), "\(result.output)")
    #expect(!result.stdout.contains("logged in\n"), "\(result.output)")
    #expect(forwarding.loginLines.isEmpty, "\(result.output)")
  }

  // MARK: - Row 86: a token certificate keeps its module loaded

  /// A certificate from the token, held only by C (`retainedPointer`, every Swift reference gone),
  /// keeps SoftHSM2 loaded and readable; the module unloads when C frees it.
  @Test(arguments: ["rsa-2048", "ec-p256"])
  func aTokenCertificateHeldOnlyByCKeepsTheModuleLoaded(label: String) throws {
    let softhsm = try SoftHSMToken()
    let result = try ChildProcess.run(
      helper, ["pkcs11-certificate-lifetime", modulePath, softhsm.uri(object: label, type: "cert", pin: false)],
      environment: softhsm.environment)
    #expect(result.status == 0, "\(result.output)")
    #expect(result.stdout.contains("loaded O=OpenSSLObjects Tests,CN=OpenSSLObjects \(label)"), "\(result.output)")
    #expect(result.stdout.contains("while only C holds the certificate"), "\(result.output)")
    #expect(result.stdout.contains("CN=OpenSSLObjects \(label)"), "\(result.output)")
    #expect(result.stdout.contains("module unloaded after the last certificate"), "\(result.output)")
  }
}
