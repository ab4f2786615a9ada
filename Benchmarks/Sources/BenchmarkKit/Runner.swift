import CBaseline

/// How long and how often to measure.
public struct RunSettings: Sendable {
  /// Interleaved rounds; each round measures every side of every workload once.
  public var rounds: Int
  /// CPU time one sample of one side aims at, in seconds.
  public var sampleSeconds: Double
  /// Slices per sample: the sides of a workload alternate this many times within a round.
  public var slices: Int
  /// Only workloads whose name contains this, if set.
  public var filter: String?

  public static let full = RunSettings(rounds: 15, sampleSeconds: 0.12, slices: 8)
  public static let quick = RunSettings(rounds: 1, sampleSeconds: 0.02, slices: 2)

  public init(rounds: Int, sampleSeconds: Double, slices: Int, filter: String? = nil) {
    self.rounds = rounds
    self.sampleSeconds = sampleSeconds
    self.slices = slices
    self.filter = filter
  }
}

/// The measurements of one workload: operations per CPU-second of each side, per round.
public struct WorkloadResult {
  public let name: String
  public let note: String
  public let isControl: Bool
  /// Side name ("ours", "c", "naive_c", peers) to its rate in each round.
  public var rates: [String: [Double]] = [:]
  /// The order in which sides were first listed.
  public let sideNames: [String]

  /// ours/C of each round: both measured back to back in the same round.
  public var ratios: [Double] { ratios(of: "ours") }

  /// `side`/C of each round.
  public func ratios(of side: String) -> [Double] {
    guard let values = rates[side], let c = rates["c"] else { return [] }
    return zip(values, c).map { $0 / $1 }
  }

  public func median(_ side: String) -> Double? { rates[side].flatMap(Statistics.median) }
}

enum Statistics {
  static func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }
}

/// Measures workloads: A B A B, interleaved, over several rounds.
public struct Runner {
  public let settings: RunSettings
  public var log: (String) -> Void = { print($0) }

  public init(settings: RunSettings) {
    self.settings = settings
  }

  /// Runs `side` `iterations` times and returns the CPU seconds it took: this thread's, or those
  /// the other process reported.
  static func time(_ side: Side, iterations: Int) throws -> Double {
    if let timed = side.timed { return try timed(iterations) }
    return try time(side.run, iterations: iterations)
  }

  /// Runs `operation` `iterations` times and returns the CPU seconds of this thread it took.
  static func time(_ operation: Operation, iterations: Int) throws -> Double {
    let start = cb_thread_cpu_ns()
    try operation(iterations)
    let end = cb_thread_cpu_ns()
    return Double(end &- start) / 1e9
  }

  /// How many iterations make one sample of about `seconds`, after a warm-up repetition (which
  /// fills OpenSSL's lazy caches and the method stores).
  static func calibrate(_ side: Side, seconds: Double) throws -> Int {
    try side.run(1)
    var iterations = 1
    while true {
      let elapsed = try time(side, iterations: iterations)
      if elapsed >= min(0.01, seconds / 2) || iterations >= 1 << 24 {
        let perOperation = max(elapsed / Double(iterations), 1e-9)
        return max(1, Int((seconds / perOperation).rounded()))
      }
      iterations *= 2
    }
  }

  public func run(_ workloads: [Workload]) throws -> [WorkloadResult] {
    let selected = workloads.filter { settings.filter.map($0.name.contains) ?? true }
    var iterations: [[Int]] = []
    for workload in selected {
      iterations.append(try workload.sides.map { try Runner.calibrate($0, seconds: settings.sampleSeconds) })
    }
    var results = selected.map {
      WorkloadResult(name: $0.name, note: $0.note, isControl: $0.isControl, sideNames: $0.sides.map(\.name))
    }
    for round in 0..<settings.rounds {
      log("round \(round + 1) of \(settings.rounds)")
      for (index, workload) in selected.enumerated() {
        let sides = workload.sides
        // Each side's sample is cut into slices, and the slices of all sides alternate
        // (ours, C, naive, ours, C, naive, ...; C first in every other slice), so that ours and C
        // meet the same machine, milliseconds apart, even while other work comes and goes.
        var seconds = [Double](repeating: 0, count: sides.count)
        var counts = [Int](repeating: 0, count: sides.count)
        for slice in 0..<settings.slices {
          var order = Array(sides.indices)
          if (round + slice) % 2 == 1, order.count >= 2 { order.swapAt(0, 1) }
          for side in order {
            let total = iterations[index][side]
            let count = total / settings.slices + (slice < total % settings.slices ? 1 : 0)
            guard count > 0 else { continue }
            seconds[side] += try Runner.time(sides[side], iterations: count)
            counts[side] += count
          }
        }
        for side in sides.indices {
          results[index].rates[sides[side].name, default: []].append(Double(counts[side]) / max(seconds[side], 1e-9))
        }
      }
    }
    return results
  }
}
