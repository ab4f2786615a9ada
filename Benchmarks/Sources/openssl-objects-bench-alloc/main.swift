// Heap allocations per operation, counted: every allocation of the process (malloc and friends
// interposed by symbol, see CAllocationCounter) and OpenSSL's own (CRYPTO_set_mem_functions).
//
//   openssl-objects-bench-alloc [--quick] [--iterations N] [--filter TEXT] [--json PATH]

import BenchmarkKit
import CAllocationCounter
import Foundation

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("openssl-objects-bench-alloc: \(message)\n".utf8))
  exit(2)
}

// Before anything touches OpenSSL.
guard ac_install_openssl_counter() == 1 else { fail("CRYPTO_set_mem_functions refused: OpenSSL allocated first") }
guard ac_interposition_works() == 1 else { fail("the interposed malloc is not the process's malloc") }

let arguments = Arguments(Array(CommandLine.arguments.dropFirst()), flags: ["quick"])
let iterations = arguments.int("iterations") ?? (arguments.flag("quick") ? 10 : 200)
let filter = arguments.string("filter")

func perOperation(_ counts: ac_counts, _ openssl: ac_counts) -> AllocationCount {
  let n = Double(iterations)
  return AllocationCount(
    total: Double(counts.allocations) / n, openssl: Double(openssl.allocations) / n,
    reallocations: Double(counts.reallocations) / n, bytes: Double(counts.bytes) / n)
}

do {
  let fixtures = try Fixtures()
  var results: [AllocationResult] = []
  for workload in try Workloads.all(fixtures) where filter.map(workload.name.contains) ?? true {
    var sides: [String: AllocationCount] = [:]
    for side in workload.sides {
      try side.run(3)  // fills OpenSSL's lazy caches, the method store and the error state
      ac_reset()
      ac_set_counting(1)
      try side.run(iterations)
      ac_set_counting(0)
      sides[side.name] = perOperation(ac_process_counts(), ac_openssl_counts())
    }
    results.append(AllocationResult(workload: workload.name, sides: sides))
  }
  print("Heap allocations per operation (mean of \(iterations), counted)")
  print(Report.allocationTable(results))
  if let path = arguments.string("json") {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(results).write(to: URL(fileURLWithPath: path))
  }
} catch {
  fail("\(error)")
}
