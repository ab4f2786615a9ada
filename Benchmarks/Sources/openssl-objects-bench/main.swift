// The benchmark harness: throughput of our Swift API against C (interleaved rounds), memory over
// many create/free cycles, and a single-side runner for callgrind. See docs/PERFORMANCE.md.
//
//   openssl-objects-bench run [--quick] [--rounds N] [--sample-ms MS] [--slices N] [--filter TEXT]
//                             [--json PATH] [--allocations PATH]
//   openssl-objects-bench memory [--quick] [--scale X] [--cycles N] [--filter TEXT]
//   openssl-objects-bench profile WORKLOAD SIDE ITERATIONS
//   openssl-objects-bench instructions [--iterations N] [--filter TEXT]   (under callgrind)
//   openssl-objects-bench instruction-table MANIFEST PROFILE...
//   openssl-objects-bench list

import BenchmarkKit
import Foundation

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("openssl-objects-bench: \(message)\n".utf8))
  exit(2)
}

let arguments = Arguments(Array(CommandLine.arguments.dropFirst()), flags: ["quick"])
let command = arguments.positional.first ?? "run"

if command == "instruction-table" {
  // After callgrind: instruction-table MANIFEST PROFILE...
  guard arguments.positional.count >= 2 else { fail("usage: instruction-table MANIFEST PROFILE...") }
  do {
    let manifest = try String(contentsOfFile: arguments.positional[1], encoding: .utf8)
    print("Instructions per operation (callgrind; the ratio is C's count over ours, as throughput would be)")
    print(try Instructions.table(manifest: manifest, profiles: Array(arguments.positional.dropFirst(2))))
  } catch {
    fail("\(error)")
  }
  exit(0)
}

do {
  let fixtures = try Fixtures()
  let workloads = try Workloads.all(fixtures)
  switch command {
  case "run":
    var settings = arguments.flag("quick") ? RunSettings.quick : RunSettings.full
    if let rounds = arguments.int("rounds") { settings.rounds = rounds }
    if let milliseconds = arguments.double("sample-ms") { settings.sampleSeconds = milliseconds / 1000 }
    if let slices = arguments.int("slices") { settings.slices = max(1, slices) }
    settings.filter = arguments.string("filter")
    var runner = Runner(settings: settings)
    runner.log = { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
    let results = try runner.run(workloads)
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
  case "memory":
    // Ours at full scale: a million certificate parses; the key loads go through OSSL_DECODER or
    // PBKDF2 and are scaled to run in minutes, not hours (docs/PERFORMANCE.md). C runs a tenth as
    // many cycles, as the reference for what OpenSSL itself does to RSS.
    let scale = arguments.double("scale") ?? (arguments.flag("quick") ? 0.002 : 1)
    let plan: [(workload: String, cycles: Int)] = [
      ("parse certificate (DER)", 1_000_000),
      ("parse certificate (PEM)", 100_000),
      ("load PKCS#8 key (PEM)", 100_000),
      ("load encrypted PKCS#8 key (PEM)", 10_000),
      ("ECDSA P-256 sign", 200_000),
    ]
    var results: [MemoryResult] = []
    for (name, cycles) in plan where arguments.string("filter").map(name.contains) ?? true {
      guard let workload = workloads.first(where: { $0.name == name }) else { fail("no workload \(name)") }
      let ours = arguments.int("cycles") ?? max(200, Int(Double(cycles) * scale))
      for (side, count) in [("ours", ours), ("c", max(200, ours / 10))] {
        FileHandle.standardError.write(Data("memory: \(name), \(side), \(count) cycles\n".utf8))
        results.append(try MemoryCheck.run(workload, side: side, cycles: count))
      }
    }
    print("Memory over create/free cycles (RSS from /proc/self/status, heap from mallinfo2)")
    print(MemoryCheck.table(results))
  case "profile":
    guard arguments.positional.count == 4, let iterations = Int(arguments.positional[3]) else {
      fail("usage: profile WORKLOAD SIDE ITERATIONS")
    }
    guard let workload = workloads.first(where: { $0.name == arguments.positional[1] }) else {
      fail("no workload named \(arguments.positional[1]); see `list`")
    }
    try Profile.run(workload, side: arguments.positional[2], iterations: iterations)
  case "instructions":
    // Run under callgrind by scripts/bench.sh --instructions; prints the region manifest.
    let scale = arguments.int("iterations") ?? 20
    let selected = workloads.filter { arguments.string("filter").map($0.name.contains) ?? true }
    let manifest = try Profile.runAll(selected) { workload in
      // The slow operations (RSA signatures, PBKDF2) need fewer repetitions for a stable count.
      workload.name.contains("RSA-2048 sign") || workload.name.contains("encrypted") ? max(2, scale / 5) : scale
    }
    print(manifest.joined(separator: "\n"))
  case "list":
    for workload in workloads { print("\(workload.name)\t\(workload.sides.map(\.name).joined(separator: ","))") }
  default:
    fail("unknown command \(command): run, memory, profile or list")
  }
} catch {
  fail("\(error)")
}
