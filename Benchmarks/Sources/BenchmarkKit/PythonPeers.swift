import Foundation

/// Python's `ssl` and pyOpenSSL, in one child process (`Peers/python_peers.py`) that loads the
/// same certificates and keys (PEM files the harness writes) and runs the TLS workloads on request:
/// the harness writes `LIBRARY WORKLOAD ITERATIONS`, the child answers with the CPU seconds its
/// thread spent (`time.thread_time`), so its slices interleave with ours and C's like any side.
public final class PythonPeers {
  private let process = Process()
  private let requests: FileHandle
  private let answers: FileHandle
  private var pending = Data()
  /// The libraries the child could load: `python_ssl`, and `pyopenssl` when it is installed.
  public private(set) var libraries: [String] = []
  /// What the child said about itself (Python and OpenSSL versions).
  public private(set) var banner = ""

  /// Starts `python script directory`, where `directory` holds the files of ``TLSFixtures/write(to:)``.
  public init(python: String, script: String, certificates directory: String) throws {
    let input = Pipe()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script, directory]
    process.standardInput = input
    process.standardOutput = output
    requests = input.fileHandleForWriting
    answers = output.fileHandleForReading
    try process.run()
    // "ready LIBRARY..." then one line of versions.
    let ready = try line().split(separator: " ").map(String.init)
    guard ready.first == "ready" else { throw BenchmarkFailure("python peers: \(ready.joined(separator: " "))") }
    libraries = Array(ready.dropFirst())
    banner = try line()
  }

  deinit {
    try? requests.close()
    process.waitUntilExit()
  }

  /// The workloads `python_peers.py` implements, by ``Workload/peerKey``.
  static let keys: Set<String> = ["handshake-ecdsa", "handshake-rsa", "resumed", "bulk"]

  /// The peers' sides of a workload, by its ``Workload/peerKey`` (none for a workload the script
  /// does not implement).
  public func sides(for key: String) -> [Side] {
    guard Self.keys.contains(key) else { return [] }
    return libraries.map { library in
      Side(name: library) { [unowned self] iterations in try self.run(library, key, iterations) }
    }
  }

  private func run(_ library: String, _ workload: String, _ iterations: Int) throws -> Double {
    requests.write(Data("\(library) \(workload) \(iterations)\n".utf8))
    let answer = try line()
    guard let seconds = Double(answer) else { throw BenchmarkFailure("python peers (\(library)): \(answer)") }
    return seconds
  }

  private func line() throws -> String {
    while true {
      if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
        let text = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
        pending.removeSubrange(pending.startIndex...newline)
        return text
      }
      let more = answers.availableData
      guard !more.isEmpty else { throw BenchmarkFailure("python peers: the child process ended") }
      pending.append(more)
    }
  }
}
