import Foundation

/// Heap allocations of one side of one workload, per operation.
public struct AllocationCount: Codable, Sendable {
  /// Every allocation in the process (malloc, calloc, aligned forms, realloc of NULL).
  public var total: Double
  /// Those made through OpenSSL's allocator (CRYPTO_malloc and friends).
  public var openssl: Double
  /// Reallocations of an existing block.
  public var reallocations: Double
  /// Bytes requested.
  public var bytes: Double

  public init(total: Double, openssl: Double, reallocations: Double, bytes: Double) {
    self.total = total
    self.openssl = openssl
    self.reallocations = reallocations
    self.bytes = bytes
  }

  /// What the rest of the process allocated: Swift's runtime, standard library and our code.
  public var swift: Double { total - openssl }
}

/// The allocation counts of one workload, by side.
public struct AllocationResult: Codable, Sendable {
  public var workload: String
  public var sides: [String: AllocationCount]

  public init(workload: String, sides: [String: AllocationCount]) {
    self.workload = workload
    self.sides = sides
  }
}

/// Tables for people and `bench-results.json` for programs.
public enum Report {
  // MARK: Throughput

  public static func table(_ results: [WorkloadResult]) -> String {
    var rows: [[String]] = [
      ["workload", "ours/s", "C/s", "ours/C", "min–max", "naive C/s", "ours/naive (peer)"]
    ]
    for result in results {
      let ratios = result.ratios
      let naive = result.median("naive_c")
      let ours = result.median("ours")
      rows.append([
        result.name,
        rate(ours), rate(result.median("c")),
        ratio(Statistics.median(ratios)),
        ratios.isEmpty ? "-" : "\(ratio(ratios.min()))–\(ratio(ratios.max()))",
        naive.map(rate) ?? "-",
        naive.map { n in ratio(ours.map { $0 / n }) } ?? "-",
      ])
      // A peer's row: its rate, then its own ratio to C's (same rounds) where ours has ours/C.
      for peer in result.sideNames where !["ours", "c", "naive_c"].contains(peer) {
        let peerRatios = result.ratios(of: peer)
        rows.append([
          "  peer: \(peer) (peer/C)", rate(result.median(peer)), "", ratio(Statistics.median(peerRatios)),
          peerRatios.isEmpty ? "-" : "\(ratio(peerRatios.min()))–\(ratio(peerRatios.max()))", "",
          ours.flatMap { o in result.median(peer).map { ratio(o / $0) } } ?? "-",
        ])
      }
    }
    return markdown(rows)
  }

  public static func allocationTable(_ results: [AllocationResult]) -> String {
    var rows: [[String]] = [
      ["workload", "ours allocs/op", "of which OpenSSL", "of which Swift", "C allocs/op", "naive C allocs/op"]
    ]
    for result in results {
      let ours = result.sides["ours"]
      rows.append([
        result.workload,
        count(ours?.total), count(ours?.openssl), count(ours?.swift),
        count(result.sides["c"]?.total), result.sides["naive_c"].map { count($0.total) } ?? "-",
      ])
    }
    return markdown(rows)
  }

  /// A Markdown table, columns padded so that it also reads as plain text.
  public static func markdown(_ rows: [[String]]) -> String {
    guard let header = rows.first else { return "" }
    var widths = header.map(\.count)
    for row in rows {
      for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
    }
    func line(_ cells: [String]) -> String {
      "| "
        + cells.enumerated().map { column, cell in
          column == 0
            ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            : String(repeating: " ", count: widths[column] - cell.count) + cell
        }.joined(separator: " | ") + " |"
    }
    var lines = [line(header)]
    lines.append(
      "|"
        + widths.enumerated().map {
          $0 == 0 ? " :" + String(repeating: "-", count: $1) : " " + String(repeating: "-", count: $1) + ":"
        }.joined(separator: "|") + "|")
    lines += rows.dropFirst().map(line)
    return lines.joined(separator: "\n")
  }

  static func rate(_ value: Double?) -> String {
    guard let value else { return "-" }
    return value >= 100 ? String(Int(value.rounded())) : String(format: "%.1f", value)
  }

  static func ratio(_ value: Double?) -> String {
    value.map { String(format: "%.3f", $0) } ?? "-"
  }

  static func count(_ value: Double?) -> String {
    guard let value else { return "-" }
    return value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
  }

  // MARK: JSON

  /// `bench-results.json`: a list of {"workload", "ours_per_s", "c_per_s", "ratio", "ratio_min",
  /// "ratio_max", "peers": {name: per_s}}; naive C is the peer "naive_c". With allocation counts,
  /// each entry also has "allocations_per_op": {side: {"total", "openssl", "swift"}}.
  public static func json(_ results: [WorkloadResult], allocations: [AllocationResult] = []) -> String {
    let entries = results.filter { !$0.isControl }.map { result -> String in
      let ratios = result.ratios
      var fields = [
        "\"workload\": \(quoted(result.name))",
        "\"ours_per_s\": \(number(result.median("ours")))",
        "\"c_per_s\": \(number(result.median("c")))",
        "\"ratio\": \(number(Statistics.median(ratios)))",
        "\"ratio_min\": \(number(ratios.min()))",
        "\"ratio_max\": \(number(ratios.max()))",
      ]
      let peers = result.sideNames.filter { $0 != "ours" && $0 != "c" }
      fields.append(
        "\"peers\": {" + peers.map { "\(quoted($0)): \(number(result.median($0)))" }.joined(separator: ", ") + "}")
      if let counts = allocations.first(where: { $0.workload == result.name }) {
        let sides = counts.sides.keys.sorted().map { side -> String in
          let count = counts.sides[side]!
          return
            "\(quoted(side)): {\"total\": \(number(count.total)), \"openssl\": \(number(count.openssl)), \"swift\": \(number(count.swift))}"
        }
        fields.append("\"allocations_per_op\": {" + sides.joined(separator: ", ") + "}")
      }
      return "  {" + fields.joined(separator: ", ") + "}"
    }
    return "[\n" + entries.joined(separator: ",\n") + "\n]\n"
  }

  static func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }

  static func number(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "null" }
    if abs(value) >= 100 { return String(format: "%.1f", value) }
    return String(format: "%.4f", value)
  }
}
