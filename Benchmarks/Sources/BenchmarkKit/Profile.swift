import CBaseline

/// Runs one side of one workload inside `cb_measured_region`, for callgrind:
/// `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=cb_measured_region` then counts
/// the instructions of exactly `iterations` operations (after a warm-up outside the region).
public enum Profile {
  private final class Context {
    let operation: Operation
    let iterations: Int
    var failure: (any Error)?

    init(operation: @escaping Operation, iterations: Int) {
      self.operation = operation
      self.iterations = iterations
    }
  }

  public static func run(_ workload: Workload, side: String, iterations: Int) throws {
    guard let operation = workload.sides.first(where: { $0.name == side })?.run else {
      throw BenchmarkFailure("\(workload.name) has no side \(side); sides: \(workload.sides.map(\.name))")
    }
    try measure(operation, iterations: iterations)
  }

  /// Every side of every workload, each in its own measured region, in order. Under
  /// `--dump-after=cb_measured_region` callgrind writes one profile per region; the manifest
  /// (one line per region: workload, side, iterations, tab-separated) says which is which.
  public static func runAll(_ workloads: [Workload], iterations: (Workload) -> Int) throws -> [String] {
    var manifest: [String] = []
    for workload in workloads {
      let count = iterations(workload)
      // A side in another process (Python) is not this process's instructions.
      for side in workload.sides where side.timed == nil {
        try measure(side.run, iterations: count)
        manifest.append("\(workload.name)\t\(side.name)\t\(count)")
      }
    }
    return manifest
  }

  private static func measure(_ operation: @escaping Operation, iterations: Int) throws {
    try operation(5)
    let context = Context(operation: operation, iterations: iterations)
    withExtendedLifetime(context) {
      cb_measured_region(
        { raw in
          let context = Unmanaged<Context>.fromOpaque(raw!).takeUnretainedValue()
          do { try context.operation(context.iterations) } catch { context.failure = error }
        }, Unmanaged.passUnretained(context).toOpaque())
    }
    if let failure = context.failure { throw failure }
  }
}
