import Foundation

/// The forwarding module of Tests/PKCS11C/forwarding_module.c, built into a temporary directory:
/// a PKCS#11 module that passes every call to SoftHSM2 and appends a line to ``logins`` for each
/// `C_Login`, so that a test counts the logins our library makes.
public struct ForwardingModule: Sendable {
  /// The directory that holds the module and its log, removed with the value.
  public let directory: TemporaryDirectory
  /// The module's path, for `--module`, `module-path=` or `PKCS11Module.load(path:)`.
  public let path: String
  /// The file each `C_Login` appends a line to.
  public let logins: String

  /// Builds the module with `cc` into a new temporary directory.
  public init() throws {
    directory = try TemporaryDirectory("oo-forwarding")
    path = directory.file("libforwarding.so")
    logins = directory.file("logins")
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
    let result = try ChildProcess.run(
      "cc",
      [
        "-Wall", "-Werror", "-shared", "-fPIC", "-I/usr/include/p11-kit-1",
        "-DREAL_MODULE=\"\(SoftHSMToken.modulePath)\"", "-DLOGIN_LOG=\"\(logins)\"",
        "\(repository)/Tests/PKCS11C/forwarding_module.c", "-o", path, "-ldl",
      ])
    guard result.status == 0 else { throw BuildFailed(output: result.output) }
  }

  /// The `C_Login` lines written so far (`C_Login user=TYPE rv=RESULT`, never the PIN).
  public var loginLines: [String] {
    ((try? String(contentsOfFile: logins, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
  }

  /// `cc` failed.
  public struct BuildFailed: Error, CustomStringConvertible {
    public let output: String
    public var description: String { "cc failed: \(output)" }
  }
}
