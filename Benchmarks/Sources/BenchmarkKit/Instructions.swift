import Foundation

/// Instruction counts per operation from callgrind's per-region profiles: stable on a noisy
/// machine, where the throughput table is not.
public enum Instructions {
  /// Reads the manifest (workload, side, iterations per line) and the profiles callgrind dumped
  /// after each region, in the same order, and tabulates instructions per operation.
  public static func table(manifest: String, profiles: [String]) throws -> String {
    let regions = manifest.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
    guard regions.count == profiles.count else {
      throw BenchmarkFailure("\(regions.count) regions but \(profiles.count) callgrind profiles")
    }
    var perOperation: [(workload: String, side: String, count: Double)] = []
    for (region, path) in zip(regions, profiles) {
      guard region.count == 3, let iterations = Double(region[2]) else {
        throw BenchmarkFailure("bad manifest line \(region)")
      }
      perOperation.append((String(region[0]), String(region[1]), try total(path) / iterations))
    }
    var order: [String] = []
    for entry in perOperation where !order.contains(entry.workload) { order.append(entry.workload) }
    var rows = [
      [
        "workload", "ours instr/op", "C instr/op", "ours/C (C÷ours)", "naive C instr/op", "peers instr/op",
        "NIO layer (ours_nio÷ours)",
      ]
    ]
    for workload in order {
      func count(_ side: String) -> Double? {
        perOperation.first { $0.workload == workload && $0.side == side }?.count
      }
      let ours = count("ours")
      let c = count("c")
      rows.append([
        workload, ours.map { String(Int($0.rounded())) } ?? "-", c.map { String(Int($0.rounded())) } ?? "-",
        ours.flatMap { o in c.map { String(format: "%.4f", $0 / o) } } ?? "-",
        count("naive_c").map { String(Int($0.rounded())) } ?? "-",
        perOperation.filter { $0.workload == workload && !["ours", "c", "naive_c"].contains($0.side) }
          .map { "\($0.side) \(Int($0.count.rounded()))" }.joined(separator: ", "),
        count("ours_nio").flatMap { nio in ours.map { String(format: "%.4f", nio / $0) } } ?? "-",
      ])
    }
    return Report.markdown(rows)
  }

  /// The `summary:` or `totals:` line of a callgrind profile (instructions, `Ir`).
  static func total(_ path: String) throws -> Double {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    for line in text.split(separator: "\n") where line.hasPrefix("summary:") || line.hasPrefix("totals:") {
      if let value = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) { return value }
    }
    throw BenchmarkFailure("no totals in \(path)")
  }
}
