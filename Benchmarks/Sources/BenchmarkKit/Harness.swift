import Foundation

/// The command line of the throughput executables (`openssl-objects-bench`, and
/// `openssl-objects-bench-peers`, which adds swift-nio-ssl):
///
///     run [--quick] [--rounds N] [--sample-ms MS] [--slices N] [--filter TEXT] [--json PATH]
///         [--allocations PATH] [--python PATH --python-peers SCRIPT]
///     memory [--quick] [--scale X] [--cycles N] [--filter TEXT]
///     profile WORKLOAD SIDE ITERATIONS
///     instructions [--iterations N] [--filter TEXT]   (under callgrind)
///     instruction-table MANIFEST PROFILE...
///     list
public enum Harness {
  /// Extra peers for the workloads: given the fixtures and the workloads, returns them with their
  /// in-process peers added.
  public typealias AddPeers = (Fixtures, [Workload]) throws -> [Workload]

  /// Runs the command line and exits.
  public static func main(name: String, peers: AddPeers = { $1 }) -> Never {
    func fail(_ message: String) -> Never {
      FileHandle.standardError.write(Data("\(name): \(message)\n".utf8))
      exit(2)
    }
    let arguments = Arguments(Array(CommandLine.arguments.dropFirst()), flags: ["quick"])
    let command = arguments.positional.first ?? "run"
    do {
      try run(command, arguments, peers: peers)
    } catch let error as UsageFailure {
      fail(error.message)
    } catch {
      fail("\(error)")
    }
    exit(0)
  }

  struct UsageFailure: Error {
    let message: String
  }

  static func run(_ command: String, _ arguments: Arguments, peers: AddPeers) throws {
    if command == "instruction-table" {
      // After callgrind: instruction-table MANIFEST PROFILE...
      guard arguments.positional.count >= 2 else {
        throw UsageFailure(message: "usage: instruction-table MANIFEST PROFILE...")
      }
      let manifest = try String(contentsOfFile: arguments.positional[1], encoding: .utf8)
      print("Instructions per operation (callgrind; the ratio is C's count over ours, as throughput would be)")
      print(try Instructions.table(manifest: manifest, profiles: Array(arguments.positional.dropFirst(2))))
      return
    }
    let fixtures = try Fixtures()
    let workloads = try peers(fixtures, try Workloads.all(fixtures))
    switch command {
    case "run": try throughput(arguments, fixtures, workloads)
    case "memory": try memory(arguments, workloads)
    case "profile":
      guard arguments.positional.count == 4, let iterations = Int(arguments.positional[3]) else {
        throw UsageFailure(message: "usage: profile WORKLOAD SIDE ITERATIONS")
      }
      guard let workload = workloads.first(where: { $0.name == arguments.positional[1] }) else {
        throw UsageFailure(message: "no workload named \(arguments.positional[1]); see `list`")
      }
      try Profile.run(workload, side: arguments.positional[2], iterations: iterations)
    case "instructions":
      // Run under callgrind by scripts/bench.sh --instructions; prints the region manifest.
      let scale = arguments.int("iterations") ?? 20
      let selected = workloads.filter { arguments.string("filter").map($0.name.contains) ?? true }
      let manifest = try Profile.runAll(selected) { workload in
        // The slow operations (RSA signatures, PBKDF2, handshakes) need fewer repetitions.
        let slow = ["RSA-2048 sign", "encrypted", "handshake", "context"].contains { workload.name.contains($0) }
        return slow ? max(2, scale / 5) : scale
      }
      print(manifest.joined(separator: "\n"))
    case "list":
      for workload in workloads { print("\(workload.name)\t\(workload.sides.map(\.name).joined(separator: ","))") }
    default:
      throw UsageFailure(message: "unknown command \(command): run, memory, profile, instructions or list")
    }
  }

  static func throughput(_ arguments: Arguments, _ fixtures: Fixtures, _ given: [Workload]) throws {
    var settings = arguments.flag("quick") ? RunSettings.quick : RunSettings.full
    if let rounds = arguments.int("rounds") { settings.rounds = rounds }
    if let milliseconds = arguments.double("sample-ms") { settings.sampleSeconds = milliseconds / 1000 }
    if let slices = arguments.int("slices") { settings.slices = max(1, slices) }
    settings.filter = arguments.string("filter")
    var workloads = given
    var python: PythonPeers?
    var certificates: URL?
    defer { certificates.map { try? FileManager.default.removeItem(at: $0) } }
    if let script = arguments.string("python-peers") {
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent("oo-bench-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      certificates = directory
      try fixtures.tls.write(to: directory.path)
      let peers = try PythonPeers(
        python: arguments.string("python") ?? "/usr/bin/python3", script: script, certificates: directory.path)
      FileHandle.standardError.write(
        Data("python peers: \(peers.libraries.joined(separator: ", ")); \(peers.banner)\n".utf8))
      workloads = workloads.map { workload in
        workload.peerKey.map { workload.adding(peers: peers.sides(for: $0)) } ?? workload
      }
      python = peers
    }
    var runner = Runner(settings: settings)
    runner.log = { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
    let results = try withExtendedLifetime(python) { try runner.run(workloads) }
    var allocations: [AllocationResult] = []
    if let path = arguments.string("allocations") {
      allocations = try JSONDecoder().decode(
        [AllocationResult].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
    print("Throughput: operations per CPU-second, median of \(settings.rounds) interleaved round(s)")
    print(Report.table(results))
    if let path = arguments.string("json") {
      try Report.json(results, allocations: allocations).write(toFile: path, atomically: true, encoding: .utf8)
    }
  }

  /// Ours at full scale: a million certificate parses; the key loads go through OSSL_DECODER or
  /// PBKDF2 and the TLS workloads through whole handshakes, so they are scaled to run in minutes,
  /// not hours (docs/PERFORMANCE.md). C runs a tenth as many cycles, as the reference for what
  /// OpenSSL itself does to RSS.
  static let memoryPlan: [(workload: String, cycles: Int)] = [
    ("parse certificate (DER)", 1_000_000),
    ("parse certificate (PEM)", 100_000),
    ("load PKCS#8 key (PEM)", 100_000),
    ("load encrypted PKCS#8 key (PEM)", 10_000),
    ("ECDSA P-256 sign", 200_000),
    ("OCSP staple: parse and validate", 50_000),
    ("TLS 1.3 resumed handshake (ticket)", 100_000),
    ("TLS 1.3 handshake, ECDSA P-256", 20_000),
    ("client context (shared system store)", 10_000),
  ]

  static func memory(_ arguments: Arguments, _ workloads: [Workload]) throws {
    let scale = arguments.double("scale") ?? (arguments.flag("quick") ? 0.002 : 1)
    var results: [MemoryResult] = []
    for (name, cycles) in memoryPlan where arguments.string("filter").map(name.contains) ?? true {
      guard let workload = workloads.first(where: { $0.name == name }) else {
        throw UsageFailure(message: "no workload \(name)")
      }
      let ours = arguments.int("cycles") ?? max(200, Int(Double(cycles) * scale))
      for (side, count) in [("ours", ours), ("c", max(200, ours / 10))] {
        FileHandle.standardError.write(Data("memory: \(name), \(side), \(count) cycles\n".utf8))
        results.append(try MemoryCheck.run(workload, side: side, cycles: count))
      }
    }
    print("Memory over create/free cycles (RSS from /proc/self/status, heap from mallinfo2)")
    print(MemoryCheck.table(results))
  }
}
