import Foundation

/// A SoftHSM2 token made by `scripts/softhsm-token.sh` in a temporary directory, for tests that
/// need a real PKCS#11 token. The directory and the token go away with the value.
///
/// The token "oo-test" holds `rsa-2048` (id 01) and `ec-p256` (id 02), imported with certificates,
/// and `ec-generated` (id 03) and `ec-always-auth` (id 04, `CKA_ALWAYS_AUTHENTICATE`), generated on
/// the token. The user PIN is in ``pinFile``.
public final class SoftHSMToken: Sendable {
  /// SoftHSM2's PKCS#11 module.
  public static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
  /// The token's label.
  public static let label = "oo-test"
  /// The user PIN the script sets (for tests of wrong PINs and of pin-value).
  public static let pin = "123456"

  /// The one token of this test process. Creating it sets `SOFTHSM2_CONF` for the process, which
  /// SoftHSM2 reads when the module is first initialized, so every in-process test uses it.
  /// Its directory is removed when the process exits (a static value is never deinitialized).
  public static let shared = Result { () throws -> SoftHSMToken in
    let token = try SoftHSMToken()
    setenv("SOFTHSM2_CONF", token.configuration, 1)
    sharedDirectory.set(token.directory.path)
    atexit {
      if let path = SoftHSMToken.sharedDirectory.get() { try? FileManager.default.removeItem(atPath: path) }
    }
    return token
  }

  private static let sharedDirectory = LockedPath()

  /// The directory that holds the token, the configuration, the PIN file and the certificates.
  public let directory: TemporaryDirectory

  /// Makes a fresh token in a new temporary directory with the repository's script.
  public init() throws {
    directory = try TemporaryDirectory("oo-softhsm")
    let result = try ChildProcess.run(Self.script, [directory.path])
    guard result.status == 0 else {
      throw NSError(
        domain: "SoftHSMToken", code: Int(result.status),
        userInfo: [NSLocalizedDescriptionKey: "softhsm-token.sh failed: \(result.output)"])
    }
  }

  /// `scripts/softhsm-token.sh` of this repository.
  public static var script: String {
    // Tests/TestSupport/SoftHSMToken.swift -> the repository root.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return root.appendingPathComponent("scripts/softhsm-token.sh").path
  }

  /// The SoftHSM2 configuration file (the value for `SOFTHSM2_CONF`).
  public var configuration: String { directory.file("softhsm2.conf") }
  /// The file holding the user PIN, without a newline.
  public var pinFile: String { directory.file("pin") }
  /// The environment a child process needs to see this token.
  public var environment: [String: String] { ["SOFTHSM2_CONF": configuration] }

  /// The PEM certificate of an imported key (`rsa-2048` or `ec-p256`), as the script wrote it.
  public func certificateFile(_ label: String) -> String { directory.file("\(label).cert.pem") }
  /// The PEM public key of an imported key.
  public func publicKeyFile(_ label: String) -> String { directory.file("\(label).pub.pem") }

  /// A URI for an object of the token, with module-path and pin-source.
  public func uri(object: String, type: String = "private", pin: Bool = true) -> String {
    var uri = "pkcs11:token=\(Self.label);object=\(object);type=\(type)?module-path=\(Self.modulePath)"
    if pin { uri += "&pin-source=file:\(pinFile)" }
    return uri
  }
}

/// A path behind a lock, for the exit handler.
private final class LockedPath: @unchecked Sendable {
  private let lock = NSLock()
  private var path: String?

  func set(_ value: String) { lock.withLock { path = value } }
  func get() -> String? { lock.withLock { path } }
}
