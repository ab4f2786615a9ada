import Foundation
import TestSupport

/// The Swift toolchain this test runs on, and shell commands for the tests that work as a user
/// would: in a scratch directory, with the documented commands.
enum Toolchain {
  /// `swift` next to the toolchain's `clang` (the one that built this test).
  static let swift: String = {
    let candidate = (Sanitizer.toolchainClang as NSString).deletingLastPathComponent + "/swift"
    return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : "swift"
  }()

  /// The toolchain's `bin` directory, first on PATH for the shell commands.
  static var binDirectory: String { (swift as NSString).deletingLastPathComponent }

  /// Runs `command` with `/bin/sh -c` in `directory`, with the toolchain first on PATH.
  static func shell(
    _ command: String, in directory: String, environment: [String: String] = [:]
  ) throws
    -> ProcessResult
  {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    var merged = environment
    merged["PATH"] = "\(binDirectory):\(path)"
    return try ChildProcess.run("/bin/sh", ["-c", "cd '\(directory)' && \(command)"], environment: merged)
  }

  /// Whether this test process runs without a sanitizer: the packaging tests build whole
  /// packages, which a sanitizer run would only repeat (they check packaging, not memory).
  static var plainRun: Bool { Sanitizer.current == .none }
}

/// A command that failed, with its output.
struct CommandFailed: Error, CustomStringConvertible {
  let command: String
  let result: ProcessResult

  var description: String { "\(command) exited \(result.status):\n\(result.output)" }
}

extension ProcessResult {
  /// Throws ``CommandFailed`` unless the command exited 0.
  func requireSuccess(_ command: String) throws {
    if status != 0 { throw CommandFailed(command: command, result: self) }
  }
}
