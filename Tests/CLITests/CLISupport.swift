import Foundation
import TestSupport
import Testing

/// What the CLI tests share: the built tool, its `--json` document, and a `serve` started on a
/// free port.
enum CLI {
  /// The built `openssl-objects`.
  static let tool = ChildProcess.product("openssl-objects")

  /// The one JSON object a `--json` run printed.
  static func json(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    try #require(
      try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)",
      sourceLocation: sourceLocation)
  }

  /// Starts `serve --port 0 --once` (without `--once` when `once` is false) with `arguments`
  /// and returns it, once it listens, with its port. The process is stopped when the value goes.
  static func serve(
    _ arguments: [String], once: Bool = true, environment: [String: String] = [:]
  ) throws -> (RunningProcess, Int) {
    let server = try RunningProcess(
      tool, ["serve", "--port", "0"] + (once ? ["--once"] : []) + arguments, environment: environment)
    guard server.wait(for: "listening on"),
      let match = server.text.firstMatch(of: /listening on 127\.0\.0\.1:(\d+)/)
    else {
      throw TLSPair.HandshakeStalled()
    }
    return (server, Int(match.1)!)
  }
}
