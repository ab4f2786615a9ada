import Foundation

/// A temporary directory, removed with its contents when the value goes away.
public final class TemporaryDirectory: @unchecked Sendable {
  /// The directory's path.
  public let path: String

  public init(_ prefix: String = "ooss") throws {
    let base =
      NSTemporaryDirectory().hasSuffix("/") ? String(NSTemporaryDirectory().dropLast()) : NSTemporaryDirectory()
    var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
      throw CocoaError(.fileWriteUnknown)
    }
    path = String(cString: made)
  }

  /// The path of a file inside the directory.
  public func file(_ name: String) -> String { "\(path)/\(name)" }

  /// Writes bytes to a file inside the directory and returns its path.
  @discardableResult
  public func write(_ name: String, _ bytes: some Collection<UInt8>) throws -> String {
    let target = file(name)
    try Data(bytes).write(to: URL(fileURLWithPath: target))
    return target
  }

  /// Writes text to a file inside the directory and returns its path.
  @discardableResult
  public func write(_ name: String, _ text: String) throws -> String {
    try write(name, Array(text.utf8))
  }

  deinit {
    try? FileManager.default.removeItem(atPath: path)
  }
}

/// The result of a child process.
public struct ProcessResult: Sendable {
  public let status: Int32
  public let stdout: String
  public let stderr: String

  /// Both streams, for messages.
  public var output: String { stdout + stderr }
}

/// Running child processes: our own executables and `openssl`.
public enum ChildProcess {
  /// The directory that holds the built products (the test binary's own directory).
  public static let productsDirectory: String = {
    let executable =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (executable as NSString).deletingLastPathComponent
  }()

  /// The path of a product built with the package (`openssl-objects`, `oo-test-helper`).
  public static func product(_ name: String) -> String {
    "\(productsDirectory)/\(name)"
  }

  /// Runs a program to completion and collects its output. With `terminal` (a pseudo-terminal's
  /// slave path), the program's standard input and controlling terminal are that terminal
  /// instead of a pipe (`stdin` is then not used).
  public static func run(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String] = [:],
    stdin: String? = nil,
    terminal: String? = nil
  ) throws -> ProcessResult {
    signal(SIGPIPE, SIG_IGN)
    let process = try SpawnedProcess(
      executable, arguments, environment: environment, mergeErrors: false, terminal: terminal)
    if let stdin { process.write(stdin) }
    process.closeInput()
    let status = process.waitForExit()
    process.waitForOutput()
    return ProcessResult(status: status, stdout: process.outputText, stderr: process.errorText)
  }
}
